"""The evaluation report's figures, as PNG bytes.

Every function draws one matplotlib figure off-screen (Agg) and returns it encoded; nothing is
kept in pyplot's registry. Titles are English; labels (intents, responders) may be Korean, so
every figure is drawn in NanumGothic when it is installed. An empty input draws a small
"no data" figure rather than raising, so a report never loses a figure to a corner case.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chatbot.evaluation.report_format import (
    fmt_delta,
    fmt_interval,
    fmt_ms,
    metric_label,
    metric_scale,
)
from chatbot.evaluation.schema import ComparisonRow, IntentScores, Percentiles
from chatbot.fonts import korean_font, korean_font_file

BLUE, ORANGE = "#2563eb", "#f97316"  # model A, model B (and the main series)
LIGHT_BLUE, SLATE = "#93c5fd", "#475569"  # p95 beside p50; gold replies beside the bot's
GREEN, RED, GREY = "#16a34a", "#dc2626", "#94a3b8"
WEAK = "#f87171"  # an intent with F1 below 0.5
INK, MUTED, GRID = "#0f172a", "#64748b", "#e2e8f0"
DPI = 110

_STYLE = {
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#cbd5e1",
    "axes.grid": True, "axes.axisbelow": True, "grid.color": GRID, "grid.linewidth": 0.8,
    "axes.titlesize": 12.5, "axes.titlelocation": "left",
    "axes.titlepad": 10, "axes.labelsize": 10, "axes.labelcolor": MUTED,
    "xtick.color": MUTED, "ytick.color": INK, "xtick.labelsize": 9, "ytick.labelsize": 9.5,
    "font.size": 10, "legend.frameon": False, "legend.fontsize": 9,
    "figure.facecolor": "white", "axes.facecolor": "white", "text.color": INK,
    "text.parse_math": False,  # labels come from the data: "$" must stay a dollar sign
}


@functools.cache
def _font_style() -> dict[str, Any]:
    """rcParams for the Korean font: its family, and a title weight one of its faces has
    exactly (matplotlib warns whenever it must substitute a weight)."""
    family = korean_font()
    if not family:
        return {"axes.titleweight": "bold"}  # DejaVu Sans has a bold face
    from matplotlib import font_manager

    weight: Any = "normal"
    path = korean_font_file()
    bold = path.with_name(path.stem + "Bold.ttf")
    if bold.is_file():
        font_manager.fontManager.addfont(str(bold))
        weight = next(f.weight for f in font_manager.fontManager.ttflist
                      if f.fname == str(bold))  # 600 for NanumGothicBold
    # One family only (a fallback list makes matplotlib look up, and warn about, every weight
    # in every family); NanumGothic lacks U+2212, so ticks use the hyphen as minus.
    return {"font.family": [family], "axes.titleweight": weight, "axes.unicode_minus": False}


@contextmanager
def _pyplot() -> Iterator[Any]:
    """pyplot under the report's style and a font list that renders Korean."""
    import matplotlib

    matplotlib.use("Agg")  # files for a report; never a window
    import matplotlib.pyplot as plt

    with plt.rc_context({**_STYLE, **_font_style()}):
        yield plt


