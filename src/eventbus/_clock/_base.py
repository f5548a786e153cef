"""The clock contract: what every clock does, and the ``Timer`` it hands out.

``Clock`` is the extension point: an abstract base class that
``ManualClock``, ``SystemClock`` and ``AsyncioClock`` implement, checked by
one shared contract test (``tests/test_clock_contract.py``).  The contract:

* ``now()`` is an aware UTC ``datetime``.
* ``call_at`` / ``call_later`` / ``submit`` schedule a *callback*: a plain
  callable, or an ``async def`` function (awaited on an event loop).  Each
  returns a ``Timer``.  ``on_abandon(reason)``, if given, is called once if
  the clock shuts down before the callback starts; delivery objects use it so
  that no accepted delivery is left pending by a shutdown.
* After ``shutdown()``, scheduling raises ``ClockClosedError``.
* ``idle(timeout)`` / ``await idle_async(timeout)`` return ``True`` once
  nothing is running and nothing is due (``False`` on timeout).
* ``shutdown(drain, timeout)`` / ``await shutdown_async(drain, timeout)``:
  with ``drain``, first let due and running work finish (up to ``timeout``
  seconds); then close, abandon every callback that has not started, and
  return those timers (handed back, for the record).
* A synchronous call that would block a running event loop, or wait for
  the caller itself, raises ``LoopBlockingError`` naming its awaitable twin
  (``ManualClock``'s ``advance``/``advance_async`` and so on).
* Clocks are context managers: ``with`` / ``async with`` shut them down on
  exit (draining on a normal exit, not after an exception).
* ``random()`` gives each runtime object its own random number generator:
  seeded from the clock's ``seed`` (fixed by default on ``ManualClock``), so
  ids and jitter repeat from run to run.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import inspect
import logging
import random
import time
import types
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar

from .._exceptions import LoopBlockingError, ValidationError
from .._validate import Sealed, check_bool, check_callable, check_datetime, check_int, check_seconds, check_str

__all__ = ["Callback", "Clock", "OnAbandon", "Timer", "abandon_all", "check_shutdown", "check_timeout", "claim",
           "compact", "in_running_loop", "is_async_callable", "later", "log", "run_to_completion", "stopwatch",
           "sweep", "to_seconds", "utc", "withdraw"]

log = logging.getLogger("eventbus.clock")

Callback = Callable[[], Any]
OnAbandon = Callable[[str], Any]


def stopwatch() -> Callable[[], float]:
    """A function returning the seconds elapsed since ``stopwatch()`` was called
    (a monotonic performance counter, for timing demos and benchmarks)."""
    started = time.perf_counter()
    return lambda: time.perf_counter() - started


def to_seconds(delay: object, name: str = "delay") -> float:
    """A delay as seconds: a finite, non-negative ``int``, ``float`` or ``timedelta``."""
    return check_seconds(name, delay)


def later(now: datetime, seconds: float) -> datetime:
    """``now`` plus ``seconds``, refused (not overflowing) past the year 9999."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        raise ValidationError(f"{seconds:g} s after {now.isoformat()} is past the last time a datetime can "
                              "hold") from None


def utc(when: datetime) -> datetime:
    """``when`` in UTC; a naive ``datetime`` is taken as UTC."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def is_async_callable(fn: object) -> bool:
    """``async def`` functions (also behind ``functools.partial`` or as bound
    methods) and objects whose ``__call__`` is one.  (The plain-function case
    is answered from the code flags directly: it is on every timer's path.)"""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, types.MethodType):
        fn = fn.__func__
    code = getattr(fn, "__code__", None)
    if isinstance(code, types.CodeType):
        return bool(code.co_flags & inspect.CO_COROUTINE)
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None) if not inspect.isroutine(fn) else None  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


