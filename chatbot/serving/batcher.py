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
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from chatbot.message import Exchange, Message
from chatbot.pipeline import Failure, Pipeline
from chatbot.text_input import MAX_MESSAGE_CHARS

logger = logging.getLogger(__name__)

_STOP = object()
RECENT_BATCHES = 10_000


class Batcher:
    """Runs ``pipeline.process_each`` on a worker thread for texts submitted from any thread.

    Args:
        pipeline: a loaded pipeline; only the worker thread touches it.
        max_batch: most messages in one pass (1: no batching).
        max_wait_ms: how long the first message of a batch waits for company.
        max_chars: the longest text taken (see :func:`chatbot.text_input.prepare_text`).
    """

    def __init__(self, pipeline: Pipeline, max_batch: int = 32, max_wait_ms: float = 5.0,
                 max_chars: int = MAX_MESSAGE_CHARS) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.max_chars = max_chars
        # The sizes of the last passes (bounded: a server runs for months), for the tests.
        self.batch_sizes: deque[int] = deque(maxlen=RECENT_BATCHES)
        self._waiting: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="chatbot-batcher", daemon=True)
        self._worker.start()

    def process(self, text: str, history: Sequence[Exchange] = ()) -> Message | Failure:
        """Process one text (after the conversation ``history``), blocking until its batch is
        done: its message, or why it failed (one text's failure never fails its neighbours;
        see ``Pipeline.process_each``)."""
        future: Future[Message | Failure] = Future()
        self._waiting.put((text, list(history), future))
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

    def _process(self, batch: list[tuple[str, list[Exchange], Future]]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            results = self.pipeline.process_each([text for text, _, _ in batch], self.max_chars,
                                                  [history for _, history, _ in batch])
        except Exception as error:  # process_each catches the plugins' errors; this is a bug
            logger.exception("the batcher failed")
            for *_, future in batch:
                future.set_exception(error)
            return
        for result, (*_, future) in zip(results, batch, strict=True):
            if isinstance(result, Message):
                result.extras["batch_size"] = len(batch)  # in the trace: what it was served with
            future.set_result(result)
