"""The dialog log: one :class:`Turn` per answered message, as JSON Lines or CSV.

A turn records what the user wrote, what the bot answered, the gold labels a reviewer added, the
user's feedback and the pipeline's JSON trace (:meth:`chatbot.message.Message.to_dict`). The JSON
form (:meth:`Turn.to_json`) is a stable interface, documented in ``docs/dialog-log.md``; the
SQLite store (:mod:`chatbot.data.logstore`) holds the same records.

Readers survive a UTF-8 BOM, CRLF line ends and blank lines. Anything malformed raises
:class:`~chatbot.errors.DatasetError` naming the file, the line and the field.

The CSV form is made for spreadsheets, which run a cell that starts with "=", "+", "-", "@", a
tab or a carriage return as a formula: :func:`spreadsheet_safe` quotes such a text, and the CSV
reader undoes exactly that, so a text reads back as it was written.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from chatbot.data.readers import csv_records, text_lines
from chatbot.errors import DatasetError

logger = logging.getLogger(__name__)

# Version of the JSON record; written as "schema" in every line. Bump it when a key changes
# meaning or a required key is added, and teach Turn.from_json to read the older versions.
SCHEMA_VERSION = 1

# Every field of a turn, in the order of the JSON keys and the CSV columns.
FIELDS = (
    "conversation_id",
    "turn_index",
    "timestamp",
    "user_text",
    "bot_reply",
    "gold_intent",
    "gold_reply",
    "gold_spam",
    "feedback",
    "model_version",
    "latency_ms",
    "trace",
)
REQUIRED_FIELDS = ("conversation_id", "turn_index", "timestamp", "user_text")
OPTIONAL_TEXT_FIELDS = ("bot_reply", "gold_intent", "gold_reply", "gold_spam", "model_version")
SPAM_LABELS = ("spam", "ham")
FEEDBACK_VALUES = (1, -1)
# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_SCHEMA_HINT = "see docs/dialog-log.md for every key of a dialog-log record and its type"


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp, the form :attr:`Turn.timestamp` takes."""
    return datetime.now(timezone.utc).isoformat()


@dataclass
class Turn:
    """One message of a conversation and the bot's answer to it.

    Attributes:
        conversation_id: identifies the conversation (a session id, a chat room...).
        turn_index: position of the turn in its conversation, from 0.
        timestamp: when the message arrived, ISO 8601 in UTC
            ("2026-11-21T13:22:33.123456+00:00"; a trailing "Z" is accepted).
        user_text: the user's message as received.
        bot_reply: what the bot answered; None if it did not answer.
        gold_intent: the correct intent, when a reviewer labelled the turn.
        gold_reply: a correct reply, when a reviewer wrote one.
        gold_spam: "spam" or "ham", when a reviewer labelled the turn.
        feedback: the user's feedback: +1 (like), -1 (dislike) or None (none given).
        model_version: which trained pipeline answered (a directory name, a hash...).
        latency_ms: how long answering took, in milliseconds.
        trace: the turn's JSON trace, :meth:`chatbot.message.Message.to_dict`.
    """

    conversation_id: str
    turn_index: int
    timestamp: str
    user_text: str
    bot_reply: str | None = None
    gold_intent: str | None = None
    gold_reply: str | None = None
    gold_spam: str | None = None
    feedback: int | None = None
    model_version: str | None = None
    latency_ms: float | None = None
    trace: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form: ``"schema"`` first, then every field under its own name."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION}
        for name in FIELDS:
            out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, obj: Any, source: str = "<json>") -> Turn:
        """Build a turn from its JSON form, checking every key and type.

        A missing optional key reads as null; a missing ``"schema"`` reads as the current one.

        Args:
            obj: the decoded JSON object.
            source: where it came from ("file:line"), named in error messages.

        Raises:
            DatasetError: the object is not a turn; the message names the source and the field.
        """
        if not isinstance(obj, dict):
            raise DatasetError(
                f"{source}: a dialog-log record must be a JSON object, found "
                f"{type(obj).__name__}",
                hint=_SCHEMA_HINT,
            )
        schema = obj.get("schema", SCHEMA_VERSION)
        if not _is_int(schema):
            raise _field_error(source, "schema", "must be an integer", schema)
        if schema > SCHEMA_VERSION:
            raise DatasetError(
                f"{source}: record schema {schema} is newer than this toolkit's "
                f"({SCHEMA_VERSION})",
                hint="upgrade the toolkit to read this log",
            )
        unknown = [key for key in obj if key != "schema" and key not in FIELDS]
        if unknown:
            raise DatasetError(
                f"{source}: unknown key(s) {unknown} in a dialog-log record",
                hint=f"the keys are: schema, {', '.join(FIELDS)}",
            )
        missing = [name for name in REQUIRED_FIELDS if name not in obj]
        if missing:
            raise DatasetError(f"{source}: missing required key(s) {missing}", hint=_SCHEMA_HINT)
        values = {name: obj.get(name) for name in FIELDS}
        _check_fields(values, source)
        if values["latency_ms"] is not None:
            values["latency_ms"] = float(values["latency_ms"])  # JSON may hold an integer
        return cls(**values)


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python, but `true` is no turn index.
    return isinstance(value, int) and not isinstance(value, bool)


