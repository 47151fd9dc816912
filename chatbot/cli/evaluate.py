"""The ``eval`` verb: score a trained pipeline on dialog logs and write a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.cli.arguments import float_in, int_in

if TYPE_CHECKING:  # the evaluation's modules load only when eval runs
    from chatbot.evaluation.schema import Comparison, Metrics

EVAL_EXAMPLES = """\
examples:
  chatbot eval logs/dialog.sqlite --model default --out reports/today
  chatbot eval logs/2026-11.jsonl --model models/v2 --compare models/v1 --out reports/v2-vs-v1
  chatbot eval ChatbotData.csv --model models/chatbotdata --out reports/chatbotdata \\
      --columns text=Q,gold_reply=A,gold_intent=label

LOGS: the dialog log of chatbot serve (.sqlite), its JSON Lines or CSV export, or any CSV/TSV
of messages with gold labels (--columns says which column is which; ChatbotData's Q,A,label
and the text,answer,intent,spam columns of `chatbot data add` are recognised without it).

what it scores, where the logs allow: intent (accuracy, macro/weighted P/R/F1, confusion,
OOD recall) against gold_intent; spam (P/R/F1, ROC AUC) against gold_spam; replies (BLEU-4 and
chrF on morphemes and eojeol) against gold_reply; distinct-1/2, reply length and the share of
each responder on every turn; the language model's perplexity of the gold replies; latency per
plugin. Open REPORT_DIR/report.html; metrics.json has the numbers (docs/evaluation.md).

closing the loop: REPORT_DIR/to_label.csv holds the turns the pipeline was least sure of; fill
its intent/answer/spam columns, then `chatbot data add my-labels REPORT_DIR/to_label.csv` and
add my-labels to training.datasets.
"""


def add_eval_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval", help="score a trained pipeline on dialog logs; HTML/Markdown/JSON report",
        description="Run a trained pipeline over every turn of the logs in batches, score "
        "what the gold labels allow, and write a report. With --compare, a second pipeline "
        "runs on the same turns and each headline metric gets a paired bootstrap confidence "
        "interval on the difference.",
        epilog=EVAL_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOGS",
                        help="dialog logs (.sqlite, .jsonl, .csv) or CSV/TSV with gold labels")
    parser.add_argument("--model", required=True, help="the trained pipeline directory (A), "
                        "or 'default' for the default bot")
    parser.add_argument("--out", required=True, type=Path, metavar="REPORT_DIR",
                        help="where to write the report (created; files in it are replaced)")
    parser.add_argument("--compare", metavar="DIR2",
                        help="a second trained pipeline (B, or 'default'), compared with A "
                        "turn by turn")
    parser.add_argument("--columns", metavar="KEY=COLUMN,...",
                        help="for CSV/TSV: which column holds text, gold_reply, gold_intent, "
                        "gold_spam (e.g. text=Q,gold_reply=A,gold_intent=label)")
    parser.add_argument("--batch-size", type=int_in(1, 4096), default=64,
                        help="turns per batch (default 64; 1 times every turn alone, else a "
                        "sample of 100 turns is timed alone for the latency)")
    parser.add_argument("--label-below", type=float_in(0, 1), default=0.5,
                        help="intent confidence under which a turn is exported for labelling "
                        "(default 0.5)")
    parser.add_argument("--label-limit", type=int_in(0, 1_000_000), default=500,
                        help="most rows in to_label.csv (default 500)")
    parser.add_argument("--bootstrap", type=int_in(1, 100_000), default=1000, metavar="N",
                        help="bootstrap resamples for --compare (default 1000)")
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0,
                        help="the bootstrap's seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from chatbot.default_model import DEFAULT_MODEL_NAME, ensure_default_model
    from chatbot.errors import ChatbotError
    from chatbot.evaluation.evaluate import Settings, evaluate
    from chatbot.evaluation.logs import parse_columns

    if args.batch_size < 1 or args.bootstrap < 1:
        raise ChatbotError("--batch-size and --bootstrap must be at least 1")
    settings = Settings(batch_size=args.batch_size, label_below=args.label_below,
                        label_limit=args.label_limit, resamples=args.bootstrap, seed=args.seed,
                        progress=not args.quiet and sys.stderr.isatty())
    def directory(model: str) -> str | Path:
        """The default bot's directory for 'default' (trained first if needed); a directory
        as given otherwise, checked when it loads, after the logs are read."""
        if model != DEFAULT_MODEL_NAME:
            return model
        return ensure_default_model(progress=sys.stderr.isatty(),
                                    notify=lambda line: print(line, file=sys.stderr))

    result = evaluate(directory(args.model), args.logs, args.out,
                      directory(args.compare) if args.compare else None,
                      parse_columns(args.columns), settings)
    print(_summary(result.metrics, result.comparison))
    print(f"report: {args.out / 'report.html'} (and report.md, metrics.json, turns.jsonl, "
          f"to_label.csv)")
    return 0


def _summary(metrics: Metrics, comparison: Comparison | None) -> str:
    def show(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
        if value is None:
            return "—"
        return f"{value * scale:.{digits}f}" + ("%" if scale == 100 else "")

    latency = metrics.latency_ms
    if latency.p50 is not None:
        timing = f"latency p50 {show(latency.p50)} ms  p95 {show(latency.p95)} ms"
    else:  # a batch's turns share one time: only their mean means something
        timing = (f"latency {show(latency.mean)} ms per turn on average "
                  f"(share of a batch of {metrics.throughput.batch_size})")
    lines = [
        f"{metrics.turns:,} turns ({metrics.failed.count} failed), "
        f"{show(metrics.throughput.turns_per_second, digits=1)} turns/s",
        f"intent accuracy {show(metrics.intent.accuracy, 100, 1)}  "
        f"macro-F1 {show(metrics.intent.macro_f1, 100, 1)}  "
        f"spam F1 {show(metrics.spam.f1, 100, 1)}",
        f"reply BLEU-4 {show(metrics.reply.bleu4)}  chrF {show(metrics.reply.chrf)}"
        f"  distinct-2 {show(metrics.reply.distinct2)}  "
        f"fallback {show(metrics.fallback.rate, 100, 1)}  "
        f"LM perplexity {show(metrics.lm.perplexity, digits=1)}",
        timing,
    ]
    lines += [f"warning: {warning}" for warning in metrics.warnings]
    if comparison:
        lines += [f"warning (B): {warning}" for warning in comparison.b_metrics.warnings]
        lines.append(f"B - A on {comparison.turns:,} turns (95% paired bootstrap CI):")
        for key, row in comparison.metrics.items():
            if row.delta is not None:
                lines.append(f"  {key:16} {row.a:9.4f} → {row.b:9.4f}  "
                             f"Δ {row.delta:+.4f} [{row.low:+.4f}, {row.high:+.4f}]  "
                             f"{row.verdict}")
    return "\n".join(lines)
