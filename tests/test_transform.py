"""Input, InputPath and InputTransformer: AWS's vectors, the quoting rules, the
reserved variables, JSONPath, and every refusal in AWS's words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventbus
from eventbus import ValidationError, transform_input
from tests.conftest import load_vectors

VECTORS = load_vectors("input_transform.jsonl")
ANY = "<ingestion-time>"  # a value AWS's recording tool replaced: matches anything

EVENT: dict[str, Any] = {
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Order Placed",
    "source": "shop", "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "us-east-1",
    "resources": ["arn:aws:s3:::bucket"],
    "detail": {"id": "o-1", "total": 12.5, "count": 3, "paid": True, "note": None, "tags": ["a", "b"],
               "customer": {"name": "Ann", "tier": "gold"}, "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}],
               "quote": 'say "hi"', "path/with": "slash", "dash-key": "d"},
}


def tx(template: str, paths: dict[str, str] | None = None, event: Any = EVENT, **context: Any) -> str | None:
    transformer: dict[str, Any] = {"InputTemplate": template}
    if paths is not None:
        transformer["InputPathsMap"] = paths
    return transform_input(event, input_transformer=transformer, target_id="t1", **context)


def same_json(expected: Any, actual: Any) -> bool:
    if expected == ANY:
        return True
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(same_json(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(same_json, expected, actual))
    return bool(expected == actual)


def test_the_copied_vectors_are_all_there() -> None:
    assert len(VECTORS) == 33


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
def test_input_transform_vector_gets_aws_answer(case: dict[str, Any]) -> None:
    context = case.get("context") or {}
    kwargs: dict[str, Any] = {
        "input_path": case.get("input_path"), "input_transformer": case.get("input_transformer"),
        "rule_name": context.get("rule_name", "<rule-name>"),
        "rule_arn": context.get("rule_arn", "arn:aws:events:us-east-1:111111111111:rule/<rule-name>"),
        "ingestion_time": context.get("ingestion_time", "date"), "target_id": "<target-id>",
    }
    if case["expected"] == "invalid":
        with pytest.raises(ValidationError) as raised:
            transform_input(case["event"], **kwargs)
        assert str(raised.value) == case["aws_error"]
        return
    got = transform_input(case["event"], **kwargs)
    if case["expected"] == "not-delivered":
        assert got is None
    elif case.get("expected_output") is not None:
        assert got == case["expected_output"]
    else:
        assert got is not None and same_json(case["expected_output_json"], json.loads(got))


# -- JSON templates ------------------------------------------------------------------


@pytest.mark.parametrize(("template", "expected"), [
    ('{"v": <v>}', {"v": "o-1"}),  # a string gets its quotes
    ('{"v": "<v>"}', {"v": "o-1"}),  # ... or keeps the template's
    ('{"v": "id=<v>!"}', {"v": "id=o-1!"}),
    ('[<v>, "<v>"]', ["o-1", "o-1"]),  # an array template is JSON too
    ('  {"v": <v>}', {"v": "o-1"}),  # leading white space does not make it plain text
])
def test_a_string_value_is_quoted_once_in_a_json_template(template: str, expected: Any) -> None:
    got = tx(template, {"v": "$.detail.id"})
    assert got is not None and json.loads(got) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("$.detail.total", 12.5), ("$.detail.count", 3), ("$.detail.paid", True), ("$.detail.note", None),
    ("$.detail.tags", ["a", "b"]), ("$.detail.customer", {"name": "Ann", "tier": "gold"}),
    ("$.detail.missing", ""),  # a path that selects nothing: an empty string
])
def test_a_value_position_takes_the_json_value(path: str, expected: Any) -> None:
    got = tx('{"v": <v>}', {"v": path})
    assert got is not None and json.loads(got) == {"v": expected}


@pytest.mark.parametrize(("path", "expected"), [
    ("$.detail.total", "n=12.5"), ("$.detail.paid", "n=true"), ("$.detail.note", "n=null"),
    ("$.detail.missing", "n="),
])
def test_inside_a_string_scalars_are_pasted_as_text(path: str, expected: str) -> None:
    got = tx('{"v": "n=<v>"}', {"v": path})
    assert got is not None and json.loads(got) == {"v": expected}


@pytest.mark.parametrize("path", ["$.detail.tags", "$.detail.customer", "$.detail.quote"])
def test_inside_a_string_an_object_array_or_quote_breaks_the_json_and_nothing_is_delivered(path: str) -> None:
    # AWS pastes values into strings unescaped; when the result is not JSON it delivers nothing
    assert tx('{"v": "<v>"}', {"v": path}) is None


def test_a_template_that_is_not_json_after_filling_is_dropped() -> None:
    assert tx('{"v": <v>', {"v": "$.detail.id"}) is None  # the template itself is broken


def test_quotes_and_escapes_in_the_template_are_tracked() -> None:
    # an escaped quote does not end the string, so <v> stays inside it
    got = tx(r'{"a": "say \"<v>\"", "b": <v>}', {"v": "$.detail.id"})
    assert got is not None and json.loads(got) == {"a": 'say "o-1"', "b": "o-1"}
    got = tx(r'{"a": "back\\", "b": <v>}', {"v": "$.detail.id"})  # an escaped backslash ends with the quote
    assert got is not None and json.loads(got) == {"a": "back\\", "b": "o-1"}


def test_a_value_position_string_is_escaped_as_json() -> None:
    got = tx('{"v": <v>}', {"v": "$.detail.quote"})
    assert got is not None and json.loads(got) == {"v": 'say "hi"'}


def test_the_filled_template_keeps_the_template_s_own_text() -> None:
    assert tx('{ "v" :  <v> }', {"v": "$.detail.count"}) == '{ "v" :  3 }'


def test_a_placeholder_as_an_object_key_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"placeholder <k> as an object key"):
        tx('{<k>: 1}', {"k": "$.detail.id"})
    # the same text inside a string is a value, and fine
    assert tx('{"<k>": 1}', {"k": "$.detail.id"}) == '{"o-1": 1}'


# -- plain-text templates ------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("$.detail.id", "v=o-1"), ("$.detail.total", "v=12.5"), ("$.detail.paid", "v=true"),
    ("$.detail.note", "v=null"), ("$.detail.missing", "v="), ("$.detail.quote", 'v=say "hi"'),
    ("$.detail.tags", "v=[a,b]"), ("$.detail.customer", "v={name:Ann,tier:gold}"),
    ("$.detail.items", "v=[{sku:x,qty:1},{sku:y,qty:2}]"),
])
def test_plain_text_templates_paste_values_with_quotes_removed_from_objects(path: str, expected: str) -> None:
    assert tx("v=<v>", {"v": path}) == expected


def test_a_quoted_plain_template_is_delivered_as_a_json_string() -> None:
    assert tx('"order <v> placed"', {"v": "$.detail.id"}) == '"order o-1 placed"'


def test_a_placeholder_used_twice_is_read_once_and_filled_twice() -> None:
    assert tx("<v>-<v>", {"v": "$.detail.id"}) == "o-1-o-1"


def test_text_that_only_looks_like_a_placeholder_is_kept() -> None:
    assert tx("a < b and c > d: <v>", {"v": "$.detail.id"}) == "a < b and c > d: o-1"


# -- reserved variables --------------------------------------------------------------


def test_reserved_variables() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    got = tx('{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>", '
             '"at": <aws.events.event.ingestion-time>, "e": <aws.events.event>, "j": <aws.events.event.json>}',
             rule_name="r", rule_arn="arn:aws:events:us-east-1:123456789012:rule/r", ingestion_time=when)
    assert got is not None
    out = json.loads(got)
    assert out["arn"] == "arn:aws:events:us-east-1:123456789012:rule/r"
    assert out["name"] == "r"
    assert out["at"] == "2024-05-06T07:08:09Z"
    assert out["j"] == EVENT
    envelope = {("detailType" if k == "detail-type" else k): v for k, v in EVENT.items() if k != "detail"}
    assert out["e"] == envelope and "detail" not in out["e"]


def test_a_reserved_name_needs_no_path_but_any_other_does() -> None:
    with pytest.raises(ValidationError, match=r"^InputTemplate for target t1 contains invalid placeholder "
                                              r"aws\.events\.other\.$"):
        tx("<aws.events.other>")


# -- InputPath and Input -------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("$", EVENT),
    ("$.detail.customer.name", "Ann"),
    ("$.detail.items[1].sku", "y"),
    ("$.detail.items[-1].qty", 2),
    ("$.detail['path/with']", "slash"),
    ('$.detail["dash-key"]', "d"),
    ("$.detail.path/with", "slash"),
    ("$.detail.dash-key", "d"),
    ("$.detail.items[*].sku", ["x", "y"]),
    ("$.detail.items.*.qty", [1, 2]),
    ("$.detail.customer.*", ["Ann", "gold"]),
    ("$.detail.nothing[*]", []),
])
def test_input_path_selects(path: str, expected: Any) -> None:
    got = transform_input(EVENT, input_path=path)
    assert got is not None and json.loads(got) == expected


@pytest.mark.parametrize("path", ["$.detail.missing", "$.detail.items[2]", "$.detail.id.deeper", "$.detail[0]",
                                  "$.detail.tags.a"])
def test_an_input_path_that_selects_nothing_delivers_nothing(path: str) -> None:
    assert transform_input(EVENT, input_path=path) is None


@pytest.mark.parametrize("path", ["detail", "$..detail", "$.detail.", "$[abc]", "$.a[1", "$ .a"])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="is not a valid JSONPath"):
        transform_input(EVENT, input_path=path)


def test_a_whole_event_target_gets_the_event() -> None:
    got = transform_input(EVENT)
    assert got is not None and json.loads(got) == EVENT
    text = json.dumps(EVENT)
    assert transform_input(text) == text  # the very text, as given
    assert transform_input(text, input_path="$") == text


def test_input_is_delivered_verbatim() -> None:
    assert transform_input(EVENT, input='{"fixed": [1, 2]}') == '{"fixed": [1, 2]}'


# -- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"input": "{}", "input_path": "$"}, "Only one of Input, InputPath, or InputTransformer must be provided for "
                                         "target t1."),
    ({"input": "{}", "input_transformer": {"InputTemplate": "x"}}, "Only one of Input, InputPath, or "
                                                                   "InputTransformer must be provided for target t1."),
    ({"input": "not json"}, "Input for target t1 is not valid JSON text: not json"),
    ({"input": "x" * 8193}, "1 validation error detected: Value at 'targets.1.member.input' failed to satisfy "
                            "constraint: Member must have length less than or equal to 8192"),
    ({"input": 5}, "Invalid type for parameter Input, value: 5, type: <class 'int'>, valid types: <class 'str'>"),
    ({"input_path": "$." + "a" * 300}, "1 validation error detected: Value '$." + "a" * 75 + "...' at "
                                       "'InputPath' failed to satisfy constraint: Member must have length less than "
                                       "or equal to 256"),
    ({"input_transformer": {"InputTemplate": ""}}, "1 validation error detected: Value at 'targets.1.member."
                                                   "inputTransformer.inputTemplate' failed to satisfy constraint: "
                                                   "Member must have length greater than or equal to 1"),
    ({"input_transformer": {"InputTemplate": "x" * 8193}}, "1 validation error detected: Value at 'targets.1."
                                                           "member.inputTransformer.inputTemplate' failed to satisfy "
                                                           "constraint: Member must have length less than or equal "
                                                           "to 8192"),
    ({"input_transformer": {}}, 'Missing required parameter in InputTransformer: "InputTemplate"'),
    ({"input_transformer": {"InputTemplate": "x", "Paths": {}}}, 'Unknown parameter in InputTransformer: "Paths", '
                                                                 "must be one of: InputPathsMap, InputTemplate"),
    ({"input_transformer": {"InputTemplate": "x", "InputPathsMap": {f"k{i}": "$" for i in range(101)}}},
     "1 validation error detected: Value at 'targets.1.member.inputTransformer.inputPathsMap' failed to satisfy "
     "constraint: Member must have length less than or equal to 100"),
    ({"input_transformer": {"InputTemplate": "x", "InputPathsMap": {"a.b": "$"}}},
     "InputPathsMap key 'a.b' for target t1 is not valid: use 1 to 256 letters, digits, '_' or '-'"),
    ({"input_transformer": {"InputTemplate": "x", "InputPathsMap": {"k": "detail"}}},
     "InputPathsMap[k] 'detail' is not a valid JSONPath: it must start with '$'"),
    ({"input_transformer": "<x>"}, "Invalid type for parameter InputTransformer, value: <x>, type: <class 'str'>, "
                                   "valid types: <class 'dict'>"),
])
def test_bad_settings_are_refused_in_aws_words(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError) as raised:
        transform_input(EVENT, target_id="t1", **kwargs)
    assert str(raised.value) == error


def test_a_bad_event_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"^Parameter Event is not valid\.$"):
        transform_input("{not json")


# -- property: JSON templates against a reference built from Python values ----------

_PLAIN = st.characters(blacklist_characters='"\\<>', blacklist_categories=("Cs", "Cc"))  # pasted as is
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(_PLAIN, max_size=8))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=3), max_leaves=8)


class Slot:
    """A placeholder in a generated template: in a value position or in a string."""

    def __init__(self, name: str, in_string: bool, prefix: str = "") -> None:
        self.name, self.in_string, self.prefix = name, in_string, prefix


def _shapes(names: list[str]) -> st.SearchStrategy[Any]:
    slot = st.builds(Slot, st.sampled_from(names), st.booleans(), st.text(_PLAIN, max_size=4))
    leaf = st.one_of(slot, _SCALARS)
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text("xyz", min_size=1, max_size=3), inner, max_size=3), max_leaves=6)


def _template_text(shape: Any) -> str:
    """The shape written as a template (by hand: this is the oracle's side)."""
    if isinstance(shape, Slot):
        return f'"{shape.prefix}<{shape.name}>"' if shape.in_string else f"<{shape.name}>"
    if isinstance(shape, list):
        return "[" + ", ".join(_template_text(item) for item in shape) + "]"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_template_text(v)}" for k, v in shape.items()) + "}"
    return json.dumps(shape)


