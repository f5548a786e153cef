"""Deliveries kept in a work store, so that they outlive the process.

A runner with a ``Durable`` (a bus's targets, or a function, built with
``store=``) does not keep its pending deliveries on clock timers: each
accepted delivery is a work item of the store, written before the call that
accepted it returns (``put_events`` writes every delivery of its entries in
one transaction).  A *pump*, one timer on the clock at the store's next due
time, claims due items with a lease and runs each attempt through the
runner's own state machine (``_engine.py``); the machine's exits become
store calls: a retry hands the item back with its new due time and retry
count (``Store.retry``), a success or a dead-lettered delivery acks it, and
a dropped one is kept as a dead-letter record with its reason.

A process that dies leaves its items in the store; the next process on the
same store (or another one sharing it) claims them once their leases run
out, and delivers them again: at least once.  The event's age is checked
before every attempt, as in memory, from the time it was first accepted.

Work items carry what a delivery needs (``_encode``): the event, its body,
attributes, when it was accepted, its retry and throttle counts, its bus
hops, and who delivers it (a rule's name and the target's id; a function
delivers its own).  Rules and targets themselves are configuration, made by
the application's code when it starts: an item whose target is not (yet)
there waits for it, and is dropped with the reason once its event is too
old.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .._clock import Timer
from .._exceptions import EventBusError, ValidationError
from .._store import Enqueued, Store, Work
from .._store._protocol import EPOCH, MICROSECOND, as_datetime
from .._validate import check_instance, check_seconds
from ._engine import Job, KeptError
from ._outcomes import Outcome, log

if TYPE_CHECKING:
    from .._clock import Clock
    from ._engine import Runner

__all__ = ["BATCH", "DEFAULT_LEASE", "Durable", "check_store"]

DEFAULT_LEASE: Final = 300.0  # seconds an attempt may take before another process takes the delivery over
BATCH: Final = 100  # items claimed at once
MAX_IN_FLIGHT: Final = 1000  # claimed and not yet ended, per pump
MAX_WAITING: Final = 100_000  # deliveries accepted here and waiting in the store, followed per pump
MISSING_WAIT: Final = timedelta(seconds=60)  # how often an item whose target is not there looks again
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def check_store(value: object) -> Store | None:
    if value is None:
        return None
    store: Store = check_instance("store", value, Store, "an eventbus store (SqliteStore, MemoryStore)")
    return store


def check_lease(value: object) -> timedelta:
    seconds = check_seconds("lease", value)
    if seconds <= 0:
        raise ValidationError(f"lease must be a positive number of seconds, not {value!r}")
    return timedelta(seconds=seconds)


def check_poll(value: object) -> timedelta | None:
    if value is None:
        return None
    seconds = check_seconds("poll", value)
    if seconds <= 0:
        raise ValidationError(f"poll must be a positive number of seconds (or None), not {value!r}")
    return timedelta(seconds=seconds)


def default_owner() -> str:
    """Who claims: this host and process, and a fresh part (a process that forks or
    restarts is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _micros(when: datetime) -> int:
    return (when - EPOCH) // MICROSECOND


class Durable:
    """One runner's (or one bus's) queue of deliveries in a store, and its pump.

    ``resolve(data)`` finds the runner that delivers an item (``None``: not
    there, for now); ``store``, ``queue`` and ``owner`` say where the items
    live and who claims them; ``lease`` how long a claim lasts."""

    def __init__(self, store: Store, queue: str, clock: Clock, resolve: Callable[[dict[str, Any]], Runner | None],
                 *, lease: timedelta, owner: str | None = None, label: str,
                 poll: timedelta | None = None) -> None:
        self.store = store
        self.poll = poll  # how often to look for deliveries other processes put in the store (None: never)
        self.queue = queue
        self.clock = clock
        self.lease = lease
        self.owner = default_owner() if owner is None else owner
        self._resolve = resolve
        self._label = label
        self._lock = threading.Lock()
        self._timer_at: datetime | None = None  # when the pump's next timer fires, if one is posted
        self._in_flight = 0  # claimed here and not yet handed back or ended
        self._sweeps = 0
        # while a tick runs attempts itself (a clock that runs callbacks one at a time): the
        # deliveries that ended well, acked together when the tick ends (one transaction)
        self._acks: list[Work] | None = None
        self._ticking = 0  # the thread running that tick
        # item id -> the delivery accepted here that waits in the store (for its first attempt, or a
        # retry): claimed here, it goes on as the same job (its journey, its waiters); ended by
        # another process sharing the store, it is let go (``_hand_off``)
        self._waiting: dict[str, Job] = {}

    # -- writing ---------------------------------------------------------------
    def item(self, job: Job, key: str | None = None) -> Enqueued:
        """The work item of a delivery accepted now."""
        return Enqueued(queue=self.queue, payload=_encode(job, job.runner._who()), not_before=job.accepted_at,
                        key=key)

    def add(self, items: Sequence[Enqueued], jobs: Sequence[Job]) -> list[str | None]:
        """Write accepted deliveries (``items``, of ``jobs``; one transaction), then
        make sure the pump runs; the ids (``None`` for an item whose key the store
        remembers: a duplicate)."""
        if not items:
            return []
        ids = self.store.enqueue_many(items)
        for item_id, job in zip(ids, jobs, strict=True):
            if item_id is not None:
                self._waiting[item_id] = job
        if len(self._waiting) > MAX_WAITING:
            self._let_go(len(self._waiting) - MAX_WAITING)
        self.wake(min(item.not_before for item in items))
        return ids

    def retry(self, job: Job, delay: float) -> None:
        """Hand a claimed delivery back, due in ``delay`` seconds, with its new counts."""
        work = job.work
        assert work is not None
        job.work = None
        due = self.clock.now() + timedelta(seconds=delay)
        try:
            kept = self.store.retry(work, not_before=due, payload=_encode(job, _who(work)))
            if kept:
                self._waiting[work.id] = job
        finally:
            self._done()
        if not kept:
            log.warning("eventbus: %s: delivery %s was taken over by another claim (its lease of %s ran out); "
                        "its retry is theirs", self._label, job.id, self.lease)
        self.wake(due)

    def finish(self, job: Job, outcome: Outcome, reason: str) -> None:
        """End a claimed delivery in the store: acked, or (dropped) kept with its reason."""
        work = job.work
        if work is None:
            return
        job.work = None
        if self._acks is not None and outcome is not Outcome.DROPPED and threading.get_ident() == self._ticking:
            self._acks.append(work)  # (acked with the others when the tick ends)
            return
        try:
            if outcome is Outcome.DROPPED:
                self.store.dead_letter(work, reason=reason or "dropped", at=self.clock.now())
            else:
                self.store.ack(work, at=self.clock.now())
        except Exception as exc:  # the item stays claimed: taken over when its lease runs out
            log.error("eventbus: %s: the store could not record the end of delivery %s (%s); it will be "
                      "delivered again after its lease", self._label, job.id, exc)
        finally:
            self._done()

    def release(self, job: Job) -> None:
        """Hand a claimed delivery back as it was (the clock shut down before it ran,
        or the attempt was interrupted): due now, for whoever claims next."""
        work = job.work
        if work is None:
            return
        job.work = None
        try:
            self.store.retry(work, not_before=self.clock.now())
        except Exception as exc:
            log.error("eventbus: %s: the store could not hand delivery %s back (%s); it will be delivered after "
                      "its lease", self._label, job.id, exc)
        finally:
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            idle = self._in_flight == 0
        if idle:
            self.wake()

    # -- the pump --------------------------------------------------------------
    def wake(self, due: datetime | None = None) -> None:
        """Make sure a pump timer fires by ``due`` (when not given: by the store's
        next due time, or, polling, by the next look)."""
        looking = False  # a poll's timer stands aside: waiting for idle does not wait for it
        if due is None:
            try:
                due = self.store.next_due(self.queue)
            except EventBusError:  # (a closed store: nothing more to do)
                return
            if due is None and self._waiting:  # the queue is empty: what waits here another process made
                with self._lock:
                    busy = self._in_flight > 0
                if not busy:
                    self._let_go(len(self._waiting))
            if self.poll is not None:
                look = self.clock.now() + self.poll
                if due is None or look < due:
                    due, looking = look, True
            if due is None:
                return
        with self._lock:
            if self._timer_at is not None and self._timer_at <= due:
                return
            self._timer_at = due
        try:
            self.clock._schedule(Timer(max(due, self.clock.now()), self._tick, f"{self._label}: deliveries due",
                                       self._abandoned, is_async=False, standing=looking))
        except EventBusError:  # a closed clock: the items stay in the store for the next process
            with self._lock:
                self._timer_at = None

    def _abandoned(self, reason: str) -> None:
        with self._lock:
            self._timer_at = None

    def _tick(self) -> None:
        with self._lock:
            self._timer_at = None
            room = min(BATCH, MAX_IN_FLIGHT - self._in_flight)
        if room > 0:
            now = self.clock.now()
            self._maintain(now)
            works = self.store.claim(self.queue, now=now, limit=room, lease=self.lease, owner=self.owner)
            with self._lock:
                self._in_flight += len(works)
            inline = self.clock._one_at_a_time  # (the clock would run the attempts one by one anyway)
            if inline:
                self._acks, self._ticking = [], threading.get_ident()
            try:
                for at, work in enumerate(works):
                    try:
                        self._start(work, now, inline)
                    except BaseException:  # interrupted: the rest go back to the store as they were
                        for rest in works[at + 1:]:
                            self._release_work(rest)
                        raise
            finally:
                if inline:
                    self._flush()
            if len(works) == room:  # there may be more due now
                self.wake(now)
                return
            if not works:
                self._settle_waiting()
        with self._lock:
            busy = self._in_flight > 0
        if not busy:  # (else the end of what is in flight wakes the pump)
            self.wake()

    def _maintain(self, now: datetime) -> None:
        """Now and then: release run-out leases, forget old keys, forget dropped
        deliveries' records older than the key retention (bounded work)."""
        self._sweeps += 1
        if self._sweeps % 64 != 1:
            return
        try:
            self.store.sweep(now)
            self.store.drop_dead_letters(self.queue, before=now - self.store.key_retention)
        except Exception as exc:
            log.error("eventbus: %s: store maintenance failed: %s", self._label, exc)

    def _settle_waiting(self) -> None:
        """Nothing was due: if the store holds none of this queue's deliveries, those
        still waiting here were ended by another process sharing the store."""
        if not self._waiting:
            return
        with self._lock:
            if self._in_flight:
                return
        counts = self.store.counts(self.queue)
        if counts["ready"] + counts["leased"] == 0:
            self._let_go(len(self._waiting))

    def _let_go(self, count: int) -> None:
        """Stop following the ``count`` oldest deliveries waiting here (another process
        made them, or too many wait): they leave this process's pending count;
        whoever claims them makes them."""
        for item_id in list(self._waiting)[:count]:
            job = self._waiting.pop(item_id, None)
            if job is not None and job.work is None:
                job.runner._ledger.reject(job)

    def _flush(self) -> None:
        """Ack together the deliveries a tick ended well (one transaction)."""
        acks, self._acks = self._acks or [], None
        if not acks:
            return
        try:
            self.store.ack_many(acks)
        except Exception as exc:  # they stay claimed: taken over when their leases run out
            log.error("eventbus: %s: the store could not record the end of %d deliveries (%s); they will be "
                      "delivered again after their lease", self._label, len(acks), exc)
        finally:
            with self._lock:
                self._in_flight -= len(acks)
                idle = self._in_flight == 0
            if idle:
                self.wake()

    def _release_work(self, work: Work) -> None:
        try:
            self.store.retry(work, not_before=self.clock.now())
        except Exception as exc:
            log.error("eventbus: %s: the store could not hand work item %s back (%s)", self._label, work.id, exc)
        finally:
            self._done()

    def _start(self, work: Work, now: datetime, inline: bool = False) -> None:
        try:
            data = json.loads(work.payload)
            runner = self._resolve(data)
        except Exception as exc:  # not an item eventbus wrote: kept aside with why
            log.error("eventbus: %s: work item %s cannot be read: %s", self._label, work.id, exc)
            self.store.dead_letter(work, reason=f"unreadable work item: {exc}", at=now)
            self._done()
            return
        if runner is None:
            self._missing(work, data, now)
            return
        found = self._waiting.pop(work.id, None)
        if found is not None and found.work is None and found.runner is runner:  # accepted here: the same job
            job = found
        else:  # taken over (after a restart, or a lease that ran out)
            job = _decode(runner, data, work)
            runner._ledger.accept(job)
        job.work = work
        if inline and not runner._async:
            runner._attempt(job)
        else:
            runner._launch(job)

    def _missing(self, work: Work, data: dict[str, Any], now: datetime) -> None:
        accepted = as_datetime(data["at"])
        who = f"rule {str(data.get('r')).rpartition('/')[2]} target {data.get('t')}" if "t" in data else self._label
        if now - accepted > timedelta(seconds=data.get("age", 86_400)):
            reason = f"{who} is not there (removed, or not put back after a restart) and the event grew too old"
            log.warning("eventbus: %s: delivery %s dropped: %s", self._label, data.get("j"), reason)
            self.store.dead_letter(work, reason=reason, at=now)
        else:
            self.store.retry(work, not_before=now + MISSING_WAIT)
        self._done()


def _who(work: Work) -> dict[str, str]:
    data = json.loads(work.payload)
    return {k: data[k] for k in ("r", "t") if k in data}


def _encode(job: Job, who: dict[str, str]) -> str:
    data: dict[str, Any] = {"j": job.id, **who, "x": job.text, "at": _micros(job.accepted_at),
                            "age": job.runner.max_age}
    if job.body is not None:
        data["b"] = job.body
    if job.attributes:
        data["a"] = job.attributes
    if job.hops:
        data["h"] = job.hops
    if job.retries:
        data["n"] = job.retries
    if job.throttles:
        data["th"] = job.throttles
    if job.calls:
        data["c"] = job.calls  # (attempts made: a schedule's input and dead letters name the attempt)
    error = job.last_error
    if error is not None:
        data["e"] = (error if isinstance(error, KeptError) else KeptError(error)).parts()
    return _DUMPS(data)


def _decode(runner: Runner, data: dict[str, Any], work: Work) -> Job:
    job_id = data["j"] if work.attempts == 1 else f"{data['j']}~{work.attempts}"
    job = Job(job_id, data["x"], data.get("a"), as_datetime(data["at"]), runner, data.get("b"), None,
              data.get("h", 0))
    job.retries = data.get("n", 0)
    job.throttles = data.get("th", 0)
    job.calls = data.get("c", 0)
    if "e" in data:
        job.last_error = KeptError.restore(data["e"])
    return job
