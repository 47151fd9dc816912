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


class SpamClassifier(ClassifierPlugin):
    """Spam/abuse score of a message; a flagged message gets the configured refusal."""

    name = "classify.spam"
    Config = SpamConfig
    assigns = ("spam", "reply")

    def label_of(self, example: Example) -> str | None:
        if example.spam == "abuse":
            return FLAGGED if self.config.include_abuse else None
        return {"spam": FLAGGED, "ham": "ham"}.get(example.spam or "")

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        score = probabilities.get(FLAGGED, 0.0)
        flagged = score >= self.config.threshold
        message.spam = Prediction(FLAGGED if flagged else "ham", score)
        if flagged and message.reply is None:
            message.reply = self.config.refusal
            message.responder = self.name
