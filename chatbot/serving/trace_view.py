"""The trace panel of the web UI: a message's trace (:func:`chatbot.trace.trace_rows`) as escaped
HTML, and a generated reply's attention map as a heatmap with Korean labels."""

from __future__ import annotations

import html
from typing import Any

from chatbot.contract import AttentionMap
from chatbot.fonts import korean_font
from chatbot.message import Message
from chatbot.trace import Item, TraceRow, trace_rows

EMPTY_TRACE = "<p class='trace-empty'>메시지를 보내면 여기에 처리 과정이 나타나요.</p>"


def trace_html(message: Message | None) -> str:
    """The message and every row of its trace as an HTML table; user text is always escaped.

    An item (a morpheme, a plugin's time) is a ``span.item`` that the page's CSS keeps whole
    (``white-space: nowrap``), so a line breaks between items, never inside a name.
    """
    if message is None:
        return EMPTY_TRACE
    rows = [_html_row(TraceRow("message", message.text))]
    rows.extend(_html_row(row) for row in trace_rows(message))
    return f"<table class='trace'>{''.join(rows)}</table>"


def _html_row(row: TraceRow) -> str:
    parts = [html.escape(row.text)] if row.text else []
    if row.items:
        parts.append(html.escape(row.separator).join(_html_item(item) for item in row.items))
    return f"<tr><th>{html.escape(row.label)}</th><td>{' '.join(parts)}</td></tr>"


def _html_item(item: Item) -> str:
    tag = f"<sub>{html.escape(item.tag)}</sub>" if item.tag else ""
    return f"<span class='item'>{html.escape(item.text)}{tag}</span>"


def attention_figure(attention: AttentionMap | None) -> Any:
    """The heatmap of an attention map (reply pieces × question pieces), or None."""
    if attention is None or not attention.weights:
        return None
    import matplotlib

    matplotlib.use("Agg")  # rendered for the browser; never a window
    import matplotlib.pyplot as plt

    font = korean_font()
    source = [piece.replace("▁", "·") for piece in attention.source]
    reply = [piece.replace("▁", "·") for piece in attention.reply]
    figure, axis = plt.subplots(figsize=(max(3.5, 0.45 * len(source) + 1.5),
                                         max(2.5, 0.35 * len(reply) + 1.2)))
    axis.imshow(attention.weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    labels = {"fontfamily": font} if font else {}
    axis.set_xticks(range(len(source)), source, rotation=60, ha="right", fontsize=9, **labels)
    axis.set_yticks(range(len(reply)), reply, fontsize=9, **labels)
    axis.set_xlabel("질문 (question)", **labels)
    axis.set_ylabel("답 (reply)", **labels)
    figure.tight_layout()
    plt.close(figure)  # gradio renders it; keep pyplot's registry from growing per turn
    return figure
