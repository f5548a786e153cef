"""The payload rule, in one place.

* **Deliveries carry JSON values.**  ``Target.deliver(event)`` and the
  destination protocol ``deliver(payload, attributes)`` (what targets,
  dead-letter queues and failure destinations call) take a JSON value: a
  ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None``.  A
  ``str`` is a JSON string value (a queue then holds it as ``"text"``, with
  quotes, as an SQS target of EventBridge does); ``bytes`` are refused.
* **API calls take AWS's wire form.**  ``Queue.send(body)`` takes the
  message body: ``str`` as is, ``bytes`` as UTF-8, anything else as compact
  JSON.  ``Function.invoke(payload)`` takes the payload: ``str`` or
  ``bytes`` as JSON text (as boto3's ``Payload=``), anything else as a JSON
  value.

Everywhere: ``NaN`` and ``Infinity`` are refused (they are not JSON), text
must be valid Unicode (no lone surrogates, bytes must be UTF-8), and values
may nest at most ``MAX_DEPTH`` (200) objects and arrays deep, whatever the
caller's stack.  Message attributes are strings; other JSON values are
stored as JSON text.  Every refusal is a ``ValidationError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import ValidationError
from .._stack import on_a_fresh_stack
from .._validate import short, wrong_type

__all__ = ["COMPACT", "MAX_ATTRIBUTES", "MAX_DEPTH", "STRICT", "Parsed", "check_depth", "first_kb", "loads",
           "parse_text", "to_attributes", "to_text", "value_of", "wire_text"]

MAX_DEPTH = 200  # objects and arrays, as for event patterns
MAX_ATTRIBUTES = 10  # SQS's limit on message attributes
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_\-.]{1,256}")
# made once: json.dumps with options builds a new encoder on every call
COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def check_depth(text: str, what: str) -> None:
    """Refuse JSON text nesting deeper than ``MAX_DEPTH``.  (A cheap count rules
    out almost every payload; only those with many brackets are scanned.)"""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for char in _NOT_BRACKET.sub("", _STRING.sub('""', text)):
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what} nests deeper than {MAX_DEPTH} levels")


def _check_unicode(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} is not valid Unicode text: {exc.reason} at position {exc.start}") from None


def to_text(value: Any, what: str) -> str:
    """A JSON value as compact JSON text (refusing what is not JSON)."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise wrong_type(what, value, "a JSON value (dict, list, str, int, float, bool or None)")
    def dump() -> str:
        return COMPACT.encode(value)

    try:
        try:
            text = dump()
        except RecursionError:
            text = on_a_fresh_stack(dump)
    except RecursionError:
        raise ValidationError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not JSON-serialisable: {exc}") from None
    check_depth(text, what)
    _check_unicode(text, what)
    return text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_text(text: str | bytes | bytearray, what: str) -> tuple[str, Any]:
    """JSON text (``str`` or UTF-8 ``bytes``) as ``(text, value)``, checked."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    _check_unicode(text, what)
    check_depth(text, what)
    value = loads(text, what, STRICT.decode)
    return text, value


STRICT = json.JSONDecoder(parse_constant=_refuse_constant)  # JSON, and only JSON: no NaN or Infinity


def value_of(body: str) -> Any:
    """What a callable receives: the delivered text as a JSON value (a fresh copy
    each call), or as a ``str`` when it is not JSON (a plain-text template)."""
    try:
        value, end = _scan(body, 0)  # the C scanner: the text is compact JSON, most of the time
    except (StopIteration, ValueError, RecursionError):
        end = -1
    if end == len(body):
        return value
    try:
        return loads(body)
    except ValidationError:
        return body


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(text: str, what: str = "payload", decode: Callable[[str], Any] = json.loads) -> Any:
    """JSON text (checked for depth already) as a value, whatever the caller's stack."""
    try:
        try:
            return decode(text)
        except RecursionError:
            return on_a_fresh_stack(decode, text)
    except ValueError as exc:
        raise ValidationError(f"Could not parse {what} into json: {exc}") from None


def wire_text(body: Any, what: str) -> str:
    """An API call's text: ``str`` as is, ``bytes`` as UTF-8, other values as JSON."""
    if isinstance(body, str):
        _check_unicode(body, what)
        return body
    if isinstance(body, bytes | bytearray):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{what} is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    return to_text(body, what)


def to_attributes(attributes: object, what: str = "attributes") -> dict[str, str] | None:
    """Message attributes as a fresh ``dict`` of strings (JSON text for other
    values); ``None`` when there are none."""
    if attributes is None:
        return None
    if not isinstance(attributes, Mapping):
        raise wrong_type(what, attributes, "a mapping of attribute names to values")
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationError(f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
                              f"[{MAX_ATTRIBUTES}].")
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not _ATTRIBUTE_NAME.fullmatch(name):
            raise ValidationError(f"Message attribute name '{short(name)}' is invalid: use 1 to 256 letters, "
                                  "digits, '_', '-' or '.'")
        if isinstance(value, str):
            _check_unicode(value, f"message attribute {name}")
            out[name] = value
        else:
            out[name] = to_text(value, f"message attribute {name}")
    return out or None


def first_kb(text: str) -> str:
    """The first 1 KB of ``text`` as UTF-8, cut on a character boundary (AWS's
    ``ErrorMessage``: the first 1 KB of the error message)."""
    data = text.encode("utf-8", "replace")[:1024]  # (a lone surrogate becomes "?")
    return data.decode("utf-8", "ignore")  # drops only a character cut in two at the end


class Parsed:
    """A JSON value parsed once and handed out as fresh copies: what the
    deliveries of one event share (a bus's fan-out to many callables, and each
    delivery's attempts), so that each call gets its own value without parsing
    the text again.  The copy is made from a plan of where the value's objects
    and arrays are (worked out once), so its strings and numbers are shared
    (they cannot change) and only the containers are built again, at C speed."""

    __slots__ = ("_plan", "_value")

    def __init__(self, value: Any) -> None:
        self._value = value
        self._plan = _plan_of(value) if type(value) is dict or type(value) is list else None

    def copy(self) -> Any:
        """A fresh copy (a deep one: changing it changes nothing else)."""
        plan = self._plan
        return self._value if plan is None else _copy(self._value, plan)


_Plan = tuple[tuple[Any, "_Plan"], ...]


def _plan_of(value: dict[str, Any] | list[Any]) -> _Plan:
    """Where the containers inside ``value`` are: ``((key or index, their plan), ...)``."""
    pairs = value.items() if type(value) is dict else enumerate(value)
    return tuple((key, _plan_of(item)) for key, item in pairs if type(item) is dict or type(item) is list)


def _copy(value: Any, plan: _Plan) -> Any:
    out = value.copy()
    for key, inner in plan:
        out[key] = _copy(value[key], inner) if inner else value[key].copy()
    return out
