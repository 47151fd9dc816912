"""Evaluate a trained pipeline (and optionally a second one) on dialog logs: the library entry
point behind ``chatbot eval``.

Example::

    from chatbot.evaluation.evaluate import evaluate
    result = evaluate("models/default", [Path("logs/dialog.sqlite")], Path("reports/today"))
    print(result.metrics.intent.accuracy)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from chatbot.capabilities import HasLabels
from chatbot.errors import ChatbotError
from chatbot.evaluation.compare import common_tables, differing_turns, paired_bootstrap
from chatbot.evaluation.latency import LATENCY_SAMPLE, time_sample
from chatbot.evaluation.logs import EvalTurn, read_logs
from chatbot.evaluation.records import to_label, turn_records, worst_turns
from chatbot.evaluation.report import write_report
from chatbot.evaluation.report_advice import PipelineFacts, pipeline_facts
from chatbot.evaluation.runner import Run, run_pipeline
from chatbot.evaluation.schema import Bootstrap, Comparison, Metrics, ModelInfo
from chatbot.evaluation.scoring import TurnTable, build_table, summarize
from chatbot.pipeline import Pipeline

logger = logging.getLogger(__name__)


@dataclass
class Settings:
    """How to run and what to export.

    Attributes:
        batch_size: turns per pipeline call (1: one at a time, every turn timed alone).
        latency_sample: with batches, how many turns are processed again one at a time for
            the latency percentiles (a batch gives each of its turns the same time).
        label_below: intent confidence under which a turn goes to ``to_label.csv``.
        label_limit: most rows in ``to_label.csv``.
        resamples: bootstrap resamples for ``--compare``.
        seed: the bootstrap's seed.
        progress: progress bars on standard error.
    """

    batch_size: int = 64
    latency_sample: int = LATENCY_SAMPLE
    label_below: float = 0.5
    label_limit: int = 500
    resamples: int = 1000
    seed: int = 0
    progress: bool = False


@dataclass
class Evaluation:
    """What an evaluation found: the metrics, the comparison (if any) and the files written."""

    metrics: Metrics
    comparison: Comparison | None
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
    a = _measure(model, turns, settings, "A" if compare else "", log_names)
    records = turn_records(a.run, a.table)
    comparison = compare_records = None
    if compare is not None:
        b = _measure(compare, turns, settings, "B", log_names)
        compare_records = turn_records(b.run, b.table)
        comparison = _comparison(a.run, b.run, a.metrics, b.metrics, settings)
    files = write_report(out, a.metrics, a.table, records, worst_turns(records),
                         to_label(records, settings.label_below, settings.label_limit),
                         comparison, compare_records, a.facts)
    return Evaluation(a.metrics, comparison, files)


@dataclass
class _Measured:
    """One pipeline's run over the turns, and what was measured of it."""

    run: Run
    table: TurnTable
    metrics: Metrics
    facts: PipelineFacts


def _measure(model: str | Path, turns: list[EvalTurn], settings: Settings, name: str,
             log_names: list[str]) -> _Measured:
    """Run one pipeline over the turns and measure it."""
    pipeline = Pipeline.load(model)
    pipeline.warm_up()
    label = f"evaluating {name} ({Path(model).name})" if name else f"evaluating {Path(model).name}"
    run = run_pipeline(pipeline, turns, settings.batch_size, settings.progress, label)
    sample = (time_sample(pipeline, run.outcomes, settings.latency_sample, settings.progress)
              if settings.batch_size > 1 else None)
    table = build_table(run.outcomes)
    metrics = summarize(run, table, _model_info(model), log_names,
                        warnings=_label_warnings(table, pipeline), latency_sample=sample)
    return _Measured(run, table, metrics, pipeline_facts(pipeline))


def _model_info(model: str | Path) -> ModelInfo:
    from chatbot.serving.service import model_version

    return ModelInfo(path=str(model), version=model_version(Path(model)))


def _comparison(run_a: Run, run_b: Run, metrics_a: Metrics, metrics_b: Metrics,
                settings: Settings) -> Comparison:
    table_a, table_b = common_tables(run_a.outcomes, run_b.outcomes)
    return Comparison(
        a=metrics_a.model, b=metrics_b.model, turns=table_a.size,
        bootstrap=Bootstrap(resamples=settings.resamples, confidence=0.95, seed=settings.seed),
        metrics=paired_bootstrap(table_a, table_b, settings.resamples, settings.seed),
        differing_turns=differing_turns(table_a, table_b),
        b_metrics=metrics_b)


def _label_warnings(table: TurnTable, pipeline: Pipeline) -> list[str]:
    """Gold labels the model cannot predict: usually a wrong --columns mapping. Said only when
    the intent classifiers declare their labels (:class:`HasLabels`)."""
    writers = set(pipeline.writers_of("intent"))
    known: set[str] = set()
    for plugin in pipeline.plugins:
        if plugin.name in writers and isinstance(plugin, HasLabels):
            known |= set(plugin.label_names())
    gold = {o.turn.gold_intent for o in table.outcomes if o.turn.gold_intent}
    unknown = sorted(gold - known) if known else []
    if not unknown:
        return []
    warning = (f"gold intents {', '.join(unknown[:10])} are not labels of the model "
               f"({', '.join(sorted(known))}); every such turn counts as an error. Is the "
               f"gold_intent column the right one?")
    logger.warning(warning)
    return [warning]
