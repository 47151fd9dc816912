"""tokenize.mecab: morphemes from mecab-ko (python-mecab-ko: dictionary in the wheel)."""

from __future__ import annotations

from typing import Any

from chatbot.message import Token
from chatbot.plugin import Package, PluginConfig
from chatbot_plugins.tokenize import tagsets
from chatbot_plugins.tokenize.base import PREDICATE_TAGS, TokenizerPlugin, make_token


class MecabTokenizer(TokenizerPlugin):
    """Morphemes with Sejong tags from mecab-ko: the fastest tokenizer, no system install."""

    name = "tokenize.mecab"
    Config = PluginConfig
    packages = (Package("mecab", "python-mecab-ko"),)

    def __init__(self, config: PluginConfig) -> None:
        super().__init__(config)
        import mecab

        self.tagger = mecab.MeCab()

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        return [self._tokenize(text) for text in texts]

    def _tokenize(self, text: str) -> list[Token]:
        if not text.strip():
            return []
        return [self._token(morpheme) for morpheme in self.tagger.parse(text)]

    @staticmethod
    def _token(morpheme: Any) -> Token:
        feature = morpheme.feature
        coarse = tagsets.sejong(feature.pos)
        lemma = None
        # Fused forms (들어가신다: VV+EP+EC) spell their parts in `expression`: 들어가/VV/*+...
        if feature.expression and "+" in feature.pos and coarse in PREDICATE_TAGS:
            lemma = feature.expression.split("/", 1)[0] + "다"
        return make_token(morpheme.surface, coarse, feature.pos, lemma)
