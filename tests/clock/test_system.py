"""SystemClock: daemon workers, waits that leave the caller out, monotonic timers, no leaks."""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import Function, SystemClock, ValidationError
from eventbus._clock import _threads


def test_work_runs_concurrently_on_worker_threads() -> None:
    with SystemClock(workers=3) as clock:
        started = threading.Barrier(4, timeout=10)  # passes only with three callbacks at once
        threads: set[int] = set()

        def work() -> None:
            threads.add(threading.get_ident())
            started.wait()

        for _ in range(3):
            clock.submit(work)
        started.wait()
        assert clock.idle(timeout=10)
    assert len(threads) == 3 and threading.get_ident() not in threads


def test_async_callbacks_get_a_private_loop_on_the_worker() -> None:
    import asyncio

    seen: list[bool] = []

    async def work() -> None:
        await asyncio.sleep(0)
        seen.append(threading.current_thread().daemon)

    with SystemClock(workers=1) as clock:
        clock.submit(work)
    assert seen == [True]


def test_failures_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def boom() -> None:
        raise RuntimeError("lost?")

    with SystemClock(workers=1) as clock:
        clock.submit(boom, label="the boom")
    [record] = [r for r in caplog.records if r.name == "eventbus.clock" and r.levelno == logging.ERROR]
    assert "background work failed: the boom" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_idle_times_out_while_work_runs() -> None:
    gate = threading.Event()
    clock = SystemClock(workers=1)
    try:
        clock.submit(lambda: gate.wait(10))
        assert clock.idle(timeout=0.05) is False
    finally:
        gate.set()
        clock.shutdown()


def test_idle_and_shutdown_from_inside_a_handler_leave_the_caller_out() -> None:
    clock = SystemClock(workers=1)  # one worker: the handler's own
    seen: dict[str, Any] = {}
    queued = threading.Event()

    def handler(event: Any, context: Any) -> None:
        clock.submit(queued.set)  # waits for a free worker: the caller runs it while it waits
        seen["idle"] = clock.idle(timeout=3)
        seen["queued ran"] = queued.is_set()
        clock.call_later(3600, lambda: None, label="later")
        seen["left"] = [t.label for t in clock.shutdown(timeout=3)]

    fn = Function(handler, clock=clock)
    started = time.monotonic()
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid, timeout=10)[0].name == "SUCCEEDED"
    assert time.monotonic() - started < 2
    assert seen == {"idle": True, "queued ran": True, "left": ["later"]}
    assert clock.closed


