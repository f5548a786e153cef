"""Wall time on threads: ``SystemClock`` and the worker pool it shares with ``AsyncioClock``.

The pool is written here rather than taken from ``concurrent.futures``
for three reasons: its threads are daemons, so a handler that never returns
cannot keep the process from exiting after a timed-out ``shutdown``; a
thread can ask whether it is one of the pool's own workers, so ``idle()`` and
``shutdown()`` called from a handler leave the caller out; and timers wait on
the monotonic clock, so a step of the wall clock does not move them.
A handler that waits for other work (``idle()``, ``shutdown()``, ``wait()``)
lends its thread out meanwhile (see ``_Pool``), instead of running that work
inline, which could nest without bound.

``_Pool`` holds no reference to the clock that owns it, so a clock dropped
without ``shutdown()`` can be collected: its finaliser closes the pool and
the threads end.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime

from .._exceptions import ClockClosedError
from .._validate import check_int
from ._base import (
    Clock,
    Timer,
    abandon_all,
    check_shutdown,
    check_timeout,
    claim,
    log,
    run_to_completion,
    sweep,
    withdraw,
)

__all__ = ["SystemClock", "_Pool"]

_MAX_WAIT = 3600.0  # seconds: the longest single wait on a condition (waits loop)


class _Pool:
    """Daemon worker threads, started on demand (up to ``workers``), running
    timers from a ready queue and from a heap of monotonic deadlines.

    A callback that blocks waiting for others (``idle()``, ``shutdown()``, a
    delivery's ``wait()``) *lends out* its thread: while it waits, one more
    thread may run, so the work it waits for is never stuck behind it.  Lent
    threads retire once the wait is over and they find nothing to do.
    Callbacks waiting in ``idle()`` do not count as running for other
    ``idle()`` callers, so two handlers that both wait for quiet both see it.
    """

    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self.name = name
        # Re-entrant: a worker may drop the last reference to its clock while it holds
        # the lock (a timer's callback was all that kept the clock), and the clock's
        # finaliser then closes the pool on that same thread.
        self.lock = threading.RLock()
        self.work = threading.Condition(self.lock)  # workers wait here
        self.quiet = threading.Condition(self.lock)  # idle() waits here
        self.heap: list[tuple[float, int, Timer]] = []
        self.ready: deque[Timer] = deque()
        self.seq = itertools.count()
        self.threads: set[threading.Thread] = set()
        self.sleeping = 0  # workers waiting for work
        self.running = 0  # callbacks running now
        self.lent = 0  # callbacks blocked in a wait, each lending out its thread
        self.idling = 0  # callbacks blocked in idle() (or a draining shutdown())
        self.cancelled = 0  # timers cancelled since the heap was last swept (some may be gone already)
        self.closed = False
        self.local = threading.local()  # .depth: callbacks this thread is running for this pool

    def depth(self) -> int:
        """How many of this pool's callbacks the calling thread is inside (0 for outsiders)."""
        return getattr(self.local, "depth", 0)

    # -- scheduling (called with the lock held, except add) ------------------------
    def add(self, timer: Timer, delay: float) -> None:
        with self.lock:
            if self.closed:
                raise ClockClosedError("This clock has been shut down")
            timer._holder = self
            if delay <= 0:
                self.ready.append(timer)
            else:
                heapq.heappush(self.heap, (time.monotonic() + delay, next(self.seq), timer))
            self._spawn()
            self.work.notify()

    def _spawn(self) -> None:
        """Start a worker if work may be waiting for one and the pool has room."""
        if len(self.threads) < self.workers + self.lent and self.sleeping < len(self.ready) + (1 if self.heap else 0):
            thread = threading.Thread(target=self._serve, name=f"{self.name}-{next(self.seq)}", daemon=True)
            self.threads.add(thread)
            thread.start()

    def _withdraw(self, timer: Timer) -> bool | None:
        """Cancel a timer; once cancelled ones are many, drop them from the heap and
        the ready queue; and wake ``idle()``, which may have waited for it alone."""
        with self.lock:
            withdrawn = withdraw(timer)
            if not withdrawn:
                return withdrawn
            self.cancelled += 1
            if self.cancelled > 64 and 2 * self.cancelled > len(self.heap) + len(self.ready):
                self.heap = sweep(self.heap)
                self.ready = deque(t for t in self.ready if not t.cancelled)
                self.cancelled = 0
            self.quiet.notify_all()
            return True

    def _take(self) -> Timer | None:
        """The next callback to run (marked started), or ``None`` when the pool is
        closed or this thread is no longer needed."""
        while True:
            if self.ready:
                timer = self.ready.popleft()
                if timer.cancelled:
                    continue
                timer.done = True
                return timer
            wait = None
            if self.heap:
                deadline, _, timer = self.heap[0]
                if timer.cancelled:
                    heapq.heappop(self.heap)
                    continue
                wait = deadline - time.monotonic()
                if wait <= 0:
                    heapq.heappop(self.heap)
                    timer.done = True
                    return timer
            if self.closed or len(self.threads) > self.workers + self.lent:
                return None
            self.sleeping += 1
            try:  # (capped: a timer years away must not overflow the wait)
                self.work.wait(None if wait is None else min(wait, _MAX_WAIT))
            finally:
                self.sleeping -= 1

    def _due(self) -> bool:
        while self.ready and self.ready[0].cancelled:
            self.ready.popleft()
        while self.heap and self.heap[0][2].cancelled:
            heapq.heappop(self.heap)
        return bool(self.ready) or (bool(self.heap) and self.heap[0][0] <= time.monotonic())

    def _run(self, timer: Timer) -> None:
        """Run one callback; called with the lock held, releases it meanwhile."""
        self.running += 1
        self.local.depth = self.depth() + 1
        self.lock.release()
        try:
            if timer.is_async:
                asyncio.run(timer.callback())
            else:
                run_to_completion(timer.callback(), timer.label or "a callback")
        except BaseException:  # a worker thread has nobody to raise to: say so
            try:
                log.exception("eventbus: background work failed: %s", timer.label or timer.callback)
            except BaseException:  # pragma: no cover - logging itself failed (a recursion limit, say)
                pass
        finally:
            self.lock.acquire()
            self.running -= 1
            self.local.depth -= 1
            self.quiet.notify_all()

    def _serve(self) -> None:
        with self.lock:
            try:
                while (timer := self._take()) is not None:
                    self._run(timer)
                    del timer  # an idle thread holds on to nothing (a payload, say)
            finally:
                self.threads.discard(threading.current_thread())
                self.quiet.notify_all()

    # -- waiting and closing --------------------------------------------------
    @contextlib.contextmanager
    def lending(self, *, idling: bool = False) -> Iterator[None]:
        """Around a wait: a callback of ours lends out its thread meanwhile (and,
        waiting in ``idle()``, stops counting as running for other ``idle()`` callers)."""
        mine = self.depth()
        if not mine:
            yield
            return
        with self.lock:
            self.lent += mine
            if idling:
                self.idling += mine
                self.quiet.notify_all()
            self._spawn()
        try:
            yield
        finally:
            with self.lock:
                self.lent -= mine
                if idling:
                    self.idling -= mine

    def idle(self, timeout: float | None) -> bool:
        """Wait until nothing runs (callbacks waiting in ``idle()`` aside, the
        caller's own included) and nothing is due."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lending(idling=True), self.lock:
            while self.running > self.idling or self._due():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.quiet.wait(_MAX_WAIT if remaining is None else min(remaining, _MAX_WAIT))
            return True

    def close(self, reason: str) -> tuple[list[Timer], int]:
        """Close; abandon what has not started.  Returns the abandoned timers and
        how many callbacks (the caller's aside) are still running."""
        with self.lock:
            left = claim(list(self.ready) + [t for _, _, t in self.heap])
            self.ready.clear()
            self.heap.clear()
            self.closed = True
            self.work.notify_all()
            self.quiet.notify_all()
            still = self.running - self.depth()
        return abandon_all(left, reason), still

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        me = threading.current_thread()
        with self.lock:
            threads = [t for t in self.threads if t is not me]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _close_dropped(pool: _Pool) -> None:
    pool.close("the clock was dropped without shutdown()")


class SystemClock(Clock):
    """Wall time on worker threads.

    ``SystemClock(*, workers=8, seed=None)``: callbacks run on up to
    ``workers`` daemon threads, started as work arrives; ``async def``
    callbacks get a private event loop there.  Delays are measured on the
    monotonic clock; ``now()`` is wall time.  Failures of callbacks are logged
    (with traceback) on the ``eventbus.clock`` logger.
    """

    def __init__(self, *, workers: int = 8, seed: int | None = None) -> None:
        self._pool = _Pool(check_int("workers", workers, 1, 10_000), "eventbus-worker")
        self._seed(seed)
        self._finalizer = weakref.finalize(self, _close_dropped, self._pool)
        self._sealed = True

    @property
    def workers(self) -> int:
        """How many callbacks may run at once."""
        return self._pool.workers

    def __repr__(self) -> str:
        pool = self._pool
        state = " closed" if pool.closed else ""
        return (f"<SystemClock workers={pool.workers} threads={len(pool.threads)} running={pool.running} "
                f"timers={len(pool.ready) + len(pool.heap)}{state}>")

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def _schedule(self, timer: Timer) -> None:
        self._pool.add(timer, (timer.when - self.now()).total_seconds())

    def idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing runs and nothing is due; ``False`` on timeout.  Called
        from one of this clock's callbacks, it leaves the caller out (and any other
        callback waiting in ``idle()``), and lends out the caller's thread."""
        return self._pool.idle(check_timeout(timeout))

    def _waiting(self) -> contextlib.AbstractContextManager[None]:
        return self._pool.lending()

    async def idle_async(self, timeout: float | None = None) -> bool:
        if self._pool.depth():  # inside our own callback's private loop: nothing else runs on it
            return self.idle(timeout)
        return await asyncio.to_thread(self.idle, timeout)

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop.  ``drain``: wait (up to ``timeout`` seconds) for due and running work
        first.  Callbacks not started are abandoned and returned.  Callbacks still
        running after ``timeout`` run on to their end on daemon threads, which do
        not keep the process from exiting (nor outlive it)."""
        timeout = check_shutdown(drain, timeout)
        drained = self._pool.idle(timeout) if drain else False
        left, still = self._pool.close("the clock was shut down")
        self._finalizer.detach()
        if still:
            log.warning("eventbus: SystemClock shut down with %d callback(s) still running; they run on to "
                        "their end on daemon threads, and stop where they are if the process exits first", still)
        if drained:
            self._pool.join(1.0)
        return left

    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        if self._pool.depth():
            return self.shutdown(drain=drain, timeout=timeout)
        return await asyncio.to_thread(self.shutdown, drain=drain, timeout=timeout)
