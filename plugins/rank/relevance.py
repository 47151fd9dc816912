"""rank.relevance: how well a candidate reply fits a message, for the responders after it.

A small cross-encoder (chatbot_plugins.rank.relevance_model) compares a candidate reply, piece
by piece, with the message and the previous user turn and gives the probability that the reply
fits. It learns from the dialog pairs: each reply with its own message fits; a random reply,
the reply of a near-miss question with another intent, and (for a follow-up turn) its own reply
after another conversation's previous turn do not. Its probabilities are calibrated (a scale
and a bias of the logit) on a tune split held out of the training data, and on that split it
also chooses the threshold that ``min_relevance: auto`` uses: the lowest at which the replies
it lets through fit with the precision ``gate_precision``.

The step itself changes no message: it offers :meth:`RelevanceRanker.relevance`
(chatbot.capabilities.ScoresRelevance) to later steps, which rerank their candidates with it
and decline replies below their ``min_relevance``, and show every candidate's relevance in the
trace (``extras.relevance``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from chatbot.data.splits import split_examples
from chatbot.errors import NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, Plugin, TrainContext
from chatbot.training.checkpoint import save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.safe_load import SavedState
from chatbot_plugins.generation.subwords import Subwords
from chatbot_plugins.rank.relevance_model import KernelMatcher
from chatbot_plugins.rank.relevance_pairs import Pair, relevance_pairs
from chatbot_plugins.respond.base import dialog_pairs, text_of

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "relevance.safetensors"
VOCAB_FILE = "subwords.model"
META_FILE = "relevance.json"
# Subwords kept of each part: the end of the previous turn and of the message (where Korean
# puts what is asked), the start of the reply.
CONTEXT_PIECES, MESSAGE_PIECES, REPLY_PIECES = 16, 24, 32
SCORE_BATCH = 256
Encoded = tuple[list[int], list[int], list[int], float]  # message, reply, context ids; label


class RelevanceConfig(TrainSettings):
    epochs: int = Field(4, ge=1, le=10_000, description="most passes over the pairs")
    batch_size: int = Field(64, ge=1, le=65_536, description="pairs per step")
    learning_rate: float = Field(5e-3, gt=0, description="AdamW learning rate")
    patience: int = Field(1, ge=1, le=10_000,
                          description="stop after this many epochs without a better dev score")
    vocab_size: int = Field(3000, ge=100, le=1_000_000,
                            description="sentencepiece vocabulary size")
    dim: int = Field(64, ge=8, le=4096, description="subword embedding size")
    hidden: int = Field(64, ge=8, le=8192, description="size of the scoring layer")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout rate")
    gate_precision: float = Field(
        0.7, gt=0, lt=1, description="min_relevance: auto is the lowest relevance at which, "
        "on the tune split, the replies let through fit with this precision")


class RelevanceRanker(Plugin):
    """Scores (message, candidate reply) pairs with a small cross-encoder, as calibrated
    probabilities; later responders rerank and gate their replies with it."""

    name = "rank.relevance"
    Config = RelevanceConfig
    requires = ("text",)
    assigns = ()
    packages = (Package("torch", "torch"), Package("sentencepiece", "sentencepiece"))
    trainable = True

    def __init__(self, config: RelevanceConfig) -> None:
        super().__init__(config)
        self.model: KernelMatcher | None = None
        self.subwords: Subwords | None = None
        self.scale, self.bias, self.threshold = 1.0, 0.0, 0.5
        self.tune_metrics: dict[str, float] = {}
        self.history = History()

    # -- training ----------------------------------------------------------------------------

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        config = self.config
        examples = dialog_pairs(corpus, self.name, follow_ups=True)
        splits = split_examples(examples, dev=config.dev_share, test=0.0, seed=context.seed)
        texts = {id(e): text_of(m) for e, m in
                 zip(examples, context.upstream(e.text for e in examples), strict=True)}
        self.subwords = Subwords.train(
            list(texts.values()) + [e.answer for e in examples], config.vocab_size, self.name)
        train_pairs = relevance_pairs(splits.train, [texts[id(e)] for e in splits.train],
                                      context.seed)
        tune_pairs = relevance_pairs(splits.dev, [texts[id(e)] for e in splits.dev],
                                     context.seed + 1)
        train, tune = self._encode(train_pairs), self._encode(tune_pairs)
        self.model = self._new_model()

        def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            logits = model(batch["message"], batch["reply"], batch["context"])  # (batch,)
            return F.binary_cross_entropy_with_logits(logits.float(), batch["fits"])

        self.history = fit(self.model, train, tune, collate, loss, _evaluate, config, context,
                           self.name, monitor="dev_log_likelihood")
        self._calibrate(tune)
        logger.info("%s: on the tune split %s; threshold %.2f at precision %.2f", self.name,
                    self.tune_metrics, self.threshold, config.gate_precision)

    def _encode(self, pairs: list[Pair]) -> list[Encoded]:
        """Each pair as the ids of its parts and 1.0 if it fits, else 0.0."""
        return self._encoded([p.message for p in pairs], [p.reply for p in pairs],
                             [p.context for p in pairs], [1.0 if p.fits else 0.0 for p in pairs])

    def _encoded(self, messages: list[str], replies: list[str], contexts: list[str],
                 labels: list[float]) -> list[Encoded]:
        """The ids the model reads: the end of the message and of the previous turn (where
        Korean puts what is asked), the start of the reply."""
        encode = self.subwords.encode
        return [(message[-MESSAGE_PIECES:], reply[:REPLY_PIECES], context[-CONTEXT_PIECES:],
                 label)
                for message, reply, context, label in zip(
                    encode(messages), encode(replies), encode(contexts), labels, strict=True)]

    def _new_model(self) -> KernelMatcher:
        config = self.config
        return KernelMatcher(len(self.subwords), config.dim, config.hidden, config.dropout)

    def _calibrate(self, tune: list[Encoded]) -> None:
        """Fit the scale and bias of the logit on the tune split (Platt scaling), then pick
        the gate threshold there."""
        logits = _logits(self.model, tune)  # (pairs,)
        gold = torch.tensor([fits for *_, fits in tune])  # (pairs,)
        scale = torch.ones(1, requires_grad=True)
        bias = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.LBFGS([scale, bias], lr=0.1, max_iter=100)

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            value = F.binary_cross_entropy_with_logits(logits * scale + bias, gold)
            value.backward()
            return value

        optimizer.step(closure)
        self.scale = float(scale.detach().clamp(0.01, 100))
        self.bias = float(bias.detach().clamp(-50, 50))
        probabilities = torch.sigmoid(logits * self.scale + self.bias)  # (pairs,)
        self.threshold = _threshold_at_precision(probabilities, gold,
                                                 self.config.gate_precision)
        passed = probabilities >= self.threshold
        self.tune_metrics = {
            "pairs": len(tune),
            "accuracy": round(float(((probabilities >= 0.5) == (gold > 0.5)).float().mean()), 4),
            "precision_at_threshold": round(float(gold[passed].mean()) if passed.any() else 0, 4),
            "recall_at_threshold": round(float(passed[gold > 0.5].float().mean()), 4),
        }

    # -- running -----------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        return messages  # it scores pairs for later steps (relevance), it changes no message

    def relevance(self, messages: list[Message], replies: list[list[str]]) -> list[list[float]]:
        """For each message, the calibrated probability that each of its candidate replies
        fits it, after the previous user turn in its history
        (chatbot.capabilities.ScoresRelevance)."""
        if self.model is None:
            raise NotFittedError(self.name)
        rows = [(message, reply) for message, candidates in zip(messages, replies, strict=True)
                for reply in candidates]
        if not rows:
            return [[] for _ in messages]
        encoded = self._encoded([text_of(m) for m, _ in rows], [reply for _, reply in rows],
                                [m.history[-1].user if m.history else "" for m, _ in rows],
                                [0.0] * len(rows))
        flat = torch.sigmoid(_logits(self.model, encoded) * self.scale + self.bias).tolist()
        scores, start = [], 0
        for candidates in replies:
            scores.append(flat[start:start + len(candidates)])
            start += len(candidates)
        return scores

    def tuned_threshold(self) -> float:
        """The gate threshold chosen on the tune split (chatbot.capabilities.ScoresRelevance)."""
        return self.threshold

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        if self.model is None:
            raise NotFittedError(self.name)
        save_weights(self.model.to("cpu"), path / WEIGHTS_FILE)
        self.subwords.save(path / VOCAB_FILE)
        (path / META_FILE).write_text(json.dumps(
            {"scale": self.scale, "bias": self.bias, "threshold": self.threshold,
             "tune": self.tune_metrics}, indent=2), encoding="utf-8")
        self.history.save(path, self.name)

    @classmethod
    def load(cls, path: Path, config: RelevanceConfig) -> Self:
        state = SavedState(path, cls.name)
        plugin = cls(config)
        plugin.subwords = Subwords.load(state, VOCAB_FILE)
        meta = state.json_object(META_FILE, ("scale", "bias", "threshold"))
        plugin.scale = state.number(f"scale in {META_FILE}", meta["scale"], 0.01, 100)
        plugin.bias = state.number(f"bias in {META_FILE}", meta["bias"], -50, 50)
        plugin.threshold = state.number(f"threshold in {META_FILE}", meta["threshold"], 0, 1)
        plugin.tune_metrics = meta.get("tune") if isinstance(meta.get("tune"), dict) else {}
        weights = WEIGHTS_FILE
        embed = state.shape(weights, "embed.weight", dims=2)
        hidden = state.shape(weights, "score.0.weight", dims=2)[0]
        state.size(f"the vocabulary of {VOCAB_FILE}", len(plugin.subwords), embed[0], weights)
        state.size("dim in config.yaml", config.dim, embed[1], weights)
        state.size("hidden in config.yaml", config.hidden, hidden, weights)
        plugin.model = state.weights(weights, plugin._new_model)
        plugin.history = state.history() or History()
        return plugin


def _padded(rows: list[list[int]]) -> torch.Tensor:
    """Ids right-padded with 0: (rows, longest); at least one column."""
    out = torch.zeros(len(rows), max(1, *(len(row) for row in rows)), dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(batch: list[Encoded]) -> dict[str, torch.Tensor]:
    """The padded ids of each part, and the labels."""
    return {"message": _padded([row[0] for row in batch]),
            "reply": _padded([row[1] for row in batch]),
            "context": _padded([row[2] for row in batch]),
            "fits": torch.tensor([row[3] for row in batch])}


def _logits(model: nn.Module, rows: list, device: torch.device | str = "cpu") -> torch.Tensor:
    """The model's logit of every row, in eval mode: (rows,)."""
    was_training = model.training
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(rows), SCORE_BATCH):
            batch = collate(rows[start:start + SCORE_BATCH])
            outputs.append(model(batch["message"].to(device), batch["reply"].to(device),
                                 batch["context"].to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(outputs) if outputs else torch.zeros(0)


def _evaluate(model: nn.Module, dev: list, device: torch.device) -> dict[str, float]:
    logits = _logits(model, dev, device)  # (pairs,)
    gold = torch.tensor([fits for *_, fits in dev])  # (pairs,)
    loss = float(F.binary_cross_entropy_with_logits(logits, gold))
    accuracy = float(((logits >= 0) == (gold > 0.5)).float().mean())
    return {"dev_loss": loss, "dev_log_likelihood": -loss, "dev_accuracy": accuracy}


def _threshold_at_precision(probabilities: torch.Tensor, gold: torch.Tensor,
                            precision: float) -> float:
    """The lowest probability at which the pairs at or above it fit with ``precision``
    (0.5 when no threshold reaches it)."""
    order = probabilities.argsort(descending=True)
    fits = gold[order]  # (pairs,) best scored first
    reached = fits.cumsum(0) / torch.arange(1, len(fits) + 1)  # precision of each prefix
    good = (reached >= precision).nonzero()
    if not len(good):
        return 0.5
    return float(probabilities[order][int(good[-1])])
