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


class IntentClassifier(ClassifierPlugin):
    """Intent of a message (BiGRU + attention with character n-grams); out-of-domain when the
    data has an 'ood' label or the calibrated confidence is below a threshold."""

    name = "classify.intent"
    Config = IntentConfig
    assigns = ("intent",)

    def label_names(self) -> list[str]:
        """The trained labels and 'ood', which it gives below ``ood_threshold``."""
        return sorted({*self.labels, OOD_LABEL})

    def label_of(self, example: Example) -> str | None:
        return example.intent

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        label, confidence = max(probabilities.items(), key=lambda item: item[1])
        if label != OOD_LABEL and confidence < self.config.ood_threshold:
            message.notes[self.name] = (
                f"best guess {label} ({confidence:.2f}) is below ood_threshold "
                f"{self.config.ood_threshold}"
            )
            label = OOD_LABEL
        message.intent = Prediction(label, confidence)
