"""Does the relevance model pick better replies? Retrieval reranked by rank.relevance against
TF-IDF retrieval, on chatbotdata.

    python benchmarks/relevance.py [--dev-limit N] [--threads N]

The split is benchmarks/dialog.py's (a tenth of chatbotdata for dev, repeated questions kept
on one side; a tenth of the train side held out again as "tune"). On the rest, a pipeline of
normalize.soynlp, rank.relevance and respond.retrieval is trained. Retrieval answers every
question (threshold 0): its ``candidates`` nearest questions' answers are ranked by the
question's similarity plus ``relevance_weight`` × the answer's relevance. The weight and the
number of candidates are chosen on tune (never on dev; the grid is in the results); weight 0 is
retrieval alone. On dev, in the same run:

  - reranked: retrieval with the weight and candidates chosen on tune;
  - retrieval_alone: the same retrieval, weight 0 (the nearest question's answer);
  - tfidf_retrieval: the answer of the nearest training question by character 1-3-gram
    TF-IDF cosine (scikit-learn), the baseline of benchmarks/dialog.py;
  - oracle@k: the best of the k candidates by sentence BLEU against the gold answer (how much
    a perfect reranker could gain).

Scores: BLEU-4 and chrF on morphemes (mecab) and on eojeol, with the difference from TF-IDF
retrieval and its 95% paired bootstrap interval. Also the relevance model's own numbers on its
tune split (accuracy, the gate threshold and its precision and recall) and the training time.
Results: benchmarks/results/relevance.json.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

import torch
from common import write_results
from dialog import (
    bootstrap_difference,
    chatbotdata_splits,
    corpus_bleu,
    score,
    tfidf_retrieval,
)

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.evaluation import metrics
from chatbot.pipeline import Pipeline
from chatbot.training.threads import apply_thread_policy

CONFIG = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: rank.relevance
  - plugin: respond.retrieval
    threshold: 0.0
    candidates: 10
    min_relevance: 0.0
    relevance_margin: 0.0
training:
  datasets: [chatbotdata]
"""
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
CANDIDATES = (3, 5, 10)


def replies(pipeline: Pipeline, texts: list[str], weight: float, candidates: int) -> list[str]:
    retrieval = pipeline.plugins[-1]
    retrieval.config = retrieval.config.model_copy(
        update={"relevance_weight": weight, "candidates": candidates})
    return [m.reply or "" for m in pipeline.process_texts(texts)]


def oracle(pipeline: Pipeline, texts: list[str], references: list[str]) -> list[str]:
    """The candidate closest to the gold answer (sentence BLEU, eojeol) of each question."""
    messages = pipeline.process_texts(texts)
    best = []
    for message, reference in zip(messages, references, strict=True):
        options = [c.answer for c in message.extras["retrieval"].candidates]
        best.append(max(options, key=lambda o: corpus_bleu([o], [reference])))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev-limit", type=int, help="score only the first N dev questions")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["CHATBOT_THREADS"] = str(args.threads)
        apply_thread_policy()
    train, tune, dev = chatbotdata_splits(args.dev_limit)

    started = time.perf_counter()
    pipeline = Pipeline.from_config(parse_config(CONFIG))
    pipeline.fit(Corpus(examples=list(train), name="chatbotdata train"), progress=True)
    train_seconds = time.perf_counter() - started
    relevance = pipeline.plugins[1]

    tune_texts, tune_references = [e.text for e in tune], [e.answer for e in tune]
    grid = {}
    for weight, count in itertools.product(WEIGHTS, CANDIDATES):
        if weight == 0 and count != CANDIDATES[0]:
            continue  # without relevance the candidates do not matter
        chosen = replies(pipeline, tune_texts, weight, count)
        grid[f"weight={weight} candidates={count}"] = {
            "weight": weight, "candidates": count,
            **{key: value for key, value in score(chosen, tune_references,
                                                  metrics.morphemes(tune_references)).items()
               if key in ("bleu4_morpheme", "chrf_morpheme")}}
    best = max(grid.values(), key=lambda r: r["bleu4_morpheme"] + r["chrf_morpheme"])
    print(f"chosen on tune: {best}", file=sys.stderr, flush=True)

    texts, references = [e.text for e in dev], [e.answer for e in dev]
    reference_morphemes = metrics.morphemes(references)
    outputs = {
        "reranked": replies(pipeline, texts, best["weight"], best["candidates"]),
        "retrieval_alone": replies(pipeline, texts, 0.0, CANDIDATES[0]),
        "tfidf_retrieval": tfidf_retrieval(train, dev),
    }
    replies(pipeline, texts, 0.0, best["candidates"])  # the same candidates, for the oracle
    outputs[f"oracle@{best['candidates']}"] = oracle(pipeline, texts, references)
    systems = {name: score(output, references, reference_morphemes)
               for name, output in outputs.items()}
    baseline = metrics.morphemes(outputs["tfidf_retrieval"])
    versus = {name: bootstrap_difference(baseline, metrics.morphemes(outputs[name]),
                                         reference_morphemes, unit="morpheme")
              for name in ("reranked", "retrieval_alone")}
    for name, result in systems.items():
        print(f"{name}: {result}", file=sys.stderr)
    print(f"minus tfidf_retrieval, on morphemes (95% interval): {versus}", file=sys.stderr)
    path = write_results("relevance", {
        "train": len(train), "tune": len(tune), "dev": len(dev),
        "train_seconds": round(train_seconds, 1), "torch_threads": torch.get_num_threads(),
        "relevance_model_on_its_tune_split": relevance.tune_metrics,
        "gate_threshold": round(relevance.tuned_threshold(), 4),
        "chosen_on_tune": best, "tuning_grid": grid, "systems": systems,
        "versus_tfidf_retrieval_morphemes": versus,
        "examples": [{"question": e.text, "gold": e.answer,
                      **{name: output[i] for name, output in outputs.items()}}
                     for i, e in enumerate(dev[:20])],
    })
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
