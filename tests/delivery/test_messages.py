# ruff: noqa: E501  (a table of exact messages: one per line reads best)
# mypy: disable-error-code="arg-type"
"""Every refusal's exact text: AWS's (or botocore's) words where AWS has them, else eventbus's own."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from eventbus import Function, ManualClock, Queue, RetryPolicy, SystemClock, Target, ValidationError

C = ManualClock()

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ('queue name', lambda: Queue("bad name", clock=C),
     'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length'),
    ('queue capacity type', lambda: Queue(clock=C, capacity="10"),
     "Invalid type for parameter capacity, value: 10, type: <class 'str'>, valid types: <class 'int'>"),
    ('queue capacity low', lambda: Queue(clock=C, capacity=0),
     "1 validation error detected: Value '0' at 'capacity' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    ('queue visibility', lambda: Queue(clock=C, visibility_timeout=43201),
     'Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.'),
    ('queue visibility type', lambda: Queue(clock=C, visibility_timeout="3"),
     "Invalid type for parameter VisibilityTimeout, value: 3, type: <class 'str'>, valid types: <class 'int'>"),
    ('redrive half', lambda: Queue(clock=C, max_receive_count=3),
     'A redrive policy needs both dead_letter_queue and max_receive_count'),
    ('redrive dlq type', lambda: Queue(clock=C, dead_letter_queue=print, max_receive_count=3),
     "Invalid type for parameter dead_letter_queue, value: <built-in function print>, type: <class 'builtin_function_or_method'>, valid types: <class 'eventbus.Queue'>"),
    ('redrive count', lambda: Queue(clock=C, dead_letter_queue=Queue(clock=C), max_receive_count=0),
     'Value {"maxReceiveCount":0} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.'),
    ('queue store', lambda: Queue(clock=C, store=[]),
     "Invalid type for parameter store, value: [], type: <class 'list'>, valid types: a QueueStore, or a work store (SqliteStore, MemoryStore)"),
    ('queue seed', lambda: Queue(clock=C, seed=-1),
     "1 validation error detected: Value '-1' at 'seed' failed to satisfy constraint: Member must have value greater than or equal to 0"),
    ('queue region', lambda: Queue(clock=C, region="US"),
     "1 validation error detected: Value 'US' at 'region' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]{2}(-[a-z]+)+-\\d"),
    ('queue account', lambda: Queue(clock=C, account="1234567890123"),
     "1 validation error detected: Value '1234567890123' at 'account' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d{12}"),
    ('send empty', lambda: Queue(clock=C).send(""),
     'The request must contain the parameter MessageBody.'),
    ('send bad char', lambda: Queue(clock=C).send("\x00"),
     'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF'),
    ('send attrs type', lambda: Queue(clock=C).send("x", ["a"]),
     "Invalid type for parameter MessageAttributes, value: ['a'], type: <class 'list'>, valid types: a mapping of attribute names to values"),
    ('receive max', lambda: Queue(clock=C).receive(0),
     'Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.'),
    ('receive vis', lambda: Queue(clock=C).receive(1, -1),
     'Value -1 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.'),
    ('delete type', lambda: Queue(clock=C).delete(1),
     "Invalid type for parameter message, value: 1, type: <class 'int'>, valid types: <class 'eventbus.Message'>, <class 'str'>"),
    ('change vis type', lambda: Queue(clock=C).change_visibility("m", 1),
     "Invalid type for parameter message, value: m, type: <class 'str'>, valid types: <class 'eventbus.Message'>"),
    ('too many attrs', lambda: Queue(clock=C).send("x", {f"a{i}": "1" for i in range(11)}),
     'Number of message attributes [11] exceeds the allowed maximum [10].'),
    ('attr name', lambda: Queue(clock=C).send("x", {"a b": "1"}),
     "Message attribute name 'a b' is invalid: use 1 to 256 letters, digits, '_', '-' or '.'"),
    ('retry attempts', lambda: RetryPolicy(maximum_retry_attempts=186),
     "1 validation error detected: Value '186' at 'retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185"),
    ('retry attempts type', lambda: RetryPolicy(maximum_retry_attempts=1.5),
     "Invalid type for parameter retryPolicy.maximumRetryAttempts, value: 1.5, type: <class 'float'>, valid types: <class 'int'>"),
    ('retry base', lambda: RetryPolicy(base_delay=0),
     "1 validation error detected: Value '0' at 'base_delay' failed to satisfy constraint: Member must have value greater than or equal to 0.001"),
    ('retry order', lambda: RetryPolicy(base_delay=10, max_delay=5),
     'base_delay (10 s) must not exceed max_delay (5 s)'),
    ('target id', lambda: Target(print, clock=C, target_id="a b"),
     "1 validation error detected: Value 'a b' at 'Id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"),
    ('target policy', lambda: Target(print, clock=C, retry_policy={}),
     "Invalid type for parameter retry_policy, value: {}, type: <class 'dict'>, valid types: <class 'eventbus.RetryPolicy'>"),
    ('target dest', lambda: Target("x", clock=C),
     "Invalid type for parameter destination, value: x, type: <class 'str'>, valid types: a Queue, a Function, an object with deliver(payload, attributes), or a callable"),
    ('target dlq', lambda: Target(print, clock=C, dead_letter_queue="x"),
     "Invalid type for parameter dead_letter_queue, value: x, type: <class 'str'>, valid types: a Queue, a Function, an object with deliver(payload, attributes), or a callable"),
    ('fn handler', lambda: Function("x", clock=C),
     "Invalid type for parameter handler, value: x, type: <class 'str'>, valid types: a callable"),
    ('fn name', lambda: Function(print, clock=C, name="a b"),
     "1 validation error detected: Value 'a b' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+"),
    ('fn timeout', lambda: Function(print, clock=C, timeout=901),
     "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
    ('fn retries', lambda: Function(print, clock=C, maximum_retry_attempts=3),
     "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"),
    ('fn age', lambda: Function(print, clock=C, maximum_event_age_in_seconds=59),
     "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"),
    ('fn conc', lambda: Function(print, clock=C, reserved_concurrency=-1),
     "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"),
    ('fn type', lambda: Function(print, clock=C).invoke({}, "Async"),
     "1 validation error detected: Value 'Async' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"),
    ('fn size', lambda: Function(print, clock=C).invoke({"x": "a" * 1_100_000}, "Event"),
     'Request must be smaller than 1048576 bytes for the InvokeFunction operation'),
    ('fn region', lambda: Function(print, clock=C, region="US"),
     "1 validation error detected: Value 'US' at 'region' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z]{2}(-[a-z]+)+-\\d"),
    ('fn payload nan', lambda: Function(print, clock=C).invoke({"x": math.nan}),
     'payload is not JSON-serialisable: Out of range float values are not JSON compliant'),
    ('fn text', lambda: Function(print, clock=C).invoke("{bad"),
     'Could not parse request body into json: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)'),
    ('payload nan', lambda: Target(print, clock=C).deliver({"x": math.nan}),
     'event is not JSON-serialisable: Out of range float values are not JSON compliant'),
    ('payload bytes', lambda: Target(print, clock=C).deliver(b"x"),
     "Invalid type for parameter event, value: b'x', type: <class 'bytes'>, valid types: a JSON value (dict, list, str, int, float, bool or None)"),
    ('payload utf8', lambda: Queue(clock=C).send(b"\xff"),
     'MessageBody is not valid UTF-8: invalid start byte at byte 0'),
    ('payload surrogate', lambda: Queue(clock=C).send("\ud800"),
     'MessageBody is not valid Unicode text: surrogates not allowed at position 0'),
    ('clock mix', lambda: Function(print, clock=C, dead_letter_queue=Queue(clock=ManualClock())),
     'dead_letter_queue runs on <ManualClock 2024-01-01T00:00:00Z, 0 timers pending>, but this Function runs on <ManualClock 2024-01-01T00:00:00Z, 0 timers pending>: objects that work together must share one clock (pass the same clock=, or build them all inside `with eventbus.use_clock(clock):`)'),
    ('clock type', lambda: Queue(clock="x"),
     "Invalid type for parameter clock, value: x, type: <class 'str'>, valid types: <class 'eventbus.Clock'>"),
    ('start', lambda: ManualClock(start="2024"),
     "Invalid type for parameter start, value: 2024, type: <class 'str'>, valid types: <class 'datetime.datetime'>"),
    ('past', lambda: C.advance_to(datetime(2000, 1, 1, tzinfo=UTC)),
     "advance_to(2000-01-01T00:00:00+00:00) is earlier than the clock's time (2024-01-01T00:00:00+00:00): a ManualClock never goes back"),
    ('delay', lambda: C.call_later(-1, print),
     "1 validation error detected: Value '-1' at 'delay' failed to satisfy constraint: Member must have value greater than or equal to 0"),
    ('delay nan', lambda: C.call_later(math.nan, print),
     "1 validation error detected: Value 'nan' at 'delay' failed to satisfy constraint: Member must be a number"),
    ('delay big', lambda: C.call_later(10**12, print),
     "1 validation error detected: Value '1000000000000' at 'delay' failed to satisfy constraint: Member must have value less than or equal to 3162240000"),
    ('workers', lambda: SystemClock(workers=0),
     "1 validation error detected: Value '0' at 'workers' failed to satisfy constraint: Member must have value greater than or equal to 1"),
]


@pytest.mark.parametrize(("call", "message"), [(c, m) for _, c, m in CASES], ids=[k for k, _, _ in CASES])
def test_the_exact_text_of_each_refusal(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        call()
    assert str(raised.value) == message
