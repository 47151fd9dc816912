"""spacing.bigru: the project's own neural spacing model, trained on well-spaced text.

Training pairs are made from well-spaced sentences by taking spaces away, with noise: some
sentences lose every space, the others keep only a share of their spaces and get a few wrong
ones. The network reads the characters together with the spaces it was given and decides, after
every character, whether a space belongs there. So at run time it uses the spaces a user typed
as evidence (keeping the right ones, dropping the wrong ones) and fills in the missing ones.
"""

from __future__ import annotations

import json
import logging
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field, field_validator
from torch import nn
from torch.nn import functional as F

from chatbot.data.corpus import Example
from chatbot.data.splits import split_examples
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, TrainContext
from chatbot.training.checkpoint import save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.safe_load import SavedState
from chatbot.training.vocab import Vocab
from chatbot_plugins.spacing.bigru_model import SpacingModel

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
META_FILE = "spacing.json"
INFERENCE_BATCH = 256
MIN_SENTENCES = 20
# Characters outside the vocabulary fall back to their kind, so an unseen syllable, letter or
# emoji still tells the model what sort of character stands there.
CHAR_KINDS = ("<hangul>", "<jamo>", "<latin>", "<digit>", "<other>")


class BiGruSpacingConfig(TrainSettings):
    # Defaults tuned on KorSTS (benchmarks/spacing.py): about 6 minutes of training on two CPU
    # cores for 16,000 sentences. Sentences are plentiful, so a smaller share goes to dev.
    epochs: int = Field(10, ge=1, le=10_000, description="most passes over the training data")
    learning_rate: float = Field(3e-3, gt=0, description="AdamW learning rate")
    dev_share: float = Field(0.05, gt=0, lt=0.5, description="share of the sentences held out "
                             "as dev")
    embed_dim: int = Field(96, ge=8, le=4096, description="character embedding size")
    bigram_buckets: int = Field(50_000, ge=0, le=10_000_000,
                                description="hash buckets for character pairs; "
                                            "0: no pair embeddings")
    conv_channels: int = Field(64, ge=8, le=4096, description="channels of each convolution")
    conv_widths: tuple[int, ...] = Field((3, 5, 7), min_length=1,
                                         description="widths of the convolutions (odd)")
    hidden: int = Field(128, ge=8, le=8192, description="BiGRU size (per direction)")
    layers: int = Field(1, ge=1, le=4, description="stacked BiGRU layers")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout rate")
    min_count: int = Field(2, ge=1, description="characters seen fewer times use their kind")
    max_vocab: int = Field(6000, ge=100, le=1_000_000, description="most characters kept")
    threshold: float = Field(0.5, gt=0, lt=1, description="probability above which a space "
                             "is put after a character")
    reset_whitespace: bool = Field(False, description="ignore the typed spaces and decide them "
                                   "anew (those inside Latin words and numbers stay)")
    # Noise: most training sentences come with no spaces (the hard case, and unspaced chat);
    # the rest keep some right spaces and get a few wrong ones, so typed spaces are evidence
    # the model weighs, not copies.
    unspaced_share: float = Field(0.7, ge=0, le=1, description="noise: share of training "
                                  "sentences given with no spaces at all")
    keep_spaces: float = Field(0.7, ge=0, le=1, description="noise: in the other sentences, the "
                               "chance that each right space is kept")
    wrong_spaces: float = Field(0.01, ge=0, lt=1, description="noise: in the other sentences, "
                                "the chance of a wrong space after a character")

    @field_validator("conv_widths")
    @classmethod
    def _odd_widths(cls, widths: tuple[int, ...]) -> tuple[int, ...]:
        if any(width < 1 or width % 2 == 0 for width in widths):
            raise ValueError("convolution widths must be odd and positive (they keep the length)")
        return widths


@dataclass
class Encoded:
    """One sentence as the network sees it.

    Attributes:
        chars: character ids of the non-space characters.
        syllables: for each, 1 + its index among the Hangul syllables, or 0 for other characters.
        bigrams: for each, the hashed id of it and the next character (the last: of it and the
            end), or all 0 when the model has no bigram buckets.
        spaces: 1 where the input had a space after the character, else 0.
        gold: 1 where a space belongs after the character (empty when unknown).
    """

    chars: list[int]
    syllables: list[int]
    bigrams: list[int]
    spaces: list[int]
    gold: list[int]


