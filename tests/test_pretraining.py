"""Pretraining the Transformer generators (``chatbot pretrain``) and fine-tuning from it."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatbot.cli import main
from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, ConfigError, ModelLoadError
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot_plugins.generation.pretraining import (
    MASK,
    mask_spans,
    pretraining_texts,
    read_pretrain_config,
)

TINY = ["--set", "vocab_size=2000", "--set", "hidden=32", "--set", "heads=4",
        "--set", "layers=1", "--set", "ff_dim=64", "--set", "epochs=1", "--quiet"]
SIZES = "    vocab_size: 2000\n    hidden: 32\n    heads: 4\n    layers: 1\n    ff_dim: 64\n"


@given(ids=st.lists(st.integers(10, 50), min_size=1, max_size=60),
       ratio=st.floats(0.05, 0.9), span=st.floats(0.5, 6), seed=st.integers(0, 10**6))
def test_masked_spans_keep_the_rest_in_order_and_each_span_is_one_mask(ids, ratio, span, seed):
    noised = mask_spans(ids, ratio, span, random.Random(seed))
    assert MASK in noised
    assert all(not (a == b == MASK) for a, b in zip(noised, noised[1:], strict=False))
    kept = iter(ids)  # the unmasked ids are the sentence's, in order
    assert all(token in kept for token in noised if token != MASK)
    if len(ids) > 1:
        assert any(token != MASK for token in noised)  # never the whole sentence
        assert len([t for t in noised if t != MASK]) <= len(ids) - 1


def test_about_the_asked_share_of_a_long_sentence_is_masked():
    ids = list(range(10, 110))
    shares = [1 - len([t for t in mask_spans(ids, 0.3, 3.0, random.Random(seed)) if t != MASK])
              / len(ids) for seed in range(50)]
    assert 0.25 <= sum(shares) / len(shares) <= 0.35


def test_the_text_is_every_sentence_and_both_sides_of_the_dialog_pairs(demo_corpus):
    texts = pretraining_texts(demo_corpus)
    assert len(texts) == len(set(texts))
    sample = demo_corpus.examples[0]
    assert sample.text.strip() in texts and sample.answer.strip() in texts
    assert demo_corpus.sentences[0].strip() in texts


def test_a_pretrain_config_is_checked_with_every_problem_named(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("pretrain:\n  model: seq2seq\n  hiden: 32\n  epochs: 0\n")
    with pytest.raises(ConfigError) as caught:
        read_pretrain_config(str(path), [])
    problems = "\n".join(caught.value.problems)
    assert "pretrain.hiden" in problems and "pretrain.epochs" in problems
    path.write_text("model: lm\n")
    with pytest.raises(ConfigError, match="a mapping under `pretrain:`"):
        read_pretrain_config(str(path), [])
    with pytest.raises(ConfigError, match="use KEY=VALUE"):
        read_pretrain_config("pretrain_lm", ["epochs"])
    assert read_pretrain_config("pretrain_lm", ["epochs=2", "datasets=[demo, korsts]"]).epochs == 2


def test_pretrained_weights_need_the_transformer():
    with pytest.raises(ConfigError, match="pretrained weights are for architecture: transformer"):
        parse_config("pipeline:\n  - plugin: respond.seq2seq\n    pretrained: somewhere\n")
    with pytest.raises(ConfigError, match="pretrained weights are for architecture: transformer"):
        parse_config("pipeline:\n  - plugin: fallback.lm\n    pretrained: somewhere\n")
    with pytest.raises(ConfigError, match="pretrained weights are for architecture: transformer"):
        parse_config("pipeline:\n  - plugin: respond.seq2seq\n    pretrain: pretrain_seq2seq\n")
    with pytest.raises(ConfigError, match="set one of them"):
        parse_config("pipeline:\n  - plugin: fallback.lm\n    architecture: transformer\n"
                     "    pretrained: somewhere\n    pretrain: pretrain_lm\n")


@pytest.mark.parametrize(("generator", "pretrain", "sizes", "problem"), [
    ("respond.seq2seq", "pretrain_lm", "hidden: 256\n    heads: 4\n    layers: 2\n"
     "    ff_dim: 512", "pretrains a 'lm' model; respond.seq2seq fine-tunes a 'seq2seq' one"),
    ("fallback.lm", "pretrain_lm", "hidden: 32\n    heads: 4\n    layers: 2\n    ff_dim: 512",
     "pretrain: pretrain_lm has hidden 256; the config asks 32"),
])
def test_a_pretrain_config_that_cannot_fit_the_generator_stops_before_pretraining(
        generator, pretrain, sizes, problem, demo_corpus):
    pipeline = Pipeline.from_config(parse_config(
        f"pipeline:\n  - plugin: {generator}\n    architecture: transformer\n"
        f"    pretrain: {pretrain}\n    {sizes}\n"))
    pairs = Corpus(examples=[e for e in demo_corpus.examples if e.answer][:50])
    with pytest.raises(ChatbotError, match=problem):
        pipeline.fit(pairs)


def _fine_tune(generator: str, folder, corpus: Corpus, sizes: str = SIZES) -> Pipeline:
    pipeline = Pipeline.from_config(parse_config(
        f"pipeline:\n  - plugin: normalize.soynlp\n  - plugin: {generator}\n"
        f"    architecture: transformer\n    pretrained: {folder}\n{sizes}"
        "    epochs: 1\n    threshold: 0.0\n    max_reply: 8\n"))
    pipeline.fit(corpus)
    return pipeline


@pytest.mark.slow
def test_pretrain_a_seq2seq_then_fine_tune_it_from_its_vocabulary_and_weights(demo_corpus,
                                                                              tmp_path):
    out = tmp_path / "pretrained"
    assert main(["pretrain", "pretrain_seq2seq", "--out", str(out), *TINY]) == 0
    assert {p.name for p in out.iterdir()} == {"pretrained.json", "subwords.model",
                                               "weights.safetensors"}
    pairs = Corpus(examples=[e for e in demo_corpus.examples if e.answer][:300])
    tuned = _fine_tune("respond.seq2seq", out, pairs)
    seq2seq = tuned.plugins[1]
    assert seq2seq.subwords.model_proto == (out / "subwords.model").read_bytes()
    message = tuned.process([Message("배고파 뭐 먹지")])[0]
    assert message.extras["attention"].reply
    with pytest.raises(ChatbotError, match="has hidden 32; the config asks 64"):
        _fine_tune("respond.seq2seq", out, pairs, SIZES.replace("hidden: 32", "hidden: 64"))
    with pytest.raises(ModelLoadError, match="pretrained 'seq2seq' model; fallback.lm"):
        _fine_tune("fallback.lm", out, pairs)


@pytest.mark.slow
def test_pretrain_a_language_model_on_a_text_file_then_fine_tune_it(demo_corpus, tmp_path,
                                                                    monkeypatch, caplog):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    text = tmp_path / "diary.txt"
    text.write_text("\n".join(s for s in demo_corpus.sentences[:400]) + "\n\n",
                    encoding="utf-8")
    assert main(["data", "add", "diary", str(text)]) == 0
    out = tmp_path / "pretrained-lm"
    assert main(["pretrain", "pretrain_lm", "--out", str(out), "--set", "datasets=[diary]",
                 *TINY]) == 0
    pairs = Corpus(examples=[e for e in demo_corpus.examples if e.answer][:300])
    tuned = _fine_tune("fallback.lm", out, pairs)
    assert tuned.plugins[1].subwords.model_proto == (out / "subwords.model").read_bytes()
    assert tuned.process([Message("오늘 너무 피곤해")])[0].responder == "fallback.lm"

    # The same in one step: the generator's `pretrain` names the pretrain config.
    config = tmp_path / "pretrain-diary.yaml"
    config.write_text("pretrain:\n  model: lm\n  datasets: [diary]\n  vocab_size: 2000\n"
                      "  hidden: 32\n  heads: 4\n  layers: 1\n  ff_dim: 64\n  epochs: 1\n")
    in_one_step = Pipeline.from_config(parse_config(
        "pipeline:\n  - plugin: normalize.soynlp\n  - plugin: fallback.lm\n"
        f"    architecture: transformer\n    pretrain: {config}\n{SIZES}"
        "    epochs: 1\n    threshold: 0.0\n    max_reply: 8\n"))
    checkpoints = tmp_path / "checkpoints"
    in_one_step.fit(pairs, workdir=checkpoints)
    lm = in_one_step.plugins[1]
    assert lm.subwords.model_proto == tuned.plugins[1].subwords.model_proto  # the diary's
    assert in_one_step.process([Message("오늘 너무 피곤해")])[0].responder == "fallback.lm"
    # Kept beside the checkpoints: a resumed training starts from it instead of pretraining.
    kept = checkpoints / "fallback.lm.pretrained"
    assert (kept / "pretrained.json").is_file()
    with caplog.at_level(logging.INFO, logger="chatbot_plugins.generation.pretraining"):
        in_one_step.fit(pairs, workdir=checkpoints, resume=True)
    assert "resuming from the pretrained model" in caplog.text
    assert "pretraining on" not in caplog.text
