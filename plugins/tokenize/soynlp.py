"""tokenize.soynlp: unsupervised word segmentation learned from the corpus (soynlp)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from chatbot.errors import NotFittedError
from chatbot.message import Token
from chatbot.plugin import Package, PluginConfig, TrainContext
from chatbot.training.safe_load import SavedState
from chatbot_plugins.tokenize import tagsets
from chatbot_plugins.tokenize.base import TokenizerPlugin, make_token

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

SCORES_FILE = "word_scores.json"
# Hangul words go through the L+R tokenizer; runs of jamo (ㅋㅋ), Latin, digits and signs
# become tokens of their own instead of sticking to the word before them.
_CHUNK = re.compile(r"[가-힣]+|[ㄱ-ㅎㅏ-ㅣ]+|[A-Za-z]+|\d+|[^\sA-Za-z\d가-힣ㄱ-ㅎㅏ-ㅣ]+")
_SYLLABLES = re.compile(r"[가-힣]+")


class SoynlpConfig(PluginConfig):
    min_frequency: int = Field(3, ge=1, description="ignore substrings rarer than this")
    max_word_length: int = Field(10, ge=2, le=20, description="longest word candidate")


class SoynlpTokenizer(TokenizerPlugin):
    """Unsupervised L+R segmentation (word + particle/ending) scored by cohesion on the corpus.

    soynlp knows no parts of speech: the left part is tagged WORD (or by its characters) and the
    right part (조사/어미) PARTICLE, so stopword removal still drops particles.
    """

    name = "tokenize.soynlp"
    Config = SoynlpConfig
    packages = (Package("soynlp", "soynlp"),)
    trainable = True

    def __init__(self, config: SoynlpConfig, scores: dict[str, float] | None = None) -> None:
        super().__init__(config)
        self.scores = scores
        self._tokenizer = None if scores is None else _ltokenizer(scores)

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        from soynlp.word import WordExtractor

        sentences = [
            sentence for message in context.upstream(corpus.texts())
            for sentence in message.current_sentences
        ]
        extractor = WordExtractor(
            max_left_length=self.config.max_word_length,
            min_frequency=self.config.min_frequency,
            verbose_points=0,
        )
        extractor.train(sentences)
        # Cohesion rewards strings that hold together; branching entropy rewards strings
        # followed by many different particles/endings (a word boundary).
        self.scores = {
            word: score.cohesion_forward * math.exp(score.right_branching_entropy)
            for word, score in extractor.extract().items()
            if score.cohesion_forward > 0
        }
        self._tokenizer = _ltokenizer(self.scores)

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        if self._tokenizer is None:
            raise NotFittedError(self.name)
        return [self._tokenize(text) for text in texts]

    def _tokenize(self, text: str) -> list[Token]:
        tokens = []
        for chunk in _CHUNK.findall(text):
            if not _SYLLABLES.fullmatch(chunk):
                tokens.append(make_token(chunk, tagsets.by_characters(chunk), "S"))
                continue
            for left, right in self._tokenizer.tokenize(chunk, flatten=False):
                if left:
                    tokens.append(make_token(left, "WORD", "L"))
                if right:
                    tokens.append(make_token(right, "PARTICLE", "R"))
        return tokens

    def save(self, path: Path) -> None:
        if self.scores is None:
            raise NotFittedError(self.name)
        (path / SCORES_FILE).write_text(json.dumps(self.scores, ensure_ascii=False),
                                        encoding="utf-8")

    @classmethod
    def load(cls, path: Path, config: SoynlpConfig) -> Self:
        state = SavedState(path, cls.name)
        scores = state.json(SCORES_FILE)
        if not isinstance(scores, dict):
            raise state.error(f"{SCORES_FILE} must hold a JSON object of word scores")
        return cls(config, {word: state.number(f"the score of a word in {SCORES_FILE}", score,
                                               0.0, math.inf)
                            for word, score in scores.items()})


def _ltokenizer(scores: dict[str, float]):
    from soynlp.tokenizer import LTokenizer

    return LTokenizer(scores=scores)
