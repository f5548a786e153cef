"""eventbus.World on its own (no boto3): time, functions as Lambda runs them, names and ARNs."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from typing import Any

import pytest

from eventbus import (
    ConflictError,
    EventBus,
    ManualClock,
    ResourceNotFoundError,
    SystemClock,
    ValidationError,
    World,
)
from eventbus._aws import answer
from eventbus._world import RECEIVED_KEPT, ArnDestination, QueueArnDestination, import_handler


def _queue(world: World, name: str) -> str:
    status, _ = answer(world, "sqs", "CreateQueue", {"QueueName": name})
    assert status == 200
    return world.queue(name).arn


@pytest.mark.parametrize(("kwargs", "seconds"), [
    ({"delta": 5}, 5), ({"delta": 2.5}, 2.5), ({"delta": timedelta(minutes=1)}, 60), ({"seconds": 7}, 7),
    ({"minutes": 2}, 120), ({"hours": 1}, 3600), ({"days": 1}, 86400),
    ({"delta": 1, "seconds": 1, "minutes": 1, "hours": 1, "days": 1}, 1 + 1 + 60 + 3600 + 86400),
])
def test_advance_moves_the_clock_by_exactly_what_it_is_given(kwargs: dict[str, Any], seconds: float) -> None:
    world = World()
    before = world.clock.now()
    world.advance(**kwargs)
    assert world.clock.now() - before == timedelta(seconds=seconds)


@pytest.mark.parametrize("name", ["delta", "seconds", "minutes", "hours", "days"])
def test_advance_refuses_what_is_not_a_number_naming_it(name: str) -> None:
    for wrong in ("1", True):
        given: dict[str, Any] = {name: wrong}
        with pytest.raises(ValidationError, match=f"^{name} must be a number of {name}, not {wrong!r}$"):
            World().advance(**given)


def test_advance_needs_a_manual_clock_and_says_so() -> None:
    clock = SystemClock()
    try:
        world = World(clock=clock)
        with pytest.raises(ValidationError, match=r"^World.advance\(\) needs a ManualClock; this world runs on"):
            world.advance(seconds=1)
        assert world.settle() == 0
    finally:
        clock.shutdown(drain=False)


def test_a_registered_function_shows_lambdas_configuration_and_takes_its_settings() -> None:
    world = World(account="111122223333", region="eu-west-1")

    def save_order(event: Any, context: Any) -> Any:
        return context.get_remaining_time_in_millis()

    fn = world.register_function("save-order", save_order, timeout=9, maximum_retry_attempts=1,
                                 maximum_event_age_in_seconds=120, reserved_concurrency=3)
    configuration = world.function_entry("save-order").configuration
    assert {key: configuration[key] for key in ("FunctionName", "FunctionArn", "Runtime", "Handler", "Timeout",
                                                "State", "Version", "PackageType")} == {
        "FunctionName": "save-order", "FunctionArn": "arn:aws:lambda:eu-west-1:111122223333:function:save-order",
        "Runtime": "python3.12", "Handler": f"{__name__}.save_order", "Timeout": 9, "State": "Active",
        "Version": "$LATEST", "PackageType": "Zip"}
    assert (fn.timeout, fn.maximum_retry_attempts, fn.maximum_event_age_in_seconds, fn.reserved_concurrency) == (
        9, 1, 120, 3)
    assert fn.invoke({})["Payload"] == 9000  # the context's deadline is the timeout
    world.register_function("save-order", save_order)  # registering again before CreateFunction: allowed
    world.create_function({**configuration, "Timeout": 4})
    assert world.function("save-order").timeout == 4  # CreateFunction took the registered handler, its settings
    with pytest.raises(ConflictError, match="^Function already exist: save-order$"):
        world.register_function("save-order", save_order)
    with pytest.raises(ConflictError, match="^Function already exist: save-order$"):
        world.create_function(dict(configuration))


def test_a_functions_dead_letter_queue_and_destinations_receive_what_lambda_sends() -> None:
    world = World()
    dlq, done = _queue(world, "dlq"), _queue(world, "done")

    def fails(event: Any, context: Any) -> Any:
        raise RuntimeError("down")

    world.register_function("ok", lambda event, context: {"ok": event})
    world.create_function({"FunctionName": "fails", "Handler": "x.y"}, dead_letter_arn=dlq)
    world.functions["fails"].handler = fails
    world.rebuild_function(world.functions["fails"])
    world.functions["ok"].invoke_config = {"DestinationConfig": {"OnSuccess": {"Destination": done}}}
    world.rebuild_function(world.functions["ok"])
    world.function("fails").invoke({"n": 1}, "Event")
    world.function("ok").invoke({"n": 2}, "Event")
    world.advance(minutes=10)
    assert world.received("dlq") == [{"n": 1}]  # the original event, after Lambda's two retries
    assert len(world.invocations("fails")) == 3
    [record] = world.received("done")
    assert (record["requestPayload"], record["responsePayload"]) == ({"n": 2}, {"ok": {"n": 2}})


def test_handler_calls_are_kept_with_their_results_and_errors_bounded() -> None:
    world = World()

    async def double(event: Any, context: Any) -> Any:
        if event < 0:
            raise ValueError("negative")
        return event * 2

    world.register_function("double", double)
    asyncio.run(world.function("double").invoke_async(3))
    asyncio.run(world.function("double").invoke_async(-1))
    calls = world.invocations("double")
    assert [(c.event, c.result, type(c.error).__name__ if c.error else None) for c in calls] == [
        (3, 6, None), (-1, None, "ValueError")]
    assert world.received("double") == [3, -1]
    world.register_function("echo", lambda event, context: event)
    for n in range(RECEIVED_KEPT + 5):
        world.function("echo").invoke(n)
    kept = world.received("echo")
    assert (len(kept), kept[0], kept[-1]) == (RECEIVED_KEPT, 5, RECEIVED_KEPT + 4)  # the oldest went first


def test_a_handler_runs_with_lambdas_environment_and_it_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.delenv("TABLE", raising=False)
    world = World(region="eu-central-1")
    seen: dict[str, str | None] = {}

    def look(event: Any, context: Any) -> None:
        seen.update({key: os.environ.get(key) for key in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION",
                                                          "AWS_DEFAULT_REGION", "TABLE")})

    world.register_function("look", look)
    world.functions["look"].configuration["Environment"] = {"Variables": {"TABLE": "orders"}}
    world.function("look").invoke({})
    assert seen == {"AWS_LAMBDA_FUNCTION_NAME": "look", "AWS_REGION": "eu-central-1",
                    "AWS_DEFAULT_REGION": "eu-central-1", "TABLE": "orders"}
    assert (os.environ["AWS_DEFAULT_REGION"], os.environ.get("TABLE")) == ("ap-south-1", None)


def test_handlers_that_cannot_be_imported_fail_as_lambda_says() -> None:
    assert import_handler("json.dumps") is json.dumps
    for handler, message in (("nodots", "Bad handler 'nodots': not enough values to unpack"),
                             ("json.nope", "Handler 'nope' missing on module 'json'"),
                             ("no_such_module.f", "Unable to import module 'no_such_module': No module named")):
        with pytest.raises(Exception, match=message) as caught:
            import_handler(handler)({}, None)
        assert type(caught.value).lambda_error_type == "Runtime.ImportModuleError"  # type: ignore[attr-defined]


def test_names_urls_and_arns_resolve_only_to_this_worlds_resources() -> None:
    world = World()
    arn = _queue(world, "orders")
    url = world.queue_entry("orders").url
    assert url == "https://sqs.us-east-1.amazonaws.com/123456789012/orders"
    assert world.queue(url) is world.queue(arn) is world.queue("orders")
    for wrong in ("arn:aws:sqs:us-east-1:999999999999:orders", "https://sqs.eu-west-1.amazonaws.com/1/orders",
                  "other"):
        with pytest.raises(ResourceNotFoundError, match="The specified queue does not exist."):
            world.queue(wrong)
    assert world.bus(world.bus().arn) is world.bus("default")
    with pytest.raises(ResourceNotFoundError, match="Event bus arn:aws:events:us-east-1:999999999999:event-bus/"
                                                    "default does not exist."):
        world.bus("arn:aws:events:us-east-1:999999999999:event-bus/default")
    assert isinstance(world.resolve(world.bus().arn), EventBus)
    assert world.resolve(arn) is world.queue("orders")
    with pytest.raises(ValidationError, match="is not a valid ARN"):
        world.resolve("orders")
    with pytest.raises(ValidationError, match="none of them"):
        world.resolve("arn:aws:states:us-east-1:123456789012:stateMachine:flow")
    with pytest.raises(ValidationError, match="Provided Arn is not in correct format"):
        world.resolve_kind("arn:aws")
    assert type(world.destination(arn)) is QueueArnDestination
    function = world.destination("arn:aws:lambda:us-east-1:123456789012:function:later")
    assert type(function) is ArnDestination and function.clock is world.clock
    with pytest.raises(ResourceNotFoundError, match="Function not found"):
        function.deliver({})  # found when it delivers: not there yet
    world.register_function("later", lambda event, context: None)
    function.deliver({"now": 1})
    world.settle()
    assert world.received("later") == [{"now": 1}]
    assert world.destination(world.bus().arn) is world.bus()
    missing_bus = world.destination("arn:aws:events:us-east-1:123456789012:event-bus/later")
    assert type(missing_bus) is ArnDestination


def test_a_world_takes_the_default_manual_clock_or_makes_one() -> None:
    made = World()
    assert isinstance(made.clock, ManualClock)
    assert World(clock=made.clock).clock is made.clock
