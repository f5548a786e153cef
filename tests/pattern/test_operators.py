"""Each operator of the pattern language, on events shaped like AWS's."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import eventbus
from eventbus import (
    anything_but,
    cidr,
    equals_ignore_case,
    exact,
    exists,
    numeric,
    prefix,
    suffix,
    wildcard,
)
from eventbus._pattern._api import reference_match
from eventbus._pattern._matchers import fold, pattern_key

EVENT: dict[str, Any] = {
    "source": "aws.s3",
    "region": "eu-west-1",
    "resources": ["arn:a", "arn:b"],
    "detail": {
        "state": "Running",
        "priority": 3,
        "amount": 250.5,
        "key": "uploads/2024/img_1.png",
        "ip": "10.0.3.4",
        "ip6": "2001:db8::1",
        "flag": False,
        "nothing": None,
        "empty": "",
        "list": [],
        "obj": {"inner": 1},
        "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}],
    },
}

CASES = [
    # exact values
    ({"source": ["aws.s3"]}, True),
    ({"source": ["aws.ec2"]}, False),
    ({"source": ["aws.ec2", "aws.s3"]}, True),
    ({"resources": ["arn:b"]}, True),
    ({"detail": {"state": ["running"]}}, False),
    ({"detail": {"priority": [3]}}, True),
    ({"detail": {"priority": [3.0]}}, True),
    ({"detail": {"priority": ["3"]}}, False),
    ({"detail": {"flag": [False]}}, True),
    ({"detail": {"flag": [0]}}, False),
    ({"detail": {"nothing": [None]}}, True),
    ({"detail": {"nothing": ["null"]}}, False),
    ({"detail": {"empty": [""]}}, True),
    ({"detail": {"nothing": [""]}}, False),
    ({"detail": {"ip": ["10.0.3.4"]}}, True),
    ({"detail": {"ip6": ["2001:0db8:0:0:0:0:0:1"]}}, True),
    # prefix / suffix / equals-ignore-case
    ({"detail": {"key": [{"prefix": "uploads/"}]}}, True),
    ({"detail": {"key": [{"prefix": "Uploads/"}]}}, False),
    ({"detail": {"key": [{"prefix": {"equals-ignore-case": "UPLOADS/"}}]}}, True),
    ({"detail": {"priority": [{"prefix": "3"}]}}, False),
    ({"detail": {"key": [{"suffix": ".png"}]}}, True),
    ({"detail": {"key": [{"suffix": ".PNG"}]}}, False),
    ({"detail": {"key": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}, True),
    ({"detail": {"state": [{"equals-ignore-case": "RUNNING"}]}}, True),
    ({"detail": {"state": [{"equals-ignore-case": "stopped"}]}}, False),
    # anything-but
    ({"detail": {"state": [{"anything-but": "stopped"}]}}, True),
    ({"detail": {"state": [{"anything-but": "Running"}]}}, False),
    ({"detail": {"state": [{"anything-but": ["a", "Running"]}]}}, False),
    ({"detail": {"priority": [{"anything-but": [3]}]}}, False),
    ({"detail": {"priority": [{"anything-but": [3.5]}]}}, True),
    ({"detail": {"priority": [{"anything-but": ["3"]}]}}, True),
    ({"detail": {"nothing": [{"anything-but": "x"}]}}, True),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
    ({"detail": {"key": [{"anything-but": {"prefix": "uploads/"}}]}}, False),
    ({"detail": {"key": [{"anything-but": {"prefix": ["tmp/", "logs/"]}}]}}, True),
    ({"detail": {"key": [{"anything-but": {"suffix": ".png"}}]}}, False),
    ({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["RUNNING"]}}]}}, False),
    ({"detail": {"key": [{"anything-but": {"wildcard": "*.png"}}]}}, False),
    ({"detail": {"key": [{"anything-but": {"wildcard": "*.jpg"}}]}}, True),
    ({"detail": {"priority": [{"anything-but": {"wildcard": "*"}}]}}, True),
    ({"resources": [{"anything-but": "arn:a"}]}, True),  # some element is not arn:a
    ({"detail": {"state": [{"anything-but": "a"}, {"anything-but": "Running"}]}}, True),
    # numeric
    ({"detail": {"amount": [{"numeric": [">", 100, "<=", 300]}]}}, True),
    ({"detail": {"amount": [{"numeric": [">", 250.5]}]}}, False),
    ({"detail": {"amount": [{"numeric": [">=", 250.5]}]}}, True),
    ({"detail": {"priority": [{"numeric": ["=", 3]}]}}, True),
    ({"detail": {"priority": [{"numeric": ["<", 3]}]}}, False),
    ({"detail": {"priority": [{"numeric": ["<=", 3]}]}}, True),
    ({"detail": {"state": [{"numeric": [">", 0]}]}}, False),
    ({"detail": {"flag": [{"numeric": [">=", 0]}]}}, False),
    # exists
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"nothing": [{"exists": True}]}}, True),
    ({"detail": {"obj": [{"exists": True}]}}, False),
    ({"detail": {"list": [{"exists": True}]}}, False),
    ({"detail": {"list": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"state": [{"exists": False}]}}, False),
    # cidr
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, False),
    ({"detail": {"ip6": [{"cidr": "2001:db8::/32"}]}}, True),
    ({"detail": {"ip6": [{"cidr": "10.0.0.0/8"}]}}, False),
    ({"detail": {"key": [{"cidr": "10.0.0.0/8"}]}}, False),
    # wildcard
    ({"detail": {"key": [{"wildcard": "uploads/*.png"}]}}, True),
    ({"detail": {"key": [{"wildcard": "uploads/*.jpg"}]}}, False),
    ({"detail": {"key": [{"wildcard": "uploads/2024/img_1*.png"}]}}, True),
    ({"detail": {"key": [{"wildcard": "*"}]}}, True),
    ({"detail": {"key": [{"wildcard": "uploads/2024/img_1.png"}]}}, True),
    ({"detail": {"priority": [{"wildcard": "*"}]}}, False),
    # $or, nesting, arrays of objects
    ({"$or": [{"source": ["aws.ec2"]}, {"detail": {"priority": [3]}}]}, True),
    ({"$or": [{"source": ["aws.ec2"]}, {"detail": {"priority": [4]}}]}, False),
    ({"detail": {"$or": [{"state": ["x"]}, {"$or": [{"priority": [9]}, {"amount": [250.5]}]}]}}, True),
    ({"source": ["aws.s3"], "$or": [{"region": ["us-east-1"]}, {"detail": {"flag": [True]}}]}, False),
    ({"detail": {"items": {"sku": ["B"]}}}, True),
    ({"detail": {"items": {"sku": ["B"], "qty": [5]}}}, True),
    ({"detail": {"items": {"sku": ["A"], "qty": [5]}}}, False),
    ({"detail": {"obj.inner": [1]}}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), CASES, ids=[str(p) for p, _ in CASES])
def test_operator_matches_as_aws_does(pattern: dict[str, Any], expected: bool) -> None:
    compiled = eventbus.compile_pattern(pattern)
    assert compiled.matches(EVENT) is expected
    assert reference_match(compiled, EVENT) is expected


def test_a_literal_string_in_an_event_is_matched_byte_for_byte() -> None:
    pattern = eventbus.compile_pattern({"s": ["A CamelCase string with an emoji 🚀 "]})
    assert pattern.matches({"s": "A CamelCase string with an emoji 🚀 "})
    assert not pattern.matches({"s": "A CamelCase string with an emoji 🚀"})


def test_a_later_repeated_path_replaces_the_earlier_one_as_in_aws() -> None:
    text = '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}'
    pattern = eventbus.compile_pattern(text)
    assert pattern.matches({"detail": {"location": "eu-central-1"}})
    assert not pattern.matches({"detail": {"location": "us-east"}})


FACTORY_CASES = [
    (lambda: exact("x"), "x"),
    (lambda: exact(3), 3),
    (lambda: exact(None), None),
    (lambda: prefix("us-"), {"prefix": "us-"}),
    (lambda: prefix("us-", ignore_case=True), {"prefix": {"equals-ignore-case": "us-"}}),
    (lambda: suffix(".png"), {"suffix": ".png"}),
    (lambda: suffix(".png", ignore_case=True), {"suffix": {"equals-ignore-case": ".png"}}),
    (lambda: equals_ignore_case("Alice"), {"equals-ignore-case": "Alice"}),
    (lambda: anything_but("a"), {"anything-but": "a"}),
    (lambda: anything_but("a", "b"), {"anything-but": ["a", "b"]}),
    (lambda: anything_but(100, 200), {"anything-but": [100, 200]}),
    (lambda: anything_but(prefix="init"), {"anything-but": {"prefix": "init"}}),
    (lambda: anything_but(suffix=[".a", ".b"]), {"anything-but": {"suffix": [".a", ".b"]}}),
    (lambda: anything_but(equals_ignore_case="x"), {"anything-but": {"equals-ignore-case": "x"}}),
    (lambda: anything_but(wildcard="*/lib/*"), {"anything-but": {"wildcard": "*/lib/*"}}),
    (lambda: numeric(">", 0, "<=", 5), {"numeric": [">", 0, "<=", 5]}),
    (lambda: numeric("=", 3), {"numeric": ["=", 3]}),
    (lambda: exists(), {"exists": True}),
    (lambda: exists(False), {"exists": False}),
    (lambda: cidr("10.0.0.0/24"), {"cidr": "10.0.0.0/24"}),
    (lambda: wildcard("a*b"), {"wildcard": "a*b"}),
]


@pytest.mark.parametrize(("build", "json_form"), FACTORY_CASES, ids=[repr(j) for _, j in FACTORY_CASES])
def test_factories_compile_to_the_same_form_as_json(build: Any, json_form: Any) -> None:
    built: eventbus.Matcher = build()  # (built here, not at collection: mutation testing must see the call)
    from_python = eventbus.compile_pattern({"detail": {"f": [built]}})
    from_json = eventbus.compile_pattern({"detail": {"f": [json_form]}})
    assert from_python == from_json
    assert from_python.subrules == from_json.subrules
    assert built.to_json() == json_form


def test_factories_refuse_bad_input_with_aws_words() -> None:
    with pytest.raises(eventbus.InvalidEventPatternError, match="Null prefix/suffix not allowed"):
        anything_but(prefix="")
    with pytest.raises(eventbus.InvalidEventPatternError, match="Bad numeric range operator: >"):
        numeric(">", 0, ">", 1)
    with pytest.raises(eventbus.InvalidEventPatternError, match="Consecutive wildcard characters"):
        wildcard("a**")
    with pytest.raises(eventbus.InvalidEventPatternError, match="exactly one of"):
        anything_but("a", prefix="b")


def test_to_json_round_trips() -> None:
    pattern = {"source": ["a"], "detail": {"n": [{"numeric": [">", 1]}], "$or": [{"x": [1]}, {"y": [None]}]}}
    compiled = eventbus.compile_pattern(pattern)
    assert compiled.to_json() == pattern
    assert eventbus.compile_pattern(compiled.to_json()) == compiled
    assert eventbus.compile_pattern(compiled) is compiled
    assert "EventPattern(" in repr(compiled)


def test_patterns_with_true_and_one_are_different() -> None:
    assert eventbus.compile_pattern({"a": [True]}) != eventbus.compile_pattern({"a": [1]})
    assert eventbus.compile_pattern({"a": [1]}) == eventbus.compile_pattern({"a": [1.0]})


def test_values_of_a_nested_array_keep_to_their_element() -> None:
    # found by the property test: "b" (inside a nested array) and "b.a" sit in
    # different elements of the array at "b", so they may not combine
    pattern = eventbus.compile_pattern({"b": {"a": [""]}, "$or": [{"a": [""], "b": [""]}, {"b": [""]}]})
    event = {"b": [[""], {"a": ""}]}
    assert not pattern.matches(event)
    assert not reference_match(pattern, event)
    assert pattern.matches({"b": [["", {"a": ""}]]})  # the same element: fine


def test_ignore_case_folds_one_character_at_a_time() -> None:
    # str.lower() turns a final capital sigma into a final small sigma; AWS's
    # matcher folds each character alone, so a prefix must still match
    assert eventbus.compile_pattern({"a": [{"prefix": {"equals-ignore-case": "ΑΣ"}}]}).matches({"a": "ΑΣΤ"})
    assert eventbus.compile_pattern({"a": [{"suffix": {"equals-ignore-case": "Σ"}}]}).matches({"a": "ΑΣ"})
    assert eventbus.compile_pattern({"a": [{"equals-ignore-case": "straße"}]}).matches({"a": "STRAßE"})


def test_an_empty_key_is_a_path_segment_like_any_other() -> None:
    nested = {"": {"c": "x"}}
    assert not eventbus.compile_pattern({"c": ["x"]}).matches(nested)
    assert not reference_match(eventbus.compile_pattern({"c": ["x"]}), nested)
    assert eventbus.compile_pattern({"": {"c": ["x"]}}).matches(nested)
    assert reference_match(eventbus.compile_pattern({"": {"c": ["x"]}}), nested)


def test_python_events_with_enum_members_tuples_and_nan() -> None:
    import enum

    class Colour(enum.StrEnum):
        RED = "red"

    class Size(enum.IntEnum):
        BIG = 3

    event = {"colour": Colour.RED, "size": Size.BIG, "tags": ("a", "b"), "n": float("nan")}
    for pattern, want in [({"colour": ["red"]}, True), ({"size": [3]}, True), ({"size": [{"numeric": [">", 2]}]}, True),
                          ({"tags": ["b"]}, True), ({"n": [{"numeric": [">", 0]}]}, False),
                          ({"n": [{"numeric": ["<", 0]}]}, False)]:
        compiled = eventbus.compile_pattern(pattern)  # type: ignore[arg-type]
        assert compiled.matches(event) is want, pattern
        assert reference_match(compiled, event) is want, pattern


def test_values_in_sibling_arrays_do_not_make_the_consistency_search_explode() -> None:
    pattern = eventbus.compile_pattern({"o": {"x": {"a": [1]}, "y": {"b": [1]}, "z": {"c": [1]}, "w": {"d": [1]}}})
    n = 60  # a naive search would try n**4 combinations
    split = {"o": [{"x": [{"a": 1}] * n, "y": [{"b": 1}] * n, "z": [{"c": 1}] * n}, {"w": [{"d": 1}] * n}]}
    together = {"o": [{"x": [{"a": 1}] * n, "y": [{"b": 1}] * n, "z": [{"c": 1}] * n, "w": [{"d": 1}] * n}]}
    assert not pattern.matches(split)
    assert pattern.matches(together)


@pytest.mark.slow_under_mutmut
def test_folding_agrees_with_the_two_cases_over_all_of_unicode() -> None:
    """The index folds event text and looks the result up; that is exact only if,
    for every simple pattern character, the characters that fold to its lower
    case are exactly its lower and upper case.  Checked for every code point."""
    groups: dict[str, set[str]] = {}
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        groups.setdefault(fold(ch), set()).add(ch)
    simple = 0
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        key = pattern_key(ch)
        if key is not None:
            simple += 1
            assert groups[key] == {ch.lower(), ch.upper()}, ch
    assert simple > 1_000_000  # nearly every character is simple; the rest go to the regex


def test_matchers_describe_compiled_values_and_are_not_an_extension_point() -> None:
    made = eventbus.prefix("run")
    assert isinstance(made, eventbus.Matcher)
    assert made.type is eventbus.MatchType.PREFIX
    assert made.matches("running") and not made.matches("stopped")
    assert made.to_json() == {"prefix": "run"}
    assert eventbus.numeric(">", 1).type is eventbus.MatchType.NUMERIC

    class Mine:  # anything with to_json() is compiled from its JSON form
        def to_json(self) -> Any:
            return {"prefix": "run"}

        def matches(self, value: Any) -> bool:  # never consulted
            raise AssertionError("not called")

    pattern = eventbus.compile_pattern({"state": [Mine()]})
    assert pattern == eventbus.compile_pattern({"state": [{"prefix": "run"}]})
    assert pattern.matches({"state": "running"})

