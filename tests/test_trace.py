"""The trace: one source of what it shows (chatbot.trace.trace_rows), laid out for the terminal
(format_trace) and for the web (trace_html) without either dropping, adding or cutting."""

from __future__ import annotations

import dataclasses
import html
import io
import re
import sys

import pytest

from chatbot.message import Exchange, Message, Prediction, Token
from chatbot.serving.trace_view import trace_html
from chatbot.trace import INDENT, LABEL_WIDTH, columns, format_trace, item_text, trace_rows

TIMINGS = {"normalize.soynlp": 0.06, "split.kiwi": 0.63, "spacing.kiwi": 0.56,
           "tokenize.kiwi": 0.73, "stopwords.pos": 0.01, "classify.intent": 4.2,
           "respond.template": 0.02, "respond.retrieval": 2.4, "respond.seq2seq": 10.25,
           "fallback.lm": 3.3}

# Where each Message field shows in the trace (the text is each form's heading), and the fields
# it leaves to the JSON trace. A new Message field must be added to one of the two.
SHOWN_AS = {"text": None, "normalized": "normalized", "sentences": "sentences",
            "spaced": "spaced", "tokens": "morphemes", "intent": "intent", "spam": "spam",
            "reply": "reply", "responder": "reply", "reply_confidence": "reply",
            "notes": "note", "timings_ms": "time (ms)", "history": "after",
            "suggestions": "suggested"}
LEFT_TO_JSON = {"vector", "extras"}


def full_message() -> Message:
    """A message every stage has written to, with markup in the user's text."""
    return Message(
        text="아버지가방에들어가신다 <b>ㅋㅋㅋㅋ</b>",
        normalized="아버지가방에들어가신다 <b>ㅋㅋ</b>",
        sentences=["아버지가방에들어가신다", "<b>ㅋㅋ</b>"],
        spaced="아버지가 방에 들어가신다 <b>ㅋㅋ</b>",
        tokens=[Token("아버지", "아버지", "NOUN", "NNG"),
                Token("가", "가", "PARTICLE", "JKS", kept=False),
                Token("들어가", "들어가다", "VERB", "VV"), Token("<b>", "<b>", "SYMBOL", "SW")],
        vector=[0.1, 0.2],
        intent=Prediction("greeting", 0.98), spam=Prediction("ham", 0.01),
        reply="안녕하세요 <i>반가워요</i>", responder="respond.retrieval", reply_confidence=0.77,
        notes={"respond.template": "declined: no template for intent <ood>"},
        timings_ms=dict(TIMINGS), extras={"batch_size": 3},
        history=[Exchange("<i>전</i>", "답")], suggestions=["<b>추천</b> 질문"])


def terminal_labels(text: str) -> list[str]:
    """The label of each row of a plain-text trace (continuation lines have none)."""
    return [line[2:2 + LABEL_WIDTH].strip() for line in text.splitlines()[1:]
            if line[2:2 + LABEL_WIDTH].strip()]


def test_every_message_field_is_shown_or_left_to_the_json_trace():
    fields = {field.name for field in dataclasses.fields(Message)}
    assert fields == set(SHOWN_AS) | LEFT_TO_JSON, "say where a new Message field shows"
    labels = [row.label for row in trace_rows(full_message())]
    assert {label for label in SHOWN_AS.values() if label} <= set(labels)


def test_the_terminal_and_the_web_show_the_same_rows():
    message = full_message()
    rows = trace_rows(message)
    text, page = format_trace(message, width=10_000), trace_html(message)
    assert terminal_labels(text) == [row.label for row in rows]
    assert re.findall(r"<th>(.*?)</th>", page) == ["message"] + [html.escape(row.label)
                                                                for row in rows]
    assert text.splitlines()[0] == f"» {message.text}" and html.escape(message.text) in page
    for row in rows:
        assert row.text in text and html.escape(row.text) in page
        for item in row.items:
            assert item_text(item) in text and html.escape(item.text) in page
    for shown in ("아버지/NNG", "들어가다", "[respond.retrieval 0.77]", "greeting (0.98)"):
        assert shown in text


def test_rows_follow_what_ran():
    bare = Message("안녕", timings_ms={"normalize.soynlp": 0.05})
    assert [row.label for row in trace_rows(bare)] == ["time (ms)"]
    kept_all = Message("안녕", tokens=[Token("안녕", "안녕", "NOUN", "NNG")])
    assert "kept" not in [row.label for row in trace_rows(kept_all)]  # nothing was dropped


def test_the_web_trace_escapes_everything_it_shows():
    page = trace_html(full_message())
    for markup in ("<b>", "<i>", "<ood>"):
        assert markup not in page
    assert "&lt;b&gt;" in page and "&lt;ood&gt;" in page
    # morphemes, kept, the suggestion, times
    assert page.count("<span class='item'>") == 4 + 3 + 1 + len(TIMINGS)


@pytest.mark.parametrize("width", [20, 36, 50, 64, 80, 120])
def test_the_terminal_wraps_the_timings_between_names_never_inside_one(width):
    lines = format_trace(full_message(), width=width).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  time (ms)"))
    timing = lines[start:]
    items = [f"{name} {ms:.2f}" for name, ms in TIMINGS.items()]
    for item in items:  # every name, with its time, whole on one line
        assert sum(item in line for line in timing) == 1, (item, timing)
    for line in timing[1:]:
        assert line.startswith(INDENT) and not line.strip().startswith("·")
    for line in timing:
        holds = sum(item in line for item in items)
        assert len(line) <= width or holds <= 1, line  # only a lone item may be wider
    if width >= 64:
        assert len(timing) < len(items)  # wrapped, not one name a line


def test_the_terminal_wraps_korean_morphemes_by_the_columns_they_take():
    words = "아버지 방 오늘 날씨 정말 좋다".split() * 4
    tokens = [Token(word, word, "NOUN", "NNG") for word in words]
    lines = format_trace(Message("아버지", tokens=tokens), width=40).splitlines()
    morphemes = lines[1:-1]
    assert len(morphemes) > 1 and all(columns(line) <= 40 for line in morphemes), morphemes
    assert columns("아버지/NNG") == 10
    shown = " ".join(line[len(INDENT):] for line in morphemes).split()
    assert shown == [f"{token.surface}/NNG" for token in tokens]


def test_the_terminal_trace_is_one_line_a_row_without_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # piped: a program reads it
    message = full_message()
    text = format_trace(message)
    assert len(text.splitlines()) == 1 + len(trace_rows(message))
    assert text.splitlines()[-1].startswith(
        f"  time (ms)   {sum(TIMINGS.values()):.2f} total: normalize.soynlp 0.06 · split.kiwi")
