"""Outcomes: kept for the most recent deliveries only, looked up in O(1), waited for or heard about."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from eventbus import (
    AsyncioClock,
    Function,
    LoopBlockingError,
    ManualClock,
    Outcome,
    ResourceNotFoundError,
    SystemClock,
    Target,
    WaitTimeoutError,
)


def test_only_the_most_recent_outcomes_are_kept_and_the_counters_stay_exact() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: None, clock=clock, outcome_retention=3)
    ids = [fn.invoke({"i": i}, "Event")["RequestId"] for i in range(5)]
    clock.run_until_idle()
    assert list(fn.outcomes) == ids[2:]  # the oldest go first
    assert len(fn.outcomes) == 3 and fn.metrics.succeeded == 5
    assert fn.outcomes[ids[4]] == (Outcome.SUCCEEDED, "")
    with pytest.raises(KeyError):
        fn.outcomes[ids[0]]
    with pytest.raises(ResourceNotFoundError, match="no longer kept"):
        fn.outcome(ids[0])
    assert fn.outcomes.get(ids[0]) is None
    none_kept = Target(lambda e: None, clock=clock, outcome_retention=0)
    none_kept.deliver("e")
    clock.run_until_idle()
    assert len(none_kept.outcomes) == 0 and none_kept.metrics.succeeded == 1


def test_the_outcomes_view_is_live_and_read_only() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: None, clock=clock)
    view = fn.outcomes
    rid = fn.invoke({}, "Event")["RequestId"]
    assert rid not in view and fn.outcome(rid) is None  # pending
    clock.advance(0)
    assert view[rid] == (Outcome.SUCCEEDED, "") and repr(view) == "<Outcomes: 1 kept>"
    with pytest.raises(TypeError):
        view[rid] = (Outcome.DROPPED, "")  # type: ignore[index]


def test_unknown_ids_are_not_found() -> None:
    fn = Function(lambda e, c: None, clock=ManualClock())
    with pytest.raises(ResourceNotFoundError, match="never accepted here"):
        fn.outcome("nope")
    with pytest.raises(ResourceNotFoundError):
        fn.wait("nope")


def test_subscribers_hear_every_outcome_as_it_happens() -> None:
    clock = ManualClock()
    heard: list[tuple[str, Outcome, str]] = []
    fn = Function(lambda e, c: None if e["ok"] else 1 / 0, clock=clock, maximum_retry_attempts=0)
    unsubscribe = fn.subscribe(lambda *args: heard.append(args))
    fn.subscribe(lambda *args: 1 / 0)  # a failing listener is logged, and does not stop the others
    good = fn.invoke({"ok": True}, "Event")["RequestId"]
    bad = fn.invoke({"ok": False}, "Event")["RequestId"]
    clock.advance(0)
    assert heard == [(good, Outcome.SUCCEEDED, ""),
                     (bad, Outcome.DROPPED, "no dead-letter queue or failure destination took it: RetriesExhausted: "
                                            "ZeroDivisionError: division by zero")]
    unsubscribe()
    unsubscribe()  # twice is fine
    fn.invoke({"ok": True}, "Event")
    clock.advance(0)
    assert len(heard) == 2


def test_wait_runs_a_manual_clock_until_the_delivery_ends() -> None:
    clock = ManualClock()
    calls: list[float] = []
    start = clock.now()

    def handler(event: Any, context: Any) -> str:
        calls.append((clock.now() - start).total_seconds())
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "done"

    fn = Function(handler, clock=clock)
    other = Function(lambda e, c: None, clock=clock)
    later = other.invoke({}, "Event")["RequestId"]
    clock.call_later(3600, lambda: None)  # far later: wait() does not run it
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid) == (Outcome.SUCCEEDED, "")
    assert calls == [0, 60, 180]
    assert (clock.now() - start).total_seconds() == 180
    assert other.outcome(later) == (Outcome.SUCCEEDED, "")  # ran on the way
    assert fn.wait(rid) == (Outcome.SUCCEEDED, "")  # already ended: at once


def test_wait_blocks_until_a_threaded_delivery_ends_or_times_out() -> None:
    with SystemClock(workers=2) as clock:
        gate = threading.Event()
        fn = Function(lambda e, c: gate.wait(10) and "ok", clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        with pytest.raises(WaitTimeoutError, match="did not end within 0.05 s"):
            fn.wait(rid, timeout=0.05)
        gate.set()
        assert fn.wait(rid, timeout=10) == (Outcome.SUCCEEDED, "")


def test_wait_async_on_an_asyncio_clock() -> None:
    async def main() -> Any:
        async with AsyncioClock() as clock:
            event = asyncio.Event()

            async def handler(e: Any, c: Any) -> str:
                await event.wait()
                return "ok"

            fn = Function(handler, clock=clock)
            rid = fn.invoke({}, "Event")["RequestId"]
            with pytest.raises(LoopBlockingError, match="wait_async"):
                fn.wait(rid)
            with pytest.raises(WaitTimeoutError):
                await fn.wait_async(rid, timeout=0.02)
            asyncio.get_running_loop().call_later(0.01, event.set)
            found = await fn.wait_async(rid, timeout=5)
            return found, await fn.wait_async(rid)

    assert asyncio.run(main()) == ((Outcome.SUCCEEDED, ""), (Outcome.SUCCEEDED, ""))


def test_wait_async_drives_a_manual_clock() -> None:
    async def main() -> Any:
        clock = ManualClock()

        async def handler(e: Any, c: Any) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("always")

        fn = Function(handler, clock=clock, maximum_retry_attempts=1)
        rid = fn.invoke({}, "Event")["RequestId"]
        return await fn.wait_async(rid), clock.now()

    (outcome, _), now = asyncio.run(main())
    assert outcome is Outcome.DROPPED and (now - ManualClock().now()).total_seconds() == 60
