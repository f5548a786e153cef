"""events, sqs and lambda through boto3, answered by a World: the shapes AWS answers, and behaviour."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime
from typing import Any

import boto3
import pytest

from eventbus import NonRetryableError, World
from eventbus.testing import assert_dead_lettered, assert_received

PATTERN = json.dumps({"source": ["shop"], "detail": {"total": [{"numeric": [">", 0]}]}})



def _queue(name: str, **attributes: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _order(total: float, bus: str = "orders") -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"id": "o-1", "total": total}),
            "EventBusName": bus}


# -- events ---------------------------------------------------------------------------------
def test_put_events_routes_each_entry_to_its_bus_and_answers_in_request_order(world: World) -> None:
    events = boto3.client("events")
    events.create_event_bus(Name="orders")
    url, arn = _queue("seen")
    events.put_rule(Name="orders", EventBusName="orders", EventPattern=PATTERN)
    events.put_targets(Rule="orders", EventBusName="orders", Targets=[{"Id": "q", "Arn": arn}])
    answer = events.put_events(Entries=[_order(5), _order(5, bus="nowhere"), _order(0),
                                        _order(7, bus=world.bus("orders").arn)])
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][1] == {"ErrorCode": "ResourceNotFoundException",
                                    "ErrorMessage": "Event bus nowhere does not exist."}
    ids = [answer["Entries"][n]["EventId"] for n in (0, 2, 3)]
    bodies = [json.loads(m["Body"]) for m in
              boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    # the total-0 order does not match; the others arrive as EventBridge's envelope
    assert [(b["id"], b["detail"]["total"], b["source"], b["detail-type"]) for b in bodies] == \
        [(ids[0], 5, "shop", "OrderPlaced"), (ids[2], 7, "shop", "OrderPlaced")]


def test_put_events_with_more_than_ten_entries_is_refused(world: World) -> None:
    events = boto3.client("events")
    with pytest.raises(events.exceptions.ClientError, match="ValidationException"):
        events.put_events(Entries=[_order(1, bus="default")] * 11)


def test_rule_description_targets_and_states(world: World) -> None:
    events = boto3.client("events")
    _, arn = _queue("q")
    events.put_rule(Name="r", EventPattern=PATTERN, Description="orders over 0")
    target = {"Id": "t", "Arn": arn, "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"},
                                                          "InputTemplate": '{"order": <id>}'},
              "RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 600}}
    answer = events.put_targets(Rule="r", Targets=[target])
    assert (answer["FailedEntryCount"], answer["FailedEntries"]) == (0, [])
    described = events.describe_rule(Name="r")
    assert {k: described[k] for k in ("Name", "EventPattern", "State", "Description", "EventBusName")} == {
        "Name": "r", "EventPattern": PATTERN, "State": "ENABLED", "Description": "orders over 0",
        "EventBusName": "default"}
    assert events.list_targets_by_rule(Rule="r")["Targets"] == [target]
    assert events.list_rule_names_by_target(TargetArn=arn)["RuleNames"] == ["r"]
    events.disable_rule(Name="r")
    assert events.describe_rule(Name="r")["State"] == "DISABLED"
    assert [r["Name"] for r in events.list_rules(NamePrefix="r")["Rules"]] == ["r"]
    with pytest.raises(events.exceptions.ClientError, match="Rule can't be deleted since it has targets."):
        events.delete_rule(Name="r")
    events.remove_targets(Rule="r", Ids=["t"])
    events.delete_rule(Name="r")
    assert events.list_rules()["Rules"] == []


def test_a_disabled_rule_delivers_nothing_until_enabled(world: World) -> None:
    events = boto3.client("events")
    url, arn = _queue("q")
    events.put_rule(Name="r", EventPattern=PATTERN, State="DISABLED")
    events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": arn}])
    events.put_events(Entries=[_order(1, bus="default")])
    assert world.received("q") == []
    events.enable_rule(Name="r")
    events.put_events(Entries=[_order(2, bus="default")])
    assert [body["detail"]["total"] for body in world.received("q")] == [2]
    assert url == world.queue_entry("q").url


def test_a_target_whose_function_does_not_exist_is_dead_lettered_without_retries(world: World) -> None:
    """AWS does not retry a target whose resource does not exist: the event goes to the DLQ at once."""
    events = boto3.client("events")
    _, dlq = _queue("dlq")
    events.put_rule(Name="r", EventPattern=PATTERN)
    missing = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed"
    events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": missing, "DeadLetterConfig": {"Arn": dlq},
                                           "RetryPolicy": {"MaximumRetryAttempts": 2,
                                                           "MaximumEventAgeInSeconds": 3600}}])
    event_id = events.put_events(Entries=[_order(3, bus="default")])["Entries"][0]["EventId"]
    [letter] = assert_dead_lettered(world, "dlq", lambda body: body["id"] == event_id, count=1)
    assert letter["detail"] == {"id": "o-1", "total": 3}
    [delivery] = world.bus().journey(event_id).deliveries
    assert (delivery.ended_as, len(delivery.attempts)) == ("dead_lettered", 1)


def test_a_lambda_target_gets_the_transformed_input_and_lambda_retries_its_errors(world: World) -> None:
    calls: list[Any] = []

    def flaky(event: Any, context: Any) -> Any:
        calls.append(event)
        if len(calls) < 3:
            raise RuntimeError("not yet")
        return "ok"

    world.register_function("flaky", flaky)
    events = boto3.client("events")
    events.put_rule(Name="r", EventPattern=PATTERN)
    events.put_targets(Rule="r", Targets=[{"Id": "t", "Arn": world.function("flaky").arn,
                                           "InputTransformer": {"InputPathsMap": {"id": "$.detail.id"},
                                                                "InputTemplate": '{"order": <id>}'}}])
    events.put_events(Entries=[_order(9, bus="default")])
    assert calls == [{"order": "o-1"}]  # the first attempt ran when put_events returned
    world.advance(minutes=10)  # Lambda's two asynchronous retries
    assert_received(world, "flaky", {"order": "o-1"}, times=3)
    assert [call.error is None for call in world.invocations("flaky")] == [False, False, True]


def test_test_event_pattern_answers_as_aws(world: World) -> None:
    events = boto3.client("events")
    event = {"id": "1", "account": "123456789012", "source": "shop", "time": "2024-01-01T00:00:00Z",
             "region": "us-east-1", "detail-type": "OrderPlaced", "detail": {"total": 3}}
    assert events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(event))["Result"] is True
    assert events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps({**event, "detail": {}}))["Result"] \
        is False
    with pytest.raises(events.exceptions.ClientError, match="Parameter Event is not valid."):
        events.test_event_pattern(EventPattern=PATTERN, Event="{}")


def test_event_buses_are_created_listed_and_deleted(world: World) -> None:
    events = boto3.client("events")
    assert events.create_event_bus(Name="orders")["EventBusArn"] == \
        "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    with pytest.raises(events.exceptions.ResourceAlreadyExistsException, match="Event bus orders already exists."):
        events.create_event_bus(Name="orders")
    listed = events.list_event_buses()["EventBuses"]
    assert [bus["Name"] for bus in listed] == ["default", "orders"]
    assert isinstance(listed[1]["CreationTime"], datetime)
    with pytest.raises(events.exceptions.ClientError, match="Cannot delete event bus default."):
        events.delete_event_bus(Name="default")
    events.delete_event_bus(Name="orders")
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_event_bus(Name="orders")


def test_an_archive_replays_into_its_bus(world: World) -> None:
    events = boto3.client("events")
    events.create_event_bus(Name="orders")
    bus_arn = world.bus("orders").arn
    archive_arn = events.create_archive(ArchiveName="all", EventSourceArn=bus_arn)["ArchiveArn"]
    start = world.clock.now()
    events.put_events(Entries=[_order(1), _order(2)])
    world.advance(minutes=1)
    url, arn = _queue("replayed")
    events.put_rule(Name="r", EventBusName="orders", EventPattern=json.dumps({"replay-name": ["again"]}))
    events.put_targets(Rule="r", EventBusName="orders", Targets=[{"Id": "q", "Arn": arn}])
    started = events.start_replay(ReplayName="again", EventSourceArn=archive_arn, EventStartTime=start,
                                  EventEndTime=world.clock.now(), Destination={"Arn": bus_arn})
    assert started["State"] in ("STARTING", "RUNNING")
    world.advance(minutes=1)
    assert events.describe_replay(ReplayName="again")["State"] == "COMPLETED"
    assert sorted(body["detail"]["total"] for body in world.received("replayed")) == [1, 2]
    assert events.describe_archive(ArchiveName="all")["EventCount"] == 2
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_replay(ReplayName="absent")


# -- sqs --------------------------------------------------------------------------------------
def test_a_queue_redrives_after_max_receives_on_virtual_time(world: World) -> None:
    sqs = boto3.client("sqs")
    _, dlq_arn = _queue("dlq")
    url, _ = _queue("work", VisibilityTimeout="30",
                    RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    sent = sqs.send_message(QueueUrl=url, MessageBody="job", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "a"}})
    assert sent["MD5OfMessageBody"] == __import__("hashlib").md5(b"job").hexdigest()
    for _ in range(2):
        [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                                        AttributeNames=["ApproximateReceiveCount"])["Messages"]
        assert message["MessageAttributes"] == {"kind": {"StringValue": "a", "DataType": "String"}}
        assert "Messages" not in sqs.receive_message(QueueUrl=url)  # in flight
        world.advance(seconds=30)
    assert message["Attributes"]["ApproximateReceiveCount"] == "2"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the third receive moved it
    assert world.received("dlq") == ["job"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
                        ["RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}


def test_queue_errors_are_sqs_errors(world: World) -> None:
    sqs = boto3.client("sqs")
    url, _ = _queue("q", VisibilityTimeout="10")
    assert sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "10"})["QueueUrl"] == url
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "20"})
    with pytest.raises(sqs.exceptions.ClientError, match="Dead letter target does not exist"):
        sqs.create_queue(QueueName="r", Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:absent", "maxReceiveCount": 1})})
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="nope")
    with pytest.raises(sqs.exceptions.ClientError, match="give it to CreateQueue"):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99"})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": "{}"})
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"] == {"Policy": "{}"}
    sqs.send_message(QueueUrl=url, MessageBody="x")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert world.received("q") == []
    assert sqs.list_queues(QueueNamePrefix="q")["QueueUrls"] == [url]


# -- lambda -----------------------------------------------------------------------------------
def test_create_function_imports_its_handler_and_invoke_runs_it(world: World) -> None:
    lam = boto3.client("lambda")
    made = lam.create_function(FunctionName="dumps", Runtime="python3.12", Role="arn:aws:iam::1:role/r",
                               Handler="json.dumps", Code={"ZipFile": b"zip"})
    assert (made["FunctionArn"], made["State"], made["CodeSize"]) == (
        "arn:aws:lambda:us-east-1:123456789012:function:dumps", "Active", 3)
    # json.dumps(event, context) fails: the context is not a valid 'skipkeys' ... so use a real handler
    answer = lam.invoke(FunctionName="dumps", Payload=b'{"a": 1}')
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read())["errorType"] == "TypeError"


def test_a_registered_handler_is_taken_by_create_function_and_invoke_types_behave(world: World) -> None:
    seen: list[Any] = []

    def save(event: Any, context: Any) -> Any:
        seen.append(event)
        return {"saved": event["id"]}

    world.register_function("save", save)
    lam = boto3.client("lambda")
    lam.create_function(FunctionName="save", Runtime="python3.12", Role="arn:aws:iam::1:role/r",
                        Handler="app.never_imported", Code={"ZipFile": b""})
    with pytest.raises(lam.exceptions.ResourceConflictException, match="Function already exist: save"):
        lam.create_function(FunctionName="save", Runtime="python3.12", Role="r", Handler="a.b", Code={"ZipFile": b""})
    answer = lam.invoke(FunctionName="save", Payload=io.BytesIO(b'{"id": 1}'))
    assert json.loads(answer["Payload"].read()) == {"saved": 1}
    queued = lam.invoke(FunctionName="save", InvocationType="Event", Payload='{"id": 2}')
    assert (queued["StatusCode"], queued["Payload"].read()) == (202, b"")
    assert lam.invoke(FunctionName="save", InvocationType="DryRun")["StatusCode"] == 204
    assert seen == [{"id": 1}, {"id": 2}]  # the Event one ran when the call settled
    with pytest.raises(lam.exceptions.ResourceNotFoundException,
                       match="Function not found: arn:aws:lambda:us-east-1:123456789012:function:absent"):
        lam.invoke(FunctionName="absent")
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="save", Payload=b"{not json")


def test_a_handler_that_cannot_be_imported_fails_at_invoke_as_lambda_says(world: World) -> None:
    lam = boto3.client("lambda")
    lam.create_function(FunctionName="broken", Runtime="python3.12", Role="r", Handler="no_such_module.handler",
                        Code={"ZipFile": b""})
    answer = lam.invoke(FunctionName="broken")
    error = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    assert "Unable to import module 'no_such_module'" in error["errorMessage"]


def test_event_invoke_config_drives_retries_and_the_failure_destination(world: World) -> None:
    def fails(event: Any, context: Any) -> Any:
        raise RuntimeError("down")

    world.register_function("fails", fails)
    _, failures = _queue("failures")
    lam = boto3.client("lambda")
    shown = lam.put_function_event_invoke_config(
        FunctionName="fails", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnFailure": {"Destination": failures}})
    assert (shown["MaximumRetryAttempts"], shown["DestinationConfig"]["OnFailure"]) == (1, {"Destination": failures})
    assert lam.get_function_event_invoke_config(FunctionName="fails")["MaximumEventAgeInSeconds"] == 600
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(FunctionName="fails", MaximumRetryAttempts=3)
    lam.invoke(FunctionName="fails", InvocationType="Event", Payload=b'{"n": 1}')
    world.advance(minutes=10)
    assert len(world.invocations("fails")) == 2  # one retry
    [record] = world.received("failures")
    assert (record["requestPayload"], record["requestContext"]["condition"]) == ({"n": 1}, "RetriesExhausted")


def test_an_sqs_event_source_mapping_runs_the_function_and_failed_messages_come_back(world: World) -> None:
    results: list[Any] = []

    def consume(event: Any, context: Any) -> Any:
        bodies = [record["body"] for record in event["Records"]]
        results.append(bodies)
        if "bad" in bodies:
            raise NonRetryableError("bad message")
        return None

    world.register_function("consume", consume)
    url, arn = _queue("in", VisibilityTimeout="60")
    lam = boto3.client("lambda")
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="consume", BatchSize=5)
    assert (mapping["State"], mapping["BatchSize"]) == ("Creating", 5)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="good")
    world.advance(seconds=1)
    assert results == [["good"]]
    assert world.received("in") == []  # deleted after success
    sqs.send_message(QueueUrl=url, MessageBody="bad")
    world.advance(seconds=1)
    assert world.received("in") == ["bad"]  # back after the visibility timeout
    world.advance(seconds=61)
    assert results[-1] == ["bad"] and len(results) >= 3
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_event_source_mapping(UUID=mapping["UUID"])


def test_permissions_are_kept_and_shown(world: World) -> None:
    world.register_function("f", lambda event, context: None)
    lam = boto3.client("lambda")
    lam.add_permission(FunctionName="f", StatementId="s", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn="arn:aws:events:us-east-1:123456789012:rule/r")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.add_permission(FunctionName="f", StatementId="s", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com")
    [statement] = json.loads(lam.get_policy(FunctionName="f")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    lam.remove_permission(FunctionName="f", StatementId="s")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName="f")


def test_an_event_loop_fails_the_call_instead_of_hanging(world: World) -> None:
    events = boto3.client("events")

    def echo(event: Any, context: Any) -> None:  # sends its rule the very events it matches
        events.put_events(Entries=[{"Source": "loop", "DetailType": "d", "Detail": "{}"}])

    world.register_function("echo", echo)
    world.max_callbacks_per_instant = 500
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["loop"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "e", "Arn": world.function("echo").arn}])
    with pytest.raises(TimeoutError, match=r"More than 5\d\d callbacks ran at 2024-01-01T00:00:00\+00:00 without "
                                           "time moving: the work does not settle"):
        events.put_events(Entries=[{"Source": "loop", "DetailType": "d", "Detail": "{}"}])
    assert 200 < len(world.invocations("echo")) < 1000


def test_many_events_put_before_settling_are_not_taken_for_a_loop() -> None:
    world = World()
    world.max_callbacks_per_instant = 50
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:q"
    from eventbus._aws import answer

    answer(world, "sqs", "CreateQueue", {"QueueName": "q"})
    answer(world, "events", "PutRule", {"Name": "r", "EventPattern": json.dumps({"source": ["bulk"]})})
    answer(world, "events", "PutTargets", {"Rule": "r", "Targets": [{"Id": "q", "Arn": queue_arn}]})
    for _ in range(100):
        world.bus().put_events([{"Source": "bulk", "DetailType": "d", "Detail": "{}"}] * 10)
    world.settle()  # 1,000 deliveries at one instant: allowed for by the work pending at the start
    assert len(world.queue("q")) == 1000


def test_function_names_take_every_form_lambda_takes(world: World) -> None:
    world.register_function("fn", lambda event, context: "ran")
    lam = boto3.client("lambda")
    for name in ("fn", "fn:$LATEST", "123456789012:function:fn", "arn:aws:lambda:us-east-1:123456789012:function:fn"):
        assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "ran", name
    assert json.loads(lam.invoke(FunctionName="fn", Qualifier="$LATEST")["Payload"].read()) == "ran"
    for name, qualifier in (("fn", "42"), ("arn:aws:lambda:us-east-1:999999999999:function:fn", None)):
        with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function not found"):
            lam.invoke(FunctionName=name, **({} if qualifier is None else {"Qualifier": qualifier}))
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.delete_function(FunctionName="fn", Qualifier="1")  # not the whole function
    assert lam.get_function(FunctionName="fn")["Configuration"]["FunctionName"] == "fn"


def test_a_handler_sees_its_environment_variables_while_it_runs(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE", raising=False)
    lam = boto3.client("lambda")
    lam.create_function(FunctionName="env", Runtime="python3.12", Role="r", Handler="os.getenv",
                        Code={"ZipFile": b""}, Environment={"Variables": {"TABLE": "orders"}})
    # os.getenv(event, context): the event is the variable's name, the context its default
    answer = lam.invoke(FunctionName="env", Payload=json.dumps("TABLE"))
    assert json.loads(answer["Payload"].read()) == "orders"
    assert "TABLE" not in os.environ  # put back afterwards
    name = lam.invoke(FunctionName="env", Payload=json.dumps("AWS_LAMBDA_FUNCTION_NAME"))
    assert json.loads(name["Payload"].read()) == "env"


def test_invoke_answers_lambdas_statuses_and_size_error(world: World) -> None:
    world.register_function("f", lambda event, context: None)
    lam = boto3.client("lambda")
    queued = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b"{}")
    assert queued["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(lam.exceptions.RequestTooLargeException) as caught:
        lam.invoke(FunctionName="f", InvocationType="Event", Payload=json.dumps("x" * 1_100_000))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as bad:
        lam.invoke(FunctionName="f", Payload=b"{nope")
    assert bad.value.response["Error"]["Message"].count("Could not parse") == 1


def test_an_event_source_mapping_is_updated_and_listed_by_source(world: World) -> None:
    batches: list[list[str]] = []
    world.register_function("consume", lambda event, context: batches.append([r["body"] for r in event["Records"]]))
    first_url, first = _queue("first")
    _, second = _queue("second")
    lam = boto3.client("lambda")
    mapping = lam.create_event_source_mapping(EventSourceArn=first, FunctionName="consume", BatchSize=1)
    lam.create_event_source_mapping(EventSourceArn=second, FunctionName="consume")
    assert [m["EventSourceArn"] for m in lam.list_event_source_mappings(EventSourceArn=first)
            ["EventSourceMappings"]] == [first]
    lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=5, MaximumBatchingWindowInSeconds=5,
                                    FilterCriteria={"Filters": [
        {"Pattern": json.dumps({"body": ["keep"]})}]})
    shown = lam.get_event_source_mapping(UUID=mapping["UUID"])
    assert (shown["BatchSize"], shown["State"], len(shown["FilterCriteria"]["Filters"])) == (5, "Enabled", 1)
    sqs = boto3.client("sqs")
    for body in ("keep", "drop", "keep"):
        sqs.send_message(QueueUrl=first_url, MessageBody=body)
    world.advance(seconds=6)
    assert batches == [["keep", "keep"]]  # one batch of up to 5 within the 5 s window, filtered
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=100, MaximumBatchingWindowInSeconds=0)


def test_list_operations_page_as_aws_pages(world: World) -> None:
    events = boto3.client("events")
    for number in range(5):
        events.put_rule(Name=f"rule-{number}", EventPattern=PATTERN)
    first = events.list_rules(Limit=2)
    assert [r["Name"] for r in first["Rules"]] == ["rule-0", "rule-1"] and first["NextToken"]
    assert "CreatedBy" not in first["Rules"][0]  # (ListRules's shape; DescribeRule's has it)
    pages = list(events.get_paginator("list_rules").paginate(PaginationConfig={"PageSize": 2}))
    assert [[r["Name"] for r in p["Rules"]] for p in pages] == [["rule-0", "rule-1"], ["rule-2", "rule-3"],
                                                                 ["rule-4"]]
    with pytest.raises(events.exceptions.ClientError, match="nextToken provided is invalid"):
        events.list_rules(NextToken="99")
    world.register_function("a", lambda event, context: None)
    world.register_function("b", lambda event, context: None)
    lam = boto3.client("lambda")
    listed = lam.list_functions(MaxItems=1)
    assert [f["FunctionName"] for f in listed["Functions"]] == ["a"] and listed["NextMarker"] == "1"


def test_create_event_bus_keeps_its_description_and_refuses_what_it_does_not_model(world: World) -> None:
    events = boto3.client("events")
    made = events.create_event_bus(Name="orders", Description="order events", Tags=[{"Key": "team", "Value": "x"}])
    assert made["Description"] == "order events"
    assert events.describe_event_bus(Name="orders")["Description"] == "order events"
    with pytest.raises(events.exceptions.ClientError, match="does not model CreateEventBus's DeadLetterConfig"):
        events.create_event_bus(Name="other", DeadLetterConfig={"Arn": "arn:aws:sqs:us-east-1:123456789012:q"})


def test_invoke_configs_are_updated_field_by_field_and_deleted(world: World) -> None:
    calls: list[Any] = []

    def fails(event: Any, context: Any) -> Any:
        calls.append(event)
        raise RuntimeError("down")

    world.register_function("fails", fails)
    lam = boto3.client("lambda")
    lam.put_function_event_invoke_config(FunctionName="fails", MaximumRetryAttempts=0)
    updated = lam.update_function_event_invoke_config(FunctionName="fails", MaximumEventAgeInSeconds=120)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 120)  # both kept
    lam.invoke(FunctionName="fails", InvocationType="Event", Payload=b"{}")
    world.advance(minutes=10)
    assert len(calls) == 1  # no retries
    lam.delete_function_event_invoke_config(FunctionName="fails")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="doesn't have an EventInvokeConfig"):
        lam.get_function_event_invoke_config(FunctionName="fails")
    lam.invoke(FunctionName="fails", InvocationType="Event", Payload=b"{}")
    world.advance(minutes=10)
    assert len(calls) == 4  # Lambda's default again: 2 retries


def test_a_deleted_queue_is_gone(world: World) -> None:
    sqs = boto3.client("sqs")
    url, _ = _queue("temporary")
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="temporary")
    assert "QueueUrls" not in sqs.list_queues()


def test_targets_built_from_aws_shapes_keep_every_setting(world: World) -> None:
    events = boto3.client("events")
    _, queue = _queue("inputs")
    events.put_rule(Name="r", EventPattern=PATTERN)
    events.put_targets(Rule="r", Targets=[
        {"Id": "constant", "Arn": queue, "Input": '{"fixed": true}'},
        {"Id": "path", "Arn": queue, "InputPath": "$.detail.id"},
        {"Id": "retries", "Arn": queue, "RetryPolicy": {"MaximumRetryAttempts": 3}}])
    events.put_events(Entries=[_order(4, bus="default")])
    assert sorted(map(json.dumps, world.received("inputs")))[:2] == ['"o-1"', '{"fixed": true}']
    [retrying] = [t for t in world.bus().list_targets_by_rule("r") if t.target_id == "retries"]
    policy = retrying.retry_policy
    assert (policy.maximum_retry_attempts, policy.maximum_event_age_in_seconds) == (3, 86400)  # the other: AWS's
    with pytest.raises(events.exceptions.ClientError, match="is not an SQS queue ARN"):
        events.put_targets(Rule="r", Targets=[{"Id": "x", "Arn": queue, "DeadLetterConfig": {
            "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}}])
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="r")["Targets"]] == ["constant", "path", "retries"]
