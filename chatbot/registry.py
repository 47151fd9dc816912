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

from chatbot.errors import PluginLoadError, UnknownPluginError
from chatbot.plugin import Plugin

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "chatbot.plugins"

# Built-in plugins: name -> "module:Class", imported when a config names them.
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
    "rank.relevance": "chatbot_plugins.rank.relevance:RelevanceRanker",
    "respond.template": "chatbot_plugins.respond.template:TemplateResponder",
    "respond.retrieval": "chatbot_plugins.respond.retrieval:RetrievalResponder",
    "respond.seq2seq": "chatbot_plugins.respond.seq2seq:Seq2SeqResponder",
    "fallback.lm": "chatbot_plugins.fallback.lm:LanguageModelFallback",
    "fallback.helpful": "chatbot_plugins.fallback.helpful:HelpfulFallback",
}


@dataclass
class Registry:
    """Plugin classes by name, imported on first use, and the ones that failed to load.

    Finding the plugins imports nothing: a command pays only for the plugins it uses (a
    config of text plugins never imports torch). :meth:`load_all` imports every one, for
    ``chatbot plugins``.
    """

    plugins: dict[str, type[Plugin]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # Found but not imported yet: name -> ("module:Class", origin).
    targets: dict[str, tuple[str, str]] = field(default_factory=dict)

    def get(self, name: str) -> type[Plugin]:
        """The plugin class called ``name``; an error listing the known ones otherwise."""
        if name in self.targets:
            self._load(name)
        if name in self.plugins:
            return self.plugins[name]
        if name in self.failures:
            raise PluginLoadError(name, self.failures[name])
        known = self.names()
        closest = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        raise UnknownPluginError(name, known, closest)

    def names(self) -> list[str]:
        """Every plugin found (loaded or not), except the ones that failed to load."""
        return sorted(set(self.plugins) | set(self.targets))

    def load_all(self) -> Registry:
        """Import every plugin found, recording the ones that fail; returns the registry."""
        for name in list(self.targets):
            self._load(name)
        return self

    def _load(self, name: str) -> None:
        target, origin = self.targets.pop(name)
        try:
            cls = _import_class(target)
        except Exception as error:  # one broken plugin must not break the others
            logger.warning("plugin %s (%s) failed to load: %s", name, target, error)
            self.failures[name] = f"{target} ({origin}): {type(error).__name__}: {error}"
            return
        if not (isinstance(cls, type) and issubclass(cls, Plugin)):
            self.failures[name] = f"{origin}: {cls!r} is not a subclass of chatbot.plugin.Plugin"
        elif getattr(cls, "name", None) != name:
            self.failures[name] = (
                f"{origin}: the entry point is named {name!r} but the class says {cls.name!r}"
            )
        else:
            self.plugins[name] = cls
            self.origins[name] = origin


def _import_class(target: str) -> type[Plugin]:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_registry() -> Registry:
    """Find every built-in plugin and every installed third-party plugin (importing none)."""
    registry = Registry()
    candidates = [(name, target, "built-in") for name, target in BUILTINS.items()]
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        package = entry_point.dist.name if entry_point.dist else "?"
        candidates.append((entry_point.name, entry_point.value, f"package {package}"))
    for name, target, origin in candidates:
        if name in registry.targets:
            registry.failures[name] = (f"{origin}: {name!r} is already provided by "
                                       f"{registry.targets[name][1]}")
            continue
        registry.targets[name] = (target, origin)
    return registry


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry, found once on first use."""
    return build_registry()
