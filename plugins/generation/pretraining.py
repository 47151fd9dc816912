"""Pretraining a Transformer generator on plain Korean text, before fine-tuning it on dialog
pairs (``chatbot pretrain CONFIG --out DIR``, then ``pretrained: DIR`` in the generator's
config).

Two objectives, one per generator:

- ``model: seq2seq`` (respond.seq2seq, ``architecture: transformer``): denoising, as BART's
  text infilling. Spans of a sentence (lengths drawn from a Poisson distribution, about
  ``mask_ratio`` of its subwords in all) are each replaced by one mask piece (the generators'
  ``<sep>``, which a seq2seq model never reads otherwise), and the model writes the sentence
  back whole.
- ``model: lm`` (fallback.lm, ``architecture: transformer``): causal language modelling of
  ``<bos> sentence <eos>``.

The text is every sentence of the named datasets and both sides of their dialog pairs (a text
file joins with ``chatbot data add NAME FILE.txt``: one sentence or paragraph a line). The
pretrained folder holds the subword vocabulary, the weights and ``pretrained.json`` (the
sizes, the objective, what it read, its training history); fine-tuning takes the vocabulary
and the weights from it (so the fine-tuning config's ``vocab_size`` is not used), and refuses
a config whose model sizes differ, or a folder whose weights and vocabulary do not match.
"""

from __future__ import annotations

import json
import logging
import math
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
from pydantic import BaseModel, Field, ValidationError, model_validator
from torch import nn
from torch.nn import functional as F

from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_corpus
from chatbot.errors import ChatbotError, ConfigError
from chatbot.plugin import TrainContext
from chatbot.safe_yaml import YamlLimitError, load_bounded
from chatbot.training.checkpoint import save_weights
from chatbot.training.history import History
from chatbot.training.loop import TrainSettings, fit
from chatbot.training.safe_load import SavedState
from chatbot_plugins.fallback.lm_model import TransformerLanguageModel
from chatbot_plugins.generation.subwords import BOS, EOS, PAD, SEP, Subwords
from chatbot_plugins.generation.transformer_model import TransformerSeq2Seq

logger = logging.getLogger(__name__)

META_FILE = "pretrained.json"
WEIGHTS_FILE = "weights.safetensors"
VOCAB_FILE = "subwords.model"
MASK = SEP  # the piece a masked span becomes in the denoising objective
Kind = Literal["seq2seq", "lm"]
ModuleT = TypeVar("ModuleT", bound=nn.Module)


class PretrainConfig(TrainSettings):
    """What ``chatbot pretrain`` reads from its YAML config."""

    model: Kind = Field(description="seq2seq: a denoising encoder-decoder for "
                        "respond.seq2seq; lm: a causal language model for fallback.lm")
    datasets: list[str] = Field(["demo"], min_length=1, description="datasets whose "
                                "sentences and dialog pairs are the text")
    vocab_size: int = Field(4000, ge=100, le=1_000_000, description="sentencepiece vocabulary "
                            "size (at most: a small text may give fewer pieces); "
                            "fine-tuning uses this vocabulary")
    hidden: int = Field(256, ge=8, le=8192, description="model width")
    heads: int = Field(4, ge=1, le=64, description="attention heads")
    layers: int = Field(2, ge=1, le=12, description="layers (of the encoder and of the decoder)")
    ff_dim: int = Field(512, ge=8, le=65_536, description="feed-forward width")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout rate")
    max_length: int = Field(64, ge=8, le=500, description="most subwords of a sentence read")
    mask_ratio: float = Field(0.3, gt=0, lt=1, description="seq2seq: share of subwords masked")
    mean_span: float = Field(3.0, gt=0, le=20, description="seq2seq: mean masked span length")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seed of the split, noise and training")
    device: str = Field("cpu", description="cpu | cuda | cuda:N | mps | auto")


