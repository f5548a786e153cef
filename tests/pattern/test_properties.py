"""Property tests: the compiled RuleIndex against the plain reference evaluator."""

from __future__ import annotations

import collections
import enum
import json
import re
import types
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import eventbus
from eventbus._pattern._api import reference_match
from eventbus._pattern._reference import reference_matches
from eventbus._pattern._tables import build_ranges, lookup_range
from eventbus._pattern._wildcard import glob_matches, parse_wildcard
from tests.pattern.strategies import KEYS, events, events_for, patterns, scalars

# Under mutmut these long searches would run for every surviving mutant (minutes each under its
# instrumentation): they are skipped there, so a mutation score is a lower bound on what the whole
# suite kills (EVENTBUS_MUTMUT_ALL=1 brings them back for a re-check of particular mutants).
pytestmark = [pytest.mark.usefixtures("block_size"), pytest.mark.slow_under_mutmut]


def compiled_or_none(pattern: dict[str, Any]) -> eventbus.EventPattern | None:
    try:
        return eventbus.compile_pattern(pattern)
    except eventbus.InvalidEventPatternError:
        return None  # e.g. a generated wildcard set AWS calls too complex


@given(st.lists(patterns, min_size=1, max_size=8), st.data())
def test_index_agrees_with_reference_evaluator(pattern_list: list[dict[str, Any]], data: st.DataObject) -> None:
    compiled = [compiled_or_none(p) for p in pattern_list]
    # events shaped like the patterns (so that many match), and free-form ones
    event_list = [data.draw(events_for(p)) for p in pattern_list] + data.draw(st.lists(events, max_size=3))
    index = eventbus.RuleIndex()
    for i, c in enumerate(compiled):
        if c is not None:
            index.add(i, c)
    for event in event_list:
        expected = {i for i, c in enumerate(compiled) if c is not None and reference_match(c, event)}
        assert index.match(event) == expected
        assert index.match(json.dumps(event)) == expected


@given(st.lists(patterns, min_size=2, max_size=8), st.lists(events, min_size=1, max_size=4), st.randoms())
def test_insertion_order_does_not_matter(pattern_list: list[dict[str, Any]], event_list: list[dict[str, Any]],
                                         rnd: Any) -> None:
    compiled = [(i, c) for i, p in enumerate(pattern_list) if (c := compiled_or_none(p)) is not None]
    forward, shuffled = eventbus.RuleIndex(), eventbus.RuleIndex()
    for i, c in compiled:
        forward.add(i, c)
    mixed = list(compiled)
    rnd.shuffle(mixed)
    for i, c in mixed:
        shuffled.add(i, c)
    for event in event_list:
        assert forward.match(event) == shuffled.match(event)


@given(st.lists(patterns, min_size=1, max_size=8), st.lists(events, min_size=1, max_size=4),
       st.lists(st.integers(0, 7), max_size=8))
def test_removed_rules_never_match(pattern_list: list[dict[str, Any]], event_list: list[dict[str, Any]],
                                   removals: list[int]) -> None:
    index = eventbus.RuleIndex()
    compiled = {i: c for i, p in enumerate(pattern_list) if (c := compiled_or_none(p)) is not None}
    for i, c in compiled.items():
        index.add(i, c)
    removed = {i for i in removals if i in compiled}
    for i in removed:
        index.remove(i)
    assert len(index) == len(compiled) - len(removed)
    for event in event_list:
        got = index.match(event)
        assert not got & removed
        assert got == {i for i, c in compiled.items() if i not in removed and reference_match(c, event)}


@given(st.lists(patterns, min_size=1, max_size=4), st.lists(events, min_size=1, max_size=3))
def test_adding_an_id_again_replaces_its_pattern(pattern_list: list[dict[str, Any]],
                                                 event_list: list[dict[str, Any]]) -> None:
    index = eventbus.RuleIndex()
    last = None
    for p in pattern_list:
        c = compiled_or_none(p)
        if c is not None:
            index.add("same", c)
            last = c
    assert len(index) == (1 if last is not None else 0)
    for event in event_list:
        want = {"same"} if last is not None and reference_match(last, event) else set()
        assert index.match(event) == want


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "b", "$or", "prefix", "numeric", "anything-but", "exists", "wildcard", "cidr",
                         "suffix", "equals-ignore-case"]) | st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_parser_compiles_or_refuses_arbitrary_json(value: Any) -> None:
    for form in (value, json.dumps(value)):
        try:
            eventbus.compile_pattern(form)
        except eventbus.InvalidEventPatternError as exc:
            assert str(exc).startswith("Event pattern is not valid. Reason: ")


