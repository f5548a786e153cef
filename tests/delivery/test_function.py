"""Lambda-style functions: invocation types, retries, destinations, DLQ, throttles."""

from __future__ import annotations

import logging
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
    assert message.attributes == {"RequestID": request_id, "ErrorCode": "200",
                                  "ErrorMessage": "ValueError: failure 3"}
    [record] = failures
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "failure 3"
    assert fn.outcomes[request_id] == (Outcome.DEAD_LETTERED, "RetriesExhausted: ValueError: failure 3")


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


def test_without_dlq_or_destination_the_loss_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "eventbus")
    clock = ManualClock()
    fn = Function(failing_times(99, []), clock=clock)
    rid = fn.invoke({}, "Event")["RequestId"]
    clock.run_until_idle()
    outcome, reason = fn.outcomes[rid]
    assert outcome is Outcome.DROPPED
    assert reason == "no dead-letter queue or failure destination took it: RetriesExhausted: ValueError: failure 3"
    assert fn.metrics.dropped == 1
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "dropped after 3 attempt(s)" in warning.getMessage() and "ValueError: failure 3" in warning.getMessage()
    retries = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert len(retries) == 2 and "ValueError: failure 1" in retries[0] and "retry in 60.0 s" in retries[0]


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

    records: list[Any] = []
    fn = Function(handler, clock=clock, on_success=records.append)
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


# -- added with the delivery hardening (#6) ---------------------------------------------


def test_throttles_are_retried_on_their_own_backoff_without_using_up_retries() -> None:
    clock = ManualClock()
    start = clock.now()
    calls: list[float] = []
    throttled_meanwhile: list[int] = []

    def handler(event: Any, context: Any) -> str:
        if event == "hold the slot":  # a RequestResponse call holding the only slot for 30 s
            clock.advance(30)
            throttled_meanwhile.append(fn.metrics.throttles)
            return "held"
        calls.append((clock.now() - start).total_seconds())
        if len(calls) < 3:
            raise RuntimeError("fails twice")
        return "ok"

    fn = Function(handler, clock=clock, reserved_concurrency=1, seed=3)
    rid = fn.invoke({"e": 1}, "Event")["RequestId"]
    assert fn.invoke('"hold the slot"')["Payload"] == "held"
    assert throttled_meanwhile[0] >= 3 and calls == []  # backoff 0.5-1 s, 1-2 s, 2-4 s, ... within 30 s
    assert fn.wait(rid) == (Outcome.SUCCEEDED, "")
    assert len(calls) == 3  # both retries still there after the throttles
    assert calls[1] - calls[0] == pytest.approx(60) and calls[2] - calls[1] == pytest.approx(120)
    m = fn.metrics
    assert (m.attempts, m.failures, m.retries) == (4, 2, 2) and m.throttles == throttled_meanwhile[0]


def test_a_handler_non_retryable_error_is_not_retried() -> None:
    clock = ManualClock()
    calls: list[int] = []

    def handler(event: Any, context: Any) -> None:
        calls.append(1)
        raise eventbus.NonRetryableError("bad order", error_code="BAD_ORDER")

    failures: list[Any] = []
    fn = Function(handler, clock=clock, on_failure=failures.append)
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid) == (Outcome.DEAD_LETTERED, "RetriesExhausted: NonRetryableError: bad order")
    assert calls == [1] and fn.metrics.retries == 0
    assert failures[0]["requestContext"]["approximateInvokeCount"] == 1


def test_a_refusing_failure_destination_is_not_counted_as_dead_lettered() -> None:
    clock = ManualClock()

    def refuse(record: Any) -> None:
        raise RuntimeError("destination down")

    fn = Function(failing_times(99, []), clock=clock, maximum_retry_attempts=0, on_failure=refuse)
    rid = fn.invoke({}, "Event")["RequestId"]
    outcome, reason = fn.wait(rid)
    assert outcome is Outcome.DROPPED and reason.startswith("no dead-letter queue or failure destination took it")
    assert (fn.metrics.destination_failures, fn.metrics.dead_lettered) == (1, 0)
    # with a working DLQ beside it, the event is dead-lettered all the same
    dlq = Queue(clock=clock)
    fn = Function(failing_times(99, []), clock=clock, maximum_retry_attempts=0, on_failure=refuse,
                  dead_letter_queue=dlq)
    assert fn.wait(fn.invoke({}, "Event")["RequestId"])[0] is Outcome.DEAD_LETTERED and len(dlq) == 1


