"""The ordered stream: shards by partition key, growing sequence numbers,
retention, and a record per item as a pipe's target."""

from __future__ import annotations

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
