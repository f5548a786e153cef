"""eventbus.samples: AWS service events in their documented shapes."""

from __future__ import annotations

import base64
import gzip
import inspect
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote_plus

import pytest

import eventbus
from eventbus import EventBus, Function, ManualClock, Target, ValidationError, samples, test_event_pattern

Builder = Callable[..., dict[str, Any]]

EVENTBRIDGE_BUILDERS: list[Builder] = [
    samples.s3_object_created, samples.s3_object_deleted, samples.ec2_instance_state_change,
    samples.scheduled_event, samples.codecommit_repository_state_change,
    samples.cloudformation_stack_status_change,
]
LAMBDA_BUILDERS: list[Builder] = [
    samples.s3_notification, samples.sns_notification, samples.ses_receipt, samples.cloudwatch_logs_subscription,
    samples.codecommit_trigger, samples.cloudformation_custom_resource,
]
ALL_BUILDERS = EVENTBRIDGE_BUILDERS + LAMBDA_BUILDERS
ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/nightly"
REPO_ARN = "arn:aws:codecommit:us-east-1:123456789012:MyTestRepo"

# (builder, arguments, an event pattern from the AWS documentation, arguments that must not match it)
DOCUMENTED_PATTERNS: list[tuple[Builder, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (samples.s3_object_created, {"bucket": "my-bucket"},
     {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": ["my-bucket"]}}},
     {"bucket": "other-bucket"}),
    (samples.s3_object_deleted, {"bucket": "my-bucket"},
     {"source": ["aws.s3"], "detail-type": ["Object Deleted"], "detail": {"bucket": {"name": ["my-bucket"]},
                                                                         "reason": ["DeleteObject"]}},
     {"bucket": "my-bucket", "reason": "Lifecycle Expiration"}),
    (samples.ec2_instance_state_change, {"state": "running"},
     {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"],
      "detail": {"state": ["running"]}},
     {"state": "stopped"}),
    (samples.scheduled_event, {"rule_name": "nightly"},
     {"source": ["aws.events"], "detail-type": ["Scheduled Event"], "resources": [RULE_ARN]},
     {"rule_name": "hourly"}),
    (samples.codecommit_repository_state_change, {"repository_name": "MyTestRepo", "reference_name": "main"},
     {"source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"], "resources": [REPO_ARN],
      "detail": {"event": ["referenceCreated", "referenceUpdated"], "referenceType": ["branch"],
                 "referenceName": ["main"]}},
     {"repository_name": "MyTestRepo", "reference_name": "feature"}),
    (samples.cloudformation_stack_status_change, {"status": "CREATE_COMPLETE"},
     {"source": ["aws.cloudformation"], "detail-type": ["CloudFormation Stack Status Change"],
      "detail": {"status-details": {"status": ["CREATE_COMPLETE"]}}},
     {"status": "ROLLBACK_COMPLETE"}),
]
PATTERN_IDS = [case[0].__name__ for case in DOCUMENTED_PATTERNS]


# -- EventBridge events ------------------------------------------------------------------


@pytest.mark.parametrize(("builder", "arguments", "pattern", "other"), DOCUMENTED_PATTERNS, ids=PATTERN_IDS)
def test_each_eventbridge_sample_matches_the_pattern_aws_documents_for_it(
        builder: Builder, arguments: dict[str, Any], pattern: dict[str, Any], other: dict[str, Any]) -> None:
    event = builder(clock=ManualClock(), **arguments)
    assert test_event_pattern(json.dumps(event), json.dumps(pattern)) is True


@pytest.mark.parametrize(("builder", "arguments", "pattern", "other"), DOCUMENTED_PATTERNS, ids=PATTERN_IDS)
def test_each_eventbridge_sample_misses_that_pattern_when_the_matched_value_differs(
        builder: Builder, arguments: dict[str, Any], pattern: dict[str, Any], other: dict[str, Any]) -> None:
    event = builder(clock=ManualClock(), **other)
    assert test_event_pattern(json.dumps(event), json.dumps(pattern)) is False


@pytest.mark.parametrize(("builder", "arguments", "pattern", "other"), DOCUMENTED_PATTERNS, ids=PATTERN_IDS)
def test_each_eventbridge_sample_is_routed_unchanged_to_the_target_of_a_matching_rule(
        builder: Builder, arguments: dict[str, Any], pattern: dict[str, Any], other: dict[str, Any]) -> None:
    clock = ManualClock()
    bus = EventBus(clock=clock)
    bus.put_rule("r", event_pattern=pattern)
    got: list[Any] = []
    bus.put_targets("r", [Target(got.append)])
    event = builder(bus=bus, **arguments)
    bus.deliver(builder(bus=bus, **other))  # matches no rule: must not arrive
    bus.deliver(event)
    clock.run_until_idle()
    assert got == [event]


@pytest.mark.parametrize("builder", EVENTBRIDGE_BUILDERS)
def test_eventbridge_samples_carry_the_whole_envelope(builder: Builder) -> None:
    event = builder(clock=ManualClock())
    assert set(event) == ENVELOPE
    assert event["version"] == "0"
    assert event["source"].startswith("aws.")
    assert isinstance(event["detail"], dict)
    assert len(event["resources"]) == 1
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event["id"])


