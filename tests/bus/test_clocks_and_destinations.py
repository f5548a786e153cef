"""A bus on every kind of clock, and every kind of destination."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

import eventbus
from eventbus import AsyncioClock, EventBus, Function, ManualClock, Outcome, SystemClock, Target


def entry(n: int) -> eventbus.PutEventsRequestEntry:
    return {"Source": "shop", "DetailType": "t", "Detail": json.dumps({"n": n})}


def test_a_function_target_is_invoked_asynchronously_with_the_event(clock: ManualClock) -> None:
    seen: list[Any] = []
    fn = Function(lambda event, context: seen.append(event["detail"]), name="save")
    bus = EventBus(clock=clock)
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(fn, input_path="$")])
    bus.put_events([entry(1)])
    clock.run_until_idle()
    assert seen == [{"n": 1}]
    assert fn.metrics.accepted == 1 and fn.metrics.succeeded == 1


def test_a_bus_on_a_system_clock_delivers_on_worker_threads() -> None:
    clock = SystemClock(workers=4)
    try:
        bus = EventBus(clock=clock)
        threads: set[int] = set()
        lock = threading.Lock()
        got: list[int] = []

        def record(event: Any) -> None:
            with lock:
                threads.add(threading.get_ident())
                got.append(event["detail"]["n"])

        bus.put_rule("r", event_pattern={"source": ["shop"]})
        bus.put_targets("r", [Target(record, target_id="a"), Target(record, target_id="b")])
        for i in range(0, 200, 10):
            assert bus.put_events([entry(n) for n in range(i, i + 10)])["FailedEntryCount"] == 0
        assert clock.idle(timeout=30)
        assert sorted(got) == sorted(list(range(200)) * 2)
        assert threading.get_ident() not in threads
        assert all(j.done for j in bus.journeys())
    finally:
        clock.shutdown()


def test_a_bus_on_an_asyncio_clock_awaits_async_targets_on_the_loop() -> None:
    async def main() -> tuple[list[int], bool, list[str]]:
        loop_thread = threading.get_ident()
        got: list[int] = []
        on_loop: list[bool] = []

        async def record(event: Any) -> None:
            await asyncio.sleep(0)
            on_loop.append(threading.get_ident() == loop_thread)
            got.append(event["detail"]["n"])

        async with AsyncioClock() as clock:
            bus = EventBus(clock=clock)
            bus.put_rule("r", event_pattern={"source": ["shop"]})
            bus.put_targets("r", [Target(record)])
            response = bus.put_events([entry(n) for n in range(10)])
            await clock.idle_async()
            ends = [bus.journey(e["EventId"]).deliveries[0].ended_as for e in response["Entries"]]
        return sorted(got), all(on_loop), ends

    got, on_loop, ends = asyncio.run(main())
    assert got == list(range(10)) and on_loop and ends == ["succeeded"] * 10


def test_a_shut_down_clock_refuses_put_events_and_drops_what_was_waiting() -> None:
    clock = ManualClock()
    bus = EventBus(clock=clock)
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(print)])
    event_id = bus.put_events([entry(1)])["Entries"][0]["EventId"]
    clock.shutdown(drain=False)
    [delivery] = bus.journey(event_id).deliveries
    assert delivery.outcome is Outcome.DROPPED and "shut down" in delivery.reason
    with pytest.raises(eventbus.ClockClosedError, match="has been shut down"):
        bus.put_events([entry(2)])
