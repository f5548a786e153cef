"""Corners of the matcher's public behaviour: several rules on one path under an
array of objects, values only Python callers can pass (NaN, infinity), equality
of compiled matchers, the errors for events and rule ids that are not there,
a factory's errors, and malformed pattern text the Jackson-style scanner reads."""

from __future__ import annotations

import math
from typing import Any

import pytest

import eventbus
from eventbus._pattern._reference import reference_matches


def index_agrees(rules: dict[str, dict[str, Any]], event: dict[str, Any]) -> set[str]:
    """The index's answer, checked against the reference evaluator's, rule by rule."""
    found = eventbus.RuleIndex(rules).match(event)
    assert found == {rule_id for rule_id, pattern in rules.items() if reference_matches(pattern, event)}
    return found


# -- several rules on one path under an array of objects -----------------------

def test_exists_false_under_an_array_leaves_the_other_rules_on_that_path_matched() -> None:
    # "gone" is judged element by element (an element without "a" has b = "1"), and
    # that leniency must not cost "plain", matched by the value of "a" in the other element
    rules: dict[str, dict[str, Any]] = {
        "gone": {"r": {"a": [{"exists": False}], "b": ["1"]}},
        "plain": {"r": {"a": ["x"]}},
        "both": {"r": {"a": ["y"], "b": ["1"]}},
    }
    assert index_agrees(rules, {"r": [{"a": "x"}, {"b": "1"}]}) == {"gone", "plain"}
    assert index_agrees(rules, {"r": [{"a": "y"}, {"b": "1"}]}) == {"gone"}
    assert index_agrees(rules, {"r": [{"a": "y", "b": "1"}, {"b": "1"}]}) == {"gone", "both"}
    assert index_agrees(rules, {"r": [{"a": "x", "b": "1"}, {"a": "y"}]}) == {"plain"}


def test_every_field_of_a_rule_is_checked_after_another_rule_has_failed() -> None:
    rules: dict[str, dict[str, Any]] = {"first": {"x": ["1"], "y": ["1"]}, "second": {"z": ["2"], "w": ["2"]}}
    assert index_agrees(rules, {"x": "0", "y": "0", "z": "2", "w": "3"}) == set()
    assert index_agrees(rules, {"x": "0", "y": "0", "z": "2", "w": "2"}) == {"second"}


# -- values only Python callers can pass -----------------------------------------

@pytest.mark.parametrize("terms", [(">", 0), ("<", 0), (">=", -1e308, "<=", 1e308)])
def test_nan_is_in_no_numeric_range(terms: tuple[str | float, ...]) -> None:
    assert not eventbus.numeric(*terms).matches(math.nan)
    pattern = {"a": [{"numeric": list(terms)}]}
    assert not eventbus.compile_pattern(pattern).matches({"a": math.nan})
    assert not reference_matches(pattern, {"a": math.nan})


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 2**53, 9007199254740992.0])
def test_a_number_no_double_holds_equals_no_double(value: float) -> None:
    # 2**53 + 1 is compared by its text only: no double, not even an infinite one, is equal
    made = eventbus.exact(2**53 + 1)
    assert not made.matches(value)
    assert not eventbus.compile_pattern({"a": [2**53 + 1]}).matches({"a": value})
    assert not reference_matches({"a": [2**53 + 1]}, {"a": value})
    assert made.matches(2**53 + 1)


@pytest.mark.parametrize(("written", "other"), [
    ("10.0.0.1", "10.000.0.01"),  # IPv4 parts are decimal numbers: leading zeros do not change the address
    ("2001:db8::1", "2001:0DB8:0:0:0:0:0:1"),
    ("10.0.0.1", "::ffff:a00:1"),  # the IPv4-mapped IPv6 spelling
])
def test_an_exact_ip_address_matches_other_spellings_of_it(written: str, other: str) -> None:
    assert eventbus.exact(written).matches(other)
    assert not eventbus.exact(written).matches("10.0.0.2")