def test_a_refusing_success_destination_is_counted() -> None:
    clock = ManualClock()

    def refuse(record: Any) -> None:
        raise RuntimeError("no")

    fn = Function(lambda e, c: "ok", clock=clock, on_success=refuse)
    fn.invoke({}, "Event")
    clock.run_until_idle()
    assert fn.metrics.destination_failures == 1 and fn.metrics.succeeded == 1


def test_a_failing_async_handler_frees_its_concurrency_slot() -> None:
    clock = ManualClock()
    calls: list[int] = []

    async def handler(event: Any, context: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first fails")
        return "ok"

    fn = Function(handler, clock=clock, reserved_concurrency=1, maximum_retry_attempts=0)
    assert fn.wait(fn.invoke({}, "Event")["RequestId"])[0] is Outcome.DROPPED
    assert fn.wait(fn.invoke({}, "Event")["RequestId"])[0] is Outcome.SUCCEEDED  # the slot is free
    assert fn.metrics.throttles == 0


def test_a_result_that_is_not_json_is_a_marshal_error_both_ways() -> None:
    clock = ManualClock()
    response = Function(lambda e, c: {1, 2}, clock=clock).invoke({})
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"]["errorType"] == "Runtime.MarshalError"
    assert response["Payload"]["errorMessage"].startswith("Unable to marshal response: Object of type set")
    dlq, failures = Queue(clock=clock), list[Any]()
    fn = Function(lambda e, c: {1, 2}, clock=clock, dead_letter_queue=dlq, on_failure=failures.append)
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid)[0] is Outcome.DEAD_LETTERED and fn.metrics.attempts == 3  # a function error: retried
    assert failures[0]["responsePayload"]["errorType"] == "Runtime.MarshalError"
    assert failures[0]["responsePayload"] == response["Payload"]
    assert dlq.receive()[0].attributes["ErrorMessage"].startswith("Runtime.MarshalError: Unable to marshal response")


def test_the_dlq_error_message_names_the_type_and_keeps_the_first_kb() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)

    def handler(event: Any, context: Any) -> None:
        raise LookupError("é" * 2000)

    fn = Function(handler, clock=clock, dead_letter_queue=dlq, maximum_retry_attempts=0)
    fn.wait(fn.invoke({}, "Event")["RequestId"])
    message = dlq.receive()[0].attributes["ErrorMessage"]
    assert message.startswith("LookupError: é")
    assert len(message.encode()) <= 1024 and len(message.encode()) >= 1022
    assert message.encode().decode() == message  # cut on a character boundary


def test_the_event_age_is_checked_before_the_first_attempt() -> None:
    from .test_target import BacklogClock

    clock = BacklogClock()
    failures: list[Any] = []
    calls: list[Any] = []
    fn = Function(lambda e, c: calls.append(e), clock=clock, maximum_event_age_in_seconds=60,
                  on_failure=failures.append)
    rid = fn.invoke({"late": True}, "Event")["RequestId"]
    clock.run(after=65)
    assert calls == []
    assert fn.outcome(rid) == (Outcome.DEAD_LETTERED, "EventAgeExceeded: EventTooOldError: the event was 65 s old "
                                                      "before its first attempt (the maximum is 60 s)")
    assert failures[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert "functionError" not in failures[0]["responseContext"]  # the function never ran


def test_calling_a_function_is_a_checked_and_counted_invocation() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: {"got": e}, clock=clock)
    assert fn({"a": 1}) == {"got": {"a": 1}}
    assert fn.metrics.invocations == 1 and fn.metrics.attempts == 1

    def boom(event: Any, context: Any) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        Function(boom, clock=clock)({})
    assert Function(lambda e, c: None, clock=clock, reserved_concurrency=0).metrics.throttles == 0
    zero = Function(lambda e, c: None, clock=clock, reserved_concurrency=0)
    with pytest.raises(eventbus.ThrottlingError, match="Rate Exceeded."):
        zero({})
    assert zero.metrics.throttles == 1 and zero.metrics.attempts == 0
    fn.delete()
    with pytest.raises(eventbus.ResourceNotFoundError, match=f"Function not found: {fn.arn}"):
        fn({})
    with pytest.raises(eventbus.ResourceNotFoundError):
        fn.invoke({}, "Event")
    assert fn.metrics.invocations == 1  # refused calls are not counted
    assert fn.handler(5, None) == {"got": 5}  # the bare handler, for unit tests of the handler itself


