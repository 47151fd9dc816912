"""The trace panel of the web UI: a message's trace as escaped HTML, and a seq2seq reply's
attention matrix as a heatmap with Korean labels."""

from __future__ import annotations

import html
from typing import Any

from chatbot.fonts import korean_font
from chatbot.message import Message

EMPTY_TRACE = "<p class='trace-empty'>메시지를 보내면 여기에 처리 과정이 나타나요.</p>"


def _row(label: str, value: str, raw: bool = False) -> str:
    shown = value if raw else html.escape(value)
    return f"<tr><th>{html.escape(label)}</th><td>{shown}</td></tr>"


def trace_html(message: Message | None) -> str:
    """Every stage of the message as an HTML table; user text is always escaped."""
    if message is None:
        return EMPTY_TRACE
    rows = [_row("message", message.text)]
    if message.sentences is not None:
        rows.append(_row("sentences", " ⏐ ".join(message.sentences) or "(none)"))
    if message.spaced is not None:
        rows.append(_row("spacing", message.spaced))
    if message.tokens is not None:
        morphemes = " ".join(
            f"<span class='morph'>{html.escape(t.surface)}<sub>{html.escape(t.pos)}</sub></span>"
            for t in message.tokens)
        rows.append(_row("morphemes", morphemes, raw=True))
        rows.append(_row("tokens kept", " ".join(t.lemma for t in message.kept_tokens())))
    if message.intent is not None:
        rows.append(_row("intent", f"{message.intent.label} ({message.intent.confidence:.2f})"))
    if message.spam is not None:
        rows.append(_row("spam", f"{message.spam.label} ({message.spam.confidence:.2f})"))
    if message.responder is not None:
        confidence = ("" if message.reply_confidence is None
                      else f" (confidence {message.reply_confidence:.2f})")
        rows.append(_row("answered by", f"{message.responder}{confidence}"))
    for plugin, note in message.notes.items():
        rows.append(_row(plugin, note))
    timings = " · ".join(f"{name} {ms:.1f}" for name, ms in message.timings_ms.items())
    rows.append(_row("time (ms)", f"{sum(message.timings_ms.values()):.1f} total: {timings}"))
    return f"<table class='trace'>{''.join(rows)}</table>"


def attention_figure(attention: dict[str, Any] | None) -> Any:
    """The heatmap of ``extras["attention"]`` (reply pieces × question pieces), or None."""
    if not attention or not attention.get("weights"):
        return None
    import matplotlib

    matplotlib.use("Agg")  # rendered for the browser; never a window
    import matplotlib.pyplot as plt

    font = korean_font()
    source = [piece.replace("▁", "·") for piece in attention["source"]]
    reply = [piece.replace("▁", "·") for piece in attention["reply"]]
    figure, axis = plt.subplots(figsize=(max(3.5, 0.45 * len(source) + 1.5),
                                         max(2.5, 0.35 * len(reply) + 1.2)))
    axis.imshow(attention["weights"], cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    labels = {"fontfamily": font} if font else {}
    axis.set_xticks(range(len(source)), source, rotation=60, ha="right", fontsize=9, **labels)
    axis.set_yticks(range(len(reply)), reply, fontsize=9, **labels)
    axis.set_xlabel("질문 (question)", **labels)
    axis.set_ylabel("답 (reply)", **labels)
    figure.tight_layout()
    plt.close(figure)  # gradio renders it; keep pyplot's registry from growing per turn
    return figure
