"""Sample events in the shapes AWS services produce, for tests and demos.

Two kinds of builder live here:

* **EventBridge events** that AWS services put on the default event bus, with
  the whole envelope (``version``, ``id``, ``detail-type``, ``source``,
  ``account``, ``time``, ``region``, ``resources``, ``detail``):
  ``s3_object_created``, ``s3_object_deleted``, ``ec2_instance_state_change``,
  ``scheduled_event``, ``codecommit_repository_state_change`` and
  ``cloudformation_stack_status_change``.  Route one with
  ``bus.deliver(event)``, or match it with ``test_event_pattern``.
* **Lambda payloads**: what a service hands a function when it invokes it
  asynchronously (``InvocationType=Event``), not wrapped in an envelope:
  ``s3_notification``, ``sns_notification``, ``ses_receipt``,
  ``cloudwatch_logs_subscription`` (with ``decode_cloudwatch_logs`` to read
  one), ``codecommit_trigger`` and ``cloudformation_custom_resource``.  Send
  one with ``fn.invoke(payload, "Event")``.

Every builder takes keyword arguments only and returns a new ``dict`` of plain
JSON values.  What differs from one real event to the next (ids, times, ARNs,
account, region) comes from ``bus=`` (its clock, account and region) or,
without a bus, from the ambient clock (``use_clock``), account 123456789012
and region us-east-1; ``clock=``, ``account=``, ``region=``, ``time=`` and
``id=`` override each.  Random ids are drawn from ``clock.random()``, so under
a ``ManualClock`` the same calls build the same events, run after run.  The
comment above each builder names the AWS documentation page its shape follows.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import random
import string
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, quote_plus

from ._bus import EventBus
from ._clock import Clock, resolve_clock
from ._clock._base import utc
from ._exceptions import ValidationError
from ._transform import event_time
from ._validate import (
    ACCOUNT,
    REGION,
    check_datetime,
    check_instance,
    check_int,
    check_name,
    check_str,
    out_of_range,
    wrong_type,
)

__all__ = [
    "cloudformation_custom_resource",
    "cloudformation_stack_status_change",
    "cloudwatch_logs_subscription",
    "codecommit_repository_state_change",
    "codecommit_trigger",
    "decode_cloudwatch_logs",
    "ec2_instance_state_change",
    "s3_notification",
    "s3_object_created",
    "s3_object_deleted",
    "scheduled_event",
    "ses_receipt",
    "sns_notification",
]

_DEFAULT_ACCOUNT = "123456789012"
_DEFAULT_REGION = "us-east-1"
_SAMPLE_IP = "192.0.2.1"  # TEST-NET-1 (RFC 5737): an address that can never be a real caller's
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UPPER_ALNUM = string.ascii_uppercase + string.digits

# Allowed values, as the AWS pages cited below list them.
_S3_CREATED_REASONS = ("PutObject", "POST Object", "CopyObject", "CompleteMultipartUpload")
_S3_DELETED_REASONS = ("DeleteObject", "Lifecycle Expiration")
_S3_DELETION_TYPES = ("Permanently Deleted", "Delete Marker Created")
_S3_NOTIFICATION_EVENTS = ("ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy",
                           "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete",
                           "ObjectRemoved:DeleteMarkerCreated")
_EC2_STATES = ("pending", "running", "stopping", "stopped", "shutting-down", "terminated")
_CODECOMMIT_EVENTS = ("referenceCreated", "referenceUpdated", "referenceDeleted")
_REFERENCE_TYPES = ("branch", "tag")
_TRIGGER_EVENTS = ("ReferenceChanges", "TriggerEventTest")
_STACK_STATUSES = (
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "DELETE_COMPLETE", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
)
_REQUEST_TYPES = ("Create", "Update", "Delete")
_SES_VERDICTS = ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED")

# Name rules, so that a sample never carries a name AWS would refuse.
_BUCKET = r"[a-z0-9][a-z0-9.-]*[a-z0-9]"
_INSTANCE_ID = r"i-[0-9a-f]{8}([0-9a-f]{9})?"
_RULE_NAME = r"[\.\-_A-Za-z0-9]+"
_REPOSITORY = r"[\w\.-]+"
_STACK_NAME = r"[a-zA-Z][-a-zA-Z0-9]*"
_TOPIC_NAME = r"[A-Za-z0-9_-]+(\.fifo)?"
_FUNCTION_NAME = r"[a-zA-Z0-9-_]+"
_CUSTOM_TYPE = r"Custom::[A-Za-z0-9_@-]+|AWS::CloudFormation::CustomResource"


# -- what every builder shares -------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """Where one event is built: its random source, account, region and time."""

    rng: random.Random
    account: str
    region: str
    time: datetime

    def uuid(self, version: int = 4) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=version))

    def hex(self, digits: int, *, upper: bool = False) -> str:
        text = f"{self.rng.getrandbits(4 * digits):0{digits}x}"
        return text.upper() if upper else text

    def alnum(self, length: int) -> str:
        """Upper-case letters and digits, as S3 request ids and CloudFormation suffixes are."""
        return "".join(self.rng.choice(_UPPER_ALNUM) for _ in range(length))

    def b64(self, size: int) -> str:
        return base64.b64encode(self.rng.randbytes(size)).decode("ascii")


def _setting(bus: object, clock: object, account: object, region: object, time: object) -> _Setting:
    """The shared arguments, checked once: the bus's clock, account and region unless overridden."""
    if bus is not None:
        check_instance("bus", bus, EventBus, "<class 'eventbus.EventBus'>")
    chosen: Clock = bus.clock if clock is None and isinstance(bus, EventBus) else resolve_clock(clock)
    if account is None:
        account = bus.account if isinstance(bus, EventBus) else _DEFAULT_ACCOUNT
    if region is None:
        region = bus.region if isinstance(bus, EventBus) else _DEFAULT_REGION
    when = chosen.now() if time is None else utc(check_datetime("time", time))
    # One generator per event, taken from the clock: seeded (so repeatable) under a ManualClock.
    return _Setting(chosen.random(), check_name("account", account, ACCOUNT), check_name("region", region, REGION),
                    when)


