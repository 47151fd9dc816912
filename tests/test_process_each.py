"""One policy for processing a batch: Pipeline.process_each, used by every front end."""

from __future__ import annotations

import json

from chatbot.cli import main
from chatbot.message import Message
from chatbot.pipeline import Failure
from tests.conftest import fails_on


def test_a_failing_text_fails_alone_and_its_neighbours_start_fresh():
    results = fails_on("bad").process_each(["a", "bad", "b"])
    assert [type(r) for r in results] == [Message, Failure, Message]
    assert results[1].error == "RuntimeError: boom"
    # "a" was answered in the failed batch before the plugin reached "bad"; the retry starts
    # from a fresh message, so nothing of the failed pass is left in the trace.
    assert [r.reply for r in (results[0], results[2])] == ["ok", "ok"]
    assert all(list(r.timings_ms) == ["test.fails_on"] for r in (results[0], results[2]))


def test_unreadable_texts_fail_without_running_the_pipeline():
    results = fails_on("never").process_each([b"\xff\xfe", "", "x" * 20, "fine"], max_chars=10)
    assert [r.error for r in results[:3]] == [
        "not valid UTF-8 text", results[1].error, results[2].error]
    assert "empty" in results[1].error and "10" in results[2].error
    assert results[3].reply == "ok"


def test_one_failure_alone_is_reported_without_a_retry():
    (result,) = fails_on("bad").process_each(["bad"])
    assert isinstance(result, Failure) and "boom" in result.error


def test_chatbot_process_reports_a_plugin_failure_per_input(monkeypatch, capsys):
    import chatbot.cli as cli

    monkeypatch.setattr(cli, "_open_pipeline", lambda args: fails_on("bad"))
    status = main(["process", "--json", "a", "bad", "b"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [line.get("reply") for line in lines] == ["ok", None, "ok"]
    assert lines[1] == {"argument": 2, "error": "RuntimeError: boom"}