class Undeliverable(Exception):
    pass


def _expected(shape: Any, values: dict[str, Any]) -> Any:
    """What AWS delivers, from the documented rules, on Python values."""
    if isinstance(shape, Slot):
        value = values.get(shape.name, "")
        if not shape.in_string:
            return value
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if '"' in text:
            raise Undeliverable  # pasted unescaped, a quote ends the string early: not JSON any more
        return shape.prefix + text
    if isinstance(shape, list):
        return [_expected(item, values) for item in shape]
    if isinstance(shape, dict):
        return {k: _expected(v, values) for k, v in shape.items()}
    return shape


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _VALUES, min_size=1), st.data())
def test_json_templates_agree_with_a_reference_built_from_values(values: dict[str, Any], data: st.DataObject) -> None:
    names = ["a", "b", "c"]
    shape = data.draw(st.one_of(st.lists(_shapes(names), max_size=4),
                                st.dictionaries(st.text("xyz", min_size=1, max_size=3), _shapes(names), max_size=4)))
    event = {"detail": values}
    template = _template_text(shape)
    paths = {name: f"$.detail.{name}" for name in names}
    got = tx(template, paths, event)
    try:
        want = _expected(shape, values)
    except Undeliverable:
        assert got is None
        return
    assert got is not None and json.loads(got) == want


def test_the_public_name_is_exported() -> None:
    assert eventbus.transform_input is transform_input
