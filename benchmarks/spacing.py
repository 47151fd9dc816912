"""Spacing correction: spacing.bigru against Kiwi's space() and soyspacing, on the same sentences.

    python benchmarks/spacing.py [--epochs N] [--train-sentences N] [--eval-sentences N]
                                 [--set KEY=VALUE ...] [--threads N] [--only NAME ...]

spacing.bigru is trained with the settings of configs/spacing.yaml (CLI flags override them),
behind that config's normalizer, on KorSTS train sentences plus the bundled corpus (sentences and
dialog answers); spacing.soyspacing learns from the same corpus; spacing.kiwi needs no training.
All three then space the KorSTS dev sentences that are not among the training sentences, with
every space taken away ("unspaced"), and again with half of the spaces kept ("partly spaced",
the same random half for every plugin). Scores: precision/recall/F1 of "a space after character
i" over all sentences, and whole-sentence exact match; speed: sentences/second in batches of 256,
one pass over the unspaced sentences; training: seconds and examples/second.
Results: benchmarks/results/spacing.json.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterable
from typing import Any

import torch
import yaml
from common import data_dir, write_results

from chatbot.config import load_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.data.readers import read_table
from chatbot.message import Message
from chatbot.plugin import Plugin, TrainContext
from chatbot.registry import default_registry
from chatbot.training.threads import apply_thread_policy
from chatbot_plugins.spacing.bigru import space_scores, split_spaces

PLUGINS = ("spacing.bigru", "spacing.kiwi", "spacing.soyspacing")


def korsts_split(name: str) -> list[str]:
    """Distinct sentences of one KorSTS file (``train`` or ``dev``), spaces made single."""
    path = data_dir() / "korsts" / f"sts-{name}.tsv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: set CHATBOT_DATA_DIR (chatbot data download korsts)")
    seen: dict[str, None] = {}
    for _, row in read_table(path, ("sentence1", "sentence2"), "\t", skip_bad=True):
        for sentence in (row["sentence1"], row["sentence2"]):
            seen.setdefault(" ".join(sentence.split()), None)
    return [s for s in seen if len(s.replace(" ", "")) > 1]


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each value read as YAML (``hidden=96``, ``conv_widths=[3,5]``)."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, not {pair!r}")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def partly_spaced(sentence: str, rng: random.Random) -> str:
    """The sentence with each of its spaces kept at even odds."""
    words = sentence.split(" ")
    return words[0] + "".join((" " if rng.random() < 0.5 else "") + w for w in words[1:])


def build(name: str, settings: dict[str, Any], corpus: Corpus,
          context: TrainContext) -> tuple[Plugin, float]:
    """The plugin, fitted on the corpus if it learns; and the seconds fitting took."""
    cls = default_registry().get(name)
    plugin = cls(cls.Config(**settings))
    started = time.perf_counter()
    if cls.trainable:
        plugin.fit(corpus, context)
    return plugin, time.perf_counter() - started


def run(plugin: Plugin, inputs: list[str], batch_size: int) -> tuple[list[str], float]:
    """The spaced outputs of one pass in batches, and sentences/second (after a warm-up)."""
    plugin.process([Message(s) for s in inputs[:16]])
    outputs: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(inputs), batch_size):
        batch = plugin.process([Message(s) for s in inputs[start:start + batch_size]])
        outputs.extend(m.spaced for m in batch)
    return outputs, len(inputs) / (time.perf_counter() - started)


def scores(outputs: list[str], golds: list[str]) -> dict[str, Any]:
    """Character-level space scores and exact match; an output whose characters differ from
    the gold's counts as predicting no space (and is counted in ``changed_characters``)."""
    predicted, gold, changed = [], [], 0
    for output, reference in zip(outputs, golds, strict=True):
        chars, spaces = split_spaces(output)
        gold_chars, gold_spaces = split_spaces(reference)
        if chars != gold_chars:
            changed += 1
            spaces = [0] * len(gold_chars)
        predicted.append(spaces)
        gold.append(gold_spaces)
    found = space_scores(predicted, gold)
    return {"char_precision": round(found["precision"], 4),
            "char_recall": round(found["recall"], 4), "char_f1": round(found["f1"], 4),
            "exact_match": round(found["exact"], 4), "changed_characters": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="spacing", help="config holding spacing.bigru")
    parser.add_argument("--epochs", type=int, help="override spacing.bigru's epochs")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="override another spacing.bigru setting")
    parser.add_argument("--train-sentences", type=int, help="KorSTS train sentences (all)")
    parser.add_argument("--eval-sentences", type=int, help="KorSTS dev sentences (all)")
    parser.add_argument("--batch-size", type=int, default=256, help="sentences per call")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: torch's choice; 1 is faster when "
                        "another process holds a core)")
    parser.add_argument("--only", nargs="*", choices=PLUGINS, help="plugins to run (all)")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)  # what training.threads: auto uses
        apply_thread_policy()
    spec = load_config(args.config)
    (bigru_step,) = [s for s in spec.steps if s.plugin.name == "spacing.bigru"]
    upstream_plugins = [s.plugin(s.config) for s in spec.steps[:spec.steps.index(bigru_step)]]
    bigru_settings = {**bigru_step.config.model_dump(), **parse_settings(args.settings)}
    if args.epochs:
        bigru_settings["epochs"] = args.epochs

    def upstream(texts: Iterable[str]) -> list[Message]:
        messages = [Message(text) for text in texts]
        for plugin in upstream_plugins:
            messages = plugin.process(messages)
        return messages

    train = korsts_split("train")[: args.train_sentences]
    bundled = load_dataset("demo")
    corpus = Corpus(examples=[e for e in bundled.examples if e.answer],
                    sentences=train + bundled.sentences, name="korsts-train+demo")
    trained_on = {s.replace(" ", "") for s in corpus.texts()}
    golds = [s for s in korsts_split("dev") if s.replace(" ", "") not in trained_on]
    golds = golds[: args.eval_sentences]
    unspaced = [s.replace(" ", "") for s in golds]
    rng = random.Random(args.seed)
    partly = [partly_spaced(s, rng) for s in golds]
    log(f"training on {len(train)} KorSTS + {len(bundled.sentences)} bundled sentences + "
        f"{len(corpus.examples)} answers; evaluating on {len(golds)} KorSTS dev sentences")

    results: dict[str, Any] = {
        "config": args.config,
        "train": {"korsts_sentences": len(train), "bundled_sentences": len(bundled.sentences),
                  "bundled_answers": len(corpus.examples)},
        "eval_sentences": len(golds),
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "bigru_settings": bigru_settings,
        "baselines": {
            "no_spaces": scores(unspaced, golds),
            "space_every_3_chars": scores(
                [" ".join(s[i:i + 3] for i in range(0, len(s), 3)) for s in unspaced], golds
            ),
        },
        "plugins": {},
    }
    context = TrainContext(upstream=upstream, seed=args.seed, device="cpu")
    for name in args.only or PLUGINS:
        settings = bigru_settings if name == "spacing.bigru" else {}
        plugin, fit_seconds = build(name, settings, corpus, context)
        outputs, speed = run(plugin, unspaced, args.batch_size)
        entry: dict[str, Any] = {
            "unspaced": scores(outputs, golds),
            "partly_spaced": scores(run(plugin, partly, args.batch_size)[0], golds),
            "sentences_per_second": round(speed, 1),
        }
        if plugin.trainable:
            entry["fit_seconds"] = round(fit_seconds, 2)
        if name == "spacing.bigru":
            history = plugin.history
            entry["training"] = {
                "train_seconds": round(history.seconds, 2),
                "examples_per_second": round(history.examples_per_second, 1),
                "epochs_run": len(history.epochs), "best_epoch": history.best_epoch,
                "history": history.epochs,
            }
            entry["examples"] = [{"input": i, "output": o, "gold": g}
                                 for i, o, g in zip(unspaced[:5], outputs[:5], golds[:5],
                                                    strict=True)]
        results["plugins"][name] = entry
        log(f"{name}: {({k: v for k, v in entry.items() if k not in ('training', 'examples')})}")
    if "spacing.kiwi" in results["plugins"]:
        kiwi_speed = results["plugins"]["spacing.kiwi"]["sentences_per_second"]
        for entry in results["plugins"].values():
            entry["speed_ratio_to_kiwi"] = round(entry["sentences_per_second"] / kiwi_speed, 3)
    path = write_results("spacing", results)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
