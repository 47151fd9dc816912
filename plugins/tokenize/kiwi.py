"""tokenize.kiwi: morphemes from Kiwi (kiwipiepy), whose model ships in its wheel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chatbot.message import Token
from chatbot.plugin import PluginConfig
from chatbot_plugins.kiwi_shared import KIWI_PACKAGE, get_kiwi
from chatbot_plugins.tokenize import tagsets
from chatbot_plugins.tokenize.base import TokenizerPlugin, make_token


class KiwiTokenizerConfig(PluginConfig):
    typos: Literal["none", "basic", "continual", "basic_with_continual"] = Field(
        "none", description="correct common typos while analysing (slower)"
    )


class KiwiTokenizer(TokenizerPlugin):
    """Morphemes with Sejong tags from Kiwi: fast, accurate, no Java; batches use every core."""

    name = "tokenize.kiwi"
    Config = KiwiTokenizerConfig
    packages = (KIWI_PACKAGE,)

    def __init__(self, config: KiwiTokenizerConfig) -> None:
        super().__init__(config)
        self.kiwi = get_kiwi(None if config.typos == "none" else config.typos)

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        results = self.kiwi.tokenize(texts) if len(texts) > 1 else [self.kiwi.tokenize(texts[0])]
        return [
            [make_token(t.form, tagsets.sejong(t.tag), t.tag, t.lemma or t.form) for t in tokens]
            for tokens in results
        ]
