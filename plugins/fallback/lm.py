"""fallback.lm: a language model that answers whatever the responders before it declined.

It learns the dialog corpus as "question <sep> answer" sequences, so that given a question
and <sep> it continues with an answer. Sampling is top-k / top-p with a temperature
(chatbot_plugins.generation), seeded per message so the same message gets the same reply. It
is a responder like the others (it answers open messages only, and declines a reply whose mean
token probability is below ``threshold``, or relevance below ``min_relevance``, saying why),
and the last one: a message whose generated reply it declined gets the canned reply, so every
message is answered; with ``canned_reply: null``, fallback.helpful after it answers instead.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from chatbot.contract import Contract
from chatbot.data.splits import split_examples
from chatbot.errors import NotFittedError
from chatbot.message import Message
from chatbot.plugin import Package, TrainContext
from chatbot.training.checkpoint import save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.safe_load import SavedState
from chatbot_plugins.fallback.lm_model import LstmLanguageModel, TransformerLanguageModel
from chatbot_plugins.generation.decoding import inference, sample
from chatbot_plugins.generation.pretraining import PretrainedStart, pretrained_for
from chatbot_plugins.generation.subwords import BOS, EOS, PAD, SEP, Subwords
from chatbot_plugins.respond.base import (
    Answer,
    Responder,
    ResponderConfig,
    dialog_pairs,
    text_of,
)

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "lm.safetensors"
VOCAB_FILE = "subwords.model"
META_FILE = "lm.json"
MAX_PROMPT = 48  # subwords of the question the model sees (its end)


class LanguageModelConfig(TrainSettings, ResponderConfig, PretrainedStart):
    epochs: int = Field(20, ge=1, le=10_000, description="most passes over the dialog pairs")
    learning_rate: float = Field(3e-3, gt=0, description="AdamW learning rate")
    vocab_size: int = Field(4000, ge=100, le=1_000_000, description="sentencepiece vocabulary size")
    architecture: Literal["lstm", "transformer"] = Field(
        "lstm", description="lstm: an LSTM language model; transformer: a decoder-only "
        "pre-LayerNorm Transformer whose width is hidden, with heads and ff_dim (embed_dim is "
        "then not used)")
    embed_dim: int = Field(256, ge=8, le=4096, description="embedding size (tied with the output)")
    hidden: int = Field(512, ge=8, le=8192, description="LSTM size; the Transformer's width")
    heads: int = Field(4, ge=1, le=64, description="transformer: attention heads (hidden "
                       "must be a multiple)")
    ff_dim: int = Field(1024, ge=8, le=65_536, description="transformer: width of the "
                        "feed-forward sub-layers")
    layers: int = Field(2, ge=1, le=12, description="LSTM or Transformer layers")
    context: bool = Field(False, description="also read the previous user turn of the "
                          "conversation (the prompt is that turn, an end-of-turn piece, then "
                          "the message), and learn from the follow-up turns of multi-turn "
                          "dialogs")
    dropout: float = Field(0.3, ge=0, lt=1, description="dropout rate")
    max_reply: int = Field(40, ge=1, le=200, description="most subwords in a reply")
    temperature: float = Field(0.8, gt=0, description="below 1: safer replies; above: bolder")
    top_k: int = Field(40, ge=0, le=1_000_000,
                       description="sample among the k likeliest subwords; 0: all")
    top_p: float = Field(0.9, gt=0, le=1, description="...and among the smallest set "
                         "holding this much probability")
    seed: int = Field(0, ge=0, le=2**32 - 1,
                      description="sampling seed; the same message and seed give the "
                                  "same reply")
    threshold: float = Field(0.15, ge=0, le=1, description="below this mean token "
                             "probability the canned reply is given instead")
    canned_reply: str | None = Field(
        "음, 제가 잘 이해하지 못했어요. 조금 다르게 말씀해 주시겠어요?",
        description="the reply when even the language model is unsure; null: none, the "
        "message is left to a later step (fallback.helpful)",
    )


    @model_validator(mode="after")
    def _transformer_settings(self) -> LanguageModelConfig:
        if self.architecture == "transformer" and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads "
                             f"({self.heads}) for the transformer")
        return self


class LanguageModelFallback(Responder):
    """A language model (LSTM or Transformer) over question <sep> answer; answers every open
    message."""

    name = "fallback.lm"
    Config = LanguageModelConfig
    requires = ("text",)
    assigns = ("reply",)
    packages = (Package("torch", "torch"), Package("sentencepiece", "sentencepiece"))
    trainable = True

    def __init__(self, config: LanguageModelConfig) -> None:
        super().__init__(config)
        self.model: LstmLanguageModel | TransformerLanguageModel | None = None
        self.subwords: Subwords | None = None
        self.history = History()
        self.dev_perplexity: float | None = None

    # -- training ----------------------------------------------------------------------------

    @classmethod
    def own_contract(cls, config: LanguageModelConfig) -> Contract:
        if not config.context:
            return Contract(requires=cls.requires, assigns=cls.assigns)
        return Contract(requires=(*cls.requires, "history"), assigns=cls.assigns,
                        because={"history": "context: true"})

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        config = self.config
        pairs = dialog_pairs(corpus, self.name, follow_ups=config.context)
        questions = [text_of(m) for m in context.upstream(e.text for e in pairs)]
        answers = [e.answer for e in pairs]
        pretrained = pretrained_for(config, "lm", self.name, context)
        self.subwords = (pretrained.subwords if pretrained
                         else Subwords.train(questions + answers, config.vocab_size, self.name))
        sequences = self._sequences(questions, answers,
                                    [e.history[-1].user if e.history else "" for e in pairs])
        indices = {id(e): i for i, e in enumerate(pairs)}
        splits = split_examples(pairs, dev=config.dev_share, test=0.0, seed=context.seed)
        train = [sequences[indices[id(e)]] for e in splits.train]
        dev = [sequences[indices[id(e)]] for e in splits.dev]
        self.model = pretrained.load_weights(self._new_model) if pretrained else self._new_model()
        self.history = fit(self.model, train, dev, collate, _loss, _evaluate, config, context,
                           self.name, monitor="dev_answer_log_likelihood")
        best = max(self.history.epochs, key=lambda row: row["dev_answer_log_likelihood"])
        self.dev_perplexity = best["dev_perplexity"]
        logger.info("%s: dev perplexity of answers %.1f", self.name, self.dev_perplexity)

    def _prompts(self, questions: list[str], contexts: list[str] | None) -> list[list[int]]:
        """[BOS] question, the question's last MAX_PROMPT subwords; with ``context``, after its
        previous user turn (``contexts``, "" for none) and an end-of-turn piece (EOS)."""
        encoded = self.subwords.encode(questions)
        if self.config.context and contexts is not None:
            encoded = [[*before, EOS, *ids] if before else ids for before, ids in
                       zip(self.subwords.encode(contexts), encoded, strict=True)]
        return [[BOS, *ids[-MAX_PROMPT:]] for ids in encoded]

    def _contexts(self, messages: list[Message]) -> list[str] | None:
        if not self.config.context:
            return None
        return [m.history[-1].user if m.history else "" for m in messages]

    def _sequences(self, questions: list[str], answers: list[str],
                   contexts: list[str] | None = None) -> list[tuple[list, int]]:
        """[BOS] question [SEP] answer [EOS] (see :meth:`_prompts`), and where the answer
        starts."""
        out = []
        prompts, encoded_a = self._prompts(questions, contexts), self.subwords.encode(answers)
        for question, answer in zip(prompts, encoded_a, strict=True):
            prompt = [*question, SEP]
            out.append((prompt + answer[: self.config.max_reply] + [EOS], len(prompt)))
        return out

    def _new_model(self) -> LstmLanguageModel | TransformerLanguageModel:
        config = self.config
        if config.architecture == "transformer":
            return TransformerLanguageModel(len(self.subwords), config.hidden, config.heads,
                                            config.layers, config.ff_dim, config.dropout)
        return LstmLanguageModel(len(self.subwords), config.embed_dim, config.hidden,
                                 config.layers, config.dropout)

    # -- running -----------------------------------------------------------------------------

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        """Its sampled reply to each message (see :meth:`generate`)."""
        return [answer if answer.text.strip() else "the model produced an empty reply"
                for answer in self.generate(messages)]

    def decline(self, message: Message, reason: str, answer: Answer | None) -> None:
        """The fallback's own rule: a message whose generated reply it declines gets the canned
        reply, so none is left open (with ``canned_reply: null`` it is left to a later step).
        It carries the confidence of the reply it stands in for (0 when the model wrote
        nothing)."""
        super().decline(message, reason, answer)
        if self.config.canned_reply is None:
            return  # a later fallback answers
        message.reply, message.responder = self.config.canned_reply, self.name
        message.reply_confidence = answer.confidence if answer is not None else 0.0
        message.notes[self.name] += "; the canned reply instead"

    def generate(self, messages: list[Message]) -> list[Answer]:
        """A sampled reply for each message and its mean token probability (0..1)."""
        if self.model is None:
            raise NotFittedError(self.name)
        config = self.config
        # The question, then <sep> starts the answer.
        prompts = self._prompts([text_of(m) for m in messages], self._contexts(messages))
        padded = torch.zeros(len(prompts), max(map(len, prompts)), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            padded[row, : len(prompt)] = torch.tensor(prompt)  # (batch, longest)
        # One seeded stream of uniform draws per message: its reply does not depend on the
        # rest of the batch.
        draws = torch.stack([torch.rand(config.max_reply, generator=torch.Generator().manual_seed(
            config.seed * 1_000_003 + zlib.crc32(m.text.encode()))) for m in messages])  # (B, T)
        result = sample(self.model, padded, SEP, EOS, config.max_reply, draws,
                        config.temperature, config.top_k, config.top_p, banned=(PAD,))
        return [Answer(self.subwords.decode(ids), math.exp(log_prob))
                for ids, log_prob in zip(result.tokens, result.mean_log_probs, strict=True)]

    def answer_nll(self, messages: list[Message], replies: list[str]) -> list[tuple[float, int]]:
        """How well the model predicts given replies: for each, the negative log-likelihood
        (nats) of its subwords and the end of reply given its message, and how many there are.
        ``exp(sum of nll / sum of counts)`` is the replies' perplexity."""
        if self.model is None:
            raise NotFittedError(self.name)
        sequences = self._sequences([text_of(m) for m in messages], replies,
                                    self._contexts(messages))
        scores: list[tuple[float, int]] = []
        with inference(self.model):
            for start in range(0, len(sequences), 128):
                batch = collate(sequences[start:start + 128])
                answer = batch["answer"]  # (batch, length)
                features, _ = self.model.features(batch["inputs"])  # (batch, length, embed)
                logits = self.model.out(features[answer])  # (answer tokens, vocab)
                nll = F.cross_entropy(logits.float(), batch["targets"][answer],
                                      reduction="none")  # (answer tokens,)
                counts = answer.sum(dim=1).tolist()
                scores += [(float(part.sum()), count)
                           for part, count in zip(nll.split(counts), counts, strict=True)]
        return scores

    # -- persistence -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        if self.model is None:
            raise NotFittedError(self.name)
        save_weights(self.model, path / WEIGHTS_FILE)
        self.subwords.save(path / VOCAB_FILE)
        (path / META_FILE).write_text(json.dumps({"dev_perplexity": self.dev_perplexity}),
                                      encoding="utf-8")
        self.history.save(path, self.name)

    @classmethod
    def load(cls, path: Path, config: LanguageModelConfig) -> Self:
        state = SavedState(path, cls.name)
        plugin = cls(config)
        plugin.subwords = Subwords.load(state, VOCAB_FILE)
        meta = state.json_object(META_FILE, ("dev_perplexity",))
        if meta["dev_perplexity"] is not None:
            plugin.dev_perplexity = state.number(f"dev_perplexity in {META_FILE}",
                                                 meta["dev_perplexity"], 1.0, math.inf)
        # Every size that builds the network, against the saved weights.
        weights = WEIGHTS_FILE
        embed = state.shape(weights, "embed.weight", dims=2)
        state.size(f"the vocabulary of {VOCAB_FILE}", len(plugin.subwords), embed[0], weights)
        if config.architecture == "transformer":
            ff_dim = state.shape(weights, "layers.0.ff.0.weight", dims=2)[0]
            layers = sum(1 for key in state.header(weights)
                         if key.startswith("layers.") and key.endswith(".ff_norm.weight"))
            state.size("hidden in config.yaml", config.hidden, embed[1], weights)
            state.size("ff_dim in config.yaml", config.ff_dim, ff_dim, weights)
        else:
            hidden = state.shape(weights, "lstm.weight_hh_l0", dims=2)[1]
            layers = sum(1 for key in state.header(weights)
                         if key.startswith("lstm.weight_hh_l"))
            state.size("embed_dim in config.yaml", config.embed_dim, embed[1], weights)
            state.size("hidden in config.yaml", config.hidden, hidden, weights)
        state.size("layers in config.yaml", config.layers, layers, weights)
        plugin.model = state.weights(weights, plugin._new_model)
        plugin.history = state.history() or History()
        return plugin


