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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .._clock import SystemClock, Timer
from .._exceptions import EventBusError, ValidationError
from .._store import Enqueued, Store, Work
from .._store._protocol import EPOCH, MICROSECOND, as_datetime
from .._validate import STORE_OBJECT, check_instance, check_not_class
from ._engine import Job, KeptError, error_text
from ._outcomes import Outcome, log

if TYPE_CHECKING:
    from .._clock import Clock
    from ._engine import Runner

__all__ = ["BATCH", "DEFAULT_LEASE", "Durable", "check_store", "durable_settings"]

DEFAULT_LEASE: Final = 300.0  # seconds an attempt may take before another process takes the delivery over
BATCH: Final = 100  # items claimed at once
MAX_IN_FLIGHT: Final = 1000  # claimed and not yet ended, per pump
MAX_WAITING: Final = 100_000  # deliveries accepted here and waiting in the store, followed per pump
MISSING_WAIT: Final = timedelta(seconds=60)  # at most, how long an item whose target is not there waits to look again
ERROR_WAIT: Final = timedelta(seconds=1)
ELSEWHERE_WAIT: Final = timedelta(seconds=1)  # a delivery for another process, handed back: due again (without poll)
ELSEWHERE_GRACE: Final = timedelta(hours=1)  # past its maximum age, how long it waits for such a process
NEVER: Final = datetime.max.replace(tzinfo=UTC)  # how long the pump waits after the store failed to answer
_LONGEST: Final = 86_400 * 365  # seconds: a lease or a poll interval of at most a year
_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def check_store(value: object) -> Store | None:
    if value is None:
        return None
    check_not_class("store", value, STORE_OBJECT)
    store: Store = check_instance("store", value, Store, "an eventbus store (SqliteStore, MemoryStore)")
    return store


def _positive(name: str, value: object, smallest: float) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float) or not smallest <= value <= _LONGEST:
        raise ValidationError(f"{name} must be a number of seconds from {smallest:g} to {_LONGEST:,}, "
                              f"not {value!r}")
    return timedelta(seconds=value)


def check_lease(value: object) -> timedelta:
    """A lease: at least a millisecond (a shorter one would run out before the attempt starts)."""
    return _positive("lease", value, 0.001)


def check_poll(value: object) -> timedelta | None:
    return None if value is None else _positive("poll", value, 0.001)


