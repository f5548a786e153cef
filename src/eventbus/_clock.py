"""Clocks: the only module that reads the time.

Every runtime object takes ``clock=``.  A clock tells the time (``now()``,
an aware UTC ``datetime``), runs callbacks later (``call_later``/``call_at``,
returning a cancellable ``Timer``) and runs work "in the background"
(``submit``).  Three kinds:

* ``ManualClock``: virtual time.  Nothing happens until ``advance()``, which
  runs every timer that falls due, in time order, in the caller's thread; the
  clock shows each timer's own time while it runs.  Tests never sleep.
* ``SystemClock``: wall time; a timer thread fires callbacks, which hand their
  work to a pool of worker threads.
* ``AsyncioClock``: wall time on a running asyncio event loop; work runs as
  tasks on that loop (``async def`` handlers are awaited there).

``shutdown()`` stops a clock: with ``drain=True`` it first lets the work that
is due run to completion; the timers not yet due are cancelled and handed
back (returned), never dropped silently.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ._exceptions import EventBusError, ValidationError

_log = logging.getLogger("eventbus.clock")

__all__ = ["AsyncioClock", "Clock", "ClockClosedError", "ManualClock", "SystemClock", "Timer", "stopwatch",
           "to_seconds"]

Callback = Callable[[], Any]


class ClockClosedError(EventBusError, RuntimeError):
    """Work was given to a clock after ``shutdown()``."""


def stopwatch() -> Callable[[], float]:
    """A function returning the seconds elapsed since ``stopwatch()`` was called
    (a monotonic performance counter, for timing demos and benchmarks)."""
    started = time.perf_counter()
    return lambda: time.perf_counter() - started


def to_seconds(delay: float | timedelta) -> float:
    """A delay as seconds; negative delays are refused."""
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if seconds < 0 or seconds != seconds:
        raise ValidationError(f"A delay must be zero or more seconds, not {delay!r}")
    return seconds


@dataclass(eq=False)
class Timer:
    """A callback scheduled on a clock.  ``cancel()`` stops it if it has not run;
    ``label`` says what it is for (shown in ``shutdown()``'s hand-back list)."""

    when: datetime
    callback: Callback
    label: str = ""
    cancelled: bool = field(default=False, init=False)
    done: bool = field(default=False, init=False)

    def cancel(self) -> bool:
        """Cancel the timer; ``False`` if it already ran."""
        if self.done:
            return False
        self.cancelled = True
        return True


def _run_callable(work: Callback) -> Any:
    """Run a callback; a coroutine it returns is run to completion."""
    result = work()
    if inspect.isawaitable(result):
        return _run_coroutine(result)
    return result


def _run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from synchronous code.  Inside a running
    event loop (a test written with ``async def``, say) it runs on a private
    loop in a helper thread, since the caller's loop cannot be re-entered."""

    async def wrapper() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(wrapper())
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    helper = threading.Thread(target=run, name="eventbus-coroutine")
    helper.start()
    helper.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class Clock:
    """The interface every clock implements."""

    def now(self) -> datetime:  # pragma: no cover - interface
        raise NotImplementedError

    def call_at(self, when: datetime, callback: Callback, *, label: str = "") -> Timer:  # pragma: no cover
        raise NotImplementedError

    def call_later(self, delay: float | timedelta, callback: Callback, *, label: str = "") -> Timer:
        return self.call_at(self.now() + timedelta(seconds=to_seconds(delay)), callback, label=label)

    def submit(self, work: Callback, *, label: str = "") -> None:
        """Run ``work`` as soon as possible, in the background for real clocks."""
        self.call_later(0, work, label=label)

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:  # pragma: no cover
        raise NotImplementedError


class ManualClock(Clock):
    """Virtual time for tests: ``advance()`` runs what falls due, in order.

    ``start`` defaults to 2024-01-01T00:00:00Z; a naive ``datetime`` is taken
    as UTC.  Callbacks run in the thread that calls ``advance``; a callback's
    coroutine result is run to completion there.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2024, 1, 1, tzinfo=UTC)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.astimezone(UTC)
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()
        self._closed = False

    def now(self) -> datetime:
        return self._now

    def call_at(self, when: datetime, callback: Callback, *, label: str = "") -> Timer:
        if self._closed:
            raise ClockClosedError("This clock has been shut down")
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        timer = Timer(max(when, self._now), callback, label)
        with self._lock:
            heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
        return timer

    def pending(self) -> list[Timer]:
        """Timers not yet run nor cancelled, earliest first."""
        with self._lock:
            return [t for _, _, t in sorted(self._heap) if not t.cancelled]

    def next_due(self) -> datetime | None:
        """When the earliest pending timer is due, if any."""
        with self._lock:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0][0] if self._heap else None

    def advance(self, delta: float | timedelta = 0) -> int:
        """Move time forward by ``delta`` (seconds or ``timedelta``), running every
        timer due by then, in time order (timers they schedule included).
        Returns how many callbacks ran."""
        return self.advance_to(self._now + timedelta(seconds=to_seconds(delta)))

    def advance_to(self, when: datetime) -> int:
        """Move time forward to ``when``, running everything due by then."""
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        ran = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > when:
                    break
                due, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, due)
            timer.done = True
            _run_callable(timer.callback)
            ran += 1
        self._now = max(self._now, when)
        return ran

    def run_until_idle(self, *, limit: datetime | None = None) -> int:
        """Advance timer by timer until nothing is pending (or ``limit`` is reached)."""
        ran = 0
        while (due := self.next_due()) is not None and (limit is None or due <= limit):
            ran += self.advance_to(due)
        return ran

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop: with ``drain`` run what is due now; return the timers not yet due.
        (A callback that raises while draining still leaves the clock closed.)"""
        try:
            if drain:
                self.advance(0)
        finally:
            self._closed = True
        with self._lock:
            left = [t for _, _, t in sorted(self._heap) if not t.cancelled]
            self._heap.clear()
        for timer in left:
            timer.cancelled = True
        return left


class SystemClock(Clock):
    """Wall time.  Timers fire on one timer thread; work runs on a pool of
    ``workers`` threads (``async def`` work gets its own event loop there)."""

    def __init__(self, *, workers: int = 8) -> None:
        if workers < 1:
            raise ValidationError("workers must be at least 1")
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eventbus-worker")
        self._heap: list[tuple[datetime, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._active = 0  # work submitted and not finished
        # timers cancelled by shutdown(), and those asked for after it
        self.handed_back: list[Timer] = []
        self._thread = threading.Thread(target=self._loop, name="eventbus-timers", daemon=True)
        self._thread.start()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callback, *, label: str = "") -> Timer:
        timer = Timer(when if when.tzinfo else when.replace(tzinfo=UTC), callback, label)
        with self._cond:
            if self._closed:
                # work still running at shutdown asks for a retry: hand it back
                timer.cancelled = True
                self.handed_back.append(timer)
                _log.warning("eventbus: clock shut down; timer handed back: %s", label or callback)
                return timer
            heapq.heappush(self._heap, (timer.when, next(self._seq), timer))
            self._cond.notify_all()  # the timer thread, and idle() waiters, share this condition
        return timer

    def submit(self, work: Callback, *, label: str = "") -> None:
        with self._cond:
            if self._closed:
                raise ClockClosedError("This clock has been shut down")
            self._active += 1
        self._hand_to_pool(work, refuse=True)

    def _hand_to_pool(self, work: Callback, *, refuse: bool = False) -> None:
        try:
            self._executor.submit(self._run, work)
        except RuntimeError:  # the pool shut down in between
            with self._cond:
                self._active -= 1
                self._cond.notify_all()
            if refuse:
                raise ClockClosedError("This clock has been shut down") from None
            _log.error("eventbus: clock shut down; work dropped by the pool: %s", work)

    def _run(self, work: Callback) -> None:
        try:
            _run_callable(work)
        except BaseException:  # a worker thread has nobody to raise to: say so
            _log.exception("eventbus: background work failed: %s", work)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > self.now()):
                    if self._heap:
                        wait = (self._heap[0][0] - self.now()).total_seconds()
                        self._cond.wait(max(wait, 0.0))
                    else:
                        self._cond.wait()
                if self._closed:
                    return
                _, _, timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    self._cond.notify_all()  # an idle() waiter may have counted it as due
                    continue
                timer.done = True
                self._active += 1
            self._hand_to_pool(timer.callback)

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until no work is running and no timer is due; ``False`` on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._active == 0 and (not self._heap or self._heap[0][0] > self.now()), timeout)

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop.  ``drain``: wait (up to ``timeout`` seconds) for due and running
        work to finish first.  Timers not yet due are cancelled and returned."""
        if drain:
            self.idle(timeout)
        with self._cond:
            self._closed = True
            left = [t for _, _, t in sorted(self._heap) if not t.cancelled]
            self._heap.clear()
            self._cond.notify_all()
        for timer in left:
            timer.cancelled = True
        self.handed_back.extend(left)
        self._thread.join(timeout)
        # work still running after ``timeout`` finishes in the background; any
        # timer it asks for lands in ``handed_back``
        self._executor.shutdown(wait=drain and timeout is None)
        return left


class AsyncioClock(Clock):
    """Wall time on an asyncio event loop (the running one by default).

    Timers use ``loop.call_at``; work runs as tasks on the loop: an
    ``async def`` callback is awaited, a plain one runs in the loop's default
    executor so that it cannot block the loop.  Create it inside the loop, or
    pass ``loop=``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._handles: dict[Timer, asyncio.TimerHandle] = {}
        self._timers: set[Timer] = set()  # not yet fired (armed or about to be)
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callback, *, label: str = "") -> Timer:
        if self._closed:
            raise ClockClosedError("This clock has been shut down")
        timer = Timer(when if when.tzinfo else when.replace(tzinfo=UTC), callback, label)
        delay = max((timer.when - self.now()).total_seconds(), 0.0)
        self._timers.add(timer)
        self._loop.call_soon_threadsafe(self._arm, timer, delay)
        return timer

    def _arm(self, timer: Timer, delay: float) -> None:
        if timer.cancelled or self._closed:
            return
        self._handles[timer] = self._loop.call_later(delay, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        self._handles.pop(timer, None)
        self._timers.discard(timer)
        if timer.cancelled:
            return
        timer.done = True
        self._start(timer.callback)

    def submit(self, work: Callback, *, label: str = "") -> None:
        # a timer due now: tracked from this moment, so idle(), aclose() and
        # shutdown() see it before the loop has started it
        self.call_at(self.now(), work, label=label)

    def _start(self, work: Callback) -> None:
        async def run() -> Any:
            if inspect.iscoroutinefunction(work):
                return await work()
            result = await self._loop.run_in_executor(None, work)
            if inspect.isawaitable(result):
                return await result
            return result

        task = self._loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no task started by this clock is running and no timer is due."""
        while True:
            now = self.now()
            due = any(not t.cancelled and t.when <= now for t in list(self._timers))
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            elif due:
                await asyncio.sleep(0)
            else:
                return

    async def aclose(self, *, drain: bool = True) -> list[Timer]:
        """Stop; with ``drain`` wait for running tasks first.  Returns the timers
        not yet due (cancelled and handed back)."""
        if drain:
            await self.idle()
        return self.shutdown(drain=False)

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop without waiting (use ``await aclose()`` to drain); returns the
        timers not yet due."""
        self._closed = True
        left = [t for t in self._timers if not t.cancelled and not t.done]
        for timer in left:
            timer.cancelled = True
            handle = self._handles.pop(timer, None)
            if handle is not None:
                handle.cancel()
        self._timers.clear()
        return sorted(left, key=lambda t: t.when)
