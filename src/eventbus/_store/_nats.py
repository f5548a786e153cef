"""``NatsStore``: the work store protocol on NATS JetStream key-value buckets,
shared by every process and machine connected to one server (or cluster).

Why KV buckets and not JetStream consumers: the protocol passes every time in
(a ``ManualClock`` drives a store as it drives everything else), and a claim
must be fenced (a holder whose lease was taken over is refused).  A
consumer's redelivery runs on the server's clock, and its acks are not fenced
(a stale ack is honoured: see docs/nats-jetstream-facts.md).  So each record
is one KV key, and every change is a compare-and-set on the key's revision
(the ``Nats-Expected-Last-Subject-Sequence`` header): of two processes
changing one record, one wins and the other learns it lost.

Buckets (``prefix`` defaults to ``"eventbus"``), each a JetStream stream with
one message kept per key (history 1), file storage, ``replicas`` copies:

- ``<prefix>-work``: one key per item, ``<queue token>.<id>``; its value holds
  the queue, payload, key, ``not_before``, lease (``lease_until``, owner,
  claim token, ``was_due``) and attempts.
- ``<prefix>-keys``: idempotency keys, ``<queue token>.<key token>``, with the
  item's id while it lives and the end of its retention after.
- ``<prefix>-dead``: dead-letter records, ``<queue token>.<id>``; written once,
  so their revisions give the order they were written in.
- ``<prefix>-schedules``: one key per schedule, ``<name token>``.
- ``<prefix>-meta``: the id counter (key ``ids``), moved by compare-and-set
  (a block of n ids for n items): ids are decimal text, unique, never reused,
  increasing in the order blocks were taken.

Tokens are base64url of the UTF-8 text, without padding (KV keys allow
``[-/_=.a-zA-Z0-9]``; base64url uses ``[-_a-zA-Z0-9]``).

The local index.  Each store keeps every bucket's records in memory, fed by
one ``watchall()`` per bucket (initial values, then every change, in stream
order) and at once by its own writes (with the revision each write
returns); an update older than what the index holds is ignored, and a delete
is remembered as its revision (``gone``) until the watcher has passed it.
Reads (``counts``, ``next_due``, ``items``, ``dead_letters``, ``schedules``)
and the choice of candidates (``claim``, ``sweep``, ``claim_due_schedules``)
come from the index; every change is a compare-and-set against the server.  A
compare-and-set that fails means another process changed the record: the key
is read again (``get_msg``), and the record is treated as the protocol says
(not claimable, or a stale claim).  Per queue the items are kept as in
``MemoryStore``: a heap of ``(due, seq, revision, key)``, an entry stale once
its revision is not the item's.

Everything runs on one asyncio loop in a daemon thread owned by the store;
the public methods (synchronous, as the protocol's) hand a coroutine to it
and wait at most ``3 * timeout`` seconds for the answer.

Not atomic (JetStream 2.9 has no multi-record transactions), so the order of
writes is chosen for at-least-once:

- an item is written before its idempotency key (a crash in between leaves an
  item whose key is not remembered: a retried enqueue may add it twice, never
  lose it); a key record that names an item no longer in the store (its end
  was not recorded on the key) is ended by the next ``sweep``;
- ``ack`` and ``dead_letter`` with follow-ups (and every ``dead_letter``, for
  its record) first *fence* the claim (a compare-and-set that rewrites the
  item as it is), then write the dead-letter record and the follow-ups, then
  delete the item, then retain its key: a stale claim writes nothing, and a
  crash after the fence repeats the follow-ups once the lease runs out
  (keyed follow-ups are skipped by their keys), never loses one;
  ``schedule_fired`` does the same with the schedule.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import heapq
import json
import logging
import re
import secrets
import threading
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from .._exceptions import EventBusError, ValidationError
from .._validate import check_seconds, check_str, wrong_type
from ._nats_archive import ARCHIVES, NatsArchives
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

__all__ = ["NatsStore"]

log = logging.getLogger("eventbus")

T = TypeVar("T")
Record = dict[str, Any]

WORK: Final = "work"
KEYS: Final = "keys"
DEAD: Final = "dead"
SCHEDULES: Final = "schedules"
META: Final = "meta"
CONFIG: Final = "config"
BUCKETS: Final = (WORK, KEYS, DEAD, SCHEDULES, META, CONFIG)
IDS: Final = "ids"  # the meta bucket's key for the id counter
_WRONG_LAST: Final = (10071, 10164)  # JetStream's "wrong last sequence" error codes
_PREFIX: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TRIES: Final = 50  # compare-and-set rounds before a write under contention gives up
_COMPACT_SLACK: Final = 64
INSTALL: Final = 'NatsStore needs the nats-py package: pip install "eventbus[nats]"'


def token(text: str) -> str:
    """``text`` as a KV-safe key part: base64url of its UTF-8, without padding.
    ``ValidationError`` when it would make a NATS subject longer than a server
    takes (its protocol lines are at most 4,096 bytes)."""
    made = base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
    if len(made) > MAX_TOKEN:
        raise ValidationError(f"A NATS store takes queue, key and schedule names of at most {MAX_NAME_BYTES:,} "
                              f"bytes of UTF-8, not {len(text.encode()):,}")
    return made


def _due(item: Record) -> int:
    """When an item is claimable: its lease's end while leased, else its not_before."""
    lease: int | None = item["lu"]
    return int(item["nb"]) if lease is None else lease


MAX_NAME_BYTES = 1_500  # a name's UTF-8, at most: its token stays well within a subject's room
MAX_TOKEN = (MAX_NAME_BYTES * 4 + 2) // 3
MARKER_AGE = 600_000_000  # microseconds (10 minutes of the store's callers' time) before a marker is purged
_MAX_MARKERS = 100_000  # delete markers noted between two sweeps (the rest are left in their bucket)