@pytest.mark.parametrize("builder", EVENTBRIDGE_BUILDERS)
def test_account_region_and_time_come_from_the_bus(builder: Builder) -> None:
    clock = ManualClock(datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC))
    bus = EventBus(clock=clock, account="111122223333", region="eu-west-1")
    event = builder(bus=bus)
    assert (event["account"], event["region"], event["time"]) == ("111122223333", "eu-west-1",
                                                                  "2025-03-04T05:06:07Z")


@pytest.mark.parametrize("builder", EVENTBRIDGE_BUILDERS)
def test_account_region_time_and_id_can_be_overridden(builder: Builder) -> None:
    bus = EventBus(clock=ManualClock(), account="111122223333", region="eu-west-1")
    event = builder(bus=bus, account="444455556666", region="ap-south-1", id="my-id",
                    time=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert (event["account"], event["region"], event["time"], event["id"]) == (
        "444455556666", "ap-south-1", "2030-01-02T03:04:05Z", "my-id")


def test_a_clock_given_with_a_bus_takes_precedence_over_the_bus_clock() -> None:
    bus = EventBus(clock=ManualClock())
    event = samples.scheduled_event(bus=bus, clock=ManualClock(datetime(2031, 5, 6, tzinfo=UTC)))
    assert event["time"] == "2031-05-06T00:00:00Z"


def test_without_a_bus_the_ambient_clock_and_the_default_account_and_region_apply() -> None:
    with eventbus.use_clock(ManualClock(datetime(2026, 7, 8, 9, 10, 11, tzinfo=UTC))):
        event = samples.ec2_instance_state_change()
    assert (event["account"], event["region"], event["time"]) == ("123456789012", "us-east-1",
                                                                  "2026-07-08T09:10:11Z")


def test_a_time_in_another_zone_is_converted_to_utc_and_a_naive_one_taken_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = samples.scheduled_event(clock=ManualClock(), time=datetime(2024, 6, 1, 12, 0, tzinfo=plus_two))
    naive = samples.scheduled_event(clock=ManualClock(), time=datetime(2024, 6, 1, 12, 0))
    assert (aware["time"], naive["time"]) == ("2024-06-01T10:00:00Z", "2024-06-01T12:00:00Z")


def test_resource_arns_are_built_from_the_account_and_region() -> None:
    where: dict[str, Any] = {"clock": ManualClock(), "account": "111122223333", "region": "eu-west-1"}
    ec2 = samples.ec2_instance_state_change(instance_id="i-1234567890abcdef0", **where)
    assert ec2["resources"] == ["arn:aws:ec2:eu-west-1:111122223333:instance/i-1234567890abcdef0"]
    assert ec2["detail"] == {"instance-id": "i-1234567890abcdef0", "state": "running"}
    assert samples.scheduled_event(rule_name="nightly", **where)["resources"] == [
        "arn:aws:events:eu-west-1:111122223333:rule/nightly"]
    assert samples.scheduled_event(rule_arn="arn:aws:events:us-west-2:210987654321:rule/x",
                                   **where)["resources"] == ["arn:aws:events:us-west-2:210987654321:rule/x"]
    repo = samples.codecommit_repository_state_change(repository_name="Repo", **where)
    assert repo["resources"] == ["arn:aws:codecommit:eu-west-1:111122223333:Repo"]
    stack = samples.cloudformation_stack_status_change(stack_name="web", **where)
    assert stack["resources"] == [stack["detail"]["stack-id"]]
    assert stack["detail"]["stack-id"].startswith("arn:aws:cloudformation:eu-west-1:111122223333:stack/web/")
    assert samples.s3_object_created(bucket="logs", **where)["resources"] == ["arn:aws:s3:::logs"]


def test_a_scheduled_event_has_an_empty_detail() -> None:
    event = samples.scheduled_event(clock=ManualClock())
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})


