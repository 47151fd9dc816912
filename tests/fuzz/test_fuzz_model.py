"""Fuzzing saved models: a small trained model, copied for each example, its manifest.json,
config.yaml and the metadata of its steps damaged (random values in place of random keys, keys
taken away, any number made huge, negative, NaN or infinite) and its other files replaced by
random bytes; then loaded, and asked one message.

Property: the model works, or loading or the message raises the toolkit's own error
(a ChatbotError); never another exception, never an allocation the machine refuses, no more
than a few hundred MB of memory and a few seconds; and the trace is strict JSON (no NaN).
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError
from chatbot.pipeline import Pipeline
from tests.conftest import build
from tests.fuzz.strategies import YAML_VALUES

pytestmark = pytest.mark.fuzz

# Trains in a few seconds: every kind of saved state the fuzzing reaches (JSON metadata,
# safetensors weights and index, a copied table), tiny.
SMALL_BOT = """\
pipeline:
  - plugin: normalize.soynlp
  - plugin: tokenize.mecab
  - plugin: classify.intent
    epochs: 1
    embed_dim: 8
    hidden: 8
    ngram_buckets: 1000
    ngram_dim: 8
    max_vocab: 300
  - plugin: respond.template
  - plugin: respond.retrieval
training:
  seed: 3
"""
MAX_SECONDS = 20  # per example, on a shared machine; a working one takes milliseconds
MAX_GROWTH_MB = 300

# Sizes and numbers that break what trusts them.
NUMBERS = st.sampled_from([0, -1, 1, 2, 3, 10**6, 10**8, 10**12, 2**63, -(2**63), 2**64,
                           math.nan, math.inf, -math.inf, -0.0, 1e-300, 1e300, 0.5])
VALUES = st.one_of(NUMBERS, YAML_VALUES)
Draw = Callable[[st.SearchStrategy], Any]


@pytest.fixture(scope="module")
def saved_model(demo_corpus, tmp_path_factory) -> Path:
    corpus = Corpus(examples=demo_corpus.examples[::8], name="fuzz")
    pipeline = build(SMALL_BOT)
    pipeline.fit(corpus)
    return pipeline.save(tmp_path_factory.mktemp("fuzz") / "model")


@pytest.fixture(scope="module")
def documents(saved_model) -> list[str]:
    """manifest.json, config.yaml and every JSON file of the steps."""
    return ["manifest.json", "config.yaml"] + sorted(
        path.relative_to(saved_model).as_posix()
        for path in saved_model.glob("steps/*/*.json"))


@pytest.fixture(scope="module")
def numeric_documents(saved_model, documents) -> list[str]:
    """The documents that hold a number."""
    return [name for name in documents if _numbers(_read(saved_model / name))]


@pytest.fixture(scope="module")
def other_files(saved_model) -> list[str]:
    """The steps' other files: weights, the n-gram index."""
    return sorted(path.relative_to(saved_model).as_posix()
                  for path in saved_model.glob("steps/*/*")
                  if path.suffix not in (".json", ".png"))


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)


def _write(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True) if path.suffix == ".yaml"
                    else json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _mutate(value: Any, draw: Draw, depth: int = 0) -> Any:
    """The value with one random change somewhere inside it."""
    keys = list(value) if isinstance(value, dict) else list(range(len(value))) \
        if isinstance(value, list) else []
    if keys and depth < 6 and draw(st.integers(0, 3)):  # mostly: go deeper
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 5)) == 0:  # sometimes: take the key away
            del value[key]
        else:
            value[key] = _mutate(value[key], draw, depth + 1)
        return value
    return draw(VALUES)


def _numbers(value: Any, path: tuple = ()) -> list[tuple]:
    """The path to every number inside a document."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _numbers(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _numbers(item, (*path, index))]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return [path] if is_number else []


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _refused_allocation(error: BaseException | None) -> bool:
    """Whether an error is, or was caused by, an allocation the machine refused."""
    while error is not None:
        if isinstance(error, MemoryError) or "allocate" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _loads_or_says_why(model: Path) -> None:
    memory, started = _max_rss_mb(), time.perf_counter()
    try:
        messages = Pipeline.load(model).process_texts(["안녕하세요"])
        json.dumps([message.to_dict() for message in messages], allow_nan=False)
    except ChatbotError as error:
        assert str(error) and not _refused_allocation(error), error
    assert time.perf_counter() - started < MAX_SECONDS
    assert _max_rss_mb() - memory < MAX_GROWTH_MB


def _damaged_copy(saved_model: Path, damage: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        model = shutil.copytree(saved_model, Path(folder) / "model")
        damage(model)
        _loads_or_says_why(model)


@given(st.data())
def test_a_damaged_model_loads_or_says_why(saved_model, documents, other_files, data):
    def damage(model: Path) -> None:
        for _ in range(data.draw(st.integers(1, 3))):
            if data.draw(st.integers(0, 4)):
                path = model / data.draw(st.sampled_from(documents))
                _write(path, _mutate(_read(path), data.draw))
            else:
                path = model / data.draw(st.sampled_from(other_files))
                content = path.read_bytes()
                cut = data.draw(st.integers(0, len(content)))
                path.write_bytes(content[:cut] + data.draw(st.binary(max_size=64)))

    _damaged_copy(saved_model, damage)


@given(st.data())
def test_any_number_of_a_saved_model_loads_or_says_why(saved_model, numeric_documents, data):
    def damage(model: Path) -> None:
        path = model / data.draw(st.sampled_from(numeric_documents))
        document = _read(path)
        *parents, last = data.draw(st.sampled_from(_numbers(document)))
        target = document
        for key in parents:
            target = target[key]
        target[last] = data.draw(NUMBERS)
        _write(path, document)

    _damaged_copy(saved_model, damage)