class _Bucket:
    """One bucket's records as the index knows them: key -> (revision, value); the
    revisions of recent deletes; how far the watcher has read."""

    __slots__ = ("gone", "name", "position", "records", "ready")

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[str, tuple[int, Record]] = {}
        self.gone: dict[str, int] = {}
        self.position = 0
        self.ready = asyncio.Event()

    def revision(self, key: str) -> int:
        found = self.records.get(key)
        return found[0] if found is not None else self.gone.get(key, 0)


class _Queue:
    __slots__ = ("heap", "items", "leased")

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, Record]] = {}  # work key -> (revision, item)
        self.heap: list[tuple[int, int, int, str]] = []  # (due, seq, revision, work key)
        self.leased = 0


class NatsStore(NatsArchives):
    """A ``Store`` on NATS JetStream, shared by every process and machine on the
    server.  ``NatsStore(servers="nats://127.0.0.1:4222", *, prefix="eventbus",
    key_retention=timedelta(hours=24), timeout=5.0, replicas=1)``.

    The records live in six KV buckets named ``<prefix>-work``, ``-keys``,
    ``-dead``, ``-schedules``, ``-meta`` and ``-config`` (created if missing, file storage,
    ``replicas`` copies on a cluster); every store opened with the same
    ``prefix`` on one server sees the same items, keys, dead letters,
    schedules and configuration.  A server that does not answer within ``timeout`` seconds (per
    request) makes the call raise ``EventBusError`` saying so.  Needs ``pip install "eventbus[nats]"`` (nats-py);
    tested on nats-server 2.9.10.

    What differs from ``SqliteStore`` (no multi-record transactions on
    JetStream 2.9): each record changes atomically and every claim is fenced
    (at most one claim on an item is honoured at a time, across processes),
    but an operation that writes several records (``enqueue_many``, ``ack`` or
    ``dead_letter`` with follow-ups, ``ack_many``, ``purge``, ``sweep``,
    ``schedule_fired`` with follow-ups) is a sequence of writes: a crash part
    way leaves the first ones done.  The order of writes makes that a repeat,
    never a loss: an item is written before its key (so a retried enqueue may
    add a keyed item twice), follow-ups before the end of the item they follow
    (a crash repeats them once the lease runs out; keyed ones are skipped by
    their keys).  ``ack`` may return ``False`` after its follow-ups were
    written if the item was removed (``remove``, ``purge``) or its lease
    released by a sweep in between.  Reads come from a local index fed by the
    server's updates: another process's change shows after the round trip of
    its update (a claim never relies on it: a stale index only costs a failed
    compare-and-set).  It is an ``ArchiveStore`` too (``NatsArchives``: the
    stream ``<prefix>-archive`` and the bucket ``<prefix>-archives``)."""

    def __init__(self, servers: str | Sequence[str] = "nats://127.0.0.1:4222", *, prefix: str = "eventbus",
                 key_retention: float | timedelta = KEY_RETENTION, timeout: float = 5.0,
                 replicas: int = 1) -> None:
        self.servers = _check_servers(servers)
        if not isinstance(prefix, str):
            raise wrong_type("prefix", prefix, "<class 'str'>")
        if not _PREFIX.fullmatch(prefix):
            raise ValidationError(f"Value {prefix!r} at 'prefix' failed to satisfy constraint: Member must "
                                  "satisfy regular expression pattern: [A-Za-z0-9_-]{1,64}")
        self.prefix = prefix
        self._retention = check_retention(key_retention)
        self.timeout = check_seconds("timeout", timeout, 0.001, 3600.0)
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise wrong_type("replicas", replicas, "<class 'int'>")
        if not 1 <= replicas <= 5:
            raise ValidationError(f"Value '{replicas}' at 'replicas' failed to satisfy constraint: Member must "
                                  "have value between 1 and 5")
        self.replicas = replicas
        try:
            import nats  # noqa: F401  (an optional dependency: pip install "eventbus[nats]")
        except ImportError:
            raise EventBusError(INSTALL) from None
        self._closed = True  # (until connected)
        self._buckets = {name: _Bucket(f"{prefix}-{name}") for name in BUCKETS}
        self._queues: dict[str, _Queue] = {}
        self._dead: dict[str, dict[str, tuple[int, Record]]] = {}  # queue -> dead key -> (revision, record)
        self._busy: set[str] = set()  # work keys this store is writing (a claim skips them)
        # the delete markers this store wrote (bucket, key, revision): purged two sweeps later, once
        # every watcher has long seen them (else each ended record would leave one for ever)
        self._markers: list[tuple[str, str, int]] = []
        self._old_markers: list[tuple[str, str, int, int]] = []  # (..., when a sweep noted it)
        self._watchers: list[Any] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"eventbus-nats-{prefix}", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._run(self._connect(), connecting=True)
        except BaseException:
            self._closed = True
            self._stop_loop()
            raise

    # -- the loop and the connection

    def __repr__(self) -> str:
        return f"<NatsStore {', '.join(self.servers)} prefix={self.prefix!r}>"

    @property
    def key_retention(self) -> timedelta:
        return self._retention * MICROSECOND

    def _where(self) -> str:
        return f"{', '.join(self.servers)} (prefix {self.prefix!r})"

    def _run(self, coro: Coroutine[Any, Any, T], *, connecting: bool = False) -> T:
        """Run ``coro`` on the store's loop and wait for its answer."""
        if self._closed:
            coro.close()
            raise ValidationError(f"The work store {self._where()} is closed")
        import nats.errors

        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout * 3 + 1)
        except (TimeoutError, concurrent.futures.TimeoutError, nats.errors.TimeoutError,
                nats.errors.NoServersError, nats.errors.ConnectionClosedError, nats.errors.NoRespondersError,
                OSError) as exc:
            future.cancel()
            if connecting:
                raise EventBusError(
                    f"Cannot connect to NATS JetStream at {', '.join(self.servers)}: no answer within "
                    f"{self.timeout:g} s ({type(exc).__name__}{': ' if str(exc) else ''}{exc}). Start a server "
                    "with JetStream on (`nats-server -js`), or pass servers=") from None
            raise EventBusError(f"NATS JetStream at {self._where()} did not answer within "
                                       f"{self.timeout:g} s ({type(exc).__name__})") from None

    async def _connect(self) -> None:
        import nats
        from nats.js.api import KeyValueConfig, StorageType

        async def quiet(exc: Exception) -> None:  # (nats-py logs every failed attempt by default)
            if isinstance(exc, nats.errors.SlowConsumerError):  # (a watcher fell behind: updates may be lost)
                log.warning("eventbus: NATS %s: %s", self._where(), exc)
            else:
                log.debug("eventbus: NATS %s: %s", self._where(), exc)

        self._nc = await asyncio.wait_for(nats.connect(
            servers=list(self.servers), connect_timeout=self.timeout, error_cb=quiet, max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, name=f"eventbus NatsStore {self.prefix}"), self.timeout)
        self._js = self._nc.jetstream(timeout=self.timeout)
        self._kv: dict[str, Any] = {}
        for name, bucket in self._buckets.items():
            try:
                self._kv[name] = await self._js.create_key_value(config=KeyValueConfig(
                    bucket=bucket.name, history=1, storage=StorageType.FILE, replicas=self.replicas))
            except nats.js.errors.APIError as exc:
                raise ValidationError(f"Cannot open the work store {self._where()}: the bucket {bucket.name!r}: "
                                      f"{exc.description or exc}") from None
        for name in BUCKETS:
            watcher = await self._kv[name].watchall()
            self._watchers.append(watcher)
            self._tasks.append(self._loop.create_task(self._follow(name, watcher)))
        await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in self._buckets.values())),
                               self.timeout * 2)

    async def _follow(self, name: str, watcher: Any) -> None:
        """Apply a bucket's updates, as the server sends them, to the index.  A watcher
        that fails or ends while the store is open is made again, and the index of
        the bucket made again from its initial values (a key it no longer holds
        goes): the index is never left unfed."""
        while True:
            try:
                await self._read(name, watcher)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("eventbus: NATS bucket %s: its watcher failed (%s): watching it again",
                            self._buckets[name].name, exc)
            if self._closed:
                return
            await asyncio.sleep(0.5)  # (a connection coming back)
            try:
                watcher = await self._kv[name].watchall()
            except Exception as exc:
                log.warning("eventbus: NATS bucket %s: cannot watch it again yet (%s)", self._buckets[name].name,
                            exc)
                continue
            self._watchers.append(watcher)

    async def _read(self, name: str, watcher: Any) -> None:
        bucket = self._buckets[name]
        seen: set[str] | None = set()  # keys in the initial values (then None: live updates)
        async for entry in watcher:
            if entry is None:  # (the initial values are in)
                if seen is not None and bucket.ready.is_set():  # watching again: what it did not send is gone
                    for key in [key for key in bucket.records if key not in seen]:
                        self._apply(name, key, max(bucket.revision(key), bucket.position) + 1, None)
                seen = None
                bucket.ready.set()
                continue
            if seen is not None:
                seen.add(entry.key)
            bucket.position = max(bucket.position, entry.revision)
            value = None
            if entry.operation not in ("DEL", "PURGE"):
                try:
                    value = json.loads(entry.value)
                    if not isinstance(value, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    log.warning("eventbus: NATS bucket %s: key %s is unreadable (%s): ignored", bucket.name,
                                entry.key, exc)
                    continue
            self._apply(name, entry.key, entry.revision, value)
            if len(bucket.gone) > 1024:  # deletes the watcher has passed need no memory
                bucket.gone = {k: r for k, r in bucket.gone.items() if r > bucket.position}

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._run(self._disconnect())
        except EventBusError as exc:
            log.warning("eventbus: closing the NATS store %s: %s", self._where(), exc)
        finally:
            self._closed = True
            self._stop_loop()

    async def _disconnect(self) -> None:
        for task in self._tasks:
            task.cancel()
        for watcher in self._watchers:
            try:
                await watcher.stop()
            except Exception as exc:  # (a connection already gone)
                log.debug("eventbus: NATS watcher stop: %s", exc)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._nc.drain()

    def __enter__(self) -> NatsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_buckets(self) -> None:
        """Delete the store's buckets on the server (tests, benchmarks), then close."""
        async def drop() -> None:
            for bucket in self._buckets.values():
                try:
                    await self._js.delete_key_value(bucket.name)
                except Exception as exc:
                    log.debug("eventbus: NATS delete bucket %s: %s", bucket.name, exc)
            await self._archives_delete_all()
        if not self._closed:
            self._run(drop())
        self.close()

    # -- the index

    def _apply(self, name: str, key: str, revision: int, value: Record | None) -> None:
        """Record what the server holds at ``revision`` (``None``: deleted), unless the
        index already holds that revision or a later one."""
        bucket = self._buckets[name]
        if revision <= bucket.revision(key):
            return
        old = bucket.records.pop(key, None)
        if value is None:
            bucket.gone[key] = revision
        else:
            bucket.gone.pop(key, None)
            bucket.records[key] = (revision, value)
        if name == WORK:
            self._work_changed(key, old, None if value is None else (revision, value))
        elif name == DEAD:
            if old is not None:
                letters = self._dead.get(old[1]["q"])
                if letters is not None:
                    letters.pop(key, None)
            if value is not None:
                self._dead.setdefault(value["q"], {})[key] = (revision, value)
        elif name == ARCHIVES:
            self._archive_changed(key, None if old is None else old[1], value)

    def _work_changed(self, key: str, old: tuple[int, Record] | None, new: tuple[int, Record] | None) -> None:
        if old is not None:
            queue = self._queues.get(old[1]["q"])
            if queue is not None and queue.items.pop(key, None) is not None and old[1]["lu"] is not None:
                queue.leased -= 1
        if new is not None:
            revision, item = new
            queue = self._queues.get(item["q"])
            if queue is None:
                queue = self._queues[item["q"]] = _Queue()
            queue.items[key] = new
            if item["lu"] is not None:
                queue.leased += 1
            heapq.heappush(queue.heap, (_due(item), int(item["i"]), revision, key))
            if len(queue.heap) > 2 * len(queue.items) + _COMPACT_SLACK:
                queue.heap = [e for e in queue.heap if self._live(queue, e)]
                heapq.heapify(queue.heap)

    @staticmethod
    def _live(queue: _Queue, entry: tuple[int, int, int, str]) -> bool:
        found = queue.items.get(entry[3])
        return found is not None and found[0] == entry[2]

    def _top(self, queue: _Queue) -> int | None:
        heap = queue.heap
        while heap and not self._live(queue, heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- writes (on the loop)

    def _subject(self, name: str, key: str) -> str:
        return f"$KV.{self._buckets[name].name}.{key}"

    async def _write(self, name: str, key: str, value: Record | None, last: int | None) -> int | None:
        """Write ``value`` (``None``: delete) under ``key`` if the key's revision is
        ``last`` (``None``: whatever it is); the new revision, or ``None`` when the
        revision was not ``last`` (the key is read again into the index)."""
        import nats.errors
        import nats.js.errors

        headers = {}
        if last is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(last)
        if value is None:
            headers["KV-Operation"] = "DEL"
            data = b""
        else:
            data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        busy = name == WORK
        if busy:
            self._busy.add(key)
        try:
            ack = await self._js.publish(self._subject(name, key), data, headers=headers or None)
        except nats.errors.MaxPayloadError:
            raise EventBusError(f"NATS JetStream at {self._where()} refused a record of {len(data):,} bytes: "
                                "larger than the server's max_payload (1 MB unless set otherwise)") from None
        except nats.js.errors.APIError as exc:
            if exc.err_code in _WRONG_LAST:
                await self._refresh(name, key)
                return None
            raise
        finally:
            if busy:
                self._busy.discard(key)
        self._apply(name, key, ack.seq, value)
        if value is None and len(self._markers) < _MAX_MARKERS:
            self._markers.append((name, key, int(ack.seq)))
        return int(ack.seq)

    async def _refresh(self, name: str, key: str) -> None:
        """Read ``key`` from the server into the index."""
        import nats.js.errors

        try:
            msg = await self._js.get_msg(f"KV_{self._buckets[name].name}", subject=self._subject(name, key))
        except nats.js.errors.NotFoundError:  # no message at all under the key (never written, or purged)
            bucket = self._buckets[name]
            if key in bucket.records:
                self._apply(name, key, max(bucket.revision(key), bucket.position) + 1, None)
            bucket.gone.pop(key, None)  # (its next write expects nothing there: revision 0)
            return
        headers = msg.headers or {}
        revision = int(msg.seq or 0)
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            self._apply(name, key, revision, None)
            return
        try:
            value = json.loads(msg.data or b"")
        except ValueError:
            return
        if isinstance(value, dict):
            self._apply(name, key, revision, value)

    async def _create(self, name: str, key: str, value: Record) -> int | None:
        """Create ``key`` if it holds nothing (after a delete included); its revision,
        or ``None`` when it exists."""
        bucket = self._buckets[name]
        for _ in range(3):
            if key in bucket.records:
                return None
            revision = await self._write(name, key, value, bucket.revision(key))
            if revision is not None:
                return revision
        return None

    async def _allocate(self, count: int) -> int:
        """Take ``count`` ids: the first (the counter moved by compare-and-set)."""
        meta = self._buckets[META]
        for _ in range(_TRIES):
            found = meta.records.get(IDS)
            revision, first = (0, 1) if found is None else (found[0], int(found[1]["next"]))
            if await self._write(META, IDS, {"next": first + count}, revision) is not None:
                return first
        raise EventBusError(f"NATS JetStream at {self._where()}: could not take ids after {_TRIES} tries "
                                   "(too many processes taking them at once)")

    async def _enqueue(self, entries: Sequence[Enqueued]) -> list[str | None]:
        keys = self._buckets[KEYS].records
        seen: set[str] = set()
        fresh: list[tuple[int, Enqueued, str | None]] = []  # (place, entry, key record's key)
        for place, entry in enumerate(entries):
            kkey = None
            if entry.key is not None:
                kkey = f"{token(entry.queue)}.{token(entry.key)}"
                if kkey in keys or kkey in seen:  # remembered (the index may lag: the key's create decides)
                    continue
                seen.add(kkey)
            fresh.append((place, entry, kkey))
        ids: list[str | None] = [None] * len(entries)
        if not fresh:
            return ids
        first = await self._allocate(len(fresh))
        made: list[tuple[int, str, str, int | None, str | None]] = []

        async def add(n: int, place: int, entry: Enqueued, kkey: str | None) -> None:
            item_id = str(first + n)
            wkey = f"{token(entry.queue)}.{item_id}"
            item = {"q": entry.queue, "i": item_id, "p": entry.payload, "k": entry.key, "nb": entry._due,
                    "wd": None, "lu": None, "o": None, "c": None, "a": 0}
            made.append((place, item_id, wkey, await self._write(WORK, wkey, item, 0), kkey))

        await asyncio.gather(*(add(n, place, entry, kkey) for n, (place, entry, kkey) in enumerate(fresh)))

        async def remember(place: int, item_id: str, wkey: str, revision: int | None, kkey: str | None) -> None:
            if revision is None:  # (a fresh id's key is never taken)
                return
            if kkey is not None:
                entry = entries[place]
                kept = await self._create(KEYS, kkey, {"q": entry.queue, "k": entry.key, "i": item_id, "x": None})
                if kept is None:  # remembered after all: take the item back (unless already claimed)
                    if await self._write(WORK, wkey, None, revision) is not None:
                        return
            ids[place] = item_id

        await asyncio.gather(*(remember(*m) for m in made))
        return ids

    async def _held(self, work: Work) -> tuple[str, int, Record] | None:
        """(work key, revision, item) if ``work``'s claim is the one the item honours."""
        wkey = f"{token(work.queue)}.{work.id}"
        for attempt in range(2):
            found = self._buckets[WORK].records.get(wkey)
            if found is not None and found[1]["c"] == work.claim and found[1]["i"] == work.id:
                return wkey, found[0], found[1]
            if attempt == 0:
                if not work.id.isascii() or not work.id.isdigit():
                    return None
                await self._refresh(WORK, wkey)  # (another process may have changed it since the index learnt)
        return None

    async def _change_held(self, work: Work, change: dict[str, Any]) -> int | None:
        """Rewrite the held item with ``change`` (``{}``: a fence); its new revision,
        or ``None`` if the claim is stale."""
        for _ in range(_TRIES):
            held = await self._held(work)
            if held is None:
                return None
            wkey, revision, item = held
            done = await self._write(WORK, wkey, {**item, **change}, revision)
            if done is not None:
                return done
        return None

    async def _retain(self, queue: str, key: str | None, item_id: str, at: int) -> None:
        """The ended item's key is remembered until ``at + key_retention``."""
        if key is None:
            return
        kkey = f"{token(queue)}.{token(key)}"
        bucket = self._buckets[KEYS]
        for _ in range(_TRIES):
            found = bucket.records.get(kkey)
            if found is None or found[1]["i"] != item_id:  # (not this item's: a duplicate's, or forgotten)
                return
            if await self._write(KEYS, kkey, {**found[1], "i": None, "x": at + self._retention},
                                 found[0]) is not None:
                return

    async def _finish(self, work: Work, at: int, follow: Sequence[Enqueued], reason: str | None = None) -> bool:
        """End the held item (``reason``: as a dead letter) after its follow-ups."""
        fenced = None
        if follow or reason is not None:
            fenced = await self._change_held(work, {})
            if fenced is None:
                return False
        held = await self._held(work)
        if held is None:
            return False
        wkey, revision, item = held
        if fenced is not None and revision != fenced:
            return False
        if reason is not None:
            letter = {"q": item["q"], "i": item["i"], "p": item["p"], "a": item["a"], "r": reason, "at": at,
                      "k": item["k"]}
            await self._create(DEAD, wkey, letter)
        if follow:
            await self._enqueue(follow)
        if await self._write(WORK, wkey, None, revision) is None:
            return False
        await self._retain(item["q"], item["k"], item["i"], at)
        return True

    async def _remove(self, wkey: str, at: int) -> bool:
        bucket = self._buckets[WORK]
        for attempt in range(_TRIES):
            found = bucket.records.get(wkey)
            if found is None:
                if attempt:
                    return False
                await self._refresh(WORK, wkey)
                continue
            revision, item = found
            if await self._write(WORK, wkey, None, revision) is not None:
                await self._retain(item["q"], item["k"], item["i"], at)
                return True
        return False

    # -- work items

    def enqueue(self, queue: str, payload: str, *, not_before: datetime, key: str | None = None) -> str | None:
        entry = Enqueued(queue=queue, payload=payload, not_before=not_before, key=key)
        return self._run(self._enqueue([entry]))[0]

    def enqueue_many(self, items: Sequence[Enqueued]) -> list[str | None]:
        entries = check_then(items, "items")
        return self._run(self._enqueue(entries))

    def claim(self, queue: str, *, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Work]:
        check_name("queue", queue)
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_limit(limit)
        check_name("owner", owner)
        return self._run(self._claim(queue, now_us, limit, until, owner))

    async def _claim(self, name: str, now: int, limit: int, until: int, owner: str) -> list[Work]:
        claimed: list[Work] = []
        tried: set[str] = set()
        claimed_at, lease_at = as_datetime(now), as_datetime(until)
        while len(claimed) < limit:
            queue = self._queues.get(name)
            if queue is None:
                break
            picked: list[tuple[int, int, int, str]] = []
            aside: list[tuple[int, int, int, str]] = []
            heap = queue.heap
            while heap and len(picked) < limit - len(claimed):  # hot path: the earliest due first
                entry = heap[0]
                if not self._live(queue, entry):
                    heapq.heappop(heap)
                    continue
                if entry[0] > now:
                    break
                heapq.heappop(heap)
                aside.append(entry)
                if entry[3] not in self._busy and entry[3] not in tried:
                    picked.append(entry)
            for entry in aside:  # (back: a claimed item's old entry goes stale by itself)
                heapq.heappush(heap, entry)
            if not picked:
                break
            tried.update(entry[3] for entry in picked)

            async def take(entry: tuple[int, int, int, str], queue: _Queue = queue) -> Work | None:
                due, _, revision, wkey = entry
                found = queue.items.get(wkey)
                if found is None or found[0] != revision:  # (changed since it was picked: not this claim's)
                    return None
                item = found[1]
                claim = secrets.token_hex(8)
                new = {**item, "wd": due, "lu": until, "o": owner, "c": claim, "a": item["a"] + 1}
                if await self._write(WORK, wkey, new, revision) is None:
                    return None  # (another process changed it first)
                return Work(queue=name, id=item["i"], payload=item["p"], key=item["k"], not_before=as_datetime(due),
                            attempts=new["a"], owner=owner, claim=claim, claimed_at=claimed_at,
                            lease_until=lease_at)

            claimed += [work for work in await asyncio.gather(*map(take, picked)) if work is not None]
        return claimed

    def ack(self, work: Work, *, then: Sequence[Enqueued] = (), at: datetime | None = None) -> bool:
        check_work(work)
        follow = check_then(then)
        at_us = ended_at(work, at)
        return self._run(self._finish(work, at_us, follow))

    def ack_many(self, works: Sequence[Work]) -> list[bool]:
        checked = check_works(works)

        async def ack_all() -> list[bool]:
            seen: set[tuple[str, str, str]] = set()
            firsts: list[bool] = []
            for work, _ in checked:  # (a work given twice: the second is stale)
                mark = (work.queue, work.id, work.claim)
                firsts.append(mark not in seen)
                seen.add(mark)
            ended = await asyncio.gather(*(self._finish(work, at_us, ()) for (work, at_us), first
                                           in zip(checked, firsts, strict=True) if first))
            answers = iter(ended)
            return [next(answers) if first else False for first in firsts]

        return self._run(ack_all())

    def retry(self, work: Work, *, not_before: datetime, payload: str | None = None) -> bool:
        check_work(work)
        due = micros("not_before", not_before)
        if payload is not None:
            check_str("payload", payload)
        change: dict[str, Any] = {"nb": due, "wd": None, "lu": None, "o": None, "c": None}
        if payload is not None:
            change["p"] = payload
        return self._run(self._change_held(work, change)) is not None

    def dead_letter(self, work: Work, *, reason: str, then: Sequence[Enqueued] = (),
                    at: datetime | None = None) -> bool:
        check_work(work)
        check_str("reason", reason)
        follow = check_then(then)
        at_us = ended_at(work, at)
        return self._run(self._finish(work, at_us, follow, reason))

    def extend(self, work: Work, *, until: datetime) -> bool:
        check_work(work)
        until_us = micros("until", until)
        return self._run(self._change_held(work, {"lu": until_us})) is not None

    def next_due(self, queue: str | None = None) -> datetime | None:
        if queue is not None:
            check_name("queue", queue)

        async def read() -> int | None:
            if queue is not None:
                found = self._queues.get(queue)
                return None if found is None else self._top(found)
            return min((t for q in self._queues.values() if (t := self._top(q)) is not None), default=None)

        top = self._run(read())
        return None if top is None else as_datetime(top)

    def sweep(self, now: datetime, *, limit: int = SWEEP_LIMIT) -> int:
        now_us = micros("now", now)
        check_limit(limit)
        return self._run(self._sweep(now_us, limit))

    async def _sweep(self, now: int, limit: int) -> int:
        work = self._buckets[WORK].records
        run_out = sorted(((item["lu"], int(item["i"]), wkey, revision) for wkey, (revision, item) in work.items()
                          if item["lu"] is not None and item["lu"] <= now))[:limit]

        async def release(lease_until: int, wkey: str, revision: int) -> bool:
            found = work.get(wkey)
            if found is None or found[0] != revision:  # (changed meanwhile)
                return False
            item = found[1]
            new = {**item, "nb": lease_until, "wd": None, "lu": None, "o": None, "c": None}
            return await self._write(WORK, wkey, new, revision) is not None

        done = sum(await asyncio.gather(*(release(lu, wkey, rev) for lu, _, wkey, rev in run_out)))
        keys = self._buckets[KEYS].records
        expired = sorted((record["x"], record["q"], record["k"], kkey, revision)
                         for kkey, (revision, record) in keys.items()
                         if record["x"] is not None and record["x"] <= now)[:limit - done]
        done += sum(r is not None for r in await asyncio.gather(
            *(self._write(KEYS, kkey, None, revision) for _, _, _, kkey, revision in expired)))
        await self._repair_keys(now)
        await self._purge_markers(now, limit)
        return done

    async def _purge_markers(self, now: int, limit: int) -> None:
        """Purge the delete markers this store wrote, once they are ``MARKER_AGE`` old
        (noted by the sweep after they were written; at most ``limit``): a marker
        and what came before it under its key go, anything written after it stays
        (a key written again).  Other stores' watchers have read them long before
        (one far behind, reconnecting after that, would miss the delete)."""
        ripe = [marker for marker in self._old_markers if marker[3] + MARKER_AGE <= now][:limit]
        if ripe:
            ripe_set = set(ripe)
            self._old_markers = [marker for marker in self._old_markers if marker not in ripe_set]
        due = [(name, key, revision) for name, key, revision, _ in ripe]
        for name, key, revision in due:
            bucket = self._buckets[name]
            try:
                await self._js.purge_stream(f"KV_{bucket.name}", subject=self._subject(name, key), seq=revision + 1)
            except Exception as exc:  # (left for a later sweep)
                log.warning("eventbus: NATS store %s: a delete marker could not be purged: %s", self._where(), exc)
                self._old_markers.append((name, key, revision, now))
                continue
            if bucket.gone.get(key) == revision:  # (nothing under the key now: its next write expects revision 0)
                del bucket.gone[key]
        room = max(_MAX_MARKERS - len(self._old_markers), 0)  # (beyond that many, left in the bucket)
        self._old_markers += [(name, key, revision, now) for name, key, revision in self._markers[:room]]
        self._markers = []

    async def _repair_keys(self, now: int) -> None:
        """A live key whose item is gone (a process ended the item and died before
        retaining the key) is retained from ``now``."""
        keys = self._buckets[KEYS].records
        work = self._buckets[WORK]
        orphans = [(kkey, record) for kkey, (_, record) in keys.items() if record["x"] is None
                   and f"{token(record['q'])}.{record['i']}" not in work.records][:SWEEP_LIMIT]
        for kkey, record in orphans:
            wkey = f"{token(record['q'])}.{record['i']}"
            await self._refresh(WORK, wkey)
            if wkey not in work.records and keys.get(kkey, (0, {}))[1] is record:
                log.warning("eventbus: NATS store %s: the key of ended item %s was still live: retained from now",
                            self._where(), record["i"])
                await self._retain(record["q"], record["k"], record["i"], now)

    def counts(self, queue: str) -> dict[str, int]:
        check_name("queue", queue)

        async def read() -> dict[str, int]:
            found = self._queues.get(queue)
            dead = len(self._dead.get(queue, ()))
            if found is None:
                return {"ready": 0, "leased": 0, "dead": dead}
            return {"ready": len(found.items) - found.leased, "leased": found.leased, "dead": dead}

        return self._run(read())

    def items(self, queue: str, *, limit: int | None = None) -> list[StoredItem]:
        check_name("queue", queue)
        if limit is not None:
            check_limit(limit)

        async def read() -> list[Record]:
            found = self._queues.get(queue)
            if found is None:
                return []
            return sorted((item for _, item in found.items.values()), key=lambda item: int(item["i"]))[:limit]

        return [StoredItem(queue=queue, id=item["i"], payload=item["p"], key=item["k"],
                           not_before=as_datetime(item["nb"] if item["lu"] is None else item["wd"]),
                           attempts=item["a"], owner=item["o"],
                           lease_until=None if item["lu"] is None else as_datetime(item["lu"]))
                for item in self._run(read())]

    def remove(self, queue: str, id: str, *, at: datetime) -> bool:
        check_name("queue", queue)
        check_str("id", id)
        at_us = micros("at", at)
        if not id.isascii() or not id.isdigit():
            self._run(asyncio.sleep(0))  # (closed: say so, as for any call)
            return False
        return self._run(self._remove(f"{token(queue)}.{id}", at_us))

    def purge(self, queue: str, *, at: datetime) -> int:
        check_name("queue", queue)
        at_us = micros("at", at)

        async def purge_all() -> int:
            found = self._queues.get(queue)
            if found is None:
                return 0
            return sum(await asyncio.gather(*(self._remove(wkey, at_us) for wkey in list(found.items))))

        return self._run(purge_all())

    def dead_letters(self, queue: str, *, limit: int | None = None) -> list[DeadLetter]:
        check_name("queue", queue)
        if limit is not None:
            check_limit(limit)

        async def read() -> list[Record]:
            return [record for _, record in sorted(self._dead.get(queue, {}).values(), key=lambda r: r[0])][:limit]

        return [DeadLetter(queue=queue, id=r["i"], payload=r["p"], attempts=r["a"], reason=r["r"],
                           at=as_datetime(r["at"]), key=r["k"]) for r in self._run(read())]

    def drop_dead_letters(self, queue: str, *, before: datetime | None = None) -> int:
        check_name("queue", queue)
        cut = None if before is None else micros("before", before)

        async def drop() -> int:
            letters = self._dead.get(queue, {})
            gone = [(dkey, revision) for dkey, (revision, record) in letters.items()
                    if cut is None or record["at"] < cut]
            return sum(r is not None for r in await asyncio.gather(
                *(self._write(DEAD, dkey, None, revision) for dkey, revision in gone)))

        return self._run(drop())

    # -- schedules

    def put_schedule(self, name: str, next_fire: datetime | None, data: str) -> None:
        check_name("name", name)
        fire = None if next_fire is None else micros("next_fire", next_fire)
        check_str("data", data)
        record = {"n": name, "d": data, "f": fire, "du": fire, "lu": None, "o": None, "c": None}
        self._run(self._write(SCHEDULES, token(name), record, None))

    def delete_schedule(self, name: str) -> bool:
        check_name("name", name)

        async def delete() -> bool:
            skey = token(name)
            bucket = self._buckets[SCHEDULES]
            for attempt in range(_TRIES):
                found = bucket.records.get(skey)
                if found is None:
                    if attempt:
                        return False
                    await self._refresh(SCHEDULES, skey)
                    continue
                if await self._write(SCHEDULES, skey, None, found[0]) is not None:
                    return True
            return False

        return self._run(delete())

    @staticmethod
    def _stored(record: Record) -> StoredSchedule:
        return StoredSchedule(name=record["n"], next_fire=None if record["f"] is None else as_datetime(record["f"]),
                              data=record["d"], owner=record["o"],
                              lease_until=None if record["lu"] is None else as_datetime(record["lu"]))

    def get_schedule(self, name: str) -> StoredSchedule | None:
        check_name("name", name)

        async def read() -> Record | None:
            found = self._buckets[SCHEDULES].records.get(token(name))
            return None if found is None else found[1]

        record = self._run(read())
        return None if record is None else self._stored(record)

    def schedules(self) -> list[StoredSchedule]:
        async def read() -> list[Record]:
            return sorted((record for _, record in self._buckets[SCHEDULES].records.values()),
                          key=lambda record: str(record["n"]))

        return [self._stored(record) for record in self._run(read())]

    def claim_due_schedules(self, *, now: datetime, lease: timedelta, owner: str,
                            limit: int) -> list[ScheduleClaim]:
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_name("owner", owner)
        check_limit(limit)
        return self._run(self._claim_schedules(now_us, until, owner, limit))

    async def _claim_schedules(self, now: int, until: int, owner: str, limit: int) -> list[ScheduleClaim]:
        records = self._buckets[SCHEDULES].records
        claimed: list[ScheduleClaim] = []
        tried: set[str] = set()
        lease_at = as_datetime(until)
        while len(claimed) < limit:
            due = sorted((record["du"], record["n"], skey, revision) for skey, (revision, record) in records.items()
                         if skey not in tried and record["du"] is not None and record["du"] <= now)
            due = due[:limit - len(claimed)]
            if not due:
                break
            tried.update(skey for _, _, skey, _ in due)

            async def take(skey: str, revision: int) -> ScheduleClaim | None:
                found = records.get(skey)
                if found is None or found[0] != revision:  # (changed meanwhile)
                    return None
                record = found[1]
                claim = secrets.token_hex(8)
                new = {**record, "du": until, "lu": until, "o": owner, "c": claim}
                if await self._write(SCHEDULES, skey, new, revision) is None:
                    return None
                return ScheduleClaim(name=record["n"], next_fire=as_datetime(record["f"]), data=record["d"],
                                     owner=owner, claim=claim, lease_until=lease_at)

            got = await asyncio.gather(*(take(skey, revision) for _, _, skey, revision in due))
            claimed += [c for c in got if c is not None]
        return claimed

    def schedule_fired(self, claim: ScheduleClaim, *, next_fire: datetime | None,
                       then: Sequence[Enqueued] = ()) -> bool:
        if not isinstance(claim, ScheduleClaim):
            raise ValidationError(f"claim must be an eventbus.ScheduleClaim, not {type(claim).__name__}")
        fire = None if next_fire is None else micros("next_fire", next_fire)
        follow = check_then(then)
        return self._run(self._fired(claim, fire, follow))

    async def _fired(self, claim: ScheduleClaim, fire: int | None, follow: Sequence[Enqueued]) -> bool:
        skey = token(claim.name)
        bucket = self._buckets[SCHEDULES]

        async def held() -> tuple[int, Record] | None:
            for attempt in range(2):
                found = bucket.records.get(skey)
                if found is not None and found[1]["c"] == claim.claim:
                    return found
                if attempt == 0:
                    await self._refresh(SCHEDULES, skey)
            return None

        for _ in range(_TRIES):
            found = await held()
            if found is None:
                return False
            if follow:  # the fence: a stale claim writes nothing
                fenced = await self._write(SCHEDULES, skey, found[1], found[0])
                if fenced is None:
                    continue
                await self._enqueue(follow)
                follow = ()
                found = (fenced, found[1])
            new = {**found[1], "f": fire, "du": fire, "lu": None, "o": None, "c": None}
            if await self._write(SCHEDULES, skey, new, found[0]) is not None:
                return True
        return False

    def next_schedule_due(self) -> datetime | None:
        async def read() -> int | None:
            return min((record["du"] for _, record in self._buckets[SCHEDULES].records.values()
                        if record["du"] is not None), default=None)

        top = self._run(read())
        return None if top is None else as_datetime(top)

    # -- configuration

    def write_config(self, changes: Mapping[str, str | None]) -> tuple[int, int]:
        checked = check_changes(changes)

        async def write() -> tuple[int, int]:
            bucket = self._buckets[CONFIG]
            revisions: list[int] = []
            for name, data in checked.items():
                ckey = token(name)
                if data is None:
                    if ckey not in bucket.records:
                        await self._refresh(CONFIG, ckey)  # (written by another process a moment ago?)
                        if ckey not in bucket.records:
                            continue
                    revision = await self._write(CONFIG, ckey, None, None)
                else:
                    revision = await self._write(CONFIG, ckey, {"n": name, "d": data}, None)
                assert revision is not None  # (an unconditional write)
                revisions.append(revision)
            if not revisions:
                return bucket.position, bucket.position
            apart = any(later != earlier + 1 for earlier, later in zip(revisions, revisions[1:], strict=False))
            return (-1 if apart else revisions[0] - 1), revisions[-1]

        return self._run(write())

    def configs(self, prefix: str = "") -> dict[str, str]:
        check_str("prefix", prefix)

        async def read() -> dict[str, str]:
            found = [record for _, record in self._buckets[CONFIG].records.values()
                     if str(record["n"]).startswith(prefix)]
            return {str(record["n"]): str(record["d"]) for record in sorted(found, key=lambda r: str(r["n"]))}

        return self._run(read())

    def config_version(self) -> int:
        async def read() -> int:  # (how far the watcher has read: every change, in the server's order)
            return self._buckets[CONFIG].position

        return self._run(read())


def _check_servers(value: object) -> tuple[str, ...]:
    servers = (value,) if isinstance(value, str) else value
    if not isinstance(servers, list | tuple) or not servers or not all(isinstance(s, str) for s in servers):
        raise wrong_type("servers", value, "<class 'str'>, a list of <class 'str'>")
    for server in servers:
        if not re.fullmatch(r"(nats|tls|ws|wss)://[^\s/]+/?", server):
            raise ValidationError(f"Value {server!r} at 'servers' failed to satisfy constraint: Member must be a "
                                  "NATS URL such as nats://127.0.0.1:4222")
    return tuple(servers)
