"""EventBridge Scheduler through boto3 under mock_aws: schedules fire on the world's clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import Queue, World

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed: pip install -e '.[dev,testing]' runs these tests")

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
OFF = {"Mode": "OFF"}
START = datetime(2024, 1, 1, tzinfo=UTC)  # the world's ManualClock starts here


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"



@pytest.fixture
def scheduler(world: World) -> Any:
    return boto3.client("scheduler", region_name=REGION)


@pytest.fixture
def sqs(world: World) -> Any:
    return boto3.client("sqs", region_name=REGION)


def recorder(world: World, name: str) -> list[tuple[datetime, Any]]:
    """Register the Lambda function ``name``; what it is invoked with, and when."""
    calls: list[tuple[datetime, Any]] = []
    world.register_function(name, lambda event, context: calls.append((world.clock.now(), event)))
    return calls


def messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return list(got.get("Messages", []))


def error_of(info: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    response = info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


# -- firing --------------------------------------------------------------------------------
def test_a_rate_schedule_invokes_its_function_with_the_input_at_creation_and_every_hour(
        world: World, scheduler: Any) -> None:
    calls = recorder(world, "f")
    arn = scheduler.create_schedule(
        Name="hourly", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
        Target={"Arn": function_arn("f"), "RoleArn": ROLE, "Input": json.dumps({"report": "sales"})})["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/hourly"
    assert calls == [(START, {"report": "sales"})]  # a rate without StartDate starts at once

    world.advance(hours=3)

    assert calls[1:] == [(START + timedelta(hours=hours), {"report": "sales"}) for hours in (1, 2, 3)]


def test_a_cron_schedule_fires_at_its_local_time_in_its_time_zone_across_a_dst_change(
        world: World, scheduler: Any) -> None:
    # America/New_York: EST (UTC-5) until 2024-03-10 02:00 local = 07:00 UTC, then EDT (UTC-4)
    calls = recorder(world, "f")
    scheduler.create_schedule(
        Name="nine", ScheduleExpression="cron(0 9 * * ? *)", ScheduleExpressionTimezone="America/New_York",
        StartDate=datetime(2024, 3, 9, tzinfo=UTC), FlexibleTimeWindow=OFF,
        Target={"Arn": function_arn("f"), "RoleArn": ROLE, "Input": '{"at": "<aws.scheduler.scheduled-time>"}'})

    world.advance(datetime(2024, 3, 12, tzinfo=UTC) - START)

    assert calls == [(datetime(2024, 3, 9, 14, tzinfo=UTC), {"at": "2024-03-09T14:00:00Z"}),
                     (datetime(2024, 3, 10, 13, tzinfo=UTC), {"at": "2024-03-10T13:00:00Z"}),
                     (datetime(2024, 3, 11, 13, tzinfo=UTC), {"at": "2024-03-11T13:00:00Z"})]


def test_a_one_time_schedule_with_delete_fires_once_then_is_gone(world: World, scheduler: Any) -> None:
    calls = recorder(world, "f")
    scheduler.create_schedule(
        Name="once", ScheduleExpression="at(2024-01-01T06:00:00)", FlexibleTimeWindow=OFF,
        ActionAfterCompletion="DELETE", Target={"Arn": function_arn("f"), "RoleArn": ROLE, "Input": '{"n": 1}'})

    world.advance(hours=5, minutes=59)
    assert calls == []
    assert scheduler.get_schedule(Name="once")["ActionAfterCompletion"] == "DELETE"

    world.advance(minutes=1)
    assert calls == [(START + timedelta(hours=6), {"n": 1})]
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException) as info:
        scheduler.get_schedule(Name="once")
    assert error_of(info) == ("ResourceNotFoundException", "Schedule once does not exist.", 404)
    assert scheduler.list_schedules()["Schedules"] == []

    world.advance(days=2)
    assert len(calls) == 1


def test_a_target_that_keeps_failing_is_retried_then_dead_lettered(world: World, scheduler: Any, sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    # a queue that is full refuses every message (a failure that is retried)
    world.add_queue(Queue("full", clock=world.clock, capacity=1, account=ACCOUNT, region=REGION), {})
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="full")["QueueUrl"], MessageBody="filler")
    scheduler.create_schedule(
        Name="once", ScheduleExpression="at(2024-01-01T00:30:00)", FlexibleTimeWindow=OFF,
        Target={"Arn": queue_arn("full"), "RoleArn": ROLE, "Input": "not JSON: a queue takes any text",
                "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": queue_arn("dlq")}})

    world.advance(minutes=35)

    [letter] = messages(sqs, dlq)
    assert letter["Body"] == "not JSON: a queue takes any text"
    attributes = {name: value["StringValue"] for name, value in letter["MessageAttributes"].items()}
    assert attributes["X-Amz-Scheduler-Attempt"] == "2"  # the first attempt and one retry
    assert attributes["X-Amz-Scheduler-Schedule"] == "once"
    assert attributes["X-Amz-Scheduler-Schedule-Arn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/once"
    assert attributes["TARGET_ARN"] == queue_arn("full")
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["ERROR_MESSAGE"] == "Queue full is full (1 messages)"


def test_a_target_function_that_does_not_exist_is_dead_lettered(world: World, scheduler: Any, sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    scheduler.create_schedule(
        Name="lost", ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
        Target={"Arn": function_arn("missing"), "RoleArn": ROLE, "Input": '{"k": 1}',
                "RetryPolicy": {"MaximumRetryAttempts": 1}, "DeadLetterConfig": {"Arn": queue_arn("dlq")}})

    world.advance(minutes=5)

    [letter] = messages(sqs, dlq)
    assert json.loads(letter["Body"]) == {"k": 1}
    assert letter["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"] == \
        f"Function not found: {function_arn('missing')}"


def test_a_function_created_after_its_schedule_is_found_when_the_schedule_fires(world: World, scheduler: Any) -> None:
    scheduler.create_schedule(Name="later", ScheduleExpression="at(2024-01-01T01:00:00)", FlexibleTimeWindow=OFF,
                              Target={"Arn": function_arn("late"), "RoleArn": ROLE, "Input": '{"x": 1}'})
    calls = recorder(world, "late")

    world.advance(hours=1)

    assert calls == [(START + timedelta(hours=1), {"x": 1})]


def test_a_schedule_on_an_event_bus_puts_a_scheduled_event_with_its_parameters(
        world: World, scheduler: Any, sqs: Any) -> None:
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="jobs")
    url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    events.put_rule(Name="nightly", EventBusName="jobs", EventPattern=json.dumps({"source": ["my.jobs"]}))
    events.put_targets(Rule="nightly", EventBusName="jobs", Targets=[{"Id": "q", "Arn": queue_arn("seen")}])
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/jobs"
    arn = scheduler.create_schedule(
        Name="nightly", ScheduleExpression="cron(0 2 * * ? *)", FlexibleTimeWindow=OFF,
        Target={"Arn": bus_arn, "RoleArn": ROLE, "Input": '{"job": "cleanup"}',
                "EventBridgeParameters": {"DetailType": "Job Due", "Source": "my.jobs"}})["ScheduleArn"]

    world.advance(hours=2)

    [message] = messages(sqs, url)
    event = json.loads(message["Body"])
    assert {key: event[key] for key in ("detail-type", "source", "account", "time", "region", "resources", "detail")} \
        == {"detail-type": "Job Due", "source": "my.jobs", "account": ACCOUNT, "time": "2024-01-01T02:00:00Z",
            "region": REGION, "resources": [arn], "detail": {"job": "cleanup"}}


def test_a_disabled_schedule_does_not_fire_until_it_is_enabled(world: World, scheduler: Any) -> None:
    calls = recorder(world, "f")
    target = {"Arn": function_arn("f"), "RoleArn": ROLE, "Input": '{"v": 1}'}
    scheduler.create_schedule(Name="paused", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                              State="DISABLED", Target=target)
    world.advance(hours=3)
    assert calls == []
    assert [s["State"] for s in scheduler.list_schedules()["Schedules"]] == ["DISABLED"]

    scheduler.update_schedule(Name="paused", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                              State="ENABLED", Target={**target, "Input": '{"v": 2}'})
    world.advance(hours=1)

    assert calls == [(START + timedelta(hours=3), {"v": 2}), (START + timedelta(hours=4), {"v": 2})]


# -- what the API shows ----------------------------------------------------------------------
def test_get_schedule_shows_the_request_back(world: World, scheduler: Any, sqs: Any) -> None:
    sqs.create_queue(QueueName="dlq")
    recorder(world, "f")
    start, end = datetime(2024, 2, 1, 8, 30, tzinfo=UTC), datetime(2024, 12, 31, tzinfo=UTC)
    target = {"Arn": function_arn("f"), "RoleArn": ROLE, "Input": '{"report": "weekly"}',
              "RetryPolicy": {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 3},
              "DeadLetterConfig": {"Arn": queue_arn("dlq")}}
    scheduler.create_schedule(
        Name="weekly", GroupName="default", ScheduleExpression="cron(30 8 ? * MON *)",
        ScheduleExpressionTimezone="Europe/Paris", StartDate=start, EndDate=end, Description="the weekly report",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, State="ENABLED",
        ActionAfterCompletion="NONE", KmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/k", Target=target)
    world.advance(minutes=5)

    got = scheduler.get_schedule(Name="weekly")
    del got["ResponseMetadata"]

    assert got == {
        "ActionAfterCompletion": "NONE", "Arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/weekly",
        "CreationDate": START, "Description": "the weekly report", "EndDate": end,
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, "GroupName": "default",
        "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k", "LastModificationDate": START, "Name": "weekly",
        "ScheduleExpression": "cron(30 8 ? * MON *)", "ScheduleExpressionTimezone": "Europe/Paris",
        "StartDate": start, "State": "ENABLED", "Target": target}


def test_get_schedule_shows_aws_defaults_for_what_the_request_left_out(world: World, scheduler: Any) -> None:
    recorder(world, "f")
    scheduler.create_schedule(Name="plain", ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow=OFF,
                              Target={"Arn": function_arn("f"), "RoleArn": ROLE})

    got = scheduler.get_schedule(Name="plain")

    assert (got["State"], got["ScheduleExpressionTimezone"], got["ActionAfterCompletion"], got["GroupName"]) == \
        ("ENABLED", "UTC", "NONE", "default")
    assert got["Target"] == {"Arn": function_arn("f"), "RoleArn": ROLE,
                             "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}}
    assert "StartDate" not in got and "Description" not in got


def test_update_schedule_replaces_the_settings_and_keeps_the_creation_date(world: World, scheduler: Any) -> None:
    old, new = recorder(world, "old"), recorder(world, "new")
    scheduler.create_schedule(Name="s", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                              Description="first", Target={"Arn": function_arn("old"), "RoleArn": ROLE})
    world.advance(minutes=30)

    arn = scheduler.update_schedule(Name="s", ScheduleExpression="rate(2 hours)", FlexibleTimeWindow=OFF,
                                    Target={"Arn": function_arn("new"), "RoleArn": f"{ROLE}-2", "Input": '{"n": 2}'})
    world.advance(hours=3)

    assert arn["ScheduleArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/s"
    assert [when for when, _ in old] == [START]
    assert [when for when, _ in new] == [START + timedelta(minutes=30), START + timedelta(hours=2, minutes=30)]
    got = scheduler.get_schedule(Name="s")
    assert (got["ScheduleExpression"], got["CreationDate"], got["LastModificationDate"]) == \
        ("rate(2 hours)", START, START + timedelta(minutes=30))
    assert "Description" not in got  # (what an update leaves out goes back to its default, as in AWS)
    assert (got["Target"]["Arn"], got["Target"]["RoleArn"]) == (function_arn("new"), f"{ROLE}-2")


def test_list_schedules_filters_by_group_prefix_and_state_in_the_summary_shape(world: World, scheduler: Any) -> None:
    recorder(world, "f")
    scheduler.create_schedule_group(Name="reports")
    target = {"Arn": function_arn("f"), "RoleArn": ROLE}
    for name, group, state in [("daily-a", "default", "ENABLED"), ("daily-b", "reports", "DISABLED"),
                               ("weekly", "reports", "ENABLED")]:
        scheduler.create_schedule(Name=name, GroupName=group, ScheduleExpression="rate(1 day)",
                                  FlexibleTimeWindow=OFF, State=state, Target=target)

    def names(**filters: Any) -> list[str]:
        return [s["Name"] for s in scheduler.list_schedules(**filters)["Schedules"]]

    assert names() == ["daily-a", "daily-b", "weekly"]
    assert names(GroupName="reports") == ["daily-b", "weekly"]
    assert names(NamePrefix="daily") == ["daily-a", "daily-b"]
    assert names(State="ENABLED") == ["daily-a", "weekly"]
    assert names(GroupName="reports", State="DISABLED") == ["daily-b"]
    assert scheduler.list_schedules(GroupName="reports", NamePrefix="weekly")["Schedules"] == [{
        "Arn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/reports/weekly", "CreationDate": START,
        "GroupName": "reports", "LastModificationDate": START, "Name": "weekly", "State": "ENABLED",
        "Target": {"Arn": function_arn("f")}}]
    pages = boto3.client("scheduler", region_name=REGION).get_paginator("list_schedules")
    assert [[s["Name"] for s in page["Schedules"]] for page in pages.paginate(PaginationConfig={"PageSize": 2})] \
        == [["daily-a", "daily-b"], ["weekly"]]


def test_delete_schedule_stops_its_fires(world: World, scheduler: Any) -> None:
    calls = recorder(world, "f")
    scheduler.create_schedule(Name="s", ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF,
                              Target={"Arn": function_arn("f"), "RoleArn": ROLE})
    world.advance(hours=1)
    scheduler.delete_schedule(Name="s")
    world.advance(hours=5)

    assert len(calls) == 2
    assert scheduler.list_schedules()["Schedules"] == []


# -- groups ----------------------------------------------------------------------------------
def test_schedule_groups_are_created_shown_listed_and_deleted_with_their_schedules(
        world: World, scheduler: Any) -> None:
    calls = recorder(world, "f")
    arn = scheduler.create_schedule_group(Name="team-a", Tags=[{"Key": "team", "Value": "a"}])["ScheduleGroupArn"]
    scheduler.create_schedule_group(Name="team-b")
    scheduler.create_schedule(Name="s", GroupName="team-a", ScheduleExpression="rate(1 hour)",
                              FlexibleTimeWindow=OFF, Target={"Arn": function_arn("f"), "RoleArn": ROLE})

    group = scheduler.get_schedule_group(Name="team-a")
    del group["ResponseMetadata"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/team-a"
    assert group == {"Arn": arn, "CreationDate": START, "LastModificationDate": START, "Name": "team-a",
                     "State": "ACTIVE"}
    assert [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]] == ["default", "team-a", "team-b"]
    assert [g["Name"] for g in scheduler.list_schedule_groups(NamePrefix="team")["ScheduleGroups"]] == \
        ["team-a", "team-b"]

    scheduler.delete_schedule_group(Name="team-a")
    world.advance(hours=3)

    assert len(calls) == 1  # (the fire at creation only)
    assert [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]] == ["default", "team-b"]
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException) as info:
        scheduler.get_schedule(Name="s", GroupName="team-a")
    assert error_of(info) == ("ResourceNotFoundException", "Schedule group team-a does not exist.", 404)


def test_the_default_group_cannot_be_deleted(scheduler: Any) -> None:
    with pytest.raises(scheduler.exceptions.ValidationException) as info:
        scheduler.delete_schedule_group(Name="default")
    assert error_of(info) == ("ValidationException", "The default schedule group cannot be deleted.", 400)


def test_a_group_name_taken_is_a_conflict(scheduler: Any) -> None:
    scheduler.create_schedule_group(Name="g")
    with pytest.raises(scheduler.exceptions.ConflictException) as info:
        scheduler.create_schedule_group(Name="g")
    assert error_of(info) == ("ConflictException", "Schedule group g already exists.", 409)


# -- errors ----------------------------------------------------------------------------------
def test_a_schedule_name_taken_is_a_conflict(world: World, scheduler: Any) -> None:
    recorder(world, "f")
    request = {"Name": "dup", "ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF,
               "Target": {"Arn": function_arn("f"), "RoleArn": ROLE}}
    scheduler.create_schedule(**request)
    with pytest.raises(scheduler.exceptions.ConflictException) as info:
        scheduler.create_schedule(**{**request, "ScheduleExpression": "not even valid"})
    assert error_of(info) == ("ConflictException", "Schedule dup already exists.", 409)


def test_unknown_schedules_and_groups_are_not_found(scheduler: Any) -> None:
    target = {"Arn": function_arn("f"), "RoleArn": ROLE}
    missing_schedule, missing_group = "Schedule nope does not exist.", "Schedule group nope does not exist."
    update = {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF, "Target": target}
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (scheduler.get_schedule, {"Name": "nope"}, missing_schedule),
        (scheduler.delete_schedule, {"Name": "nope"}, missing_schedule),
        (scheduler.update_schedule, {"Name": "nope", **update}, missing_schedule),
        (scheduler.get_schedule, {"Name": "s", "GroupName": "nope"}, missing_group),
        (scheduler.create_schedule, {"Name": "s", "GroupName": "nope", **update}, missing_group),
        (scheduler.list_schedules, {"GroupName": "nope"}, missing_group),
        (scheduler.get_schedule_group, {"Name": "nope"}, missing_group),
        (scheduler.delete_schedule_group, {"Name": "nope"}, missing_group)]
    for call, arguments, text in cases:
        with pytest.raises(scheduler.exceptions.ResourceNotFoundException) as info:
            call(**arguments)
        assert error_of(info) == ("ResourceNotFoundException", text, 404)


@pytest.mark.parametrize(("change", "text"), [
    ({"ScheduleExpression": "rate(1 hours)"}, "Invalid Schedule Expression rate(1 hours)."),
    ({"ScheduleExpression": "cron(0 1 * * * *)"}, "Invalid Schedule Expression cron(0 1 * * * *)."),
    ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}},
     "MaximumWindowInMinutes is required when the FlexibleTimeWindow Mode is FLEXIBLE."),
    ({"StartDate": datetime(2024, 2, 1, tzinfo=UTC), "EndDate": datetime(2024, 1, 15, tzinfo=UTC)},
     "The EndDate must be after the StartDate."),
    ({"Target": {"Arn": function_arn("f"), "RoleArn": ROLE, "DeadLetterConfig": {"Arn": function_arn("f")}}},
     f"The dead-letter queue {function_arn('f')} is not an SQS queue ARN."),
    ({"Target": {"Arn": function_arn("f"), "RoleArn": ROLE, "Input": "{not json"}},
     "The Input of target s must be well-formed JSON for this target (a queue takes any text): {not json"),
    ({"Target": {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/nope", "RoleArn": ROLE}},
     f"The event bus arn:aws:events:{REGION}:{ACCOUNT}:event-bus/nope does not exist: eventbus needs a schedule's "
     "target bus to exist when the schedule is created (create the bus first)"),
    ({"Target": {"Arn": queue_arn("q"), "RoleArn": ROLE, "SqsParameters": {"MessageGroupId": "g"}}},
     "eventbus does not model Target.SqsParameters: its schedules deliver to Lambda functions, standard SQS "
     "queues and event buses"),
], ids=["rate-plural", "cron-both-days", "flexible-without-window", "end-before-start", "dlq-not-sqs",
        "input-not-json", "bus-missing", "sqs-parameters"])
def test_invalid_requests_are_refused_with_aws_texts(scheduler: Any, change: dict[str, Any], text: str) -> None:
    request = {"Name": "s", "ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF,
               "Target": {"Arn": function_arn("f"), "RoleArn": ROLE}, **change}
    with pytest.raises(scheduler.exceptions.ValidationException) as info:
        scheduler.create_schedule(**request)
    assert error_of(info) == ("ValidationException", text, 400)
    assert scheduler.list_schedules()["Schedules"] == []


def test_schedule_group_tags_are_kept_changed_and_listed(world: World, scheduler: Any) -> None:
    arn = scheduler.create_schedule_group(Name="reports", Tags=[{"Key": "team", "Value": "ops"}])["ScheduleGroupArn"]
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "cost", "Value": "7"}])
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "cost", "Value": "7"}]
    scheduler.delete_schedule_group(Name="reports")
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.list_tags_for_resource(ResourceArn=arn)
