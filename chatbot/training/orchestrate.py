"""Training a whole pipeline into a model directory: the one way, for every caller.

``chatbot train``, the default bot and the benchmarks all call :func:`train_and_save`, so
checkpoints, resuming, several processes (``torchrun``) and cleaning up work the same
everywhere. Checkpoints go to ``OUT.checkpoints`` beside the model and are removed once the
model is saved; a fresh run (not ``resume``) first removes those of an earlier run, so it never
picks up another run's epochs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chatbot.data.corpus import Corpus


class TrainablePipeline(Protocol):
    """What this module needs of a pipeline (``chatbot.pipeline.Pipeline`` has it)."""

    def fit(self, corpus: Corpus, workdir: Path | None = None, resume: bool = False,
            progress: bool = False) -> None: ...

    def save(self, directory: str | Path) -> Path: ...


@dataclass
class TrainedModel:
    """Where a trained pipeline was saved (None in the helper processes of a distributed run)
    and how long fitting and saving took."""

    directory: Path | None
    seconds: float

    @property
    def took(self) -> str:
        """The time in words: ``"2 min 41 s"``, ``"12.3 s"``."""
        minutes, seconds = divmod(self.seconds, 60)
        return f"{int(minutes)} min {seconds:.0f} s" if minutes else f"{seconds:.1f} s"


def checkpoints_for(out: Path) -> Path:
    """The checkpoint folder of a model saved at ``out``: ``OUT.checkpoints`` beside it."""
    out = out.resolve()
    return out.with_name(f"{out.name}.checkpoints")


def train_and_save(pipeline: TrainablePipeline, corpus: Corpus, out: Path,
                   resume: bool = False, progress: bool = True) -> TrainedModel:
    """Fit every step of ``pipeline`` on ``corpus`` and save it to ``out``.

    Args:
        pipeline: an untrained pipeline.
        corpus: its training data.
        out: the model directory (replaced whole, never left half-written).
        resume: continue from the checkpoints of an interrupted run.
        progress: show progress bars (overall steps and each plugin's epochs).
    """
    from chatbot.training import distributed

    started = time.perf_counter()
    checkpoints = checkpoints_for(out)
    main_process = distributed.is_main_process_from_env()
    if checkpoints.exists() and not resume and main_process:
        shutil.rmtree(checkpoints)
    distributed.barrier()
    pipeline.fit(corpus, workdir=checkpoints, resume=resume, progress=progress)
    directory = None
    if main_process:
        directory = pipeline.save(out)
        shutil.rmtree(checkpoints, ignore_errors=True)
    distributed.teardown()
    return TrainedModel(directory, time.perf_counter() - started)
