"""Shared pieces of the benchmarks: where the data is, how to time, how results are written.

Benchmarks read public corpora from ``$CHATBOT_DATA_DIR`` (for this repository's developers:
``../shared/corpora``) and write one JSON file each under ``benchmarks/results/``. Machines are
shared and noisy, so every speed comes with a baseline measured in the same run, and ratios to it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chatbot.data.readers import read_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def data_dir() -> Path:
    """``$CHATBOT_DATA_DIR``, else ``../shared/corpora`` beside the repository."""
    return Path(os.environ.get("CHATBOT_DATA_DIR", ROOT.parent / "shared" / "corpora"))


def korsts_sentences(limit: int | None = None) -> list[str]:
    """Distinct well-formed sentences of KorSTS (train then dev), in file order."""
    folder = data_dir() / "korsts"
    files = sorted(folder.glob("sts-*.tsv"), key=lambda p: ("train" not in p.name, p.name))
    if not files:
        raise SystemExit(f"KorSTS not found in {folder}: set CHATBOT_DATA_DIR")
    seen: dict[str, None] = {}
    for path in files:
        for _, row in read_table(path, ("sentence1", "sentence2"), "\t", skip_bad=True):
            seen.setdefault(row["sentence1"], None)
            seen.setdefault(row["sentence2"], None)
    sentences = list(seen)
    return sentences[:limit] if limit else sentences


def rate(work: Callable[[], Any], items: int, min_seconds: float = 0.5) -> float:
    """Items per second of ``work`` (repeated until at least ``min_seconds`` have passed)."""
    runs, started = 0, time.perf_counter()
    while True:
        work()
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return items * runs / elapsed


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` (0..1) of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), **results}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