def _png(plt: Any, figure: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(figure)  # a long evaluation draws many; keep pyplot's registry empty
    return buffer.getvalue()


def _empty(plt: Any, title: str, message: str) -> bytes:
    figure, axis = plt.subplots(figsize=(6, 1.6))
    axis.set_title(title)
    axis.text(0.5, 0.45, message, ha="center", va="center", color=MUTED, fontsize=10,
              transform=axis.transAxes)
    axis.set_axis_off()
    return _png(plt, figure)


def _number(value: Any) -> float:
    """A float, NaN for None (matplotlib leaves NaN bars undrawn)."""
    return math.nan if value is None else float(value)


def _percent_axis(axis: Any, limit: float) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_xlim(0, limit)
    axis.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axis.grid(axis="y", visible=False)


def confusion_png(labels: list[str], matrix: list[list[int]]) -> bytes:
    """The intent confusion matrix as a heatmap.

    Args:
        labels: the intent labels, in the matrix's order.
        matrix: counts, rows gold and columns predicted.

    Returns:
        PNG bytes. Colour is each gold row's share (so rare intents read as clearly as common
        ones); the counts are written in the non-zero cells.
    """
    size = len(labels)
    with _pyplot() as plt:
        if size == 0:
            return _empty(plt, "Intent confusion", "no labelled turns")
        counts = [[float(count) for count in row] for row in matrix]
        totals = [sum(row) for row in counts]
        shares = [[count / total if total else 0.0 for count in row]
                  for row, total in zip(counts, totals, strict=True)]
        side = min(max(3.6, 0.42 * size + 1.8), 13.0)
        figure, axis = plt.subplots(figsize=(side + 1.2, side))
        image = axis.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="equal")
        axis.grid(False)
        for spine in axis.spines.values():
            spine.set_visible(False)
        font_size = 10 if size <= 8 else 8 if size <= 14 else 6.5
        for gold, row in enumerate(counts):
            for predicted, count in enumerate(row):
                if count:
                    dark = shares[gold][predicted] > 0.55
                    axis.text(predicted, gold, f"{int(count):,}", ha="center", va="center",
                              fontsize=font_size, color="white" if dark else INK)
        tilt = size > 4 or max(len(label) for label in labels) > 6
        axis.set_xticks(range(size), labels, rotation=45 if tilt else 0,
                        ha="right" if tilt else "center", rotation_mode="anchor")
        axis.set_yticks(range(size), labels)
        axis.tick_params(length=0)
        axis.set_xlabel("predicted")
        axis.set_ylabel("gold")
        axis.set_title("Intent confusion (row-normalised)")
        bar = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.03)
        bar.outline.set_visible(False)
        bar.ax.tick_params(labelsize=8, length=0)
        bar.ax.yaxis.set_major_formatter(_percent_formatter())
        bar.set_label("share of the gold row", color=MUTED)
        return _png(plt, figure)


def per_intent_f1_png(per_intent: dict[str, IntentScores]) -> bytes:
    """F1 per intent as horizontal bars, the weakest at the top.

    Args:
        per_intent: label → its precision, recall, F1 and support.

    Returns:
        PNG bytes; each bar ends with its F1 and its support (n, the gold turns).
    """
    with _pyplot() as plt:
        if not per_intent:
            return _empty(plt, "F1 per intent", "no labelled turns")
        rows = sorted(per_intent.items(), key=lambda item: (item[1].f1, item[0]))
        figure, axis = plt.subplots(figsize=(7.5, 0.34 * len(rows) + 1.3))
        positions = range(len(rows))
        scores = [_number(scores.f1) for _, scores in rows]
        colours = [WEAK if score < 0.5 else BLUE for score in scores]
        axis.barh(positions, [0.0 if math.isnan(s) else s for s in scores], color=colours,
                  height=0.66)
        for position, score, (_, values) in zip(positions, scores, rows, strict=True):
            shown = "—" if math.isnan(score) else f"{score:.2f}"
            axis.text((0.0 if math.isnan(score) else score) + 0.015, position,
                      f"{shown}  n={values.support:,}", va="center", fontsize=8.5,
                      color=MUTED)
        axis.set_yticks(list(positions), [label for label, _ in rows])
        axis.invert_yaxis()
        axis.set_xlim(0, 1.22)
        axis.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
        axis.grid(axis="y", visible=False)
        axis.tick_params(axis="y", length=0)
        axis.set_xlabel("F1")
        axis.set_title("F1 per intent")
        return _png(plt, figure)


def responders_png(shares: dict[str, float], other: dict[str, float] | None = None) -> bytes:
    """The share of turns each responder answered, as horizontal bars.

    Args:
        shares: responder → share of turns (0..1), for model A.
        other: the same for model B; given, A and B are drawn side by side with a legend.

    Returns:
        PNG bytes; responders ordered by A's share, the largest at the top.
    """
    with _pyplot() as plt:
        names = sorted(shares, key=lambda name: -(shares[name] or 0.0))
        names += sorted((name for name in other or {} if name not in shares),
                        key=lambda name: -((other or {})[name] or 0.0))
        if not names:
            return _empty(plt, "Who answered", "no replies")
        figure, axis = plt.subplots(figsize=(7.5, (0.55 if other else 0.36) * len(names) + 1.3))
        series = [("A", shares, BLUE)] + ([("B", other, ORANGE)] if other is not None else [])
        height = 0.8 / len(series)
        top = 0.0
        for offset, (name, values, colour) in enumerate(series):
            shift = (offset - (len(series) - 1) / 2) * height
            widths = [values.get(responder, 0.0) or 0.0 for responder in names]
            positions = [i + shift for i in range(len(names))]
            axis.barh(positions, widths, height=height * 0.92, color=colour, label=name)
            for position, width in zip(positions, widths, strict=True):
                axis.text(width + 0.01, position, f"{100 * width:.1f}%", va="center",
                          fontsize=8.5, color=MUTED)
            top = max([top, *widths])
        axis.set_yticks(range(len(names)), names)
        axis.invert_yaxis()
        axis.tick_params(axis="y", length=0)
        _percent_axis(axis, min(1.0, top * 1.18 + 0.05) if top else 1.0)
        axis.set_xlabel("share of turns")
        axis.set_title("Who answered")
        if other is not None:
            axis.legend(loc="lower right")
        return _png(plt, figure)