def in_running_loop() -> bool:
    """Whether this thread is running an event loop right now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def run_to_completion(result: Any, what: str) -> Any:
    """``result``, or its value if it is awaitable: run to completion on a private
    event loop.  Inside a running loop that would block the loop, so it is refused
    (``what`` names the call and its awaitable twin)."""
    if result is None or not inspect.isawaitable(result):
        return result
    if in_running_loop():
        close = getattr(result, "close", None)
        if close is not None:
            close()  # never awaited: say so here rather than in a RuntimeWarning
        raise LoopBlockingError(f"{what} would block the running event loop to run async work")
    return asyncio.run(_await(result))


class _Holder(Protocol):
    """What holds a timer until it runs (a clock, or its worker pool)."""

    def _withdraw(self, timer: Timer) -> bool | None:
        """Cancel ``timer`` under the lock its runner takes it with: ``True`` if
        withdrawn now, ``False`` if it has started, ``None`` if already cancelled."""


@dataclass(eq=False, slots=True, weakref_slot=True)
class Timer:
    """A callback scheduled on a clock.  ``cancel()`` stops it if it has not started;
    ``label`` says what it is for (shown in ``shutdown()``'s hand-back list);
    ``is_async`` says whether a clock must await the callback's result (found
    from the callback unless given)."""

    when: datetime
    callback: Callback = field(repr=False)
    label: str = ""
    on_abandon: OnAbandon | None = field(default=None, repr=False)
    is_async: bool | None = field(default=None, kw_only=True, repr=False)  # set in __post_init__
    # A schedule's next fire (always one there while the schedule lives), or work one
    # started: waiting "until nothing is pending" does not wait for it
    # (``ManualClock.run_until_idle``, which marks what standing timers schedule).
    standing: bool = field(default=False, kw_only=True, repr=False)
    cancelled: bool = field(default=False, init=False)
    done: bool = field(default=False, init=False)  # started (or ran, on a ManualClock)
    # set by what holds the timer: lets it forget a cancelled timer at once
    _holder: _Holder | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.is_async is None:
            self.is_async = is_async_callable(self.callback)
        else:
            check_bool("is_async", self.is_async)

    def cancel(self) -> bool:
        """Cancel the timer; ``False`` if it already started.  Its owner is told
        (``on_abandon("the timer was cancelled")``), so a delivery whose retry
        timer is cancelled ends as dropped instead of waiting forever."""
        holder = self._holder  # (its lock makes this atomic with the clock starting the timer)
        withdrawn = withdraw(self) if holder is None else holder._withdraw(self)
        if withdrawn is not True:
            return withdrawn is None
        self._holder = None  # (a cancelled timer keeps no clock alive)
        if self.on_abandon is not None:
            self.on_abandon("the timer was cancelled")
        return True

    def abandon(self, reason: str) -> None:
        """Cancel because the clock stopped, and tell the owner.  (Clocks call it once,
        through ``abandon_all``, on the timers they claimed.)"""
        self.cancelled = True
        self._holder = None
        if self.on_abandon is not None:
            self.on_abandon(reason)


class Clock(Sealed, ABC):
    """The contract every clock honours (see the module notes); subclass it to
    bring your own clock."""

    _rng_source: random.Random | None = None
    _seed_value: int | None = None
    # Whether the clock runs its callbacks one after another in one thread (a
    # ManualClock): then work due together may share one timer at no cost in
    # parallelism (a bus hands an event's targets to one "fan-out" timer).
    _one_at_a_time: bool = False

    def _seed(self, seed: int | None) -> None:
        if seed is not None:
            self._seed_value = check_int("seed", seed, 0)
            self._rng_source = random.Random(seed)

    @property
    def seed(self) -> int | None:
        """The seed of ``random()``, if any."""
        return self._seed_value

    def _random_seed(self) -> int | None:
        """A seed for one runtime object's generator, drawn as ``random()`` draws it
        (``None``: let the operating system seed it)."""
        return None if self._rng_source is None else self._rng_source.getrandbits(64)

    def random(self) -> random.Random:
        """A new random number generator for one runtime object: derived from the
        clock's seed when it has one, else seeded by the operating system."""
        if self._rng_source is None:
            return random.Random()
        return random.Random(self._rng_source.getrandbits(64))

    @abstractmethod
    def now(self) -> datetime:
        """The time, as an aware UTC ``datetime``."""

    @property
    @abstractmethod
    def closed(self) -> bool:
        """Whether ``shutdown()`` has been called."""

    @abstractmethod
    def _schedule(self, timer: Timer) -> None:
        """Schedule a checked timer (raising ``ClockClosedError`` if closed)."""

    def call_at(self, when: datetime, callback: Callback, *, label: str = "",
                on_abandon: OnAbandon | None = None) -> Timer:
        """Run ``callback`` at ``when`` (a naive time is taken as UTC)."""
        if on_abandon is not None:
            check_callable("on_abandon", on_abandon)
        timer = Timer(utc(check_datetime("when", when)), check_callable("callback", callback),
                      check_str("label", label), on_abandon)
        self._schedule(timer)
        return timer

    def call_later(self, delay: float | timedelta, callback: Callback, *, label: str = "",
                   on_abandon: OnAbandon | None = None) -> Timer:
        """Run ``callback`` after ``delay`` (seconds or ``timedelta``, zero or more)."""
        return self.call_at(later(self.now(), to_seconds(delay)), callback, label=label, on_abandon=on_abandon)

    def submit(self, work: Callback, *, label: str = "", on_abandon: OnAbandon | None = None) -> Timer:
        """Run ``work`` as soon as possible (in the background on real clocks)."""
        return self.call_at(self.now(), work, label=label, on_abandon=on_abandon)

    def _post(self, delay: float | None, callback: Callback, label: str, on_abandon: OnAbandon,
              is_async: bool) -> None:
        """``submit`` (``delay=None``) or ``call_later`` for the runtime's own timers,
        whose arguments are known to be valid: the hot path of every delivery."""
        now = self.now()
        self._schedule(Timer(now if delay is None else later(now, delay), callback, label, on_abandon,
                             is_async=is_async))

    @abstractmethod
    def idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing runs and nothing is due; ``False`` on timeout."""

    @abstractmethod
    async def idle_async(self, timeout: float | None = None) -> bool:
        """The awaitable twin of ``idle``."""

    @abstractmethod
    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop (see the module notes); returns the timers handed back."""

    @abstractmethod
    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """The awaitable twin of ``shutdown``."""

    def _waiting(self) -> AbstractContextManager[None]:
        """Wrap a wait that blocks the calling thread (``wait()`` on a delivery): a
        clock whose worker makes the call may lend another thread out meanwhile."""
        return nullcontext()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown(drain=exc_type is None)

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.shutdown_async(drain=exc_type is None)


