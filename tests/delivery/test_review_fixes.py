"""Edge cases found in review: interruptions, stale receipts, time zones, copies."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import eventbus
from eventbus import AsyncioClock, Function, ManualClock, Outcome, Queue, SystemClock, Target


def test_asyncio_idle_waits_for_work_submitted_just_before() -> None:
    async def main() -> tuple[list[int], Any, list[Any]]:
        clock = AsyncioClock()
        ran: list[int] = []
        fn = Function(lambda e, c: ran.append(1), clock=clock)
        fn.invoke({}, "Event")
        await clock.idle()
        left = await clock.aclose()
        return ran, fn.metrics, left

    ran, metrics, left = asyncio.run(main())
    assert ran == [1] and metrics.pending == 0 and left == []


def test_asyncio_shutdown_hands_back_submitted_work_not_yet_started() -> None:
    async def main() -> list[Any]:
        clock = AsyncioClock()
        Function(lambda e, c: None, clock=clock).invoke({}, "Event")
        return clock.shutdown()

    assert len(asyncio.run(main())) == 1


def test_an_interrupted_handler_frees_its_slot_and_ends_its_invocation() -> None:
    clock = ManualClock()
    interrupt = [True]

    def handler(event: Any, context: Any) -> str:
        if interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        return "ok"

    fn = Function(handler, clock=clock, reserved_concurrency=1)
    rid = fn.invoke({}, "Event")["RequestId"]
    with pytest.raises(KeyboardInterrupt):
        clock.advance(0)
    outcome, reason = fn.outcomes[rid]
    assert outcome is Outcome.DROPPED and "KeyboardInterrupt" in reason
    assert fn.invoke({})["Payload"] == "ok"  # the slot is free again
    assert fn.metrics.pending == 0


def test_an_interrupted_target_ends_its_delivery() -> None:
    clock = ManualClock()

    def destination(event: Any) -> None:
        raise SystemExit(3)

    target = Target(destination, clock=clock)
    delivery = target.deliver("e")
    with pytest.raises(SystemExit):
        clock.advance(0)
    assert target.outcomes[delivery][0] is Outcome.DROPPED and target.metrics.pending == 0


def test_background_failures_are_logged_not_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    clock = SystemClock(workers=1)
    try:
        def boom() -> None:
            raise RuntimeError("lost?")

        clock.submit(boom)
        assert clock.idle(timeout=10)
    finally:
        clock.shutdown()
    assert any(r.levelno == logging.ERROR and "background work failed" in r.message for r in caplog.records)


def test_a_stale_receipt_does_not_delete_a_message_someone_else_holds() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=10)
    queue.send("job")
    [first] = queue.receive()
    clock.advance(10)
    [second] = queue.receive()
    assert not queue.delete(first)
    assert queue.delete(second)
    assert len(queue) == 0


def test_each_attempt_gets_a_fresh_copy_of_the_payload() -> None:
    clock = ManualClock()
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> None:
        seen.append(dict(event))
        event["hops"] = event.get("hops", 0) + 1
        del event["order"]
        raise RuntimeError("again")

    dlq = Queue(clock=clock)
    fn = Function(handler, clock=clock, dead_letter_queue=dlq)
    fn.invoke({"order": 1}, "Event")
    clock.run_until_idle()
    assert seen == [{"order": 1}] * 3
    assert dlq.receive()[0].json() == {"order": 1}


def test_manual_clock_always_shows_utc() -> None:
    clock = ManualClock()
    india = timezone(timedelta(hours=5, minutes=30))
    clock.advance_to(datetime(2024, 1, 1, 7, 0, tzinfo=india))
    assert clock.now() == datetime(2024, 1, 1, 1, 30, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    timer = clock.call_at(datetime(2024, 1, 1, 8, 0, tzinfo=india), lambda: None)
    assert timer.when.utcoffset() == timedelta(0)


def test_client_errors_from_a_function_target_are_not_retried() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    fn = Function(lambda e, c: None, clock=clock)
    target = Target(fn, dead_letter_queue=dlq, clock=clock)
    target.deliver("not json {")  # a str event is JSON text for a function: refused at once
    clock.run_until_idle()
    assert target.metrics.attempts == 1 and target.metrics.retries == 0
    assert dlq.receive()[0].attributes["ERROR_CODE"] == "ValidationError"


def test_an_unserialisable_result_is_a_marshal_error() -> None:
    response = Function(lambda e, c: {1, 2}, clock=ManualClock()).invoke({})
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "Runtime.MarshalError"


def test_a_refusing_destination_is_counted() -> None:
    clock = ManualClock()

    def refuse(record: Any) -> None:
        raise RuntimeError("no")

    fn = Function(lambda e, c: "ok", clock=clock, on_success=refuse)
    fn.invoke({}, "Event")
    clock.run_until_idle()
    assert fn.metrics.destination_failures == 1 and fn.metrics.succeeded == 1


def test_manual_clock_closes_even_if_draining_raises() -> None:
    clock = ManualClock()

    def boom() -> None:
        raise RuntimeError("x")

    clock.submit(boom)
    with pytest.raises(RuntimeError):
        clock.shutdown()
    with pytest.raises(eventbus.ClockClosedError):
        clock.submit(lambda: None)


def test_system_clock_timers_fire_while_someone_waits_in_idle() -> None:
    clock = SystemClock(workers=2)
    try:
        fired = threading.Event()
        gate = threading.Event()
        clock.submit(lambda: gate.wait(10))  # keeps idle() waiting
        waiter = threading.Thread(target=clock.idle, kwargs={"timeout": 10})
        waiter.start()
        clock.call_later(0, fired.set)
        assert fired.wait(5)
        gate.set()
        waiter.join()
    finally:
        clock.shutdown()