def _text(name: str, value: object, *, empty: bool = False) -> str:
    text = check_str(name, value)
    if not text and not empty:
        raise out_of_range(name, text, "Member must have length greater than or equal to 1")
    return text


def _optional(name: str, value: object) -> str | None:
    return None if value is None else _text(name, value)


def _one_of(name: str, value: object, allowed: Sequence[str]) -> str:
    text = check_str(name, value)
    if text not in allowed:
        raise out_of_range(name, text, f"Member must satisfy enum value set: [{', '.join(allowed)}]")
    return text


def _strings(name: str, value: object) -> list[str]:
    """A non-empty list of non-empty strings (a lone ``str`` is refused: it is a sequence too)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise wrong_type(name, value, "<class 'list'>, <class 'tuple'>")
    if not value:
        raise out_of_range(name, value, "Member must have length greater than or equal to 1")
    return [_text(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _properties(name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise wrong_type(name, value, "<class 'dict'> with str keys")
    return dict(value)


def _millis(when: datetime) -> str:
    """ISO 8601 with milliseconds, as Lambda payloads write times: ``2024-01-01T00:00:00.000Z``."""
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def _epoch_millis(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _derived(account: str, what: str, length: int) -> str:
    """An id that belongs to the account (so it is the same in every sample for it), not drawn at random."""
    digest = hashlib.sha256(f"{what}:{account}".encode()).digest()
    return "".join(_UPPER_ALNUM[byte % len(_UPPER_ALNUM)] for byte in digest[:length])


def _envelope(where: _Setting, event_id: str | None, *, source: str, detail_type: str, resources: list[str],
              detail: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope every AWS service event travels in."""
    return {
        "version": "0",
        "id": where.uuid() if event_id is None else event_id,
        "detail-type": detail_type,
        "source": source,
        "account": where.account,
        "time": event_time(where.time),
        "region": where.region,
        "resources": resources,
        "detail": detail,
    }


# -- EventBridge events --------------------------------------------------------------


def _s3_event(where: _Setting, event_id: str | None, detail_type: str, bucket: str, obj: dict[str, Any],
              request_id: str | None, requester: str | None, source_ip: str, extra: dict[str, str]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": obj,
        "request-id": where.alnum(16) if request_id is None else request_id,
        "requester": where.account if requester is None else requester,
        "source-ip-address": source_ip,
        **extra,
    }
    return _envelope(where, event_id, source="aws.s3", detail_type=detail_type,
                     resources=[f"arn:aws:s3:::{bucket}"], detail=detail)


