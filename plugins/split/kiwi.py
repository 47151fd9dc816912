"""split.kiwi: sentence splitting with Kiwi's morpheme-aware splitter."""

from __future__ import annotations

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot_plugins.kiwi_shared import KIWI_PACKAGE, get_kiwi


class KiwiSplitter(Plugin):
    """Sentence boundaries from Kiwi (split_into_sents): no kss import, shares Kiwi's model."""

    name = "split.kiwi"
    Config = PluginConfig
    assigns = ("sentences",)
    packages = (KIWI_PACKAGE,)

    def __init__(self, config: PluginConfig) -> None:
        super().__init__(config)
        self.kiwi = get_kiwi()

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [m.normalized if m.normalized is not None else m.text for m in messages]
        results = self.kiwi.split_into_sents(texts) if len(texts) > 1 else [
            self.kiwi.split_into_sents(texts[0])
        ]
        for message, sentences in zip(messages, results, strict=True):
            message.sentences = [s.text for s in sentences if s.text.strip()]
        return messages