def test_async_handlers_inside_a_running_loop_use_invoke_async() -> None:
    import asyncio
    import time

    async def main() -> Any:
        clock = ManualClock()

        async def slow(event: Any, context: Any) -> Any:
            await asyncio.sleep(0.2)
            return {"slow": event}

        fn = Function(slow, clock=clock)
        with pytest.raises(eventbus.LoopBlockingError, match="await fn.invoke_async"):
            fn.invoke({})
        with pytest.raises(eventbus.LoopBlockingError):
            fn({})
        assert fn.metrics.invocations == 0
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        response = await fn.invoke_async({"a": 1})
        took = time.monotonic() - started
        task.cancel()
        def sleepy(e: Any, c: Any) -> str:
            time.sleep(0.1)
            return "plain"

        plain = await Function(sleepy, clock=clock).invoke_async({})
        event = await fn.invoke_async({"b": 2}, "Event")
        dry = await fn.invoke_async({}, "DryRun")
        await clock.run_until_idle_async()
        return response, ticks, took, plain, event, dry, fn.metrics

    response, ticks, took, plain, event, dry, metrics = asyncio.run(main())
    assert response["Payload"] == {"slow": {"a": 1}} and took >= 0.2
    assert ticks >= 10  # the loop kept running while the handler awaited
    assert plain["Payload"] == "plain"
    assert event["StatusCode"] == 202 and dry == {"StatusCode": 204}
    assert metrics.succeeded == 1 and metrics.invocations == 3


def test_invoke_async_reports_handler_errors_and_throttles() -> None:
    import asyncio

    async def main() -> Any:
        clock = ManualClock()

        async def boom(event: Any, context: Any) -> None:
            raise ValueError("async boom")

        response = await Function(boom, clock=clock).invoke_async({})
        zero = Function(boom, clock=clock, reserved_concurrency=0)
        with pytest.raises(eventbus.ThrottlingError):
            await zero.invoke_async({})
        return response

    response = asyncio.run(main())
    assert response["FunctionError"] == "Unhandled" and response["Payload"]["errorType"] == "ValueError"


def test_ids_are_reproducible_under_a_manual_clock() -> None:
    def run(seed: int = 0) -> list[str]:
        clock = ManualClock(seed=seed)
        fn = Function(lambda e, c: None, clock=clock)
        return [fn.invoke({}, "Event")["RequestId"], fn.invoke({})["RequestId"]]

    assert run() == run()
    assert run(seed=1) != run()
    assert len(set(run())) == 2


def test_context_and_repr() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: (c.function_name, c.invoked_function_arn, c.log_group_name, c.memory_limit_in_mb),
                  name="ctx", clock=clock)
    assert fn({}) == ["ctx", fn.arn, "/aws/lambda/ctx", 128]
    assert repr(fn) == "<Function ctx>"
    fn.delete()
    assert repr(fn) == "<Function ctx (deleted)>"


class _Payload:
    """Stands for something big a handler holds in a local variable."""


def test_a_waiting_retry_and_an_ended_delivery_hold_no_handler_locals() -> None:
    # Bounded memory: a failed attempt's stack frames (and the handler's locals in
    # them) are let go at once, while its retry waits and after the delivery ends,
    # without waiting for the cycle collector.
    import gc
    import weakref

    held: list[weakref.ref[_Payload]] = []

    def handler(event: Any, context: Any) -> None:
        big = _Payload()
        held.append(weakref.ref(big))
        raise ValueError("no")

    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    fn = Function(handler, clock=clock, dead_letter_queue=dlq)
    gc.disable()
    try:
        delivery = fn.invoke({}, "Event")["RequestId"]
        clock.advance(0)
        assert fn.metrics.retries == 0 and len(held) == 1
        assert held[0]() is None  # the retry waits 60 s; the first attempt's frame is gone
        clock.run_until_idle()
        outcome = fn.outcome(delivery)
        assert outcome is not None and outcome[0] is Outcome.DEAD_LETTERED and len(held) == 3
        assert [ref() for ref in held] == [None, None, None]
    finally:
        gc.enable()
