"""Real time: the thread-pool mode, the asyncio mode, and shutdown."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import eventbus
from eventbus import AsyncioClock, Function, Outcome, Queue, SystemClock


def test_thread_pool_mode_runs_event_invocations_concurrently() -> None:
    clock = SystemClock(workers=4)
    try:
        barrier = threading.Barrier(4, timeout=10)  # passes only if 4 handlers run at once
        done = threading.Semaphore(0)
        threads: set[int] = set()

        def handler(event: Any, context: Any) -> str:
            threads.add(threading.get_ident())
            barrier.wait()
            done.release()
            return "ok"

        fn = Function(handler, clock=clock)
        for i in range(4):
            assert fn.invoke({"i": i}, "Event")["StatusCode"] == 202
        for _ in range(4):
            assert done.acquire(timeout=10)
        assert clock.idle(timeout=10)
        assert len(threads) == 4 and threading.get_ident() not in threads
        assert fn.metrics.succeeded == 4
    finally:
        clock.shutdown()


def test_thread_pool_mode_dead_letters_a_failing_invocation() -> None:
    clock = SystemClock(workers=2)
    try:
        finished = threading.Event()
        calls: list[int] = []

        def handler(event: Any, context: Any) -> None:
            calls.append(1)
            raise RuntimeError("always")

        dlq = Queue(clock=clock)
        fn = Function(handler, clock=clock, maximum_retry_attempts=0, dead_letter_queue=dlq,
                      on_failure=lambda record: finished.set())
        fn.invoke({}, "Event")
        assert finished.wait(10)
        assert clock.idle(timeout=10)
        assert calls == [1] and len(dlq) == 1
    finally:
        clock.shutdown()


def test_shutdown_hands_back_pending_retries_instead_of_dropping_them() -> None:
    clock = SystemClock(workers=2)
    failed_once = threading.Event()

    def handler(event: Any, context: Any) -> None:
        failed_once.set()
        raise RuntimeError("retry me in a minute")

    fn = Function(handler, clock=clock)
    rid = fn.invoke({"keep": "me"}, "Event")["RequestId"]
    assert failed_once.wait(10)
    assert clock.idle(timeout=10)
    left = clock.shutdown(drain=True, timeout=10)
    assert [t.label for t in left] == [f"retry {fn.name} {rid}"]
    assert fn.metrics.pending == 1  # not dropped: the timer holding it was handed back


def test_asyncio_mode_awaits_async_handlers_on_the_loop() -> None:
    async def main() -> tuple[list[str], Any]:
        clock = AsyncioClock()
        order: list[str] = []
        loop_thread = threading.get_ident()
        records: list[Any] = []

        async def handler(event: Any, context: Any) -> dict[str, Any]:
            assert threading.get_ident() == loop_thread
            await asyncio.sleep(0)
            order.append(event["n"])
            return {"n": event["n"]}

        fn = Function(handler, clock=clock, on_success=records.append)
        for n in ("a", "b", "c"):
            assert fn.invoke({"n": n}, "Event")["StatusCode"] == 202
        for _ in range(100):
            await asyncio.sleep(0)
            if len(records) == 3:
                break
        await clock.idle()
        left = await clock.aclose()
        return sorted(order), (fn.metrics, left, records)

    order, (metrics, left, records) = asyncio.run(main())
    assert order == ["a", "b", "c"]
    assert metrics.succeeded == 3 and left == []
    assert {r["responsePayload"]["n"] for r in records} == {"a", "b", "c"}


def test_asyncio_mode_runs_plain_handlers_off_the_loop() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        loop_thread = threading.get_ident()
        seen: list[bool] = []
        fn = Function(lambda e, c: seen.append(threading.get_ident() != loop_thread), clock=clock)
        fn.invoke({}, "Event")
        for _ in range(1000):
            await asyncio.sleep(0.001)
            if seen:
                break
        await clock.aclose()
        return seen, fn.outcomes

    seen, outcomes = asyncio.run(main())
    assert seen == [True]
    assert [o for o, _ in outcomes.values()] == [Outcome.SUCCEEDED]


def test_work_given_after_shutdown_is_refused() -> None:
    clock = SystemClock(workers=1)
    clock.shutdown()
    fn = Function(lambda e, c: None, clock=clock)
    try:
        fn.invoke({}, "Event")
    except eventbus.ClockClosedError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected ClockClosedError")


def test_asyncio_clock_hands_back_timers_set_just_before_shutdown() -> None:
    async def main() -> list[Any]:
        clock = AsyncioClock()
        clock.call_later(60, lambda: None, label="later")
        return clock.shutdown()

    assert [t.label for t in asyncio.run(main())] == ["later"]


def test_async_handlers_work_when_called_from_inside_an_event_loop() -> None:
    async def handler(event: Any, context: Any) -> Any:
        await asyncio.sleep(0)
        return {"ok": event}

    async def main() -> Any:
        clock = eventbus.ManualClock()
        fn = Function(handler, clock=clock, on_success=(records := []).append)
        sync = fn.invoke({"a": 1})
        fn.invoke({"b": 2}, "Event")
        clock.run_until_idle()
        return sync, records

    sync, records = asyncio.run(main())
    assert sync["Payload"] == {"ok": {"a": 1}} and "FunctionError" not in sync
    assert records[0]["responsePayload"] == {"ok": {"b": 2}}


def test_system_clock_hands_back_retries_asked_for_after_shutdown() -> None:
    clock = SystemClock(workers=1)
    release = threading.Event()
    running = threading.Event()

    def handler(event: Any, context: Any) -> None:
        running.set()
        release.wait(10)
        raise RuntimeError("fails after shutdown began")

    fn = Function(handler, clock=clock)
    fn.invoke({}, "Event")
    assert running.wait(10)
    assert clock.shutdown(drain=False, timeout=0) == []
    release.set()
    for _ in range(1000):
        if clock.handed_back:
            break
        threading.Event().wait(0.01)
    assert [t.label.startswith("retry") for t in clock.handed_back] == [True]
