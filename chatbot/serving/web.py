"""The Gradio chat UI and its ``chat`` API: a thin adapter over :class:`ChatService`.

Importing this module builds nothing and starts nothing; :func:`build_app` makes the Blocks,
:func:`mount_ui` mounts them into ``chatbot serve``'s app (chatbot.serving.http). Gradio is
told to stay offline before it is imported.
"""

from __future__ import annotations

import os

# No calls to the internet: no usage analytics, no model hub look-ups.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

import html  # noqa: E402
import time  # noqa: E402
from collections.abc import Collection, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402

from chatbot.contract import AttentionMap  # noqa: E402
from chatbot.errors import InputError  # noqa: E402
from chatbot.message import Message  # noqa: E402
from chatbot.serving.service import ChatService, Reply  # noqa: E402
from chatbot.serving.trace_view import EMPTY_TRACE, attention_figure, trace_html  # noqa: E402

EXAMPLES = [
    "안녕하세요! 반가워요",
    "오늘 너무 우울해 위로 좀 해줘",
    "너는 누구야?",
    "도와줘서 정말 고마워",
    "지금 바로 대출 가능!! 무료 상담 클릭",
]
MAX_THREADS = 128
# The chat takes no files, but Gradio serves an upload route on every app: the route is closed
# (_NoUploads) and, should another path reach the upload code, no file may have a byte.
UPLOAD_ROUTE = "/gradio_api/upload"
MAX_UPLOAD_BYTES = 0
STREAM_CHARS = 3  # characters added per streamed update
STREAM_DELAY_S = 0.02
CSS = """
.trace { width: 100%; border-collapse: collapse; font-size: 0.9em; }
.trace th { text-align: left; vertical-align: top; padding: 4px 8px; white-space: nowrap;
            color: var(--body-text-color-subdued); font-weight: 600; }
.trace td { padding: 4px 8px; overflow-wrap: anywhere; }
.trace tr { border-bottom: 1px solid var(--border-color-primary); }
.trace .item { display: inline-block; white-space: nowrap; margin-bottom: 2px; }
.trace .item sub { color: var(--body-text-color-subdued); font-size: 0.75em; }
"""
# The extras key of an attention map; the steps whose contract assigns it write heatmaps.
ATTENTION = "extras.attention"