def _s3_object(where: _Setting, key: object, etag: object, version_id: object, sequencer: object,
               size: int | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": _text("key", key)}
    if size is not None:
        obj["size"] = size
    obj["etag"] = where.hex(32) if etag is None else _text("etag", etag)
    if version_id is not None:  # only versioned buckets have version ids
        obj["version-id"] = _text("version_id", version_id)
    obj["sequencer"] = where.hex(18, upper=True) if sequencer is None else _text("sequencer", sequencer)
    return obj


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
def s3_object_created(*, bucket: str = "amzn-s3-demo-bucket", key: str = "example-key", size: int = 1024,
                      etag: str | None = None, version_id: str | None = None, sequencer: str | None = None,
                      reason: str = "PutObject", request_id: str | None = None, requester: str | None = None,
                      source_ip: str = _SAMPLE_IP, bus: EventBus | None = None, clock: Clock | None = None,
                      account: str | None = None, region: str | None = None, time: datetime | None = None,
                      id: str | None = None) -> dict[str, Any]:
    """S3's ``Object Created`` event (source ``aws.s3``); ``reason`` names the API that made the
    object.  ``requester`` defaults to the account."""
    where = _setting(bus, clock, account, region, time)
    obj = _s3_object(where, key, etag, version_id, sequencer, check_int("size", size, 0))
    return _s3_event(where, _optional("id", id), "Object Created", check_name("bucket", bucket, _BUCKET, 63), obj,
                     _optional("request_id", request_id), _optional("requester", requester),
                     _text("source_ip", source_ip), {"reason": _one_of("reason", reason, _S3_CREATED_REASONS)})


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
def s3_object_deleted(*, bucket: str = "amzn-s3-demo-bucket", key: str = "example-key", etag: str | None = None,
                      version_id: str | None = None, sequencer: str | None = None, reason: str = "DeleteObject",
                      deletion_type: str = "Permanently Deleted", request_id: str | None = None,
                      requester: str | None = None, source_ip: str = _SAMPLE_IP, bus: EventBus | None = None,
                      clock: Clock | None = None, account: str | None = None, region: str | None = None,
                      time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """S3's ``Object Deleted`` event: ``reason`` is ``DeleteObject`` or ``Lifecycle Expiration``,
    ``deletion_type`` ``Permanently Deleted`` or ``Delete Marker Created``.  (No size: the object is gone.)"""
    where = _setting(bus, clock, account, region, time)
    obj = _s3_object(where, key, etag, version_id, sequencer, None)
    extra = {"reason": _one_of("reason", reason, _S3_DELETED_REASONS),
             "deletion-type": _one_of("deletion_type", deletion_type, _S3_DELETION_TYPES)}
    return _s3_event(where, _optional("id", id), "Object Deleted", check_name("bucket", bucket, _BUCKET, 63), obj,
                     _optional("request_id", request_id), _optional("requester", requester),
                     _text("source_ip", source_ip), extra)


# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
def ec2_instance_state_change(*, instance_id: str | None = None, state: str = "running",
                              bus: EventBus | None = None, clock: Clock | None = None, account: str | None = None,
                              region: str | None = None, time: datetime | None = None,
                              id: str | None = None) -> dict[str, Any]:
    """EC2's ``EC2 Instance State-change Notification``; ``state`` is one of pending, running,
    stopping, stopped, shutting-down, terminated."""
    where = _setting(bus, clock, account, region, time)
    instance = f"i-{where.hex(17)}" if instance_id is None else check_name("instance_id", instance_id,
                                                                           _INSTANCE_ID)
    return _envelope(where, _optional("id", id), source="aws.ec2",
                     detail_type="EC2 Instance State-change Notification",
                     resources=[f"arn:aws:ec2:{where.region}:{where.account}:instance/{instance}"],
                     detail={"instance-id": instance, "state": _one_of("state", state, _EC2_STATES)})


# https://docs.aws.amazon.com/eventbridge/latest/userguide/event-reference.html
def scheduled_event(*, rule_name: str = "SampleRule", rule_arn: str | None = None, bus: EventBus | None = None,
                    clock: Clock | None = None, account: str | None = None, region: str | None = None,
                    time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """The ``Scheduled Event`` a schedule rule emits (source ``aws.events``, empty detail); its only
    resource is the rule's ARN, built from ``rule_name`` unless ``rule_arn`` is given."""
    where = _setting(bus, clock, account, region, time)
    name = check_name("rule_name", rule_name, _RULE_NAME, 64)
    arn = f"arn:aws:events:{where.region}:{where.account}:rule/{name}" if rule_arn is None \
        else _text("rule_arn", rule_arn)
    return _envelope(where, _optional("id", id), source="aws.events", detail_type="Scheduled Event",
                     resources=[arn], detail={})


# https://docs.aws.amazon.com/codecommit/latest/userguide/monitoring-events.html
def codecommit_repository_state_change(*, event: str = "referenceUpdated", repository_name: str = "MyDemoRepo",
                                       repository_id: str | None = None, reference_type: str = "branch",
                                       reference_name: str = "main", commit_id: str | None = None,
                                       old_commit_id: str | None = None, caller_user_arn: str | None = None,
                                       bus: EventBus | None = None, clock: Clock | None = None,
                                       account: str | None = None, region: str | None = None,
                                       time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """CodeCommit's ``CodeCommit Repository State Change`` for a branch or tag: a created
    reference carries ``commitId``, a deleted one ``oldCommitId``, an updated one both."""
    where = _setting(bus, clock, account, region, time)
    kind = _one_of("event", event, _CODECOMMIT_EVENTS)
    repository = check_name("repository_name", repository_name, _REPOSITORY, 100)
    ref_type = _one_of("reference_type", reference_type, _REFERENCE_TYPES)
    ref_name = _text("reference_name", reference_name)
    if kind == "referenceDeleted" and commit_id is not None:
        raise ValidationError("commit_id does not apply to a referenceDeleted event (the reference is gone: "
                              "give old_commit_id)")
    if kind == "referenceCreated" and old_commit_id is not None:
        raise ValidationError("old_commit_id does not apply to a referenceCreated event (there was no reference "
                              "before: give commit_id)")
    detail: dict[str, Any] = {
        "callerUserArn": (f"arn:aws:iam::{where.account}:user/sample-user" if caller_user_arn is None
                          else _text("caller_user_arn", caller_user_arn)),
        "event": kind,
        "repositoryName": repository,
        "repositoryId": where.uuid() if repository_id is None else _text("repository_id", repository_id),
        "referenceType": ref_type,
        "referenceName": ref_name,
        "referenceFullName": f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref_name}",
    }
    if kind != "referenceDeleted":
        detail["commitId"] = where.hex(40) if commit_id is None else _text("commit_id", commit_id)
    if kind != "referenceCreated":
        detail["oldCommitId"] = where.hex(40) if old_commit_id is None else _text("old_commit_id", old_commit_id)
    return _envelope(where, _optional("id", id), source="aws.codecommit",
                     detail_type="CodeCommit Repository State Change",
                     resources=[f"arn:aws:codecommit:{where.region}:{where.account}:{repository}"], detail=detail)


def _stack_id(where: _Setting, stack_name: str, stack_id: object) -> str:
    if stack_id is not None:
        return _text("stack_id", stack_id)
    # CloudFormation's stack ids end in a time-based (version 1) UUID.
    return f"arn:aws:cloudformation:{where.region}:{where.account}:stack/{stack_name}/{where.uuid(1)}"


# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/event-detail-stack-status-change.html
def cloudformation_stack_status_change(*, stack_name: str = "teststack", stack_id: str | None = None,
                                       status: str = "CREATE_COMPLETE", status_reason: str = "",
                                       client_request_token: str = "", bus: EventBus | None = None,
                                       clock: Clock | None = None, account: str | None = None,
                                       region: str | None = None, time: datetime | None = None,
                                       id: str | None = None) -> dict[str, Any]:
    """CloudFormation's ``CloudFormation Stack Status Change``; ``status`` is a stack status code
    (``CREATE_COMPLETE``, ``UPDATE_ROLLBACK_COMPLETE``, ...)."""
    where = _setting(bus, clock, account, region, time)
    arn = _stack_id(where, check_name("stack_name", stack_name, _STACK_NAME, 128), stack_id)
    detail = {
        "stack-id": arn,
        "status-details": {"status": _one_of("status", status, _STACK_STATUSES),
                           "status-reason": _text("status_reason", status_reason, empty=True)},
        "client-request-token": _text("client_request_token", client_request_token, empty=True),
    }
    return _envelope(where, _optional("id", id), source="aws.cloudformation",
                     detail_type="CloudFormation Stack Status Change", resources=[arn], detail=detail)


# -- Lambda payloads (asynchronous invocation) ---------------------------------------------


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
def s3_notification(*, bucket: str = "amzn-s3-demo-bucket", key: str = "example-key", size: int = 1024,
                    etag: str | None = None, version_id: str | None = None, sequencer: str | None = None,
                    event_name: str = "ObjectCreated:Put", configuration_id: str = "sample-notification",
                    principal_id: str | None = None, source_ip: str = _SAMPLE_IP, bus: EventBus | None = None,
                    clock: Clock | None = None, account: str | None = None, region: str | None = None,
                    time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """An S3 event notification as Lambda receives it (``{"Records": [...]}``, event version 2.1).

    The key is URL-encoded as S3 sends it (``red flower.jpg`` arrives as ``red+flower.jpg``);
    ``ObjectRemoved:*`` records carry no size or eTag.  ``id`` is the request id
    (``x-amz-request-id``)."""
    where = _setting(bus, clock, account, region, time)
    name = check_name("bucket", bucket, _BUCKET, 63)
    kind = _one_of("event_name", event_name, _S3_NOTIFICATION_EVENTS)
    obj: dict[str, Any] = {"key": quote_plus(_text("key", key), safe="/")}
    checked_size = check_int("size", size, 0)
    if kind.startswith("ObjectCreated:"):
        obj["size"] = checked_size
        obj["eTag"] = where.hex(32) if etag is None else _text("etag", etag)
    if version_id is not None:
        obj["versionId"] = _text("version_id", version_id)
    obj["sequencer"] = where.hex(18, upper=True) if sequencer is None else _text("sequencer", sequencer)
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": where.region,
        "eventTime": _millis(where.time),
        "eventName": kind,
        "userIdentity": {"principalId": (f"AWS:AIDA{_derived(where.account, 'user', 17)}" if principal_id is None
                                         else _text("principal_id", principal_id))},
        "requestParameters": {"sourceIPAddress": _text("source_ip", source_ip)},
        "responseElements": {"x-amz-request-id": where.alnum(16) if id is None else _text("id", id),
                             "x-amz-id-2": where.b64(57)},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": _text("configuration_id", configuration_id),
            "bucket": {"name": name, "ownerIdentity": {"principalId": f"A{_derived(where.account, 'owner', 13)}"},
                       "arn": f"arn:aws:s3:::{name}"},
            "object": obj,
        },
    }
    return {"Records": [record]}


def _sns_attribute(name: str, value: object) -> dict[str, str]:
    """A message attribute as Lambda shows it: ``{"Type": ..., "Value": ...}`` (binary in base64)."""
    if isinstance(value, str):
        return {"Type": "String", "Value": value}
    if isinstance(value, bytes):
        return {"Type": "Binary", "Value": base64.b64encode(value).decode("ascii")}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"Type": "Number", "Value": str(value)}
    raise wrong_type(f"message_attributes[{name!r}]", value, "<class 'str'>, <class 'int'>, <class 'float'>, "
                                                             "<class 'bytes'>")


# https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html
def sns_notification(*, message: str = "Hello from SNS!", subject: str | None = None,
                     topic_name: str = "sample-topic", topic_arn: str | None = None,
                     message_attributes: Mapping[str, str | int | float | bytes] | None = None,
                     bus: EventBus | None = None, clock: Clock | None = None, account: str | None = None,
                     region: str | None = None, time: datetime | None = None,
                     id: str | None = None) -> dict[str, Any]:
    """An SNS notification as a subscribed function receives it.  ``message`` is the text published
    (publish JSON as a string); ``subject`` is null when none was given, as SNS sends it.
    ``message_attributes`` values become String, Number or Binary attributes.  ``id`` is the
    ``MessageId``."""
    where = _setting(bus, clock, account, region, time)
    topic = (f"arn:aws:sns:{where.region}:{where.account}:{check_name('topic_name', topic_name, _TOPIC_NAME, 256)}"
             if topic_arn is None else _text("topic_arn", topic_arn))
    attributes = _properties("message_attributes", message_attributes)
    subscription = f"{topic}:{where.uuid()}"
    host = f"https://sns.{where.region}.amazonaws.com"
    sns = {
        "Type": "Notification",
        "MessageId": where.uuid() if id is None else _text("id", id),
        "TopicArn": topic,
        "Subject": _optional("subject", subject),
        "Message": _text("message", message),
        "Timestamp": _millis(where.time),
        "SignatureVersion": "1",
        "Signature": where.b64(256),  # the size of an RSA-2048 signature
        "SigningCertUrl": f"{host}/SimpleNotificationService-{where.hex(32)}.pem",
        "UnsubscribeUrl": f"{host}/?Action=Unsubscribe&SubscriptionArn={subscription}",
        "MessageAttributes": {name: _sns_attribute(name, value) for name, value in attributes.items()},
    }
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": subscription,
                         "Sns": sns}]}


