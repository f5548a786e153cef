"""SQS's API (``boto3.client("sqs")``) answered from a ``World``'s queues.

Queues are ``eventbus.Queue``: visibility timeouts, receive counts and the
redrive policy run on the world's clock.  Long polling (``WaitTimeSeconds``)
answers at once: time moves only when the test moves it.

The receipt handles ReceiveMessage hands out are opaque to the caller but
carry the queue's name, the message id and the queue's own handle, so
DeleteMessage and ChangeMessageVisibility (and their batches) reach the
message at once, whatever the queue holds.  As in SQS, deleting with a stale
handle (the message was received again since) or deleting twice succeeds
and may delete nothing; only a handle no queue issued is
``ReceiptHandleIsInvalid``.

AWS's limits are checked with AWS's codes: a message (body and attributes)
up to the queue's ``MaximumMessageSize`` (1 MiB by default), SQS's character
set (``InvalidMessageContents``), the batch rules, the attribute ranges
(``InvalidAttributeValue``) and one PurgeQueue per queue every 60 seconds
(on the world's clock).

Not modelled, and said so: FIFO queues, delays (``DelaySeconds`` other than
0) and Binary message attributes are refused with a ValidationError naming
them.  ``MessageRetentionPeriod`` is accepted, checked and shown, but no
message expires: messages are kept until they are deleted, purged or moved
to a dead-letter queue.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .._delivery import Message, Queue, StoredMessage
from .._exceptions import ResourceNotFoundError, ValidationError
from .._world import QueueEntry, World
from ._common import AwsError, Operations, get, translate

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}

MAX_MESSAGE_SIZE = 1_048_576  # bytes (1 MiB): a message, and a batch's messages together
MAX_VISIBILITY = 43_200  # seconds (12 hours)
MAX_WAIT = 20  # seconds, ReceiveMessage's WaitTimeSeconds
MAX_BATCH = 10
PURGE_INTERVAL = timedelta(seconds=60)
MAX_TAGS = 50

# the attributes CreateQueue takes (others are refused by name); the defaults GetQueueAttributes shows
_DEFAULTS = {"DelaySeconds": "0", "MaximumMessageSize": str(MAX_MESSAGE_SIZE), "MessageRetentionPeriod": "345600",
             "ReceiveMessageWaitTimeSeconds": "0", "VisibilityTimeout": "30"}
_SETTABLE = {*_DEFAULTS, "RedrivePolicy", "RedriveAllowPolicy", "Policy", "KmsMasterKeyId",
             "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}
# the integer attributes' valid values (CreateQueue's documentation)
_RANGES = {"DelaySeconds": (0, 900), "MaximumMessageSize": (1024, MAX_MESSAGE_SIZE),
           "MessageRetentionPeriod": (60, 1_209_600), "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT),
           "VisibilityTimeout": (0, MAX_VISIBILITY), "KmsDataKeyReusePeriodSeconds": (60, 86_400)}
_FIFO_ONLY = {"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
_NOT_FIFO = ("eventbus models standard queues; FIFO queues are not modelled (a .fifo name, or the attributes "
             f"{', '.join(sorted(_FIFO_ONLY))})")
_NO_DELAY = "eventbus's queues deliver at once: DelaySeconds other than 0 is not modelled"

_INTEGER = re.compile(r"-?[0-9]+")
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
_NUMBER = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
_DATA_TYPE = re.compile(r"(String|Number|Binary)(\..+)?", re.DOTALL)
# SQS's characters: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF
_BAD_CHARACTER = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ALLOWED = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
# a queue's own handle as Lambda and pipe records carry it (a UUID): see _find_raw
_RAW_HANDLE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HANDLE_PREFIX = "eventbus-sqs"
_TOKEN_PREFIX = "eventbus-sqs-list"


def _op(fn: Any) -> Any:
    OPERATIONS["".join(part.title() for part in fn.__name__.split("_"))] = fn
    return fn


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _millis(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


# -- what the API keeps beside a queue -----------------------------------------------------------
@dataclass
class _Side:
    """What SQS shows that an ``eventbus.Queue`` does not keep: the last purge, the
    message attributes' data types other than String, first receive times."""

    purged_at: datetime | None = None
    types: dict[str, dict[str, str]] = field(default_factory=dict)  # message id -> {name: DataType}
    first_received: dict[str, datetime] = field(default_factory=dict)  # message id -> first ReceiveMessage

    def forget(self, message_id: str) -> None:
        self.types.pop(message_id, None)
        self.first_received.pop(message_id, None)

    def compact(self, queue: Queue) -> None:
        """Drop what belongs to messages gone by other ways than DeleteMessage (a
        Lambda or pipe reading the queue, a redrive) once the tables outgrow the
        queue: amortised O(1) per entry."""
        if len(self.types) + len(self.first_received) > 2 * len(queue) + 64:
            held = {m.message_id for m in queue.store.snapshot()}
            self.types = {k: v for k, v in self.types.items() if k in held}
            self.first_received = {k: v for k, v in self.first_received.items() if k in held}


