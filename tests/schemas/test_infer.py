"""Schema inference: the JSON Schema (Draft 4) of events in the shape EventBridge
exports, and its join, checked against an independent validator (``jsonschema``)."""

from __future__ import annotations

import importlib
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any, cast

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from eventbus._schemas import _infer as infer_module
from eventbus._schemas import infer, is_date_time, merge, schema_name_for
from eventbus._schemas._infer import CANONICAL, MAX_DEPTH, MAX_PROPERTIES, Shape, dress, labels, widen

from ..support import STACK_DEPTHS, from_deep_in_the_stack, message

Draft4Validator = importlib.import_module("jsonschema").Draft4Validator
DRAFT4 = "http://json-schema.org/draft-04/schema#"


def envelope(detail: Any, *, source: str = "my.app", detail_type: str = "Order Placed",
             **fields: Any) -> dict[str, Any]:
    return {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
            "source": source, "account": "123456789012", "time": "2024-03-01T12:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail, **fields}


def detail_of(schema: dict[str, Any]) -> Any:
    """The detail's node, wherever the schema keeps it."""
    node = schema["properties"]["detail"]
    return schema["definitions"][node["$ref"].split("/")[-1]] if "$ref" in node else node


def valid(schema: dict[str, Any], instance: Any) -> bool:
    return bool(Draft4Validator(schema).is_valid(instance))


# -- names -------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "detail_type", "name"), [
    ("aws.ec2", "EC2 Instance State-change Notification", "aws.ec2@EC2InstanceStateChangeNotification"),
    ("aws.ec2", "AWS API Call via CloudTrail", "aws.ec2@AWSAPICallViaCloudTrail"),
    ("aws.s3", "Object Created", "aws.s3@ObjectCreated"),
    ("my.app", "order_placed", "my.app@OrderPlaced"),
    ("my.app", "order.placed/v2 (beta)", "my.app@OrderPlacedV2Beta"),
    ("my app/v1", "Café ordered", "myappv1@CafOrdered"),
    ("a@b", "x", "ab@X"),
    ("my.app", "", "my.app@"),
    ("s", "w " * 400, "s@" + "W" * 383),
], ids=["aws-example", "lower-case-words", "two-words", "underscores", "punctuation", "not-in-a-name", "at-sign",
        "no-words", "cut-to-385"])
def test_a_discovered_schema_is_named_source_at_the_detail_type_in_camel_case(source: str, detail_type: str,
                                                                              name: str) -> None:
    assert schema_name_for(source, detail_type) == name


def test_schema_names_take_text_only() -> None:
    assert message(lambda: schema_name_for(1, "x")) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter source, value: 1, type: <class 'int'>, valid types: "
        "<class 'str'>")


@pytest.mark.parametrize("text", ["2024-03-01T12:00:00Z", "2024-03-01t12:00:00z", "2024-02-29T23:59:60.123+05:30",
                                  "2000-02-29T00:00:00-23:59", "1999-12-31T23:59:59.5Z"])
def test_rfc_3339_date_times_are_recognised(text: str) -> None:
    assert is_date_time(text)


@pytest.mark.parametrize("text", ["2024-03-01", "2024-03-01 12:00:00Z", "2024-03-01T12:00:00", "2023-02-29T00:00:00Z",
                                  "1900-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-04-31T00:00:00Z",
                                  "2024-03-01T24:00:00Z", "2024-03-01T12:60:00Z", "2024-03-01T12:00:61Z",
                                  "2024-03-01T12:00:00+24:00", "2024-03-01T12:00:00+05:60", "2024-03-01T12:00:00.Z",
                                  "２０２４-03-01T12:00:00Z", " 2024-03-01T12:00:00Z", ""])
def test_other_text_is_not_a_date_time(text: str) -> None:
    assert not is_date_time(text)


