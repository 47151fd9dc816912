"""``chatbot serve``'s HTTP server, through real HTTP: the REST API, the Rasa and Kakao
channels, the probes and metrics, limits, auth and errors."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from chatbot.config import PipelineSpec, Step
from chatbot.data.logstore import LogStore
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.plugin import Plugin, PluginConfig
from chatbot.serving.http.kakao import MAX_LABEL, STILL_THINKING, skill_response
from chatbot.serving.service import ChatService
from tests.conftest import fails_on, serving


@pytest.fixture
def service(tmp_path) -> Iterator[ChatService]:
    """A service whose pipeline answers "ok", and fails on the text "bad"."""
    chat = ChatService(fails_on("bad"), LogStore(tmp_path / "log.sqlite"), "test@1", max_batch=8)
    yield chat
    chat.close()


@pytest.fixture
def client(service) -> Iterator[httpx.Client]:
    with serving(service) as http:
        yield http


def _is_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and "Traceback" not in response.text
    return body


# -- the REST API ----------------------------------------------------------------------------

def test_chat_answers_logs_and_continues_a_conversation(client, service):
    first = client.post("/api/v1/chat", json={"message": "안녕하세요"}).json()
    assert first["reply"] == "ok" and first["turn_index"] == 0 and not first["refused"]
    assert first["responder"] is None and first["suggestions"] == [] and first["latency_ms"] >= 0
    second = client.post("/api/v1/chat", json={"message": "또 왔어요",
                                                "conversation_id": first["conversation_id"]})
    assert second.json()["turn_index"] == 1
    assert [t.user_text for t in service.store.turns(first["conversation_id"])] == [
        "안녕하세요", "또 왔어요"]


def test_a_user_id_without_a_conversation_id_is_one_conversation(client):
    turns = [client.post("/api/v1/chat", json={"message": "안녕", "user_id": "사용자 7"}).json()
             for _ in range(2)]
    assert turns[0]["conversation_id"] == turns[1]["conversation_id"]
    assert [t["turn_index"] for t in turns] == [0, 1]


def test_refused_and_failed_messages_say_so_and_are_not_logged(client, service):
    empty = client.post("/api/v1/chat", json={"message": "   "}).json()
    assert empty["refused"] and "비어" in empty["reply"] and empty["turn_index"] is None
    failed = client.post("/api/v1/chat", json={"message": "bad"}).json()
    assert failed["refused"] and "문제가 생겼어요" in failed["reply"]
    assert service.store.count() == 0


@pytest.mark.parametrize(("body", "says"), [
    ({"message": "안녕", "conversation_id": "../../etc/passwd"}, "conversation_id"),
    ({"message": "안녕", "conversation_id": "x" * 129}, "conversation_id"),
    ({"text": "안녕"}, "message"),
    ({"message": 3}, "message"),
    ({"message": "안녕", "user_id": ""}, "user_id"),
])
def test_a_bad_chat_request_is_a_problem_that_names_the_field(client, body, says):
    response = client.post("/api/v1/chat", json=body)
    assert response.status_code in (400, 422)
    assert says in _is_problem(response, response.status_code)["detail"]


def test_not_json_is_a_problem_too(client):
    response = client.post("/api/v1/chat", content=b"{not json",
                           headers={"content-type": "application/json"})
    _is_problem(response, 422)


def test_feedback_rates_a_logged_turn_and_refuses_others(client, service):
    turn = client.post("/api/v1/chat", json={"message": "고마워"}).json()
    rated = client.post("/api/v1/feedback", json={"conversation_id": turn["conversation_id"],
                                                  "turn_index": 0, "value": -1})
    assert rated.status_code == 204
    assert service.store.turns(turn["conversation_id"])[0].feedback == -1
    missing = client.post("/api/v1/feedback", json={"conversation_id": turn["conversation_id"],
                                                    "turn_index": 5, "value": 1})
    assert "no turn 5" in _is_problem(missing, 404)["detail"]
    _is_problem(client.post("/api/v1/feedback", json={
        "conversation_id": turn["conversation_id"], "turn_index": 0, "value": 2}), 422)


def test_bodies_past_the_limit_are_refused_before_they_are_read(service):
    with serving(service, max_body_bytes=2048) as client:
        declared = client.post("/api/v1/chat", json={"message": "가" * 2000})
        assert "2,048 bytes" in _is_problem(declared, 413)["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it comes
            yield b'{"message": "'
            for _ in range(100):
                yield b"a" * 100
            yield b'"}'

        streamed = client.post("/api/v1/chat", content=chunks(),
                               headers={"content-type": "application/json"})
        _is_problem(streamed, 413)
        assert client.post("/api/v1/chat", json={"message": "짧아요"}).status_code == 200
    assert service.store.count() == 1


def test_an_unexpected_error_is_a_problem_without_a_traceback(client, service, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "respond", broken)
    response = client.post("/api/v1/chat", json={"message": "안녕"})
    assert "secret internals" not in _is_problem(response, 500).get("detail", "")


def test_the_api_is_described_by_its_openapi_schema(client):
    schema = client.get("/api/openapi.json").json()
    assert {"/api/v1/chat", "/api/v1/feedback", "/webhooks/rest/webhook",
            "/kakao/skill"} <= set(schema["paths"])
    assert client.get("/api/docs").status_code == 200


# -- auth ------------------------------------------------------------------------------------

def test_with_a_token_the_api_and_channels_need_it_and_the_probes_do_not(service):
    with serving(service, api_token="s3cret") as client:
        for path, body in (("/api/v1/chat", {"message": "안녕"}),
                           ("/webhooks/rest/webhook", {"sender": "a", "message": "안녕"}),
                           ("/kakao/skill", KAKAO_EXAMPLE)):
            assert _is_problem(client.post(path, json=body), 401)
            wrong = client.post(path, json=body, headers={"authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
            right = client.post(path, json=body, headers={"authorization": "Bearer s3cret"})
            assert right.status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


# -- Rasa ------------------------------------------------------------------------------------

def test_rasa_rest_channel_format(client, service):
    answer = client.post("/webhooks/rest/webhook", json={"sender": "user-42", "message": "안녕"})
    assert answer.json() == [{"recipient_id": "user-42", "text": "ok"}]
    client.post("/webhooks/rest/webhook", json={"sender": "user-42", "message": "또"})
    assert [t.turn_index for t in service.store.turns("rasa:user-42")] == [0, 1]
    _is_problem(client.post("/webhooks/rest/webhook", json={"sender": "a"}), 422)


# -- Kakao -----------------------------------------------------------------------------------

# Built from the example in Kakao i Open Builder's skill documentation (payload version 2.0).
KAKAO_EXAMPLE = {
    "intent": {"id": "5a56ec0008cc1461d75291f6", "name": "블록 이름"},
    "userRequest": {
        "timezone": "Asia/Seoul",
        "params": {"ignoreMe": "true"},
        "block": {"id": "5a56ec0008cc1461d75291f6", "name": "블록 이름"},
        "utterance": "오늘 좀 우울해",
        "lang": None,
        "user": {"id": "a1f2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3",
                 "type": "accountId", "properties": {}},
    },
    "bot": {"id": "5a548e36aea1a43fa851ecd9", "name": "봇 이름"},
    "action": {"name": "스킬 이름", "clientExtra": None, "params": {},
               "id": "5a56ebaa211ee046633e958d", "detailParams": {}},
}


def test_a_kakao_skill_call_gets_a_skill_response_and_keeps_the_users_context(client, service):
    answer = client.post("/kakao/skill", json=KAKAO_EXAMPLE).json()
    assert answer == {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": "ok"}}]}}
    client.post("/kakao/skill", json=KAKAO_EXAMPLE)
    user = KAKAO_EXAMPLE["userRequest"]["user"]["id"]
    assert [t.turn_index for t in service.store.turns(f"kakao:{user}")] == [0, 1]


@pytest.mark.parametrize("payload", [
    {},
    {"userRequest": {"utterance": "안녕"}},
    {"userRequest": {"utterance": 5, "user": {"id": "u1"}}},
    {"userRequest": {"utterance": "안녕", "user": {"id": ""}}},
    {"userRequest": {"utterance": "안녕", "user": {"id": "u" * 2000}}},
    {"userRequest": "안녕"},
    [],
])
def test_a_malformed_kakao_payload_is_a_problem(client, service, payload):
    _is_problem(client.post("/kakao/skill", json=payload), 422)
    assert service.store.count() == 0


def test_skill_responses_keep_to_kakaos_limits():
    suggestions = [f"아주 긴 추천 질문 번호 {n}번입니다" for n in range(12)]
    response = skill_response("가" * 1500, suggestions)
    assert len(response["template"]["outputs"][0]["simpleText"]["text"]) == 1000
    quick = response["template"]["quickReplies"]
    assert len(quick) == 10 and all(len(q["label"]) <= MAX_LABEL for q in quick)
    assert quick[0] == {"label": "아주 긴 추천 질문 번호…", "action": "message",
                        "messageText": suggestions[0]}


class _Slow(Plugin):
    """Answers "늦었지만 답" after a second."""

    name = "test.slow"
    assigns = ("reply",)

    def process(self, messages: list[Message]) -> list[Message]:
        time.sleep(1.0)
        for message in messages:
            message.reply = "늦었지만 답"
        return messages


def test_a_late_kakao_reply_is_one_moment_and_the_turn_is_still_logged(tmp_path):
    slow = Pipeline(PipelineSpec(steps=[Step(_Slow, PluginConfig())]))
    chat = ChatService(slow, LogStore(tmp_path / "log.sqlite"), "slow@1")
    try:
        with serving(chat, kakao_budget_s=0.2) as client:
            started = time.monotonic()
            answer = client.post("/kakao/skill", json=KAKAO_EXAMPLE).json()
            assert time.monotonic() - started < 0.9
            assert answer["template"]["outputs"][0]["simpleText"]["text"] == STILL_THINKING
            deadline = time.monotonic() + 5
            while chat.store.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert chat.store.turns()[0].bot_reply == "늦었지만 답"
            assert 'chatbot_late_replies_total{channel="kakao"} 1.0' in client.get(
                "/metrics").text
    finally:
        chat.close()


# -- probes and metrics ----------------------------------------------------------------------

def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"] == "test@1"
    client.post("/api/v1/chat", json={"message": "안녕"})
    client.post("/api/v1/chat", json={"message": ""})
    client.post("/api/v1/chat", json={"message": "bad"})
    client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "안녕"})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for line in ('chatbot_turns_total{channel="rest"} 1.0',
                 'chatbot_turns_total{channel="rasa"} 1.0',
                 'chatbot_refused_messages_total{channel="rest"} 1.0',
                 'chatbot_failed_messages_total{channel="rest"} 1.0',
                 'chatbot_turn_latency_seconds_count{channel="rest"} 3.0',
                 "chatbot_batch_size_count 2.0"):
        assert line in text


def test_not_ready_while_the_log_store_cannot_take_writes(tmp_path):
    path = tmp_path / "log.sqlite"
    chat = ChatService(fails_on("bad"), LogStore(path, busy_timeout_s=0.2), "test@1")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with serving(chat) as client:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
            body = client.get("/readyz")
            assert body.status_code == 503 and "not writable" in body.json()["log_store"]
            other.execute("ROLLBACK")
            assert client.get("/readyz").status_code == 200
    finally:
        other.close()
        chat.close()


@pytest.mark.slow
def test_the_chat_ui_is_mounted_beside_the_api(service):
    with serving(service, ui=True) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert client.post("/api/v1/chat", json={"message": "안녕"}).json()["reply"] == "ok"
        assert client.post("/gradio_api/upload", files={"files": b"x"}).status_code == 403
