"""Schedules on real clocks: one standing timer per schedule on the clock's own
heap, so a real clock's thread (or the asyncio loop) sleeps until the next fire
is due; nothing polls."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from eventbus import AsyncioClock, EventBus, Scheduler, SystemClock, Target


def test_a_system_clock_holds_one_timer_per_schedule_until_it_is_due() -> None:
    clock = SystemClock(workers=2)
    try:
        scheduler = Scheduler(clock=clock)
        fired = threading.Event()
        got: list[Any] = []

        def handler(payload: Any) -> None:
            got.append(payload)
            fired.set()

        scheduler.create_schedule("now-and-hourly", "rate(1 hour)", handler)  # a rate fires when created
        assert fired.wait(timeout=30)
        scheduler.create_schedule("nightly", "cron(0 3 * * ? *)", Target(got.append, target_id="n"))
        assert clock.idle(timeout=30)  # a standing schedule is not work: the clock is idle
        pool = clock._pool
        deadlines = sorted(deadline - time.monotonic() for deadline, _, timer in pool.heap if not timer.cancelled)
        assert len(deadlines) == 2 and not pool.ready  # one timer each, nothing else waiting
        assert 3500 < deadlines[0] <= 3600 or 3500 < deadlines[1] <= 3600  # the next hourly fire
        assert all(d > 60 for d in deadlines)  # nothing wakes before a schedule is due
        assert got == [{}]
        scheduler.delete_schedule("now-and-hourly")
        scheduler.delete_schedule("nightly")
        assert not [t for _, _, t in pool.heap if not t.cancelled]
    finally:
        assert clock.shutdown(timeout=30) == []


def test_a_scheduled_rule_on_a_system_clock_is_one_timer_too() -> None:
    clock = SystemClock(workers=1)
    try:
        bus = EventBus(clock=clock)
        bus.put_rule("every-minute", schedule_expression="rate(1 minute)")
        heap = [t for _, _, t in clock._pool.heap if not t.cancelled]
        assert len(heap) == 1 and heap[0].standing
        bus.disable_rule("every-minute")
        assert not [t for _, _, t in clock._pool.heap if not t.cancelled]
    finally:
        clock.shutdown(timeout=30)


def test_an_asyncio_clock_fires_async_targets_on_its_loop() -> None:
    async def main() -> list[Any]:
        async with AsyncioClock() as clock:
            scheduler = Scheduler(clock=clock)
            done = asyncio.Event()
            got: list[Any] = []
            loop = asyncio.get_running_loop()

            async def handler(payload: Any) -> None:
                assert asyncio.get_running_loop() is loop
                got.append(payload)
                done.set()

            scheduler.create_schedule("once", "at(2020-01-01T00:00:00)", handler, input='{"late": true}',
                                      action_after_completion="DELETE")
            await asyncio.wait_for(done.wait(), timeout=30)
            assert await clock.idle_async(timeout=30)
            assert scheduler.list_schedules() == []  # DELETE: gone after its one fire
            return got

    assert asyncio.run(main()) == [{"late": True}]
