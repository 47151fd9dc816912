"""The metrics, as plain functions of gold labels, predictions and texts.

Classification metrics are computed from a confusion matrix with numpy, so that the bootstrap
can recompute them thousands of times; they agree with scikit-learn's definitions (macro: the
unweighted mean over every label that occurs in the gold or the predictions; a label never
predicted has precision 0). BLEU and chrF come from sacrebleu, kept as per-turn sufficient
statistics so that any subset of turns can be scored without re-tokenizing.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

import numpy as np

# -- classification ---------------------------------------------------------------------------


def confusion(gold: np.ndarray, predicted: np.ndarray, size: int) -> np.ndarray:
    """Counts of (gold, predicted) label indices: rows gold, columns predicted."""
    return np.bincount(gold * size + predicted, minlength=size * size).reshape(size, size)


def per_label_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of each label of a confusion matrix."""
    true_positives = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(true_positives, predicted, out=np.zeros_like(true_positives),
                          where=predicted > 0)
    recall = np.divide(true_positives, support, out=np.zeros_like(true_positives),
                       where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def macro_f1(matrix: np.ndarray) -> float:
    """The mean F1 over the labels that occur (in gold or predictions) in this matrix."""
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    if not present.any():
        return float("nan")
    return float(per_label_scores(matrix)["f1"][present].mean())


def classification_report(gold: list[str], predicted: list[str],
                          max_pairs: int = 10) -> dict[str, Any]:
    """Accuracy, macro and weighted P/R/F1, a per-label report, the confusion matrix and the
    most confused pairs."""
    labels = sorted(set(gold) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    matrix = confusion(np.array([index[g] for g in gold]),
                       np.array([index[p] for p in predicted]), len(labels))
    scores = per_label_scores(matrix)
    support = scores["support"]
    weights = support / max(support.sum(), 1)
    pairs = [(int(matrix[g, p]), labels[g], labels[p])
             for g in range(len(labels)) for p in range(len(labels)) if g != p and matrix[g, p]]
    pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    return {
        "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
        "macro_precision": float(scores["precision"].mean()),
        "macro_recall": float(scores["recall"].mean()),
        "macro_f1": float(scores["f1"].mean()),
        "weighted_precision": float((scores["precision"] * weights).sum()),
        "weighted_recall": float((scores["recall"] * weights).sum()),
        "weighted_f1": float((scores["f1"] * weights).sum()),
        "per_intent": {
            label: {"precision": float(scores["precision"][i]),
                    "recall": float(scores["recall"][i]), "f1": float(scores["f1"][i]),
                    "support": int(support[i])}
            for i, label in enumerate(labels)},
        "labels": labels,
        "confusion": matrix.tolist(),
        "confused_pairs": [{"gold": g, "predicted": p, "count": n}
                           for n, g, p in pairs[:max_pairs]],
    }


def binary_scores(gold: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class (boolean arrays)."""
    true_positives = float(np.sum(gold & predicted))
    precision = true_positives / max(int(predicted.sum()), 1)
    recall = true_positives / max(int(gold.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def roc_auc(gold: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half). None when only one class is present."""
    positives, negatives = int(gold.sum()), int((~gold).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # Tied scores share the mean of their ranks.
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    rank_sums = np.bincount(inverse, weights=ranks)
    ranks = (rank_sums / counts)[inverse]
    return float((ranks[gold].sum() - positives * (positives + 1) / 2) / (positives * negatives))


# -- replies ----------------------------------------------------------------------------------


@functools.cache
def _tagger() -> Any:
    import mecab

    return mecab.MeCab()


def morphemes(texts: list[str]) -> list[str]:
    """Each text as its morphemes (mecab-ko), separated by spaces: how Korean BLEU is read."""
    tagger = _tagger()
    return [" ".join(tagger.morphs(text)) if text.strip() else "" for text in texts]


def distinct(replies: list[str], n: int) -> float:
    """Distinct-n: different word n-grams over all word n-grams of the replies."""
    grams: Counter = Counter()
    for reply in replies:
        words = reply.split()
        grams.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return len(grams) / max(sum(grams.values()), 1)


@functools.cache
def _bleu() -> Any:
    from sacrebleu.metrics import BLEU

    # The texts come tokenized (eojeol or morphemes); force: do not warn that they look so.
    return BLEU(tokenize="none", force=True)


@functools.cache
def _chrf() -> Any:
    from sacrebleu.metrics import CHRF

    return CHRF()


# sacrebleu scores a corpus from the sum of per-sentence statistics; keeping those rows lets a
# subset of turns be scored by summing its rows. These two sacrebleu methods are the ones its
# own corpus_score and paired bootstrap use.
def bleu_statistics(hypotheses: list[str], references: list[str]) -> np.ndarray:
    """(turns, 10) BLEU statistics: lengths and n-gram matches and totals per turn."""
    if not hypotheses:
        return np.zeros((0, 10))
    return np.array(_bleu()._extract_corpus_statistics(hypotheses, [references]), dtype=float)


def bleu_score(statistics: np.ndarray) -> float:
    """Corpus BLEU-4 (0-100) of the turns whose statistics are given."""
    if not len(statistics):
        return float("nan")
    return float(_bleu()._compute_score_from_stats(list(statistics.sum(axis=0))).score)


def chrf_statistics(hypotheses: list[str], references: list[str]) -> np.ndarray:
    """(turns, 18) chrF statistics: character n-gram matches per turn."""
    if not hypotheses:
        return np.zeros((0, 18))
    return np.array(_chrf()._extract_corpus_statistics(hypotheses, [references]), dtype=float)


def chrf_score(statistics: np.ndarray) -> float:
    """Corpus chrF (0-100) of the turns whose statistics are given; one row: a turn's chrF."""
    if not len(statistics):
        return float("nan")
    summed = statistics.sum(axis=0) if statistics.ndim == 2 else statistics
    return float(_chrf()._compute_score_from_stats(list(summed)).score)


# -- latency ----------------------------------------------------------------------------------


def percentiles(values: list[float] | np.ndarray) -> dict[str, float | None]:
    """p50, p95, p99 and the mean (None when there are no values)."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99),
            "mean": float(values.mean())}
