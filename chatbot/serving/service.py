"""The chat service: one message in, one logged turn out. The web UI, its API and the terminal
chat are thin adapters over :class:`ChatService`.

A turn is written to the dialog-log store (its own committed transaction) before its reply is
returned, so a server killed at any moment has logged every reply it gave.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from chatbot.data.dialog_log import Turn, utc_now
from chatbot.data.logstore import LogStore
from chatbot.errors import InputError
from chatbot.message import MAX_HISTORY, Exchange, Message
from chatbot.pipeline import Failure, Pipeline
from chatbot.serving.batcher import Batcher
from chatbot.text_input import MAX_MESSAGE_CHARS, prepare_text

logger = logging.getLogger(__name__)

FAILURE_NOTICE = "알림: 죄송해요, 이 메시지를 처리하다가 문제가 생겼어요. 다른 말로 다시 해 주세요."
# A conversation id comes from outside (the API, a messenger's user id): it is bounded and plain
# before it is stored or kept in memory.
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_.:@+-]{1,128}")
# Conversations whose next turn index and last turns are kept in memory; the least recently
# used beyond this, and any idle for longer than IDLE_S, are forgotten (the store still knows
# their turns, and a conversation that comes back is read from it).
MAX_ACTIVE_CONVERSATIONS = 10_000
IDLE_S = 3600.0


@dataclass
class _Conversation:
    """What the service remembers of an active conversation."""

    next_index: int
    history: deque[Exchange]  # its last MAX_HISTORY turns
    last_used: float


def conversation_key(channel: str, user_id: str) -> str:
    """The conversation id of a user whom a channel knows by ``user_id`` (a messenger's user
    key, a Rasa sender): ``channel:user_id`` when that is a valid id, else the channel and a
    hash of the user id, so that any id from outside maps to one bounded, plain conversation."""
    plain = f"{channel}:{user_id}"
    if CONVERSATION_ID.fullmatch(plain):
        return plain
    return f"{channel}:{hashlib.sha256(user_id.encode('utf-8', 'replace')).hexdigest()[:40]}"


def default_log_db() -> Path:
    """``$CHATBOT_LOG_DB``, else ``$XDG_DATA_HOME`` (or ~/.local/share)/korean-chatbot/
    dialog-log.sqlite."""
    if os.environ.get("CHATBOT_LOG_DB"):
        return Path(os.environ["CHATBOT_LOG_DB"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "korean-chatbot" / "dialog-log.sqlite"


def model_version(directory: str | Path) -> str:
    """A short name for a trained pipeline that changes whenever it is retrained: the folder's
    name and a hash of its manifest (which records when it was made)."""
    directory = Path(directory)
    digest = hashlib.sha256((directory / "manifest.json").read_bytes()).hexdigest()[:8]
    return f"{directory.name}@{digest}"


@dataclass
class Reply:
    """What a front end shows for one message.

    Attributes:
        text: the reply, or a friendly notice when the message was refused.
        message: the processed message (its trace), None when the input was refused.
        conversation_id: the conversation the turn belongs to.
        turn_index: the turn's index in the log, None when nothing was logged.
        latency_ms: time from receiving the message to having its reply.
        failed: the pipeline failed on the message (``text`` is an apology); a refused
            message (empty, too long) is not a failure.
    """

    text: str
    message: Message | None
    conversation_id: str
    turn_index: int | None
    latency_ms: float
    failed: bool = False

    @property
    def refused(self) -> bool:
        return self.message is None

    @property
    def suggestions(self) -> list[str]:
        """What to ask instead, when the bot could not help (none for a refused message)."""
        return list(self.message.suggestions) if self.message is not None else []


class ChatService:
    """Answers messages through a batched pipeline and logs every turn.

    Args:
        pipeline: the loaded pipeline.
        store: where turns are logged.
        version: the model version recorded with each turn (see :func:`model_version`).
        max_batch: most messages processed together (1: no batching).
        max_chars: longest message accepted; longer ones get a notice, not an error.
    """

    def __init__(self, pipeline: Pipeline, store: LogStore, version: str,
                 max_batch: int = 32, max_chars: int = MAX_MESSAGE_CHARS) -> None:
        self.pipeline = pipeline
        self.store = store
        self.version = version
        self.max_chars = max_chars
        self.batcher = Batcher(pipeline, max_batch=max_batch, max_chars=max_chars)
        # conversation id -> what is remembered of it, least recently used first
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def new_conversation() -> str:
        return uuid.uuid4().hex

    @staticmethod
    def check_conversation_id(conversation_id: str) -> str:
        """The id as given, or an InputError if it is not 1-128 plain characters."""
        if not isinstance(conversation_id, str) or not CONVERSATION_ID.fullmatch(conversation_id):
            shown = repr(conversation_id)[:40]
            raise InputError(
                f"conversation_id {shown} is not valid: it must be 1 to 128 characters of "
                "A-Z, a-z, 0-9 and _ . : @ + -",
                hint="pass back the conversation_id of an earlier reply, or none for a new one",
            )
        return conversation_id

    def respond(self, text: str, conversation_id: str | None = None) -> Reply:
        """Answer one message, in the context of the conversation's last turns, and log the
        turn; a refused message gets a notice instead.

        Raises:
            InputError: ``conversation_id`` is not a valid id (see :meth:`check_conversation_id`).
        """
        if conversation_id:
            self.check_conversation_id(conversation_id)
        conversation_id = conversation_id or self.new_conversation()
        started = time.perf_counter()
        try:
            text = prepare_text(text, self.max_chars)
        except InputError:
            return Reply(self._notice(text), None, conversation_id, None,
                         (time.perf_counter() - started) * 1000)
        timestamp = utc_now()
        history = self.history(conversation_id)
        try:
            message = self.batcher.process(text, history)
        except Exception:  # logged by the batcher; the user gets an apology, the server lives
            message = Failure("the batcher failed")
        if isinstance(message, Failure):  # logged where it failed
            return Reply(FAILURE_NOTICE, None, conversation_id, None,
                         (time.perf_counter() - started) * 1000, failed=True)
        latency_ms = (time.perf_counter() - started) * 1000
        turn_index = self._claim_index(conversation_id, Exchange(text, message.reply or ""))
        self.store.append(Turn(
            conversation_id=conversation_id, turn_index=turn_index, timestamp=timestamp,
            user_text=text, bot_reply=message.reply, model_version=self.version,
            latency_ms=round(latency_ms, 3), trace=message.to_dict()))
        return Reply(message.reply or "", message, conversation_id, turn_index, latency_ms)

    def feedback(self, conversation_id: str, turn_index: int, value: int | None) -> None:
        """Record a like (+1), a dislike (-1) or its removal (None) on a logged turn."""
        self.store.set_feedback(conversation_id, turn_index, value)

    def close(self) -> None:
        self.batcher.close()
        self.store.close()

    def _notice(self, text: str) -> str:
        """Why a message was refused, for the person who typed it."""
        if not text.strip():
            return "알림: 메시지가 비어 있어요. 하고 싶은 말을 적어 주세요."
        if len(text) > self.max_chars:
            return (f"알림: 메시지가 너무 길어요 ({len(text):,}자). "
                    f"{self.max_chars:,}자 이하로 나눠서 보내 주세요.")
        return "알림: 읽을 수 없는 문자가 많은 메시지예요. 일반 텍스트로 보내 주세요."

    def history(self, conversation_id: str) -> list[Exchange]:
        """The conversation's last turns (at most MAX_HISTORY), oldest first: from memory, or
        from the store for a conversation the service has not seen since it started."""
        now = time.monotonic()
        with self._lock:
            history = list(self._remembered(conversation_id, now).history)
            self._forget_idle(now)  # also when the message then fails: memory stays bounded
            return history

    def _claim_index(self, conversation_id: str, exchange: Exchange) -> int:
        # Indices continue a conversation already in the store (a restarted server, a
        # resumed terminal chat) and never repeat under concurrent requests.
        now = time.monotonic()
        with self._lock:
            conversation = self._remembered(conversation_id, now)
            index = conversation.next_index
            conversation.next_index += 1
            conversation.history.append(exchange)
            self._forget_idle(now)
            return index

    def _remembered(self, conversation_id: str, now: float) -> _Conversation:
        """The conversation's memory, most recently used now (call with the lock held)."""
        conversation = self._conversations.pop(conversation_id, None)
        if conversation is None:
            turns = self.store.last_turns(conversation_id, MAX_HISTORY)
            conversation = _Conversation(
                next_index=turns[-1].turn_index + 1 if turns else 0,
                history=deque((Exchange(t.user_text, t.bot_reply or "") for t in turns),
                              maxlen=MAX_HISTORY),
                last_used=now)
        conversation.last_used = now
        self._conversations[conversation_id] = conversation
        return conversation

    def _forget_idle(self, now: float) -> None:
        # Oldest first: stop at the first conversation that is recent and within the cap.
        while self._conversations:
            oldest_id, oldest = next(iter(self._conversations.items()))
            if (now - oldest.last_used <= IDLE_S
                    and len(self._conversations) <= MAX_ACTIVE_CONVERSATIONS):
                break
            del self._conversations[oldest_id]