_sides: weakref.WeakKeyDictionary[Queue, _Side] = weakref.WeakKeyDictionary()
_sides_lock = threading.Lock()


def _side(queue: Queue) -> _Side:
    with _sides_lock:
        found = _sides.get(queue)
        if found is None:
            found = _sides[queue] = _Side()
        return found


# -- receipt handles ------------------------------------------------------------------------
def _handle_out(queue: Queue, message: Message) -> str:
    """The receipt handle the API hands out: the queue's name, the message id, the
    queue's own handle and a check on them, base64-encoded (opaque, as SQS's are;
    the check tells a handle cut short or altered from one the queue issued)."""
    text = f"{queue.name}:{message.message_id}:{message.receipt_handle}"
    return base64.b64encode(f"{_HANDLE_PREFIX}:{text}:{_check(text)}".encode()).decode("ascii")


def _check(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def _not_issued(handle: str) -> AwsError:
    return AwsError("ReceiptHandleIsInvalid", f"The input receipt handle \"{handle}\" is not a valid receipt handle.")


def _handle_in(queue: Queue, handle: str) -> tuple[str, str]:
    """``(message id, the queue's handle)`` from a handle ReceiveMessage gave out
    (in O(1)); ``ReceiptHandleIsInvalid`` for one this queue did not issue."""
    try:
        text = base64.b64decode(handle.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return _find_raw(queue, handle)
    parts = text.split(":")
    if len(parts) != 5 or parts[0] != _HANDLE_PREFIX or parts[1] != queue.name or not parts[2] or not parts[3] \
            or parts[4] != _check(":".join(parts[1:4])):
        raise _not_issued(handle)
    return parts[2], parts[3]


def _find_raw(queue: Queue, handle: str) -> tuple[str, str]:
    """A queue's own handle, as the records a Lambda function or a pipe reading the
    queue are given carry it (``receiptHandle``): found by looking through the
    queue (O(n): only this path pays it)."""
    if _RAW_HANDLE.fullmatch(handle):
        for message in queue.messages():
            if message.receipt_handle == handle:
                return message.message_id, handle
    raise _not_issued(handle)


def _not_in_flight(queue: Queue, message_id: str, own: str) -> bool:
    """Whether a change of visibility the queue refused was refused because the
    message is visible again under its latest handle (SQS's ``MessageNotInflight``)
    rather than gone, received again since or being moved (a move clears the
    handle): told from a store that can look a message up by id in O(1)
    (``MemoryQueueStore.get``); with any other store it reads as gone."""
    lookup = getattr(queue.store, "get", None)
    found = lookup(message_id) if callable(lookup) else None
    return isinstance(found, StoredMessage) and found.receipt_handle == own


# -- queues ---------------------------------------------------------------------------------
def _check_queue_attributes(attributes: Mapping[str, str]) -> None:
    for key, value in attributes.items():
        if key in _FIFO_ONLY:
            raise ValidationError(_NOT_FIFO)
        if key not in _SETTABLE:
            raise AwsError("InvalidAttributeName", f"Unknown Attribute {key}.")
        bad = False
        if key in _RANGES:
            low, high = _RANGES[key]
            bad = not _INTEGER.fullmatch(value) or not low <= int(value) <= high
        elif key == "SqsManagedSseEnabled":
            bad = value.lower() not in ("true", "false")
        if bad:
            raise AwsError("InvalidAttributeValue", f"Invalid value for the parameter {key}.")


def _check_tags(tags: Mapping[str, Any], already: Iterable[str] = ()) -> dict[str, str]:
    out = {str(key): str(value) for key, value in tags.items()}
    for key, value in out.items():
        if not 1 <= len(key) <= 128:
            raise _invalid("Tag keys must be between 1 and 128 characters in length.")
        if len(value) > 256:
            raise _invalid("Tag values may only be up to 256 characters in length.")
    if len({*already, *out}) > MAX_TAGS:
        raise _invalid(f"Too many tags added for queue: a queue takes up to {MAX_TAGS} tags.")
    return out


@_op
def create_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["QueueName"]
    attributes = {key: str(value) for key, value in get(params, "Attributes", {}).items()}
    if name.endswith(".fifo"):
        raise ValidationError(_NOT_FIFO)
    _check_queue_attributes(attributes)
    if attributes.get("DelaySeconds", "0") != "0":
        raise ValidationError(_NO_DELAY)
    tags = _check_tags(get(params, "tags", {}))
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
        visibility = int(attributes.get("VisibilityTimeout", _DEFAULTS["VisibilityTimeout"]))
        queue = Queue(name, clock=world.clock, visibility_timeout=visibility, dead_letter_queue=dead_letter,
                      max_receive_count=max_receives, region=world.region, account=world.account)
        entry = world.add_queue(queue, attributes, tags)
    return {"QueueUrl": entry.url}


def _redrive(world: World, text: str) -> tuple[Queue, int]:
    def invalid(reason: str) -> AwsError:
        return _invalid(f"Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}")
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
    most = params.get("MaxResults")
    if most is not None and not 1 <= most <= 1000:
        raise _invalid(f"Value {most} for parameter MaxResults is invalid. Reason: MaxResults must be an integer "
                       "between 1 and 1000.")
    with world.lock:
        entries = sorted((name, entry.url) for name, entry in world.queues.items() if name.startswith(prefix))
    token = params.get("NextToken")
    if token is not None:
        after = _token_in(token)
        entries = [(name, url) for name, url in entries if name > after]
    limit = 1000 if most is None else most
    page = entries[:limit]
    out: dict[str, Any] = {"QueueUrls": [url for _, url in page]} if page else {}
    if most is not None and len(entries) > limit:  # (AWS gives NextToken only to a call that set MaxResults)
        out["NextToken"] = base64.b64encode(f"{_TOKEN_PREFIX}:{page[-1][0]}".encode()).decode("ascii")
    return out


def _token_in(token: str) -> str:
    try:
        text = base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        text = ""
    marker, _, after = text.partition(":")
    if marker != _TOKEN_PREFIX or not after:
        raise _invalid("Invalid NextToken value.")
    return after


@_op
def delete_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    with world.lock:
        world.queues.pop(entry.queue.name, None)
    return {}


@_op
def purge_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    side = _side(queue)
    now = world.clock.now()
    with _sides_lock:
        if side.purged_at is not None and now - side.purged_at < PURGE_INTERVAL:
            raise AwsError("PurgeQueueInProgress", f"Only one PurgeQueue operation on {queue.name} is allowed every "
                           "60 seconds.", 403)
        side.purged_at = now
    queue.purge()
    side.types.clear()
    side.first_received.clear()
    return {}


# -- tags -----------------------------------------------------------------------------------
@_op
def tag_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    with world.lock:
        entry.tags.update(_check_tags(params["Tags"], entry.tags))
    return {}


@_op
def untag_queue(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    with world.lock:
        for key in params["TagKeys"]:
            entry.tags.pop(key, None)
    return {}


@_op
def list_queue_tags(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    with world.lock:
        tags = dict(entry.tags)
    return {"Tags": tags} if tags else {}


# -- sending --------------------------------------------------------------------------------
@dataclass
class _Outgoing:
    """A message checked as SQS checks it, ready for ``Queue.send``."""

    body: str
    attributes: dict[str, tuple[str, str]]  # name -> (DataType, StringValue)
    size: int  # bytes: the body and every attribute's name, type and value

    def send(self, queue: Queue) -> dict[str, Any]:
        values = {name: value for name, (_, value) in self.attributes.items()}
        message_id = queue.send(self.body, values or None)
        types = {name: kind for name, (kind, _) in self.attributes.items() if kind != "String"}
        if types:
            side = _side(queue)
            side.types[message_id] = types
            side.compact(queue)
        out = {"MessageId": message_id, "MD5OfMessageBody": _md5(self.body)}
        if self.attributes:
            out["MD5OfMessageAttributes"] = _md5_attributes(self.attributes)
        return out


def _md5_attributes(attributes: Mapping[str, tuple[str, str]]) -> str:
    """SQS's MD5OfMessageAttributes: per attribute, sorted by name, the name, the
    DataType (each UTF-8 after its 4-byte big-endian length), the transport type
    (1: a string value) and the value (likewise length-prefixed)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        kind, value = attributes[name]
        for part in (name, kind):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(4, "big") + data)
        data = value.encode("utf-8")
        digest.update(b"\x01" + len(data).to_bytes(4, "big") + data)
    return digest.hexdigest()


def _check_contents(text: str, what: str) -> None:
    found = _BAD_CHARACTER.search(text)
    if found is not None:
        raise AwsError("InvalidMessageContents", f"Invalid binary character '#x{ord(found.group()):X}' was found in "
                       f"the {what}, the set of allowed characters is {_ALLOWED}")


def _message_attributes(given: Mapping[str, Any] | None) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for name, value in (given or {}).items():
        kind = value.get("DataType") or ""
        if name.lower().startswith(("aws.", "amazon.")):
            raise _invalid(f"You can't use message attribute names beginning with AWS. or Amazon. ('{name}'): these "
                           "strings are reserved for internal use.")
        if not _DATA_TYPE.fullmatch(kind) or len(kind) > 256:
            raise _invalid(f"The message attribute '{name}' has an invalid message attribute type, the set of "
                           "supported type prefixes is Binary, Number, and String.")
        if kind.startswith("Binary") or "BinaryValue" in value or "BinaryListValues" in value \
                or "StringListValues" in value:
            raise ValidationError(f"eventbus keeps String and Number message attributes; {name}'s Binary (or list) "
                                  "value is not modelled")
        text = value.get("StringValue")
        if not text:
            raise _invalid(f"The message attribute '{name}' must contain non-empty message attribute value for "
                           f"message attribute type '{kind}'.")
        if kind.startswith("Number") and not _NUMBER.fullmatch(text):
            raise _invalid(f"Can't cast the value of message (user) attribute '{name}' to a number.")
        _check_contents(text, f"message attribute {name}")
        out[name] = (kind, text)
    return out


def _delay(params: Mapping[str, Any]) -> None:
    delay = params.get("DelaySeconds")
    if delay is None or delay == 0:
        return
    if not 0 <= delay <= 900:
        raise _invalid(f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and "
                       "<= 900.")
    raise ValidationError(_NO_DELAY)


def _outgoing(entry: QueueEntry, params: Mapping[str, Any]) -> _Outgoing:
    """One message (SendMessage's parameters, or a batch entry) checked as SQS checks it."""
    _delay(params)
    attributes = _message_attributes(params.get("MessageAttributes"))
    body = params["MessageBody"]
    if not body:
        raise _invalid("The request must contain the parameter MessageBody.")
    _check_contents(body, "message body")
    size = _utf8_size(body) + sum(_utf8_size(name) + _utf8_size(kind) + _utf8_size(value)
                                  for name, (kind, value) in attributes.items())
    limit = int(entry.attributes.get("MaximumMessageSize", _DEFAULTS["MaximumMessageSize"]))
    if size > limit:
        raise _invalid(f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.")
    return _Outgoing(body, attributes, size)


@_op
def send_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    return _outgoing(entry, params).send(entry.queue)


def _batch(params: Mapping[str, Any], action: str) -> list[Mapping[str, Any]]:
    """A batch's entries, checked as SQS checks every batch request."""
    entries = list(params["Entries"])
    if not entries:
        raise AwsError("EmptyBatchRequest", f"There should be at least one {action}RequestEntry in the request.")
    if len(entries) > MAX_BATCH:
        raise AwsError("TooManyEntriesInBatchRequest", f"Maximum number of entries per request are {MAX_BATCH}. You "
                       f"have sent {len(entries)}.")
    seen: set[str] = set()
    for entry in entries:
        if not _BATCH_ID.fullmatch(entry["Id"]):
            raise AwsError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                           "hyphens and underscores. It can be at most 80 letters long.")
        if entry["Id"] in seen:
            raise AwsError("BatchEntryIdsNotDistinct", f"Id {entry['Id']} repeated.")
        seen.add(entry["Id"])
    return entries


def _failed(entry_id: str, exc: Exception) -> dict[str, Any]:
    error = translate("sqs", exc)
    if error is None:
        raise exc
    return {"Id": entry_id, "SenderFault": error.status < 500, "Code": error.code, "Message": error.message}


@_op
def send_message_batch(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue_entry = world.queue_entry(params["QueueUrl"])
    entries = _batch(params, "SendMessageBatch")
    checked = [_outgoing(queue_entry, entry) for entry in entries]  # (all checked before any is sent)
    total = sum(message.size for message in checked)
    if total > MAX_MESSAGE_SIZE:
        raise AwsError("BatchRequestTooLong", f"Batch requests cannot be longer than {MAX_MESSAGE_SIZE} bytes. You "
                       f"have sent {total} bytes.")
    successful = [{"Id": entry["Id"], **message.send(queue_entry.queue)}
                  for entry, message in zip(entries, checked, strict=True)]
    return {"Successful": successful, "Failed": []}


# -- receiving ------------------------------------------------------------------------------
def _wanted_attribute(name: str, patterns: set[str]) -> bool:
    if name in patterns or "All" in patterns or ".*" in patterns:
        return True
    return any(pattern.endswith(".*") and name.startswith(pattern[:-1]) for pattern in patterns)


@_op
def receive_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    wait = params.get("WaitTimeSeconds")
    if wait is not None and not 0 <= wait <= MAX_WAIT:
        raise _invalid(f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= "
                       f"{MAX_WAIT}, if provided.")
    now = queue.clock.now()
    messages = queue.receive(get(params, "MaxNumberOfMessages", 1), params.get("VisibilityTimeout"))
    wanted = set(get(params, "AttributeNames", [])) | set(get(params, "MessageSystemAttributeNames", []))
    names = set(get(params, "MessageAttributeNames", []))
    side = _side(queue)
    out = []
    for message in messages:
        if message.receive_count == 1:
            side.first_received[message.message_id] = now
        shown: dict[str, Any] = {"MessageId": message.message_id, "ReceiptHandle": _handle_out(queue, message),
                                 "MD5OfBody": _md5(message.body), "Body": message.body}
        if wanted:
            system = {"ApproximateReceiveCount": str(message.receive_count), "SenderId": queue.account,
                      "SentTimestamp": _millis(message.sent_at) if message.sent_at else "0"}
            first = side.first_received.get(message.message_id)
            if first is not None:
                system["ApproximateFirstReceiveTimestamp"] = _millis(first)
            chosen = {k: v for k, v in system.items() if "All" in wanted or k in wanted}
            if chosen:
                shown["Attributes"] = chosen
        if names and message.attributes:
            types = side.types.get(message.message_id, {})
            attributes = {k: (types.get(k, "String"), v) for k, v in message.attributes.items()
                          if _wanted_attribute(k, names)}
            if attributes:
                shown["MessageAttributes"] = {k: {"StringValue": v, "DataType": kind}
                                              for k, (kind, v) in attributes.items()}
                shown["MD5OfMessageAttributes"] = _md5_attributes(attributes)
        out.append(shown)
    side.compact(queue)
    return {"Messages": out} if out else {}


# -- deleting and changing visibility -------------------------------------------------------
def _delete(queue: Queue, handle: str) -> None:
    message_id, own = _handle_in(queue, handle)
    if queue.delete(Message(message_id, "", {}, receipt_handle=own)):
        _side(queue).forget(message_id)
    # (else: a stale handle, or deleted already: SQS answers success and may delete nothing)


@_op
def delete_message(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    _delete(world.queue(params["QueueUrl"]), params["ReceiptHandle"])
    return {}


def _each(entries: list[Mapping[str, Any]], do: Callable[[Mapping[str, Any]], None]) -> dict[str, Any]:
    """A batch call's answer: ``do`` each entry; one that fails is listed in
    ``Failed`` (``SenderFault``), not raised, as SQS answers."""
    successful, failed = [], []
    for entry in entries:
        try:
            do(entry)
        except Exception as exc:
            failed.append(_failed(entry["Id"], exc))
        else:
            successful.append({"Id": entry["Id"]})
    return {"Successful": successful, "Failed": failed}


@_op
def delete_message_batch(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    return _each(_batch(params, "DeleteMessageBatch"), lambda entry: _delete(queue, entry["ReceiptHandle"]))


def _change_visibility(queue: Queue, handle: str, timeout: Any) -> None:
    message_id, own = _handle_in(queue, handle)
    if timeout is None:
        raise AwsError("MissingParameter", "The request must contain the parameter VisibilityTimeout.")
    if not 0 <= timeout <= MAX_VISIBILITY:
        raise _invalid(f"Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and "
                       f"{MAX_VISIBILITY}, if provided.")
    try:
        queue.change_visibility(Message(message_id, "", {}, receipt_handle=own), timeout)
    except ValidationError:  # (the queue refuses a handle that is stale or no longer in flight)
        if _not_in_flight(queue, message_id, own):
            raise AwsError("MessageNotInflight", "The specified message isn't in flight.") from None
        raise _invalid(f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is "
                       "not available for visibility timeout change.") from None


@_op
def change_message_visibility(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    _change_visibility(world.queue(params["QueueUrl"]), params["ReceiptHandle"], params["VisibilityTimeout"])
    return {}


@_op
def change_message_visibility_batch(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    queue = world.queue(params["QueueUrl"])
    return _each(_batch(params, "ChangeMessageVisibilityBatch"),
                 lambda entry: _change_visibility(queue, entry["ReceiptHandle"], entry.get("VisibilityTimeout")))


# -- queue attributes -----------------------------------------------------------------------
@_op
def get_queue_attributes(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    queue = entry.queue
    now = world.clock.now()
    held = queue.store.snapshot()
    hidden = sum(1 for m in held if m.visible_at is not None and m.visible_at > now)
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


# attributes kept and shown, with no effect on delivery in process (permissions and encryption); MaximumMessageSize
# applies to the next message sent; MessageRetentionPeriod is not modelled (messages are kept until deleted)
_KEPT_ONLY = {"Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled",
              "MessageRetentionPeriod", "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds"}


@_op
def set_queue_attributes(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.queue_entry(params["QueueUrl"])
    given = {key: str(value) for key, value in params["Attributes"].items()}
    _check_queue_attributes(given)
    for key, value in given.items():
        if key not in _KEPT_ONLY and value != entry.attributes.get(key, _DEFAULTS.get(key)):
            raise ValidationError(f"eventbus sets a queue's {key} when the queue is created: give it to CreateQueue "
                                  "(SetQueueAttributes changes only attributes that do not affect delivery: "
                                  f"{', '.join(sorted(_KEPT_ONLY))})")
    entry.attributes.update(given)
    return {}
