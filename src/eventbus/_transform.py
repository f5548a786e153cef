"""What a target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer``.

A target's input is compiled once, when the target is built (``compile_input``),
and rendered for each event (``TargetInput.render``): the result is the exact
text EventBridge would deliver, shared by every attempt, or ``None`` where
EventBridge drops the delivery.

How a template is filled (AWS's rules, pinned by the AWS-verified vectors in
``tests/conformance/input_transform.jsonl``):

* A template whose text starts with ``{`` or ``[`` (after any white space) is
  a *JSON template*.  A
  placeholder in a value position is written as JSON (a string gets its
  quotes; an object or array is written as is; a path that selected nothing
  is ``""``).  Inside a string literal a string is pasted as it is, not
  escaped, and an object or array is pasted as JSON, which breaks the string:
  when the filled template is not valid JSON, AWS delivers nothing.
* Any other template is *plain text*, delivered as filled: strings as they
  are, objects and arrays as compact JSON with every ``"`` removed
  (``{acc_id:0a78,sf_id:baz}``, ``[ACTIVE,INACTIVE]``), nothing for a path
  that selected nothing.  A template written as a quoted string
  (``"instance <id> is up"``) is therefore delivered as a JSON string.
* Reserved variables: ``aws.events.rule-arn``, ``aws.events.rule-name``,
  ``aws.events.event.ingestion-time`` (strings), ``aws.events.event`` (the
  envelope without ``detail``, ``detail-type`` spelled ``detailType``) and
  ``aws.events.event.json`` (the whole event).

JSONPath: ``$``, then ``.name`` or ``['name']`` steps, ``[n]`` indexes
(negative from the end) and ``*`` / ``[*]`` wildcards.  A path with a
wildcard selects a list; a path that selects nothing leaves its variable
undefined (see above).  ``InputPath`` selecting nothing delivers nothing (AWS
documents no behaviour here; eventbus records the drop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from ._exceptions import ValidationError
from ._validate import short, wrong_type

__all__ = ["RESERVED", "JsonPath", "TargetInput", "compile_input", "event_time", "transform_input"]

MAX_INPUT = 8192  # characters of Input, and of InputTemplate
MAX_PATH = 256  # characters of InputPath and of each InputPathsMap value
MAX_VARIABLES = 100  # InputPathsMap entries
RULE_ARN, RULE_NAME, INGESTION_TIME = "aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time"
EVENT, EVENT_JSON = "aws.events.event", "aws.events.event.json"
RESERVED: Final = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON})

_KEY = re.compile(r"[A-Za-z0-9_\-]{1,256}")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_MISSING: Final = object()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is beyond a double")
    return value


# JSON as AWS reads it: no NaN or Infinity, no number beyond a double
_STRICT = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite)
_ALL: Final = object()  # a wildcard step


def event_time(when: datetime) -> str:
    """A time as EventBridge writes ``time`` and the ingestion time, in UTC:
    ``2017-12-22T18:43:48Z`` (a naive time is taken as UTC)."""
    if when.tzinfo is not None and when.utcoffset():
        when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"


# -- JSONPath ----------------------------------------------------------------------


_STEP = re.compile(r"""
    \.(?P<name>[^.\[\]\s]+)                     # .name  (or .*); no white space
  | \[\s*(?P<index>-?\d+)\s*\]                  # [0], [-1]
  | \[\s*(?P<star>\*)\s*\]                      # [*]
  | \[\s*'(?P<single>[^']*)'\s*\]               # ['name']
  | \[\s*"(?P<double>[^"]*)"\s*\]               # ["name"]
