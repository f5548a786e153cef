"""The ordered stream: shards by partition key, growing sequence numbers,
retention, and a record per item as a pipe's target."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import pytest

from eventbus import ManualClock, Pipe, Queue, Stream

from ..support import message


def test_a_partition_key_always_goes_to_the_same_shard_by_its_md5() -> None:
    stream = Stream("clicks", shard_count=4, clock=ManualClock())
    placed = {key: stream.put_record({"k": key}, key)["ShardId"] for key in ("a", "b", "c", "d", "e", "f")}
    for key, shard in placed.items():
        hashed = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        assert shard == f"shardId-{hashed * 4 // 2**128:012d}"  # four equal hash ranges
        assert stream.put_record("again", key)["ShardId"] == shard
    assert stream.shard_ids == [f"shardId-{i:012d}" for i in range(4)]
    assert stream.arn == "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"


def test_sequence_numbers_grow_and_a_shard_keeps_its_order() -> None:
    stream = Stream(shard_count=2, clock=ManualClock())
    numbers = [stream.put_record(str(i), "same-key")["SequenceNumber"] for i in range(5)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5 and all(len(n) == 56 for n in numbers)
    [shard] = {r.shard_id for r in stream.records()}
    assert [r.data for r in stream.records(shard)] == [b"0", b"1", b"2", b"3", b"4"]


def test_records_past_the_retention_period_are_trimmed() -> None:
    clock = ManualClock()
    stream = Stream(clock=clock, retention_period_hours=24)
    stream.put_record("old", "k")
    clock.advance(timedelta(hours=25))
    stream.put_record("new", "k")
    assert [r.data for r in stream.records()] == [b"new"] and len(stream) == 1


@pytest.mark.parametrize(("call", "expected"), [
    (lambda s: s.put_record("x", ""), "ValidationError: 1 validation error detected: Value '' at 'partitionKey' "
                                      "failed to satisfy constraint: Member must have length greater than or equal "
                                      "to 1"),
    (lambda s: s.put_record("x", 5), "ValidationError: Invalid type for parameter PartitionKey, value: 5, type: "
                                     "<class 'int'>, valid types: <class 'str'>"),
    (lambda s: s.put_record({1, 2}, "k"), "ValidationError: The record's data is not JSON: Object of type set is "
                                          "not JSON serializable"),
    (lambda s: s.put_record(b"x" * 1_048_577, "k"), "ValidationError: 1 validation error detected: Value at 'data' "
                                                    "failed to satisfy constraint: Member must have length less than "
                                                    "or equal to 1048576"),
])
def test_bad_records_are_refused(call: Any, expected: str) -> None:
    stream = Stream(clock=ManualClock())
    assert message(lambda: call(stream)) == expected
    assert len(stream) == 0
    assert message(lambda: Stream(shard_count=0)).startswith("ValidationError: 1 validation error detected: Value "
                                                             "'0' at 'ShardCount'")


def test_a_stream_as_a_pipes_target_gets_a_record_per_item() -> None:
    clock = ManualClock()
    queue = Queue("in", clock=clock)
    stream = Stream("out", clock=clock)
    Pipe("to-stream", queue, stream, batch_size=3, target_input_template="<$.body>")
    for n in range(3):
        queue.send({"n": n})
    clock.run_until_idle()
    assert [r.data for r in stream.records()] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


def stream_pipe(target: Any, **kwargs: Any) -> tuple[ManualClock, Stream, Pipe]:
    clock = ManualClock()
    stream = Stream("events", shard_count=2, clock=clock)
    return clock, stream, Pipe("from-stream", stream, target, **kwargs)


def test_a_stream_source_gives_kinesis_records_with_the_data_decoded_for_filters_and_templates() -> None:
    got: list[Any] = []
    clock, stream, pipe = stream_pipe(got.append, filters=[{"data": {"kind": ["click"]}}])
    put = stream.put_record({"kind": "click", "n": 1}, "user-1")
    stream.put_record({"kind": "view", "n": 2}, "user-1")
    clock.run_until_idle()
    [[record]] = got
    assert record["eventSource"] == "aws:kinesis" and record["partitionKey"] == "user-1"
    assert record["sequenceNumber"] == put["SequenceNumber"]
    assert record["eventID"] == f"{put['ShardId']}:{put['SequenceNumber']}"
    assert base64.b64decode(record["data"]) == b'{"kind":"click","n":1}'
    assert pipe.metrics()["filtered"] == 1
    templated: list[Any] = []
    clock2, stream2, _ = stream_pipe(templated.append, target_input_template='{"n": <$.data.n>}', batch_size=5)
    for n in range(3):
        stream2.put_record({"n": n}, "k")
    clock2.run_until_idle()
    assert [item for batch in templated for item in batch] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_latest_starts_at_the_end() -> None:
    clock = ManualClock()
    stream = Stream(clock=clock)
    stream.put_record("before", "k")
    got: list[Any] = []
    Pipe("latest", stream, got.append, starting_position="LATEST", target_input_template="<$.data>")
    stream.put_record("after", "k")
    clock.run_until_idle()
    assert got == [["after"]]


def test_order_holds_per_shard_while_a_batch_is_retried() -> None:
    calls: list[list[int]] = []

    def flaky(batch: list[Any]) -> None:
        calls.append([item["n"] for item in batch])
        if len(calls) <= 2:
            raise ConnectionError("down")

    clock, stream, pipe = stream_pipe(flaky, batch_size=2, target_input_template="<$.data>")
    for n in range(5):
        stream.put_record({"n": n}, "same-key")  # one shard
    clock.advance(timedelta(minutes=10))
    assert calls[:3] == [[0, 1], [0, 1], [0, 1]]  # the shard waited for its first batch
    assert [n for batch in calls[3:] for n in batch] == [2, 3, 4]
    assert pipe.metrics()["delivered"] == 5


def test_retries_run_out_into_the_dead_letter_queue_and_the_shard_moves_on() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    delivered: list[Any] = []

    def target(batch: list[Any]) -> None:
        if any(item == "poison" for item in batch):
            raise ValueError("cannot take it")
        delivered.extend(batch)

    stream = Stream(clock=clock)
    Pipe("p", stream, target, batch_size=4, maximum_retry_attempts=2, dead_letter_queue=dlq,
         on_partial_batch_item_failure="AUTOMATIC_BISECT", target_input_template="<$.data>")
    for data in ("a", "b", "poison", "c", "d"):
        stream.put_record(data, "k")
    clock.advance(timedelta(hours=1))
    assert delivered == ["a", "b", "c", "d"]  # bisecting isolated the poison record
    [letter] = dlq.messages()
    assert [base64.b64decode(r["data"]) for r in letter.json()] == [b"poison"]
    assert letter.attributes["ERROR_MESSAGE"].startswith("MaximumRetryAttempts: ")


def test_records_too_old_are_given_up() -> None:
    calls: list[Any] = []

    def down(batch: list[Any]) -> None:
        calls.append(batch)
        raise ConnectionError("down")

    clock, stream, pipe = stream_pipe(down, maximum_record_age_in_seconds=60)
    stream.put_record("x", "k")
    clock.advance(timedelta(hours=1))
    assert 2 <= len(calls) <= 8  # retried with backoff until the record was a minute old
    stream.put_record("y", "k")  # the shard moved on
    clock.advance(timedelta(hours=1))
    assert [base64.b64decode(b[0]["data"]) for b in calls][-1] == b"y"


def test_a_partial_batch_failure_checkpoints_at_the_first_failed_record() -> None:
    seen: list[list[str]] = []

    def target(batch: list[Any]) -> Any:
        seen.append([r["data"] for r in batch])
        failed = [r["sequenceNumber"] for r in batch if base64.b64decode(r["data"]) == b"c" and len(seen) == 1]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}

    clock, stream, pipe = stream_pipe(target, batch_size=5)
    for data in "abcde":
        stream.put_record(data, "k")
    clock.advance(timedelta(minutes=5))
    decoded = [[base64.b64decode(d).decode() for d in batch] for batch in seen]
    assert decoded == [["a", "b", "c", "d", "e"], ["c", "d", "e"]]
    assert pipe.metrics()["delivered"] == 5


def test_a_stopped_stream_pipe_reads_again_from_where_it_stopped() -> None:
    calls: list[Any] = []

    def down(batch: list[Any]) -> None:
        calls.append(batch)
        raise ConnectionError("down")

    clock, stream, pipe = stream_pipe(down, target_input_template="<$.data>")
    stream.put_record("x", "k")
    clock.advance(0)
    pipe.stop()  # a retry was waiting
    clock.advance(timedelta(minutes=10))
    assert calls == [["x"]]
    got: list[Any] = []
    object.__setattr__(pipe, "target", got.append)
    pipe._sender.destination = got.append
    pipe.start()
    clock.advance(0)
    assert got == [["x"]]  # read again, not lost


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"maximum_retry_attempts": -2}, "ValidationError: 1 validation error detected: Value '-2' at "
                                     "'MaximumRetryAttempts' failed to satisfy constraint: Member must have value "
                                     "greater than or equal to -1"),
    ({"maximum_record_age_in_seconds": 30}, "ValidationError: 1 validation error detected: Value '30' at "
                                            "'MaximumRecordAgeInSeconds' failed to satisfy constraint: Member must "
                                            "have value greater than or equal to 60 (or -1: no limit)"),
    ({"starting_position": "AT_TIMESTAMP"}, "ValidationError: 1 validation error detected: Value 'AT_TIMESTAMP' at "
                                            "'sourceParameters.kinesisStreamParameters.startingPosition' failed to "
                                            "satisfy constraint: Member must satisfy enum value set: [TRIM_HORIZON, "
                                            "LATEST]"),
    ({"on_partial_batch_item_failure": "SPLIT"}, "ValidationError: 1 validation error detected: Value 'SPLIT' at "
                                                 "'onPartialBatchItemFailure' failed to satisfy constraint: Member "
                                                 "must satisfy enum value set: [AUTOMATIC_BISECT]"),
])
def test_bad_stream_settings_are_refused(kwargs: dict[str, Any], expected: str) -> None:
    assert message(lambda: stream_pipe(print, **kwargs)) == expected
    assert message(lambda: Pipe("p", [1], print, maximum_retry_attempts=3)) == (
        "ValidationError: starting_position, maximum_record_age_in_seconds, maximum_retry_attempts and "
        "on_partial_batch_item_failure apply to a stream source")


def test_what_the_review_found_about_streams() -> None:
    from eventbus import ResourceNotFoundError
    clock = ManualClock()
    stream = Stream("s", clock=clock)

    def down(batch: list[Any]) -> None:
        raise ConnectionError("down")

    # a stream pipe's dead-letter queue is checked as a Target's is
    assert message(lambda: Pipe("p", stream, down, dead_letter_queue="arn:aws:sqs:...")).startswith(  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter dead_letter_queue")
    assert "must share one clock" in message(lambda: Pipe("p", stream, down,
                                                          dead_letter_queue=Queue("other", clock=ManualClock())))
    # a queue source refuses the stream's settings; a target is not its own source
    queue = Queue("q", clock=clock)
    assert message(lambda: Pipe("p", queue, print, maximum_retry_attempts=3)).endswith("apply to a stream source")
    assert message(lambda: Pipe("p", queue, queue)) == (
        "ValidationError: A pipe's target cannot be its own source (every record would go round for ever)")
    # bad data is refused as eventbus's errors
    assert message(lambda: stream.put_record("\ud800", "k")).startswith(
        "ValidationError: The record's data is not valid Unicode")
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert message(lambda: stream.put_record(deep, "k")).startswith("ValidationError: The record's data is not JSON")
    assert message(lambda: stream.deliver({1})).startswith("ValidationError: The record's data is not JSON")
    assert message(lambda: stream.deliver(float("nan"))).startswith("ValidationError: The record's data is not JSON")
    with pytest.raises(ResourceNotFoundError):
        stream.records("bogus")


def test_a_record_that_keeps_failing_is_given_up_once_it_expires() -> None:
    clock = ManualClock()
    stream = Stream("s", clock=clock)
    calls: list[Any] = []

    def target(batch: list[Any]) -> None:
        calls.append(base64.b64decode(batch[0]["data"]))
        if batch[0]["data"] == base64.b64encode(b"x").decode():
            raise ConnectionError("down")

    pipe = Pipe("p", stream, target)  # retried for ever, "until the record expires"
    stream.put_record("x", "k")
    clock.advance(timedelta(hours=30))
    stream.put_record("y", "k")
    clock.advance(timedelta(hours=1))
    assert calls[-1] == b"y"  # the shard moved on
    assert pipe.metrics()["given_up"] == 1


def test_records_older_than_the_maximum_age_are_not_sent() -> None:
    clock = ManualClock()
    stream = Stream("s", clock=clock)
    got: list[Any] = []
    dlq = Queue("dlq", clock=clock)
    pipe = Pipe("p", stream, got.append, maximum_record_age_in_seconds=60, desired_state="STOPPED",
                dead_letter_queue=dlq, target_input_template="<$.data>")
    stream.put_record("stale", "k")
    clock.advance(timedelta(hours=1))
    stream.put_record("fresh", "k")
    pipe.start()
    clock.run_until_idle()
    assert got == [["fresh"]]
    assert [base64.b64decode(r["data"]) for m in dlq.messages() for r in m.json()] == [b"stale"]


def test_records_trimmed_before_the_pipe_read_them_are_counted_and_logged() -> None:
    clock = ManualClock()
    stream = Stream("s", clock=clock)
    got: list[Any] = []
    pipe = Pipe("p", stream, got.append, desired_state="STOPPED")
    stream.put_record("old", "k")
    clock.advance(timedelta(days=30))
    pipe.start()
    clock.run_until_idle()
    assert got == [] and len(stream) == 0  # trimmed by the read, not only by a put
    stream.put_record("new", "k")
    clock.run_until_idle()
    assert len(got) == 1 and pipe.metrics()["expired"] == 1
