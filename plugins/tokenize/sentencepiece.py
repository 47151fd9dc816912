"""tokenize.sentencepiece: subword pieces from a sentencepiece model trained at fit."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Token
from chatbot.plugin import Package, PluginConfig, TrainContext
from chatbot.training.safe_load import SavedState
from chatbot_plugins.tokenize import tagsets
from chatbot_plugins.tokenize.base import TokenizerPlugin, make_token

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

MODEL_FILE = "sentencepiece.model"
WORD_START = "\u2581"  # "▁": sentencepiece marks a piece that begins a word


class SentencePieceConfig(PluginConfig):
    vocab_size: int = Field(4000, ge=100, le=64000, description="pieces in the vocabulary")
    model_type: Literal["unigram", "bpe"] = Field("unigram", description="subword algorithm")
    character_coverage: float = Field(
        0.9995, gt=0.9, le=1.0, description="share of characters the vocabulary must cover"
    )


class SentencePieceTokenizer(TokenizerPlugin):
    """Subword pieces (sentencepiece unigram or BPE) learned from the corpus at fit."""

    name = "tokenize.sentencepiece"
    Config = SentencePieceConfig
    packages = (Package("sentencepiece", "sentencepiece"),)
    trainable = True

    def __init__(self, config: SentencePieceConfig, model_proto: bytes | None = None) -> None:
        super().__init__(config)
        self.model_proto = model_proto
        self.processor = None if model_proto is None else _processor(model_proto)

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        texts = [m.current_text for m in context.upstream(corpus.texts()) if m.current_text]
        self.model_proto = train_sentencepiece(
            texts, self.config.vocab_size, self.config.model_type,
            self.config.character_coverage, f"{self.name} on {corpus.name}",
        )
        self.processor = _processor(self.model_proto)

    def tokenize_batch(self, texts: list[str]) -> list[list[Token]]:
        if self.processor is None:
            raise NotFittedError(self.name)
        return [
            [_token(piece) for piece in pieces if piece != WORD_START]
            for pieces in self.processor.encode(texts, out_type=str)
        ]

    def save(self, path: Path) -> None:
        if self.model_proto is None:
            raise NotFittedError(self.name)
        (path / MODEL_FILE).write_bytes(self.model_proto)

    @classmethod
    def load(cls, path: Path, config: SentencePieceConfig) -> Self:
        state = SavedState(path, cls.name)
        try:
            plugin = cls(config, state.file(MODEL_FILE).read_bytes())
        except (RuntimeError, OSError, TypeError) as error:  # what sentencepiece raises
            raise state.error(f"{MODEL_FILE} is not a sentencepiece model ({error})") from None
        if plugin.processor.get_piece_size() == 0:  # an empty file loads, then fails at use
            raise state.error(f"{MODEL_FILE} is not a sentencepiece model (it has no pieces)")
        return plugin


def train_sentencepiece(texts: list[str], vocab_size: int, model_type: str = "unigram",
                        character_coverage: float = 0.9995, what: str = "sentencepiece",
                        **options: Any) -> bytes:
    """Train a sentencepiece model on ``texts`` in memory; returns its serialized proto.

    ``options`` go to the trainer as they are (special ids, user-defined symbols...).
    """
    import sentencepiece

    model = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            hard_vocab_limit=False,  # a small corpus may not support the full vocabulary
            minloglevel=2,
            **options,
        )
    except RuntimeError as error:
        raise ChatbotError(
            f"{what}: sentencepiece could not train: {error}",
            hint="raise vocab_size (Korean needs a piece for each common syllable) or "
            "lower character_coverage",
        ) from None
    return model.getvalue()


def _token(piece: str) -> Token:
    surface = piece.lstrip(WORD_START)
    return make_token(surface, tagsets.by_characters(surface), piece, surface)


def _processor(model_proto: bytes) -> Any:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_proto=model_proto)
