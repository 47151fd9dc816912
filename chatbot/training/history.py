"""The metric history of a training run, saved as JSON and as a training-curve PNG."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.json"
CURVE_FILE = "training_curve.png"


@dataclass
class History:
    """One row per epoch: ``{"epoch": 1, "train_loss": 0.7, "dev_accuracy": 0.9, ...}``."""

    monitor: str = ""
    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    examples_per_second: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor, "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early, "seconds": round(self.seconds, 2),
            "examples_per_second": round(self.examples_per_second, 1), "epochs": self.epochs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            monitor=data.get("monitor", ""), epochs=list(data.get("epochs", [])),
            best_epoch=data.get("best_epoch", 0), stopped_early=data.get("stopped_early", False),
            seconds=data.get("seconds", 0.0),
            examples_per_second=data.get("examples_per_second", 0.0),
        )

    @classmethod
    def load(cls, folder: Path) -> History:
        """Read ``history.json`` from ``folder``."""
        return cls.from_dict(json.loads((folder / HISTORY_FILE).read_text(encoding="utf-8")))

    def save(self, folder: Path, title: str) -> None:
        """Write ``history.json`` and ``training_curve.png`` into ``folder``."""
        (folder / HISTORY_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n",
                                           encoding="utf-8")
        if self.epochs:
            self._plot(folder / CURVE_FILE, title)

    def _plot(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")  # files only; never a window
        import matplotlib.pyplot as plt

        epochs = [row["epoch"] for row in self.epochs]
        figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
        for key in ("train_loss", "dev_loss"):
            if key in self.epochs[0]:
                loss_axis.plot(epochs, [row[key] for row in self.epochs], label=key, marker="o")
        loss_axis.set_xlabel("epoch")
        loss_axis.set_ylabel("loss")
        metric_axis = loss_axis.twinx()
        metrics = [k for k in self.epochs[0] if k.startswith("dev_") and k != "dev_loss"]
        for key in metrics:
            metric_axis.plot(epochs, [row[key] for row in self.epochs], label=key,
                             linestyle="--", marker=".")
        metric_axis.set_ylabel("dev metric")
        if self.best_epoch:
            loss_axis.axvline(self.best_epoch, color="grey", linewidth=0.8)
        handles = loss_axis.get_legend_handles_labels()
        more = metric_axis.get_legend_handles_labels()
        loss_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="best", fontsize=8)
        loss_axis.set_title(title)
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)
