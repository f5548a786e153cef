"""Every AWS-verified pattern and filter vector: outcome and error text."""

from __future__ import annotations

import json
from typing import Any

import pytest

import eventbus
from eventbus._pattern._api import reference_match
from tests.conftest import load_vectors

PATTERNS = load_vectors("patterns.jsonl")
FILTERS = load_vectors("esm_sqs_filters.jsonl")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def test_the_copied_vectors_are_all_there() -> None:
    assert len(PATTERNS) == 182
    assert len(FILTERS) == 22


@pytest.mark.parametrize("case", PATTERNS, ids=[c["id"] for c in PATTERNS])
def test_pattern_vector_gets_aws_answer(case: dict[str, Any]) -> None:
    pattern, event = as_text(case["pattern"]), as_text(case["event"])
    if case["expected"] == "invalid":
        expected_error = (eventbus.ValidationError if case.get("invalid_part") == "event"
                          else eventbus.InvalidEventPatternError)
        with pytest.raises(expected_error) as info:
            eventbus.test_event_pattern(event, pattern)
        assert str(info.value) == case["aws_error"]
        if case.get("invalid_part") == "event":
            assert not isinstance(info.value, eventbus.InvalidEventPatternError)
        return
    want = case["expected"] == "match"
    assert eventbus.test_event_pattern(event, pattern) is want
    # the reference evaluator and a one-rule index agree with AWS too
    compiled = eventbus.compile_pattern(pattern)
    parsed = json.loads(event)
    assert reference_match(compiled, parsed) is want
    index = eventbus.RuleIndex()
    index.add("rule", pattern)
    assert index.match(event) == ({"rule"} if want else set())


@pytest.mark.parametrize("case", FILTERS, ids=[c["id"] for c in FILTERS])
def test_sqs_filter_vector_gets_aws_answer(case: dict[str, Any]) -> None:
    if case["expected"] == "invalid":
        with pytest.raises(eventbus.InvalidFilterPatternError) as raised:
            eventbus.compile_filter_pattern(as_text(case["pattern"]))
        assert str(raised.value) == case["aws_error"]  # Invalid filter pattern definition.
        assert raised.value.reason  # what is wrong, which AWS does not say
        assert isinstance(raised.value, eventbus.InvalidEventPatternError)
        with pytest.raises(eventbus.InvalidEventPatternError, match="^Event pattern is not valid. Reason: "):
            eventbus.compile_pattern(as_text(case["pattern"]))  # the same pattern as an event pattern
        return
    pattern = eventbus.compile_filter_pattern(as_text(case["pattern"]))
    try:
        body = json.loads(case["sqs_body"])
    except ValueError:
        body = case["sqs_body"]
    assert pattern.matches({"body": body}) is (case["expected"] == "match")


def test_all_vectors_in_one_index_agree_with_one_rule_each() -> None:
    """The valid patterns compiled together answer as they do alone."""
    valid = [c for c in PATTERNS if c["expected"] != "invalid"]
    index = eventbus.RuleIndex()
    for case in valid:
        index.add(case["id"], as_text(case["pattern"]))
    for case in valid:
        event = json.loads(as_text(case["event"]))
        together = index.match(event)
        alone = {c["id"] for c in valid if eventbus.compile_pattern(as_text(c["pattern"])).matches(event)}
        assert together == alone
        assert (case["id"] in together) is (case["expected"] == "match")
