"""The web UI in a real browser (Debian's Chromium driven by Playwright) and the `chat` API
through gradio_client, against a server on 127.0.0.1.

The screenshot is kept as a test artifact: test-artifacts/serve.png (or $CHATBOT_ARTIFACTS).
Without Chromium the browser test is skipped, except in CI, where .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatbot.data.logstore import LogStore
from chatbot.pipeline import Pipeline
from chatbot.serving.service import ChatService, model_version
from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
ARTIFACTS = Path(os.environ.get("CHATBOT_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "test-artifacts"))

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    service: ChatService


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(small_bot_dir, tmp_path_factory):
    """`chatbot serve`'s app (the UI mounted beside the API) on a free loopback port; the
    seq2seq step may answer anything, so that a written reply (and its attention heatmap)
    shows up."""
    pipeline = Pipeline.load(small_bot_dir)
    seq2seq = next(p for p in pipeline.plugins if p.name == "respond.seq2seq")
    seq2seq.config = seq2seq.config.model_copy(update={"threshold": 0.0})
    store = LogStore(tmp_path_factory.mktemp("serve") / "log.sqlite")
    service = ChatService(pipeline, store, model_version(small_bot_dir))
    with serving(service, ui=True) as client:
        yield Server(f"{client.base_url}/", service)
    service.close()


def test_chat_api_answers_through_gradio_client(server):
    from gradio_client import Client

    url, service = server.url, server.service
    client = Client(url, verbose=False)
    first = client.predict("안녕하세요", "", api_name="/chat")
    assert first["reply"] and first["responder"] and first["turn_index"] == 0
    second = client.predict("고마워요", first["conversation_id"], api_name="/chat")
    assert second["turn_index"] == 1 and second["conversation_id"] == first["conversation_id"]
    refused = client.predict("가" * 5000, "", api_name="/chat")
    assert refused["refused"] and "5,000자" in refused["reply"]
    assert [t.user_text for t in service.store.turns(first["conversation_id"])] == [
        "안녕하세요", "고마워요"]


def test_the_upload_route_takes_no_file(server, tmp_path):
    import httpx

    url = server.url
    for size in (0, 1, 50_000_000):
        response = httpx.post(f"{url}gradio_api/upload", timeout=30,
                              files={"files": ("big.bin", b"x" * size)})
        assert response.status_code == 403, (size, response.text[:200])
        assert "/" not in response.text  # no server path handed back


def test_the_chat_api_refuses_an_unbounded_conversation_id(server):
    from gradio_client import Client

    url, service = server.url, server.service
    before = service.store.count()
    with pytest.raises(Exception, match="conversation_id"):
        Client(url, verbose=False).predict("안녕하세요", "x" * 1_000_000, api_name="/chat")
    assert service.store.count() == before


def test_a_person_chats_in_the_browser(server):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no Chromium here (Debian: apt-get install chromium fonts-nanum)")
    from playwright.sync_api import expect, sync_playwright

    url, service = server.url, server.service
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
        page.goto(url, wait_until="load")
        box = page.locator("#message textarea")
        box.wait_for(timeout=30_000)
        chat, trace = page.locator("#chat"), page.locator("#trace")

        box.fill("안녕하세요")
        box.press("Enter")
        expect(trace).to_contain_text("안녕하세요", timeout=20_000)
        expect(trace.locator("tr:has(th:text-is('reply'))")).to_be_visible()
        greeting = _latest(service.store, "안녕하세요")
        expect(chat).to_contain_text(greeting.bot_reply)

        question = "<b>굵게</b> 칼슘 이온 채널의 구조 설명 좀"
        box.fill(question)
        page.locator("#send").click()
        expect(trace).to_contain_text(question, timeout=20_000)  # the new turn's trace
        expect(trace.locator("tr:has(th:text-is('reply'))")).to_contain_text("respond.seq2seq")
        expect(chat).to_contain_text(question)  # shown as typed: escaped, not bold
        assert chat.locator("b").count() == 0 and trace.locator("b").count() == 0
        expect(page.locator("#attention img")).to_be_visible(timeout=20_000)  # the heatmap
        expect(page.locator("#attention-note")).to_contain_text("respond.seq2seq")  # when
        for stage in ("morphemes", "intent", "respond.retrieval", "time (ms)"):
            expect(trace).to_contain_text(stage)

        # When nothing fits, the fallback's suggestions show as buttons; one click sends one.
        _only_the_helpful_fallback(service.pipeline)
        box.fill("음 그러니까 그게 말이야")
        box.press("Enter")
        suggestions = page.locator("#suggestions")
        expect(suggestions).to_be_visible(timeout=20_000)
        offered = _latest(service.store, "음 그러니까 그게 말이야").trace["suggestions"]
        expect(suggestions).to_contain_text(offered[0])
        suggestions.get_by_text(offered[0], exact=True).click()
        expect(trace).to_contain_text(offered[0], timeout=20_000)  # it was sent as a message
        expect(chat).to_contain_text(offered[0])

        # Gradio labels the rating buttons in the browser's language.
        page.locator("#chat button:is([aria-label='좋아요'], [aria-label='Like'])").first.click()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve.png"), full_page=True)

        # On a phone's width the times wrap over several lines, between names only.
        page.set_viewport_size({"width": 480, "height": 1000})
        timings = trace.locator("tr:has(th:text-is('time (ms)')) .item")
        tops = timings.evaluate_all("items => items.map(i => i.getBoundingClientRect().top)")
        heights = timings.evaluate_all(
            "items => items.map(i => i.getBoundingClientRect().height)")
        assert len(set(tops)) > 1, "the times should need more than one line here"
        assert max(heights) < 1.5 * min(heights), heights  # no name was cut over two lines
        browser.close()

    turns = service.store.turns(greeting.conversation_id)
    assert [t.user_text for t in turns] == ["안녕하세요", question, "음 그러니까 그게 말이야",
                                            offered[0]]
    assert turns[1].trace["responder"] == "respond.seq2seq"
    assert turns[2].trace["responder"] == "fallback.helpful"
    assert turns[3].trace["history"][-1]["user"] == "음 그러니까 그게 말이야"  # remembered
    _wait_for(lambda: service.store.turns(greeting.conversation_id)[0].feedback == 1)


def _only_the_helpful_fallback(pipeline: Pipeline) -> None:
    """From now on the generators decline everything and leave it to fallback.helpful."""
    for plugin in pipeline.plugins:
        if plugin.name == "respond.seq2seq":
            plugin.config = plugin.config.model_copy(update={"threshold": 1.0})
        if plugin.name == "fallback.lm":
            plugin.config = plugin.config.model_copy(
                update={"threshold": 1.0, "canned_reply": None})


def _latest(store: LogStore, text: str):
    return max((t for t in store.turns() if t.user_text == text), key=lambda t: t.timestamp)


def _wait_for(condition, seconds: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the like never reached the dialog log"
        time.sleep(0.1)


def test_a_killed_server_has_logged_every_reply_it_gave(small_bot_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from gradio_client import Client

    port, log = _free_port(), tmp_path / "log.sqlite"
    server = subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", "serve", "--model", str(small_bot_dir),
         "--port", str(port), "--log-db", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False",
             "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 120
        while True:  # until the server answers on its port
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "the server did not start in 2 minutes"
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                time.sleep(1)
        replies = [client.predict(text, "", api_name="/chat")["reply"]
                   for text in ("안녕하세요", "배고파", "고마워")]
    finally:
        server.send_signal(signal.SIGKILL)  # no clean shutdown, no chance to flush anything
        server.wait(timeout=30)
    assert [t.bot_reply for t in sorted(LogStore(log).turns(), key=lambda t: t.timestamp)] \
        == replies
    printed = server.stdout.read()
    assert f"chat UI at http://127.0.0.1:{port}/" in printed
    assert "share=True" not in printed  # Gradio's advice, which `chatbot serve` cannot take
