"""The dialog-log store: every answered turn in one SQLite file, safe for several writers.

``LogStore(path)`` opens (or creates) the database. Each :meth:`LogStore.append` is its own
committed transaction, so a server that is killed loses nothing it already answered. Several
processes may write the same file at once (SQLite's WAL mode and a busy timeout serialize them),
and several threads may share one ``LogStore``. The records are :class:`Turn` objects; the store
exports and imports the JSON Lines and CSV forms of :mod:`chatbot.data.dialog_log`.
:func:`read_sqlite_with_source` reads a log without writing to it (what ``chatbot eval`` uses).

See ``docs/dialog-log.md``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from chatbot.data.dialog_log import (
    FEEDBACK_VALUES,
    FIELDS,
    Turn,
    read_csv_with_source,
    read_jsonl_with_source,
    write_csv,
    write_jsonl,
)
from chatbot.errors import ChatbotError, DatasetError, UnknownTurnError

logger = logging.getLogger(__name__)

# Version of the database layout, kept in `PRAGMA user_version` (0 in a new, empty file).
SCHEMA_VERSION = 1

# The statements that bring a database from version N-1 to version N. A later layout change adds
# an entry here (ALTER TABLE ...), never edits an old one: old files are migrated step by step.
_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL,
            turn_index INTEGER NOT NULL CHECK (turn_index >= 0),
            timestamp TEXT NOT NULL,
            user_text TEXT NOT NULL,
            bot_reply TEXT,
            gold_intent TEXT,
            gold_reply TEXT,
            gold_spam TEXT CHECK (gold_spam IN ('spam', 'ham')),
            feedback INTEGER CHECK (feedback IN (1, -1)),
            model_version TEXT,
            latency_ms REAL,
            trace_json TEXT,
            UNIQUE (conversation_id, turn_index)
        )
        """,
        "CREATE INDEX turns_timestamp ON turns (timestamp)",
    ],
}

# How long a writer waits for another process's transaction before giving up. Appends take
# milliseconds; seconds of waiting absorb an import or an export running beside a server.
DEFAULT_BUSY_TIMEOUT_S = 10.0

