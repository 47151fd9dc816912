"""The machinery intent and spam classification share: data, training, calibration, saving."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from chatbot.capabilities import GivesWordVectors
from chatbot.data.corpus import Example
from chatbot.data.splits import split_examples
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, TrainContext
from chatbot.training.checkpoint import save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit, seed_everything
from chatbot.training.safe_load import SavedState, finite_confidence
from chatbot.training.vocab import Vocab
from chatbot_plugins.classify.features import Encoded, collate, encode, token_strings
from chatbot_plugins.classify.model import Ensemble, TextClassifier

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
META_FILE = "classifier.json"
INFERENCE_BATCH = 256
# Calibration keeps the temperature in this range; a saved one outside it is damage (0 or NaN
# would make every confidence NaN).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


class ClassifierConfig(TrainSettings):
    encoder: Literal["gru", "lstm", "cnn"] = Field("gru", description="sequence encoder")
    embed_dim: int = Field(128, ge=8, le=4096, description="token embedding size")
    hidden: int = Field(128, ge=8, le=8192, description="encoder size (per direction)")
    ngram_buckets: int = Field(50_000, ge=1000, le=10_000_000,
                               description="hash buckets for char n-grams")
    ngram_dim: int = Field(64, ge=8, le=4096, description="character n-gram embedding size")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout rate")
    max_vocab: int = Field(30_000, ge=100, le=2_000_000, description="most token types kept")
    balance_classes: bool = Field(
        True, description="weight the loss by inverse square-root class frequency"
    )
    members: int = Field(
        1, ge=1, le=10, description="classifiers trained with different seeds whose "
        "predictions are averaged (an ensemble); each one adds its training time",
    )
    pretrained: Literal["auto", "none"] = Field(
        "auto", description="auto: start the token embeddings from an earlier embed.word2vec "
        "step's vectors when the pipeline has one; none: random start",
    )


class ClassifierPlugin(Plugin):
    """Base of the text classifiers: subclasses say which label an example has and what to do
    with a prediction."""

    Config = ClassifierConfig
    requires = ("text",)
    packages = (Package("torch", "torch"),)
    trainable = True

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__(config)
        self.model: TextClassifier | None = None
        self.vocab: Vocab | None = None
        self.labels: list[str] = []
        self.temperature = 1.0
        self.histories: list[History] = []

    # -- what subclasses decide --------------------------------------------------------------

    def label_of(self, example: Example) -> str | None:
        """The training label of an example, or None to leave it out."""
        raise NotImplementedError

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        """Write the prediction into the message."""
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------------

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        # One example per (text, label): a question seen with several answers would otherwise
        # weigh more, and its copies would land on both sides of the dev split. Follow-up turns
        # ("왜?") are left out: their label is the conversation's, not the text's.
        labelled = list({(e.text, self.label_of(e)): e for e in corpus.examples
                         if self.label_of(e) and not e.history}.values())
        counts = Counter(self.label_of(e) for e in labelled)
        if len(counts) < 2:
            raise ChatbotError(
                f"{self.name} needs examples of at least two labels; {corpus.name} has "
                f"{dict(counts) or 'none'}",
                hint="add a dataset with these labels to training.datasets",
            )
        config = self.config
        splits = split_examples(labelled, dev=config.dev_share, test=0.0, seed=context.seed)
        self.labels = sorted(counts)
        label_ids = {label: i for i, label in enumerate(self.labels)}
        train_messages = context.upstream(e.text for e in splits.train)
        dev_messages = context.upstream(e.text for e in splits.dev)
        self.vocab = Vocab.build((token_strings(m) for m in train_messages),
                                 max_size=config.max_vocab)
        train = [encode(m, self.vocab, config.ngram_buckets, label_ids[self.label_of(e)])
                 for m, e in zip(train_messages, splits.train, strict=True)]
        dev = [encode(m, self.vocab, config.ngram_buckets, label_ids[self.label_of(e)])
               for m, e in zip(dev_messages, splits.dev, strict=True)]
        weights = self._class_weights(counts) if config.balance_classes else None

        def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["tokens"], batch["ngrams"])
            class_weights = None if weights is None else weights.to(logits.device)
            return F.cross_entropy(logits, batch["labels"], weight=class_weights)

        members, self.histories = [], []
        for index in range(config.members):
            # Each member has its own seed (initialisation, dropout, batch order) and its own
            # checkpoint folder, so an interrupted ensemble resumes where it stopped.
            member_context = replace(context, seed=context.seed + index)
            seed_everything(member_context.seed)
            member = self._new_member()
            if config.pretrained == "auto":
                self._init_from_word_vectors(member, context)
            label = self.name if config.members == 1 else f"{self.name}.{index + 1}"
            self.histories.append(fit(member, train, dev, collate, loss, self._evaluate, config,
                                      member_context, label, monitor="dev_macro_f1"))
            members.append(member)
        self.model = Ensemble(members).eval()
        self.temperature = self._calibrate(dev)
        if config.members > 1:
            with torch.no_grad():
                logger.info("%s: ensemble of %d on dev: %s", self.name, config.members,
                            self._evaluate(self.model, dev, "cpu"))
        logger.info("%s: best epoch %d, temperature %.2f", self.name, self.history.best_epoch,
                    self.temperature)

    def label_names(self) -> list[str]:
        """Every label the classifier can predict (chatbot.capabilities.HasLabels)."""
        return list(self.labels)

    @property
    def history(self) -> History:
        """The first member's training history (the whole story when ``members`` is 1)."""
        return self.histories[0] if self.histories else History()

    def _new_member(self) -> TextClassifier:
        config = self.config
        return TextClassifier(len(self.vocab), len(self.labels), config.embed_dim, config.hidden,
                              config.encoder, config.ngram_buckets, config.ngram_dim,
                              config.dropout)

    def _init_from_word_vectors(self, member: TextClassifier, context: TrainContext) -> None:
        """Copy an earlier word2vec step's vectors into the embedding rows of known tokens."""
        embedders = [p for p in context.earlier if isinstance(p, GivesWordVectors)]
        if not embedders:
            return
        vectors = embedders[-1].vectors_for(self.vocab.tokens)  # (vocab, w2v dim)
        table = member.embed.weight  # (vocab, embed_dim)
        if vectors.shape[1] != table.shape[1]:
            raise ChatbotError(
                f"{self.name}: embed_dim {table.shape[1]} differs from {embedders[-1].name}'s "
                f"dim {vectors.shape[1]}",
                hint=f"set {self.name}.embed_dim={vectors.shape[1]}, or pretrained=none",
            )
        known = vectors.abs().sum(dim=1) > 0  # (vocab,) rows word2vec has a vector for
        # Scale the vectors to the random rows' spread so neither kind dominates at the start.
        scale = table[~known].std() / vectors[known].std().clamp_min(1e-6) if known.any() else 1
        with torch.no_grad():
            table[known] = vectors[known] * scale
        logger.info("%s: %d of %d token embeddings start from %s", self.name,
                    int(known.sum()), len(known), embedders[-1].name)

    def _class_weights(self, counts: Counter) -> torch.Tensor:
        raw = torch.tensor([counts[label] ** -0.5 for label in self.labels])
        return raw * len(raw) / raw.sum()

    def _logits(self, model: nn.Module, data: list[Encoded], device) -> torch.Tensor:
        outputs = []
        for start in range(0, len(data), INFERENCE_BATCH):
            batch = collate(data[start:start + INFERENCE_BATCH])
            outputs.append(model(batch["tokens"].to(device), batch["ngrams"].to(device)).float())
        return torch.cat(outputs) if outputs else torch.zeros(0, len(self.labels))

    def _evaluate(self, model: nn.Module, dev: list[Encoded], device) -> dict[str, float]:
        logits = self._logits(model, dev, device).cpu()
        gold = torch.tensor([e.label for e in dev])
        predicted = logits.argmax(-1)
        f1s = []
        for label in range(len(self.labels)):
            true_positive = ((predicted == label) & (gold == label)).sum().item()
            predicted_n, gold_n = (predicted == label).sum().item(), (gold == label).sum().item()
            if gold_n or predicted_n:
                f1s.append(2 * true_positive / (predicted_n + gold_n))
        return {
            "dev_loss": F.cross_entropy(logits, gold).item(),
            "dev_accuracy": (predicted == gold).float().mean().item(),
            "dev_macro_f1": sum(f1s) / len(f1s),
        }

    def _calibrate(self, dev: list[Encoded]) -> float:
        """Temperature scaling: the T that makes dev confidences honest (lowest NLL)."""
        if not dev:
            return 1.0
        with torch.no_grad():
            logits = self._logits(self.model, dev, "cpu")
        gold = torch.tensor([e.label for e in dev])
        log_t = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = F.cross_entropy(logits / log_t.exp(), gold)
            value.backward()
            return value

        optimizer.step(closure)
        temperature = float(log_t.detach().exp())
        if not math.isfinite(temperature):  # LBFGS diverged (a near-flat model's best T is huge)
            temperature = min((MIN_TEMPERATURE, 1.0, MAX_TEMPERATURE),
                              key=lambda t: float(F.cross_entropy(logits / t, gold)))
        return min(max(temperature, MIN_TEMPERATURE), MAX_TEMPERATURE)

    # -- running -----------------------------------------------------------------------------

    def probabilities(self, messages: list[Message]) -> list[dict[str, float]]:
        """Calibrated label probabilities for each message."""
        if self.model is None:
            raise NotFittedError(self.name)
        data = [encode(m, self.vocab, self.config.ngram_buckets) for m in messages]
        with torch.no_grad():
            probs = torch.softmax(self._logits(self.model, data, "cpu") / self.temperature, -1)
        return [dict(zip(self.labels, [finite_confidence(self.name, p) for p in row.tolist()],
                         strict=True)) for row in probs]

    def process(self, messages: list[Message]) -> list[Message]:
        for message, probabilities in zip(messages, self.probabilities(messages), strict=True):
            self.assign(message, probabilities)
        return messages

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        if self.model is None:
            raise NotFittedError(self.name)
        save_weights(self.model, path / WEIGHTS_FILE)
        meta = {"labels": self.labels, "temperature": self.temperature,
                "vocab": self.vocab.to_json()}
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        for history, folder in zip(self.histories, self._history_folders(), strict=False):
            (path / folder).mkdir(exist_ok=True)
            history.save(path / folder, self.name)

    def _history_folders(self) -> list[str]:
        """history.json of member 1 beside the model (""), of members 2.. in member-N/."""
        return [""] + [f"member-{i}" for i in range(2, self.config.members + 1)]

    @classmethod
    def load(cls, path: Path, config: ClassifierConfig) -> Self:
        state = SavedState(path, cls.name)
        meta = state.json_object(META_FILE, ("labels", "temperature", "vocab"))
        plugin = cls(config)
        plugin.labels = state.strings(f"labels in {META_FILE}", meta["labels"], unique=True,
                                      minimum=2)
        plugin.temperature = state.number(f"temperature in {META_FILE}", meta["temperature"],
                                          MIN_TEMPERATURE, MAX_TEMPERATURE)
        plugin.vocab = state.vocab(f"vocab in {META_FILE}", meta["vocab"])
        # Every size that builds the network, against the saved weights (first member's).
        weights = WEIGHTS_FILE
        members = {key.split(".")[1] for key in state.header(weights)
                   if key.startswith("members.")}
        state.size("members in config.yaml", config.members, len(members), weights, 1)
        embed = state.shape(weights, "members.0.embed.weight", dims=2)
        ngrams = state.shape(weights, "members.0.ngrams.weight", dims=2)
        classes = state.shape(weights, "members.0.ngram_out.weight", dims=2)[0]
        if config.encoder == "cnn":
            hidden = state.shape(weights, "members.0.convs.0.weight", dims=3)[0]
        else:
            hidden = state.shape(weights, "members.0.rnn.weight_hh_l0", dims=2)[1]
        state.size(f"the vocabulary in {META_FILE}", len(plugin.vocab), embed[0], weights)
        state.size(f"the labels in {META_FILE}", len(plugin.labels), classes, weights)
        state.size("embed_dim in config.yaml", config.embed_dim, embed[1], weights)
        state.size("hidden in config.yaml", config.hidden, hidden, weights)
        state.size("ngram_buckets in config.yaml", config.ngram_buckets, ngrams[0], weights)
        state.size("ngram_dim in config.yaml", config.ngram_dim, ngrams[1], weights)
        plugin.model = state.weights(weights, lambda: Ensemble(
            [plugin._new_member() for _ in range(config.members)]))
        histories = (state.history(folder) for folder in plugin._history_folders())
        plugin.histories = [history for history in histories if history is not None]
        return plugin
