"""How fast chatbot eval goes through a log: batched against one turn at a time.

    python benchmarks/eval_speed.py [--model DIR ...] [--turns 10000] [--batch-sizes 64,256]

The turns are the first N questions of chatbotdata (with their answers and labels as gold;
``$CHATBOT_DATA_DIR/chatbotdata``), read the way ``chatbot eval`` reads a CSV. The models are
the default bot unless --model names others (repeatable). Two workloads, each run one turn at
a time and in batches, in the same process, one after the other:
  - classification: the pipeline up to its classifiers (its responders and fallback removed);
  - generation: the whole pipeline, replies written, and the language model scoring the gold
    replies (what chatbot eval runs).
Then the scoring of the batched generation run (BLEU/chrF statistics, metrics, per-turn
records), timed once. Target: batching at least 10 times faster than one at a time.
Results: benchmarks/results/eval_speed.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import data_dir, write_results

from chatbot.evaluation.logs import read_logs
from chatbot.evaluation.records import turn_records
from chatbot.evaluation.runner import Run, run_pipeline
from chatbot.evaluation.scoring import build_table, summarize
from chatbot.pipeline import Pipeline

GENERATORS = ("respond.", "fallback.")
TARGET_SPEEDUP = 10.0


def classification_only(pipeline: Pipeline) -> Pipeline:
    """The same plugin instances without the responders and the fallback."""
    return Pipeline(pipeline.spec, [p for p in pipeline.plugins
                                    if not p.name.startswith(GENERATORS)])


def measure(pipeline: Pipeline, turns: list, batch_sizes: list[int]) -> tuple[dict, Run]:
    """Turns/second at each batch size, and the run at the first batched size."""
    rates, runs = {}, {}
    for batch_size in [1, *batch_sizes]:
        run = runs[batch_size] = run_pipeline(pipeline, turns, batch_size, progress=True,
                                              label=f"batch {batch_size}")
        failed = sum(o.message is None for o in run.outcomes)
        rates[f"batch_{batch_size}"] = {"turns_per_second": round(len(turns) / run.seconds, 1),
                                        "seconds": round(run.seconds, 1), "failed": failed}
    single = rates["batch_1"]["turns_per_second"]
    for batch_size in batch_sizes:
        row = rates[f"batch_{batch_size}"]
        row["speedup_vs_one_at_a_time"] = round(row["turns_per_second"] / single, 2)
    return rates, runs[batch_sizes[0]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[],
                        help="a trained pipeline (repeatable; default: the default bot)")
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--batch-sizes", default="64,256",
                        help="batch sizes to compare with one at a time (64 is eval's default)")
    args = parser.parse_args(argv)
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]

    source = data_dir() / "chatbotdata" / "train.csv"
    if not source.is_file():
        raise SystemExit(f"chatbotdata not found at {source}: set CHATBOT_DATA_DIR")
    turns = read_logs([source])[: args.turns]
    if not args.model:
        from chatbot.default_model import ensure_default_model

        args.model = [ensure_default_model(progress=True)]
    results = {"turns": len(turns), "source": str(source),
               "torch_threads": torch.get_num_threads(), "target_speedup": TARGET_SPEEDUP,
               "models": {}}
    for model in map(Path, args.model):
        results["models"][model.name] = benchmark_model(model, turns, batch_sizes, source)
    print(write_results("eval_speed", results))
    return 0


def benchmark_model(model: Path, turns: list, batch_sizes: list[int], source: Path) -> dict:
    pipeline = Pipeline.load(model)
    pipeline.warm_up()
    results = {"model": str(model), "steps": pipeline.names}
    results["classification"], _ = measure(classification_only(pipeline), turns, batch_sizes)
    results["generation"], run = measure(pipeline, turns, batch_sizes)
    started = time.perf_counter()
    table = build_table(run.outcomes)
    summarize(run, table, {"path": str(model)}, [str(source)])
    turn_records(run, table)
    results["scoring_seconds"] = round(time.perf_counter() - started, 1)
    default = f"batch_{batch_sizes[0]}"
    speedups = {workload: results[workload][default]["speedup_vs_one_at_a_time"]
                for workload in ("classification", "generation")}
    results["target"] = {"batch": batch_sizes[0], "speedups": speedups,
                         "met": all(s >= TARGET_SPEEDUP for s in speedups.values())}
    return results


if __name__ == "__main__":
    raise SystemExit(main())