def latency_png(per_plugin: dict[str, Percentiles]) -> bytes:
    """p50 and p95 latency per plugin (ms), grouped horizontal bars in pipeline order; the mean
    alone where only the mean is known (a batched run's shares of batch time).

    Args:
        per_plugin: plugin → its percentiles in ms (None where unknown), in the pipeline's
            order, which the figure keeps top to bottom.

    Returns:
        PNG bytes.
    """
    with _pyplot() as plt:
        if not per_plugin:
            return _empty(plt, "Latency per plugin", "no timings")
        names = list(per_plugin)
        timed = any(values.p50 is not None for values in per_plugin.values())
        keys = ("p50", "p95") if timed else ("mean",)
        figure, axis = plt.subplots(figsize=(7.5, 0.5 * len(names) + 1.3))
        values = [_number(getattr(per_plugin[name], key)) for key in keys for name in names]
        top = max((value for value in values if not math.isnan(value)), default=0.0) or 1.0
        for offset, (key, colour) in enumerate(zip(keys, (BLUE, LIGHT_BLUE), strict=False)):
            widths = [_number(getattr(per_plugin[name], key)) for name in names]
            positions = [i + (offset - (len(keys) - 1) / 2) * 0.4 for i in range(len(names))]
            axis.barh(positions, widths, height=0.37, color=colour, label=key)
            for position, width in zip(positions, widths, strict=True):
                shown = fmt_ms(None if math.isnan(width) else width, unit=False)
                axis.text((0.0 if math.isnan(width) else width) + top * 0.01, position, shown,
                          va="center", fontsize=8, color=MUTED)
        axis.set_yticks(range(len(names)), names)
        axis.invert_yaxis()
        axis.tick_params(axis="y", length=0)
        axis.set_xlim(0, top * 1.15)
        axis.grid(axis="y", visible=False)
        axis.set_xlabel("ms per turn")
        axis.set_title("Latency per plugin")
        axis.legend(loc="lower right")
        return _png(plt, figure)


def _histogram(axis: Any, values: list[float], bins: list[float], colour: str,
               label: str) -> None:
    """A light filled histogram with a crisp outline: overlaid series stay readable. Each
    series sums to 1, so series of unequal size compare."""
    weights = [1.0 / len(values)] * len(values)
    axis.hist(values, bins=bins, weights=weights, color=colour, alpha=0.28,
              histtype="stepfilled")
    axis.hist(values, bins=bins, weights=weights, color=colour, linewidth=1.6,
              histtype="step", label=label)


def lengths_png(replies: list[int], gold: list[int]) -> bytes:
    """Overlaid histograms of reply length in characters: the bot's and the gold replies.

    Args:
        replies: the length of each bot reply.
        gold: the length of each gold reply (may be empty: only the bot's is drawn).

    Returns:
        PNG bytes: the bot in blue, gold in slate (orange stays model B's), each series as
        shares of its replies, dashed lines at the means.
    """
    with _pyplot() as plt:
        if not replies and not gold:
            return _empty(plt, "Reply length", "no replies")
        longest = max([*replies, *gold, 1])
        step = max(1, math.ceil(longest / 40))
        bins = list(range(0, longest + 2 * step, step))
        figure, axis = plt.subplots(figsize=(7.5, 3.4))
        for values, name, colour in ((replies, "bot", BLUE), (gold, "gold", SLATE)):
            if not values:
                continue
            mean = sum(values) / len(values)
            _histogram(axis, values, bins, colour, f"{name} (n={len(values):,}, mean {mean:.1f})")
            axis.axvline(mean, color=colour, linestyle="--", linewidth=1.2)
        axis.grid(axis="x", visible=False)
        axis.yaxis.set_major_formatter(_percent_formatter())
        axis.set_xlabel("characters")
        axis.set_ylabel("share of replies")
        axis.set_title("Reply length")
        axis.set_ylim(0, axis.get_ylim()[1] * 1.3)  # headroom: the legend never hides bars
        axis.legend(loc="upper right")
        return _png(plt, figure)


