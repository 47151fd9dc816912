"""Write an evaluation's report directory.

    REPORT_DIR/
      metrics.json       every metric, stable keys (chatbot.evaluation.schema.Metrics)
      report.html        one self-contained page: tables and figures inline
      report.md          the same in Markdown, figures from figures/
      figures/*.png
      turns.jsonl        every turn: gold, prediction, scores, full trace
      worst_turns.jsonl  the turns most worth a look, with their category
      to_label.csv       the least certain turns, ready to label (chatbot data add takes it)
      comparison.json    with --compare: both pipelines' headline metrics, the differences
      compare/           with --compare: metrics.json and turns.jsonl of the second pipeline
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.evaluation import charts
from chatbot.evaluation.records import write_label_csv
from chatbot.evaluation.report_advice import PipelineFacts
from chatbot.evaluation.report_html import render_html
from chatbot.evaluation.report_md import render_markdown
from chatbot.evaluation.schema import Comparison, Metrics
from chatbot.evaluation.scoring import TurnTable


def clean(value: Any) -> Any:
    """JSON-ready: numpy numbers as Python ones, NaN and infinity as null, floats rounded."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else round(value, 6)
    return value


def write_json(value: Any, path: Path) -> None:
    path.write_text(json.dumps(clean(value), ensure_ascii=False, indent=2, allow_nan=False)
                    + "\n", encoding="utf-8")


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(clean(row), ensure_ascii=False, allow_nan=False) + "\n")


def figures(metrics: Metrics, table: TurnTable,
            comparison: Comparison | None) -> dict[str, bytes]:
    """The report's figures as PNG bytes, only those the data allows."""
    out: dict[str, bytes] = {}
    intent = metrics.intent
    if intent.turns:
        out["confusion"] = charts.confusion_png(intent.labels, intent.confusion)
        out["per_intent_f1"] = charts.per_intent_f1_png(intent.per_intent)
    other = comparison.b_metrics.responders if comparison else None
    if metrics.responders:
        out["responders"] = charts.responders_png(metrics.responders, other)
    if metrics.latency_ms.per_plugin:
        out["latency"] = charts.latency_png(metrics.latency_ms.per_plugin)
    replies = [len(o.message.reply or "") for o in table.outcomes]
    if replies:
        gold = [len(o.turn.gold_reply) for o in table.outcomes if o.turn.gold_reply]
        out["lengths"] = charts.lengths_png(replies, gold)
    known = (table.spam_gold >= 0) & ~np.isnan(table.spam_score)
    if known.any():
        out["spam_scores"] = charts.spam_scores_png(
            table.spam_score[known & (table.spam_gold == 1)].tolist(),
            table.spam_score[known & (table.spam_gold == 0)].tolist())
    if comparison:
        out["comparison"] = charts.comparison_png(comparison.metrics)
    return out


def write_report(out: Path, metrics: Metrics, table: TurnTable,
                 records: list[dict[str, Any]], worst: dict[str, list[dict[str, Any]]],
                 label_rows: list[dict[str, Any]],
                 comparison: Comparison | None = None,
                 compare_records: list[dict[str, Any]] | None = None,
                 facts: PipelineFacts | None = None) -> list[Path]:
    """Write every file of the report into ``out`` (created if needed); return them.

    ``facts`` (what the pipeline can produce) lets the report say, where a metric is missing,
    whether the logs lack a column or the pipeline a plugin.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    drawn = figures(metrics, table, comparison)
    figure_files = {}
    for name, png in drawn.items():
        (out / "figures" / f"{name}.png").write_bytes(png)
        figure_files[name] = f"figures/{name}.png"
    write_json(metrics.to_json(), out / "metrics.json")
    write_jsonl(records, out / "turns.jsonl")
    write_jsonl([{"category": category, **record} for category, rows in worst.items()
                 for record in rows], out / "worst_turns.jsonl")
    write_label_csv(label_rows, out / "to_label.csv")
    if comparison is not None:
        (out / "compare").mkdir(exist_ok=True)
        write_json(comparison.b_metrics.to_json(), out / "compare" / "metrics.json")
        write_jsonl(compare_records or [], out / "compare" / "turns.jsonl")
        write_json(comparison.to_json(), out / "comparison.json")
    (out / "report.html").write_text(
        render_html(metrics, clean(worst), drawn, comparison, facts), encoding="utf-8")
    (out / "report.md").write_text(
        render_markdown(metrics, clean(worst), figure_files, comparison, facts),
        encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())
