"""How the evaluation report is written: its number formats, in one place for the HTML page,
the Markdown report and the figures' annotations, and the blocks its content is made of.

Every formatter takes None (or NaN) and returns "—", so a metric the data does not allow shows
as a dash rather than "None" or "nan". The blocks (:class:`Table` of :class:`Cell`,
:class:`Note`, :class:`Heading`, :class:`Figure`, in :class:`Section`) hold plain text only;
each renderer escapes it for its own format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DASH = "—"


def missing(value: Any) -> bool:
    """Whether a metric value is absent: None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_percent(value: float | None) -> str:
    """A 0..1 rate as a percentage with one decimal ("97.0%"); "—" for None or NaN."""
    return DASH if missing(value) else f"{100 * value:.1f}%"


def fmt_score(value: float | None) -> str:
    """A 0..100 score (BLEU, chrF) with two decimals; "—" for None or NaN."""
    return DASH if missing(value) else f"{value:.2f}"


def fmt_ms(value: float | None, unit: bool = True) -> str:
    """Milliseconds with one decimal ("1.3 ms"; "1.3" without the unit); "—" if missing.

    Below 1 ms two significant digits ("0.13 ms", "0.013 ms", then "<0.001 ms"): per-plugin
    times are often sub-millisecond and would all read "0.0".
    """
    if missing(value):
        return DASH
    size = abs(value)
    if size == 0 or size >= 1:
        text = f"{value:,.1f}"
    elif size < 0.001:
        text = "<0.001"
    else:
        text = f"{value:.{min(3, 1 - math.floor(math.log10(size)))}f}"
    return text + (" ms" if unit else "")


def fmt_number(value: float | None, digits: int = 2) -> str:
    """Any other number (perplexity, AUC, distinct-n) with ``digits`` decimals; "—" if missing."""
    return DASH if missing(value) else f"{value:,.{digits}f}"


def fmt_count(value: int | None) -> str:
    """A count with thousands separators; "—" if missing."""
    return DASH if missing(value) else f"{int(value):,}"


METRIC_LABELS = {
    "intent.accuracy": "intent accuracy", "intent.macro_f1": "intent macro-F1",
    "spam.f1": "spam F1", "reply.bleu4": "BLEU-4", "reply.chrf": "chrF",
    "fallback.rate": "fallback rate", "lm.perplexity": "LM perplexity",
    "latency_ms.p50": "latency p50", "latency_ms.p95": "latency p95",
}
_PERCENT_NAMES = {"accuracy", "rate", "precision", "recall", "f1", "share"}


def metric_kind(key: str) -> str:
    """How a metric key ("intent.accuracy") is shown: "percent", "score", "ms" or "number"."""
    group, _, name = key.rpartition(".")
    if group.startswith("latency"):
        return "ms"
    if name.startswith(("bleu", "chrf")):
        return "score"
    if name in _PERCENT_NAMES or name.endswith(("_f1", "_precision", "_recall")):
        return "percent"
    return "number"


def metric_label(key: str) -> str:
    """A metric key's name for people ("intent.macro_f1" → "intent macro-F1")."""
    return METRIC_LABELS.get(key, key)


def metric_scale(key: str) -> float:
    """The factor from a metric's stored value to its shown unit (100 for rates: points)."""
    return 100.0 if metric_kind(key) == "percent" else 1.0


def fmt_metric(key: str, value: float | None) -> str:
    """A metric's value in its own format (percent, score, ms or plain number)."""
    kind = metric_kind(key)
    if kind == "percent":
        return fmt_percent(value)
    return fmt_score(value) if kind == "score" else fmt_ms(value) if kind == "ms" \
        else fmt_number(value)


def _signed(key: str, value: float) -> str:
    decimals = 1 if metric_kind(key) in ("percent", "ms") else 2
    return f"{value * metric_scale(key):+.{decimals}f}"


def fmt_delta(key: str, value: float | None) -> str:
    """A change of a metric with its sign; rates in percentage points ("+1.2 pt")."""
    if missing(value):
        return DASH
    unit = {"percent": " pt", "ms": " ms"}.get(metric_kind(key), "")
    return _signed(key, value) + unit


def fmt_interval(key: str, low: float | None, high: float | None) -> str:
    """A confidence interval of a change, in :func:`fmt_delta`'s units ("[-0.3, +2.8] pt")."""
    if missing(low) or missing(high):
        return DASH
    unit = {"percent": " pt", "ms": " ms"}.get(metric_kind(key), "")
    return f"[{_signed(key, low)}, {_signed(key, high)}]{unit}"


def verdict_tone(verdict: str | None) -> str:
    """The colour class of a comparison verdict: "good", "bad" or "muted"."""
    return {"better": "good", "worse": "bad"}.get(verdict or "", "muted")


# -- blocks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A table cell: lines of plain text, and how the HTML page may dress it up."""

    lines: tuple[str, ...]
    bar: float | None = None  # 0..1: drawn as an inline bar after the text
    tone: str | None = None  # "good", "bad" or "muted"
    pill: bool = False  # shown as a coloured label (a verdict)


def cell(*lines: Any, bar: float | None = None, tone: str | None = None,
         pill: bool = False) -> Cell:
    """A :class:`Cell` of the given lines (None and empty lines dropped; none at all → "—")."""
    kept = tuple(str(line) for line in lines if line is not None and str(line) != "")
    return Cell(kept or (DASH,), bar, tone, pill)


@dataclass(frozen=True)
class Table:
    """Headers, rows of cells, and an alignment per column ("l" or "r", left by default)."""

    headers: list[str]
    rows: list[list[Cell]]
    align: str = ""


@dataclass(frozen=True)
class Note:
    """A short paragraph of plain text; "muted" tone for asides."""

    text: str
    tone: str | None = None


@dataclass(frozen=True)
class Heading:
    """A subsection title."""

    text: str


@dataclass(frozen=True)
class Figure:
    """A slot for the figure under ``key``; left out when the renderer has no such figure."""

    key: str
    alt: str


@dataclass(frozen=True)
class Section:
    """One titled part of the report."""

    anchor: str
    title: str
    blocks: list[Table | Note | Heading | Figure]


@dataclass(frozen=True)
class Card:
    """A headline number; ``note`` says why it is missing, ``change`` what model B scored."""

    label: str
    value: str
    note: str | None = None
    change: str | None = None
    tone: str | None = None

