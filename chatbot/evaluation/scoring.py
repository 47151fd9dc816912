"""From a run's outcomes to metrics: per turn, and over the whole log.

:class:`TurnTable` holds, per turn, everything a headline metric needs (label indices, BLEU and
chrF statistics, log-likelihoods) as numpy arrays. :func:`headline` computes the headline
metrics of any subset of turns from it, which is what the paired bootstrap of ``--compare``
resamples; :func:`summarize` computes the full ``metrics.json`` once, as the typed
:class:`~chatbot.evaluation.schema.Metrics`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from chatbot.data.formats import OOD_LABEL
from chatbot.evaluation import metrics
from chatbot.evaluation.runner import Outcome, Run
from chatbot.evaluation.schema import (
    HEADLINE,
    ConfusedPair,
    Failed,
    FailedTurn,
    FallbackMetrics,
    Feedback,
    IntentMetrics,
    IntentScores,
    LatencyMetrics,
    LmMetrics,
    Metrics,
    ModelInfo,
    Percentiles,
    ReplyMetrics,
    SpamMetrics,
    Throughput,
)

FALLBACK_PREFIX = "fallback."


@dataclass
class TurnTable:
    """Per-turn arrays over the turns the pipeline processed (``outcomes[i]`` is row i)."""

    outcomes: list[Outcome]
    intent_labels: list[str]
    intent_gold: np.ndarray  # label index, -1 when the turn has no gold intent
    intent_predicted: np.ndarray  # label index, -1 when no intent was predicted
    spam_gold: np.ndarray  # 1 spam, 0 ham, -1 unknown
    spam_flagged: np.ndarray  # bool
    spam_score: np.ndarray  # P(spam), nan without a spam classifier
    has_gold_reply: np.ndarray  # bool
    bleu_morpheme: np.ndarray  # (turns, 10) BLEU statistics, zeros without a gold reply
    bleu_eojeol: np.ndarray  # (turns, 10)
    chrf_eojeol: np.ndarray  # (turns, 18) chrF statistics
    chrf_morpheme: np.ndarray  # (turns, 18)
    fallback: np.ndarray  # bool: answered by a fallback.* plugin
    gold_nll: np.ndarray  # nats of the gold reply under the language model, nan if none
    gold_tokens: np.ndarray  # its subwords

    @property
    def size(self) -> int:
        return len(self.outcomes)


def build_table(outcomes: list[Outcome]) -> TurnTable:
    """The table of the outcomes that were processed (those with a message)."""
    done = [o for o in outcomes if o.message is not None]
    labels = sorted({o.turn.gold_intent for o in done if o.turn.gold_intent}
                    | {o.message.intent.label for o in done if o.message.intent})
    index = {label: i for i, label in enumerate(labels)}
    has_reply = np.array([bool(o.turn.gold_reply) for o in done], dtype=bool)
    scored = [o for o in done if o.turn.gold_reply]
    replies = [o.message.reply or "" for o in scored]
    gold = [o.turn.gold_reply for o in scored]
    reply_morphemes, gold_morphemes = metrics.morphemes(replies), metrics.morphemes(gold)

    def spread(rows: np.ndarray, width: int) -> np.ndarray:  # back to one row per turn
        full = np.zeros((len(done), width))
        full[has_reply] = rows
        return full

    return TurnTable(
        outcomes=done,
        intent_labels=labels,
        intent_gold=np.array([index.get(o.turn.gold_intent, -1) for o in done], dtype=int),
        intent_predicted=np.array([index[o.message.intent.label] if o.message.intent else -1
                                   for o in done], dtype=int),
        spam_gold=np.array([{"spam": 1, "ham": 0}.get(o.turn.gold_spam, -1) for o in done],
                           dtype=int),
        spam_flagged=np.array([bool(o.message.spam and o.message.spam.label == "spam")
                               for o in done], dtype=bool),
        spam_score=np.array([o.message.spam.confidence if o.message.spam else math.nan
                             for o in done], dtype=float),
        has_gold_reply=has_reply,
        bleu_morpheme=spread(metrics.bleu_statistics(reply_morphemes, gold_morphemes), 10),
        bleu_eojeol=spread(metrics.bleu_statistics(replies, gold), 10),
        chrf_eojeol=spread(metrics.chrf_statistics(replies, gold), 18),
        chrf_morpheme=spread(metrics.chrf_statistics(reply_morphemes, gold_morphemes), 18),
        fallback=np.array([(o.message.responder or "").startswith(FALLBACK_PREFIX)
                           for o in done], dtype=bool),
        gold_nll=np.array([o.gold_nll[0] if o.gold_nll else math.nan for o in done]),
        gold_tokens=np.array([o.gold_nll[1] if o.gold_nll else 0 for o in done], dtype=int),
    )


def headline(table: TurnTable, rows: np.ndarray | None = None) -> dict[str, float | None]:
    """The headline metrics over the given rows (all turns when None); None where the turns
    carry nothing to score it on."""
    rows = np.arange(table.size) if rows is None else rows
    gold, predicted = table.intent_gold[rows], table.intent_predicted[rows]
    labelled = (gold >= 0) & (predicted >= 0)
    spam_known = (table.spam_gold[rows] >= 0) & ~np.isnan(table.spam_score[rows])
    replied = table.has_gold_reply[rows]
    tokens = table.gold_tokens[rows].sum()
    result: dict[str, float | None] = dict.fromkeys(HEADLINE)
    if labelled.any():
        result["intent.accuracy"] = float((gold[labelled] == predicted[labelled]).mean())
        result["intent.macro_f1"] = metrics.macro_f1(metrics.confusion(
            gold[labelled], predicted[labelled], len(table.intent_labels)))
    if spam_known.any():
        result["spam.f1"] = metrics.binary_scores(table.spam_gold[rows][spam_known] == 1,
                                                  table.spam_flagged[rows][spam_known])[2]
    if replied.any():
        result["reply.bleu4"] = metrics.bleu_score(table.bleu_morpheme[rows][replied])
        result["reply.chrf"] = metrics.chrf_score(table.chrf_eojeol[rows][replied])
    if len(rows):
        result["fallback.rate"] = float(table.fallback[rows].mean())
    if tokens:
        nll = np.nansum(table.gold_nll[rows])
        result["lm.perplexity"] = float(math.exp(min(nll / tokens, 50.0)))
    return result


def summarize(run: Run, table: TurnTable, model: ModelInfo | dict[str, Any], logs: list[str],
              warnings: list[str] | None = None,
              latency_sample: list[dict[str, float]] | None = None) -> Metrics:
    """The whole ``metrics.json``: every key always present, None where the data does not
    allow the metric (docs/evaluation.md lists them).

    Args:
        run: the run the table was built from.
        table: its processed turns.
        model: the pipeline's path and version (a dict may leave the version out).
        logs: the files read.
        warnings: e.g. gold intents the model does not know.
        latency_sample: when the run went in batches, the per-plugin timings (ms) of turns
            processed again one at a time (:mod:`chatbot.evaluation.latency`); the latency
            percentiles come from them. Without it a batched run gets a mean latency only.
    """
    top = headline(table)
    errors = [o for o in run.outcomes if o.message is None]
    return Metrics(
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=(model if isinstance(model, ModelInfo)
               else ModelInfo.model_validate({"version": None, **model})),
        logs=logs,
        turns=table.size,
        failed=Failed(count=len(errors), examples=[FailedTurn(source=o.turn.source,
                                                              error=o.error)
                                                   for o in errors[:20]]),
        intent=_intent(table, top),
        spam=_spam(table, top),
        reply=_reply(table, top),
        responders=_responders(table),
        fallback=FallbackMetrics(rate=top["fallback.rate"], count=int(table.fallback.sum())),
        lm=LmMetrics(perplexity=top["lm.perplexity"],
                     replies=int((table.gold_tokens > 0).sum()),
                     tokens=int(table.gold_tokens.sum())),
        latency_ms=_latency(table, run.batch_size, latency_sample),
        feedback=_feedback(table),
        throughput=Throughput(turns_per_second=(len(run.outcomes) / run.seconds
                                                if run.seconds else None),
                              seconds=run.seconds, batch_size=run.batch_size),
        warnings=warnings or [],
    )


def _intent(table: TurnTable, top: dict) -> IntentMetrics:
    labelled = (table.intent_gold >= 0) & (table.intent_predicted >= 0)
    names = table.intent_labels
    if not labelled.any():  # every key, so that metrics.json keeps one shape
        return IntentMetrics(turns=0, accuracy=None, macro_precision=None, macro_recall=None,
                             macro_f1=None, weighted_precision=None, weighted_recall=None,
                             weighted_f1=None, ood_recall=None, per_intent={}, labels=[],
                             confusion=[], confused_pairs=[])
    report = metrics.classification_report([names[i] for i in table.intent_gold[labelled]],
                                           [names[i] for i in table.intent_predicted[labelled]])
    ood_recall = None
    if OOD_LABEL in names:
        ood = labelled & (table.intent_gold == names.index(OOD_LABEL))
        if ood.any():
            ood_recall = float((table.intent_predicted[ood] == table.intent_gold[ood]).mean())
    return IntentMetrics(
        turns=int(labelled.sum()), accuracy=top["intent.accuracy"],
        macro_precision=report["macro_precision"], macro_recall=report["macro_recall"],
        macro_f1=top["intent.macro_f1"], weighted_precision=report["weighted_precision"],
        weighted_recall=report["weighted_recall"], weighted_f1=report["weighted_f1"],
        ood_recall=ood_recall,
        per_intent={label: IntentScores(**scores)
                    for label, scores in report["per_intent"].items()},
        labels=report["labels"], confusion=report["confusion"],
        confused_pairs=[ConfusedPair(**pair) for pair in report["confused_pairs"]])


def _spam(table: TurnTable, top: dict) -> SpamMetrics:
    known = (table.spam_gold >= 0) & ~np.isnan(table.spam_score)
    if not known.any():
        return SpamMetrics(turns=0, spam=0, precision=None, recall=None, f1=None, roc_auc=None)
    gold = table.spam_gold[known] == 1
    precision, recall, _ = metrics.binary_scores(gold, table.spam_flagged[known])
    return SpamMetrics(turns=int(known.sum()), spam=int(gold.sum()), precision=precision,
                       recall=recall, f1=top["spam.f1"],
                       roc_auc=metrics.roc_auc(gold, table.spam_score[known]))


def _reply(table: TurnTable, top: dict) -> ReplyMetrics:
    replies = [o.message.reply or "" for o in table.outcomes]
    gold = [o.turn.gold_reply for o in table.outcomes if o.turn.gold_reply]
    scored = table.has_gold_reply
    return ReplyMetrics(
        turns=len(replies), with_gold=int(scored.sum()),
        bleu4=top["reply.bleu4"], chrf=top["reply.chrf"],
        bleu4_morpheme=top["reply.bleu4"],
        bleu4_eojeol=metrics.bleu_score(table.bleu_eojeol[scored]) if scored.any() else None,
        chrf_eojeol=top["reply.chrf"],
        chrf_morpheme=(metrics.chrf_score(table.chrf_morpheme[scored]) if scored.any()
                       else None),
        distinct1=metrics.distinct(replies, 1) if replies else None,
        distinct2=metrics.distinct(replies, 2) if replies else None,
        mean_words=float(np.mean([len(r.split()) for r in replies])) if replies else None,
        mean_chars=float(np.mean([len(r) for r in replies])) if replies else None,
        gold_mean_words=float(np.mean([len(g.split()) for g in gold])) if gold else None,
    )


def _responders(table: TurnTable) -> dict[str, float]:
    counts = Counter(o.message.responder or "(no reply)" for o in table.outcomes)
    return {name: count / table.size for name, count in counts.most_common()}


def _latency(table: TurnTable, batch_size: int,
             sample: list[dict[str, float]] | None) -> LatencyMetrics:
    """Latency per turn and per plugin, from turns that were processed one at a time.

    In a batch every message gets an equal share of each plugin's time, so all the turns of a
    batch have the same latency and percentiles over them would pass a batch's mean off as a
    spread. A batched run therefore takes its percentiles from ``sample``; without one it gives
    the mean only.
    """
    logged = [o.turn.logged_latency_ms for o in table.outcomes
              if o.turn.logged_latency_ms is not None]
    logged_percentiles = Percentiles(**metrics.percentiles(logged)) if logged else None
    if batch_size == 1:
        timings, measured = [o.message.timings_ms for o in table.outcomes], "one at a time"
    elif sample:
        timings = sample
        measured = (f"one at a time, on a sample of {len(sample):,} of the {table.size:,} turns, "
                    "spread over the log and processed again alone after the run (in its "
                    f"batches of {batch_size}, every turn of a batch gets the same share of the "
                    "batch's time)")
    else:
        shares = [o.message.timings_ms for o in table.outcomes]
        return LatencyMetrics(
            **_mean_only([sum(t.values()) for t in shares]).model_dump(),
            measured=(f"each turn's share of its batch of {batch_size}: a mean only, since the "
                      "turns of a batch share one time"),
            per_plugin={name: _mean_only(values) for name, values in _by_plugin(shares).items()},
            logged=logged_percentiles)
    return LatencyMetrics(
        **metrics.percentiles([sum(t.values()) for t in timings]), measured=measured,
        per_plugin={name: Percentiles(**metrics.percentiles(values))
                    for name, values in _by_plugin(timings).items()},
        logged=logged_percentiles)


def _by_plugin(timings: list[dict[str, float]]) -> dict[str, list[float]]:
    """Plugin → its times, in pipeline order (the order plugins ran in the first turn)."""
    per_plugin: dict[str, list[float]] = {}
    for turn in timings:
        for name, ms in turn.items():
            per_plugin.setdefault(name, []).append(ms)
    return per_plugin


def _mean_only(values: list[float]) -> Percentiles:
    return Percentiles(p50=None, p95=None, p99=None, mean=metrics.percentiles(values)["mean"])


def _feedback(table: TurnTable) -> Feedback:
    given = Counter(o.turn.feedback for o in table.outcomes)
    return Feedback(likes=given.get(1, 0), dislikes=given.get(-1, 0))


def turn_scores(table: TurnTable) -> list[dict[str, Any]]:
    """Each processed turn's own scores, in table order."""
    rows = []
    for i, outcome in enumerate(table.outcomes):
        gold, predicted = table.intent_gold[i], table.intent_predicted[i]
        known_spam = table.spam_gold[i] >= 0 and not math.isnan(table.spam_score[i])
        rows.append({
            "intent_correct": bool(gold == predicted) if gold >= 0 and predicted >= 0 else None,
            "spam_correct": (bool(table.spam_flagged[i] == (table.spam_gold[i] == 1))
                             if known_spam else None),
            "chrf": (metrics.chrf_score(table.chrf_eojeol[i]) if table.has_gold_reply[i]
                     else None),
            "lm_perplexity": (math.exp(min(outcome.gold_nll[0] / outcome.gold_nll[1], 50.0))
                              if outcome.gold_nll and outcome.gold_nll[1] else None),
            "fallback": bool(table.fallback[i]),
        })
    return rows
