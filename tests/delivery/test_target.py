"""Targets: retry policy with backoff, event age, dead-letter queue attributes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

import eventbus
from eventbus import ManualClock, NonRetryableError, Outcome, Queue, RetryPolicy, Target, ThrottlingError

from ..support import ListClock


class BacklogClock(ListClock):
    """A clock whose work waits until the test runs it, as work waits behind a
    backlog on a busy worker pool."""

    def run(self, *, after: float) -> None:
        self.time += timedelta(seconds=after)
        while self.timers:
            self.run_first()


class Flaky:
    """A destination that fails its first ``failures`` calls; records when it was called."""

    def __init__(self, clock: ManualClock, failures: int, exc: Exception | None = None) -> None:
        self.clock, self.failures, self.exc = clock, failures, exc
        self.calls: list[float] = []
        self.events: list[Any] = []
        self.start = clock.now()

    def __call__(self, event: Any) -> None:
        self.calls.append((self.clock.now() - self.start).total_seconds())
        self.events.append(event)
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
    assert target.outcome(delivery) == (Outcome.SUCCEEDED, "")
    m = target.metrics
    assert (m.accepted, m.attempts, m.failures, m.retries, m.succeeded, m.pending) == (1, 4, 3, 3, 1, 0)


def test_backoff_is_capped_by_max_delay() -> None:
    clock = ManualClock()
    flaky = Flaky(clock, failures=8)
    Target(flaky, retry_policy=RetryPolicy(base_delay=10, max_delay=20), clock=clock, seed=1).deliver("e")
    clock.run_until_idle()
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert all(10 <= gap <= 20 for gap in gaps[1:]) and 5 <= gaps[0] <= 10


def test_the_same_seed_gives_the_same_schedule_and_ids() -> None:
    runs = []
    for _ in range(2):
        clock = ManualClock()
        flaky = Flaky(clock, failures=4)
        delivery = Target(flaky, clock=clock).deliver("e")  # seeded by the clock's fixed default seed
        clock.run_until_idle()
        runs.append((flaky.calls, delivery))
    assert runs[0] == runs[1]


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
    assert target.outcome(delivery) == (Outcome.DEAD_LETTERED,
                                        "MaximumRetryAttempts: RuntimeError: target unavailable")
    assert (target.metrics.sent_to_dlq, target.metrics.dead_lettered) == (1, 1)


def test_event_age_stops_retries_before_the_attempts_run_out() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    flaky = Flaky(clock, failures=999)
    target = Target(flaky, retry_policy=RetryPolicy(maximum_event_age_in_seconds=60), dead_letter_queue=dlq,
                    clock=clock, seed=1)
    target.deliver("e")
    clock.run_until_idle()
    assert flaky.calls[-1] <= 60
    # the next retry would have run past 60 s: given up at once, not scheduled (AWS's lookahead)
    next_step = 2 ** (len(flaky.calls) - 1)
    assert flaky.calls[-1] + next_step > 60
    assert clock.now() - flaky.start == timedelta(seconds=flaky.calls[-1])
    [message] = dlq.receive()
    assert message.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert int(message.attributes["RETRY_ATTEMPTS"]) == len(flaky.calls) - 1


@pytest.mark.parametrize("exc", [NonRetryableError("no permission", error_code="NO_PERMISSIONS"),
                                 eventbus.ValidationError("refused"), eventbus.ResourceNotFoundError("gone")])
def test_errors_retrying_cannot_help_go_straight_to_the_dead_letter_queue(exc: Exception) -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    flaky = Flaky(clock, failures=99, exc=exc)
    target = Target(flaky, dead_letter_queue=dlq, clock=clock)
    target.deliver("e")
    clock.run_until_idle()
    assert len(flaky.calls) == 1 and target.metrics.retries == 0
    [message] = dlq.receive()
    assert message.attributes["ERROR_CODE"] == getattr(exc, "error_code", type(exc).__name__)
    assert message.attributes["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in message.attributes


def test_a_deleted_function_target_is_not_retried() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    function = eventbus.Function(lambda e, c: None, name="gone", clock=clock)
    function.delete()
    Target(function, dead_letter_queue=dlq, clock=clock).deliver({"a": 1})
    clock.run_until_idle()
    [message] = dlq.receive()
    assert message.attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert message.attributes["ERROR_MESSAGE"] == f"Function not found: {function.arn}"


def test_throttles_are_counted_as_throttles_and_retried_by_the_policy() -> None:
    clock = ManualClock()
    flaky = Flaky(clock, failures=2, exc=ThrottlingError("Rate Exceeded."))
    target = Target(flaky, retry_policy=RetryPolicy(maximum_retry_attempts=1), clock=clock)
    delivery = target.deliver("e")
    clock.run_until_idle()
    m = target.metrics
    assert (m.attempts, m.throttles, m.failures, m.retries) == (2, 2, 0, 1)
    assert target.outcome(delivery) is not None
    assert target.outcome(delivery)[0] is Outcome.DROPPED  # type: ignore[index]  # throttles use up its retries


def test_without_a_dead_letter_queue_the_loss_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    target = Target(Flaky(clock, failures=99), retry_policy=RetryPolicy(maximum_retry_attempts=0), clock=clock)
    delivery = target.deliver("e")
    clock.run_until_idle()
    outcome, reason = target.outcome(delivery)  # type: ignore[misc]
    assert outcome is Outcome.DROPPED
    assert reason == ("no dead-letter queue or failure destination took it: MaximumRetryAttempts: "
                      "RuntimeError: target unavailable")
    assert target.metrics.dropped == 1
    [record] = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert record.levelname == "WARNING" and "RuntimeError: target unavailable" in record.getMessage()


def test_a_full_dead_letter_queue_is_recorded_not_silent() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock, capacity=1)
    dlq.send("occupied")
    target = Target(Flaky(clock, failures=99), retry_policy=RetryPolicy(maximum_retry_attempts=0),
                    dead_letter_queue=dlq, clock=clock)
    delivery = target.deliver("e")
    clock.run_until_idle()
    assert target.outcome(delivery)[0] is Outcome.DROPPED  # type: ignore[index]
    assert (target.metrics.failed_to_dlq, target.metrics.sent_to_dlq) == (1, 0)


def test_targets_deliver_to_queues_and_functions() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock)
    seen: list[Any] = []
    function = eventbus.Function(lambda e, c: seen.append(e), clock=clock)
    Target(queue, clock=clock).deliver({"to": "queue"}, {"kind": "test"})
    Target(function, clock=clock).deliver({"to": "function"})
    clock.advance(timedelta(seconds=1))
    [message] = queue.receive()
    assert message.json() == {"to": "queue"} and message.attributes == {"kind": "test"}
    assert seen == [{"to": "function"}]


def test_each_attempt_gets_a_fresh_copy_of_the_event_and_attributes() -> None:
    clock = ManualClock()
    seen: list[tuple[Any, Any]] = []

    class Mangler:
        def deliver(self, payload: Any, attributes: Any = None) -> None:
            seen.append((dict(payload), dict(attributes)))
            payload["hops"] = payload.get("hops", 0) + 1
            del payload["order"]
            attributes["extra"] = "x"
            raise RuntimeError("again")

    dlq = Queue(clock=clock)
    target = Target(Mangler(), retry_policy=RetryPolicy(maximum_retry_attempts=2), dead_letter_queue=dlq,
                    clock=clock)
    attributes = {"source": "shop"}
    event = {"order": 1}
    target.deliver(event, attributes)
    attributes["source"] = "changed after acceptance"  # copied at acceptance
    event["order"] = 2
    clock.run_until_idle()
    assert seen == [({"order": 1}, {"source": "shop"})] * 3
    assert dlq.receive()[0].json() == {"order": 1}


def test_async_destinations_are_awaited() -> None:
    clock = ManualClock()
    seen: list[Any] = []

    async def destination(event: Any) -> None:
        await asyncio.sleep(0)
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("first call fails")

    target = Target(destination, clock=clock)
    delivery = target.deliver({"n": 1})
    assert target.wait(delivery) == (Outcome.SUCCEEDED, "")
    assert seen == [{"n": 1}] * 2 and target.metrics.retries == 1


def test_an_event_that_is_not_json_is_refused_at_once() -> None:
    target = Target(lambda e: None, clock=ManualClock())
    with pytest.raises(eventbus.ValidationError, match="not JSON-serialisable"):
        target.deliver({"x": object()})
    assert target.metrics.accepted == 0 and target.metrics.invocations == 0


def test_work_refused_by_a_closed_clock_is_not_counted() -> None:
    clock = ManualClock()
    clock.shutdown()
    target = Target(lambda e: None, clock=clock)
    with pytest.raises(eventbus.ClockClosedError):
        target.deliver("e")
    m = target.metrics
    assert (m.invocations, m.accepted, m.pending, m.dropped) == (0, 0, 0, 0)


def test_an_event_that_ages_out_while_queued_is_not_run() -> None:
    """The first attempt starts late (stuck behind a backlog): the event is given up, not delivered."""
    clock = BacklogClock()
    dlq = Queue(clock=clock)
    calls: list[Any] = []
    target = Target(calls.append, retry_policy=RetryPolicy(maximum_event_age_in_seconds=60), dead_letter_queue=dlq,
                    clock=clock)
    delivery = target.deliver("late")
    on_time = target.deliver("on time")
    clock.run(after=60)  # 60 s old: still allowed
    assert calls == ["late", "on time"] and target.outcome(on_time)[0] is Outcome.SUCCEEDED  # type: ignore[index]
    calls.clear()
    delivery = target.deliver("late")
    clock.run(after=61)  # nothing ran it for 61 s: too old
    assert calls == []
    [message] = dlq.receive()
    assert message.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert message.attributes["ERROR_CODE"] == "EVENT_TOO_OLD"
    assert target.outcome(delivery)[0] is Outcome.DEAD_LETTERED  # type: ignore[index]


def test_repr() -> None:
    clock = ManualClock()
    target = Target(Queue("orders", clock=clock), target_id="t1", clock=clock)
    assert repr(target) == "<Target t1 -> arn:aws:sqs:us-east-1:123456789012:orders>"