def _field_error(source: str, name: str, expected: str, value: Any) -> DatasetError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DatasetError(f"{source}: field {name!r} {expected}, got {shown}", hint=_SCHEMA_HINT)


def _check_fields(values: dict[str, Any], source: str) -> None:
    """Raise DatasetError naming ``source`` and the field for the first ill-typed value."""
    for name in ("conversation_id", "timestamp", "user_text"):
        if not isinstance(values[name], str):
            raise _field_error(source, name, "must be a string", values[name])
    if not values["conversation_id"]:
        raise _field_error(source, "conversation_id", "must not be empty", "")
    if not _is_int(values["turn_index"]) or values["turn_index"] < 0:
        raise _field_error(source, "turn_index", "must be an integer ≥ 0", values["turn_index"])
    _check_timestamp(values["timestamp"], source)
    for name in OPTIONAL_TEXT_FIELDS:
        if values[name] is not None and not isinstance(values[name], str):
            raise _field_error(source, name, "must be a string or null", values[name])
    spam = values["gold_spam"]
    if spam is not None and spam not in SPAM_LABELS:
        raise _field_error(source, "gold_spam", 'must be "spam", "ham" or null', spam)
    feedback = values["feedback"]
    if feedback is not None and not (_is_int(feedback) and feedback in FEEDBACK_VALUES):
        raise _field_error(source, "feedback", "must be 1 (like), -1 (dislike) or null", feedback)
    latency = values["latency_ms"]
    if latency is not None and not (
        isinstance(latency, (int, float))
        and not isinstance(latency, bool)
        and math.isfinite(latency)
        and latency >= 0
    ):
        raise _field_error(source, "latency_ms", "must be a number ≥ 0 or null", latency)
    trace = values["trace"]
    if trace is not None and not isinstance(trace, dict):
        raise _field_error(source, "trace", "must be a JSON object or null", trace)


def _check_timestamp(text: str, source: str) -> None:
    # Python 3.10's fromisoformat does not read a trailing "Z".
    candidate = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise _field_error(source, "timestamp", "must be an ISO 8601 time", text) from None
    # UTC only: the store orders and filters timestamps as text, which is right only when every
    # timestamp has the same offset.
    if moment.utcoffset() != timedelta(0):
        raise _field_error(source, "timestamp", "must be in UTC (end in +00:00 or Z)", text)


# --- files --------------------------------------------------------------------------------------


class _AtomicTextFile:
    """A text file written under a temporary name and renamed into place when complete.

    A reader never sees half an export, and a failed export leaves the old file untouched.
    """

    def __init__(self, path: Path, encoding: str, newline: str) -> None:
        self.path = path
        self.encoding = encoding
        self.newline = newline

    def __enter__(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, self.temp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        self.file = open(handle, "w", encoding=self.encoding, newline=self.newline)
        return self.file

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.temp_name, self.path)
        else:
            os.unlink(self.temp_name)


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it and never runs: quoted when it could be a formula.

    A cell that starts with one of :data:`FORMULA_TRIGGERS` gets a leading single quote, as
    OWASP recommends; so that :func:`spreadsheet_unescape` can undo it exactly, so does a cell
    that starts with single quotes followed by one of them ("'=x" is written "''=x").
    """
    return "'" + cell if cell.lstrip("'").startswith(FORMULA_TRIGGERS) else cell


def spreadsheet_unescape(cell: str) -> str:
    """Undo :func:`spreadsheet_safe`: drop the one quote it added, and nothing else."""
    if cell.startswith("'") and cell[1:].lstrip("'").startswith(FORMULA_TRIGGERS):
        return cell[1:]
    return cell


def read_jsonl_with_source(path: str | Path) -> Iterator[tuple[str, Turn]]:
    """Like :func:`read_jsonl`, yielding ``("file:line", turn)`` pairs."""
    path = Path(path)
    # Split on "\n" only: str.splitlines would also split on U+2028 and U+0085, which
    # json.dumps(ensure_ascii=False) leaves raw inside strings.
    for line_number, raw in text_lines(path):
        source = f"{path}:{line_number}"
        line = raw.strip()  # strip() also drops the \r of CRLF
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(
                f"{source}: invalid JSON ({error.msg} at column {error.colno})",
                hint="each line of a JSON Lines file must be one complete JSON object",
            ) from None
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            raise DatasetError(f"{source}: invalid JSON ({error})", hint=_SCHEMA_HINT) from None
        except RecursionError:  # json recurses once per level of nesting
            raise DatasetError(f"{source}: nested too deeply",
                               hint="a dialog-log record nests a few levels at most; "
                               + _SCHEMA_HINT) from None
        yield source, Turn.from_json(obj, source)


def read_jsonl(path: str | Path) -> Iterator[Turn]:
    """The turns of a JSON Lines file, one object per line, read lazily.

    Raises:
        DatasetError: a line is not UTF-8, not JSON or not a turn; the message names file:line.
    """
    for _, turn in read_jsonl_with_source(path):
        yield turn


def write_jsonl(turns: Iterable[Turn], path: str | Path) -> int:
    """Write turns as JSON Lines (UTF-8, "\\n" line ends); return how many were written.

    The file is written under a temporary name and renamed when complete.
    """
    count = 0
    with _AtomicTextFile(Path(path), encoding="utf-8", newline="\n") as out:
        for turn in turns:
            # ensure_ascii=False keeps Korean readable in the file; allow_nan=False keeps it JSON.
            out.write(json.dumps(turn.to_json(), ensure_ascii=False, allow_nan=False) + "\n")
            count += 1
    return count


def write_csv(turns: Iterable[Turn], path: str | Path) -> int:
    """Write turns as CSV, one column per field; return how many were written.

    Null is an empty cell, ``trace`` a JSON string. The file is UTF-8 with a BOM, so that
    spreadsheet programs show Korean text correctly; text with commas, quotes and line breaks is
    quoted as RFC 4180 says. A text a spreadsheet would run as a formula ("=HYPERLINK(...)",
    "-_-", "@you") starts with an added single quote (:func:`spreadsheet_safe`), which
    :func:`read_csv` removes. Note: an empty string in an optional text field (``bot_reply``...)
    reads back as null.
    """
    count = 0
    with _AtomicTextFile(Path(path), encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for turn in turns:
            writer.writerow([_csv_cell(name, getattr(turn, name)) for name in FIELDS])
            count += 1
    return count


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "trace":
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    if isinstance(value, str):
        return spreadsheet_safe(value)
    # repr of a float reads back as the same float; numbers are never quoted, a spreadsheet
    # reads "-1" as the number it is.
    return repr(value) if isinstance(value, float) else str(value)


def read_csv_with_source(path: str | Path) -> Iterator[tuple[str, Turn]]:
    """Like :func:`read_csv`, yielding ``("file:line", turn)`` pairs."""
    path = Path(path)
    header: list[str] | None = None
    # A quoted field may span lines: a record is named by the line it starts on. NUL is allowed:
    # write_csv writes a text as it is, and a turn may hold one.
    for line_number, row in csv_records(path, allow_nul=True):
        source = f"{path}:{line_number}"
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            _check_csv_header(header, source)
            continue
        if len(row) != len(header):
            raise DatasetError(
                f"{source}: expected {len(header)} fields, found {len(row)}",
                hint="quote a text that contains commas, quotes or line breaks",
            )
        obj = {
            name: _parse_cell(name, cell, source) for name, cell in zip(header, row, strict=True)
        }
        yield source, Turn.from_json(obj, source)


def read_csv(path: str | Path) -> Iterator[Turn]:
    """The turns of a CSV file written by :func:`write_csv` (or by hand with the same header).

    The header must name the required columns (``conversation_id``, ``turn_index``,
    ``timestamp``, ``user_text``); a missing optional column reads as null. A text cell that
    starts with a single quote followed by a formula character (see :func:`spreadsheet_safe`)
    loses that one quote.

    Raises:
        DatasetError: a row is malformed; the message names file:line and the field.
    """
    for _, turn in read_csv_with_source(path):
        yield turn


def _check_csv_header(header: list[str], source: str) -> None:
    unknown = [name for name in header if name not in FIELDS]
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or duplicated:
        problems = []
        if missing:
            problems.append(f"lacks the column(s) {missing}")
        if unknown:
            problems.append(f"has unknown column(s) {unknown}")
        if duplicated:
            problems.append(f"repeats the column(s) {duplicated}")
        raise DatasetError(
            f"{source}: the header {' and '.join(problems)}",
            hint=f"the columns are: {','.join(FIELDS)}",
        )


def _parse_cell(name: str, cell: str, source: str) -> Any:
    """A CSV cell as the JSON value of its field; Turn.from_json then checks it."""
    if name in ("conversation_id", "timestamp", "user_text"):
        return spreadsheet_unescape(cell)  # text is kept exactly, spaces included
    if name in OPTIONAL_TEXT_FIELDS:
        return spreadsheet_unescape(cell) if cell else None
    value = cell.strip()
    if not value:
        return None
    try:
        if name in ("turn_index", "feedback"):
            return int(value)
        if name == "latency_ms":
            return float(value)
        return json.loads(value)  # trace
    except (ValueError, RecursionError):  # json.JSONDecodeError is a ValueError
        expected = {
            "turn_index": "must be an integer",
            "feedback": "must be 1, -1 or empty",
            "latency_ms": "must be a number or empty",
            "trace": "must be a JSON object or empty",
        }[name]
        raise _field_error(source, name, expected, cell) from None
