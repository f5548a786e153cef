"""The JSON readers behind patterns and events given as text.

Three readers are checked against the standard library's ``json``, which
shares no code with them: the explicit-stack event reader (used when the
event, or the caller's stack, is too deep for the C scanner), the depth
scan, and the Jackson-style pattern scanner's messages for malformed
numbers, which AWS's pattern compiler words as Jackson does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventbus
from eventbus._pattern import _json as J
from eventbus._pattern._matchers import json_float

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6) | st.sampled_from(
    ['"', "\\", "[", "]", "{", "}", '\\"', "]}", "\u00e9", "\U0001f600"])
_NUMBERS = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
_VALUES = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)
_SPACES = st.sampled_from(["", " ", "\n", "\t", "\r\n  "])


def _as_pairs(value: Any) -> Any:
    """The event decoder's form: objects as tuples of pairs, arrays as lists."""
    if isinstance(value, dict):
        return tuple((k, _as_pairs(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_as_pairs(v) for v in value]
    return value


def _spaced(value: Any, space: str) -> str:
    """JSON text with ``space`` around every token."""
    if isinstance(value, dict):
        inner = f"{space},{space}".join(f"{json.dumps(k)}{space}:{space}{_spaced(v, space)}" for k, v in value.items())
        return f"{{{space}{inner}{space}}}"
    if isinstance(value, list):
        return f"[{space}" + f"{space},{space}".join(_spaced(v, space) for v in value) + f"{space}]"
    return json.dumps(value)


def _reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_reference_depth, value), default=0)
    return 0


@given(_VALUES, _SPACES, _SPACES)
def test_the_explicit_stack_reader_reads_what_json_reads(value: Any, space: str, outside: str) -> None:
    text = outside + _spaced(value, space) + outside
    expected = json.loads(text, object_pairs_hook=tuple, parse_float=json_float)
    assert J._parse_with_stack(text) == expected == _as_pairs(json.loads(text, parse_float=json_float))


@given(_VALUES, st.data())
def test_the_explicit_stack_reader_refuses_what_json_refuses(value: Any, data: st.DataObject) -> None:
    text = json.dumps(value)
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["", "x", ",", "]", "}", ":", '"', "-", "01", "tru", "nul", "1.", "1e"]))
    broken = text[:cut] + junk + text[cut + data.draw(st.integers(0, 2)):]
    try:
        expected: Any = json.loads(broken, object_pairs_hook=tuple, parse_float=json_float,
                                   parse_constant=J.reject_constant)
    except ValueError:
        with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\.$"):
            J._parse_deep(broken)
    else:
        assert J._parse_deep(broken) == expected


def test_the_explicit_stack_reader_stops_at_the_depth_limit() -> None:
    limit = J.MAX_EVENT_DEPTH
    assert J._parse_deep('{"a":' * (limit - 1) + "[]" + "}" * (limit - 1)) is not None
    with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
        J._parse_deep('{"a":' * limit + "[]" + "}" * limit)
    with pytest.raises(eventbus.ValidationError, match="nested deeper than 1000 levels"):
        J._parse_deep("[" * (limit + 1) + "]" * (limit + 1))


@given(_VALUES, _SPACES)
def test_the_depth_scan_agrees_with_the_value(value: Any, space: str) -> None:
    assert J._depth(_spaced(value, space)) == _reference_depth(value)


