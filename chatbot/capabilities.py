"""What one plugin can do for another, beyond the Message fields it writes.

A capability is a :class:`typing.Protocol`. A plugin has it by defining the methods (no base
class to inherit). A plugin that needs a capability from an earlier step says so in its
:meth:`~chatbot.plugin.Plugin.contract` (``needs``), and ``chatbot validate`` checks that an
earlier step's class has it, before anything trains. Code that uses a capability finds the
plugin with ``isinstance(plugin, Capability)``, never by ``hasattr``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from chatbot.message import Message


@runtime_checkable
class GivesWordVectors(Protocol):
    """Word vectors for token strings (``embed.word2vec``); a classifier can start from them."""

    def vectors_for(self, tokens: list[str]) -> torch.Tensor:
        """(len(tokens), dim) vectors, zero rows for tokens it does not know."""
        ...


@runtime_checkable
class ScoresReplies(Protocol):
    """Scores how likely a given reply is for a message (``fallback.lm``); ``chatbot eval``
    reports the perplexity of gold replies with it."""

    def answer_nll(self, messages: list[Message], replies: list[str]) -> list[tuple[float, int]]:
        """(negative log-likelihood in nats, token count) of each reply given its message."""
        ...


@runtime_checkable
class HasLabels(Protocol):
    """A classifier's label set; ``chatbot eval`` warns about gold labels it cannot predict."""

    def label_names(self) -> list[str]:
        """Every label the classifier can predict."""
        ...


@runtime_checkable
class ScoresRelevance(Protocol):
    """How well candidate replies fit a message, as calibrated probabilities
    (``rank.relevance``); responders rerank and gate their replies with it."""

    def relevance(self, messages: list[Message], replies: list[list[str]]) -> list[list[float]]:
        """For each message, the probability (0..1) that each of its candidate replies fits it
        (in the context of the message's ``history``)."""
        ...

    def tuned_threshold(self) -> float:
        """The relevance below which a reply is not sent, chosen on a train-side tune split
        (what ``min_relevance: auto`` uses)."""
        ...


CAPABILITIES: tuple[type, ...] = (GivesWordVectors, ScoresReplies, HasLabels, ScoresRelevance)
