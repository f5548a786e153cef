"""A compiler of JSON Schema (Draft 4) into plain Python checks: the fast path
of the bus's validation hook.

``compile_draft4(root)`` turns a schema document into nested closures, one
per schema node, that answer one question: is an instance valid?  The answer
is the one ``jsonschema.Draft4Validator(root).is_valid(instance)`` gives, for
every instance; the property tests (``tests/schemas/test_compiled.py``) hold
the two to it, with jsonschema as the oracle, over inferred schemas and over
random schemas of the compiled keywords.

Why: the bus checks every event it is given when ``validate_events`` is on,
and jsonschema's validator, general and lazy, costs about 180 us for a
typical discovered schema; the closures cost a few.  jsonschema stays the
judge of everything else: the registry asks it for the message when the
compiled check says an event is invalid, ``check_event`` lists every error
with it, and a schema that uses anything not compiled here is not compiled
at all (``None``: the caller uses jsonschema alone).

Compiled: ``type`` (a name or a list of names), ``properties``, ``required``,
``additionalProperties`` (a boolean or a schema), ``items`` (one schema),
``enum`` of strings and ``null`` (what OpenAPI's ``nullable`` adds to an
``enum``, in the registry's translation to Draft 4), ``minLength`` and ``maxLength``, ``pattern``,
``minimum`` and ``maximum`` with Draft 4's boolean ``exclusiveMinimum`` and
``exclusiveMaximum``, ``minItems`` and ``maxItems``, and local ``$ref``s (JSON
pointers into the document, resolved as jsonschema's ``referencing`` resolves
them: percent-decoded, then split, then ``~1`` and ``~0``; a node with a
``$ref`` is its target alone, as Draft 4 wants).  What jsonschema does not
validate with is ignored as it ignores it (``format``: the validator has no
format checker; ``title``, ``description``, ``definitions``, ``x-...``,
OpenAPI's ``nullable``, unknown words).  Not compiled: Draft 4's other
keywords (``allOf``, ``anyOf``, ``oneOf``, ``not``, ``dependencies``,
``patternProperties``, ``additionalItems``, ``uniqueItems``, ``multipleOf``,
``minProperties``, ``maxProperties``), ``items`` as a list, an ``enum``
with a member that is neither a string nor ``null``, ``id`` (it moves the base of
references), a ``$schema`` other than Draft 4's (it changes jsonschema's
validator for the subtree), a reference that is not a JSON pointer into the
document or that points at no schema, a chain of references that comes back
to itself (jsonschema recurses until its stack runs out; the registry
refuses such schemas), and any keyword
whose value is not what Draft 4 asks for.

Depth: jsonschema recurses about two frames per schema it descends into (a
``properties`` value, an item, a reference's target); past the interpreter's
recursion limit it raises ``RecursionError``, which the registry reports as
an event "nested too deeply to be checked".  The closures need fewer frames,
so they could pass an event jsonschema cannot check.  They therefore count
their descents and give up, raising ``RecursionError``, past a budget that
leaves jsonschema a wide margin (a third of the recursion limit, less a
reserve): the verdict of a compiled check is one jsonschema reaches without
running out of stack.  The caller then lets jsonschema decide, as before.
The check raises nothing else on JSON values (dicts, lists, strings,
numbers, booleans, ``None``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from numbers import Number
from typing import Any, Final
from urllib.parse import unquote

from .._stack import on_a_fresh_stack

__all__ = ["COMPILED_KEYWORDS", "DRAFT4_KEYWORDS", "DRAFT4_URIS", "compile_draft4", "resolve_local"]

# A compiled node: (instance, descents left) -> valid?
_Check = Callable[[Any, int], bool]

#: Draft 4's validation keywords: the keys of ``jsonschema.Draft4Validator.VALIDATORS`` (a test keeps them equal).
DRAFT4_KEYWORDS: Final = frozenset({
    "$ref", "additionalItems", "additionalProperties", "allOf", "anyOf", "dependencies", "enum", "format", "items",
    "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength", "minProperties", "minimum",
    "multipleOf", "not", "oneOf", "pattern", "patternProperties", "properties", "required", "type", "uniqueItems"})
#: The ones compiled here (``format`` is compiled to nothing: Draft4Validator has no format checker by default).
COMPILED_KEYWORDS: Final = frozenset({
    "$ref", "additionalProperties", "enum", "format", "items", "maxItems", "maxLength", "maximum", "minItems",
    "minLength", "minimum", "pattern", "properties", "required", "type"})
_NOT_COMPILED: Final = DRAFT4_KEYWORDS - COMPILED_KEYWORDS
#: The ``$schema`` values jsonschema maps to Draft4Validator (spelled as Draft 4 spells itself; other spellings of
#: the same address are left to jsonschema, and refused by the registry).
DRAFT4_URIS: Final = frozenset({"http://json-schema.org/draft-04/schema#", "http://json-schema.org/draft-04/schema"})
_CLASSES: Final[dict[str, type]] = {"array": list, "boolean": bool, "null": type(None), "object": dict, "string": str}
_TYPES: Final = frozenset({*_CLASSES, "integer", "number"})
_NONE: Final[frozenset[type]] = frozenset()

# The descent budget: (recursion limit - _RESERVE) // _FRAMES.  jsonschema needs 2 frames a descent and about 20
# more (a fresh thread's, best_match's, the validator's own); 3 a descent and 100 in reserve leave it a third of
# its stack spare at the deepest event a compiled check decides.
_RESERVE: Final = 100
_FRAMES: Final = 3


class _Unsupported(Exception):
    """The schema uses something not compiled here: jsonschema alone checks with it."""


def compile_draft4(root: dict[str, Any]) -> Callable[[Any], bool] | None:
    """``instance -> bool``, the verdict of ``jsonschema.Draft4Validator(root).is_valid``
    for every instance, or ``None`` when the document uses something not
    compiled (see the module's docstring).  The check raises
    ``RecursionError`` for an instance nested deeper than its budget (or than
    the caller's stack allows): the caller then asks jsonschema.  Compiling
    never raises (a document too deep to compile even on a fresh stack is
    ``None``)."""
    if type(root) is not dict:
        return None
    try:
        try:
            node = _Compiler(root).node(root)
        except RecursionError:
            node = on_a_fresh_stack(_Compiler(root).node, root)
    except (_Unsupported, RecursionError):
        return None

    def is_valid(instance: Any) -> bool:
        return node(instance, max(0, (sys.getrecursionlimit() - _RESERVE) // _FRAMES))

    return is_valid


def resolve_local(root: dict[str, Any], ref: Any) -> dict[str, Any] | None:
    """The node a ``$ref`` names, as ``referencing`` finds it in a document
    without ``id``s (``#`` is the document, ``#/a/b`` a JSON pointer), or
    ``None`` when it is not such a reference or names no object: another
    document, a base to join, a plain-name fragment (Draft 4 names those
    with ``id``), a path through an array or past an ``id``, a missing key.
    Those are left to jsonschema, which judges them when it gets there."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    pointer = ref[1:]
    if not pointer:
        return root
    if not pointer.startswith("/"):
        return None
    here: Any = root
    for segment in unquote(pointer[1:]).split("/"):  # (decoded first, then split: referencing's order)
        if type(here) is not dict or "id" in here:
            return None
        key = segment.replace("~1", "/").replace("~0", "~")
        if key not in here:
            return None
        here = here[key]
    return here if type(here) is dict else None


def _too_deep() -> RecursionError:
    return RecursionError("the instance is nested deeper than the compiled check's budget")


def _always(x: Any, left: int) -> bool:
    return True


def _is_integer(x: Any) -> bool:
    # jsonschema's Draft 4 "integer": an int that is not a bool (1.0 is not one: Draft 6 made it one).
    return type(x) is int or (isinstance(x, int) and not isinstance(x, bool))


def _is_number(x: Any) -> bool:
    # jsonschema's "number": a numbers.Number that is not a bool; int and float first, for speed.
    kind = type(x)
    return kind is int or kind is float or (not isinstance(x, bool) and isinstance(x, Number))


class _Compiler:
    """One compilation: a check per schema node (by identity, so a node reached
    twice, or through a reference, is compiled once)."""

    __slots__ = ("done", "fast", "open", "root")

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.done: dict[int, _Check] = {}
        self.open: dict[int, list[_Check]] = {}  # nodes being compiled: where their check will be, for references back
        # The exact types a check passes without looking further (its type admits them and no keyword applies to
        # them): a parent tests ``type(value) in fast`` before calling it, which saves most calls to leaves.
        self.fast: dict[_Check, frozenset[type]] = {}

    def node(self, schema: Any) -> _Check:
        if type(schema) is not dict:  # (jsonschema would take true and false too; Draft 4 does not)
            raise _Unsupported
        key = id(schema)  # (the node lives as long as the document: ids are stable during the compilation)
        check = self.done.get(key)
        if check is not None:
            return check
        pending = self.open.get(key)
        if pending is not None:  # a reference back to a node being compiled (a recursive schema): forward to it
            later: list[_Check] = pending

            def forward(x: Any, left: int) -> bool:
                return later[0](x, left)

            return forward
        cell: list[_Check] = []
        self.open[key] = cell
        check = self._build(schema)
        cell.append(check)
        del self.open[key]
        self.done[key] = check
        return check

    # -- references ----------------------------------------------------------------------
    def _resolve(self, ref: Any) -> dict[str, Any]:
        target = resolve_local(self.root, ref)
        if target is None:
            raise _Unsupported
        return target

    def _reference(self, schema: dict[str, Any]) -> _Check:
        target = self._resolve(schema["$ref"])
        seen = {id(schema)}
        hop = target
        while "$ref" in hop:  # a chain of references; one that comes back never reaches a keyword
            if id(hop) in seen:
                raise _Unsupported
            seen.add(id(hop))
            hop = self._resolve(hop["$ref"])
        sub = self.node(target)
        if sub is _always:
            return _always

        def ref(x: Any, left: int) -> bool:
            if not left:
                raise _too_deep()
            return sub(x, left - 1)

        return ref

    # -- nodes ---------------------------------------------------------------------------
    def _build(self, schema: dict[str, Any]) -> _Check:
        if "id" in schema:
            raise _Unsupported
        if "$schema" in schema:
            uri = schema["$schema"]
            if not (isinstance(uri, str) and uri in DRAFT4_URIS):
                raise _Unsupported
        if "$ref" in schema:  # Draft 4: the reference alone (a null $ref is not ignored by jsonschema: it fails)
            return self._reference(schema)
        if not _NOT_COMPILED.isdisjoint(schema):
            raise _Unsupported
        admitted: frozenset[str] = _TYPES
        test: Callable[[Any], bool] | None = None
        if "type" in schema:
            admitted = _type_names(schema["type"])
            test = _type_test(admitted)
        enum = _enum(schema["enum"]) if "enum" in schema else None
        # Every keyword is compiled (so a malformed one anywhere means no compiled check at all), then those of
        # kinds the type rules out are dropped: they apply to no instance that passes the type.
        on_dict, on_list, on_str, on_num = self._object(schema), self._array(schema), _string(schema), _number(schema)
        if "object" not in admitted:
            on_dict = None
        if "array" not in admitted:
            on_list = None
        if "string" not in admitted:
            on_str = None
        if "number" not in admitted and "integer" not in admitted:
            on_num = None
        if test is None and enum is None and on_dict is None and on_list is None and on_str is None and on_num is None:
            return _always
        check = _assemble(test, admitted, enum, on_dict, on_list, on_str, on_num)
        if enum is None:
            self.fast[check] = frozenset(kind for kind, name, applies in (
                (dict, "object", on_dict), (list, "array", on_list), (str, "string", on_str),
                (bool, "boolean", None), (type(None), "null", None), (int, "integer", on_num),
                (float, "number", on_num)) if applies is None and (name in admitted or name == "integer" and
                                                                  "number" in admitted))
        return check

    def _object(self, schema: dict[str, Any]) -> _Check | None:
        props: list[tuple[str, frozenset[type], _Check]] = []
        names: frozenset[str] = frozenset()
        if "properties" in schema:
            value = schema["properties"]
            if type(value) is not dict:
                raise _Unsupported
            names = frozenset(value)
            for key, sub in value.items():
                check = self.node(sub)
                if check is not _always:  # (anything passes: nothing to look at)
                    props.append((key, self.fast.get(check, _NONE), check))
        required: tuple[str, ...] = ()
        if "required" in schema:
            value = schema["required"]
            if type(value) is not list or not all(isinstance(key, str) for key in value):
                raise _Unsupported
            required = tuple(value)
        extra: _Check | bool = True
        if "additionalProperties" in schema:
            value = schema["additionalProperties"]
            if type(value) is bool:
                extra = value
            elif type(value) is dict:
                check = self.node(value)
                extra = True if check is _always else check
            else:
                raise _Unsupported
        if not props and not required and extra is True:
            return None
        return _object_check(tuple(props), required, names, extra)

    def _array(self, schema: dict[str, Any]) -> _Check | None:
        items: _Check | None = None
        if "items" in schema:
            value = schema["items"]
            if type(value) is not dict:  # (a list of schemas, one per position: not compiled)
                raise _Unsupported
            check = self.node(value)
            items = None if check is _always else check
        low, high = _count(schema, "minItems"), _count(schema, "maxItems")
        if items is None and low is None and high is None:
            return None
        return _array_check(items, _NONE if items is None else self.fast.get(items, _NONE), low, high)


# -- keywords ------------------------------------------------------------------------------
def _type_names(value: Any) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if type(names) is not list or not names or not all(isinstance(name, str) and name in _TYPES for name in names):
        raise _Unsupported  # (an unknown name makes jsonschema raise when it meets it)
    return frozenset(names)


def _type_test(names: frozenset[str]) -> Callable[[Any], bool]:
    classes = tuple(_CLASSES[name] for name in sorted(names) if name in _CLASSES)
    numeric = _is_number if "number" in names else _is_integer if "integer" in names else None
    if numeric is None:
        return lambda x: isinstance(x, classes)
    if not classes:
        return numeric
    return lambda x: isinstance(x, classes) or numeric(x)


def _enum(value: Any) -> Callable[[Any], bool]:
    if type(value) is not list or not all(type(member) is str or member is None for member in value):
        raise _Unsupported
    members = frozenset(value)
    ordered = tuple(value)

    def check(x: Any) -> bool:
        # jsonschema's equal() compares a string member with ==: for a str, membership; for anything else, the
        # same == (which nothing JSON makes true).  A null member: ``one is two``, then unbool(None) == unbool(x),
        # true for None alone among JSON values: the same == again.
        if type(x) is str:
            return x in members
        return any(member == x for member in ordered)

    return check


def _count(schema: dict[str, Any], word: str) -> int | None:
    if word not in schema:
        return None
    value = schema[word]
    if type(value) is not int:
        raise _Unsupported
    return value


def _bound(schema: dict[str, Any], word: str) -> int | float | None:
    if word not in schema:
        return None
    value = schema[word]
    if type(value) is not int and type(value) is not float:
        raise _Unsupported
    return value


def _flag(schema: dict[str, Any], word: str) -> bool:
    value = schema.get(word, False)
    if type(value) is not bool:
        raise _Unsupported
    return value


def _string(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    low, high = _count(schema, "minLength"), _count(schema, "maxLength")
    search: Callable[[str], Any] | None = None
    if "pattern" in schema:
        pattern = schema["pattern"]
        if type(pattern) is not str:
            raise _Unsupported
        try:
            search = re.compile(pattern).search  # (jsonschema: re.search(pattern, instance), the same compilation)
        except Exception:  # re.error, or a pattern too deep to compile: jsonschema would meet the same
            raise _Unsupported from None
    if low is None and high is None and search is None:
        return None

    def check(x: str) -> bool:
        if low is not None and len(x) < low:
            return False
        if high is not None and len(x) > high:
            return False
        return search is None or search(x) is not None

    return check


def _number(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    above, below = _flag(schema, "exclusiveMinimum"), _flag(schema, "exclusiveMaximum")
    if low is None and high is None:
        return None

    def check(x: Any) -> bool:
        # The comparisons jsonschema makes, the same way round (a NaN fails none of them).
        if low is not None and (x <= low if above else x < low):
            return False
        return high is None or not (x >= high if below else x > high)

    return check


# -- checks --------------------------------------------------------------------------------
def _object_check(props: tuple[tuple[str, frozenset[type], _Check], ...], required: tuple[str, ...],
                  names: frozenset[str], extra: _Check | bool) -> _Check:
    """The object keywords of one node, for a dict: ``props`` (key, the exact
    types its check passes at once, its check), ``required``, and ``extra``:
    True (any other key), False (no other key) or the check of the other
    keys' values.

    Hot path (every checked event runs one per object node): each case of
    ``props`` / ``extra`` gets a closure of its own that does only what that
    case needs, rather than one closure testing the case per event; hence
    five near-copies of one loop, on purpose."""
    if not props and extra is not False and extra is not True:
        extra_check = extra

        def only_extra(x: Any, left: int) -> bool:
            for key in required:
                if key not in x:
                    return False
            if not left:
                raise _too_deep()
            left -= 1
            for key in x:
                if key not in names and not extra_check(x[key], left):
                    return False
            return True

        return only_extra
    if not props:
        closed = extra is False

        def flat(x: Any, left: int) -> bool:
            for key in required:
                if key not in x:
                    return False
            if closed:
                for key in x:
                    if key not in names:
                        return False
            return True

        return flat
    if extra is True:
        def open_object(x: Any, left: int) -> bool:
            for key in required:
                if key not in x:
                    return False
            if not left:
                raise _too_deep()
            left -= 1
            for key, fast, sub in props:
                if key in x:
                    value = x[key]
                    if type(value) not in fast and not sub(value, left):
                        return False
            return True

        return open_object
    if extra is False:
        def closed_object(x: Any, left: int) -> bool:
            for key in required:
                if key not in x:
                    return False
            for key in x:
                if key not in names:
                    return False
            if not left:
                raise _too_deep()
            left -= 1
            for key, fast, sub in props:
                if key in x:
                    value = x[key]
                    if type(value) not in fast and not sub(value, left):
                        return False
            return True

        return closed_object
    extra_check = extra

    def object_with_extra(x: Any, left: int) -> bool:
        for key in required:
            if key not in x:
                return False
        if not left:
            raise _too_deep()
        left -= 1
        for key, fast, sub in props:
            if key in x:
                value = x[key]
                if type(value) not in fast and not sub(value, left):
                    return False
        for key in x:
            if key not in names and not extra_check(x[key], left):
                return False
        return True

    return object_with_extra


def _array_check(items: _Check | None, fast: frozenset[type], low: int | None, high: int | None) -> _Check:
    def array(x: Any, left: int) -> bool:
        if low is not None and len(x) < low:
            return False
        if high is not None and len(x) > high:
            return False
        if items is not None and x:
            if not left:
                raise _too_deep()
            left -= 1
            for item in x:
                if type(item) not in fast and not items(item, left):
                    return False
        return True

    return array


def _assemble(test: Callable[[Any], bool] | None, admitted: frozenset[str], enum: Callable[[Any], bool] | None,
              on_dict: _Check | None, on_list: _Check | None, on_str: Callable[[Any], bool] | None,
              on_num: Callable[[Any], bool] | None) -> _Check:
    """One node's check: its type, its enum, then the keywords of the instance's
    own kind (each keyword applies to instances of its kind only, as in
    jsonschema; the kinds are disjoint: a dict, a list, a str, a number that
    is not a bool)."""
    if enum is None and on_list is None and on_str is None and on_num is None:
        if on_dict is None:
            assert test is not None
            if len(admitted) == 1 and next(iter(admitted)) in _CLASSES:
                kind = _CLASSES[next(iter(admitted))]

                def leaf(x: Any, left: int) -> bool:
                    return isinstance(x, kind)

                return leaf
            only_test = test

            def typed(x: Any, left: int) -> bool:
                return only_test(x)

            return typed
        object_check = on_dict
        if admitted == {"object"}:
            def dict_node(x: Any, left: int) -> bool:
                return isinstance(x, dict) and object_check(x, left)

            return dict_node
    if on_dict is None and on_str is None and on_num is None and enum is None and admitted == {"array"}:
        assert on_list is not None
        array_check = on_list

        def list_node(x: Any, left: int) -> bool:
            return isinstance(x, list) and array_check(x, left)

        return list_node

    def node(x: Any, left: int) -> bool:
        if test is not None and not test(x):
            return False
        if enum is not None and not enum(x):
            return False
        if isinstance(x, dict):
            return on_dict is None or on_dict(x, left)
        if isinstance(x, list):
            return on_list is None or on_list(x, left)
        if isinstance(x, str):
            return on_str is None or on_str(x)
        return on_num is None or not _is_number(x) or on_num(x)

    return node