# https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-lambda-event.html
def ses_receipt(*, sender: str = "sender@example.com", recipients: Sequence[str] = ("recipient@example.com",),
                subject: str = "Test Subject", function_name: str = "sample-function", spam: str = "PASS",
                virus: str = "PASS", spf: str = "PASS", dkim: str = "PASS", dmarc: str = "PASS",
                bus: EventBus | None = None, clock: Clock | None = None, account: str | None = None,
                region: str | None = None, time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """The record an SES receipt rule's Lambda action sends (mail headers and verdicts, no body).
    Each verdict is PASS, FAIL, GRAY or PROCESSING_FAILED; ``id`` is the mail's ``messageId``."""
    where = _setting(bus, clock, account, region, time)
    source = _text("sender", sender)
    to = _strings("recipients", recipients)
    title = _text("subject", subject, empty=True)
    function = check_name("function_name", function_name, _FUNCTION_NAME, 64)
    verdicts = {f"{name}Verdict": {"status": _one_of(name, value, _SES_VERDICTS)}
                for name, value in (("spam", spam), ("virus", virus), ("spf", spf), ("dkim", dkim), ("dmarc", dmarc))}
    message_id = f"{where.hex(16)}-{where.uuid()}-000000" if id is None else _text("id", id)
    date = format_datetime(where.time)  # RFC 5322, as a Date header is written
    header_id = f"<{where.hex(32)}@example.com>"
    headers = [("Return-Path", f"<{source}>"), ("From", source), ("Date", date), ("To", ", ".join(to)),
               ("Message-ID", header_id), ("Subject", title), ("MIME-Version", "1.0"),
               ("Content-Type", "text/plain; charset=UTF-8")]
    mail = {
        "timestamp": _millis(where.time),
        "source": source,
        "messageId": message_id,
        "destination": to,
        "headersTruncated": False,
        "headers": [{"name": name, "value": value} for name, value in headers],
        "commonHeaders": {"returnPath": source, "from": [source], "date": date, "to": to,
                          "messageId": header_id, "subject": title},
    }
    receipt = {
        "timestamp": _millis(where.time),
        "processingTimeMillis": where.rng.randint(200, 900),
        "recipients": to,
        **verdicts,
        "action": {"type": "Lambda", "functionArn": f"arn:aws:lambda:{where.region}:{where.account}:function:"
                                                    f"{function}", "invocationType": "Event"},
    }
    return {"Records": [{"eventSource": "aws:ses", "eventVersion": "1.0", "ses": {"mail": mail,
                                                                                 "receipt": receipt}}]}


def _log_event(where: _Setting, index: int, item: object) -> dict[str, Any]:
    """One log event: a message (logged at the sample's time), or a mapping with ``message`` and,
    optionally, ``timestamp`` (epoch milliseconds) and ``id``."""
    name = f"log_events[{index}]"
    if isinstance(item, str):
        item = {"message": item}
    if not isinstance(item, Mapping):
        raise wrong_type(name, item, "<class 'str'>, <class 'dict'>")
    unknown = set(item) - {"id", "timestamp", "message"}
    if unknown:
        raise ValidationError(f"{name} has unknown keys {sorted(map(str, unknown))}: a log event has id, "
                              "timestamp and message")
    if "message" not in item:
        raise ValidationError(f"{name} has no message")
    # CloudWatch Logs event ids are 56-digit decimal strings.
    event_id = str(where.rng.randrange(10**55, 10**56)) if "id" not in item else _text(f"{name}.id", item["id"])
    stamp = (_epoch_millis(where.time) if "timestamp" not in item
             else check_int(f"{name}.timestamp", item["timestamp"], 0))
    return {"id": event_id, "timestamp": stamp, "message": check_str(f"{name}.message", item["message"])}


# https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html
def cloudwatch_logs_subscription(*, log_events: Sequence[str | Mapping[str, Any]] = ("Hello from CloudWatch Logs",),
                                 log_group: str = "/aws/lambda/sample-function", log_stream: str | None = None,
                                 subscription_filters: Sequence[str] = ("sample-filter",),
                                 bus: EventBus | None = None, clock: Clock | None = None,
                                 account: str | None = None, region: str | None = None,
                                 time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """A CloudWatch Logs subscription delivery: ``{"awslogs": {"data": ...}}``, the data being a
    ``DATA_MESSAGE`` document gzipped and base64-encoded (``decode_cloudwatch_logs`` reads it).
    ``log_events`` items are messages, or mappings with ``message`` and optionally ``timestamp``
    (epoch ms) and ``id``; ``id`` is the first log event's id.  ``log_stream`` defaults to a
    Lambda-style stream name for the day."""
    where = _setting(bus, clock, account, region, time)
    if isinstance(log_events, str | bytes | Mapping) or not isinstance(log_events, Sequence):
        raise wrong_type("log_events", log_events, "<class 'list'>, <class 'tuple'>")
    if not log_events:  # CloudWatch Logs never delivers an empty batch
        raise out_of_range("log_events", log_events, "Member must have length greater than or equal to 1")
    events = [_log_event(where, i, item) for i, item in enumerate(log_events)]
    if id is not None:
        events[0]["id"] = _text("id", id)
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": where.account,
        "logGroup": _text("log_group", log_group),
        "logStream": (f"{where.time:%Y/%m/%d}/[$LATEST]{where.hex(32)}" if log_stream is None
                      else _text("log_stream", log_stream)),
        "subscriptionFilters": _strings("subscription_filters", subscription_filters),
        "logEvents": events,
    }
    # mtime=0: gzip would otherwise stamp the archive with the wall clock, and the bytes would vary.
    packed = gzip.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), mtime=0)
    return {"awslogs": {"data": base64.b64encode(packed).decode("ascii")}}


