"""``explain(pattern, event)``: what failed and what the event held, or which branch matched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventbus
from eventbus import explain
from tests.pattern.strategies import events, events_for, patterns

EVENT = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification",
         "detail": {"state": "stopped", "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}]}}


def test_a_failed_field_names_what_the_pattern_wants_and_what_the_event_holds() -> None:
    answer = explain({"source": ["aws.ec2"], "detail": {"state": ["running", {"prefix": "pend"}]}}, EVENT)
    assert not answer and answer.matched is False
    [failure] = answer.failures
    assert (failure.path, failure.expected, failure.found, failure.accepted) == (
        "detail.state", ("running", {"prefix": "pend"}), (("stopped", ()),), ())
    assert answer.describe() == (
        'NO MATCH\n  detail.state: wants ["running", {"prefix": "pend"}]; the event holds "stopped": FAILED')


def test_a_missing_field_is_said_to_be_missing() -> None:
    answer = explain({"detail": {"zone": [{"exists": True}]}}, EVENT)
    assert answer.describe() == 'NO MATCH\n  detail.zone: wants [{"exists": true}]; the event has no such field: FAILED'


def test_arrays_of_objects_are_explained_per_element() -> None:
    answer = explain({"detail": {"items": {"sku": ["a"], "qty": [{"numeric": [">", 3]}]}}}, EVENT)
    assert not answer.matched
    [branch] = answer.branches
    assert branch.failures == ()  # each field, on its own, is satisfied ...
    assert branch.reason == ("every field has a value the pattern accepts, but not in one element of the array(s) "
                             "they share: detail.items.sku in element [0]; detail.items.qty in element [1]")
    assert [check.found for check in branch.checks] == [(("a", (0,)), ("b", (1,))), ((1, (0,)), (5, (1,)))]
    assert 'the event holds "a" (element [0]), "b" (element [1]): ok' in answer.describe()
    assert explain({"detail": {"items": {"sku": ["b"], "qty": [{"numeric": [">", 3]}]}}}, EVENT).matched


def test_a_match_names_the_branch_that_matched() -> None:
    answer = explain({"$or": [{"detail": {"state": ["running"]}}, {"detail": {"items": {"sku": ["b"]}}}]}, EVENT)
    assert answer and answer.branch is not None and answer.branch.number == 1
    assert answer.describe() == ('MATCH: branch 2 of 2 ($or)\n  detail.items.sku: wants ["b"]; the event holds '
                                 '"a" (element [0]), "b" (element [1]): ok')
    none = explain({"$or": [{"detail": {"state": ["running"]}}, {"source": ["aws.s3"]}]}, EVENT)
    assert none.describe().splitlines() == [
        "NO MATCH: none of the 2 branches ($or) matched",
        "  branch 1:",
        '    detail.state: wants ["running"]; the event holds "stopped": FAILED',
        "  branch 2:",
        '    source: wants ["aws.s3"]; the event holds "aws.ec2": FAILED']


def test_event_text_keeps_its_numbers_as_written() -> None:
    answer = explain({"detail": {"n": [5]}}, '{"detail": {"n": 5.000000000000000000001}}')
    assert answer.describe() == 'NO MATCH\n  detail.n: wants [5]; the event holds 5.000000000000000000001: FAILED'


@pytest.mark.parametrize(("pattern", "event", "error", "text"), [
    ({"source": "aws.ec2"}, EVENT, eventbus.InvalidEventPatternError, "Event pattern is not valid. Reason: "),
    ({"source": ["x"]}, "[1]", eventbus.ValidationError, "Parameter Event is not valid."),
    ({"source": ["x"]}, 5, eventbus.ValidationError, "Parameter Event is not valid."),
])
def test_bad_input_is_refused_in_aws_words(pattern: Any, event: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match="^" + text.replace(".", r"\.")):
        explain(pattern, event)


@given(patterns, st.data())
def test_the_verdict_always_agrees_with_matches(pattern: dict[str, Any], data: st.DataObject) -> None:
    try:
        compiled = eventbus.compile_pattern(pattern)
    except eventbus.InvalidEventPatternError:
        return
    for event in [data.draw(events_for(pattern)), data.draw(events)]:
        for form in (event, json.dumps(event)):
            answer = explain(compiled, form)
            assert answer.matched is compiled.matches(form)
            if answer.matched:
                assert answer.branch is not None and all(check.ok for check in answer.branch.checks)
            else:  # every branch that failed says why: a failed field, or the arrays
                assert all(branch.failures or branch.reason for branch in answer.branches)
