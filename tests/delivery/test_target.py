"""Targets: retry policy with backoff, event age, dead-letter queue attributes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import eventbus
from eventbus import ManualClock, NonRetryableError, Outcome, Queue, RetryPolicy, Target


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maximum_retry_attempts": 186}, "Value '186' at 'retryPolicy.maximumRetryAttempts' failed to satisfy "
                                      "constraint: Member must have value less than or equal to 185"),
    ({"maximum_retry_attempts": -1}, "Member must have value greater than or equal to 0"),
    ({"maximum_event_age_in_seconds": 59}, "Value '59' at 'retryPolicy.maximumEventAgeInSeconds' failed to "
                                           "satisfy constraint: Member must have value greater than or equal to 60"),
    ({"maximum_event_age_in_seconds": 86401}, "less than or equal to 86400"),
    ({"maximum_retry_attempts": 1.5}, "Member must be an integer"),
])
def test_retry_policy_ranges_are_aws_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(eventbus.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RetryPolicy(**kwargs)


def test_retry_policy_defaults_are_aws_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.maximum_retry_attempts, policy.maximum_event_age_in_seconds) == (185, 86400)


class Flaky:
    def __init__(self, clock: ManualClock, failures: int, exc: Exception | None = None) -> None:
        self.clock, self.failures, self.exc = clock, failures, exc
        self.calls: list[float] = []
        self.start = clock.now()

    def __call__(self, event: Any) -> None:
        self.calls.append((self.clock.now() - self.start).total_seconds())
        if len(self.calls) <= self.failures:
            raise self.exc or RuntimeError("target unavailable")


def test_a_failing_target_is_retried_with_growing_jittered_delays_then_succeeds() -> None:
    clock = ManualClock()
    flaky = Flaky(clock, failures=3)
    target = Target(flaky, retry_policy=RetryPolicy(maximum_retry_attempts=5), clock=clock, seed=7)
    delivery = target.deliver({"id": 1})
    clock.run_until_idle()
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert len(flaky.calls) == 4
    for retry, gap in enumerate(gaps, start=1):  # equal jitter: between half and all of base * 2**(n-1)
        assert 2 ** (retry - 1) / 2 <= gap <= 2 ** (retry - 1)
    assert target.outcomes[delivery] == (Outcome.SUCCEEDED, "")
    m = target.metrics
    assert (m.accepted, m.attempts, m.failures, m.retries, m.succeeded, m.pending) == (1, 4, 3, 3, 1, 0)


def test_the_same_seed_gives_the_same_schedule() -> None:
    schedules = []
    for _ in range(2):
        clock = ManualClock()
        flaky = Flaky(clock, failures=4)
        Target(flaky, clock=clock, seed=42).deliver("e")
        clock.run_until_idle()
        schedules.append(flaky.calls)
    assert schedules[0] == schedules[1]


def test_exhausted_attempts_go_to_the_dead_letter_queue_with_aws_attributes() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    flaky = Flaky(clock, failures=99)
    target = Target(flaky, target_id="t1", rule_arn="arn:aws:events:us-east-1:123456789012:rule/r",
                    retry_policy=RetryPolicy(maximum_retry_attempts=2), dead_letter_queue=dlq, clock=clock)
    delivery = target.deliver({"detail": {"n": 1}})
    clock.run_until_idle()
    assert len(flaky.calls) == 3
    [message] = dlq.receive()
    assert message.json() == {"detail": {"n": 1}}
    assert message.attributes == {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/r",
        "TARGET_ARN": target.arn,
        "ERROR_CODE": "RuntimeError",
        "ERROR_MESSAGE": "target unavailable",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "2",
    }
    assert target.outcomes[delivery][0] is Outcome.DEAD_LETTERED
    assert target.metrics.sent_to_dlq == 1


def test_event_age_stops_retries_before_the_attempts_run_out() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    flaky = Flaky(clock, failures=999)
    target = Target(flaky, retry_policy=RetryPolicy(maximum_event_age_in_seconds=60), dead_letter_queue=dlq,
                    clock=clock, seed=1)
    target.deliver("e")
    clock.run_until_idle()
    assert flaky.calls[-1] <= 60
    [message] = dlq.receive()
    assert message.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert int(message.attributes["RETRY_ATTEMPTS"]) == len(flaky.calls) - 1


def test_non_retryable_errors_go_straight_to_the_dead_letter_queue() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    flaky = Flaky(clock, failures=99, exc=NonRetryableError("no permission", error_code="NO_PERMISSIONS"))
    Target(flaky, dead_letter_queue=dlq, clock=clock).deliver("e")
    clock.run_until_idle()
    assert len(flaky.calls) == 1
    [message] = dlq.receive()
    assert message.attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert message.attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in message.attributes


def test_a_deleted_function_target_is_not_retried() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    function = eventbus.Function(lambda e, c: None, name="gone", clock=clock)
    function.delete()
    Target(function, dead_letter_queue=dlq, clock=clock).deliver({"a": 1})
    clock.run_until_idle()
    assert dlq.receive()[0].attributes["ERROR_CODE"] == "NO_RESOURCE"


def test_without_a_dead_letter_queue_the_loss_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    target = Target(Flaky(clock, failures=99), retry_policy=RetryPolicy(maximum_retry_attempts=0), clock=clock)
    delivery = target.deliver("e")
    clock.run_until_idle()
    outcome, reason = target.outcomes[delivery]
    assert outcome is Outcome.DROPPED and "no dead-letter queue" in reason
    assert target.metrics.dropped == 1
    assert any("dropped" in r.message for r in caplog.records)


def test_a_full_dead_letter_queue_is_recorded_not_silent() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock, capacity=1)
    dlq.send("occupied")
    target = Target(Flaky(clock, failures=99), retry_policy=RetryPolicy(maximum_retry_attempts=0),
                    dead_letter_queue=dlq, clock=clock)
    delivery = target.deliver("e")
    clock.run_until_idle()
    assert target.outcomes[delivery][0] is Outcome.DROPPED
    assert target.metrics.failed_to_dlq == 1


def test_targets_deliver_to_queues_and_functions() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock)
    seen: list[Any] = []
    function = eventbus.Function(lambda e, c: seen.append(e), clock=clock)
    Target(queue, clock=clock).deliver({"to": "queue"})
    Target(function, clock=clock).deliver({"to": "function"})
    clock.advance(timedelta(seconds=1))
    assert queue.receive()[0].json() == {"to": "queue"}
    assert seen == [{"to": "function"}]


def test_an_event_that_is_not_json_is_refused_at_once() -> None:
    target = Target(lambda e: None, clock=ManualClock())
    with pytest.raises(eventbus.ValidationError, match="not JSON-serialisable"):
        target.deliver({"x": object()})
    assert target.metrics.accepted == 0


def test_work_refused_by_a_closed_clock_is_not_left_pending() -> None:
    clock = ManualClock()
    clock.shutdown()
    target = Target(lambda e: None, clock=clock)
    function = eventbus.Function(lambda e, c: None, clock=clock)
    with pytest.raises(eventbus.ClockClosedError):
        target.deliver("e")
    with pytest.raises(eventbus.ClockClosedError):
        function.invoke({}, "Event")
    for runner in (target, function):
        assert runner.metrics.pending == 0 and runner.metrics.dropped == 1
