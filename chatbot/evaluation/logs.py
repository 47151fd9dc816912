"""What ``chatbot eval`` reads: dialog logs (JSON Lines, CSV, SQLite) or any CSV/TSV of
messages with gold labels, mapped by column.

Every input becomes a list of :class:`EvalTurn`: the user's text, whatever gold labels the file
has, and what the log recorded (the reply then given, its latency, the user's feedback). A bad
row raises :class:`~chatbot.errors.DatasetError` naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chatbot.data.dialog_log import Turn, read_csv_with_source, read_jsonl_with_source
from chatbot.data.formats import CHATBOTDATA_LABELS
from chatbot.data.logstore import read_sqlite_with_source
from chatbot.data.readers import read_header, read_table
from chatbot.errors import ChatbotError, DatasetError
from chatbot.message import MAX_HISTORY, Exchange

# What --columns may map: the evaluation's name = the file's column.
COLUMN_KEYS = ("text", "gold_reply", "gold_intent", "gold_spam")
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
SPAM_VALUES = {"spam": "spam", "abuse": "spam", "1": "spam", "true": "spam", "yes": "spam",
               "ham": "ham", "0": "ham", "false": "ham", "no": "ham"}
# The column names of `chatbot data add`'s CSV format (text, answer, intent, spam).
_TRAINING_NAMES = {"gold_reply": "answer", "gold_intent": "intent", "gold_spam": "spam"}
_DIALOG_LOG_COLUMNS = {"conversation_id", "turn_index", "timestamp", "user_text"}
# Headers recognised without --columns, tried in order.
_KNOWN_MAPPINGS = (
    ({"Q", "A", "label"}, {"text": "Q", "gold_reply": "A", "gold_intent": "label"}),
    ({"question", "label"}, {"text": "question", "gold_intent": "label"}),
)


@dataclass
class EvalTurn:
    """One message to evaluate, its gold labels, and what the log recorded about it.

    Attributes:
        source: where it came from ("file:line", or "file[conversation#turn]" for SQLite).
        text: the user's message.
        gold_intent, gold_reply: the correct intent and a correct reply, when known.
        gold_spam: "spam" or "ham", when known.
        conversation_id, turn_index: its place in a logged conversation.
        logged_reply, logged_latency_ms, feedback, model_version: what the log recorded.
    """

    source: str
    text: str
    gold_intent: str | None = None
    gold_reply: str | None = None
    gold_spam: str | None = None
    conversation_id: str | None = None
    turn_index: int | None = None
    logged_reply: str | None = None
    logged_latency_ms: float | None = None
    feedback: int | None = None
    model_version: str | None = None

    @classmethod
    def from_turn(cls, source: str, turn: Turn) -> EvalTurn:
        return cls(source, turn.user_text, turn.gold_intent, turn.gold_reply, turn.gold_spam,
                   turn.conversation_id, turn.turn_index, turn.bot_reply, turn.latency_ms,
                   turn.feedback, turn.model_version)


def parse_columns(spec: str | None) -> dict[str, str] | None:
    """``"text=Q,gold_reply=A,gold_intent=label"`` as a mapping; None stays None.

    Raises:
        ChatbotError: an entry is not KEY=COLUMN, or KEY is not one the evaluation reads.
    """
    if not spec:
        return None
    mapping: dict[str, str] = {}
    for entry in spec.split(","):
        key, sep, column = (part.strip() for part in entry.partition("="))
        if not sep or not key or not column:
            raise ChatbotError(f"--columns: {entry!r} is not KEY=COLUMN",
                               hint="e.g. --columns text=Q,gold_reply=A,gold_intent=label")
        if key not in COLUMN_KEYS:
            raise ChatbotError(f"--columns: unknown key {key!r}",
                               hint=f"the keys are {', '.join(COLUMN_KEYS)}")
        mapping[key] = column
    if "text" not in mapping:
        raise ChatbotError("--columns must map text (the user's message), e.g. text=Q")
    return mapping


def read_logs(paths: list[Path], columns: dict[str, str] | None = None) -> list[EvalTurn]:
    """Every turn of every file, in order.

    Args:
        paths: dialog logs (.jsonl, .csv, .sqlite/.db) or CSV/TSV files of messages.
        columns: for CSV/TSV that is not a dialog log: which column holds the text and each
            gold label. Without it, ChatbotData (Q, A, label), intent files (question, label)
            and files with the evaluation's own column names are recognised.
    """
    turns: list[EvalTurn] = []
    for path in paths:
        if not path.is_file():
            raise DatasetError(f"{path}: no such file",
                               hint="LOGS are dialog-log files (.jsonl, .csv, .sqlite) or CSV/TSV")
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            turns += [EvalTurn.from_turn(s, t) for s, t in read_jsonl_with_source(path)]
        elif suffix in SQLITE_SUFFIXES:
            turns += _read_sqlite(path)
        elif suffix in (".csv", ".tsv"):
            turns += _read_table(path, columns)
        else:
            raise DatasetError(
                f"{path}: cannot tell its format from the extension {suffix or '(none)'}",
                hint="use .jsonl (dialog log), .sqlite/.db (chatbot serve's log) or .csv/.tsv")
    return turns


def conversation_histories(turns: list[EvalTurn]) -> list[list[Exchange]]:
    """What came before each turn in its logged conversation: the earlier turns' messages and
    the replies the log recorded (what the user saw, and answered), oldest first, at most
    MAX_HISTORY. A turn outside a conversation (no conversation_id or turn_index) has none."""
    by_conversation: dict[str, list[EvalTurn]] = {}
    for turn in turns:
        if turn.conversation_id is not None and turn.turn_index is not None:
            by_conversation.setdefault(turn.conversation_id, []).append(turn)
    before: dict[int, list[Exchange]] = {}
    for conversation in by_conversation.values():
        conversation.sort(key=lambda turn: turn.turn_index)
        for position, turn in enumerate(conversation):
            before[id(turn)] = [Exchange(t.text, t.logged_reply or "")
                                for t in conversation[max(0, position - MAX_HISTORY):position]]
    return [before.get(id(turn), []) for turn in turns]


def _read_sqlite(path: Path) -> list[EvalTurn]:
    # Read-only: evaluating a log must never change it (LogStore would create and migrate).
    return [EvalTurn.from_turn(source, turn) for source, turn in read_sqlite_with_source(path)]


def _read_table(path: Path, columns: dict[str, str] | None) -> list[EvalTurn]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = read_header(path, delimiter)
    if columns is None and _DIALOG_LOG_COLUMNS <= set(header):
        return [EvalTurn.from_turn(s, t) for s, t in read_csv_with_source(path)]
    mapping = columns or _guess_mapping(path, header)
    missing = [column for column in mapping.values() if column not in header]
    if missing:
        raise DatasetError(f"{path}:1: no column(s) {missing} in the header {header}",
                           hint="name the file's columns with --columns KEY=COLUMN,...")
    # ChatbotData numbers its labels; a model trained on it knows them by name.
    numbered = set(header) >= {"Q", "A", "label"} and mapping.get("gold_intent") == "label"
    turns = []
    for line, row in read_table(path, (mapping["text"],), delimiter):
        source = f"{path}:{line}"
        values = {key: row.get(column) or None for key, column in mapping.items()}
        intent = values.get("gold_intent")
        if numbered and intent is not None:
            intent = CHATBOTDATA_LABELS.get(intent, intent)
        turns.append(EvalTurn(source, values["text"], gold_intent=intent,
                              gold_reply=values.get("gold_reply"),
                              gold_spam=_spam_label(values.get("gold_spam"), source)))
    return turns


def _guess_mapping(path: Path, header: list[str]) -> dict[str, str]:
    for needed, mapping in _KNOWN_MAPPINGS:
        if needed <= set(header):
            return mapping
    if "text" in header:  # the evaluation's own names, or the training format's
        mapping = {}
        for key in COLUMN_KEYS:
            for column in (key, _TRAINING_NAMES.get(key)):
                if column in header:
                    mapping.setdefault(key, column)
        return mapping
    raise DatasetError(
        f"{path}:1: cannot tell which column is the message (header: {header})",
        hint="map the columns, e.g. --columns text=Q,gold_reply=A,gold_intent=label")


def _spam_label(value: str | None, source: str) -> str | None:
    if value is None:
        return None
    label = SPAM_VALUES.get(value.strip().lower())
    if label is None:
        raise DatasetError(f"{source}: gold_spam {value!r} is not spam or ham",
                           hint=f"use one of {', '.join(SPAM_VALUES)}")
    return label
