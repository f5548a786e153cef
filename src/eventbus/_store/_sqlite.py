"""``SqliteStore``: the work store protocol in one ``sqlite3`` file.

What is committed survives the process (``synchronous="NORMAL"``, the
default: a killed process loses nothing committed; a power cut or an OS
crash may lose the last commits) or the machine too (``"FULL"``: every
commit is synced).  Several threads share one connection behind a lock;
several processes may open one file: every write is one ``BEGIN IMMEDIATE``
transaction (SQLite's single writer, waited for up to ``busy_timeout``), so
a claim is atomic and two processes never both hold a live lease on one item.

Tables (times are integer microseconds since the epoch, UTC):

- ``work``: one row per item.  ``due`` is when it is claimable (its
  ``not_before`` while free, ``lease_until`` while leased; a sweep's release
  leaves it at ``lease_until``), so one index on ``(queue, due, id)`` finds
  due work, fresh or with a run-out lease, as a range scan; a claim is one
  ``UPDATE ... WHERE id IN (SELECT ... ORDER BY due, id LIMIT n) RETURNING
  ...`` (SQLite evaluates the sub-select once, before changing a row).
  ``was_due = due`` in the same ``SET`` keeps when each claimed item became
  due (``SET`` reads the old row), for ``Work.not_before`` and the order of
  the returned rows (``RETURNING`` follows no ``ORDER BY``), and ``items``
  shows it while the item is leased.  A partial index on ``lease_until``
  lets ``sweep`` find run-out leases without reading free items; one on
  ``due`` answers ``next_due()`` for all queues.
- ``keys``: idempotency keys, ``(queue, key)`` the primary key (so unique);
  ``expires`` is ``NULL`` while the item lives.  ``AUTOINCREMENT`` on
  ``work`` keeps ids from being reused after the newest item ends.
- ``dead``: dead-letter records; ``schedules``: one row per schedule, with
  the same ``due``/lease columns as ``work``.

Every result of a statement is read whole (``fetchall``) before the next
statement: a ``RETURNING`` statement left half-read keeps its transaction
open, and Python's statement cache must never hand out a half-read statement
(cpython#118172).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from .._exceptions import EventBusError, ValidationError
from .._sqlite import Synchronous, checked_settings, connect, write_transaction
from .._validate import check_str
from ._protocol import (
    KEY_RETENTION,
    MICROSECOND,
    SWEEP_LIMIT,
    DeadLetter,
    Enqueued,
    ScheduleClaim,
    StoredItem,
    StoredSchedule,
    Work,
    as_datetime,
    check_changes,
    check_limit,
    check_name,
    check_retention,
    check_then,
    check_work,
    check_works,
    ended_at,
    lease_end,
    lease_micros,
    micros,
)
from ._sqlite_archive import SqliteArchives, create_tables

__all__ = ["SqliteStore"]

MIN_SQLITE: Final = (3, 35, 0)  # UPDATE ... RETURNING
SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    key TEXT,
    due INTEGER NOT NULL,
    was_due INTEGER,
    lease_until INTEGER,
    owner TEXT,
    claim TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS work_due ON work (queue, due, id);
CREATE INDEX IF NOT EXISTS work_next ON work (due);
CREATE INDEX IF NOT EXISTS work_leases ON work (lease_until, id) WHERE lease_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS keys (
    queue TEXT NOT NULL,
    key TEXT NOT NULL,
    expires INTEGER,
    PRIMARY KEY (queue, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_expiry ON keys (expires, queue, key) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    item TEXT NOT NULL,
    payload TEXT NOT NULL,
    key TEXT,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_by_queue ON dead (queue, seq);
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    next_fire INTEGER,
    due INTEGER,
    lease_until INTEGER,
    owner TEXT,
    claim TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (due, name) WHERE due IS NOT NULL;
CREATE TABLE IF NOT EXISTS config (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS config_version (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    version INTEGER NOT NULL
);
COMMIT;
"""

_TOKEN: Final = "lower(hex(randomblob(8)))"  # a claim token: 64 random bits, drawn per row

_CLAIM: Final = (
    "UPDATE work SET was_due = due, due = :until, lease_until = :until, owner = :owner, "
    f"claim = {_TOKEN}, attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM work WHERE queue = :queue AND due <= :now ORDER BY due, id LIMIT :limit) "
    "RETURNING id, payload, key, was_due, attempts, claim")
