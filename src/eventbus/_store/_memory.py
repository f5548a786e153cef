"""``MemoryStore``: the work store protocol in memory (the default).

Nothing survives the process; what it offers is the protocol's semantics at
in-memory speed, so that code written against ``Store`` runs unchanged
on ``SqliteStore``.

Structures (one lock guards them all):

- ``_items``: id -> item; and per queue, id -> item in enqueue order (a dict
  keeps insertion order: ``items`` reads it).  An item's *due* time is
  ``not_before`` while it is free and ``lease_until`` while it is leased
  (``was_due`` keeps when a leased item became due), so "claimable at ``now``" is
  always ``due <= now`` and one heap per queue, ordered by ``(due, seq)``,
  serves both fresh items and run-out leases.  ``claim`` pops from the top:
  O(log n) per item claimed.
- Heap entries are never searched for: each carries the item's *generation*,
  bumped whenever the item's due time changes or it ends, and an entry whose
  generation is not the item's is stale and dropped when met.  Stale entries
  are bounded: a heap is rebuilt from its live entries once it holds more
  than twice the live items plus 64 (amortised O(1) per push).
- ``_leases``: a heap of ``(lease_until, seq, gen, item)`` across queues, for
  ``sweep`` to find run-out leases in order without scanning.  A sweep's
  release pops the entry and leaves the generation alone (the item's due
  time does not change), so a lease entry is live exactly while its
  generation is the item's.
- ``_keys``: (queue, key) -> ``None`` while the item lives, or the time its
  retention ends; ``_expiry`` is a heap of those times for ``sweep``.
- Schedules: name -> schedule, with one heap of ``(due, name, gen, s)``;
  generations come from one counter so that entries of a deleted schedule
  and a new one of the same name never tie.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from .._exceptions import ValidationError
from .._validate import check_str
from ._memory_archive import MemoryArchives, MemoryArchiveStore
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

__all__ = ["MemoryStore"]

_COMPACT_SLACK = 64


class _Item:
    __slots__ = ("attempts", "claim", "due", "gen", "id", "key", "lease_until", "owner", "payload", "queue", "seq",
                 "was_due")

    def __init__(self, seq: int, entry: Enqueued) -> None:
        self.seq = seq
        self.id = str(seq)
        self.queue = entry.queue
        self.payload = entry.payload
        self.key = entry.key
        self.due: int = entry._due  # not_before while free, lease_until while leased (what claims are ordered by)
        self.was_due = self.due  # while leased: when it became claimable for its claim (Work.not_before)
        self.lease_until: int | None = None
        self.owner: str | None = None
        self.claim: str | None = None
        self.attempts = 0
        self.gen = 0


_Entry = tuple[int, int, int, _Item]  # (time, seq, gen, item)


class _Queue:
    __slots__ = ("dead", "heap", "items", "leased")

    def __init__(self) -> None:
        self.heap: list[_Entry] = []  # (due, seq, gen, item)
        self.items: dict[str, _Item] = {}  # id -> item, in enqueue order
        self.leased = 0
        self.dead: list[DeadLetter] = []


class _Schedule:
    __slots__ = ("claim", "data", "due", "gen", "lease_until", "name", "next_fire", "owner")

    def __init__(self, name: str, next_fire: int | None, data: str, gen: int) -> None:
        self.name = name
        self.data = data
        self.next_fire = next_fire
        self.due = next_fire  # next_fire while free, lease_until while leased
        self.lease_until: int | None = None
        self.owner: str | None = None
        self.claim: str | None = None
        self.gen = gen


class MemoryStore(MemoryArchives):
    """The default ``Store``: in memory, lost with the process.
    ``MemoryStore(*, key_retention=timedelta(hours=24))``.  An
    ``ArchiveStore`` too (``MemoryArchives``)."""

    def __init__(self, *, key_retention: float | timedelta = KEY_RETENTION) -> None:
        self._retention = check_retention(key_retention)
        self._lock = threading.Lock()
        self._archived = MemoryArchiveStore()  # (its archives: MemoryArchives)
        self._items: dict[str, _Item] = {}
        self._queues: dict[str, _Queue] = {}
        self._leases: list[_Entry] = []
        self._keys: dict[tuple[str, str], int | None] = {}
        self._expiry: list[tuple[int, str, str]] = []
        self._schedules: dict[str, _Schedule] = {}
        self._schedule_heap: list[tuple[int, str, int, _Schedule]] = []
        self._config: dict[str, str] = {}
        self._config_version = 0
        self._seq = 0
        self._tokens = itertools.count(1)
        self._gens = itertools.count(1)
        self._closed = False

    @property
    def key_retention(self) -> timedelta:
        return self._retention * MICROSECOND

    def __repr__(self) -> str:
        return f"<MemoryStore items={len(self._items)} schedules={len(self._schedules)}>"

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError("The work store is closed")

    # -- work items

    def _add(self, entry: Enqueued) -> str | None:
        key = entry.key
        if key is not None:
            remembered = (entry.queue, key)
            if remembered in self._keys:
                return None
            self._keys[remembered] = None
        self._seq += 1
        item = _Item(self._seq, entry)
        self._items[item.id] = item
        queue = self._queues.get(entry.queue)
        if queue is None:
            queue = self._queues[entry.queue] = _Queue()
        queue.items[item.id] = item
        heapq.heappush(queue.heap, (item.due, item.seq, 0, item))
        if len(queue.heap) > 2 * len(queue.items) + _COMPACT_SLACK:
            self._compact(queue)
        return item.id

    def enqueue(self, queue: str, payload: str, *, not_before: datetime, key: str | None = None) -> str | None:
        entry = Enqueued(queue=queue, payload=payload, not_before=not_before, key=key)
        with self._lock:
            self._check_open()
            return self._add(entry)

    def enqueue_many(self, items: Sequence[Enqueued]) -> list[str | None]:
        entries = check_then(items, "items")
        with self._lock:
            self._check_open()
            return [self._add(entry) for entry in entries]

    def claim(self, queue: str, *, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Work]:
        check_name("queue", queue)
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_limit(limit)
        check_name("owner", owner)
        claimed: list[Work] = []
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return claimed
            heap = found.heap
            lease_at = as_datetime(until)
            claimed_at = as_datetime(now_us)
            # hot path: each item popped is claimed (until > now: pushed back below the line)
            while heap and len(claimed) < limit:
                due, seq, gen, item = heap[0]
                if gen != item.gen:
                    heapq.heappop(heap)
                    continue
                if due > now_us:
                    break
                heapq.heappop(heap)
                if item.claim is None:
                    found.leased += 1
                item.gen += 1
                item.was_due = due
                item.due = item.lease_until = until
                item.owner = owner
                item.claim = token = str(next(self._tokens))
                item.attempts += 1
                heapq.heappush(heap, (until, seq, item.gen, item))
                self._push_lease((until, seq, item.gen, item))
                claimed.append(Work(queue=queue, id=item.id, payload=item.payload, key=item.key,
                                    not_before=as_datetime(due), attempts=item.attempts, owner=owner, claim=token,
                                    claimed_at=claimed_at, lease_until=lease_at))
            if len(heap) > 2 * len(found.items) + _COMPACT_SLACK:
                self._compact(found)
        return claimed

    def _push_lease(self, entry: _Entry) -> None:
        heapq.heappush(self._leases, entry)
        self._compact_leases()

    def _compact_leases(self) -> None:
        if len(self._leases) > 2 * len(self._items) + _COMPACT_SLACK:
            self._leases = [e for e in self._leases if e[2] == e[3].gen]
            heapq.heapify(self._leases)

    def _compact(self, queue: _Queue) -> None:
        queue.heap = [e for e in queue.heap if e[2] == e[3].gen]
        heapq.heapify(queue.heap)

    def _held(self, work: Work) -> _Item | None:
        """The item, if ``work``'s claim is the one it honours."""
        self._check_open()
        item = self._items.get(work.id)
        if item is None or item.claim is None or item.claim != work.claim:
            return None
        return item

    def _end(self, item: _Item, at: int) -> None:
        queue = self._queues[item.queue]
        self._drop(item, queue, at)
        self._forget_if_empty(item.queue, queue)

    def _drop(self, item: _Item, queue: _Queue, at: int) -> None:
        """Delete the item, held or not, and retain its key from ``at``."""
        del self._items[item.id]
        del queue.items[item.id]
        item.gen += 1  # every heap entry of it is stale now
        if item.claim is not None:
            queue.leased -= 1
        if item.key is not None:
            expires = at + self._retention
            self._keys[(item.queue, item.key)] = expires
            heapq.heappush(self._expiry, (expires, item.queue, item.key))

    def _forget_if_empty(self, name: str, queue: _Queue) -> None:
        if not queue.items and not queue.dead:
            del self._queues[name]

    def _finish(self, work: Work, at_us: int, follow: Sequence[Enqueued], reason: str | None = None) -> bool:
        """End the held item (``reason``: as a dead letter) and add its follow-ups;
        ``False`` if the claim is stale.  The caller holds the lock."""
        item = self._held(work)
        if item is None:
            return False
        if reason is not None:
            self._queues[item.queue].dead.append(DeadLetter(
                queue=item.queue, id=item.id, payload=item.payload, attempts=item.attempts, reason=reason,
                at=as_datetime(at_us), key=item.key))
        self._end(item, at_us)
        for entry in follow:
            self._add(entry)
        return True

    def ack(self, work: Work, *, then: Sequence[Enqueued] = (), at: datetime | None = None) -> bool:
        check_work(work)
        follow = check_then(then)
        at_us = ended_at(work, at)
        with self._lock:
            return self._finish(work, at_us, follow)

    def ack_many(self, works: Sequence[Work]) -> list[bool]:
        checked = check_works(works)
        with self._lock:
            return [self._finish(work, at_us, ()) for work, at_us in checked]

    def retry(self, work: Work, *, not_before: datetime, payload: str | None = None) -> bool:
        check_work(work)
        due = micros("not_before", not_before)
        if payload is not None:
            check_str("payload", payload)
        with self._lock:
            item = self._held(work)
            if item is None:
                return False
            queue = self._queues[item.queue]
            queue.leased -= 1
            item.gen += 1
            item.due = due
            item.lease_until = item.owner = item.claim = None
            if payload is not None:
                item.payload = payload
            heapq.heappush(queue.heap, (due, item.seq, item.gen, item))
            if len(queue.heap) > 2 * len(queue.items) + _COMPACT_SLACK:
                self._compact(queue)
            return True

    def dead_letter(self, work: Work, *, reason: str, then: Sequence[Enqueued] = (),
                    at: datetime | None = None) -> bool:
        check_work(work)
        check_str("reason", reason)
        follow = check_then(then)
        at_us = ended_at(work, at)
        with self._lock:
            return self._finish(work, at_us, follow, reason)

    def extend(self, work: Work, *, until: datetime) -> bool:
        check_work(work)
        until_us = micros("until", until)
        with self._lock:
            item = self._held(work)
            if item is None:
                return False
            item.gen += 1
            item.due = item.lease_until = until_us
            queue = self._queues[item.queue]
            heapq.heappush(queue.heap, (until_us, item.seq, item.gen, item))
            self._push_lease((until_us, item.seq, item.gen, item))
            if len(queue.heap) > 2 * len(queue.items) + _COMPACT_SLACK:
                self._compact(queue)
            return True

    def _top(self, queue: _Queue) -> int | None:
        heap = queue.heap
        while heap and heap[0][2] != heap[0][3].gen:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def next_due(self, queue: str | None = None) -> datetime | None:
        if queue is not None:
            check_name("queue", queue)
        with self._lock:
            self._check_open()
            if queue is not None:
                found = self._queues.get(queue)
                top = None if found is None else self._top(found)
            else:  # O(queues): one timer for every queue
                tops = [t for q in self._queues.values() if (t := self._top(q)) is not None]
                top = min(tops, default=None)
        return None if top is None else as_datetime(top)

    def sweep(self, now: datetime, *, limit: int = SWEEP_LIMIT) -> int:
        now_us = micros("now", now)
        check_limit(limit)
        done = 0
        with self._lock:
            self._check_open()
            leases = self._leases
            while leases and done < limit:
                until, _, gen, item = leases[0]
                if gen != item.gen:
                    heapq.heappop(leases)
                    continue
                if until > now_us:
                    break
                heapq.heappop(leases)
                # released: due stays at lease_until (so its queue's heap entry stays valid, and
                # the order of claims does not depend on when sweeps run)
                item.lease_until = item.owner = item.claim = None
                self._queues[item.queue].leased -= 1
                done += 1
            expiry = self._expiry
            while expiry and done < limit:
                expires, queue, key = expiry[0]
                if expires > now_us:
                    break
                heapq.heappop(expiry)
                if self._keys.get((queue, key)) == expires:
                    del self._keys[(queue, key)]
                    done += 1
        return done

    def counts(self, queue: str) -> dict[str, int]:
        check_name("queue", queue)
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return {"ready": 0, "leased": 0, "dead": 0}
            return {"ready": len(found.items) - found.leased, "leased": found.leased, "dead": len(found.dead)}

    def items(self, queue: str, *, limit: int | None = None) -> list[StoredItem]:
        check_name("queue", queue)
        if limit is not None:
            check_limit(limit)
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return []
            return [StoredItem(queue=queue, id=item.id, payload=item.payload, key=item.key,
                               not_before=as_datetime(item.due if item.claim is None else item.was_due),
                               attempts=item.attempts, owner=item.owner,
                               lease_until=None if item.lease_until is None else as_datetime(item.lease_until))
                    for item in itertools.islice(found.items.values(), limit)]

    def remove(self, queue: str, id: str, *, at: datetime) -> bool:
        check_name("queue", queue)
        check_str("id", id)
        at_us = micros("at", at)
        with self._lock:
            self._check_open()
            item = self._items.get(id)
            if item is None or item.queue != queue:
                return False
            self._end(item, at_us)
            return True

    def purge(self, queue: str, *, at: datetime) -> int:
        check_name("queue", queue)
        at_us = micros("at", at)
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return 0
            count = len(found.items)
            for item in list(found.items.values()):
                self._drop(item, found, at_us)
            found.heap = []  # (every entry was stale)
            self._compact_leases()
            self._forget_if_empty(queue, found)
            return count

    def dead_letters(self, queue: str, *, limit: int | None = None) -> list[DeadLetter]:
        check_name("queue", queue)
        if limit is not None:
            check_limit(limit)
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return []
            return found.dead[:limit]

    def drop_dead_letters(self, queue: str, *, before: datetime | None = None) -> int:
        check_name("queue", queue)
        cut = None if before is None else micros("before", before)
        with self._lock:
            self._check_open()
            found = self._queues.get(queue)
            if found is None:
                return 0
            kept = [] if cut is None else [d for d in found.dead if micros("at", d.at) >= cut]
            dropped = len(found.dead) - len(kept)
            found.dead = kept
            self._forget_if_empty(queue, found)
            return dropped

    # -- schedules

    def _push_schedule(self, schedule: _Schedule) -> None:
        if schedule.due is not None:
            heapq.heappush(self._schedule_heap, (schedule.due, schedule.name, schedule.gen, schedule))
            if len(self._schedule_heap) > 2 * len(self._schedules) + _COMPACT_SLACK:
                self._schedule_heap = [e for e in self._schedule_heap if e[2] == e[3].gen]
                heapq.heapify(self._schedule_heap)

    def put_schedule(self, name: str, next_fire: datetime | None, data: str) -> None:
        check_name("name", name)
        fire = None if next_fire is None else micros("next_fire", next_fire)
        check_str("data", data)
        with self._lock:
            self._check_open()
            old = self._schedules.get(name)
            if old is not None:
                old.gen = -1  # its entries and its claim are stale
            schedule = self._schedules[name] = _Schedule(name, fire, data, next(self._gens))
            self._push_schedule(schedule)

    def delete_schedule(self, name: str) -> bool:
        check_name("name", name)
        with self._lock:
            self._check_open()
            old = self._schedules.pop(name, None)
            if old is None:
                return False
            old.gen = -1
            return True

    @staticmethod
    def _stored(schedule: _Schedule) -> StoredSchedule:
        return StoredSchedule(name=schedule.name,
                              next_fire=None if schedule.next_fire is None else as_datetime(schedule.next_fire),
                              data=schedule.data, owner=schedule.owner,
                              lease_until=None if schedule.lease_until is None else as_datetime(schedule.lease_until))

    def get_schedule(self, name: str) -> StoredSchedule | None:
        check_name("name", name)
        with self._lock:
            self._check_open()
            found = self._schedules.get(name)
            return None if found is None else self._stored(found)

    def schedules(self) -> list[StoredSchedule]:
        with self._lock:
            self._check_open()
            return [self._stored(self._schedules[name]) for name in sorted(self._schedules)]

    def claim_due_schedules(self, *, now: datetime, lease: timedelta, owner: str,
                            limit: int) -> list[ScheduleClaim]:
        now_us = micros("now", now)
        until = lease_end(now_us, lease_micros("lease", lease))
        check_name("owner", owner)
        check_limit(limit)
        claimed: list[ScheduleClaim] = []
        with self._lock:
            self._check_open()
            heap = self._schedule_heap
            while heap and len(claimed) < limit:
                due, _, gen, schedule = heap[0]
                if gen != schedule.gen:
                    heapq.heappop(heap)
                    continue
                if due > now_us:
                    break
                heapq.heappop(heap)
                assert schedule.next_fire is not None  # (only a schedule with a next fire is in the heap)
                schedule.gen = next(self._gens)
                schedule.due = schedule.lease_until = until
                schedule.owner = owner
                schedule.claim = token = str(next(self._tokens))
                self._push_schedule(schedule)
                claimed.append(ScheduleClaim(name=schedule.name, next_fire=as_datetime(schedule.next_fire),
                                             data=schedule.data, owner=owner, claim=token,
                                             lease_until=as_datetime(until)))
        return claimed

    def schedule_fired(self, claim: ScheduleClaim, *, next_fire: datetime | None,
                       then: Sequence[Enqueued] = ()) -> bool:
        if not isinstance(claim, ScheduleClaim):
            raise ValidationError(f"claim must be an eventbus.ScheduleClaim, not {type(claim).__name__}")
        fire = None if next_fire is None else micros("next_fire", next_fire)
        follow = check_then(then)
        with self._lock:
            self._check_open()
            schedule = self._schedules.get(claim.name)
            if schedule is None or schedule.claim is None or schedule.claim != claim.claim:
                return False
            schedule.gen = next(self._gens)
            schedule.next_fire = schedule.due = fire
            schedule.lease_until = schedule.owner = schedule.claim = None
            self._push_schedule(schedule)
            for entry in follow:
                self._add(entry)
            return True

    def next_schedule_due(self) -> datetime | None:
        with self._lock:
            self._check_open()
            heap = self._schedule_heap
            while heap and heap[0][2] != heap[0][3].gen:
                heapq.heappop(heap)
            return as_datetime(heap[0][0]) if heap else None

    # -- configuration

    def write_config(self, changes: Mapping[str, str | None]) -> tuple[int, int]:
        checked = check_changes(changes)
        with self._lock:
            self._check_open()
            before = self._config_version
            for name, data in checked.items():
                if data is not None:
                    self._config[name] = data
                elif self._config.pop(name, None) is None:
                    continue
                self._config_version += 1
            return before, self._config_version

    def configs(self, prefix: str = "") -> dict[str, str]:
        check_str("prefix", prefix)
        with self._lock:
            self._check_open()
            return {name: self._config[name] for name in sorted(self._config) if name.startswith(prefix)}

    def config_version(self) -> int:
        with self._lock:
            self._check_open()
            return self._config_version

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
