"""Shared fixtures: real plugins on real Korean text, built once per test session."""

from __future__ import annotations

import pytest
import torch

from chatbot.config import parse_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.pipeline import Pipeline

# The tests' models are small: one thread is as fast as two, and it keeps torch from slowing
# down tenfold when another process holds a core of a small shared machine.
torch.set_num_threads(1)

# Real messages as people type them: no spaces, typos, emoji, Latin mixed in, repeats.
MESSY_TEXTS = [
    "아버지가방에들어가신다",
    "오늘날씨정말좋네요ㅋㅋㅋㅋ",
    "안녕하세여 머해용?? 😊👋",
    "내일 KTX 3시 반 표 예매했어 ok?",
    "ㅠㅠㅠㅠ 넘 힘들다...",
    "Hello 반가워요!",
    "",
    "   ",
]


@pytest.fixture(scope="session")
def demo_corpus() -> Corpus:
    return load_dataset("demo")


@pytest.fixture(scope="session")
def small_corpus(demo_corpus: Corpus) -> Corpus:
    """Bundled sentences and a slice of dialog: enough to train the unsupervised plugins."""
    return Corpus(examples=demo_corpus.examples[:800], sentences=demo_corpus.sentences,
                  name="small")


@pytest.fixture(scope="session")
def default_pipeline() -> Pipeline:
    from chatbot.config import load_config

    return Pipeline.from_config(load_config("text"))


def build(yaml_text: str) -> Pipeline:
    """A pipeline from config text."""
    return Pipeline.from_config(parse_config(yaml_text))
