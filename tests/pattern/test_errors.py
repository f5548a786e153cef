"""Every invalid form gets AWS's message (event-ruler's wording, as AWS uses it)."""

from __future__ import annotations

import pytest

import eventbus
from tests.support import STACK_DEPTHS, from_deep_in_the_stack

PREFIX = "Event pattern is not valid. Reason: "

BAD_PATTERNS = [
    ('["a"]', "Filter is not an object"),
    ("42", "Filter is not an object"),
    ("", "Filter is not an object"),
    ("{}", "Empty objects are not allowed"),
    ('{"a": {}}', "Empty objects are not allowed"),
    ('{"a": "x"}', '"a" must be an object or an array'),
    ('{"a": 1}', '"a" must be an object or an array'),
    ('{"a": null}', '"a" must be an object or an array'),
    ('{"a": []}', "Empty arrays are not allowed"),
    ('{"a": [[1]]}', "Match value must be String, number, true, false, or null"),
    ('{"a": [{}]}', "Match expression name not found"),
    ('{"a": [{"nope": 1}]}', "Unrecognized match type nope"),
    ('{"a": [{"prefix": "x", "suffix": "y"}]}', "Only one key allowed in match expression"),
    ('{"a": [{"prefix": {"nope": "x"}}]}', "Unsupported prefix pattern: nope"),
    ('{"a": [{"suffix": {"nope": "x"}}]}', "Unsupported suffix pattern: nope"),
    ('{"a": [{"prefix": {}}]}', "Prefix expression name not found"),
    ('{"a": [{"suffix": {}}]}', "Suffix expression name not found"),
    ('{"a": [{"prefix": {"equals-ignore-case": 1}}]}', "equals-ignore-case match pattern must be a string"),
    ('{"a": [{"exactly": 1}]}', "exact match pattern must be a string"),
    ('{"a": [{"numeric": ["=", "x"]}]}', "Value of equals must be numeric"),
    ('{"a": [{"numeric": ["=", 1, 2]}]}', "Too many elements in numeric expression"),
    ('{"a": [{"numeric": [1]}]}', "Invalid member in numeric match: 1"),
    ('{"a": [{"numeric": ["!", 1]}]}', "Unrecognized numeric range operator: !"),
    ('{"a": [{"numeric": [">", 1, 2]}]}', "Bad value in numeric range: 2"),
    ('{"a": [{"numeric": [">", 1, "<", 2, "<", 3]}]}', "Too many terms in numeric range expression"),
    # AWS's matcher (event-ruler) refuses a range whose bottom is not below its top (#7)
    ('{"a": [{"numeric": [">=", 5, "<=", 5]}]}', "Bottom must be less than top"),
    ('{"a": [{"numeric": [">", 10, "<", 1]}]}', "Bottom must be less than top"),
    ('{"a": [{"numeric": [">", 0.5, "<=", 0.5]}]}', "Bottom must be less than top"),
    ('{"a": [{"numeric": ["<", 1, ">", 0]}]}', "Too many elements in numeric expression"),
    ('{"a": [{"numeric": [">=", "1"]}]}', "Value of >= must be numeric"),
    ('{"a": [{"numeric": ["<", "x"]}]}', "Value of < must be numeric"),
    ('{"a": [{"numeric": ["<=", null]}]}', "Value of <= must be numeric"),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ('{"a": [{"exists": true, "x": 1}]}', "Only one key allowed in match expression"),
    ('{"a": [{"anything-but": true}]}', "Value of anything-but must be an array or single string/number value."),
    ('{"a": [{"anything-but": []}]}',
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ('{"a": [{"anything-but": ["x", 1]}]}',
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ('{"a": [{"anything-but": [true]}]}', "Inside anything but list, start|null|boolean is not supported."),
    ('{"a": [{"anything-but": {"nope": "x"}}]}', "Unsupported anything-but pattern: nope"),
    ('{"a": [{"anything-but": {}}]}', "Anything-But expression name not found"),
    ('{"a": [{"anything-but": {"suffix": ["x", ""]}}]}', "Null prefix/suffix not allowed"),
    ('{"a": [{"anything-but": {"wildcard": "a**"}}]}', "Consecutive wildcard characters at pos 2"),
    ('{"a": [{"anything-but": "x", "b": 1}]}', "Too many elements in numeric expression"),
    # event-ruler closes the anything-but's inner object, then the outer one, with the same check
    ('{"a": [{"anything-but": {"equals-ignore-case": "x"}, "b": 1}]}', "Too many elements in numeric expression"),
    ('{"a": [{"anything-but": {"prefix": []}}]}', "Empty arrays are not allowed"),
    ('{"a": [{"cidr": "10.0.0.0/-1"}]}', "Malformed CIDR, mask bits must not be negative"),
    ('{"a": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    ('{"a": [{"cidr": "::/128"}]}', "IPv6 mask bits must be < 128"),
    ('{"a": [{"cidr": "10.0.0.0/8/8"}]}', "Malformed CIDR, one '/' required"),
    ('{"a": [{"cidr": "300.0.0.0/8"}]}', "Nonstandard IP address: 300.0.0.0"),
    ('{"a": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 2"),
    ('{"a": [{"wildcard": "\\u00e9**"}]}', "Consecutive wildcard characters at pos 3"),
    ('{"$or": {"a": ["x"]}}', "It must be an Array followed with $or."),
    ('{"$or": [{"a": ["x"]}]}', "There must have at least 2 Objects in $or relationship."),
    ('{"$or": [{"a": ["x"]}, ["b"]]}', "Only JSON object is allowed in array of $or relationship."),
    ('{"$or": [{"a": ["x"]}, {"prefix": ["b"]}]}',
     "prefix is Ruler reserved fieldName which cannot be used inside $or."),
    ('{"a": [{"wildcard": "*a*b*c*d*e*"}]}',
     "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
     "after a wildcard character"),
]

BAD_JSON = [
    ('{"a": ["x"]', "Unexpected end-of-input: expected close marker for Object (start marker at "
                    '[Source: (String)"{"a": ["x"]"; line: 1, column: 1])'),
    ('{"a": ["x",]}', "Unexpected character (']' (code 93)): expected a value"),
    ('{"a" ["x"]}', "Unexpected character ('[' (code 91)): was expecting a colon to separate field name and value"),
    ('{"a": ["x"] "b": ["y"]}',
     "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries"),
    ('{"a": ["x" "y"]}', "Unexpected character ('\"' (code 34)): was expecting comma to separate Array entries"),
    ('{"a": [tru]}', "Unrecognized token 'tru': was expecting (JSON String, Number, Array, Object or token "
                     "'null', 'true' or 'false')"),
    ('{"a": [tru', "Unrecognized token 'tru': was expecting (JSON String, Number, Array, Object or token "
                   "'null', 'true' or 'false')"),
    ('{"a": ["' + "x" * 300 + '", tru]}', "Unrecognized token 'tru': was expecting (JSON String, Number, Array, "
                                          "Object or token 'null', 'true' or 'false')"),
    ('{"a": [NaN]}', "Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"),
    ('{"a": [01]}', "Invalid numeric value: Leading zeroes not allowed"),
    ('{"a": ["x\\q"]}', "Unrecognized character escape 'q' (code 113)"),
    ('{"a": ["x\ny"]}', "Illegal unquoted character ((CTRL-CHAR, code 10)): has to be escaped using backslash "
                        "to be included in string value"),
    ('{"a": ["x"]}]', "Unexpected character (']' (code 93)): expected end of input"),
    ('{"a": ["x"}', "Unexpected close marker '}': expected ']' (for Array starting at "
                    '[Source: (String)"{"a": ["x"}"; line: 1, column: 7])'),
]


@pytest.mark.parametrize(("pattern", "reason"), BAD_PATTERNS + BAD_JSON, ids=[p for p, _ in BAD_PATTERNS + BAD_JSON])
def test_invalid_pattern_is_refused_with_aws_message(pattern: str, reason: str) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern(pattern)
    assert str(info.value) == PREFIX + reason
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, eventbus.ValidationError)


def test_the_first_problem_in_document_order_is_reported_even_before_a_syntax_error() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern('{"a": [], "b": ')
    assert info.value.reason == "Empty arrays are not allowed"


def test_json_errors_carry_aws_location_separately() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern("this is not json")
    assert info.value.location is not None
    assert info.value.location.startswith('at [Source: (String)"this is not json"; line: 1, column: ')
    assert "\n" not in str(info.value)


def test_a_pattern_longer_than_aws_allows_is_refused() -> None:
    long_value = "x" * 5000
    with pytest.raises(eventbus.InvalidEventPatternError, match="limit is 4096"):
        eventbus.compile_pattern('{"a": ["' + long_value + '"]}')


def test_mappings_are_checked_like_json_text() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError, match="Empty arrays are not allowed"):
        eventbus.compile_pattern({"a": {"b": []}})
    with pytest.raises(eventbus.InvalidEventPatternError, match='"b" must be an object or an array'):
        eventbus.compile_pattern({"a": {"b": "x"}})
    with pytest.raises(eventbus.InvalidEventPatternError, match="numbers must be finite doubles"):
        eventbus.compile_pattern({"a": [float("nan")]})
    with pytest.raises(eventbus.InvalidEventPatternError, match="is not a JSON value"):
        eventbus.compile_pattern({"a": [object()]})


def test_too_many_or_branches_are_refused_rather_than_exhausting_memory() -> None:
    pattern = {f"k{i}": {"$or": [{"a": ["1"]}, {"b": ["2"]}]} for i in range(13)}
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern(pattern)
    assert info.value.reason == "$or combinations exceed 4096 match branches; split the pattern into several rules"


def test_or_branches_up_to_the_documented_limit_compile() -> None:
    # docs/patterns.md: more than 4096 branches is refused; 2**12 is exactly the limit
    pattern = eventbus.compile_pattern({f"k{i}": {"$or": [{"a": ["1"]}, {"b": ["2"]}]} for i in range(12)})
    assert len(pattern.subrules) == 4096
    assert pattern.matches({f"k{i}": {"a": "1"} if i % 2 else {"b": "2"} for i in range(12)})
    assert not pattern.matches({f"k{i}": {"a": "1"} for i in range(11)})


def test_filter_pattern_errors_carry_the_reason_and_location_of_the_event_pattern_error() -> None:
    for text in ("this is not json", '{"a": [1'):
        with pytest.raises(eventbus.InvalidEventPatternError) as plain:
            eventbus.compile_pattern(text)
        with pytest.raises(eventbus.InvalidFilterPatternError) as info:
            eventbus.compile_filter_pattern(text)
        assert str(info.value) == "Invalid filter pattern definition."
        assert info.value.reason == plain.value.reason
        assert plain.value.location is not None
        assert info.value.location == plain.value.location


@pytest.mark.parametrize("event", ["not json", "[1]", '"x"', "{", '{"a": NaN}'])
def test_test_event_pattern_refuses_malformed_events(event: str) -> None:
    with pytest.raises(eventbus.ValidationError) as info:
        eventbus.test_event_pattern(event, '{"source": ["x"]}')
    assert str(info.value) == "Parameter Event is not valid."


@pytest.mark.parametrize("missing", ["id", "account", "source", "time", "region", "detail-type"])
def test_test_event_pattern_needs_each_envelope_field(missing: str) -> None:
    event = {"id": "1", "account": "1", "source": "s", "time": "t", "region": "r", "detail-type": "d"}
    del event[missing]
    import json

    with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\.$"):
        eventbus.test_event_pattern(json.dumps(event), '{"source": ["s"]}')


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_deeply_nested_patterns_compile_or_are_refused_from_any_stack_depth(frames: int) -> None:
    deep_ok = '{"a":' * 199 + '["x"]' + "}" * 199  # 199 objects in the pattern, 200 with the event's
    compiled = from_deep_in_the_stack(frames, lambda: eventbus.compile_pattern(deep_ok))
    assert isinstance(compiled, eventbus.EventPattern)
    # and the pattern reads back, prints, hashes and compares from there too
    node = from_deep_in_the_stack(frames, compiled.to_json)
    for _ in range(199):
        assert isinstance(node, dict)
        node = node["a"]
    assert node == ["x"]
    assert from_deep_in_the_stack(frames, lambda: repr(compiled)) == "EventPattern(" + deep_ok.replace(":", ": ") + ")"
    assert from_deep_in_the_stack(frames, lambda: compiled == eventbus.compile_pattern(deep_ok)) is True
    assert isinstance(from_deep_in_the_stack(frames, lambda: hash(compiled)), int)
    too_deep = '{"a":' * 250 + '["x"]' + "}" * 250
    with pytest.raises(eventbus.InvalidEventPatternError, match="nest deeper than 200 levels"):
        from_deep_in_the_stack(frames, lambda: eventbus.compile_pattern(too_deep))
    index = eventbus.RuleIndex()
    from_deep_in_the_stack(frames, lambda: index.add("deep", deep_ok))
    assert "deep" in index


@pytest.mark.recursion_sensitive
def test_deeply_nested_patterns_are_refused_not_crashing() -> None:
    deep_text = '{"":' * 600 + '["x"]' + "}" * 600  # 3,005 characters: within AWS's length limit
    with pytest.raises(eventbus.InvalidEventPatternError, match="nest deeper than 200 levels"):
        eventbus.compile_pattern(deep_text)
    nested_or: dict[str, object] = {"x": ["1"]}
    for _ in range(400):
        nested_or = {"$or": [nested_or, {"y": ["2"]}]}
    with pytest.raises(eventbus.InvalidEventPatternError, match="nest deeper than 200 levels"):
        eventbus.compile_pattern(nested_or)
    assert eventbus.compile_pattern('{"a":' * 100 + '["x"]' + "}" * 100)


def test_deeply_nested_event_text_is_not_valid() -> None:
    index = eventbus.RuleIndex()
    index.add(1, {"a": ["x"]})
    with pytest.raises(eventbus.ValidationError, match="Parameter Event is not valid"):
        index.match("[" * 100_000)


def test_numbers_too_long_for_python_are_refused_cleanly() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError, match="Number is too large"):
        eventbus.compile_pattern({"a": [10**5000]})
    with pytest.raises(eventbus.InvalidEventPatternError, match="mask bits must be an integer"):
        eventbus.compile_pattern({"a": [{"cidr": "10.0.0.0/" + "9" * 5000}]})


def test_a_range_just_wide_enough_is_accepted() -> None:
    narrow = eventbus.compile_pattern('{"a": [{"numeric": [">=", 5, "<", 5.000001]}]}')
    assert narrow.matches({"a": 5}) and not narrow.matches({"a": 5.000001})