class PretrainedStart(BaseModel):
    """The settings of a generator's config that start it from pretrained weights (its
    ``architecture`` must be ``transformer``)."""

    architecture: str  # each generator's config declares its own choices
    pretrained: str | None = Field(None, max_length=4096, description="transformer: a folder "
                                   "that `chatbot pretrain` wrote for this generator; its "
                                   "vocabulary (vocab_size is then not used) and weights are "
                                   "the start of training, and its sizes must be these")
    pretrain: str | None = Field(None, max_length=4096, description="transformer: a "
                                 "`chatbot pretrain` config (a bundled name such as "
                                 "pretrain_seq2seq, or a file) that training runs first, "
                                 "then starts from, as from `pretrained`")

    @model_validator(mode="after")
    def _one_start_for_the_transformer(self) -> PretrainedStart:
        if self.pretrained is not None and self.pretrain is not None:
            raise ValueError("pretrained and pretrain both name where training starts: "
                             "set one of them")
        starts = self.pretrained is not None or self.pretrain is not None
        if starts and self.architecture != "transformer":
            raise ValueError("pretrained weights are for architecture: transformer")
        return self


def pretraining_texts(corpus: Corpus) -> list[str]:
    """Every distinct non-empty sentence, question and answer of the corpus, in order."""
    texts = [*corpus.sentences, *(e.text for e in corpus.examples),
             *(e.answer for e in corpus.examples if e.answer)]
    return list(dict.fromkeys(text.strip() for text in texts if text and text.strip()))


def mask_spans(ids: list[int], ratio: float, mean_span: float,
               rng: random.Random) -> list[int]:
    """``ids`` with spans replaced by one MASK each, about ``ratio`` of the ids masked in all;
    span lengths are Poisson(``mean_span``) draws of at least 1. At least one id is always
    masked, and never all of a sentence longer than one id."""
    budget = max(1, round(len(ids) * ratio))
    if len(ids) > 1:
        budget = min(budget, len(ids) - 1)
    masked = [False] * len(ids)
    while budget > 0:
        length = min(max(1, _poisson(mean_span, rng)), budget)
        start = rng.randrange(0, len(ids) - length + 1)
        fresh = sum(not flag for flag in masked[start:start + length])
        masked[start:start + length] = [True] * length
        budget -= max(fresh, 1)  # a span over masked ids still counts, so this ends
    noised: list[int] = []
    for token, hidden in zip(ids, masked, strict=True):
        if not hidden:
            noised.append(token)
        elif not noised or noised[-1] != MASK:
            noised.append(MASK)
    return noised


def _poisson(mean: float, rng: random.Random) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def pretrain(config: PretrainConfig, corpus: Corpus, out: Path,
             progress: bool = False) -> History:
    """Learn the vocabulary and pretrain the model on the corpus's text; save it in ``out``."""
    texts = pretraining_texts(corpus)
    if len(texts) < 20:
        raise ChatbotError(f"pretraining needs text: {', '.join(config.datasets)} give "
                           f"{len(texts)} sentences",
                           hint="name datasets with sentences or dialog pairs, or add a text "
                           "file: chatbot data add NAME FILE.txt")
    subwords = Subwords.train(texts, config.vocab_size, "chatbot pretrain")
    rng = random.Random(config.seed)
    encoded = [ids[: config.max_length] for ids in subwords.encode(texts) if ids]
    rng.shuffle(encoded)
    held_out = max(1, round(len(encoded) * config.dev_share))
    train_ids, dev_ids = encoded[held_out:], encoded[:held_out]
    if config.model == "seq2seq":
        model: nn.Module = TransformerSeq2Seq(len(subwords), config.hidden, config.heads,
                                              config.layers, config.ff_dim, config.dropout)
        train = [(mask_spans(ids, config.mask_ratio, config.mean_span, rng), ids)
                 for ids in train_ids]
        dev = [(mask_spans(ids, config.mask_ratio, config.mean_span, rng), ids)
               for ids in dev_ids]
        collate, loss, evaluate = _denoising_collate, _denoising_loss, _denoising_evaluate
    else:
        model = TransformerLanguageModel(len(subwords), config.hidden, config.heads,
                                         config.layers, config.ff_dim, config.dropout)
        train, dev = train_ids, dev_ids
        collate, loss, evaluate = _causal_collate, _causal_loss, _causal_evaluate
    context = TrainContext(seed=config.seed, device=config.device, progress=progress)
    history = fit(model, train, dev, collate, loss, evaluate, config, context,
                  f"pretrain {config.model}", monitor="dev_log_likelihood")
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model.to("cpu"), out / WEIGHTS_FILE)
    subwords.save(out / VOCAB_FILE)
    (out / META_FILE).write_text(json.dumps({
        "model": config.model, "vocab_size": len(subwords), "hidden": config.hidden,
        "heads": config.heads, "layers": config.layers, "ff_dim": config.ff_dim,
        "datasets": config.datasets, "sentences": len(texts),
        "history": history.to_dict()}, ensure_ascii=False, indent=2), encoding="utf-8")
    logger.info("pretrained %s on %d sentences: %s", config.model, len(texts),
                history.epochs[-1] if history.epochs else {})
    return history


