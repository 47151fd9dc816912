"""The chat service, its batcher, the trace panel, the terminal chat and the serve/chat verbs."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

import pytest

from chatbot.cli import main
from chatbot.data.logstore import LogStore
from chatbot.message import Message
from chatbot.pipeline import Failure, Pipeline
from chatbot.serving.batcher import Batcher
from chatbot.serving.service import ChatService, model_version
from chatbot.serving.terminal import run_terminal_chat
from chatbot.serving.trace_view import trace_html
from tests.conftest import fails_on


@pytest.fixture
def service(small_bot_dir, tmp_path):
    chat = ChatService(Pipeline.load(small_bot_dir), LogStore(tmp_path / "log.sqlite"),
                       model_version(small_bot_dir), max_batch=8)
    yield chat
    chat.close()


def test_each_answered_turn_is_logged_with_its_trace(service):
    first = service.respond("안녕하세요")
    second = service.respond("오늘 너무 우울해", first.conversation_id)
    assert first.text and second.text and (first.turn_index, second.turn_index) == (0, 1)
    turns = service.store.turns(first.conversation_id)
    assert [t.user_text for t in turns] == ["안녕하세요", "오늘 너무 우울해"]
    assert turns[0].bot_reply == first.text and turns[0].trace["responder"]
    assert turns[0].model_version.startswith("small-bot@") and turns[0].latency_ms > 0
    service.feedback(first.conversation_id, 1, -1)
    assert service.store.turns(first.conversation_id)[1].feedback == -1


@pytest.mark.parametrize(("text", "says"), [
    ("   ", "비어"), ("가" * 2001, "2,001자"), ("\x00\x01\x02 junk", "읽을 수 없는")])
def test_refused_messages_get_a_korean_notice_and_are_not_logged(service, text, says):
    reply = service.respond(text)
    assert reply.refused and says in reply.text and reply.turn_index is None
    assert service.store.count() == 0


def test_a_new_service_continues_a_logged_conversation(small_bot_dir, tmp_path):
    for expected in (0, 1):
        chat = ChatService(Pipeline.load(small_bot_dir), LogStore(tmp_path / "log.sqlite"), "v")
        assert chat.respond("고마워", "room-1").turn_index == expected
        chat.close()


def test_concurrent_messages_are_batched_and_each_gets_its_own_reply(small_bot):
    batcher = Batcher(small_bot, max_batch=16, max_wait_ms=50)
    texts = [f"{n}번째 질문이에요 안녕" for n in range(24)]
    results: dict[int, Message] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(
        n, batcher.process(texts[n]))) for n in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert [results[n].text for n in range(len(texts))] == texts
    assert all(results[n].reply for n in results)
    assert max(batcher.batch_sizes) > 1 and sum(batcher.batch_sizes) == len(texts)
    assert max(m.extras["batch_size"] for m in results.values()) == max(batcher.batch_sizes)


def test_one_failing_message_does_not_fail_its_batch():
    batcher = Batcher(fails_on("bad"), max_batch=8, max_wait_ms=100)
    outcomes: dict[str, str] = {}

    def send(text: str) -> None:
        result = batcher.process(text)
        outcomes[text] = result.error if isinstance(result, Failure) else result.reply

    threads = [threading.Thread(target=send, args=(t,)) for t in ("a", "bad", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert outcomes == {"a": "ok", "bad": "RuntimeError: boom", "b": "ok"}


def test_the_trace_panel_escapes_user_text_and_names_the_responder(small_bot):
    message = small_bot.process([Message("<script>alert(1)</script> 안녕하세요")])[0]
    panel = trace_html(message)
    assert "<script>" not in panel and "&lt;script&gt;" in panel
    assert message.responder in panel and "time (ms)" in panel


def test_terminal_chat_answers_toggles_the_trace_and_quits(service):
    lines = iter(["안녕하세요", "/trace", "고마워", "", "/quit", "never read"])
    out = io.StringIO()
    answered = run_terminal_chat(service, out, read=lambda prompt: next(lines))
    shown = out.getvalue()
    assert answered == 2 and shown.count("봇> ") == 2
    assert "trace 켜짐" in shown and "» 고마워" in shown and "» 안녕하세요" not in shown
    assert service.store.count() == 2


def test_chat_command_reads_stdin_and_logs(small_bot_dir, tmp_path):
    log = tmp_path / "chat.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "chat", "--model", str(small_bot_dir),
         "--log-db", str(log)], input="안녕하세요\n/trace\n고마워\n", capture_output=True,
        text=True, timeout=120,
        env={"CHATBOT_MODELS_DIR": str(tmp_path / "models"), "PATH": "/usr/bin",
             "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("봇> ") == 2 and "responder" not in done.stderr
    assert LogStore(log).count() == 2


def test_serve_with_a_broken_model_stops_with_a_clear_message(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "manifest.json").write_text("{not json")
    assert main(["serve", "--model", str(tmp_path / "model"),
                 "--log-db", str(tmp_path / "log.sqlite")]) == 2
    assert "manifest.json" in capsys.readouterr().err
