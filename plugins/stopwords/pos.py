"""stopwords.pos: mark tokens as dropped by coarse tag and by a stopword list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from chatbot.data.readers import text_lines
from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig
from chatbot.training.safe_load import SavedState
from chatbot_corpora import DEMO_DIR
from chatbot_plugins.tokenize.tagsets import COARSE_TAGS

if TYPE_CHECKING:
    from typing import Self

BUNDLED_LIST = DEMO_DIR / "stopwords.txt"
LIST_FILE = "stopwords.txt"


def read_stopwords(path: Path) -> set[str]:
    """Words of a stopword file: one per line, ``#`` starts a comment.

    Raises:
        DatasetError: the file is not UTF-8 text; it names the line and quotes none of it.
    """
    return parse_stopwords("".join(line for _, line in text_lines(path)))


def parse_stopwords(text: str) -> set[str]:
    """Words of a stopword list's text: one per line, ``#`` starts a comment."""
    words = set()
    for line in text.splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.add(word)
    return words


class StopwordConfig(PluginConfig):
    drop_tags: list[str] = Field(
        ["PARTICLE", "ENDING", "PUNCT"],
        description=f"coarse tags to drop, of: {' '.join(COARSE_TAGS)}",
    )
    stopwords_file: str | None = Field(
        "bundled",
        description="stopword list (one word per line, # comments): a path, 'bundled' for "
        "the project's Korean list, or null for none. A saved model keeps a copy and does not "
        "read the file again",
    )
    extra_stopwords: list[str] = Field([], description="more words to drop")

    @field_validator("drop_tags")
    @classmethod
    def _known_tags(cls, tags: list[str]) -> list[str]:
        unknown = [tag for tag in tags if tag not in COARSE_TAGS]
        if unknown:
            raise ValueError(f"unknown tags {unknown}; the tags are {', '.join(COARSE_TAGS)}")
        return tags


class StopwordFilter(Plugin):
    """Drops particles, endings and punctuation (by coarse tag) and listed stopwords."""

    name = "stopwords.pos"
    Config = StopwordConfig
    requires = ("tokens",)
    assigns = ("tokens",)

    def __init__(self, config: StopwordConfig, words: set[str] | None = None) -> None:
        super().__init__(config)
        if words is None:
            words = set()
            if config.stopwords_file is not None:
                source = config.stopwords_file
                words = read_stopwords(BUNDLED_LIST if source == "bundled" else Path(source))
        self.words = words | set(config.extra_stopwords)
        self.drop_tags = set(config.drop_tags)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            for token in message.tokens or []:
                token.kept = not (
                    token.tag in self.drop_tags
                    or token.surface in self.words
                    or token.lemma in self.words
                )
        return messages

    def save(self, path: Path) -> None:
        # The list is saved with the model, so the model keeps working if the file changes.
        (path / LIST_FILE).write_text("\n".join(sorted(self.words)) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, config: StopwordConfig) -> Self:
        """The list saved with the model; the file ``config.stopwords_file`` names is not
        read again."""
        return cls(config, parse_stopwords(SavedState(path, cls.name).text(LIST_FILE)))