# The table's columns: the record's fields, with the trace stored as JSON text.
_COLUMNS = tuple("trace_json" if name == "trace" else name for name in FIELDS)
_INSERT = (
    f"INSERT INTO turns ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
# Skips only a repeated (conversation_id, turn_index); any other constraint still fails.
_INSERT_SKIP_EXISTING = _INSERT + " ON CONFLICT (conversation_id, turn_index) DO NOTHING"
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM turns"
_ORDER = " ORDER BY conversation_id, turn_index"


def _to_row(turn: Turn) -> tuple[Any, ...]:
    trace_json = None
    if turn.trace is not None:
        try:
            trace_json = json.dumps(turn.trace, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ChatbotError(
                f"turn {turn.turn_index} of conversation {turn.conversation_id!r}: "
                f"the trace is not JSON ({error})",
                hint="log Message.to_dict(), whose values are all JSON",
            ) from None
    return (
        turn.conversation_id,
        turn.turn_index,
        turn.timestamp,
        turn.user_text,
        turn.bot_reply,
        turn.gold_intent,
        turn.gold_reply,
        turn.gold_spam,
        turn.feedback,
        turn.model_version,
        turn.latency_ms,
        trace_json,
    )


def _is_busy(error: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another connection's lock."""
    return isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    )


def _enable_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Switch the database to WAL mode; return the journal mode it is in."""
    # SQLite does not call the busy handler while switching the journal mode: when several
    # processes open a new file at once, all but one get "database is locked" at once (seen in
    # about 1 open in 15). So the switch is retried here, within the same time limit.
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.001
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _from_row(row: tuple[Any, ...]) -> Turn:
    values = dict(zip(_COLUMNS, row, strict=True))
    trace_json = values.pop("trace_json")
    values["trace"] = json.loads(trace_json) if trace_json is not None else None
    return Turn(**values)


def read_sqlite_with_source(path: str | Path) -> list[tuple[str, Turn]]:
    """Every turn of a dialog-log database as ``("file[conversation#turn]", turn)``, ordered by
    conversation then turn index, read without writing to the file.

    Unlike :class:`LogStore`, which creates and migrates, this opens the file read-only and
    refuses a database that is not a dialog log, leaving it as it was. A server may be writing
    the log meanwhile. (Reading a log in WAL mode makes SQLite create its ``-wal`` and ``-shm``
    files beside it when no writer has them open; the next writer to close removes them.)

    Raises:
        DatasetError: the file is not an SQLite database, not a dialog log, or newer than this
            toolkit's; or a stored turn is malformed (the message names it).
    """
    path = Path(path)
    # First a look with immutable=1, which takes no lock and creates no -wal/-shm file, so a
    # database that is not a dialog log is left exactly as it was, even one in WAL mode. A live
    # log may still hold its tables only in its -wal file: then look again, reading the WAL.
    problem = _log_problem(path, immutable=True)
    if problem and Path(f"{path}-wal").exists():
        problem = _log_problem(path, immutable=False)
    if problem:
        raise DatasetError(
            f"{path}: not a dialog log: {problem}",
            hint="give the SQLite file that chatbot serve (a LogStore) writes, or a dialog log "
            "in JSON Lines or CSV",
        )
    try:
        with closing(_connect_read_only(path, immutable=False)) as conn:
            rows = conn.execute(_SELECT + _ORDER).fetchall()
    except sqlite3.Error as error:
        raise DatasetError(f"{path}: cannot read the dialog log ({error})",
                           hint="check the file; a server writing it may hold a lock") from None
    sourced = []
    for row in rows:
        source = f"{path}[{row[0]}#{row[1]}]"
        try:
            turn = _from_row(row)
        except (ValueError, TypeError, RecursionError):  # JSONDecodeError is a ValueError
            raise DatasetError(f"{source}: the stored trace_json is not JSON text",
                               hint="the database was changed by hand; fix or delete the row"
                               ) from None
        # The JSON round trip checks every field, as for a file: the database may be hand-made.
        sourced.append((source, Turn.from_json(turn.to_json(), source)))
    return sourced


def _connect_read_only(path: Path, immutable: bool) -> sqlite3.Connection:
    # A URI, so that SQLite never creates the file or writes to it; as_uri() escapes "?" and "#".
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True,
                           timeout=DEFAULT_BUSY_TIMEOUT_S)


def _log_problem(path: Path, immutable: bool) -> str | None:
    """Why the database at ``path`` is not a dialog log this toolkit reads, or None."""
    try:
        with closing(_connect_read_only(path, immutable)) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            columns = {row[1] for row in conn.execute("PRAGMA table_info(turns)")}
    except sqlite3.Error as error:
        return f"cannot read it as an SQLite database ({error})"
    missing = [column for column in _COLUMNS if column not in columns]
    if missing:
        if not columns:
            return "it has no 'turns' table"
        return f"its 'turns' table lacks the column(s) {missing}"
    if version > SCHEMA_VERSION:
        return (f"it has schema version {version}, newer than this toolkit's "
                f"({SCHEMA_VERSION}); upgrade the toolkit to read it")
    return None


class LogStore:
    """The dialog log in one SQLite file.

    Threads and processes: one ``LogStore`` holds one connection, shared by the threads that use
    it under a lock. SQLite lets only one writer at a time into a database anyway, so the lock
    costs a server little, and it keeps the store simple: one connection to configure and to
    close, no connection left open by a thread that has ended. Each process opens its own
    ``LogStore`` (a connection must not cross a ``fork``; the store refuses to be used in a
    process other than the one that opened it); WAL mode lets readers go on while one process
    writes, and the busy timeout makes the other writers wait their turn instead of failing.

    Durability: ``synchronous=NORMAL`` in WAL mode means a committed turn survives the process
    being killed; after a power cut or an OS crash the last few commits may be lost.

    Example::

        with LogStore("logs/dialog.sqlite") as store:
            index = store.next_turn_index("session-42")
            store.append(Turn("session-42", index, utc_now(), "안녕하세요", bot_reply="반가워요!"))
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        """Open the store at ``path``, creating the directory and the database if needed.

        Args:
            path: the SQLite file; where it lives is the caller's choice.
            busy_timeout_s: how long to wait for another writer before failing.

        Raises:
            ChatbotError: the file is not a database, or it was written by a newer version.
        """
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no transaction is opened behind our back; an append is one
        # autocommitted statement and longer work runs in an explicit BEGIN ... COMMIT.
        # check_same_thread=False: the connection is shared by threads, under self._lock.
        conn = sqlite3.connect(
            str(self.path),
            timeout=busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._open(conn, busy_timeout_s)
        except sqlite3.DatabaseError as error:
            conn.close()
            if _is_busy(error):
                raise self._busy_error() from None
            raise ChatbotError(
                f"cannot open the dialog log {self.path}: {error}",
                hint="point the store at a dialog-log database, or at a new file",
            ) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _open(self, conn: sqlite3.Connection, busy_timeout_s: float) -> None:
        # The version is checked before anything is written, so a newer file is left untouched.
        version = self._check_version(conn)
        mode = _enable_wal(conn, busy_timeout_s)
        if mode.lower() != "wal":
            # E.g. a file system without shared memory: the store still works, one writer at a
            # time with readers blocked while it writes.
            logger.warning("%s: SQLite refused WAL mode, using journal mode %r", self.path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate(conn)

    def _check_version(self, conn: sqlite3.Connection) -> int:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ChatbotError(
                f"the dialog log {self.path} has schema version {version}, newer than this "
                f"toolkit's ({SCHEMA_VERSION})",
                hint="upgrade the toolkit to open it, or point the store at another file",
            )
        return version

    def _migrate(self, conn: sqlite3.Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock first: when several processes open a new file at
        # once, one creates the tables and the others, waiting, then find them made.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._check_version(conn)
            for target in range(version + 1, SCHEMA_VERSION + 1):
                logger.info("%s: migrating the dialog log to schema %d", self.path, target)
                for statement in _MIGRATIONS[target]:
                    conn.execute(statement)
            # user_version is part of the transaction: the tables and the version land together.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # some errors end the transaction themselves
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, held under the lock for the caller's statements."""
        with self._lock:
            if self._conn is None:
                raise ChatbotError(
                    f"the dialog log {self.path} is closed", hint="open a new LogStore"
                )
            if os.getpid() != self._pid:
                raise ChatbotError(
                    f"the dialog log {self.path} was opened in process {self._pid} and used in "
                    f"process {os.getpid()}",
                    hint="open a LogStore in each process, after it starts (or forks)",
                )
            try:
                yield self._conn
            except sqlite3.OperationalError as error:
                if _is_busy(error):
                    raise self._busy_error() from None
                raise

    def _busy_error(self) -> ChatbotError:
        return ChatbotError(
            f"the dialog log {self.path} stayed locked by another writer for more than "
            f"{self.busy_timeout_s:g} s",
            hint="a long import or export may be running: retry, or open the store with a "
            "longer busy_timeout_s",
        )

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """A transaction: a write one (takes the write lock first) or a read snapshot."""
        with self._connection() as conn:
            # A deferred transaction that reads and then writes can fail at once with "database
            # is locked", busy timeout or not; IMMEDIATE waits for the lock up front instead.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # some errors end the transaction themselves
                    conn.execute("ROLLBACK")
                raise

    def append(self, turn: Turn) -> int:
        """Store one turn, committed before this returns; return its row id.

        Raises:
            ChatbotError: a turn with the same conversation and index is already stored.
            DatasetError: a field of the turn has the wrong type or value.
        """
        # The JSON round trip runs the same checks as a file being read.
        turn = Turn.from_json(
            turn.to_json(), f"turn {turn.turn_index!r} of conversation {turn.conversation_id!r}"
        )
        row = _to_row(turn)
        with self._connection() as conn:
            try:
                # Autocommit mode: one statement is one transaction, committed when it returns.
                cursor = conn.execute(_INSERT, row)
            except sqlite3.IntegrityError as error:
                if "UNIQUE" not in str(error):
                    raise
                raise ChatbotError(
                    f"turn {turn.turn_index} of conversation {turn.conversation_id!r} is "
                    f"already in the dialog log {self.path}",
                    hint="number a new turn with next_turn_index(conversation_id)",
                ) from None
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def check_writable(self) -> None:
        """Take the write lock and let it go, changing nothing: raises when the store cannot
        take a write now (a read-only file, a full disk, a writer holding the lock)."""
        with self._transaction(write=True):
            pass

    def next_turn_index(self, conversation_id: str) -> int:
        """The index the next turn of a conversation takes: one past the last stored, or 0.

        Two writers that number turns of the same conversation at once can get the same index;
        the second append then fails rather than overwriting. A conversation is normally served
        by one process at a time, so this does not arise.
        """
        with self._connection() as conn:
            row = conn.execute(
                "SELECT MAX(turn_index) FROM turns WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
        return 0 if row[0] is None else row[0] + 1

    def set_feedback(self, conversation_id: str, turn_index: int, feedback: int | None) -> None:
        """Record the user's feedback on a turn: 1 (like), -1 (dislike) or None (withdrawn).

        Raises:
            ChatbotError: the value is not 1, -1 or None.
            UnknownTurnError: no such turn is stored.
        """
        if feedback is not None and (isinstance(feedback, bool) or feedback not in FEEDBACK_VALUES):
            raise ChatbotError(
                f"feedback must be 1 (like), -1 (dislike) or None, got {feedback!r}",
                hint="pass 1, -1 or None",
            )
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE turns SET feedback = ? WHERE conversation_id = ? AND turn_index = ?",
                (feedback, conversation_id, turn_index),
            )
        if cursor.rowcount == 0:
            raise UnknownTurnError(
                f"no turn {turn_index} of conversation {conversation_id!r} in the dialog log "
                f"{self.path}",
                hint="feedback can only be given on a stored turn",
            )

    def turns(self, conversation_id: str | None = None) -> list[Turn]:
        """Stored turns, ordered by conversation then turn index.

        Args:
            conversation_id: only this conversation's turns; every turn if None.
        """
        with self._connection() as conn:
            if conversation_id is None:
                rows = conn.execute(_SELECT + _ORDER).fetchall()
            else:
                rows = conn.execute(
                    _SELECT + " WHERE conversation_id = ?" + _ORDER, (conversation_id,)
                ).fetchall()
        return [_from_row(row) for row in rows]

    def last_turns(self, conversation_id: str, count: int) -> list[Turn]:
        """The last ``count`` turns of a conversation, oldest first (what a resumed
        conversation remembers)."""
        with self._connection() as conn:
            rows = conn.execute(_SELECT + " WHERE conversation_id = ? ORDER BY turn_index DESC "
                                "LIMIT ?", (conversation_id, count)).fetchall()
        return [_from_row(row) for row in reversed(rows)]

    def count(self) -> int:
        """How many turns are stored."""
        with self._connection() as conn:
            return conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]

    def export_jsonl(self, path: str | Path) -> int:
        """Write every turn to a JSON Lines file; return how many.

        The export is one read snapshot: turns appended meanwhile by other processes are not in
        it, and none is half in it. Other threads of this store wait until it is done.
        """
        with self._transaction(write=False) as conn:
            count = write_jsonl((_from_row(row) for row in conn.execute(_SELECT + _ORDER)), path)
        logger.info("exported %d turns from %s to %s", count, self.path, path)
        return count

    def export_csv(self, path: str | Path) -> int:
        """Write every turn to a CSV file (see :func:`write_csv`); return how many."""
        with self._transaction(write=False) as conn:
            count = write_csv((_from_row(row) for row in conn.execute(_SELECT + _ORDER)), path)
        logger.info("exported %d turns from %s to %s", count, self.path, path)
        return count

    def import_jsonl(self, path: str | Path, skip_existing: bool = False) -> int:
        """Add the turns of a JSON Lines file in one transaction; return how many were added.

        Args:
            path: the file, as :meth:`export_jsonl` writes it.
            skip_existing: skip a turn whose (conversation_id, turn_index) is already stored
                (or earlier in the file) instead of failing; importing the same file twice then
                adds nothing the second time.

        Raises:
            DatasetError: a line is malformed, or (without ``skip_existing``) repeats a stored
                turn; the message names file:line, and nothing is imported.
        """
        return self._import(read_jsonl_with_source(path), path, skip_existing)

    def import_csv(self, path: str | Path, skip_existing: bool = False) -> int:
        """Add the turns of a CSV file in one transaction; see :meth:`import_jsonl`."""
        return self._import(read_csv_with_source(path), path, skip_existing)

    def _import(
        self, sourced: Iterable[tuple[str, Turn]], path: str | Path, skip_existing: bool
    ) -> int:
        # The whole file is read and checked first: a malformed line fails before anything is
        # written, and the write lock is held only while inserting.
        rows = [(source, _to_row(turn)) for source, turn in sourced]
        statement = _INSERT_SKIP_EXISTING if skip_existing else _INSERT
        added = 0
        with self._transaction(write=True) as conn:
            for source, row in rows:
                try:
                    added += conn.execute(statement, row).rowcount
                except sqlite3.IntegrityError as error:
                    if "UNIQUE" not in str(error):
                        raise
                    raise DatasetError(
                        f"{source}: turn {row[1]} of conversation {row[0]!r} is already in the "
                        f"dialog log {self.path} (or earlier in the file); nothing was imported",
                        hint="pass skip_existing=True to skip turns that are already stored",
                    ) from None
        logger.info(
            "imported %d turns from %s into %s (%d already stored, skipped)",
            added, path, self.path, len(rows) - added,
        )
        return added

    def close(self) -> None:
        """Close the connection. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LogStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
