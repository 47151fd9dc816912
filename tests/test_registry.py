"""The registry: built-ins, and real third-party packages found through their entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chatbot.capabilities import CAPABILITIES
from chatbot.contract import known_names
from chatbot.errors import PluginLoadError, UnknownPluginError
from chatbot.plugin import PluginConfig
from chatbot.registry import BUILTINS, build_registry, default_registry


def test_every_builtin_loads_and_keeps_the_contract():
    registry = default_registry().load_all()
    assert registry.failures == {}
    assert set(BUILTINS) <= set(registry.names())
    for name in BUILTINS:
        cls = registry.get(name)
        assert cls.name == name and cls.summary().endswith(".")  # a whole sentence
        assert set(cls.requires) <= known_names(cls.extras)
        # A step writes to the message, or serves later steps with a capability.
        assert cls.assigns or any(issubclass(cls, c) for c in CAPABILITIES)
        assert set(cls.assigns) <= known_names(cls.extras)
        assert issubclass(cls.Config, PluginConfig)
        cls.Config()  # the defaults are valid
        for setting in cls.Config.model_fields.values():
            assert setting.description or cls.Config is PluginConfig


def test_a_summary_is_the_first_sentence_even_when_it_wraps():
    from chatbot.plugin import Plugin

    class Wrapped(Plugin):
        """Does one thing to the message, then
        another. More detail that `chatbot plugins` does not show."""

    assert Wrapped.summary() == "Does one thing to the message, then another."


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownPluginError) as caught:
        default_registry().get("split.kiwy")
    expected = "unknown plugin 'split.kiwy'. Did you mean 'split.kiwi'?"
    assert caught.value.message.startswith(expected)


PLUGIN_MODULE = '''
from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from pydantic import Field


class ShoutConfig(PluginConfig):
    marks: int = Field(1, ge=1, description="exclamation marks to add")


class Shout(Plugin):
    """Adds exclamation marks to the normalized text."""

    name = "demo.shout"
    Config = ShoutConfig
    assigns = ("normalized",)

    def process(self, messages):
        for message in messages:
            message.normalized = message.text + "!" * self.config.marks
        return messages
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "chatbot-shout"
version = "0.1.0"

[tool.setuptools]
py-modules = ["chatbot_shout", "chatbot_shout_broken"]

[project.entry-points."chatbot.plugins"]
"demo.shout" = "chatbot_shout:Shout"
"demo.broken" = "chatbot_shout_broken:Missing"
'''

CHECK = '''
import json
from chatbot.config import parse_config
from chatbot.pipeline import Pipeline
from chatbot.registry import build_registry
registry = build_registry()
spec = parse_config("pipeline:\\n  - plugin: demo.shout\\n    marks: 3\\n", registry=registry)
message = Pipeline.from_config(spec).process_texts(["안녕"])[0]
registry.load_all()
print(json.dumps({"names": registry.names(), "failures": registry.failures,
                  "normalized": message.normalized}, ensure_ascii=False))
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory) -> Path:
    """A third-party plugin package, really built and installed into a separate folder."""
    root = tmp_path_factory.mktemp("third_party")
    source = root / "src"
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "chatbot_shout.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (source / "chatbot_shout_broken.py").write_text("raise ImportError('this plugin is broken')\n")
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True,
    )
    return target


def test_third_party_plugin_is_found_through_its_entry_point(installed_plugin):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed_plugin), *sys.path]))
    result = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "demo.shout" in report["names"]
    assert report["normalized"] == "안녕!!!"
    # The broken one is reported; the built-ins and the good one still load.
    assert "this plugin is broken" in report["failures"]["demo.broken"]
    assert set(BUILTINS) <= set(report["names"])


def test_cli_lists_a_third_party_plugin_and_its_failure(installed_plugin):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(installed_plugin), *sys.path]))
    result = subprocess.run(
        [sys.executable, "-m", "chatbot.cli", "plugins"], env=env, capture_output=True,
        text=True, check=True,
    )
    assert "demo.shout\n    Adds exclamation marks" in result.stdout
    assert "from: package chatbot-shout" in result.stdout
    assert "marks = 1: exclamation marks to add" in result.stdout
    assert "demo.broken  (FAILED TO LOAD)" in result.stdout


def test_a_class_that_is_not_a_plugin_is_reported(monkeypatch):
    monkeypatch.setitem(BUILTINS, "test.not_a_plugin", "json:JSONDecoder")
    registry = build_registry()
    with pytest.raises(PluginLoadError, match="not a subclass"):
        registry.get("test.not_a_plugin")
    assert "not a subclass" in registry.failures["test.not_a_plugin"]
    assert "test.not_a_plugin" not in registry.names()


def test_finding_plugins_imports_none_of_them(monkeypatch):
    monkeypatch.setitem(BUILTINS, "test.broken", "chatbot_no_such_module:Plugin")
    registry = build_registry()
    assert "test.broken" in registry.names() and registry.failures == {}
    registry.get("split.kiwi")  # another plugin loads without touching the broken one
    assert registry.failures == {}
    assert "no_such_module" in registry.load_all().failures["test.broken"]
