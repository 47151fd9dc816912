"""The dialog log: its JSON Lines and CSV forms, and the SQLite store under several writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

import pytest

from chatbot.data.dialog_log import (
    FIELDS,
    Turn,
    read_csv,
    read_jsonl,
    utc_now,
    write_csv,
    write_jsonl,
)
from chatbot.data.logstore import SCHEMA_VERSION, LogStore
from chatbot.errors import ChatbotError, DatasetError
from chatbot.message import Message, Prediction, Token

# Text as people type it, and as files mangle it: Korean, emoji, commas, quotes, line breaks
# (LF and CRLF), a tab, a Unicode line separator that str.splitlines would split on.
TRICKY_TEXT = '안녕, "친구"야!\n잘 지내? 😊👋\r\n가격은 1,000원\t\'특가\'\u2028끝'


def real_trace(text: str) -> dict:
    message = Message(
        text=text,
        normalized=text,
        sentences=[text],
        tokens=[Token("안녕", "안녕", "NOUN", "NNG"), Token("!", "!", "PUNCT", "SF", kept=False)],
        intent=Prediction("greeting", 0.9312),
        spam=Prediction("ham", 0.0421),
        reply="안녕하세요! 무엇을 도와드릴까요?",
        responder="respond.retrieval",
        timings_ms={"normalize.soynlp": 0.061, "tokenize.kiwi": 0.73},
    )
    return message.to_dict()


def full_turn(conversation_id: str = "세션-1", turn_index: int = 0) -> Turn:
    return Turn(
        conversation_id=conversation_id,
        turn_index=turn_index,
        timestamp="2026-11-21T13:22:33.123456+00:00",
        user_text=TRICKY_TEXT,
        bot_reply='네, 잘 지내요 😊\n"좋은 하루", 되세요',
        gold_intent="greeting",
        gold_reply="안녕하세요, 반가워요!",
        gold_spam="ham",
        feedback=-1,
        model_version="default-2026.11",
        latency_ms=12.345678,
        trace=real_trace(TRICKY_TEXT),
    )


def small_turn(conversation_id: str, turn_index: int) -> Turn:
    return Turn(conversation_id, turn_index, utc_now(), f"메시지 {turn_index}", bot_reply="네")


def sample_turns() -> list[Turn]:
    turns = [full_turn("세션-1", 0), full_turn("세션-1", 1), full_turn("session-2", 0)]
    # A turn with every optional field null, and one with an integral latency.
    turns.append(Turn("session-2", 1, "2026-11-21T13:25:00+00:00", "ㅋㅋㅋ 뭐야"))
    turns.append(Turn("session-2", 2, "2026-11-21T13:26:00Z", "좋아요", latency_ms=3.0, feedback=1))
    return turns


# --- Turn <-> JSON <-> files --------------------------------------------------------------------


def test_turn_json_round_trip_has_stable_keys():
    turn = full_turn()
    obj = turn.to_json()
    assert list(obj) == ["schema", *FIELDS]
    assert obj["schema"] == 1
    assert obj["trace"]["intent"] == {"label": "greeting", "confidence": 0.9312}
    again = Turn.from_json(json.loads(json.dumps(obj, ensure_ascii=False)))
    assert again == turn


def test_jsonl_file_round_trip(tmp_path: Path):
    turns = sample_turns()
    path = tmp_path / "logs" / "dialog.jsonl"  # the directory does not exist yet
    assert write_jsonl(turns, path) == len(turns)
    raw = path.read_bytes()
    assert raw.count(b"\n") == len(turns)  # line breaks inside text are escaped
    assert "안녕".encode() in raw  # Korean stays readable, not \uXXXX
    assert list(read_jsonl(path)) == turns
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_csv_file_round_trip(tmp_path: Path):
    turns = sample_turns()
    path = tmp_path / "dialog.csv"
    assert write_csv(turns, path) == len(turns)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets need
    back = list(read_csv(path))
    assert back == turns
    assert back[0].user_text == TRICKY_TEXT
    assert back[3].feedback is None and back[4].feedback == 1
    assert isinstance(back[4].latency_ms, float)


def test_jsonl_survives_bom_crlf_and_blank_lines(tmp_path: Path):
    lines = [json.dumps(t.to_json(), ensure_ascii=False) for t in sample_turns()[:2]]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n\r\n".join(lines) + "\r\n  \r\n").encode("utf-8"))
    assert list(read_jsonl(path)) == sample_turns()[:2]


def test_invalid_json_line_is_named(tmp_path: Path):
    good = json.dumps(full_turn().to_json(), ensure_ascii=False)
    path = tmp_path / "broken.jsonl"
    path.write_text(good + "\n\n" + '{"conversation_id": "a", "turn_index": 0,\n', "utf-8")
    with pytest.raises(DatasetError, match=r"broken\.jsonl:3: invalid JSON") as caught:
        list(read_jsonl(path))
    assert "JSON Lines" in caught.value.hint


def test_invalid_field_is_named_with_file_and_line(tmp_path: Path):
    bad = full_turn(turn_index=1).to_json()
    bad["feedback"] = 2
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(full_turn().to_json()), json.dumps(bad)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(DatasetError) as caught:
        list(read_jsonl(path))
    message = str(caught.value)
    assert f"{path}:2:" in message
    assert "'feedback'" in message and "got 2" in message


def test_missing_file_is_a_dataset_error(tmp_path: Path):
    for reader in (read_jsonl, read_csv):
        with pytest.raises(DatasetError, match=r"nothing\.txt: no such file"):
            list(reader(tmp_path / "nothing.txt"))


def test_not_utf8_line_is_named(tmp_path: Path):
    path = tmp_path / "cp949.jsonl"
    path.write_bytes(json.dumps(full_turn().to_json()).encode() + b"\n" + "안녕".encode("cp949"))
    with pytest.raises(DatasetError, match=r"cp949\.jsonl:2: not UTF-8"):
        list(read_jsonl(path))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"feedback": 0}, "feedback"),
        ({"feedback": True}, "feedback"),
        ({"turn_index": "3"}, "turn_index"),
        ({"turn_index": True}, "turn_index"),
        ({"turn_index": -1}, "turn_index"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"timestamp": "어제"}, "timestamp"),
        ({"timestamp": "2026-11-21T22:22:33+09:00"}, "timestamp"),  # not UTC
        ({"timestamp": "2026-11-21T13:22:33"}, "timestamp"),  # no offset at all
        ({"user_text": None}, "user_text"),
        ({"bot_reply": 5}, "bot_reply"),
        ({"gold_spam": "maybe"}, "gold_spam"),
        ({"latency_ms": "12"}, "latency_ms"),
        ({"latency_ms": -1.0}, "latency_ms"),
        ({"trace": ["not", "an", "object"]}, "trace"),
    ],
)
def test_from_json_rejects_bad_fields(change: dict, field: str):
    obj = {**full_turn().to_json(), **change}
    with pytest.raises(DatasetError) as caught:
        Turn.from_json(obj, source="log.jsonl:7")
    assert str(caught.value).startswith(f"log.jsonl:7: field {field!r}")


def test_from_json_rejects_unknown_missing_keys_and_newer_schema():
    obj = full_turn().to_json()
    with pytest.raises(DatasetError, match=r"x:1: unknown key\(s\) \['feedbak'\]"):
        Turn.from_json({**obj, "feedbak": 1}, "x:1")
    with pytest.raises(DatasetError, match=r"x:2: missing required key\(s\) \['user_text'\]"):
        Turn.from_json({k: v for k, v in obj.items() if k != "user_text"}, "x:2")
    with pytest.raises(DatasetError, match=r"x:3: record schema 2 is newer"):
        Turn.from_json({**obj, "schema": 2}, "x:3")
    with pytest.raises(DatasetError, match=r"x:4: .*JSON object, found list"):
        Turn.from_json([obj], "x:4")
    # Optional keys may be left out; they read as null.
    minimal = Turn.from_json(
        {"conversation_id": "c", "turn_index": 0, "timestamp": utc_now(), "user_text": "hi"}
    )
    assert minimal.bot_reply is None and minimal.trace is None


def test_invalid_csv_row_names_the_line_it_starts_on(tmp_path: Path):
    path = tmp_path / "bad.csv"
    # Header on line 1, then a record on lines 2-5: its texts hold three line breaks.
    write_csv([full_turn()], path)
    with path.open("a", encoding="utf-8", newline="") as out:
        out.write("c,1,2026-11-21T13:22:33+00:00,hi,,,,,좋아요,,,\r\n")
    with pytest.raises(DatasetError) as caught:
        list(read_csv(path))
    message = str(caught.value)
    assert f"{path}:6:" in message and "'feedback'" in message


def test_csv_header_must_name_the_required_columns(tmp_path: Path):
    path = tmp_path / "header.csv"
    path.write_text("conversation_id,turn_index,text\nc,0,안녕\n", "utf-8")
    with pytest.raises(DatasetError, match=r"header\.csv:1: the header lacks .*'timestamp'"):
        list(read_csv(path))


def test_csv_with_only_required_columns_reads(tmp_path: Path):
    path = tmp_path / "hand.csv"
    path.write_text(
        "\r\nconversation_id,turn_index,timestamp,user_text\r\n"
        'c,0,2026-11-21T13:22:33Z," 안녕, 하세요 "\r\n',
        "utf-8",
    )
    [turn] = list(read_csv(path))
    assert turn == Turn("c", 0, "2026-11-21T13:22:33Z", " 안녕, 하세요 ")


# --- the store ----------------------------------------------------------------------------------


def test_store_append_read_feedback_count(tmp_path: Path):
    path = tmp_path / "new" / "dir" / "dialog.sqlite"
    with LogStore(path) as store:
        assert store.count() == 0
        assert store.next_turn_index("세션-1") == 0
        first = store.append(full_turn("세션-1", 0))
        second = store.append(full_turn("세션-1", 1))
        store.append(small_turn("b", 0))
        assert second == first + 1
        assert store.next_turn_index("세션-1") == 2
        assert store.count() == 3
        assert store.turns("세션-1") == [full_turn("세션-1", 0), full_turn("세션-1", 1)]
        store.set_feedback("세션-1", 1, 1)
        store.set_feedback("세션-1", 0, None)
        turns = store.turns()
        assert [(t.conversation_id, t.turn_index) for t in turns] == [
            ("b", 0), ("세션-1", 0), ("세션-1", 1)
        ]
        assert [t.feedback for t in turns] == [None, None, 1]
        assert turns[1].trace == real_trace(TRICKY_TEXT)
        with pytest.raises(ChatbotError, match="no turn 9"):
            store.set_feedback("세션-1", 9, 1)
        with pytest.raises(ChatbotError, match="feedback must be"):
            store.set_feedback("세션-1", 0, 5)
    # Reopened: everything is still there.
    with LogStore(path) as store:
        assert store.count() == 3
        assert store.turns("세션-1")[1].feedback == 1


def test_store_is_wal_and_versioned(tmp_path: Path):
    path = tmp_path / "dialog.sqlite"
    LogStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
        indexes = [row[1] for row in conn.execute("PRAGMA index_list(turns)")]
        assert "turns_timestamp" in indexes
    finally:
        conn.close()


def test_duplicate_turn_is_rejected(tmp_path: Path):
    with LogStore(tmp_path / "dialog.sqlite") as store:
        store.append(small_turn("a", 0))
        with pytest.raises(ChatbotError, match=r"turn 0 of conversation 'a' is already in") as err:
            store.append(small_turn("a", 0))
        assert "next_turn_index" in err.value.hint
        assert store.count() == 1


def test_append_checks_the_turn(tmp_path: Path):
    with LogStore(tmp_path / "dialog.sqlite") as store:
        bad = small_turn("a", 0)
        bad.gold_spam = "SPAM"
        with pytest.raises(DatasetError, match="'gold_spam'"):
            store.append(bad)
        assert store.count() == 0


def test_newer_schema_version_fails_clearly(tmp_path: Path):
    path = tmp_path / "future.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ChatbotError, match=r"schema version 99, newer than this toolkit's \(1\)"):
        LogStore(path)
    conn = sqlite3.connect(path)  # left untouched
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


def test_empty_file_is_created_and_garbage_fails(tmp_path: Path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with LogStore(empty) as store:
        assert store.append(small_turn("a", 0)) >= 1
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 100)
    with pytest.raises(ChatbotError, match="cannot open the dialog log"):
        LogStore(garbage)


def test_a_writer_that_waits_too_long_gets_a_clear_error(tmp_path: Path):
    path = tmp_path / "dialog.sqlite"
    with LogStore(path, busy_timeout_s=0.2) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(ChatbotError, match=r"stayed locked .* more than 0\.2 s"):
                store.append(small_turn("a", 0))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.append(small_turn("a", 0)) >= 1  # once released, writing works


def test_closed_store_refuses_work(tmp_path: Path):
    store = LogStore(tmp_path / "dialog.sqlite")
    store.close()
    store.close()
    with pytest.raises(ChatbotError, match="is closed"):
        store.count()


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_export_then_import_gives_identical_turns(tmp_path: Path, form: str):
    with LogStore(tmp_path / "a.sqlite") as source:
        for turn in sample_turns():
            source.append(turn)
        source.set_feedback("session-2", 1, 1)
        expected = source.turns()
        export = getattr(source, f"export_{form}")
        assert export(tmp_path / f"out.{form}") == len(expected)
    with LogStore(tmp_path / "b.sqlite") as target:
        load = getattr(target, f"import_{form}")
        assert load(tmp_path / f"out.{form}") == len(expected)
        assert target.turns() == expected
        # The feedback set in the store made the trip.
        assert [t.feedback for t in expected if t.conversation_id == "session-2"] == [-1, 1, 1]
        # Importing again: a clear error naming the first line, and nothing changes.
        first_line = 1 if form == "jsonl" else 2  # CSV has a header line
        with pytest.raises(DatasetError, match=rf"out\.{form}:{first_line}: turn 0 of conv"):
            load(tmp_path / f"out.{form}")
        assert target.count() == len(expected)
        assert load(tmp_path / f"out.{form}", skip_existing=True) == 0
        assert target.turns() == expected


def test_import_is_one_transaction(tmp_path: Path):
    path = tmp_path / "partly_bad.jsonl"
    turns = [small_turn("a", i) for i in range(5)]
    write_jsonl(turns, path)
    with path.open("a", encoding="utf-8") as out:
        out.write('{"conversation_id": "a"}\n')
    with LogStore(tmp_path / "dialog.sqlite") as store:
        with pytest.raises(DatasetError, match=r"partly_bad\.jsonl:6: missing required"):
            store.import_jsonl(path)
        assert store.count() == 0
        # A duplicate inside the file also rolls back the rows before it.
        write_jsonl([*turns, small_turn("a", 2)], path)
        with pytest.raises(DatasetError, match=r"partly_bad\.jsonl:6: turn 2 of conversation"):
            store.import_jsonl(path)
        assert store.count() == 0


# --- several writers ----------------------------------------------------------------------------

PROCESSES = 4
TURNS_PER_PROCESS = 200


def _append_from_process(path: str, worker: int, barrier) -> None:
    """Run in a child process: open the store and append, all children starting together."""
    barrier.wait(timeout=20)  # every child opens the new file at once: the schema race
    with LogStore(path) as store:
        barrier.wait(timeout=20)  # and every child appends at once
        for index in range(TURNS_PER_PROCESS):
            store.append(small_turn(f"proc-{worker}", index))


def _append_then_die(path: str, count: int) -> None:
    store = LogStore(path)
    for index in range(count):
        store.append(small_turn("killed", index))
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no cleanup: as a killed server


def test_concurrent_processes_lose_no_row(tmp_path: Path):
    path = str(tmp_path / "shared.sqlite")
    # spawn: a clean interpreter per child, as separate server processes are.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_append_from_process, args=(path, worker, barrier))
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0] * PROCESSES
    with LogStore(path) as store:
        assert store.count() == PROCESSES * TURNS_PER_PROCESS
        keys = {(turn.conversation_id, turn.turn_index) for turn in store.turns()}
    assert keys == {
        (f"proc-{worker}", index)
        for worker in range(PROCESSES)
        for index in range(TURNS_PER_PROCESS)
    }


def test_threads_share_one_store(tmp_path: Path):
    threads_count, per_thread = 8, 100
    errors: list[BaseException] = []
    with LogStore(tmp_path / "threads.sqlite") as store:
        start = threading.Barrier(threads_count)

        def work(worker: int) -> None:
            try:
                start.wait(timeout=30)
                for index in range(per_thread):
                    store.append(small_turn(f"thread-{worker}", index))
                    if index % 10 == 0:
                        store.count()  # reads interleave with the writes
            except BaseException as error:  # reported by the main thread below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert store.count() == threads_count * per_thread
        for worker in range(threads_count):
            indexes = [t.turn_index for t in store.turns(f"thread-{worker}")]
            assert indexes == list(range(per_thread))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_writer_loses_no_answered_turn(tmp_path: Path):
    path = str(tmp_path / "killed.sqlite")
    process = multiprocessing.get_context("spawn").Process(
        target=_append_then_die, args=(path, 50)
    )
    process.start()
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL
    with LogStore(path) as store:
        assert [t.turn_index for t in store.turns("killed")] == list(range(50))


def test_store_refuses_use_in_a_forked_child(tmp_path: Path):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    store = LogStore(tmp_path / "dialog.sqlite")
    queue = multiprocessing.get_context("fork").SimpleQueue()

    def child() -> None:
        try:
            store.count()
            queue.put("used")
        except ChatbotError as error:
            queue.put(str(error))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(timeout=30)
    assert "was opened in process" in queue.get()
    store.close()
