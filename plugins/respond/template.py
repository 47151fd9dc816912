"""respond.template: fixed answers for intents that need no generation (greeting, thanks...).

The table is read from the file the config names (or the bundled one) when the pipeline is
built, and saved with the model: a saved model answers from its own copy and never reads the
file its config.yaml names, which may not exist, or be another file, where the model is loaded.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from chatbot.data.readers import read_table
from chatbot.errors import ChatbotError
from chatbot.message import Message
from chatbot.training.safe_load import SavedState
from chatbot_corpora import DEMO_DIR
from chatbot_plugins.respond.base import Answer, Responder, ResponderConfig

if TYPE_CHECKING:
    from typing import Self

BUNDLED_TABLE = DEMO_DIR / "responses.tsv"
TABLE_FILE = "responses.json"  # the table's copy in a saved model


class TemplateConfig(ResponderConfig):
    threshold: float = Field(0.7, ge=0, le=1, description="least intent confidence to answer")
    table: str | None = Field(
        None, description="a TSV/CSV file with columns intent, response; none: the bundled "
        "table (greeting, farewell, thanks, who_are_you, apology, compliment). A saved model "
        "keeps a copy and does not read the file again",
    )
    responses: dict[str, list[str]] = Field(
        default_factory=dict, description="answers by intent, added to the table's (and "
        "replacing them for the intents listed here)",
    )
    seed: int = Field(0, description="picks among an intent's answers; the same message and "
                      "seed give the same answer")


class TemplateResponder(Responder):
    """Answers an intent from a response table when the intent is confident enough, picking one
    of its variations per message."""

    name = "respond.template"
    Config = TemplateConfig
    requires = ("intent",)

    def __init__(self, config: TemplateConfig, table: dict[str, list[str]] | None = None) -> None:
        """A responder with the table's answers and those of ``config.responses``.

        Args:
            config: the settings.
            table: the table's answers by intent, as saved with a model; None reads the file
                ``config.table`` names (or the bundled table).
        """
        super().__init__(config)
        if table is None:
            table = read_responses(Path(config.table) if config.table else BUNDLED_TABLE)
        self.file_table = table  # what is saved with the model
        self.table = {**table, **{k: list(v) for k, v in config.responses.items() if v}}

    def answer(self, messages: list[Message]) -> list[Answer | str]:
        results: list[Answer | str] = []
        for message in messages:
            intent = message.intent
            if intent is None or intent.label not in self.table:
                label = intent.label if intent else "none"
                results.append(f"no template for intent {label}")
                continue
            options = self.table[intent.label]
            pick = zlib.crc32(f"{self.config.seed}:{message.text}".encode()) % len(options)
            results.append(Answer(options[pick], intent.confidence))
        return results

    def save(self, path: Path) -> None:
        (path / TABLE_FILE).write_text(json.dumps({"responses": self.file_table},
                                                  ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, config: TemplateConfig) -> Self:
        """The saved copy of the table; ``config.table`` is not read. A model saved before
        tables were copied has none: it gets the bundled table, if that is what it used."""
        state = SavedState(path, cls.name)
        copy = path / TABLE_FILE
        if not copy.exists() and not copy.is_symlink():  # a dangling link is damage
            if config.table is not None:
                raise state.error(f"{TABLE_FILE}, the copy of the response table "
                                  f"{config.table}, is missing")
            return cls(config)
        table = state.json_object(TABLE_FILE, ("responses",))["responses"]
        if not isinstance(table, dict) or not all(
                isinstance(answers, list) and answers
                and all(isinstance(answer, str) for answer in answers)
                for answers in table.values()):
            raise state.error(f"responses in {TABLE_FILE} is not an object of intents, each "
                              "with a non-empty list of answers")
        return cls(config, table)


def read_responses(path: Path) -> dict[str, list[str]]:
    """intent -> its answers, from a table with the columns intent and response.

    Raises:
        DatasetError: the file is not such a table; like every reader's error, it names the file
            and line and quotes none of the file (a config may point at any file).
    """
    if not path.is_file():
        raise ChatbotError(f"response table {path} not found",
                           hint="give respond.template.table a UTF-8 TSV or CSV file whose "
                           "first line names the columns intent, response")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    table: dict[str, list[str]] = {}
    for _, row in read_table(path, ("intent", "response"), delimiter):
        table.setdefault(row["intent"], []).append(row["response"])
    return table