def _percent_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def spam_scores_png(spam: list[float], ham: list[float]) -> bytes:
    """Histograms of the spam score (0..1) of gold-spam and gold-ham turns.

    Args:
        spam: the spam score of each turn whose gold label is spam.
        ham: the same for gold ham.

    Returns:
        PNG bytes; each class's bars sum to 100%, so a rare class stays visible.
    """
    with _pyplot() as plt:
        if not spam and not ham:
            return _empty(plt, "Spam score", "no turn with a gold spam label")
        bins = [i / 20 for i in range(21)]
        figure, axis = plt.subplots(figsize=(7.5, 3.4))
        for values, name, colour in ((ham, "gold ham", BLUE), (spam, "gold spam", RED)):
            if values:
                _histogram(axis, values, bins, colour, f"{name} (n={len(values):,})")
        axis.set_xlim(0, 1)
        axis.grid(axis="x", visible=False)
        axis.yaxis.set_major_formatter(_percent_formatter())
        axis.set_xlabel("spam score")
        axis.set_ylabel("share of the class")
        axis.set_title("Spam score by gold label")
        axis.set_ylim(0, axis.get_ylim()[1] * 1.3)
        axis.legend(loc="upper center", ncol=2)
        return _png(plt, figure)


def comparison_png(rows: dict[str, ComparisonRow]) -> bytes:
    """A forest plot of B − A per metric with its confidence interval.

    The metrics have different scales (rates 0..1, BLEU 0..100, perplexity unbounded), so each
    metric gets its own thin axis, stacked, each centred on 0 and symmetric: the position of a
    point says how far from "no change" it is relative to its own interval, and the exact
    values are written at the right in the report's units (rates in percentage points).
    Normalising by |a| was rejected: it turns a 0.5-point change of a 1% fallback rate into
    +50%.

    Args:
        rows: metric key → A, B, the difference and its interval, the verdict; a row whose
            delta, low or high is None is left out.

    Returns:
        PNG bytes; green marks a significant improvement, red a significant regression, grey
        a change within the noise. Each label says which direction is better (↑ or ↓).
    """
    shown = [(key, row) for key, row in rows.items()
             if row.delta is not None and row.low is not None and row.high is not None]
    with _pyplot() as plt:
        if not shown:
            return _empty(plt, "B - A", "no metric both models could be scored on")
        figure, axes = plt.subplots(len(shown), 1, figsize=(8.0, 0.62 * len(shown) + 0.9),
                                    squeeze=False)
        for axis, (key, row) in zip(axes[:, 0], shown, strict=True):
            scale = metric_scale(key)
            delta, low, high = row.delta * scale, row.low * scale, row.high * scale
            colour = {"better": GREEN, "worse": RED}.get(row.verdict, GREY)
            reach = max(abs(delta), abs(low), abs(high)) * 1.3 or 1.0
            axis.set_xlim(-reach, reach)
            axis.set_ylim(-1, 1)
            axis.axvline(0, color=MUTED, linewidth=1)
            axis.hlines(0, low, high, color=colour, linewidth=2.4)
            axis.plot([delta], [0], "o", color=colour, markersize=7, zorder=3)
            axis.set_yticks([])
            axis.grid(axis="y", visible=False)
            axis.spines["left"].set_visible(False)
            axis.tick_params(axis="x", labelsize=7.5, length=2)
            arrow = " ↑" if row.higher_is_better else " ↓"
            axis.text(-0.02, 0.5, metric_label(key) + arrow, transform=axis.transAxes,
                      ha="right", va="center", fontsize=10)
            axis.text(1.02, 0.5, f"{fmt_delta(key, row.delta)}  "
                      f"{fmt_interval(key, row.low, row.high)}",
                      transform=axis.transAxes, ha="left", va="center", fontsize=9,
                      color=colour if colour != GREY else MUTED)
        axes[0, 0].set_title("B - A, with confidence intervals (each row on its own scale)",
                             fontsize=11, pad=12)
        figure.subplots_adjust(hspace=0.9)
        return _png(plt, figure)
