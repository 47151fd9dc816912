"""embed.word2vec: word vectors learned from the corpus, and sentence vectors built from them.

Training reads every text of the corpus (sentences, questions, answers) as the earlier steps of
the pipeline tokenize it, and learns skip-gram or CBOW vectors with negative sampling through
the shared training loop. A message's vector is the mean of its words' vectors, or the SIF
sentence embedding (Arora et al., 2017): a frequency-weighted mean minus its projection on the
corpus' first principal component, which mostly encodes frequent words and syntax rather than
meaning.

Words are token surfaces, the strings ``classify.intent`` reads, so that a classifier can
initialise its embedding table from :meth:`Word2VecEmbedder.vectors_for` row by row.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from chatbot.data.corpus import Example
from chatbot.data.splits import split_examples
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, TrainContext
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit, seed_everything
from chatbot.training.safe_load import SavedState
from chatbot.training.vocab import Vocab
from chatbot_plugins.embed.word2vec_model import (
    ARCHITECTURES,
    Word2VecModel,
    negative_sampling_loss,
)

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

VECTORS_FILE = "vectors.safetensors"
META_FILE = "word2vec.json"
EVAL_BATCH = 4096
NOISE_POWER = 0.75  # word2vec's smoothing of the unigram distribution for noise words
SIF_A = 1e-3  # SIF's weight parameter a in a / (a + p(w))
FIRST_REAL_ID = 2  # ids 0 and 1 are the vocabulary's padding and unknown


class Word2VecConfig(TrainSettings):
    # Each epoch sees every word pair of the corpus, so a few epochs suffice, and big batches
    # keep the many small steps cheap.
    epochs: int = Field(5, ge=1, le=10_000, description="most passes over the training pairs")
    batch_size: int = Field(512, ge=1, le=1_000_000, description="word pairs per step")
    learning_rate: float = Field(5e-3, gt=0, description="AdamW learning rate")
    # Weight decay would pull rarely updated (rare word) vectors towards zero at every step.
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    dim: int = Field(128, ge=2, le=4096, description="vector size")
    window: int = Field(5, ge=1, le=100,
                        description="most words on each side that count as context")
    negatives: int = Field(5, ge=1, le=100, description="noise words per true pair")
    min_count: int = Field(2, ge=1, description="words seen fewer times get no vector")
    architecture: Literal["skipgram", "cbow"] = Field(
        "skipgram", description="skipgram: a word predicts its neighbours (better for rare "
        "words); cbow: the neighbours predict the word (faster)",
    )
    subsample: float = Field(
        1e-4, ge=0, description="frequent-word subsampling threshold t: a word of frequency f "
        "is kept with probability (sqrt(f/t) + 1) t/f; 0: off",
    )
    sentence_vector: Literal["mean", "sif"] = Field(
        "sif", description="mean: plain mean of the word vectors; sif: weighted by a/(a+p(w)) "
        "with the common component removed",
    )
    use: Literal["kept", "all"] = Field(
        "kept", description="kept: tokens left after stopword removal; all: every token",
    )


@dataclass
class Pairs:
    """Training examples as tensors (a million pairs cost megabytes, not Python objects).

    Attributes:
        center: (n,) center word ids.
        context: (n,) one context id each (skip-gram) or (n, 2 * window) context ids padded
            with 0 (CBOW).
        negatives: (n, k) fixed noise ids, for dev pairs only (training draws fresh ones).
    """

    center: torch.Tensor
    context: torch.Tensor
    negatives: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.center)


def keep_probabilities(counts: list[int], threshold: float) -> list[float]:
    """word2vec's subsampling: the chance of keeping each occurrence of a word, by its id.

    Frequent words (particles, 오늘, 너무) say little about their neighbours and would take
    most of the training pairs; dropping most of their occurrences also brings the content
    words of a sentence closer together.
    """
    total = sum(counts)
    if threshold <= 0 or total == 0:
        return [1.0] * len(counts)
    keep = []
    for count in counts:
        frequency = count / total
        keep.append(1.0 if count == 0 else
                    min(1.0, (math.sqrt(frequency / threshold) + 1) * threshold / frequency))
    return keep


def make_pairs(sentences: list[list[int]], window: int, cbow: bool, keep: list[float],
               rng: random.Random) -> Pairs:
    """Subsample each sentence, then pair each word with the words around it.

    As in word2vec, each center word gets a window of random size 1..window, so that near
    neighbours are paired more often than far ones.
    """
    centers: list[int] = []
    contexts: list = []  # ints (skip-gram) or padded lists of ints (CBOW)
    for ids in sentences:
        ids = [i for i in ids if keep[i] >= 1.0 or rng.random() < keep[i]]
        for position, center in enumerate(ids):
            reach = rng.randint(1, window)
            around = ids[max(0, position - reach):position] + ids[position + 1:position + 1 + reach]
            if not around:
                continue
            if cbow:
                centers.append(center)
                contexts.append(around + [0] * (2 * window - len(around)))
            else:
                centers.extend([center] * len(around))
                contexts.extend(around)
    context = torch.tensor(contexts, dtype=torch.long)
    if cbow:
        context = context.view(-1, 2 * window)  # keeps its width when there are no pairs
    return Pairs(torch.tensor(centers, dtype=torch.long), context)


class Word2VecEmbedder(Plugin):
    """Word vectors learned from the corpus (word2vec); a message's vector is their mean or SIF.

    Public helpers for other plugins: :meth:`vectors_for` (rows for a token list, to initialise
    an embedding table), :meth:`nearest` (cosine neighbours) and :meth:`sentence_vectors`.
    """

    name = "embed.word2vec"
    Config = Word2VecConfig
    requires = ("tokens",)
    assigns = ("vector",)
    packages = (Package("torch", "torch"),)
    trainable = True

    def __init__(self, config: Word2VecConfig) -> None:
        super().__init__(config)
        self.vocab: Vocab | None = None
        self.counts: list[int] = []  # training occurrences of each vocabulary entry, by id
        self.vectors: torch.Tensor | None = None  # (vocab, dim); rows 0 and 1 are zero
        self.sif_weights = torch.zeros(0)  # (vocab,) a / (a + p(w))
        self.sif_component = torch.zeros(config.dim)  # (dim,) unit vector, or zero
        self.history = History()

    # -- training ----------------------------------------------------------------------------

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        config = self.config
        # A question repeats once per answer in dialog data; count each distinct text once.
        texts = list(dict.fromkeys(corpus.texts()))
        # Split by text (duplicates on one side), so dev pairs come from unseen sentences.
        splits = split_examples([Example(text) for text in texts], dev=config.dev_share,
                                test=0.0, seed=context.seed)
        train_words = [self.words(m) for m in context.upstream(e.text for e in splits.train)]
        dev_words = [self.words(m) for m in context.upstream(e.text for e in splits.dev)]
        self.vocab = Vocab.build(train_words, min_count=config.min_count)
        if len(self.vocab) <= FIRST_REAL_ID:
            raise ChatbotError(
                f"{self.name}: no word of {corpus.name} occurs {config.min_count} times or more",
                hint="train on more text, or lower min_count",
            )
        counts = Counter(word for words in train_words for word in words)
        self.counts = [counts[token] if i >= FIRST_REAL_ID else 0
                       for i, token in enumerate(self.vocab.tokens)]

        rng = random.Random(context.seed)
        keep = keep_probabilities(self.counts, config.subsample)
        cbow = config.architecture == "cbow"
        train = make_pairs(self._encode(train_words), config.window, cbow, keep, rng)
        dev = make_pairs(self._encode(dev_words), config.window, cbow, keep, rng)
        if len(train) == 0:
            raise ChatbotError(f"{self.name}: {corpus.name} has no sentence of two known words",
                               hint="train on more text, or lower min_count")
        if len(dev) == 0:  # a tiny corpus: watching training pairs beats watching nothing
            logger.warning("%s: no dev pairs; the dev metric is measured on training pairs",
                           self.name)
            dev = Pairs(train.center[:EVAL_BATCH], train.context[:EVAL_BATCH])
        noise = torch.tensor(self.counts, dtype=torch.float64) ** NOISE_POWER  # (vocab,)
        # Fixed dev noise words, so that epochs are compared on the very same task.
        generator = torch.Generator().manual_seed(context.seed)
        dev.negatives = torch.multinomial(noise, len(dev) * config.negatives, replacement=True,
                                          generator=generator).view(len(dev), config.negatives)

        def collate(indices: list[int]) -> dict[str, torch.Tensor]:
            # The "examples" handed to the loop are row numbers of ``train``; fresh noise words
            # every batch (the loop seeds torch's generator, so runs repeat exactly).
            rows = torch.tensor(indices, dtype=torch.long)
            negatives = torch.multinomial(noise, len(rows) * config.negatives, replacement=True)
            return {"center": train.center[rows], "context": train.context[rows],
                    "negatives": negatives.view(len(rows), config.negatives)}

        def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            return model(batch["center"], batch["context"], batch["negatives"])

        # fit() seeds once the model exists; seed its initialisation too, so runs repeat.
        seed_everything(context.seed)
        model = ARCHITECTURES[config.architecture](len(self.vocab), config.dim)
        logger.info("%s: %d words, %d training and %d dev pairs", self.name, len(self.vocab),
                    len(train), len(dev))
        self.history = fit(model, range(len(train)), dev, collate, loss, _evaluate, config,
                           context, self.name, monitor="dev_pair_accuracy")
        self._set_vectors(model.input.weight.detach().float().clone())
        self.sif_component = self._first_component(train_words)

    def _encode(self, sentences: list[list[str]]) -> list[list[int]]:
        # Words below min_count are left out, as in word2vec, rather than trained as <unk>.
        return [[i for i in self.vocab.encode(words) if i >= FIRST_REAL_ID]
                for words in sentences]

    def _set_vectors(self, vectors: torch.Tensor) -> None:
        vectors[:FIRST_REAL_ID] = 0.0  # padding and unknown words have no meaning to add
        self.vectors = vectors
        total = max(sum(self.counts), 1)
        probability = torch.tensor(self.counts, dtype=torch.float32) / total
        self.sif_weights = SIF_A / (SIF_A + probability)

    def _first_component(self, sentences: list[list[str]]) -> torch.Tensor:
        """The first principal (singular) direction of the training sentences' SIF averages.

        Uncentered, as in the SIF paper: the direction every sentence shares.
        """
        averages = [self._sif_average(words) for words in sentences]
        matrix = torch.stack([a for a in averages if a.any()] or [torch.zeros(self.dim)])
        if not matrix.any():
            return torch.zeros(self.dim)
        _, _, right = torch.linalg.svd(matrix.double(), full_matrices=False)
        return right[0].float()  # (dim,), unit length

    # -- running -----------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self.config.dim if self.vectors is None else self.vectors.shape[1]

    def words(self, message: Message) -> list[str]:
        """The words of a message this plugin reads: token surfaces, kept or all per ``use``."""
        tokens = message.kept_tokens() if self.config.use == "kept" else message.tokens or []
        return [token.surface for token in tokens]

    def vectors_for(self, tokens: list[str]) -> torch.Tensor:
        """Vectors for a list of token strings: (len(tokens), dim), zero rows for unknown ones.

        Args:
            tokens: token strings, e.g. a classifier's vocabulary in id order.

        Returns:
            A new float32 tensor; changing it does not change this plugin.
        """
        self._check_fitted()
        ids = self.vocab.encode(tokens)  # unknown -> 1, whose row is zero
        return self.vectors[torch.tensor(ids, dtype=torch.long)].clone()

    def nearest(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words whose vectors are closest to ``word``'s by cosine, best first.

        Raises:
            ChatbotError: the word has no vector (unseen, or seen fewer than min_count times).
        """
        self._check_fitted()
        index = self.vocab.index.get(word, 1)
        if index < FIRST_REAL_ID:
            raise ChatbotError(
                f"{self.name} has no vector for {word!r}",
                hint=f"only words seen at least min_count={self.config.min_count} times in "
                "training have one; words are token surfaces as the tokenizer splits them",
            )
        unit = F.normalize(self.vectors, dim=1)  # (vocab, dim)
        similarity = unit @ unit[index]  # (vocab,)
        similarity[:FIRST_REAL_ID] = -math.inf
        similarity[index] = -math.inf
        best = similarity.topk(min(k, len(self.vocab) - FIRST_REAL_ID - 1))
        return [(self.vocab.tokens[i], round(float(s), 6))
                for s, i in zip(best.values, best.indices, strict=True)]

    def sentence_vectors(self, messages: list[Message]) -> torch.Tensor:
        """Sentence vectors of tokenized messages, (len(messages), dim), per ``sentence_vector``.

        A message without a known word gets a zero vector. Each row depends on its message
        alone, so a batch gives the same rows as one message at a time.
        """
        self._check_fitted()
        rows = [self._sentence_vector(self.words(message)) for message in messages]
        return torch.stack(rows) if rows else torch.zeros(0, self.dim)

    def _sentence_vector(self, words: list[str]) -> torch.Tensor:
        if self.config.sentence_vector == "mean":
            ids = self._known_ids(words)
            return self.vectors[ids].mean(dim=0) if ids else torch.zeros(self.dim)
        average = self._sif_average(words)  # (dim,)
        return average - (average @ self.sif_component) * self.sif_component  # (dim,)

    def _sif_average(self, words: list[str]) -> torch.Tensor:
        ids = self._known_ids(words)
        if not ids:
            return torch.zeros(self.dim)
        weights = self.sif_weights[ids].unsqueeze(1)  # (words, 1)
        return (weights * self.vectors[ids]).sum(dim=0) / len(ids)  # (dim,)

    def _known_ids(self, words: list[str]) -> list[int]:
        return [i for i in self.vocab.encode(words) if i >= FIRST_REAL_ID]

    def process(self, messages: list[Message]) -> list[Message]:
        for message, vector in zip(messages, self.sentence_vectors(messages), strict=True):
            message.vector = vector.tolist()
        return messages

    def _check_fitted(self) -> None:
        if self.vectors is None:
            raise NotFittedError(self.name)

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        self._check_fitted()
        save_file({"vectors": self.vectors.contiguous()}, str(path / VECTORS_FILE))
        meta = {
            "vocab": self.vocab.to_json(),
            "counts": self.counts,
            "sif_component": self.sif_component.tolist(),
            "settings": self.config.model_dump(mode="json"),
        }
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        self.history.save(path, self.name)

    @classmethod
    def load(cls, path: Path, config: Word2VecConfig) -> Self:
        state = SavedState(path, cls.name)
        meta = state.json_object(META_FILE, ("vocab", "counts", "sif_component"))
        vocab = state.vocab(f"vocab in {META_FILE}", meta["vocab"])
        # The sizes, against the saved vectors, before anything is built (the plugin itself
        # allocates a vector of the configured dim).
        rows, dim = state.shape(VECTORS_FILE, "vectors", dims=2)
        state.size(f"the vocabulary in {META_FILE}", len(vocab), rows, VECTORS_FILE)
        state.size("dim in config.yaml", config.dim, dim, VECTORS_FILE)
        counts, component = meta["counts"], meta["sif_component"]
        if not isinstance(counts, list) or not isinstance(component, list):
            raise state.error(f"counts and sif_component in {META_FILE} must be lists")
        state.size(f"the counts in {META_FILE}", len(counts), rows, VECTORS_FILE)
        state.size(f"the sif_component in {META_FILE}", len(component), dim, VECTORS_FILE)
        counts = [state.size(f"a count in {META_FILE}", count) for count in counts]
        # A unit vector (or zero): its parts are within [-1, 1], give or take rounding.
        component = [state.number(f"a value of sif_component in {META_FILE}", value, -1.01,
                                  1.01) for value in component]
        vectors = state.tensors(VECTORS_FILE, {"vectors": ("F32", 2)})["vectors"]
        plugin = cls(config)
        plugin.vocab, plugin.counts = vocab, counts
        plugin._set_vectors(vectors)
        plugin.sif_component = torch.tensor(component, dtype=torch.float32)
        plugin.history = state.history() or History()
        return plugin


def _evaluate(model: Word2VecModel, dev: Pairs, device: torch.device) -> dict[str, float]:
    """Held-out negative-sampling loss, and how often a true pair outscores a noise pair.

    ``dev_pair_accuracy`` is the share of (true context, noise word) comparisons on unseen
    sentences that the true context wins (ties count half): 0.5 before training, rising as the
    vectors learn which words go together.
    """
    total_loss, wins = 0.0, 0.0
    for start in range(0, len(dev), EVAL_BATCH):
        part = slice(start, start + EVAL_BATCH)
        scores = model.scores(dev.center[part].to(device), dev.context[part].to(device),
                              dev.negatives[part].to(device)).float()  # (batch, 1 + k)
        total_loss += negative_sampling_loss(scores).sum().item()
        true, noise = scores[:, :1], scores[:, 1:]
        wins += ((true > noise).sum() + 0.5 * (true == noise).sum()).item()
    return {"dev_loss": total_loss / len(dev),
            "dev_pair_accuracy": wins / (len(dev) * dev.negatives.shape[1])}
