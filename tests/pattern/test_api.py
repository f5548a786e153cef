"""The matcher's Python surface: factories, pattern equality and hashing,
test_event_pattern on mappings, add_all, and the arrays-of-objects shortcut."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import eventbus
from eventbus._pattern import _api
from eventbus._pattern._arrays import _one_array_check
from eventbus._pattern._flatten import build_tree, flatten
from eventbus._pattern._reference import reference_matches

ENVELOPE = {"id": "1", "account": "111122223333", "source": "app", "time": "2024-03-01T12:00:00Z",
            "region": "eu-west-1", "detail-type": "t"}


@pytest.mark.parametrize(("make", "json_form", "yes", "no"), [
    (lambda: eventbus.exact("run"), "run", "run", "Run"),
    (lambda: eventbus.exact(5), 5, 5.0, "5"),
    (lambda: eventbus.prefix("ru"), {"prefix": "ru"}, "run", "Run"),
    (lambda: eventbus.prefix("RU", ignore_case=True), {"prefix": {"equals-ignore-case": "RU"}}, "run", "xrun"),
    (lambda: eventbus.suffix("un"), {"suffix": "un"}, "run", "rUN"),
    (lambda: eventbus.suffix("UN", ignore_case=True), {"suffix": {"equals-ignore-case": "UN"}}, "run", "unx"),
    (lambda: eventbus.equals_ignore_case("RUN"), {"equals-ignore-case": "RUN"}, "rUn", "runs"),
    (lambda: eventbus.anything_but("a", "b"), {"anything-but": ["a", "b"]}, "c", "a"),
    (lambda: eventbus.anything_but(5), {"anything-but": 5}, 6, 5),
    (lambda: eventbus.anything_but(prefix="ru"), {"anything-but": {"prefix": "ru"}}, "walk", "run"),
    (lambda: eventbus.anything_but(suffix="un"), {"anything-but": {"suffix": "un"}}, "walk", "run"),
    (lambda: eventbus.anything_but(equals_ignore_case=["RUN", "WALK"]),
     {"anything-but": {"equals-ignore-case": ["RUN", "WALK"]}}, "jog", "walk"),
    (lambda: eventbus.anything_but(wildcard="r*"), {"anything-but": {"wildcard": "r*"}}, "walk", "run"),
    (lambda: eventbus.numeric(">", 0, "<=", 5), {"numeric": [">", 0, "<=", 5]}, 5, 0),
    (lambda: eventbus.exists(), {"exists": True}, "x", None),
    (lambda: eventbus.cidr("10.0.0.0/8"), {"cidr": "10.0.0.0/8"}, "10.1.1.1", "11.0.0.1"),
    (lambda: eventbus.wildcard("r*n"), {"wildcard": "r*n"}, "run", "runs"),
])
def test_each_factory_builds_what_its_json_form_compiles_to(make: Any, json_form: Any, yes: Any, no: Any) -> None:
    made: eventbus.Matcher = make()  # (built here, not at collection: mutation testing must see the call)
    from_json = eventbus.compile_pattern({"f": [json_form]})
    assert eventbus.compile_pattern({"f": [made]}) == from_json
    assert made.to_json() == json_form
    assert made.matches(yes) and from_json.matches({"f": yes})
    if no is None:
        assert from_json.matches({"g": 1}) is False  # exists: the field must be there
    else:
        assert not made.matches(no) and not from_json.matches({"f": no})


def test_exists_false_and_the_factory_default() -> None:
    assert eventbus.exists(False).to_json() == {"exists": False}
    assert eventbus.compile_pattern({"f": [eventbus.exists(False)]}).matches({"g": 1})


@pytest.mark.parametrize("call", [
    lambda: eventbus.anything_but(),
    lambda: eventbus.anything_but("a", prefix="b"),
    lambda: eventbus.anything_but(prefix="a", suffix="b"),
])
def test_anything_but_takes_values_or_one_form(call: Any) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        call()
    assert raised.value.reason == ("anything_but() takes either values or exactly one of prefix=, suffix=, "
                                   "equals_ignore_case=, wildcard=")


def test_equal_patterns_hash_alike_and_unequal_ones_differ() -> None:
    same = [eventbus.compile_pattern('{"a": [1], "b": ["x", "y"]}'),
            eventbus.compile_pattern({"b": ["y", "x"], "a": [1.0]}),
            eventbus.compile_pattern({"a": [eventbus.exact(1)], "b": ["x", eventbus.exact("y")]})]
    assert len(set(same)) == 1
    assert all(p == same[0] and hash(p) == hash(same[0]) for p in same)
    different = [
        eventbus.compile_pattern({"a": ["1"], "b": ["x", "y"]}),  # a string is not a number
        eventbus.compile_pattern({"a": [1], "b": ["x"]}),
        eventbus.compile_pattern({"a": [{"prefix": "1"}], "b": ["x", "y"]}),
        eventbus.compile_pattern({"a": [{"numeric": ["=", 1]}], "b": ["x", "y"]}),
        eventbus.compile_pattern({"a": [2], "b": ["x", "y"]}),
        eventbus.compile_pattern({"c": [1], "b": ["x", "y"]}),
    ]
    for other in different:
        assert other != same[0]
    assert len({*different, same[0]}) == len(different) + 1
    assert (same[0] == "text") is False
    assert repr(same[0]) == 'EventPattern({"a": [1], "b": ["x", "y"]})'


def test_test_event_pattern_takes_a_mapping_too() -> None:
    assert eventbus.test_event_pattern(ENVELOPE, '{"source": ["app"]}') is True  # type: ignore[arg-type]
    assert eventbus.test_event_pattern(ENVELOPE, '{"source": ["other"]}') is False  # type: ignore[arg-type]
    for name in ENVELOPE:
        partial = {k: v for k, v in ENVELOPE.items() if k != name}
        with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\.$"):
            eventbus.test_event_pattern(partial, '{"source": ["app"]}')  # type: ignore[arg-type]


def test_add_all_names_a_rule_that_is_too_wide_and_adds_nothing() -> None:
    index = eventbus.RuleIndex([("keep", {"a": ["x"]})])
    wide = {f"f{i}": ["x"] for i in range(257)}
    with pytest.raises(eventbus.InvalidEventPatternError, match="Size of rule 'wide' exceeds max value of 256"):
        index.add_all({"fine": {"a": ["y"]}, "wide": wide})
    assert set(index) == {"keep"}


def test_a_compile_that_runs_out_of_stack_runs_again_on_a_fresh_one(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _api._compile
    threads = []

    def tight(pattern: Any, name: str | None) -> eventbus.EventPattern:
        threads.append(threading.current_thread())
        if threading.current_thread() is threading.main_thread():
            raise RecursionError("no room left")
        return real(pattern, name)

    monkeypatch.setattr(_api, "_compile", tight)
    assert eventbus.compile_pattern({"a": ["x"]}) == real({"a": ["x"]}, None)
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()
    with pytest.raises(eventbus.InvalidEventPatternError, match="Size of rule 'r' exceeds max value of 256"):
        eventbus.RuleIndex().add("r", {f"f{i}": ["x"] for i in range(257)})  # errors come back too


def _quick(event: dict[str, Any], part: dict[str, Any], array: str = "items") -> bool | None:
    rule = eventbus.compile_pattern(part).subrules[0]
    fields, arrays = flatten(event, build_tree(rule))
    assert arrays == [array]
    return _one_array_check(event, arrays, rule, fields, False)


@pytest.mark.parametrize(("event", "part", "expected"), [
    # the simple shape (fields of the objects of one array): decided directly
    ({"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}, {"items": {"sku": ["a"], "qty": [1]}}, True),
    ({"items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]}, {"items": {"sku": ["a"], "qty": [1]}}, False),
    ({"items": [{"sku": ["a", "c"], "qty": 1}, {"sku": "b"}]}, {"items": {"sku": ["c"], "qty": [1]}}, True),
    ({"items": [{"sku": "a"}, {"qty": 1}, 7]}, {"items": {"sku": ["a"], "qty": [1]}}, False),
    ({"items": [{"sku": "a", "qty": {"n": 1}}, {"qty": 1}]}, {"items": {"sku": ["a"], "qty": [1]}}, False),
    ({"items": [{"sku": "a"}, {"sku": "b", "qty": 1}]},
     {"items": {"sku": ["a"], "qty": [{"exists": False}]}}, True),
    ({"items": [{"sku": "a", "qty": []}, {"qty": 1}]}, {"items": {"sku": ["a"], "qty": [{"exists": False}]}}, True),
    ({"items": [{"sku": "b"}, {"sku": "c"}]}, {"items": {"sku": ["b"], "qty": [{"exists": False}]}}, True),
    ({"items": [{"x": 1}, {"qty": 1}]}, {"items": {"sku": [{"exists": False}], "qty": [{"exists": False}]}}, False),
    ({"items": [{"x": 1}, {"y": 1}]}, {"items": {"sku": [{"exists": False}], "qty": [{"exists": False}]}}, True),
    # not the simple shape: left to the general search
    ({"items": [{"sku": "a", "qty": 1}, {"sku": "b"}], "items.qty": 5}, {"items": {"sku": ["a"], "qty": [1]}}, None),
    ({"items": [[{"sku": "a", "qty": 1}], {"sku": "b"}]}, {"items": {"sku": ["a"], "qty": [1]}}, None),
    ({"items": [{"sku": "a", "qty": [{"n": 1}]}, {"sku": "b"}]}, {"items": {"sku": ["a"], "qty": [1]}}, None),
    ({"items": [{"sku": {"id": "a"}, "qty": 1}, {"sku": "b"}]}, {"items": {"sku": {"id": ["a"]}, "qty": [1]}},
     None),
])
def test_the_arrays_shortcut_decides_the_simple_shape_and_leaves_the_rest(event: dict[str, Any],
                                                                           part: dict[str, Any],
                                                                           expected: bool | None) -> None:
    assert _quick(event, part) is expected
    if expected is not None:  # and it agrees with the whole index
        assert eventbus.compile_pattern(part).matches(event) is expected


def test_unrelated_arrays_do_not_multiply_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sixteen arrays of objects that share no element: each is checked on its
    own, not in every combination with the others (2**16 before)."""
    from eventbus._pattern import _arrays

    steps = [0]
    real = _arrays._solve

    def counted(options: Any) -> bool:
        steps[0] += 1
        return real(options)

    monkeypatch.setattr(_arrays, "_solve", counted)
    fields = 16
    pattern = {f"a{i}": {"x": [1], "y": [1]} for i in range(fields)} | {"z": {"x": [1], "y": [1]}}
    event = {"z": [{"x": 1, "y": 0}, {"x": 0, "y": 1}], **{f"a{i}": [{"x": 1, "y": 1}] * 2 for i in range(fields)}}
    assert eventbus.compile_pattern(pattern).matches(event) is False
    assert steps[0] <= fields + 1  # one search per array
    event["z"] = [{"x": 1, "y": 1}, {"x": 0}]
    assert eventbus.compile_pattern(pattern).matches(event) is True


