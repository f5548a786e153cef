"""Pipes: a queue or an iterable, through filters, an enrichment and templates, to a
target, on virtual time."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

import eventbus
from eventbus import (
    EventBus,
    Function,
    InvalidFilterPatternError,
    ManualClock,
    Pipe,
    Queue,
    RetryPolicy,
    Target,
)
from tests.conftest import load_vectors

from ..support import message

FILTERS = load_vectors("esm_sqs_filters.jsonl")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def queue_pipe(target: Any = None, **kwargs: Any) -> tuple[ManualClock, Queue, Pipe, list[Any]]:
    clock = ManualClock()
    queue = Queue("orders", clock=clock)
    got: list[Any] = []
    pipe = Pipe("orders-pipe", queue, got.append if target is None else target, **kwargs)
    return clock, queue, pipe, got


@pytest.mark.parametrize("case", FILTERS, ids=[c["id"] for c in FILTERS])
def test_every_aws_verified_sqs_filter_through_a_real_pipe(case: dict[str, Any]) -> None:
    if case["expected"] == "invalid":
        with pytest.raises(InvalidFilterPatternError) as raised:
            queue_pipe(filters=[as_text(case["pattern"])])
        assert str(raised.value) == case["aws_error"]
        return
    clock, queue, pipe, got = queue_pipe(filters=[as_text(case["pattern"])])
    queue.send(case["sqs_body"])
    clock.run_until_idle()
    delivered = [record["body"] for batch in got for record in batch]
    assert delivered == ([case["sqs_body"]] if case["expected"] == "match" else [])
    assert len(queue) == 0  # delivered, or filtered out and deleted, as AWS deletes it
    assert pipe.metrics()["filtered"] == (0 if case["expected"] == "match" else 1)


def test_a_queue_target_gets_aws_sqs_records_in_a_list() -> None:
    clock, queue, pipe, got = queue_pipe()
    message_id = queue.send({"order": 7}, {"channel": "web"})
    assert got == []  # nothing runs inside send
    clock.run_until_idle()
    [[record]] = got
    assert record == {
        "messageId": message_id, "receiptHandle": record["receiptHandle"], "body": '{"order":7}',
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1704067200000", "SenderId": "123456789012",
                       "ApproximateFirstReceiveTimestamp": "1704067200000"},
        "messageAttributes": {"channel": {"stringValue": "web", "stringListValues": [], "binaryListValues": [],
                                          "dataType": "String"}},
        "md5OfBody": hashlib.md5(b'{"order":7}').hexdigest(), "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn, "awsRegion": "us-east-1"}
    assert len(queue) == 0 and pipe.current_state == "RUNNING"
    assert pipe.arn == "arn:aws:pipes:us-east-1:123456789012:pipe/orders-pipe"


def test_filters_are_ored_and_pipes_refuse_what_aws_pipes_refuse() -> None:
    clock, queue, pipe, got = queue_pipe(filters=[{"body": {"kind": ["a"]}}, {"body": {"kind": ["b"]}}],
                                         batch_size=10)
    for kind in "abcab":
        queue.send({"kind": kind})
    clock.run_until_idle()
    assert [json.loads(r["body"])["kind"] for batch in got for r in batch] == ["a", "b", "a", "b"]
    assert pipe.metrics() == {"received": 5, "filtered": 1, "skipped": 0, "delivered": 4, "failed": 0,
                              "given_up": 0, "expired": 0}
    assert message(lambda: queue_pipe(filters=[{"body": {"a": ["x"]}}] * 6)).startswith(
        "ValidationError: 1 validation error detected: Value '6 filters' at 'sourceParameters.filterCriteria.filters'")
    assert message(lambda: queue_pipe(filters=[{"body": {"a": [{"anything-but": {"prefix": "x"}}]}}])) == (
        "ValidationError: Invalid filter pattern definition. (Pipes do not support anything-but with prefix, as "
        "AWS's operator table says)")
    assert message(lambda: queue_pipe(filters=['{"body": '])).startswith(
        "InvalidFilterPatternError: Invalid filter pattern definition.")


def test_templates_use_paths_into_the_decoded_body_and_the_reserved_variables() -> None:
    clock, queue, pipe, got = queue_pipe(target_input_template=(
        '{"order": <$.body.order>, "customer": "<$.body.customer.name>", "pipe": "<aws.pipes.pipe-name>", '
        '"arn": "<aws.pipes.pipe-arn>", "source": "<aws.pipes.source-arn>", "at": "<aws.pipes.event.ingestion-time>", '
        '"whole": <aws.pipes.event.json>}'))
    queue.send({"order": {"id": 7}, "customer": {"name": "Ada"}})
    clock.run_until_idle()
    [[item]] = got
    assert item["order"] == {"id": 7} and item["customer"] == "Ada"
    assert (item["pipe"], item["arn"], item["source"]) == ("orders-pipe", pipe.arn, queue.arn)
    assert item["at"] == "2024-01-01T00:00:00Z"
    assert item["whole"]["body"] == {"order": {"id": 7}, "customer": {"name": "Ada"}}  # (decoded, as AWS does)
    one = queue_pipe(target_input_template="<$.body>")
    one[1].send({"x": [1, 2]})
    one[0].run_until_idle()
    assert one[3] == [[{"x": [1, 2]}]]  # a placeholder alone is the value itself
    text = queue_pipe(target_input_template="Hello, <$.body.name>")
    text[1].send({"name": "Ada"})
    text[0].run_until_idle()
    assert text[3] == [["Hello, Ada"]]


@pytest.mark.parametrize(("template", "expected"), [
    ("", "ValidationError: 1 validation error detected: Value '' at 'TargetParameters.InputTemplate' failed to "
         "satisfy constraint: Member must have length greater than or equal to 1"),
    ("<nope>", "ValidationError: TargetParameters.InputTemplate has an unknown placeholder <nope>: use a JSONPath "
               "(<$.body.field>) or one of <aws.pipes.enrichment-arn>, <aws.pipes.event>, <aws.pipes.event.ingestion-"
               "time>, <aws.pipes.event.json>, <aws.pipes.pipe-arn>, <aws.pipes.pipe-name>, <aws.pipes.source-arn>, "
               "<aws.pipes.target-arn>"),
    ('{"a": "<aws.pipes.event.json>"}', "ValidationError: TargetParameters.InputTemplate: <aws.pipes.event.json> "
                                        "can only be the value of a JSON field, not text"),
    ("<$.a..b>", "ValidationError: TargetParameters.InputTemplate '$.a..b' is not a valid JSONPath: unexpected "
                 "'..b' at position 3"),
])
def test_bad_templates_are_refused_when_the_pipe_is_built(template: str, expected: str) -> None:
    assert message(lambda: queue_pipe(target_input_template=template)) == expected


def test_the_enrichment_gets_the_batch_and_an_empty_answer_stops_it() -> None:
    seen: list[Any] = []

    def enrich(batch: list[Any]) -> Any:
        seen.append(batch)
        ids = [item["id"] for item in batch]
        if ids == [0]:
            return []  # AWS: "", {} and [] skip the target
        return [{"enriched": i} for i in ids]

    clock, queue, pipe, got = queue_pipe(enrichment=enrich, enrichment_input_template='{"id": <$.body.n>}')
    queue.send({"n": 0})
    clock.run_until_idle()
    queue.send({"n": 1})
    clock.run_until_idle()
    assert seen == [[{"id": 0}], [{"id": 1}]]
    assert got == [[{"enriched": 1}]]
    assert len(queue) == 0 and pipe.metrics()["skipped"] == 1
    empties: tuple[Any, ...] = ("", {})
    for empty in empties:
        c, q, p, g = queue_pipe(enrichment=lambda batch, empty=empty: empty)
        q.send("x")
        c.run_until_idle()
        assert g == [] and len(q) == 0 and p.metrics()["skipped"] == 1
    c, q, p, g = queue_pipe(enrichment=lambda batch: [{}])  # [{}] sends an empty payload
    q.send("x")
    c.run_until_idle()
    assert g == [[{}]]


def test_a_failing_enrichment_leaves_the_message_for_the_queue_to_deliver_again() -> None:
    calls: list[int] = []

    def enrich(batch: list[Any]) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("enrichment down")
        return batch

    clock, queue, pipe, got = queue_pipe(enrichment=enrich)
    queue.send("x")
    clock.run_until_idle()
    assert got == [] and len(queue) == 1  # in flight until its visibility timeout (30 s)
    clock.advance(31)
    assert [r["body"] for batch in got for r in batch] == ["x"] and len(queue) == 0
    assert got[0][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_batch_is_delivered_when_full_or_when_its_window_closes() -> None:
    clock, queue, pipe, got = queue_pipe(batch_size=3, maximum_batching_window_in_seconds=10)
    queue.send("a")
    queue.send("b")
    clock.advance(5)
    assert got == []
    clock.advance(5)
    assert [[r["body"] for r in batch] for batch in got] == [["a", "b"]]
    for body in "cde":
        queue.send(body)
    clock.advance(0)
    assert [[r["body"] for r in batch] for batch in got][1:] == [["c", "d", "e"]]  # full: at once


def test_partial_batch_failures_leave_only_those_messages() -> None:
    def target(batch: list[Any]) -> Any:
        failed = [r["messageId"] for r in batch if r["body"] == "bad" and r["attributes"]["ApproximateReceiveCount"]
                  == "1"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    clock, queue, pipe, _ = queue_pipe(target, batch_size=3)
    for body in ("ok", "bad", "ok"):
        queue.send(body)
    clock.run_until_idle()
    assert [m.body for m in queue.messages()] == ["bad"]
    clock.advance(31)  # it comes back, and goes through the second time
    assert len(queue) == 0
    assert pipe.metrics()["delivered"] == 3


def test_a_target_that_keeps_failing_ends_in_the_queues_redrive_dead_letter_queue() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    queue = Queue("orders", clock=clock, dead_letter_queue=dlq, max_receive_count=2)
    calls: list[Any] = []

    def down(batch: list[Any]) -> None:
        calls.append(batch)
        raise ConnectionError("down")

    pipe = Pipe("p", queue, down)
    queue.send("x")
    clock.advance(timedelta(minutes=5))
    assert len(calls) == 2 and [m.body for m in dlq.messages()] == ["x"] and len(queue) == 0
    assert pipe.metrics()["failed"] == 2


def test_targets_of_every_kind() -> None:
    clock = ManualClock()
    source = Queue("source", clock=clock)
    out = Queue("out", clock=clock)
    Pipe("to-queue", source, out, batch_size=2, target_input_template="<$.body>")
    source.send({"a": 1})
    source.send({"a": 2})
    clock.run_until_idle()
    assert [m.body for m in out.messages()] == ['{"a":1}', '{"a":2}']  # a message per item

    bus = EventBus(clock=clock)
    seen: list[Any] = []
    bus.put_rule("from-pipe", event_pattern={"source": ["Pipe to-bus"]})
    bus.put_targets("from-pipe", [Target(seen.append, target_id="t")])
    source2 = Queue("source2", clock=clock)
    Pipe("to-bus", source2, bus, target_input_template="<$.body>")
    source2.send({"order": 9})
    clock.run_until_idle()
    [event] = seen
    assert (event["source"], event["detail-type"], event["detail"]) == ("Pipe to-bus", "Event from aws:sqs",
                                                                        {"order": 9})

    handled: list[Any] = []

    def handle(event: Any, context: Any) -> Any:
        handled.append(event)
        return {"batchItemFailures": []}

    function = Function(handle, name="fn", clock=clock)
    source3 = Queue("source3", clock=clock)
    Pipe("to-function", source3, function, target_input_template="<$.body>")
    source3.send({"x": 1})
    clock.run_until_idle()
    assert handled == [[{"x": 1}]] and len(source3) == 0

    got: list[Any] = []

    async def handler(batch: list[Any]) -> None:
        got.append(batch)

    source4 = Queue("source4", clock=clock)
    Pipe("to-async", source4, handler, target_input_template="<$.body>")
    source4.send({"y": 2})
    clock.run_until_idle()
    assert got == [[{"y": 2}]] and len(source4) == 0


def test_an_iterable_source_with_retries_and_a_dead_letter_queue() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    calls: list[Any] = []

    def flaky(batch: list[Any]) -> None:
        calls.append(batch)
        if batch == [{"n": 2}, {"n": 3}]:
            raise ConnectionError("down")

    pipe = Pipe("numbers", ({"n": i} for i in range(5)), flaky, batch_size=2, clock=clock,
                retry_policy=RetryPolicy(maximum_retry_attempts=1, base_delay=1, max_delay=1),
                dead_letter_queue=dlq)
    clock.run_until_idle()
    assert [b for b in calls if b != [{"n": 2}, {"n": 3}]] == [[{"n": 0}, {"n": 1}], [{"n": 4}]]
    assert calls.count([{"n": 2}, {"n": 3}]) == 2  # tried, then retried once
    assert [json.loads(m.body) for m in dlq.messages()] == [[{"n": 2}, {"n": 3}]]
    assert pipe.metrics() == {"received": 5, "filtered": 0, "skipped": 0, "delivered": 3, "failed": 2,
                              "given_up": 0, "expired": 0}  # (the target's own dead-letter queue took the batch)


def test_an_async_iterable_source() -> None:
    async def numbers() -> Any:
        for i in range(3):
            yield {"n": i}
            await asyncio.sleep(0)

    async def main() -> list[Any]:  # (an async iterable lives in one event loop: run the clock on it)
        clock = ManualClock()
        got: list[Any] = []
        Pipe("async-numbers", numbers(), got.append, batch_size=2, clock=clock)
        await clock.run_until_idle_async()
        return got

    assert asyncio.run(main()) == [[{"n": 0}, {"n": 1}], [{"n": 2}]]


def test_a_stopped_pipe_reads_nothing_until_started() -> None:
    clock, queue, pipe, got = queue_pipe(desired_state="STOPPED")
    assert pipe.current_state == "STOPPED"
    queue.send("x")
    clock.run_until_idle()
    assert got == [] and len(queue) == 1
    pipe.start()
    clock.run_until_idle()
    state: str = pipe.current_state
    assert len(got) == 1 and state == "RUNNING"
    pipe.stop()
    queue.send("y")
    clock.run_until_idle()
    assert len(got) == 1 and len(queue) == 1
    pipe.start()
    clock.run_until_idle()
    assert len(got) == 2 and len(queue) == 0


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"batch_size": 0}, "ValidationError: 1 validation error detected: Value '0' at 'BatchSize' failed to satisfy "
                        "constraint: Member must have value greater than or equal to 1"),
    ({"batch_size": 10_001}, "ValidationError: 1 validation error detected: Value '10001' at 'BatchSize' failed to "
                             "satisfy constraint: Member must have value less than or equal to 10000"),
    ({"desired_state": "PAUSED"}, "ValidationError: 1 validation error detected: Value 'PAUSED' at 'desiredState' "
                                  "failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, "
                                  "STOPPED]"),
    ({"retry_policy": RetryPolicy()}, "ValidationError: A queue source retries through the queue (its visibility "
                                      "timeout) and dead-letters through its redrive policy, as in AWS: give "
                                      "retry_policy and dead_letter_queue to the Queue, not the Pipe"),
    ({"enrichment_input_template": "<$.body>"}, "ValidationError: enrichment_input_template needs an enrichment"),
    ({"enrichment": 5}, "ValidationError: Invalid type for parameter Enrichment, value: 5, type: <class 'int'>, "
                        "valid types: a callable"),
])
def test_bad_settings_are_refused(kwargs: dict[str, Any], expected: str) -> None:
    assert message(lambda: queue_pipe(**kwargs)) == expected


def test_bad_sources_targets_and_names_are_refused() -> None:
    clock = ManualClock()
    queue = Queue("q", clock=clock)
    assert message(lambda: Pipe("p", 5, print)).startswith(  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter Source, value: 5")
    assert message(lambda: Pipe("p", "abc", print)).startswith(
        "ValidationError: Invalid type for parameter Source, value: abc")
    assert message(lambda: Pipe("p", queue, 5)).startswith(  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter Target, value: 5")
    assert message(lambda: Pipe("bad name", queue, print)).startswith(
        "ValidationError: 1 validation error detected: Value 'bad name' at 'Name'")
    assert "must share one clock" in message(lambda: Pipe("p", queue, print, clock=ManualClock()))
    assert eventbus.Pipe.__module__ == "eventbus"


# -- what a new user's review found ------------------------------------------------------
def test_messages_in_flight_elsewhere_are_read_once_they_come_back() -> None:
    clock = ManualClock()
    queue = Queue("q", clock=clock)
    queue.send("taken by someone else")
    queue.receive(1)  # another reader, which never deletes it
    got: list[Any] = []
    Pipe("p", queue, got.append, target_input_template="<$.body>")
    clock.advance(29)
    assert got == []
    clock.advance(2)  # its visibility timeout ended: the pipe looked again
    assert got == [["taken by someone else"]]
    # stopped during a batching window: the taken messages come back and are read after the restart
    clock2, queue2, pipe2, got2 = queue_pipe(batch_size=5, maximum_batching_window_in_seconds=5)
    queue2.send("a")
    queue2.send("b")
    clock2.advance(1)
    pipe2.stop()
    assert pipe2.state_reason is None  # (stopped on purpose: no failure to report)
    pipe2.start()
    clock2.advance(100)
    assert sorted(r["body"] for batch in got2 for r in batch) == ["a", "b"] and len(queue2) == 0


@pytest.mark.parametrize("result", [object(), {1, 2}, [float("nan")]])
def test_an_enrichment_result_that_is_not_json_fails_the_batch_and_the_queue_delivers_again(result: Any) -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    queue = Queue("q", clock=clock, dead_letter_queue=dlq, max_receive_count=2)
    pipe = Pipe("p", queue, print, enrichment=lambda batch: result)
    queue.send({"a": 1})
    clock.run_until_idle()  # (no error out of the clock)
    clock.advance(timedelta(minutes=5))
    assert len(queue) == 0 and [m.body for m in dlq.messages()] == ['{"a":1}']
    assert pipe.metrics()["failed"] == 2


@pytest.mark.parametrize("report", [
    [{"itemIdentifier": None}], [{"itemIdentifier": ""}], [{"itemIdentifier": "not-in-the-batch"}],
    [{"wrongKey": "x"}], ["x"], {"itemIdentifier": "x"}, "all",
])
def test_a_batch_item_failure_report_that_names_no_record_fails_the_whole_batch(report: Any) -> None:
    clock, queue, pipe, _ = queue_pipe(lambda batch: {"batchItemFailures": report}, batch_size=2)
    queue.send("a")
    queue.send("b")
    clock.run_until_idle()
    assert len(queue) == 2 and pipe.metrics()["delivered"] == 0  # kept, to come back
    assert pipe.metrics()["failed"] == 2


def test_an_iterables_failed_records_go_to_the_dead_letter_queue() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    Pipe("partial", [{"a": 1}, {"a": 2}], lambda batch: {"batchItemFailures": [{"itemIdentifier": "1"}]},
         batch_size=2, clock=clock, dead_letter_queue=dlq)
    clock.run_until_idle()
    assert [m.json() for m in dlq.messages()] == [[{"a": 1}]]
    dlq2 = Queue("dlq2", clock=clock)
    Pipe("enrich-fails", [1, 2], print, enrichment=lambda batch: 1 / 0, batch_size=2, clock=clock,
         dead_letter_queue=dlq2)
    clock.run_until_idle()
    assert [m.json() for m in dlq2.messages()] == [[1, 2]]


def test_an_item_that_is_not_json_stops_the_pipe_after_the_items_before_it() -> None:
    clock = ManualClock()
    got: list[Any] = []
    pipe = Pipe("p", [1, 2, {3}, 4, 5], got.append, batch_size=5, clock=clock)
    clock.run_until_idle()
    assert got == [[1, 2]]
    assert pipe.current_state == "STOPPED" and "not a JSON value" in (pipe.state_reason or "")


def test_an_async_iterable_refuses_a_second_event_loop_instead_of_looking_empty() -> None:
    async def numbers() -> Any:
        for i in range(3):
            yield i
            await asyncio.sleep(0)

    clock = ManualClock()
    got: list[Any] = []
    pipe = Pipe("p", numbers(), got.append, clock=clock)
    clock.run_until_idle()  # each async callback on its own loop here: refused, and said
    assert got == [[0]]
    assert pipe.current_state == "STOPPED" and "run_until_idle_async" in (pipe.state_reason or "")


def test_an_async_enrichment_is_awaited_on_the_running_loop() -> None:
    async def main() -> list[Any]:
        clock = ManualClock()
        queue = Queue("q", clock=clock)
        got: list[Any] = []
        gate = asyncio.Event()  # (bound to this loop)

        async def enrich(batch: list[Any]) -> Any:
            await gate.wait()
            return [json.loads(r["body"]) for r in batch]

        Pipe("p", queue, got.append, enrichment=enrich)
        queue.send({"n": 1})
        gate.set()
        await clock.run_until_idle_async()
        return got

    assert asyncio.run(main()) == [[{"n": 1}]]


def test_a_zero_visibility_timeout_does_not_spin() -> None:
    clock = ManualClock()
    queue = Queue("q", clock=clock, visibility_timeout=0)
    calls: list[Any] = []

    def down(batch: list[Any]) -> None:
        calls.append(batch)
        raise ConnectionError("down")

    Pipe("p", queue, down)
    queue.send("x")
    clock.run_until_idle()
    clock.advance(10)
    assert 2 <= len(calls) <= 12  # once a second at most


def test_filters_of_the_wrong_shape_are_refused_clearly() -> None:
    import types
    assert message(lambda: queue_pipe(filters=[b'{"body": 1}'])).startswith(
        "ValidationError: Invalid type for parameter FilterCriteria.Filters[].Pattern")
    assert message(lambda: queue_pipe(filters=[{"body": {1, 2}}])) == (
        "InvalidFilterPatternError: Invalid filter pattern definition.")
    proxy = types.MappingProxyType({"body": {"a": ["x"]}})
    clock, queue, pipe, got = queue_pipe(filters=[proxy])
    queue.send({"a": "x"})
    clock.run_until_idle()
    assert len(got) == 1
    deep: Any = ["x"]
    for _ in range(5000):
        deep = {"a": deep}
    # (too long for AWS's 4,096 characters, or too deep to read on this stack: refused clearly either way)
    assert message(lambda: queue_pipe(filters=[deep])).startswith(("InvalidFilterPatternError", "ValidationError: 1 "
                                                                   "validation error detected"))
