"""The generators with ``context: true`` read the previous user turn: a follow-up such as 왜?
gets the reply of its own conversation."""

from __future__ import annotations

import pytest

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus, Example
from chatbot.errors import ConfigError
from chatbot.message import Exchange, Message
from chatbot.pipeline import Pipeline
from chatbot_plugins.generation.subwords import EOS
from chatbot_plugins.respond.seq2seq import Seq2SeqConfig, Seq2SeqResponder

DOG, EXAM = "강아지 키우고 싶어", "시험 망했어"
WHY_DOG, WHY_EXAM = "강아지는 오래 함께하니까요.", "한 번의 시험이 전부는 아니니까요."


def _conversations() -> Corpus:
    examples = []
    for _ in range(12):  # repeated, so that a small model learns them by heart
        examples += [
            Example(DOG, answer="좋아요 어떤 강아지요?", intent="pets"),
            Example(EXAM, answer="속상하겠어요.", intent="study"),
            Example("왜?", answer=WHY_DOG, intent="pets", history=(Exchange(DOG, "좋아요"),)),
            Example("왜?", answer=WHY_EXAM, intent="study",
                    history=(Exchange(EXAM, "속상하겠어요."),)),
        ]
    return Corpus(examples=examples)


@pytest.mark.parametrize("generator, settings", [
    ("respond.seq2seq", "    architecture: transformer\n    hidden: 32\n    heads: 2\n"
                        "    layers: 1\n    ff_dim: 64\n    decoding: greedy\n"),
    ("fallback.lm", "    architecture: transformer\n    hidden: 32\n    heads: 2\n"
                    "    layers: 1\n    ff_dim: 64\n    temperature: 0.1\n"),
])
def test_a_follow_up_is_answered_in_its_own_conversation(generator, settings):
    bot = Pipeline.from_config(parse_config(
        f"pipeline:\n  - plugin: {generator}\n    context: true\n{settings}"
        "    vocab_size: 100\n    epochs: 60\n    batch_size: 16\n    learning_rate: 0.005\n"
        "    dropout: 0.0\n    threshold: 0.0\n    dev_share: 0.1\n    patience: 60\n"
        "training:\n  seed: 1\n"))
    bot.fit(_conversations())
    after_dog, after_exam = bot.process([
        Message("왜?", history=[Exchange(DOG, "좋아요")]),
        Message("왜?", history=[Exchange(EXAM, "속상하겠어요.")])])
    assert (after_dog.reply, after_exam.reply) == (WHY_DOG, WHY_EXAM)


def test_the_encoder_reads_the_turn_before_then_an_end_of_turn_piece():
    seq2seq = Seq2SeqResponder(Seq2SeqConfig(context=True))
    seq2seq.subwords = type("Pieces", (), {
        "encode": staticmethod(lambda texts: [[10 + len(t)] if t else [] for t in texts])})()
    assert seq2seq.sources(["왜?"], ["시험 망했어"]) == [[16, EOS, 12]]
    assert seq2seq.sources(["왜?"], [""]) == [[12]]
    assert seq2seq.sources(["왜?"]) == [[12]]
    seq2seq.config = Seq2SeqConfig(context=False)
    assert seq2seq.sources(["왜?"], ["시험 망했어"]) == [[12]]


def test_a_generator_with_context_requires_the_history():
    spec = parse_config("pipeline:\n  - plugin: respond.seq2seq\n    context: true\n")
    assert "history" in spec.steps[0].plugin.contract(spec.steps[0].config).requires
    with pytest.raises(ConfigError, match="context"):
        parse_config("pipeline:\n  - plugin: fallback.lm\n    context: maybe\n")
