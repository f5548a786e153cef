"""Wall time on an asyncio event loop."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from datetime import UTC, datetime
from typing import Any

from .._exceptions import ClockClosedError, LoopBlockingError, ValidationError
from .._validate import check_instance, check_int
from ._base import Clock, Timer, abandon_all, check_timeout, log
from ._threads import _Pool

__all__ = ["AsyncioClock"]


class AsyncioClock(Clock):
    """Wall time on an asyncio event loop (the running one by default).

    ``AsyncioClock(loop=None, *, workers=8, seed=None)``.  Timers are loop
    timers.  ``async def`` callbacks run as tasks on the loop; plain ones run
    on up to ``workers`` daemon threads so that they cannot block the loop
    (nor keep the process alive).  Create it inside the loop or pass ``loop=``.
    It may be used from other threads too: scheduling is thread-safe, and
    ``idle()``/``shutdown()`` block the calling thread, never the loop (on
    the loop's own thread they raise ``LoopBlockingError``: await their
    ``_async`` twins there).  Failures of callbacks are logged, with
    traceback, on the ``eventbus.clock`` logger.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, workers: int = 8,
                 seed: int | None = None) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise ValidationError("AsyncioClock needs an event loop: create it inside async code, "
                                      "or pass loop=") from None
        self._loop: asyncio.AbstractEventLoop = check_instance("loop", loop, asyncio.AbstractEventLoop,
                                                               "<class 'asyncio.AbstractEventLoop'>")
        self._pool = _Pool(check_int("workers", workers, 1, 10_000), "eventbus-asyncio-worker")
        self._seed(seed)
        self._lock = threading.Lock()
        self._timers: set[Timer] = set()  # scheduled, not yet fired
        self._handles: dict[Timer, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<AsyncioClock tasks={len(self._tasks)} timers={len(self._timers)}{state}>"

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def closed(self) -> bool:
        return self._closed

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- scheduling -------------------------------------------------------------
    def _schedule(self, timer: Timer) -> None:
        with self._lock:
            if self._closed:
                raise ClockClosedError("This clock has been shut down")
            self._timers.add(timer)
        try:
            self._loop.call_soon_threadsafe(self._arm, timer)
        except RuntimeError:  # the loop is closed
            with self._lock:
                self._timers.discard(timer)
            raise ClockClosedError("This clock's event loop is closed") from None

    def _arm(self, timer: Timer) -> None:
        if timer.cancelled or timer not in self._timers:
            return
        delay = max((timer.when - self.now()).total_seconds(), 0.0)
        self._handles[timer] = self._loop.call_later(delay, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        self._handles.pop(timer, None)
        with self._lock:
            if timer not in self._timers:
                return
            self._timers.discard(timer)
            if timer.cancelled:
                return
            timer.done = True
        task = self._loop.create_task(self._run(timer))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._finished, timer=timer))

    async def _run(self, timer: Timer) -> Any:
        if timer.is_async:
            return await timer.callback()
        future: asyncio.Future[Any] = self._loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)

        def work() -> None:
            try:
                outcome: tuple[bool, Any] = (True, timer.callback())
            except BaseException as exc:  # handed to the loop, logged there
                outcome = (False, exc)
            try:
                self._loop.call_soon_threadsafe(settle, *outcome)
            except RuntimeError:  # the loop closed meanwhile: nobody left to tell
                if not outcome[0]:
                    log.error("eventbus: background work failed after its loop closed: %s",
                              timer.label or timer.callback, exc_info=outcome[1])

        try:
            self._pool.add(Timer(timer.when, work, timer.label), 0)
        except ClockClosedError:  # shut down between the timer firing and this task starting
            if timer.on_abandon is not None:
                timer.on_abandon("the clock was shut down")
            return None
        result = await future
        while inspect.isawaitable(result):
            result = await result
        return result

    def _finished(self, task: asyncio.Task[Any], *, timer: Timer) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            log.debug("eventbus: background work cancelled: %s", timer.label or timer.callback)
            return
        exc = task.exception()
        if exc is not None:
            log.error("eventbus: background work failed: %s", timer.label or timer.callback, exc_info=exc)

    # -- waiting and closing ------------------------------------------------------
    @staticmethod
    def _current_task() -> asyncio.Task[Any] | None:
        try:
            return asyncio.current_task()
        except RuntimeError:  # no loop running in this thread
            return None

    def _busy(self) -> bool:
        me = self._current_task()
        now = self.now()
        with self._lock:
            due = any(not t.cancelled and t.when <= now for t in self._timers)
        return due or any(t is not me for t in self._tasks)

    async def idle_async(self, timeout: float | None = None) -> bool:
        """Wait until no task of this clock runs (the caller aside) and no timer is
        due; ``False`` on timeout."""
        timeout = check_timeout(timeout)
        deadline = None if timeout is None else self._loop.time() + timeout
        while self._busy():
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                return False
            me = self._current_task()
            tasks = [t for t in self._tasks if t is not me]
            if tasks:
                await asyncio.wait(tasks, timeout=remaining)
            else:  # due timers about to fire
                await asyncio.sleep(0.001 if remaining is None else min(remaining, 0.001))
        return True

    def idle(self, timeout: float | None = None) -> bool:
        """``idle_async`` for other threads (the loop's own thread must await it)."""
        if self._on_loop_thread():
            raise LoopBlockingError("AsyncioClock.idle() would block its own event loop: "
                                    "use await clock.idle_async()")
        if not self._loop.is_running():
            return not self._busy()
        return asyncio.run_coroutine_threadsafe(self.idle_async(timeout), self._loop).result()

    def _close(self) -> list[Timer]:
        with self._lock:
            self._closed = True
            left = [t for t in self._timers if not t.done]
            self._timers.clear()
            handles = [self._handles.pop(t) for t in left if t in self._handles]
        for handle in handles:
            handle.cancel()
        abandoned = abandon_all(left, "the clock was shut down")
        me = self._current_task()
        running = sum(1 for t in self._tasks if not t.done() and t is not me)
        if running:
            log.info("eventbus: AsyncioClock shut down with %d task(s) still running; they run on to their end "
                     "(or are cancelled when the loop closes)", running)
        self._pool.close("the clock was shut down")
        return abandoned

    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop: with ``drain``, wait (up to ``timeout`` seconds) for due and running
        work first; then abandon and return what has not started."""
        if drain:
            await self.idle_async(timeout)
        return self._close()

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """``shutdown_async`` for other threads; on the loop's own thread only
        ``drain=False`` (nothing to wait for) is possible."""
        timeout = check_timeout(timeout)
        if self._on_loop_thread():
            if drain:
                raise LoopBlockingError("AsyncioClock.shutdown() would block its own event loop to drain: "
                                        "use await clock.shutdown_async() (or shutdown(drain=False))")
            return self._close()
        if not self._loop.is_running():
            return self._close()
        future = asyncio.run_coroutine_threadsafe(self.shutdown_async(drain=drain, timeout=timeout), self._loop)
        return future.result()

    def __enter__(self) -> Any:
        if self._on_loop_thread():
            raise LoopBlockingError("`with AsyncioClock()` would block its own event loop on exit: "
                                    "use `async with`")
        return self
