"""Per-turn records: what ``turns.jsonl`` holds, the worst turns, and the turns to label.

A record is a plain dict (docs/evaluation.md describes it): the turn as read, its gold labels,
what the pipeline predicted and replied, the turn's own scores and its full trace.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from chatbot.data.dialog_log import spreadsheet_safe
from chatbot.evaluation.runner import Outcome, Run
from chatbot.evaluation.scoring import TurnTable, turn_scores

WORST_PER_CATEGORY = 10
# The columns `chatbot data add` reads (text, answer, intent, spam), then what helps a
# labeller decide; data add ignores the extra columns.
LABEL_COLUMNS = ("text", "intent", "answer", "spam", "predicted_intent", "intent_confidence",
                 "predicted_spam", "spam_score", "bot_reply", "responder", "reason", "source")
SPAM_UNSURE = (0.3, 0.7)  # spam scores in this range are worth a look


def turn_records(run: Run, table: TurnTable) -> list[dict[str, Any]]:
    """One record per turn, in the order of the log; failed turns have ``error`` and no
    prediction."""
    scores = {id(o): s for o, s in zip(table.outcomes, turn_scores(table), strict=True)}
    return [_record(outcome, scores.get(id(outcome))) for outcome in run.outcomes]


def _record(outcome: Outcome, scores: dict[str, Any] | None) -> dict[str, Any]:
    turn, message = outcome.turn, outcome.message
    predicted = dict.fromkeys(("intent", "intent_confidence", "spam", "spam_score", "reply",
                               "responder", "reply_confidence"))
    if message is not None:
        predicted.update(reply=message.reply, responder=message.responder,
                         reply_confidence=message.reply_confidence)
        if message.intent:
            predicted.update(intent=message.intent.label,
                             intent_confidence=message.intent.confidence)
        if message.spam:
            predicted.update(spam=message.spam.label, spam_score=message.spam.confidence)
    return {
        "source": turn.source, "conversation_id": turn.conversation_id,
        "turn_index": turn.turn_index, "text": turn.text,
        "gold": {"intent": turn.gold_intent, "reply": turn.gold_reply, "spam": turn.gold_spam},
        "predicted": predicted,
        "scores": scores,
        "latency_ms": sum(message.timings_ms.values()) if message is not None else None,
        "logged": {"reply": turn.logged_reply, "latency_ms": turn.logged_latency_ms,
                   "feedback": turn.feedback, "model_version": turn.model_version},
        "error": outcome.error,
        "trace": message.to_dict() if message is not None else None,
    }


def worst_turns(records: list[dict[str, Any]],
                limit: int = WORST_PER_CATEGORY) -> dict[str, list[dict[str, Any]]]:
    """The turns most worth a look, by category, worst first (records without their trace)."""
    done = [r for r in records if r["error"] is None]

    def score(record: dict, key: str) -> Any:
        return record["scores"][key]

    categories = {
        "worst_replies": sorted((r for r in done if score(r, "chrf") is not None),
                                key=lambda r: score(r, "chrf")),
        "confident_intent_errors": sorted(
            (r for r in done if score(r, "intent_correct") is False),
            key=lambda r: -(r["predicted"]["intent_confidence"] or 0.0)),
        "spam_errors": sorted((r for r in done if score(r, "spam_correct") is False),
                              key=lambda r: -abs((r["predicted"]["spam_score"] or 0.5) - 0.5)),
        "disliked": [r for r in done if r["logged"]["feedback"] == -1],
        "slowest": sorted(done, key=lambda r: -(r["latency_ms"] or 0.0)),
        "failed": [r for r in records if r["error"] is not None],
    }
    return {name: [_without_trace(r) for r in rows[:limit]] for name, rows in categories.items()}


def _without_trace(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "trace"}


def to_label(records: list[dict[str, Any]], below: float, limit: int) -> list[dict[str, Any]]:
    """The turns the pipeline was least sure of, least sure first, as rows of the labelling
    CSV: intent confidence below ``below``, answered by a fallback, or a spam score near the
    middle. The gold columns hold the labels the log already has; the rest is left to fill."""
    rows = []
    for record in records:
        if record["error"] is not None:
            continue
        predicted = record["predicted"]
        reasons = []
        confidence = predicted["intent_confidence"]
        if confidence is not None and confidence < below:
            reasons.append(f"intent confidence {confidence:.2f} < {below}")
        if record["scores"]["fallback"]:
            reasons.append(f"answered by {predicted['responder']}")
        spam_score = predicted["spam_score"]
        if spam_score is not None and SPAM_UNSURE[0] <= spam_score <= SPAM_UNSURE[1]:
            reasons.append(f"spam score {spam_score:.2f}")
        if not reasons:
            continue
        gold = record["gold"]
        rows.append({
            "text": record["text"], "intent": gold["intent"] or "",
            "answer": gold["reply"] or "", "spam": gold["spam"] or "",
            "predicted_intent": predicted["intent"] or "",
            "intent_confidence": _rounded(confidence),
            "predicted_spam": predicted["spam"] or "", "spam_score": _rounded(spam_score),
            "bot_reply": predicted["reply"] or "", "responder": predicted["responder"] or "",
            "reason": "; ".join(reasons), "source": record["source"],
        })
    rows.sort(key=lambda row: row["intent_confidence"] if row["intent_confidence"] != ""
              else math.inf)
    return rows[:limit]


def _rounded(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


def write_label_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The labelling CSV: UTF-8 with a BOM (spreadsheets then read Korean right).

    It is made to be opened in a spreadsheet, so a text that would run there as a formula
    ("=HYPERLINK(...)", "-_-") starts with an added single quote (:func:`spreadsheet_safe`).
    """
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: spreadsheet_safe(value) if isinstance(value, str) else value
                             for key, value in row.items()})
