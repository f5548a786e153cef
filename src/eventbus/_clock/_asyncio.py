"""Wall time on an asyncio event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from datetime import UTC, datetime
from typing import Any

from .._exceptions import ClockClosedError, LoopBlockingError, ValidationError
from .._validate import check_instance, check_int
from ._base import Clock, Timer, abandon_all, check_shutdown, check_timeout, claim, log, withdraw
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
    traceback, on the ``eventbus.clock`` logger.  If the loop's tasks are
    cancelled because the loop is ending (as ``asyncio.run`` does on its way
    out) before ``shutdown()``, the clock shuts itself down, and says so.
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
        self._queued: dict[Timer, Timer] = {}  # plain callbacks waiting for a thread: pool timer -> ours
        self._idling: set[asyncio.Task[Any]] = set()  # tasks whose callback waits in idle()
        self._local = threading.local()  # .task: the task a plain callback on this thread belongs to
        self._closed = False
        self._watcher: asyncio.Task[None] | None = None
        if self._on_loop_thread():
            self._watch()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._watch)
        self._sealed = True

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<AsyncioClock tasks={len(self._tasks)} timers={len(self._timers)}{state}>"

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def closed(self) -> bool:
        return self._closed or self._loop.is_closed()

    @property
    def workers(self) -> int:
        """How many plain callbacks may run at once."""
        return self._pool.workers

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    # -- the loop ending before shutdown() ------------------------------------------
    def _watch(self) -> None:
        async def watch() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if not self._closed:
                    left = self._close("the event loop is ending")
                    log.warning("eventbus: the event loop of an AsyncioClock is ending before shutdown(); "
                                "%d timer(s) abandoned", len(left))

        self._watcher = self._loop.create_task(watch(), name="eventbus-asyncio-clock-watcher")

    # -- scheduling -------------------------------------------------------------
    def _schedule(self, timer: Timer) -> None:
        with self._lock:
            if self.closed:
                raise ClockClosedError("This clock has been shut down")
            self._timers.add(timer)
            timer._holder = self
        try:
            self._loop.call_soon_threadsafe(self._arm, timer)
        except RuntimeError:  # the loop closed in between
            with self._lock:
                self._timers.discard(timer)
            raise ClockClosedError("This clock has been shut down") from None

    def _withdraw(self, timer: Timer) -> bool | None:
        """Cancel a timer: forget it, and its loop handle, now."""
        with self._lock:
            withdrawn = withdraw(timer)
            if not withdrawn:
                return withdrawn
            self._timers.discard(timer)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to cancel
            self._loop.call_soon_threadsafe(self._unarm, timer)
        return True

    def _unarm(self, timer: Timer) -> None:
        handle = self._handles.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _arm(self, timer: Timer) -> None:
        with self._lock:
            if timer not in self._timers:  # cancelled (``_release`` took it out) or the clock closed
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
        me = asyncio.current_task()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)

        def work() -> None:
            with self._lock:
                self._queued.pop(queued, None)
            self._local.task = me
            try:
                outcome: tuple[bool, Any] = (True, timer.callback())
            except BaseException as exc:  # handed to the loop, logged there
                outcome = (False, exc)
            finally:
                self._local.task = None
            try:
                self._loop.call_soon_threadsafe(settle, *outcome)
            except RuntimeError:  # the loop closed meanwhile: nobody left to tell
                if not outcome[0]:
                    log.error("eventbus: background work failed after its loop closed: %s",
                              timer.label or timer.callback, exc_info=outcome[1])

        def abandoned(reason: str) -> None:  # shut down before a worker thread took it
            if timer.on_abandon is not None:
                timer.on_abandon(reason)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits on the future
                self._loop.call_soon_threadsafe(settle, True, None)

        queued = Timer(timer.when, work, timer.label, abandoned)
        with self._lock:
            self._queued[queued] = timer
        try:
            self._pool.add(queued, 0)
        except ClockClosedError:  # shut down between the timer firing and this task starting
            with self._lock:
                self._queued.pop(queued, None)
            abandoned("the clock was shut down")
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
    def _busy(self) -> bool:
        """Whether a timer is due or a task runs (tasks waiting in ``idle`` do not count)."""
        now = self.now()
        with self._lock:
            due = any(not t.cancelled and t.when <= now for t in self._timers)
        return due or bool(self._tasks - self._idling)

    def _caller_task(self) -> asyncio.Task[Any] | None:
        """The task the calling code runs in: the current task on the loop, or the task
        a plain callback on one of our worker threads belongs to."""
        if self._on_loop_thread():
            return asyncio.current_task()
        return getattr(self._local, "task", None)

    async def _idle(self, timeout: float | None, me: asyncio.Task[Any] | None) -> bool:
        deadline = None if timeout is None else self._loop.time() + timeout
        if me is not None:  # (the caller's own task, and others waiting here, do not count as running)
            self._idling.add(me)
        try:
            while self._busy():
                remaining = None if deadline is None else deadline - self._loop.time()
                if remaining is not None and remaining <= 0:
                    return False
                tasks = self._tasks - self._idling
                step = 0.01 if remaining is None else min(remaining, 0.01)
                if tasks:  # (woken at least every 10 ms: another task may start idling)
                    await asyncio.wait(tasks, timeout=step)
                else:  # due timers about to fire
                    await asyncio.sleep(min(step, 0.001))
            return True
        finally:
            if me is not None:
                self._idling.discard(me)

    async def idle_async(self, timeout: float | None = None) -> bool:
        """Wait until no task of this clock runs (the caller's aside, and those waiting
        in ``idle`` themselves) and no timer is due; ``False`` on timeout."""
        return await self._idle(check_timeout(timeout), asyncio.current_task())

    def idle(self, timeout: float | None = None) -> bool:
        """``idle_async`` for other threads (the loop's own thread must await it)."""
        timeout = check_timeout(timeout)
        if self._on_loop_thread():
            raise LoopBlockingError("AsyncioClock.idle() would block its own event loop: "
                                    "use await clock.idle_async()")
        if self._loop.is_closed() or not self._loop.is_running():
            return not self._busy()
        me = self._caller_task()
        with self._pool.lending():
            return asyncio.run_coroutine_threadsafe(self._idle(timeout, me), self._loop).result()

    def _waiting(self) -> contextlib.AbstractContextManager[None]:
        return self._pool.lending()

    def _close(self, reason: str = "the clock was shut down") -> list[Timer]:
        with self._lock:
            self._closed = True
            left = claim(list(self._timers))
            self._timers.clear()
        if self._on_loop_thread() or self._loop.is_closed():
            for timer in left:
                self._unarm(timer)
        abandoned = abandon_all(left, reason)
        me = self._caller_task()
        queued, _ = self._pool.close(reason)  # their owners are told through `abandoned` in _run
        with self._lock:
            waited = [self._queued.pop(q) for q in queued if q in self._queued]
            for timer in waited:  # fired, but its callback never reached a thread: handed back unstarted
                timer.cancelled = True  # (first: a concurrent cancel() then finds it cancelled, not waiting)
                timer.done, timer._holder = False, None
        abandoned += waited
        running = sum(1 for t in self._tasks if not t.done() and t is not me)
        if running and not self._loop.is_running():
            log.warning("eventbus: AsyncioClock shut down while its loop is not running; %d task(s) still "
                        "running end only if the loop runs again (asyncio.run cancels them at its end; "
                        "loop.close() does not)", running)
        else:
            log.info("eventbus: AsyncioClock shut down; %d task(s) still running run on to their end (or are "
                     "cancelled when the loop closes)", running)
        watcher = self._watcher
        if watcher is not None and watcher is not me:
            if self._on_loop_thread():
                watcher.cancel()
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop has no watcher left to stop
                    self._loop.call_soon_threadsafe(watcher.cancel)
        return sorted(abandoned, key=lambda t: t.when)

    async def _shutdown(self, drain: bool, timeout: float | None, me: asyncio.Task[Any] | None) -> list[Timer]:
        if drain:
            await self._idle(timeout, me)
        return self._close()

    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """Stop: with ``drain``, wait (up to ``timeout`` seconds) for due and running
        work first; then abandon and return what has not started."""
        timeout = check_shutdown(drain, timeout)
        return await self._shutdown(drain, timeout, asyncio.current_task())

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[Timer]:
        """``shutdown_async`` for other threads; on the loop's own thread only
        ``drain=False`` (nothing to wait for) is possible."""
        timeout = check_shutdown(drain, timeout)
        if self._on_loop_thread():
            if drain:
                raise LoopBlockingError("AsyncioClock.shutdown() would block its own event loop to drain: "
                                        "use await clock.shutdown_async() (or shutdown(drain=False))")
            return self._close()
        if self._loop.is_closed() or not self._loop.is_running():
            return self._close()
        me = self._caller_task()
        with self._pool.lending():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(drain, timeout, me), self._loop)
            return future.result()

    def __enter__(self) -> Any:
        if self._on_loop_thread():
            raise LoopBlockingError("`with AsyncioClock()` would block its own event loop on exit: "
                                    "use `async with`")
        return self
