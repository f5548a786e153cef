"""mock_aws itself: how it is switched on and off, and what it refuses to answer."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

import boto3
import botocore.exceptions
import botocore.stub
import pytest

from eventbus import ManualClock, World
from eventbus.testing import MockAws, UnsupportedOperationError, current_world, mock_aws, supported

pytest_plugins = ["pytester"]


def _bus_names(client: Any) -> list[str]:
    return [bus["Name"] for bus in client.list_event_buses()["EventBuses"]]


def test_a_context_manager_answers_from_its_world_and_stops_answering_after() -> None:
    made_before = boto3.client("events", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    with mock_aws() as world:
        client = boto3.client("events")
        client.create_event_bus(Name="orders")
        assert _bus_names(client) == ["default", "orders"]
        assert _bus_names(made_before) == ["default", "orders"]
        assert "orders" in world.buses
    # afterwards a client made outside the mock goes to botocore's own handling again
    # (here a Stubber answers it, so the test makes no network call)
    stub = botocore.stub.Stubber(made_before)
    stub.add_response("list_event_buses", {"EventBuses": []})
    with stub:
        assert made_before.list_event_buses()["EventBuses"] == []


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
        mock_aws(object())  # type: ignore[call-overload]
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


def test_a_decorated_class_gets_a_fresh_mock_for_each_test_method() -> None:
    @mock_aws()
    class TestOrders:
        def test_one(self) -> list[str]:
            boto3.client("sqs").create_queue(QueueName="one")
            return sorted(current_world().queues)

        def test_two(self) -> list[str]:
            return sorted(current_world().queues)

        def helper(self) -> str:  # not a test: left alone
            return "plain"

    assert isinstance(TestOrders, type)
    instance = TestOrders()
    assert (instance.test_one(), instance.test_two(), instance.helper()) == (["one"], [], "plain")


def test_mocks_in_two_threads_answer_their_own_threads_calls() -> None:
    started, finish = threading.Barrier(2), threading.Event()
    seen: dict[str, list[str]] = {}

    def run(name: str) -> None:
        with mock_aws() as world:
            started.wait()
            boto3.client("sqs").create_queue(QueueName=f"{name}-1")
            if name == "b":
                finish.set()  # b stops first; a's calls must still go to a's world, with its environment
            else:
                finish.wait()
            started.wait()
            boto3.client("sqs").create_queue(QueueName=f"{name}-2")
            seen[name] = sorted(world.queues)

    threads = [threading.Thread(target=run, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"a": ["a-1", "a-2"], "b": ["b-1", "b-2"]}


def test_decorated_coroutines_gathered_keep_their_own_worlds() -> None:
    @mock_aws()
    async def make(name: str) -> list[str]:
        boto3.client("sqs").create_queue(QueueName=name)
        await asyncio.sleep(0)  # the other task runs here (a real loop step, not time)
        return sorted(current_world().queues)

    async def both() -> list[list[str]]:
        return list(await asyncio.gather(make("first"), make("second")))

    assert asyncio.run(both()) == [["first"], ["second"]]


def test_a_worker_thread_of_the_code_under_test_is_answered_by_the_mock() -> None:
    found: list[str] = []
    with mock_aws() as world:
        worker = threading.Thread(target=lambda: found.append(
            boto3.client("sqs").create_queue(QueueName="from-worker")["QueueUrl"]))
        worker.start()
        worker.join(10)
        assert list(world.queues) == ["from-worker"]
    assert found[0].endswith("/from-worker")


def test_the_environment_is_restored_by_the_last_mock_to_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod-admin")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    outer = mock_aws(region="eu-west-1")
    inner = mock_aws(region="us-west-2")
    outer.start()
    inner.start()
    assert "AWS_PROFILE" not in os.environ  # a profile would win over the fake credentials
    outer.stop()  # stopped out of order: inner still answers, with its region
    assert os.environ["AWS_DEFAULT_REGION"] == "us-west-2"
    assert boto3.client("sqs").create_queue(QueueName="q")["QueueUrl"].startswith("https://sqs.us-west-2.")
    inner.stop()
    assert (os.environ["AWS_PROFILE"], os.environ["AWS_DEFAULT_REGION"]) == ("prod-admin", "ap-south-1")


def test_a_client_made_under_a_mock_refuses_calls_after_it_stopped() -> None:
    with mock_aws():
        made_inside = boto3.client("sqs")
        unused_inside = boto3.client("events")
        made_inside.list_queues()
    with pytest.raises(ValueError, match="made under eventbus.testing.mock_aws.*ListQueues would go to AWS"):
        made_inside.list_queues()
    with pytest.raises(ValueError, match="ListEventBuses would go to AWS"):
        unused_inside.list_event_buses()


def test_the_bare_decorator_works_as_moto_users_write_it() -> None:
    @mock_aws
    def create() -> list[str]:
        boto3.client("sqs").create_queue(QueueName="bare")
        return sorted(current_world().queues)

    assert create() == ["bare"]
    assert create() == ["bare"]  # a fresh world each call


def test_asking_what_an_unknown_name_received_lists_what_the_world_has() -> None:
    from eventbus import ResourceNotFoundError
    from eventbus.testing import assert_received

    with mock_aws() as world:
        world.register_function("save", lambda event, context: None)
        boto3.client("sqs").create_queue(QueueName="orders")
        with pytest.raises(ResourceNotFoundError, match="No function or queue named ordrs in this world; its "
                                                        "functions: save; its queues: orders"):
            assert_received(world, "ordrs")
        with pytest.raises(ResourceNotFoundError, match="No queue arn:aws:sqs:us-east-1:123456789012:x in this "
                                                        "world; its queues: orders"):
            world.received("arn:aws:sqs:us-east-1:123456789012:x")
        with pytest.raises(ValueError, match="it was given -60 seconds"):
            world.advance(minutes=-1)
