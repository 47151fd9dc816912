"""mask.profanity: masks listed words, also when they are disguised.

People dodge word filters by spacing letters out (바 보), putting digits or symbols between
them (시1발, 병.신), or typing initial consonants only (ㅅㅂ). Each listed word becomes a
pattern that allows up to ``max_gap`` such characters between its letters; the consonant
spelling of a word is listed as a word of its own.
"""

from __future__ import annotations

import re

from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig

DEFAULT_WORDS = ("시발", "씨발", "ㅅㅂ", "ㅆㅂ", "병신", "ㅂㅅ", "개새끼", "ㄱㅅㄲ", "바보",
                 "멍청이", "존나", "ㅈㄴ")


class MaskConfig(PluginConfig):
    """The settings a config may give under `- plugin: mask.profanity`."""

    words: list[str] = Field(default_factory=lambda: list(DEFAULT_WORDS),
                             description="words to mask (add the consonant spellings you "
                             "want caught, e.g. ㅅㅂ)")
    mask: str = Field("*", min_length=1, max_length=1,
                      description="the character that replaces each masked character")
    max_gap: int = Field(2, ge=0, le=5, description="most spaces, digits or symbols allowed "
                         "between the letters of a word (바 보, 시1발)")


class ProfanityMask(Plugin):
    """Masks Korean profanity in the message, also spaced out or with digits in between."""

    name = "mask.profanity"
    version = 1
    Config = MaskConfig
    requires = ("text",)
    assigns = ("normalized",)

    def __init__(self, config: MaskConfig) -> None:
        super().__init__(config)
        # Longest first, so that 개새끼 is masked whole before a shorter word inside it.
        words = sorted({w for w in config.words if w.strip()}, key=len, reverse=True)
        gap = rf"[\s\d\W_]{{0,{config.max_gap}}}"
        self.pattern = re.compile("|".join(gap.join(map(re.escape, w)) for w in words)) \
            if words else None

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.normalized if message.normalized is not None else message.text
            message.normalized = self.mask_text(text)
            masked = text != message.normalized
            if masked:
                message.notes[self.name] = "masked profanity"
        return messages

    def mask_text(self, text: str) -> str:
        """The text with every match masked (spaces inside a match are kept)."""
        if self.pattern is None:
            return text
        return self.pattern.sub(
            lambda match: "".join(c if c.isspace() else self.config.mask for c in match[0]),
            text)