def decode_cloudwatch_logs(payload: Mapping[str, Any] | str) -> dict[str, Any]:
    """The document inside a CloudWatch Logs subscription payload (the whole
    ``{"awslogs": {"data": ...}}`` event, or its ``data`` string): base64, then gzip, then JSON."""
    data: object = payload
    if isinstance(payload, Mapping):
        awslogs = payload.get("awslogs")
        if not isinstance(awslogs, Mapping) or "data" not in awslogs:
            raise ValidationError("payload is not a CloudWatch Logs subscription event: it has no awslogs.data")
        data = awslogs["data"]
    if not isinstance(data, str):
        raise wrong_type("payload", data, "<class 'str'>, a mapping with awslogs.data")
    try:
        document = json.loads(gzip.decompress(base64.b64decode(data, validate=True)))
    except (binascii.Error, OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"awslogs.data is not base64-encoded gzipped JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValidationError("awslogs.data does not hold a JSON object")
    return document


# https://docs.aws.amazon.com/lambda/latest/dg/services-codecommit.html
def codecommit_trigger(*, repository_name: str = "MyDemoRepo", ref: str = "refs/heads/main",
                       commit: str | None = None, event_name: str = "ReferenceChanges",
                       trigger_name: str = "sample-trigger", trigger_config_id: str | None = None,
                       user_arn: str | None = None, custom_data: str | None = None, bus: EventBus | None = None,
                       clock: Clock | None = None, account: str | None = None, region: str | None = None,
                       time: datetime | None = None, id: str | None = None) -> dict[str, Any]:
    """A CodeCommit repository trigger's record: ``ReferenceChanges`` for a push,
    ``TriggerEventTest`` for the console's test.  ``custom_data`` appears only when given;
    ``id`` is the ``eventId``."""
    where = _setting(bus, clock, account, region, time)
    repository = check_name("repository_name", repository_name, _REPOSITORY, 100)
    record: dict[str, Any] = {
        "awsRegion": where.region,
        "codecommit": {"references": [{"commit": where.hex(40) if commit is None else _text("commit", commit),
                                       "ref": _text("ref", ref)}]},
    }
    if custom_data is not None:
        record["customData"] = check_str("custom_data", custom_data)
    record.update({
        "eventId": where.uuid() if id is None else _text("id", id),
        "eventName": _one_of("event_name", event_name, _TRIGGER_EVENTS),
        "eventPartNumber": 1,
        "eventSource": "aws:codecommit",
        "eventSourceARN": f"arn:aws:codecommit:{where.region}:{where.account}:{repository}",
        # CodeCommit writes ``+0000``, not ``Z``, after the milliseconds.
        "eventTime": f"{_millis(where.time)[:-1]}+0000",
        "eventTotalParts": 1,
        "eventTriggerConfigId": (where.uuid() if trigger_config_id is None
                                 else _text("trigger_config_id", trigger_config_id)),
        "eventTriggerName": _text("trigger_name", trigger_name),
        "eventVersion": "1.0",
        "userIdentityARN": (f"arn:aws:iam::{where.account}:user/sample-user" if user_arn is None
                            else _text("user_arn", user_arn)),
    })
    return {"Records": [record]}


# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requests.html
def cloudformation_custom_resource(*, request_type: str = "Create", resource_type: str = "Custom::Sample",
                                   logical_resource_id: str = "SampleResource",
                                   resource_properties: Mapping[str, Any] | None = None,
                                   old_resource_properties: Mapping[str, Any] | None = None,
                                   physical_resource_id: str | None = None, stack_name: str = "sample-stack",
                                   stack_id: str | None = None, service_token: str | None = None,
                                   response_url: str | None = None, bus: EventBus | None = None,
                                   clock: Clock | None = None, account: str | None = None,
                                   region: str | None = None, time: datetime | None = None,
                                   id: str | None = None) -> dict[str, Any]:
    """A custom resource request CloudFormation sends its provider function.

    ``Update`` and ``Delete`` requests name the resource (``PhysicalResourceId``, generated unless
    given); ``Update`` also carries ``OldResourceProperties``.  ``ServiceToken`` (the provider's
    ARN, by default a function in the account) is also the first of the resource properties.
    ``ResponseURL`` is a presigned S3 URL unless given; ``id`` is the ``RequestId``."""
    where = _setting(bus, clock, account, region, time)
    kind = _one_of("request_type", request_type, _REQUEST_TYPES)
    if kind == "Create" and physical_resource_id is not None:
        raise ValidationError("physical_resource_id does not apply to a Create request (the provider chooses it)")
    if kind != "Update" and old_resource_properties is not None:
        raise ValidationError("old_resource_properties applies to Update requests only")
    custom_type = check_name("resource_type", resource_type, _CUSTOM_TYPE, 60)
    logical = _text("logical_resource_id", logical_resource_id)
    stack = _stack_id(where, check_name("stack_name", stack_name, _STACK_NAME, 128), stack_id)
    token = (f"arn:aws:lambda:{where.region}:{where.account}:function:sample-function" if service_token is None
             else _text("service_token", service_token))
    request_id = where.uuid() if id is None else _text("id", id)
    if response_url is None:
        path = quote(f"{stack}|{logical}|{request_id}", safe="/")
        response_url = (f"https://cloudformation-custom-resource-response-{where.region.replace('-', '')}"
                        f".s3.{where.region}.amazonaws.com/{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                        f"&X-Amz-Date={where.time:%Y%m%dT%H%M%SZ}&X-Amz-Expires=7200&X-Amz-SignedHeaders=host"
                        f"&X-Amz-Signature={where.hex(64)}")
    request: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": token,
        "ResponseURL": _text("response_url", response_url),
        "StackId": stack,
        "RequestId": request_id,
        "LogicalResourceId": logical,
        "ResourceType": custom_type,
        "ResourceProperties": {"ServiceToken": token, **_properties("resource_properties", resource_properties)},
    }
    if kind != "Create":
        request["PhysicalResourceId"] = (f"{stack_name}-{logical}-{where.alnum(12)}" if physical_resource_id is None
                                         else _text("physical_resource_id", physical_resource_id))
    if kind == "Update":
        request["OldResourceProperties"] = {"ServiceToken": token,
                                            **_properties("old_resource_properties", old_resource_properties)}
    return request
