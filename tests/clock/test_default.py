"""The default clock: use_clock() for a block, the process's SystemClock otherwise."""

from __future__ import annotations

import threading

import pytest

import eventbus
from eventbus import Function, ManualClock, Queue, SystemClock, Target, ValidationError, use_clock
from eventbus._clock import default_clock


def test_use_clock_gives_everything_built_in_the_block_that_clock() -> None:
    with use_clock(ManualClock()) as clock:
        queue = Queue()
        fn = Function(lambda e, c: None, dead_letter_queue=queue)
        target = Target(fn, dead_letter_queue=queue)
        assert queue.clock is clock and fn.clock is clock and target.clock is clock
        with use_clock(ManualClock()) as inner:
            assert Queue().clock is inner
        assert Queue().clock is clock
    assert default_clock() is not clock


def test_use_clock_works_as_a_decorator() -> None:
    clock = ManualClock()

    @use_clock(clock)
    def build() -> Queue:
        return Queue()

    assert build().clock is clock


def test_use_clock_takes_only_clocks() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter clock"), use_clock("x"):  # type: ignore[type-var]
        pass
    with pytest.raises(ValidationError, match="Invalid type for parameter clock"):
        Queue(clock="x")


def test_without_a_clock_objects_share_the_process_system_clock() -> None:
    fn = Function(lambda e, c: threading.current_thread().name, name="on-the-default")
    queue = Queue()
    assert isinstance(fn.clock, SystemClock) and fn.clock is queue.clock is default_clock()
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid, timeout=10)[0] is eventbus.Outcome.SUCCEEDED
    assert fn(None).startswith("MainThread")  # a RequestResponse call runs in the caller's thread


def test_a_shut_down_process_clock_is_replaced() -> None:
    first = default_clock()
    first.shutdown()
    second = default_clock()
    assert second is not first and not second.closed
