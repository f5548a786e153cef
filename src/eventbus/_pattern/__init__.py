"""The matcher core: EventBridge's event-pattern language.

Imports only the standard library and ``eventbus._exceptions``: no clock,
threads for matching, asyncio or bus code (a test walks the imports).
"""

from __future__ import annotations

from ._api import (
    EventPattern,
    anything_but,
    cidr,
    compile_filter_pattern,
    compile_pattern,
    equals_ignore_case,
    exact,
    exists,
    numeric,
    prefix,
    reference_match,
    suffix,
    test_event_pattern,
    wildcard,
)
from ._explain import Explanation, FieldCheck, PatternBranch, explain
from ._index import RuleIndex
from ._matchers import Matcher, MatchType

__all__ = [
    "EventPattern",
    "Explanation",
    "FieldCheck",
    "MatchType",
    "Matcher",
    "PatternBranch",
    "RuleIndex",
    "anything_but",
    "cidr",
    "compile_filter_pattern",
    "compile_pattern",
    "equals_ignore_case",
    "exact",
    "exists",
    "explain",
    "numeric",
    "prefix",
    "reference_match",
    "suffix",
    "test_event_pattern",
    "wildcard",
]
