"""Every accepted invocation ends in exactly one outcome; attempts obey the policy."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from eventbus import Function, ManualClock, Outcome, Queue, RetryPolicy, Target


class DeliveryMachine(RuleBasedStateMachine):
    """Random mixes of failing and succeeding handlers, policies and clock advances."""

    @initialize(retries=st.integers(0, 2), age=st.sampled_from([60, 150, 400, 21600]),
                with_dlq=st.booleans(), target_retries=st.integers(0, 4), target_age=st.sampled_from([60, 90, 600]))
    def setup(self, retries: int, age: int, with_dlq: bool, target_retries: int, target_age: int) -> None:
        self.clock = ManualClock()
        self.plan: dict[str, list[bool]] = {}  # payload key -> outcome of each call (True = succeed)
        self.calls: dict[str, int] = {}
        self.dlq = Queue(clock=self.clock) if with_dlq else None
        self.retries = retries
        self.function = Function(self.handler, clock=self.clock, maximum_retry_attempts=retries,
                                 maximum_event_age_in_seconds=age, dead_letter_queue=self.dlq, seed=1)
        self.target_retries = target_retries
        self.target = Target(self.target_call, clock=self.clock, seed=2, dead_letter_queue=self.dlq,
                             retry_policy=RetryPolicy(maximum_retry_attempts=target_retries,
                                                      maximum_event_age_in_seconds=target_age))
        self.count = 0
        self.ids: dict[str, tuple[Any, str, int]] = {}  # key -> (runner, delivery id, retries allowed)

    def _next(self, key: str) -> bool:
        n = self.calls.get(key, 0)
        self.calls[key] = n + 1
        outcomes = self.plan[key]
        return outcomes[min(n, len(outcomes) - 1)]

    def handler(self, event: Any, context: Any) -> Any:
        if not self._next(event["key"]):
            raise RuntimeError("planned failure")
        return "ok"

    def target_call(self, event: Any) -> None:
        if not self._next(event["key"]):
            raise RuntimeError("planned failure")

    @rule(outcomes=st.lists(st.booleans(), min_size=1, max_size=5), to_target=st.booleans())
    def invoke(self, outcomes: list[bool], to_target: bool) -> None:
        self.count += 1
        key = f"k{self.count}"
        self.plan[key] = outcomes
        if to_target:
            self.ids[key] = (self.target, self.target.deliver({"key": key}), self.target_retries)
        else:
            request_id = self.function.invoke({"key": key}, "Event")["RequestId"]
            self.ids[key] = (self.function, request_id, self.retries)

    @rule(seconds=st.sampled_from([0, 0.5, 1, 7, 30, 60, 61, 120, 600]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: self.count > 0)
    @rule()
    def settle(self) -> None:
        self.clock.run_until_idle()
        for runner in (self.function, self.target):
            assert runner.metrics.pending == 0

    @invariant()
    def every_accepted_delivery_is_pending_or_ended_once(self) -> None:
        for runner in (self.function, self.target):
            m = runner.metrics
            assert m.accepted == m.succeeded + m.dead_lettered + m.dropped + m.pending
            assert len(runner.outcomes) == m.succeeded + m.dead_lettered + m.dropped
            # every attempt ends (virtual time runs callbacks to completion): failed or succeeded
            assert m.attempts == m.failures + m.succeeded + (m.throttles if runner is self.target else 0)
            assert m.retries <= m.attempts

    @invariant()
    def attempts_respect_the_policies(self) -> None:
        for key, (runner, delivery_id, allowed) in self.ids.items():
            calls = self.calls.get(key, 0)
            assert calls <= 1 + allowed
            ended = runner.outcomes.get(delivery_id)
            if ended is None:
                continue
            made = self.plan[key][:calls] + [self.plan[key][-1]] * max(0, calls - len(self.plan[key]))
            if ended[0] is Outcome.SUCCEEDED:
                assert made and made[-1] and not any(made[:-1])  # stopped at the first success
            else:
                assert not any(made)  # every call failed
        for runner in (self.function, self.target):
            for outcome, _ in runner.outcomes.values():
                if outcome is Outcome.DEAD_LETTERED:
                    assert self.dlq is not None
                if outcome is Outcome.DROPPED:
                    assert self.dlq is None

    def teardown(self) -> None:
        if hasattr(self, "clock"):
            self.clock.run_until_idle()
            for runner in (self.function, self.target):
                m = runner.metrics
                assert m.pending == 0
                assert m.accepted == m.succeeded + m.dead_lettered + m.dropped
            # a delivery whose calls all succeed at first try is never retried
            for key, outcomes in self.plan.items():
                if outcomes[0]:
                    assert self.calls[key] == 1


TestDeliveryAccounting = DeliveryMachine.TestCase
