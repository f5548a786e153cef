"""The edges of delivery that mutation testing showed no test pinned: defaults, names, records,
exact messages, and the timing of throttle retries."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import timedelta
from typing import Any

import pytest

import eventbus
from eventbus import (
    AsyncioClock,
    Function,
    ManualClock,
    Outcome,
    Queue,
    QueueStore,
    ResourceNotFoundError,
    RetryPolicy,
    SystemClock,
    Target,
    ValidationError,
    WaitTimeoutError,
)
from eventbus._delivery._retry import backoff_delay

from ..support import ListClock, message


def handler(event: Any, context: Any) -> None:
    return None


def sink(event: Any) -> None:
    return None



def test_defaults() -> None:
    clock = ManualClock()
    target = Target(print, clock=clock)
    assert (target.target_id, target.rule_arn, target.outcome_retention, target.seed) == ("target", "", 10_000, None)
    assert target.retry_policy == RetryPolicy() and target.destination is print and target.dead_letter_queue is None
    fn = Function(handler, clock=clock)
    assert (fn.maximum_retry_attempts, fn.maximum_event_age_in_seconds, fn.timeout, fn.reserved_concurrency,
            fn.region, fn.account, fn.outcome_retention, fn.name) == (2, 21600, 3, None, "us-east-1", "123456789012",
                                                                      10_000, "handler")
    queue = Queue("q", clock=clock)
    assert (queue.capacity, queue.visibility_timeout, queue.region, queue.account, queue.max_receive_count,
            queue.dead_letter_queue, queue.seed) == (100_000, 30.0, "us-east-1", "123456789012", None, None, None)
    queue.send("a")
    queue.send("b")
    assert [m.body for m in queue.receive()] == ["a"]  # one message by default
    clock.advance(29)
    assert queue.receive()[0].body == "b"
    clock.advance(1)
    assert queue.receive()[0].receive_count == 2  # hidden 30 s by default


def test_names_of_destinations_and_labels_of_timers() -> None:
    clock = ManualClock()

    class Sink:
        def __call__(self, event: Any) -> None:
            return None

    assert Target(Sink(), clock=clock).arn == "python:tests.delivery.test_edges.Sink"
    assert Target(sink, clock=clock).arn == "python:tests.delivery.test_edges.sink"
    target = Target(print, target_id="T1", clock=clock)
    delivery = target.deliver({})
    assert [t.label for t in clock.pending()] == [f"target T1 -> python:builtins.print {delivery}"]
    fn = Function(lambda e, c: 1 / 0, name="f", clock=clock)
    rid = fn.invoke({}, "Event")["RequestId"]
    clock.advance(1)
    assert [t.label for t in clock.pending()] == [f"retry 1 function f {rid}"]
    assert message(lambda: Target(print, target_id="x" * 65, clock=clock)).endswith(
        "Member must have length less than or equal to 64")


def test_records_shape_timestamps_status_and_stack_traces() -> None:
    clock = ManualClock()
    failures: list[Any] = []
    dlq = Queue(clock=clock)

    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise ValueError("at the bottom")

    fn = Function(lambda e, c: deep(20), clock=clock, on_failure=failures.append, maximum_retry_attempts=0)
    clock.advance(1.5)
    fn.invoke({}, "Event")
    clock.advance(0)
    record = failures[0]
    assert record["timestamp"] == "2024-01-01T00:00:01.500Z"
    trace = record["responsePayload"]["stackTrace"]
    assert len(trace) == 5 and "deep" in trace[-1] and "raise ValueError" in trace[-1]
    gone = Function(handler, name="gone", clock=clock, on_failure=failures.append, dead_letter_queue=dlq)
    rid = gone.invoke({}, "Event")["RequestId"]
    gone.delete()
    clock.advance(0)
    assert failures[1]["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert failures[1]["responsePayload"] is None  # the function never ran
    assert dlq.receive()[0].attributes == {"RequestID": rid, "ErrorCode": "404",
                                           "ErrorMessage": f"ResourceNotFoundError: Function not found: {gone.arn}"}


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    clock = ManualClock()
    dlq = Queue(clock=clock)

    def quiet(event: Any, context: Any = None) -> None:
        raise RuntimeError()

    Function(quiet, clock=clock, dead_letter_queue=dlq, maximum_retry_attempts=0).invoke({}, "Event")
    target = Target(quiet, clock=clock, dead_letter_queue=dlq, retry_policy=RetryPolicy(maximum_retry_attempts=0))
    delivery = target.deliver({})
    clock.run_until_idle()
    assert sorted(m.attributes.get("ErrorMessage") or m.attributes["ERROR_MESSAGE"] for m in dlq.receive(10)) == [
        "RuntimeError", "RuntimeError"]
    assert target.outcome(delivery) == (Outcome.DEAD_LETTERED, "MaximumRetryAttempts: RuntimeError")


def test_reasons_say_not_retried_and_count_throttled_retries() -> None:
    clock = ManualClock()
    target = Target(lambda e: (_ for _ in ()).throw(ResourceNotFoundError("gone")), clock=clock)
    delivery = target.deliver({})
    clock.advance(0)
    assert target.outcome(delivery) == (Outcome.DROPPED, "no dead-letter queue or failure destination took it: "
                                                          "not retried: ResourceNotFoundError: gone")
    fn = Function(lambda e, c: clock.advance(5) if e == "hold" else None, clock=clock, reserved_concurrency=1)
    rid = fn.invoke({}, "Event")["RequestId"]
    fn.invoke('"hold"')  # throttles the queued one a few times meanwhile
    throttles = fn.metrics.throttles
    clock.shutdown(drain=False)
    assert fn.outcome(rid) == (Outcome.DROPPED, f"the clock was shut down before retry {throttles}")


def throttles_while_held(seed: int) -> list[int]:
    """Throttle counts, every 0.1 s, of an Event invocation queued behind a call that holds the only slot."""
    clock = ManualClock(seed=seed)
    seen: list[int] = []

    def handler(event: Any, context: Any) -> None:
        if event == "hold":
            for _ in range(10):
                clock.advance(0.1)
                seen.append(fn.metrics.throttles)

    fn = Function(handler, clock=clock, reserved_concurrency=1)
    fn.invoke({}, "Event")
    fn.invoke('"hold"')
    return seen


def test_throttle_retries_start_after_half_a_second_to_a_second() -> None:
    for seed in range(20):
        seen = throttles_while_held(seed)
        # throttled at 0 s (queued behind the held slot), then again 0.5-1 s later
        assert seen[3] == 1 and seen[-1] == 2, (seed, seen)


def test_backoff_uses_the_whole_jitter_band() -> None:
    rng = random.Random(1)
    draws = [backoff_delay(3, 1.0, 300.0, rng) for _ in range(2000)]
    assert min(draws) >= 2.0 and max(draws) <= 4.0
    assert min(draws) < 2.05 and max(draws) > 3.95


def test_function_details() -> None:
    clock = ManualClock()
    remaining: list[int] = []

    def slow(event: Any, context: Any) -> None:
        clock.advance(5)
        remaining.append(context.get_remaining_time_in_millis())

    Function(slow, clock=clock, timeout=3)({})
    assert remaining == [0]  # never negative
    assert message(lambda: Function(handler, clock=clock, reserved_concurrency=0)({})) == \
        "ThrottlingError: Rate Exceeded."
    assert message(lambda: Function(handler, clock=clock).deliver({"x": float("nan")})) == (
        "ValidationError: payload is not JSON-serialisable: Out of range float values are not JSON compliant")


def test_function_failed_to_dlq_is_counted() -> None:
    clock = ManualClock()
    full = Queue(clock=clock, capacity=1)
    full.send("occupied")
    fn = Function(lambda e, c: 1 / 0, clock=clock, dead_letter_queue=full, maximum_retry_attempts=0)
    rid = fn.invoke({}, "Event")["RequestId"]
    assert fn.wait(rid)[0] is Outcome.DROPPED and (fn.metrics.failed_to_dlq, fn.metrics.sent_to_dlq) == (1, 0)


def test_zero_concurrency_records_carry_no_function_error() -> None:
    clock = ManualClock()
    failures: list[Any] = []
    fn = Function(handler, clock=clock, reserved_concurrency=0, on_failure=failures.append)
    fn.invoke({"a": 1}, "Event")
    clock.advance(0)
    assert failures[0]["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert failures[0]["responsePayload"] is None and failures[0]["requestPayload"] == {"a": 1}


def test_invoke_async_passes_payload_and_context() -> None:
    async def main() -> Any:
        clock = ManualClock()
        seen: list[Any] = []

        async def record(event: Any, context: Any) -> Any:
            seen.append((event, context.aws_request_id))
            return event

        def plain(event: Any, context: Any) -> Any:
            seen.append((event, context.aws_request_id))
            return [event]

        fn = Function(record, clock=clock)
        sync_fn = Function(plain, clock=clock)
        first = await fn.invoke_async({"n": 1})
        second = await sync_fn.invoke_async({"n": 2})
        event = await fn.invoke_async({"n": 3}, "Event")
        await clock.run_until_idle_async()
        return first, second, event, seen

    first, second, event, seen = asyncio.run(main())
    assert first["Payload"] == {"n": 1} and second["Payload"] == [{"n": 2}]
    assert seen == [({"n": 1}, first["RequestId"]), ({"n": 2}, second["RequestId"]), ({"n": 3}, event["RequestId"])]


def test_calling_an_async_function_inside_a_loop_names_the_twin() -> None:
    async def main() -> str:
        async def handler(event: Any, context: Any) -> None:
            return None

        return message(lambda: Function(handler, name="h", clock=ManualClock())({}))

    assert asyncio.run(main()) == ("LoopBlockingError: fn(...) would block the running event loop to run the async "
                                   "handler of h: use await fn.invoke_async(...)")


def test_async_destination_objects_are_awaited() -> None:
    clock = ManualClock()
    got: list[Any] = []

    class AsyncSink:
        async def deliver(self, payload: Any, attributes: Any = None) -> None:
            await asyncio.sleep(0)
            got.append((payload, attributes))

    target = Target(AsyncSink(), clock=clock)
    assert target.wait(target.deliver({"a": 1}, {"k": "v"})) == (Outcome.SUCCEEDED, "")
    assert got == [({"a": 1}, {"k": "v"})]


def test_a_cancelled_async_handler_ends_dropped_and_frees_its_slot() -> None:
    async def main() -> Any:
        clock = AsyncioClock()
        started = asyncio.Event()

        async def forever(event: Any, context: Any) -> str:
            if event:
                started.set()
                await asyncio.Event().wait()
            return "free"

        fn = Function(forever, clock=clock, reserved_concurrency=1)
        rid = fn.invoke({"wait": "forever"}, "Event")["RequestId"]
        await started.wait()
        return fn, rid

    fn, rid = asyncio.run(main())  # the loop ends: the handler's task is cancelled
    assert fn.outcome(rid) == (Outcome.DROPPED, "interrupted by CancelledError: the attempt did not finish")
    assert fn.invoke({})["Payload"] == "free"  # not throttled: the slot was given back


def test_wait_messages() -> None:
    clock = SystemClock(workers=1)
    try:
        fn = Function(lambda e, c: __import__("time").sleep(0.3), clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        assert message(lambda: fn.wait(rid, timeout=0.01)) == \
            f"WaitTimeoutError: delivery {rid} did not end within 0.01 s"
        assert message(lambda: fn.wait(rid, timeout="x")).startswith(  # type: ignore[arg-type]
            "ValidationError: Invalid type for parameter timeout")
        assert message(lambda: fn.outcome("nope")) == (
            "ResourceNotFoundError: No delivery 'nope': it was never accepted here, or its outcome is no longer kept "
            "(outcome_retention=10000)")
        with pytest.raises(KeyError) as missing:
            fn.outcomes["nope"]
        assert missing.value.args == ("nope",)
        fn.wait(rid, timeout=5)
    finally:
        clock.shutdown()

    async def main() -> tuple[str, str]:
        async with AsyncioClock() as clock:
            async def slow(e: Any, c: Any) -> None:
                await asyncio.sleep(0.2)

            fn = Function(slow, clock=clock)
            rid = fn.invoke({}, "Event")["RequestId"]
            blocked = message(lambda: fn.wait(rid))
            try:
                await fn.wait_async(rid, timeout=0.01)
            except WaitTimeoutError as exc:
                timed_out = str(exc)
            return blocked, timed_out.replace(rid, "<rid>")

    blocked, timed_out = asyncio.run(main())
    assert blocked == ("LoopBlockingError: wait() would block the clock's own event loop: "
                       "use await wait_async(...)")
    assert timed_out == "delivery <rid> did not end within 0.01 s"


def test_a_queue_on_a_custom_store_and_seed() -> None:
    from eventbus import MemoryQueueStore

    store = MemoryQueueStore()
    queue = Queue(clock=ManualClock(), store=store, seed=7)
    queue.send("kept in the given store")
    assert isinstance(store, QueueStore) and len(store) == 1 and queue.store is store
    same = Queue(clock=ManualClock(), seed=7)
    assert queue.messages()[0].message_id == same.send("x")  # the seed fixes the ids
    assert queue.messages()[0].message_id[14] == "4"  # version 4 UUIDs
    assert queue.messages()[0].sent_at is not None


def test_change_visibility_and_receive_messages() -> None:
    queue = Queue(clock=ManualClock())
    queue.send("x")
    [m] = queue.receive()
    queue.delete(m)
    assert message(lambda: queue.change_visibility(m, 5)) == (
        f"ValidationError: Value {m.receipt_handle} for parameter ReceiptHandle is invalid. Reason: Message does "
        "not exist or is not available for visibility timeout change.")
    Queue(clock=ManualClock(), visibility_timeout=43_200)  # the maximum is allowed


def test_clock_mismatch_names_the_part_and_the_owner() -> None:
    a, b = ManualClock(), ManualClock()
    other = Queue(clock=b)
    text = message(lambda: Queue(clock=a, dead_letter_queue=other, max_receive_count=1))
    assert text.startswith("ValidationError: dead_letter_queue runs on <ManualClock") and \
        "but this Queue runs on" in text
    text = message(lambda: Target(other.send, clock=a))
    assert text.startswith("ValidationError: destination runs on") and "but this Target runs on" in text
    text = message(lambda: Target(print, clock=a, dead_letter_queue=other))
    assert text.startswith("ValidationError: dead_letter_queue runs on") and "but this Target runs on" in text


def test_retry_delays_are_one_then_two_minutes() -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: 1 / 0, clock=clock)
    fn.invoke({}, "Event")
    clock.advance(0)
    assert clock.next_due() == clock.now() + timedelta(seconds=60)
    clock.advance(60)
    assert clock.next_due() == clock.now() + timedelta(seconds=120)


def test_payload_messages_name_the_part() -> None:
    fn = Function(handler, clock=ManualClock())
    assert message(lambda: fn.invoke("\ud800")) == (
        "ValidationError: request body is not valid Unicode text: surrogates not allowed at position 0")
    assert message(lambda: fn.invoke("[" * 201 + "]" * 201)) == (
        "ValidationError: request body nests deeper than 200 levels")
    assert message(lambda: Queue(clock=ManualClock()).send({"x": float("inf")})) == (
        "ValidationError: MessageBody is not JSON-serialisable: Out of range float values are not JSON compliant")


def test_message_repr() -> None:
    queue = Queue(clock=ManualClock())
    queue.send("x" * 100, {"k": "v" * 100})
    [m] = queue.receive()
    assert repr(m) == (f"Message(message_id={m.message_id!r}, body='{'x' * 56}..., "
                       f"attributes={{'k': '{'v' * 50}..., receive_count=1)")


def test_request_response_ids_and_contexts_agree() -> None:
    clock = ManualClock()
    seen: list[str] = []
    fn = Function(lambda e, c: seen.append(c.aws_request_id), clock=clock)
    response = fn.invoke({})
    assert response["RequestId"] == seen[0] and response["RequestId"]

    async def main() -> Any:
        async def boom(e: Any, c: Any) -> None:
            raise ValueError("x")

        def returns_coroutine(e: Any, c: Any) -> Any:
            async def later() -> str:
                return "awaited"

            return later()

        failed = await Function(boom, clock=clock).invoke_async({})
        awaited = await Function(returns_coroutine, clock=clock).invoke_async({})
        return failed, awaited

    failed, awaited = asyncio.run(main())
    assert failed["RequestId"] and failed["FunctionError"] == "Unhandled"
    assert awaited["Payload"] == "awaited"

    async def inside() -> dict[str, Any]:
        def plain(e: Any, c: Any) -> Any:  # a plain handler that returns a coroutine, called inside a loop
            async def later() -> None:
                return None

            return later()

        return Function(plain, name="p", clock=clock).invoke({})

    payload = asyncio.run(inside())["Payload"]
    assert (payload["errorType"], payload["errorMessage"]) == (
        "LoopBlockingError", "Function p would block the running event loop to run async work")


def test_a_refusing_failure_destination_is_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()

    def refuse(record: Any) -> None:
        raise RuntimeError("down")

    fn = Function(lambda e, c: 1 / 0, name="f", clock=clock, on_failure=refuse, maximum_retry_attempts=0)
    fn.wait(fn.invoke({}, "Event")["RequestId"])
    assert "eventbus: on_failure destination of f refused a record: RuntimeError: down" in caplog.text


def test_wait_async_checks_its_timeout() -> None:
    async def main() -> str:
        clock = ManualClock()
        fn = Function(handler, clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        try:
            await fn.wait_async(rid, timeout="x")  # type: ignore[arg-type]
        except Exception as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(main()).startswith("Invalid type for parameter timeout")


def test_settings_read_back_as_given() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock)

    def record(r: Any) -> None:
        return None

    fn = Function(handler, clock=clock, on_success=queue, on_failure=record, dead_letter_queue=queue)
    assert (fn.on_success, fn.on_failure, fn.dead_letter_queue) == (queue, record, queue)
    target = Target(print, clock=clock, dead_letter_queue=queue, seed=0)
    assert (target.dead_letter_queue, target.seed) == (queue, 0)
    assert Queue("Orders_2", clock=clock).name == "Orders_2"


def test_default_function_names() -> None:
    clock = ManualClock()

    def MyHandler2(event: Any, context: Any) -> None:  # a name with capitals and digits
        return None

    class NoName:
        def __call__(self, event: Any, context: Any) -> None:
            return None

    assert Function(MyHandler2, clock=clock).name == "MyHandler2"
    assert Function(NoName(), clock=clock).name == "function"
    long = lambda e, c: None  # noqa: E731
    long.__name__ = "h" * 100
    assert Function(long, clock=clock).name == "h" * 64


def test_reserved_concurrency_caps_nested_calls() -> None:
    clock = ManualClock()
    depth: list[int] = []

    def nest(event: Any, context: Any) -> Any:
        depth.append(event)
        return fn(event + 1) if event < 3 else "bottom"

    fn = Function(nest, clock=clock, reserved_concurrency=2)
    response = fn.invoke(1)  # 1 holds a slot, 2 holds the other, 3 is throttled (and 2, then 1, raise it)
    assert response["FunctionError"] == "Unhandled" and response["Payload"]["errorType"] == "ThrottlingError"
    assert depth == [1, 2] and fn.metrics.throttles == 1
    one = Function(lambda e, c: None, clock=clock, reserved_concurrency=1)
    for _ in range(3):
        one({})  # each call gives its slot back
    assert one.metrics.throttles == 0 and one.invoke(None)["StatusCode"] == 200


def test_retry_policy_edges() -> None:
    assert RetryPolicy(max_delay=86400).max_delay == 86400.0
    assert RetryPolicy(base_delay=5, max_delay=5).base_delay == 5.0
    policy = RetryPolicy(base_delay=timedelta(seconds=2), max_delay=timedelta(minutes=1))  # type: ignore[arg-type]
    assert (policy.base_delay, policy.max_delay) == (2.0, 60.0) and isinstance(policy.base_delay, float)
    assert message(lambda: RetryPolicy(max_delay=86400.5)).endswith(
        "Member must have value less than or equal to 86400")


def test_payload_size_limits() -> None:
    fn = Function(handler, clock=ManualClock())
    at_limit = "x" * (1_048_576 - 2)  # with its quotes: exactly 1 MB
    fn.deliver(at_limit)
    assert fn.invoke({"s": "x" * 300_000}, "Event")["StatusCode"] == 202  # long, but under the limit
    assert message(lambda: fn.deliver("x" * 1_048_576)) == (
        "ValidationError: Request must be smaller than 1048576 bytes for the InvokeFunction operation")
    assert fn.invoke({"s": "x" * 2_000_000}, "DryRun") == {"StatusCode": 204}  # synchronous calls take up to 6 MB


def test_invoke_and_handler_clock_messages() -> None:
    async def main() -> str:
        async def async_handler(e: Any, c: Any) -> None:
            return None

        return message(lambda: Function(async_handler, name="h", clock=ManualClock()).invoke({}))

    assert asyncio.run(main()) == ("LoopBlockingError: Function.invoke() would block the running event loop to run "
                                   "the async handler of h: use await fn.invoke_async(...)")
    other = Function(handler, clock=ManualClock())
    text = message(lambda: Function(other, clock=ManualClock()))  # type: ignore[arg-type]
    assert text.startswith("ValidationError: handler runs on <ManualClock") and "but this Function runs on" in text


def test_throttle_reasons() -> None:
    clock = ManualClock()
    zero = Function(handler, clock=clock, reserved_concurrency=0)
    rid = zero.invoke({}, "Event")["RequestId"]
    clock.advance(0)
    assert zero.outcome(rid) == (Outcome.DROPPED, "no dead-letter queue or failure destination took it: "
                                                  "RetriesExhausted: ThrottlingError: Rate Exceeded.")
    held: list[str] = []

    def hold(event: Any, context: Any) -> None:
        if event == "hold":
            clock.advance(120)

    aged = Function(hold, clock=clock, reserved_concurrency=1, maximum_event_age_in_seconds=60)
    rid = aged.invoke({}, "Event")["RequestId"]
    aged.invoke('"hold"')
    assert aged.outcome(rid) == (Outcome.DROPPED, "no dead-letter queue or failure destination took it: "
                                                  "EventAgeExceeded: ThrottlingError: Rate Exceeded.")
    assert held == []


def test_marshal_failures_count_as_failures_and_refused_success_records_are_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    fn = Function(lambda e, c: {1}, clock=clock, maximum_retry_attempts=2)
    fn.wait(fn.invoke({}, "Event")["RequestId"])
    assert (fn.metrics.attempts, fn.metrics.failures) == (3, 3)

    def refuse(record: Any) -> None:
        raise RuntimeError("down")

    ok = Function(handler, name="ok", clock=clock, on_success=refuse)
    ok.wait(ok.invoke({}, "Event")["RequestId"])
    assert "eventbus: on_success destination of ok refused a record: RuntimeError: down" in caplog.text


def test_async_destination_objects_cannot_take_records() -> None:
    class AsyncSink:
        async def deliver(self, payload: Any, attributes: Any = None) -> None:
            return None

    assert message(lambda: Function(handler, clock=ManualClock(), on_failure=AsyncSink())).startswith(
        "ValidationError: on_failure must be synchronous")


def test_names_of_nameless_destinations() -> None:
    import functools

    assert Target(functools.partial(print), clock=ManualClock()).arn == "python:functools.partial"


def test_request_ids_are_version_4_uuids() -> None:
    clock = ManualClock()
    fn = Function(handler, clock=clock)
    for rid in (fn.invoke({}, "Event")["RequestId"], fn.invoke({})["RequestId"], Target(print, clock=clock).deliver(1)):
        assert rid[14] == "4" and len(rid) == 36


def test_retry_labels_count_throttled_retries_too() -> None:
    clock = ManualClock()
    labels: list[str] = []

    def hold(event: Any, context: Any) -> None:
        if event == "hold":
            clock.advance(0.7)
            labels.extend(t.label for t in clock.pending())

    fn = Function(hold, name="f", clock=clock, reserved_concurrency=1)
    rid = fn.invoke({}, "Event")["RequestId"]
    fn.invoke('"hold"')
    assert labels and labels[0] == f"retry {fn.metrics.throttles} function f {rid}"


def test_a_plain_handler_returning_a_coroutine_inside_a_loop_is_not_retried() -> None:
    async def main() -> Any:
        clock = ManualClock()

        def plain(event: Any, context: Any) -> Any:
            async def later() -> None:
                return None

            return later()

        fn = Function(plain, name="p", clock=clock)
        rid = fn.invoke({}, "Event")["RequestId"]
        await clock.run_until_idle_async()
        return fn.outcome(rid), fn.metrics.attempts

    (outcome, reason), attempts = asyncio.run(main())
    assert outcome is Outcome.DROPPED and attempts == 1
    assert reason.endswith("RetriesExhausted: LoopBlockingError: function p (an awaitable from a plain function) "
                           "would block the running event loop to run async work")


def test_a_failure_in_the_bookkeeping_after_a_call_still_ends_the_delivery(monkeypatch: pytest.MonkeyPatch,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """No public input reaches this guard (it is there for eventbus's own bugs): a patched step stands in."""
    clock = ManualClock()
    target = Target(lambda e: 1 / 0, clock=clock, retry_policy=RetryPolicy(maximum_retry_attempts=0))

    def broken(job: Any, exc: BaseException, condition: str | None) -> bool:
        raise RuntimeError("a bug")

    monkeypatch.setattr(target, "_dead_letter", broken)
    delivery = target.deliver({})
    clock.advance(0)
    assert target.outcome(delivery) == (Outcome.DROPPED, "internal error after the call: RuntimeError: a bug")
    assert "internal error after the call" in caplog.text


def test_a_late_retry_gives_up_with_the_last_error() -> None:
    from .test_target import BacklogClock

    clock = BacklogClock()
    dlq = Queue(clock=clock)
    target = Target(lambda e: 1 / 0, clock=clock, dead_letter_queue=dlq,
                    retry_policy=RetryPolicy(maximum_event_age_in_seconds=60))
    target.deliver({})
    clock.run(after=0)  # fails; its retry waits
    clock.run(after=61)  # the retry starts too late: given up with the error it last had
    [m] = dlq.receive()
    assert (m.attributes["ERROR_CODE"], m.attributes["EXHAUSTED_RETRY_CONDITION"]) == (
        "ZeroDivisionError", "MaximumEventAgeInSeconds")


def test_interrupted_handlers_free_their_slot_and_end_their_delivery() -> None:
    clock = ManualClock()
    interrupt = [True]

    def handler_(event: Any, context: Any) -> str:
        if interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        return "ok"

    fn = Function(handler_, clock=clock, reserved_concurrency=1)
    rid = fn.invoke({}, "Event")["RequestId"]
    with pytest.raises(KeyboardInterrupt):
        clock.advance(0)
    assert fn.outcome(rid) == (Outcome.DROPPED, "interrupted by KeyboardInterrupt: the attempt did not finish")
    assert fn.invoke({})["Payload"] == "ok"  # the slot is free again
    target = Target(lambda e: (_ for _ in ()).throw(SystemExit(3)), clock=clock)
    delivery = target.deliver("e")
    with pytest.raises(SystemExit):
        clock.advance(0)
    assert target.outcome(delivery) == (Outcome.DROPPED, "interrupted by SystemExit: the attempt did not finish")


def test_each_function_attempt_gets_a_fresh_copy_of_the_payload() -> None:
    clock = ManualClock()
    seen: list[Any] = []

    def mangle(event: Any, context: Any) -> None:
        seen.append(dict(event))
        event["hops"] = event.get("hops", 0) + 1
        del event["order"]
        raise RuntimeError("again")

    dlq = Queue(clock=clock)
    fn = Function(mangle, clock=clock, dead_letter_queue=dlq)
    fn.invoke({"order": 1}, "Event")
    clock.run_until_idle()
    assert seen == [{"order": 1}] * 3
    assert dlq.receive()[0].json() == {"order": 1}


def test_a_late_function_retry_records_the_kept_error_without_frames() -> None:
    from .test_target import BacklogClock

    def handler(event: Any, context: Any) -> None:
        raise ValueError("order 7 is unknown")

    clock = BacklogClock()
    records: list[Any] = []
    fn = Function(handler, clock=clock, maximum_event_age_in_seconds=60,
                  on_failure=records.append)
    fn.invoke({}, "Event")
    clock.run_first()  # fails; its retry is queued for 60 s later
    assert [t.label.split()[:2] for t in clock.timers] == [["retry", "1"]]
    clock.run(after=61)  # the retry starts too late: given up with the error it kept, frames dropped
    [record] = records
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"] == {"errorMessage": "order 7 is unknown", "errorType": "ValueError",
                                         "stackTrace": []}


