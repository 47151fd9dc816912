"""Fuzzing the data layer's input surfaces: dataset files in every reader format, the dialog logs
``chatbot eval`` reads, the CSV export of the log store, and ``chatbot data add``'s NAME.

The properties: a reader returns what it read or raises the toolkit's documented error, never
anything else; well-formed rows read back exactly what was written, each named by the physical
line it starts on; a text survives the CSV export; no dataset name writes outside the data
directory. The number of examples comes from the profile (tests/conftest.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import tempfile
from datetime import timezone
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chatbot.cli.data import cmd_add
from chatbot.data.corpus import Corpus
from chatbot.data.datasets import data_dir
from chatbot.data.dialog_log import FIELDS, Turn, read_csv_with_source
from chatbot.data.formats import CHATBOTDATA_LABELS, READERS, guess_format
from chatbot.data.logstore import LogStore
from chatbot.data.readers import ReadReport
from chatbot.errors import ChatbotError, DatasetError
from chatbot.evaluation.logs import read_logs

pytestmark = pytest.mark.fuzz

# What str.splitlines, spreadsheets and CSV get wrong, drawn often beside arbitrary characters.
TRICKY = list("\u2028\u2029\x85\x1c\x1d\x1e\x0b\x0c\r\n\t\0,;|\"' =+-@\ufeff가힣ㅋ😊")
ANY_CHAR = st.characters(exclude_categories=())  # surrogates included
UTF8_CHAR = st.characters(exclude_categories=("Cs",))  # what a UTF-8 file can hold
ANY_TEXT = st.text(st.one_of(st.sampled_from(TRICKY), ANY_CHAR))
UTF8_TEXT = st.text(st.one_of(st.sampled_from(TRICKY), UTF8_CHAR))

# The file name and header line each format is read with.
FILES = {
    "chatbotdata": ("ChatbotData.csv", "Q,A,label"),
    "kochat_intent": ("intent.csv", "question,label"),
    "curse": ("curse.txt", ""),
    "korsts": ("sts.tsv", "genre\tsentence1\tsentence2"),
    "nsmc": ("ratings.txt", "id\tdocument\tlabel"),
    "examples_table": ("mine.csv", "text,answer,intent,spam"),
    "examples_jsonl": ("mine.jsonl", ""),
    "text": ("mine.txt", ""),
}


def _field(exclude: str = "") -> st.SearchStrategy[str]:
    """A non-empty cell as a reader returns it: stripped, no NUL, none of ``exclude``."""
    chars = st.one_of(st.sampled_from([c for c in TRICKY if c not in exclude + "\0"]),
                      st.characters(exclude_categories=("Cs",), exclude_characters=exclude + "\0"))
    return st.text(chars, min_size=1).map(str.strip).filter(bool)


def _optional(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), strategy)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8


def _lines_named(message: str, path: Path) -> list[int]:
    return [int(n) for n in re.findall(rf"{re.escape(str(path))}:(\d+)", message)]


# -- any file, any format: a Corpus or a DatasetError ----------------------------------------


@st.composite
def _any_body(draw: st.DrawFn, fmt: str) -> bytes:
    header = FILES[fmt][1]
    kind = draw(st.sampled_from(["bytes", "lines", "header+bytes"]))
    if kind == "bytes":
        return draw(st.binary())
    if kind == "header+bytes":
        return (header + "\n").encode() + draw(st.binary())
    ends = st.sampled_from(["\n", "\r\n", "\r", "\u2028", "\x85"])
    lines = draw(st.lists(st.one_of(ANY_TEXT, st.builds(
        lambda cells, sep: sep.join(cells), st.lists(ANY_TEXT, max_size=5),
        st.sampled_from([",", "\t", "|"])))))
    text = "".join(line + draw(ends) for line in ([header] if header else []) + lines)
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + _encode(text)


@given(data=st.data(), fmt=st.sampled_from(sorted(READERS)), skip_bad=st.booleans())
def test_any_file_reads_as_a_corpus_or_a_dataset_error(data, fmt, skip_bad):
    body = data.draw(_any_body(fmt))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILES[fmt][0]
        path.write_bytes(body)
        physical_lines = body.count(b"\n") + 1
        report = ReadReport()
        try:
            corpus = READERS[fmt](path, skip_bad, report)
        except DatasetError as error:
            assert str(path) in error.message and error.hint
            problems = [error.message]
        else:
            assert isinstance(corpus, Corpus)
            problems = report.skipped
        for problem in problems:
            assert all(1 <= n <= physical_lines for n in _lines_named(problem, path)), problem
        try:
            assert guess_format(path) in READERS
        except DatasetError as error:
            assert str(path) in error.message


# -- well-formed rows read back as written, named by their physical line ---------------------


def _csv_text(rows: list[list[str]], quote_all: bool, blank: list[bool]) -> tuple[str, list[int]]:
    """CSV text of rows, and the line each row starts on. QUOTE_MINIMAL needs "\\r\\n" line ends:
    only then does the csv module quote a lone "\\r" in a field."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                        lineterminator="\n" if quote_all else "\r\n")
    starts = []
    for row, blank_before in zip(rows, blank, strict=True):
        if blank_before:
            out.write("\n")
        starts.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    return out.getvalue(), starts


