"""What the evaluation report says, built once as plain data for both renderers.

:func:`header_facts`, :func:`build_cards` and :func:`build_sections` turn the metrics
(:class:`~chatbot.evaluation.schema.Metrics`), the worst turns and an optional A/B comparison
into sections of tables, notes, headings and figure slots. Every string in them is plain text,
data included as it came: :mod:`chatbot.evaluation.report_html` escapes all of it for HTML and
:mod:`chatbot.evaluation.report_md` for Markdown. A section without the data it needs holds one
note saying which column or plugin would fill it (:mod:`chatbot.evaluation.report_advice`),
never an empty table.
"""

from __future__ import annotations

import datetime
from typing import Any

from chatbot.evaluation.report_advice import (
    PipelineFacts,
    card_note,
    intent_advice,
    lm_advice,
    reply_advice,
    spam_advice,
)
from chatbot.evaluation.report_comparison import comparison_section
from chatbot.evaluation.report_format import (
    DASH,
    Card,
    Cell,
    Figure,
    Heading,
    Note,
    Section,
    Table,
    cell,
    fmt_count,
    fmt_delta,
    fmt_metric,
    fmt_ms,
    fmt_number,
    fmt_percent,
    fmt_score,
    missing,
    verdict_tone,
)
from chatbot.evaluation.report_turns import failed_section, worst_section
from chatbot.evaluation.schema import (
    Comparison,
    LatencyMetrics,
    Metrics,
    Percentiles,
    metric_value,
)


def report_title(metrics: Metrics) -> str:
    """What the report is about: the model's version, else its path."""
    return str(metrics.model.version or metrics.model.path or "model")


def header_facts(metrics: Metrics,
                 comparison: Comparison | None = None) -> list[tuple[str, str]]:
    """What was evaluated: (label, plain text) pairs for the top of the report."""
    facts = [("Model", metrics.model.version or DASH), ("Model path", metrics.model.path or DASH),
             ("Logs", ", ".join(metrics.logs) or DASH), ("Turns", fmt_count(metrics.turns))]
    if metrics.failed.count:
        facts.append(("Failed turns", fmt_count(metrics.failed.count)))
    if comparison:
        facts.append(("Compared with (B)", comparison.b.version or DASH))
    created = metrics.created or datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    facts.append(("Date", created))
    return facts


_CARDS = (  # label, metric key (its path in Metrics and its key in comparison.metrics)
    ("Intent accuracy", "intent.accuracy"),
    ("Intent macro-F1", "intent.macro_f1"),
    ("Spam F1", "spam.f1"),
    ("BLEU-4", "reply.bleu4"),
    ("chrF", "reply.chrf"),
    ("Fallback rate", "fallback.rate"),
    ("LM perplexity", "lm.perplexity"),
    ("Latency p50", "latency_ms.p50"),
    ("Latency p95", "latency_ms.p95"),
)


def build_cards(metrics: Metrics, comparison: Comparison | None = None,
                facts: PipelineFacts | None = None) -> list[Card]:
    """The headline numbers; with a comparison, each says what B scored and the verdict. A
    missing number says why (``facts``: what the pipeline can produce)."""
    cards = []
    for label, key in _CARDS:
        value = metric_value(metrics, key)
        row = comparison.metrics.get(key) if comparison else None
        change = tone = None
        if row is not None and not missing(row.b):
            change = f"B {fmt_metric(key, row.b)} · Δ {fmt_delta(key, row.delta)}"
            tone = verdict_tone(row.verdict)
        note = card_note(key, metrics, facts) if missing(value) else None
        cards.append(Card(label, fmt_metric(key, value), note, change, tone))
    return cards


# -- sections ---------------------------------------------------------------------------------


def _facts(rows: list[tuple[str, str]]) -> Table:
    return Table(["metric", "value"], [[cell(label), cell(value)] for label, value in rows], "lr")


def _weak(f1: float | None) -> str | None:
    """F1 below 0.5 is drawn red: the intents worth a look first (as in the F1 figure)."""
    return "bad" if not missing(f1) and f1 < 0.5 else None


