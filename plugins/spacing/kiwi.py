"""spacing.kiwi: spacing correction with Kiwi's morpheme-based ``space()``."""

from __future__ import annotations

from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot_plugins.kiwi_shared import KIWI_PACKAGE, get_kiwi


class KiwiSpacingConfig(PluginConfig):
    reset_whitespace: bool = Field(
        False, description="also join wrongly split words (ignores the spaces typed)"
    )


class KiwiSpacing(Plugin):
    """Inserts missing spaces (아버지가방에들어가신다 → 아버지가 방에 들어가신다) with Kiwi."""

    name = "spacing.kiwi"
    Config = KiwiSpacingConfig
    assigns = ("spaced",)
    packages = (KIWI_PACKAGE,)

    def __init__(self, config: KiwiSpacingConfig) -> None:
        super().__init__(config)
        self.kiwi = get_kiwi()

    def process(self, messages: list[Message]) -> list[Message]:
        # Sentences of every message in one call: Kiwi spreads a list over its threads.
        flat = [sentence for m in messages for sentence in m.current_sentences]
        reset = self.config.reset_whitespace
        spaced = list(self.kiwi.space(flat, reset_whitespace=reset)) if len(flat) > 1 else [
            self.kiwi.space(text, reset_whitespace=reset) for text in flat
        ]
        position = 0
        for message in messages:
            count = len(message.current_sentences)
            message.spaced = " ".join(spaced[position:position + count])
            position += count
        return messages