@pytest.mark.parametrize(("text", "reason", "column"), [
    ('{"a": [-]}', "Unexpected character (']' (code 93)): in numeric value: expected digit (0-9) to follow minus "
                   "sign, for valid numeric value", 10),
    ('{"a": [-x]}', "Unexpected character ('x' (code 120)): in numeric value: expected digit (0-9) to follow minus "
                    "sign, for valid numeric value", 10),
    ('{"a": [01]}', "Invalid numeric value: Leading zeroes not allowed", 9),
    ('{"a": [-01]}', "Invalid numeric value: Leading zeroes not allowed", 10),
    ('{"a": [1.]}', "Unexpected character (']' (code 93)): Decimal point not followed by a digit", 11),
    ('{"a": [1.x]}', "Unexpected character ('x' (code 120)): Decimal point not followed by a digit", 11),
    ('{"a": [1e]}', "Unexpected character (']' (code 93)): Exponent indicator not followed by a digit", 11),
    ('{"a": [1E-]}', "Unexpected character (']' (code 93)): Exponent indicator not followed by a digit", 12),
    ('{"a": [1e+x]}', "Unexpected character ('x' (code 120)): Exponent indicator not followed by a digit", 12),
    ('{"a": [-', "Unexpected end-of-input in a Number value", 9),
    ('{"a": [1.', "Unexpected end-of-input in a Number value", 10),
    ('{"a": [1e', "Unexpected end-of-input in a Number value", 10),
    ('{"a": [1e+', "Unexpected end-of-input in a Number value", 11),
    ('{"a": [1.5e3, ]}', "Unexpected character (']' (code 93)): expected a value", 16),
    # a number that ends the text: the scanner stops at the end, not past it
    ('{"a": [12', 'Unexpected end-of-input: expected close marker for Array (start marker at [Source: (String)"{"a": '
                  '[12"; line: 1, column: 7])', 10),
    ('{"a": [0', 'Unexpected end-of-input: expected close marker for Array (start marker at [Source: (String)"{"a": '
                 '[0"; line: 1, column: 7])', 9),
    ('{"a": [-0', 'Unexpected end-of-input: expected close marker for Array (start marker at [Source: (String)"{"a": '
                  '[-0"; line: 1, column: 7])', 10),
    ('{"a": [1.5', 'Unexpected end-of-input: expected close marker for Array (start marker at [Source: (String)"{"a": '
                   '[1.5"; line: 1, column: 7])', 11),
    ('{"a": [1E+5', 'Unexpected end-of-input: expected close marker for Array (start marker at [Source: (String)"{"a": '
                    '[1E+5"; line: 1, column: 7])', 12),
    ('{"a": [01', "Invalid numeric value: Leading zeroes not allowed", 9),
    ('{"a": [1.5 2]}', "Unexpected character ('2' (code 50)): was expecting comma to separate Array entries", 13),
    ('{"a": [0x1]}', "Unexpected character ('x' (code 120)): was expecting comma to separate Array entries", 10),
    ('{"a": [1X]}', "Unexpected character ('X' (code 88)): was expecting comma to separate Array entries", 10),
    ('{"a": [10, 2.5, -3e2, 4E+1, 5.0e-1 x]}', "Unexpected character ('x' (code 120)): was expecting comma to "
                                               "separate Array entries", 37),
    ('{"a": [12345678901234567890123, x]}', "Unrecognized token 'x': was expecting (JSON String, Number, Array, "
                                            "Object or token 'null', 'true' or 'false')", 34),
    # numbers read before a later syntax error: their values reach the compiler's own checks first
    ('{"a":[{"numeric":[">",5e0,"<",1]}],}', "Bottom must be less than top", 33),
    ('{"a":[{"numeric":[">",1.5,"<",1.25]}],}', "Bottom must be less than top", 36),
    ('{"a":[{"numeric":[">",-2,"<",-3]}],}', "Bottom must be less than top", 33),
    ('{"a":[{"numeric":[">",1e500]}]}x', "Cannot compare number : 1e500", 28),
    ('{"a":[{"numeric":[">",-1E+500]}]}x', "Cannot compare number : -1E+500", 30),
    ('{"a":[{"numeric":[">",1,"<",2]}]}x', "Unexpected character ('x' (code 120)): expected end of input", 35),
])
def test_malformed_numbers_in_pattern_text_are_reported_as_jackson_does(text: str, reason: str, column: int) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern(text)
    assert raised.value.reason == reason
    assert raised.value.location == f'at [Source: (String)"{text}"; line: 1, column: {column}]'


@pytest.mark.parametrize(("token", "text"), [
    ((J.STRING, "s"), "s"), ((J.FIELD_NAME, "f"), "f"), ((J.NUMBER, (1.0, "1.0e0")), "1.0e0"),
    ((J.START_OBJECT, None), "{"), ((J.END_OBJECT, None), "}"), ((J.START_ARRAY, None), "["),
    ((J.END_ARRAY, None), "]"), ((J.TRUE, True), "true"), ((J.FALSE, False), "false"), ((J.NULL, None), "null"),
    ((J.EOF, None), "null"),
])
def test_token_text_is_jackson_s_get_text(token: Any, text: str) -> None:
    assert J.token_text(token) == text


@pytest.mark.parametrize(("member", "shown"), [
    ("true", "true"), ("false", "false"), ("null", "null"), ("[1]", "["), ('{"a": 1}', "{"), ("-7", "-7"),
])
def test_numeric_messages_name_the_bad_member_as_jackson_writes_it(member: str, shown: str) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern(f'{{"a": [{{"numeric": [{member}]}}]}}')
    assert raised.value.reason == f"Invalid member in numeric match: {shown}"
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern(f'{{"a": [{{"numeric": [">", 1, {member}]}}]}}')
    assert raised.value.reason == f"Bad value in numeric range: {shown}"
