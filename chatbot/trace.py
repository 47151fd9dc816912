"""What the trace of a processed message shows, and its plain-text form for the terminal.

:func:`trace_rows` is the one place that decides what a trace shows: which stages, under which
labels, with which values. The terminal (:func:`format_trace`, used by ``chatbot process`` and
``chatbot chat``) and the web UI (:func:`chatbot.serving.trace_view.trace_html`) only lay its
rows out, so a new field added there appears in both. The JSON form is ``Message.to_dict``.
"""

from __future__ import annotations

import shutil
import sys
import unicodedata
from dataclasses import dataclass

from chatbot.message import Message

LABEL_WIDTH = 11
INDENT = " " * (2 + LABEL_WIDTH + 1)  # where a row's value starts in the terminal


@dataclass(frozen=True)
class Item:
    """A part of a row's value that is always shown whole, never broken across lines: a
    morpheme and its tag, a lemma, a plugin's name and its time."""

    text: str
    tag: str = ""  # a morpheme's part of speech


@dataclass(frozen=True)
class TraceRow:
    """One row of a trace.

    Attributes:
        label: what the row shows (``"morphemes"``), the same in every form of the trace.
        text: free text, which may wrap like prose (the reply, a note; the total time).
        items: the rest of the value as whole items, broken only between items.
        separator: what stands between two items.
    """

    label: str
    text: str = ""
    items: tuple[Item, ...] = ()
    separator: str = " "


def trace_rows(message: Message) -> list[TraceRow]:
    """What each plugin did to the message, one row per stage that ran, and the time of each.

    The message's own text is not a row: each form shows it as its heading.
    """
    rows: list[TraceRow] = []
    if message.normalized is not None and message.normalized != message.text:
        rows.append(TraceRow("normalized", message.normalized))
    if message.sentences is not None:
        numbered = "  ".join(f"{i}) {s}" for i, s in enumerate(message.sentences, start=1))
        rows.append(TraceRow("sentences", numbered or "(none)"))
    if message.spaced is not None:
        rows.append(TraceRow("spaced", message.spaced))
    if message.tokens is not None:
        rows.append(TraceRow("morphemes", items=tuple(
            Item(token.surface, token.pos) for token in message.tokens)))
        if any(not token.kept for token in message.tokens):
            rows.append(TraceRow("kept", items=tuple(
                Item(token.lemma) for token in message.kept_tokens())))
    if message.intent is not None:
        rows.append(TraceRow("intent",
                             f"{message.intent.label} ({message.intent.confidence:.2f})"))
    if message.spam is not None:
        rows.append(TraceRow("spam", f"{message.spam.label} ({message.spam.confidence:.2f})"))
    if message.reply is not None:
        confidence = ("" if message.reply_confidence is None
                      else f" {message.reply_confidence:.2f}")
        rows.append(TraceRow("reply", f"{message.reply}  [{message.responder}{confidence}]"))
    if message.history:
        rows.append(TraceRow("after", f"{message.history[-1].user} → "
                             f"{message.history[-1].bot}"))
    for check in sorted(message.extras.get("relevance", []), key=lambda c: -c.relevance):
        mark = "sent" if check.sent else "not sent"
        rows.append(TraceRow("relevance", f"{check.relevance:.2f} {check.reply}  "
                             f"[{check.responder}, {mark}]"))
    if message.suggestions:
        rows.append(TraceRow("suggested", items=tuple(Item(s) for s in message.suggestions),
                             separator=" / "))
    for plugin, note in message.notes.items():
        rows.append(TraceRow("note", f"{plugin}: {note}"))
    rows.append(TraceRow(
        "time (ms)", f"{sum(message.timings_ms.values()):.2f} total:",
        items=tuple(Item(f"{name} {ms:.2f}") for name, ms in message.timings_ms.items()),
        separator=" · "))
    return rows


def format_trace(message: Message, width: int | None = None) -> str:
    """The trace as text: the message, then one line per row.

    Args:
        message: a processed message.
        width: columns to wrap a row's items at, between items only (so a name is never cut);
            None: the terminal's width when standard output is a terminal, else no wrapping
            (one line per row, for programs that read it).
    """
    width = _terminal_width() if width is None else width
    lines = [f"» {message.text}"]
    for row in trace_rows(message):
        lines.extend(_text_lines(row, width))
    return "\n".join(lines)


def item_text(item: Item) -> str:
    """An item as plain text: ``아버지/NNG`` for a tagged one."""
    return f"{item.text}/{item.tag}" if item.tag else item.text


def _text_lines(row: TraceRow, width: int | None) -> list[str]:
    """The row's lines: the label, then the value; the items wrapped at ``width``."""
    line = f"  {row.label:<{LABEL_WIDTH}} {row.text}"
    lines = []
    tail = row.separator.rstrip()  # ends a line that more items follow: " ·"
    for index, item in enumerate(row.items):
        piece = item_text(item)
        joiner = row.separator if index > 0 else (" " if row.text else "")
        last = index == len(row.items) - 1
        needs = columns(joiner + piece) + (0 if last else len(tail))
        if width is not None and index > 0 and columns(line) + needs > width:
            lines.append(line + tail)  # the separator ends the line, none starts the next
            line = INDENT + piece
        else:
            line += joiner + piece
    lines.append(line.rstrip())
    return lines


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes: a Hangul syllable (a wide character) two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _terminal_width() -> int | None:
    """The terminal's width when standard output is one, else None."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns
