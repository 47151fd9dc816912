"""One reader per dataset format: a file in, :class:`Example` rows and sentences out.

Every reader takes ``skip_bad`` and a :class:`ReadReport`: a malformed row either raises a
DatasetError naming its file and line, or is skipped and recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from chatbot.data.corpus import Corpus, Example
from chatbot.data.readers import ReadReport, read_header, read_lines, read_table
from chatbot.errors import DatasetError

OOD_LABEL = "ood"
CHATBOTDATA_LABELS = {"0": "everyday", "1": "breakup", "2": "love"}
SPAM_LABELS = ("spam", "ham", "abuse")

Reader = Callable[[Path, bool, ReadReport], Corpus]


def _bad(report: ReadReport, skip_bad: bool, problem: str) -> None:
    if not skip_bad:
        raise DatasetError(problem, hint="fix the row, or pass --skip-bad to skip such rows")
    report.skipped.append(problem)


def read_chatbotdata(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    examples = []
    for line, row in read_table(path, ("Q", "A", "label"), ",", skip_bad, report):
        label = CHATBOTDATA_LABELS.get(row["label"])
        if label is None:
            _bad(report, skip_bad, f"{path}:{line}: label must be 0, 1 or 2, not {row['label']!r}")
            continue
        examples.append(Example(row["Q"], answer=row["A"], intent=label, source=f"{path}:{line}"))
    return Corpus(examples=examples)


def read_kochat_intent(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    examples = []
    for line, row in read_table(path, ("question", "label"), ",", skip_bad, report):
        label = row["label"].lower()
        examples.append(Example(row["question"], intent=label, source=f"{path}:{line}"))
    return Corpus(examples=examples)


def read_curse(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    """``text|label`` lines, no header; the text itself may contain ``|``."""
    examples = []
    for line, raw in read_lines(path):
        text, sep, label = raw.rpartition("|")
        if not sep or label.strip() not in ("0", "1") or not text.strip():
            _bad(report, skip_bad, f"{path}:{line}: expected TEXT|0 or TEXT|1")
            continue
        spam = "abuse" if label.strip() == "1" else "ham"
        examples.append(Example(text.strip(), spam=spam, source=f"{path}:{line}"))
    return Corpus(examples=examples)


def read_korsts(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    sentences: dict[str, None] = {}
    for _, row in read_table(path, ("sentence1", "sentence2"), "\t", skip_bad, report):
        sentences.setdefault(row["sentence1"], None)
        sentences.setdefault(row["sentence2"], None)
    return Corpus(sentences=list(sentences))


def read_nsmc(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    rows = read_table(path, ("id", "document", "label"), "\t", skip_bad, report)
    return Corpus(sentences=[row["document"] for _, row in rows])


def read_examples_table(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    """A user's CSV/TSV with a ``text`` (or ``question``) column and any of answer, intent,
    spam; or a ``sentence`` column for plain sentences."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    header = read_header(path, delimiter)
    text_column = next((c for c in ("text", "question", "sentence") if c in header), None)
    if text_column is None:
        raise DatasetError(
            f"{path}:1: no text column; the header must name one of text, question, sentence",
            hint="other columns it reads: answer, intent, spam (spam, ham or abuse)",
        )
    if text_column == "sentence":
        return Corpus(sentences=[r["sentence"] for _, r in
                                 read_table(path, ("sentence",), delimiter, skip_bad, report)])
    examples = []
    for line, row in read_table(path, (text_column,), delimiter, skip_bad, report):
        example = _example(row.get(text_column), row, f"{path}:{line}", report, skip_bad)
        if example:
            examples.append(example)
    return Corpus(examples=examples)


def read_examples_jsonl(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    """One JSON object per line with ``text`` and any of answer, intent, spam."""
    examples = []
    for line, raw in read_lines(path):
        source = f"{path}:{line}"
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as error:
            _bad(report, skip_bad, f"{source}: not valid JSON ({error.msg})")
            continue
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            _bad(report, skip_bad, f"{source}: not valid JSON ({error})")
            continue
        except RecursionError:  # json recurses once per level of nesting
            _bad(report, skip_bad, f"{source}: nested too deeply")
            continue
        if not isinstance(row, dict):
            _bad(report, skip_bad, f"{source}: expected a JSON object")
            continue
        example = _example(row.get("text"), row, source, report, skip_bad)
        if example:
            examples.append(example)
    return Corpus(examples=examples)


_JSON_TYPES = {dict: "an object", list: "an array", bool: "true or false", int: "a number",
               float: "a number"}


def _example(text, row: dict, source: str, report: ReadReport, skip_bad: bool) -> Example | None:
    if not isinstance(text, str) or not text.strip():
        _bad(report, skip_bad, f"{source}: the text is missing or empty")
        return None
    # A JSON Lines row may hold any JSON value; a table's cells are always strings.
    for key in ("answer", "intent", "spam"):
        if row.get(key) is not None and not isinstance(row[key], str):
            _bad(report, skip_bad, f"{source}: {key} must be a string, found "
                 f"{_JSON_TYPES.get(type(row[key]), type(row[key]).__name__)}")
            return None
    spam = (row.get("spam") or "").strip() or None
    if spam is not None and spam not in SPAM_LABELS:
        _bad(report, skip_bad, f"{source}: spam must be one of {', '.join(SPAM_LABELS)}")
        return None
    return Example(
        text.strip(),
        answer=(row.get("answer") or "").strip() or None,
        intent=(row.get("intent") or "").strip() or None,
        spam=spam,
        source=source,
    )


def read_text(path: Path, skip_bad: bool, report: ReadReport) -> Corpus:
    """Plain text, one sentence or paragraph a line (blank lines skipped): text to pretrain
    a generator on."""
    return Corpus(sentences=[text.strip() for _, text in read_lines(path) if text.strip()])


READERS: dict[str, Reader] = {
    "chatbotdata": read_chatbotdata,
    "kochat_intent": read_kochat_intent,
    "curse": read_curse,
    "korsts": read_korsts,
    "nsmc": read_nsmc,
    "examples_table": read_examples_table,
    "examples_jsonl": read_examples_jsonl,
    "text": read_text,
}


def guess_format(path: Path) -> str:
    """The reader for a file, from its extension and header line."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "examples_jsonl"
    if suffix in (".csv", ".tsv"):
        header = set(read_header(path, "\t" if suffix == ".tsv" else ","))
        if {"Q", "A", "label"} <= header:
            return "chatbotdata"
        if {"question", "label"} <= header:
            return "kochat_intent"
        if {"sentence1", "sentence2"} <= header:
            return "korsts"
        return "examples_table"
    if suffix == ".txt":
        first = next((text for _, text in read_lines(path)), "")
        if first.startswith("id\tdocument\tlabel"):
            return "nsmc"
        if "|" in first:
            return "curse"
        return "text"
    raise DatasetError(
        f"{path}: cannot tell its format",
        hint="use CSV/TSV with a header (text, answer, intent, spam), JSON Lines, or name the "
        f"format with --format ({', '.join(READERS)})",
    )
