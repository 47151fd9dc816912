"""The web UI's attention heatmap, decided by the pipeline's declared contracts, and the trace
panel's layout rules (the browser itself: tests/test_browser.py)."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatbot.config import parse_config  # noqa: E402
from chatbot.contract import AttentionMap  # noqa: E402
from chatbot.fonts import korean_font  # noqa: E402
from chatbot.message import Message  # noqa: E402
from chatbot.pipeline import Pipeline  # noqa: E402
from chatbot.serving.trace_view import attention_figure  # noqa: E402
from chatbot.serving.web import (  # noqa: E402
    ATTENTION,
    CSS,
    attention_to_show,
    build_app,
    heatmap_note,
)

ATTENTION_MAP = AttentionMap(source=["▁오늘", "▁우울"], reply=["▁힘내", "요"],
                             weights=[[0.9, 0.1], [0.3, 0.7]])


def pipeline(*steps: str) -> Pipeline:
    """An untrained pipeline of these steps (``"plugin"`` or ``"plugin: {settings}"``)."""
    lines = []
    for step in steps:
        name, _, settings = step.partition(" ")
        lines.append(f"  - {{plugin: {name}{', ' + settings if settings else ''}}}")
    return Pipeline.from_config(parse_config("pipeline:\n" + "\n".join(lines) + "\n"))


@pytest.mark.parametrize(("steps", "writers"), [
    (["normalize.soynlp", "respond.seq2seq", "fallback.lm"], ["respond.seq2seq"]),
    (["normalize.soynlp", "respond.seq2seq attention: none", "fallback.lm"], []),
    (["normalize.soynlp", "fallback.lm"], []),
])
def test_the_heatmap_follows_the_steps_whose_contract_assigns_attention(steps, writers):
    assert pipeline(*steps).writers_of(ATTENTION) == writers


def test_the_page_says_when_the_heatmap_fills():
    note = heatmap_note(["respond.seq2seq"])
    assert "respond.seq2seq" in note and "어텐션 히트맵" in note
    assert heatmap_note([]) is None


def test_only_a_reply_by_a_writer_of_attention_shows_one():
    writers = ["respond.seq2seq"]
    written = Message("오늘 우울해", reply="힘내요", responder="respond.seq2seq",
                      extras={"attention": ATTENTION_MAP})
    assert attention_to_show(written, writers) is ATTENTION_MAP
    assert attention_to_show(written, []) is None  # no step declares it: nothing shown
    retrieved = Message("오늘 우울해", reply="힘내요", responder="respond.retrieval",
                        extras={"attention": ATTENTION_MAP})
    assert attention_to_show(retrieved, writers) is None
    reranked = Message("오늘 우울해", reply="힘내요", responder="respond.seq2seq")
    assert attention_to_show(reranked, writers) is None  # it took a retrieved reply
    assert attention_to_show(None, writers) is None  # a refused message


@pytest.mark.parametrize(("steps", "shown"), [
    (["respond.seq2seq"], True),
    (["respond.seq2seq attention: none"], False),
])
def test_the_heatmap_is_hidden_when_no_step_writes_one(steps, shown):
    app = build_app(SimpleNamespace(pipeline=pipeline(*steps)))
    by_id = {getattr(block, "elem_id", None): block for block in app.blocks.values()}
    assert by_id["attention"].visible is shown
    assert ("attention-note" in by_id) is shown
    if shown:
        assert "respond.seq2seq" in by_id["attention-note"].value
        assert "respond.seq2seq" in by_id["attention"].label


def test_the_attention_heatmap_has_korean_labels():
    figure = attention_figure(ATTENTION_MAP)
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels == ["·오늘", "·우울"]
    if korean_font() is not None:  # fonts-nanum installed: the labels use it
        assert figure.axes[0].get_xticklabels()[0].get_fontname() == korean_font()
    assert attention_figure(None) is None
    assert attention_figure(AttentionMap(source=[], reply=[], weights=[])) is None


def test_the_trace_panel_keeps_items_whole():
    rules = {selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", CSS)}
    assert "white-space: nowrap" in rules[".trace .item"]  # a plugin's name is never cut
    assert "break-all" not in CSS  # which cut "respond.retrieval" anywhere
