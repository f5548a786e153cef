"""Lambda-style functions: invocation types, retries, destinations, DLQ, throttles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import eventbus
from eventbus import Function, ManualClock, Outcome, Queue


def failing_times(n: int, log: list[Any]) -> Any:
    def handler(event: Any, context: Any) -> Any:
        log.append((context.aws_request_id, event))
        if len(log) <= n:
            raise ValueError(f"failure {len(log)}")
        return {"handled": event}

    return handler


def test_request_response_runs_now_and_returns_aws_shape() -> None:
    fn = Function(lambda e, c: {"echo": e, "name": c.function_name}, name="echo", clock=ManualClock())
    response = fn.invoke({"a": 1})
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "$LATEST"
    assert response["Payload"] == {"echo": {"a": 1}, "name": "echo"}
    assert "FunctionError" not in response
    assert fn.invoke(b'{"b": 2}')["Payload"]["echo"] == {"b": 2}


def test_request_response_reports_a_handler_error_as_function_error() -> None:
    def boom(event: Any, context: Any) -> None:
        raise KeyError("missing")

    response = Function(boom, clock=ManualClock()).invoke({})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "KeyError"
    assert response["Payload"]["errorMessage"] == "'missing'"


def test_event_returns_202_at_once_and_runs_later_through_the_clock() -> None:
    clock = ManualClock()
    log: list[Any] = []
    fn = Function(failing_times(0, log), clock=clock)
    assert fn.invoke({"x": 1}, "Event")["StatusCode"] == 202
    assert log == []
    clock.advance(0)
    assert [e for _, e in log] == [{"x": 1}]


def test_dry_run_and_bad_invocation_types() -> None:
    fn = Function(lambda e, c: None, clock=ManualClock())
    assert fn.invoke({}, "DryRun") == {"StatusCode": 204}
    with pytest.raises(eventbus.ValidationError, match=r"Member must satisfy enum value set: "
                                                       r"\[Event, RequestResponse, DryRun\]"):
        fn.invoke({}, "Async")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maximum_retry_attempts": 3}, "Value '3' at 'maximumRetryAttempts'.*less than or equal to 2"),
    ({"maximum_event_age_in_seconds": 59}, "Value '59' at 'maximumEventAgeInSeconds'.*greater than or equal to 60"),
    ({"maximum_event_age_in_seconds": 21601}, "less than or equal to 21600"),
    ({"reserved_concurrency": -1}, "reserved_concurrency"),
])
def test_function_settings_have_aws_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(eventbus.ValidationError, match=message):
        Function(lambda e, c: None, clock=ManualClock(), **kwargs)


def test_a_failing_event_invocation_is_retried_after_one_then_two_minutes() -> None:
    clock = ManualClock()
    log: list[Any] = []
    success = Queue("success", clock=clock)
    fn = Function(failing_times(2, log), name="flaky", clock=clock, on_success=success)
    start = clock.now()
    request_id = fn.invoke({"order": 7}, "Event")["RequestId"]
    times = []
    while clock.next_due() is not None:
        clock.advance_to(clock.next_due())  # type: ignore[arg-type]
        times.append((clock.now() - start).total_seconds())
    assert times == [0, 60, 180]
    assert {rid for rid, _ in log} == {request_id}
    [message] = success.receive()
    record = message.json()
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:flaky:$LATEST",
        "condition": "Success", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"handled": {"order": 7}}
    assert record["timestamp"] == "2024-01-01T00:03:00.000Z"
    assert fn.outcomes[request_id] == (Outcome.SUCCEEDED, "")
    m = fn.metrics
    assert (m.accepted, m.attempts, m.failures, m.retries, m.succeeded) == (1, 3, 2, 2, 1)


def test_an_always_failing_invocation_lands_in_the_dlq_and_on_failure() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    failures: list[Any] = []
    fn = Function(failing_times(99, []), name="broken", clock=clock, dead_letter_queue=dlq,
                  on_failure=failures.append)
    request_id = fn.invoke({"k": "v"}, "Event")["RequestId"]
    clock.run_until_idle()
    [message] = dlq.receive()
    assert message.json() == {"k": "v"}
    assert message.attributes == {"RequestID": request_id, "ErrorCode": "200", "ErrorMessage": "failure 3"}
    [record] = failures
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "failure 3"
    assert fn.outcomes[request_id] == (Outcome.DEAD_LETTERED, "RetriesExhausted")


def test_maximum_retry_attempts_zero_means_one_try() -> None:
    clock = ManualClock()
    log: list[Any] = []
    fn = Function(failing_times(99, log), clock=clock, maximum_retry_attempts=0, dead_letter_queue=Queue(clock=clock))
    fn.invoke({}, "Event")
    clock.run_until_idle()
    assert len(log) == 1


def test_event_age_ends_retries_with_event_age_exceeded() -> None:
    clock = ManualClock()
    records: list[Any] = []
    log: list[Any] = []
    fn = Function(failing_times(99, log), clock=clock, maximum_event_age_in_seconds=100, on_failure=records.append)
    fn.invoke({}, "Event")
    clock.run_until_idle()
    assert len(log) == 2  # at 0 s and 60 s; the next retry (180 s) would be too old
    assert records[0]["requestContext"]["condition"] == "EventAgeExceeded"


def test_throttles_are_retried_with_backoff_until_a_slot_frees() -> None:
    clock = ManualClock()
    seen: list[float] = []
    start = clock.now()
    fn = Function(lambda e, c: seen.append((clock.now() - start).total_seconds()), clock=clock,
                  reserved_concurrency=1, seed=3)
    fn._take_slot()  # someone else holds the only slot
    fn.invoke({}, "Event")
    clock.advance(30)
    assert seen == [] and fn.metrics.throttles >= 3
    fn._free_slot()
    clock.run_until_idle()
    assert len(seen) == 1 and fn.metrics.succeeded == 1 and fn.metrics.failures == 0


def test_zero_reserved_concurrency_fails_without_retries() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)
    fn = Function(lambda e, c: None, clock=clock, reserved_concurrency=0, dead_letter_queue=dlq)
    fn.invoke({"a": 1}, "Event")
    clock.run_until_idle()
    assert dlq.receive()[0].attributes["ErrorCode"] == "429"
    assert fn.metrics.attempts == 0
    with pytest.raises(eventbus.ThrottlingError, match="Rate Exceeded."):
        fn.invoke({})


def test_without_dlq_or_destination_the_loss_is_recorded(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    fn = Function(failing_times(99, []), clock=clock)
    rid = fn.invoke({}, "Event")["RequestId"]
    clock.run_until_idle()
    outcome, reason = fn.outcomes[rid]
    assert outcome is Outcome.DROPPED and reason.startswith("RetriesExhausted")
    assert fn.metrics.dropped == 1
    assert any("dropped" in r.message for r in caplog.records)


def test_destinations_can_be_functions() -> None:
    clock = ManualClock()
    got: list[Any] = []
    audit = Function(lambda e, c: got.append(e), name="audit", clock=clock)
    fn = Function(lambda e, c: "ok", clock=clock, on_success=audit)
    fn.invoke({"n": 1}, "Event")
    clock.run_until_idle()
    assert got[0]["responsePayload"] == "ok"


def test_async_handlers_are_awaited() -> None:
    clock = ManualClock()

    async def handler(event: Any, context: Any) -> Any:
        return {"async": event}

    fn = Function(handler, clock=clock, on_success=(records := []).append)
    assert fn.invoke({"a": 1})["Payload"] == {"async": {"a": 1}}
    fn.invoke({"b": 2}, "Event")
    clock.run_until_idle()
    assert records[0]["responsePayload"] == {"async": {"b": 2}}


def test_payloads_must_be_json_and_within_limits() -> None:
    fn = Function(lambda e, c: None, clock=ManualClock())
    with pytest.raises(eventbus.ValidationError, match="not JSON-serialisable"):
        fn.invoke({"x": object()}, "Event")
    with pytest.raises(eventbus.ValidationError, match="smaller than 1048576 bytes"):
        fn.invoke({"x": "a" * 1_100_000}, "Event")


def test_context_reports_remaining_time_on_the_clock() -> None:
    clock = ManualClock()
    remaining: list[int] = []

    def handler(event: Any, context: Any) -> None:
        remaining.append(context.get_remaining_time_in_millis())
        clock.advance(timedelta(seconds=1))
        remaining.append(context.get_remaining_time_in_millis())

    Function(handler, clock=clock, timeout=3).invoke({})
    assert remaining == [3000, 2000]
