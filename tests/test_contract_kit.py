"""chatbot.testing: the contract kit passes the built-in plugins and catches broken ones."""

from __future__ import annotations

import pytest
from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot.registry import default_registry
from chatbot.testing import PluginContractError, check_plugin

TEXT_PLUGINS = ["normalize.soynlp", "split.kss", "split.kiwi", "spacing.kiwi",
                "tokenize.kiwi", "tokenize.mecab"]


@pytest.mark.parametrize("name", TEXT_PLUGINS)
def test_the_untrained_built_ins_keep_the_contract(name):
    check_plugin(default_registry().get(name))


def test_plugins_that_read_earlier_fields_are_checked_after_their_upstream():
    registry = default_registry()
    tokenizer = registry.get("tokenize.kiwi")(registry.get("tokenize.kiwi").Config())
    check_plugin(registry.get("stopwords.pos"), upstream=[tokenizer])


def test_a_trainable_plugin_is_trained_saved_and_loaded():
    settings = {"epochs": 2, "embed_dim": 16, "hidden": 16, "ngram_buckets": 2000}
    plugin = check_plugin(default_registry().get("classify.intent"), settings)
    assert plugin.labels  # it was really trained


class _Config(PluginConfig):
    marks: int = Field(1, ge=1, description="exclamation marks")


class _Shout(Plugin):
    """Adds exclamation marks."""

    name = "test.shout"
    Config = _Config
    assigns = ("normalized",)

    def process(self, messages):
        for message in messages:
            message.normalized = message.text + "!" * self.config.marks
        return messages


class _NewMessages(_Shout):
    """Returns new messages."""

    def process(self, messages):
        return [Message(m.text, normalized=m.text) for m in messages]


class _Undeclared(_Shout):
    """Writes a field it does not declare."""

    def process(self, messages):
        for message in super().process(messages):
            message.spaced = message.text
        return messages


class _BatchDependent(_Shout):
    """Answers differently in a batch."""

    def process(self, messages):
        for message in messages:
            message.normalized = f"{message.text} ({len(messages)})"
        return messages


class _Silent(_Shout):
    """Declares a field and never writes it."""

    def process(self, messages):
        return messages


@pytest.mark.parametrize("plugin, problem", [
    (_NewMessages, "same Message objects"),
    (_Undeclared, r"changed \['spaced'\]"),
    (_BatchDependent, "differs processed alone and in a batch"),
    (_Silent, "assigns 'normalized' but wrote it on none"),
])
def test_broken_plugins_are_caught_with_the_rule_they_break(plugin, problem):
    check_plugin(_Shout, {"marks": 2})
    with pytest.raises(PluginContractError, match=problem):
        check_plugin(plugin)


def test_bad_declarations_and_settings_are_caught():
    class Nameless(_Shout):
        """No dotted name."""

        name = "shout"

    with pytest.raises(PluginContractError, match="stage.name"):
        check_plugin(Nameless)
    with pytest.raises(PluginContractError, match="settings given are not valid"):
        check_plugin(_Shout, {"marks": 0})
