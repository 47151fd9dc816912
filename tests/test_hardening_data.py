"""Regression tests for the data layer's hardening: encodings and binary files, line splitting,
dataset names, read-only dialog logs, deep nesting and long lines, spreadsheet formulas, and a
DatasetError for every malformed row."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from chatbot.cli import main
from chatbot.data.datasets import check_dataset_name, load_dataset
from chatbot.data.dialog_log import (
    Turn,
    read_csv_with_source,
    spreadsheet_safe,
    spreadsheet_unescape,
    utc_now,
    write_jsonl,
)
from chatbot.data.formats import READERS, guess_format
from chatbot.data.logstore import LogStore
from chatbot.data.readers import MAX_LINE_BYTES, ReadReport, read_table
from chatbot.errors import DatasetError
from chatbot.evaluation.logs import read_logs
from chatbot.evaluation.records import LABEL_COLUMNS, write_label_csv

# One small valid file per reader format: (file name, header line or "", one good row).
GOOD_ROWS = {
    "chatbotdata": ("ChatbotData.csv", "Q,A,label\n", "안녕,반가워요,0\n"),
    "kochat_intent": ("intent.csv", "question,label\n", "날씨 어때,weather\n"),
    "curse": ("curse.txt", "", "나쁜 말 아님|0\n"),
    "korsts": ("sts.tsv", "genre\tsentence1\tsentence2\n", "news\t가는 말.\t오는 말.\n"),
    "nsmc": ("ratings.txt", "id\tdocument\tlabel\n", "1\t재밌어요\t1\n"),
    "examples_table": ("mine.csv", "text,intent\n", "배송 언제 와요,delivery\n"),
    "examples_jsonl": ("mine.jsonl", "", '{"text": "환불 돼요?", "intent": "refund"}\n'),
    "text": ("mine.txt", "", "오늘은 날씨가 맑고 바람이 시원했다.\n"),
}


def _write(tmp_path: Path, fmt: str, body: bytes) -> Path:
    name, header, _ = GOOD_ROWS[fmt]
    path = tmp_path / name
    path.write_bytes(header.encode("utf-8") + body)
    return path


def _read(path: Path, fmt: str, skip_bad: bool = False, report: ReadReport | None = None):
    return READERS[fmt](path, skip_bad, report if report is not None else ReadReport())


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for a folder)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


# -- 1. files that are not UTF-8 text --------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_every_format_names_the_line_of_a_cp949_file(tmp_path, fmt):
    _, _, good = GOOD_ROWS[fmt]
    path = _write(tmp_path, fmt, good.encode("utf-8") + good.encode("cp949"))
    line = 3 if GOOD_ROWS[fmt][1] else 2
    with pytest.raises(DatasetError, match=rf"{path}:{line}: not UTF-8 text") as caught:
        _read(path, fmt, skip_bad=True)
    assert "iconv -f cp949 -t utf-8" in caught.value.hint


def test_validate_and_add_report_a_cp949_csv_instead_of_crashing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "windows.csv"
    path.write_bytes("text,intent\n배송 언제 와요,delivery\n".encode("cp949"))
    assert main(["data", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2: not UTF-8 text" in out and "iconv -f cp949 -t utf-8" in out
    assert main(["data", "add", "windows", str(path)]) == 2
    assert f"{path}:2: not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "data" / "windows").exists()


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_every_format_refuses_binary_data_instead_of_reading_rows(tmp_path, fmt):
    _, _, good = GOOD_ROWS[fmt]
    path = _write(tmp_path, fmt, (good + good[:2] + "\0" + good[2:]).encode("utf-8"))
    line = 3 if GOOD_ROWS[fmt][1] else 2
    with pytest.raises(DatasetError, match=rf"{path}:{line}: binary data \(a NUL byte\)"):
        _read(path, fmt, skip_bad=True)


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "excel.csv"  # what a spreadsheet's "Unicode text" export writes
    path.write_bytes("text,intent\n안녕,greeting\n".encode("utf-16"))
    with pytest.raises(DatasetError, match=rf"{path}:1: UTF-16 text") as caught:
        guess_format(path)
    assert "iconv -f utf-16" in caught.value.hint


# -- 2. lines split on "\n" only, numbered as the file's physical lines ----------------------

SEPARATORS = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c"]


@pytest.mark.parametrize("separator", SEPARATORS, ids=[hex(ord(s)) for s in SEPARATORS])
def test_a_separator_inside_a_tsv_field_does_not_split_the_row(tmp_path, separator):
    path = tmp_path / "mine.tsv"
    path.write_text(f"text\tspam\n광고{separator}문자\tspam\n안녕\tham\n", encoding="utf-8")
    assert list(read_table(path, ("text", "spam"))) == [
        (2, {"text": f"광고{separator}문자", "spam": "spam"}),
        (3, {"text": "안녕", "spam": "ham"}),
    ]


@pytest.mark.parametrize("separator", SEPARATORS, ids=[hex(ord(s)) for s in SEPARATORS])
def test_a_separator_inside_a_line_of_text_does_not_split_it(tmp_path, separator):
    curse = tmp_path / "curse.txt"
    curse.write_text(f"나쁜{separator}말|1\n좋은 말|0\n", encoding="utf-8")
    corpus = _read(curse, "curse")
    assert [(e.text, e.source) for e in corpus.examples] == [
        (f"나쁜{separator}말", f"{curse}:1"), ("좋은 말", f"{curse}:2")]
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text(json.dumps({"text": f"둘{separator}셋"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    assert [e.text for e in _read(jsonl, "examples_jsonl").examples] == [f"둘{separator}셋"]


def test_quoted_line_breaks_are_kept_and_lines_are_physical(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes('text,intent\r\n"첫 줄\r\n둘째 줄\n셋째 줄",greet\r\n잘 가,bye\r\n'
                     "하나,둘,셋\r\n".encode())
    report = ReadReport()
    corpus = _read(path, "examples_table", skip_bad=True, report=report)
    assert [(e.text, e.source) for e in corpus.examples] == [
        ("첫 줄\r\n둘째 줄\n셋째 줄", f"{path}:2"), ("잘 가", f"{path}:5")]
    assert report.skipped == [f"{path}:6: expected 2 fields (text, intent), found 3"]


def test_an_unclosed_quote_is_named_where_it_opens(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text('text,intent\n안녕,greet\n"끝나지 않은,bye\n잘 가,bye\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:3: a quoted field .* never closed"):
        _read(path, "examples_table")


# -- 3. dataset names stay inside the data directory -----------------------------------------

BAD_NAMES = ["../../escape", "../escape", "a/b", "a\\b", ".", "..", ".hidden", "", "x" * 65,
             "a..b", "-flag", "sp ace", "tab\t", "nul\0"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_data_add_refuses_a_name_that_is_not_a_plain_name(tmp_path, monkeypatch, capsys, name):
    root = tmp_path / "root"
    data = root / "outer" / "data"
    data.mkdir(parents=True)
    source = tmp_path / "mine.csv"
    source.write_text("text,intent\n배송 언제 와요,delivery\n", encoding="utf-8")
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(data))
    before = _tree(root)
    assert main(["data", "add", "--", name, str(source)]) == 2
    assert "invalid dataset name" in capsys.readouterr().err
    assert _tree(root) == before


def test_data_add_refuses_an_absolute_name(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(data))
    source = tmp_path / "mine.csv"
    source.write_text("text,intent\n배송 언제 와요,delivery\n", encoding="utf-8")
    target = tmp_path / "anywhere"
    assert main(["data", "add", str(target), str(source)]) == 2
    assert "invalid dataset name" in capsys.readouterr().err
    assert not target.exists() and not data.exists()


def test_a_korean_name_is_a_valid_name(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "mine.csv"
    source.write_text("text,intent\n배송 언제 와요,delivery\n", encoding="utf-8")
    assert main(["data", "add", "내-데이터_v1.2", str(source)]) == 0
    assert (tmp_path / "data" / "내-데이터_v1.2" / "mine.csv").is_file()
    assert [e.text for e in load_dataset("내-데이터_v1.2").examples] == ["배송 언제 와요"]


def test_loading_a_dataset_by_a_path_name_does_not_read_outside(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "dataset.json").write_text('{"format": "examples_table", "pattern": "*.csv"}')
    (outside / "secret.csv").write_text("text\n비밀\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="invalid dataset name '../outside'") as caught:
        load_dataset("../outside")
    assert "letters" in caught.value.hint


def test_check_dataset_name_says_what_a_name_looks_like():
    assert check_dataset_name("chatbotdata") == "chatbotdata"
    with pytest.raises(DatasetError, match=r"invalid dataset name 'a/b': it contains '/'") as e:
        check_dataset_name("a/b")
    assert "up to 64 letters" in e.value.hint


# -- 4. evaluating a SQLite file never writes to it ------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _eval(path: Path, tmp_path: Path) -> int:
    return main(["eval", str(path), "--model", str(tmp_path / "no-model"),
                 "--out", str(tmp_path / "report"), "--quiet"])


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_eval_leaves_an_unrelated_sqlite_file_as_it_was(tmp_path, capsys, journal_mode):
    logs = tmp_path / "logs"
    logs.mkdir()
    other = logs / "notes.db"
    conn = sqlite3.connect(other)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('장보기')")
    conn.commit()
    conn.close()
    before = _tree(logs)
    assert _eval(other, tmp_path) == 2
    err = capsys.readouterr().err
    assert f"{other}: not a dialog log: it has no 'turns' table" in err
    assert _tree(logs) == before  # same bytes, and no -wal, -shm or -journal file left


def test_eval_refuses_a_file_that_is_not_a_database(tmp_path, capsys):
    garbage = tmp_path / "x.sqlite"
    garbage.write_bytes(b"not a database\0" * 100)
    before = _sha(garbage)
    assert _eval(garbage, tmp_path) == 2
    assert f"{garbage}: not a dialog log" in capsys.readouterr().err
    assert _sha(garbage) == before and sorted(p.name for p in tmp_path.iterdir()) == ["x.sqlite"]


def test_eval_reads_a_real_log_without_changing_it(tmp_path, capsys):
    path = tmp_path / "served.sqlite"
    with LogStore(path) as store:
        store.append(Turn("web-1", 0, utc_now(), "=HYPERLINK(\"http://x\")", bot_reply="네"))
        store.append(Turn("web-1", 1, utc_now(), "고마워요"))
    before = _sha(path)
    assert [(t.source, t.text) for t in read_logs([path])] == [
        (f"{path}[web-1#0]", "=HYPERLINK(\"http://x\")"), (f"{path}[web-1#1]", "고마워요")]
    assert _eval(path, tmp_path) == 2  # read, then no model to load
    assert "cannot load the pipeline" in capsys.readouterr().err
    assert _sha(path) == before


def test_eval_reads_a_live_log_whose_tables_are_still_in_its_wal(tmp_path):
    path = tmp_path / "live.sqlite"
    with LogStore(path) as store:  # a fresh store: its table is in the -wal file, not checkpointed
        store.append(Turn("web-1", 0, utc_now(), "안녕"))
        assert [t.text for t in read_logs([path])] == ["안녕"]


# -- 5. deep nesting and long lines ----------------------------------------------------------


@pytest.mark.parametrize("nested", ['{"a":' * 100_000, "[" * 100_000])
def test_deeply_nested_json_is_a_dataset_error(tmp_path, nested):
    good = Turn("c", 0, utc_now(), "안녕")
    log = tmp_path / "log.jsonl"
    write_jsonl([good], log)
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(nested + "\n")
    with pytest.raises(DatasetError, match=rf"{log}:2: nested too deeply"):
        read_logs([log])
    examples = tmp_path / "mine.jsonl"
    examples.write_text('{"text": "안녕"}\n' + nested + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{examples}:2: nested too deeply"):
        _read(examples, "examples_jsonl")
    report = ReadReport()
    assert len(_read(examples, "examples_jsonl", skip_bad=True, report=report).examples) == 1
    assert report.skipped == [f"{examples}:2: nested too deeply"]


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_a_line_over_the_limit_is_refused_with_its_number(tmp_path, fmt):
    _, _, good = GOOD_ROWS[fmt]
    path = _write(tmp_path, fmt, good.encode("utf-8") + b"x" * (MAX_LINE_BYTES + 1))
    line = 3 if GOOD_ROWS[fmt][1] else 2
    with pytest.raises(DatasetError, match=rf"{path}:{line}: a line longer than 1,000,000"):
        _read(path, fmt, skip_bad=True)


def test_a_dialog_log_line_over_the_limit_is_refused(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps(Turn("c", 0, utc_now(), "가" * MAX_LINE_BYTES).to_json()) + "\n")
    with pytest.raises(DatasetError, match=rf"{log}:1: a line longer than"):
        read_logs([log])


# -- 6. spreadsheet formulas -----------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-_- 뭐야", "@SUM(A1)",
            "\t=1", "\r=1", "'=1", "''+x", "'plain", "plain"]


def test_export_csv_quotes_formulas_and_reads_back_exactly(tmp_path):
    log = tmp_path / "log.sqlite"
    with LogStore(log) as store:
        for index, text in enumerate(FORMULAS):
            store.append(Turn("=cmd", index, utc_now(), text, bot_reply=text, feedback=-1))
        store.export_csv(tmp_path / "log.csv")
    with open(tmp_path / "log.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for column in ("conversation_id", "user_text", "bot_reply"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row[column]
    assert [row["user_text"] for row in rows[:3]] == [
        "'" + FORMULAS[0], "'+1+1", "'-_- 뭐야"]
    assert rows[0]["feedback"] == "-1"  # a number is a number
    back = [turn for _, turn in read_csv_with_source(tmp_path / "log.csv")]
    assert [(t.conversation_id, t.user_text, t.bot_reply) for t in back] == [
        ("=cmd", text, text) for text in FORMULAS]


def test_the_labelling_csv_quotes_formulas(tmp_path):
    row = dict.fromkeys(LABEL_COLUMNS, "")
    row.update(text="=cmd|' /C calc'!A0", bot_reply="@you", intent_confidence=0.25)
    write_label_csv([row], tmp_path / "to_label.csv")
    with open(tmp_path / "to_label.csv", encoding="utf-8-sig", newline="") as handle:
        written = next(csv.DictReader(handle))
    assert written["text"] == "'=cmd|' /C calc'!A0" and written["bot_reply"] == "'@you"
    assert written["intent_confidence"] == "0.25"


def test_spreadsheet_unescape_undoes_exactly_what_spreadsheet_safe_adds():
    for text in [*FORMULAS, "", "'", "''", "'-'", "안녕"]:
        assert spreadsheet_unescape(spreadsheet_safe(text)) == text
    assert spreadsheet_unescape("'-'") == "-'"  # documented: a hand-written quote goes too


# -- 7. a DatasetError for every malformed row -----------------------------------------------


@pytest.mark.parametrize("row", [
    '{"text": "안녕", "answer": 5}', '{"text": "안녕", "intent": ["a"]}',
    '{"text": "안녕", "spam": {"x": 1}}', '{"text": "안녕", "n": 1' + "1" * 5000 + "}",
])
def test_a_jsonl_row_of_the_wrong_shape_is_a_dataset_error(tmp_path, row):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "좋아"}\n' + row + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:2: "):
        _read(path, "examples_jsonl")
    report = ReadReport()
    assert len(_read(path, "examples_jsonl", skip_bad=True, report=report).examples) == 1
    assert len(report.skipped) == 1


def test_a_dialog_log_line_with_a_huge_number_is_a_dataset_error(tmp_path):
    log = tmp_path / "log.jsonl"
    record = json.dumps(Turn("c", 0, utc_now(), "안녕").to_json())
    log.write_text(record[:-1] + ', "latency_ms": 1' + "0" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{log}:1: invalid JSON"):
        read_logs([log])


def test_a_dialog_csv_with_a_bad_cell_is_a_dataset_error(tmp_path):
    path = tmp_path / "log.csv"
    header = "conversation_id,turn_index,timestamp,user_text,trace\n"
    stamp = "2026-11-21T13:22:33+00:00"
    path.write_text(header + f'c,0,{stamp},안녕,"{"[" * 100_000}"\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:2: field 'trace'"):
        read_logs([path])
    path.write_text(header + f"c,0,{stamp},{'가' * 200_000},\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"{path}:2: malformed CSV"):
        read_logs([path])


def test_a_lone_carriage_return_in_an_unquoted_csv_field_is_named(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes("text,intent\n안녕,greet\n잘\r가,bye\n고마워,thanks\n".encode())
    report = ReadReport()
    corpus = _read(path, "examples_table", skip_bad=True, report=report)
    assert [e.text for e in corpus.examples] == ["안녕", "고마워"]
    assert report.skipped == [f"{path}:3: a carriage return (\\r) inside an unquoted field"]


def test_a_broken_dataset_description_is_a_dataset_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    for text in ("{not json", '{"format": "nope", "pattern": "*"}', "[]",
                 '{"format": "examples_table", "pattern": "../*"}', '{"format": [1]}'):
        (tmp_path / "mine").mkdir(exist_ok=True)
        (tmp_path / "mine" / "dataset.json").write_text(text, encoding="utf-8")
        with pytest.raises(DatasetError, match="not a dataset description"):
            load_dataset("mine")


def test_data_add_of_an_empty_folder_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "empty").mkdir()
    assert main(["data", "add", "mine", str(tmp_path / "empty")]) == 2
    assert "holds no files" in capsys.readouterr().err