def test_many_absent_ok_fields_in_text_events_are_decided_per_element(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventbus._pattern import _arrays

    def never(*args: Any) -> bool:
        raise AssertionError("the general search is not needed for one array of objects")

    monkeypatch.setattr(_arrays, "_search_with_absence", never)
    index = eventbus.RuleIndex({"r": {"a": {f"x{i}": ["v", {"exists": False}] for i in range(20)}}})
    text = json.dumps({"a": [{f"x{i}": "v" for i in range(20)}] * 2})
    assert index.match(text) == {"r"}
    assert index.match(text.replace('"x3": "v"', '"x3": "w"', 1)) == {"r"}  # the second element still fits
    both = json.dumps({"a": [{"x1": "w"} | {f"x{i}": "v" for i in range(2, 20)}] * 2})
    assert index.match(both) == set()


def test_decimal_values_in_events_are_numbers() -> None:
    from decimal import Decimal

    from eventbus._pattern._api import reference_match

    cases: list[tuple[dict[str, Any], Decimal, bool]] = [
        ({"a": [5]}, Decimal("5"), True),
        ({"a": [5]}, Decimal("5.0"), True),
        ({"a": [{"anything-but": 5}]}, Decimal("5"), False),
        ({"a": [{"numeric": [">", 1]}]}, Decimal("1.5"), True),
        ({"a": [0.3]}, Decimal("0.30000000000000001"), False),  # no double holds it: compared as text
        ({"a": ["5"]}, Decimal("5"), False),
    ]
    for pattern, value, expected in cases:
        compiled = eventbus.compile_pattern(pattern)
        assert compiled.matches({"a": value}) is expected
        assert reference_match(compiled, {"a": value}) is expected


@pytest.mark.parametrize("event", [
    {"a": {1, 2}}, {"a": b"x"}, {"a": bytearray(b"x")}, {"a": object()}, {"a": (i for i in [1])},
    {"a": float("nan") and __import__("decimal").Decimal("NaN")}, {("k",): 1, "a": 1}, {1: 1},
    {"a": [{"b": 1}, {("k",): 0}]},
])
def test_events_that_are_not_json_are_refused(event: Any) -> None:
    rules: dict[str, Any] = {"r": {"a": [{"exists": True}], "x": [{"exists": False}]},
                             "s": {"a": {"b": [1], "c": [{"exists": False}]}}}
    index = eventbus.RuleIndex(rules)
    with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\. \("):
        index.match(event)


@pytest.mark.parametrize("event", [None, 5, 1.5, ["x"], object()])
def test_test_event_pattern_refuses_what_is_not_an_event(event: Any) -> None:
    with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\.$"):
        eventbus.test_event_pattern(event, '{"a": [1]}')


def test_an_int_too_long_to_print_matches_nothing_and_raises_nothing() -> None:
    rules: dict[str, Any] = {"r": {"a": [{"numeric": [">", 0]}]}, "t": {"a": [1]},
                             "u": {"a": [{"anything-but": [1]}]}}
    index = eventbus.RuleIndex(rules)
    assert index.match({"a": 10**5000}) == {"u"}


def test_events_as_memoryview_are_read_like_bytes() -> None:
    pattern = eventbus.compile_pattern({"a": ["x"]})
    assert pattern.matches(memoryview(b'{"a": "x"}'))
    assert eventbus.RuleIndex({"r": pattern}).match(memoryview(b'{"a": "x"}')) == {"r"}


def test_the_reference_reads_exactly_as_the_plain_string() -> None:
    from eventbus._pattern._api import reference_match

    pattern = eventbus.compile_pattern({"a": [{"exactly": "x"}]})
    assert reference_match(pattern, {"a": "x"}) and not reference_match(pattern, {"a": "X"})


@pytest.mark.parametrize(("value", "expected"), [
    ("a.png", {"by-suffix"}),
    ("img.png", {"by-suffix", "by-prefix", "loose"}),
    ("img-1.jpg", {"by-prefix", "two-ends", "loose"}),
    ("img", {"by-prefix", "loose"}),
    ("x-mid-y", {"loose"}),
    ("png", set()),
    (".png", {"by-suffix"}),
    ("imgmidpng", {"by-prefix", "loose"}),
])
def test_wildcards_filed_by_either_end_or_neither(value: str, expected: set[str]) -> None:
    """Wildcards are looked up by their leading literal, else their trailing one,
    else tried for every value; several on one path, sharing those literals."""
    rules: dict[str, Any] = {
        "by-suffix": {"k": [{"wildcard": "*.png"}]},
        "by-prefix": {"k": [{"wildcard": "img*"}]},
        "two-ends": {"k": [{"wildcard": "img*.jpg"}]},
        "loose": {"k": [{"wildcard": "*m*"}], "z": [{"exists": False}]},
        "other-suffix": {"k": [{"wildcard": "*.gif"}]},
    }
    index = eventbus.RuleIndex(rules)
    assert index.match({"k": value}) == expected
    assert index.match({"k": [value, "unrelated"]}) == expected


def test_one_value_satisfying_several_kinds_of_rule_on_one_path() -> None:
    """Each kind of table adds to what the others found for the same value."""
    rules: dict[str, Any] = {
        "exact": {"k": ["10.0.0.1"]},
        "not-x": {"k": [{"anything-but": "x"}]},
        "ip-spelling": {"k": ["010.000.000.001"]},
        "block": {"k": [{"cidr": "10.0.0.0/8"}]},
        "prefix": {"k": [{"prefix": "10."}]},
        "short-suffix": {"k": [{"suffix": "1"}]},
        "long-suffix": {"k": [{"suffix": ".0.1"}]},
        "suffix-ic": {"k": [{"suffix": {"equals-ignore-case": ".0.1"}}]},
        "eic": {"k": [{"equals-ignore-case": "10.0.0.1"}]},
        "not-prefix": {"k": [{"anything-but": {"prefix": "9"}}]},
        "miss": {"k": ["10.0.0.2"]},
    }
    index = eventbus.RuleIndex(rules)
    assert index.match({"k": "10.0.0.1"}) == set(rules) - {"miss"}
    assert index.match({"k": "x"}) == {"not-prefix"}
    word_rules: dict[str, Any] = {"exact": {"w": ["abc"]}, "not-x": {"w": [{"anything-but": ["x"]}]},
                                  "eic": {"w": [{"equals-ignore-case": "ABC"}]}}
    words = eventbus.RuleIndex(word_rules)
    assert words.match({"w": "abc"}) == {"exact", "not-x", "eic"}


@pytest.mark.parametrize(("value", "expected"), [
    (0, {"low"}), (1, {"low"}), (1.5, {"low", "mid"}), (2, {"low", "mid", "edge"}), (2.5, {"mid", "high"}),
    (3, {"mid", "high"}), (3.5, {"high"}), (4, set()),
])
def test_ranges_with_exclusive_bounds_between_other_end_points(value: float, expected: set[str]) -> None:
    rules: dict[str, Any] = {
        "low": {"n": [{"numeric": ["<=", 2]}]},
        "mid": {"n": [{"numeric": [">", 1, "<=", 3]}]},
        "high": {"n": [{"numeric": [">", 2, "<", 4]}]},
        "edge": {"n": [{"numeric": ["=", 2]}]},
    }
    assert eventbus.RuleIndex(rules).match({"n": value}) == expected


_FACTORY_MATCHERS = [  # (factory call, the JSON form it stands for: the reference reads that, not the matcher)
    (lambda: eventbus.exact(True), True), (lambda: eventbus.exact(False), False), (lambda: eventbus.exact(None), None),
    (lambda: eventbus.exact(0), 0), (lambda: eventbus.exact(5), 5), (lambda: eventbus.exact(-0.0), -0.0),
    (lambda: eventbus.exact(1.5), 1.5), (lambda: eventbus.exact(2**53 + 1), 2**53 + 1),
    (lambda: eventbus.exact("5"), "5"), (lambda: eventbus.exact(""), ""),
    (lambda: eventbus.exact("10.0.0.1"), "10.0.0.1"),
    (lambda: eventbus.prefix("ru"), {"prefix": "ru"}),
    (lambda: eventbus.prefix("RU", ignore_case=True), {"prefix": {"equals-ignore-case": "RU"}}),
    (lambda: eventbus.suffix("un"), {"suffix": "un"}),
    (lambda: eventbus.suffix("ÜN", ignore_case=True), {"suffix": {"equals-ignore-case": "ÜN"}}),
    (lambda: eventbus.equals_ignore_case("ßtraße"), {"equals-ignore-case": "ßtraße"}),
    (lambda: eventbus.anything_but("run", "walk"), {"anything-but": ["run", "walk"]}),
    (lambda: eventbus.anything_but(5, 6), {"anything-but": [5, 6]}),
    (lambda: eventbus.anything_but(prefix="r"), {"anything-but": {"prefix": "r"}}),
    (lambda: eventbus.anything_but(suffix=["n", "k"]), {"anything-but": {"suffix": ["n", "k"]}}),
    (lambda: eventbus.anything_but(equals_ignore_case="RUN"), {"anything-but": {"equals-ignore-case": "RUN"}}),
    (lambda: eventbus.anything_but(wildcard="r*n"), {"anything-but": {"wildcard": "r*n"}}),
    (lambda: eventbus.numeric(">", 0, "<=", 5), {"numeric": [">", 0, "<=", 5]}),
    (lambda: eventbus.numeric("=", 5), {"numeric": ["=", 5]}),
    (lambda: eventbus.numeric("<", -1), {"numeric": ["<", -1]}),
    (lambda: eventbus.exists(), {"exists": True}),
    (lambda: eventbus.cidr("10.0.0.0/8"), {"cidr": "10.0.0.0/8"}),
    (lambda: eventbus.cidr("2001:db8::/32"), {"cidr": "2001:db8::/32"}),
    (lambda: eventbus.wildcard("r*n"), {"wildcard": "r*n"}), (lambda: eventbus.wildcard("*"), {"wildcard": "*"}),
    (lambda: eventbus.wildcard("a*b*c*d"), {"wildcard": "a*b*c*d"}),
    (lambda: eventbus.wildcard("*b*c"), {"wildcard": "*b*c"}),
    (lambda: eventbus.wildcard("*ab*ab*"), {"wildcard": "*ab*ab*"}),
    (lambda: eventbus.anything_but(wildcard="a*b*c*d"), {"anything-but": {"wildcard": "a*b*c*d"}}),
    (lambda: eventbus.wildcard("*ab*b"), {"wildcard": "*ab*b"}),
    (lambda: eventbus.wildcard("ab*b*c"), {"wildcard": "ab*b*c"}),
]
_VALUES = [True, False, None, 0, 1, 5, 5.0, -0.0, 1.5, 2**53 + 1, 2**53, -2, 6, "5", "", "run", "RUN", "rUn",
           "walk", "ÜN", "sun", "STRASSE", "ßtraße", "10.0.0.1", "10.1.2.3", "11.0.0.1", "2001:db8::1", "::1", [],
           ["run", "walk"], [5, 6], {"a": 1},
           # wildcard middles: the first fit must be taken (the last one can leave no room for what follows)
           "abcbd", "abcd", "bxc", "xbyc", "abab", "xabyabz", "aabb", "abdc",
           # ... and must lie between the literal start and end, not overlap them
           "ab", "abb", "abxc", "abbc"]


@pytest.mark.parametrize(("make", "json_form"), _FACTORY_MATCHERS,
                         ids=[f"matcher{i}" for i in range(len(_FACTORY_MATCHERS))])
def test_a_matcher_agrees_with_the_reference_on_every_kind_of_value(make: Any, json_form: Any) -> None:
    made: eventbus.Matcher = make()
    pattern = eventbus.compile_pattern({"f": [made]})
    for value in _VALUES:
        event = {"f": value}
        want = reference_matches({"f": [json_form]}, event)  # from the JSON form: nothing of the matcher
        assert pattern.matches(event) is want, (made, value)
        if not isinstance(value, list | dict):
            assert made.matches(value) is want, (made, value)


@pytest.mark.parametrize(("call", "reason"), [
    (lambda: eventbus.exact([1]), "Match value must be String, number, true, false, or null"),  # type: ignore[arg-type]
    (lambda: eventbus.exact({"prefix": "a", "suffix": "b"}),  # type: ignore[arg-type]
     "Only one key allowed in match expression"),
    (lambda: eventbus.wildcard("*a*a*a*a*a*a*a*a*a*a*a*a*a*"),
     "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a "
     "wildcard character"),
])
def test_factories_refuse_what_aws_refuses(call: Any, reason: str) -> None:
    with pytest.raises(eventbus.InvalidEventPatternError) as raised:
        call()
    assert raised.value.reason == reason


def test_hashes_tell_different_patterns_apart_and_take_big_numbers() -> None:
    patterns = [eventbus.compile_pattern(p) for p in (
        '{"a": [1]}', '{"a": [2]}', '{"b": [1]}', '{"a": ["1"]}', '{"a": [1e400]}', '{"a": [1e401]}',
        '{"a": [{"prefix": "x"}]}', '{"a": [{"suffix": "x"}]}', '{"a": [1], "b": [2]}')]
    assert len({hash(p) for p in patterns}) == len(patterns)


def test_big_numbers_written_differently_are_different_patterns_as_they_match_differently() -> None:
    # AWS compares a number no double holds by its text: 1e400 and 1E400 match different events
    lower, upper = eventbus.compile_pattern('{"a": [1e400]}'), eventbus.compile_pattern('{"a": [1E400]}')
    assert lower != upper
    assert eventbus.compile_pattern('{"a": [1e400]}') == lower
    assert hash(eventbus.compile_pattern('{"a": [1e400]}')) == hash(lower)


def test_big_number_matchers_compare_and_hash_by_their_text() -> None:
    big = eventbus.exact(2**70)
    assert big == eventbus.exact(2**70) and hash(big) == hash(eventbus.exact(2**70))
    assert big != eventbus.exact(2**70 + 1) and big != eventbus.exact(float(2**70))
    assert {big, eventbus.exact(2**70)} == {big}
