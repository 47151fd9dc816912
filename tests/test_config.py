"""Config validation: every error names its place and says what to do."""

from __future__ import annotations

import pytest

from chatbot.capabilities import GivesWordVectors
from chatbot.config import load_config, parse_config
from chatbot.contract import Contract, Need
from chatbot.errors import ChatbotError, ConfigError
from chatbot.plugin import Package, Plugin, PluginConfig
from chatbot.registry import Registry, default_registry

GOOD = """\
language: ko
pipeline:
  - plugin: normalize.soynlp
  - plugin: split.kss
    backend: fast
  - plugin: tokenize.kiwi
  - plugin: stopwords.pos
training:
  datasets: [demo]
"""


def problems_of(text: str, overrides: list[str] | None = None, registry=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "my.yaml", overrides, registry)
    return caught.value.problems


def test_good_config_resolves_defaults():
    spec = parse_config(GOOD, "my.yaml")
    assert [s.plugin.name for s in spec.steps] == [
        "normalize.soynlp", "split.kss", "tokenize.kiwi", "stopwords.pos"
    ]
    resolved = spec.to_dict()
    assert resolved["pipeline"][1] == {"plugin": "split.kss", "backend": "fast"}
    assert resolved["pipeline"][0]["max_repeats"] == 2  # a default filled in
    assert resolved["training"]["seed"] == 42


def test_unknown_plugin_lists_known_ones_closest_first():
    problems = problems_of(GOOD.replace("tokenize.kiwi", "tokenize.kiwii"))
    assert len(problems) == 1
    assert problems[0].startswith("my.yaml:6: pipeline[2].plugin: unknown plugin 'tokenize.kiwii'")
    assert "Did you mean 'tokenize.kiwi'?" in problems[0]
    known = problems[0].split("Known plugins: ")[1].split(", ")
    assert known[0] == "tokenize.kiwi"
    assert set(known) == set(default_registry().names())


def test_unknown_setting_names_path_line_and_known_settings():
    problems = problems_of(GOOD.replace("backend: fast", "backnd: fast"))
    assert problems == [
        "my.yaml:5: pipeline[1].backnd: unknown setting for split.kss; its settings are: backend"
    ]


def test_ill_typed_setting_names_path_and_line():
    text = GOOD.replace("  - plugin: stopwords.pos", "  - plugin: stopwords.pos\n    drop_tags: 7")
    (problem,) = problems_of(text)
    assert problem.startswith("my.yaml:8: pipeline[3].drop_tags: ")
    assert "list" in problem and "(got 7)" in problem


def test_bad_choice_lists_the_allowed_values():
    (problem,) = problems_of(GOOD.replace("backend: fast", "backend: turbo"))
    assert problem.startswith("my.yaml:5: pipeline[1].backend:")
    assert "'fast', 'mecab' or 'pecab'" in problem


def test_requires_without_an_earlier_assign():
    text = "pipeline:\n  - plugin: stopwords.pos\n  - plugin: tokenize.kiwi\n"
    (problem,) = problems_of(text)
    assert problem.startswith("my.yaml:2: pipeline[0].plugin: stopwords.pos requires tokens")
    assert "no earlier step assigns" in problem


def test_missing_optional_package_gives_the_pip_command():
    class NeedsPackage(Plugin):
        """Needs a package that is not installed."""

        name = "test.needs_package"
        packages = (Package("no_such_module_xyz", "no-such-package-xyz>=1.0"),)

    registry = Registry(plugins={"test.needs_package": NeedsPackage})
    (problem,) = problems_of("pipeline:\n  - plugin: test.needs_package\n", registry=registry)
    assert "needs the Python package 'no_such_module_xyz'" in problem
    assert "pip install no-such-package-xyz>=1.0" in problem


class _Vectors(Plugin):
    """Gives word vectors."""

    name = "test.vectors"
    assigns = ("vector",)

    def vectors_for(self, tokens):
        return None


class _StartsFromVectorsConfig(PluginConfig):
    init: str = "vectors"


class _StartsFromVectors(Plugin):
    """Needs an earlier step that gives word vectors, when its settings say so."""

    name = "test.starts_from_vectors"
    Config = _StartsFromVectorsConfig
    assigns = ("intent",)

    @classmethod
    def contract(cls, config):
        needs = (Need(GivesWordVectors, f"init: {config.init}"),) if config.init != "none" else ()
        return Contract(requires=cls.requires, assigns=cls.assigns, needs=needs)


def test_a_capability_an_earlier_step_must_have_is_checked_with_the_setting_s_line():
    registry = Registry(plugins={"test.vectors": _Vectors,
                                 "test.starts_from_vectors": _StartsFromVectors})
    alone = "pipeline:\n  - plugin: test.starts_from_vectors\n    init: vectors\n"
    (problem,) = problems_of(alone, registry=registry)
    assert problem.startswith("my.yaml:3: pipeline[0].init: test.starts_from_vectors needs an "
                              "earlier step that has GivesWordVectors (because of init: vectors)")
    parse_config(alone.replace("init: vectors", "init: none"), registry=registry)  # no need
    after = "pipeline:\n  - plugin: test.vectors\n" + alone.removeprefix("pipeline:\n")
    assert len(parse_config(after, registry=registry).steps) == 2


def test_every_problem_is_reported_at_once():
    text = (
        "pipeline:\n  - plugin: nope\n  - plugin: split.kss\n    backend: 3\n"
        "training:\n  epochs: 3\nextra: 1\n"
    )
    problems = problems_of(text)
    assert len(problems) == 4
    assert any(p.startswith("my.yaml:7: extra: unknown key") for p in problems)
    assert any(p.startswith("my.yaml:6: training.epochs: unknown setting") for p in problems)


def test_yaml_syntax_error_names_the_line():
    (problem,) = problems_of("pipeline:\n  - plugin: split.kss\n   backend: [fast\n")
    assert problem.startswith("my.yaml:")
    assert "not valid YAML" in problem


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "pipeline: []\n", "pipeline: [3]\n"])
def test_shapeless_configs_are_rejected(text):
    assert problems_of(text)


def test_overrides_by_plugin_name_index_and_section():
    spec = parse_config(
        GOOD, "my.yaml",
        ["split.kss.backend=mecab", "pipeline.0.max_repeats=3", "training.seed=7"],
    )
    assert spec.steps[1].config.backend == "mecab"
    assert spec.steps[0].config.max_repeats == 3
    assert spec.training.seed == 7


def test_overrides_are_type_checked_and_named():
    (problem,) = problems_of(GOOD, ["training.seed=abc"])
    assert problem.startswith("--set training.seed=abc: training.seed:")
    (problem,) = problems_of(GOOD, ["tokenize.kiwi.typos=always"])
    assert problem.startswith("--set tokenize.kiwi.typos=always: pipeline[2].typos:")
    (problem,) = problems_of(GOOD, ["spacing.kiwi.reset_whitespace=true"])
    assert "no such setting" in problem
    (problem,) = problems_of(GOOD, ["seed"])
    assert "expected KEY=VALUE" in problem


def test_bundled_config_by_name_and_missing_file():
    assert load_config("default").steps
    with pytest.raises(ChatbotError, match="bundled configs: .*default"):
        load_config("no/such/config.yaml")