def test_s3_object_created_describes_the_object_and_the_request() -> None:
    event = samples.s3_object_created(clock=ManualClock(), bucket="b-1", key="dir/a b.txt", size=5,
                                      etag="b1946ac92492d2347c6235b4d2611184", version_id="v1", sequencer="617F",
                                      reason="CopyObject", request_id="REQ", requester="s3.amazonaws.com",
                                      source_ip="198.51.100.7")
    assert event["detail"] == {
        "version": "0",
        "bucket": {"name": "b-1"},
        "object": {"key": "dir/a b.txt", "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184",
                   "version-id": "v1", "sequencer": "617F"},
        "request-id": "REQ", "requester": "s3.amazonaws.com", "source-ip-address": "198.51.100.7",
        "reason": "CopyObject",
    }
    assert event["detail-type"] == "Object Created"


def test_s3_samples_have_a_version_id_only_for_versioned_objects_and_the_requester_defaults_to_the_account() -> None:
    event = samples.s3_object_created(clock=ManualClock(), account="111122223333")
    assert "version-id" not in event["detail"]["object"]
    assert event["detail"]["requester"] == "111122223333"
    assert re.fullmatch(r"[0-9a-f]{32}", event["detail"]["object"]["etag"])


def test_s3_object_deleted_has_no_size_and_names_the_deletion_type() -> None:
    event = samples.s3_object_deleted(clock=ManualClock(), deletion_type="Delete Marker Created", version_id="m1")
    assert "size" not in event["detail"]["object"]
    assert event["detail"]["object"]["version-id"] == "m1"
    assert (event["detail"]["reason"], event["detail"]["deletion-type"]) == ("DeleteObject",
                                                                              "Delete Marker Created")


def test_codecommit_events_carry_the_commit_ids_that_fit_the_change() -> None:
    clock = ManualClock()
    created = samples.codecommit_repository_state_change(clock=clock, event="referenceCreated", commit_id="c1")
    updated = samples.codecommit_repository_state_change(clock=clock, commit_id="c2", old_commit_id="c1")
    deleted = samples.codecommit_repository_state_change(clock=clock, event="referenceDeleted", old_commit_id="c2")
    assert (created["detail"]["commitId"], "oldCommitId" in created["detail"]) == ("c1", False)
    assert (updated["detail"]["commitId"], updated["detail"]["oldCommitId"]) == ("c2", "c1")
    assert (deleted["detail"]["oldCommitId"], "commitId" in deleted["detail"]) == ("c2", False)


def test_codecommit_reference_full_names_follow_the_reference_type() -> None:
    clock = ManualClock()
    branch = samples.codecommit_repository_state_change(clock=clock, reference_name="dev")
    tag = samples.codecommit_repository_state_change(clock=clock, reference_type="tag", reference_name="v1.0")
    assert branch["detail"]["referenceFullName"] == "refs/heads/dev"
    assert tag["detail"]["referenceFullName"] == "refs/tags/v1.0"
    assert branch["detail"]["callerUserArn"] == "arn:aws:iam::123456789012:user/sample-user"


def test_codecommit_refuses_commit_ids_that_do_not_fit_the_change() -> None:
    with pytest.raises(ValidationError, match="old_commit_id does not apply to a referenceCreated"):
        samples.codecommit_repository_state_change(clock=ManualClock(), event="referenceCreated",
                                                   old_commit_id="x")
    with pytest.raises(ValidationError, match="commit_id does not apply to a referenceDeleted"):
        samples.codecommit_repository_state_change(clock=ManualClock(), event="referenceDeleted", commit_id="x")


