"""One coarse tag set for every tokenizer, so stopword removal works whichever one runs.

Each tokenizer has its own tags: Sejong-style (Kiwi, mecab-ko, Komoran), Kkma's, Hannanum's and
Okt's. They all map onto these coarse tags:

    NOUN PROPN PRON NUM VERB ADJ AUX ADV DET INTJ
    PARTICLE (josa)  ENDING (eomi)  AFFIX (prefix/suffix)
    PUNCT  SYMBOL (emoji, ㅋㅋ, other signs)  FOREIGN (Latin, Hanja)
    WORD (a word or subword whose part of speech the tokenizer cannot tell)  X (unknown)
"""

from __future__ import annotations

import unicodedata

COARSE_TAGS = (
    "NOUN", "PROPN", "PRON", "NUM", "VERB", "ADJ", "AUX", "ADV", "DET", "INTJ",
    "PARTICLE", "ENDING", "AFFIX", "PUNCT", "SYMBOL", "FOREIGN", "WORD", "X",
)

# Sejong-style tags (Kiwi, mecab-ko, Komoran), matched by longest prefix.
_SEJONG_PREFIXES = {
    "NNP": "PROPN", "NNB": "NOUN", "NNG": "NOUN", "NR": "NUM", "NP": "PRON", "XR": "NOUN",
    "VV": "VERB", "VA": "ADJ", "VX": "AUX", "VC": "AUX",
    "MM": "DET", "MA": "ADV", "IC": "INTJ",
    "J": "PARTICLE", "E": "ENDING", "XP": "AFFIX", "XS": "AFFIX",
    "SF": "PUNCT", "SP": "PUNCT", "SS": "PUNCT", "SE": "PUNCT", "SO": "PUNCT", "SC": "PUNCT",
    "SW": "SYMBOL", "SY": "SYMBOL", "W_EMOJI": "SYMBOL", "W_HASHTAG": "SYMBOL",
    "W_MENTION": "SYMBOL", "W_URL": "FOREIGN", "W_EMAIL": "FOREIGN", "W_SERIAL": "NUM",
    "SL": "FOREIGN", "SH": "FOREIGN", "SN": "NUM",
    "Z_": "ENDING", "USER": "NOUN", "NA": "X", "NF": "X", "NV": "X", "UN": "X",
}

# Kkma's own tags that the Sejong prefixes would get wrong.
_KKMA = {
    "NNM": "NOUN", "VXV": "AUX", "VXA": "AUX", "MDT": "DET", "MDN": "DET", "MAC": "ADV",
    "OL": "FOREIGN", "OH": "FOREIGN", "ON": "NUM", "EMO": "SYMBOL", "UN": "X",
}

# Hannanum, 22-tag set.
_HANNANUM = {
    "NC": "NOUN", "NQ": "PROPN", "NB": "NOUN", "NN": "NUM", "NP": "PRON",
    "PV": "VERB", "PA": "ADJ", "PX": "AUX", "MM": "DET", "MA": "ADV", "II": "INTJ",
    "JC": "PARTICLE", "JX": "PARTICLE", "JP": "AUX",
    "EP": "ENDING", "EF": "ENDING", "EC": "ENDING", "ET": "ENDING",
    "XP": "AFFIX", "XS": "AFFIX", "F": "FOREIGN",
    "SP": "PUNCT", "SF": "PUNCT", "SL": "PUNCT", "SR": "PUNCT", "SD": "PUNCT", "SE": "PUNCT",
    "SU": "SYMBOL", "SY": "SYMBOL",
}

# Okt (Open Korean Text).
_OKT = {
    "Noun": "NOUN", "ProperNoun": "PROPN", "Verb": "VERB", "Adjective": "ADJ", "Adverb": "ADV",
    "Determiner": "DET", "Modifier": "DET", "Exclamation": "INTJ", "Josa": "PARTICLE",
    "Eomi": "ENDING", "PreEomi": "ENDING", "Conjunction": "ADV", "VerbPrefix": "AFFIX",
    "Suffix": "AFFIX", "Punctuation": "PUNCT", "Foreign": "SYMBOL", "Alpha": "FOREIGN",
    "Number": "NUM", "KoreanParticle": "SYMBOL", "Hashtag": "SYMBOL", "ScreenName": "SYMBOL",
    "Email": "FOREIGN", "URL": "FOREIGN", "Unknown": "X",
}


def sejong(tag: str) -> str:
    """Coarse tag of a Sejong-style tag; mecab's ``VV+EP`` fusions take their first part."""
    head = tag.split("+", 1)[0]
    for length in range(len(head), 0, -1):
        coarse = _SEJONG_PREFIXES.get(head[:length])
        if coarse:
            return coarse
    return "X"


def kkma(tag: str) -> str:
    return _KKMA.get(tag) or sejong(tag)


def hannanum(tag: str) -> str:
    return _HANNANUM.get(tag, "X")


def okt(tag: str) -> str:
    return _OKT.get(tag, "X")


def by_characters(text: str) -> str:
    """Coarse tag from the characters alone, for tokenizers that know no parts of speech."""
    if not text:
        return "X"
    if any("\uac00" <= char <= "\ud7a3" for char in text):
        return "WORD"
    if text.isdigit():
        return "NUM"
    if all(char.isascii() and char.isalpha() for char in text):
        return "FOREIGN"
    if all(unicodedata.category(char).startswith("P") for char in text):
        return "PUNCT"
    return "SYMBOL"
