"""Why an event did or did not match a pattern: ``explain(pattern, event)``.

The answer is read off the plain reference evaluator (``_reference``): the
pattern in disjunctive form (one *branch* per combination of ``$or``
alternatives), the event flattened into leaf values by dotted path, each
with the array elements it came from.  For each branch and each of its
fields, the explanation lists what the pattern wants there, every value the
event holds there (and in which array elements), and which of them the
pattern accepts.  A branch matches when the reference's array-consistent
search finds one value per field from the same element of every array they
share; when every field has an accepted value and the branch still fails,
the explanation says so and names the elements each field matched in.

The verdict is the reference's, whose agreement with the compiled index is
the matcher's central property test; ``explain``'s own property test checks
its verdict against ``EventPattern.matches``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import ValidationError
from ._api import PatternSource, compile_pattern
from ._json import EVENT_NOT_VALID, parse_event_text
from ._reference import accepts, allows_absence, expand, flatten_event, is_big_number, rule_matches

__all__ = ["Explanation", "FieldCheck", "PatternBranch", "explain"]

# A value found at a path: (the value, the indexes of the array elements it sits in, outermost first)
Found = tuple[Any, tuple[int, ...]]


def _show(value: Any) -> str:
    """A value as JSON text (a number read from event text keeps its digits)."""
    if is_big_number(value):
        return str(value.text)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _where(indexes: tuple[int, ...]) -> str:
    return "".join(f"[{k}]" for k in indexes)


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One field of one branch: what the pattern wants at ``path``, what the event
    holds there (``found``: each value with the array elements it sits in;
    empty when the event has no such field) and which of those values the
    pattern accepts.  ``ok``: the field is satisfied on its own."""

    path: str
    expected: tuple[Any, ...]
    found: tuple[Found, ...]
    accepted: tuple[Found, ...]
    ok: bool

    def describe(self) -> str:
        wants = "[" + ", ".join(_show(entry) for entry in self.expected) + "]"
        if not self.found:
            held = "the event has no such field"
        else:
            held = "the event holds " + ", ".join(
                _show(value) + (f" (element {_where(indexes)})" if indexes else "") for value, indexes in self.found)
        mark = "ok" if self.ok else "FAILED"
        return f"{self.path}: wants {wants}; {held}: {mark}"


@dataclass(frozen=True, slots=True)
class PatternBranch:
    """One alternative of the pattern (its ``$or`` choices made): its fields'
    checks, whether it matched, and, when every field was satisfied on its
    own yet the branch failed, ``reason`` (the values sit in different
    elements of an array they share)."""

    number: int
    checks: tuple[FieldCheck, ...]
    matched: bool
    reason: str | None = None

    @property
    def failures(self) -> tuple[FieldCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)


@dataclass(frozen=True, slots=True)
class Explanation:
    """``explain``'s answer: ``matched`` (the same verdict as ``matches``), the
    ``branches`` (one unless the pattern has ``$or``), ``branch`` (the first
    that matched) and ``failures`` (every failed field check, of every
    branch).  ``describe()`` says it in lines of text; ``bool(explanation)``
    is ``matched``."""

    matched: bool
    branches: tuple[PatternBranch, ...]

    def __bool__(self) -> bool:
        return self.matched

    @property
    def branch(self) -> PatternBranch | None:
        return next((branch for branch in self.branches if branch.matched), None)

    @property
    def failures(self) -> tuple[FieldCheck, ...]:
        return tuple(check for branch in self.branches for check in branch.failures)

    def describe(self) -> str:
        many = len(self.branches) > 1
        lines: list[str] = []
        if self.matched:
            branch = self.branch
            assert branch is not None
            lines.append("MATCH" + (f": branch {branch.number + 1} of {len(self.branches)} ($or)" if many else ""))
            lines.extend(f"  {check.describe()}" for check in branch.checks)
            return "\n".join(lines)
        lines.append("NO MATCH" + (f": none of the {len(self.branches)} branches ($or) matched" if many else ""))
        for branch in self.branches:
            indent = "  "
            if many:
                lines.append(f"  branch {branch.number + 1}:")
                indent = "    "
            shown = branch.failures or branch.checks
            lines.extend(f"{indent}{check.describe()}" for check in shown)
            if branch.reason is not None:
                lines.append(f"{indent}{branch.reason}")
        return "\n".join(lines)


def _branch(number: int, rule: dict[str, list[Any]], fields: Mapping[str, list[Any]]) -> PatternBranch:
    matched = rule_matches(rule, fields)
    checks = []
    for path, entries in rule.items():
        found = tuple((value, tuple(index for _, index in trail)) for value, trail in fields.get(path, []))
        accepted = tuple(item for item in found if any(accepts(entry, item[0]) for entry in entries))
        # a field that may be absent is satisfied when it is, or (with arrays) when the branch matched
        ok = bool(accepted) or (allows_absence(entries) and (not found or matched))
        checks.append(FieldCheck(path, tuple(entries), found, accepted, ok))
    reason = None
    if not matched and all(check.ok for check in checks):
        where = "; ".join(f"{check.path} in element " + ", ".join(_where(indexes) or "[]" for _, indexes in
                                                                     check.accepted)
                          for check in checks if check.accepted)
        reason = ("every field has a value the pattern accepts, but not in one element of the array(s) they "
                  f"share: {where}")
    return PatternBranch(number, tuple(checks), matched, reason)


def explain(pattern: PatternSource, event: Mapping[str, Any] | str | bytes | bytearray | memoryview) -> Explanation:
    """Why ``event`` (a mapping, or JSON text) does or does not match ``pattern``
    (JSON text or a mapping, checked as AWS checks it): the fields and
    operators that failed and what the event held there (per array element),
    or which branch matched."""
    compiled = compile_pattern(pattern)
    if isinstance(event, (str, bytes, bytearray, memoryview)):
        data: Any = parse_event_text(event)
    elif isinstance(event, Mapping):
        data = event
    else:
        raise ValidationError(EVENT_NOT_VALID)
    fields = flatten_event(data)
    branches = tuple(_branch(number, rule, fields) for number, rule in enumerate(expand(compiled.to_json())))
    return Explanation(any(branch.matched for branch in branches), branches)
