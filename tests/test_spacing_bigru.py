"""spacing.bigru: a small model trained on the bundled sentences must really learn to space."""

from __future__ import annotations

import random

import pytest

from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, NotFittedError
from chatbot.message import Message
from chatbot.plugin import TrainContext
from chatbot.registry import default_registry
from chatbot_plugins.spacing.bigru import (
    BiGruSpacing,
    BiGruSpacingConfig,
    join_spaces,
    noisy_spaces,
    space_scores,
    split_spaces,
)
from tests.conftest import MESSY_TEXTS

# Small and short, so training takes seconds on two cores; enough to beat the baselines.
SMALL = {"epochs": 3, "batch_size": 32, "embed_dim": 32, "conv_channels": 32, "hidden": 32,
         "bigram_buckets": 20_000}


def held_out(sentences: list[str]) -> tuple[list[str], list[str]]:
    """Every tenth sentence held out for testing; the rest for training."""
    return ([s for i, s in enumerate(sentences) if i % 10],
            [s for i, s in enumerate(sentences) if i % 10 == 0])


@pytest.fixture(scope="module")
def split(demo_corpus: Corpus) -> tuple[list[str], list[str]]:
    return held_out(demo_corpus.sentences)


@pytest.fixture(scope="module")
def trained(split: tuple[list[str], list[str]]) -> BiGruSpacing:
    train, _ = split
    plugin = BiGruSpacing(BiGruSpacingConfig(**SMALL))
    plugin.fit(Corpus.from_texts(train), TrainContext(seed=3))
    return plugin


def gold_and_predicted(plugin: BiGruSpacing, sentences: list[str]) -> tuple[list, list]:
    spaced = plugin.space([s.replace(" ", "") for s in sentences])
    return [split_spaces(s)[1] for s in sentences], [split_spaces(s)[1] for s in spaced]


def test_split_and_join_spaces_are_inverse():
    chars, spaces = split_spaces("  내일  봐요\t😊 ")
    assert chars == ["내", "일", "봐", "요", "😊"]
    assert spaces == [0, 1, 0, 1, 0]
    assert join_spaces(chars, spaces) == "내일 봐요 😊"
    assert split_spaces("") == ([], [])


def test_noise_removes_keeps_and_adds_spaces():
    gold = [0, 1, 0, 0, 1, 0, 0, 1, 0, 0] * 20
    rng = random.Random(0)
    config = BiGruSpacingConfig(unspaced_share=0.5, keep_spaces=0.7, wrong_spaces=0.05)
    noisy = [noisy_spaces(gold, config, rng.random) for _ in range(200)]
    unspaced = [n for n in noisy if not any(n)]
    assert 60 < len(unspaced) < 140
    partly = [n for n in noisy if any(n)]
    kept = sum(a and g for n in partly for a, g in zip(n, gold, strict=True))
    wrong = sum(a and not g for n in partly for a, g in zip(n, gold, strict=True))
    assert 0.6 < kept / (len(partly) * sum(gold)) < 0.8
    assert 0.03 < wrong / (len(partly) * (len(gold) - sum(gold))) < 0.07


def test_beats_trivial_baselines_on_held_out_sentences(trained, split):
    _, test = split
    gold, predicted = gold_and_predicted(trained, test)
    scores = space_scores(predicted, gold)
    every_third = space_scores([[int(i % 3 == 2) for i in range(len(g))] for g in gold], gold)
    # No spaces scores F1 0 and a space every three characters about 0.3.
    assert every_third["f1"] < 0.4
    assert scores["f1"] > 0.75, scores
    assert scores["exact"] > 0.1, scores
    assert trained.history.best_epoch >= 1
    assert "dev_char_f1" in trained.history.epochs[-1]


def test_keeps_characters_and_uses_the_spaces_it_is_given(trained, split):
    _, test = split
    spaced = trained.space([s.replace(" ", "") for s in test])
    assert [s.replace(" ", "") for s in spaced] == [s.replace(" ", "") for s in test]
    # Given the right spaces, it keeps nearly all of them (it was trained to trust them).
    gold = [split_spaces(s)[1] for s in test]
    kept = [split_spaces(s)[1] for s in trained.space(test)]
    assert space_scores(kept, gold)["f1"] > 0.9


def test_batch_equals_one_by_one(trained, split):
    _, test = split
    texts = test[:40] + MESSY_TEXTS
    batched = [m.spaced for m in trained.process([Message(t) for t in texts])]
    alone = [trained.process([Message(t)])[0].spaced for t in texts]
    assert batched == alone


def test_messy_input(trained):
    out = trained.process([Message(t) for t in MESSY_TEXTS])
    assert [m.spaced for m in out][-2:] == ["", ""]
    for message in out:
        assert message.spaced.replace(" ", "") == "".join(message.text.split())
    assert "KTX" in out[3].spaced and "😊" in out[2].spaced
    # Many sentences per message: each is spaced, then joined with one space.
    message = Message("x", sentences=["오늘날씨정말좋네요", "", "Hello"])
    trained.process([message])
    assert message.spaced.endswith(" Hello") and "  " not in message.spaced
    assert trained.process([]) == []


def test_reset_whitespace_ignores_the_typed_spaces(trained):
    trained.config.reset_whitespace = True
    try:
        assert trained.space(["아 버 지 가 방 에"]) == trained.space(["아버지가방에"])
    finally:
        trained.config.reset_whitespace = False


def test_save_and_load_round_trip(trained, split, tmp_path):
    _, test = split
    texts = test[:50] + MESSY_TEXTS
    before = [m.spaced for m in trained.process([Message(t) for t in texts])]
    trained.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"model.safetensors", "spacing.json",
                                                     "history.json"}
    again = BiGruSpacing.load(tmp_path, trained.config)
    assert [m.spaced for m in again.process([Message(t) for t in texts])] == before


def test_errors_and_registration():
    assert default_registry().get("spacing.bigru") is BiGruSpacing
    plugin = BiGruSpacing(BiGruSpacingConfig())
    with pytest.raises(NotFittedError):
        plugin.process([Message("안녕")])
    with pytest.raises(ChatbotError, match="well-spaced sentences"):
        plugin.fit(Corpus.from_texts(["안녕 하세요"]), TrainContext())
    with pytest.raises(ValueError, match="odd"):
        BiGruSpacingConfig(conv_widths=(3, 4))
