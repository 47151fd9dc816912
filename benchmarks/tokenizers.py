"""Speed of every split and tokenize plugin, and how well the splitters find sentence boundaries.

    python benchmarks/tokenizers.py [--sentences 5000] [--paragraphs 600] [--only NAME ...]

Speed: sentences/second of each plugin on the same KorSTS sentences, in batches, with a plain
whitespace split (tokenizers) and a punctuation regex (splitters) as baselines measured in the
same run. Boundaries: paragraphs are built from 2-5 known sentences, with and without their final
punctuation; a splitter's boundaries are compared with the known ones (precision, recall, F1).
Results: benchmarks/results/tokenizers.json.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from typing import Any

from common import korsts_sentences, write_results

from chatbot.data.corpus import Corpus
from chatbot.message import Message
from chatbot.plugin import Plugin, TrainContext
from chatbot.registry import default_registry

SPLITTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "split.kss/fast": ("split.kss", {"backend": "fast"}),
    "split.kss/mecab": ("split.kss", {"backend": "mecab"}),
    "split.kss/pecab": ("split.kss", {"backend": "pecab"}),
    "split.kiwi": ("split.kiwi", {}),
}
TOKENIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "tokenize.kiwi": ("tokenize.kiwi", {}),
    "tokenize.mecab": ("tokenize.mecab", {}),
    "tokenize.konlpy/okt": ("tokenize.konlpy", {"tagger": "okt"}),
    "tokenize.konlpy/komoran": ("tokenize.konlpy", {"tagger": "komoran"}),
    "tokenize.konlpy/kkma": ("tokenize.konlpy", {"tagger": "kkma"}),
    "tokenize.konlpy/hannanum": ("tokenize.konlpy", {"tagger": "hannanum"}),
    "tokenize.soynlp": ("tokenize.soynlp", {}),
    "tokenize.sentencepiece": ("tokenize.sentencepiece", {}),
}
FINAL_PUNCTUATION = re.compile(r"[.?!。]+$")


def build(name: str, settings: dict[str, Any], sentences: list[str]) -> tuple[Plugin, float]:
    """The plugin, fitted on the sentences if it learns; and the seconds fitting took."""
    cls = default_registry().get(name)
    plugin = cls(cls.Config(**settings))
    started = time.perf_counter()
    if cls.trainable:
        plugin.fit(Corpus.from_texts(sentences), TrainContext())
    return plugin, time.perf_counter() - started


def throughput(process, sentences: list[str], batch_size: int) -> float:
    """Sentences per second, one pass in batches, after a short warm-up."""
    process([Message(s) for s in sentences[:16]])
    started = time.perf_counter()
    for start in range(0, len(sentences), batch_size):
        process([Message(s) for s in sentences[start:start + batch_size]])
    return len(sentences) / (time.perf_counter() - started)


def whitespace_tokenize(messages: list[Message]) -> list[Message]:
    for message in messages:
        message.extras["words"] = message.text.split()
    return messages


def regex_split(messages: list[Message]) -> list[Message]:
    for message in messages:
        message.sentences = [s for s in re.split(r"(?<=[.?!])\s+", message.text) if s]
    return messages


def make_paragraphs(sentences: list[str], count: int, seed: int = 7) -> list[list[str]]:
    """Groups of 2-5 distinct sentences that end in final punctuation."""
    pool = [s for s in sentences if FINAL_PUNCTUATION.search(s) and 4 <= len(s) <= 120]
    rng = random.Random(seed)
    return [rng.sample(pool, rng.randint(2, 5)) for _ in range(count)]


def boundaries(sentences: list[str]) -> set[int]:
    """Boundary positions counted in non-space characters, so spacing differences don't matter."""
    positions, total = set(), 0
    for sentence in sentences[:-1]:
        total += len(sentence.replace(" ", ""))
        positions.add(total)
    return positions


def boundary_scores(splitter, paragraphs: list[list[str]], punctuated: bool) -> dict[str, float]:
    golds = paragraphs if punctuated else [
        [FINAL_PUNCTUATION.sub("", s) for s in group] for group in paragraphs
    ]
    messages = splitter([Message(" ".join(group)) for group in golds])
    hits = predicted = expected = 0
    for message, gold in zip(messages, golds, strict=True):
        found, wanted = boundaries(message.sentences), boundaries(gold)
        hits += len(found & wanted)
        predicted += len(found)
        expected += len(wanted)
    precision = hits / predicted if predicted else 0.0
    recall = hits / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=5000, help="sentences to time on")
    parser.add_argument("--paragraphs", type=int, default=600, help="paragraphs for boundaries")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--only", nargs="*", help="plugin labels to run (default: all)")
    args = parser.parse_args(argv)

    sentences = korsts_sentences(args.sentences)
    if len(sentences) < args.sentences:
        print(f"only {len(sentences)} sentences available", file=sys.stderr)
    paragraphs = make_paragraphs(korsts_sentences(), args.paragraphs)
    wanted = set(args.only) if args.only else None

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    split_base = throughput(regex_split, sentences, args.batch_size)
    token_base = throughput(whitespace_tokenize, sentences, args.batch_size)
    results: dict[str, Any] = {
        "sentences": len(sentences),
        "paragraphs": len(paragraphs),
        "batch_size": args.batch_size,
        "baselines": {
            "split.regex_punctuation": {
                "sentences_per_second": round(split_base),
                "boundaries_punctuated": boundary_scores(regex_split, paragraphs, True),
                "boundaries_unpunctuated": boundary_scores(regex_split, paragraphs, False),
            },
            "tokenize.whitespace": {"sentences_per_second": round(token_base)},
        },
        "split": {},
        "tokenize": {},
    }
    for group, plugins, baseline in (("split", SPLITTERS, split_base),
                                     ("tokenize", TOKENIZERS, token_base)):
        for label, (name, settings) in plugins.items():
            if wanted and label not in wanted:
                continue
            plugin, fit_seconds = build(name, settings, sentences)
            speed = throughput(plugin.process, sentences, args.batch_size)
            entry: dict[str, Any] = {
                "sentences_per_second": round(speed, 1),
                "ratio_to_baseline": round(speed / baseline, 5),
            }
            if plugin.trainable:
                entry["fit_seconds"] = round(fit_seconds, 2)
            if group == "split":
                entry["boundaries_punctuated"] = boundary_scores(plugin.process, paragraphs, True)
                entry["boundaries_unpunctuated"] = boundary_scores(
                    plugin.process, paragraphs, False
                )
            results[group][label] = entry
            log(f"{label}: {entry}")
    path = write_results("tokenizers", results)
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
