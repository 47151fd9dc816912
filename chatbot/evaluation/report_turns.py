"""The report's sections about single turns: the worst turns by category, and the failed ones.

Turn records are the plain dicts of ``turns.jsonl`` (:mod:`chatbot.evaluation.records`); plain
text only, like every section (:mod:`chatbot.evaluation.report_sections`).
"""

from __future__ import annotations

from typing import Any

from chatbot.evaluation.report_advice import (
    PipelineFacts,
    intent_advice,
    reply_advice,
    spam_advice,
)
from chatbot.evaluation.report_format import (
    Cell,
    Heading,
    Note,
    Section,
    Table,
    cell,
    fmt_count,
    fmt_ms,
    fmt_number,
    fmt_score,
    missing,
)
from chatbot.evaluation.schema import Metrics

_WORST = {  # category: (title, note when empty although the data allows it)
    "worst_replies": ("Lowest chrF against the gold reply", "No reply was scored."),
    "confident_intent_errors": ("Confident intent errors", "No intent errors."),
    "spam_errors": ("Spam errors", "No spam errors."),
    "disliked": ("Disliked replies", "No reply was disliked in the logs."),
    "slowest": ("Slowest turns", "No timings."),
}  # "failed" has a section of its own


def _no_data(category: str, metrics: Metrics, facts: PipelineFacts | None) -> str | None:
    """Why a category is empty when the logs or the pipeline give it nothing to find; None
    when it could have had turns."""
    if category == "worst_replies" and not metrics.reply.with_gold:
        return reply_advice(facts)
    if category == "confident_intent_errors" and not metrics.intent.turns:
        return intent_advice(facts)
    if category == "spam_errors" and not metrics.spam.turns:
        return spam_advice(facts)
    return None


_TURN_HEADERS = ["source", "text", "gold", "reply", "responder", "scores"]


def _mark(correct: bool | None) -> str:
    return "" if correct is None else " ✓" if correct else " ✗"


def _turn_row(record: dict) -> list[Cell]:
    gold, predicted = record.get("gold") or {}, record.get("predicted") or {}
    scores, logged = record.get("scores") or {}, record.get("logged") or {}
    place = None
    if record.get("conversation_id") is not None:
        place = f"conversation {record['conversation_id']}"
        if record.get("turn_index") is not None:
            place += f" · turn {record['turn_index']}"
    reply, logged_reply = predicted.get("reply"), logged.get("reply")
    intent = spam = None
    if predicted.get("intent") is not None:
        confidence = predicted.get("intent_confidence")
        intent = (f"intent {predicted['intent']}"
                  + ("" if confidence is None else f" ({confidence:.2f})")
                  + _mark(scores.get("intent_correct")))
    if predicted.get("spam_score") is not None or predicted.get("spam"):
        score = predicted.get("spam_score")
        spam = (f"spam {predicted.get('spam') or 'score'}"
                + ("" if score is None else f" ({score:.2f})") + _mark(scores.get("spam_correct")))
    error = record.get("error")
    confidence = predicted.get("reply_confidence")
    return [
        cell(record.get("source"), place, tone="muted"),
        cell(record.get("text")),
        cell(*(f"{key}: {gold[key]}" for key in ("intent", "reply", "spam") if gold.get(key))),
        cell(reply, f"logged: {logged_reply}" if logged_reply and logged_reply != reply
             else None),
        cell(predicted.get("responder"),
             None if confidence is None else f"confidence {confidence:.2f}"),
        cell(None if missing(scores.get("chrf")) else f"chrF {fmt_score(scores['chrf'])}",
             intent, spam,
             None if missing(scores.get("lm_perplexity"))
             else f"perplexity {fmt_number(scores['lm_perplexity'])}",
             "fallback" if scores.get("fallback") else None,
             None if missing(record.get("latency_ms")) else fmt_ms(record["latency_ms"]),
             {1: "liked", -1: "disliked"}.get(logged.get("feedback")),
             f"error: {error}" if error else None, tone="bad" if error else None),
    ]


def worst_section(metrics: Metrics, worst: dict[str, list[dict]],
                  facts: PipelineFacts | None = None) -> Section:
    """The Worst turns section: a table per category, or why the category is empty."""
    categories = [*(name for name in _WORST if name in worst),
                  *(name for name in worst if name not in _WORST and name != "failed")]
    if not categories:
        return Section("worst", "Worst turns", [Note("No turn records were given.")])
    blocks: list[Any] = []
    for category in categories:
        title, none_found = _WORST.get(category, (category.replace("_", " ").capitalize(),
                                                  "None."))
        blocks.append(Heading(title))
        records = worst[category] or []
        if category == "slowest" and records and metrics.throughput.batch_size > 1:
            blocks.append(Note(f"The run went in batches of {metrics.throughput.batch_size}, and "
                               "a turn's time is its share of its batch's time: these are the "
                               "turns of the slowest batches (--batch-size 1 times each turn).",
                               "muted"))
        if records:
            blocks.append(Table(_TURN_HEADERS, [_turn_row(record) for record in records]))
            continue
        blocks.append(Note(_no_data(category, metrics, facts) or none_found))
    return Section("worst", "Worst turns", blocks)


def failed_section(metrics: Metrics, records: list[dict]) -> Section:
    """The Failed turns section: their records, else the examples of ``metrics.json``."""
    count = metrics.failed.count or len(records)
    if not count:
        return Section("failed", "Failed turns", [Note("No turn failed.")])
    # The turn records say more (the text too); the bare examples stand in without them.
    shown: list[Any] = records or metrics.failed.examples
    first = f"; the first {len(shown)}:" if 0 < len(shown) < count else ":" if shown else "."
    noun = "turn" if count == 1 else "turns"
    blocks: list[Any] = [Note(f"{fmt_count(count)} {noun} failed{first}", "bad")]
    if records:
        blocks.append(Table(_TURN_HEADERS, [_turn_row(record) for record in records]))
    elif shown:
        blocks.append(Table(["source", "error"], [
            [cell(example.source, tone="muted"), cell(example.error, tone="bad")]
            for example in metrics.failed.examples]))
    return Section("failed", "Failed turns", blocks)
