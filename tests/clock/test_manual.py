"""ManualClock: virtual time runs due timers in order, in the caller's thread or on its loop."""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from eventbus import Function, LoopBlockingError, ManualClock, Timer, ValidationError


def test_starts_where_told_and_is_utc() -> None:
    assert ManualClock().now() == datetime(2024, 1, 1, tzinfo=UTC)
    assert ManualClock(datetime(2025, 6, 1, 12, 0)).now() == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    india = timezone(timedelta(hours=5, minutes=30))
    clock = ManualClock(datetime(2024, 1, 1, 7, 0, tzinfo=india))
    assert clock.now() == datetime(2024, 1, 1, 1, 30, tzinfo=UTC) and clock.now().utcoffset() == timedelta(0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start": "2024-01-01T00:00:00Z"}, "Invalid type for parameter start"),
    ({"seed": -1}, "Value '-1' at 'seed'"),
    ({"seed": 1.5}, "Invalid type for parameter seed"),
])
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ManualClock(**kwargs)


def test_advance_runs_due_timers_in_time_order_at_their_own_time() -> None:
    clock = ManualClock()
    seen: list[tuple[str, datetime]] = []
    start = clock.now()
    clock.call_later(30, lambda: seen.append(("b", clock.now())))
    clock.call_later(10, lambda: seen.append(("a", clock.now())))
    clock.call_later(timedelta(minutes=5), lambda: seen.append(("late", clock.now())), label="late")
    assert clock.advance(60) == 2
    assert seen == [("a", start + timedelta(seconds=10)), ("b", start + timedelta(seconds=30))]
    assert clock.now() == start + timedelta(seconds=60)
    assert [t.label for t in clock.pending()] == ["late"]
    assert clock.next_due() == start + timedelta(minutes=5)
    clock.advance(240)
    assert seen[-1] == ("late", start + timedelta(minutes=5))
    assert clock.next_due() is None


def test_timers_scheduled_by_callbacks_run_within_the_same_advance() -> None:
    clock = ManualClock()
    ticks: list[float] = []
    start = clock.now()

    def tick() -> None:
        ticks.append((clock.now() - start).total_seconds())
        if len(ticks) < 5:
            clock.call_later(1, tick)

    clock.call_later(1, tick)
    clock.advance(3.5)
    assert ticks == [1, 2, 3]
    assert clock.run_until_idle() == 2
    assert ticks == [1, 2, 3, 4, 5]


def test_run_until_idle_stops_at_the_limit() -> None:
    clock = ManualClock()
    seen: list[int] = []
    for minute in (1, 2, 3):
        clock.call_later(60 * minute, functools.partial(seen.append, minute))
    assert clock.run_until_idle(limit=clock.now() + timedelta(minutes=2)) == 2
    assert seen == [1, 2]


def test_equal_times_run_in_scheduling_order() -> None:
    clock = ManualClock()
    seen: list[int] = []
    for i in range(5):
        clock.call_later(5, functools.partial(seen.append, i))
    clock.advance(5)
    assert seen == [0, 1, 2, 3, 4]


def test_callbacks_run_in_the_caller_thread_and_async_ones_complete() -> None:
    clock = ManualClock()
    threads: list[int] = []
    done: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)
        done.append("async")

    clock.submit(lambda: threads.append(threading.get_ident()))
    clock.submit(work)
    clock.advance(0)
    assert threads == [threading.get_ident()]
    assert done == ["async"]


def test_a_callback_error_comes_out_of_advance() -> None:
    clock = ManualClock()

    def boom() -> None:
        raise RuntimeError("in a callback")

    clock.submit(boom)
    with pytest.raises(RuntimeError, match="in a callback"):
        clock.advance(0)
    assert clock.pending() == []  # it ran (and failed); it is not run twice


@pytest.mark.parametrize("delta", [-1, math.inf, "5", timedelta(seconds=-1)])
def test_bad_advances_are_refused(delta: Any) -> None:
    with pytest.raises(ValidationError):
        ManualClock().advance(delta)


def test_advance_to_a_past_time_is_refused() -> None:
    clock = ManualClock()
    clock.advance(60)
    with pytest.raises(ValidationError, match="never goes back"):
        clock.advance_to(datetime(2024, 1, 1, tzinfo=UTC))
    assert clock.advance_to(clock.now()) == 0  # the present is fine


def test_timers_set_in_the_past_run_at_once_and_call_at_converts_to_utc() -> None:
    clock = ManualClock()
    clock.advance(60)
    india = timezone(timedelta(hours=5, minutes=30))
    timer = clock.call_at(datetime(2024, 1, 1, 5, 30, tzinfo=india), lambda: None)  # midnight UTC: past
    assert timer.when == clock.now() and timer.when.utcoffset() == timedelta(0)
    assert clock.advance(0) == 1