class _StepClock(ListClock):
    """A clock that, like many hand-written loops, decides how to run a callback
    with ``inspect.iscoroutinefunction``."""

    def run(self) -> None:
        import inspect

        while self.timers:
            timer = min(self.timers, key=lambda t: t.when)
            self.timers.remove(timer)
            self.time = max(self.time, timer.when)
            timer.done = True
            if inspect.iscoroutinefunction(timer.callback):
                asyncio.run(timer.callback())
            else:
                timer.callback()


def test_async_deliveries_hand_a_clock_a_coroutine_function() -> None:
    calls: list[str] = []

    async def handler(event: Any, context: Any) -> None:
        calls.append("function")
        if len(calls) == 1:
            raise ValueError("once")

    async def send(event: Any) -> None:
        calls.append("target")

    clock = _StepClock()
    fn, target = Function(handler, clock=clock), Target(send, clock=clock)
    request_id, delivery = fn.invoke({}, "Event")["RequestId"], target.deliver({})
    clock.run()
    assert fn.outcome(request_id) == (Outcome.SUCCEEDED, "") and target.outcome(delivery) == (Outcome.SUCCEEDED, "")
    assert sorted(calls) == ["function", "function", "target"]


class _Big:
    pass


def test_a_waiting_retry_holds_no_locals_even_behind_a_chained_error() -> None:
    import gc
    import weakref

    held: list[weakref.ref[_Big]] = []

    def handler(event: Any, context: Any) -> None:
        big = _Big()
        held.append(weakref.ref(big))
        try:
            {"present": 1}["missing"]
        except KeyError as err:
            raise RuntimeError("wrapped") from err

    clock = ManualClock()
    fn = Function(handler, clock=clock)
    gc.disable()
    try:
        fn.invoke({}, "Event")
        clock.advance(0)
        assert len(held) == 1 and held[0]() is None
    finally:
        gc.enable()


