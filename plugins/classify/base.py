"""The machinery intent and spam classification share: data, training, calibration, saving."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from chatbot.data.corpus import Example
from chatbot.data.splits import split_examples
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, TrainContext
from chatbot.training.checkpoint import load_weights, save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.vocab import Vocab
from chatbot_plugins.classify.features import Encoded, collate, encode, token_strings
from chatbot_plugins.classify.model import TextClassifier

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
META_FILE = "classifier.json"
INFERENCE_BATCH = 256


class ClassifierConfig(TrainSettings):
    encoder: Literal["gru", "lstm", "cnn"] = Field("gru", description="sequence encoder")
    embed_dim: int = Field(128, ge=8, description="token embedding size")
    hidden: int = Field(128, ge=8, description="encoder size (per direction)")
    ngram_buckets: int = Field(50_000, ge=1000, description="hash buckets for char n-grams")
    ngram_dim: int = Field(64, ge=8, description="character n-gram embedding size")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout rate")
    max_vocab: int = Field(30_000, ge=100, description="most token types kept")
    balance_classes: bool = Field(
        True, description="weight the loss by inverse square-root class frequency"
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
        self.history = History()

    # -- what subclasses decide --------------------------------------------------------------

    def label_of(self, example: Example) -> str | None:
        """The training label of an example, or None to leave it out."""
        raise NotImplementedError

    def assign(self, message: Message, probabilities: dict[str, float]) -> None:
        """Write the prediction into the message."""
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------------

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        labelled = [e for e in corpus.examples if self.label_of(e)]
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
        self.model = self._new_model()
        weights = self._class_weights(counts) if config.balance_classes else None

        def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["tokens"], batch["ngrams"])
            class_weights = None if weights is None else weights.to(logits.device)
            return F.cross_entropy(logits, batch["labels"], weight=class_weights)

        self.history = fit(self.model, train, dev, collate, loss, self._evaluate, config,
                           context, self.name, monitor="dev_macro_f1")
        self.temperature = self._calibrate(dev)
        logger.info("%s: best epoch %d, temperature %.2f", self.name, self.history.best_epoch,
                    self.temperature)

    def _new_model(self) -> TextClassifier:
        config = self.config
        return TextClassifier(len(self.vocab), len(self.labels), config.embed_dim, config.hidden,
                              config.encoder, config.ngram_buckets, config.ngram_dim,
                              config.dropout)

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
        return float(log_t.detach().exp().clamp(0.05, 20.0))

    # -- running -----------------------------------------------------------------------------

    def probabilities(self, messages: list[Message]) -> list[dict[str, float]]:
        """Calibrated label probabilities for each message."""
        if self.model is None:
            raise NotFittedError(self.name)
        data = [encode(m, self.vocab, self.config.ngram_buckets) for m in messages]
        with torch.no_grad():
            probs = torch.softmax(self._logits(self.model, data, "cpu") / self.temperature, -1)
        return [dict(zip(self.labels, row.tolist(), strict=True)) for row in probs]

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
        self.history.save(path, self.name)

    @classmethod
    def load(cls, path: Path, config: ClassifierConfig) -> Self:
        plugin = cls(config)
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        plugin.labels = [str(label) for label in meta["labels"]]
        plugin.temperature = float(meta["temperature"])
        plugin.vocab = Vocab.from_json(meta["vocab"])
        plugin.model = plugin._new_model()
        load_weights(plugin.model, path / WEIGHTS_FILE)
        plugin.model.eval()
        return plugin
