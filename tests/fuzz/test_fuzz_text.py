"""Fuzzing message text: any Unicode, surrogates, control characters, 0 to 100k characters,
through ``Pipeline.process_texts``, ``ChatService.respond`` and ``chatbot process -``.

Properties: no exception but the toolkit's own InputError; one result per input; a refused
text is refused for a reason the user is told; whatever is answered is logged and its trace is
JSON.
"""

from __future__ import annotations

import io
import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatbot.cli import main
from chatbot.data.logstore import LogStore
from chatbot.errors import InputError
from chatbot.serving.service import ChatService
from chatbot.text_input import prepare_text
from tests.fuzz.strategies import message_texts

pytestmark = pytest.mark.fuzz


def _accepted(text: str) -> bool:
    try:
        prepare_text(text)
    except InputError:
        return False
    return True


@given(st.lists(message_texts(), min_size=1, max_size=4))
def test_text_pipeline_answers_each_text_or_names_the_refused_one(default_pipeline, texts):
    if all(_accepted(text) for text in texts):
        messages = default_pipeline.process_texts(texts)
        assert len(messages) == len(texts)
        for message in messages:
            json.dumps(message.to_dict(), ensure_ascii=False, allow_nan=False)
    else:
        first_refused = next(i for i, text in enumerate(texts, 1) if not _accepted(text))
        with pytest.raises(InputError, match=f"text {first_refused} of {len(texts)}"):
            default_pipeline.process_texts(texts)


@pytest.fixture(scope="module")
def bot_service(small_bot, tmp_path_factory):
    service = ChatService(small_bot, LogStore(tmp_path_factory.mktemp("fuzz") / "log.sqlite"),
                          "fuzz", max_batch=4)
    yield service
    service.close()


@pytest.mark.slow
@given(message_texts())
def test_chat_service_replies_to_everything_and_logs_what_it_answers(bot_service, text):
    before = bot_service.store.count()
    reply = bot_service.respond(text, "fuzz-conversation")
    assert isinstance(reply.text, str) and reply.text
    if reply.refused:
        assert reply.text.startswith("알림:") and bot_service.store.count() == before
    else:
        assert bot_service.store.count() == before + 1
        json.dumps(reply.message.to_dict(), ensure_ascii=False, allow_nan=False)


@given(st.lists(st.binary(max_size=200), max_size=6))
def test_process_stdin_prints_one_line_per_input_line(monkeypatch, capsys, chunks):
    capsys.readouterr()
    raw = b"\n".join(chunk.replace(b"\n", b" ") for chunk in chunks)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    status = main(["process", "--config", "text", "--json", "--batch-size", "3", "-"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = len(io.BytesIO(raw).readlines())
    assert [row["line"] for row in lines] == list(range(1, expected + 1))
    assert status == (1 if any("error" in row for row in lines) else 0)