def test_idle_runs_what_is_due_now() -> None:
    clock = ManualClock()
    seen: list[str] = []
    clock.submit(lambda: seen.append("now"))
    clock.call_later(1, lambda: seen.append("later"))
    assert clock.idle() is True
    assert seen == ["now"]


def test_shutdown_closes_even_if_draining_raises() -> None:
    clock = ManualClock()

    def boom() -> None:
        raise RuntimeError("x")

    clock.submit(boom)
    later = clock.call_later(60, lambda: None)
    with pytest.raises(RuntimeError):
        clock.shutdown()
    assert clock.closed and later.cancelled


def test_repr_shows_the_time_and_what_is_pending() -> None:
    clock = ManualClock()
    clock.call_later(5, lambda: None)
    assert repr(clock) == "<ManualClock 2024-01-01T00:00:00Z, 1 timers pending>"


# -- inside a running event loop ---------------------------------------------------------


def test_inside_a_loop_advance_refuses_async_work_without_losing_it() -> None:
    async def main() -> list[str]:
        clock = ManualClock()
        seen: list[str] = []

        async def work() -> None:
            seen.append("ran")

        clock.submit(lambda: seen.append("plain first"))
        clock.submit(work)
        with pytest.raises(LoopBlockingError, match="await clock.advance_async"):
            clock.advance(0)
        assert len(clock.pending()) == 1  # the async timer is still there
        with pytest.raises(LoopBlockingError, match="shutdown_async"):
            clock.shutdown()
        assert not clock.closed
        assert await clock.advance_async(0) == 1
        return seen

    assert asyncio.run(main()) == ["plain first", "ran"]


def test_advance_async_awaits_handlers_on_the_running_loop() -> None:
    """A handler awaiting something the application's loop feeds: no deadlock."""

    async def main() -> Any:
        clock = ManualClock()
        inbox: asyncio.Queue[str] = asyncio.Queue()

        async def handler(event: Any, context: Any) -> str:
            return await inbox.get()

        fn = Function(handler, clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        asyncio.get_running_loop().call_later(0.01, inbox.put_nowait, "fed by the app")
        await clock.advance_async(0)
        return fn.outcome(rid), fn.metrics.succeeded

    outcome, succeeded = asyncio.run(main())
    assert outcome[0].name == "SUCCEEDED" and succeeded == 1


def test_run_until_idle_async_runs_retries_through_virtual_time() -> None:
    async def main() -> list[float]:
        clock = ManualClock()
        start = clock.now()
        calls: list[float] = []

        async def handler(event: Any, context: Any) -> None:
            calls.append((clock.now() - start).total_seconds())
            raise RuntimeError("again")

        Function(handler, clock=clock).invoke({}, "Event")
        await clock.run_until_idle_async()
        await clock.shutdown_async()
        return calls

    assert asyncio.run(main()) == [0, 60, 180]


def test_run_until_idle_runs_standing_timers_on_the_way_but_does_not_wait_for_them() -> None:
    """A schedule's next fire (a standing timer) is always pending: waiting for "nothing
    pending" would never end.  It runs when due now or earlier than other work."""
    clock = ManualClock()
    ran: list[str] = []

    def standing(name: str, every: float) -> None:
        def fire() -> None:
            ran.append(name)
            clock._schedule(Timer(clock.now() + timedelta(seconds=every), fire, name, standing=True))
        clock._schedule(Timer(clock.now(), fire, name, standing=True))

    standing("every-10s", 10)
    clock.call_later(25, lambda: ran.append("work"))
    cancelled = clock.call_later(40, lambda: ran.append("never"))
    cancelled.cancel()
    assert clock.run_until_idle() == 4
    assert ran == ["every-10s", "every-10s", "every-10s", "work"]
    assert clock.now() == clock.start + timedelta(seconds=25)
    assert clock.run_until_idle() == 0  # only the standing timer is left
    assert len(clock.pending()) == 1
    clock.advance(30)
    assert ran.count("every-10s") == 6


def test_work_another_task_schedules_while_a_standing_callback_awaits_is_not_standing() -> None:
    async def main() -> list[str]:
        clock = ManualClock()
        ran: list[str] = []
        gate = asyncio.Event()

        async def fire() -> None:  # a schedule's fire that awaits
            clock.call_later(5, lambda: ran.append("the fire's work"))
            await gate.wait()

        async def other() -> None:
            clock.call_later(10, lambda: ran.append("another task's work"))
            gate.set()

        clock._schedule(Timer(clock.now(), fire, "fire", standing=True))
        await asyncio.gather(clock.advance_async(0), other())
        await clock.run_until_idle_async()
        return ran

    assert asyncio.run(main()) == ["the fire's work", "another task's work"]  # (the first ran on the way)
