"""fallback.helpful: when nothing fits, an honest "I don't know" that helps the user go on.

It is the last responder: it answers every message the others left open. Its reply varies (the
message picks one of several wordings, never one the bot already gave); it asks for more when
the intent classifier knows the topic, says what the bot can talk about when it does not, and
declines a request the classifier is sure is out of scope. It comes with a few suggestions
(``Message.suggestions``): questions of the training corpus, which the bot can answer, from
the predicted intent first, then from other topics. The web UI shows them as clickable
examples, the API returns them.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from chatbot.data.formats import OOD_LABEL
from chatbot.message import Message
from chatbot.plugin import TrainContext
from chatbot.training.safe_load import SavedState
from chatbot_plugins.respond.base import Answer, Responder, ResponderConfig, dialog_pairs

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

SUGGESTIONS_FILE = "suggestions.json"
PER_INTENT = 5  # questions kept per intent
MAX_SUGGESTION_CHARS = 40  # long questions make poor buttons

DEFAULT_REPLIES = [
    "음, 그 얘기는 제가 아직 잘 몰라요. 저는 {topics} 같은 이야기라면 자신 있어요.",
    "미안해요, 무슨 말인지 제가 잘 알아듣지 못했어요. 조금 다르게 말해 주시거나 아래 예시처럼 "
    "물어봐 주실래요?",
    "그건 제가 답하기 어려운 이야기예요. 대신 {topics}에 대해서라면 같이 얘기할 수 있어요.",
    "제가 제대로 이해했는지 자신이 없어요. 다른 말로 한 번 더 말해 주시면 열심히 들어 볼게요.",
]
DEFAULT_IN_TOPIC = [
    "그 얘기 조금 더 자세히 들려줄래요? 제가 잘 이해하고 싶어요.",
    "음, 제가 제대로 알아들었는지 모르겠어요. 조금만 더 이야기해 줄래요?",
    "조금만 더 풀어서 말해 주시면 같이 생각해 볼게요.",
]
DEFAULT_OUT_OF_SCOPE = [
    "그건 제가 도와드리기 어려운 부탁이에요. 저는 잡담용 챗봇이라 {topics} 같은 이야기를 "
    "나눌 수 있어요.",
    "아쉽지만 그런 일은 제가 할 수 없어요. 대신 {topics} 이야기라면 언제든 좋아요.",
    "그 부탁은 제 능력 밖이에요. 필요한 곳에 직접 알아보시는 게 정확할 거예요. 저와는 "
    "{topics} 이야기를 나눠요.",
]
DEFAULT_TOPICS = "기분이나 스트레스, 일과 공부, 연애와 가족, 반려동물, 음식, 여행, 취미"
DEFAULT_SKIPPED = [
    "insult", "complaint", "apology", "farewell", "thanks", "greeting", "decline_realtime",
    "decline_medical", "decline_legal", "decline_financial",
]


class HelpfulConfig(ResponderConfig):
    threshold: float = Field(0.0, ge=0, le=1, description="kept at 0: the fallback answers "
                             "every message left open")
    topics: str = Field(DEFAULT_TOPICS, max_length=200, description="what the bot can talk "
                        "about, put in its replies where they say {topics}")
    replies: list[str] = Field(DEFAULT_REPLIES, min_length=1, description="the wordings it "
                               "varies among ({topics} is replaced)")
    in_topic: list[str] = Field(
        DEFAULT_IN_TOPIC, min_length=1, description="the wordings when the intent classifier "
        "knows the topic but no answer fitted: asking for more, not listing topics (which "
        "would offer the user's own topic back)")
    out_of_scope: list[str] = Field(
        DEFAULT_OUT_OF_SCOPE, min_length=1, description="the wordings for a message the intent "
        "classifier calls out-of-domain (a request the bot cannot do)")
    suggestions: int = Field(3, ge=0, le=10, description="messages offered to send next")
    skip_intents: list[str] = Field(DEFAULT_SKIPPED, description="intents whose questions are "
                                    "never suggested (replies to insults, goodbyes...)")


class HelpfulFallback(Responder):
    """Answers what no responder could: a varied, honest "I don't know" that says what the bot
    can talk about, with suggestions of what to ask."""

    name = "fallback.helpful"
    Config = HelpfulConfig
    requires = ("text",)
    assigns = ("reply", "suggestions")
    trainable = True  # it learns which questions to suggest from the corpus

    def __init__(self, config: HelpfulConfig) -> None:
        super().__init__(config)
        self.questions: dict[str, list[str]] = {}  # intent → questions to suggest

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        skipped = {*self.config.skip_intents, OOD_LABEL}
        # The questions asked with the most answers first (the corpus's central ones), short
        # ones before long ones among them.
        answers = Counter((e.intent, e.text) for e in dialog_pairs(corpus, self.name)
                          if e.intent and e.intent not in skipped
                          and len(e.text) <= MAX_SUGGESTION_CHARS)
        ranked = sorted(answers.items(), key=lambda item: (-item[1], len(item[0][1]),
                                                           item[0][1]))
        self.questions = {}
        for (intent, text), _ in ranked:
            kept = self.questions.setdefault(intent, [])
            if len(kept) < PER_INTENT:
                kept.append(text)

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        results: list[Answer | str] = []
        for message in messages:
            # Out of scope when the classifier is sure of it; "ood" from a low confidence
            # only means it could not tell.
            out_of_scope = (message.intent is not None and message.intent.label == OOD_LABEL
                            and message.intent.confidence >= 0.5)
            known_topic = message.intent is not None and message.intent.label != OOD_LABEL
            wordings = (self.config.out_of_scope if out_of_scope
                        else self.config.in_topic if known_topic else self.config.replies)
            turn = zlib.crc32(message.text.encode()) + len(message.history)
            options = [self._filled(wordings[(turn + i) % len(wordings)])
                       for i in range(len(wordings))]
            reply = next((o for o in options if o not in message.earlier_replies), options[0])
            message.suggestions = self._suggestions(message, turn)
            results.append(Answer(reply, 0.0))
        return results

    def _filled(self, wording: str) -> str:
        return wording.replace("{topics}", self.config.topics or "여러 가지")

    def _suggestions(self, message: Message, turn: int) -> list[str]:
        """One question from each of several intents: the predicted intent's first (when
        the classifier predicted one), then others in an order the message picks."""
        intents = sorted(self.questions)
        if not intents or not self.config.suggestions:
            return []
        start = turn % len(intents)
        order = intents[start:] + intents[:start]
        guess = message.intent.label if message.intent is not None else None
        if guess in self.questions:
            order.remove(guess)
            order.insert(0, guess)
        return [self.questions[intent][turn % len(self.questions[intent])]
                for intent in order[:self.config.suggestions]]

    def save(self, path: Path) -> None:
        (path / SUGGESTIONS_FILE).write_text(json.dumps(self.questions, ensure_ascii=False),
                                             encoding="utf-8")

    @classmethod
    def load(cls, path: Path, config: HelpfulConfig) -> Self:
        state = SavedState(path, cls.name)
        data = state.json(SUGGESTIONS_FILE)
        if not isinstance(data, dict):
            raise state.error(f"{SUGGESTIONS_FILE} is not an object of intents")
        plugin = cls(config)
        plugin.questions = {
            str(intent): state.strings(f"the questions of {intent} in {SUGGESTIONS_FILE}",
                                       questions, minimum=1)
            for intent, questions in data.items()}
        return plugin

