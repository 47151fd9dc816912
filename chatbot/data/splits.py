"""Deterministic train/dev/test splits that keep duplicate questions on one side.

An example's side is decided by a hash of its normalized text and the seed, not by its position:
the same question always lands on the same side (so a model is never tested on a question it
trained on, even when the corpus repeats it), and adding rows does not move the others.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from chatbot.data.corpus import Example

_SPACES_AND_MARKS = re.compile(r"[\s.,!?~…]+")
_BUCKETS = 10_000


@dataclass
class Splits:
    train: list[Example]
    dev: list[Example]
    test: list[Example]


def split_key(text: str) -> str:
    """What counts as "the same question": NFC, case, spaces and trailing marks ignored."""
    return _SPACES_AND_MARKS.sub("", unicodedata.normalize("NFC", text).lower())


def split_examples(
    examples: list[Example], dev: float = 0.1, test: float = 0.1, seed: int = 42
) -> Splits:
    """Split examples by the hash of their question; order within each side is kept.

    Args:
        examples: the examples to split.
        dev: the share of distinct questions for the dev side (0..1).
        test: the share for the test side.
        seed: another seed gives another, equally deterministic, split.
    """
    if not (0 <= dev and 0 <= test and dev + test < 1):
        raise ValueError(f"dev ({dev}) and test ({test}) must be shares that sum below 1")
    splits = Splits([], [], [])
    for example in examples:
        digest = hashlib.sha1(f"{seed}:{split_key(example.text)}".encode()).digest()
        bucket = int.from_bytes(digest[:4], "big") % _BUCKETS / _BUCKETS
        side = splits.test if bucket < test else splits.dev if bucket < test + dev else splits.train
        side.append(example)
    return splits