def check_timeout(timeout: object) -> float | None:
    return None if timeout is None else check_seconds("timeout", timeout)


def check_shutdown(drain: object, timeout: object) -> float | None:
    check_bool("drain", drain)
    return check_timeout(timeout)


HeapEntry = TypeVar("HeapEntry", bound=tuple[Any, int, Timer])


def withdraw(timer: Timer) -> bool | None:
    """The state change of ``_withdraw`` (its caller holds the lock)."""
    if timer.done:
        return False
    if timer.cancelled:
        return None
    timer.cancelled = True
    return True


def compact(heap: list[HeapEntry], cancelled: int) -> tuple[list[HeapEntry], int]:
    """A clock's heap of timers without its cancelled ones, once they are many
    (more than 64 and half the heap); returns the heap and the count left."""
    if cancelled > 64 and 2 * cancelled > len(heap):
        return sweep(heap), 0
    return heap, cancelled


def sweep(heap: list[HeapEntry]) -> list[HeapEntry]:
    """A heap of timers without its cancelled ones."""
    heap = [entry for entry in heap if not entry[2].cancelled]
    heapq.heapify(heap)
    return heap


def claim(timers: list[Timer]) -> list[Timer]:
    """Withdraw, for a closing clock, the timers neither started nor cancelled
    (its caller holds the lock its runner takes them with); returns them."""
    return [t for t in timers if withdraw(t)]


def abandon_all(timers: list[Timer], reason: str) -> list[Timer]:
    """Tell the owners of claimed ``timers`` they will never run, earliest first;
    returns them."""
    timers = sorted(timers, key=lambda t: t.when)
    for timer in timers:
        try:
            timer.abandon(reason)
        except Exception:  # one owner's failure must not keep the others from hearing
            log.exception("eventbus: abandoning %s failed", timer.label or timer.callback)
    return timers