# -- inference -----------------------------------------------------------------------------
def test_an_event_is_inferred_in_the_shape_eventbridge_exports() -> None:
    schema = infer(envelope({"instance-id": "i-1", "state": "running", "count": 2, "ratio": 0.5, "ok": True,
                             "gone": None, "tags": ["a"], "empty": [], "at": "2024-03-01T12:00:00.5Z"},
                            detail_type="EC2 Instance State-change Notification", source="aws.ec2"))
    assert schema == {
        "$schema": DRAFT4,
        "title": "EC2InstanceStateChangeNotification",
        "definitions": {"EC2InstanceStateChangeNotification": {
            "type": "object",
            "properties": {"at": {"type": "string", "format": "date-time"}, "count": {"type": "integer"},
                           "empty": {"type": "array"}, "gone": {"type": "null"},
                           "instance-id": {"type": "string"}, "ok": {"type": "boolean"},
                           "ratio": {"type": "number"}, "state": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["at", "count", "empty", "gone", "instance-id", "ok", "ratio", "state", "tags"]}},
        "type": "object",
        "properties": {"account": {"type": "string"},
                       "detail": {"$ref": "#/definitions/EC2InstanceStateChangeNotification"},
                       "detail-type": {"type": "string"}, "id": {"type": "string"}, "region": {"type": "string"},
                       "resources": {"type": "array"}, "source": {"type": "string"},
                       "time": {"type": "string", "format": "date-time"}, "version": {"type": "string"}},
        "required": ["account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"],
        "x-amazon-events-source": "aws.ec2",
        "x-amazon-events-detail-type": "EC2 Instance State-change Notification",
    }
    Draft4Validator.check_schema(schema)


def test_the_elements_of_an_array_share_one_schema_with_the_keys_every_element_had_required() -> None:
    schema = infer(envelope({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2.5, "gift": True}, None, "x"]}))
    assert detail_of(schema)["properties"]["items"] == {"type": "array", "items": {
        "type": ["null", "object", "string"],
        "properties": {"gift": {"type": "boolean"}, "qty": {"type": "number"}, "sku": {"type": "string"}},
        "required": ["qty", "sku"]}}


def test_an_object_without_keys_gets_no_required_list_as_draft_4_wants_it_non_empty() -> None:
    schema = infer(envelope({}))
    assert detail_of(schema) == {"type": "object", "properties": {}}
    Draft4Validator.check_schema(schema)


