"""The training loop that every torch plugin uses.

A plugin hands :func:`fit` its model, its encoded train and dev examples, a ``collate`` that
turns a list of examples into a dict of tensors, a ``loss`` function and an ``evaluate`` function;
the loop does the rest: seeds, device, mixed precision, DistributedDataParallel under torchrun,
the learning-rate schedule (chatbot.training.schedule), gradient clipping, early stopping on the
dev metric, a checkpoint after every epoch (resumable after an interruption), a progress bar,
and the metric history.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from chatbot.errors import ChatbotError
from chatbot.plugin import PluginConfig, TrainContext
from chatbot.training import distributed
from chatbot.training.checkpoint import load_checkpoint, save_checkpoint
from chatbot.training.device import autocast, resolve_device, resolve_precision
from chatbot.training.history import History
from chatbot.training.schedule import LearningRateSchedule, ScheduleKind
from chatbot.training.threads import refresh_threads

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


class TrainSettings(PluginConfig):
    """Settings every trainable torch plugin has (its config inherits them)."""

    epochs: int = Field(12, ge=1, le=10_000, description="most passes over the training data")
    batch_size: int = Field(64, ge=1, le=65_536, description="examples per step, shared among the "
                            "processes under DDP")
    learning_rate: float = Field(2e-3, gt=0, description="AdamW learning rate (the peak, "
                                 "with a schedule)")
    schedule: ScheduleKind = Field("constant", description="the learning rate after the "
                                   "warm-up: constant, or cosine (down to 0 by the last step)")
    warmup_steps: int = Field(0, ge=0, le=10_000_000, description="steps over which the "
                              "learning rate rises linearly from near 0 (0: none)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    grad_clip: float = Field(1.0, ge=0, description="clip the gradient norm to this; 0: off")
    patience: int = Field(3, ge=1, le=10_000,
                          description="stop after this many epochs without a better "
                                      "dev score")
    dev_share: float = Field(0.1, gt=0, lt=0.5, description="share of the data held out as dev")


class Resumable(Protocol):
    """Training state of a plugin's own (a schedule) that checkpoints keep with the epoch."""

    def state_dict(self) -> dict[str, Any]:
        """The state as JSON values."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go back to a state that :meth:`state_dict` gave."""
        ...


