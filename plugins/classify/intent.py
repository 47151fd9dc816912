"""classify.intent: which intent a message has, or out-of-domain."""

from __future__ import annotations

from pydantic import Field

from chatbot.data.corpus import Example
from chatbot.data.formats import OOD_LABEL
from chatbot.message import Message, Prediction
from chatbot_plugins.classify.base import ClassifierConfig, ClassifierPlugin


class IntentConfig(ClassifierConfig):
    ood_threshold: float = Field(
        0.5, ge=0, le=1,
        description="below this calibrated confidence the intent is 'ood', so unknown "
        "requests reach the fallback instead of a wrong intent",
    )
    context_weight: float = Field(
        0.0, ge=0, lt=1,
        description="for a message with a history, the share of the previous user turn's "
        "intent probabilities mixed into the message's own: a short follow-up (그럼 어떻게 "
        "해?, 한두 번이 아니야) keeps the topic of the turn before, while a message that is "
        "clearly about something else still gets its own intent; 0: every message alone",
    )


class IntentClassifier(ClassifierPlugin):
    """Intent of a message (BiGRU + attention with character n-grams); out-of-domain when the
    data has an 'ood' label or the calibrated confidence is below a threshold. With
    ``context_weight``, a message is read in the topic of the previous user turn."""

    name = "classify.intent"
    Config = IntentConfig
    assigns = ("intent",)

    def label_names(self) -> list[str]:
        """The trained labels and 'ood', which it gives below ``ood_threshold``."""
        return sorted({*self.labels, OOD_LABEL})

    def label_of(self, example: Example) -> str | None:
        return example.intent

    def process(self, messages: list[Message]) -> list[Message]:
        own = self.probabilities(messages)
        weight = self.config.context_weight
        rows = [row for row, message in enumerate(messages) if message.history] if weight else []
        if rows:
            before = self.probabilities(self._prepared(
                [messages[row].history[-1].user for row in rows]))
            for row, previous in zip(rows, before, strict=True):
                own[row] = {label: (1 - weight) * p + weight * previous[label]
                            for label, p in own[row].items()}
        for message, probabilities in zip(messages, own, strict=True):
            self.assign(message, probabilities)
        return messages

    def _prepared(self, texts: list[str]) -> list[Message]:
        """Earlier turns as this step reads messages: through the steps before it."""
        prepared = [Message(text=text) for text in texts]
        for plugin in self.earlier_steps:
            prepared = plugin.process(prepared)
        return prepared

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        label, confidence = max(probabilities.items(), key=lambda item: item[1])
        if label != OOD_LABEL and confidence < self.config.ood_threshold:
            message.notes[self.name] = (
                f"best guess {label} ({confidence:.2f}) is below ood_threshold "
                f"{self.config.ood_threshold}"
            )
            label = OOD_LABEL
        message.intent = Prediction(label, confidence)
