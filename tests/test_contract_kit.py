"""chatbot.testing: the contract kit passes the built-in plugins and catches broken ones."""

from __future__ import annotations

import pytest
from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot.registry import BUILTINS, default_registry
from chatbot.testing import PluginContractError, check_plugin

# Every built-in: (its settings, sized to train in seconds; the steps it runs after). Each
# step before it is built from its defaults and, when trainable, trained by the kit first.
SMALL_NET = {"epochs": 1, "embed_dim": 16, "hidden": 16}
SMALL_RELEVANCE = {"epochs": 1, "dim": 16, "hidden": 16, "vocab_size": 1000}
BUILT_INS: dict[str, tuple[dict, list[tuple[str, dict]]]] = {
    "normalize.soynlp": ({}, []),
    "split.kss": ({}, []),
    "split.kiwi": ({}, []),
    "spacing.kiwi": ({}, []),
    "spacing.soyspacing": ({}, []),
    "spacing.bigru": ({**SMALL_NET, "max_vocab": 500}, []),
    "tokenize.kiwi": ({}, []),
    "tokenize.mecab": ({}, []),
    "tokenize.konlpy": ({}, []),
    "tokenize.soynlp": ({}, []),
    "tokenize.sentencepiece": ({"vocab_size": 1500}, []),
    "stopwords.pos": ({}, [("tokenize.kiwi", {})]),
    "embed.word2vec": ({"epochs": 1, "dim": 16}, [("tokenize.kiwi", {})]),
    "classify.intent": ({**SMALL_NET, "ngram_buckets": 2000}, []),
    "classify.spam": ({**SMALL_NET, "ngram_buckets": 2000}, []),
    # Answers the greetings of the kit's texts, even from a barely trained classifier.
    "respond.template": ({"threshold": 0.0}, [("classify.intent", {
        **SMALL_NET, "ngram_buckets": 2000, "ood_threshold": 0.0})]),
    "rank.relevance": (SMALL_RELEVANCE, []),
    # With the relevance model: every candidate's relevance goes into the trace.
    "respond.retrieval": ({"min_relevance": "auto", "threshold": 0.2},
                          [("rank.relevance", SMALL_RELEVANCE)]),
    "respond.seq2seq": ({**SMALL_NET, "vocab_size": 1000, "threshold": 0.0, "rerank": True},
                        [("respond.retrieval", {"threshold": 1.0})]),
    "fallback.lm": ({**SMALL_NET, "vocab_size": 1000, "layers": 1}, []),
    "fallback.helpful": ({}, []),
}


def test_the_table_covers_every_built_in():
    assert set(BUILT_INS) == set(BUILTINS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILT_INS))
def test_every_built_in_keeps_the_contract(name, demo_corpus):
    from chatbot.data.corpus import Corpus

    registry = default_registry()
    corpus = Corpus(examples=demo_corpus.examples[::6], sentences=demo_corpus.sentences[::6],
                    name="demo-sixth")
    settings, before = BUILT_INS[name]
    upstream = []
    for step_name, step_settings in before:
        upstream.append(check_plugin(registry.get(step_name), step_settings, corpus, upstream))
    check_plugin(registry.get(name), settings, corpus, upstream)


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


class _UndeclaredExtra(_Shout):
    """Passes data on in an extras key it does not declare."""

    def process(self, messages):
        for message in super().process(messages):
            message.extras["shouted"] = True
        return messages


class _WrongPayload(_Shout):
    """Declares extras.attention but writes a plain dict there."""

    assigns = ("normalized", "extras.attention")

    def process(self, messages):
        for message in super().process(messages):
            message.extras["attention"] = {"source": [], "reply": [], "weights": []}
        return messages


class _UnknownExtra(_Shout):
    """Names an extras key that nobody declares."""

    assigns = ("normalized", "extras.mystery")


@pytest.mark.parametrize("plugin, problem", [
    (_NewMessages, "same Message objects"),
    (_Undeclared, r"changed \['spaced'\]"),
    (_UndeclaredExtra, r"changed \['extras.shouted'\]"),
    (_WrongPayload, "not the declared AttentionMap"),
    (_UnknownExtra, "neither Message fields .* nor declared extras"),
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
