"""Where AWS's matcher (aws/event-ruler, the library EventBridge runs) answers
differently from a plain reading of the docs: vectors for each difference a
differential fuzz against event-ruler 2.0.1 found (#7).  Each case names the
pattern, the event and AWS's answer; the index and the pattern's own
``matches`` must both give it, for the event as a mapping and as JSON text.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import eventbus
from eventbus._pattern._api import reference_match
from tests.support import DEEP, from_deep_in_the_stack

pytestmark = pytest.mark.usefixtures("block_size")


def answers(pattern: Any, event: dict[str, Any]) -> set[bool]:
    compiled = eventbus.compile_pattern(pattern)
    index = eventbus.RuleIndex([("r", pattern)])
    return {compiled.matches(event), "r" in index.match(event), "r" in index.match(json.dumps(event)),
            reference_match(compiled, event)}


Case = tuple[Any, dict[str, Any], bool]

CIDR_HOST_BITS: list[Case] = [
    # host bits set in the address are ignored: the block is the network
    ({"ip": [{"cidr": "10.1.2.3/8"}]}, {"ip": "10.0.0.1"}, True),
    ({"ip": [{"cidr": "10.1.2.3/8"}]}, {"ip": "10.255.255.255"}, True),
    ({"ip": [{"cidr": "10.1.2.3/8"}]}, {"ip": "11.0.0.0"}, False),
    ({"ip": [{"cidr": "10.1.2.3/8"}]}, {"ip": "9.255.255.255"}, False),
    ({"ip": [{"cidr": "192.168.1.77/24"}]}, {"ip": "192.168.1.0"}, True),
    ({"ip": [{"cidr": "2001:db8::1234/32"}]}, {"ip": "2001:db8::"}, True),
    ({"ip": [{"cidr": "2001:db8::1234/32"}]}, {"ip": "2001:db9::"}, False),
]

IP_TEXT: list[Case] = [
    # an IPv4-mapped IPv6 address is the IPv4 address it maps, as the JDK reads it
    ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::ffff:a00:1"}, True),
    ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::FFFF:0A00:0001"}, True),
    ({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "::ffff:b00:1"}, False),
    ({"ip": ["10.0.0.1"]}, {"ip": "::ffff:a00:1"}, True),
    ({"ip": ["::ffff:a00:1"]}, {"ip": "10.0.0.1"}, True),
    ({"ip": [{"cidr": "::/0"}]}, {"ip": "::ffff:a00:1"}, False),  # IPv4 now: not in an IPv6 block
    ({"ip": [{"cidr": "::/1"}]}, {"ip": "::a00:1"}, True),  # IPv4-compatible (::/96) stays IPv6
    # IPv4 text longer than 15 characters is not an address (still a string)
    ({"ip": [{"cidr": "172.0.0.0/8"}]}, {"ip": "0172.000.255.172"}, False),
    ({"ip": [{"cidr": "172.0.0.0/8"}]}, {"ip": "172.000.255.172"}, True),
    ({"ip": [{"cidr": "172.0.0.0/8"}]}, {"ip": "0172.00.255.172"}, True),  # 15 characters, leading zeros
    ({"ip": ["172.0.255.172"]}, {"ip": "0172.000.255.172"}, False),
    ({"ip": ["0172.000.255.172"]}, {"ip": "0172.000.255.172"}, True),  # equal strings are equal
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CIDR_HOST_BITS + IP_TEXT)
def test_ip_addresses_are_read_as_aws_reads_them(pattern: Any, event: dict[str, Any], expected: bool) -> None:
    assert answers(pattern, event) == {expected}


def test_a_cidr_with_host_bits_reads_back_as_written() -> None:
    assert eventbus.compile_pattern({"ip": [{"cidr": "10.1.2.3/8"}]}).to_json() == {"ip": [{"cidr": "10.1.2.3/8"}]}


@pytest.mark.parametrize("form", ["prefix", "suffix", "equals-ignore-case", "wildcard"])
def test_an_empty_anything_but_set_is_refused(form: str) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError, match="Empty arrays are not allowed"):
        eventbus.compile_pattern(json.dumps({"a": [{"anything-but": {form: []}}]}))


def test_a_rule_naming_more_than_256_fields_is_refused_with_its_name() -> None:
    wide = {"detail": {f"f{i}": ["x"] for i in range(257)}}
    with pytest.raises(eventbus.InvalidEventPatternError,
                       match="^Event pattern is not valid. Reason: Size of rule exceeds max value of 256$"):
        eventbus.compile_pattern(wide)
    index = eventbus.RuleIndex()
    with pytest.raises(eventbus.InvalidEventPatternError, match="Size of rule 'too-wide' exceeds max value of 256"):
        index.add("too-wide", wide)
    assert len(index) == 0
    # 256 is allowed; fields are counted per $or branch, those outside the $or included
    assert eventbus.compile_pattern({"detail": {f"f{i}": ["x"] for i in range(256)}})
    branches = {f"f{i}": ["x"] for i in range(255)}
    eventbus.compile_pattern({**branches, "$or": [{"a": ["1"]}, {"b": ["2"]}]})  # 256 in each branch
    with pytest.raises(eventbus.InvalidEventPatternError, match="exceeds max value of 256"):
        eventbus.compile_pattern({**branches, "$or": [{"a": ["1"]}, {"b": ["2"], "c": ["3"]}]})


# (pattern value, event value, AWS's answer): each pattern character matches its
# lower or its upper case, multi-character forms included
CASE_PAIRS = [
    ("ß", "SS", True), ("ß", "ß", True), ("ß", "ss", False), ("ß", "ẞ", False),
    ("ς", "Σ", True), ("ς", "ς", True), ("ς", "σ", False), ("Σ", "σ", True), ("Σ", "ς", False),
    ("k", "K", True), ("k", "\u212a", False), ("\u212a", "k", True),  # the Kelvin sign lower-cases to k
    ("é", "É", True), ("Straße", "STRASSE", True), ("STRASSE", "straße", False),
    ("ǅ", "ǅ", False), ("ǅ", "ǆ", True), ("ǅ", "Ǆ", True),  # a title-case letter is neither of its forms
    ("İ", "i\u0307", True), ("i", "İ", False), ("ı", "I", True), ("I", "ı", False),
    ("\U00010400", "\U00010428", True),  # outside the BMP: compared whole (AWS's matcher mangles these)
]


@pytest.mark.parametrize(("pattern", "value", "expected"), CASE_PAIRS)
def test_ignore_case_compares_each_pattern_character_with_its_two_cases(pattern: str, value: str,
                                                                        expected: bool) -> None:
    assert answers({"a": [{"equals-ignore-case": pattern}]}, {"a": value}) == {expected}
    assert answers({"a": [{"prefix": {"equals-ignore-case": pattern}}]}, {"a": value + "-tail"}) == {expected}
    assert answers({"a": [{"suffix": {"equals-ignore-case": pattern}}]}, {"a": "head-" + value}) == {expected}
    assert answers({"a": [{"anything-but": {"equals-ignore-case": [pattern, "zz"]}}]}, {"a": value}) == {
        not expected}


# Numbers no double holds exactly are compared by their text only (AWS's matcher
# compares numbers as doubles only where the double's shortest text is the number).
NUMBERS_AS_TEXT: list[tuple[str, str, bool]] = [
    ('{"a": [0.3]}', '{"a": 0.30000000000000001}', False),
    ('{"a": [0.30000000000000001]}', '{"a": 0.30000000000000001}', True),
    ('{"a": [0.30000000000000001]}', '{"a": 0.3}', False),
    ('{"a": [0.30000000000000001]}', '{"a": 3.0000000000000001e-1}', False),  # the same number, other text
    ('{"a": [{"numeric": [">", 0]}]}', '{"a": 9007199254740993}', False),  # 2**53 + 1
    ('{"a": [{"numeric": [">", 0]}]}', '{"a": 9007199254740992}', True),  # 2**53: a double
    ('{"a": [{"numeric": [">", 0]}]}', '{"a": 18014398509481984}', True),  # 2**54: written as its double
    ('{"a": [{"numeric": [">", 0]}]}', '{"a": 1152921504606846976}', False),  # 2**60: a double, but not its text
    ('{"a": [9007199254740993]}', '{"a": 9007199254740993}', True),
    ('{"a": [9007199254740993]}', '{"a": 9007199254740992}', False),
    ('{"a": [1e309]}', '{"a": 1e309}', True),
    ('{"a": [1e309]}', '{"a": 1E309}', False),
    ('{"a": [{"numeric": ["<", 0]}]}', '{"a": -1e309}', False),
    ('{"a": [{"numeric": [">", 0]}]}', '{"a": 1e-400}', False),
    ('{"a": [300]}', '{"a": 300.0}', True),  # held numbers still compare as numbers
    ('{"a": [0.1]}', '{"a": 0.10}', True),
    ('{"a": [123456789012345.6]}', '{"a": 123456789012345.6}', True),
    ('{"a": [{"anything-but": [1, 2]}]}', '{"a": 9007199254740993}', True),
    ('{"a": [{"anything-but": "x"}]}', '{"a": 1e309}', True),
    ('{"a": [{"exists": true}]}', '{"a": 1e309}', True),
    ('{"a": ["9007199254740993"]}', '{"a": 9007199254740993}', False),  # a string is never a number
    ('{"a": [{"prefix": "9"}]}', '{"a": 9007199254740993}', False),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), NUMBERS_AS_TEXT)
def test_numbers_no_double_holds_match_by_their_text_only(pattern: str, event: str, expected: bool) -> None:
    compiled = eventbus.compile_pattern(pattern)
    index = eventbus.RuleIndex([("r", pattern)])
    assert compiled.matches(event) is expected
    assert ("r" in index.match(event)) is expected


@pytest.mark.parametrize(("pattern", "event", "expected"), [
    ({"a": [{"numeric": [">", 0]}]}, {"a": 2**53 + 1}, False),
    ({"a": [2**53 + 1]}, {"a": 2**53 + 1}, True),
    ({"a": [2**53 + 1]}, {"a": float(2**53)}, False),
    ({"a": [2**53]}, {"a": float(2**53)}, True),
    ({"a": [{"numeric": [">", 0]}]}, {"a": 10**400}, False),
    ({"a": [{"anything-but": [1]}]}, {"a": 10**400}, True),
])
def test_python_ints_no_double_holds_match_by_their_text_only(pattern: Any, event: dict[str, Any],
                                                              expected: bool) -> None:
    assert answers(pattern, event) == {expected}


@pytest.mark.parametrize("pattern", [
    '{"a": [{"numeric": [">", 0.30000000000000001]}]}',
    '{"a": [{"numeric": [">", 0, "<", 9007199254740993]}]}',
    '{"a": [{"numeric": ["=", 1e309]}]}',
    '{"a": [{"numeric": ["<=", 1e-400]}]}',
    '{"a": [{"anything-but": [1, 1e309]}]}',
    '{"a": [{"anything-but": 9007199254740993}]}',
])
def test_numbers_no_double_holds_cannot_be_compared_in_ranges_or_anything_but(pattern: str) -> None:
    literal = next(t for t in ("0.30000000000000001", "9007199254740993", "1e309", "1e-400") if t in pattern)
    with pytest.raises(eventbus.InvalidEventPatternError, match=f"^Event pattern is not valid. Reason: "
                                                                f"Cannot compare number : {literal}$"):
        eventbus.compile_pattern(pattern)


def test_python_ints_no_double_holds_cannot_be_compared_in_ranges() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError, match="Cannot compare number : 9007199254740993"):
        eventbus.compile_pattern({"a": [{"numeric": [">", 2**53 + 1]}]})
    with pytest.raises(eventbus.InvalidEventPatternError, match="Cannot compare number : 9007199254740993"):
        eventbus.numeric(">", 2**53 + 1)


def test_numbers_no_double_holds_read_back_exactly() -> None:
    from decimal import Decimal

    pattern = eventbus.compile_pattern('{"a": [1e309, 0.30000000000000001, 9007199254740993, 2.5]}')
    assert pattern.to_json() == {"a": [Decimal("1e309"), Decimal("0.30000000000000001"), 9007199254740993, 2.5]}
    assert pattern != eventbus.compile_pattern('{"a": [1e308, 0.3, 9007199254740992, 2.5]}')
    assert pattern == eventbus.compile_pattern('{"a": [1e309, 0.30000000000000001, 9007199254740993, 2.50]}')


# exists: false under an array of objects is judged against the element the
# rule's other fields chose (a value in another element does not rule it out)
ABSENT_PER_ELEMENT: list[Case] = [
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"c": "1"}, {"b": "x"}]}, True),
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"c": "1", "b": "x"}, {"d": 1}]}, False),
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"b": "x", "c": 1}, {"b": "x"}]}, True),
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"b": "x", "c": []}, {"c": 2}]}, True),  # [] is absent
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": {"b": "x", "c": 1}}, False),  # no array
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"b": "x", "c": 1}]}, False),  # one element
    ({"a": {"b": ["x"], "c": [{"exists": False}, "9"]}}, {"a": [{"b": "x", "c": "9"}, {"c": 1}]}, True),
    ({"a": {"b": ["x"], "c": [{"exists": False}, "9"]}}, {"a": [{"b": "x", "c": "8"}, {"c": 1}]}, False),
    # no other field chose an element: any value of the absent field rules the match out
    ({"a": {"c": [{"exists": False}], "d": [{"exists": False}]}}, {"a": [{"c": 1}, {"e": 3}]}, False),
    ({"a": {"c": [{"exists": False}], "d": [{"exists": False}]}}, {"a": [{"e": 1}, {"e": 3}]}, True),
    # a field outside the array chooses no element either
    ({"z": ["1"], "a": {"c": [{"exists": False}], "d": [{"exists": False}]}},
     {"z": "1", "a": [{"c": 1}, {"e": 3}]}, False),
    # an absent-ok field outside the array is judged on the whole event, as always
    ({"x": [{"exists": False}], "a": {"b": ["1"], "c": ["2"]}}, {"x": 1, "a": [{"b": "1", "c": "2"}, {"d": 0}]},
     False),
    ({"x": [{"exists": False}], "a": {"b": ["1"], "c": ["2"]}}, {"a": [{"b": "1", "c": "2"}, {"d": 0}]}, True),
    ({"a": {"x": [{"exists": False}]}, "z": {"b": ["1"], "c": ["2"]}},
     {"a": {"x": 1}, "z": [{"b": "1", "c": "2"}, {"d": 0}]}, False),
    # nested arrays and dotted keys take the general search
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [[{"c": 1}, {"b": "x"}], [{"c": 2}]]}, True),
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [[{"c": 1, "b": "x"}], [{"c": 2}]]}, False),
    ({"a": {"b": ["x"], "c": [{"exists": False}]}}, {"a": [{"c": 1}, {"b": "x"}], "a.c": 5}, False),
    ({"a": {"b": {"e": ["x"]}, "c": [{"exists": False}]}},
     {"a": [{"c": 1}, {"b": [{"e": "x"}, {"f": 1}]}]}, True),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), ABSENT_PER_ELEMENT)
def test_exists_false_in_an_array_of_objects_is_judged_per_element(pattern: Any, event: dict[str, Any],
                                                                   expected: bool) -> None:
    assert answers(pattern, event) == {expected}


# A JSON event text with a repeated key: AWS's matcher reads the text as a stream
# and sees every value, as if the key held them all.
REPEATED_KEYS: list[tuple[Any, str, bool]] = [
    ({"a": ["x"]}, '{"a": "x", "a": "y"}', True),
    ({"a": ["y"]}, '{"a": "x", "a": "y"}', True),
    ({"a": [{"anything-but": "x"}]}, '{"a": "x", "a": "y"}', True),  # y is not x
    ({"a": [{"anything-but": ["x", "y"]}]}, '{"a": "x", "a": "y"}', False),
    ({"a": {"b": ["1"], "c": ["2"]}}, '{"a": {"b": "1"}, "a": {"c": "2"}}', True),  # objects combine
    ({"a": [{"exists": False}]}, '{"b": 1, "a": null, "b": 2}', False),
    # two arrays under one key stay two arrays: their elements never clash
    ({"a": {"b": ["1"], "c": ["2"]}}, '{"a": [{"b": "1"}, {"x": 0}], "a": [{"c": "2"}, {"x": 0}]}', True),
    ({"a": {"b": ["1"], "c": ["2"]}}, '{"a": [{"b": "1"}, {"c": "2"}]}', False),
    ({"x": {"y": ["1"]}}, '{"x": {"y": "0", "y": "1"}}', True),
    ({"x": {"y": ["1"]}}, '{"x": {"y": "0"}, "x": {"y": "2"}}', False),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), REPEATED_KEYS)
def test_a_repeated_key_in_event_text_gives_every_value(pattern: Any, text: str, expected: bool) -> None:
    assert eventbus.compile_pattern(pattern).matches(text) is expected
    assert ("r" in eventbus.RuleIndex([("r", pattern)]).match(text)) is expected
    assert ("r" in eventbus.RuleIndex([("r", pattern)]).match(text.encode())) is expected


@pytest.mark.recursion_sensitive
@pytest.mark.parametrize(("pattern", "text", "expected"), REPEATED_KEYS)
def test_a_repeated_key_in_deeply_nested_text_read_from_deep_in_the_stack(pattern: Any, text: str,
                                                                          expected: bool) -> None:
    # read by the stack-based reader (the C parser has no room): the same answer
    deep = '{"pad": ' + "[" * 995 + "]" * 995 + ", " + text[1:]
    index = eventbus.RuleIndex([("r", pattern)])
    assert ("r" in from_deep_in_the_stack(DEEP, lambda: index.match(deep))) is expected  # type: ignore[operator]
