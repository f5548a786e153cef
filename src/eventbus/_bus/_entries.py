"""PutEvents: AWS's request and response shapes, validation, and the envelope.

A request is checked in two steps, as AWS checks it.  Request-level problems
(not a list, more than 10 entries, a wrong type, an unknown field, a total
size over 256 KB) refuse the whole call with ``ValidationError``.  Entry-level
problems (a missing ``Source``, a ``Detail`` that is not a JSON object, an
unknown bus) fail only that entry: the response lists it with AWS's
``ErrorCode`` and ``ErrorMessage``, in request order, and the other entries
go ahead.

Size, as AWS computes it: 14 bytes if ``Time`` is given, plus the UTF-8
bytes of ``Source``, ``DetailType``, ``Detail`` and each of ``Resources``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NotRequired, TypedDict

from typing_extensions import ReadOnly

from .._delivery._payload import STRICT
from .._exceptions import ValidationError
from .._stack import on_a_fresh_stack
from .._validate import short, wrong_type

__all__ = ["MAX_ENTRIES", "MAX_REQUEST_BYTES", "Accepted", "EntryError", "PutEventsRequestEntry",
           "PutEventsResponse", "PutEventsResultEntry", "check_request", "read_entry"]

MAX_ENTRIES: Final = 10
MAX_REQUEST_BYTES: Final = 256 * 1024
MAX_TRACE_HEADER: Final = 500
_FIELDS: Final = ("Time", "Source", "Resources", "DetailType", "Detail", "EventBusName", "TraceHeader")
_INT64: Final = 2**63


class PutEventsRequestEntry(TypedDict):
    """One entry of ``put_events``, in AWS's shape (all fields optional to the
    type checker; ``Source``, ``DetailType`` and ``Detail`` are required by AWS,
    per entry)."""

    Time: ReadOnly[NotRequired[datetime | str | int | float]]
    Source: ReadOnly[NotRequired[str]]
    Resources: ReadOnly[NotRequired[Sequence[str]]]
    DetailType: ReadOnly[NotRequired[str]]
    Detail: ReadOnly[NotRequired[str]]
    EventBusName: ReadOnly[NotRequired[str]]
    TraceHeader: ReadOnly[NotRequired[str]]


class PutEventsResultEntry(TypedDict):
    """One entry of the response: ``EventId``, or ``ErrorCode`` and ``ErrorMessage``."""

    EventId: NotRequired[str]
    ErrorCode: NotRequired[str]
    ErrorMessage: NotRequired[str]


class PutEventsResponse(TypedDict):
    """``put_events``'s response: the failed count and one result per entry, in order."""

    FailedEntryCount: int
    Entries: list[PutEventsResultEntry]


@dataclass(frozen=True, slots=True)
class EntryError:
    """An entry AWS would fail: its ``ErrorCode`` and ``ErrorMessage``."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid entry, read: what the envelope is built from."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    resources: list[str]
    time: datetime | None
    bus_name: str | None
    trace_header: str | None


def _java(value: object) -> str:
    """A value as AWS's Java ``toString`` writes it in a validation message."""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java(item) for item in value) + "]"
    return str(value)


def _entry_text(entry: Mapping[str, Any]) -> str:
    fields = (("time", entry.get("Time")), ("source", entry.get("Source")), ("resources", entry.get("Resources")),
              ("detailType", entry.get("DetailType")), ("detail", entry.get("Detail")),
              ("eventBusName", entry.get("EventBusName")), ("traceHeader", entry.get("TraceHeader")),
              ("kmsKeyIdentifier", None), ("internalMetadata", None))
    return "PutEventsRequestEntry(" + ", ".join(f"{name}={_java(value)}" for name, value in fields) + ")"


