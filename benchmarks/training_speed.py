"""Training speed of the torch plugins: examples per second through the shared training loop.

    python benchmarks/training_speed.py [--device cpu|cuda] [--examples 4000] [--threads N]

Each plugin trains for one epoch on the same sample of the bundled corpus (normalized and
tokenized first, outside the timing): classify.intent with each encoder, classify.spam,
embed.word2vec (word pairs per second) and spacing.bigru (sentences per second). Shared
machines are noisy, so the run also times a fixed reference workload (an MLP's training steps
on random data) and reports every speed as a ratio to it. Results:
benchmarks/results/training_speed.json (with the device's name).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import torch
from common import write_results

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_corpus
from chatbot.pipeline import Pipeline
from chatbot.training.threads import apply_thread_policy

PLUGINS = {
    "classify.intent (gru)": "classify.intent\n    encoder: gru",
    "classify.intent (lstm)": "classify.intent\n    encoder: lstm",
    "classify.intent (cnn)": "classify.intent\n    encoder: cnn",
    "classify.spam": "classify.spam",
    "embed.word2vec": "embed.word2vec",
    "spacing.bigru": "spacing.bigru",
}
CONFIG = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: {plugin}
    epochs: 1
    patience: 1
training:
  device: {device}
  precision: {precision}
"""


def reference_speed(device: torch.device, steps: int = 200) -> float:
    """Examples per second of a fixed MLP training workload: the run's yardstick."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 16)).to(device)
    optimizer = torch.optim.AdamW(model.parameters())
    inputs = torch.randn(64, 256, device=device)  # (batch, features)
    labels = torch.randint(0, 16, (64,), device=device)  # (batch,)
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * 64 / (time.perf_counter() - started)


def sample(corpus: Corpus, size: int) -> Corpus:
    """Every kind of example, evenly spread, up to ``size`` examples and sentences."""
    step = max(1, len(corpus.examples) // size)
    return Corpus(examples=corpus.examples[::step][:size], sentences=corpus.sentences[:size],
                  name=f"{corpus.name} sample")


def measure(name: str, plugin: str, corpus: Corpus, device: str, precision: str) -> dict:
    spec = parse_config(CONFIG.format(plugin=plugin, device=device, precision=precision))
    pipeline = Pipeline.from_config(spec)
    started = time.perf_counter()
    pipeline.fit(corpus)
    trained = pipeline.plugins[-1]
    history = trained.history
    return {"examples_per_second": round(history.examples_per_second, 1),
            "epoch_seconds": round(history.seconds, 2),
            "fit_seconds_with_preprocessing": round(time.perf_counter() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16")
    parser.add_argument("--examples", type=int, default=4000, help="sample size")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--plugins", nargs="*", choices=list(PLUGINS), default=list(PLUGINS))
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)  # what training.threads: auto uses
        apply_thread_policy()
    device = torch.device(args.device)
    device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else f"CPU, {torch.get_num_threads()} torch threads")
    corpus = sample(load_corpus(["demo"]), args.examples)
    reference_before = reference_speed(device)
    results: dict[str, Any] = {}
    for name in args.plugins:
        results[name] = measure(name, PLUGINS[name], corpus, args.device, args.precision)
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    # The yardstick before and after: a large change means the machine's load changed.
    reference = (reference_before + reference_speed(device)) / 2
    for entry in results.values():
        entry["ratio_to_reference"] = round(entry["examples_per_second"] / reference, 3)
    path = write_results("training_speed", {
        "device": device_name, "precision": args.precision, "sample_examples":
        len(corpus.examples), "sample_sentences": len(corpus.sentences),
        "reference_examples_per_second": round(reference, 1),
        "reference_drift": round(reference_before / reference, 3), "plugins": results,
    })
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
