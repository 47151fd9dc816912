"""A vocabulary: strings to integer ids and back, saved as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """Ids for tokens; 0 is padding and 1 is unknown, then the given specials."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 1,
              max_size: int | None = None, specials: tuple[str, ...] = ()) -> Vocab:
        """The most frequent tokens seen at least ``min_count`` times (ties by first sight)."""
        counts = Counter(token for sequence in sequences for token in sequence)
        fixed = [PAD, UNK, *specials]
        kept = [t for t, n in counts.most_common() if n >= min_count and t not in fixed]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(fixed))]
        return cls(fixed + kept)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.index.get(token, 1) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def to_json(self) -> list[str]:
        return self.tokens

    @classmethod
    def from_json(cls, data: Any) -> Vocab:
        if not isinstance(data, list) or data[:2] != [PAD, UNK]:
            raise ValueError("not a saved vocabulary (it must start with <pad>, <unk>)")
        return cls([str(token) for token in data])