""", re.X)


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed JSONPath: the text, and its steps (a key, an index, or a wildcard)."""

    text: str
    steps: tuple[object, ...]

    @property
    def is_list(self) -> bool:
        """Whether the path has a wildcard (it then selects a list)."""
        return any(step is _ALL for step in self.steps)

    @classmethod
    def parse(cls, text: object, what: str) -> JsonPath:
        if not isinstance(text, str):
            raise wrong_type(what, text, "<class 'str'>")
        if not 1 <= len(text) <= MAX_PATH:
            raise ValidationError(f"1 validation error detected: Value '{short(text)}' at '{what}' failed to "
                                  f"satisfy constraint: Member must have length less than or equal to {MAX_PATH}"
                                  if text else f"{what} must not be empty")
        if not text.startswith("$"):
            raise ValidationError(f"{what} {text!r} is not a valid JSONPath: it must start with '$'")
        steps: list[object] = []
        at = 1
        while at < len(text):
            step = _STEP.match(text, at)
            if step is None:
                raise ValidationError(f"{what} {text!r} is not a valid JSONPath: unexpected {text[at:at + 10]!r} "
                                      f"at position {at}")
            if step["name"] is not None:
                steps.append(_ALL if step["name"] == "*" else step["name"])
            elif step["index"] is not None:
                steps.append(int(step["index"]))
            elif step["star"] is not None:
                steps.append(_ALL)
            else:
                steps.append(step["single"] if step["single"] is not None else step["double"])
            at = step.end()
        return cls(text, tuple(steps))

    def select(self, value: Any) -> Any:
        """What the path selects in ``value``: a value, a list (with a wildcard), or ``_MISSING``."""
        if not self.is_list:
            for step in self.steps:
                value = _step(value, step)
                if value is _MISSING:
                    break
            return value
        found = [value]
        for step in self.steps:
            if step is _ALL:
                found = [item for node in found
                         for item in (node.values() if isinstance(node, dict) else
                                      node if isinstance(node, list) else ())]
            else:
                found = [item for item in (_step(node, step) for node in found) if item is not _MISSING]
        return found


def _step(value: Any, step: object) -> Any:
    if isinstance(step, str):
        return value.get(step, _MISSING) if isinstance(value, dict) else _MISSING
    if isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
        return value[step]
    return _MISSING


# -- templates ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    in_string: bool  # inside a JSON string literal of a JSON template


def _split(template: str, is_json: bool) -> tuple[str | _Slot, ...]:
    """The template as literal text and slots, each slot knowing whether it
    sits inside a string literal (tracked with JSON's quoting and escapes)."""
    parts: list[str | _Slot] = []
    in_string = escaped = False
    last = at = 0
    while at < len(template):
        char = template[at]
        if char == "<" and (found := _PLACEHOLDER.match(template, at)):
            parts.append(template[last:at])
            parts.append(_Slot(found[1], is_json and in_string))
            last = at = found.end()
            escaped = False
            continue
        if in_string and escaped:
            escaped = False
        elif in_string and char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        at += 1
    parts.append(template[last:])
    return tuple(part for part in parts if part != "")


def _fill(value: Any, slot: _Slot, is_json: bool) -> str:
    """A variable's text at one slot (the rules in the module notes)."""
    if not is_json:
        if value is _MISSING:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list):
            return _COMPACT.encode(value).replace('"', "")
        return _COMPACT.encode(value)
    if slot.in_string:
        if value is _MISSING:
            return ""
        return value if isinstance(value, str) else _COMPACT.encode(value)
    return '""' if value is _MISSING else _COMPACT.encode(value)


def _is_json_template(template: str) -> bool:
    return template.lstrip()[:1] in ("{", "[")


# -- a target's input --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What the reserved variables stand for, for one (event, rule)."""

    rule_name: str
    rule_arn: str
    ingestion_time: str


class TargetInput:
    """A target's compiled input.  ``render(event, text, context)`` gives the
    text to deliver (``text`` itself when the target takes the whole event),
    or ``None`` when nothing is delivered, with the reason in ``dropped``."""

    kind: str = "event"
    needs_value = False  # whether render reads the parsed event (not only its text)

    def render(self, event: Any, text: str, context: Context) -> str | None:
        return text

    def why_dropped(self) -> str:  # pragma: no cover - only inputs that drop say why
        return ""

    def __repr__(self) -> str:
        return "<the whole event>"


class _Constant(TargetInput):
    kind = "Input"

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, event: Any, text: str, context: Context) -> str | None:
        return self.text

    def __repr__(self) -> str:
        return f"Input={short(self.text, 60)!r}"