def test_cloudformation_stack_status_change_carries_the_status_details() -> None:
    event = samples.cloudformation_stack_status_change(
        clock=ManualClock(), stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        status="UPDATE_ROLLBACK_COMPLETE", status_reason="Resource failed", client_request_token="tok")
    assert event["detail"] == {"stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
                               "status-details": {"status": "UPDATE_ROLLBACK_COMPLETE",
                                                  "status-reason": "Resource failed"},
                               "client-request-token": "tok"}


# -- ids: different each call, repeatable under a ManualClock ---------------------------------


@pytest.mark.parametrize("builder", ALL_BUILDERS)
def test_two_calls_give_different_samples(builder: Builder) -> None:
    clock = ManualClock()
    assert builder(clock=clock) != builder(clock=clock)


@pytest.mark.parametrize("builder", ALL_BUILDERS)
def test_fresh_manual_clocks_give_identical_samples(builder: Builder) -> None:
    assert builder(clock=ManualClock()) == builder(clock=ManualClock())


@pytest.mark.parametrize("builder", EVENTBRIDGE_BUILDERS)
def test_two_eventbridge_samples_have_different_ids_but_repeat_under_a_fresh_clock(builder: Builder) -> None:
    clock = ManualClock()
    first, second = builder(clock=clock)["id"], builder(clock=clock)["id"]
    assert first != second
    assert builder(clock=ManualClock())["id"] == first


def test_a_different_seed_gives_different_ids() -> None:
    assert (samples.scheduled_event(clock=ManualClock(seed=1))["id"]
            != samples.scheduled_event(clock=ManualClock(seed=2))["id"])


# -- Lambda payloads ---------------------------------------------------------------------


def _read_s3(event: Any) -> Any:
    record = event["Records"][0]
    return record["eventSource"], record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])


def _read_sns(event: Any) -> Any:
    sns = event["Records"][0]["Sns"]
    return sns["Subject"], sns["Message"], sns["MessageAttributes"]["color"]["Value"]


def _read_ses(event: Any) -> Any:
    ses = event["Records"][0]["ses"]
    return ses["mail"]["commonHeaders"]["subject"], ses["receipt"]["recipients"], ses["receipt"]["spamVerdict"]


def _read_logs(event: Any) -> Any:
    return [log["message"] for log in samples.decode_cloudwatch_logs(event)["logEvents"]]


def _read_trigger(event: Any) -> Any:
    record = event["Records"][0]
    return record["eventName"], record["codecommit"]["references"][0]["ref"]


def _read_custom_resource(event: Any) -> Any:
    return event["RequestType"], event["LogicalResourceId"], event["ResourceProperties"]["Size"]


LAMBDA_CASES: list[tuple[Builder, dict[str, Any], Callable[[Any], Any], Any]] = [
    (samples.s3_notification, {"bucket": "photos", "key": "2024/red flower.jpg"}, _read_s3,
     ("aws:s3", "photos", "2024/red flower.jpg")),
    (samples.sns_notification, {"message": '{"order": 7}', "subject": "Orders", "message_attributes": {"color": "red"}},
     _read_sns, ("Orders", '{"order": 7}', "red")),
    (samples.ses_receipt, {"subject": "Invoice", "recipients": ["a@example.com", "b@example.com"]}, _read_ses,
     ("Invoice", ["a@example.com", "b@example.com"], {"status": "PASS"})),
    (samples.cloudwatch_logs_subscription, {"log_events": ["START", "ERROR boom", "END"]}, _read_logs,
     ["START", "ERROR boom", "END"]),
    (samples.codecommit_trigger, {"ref": "refs/heads/release", "event_name": "TriggerEventTest"}, _read_trigger,
     ("TriggerEventTest", "refs/heads/release")),
    (samples.cloudformation_custom_resource, {"logical_resource_id": "Db", "resource_properties": {"Size": "10"}},
     _read_custom_resource, ("Create", "Db", "10")),
]


@pytest.mark.parametrize(("builder", "arguments", "read", "expected"), LAMBDA_CASES,
                         ids=[case[0].__name__ for case in LAMBDA_CASES])
