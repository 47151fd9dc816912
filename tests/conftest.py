"""Shared fixtures: real plugins on real Korean text, built once per test session."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn
from hypothesis import HealthCheck, settings

from chatbot.config import PipelineSpec, Step, parse_config
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import load_dataset
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.plugin import Plugin, PluginConfig
from chatbot.serving.http.app import build_server
from chatbot.serving.http.settings import ServerSettings
from chatbot.serving.service import ChatService
from chatbot.testing import MESSY_KOREAN

# One torch thread, always: trained models then do not depend on how busy the machine is
# (training.threads: auto follows the load, and the thread count changes the last bits), and the
# tests' small models lose nothing by it.
os.environ["CHATBOT_THREADS"] = "1"
torch.set_num_threads(1)

# Hypothesis profiles for the fuzz tests (tests/fuzz/): "default" keeps each surface to a few
# seconds in CI; "long" (--hypothesis-profile=long, run by benchmarks/fuzz.py) is the run of
# record. No deadline in either: these machines are shared and a slow example is not a failure;
# time and memory are bounded by the tests' own limits instead.
_FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                HealthCheck.data_too_large]
settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=_FUZZ_HEALTH)
settings.register_profile("long", max_examples=10_000, deadline=None,
                          suppress_health_check=_FUZZ_HEALTH)
settings.load_profile("default")

# Fixtures that train models (each several seconds to a minute on two cores): every test that
# uses one, directly or through another fixture, is marked slow, so `pytest -m "not slow"` is
# the quick lane. Tests that train inline carry @pytest.mark.slow themselves.
TRAINING_FIXTURES = {
    "small_bot",      # here: the whole responder chain
    "trained",        # test_training, test_pipeline, test_word2vec, test_spacing_bigru
    "eval_bot_dir",   # test_evaluation
    "konlpy_okt",     # starts a JVM
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# Real messages as people type them (no spaces, typos, emoji, Latin mixed in, repeats), the
# contract kit's first six, and empty ones.
MESSY_TEXTS = [*MESSY_KOREAN[:6], "", "   "]


# A small trained bot: every responder of the toolkit (configs/generative.yaml's chain, without
# the relevance model), trained on the tests' slice of the bundled corpus in about a minute. Its
# seq2seq is strict (threshold 0.9), so the chain's later steps get used.
CHAIN = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: embed.word2vec
    dim: 32
    epochs: 2
  - plugin: classify.intent
    epochs: 4
    embed_dim: 32
    hidden: 32
    ngram_buckets: 5000
  - plugin: respond.template
  - plugin: respond.retrieval
    threshold: 0.75
  - plugin: respond.seq2seq
    epochs: 6
    learning_rate: 0.005
    embed_dim: 32
    hidden: 64
    vocab_size: 3000              # with fewer pieces, mostly single syllables, six epochs
    threshold: 0.9                # learn no more than an unconditional babble
  - plugin: fallback.lm
    epochs: 3
    embed_dim: 32
    hidden: 64
    layers: 1
    vocab_size: 1500
  - plugin: fallback.helpful      # answers only what fallback.lm leaves (canned_reply: null)
training:
  datasets: [demo]
  seed: 5
"""



@pytest.fixture(scope="session")
def small_bot(demo_corpus) -> Pipeline:
    pipeline = Pipeline.from_config(parse_config(CHAIN))
    pipeline.fit(demo_corpus)
    return pipeline


@pytest.fixture(scope="session")
def small_bot_dir(small_bot, tmp_path_factory) -> Path:
    """The small bot saved, for what loads a model directory (serve, chat)."""
    return small_bot.save(tmp_path_factory.mktemp("models") / "small-bot")


@pytest.fixture(scope="session")
def demo_corpus() -> Corpus:
    """The bundled corpus cut to what the tests' models train on in seconds: every fourth
    single-turn dialog pair (about 2,500 over all 46 intents), and all of the multi-turn
    dialogs, out-of-domain, spam and ham messages and sentences. The default bot's own test
    (test_cli) trains on the whole corpus."""
    demo = load_dataset("demo")
    single_turn = [e for e in demo.examples if e.answer and not e.history]
    kept = {id(e) for e in single_turn[::4]}
    examples = [e for e in demo.examples
                if id(e) in kept or e.history or not e.answer or "conversations" in e.source]
    return Corpus(examples=examples, sentences=demo.sentences, name="demo-slice")


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


class _FailsOn(Plugin):
    """Answers "ok", but raises on one text: a stand-in for a plugin with a bug."""

    name = "test.fails_on"
    assigns = ("reply",)
    bad = "bad"

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if message.text == self.bad:
                raise RuntimeError("boom")
            message.reply = "ok"
        return messages


def fails_on(bad: str) -> Pipeline:
    """A pipeline whose one plugin raises RuntimeError("boom") on the text ``bad``; it writes
    the replies of a batch's messages before it reaches the bad one."""
    plugin = type("FailsOn", (_FailsOn,), {"bad": bad})
    return Pipeline(PipelineSpec(steps=[Step(plugin, PluginConfig())]))


@contextmanager
def serving(service: ChatService, **settings) -> Iterator[httpx.Client]:
    """The app over ``service`` in a real uvicorn server on a free port, and a client for it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = build_server(service, ServerSettings(ui=settings.pop("ui", False), **settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)