_SWEEP_LEASES: Final = (
    "UPDATE work SET lease_until = NULL, owner = NULL, claim = NULL "
    "WHERE id IN (SELECT id FROM work WHERE lease_until IS NOT NULL AND lease_until <= ? "
    "ORDER BY lease_until, id LIMIT ?)")
_SWEEP_KEYS: Final = (
    "DELETE FROM keys WHERE (queue, key) IN (SELECT queue, key FROM keys WHERE expires IS NOT NULL "
    "AND expires <= ? ORDER BY expires, queue, key LIMIT ?)")


def check_sqlite_version(version: tuple[int, int, int]) -> None:
    """Refuse an SQLite without ``UPDATE ... RETURNING`` (before 3.35)."""
    if version < MIN_SQLITE:
        have = ".".join(map(str, version))
        raise EventBusError(f"SqliteStore needs SQLite 3.35 or later (for UPDATE ... RETURNING); this Python's "
                            f"sqlite3 module runs SQLite {have}")


def _row_id(text: str) -> int | None:
    """The rowid an item id names (``None``: not one of this store's ids)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


class SqliteStore(SqliteArchives):
    """A ``Store`` in one ``sqlite3`` file (WAL).  ``SqliteStore(path, *,
    synchronous="NORMAL", busy_timeout=5.0, key_retention=timedelta(hours=24))``.

    ``synchronous="NORMAL"``: a commit survives a killed process; ``"FULL"``: a
    power cut too (each commit is synced, several times slower).  Several
    processes may share the file; each waits up to ``busy_timeout`` seconds for
    the writer's lock, then the call raises ``sqlite3.OperationalError``
    ("database is locked").  Reopening the file finds every item, claim, key,
    dead letter and schedule as committed.  It is an ``ArchiveStore`` too
    (``SqliteArchives``: its tables in the same file, safe for several
    processes)."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 5.0,
                 key_retention: float | timedelta = KEY_RETENTION) -> None:
        check_sqlite_version(sqlite3.sqlite_version_info)
        self.path, self.synchronous, timeout_ms = checked_settings(path, synchronous, busy_timeout)
        self._retention = check_retention(key_retention)
        self._lock = threading.Lock()
        try:
            self._db = connect(self.path, self.synchronous, timeout_ms)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ValidationError(f"Cannot open the work store {str(self.path)!r}: its schema (version "
                                      f"{version}) is newer than this eventbus's ({SCHEMA_VERSION})")
            self._db.executescript(_SCHEMA)
            create_tables(self._db)  # (archives: SqliteArchives)
            if version < SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, ValidationError) as exc:
            if "_db" in self.__dict__:
                self._db.close()
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(f"Cannot open the work store {str(self.path)!r}: {exc}") from None
        self._closed = False

    @property
    def key_retention(self) -> timedelta:
        return self._retention * MICROSECOND

    def __repr__(self) -> str:
        return f"<SqliteStore {str(self.path)!r}>"

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise ValidationError(f"The work store {str(self.path)!r} is closed")
        return self._db

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (the caller holds the lock)."""
        return write_transaction(self._open())

    # -- work items

    @staticmethod
    def _add(db: sqlite3.Connection, entry: Enqueued) -> str | None:
        if entry.key is not None:
            kept = db.execute("INSERT INTO keys (queue, key) VALUES (?, ?) ON CONFLICT DO NOTHING",
                              (entry.queue, entry.key)).rowcount
            if not kept:
                return None
        cursor = db.execute("INSERT INTO work (queue, payload, key, due) VALUES (?, ?, ?, ?)",
                            (entry.queue, entry.payload, entry.key, entry._due))
        return str(cursor.lastrowid)

    def enqueue(self, queue: str, payload: str, *, not_before: datetime, key: str | None = None) -> str | None:
        entry = Enqueued(queue=queue, payload=payload, not_before=not_before, key=key)
        with self._lock, self._transaction() as db:
            return self._add(db, entry)

    def enqueue_many(self, items: Sequence[Enqueued]) -> list[str | None]:
        entries = check_then(items, "items")
        if not entries:
            with self._lock:
                self._open()  # (closed: say so, as for any call)
            return []
        with self._lock, self._transaction() as db:
            return [self._add(db, entry) for entry in entries]

    def claim(self, queue: str, *, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Work]:
        check_name("queue", queue)
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_limit(limit)
        check_name("owner", owner)
        with self._lock, self._transaction() as db:
            rows = db.execute(_CLAIM, {"queue": queue, "now": now_us, "until": until, "owner": owner,
                                       "limit": limit}).fetchall()
        rows.sort(key=lambda row: (row[3], row[0]))  # (RETURNING's order is not the sub-select's)
        claimed_at = as_datetime(now_us)
        lease_at = as_datetime(until)
        return [Work(queue=queue, id=str(row_id), payload=payload, key=key, not_before=as_datetime(due),
                     attempts=attempts, owner=owner, claim=token, claimed_at=claimed_at, lease_until=lease_at)
                for row_id, payload, key, due, attempts, token in rows]

    def _end(self, db: sqlite3.Connection, work: Work) -> tuple[str, str, str | None, int] | None:
        """Delete the held item; (queue, payload, key, attempts), or None if the claim is stale."""
        row_id = _row_id(work.id)
        if row_id is None:
            return None
        rows = db.execute("DELETE FROM work WHERE id = ? AND claim = ? RETURNING queue, payload, key, attempts",
                          (row_id, work.claim)).fetchall()
        return rows[0] if rows else None

    def _retain(self, db: sqlite3.Connection, queue: str, key: str | None, at: int) -> None:
        if key is not None:
            db.execute("UPDATE keys SET expires = ? WHERE queue = ? AND key = ?", (at + self._retention, queue, key))

    def _finish(self, db: sqlite3.Connection, work: Work, at_us: int, follow: Sequence[Enqueued],
                reason: str | None = None) -> bool:
        """End the held item (``reason``: as a dead letter), retain its key and add
        its follow-ups, inside the caller's transaction; ``False`` if the claim is
        stale."""
        ended = self._end(db, work)
        if ended is None:
            return False
        queue, payload, key, attempts = ended
        if reason is not None:
            db.execute("INSERT INTO dead (queue, item, payload, key, attempts, reason, at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (queue, work.id, payload, key, attempts, reason, at_us))
        self._retain(db, queue, key, at_us)
        for entry in follow:
            self._add(db, entry)
        return True

    def ack(self, work: Work, *, then: Sequence[Enqueued] = (), at: datetime | None = None) -> bool:
        check_work(work)
        follow = check_then(then)
        at_us = ended_at(work, at)
        with self._lock, self._transaction() as db:
            return self._finish(db, work, at_us, follow)

    def ack_many(self, works: Sequence[Work]) -> list[bool]:
        checked = check_works(works)
        with self._lock, self._transaction() as db:
            return [self._finish(db, work, at_us, ()) for work, at_us in checked]

    def retry(self, work: Work, *, not_before: datetime, payload: str | None = None) -> bool:
        check_work(work)
        due = micros("not_before", not_before)
        if payload is not None:
            check_str("payload", payload)
        row_id = _row_id(work.id)
        with self._lock, self._transaction() as db:
            changed = db.execute("UPDATE work SET due = ?, lease_until = NULL, owner = NULL, claim = NULL, "
                                 "payload = coalesce(?, payload) WHERE id = ? AND claim = ?",
                                 (due, payload, row_id, work.claim)).rowcount
        return changed == 1

    def dead_letter(self, work: Work, *, reason: str, then: Sequence[Enqueued] = (),
                    at: datetime | None = None) -> bool:
        check_work(work)
        check_str("reason", reason)
        follow = check_then(then)
        at_us = ended_at(work, at)
        with self._lock, self._transaction() as db:
            return self._finish(db, work, at_us, follow, reason)

    def extend(self, work: Work, *, until: datetime) -> bool:
        check_work(work)
        until_us = micros("until", until)
        row_id = _row_id(work.id)
        with self._lock, self._transaction() as db:
            changed = db.execute("UPDATE work SET due = ?, lease_until = ? WHERE id = ? AND claim = ?",
                                 (until_us, until_us, row_id, work.claim)).rowcount
        return changed == 1

    def next_due(self, queue: str | None = None) -> datetime | None:
        with self._lock:
            db = self._open()
            if queue is None:
                row = db.execute("SELECT min(due) FROM work").fetchone()
            else:
                check_name("queue", queue)
                row = db.execute("SELECT min(due) FROM work WHERE queue = ?", (queue,)).fetchone()
        return None if row[0] is None else as_datetime(row[0])

    def sweep(self, now: datetime, *, limit: int = SWEEP_LIMIT) -> int:
        now_us = micros("now", now)
        check_limit(limit)
        with self._lock, self._transaction() as db:
            done = int(db.execute(_SWEEP_LEASES, (now_us, limit)).rowcount)
            if done < limit:
                done += int(db.execute(_SWEEP_KEYS, (now_us, limit - done)).rowcount)
        return done

    def counts(self, queue: str) -> dict[str, int]:
        check_name("queue", queue)
        with self._lock:
            db = self._open()
            ready, leased = db.execute("SELECT count(*) FILTER (WHERE lease_until IS NULL), "
                                       "count(*) FILTER (WHERE lease_until IS NOT NULL) FROM work WHERE queue = ?",
                                       (queue,)).fetchone()
            dead = db.execute("SELECT count(*) FROM dead WHERE queue = ?", (queue,)).fetchone()[0]
        return {"ready": int(ready), "leased": int(leased), "dead": int(dead)}

    def items(self, queue: str, *, limit: int | None = None) -> list[StoredItem]:
        check_name("queue", queue)
        cap = -1 if limit is None else check_limit(limit)
        with self._lock:
            rows = self._open().execute("SELECT id, payload, key, due, was_due, attempts, owner, lease_until FROM work "
                                        "WHERE queue = ? ORDER BY id LIMIT ?", (queue, cap)).fetchall()
        return [StoredItem(queue=queue, id=str(row_id), payload=payload, key=key,
                           not_before=as_datetime(due if lease_until is None else was_due), attempts=attempts,
                           owner=owner, lease_until=None if lease_until is None else as_datetime(lease_until))
                for row_id, payload, key, due, was_due, attempts, owner, lease_until in rows]

    def remove(self, queue: str, id: str, *, at: datetime) -> bool:
        check_name("queue", queue)
        row_id = _row_id(check_str("id", id))
        at_us = micros("at", at)
        if row_id is None:
            with self._lock:
                self._open()  # (closed: say so, as for any call)
            return False
        with self._lock, self._transaction() as db:
            rows = db.execute("DELETE FROM work WHERE id = ? AND queue = ? RETURNING key", (row_id, queue)).fetchall()
            if not rows:
                return False
            self._retain(db, queue, rows[0][0], at_us)
            return True

    def purge(self, queue: str, *, at: datetime) -> int:
        check_name("queue", queue)
        at_us = micros("at", at)
        with self._lock, self._transaction() as db:
            count = int(db.execute("DELETE FROM work WHERE queue = ?", (queue,)).rowcount)
            if count:
                # a key is NULL-expiring exactly while its item lives: these are the purged items' keys
                db.execute("UPDATE keys SET expires = ? WHERE queue = ? AND expires IS NULL",
                           (at_us + self._retention, queue))
            return count

    def dead_letters(self, queue: str, *, limit: int | None = None) -> list[DeadLetter]:
        check_name("queue", queue)
        cap = -1 if limit is None else check_limit(limit)
        with self._lock:
            rows = self._open().execute("SELECT item, payload, key, attempts, reason, at FROM dead WHERE queue = ? "
                                        "ORDER BY seq LIMIT ?", (queue, cap)).fetchall()
        return [DeadLetter(queue=queue, id=item, payload=payload, attempts=attempts, reason=reason,
                           at=as_datetime(at), key=key) for item, payload, key, attempts, reason, at in rows]

    def drop_dead_letters(self, queue: str, *, before: datetime | None = None) -> int:
        check_name("queue", queue)
        cut = None if before is None else micros("before", before)
        with self._lock, self._transaction() as db:
            if cut is None:
                return db.execute("DELETE FROM dead WHERE queue = ?", (queue,)).rowcount
            return db.execute("DELETE FROM dead WHERE queue = ? AND at < ?", (queue, cut)).rowcount

    # -- schedules

    def put_schedule(self, name: str, next_fire: datetime | None, data: str) -> None:
        check_name("name", name)
        fire = None if next_fire is None else micros("next_fire", next_fire)
        check_str("data", data)
        with self._lock, self._transaction() as db:
            db.execute("INSERT INTO schedules (name, data, next_fire, due) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                       "DO UPDATE SET data = excluded.data, next_fire = excluded.next_fire, due = excluded.due, "
                       "lease_until = NULL, owner = NULL, claim = NULL", (name, data, fire, fire))

    def delete_schedule(self, name: str) -> bool:
        check_name("name", name)
        with self._lock, self._transaction() as db:
            return db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 1

    @staticmethod
    def _stored(name: str, data: str, next_fire: int | None, owner: str | None,
                lease_until: int | None) -> StoredSchedule:
        return StoredSchedule(name=name, next_fire=None if next_fire is None else as_datetime(next_fire), data=data,
                              owner=owner, lease_until=None if lease_until is None else as_datetime(lease_until))

    def get_schedule(self, name: str) -> StoredSchedule | None:
        check_name("name", name)
        with self._lock:
            row = self._open().execute("SELECT name, data, next_fire, owner, lease_until FROM schedules "
                                       "WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._stored(*row)

    def schedules(self) -> list[StoredSchedule]:
        with self._lock:
            rows = self._open().execute("SELECT name, data, next_fire, owner, lease_until FROM schedules "
                                        "ORDER BY name").fetchall()
        return [self._stored(*row) for row in rows]

    def claim_due_schedules(self, *, now: datetime, lease: timedelta, owner: str,
                            limit: int) -> list[ScheduleClaim]:
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_name("owner", owner)
        check_limit(limit)
        due = "SELECT name FROM schedules WHERE due IS NOT NULL AND due <= ? ORDER BY due, name LIMIT ?"
        with self._lock, self._transaction() as db:
            # the order comes from the select (the update overwrites ``due``); the update takes the same
            # rows, in the same transaction
            names = [row[0] for row in db.execute(due, (now_us, limit)).fetchall()]
            if not names:
                return []
            rows = db.execute(f"UPDATE schedules SET due = ?, lease_until = ?, owner = ?, claim = {_TOKEN} "
                              f"WHERE name IN ({due}) RETURNING name, next_fire, data, claim",
                              (until, until, owner, now_us, limit)).fetchall()
        found = {row[0]: row for row in rows}
        lease_at = as_datetime(until)
        return [ScheduleClaim(name=name, next_fire=as_datetime(found[name][1]), data=found[name][2], owner=owner,
                              claim=found[name][3], lease_until=lease_at) for name in names]

    def schedule_fired(self, claim: ScheduleClaim, *, next_fire: datetime | None,
                       then: Sequence[Enqueued] = ()) -> bool:
        if not isinstance(claim, ScheduleClaim):
            raise ValidationError(f"claim must be an eventbus.ScheduleClaim, not {type(claim).__name__}")
        fire = None if next_fire is None else micros("next_fire", next_fire)
        follow = check_then(then)
        with self._lock, self._transaction() as db:
            changed = db.execute("UPDATE schedules SET next_fire = ?, due = ?, lease_until = NULL, owner = NULL, "
                                 "claim = NULL WHERE name = ? AND claim = ?",
                                 (fire, fire, claim.name, claim.claim)).rowcount
            if changed != 1:
                return False
            for entry in follow:
                self._add(db, entry)
            return True

    def next_schedule_due(self) -> datetime | None:
        with self._lock:
            row = self._open().execute("SELECT min(due) FROM schedules WHERE due IS NOT NULL").fetchone()
        return None if row[0] is None else as_datetime(row[0])

    # -- configuration

    def write_config(self, changes: Mapping[str, str | None]) -> tuple[int, int]:
        checked = check_changes(changes)
        with self._lock, self._transaction() as db:
            row = db.execute("SELECT version FROM config_version WHERE id = 0").fetchone()
            before = 0 if row is None else int(row[0])
            changed = 0
            for name, data in checked.items():
                if data is None:
                    changed += db.execute("DELETE FROM config WHERE name = ?", (name,)).rowcount
                else:
                    db.execute("INSERT INTO config (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
                               "data = excluded.data", (name, data))
                    changed += 1
            if changed:
                db.execute("INSERT INTO config_version (id, version) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET "
                           "version = excluded.version", (before + changed,))
            return before, before + changed

    def configs(self, prefix: str = "") -> dict[str, str]:
        check_str("prefix", prefix)
        with self._lock:
            # (a range of the primary key: names from the prefix up to the prefix's last possible name)
            rows = self._open().execute("SELECT name, data FROM config WHERE name >= ? AND substr(name, 1, ?) = ? "
                                        "ORDER BY name", (prefix, len(prefix), prefix)).fetchall()
        return dict(rows)

    def config_version(self) -> int:
        with self._lock:
            row = self._open().execute("SELECT version FROM config_version WHERE id = 0").fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
