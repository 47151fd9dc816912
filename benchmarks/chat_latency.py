"""Latency of one chat turn through a bot, with its relevance model and without it.

    python benchmarks/chat_latency.py [--model DIR|default] [--rounds 2]

Every turn of the probe set (benchmarks/probes/probes.jsonl: short everyday messages, and
two- and three-turn conversations whose follow-ups carry their history) is sent through the
chat service in-process, one message at a time, the way ``chatbot serve`` answers a single
user: the pipeline, the conversation's memory and the logged turn (to a throw-away log)
included. Two copies of the bot answer in the same run, turn by turn in alternating order:

  - with_relevance: the bot as configured (its responders rerank and gate with rank.relevance);
  - without_relevance: the same models with every responder's ``min_relevance`` off.

Reports p50, p95 and the mean in milliseconds for each, their ratios, and the median time of
each plugin. Results: benchmarks/results/chat_latency.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import percentile, write_results
from probes_run import read_probes

from chatbot.data.logstore import LogStore
from chatbot.default_model import DEFAULT_MODEL_NAME, model_directory
from chatbot.pipeline import Pipeline
from chatbot.serving.service import ChatService, model_version
from chatbot_plugins.respond.base import Responder


def without_relevance(pipeline: Pipeline) -> Pipeline:
    """The pipeline with every responder's relevance check off (the models untouched)."""
    for plugin in pipeline.plugins:
        if isinstance(plugin, Responder) and plugin.config.relevance_checked():
            plugin.config = plugin.config.model_copy(update={"min_relevance": None})
    return pipeline


def summary(latencies: list[float]) -> dict[str, float]:
    return {"turns": len(latencies), "p50_ms": round(percentile(latencies, 0.5), 2),
            "p95_ms": round(percentile(latencies, 0.95), 2),
            "mean_ms": round(statistics.fmean(latencies), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME,
                        help="a trained pipeline directory, or 'default' (the default bot)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the probe set")
    args = parser.parse_args(argv)
    directory = model_directory(args.model, progress=True)
    probes = read_probes()
    with tempfile.TemporaryDirectory() as scratch:
        pipelines = {
            "with_relevance": Pipeline.load(directory),
            "without_relevance": without_relevance(Pipeline.load(directory)),
        }
        chats = {name: ChatService(pipeline, LogStore(Path(scratch) / f"{name}.sqlite"),
                                   model_version(directory), max_batch=1)
                 for name, pipeline in pipelines.items()}
        for pipeline in pipelines.values():
            pipeline.warm_up()
        latencies = {name: [] for name in chats}
        plugin_ms = {name: {} for name in chats}
        order = list(chats)
        for round_number in range(args.rounds):
            for number, probe in enumerate(probes):
                conversation = f"r{round_number}-p{number}"
                for turn in probe["turns"]:
                    order.reverse()  # neither copy always goes first
                    for name in order:
                        started = time.perf_counter()
                        reply = chats[name].respond(turn, conversation)
                        latencies[name].append((time.perf_counter() - started) * 1000)
                        for plugin, ms in (reply.message.timings_ms.items()
                                           if reply.message else ()):
                            plugin_ms[name].setdefault(plugin, []).append(ms)
        for chat in chats.values():
            chat.close()
    results = {name: {**summary(values),
                      "plugin_median_ms": {plugin: round(statistics.median(ms), 3)
                                           for plugin, ms in plugin_ms[name].items()}}
               for name, values in latencies.items()}
    base, checked = results["without_relevance"], results["with_relevance"]
    ratios = {key: round(checked[key] / base[key], 3) for key in ("p50_ms", "p95_ms", "mean_ms")}
    for name, result in results.items():
        print(f"{name}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
              f"mean {result['mean_ms']} ms", file=sys.stderr)
    print(f"with / without: {ratios}", file=sys.stderr)
    path = write_results("chat_latency", {
        "model": str(directory), "rounds": args.rounds, "probes": len(probes),
        "systems": results, "with_over_without": ratios,
        "targets": {"p50_ms": 30, "p95_ms": 80},
    })
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