def test_an_event_without_detail_type_keeps_no_title_and_its_detail_inline() -> None:
    schema = infer({"source": "my.app", "detail": {"a": 1}})
    assert "title" not in schema and "definitions" not in schema
    assert schema["properties"]["detail"] == {"type": "object", "properties": {"a": {"type": "integer"}},
                                              "required": ["a"]}
    assert schema["x-amazon-events-source"] == "my.app" and "x-amazon-events-detail-type" not in schema


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` containers deep, with a number at the bottom."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value  # type: ignore[no-any-return]


def depth_of(node: dict[str, Any]) -> int:
    """Levels of object nodes below ``node`` (itself included) before an unconstrained ``{}``."""
    levels = 0
    while node.get("type") == "object":
        levels += 1
        node = node["properties"]["a"]
    assert node == {} or node == {"type": "integer"}
    return levels


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_containers_deeper_than_255_levels_are_left_unconstrained(frames: int) -> None:
    # the event is level 1 and its detail level 2: the detail holds 254 more levels, the 256th is cut
    deep_event = envelope(nested(5000))
    schema = cast(dict[str, Any], from_deep_in_the_stack(frames, lambda: infer(deep_event)))
    assert depth_of(detail_of(schema)) == MAX_DEPTH - 1
    shallow = infer(envelope(nested(MAX_DEPTH - 1)))
    assert depth_of(detail_of(shallow)) == MAX_DEPTH - 1
    joined = cast(dict[str, Any], from_deep_in_the_stack(frames, lambda: merge(schema, shallow)))
    assert detail_of(joined) == detail_of(schema)


def test_arrays_too_are_cut_at_255_levels_and_what_is_cut_absorbs_everything_without_change() -> None:
    value: Any = "leaf"
    for _ in range(300):
        value = [value]
    shape = Shape()
    assert shape.absorb(envelope(value))
    assert not shape.absorb(envelope(value))
    deeper: Any = {"other": [1, None]}
    for _ in range(299):
        deeper = [deeper]
    assert not shape.absorb(envelope(deeper))  # beyond the cut: anything goes, nothing changes
    node = shape.render()["properties"]["detail"]
    levels = 0
    while node.get("type") == "array":
        levels += 1
        node = node["items"]
    assert (levels, node) == (MAX_DEPTH - 1, {})


@pytest.mark.parametrize(("call", "text"), [
    (lambda: infer([1]),  # type: ignore[arg-type]
     "ValidationError: Invalid type for parameter event, value: [1], type: <class 'list'>, valid types: "
     "<class 'dict'>"),
    (lambda: infer(envelope({"when": {1, 2}})),
     "ValidationError: An event is JSON: a set ({1, 2}) is not a JSON value"),
    (lambda: merge(infer(envelope({})), infer(envelope({}, source="other"))),
     "ValidationError: Schemas of different events do not merge: source my.app and detail-type Order Placed, source "
     "other and detail-type Order Placed"),
    (lambda: merge({"properties": {"detail": {"$ref": "#/definitions/X"}}}, {}),
     "ValidationError: The schema's detail refers to #/definitions/X, which it does not define"),
    (lambda: merge("{}", {}),  # type: ignore[arg-type]
     "ValidationError: Invalid type for parameter schema, value: {}, type: <class 'str'>, "
                              "valid types: <class 'dict'>"),
], ids=["not-an-object", "not-json", "different-events", "dangling-ref", "text"])
def test_bad_inputs_are_refused_with_a_clear_message(call: Any, text: str) -> None:
    assert message(call) == text


def test_subclasses_of_json_types_are_inferred_as_their_json_type() -> None:
    class Text(str):
        pass

    class Count(int):
        pass

    class Ratio(float):
        pass

    class Object(dict[str, Any]):
        pass

    class Array(list[Any]):
        pass

    schema = infer(envelope({"t": Text("2024-03-01T12:00:00Z"), "b": True, "c": Count(3), "r": Ratio(0.5),
                             "o": Object(k=Count(1)), "a": Array([Text("x")])}))
    assert detail_of(schema)["properties"] == {
        "a": {"type": "array", "items": {"type": "string"}}, "b": {"type": "boolean"}, "c": {"type": "integer"},
        "o": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]},
        "r": {"type": "number"}, "t": {"type": "string", "format": "date-time"}}


# -- merging -------------------------------------------------------------------------------
def merged(*details: Any) -> Any:
    schemas = [infer(envelope(d)) for d in details]
    result = schemas[0]
    for schema in schemas[1:]:
        result = merge(result, schema)
    return detail_of(result)


def test_a_field_missing_from_an_event_becomes_optional() -> None:
    assert merged({"a": 1, "b": "x"}, {"a": 2}) == {
        "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]}


def test_integers_and_numbers_widen_to_number_and_null_joins_as_a_type() -> None:
    assert merged({"v": 1}, {"v": 1.5})["properties"]["v"] == {"type": "number"}
    assert merged({"v": 1}, {"v": None}, {"v": 2.5})["properties"]["v"] == {"type": ["null", "number"]}


def test_a_type_change_widens_to_a_list_of_types_with_each_types_keywords() -> None:
    assert merged({"v": {"x": 1}}, {"v": [True]}, {"v": "2024-03-01T12:00:00Z"})["properties"]["v"] == {
        "type": ["array", "object", "string"], "format": "date-time", "items": {"type": "boolean"},
        "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def test_date_time_holds_only_while_every_string_seen_is_one() -> None:
    assert merged({"t": "2024-03-01T12:00:00Z"}, {"t": 3})["properties"]["t"] == {
        "type": ["integer", "string"], "format": "date-time"}
    assert merged({"t": "2024-03-01T12:00:00Z"}, {"t": "soon"})["properties"]["t"] == {"type": "string"}


def test_array_items_merge_across_events_and_an_empty_array_adds_nothing() -> None:
    assert merged({"l": []}, {"l": [1]}, {"l": [{"k": 1}]})["properties"]["l"] == {
        "type": "array", "items": {"type": ["integer", "object"], "properties": {"k": {"type": "integer"}},
                                   "required": ["k"]}}
    assert merged({"l": []}, {"l": []})["properties"]["l"] == {"type": "array"}


# -- wide objects ----------------------------------------------------------------------------
ACCOUNTS = [f"acct-{n:04d}" for n in range(MAX_PROPERTIES + 1)]


def test_an_object_node_describes_up_to_256_keys_one_by_one() -> None:
    node = merged({"balances": dict.fromkeys(ACCOUNTS[:200], 1)},
                  {"balances": dict.fromkeys(ACCOUNTS[150:256], 2.5)})["properties"]["balances"]
    assert (MAX_PROPERTIES, len(node["properties"]), len(node["required"])) == (256, 256, 50)


def test_an_object_node_past_256_keys_between_its_events_collapses_to_any_object() -> None:
    node = merged({"balances": dict.fromkeys(ACCOUNTS[:200], 1)},
                  {"balances": dict.fromkeys(ACCOUNTS[100:], 1)})["properties"]["balances"]
    assert node == {"type": "object"}
    schema = infer(envelope(dict.fromkeys(ACCOUNTS, "x")))
    assert schema["definitions"]["OrderPlaced"] == {"type": "object"}
    assert schema["properties"]["detail"] == {"$ref": "#/definitions/OrderPlaced"}
    Draft4Validator.check_schema(schema)


def test_a_collapsed_object_keeps_its_other_types_and_absorbs_any_object() -> None:
    wide = {"b": dict.fromkeys(ACCOUNTS, 1)}
    assert merged(wide, {"b": None}, {"b": {"x": {"y": [1]}}}, {"b": ["z"]})["properties"]["b"] == {
        "type": ["array", "null", "object"], "items": {"type": "string"}}
    assert merged({"b": {"x": {"y": [1]}}}, wide, {"b": None}, {"b": ["z"]}) == merged(
        {"b": ["z"]}, {"b": None}, {"b": {"x": {"y": [1]}}}, wide)
    shape = Shape()
    assert shape.absorb(envelope(wide))
    assert not shape.absorb(envelope({"b": {"new": {"deeper": True}}}))  # (a collapsed node holds nothing more)


def test_widening_collapses_the_object_with_the_largest_text_of_its_own_first() -> None:
    shape = Shape()
    shape.absorb(envelope({"small": {"a": 1}, "wide": {f"field-{n:03d}": n for n in range(100)},
                           "nested": {"inner": {f"key-{n:02d}": "v" for n in range(40)}, "flag": True}}))
    assert widen(shape, 100) == 1
    detail = shape.render()["properties"]["detail"]
    assert detail["properties"]["wide"] == {"type": "object"}
    assert len(detail["properties"]["nested"]["properties"]["inner"]["properties"]) == 40
    assert widen(shape, 600) == 1  # (then the next widest: 40 keys, inside an object that keeps its own)
    assert detail_of(dress(shape.render(), "my.app", "Order Placed"))["properties"]["nested"] == {
        "type": "object", "properties": {"flag": {"type": "boolean"}, "inner": {"type": "object"}},
        "required": ["flag", "inner"]}


def test_widening_can_leave_the_whole_event_open_and_then_has_nothing_left() -> None:
    shape = Shape()
    shape.absorb(envelope({"a": {"b": 1}}))
    assert widen(shape, 10**6) == 1  # (the envelope's fields: the largest text of its own; the rest goes with it)
    assert shape.render() == {"type": "object"}
    assert widen(shape, 1) == 0


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_widening_a_deeply_nested_schema_works_from_deep_in_the_stack(frames: int) -> None:
    value: Any = {f"key-{n:03d}": n for n in range(100)}
    for _ in range(MAX_DEPTH - 5):
        value = {"a": value}
    shape = Shape()
    shape.absorb(envelope(value))
    assert from_deep_in_the_stack(frames, lambda: widen(shape, 500)) == 1
    node = detail_of(dress(shape.render(), "my.app", "Order Placed"))
    levels = 0
    while "properties" in node:
        node = node["properties"]["a"]
        levels += 1
    assert (levels, node) == (MAX_DEPTH - 5, {"type": "object"})  # (the detail, then each "a")


# -- properties ------------------------------------------------------------------------------
KEYS = st.sampled_from(["a", "b", "c", "id", "x-y", "with space", "ü"]) | st.text(max_size=3)
DATE_TIMES = st.datetimes(timezones=st.just(UTC)).map(lambda at: at.isoformat().replace("+00:00", "Z"))
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5) | DATE_TIMES)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=12)
DETAILS = st.dictionaries(KEYS, JSON, max_size=5)
LABELS = st.tuples(st.sampled_from(["my.app", "aws.ec2", "com.example@x"]),
                   st.sampled_from(["Order Placed", "EC2 Instance State-change Notification", ""]))


@st.composite
def events(draw: st.DrawFn, count: int = 1) -> list[dict[str, Any]]:
    """Events of one source and detail-type, with random details and envelopes:
    fields left out or of other types now and then, ``time`` not always a date-time."""
    source, detail_type = draw(LABELS)
    out = []
    for _ in range(count):
        fields = envelope(draw(DETAILS), source=source, detail_type=detail_type)
        fields["time"] = draw(DATE_TIMES | st.sampled_from(["2024-03-01T12:00:00Z", "yesterday"]))
        fields["resources"] = draw(st.lists(st.text(max_size=8), max_size=2))
        for key in draw(st.sets(st.sampled_from(["id", "account", "region", "resources", "detail"]), max_size=2)):
            del fields[key]
        if draw(st.booleans()):
            fields[draw(KEYS)] = draw(JSON)
        out.append(json.loads(json.dumps(fields)))  # (as a bus has it: parsed JSON)
    return out


@settings(max_examples=100, deadline=None)
@given(events())
def test_an_inferred_schema_validates_the_event_it_came_from(found: list[dict[str, Any]]) -> None:
    schema = infer(found[0])
    Draft4Validator.check_schema(schema)
    assert valid(schema, found[0])


WIDE_DETAILS = st.dictionaries(KEYS, JSON, max_size=6)


@st.composite
def wide_events(draw: st.DrawFn, count: int = 1) -> list[dict[str, Any]]:
    """Events of one source and detail-type with a bare envelope (three or four
    keys) and details of up to six keys: under a bound of four keys, the
    detail and the objects in it collapse now and then, the root seldom."""
    source, detail_type = draw(LABELS)
    out = []
    for _ in range(count):
        fields: dict[str, Any] = {"source": source, "detail-type": detail_type, "detail": draw(WIDE_DETAILS)}
        if draw(st.booleans()):
            fields[draw(KEYS)] = draw(JSON)
        out.append(json.loads(json.dumps(fields)))
    return out


@contextmanager
def at_most_four_keys() -> Iterator[None]:
    """``MAX_PROPERTIES`` of 4, for the duration (not a fixture: Hypothesis reruns the test body)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(infer_module, "MAX_PROPERTIES", 4)
        yield


def collapsed_objects(node: Any) -> int:
    """Object nodes without ``properties`` in a schema (collapsed ones)."""
    if not isinstance(node, dict):
        return sum(collapsed_objects(item) for item in node) if isinstance(node, list) else 0
    declared = node.get("type")
    here = int(("object" == declared or isinstance(declared, list) and "object" in declared)
               and "properties" not in node)
    return here + sum(collapsed_objects(value) for key, value in node.items() if key != "required")


def check_merging_in_any_order(found: list[dict[str, Any]], rng: Any) -> dict[str, Any]:
    """Merging in any order and grouping gives one schema, and it validates every event."""
    schemas = [infer(e) for e in found]
    results = set()
    for _ in range(3):
        rng.shuffle(schemas)
        result = schemas[0]
        for schema in schemas[1:]:
            result = merge(result, schema)
        results.add(json.dumps(result, sort_keys=True))
    # associativity: a right fold gives the same as the left folds
    right = schemas[-1]
    for schema in reversed(schemas[:-1]):
        right = merge(schema, right)
    results.add(json.dumps(right, sort_keys=True))
    assert len(results) == 1
    final: dict[str, Any] = json.loads(results.pop())
    Draft4Validator.check_schema(final)
    for e in found:
        assert valid(final, e)
    event("a type widened" if '"type": [' in json.dumps(final) else "no type widened")
    return final


def check_merge_is_idempotent_and_commutative(found: list[dict[str, Any]]) -> None:
    schemas = [infer(e) for e in found]
    for a, b in itertools.product(schemas, repeat=2):
        assert merge(a, a) == a
        assert merge(a, b) == merge(b, a)
        ab = merge(a, b)
        assert merge(ab, a) == ab == merge(ab, b)


def check_folding_one_by_one(found: list[dict[str, Any]]) -> None:
    """The discoverer's fast path: ``absorb`` says "no change" only when the
    rendered schema is indeed the same; folding gives the merge."""
    shape = Shape()
    rendered = None
    for e in found:
        changed = shape.absorb(e)
        now = shape.render()
        if not changed:
            assert now == rendered
        rendered = now
    schemas = [infer(e) for e in found]
    result = schemas[0]
    for schema in schemas[1:]:
        result = merge(result, schema)
    assert dress(shape.render(), *labels(found[0])) == result


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=5).flatmap(lambda n: events(n)), st.randoms(use_true_random=False))
def test_merging_in_any_order_gives_one_schema_and_it_validates_every_event(found: list[dict[str, Any]],
                                                                           rng: Any) -> None:
    final = check_merging_in_any_order(found, rng)
    event("a field optional" if final["properties"].keys() - set(final.get("required", ())) else "every field required")
    event("date-time dropped" if final["properties"]["time"] == {"type": "string"} else "date-time kept")


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=5).flatmap(lambda n: wide_events(n)), st.randoms(use_true_random=False))
def test_with_wide_objects_collapsed_merging_in_any_order_still_gives_one_schema_that_validates_every_event(
        found: list[dict[str, Any]], rng: Any) -> None:
    with at_most_four_keys():
        final = check_merging_in_any_order(found, rng)
    event(f"{min(collapsed_objects(final), 3)} (3: or more) objects collapsed")


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=3).flatmap(lambda n: events(n)))
def test_merge_is_idempotent_and_commutative(found: list[dict[str, Any]]) -> None:
    check_merge_is_idempotent_and_commutative(found)


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=3).flatmap(lambda n: wide_events(n)))
def test_with_wide_objects_collapsed_merge_is_still_idempotent_and_commutative(found: list[dict[str, Any]]) -> None:
    with at_most_four_keys():
        check_merge_is_idempotent_and_commutative(found)


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=5).flatmap(lambda n: events(n)))
def test_folding_events_one_by_one_gives_the_merge_of_their_schemas_and_reports_every_change(
        found: list[dict[str, Any]]) -> None:
    check_folding_one_by_one(found)


@settings(max_examples=50, deadline=None)  # (generating events is most of the time)
@given(st.integers(min_value=1, max_value=5).flatmap(lambda n: wide_events(n)))
def test_with_wide_objects_collapsed_folding_one_by_one_still_gives_the_merge_and_reports_every_change(
        found: list[dict[str, Any]]) -> None:
    with at_most_four_keys():
        check_folding_one_by_one(found)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=4).flatmap(lambda n: wide_events(n) | events(n)),
       st.integers(min_value=1, max_value=40) | st.integers(min_value=1, max_value=400))
def test_widening_to_save_any_number_of_characters_keeps_a_schema_of_every_event(found: list[dict[str, Any]],
                                                                                excess: int) -> None:
    shape = Shape()
    for e in found:
        shape.absorb(e)
    before = len(CANONICAL.encode(shape.render()))
    count = widen(shape, excess)
    after = CANONICAL.encode(shape.render())
    # saved enough, or nothing open is left to collapse
    assert len(after) <= before - excess or not any(True for _ in iter_objects(json.loads(after)))
    assert (count == 0) is (len(after) == before)
    schema = dress(shape.render(), *labels(found[0]))
    for e in found:
        assert valid(schema, e)
    for e in found:  # (a collapsed node stays collapsed: the events seen change nothing)
        assert not shape.absorb(e)
    event(f"{min(count, 3)} (3: or more) objects collapsed")
    event("the whole event collapsed" if shape.collapsed else "the whole event open")


def iter_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield node
        for key, value in node.items():
            if key != "required":
                yield from iter_objects(value)
