"""Archive stores: where an archive's events are kept.

A store keeps two things: archive definitions (so that a bus opened again on
the same store finds its archives) and archived events.  Each event is kept
as its JSON text with two times, in milliseconds since the epoch: the event's
own ``time`` (what replays select and order by) and when the bus ingested it
(what retention counts from).  A sequence number, increasing with every
append, breaks ties between events of the same time and is the cursor of a
replay: ``read`` returns the events after ``(time, seq)`` in the window, in
that order, a page at a time, so that a replay costs what its window holds,
not what the archive holds.

The store only keeps records: matching, the window's bounds, retention's
cut-off (computed on the bus's clock) and replay all stay with the bus.
Stores are used from several threads (every ``put_events`` caller) and take
their own lock.

``MemoryArchiveStore`` (the default: one per bus) keeps each archive as a
list sorted by ``(time, seq)``; events arrive nearly in time order, so
``insort`` appends.  ``SqliteArchiveStore`` keeps them in one ``sqlite3``
file in WAL mode, indexed by ``(archive, time, seq)`` for windows and by
``(archive, ingested)`` for retention, with each archive's count and size
kept beside its definition so that describing an archive reads no events.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

from .._exceptions import ValidationError
from .._validate import check_int, wrong_type

__all__ = ["ArchiveStore", "MemoryArchiveStore", "Record", "SqliteArchiveStore"]

# (event time, ingestion time, the event's JSON text): what ``append`` takes
Record = tuple[int, int, str]
# (event time, sequence number, the event's JSON text): what ``read`` returns
Stored = tuple[int, int, str]


@runtime_checkable
class ArchiveStore(Protocol):
    """What a bus needs of an archive store.  Times are integer milliseconds
    since the epoch (UTC); ``archive`` is the archive's ARN."""

    def save_archive(self, archive: str, source: str, definition: dict[str, Any]) -> None:
        """Create or replace an archive's definition (a JSON-able dict); ``source``
        is the ARN of its event bus."""
        ...

    def drop_archive(self, archive: str) -> None:
        """Forget the archive and every event in it."""
        ...

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        """The definitions kept (of the event bus ``source``, or all), in creation order."""
        ...

    def append(self, archive: str, records: Sequence[Record]) -> None:
        """Add events to an archive, in one write."""
        ...

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, limit: int = 256) -> list[Stored]:
        """Up to ``limit`` events with ``start <= time < end`` (and, with ``after``,
        ``(time, seq) > after``), ingested at or after ``ingested_since``, in
        ``(time, seq)`` order."""
        ...

    def expire(self, archive: str, ingested_before: int) -> int:
        """Delete the events ingested before the time; returns how many."""
        ...

    def stats(self, archive: str) -> tuple[int, int]:
        """(events, bytes of their JSON text) in the archive."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a file)."""
        ...


class _Kept:
    __slots__ = ("bytes", "events", "oldest")

    def __init__(self) -> None:
        self.events: list[tuple[int, int, int, str]] = []  # (time, seq, ingested, text), sorted
        self.oldest: int | None = None  # the earliest ingestion time kept: nothing expires before it
        self.bytes = 0


def _key(item: tuple[int, int, int, str]) -> tuple[int, int]:
    return item[0], item[1]


class MemoryArchiveStore:
    """An archive store in memory (the default): lost when the process ends.
    An archive kept forever (``retention_days=0``) grows with every event it
    matches; give it a retention, or use ``SqliteArchiveStore``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._definitions: dict[str, tuple[str, dict[str, Any]]] = {}
        self._kept: dict[str, _Kept] = {}
        self._seq = 0

    def __repr__(self) -> str:
        return f"<MemoryArchiveStore archives={len(self._definitions)}>"

    def save_archive(self, archive: str, source: str, definition: dict[str, Any]) -> None:
        with self._lock:
            self._definitions[archive] = (source, json.loads(json.dumps(definition)))
            self._kept.setdefault(archive, _Kept())

    def drop_archive(self, archive: str) -> None:
        with self._lock:
            self._definitions.pop(archive, None)
            self._kept.pop(archive, None)

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(definition)) for owner, definition in self._definitions.values()
                    if source is None or owner == source]

    def append(self, archive: str, records: Sequence[Record]) -> None:
        with self._lock:
            kept = self._kept.get(archive)
            if kept is None:
                return  # (dropped meanwhile)
            events = kept.events
            for time, ingested, text in records:
                self._seq += 1
                item = (time, self._seq, ingested, text)
                if not events or _key(events[-1]) < (time, self._seq):
                    events.append(item)
                else:
                    bisect.insort(events, item, key=_key)
                if kept.oldest is None or ingested < kept.oldest:
                    kept.oldest = ingested
                kept.bytes += len(text.encode())

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, limit: int = 256) -> list[Stored]:
        with self._lock:
            kept = self._kept.get(archive)
            if kept is None:
                return []
            events = kept.events
            low = (start, -1) if after is None or after < (start, -1) else after
            at = bisect.bisect_right(events, low, key=_key)
            out: list[Stored] = []
            while at < len(events) and len(out) < limit:
                time, seq, ingested, text = events[at]
                if time >= end:
                    break
                if ingested >= ingested_since:
                    out.append((time, seq, text))
                at += 1
            return out

    def expire(self, archive: str, ingested_before: int) -> int:
        with self._lock:
            kept = self._kept.get(archive)
            if kept is None or kept.oldest is None or kept.oldest >= ingested_before:
                return 0  # (the common case, at once)
            before = len(kept.events)
            survivors = [item for item in kept.events if item[2] >= ingested_before]
            kept.events = survivors
            kept.oldest = min((item[2] for item in survivors), default=None)
            kept.bytes = sum(len(item[3].encode()) for item in survivors)
            return before - len(survivors)

    def stats(self, archive: str) -> tuple[int, int]:
        with self._lock:
            kept = self._kept.get(archive)
            return (0, 0) if kept is None else (len(kept.events), kept.bytes)

    def close(self) -> None:
        pass


_SCHEMA: Final = """
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

