"""respond.seq2seq resumed after an interruption ends where an uninterrupted run ends: the
teacher-forcing schedule is checkpointed with the epoch."""

from __future__ import annotations

import json

import pytest
import torch

from chatbot.data.corpus import Corpus
from chatbot.plugin import TrainContext
from chatbot.training import loop
from chatbot.training.loop import TrainingInterrupted, seed_everything
from chatbot_plugins.respond.seq2seq import Seq2SeqConfig, Seq2SeqResponder

# Teacher forcing falls from always to never over the run, so an epoch trained with the
# schedule's start instead of where it stood gives other weights.
SETTINGS = {"epochs": 3, "patience": 10, "batch_size": 32, "vocab_size": 600, "embed_dim": 8,
            "hidden": 16, "attention": "luong_dot", "dropout": 0.1,
            "teacher_forcing": 1.0, "teacher_forcing_end": 0.0}


@pytest.fixture(scope="module")
def pairs(demo_corpus) -> Corpus:
    return Corpus(examples=[e for e in demo_corpus.examples if e.answer][:160], name="pairs")


def train(corpus: Corpus, **context) -> Seq2SeqResponder:
    seed_everything(3)  # as Pipeline.fit does before each plugin
    plugin = Seq2SeqResponder(Seq2SeqConfig(**SETTINGS))
    plugin.fit(corpus, TrainContext(seed=3, **context))
    return plugin


def test_an_interrupted_seq2seq_run_resumes_to_the_same_weights(pairs, tmp_path, monkeypatch):
    straight = train(pairs)

    real_train_epoch = loop._train_epoch
    calls = {"n": 0}

    def interrupt_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_epoch", interrupt_third)
    with pytest.raises(TrainingInterrupted, match="epochs up to 2 are saved"):
        train(pairs, workdir=tmp_path)
    monkeypatch.setattr(loop, "_train_epoch", real_train_epoch)
    saved = json.loads((tmp_path / "respond.seq2seq" / "checkpoint" / "state.json").read_text())
    assert saved["resumable"]["teacher_forcing"]["step"] > 0  # two epochs into the schedule

    resumed = train(pairs, workdir=tmp_path, resume=True)
    assert resumed.history.epochs == straight.history.epochs
    weights, expected = resumed.model.state_dict(), straight.model.state_dict()
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[key], expected[key]) for key in expected)