def test_the_handler_s_own_exception_is_left_as_it_was() -> None:
    seen: list[BaseException] = []

    def handler(event: Any, context: Any) -> None:
        try:
            int("x")
        except ValueError as exc:
            seen.append(exc)
            raise

    clock = ManualClock()
    fn = Function(handler, clock=clock)
    fn.invoke({}, "Event")
    clock.advance(0)  # failed; the retry waits
    assert fn.metrics.failures == 1 and seen[0].__traceback__ is not None


def test_cancelling_invoke_async_before_its_thread_starts_frees_the_slot() -> None:
    import concurrent.futures
    import threading

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        release = threading.Event()
        busy = loop.run_in_executor(None, release.wait)  # the only thread is taken
        ran: list[int] = []
        def handler(event: Any, context: Any) -> str:
            ran.append(1)
            return "ok"

        fn = Function(handler, clock=ManualClock(), reserved_concurrency=1)
        task = asyncio.create_task(fn.invoke_async({}))
        await asyncio.sleep(0)  # the invocation holds the slot and waits for the thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        await busy
        assert (await fn.invoke_async({}))["Payload"] == "ok"
        assert ran == [1]  # the cancelled one never ran

    asyncio.run(main())


def test_a_clock_whose_now_is_not_aware_utc_is_refused_at_construction() -> None:
    from datetime import datetime, timezone

    naive, eastern = _StepClock(), _StepClock()
    naive.time = datetime(2024, 1, 1)
    eastern.time = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    for clock, shown in ((naive, "2024-01-01 00:00:00"), (eastern, "2024-01-01 00:00:00-05:00")):
        builds = (lambda c: Function(lambda e, ctx: None, clock=c), lambda c: Target(print, clock=c),
                  lambda c: Queue(clock=c))
        for build in builds:
            with pytest.raises(ValidationError, match=r"_StepClock\.now\(\) must return an aware UTC datetime, "
                                                      rf"not {re.escape(shown)}$"):
                build(clock)


