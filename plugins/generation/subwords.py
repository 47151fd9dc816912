"""The subword vocabulary of the generators (respond.seq2seq, fallback.lm): sentencepiece
with fixed special ids, so that model ids and vocabulary ids are the same numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatbot.training.safe_load import SavedState
from chatbot_plugins.tokenize.sentencepiece import train_sentencepiece

PAD, UNK, BOS, EOS, SEP = 0, 1, 2, 3, 4
SEP_PIECE = "<sep>"


class Subwords:
    """Text <-> ids with a sentencepiece model; decoding gives back spaced Korean text."""

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece

        self.model_proto = model_proto
        self.processor: Any = sentencepiece.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, texts: list[str], vocab_size: int, what: str) -> Subwords:
        """Learn a unigram vocabulary of ``vocab_size`` pieces from ``texts`` (``what``: the
        plugin, for messages)."""
        proto = train_sentencepiece(
            texts, vocab_size, "unigram", 0.9995, what, pad_id=PAD, unk_id=UNK, bos_id=BOS,
            eos_id=EOS, user_defined_symbols=[SEP_PIECE],
        )
        return cls(proto)

    def __len__(self) -> int:
        """The vocabulary size (special pieces included)."""
        return self.processor.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        """The ids of each text (no BOS or EOS added)."""
        return self.processor.encode(texts)

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids``; special pieces (padding, BOS, EOS, <sep>) are left out."""
        return self.processor.decode([i for i in ids if i > SEP])

    def save(self, path: Path) -> None:
        """Write the sentencepiece model to ``path``."""
        path.write_bytes(self.model_proto)

    @classmethod
    def load(cls, state: SavedState, name: str) -> Subwords:
        """Read a model that :meth:`save` wrote into a plugin's saved state, checking that it
        is a sentencepiece model with the special ids the generators use."""
        try:
            subwords = cls(state.file(name).read_bytes())
        except (RuntimeError, OSError, TypeError) as error:  # what sentencepiece raises
            raise state.error(f"{name} is not a sentencepiece model ({error})") from None
        processor = subwords.processor
        specials = (processor.pad_id(), processor.unk_id(), processor.bos_id(),
                    processor.eos_id(), processor.piece_to_id(SEP_PIECE))
        if len(subwords) <= SEP or specials != (PAD, UNK, BOS, EOS, SEP):
            raise state.error(f"{name} is not a subword model of the generators (their "
                              f"special pieces have the ids {PAD}..{SEP})")
        return subwords