CSV_ROWS = {
    "chatbotdata": st.tuples(_field(), _field(), st.sampled_from(sorted(CHATBOTDATA_LABELS))),
    "kochat_intent": st.tuples(_field(), _field()),
    "examples_table": st.tuples(_field(), _optional(_field()), _optional(_field()),
                                st.sampled_from(["", "spam", "ham", "abuse"])),
}


def _expected_example(fmt: str, row: tuple[str, ...]) -> tuple:
    if fmt == "chatbotdata":
        return row[0], row[1], CHATBOTDATA_LABELS[row[2]], None
    if fmt == "kochat_intent":
        return row[0], None, row[1].lower(), None
    text, answer, intent, spam = row
    return text, answer or None, intent or None, spam or None


@given(data=st.data(), fmt=st.sampled_from(sorted(CSV_ROWS)), quote_all=st.booleans(),
       bom=st.booleans())
def test_csv_rows_read_back_as_written_on_their_physical_lines(data, fmt, quote_all, bom):
    rows = data.draw(st.lists(CSV_ROWS[fmt], max_size=8))
    blank = data.draw(st.lists(st.booleans(), min_size=len(rows) + 2, max_size=len(rows) + 2))
    header = FILES[fmt][1].split(",")
    bad = ["x"] * (len(header) + 1)  # one field too many
    text, starts = _csv_text([header, *map(list, rows), bad], quote_all, blank)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILES[fmt][0]
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
        report = ReadReport()
        corpus = READERS[fmt](path, True, report)
    read = [(e.text, e.answer, e.intent, e.spam, e.source) for e in corpus.examples]
    assert read == [(*_expected_example(fmt, row), f"{path}:{line}")
                    for row, line in zip(rows, starts[1:-1], strict=True)]
    assert report.skipped == [f"{path}:{starts[-1]}: expected {len(header)} fields "
                              f"({', '.join(header)}), found {len(bad)}"]


TSV_HEADERS = {"korsts": "genre\tsentence1\tsentence2", "nsmc": "id\tdocument\tlabel",
               "examples_table": "text\tanswer\tintent\tspam"}
TSV_ROWS = {
    "korsts": st.tuples(_optional(_field("\t\n")), _field("\t\n"), _field("\t\n")),
    "nsmc": st.tuples(_field("\t\n"), _field("\t\n"), _field("\t\n")),
    "examples_table": st.tuples(_field("\t\n"), _optional(_field("\t\n")),
                                _optional(_field("\t\n")),
                                st.sampled_from(["", "spam", "ham", "abuse"])),
}


