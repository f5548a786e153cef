"""SQS's API (``boto3.client("sqs")``) answered from a ``World``'s queues.

Queues are ``eventbus.Queue``: visibility timeouts, receive counts and the
redrive policy run on the world's clock.  Long polling (``WaitTimeSeconds``)
answers at once: time moves only when the test moves it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ..._delivery import Queue
from ..._exceptions import ResourceNotFoundError, ValidationError
from ..._world import World
from ._common import AwsError, Operations, get

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}

# the attributes CreateQueue takes (others are refused by name); the defaults GetQueueAttributes shows
_DEFAULTS = {"DelaySeconds": "0", "MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600",
             "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30"}
_SETTABLE = {*_DEFAULTS, "RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId",
             "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}


def _op(fn: Any) -> Any:
    OPERATIONS["".join(part.title() for part in fn.__name__.split("_"))] = fn
    return fn


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


@_op
def create_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["QueueName"]
    attributes = {key: str(value) for key, value in get(params, "Attributes", {}).items()}
    for key in attributes:
        if key not in _SETTABLE:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {key}.")
    if name.endswith(".fifo") or attributes.get("FifoQueue") == "true":
        raise ValidationError("eventbus models standard queues; FIFO queues are not modelled")
    if attributes.get("DelaySeconds", "0") != "0":
        raise ValidationError("eventbus's queues deliver at once: DelaySeconds other than 0 is not modelled")
    with world.lock:
        existing = world.queues.get(name)
        if existing is not None:
            for key, value in attributes.items():
                if existing.attributes.get(key, _DEFAULTS.get(key)) != value:
                    raise AwsError("QueueNameExists", "A queue already exists with the same name and a different "
                                   f"value for attribute {key}")
            return {"QueueUrl": existing.url}
        dead_letter, max_receives = None, None
        if "RedrivePolicy" in attributes:
            dead_letter, max_receives = _redrive(world, attributes["RedrivePolicy"])
        try:
            visibility = float(attributes.get("VisibilityTimeout", "30"))
        except ValueError:
            raise AwsError("InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.") from None
        queue = Queue(name, clock=world.clock, visibility_timeout=visibility, dead_letter_queue=dead_letter,
                      max_receive_count=max_receives, region=world.region, account=world.account)
        entry = world.add_queue(queue, attributes, get(params, "tags", {}))
    return {"QueueUrl": entry.url}


def _redrive(world: World, text: str) -> tuple[Queue, int]:
    def invalid(reason: str) -> AwsError:
        return AwsError("InvalidParameterValue", f"Value {text} for parameter RedrivePolicy is invalid. "
                        f"Reason: {reason}")
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict) or "deadLetterTargetArn" not in policy or "maxReceiveCount" not in policy:
        raise invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn, maxReceiveCount.")
    try:
        dead_letter = world.queue(str(policy["deadLetterTargetArn"]))
    except ResourceNotFoundError:
        raise invalid("Dead letter target does not exist.") from None
    try:
        count = int(policy["maxReceiveCount"])
    except (TypeError, ValueError):
        raise invalid(f"Invalid value for maxReceiveCount: {policy['maxReceiveCount']}, valid values are from 1 "
                      "to 1000 both inclusive.") from None
    return dead_letter, count


@_op
def get_queue_url(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"QueueUrl": world.queue_entry(params["QueueName"]).url}


@_op
def list_queues(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    prefix = get(params, "QueueNamePrefix", "")
    urls = [entry.url for name, entry in sorted(world.queues.items()) if name.startswith(prefix)]
    return {"QueueUrls": urls} if urls else {}


@_op
def delete_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    with world.lock:
        world.queues.pop(entry.queue.name, None)
    return {}


@_op
def purge_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    world.queue(params["QueueUrl"]).purge()
    return {}


def _attributes_in(params: Mapping[str, Any]) -> dict[str, str] | None:
    given = params.get("MessageAttributes")
    if not given:
        return None
    out: dict[str, str] = {}
    for name, value in given.items():
        if "StringValue" not in value:
            raise ValidationError(f"eventbus keeps string message attributes; {name} has no StringValue")
        out[name] = value["StringValue"]
    return out


@_op
def send_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    if get(params, "DelaySeconds", 0):
        raise ValidationError("eventbus's queues deliver at once: DelaySeconds other than 0 is not modelled")
    body = params["MessageBody"]
    message_id = queue.send(body, _attributes_in(params))
    return {"MessageId": message_id, "MD5OfMessageBody": _md5(body)}


@_op
def send_message_batch(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    entries = list(params["Entries"])
    if len(entries) > 10:
        raise AwsError("TooManyEntriesInBatchRequest", f"Maximum number of entries per request are 10. You have "
                       f"sent {len(entries)}.")
    ids = [entry["Id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise AwsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    successful = []
    for entry in entries:
        message_id = queue.send(entry["MessageBody"], _attributes_in(entry))
        successful.append({"Id": entry["Id"], "MessageId": message_id, "MD5OfMessageBody": _md5(entry["MessageBody"])})
    return {"Successful": successful, "Failed": []}


@_op
def receive_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    messages = queue.receive(get(params, "MaxNumberOfMessages", 1), params.get("VisibilityTimeout"))
    wanted = set(get(params, "AttributeNames", [])) | set(get(params, "MessageSystemAttributeNames", []))
    out = []
    for message in messages:
        shown: dict[str, Any] = {"MessageId": message.message_id, "ReceiptHandle": message.receipt_handle,
                                 "MD5OfBody": _md5(message.body), "Body": message.body}
        if wanted:
            system = {"ApproximateReceiveCount": str(message.receive_count),
                      "SentTimestamp": str(int(message.sent_at.timestamp() * 1000)) if message.sent_at else "0"}
            shown["Attributes"] = {k: v for k, v in system.items() if "All" in wanted or k in wanted}
        names = set(get(params, "MessageAttributeNames", []))
        if names and message.attributes:
            shown["MessageAttributes"] = {k: {"StringValue": v, "DataType": "String"}
                                          for k, v in message.attributes.items()
                                          if "All" in names or ".*" in names or k in names}
        out.append(shown)
    return {"Messages": out} if out else {}


def _by_handle(queue: Queue, handle: str) -> Any:
    for message in queue.messages():
        if message.receipt_handle == handle:
            return message
    return None


@_op
def delete_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    handle = params["ReceiptHandle"]
    message = _by_handle(queue, handle)
    if message is None:
        raise AwsError("ReceiptHandleIsInvalid", f"The input receipt handle \"{handle}\" is not a valid receipt "
                       "handle.")
    queue.delete(message)
    return {}


@_op
def change_message_visibility(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    message = _by_handle(queue, params["ReceiptHandle"])
    if message is None:
        raise AwsError("ReceiptHandleIsInvalid", f"The input receipt handle \"{params['ReceiptHandle']}\" is not "
                       "a valid receipt handle.")
    queue.change_visibility(message, params["VisibilityTimeout"])
    return {}


@_op
def get_queue_attributes(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    queue = entry.queue
    now = world.clock.now()
    held = queue.messages()
    stored = {m.message_id: m for m in queue.store.snapshot()}
    hidden = sum(1 for m in held if (s := stored.get(m.message_id)) is not None and s.visible_at is not None
                 and s.visible_at > now)
    created = str(int(entry.created.timestamp()))
    everything = {**_DEFAULTS, **entry.attributes, "QueueArn": queue.arn,
                  "ApproximateNumberOfMessages": str(len(held) - hidden),
                  "ApproximateNumberOfMessagesNotVisible": str(hidden),
                  "ApproximateNumberOfMessagesDelayed": "0",
                  "CreatedTimestamp": created, "LastModifiedTimestamp": created,
                  "VisibilityTimeout": str(int(queue.visibility_timeout))}
    if queue.dead_letter_queue is not None:
        everything["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": queue.dead_letter_queue.arn,
                                                  "maxReceiveCount": queue.max_receive_count},
                                                 separators=(",", ":"))
    names = set(get(params, "AttributeNames", []))
    unknown = names - set(everything) - {"All"}
    if unknown:
        raise AwsError("InvalidAttributeName", f"Unknown Attribute {sorted(unknown)[0]}.")
    chosen = everything if "All" in names else {k: v for k, v in everything.items() if k in names}
    return {"Attributes": chosen} if chosen else {}


# attributes kept and shown, with no effect on delivery in process (permissions and encryption)
_KEPT_ONLY = {"Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
              "MessageRetentionPeriod", "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds"}


@_op
def set_queue_attributes(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    given = {key: str(value) for key, value in params["Attributes"].items()}
    for key, value in given.items():
        if key not in _SETTABLE:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {key}.")
        if key not in _KEPT_ONLY and value != entry.attributes.get(key, _DEFAULTS.get(key)):
            raise ValidationError(f"eventbus sets a queue's {key} when the queue is created: give it to CreateQueue "
                                  "(SetQueueAttributes changes only attributes that do not affect delivery: "
                                  f"{', '.join(sorted(_KEPT_ONLY))})")
    entry.attributes.update(given)
    return {}