def collate(batch: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
    """Inputs and next-token targets; ``answer`` marks the targets inside the answer."""
    length = max(len(sequence) for sequence, _ in batch) - 1
    inputs = torch.zeros(len(batch), length, dtype=torch.long)  # (batch, length)
    targets = torch.zeros(len(batch), length, dtype=torch.long)  # (batch, length)
    answer = torch.zeros(len(batch), length, dtype=torch.bool)  # (batch, length)
    for row, (sequence, answer_start) in enumerate(batch):
        size = len(sequence) - 1
        inputs[row, :size] = torch.tensor(sequence[:-1])
        targets[row, :size] = torch.tensor(sequence[1:])
        answer[row, answer_start - 1: size] = True
    return {"inputs": inputs, "targets": targets, "answer": answer}


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits, _ = model(batch["inputs"])  # (batch, length, vocab)
    return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(),
                           ignore_index=PAD)


def _token_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The negative log-likelihood of every target token (0 at padding)."""
    logits, _ = model(batch["inputs"])  # (batch, length, vocab)
    return F.cross_entropy(logits.transpose(1, 2).float(), batch["targets"],
                           ignore_index=PAD, reduction="none")  # (batch, length)


def _evaluate(model: nn.Module, dev: list, device: torch.device) -> dict[str, float]:
    total_nll, total_tokens, answer_nll, answer_tokens = 0.0, 0, 0.0, 0
    for start in range(0, len(dev), 128):
        batch = {k: v.to(device) for k, v in collate(dev[start:start + 128]).items()}
        nll = _token_nll(model, batch)  # (batch, length)
        real = batch["targets"] != PAD  # (batch, length)
        total_nll += float(nll[real].sum())
        total_tokens += int(real.sum())
        answer_nll += float(nll[batch["answer"]].sum())
        answer_tokens += int(batch["answer"].sum())
    mean_answer = answer_nll / max(answer_tokens, 1)
    return {"dev_loss": total_nll / max(total_tokens, 1),
            "dev_answer_log_likelihood": -mean_answer,
            "dev_perplexity": math.exp(min(mean_answer, 50.0))}
