"""Per-turn latency for a run that went in batches.

In a batch, each plugin's time is shared out equally among the batch's messages, so every turn
of a batch gets the same time: percentiles over those shares say how fast batches go, not how
long one user waits. A user evaluating logs wants the latter (the server answers a turn as it
comes), so after a batched run a sample of its turns, evenly spread over the log, is processed
again one at a time, and the latency percentiles come from it. Throughput stays the batched
run's.
"""

from __future__ import annotations

import logging
import sys

from chatbot.evaluation.runner import Outcome
from chatbot.message import Message
from chatbot.pipeline import Pipeline

logger = logging.getLogger(__name__)

LATENCY_SAMPLE = 100  # turns timed one at a time: seconds for most pipelines, p99 ≈ the maximum


def spread(count: int, size: int) -> list[int]:
    """``size`` indices evenly spread over ``range(count)``, first and last included (all of
    them when ``count <= size``)."""
    if count <= size:
        return list(range(count))
    if size <= 1:
        return [0] if size == 1 else []
    return [round(i * (count - 1) / (size - 1)) for i in range(size)]


def time_sample(pipeline: Pipeline, outcomes: list[Outcome], size: int = LATENCY_SAMPLE,
                progress: bool = False) -> list[dict[str, float]]:
    """Process a sample of the processed turns again, one at a time; their timings.

    Args:
        pipeline: the pipeline of the run (warmed up: the run loaded its models).
        outcomes: the run's outcomes; those without a message (failed turns) are not sampled.
        size: how many turns to time.
        progress: show a progress bar on standard error.

    Returns:
        Each sampled turn's time per plugin (ms, pipeline order), in log order. A turn that
        fails alone (it went through in its batch) is left out.
    """
    from tqdm import tqdm

    done = [o.message.text for o in outcomes if o.message is not None]
    chosen = [done[i] for i in spread(len(done), size)]
    timings = []
    for text in tqdm(chosen, desc="timing turns one at a time", unit="turn",
                     disable=not progress, file=sys.stderr, dynamic_ncols=True):
        try:
            message = pipeline.process([Message(text)])[0]
        except Exception as error:  # noqa: BLE001 - one turn less in the sample, said so
            logger.warning("a turn failed when timed alone (%s: %s); left out of the latency "
                           "sample", type(error).__name__, error)
            continue
        timings.append(dict(message.timings_ms))
    return timings

