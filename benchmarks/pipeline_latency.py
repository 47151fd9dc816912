"""Latency and throughput of a text pipeline: one message at a time against batches.

    python benchmarks/pipeline_latency.py [--config text | --model DIR] [--messages 1000]
                                          [--batch-size 256]

Messages are the questions of the bundled corpus (short chat messages as people type them).
One at a time: the median and p95 latency of a warm pipeline, and messages/second. Batched:
messages/second in batches; the speed-up is batched / one-at-a-time, measured in the same run.
Results: benchmarks/results/pipeline_latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import percentile, write_results

from chatbot.config import load_config
from chatbot.data.datasets import load_dataset
from chatbot.message import Message
from chatbot.pipeline import Pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", default="text", help="a config with nothing to train "
                        "(default: text, the default bot's text plugins)")
    source.add_argument("--model", help="a trained pipeline directory, e.g. the default bot")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)

    texts = list(dict.fromkeys(e.text for e in load_dataset("demo").examples))[: args.messages]
    pipeline = (Pipeline.load(args.model) if args.model
                else Pipeline.from_config(load_config(args.config)))
    pipeline.warm_up()

    latencies, per_plugin = [], {name: [] for name in pipeline.names}
    started = time.perf_counter()
    for text in texts:
        begin = time.perf_counter()
        (message,) = pipeline.process([Message(text)])
        latencies.append((time.perf_counter() - begin) * 1000)
        for name, ms in message.timings_ms.items():
            per_plugin[name].append(ms)
    single_rate = len(texts) / (time.perf_counter() - started)

    started = time.perf_counter()
    for start in range(0, len(texts), args.batch_size):
        pipeline.process([Message(t) for t in texts[start:start + args.batch_size]])
    batch_rate = len(texts) / (time.perf_counter() - started)

    results = {
        "config": args.config,
        "steps": pipeline.names,
        "messages": len(texts),
        "mean_characters": round(statistics.mean(len(t) for t in texts), 1),
        "one_at_a_time": {
            "median_ms": round(statistics.median(latencies), 3),
            "p95_ms": round(percentile(latencies, 0.95), 3),
            "messages_per_second": round(single_rate, 1),
            "median_ms_per_plugin": {
                name: round(statistics.median(values), 4) for name, values in per_plugin.items()
            },
        },
        "batched": {"batch_size": args.batch_size, "messages_per_second": round(batch_rate, 1)},
        "batch_speedup": round(batch_rate / single_rate, 2),
        "targets": {"median_ms_below": 5.0, "batch_speedup_at_least": 3.0},
    }
    path = write_results("pipeline_latency", results)
    print(f"median {results['one_at_a_time']['median_ms']} ms, one at a time "
          f"{single_rate:.0f}/s, batched {batch_rate:.0f}/s, speed-up "
          f"{results['batch_speedup']}x; wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