def test_invoke_async_refused_by_the_executor_raises_that_error_and_frees_the_slot() -> None:
    import concurrent.futures

    async def main() -> None:
        loop = asyncio.get_running_loop()
        refusing = concurrent.futures.ThreadPoolExecutor(1)
        refusing.shutdown()
        loop.set_default_executor(refusing)
        fn = Function(lambda e, c: "ok", clock=ManualClock(), reserved_concurrency=1)
        with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
            await fn.invoke_async({})
        assert fn.metrics.failures == 0
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
        assert (await fn.invoke_async({}))["Payload"] == "ok"

    asyncio.run(main())


def test_a_clock_in_a_zone_at_utc_offset_zero_is_still_refused() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    london, utc = _StepClock(), _StepClock()
    london.time = datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/London"))  # GMT: offset 0, but not UTC
    utc.time = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC"))
    with pytest.raises(ValidationError, match="must return an aware UTC datetime"):
        Function(lambda e, c: None, clock=london)
    assert Function(lambda e, c: None, clock=utc).clock is utc


def test_the_stack_trace_is_the_last_five_frames_of_the_failing_call() -> None:
    def f1() -> None:
        f2()

    def f2() -> None:
        f3()

    def f3() -> None:
        f4()

    def f4() -> None:
        f5()

    def f5() -> None:
        f6()

    def f6() -> None:
        raise ValueError("at the bottom")

    response = Function(lambda e, c: f1(), clock=ManualClock()).invoke({})
    trace = response["Payload"]["stackTrace"]
    assert [line.split(", in ")[1].split("\n")[0] for line in trace] == ["f2", "f3", "f4", "f5", "f6"]


