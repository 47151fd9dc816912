"""tokenize.konlpy: morphemes from one of konlpy's Java taggers (Okt, Komoran, Kkma, Hannanum)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from chatbot.errors import ChatbotError, MissingJavaError
from chatbot.message import Token
from chatbot.plugin import Package, PluginConfig
from chatbot_plugins.tokenize import tagsets
from chatbot_plugins.tokenize.base import TokenizerPlugin, make_token

logger = logging.getLogger(__name__)

# The JVM taggers mangle characters outside the Basic Multilingual Plane (emoji) and Komoran,
# Kkma and Hannanum fail or hang on whitespace-only input, so text is cut into runs first.
_ASTRAL_RUN = re.compile(r"([\U00010000-\U0010FFFF]+)")

_TAG_MAPS: dict[str, Callable[[str], str]] = {
    "okt": tagsets.okt,
    "komoran": tagsets.sejong,
    "kkma": tagsets.kkma,
    "hannanum": tagsets.hannanum,
}


class KonlpyConfig(PluginConfig):
    tagger: Literal["okt", "komoran", "kkma", "hannanum"] = Field(
        "okt", description="which konlpy tagger to run"
    )
    okt_norm: bool = Field(True, description="Okt only: normalize typos and ㅋㅋㅋ before tagging")
    okt_stem: bool = Field(
        True, description="Okt only: a second pass gives dictionary forms (about half the speed)"
    )


class KonlpyTokenizer(TokenizerPlugin):
    """Morphemes from konlpy's Okt, Komoran, Kkma or Hannanum (needs a Java runtime)."""

    name = "tokenize.konlpy"
    Config = KonlpyConfig
    packages = (Package("konlpy", "konlpy"),)

    def __init__(self, config: KonlpyConfig) -> None:
        super().__init__(config)
        self.to_coarse = _TAG_MAPS[config.tagger]
        self.tagger = _start_tagger(self.name, config.tagger)

    @classmethod
    def check_environment(cls) -> list[ChatbotError]:
        problems = super().check_environment()
        if problems:
            return problems
        try:
            import jpype

            jpype.getDefaultJVMPath()
        except Exception as error:  # jpype raises its own JVMNotFoundException and others
            return [MissingJavaError(cls.name, str(error))]
        return []

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        return [self._tokenize(text) for text in texts]

    def _tokenize(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        for run in _ASTRAL_RUN.split(text):
            if not run.strip():
                continue
            if _ASTRAL_RUN.fullmatch(run):
                tokens.extend(make_token(char, "SYMBOL", "EMOJI") for char in run)
            else:
                tokens.extend(self._tag(run.strip()))
        return tokens

    def _tag(self, text: str) -> list[Token]:
        try:
            pairs = self._pos(text)
        except Exception as error:  # a JVM tagger can throw on odd input: tag word by word
            logger.warning("konlpy %s failed on %r (%s); tagging word by word",
                           self.config.tagger, text[:40], error)
            pairs = []
            for word in text.split():
                try:
                    pairs.extend(self._pos(word))
                except Exception:
                    pairs.append((word, "?"))
        tokens = [make_token(surface, self.to_coarse(tag), tag) for surface, tag in pairs]
        if self.config.tagger == "okt" and self.config.okt_stem:
            tokens = self._with_okt_stems(text, tokens)
        return tokens

    def _pos(self, text: str) -> list[tuple[str, str]]:
        if self.config.tagger == "okt":
            return self.tagger.pos(text, norm=self.config.okt_norm, stem=False)
        if self.config.tagger == "hannanum":
            return self.tagger.pos(text, ntags=22)
        return self.tagger.pos(text)

    def _with_okt_stems(self, text: str, tokens: list[Token]) -> list[Token]:
        """Okt tags whole inflected words; its stemmer gives their dictionary forms."""
        stems = self.tagger.pos(text, norm=self.config.okt_norm, stem=True)
        if len(stems) != len(tokens):
            return tokens
        for token, (lemma, _) in zip(tokens, stems, strict=True):
            token.lemma = lemma
        return tokens


def _start_tagger(plugin: str, tagger: str) -> Any:
    try:
        from konlpy import tag
    except ImportError:
        raise ChatbotError(
            f"plugin {plugin!r} needs konlpy", hint="install it with: pip install konlpy"
        ) from None
    classes = {"okt": tag.Okt, "komoran": tag.Komoran, "kkma": tag.Kkma, "hannanum": tag.Hannanum}
    try:
        return classes[tagger]()
    except Exception as error:  # JVM start-up failures surface as many different types
        raise MissingJavaError(plugin, f"{type(error).__name__}: {error}") from error
