"""Archives in a sqlite file: the schema and the statements that
``SqliteArchiveStore`` and ``SqliteStore`` share (one mixin, ``SqliteArchives``,
gives both the ``ArchiveStore`` methods).

Tables: ``archives`` (one row per archive: its ARN, the ARN of its bus, its
definition as JSON text, and its count and size, kept beside it so that
describing an archive reads no events) and ``events`` (one row per archived
event: its archive's row id, its time and ingestion time in milliseconds, its
JSON text; ``seq``, ``AUTOINCREMENT``, is the sequence number), indexed by
``(archive, time, seq)`` for windows and by ``(archive, ingested)`` for
retention.

Several processes may share one file: every write is one ``BEGIN IMMEDIATE``
transaction (SQLite's single writer, waited for up to the store's busy
timeout), and nothing about the file is cached in a process:

- an archive is named by its ARN in every statement, and its row id is
  looked up inside the transaction or the read that uses it, so a drop and
  a re-creation by another process never leave this one writing to, or
  reading from, a stale id;
- an archive's row id is never reused while events of an earlier archive of
  that id may remain (a drop deletes its events in batches, after its
  definition; a process killed part way leaves the rest): a new archive takes
  the id after both the highest archive id and the highest id events name;
- sequence numbers come from ``AUTOINCREMENT`` inside the write transaction,
  so they increase across processes in commit order (a replay's ``up_to``
  read in one process leaves out exactly what commits after it);
- counts and sizes change in the same transaction as the events they count;
- a read's statements run in one read transaction (WAL: a snapshot that
  waits for no writer), so a page never mixes two states of the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from ._store import Record, Stored

__all__ = ["SCHEMA", "SqliteArchives", "create_tables", "utf8_size"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS archives (
    id INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    definition TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    archive INTEGER NOT NULL,
    time INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (archive, time, seq);
CREATE INDEX IF NOT EXISTS events_by_ingestion ON events (archive, ingested);
"""

DROP_BATCH: Final = 10_000  # events a dropped archive's deletion removes per transaction
_TOP: Final = 2**63 - 1

# a new archive's row id: after every archive's and every id events still name (max() of the
# leading column of events_by_time is one index lookup)
_NEXT_ID: Final = ("(SELECT max(coalesce((SELECT max(id) FROM archives), 0), "
                   "coalesce((SELECT max(archive) FROM events), 0)) + 1)")
_CREATE: Final = (f"INSERT INTO archives (id, arn, source, definition) VALUES ({_NEXT_ID}, ?, ?, ?) "
                  "ON CONFLICT (arn) DO NOTHING")
_PUT: Final = (f"INSERT INTO archives (id, arn, source, definition) VALUES ({_NEXT_ID}, ?, ?, ?) "
               "ON CONFLICT (arn) DO UPDATE SET source = excluded.source, definition = excluded.definition")
_APPEND: Final = ("INSERT INTO events (archive, time, ingested, event) "
                  "SELECT id, ?, ?, ? FROM archives WHERE arn = ?")
_COUNT: Final = "UPDATE archives SET events = events + ?, bytes = bytes + ? WHERE arn = ?"
# a replay's page: the rest of the cursor's own time, then the times after it: two range scans
# of (archive, time, seq), each starting where it should (one OR'd condition on (time, seq)
# would rescan every earlier event of the cursor's time per page)
READ_REST: Final = ("SELECT time, seq, event FROM events WHERE archive = ? AND time = ? AND seq > ? "
                    "AND ingested >= ? AND seq <= ? ORDER BY seq LIMIT ?")
READ_FROM: Final = ("SELECT time, seq, event FROM events WHERE archive = ? AND time >= ? AND time < ? "
                    "AND ingested >= ? AND seq <= ? ORDER BY time, seq LIMIT ?")
READ_AFTER: Final = ("SELECT time, seq, event FROM events WHERE archive = ? AND time > ? AND time < ? "
                     "AND ingested >= ? AND seq <= ? ORDER BY time, seq LIMIT ?")
_DOOMED: Final = "SELECT seq FROM events WHERE archive = ? AND ingested < ? ORDER BY ingested LIMIT ?"


def utf8_size(text: str) -> int:
    """The bytes of the text in UTF-8 (archive sizes count them), without a copy
    for ASCII text, the common case: this runs for every archived event."""
    return len(text) if text.isascii() else len(text.encode())


