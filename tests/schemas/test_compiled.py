"""The compiled Draft 4 check: the verdict of jsonschema's Draft4Validator, in a
fraction of the time, for every schema it compiles; ``None`` (jsonschema
alone) for every schema it does not.  jsonschema is the oracle throughout."""

from __future__ import annotations

import copy
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from eventbus import ManualClock
from eventbus._schemas import SchemaRegistry, infer, merge
from eventbus._schemas import _checks as checks_module
from eventbus._schemas._compiled import COMPILED_KEYWORDS, DRAFT4_KEYWORDS, compile_draft4
from eventbus._stack import on_a_fresh_stack

from ..support import STACK_DEPTHS, from_deep_in_the_stack

jsonschema = importlib.import_module("jsonschema")
Draft4Validator = jsonschema.Draft4Validator
DRAFT4 = "http://json-schema.org/draft-04/schema#"
DISCOVERED = "discovered-schemas"


def compiled(schema: dict[str, Any]) -> Callable[[Any], bool]:
    check = compile_draft4(schema)
    assert check is not None, "not compiled"
    return check


def oracle(schema: dict[str, Any], instance: Any) -> bool:
    return bool(Draft4Validator(schema).is_valid(instance))


def envelope(detail: Any, **fields: Any) -> dict[str, Any]:
    return {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Order Placed",
            "source": "my.app", "account": "123456789012", "time": "2024-03-01T12:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail, **fields}


# -- what jsonschema's Draft 4 is ---------------------------------------------------------
def test_the_keywords_known_as_draft_4_are_jsonschemas_draft_4_validators() -> None:
    assert set(Draft4Validator.VALIDATORS) == DRAFT4_KEYWORDS
    assert COMPILED_KEYWORDS < DRAFT4_KEYWORDS


def test_jsonschemas_draft_4_types_are_the_seven_compiled_and_a_float_is_no_integer() -> None:
    checker = Draft4Validator.TYPE_CHECKER
    assert all(checker.is_type(None, name) is (name == "null") for name in
               ("array", "boolean", "integer", "null", "number", "object", "string"))
    assert not checker.is_type(1.0, "integer") and not checker.is_type(True, "integer")
    assert not checker.is_type(True, "number") and checker.is_type(Decimal("1.5"), "number")
    with pytest.raises(jsonschema.exceptions.UnknownType):  # (Draft 3's "any" is gone: an error, not a type)
        Draft4Validator({"type": "any"}).is_valid(1)


# -- keywords -----------------------------------------------------------------------------
INTEGER_OR_NULL = {"type": ["integer", "null"]}
TREE = {"definitions": {"node": {"type": "object", "required": ["v"],
                                 "properties": {"v": {"type": "integer"},
                                                "kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}},
        "$ref": "#/definitions/node"}
ODD_NAMES = {"definitions": {"a/b": {"type": "string"}, "a~b": {"type": "integer"}, "a b%": {"type": "null"},
                             "ü": {"type": "boolean"}, "~1": {"type": "array"}},
             "properties": {"slash": {"$ref": "#/definitions/a~1b"}, "tilde": {"$ref": "#/definitions/a~0b"},
                            "percent": {"$ref": "#/definitions/a%20b%25"}, "raw": {"$ref": "#/definitions/a b%"},
                            "utf8": {"$ref": "#/definitions/%C3%BC"}, "tilde-one": {"$ref": "#/definitions/~01"}}}

CASES: list[tuple[str, dict[str, Any], Any, bool]] = [
    ("integer-int", {"type": "integer"}, 1, True),
    ("integer-float", {"type": "integer"}, 1.0, False),
    ("integer-bool", {"type": "integer"}, True, False),
    ("integer-big", {"type": "integer"}, 2**80, True),
    ("integer-decimal", {"type": "integer"}, Decimal(1), False),
    ("number-int", {"type": "number"}, 1, True),
    ("number-float", {"type": "number"}, -0.5, True),
    ("number-bool", {"type": "number"}, False, False),
    ("number-decimal", {"type": "number"}, Decimal("1.5"), True),
    ("number-text", {"type": "number"}, "1", False),
    ("boolean-bool", {"type": "boolean"}, True, True),
    ("boolean-int", {"type": "boolean"}, 1, False),
    ("null-none", {"type": "null"}, None, True),
    ("null-zero", {"type": "null"}, 0, False),
    ("array-list", {"type": "array"}, [], True),
    ("array-tuple", {"type": "array"}, (), False),
    ("object-dict", {"type": "object"}, {}, True),
    ("object-list", {"type": "object"}, [], False),
    ("string-text", {"type": "string"}, "", True),
    ("string-none", {"type": "string"}, None, False),
    ("union-null", INTEGER_OR_NULL, None, True),
    ("union-int", INTEGER_OR_NULL, 3, True),
    ("union-float", INTEGER_OR_NULL, 3.0, False),
    ("union-bool-number", {"type": ["boolean", "number"]}, True, True),
    ("properties-checked", {"properties": {"a": {"type": "string"}}}, {"a": 1}, False),
    ("properties-missing-is-fine", {"properties": {"a": {"type": "string"}}}, {"b": 1}, True),
    ("properties-only-for-objects", {"properties": {"a": {"type": "string"}}}, [{"a": 1}], True),
    ("required-missing", {"required": ["a", "b"]}, {"a": 1}, False),
    ("required-present", {"required": ["a", "b"]}, {"a": 1, "b": None}, True),
    ("required-only-for-objects", {"required": ["a"]}, "a", True),
    ("closed-extra", {"properties": {"a": {}}, "additionalProperties": False}, {"a": 1, "b": 2}, False),
    ("closed-declared", {"properties": {"a": {}}, "additionalProperties": False}, {"a": 1}, True),
    ("closed-without-properties", {"additionalProperties": False}, {}, True),
    ("closed-without-properties-extra", {"additionalProperties": False}, {"a": 1}, False),
    ("closed-with-a-nested-check", {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
     {"a": 1}, False),
    ("closed-with-a-nested-check-passed", {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
     {"a": "x"}, True),
    ("extra-schema-with-nested-properties", {"properties": {"a": {"type": "string"}}, "additionalProperties": {
        "type": "null"}}, {"a": "x", "b": None}, True),
    ("extra-schema-declared-key-not-extra", {"properties": {"a": {"type": "string"}}, "additionalProperties": {
        "type": "null"}}, {"a": "x"}, True),
    ("extra-schema", {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 2}, True),
    ("extra-schema-broken", {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}, {"b": "x"}, False),
    ("extra-true", {"additionalProperties": True}, {"a": 1}, True),
    ("items-each", {"items": {"type": "integer"}}, [1, 2, "3"], False),
    ("items-fine", {"items": {"type": "integer"}}, [1, 2], True),
    ("items-only-for-arrays", {"items": {"type": "integer"}}, {"0": "x"}, True),
    ("ref-definition", {"definitions": {"n": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/n"}}},
     {"a": 1}, False),
    ("ref-siblings-ignored", {"definitions": {"n": {}}, "$ref": "#/definitions/n", "type": "string"}, 1, True),
    ("ref-recursive-valid", TREE, {"v": 1, "kids": [{"v": 2, "kids": []}, {"v": 3}]}, True),
    ("ref-recursive-deep-error", TREE, {"v": 1, "kids": [{"v": 2, "kids": [{"v": "x"}]}]}, False),
    ("ref-root", {"properties": {"next": {"$ref": "#"}}, "required": ["x"]}, {"x": 1, "next": {"y": 1}}, False),
    ("ref-escapes-valid", ODD_NAMES, {"slash": "s", "tilde": 1, "percent": None, "raw": None, "utf8": True}, True),
    ("ref-escapes-slash", ODD_NAMES, {"slash": 1}, False),
    ("ref-escapes-tilde", ODD_NAMES, {"tilde": "1"}, False),
    ("ref-escapes-percent", ODD_NAMES, {"percent": 0}, False),
    ("ref-escapes-utf8", ODD_NAMES, {"utf8": 0}, False),
    ("ref-escapes-tilde-one", ODD_NAMES, {"tilde-one": {}}, False),
    ("enum-member", {"enum": ["a", "b"]}, "a", True),
    ("enum-other", {"enum": ["a", "b"]}, "c", False),
    ("enum-not-text", {"enum": ["1", "null"]}, 1, False),
    ("enum-none", {"enum": ["None"]}, None, False),
    ("enum-empty", {"enum": []}, "a", False),
    ("enum-null-member", {"enum": ["a", None]}, None, True),
    ("enum-null-only", {"enum": [None]}, "None", False),
    ("enum-null-not-zero", {"enum": [None]}, 0, False),
    ("enum-null-not-false", {"enum": ["a", None]}, False, False),
    ("enum-null-not-empty-text", {"enum": [None]}, "", False),
    ("enum-null-text-member", {"enum": ["a", None]}, "a", True),
    ("min-length", {"minLength": 2}, "é", False),
    ("min-length-equal", {"minLength": 2}, "éa", True),
    ("max-length-equal", {"maxLength": 2}, "ab", True),
    ("max-length-over", {"maxLength": 2}, "abc", False),
    ("max-length-astral", {"maxLength": 1}, "😀", True),
    ("length-only-for-text", {"minLength": 2}, 1, True),
    ("pattern-searches", {"pattern": "b"}, "abc", True),
    ("pattern-anchored", {"pattern": "^b"}, "abc", False),
    ("pattern-unicode-digit", {"pattern": r"^\d$"}, "٣", True),
    ("pattern-only-for-text", {"pattern": "^b"}, 1, True),
    ("minimum-equal", {"minimum": 5}, 5, True),
    ("minimum-exclusive-equal", {"minimum": 5, "exclusiveMinimum": True}, 5.0, False),
    ("minimum-below", {"minimum": 5}, 4.999, False),
    ("minimum-exclusive-above", {"minimum": 5, "exclusiveMinimum": True}, 5.001, True),
    ("maximum-exclusive-below", {"maximum": 5, "exclusiveMaximum": True}, 4, True),
    ("maximum-equal", {"maximum": 5.5}, 5.5, True),
    ("maximum-exclusive-equal", {"maximum": 5, "exclusiveMaximum": True}, 5, False),
    ("maximum-exclusive-false", {"maximum": 5, "exclusiveMaximum": False}, 5, True),
    ("exclusive-alone-ignored", {"exclusiveMinimum": True}, -10, True),
    ("bounds-not-for-booleans", {"minimum": 5}, True, True),
    ("bounds-not-for-text", {"maximum": 5}, "99", True),
    ("bounds-big-int-against-float", {"maximum": 1e20}, 10**20 + 1, False),
    ("min-items", {"minItems": 1}, [], False),
    ("min-items-equal", {"minItems": 1}, [None], True),
    ("max-items", {"maxItems": 1}, [1, 2], False),
    ("max-items-equal", {"maxItems": 2}, [1, 2], True),
    ("items-bounds-only-for-arrays", {"maxItems": 0}, "ab", True),
    ("format-ignored", {"type": "string", "format": "date-time"}, "yesterday", True),
    ("annotations-ignored", {"title": "t", "description": "d", "default": 1, "nullable": True, "x-note": {"id": 1},
                             "readOnly": True, "example": {"id": "x"}, "type": "string"}, None, False),
    ("unreferenced-definitions-ignored", {"definitions": {"odd": {"anyOf": "not even a list"}}, "type": "null"},
     None, True),
    ("draft-4-schema-keyword", {"$schema": DRAFT4, "properties": {"a": {"$schema": DRAFT4.rstrip("#"),
                                                                      "type": "null"}}}, {"a": None}, True),
    ("openapi-root", {"openapi": "3.0.0", "$ref": "#/components/schemas/AWSEvent", "components": {"schemas": {
        "AWSEvent": {"type": "object", "properties": {"detail": {"$ref": "#/components/schemas/Detail"}}},
        "Detail": {"type": "object", "required": ["n"]}}}}, {"detail": {"m": 1}}, False),
]


@pytest.mark.parametrize(("schema", "instance", "valid"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_each_compiled_keyword_gives_jsonschemas_verdict(schema: dict[str, Any], instance: Any, valid: bool) -> None:
    assert oracle(schema, instance) is valid
    assert compiled(schema)(instance) is valid


@pytest.mark.parametrize(("schema", "instance", "valid"), [case[1:] for case in CASES if "$ref" not in str(case[1])],
                         ids=[c[0] for c in CASES if "$ref" not in str(c[1])])
def test_each_compiled_keyword_gives_jsonschemas_verdict_below_a_property_an_item_and_an_extra_key(
        schema: dict[str, Any], instance: Any, valid: bool) -> None:
    """Where a parent may pass a value by its type alone, without calling its check."""
    for parent, child in [({"properties": {"k": schema}}, {"k": instance}), ({"items": schema}, [instance]),
                          ({"additionalProperties": schema}, {"k": instance}),
                          ({"properties": {"o": {}}, "additionalProperties": schema}, {"o": 1, "k": instance})]:
        assert oracle(parent, child) is valid
        assert compiled(parent)(child) is valid


TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"]
VALUES = [None, True, False, 0, 1, -7, 2**64, 1.0, 1.5, -0.0, "", "1", [], [1], {}, {"a": 1}]


@pytest.mark.parametrize("types", [*TYPE_NAMES, *([a, b] for a in TYPE_NAMES for b in TYPE_NAMES if a < b)],
                         ids=str)
def test_every_type_and_pair_of_types_judges_every_kind_of_value_as_jsonschema_does(types: Any) -> None:
    cases: list[tuple[dict[str, Any], Callable[[Any], Any]]] = [
        ({"type": types}, lambda value: value),
        ({"properties": {"k": {"type": types}}}, lambda value: {"k": value}),
        ({"items": {"type": types}}, lambda value: [value, value]),
        ({"additionalProperties": {"type": types}}, lambda value: {"k": value}),
        ({"items": {"type": types, "enum": ["", "1"]}}, lambda value: [value]),
        ({"items": {"type": types, "minimum": 1, "minLength": 1, "minItems": 1, "required": ["a"]}},
         lambda value: [value])]
    for schema, wrap in cases:
        check = compiled(schema)
        assert [check(wrap(value)) for value in VALUES] == [oracle(schema, wrap(value)) for value in VALUES]


def test_a_node_reached_twice_or_through_a_reference_is_compiled_once_and_works_from_both() -> None:
    shared = {"type": "integer", "minimum": 0}
    schema = {"definitions": {"n": shared}, "properties": {"a": shared, "b": {"$ref": "#/definitions/n"},
                                                           "c": {"items": shared}}}
    check = compiled(schema)
    assert check({"a": 1, "b": 2, "c": [3]}) and not check({"c": [-1]}) and not check({"b": -1})


# -- fallback -----------------------------------------------------------------------------
NOT_COMPILED: list[tuple[str, dict[str, Any]]] = [
    ("allOf", {"allOf": [{"type": "string"}]}),
    ("anyOf", {"anyOf": [{"type": "string"}]}),
    ("oneOf", {"oneOf": [{"type": "string"}]}),
    ("not", {"not": {"type": "string"}}),
    ("dependencies", {"dependencies": {"a": ["b"]}}),
    ("patternProperties", {"patternProperties": {"^a": {}}}),
    ("additionalItems", {"additionalItems": False}),
    ("uniqueItems", {"uniqueItems": True}),
    ("multipleOf", {"multipleOf": 2}),
    ("minProperties", {"minProperties": 1}),
    ("maxProperties", {"maxProperties": 1}),
    ("enum-number", {"enum": ["a", 1]}),
    ("enum-bool", {"enum": ["a", True]}),
    ("enum-text", {"enum": "abc"}),
    ("items-list", {"items": [{"type": "string"}]}),
    ("items-true", {"items": True}),
    ("id-root", {"id": "http://example.com/s.json", "type": "object"}),
    ("id-inner", {"properties": {"a": {"id": "#anchor", "type": "string"}}}),
    ("id-on-a-reference-path", {"definitions": {"d": {"id": "http://example.com/d", "properties": {
        "e": {"type": "string"}}}}, "$ref": "#/definitions/d/properties/e"}),
    ("ref-remote", {"$ref": "http://json-schema.org/draft-04/schema#"}),
    ("ref-relative-document", {"$ref": "other.json#/definitions/a"}),
    ("ref-plain-name", {"$ref": "#anchor"}),
    ("ref-empty", {"$ref": ""}),
    ("ref-dangling", {"properties": {"a": {"$ref": "#/definitions/missing"}}}),
    ("ref-percent-slash", {"definitions": {"a/b": {}}, "$ref": "#/definitions/a%2Fb"}),
    ("ref-through-an-array", {"definitions": {"l": [{"type": "string"}]}, "$ref": "#/definitions/l/0"}),
    ("ref-to-a-non-schema", {"definitions": {"n": 5}, "$ref": "#/definitions/n"}),
    ("ref-null", {"$ref": None, "type": "string"}),
    ("ref-number", {"$ref": 1}),
    ("ref-cycle", {"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
                   "properties": {"x": {"$ref": "#/definitions/a"}}}),
    ("ref-to-itself", {"$ref": "#"}),
    ("schema-draft-7", {"properties": {"a": {"$schema": "http://json-schema.org/draft-07/schema#"}}}),
    ("schema-not-text", {"$schema": ["draft-04"]}),
    ("type-any", {"type": "any"}),
    ("type-empty", {"type": []}),
    ("type-number-value", {"type": 5}),
    ("type-schema-in-list", {"type": [{"type": "string"}]}),
    ("required-text", {"required": "a"}),
    ("required-number", {"required": [1]}),
    ("properties-list", {"properties": [{"type": "string"}]}),
    ("properties-true", {"properties": {"a": True}}),
    ("additionalProperties-text", {"additionalProperties": "no"}),
    ("minLength-text", {"minLength": "1"}),
    ("minLength-float", {"minLength": 1.0}),
    ("maxItems-bool", {"maxItems": True}),
    ("maximum-text", {"maximum": "5"}),
    ("maximum-bool", {"maximum": False}),
    ("exclusiveMinimum-number", {"minimum": 1, "exclusiveMinimum": 1}),
    ("pattern-invalid", {"pattern": "("}),
    ("pattern-number", {"pattern": 5}),
    ("deep-inside", {"properties": {"a": {"items": {"properties": {"b": {"not": {}}}}}}}),
    ("inside-a-referenced-definition", {"definitions": {"d": {"uniqueItems": False}}, "items": {
        "$ref": "#/definitions/d"}}),
    ("beside-a-type-that-rules-it-out", {"type": "string", "properties": {"a": {"type": "bogus"}}}),
]


@pytest.mark.parametrize("schema", [case[1] for case in NOT_COMPILED], ids=[case[0] for case in NOT_COMPILED])
def test_a_schema_using_anything_not_compiled_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_draft4(schema) is None


@pytest.mark.parametrize("root", [[], "schema", None, True])
def test_a_root_that_is_not_an_object_is_left_to_jsonschema(root: Any) -> None:
    assert compile_draft4(root) is None


def test_keywords_beside_a_reference_are_ignored_but_an_id_there_is_still_left_to_jsonschema() -> None:
    schema = {"definitions": {"n": {"type": "string"}}, "$ref": "#/definitions/n", "anyOf": [], "id": 5}
    # (an id beside a $ref is ignored by referencing too, but the compiler leaves every id to jsonschema)
    assert compile_draft4(schema) is None
    del schema["id"]
    assert compiled(schema)("x") and not compiled(schema)(1)


# -- depth --------------------------------------------------------------------------------
CHAIN = {"definitions": {"n": {"type": "object", "properties": {"a": {"$ref": "#/definitions/n"}}}},
         "$ref": "#/definitions/n"}
ARRAYS = {"definitions": {"n": {"type": "array", "items": {"$ref": "#/definitions/n"}}}, "$ref": "#/definitions/n"}
EXTRAS = {"definitions": {"n": {"additionalProperties": {"$ref": "#/definitions/n"}}}, "$ref": "#/definitions/n"}
NESTERS: dict[str, tuple[dict[str, Any], Callable[[Any], Any]]] = {
    "properties": (CHAIN, lambda inner: {"a": inner}), "items": (ARRAYS, lambda inner: [inner]),
    "additionalProperties": (EXTRAS, lambda inner: {"z": inner})}


def nested(wrap: Callable[[Any], Any], levels: int, bottom: Any) -> Any:
    value = bottom
    for _ in range(levels):
        value = wrap(value)
    return value


def deepest_decided(check: Callable[[Any], bool], wrap: Callable[[Any], Any], bottom: Any) -> int:
    """The deepest nesting the check decides (past it, it raises RecursionError)."""
    levels = 0
    while True:
        try:
            check(nested(wrap, levels + 1, bottom))
        except RecursionError:
            return levels
        levels += 1


@pytest.mark.recursion_sensitive
@pytest.mark.parametrize("limit", [250, 1000, 2500])
@pytest.mark.parametrize("nester", sorted(NESTERS))
def test_every_depth_the_compiled_check_decides_jsonschema_checks_without_running_out_of_stack(
        limit: int, nester: str) -> None:
    """The budget's promise: a verdict the compiled check gives is one jsonschema
    reaches (on the fresh stack the registry gives it), under any recursion limit."""
    schema, wrap = NESTERS[nester]
    check = compiled(schema)
    bottom: Any = [] if nester == "items" else {}

    def at_the_limit() -> tuple[int, bool, bool]:
        before = sys.getrecursionlimit()
        sys.setrecursionlimit(limit)
        try:
            deepest = deepest_decided(check, wrap, bottom)
            instance = nested(wrap, deepest, bottom)
            best = on_a_fresh_stack(lambda: jsonschema.exceptions.best_match(
                Draft4Validator(schema).iter_errors(instance)))
            return deepest, check(instance), best is None
        finally:
            sys.setrecursionlimit(before)

    deepest, verdict, jsonschema_verdict = on_a_fresh_stack(at_the_limit)
    assert deepest >= (limit - 100) // 3 // 2 - 2  # (two descents a level: the reference and the keyword)
    assert verdict is jsonschema_verdict is True


def test_an_instance_deeper_than_the_budget_raises_recursion_error_and_the_registry_asks_jsonschema() -> None:
    registry = SchemaRegistry(clock=ManualClock())
    registry.create_registry("r")
    schema = {"definitions": CHAIN["definitions"], "properties": {"detail": {"$ref": "#/definitions/n"}}}
    registry.create_schema("r", "my.app@OrderPlaced", schema, "JSONSchemaDraft4")
    wrap = NESTERS["properties"][1]
    levels = deepest_decided(lambda detail: compiled(schema)(envelope(detail)), wrap, {}) + 10
    with pytest.raises(RecursionError):  # (past the budget; well within jsonschema's reach)
        compiled(schema)(envelope(nested(wrap, levels, {})))
    assert registry._violation("r", envelope(nested(wrap, levels, {}))) is None
    assert registry._violation("r", envelope(nested(wrap, levels, 1))) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry r: at $.detail" + ".a" * levels
        + ": 1 is not of type 'object'")


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_a_schema_too_deep_for_the_callers_stack_compiles_on_a_fresh_one(frames: int) -> None:
    schema = nested(lambda inner: {"type": "object", "properties": {"a": inner}}, 150, {"type": "integer"})
    check = from_deep_in_the_stack(frames, lambda: compile_draft4(schema))
    assert callable(check)
    assert check(nested(lambda inner: {"a": inner}, 150, 1)) and not check(nested(lambda inner: {"a": inner}, 150, "1"))


def test_a_schema_too_deep_to_compile_even_on_a_fresh_stack_is_left_to_jsonschema() -> None:
    assert compile_draft4(nested(lambda inner: {"properties": {"a": inner}}, sys.getrecursionlimit(), {})) is None


# -- the registry's hook ------------------------------------------------------------------
def counting_errors(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = checks_module._errors

    def spy(validator: Any, event: Any, every: bool) -> list[Any]:
        calls.append(1)
        return original(validator, event, every)

    monkeypatch.setattr(checks_module, "_errors", spy)
    return calls


def test_the_bus_hook_asks_jsonschema_only_for_an_event_the_compiled_check_finds_invalid(
        monkeypatch: pytest.MonkeyPatch) -> None:
    registry = SchemaRegistry(clock=ManualClock())
    good = envelope({"n": 1, "tags": ["a"]})
    registry._discover(good)
    calls = counting_errors(monkeypatch)
    assert registry._violation(DISCOVERED, good) is None
    assert calls == []
    assert registry._violation(DISCOVERED, envelope({"n": 1.0, "tags": ["a"]})) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry discovered-schemas: at $.detail.n: "
        "1.0 is not of type 'integer'")
    assert calls == [1]
    assert registry.check_event(DISCOVERED, good) == [] and calls == [1, 1]  # (check_event: jsonschema, always)


def test_a_schema_not_compiled_is_checked_by_jsonschema_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = SchemaRegistry(clock=ManualClock())
    registry.create_registry("r")
    registry.create_schema("r", "my.app@OrderPlaced", {"properties": {"detail": {"properties": {
        "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}}}, "JSONSchemaDraft4")
    calls = counting_errors(monkeypatch)
    assert registry._violation("r", envelope({"n": None})) is None
    assert registry._violation("r", envelope({"n": "x"})) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry r: at $.detail.n: \"x\" is not valid "
        "under any of the given schemas")
    assert calls == [1, 1]
    assert registry._registries["r"].schemas["my.app@OrderPlaced"].versions[1].compiled is None


def test_a_value_the_compiled_check_cannot_judge_is_left_to_jsonschema() -> None:
    registry = SchemaRegistry(clock=ManualClock())
    registry.create_registry("r")
    registry.create_schema("r", "my.app@OrderPlaced", {"properties": {"detail": {"minimum": 0}}}, "JSONSchemaDraft4")
    assert registry._violation("r", envelope(1j)) == (  # (a complex is a numbers.Number: neither can compare it)
        "Event does not match schema my.app@OrderPlaced version 1 in registry r: the schema cannot check events: "
        "'<' not supported between instances of 'complex' and 'int'")


# -- properties: inferred schemas ---------------------------------------------------------
KEYS = st.sampled_from(["a", "b", "c", "id", "x-y", "with space", "", "ü", "~/"])
DATE_TIMES = st.sampled_from(["2024-03-01T12:00:00Z", "1999-12-31t23:59:60.5+05:30", "2024-02-30T00:00:00Z"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
           | st.sampled_from([0, 1, 1.0, 0.0, -1, 2.5, 1e300]) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=3) | DATE_TIMES)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                    max_leaves=6)


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One or two events of one source and detail-type (as a bus has them: parsed JSON)."""
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        fields = envelope(draw(st.dictionaries(KEYS, JSON, max_size=4)),
                          time=draw(DATE_TIMES | st.just("yesterday")),
                          resources=draw(st.lists(st.text(max_size=4), max_size=2)))
        for key in draw(st.sets(st.sampled_from(["id", "account", "resources", "detail"]), max_size=2)):
            del fields[key]
        out.append(json.loads(json.dumps(fields)))
    return out


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*path, index))


def twin(value: Any) -> Any:
    """A value of the next type over, often equal in Python: 1 and 1.0, True and 1, ..."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value) if abs(value) < 2**53 else True
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return None if value else 0
    if value is None:
        return "null"
    return dict(enumerate(value)) if isinstance(value, list) else list(value.values())


@st.composite
def broken(draw: st.DrawFn, original: Any) -> Any:
    """The value with one to three changes: a value replaced (or by its twin), a key
    or an element dropped, a key or an element added."""
    value = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(places(value))))
        change = draw(st.sampled_from(["replace", "twin", "drop", "add"]))
        if not path:
            value = twin(value) if change == "twin" else draw(JSON) if change == "replace" else value
            continue
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        here = parent[path[-1]]
        if change == "replace":
            parent[path[-1]] = draw(JSON)
        elif change == "twin":
            parent[path[-1]] = twin(here)
        elif change == "drop":
            del parent[path[-1]]
        elif isinstance(here, dict):
            here[draw(KEYS)] = draw(JSON)
        elif isinstance(here, list):
            here.append(draw(JSON))
    return value


@settings(max_examples=100, deadline=None)
@given(events(), st.data())
def test_on_inferred_schemas_the_compiled_check_agrees_with_jsonschema(found: list[dict[str, Any]],
                                                                      data: st.DataObject) -> None:
    schema = infer(found[0])
    for other in found[1:]:
        schema = merge(schema, infer(other))
    check = compiled(schema)  # (an inferred schema is always compiled)
    instances = [*found, *(data.draw(broken(e)) for e in found), data.draw(JSON)]
    verdicts = [check(instance) for instance in instances]
    assert verdicts == [oracle(schema, instance) for instance in instances]
    assert all(verdicts[:len(found)])
    event(f"{sum(verdicts) - len(found)} of {len(instances) - len(found)} changed instances valid")


@settings(max_examples=100, deadline=None)
@given(events(), st.data())
def test_the_bus_hook_answers_as_jsonschema_alone_did(found: list[dict[str, Any]], data: st.DataObject) -> None:
    registry = SchemaRegistry(clock=ManualClock())
    for e in found:
        registry._discover(e)
    name = "my.app@OrderPlaced"
    instances = [*found, *(data.draw(broken(e)) for e in found)]
    answers = [registry._violation(DISCOVERED, instance) for instance in instances]
    version = registry._registries[DISCOVERED].schemas[name].latest
    assert version is not None and version.compiled is not None
    fast, version.compiled = version.compiled, None
    try:
        assert answers == [registry._violation(DISCOVERED, instance) for instance in instances]
    finally:
        version.compiled = fast
    assert answers[:len(found)] == [None] * len(found)


# -- properties: random schemas of the compiled keywords ----------------------------------
PROPERTY_NAMES = ["a", "b", "id", "x/y"]
DEFINITIONS = ["a", "x/y", "~1 p%c ü"]
TEXTS = ["", "a", "b", "ab", "ba", "abc", "é", "12", "٣", "😀x", "null"]
PATTERNS = ["^a", "b$", "[0-9]+", "^$", "a|b", "é", r"^.{2}$", r"\d"]
NUMBERS = [-1, 0, 1, 2, 0.5, 1.0, 2.5, -0.0, 10**20, 1e-9]
TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"]


def pointers_to(name: str) -> list[str]:
    """The JSON pointers to a definition: escaped, and escaped then percent-encoded."""
    escaped = name.replace("~", "~0").replace("/", "~1")
    return sorted({f"#/definitions/{escaped}", f"#/definitions/{quote(escaped, safe='~')}"})


def reaches_a_cycle_of_references(schema: dict[str, Any]) -> bool:
    """Whether a node the schema can descend into is a chain of references that
    comes back on itself (told apart here by hand, for the generated references)."""
    targets = {ref: schema["definitions"][name] for name in DEFINITIONS for ref in pointers_to(name)}
    targets["#"] = schema
    seen: set[int] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if "$ref" in node:
            chain, hop = [id(node)], targets[node["$ref"]]
            while "$ref" in hop:
                if id(hop) in chain:
                    return True
                chain.append(id(hop))
                hop = targets[hop["$ref"]]
            todo.append(targets[node["$ref"]])
            continue
        todo.extend(node.get("properties", {}).values())
        todo.extend(value for value in (node.get("items"), node.get("additionalProperties")) if isinstance(value, dict))
    return False


REFS = st.sampled_from([*(ref for name in DEFINITIONS for ref in pointers_to(name)), "#"])
LEAF_WORDS = {
    "type": st.sampled_from(TYPES) | st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True),
    "enum": st.lists(st.sampled_from([*TEXTS, None]), max_size=3),
    "minLength": st.integers(min_value=0, max_value=3), "maxLength": st.integers(min_value=0, max_value=3),
    "pattern": st.sampled_from(PATTERNS),
    "minimum": st.sampled_from(NUMBERS), "maximum": st.sampled_from(NUMBERS),
    "exclusiveMinimum": st.booleans(), "exclusiveMaximum": st.booleans(),
    "minItems": st.integers(min_value=0, max_value=3), "maxItems": st.integers(min_value=0, max_value=3),
    "format": st.sampled_from(["date-time", "email"]), "title": st.text(max_size=3), "nullable": st.booleans(),
}
WORDS = st.fixed_dictionaries({}, optional=LEAF_WORDS)
LEAVES = st.one_of(WORDS, WORDS, WORDS, WORDS, WORDS, REFS.map(lambda ref: {"$ref": ref}))  # (a reference in six)


def parents(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        **LEAF_WORDS,
        "properties": st.dictionaries(st.sampled_from(PROPERTY_NAMES), inner, max_size=3),
        "required": st.lists(st.sampled_from(PROPERTY_NAMES), max_size=2, unique=True),
        "additionalProperties": st.booleans() | inner,
        "items": inner,
    })


def with_children(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    parent = parents(inner)
    reference = st.tuples(REFS, WORDS).map(lambda pair: {**pair[1], "$ref": pair[0]})  # (its siblings are ignored)
    return st.one_of(parent, parent, parent, reference)


NODES = st.recursive(LEAVES, with_children, max_leaves=5)
# The root is no reference (a root {"$ref": "#"} would be most of the cycles); definitions may be.
SCHEMAS = st.tuples(parents(NODES), st.fixed_dictionaries(dict.fromkeys(DEFINITIONS, NODES)), st.booleans()).map(
    lambda parts: {**parts[0], "definitions": parts[1], **({"$schema": DRAFT4} if parts[2] else {})})
INSTANCE_SCALARS = (st.none() | st.booleans() | st.sampled_from(NUMBERS) | st.integers(min_value=-3, max_value=3)
                    | st.sampled_from(TEXTS))
INSTANCES = st.recursive(INSTANCE_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from([*PROPERTY_NAMES, "z"]), inner, max_size=3), max_leaves=8)


def sizes(low: int, high: int | None) -> st.SearchStrategy[int]:
    """A length from low to high (both kept when they contradict each other)."""
    high = low + 2 if high is None else high
    return st.integers(min_value=min(low, high), max_value=max(low, high))


@st.composite
def fitting(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """An instance made after the schema (often valid, often on a bound), for the oracle to judge."""
    targets = {ref: schema["definitions"][name] for name in DEFINITIONS for ref in pointers_to(name)}
    targets["#"] = schema

    def make(node: dict[str, Any], depth: int) -> Any:
        for _ in range(4):
            if "$ref" in node:
                node = targets[node["$ref"]]
        kinds = node.get("type", TYPES)
        kind = draw(st.sampled_from(sorted([kinds] if isinstance(kinds, str) else kinds)))
        if "$ref" in node or depth > 3:
            return draw(INSTANCE_SCALARS)
        if node.get("enum") and draw(st.booleans()):
            return draw(st.sampled_from(node["enum"]))
        if kind == "object":
            out = {key: make(sub, depth + 1) for key, sub in node.get("properties", {}).items() if draw(st.booleans())}
            out.update((key, draw(INSTANCE_SCALARS)) for key in node.get("required", ()) if key not in out)
            extra = node.get("additionalProperties", True)
            if draw(st.booleans()):
                out["z"] = make(extra if isinstance(extra, dict) else {}, depth + 1)
            return out
        if kind == "array":
            size = draw(sizes(node.get("minItems", 0), node.get("maxItems")))
            return [make(node.get("items", {}), depth + 1) for _ in range(size)]
        if kind == "string":
            size = draw(sizes(node.get("minLength", 0), node.get("maxLength")))
            return draw(st.sampled_from(TEXTS) | st.text("ab٣", min_size=size, max_size=size))
        if kind in ("integer", "number"):
            bounds = [node[word] for word in ("minimum", "maximum") if word in node]
            near = [twin for bound in bounds for twin in (bound, float(bound), int(bound), int(bound) + 1)]
            value = draw(st.sampled_from([*NUMBERS, *near]))
            return int(value) if kind == "integer" and draw(st.booleans()) else value
        return draw(st.booleans()) if kind == "boolean" else None

    return make(schema, 0)


@settings(max_examples=200, deadline=None)
@given(SCHEMAS, st.lists(INSTANCES, max_size=2), st.data())
def test_on_random_schemas_of_the_compiled_keywords_the_compiled_check_agrees_with_jsonschema(
        schema: dict[str, Any], instances: list[Any], data: st.DataObject) -> None:
    check = compile_draft4(schema)
    # Not compiled only for a chain of references back to itself (jsonschema recurses until its stack runs out).
    assert (check is None) is reaches_a_cycle_of_references(schema)
    if check is None:
        event("not compiled: a cycle of references")
        return
    instances += [data.draw(fitting(schema)) for _ in range(2)]
    verdicts = [check(instance) for instance in instances]
    assert verdicts == [oracle(schema, instance) for instance in instances]
    event(f"{sum(verdicts)} of {len(verdicts)} valid")


def as_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as an OpenApi3 document's AWSEvent, its references moved with it."""
    text = json.dumps(schema).replace('"#/definitions/', '"#/components/schemas/AWSEvent/definitions/')
    return {"openapi": "3.0.0", "components": {"schemas": {
        "AWSEvent": json.loads(text.replace('"$ref": "#"', '"$ref": "#/components/schemas/AWSEvent"'))}}}


@settings(max_examples=200, deadline=None)
@given(SCHEMAS, st.lists(INSTANCES, max_size=2), st.data())
def test_on_random_openapi_documents_with_nullable_the_compiled_check_agrees_with_jsonschema_on_the_translation(
        schema: dict[str, Any], instances: list[Any], data: st.DataObject) -> None:
    document = as_openapi(schema)
    root = checks_module._validation_root(document, "OpenApi3")
    assert isinstance(root, dict)
    event("nullable translated" if root != checks_module._event_root(document, "OpenApi3") else "nothing translated")
    check = compile_draft4(root)
    if check is None:
        event("not compiled: a cycle of references")
        return
    instances += [data.draw(fitting(schema)) for _ in range(2)] + [None]
    validator = Draft4Validator(root, registry=checks_module._offline())
    verdicts = [check(instance) for instance in instances]
    assert verdicts == [validator.is_valid(instance) for instance in instances]
    event(f"{sum(verdicts)} of {len(verdicts)} valid")
