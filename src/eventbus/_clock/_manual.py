"""Virtual time for tests: nothing happens until the clock is moved."""

from __future__ import annotations

import heapq
import inspect
import threading
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from .._exceptions import ClockClosedError, LoopBlockingError, ValidationError, WaitTimeoutError
from .._validate import check_datetime
from ._base import (
    Clock,
    Timer,
    abandon_all,
    check_shutdown,
    check_timeout,
    claim,
    in_running_loop,
    later,
    run_to_completion,
    to_seconds,
    utc,
    withdraw,
)

__all__ = ["ManualClock"]

# The clock whose standing timer's callback is running in this context (thread, or
# asyncio task): what it schedules stands with it.  A context variable, so that
# another thread or task scheduling meanwhile is not taken for it.
_RUNNING_STANDING: ContextVar[ManualClock | None] = ContextVar("eventbus_running_standing", default=None)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_ASYNC_ADVICE = ("ManualClock cannot run a due async callback synchronously here: this thread is running an event "
                 "loop, which that would block; use await clock.{twin}(...)")


class ManualClock(Clock):
    """Virtual time for tests: ``advance()`` runs what falls due, in order.

    ``ManualClock(start=None, *, seed=0)``: ``start`` defaults to
    2024-01-01T00:00:00Z (a naive ``datetime`` is taken as UTC).  Callbacks run
    in the thread that moves the clock, so their exceptions come out of
    ``advance``.  ``async def`` callbacks run on a private event loop from
    ``advance``, or on the running loop from ``await advance_async(...)``.
    ``seed`` fixes the ids and jitter of everything built on this clock.
    """

    _one_at_a_time = True

    def __init__(self, start: datetime | None = None, *, seed: int | None = 0) -> None:
        if start is None:
            start = datetime(2024, 1, 1, tzinfo=UTC)
        try:
            self._now = self._start = utc(check_datetime("start", start))
        except OverflowError:  # a time zone pushes it past datetime's range
            raise ValidationError(f"start {start!r} is out of range in UTC") from None
        self._seed(seed)
        # Timers are kept in buckets, one per due instant (whole microseconds since 1970),
        # in the order they were scheduled, and a heap orders the instants.  Schedules
        # fire together (on the minute, the hour), so 100,000 schedules make a heap of
        # a few thousand instants, and scheduling a timer is mostly one append.
        self._buckets: dict[int, deque[Timer]] = {}
        self._instants: list[int] = []  # a heap of the keys of _buckets
        self._count = 0  # timers in the buckets (cancelled ones included)
        self._cancelled = 0  # timers cancelled since the buckets were last swept (some may be gone already)
        self._work = 0  # pending timers that are not standing (a schedule's next fire, or work one started)
        self._lock = threading.RLock()
        self._closed = False
        self._sealed = True

    @property
    def start(self) -> datetime:
        """Where virtual time began."""
        return self._start

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.pending())} timers pending"
        return f"<ManualClock {self._now.isoformat().replace('+00:00', 'Z')}, {state}>"

    def now(self) -> datetime:
        return self._now

    @property
    def closed(self) -> bool:
        return self._closed

    def _schedule(self, timer: Timer) -> None:
        with self._lock:
            if self._closed:
                raise ClockClosedError("This clock has been shut down")
            timer.when = max(timer.when, self._now)
            timer._holder = self
            if _RUNNING_STANDING.get() is self:
                timer.standing = True  # work a schedule started stands with it
            self._insert(timer, first=False)

    def _reinstate(self, timer: Timer) -> None:
        """Put back, first in line, a timer ``_pop_due`` handed out and that did not run."""
        with self._lock:
            timer.done = False
            self._insert(timer, first=True)

    def _insert(self, timer: Timer, *, first: bool) -> None:
        """File a timer under its instant (last of those due then, or ``first``);
        the caller holds the lock."""
        if not timer.standing:
            self._work += 1
        key = (timer.when - _EPOCH) // _MICROSECOND
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = deque((timer,))
            heapq.heappush(self._instants, key)
        elif first:
            bucket.appendleft(timer)
        else:
            bucket.append(timer)
        self._count += 1

    def _withdraw(self, timer: Timer) -> bool | None:
        """Cancel a timer; once cancelled ones are many, drop them from the heap."""
        with self._lock:
            withdrawn = withdraw(timer)
            if withdrawn:
                if not timer.standing:
                    self._work -= 1
                self._cancelled += 1
                if self._cancelled > 64 and 2 * self._cancelled > self._count:
                    self._sweep()
            return withdrawn

    def _sweep(self) -> None:
        """Drop the cancelled timers (their owners were told when they cancelled)."""
        buckets = {}
        for key, bucket in self._buckets.items():
            kept = deque(t for t in bucket if not t.cancelled)
            if kept:
                buckets[key] = kept
        self._buckets = buckets
        self._instants = list(buckets)
        heapq.heapify(self._instants)
        self._count = sum(len(bucket) for bucket in buckets.values())
        self._cancelled = 0

    def _timers(self) -> list[Timer]:
        """Every timer held, earliest first (cancelled ones included)."""
        return [t for key in sorted(self._buckets) for t in self._buckets[key]]

    def _first(self) -> Timer | None:
        """The earliest timer not cancelled (dropping the cancelled ones before it)."""
        instants, buckets = self._instants, self._buckets
        while instants:
            bucket = buckets[instants[0]]
            while bucket and bucket[0].cancelled:
                bucket.popleft()
                self._count -= 1
            if bucket:
                return bucket[0]
            del buckets[heapq.heappop(instants)]
        return None

    def pending(self) -> list[Timer]:
        """Timers not yet run nor cancelled, earliest first."""
        with self._lock:
            return [t for t in self._timers() if not t.cancelled]

    def next_due(self) -> datetime | None:
        """When the earliest pending timer is due, if any."""
        with self._lock:
            first = self._first()
            return None if first is None else first.when

    # -- moving time ----------------------------------------------------------
    def _target(self, when: datetime) -> datetime:
        when = utc(check_datetime("when", when))
        if when < self._now:
            raise ValidationError(f"advance_to({when.isoformat()}) is earlier than the clock's time "
                                  f"({self._now.isoformat()}): a ManualClock never goes back")
        return when

    def _pop_due(self, when: datetime, twin: str | None) -> Timer | None:
        """The next timer due by ``when`` (moving the clock to its time), or ``None``.
        ``twin``: refuse (before taking it) an async timer inside a running loop."""
        with self._lock:
            timer = self._first()
            if timer is None or timer.when > when:
                return None
            if twin is not None and timer.is_async and in_running_loop():
                raise LoopBlockingError(_ASYNC_ADVICE.format(twin=twin))
            key = self._instants[0]
            bucket = self._buckets[key]
            bucket.popleft()
            self._count -= 1
            if not bucket:
                del self._buckets[heapq.heappop(self._instants)]
            self._now = max(self._now, timer.when)
            timer.done = True
            if not timer.standing:
                self._work -= 1
            return timer

    def advance(self, delta: float | timedelta = 0) -> int:
        """Move time forward by ``delta`` (seconds or ``timedelta``), running every
        timer due by then, in time order (timers they schedule included).
        Returns how many callbacks ran."""
        return self._advance_to(later(self._now, to_seconds(delta, "delta")), "advance_async")

    def advance_to(self, when: datetime) -> int:
        """Move time forward to ``when``, running everything due by then."""
        return self._advance_to(when, "advance_to_async")

    def _advance_to(self, when: datetime, twin: str, *, per_instant: int | None = None) -> int:
        """``advance_to``'s loop.  ``per_instant``: give up (``WaitTimeoutError``) when
        that many callbacks in a row run at one instant: work that never settles
        (a loop with no delay in it) fails instead of hanging."""
        when = self._target(when)
        ran = 0
        instant, at_instant = None, 0
        while (timer := self._pop_due(when, twin)) is not None:
            ran += 1
            if per_instant is not None:
                at_instant = at_instant + 1 if timer.when == instant else 1
                instant = timer.when
                if at_instant > per_instant:
                    self._reinstate(timer)
                    raise WaitTimeoutError(
                        f"More than {per_instant:,} callbacks ran at {timer.when.isoformat()} without time "
                        f"moving: the work does not settle (a loop, such as a target that sends its rule the "
                        f"events it matches?); the last was {timer.label or timer.callback!r}")
            standing = self if timer.standing else None
            if _RUNNING_STANDING.get() is standing:  # (the common case: nothing to set)
                run_to_completion(timer.callback(), f"ManualClock (use {twin})")
                continue
            token = _RUNNING_STANDING.set(standing)
            try:
                run_to_completion(timer.callback(), f"ManualClock (use {twin})")
            finally:
                _RUNNING_STANDING.reset(token)
        self._now = max(self._now, when)
        return ran

    async def advance_async(self, delta: float | timedelta = 0) -> int:
        """``advance`` for async code: async callbacks are awaited on the running loop."""
        return await self.advance_to_async(later(self._now, to_seconds(delta, "delta")))

    async def advance_to_async(self, when: datetime) -> int:
        """``advance_to`` for async code: async callbacks are awaited on the running loop."""
        when = self._target(when)
        ran = 0
        while (timer := self._pop_due(when, None)) is not None:
            ran += 1
            token = _RUNNING_STANDING.set(self if timer.standing else None)
            try:
                result = timer.callback()
                while inspect.isawaitable(result):
                    result = await result
            finally:
                _RUNNING_STANDING.reset(token)
        self._now = max(self._now, when)
        return ran

    def _limit(self, limit: datetime | None) -> datetime | None:
        return None if limit is None else utc(check_datetime("limit", limit))

    def run_until_idle(self, *, limit: datetime | None = None) -> int:
        """Advance timer by timer until nothing is pending (or ``limit`` is reached).

        A schedule's next fire is always pending while the schedule lives, and
        each fire may start work (a delivery, its retries) that starts more: so
        "nothing pending" leaves them out.  Schedules' fires, and the work they
        start, run when they fall due on the way (or now), but this does not wait
        for them: it ends once the rest is done.  ``advance()`` moves schedules
        on."""
        limit = self._limit(limit)
        ran = self._advance_to(self._now, "run_until_idle_async")  # what is due now, schedules' fires too
        return ran + self.run_until(lambda: not self._work, limit=limit, twin="run_until_idle_async")

    def run_until(self, done: Callable[[], bool], *, limit: datetime | None = None,
                  twin: str = "run_until_idle_async") -> int:
        """Advance timer by timer until ``done()`` is true, nothing is pending, or
        ``limit`` is reached.  (``twin`` names the awaitable to use inside a loop.)"""
        ran = 0
        while not done() and (due := self.next_due()) is not None and (limit is None or due <= limit):
            ran += self._advance_to(due, twin)
        return ran

    async def run_until_idle_async(self, *, limit: datetime | None = None) -> int:
        """``run_until_idle`` for async code."""
        limit = self._limit(limit)
        ran = await self.advance_to_async(self._now)
        while self._work and (due := self.next_due()) is not None and (limit is None or due <= limit):
            ran += await self.advance_to_async(due)
        return ran

    # -- the contract ---------------------------------------------------------
    def idle(self, timeout: float | None = None) -> bool:
        """Run what is due now (time does not move); always ``True``."""
        check_timeout(timeout)
        self._advance_to(self._now, "idle_async")
        return True

    async def idle_async(self, timeout: float | None = None) -> bool:
        check_timeout(timeout)
        await self.advance_async(0)
        return True

    def _close(self) -> list[Timer]:
        with self._lock:
            self._closed = True
            left = claim(self._timers())
            self._buckets.clear()
            self._instants.clear()
            self._count = self._cancelled = 0
            self._work = 0
        return abandon_all(left, "the clock was shut down")

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop: with ``drain`` run what is due now; abandon and return the rest.
        (A callback that raises while draining still leaves the clock closed.)"""
        check_shutdown(drain, timeout)
        if drain and in_running_loop():
            with self._lock:
                due = [t for t in self._timers() if t.when <= self._now and not t.cancelled]
            if any(t.is_async for t in due):  # refuse before closing anything
                raise LoopBlockingError(_ASYNC_ADVICE.format(twin="shutdown_async"))
        try:
            if drain:
                self.advance(0)
        finally:
            left = self._close()
        return left

    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        check_shutdown(drain, timeout)
        try:
            if drain:
                await self.advance_async(0)
        finally:
            left = self._close()
        return left
