"""Prometheus metrics of the chat service (``GET /metrics``), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from chatbot.serving.service import Reply

# Seconds: the pipeline takes about 0.02 s a message; the queue and HTTP add the rest.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ChatMetrics:
    """Turns, refusals, failures, late replies, latency, responders and batch sizes, by
    channel."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter("chatbot_turns", "Messages answered and logged",
                             ["channel"], registry=self.registry)
        self.refused = Counter("chatbot_refused_messages", "Messages refused with a notice "
                               "(empty, too long, unreadable)", ["channel"],
                               registry=self.registry)
        self.failed = Counter("chatbot_failed_messages", "Messages the pipeline failed on",
                              ["channel"], registry=self.registry)
        self.latency = Histogram("chatbot_turn_latency_seconds", "From receiving a message "
                                 "to having its reply", ["channel"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.responders = Counter("chatbot_replies", "Replies by the step that gave them",
                                  ["responder"], registry=self.registry)
        self.late = Counter("chatbot_late_replies", "Messages whose reply was not ready "
                            "within the channel's budget (Kakao's 5 s)", ["channel"],
                            registry=self.registry)
        self.batch_size = Histogram("chatbot_batch_size", "Size of the batch each answered "
                                    "message was processed in", buckets=BATCH_BUCKETS,
                                    registry=self.registry)

    def observe(self, channel: str, reply: Reply) -> None:
        """Count one reply of ``channel``."""
        self.latency.labels(channel).observe(reply.latency_ms / 1000)
        if reply.failed:
            self.failed.labels(channel).inc()
        elif reply.message is None:
            self.refused.labels(channel).inc()
        else:
            self.turns.labels(channel).inc()
            self.responders.labels(reply.message.responder or "none").inc()
            self.batch_size.observe(reply.message.extras.get("batch_size", 1))

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)
