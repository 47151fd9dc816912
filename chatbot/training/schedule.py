"""Schedules over a training run, each saved with the loop's checkpoints (``state_dict``).

- :class:`LearningRateSchedule`: an optional linear warm-up, then constant or a cosine decay to
  zero. Every torch plugin gets it through the shared loop (``TrainSettings.schedule``,
  ``warmup_steps``); a Transformer needs the warm-up, the recurrent models do without.
- :class:`TeacherForcing`: how often the recurrent seq2seq model is fed the gold token.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

ScheduleKind = Literal["constant", "cosine"]


class LearningRateSchedule:
    """Sets the optimizer's learning rate before every step.

    Args:
        optimizer: the optimizer whose parameter groups it sets.
        rate: the peak learning rate.
        kind: ``constant`` after the warm-up, or ``cosine``: down to 0 at ``total_steps``.
        warmup_steps: steps over which the rate rises linearly to ``rate`` (0: none).
        total_steps: the steps of the whole run (epochs × batches per epoch).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, rate: float, kind: ScheduleKind,
                 warmup_steps: int, total_steps: int) -> None:
        self.optimizer, self.rate, self.kind = optimizer, rate, kind
        self.warmup_steps, self.total_steps = warmup_steps, max(total_steps, 1)
        self.step = 0
        self._apply()

    def factor(self, step: int) -> float:
        """The share of the peak rate at ``step`` (0-based)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        decaying = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / decaying, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def advance(self) -> None:
        """Move on to the next step (after an optimizer step)."""
        self.step += 1
        self._apply()

    def _apply(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.rate * self.factor(self.step)

    def state_dict(self) -> dict[str, int]:
        """Where the schedule stands, for a checkpoint."""
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Go back to where a checkpoint's schedule stood."""
        self.step = int(state["step"])
        self._apply()


class TeacherForcing:
    """The chance of feeding the gold token, falling linearly from ``start`` to ``end`` over
    ``steps`` training steps. Its place in the schedule is saved with every checkpoint
    (``state_dict``), so a resumed run goes on where the interrupted one stopped."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start, self.end, self.steps, self.step = start, end, max(steps, 1), 0

    def next(self) -> float:
        """The ratio for this training step; moves on to the next step."""
        ratio = self.start + (self.end - self.start) * min(self.step / self.steps, 1.0)
        self.step += 1
        return ratio

    def state_dict(self) -> dict[str, int]:
        """Where the schedule stands, for a checkpoint."""
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Go back to where a checkpoint's schedule stood."""
        self.step = int(state["step"])
