"""Evaluate a trained pipeline (and optionally a second one) on dialog logs: the library entry
point behind ``chatbot eval``.

Example::

    from chatbot.evaluation.evaluate import evaluate
    result = evaluate("models/default", [Path("logs/dialog.sqlite")], Path("reports/today"))
    print(result.metrics["intent"]["accuracy"])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbot.data.formats import OOD_LABEL
from chatbot.errors import ChatbotError
from chatbot.evaluation.compare import common_tables, differing_turns, paired_bootstrap
from chatbot.evaluation.logs import EvalTurn, read_logs
from chatbot.evaluation.records import to_label, turn_records, worst_turns
from chatbot.evaluation.report import write_report
from chatbot.evaluation.runner import Run, run_pipeline
from chatbot.evaluation.scoring import TurnTable, build_table, summarize
from chatbot.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass
class Settings:
    """How to run and what to export.

    Attributes:
        batch_size: turns per pipeline call (1: one at a time, for true per-turn latency).
        label_below: intent confidence under which a turn goes to ``to_label.csv``.
        label_limit: most rows in ``to_label.csv``.
        resamples: bootstrap resamples for ``--compare``.
        seed: the bootstrap's seed.
        progress: progress bars on standard error.
    """

    batch_size: int = 64
    label_below: float = 0.5
    label_limit: int = 500
    resamples: int = 1000
    seed: int = 0
    progress: bool = False


@dataclass
class Evaluation:
    """What an evaluation found: the metrics, the comparison (if any) and the files written."""

    metrics: dict[str, Any]
    comparison: dict[str, Any] | None
    files: list[Path]


def evaluate(model: str | Path, logs: list[Path], out: Path, compare: str | Path | None = None,
             columns: dict[str, str] | None = None,
             settings: Settings | None = None) -> Evaluation:
    """Run ``model`` (and ``compare``) over every turn of ``logs`` and write the report.

    Raises:
        DatasetError: a log has a bad row (the message names the file and line).
        ChatbotError: the logs hold no turn, or a model cannot be loaded.
    """
    settings = settings or Settings()
    turns = read_logs(logs, columns)
    if not turns:
        raise ChatbotError(f"no turns in {', '.join(map(str, logs))}",
                           hint="check the files: a log with a header and no rows is empty")
    log_names = [str(path) for path in logs]
    run, pipeline = _run(model, turns, settings, "A" if compare else "")
    table = build_table(run.outcomes)
    metrics = summarize(run, table, _model_info(model), log_names)
    metrics["warnings"] = _label_warnings(table, pipeline)
    records = turn_records(run, table)
    comparison = compare_records = None
    if compare is not None:
        run_b, pipeline_b = _run(compare, turns, settings, "B")
        table_b = build_table(run_b.outcomes)
        metrics_b = summarize(run_b, table_b, _model_info(compare), log_names)
        metrics_b["warnings"] = _label_warnings(table_b, pipeline_b)
        compare_records = turn_records(run_b, table_b)
        comparison = _comparison(run, run_b, metrics, metrics_b, settings)
    files = write_report(out, metrics, table, records, worst_turns(records),
                         to_label(records, settings.label_below, settings.label_limit),
                         comparison, compare_records)
    return Evaluation(metrics, comparison, files)


def _run(model: str | Path, turns: list[EvalTurn], settings: Settings,
         name: str) -> tuple[Run, Pipeline]:
    pipeline = Pipeline.load(model)
    pipeline.warm_up()
    label = f"evaluating {name} ({Path(model).name})" if name else f"evaluating {Path(model).name}"
    return run_pipeline(pipeline, turns, settings.batch_size, settings.progress, label), pipeline


def _model_info(model: str | Path) -> dict[str, str]:
    from chatbot.serving.service import model_version

    return {"path": str(model), "version": model_version(Path(model))}


def _comparison(run_a: Run, run_b: Run, metrics_a: dict, metrics_b: dict,
                settings: Settings) -> dict[str, Any]:
    table_a, table_b = common_tables(run_a.outcomes, run_b.outcomes)
    return {
        "a": metrics_a["model"], "b": metrics_b["model"],
        "turns": table_a.size,
        "bootstrap": {"resamples": settings.resamples, "confidence": 0.95,
                      "seed": settings.seed},
        "metrics": paired_bootstrap(table_a, table_b, settings.resamples, settings.seed),
        "differing_turns": differing_turns(table_a, table_b),
        "b_metrics": metrics_b,
    }


def _label_warnings(table: TurnTable, pipeline: Pipeline) -> list[str]:
    """Gold labels the model cannot predict: usually a wrong --columns mapping."""
    known = set()
    for plugin in pipeline.plugins:
        if "intent" in plugin.assigns:  # an intent classifier may always answer "ood"
            known |= {*getattr(plugin, "labels", []), OOD_LABEL}
    gold = {o.turn.gold_intent for o in table.outcomes if o.turn.gold_intent}
    unknown = sorted(gold - known) if known else []
    if not unknown:
        return []
    warning = (f"gold intents {', '.join(unknown[:10])} are not labels of the model "
               f"({', '.join(sorted(known))}); every such turn counts as an error. Is the "
               f"gold_intent column the right one?")
    logger.warning(warning)
    return [warning]
