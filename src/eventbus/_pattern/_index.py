"""RuleIndex: many patterns compiled into one structure, matched in one pass.

How it works (details in ``docs/internals.md``):

* Every sub-rule of every pattern gets one bit.  For each field path that
  any rule names, a ``_PathIndex`` answers "which sub-rules does this value
  satisfy here?" as an integer bit mask, mostly by dictionary look-ups
  (exact values, prefixes by length, suffixes by length, lower-cased
  values, anything-but exclusions); only wildcards, numeric ranges, CIDR
  blocks and a few anything-but forms are tested one by one, and only for
  sub-rules still alive.
* Matching an event flattens just the parts of it that some rule names,
  then walks the paths: a sub-rule fails at a path when the path is absent
  (unless it allows absence) or when none of the values there satisfy it.
  The matches are the sub-rules that failed nowhere.  The cost depends on the
  event and on the number of distinct paths, hardly on the number of rules:
  big-integer operations on a few hundred bits cost about the same as on
  ten.
* Arrays of objects: the masks cannot see which array element a value came
  from.  Sub-rules that name two or more paths under an array of objects
  that has at least two elements are re-checked with the reference
  evaluator, which enforces AWS's array-consistent matching.

Concurrency: one writer at a time (callers that write from several threads
serialise their writes; the bus layer does), any number of readers, which
never lock.  A reader
takes the current ``_Snapshot`` once.  Adding a rule fills in its bits first
and publishes them last (``live`` is replaced in one assignment); removing
clears ``live`` first.  Bits are never reused inside a snapshot; when
garbage outweighs live bits the writer builds a fresh snapshot and swaps it
in.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._exceptions import ResourceNotFoundError, ValidationError
from ._json import EVENT_NOT_VALID, reject_constant
from ._matchers import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    Cidr,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Matcher,
    Numeric,
    Prefix,
    Suffix,
    Wildcard,
    as_double,
    fold,
    parse_ip,
)
from ._parse import SubRule
from ._wildcard import glob_matches

# A rule id: any hashable.  ``RuleIndex[str]`` keeps str ids (``match`` returns
# ``set[str]`` to a type checker); a bare ``RuleIndex()`` takes any hashable.
if TYPE_CHECKING:  # the default (PEP 696) matters to type checkers only
    from typing_extensions import TypeVar as _TypeVar

    K = _TypeVar("K", bound=Hashable, default=Hashable)
else:
    K = TypeVar("K", bound=Hashable)

__all__ = ["RuleIndex", "parse_event_json"]

_ONES = re.compile("1")
_LEAF_TYPES = (str, int, float, bool, type(None))


def parse_event_json(text: str | bytes | bytearray) -> dict[str, Any]:
    """An event given as JSON text: must be a JSON object."""
    try:
        value = json.loads(text, parse_constant=reject_constant)
    except (ValueError, TypeError, RecursionError):
        raise ValidationError(EVENT_NOT_VALID) from None
    if not isinstance(value, dict):
        raise ValidationError(EVENT_NOT_VALID)
    return value


def _set_bit(table: dict[Any, int], key: Any, bit: int) -> None:
    table[key] = table.get(key, 0) | bit


class _AffixTable:
    """Prefixes (or suffixes) of one path: key -> payload, and the key lengths in use.

    ``lengths`` is a sorted tuple, replaced (never mutated) so that readers see
    a consistent one; each length costs one dictionary look-up per value.
    """

    __slots__ = ("masks", "lengths")

    def __init__(self) -> None:
        self.masks: dict[str, Any] = {}
        self.lengths: tuple[int, ...] = ()

    def add_length(self, key: str) -> None:
        if len(key) not in self.lengths:
            self.lengths = tuple(sorted((*self.lengths, len(key))))

    def add(self, key: str, bit: int) -> None:
        _set_bit(self.masks, key, bit)
        self.add_length(key)

    def prefix_hits(self, value: str) -> int:
        hits = 0
        get = self.masks.get
        size = len(value)
        for length in self.lengths:
            if length > size:
                break
            hits |= get(value[:length], 0)
        return hits

    def suffix_hits(self, value: str) -> int:
        hits = 0
        get = self.masks.get
        size = len(value)
        for length in self.lengths:
            if length > size:
                break
            hits |= get(value[size - length:], 0)
        return hits


class _Ranges:
    """Numeric ranges (or IP blocks as integers) of one path, as elementary regions.

    The distinct end points ``p0 < p1 < ...`` cut the line into regions
    ``(-inf, p0), {p0}, (p0, p1), {p1}, ..., (pN, +inf)``; ``regions[r]`` is
    the mask of sub-rules whose range covers region ``r``.  A look-up is one
    bisection.  Adding a range inserts its end points (copying the mask of the
    region they split) and ORs its bit over the regions it covers; the new
    lists are published together as one tuple.
    """

    __slots__ = ("table",)

    def __init__(self) -> None:
        self.table: tuple[list[float], list[int]] = ([], [0])

    def add(self, lower: float | None, lower_inclusive: bool, upper: float | None, upper_inclusive: bool,
            bit: int) -> None:
        points, regions = list(self.table[0]), list(self.table[1])
        for point in (lower, upper):
            if point is None:
                continue
            i = bisect_left(points, point)
            if i < len(points) and points[i] == point:
                continue
            points.insert(i, point)
            regions[2 * i:2 * i] = [regions[2 * i], regions[2 * i]]
        if lower is None:
            first = 0
        else:
            k = bisect_left(points, lower)
            first = 2 * k + 1 if lower_inclusive else 2 * k + 2
        if upper is None:
            last = 2 * len(points)
        else:
            j = bisect_left(points, upper)
            last = 2 * j + 1 if upper_inclusive else 2 * j
        for r in range(first, last + 1):
            regions[r] |= bit
        self.table = (points, regions)

    def lookup(self, value: float) -> int:
        points, regions = self.table
        i = bisect_left(points, value)
        if i < len(points) and points[i] == value:
            return regions[2 * i + 1]
        return regions[2 * i]


class _Wildcards:
    """Wildcard values of one path, filed by their leading (else trailing) literal.

    Only the wildcards whose literal prefix (or suffix) the value has are
    tried; the ones that start and end with ``*`` are tried for every value.
    Equal wildcards share one entry whose mask holds all their sub-rules.
    """

    __slots__ = ("by_prefix", "by_suffix", "loose")

    def __init__(self) -> None:
        self.by_prefix = _AffixTable()
        self.by_suffix = _AffixTable()
        self.loose: dict[tuple[str, ...], int] = {}

    def add(self, segments: tuple[str, ...], bit: int) -> None:
        if segments[0]:
            table: _AffixTable | None = self.by_prefix
            key = segments[0]
        elif segments[-1]:
            table = self.by_suffix
            key = segments[-1]
        else:
            table = None
        if table is None:
            entries = dict(self.loose)
        else:
            entries = dict(table.masks.get(key, {}))
        entries[segments] = entries.get(segments, 0) | bit
        if table is None:
            self.loose = entries
        else:
            table.masks[key] = entries
            table.add_length(key)

    def hits(self, value: str, alive: int, hits: int) -> int:
        want = alive ^ (alive & hits)
        size = len(value)
        get = self.by_prefix.masks.get
        for length in self.by_prefix.lengths:
            if length > size:
                break
            entries = get(value[:length])
            if entries:
                for segments, mask in entries.items():
                    if mask & want and glob_matches(segments, value):
                        hits |= mask
        get = self.by_suffix.masks.get
        for length in self.by_suffix.lengths:
            if length > size:
                break
            entries = get(value[size - length:])
            if entries:
                for segments, mask in entries.items():
                    if mask & want and glob_matches(segments, value):
                        hits |= mask
        for segments, mask in self.loose.items():
            if mask & want and glob_matches(segments, value):
                hits |= mask
        return hits


class _PathIndex:
    """Which sub-rules a value at one path satisfies (see the module doc)."""

    __slots__ = (
        "path", "constrained", "unconstrained", "keep_if_absent", "absent_ok", "exists", "strings", "numbers",
        "true", "false", "null", "ips", "prefixes", "prefixes_ic", "suffixes", "suffixes_ic", "equals_ic",
        "but_strings", "but_strings_out", "but_numbers", "but_numbers_out", "but_any",
        "but_prefix", "but_prefix_out", "but_suffix", "but_suffix_out", "but_ic", "but_ic_out",
        "ranges", "ipv4", "ipv6", "wildcards", "slow", "exact_only", "has_folded", "has_ip", "cost",
        "string_base", "number_base", "other_base", "has_ranges", "string_cache", "number_cache",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.constrained = 0  # sub-rules that name this path
        # Masks kept ready for the hot loop, relative to the snapshot's universe
        # of allocated bits (all non-negative: Python's bitwise operations on
        # negative integers copy them first, which costs more than the work).
        self.unconstrained = 0  # universe minus constrained
        self.keep_if_absent = 0  # universe minus (constrained and not absent_ok)
        self.absent_ok = 0  # ... and accept its absence (exists: false)
        self.exists = 0  # satisfied by any value (exists: true)
        self.strings: dict[str, int] = {}
        self.numbers: dict[float, int] = {}
        self.true = self.false = self.null = 0
        self.ips: dict[tuple[int, int], int] = {}
        self.prefixes = _AffixTable()
        self.prefixes_ic = _AffixTable()
        self.suffixes = _AffixTable()
        self.suffixes_ic = _AffixTable()
        self.equals_ic: dict[str, int] = {}
        # anything-but: the sub-rules of each form, and the ones an excluded
        # value knocks out.  but_any: every anything-but form; all of them
        # accept null and booleans, and all but the numeric list accept numbers.
        self.but_strings = 0
        self.but_strings_out: dict[str, int] = {}
        self.but_numbers = 0
        self.but_numbers_out: dict[float, int] = {}
        self.but_prefix = 0
        self.but_prefix_out = _AffixTable()
        self.but_suffix = 0
        self.but_suffix_out = _AffixTable()
        self.but_ic = 0
        self.but_ic_out: dict[str, int] = {}
        self.but_any = 0
        self.ranges = _Ranges()  # numeric
        self.ipv4 = _Ranges()  # cidr, by address as an integer
        self.ipv6 = _Ranges()
        self.wildcards = _Wildcards()
        # matchers tested one by one (rare forms): (matcher, bit)
        self.slow: tuple[tuple[Matcher, int], ...] = ()
        self.exact_only = True  # only exact strings / exists: the hot loop inlines it
        self.has_folded = False
        self.has_ip = False
        self.cost = 0
        # what every string / every number satisfies here, whatever its value
        self.string_base = self.number_base = self.other_base = -1
        self.string_cache: dict[str, int] = {}
        self.number_cache: dict[float, int] = {}
        self.has_ranges = False

    def add(self, matchers: tuple[Matcher, ...], bit: int) -> None:
        seen: set[type] = set()
        for m in matchers:
            kind = type(m)
            first = kind not in seen
            seen.add(kind)
            if kind is Exact:
                value = m.value  # type: ignore[attr-defined]
                if isinstance(value, str):
                    _set_bit(self.strings, value, bit)
                    if m.ip is not None:  # type: ignore[attr-defined]
                        self.ips[m.ip] = self.ips.get(m.ip, 0) | bit  # type: ignore[attr-defined]
                        self.has_ip = True
                        self.exact_only = False
                    continue
                self.exact_only = False
                if value is True:
                    self.true |= bit
                elif value is False:
                    self.false |= bit
                elif value is None:
                    self.null |= bit
                else:
                    key = as_double(value)
                    _set_bit(self.numbers, key, bit)
                continue
            if kind is Exists:
                if m.value:  # type: ignore[attr-defined]
                    self.exists |= bit
                else:
                    self.absent_ok |= bit
                continue
            self.exact_only = False
            if kind is Prefix:
                if m.ignore_case:  # type: ignore[attr-defined]
                    self.prefixes_ic.add(fold(m.value), bit)  # type: ignore[attr-defined]
                    self.has_folded = True
                else:
                    self.prefixes.add(m.value, bit)  # type: ignore[attr-defined]
            elif kind is Suffix:
                if m.ignore_case:  # type: ignore[attr-defined]
                    self.suffixes_ic.add(fold(m.value), bit)  # type: ignore[attr-defined]
                    self.has_folded = True
                else:
                    self.suffixes.add(m.value, bit)  # type: ignore[attr-defined]
            elif kind is EqualsIgnoreCase:
                _set_bit(self.equals_ic, fold(m.value), bit)  # type: ignore[attr-defined]
                self.has_folded = True
            elif kind is Numeric:
                assert isinstance(m, Numeric)
                self.has_ranges = True
                self.ranges.add(m.lower, m.lower_inclusive, m.upper, m.upper_inclusive, bit)
            elif kind is Cidr:
                assert isinstance(m, Cidr)
                (self.ipv4 if m.bits == 32 else self.ipv6).add(m.low, True, m.high, True, bit)
                self.has_ip = True
            elif kind is Wildcard:
                assert isinstance(m, Wildcard)
                if len(m.segments) == 1:
                    _set_bit(self.strings, m.segments[0], bit)
                else:
                    self.wildcards.add(m.segments, bit)
                    self.cost += 1
            elif not first:
                # A second anything-but of one form in one value list: the
                # shared exclusion tables cannot express "either", so test it alone.
                self.but_any |= bit
                self.slow = self.slow + ((m, bit),)
                self.cost += 1
            elif kind is AnythingBut:
                assert isinstance(m, AnythingBut)
                self.but_any |= bit
                if m.values and isinstance(m.values[0], str):
                    self.but_strings |= bit
                    for text in m.values:
                        assert isinstance(text, str)
                        _set_bit(self.but_strings_out, text, bit)
                else:
                    self.but_numbers |= bit
                    for n in m.values:
                        _set_bit(self.but_numbers_out, float(n), bit)
            elif kind is AnythingButPrefix or kind is AnythingButSuffix:
                assert isinstance(m, (AnythingButPrefix, AnythingButSuffix))
                self.but_any |= bit
                if kind is AnythingButPrefix:
                    self.but_prefix |= bit
                    table = self.but_prefix_out
                else:
                    self.but_suffix |= bit
                    table = self.but_suffix_out
                for text in m.values:
                    table.add(text, bit)
            elif kind is AnythingButIgnoreCase:
                assert isinstance(m, AnythingButIgnoreCase)
                self.but_any |= bit
                self.but_ic |= bit
                for text in m.values:
                    _set_bit(self.but_ic_out, fold(text), bit)
                self.has_folded = True
            else:  # anything-but wildcard, or a matcher type added later
                self.but_any |= bit if isinstance(m, AnythingButWildcard) else 0
                self.slow = self.slow + ((m, bit),)
                self.cost += 1
        self.constrained |= bit
        # after the tables changed: fresh caches (see hits)
        self.string_cache = {}
        self.number_cache = {}

    def refresh(self, universe: int) -> None:
        """Recompute the masks that depend on the universe of allocated bits."""
        constrained = self.constrained
        self.unconstrained = universe ^ constrained
        self.keep_if_absent = universe ^ (constrained ^ (constrained & self.absent_ok))
        # hits() answers with the sub-rules that do not name this path included,
        # so the hot loop can AND its answer straight into the survivors
        self.string_base = self.exists | self.but_numbers | self.unconstrained
        self.number_base = (self.exists | self.but_strings | self.but_prefix | self.but_suffix | self.but_ic
                            | self.unconstrained)
        self.other_base = self.exists | self.but_any | self.unconstrained

    def hits(self, value: Any, alive: int) -> int:
        """Sub-rules whose matchers here accept ``value``, plus those that do not name
        this path (hot path).  One-by-one matchers run only for sub-rules in ``alive``.

        What the table look-ups answer depends on the value alone, so it is
        cached per value (values repeat: regions, states, account ids...).  The
        writer replaces the caches after changing the tables; a reader takes
        the cache before reading the tables, so it never stores a stale answer
        in a cache that will be used again.
        """
        kind = type(value)
        if kind is str:
            cache = self.string_cache
            fixed = cache.get(value)
            if fixed is None:
                fixed = self._string_hits(value)
                if len(cache) < _CACHE_SIZE:
                    cache[value] = fixed
            hits = self.string_base | fixed
            if self.cost:
                hits = self.wildcards.hits(value, alive, hits)
                for matcher, bit in self.slow:
                    if bit & alive and not bit & hits and matcher.matches(value):
                        hits |= bit
            return hits
        if kind is int or kind is float:
            number = as_double(value)
            numbers = self.number_cache
            fixed = numbers.get(number)
            if fixed is None:
                fixed = self.numbers.get(number, 0)
                if self.has_ranges and number == number:  # NaN (from Python callers) is in no range
                    fixed |= self.ranges.lookup(number)
                if self.but_numbers:
                    out = self.but_numbers_out.get(number, 0)
                    fixed |= self.but_numbers ^ (self.but_numbers & out)
                if len(numbers) < _CACHE_SIZE:
                    numbers[number] = fixed
            hits = self.number_base | fixed
            for matcher, bit in self.slow:
                if bit & alive and not bit & hits and matcher.matches(value):
                    hits |= bit
            return hits
        if value is None:
            return self.other_base | self.null
        if value is True:
            return self.other_base | self.true
        if value is False:
            return self.other_base | self.false
        # some other leaf object (not from JSON): only exists and anything-but
        return self.other_base

    def _string_hits(self, value: str) -> int:
        """The table look-ups for a string value (everything but the base masks,
        wildcards and one-by-one matchers)."""
        hits = self.strings.get(value, 0)
        if self.but_strings:
            out = self.but_strings_out.get(value, 0)
            hits |= self.but_strings ^ (self.but_strings & out)
        if self.prefixes.lengths:
            hits |= self.prefixes.prefix_hits(value)
        if self.suffixes.lengths:
            hits |= self.suffixes.suffix_hits(value)
        if self.but_prefix:
            out = self.but_prefix_out.prefix_hits(value)
            hits |= self.but_prefix ^ (self.but_prefix & out)
        if self.but_suffix:
            out = self.but_suffix_out.suffix_hits(value)
            hits |= self.but_suffix ^ (self.but_suffix & out)
        if self.has_folded:
            folded = fold(value)
            hits |= self.equals_ic.get(folded, 0)
            if self.prefixes_ic.lengths:
                hits |= self.prefixes_ic.prefix_hits(folded)
            if self.suffixes_ic.lengths:
                hits |= self.suffixes_ic.suffix_hits(folded)
            if self.but_ic:
                out = self.but_ic_out.get(folded, 0)
                hits |= self.but_ic ^ (self.but_ic & out)
        if self.has_ip:
            ip = parse_ip(value)
            if ip is not None:
                hits |= self.ips.get(ip, 0)
                hits |= (self.ipv4 if ip[0] == 32 else self.ipv6).lookup(ip[1])
        return hits


# Values whose table answers one path caches (each path, each of strings and numbers).
_CACHE_SIZE = 4096


# (constrained, path, keep_if_absent, exists | unconstrained, strings.get or None, index)
_Step = tuple[int, str, int, int, Callable[[str, int], int] | None, "_PathIndex"]
# (AND of keep_if_absent over the absent paths, steps of the present paths)
_ShapePlan = tuple[int, tuple[tuple[int, str, int, Callable[[str, int], int] | None, "_PathIndex"], ...]]
_MAX_SHAPES = 2048


def _shape_plan(plan: tuple[_Step, ...], shapes: dict[tuple[str, ...], _ShapePlan],
                shape: tuple[str, ...]) -> _ShapePlan:
    present = set(shape)
    keep = -1
    steps = []
    for constrained, path, keep_if_absent, base, exact, index in plan:
        if path in present:
            steps.append((constrained, path, base, exact, index))
        else:
            keep &= keep_if_absent
    known = (keep, tuple(steps))
    if len(shapes) >= _MAX_SHAPES:
        shapes.clear()
    shapes[shape] = known
    return known


class _Snapshot(Generic[K]):
    __slots__ = ("paths", "plan", "tree", "live", "owners", "rules", "multi", "next_bit", "garbage")

    def __init__(self) -> None:
        self.paths: dict[str, _PathIndex] = {}
        # The paths in matching order, each unpacked for the hot loop, and the
        # cache of per-shape plans built from it; replaced together on change.
        self.plan: tuple[tuple[_Step, ...], dict[tuple[str, ...], _ShapePlan]] = ((), {})
        self.tree: _Tree = {}  # the paths the rules name, as a tree (see _flatten)
        self.live = 0
        self.owners: list[K] = []  # bit number -> rule id
        self.rules: list[SubRule | None] = []  # bit number -> sub-rule (None once removed)
        self.multi: dict[str, int] = {}  # array path -> sub-rules naming 2+ paths under it
        self.next_bit = 0
        self.garbage = 0

    def add(self, rule_id: K, subrules: tuple[SubRule, ...]) -> list[int]:
        bits = []
        new_paths = False
        for rule in subrules:
            number = self.next_bit
            self.next_bit += 1
            bit = 1 << number
            self.owners.append(rule_id)
            self.rules.append(rule)
            for path, matchers in rule.items():
                index = self.paths.get(path)
                if index is None:
                    index = self.paths[path] = _PathIndex(path)
                    new_paths = True
                index.add(matchers, bit)
            # under[p]: how many of the rule's paths are p or lie below p.  An
            # array at p with two or more elements of objects (or of arrays)
            # can hold values of those paths in different elements.
            under: dict[str, int] = {}
            for path in rule:
                parts = path.split(".")
                for k in range(1, len(parts) + 1):
                    head = ".".join(parts[:k])
                    under[head] = under.get(head, 0) + 1
            for head, count in under.items():
                if count >= 2:
                    _set_bit(self.multi, head, bit)
            bits.append(number)
        if new_paths:
            self.tree = _build_tree(frozenset(self.paths))
        # cheap, selective paths first: they knock out most sub-rules before
        # the one-by-one matchers run
        universe = (1 << self.next_bit) - 1
        for index in self.paths.values():
            index.refresh(universe)
        order = sorted(self.paths.values(), key=lambda p: (p.cost, -p.constrained.bit_count()))
        self.plan = (tuple(
            (p.constrained, p.path, p.keep_if_absent, p.exists | p.unconstrained,
             p.strings.get if p.exact_only else None, p)
            for p in order
        ), {})
        mask = 0
        for number in bits:
            mask |= 1 << number
        self.live |= mask  # publish last
        return bits

    def remove(self, bits: list[int]) -> None:
        mask = 0
        for number in bits:
            mask |= 1 << number
        self.live &= ~mask  # unpublish first
        for number in bits:
            self.rules[number] = None
        self.garbage += len(bits)


class RuleIndex(Generic[K]):
    """Many event patterns in one index; ``match(event)`` returns the ids that match.

    ``add(rule_id, pattern)`` compiles ``pattern`` (JSON text, a mapping, or an
    ``EventPattern``) and files it under ``rule_id`` (any hashable); adding an
    id again replaces its pattern.  ``remove(rule_id)`` takes it out
    (``ResourceNotFoundError``, a ``LookupError``, if absent).  ``match`` takes the event as a mapping or as
    JSON text (``str``/``bytes``) and returns a ``set`` of rule ids.

    Safe for any number of writers and readers at once: ``add`` and ``remove``
    take turns on an internal lock, and ``match`` never takes a lock and always
    sees a consistent set of rules (see the module notes).
    """

    def __init__(self) -> None:
        self._writing = threading.Lock()
        self._snap: _Snapshot[K] = _Snapshot()
        self._bits: dict[K, list[int]] = {}
        self._patterns: dict[K, Any] = {}

    def __len__(self) -> int:
        return len(self._bits)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._bits

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._bits))

    def __repr__(self) -> str:
        return f"<RuleIndex rules={len(self._bits)} paths={len(self._snap.paths)}>"

    def pattern(self, rule_id: K) -> Any:
        """The ``EventPattern`` filed under ``rule_id`` (``ResourceNotFoundError`` if absent)."""
        try:
            return self._patterns[rule_id]
        except KeyError:
            raise ResourceNotFoundError(f"No rule {rule_id!r} in this index") from None

    def add(self, rule_id: K, pattern: Any) -> None:
        from ._api import compile_pattern  # the facade compiles; it imports this module

        compiled = compile_pattern(pattern)  # (outside the lock: writers compile at once)
        with self._writing:
            snap = self._snap
            old = self._bits.get(rule_id)
            # the new pattern goes live before the old one leaves, so a reader
            # never sees the id missing while it is being replaced
            self._bits[rule_id] = snap.add(rule_id, compiled.subrules)
            if old is not None:
                snap.remove(old)
            self._patterns[rule_id] = compiled
            self._maybe_compact()

    def remove(self, rule_id: K) -> None:
        with self._writing:
            try:
                bits = self._bits.pop(rule_id)
            except KeyError:
                raise ResourceNotFoundError(f"No rule {rule_id!r} in this index") from None
            del self._patterns[rule_id]
            self._snap.remove(bits)
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        snap = self._snap
        if snap.garbage < 64 or snap.garbage * 2 < snap.next_bit:
            return
        fresh: _Snapshot[K] = _Snapshot()
        bits: dict[K, list[int]] = {}
        for rule_id, pattern in self._patterns.items():
            bits[rule_id] = fresh.add(rule_id, pattern.subrules)
        self._snap = fresh
        self._bits = bits

    def match(self, event: Mapping[str, Any] | str | bytes | bytearray) -> set[K]:
        """The ids of the rules whose patterns match ``event``."""
        if isinstance(event, (str, bytes, bytearray, memoryview)):
            event = parse_event_json(bytes(event) if isinstance(event, memoryview) else event)
        elif not isinstance(event, Mapping):
            raise ValidationError(EVENT_NOT_VALID)
        snap = self._snap
        live = snap.live
        if not live:
            return set()
        fields, arrays = _flatten(event, snap.tree)
        plan, shapes = snap.plan
        # Events of one shape name the same paths: what their absence costs is
        # worked out once per shape (the tuple of paths present) and cached.
        shape = tuple(fields)
        known = shapes.get(shape)
        if known is None:
            known = _shape_plan(plan, shapes, shape)
        keep, steps = known
        ok = live & keep  # sub-rules not yet failed
        for constrained, path, base, exact, index in steps:
            if not constrained & ok:
                continue
            values = fields[path]
            if exact is not None:  # exact strings only: inlined
                hits = base
                for value in values:
                    if type(value) is str:
                        hits |= exact(value, 0)
            else:
                hits = 0
                for value in values:
                    hits |= index.hits(value, ok)
            ok &= hits
            if not ok:
                return set()
        if arrays:
            ok = self._recheck_arrays(snap, event, arrays, ok, fields)
        owners = snap.owners
        # one pass over the set bits, lowest first (hot path for many matches)
        return {owners[found.start()] for found in _ONES.finditer(bin(ok)[:1:-1])}

    @staticmethod
    def _recheck_arrays(snap: _Snapshot[Any], event: Mapping[str, Any], arrays: list[str], matched: int,
                        present: Mapping[str, list[Any]]) -> int:
        """Drop the matches that combine values from different elements of one array."""
        at_risk = 0
        multi = snap.multi
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
            rule = snap.rules[low.bit_length() - 1]
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
                    trails = _flatten_with_trails(event, wanted)
                quick = _consistent_match(part, trails)
            if not quick:
                matched ^= low
        return matched


# A tree of the paths the rules name: key -> (dotted path, children).  The
# flattener walks the event and this tree together, so it neither builds nor
# hashes path strings for keys no rule names.
_Tree = dict[str, tuple[str, "_Tree"]]


def _build_tree(paths: frozenset[str]) -> _Tree:
    tree: _Tree = {}
    for path in sorted(paths):
        node = tree
        parts = path.split(".")
        for k, part in enumerate(parts):
            entry = node.get(part)
            if entry is None:
                entry = node[part] = (".".join(parts[: k + 1]), {})
            node = entry[1]
    return tree


def _dotted(tree: _Tree, key: str) -> tuple[str, _Tree] | None:
    """The node for an event key with dots in it: "a.b" names the path a -> b."""
    node: tuple[str, _Tree] | None = None
    children = tree
    for part in key.split("."):
        node = children.get(part)
        if node is None:
            return None
        children = node[1]
    return node


def _flatten(event: Mapping[str, Any], tree: _Tree) -> tuple[dict[str, list[Any]], list[str]]:
    """Leaf values at the paths some rule names (hot path).

    Also returns the paths of arrays holding two or more objects (or
    arrays), where array-consistent matching may matter.
    """
    fields: dict[str, list[Any]] = {}
    arrays: list[str] = []

    def walk(obj: Mapping[str, Any], tree: _Tree) -> None:
        get = tree.get
        for key, value in obj.items():
            node = get(key)
            if node is None:
                if "." not in key or (node := _dotted(tree, key)) is None:
                    continue
            kind = type(value)
            if kind is dict:
                if node[1]:
                    walk(value, node[1])
            elif kind is list:
                walk_list(value, node)
            elif kind in _LEAF_KINDS:
                found = fields.get(node[0])
                if found is None:
                    fields[node[0]] = [value]
                else:
                    found.append(value)
            elif isinstance(value, Mapping):
                if node[1]:
                    walk(value, node[1])
            elif isinstance(value, (list, tuple)):
                walk_list(list(value), node)
            else:
                fields.setdefault(node[0], []).append(_plain_leaf(value))

    def walk_list(items: list[Any], node: tuple[str, _Tree]) -> None:
        path, children = node
        containers = 0
        for item in items:
            kind = type(item)
            if kind in _LEAF_KINDS:
                found = fields.get(path)
                if found is None:
                    fields[path] = [item]
                else:
                    found.append(item)
            elif kind is dict or isinstance(item, Mapping):
                containers += 1
                if children:
                    walk(item, children)
            elif kind is list or isinstance(item, (list, tuple)):
                containers += 1
                walk_list(list(item), node)
            else:
                fields.setdefault(path, []).append(_plain_leaf(item))
        if containers >= 2:
            arrays.append(path)

    try:
        walk(event, tree)
    except TypeError:
        raise ValidationError(f"{EVENT_NOT_VALID} (field names must be strings)") from None
    except RecursionError:
        raise ValidationError(f"{EVENT_NOT_VALID} (nested too deeply)") from None
    return fields, arrays


_LEAF_KINDS = frozenset(_LEAF_TYPES)


def _plain_leaf(value: Any) -> Any:
    """A subclass of str, int or float (an enum member, say) as its plain value."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value