@given(data=st.data(), fmt=st.sampled_from(sorted(TSV_ROWS)), crlf=st.booleans())
def test_tsv_rows_read_back_as_written_on_their_physical_lines(data, fmt, crlf):
    rows = data.draw(st.lists(TSV_ROWS[fmt], max_size=8))
    blank = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    end = "\r\n" if crlf else "\n"
    header = TSV_HEADERS[fmt]
    lines = [header]
    starts = []
    for row, blank_before in zip(rows, blank, strict=True):
        if blank_before:
            lines.append("")
        lines.append("\t".join(row))
        starts.append(len(lines))
    lines.append("\t".join(["x"] * (header.count("\t") + 2)))  # one field too many
    name = "mine.tsv" if fmt == "examples_table" else FILES[fmt][0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes("".join(line + end for line in lines).encode("utf-8"))
        report = ReadReport()
        corpus = READERS[fmt](path, True, report)
    if fmt == "korsts":
        assert corpus.sentences == list(dict.fromkeys(s for row in rows for s in row[1:]))
    elif fmt == "nsmc":
        assert corpus.sentences == [row[1] for row in rows]
    else:
        assert [(e.text, e.answer, e.intent, e.spam, e.source) for e in corpus.examples] == [
            (*_expected_example(fmt, row), f"{path}:{line}")
            for row, line in zip(rows, starts, strict=True)]
    assert len(report.skipped) == 1 and report.skipped[0].startswith(f"{path}:{len(lines)}: ")


@given(rows=st.lists(st.tuples(_field("\n"), st.sampled_from(["0", "1"])), max_size=8),
       crlf=st.booleans())
def test_curse_lines_read_back_as_written(rows, crlf):
    assume(not rows or not rows[0][0].startswith("\ufeff"))  # that would be a BOM
    end = "\r\n" if crlf else "\n"
    body = "".join(f"{text}|{label}{end}" for text, label in rows) + f"no label{end}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curse.txt"
        path.write_bytes(body.encode("utf-8"))
        report = ReadReport()
        corpus = READERS["curse"](path, True, report)
    assert [(e.text, e.spam, e.source) for e in corpus.examples] == [
        (text, "abuse" if label == "1" else "ham", f"{path}:{line}")
        for line, (text, label) in enumerate(rows, start=1)]
    assert report.skipped == [f"{path}:{len(rows) + 1}: expected TEXT|0 or TEXT|1"]


@given(rows=st.lists(st.tuples(_field(), _optional(_field()), _optional(_field()),
                               st.sampled_from(["", "spam", "ham", "abuse"])), max_size=8),
       ascii_only=st.booleans())
def test_jsonl_examples_read_back_as_written(rows, ascii_only):
    lines = [json.dumps({"text": t, "answer": a or None, "intent": i or None, "spam": s or None},
                        ensure_ascii=ascii_only) for t, a, i, s in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mine.jsonl"
        path.write_bytes("".join(line + "\n" for line in [*lines, "{not json"]).encode("utf-8"))
        report = ReadReport()
        corpus = READERS["examples_jsonl"](path, True, report)
    assert [(e.text, e.answer, e.intent, e.spam, e.source) for e in corpus.examples] == [
        (*_expected_example("examples_table", row), f"{path}:{line}")
        for line, row in enumerate(rows, start=1)]
    assert len(report.skipped) == 1 and report.skipped[0].startswith(f"{path}:{len(rows) + 1}: ")


# -- the dialog logs chatbot eval reads ------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
TIMESTAMPS = st.one_of(st.sampled_from(["2026-11-21T13:22:33.123456+00:00", "2026-11-21T13:22Z",
                                        "2026-11-21T13:22:33+09:00", "어제"]), ANY_TEXT)
TURN_LIKE = st.fixed_dictionaries(
    {"conversation_id": st.one_of(ANY_TEXT, JSON_VALUES),
     "turn_index": st.one_of(st.integers(-2, 5), JSON_VALUES),
     "timestamp": st.one_of(TIMESTAMPS, JSON_VALUES),
     "user_text": st.one_of(ANY_TEXT, JSON_VALUES)},
    optional={name: JSON_VALUES for name in (*FIELDS[4:], "schema", "unknown")},
)
# Nesting past the interpreter's recursion limit, and numbers past int()'s 4300 digits.
NESTED = st.one_of(st.integers(1, 5000), st.sampled_from([1_000, 3_000, 100_000])).map(
    lambda depth: '{"a":' * depth)
BIG_NUMBERS = st.integers(4000, 6000).map(lambda digits: '{"turn_index": 1' + "0" * digits + "}")


@st.composite
def _dialog_log(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".jsonl", ".csv", ".tsv", ".sqlite"]))
    kind = draw(st.sampled_from(["bytes", "records"]))
    if kind == "bytes" or suffix == ".sqlite":
        return suffix, draw(st.binary())
    if suffix == ".jsonl":
        records = st.builds(lambda obj, ascii_only: json.dumps(obj, ensure_ascii=ascii_only),
                            TURN_LIKE, st.booleans())
        lines = draw(st.lists(st.one_of(records, NESTED, BIG_NUMBERS, ANY_TEXT), max_size=5))
        return suffix, _encode("".join(line + "\n" for line in lines))
    header = draw(st.lists(st.sampled_from([*FIELDS, "text", "Q", "A", "label", "other"]),
                           min_size=1, max_size=len(FIELDS), unique=True))
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if suffix == ".tsv" else ",")
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 4))):
        writer.writerow(draw(st.lists(ANY_TEXT, min_size=len(header) - 1,
                                      max_size=len(header) + 1)))
    return suffix, _encode(out.getvalue())


