"""What flows between plugins: the names a plugin reads and writes, and the typed extras.

A plugin's contract names what it reads (``requires``) and writes (``assigns``): Message
fields (``tokens``, ``intent``, ``reply``) and declared extras (``extras.retrieval``,
``extras.attention``). It may depend on the plugin's settings (``respond.retrieval`` with
``method: hybrid`` reads ``vector``), and it may ``need`` a capability of an earlier step
(:mod:`chatbot.capabilities`). ``chatbot validate`` checks the whole pipeline against the
contracts before anything trains; the contract kit (:mod:`chatbot.testing`) checks that a
plugin does what its contract says.

Extras are the data plugins pass on besides the Message fields. Each key has a declared
payload type: the built-in ones are in :data:`EXTRAS`; a third-party plugin declares its own in
its ``extras`` class attribute. Payloads are dataclasses (or JSON values), so the JSON trace
shows them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatbot.message import MESSAGE_FIELDS

EXTRAS_PREFIX = "extras."


@dataclass
class RetrievalCandidate:
    """One of the nearest training questions and the answer it would give."""

    question: str
    answer: str
    similarity: float  # cosine similarity of the message to ``question``, 0..1
    intent: str | None = None  # the question's intent in the corpus, when it has one


@dataclass
class RetrievalMatch:
    """What ``respond.retrieval`` found: the nearest question and the candidates after it
    (for a later responder to rerank)."""

    question: str
    similarity: float
    candidates: list[RetrievalCandidate]


@dataclass
class AttentionMap:
    """A generated reply's attention: ``weights[i][j]`` is how much reply piece ``i`` looked at
    source piece ``j``."""

    source: list[str]
    reply: list[str]
    weights: list[list[float]]


@dataclass
class RerankContest:
    """Why a generator kept its own reply or took a retrieved one."""

    written_score: float | None  # None: the model wrote no reply (an empty one)
    retrieved_score: float
    retrieved_question: str
    chosen: str  # "written" | "retrieved"


@dataclass
class RelevanceCheck:
    """A candidate reply a responder weighed with the relevance model, and what came of it."""

    responder: str
    reply: str
    relevance: float  # calibrated probability that the reply fits the message, 0..1
    sent: bool  # whether this candidate became the reply


# Built-in extras: key → payload type. "batch_size" is written by the server's batcher.
EXTRAS: dict[str, Any] = {
    "retrieval": RetrievalMatch,
    "attention": AttentionMap,
    "rerank": RerankContest,
    "relevance": list[RelevanceCheck],
    "batch_size": int,
}


@dataclass(frozen=True)
class Need:
    """A capability that an earlier step of the pipeline must have, and why."""

    capability: type
    because: str  # the setting that asks for it, e.g. "pretrained: word2vec"


@dataclass(frozen=True)
class Contract:
    """What one plugin, with its settings, reads and writes.

    Attributes:
        requires: Message fields and ``extras.KEY`` names an earlier step must write.
        assigns: what this plugin writes.
        because: for a requirement that a setting adds, that setting (``"method: hybrid"``),
            so an error can say why it is required.
        needs: capabilities an earlier step must have.
    """

    requires: tuple[str, ...]
    assigns: tuple[str, ...]
    because: dict[str, str] = field(default_factory=dict)
    needs: tuple[Need, ...] = ()


def extra_key(name: str) -> str | None:
    """``"retrieval"`` for ``"extras.retrieval"``; None for a Message field."""
    return name[len(EXTRAS_PREFIX):] if name.startswith(EXTRAS_PREFIX) else None


def known_names(own_extras: dict[str, Any] | None = None) -> set[str]:
    """Every name a contract may use: Message fields, built-in extras and ``own_extras``."""
    extras = {**EXTRAS, **(own_extras or {})}
    return set(MESSAGE_FIELDS) | {EXTRAS_PREFIX + key for key in extras}


def payload_type(key: str, own_extras: dict[str, Any] | None = None) -> Any:
    """The declared payload type of extras key ``key`` (a plugin's own declaration first)."""
    extras = {**EXTRAS, **(own_extras or {})}
    return extras[key]