def char_kind(char: str) -> str:
    """The fallback token of a character that is not in the vocabulary."""
    if "가" <= char <= "힣":
        return "<hangul>"
    if "ㄱ" <= char <= "ㆎ":
        return "<jamo>"
    if char.isdigit():
        return "<digit>"
    if char.isalpha():
        return "<latin>"  # any other letter: Latin in practice
    return "<other>"


def syllable_number(char: str) -> int:
    """1 + the index of a Hangul syllable (가 → 1), 0 for any other character."""
    return ord(char) - 0xAC00 + 1 if "가" <= char <= "힣" else 0


def is_foreign_alnum(char: str) -> bool:
    """A letter or digit that is not Korean (a Hangul syllable or jamo)."""
    return char.isalnum() and not ("가" <= char <= "힣" or "ㄱ" <= char <= "ㆎ")


def hash_bigram(char: str, after: str, buckets: int) -> int:
    """A character pair hashed into 1..buckets (crc32: the same in every process)."""
    return zlib.crc32(f"{char}{after}".encode()) % buckets + 1


def split_spaces(text: str) -> tuple[list[str], list[int]]:
    """The non-space characters of a text and, for each, whether whitespace follows it.

    ``"내일 봐요"`` → ``(["내", "일", "봐", "요"], [0, 1, 0, 0])``; the last character never
    has a space after it.
    """
    chars: list[str] = []
    spaces: list[int] = []
    for char in text:
        if char.isspace():
            if chars:
                spaces[-1] = 1
        else:
            chars.append(char)
            spaces.append(0)
    if spaces:
        spaces[-1] = 0
    return chars, spaces


def join_spaces(chars: list[str], spaces: list[int]) -> str:
    """The inverse of :func:`split_spaces`: characters with one space where marked."""
    last = len(chars) - 1
    return "".join(char + (" " if space and i < last else "")
                   for i, (char, space) in enumerate(zip(chars, spaces, strict=True)))


def noisy_spaces(gold: list[int], config: BiGruSpacingConfig,
                 draw: Callable[[], float]) -> list[int]:
    """The spaces a training sentence is given: none at all, or some right ones and a few wrong.

    Args:
        gold: the right spaces after each character.
        config: the noise settings (unspaced_share, keep_spaces, wrong_spaces).
        draw: uniform random numbers in [0, 1): ``random.random`` under :func:`fit`, whose
            generator fit() seeds and checkpoints, so a resumed run draws the same noise.
    """
    if draw() < config.unspaced_share:
        return [0] * len(gold)
    spaces = [int(draw() < config.keep_spaces) if space
              else int(draw() < config.wrong_spaces) for space in gold]
    if spaces:
        spaces[-1] = 0
    return spaces


def collate(batch: list[Encoded]) -> dict[str, torch.Tensor]:
    """Pad encoded sentences into tensors; ``spaces`` holds 0 padding, 1 no space, 2 space."""
    length = max(1, max(len(e.chars) for e in batch))
    chars = torch.zeros(len(batch), length, dtype=torch.long)
    syllables = torch.zeros(len(batch), length, dtype=torch.long)
    bigrams = torch.zeros(len(batch), length, dtype=torch.long)
    spaces = torch.zeros(len(batch), length, dtype=torch.long)
    gold = torch.zeros(len(batch), length)
    for row, example in enumerate(batch):
        size = len(example.chars)
        chars[row, :size] = torch.tensor(example.chars, dtype=torch.long)
        syllables[row, :size] = torch.tensor(example.syllables, dtype=torch.long)
        bigrams[row, :size] = torch.tensor(example.bigrams, dtype=torch.long)
        spaces[row, :size] = torch.tensor(example.spaces, dtype=torch.long) + 1
        if example.gold:
            gold[row, :size] = torch.tensor(example.gold, dtype=torch.float)
    return {"chars": chars, "syllables": syllables, "bigrams": bigrams, "spaces": spaces,
            "gold": gold}


