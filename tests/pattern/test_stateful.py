"""A state machine over RuleIndex: rules added, replaced and removed while
matching goes on, every answer judged by the reference evaluator.

It runs with the real block size and with blocks of three sub-rules (the
``block_size`` fixture), so that a handful of rules already fills, opens,
compacts and drops blocks.  Events are shaped from the rules in the index
(and from rules that were removed), so answers change as rules come and go.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

import eventbus
from eventbus._pattern._api import reference_match
from tests.pattern.strategies import events, events_for, patterns

# Under mutmut these long searches would run for every surviving mutant (minutes each under its
# instrumentation): they are skipped there, so a mutation score is a lower bound on what the whole
# suite kills (EVENTBUS_MUTMUT_ALL=1 brings them back for a re-check of particular mutants).
pytestmark = [pytest.mark.usefixtures("block_size"), pytest.mark.slow_under_mutmut]

IDS = st.integers(0, 7)

# Small patterns that share paths and values, so that tables, caches and
# shapes are reused across rules: prefixes of one another, a field that is
# also reachable through a dotted key, and an array field.
OVERLAPPING: st.SearchStrategy[dict[str, Any]] = st.sampled_from([
    {"a": [{"prefix": "a"}]},
    {"a": [{"prefix": "ab"}]},
    {"a": [{"prefix": {"equals-ignore-case": "AB"}}]},
    {"a": [{"suffix": "b"}]},
    {"a": ["ab"]},
    {"a": [{"anything-but": "ab"}]},
    {"a": [{"numeric": [">", 1]}]},
    {"a": [{"wildcard": "a*"}]},
    {"items": {"qty": [5]}},
    {"items": {"qty": [{"numeric": [">=", 5]}], "sku": ["x"]}},
    {"items": {"qty": [{"exists": False}], "sku": ["x"]}},
])
OVERLAPPING_EVENTS: st.SearchStrategy[dict[str, Any]] = st.sampled_from([
    {"a": "ab"}, {"a": "a"}, {"a": "AB"}, {"a": "b"}, {"a": 2}, {"a": ["ab", "c"]},
    {"items": [{"qty": 5}, {"sku": "x"}]},
    {"items": [{"qty": 5, "sku": "x"}, {"qty": 1}]},
    {"items": [{"sku": "x"}, {"sku": "y"}]},
    {"items.qty": 5},  # a literal dotted key names the path items -> qty
    {"items": [{"sku": "x"}, {"sku": "y"}], "items.qty": 5},
    {"items": {"qty": 5}, "items.qty": 1},
])


class RuleIndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.index: eventbus.RuleIndex[int] = eventbus.RuleIndex()
        self.model: dict[int, eventbus.EventPattern] = {}
        self.seen: list[dict[str, Any]] = []  # every pattern ever added, to shape events from

    def _file(self, rule_id: int, pattern: dict[str, Any]) -> None:
        try:
            compiled = eventbus.compile_pattern(pattern)
        except eventbus.InvalidEventPatternError:
            with pytest.raises(eventbus.InvalidEventPatternError):
                self.index.add(rule_id, pattern)
            return  # refused: the index is unchanged (checked by the invariant)
        self.index.add(rule_id, pattern)
        self.model[rule_id] = compiled
        self.seen.append(pattern)

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        rule_id = data.draw(IDS, label="rule_id")
        pattern = data.draw(st.one_of(OVERLAPPING, OVERLAPPING, patterns), label="pattern")
        self._file(rule_id, pattern)  # an id already in the index is replaced

    @rule(data=st.data())
    def add_several(self, data: st.DataObject) -> None:
        batch = data.draw(st.dictionaries(IDS, OVERLAPPING, max_size=4))
        self.index.add_all(batch)
        for rule_id, pattern in batch.items():
            self.model[rule_id] = eventbus.compile_pattern(pattern)
            self.seen.append(pattern)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        rule_id = data.draw(st.sampled_from(sorted(self.model)))
        self.index.remove(rule_id)
        del self.model[rule_id]

    @rule(data=st.data())
    def remove_absent(self, data: st.DataObject) -> None:
        rule_id = data.draw(IDS, label="rule_id")
        if rule_id not in self.model:
            with pytest.raises(eventbus.ResourceNotFoundError):
                self.index.remove(rule_id)

    @rule(data=st.data())
    def match(self, data: st.DataObject) -> None:
        shaped = bool(self.seen) and data.draw(st.integers(0, 2)) > 0
        if shaped:
            source: dict[str, Any] = data.draw(st.sampled_from(self.seen))
            event = data.draw(st.one_of(events_for(source), OVERLAPPING_EVENTS))
        else:
            event = data.draw(st.one_of(events, OVERLAPPING_EVENTS))
        expected = {rule_id for rule_id, pattern in self.model.items() if reference_match(pattern, event)}
        assert self.index.match(event) == expected, event
        assert self.index.match(json.dumps(event)) == expected, event

    @invariant()
    def same_rules(self) -> None:
        assert set(self.index) == set(self.model)
        assert len(self.index) == len(self.model)
        for rule_id, pattern in self.model.items():
            assert self.index.pattern(rule_id) == pattern


def test_rule_index_against_the_reference_as_rules_change() -> None:
    run_state_machine_as_test(RuleIndexMachine, settings=settings(stateful_step_count=60))


def test_a_new_rule_is_seen_for_a_value_matched_before() -> None:
    """The per-value caches: a value matched before a rule was added must be
    looked up again after it (the case the state machine must also catch)."""
    index = eventbus.RuleIndex()
    index.add("a", {"a": [{"prefix": "a"}]})
    assert index.match({"a": "ab"}) == {"a"}
    index.add("ab", {"a": [{"prefix": "ab"}]})
    assert index.match({"a": "ab"}) == {"a", "ab"}
    index.add("eic", {"a": [{"prefix": {"equals-ignore-case": "AB"}}]})
    assert index.match({"a": "ab"}) == {"a", "ab", "eic"}
    index.remove("a")
    assert index.match({"a": "ab"}) == {"ab", "eic"}