class _NoUploads:
    """ASGI middleware: Gradio's upload route answers 403 before any of the body is read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/").endswith(UPLOAD_ROUTE):
            response = PlainTextResponse("this chat takes no file uploads", status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _new_conversation(service: ChatService) -> dict[str, Any]:
    # "turns" maps the chat's message positions to logged turn indices, for like/dislike.
    return {"id": service.new_conversation(), "turns": {}}


def attention_to_show(message: Message | None,
                      writers: Collection[str]) -> AttentionMap | None:
    """The attention map to draw for a reply: the one its responder wrote, if that responder
    is one of ``writers`` (the steps whose contract assigns ``extras.attention``), else None."""
    if message is None or message.responder not in writers:
        return None
    return message.extras.get("attention")


def heatmap_note(writers: Collection[str]) -> str | None:
    """What the page says about the heatmap: when it fills; None when no step writes one
    (the heatmap is then hidden)."""
    if not writers:
        return None
    return (f"아래 어텐션 히트맵은 {', '.join(writers)} 단계가 쓴 답일 때 채워져요: 답의 각 "
            "조각(세로)이 질문의 어느 조각(가로)을 보고 쓰였는지 보여 줘요.")


def suggestions_update(reply: Reply) -> Any:
    """The suggestion buttons after a reply: the ones it came with, hidden when none."""
    offered = reply.suggestions
    return gr.Dataset(samples=[[text] for text in offered], visible=bool(offered))


def build_app(service: ChatService, title: str = "한국어 챗봇") -> gr.Blocks:
    """The chat page: conversation, examples and clear on the left; the last turn's trace and,
    when a step of the pipeline writes attention maps, the heatmap on the right. Also the
    ``chat`` endpoint for programs."""
    writers = service.pipeline.writers_of(ATTENTION)
    note = heatmap_note(writers)

    def submit(text: str, history: list[dict], state: dict | None) -> Iterator[tuple]:
        state = state or _new_conversation(service)
        if not text.strip():  # Enter on an empty box: nothing to say, nothing to log
            yield "", history, state, gr.skip(), gr.skip(), gr.skip()
            return
        history = [*history, {"role": "user", "content": html.escape(text)}]
        yield "", history, state, gr.skip(), gr.skip(), gr.skip()
        reply = service.respond(text, state["id"])
        history.append({"role": "assistant", "content": ""})
        if reply.turn_index is not None:
            state["turns"][str(len(history) - 1)] = reply.turn_index
        for end in range(STREAM_CHARS, len(reply.text) + STREAM_CHARS, STREAM_CHARS):
            history[-1] = {"role": "assistant", "content": html.escape(reply.text[:end])}
            yield "", history, state, gr.skip(), gr.skip(), gr.skip()
            time.sleep(STREAM_DELAY_S)
        attention = attention_to_show(reply.message, writers)
        yield ("", history, state, trace_html(reply.message), attention_figure(attention),
               suggestions_update(reply))

    def like(state: dict | None, data: gr.LikeData) -> None:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        turn = (state or {}).get("turns", {}).get(str(index))
        if turn is None:  # a refused message: nothing was logged, nothing to rate
            return
        value = {True: 1, False: -1}.get(data.liked) if isinstance(data.liked, bool) else None
        service.feedback(state["id"], turn, value)

    def clear() -> tuple:
        return [], _new_conversation(service), EMPTY_TRACE, None, gr.Dataset(visible=False)

    def pick(sample: list[str]) -> str:
        return sample[0]  # a suggestion clicked: it becomes the message, sent at once

    def chat(message: str, conversation_id: str = "") -> dict:
        """Send one message; returns the reply, the responder that gave it, its confidence,
        suggestions of what to ask next (when the bot could not help), and the
        conversation_id to pass with the next message (a new one when empty). Messages with
        the same conversation_id are answered in the context of the turns before them."""
        try:
            reply = service.respond(message, conversation_id or None)
        except InputError as error:  # a bad conversation_id: the caller is told why
            raise gr.Error(error.message) from None
        answered = reply.message
        return {"reply": reply.text, "conversation_id": reply.conversation_id,
                "turn_index": reply.turn_index, "refused": reply.refused,
                "responder": answered.responder if answered else None,
                "confidence": answered.reply_confidence if answered else None,
                "suggestions": reply.suggestions,
                "latency_ms": round(reply.latency_ms, 1)}

    with gr.Blocks(title=title) as app:
        state = gr.State(None)
        gr.Markdown(f"## {title}\n메시지를 보내면 오른쪽에 봇이 어떻게 답을 골랐는지 보여 줘요. "
                    "답 아래의 좋아요·싫어요 버튼으로 평가해 주세요.")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="대화", height=460, elem_id="chat",
                                     render_markdown=False, sanitize_html=True)
                box = gr.Textbox(placeholder="메시지를 입력하고 Enter", show_label=False,
                                 elem_id="message", autofocus=True)
                with gr.Row():
                    send = gr.Button("보내기", variant="primary", elem_id="send")
                    clear_button = gr.Button("대화 지우기", elem_id="clear")
                suggestions = gr.Dataset(components=[box], samples=[], visible=False,
                                         label="이렇게 물어보세요", elem_id="suggestions")
                gr.Examples(EXAMPLES, inputs=box, label="예시")
            with gr.Column(scale=2):
                gr.Markdown("### 마지막 메시지의 처리 과정 (trace)")
                if note:  # said above the trace: the heatmap sits below it, out of sight
                    gr.HTML(f"<p>{html.escape(note)}</p>", elem_id="attention-note")
                trace = gr.HTML(EMPTY_TRACE, elem_id="trace")
                heatmap = gr.Plot(label=f"어텐션 히트맵 ({', '.join(writers)})",
                                  elem_id="attention", visible=bool(writers))
        outputs = [box, chatbot, state, trace, heatmap, suggestions]
        for event in (box.submit, send.click):
            event(submit, [box, chatbot, state], outputs, api_visibility="private",
                  concurrency_limit=None)
        suggestions.click(pick, [suggestions], [box], api_visibility="private").then(
            submit, [box, chatbot, state], outputs, api_visibility="private",
            concurrency_limit=None)
        chatbot.like(like, [state], None, api_visibility="private")
        clear_button.click(clear, None, [chatbot, state, trace, heatmap, suggestions],
                           api_visibility="private")
        chatbot.clear(lambda: clear()[1:], None, [state, trace, heatmap, suggestions],
                      api_visibility="private")  # the chat's own trash icon
        gr.api(chat, api_name="chat", concurrency_limit=None)
    return app


def mount_ui(app: Any, service: ChatService) -> None:
    """Mount the UI (and the ``chat`` API of Gradio's queue) at ``/`` of a FastAPI ``app``,
    after the app's own routes, as ``chatbot serve`` does."""
    blocks = build_app(service)
    blocks.queue(default_concurrency_limit=None)
    # Each waiting user holds a worker thread while the batcher answers; Gradio's default of
    # 40 would make the 41st user wait for a free thread rather than join the next batch.
    blocks.max_threads = MAX_THREADS
    app.add_middleware(_NoUploads)
    gr.mount_gradio_app(app, blocks, path="/", footer_links=["api"], show_error=False,
                        max_file_size=MAX_UPLOAD_BYTES, css=CSS)
