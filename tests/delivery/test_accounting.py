"""Every accepted delivery ends in exactly one outcome, after exactly the attempts its policy allows."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from eventbus import Function, ManualClock, Outcome, Queue, RetryPolicy, Target

FUNCTION_TIMES = (0, 60, 180)  # a Function's attempts, seconds after acceptance (AWS: ~1 then ~2 minutes)


def function_expectation(plan: list[bool], retries: int, age: int) -> tuple[int, str | None]:
    """How many calls a Function makes for ``plan`` (True = that call succeeds), and why it
    gives up (``None``: it succeeded) -- worked out from AWS's rules, not from the code."""
    calls = 0
    for k in range(retries + 1):
        if k and FUNCTION_TIMES[k] > age:
            return calls, "EventAgeExceeded"
        calls += 1
        if plan[min(k, len(plan) - 1)]:
            return calls, None
    return calls, "RetriesExhausted"


class DeliveryMachine(RuleBasedStateMachine):
    """Random mixes of failing and succeeding handlers, policies and clock advances."""

    @initialize(retries=st.integers(0, 2), age=st.sampled_from([60, 150, 179, 180, 400, 21600]),
                with_dlq=st.booleans(), target_retries=st.integers(0, 6), target_age=st.sampled_from([60, 90, 600]),
                base=st.sampled_from([1.0, 5.0, 20.0]))
    def setup(self, retries: int, age: int, with_dlq: bool, target_retries: int, target_age: int,
              base: float) -> None:
        self.clock = ManualClock()
        self.plan: dict[str, list[bool]] = {}  # payload key -> outcome of each call (True = succeed)
        self.calls: dict[str, list[float]] = {}  # key -> seconds after acceptance of each call
        self.accepted_at: dict[str, Any] = {}
        self.dlq = Queue(clock=self.clock) if with_dlq else None
        self.retries, self.age = retries, age
        self.function = Function(self.handler, clock=self.clock, maximum_retry_attempts=retries,
                                 maximum_event_age_in_seconds=age, dead_letter_queue=self.dlq)
        self.policy = RetryPolicy(maximum_retry_attempts=target_retries, maximum_event_age_in_seconds=target_age,
                                  base_delay=base, max_delay=4 * base)
        self.target = Target(self.target_call, clock=self.clock, dead_letter_queue=self.dlq,
                             retry_policy=self.policy)
        self.count = 0
        self.ids: dict[str, tuple[Any, str]] = {}  # key -> (runner, delivery id)

    def _call(self, key: str) -> bool:
        made = self.calls.setdefault(key, [])
        made.append((self.clock.now() - self.accepted_at[key]).total_seconds())
        plan = self.plan[key]
        return plan[min(len(made) - 1, len(plan) - 1)]

    def handler(self, event: Any, context: Any) -> Any:
        if not self._call(event["key"]):
            raise RuntimeError("planned failure")
        return "ok"

    def target_call(self, event: Any) -> None:
        if not self._call(event["key"]):
            raise RuntimeError("planned failure")

    @rule(outcomes=st.lists(st.booleans(), min_size=1, max_size=8), to_target=st.booleans())
    def deliver(self, outcomes: list[bool], to_target: bool) -> None:
        self.count += 1
        key = f"k{self.count}"
        self.plan[key] = outcomes
        self.accepted_at[key] = self.clock.now()
        if to_target:
            self.ids[key] = (self.target, self.target.deliver({"key": key}))
        else:
            self.ids[key] = (self.function, self.function.invoke({"key": key}, "Event")["RequestId"])

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
            assert m.attempts == m.failures + m.succeeded  # virtual time runs every call to its end
            made = [len(self.calls.get(k, [])) for k, (r, _) in self.ids.items() if r is runner]
            assert m.attempts == sum(made)
            assert m.retries == sum(max(0, n - 1) for n in made)

    @invariant()
    def function_calls_are_exactly_what_aws_would_make(self) -> None:
        for key, (runner, delivery_id) in self.ids.items():
            if runner is not self.function:
                continue
            ended = runner.outcome(delivery_id)
            calls, condition = function_expectation(self.plan[key], self.retries, self.age)
            if ended is None:
                assert len(self.calls.get(key, [])) < calls or calls == 0
                continue
            assert self.calls[key] == list(FUNCTION_TIMES[:calls])
            outcome, reason = ended
            if condition is None:
                assert (outcome, reason) == (Outcome.SUCCEEDED, "")
            else:
                assert outcome is (Outcome.DEAD_LETTERED if self.dlq else Outcome.DROPPED)
                assert f"{condition}: RuntimeError: planned failure" in reason

    @invariant()
    def target_calls_follow_the_backoff_and_stop_exactly(self) -> None:
        p = self.policy
        for key, (runner, delivery_id) in self.ids.items():
            if runner is not self.target or runner.outcome(delivery_id) is None:
                continue
            outcome, reason = runner.outcome(delivery_id)  # type: ignore[misc]
            times = self.calls[key]
            plan = self.plan[key] + [self.plan[key][-1]] * len(times)
            for n, (before, after) in enumerate(zip(times, times[1:], strict=False), start=1):
                step = min(p.max_delay, p.base_delay * 2 ** (n - 1))
                assert step / 2 <= after - before <= step  # equal jitter
            assert all(t <= p.maximum_event_age_in_seconds for t in times)
            if outcome is Outcome.SUCCEEDED:
                assert plan[len(times) - 1] and not any(plan[: len(times) - 1])  # stopped at the first success
                continue
            assert not any(plan[: len(times)])
            if len(times) == p.maximum_retry_attempts + 1:
                assert "MaximumRetryAttempts" in reason
            else:  # stopped early: the next retry, even at its shortest, could have run too late
                step = min(p.max_delay, p.base_delay * 2 ** (len(times) - 1))
                assert "MaximumEventAgeInSeconds" in reason and times[-1] + step > p.maximum_event_age_in_seconds

    @invariant()
    def the_dead_letter_queue_holds_exactly_the_dead_lettered(self) -> None:
        if self.dlq is None:
            assert self.function.metrics.dead_lettered == self.target.metrics.dead_lettered == 0
            return
        dead = self.function.metrics.dead_lettered + self.target.metrics.dead_lettered
        assert len(self.dlq) == dead
        assert self.function.metrics.dropped == self.target.metrics.dropped == 0

    def teardown(self) -> None:
        if not hasattr(self, "clock"):
            return
        self.clock.run_until_idle()
        self.every_accepted_delivery_is_pending_or_ended_once()
        self.function_calls_are_exactly_what_aws_would_make()
        self.target_calls_follow_the_backoff_and_stop_exactly()
        for runner in (self.function, self.target):
            assert runner.metrics.pending == 0
        if self.dlq is not None:  # the DLQ holds each payload once, with attributes that tell why
            for message in self.dlq.receive(10):
                key = message.json()["key"]
                runner, delivery_id = self.ids[key]
                if runner is self.target:
                    assert message.attributes["RETRY_ATTEMPTS"] == str(len(self.calls[key]) - 1)
                else:
                    assert message.attributes["RequestID"] == delivery_id


TestDeliveryAccounting = DeliveryMachine.TestCase