def _intent(metrics: Metrics, facts: PipelineFacts | None) -> Section:
    intent = metrics.intent
    if not intent.turns:
        return Section("intent", "Intent", [Note(intent_advice(facts))])
    blocks: list[Any] = [_facts([
        ("labelled turns", fmt_count(intent.turns)),
        ("accuracy", fmt_percent(intent.accuracy)),
        ("macro precision / recall / F1", " / ".join(fmt_percent(value) for value in (
            intent.macro_precision, intent.macro_recall, intent.macro_f1))),
        ("weighted precision / recall / F1", " / ".join(fmt_percent(value) for value in (
            intent.weighted_precision, intent.weighted_recall, intent.weighted_f1))),
        ("out-of-domain recall", fmt_percent(intent.ood_recall))])]
    if intent.per_intent:
        ordered = sorted(intent.per_intent.items(), key=lambda item: (-item[1].support, item[0]))
        blocks += [Heading("Per intent"), Table(
            ["intent", "precision", "recall", "F1", "support"],
            [[cell(label), cell(fmt_percent(s.precision)), cell(fmt_percent(s.recall)),
              cell(fmt_percent(s.f1), bar=s.f1, tone=_weak(s.f1)), cell(fmt_count(s.support))]
             for label, s in ordered], "lrrrr")]
    blocks += [Figure("per_intent_f1", "F1 per intent"), Figure("confusion", "confusion matrix"),
               Heading("Most confused pairs")]
    pairs = intent.confused_pairs
    blocks.append(Table(["gold", "predicted", "turns"], [
        [cell(pair.gold), cell(pair.predicted), cell(fmt_count(pair.count))]
        for pair in pairs], "llr") if pairs else Note("No confusions: every labelled turn got "
                                                      "its gold intent."))
    return Section("intent", "Intent", blocks)


def _spam(metrics: Metrics, facts: PipelineFacts | None) -> Section:
    spam = metrics.spam
    if not spam.turns:
        return Section("spam", "Spam", [Note(spam_advice(facts))])
    return Section("spam", "Spam", [_facts([
        ("turns with a gold label", fmt_count(spam.turns)),
        ("gold spam", f"{fmt_count(spam.spam)} ({fmt_percent(spam.spam / spam.turns)})"),
        ("precision", fmt_percent(spam.precision)),
        ("recall", fmt_percent(spam.recall)), ("F1", fmt_percent(spam.f1)),
        ("ROC AUC", fmt_number(spam.roc_auc, 3))]),
        Figure("spam_scores", "spam score by gold label")])


def _replies(metrics: Metrics, comparison: Comparison | None,
             facts: PipelineFacts | None) -> Section:
    reply = metrics.reply
    if not reply.turns:
        return Section("replies", "Replies", [Note("No turn was answered; nothing to score.")])
    blocks: list[Any] = []
    if reply.with_gold:
        blocks += [
            Note(f"Against the gold reply of {fmt_count(reply.with_gold)} turns; the "
                 "headline BLEU-4 is on morphemes, the headline chrF on eojeol.", "muted"),
            Table(["", "morphemes", "eojeol (words)"], [
                [cell("BLEU-4"), cell(fmt_score(reply.bleu4_morpheme)),
                 cell(fmt_score(reply.bleu4_eojeol))],
                [cell("chrF"), cell(fmt_score(reply.chrf_morpheme)),
                 cell(fmt_score(reply.chrf_eojeol))]], "lrr")]
    else:
        blocks.append(Note(reply_advice(facts)))
    blocks.append(_facts([
        ("replies", fmt_count(reply.turns)),
        ("distinct-1 / distinct-2", f"{fmt_number(reply.distinct1, 3)} / "
                                    f"{fmt_number(reply.distinct2, 3)}"),
        ("mean words: bot / gold", f"{fmt_number(reply.mean_words)} / "
                                   f"{fmt_number(reply.gold_mean_words)}"),
        ("mean characters (bot)", fmt_number(reply.mean_chars, 1)),
        ("fallback rate", f"{fmt_percent(metrics.fallback.rate)} "
                          f"({fmt_count(metrics.fallback.count)} turns)")]))
    shares = metrics.responders
    other = comparison.b_metrics.responders if comparison else None
    if shares:
        names = list(shares) + [name for name in other or {} if name not in shares]
        blocks += [Heading("Who answered"), Table(
            ["responder", "A" if other is not None else "share"]
            + (["B"] if other is not None else []),
            [[cell(name), cell(fmt_percent(shares.get(name, 0.0)), bar=shares.get(name, 0.0))]
             + ([cell(fmt_percent(other.get(name, 0.0)), bar=other.get(name, 0.0))]
                if other is not None else []) for name in names], "lrr")]
    blocks += [Figure("responders", "share of turns per responder"),
               Figure("lengths", "reply length in characters")]
    return Section("replies", "Replies", blocks)


