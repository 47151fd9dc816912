"""Which plugins exist: the built-ins, listed explicitly, and third-party ones from entry points.

Third-party packages register plugin classes in the entry-point group ``chatbot.plugins``::

    [project.entry-points."chatbot.plugins"]
    "greet.hello" = "my_package.hello:HelloPlugin"

A plugin that fails to import is recorded in :attr:`Registry.failures` and reported by
``chatbot plugins``; it does not stop the others from loading.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points

from chatbot.errors import UnknownPluginError
from chatbot.plugin import Plugin

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "chatbot.plugins"

# Built-in plugins: name -> "module:Class". Modules import their heavy libraries lazily.
BUILTINS: dict[str, str] = {
    "normalize.soynlp": "chatbot_plugins.normalize.soynlp:SoynlpNormalizer",
    "split.kss": "chatbot_plugins.split.kss:KssSplitter",
    "split.kiwi": "chatbot_plugins.split.kiwi:KiwiSplitter",
    "spacing.kiwi": "chatbot_plugins.spacing.kiwi:KiwiSpacing",
    "spacing.soyspacing": "chatbot_plugins.spacing.soyspacing:SoySpacing",
    "spacing.bigru": "chatbot_plugins.spacing.bigru:BiGruSpacing",
    "tokenize.kiwi": "chatbot_plugins.tokenize.kiwi:KiwiTokenizer",
    "tokenize.mecab": "chatbot_plugins.tokenize.mecab:MecabTokenizer",
    "tokenize.konlpy": "chatbot_plugins.tokenize.konlpy:KonlpyTokenizer",
    "tokenize.soynlp": "chatbot_plugins.tokenize.soynlp:SoynlpTokenizer",
    "tokenize.sentencepiece": "chatbot_plugins.tokenize.sentencepiece:SentencePieceTokenizer",
    "stopwords.pos": "chatbot_plugins.stopwords.pos:StopwordFilter",
    "classify.intent": "chatbot_plugins.classify.intent:IntentClassifier",
    "classify.spam": "chatbot_plugins.classify.spam:SpamClassifier",
    "embed.word2vec": "chatbot_plugins.embed.word2vec:Word2VecEmbedder",
    "respond.template": "chatbot_plugins.respond.template:TemplateResponder",
    "respond.retrieval": "chatbot_plugins.respond.retrieval:RetrievalResponder",
    "respond.seq2seq": "chatbot_plugins.respond.seq2seq:Seq2SeqResponder",
    "fallback.lm": "chatbot_plugins.fallback.lm:LanguageModelFallback",
}


@dataclass
class Registry:
    """Plugin classes by name, and the entry points that failed to load."""

    plugins: dict[str, type[Plugin]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> type[Plugin]:
        """The plugin class called ``name``; an error listing the known ones otherwise."""
        try:
            return self.plugins[name]
        except KeyError:
            known = sorted(self.plugins)
            closest = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            raise UnknownPluginError(name, known, closest) from None

    def names(self) -> list[str]:
        return sorted(self.plugins)


def _import_class(target: str) -> type[Plugin]:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def _add(registry: Registry, name: str, cls: object, origin: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        registry.failures[name] = f"{origin}: {cls!r} is not a subclass of chatbot.plugin.Plugin"
        return
    if getattr(cls, "name", None) != name:
        registry.failures[name] = (
            f"{origin}: the entry point is named {name!r} but the class says {cls.name!r}"
        )
        return
    if name in registry.plugins:
        registry.failures[name] = f"{origin}: {name!r} is already provided by " + (
            registry.origins[name]
        )
        return
    registry.plugins[name] = cls
    registry.origins[name] = origin


def build_registry() -> Registry:
    """Import every built-in plugin and every installed third-party plugin."""
    registry = Registry()
    candidates = [(name, target, "built-in") for name, target in BUILTINS.items()]
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        package = entry_point.dist.name if entry_point.dist else "?"
        candidates.append((entry_point.name, entry_point.value, f"package {package}"))
    for name, target, origin in candidates:
        try:
            cls = _import_class(target)
        except Exception as error:  # one broken plugin must not break the others
            logger.warning("plugin %s (%s) failed to load: %s", name, target, error)
            registry.failures[name] = f"{target} ({origin}): {type(error).__name__}: {error}"
            continue
        _add(registry, name, cls, origin)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry, built once on first use."""
    return build_registry()
