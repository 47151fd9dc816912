"""respond.template: fixed answers for intents that need no generation (greeting, thanks...)."""

from __future__ import annotations

import zlib
from pathlib import Path

from pydantic import Field

from chatbot.data.readers import read_table
from chatbot.errors import ChatbotError
from chatbot.message import Message
from chatbot_corpora import DEMO_DIR
from chatbot_plugins.respond.base import Answer, Responder, ResponderConfig

BUNDLED_TABLE = DEMO_DIR / "responses.tsv"


class TemplateConfig(ResponderConfig):
    threshold: float = Field(0.7, ge=0, le=1, description="least intent confidence to answer")
    table: str | None = Field(
        None, description="a TSV/CSV file with columns intent, response; none: the bundled "
        "table (greeting, farewell, thanks, who_are_you, apology, compliment)",
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

    def __init__(self, config: TemplateConfig) -> None:
        super().__init__(config)
        self.table = {**read_responses(Path(config.table) if config.table else BUNDLED_TABLE),
                      **{k: list(v) for k, v in config.responses.items() if v}}

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


def read_responses(path: Path) -> dict[str, list[str]]:
    """intent -> its answers, from a table with the columns intent and response."""
    if not path.is_file():
        raise ChatbotError(f"response table {path} not found",
                           hint="give respond.template.table a TSV or CSV file with the "
                           "columns intent, response")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    table: dict[str, list[str]] = {}
    for _, row in read_table(path, ("intent", "response"), delimiter):
        table.setdefault(row["intent"], []).append(row["response"])
    return table