def test_after_a_timed_out_shutdown_the_process_can_exit() -> None:
    script = textwrap.dedent("""
        import threading, time
        from eventbus import SystemClock
        clock = SystemClock(workers=2)
        started = threading.Event()
        def stuck():
            started.set()
            threading.Event().wait()  # never returns
        clock.submit(stuck)
        started.wait(10)
        t = time.monotonic()
        clock.shutdown(timeout=0.2)
        print(f"shutdown returned after {time.monotonic() - t:.1f} s")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "shutdown returned after 0.2 s" in result.stdout
    assert "still running" in result.stderr  # the warning says so


def test_dropped_clocks_do_not_leak_threads() -> None:
    gc.collect()
    before = threading.active_count()
    clocks = [SystemClock(workers=2) for _ in range(50)]
    for clock in clocks:
        clock.submit(lambda: None)
        clock.call_later(0, lambda: None)
        assert clock.idle(timeout=10)
    assert threading.active_count() > before
    del clocks, clock
    gc.collect()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


def test_timers_wait_on_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step of the wall clock (here 30 s back, once the timer is set) does not move a timer."""
    with SystemClock(workers=1) as clock:
        fired = threading.Event()
        clock.call_later(0.2, fired.set)

        class SteppedBack(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) - timedelta(seconds=30)

        monkeypatch.setattr(_threads, "datetime", SteppedBack)
        started = time.monotonic()
        assert fired.wait(5)
        assert time.monotonic() - started < 1.0
        assert clock.now() < datetime.now(UTC) - timedelta(seconds=29)  # now() is the (stepped) wall time


@pytest.mark.parametrize("workers", [0, 2.5, "3", True])
def test_workers_must_be_a_positive_int(workers: Any) -> None:
    with pytest.raises(ValidationError, match="workers"):
        SystemClock(workers=workers)


def test_timeouts_are_checked() -> None:
    with SystemClock() as clock:
        with pytest.raises(ValidationError, match="timeout"):
            clock.idle(timeout=-1)


def test_idle_does_not_wait_for_a_cancelled_timer() -> None:
    # A timer cancelled before a worker took it used to keep idle() (and a draining
    # shutdown) waiting for the whole timeout: the worker dropped it without a word.
    for _ in range(5):
        clock = SystemClock(workers=1)
        clock.submit(lambda: None)
        assert clock.idle(timeout=5)  # the worker now sleeps, waiting for work
        clock.call_later(0, print).cancel()
        started = time.monotonic()
        assert clock.idle(timeout=5)
        assert time.monotonic() - started < 2.5
        assert clock.shutdown(timeout=5) == []


class _Callback:
    def __call__(self) -> None:
        raise AssertionError("a cancelled timer ran")


def test_cancelled_ready_timers_are_forgotten_while_the_workers_are_busy() -> None:
    import weakref

    release = threading.Event()
    clock = SystemClock(workers=1)
    clock.submit(release.wait)
    refs = []
    for _ in range(1_000):
        callback = _Callback()
        refs.append(weakref.ref(callback))
        clock.call_later(0, callback).cancel()
        del callback
    alive = sum(ref() is not None for ref in refs)
    release.set()
    assert clock.idle(timeout=5)
    clock.shutdown(timeout=5)
    assert alive <= 130  # swept once more than 64 and half of those waiting are cancelled


def test_a_timer_cancelled_while_workers_start_it_either_runs_or_is_abandoned_never_both() -> None:
    n = 3_000
    ran, abandoned = [0] * n, [0] * n
    clock = SystemClock(workers=2)
    timers = []
    for i in range(n):
        def work(i: int = i) -> None:
            ran[i] += 1

        def gone(reason: str, i: int = i) -> None:
            abandoned[i] += 1

        timers.append(clock.call_later(0, work, on_abandon=gone))

    def cancel(part: list[Any]) -> None:
        for timer in part:
            timer.cancel()

    cancellers = [threading.Thread(target=cancel, args=(timers[k::2],)) for k in range(2)]
    for thread in cancellers:
        thread.start()
    for thread in cancellers:
        thread.join(10)
    assert clock.idle(timeout=10)
    clock.shutdown(timeout=5)
    assert all(r + a == 1 for r, a in zip(ran, abandoned, strict=True))
    assert [t.cancelled for t in timers] == [a == 1 for a in abandoned]


def test_async_twins_called_from_the_clock_s_own_async_callback_honour_their_arguments() -> None:
    hold, done = threading.Event(), threading.Event()
    results: list[Any] = []

    async def inside() -> None:
        started = time.monotonic()
        results.append(await clock.idle_async(timeout=0.1))  # the other callback still runs
        results.append(await clock.shutdown_async(drain=True, timeout=0.1))
        results.append(time.monotonic() - started)
        done.set()

    clock = SystemClock(workers=2)
    clock.submit(hold.wait)
    clock.call_later(3600, lambda: None, label="later")
    safety = threading.Timer(5, hold.set)  # (only a twin that ignored its timeout waits for this)
    safety.start()
    clock.submit(inside)
    assert done.wait(10)
    hold.set()
    safety.cancel()
    idle, left, elapsed = results
    assert idle is False and [t.label for t in left] == ["later"] and elapsed < 2


def test_async_twins_from_ordinary_async_code_honour_timeout_and_drain_by_default() -> None:
    async def main() -> tuple[bool, float, list[Any], list[int]]:
        hold, ran = threading.Event(), []
        clock = SystemClock(workers=1)
        clock.submit(hold.wait)
        clock.submit(lambda: ran.append(1))  # waits for the one thread
        safety = threading.Timer(5, hold.set)  # (only a twin that ignored its timeout waits for this)
        safety.start()
        started = time.monotonic()
        idle = await clock.idle_async(timeout=0.1)
        elapsed = time.monotonic() - started
        safety.cancel()
        threading.Timer(0.3, hold.set).start()  # frees the thread once the shutdown has begun
        left = await clock.shutdown_async(timeout=10)  # drains by default: waits, then runs the second
        return idle, elapsed, left, ran

    idle, elapsed, left, ran = asyncio.run(main())
    assert idle is False and elapsed < 2 and left == [] and ran == [1]


def test_a_clock_kept_alive_only_by_its_own_timer_stops_its_worker_when_dropped() -> None:
    # The last reference went with the timer, on the worker, while it held the
    # pool's lock; the finaliser then closed the pool on the same thread (it hung).
    workers: list[threading.Thread] = []
    ran = threading.Event()

    def make() -> None:
        clock = SystemClock(workers=1)

        def work() -> None:
            clock.now()
            workers.append(threading.current_thread())
            ran.set()

        clock.call_later(0.01, work)

    make()
    assert ran.wait(5)
    [worker] = workers
    worker.join(5)
    assert not worker.is_alive()