def _check_types(entry: object, at: int) -> Mapping[str, Any]:
    where = f"Entries[{at}]"
    if not isinstance(entry, Mapping):
        raise wrong_type(where, entry, "<class 'dict'>")
    for key in entry:
        if key not in _FIELDS:
            raise ValidationError(f'Unknown parameter in {where}: "{short(key)}", must be one of: '
                                  + ", ".join(_FIELDS))
    for key in ("Source", "DetailType", "Detail", "EventBusName", "TraceHeader"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise wrong_type(f"{where}.{key}", value, "<class 'str'>")
        if value == "" and key in ("EventBusName", "TraceHeader"):  # botocore checks these lengths itself
            raise ValidationError(f"Invalid length for parameter {where}.{key}, value: 0, valid min length: 1")
    resources = entry.get("Resources")
    if resources is not None:
        if isinstance(resources, str | bytes) or not isinstance(resources, Sequence):
            raise wrong_type(f"{where}.Resources", resources, "<class 'list'>, <class 'tuple'>")
        for k, resource in enumerate(resources):
            if not isinstance(resource, str):
                raise wrong_type(f"{where}.Resources[{k}]", resource, "<class 'str'>")
    when = entry.get("Time")
    if when is not None and (isinstance(when, bool) or not isinstance(when, datetime | str | int | float)):
        raise wrong_type(f"{where}.Time", when, "<class 'datetime.datetime'>, timestamp")
    return entry


def _size(entry: Mapping[str, Any]) -> int:
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value is not None:
            size += len(value.encode("utf-8", "surrogatepass"))
    for resource in entry.get("Resources") or ():
        size += len(resource.encode("utf-8", "surrogatepass"))
    return size


def check_request(entries: object) -> list[Mapping[str, Any]]:
    """The request-level checks; the entries, type-checked."""
    if isinstance(entries, Mapping | str | bytes) or not isinstance(entries, Sequence):
        raise wrong_type("Entries", entries, "<class 'list'>, <class 'tuple'>")
    if not entries:
        raise ValidationError("Invalid length for parameter Entries, value: 0, valid min length: 1")
    checked = [_check_types(entry, at) for at, entry in enumerate(entries)]
    if len(checked) > MAX_ENTRIES:
        listed = ", ".join(_entry_text(entry) for entry in checked)
        raise ValidationError(f"1 validation error detected: Value '[{listed}]' at 'entries' failed to satisfy "
                              f"constraint: Member must have length less than or equal to {MAX_ENTRIES}")
    if sum(map(_size, checked)) > MAX_REQUEST_BYTES:
        raise ValidationError("Total size of the entries in the request is over the limit.")
    return checked


def _required(name: str) -> EntryError:
    return EntryError("InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument.")


_MALFORMED: Final = EntryError("MalformedDetail", "Detail is malformed.")


def _check_numbers(value: Any) -> bool:
    """Whether every integer fits a signed 64-bit integer (AWS's limit) and every
    other number a double, iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and not -_INT64 <= item < _INT64:
            return False
        elif isinstance(item, float) and not math.isfinite(item):
            return False
    return True


_DECODER: Final = STRICT  # (the delivery layer's: JSON, and only JSON)


def _parse_time(value: datetime | str | int | float) -> datetime | None:
    """``Time`` as boto3 takes it: an aware or naive (UTC) ``datetime``, ISO 8601
    text, or seconds since the epoch.  ``None`` when it is not a time."""
    try:
        return _utc(value)
    except (OverflowError, ValueError):  # (a time so near year 1 or 9999 that UTC falls outside)
        return None


def _utc(value: datetime | str | int | float) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        try:
            return _utc(float(value))
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_entry(entry: Mapping[str, Any]) -> Accepted | EntryError:
    """One type-checked entry, read; or the entry-level error AWS gives it."""
    source, detail_type, detail_text = entry.get("Source"), entry.get("DetailType"), entry.get("Detail")
    if not source:
        return _required("Source")
    if not detail_type:
        return _required("DetailType")
    if detail_text is None:
        return _required("Detail")
    try:
        try:
            detail = _DECODER.decode(detail_text)
        except RecursionError:  # deep, or called from deep in the stack
            detail = on_a_fresh_stack(_DECODER.decode, detail_text)
    except (ValueError, RecursionError):
        return _MALFORMED
    if not isinstance(detail, dict) or not _check_numbers(detail):
        return _MALFORMED
    if source.startswith("aws."):
        return EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")
    trace = entry.get("TraceHeader")
    if trace is not None and not 1 <= len(trace) <= MAX_TRACE_HEADER:
        return EntryError("InvalidArgument", "Parameter TraceHeader is not valid. Reason: TraceHeader must be 1 to "
                                             f"{MAX_TRACE_HEADER} characters.")
    when = entry.get("Time")
    parsed: datetime | None = None
    if when is not None:
        parsed = _parse_time(when)
        if parsed is None:
            return EntryError("InvalidArgument", f"Parameter Time is not valid. Reason: {short(when)} is not a "
                                                 "time.")
    return Accepted(_plain(source), _plain(detail_type), detail, [_plain(r) for r in entry.get("Resources") or ()],
                    parsed, entry.get("EventBusName"), trace)


def _plain(text: str) -> str:
    """The text as a plain ``str`` (what goes into an event is JSON's string, not
    the caller's ``str`` subclass, whose attributes targets would share)."""
    return text if type(text) is str else str.__str__(text)
