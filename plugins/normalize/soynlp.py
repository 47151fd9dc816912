"""normalize.soynlp: Unicode, control characters, whitespace, and chat-style repeats.

Repeats are shortened exactly as soynlp's ``repeat_normalize`` does (a test holds the two
equal), without importing soynlp: its package import loads scikit-learn and SciPy, about
2.7 s of every one-shot command on two cores, for one regular expression.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig

_SYLLABLE_BASE, _JUNG_COUNT, _JONG_COUNT = 0xAC00, 21, 28
_CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_JONG = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"
_WHITESPACE = re.compile(r"\s+")
_REPEATS = re.compile(r"(\w)\1{3,}")  # soynlp's: a character four or more times in a row


class NormalizeConfig(PluginConfig):
    unicode_form: Literal["NFC", "NFKC"] = Field(
        "NFC", description="NFC composes Hangul; NFKC also folds full-width and compatibility forms"
    )
    strip_control: bool = Field(True, description="drop control and zero-width characters")
    collapse_whitespace: bool = Field(True, description="one space for any run of whitespace")
    split_emoticons: bool = Field(
        True, description="split jamo stuck to syllables: 아니욬ㅋㅋ → 아니요ㅋㅋㅋ"
    )
    max_repeats: int = Field(
        2, ge=0, le=100, description="shorten a character repeated four or more times to "
        "this many, as soynlp does (ㅋㅋㅋㅋ → ㅋㅋ); 0: off"
    )


class SoynlpNormalizer(Plugin):
    """Unicode NFC, control characters, whitespace, repeats (ㅋㅋㅋㅋ → ㅋㅋ) as soynlp does."""

    name = "normalize.soynlp"
    Config = NormalizeConfig
    assigns = ("normalized",)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            message.normalized = self.normalize(message.text)
        return messages

    def normalize(self, text: str) -> str:
        config = self.config
        text = unicodedata.normalize(config.unicode_form, text)
        if config.strip_control:
            text = "".join(
                char if char in "\t\n\r" or unicodedata.category(char) not in ("Cc", "Cf") else " "
                for char in text
            )
        if config.collapse_whitespace:
            text = _WHITESPACE.sub(" ", text).strip()
        if config.split_emoticons:
            text = split_emoticon_jamo(text)
        if config.max_repeats:
            text = collapse_repeats(text, config.max_repeats)
        return text


def collapse_repeats(text: str, keep: int) -> str:
    """soynlp's ``repeat_normalize(text, num_repeats=keep)``: a character repeated four or more
    times becomes ``keep`` copies, whitespace runs one space, and the ends are stripped."""
    text = _REPEATS.sub(lambda match: match.group(1) * keep, text)
    return _WHITESPACE.sub(" ", text).strip()


def _decompose(char: str) -> tuple[str, str, str] | None:
    code = ord(char) - _SYLLABLE_BASE
    if not 0 <= code < 19 * _JUNG_COUNT * _JONG_COUNT:
        return None
    cho, rest = divmod(code, _JUNG_COUNT * _JONG_COUNT)
    jung, jong = divmod(rest, _JONG_COUNT)
    return _CHO[cho], _JUNG[jung], _JONG[jong]


def _compose(cho: str, jung: str) -> str:
    code = (_CHO.index(cho) * _JUNG_COUNT + _JUNG.index(jung)) * _JONG_COUNT
    return chr(_SYLLABLE_BASE + code)


def _is_jamo(char: str) -> bool:
    return "\u3131" <= char <= "\u3163"


def split_emoticon_jamo(text: str) -> str:
    """Split a syllable that merges into a run of jamo emoticons, keeping every other syllable.

    ``욬ㅋㅋ`` → ``요ㅋㅋㅋ`` (a coda repeated by the next jamo); ``ㅋ쿠ㅜ`` → ``ㅋㅋㅜㅜ`` (a
    crying/laughing syllable after its own initial and before no syllable: ``ㅋㅋ카톡`` stays).
    soynlp's ``emoticon_normalize`` does this too but drops the syllable before a jamo run when
    no split applies (좋네요ㅋㅋ → 좋네ㅋㅋ), so this is the project's own.
    """
    out: list[str] = []
    for i, char in enumerate(text):
        parts = _decompose(char)
        before = text[i - 1] if i > 0 else ""
        after = text[i + 1] if i + 1 < len(text) else ""
        if parts is None:
            out.append(char)
        elif parts[2] != " " and _is_jamo(after) and parts[2] == after:
            out.append(_compose(parts[0], parts[1]) + parts[2])
        elif (parts[2] == " " and parts[0] == before and parts[1] in "ㅜㅠ"
              and _decompose(after) is None):
            out.append(parts[0] + parts[1])
        else:
            out.append(char)
    return "".join(out)
