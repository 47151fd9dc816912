"""The generators with ``architecture: transformer`` (respond.seq2seq's encoder-decoder,
fallback.lm's decoder-only model): they train through the shared loop, answer (the seq2seq
with its cross-attention in the trace), and save and load with their sizes checked."""

from __future__ import annotations

import shutil

import pytest
import yaml

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.errors import ConfigError, ModelLoadError
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot_plugins.fallback.lm_model import TransformerLanguageModel
from chatbot_plugins.generation.transformer_model import TransformerSeq2Seq

CONFIG = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: respond.seq2seq
    architecture: transformer
    hidden: 32
    heads: 4
    layers: 1
    ff_dim: 64
    vocab_size: 1000
    epochs: 3
    learning_rate: 0.003
    label_smoothing: 0.1
    threshold: 0.0
    decoding: greedy
    max_reply: 12
training:
  seed: 3
"""


@pytest.fixture(scope="module")
def trained(demo_corpus, tmp_path_factory) -> tuple[Pipeline, object]:
    corpus = Corpus(examples=[e for e in demo_corpus.examples if e.answer][:400])
    pipeline = Pipeline.from_config(parse_config(CONFIG))
    pipeline.fit(corpus)
    return pipeline, pipeline.save(tmp_path_factory.mktemp("models") / "transformer")


@pytest.mark.slow
def test_the_transformer_replies_with_its_attention_and_round_trips(trained):
    pipeline, folder = trained
    seq2seq = pipeline.plugins[1]
    assert isinstance(seq2seq.model, TransformerSeq2Seq)
    assert seq2seq.history.epochs, "trained through the shared loop, epoch by epoch"
    # Three epochs on 400 pairs teach it little more than the commonest pieces (that it
    # learns is tested on digit reversal, test_transformer_model.py); here the plumbing.
    message = pipeline.process([Message("배고파 뭐 먹지")])[0]
    attention = message.extras["attention"]
    assert attention.source
    assert len(attention.weights) == len(attention.reply) > 0
    assert all(len(row) == len(attention.source) for row in attention.weights)
    assert all(abs(sum(row) - 1) < 0.01 for row in attention.weights)
    again = Pipeline.load(folder).process([Message("배고파 뭐 먹지")])[0]
    assert (again.reply, again.notes) == (message.reply, message.notes)
    assert again.extras["attention"] == attention


@pytest.mark.slow
def test_a_saved_transformer_with_other_sizes_in_its_config_is_a_clear_error(trained, tmp_path):
    _, folder = trained
    copy = shutil.copytree(folder, tmp_path / "copy")
    config = yaml.safe_load((copy / "config.yaml").read_text(encoding="utf-8"))
    config["pipeline"][1]["ff_dim"] = 128
    (copy / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                      encoding="utf-8")
    with pytest.raises(ModelLoadError, match="ff_dim in config.yaml"):
        Pipeline.load(copy)


def test_transformer_settings_are_checked_before_training():
    with pytest.raises(ConfigError, match="multiple of heads"):
        parse_config(CONFIG.replace("heads: 4", "heads: 5"))
    with pytest.raises(ConfigError, match="teacher forcing only"):
        parse_config(CONFIG.replace("label_smoothing: 0.1", "teacher_forcing_end: 0.5"))


LM_CONFIG = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: fallback.lm
    architecture: transformer
    hidden: 32
    heads: 4
    layers: 1
    ff_dim: 64
    vocab_size: 1000
    epochs: 2
    learning_rate: 0.003
    schedule: cosine
    warmup_steps: 5
    threshold: 0.0
    max_reply: 10
training:
  seed: 3
"""


@pytest.mark.slow
def test_the_transformer_language_model_answers_and_round_trips(demo_corpus, tmp_path):
    corpus = Corpus(examples=[e for e in demo_corpus.examples if e.answer][:400])
    pipeline = Pipeline.from_config(parse_config(LM_CONFIG))
    pipeline.fit(corpus)
    lm = pipeline.plugins[1]
    assert isinstance(lm.model, TransformerLanguageModel) and lm.dev_perplexity > 1
    texts = ["배고파 뭐 먹지", "오늘 너무 피곤해"]
    first = [(m.reply, m.responder) for m in pipeline.process([Message(t) for t in texts])]
    assert all(responder == "fallback.lm" for _, responder in first)
    folder = pipeline.save(tmp_path / "lm")
    again = Pipeline.load(folder).process([Message(t) for t in texts])
    assert [(m.reply, m.responder) for m in again] == first
    config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    config["pipeline"][1]["layers"] = 2
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                        encoding="utf-8")
    with pytest.raises(ModelLoadError, match="layers in config.yaml"):
        Pipeline.load(folder)
