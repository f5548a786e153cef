"""Outcomes: kept for the most recent deliveries only, looked up in O(1), waited for or heard about."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

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
from eventbus._delivery._outcomes import Ledger


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


class _Delivery:
    def __init__(self, delivery_id: str, calls: int) -> None:
        self.id = delivery_id
        self.calls = calls


class OutcomeWindow(RuleBasedStateMachine):
    """The ledger's kept outcomes against a plain model: a list of the ended
    deliveries, of which the last ``retention`` are visible, in order."""

    @initialize(retention=st.integers(0, 4))
    def setup(self, retention: int) -> None:
        self.ledger = Ledger(retention)
        self.retention = retention
        self.pending: dict[str, _Delivery] = {}
        self.ended: list[tuple[str, tuple[Outcome, str]]] = []  # the model: every delivery that ended, in order
        self.ended_calls: list[int] = []
        self.count = 0

    @rule(calls=st.integers(0, 3))
    def accept(self, calls: int) -> None:
        self.count += 1
        delivery = _Delivery(f"d{self.count}", calls)
        self.ledger.accept(delivery)
        self.pending[delivery.id] = delivery

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), outcome=st.sampled_from(list(Outcome)), reason=st.sampled_from(["", "why"]))
    def end(self, data: st.DataObject, outcome: Outcome, reason: str) -> None:
        delivery_id = data.draw(st.sampled_from(sorted(self.pending)))
        delivery = self.pending.pop(delivery_id)
        self.ledger.end(delivery, outcome, reason)
        self.ended.append((delivery_id, (outcome, reason)))
        self.ended_calls.append(delivery.calls)

    @rule(data=st.data())
    def look_up(self, data: st.DataObject) -> None:  # (lookups in between: the index is built as they come)
        ids = [f"d{n}" for n in range(1, self.count + 2)]
        delivery_id = data.draw(st.sampled_from(ids))
        visible = dict(self.ended[-self.retention:] if self.retention else [])
        assert self.ledger.get(delivery_id) == visible.get(delivery_id)
        if delivery_id in visible or delivery_id in self.pending:
            assert self.ledger.lookup(delivery_id) == visible.get(delivery_id)
        else:
            with pytest.raises(ResourceNotFoundError):
                self.ledger.lookup(delivery_id)

    @invariant()
    def the_window_is_the_last_ended(self) -> None:
        window = self.ended[-self.retention:] if self.retention else []
        assert self.ledger.ids() == [delivery_id for delivery_id, _ in window]
        assert self.ledger.count() == len(window)
        m = self.ledger.snapshot()
        assert m.pending == len(self.pending) and m.accepted == self.count
        calls = [d.calls for d in self.pending.values()] + self.ended_calls
        assert m.attempts == sum(calls) and m.retries == sum(max(0, n - 1) for n in calls)
        by_outcome = [outcome for _, (outcome, _) in self.ended]
        assert (m.succeeded, m.dead_lettered, m.dropped) == tuple(by_outcome.count(o) for o in Outcome)


TestOutcomeWindow = OutcomeWindow.TestCase
TestOutcomeWindow.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
