"""EventBridge Pipes through boto3 under mock_aws: SQS -> filter -> enrichment -> target, on the world's clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import World

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed: pip install -e '.[dev,testing]' runs these tests")

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pipes"
START = datetime(2024, 1, 1, tzinfo=UTC)  # the world's ManualClock starts here
ORDERS_ONLY = {"FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}}


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def pipe_arn(name: str) -> str:
    return f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/{name}"



@pytest.fixture
def pipes(world: World) -> Any:
    return boto3.client("pipes", region_name=REGION)


@pytest.fixture
def sqs(world: World) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def source(sqs: Any) -> str:
    """The URL of the queue ``source``."""
    return str(sqs.create_queue(QueueName="source")["QueueUrl"])


@pytest.fixture
def received(world: World) -> list[Any]:
    """What the Lambda function ``target`` is invoked with, a batch per call."""
    batches: list[Any] = []
    world.register_function("target", lambda event, context: batches.append(event))
    return batches


def enriching(world: World) -> list[Any]:
    """Register the Lambda function ``enrich``: it gives the orders' ids and totals; what it was called with."""
    calls: list[Any] = []

    def enrich(batch: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
        calls.append(batch)
        return [{"id": json.loads(record["body"])["id"], "total": 10 * json.loads(record["body"])["id"]}
                for record in batch]

    world.register_function("enrich", enrich)
    return calls


def send(sqs: Any, url: str, *bodies: dict[str, Any]) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


def held(sqs: Any, url: str) -> tuple[int, int]:
    """The queue's messages: (visible, in flight)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def error_of(info: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def create(pipes: Any, name: str = "orders", **settings: Any) -> dict[str, Any]:
    request = {"Name": name, "Source": queue_arn("source"), "Target": function_arn("target"), "RoleArn": ROLE,
               **settings}
    return dict(pipes.create_pipe(**request))


# -- the flow ----------------------------------------------------------------------------------
def test_a_batch_is_filtered_enriched_and_delivered_to_the_target_function(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    enriched = enriching(world)
    create(pipes, SourceParameters={**ORDERS_ONLY, "SqsQueueParameters": {"BatchSize": 5,
                                                                           "MaximumBatchingWindowInSeconds": 10}},
           Enrichment=function_arn("enrich"))
    send(sqs, source, {"kind": "order", "id": 1}, {"kind": "refund", "id": 2}, {"kind": "order", "id": 3})

    world.advance(seconds=9)
    assert received == []  # the batching window is still open
    world.advance(seconds=1)

    assert received == [[{"id": 1, "total": 10}, {"id": 3, "total": 30}]]
    [batch] = enriched
    assert [json.loads(record["body"]) for record in batch] == [{"kind": "order", "id": 1},
                                                                {"kind": "order", "id": 3}]
    assert {record["eventSource"] for record in batch} == {"aws:sqs"}
    assert held(sqs, source) == (0, 0)  # delivered and filtered out messages alike are deleted


def test_filtered_out_messages_are_deleted_from_the_source_queue(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    create(pipes, SourceParameters=ORDERS_ONLY)
    send(sqs, source, {"kind": "refund", "id": 1}, {"kind": "audit", "id": 2})

    world.advance(minutes=5)  # (past the visibility timeout: nothing comes back)

    assert received == []
    assert held(sqs, source) == (0, 0)
    assert "Messages" not in sqs.receive_message(QueueUrl=source)


def test_the_target_input_template_is_applied_to_each_item(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    create(pipes, SourceParameters={"SqsQueueParameters": {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 1}},
           TargetParameters={"InputTemplate": '{"pipe": "<aws.pipes.pipe-name>", "order": <$.body.id>}'})
    send(sqs, source, {"id": 7}, {"id": 8})

    world.advance(seconds=1)

    assert received == [[{"pipe": "orders", "order": 7}, {"pipe": "orders", "order": 8}]]


def test_the_enrichment_input_template_shapes_what_the_enrichment_gets(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    seen: list[Any] = []

    def enrich(batch: list[Any], context: Any) -> list[Any]:
        seen.append(batch)
        return [{"n": len(batch)}]

    world.register_function("enrich", enrich)
    create(pipes, Enrichment=function_arn("enrich"), EnrichmentParameters={"InputTemplate": '{"id": <$.body.id>}'})
    send(sqs, source, {"id": 4})

    assert seen == [[{"id": 4}]]
    assert received == [[{"n": 1}]]


def test_a_failing_enrichment_fails_the_batch_whose_messages_come_back_then_go_to_the_dead_letter_queue(
        world: World, pipes: Any, sqs: Any, received: list[Any]) -> None:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    source = sqs.create_queue(QueueName="source", Attributes={"VisibilityTimeout": "30", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": queue_arn("dlq"), "maxReceiveCount": 2})})["QueueUrl"]
    attempts: list[datetime] = []

    def enrich(batch: Any, context: Any) -> Any:
        attempts.append(world.clock.now())
        raise RuntimeError("the price service is down")

    world.register_function("enrich", enrich)
    create(pipes, Enrichment=function_arn("enrich"))
    send(sqs, source, {"id": 1})
    assert held(sqs, source) == (0, 1)  # in flight: the batch failed, the message waits for its timeout

    world.advance(minutes=5)

    assert received == []
    assert attempts == [START, START + timedelta(seconds=30)]
    [letter] = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert json.loads(letter["Body"]) == {"id": 1}
    assert pipes.describe_pipe(Name="orders")["CurrentState"] == "RUNNING"


def test_a_pipe_delivers_to_a_queue_a_message_per_item(world: World, pipes: Any, sqs: Any, source: str) -> None:
    out = sqs.create_queue(QueueName="out")["QueueUrl"]
    create(pipes, Target=queue_arn("out"), SourceParameters=ORDERS_ONLY,
           TargetParameters={"InputTemplate": '{"order": <$.body.id>}'})
    send(sqs, source, {"kind": "order", "id": 1}, {"kind": "refund", "id": 2}, {"kind": "order", "id": 3})

    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=out, MaxNumberOfMessages=10)["Messages"]]

    assert sorted(bodies, key=lambda body: body["order"]) == [{"order": 1}, {"order": 3}]


def test_a_pipe_puts_an_event_per_item_on_an_event_bus_with_its_parameters(
        world: World, pipes: Any, sqs: Any, source: str) -> None:
    events = boto3.client("events", region_name=REGION)
    seen = sqs.create_queue(QueueName="seen")["QueueUrl"]
    events.put_rule(Name="placed", EventPattern=json.dumps({"source": ["shop.orders"]}))
    events.put_targets(Rule="placed", Targets=[{"Id": "q", "Arn": queue_arn("seen")}])
    create(pipes, Target=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
           TargetParameters={"InputTemplate": '{"order": <$.body.id>}', "EventBridgeEventBusParameters": {
               "Source": "shop.orders", "DetailType": "Order Placed"}})
    send(sqs, source, {"id": 12})

    [message] = sqs.receive_message(QueueUrl=seen)["Messages"]
    event = json.loads(message["Body"])

    assert (event["source"], event["detail-type"], event["detail"]) == ("shop.orders", "Order Placed", {"order": 12})


def failing_target(world: World) -> list[datetime]:
    """Register the Lambda function ``target`` that always fails; when it was called."""
    calls: list[datetime] = []

    def target(event: Any, context: Any) -> Any:
        calls.append(world.clock.now())
        raise RuntimeError("the warehouse is closed")

    world.register_function("target", target)
    return calls


def test_a_target_function_that_fails_fails_the_batch_and_its_message_comes_back(
        world: World, pipes: Any, sqs: Any, source: str) -> None:
    calls = failing_target(world)
    create(pipes)
    send(sqs, source, {"id": 1})
    assert held(sqs, source) == (0, 1)

    world.advance(seconds=30)

    assert calls == [START, START + timedelta(seconds=30)]  # again once its visibility timeout ended


def test_a_fire_and_forget_target_is_invoked_asynchronously_and_its_failure_is_its_own(
        world: World, pipes: Any, sqs: Any, source: str) -> None:
    calls = failing_target(world)
    create(pipes, TargetParameters={"LambdaFunctionParameters": {"InvocationType": "FIRE_AND_FORGET"}})
    send(sqs, source, {"id": 1})

    assert held(sqs, source) == (0, 0)  # handed over: the pipe is done with the message
    world.advance(minutes=5)
    assert calls == [START, START + timedelta(minutes=1), START + timedelta(minutes=3)]  # Lambda's 2 async retries


def test_the_target_function_is_found_by_its_arn_at_each_call(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    create(pipes)
    boto3.client("lambda", region_name=REGION).delete_function(FunctionName="target")
    again: list[Any] = []
    world.register_function("target", lambda event, context: again.append(event))  # created again, same name

    send(sqs, source, {"id": 1})

    assert received == []
    assert [json.loads(record["body"]) for batch in again for record in batch] == [{"id": 1}]


# -- start, stop, describe, list, delete ------------------------------------------------------
def test_stop_pipe_stops_delivery_and_start_pipe_resumes_it(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    create(pipes)
    stopped = pipes.stop_pipe(Name="orders")
    send(sqs, source, {"id": 1})
    world.advance(minutes=10)

    assert received == []
    assert held(sqs, source) == (1, 0)
    del stopped["ResponseMetadata"]
    assert stopped == {"Arn": pipe_arn("orders"), "Name": "orders", "DesiredState": "STOPPED",
                       "CurrentState": "STOPPED", "CreationTime": START, "LastModifiedTime": START}
    described = pipes.describe_pipe(Name="orders")
    assert (described["DesiredState"], described["CurrentState"]) == ("STOPPED", "STOPPED")

    started = pipes.start_pipe(Name="orders")
    world.settle()

    assert (started["DesiredState"], started["CurrentState"], started["LastModifiedTime"]) == \
        ("RUNNING", "RUNNING", START + timedelta(minutes=10))
    assert [json.loads(record["body"]) for batch in received for record in batch] == [{"id": 1}]
    assert held(sqs, source) == (0, 0)


def test_a_pipe_created_stopped_does_not_read_its_source(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    answer = create(pipes, DesiredState="STOPPED")
    send(sqs, source, {"id": 1})
    world.advance(minutes=1)

    assert (answer["DesiredState"], answer["CurrentState"]) == ("STOPPED", "STOPPED")
    assert received == []
    assert held(sqs, source) == (1, 0)


def test_create_pipe_answers_the_pipe_s_state(world: World, pipes: Any, source: str, received: list[Any]) -> None:
    answer = create(pipes)
    del answer["ResponseMetadata"]

    assert answer == {"Arn": pipe_arn("orders"), "Name": "orders", "DesiredState": "RUNNING",
                      "CurrentState": "RUNNING", "CreationTime": START, "LastModifiedTime": START}
    assert "orders" in world.pipes and world.pipes["orders"].pipe.current_state == "RUNNING"


def test_describe_pipe_shows_the_definition_as_given_with_state_and_times(
        world: World, pipes: Any, source: str, received: list[Any]) -> None:
    enriching(world)
    settings: dict[str, Any] = {"Description": "orders to the target",
                "SourceParameters": {**ORDERS_ONLY, "SqsQueueParameters": {"BatchSize": 5,
                                                                           "MaximumBatchingWindowInSeconds": 20}},
                "Enrichment": function_arn("enrich"),
                "EnrichmentParameters": {"InputTemplate": '{"body": <$.body>}'},
                "TargetParameters": {"InputTemplate": '{"id": <$.id>}'}, "Tags": {"team": "shop"}}
    create(pipes, **settings)
    world.advance(minutes=1)

    described = pipes.describe_pipe(Name="orders")
    del described["ResponseMetadata"]

    assert described == {"Arn": pipe_arn("orders"), "Name": "orders", "Source": queue_arn("source"),
                         "Target": function_arn("target"), "RoleArn": ROLE, **settings, "DesiredState": "RUNNING",
                         "CurrentState": "RUNNING", "CreationTime": START, "LastModifiedTime": START}


def test_list_pipes_filters_by_name_state_source_and_target(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    sqs.create_queue(QueueName="other-source")
    sqs.create_queue(QueueName="out")
    enriching(world)
    create(pipes, "orders-a", Enrichment=function_arn("enrich"))
    create(pipes, "orders-b", Target=queue_arn("out"), DesiredState="STOPPED")
    create(pipes, "refunds", Source=queue_arn("other-source"))

    def names(**filters: Any) -> list[str]:
        return [p["Name"] for p in pipes.list_pipes(**filters)["Pipes"]]

    assert names() == ["orders-a", "orders-b", "refunds"]
    assert names(NamePrefix="orders") == ["orders-a", "orders-b"]
    assert names(DesiredState="STOPPED") == ["orders-b"]
    assert names(CurrentState="RUNNING") == ["orders-a", "refunds"]
    assert names(SourcePrefix=queue_arn("other")) == ["refunds"]
    assert names(TargetPrefix="arn:aws:sqs:") == ["orders-b"]
    assert pipes.list_pipes(NamePrefix="orders-a")["Pipes"] == [{
        "Name": "orders-a", "Arn": pipe_arn("orders-a"), "DesiredState": "RUNNING", "CurrentState": "RUNNING",
        "CreationTime": START, "LastModifiedTime": START, "Source": queue_arn("source"),
        "Target": function_arn("target"), "Enrichment": function_arn("enrich")}]
    pages = pipes.list_pipes(Limit=2)
    assert ([p["Name"] for p in pages["Pipes"]], pages["NextToken"]) == (["orders-a", "orders-b"], "2")
    assert [p["Name"] for p in pipes.list_pipes(Limit=2, NextToken=pages["NextToken"])["Pipes"]] == ["refunds"]


def test_delete_pipe_stops_it_and_it_is_gone(
        world: World, pipes: Any, sqs: Any, source: str, received: list[Any]) -> None:
    create(pipes)
    answer = pipes.delete_pipe(Name="orders")
    send(sqs, source, {"id": 1})
    world.advance(minutes=1)

    assert (answer["Arn"], answer["DesiredState"], answer["CurrentState"]) == \
        (pipe_arn("orders"), "DELETED", "DELETING")
    assert received == []
    assert pipes.list_pipes()["Pipes"] == []
    assert "orders" not in world.pipes
    create(pipes)  # (the name is free again)
    assert [json.loads(record["body"]) for batch in received for record in batch] == [{"id": 1}]


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["describe_pipe", "start_pipe", "stop_pipe", "delete_pipe"])
def test_an_unknown_pipe_is_not_found(pipes: Any, operation: str) -> None:
    with pytest.raises(pipes.exceptions.NotFoundException) as info:
        getattr(pipes, operation)(Name="nope")
    assert error_of(info) == ("NotFoundException", "Pipe nope does not exist.", 404)


def test_a_pipe_name_taken_is_a_conflict(pipes: Any, source: str, received: list[Any]) -> None:
    create(pipes)
    with pytest.raises(pipes.exceptions.ConflictException) as info:
        create(pipes, Target=function_arn("elsewhere"))
    assert error_of(info) == ("ConflictException", "Pipe orders already exists.", 409)


@pytest.mark.parametrize(("settings", "text"), [
    ({"Target": function_arn("missing")},
     f"The target {function_arn('missing')} does not exist: eventbus needs a pipe's target to exist when the pipe is "
     "created (create it first)"),
    ({"Target": queue_arn("missing")},
     f"The target {queue_arn('missing')} does not exist: eventbus needs a pipe's target to exist when the pipe is "
     "created (create it first)"),
    ({"Source": queue_arn("missing")},
     f"The source queue {queue_arn('missing')} does not exist: eventbus needs a pipe's source queue to exist when "
     "the pipe is created (create the queue first)"),
    ({"Source": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"},
     f"eventbus models pipes from SQS queues; Source arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s is not an SQS queue "
     "ARN"),
    ({"Source": "source"}, "Parameter source is not valid. Reason: Provided Arn is not in correct format."),
    ({"Enrichment": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m"},
     f"eventbus models Lambda functions as enrichments; arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m is not a "
     "Lambda function ARN"),
    ({"Enrichment": function_arn("missing")},
     f"The enrichment {function_arn('missing')} does not exist: eventbus needs a pipe's enrichment to exist when "
     "the pipe is created (create it first)"),
    ({"SourceParameters": {"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}}},
     "Invalid filter pattern definition."),
    ({"Target": queue_arn("source")},
     "A pipe's target cannot be its own source (every record would go round for ever)"),
    ({"TargetParameters": {"SqsQueueParameters": {"MessageGroupId": "g"}}},
     "eventbus does not model TargetParameters.SqsQueueParameters: its pipes deliver to Lambda functions, "
     "standard SQS queues and event buses"),
], ids=["target-function-missing", "target-queue-missing", "source-missing", "source-not-sqs", "source-not-an-arn",
        "enrichment-not-lambda", "enrichment-missing", "filter-not-json", "target-is-source",
        "unmodelled-target-parameters"])
def test_invalid_pipes_are_refused(pipes: Any, source: str, received: list[Any], settings: dict[str, Any],
                                   text: str) -> None:
    with pytest.raises(pipes.exceptions.ValidationException) as info:
        create(pipes, **settings)
    assert error_of(info) == ("ValidationException", text, 400)
    assert pipes.list_pipes()["Pipes"] == []


def test_a_description_longer_than_aws_allows_is_refused(pipes: Any, source: str, received: list[Any]) -> None:
    with pytest.raises(pipes.exceptions.ValidationException) as info:
        create(pipes, Description="x" * 513)
    code, message, status = error_of(info)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'xxx")
    assert message.endswith("' at 'description' failed to satisfy constraint: Member must have length less than or "
                            "equal to 512")
    create(pipes, Description="x" * 512)
    assert pipes.describe_pipe(Name="orders")["Description"] == "x" * 512


def test_update_pipe_changes_the_filter_and_batching_and_keeps_the_rest(world: World, pipes: Any, sqs: Any) -> None:
    seen: list[list[Any]] = []
    world.register_function("sink", lambda batch, context: seen.append([json.loads(r["body"]) for r in batch]))
    url = sqs.create_queue(QueueName="in")["QueueUrl"]
    pipes.create_pipe(Name="p", RoleArn=ROLE, Source=queue_arn("in"), Target=function_arn("sink"),
                      SourceParameters={"FilterCriteria": {"Filters": [
                          {"Pattern": json.dumps({"body": {"kind": ["order"]}})}]}})
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "order", "n": 1}))
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "refund", "n": 2}))
    world.settle()
    assert seen == [[{"kind": "order", "n": 1}]]
    answer = pipes.update_pipe(Name="p", RoleArn=ROLE, SourceParameters={
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"body": {"kind": ["refund"]}})}]},
        "SqsQueueParameters": {"BatchSize": 2, "MaximumBatchingWindowInSeconds": 10}})
    assert (answer["Name"], answer["CurrentState"]) == ("p", "RUNNING")
    for n in (3, 4):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"kind": "refund", "n": n}))
    world.advance(seconds=11)
    assert seen[1:] == [[{"kind": "refund", "n": 3}, {"kind": "refund", "n": 4}]]
    described = pipes.describe_pipe(Name="p")
    assert described["Target"] == function_arn("sink")  # kept
    assert described["SourceParameters"]["SqsQueueParameters"] == {"BatchSize": 2,
                                                                   "MaximumBatchingWindowInSeconds": 10}
    with pytest.raises(pipes.exceptions.NotFoundException):
        pipes.update_pipe(Name="absent", RoleArn=ROLE)
    with pytest.raises(pipes.exceptions.ValidationException):  # a bad update leaves the pipe as it was
        pipes.update_pipe(Name="p", RoleArn=ROLE, Target=function_arn("not-there"))
    assert pipes.describe_pipe(Name="p")["Target"] == function_arn("sink")


def test_pipe_tags_are_kept_changed_and_listed(world: World, pipes: Any, sqs: Any) -> None:
    world.register_function("sink", lambda batch, context: None)
    sqs.create_queue(QueueName="in")
    arn = pipes.create_pipe(Name="p", RoleArn=ROLE, Source=queue_arn("in"), Target=function_arn("sink"),
                            Tags={"team": "orders"})["Arn"]
    pipes.tag_resource(resourceArn=arn, tags={"cost": "7"})
    pipes.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert pipes.list_tags_for_resource(resourceArn=arn)["tags"] == {"cost": "7"}
    pipes.delete_pipe(Name="p")
    with pytest.raises(pipes.exceptions.NotFoundException):
        pipes.list_tags_for_resource(resourceArn=arn)
