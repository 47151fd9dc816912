"""What every tokenizer plugin shares: read the most processed text, write ``tokens``."""

from __future__ import annotations

from chatbot.message import Message, Token
from chatbot.plugin import Plugin

PREDICATE_TAGS = ("VERB", "ADJ", "AUX")


def make_token(surface: str, coarse: str, pos: str, lemma: str | None = None) -> Token:
    """A Token; predicate stems get their dictionary form (들어가 → 들어가다) as lemma."""
    if lemma is None:
        lemma = surface
        if coarse in PREDICATE_TAGS and not surface.endswith("다"):
            lemma = surface + "다"
    return Token(surface=surface, lemma=lemma, tag=coarse, pos=pos)


class TokenizerPlugin(Plugin):
    """Base of tokenizers: subclasses implement :meth:`tokenize_batch`."""

    requires = ("text",)
    assigns = ("tokens",)

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        """Tokens of each text (an empty list for empty text)."""
        raise NotImplementedError

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [message.current_text for message in messages]
        for message, tokens in zip(messages, self.tokenize_batch(texts), strict=True):
            message.tokens = tokens
        return messages