Synchronous = Literal["NORMAL", "FULL"]


class SqliteArchiveStore:
    """An archive store in one ``sqlite3`` file (WAL): archives and their events
    survive the process.  ``SqliteArchiveStore(path, *, synchronous="NORMAL")``:
    ``NORMAL`` survives a killed process, ``FULL`` a power cut too (each
    ``put_events`` call is one transaction either way).  Open the same file
    from one process at a time."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL",
                 busy_timeout: float = 5.0) -> None:
        if not isinstance(path, str | Path):
            raise wrong_type("path", path, "<class 'str'>, <class 'pathlib.Path'>")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValidationError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        timeout_ms = check_int("busy_timeout", int(busy_timeout * 1000) if isinstance(busy_timeout, int | float)
                               and not isinstance(busy_timeout, bool) else busy_timeout, 0)
        self.path = Path(path)
        self.synchronous = synchronous
        self._lock = threading.Lock()
        # autocommit mode: each write below is one explicit transaction
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")
        self._db.executescript(_SCHEMA)
        self._ids: dict[str, int] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<SqliteArchiveStore {str(self.path)!r}>"

    def _id(self, archive: str) -> int | None:
        found = self._ids.get(archive)
        if found is None:
            row = self._db.execute("SELECT id FROM archives WHERE arn = ?", (archive,)).fetchone()
            if row is None:
                return None
            found = self._ids[archive] = row[0]
        return found

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                db.execute(sql, args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def save_archive(self, archive: str, source: str, definition: dict[str, Any]) -> None:
        text = json.dumps(definition, sort_keys=True)
        with self._lock:
            self._write([("INSERT INTO archives (arn, source, definition) VALUES (?, ?, ?) ON CONFLICT (arn) DO "
                          "UPDATE SET source = excluded.source, definition = excluded.definition",
                          (archive, source, text))])

    def drop_archive(self, archive: str) -> None:
        with self._lock:
            found = self._id(archive)
            if found is None:
                return
            self._write([("DELETE FROM events WHERE archive = ?", (found,)),
                         ("DELETE FROM archives WHERE id = ?", (found,))])
            del self._ids[archive]

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if source is None:
                rows = self._db.execute("SELECT definition FROM archives ORDER BY id").fetchall()
            else:
                rows = self._db.execute("SELECT definition FROM archives WHERE source = ? ORDER BY id",
                                        (source,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def append(self, archive: str, records: Sequence[Record]) -> None:
        with self._lock:
            found = self._id(archive)
            if found is None:
                return
            size = sum(len(text.encode()) for _, _, text in records)
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO events (archive, time, ingested, event) VALUES (?, ?, ?, ?)",
                               [(found, time, ingested, text) for time, ingested, text in records])
                db.execute("UPDATE archives SET events = events + ?, bytes = bytes + ? WHERE id = ?",
                           (len(records), size, found))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, limit: int = 256) -> list[Stored]:
        with self._lock:
            found = self._id(archive)
            if found is None:
                return []
            db = self._db
            rows = []
            if after is not None and after >= (start, -1):
                # the rest of the cursor's own time, then the times after it: two range scans
                # of (archive, time, seq), each starting where it should (one OR'd condition on
                # (time, seq) would rescan every earlier event of the cursor's time per page)
                rows = db.execute("SELECT time, seq, event FROM events WHERE archive = ? AND time = ? AND seq > ? "
                                  "AND ingested >= ? ORDER BY seq LIMIT ?",
                                  (found, after[0], after[1], ingested_since, limit)).fetchall()
                low, strict = after[0], True
            else:
                low, strict = start, False
            if len(rows) < limit:
                above = ">" if strict else ">="
                rows += db.execute(f"SELECT time, seq, event FROM events WHERE archive = ? AND time {above} ? "
                                   "AND time < ? AND ingested >= ? ORDER BY time, seq LIMIT ?",
                                   (found, low, end, ingested_since, limit - len(rows))).fetchall()
        return [(time, seq, text) for time, seq, text in rows]

    def expire(self, archive: str, ingested_before: int) -> int:
        with self._lock:
            found = self._id(archive)
            if found is None:
                return 0
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                count, size = db.execute("SELECT count(*), coalesce(sum(length(CAST(event AS BLOB))), 0) FROM events "
                                         "WHERE archive = ? AND ingested < ?", (found, ingested_before)).fetchone()
                if count:
                    db.execute("DELETE FROM events WHERE archive = ? AND ingested < ?", (found, ingested_before))
                    db.execute("UPDATE archives SET events = events - ?, bytes = bytes - ? WHERE id = ?",
                               (count, size, found))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return int(count)

    def stats(self, archive: str) -> tuple[int, int]:
        with self._lock:
            row = self._db.execute("SELECT events, bytes FROM archives WHERE arn = ?", (archive,)).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SqliteArchiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
