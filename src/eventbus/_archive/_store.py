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
kept beside its definition so that describing an archive reads no events
(the schema and the statements are in ``._sqlite``, shared with
``SqliteStore``, which keeps archives in its own file too).  The work stores
(``MemoryStore``, ``SqliteStore``, ``NatsStore``) are archive stores as well.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._exceptions import ValidationError
from .._sqlite import Synchronous, checked_settings, connect, write_transaction
from ._sqlite import SCHEMA, SqliteArchives, utf8_size

__all__ = ["ArchiveStore", "MemoryArchiveStore", "Record", "SqliteArchiveStore"]

# (archive ARN, event time, ingestion time, the event's JSON text): what ``append`` takes
Record = tuple[str, int, int, str]
# (event time, sequence number, the event's JSON text): what ``read`` returns
Stored = tuple[int, int, str]


@runtime_checkable
class ArchiveStore(Protocol):
    """What a bus needs of an archive store.  Times are integer milliseconds
    since the epoch (UTC); ``archive`` is the archive's ARN."""

    def save_archive(self, archive: str, source: str, definition: dict[str, Any], *, create: bool = False) -> bool:
        """Keep an archive's definition (a JSON-able dict); ``source`` is the ARN of
        its event bus.  ``create``: only if the store has no archive of that ARN
        (returns ``False`` if it has, changing nothing); otherwise create or replace."""
        ...

    def drop_archive(self, archive: str) -> None:
        """Forget the archive and every event in it."""
        ...

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        """The definitions kept (of the event bus ``source``, or all), in creation order."""
        ...

    def append(self, records: Sequence[Record]) -> None:
        """Add events to their archives, in one write (an archive dropped meanwhile gets
        none); raises if any could not be kept (on NATS, which has no transaction
        over several messages, the others may be kept: the error says how many)."""
        ...

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        """Up to ``limit`` events with ``start <= time < end`` (and, with ``after``,
        ``(time, seq) > after``), ingested at or after ``ingested_since``, with a
        sequence number at most ``up_to``, in ``(time, seq)`` order."""
        ...

    def high_water(self) -> int:
        """A sequence number at least as high as every event's kept so far (0 before
        the first): no event appended later has one at or below it."""
        ...

    def expire(self, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        """Delete the events ingested before the time; returns how many.  ``limit``
        bounds the work of one call where the store can (sqlite and NATS delete
        at most that many; the memory store rebuilds its list in one pass,
        whatever the limit, and may return more)."""
        ...

    def stats(self, archive: str) -> tuple[int, int]:
        """(events, bytes of their JSON text in UTF-8) in the archive."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a file)."""
        ...


_Item = tuple[int, int, int, str, int]  # (time, seq, ingested, text, its size in bytes)


class _Kept:
    __slots__ = ("bytes", "events", "oldest")

    def __init__(self) -> None:
        self.events: list[_Item] = []  # sorted by (time, seq)
        self.oldest: int | None = None  # the earliest ingestion time kept: nothing expires before it
        self.bytes = 0


def _key(item: _Item) -> tuple[int, int]:
    return item[0], item[1]


def _copy(definition: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(definition))
    return copied


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

    def save_archive(self, archive: str, source: str, definition: dict[str, Any], *, create: bool = False) -> bool:
        copied = _copy(definition)
        with self._lock:
            if create and archive in self._definitions:
                return False
            self._definitions[archive] = (source, copied)
            self._kept.setdefault(archive, _Kept())
            return True

    def drop_archive(self, archive: str) -> None:
        with self._lock:
            self._definitions.pop(archive, None)
            self._kept.pop(archive, None)

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(definition) for owner, definition in self._definitions.values()
                    if source is None or owner == source]

    def append(self, records: Sequence[Record]) -> None:
        with self._lock:
            for archive, time, ingested, text in records:
                kept = self._kept.get(archive)
                if kept is None:
                    continue  # (dropped meanwhile)
                events = kept.events
                self._seq += 1
                size = utf8_size(text)
                item = (time, self._seq, ingested, text, size)
                if not events or _key(events[-1]) < (time, self._seq):
                    events.append(item)
                else:
                    bisect.insort(events, item, key=_key)
                if kept.oldest is None or ingested < kept.oldest:
                    kept.oldest = ingested
                kept.bytes += size

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        with self._lock:
            kept = self._kept.get(archive)
            if kept is None:
                return []
            events = kept.events
            low = (start, -1) if after is None or after < (start, -1) else after
            at = bisect.bisect_right(events, low, key=_key)
            out: list[Stored] = []
            while at < len(events) and len(out) < limit:
                time, seq, ingested, text, _ = events[at]
                if time >= end:
                    break
                if ingested >= ingested_since and (up_to is None or seq <= up_to):
                    out.append((time, seq, text))
                at += 1
            return out

    def high_water(self) -> int:
        return self._seq

    def expire(self, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        """(The memory store deletes all that has expired in one pass: ``limit``
        bounds the sqlite store's work, not this.)"""
        with self._lock:
            kept = self._kept.get(archive)
            if kept is None or kept.oldest is None or kept.oldest >= ingested_before:
                return 0  # (the common case, at once)
            survivors = [item for item in kept.events if item[2] >= ingested_before]
            gone = len(kept.events) - len(survivors)
            kept.events = survivors
            kept.oldest = min((item[2] for item in survivors), default=None)
            kept.bytes = sum(item[4] for item in survivors)
            return gone

    def stats(self, archive: str) -> tuple[int, int]:
        with self._lock:
            kept = self._kept.get(archive)
            return (0, 0) if kept is None else (len(kept.events), kept.bytes)

    def close(self) -> None:
        pass


class SqliteArchiveStore(SqliteArchives):
    """An archive store in one ``sqlite3`` file (WAL): archives and their events
    survive the process.  ``SqliteArchiveStore(path, *, synchronous="NORMAL",
    busy_timeout=5.0)``: with ``NORMAL`` what ``put_events`` archived survives
    a killed process, with ``FULL`` a power cut too (each ``put_events`` call's
    events are one transaction either way).  Several processes may write to
    one file (nothing is cached between calls); a bus learns of an archive
    another process creates when it is opened again, or at once when its
    archives are in its work store (``EventBus(store=...)``), which shares
    them."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL",
                 busy_timeout: float = 5.0) -> None:
        self.path, self.synchronous, timeout_ms = checked_settings(path, synchronous, busy_timeout)
        self._lock = threading.Lock()
        try:
            self._db = connect(self.path, self.synchronous, timeout_ms)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            if "_db" in self.__dict__:
                self._db.close()
            raise ValidationError(f"Cannot open the archive store {str(self.path)!r}: {exc}") from None
        self._closed = False

    def __repr__(self) -> str:
        return f"<SqliteArchiveStore {str(self.path)!r}>"

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise ValidationError(f"The archive store {str(self.path)!r} is closed")
        return self._db

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (the caller holds the lock)."""
        return write_transaction(self._open())

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SqliteArchiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
