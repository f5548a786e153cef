"""The ``Clock`` contract, checked against every clock (ManualClock, SystemClock, AsyncioClock)."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import eventbus
from eventbus import Clock, ClockClosedError, ValidationError

from .conftest import Harness


def test_now_is_aware_utc(harness: Harness) -> None:
    now = harness.clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert isinstance(harness.clock, Clock)


def test_timers_run_in_time_order_and_submitted_work_runs_soon(harness: Harness) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def note(name: str) -> Any:
        def run() -> None:
            with lock:
                seen.append(name)
        return run

    harness.clock.call_later(0.06, note("later"))
    harness.clock.call_later(0.03, note("sooner"))
    harness.clock.submit(note("now"))
    assert harness.wait_for(lambda: len(seen) == 3)
    assert seen == ["now", "sooner", "later"]


def test_async_callbacks_are_awaited(harness: Harness) -> None:
    done = threading.Event()

    async def work() -> None:
        done.set()

    timer = harness.clock.submit(work)
    assert timer.is_async
    assert harness.wait_for(done.is_set)


def test_a_cancelled_timer_does_not_run_and_a_run_one_cannot_be_cancelled(harness: Harness) -> None:
    ran: list[str] = []
    keep = harness.clock.call_later(0.02, lambda: ran.append("kept"))
    drop = harness.clock.call_later(0.02, lambda: ran.append("dropped"))
    assert drop.cancel()
    assert harness.wait_for(lambda: ran == ["kept"])
    harness.settle(0.03)
    assert ran == ["kept"]
    assert not keep.cancel() and keep.done


def test_shutdown_drains_due_work_then_abandons_and_returns_the_rest(harness: Harness) -> None:
    ran: list[str] = []
    abandoned: list[str] = []
    harness.clock.submit(lambda: ran.append("due now"))
    late = harness.clock.call_later(3600, lambda: ran.append("late"), label="in an hour",
                                    on_abandon=abandoned.append)
    other = harness.clock.call_later(1800, lambda: None, label="in half an hour")
    left = harness.clock.shutdown(drain=True, timeout=10)
    assert ran == ["due now"]
    assert left == [other, late]  # earliest first
    assert all(t.cancelled for t in left)
    assert abandoned == ["the clock was shut down"]  # told once, with the reason
    assert harness.clock.closed
    assert harness.clock.shutdown() == []  # a second shutdown has nothing left


def test_scheduling_after_shutdown_raises(harness: Harness) -> None:
    harness.clock.shutdown()
    with pytest.raises(ClockClosedError):
        harness.clock.submit(lambda: None)
    with pytest.raises(ClockClosedError):
        harness.clock.call_later(1, lambda: None)
    with pytest.raises(ClockClosedError):
        harness.clock.call_at(harness.clock.now(), lambda: None)


def test_idle_is_true_once_nothing_runs_or_is_due(harness: Harness) -> None:
    ran = threading.Event()
    harness.clock.submit(ran.set)
    assert harness.clock.idle(timeout=10) is True
    assert ran.is_set()
    harness.clock.call_later(3600, lambda: None)  # not due: idle all the same
    assert harness.clock.idle(timeout=10) is True


@pytest.mark.parametrize(("args", "message"), [
    ((-1, print), "Member must have value greater than or equal to 0"),
    ((math.inf, print), "Member must have value less than or equal to"),
    ((math.nan, print), "Member must be a number"),
    (("5", print), "Invalid type for parameter delay"),
    ((True, print), "Invalid type for parameter delay"),
    ((5, "not callable"), "Invalid type for parameter callback"),
])
def test_bad_delays_and_callbacks_are_refused_naming_the_parameter(harness: Harness, args: tuple[Any, Any],
                                                                   message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        harness.clock.call_later(*args)


def test_call_at_takes_only_datetimes_and_naive_means_utc(harness: Harness) -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter when"):
        harness.clock.call_at("2024-01-01T00:00:00Z", lambda: None)  # type: ignore[arg-type]
    naive = datetime(2030, 1, 1, 12, 0)
    timer = harness.clock.call_at(naive, lambda: None)
    assert timer.when == datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_the_clock_is_a_context_manager_that_shuts_down(harness: Harness) -> None:
    with harness.clock as clock:
        clock.call_later(3600, lambda: None)
    assert harness.clock.closed


def test_seeded_clocks_give_the_same_random_streams(harness: Harness) -> None:
    if harness.kind == "manual":
        first = [eventbus.ManualClock(seed=5).random().random() for _ in range(2)]
        second = [eventbus.ManualClock(seed=5).random().random() for _ in range(2)]
        assert first == second
        clock = eventbus.ManualClock(seed=5)
        assert clock.random().random() != clock.random().random()  # each object its own stream
    elif harness.kind == "system":
        a, b = eventbus.SystemClock(seed=3), eventbus.SystemClock(seed=3)
        try:
            assert a.random().getrandbits(64) == b.random().getrandbits(64)
        finally:
            a.shutdown()
            b.shutdown()


def test_repr_says_what_the_clock_holds(harness: Harness) -> None:
    harness.clock.call_later(3600, lambda: None)
    text = repr(harness.clock)
    assert type(harness.clock).__name__ in text
    harness.clock.shutdown()
    assert "closed" in repr(harness.clock)