def test_invoke_async_reports_a_plain_handler_s_error_and_its_awaitable_s() -> None:
    def plain(event: Any, context: Any) -> None:
        raise KeyError("plain")

    async def fails() -> None:
        raise LookupError("awaited")

    def hands_back_an_awaitable(event: Any, context: Any) -> Any:
        return fails()

    async def main() -> list[dict[str, Any]]:
        clock = ManualClock()
        return [await Function(h, clock=clock).invoke_async({}) for h in (plain, hands_back_an_awaitable)]

    first, second = asyncio.run(main())
    assert (first["FunctionError"], first["Payload"]["errorType"]) == ("Unhandled", "KeyError")
    assert (second["FunctionError"], second["Payload"]["errorType"]) == ("Unhandled", "LookupError")


class _CodedError(Exception):
    error_code = "ORDER_REJECTED"


def test_a_late_retry_keeps_the_error_s_own_code() -> None:
    from .test_target import BacklogClock

    def send(event: Any) -> None:
        raise _CodedError("rejected")

    clock = BacklogClock()
    dlq = Queue(clock=clock)
    target = Target(send, clock=clock, dead_letter_queue=dlq,
                    retry_policy=RetryPolicy(maximum_event_age_in_seconds=60))
    target.deliver({})
    clock.run_first()  # fails; its retry waits
    clock.run(after=61)  # too late: given up with the kept error
    [m] = dlq.receive()
    assert (m.attributes["ERROR_CODE"], m.attributes["ERROR_MESSAGE"]) == ("ORDER_REJECTED", "rejected")