class _Path(TargetInput):
    kind = "InputPath"
    needs_value = True

    def __init__(self, path: JsonPath) -> None:
        self.path = path

    def render(self, event: Any, text: str, context: Context) -> str | None:
        if not self.path.steps:
            return text
        value = self.path.select(event)
        return None if value is _MISSING else _COMPACT.encode(value)

    def why_dropped(self) -> str:
        return f"InputPath {self.path.text} selected nothing in the event"

    def __repr__(self) -> str:
        return f"InputPath={self.path.text!r}"


class _Template(TargetInput):
    kind = "InputTransformer"
    needs_value = True

    def __init__(self, paths: dict[str, JsonPath], template: str) -> None:
        self.paths = paths
        self.template = template
        self.is_json = _is_json_template(template)
        self.parts = _split(template, self.is_json)

    def render(self, event: Any, text: str, context: Context) -> str | None:
        values: dict[str, Any] = {}
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name = part.name
            if name in values:
                value = values[name]
            else:  # (read once, even when used twice; a path that selects nothing stays _MISSING)
                value = values[name] = self._variable(name, event, text, context)
            out.append(_fill(value, part, self.is_json))
        result = "".join(out)
        if self.is_json:
            try:
                _STRICT.decode(result)
            except (ValueError, RecursionError):
                return None
        return result

    def _variable(self, name: str, event: Any, text: str, context: Context) -> Any:
        path = self.paths.get(name)
        if path is not None:
            return path.select(event)
        if name == RULE_ARN:
            return context.rule_arn
        if name == RULE_NAME:
            return context.rule_name
        if name == INGESTION_TIME:
            return context.ingestion_time
        if name == EVENT:
            if not isinstance(event, dict):
                return event
            return {("detailType" if key == "detail-type" else key): value
                    for key, value in event.items() if key != "detail"}
        return event  # EVENT_JSON (the names were checked when compiled)

    def why_dropped(self) -> str:
        return "the InputTemplate did not make valid JSON for this event"

    def __repr__(self) -> str:
        return f"InputTransformer={short(self.template, 60)!r}"


WHOLE_EVENT: Final = TargetInput()


def _input_transformer(value: object, target_id: str) -> _Template:
    if not isinstance(value, Mapping):
        raise wrong_type("InputTransformer", value, "<class 'dict'>")
    unknown = set(value) - {"InputPathsMap", "InputTemplate"}
    if unknown:
        raise ValidationError(f'Unknown parameter in InputTransformer: "{sorted(map(str, unknown))[0]}", must be '
                              "one of: InputPathsMap, InputTemplate")
    template = value.get("InputTemplate")
    if template is None:
        raise ValidationError('Missing required parameter in InputTransformer: "InputTemplate"')
    if not isinstance(template, str):
        raise wrong_type("InputTransformer.InputTemplate", template, "<class 'str'>")
    if not 1 <= len(template) <= MAX_INPUT:
        bound = "greater than or equal to 1" if not template else f"less than or equal to {MAX_INPUT}"
        raise ValidationError("1 validation error detected: Value at 'targets.1.member.inputTransformer."
                              f"inputTemplate' failed to satisfy constraint: Member must have length {bound}")
    raw_paths = value.get("InputPathsMap") or {}
    if not isinstance(raw_paths, Mapping):
        raise wrong_type("InputTransformer.InputPathsMap", raw_paths, "<class 'dict'>")
    if len(raw_paths) > MAX_VARIABLES:
        raise ValidationError("1 validation error detected: Value at 'targets.1.member.inputTransformer."
                              "inputPathsMap' failed to satisfy constraint: Member must have length less than or "
                              f"equal to {MAX_VARIABLES}")
    paths: dict[str, JsonPath] = {}
    for key, path in raw_paths.items():  # (the pattern also keeps out AWS's reserved "AWS." keys)
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValidationError(f"InputPathsMap key {short(key)!r} for target {target_id} is not valid: use 1 to "
                                  "256 letters, digits, '_' or '-'")
        paths[key] = JsonPath.parse(path, f"InputPathsMap[{key}]")
    compiled = _Template(paths, template)
    for part in compiled.parts:
        if isinstance(part, _Slot) and part.name not in paths and part.name not in RESERVED:
            raise ValidationError(f"InputTemplate for target {target_id} contains invalid placeholder {part.name}.")
    if compiled.is_json:
        _check_no_key_slots(compiled, target_id)
    return compiled