Trail = tuple[tuple[int, int], ...]


def _flatten_with_trails(event: Mapping[str, Any], wanted: set[str]) -> dict[str, list[tuple[Any, Trail]]]:
    """Leaf values at the wanted paths, each with its trail: the (array, element)
    pairs of the arrays of objects it sits in."""
    fields: dict[str, list[tuple[Any, Trail]]] = {}
    arrays = [0]

    def walk(obj: Mapping[str, Any], base: str, trail: Trail) -> None:
        for key, value in obj.items():
            path = base + key
            if path not in wanted:
                continue
            visit(value, path, trail)

    def visit(value: Any, path: str, trail: Trail) -> None:
        kind = type(value)
        if kind in _LEAF_KINDS:
            fields.setdefault(path, []).append((value, trail))
        elif kind is dict:
            walk(value, path + ".", trail)
        elif kind is list or kind is tuple:
            arrays[0] += 1
            array = arrays[0]
            for position, item in enumerate(value):
                if type(item) in _LEAF_KINDS:
                    fields.setdefault(path, []).append((item, trail))
                else:
                    visit(item, path, (*trail, (array, position)))
        elif isinstance(value, Mapping):
            walk(value, path + ".", trail)
        elif isinstance(value, (list, tuple)):
            visit(list(value), path, trail)
        else:
            fields.setdefault(path, []).append((_plain_leaf(value), trail))

    walk(event, "", ())
    return fields


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
            if type(element) in _LEAF_KINDS:
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
                if any(type(v) not in _LEAF_KINDS for v in value):
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
    sibling arrays that no other condition touches cost nothing.
    """
    if any(not o for o in options):
        return False
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
    for position in sorted(positions):
        sub = []
        for split in buckets:
            merged = split.get(position, []) + split.get(None, [])
            unique = {tuple(sorted(t.items())): t for t in merged}
            sub.append(list(unique.values()))
        if _solve(sub):
            return True
    return False