def _language_model(metrics: Metrics, facts: PipelineFacts | None) -> Section:
    lm = metrics.lm
    if missing(lm.perplexity):
        return Section("lm", "Language model", [Note(lm_advice(metrics, facts))])
    return Section("lm", "Language model", [
        _facts([("perplexity of the gold replies", fmt_number(lm.perplexity)),
                ("gold replies scored", fmt_count(lm.replies)),
                ("subword tokens", fmt_count(lm.tokens))]),
        Note("Lower is better: the model finds the right answers likelier.", "muted")])


_QUANTILES = ("p50", "p95", "p99", "mean")


def _quantile_cells(values: Percentiles | LatencyMetrics) -> list[Cell]:
    return [cell(fmt_ms(value)) for value in (values.p50, values.p95, values.p99, values.mean)]


def _latency(metrics: Metrics) -> Section:
    latency, throughput = metrics.latency_ms, metrics.throughput
    if missing(latency.mean) and not latency.per_plugin:
        return Section("latency", "Latency", [Note("No timings were recorded.")])
    # Percentiles are only given for turns timed one at a time; a batched run without them
    # has each turn's share of its batch, whose mean is all it can honestly show.
    one_at_a_time = not missing(latency.p50)
    label = ("per turn" if one_at_a_time
             else f"per turn, share of a batch of {throughput.batch_size}")
    rows = [[cell(label)] + _quantile_cells(latency)]
    if latency.logged:
        rows.append([cell("logged when served")] + _quantile_cells(latency.logged))
    blocks: list[Any] = [Note(f"Measured: {latency.measured}.", "muted"),
                         Table(["", *_QUANTILES], rows, "lrrrr")]
    if not missing(throughput.turns_per_second):
        sentence = (f"Throughput: {fmt_number(throughput.turns_per_second, 1)} turns/s over "
                    f"{fmt_number(throughput.seconds)} s, batch size "
                    f"{fmt_count(throughput.batch_size)}")
        if throughput.batch_size > 1:
            sentence += (f", that is {fmt_ms(1000 / throughput.turns_per_second)} per turn on "
                         "average (a batch's time divided by its size): how fast logs go "
                         "through, not how long one user waits")
        blocks.append(Note(sentence + ".", "muted"))
    if latency.per_plugin:
        blocks += [Heading("Per plugin (pipeline order)"), Table(
            ["plugin", *_QUANTILES],
            [[cell(name)] + _quantile_cells(values)
             for name, values in latency.per_plugin.items()], "lrrrr"),
            Figure("latency", "latency per plugin")]
    return Section("latency", "Latency", blocks)


def _feedback(metrics: Metrics) -> Section:
    likes, dislikes = metrics.feedback.likes, metrics.feedback.dislikes
    if not likes and not dislikes:
        return Section("feedback", "Feedback", [Note(
            "No logged feedback; dialog logs with a feedback column (1 like, -1 dislike) fill "
            "this section.")])
    return Section("feedback", "Feedback", [_facts([
        ("likes", fmt_count(likes)), ("dislikes", fmt_count(dislikes)),
        ("liked share", fmt_percent(likes / (likes + dislikes)))])])


def build_sections(metrics: Metrics, worst: dict[str, list[dict]],
                   comparison: Comparison | None = None,
                   facts: PipelineFacts | None = None) -> list[Section]:
    """Every section of the report, in order: Comparison (only with ``comparison``), Intent,
    Spam, Replies, Language model, Latency, Feedback, Worst turns, Failed turns.

    Args:
        metrics: the evaluation's metrics (model A's when comparing).
        worst: category → turn records (see ``records.worst_turns``).
        comparison: the A/B comparison, or None.
        facts: what the pipeline can produce (steps that write intent, spam, reply; a
            language model that scores replies): a section without data then says whether
            the logs lack a column or the pipeline a plugin. None: it names both.

    Returns:
        The sections; strings in them are plain text, unescaped.
    """
    sections = [comparison_section(comparison)] if comparison else []
    return sections + [_intent(metrics, facts), _spam(metrics, facts),
                       _replies(metrics, comparison, facts), _language_model(metrics, facts),
                       _latency(metrics), _feedback(metrics), worst_section(metrics, worst, facts),
                       failed_section(metrics, worst.get("failed") or [])]
