"""classify.spam: spam and abuse, with a refusal instead of a reply when flagged."""

from __future__ import annotations

from pydantic import Field

from chatbot.data.corpus import Example
from chatbot.message import Message, Prediction
from chatbot_plugins.classify.base import ClassifierConfig, ClassifierPlugin

FLAGGED = "spam"


class SpamConfig(ClassifierConfig):
    threshold: float = Field(0.5, ge=0, le=1, description="spam score from which a message is "
                             "flagged")
    refusal: str = Field(
        "죄송하지만 광고나 스팸으로 보이는 메시지에는 답하지 않아요.",
        description="the reply to a flagged message",
    )
    include_abuse: bool = Field(True, description="treat abusive examples (curse) as flagged")
    dialog_as_ham: bool = Field(
        True, description="count the questions of the dialog and intent data (out-of-domain "
        "ones included) as ham, so that ordinary requests are not refused",
    )


class SpamClassifier(ClassifierPlugin):
    """Spam/abuse score of a message; a flagged message gets the configured refusal."""

    name = "classify.spam"
    Config = SpamConfig
    assigns = ("spam", "reply")

    def label_of(self, example: Example) -> str | None:
        if example.spam == "abuse":
            return FLAGGED if self.config.include_abuse else None
        if example.spam is None:
            has_dialog_label = example.intent is not None or example.answer is not None
            return "ham" if self.config.dialog_as_ham and has_dialog_label else None
        return {"spam": FLAGGED, "ham": "ham"}.get(example.spam)

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        score = probabilities.get(FLAGGED, 0.0)
        flagged = score >= self.config.threshold
        message.spam = Prediction(FLAGGED if flagged else "ham", score)
        if flagged and message.reply is None:
            message.reply = self.config.refusal
            message.responder = self.name
