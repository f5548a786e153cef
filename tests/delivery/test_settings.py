"""Settings: checked once, at construction, in AWS's words; read-only afterwards; one clock per graph."""

from __future__ import annotations

import math
from typing import Any

import pytest

from eventbus import Function, ManualClock, Queue, RetryPolicy, SystemClock, Target, ValidationError

CLOCK = ManualClock()


def handler(event: Any, context: Any) -> None:
    return None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maximum_retry_attempts": 186}, "Value '186' at 'retryPolicy.maximumRetryAttempts' failed to satisfy "
                                      "constraint: Member must have value less than or equal to 185"),
    ({"maximum_retry_attempts": -1}, "Member must have value greater than or equal to 0"),
    ({"maximum_retry_attempts": 1.5}, "Invalid type for parameter retryPolicy.maximumRetryAttempts, value: 1.5, "
                                      "type: <class 'float'>, valid types: <class 'int'>"),
    ({"maximum_retry_attempts": True}, "Invalid type for parameter retryPolicy.maximumRetryAttempts"),
    ({"maximum_event_age_in_seconds": 59}, "Value '59' at 'retryPolicy.maximumEventAgeInSeconds' failed to "
                                           "satisfy constraint: Member must have value greater than or equal to 60"),
    ({"maximum_event_age_in_seconds": 86401}, "less than or equal to 86400"),
    ({"base_delay": math.inf}, "Value 'inf' at 'base_delay'.*less than or equal to 86400"),
    ({"base_delay": math.nan}, "Member must be a number"),
    ({"base_delay": 0}, "greater than or equal to 0.001"),
    ({"max_delay": "300"}, "Invalid type for parameter max_delay"),
    ({"base_delay": 10, "max_delay": 5}, r"base_delay \(10 s\) must not exceed max_delay \(5 s\)"),
])
def test_retry_policy_ranges(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")
                       if "\\" not in message else message):
        RetryPolicy(**kwargs)


def test_retry_policy_defaults_are_aws_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.maximum_retry_attempts, policy.maximum_event_age_in_seconds) == (185, 86400)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"maximum_retry_attempts": 3}, "Value '3' at 'maximumRetryAttempts'.*less than or equal to 2"),
    ({"maximum_retry_attempts": True}, "Invalid type for parameter maximumRetryAttempts"),
    ({"maximum_event_age_in_seconds": 59}, "Value '59' at 'maximumEventAgeInSeconds'.*greater than or equal to 60"),
    ({"maximum_event_age_in_seconds": 21601}, "less than or equal to 21600"),
    ({"reserved_concurrency": -1}, "Value '-1' at 'reservedConcurrentExecutions'.*greater than or equal to 0"),
    ({"reserved_concurrency": 2.5}, "Invalid type for parameter reservedConcurrentExecutions"),
    ({"timeout": "3"}, "Invalid type for parameter timeout, value: 3, type: <class 'str'>"),
    ({"timeout": math.nan}, "Invalid type for parameter timeout"),
    ({"timeout": -5}, "Value '-5' at 'timeout'.*greater than or equal to 1"),
    ({"timeout": 10**20}, "Value '100000000000000000000' at 'timeout'.*less than or equal to 900"),
    ({"name": "bad name"}, "Value 'bad name' at 'functionName'.*regular expression pattern: \\[a-zA-Z0-9-_\\]\\+"),
    ({"name": "x" * 65}, "Member must have length less than or equal to 64"),
    ({"account": "12"}, "at 'account'"),
    ({"on_success": "q"}, "Invalid type for parameter on_success"),
    ({"on_failure": 5}, "Invalid type for parameter on_failure"),
    ({"dead_letter_queue": "q"}, "Invalid type for parameter dead_letter_queue"),
    ({"clock": "x"}, "Invalid type for parameter clock"),
    ({"seed": "1"}, "Invalid type for parameter seed"),
    ({"outcome_retention": -1}, "Value '-1' at 'outcome_retention'"),
])
def test_function_settings(kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("clock", CLOCK)
    with pytest.raises(ValidationError, match=message):
        Function(handler, **kwargs)


def test_function_handler_must_be_callable() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter handler"):
        Function("not callable", clock=CLOCK)  # type: ignore[arg-type]


def test_a_lambda_handler_gets_a_valid_default_name() -> None:
    fn = Function(lambda e, c: None, clock=CLOCK)
    assert fn.name == "lambda" and fn.arn.endswith(":function:lambda")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"retry_policy": {"maximum_retry_attempts": 1}}, "Invalid type for parameter retry_policy"),
    ({"target_id": "bad id"}, "Value 'bad id' at 'Id'.*regular expression pattern"),
    ({"target_id": ""}, "Member must have length greater than or equal to 1"),
    ({"rule_arn": None}, "Invalid type for parameter rule_arn"),
    ({"dead_letter_queue": "q"}, "Invalid type for parameter dead_letter_queue"),
    ({"seed": -3}, "at 'seed'"),
])
def test_target_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Target(print, clock=CLOCK, **kwargs)
    with pytest.raises(ValidationError, match="Invalid type for parameter destination"):
        Target("arn:aws:sqs:...", clock=CLOCK)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"capacity": 0}, "Value '0' at 'capacity'"),
    ({"capacity": 2.5}, "Invalid type for parameter capacity"),
    ({"capacity": "10"}, "Invalid type for parameter capacity"),
    ({"visibility_timeout": math.inf}, "Value inf for parameter VisibilityTimeout is invalid. Reason: Must be "
                                       "between 0 and 43200, if provided."),
    ({"visibility_timeout": -1}, "Must be between 0 and 43200"),
    ({"visibility_timeout": "30"}, "Invalid type for parameter VisibilityTimeout"),
    ({"max_receive_count": 3}, "needs both dead_letter_queue and max_receive_count"),
    ({"name": "bad name"}, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"),
    ({"name": "x" * 81}, "1 to 80 in length"),
])
def test_queue_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Queue(clock=CLOCK, **kwargs)


