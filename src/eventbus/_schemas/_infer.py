"""Schema inference: the JSON Schema (Draft 4) of EventBridge events, and its join.

``infer(event)`` describes one event; ``merge(a, b)`` describes every event
either schema describes.  Schema discovery folds the events of one
``(source, detail-type)`` into one schema, so the discovered schema must not
depend on the order the events arrived in: ``merge`` is a join (commutative,
associative, idempotent), and folding events in one by one gives the schema
that merging their inferred schemas gives, in any order and grouping.

The shape is the one EventBridge exports for its schemas (``aws.events``'s
``aws.ec2@EC2InstanceStateChangeNotification`` in JSONSchemaDraft4): a root
``"type": "object"`` with ``$schema``, ``title`` (the detail-type in
CamelCase), the envelope's ``properties`` and ``required``, the detail under
``definitions/<title>`` with a ``$ref`` to it, and ``x-amazon-events-source``
and ``x-amazon-events-detail-type``.  Nested objects stay inline (AWS names
each in ``definitions``; inline keeps the join a plain walk of two trees).

Every node below the root is one of:

* ``{}``: anything (a container nested deeper than ``MAX_DEPTH`` levels,
  where AWS's discoverer stops: "Discoverer will only infer events that are
  nested up to 255 levels");
* ``{"type": T | [T, ...], ...}`` with the keywords of its types: ``format:
  date-time`` for strings (only while every string seen there was an RFC 3339
  date-time), ``properties`` and ``required`` for objects (``required``: the
  keys every object seen there had; left out when none, as Draft 4 wants it
  non-empty), ``items`` for arrays (left out while every array seen was
  empty).  Keywords apply only to instances of their own type, so one node
  holds a union of types without ``anyOf``.  ``integer`` and ``number`` join
  to ``number``; ``null`` joins like any type; a list of types is sorted;
* ``{"type": "object"}`` (with any other types), without ``properties`` or
  ``required``: a *collapsed* object, which stands for any object.  An object
  node collapses when the objects seen there had more than
  ``MAX_PROPERTIES`` (256) distinct keys between them: keys that keep coming
  are data (ids, dates, names of things), not the fields of a record, and
  a property per key would grow the schema, and the work of writing it, with
  every event.  Why 256: it leaves room for wide records (written by hand,
  an event's object rarely has more than a few dozen fields), and at the 40
  to 100 characters a property takes (its name, its node, its place in
  ``required``) it bounds one node to a few tens of kilobytes, well inside
  the content limit of 100,000 characters.  The price: an object whose keys
  vary widely from event to event (one shape per caller) is left open once
  it has seen 257 of them.  This stays a join: the keys of a node only grow,
  so whether they pass the bound does not depend on the order events arrive
  in, and a collapsed node joined with any object node is collapsed.

These rules make every schema canonical (one JSON value per set of events
seen), so equal schemas compare equal as values and as sorted JSON text.

``widen(shape, excess)`` is the one step outside the lattice: a schema
discovery cannot write (its content would pass the limit) is made smaller by
collapsing object nodes, the widest first, until it fits.  It stays a schema
of every event seen (a collapsed node admits any object), but which nodes
collapse depends on when the limit was reached.

The work is done by ``Shape``, a mutable accumulator with the same lattice:
``absorb`` takes an event (one walk that builds nothing; it reports whether
anything changed, so a discoverer that has seen an event's shape before pays
that walk and no more), ``absorb_schema`` takes a schema, and ``render``
builds the schema.  Each walk is linear in what it reads: an array's
elements fold into one accumulator, and an object's ``required`` shrinks by
set intersection.  Recursion is bounded by ``MAX_DEPTH``; a call from deep in
the caller's stack reruns on a fresh one (``eventbus._stack``).

Pure functions: no clock, no registry, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final, TypeVar

from .._exceptions import ValidationError
from .._stack import deep, on_a_fresh_stack
from .._validate import check_instance, short

__all__ = ["CANONICAL", "DETAIL_TYPE_KEY", "DRAFT4", "MAX_DEPTH", "MAX_PROPERTIES", "MAX_SCHEMA_NAME", "SOURCE_KEY",
           "Shape", "absorb_event", "deep", "dress", "infer", "is_date_time", "labels", "merge", "schema_name_for",
           "schema_name_unchecked", "title_for", "undress", "widen"]

DRAFT4: Final = "http://json-schema.org/draft-04/schema#"
MAX_DEPTH: Final = 255  # levels of containers (the event itself is level 1)
MAX_SCHEMA_NAME: Final = 385  # characters of a schema name
MAX_PROPERTIES: Final = 256  # distinct keys an object node describes one by one; past it, it collapses (see above)
SOURCE_KEY: Final = "x-amazon-events-source"
DETAIL_TYPE_KEY: Final = "x-amazon-events-detail-type"

# Type bits, in the order a list of types is written (alphabetical).
_ARRAY, _BOOLEAN, _INTEGER, _NULL, _NUMBER, _OBJECT, _STRING = 1, 2, 4, 8, 16, 32, 64
_TYPES: Final = ((_ARRAY, "array"), (_BOOLEAN, "boolean"), (_INTEGER, "integer"), (_NULL, "null"),
                 (_NUMBER, "number"), (_OBJECT, "object"), (_STRING, "string"))
_BITS: Final = {name: bit for bit, name in _TYPES}

# RFC 3339 section 5.6 ``date-time`` (its ABNF is case-insensitive: ``t`` and ``z`` too).
_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))", re.ASCII)
_DAYS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_WORD: Final = re.compile(r"[0-9A-Za-z]+")
_NOT_IN_NAME: Final = re.compile(r"[^0-9A-Za-z._-]")  # what a schema name's source part may not hold
#: The text a schema is written (and measured) as: sorted keys, no spaces, characters as they are.
CANONICAL: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)

T = TypeVar("T")


def is_date_time(text: str) -> bool:
    """Whether ``text`` is an RFC 3339 ``date-time`` (JSON Schema's ``format:
    date-time``): a real calendar date, hours 00-23, minutes 00-59, seconds
    00-60 (a leap second), an offset up to 23:59."""
    found = _DATE_TIME.fullmatch(text)
    if found is None:
        return False
    year, month, day, hour, minute, second, off_hour, off_minute = found.groups()
    m = int(month)
    if not 1 <= m <= 12 or int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return False
    y = int(year)
    leap = m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= int(day) <= _DAYS[m - 1] + leap:
        return False
    return off_hour is None or (int(off_hour) <= 23 and int(off_minute) <= 59)


class Shape:
    """What the values seen at one place of an event had in common: the
    accumulator behind ``infer`` and ``merge`` (see the module's docstring).

    ``types`` is a bit set; ``date_time`` holds while every string seen was a
    date-time; ``props`` and ``required`` (``None`` until an object is seen)
    describe objects; ``collapsed``: they no longer do (any object; ``props``
    and ``required`` are ``None``); ``items`` the elements of arrays
    (``None`` until one is seen); ``anything`` is the ``{}`` beyond the depth
    limit, which absorbs everything.
    """

    __slots__ = ("anything", "collapsed", "date_time", "items", "props", "required", "types")

    def __init__(self) -> None:
        self.anything = False
        self.collapsed = False
        self.types = 0
        self.date_time = True
        self.props: dict[str, Shape] | None = None
        self.required: set[str] | None = None
        self.items: Shape | None = None

    def _become_anything(self) -> bool:
        self.anything = True
        self.collapsed = False
        self.types = 0
        self.props = self.required = self.items = None
        return True

    def collapse(self) -> bool:
        """Describe objects no more: any object (what was kept of them is freed)."""
        self.collapsed = True
        self.props = self.required = None
        return True

    # -- events ------------------------------------------------------------------
    def absorb(self, value: Any, depth: int = 1) -> bool:
        """Fold a JSON value (at container level ``depth``) in; whether the
        schema changed.  Hot path: discovery calls it once per event."""
        if self.anything:
            return False
        kind = type(value)
        if kind is str:
            changed = not self.types & _STRING
            self.types |= _STRING
            if self.date_time and not is_date_time(value):
                self.date_time = False
                changed = True
            return changed
        if kind is dict:
            return self._absorb_object(value, depth)
        if kind is list:
            return self._absorb_array(value, depth)
        if kind is int:
            bit = _INTEGER
        elif kind is float:
            bit = _NUMBER
        elif kind is bool:
            bit = _BOOLEAN
        elif value is None:
            bit = _NULL
        else:
            return self._absorb_other(value, depth)
        changed = not self.types & bit
        self.types |= bit
        return changed

    def _absorb_object(self, value: dict[str, Any], depth: int) -> bool:
        if depth > MAX_DEPTH:
            return self._become_anything()
        changed = not self.types & _OBJECT
        self.types |= _OBJECT
        if self.collapsed:
            return changed
        required = self.required
        if required is None:
            self.required = set(value)
            changed = True
        elif len(value) < len(required) or not required <= value.keys():
            before = len(required)
            required.intersection_update(value)  # O(len(value)): iterates the object
            changed = changed or len(required) != before
        props = self.props
        if props is None:
            props = self.props = {}
        inner = depth + 1
        for key, item in value.items():
            shape = props.get(key)
            if shape is None:
                if len(props) >= MAX_PROPERTIES:
                    return self.collapse()
                shape = props[key] = Shape()
                changed = True
            if shape.absorb(item, inner):
                changed = True
        return changed

    def _absorb_array(self, value: list[Any], depth: int) -> bool:
        if depth > MAX_DEPTH:
            return self._become_anything()
        changed = not self.types & _ARRAY
        self.types |= _ARRAY
        if value:
            items = self.items
            if items is None:
                items = self.items = Shape()
                changed = True
            inner = depth + 1
            for item in value:
                if items.absorb(item, inner):
                    changed = True
        return changed

    def _absorb_other(self, value: Any, depth: int) -> bool:
        """Subclasses of the JSON types (``bool`` has none)."""
        if isinstance(value, int):
            return self.absorb(int(value), depth)
        if isinstance(value, float):
            return self.absorb(float(value), depth)
        if isinstance(value, str):
            return self.absorb(str.__str__(value), depth)
        if isinstance(value, dict):
            return self._absorb_object(value, depth)
        if isinstance(value, list):
            return self._absorb_array(value, depth)
        raise ValidationError(f"An event is JSON: a {type(value).__name__} ({short(value)}) is not a JSON value")

    # -- schemas -----------------------------------------------------------------
    def absorb_schema(self, node: Mapping[str, Any]) -> None:
        """Fold in a node of a schema that ``render`` built."""
        if self.anything:
            return
        declared = node.get("type")
        if declared is None:
            self._become_anything()
            return
        bits = 0
        for name in [declared] if isinstance(declared, str) else declared:
            bits |= _BITS.get(name, 0)
        self.types |= bits
        if bits & _STRING and node.get("format") != "date-time":
            self.date_time = False
        if bits & _OBJECT and not self.collapsed:
            if "properties" not in node:  # (render writes properties for every object node but a collapsed one)
                self.collapse()
            else:
                props = self.props
                if props is None:
                    props = self.props = {}
                for key, inner in node["properties"].items():
                    shape = props.get(key)
                    if shape is None:
                        shape = props[key] = Shape()
                    shape.absorb_schema(inner)
                seen = set(node.get("required") or ())
                if self.required is None:
                    self.required = seen
                else:
                    self.required &= seen
                if len(props) > MAX_PROPERTIES:
                    self.collapse()
        if bits & _ARRAY and "items" in node:
            if self.items is None:
                self.items = Shape()
            self.items.absorb_schema(node["items"])

    def render(self) -> dict[str, Any]:
        """The schema node (canonical: see the module's docstring)."""
        if self.anything:
            return {}
        bits = self.types
        if bits & _NUMBER:
            bits &= ~_INTEGER
        names = [name for bit, name in _TYPES if bits & bit]
        node: dict[str, Any] = {"type": names[0] if len(names) == 1 else names}
        if bits & _STRING and self.date_time:
            node["format"] = "date-time"
        if bits & _OBJECT and not self.collapsed:
            props = self.props or {}
            node["properties"] = {key: props[key].render() for key in sorted(props)}
            if self.required:
                node["required"] = sorted(self.required)
        if bits & _ARRAY and self.items is not None:
            node["items"] = self.items.render()
        return node

    def _skeleton(self, collapsed: bool) -> dict[str, Any]:
        """``render()`` of this node alone (``collapsed``: as if collapsed), each
        schema below it written ``0``: one character in its place."""
        saved = self.props, self.required, self.items, self.collapsed
        try:
            if collapsed:
                self.collapsed = True
            if self.props is not None:
                self.props = dict.fromkeys(self.props, _PLACEHOLDER)
            if self.items is not None:
                self.items = _PLACEHOLDER
            return self.render()
        finally:
            self.props, self.required, self.items, self.collapsed = saved


class _Placeholder(Shape):
    """A schema below the node being measured: renders as ``0``."""

    __slots__ = ()

    def render(self) -> Any:
        return 0


_PLACEHOLDER: Final = _Placeholder()


class _Measured:
    """An object node's sizes, in characters of its canonical text."""

    __slots__ = ("depth", "full", "own", "parent", "shape", "when_collapsed")

    def __init__(self, shape: Shape, parent: int, depth: int) -> None:
        self.shape = shape
        self.parent = parent  # the index of the nearest object node above it (-1: none)
        self.depth = depth  # object nodes above it
        self.full = 0  # its text
        self.when_collapsed = 0  # its text once collapsed
        self.own = 0  # what collapsing it saves beyond what collapsing the object nodes below it saves


def _measure(shape: Shape, parent: int, out: list[_Measured]) -> tuple[int, int]:
    """The length of ``shape.render()`` as canonical text, and what collapsing
    the object nodes below it would save (recorded in ``out``, parents first)."""
    if shape.anything:
        return 2, 0
    index = -1
    if shape.types & _OBJECT and not shape.collapsed:
        index = len(out)
        out.append(_Measured(shape, parent, 0 if parent < 0 else out[parent].depth + 1))
    here = parent if index < 0 else index
    size = len(CANONICAL.encode(shape._skeleton(False)))
    below = 0  # what collapsing the nearest object nodes below would save
    items_size = 0
    if shape.props is not None and not shape.collapsed and shape.types & _OBJECT:
        for key in sorted(shape.props):  # (in the order of the text)
            child_size, child_saving = _measure(shape.props[key], here, out)
            size += child_size - 1
            below += child_saving
    if shape.items is not None and shape.types & _ARRAY:
        items_size, items_saving = _measure(shape.items, here, out)
        size += items_size - 1
        below += items_saving
    if index < 0:
        return size, below
    measured = out[index]
    measured.full = size
    measured.when_collapsed = len(CANONICAL.encode(shape._skeleton(True))) + (items_size - 1 if items_size else 0)
    saving = size - measured.when_collapsed
    measured.own = saving - below
    return size, saving


def _measured(shape: Shape) -> list[_Measured]:
    out: list[_Measured] = []  # (a list of its own: a rerun on a fresh stack starts afresh)
    _measure(shape, -1, out)
    return out


def widen(shape: Shape, excess: int) -> int:
    """Collapse object nodes of ``shape`` until its rendered text is at least
    ``excess`` characters shorter, or none is left: the number collapsed.
    The node whose own text is the largest goes first (its own: its text
    with the object nodes below it collapsed; where data-keyed maps and
    other wide objects put their bulk); of equals, the deepest, then the
    first in the text."""
    nodes = deep(_measured, shape)
    saved = count = 0
    for index in sorted(range(len(nodes)), key=lambda i: (-nodes[i].own, -nodes[i].depth, i)):
        if saved >= excess:
            break
        node = nodes[index]
        up = node.parent
        while up >= 0 and not nodes[up].shape.collapsed:
            up = nodes[up].parent
        if up >= 0:  # (inside a node collapsed already)
            continue
        saving = node.full - node.when_collapsed
        if saving <= 0:
            continue
        node.shape.collapse()
        count += 1
        saved += saving
        up = node.parent
        while up >= 0:
            nodes[up].full -= saving
            up = nodes[up].parent
    return count


@lru_cache(maxsize=4096)
def title_for(detail_type: str) -> str:
    """The detail-type's words in CamelCase, as AWS titles its schemas: ``EC2
    Instance State-change Notification`` -> ``EC2InstanceStateChangeNotification``
    (each run of ASCII letters and digits is a word; its first letter goes
    upper case, the rest stays as it is)."""
    return "".join(word[0].upper() + word[1:] for word in _WORD.findall(detail_type))


def schema_name_for(source: str, detail_type: str) -> str:
    """The name AWS's discovery gives the schema of events with this source and
    detail-type: ``<source>@<DetailTypeInCamelCase>``, e.g. ``aws.ec2`` and
    ``EC2 Instance State-change Notification`` ->
    ``aws.ec2@EC2InstanceStateChangeNotification``.  Characters a schema name
    may not hold (it holds ``[0-9A-Za-z._-]`` and the ``@``) are left out of
    the source, and the name is cut to 385 characters, so that it is always a
    valid schema name."""
    check_instance("source", source, str, "<class 'str'>")  # (not check_str: what is not ASCII is left out)
    check_instance("detail_type", detail_type, str, "<class 'str'>")
    return schema_name_unchecked(source, detail_type)


@lru_cache(maxsize=4096)
def schema_name_unchecked(source: str, detail_type: str) -> str:
    """``schema_name_for`` of two strings already known to be strings (the
    registry's per-event hooks), cached."""
    return f"{_NOT_IN_NAME.sub('', source)}@{title_for(detail_type)}"[:MAX_SCHEMA_NAME]


def absorb_event(shape: Shape, event: Any) -> bool:
    """``shape.absorb(event)``, rerun on a fresh stack if the caller's is too deep.
    A rerun reports a change: the first try may have changed the shape before
    it ran out of stack (the rerun then leaves it where one run would)."""
    try:
        return shape.absorb(event)
    except RecursionError:
        on_a_fresh_stack(shape.absorb, event)
        return True


def labels(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The event's ``source`` and ``detail-type`` (``None`` where not text)."""
    source, detail_type = event.get("source"), event.get("detail-type")
    return (source if isinstance(source, str) else None,
            detail_type if isinstance(detail_type, str) else None)


def dress(node: dict[str, Any], source: str | None, detail_type: str | None) -> dict[str, Any]:
    """An event's object node as a whole-event schema in AWS's exported shape."""
    schema: dict[str, Any] = {"$schema": DRAFT4}
    title = title_for(detail_type) if detail_type is not None else ""
    if title:
        schema["title"] = title
    props = node.get("properties")
    if title and props is not None and props.get("detail", {}).get("type") is not None:
        schema["definitions"] = {title: props["detail"]}
        node = {**node, "properties": {**props, "detail": {"$ref": f"#/definitions/{title}"}}}
    schema.update(node)
    if source is not None:
        schema[SOURCE_KEY] = source
    if detail_type is not None:
        schema[DETAIL_TYPE_KEY] = detail_type
    return schema


def undress(schema: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """The plain object node of a whole-event schema, and its source and detail-type."""
    check_instance("schema", schema, Mapping, "<class 'dict'>")
    node = {key: value for key, value in schema.items()
            if key not in ("$schema", "title", "definitions", SOURCE_KEY, DETAIL_TYPE_KEY)}
    props = node.get("properties")
    if isinstance(props, Mapping):
        detail = props.get("detail")
        if isinstance(detail, Mapping) and "$ref" in detail:
            name = str(detail["$ref"]).removeprefix("#/definitions/")
            definitions = schema.get("definitions") or {}
            if name not in definitions:
                raise ValidationError(f"The schema's detail refers to {short(detail['$ref'])}, which it does not "
                                      "define")
            node["properties"] = {**props, "detail": definitions[name]}
    source, detail_type = schema.get(SOURCE_KEY), schema.get(DETAIL_TYPE_KEY)
    return (node, source if isinstance(source, str) else None,
            detail_type if isinstance(detail_type, str) else None)


def infer(event: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema (Draft 4) of one EventBridge event (envelope and detail),
    in the shape EventBridge exports discovered schemas in.  Containers nested
    deeper than 255 levels are left unconstrained (``{}``)."""
    check_instance("event", event, dict, "<class 'dict'>")
    shape = Shape()
    absorb_event(shape, event)
    return dress(deep(shape.render), *labels(event))


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The join of two schemas from ``infer`` or ``merge``: the least schema (in
    this module's lattice) that validates every event either one validates.
    Commutative, associative and idempotent.  Both must describe events of the
    same source and detail-type."""
    node_a, source, detail_type = undress(a)
    node_b, other_source, other_detail_type = undress(b)
    if (source, detail_type) != (other_source, other_detail_type):
        raise ValidationError(f"Schemas of different events do not merge: source {short(source)} and detail-type "
                              f"{short(detail_type)}, source {short(other_source)} and detail-type "
                              f"{short(other_detail_type)}")
    shape = Shape()
    deep(shape.absorb_schema, node_a)
    deep(shape.absorb_schema, node_b)
    return dress(deep(shape.render), source, detail_type)
