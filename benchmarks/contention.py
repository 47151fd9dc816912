"""Training on a busy machine: one default-bot epoch, idle and beside a CPU-bound neighbour.

"One default-bot epoch" is the default config trained end to end with every trainable plugin
set to one epoch (word2vec, the spam and intent classifiers, seq2seq, the LM), on the bundled
corpus. Each measurement runs in a fresh process, so torch's thread pool starts as a user's
would. The neighbour is one more process spinning on the CPU (``while True: pass``): on a 2-core
machine it takes a core, as another job or a second training would.

Two thread policies are timed in the same run:

- ``torch default``: torch's own choice (one intra-op thread per core), what the toolkit did
  before it set a policy;
- ``toolkit``: what ``Pipeline.fit`` now does (``training.threads: auto``: the cores not taken
  by other running processes, decided again before every epoch; chatbot/training/threads.py).

Usage::

    python benchmarks/contention.py            # about 6 minutes on 2 cores; nothing else running
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

TORCH_PLUGINS = ("embed.word2vec", "classify.spam", "classify.intent", "respond.seq2seq",
                 "fallback.lm")
TARGET_RATIO = 2.5  # busy / idle, for the toolkit's policy


def _epoch_seconds(threads: str) -> float:
    """Train the default bot for one epoch per plugin in this process; the fit's seconds."""
    from chatbot.config import load_config
    from chatbot.data.datasets import load_corpus
    from chatbot.pipeline import Pipeline

    overrides = [f"{name}.epochs=1" for name in TORCH_PLUGINS] + [f"training.threads={threads}"]
    spec = load_config("default", overrides)
    corpus = load_corpus(spec.training.datasets)
    pipeline = Pipeline.from_config(spec)
    started = time.perf_counter()
    pipeline.fit(corpus)
    return time.perf_counter() - started


def _measure(threads: str, busy: bool) -> dict:
    """One epoch in a fresh process, with or without a spinning neighbour."""
    neighbour = None
    if busy:
        neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)  # let it take its core
    try:
        environment = {k: v for k, v in os.environ.items() if k != "CHATBOT_THREADS"}
        out = subprocess.run(
            [sys.executable, __file__, "--worker", threads],
            check=True, capture_output=True, text=True, env=environment,
        ).stdout
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", metavar="THREADS", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help="runs per condition (default 1)")
    args = parser.parse_args()
    if args.worker:
        import torch

        seconds = _epoch_seconds(args.worker)
        print(json.dumps({"seconds": round(seconds, 2), "torch_threads": torch.get_num_threads()}))
        return

    load_before = os.getloadavg()
    policies = {"torch default": str(os.cpu_count() or 1), "toolkit": "auto"}
    runs: dict[str, dict[str, list[dict]]] = {name: {"idle": [], "busy": []} for name in policies}
    for _ in range(args.repeats):
        for name, threads in policies.items():
            for condition in ("idle", "busy"):
                result = _measure(threads, condition == "busy")
                runs[name][condition].append(result)
                print(f"{name:13s} {condition}: {result['seconds']:.1f} s "
                      f"({result['torch_threads']} torch threads)", file=sys.stderr)

    def best(name: str, condition: str) -> float:
        return min(run["seconds"] for run in runs[name][condition])

    summary = {
        name: {
            "idle_s": best(name, "idle"),
            "busy_s": best(name, "busy"),
            "busy_over_idle": round(best(name, "busy") / best(name, "idle"), 2),
        }
        for name in policies
    }
    results = {
        "workload": "default config, every trainable plugin 1 epoch, bundled corpus; "
                    "fresh process per run; neighbour = one spinning Python process",
        "load_average_before": [round(x, 2) for x in load_before],
        "policies": policies,
        "runs": runs,
        "summary": summary,
        "toolkit_idle_over_torch_default_idle": round(
            best("toolkit", "idle") / best("torch default", "idle"), 2),
        "target_busy_over_idle": TARGET_RATIO,
        "target_met": summary["toolkit"]["busy_over_idle"] <= TARGET_RATIO
        and best("toolkit", "idle") <= best("torch default", "idle") * 1.05,
    }
    path = write_results("contention", results)
    print(json.dumps(summary, indent=2), file=sys.stderr)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
