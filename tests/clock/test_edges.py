"""The edges of the clock contract that mutation testing showed no test pinned: defaults, exact messages,
the edges of shutdown and idle, and what a cancelled or dropped clock tells its owners."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import (
    AsyncioClock,
    ClockClosedError,
    Function,
    LoopBlockingError,
    ManualClock,
    Outcome,
    SystemClock,
    Timer,
    ValidationError,
)

from ..support import ListClock, message
from .conftest import LoopThread

# -- ManualClock ------------------------------------------------------------------------


def test_manual_clock_defaults() -> None:
    clock = ManualClock()
    clock.call_later(0.5, lambda: None)
    ran: list[str] = []
    clock.submit(lambda: ran.append("now"))
    assert clock.advance() == 1 and ran == ["now"]  # advance() moves no time
    assert clock.now() == datetime(2024, 1, 1, tzinfo=UTC)
    assert [t.when for t in clock.shutdown()] == [datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)]  # drains now


def test_manual_clock_messages() -> None:
    clock = ManualClock()
    assert message(lambda: clock.advance(-1)) == (
        "ValidationError: 1 validation error detected: Value '-1' at 'delta' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0")
    assert message(lambda: clock.advance_to("x")) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter when, value: x, type: <class 'str'>, "
        "valid types: <class 'datetime.datetime'>")
    assert message(lambda: clock.shutdown(timeout="x")) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter timeout, value: x, type: <class 'str'>, "
        "valid types: <class 'int'>, <class 'float'>, <class 'datetime.timedelta'>")
    clock.shutdown()
    assert message(lambda: clock.submit(print)) == "ClockClosedError: This clock has been shut down"
    assert repr(clock) == "<ManualClock 2024-01-01T00:00:00Z, closed>"


def test_a_cancelled_first_timer_does_not_hide_the_next() -> None:
    clock = ManualClock()
    ran: list[int] = []
    clock.call_later(1, lambda: ran.append(1)).cancel()
    clock.call_later(2, lambda: ran.append(2))
    assert clock.advance(5) == 1 and ran == [2]
    assert clock.next_due() is None


def test_timer_cancel_twice_and_abandon_after_cancel_tell_the_owner_once() -> None:
    clock = ManualClock()
    told: list[str] = []
    timer = clock.call_later(5, print, on_abandon=told.append)
    assert timer.cancel() is True and timer.cancel() is True
    clock.shutdown()
    assert told == ["the timer was cancelled"]
    fn = Function(lambda e, c: 1 / 0, clock=(clock := ManualClock()))
    rid = fn.invoke({}, "Event")["RequestId"]
    clock.advance(1)
    clock.pending()[0].cancel()
    assert clock.shutdown() == []  # nothing left to hand back, nor to end twice
    assert fn.outcome(rid) == (Outcome.DROPPED, "the timer was cancelled before retry 1")


def test_loop_blocking_messages_name_each_twin() -> None:
    async def main() -> dict[str, str]:
        clock = ManualClock()

        async def work() -> None:
            return None

        def plain_returning_a_coroutine() -> Any:
            return work()

        async def handler(event: Any, context: Any) -> None:
            return None

        out: dict[str, str] = {}
        clock.submit(work)
        out["advance"] = message(clock.advance)
        out["advance_to"] = message(lambda: clock.advance_to(clock.now()))
        out["idle"] = message(clock.idle)
        out["run_until_idle"] = message(clock.run_until_idle)
        fn = Function(handler, clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        out["wait"] = message(lambda: fn.wait(rid))
        await clock.run_until_idle_async()
        clock.submit(plain_returning_a_coroutine)
        out["plain"] = message(clock.advance)
        return out

    out = asyncio.run(main())
    for name, twin in (("advance", "advance_async"), ("advance_to", "advance_to_async"), ("idle", "idle_async"),
                       ("run_until_idle", "run_until_idle_async"), ("wait", "wait_async")):
        assert out[name] == (f"LoopBlockingError: ManualClock cannot run a due async callback synchronously here: "
                             f"this thread is running an event loop, which that would block; use await "
                             f"clock.{twin}(...)"), name
    assert out["plain"] == ("LoopBlockingError: ManualClock (use advance_async) would block the running event loop "
                            "to run async work")


def test_shutdown_inside_a_loop_refuses_only_due_async_work() -> None:
    async def main() -> tuple[list[str], list[str]]:
        async def work() -> None:
            return None

        later = ManualClock()
        later.call_later(60, work, label="async, later")
        not_drained = ManualClock()
        not_drained.submit(work, label="async, due")
        return ([t.label for t in later.shutdown()], [t.label for t in not_drained.shutdown(drain=False)])

    assert asyncio.run(main()) == (["async, later"], ["async, due"])


def test_async_twins_count_and_limit() -> None:
    async def main() -> tuple[int, int, int, list[str]]:
        clock = ManualClock()
        for minute in (1, 1, 2, 3):
            clock.call_later(60 * minute, lambda: None)
        first = await clock.advance_to_async(clock.now() + timedelta(minutes=1))
        second = await clock.run_until_idle_async(limit=clock.now() + timedelta(minutes=1))
        clock.call_later(5, lambda: None, label="left")
        third = await clock.advance_async()
        left = [t.label for t in await clock.shutdown_async()]
        return first, second, third, left

    assert asyncio.run(main()) == (2, 1, 0, ["left", ""])


# -- SystemClock --------------------------------------------------------------------------


def test_system_clock_defaults_names_and_repr() -> None:
    clock = SystemClock()
    try:
        assert clock.workers == 8 and clock.seed is None
        names: list[str] = []
        clock.submit(lambda: names.append(threading.current_thread().name))
        assert clock.idle(timeout=5)
        assert names[0].startswith("eventbus-worker-")
        clock.call_later(3600, print)
        assert repr(clock).startswith("<SystemClock workers=8 threads=") and repr(clock).endswith(
            "running=0 timers=1>")
    finally:
        clock.shutdown()
    assert repr(clock).endswith("timers=0 closed>")
    assert message(lambda: SystemClock(workers=10_001)) == (
        "ValidationError: 1 validation error detected: Value '10001' at 'workers' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000")


def test_system_clock_shutdown_drains_by_default_and_honours_timeouts() -> None:
    clock = SystemClock(workers=1)
    done: list[str] = []
    def slow() -> None:
        time.sleep(0.1)
        done.append("slow")

    clock.submit(slow)
    clock.shutdown()
    assert done == ["slow"]  # drained first
    clock = SystemClock(workers=1)
    gate = threading.Event()
    clock.submit(lambda: gate.wait(5))
    started = time.monotonic()
    clock.shutdown(timeout=0.1)
    assert time.monotonic() - started < 0.5
    clock2 = SystemClock(workers=1)
    clock2.submit(lambda: gate.wait(5))
    started = time.monotonic()
    clock2.shutdown(drain=False)
    assert time.monotonic() - started < 0.5  # does not wait for the running handler
    gate.set()


def test_system_idle_waits_out_work_shorter_than_its_timeout() -> None:
    with SystemClock(workers=1) as clock:
        clock.submit(lambda: time.sleep(0.2))
        assert clock.idle(timeout=0.5) is True


def test_a_dropped_clock_tells_the_owners_of_its_timers() -> None:
    told: list[str] = []
    clock = SystemClock(workers=1)
    clock.call_later(3600, print, on_abandon=told.append)
    del clock
    gc.collect()
    assert told == ["the clock was dropped without shutdown()"]


# -- AsyncioClock ---------------------------------------------------------------------------


def test_asyncio_clock_defaults_messages_names_and_seed() -> None:
    async def main() -> tuple[int, Any, list[str], int, int]:
        async with AsyncioClock(seed=3) as clock:
            names: list[str] = []
            clock.submit(lambda: names.append(threading.current_thread().name))
            await clock.idle_async()
            other = AsyncioClock(seed=3)
            draws = clock.random().getrandbits(32), other.random().getrandbits(32)
            await other.shutdown_async()
            return clock.workers, clock.seed, names, *draws

    workers, seed, names, a, b = asyncio.run(main())
    assert (workers, seed, a) == (8, 3, b) and names[0].startswith("eventbus-asyncio-worker-")
    assert message(AsyncioClock) == ("ValidationError: AsyncioClock needs an event loop: create it inside async code, "
                                     "or pass loop=")
    assert message(lambda: AsyncioClock(loop=5)) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter loop, value: 5, type: <class 'int'>, "
        "valid types: <class 'asyncio.AbstractEventLoop'>")


def test_an_asyncio_clock_built_from_another_thread_still_notices_its_loop_ending() -> None:
    loop = LoopThread()
    clock = AsyncioClock(loop=loop.loop)
    told: list[str] = []
    clock.call_later(3600, print, on_abandon=told.append)
    loop.close()  # cancels the loop's tasks, as asyncio.run does on its way out
    assert clock.closed and told == ["the event loop is ending"]


def test_asyncio_clock_messages_and_repr() -> None:
    async def main() -> tuple[str, str, str, str]:
        clock = AsyncioClock()
        clock.call_later(3600, print)
        await asyncio.sleep(0)
        open_repr = repr(clock)
        blocked = message(clock.idle)
        clock.shutdown(drain=False)
        return open_repr, repr(clock), blocked, message(lambda: clock.submit(print))

    open_repr, closed_repr, blocked, closed = asyncio.run(main())
    assert open_repr == "<AsyncioClock tasks=0 timers=1>" and closed_repr == "<AsyncioClock tasks=0 timers=0 closed>"
    assert blocked == ("LoopBlockingError: AsyncioClock.idle() would block its own event loop: "
                       "use await clock.idle_async()")
    assert closed == "ClockClosedError: This clock has been shut down"


def test_asyncio_idle_honours_its_timeout() -> None:
    async def main() -> tuple[bool, bool]:
        async with AsyncioClock() as clock:
            gate = asyncio.Event()

            async def slow() -> None:
                await gate.wait()

            clock.submit(slow)
            timed_out = await clock.idle_async(timeout=0.02)
            gate.set()
            finished = await clock.idle_async(timeout=5)
            return timed_out, finished

    assert asyncio.run(main()) == (False, True)


def test_asyncio_shutdown_from_another_thread_after_the_loop_stopped() -> None:
    loop = LoopThread()

    async def make() -> AsyncioClock:
        return AsyncioClock()

    clock = loop.run(make())
    told: list[str] = []
    clock.call_later(3600, print, on_abandon=told.append)
    loop.loop.call_soon_threadsafe(loop.loop.stop)
    loop.thread.join(5)
    assert clock.idle() is True  # not running: answered without the loop
    assert len(clock.shutdown()) == 1 and told == ["the clock was shut down"]
    loop.loop.close()
    with pytest.raises(ClockClosedError):
        clock.submit(print)


def test_scheduling_validation_is_shared() -> None:
    assert message(lambda: ManualClock().call_later(1, print, on_abandon="x")) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter on_abandon, value: x, type: <class 'str'>, "
        "valid types: a callable")
    with pytest.raises(ValidationError, match="Invalid type for parameter drain"):
        SystemClock().shutdown(drain=None)  # type: ignore[arg-type]
    with pytest.raises(LoopBlockingError):
        async def main() -> None:
            with AsyncioClock():
                pass

        asyncio.run(main())


def test_manual_async_twins_defaults_counts_and_messages() -> None:
    async def main() -> tuple[Any, ...]:
        clock = ManualClock()
        start = clock.now()
        clock.call_later(0.5, lambda: None, label="half a second")
        clock.call_later(60, lambda: None)
        clock.call_later(120, lambda: None)
        moved = await clock.advance_async()  # no time passes by default
        bad = message(lambda: asyncio.get_running_loop() and clock.advance_async(-1).send(None))
        ran = await clock.run_until_idle_async(limit=start + timedelta(seconds=120))
        clock.call_later(0.5, lambda: None, label="after")
        left = [t.label for t in await clock.shutdown_async()]
        timeout = message(lambda: ManualClock().shutdown_async(timeout="x").send(None))  # type: ignore[arg-type]
        return moved, clock.now() - start, bad, ran, left, timeout

    moved, elapsed, bad, ran, left, timeout = asyncio.run(main())
    assert moved == 0 and ran == 3 and left == ["after"]
    assert elapsed == timedelta(seconds=120)
    assert bad == ("ValidationError: 1 validation error detected: Value '-1' at 'delta' failed to satisfy "
                   "constraint: Member must have value greater than or equal to 0")
    assert timeout.startswith("ValidationError: Invalid type for parameter timeout")


def test_run_until_and_shutdown_name_their_twins_inside_a_loop() -> None:
    async def main() -> tuple[str, str]:
        clock = ManualClock()

        async def work() -> None:
            return None

        clock.submit(work)
        return message(lambda: clock.run_until(lambda: False)), message(clock.shutdown)

    run_until, shutdown = asyncio.run(main())
    assert run_until.endswith("use await clock.run_until_idle_async(...)")
    assert shutdown.endswith("use await clock.shutdown_async(...)")


def test_next_due_and_idle_step_over_cancelled_timers() -> None:
    clock = ManualClock()
    clock.call_later(1, print).cancel()
    second = clock.call_later(2, print)
    assert clock.next_due() == second.when
    with SystemClock(workers=1) as system:
        system.call_later(3600, print).cancel()
        system.call_later(7200, print)
        assert system.idle(timeout=1) is True


def test_asyncio_idle_and_shutdown_from_another_thread_honour_timeouts() -> None:
    loop = LoopThread()
    try:
        async def make() -> AsyncioClock:
            return AsyncioClock()

        clock = loop.run(make())
        gate = threading.Event()
        clock.submit(lambda: gate.wait(5))
        started = time.monotonic()
        assert clock.idle(timeout=0.05) is False
        clock.shutdown(timeout=0.05)
        assert time.monotonic() - started < 1
        gate.set()
    finally:
        loop.close()


def test_asyncio_idle_async_waits_out_work_shorter_than_its_timeout() -> None:
    async def main() -> bool:
        async with AsyncioClock() as clock:
            async def short() -> None:
                await asyncio.sleep(0.1)

            clock.submit(short)
            return bool(await clock.idle_async(timeout=0.5))

    assert asyncio.run(main()) is True


def test_asyncio_plain_callbacks_returning_coroutines_are_awaited_and_nothing_is_kept() -> None:
    async def main() -> tuple[list[int], int, str]:
        async with AsyncioClock() as clock:
            ran: list[int] = []

            async def later(n: int) -> None:
                ran.append(n)

            for n in range(200):
                clock.call_later(0.001 * (n % 3), lambda n=n: later(n))  # plain callbacks returning coroutines
            await asyncio.sleep(0.05)
            await clock.idle_async(timeout=5)
            gc.collect()
            kept = sum(1 for o in gc.get_objects() if isinstance(o, Timer))
            return sorted(ran), kept, repr(clock)

    ran, kept, text = asyncio.run(main())
    assert ran == list(range(200)) and kept <= 2 and text == "<AsyncioClock tasks=0 timers=0>"


def test_asyncio_messages() -> None:
    async def main() -> tuple[str, str]:
        clock = AsyncioClock()
        try:
            return message(clock.shutdown), message(clock.__enter__)
        finally:
            clock.shutdown(drain=False)

    shutdown, enter = asyncio.run(main())
    assert shutdown == ("LoopBlockingError: AsyncioClock.shutdown() would block its own event loop to drain: "
                        "use await clock.shutdown_async() (or shutdown(drain=False))")
    assert enter == "LoopBlockingError: `with AsyncioClock()` would block its own event loop on exit: use `async with`"


def test_two_plain_handlers_waiting_for_quiet_on_an_asyncio_clock_both_get_it() -> None:
    async def main() -> list[Any]:
        clock = AsyncioClock(workers=2)
        fn = Function(lambda e, c: clock.idle(timeout=5), clock=clock)
        ids = [fn.invoke({}, "Event")["RequestId"] for _ in range(2)]
        started = time.monotonic()
        found = [await fn.wait_async(rid, timeout=10) for rid in ids]
        assert time.monotonic() - started < 3
        await clock.shutdown_async()
        return found

    assert asyncio.run(main()) == [(Outcome.SUCCEEDED, "")] * 2


def test_which_callables_count_as_async() -> None:
    import functools

    from eventbus._clock import is_async_callable

    async def coroutine_function() -> None:
        return None

    def plain() -> None:
        return None

    class AsyncCallable:
        async def __call__(self) -> None:
            return None

        async def method(self) -> None:
            return None

    class PlainCallable:
        def __call__(self) -> None:
            return None

    yes = [coroutine_function, functools.partial(coroutine_function), functools.partial(functools.partial(
        coroutine_function)), AsyncCallable(), AsyncCallable().method, functools.partial(AsyncCallable().method)]
    no = [plain, functools.partial(plain), PlainCallable(), print, lambda: None, AsyncCallable, len]
    assert [is_async_callable(f) for f in yes] == [True] * len(yes)
    assert [is_async_callable(f) for f in no] == [False] * len(no)


def test_naive_times_are_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        clock = ManualClock(datetime(2025, 1, 1))
        assert clock.now() == datetime(2025, 1, 1, tzinfo=UTC) and clock.now().utcoffset() == timedelta(0)
        timer = clock.call_at(datetime(2025, 1, 1, 1, 0), print)
        assert timer.when == datetime(2025, 1, 1, 1, 0, tzinfo=UTC) and timer.when.utcoffset() == timedelta(0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_manual_clock_seed_and_range_messages() -> None:
    ids = [Function(print, clock=ManualClock(seed=s)).invoke({}, "Event")["RequestId"] for s in (0, 0, 1)]
    default = Function(print, clock=ManualClock()).invoke({}, "Event")["RequestId"]
    assert ids[0] == ids[1] == default != ids[2]  # seed 0 by default
    from datetime import timezone

    east = timezone(timedelta(hours=-1))
    assert message(lambda: ManualClock(datetime.max.replace(tzinfo=east))).startswith(
        "ValidationError: start datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.timezone("
        "datetime.timedelta(days=-1, seconds=82800))) is out of range in UTC")
    last = ManualClock(datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1))
    assert message(lambda: last.advance(2)) == (
        "ValidationError: 2 s after 9999-12-31T23:59:58.999999+00:00 is past the last time a datetime can hold")
    assert ManualClock().submit(print).label == "" and ManualClock().call_at(ManualClock().now(), print).label == ""
    with pytest.raises(AttributeError, match="read-only"):
        ManualClock().seed = 5  # type: ignore[misc]

    async def asyncio_clock() -> str:
        async with AsyncioClock() as clock:
            with pytest.raises(AttributeError, match="read-only"):
                clock.seed = 5
            return message(lambda: AsyncioClock(workers=0))

    assert asyncio.run(asyncio_clock()) == (
        "ValidationError: 1 validation error detected: Value '0' at 'workers' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")
    assert message(lambda: SystemClock(seed=-1)) == (
        "ValidationError: 1 validation error detected: Value '-1' at 'seed' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0")


def test_a_thread_lent_out_during_a_wait_retires_afterwards() -> None:
    gate = threading.Event()

    one = SystemClock(workers=1)

    def waits_for_quiet() -> None:
        one.submit(gate.set)  # queued behind this very callback...
        one.idle(timeout=5)  # ...run by the thread this wait lends out

    one.submit(waits_for_quiet)
    assert gate.wait(5) and one.idle(timeout=5)
    deadline = time.monotonic() + 5
    while " threads=1 " not in repr(one) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert " threads=1 " in repr(one)  # the lent thread retired
    one.shutdown()


def test_system_clock_steps_over_cancelled_work_and_started_timers_cannot_be_cancelled() -> None:
    clock = SystemClock(workers=1)
    try:
        gate, ran = threading.Event(), []
        started = threading.Event()

        def first() -> None:
            started.set()
            gate.wait(5)

        timer = clock.submit(first)
        started.wait(5)
        assert timer.cancel() is False  # it started
        clock.submit(lambda: ran.append("cancelled")).cancel()
        clock.submit(lambda: ran.append("after the cancelled one"))
        gate.set()
        assert clock.idle(timeout=5)
        assert ran == ["after the cancelled one"]
    finally:
        clock.shutdown()


def test_system_idle_waits_for_every_running_callback() -> None:
    with SystemClock(workers=2) as clock:
        finished: list[str] = []
        clock.submit(lambda: (time.sleep(0.05), finished.append("short")))  # type: ignore[func-returns-value]
        clock.submit(lambda: (time.sleep(0.3), finished.append("long")))  # type: ignore[func-returns-value]
        time.sleep(0.01)
        assert clock.idle(timeout=5)
        assert sorted(finished) == ["long", "short"]


def test_system_shutdown_says_how_many_callbacks_still_run(caplog: pytest.LogCaptureFixture) -> None:
    clock = SystemClock(workers=1)
    gate, started = threading.Event(), threading.Event()
    clock.submit(lambda: (started.set(), gate.wait(5)))  # type: ignore[func-returns-value]
    started.wait(5)
    assert clock.shutdown(timeout=0.01) == []
    gate.set()
    assert "SystemClock shut down with 1 callback(s) still running" in caplog.text
    assert message(lambda: clock.submit(print)) == "ClockClosedError: This clock has been shut down"


def test_timers_fire_while_someone_waits_in_idle() -> None:
    with SystemClock(workers=2) as clock:
        fired, gate = threading.Event(), threading.Event()
        clock.submit(lambda: gate.wait(10))  # keeps idle() waiting
        waiter = threading.Thread(target=clock.idle, kwargs={"timeout": 10})
        waiter.start()
        clock.call_later(0, fired.set)
        assert fired.wait(5)
        gate.set()
        waiter.join(10)


def test_asyncio_shutdown_leaves_no_task_behind() -> None:
    async def main() -> tuple[list[str], str]:
        clock = AsyncioClock()
        gate = threading.Event()
        fn = Function(lambda e, c: gate.wait(5), clock=clock)
        for n in range(3):
            fn.invoke({"n": n}, "Event")
        await clock.shutdown_async(drain=False)
        gate.set()
        for _ in range(200):
            if "tasks=0" in repr(clock):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # (a cancelled task ends on the next turn of the loop)
        names = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return names, repr(clock)

    names, text = asyncio.run(main())
    assert names == [] and text == "<AsyncioClock tasks=0 timers=0 closed>"


def test_async_twins_of_the_system_and_manual_clocks() -> None:
    async def main() -> tuple[bool, list[str], bool, list[str]]:
        system = SystemClock(workers=1)
        system.submit(lambda: time.sleep(0.05))
        system.call_later(3600, print, label="later")
        quiet = await system.idle_async(timeout=5)
        left = [t.label for t in await system.shutdown_async()]
        manual = ManualClock()
        ran: list[str] = []
        manual.submit(lambda: ran.append("due"))
        return quiet, left, await manual.idle_async(), ran

    assert asyncio.run(main()) == (True, ["later"], True, ["due"])


def test_stopwatch_counts_seconds() -> None:
    from eventbus._clock import stopwatch

    elapsed = stopwatch()
    time.sleep(0.02)
    assert 0.02 <= elapsed() < 1


def test_timers_take_weak_references_and_check_is_async() -> None:
    import weakref

    clock = ManualClock()
    timer = clock.call_later(5, lambda: None)
    assert weakref.ref(timer)() is timer
    async def wake() -> None:
        pass

    assert timer.is_async is False and clock.call_later(5, wake).is_async is True
    assert Timer(clock.now(), lambda: None, is_async=True).is_async is True
    with pytest.raises(ValidationError, match="Invalid type for parameter is_async"):
        Timer(clock.now(), lambda: None, is_async="yes")  # type: ignore[arg-type]


def test_a_dropped_manual_clock_is_freed_without_the_cycle_collector() -> None:
    import weakref

    clock = ManualClock()
    clock.call_later(1, lambda: None)
    clock.advance(1)
    clock.call_later(1, lambda: None).cancel()
    ref = weakref.ref(clock)
    gc.disable()
    try:
        del clock
        assert ref() is None
    finally:
        gc.enable()


def test_asyncio_shutdown_hands_back_unstarted_plain_callbacks_as_cancelled() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def hold() -> None:
        started.set()
        release.wait()

    async def main() -> list[Timer]:
        clock = AsyncioClock(workers=1)
        clock.submit(hold)
        clock.submit(lambda: ran.append(1))
        clock.submit(lambda: ran.append(2))
        assert await asyncio.to_thread(started.wait, 10)  # the one thread is held by the first
        for _ in range(20):  # and the other two have fired, waiting for it
            await asyncio.sleep(0)
        left = await clock.shutdown_async(drain=False)
        release.set()
        return left

    left = asyncio.run(main())
    assert len(left) == 2 and ran == []
    assert [(t.cancelled, t.done) for t in left] == [(True, False), (True, False)]
    assert [t.cancel() for t in left] == [True, True]


def test_timers_handed_back_by_shutdown_do_not_keep_the_clock_alive() -> None:
    import weakref

    clock = ManualClock()
    clock.call_later(5, lambda: None)
    left = clock.shutdown()
    ref = weakref.ref(clock)
    gc.disable()
    try:
        del clock
        assert ref() is None and len(left) == 1 and left[0].cancelled
    finally:
        gc.enable()


def test_cancel_on_a_clock_that_keeps_its_own_timers() -> None:
    clock, told = ListClock(), list[str]()
    waiting = clock.call_later(5, lambda: None, on_abandon=told.append)
    started = clock.call_later(5, lambda: None, on_abandon=told.append)
    started.done = True  # (the clock started it)
    assert started.cancel() is False and started.cancelled is False
    assert waiting.cancel() is True and waiting.cancelled is True
    assert waiting.cancel() is True and told == ["the timer was cancelled"]


def test_timers_handed_back_by_shutdown_can_still_be_cancelled() -> None:
    told: list[str] = []
    for clock in (ManualClock(), SystemClock()):
        told.clear()
        clock.call_later(3600, lambda: None, on_abandon=told.append)
        [left] = clock.shutdown(timeout=5)
        assert left.cancel() is True and told == ["the clock was shut down"]


def test_a_worker_passes_over_a_cancelled_timer_to_the_next() -> None:
    ran: list[str] = []
    later: list[Timer] = []

    go = threading.Event()

    def first() -> None:
        go.wait(10)
        later[0].cancel()  # cancelled while waiting behind this callback, with one still to run

    clock = SystemClock(workers=1)
    clock.submit(first)
    later.append(clock.call_later(0, lambda: ran.append("cancelled one")))
    later.append(clock.call_later(0, lambda: ran.append("next")))
    go.set()
    assert clock.idle(timeout=5) and ran == ["next"]
    clock.shutdown(timeout=5)


def test_a_clock_whose_now_is_not_a_datetime_is_refused() -> None:
    class Broken(ListClock):
        def now(self) -> datetime:
            return "2024-01-01"  # type: ignore[return-value]

    with pytest.raises(ValidationError, match="Broken.now\\(\\) must return an aware UTC datetime, not 2024-01-01"):
        Function(lambda e, c: None, clock=Broken())


def test_shutting_down_beside_a_stopped_loop_warns_about_the_tasks_left(caplog: pytest.LogCaptureFixture) -> None:
    loop = LoopThread()
    entered, release = threading.Event(), threading.Event()

    async def handler(event: Any, context: Any) -> None:
        entered.set()
        await asyncio.to_thread(release.wait, 10)

    async def build() -> tuple[AsyncioClock, Function]:
        clock = AsyncioClock()
        return clock, Function(handler, clock=clock)

    clock, fn = loop.run(build())
    rid = fn.invoke({}, "Event")["RequestId"]
    assert entered.wait(10)
    loop.loop.call_soon_threadsafe(loop.loop.stop)
    loop.thread.join(10)
    with caplog.at_level(logging.INFO, logger="eventbus.clock"):
        assert clock.shutdown(drain=False) == []
    [record] = [r for r in caplog.records if "shut down" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("eventbus: AsyncioClock shut down while its loop is not running; 1 task(s)")
    release.set()
    loop.thread = threading.Thread(target=loop.loop.run_forever, daemon=True)  # the loop runs again:
    loop.thread.start()
    assert fn.wait(rid, timeout=10) == (Outcome.SUCCEEDED, "")  # the handler ends, and so does its delivery
    loop.close()


def test_submit_passes_on_abandon_and_manual_idle_async_keeps_time_still() -> None:
    async def main() -> tuple[list[str], datetime, datetime]:
        clock = ManualClock()
        start = clock.now()
        with pytest.raises(ValidationError, match="timeout"):
            await clock.idle_async(timeout=-1)
        assert await clock.idle_async() is True
        idled = clock.now()
        told: list[str] = []
        clock.call_later(1, lambda: None)
        clock.submit(lambda: None, on_abandon=told.append)
        await clock.shutdown_async(drain=False)
        return told, start, idled

    told, start, idled = asyncio.run(main())
    assert told == ["the clock was shut down"] and idled == start


def test_asyncio_clock_workers_are_bounded() -> None:
    async def main() -> None:
        with pytest.raises(ValidationError, match="Member must have value less than or equal to 10000"):
            AsyncioClock(workers=10_001)
        async with AsyncioClock(workers=10_000) as clock:
            assert not clock.closed

    asyncio.run(main())
