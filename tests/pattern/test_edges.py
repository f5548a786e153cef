"""Edges of single operators and of the JSON forms: CIDR text as Java reads it,
range end points, whole-value ignore-case, wildcard placement and complexity,
and the JSON a matcher gives back."""

from __future__ import annotations

import enum
import json
from decimal import Decimal
from typing import Any

import pytest

import eventbus
from eventbus._pattern._reference import reference_matches


def agree(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """The compiled pattern's answer, checked against the reference evaluator's."""
    answer = eventbus.compile_pattern(pattern).matches(event)
    assert answer is reference_matches(pattern, event)
    return answer


# -- cidr ------------------------------------------------------------------

@pytest.mark.parametrize(("network", "inside", "outside"), [
    ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255"], ["9.255.255.255", "11.0.0.0"]),
    ("10.1.2.0/31", ["10.1.2.0", "10.1.2.1"], ["10.1.1.255", "10.1.2.2"]),  # /31: AWS refuses only > 31
    ("2001:db8::/127", ["2001:db8::", "2001:db8::1"], ["2001:db8::2", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"]),
])
def test_a_cidr_range_holds_both_its_end_points(network: str, inside: list[str], outside: list[str]) -> None:
    made = eventbus.cidr(network)
    for address in inside:
        assert made.matches(address), address
        assert agree({"ip": [{"cidr": network}]}, {"ip": address}), address
    for address in outside:
        assert not made.matches(address), address
        assert not agree({"ip": [{"cidr": network}]}, {"ip": address}), address


@pytest.mark.parametrize("text", [
    "10.0.0.0/8/",  # Java's String.split drops trailing empty strings: one trailing '/' is no second one
    "10.0.0.0/00000000008",  # Integer.parseInt reads leading zeros: eleven characters of mask
    "10.0.0.0/000000000000000000008",  # and as many as you like
    "10.0.0.0/+8",  # and a plus sign
])
def test_cidr_text_is_read_as_java_reads_it(text: str) -> None:
    made = eventbus.cidr(text)
    assert made.to_json() == {"cidr": text}
    pattern = eventbus.compile_pattern({"ip": [{"cidr": text}]})
    for address in ("10.0.0.0", "10.1.2.3", "10.255.255.255", "11.0.0.0", "9.255.255.255"):
        assert made.matches(address) is pattern.matches({"ip": address}) is eventbus.cidr("10.0.0.0/8").matches(address)


@pytest.mark.parametrize("value", [
    "10.0.0.256",  # a part above 255 is not an address (not 10.0.1.0)
    "\u0661\u0660.0.0.1",  # Arabic-Indic digits: AWS's shape check takes ASCII digits only
    "10.a.0.1",
    "10..0.1",
    "10.0.1",
])
def test_text_that_is_not_an_ipv4_address_is_in_no_network(value: str) -> None:
    for network in ("10.0.0.0/8", "10.0.1.0/24", "0.0.0.0/0"):
        assert not eventbus.cidr(network).matches(value)
        assert not agree({"ip": [{"cidr": network}]}, {"ip": value})


@pytest.mark.parametrize(("text", "reason"), [
    ("10.0.0.0/", "Malformed CIDR, one '/' required"),  # split: ["10.0.0.0"]
    ("10.0.0.0//", "Malformed CIDR, one '/' required"),
    ("10.0.0.0/100000000000", "Malformed CIDR, mask bits must be an integer"),  # beyond Java's int
    ("10.0.0.0/2147483648", "Malformed CIDR, mask bits must be an integer"),  # 2**31: just beyond it
    ("10.0.0.0/99999999999", "Malformed CIDR, mask bits must be an integer"),  # eleven digits, beyond it
    ("10.0.0.0/-2147483649", "Malformed CIDR, mask bits must be an integer"),
    ("10.0.0.0/2147483647", "IPv4 mask bits must be < 32"),  # the largest int Java reads
    ("10.0.0.0/-2147483648", "Malformed CIDR, mask bits must not be negative"),
    ("10.0.0.256/24", "Nonstandard IP address: 10.0.0.256"),
])
def test_cidr_text_java_cannot_read_is_refused(text: str, reason: str) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.cidr(text)
    assert info.value.reason == reason


# -- ignore-case and anything-but -------------------------------------------

@pytest.mark.parametrize("text", ["RUN", "R\u00dcN"])  # ASCII, and a non-ASCII simple case pair
def test_equals_ignore_case_compares_the_whole_value(text: str) -> None:
    made = eventbus.equals_ignore_case(text)
    assert made.matches(text.lower()) and made.matches(text)
    for other in ("x" + text.lower(), text.lower() + "x", text[1:]):
        assert not made.matches(other), other
        assert not agree({"f": [{"equals-ignore-case": text}]}, {"f": other}), other
        assert eventbus.anything_but(equals_ignore_case=text).matches(other), other
        assert agree({"f": [{"anything-but": {"equals-ignore-case": text}}]}, {"f": other}), other


def test_plain_anything_but_may_hold_the_empty_string() -> None:
    pattern = {"f": [{"anything-but": ["", "x"]}]}
    assert agree(pattern, {"f": "y"})
    assert not agree(pattern, {"f": ""})
    assert not agree({"f": [{"anything-but": ""}]}, {"f": ""})
    assert agree({"f": [{"anything-but": {"equals-ignore-case": [""]}}]}, {"f": "y"})


@pytest.mark.parametrize("form", ["prefix", "suffix"])
def test_an_empty_anything_but_affix_is_reported_where_it_stands(form: str) -> None:
    # the first problem in document order: the empty string, before the number after it
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern(json.dumps({"a": [{"anything-but": {form: ["", 1]}}]}))
    assert info.value.reason == "Null prefix/suffix not allowed"


# -- wildcards --------------------------------------------------------------

@pytest.mark.parametrize(("glob", "value", "expected"), [
    ("ab*b*", "ab", False),  # the middle 'b' comes after "ab", not inside it
    ("ab*b*", "abb", True),
    ("*ab*b*", "ab", False),
    ("*ab*b*", "abxb", True),
    ("*a*b*", "aba", True),  # the first 'a' is the one to take
    ("*b*a*", "ab", False),  # middles in order
    ("*b*a*", "bba", True),
    ("*a*", "abc", True),  # a middle at the very start
    ("*a*c*", "abc", True),
])
def test_wildcard_middles_are_found_in_order_after_what_came_before(glob: str, value: str, expected: bool) -> None:
    assert eventbus.wildcard(glob).matches(value) is expected
    assert agree({"f": [{"wildcard": glob}]}, {"f": value}) is expected


def test_wildcards_are_too_complex_together_on_one_field_but_fine_on_two() -> None:
    # docs/patterns.md, Complexity: *a*b*c* with *d*e*f* is refused on one field, fine on separate ones
    two = eventbus.compile_pattern({"f": [{"wildcard": "*a*b*c*"}], "g": [{"wildcard": "*d*e*f*"}]})
    assert two.matches({"f": "xaybzc", "g": "def"})
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern({"f": [{"wildcard": "*a*b*c*"}, {"wildcard": "*d*e*f*"}]})
    assert info.value.reason.startswith("Rule is too complex")


def test_a_wildcard_of_ten_characters_is_never_too_complex() -> None:
    # the limit is 10 open positions per field (docs/patterns.md); ten characters, stars
    # included, are ten positions, all of which "aaaaaaaaaa..." keeps open at once
    pattern = eventbus.compile_pattern({"f": [{"wildcard": "*aaaaaaaaa"}]})
    assert pattern.matches({"f": "aaaaaaaaaaaa"})
    assert not pattern.matches({"f": "aaaaaaaab"})


# -- JSON forms --------------------------------------------------------------

@pytest.mark.parametrize(("make", "json_form"), [
    (lambda: eventbus.numeric(">", 0, "<=", 5), {"numeric": [">", 0, "<=", 5]}),
    (lambda: eventbus.numeric(">=", 0, "<", 5), {"numeric": [">=", 0, "<", 5]}),
    (lambda: eventbus.numeric(">=", 0.5, "<", 1e300), {"numeric": [">=", 0.5, "<", 1e300]}),
    (lambda: eventbus.numeric("=", 2.0**53), {"numeric": ["=", 2.0**53]}),
    (lambda: eventbus.numeric("<", -3), {"numeric": ["<", -3]}),
    (lambda: eventbus.anything_but(100, 200), {"anything-but": [100, 200]}),
    (lambda: eventbus.anything_but(0.25), {"anything-but": 0.25}),
])
def test_a_matcher_gives_back_the_json_form_it_was_made_from(make: Any, json_form: Any) -> None:
    made: eventbus.Matcher = make()
    assert made.to_json() == json_form
    assert json.dumps(made.to_json()) == json.dumps(json_form)  # 5 stays 5, 0.5 stays 0.5
    assert eventbus.compile_pattern({"f": [made.to_json()]}) == eventbus.compile_pattern({"f": [json_form]})


def test_numbers_no_double_holds_read_back_as_int_or_decimal() -> None:
    # docs/patterns.md, Numbers: such a number reads back (to_json()) as an int or a Decimal
    big_int = eventbus.exact(2**70).to_json()
    assert big_int == 2**70 and type(big_int) is int
    pattern = eventbus.compile_pattern('{"a": [0.30000000000000001, 1e400]}')
    values = [m.to_json() for m in pattern.subrules[0]["a"]]
    assert sorted(map(str, values)) == ["0.30000000000000001", "1E+400"]
    assert all(type(v) is Decimal for v in values)
    assert pattern.to_json() == {"a": [Decimal("0.30000000000000001"), Decimal("1e400")]}
    assert "0.30000000000000001" in repr(pattern)  # and the repr does not fail on them
    assert "2361183241434822606848" in repr(eventbus.compile_pattern({"a": [eventbus.exact(2**71)]}))


# -- one path's tables: several kinds of matcher side by side ---------------------

@pytest.mark.parametrize(("values", "event", "expected"), [
    # an exact value beside exclusions that reject it: the exact value still answers
    (["x", {"anything-but": {"suffix": "x"}}], "x", True),
    (["x", {"anything-but": {"suffix": "x"}}], "ax", False),
    (["x", {"anything-but": {"suffix": "x"}}], "y", True),
    (["x", {"prefix": {"equals-ignore-case": "Q"}}], "x", True),
    (["x", {"prefix": {"equals-ignore-case": "Q"}}], "qz", True),
    (["x", {"prefix": {"equals-ignore-case": "Q"}}], "z", False),
    # exists: false beside a value: either one
    ([{"exists": False}, "x"], "x", True),
    ([{"exists": False}, "x"], "y", False),
    # a wildcard beside a matcher tested one by one (anything-but wildcard)
    ([{"wildcard": "a*"}, {"anything-but": {"wildcard": "b*"}}], "ax", True),
    ([{"wildcard": "a*"}, {"anything-but": {"wildcard": "b*"}}], "cx", True),
    ([{"wildcard": "b*x"}, {"anything-but": {"wildcard": "b*"}}], "bx", True),
    ([{"wildcard": "b*x"}, {"anything-but": {"wildcard": "b*"}}], "by", False),
    # two anything-but lists in one value list: a value must be outside one of them
    ([{"anything-but": [5]}, {"anything-but": [5, 6]}], 5, False),
    ([{"anything-but": [5]}, {"anything-but": [5, 6]}], 6, True),
    ([{"anything-but": [1]}, {"anything-but": [2]}], 10**17, True),  # an int beyond 2**53 a double holds
    ([{"anything-but": [1e17]}, {"anything-but": [10**17]}], 10**17, False),
])
def test_matchers_side_by_side_on_one_path(values: list[Any], event: Any, expected: bool) -> None:
    assert agree({"f": values}, {"f": event}) is expected
    assert eventbus.compile_pattern({"f": values}).matches(json.dumps({"f": event})) is expected


@pytest.mark.parametrize("values", [
    [{"prefix": "a"}, {"prefix": "b"}],
    [{"suffix": "a"}, {"suffix": "b"}],
    [{"equals-ignore-case": "a"}, {"equals-ignore-case": "b"}],
    [{"prefix": {"equals-ignore-case": "a"}}, {"suffix": {"equals-ignore-case": "b"}}],
])
def test_two_string_matchers_of_one_kind_match_strings_only(values: list[Any]) -> None:
    for event in (None, True, False, 0, 1e400, "c"):
        assert not agree({"f": values}, {"f": event}), event
    assert agree({"f": values}, {"f": "a"})
    assert agree({"f": values}, {"f": "B"}) is any(
        eventbus.compile_pattern({"f": [v]}).matches({"f": "B"}) for v in values)


def test_rules_on_one_path_each_get_their_own_answer() -> None:
    rules: dict[str, Any] = {
        "exact": {"f": ["x"]},
        "not-suffix": {"f": [{"anything-but": {"suffix": "x"}}]},
        "prefix-ic": {"f": [{"prefix": {"equals-ignore-case": "X"}}]},
        "wildcard": {"f": [{"wildcard": "x*"}]},
        "not-wildcard": {"f": [{"anything-but": {"wildcard": "y*"}}]},
    }
    index = eventbus.RuleIndex(rules)
    assert index.match({"f": "x"}) == {"exact", "prefix-ic", "wildcard", "not-wildcard"}
    assert index.match({"f": "y"}) == {"not-suffix"}
    assert index.match({"f": "Xa"}) == {"not-suffix", "prefix-ic", "not-wildcard"}


class _Int(int):
    pass


class _Float(float):
    pass


class _Level(enum.IntEnum):
    FIVE = 5


@pytest.mark.parametrize(("plain", "subclassed"), [
    (5, _Int(5)), (5, _Level.FIVE), (5.5, _Float(5.5)), (-0.5, _Float(-0.5)), (2**60, _Int(2**60)),
])
def test_matchers_read_python_number_subclasses_as_the_numbers_they_are(plain: Any, subclassed: Any) -> None:
    matchers = [eventbus.numeric(">", 4), eventbus.numeric(">", 5), eventbus.numeric("<", 0), eventbus.exact(5),
                eventbus.exact(5.5), eventbus.exact(2**60), eventbus.anything_but(5), eventbus.anything_but(5.5),
                eventbus.anything_but("5")]
    for made in matchers:
        assert made.matches(subclassed) is made.matches(plain), made
        pattern = {"f": [made.to_json()]}
        assert agree(pattern, {"f": subclassed}) is agree(pattern, {"f": plain}), made


def test_number_subclasses_follow_the_rule_for_their_value() -> None:
    assert eventbus.numeric(">", 5).matches(_Float(5.5))  # not cut down to 5
    assert eventbus.numeric(">", 4).matches(_Int(5)) and eventbus.exact(5).matches(_Level.FIVE)
    # docs/patterns.md, Numbers: 2**60 is no double's shortest text, so no range matches it
    assert not eventbus.numeric(">", 0).matches(_Int(2**60))
    assert eventbus.exact(2**60).matches(_Int(2**60))


def test_one_wildcard_followed_by_a_long_repeating_run_is_too_complex() -> None:
    # AWS's message names the cause: "fewer repeating character sequences after a wildcard
    # character"; "aaaa..." keeps every position of "*aaaaaaaaaaaa" open at once (13 > 10)
    with pytest.raises(eventbus.InvalidEventPatternError) as info:
        eventbus.compile_pattern({"f": [{"wildcard": "*" + "a" * 12}]})
    assert info.value.reason.startswith("Rule is too complex")
    eventbus.compile_pattern({"f": [{"wildcard": "*abcdefghijkl"}]})  # no repetition: two positions at most
