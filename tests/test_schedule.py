"""The learning-rate schedule of the shared training loop (chatbot.training.schedule)."""

from __future__ import annotations

import math

import pytest
import torch

from chatbot.training import loop
from chatbot.training.schedule import LearningRateSchedule


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1.0)


def test_warm_up_then_cosine_down_to_zero():
    optimizer = _optimizer()
    schedule = LearningRateSchedule(optimizer, 0.01, "cosine", warmup_steps=4, total_steps=14)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(14):
        schedule.advance()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[:4] == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert rates[4] == pytest.approx(0.01)
    assert rates[9] == pytest.approx(0.005)  # half way down the cosine
    assert rates[14] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(rates[4:], rates[5:], strict=False))


def test_constant_without_warm_up_is_the_plain_rate_and_a_checkpoint_restores_the_place():
    optimizer = _optimizer()
    schedule = LearningRateSchedule(optimizer, 0.003, "constant", warmup_steps=0, total_steps=5)
    for _ in range(7):
        schedule.advance()
        assert optimizer.param_groups[0]["lr"] == 0.003
    cosine = LearningRateSchedule(optimizer, 0.01, "cosine", warmup_steps=0, total_steps=10)
    for _ in range(3):
        cosine.advance()
    state = cosine.state_dict()
    restored = LearningRateSchedule(_optimizer(), 0.01, "cosine", warmup_steps=0,
                                    total_steps=10)
    restored.load_state_dict(state)
    assert restored.optimizer.param_groups[0]["lr"] == pytest.approx(
        0.01 * 0.5 * (1 + math.cos(math.pi * 0.3)))


def test_the_training_loop_follows_the_configured_schedule(demo_corpus, monkeypatch):
    from chatbot.config import parse_config
    from chatbot.data.corpus import Corpus
    from chatbot.pipeline import Pipeline

    seen: list[float] = []

    class Recording(LearningRateSchedule):
        def advance(self) -> None:
            seen.append(self.optimizer.param_groups[0]["lr"])
            super().advance()

    monkeypatch.setattr(loop, "LearningRateSchedule", Recording)
    pipeline = Pipeline.from_config(parse_config("""\
pipeline:
  - plugin: classify.intent
    epochs: 2
    embed_dim: 16
    hidden: 16
    ngram_buckets: 1000
    batch_size: 64
    learning_rate: 0.004
    schedule: cosine
    warmup_steps: 3
"""))
    pipeline.fit(Corpus(examples=[e for e in demo_corpus.examples if e.intent][:640]))
    assert seen[:3] == pytest.approx([0.004 / 3, 0.008 / 3, 0.004])
    total = len(seen)  # two epochs of batches, one rate per optimizer step
    assert seen[-1] == pytest.approx(0.004 * 0.5 * (1 + math.cos(math.pi * (total - 4)
                                                                 / (total - 3))))
