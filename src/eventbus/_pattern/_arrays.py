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


def recheck_arrays(multi: Mapping[str, int], rules: Sequence[SubRule | None], event: Any,
                   arrays: list[str], matched: int, present: Mapping[str, list[Any]], pairs: bool) -> int:
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
        quick = _one_array_check(event, arrays, part, present, pairs)
        if quick is None:  # not the simple shape: the general search
            if trails is None:
                trails = flatten_with_trails(event, wanted, pairs)
            quick = _consistent_match(part, trails)
        if not quick:
            matched ^= low
    return matched


def _field(node: Any, key: str, pairs: bool) -> Any:
    """The value of ``key`` in an object (a dict, or a tuple of pairs), ``_MISSING``
    when absent, ``_REPEATED`` when a tuple of pairs has it more than once."""
    if not pairs:
        return node.get(key, _MISSING)
    found = _MISSING
    for name, value in node:
        if name == key:
            if found is not _MISSING:
                return _REPEATED
            found = value
    return found


def _one_array_check(event: Any, arrays: list[str], part: SubRule,
                     present: Mapping[str, list[Any]], pairs: bool) -> bool | None:
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
    obj = tuple if pairs else dict  # what an object is in this event
    for key in array_path.split("."):
        if type(node) is not obj:
            return None  # dotted keys or other shapes: the general search
        node = _field(node, key, pairs)
        if node is _MISSING or node is _REPEATED:
            return None
    if type(node) is not list:
        return None
    wanted = []
    for path, matchers in part.items():
        absent_ok = any(isinstance(m, Exists) and not m.value for m in matchers)
        if path not in present and absent_ok:
            continue  # absent from the whole event, and allowed to be
        wanted.append((path, path[len(head):], matchers, absent_ok))
    # Count the values met in the array: if a path also has values elsewhere
    # (an event key with dots in it can alias the same path), give up.
    seen = {path: 0 for path, _, _, _ in wanted}
    found = by_absence_only = False
    for element in node:
        if type(element) is not obj:
            if type(element) in LEAF_KINDS:
                continue
            return None  # nested arrays: the general search
        # An element fits when each path has a value here that satisfies it, or
        # has no value here and allows absence (exists: false is judged per
        # element, against the element the other fields chose).
        fits = True
        by_value = False
        for path, key, matchers, absent_ok in wanted:
            value = _field(element, key, pairs)
            if value is _REPEATED:
                return None
            if value is _MISSING or (type(value) is list and not value):
                fits = fits and absent_ok
                continue
            kind = type(value)
            if kind is list:
                if any(type(v) not in LEAF_KINDS for v in value):
                    return None
                seen[path] += len(value)
                hit = any(m.matches(v) for v in value for m in matchers)
            elif kind is obj:
                hit = False
            else:
                seen[path] += 1
                hit = any(m.matches(value) for m in matchers)
            fits = fits and hit
            by_value = by_value or hit
        if fits:
            if by_value:
                found = True
            else:
                by_absence_only = True
    if any(count != len(present.get(path, ())) for path, count in seen.items()):
        return None
    if not found and by_absence_only:
        # No field chose an element: then any value of an absent-ok path rules
        # the match out, wherever it sits (AWS's matcher checks absence against
        # the elements the other fields chose, and none were).
        found = not any(present.get(path) for path, _, _, absent_ok in wanted if absent_ok)
    return found


_MISSING = object()
_REPEATED = object()


def _consistent_match(rule: SubRule, fields: Mapping[str, list[tuple[Any, Trail]]]) -> bool:
    """Whether values satisfying each path of ``rule`` can all come from the
    same element of every array they share."""
    options: list[list[dict[int, int]]] = []
    absent: list[tuple[str, list[dict[int, int]], set[tuple[tuple[int, int], ...]]]] = []
    for path, matchers in rule.items():
        present = fields.get(path)
        absent_ok = any(isinstance(m, Exists) and not m.value for m in matchers)
        if not present:
            if absent_ok:
                continue
            return False
        trails = {trail for value, trail in present if any(m.matches(value) for m in matchers)}
        if absent_ok:  # present somewhere: absence is judged against the chosen elements
            absent.append((path, [dict(t) for t in trails], {trail for _, trail in present}))
            continue
        if not trails:
            return False
        options.append([dict(trail) for trail in trails])
    if absent:
        # grouped like the others below; an absent-ok path joins the groups of
        # the arrays its values sit in
        arrays_of = [{a for t in trails for a in t} for trails in options]
        arrays_of += [{a for t in values for a, _ in t} for _, _, values in absent]
        for members in _components(arrays_of):
            some = [options[i] for i in members if i < len(options)]
            gone = [absent[i - len(options)] for i in members if i >= len(options)]
            if not _search_with_absence(some, gone):
                return False
        return True
    # Conditions that share no array cannot clash: each group is solved on its
    # own, so unrelated arrays never multiply the search.
    return all(_solve(group) for group in _groups(options))


def _groups(options: list[list[dict[int, int]]]) -> list[list[list[dict[int, int]]]]:
    """The conditions, grouped so that conditions in different groups share no array."""
    members = _components([{a for t in trails for a in t} for trails in options])
    return [[options[i] for i in group] for group in members]


def _components(arrays_of: list[set[int]]) -> list[list[int]]:
    """Indexes of the items, grouped so that items in different groups share no array."""
    owner: dict[int, int] = {}  # array -> the first item seen using it
    parent = list(range(len(arrays_of)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, arrays in enumerate(arrays_of):
        for array in arrays:
            j = owner.setdefault(array, i)
            a, b = root(i), root(j)
            if a != b:
                parent[b] = a
    groups: dict[int, list[int]] = {}
    for i in range(len(arrays_of)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _agrees(trail: dict[int, int], chosen: dict[int, int]) -> bool:
    return all(chosen.get(array, position) == position for array, position in trail.items())


def _search_with_absence(options: list[list[dict[int, int]]],
                         absent: list[tuple[str, list[dict[int, int]], set[tuple[tuple[int, int], ...]]]]) -> bool:
    """The general case with exists: false paths that have values somewhere: pick a
    trail per path (or absence, for the absent-ok ones) so that the picks agree,
    and no value of a path left absent agrees with them.  A plain search on an
    explicit stack (rare: arrays of objects with absent-ok fields present)."""
    # entries: (next path index, the element chosen in each array, paths left absent)
    choices = [[(t, False) for t in trails] for trails in options]
    choices += [[(t, False) for t in trails] + [({}, True)] for _, trails, _ in absent]
    absent_values = [[dict(t) for t in values] for _, _, values in absent]
    todo: list[tuple[int, dict[int, int], tuple[int, ...]]] = [(0, {}, ())]
    first_absent = len(options)
    while todo:
        i, chosen, left = todo.pop()
        if i == len(choices):
            if all(not _agrees(v, chosen) for k in left for v in absent_values[k - first_absent]):
                return True
            continue
        for trail, leave in choices[i]:
            if leave:
                todo.append((i + 1, chosen, (*left, i)))
            elif _agrees(trail, chosen):
                todo.append((i + 1, {**chosen, **trail}, left))
    return False


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
