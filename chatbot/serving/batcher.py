"""Micro-batching: messages that arrive together go through the pipeline together.

Every front end (the web UI, the API, the terminal chat) hands its messages to one
:class:`Batcher`. A single worker thread owns the pipeline: it takes the first waiting message,
waits up to ``max_wait_ms`` for more (never past ``max_batch``), processes them as one batch and
hands each caller its own result. Callers block only on their own message, so one user never
waits for another's typing, and a burst of users costs one batched pass, not many single ones.
``max_batch=1`` serves one message at a time (the unbatched baseline of benchmarks/serve_load.py).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from concurrent.futures import Future

from chatbot.message import Message
from chatbot.pipeline import Pipeline

logger = logging.getLogger(__name__)

_STOP = object()


class Batcher:
    """Runs ``pipeline.process`` on a worker thread for messages submitted from any thread.

    Args:
        pipeline: a loaded pipeline; only the worker thread touches it.
        max_batch: most messages in one pass (1: no batching).
        max_wait_ms: how long the first message of a batch waits for company.
    """

    def __init__(self, pipeline: Pipeline, max_batch: int = 32, max_wait_ms: float = 5.0) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.batch_sizes: list[int] = []  # every pass's size, for the load benchmark
        self._waiting: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="chatbot-batcher", daemon=True)
        self._worker.start()

    def process(self, message: Message) -> Message:
        """Process one message (blocking until its batch is done); re-raises the batch's error."""
        future: Future[Message] = Future()
        self._waiting.put((message, future))
        return future.result()

    def close(self) -> None:
        """Stop the worker after the messages already submitted."""
        self._waiting.put(_STOP)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._waiting.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[tuple[Message, Future]]) -> None:
        self.batch_sizes.append(len(batch))
        for message, _ in batch:
            message.extras["batch_size"] = len(batch)  # in the trace: what it was served with
        try:
            self.pipeline.process([message for message, _ in batch])
        except Exception:
            if len(batch) > 1:  # one bad message must not fail its neighbours: retry alone
                logger.warning("a batch of %d failed; processing its messages one by one",
                               len(batch))
                for item in batch:
                    self._process([item])
                return
            logger.exception("the pipeline failed on a message")
            message, future = batch[0]
            future.set_exception(sys.exc_info()[1])
            return
        for message, future in batch:
            future.set_result(message)