def test_system_clock_shutdown_async_honours_drain_and_timeout() -> None:
    import threading
    import time

    async def main() -> tuple[list[str], list[str], float, float]:
        running, release = threading.Event(), threading.Event()

        def hold_the_thread() -> None:
            running.set()
            release.wait()

        clock = SystemClock(workers=1)
        clock.submit(hold_the_thread)
        clock.submit(lambda: None, label="waiting for the one thread")
        assert await asyncio.to_thread(running.wait, 10)
        started = time.monotonic()
        left = await clock.shutdown_async(drain=False)
        undrained = time.monotonic() - started
        release.set()
        other = SystemClock(workers=1)
        hold = threading.Event()
        other.submit(hold.wait)
        threading.Timer(5, hold.set).start()  # (only a broken timeout waits for this)
        started = time.monotonic()
        timed_out = await other.shutdown_async(timeout=0.2)
        waited = time.monotonic() - started
        hold.set()
        return [t.label for t in left], [t.label for t in timed_out], undrained, waited

    left, timed_out, undrained, waited = asyncio.run(main())
    assert left == ["waiting for the one thread"] and undrained < 2
    assert timed_out == [] and waited < 2


def test_reserved_concurrency_still_caps_after_calls_have_finished() -> None:
    nested: list[str] = []

    def handler(event: Any, context: Any) -> str:
        if event.get("nest"):
            try:
                fn({})
            except eventbus.ThrottlingError as exc:
                nested.append(str(exc))
        return "ok"

    fn = Function(handler, clock=ManualClock(), reserved_concurrency=1)
    for _ in range(3):
        assert fn({}) == "ok"  # each returns its slot: exactly one
    assert fn({"nest": True}) == "ok" and nested == ["Rate Exceeded."]
