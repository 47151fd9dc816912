"""The human-readable trace of a processed message (the JSON form is ``Message.to_dict``)."""

from __future__ import annotations

from chatbot.message import Message

LABEL_WIDTH = 11


def _line(label: str, value: str) -> str:
    return f"  {label:<{LABEL_WIDTH}} {value}"


def format_trace(message: Message) -> str:
    """What each plugin did to the message, and its time, one stage per line."""
    lines = [f"» {message.text}"]
    if message.normalized is not None and message.normalized != message.text:
        lines.append(_line("normalized", message.normalized))
    if message.sentences is not None:
        numbered = "  ".join(f"{i}) {s}" for i, s in enumerate(message.sentences, start=1))
        lines.append(_line("sentences", numbered or "(none)"))
    if message.spaced is not None:
        lines.append(_line("spaced", message.spaced))
    if message.tokens is not None:
        lines.append(_line("morphemes", " ".join(f"{t.surface}/{t.pos}" for t in message.tokens)))
        if any(not token.kept for token in message.tokens):
            lines.append(_line("kept", " ".join(t.lemma for t in message.kept_tokens())))
    if message.intent is not None:
        lines.append(_line("intent", f"{message.intent.label} ({message.intent.confidence:.2f})"))
    if message.spam is not None:
        lines.append(_line("spam", f"{message.spam.label} ({message.spam.confidence:.2f})"))
    if message.reply is not None:
        confidence = ("" if message.reply_confidence is None
                      else f" {message.reply_confidence:.2f}")
        lines.append(_line("reply", f"{message.reply}  [{message.responder}{confidence}]"))
    for plugin, note in message.notes.items():
        lines.append(_line("note", f"{plugin}: {note}"))
    timings = " · ".join(f"{name} {ms:.2f}" for name, ms in message.timings_ms.items())
    total = sum(message.timings_ms.values())
    lines.append(_line("time (ms)", f"{total:.2f} total: {timings}"))
    return "\n".join(lines)
