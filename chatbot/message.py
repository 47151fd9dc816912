"""The objects that flow through the pipeline: Message, Token, Prediction.

A Message starts with the user's text; every plugin fills in the fields it ``assigns``. What a
message holds at the end is the trace of the run: the UI, the CLI and evaluation all read it, and
:meth:`Message.to_dict` is its stable JSON form (docs/architecture.md, "One message").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

# Fields a plugin may name in ``requires`` / ``assigns``.
MESSAGE_FIELDS = (
    "text",
    "history",
    "normalized",
    "sentences",
    "spaced",
    "tokens",
    "vector",
    "intent",
    "spam",
    "reply",
    "suggestions",
)
# What the front end fills in before the first step: no plugin assigns these.
INPUT_FIELDS = ("text", "history")
# Turns of the conversation so far that a message carries (the most recent ones).
MAX_HISTORY = 3


@dataclass(frozen=True)
class Exchange:
    """One earlier turn of the conversation: what the user said and what the bot replied."""

    user: str
    bot: str

    def to_dict(self) -> dict[str, str]:
        return {"user": self.user, "bot": self.bot}


@dataclass
class Token:
    """One morpheme or subword.

    Attributes:
        surface: the form as it appears in the text.
        lemma: the dictionary / normalized form (the surface where the tokenizer has none).
        tag: a coarse tag shared by every tokenizer (see ``chatbot_plugins.tokenize.tagsets``).
        pos: the tokenizer's own fine-grained tag (``NNG``, ``Josa``, ...).
        kept: False once stopword removal drops the token.
    """

    surface: str
    lemma: str
    tag: str
    pos: str = ""
    kept: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "surface": self.surface,
            "lemma": self.lemma,
            "tag": self.tag,
            "pos": self.pos,
            "kept": self.kept,
        }


@dataclass
class Prediction:
    """A classifier's answer: a label and how sure it is (0..1)."""

    label: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 4)}


@dataclass
class Message:
    """A user message and everything the pipeline learns about it.

    ``history`` is the conversation so far, oldest first (at most :data:`MAX_HISTORY` turns;
    empty for a first message or a message processed alone), filled by the front end.
    ``suggestions`` are messages the user could send next, offered when the bot could not
    help (the web UI shows them as clickable examples).
    ``extras`` holds the data plugins pass on besides these fields, each key with a declared
    payload type (``chatbot.contract``; they appear in the JSON trace);
    ``notes`` holds a short human-readable line per plugin (why a responder declined, which
    backend ran); ``timings_ms`` the time each plugin spent on this message.
    """

    text: str
    history: list[Exchange] = field(default_factory=list)
    normalized: str | None = None
    sentences: list[str] | None = None
    spaced: str | None = None
    tokens: list[Token] | None = None
    vector: list[float] | None = None
    intent: Prediction | None = None
    spam: Prediction | None = None
    reply: str | None = None
    responder: str | None = None
    reply_confidence: float | None = None
    suggestions: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def earlier_replies(self) -> set[str]:
        """What the bot already said in the remembered turns: a reply never says it again."""
        return {exchange.bot for exchange in self.history}

    @property
    def current_text(self) -> str:
        """The most processed form of the whole text so far: spaced, normalized, or raw."""
        for candidate in (self.spaced, self.normalized):
            if candidate is not None:
                return candidate
        return self.text

    @property
    def current_sentences(self) -> list[str]:
        """The sentences if a splitter ran, else the whole current text as one sentence."""
        if self.sentences is not None:
            return self.sentences
        text = self.normalized if self.normalized is not None else self.text
        return [text] if text.strip() else []

    def kept_tokens(self) -> list[Token]:
        """Tokens that survived stopword removal (all tokens if none ran)."""
        return [token for token in self.tokens or [] if token.kept]

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON trace. Keys of stages that did not run are left out."""
        out: dict[str, Any] = {"text": self.text}
        if self.history:
            out["history"] = [exchange.to_dict() for exchange in self.history]
        if self.normalized is not None:
            out["normalized"] = self.normalized
        if self.sentences is not None:
            out["sentences"] = list(self.sentences)
        if self.spaced is not None:
            out["spaced"] = self.spaced
        if self.tokens is not None:
            out["tokens"] = [token.to_dict() for token in self.tokens]
        if self.intent is not None:
            out["intent"] = self.intent.to_dict()
        if self.spam is not None:
            out["spam"] = {"label": self.spam.label, "score": round(self.spam.confidence, 4)}
        if self.reply is not None:
            out["reply"] = self.reply
            out["responder"] = self.responder
            if self.reply_confidence is not None:
                out["reply_confidence"] = round(self.reply_confidence, 4)
        if self.suggestions:
            out["suggestions"] = list(self.suggestions)
        if self.notes:
            out["notes"] = dict(self.notes)
        out["timings_ms"] = {name: round(ms, 3) for name, ms in self.timings_ms.items()}
        for key, value in self.extras.items():
            out.setdefault(key, _plain(value))
        return out


def _plain(value: Any) -> Any:
    """An extras payload as JSON values: dataclasses (also inside lists) become objects."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
