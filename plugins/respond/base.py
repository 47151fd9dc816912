"""What every responder shares: answer only unanswered messages, decline below a threshold,
never repeat the reply just given, check replies with the relevance model when asked to, and
say why in the trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from chatbot.capabilities import ScoresRelevance
from chatbot.contract import Contract, Need, RelevanceCheck
from chatbot.errors import ChatbotError
from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot.training.safe_load import finite_confidence

if TYPE_CHECKING:
    from chatbot.data.corpus import Corpus, Example

PREVIEW = 30  # characters of a declined reply shown in the trace


@dataclass
class Answer:
    """A responder's candidate reply, how sure it is (0..1) and, when the responder already
    asked the relevance model, how well the reply fits (0..1)."""

    text: str
    confidence: float
    relevance: float | None = None


class ResponderConfig(PluginConfig):
    threshold: float = Field(0.5, ge=0, le=1, description="answers less confident than this "
                             "are declined, leaving the message to the next responder")
    min_relevance: float | Literal["auto"] | None = Field(
        None, description="check each reply with an earlier rank.relevance step and decline "
        "it when its relevance (0..1) is below this; auto: the threshold that step chose on "
        "its tune split; null: no check")

    def relevance_checked(self) -> bool:
        return self.min_relevance is not None


class Responder(Plugin):
    """Base of the responders: subclasses implement :meth:`answer` for a batch.

    A message that already has a reply (an earlier responder answered, or the spam filter
    refused it) is left alone. An answer below ``threshold`` is declined, and the message's
    notes say so, with the reply it would have given, so the trace shows why each responder
    before the one that answered stayed silent.
    """

    Config = ResponderConfig
    assigns = ("reply",)

    @classmethod
    def contract(cls, config: ResponderConfig) -> Contract:
        own = cls.own_contract(config)
        if not config.relevance_checked():
            return own
        return Contract(requires=own.requires, assigns=(*own.assigns, "extras.relevance"),
                        because=own.because, needs=(*own.needs, Need(
                            ScoresRelevance, f"min_relevance: {config.min_relevance}")))

    @classmethod
    def own_contract(cls, config: ResponderConfig) -> Contract:
        """The contract without the relevance check (override when a setting changes it)."""
        return Contract(requires=cls.requires, assigns=cls.assigns)

    @property
    def relevance_model(self) -> ScoresRelevance:
        """The earlier step that scores relevance (only with ``min_relevance`` set)."""
        return self.provider(ScoresRelevance)

    def min_relevance(self) -> float:
        """The relevance below which a reply is declined (0 when unchecked)."""
        setting = self.config.min_relevance
        if setting is None:
            return 0.0
        return self.relevance_model.tuned_threshold() if setting == "auto" else setting

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        """An Answer for each message, or a string saying why there is none."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        open_messages = [message for message in messages if message.reply is None]
        if not open_messages:
            return messages
        results = self.answer(open_messages)
        if self.config.relevance_checked():
            self._score_relevance(open_messages, results)
        for message, result in zip(open_messages, results, strict=True):
            reason = self._why_not(message, result)
            if reason is not None:
                self.decline(message, reason, result if isinstance(result, Answer) else None)
                continue
            message.reply = result.text
            message.responder = self.name
            message.reply_confidence = result.confidence
            if result.relevance is not None:
                self._record(message, result, sent=True)
        return messages

    def _why_not(self, message: Message, result: Answer | str) -> str | None:
        """Why ``result`` must not be sent (None: it may)."""
        if isinstance(result, str):
            return result
        if result.text in message.earlier_replies:
            return f"would repeat an earlier reply ({_preview(result.text)!r})"
        if finite_confidence(self.name, result.confidence) < self.config.threshold:
            return (f"confidence {result.confidence:.2f} below threshold "
                    f"{self.config.threshold} (would have said {_preview(result.text)!r})")
        required = self.required_relevance(result)
        if result.relevance is not None and result.relevance < required:
            self._record(message, result, sent=False)
            return (f"relevance {result.relevance:.2f} below min_relevance "
                    f"{required:.2f} (would have said {_preview(result.text)!r})")
        return None

    def required_relevance(self, answer: Answer) -> float:
        """The relevance ``answer`` needs to be sent: ``min_relevance`` (a subclass may ask
        less of an answer it is sure of)."""
        return self.min_relevance()

    def _score_relevance(self, messages: list[Message], results: list[Answer | str]) -> None:
        """Ask the relevance model about the answers that have no relevance yet."""
        unscored = [(message, result) for message, result in zip(messages, results, strict=True)
                    if isinstance(result, Answer) and result.relevance is None]
        if not unscored:
            return
        scores = self.relevance_model.relevance([m for m, _ in unscored],
                                                [[a.text] for _, a in unscored])
        for (_, result), (score,) in zip(unscored, scores, strict=True):
            result.relevance = score

    def _record(self, message: Message, answer: Answer, sent: bool) -> None:
        """Put the answer's relevance in the trace (marking it sent if already there)."""
        checks: list[RelevanceCheck] = message.extras.setdefault("relevance", [])
        for check in checks:
            if check.responder == self.name and check.reply == answer.text:
                check.sent = sent
                return
        checks.append(RelevanceCheck(self.name, answer.text, round(answer.relevance, 4), sent))

    def decline(self, message: Message, reason: str, answer: Answer | None) -> None:
        """Leave ``message`` to the next responder, saying why in its notes. ``answer`` is the
        reply declined (None when there was none). A fallback overrides this to answer anyway.
        """
        message.notes[self.name] = f"declined: {reason}"


def _preview(text: str) -> str:
    return text[:PREVIEW] + ("…" if len(text) > PREVIEW else "")


def dialog_pairs(corpus: Corpus, plugin: str, follow_ups: bool = False) -> list[Example]:
    """The examples with an answer; a clear error when there are none. Turns that follow
    earlier ones in a multi-turn dialog (``history``) only with ``follow_ups``: alone, a
    follow-up such as "왜?" has as many answers as there are topics."""
    pairs = [example for example in corpus.examples
             if example.answer and (follow_ups or not example.history)]
    if not pairs:
        raise ChatbotError(f"{plugin} needs dialog pairs (questions with answers); "
                           f"{corpus.name} has none",
                           hint="add a dialog dataset (demo, chatbotdata) to training.datasets")
    return pairs


def text_of(message: Message) -> str:
    """What the responders read: the normalized text (spacing and splitting would change the
    question the generators learned from), else the raw text."""
    return message.normalized if message.normalized is not None else message.text
