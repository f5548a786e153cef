"""mock_aws itself: how it is switched on and off, and what it refuses to answer."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import boto3
import botocore.exceptions
import botocore.stub
import pytest

from eventbus import ManualClock, World
from eventbus.testing import MockAws, UnsupportedOperationError, mock_aws, supported

pytest_plugins = ["pytester"]


def _bus_names(client: Any) -> list[str]:
    return [bus["Name"] for bus in client.list_event_buses()["EventBuses"]]


def test_a_context_manager_answers_from_its_world_and_stops_answering_after() -> None:
    with mock_aws() as world:
        client = boto3.client("events")
        client.create_event_bus(Name="orders")
        assert _bus_names(client) == ["default", "orders"]
        assert "orders" in world.buses
    # afterwards the same client goes to botocore's own handling: with no credentials or
    # endpoint it cannot be answered in process any more (we stop it before the network)
    stub = botocore.stub.Stubber(client)
    stub.add_response("list_event_buses", {"EventBuses": []})
    with stub:
        assert client.list_event_buses()["EventBuses"] == []


def test_a_client_created_before_the_mock_started_is_answered_too() -> None:
    early = boto3.client("sqs", region_name="us-east-1")
    with mock_aws() as world:
        url = early.create_queue(QueueName="made-early")["QueueUrl"]
        assert url == "https://sqs.us-east-1.amazonaws.com/123456789012/made-early"
        assert world.queue("made-early").name == "made-early"


def test_the_decorator_gives_each_call_a_fresh_world() -> None:
    seen: list[list[str]] = []

    @mock_aws()
    def create_and_list() -> None:
        client = boto3.client("events")
        client.create_event_bus(Name="once")
        seen.append(_bus_names(client))

    create_and_list()
    create_and_list()  # no ResourceAlreadyExistsException: a new world each time
    assert seen == [["default", "once"], ["default", "once"]]


def test_the_decorator_works_on_coroutine_functions() -> None:
    @mock_aws()
    async def create() -> str:
        return str(boto3.client("sqs").create_queue(QueueName="a")["QueueUrl"])

    assert asyncio.run(create()).endswith("/a")


def test_mocks_nest_and_the_innermost_answers() -> None:
    outer, inner = World(), World()
    with mock_aws(outer):
        boto3.client("sqs").create_queue(QueueName="outer")
        with mock_aws(inner):
            boto3.client("sqs").create_queue(QueueName="inner")
        boto3.client("sqs").create_queue(QueueName="outer-again")
    assert sorted(outer.queues) == ["outer", "outer-again"]
    assert sorted(inner.queues) == ["inner"]


def test_starting_the_same_mock_twice_is_refused() -> None:
    mock = mock_aws()
    with mock, pytest.raises(ValueError, match="active already"):
        mock.start()
    mock.stop()  # stopping a stopped mock is harmless


def test_fake_credentials_and_region_are_set_while_active_and_restored_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "real-looking-key")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with mock_aws(region="eu-west-1"):
        assert os.environ["AWS_ACCESS_KEY_ID"] == "eventbus-testing"
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert boto3.client("events").describe_event_bus()["Arn"] == \
            "arn:aws:events:eu-west-1:123456789012:event-bus/default"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "real-looking-key"
    assert "AWS_DEFAULT_REGION" not in os.environ


def test_a_client_for_another_region_is_told_so() -> None:
    with mock_aws(), pytest.raises(ValueError, match="answers region us-east-1.*for eu-west-1"):
        boto3.client("events", region_name="eu-west-1").list_event_buses()


def test_an_unmodelled_service_or_operation_raises_naming_it() -> None:
    with mock_aws():
        with pytest.raises(UnsupportedOperationError, match=r"does not answer s3 \(ListBuckets\)"):
            boto3.client("s3").list_buckets()
        with pytest.raises(UnsupportedOperationError, match=r"does not answer events\.PutPermission"):
            boto3.client("events").put_permission(Action="events:PutEvents", Principal="111122223333",
                                                  StatementId="x")
    assert issubclass(UnsupportedOperationError, NotImplementedError)
    assert "PutEvents" in supported()["events"]


def test_botocore_still_checks_the_arguments_against_the_model() -> None:
    with mock_aws(), pytest.raises(botocore.exceptions.ParamValidationError, match="Name"):
        boto3.client("events").put_rule(EventPattern="{}")


def test_errors_are_the_modelled_exceptions_with_aws_codes_and_texts() -> None:
    with mock_aws():
        events = boto3.client("events")
        with pytest.raises(events.exceptions.ResourceNotFoundException) as caught:
            events.describe_rule(Name="absent")
        assert caught.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                                  "Message": "Rule absent does not exist on EventBus default."}
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(events.exceptions.InvalidEventPatternException):
            events.put_rule(Name="r", EventPattern=json.dumps({"source": "not-a-list"}))
        sqs = boto3.client("sqs")
        with pytest.raises(sqs.exceptions.QueueDoesNotExist):
            sqs.get_queue_url(QueueName="absent")


def test_mock_aws_refuses_something_that_is_not_a_world() -> None:
    with pytest.raises(ValueError, match="takes an eventbus.testing.World"):
        mock_aws(object())  # type: ignore[arg-type]
    assert isinstance(mock_aws(), MockAws)


def test_the_world_runs_on_the_default_manual_clock_when_there_is_one() -> None:
    from eventbus import use_clock
    with use_clock(ManualClock()) as clock:
        assert World().clock is clock


def test_the_plugin_fixtures_answer_boto3_on_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import boto3

        def test_fixture(eventbus_aws, eventbus_clock):
            assert eventbus_aws.clock is eventbus_clock
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="hello")
            assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
            assert "Messages" not in sqs.receive_message(QueueUrl=url)
            eventbus_aws.advance(minutes=1)
            assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hello"

        def test_world_alone(eventbus_world):
            assert list(eventbus_world.buses) == ["default"]
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