@given(st.text(max_size=40))
def test_parser_compiles_or_refuses_arbitrary_text(text: str) -> None:
    try:
        eventbus.compile_pattern(text)
    except eventbus.InvalidEventPatternError as exc:
        assert str(exc).startswith("Event pattern is not valid. Reason: ")


@given(st.text(alphabet="ab*", max_size=8), st.text(alphabet="ab", max_size=10))
def test_wildcard_matching_agrees_with_a_regex(pattern: str, value: str) -> None:
    assume("**" not in pattern)
    regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
    assert glob_matches(parse_wildcard(pattern), value) is bool(re.fullmatch(regex, value, re.DOTALL))


bounds = st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0])


@given(st.lists(st.tuples(st.none() | bounds, st.booleans(), st.none() | bounds, st.booleans(), st.integers(0, 5)),
                max_size=8),
       st.sampled_from([-3.0, -2.0, -1.5, -1.0, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]))
def test_range_table_agrees_with_direct_comparison(ranges: list[tuple[Any, bool, Any, bool, int]], x: float) -> None:
    # owners repeat: one sub-rule may hold several ranges at one path
    expected = 0
    for lo, lo_inc, hi, hi_inc, owner in ranges:
        above = lo is None or x > lo or (x == lo and lo_inc)
        below = hi is None or x < hi or (x == hi and hi_inc)
        if above and below:
            expected |= 1 << owner
    table = build_ranges([(lo, lo_inc, hi, hi_inc, 1 << owner) for lo, lo_inc, hi, hi_inc, owner in ranges])
    assert lookup_range(table, x) == expected


# Events as JSON text with repeated keys: objects are tuples of (key, value)
# pairs, written out by a writer of the test's own, and judged by the reference
# on the same pairs.
pair_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(tuple)),
    max_leaves=12,
)
pair_events = st.lists(st.tuples(st.sampled_from([*KEYS, "a.b"]), pair_values), max_size=5).map(tuple)


def as_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "{" + ", ".join(f"{json.dumps(key)}: {as_text(item)}" for key, item in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(as_text(item) for item in value) + "]"
    return json.dumps(value)


@given(st.lists(patterns, min_size=1, max_size=6), st.lists(pair_events, min_size=1, max_size=4))
def test_event_text_with_repeated_keys_agrees_with_the_reference(pattern_list: list[dict[str, Any]],
                                                                 event_list: list[Any]) -> None:
    compiled = {i: c for i, p in enumerate(pattern_list) if (c := compiled_or_none(p)) is not None}
    index = eventbus.RuleIndex(compiled)
    for event in event_list:
        expected = {i for i, c in compiled.items() if reference_matches(c.to_json(), event)}
        assert index.match(as_text(event)) == expected


@given(patterns, st.lists(events, min_size=1, max_size=3))
def test_the_mapping_and_text_forms_of_a_pattern_agree(pattern: dict[str, Any], event_list: list[Any]) -> None:
    mapping = compiled_or_none(pattern)
    try:
        text = eventbus.compile_pattern(json.dumps(pattern))
    except eventbus.InvalidEventPatternError:
        assert mapping is None
        return
    assert mapping == text
    for event in event_list:
        assert mapping.matches(event) is text.matches(event)


class Level(enum.IntEnum):
    ONE = 1
    TWO = 2


class Ratio(float):
    pass


class Name(str):
    pass


def exotic(value: Any, flip: bool = False) -> Any:
    """The same event in other Python containers: mappings that are not dicts,
    tuples for arrays, subclasses of int, float, str and bool."""
    if isinstance(value, dict):
        inner = {Name(k) if flip else k: exotic(v, not flip) for k, v in value.items()}
        return types.MappingProxyType(inner) if flip else collections.OrderedDict(inner)
    if isinstance(value, list):
        items = [exotic(v, not flip) for v in value]
        return tuple(items) if flip else items
    if value is True or value is False or value is None:
        return value
    if isinstance(value, int) and value in (1, 2):
        return Level(value)
    if isinstance(value, float):
        return Ratio(value)
    if isinstance(value, str) and flip:
        return Name(value)
    return value


@given(st.lists(patterns, min_size=1, max_size=6), st.data())
def test_other_python_containers_give_the_same_answers(pattern_list: list[dict[str, Any]],
                                                       data: st.DataObject) -> None:
    compiled = {i: c for i, p in enumerate(pattern_list) if (c := compiled_or_none(p)) is not None}
    index = eventbus.RuleIndex(compiled)
    event_list = [data.draw(events_for(p)) for p in pattern_list[:3]] + data.draw(st.lists(events, max_size=2))
    for event in event_list:
        expected = index.match(event)
        assert index.match(exotic(event)) == expected
        assert index.match(exotic(event, flip=True)) == expected