def _check_no_key_slots(compiled: _Template, target_id: str) -> None:
    """AWS: in a JSON template, a placeholder cannot be an object key."""
    parts = compiled.parts
    for at, part in enumerate(parts):
        if isinstance(part, _Slot) and not part.in_string:
            after = parts[at + 1] if at + 1 < len(parts) else ""
            if isinstance(after, str) and after.lstrip().startswith(":"):
                raise ValidationError(f"InputTemplate for target {target_id} uses placeholder <{part.name}> as an "
                                      "object key: in a JSON template a placeholder can only be a value")


def compile_input(*, input: object = None, input_path: object = None, input_transformer: object = None,
                  target_id: str = "target") -> TargetInput:
    """Check a target's input settings once, in AWS's words, and compile them."""
    given = sum(option is not None for option in (input, input_path, input_transformer))
    if given > 1:
        raise ValidationError(f"Only one of Input, InputPath, or InputTransformer must be provided for target "
                              f"{target_id}.")
    if input is not None:
        if not isinstance(input, str):
            raise wrong_type("Input", input, "<class 'str'>")
        if len(input) > MAX_INPUT:
            raise ValidationError("1 validation error detected: Value at 'targets.1.member.input' failed to "
                                  f"satisfy constraint: Member must have length less than or equal to {MAX_INPUT}")
        try:
            _STRICT.decode(input)
        except (ValueError, RecursionError):
            raise ValidationError(f"Input for target {target_id} is not valid JSON text: {short(input)}") from None
        return _Constant(input)
    if input_path is not None:
        return _Path(JsonPath.parse(input_path, "InputPath"))
    if input_transformer is not None:
        return _input_transformer(input_transformer, target_id)
    return WHOLE_EVENT


def transform_input(
    event: Any,
    *,
    input: str | None = None,
    input_path: str | None = None,
    input_transformer: Mapping[str, Any] | None = None,
    rule_name: str | None = None,
    rule_arn: str | None = None,
    ingestion_time: datetime | str | None = None,
    target_id: str | None = None,
) -> str | None:
    """The exact text EventBridge delivers to a target for ``event``, or ``None``
    where EventBridge delivers nothing.

    ``event`` is the event (a ``dict``, or its JSON text); ``input``,
    ``input_path`` and ``input_transformer`` (``{"InputPathsMap": {...},
    "InputTemplate": "..."}``) are the target's settings, at most one of them;
    ``rule_name``, ``rule_arn`` and ``ingestion_time`` fill the reserved
    variables.  Bad settings raise ``ValidationError`` with AWS's text.
    """
    compiled = compile_input(input=input, input_path=input_path, input_transformer=input_transformer,
                             target_id="target" if target_id is None else target_id)
    if isinstance(event, str | bytes | bytearray):
        try:
            text = event.decode("utf-8") if isinstance(event, bytes | bytearray) else event
            value = _STRICT.decode(text)
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            raise ValidationError("Parameter Event is not valid.") from None
    else:
        try:
            text = _COMPACT.encode(event)  # compact: the text a target receives, byte for byte
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(f"Parameter Event is not valid: {exc}") from None
        value = event
    for name, given in (("rule_name", rule_name), ("rule_arn", rule_arn), ("target_id", target_id)):
        if given is not None and not isinstance(given, str):
            raise wrong_type(name, given, "<class 'str'>")
    if ingestion_time is not None and not isinstance(ingestion_time, datetime | str):
        raise wrong_type("ingestion_time", ingestion_time, "<class 'datetime.datetime'>, <class 'str'>")
    if isinstance(ingestion_time, datetime):
        ingestion_time = event_time(ingestion_time)
    context = Context(rule_name or "", rule_arn or "", ingestion_time or "")
    return compiled.render(value, text, context)
