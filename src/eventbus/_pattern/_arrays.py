"""Arrays of objects: AWS's array-consistent matching.

The bit masks cannot see which element of an array a value came from.  The
sub-rules that name two or more paths under an array holding two or more
objects (or arrays) are re-checked here, on just the part of the rule under
those arrays: is there one choice of elements that satisfies every path?
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._flatten import LEAF_KINDS, Trail, flatten_with_trails
from ._matchers import Exists
from ._parse import SubRule

__all__ = ["recheck_arrays"]


def recheck_arrays(multi: Mapping[str, int], rules: Sequence[SubRule | None], event: Mapping[str, Any],
                   arrays: list[str], matched: int, present: Mapping[str, list[Any]]) -> int:
    """Drop the matches that combine values from different elements of one array."""
    at_risk = 0
    for path in arrays:
        at_risk |= multi.get(path, 0)
    risky = matched & at_risk
    if not risky:
        return matched
    # Only the paths at or under those arrays can clash: every other value sits in
    # no array with two elements, so it fits any choice, and the bit masks
    # have already checked it.  Re-check just the part under the arrays.
    heads = tuple(path + "." for path in arrays)
    at = set(arrays)
    checks: list[tuple[int, SubRule]] = []
    wanted: set[str] = set()
    while risky:
        low = risky & -risky
        rule = rules[low.bit_length() - 1]
        risky ^= low
        if rule is None:
            matched ^= low
            continue
        part = {path: m for path, m in rule.items() if path in at or path.startswith(heads)}
        checks.append((low, part))
        for path in part:
            parts = path.split(".")
            wanted.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
    trails: dict[str, list[tuple[Any, Trail]]] | None = None
    for low, part in checks:
        quick = _one_array_check(event, arrays, part, present)
        if quick is None:  # not the simple shape: the general search
            if trails is None:
                trails = flatten_with_trails(event, wanted)
            quick = _consistent_match(part, trails)
        if not quick:
            matched ^= low
    return matched


def _one_array_check(event: Mapping[str, Any], arrays: list[str], part: SubRule,
                     present: Mapping[str, list[Any]]) -> bool | None:
    """The common case, decided directly: every path of ``part`` is a field of
    the objects of one array (``items.sku``, ``items.qty``), reached through
    plain objects.  Is there one element whose fields satisfy them all?
    ``None`` when the shape is not that simple."""
    paths = list(part)
    for array_path in arrays:
        head = array_path + "."
        if all(p.startswith(head) and "." not in p[len(head):] for p in paths):
            break
    else:
        return None
    node: Any = event
    for key in array_path.split("."):
        if type(node) is not dict or key not in node:
            return None  # dotted keys or other shapes: the general search
        node = node[key]
    if type(node) is not list:
        return None
    wanted = []
    for path, matchers in part.items():
        if path not in present and any(isinstance(m, Exists) and not m.value for m in matchers):
            continue  # absent from the whole event, and allowed to be
        wanted.append((path, path[len(head):], matchers))
    # Count the values met in the array: if a path also has values elsewhere
    # (an event key with dots in it can alias the same path), give up.
    seen = {path: 0 for path, _, _ in wanted}
    found = False
    for element in node:
        if type(element) is not dict:
            if type(element) in LEAF_KINDS:
                continue
            return None  # nested arrays: the general search
        fits = True
        for path, key, matchers in wanted:
            value = element.get(key, _MISSING)
            if value is _MISSING:
                fits = False
                continue
            kind = type(value)
            if kind is list:
                if any(type(v) not in LEAF_KINDS for v in value):
                    return None
                seen[path] += len(value)
                if not any(m.matches(v) for v in value for m in matchers):
                    fits = False
            elif kind is dict:
                fits = False
            else:
                seen[path] += 1
                if not any(m.matches(value) for m in matchers):
                    fits = False
        found = found or fits
    if any(count != len(present.get(path, ())) for path, count in seen.items()):
        return None
    return found


_MISSING = object()


def _consistent_match(rule: SubRule, fields: Mapping[str, list[tuple[Any, Trail]]]) -> bool:
    """Whether values satisfying each path of ``rule`` can all come from the
    same element of every array they share."""
    options: list[list[dict[int, int]]] = []
    for path, matchers in rule.items():
        present = fields.get(path)
        if not present:
            if any(isinstance(m, Exists) and not m.value for m in matchers):
                continue
            return False
        trails = {trail for value, trail in present if any(m.matches(value) for m in matchers)}
        if not trails:
            return False
        options.append([dict(trail) for trail in trails])
    return _solve(options)


def _solve(options: list[list[dict[int, int]]]) -> bool:
    """Pick one trail per condition so that no array gets two positions.

    Branch on an array that two conditions' trails mention: every choice
    either avoids it or puts all its users in one element.  Trails are split
    by their position in that array in one pass (no pairwise comparisons), the
    array is dropped from them, and equal trails collapse, so values in
    sibling arrays that no other condition touches cost nothing.  The branches
    wait on an explicit stack, so deep nesting cannot exhaust Python's.
    """
    todo = [options]
    while todo:
        options = todo.pop()
        if any(not o for o in options):
            continue
        users: dict[int, int] = {}
        for trails in options:
            for array in {a for trail in trails for a in trail}:
                users[array] = users.get(array, 0) + 1
        shared = [array for array, count in users.items() if count >= 2]
        if not shared:
            return True
        array = min(shared)  # the outermost: arrays are numbered as the walk meets them
        buckets: list[dict[int | None, list[dict[int, int]]]] = []
        positions: set[int] = set()
        for trails in options:
            split: dict[int | None, list[dict[int, int]]] = {}
            for trail in trails:
                position = trail.get(array)
                rest = {a: p for a, p in trail.items() if a != array} if position is not None else trail
                split.setdefault(position, []).append(rest)
                if position is not None:
                    positions.add(position)
            buckets.append(split)
        for position in sorted(positions, reverse=True):  # the first position is tried first
            sub = []
            for split in buckets:
                merged = split.get(position, []) + split.get(None, [])
                unique = {tuple(sorted(t.items())): t for t in merged}
                sub.append(list(unique.values()))
            todo.append(sub)
    return False
