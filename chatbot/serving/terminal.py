"""The terminal chat: type a message, read the reply; ``/trace`` shows how it was chosen.

Line editing and history come from the standard library's ``readline`` when the input is a
terminal (the history is kept in a file between sessions). Turns are logged like the web UI's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from chatbot.serving.service import ChatService
from chatbot.trace import format_trace

logger = logging.getLogger(__name__)

HELP = ("명령: /trace 처리 과정 보기 켜기·끄기 · /new 새 대화 · /help 도움말 · /quit 끝내기 "
        "(Ctrl-D도 돼요)")
PROMPT = "나> "
HISTORY_LENGTH = 1000


@contextlib.contextmanager
def line_history(path: Path | None):
    """Arrow-key editing and a persistent history for ``input()``, where readline exists."""
    try:
        import readline
    except ImportError:  # not on every platform; plain input() still works
        yield
        return
    if path is not None and path.is_file():
        with contextlib.suppress(OSError):
            readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(path)


def run_terminal_chat(service: ChatService, out: TextIO, read: Callable[[str], str] = input,
                      show_trace: bool = False, history_file: Path | None = None) -> int:
    """Chat until ``/quit`` or end of input; returns the number of turns answered."""
    conversation = service.new_conversation()
    answered = 0
    out.write(f"한국어 챗봇 ({service.version}). {HELP}\n")
    with line_history(history_file):
        while True:
            try:
                line = read(PROMPT).strip()
            except EOFError:
                out.write("\n")
                break
            if not line:
                continue
            if line in ("/quit", "/exit", "/q"):
                break
            if line == "/help":
                out.write(HELP + "\n")
                continue
            if line == "/trace":
                show_trace = not show_trace
                out.write(f"trace {'켜짐' if show_trace else '꺼짐'}\n")
                continue
            if line == "/new":
                conversation = service.new_conversation()
                out.write("새 대화를 시작해요.\n")
                continue
            reply = service.respond(line, conversation)
            out.write(f"봇> {reply.text}\n")
            if reply.message is not None and reply.message.suggestions:
                out.write("    이렇게 물어볼 수 있어요: "
                          + " / ".join(reply.message.suggestions) + "\n")
            if show_trace and reply.message is not None:
                out.write(format_trace(reply.message) + "\n")
            answered += reply.turn_index is not None
            out.flush()
    out.write(f"대화 {answered}턴을 기록했어요. 안녕히 가세요!\n")
    return answered
