"""Wildcard values: parsing (with AWS's errors), matching, complexity.

A wildcard value is a list of literal segments separated by ``*``.  Matching
never backtracks: the first segment must be a prefix, the last a suffix, and
each middle segment is found greedily, leftmost first, with ``str.find``.
For ``*``-only globs the leftmost placement of each segment is always a
valid choice (any later match of the remaining segments also fits after an
earlier placement), so one left-to-right pass decides the match: time is
linear in the value's length for a given pattern.
"""

from __future__ import annotations

__all__ = [
    "TOO_COMPLEX",
    "WildcardSyntaxError",
    "glob_matches",
    "parse_wildcard",
    "wildcard_complexity",
]

TOO_COMPLEX = (
    "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences "
    "after a wildcard character"
)

# The largest number of wildcard states a worst-case value may keep alive
# at once, per field, before AWS refuses the rule.  AWS does not publish its
# threshold; this one keeps every AWS-verified case on the right side
# ("*:*:*:*:*:event-bus/*" scores 12 and is refused, a repeated
# "/dir/dir/..." after one '*' scores 8 and is accepted).
MAX_COMPLEXITY = 10
_MAX_EXPLORED = 5000


class WildcardSyntaxError(ValueError):
    """A wildcard value AWS refuses; the message is AWS's."""


def parse_wildcard(text: str) -> tuple[str, ...]:
    """Split a wildcard value into its literal segments.

    Positions in errors count UTF-8 bytes from AWS's quoted form of the value
    (one leading ``"``), as AWS reports them.
    """
    segments: list[str] = []
    current: list[str] = []
    pos = 1  # the opening quote AWS counts
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "*":
            if i + 1 < n and text[i + 1] == "*":
                raise WildcardSyntaxError(f"Consecutive wildcard characters at pos {pos}")
            segments.append("".join(current))
            current = []
        elif ch == "\\":
            if i + 1 < n and text[i + 1] in "*\\":
                current.append(text[i + 1])
                i += 2
                pos += 2
                continue
            raise WildcardSyntaxError(f"Invalid escape character at pos {pos}")
        else:
            current.append(ch)
        pos += len(ch.encode("utf-8", "surrogatepass"))
        i += 1
    segments.append("".join(current))
    return tuple(segments)


def glob_matches(segments: tuple[str, ...], value: str) -> bool:
    """Whether ``value`` matches the wildcard made of ``segments`` (hot path)."""
    if len(segments) == 1:
        return value == segments[0]
    first = segments[0]
    last = segments[-1]
    end = len(value) - len(last)
    if end < len(first) or not value.startswith(first) or not value.endswith(last):
        return False
    pos = len(first)
    for middle in segments[1:-1]:
        found = value.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True


def wildcard_complexity(patterns: list[tuple[str, ...]]) -> int:
    """How many wildcard positions one worst-case value can keep alive at once.

    The patterns of one field run as one nondeterministic automaton (as in
    AWS's matcher); this explores its reachable state sets and returns the
    largest one, or ``MAX_COMPLEXITY + 1`` when exploring would cost too much.
    A position stands for "matched the pattern up to here"; a position on a
    ``*`` also stands for the one after it (the star may match nothing).
    """
    # Flatten each pattern to items: a character, or None for '*'.
    items: list[list[str | None]] = []
    for segments in patterns:
        row: list[str | None] = []
        for k, seg in enumerate(segments):
            if k:
                row.append(None)
            row.extend(seg)
        items.append(row)

    def closure(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        stack = list(states)
        while stack:
            p, i = stack.pop()
            row = items[p]
            if i < len(row) and row[i] is None and (p, i + 1) not in states:
                states.add((p, i + 1))
                stack.append((p, i + 1))
        return frozenset(states)

    start = closure({(p, 0) for p in range(len(items))})
    seen = {start}
    todo = [start]
    best = 0
    while todo:
        states = todo.pop()
        alive = sum(1 for p, i in states if i < len(items[p]))
        if alive > best:
            best = alive
            if best > MAX_COMPLEXITY:
                return best
        # Only the characters the live positions expect lead anywhere new; any
        # other character leads where "\x00" (a character no pattern names) does.
        expected = {items[p][i] for p, i in states if i < len(items[p])}
        expected.discard(None)
        for ch in (*expected, "\x00"):
            nxt: set[tuple[int, int]] = set()
            for p, i in states:
                row = items[p]
                if i < len(row):
                    item = row[i]
                    if item is None:
                        nxt.add((p, i))
                    elif item == ch:
                        nxt.add((p, i + 1))
            if not nxt:
                continue
            frozen = closure(nxt)
            if frozen not in seen:
                seen.add(frozen)
                todo.append(frozen)
                if len(seen) > _MAX_EXPLORED:
                    return MAX_COMPLEXITY + 1
    return best