class TrainingInterrupted(ChatbotError):
    """Ctrl-C during training: the last finished epoch is saved and can be resumed."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    model: nn.Module,
    train: Sequence[Any],
    dev: Sequence[Any],
    collate: Callable[[list[Any]], Batch],
    loss: Callable[[nn.Module, Batch], torch.Tensor],
    evaluate: Callable[[nn.Module, Sequence[Any], torch.device], dict[str, float]],
    settings: TrainSettings,
    context: TrainContext,
    name: str,
    monitor: str,
    resumable: dict[str, Resumable] | None = None,
) -> History:
    """Train ``model`` in place and leave it with the weights of its best dev epoch.

    Args:
        model: the nn.Module to train (moved to the chosen device).
        train: encoded training examples (anything ``collate`` understands).
        dev: encoded dev examples, passed to ``evaluate``.
        collate: list of examples -> dict of tensors (moved to the device by the loop).
        loss: (model, batch) -> scalar loss tensor; runs under autocast.
        evaluate: (model, dev, device) -> metrics named ``dev_...``, in eval mode, no grad.
        settings: epochs, batch size, learning rate, clipping, patience.
        context: device, precision, seed, the checkpoint folder, resume, progress.
        name: the plugin's name, for the progress bar and the checkpoint folder.
        monitor: the metric of ``evaluate`` to early-stop on (higher is better).
        resumable: state of the plugin's own that changes as it trains (a teacher-forcing
            schedule), by name: saved with every checkpoint, restored on resume.
    """
    seed_everything(context.seed)
    device = distributed.setup(resolve_device(context.device))
    dtype = resolve_precision(context.precision, device)
    model.to(device)
    trained = model
    if distributed.is_distributed():
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, device_ids=[device.index]
                                          if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    sampler = (DistributedSampler(train, shuffle=True, seed=context.seed)
               if distributed.is_distributed()
               else RandomSampler(train))
    # The batch is global: under DDP each process takes its share, so N processes take the
    # same optimisation steps as one and reach the same quality, only faster.
    per_process = max(1, settings.batch_size // distributed.world_size())
    loader = DataLoader(train, batch_size=per_process, sampler=sampler, collate_fn=collate)
    schedule = LearningRateSchedule(optimizer, settings.learning_rate, settings.schedule,
                                    settings.warmup_steps, settings.epochs * len(loader))
    resumable = {**(resumable or {}), "learning_rate": schedule}

    folder = Path(context.workdir) / name if context.workdir else None
    history, start_epoch, waited = History(monitor=monitor), 1, 0
    best_score, best_state = None, None
    if folder and context.resume and (folder / "checkpoint").is_dir():
        state = load_checkpoint(folder / "checkpoint", model, optimizer)
        history = History.from_dict(state["history"])
        start_epoch, best_score, waited = state["epoch"] + 1, state["best_score"], state["waited"]
        best_state = _load_best(folder, model)
        for key, part in resumable.items():
            if key in state.get("resumable", {}):
                part.load_state_dict(state["resumable"][key])
            else:
                logger.warning("%s: the checkpoint has no %s; it starts afresh", name, key)
        logger.info("%s: resuming after epoch %d", name, state["epoch"])

    started, seen = time.perf_counter(), 0
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, settings.epochs + 1):
            if waited >= settings.patience:
                break
            refresh_threads()  # follow neighbours that started or stopped (training/threads.py)
            # The shuffle order depends on (seed, epoch) only, so a resumed run sees the same
            # batches as one that was never interrupted.
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                sampler.generator = torch.Generator().manual_seed(context.seed + epoch)
            train_loss, count = _train_epoch(trained, loader, loss, optimizer, schedule, scaler,
                                             settings, device, dtype,
                                             f"{name} {epoch}/{settings.epochs}",
                                             context.progress)
            seen += count
            model.eval()
            with torch.no_grad():
                metrics = evaluate(model, dev, device)
            model.train()
            row = {"epoch": epoch, "train_loss": round(train_loss, 5),
                   **{k: round(v, 5) for k, v in metrics.items()}}
            history.epochs.append(row)
            # Without dev data every epoch scores the same: keep the last, not the first.
            score = metrics[monitor] if len(dev) else float(epoch)
            if best_score is None or score > best_score + 1e-6:
                best_score, best_state, waited = score, copy.deepcopy(model.state_dict()), 0
                history.best_epoch = epoch
            else:
                waited += 1
            logger.info("%s epoch %d: %s", name, epoch, row)
            if folder and distributed.is_main():
                _save(folder, model, optimizer, history, epoch, best_score, waited, best_state,
                      resumable)
        history.stopped_early = waited >= settings.patience and epoch < settings.epochs
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"training of {name} was interrupted"
            + (f"; epochs up to {history.epochs[-1]['epoch']} are saved in {folder}"
               if folder and history.epochs else ""),
            hint="run the same `chatbot train` command with --resume to continue",
        ) from None
    if best_state is not None:
        model.load_state_dict(best_state)
    history.seconds = time.perf_counter() - started
    history.examples_per_second = seen * distributed.world_size() / max(history.seconds, 1e-9)
    model.to("cpu").eval()
    return history


def _train_epoch(model, loader, loss_fn, optimizer, schedule, scaler, settings, device, dtype,
                 label, progress) -> tuple[float, int]:
    from tqdm import tqdm

    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=label, leave=False, disable=not (progress and distributed.is_main()),
               unit="batch")
    for batch in bar:
        batch = {key: value.to(device) for key, value in batch.items()}
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            value = loss_fn(model, batch)
        scaler.scale(value).backward()
        if settings.grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        schedule.advance()
        size = len(next(iter(batch.values())))
        total += float(value.detach()) * size
        count += size
        bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
    return distributed.mean(total / max(count, 1), device), count


def _save(folder, model, optimizer, history, epoch, best_score, waited, best_state,
          resumable) -> None:
    from chatbot.training.checkpoint import save_weights

    folder.mkdir(parents=True, exist_ok=True)
    best = copy.deepcopy(model)
    best.load_state_dict(best_state)
    save_weights(best, folder / "best.safetensors")
    save_checkpoint(folder / "checkpoint", model, optimizer, {
        "epoch": epoch, "best_score": best_score, "waited": waited,
        "history": history.to_dict(),
        "resumable": {key: part.state_dict() for key, part in resumable.items()},
    })


def _load_best(folder: Path, model: nn.Module) -> dict[str, torch.Tensor] | None:
    from chatbot.training.checkpoint import load_weights

    path = folder / "best.safetensors"
    if not path.is_file():
        return None
    best = copy.deepcopy(model)
    load_weights(best, path)
    return best.state_dict()
