"""Fuzzing configs and ``--set``: random YAML and JSON documents, near-valid pipelines with
random settings, random text, and random overrides.

Property: a validated spec or a ConfigError that lists problems; never another exception, and
nothing slow (the bounded reader refuses what would be).
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from chatbot.config import PipelineSpec, parse_config
from chatbot.errors import ConfigError
from chatbot.registry import default_registry
from tests.fuzz.strategies import ANY_CHAR, YAML_VALUES

pytestmark = pytest.mark.fuzz

PLUGIN_NAMES = default_registry().names()
SETTING_NAMES = sorted({name for plugin in PLUGIN_NAMES
                        for name in default_registry().get(plugin).Config.model_fields})
BASE = "pipeline:\n  - plugin: normalize.soynlp\n  - plugin: tokenize.mecab\n" \
       "training:\n  datasets: [demo]\nlanguage: ko\n"


def _parses_or_says_why(text: str, overrides: list[str] | None = None) -> None:
    started = time.perf_counter()
    try:
        spec = parse_config(text, "fuzz.yaml", overrides)
    except ConfigError as error:
        assert error.problems and all(isinstance(p, str) and p for p in error.problems)
        assert len(str(error)) < 20_000  # bad values are quoted back cut short
    else:
        assert isinstance(spec, PipelineSpec) and spec.steps
        yaml.safe_dump(spec.to_dict(), allow_unicode=True)
    assert time.perf_counter() - started < 10


@given(YAML_VALUES)
def test_any_yaml_document(data):
    _parses_or_says_why(yaml.safe_dump(data, allow_unicode=True))


@given(YAML_VALUES)
def test_any_json_document(data):
    _parses_or_says_why(json.dumps(data, ensure_ascii=False))


@given(st.text(ANY_CHAR, max_size=400))
def test_any_text(text):
    _parses_or_says_why(text)


@st.composite
def near_valid_configs(draw: st.DrawFn) -> str:
    """Real plugin names with real and invented setting names holding random values."""
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        step = {"plugin": draw(st.sampled_from([*PLUGIN_NAMES, "no.such", ""]))}
        names = st.sampled_from([*SETTING_NAMES, "nope"])
        step.update(draw(st.dictionaries(names, YAML_VALUES, max_size=3)))
        steps.append(step)
    document = {"pipeline": steps}
    if draw(st.booleans()):
        document["training"] = draw(st.dictionaries(
            st.sampled_from(["datasets", "device", "precision", "seed", "threads", "x"]),
            YAML_VALUES, max_size=3))
    return yaml.safe_dump(document, allow_unicode=True)


@given(near_valid_configs())
def test_near_valid_pipelines(text):
    _parses_or_says_why(text)


KEY_PARTS = st.one_of(
    st.sampled_from(["training", "pipeline", "language", "datasets", "seed", "0", "1", "7",
                     "normalize.soynlp", "tokenize.mecab", *SETTING_NAMES]),
    st.text(ANY_CHAR.filter(lambda c: c not in "=.\ud800"), max_size=8),
)


@given(st.lists(
    st.tuples(st.lists(KEY_PARTS, min_size=1, max_size=4), st.text(ANY_CHAR, max_size=60)).map(
        lambda pair: ".".join(pair[0]) + "=" + pair[1]),
    max_size=3,
))
def test_any_overrides(overrides):
    _parses_or_says_why(BASE, overrides)