def space_scores(predicted: list[list[int]], gold: list[list[int]]) -> dict[str, float]:
    """Precision, recall and F1 of "space after character i", and whole-sentence exact match."""
    hits = n_predicted = n_gold = exact = 0
    for guess, truth in zip(predicted, gold, strict=True):
        hits += sum(1 for g, t in zip(guess, truth, strict=True) if g and t)
        n_predicted += sum(guess)
        n_gold += sum(truth)
        exact += guess == truth
    precision = hits / n_predicted if n_predicted else 0.0
    recall = hits / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "exact": exact / len(gold) if gold else 0.0}


class BiGruSpacing(Plugin):
    """Spacing correction by the project's own character CNN + BiGRU, trained on well-spaced
    sentences of the corpus (plain sentences and dialog answers).

    It keeps the right spaces of its input, drops wrong ones and inserts missing ones.
    """

    name = "spacing.bigru"
    Config = BiGruSpacingConfig
    assigns = ("spaced",)
    packages = (Package("torch", "torch"),)
    trainable = True

    def __init__(self, config: BiGruSpacingConfig) -> None:
        super().__init__(config)
        self.model: SpacingModel | None = None
        self.vocab: Vocab | None = None
        self.sizes: dict[str, Any] = {}  # what the network was built with
        self.history = History()

    # -- training ----------------------------------------------------------------------------

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        config = self.config
        well_spaced = corpus.sentences + [e.answer for e in corpus.examples if e.answer]
        # Through the fitted steps before this one, so it learns on normalized text, as at
        # run time; dict.fromkeys drops repeats and keeps the order.
        lines = list(dict.fromkeys(
            " ".join(sentence.split())
            for message in context.upstream(well_spaced)
            for sentence in message.current_sentences
        ))
        lines = [line for line in lines if len(line) > 1]
        if len(lines) < MIN_SENTENCES:
            raise ChatbotError(
                f"{self.name} needs at least {MIN_SENTENCES} well-spaced sentences; "
                f"{corpus.name} has {len(lines)}",
                hint="add a dataset with plain sentences or dialog answers to training.datasets",
            )
        splits = split_examples([Example(line) for line in lines], dev=config.dev_share,
                                test=0.0, seed=context.seed)
        train_lines = [e.text for e in splits.train]
        # A corpus too small for a dev side: score on part of the training sentences instead.
        dev_lines = [e.text for e in splits.dev] or train_lines[: max(1, len(train_lines) // 10)]
        self.sizes = {"embed_dim": config.embed_dim, "conv_channels": config.conv_channels,
                      "widths": list(config.conv_widths), "hidden": config.hidden,
                      "layers": config.layers, "dropout": config.dropout,
                      "bigram_buckets": config.bigram_buckets}
        self.vocab = Vocab.build((split_spaces(line)[0] for line in train_lines),
                                 min_count=config.min_count, max_size=config.max_vocab,
                                 specials=CHAR_KINDS)
        train = [self._encode(line, gold=True) for line in train_lines]
        # Dev sentences are scored with every space taken away: the hardest input, and the
        # one benchmarks and unspaced chat give.
        dev = [replace(e, spaces=[0] * len(e.chars))
               for e in (self._encode(line, gold=True) for line in dev_lines)]
        dev_chars = [split_spaces(line)[0] for line in dev_lines]
        self.model = self._new_model()

        def noisy_collate(batch: list[Encoded]) -> dict[str, torch.Tensor]:
            # Fresh noise every epoch: the model never sees one fixed corruption twice.
            return collate([replace(e, spaces=noisy_spaces(e.gold, config, random.random))
                            for e in batch])

        def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["chars"], batch["syllables"], batch["bigrams"],
                           batch["spaces"])
            mask = batch["chars"] != 0
            return F.binary_cross_entropy_with_logits(logits[mask], batch["gold"][mask])

        def evaluate(model: nn.Module, dev: list[Encoded], device: torch.device
                     ) -> dict[str, float]:
            return self._evaluate(model, dev, dev_chars, device)

        self.history = fit(self.model, train, dev, noisy_collate, loss, evaluate, config,
                           context, self.name, monitor="dev_char_f1")
        logger.info("%s: %d train / %d dev sentences, %d characters, best epoch %d",
                    self.name, len(train), len(dev), len(self.vocab), self.history.best_epoch)

    def _new_model(self) -> SpacingModel:
        sizes = self.sizes
        return SpacingModel(len(self.vocab), sizes["embed_dim"], sizes["conv_channels"],
                            tuple(sizes["widths"]), sizes["hidden"], sizes["layers"],
                            sizes["dropout"], sizes["bigram_buckets"])

    def _encode(self, text: str, gold: bool = False) -> Encoded:
        """A text as ids; with ``gold`` its spaces are the target, else the input's evidence."""
        chars, spaces = split_spaces(text)
        index = self.vocab.index
        ids = [index.get(char) or index[char_kind(char)] for char in chars]
        syllables = [syllable_number(char) for char in chars]
        buckets = self.sizes["bigram_buckets"]
        bigrams = ([hash_bigram(char, after, buckets)
                    for char, after in zip(chars, (chars + [""])[1:], strict=True)]
                   if buckets else [0] * len(chars))
        if gold:
            return Encoded(ids, syllables, bigrams, spaces, spaces)
        if self.config.reset_whitespace:
            spaces = [0] * len(spaces)
        return Encoded(ids, syllables, bigrams, spaces, [])

    def _probabilities(self, model: nn.Module, data: list[Encoded],
                       device: torch.device | str) -> list[list[float]]:
        """P(space after each character) of every sentence, one forward pass per batch.

        Sentences are batched by length, so little of each batch is padding.
        """
        order = sorted(range(len(data)), key=lambda i: len(data[i].chars))
        out: list[list[float]] = [[] for _ in data]
        for start in range(0, len(order), INFERENCE_BATCH):
            rows = [i for i in order[start:start + INFERENCE_BATCH] if data[i].chars]
            if not rows:
                continue
            batch = collate([data[i] for i in rows])
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(batch["chars"], batch["syllables"], batch["bigrams"],
                           batch["spaces"])
            probs = torch.sigmoid(logits.float()).cpu()  # (batch, length)
            for row, i in enumerate(rows):
                out[i] = probs[row, :len(data[i].chars)].tolist()
        return out

    def _evaluate(self, model: nn.Module, dev: list[Encoded], dev_chars: list[list[str]],
                  device: torch.device) -> dict[str, float]:
        """Dev scores of the spaces as :meth:`space` would put them (dev_char_f1 is monitored)."""
        probabilities = self._probabilities(model, dev, device)
        predicted = [self._decide(chars, e.spaces, probs)
                     for chars, e, probs in zip(dev_chars, dev, probabilities, strict=True)]
        scores = space_scores(predicted, [e.gold for e in dev])
        flat_probs = torch.tensor([p for probs in probabilities for p in probs])
        flat_gold = torch.tensor([float(g) for e in dev for g in e.gold])
        return {
            "dev_loss": F.binary_cross_entropy(flat_probs.clamp(1e-7, 1 - 1e-7),
                                               flat_gold).item(),
            "dev_char_f1": scores["f1"],
            "dev_exact": scores["exact"],
        }

    # -- running -----------------------------------------------------------------------------

    def space(self, sentences: list[str]) -> list[str]:
        """Each sentence with its spacing corrected; characters other than spaces are kept.

        The model decides every space except inside runs of non-Korean letters and digits, where
        the typed spaces stay. Whitespace becomes single spaces; empty sentences stay empty.
        """
        if self.model is None:
            raise NotFittedError(self.name)
        data = [self._encode(sentence) for sentence in sentences]
        with torch.no_grad():
            probabilities = self._probabilities(self.model, data, "cpu")
        spaced = []
        for sentence, probs in zip(sentences, probabilities, strict=True):
            chars, typed = split_spaces(sentence)
            spaced.append(join_spaces(chars, self._decide(chars, typed, probs)))
        return spaced

    def _decide(self, chars: list[str], typed: list[int], probs: list[float]) -> list[int]:
        """Where the spaces go: the model's probability against the threshold, except that
        inside a Latin word or a number ("Hello", "KTX3", "2026") the typed spaces stay; the
        model, trained on Korean, has little to go on there."""
        threshold = self.config.threshold
        return [space if is_foreign_alnum(char) and is_foreign_alnum(after)
                else int(p >= threshold and after != "")
                for char, after, p, space in zip(chars, (chars + [""])[1:], probs, typed,
                                                  strict=True)]

    def process(self, messages: list[Message]) -> list[Message]:
        # The sentences of every message in one list: one forward pass per batch of them.
        flat = [sentence for message in messages for sentence in message.current_sentences]
        spaced = self.space(flat)
        position = 0
        for message in messages:
            count = len(message.current_sentences)
            message.spaced = " ".join(s for s in spaced[position:position + count] if s)
            position += count
        return messages

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        if self.model is None:
            raise NotFittedError(self.name)
        save_weights(self.model, path / WEIGHTS_FILE)
        # The sizes rebuild the network that the weights fit; the threshold is the one the
        # history's dev scores were measured with (the config's threshold applies at run time).
        meta = {"vocab": self.vocab.to_json(), "sizes": self.sizes,
                "threshold": self.config.threshold}
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        self.history.save(path, self.name)

    @classmethod
    def load(cls, path: Path, config: BiGruSpacingConfig) -> Self:
        state = SavedState(path, cls.name)
        meta = state.json_object(META_FILE, ("vocab", "sizes"))
        vocab = state.vocab(f"vocab in {META_FILE}", meta["vocab"])
        missing = [kind for kind in CHAR_KINDS if kind not in vocab.index]
        if missing:
            raise state.error(f"vocab in {META_FILE} lacks {', '.join(missing)}")
        sizes = meta["sizes"]
        keys = ("embed_dim", "conv_channels", "widths", "hidden", "layers", "dropout",
                "bigram_buckets")
        if not isinstance(sizes, dict) or any(key not in sizes for key in keys):
            raise state.error(f"sizes in {META_FILE} must be an object with {', '.join(keys)}")
        if not isinstance(sizes["widths"], list):
            raise state.error(f"widths in {META_FILE} must be a list")
        # Every size that builds the network, against the saved weights.
        weights = WEIGHTS_FILE
        header = state.header(weights)
        embed = state.shape(weights, "embed.weight", dims=2)
        hidden = state.shape(weights, "rnn.weight_hh_l0", dims=2)[1]
        layers = sum(1 for key in header if re.fullmatch(r"rnn\.weight_hh_l\d+", key))
        convs = [state.shape(weights, f"convs.{i}.weight", dims=3) for i in
                 range(sum(1 for key in header if re.fullmatch(r"convs\.\d+\.weight", key)))]
        bigrams = (state.shape(weights, "bigram.weight", dims=2)[0] - 1
                   if "bigram.weight" in header else 0)
        where = f"in {META_FILE}"
        state.size(f"the vocabulary {where}", len(vocab), embed[0], weights)
        state.size(f"embed_dim {where}", sizes["embed_dim"], embed[1], weights)
        state.size(f"hidden {where}", sizes["hidden"], hidden, weights)
        state.size(f"layers {where}", sizes["layers"], layers, weights, 1)
        state.size(f"bigram_buckets {where}", sizes["bigram_buckets"], bigrams, weights)
        state.size(f"the widths {where}", len(sizes["widths"]), len(convs), weights, 1)
        for number, (width, conv) in enumerate(zip(sizes["widths"], convs, strict=True), 1):
            state.size(f"conv_channels {where}", sizes["conv_channels"], conv[0], weights)
            if state.size(f"width {number} {where}", width, conv[2], weights, 1) % 2 == 0:
                raise state.error(f"width {number} {where} is {width}; widths are odd")
        plugin = cls(config)
        plugin.vocab = vocab
        plugin.sizes = {key: sizes[key] for key in keys}
        plugin.sizes["dropout"] = state.number(f"dropout {where}", sizes["dropout"], 0.0, 1.0)
        plugin.model = state.weights(weights, plugin._new_model)
        return plugin
