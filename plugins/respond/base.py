"""What every responder shares: answer only unanswered messages, decline below a threshold,
and say why in the trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from chatbot.errors import ChatbotError
from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot.training.safe_load import finite_confidence

if TYPE_CHECKING:
    from chatbot.data.corpus import Corpus, Example

PREVIEW = 30  # characters of a declined reply shown in the trace


@dataclass
class Answer:
    """A responder's candidate reply and how sure it is (0..1)."""

    text: str
    confidence: float


class ResponderConfig(PluginConfig):
    threshold: float = Field(0.5, ge=0, le=1, description="answers less confident than this "
                             "are declined, leaving the message to the next responder")


class Responder(Plugin):
    """Base of the responders: subclasses implement :meth:`answer` for a batch.

    A message that already has a reply (an earlier responder answered, or the spam filter
    refused it) is left alone. An answer below ``threshold`` is declined, and the message's
    notes say so, with the reply it would have given, so the trace shows why each responder
    before the one that answered stayed silent.
    """

    Config = ResponderConfig
    assigns = ("reply",)

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        """An Answer for each message, or a string saying why there is none."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        open_messages = [message for message in messages if message.reply is None]
        if not open_messages:
            return messages
        for message, result in zip(open_messages, self.answer(open_messages), strict=True):
            if isinstance(result, str):
                self.decline(message, result, None)
            elif finite_confidence(self.name, result.confidence) < self.config.threshold:
                preview = result.text[:PREVIEW] + ("…" if len(result.text) > PREVIEW else "")
                self.decline(message, f"confidence {result.confidence:.2f} below threshold "
                             f"{self.config.threshold} (would have said {preview!r})", result)
            else:
                message.reply = result.text
                message.responder = self.name
                message.reply_confidence = result.confidence
        return messages

    def decline(self, message: Message, reason: str, answer: Answer | None) -> None:
        """Leave ``message`` to the next responder, saying why in its notes. ``answer`` is the
        reply declined (None when there was none). A fallback overrides this to answer anyway.
        """
        message.notes[self.name] = f"declined: {reason}"


def dialog_pairs(corpus: Corpus, plugin: str) -> list[Example]:
    """The examples with an answer; a clear error when there are none."""
    pairs = [example for example in corpus.examples if example.answer]
    if not pairs:
        raise ChatbotError(f"{plugin} needs dialog pairs (questions with answers); "
                           f"{corpus.name} has none",
                           hint="add a dialog dataset (demo, chatbotdata) to training.datasets")
    return pairs


def text_of(message: Message) -> str:
    """What the responders read: the normalized text (spacing and splitting would change the
    question the generators learned from), else the raw text."""
    return message.normalized if message.normalized is not None else message.text