def create_tables(db: sqlite3.Connection) -> None:
    """Create the archive tables if missing, in one write transaction."""
    db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}COMMIT;")


@contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction (the caller holds its store's lock)."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        if db.in_transaction:
            db.execute("COMMIT")


def _id(db: sqlite3.Connection, archive: str) -> int | None:
    row = db.execute("SELECT id FROM archives WHERE arn = ?", (archive,)).fetchone()
    return None if row is None else int(row[0])


class _Sqlite(Protocol):
    """What ``SqliteArchives`` needs of its store."""

    @property
    def _lock(self) -> threading.Lock: ...

    def _open(self) -> sqlite3.Connection: ...  # (the connection; closed: ValidationError)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...  # (one write transaction)


class SqliteArchives:
    """The ``ArchiveStore`` methods on a store's sqlite connection (its ``_lock``,
    ``_open()`` and ``_transaction()``), the tables made by ``create_tables``."""

    def save_archive(self: _Sqlite, archive: str, source: str, definition: dict[str, Any], *,
                     create: bool = False) -> bool:
        text = json.dumps(definition, sort_keys=True)
        with self._lock, self._transaction() as db:
            return bool(db.execute(_CREATE if create else _PUT, (archive, source, text)).rowcount)

    def drop_archive(self: _Sqlite, archive: str) -> None:
        """The definition goes at once (nothing is appended to the archive after
        it); its events, in batches, each a transaction of its own, so that
        other archives' writers do not wait for a large archive's deletion."""
        with self._lock, self._transaction() as db:
            found = _id(db, archive)
            if found is None:
                return
            db.execute("DELETE FROM archives WHERE id = ?", (found,))
        while True:
            with self._lock, self._transaction() as db:
                gone = db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE archive = ? "
                                  "LIMIT ?)", (found, DROP_BATCH)).rowcount
            if gone < DROP_BATCH:
                return

    def archives(self: _Sqlite, source: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            db = self._open()
            if source is None:
                rows = db.execute("SELECT definition FROM archives ORDER BY id").fetchall()
            else:
                rows = db.execute("SELECT definition FROM archives WHERE source = ? ORDER BY id",
                                  (source,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def append(self: _Sqlite, records: Sequence[Record]) -> None:
        rows = []
        totals: dict[str, list[int]] = {}
        for archive, time, ingested, text in records:
            rows.append((time, ingested, text, archive))
            total = totals.setdefault(archive, [0, 0])
            total[0] += 1
            total[1] += utf8_size(text)
        with self._lock:
            if not rows:
                self._open()  # (closed: say so, as for any call)
                return
            with self._transaction() as db:
                # (an archive missing, dropped meanwhile, gets no rows and no count)
                db.executemany(_APPEND, rows)
                db.executemany(_COUNT, [(count, size, archive) for archive, (count, size) in totals.items()])

    def read(self: _Sqlite, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        top = _TOP if up_to is None else up_to
        with self._lock, _snapshot(self._open()) as db:
            found = _id(db, archive)
            if found is None:
                return []
            rows = []
            if after is not None and after >= (start, -1):
                rows = db.execute(READ_REST, (found, after[0], after[1], ingested_since, top, limit)).fetchall()
                low, query = after[0], READ_AFTER
            else:
                low, query = start, READ_FROM
            if len(rows) < limit:
                rows += db.execute(query, (found, low, end, ingested_since, top, limit - len(rows))).fetchall()
        return [(time, seq, text) for time, seq, text in rows]

    def high_water(self: _Sqlite) -> int:
        with self._lock:
            row = self._open().execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def expire(self: _Sqlite, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        cap = -1 if limit is None else limit
        with self._lock, self._transaction() as db:
            found = _id(db, archive)
            if found is None:
                return 0
            count, size = db.execute(f"SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0) FROM events "
                                     f"WHERE seq IN ({_DOOMED})", (found, ingested_before, cap)).fetchone()
            if count:
                db.execute(f"DELETE FROM events WHERE seq IN ({_DOOMED})", (found, ingested_before, cap))
                db.execute("UPDATE archives SET events = events - ?, bytes = bytes - ? WHERE id = ?",
                           (count, size, found))
            return int(count)

    def stats(self: _Sqlite, archive: str) -> tuple[int, int]:
        with self._lock:
            row = self._open().execute("SELECT events, bytes FROM archives WHERE arn = ?", (archive,)).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))