@given(log=_dialog_log())
def test_any_dialog_log_reads_as_turns_or_a_toolkit_error(log):
    suffix, body = log
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        path.write_bytes(body)
        try:
            turns = read_logs([path])
        except ChatbotError as error:  # DatasetError is one
            assert str(path) in error.message
        else:
            assert all(isinstance(turn.text, str) for turn in turns)


SOME_TEXT = st.text(st.one_of(st.sampled_from(TRICKY), UTF8_CHAR))
SOME_WORDS = st.none() | SOME_TEXT.filter(bool)  # "" is written as an empty cell: null
TURNS = st.builds(
    Turn,
    conversation_id=SOME_TEXT.filter(bool),
    turn_index=st.integers(0, 3),
    timestamp=st.datetimes(timezones=st.just(timezone.utc)).map(lambda t: t.isoformat()),
    user_text=SOME_TEXT,
    bot_reply=SOME_WORDS,
    gold_intent=SOME_WORDS,
    gold_reply=SOME_WORDS,
    gold_spam=st.sampled_from([None, "spam", "ham"]),
    feedback=st.sampled_from([None, 1, -1]),
    model_version=SOME_WORDS,
    latency_ms=st.none() | st.floats(0, 1e9),
    trace=st.none() | st.dictionaries(SOME_TEXT, st.none() | st.integers() | SOME_TEXT,
                                      max_size=3),
)


@given(turns=st.lists(TURNS, max_size=5, unique_by=lambda t: (t.conversation_id, t.turn_index)))
def test_any_text_round_trips_through_the_csv_export(turns):
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "log.csv"
        with LogStore(Path(tmp) / "log.sqlite") as store:
            for turn in turns:
                store.append(turn)
            store.export_csv(export)
            stored = store.turns()
        assert [turn for _, turn in read_csv_with_source(export)] == stored
        with open(export, encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):  # and no cell is a formula to a spreadsheet
                assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r"))
                               for name, cell in row.items() if name != "feedback")


# -- chatbot data add NAME -------------------------------------------------------------------

NAMES = st.one_of(
    st.text(ANY_CHAR),
    st.text(st.sampled_from(list("./\\-_ ~\0\t\n가a1")), max_size=12),
    st.sampled_from(["..", ".", "../escape", "../../escape", "/tmp/x", "~", "demo", "nsmc",
                     "내-데이터", "a" * 64, "a" * 65, "𝐀" * 64]),
)


def _tree(root: Path, skip: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p != skip and skip not in p.parents)


@given(name=NAMES)
def test_data_add_writes_only_inside_the_data_directory(name, monkeypatch, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "outer" / "data"
        data.mkdir(parents=True)
        source = root / "source" / "mine.csv"
        source.parent.mkdir()
        source.write_text("text,intent\n배송 언제 와요,delivery\n", encoding="utf-8")
        monkeypatch.setenv("CHATBOT_DATA_DIR", str(data))
        assert data_dir() == data
        before = _tree(root, data)
        try:
            added = cmd_add(argparse.Namespace(name=name, path=source, format=None)) == 0
        except ChatbotError:
            added = False
        capsys.readouterr()
        assert _tree(root, data) == before
        if added:
            assert [p.name for p in data.iterdir()] == [name]
            assert (data / name / "mine.csv").is_file()
        else:
            assert not any(data.iterdir())