# -- equality of compiled matchers ------------------------------------------------

def test_matchers_of_numbers_no_double_holds_are_equal_when_written_the_same_way() -> None:
    big = eventbus.exact(2**53 + 1)
    assert big == eventbus.exact(2**53 + 1)
    assert big != eventbus.exact(2**53 + 3)
    assert big != eventbus.exact("9007199254740993")
    assert eventbus.exact("9007199254740993") != big
    from_text = eventbus.compile_pattern('{"a": [9007199254740993, 0.30000000000000001]}')
    from_mapping = eventbus.compile_pattern({"a": [2**53 + 1, 0.30000000000000001]})
    assert from_text.subrules == eventbus.compile_pattern('{"a": [9007199254740993, 0.30000000000000001]}').subrules
    assert from_text.subrules[0]["a"][0] == from_mapping.subrules[0]["a"][0]
    assert from_text.subrules != eventbus.compile_pattern('{"a": [9007199254740995, 0.30000000000000001]}').subrules


# -- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("event", [42, None, ["a"], 1.5])
def test_an_event_that_is_neither_a_mapping_nor_text_is_not_valid(event: Any) -> None:
    pattern = eventbus.compile_pattern({"a": ["x"]})
    with pytest.raises(eventbus.ValidationError) as raised:
        pattern.matches(event)
    assert str(raised.value) == "Parameter Event is not valid."
    with pytest.raises(eventbus.ValidationError) as raised:
        eventbus.RuleIndex({"r": {"a": ["x"]}}).match(event)
    assert str(raised.value) == "Parameter Event is not valid."


def test_a_missing_rule_id_is_named_in_the_error() -> None:
    index = eventbus.RuleIndex({"kept": {"a": ["x"]}})
    with pytest.raises(eventbus.ResourceNotFoundError, match="'gone'"):
        index.pattern("gone")
    with pytest.raises(eventbus.ResourceNotFoundError, match="'gone'"):
        index.remove("gone")
    assert list(index) == ["kept"]


def test_an_int_too_long_to_print_is_refused_in_its_own_words() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern({"a": [10**5000]})
    assert raised.value.reason == "Number is too large: numbers must fit in a double"
    assert raised.value.location is None


# -- factories ------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "json_form"), [(True, "true"), (False, "false")])
def test_a_single_anything_but_value_is_refused_as_its_json_form_is(value: bool, json_form: str) -> None:
    # anything_but(v) is {"anything-but": v}, not a list of one: a boolean gets AWS's message for that form
    with pytest.raises(eventbus.InvalidEventPatternError) as from_json:
        eventbus.compile_pattern('{"a": [{"anything-but": ' + json_form + "}]}")
    with pytest.raises(eventbus.InvalidEventPatternError) as from_factory:
        eventbus.anything_but(value)
    assert from_factory.value.reason == from_json.value.reason
    assert from_factory.value.reason == "Value of anything-but must be an array or single string/number value."


# -- pattern text the json module refuses -------------------------------------------------

def test_an_exponent_sign_is_only_plus_or_minus() -> None:
    # Jackson reports the character after the "e": an "X" is no sign, so it is that "X"
    # (the wording around it is not pinned here, only what is reported and where)
    text = '{"a": [1eX]}'
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern(text)
    assert raised.value.reason.startswith("Unexpected character ('X' (code 88))")
    assert raised.value.reason.endswith("Exponent indicator not followed by a digit")
    assert raised.value.location == f'at [Source: (String)"{text}"; line: 1, column: 11]'


def test_an_unrecognised_token_is_quoted_up_to_its_first_256_characters() -> None:
    # Jackson quotes at most 256 characters of the token (newer versions then add "...")
    word = "a" * 256 + "z" * 44
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        eventbus.compile_pattern('{"a": [' + word + "]}")
    quoted = raised.value.reason.split("'")[1]
    assert quoted.startswith("a" * 256)
    assert "z" not in quoted
    assert raised.value.reason.startswith("Unrecognized token '")