def durable_settings(store: object, lease: object, poll: object, *,
                     default_lease: float = DEFAULT_LEASE) -> tuple[Store | None, timedelta, timedelta | None]:
    """``store=``, ``lease=`` and ``poll=`` of an owner of deliveries, checked together
    once: ``lease`` and ``poll`` only mean something with a store (given without
    one they are refused, not ignored), and a store closed already is refused now
    rather than at its first write.  ``lease`` ``None``: ``default_lease``."""
    checked = check_store(store)
    length = check_lease(default_lease if lease is None else lease)
    looks = check_poll(poll)
    if checked is None:
        given = [name for name, value in (("lease", lease), ("poll", poll)) if value is not None]
        if given:
            raise ValidationError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} only used with a "
                                  "store: give store= (a SqliteStore, MemoryStore or NatsStore) as well, or leave "
                                  f"{' and '.join(given)} out")
        return None, length, looks
    try:
        checked.counts("eventbus-open-check")  # (any call: a closed store refuses it)
    except ValidationError as exc:
        raise ValidationError(f"store: {exc}") from None
    return checked, length, looks


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
    live and who claims them; ``lease`` how long a claim lasts unless renewed
    (the pump renews the leases of attempts still running when half of it is
    left); ``poll`` how often to look for what other processes put in the
    store (``None``: never)."""

    def __init__(self, store: Store, queue: str, clock: Clock, resolve: Callable[[dict[str, Any]], Runner | None],
                 *, lease: timedelta, owner: str | None = None, label: str,
                 poll: timedelta | None = None) -> None:
        self.store = store
        self.queue = queue
        self.clock = clock
        self.lease = lease
        self.poll = poll
        self.owner = default_owner() if owner is None else owner
        self._resolve = resolve
        self._label = label
        self._lock = threading.Lock()
        # held while deliveries are written to the store and followed in _waiting: a claim of one of
        # them by this pump (on another thread) waits for its job rather than taking it over
        self._handing = threading.Lock()
        self._timer: Timer | None = None  # the pump's one timer, if one is posted
        # how many deliveries may be claimed here at once: on a clock of worker threads, one fewer
        # than its threads (a claim it cannot start waits for nothing; a thread stays for the pump)
        self._cap = max(1, clock.workers - 1) if isinstance(clock, SystemClock) else MAX_IN_FLIGHT
        self._more = False  # the last claim took all it could: more may be due
        # item id -> a claim made here on a delivery whose end, with an older claim, was being
        # written (its lease ran out meanwhile): the end is written again with this one
        self._reclaimed: dict[str, Work] = {}
        self._sweeps = 0
        # item id -> the delivery claimed here whose attempt has not ended (its lease renewed while it runs)
        self._held: dict[str, Job] = {}
        # item id -> the delivery accepted here that waits in the store (for its first attempt, a
        # retry, or again after an interrupted one): claimed here, it goes on as the same job (its
        # journey, its waiters); ended by another process sharing the store, it is let go
        self._waiting: dict[str, Job] = {}
        # while a tick runs attempts itself (a clock that runs callbacks one at a time): the
        # deliveries that ended well, acked together when the tick ends (one transaction)
        self._acks: list[tuple[Work, Job]] | None = None
        self._ticking = 0  # the thread running that tick
        # set by the owner: whether this process makes deliveries of the queue at all (a bus that
        # knows none of its targets' destinations claims nothing), and what to do on each beat
        self.claiming: Callable[[], bool] = _always
        self.before: Callable[[], None] | None = None
        self._handed_back = 0  # deliveries claimed here for a target made in another process, handed back
        self._quiet_until = EPOCH  # after a tick that claimed only those: the pump looks again then, not before

    # -- writing ---------------------------------------------------------------
    def item(self, job: Job, key: str | None = None) -> Enqueued:
        """The work item of a delivery accepted now (``key``: what makes a second
        one of the same delivery a duplicate, if anything does)."""
        return Enqueued(queue=self.queue, payload=_encode(job, job.runner._who()), not_before=job.accepted_at,
                        key=key)

    def add(self, items: Sequence[Enqueued], jobs: Sequence[Job]) -> list[str | None]:
        """Write accepted deliveries (``items``, of ``jobs``; one transaction), then
        make sure the pump runs; the ids (``None`` for an item whose key the store
        remembers: a duplicate)."""
        if not items:
            return []
        with self._handing:  # (the pump, having claimed one of them meanwhile, waits to find its job)
            ids = self.store.enqueue_many(items)
            for item_id, job in zip(ids, jobs, strict=True):
                if item_id is None:
                    continue
                if job.runner._elsewhere():  # (made by a process that has its destination: not followed here)
                    job.runner._ledger.reject(job)
                else:
                    self._waiting[item_id] = job
        if len(self._waiting) > MAX_WAITING:
            self._let_go(len(self._waiting) - MAX_WAITING)
        self.wake(min(item.not_before for item in items))
        return ids

    def retry(self, job: Job, delay: float) -> None:
        """Hand a claimed delivery back, due in ``delay`` seconds, with its new counts."""
        work = self._let_out(job)
        if work is None:
            return
        due = self.clock.now() + timedelta(seconds=delay)
        try:
            payload = _encode(job, job.runner._who())
            with self._handing:
                kept = self.store.retry(work, not_before=due, payload=payload)
                again = None if kept else self._again(work)
                if again is not None:
                    kept = self.store.retry(again, not_before=due, payload=payload)
                if kept:
                    self._waiting[work.id] = job
        except Exception as exc:  # still claimed: taken over (and retried) when its lease runs out
            log.error("eventbus: %s: the store could not keep the retry of delivery %s (%s); it is made again "
                      "after its lease", self._label, job.id, error_text(exc))
            kept = False
        else:
            if not kept:
                log.warning("eventbus: %s: delivery %s was taken over by another claim (its lease ran out); its "
                            "retry is theirs", self._label, job.id)
        finally:
            self._unhold(work, job)
        self.wake(due if kept else None)

    def finish(self, job: Job, outcome: Outcome, reason: str) -> None:
        """End a claimed delivery in the store: acked, or (dropped) kept with its reason."""
        work = self._let_out(job)
        if work is None:
            return
        follow, job.then = job.then, None
        then, written = follow if follow is not None else ([], None)
        if self._acks is not None and outcome is not Outcome.DROPPED and not then \
                and threading.get_ident() == self._ticking:
            self._acks.append((work, job))  # (acked with the others when the tick ends)
            return
        try:
            ended = False
            claim: Work | None = work
            for _ in range(2):  # (again with a claim made here meanwhile, once, if the first is stale)
                if claim is None:
                    break
                if outcome is Outcome.DROPPED:
                    ended = self.store.dead_letter(claim, reason=reason or "dropped", at=self.clock.now())
                else:  # (with its dead letter, if one waits to be written with it)
                    ended = self.store.ack(claim, then=then, at=self.clock.now())
                claim = None if ended else self._again(claim)
            if ended and written is not None:
                written()
            if not ended:
                log.warning("eventbus: %s: delivery %s ended here after another claim took it over (its lease of "
                            "%s ran out: shorter than the attempt and the store's write take?): it may be made again",
                            self._label, job.id, self.lease)
        except Exception as exc:  # the item stays claimed: taken over when its lease runs out
            log.error("eventbus: %s: the store could not record the end of delivery %s (%s); it will be "
                      "delivered again after its lease", self._label, job.id, error_text(exc))
        finally:
            self._unhold(work, job)
        self._after_end()

    def release(self, job: Job) -> None:
        """Hand a claimed delivery back as it was (the clock shut down before it ran,
        or the attempt was interrupted): due now, for whoever claims next.  It stays
        pending here (in another process, or later here, it is made)."""
        work = self._let_out(job)
        if work is None:
            return
        try:
            with self._handing:
                if self.store.retry(work, not_before=self.clock.now()):
                    self._waiting[work.id] = job
        except Exception as exc:
            log.error("eventbus: %s: the store could not hand delivery %s back (%s); it will be delivered after "
                      "its lease", self._label, job.id, error_text(exc))
        finally:
            self._unhold(work, job)
        if not self.clock.closed:
            self._after_end()

    def starting(self, job: Job, now: datetime) -> bool:
        """An attempt of a claimed delivery is about to start: renew its lease if half
        of it is gone (it may have waited behind others for a thread); ``False``
        if another claim took it over meanwhile (the attempt is theirs to make)."""
        work = job.work
        if work is None or work.lease_until - now > self.lease / 2:
            return True
        until = now + self.lease
        try:
            renewed = self.store.extend(work, until=until)
        except Exception as exc:  # (the attempt goes ahead: at worst it is made twice)
            log.error("eventbus: %s: the store could not renew the lease of delivery %s (%s)", self._label, job.id,
                      error_text(exc))
            return True
        if renewed:
            job.work = replace(work, lease_until=until)
            return True
        log.warning("eventbus: %s: delivery %s waited past its lease before its attempt could start: another claim "
                    "took it over", self._label, job.id)
        self._let_out(job)
        self._unhold(work, job)
        job.runner._ledger.reject(job)
        self._after_end()
        return False

    def stuck(self, job_id: str) -> bool:
        """Whether nothing here can end the delivery any more: the clock is shut down
        and no attempt of it runs (it waits in the store, for another process)."""
        if not self.clock.closed:
            return False
        with self._lock:
            return all(job.id != job_id for job in self._held.values())

    def _let_out(self, job: Job) -> Work | None:
        """A claimed delivery's claim, taken from it as it ends or goes back (it stays
        held until the store has been told: ``_unhold``), or ``None``."""
        work = job.work
        if work is not None:
            job.work = None
        return work

    def _unhold(self, work: Work, job: Job) -> None:
        with self._lock:
            if self._held.get(work.id) is job:
                del self._held[work.id]

    def _after_end(self) -> None:
        with self._lock:
            held, more = len(self._held), self._more
        if more and held <= self._cap // 2:  # room again (for a batch: fewer claims), and more may be due
            self.wake(self.clock.now())
        elif not held:  # (the queue may be empty now)
            self.wake()

    def _again(self, work: Work) -> Work | None:
        """The claim made here on an item while its end was written with ``work`` (now
        stale), if any: the end is written again with it."""
        with self._lock:
            return self._reclaimed.pop(work.id, None)

    # -- the pump --------------------------------------------------------------
    def wake(self, due: datetime | None = None) -> None:
        """Make sure a pump timer fires by ``due`` (when not given: by the store's
        next due time, the next renewal of a held lease, or, polling, the next
        look)."""
        looking = False  # a poll's timer stands aside: waiting for idle does not wait for it
        claiming = self.claiming()
        if due is not None and not claiming:
            due = None  # (what is due is not this process's to claim: only renewals and polls)
        if due is None:
            now = self.clock.now()
            with self._lock:
                full = len(self._held) >= self._cap or not claiming
                renew = min((job.work.lease_until for job in self._held.values() if job.work is not None),
                            default=None)
            if renew is not None:
                renew -= self.lease / 2
            if not full:
                try:
                    due = self.store.next_due(self.queue)
                    if due is not None and due < self._quiet_until:  # (what is due is other processes')
                        due = self._quiet_until
                except Exception as exc:  # (a closed store; a locked file: look again soon)
                    if self.store_closed():
                        return
                    log.error("eventbus: %s: the store did not answer (%s); trying again in %s", self._label,
                              error_text(exc), ERROR_WAIT)
                    due = now + ERROR_WAIT
                if due is None and self._waiting:  # the queue is empty: what waits here another process made
                    with self._lock:
                        busy = bool(self._held)
                    if not busy:
                        self._let_go(len(self._waiting))
            if renew is not None and (due is None or renew < due):
                due = renew
            if self.poll is not None:
                look = now + self.poll
                if due is None or look < due:
                    due, looking = look, True
            if due is None:
                return
        when = max(due, self.clock.now())
        beat = _Beat(self)
        timer = Timer(when, beat, f"{self._label}: deliveries due", beat.abandoned, is_async=False, standing=looking)
        beat.timer = timer
        with self._lock:
            old = self._timer
            if old is not None and not old.done and not old.cancelled and old.when <= when:
                return  # (one comes soon enough)
            self._timer = timer
        if old is not None and not old.done:  # one pump timer at a time: the later one goes
            old.on_abandon = None
            old.cancel()
        try:
            self.clock._schedule(timer)
        except EventBusError:  # a closed clock: the items stay in the store for the next process
            with self._lock:
                if self._timer is timer:
                    self._timer = None

    def store_closed(self) -> bool:
        try:
            self.store.counts(self.queue)
        except ValidationError:
            return True
        except Exception:
            return False
        return False

    def _forget(self, timer: Timer | None) -> None:
        with self._lock:
            if self._timer is timer:
                self._timer = None

    def _tick(self, timer: Timer | None = None) -> None:
        self._forget(timer)
        if self.before is not None:
            self.before()
        with self._lock:
            room = min(BATCH, self._cap - len(self._held)) if self.claiming() else 0
        now = self.clock.now()
        try:
            self._maintain(now)
            self._renew(now)
            works = self.store.claim(self.queue, now=now, limit=room, lease=self.lease,
                                     owner=self.owner) if room > 0 else []
        except Exception as exc:  # (a locked file, a full disk...): the pump goes on
            if self.store_closed():
                return
            log.error("eventbus: %s: the store could not be read (%s); trying again in %s", self._label,
                      error_text(exc), ERROR_WAIT)
            self.wake(now + ERROR_WAIT)
            return
        handed = self._handed_back
        inline = self.clock._one_at_a_time  # (the clock would run the attempts one by one anyway)
        if inline:
            self._acks, self._ticking = [], threading.get_ident()
        try:
            for at, work in enumerate(works):
                try:
                    self._start(work, now, inline)
                except Exception as exc:  # (what the store said could not be done with it): back, for later
                    log.error("eventbus: %s: work item %s could not be started (%s)", self._label, work.id,
                              error_text(exc))
                    self._release_work(work)
                except BaseException:  # interrupted: the rest go back to the store as they were
                    for rest in works[at + 1:]:
                        self._release_work(rest)
                    raise
        finally:
            if inline:
                self._flush()
        self._more = bool(works) and len(works) == room
        if works and self._handed_back - handed == len(works):  # all for other processes: not again at once
            self._quiet_until = now + (self.poll or ELSEWHERE_WAIT)
            self._more = False
        if self._more:  # there may be more due now
            self.wake(now)
            return
        if not works:
            try:
                self._settle_waiting()
            except Exception as exc:
                log.error("eventbus: %s: the store could not be read (%s)", self._label, error_text(exc))
        self.wake()

    def _renew(self, now: datetime) -> None:
        """Renew the leases of attempts still running here with half their lease left."""
        with self._lock:
            due = [job for job in self._held.values() if job.work is not None
                   and job.work.lease_until - now <= self.lease / 2]
        for job in due:
            work = job.work
            if work is None:
                continue
            until = now + self.lease
            if self.store.extend(work, until=until):
                job.work = replace(work, lease_until=until)
            else:  # (not renewed again: its end will find the claim stale)
                job.work = replace(work, lease_until=NEVER)
                log.warning("eventbus: %s: the lease of delivery %s ran out before it was renewed: another claim "
                            "took it over", self._label, job.id)

    def _maintain(self, now: datetime) -> None:
        """Now and then: release run-out leases, forget old keys, forget dropped
        deliveries' records older than the key retention (bounded work)."""
        self._sweeps += 1
        if self._sweeps % 64 != 1:
            return
        self.store.sweep(now)
        self.store.drop_dead_letters(self.queue, before=now - self.store.key_retention)

    def _settle_waiting(self) -> None:
        """Nothing was due: if the store holds none of this queue's deliveries, those
        still waiting here were ended by another process sharing the store."""
        if not self._waiting:
            return
        with self._lock:
            if self._held:
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
            for (work, _), ended in zip(acks, self.store.ack_many([work for work, _ in acks]), strict=True):
                again = None if ended else self._again(work)
                if again is not None:
                    self.store.ack(again, at=again.claimed_at)
        except Exception as exc:  # they stay claimed: taken over when their leases run out
            log.error("eventbus: %s: the store could not record the end of %d deliveries (%s); they will be "
                      "delivered again after their lease", self._label, len(acks), error_text(exc))
        finally:
            for work, job in acks:
                self._unhold(work, job)

    def _release_work(self, work: Work) -> None:
        try:
            self.store.retry(work, not_before=self.clock.now())
        except Exception as exc:
            log.error("eventbus: %s: the store could not hand work item %s back (%s)", self._label, work.id,
                      error_text(exc))

    def _start(self, work: Work, now: datetime, inline: bool = False) -> None:
        with self._lock:
            running = self._held.get(work.id)
        if running is not None:  # its attempt still runs here: its lease ran out before it was renewed
            if running.work is not None:
                running.work = work  # (the new claim is the one that counts)
            else:  # its end is being written with the old claim: written again with this one if need be
                with self._lock:
                    if len(self._reclaimed) >= MAX_IN_FLIGHT:
                        self._reclaimed.clear()
                    self._reclaimed[work.id] = work
            return
        with self._handing:  # (a delivery written here a moment ago: its job is in _waiting once this is free)
            found = self._waiting.pop(work.id, None)
        try:
            data = json.loads(work.payload)
            # accepted here: the same job, made by the target it was accepted by (as in memory, even if
            # that target was replaced or its rule or schedule removed since); else the one configured now
            runner = found.runner if found is not None and found.work is None else self._resolve(data)
        except Exception as exc:  # not an item eventbus wrote: kept aside with why
            log.error("eventbus: %s: work item %s cannot be read: %s", self._label, work.id, exc)
            self.store.dead_letter(work, reason=f"unreadable work item: {exc}", at=now)
            return
        if runner is not None and runner._elsewhere():  # (for a process that knows its destination)
            self._elsewhere(work, data, now)
            return
        if runner is None:
            if found is not None:
                self._waiting[work.id] = found
            self._missing(work, data, now)
            return
        if found is not None and found.runner is runner:
            job = found  # (its counts as the store has them: another process may have made attempts since)
            job.retries, job.throttles = data.get("n", 0), data.get("th", 0)
            job.calls = max(job.calls, data.get("c", 0))
        else:  # taken over (after a restart, or from another process)
            job = _decode(runner, data)
            runner._ledger.accept(job)
        job.work = work
        with self._lock:
            self._held[work.id] = job
        if inline and not runner._async:
            runner._attempt(job)
        else:
            runner._launch(job)

    def _missing(self, work: Work, data: dict[str, Any], now: datetime) -> None:
        """An item whose target is not there (not put back yet, after a restart; or
        removed): it looks again, sooner at first, until its event is too old."""
        accepted = as_datetime(data["at"])
        owner = str(data.get("r"))
        kind = "schedule" if ":scheduler:" in owner else "rule"
        who = f"{kind} {owner.rpartition('/')[2]} target {data.get('t')}" if "t" in data else self._label
        if now - accepted > timedelta(seconds=data.get("age", 86_400)):
            reason = f"{who} is not there (removed, or not put back after a restart) and the event grew too old"
            log.warning("eventbus: %s: delivery %s dropped: %s", self._label, data.get("j"), reason)
            self.store.dead_letter(work, reason=reason, at=now)
        else:
            wait = min(MISSING_WAIT, timedelta(seconds=2 ** min(work.attempts, 6)))
            self.store.retry(work, not_before=now + wait)


    def _elsewhere(self, work: Work, data: dict[str, Any], now: datetime) -> None:
        """An item whose target's destination is in another process: handed back at
        once, as due as it was (not backed off: the process that knows the
        destination takes it when it next looks; this pump looks again a poll
        later).  Dropped with why only if no such process took it within its
        event's maximum age and an hour more."""
        self._handed_back += 1
        accepted = as_datetime(data["at"])
        if now - accepted > timedelta(seconds=data.get("age", 86_400)) + ELSEWHERE_GRACE:
            reason = (f"rule {str(data.get('r')).rpartition('/')[2]} target {data.get('t')}: no process that knows "
                      "its destination took it before its event grew too old")
            log.warning("eventbus: %s: delivery %s dropped: %s", self._label, data.get("j"), reason)
            self.store.dead_letter(work, reason=reason, at=now)
            return
        self.store.retry(work, not_before=work.not_before)


def _always() -> bool:
    return True


class _Beat:
    """A pump timer's callback: it knows its timer, so that only the latest one
    counts as the pump's."""

    __slots__ = ("durable", "timer")

    def __init__(self, durable: Durable) -> None:
        self.durable = durable
        self.timer: Timer | None = None

    def __call__(self) -> None:
        self.durable._tick(self.timer)

    def abandoned(self, reason: str) -> None:
        self.durable._forget(self.timer)


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


def _decode(runner: Runner, data: dict[str, Any]) -> Job:
    job = Job(data["j"], data["x"], data.get("a"), as_datetime(data["at"]), runner, data.get("b"), None,
              data.get("h", 0))
    job.retries = data.get("n", 0)
    job.throttles = data.get("th", 0)
    job.calls = data.get("c", 0)
    if "e" in data:
        job.last_error = KeptError.restore(data["e"])
    return job