def read_pretrain_config(name_or_path: str, overrides: list[str]) -> PretrainConfig:
    """The validated settings of a pretrain config file (or bundled name), with ``overrides``
    (KEY=VALUE, the value read as YAML); a ConfigError lists every problem."""
    # chatbot.config finds plugins, this one among them: imported when called
    from chatbot.config import read_config_text, resolve_config_path

    path = resolve_config_path(name_or_path)
    try:
        data = load_bounded(read_config_text(path)).data
        settings = data.get("pretrain") if isinstance(data, dict) else None
        if not isinstance(settings, dict):
            raise ConfigError(str(path), [f"{path}: a pretrain config is a mapping under "
                                          "`pretrain:` (see configs/pretrain_seq2seq.yaml)"])
        for override in overrides:
            key, sep, value = override.partition("=")
            if not sep or not key.strip():
                raise ConfigError(str(path), [f"--set {override!r}: use KEY=VALUE"])
            settings[key.strip()] = load_bounded(value).data
    except YamlLimitError as error:
        raise ConfigError(str(path), [f"{path}: {error.problem}"]) from None
    try:
        return PretrainConfig.model_validate(settings)
    except ValidationError as error:
        raise ConfigError(str(path), [
            f"{path}: pretrain.{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            for problem in error.errors()]) from None


class Pretrained:
    """A folder ``chatbot pretrain`` wrote, read for fine-tuning.

    Args:
        folder: the folder.
        kind: the model the fine-tuning plugin builds (``seq2seq`` or ``lm``).
        asked: the plugin's sizes (hidden, heads, layers, ff_dim), which must be the
            pretrained model's. The vocabulary is the pretrained one, whatever the plugin's
            ``vocab_size``.
        plugin: the plugin's name, for messages.
    """

    def __init__(self, folder: Path, kind: Kind, asked: dict[str, int], plugin: str) -> None:
        state = SavedState(Path(folder), f"{plugin} (pretrained: {folder})")
        meta = state.json_object(META_FILE, ("model", "vocab_size", "hidden", "heads",
                                             "layers", "ff_dim"))
        if meta["model"] != kind:
            raise state.error(f"it holds a pretrained {meta['model']!r} model; {plugin} "
                              f"fine-tunes a {kind!r} one")
        for name, value in asked.items():
            saved = state.size(f"{name} in {META_FILE}", meta[name])
            if saved != value:
                raise ChatbotError(
                    f"{plugin}: the pretrained model in {folder} has {name} {saved}; the "
                    f"config asks {value}",
                    hint=f"set {name}: {saved} (the sizes come with the pretrained weights), "
                    "or pretrain again with the sizes you want")
        self.subwords = Subwords.load(state, VOCAB_FILE)
        embed = state.shape(WEIGHTS_FILE, "embed.weight", dims=2)
        state.size(f"the vocabulary of {VOCAB_FILE}", len(self.subwords), embed[0],
                   WEIGHTS_FILE)
        self.state = state
        # A folder pretrained during training is temporary: kept until the weights are read.
        self.keeper: tempfile.TemporaryDirectory | None = None

    def load_weights(self, build: Callable[[], ModuleT]) -> ModuleT:
        """The network ``build`` makes, with the pretrained weights (its sizes checked
        against theirs)."""
        return self.state.weights(WEIGHTS_FILE, build)


# -- the two objectives ----------------------------------------------------------------------


def _pad(rows: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(rows), max(1, *(len(row) for row in rows)), dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out  # (rows, longest)


def _denoising_collate(batch: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    return {"source": _pad([noised for noised, _ in batch]),
            "target_in": _pad([[BOS, *ids] for _, ids in batch]),
            "target_out": _pad([[*ids, EOS] for _, ids in batch])}


def _denoising_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(batch["source"], batch["target_in"])  # (batch, tgt, vocab)
    return F.cross_entropy(logits.flatten(0, 1).float(), batch["target_out"].flatten(),
                           ignore_index=PAD)


def _causal_collate(batch: list[list[int]]) -> dict[str, torch.Tensor]:
    sequences = [[BOS, *ids, EOS] for ids in batch]
    return {"inputs": _pad([s[:-1] for s in sequences]),
            "targets": _pad([s[1:] for s in sequences])}


def _causal_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits, _ = model(batch["inputs"])  # (batch, length, vocab)
    return F.cross_entropy(logits.flatten(0, 1).float(), batch["targets"].flatten(),
                           ignore_index=PAD)


def _mean_nll(model: nn.Module, dev: list, device: torch.device, collate, loss) -> dict:
    total, count = 0.0, 0
    for start in range(0, len(dev), 128):
        chunk = dev[start:start + 128]
        batch = {k: v.to(device) for k, v in collate(chunk).items()}
        total += float(loss(model, batch)) * len(chunk)
        count += len(chunk)
    mean = total / max(count, 1)
    return {"dev_loss": mean, "dev_log_likelihood": -mean,
            "dev_perplexity": math.exp(min(mean, 50.0))}


def _denoising_evaluate(model: nn.Module, dev: list, device: torch.device) -> dict:
    return _mean_nll(model, dev, device, _denoising_collate, _denoising_loss)


def _causal_evaluate(model: nn.Module, dev: list, device: torch.device) -> dict:
    return _mean_nll(model, dev, device, _causal_collate, _causal_loss)


def pretrained_for(config: Any, kind: Kind, plugin: str,
                   context: TrainContext) -> Pretrained | None:
    """Where a generator's training starts: the folder its config names (``pretrained``), or
    one pretrained now by the ``chatbot pretrain`` config it names (``pretrain``), read and
    checked against its sizes; None when it names neither."""
    sizes = {name: getattr(config, name) for name in ("hidden", "heads", "layers", "ff_dim")}
    if config.pretrained is not None:
        return Pretrained(Path(config.pretrained), kind, sizes, plugin)
    if config.pretrain is None:
        return None
    settings = read_pretrain_config(config.pretrain, [])
    # Checked before pretraining, which takes minutes, rather than after.
    if settings.model != kind:
        raise ChatbotError(f"{plugin}: pretrain: {config.pretrain} pretrains a "
                           f"{settings.model!r} model; {plugin} fine-tunes a {kind!r} one",
                           hint=f"name a pretrain config with model: {kind}")
    for name, value in sizes.items():
        if getattr(settings, name) != value:
            raise ChatbotError(f"{plugin}: pretrain: {config.pretrain} has {name} "
                               f"{getattr(settings, name)}; the config asks {value}",
                               hint=f"set {name}: {getattr(settings, name)}, or the same "
                               "sizes in both configs")
    keeper = None
    if context.workdir is not None:  # beside the checkpoints, so that --resume reuses it
        folder = Path(context.workdir) / f"{plugin}.pretrained"
    else:
        keeper = tempfile.TemporaryDirectory(prefix="chatbot-pretrain-")
        folder = Path(keeper.name)
    if context.resume and (folder / META_FILE).is_file():
        logger.info("%s: resuming from the pretrained model in %s", plugin, folder)
    else:
        settings = settings.model_copy(update={"device": context.device})
        logger.info("%s: pretraining on %s first", plugin, ", ".join(settings.datasets))
        pretrain(settings, load_corpus(settings.datasets), folder, progress=context.progress)
    pretrained = Pretrained(folder, kind, sizes, plugin)
    pretrained.keeper = keeper
    return pretrained
