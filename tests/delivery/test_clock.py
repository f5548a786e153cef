"""Clocks: virtual time runs due timers in order, in the caller's thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

import eventbus
from eventbus import ManualClock


def test_manual_clock_starts_where_told_and_is_utc() -> None:
    assert ManualClock().now() == datetime(2024, 1, 1, tzinfo=UTC)
    clock = ManualClock(datetime(2025, 6, 1, 12, 0))
    assert clock.now() == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_advance_runs_due_timers_in_time_order_at_their_own_time() -> None:
    clock = ManualClock()
    seen: list[tuple[str, datetime]] = []
    start = clock.now()
    clock.call_later(30, lambda: seen.append(("b", clock.now())))
    clock.call_later(10, lambda: seen.append(("a", clock.now())))
    clock.call_later(timedelta(minutes=5), lambda: seen.append(("late", clock.now())))
    assert clock.advance(60) == 2
    assert seen == [("a", start + timedelta(seconds=10)), ("b", start + timedelta(seconds=30))]
    assert clock.now() == start + timedelta(seconds=60)
    assert [t.label for t in clock.pending()] == [""]
    clock.advance(240)
    assert seen[-1] == ("late", start + timedelta(minutes=5))


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
    clock.run_until_idle()
    assert ticks == [1, 2, 3, 4, 5]


def test_equal_times_run_in_scheduling_order_and_cancel_works() -> None:
    clock = ManualClock()
    seen: list[int] = []
    timers = [clock.call_later(5, lambda i=i: seen.append(i)) for i in range(5)]
    assert timers[2].cancel()
    clock.advance(5)
    assert seen == [0, 1, 3, 4]
    assert not timers[0].cancel()  # already ran


def test_callbacks_run_in_the_caller_thread_and_coroutines_complete() -> None:
    clock = ManualClock()
    threads: list[int] = []
    done: list[str] = []

    async def work() -> None:
        done.append("async")

    clock.submit(lambda: threads.append(threading.get_ident()))
    clock.submit(work)
    clock.advance(0)
    assert threads == [threading.get_ident()]
    assert done == ["async"]


def test_negative_delays_are_refused() -> None:
    with pytest.raises(eventbus.ValidationError):
        ManualClock().call_later(-1, lambda: None)
    with pytest.raises(eventbus.ValidationError):
        ManualClock().advance(-1)


def test_shutdown_runs_due_work_and_hands_back_the_rest() -> None:
    clock = ManualClock()
    seen: list[str] = []
    clock.submit(lambda: seen.append("now"))
    clock.call_later(60, lambda: seen.append("later"), label="retry 1")
    left = clock.shutdown()
    assert seen == ["now"]
    assert [t.label for t in left] == ["retry 1"]
    with pytest.raises(eventbus.ClockClosedError):
        clock.submit(lambda: None)


def test_system_clock_runs_work_on_worker_threads_and_drains_on_shutdown() -> None:
    clock = eventbus.SystemClock(workers=4)
    done = threading.Event()
    started = threading.Barrier(3, timeout=10)
    threads: set[int] = set()

    def work() -> None:
        threads.add(threading.get_ident())
        started.wait()  # three tasks at once: real concurrency

    for _ in range(3):
        clock.submit(work)
    clock.call_later(0.01, done.set)
    assert done.wait(10)
    later = clock.call_later(3600, lambda: None, label="far future")
    left = clock.shutdown(drain=True, timeout=10)
    assert len(threads) == 3 and threading.get_ident() not in threads
    assert left == [later] and later.cancelled
    assert clock.now().tzinfo is UTC
