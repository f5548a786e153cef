"""AsyncioClock: tasks on the loop, plain work off it, nothing that blocks the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from eventbus import AsyncioClock, Function, LoopBlockingError, Outcome, ValidationError


def test_async_work_runs_on_the_loop_and_plain_work_off_it() -> None:
    async def main() -> list[tuple[str, bool]]:
        loop_thread = threading.get_ident()
        where: list[tuple[str, bool]] = []

        async def on_loop() -> None:
            where.append(("async", threading.get_ident() == loop_thread))

        async with AsyncioClock() as clock:
            clock.submit(on_loop)
            clock.submit(lambda: where.append(("plain", threading.get_ident() == loop_thread)))
        return sorted(where)

    assert asyncio.run(main()) == [("async", True), ("plain", False)]


def test_a_slow_plain_callback_does_not_block_the_loop() -> None:
    async def main() -> float:
        async with AsyncioClock() as clock:
            clock.submit(lambda: time.sleep(0.3))
            started = time.monotonic()
            await asyncio.sleep(0.01)  # the loop keeps turning meanwhile
            return time.monotonic() - started

    assert asyncio.run(main()) < 0.2


def test_failures_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def boom() -> None:
            raise RuntimeError("async boom")

        def plain_boom() -> None:
            raise ValueError("plain boom")

        async with AsyncioClock() as clock:
            clock.submit(boom, label="async one")
            clock.submit(plain_boom, label="plain one")

    asyncio.run(main())
    records = {r.getMessage(): r for r in caplog.records if r.name == "eventbus.clock" and r.levelno >= logging.ERROR}
    assert set(records) == {"eventbus: background work failed: async one",
                            "eventbus: background work failed: plain one"}
    for label, message in (("async one", "async boom"), ("plain one", "plain boom")):
        exc_info = records[f"eventbus: background work failed: {label}"].exc_info
        assert exc_info is not None and str(exc_info[1]) == message


def test_synchronous_waits_on_the_loop_thread_are_refused() -> None:
    async def main() -> None:
        clock = AsyncioClock()
        with pytest.raises(LoopBlockingError, match="idle_async"):
            clock.idle()
        with pytest.raises(LoopBlockingError, match="shutdown_async"):
            clock.shutdown()
        with pytest.raises(LoopBlockingError, match="async with"), clock:
            pass
        assert not clock.closed
        assert clock.shutdown(drain=False) == []  # nothing to wait for: allowed

    asyncio.run(main())


def test_a_task_of_the_clock_can_shut_it_down_without_waiting_for_itself() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        result: dict[str, Any] = {}

        async def stop() -> None:
            clock.call_later(3600, lambda: None, label="later")
            result["idle"] = await clock.idle_async(timeout=2)
            result["left"] = [t.label for t in await clock.shutdown_async(timeout=2)]

        clock.submit(stop)
        await asyncio.sleep(0.1)
        return result

    assert asyncio.run(main()) == {"idle": True, "left": ["later"]}


def test_shutdown_while_a_handler_runs_ends_its_invocation_when_it_fails() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        gate = asyncio.Event()

        async def handler(event: Any, context: Any) -> None:
            await gate.wait()
            raise RuntimeError("failed after shutdown")

        fn = Function(handler, clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        await asyncio.sleep(0.01)
        assert clock.shutdown(drain=False) == []
        gate.set()
        return await fn.wait_async(rid, timeout=5), fn.metrics.pending

    (outcome, reason), pending = asyncio.run(main())
    assert outcome is Outcome.DROPPED and pending == 0
    assert "the clock was shut down" in reason and "RuntimeError: failed after shutdown" in reason


def test_work_not_started_at_shutdown_is_abandoned_and_ended() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        fn = Function(lambda e, c: None, clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        left = clock.shutdown(drain=False)  # before the loop could start it
        return left, fn.outcome(rid)

    left, (outcome, reason) = asyncio.run(main())
    assert len(left) == 1 and outcome is Outcome.DROPPED
    assert reason.startswith("the clock was shut down before the first attempt")


def test_shutdown_async_drains_then_returns_what_was_not_due() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        ran: list[int] = []
        clock.submit(lambda: ran.append(1))
        clock.call_later(60, lambda: ran.append(2), label="later")
        left = await clock.shutdown_async(timeout=5)
        return ran, [t.label for t in left]

    assert asyncio.run(main()) == ([1], ["later"])


def test_other_threads_can_wait_on_it() -> None:
    from .conftest import LoopThread

    loop = LoopThread()
    try:
        async def make() -> AsyncioClock:
            return AsyncioClock()

        clock = loop.run(make())
        ran = threading.Event()
        clock.submit(ran.set)
        assert clock.idle(timeout=5) and ran.is_set()
        assert clock.shutdown(timeout=5) == []
    finally:
        loop.close()


def test_it_needs_a_loop() -> None:
    with pytest.raises(ValidationError, match="needs an event loop"):
        AsyncioClock()
    with pytest.raises(ValidationError, match="Invalid type for parameter loop"):
        AsyncioClock(loop="x")  # type: ignore[arg-type]


def test_plain_work_waiting_for_a_worker_thread_at_shutdown_is_abandoned_and_ended() -> None:
    async def main() -> Any:
        clock = AsyncioClock(workers=1)
        gate = threading.Event()
        started = threading.Event()

        def handler(event: Any, context: Any) -> None:
            started.set()
            gate.wait(10)

        fn = Function(handler, clock=clock)
        busy = fn.invoke({"n": 1}, "Event")["RequestId"]  # takes the only worker thread
        while not started.is_set():
            await asyncio.sleep(0.001)
        waiting = fn.invoke({"n": 2}, "Event")["RequestId"]  # fired, queued for a worker thread
        await asyncio.sleep(0.05)
        clock.shutdown(drain=False)
        gate.set()
        return await fn.wait_async(waiting, timeout=5), await fn.wait_async(busy, timeout=5), fn.metrics.pending

    (outcome, reason), (first, _), pending = asyncio.run(main())
    assert outcome is Outcome.DROPPED and reason == "the clock was shut down before the first attempt"
    assert first is Outcome.SUCCEEDED and pending == 0
