"""Intent classification quality: the neural classifier against TF-IDF + logistic regression.

    python benchmarks/classifiers.py [--tasks kochat_intent chatbotdata] [--epochs N]

For each task, one deterministic split of the public training data (dev share 0.1, repeated
questions kept on one side) is scored in the same run by:
  - tfidf_lr: character 1-3-gram TF-IDF (per word) + logistic regression (scikit-learn);
  - classify.intent: the toolkit's classifier, trained with the pipeline of its config.
Metrics: accuracy, macro-F1 and, where the data has out-of-domain examples, OOD recall;
training time and examples/second. Results: benchmarks/results/classifiers.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Any

from common import write_results
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, recall_score

from chatbot.config import load_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.data.formats import OOD_LABEL
from chatbot.data.splits import split_examples
from chatbot.pipeline import Pipeline

TASKS = {
    "kochat_intent": ("kochat_intent", "kochat_intent"),  # dataset, config
    "chatbotdata": ("chatbotdata", "chatbotdata"),
}


def scores(gold: list[str], predicted: list[str]) -> dict[str, float]:
    out = {
        "accuracy": round(accuracy_score(gold, predicted), 4),
        "macro_f1": round(f1_score(gold, predicted, average="macro"), 4),
    }
    if OOD_LABEL in gold:
        out["ood_recall"] = round(
            recall_score(gold, predicted, labels=[OOD_LABEL], average="macro"), 4
        )
    return out


def tfidf_baseline(train, dev) -> dict[str, Any]:
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform([e.text for e in train])
    model = LogisticRegression(max_iter=3000, C=10)
    model.fit(features, [e.intent for e in train])
    seconds = time.perf_counter() - started
    predicted = model.predict(vectorizer.transform([e.text for e in dev]))
    return {**scores([e.intent for e in dev], list(predicted)), "train_seconds": round(seconds, 1)}


def neural(config: str, train, dev, epochs: int | None) -> dict[str, Any]:
    overrides = [f"classify.intent.epochs={epochs}"] if epochs else []
    # The plugin makes its own dev split; give it only the train side so dev stays unseen.
    spec = load_config(config, overrides)
    # Only the steps up to the classifier: the responders after it play no part here.
    last = next(i for i, step in enumerate(spec.steps) if step.plugin.name == "classify.intent")
    spec = dataclasses.replace(spec, steps=spec.steps[: last + 1])
    pipeline = Pipeline.from_config(spec)
    started = time.perf_counter()
    pipeline.fit(Corpus(examples=list(train), name="train"))
    seconds = time.perf_counter() - started
    messages = pipeline.process_texts([e.text for e in dev])
    intent = next(p for p in pipeline.plugins if p.name == "classify.intent")
    return {
        **scores([e.intent for e in dev], [m.intent.label for m in messages]),
        "train_seconds": round(seconds, 1),
        "examples_per_second": round(intent.history.examples_per_second, 1),
        "best_epoch": intent.history.best_epoch,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--epochs", type=int, help="override the configs' epochs")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for task in args.tasks:
        dataset, config = TASKS[task]
        examples = [e for e in load_dataset(dataset).examples if e.intent]
        split = split_examples(examples, dev=0.1, test=0.0, seed=2026)
        entry = {"train": len(split.train), "dev": len(split.dev),
                 "tfidf_lr": tfidf_baseline(split.train, split.dev)}
        print(f"{task}: tfidf_lr {entry['tfidf_lr']}", file=sys.stderr, flush=True)
        entry["classify.intent"] = neural(config, split.train, split.dev, args.epochs)
        print(f"{task}: classify.intent {entry['classify.intent']}", file=sys.stderr, flush=True)
        results[task] = entry
    path = write_results("classifiers", {"tasks": results})
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
