"""The report's Comparison section (``--compare``): each headline metric of A and B with its
paired bootstrap interval, and the turns where the two pipelines differ most.

Plain text only, like every section (:mod:`chatbot.evaluation.report_sections`).
"""

from __future__ import annotations

from typing import Any

from chatbot.evaluation.report_format import (
    DASH,
    Cell,
    Figure,
    Heading,
    Note,
    Section,
    Table,
    cell,
    fmt_delta,
    fmt_interval,
    fmt_metric,
    fmt_number,
    fmt_score,
    metric_label,
    missing,
    verdict_tone,
)
from chatbot.evaluation.schema import Answer, Comparison, ModelInfo


def _model(info: ModelInfo) -> str:
    return f"{info.version or DASH} ({info.path or DASH})"


def _answer(values: Answer) -> Cell:
    return cell(values.reply or "(no reply)",
                " · ".join(part for part in (
                    values.responder,
                    f"intent {values.intent}" if values.intent else None,
                    None if missing(values.chrf) else f"chrF {fmt_score(values.chrf)}") if part))


def comparison_section(comparison: Comparison) -> Section:
    """The Comparison section: the headline metrics of A and B, then the differing turns."""
    bootstrap = comparison.bootstrap
    blocks: list[Any] = [
        Note(f"A: {_model(comparison.a)} · B: {_model(comparison.b)}"),
        Note(f"Paired bootstrap over the same turns ({bootstrap.resamples} resamples, seed "
             f"{bootstrap.seed}): a change is better or worse only when its interval "
             "excludes 0.", "muted")]
    rows = []
    for key, row in comparison.metrics.items():
        arrow = " ↑" if row.higher_is_better else " ↓"
        rows.append([cell(metric_label(key) + arrow), cell(fmt_metric(key, row.a)),
                     cell(fmt_metric(key, row.b)), cell(fmt_delta(key, row.delta)),
                     cell(fmt_interval(key, row.low, row.high)),
                     cell(row.verdict, tone=verdict_tone(row.verdict), pill=True)])
    if rows:
        blocks.append(Table(["metric", "A", "B", "Δ (B − A)",
                             f"{100 * bootstrap.confidence:.0f}% CI", "verdict"], rows,
                            "lrrrrl"))
    blocks += [Figure("comparison", "B − A per metric with confidence intervals"),
               Heading("Turns where A and B differ most")]
    if not comparison.differing_turns:
        blocks.append(Note("A and B gave the same intent and reply on every turn."))
        return Section("comparison", "Comparison", blocks)
    blocks.append(Table(["source", "text", "gold", "A", "B", "difference"], [
        [cell(turn.source, tone="muted"), cell(turn.text),
         cell(f"intent: {turn.gold_intent}" if turn.gold_intent else None,
              f"reply: {turn.gold_reply}" if turn.gold_reply else None),
         _answer(turn.a), _answer(turn.b), cell(fmt_number(turn.difference, 1))]
        for turn in comparison.differing_turns], "lllllr"))
    blocks.append(Note("Difference: how far apart the replies are in chrF points (against the "
                       "gold reply, or between the two without one), +100 when only one got the "
                       "intent right.", "muted"))
    return Section("comparison", "Comparison", blocks)