def test_a_function_invoked_asynchronously_with_each_payload_can_read_it(
        builder: Builder, arguments: dict[str, Any], read: Callable[[Any], Any], expected: Any) -> None:
    clock = ManualClock()
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> None:
        seen.append(read(event))

    fn = Function(handler, clock=clock)
    payload = builder(clock=clock, **arguments)
    assert fn.invoke(payload, "Event")["StatusCode"] == 202
    assert seen == []  # queued: the clock runs it
    clock.run_until_idle()
    assert seen == [expected]


@pytest.mark.parametrize("builder", LAMBDA_BUILDERS)
def test_lambda_payloads_are_plain_json_and_not_eventbridge_envelopes(builder: Builder) -> None:
    payload = builder(clock=ManualClock())
    assert json.loads(json.dumps(payload)) == payload
    assert "detail-type" not in payload and "detail" not in payload


def test_s3_notification_has_the_documented_record_shape() -> None:
    clock = ManualClock(datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    record = samples.s3_notification(clock=clock, region="eu-central-1", bucket="photos", key="a=b c.jpg", size=5,
                                     etag="e", sequencer="S", id="REQ1")["Records"][0]
    assert (record["eventVersion"], record["eventSource"], record["awsRegion"]) == ("2.1", "aws:s3", "eu-central-1")
    assert (record["eventTime"], record["eventName"]) == ("2024-05-06T07:08:09.123Z", "ObjectCreated:Put")
    assert record["responseElements"]["x-amz-request-id"] == "REQ1"
    assert set(record) == {"eventVersion", "eventSource", "awsRegion", "eventTime", "eventName", "userIdentity",
                           "requestParameters", "responseElements", "s3"}
    assert record["s3"]["s3SchemaVersion"] == "1.0"
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::photos"
    assert record["s3"]["object"] == {"key": "a%3Db+c.jpg", "size": 5, "eTag": "e", "sequencer": "S"}


def test_s3_notification_owner_ids_belong_to_the_account() -> None:
    def owner(account: str) -> Any:
        record = samples.s3_notification(clock=ManualClock(seed=None), account=account)["Records"][0]
        return record["s3"]["bucket"]["ownerIdentity"], record["userIdentity"]

    assert owner("111122223333") == owner("111122223333")
    assert owner("111122223333") != owner("444455556666")


def test_s3_removal_notifications_carry_no_size_or_etag() -> None:
    record = samples.s3_notification(clock=ManualClock(), event_name="ObjectRemoved:Delete",
                                     version_id="v9")["Records"][0]
    assert set(record["s3"]["object"]) == {"key", "versionId", "sequencer"}
    assert record["eventName"] == "ObjectRemoved:Delete"


def test_sns_notification_has_the_documented_shape() -> None:
    payload = samples.sns_notification(clock=ManualClock(), account="111122223333", region="us-east-2",
                                       topic_name="orders", id="mid")
    record = payload["Records"][0]
    sns = record["Sns"]
    assert (record["EventSource"], record["EventVersion"]) == ("aws:sns", "1.0")
    assert record["EventSubscriptionArn"].startswith("arn:aws:sns:us-east-2:111122223333:orders:")
    assert (sns["Type"], sns["MessageId"], sns["TopicArn"]) == ("Notification", "mid",
                                                                "arn:aws:sns:us-east-2:111122223333:orders")
    assert (sns["Subject"], sns["Timestamp"], sns["SignatureVersion"]) == (None, "2024-01-01T00:00:00.000Z", "1")
    assert sns["UnsubscribeUrl"].endswith(f"SubscriptionArn={record['EventSubscriptionArn']}")
    assert re.fullmatch(r"https://sns\.us-east-2\.amazonaws\.com/SimpleNotificationService-[0-9a-f]{32}\.pem",
                        sns["SigningCertUrl"])
    assert len(base64.b64decode(sns["Signature"])) == 256


def test_sns_message_attributes_take_the_type_of_their_value() -> None:
    sns = samples.sns_notification(clock=ManualClock(), message_attributes={
        "s": "x", "n": 3, "f": 1.5, "b": b"\x00\x01"})["Records"][0]["Sns"]
    assert sns["MessageAttributes"] == {"s": {"Type": "String", "Value": "x"}, "n": {"Type": "Number", "Value": "3"},
                                        "f": {"Type": "Number", "Value": "1.5"},
                                        "b": {"Type": "Binary", "Value": "AAE="}}
    with pytest.raises(ValidationError, match=r"Invalid type for parameter message_attributes\['flag'\]"):
        samples.sns_notification(clock=ManualClock(), message_attributes={"flag": True})


def test_ses_receipt_names_the_function_and_the_verdicts() -> None:
    record = samples.ses_receipt(clock=ManualClock(), function_name="mailer", spam="FAIL", dkim="GRAY",
                                 id="msg-1")["Records"][0]
    receipt, mail = record["ses"]["receipt"], record["ses"]["mail"]
    assert (record["eventSource"], record["eventVersion"]) == ("aws:ses", "1.0")
    assert receipt["action"] == {"type": "Lambda", "invocationType": "Event",
                                 "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:mailer"}
    assert (receipt["spamVerdict"], receipt["dkimVerdict"], receipt["virusVerdict"]) == (
        {"status": "FAIL"}, {"status": "GRAY"}, {"status": "PASS"})
    assert (mail["messageId"], mail["timestamp"], mail["headersTruncated"]) == ("msg-1", "2024-01-01T00:00:00.000Z",
                                                                                False)
    headers = {header["name"]: header["value"] for header in mail["headers"]}
    assert headers["Date"] == mail["commonHeaders"]["date"] == "Mon, 01 Jan 2024 00:00:00 +0000"
    assert headers["Subject"] == mail["commonHeaders"]["subject"]


def test_cloudwatch_logs_data_is_base64_gzipped_json_with_the_documented_fields() -> None:
    clock = ManualClock(datetime(2024, 3, 13, 23, 5, 48, 220000, tzinfo=UTC))
    payload = samples.cloudwatch_logs_subscription(clock=clock, account="111122223333", log_group="/app",
                                                   log_stream="s1", subscription_filters=["f1"], id="42",
                                                   log_events=["a", {"message": "b", "timestamp": 5, "id": "7"}])
    assert set(payload) == {"awslogs"} and set(payload["awslogs"]) == {"data"}
    document = json.loads(gzip.decompress(base64.b64decode(payload["awslogs"]["data"])))
    assert document == {"messageType": "DATA_MESSAGE", "owner": "111122223333", "logGroup": "/app",
                        "logStream": "s1", "subscriptionFilters": ["f1"],
                        "logEvents": [{"id": "42", "timestamp": 1710371148220, "message": "a"},
                                      {"id": "7", "timestamp": 5, "message": "b"}]}
    assert samples.decode_cloudwatch_logs(payload) == document
    assert samples.decode_cloudwatch_logs(payload["awslogs"]["data"]) == document


def test_cloudwatch_log_event_ids_and_the_default_stream_look_like_aws_ones() -> None:
    document = samples.decode_cloudwatch_logs(samples.cloudwatch_logs_subscription(clock=ManualClock()))
    assert re.fullmatch(r"\d{56}", document["logEvents"][0]["id"])
    assert re.fullmatch(r"2024/01/01/\[\$LATEST\][0-9a-f]{32}", document["logStream"])


@pytest.mark.parametrize(("log_events", "message"), [
    ([], "Member must have length greater than or equal to 1"),
    ("one message", "Invalid type for parameter log_events"),
    ([3], r"Invalid type for parameter log_events\[0\]"),
    ([{"text": "x"}], r"log_events\[0\] has unknown keys \['text'\]"),
    ([{"timestamp": 1}], r"log_events\[0\] has no message"),
    ([{"message": "x", "timestamp": -1}], "greater than or equal to 0"),
])
def test_cloudwatch_logs_subscription_refuses_bad_log_events(log_events: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        samples.cloudwatch_logs_subscription(clock=ManualClock(), log_events=log_events)


@pytest.mark.parametrize("payload", [
    {"awslogs": {"data": "not base64!"}},
    {"awslogs": {"data": base64.b64encode(b"not gzip").decode()}},
    {"awslogs": {"data": base64.b64encode(gzip.compress(b"[1, 2]")).decode()}},
    {"awslogs": {}},
    {"Records": []},
])
def test_decode_cloudwatch_logs_refuses_what_is_not_a_subscription_payload(payload: Any) -> None:
    with pytest.raises(ValidationError):
        samples.decode_cloudwatch_logs(payload)


def test_decode_cloudwatch_logs_refuses_a_wrong_type() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter payload"):
        samples.decode_cloudwatch_logs(3)  # type: ignore[arg-type]


def test_codecommit_trigger_has_the_documented_record_shape() -> None:
    clock = ManualClock(datetime(2019, 3, 12, 20, 58, 25, 400000, tzinfo=UTC))
    record = samples.codecommit_trigger(clock=clock, region="us-east-2", repository_name="lambda-pipeline-repo",
                                        commit="5e49", trigger_name="index.handler", id="ev1")["Records"][0]
    assert record == {
        "awsRegion": "us-east-2",
        "codecommit": {"references": [{"commit": "5e49", "ref": "refs/heads/main"}]},
        "eventId": "ev1", "eventName": "ReferenceChanges", "eventPartNumber": 1, "eventSource": "aws:codecommit",
        "eventSourceARN": "arn:aws:codecommit:us-east-2:123456789012:lambda-pipeline-repo",
        "eventTime": "2019-03-12T20:58:25.400+0000", "eventTotalParts": 1,
        "eventTriggerConfigId": record["eventTriggerConfigId"], "eventTriggerName": "index.handler",
        "eventVersion": "1.0", "userIdentityARN": "arn:aws:iam::123456789012:user/sample-user",
    }
    assert "customData" not in record
    with_data = samples.codecommit_trigger(clock=clock, custom_data="env=prod")["Records"][0]
    assert with_data["customData"] == "env=prod"


def test_cloudformation_create_request_has_the_documented_fields() -> None:
    request = samples.cloudformation_custom_resource(clock=ManualClock(), region="us-east-2",
                                                     resource_properties={"Name": "x"}, id="req-1")
    assert set(request) == {"RequestType", "ServiceToken", "ResponseURL", "StackId", "RequestId",
                            "LogicalResourceId", "ResourceType", "ResourceProperties"}
    token = "arn:aws:lambda:us-east-2:123456789012:function:sample-function"
    assert request["ResourceProperties"] == {"ServiceToken": token, "Name": "x"}
    assert (request["ServiceToken"], request["RequestId"], request["ResourceType"]) == (token, "req-1",
                                                                                      "Custom::Sample")
    assert request["StackId"].startswith("arn:aws:cloudformation:us-east-2:123456789012:stack/sample-stack/")
    assert request["ResponseURL"].startswith(
        "https://cloudformation-custom-resource-response-useast2.s3.us-east-2.amazonaws.com/arn%3Aaws%3A")
    assert "%7CSampleResource%7Creq-1?" in request["ResponseURL"]


def test_cloudformation_update_and_delete_requests_name_the_physical_resource() -> None:
    clock = ManualClock()
    update = samples.cloudformation_custom_resource(clock=clock, request_type="Update", physical_resource_id="p1",
                                                    resource_properties={"Size": "2"},
                                                    old_resource_properties={"Size": "1"})
    delete = samples.cloudformation_custom_resource(clock=clock, request_type="Delete")
    assert update["PhysicalResourceId"] == "p1"
    assert (update["ResourceProperties"]["Size"], update["OldResourceProperties"]["Size"]) == ("2", "1")
    assert update["OldResourceProperties"]["ServiceToken"] == update["ServiceToken"]
    assert re.fullmatch(r"sample-stack-SampleResource-[A-Z0-9]{12}", delete["PhysicalResourceId"])
    assert "OldResourceProperties" not in delete


@pytest.mark.parametrize(("arguments", "message"), [
    ({"request_type": "Upsert"}, r"enum value set: \[Create, Update, Delete\]"),
    ({"physical_resource_id": "p1"}, "physical_resource_id does not apply to a Create request"),
    ({"request_type": "Delete", "old_resource_properties": {}}, "applies to Update requests only"),
    ({"resource_type": "MyType"}, "resource_type"),
    ({"resource_properties": ["x"]}, "Invalid type for parameter resource_properties"),
])
def test_cloudformation_custom_resource_refuses_inconsistent_requests(arguments: dict[str, Any],
                                                                      message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        samples.cloudformation_custom_resource(clock=ManualClock(), **arguments)


# -- arguments are checked ----------------------------------------------------------------


@pytest.mark.parametrize(("builder", "arguments", "message"), [
    (samples.s3_object_created, {"bucket": 3}, "Invalid type for parameter bucket, value: 3"),
    (samples.s3_object_created, {"bucket": "Not_A_Bucket"}, "Member must satisfy regular expression pattern"),
    (samples.s3_object_created, {"size": -1}, "'size' failed to satisfy constraint"),
    (samples.s3_object_created, {"size": True}, "Invalid type for parameter size"),
    (samples.s3_object_created, {"key": ""}, "'key' failed to satisfy constraint"),
    (samples.s3_object_created, {"reason": "DeleteObject"}, r"enum value set: \[PutObject, POST Object"),
    (samples.s3_object_deleted, {"deletion_type": "Gone"}, "'deletion_type' failed to satisfy constraint"),
    (samples.ec2_instance_state_change, {"state": "asleep"}, r"\[pending, running, stopping"),
    (samples.ec2_instance_state_change, {"instance_id": "instance-1"}, "'instance_id' failed to satisfy"),
    (samples.scheduled_event, {"rule_name": "bad name"}, "'rule_name' failed to satisfy"),
    (samples.codecommit_repository_state_change, {"event": "pushed"}, "'event' failed to satisfy"),
    (samples.codecommit_repository_state_change, {"reference_type": "ref"}, r"\[branch, tag\]"),
    (samples.cloudformation_stack_status_change, {"status": "DONE"}, "'status' failed to satisfy"),
    (samples.s3_notification, {"event_name": "ObjectCreated:*"}, "'event_name' failed to satisfy"),
    (samples.sns_notification, {"message": b"bytes"}, "Invalid type for parameter message"),
    (samples.sns_notification, {"subject": ""}, "'subject' failed to satisfy"),
    (samples.ses_receipt, {"recipients": "a@example.com"}, "Invalid type for parameter recipients"),
    (samples.ses_receipt, {"recipients": []}, "'recipients' failed to satisfy"),
    (samples.ses_receipt, {"virus": "CLEAN"}, "'virus' failed to satisfy"),
    (samples.codecommit_trigger, {"event_name": "Push"}, r"\[ReferenceChanges, TriggerEventTest\]"),
    (samples.scheduled_event, {"id": ""}, "'id' failed to satisfy"),
    (samples.scheduled_event, {"id": 7}, "Invalid type for parameter id"),
    (samples.scheduled_event, {"time": "2024-01-01"}, "Invalid type for parameter time"),
    (samples.scheduled_event, {"account": "12345"}, "'account' failed to satisfy"),
    (samples.scheduled_event, {"region": "moon"}, "'region' failed to satisfy"),
    (samples.scheduled_event, {"bus": "default"}, "Invalid type for parameter bus"),
])
def test_wrong_arguments_are_refused_with_a_message_naming_them(builder: Builder, arguments: dict[str, Any],
                                                                message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        builder(clock=ManualClock(), **arguments)


def test_a_clock_that_is_not_a_clock_is_refused() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter clock"):
        samples.scheduled_event(clock="now")  # type: ignore[arg-type]


# -- the module itself ---------------------------------------------------------------------


def test_all_is_sorted_and_lists_every_public_function() -> None:
    public = {name for name, value in vars(samples).items()
              if inspect.isfunction(value) and value.__module__ == samples.__name__ and not name.startswith("_")}
    assert samples.__all__ == sorted(samples.__all__)
    assert set(samples.__all__) == public
    assert {builder.__name__ for builder in ALL_BUILDERS} | {"decode_cloudwatch_logs"} == public


@pytest.mark.parametrize("builder", ALL_BUILDERS)
def test_each_builder_cites_an_aws_documentation_page_just_above_it(builder: Builder) -> None:
    lines = inspect.getsource(samples).splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith(f"def {builder.__name__}("))
    assert re.fullmatch(r"# https://docs\.aws\.amazon\.com/\S+\.html", lines[line - 1])


@pytest.mark.parametrize("builder", ALL_BUILDERS)
def test_each_builder_takes_keyword_arguments_only_with_the_shared_settings(builder: Builder) -> None:
    parameters = inspect.signature(builder).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert {"bus", "clock", "account", "region", "time", "id"} <= set(parameters)
    with pytest.raises(TypeError):
        builder(ManualClock())