@pytest.mark.parametrize(("count", "shown"), [(0, "0"), (1001, "1001"), (2.5, "2.5"), (True, "True")])
def test_the_redrive_bound_is_sqs_bound(count: Any, shown: str) -> None:
    with pytest.raises(ValidationError, match=f"Invalid value for maxReceiveCount: {shown}, valid values are from "
                                              "1 to 1000 both inclusive."):
        Queue(clock=CLOCK, dead_letter_queue=Queue(clock=CLOCK), max_receive_count=count)
    Queue(clock=CLOCK, dead_letter_queue=Queue(clock=CLOCK), max_receive_count=1000)


def test_a_queue_dead_letter_queue_must_be_a_queue() -> None:
    fn = Function(handler, clock=CLOCK)
    with pytest.raises(ValidationError, match="Invalid type for parameter dead_letter_queue"):
        Queue(clock=CLOCK, dead_letter_queue=fn, max_receive_count=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "message"), [
    ((5.5,), "Value 5.5 for parameter MaxNumberOfMessages is invalid"),
    ((0,), "Must be between 1 and 10"),
    ((11,), "Must be between 1 and 10"),
    ((True,), "MaxNumberOfMessages"),
    ((1, 1e12), "Value 1000000000000.0 for parameter VisibilityTimeout is invalid"),
    ((1, math.nan), "VisibilityTimeout is invalid"),
])
def test_receive_arguments(args: tuple[Any, ...], message: str) -> None:
    queue = Queue(clock=CLOCK)
    queue.send("kept")
    with pytest.raises(ValidationError, match=message):
        queue.receive(*args)
    assert queue.receive()[0].receive_count == 1  # a refused receive touched nothing


@pytest.mark.parametrize(("make", "field", "value"), [
    (lambda: Function(handler, clock=CLOCK), "on_success", print),
    (lambda: Function(handler, clock=CLOCK), "on_failure", print),
    (lambda: Function(handler, clock=CLOCK), "dead_letter_queue", None),
    (lambda: Function(handler, clock=CLOCK), "maximum_retry_attempts", 50),
    (lambda: Function(handler, clock=CLOCK), "reserved_concurrency", 1),
    (lambda: Function(handler, clock=CLOCK), "clock", ManualClock()),
    (lambda: Target(print, clock=CLOCK), "destination", print),
    (lambda: Target(print, clock=CLOCK), "dead_letter_queue", None),
    (lambda: Target(print, clock=CLOCK), "retry_policy", RetryPolicy()),
    (lambda: Queue(clock=CLOCK), "visibility_timeout", 5),
    (lambda: Queue(clock=CLOCK), "dead_letter_queue", None),
    (lambda: Queue(clock=CLOCK), "capacity", 5),
])
def test_settings_are_read_only_after_construction(make: Any, field: str, value: Any) -> None:
    obj = make()
    before = getattr(obj, field)
    with pytest.raises(AttributeError, match=f"{field} is read-only"):
        setattr(obj, field, value)
    with pytest.raises(AttributeError, match="read-only"):
        delattr(obj, field)
    assert getattr(obj, field) is before


def test_objects_on_different_clocks_are_refused_together() -> None:
    manual, system = ManualClock(), SystemClock()
    try:
        on_system = Queue(clock=system)
        for build in (lambda: Function(handler, clock=manual, dead_letter_queue=on_system),
                      lambda: Function(handler, clock=manual, on_success=on_system),
                      lambda: Function(handler, clock=manual, on_failure=Function(handler, clock=system)),
                      lambda: Target(on_system, clock=manual),
                      lambda: Target(print, clock=manual, dead_letter_queue=on_system),
                      lambda: Queue(clock=manual, dead_letter_queue=on_system, max_receive_count=1)):
            with pytest.raises(ValidationError, match="runs on <SystemClock.*but this .* runs on <ManualClock.*"
                                                      "share one clock.*use_clock"):
                build()
    finally:
        system.shutdown()


def test_async_record_destinations_are_refused() -> None:
    async def record(r: Any) -> None:
        return None

    with pytest.raises(ValidationError, match="on_success must be synchronous"):
        Function(handler, clock=CLOCK, on_success=record)
