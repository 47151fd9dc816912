"""split.kss: Korean sentence splitting with kss, its backend chosen in the config."""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Package, Plugin, PluginConfig

logger = logging.getLogger(__name__)


class KssConfig(PluginConfig):
    backend: Literal["fast", "mecab", "pecab"] = Field(
        "fast",
        description="fast: rules only, quickest; mecab: morpheme-aware (python-mecab-ko); "
        "pecab: pure-Python morphemes, slowest",
    )


@lru_cache(maxsize=1)
def import_kss() -> Any:
    """Import kss once per process: the import alone takes about 5 seconds."""
    logger.info("importing kss (takes a few seconds, once)")
    import kss

    return kss


class KssSplitter(Plugin):
    """Sentence boundaries from kss (backends fast, mecab or pecab), even without punctuation."""

    name = "split.kss"
    Config = KssConfig
    assigns = ("sentences",)
    packages = (Package("kss", "kss"),)

    def __init__(self, config: KssConfig) -> None:
        super().__init__(config)
        self.kss = import_kss()

    def process(self, messages: list[Message]) -> list[Message]:
        texts = [message.normalized if message.normalized is not None else message.text
                 for message in messages]
        non_empty = [i for i, text in enumerate(texts) if text.strip()]
        results: list[list[str]] = [[] for _ in texts]
        if non_empty:
            # One call for the whole batch; num_workers=1 keeps kss from forking processes.
            with warnings.catch_warnings():
                # pecab's scoring overflows numpy scalars harmlessly and warns on every call.
                warnings.simplefilter("ignore", RuntimeWarning)
                split = self.kss.split_sentences(
                    [texts[i] for i in non_empty], backend=self.config.backend, num_workers=1
                )
            if len(non_empty) == 1 and (not split or isinstance(split[0], str)):
                split = [split]  # some kss backends unwrap a one-item list
            for i, sentences in zip(non_empty, split, strict=True):
                results[i] = [s for s in sentences if s.strip()]
        for message, sentences in zip(messages, results, strict=True):
            message.sentences = sentences
        return messages
