"""Shut down at any point, on any clock: every accepted delivery still ends exactly once.

A Hypothesis state machine submits deliveries (some fail, some retry, some
are still running), shuts the clock down at a random moment, with or
without draining, starts a new clock and goes on.  After every completed
shutdown nothing is pending, and every delivery ever accepted is heard
ending exactly once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from eventbus import (
    Clock,
    ClockClosedError,
    Function,
    ManualClock,
    Queue,
    RetryPolicy,
    Target,
)

from ..clock.conftest import Harness
from ..conftest import UNDER_MUTMUT


class Generation:
    """One clock and what runs on it."""

    def __init__(self, machine: Lifecycle, kind: str) -> None:
        self.harness = Harness(kind)
        self.clock: Clock = self.harness.clock
        self.dlq = Queue(clock=self.clock)
        handler = machine.async_handler if kind == "asyncio" else machine.handler
        self.function = Function(handler, clock=self.clock, dead_letter_queue=self.dlq, maximum_retry_attempts=1,
                                 maximum_event_age_in_seconds=120)
        self.target = Target(machine.target_call, clock=self.clock, dead_letter_queue=self.dlq,
                             retry_policy=RetryPolicy(maximum_retry_attempts=2, base_delay=0.005, max_delay=0.01))
        self.number = len(machine.generations)  # ids repeat across ManualClocks of one seed: key by clock too
        for runner in (self.function, self.target):
            runner.subscribe(lambda delivery_id, outcome, reason: machine.heard((self.number, delivery_id)))

    def runners(self) -> tuple[Function, Target]:
        return self.function, self.target

    def close(self) -> None:
        self.harness.close()


class Lifecycle(RuleBasedStateMachine):
    kind = "manual"

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.accepted: set[tuple[int, str]] = set()
        self.ended: dict[tuple[int, str], int] = {}
        self.running = 0
        self.generations: list[Generation] = []
        self.plans: dict[int, list[bool]] = {}
        self.calls: dict[int, int] = {}
        self.count = 0

    @initialize()
    def start(self) -> None:
        self.generations.append(Generation(self, self.kind))

    @property
    def current(self) -> Generation:
        return self.generations[-1]

    # -- the work ------------------------------------------------------------------------
    def heard(self, delivery_id: tuple[int, str]) -> None:
        with self.lock:
            self.ended[delivery_id] = self.ended.get(delivery_id, 0) + 1

    def _next(self, key: int) -> tuple[bool, bool]:
        with self.lock:
            n = self.calls.get(key, 0)
            self.calls[key] = n + 1
            plan = self.plans[key]
            return plan[min(n, len(plan) - 1)], key % 4 == 0  # (succeed?, slow?)

    def _work(self, key: int) -> None:
        with self.lock:
            self.running += 1
        try:
            ok, slow = self._next(key)
            if slow and self.kind != "manual":
                time.sleep(0.01)
            if not ok:
                raise RuntimeError("planned failure")
        finally:
            with self.lock:
                self.running -= 1

    def handler(self, event: Any, context: Any) -> str:
        self._work(event["key"])
        return "ok"

    async def async_handler(self, event: Any, context: Any) -> str:
        await asyncio.sleep(0)
        self._work(event["key"])
        return "ok"

    def target_call(self, event: Any) -> None:
        self._work(event["key"])

    # -- the rules -----------------------------------------------------------------------
    @precondition(lambda self: not self.current.clock.closed)
    @rule(plan=st.lists(st.booleans(), min_size=1, max_size=4), to_target=st.booleans())
    def deliver(self, plan: list[bool], to_target: bool) -> None:
        self.count += 1
        self.plans[self.count] = plan
        gen = self.current
        if to_target:
            delivery_id = gen.target.deliver({"key": self.count})
        else:
            delivery_id = gen.function.invoke({"key": self.count}, "Event")["RequestId"]
        with self.lock:
            self.accepted.add((gen.number, delivery_id))

    @precondition(lambda self: not self.current.clock.closed)
    @rule(seconds=st.sampled_from([0, 0.005, 0.02, 30, 60]))
    def time_passes(self, seconds: float) -> None:
        clock = self.current.clock
        if isinstance(clock, ManualClock):
            clock.advance(seconds)
        else:
            time.sleep(min(seconds, 0.02))

    @precondition(lambda self: not self.current.clock.closed)
    @rule(drain=st.booleans(), timeout=st.sampled_from([None, 0.0, 0.01]))
    def shutdown(self, drain: bool, timeout: float | None) -> None:
        self.current.clock.shutdown(drain=drain, timeout=timeout)
        with ClockClosedErrorExpected():
            self.current.function.invoke({"key": -1}, "Event")
        self.nothing_is_pending_once_running_work_is_over()

    @precondition(lambda self: self.current.clock.closed)
    @rule()
    def restart(self) -> None:
        self.generations.append(Generation(self, self.kind))

    # -- the checks ----------------------------------------------------------------------
    def nothing_is_pending_once_running_work_is_over(self) -> None:
        deadline = time.monotonic() + 10
        gen = self.current
        while any(r.metrics.pending for r in gen.runners()) and time.monotonic() < deadline:
            time.sleep(0.002)  # handlers still running after a timed-out shutdown end by themselves
        for runner in gen.runners():
            assert runner.metrics.pending == 0, runner.metrics

    @invariant()
    def accounting_balances(self) -> None:
        for gen in self.generations:
            for runner in gen.runners():
                m = runner.metrics
                assert m.accepted == m.succeeded + m.dead_lettered + m.dropped + m.pending
        with self.lock:
            assert all(n == 1 for n in self.ended.values())  # never twice
            assert set(self.ended) <= self.accepted

    def teardown(self) -> None:
        try:
            if self.generations and not self.current.clock.closed:
                self.current.clock.shutdown(drain=True, timeout=10)
                self.nothing_is_pending_once_running_work_is_over()
            with self.lock:
                assert set(self.ended) == self.accepted  # every accepted delivery was heard ending...
                assert all(n == 1 for n in self.ended.values())  # ...exactly once
        finally:
            for gen in self.generations:
                gen.close()


class ClockClosedErrorExpected:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        assert exc_type is ClockClosedError, "a closed clock must refuse new work"
        return True


class ManualLifecycle(Lifecycle):
    kind = "manual"


class SystemLifecycle(Lifecycle):
    kind = "system"


class AsyncioLifecycle(Lifecycle):
    kind = "asyncio"


TestManualLifecycle = ManualLifecycle.TestCase
TestSystemLifecycle = SystemLifecycle.TestCase
TestAsyncioLifecycle = AsyncioLifecycle.TestCase
REAL_TIME = {"max_examples": 5 if UNDER_MUTMUT else 25, "stateful_step_count": 25}  # real clocks take real time
TestSystemLifecycle.settings = settings(TestSystemLifecycle.settings, **REAL_TIME)  # type: ignore[arg-type]
TestAsyncioLifecycle.settings = settings(TestAsyncioLifecycle.settings, **REAL_TIME)  # type: ignore[arg-type]
