"""Pipes input templates: ``<$.json.path>`` placeholders and ``<aws.pipes.*>``.

A Pipes ``InputTemplate`` (for the enrichment, and for the target) is one of
(AWS's Pipes user guide, "input transformation"):

* static text, or text with placeholders: the result is a string;
* one placeholder alone, ``<$.body.order>``: the value it selects;
* JSON with placeholders: the result is JSON.  As the guide says, a
  placeholder for a string goes inside quotes (``"<$.body.name>"``) and one
  for an object or array does not (``<$.body.items>``).

Placeholders are JSONPaths into the record (dot notation, array indices,
``*``), or the reserved variables ``aws.pipes.pipe-arn``, ``pipe-name``,
``source-arn``, ``enrichment-arn``, ``target-arn``,
``event.ingestion-time`` (the time the record reached the transformer),
``event`` (the record as JSON text) and ``event.json`` (the record itself;
only as a JSON value).  Values are rendered by the rules of EventBridge's
input transformer (``_transform``), which this module reuses: a path that
selects nothing leaves nothing (``""`` in JSON value position), objects and
arrays go in as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .._exceptions import ValidationError
from .._transform import _COMPACT, _MISSING, _STRICT, MAX_INPUT, JsonPath, _fill, _is_json_template, _Slot, _split
from .._validate import check_str, out_of_range, short

__all__ = ["PIPE_RESERVED", "PipeContext", "PipeTemplate", "compile_pipe_template"]

PIPE_ARN, PIPE_NAME, SOURCE_ARN = "aws.pipes.pipe-arn", "aws.pipes.pipe-name", "aws.pipes.source-arn"
ENRICHMENT_ARN, TARGET_ARN = "aws.pipes.enrichment-arn", "aws.pipes.target-arn"
INGESTION_TIME, EVENT, EVENT_JSON = "aws.pipes.event.ingestion-time", "aws.pipes.event", "aws.pipes.event.json"
PIPE_RESERVED: Final = frozenset({PIPE_ARN, PIPE_NAME, SOURCE_ARN, ENRICHMENT_ARN, TARGET_ARN, INGESTION_TIME, EVENT,
                                  EVENT_JSON})


@dataclass(frozen=True, slots=True)
class PipeContext:
    """What the reserved variables stand for, for one pipe and one record."""

    pipe_arn: str
    pipe_name: str
    source_arn: str
    enrichment_arn: str
    target_arn: str
    ingestion_time: str


class PipeTemplate:
    """A compiled Pipes ``InputTemplate``; ``render(record, context)`` gives the value
    to pass on (a JSON value), or raises ``ValidationError`` when a JSON template
    does not make JSON for this record."""

    __slots__ = ("is_json", "parts", "paths", "template")

    def __init__(self, template: str, parts: tuple[str | _Slot, ...], paths: dict[str, JsonPath]) -> None:
        self.template = template
        self.parts = parts
        self.paths = paths
        self.is_json = _is_json_template(template)

    def __repr__(self) -> str:
        return f"<PipeTemplate {short(self.template, 60)!r}>"

    def render(self, record: Any, context: PipeContext) -> Any:
        parts = self.parts
        if len(parts) == 1 and isinstance(parts[0], _Slot):  # one placeholder alone: the value itself
            value = self._variable(parts[0].name, record, context)
            return None if value is _MISSING else value
        out: list[str] = []
        values: dict[str, Any] = {}
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name = part.name
            if name not in values:
                values[name] = self._variable(name, record, context)
            out.append(_fill(values[name], part, self.is_json))
        text = "".join(out)
        if not self.is_json:
            return text
        try:
            return _STRICT.decode(text)
        except (ValueError, RecursionError):
            raise ValidationError(f"The InputTemplate {short(self.template, 60)!r} does not make valid JSON for "
                                  f"this record: {short(text, 120)}") from None

    def _variable(self, name: str, record: Any, context: PipeContext) -> Any:
        path = self.paths.get(name)
        if path is not None:
            return path.select(record)
        if name == EVENT_JSON:
            return record
        if name == EVENT:
            return _COMPACT.encode(record)
        return {PIPE_ARN: context.pipe_arn, PIPE_NAME: context.pipe_name, SOURCE_ARN: context.source_arn,
                ENRICHMENT_ARN: context.enrichment_arn, TARGET_ARN: context.target_arn,
                INGESTION_TIME: context.ingestion_time}[name]


def compile_pipe_template(template: object, what: str) -> PipeTemplate:
    """Check and compile an ``InputTemplate`` (``what`` names the parameter)."""
    check_str(what, template)
    assert isinstance(template, str)
    if not template:
        raise out_of_range(what, template, "Member must have length greater than or equal to 1")
    if len(template) > MAX_INPUT:
        raise out_of_range(what, template, f"Member must have length less than or equal to {MAX_INPUT}")
    is_json = _is_json_template(template)
    parts = _split(template, is_json)
    paths: dict[str, JsonPath] = {}
    for part in parts:
        if not isinstance(part, _Slot):
            continue
        name = part.name
        if name.startswith("$"):
            paths[name] = JsonPath.parse(name, what)
        elif name not in PIPE_RESERVED:
            raise ValidationError(f"{what} has an unknown placeholder <{short(name, 60)}>: use a JSONPath "
                                  "(<$.body.field>) or one of " + ", ".join(f"<{v}>" for v in sorted(PIPE_RESERVED)))
        elif name == EVENT_JSON and (not is_json or part.in_string):
            raise ValidationError(f"{what}: <{EVENT_JSON}> can only be the value of a JSON field, not text")
    return PipeTemplate(template, parts, paths)
