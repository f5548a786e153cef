"""Per-path tables: which sub-rules does a value at one path satisfy?

Each block of rules (see ``_engine``) numbers its sub-rules with bits
``0 .. size-1`` and keeps one ``PathTables`` per field path its rules name.
Answers are integer bit masks, found mostly by dictionary look-ups (exact
values, prefixes and suffixes by length, folded values, anything-but
exclusions).

The tables are split by who writes them:

* ``PathTables`` is the writer's: adding a sub-rule costs O(size of its
  matchers).  Dictionaries are only ever inserted into (a reader's ``get``
  racing an insert is safe), masks are replaced, never edited; everything
  that would cost more than that to keep up to date is appended to a list
  and left for the view.
* ``PathView`` is what readers use: built from the tables when a reader first
  matches after a change (once per change, not per rule), it holds the masks
  that depend on every rule of the block (the range regions, the wildcard
  tables, the masks relative to all allocated bits) and the per-value caches.
  A view is never changed after it is built, except for its caches.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from ._matchers import (
    EXACT_INTS,
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    BigNumber,
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
    number_key,
    number_text,
    parse_ip,
    pattern_key,
)
from ._wildcard import glob_matches

__all__ = ["AffixTable", "PathTables", "PathView", "RangeTable", "build_ranges", "lookup_range"]

# (lower, lower inclusive, upper, upper inclusive, bit); None bounds are open
Range = tuple[float | None, bool, float | None, bool, int]


def _set_bit(table: dict[Any, int], key: Any, bit: int) -> None:
    old = table.get(key)
    table[key] = bit if old is None else old | bit  # a new key shares the bit's int object


class AffixTable:
    """Prefixes (or suffixes) of one path: key -> mask, and the key lengths in use.

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


# (the distinct end points p0 < p1 < ..., the mask of each elementary region)
RangeTable = tuple[list[float], list[int]]


def build_ranges(ranges: list[Range]) -> RangeTable:
    """Numeric ranges (or IP blocks as integers) as elementary regions.

    The distinct end points cut the line into regions ``(-inf, p0), {p0},
    (p0, p1), {p1}, ..., (pN, +inf)``; region ``r``'s mask holds the sub-rules
    whose range covers it.  Built in one sweep: each range toggles its bit on
    where it starts and off after it ends, so the cost is O(R log R) plus one
    mask operation per region, however much the ranges overlap.  (A sub-rule
    with two ranges at one path has its ranges ORed region by region instead.)
    """
    points = sorted({p for lo, _, hi, _, _ in ranges for p in (lo, hi) if p is not None})
    size = 2 * len(points) + 1
    toggles = [0] * (size + 1)
    counted: dict[int, int] = {}
    for *_, bit in ranges:
        counted[bit] = counted.get(bit, 0) + 1
    repeated = []
    for lower, lower_inclusive, upper, upper_inclusive, bit in ranges:
        if lower is None:
            first = 0
        else:
            k = bisect_left(points, lower)
            first = 2 * k + 1 if lower_inclusive else 2 * k + 2
        if upper is None:
            last = size - 1
        else:
            j = bisect_left(points, upper)
            last = 2 * j + 1 if upper_inclusive else 2 * j
        if first > last:
            continue
        if counted[bit] > 1:
            repeated.append((first, last, bit))
            continue
        toggles[first] ^= bit
        toggles[last + 1] ^= bit
    regions = []
    current = 0
    for r in range(size):
        change = toggles[r]
        if change:
            current ^= change
        regions.append(current)  # unchanged regions share one int object
    for first, last, bit in repeated:
        for r in range(first, last + 1):
            regions[r] |= bit
    return points, regions


def lookup_range(table: RangeTable, value: float) -> int:
    points, regions = table
    i = bisect_left(points, value)
    if i < len(points) and points[i] == value:
        return regions[2 * i + 1]
    return regions[2 * i]


# Wildcards filed by their leading (else trailing) literal: key -> {segments: mask}
_WildcardTable = tuple[AffixTable, AffixTable, dict[tuple[str, ...], int]]


def _build_wildcards(wildcards: list[tuple[tuple[str, ...], int]]) -> _WildcardTable:
    by_prefix, by_suffix = AffixTable(), AffixTable()
    loose: dict[tuple[str, ...], int] = {}
    for segments, bit in wildcards:
        if segments[0]:
            table: AffixTable | None = by_prefix
            key = segments[0]
        elif segments[-1]:
            table = by_suffix
            key = segments[-1]
        else:
            table = None
        if table is None:
            entries = loose
        else:
            found = table.masks.get(key)
            if found is None:
                found = table.masks[key] = {}
                table.add_length(key)
            entries = found
        entries[segments] = entries.get(segments, 0) | bit
    return by_prefix, by_suffix, loose


def _wildcard_hits(table: _WildcardTable, value: str, want: int, hits: int) -> int:
    """Only the wildcards whose literal prefix (or suffix) the value has are
    tried; the ones that start and end with ``*`` are tried for every value.
    Equal wildcards share one entry whose mask holds all their sub-rules."""
    by_prefix, by_suffix, loose = table
    size = len(value)
    get = by_prefix.masks.get
    for length in by_prefix.lengths:
        if length > size:
            break
        entries = get(value[:length])
        if entries:
            for segments, mask in entries.items():
                if mask & want and glob_matches(segments, value):
                    hits |= mask
    get = by_suffix.masks.get
    for length in by_suffix.lengths:
        if length > size:
            break
        entries = get(value[size - length:])
        if entries:
            for segments, mask in entries.items():
                if mask & want and glob_matches(segments, value):
                    hits |= mask
    for segments, mask in loose.items():
        if mask & want and glob_matches(segments, value):
            hits |= mask
    return hits


class PathTables:
    """The writer's tables for one path (see the module doc)."""

    __slots__ = (
        "path", "stamp", "constrained", "absent_ok", "exists", "strings", "numbers", "big_numbers",
        "true", "false", "null", "ips", "prefixes", "prefixes_ic", "suffixes", "suffixes_ic", "equals_ic",
        "but_strings", "but_strings_out", "but_numbers", "but_numbers_out", "but_any",
        "but_prefix", "but_prefix_out", "but_suffix", "but_suffix_out", "but_ic", "but_ic_out",
        "ranges", "ipv4", "ipv6", "wildcards", "slow", "exact_only", "has_folded", "has_ip",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.stamp = 0  # the block version of the last change (see _engine)
        self.constrained = 0  # sub-rules that name this path
        self.absent_ok = 0  # ... and accept its absence (exists: false)
        self.exists = 0  # satisfied by any value (exists: true)
        self.strings: dict[str, int] = {}
        self.numbers: dict[float, int] = {}
        self.big_numbers: dict[str, int] = {}  # numbers no double holds, by their text
        self.true = self.false = self.null = 0
        self.ips: dict[tuple[int, int], int] = {}
        self.prefixes = AffixTable()
        self.prefixes_ic = AffixTable()
        self.suffixes = AffixTable()
        self.suffixes_ic = AffixTable()
        self.equals_ic: dict[str, int] = {}
        # anything-but: the sub-rules of each form, and the ones an excluded
        # value knocks out.  but_any: every anything-but form; all of them
        # accept null and booleans, and all but the numeric list accept numbers.
        self.but_strings = 0
        self.but_strings_out: dict[str, int] = {}
        self.but_numbers = 0
        self.but_numbers_out: dict[float, int] = {}
        self.but_prefix = 0
        self.but_prefix_out = AffixTable()
        self.but_suffix = 0
        self.but_suffix_out = AffixTable()
        self.but_ic = 0
        self.but_ic_out: dict[str, int] = {}
        self.but_any = 0
        # appended by the writer, turned into tables by the view
        self.ranges: list[Range] = []  # numeric
        self.ipv4: list[Range] = []  # cidr, by address as an integer
        self.ipv6: list[Range] = []
        self.wildcards: list[tuple[tuple[str, ...], int]] = []
        self.slow: list[tuple[Matcher, int]] = []  # matchers tested one by one (rare forms)
        self.exact_only = True  # only exact strings / exists: the hot loop inlines it
        self.has_folded = False
        self.has_ip = False

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
                        _set_bit(self.ips, m.ip, bit)  # type: ignore[attr-defined]
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
                elif type(value) is BigNumber:  # compared by its text only
                    _set_bit(self.big_numbers, value.text, bit)
                else:
                    _set_bit(self.numbers, as_double(value), bit)
                continue
            if kind is Exists:
                if m.value:  # type: ignore[attr-defined]
                    self.exists |= bit
                else:
                    self.absent_ok |= bit
                continue
            self.exact_only = False
            if kind is Prefix or kind is Suffix or kind is EqualsIgnoreCase:
                assert isinstance(m, (Prefix, Suffix, EqualsIgnoreCase))
                if kind is EqualsIgnoreCase or m.ignore_case:  # type: ignore[union-attr]
                    key = pattern_key(m.value)
                    if key is None:  # a character with more than a simple case pair
                        self.slow.append((m, bit))
                        continue
                    self.has_folded = True
                    if kind is EqualsIgnoreCase:
                        _set_bit(self.equals_ic, key, bit)
                    else:
                        (self.prefixes_ic if kind is Prefix else self.suffixes_ic).add(key, bit)
                else:
                    (self.prefixes if kind is Prefix else self.suffixes).add(m.value, bit)
            elif kind is Numeric:
                assert isinstance(m, Numeric)
                self.ranges.append((m.lower, m.lower_inclusive, m.upper, m.upper_inclusive, bit))
            elif kind is Cidr:
                assert isinstance(m, Cidr)
                (self.ipv4 if m.bits == 32 else self.ipv6).append((m.low, True, m.high, True, bit))
                self.has_ip = True
            elif kind is Wildcard:
                assert isinstance(m, Wildcard)
                if len(m.segments) == 1:
                    _set_bit(self.strings, m.segments[0], bit)
                else:
                    self.wildcards.append((m.segments, bit))
            elif not first:
                # A second anything-but of one form in one value list: the
                # shared exclusion tables cannot express "either", so test it alone.
                self.but_any |= bit
                self.slow.append((m, bit))
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
                keys = [pattern_key(text) for text in m.values]
                if None in keys:  # a character with more than a simple case pair
                    self.slow.append((m, bit))
                    continue
                self.but_ic |= bit
                for key in keys:
                    _set_bit(self.but_ic_out, key, bit)
                self.has_folded = True
            else:  # anything-but wildcard, or a matcher type added later
                self.but_any |= bit if isinstance(m, AnythingButWildcard) else 0
                self.slow.append((m, bit))
        self.constrained |= bit


# Values whose table answer one view caches (each of strings and numbers).
CACHE_SIZE = 4096


class PathView:
    """A reader's view of one path's tables at one version (see the module doc)."""

    __slots__ = (
        "tables", "stamp", "cost", "ranges", "ipv4", "ipv6", "wildcards", "slow",
        "string_base", "number_base", "other_base", "string_cache", "number_cache", "cache_size",
    )

    def __init__(self, tables: PathTables, stamp: int, cache_size: int) -> None:
        self.tables = t = tables
        self.stamp = stamp
        # copies of the appended lists (a writer may append while this runs)
        ranges, ipv4, ipv6, wildcards = list(t.ranges), list(t.ipv4), list(t.ipv6), list(t.wildcards)
        self.slow = tuple(t.slow)
        self.ranges = build_ranges(ranges) if ranges else None
        self.ipv4 = build_ranges(ipv4) if ipv4 else None
        self.ipv6 = build_ranges(ipv6) if ipv6 else None
        self.wildcards = _build_wildcards(wildcards) if wildcards else None
        self.cost = len(wildcards) + len(self.slow)  # matchers tested one by one
        # What every string / every number / every other leaf satisfies here,
        # whatever its value.  Set in the copy each plan makes (with_bases),
        # which adds the sub-rules that do not name this path, so the hot loop
        # can AND a value's answer straight into the survivors.
        self.string_base = self.number_base = self.other_base = 0
        self.string_cache: dict[str, int] = {}
        self.number_cache: dict[float, int] = {}
        self.cache_size = cache_size

    def with_bases(self, unconstrained: int, one: Callable[[int, int], int] | None = None) -> PathView:
        """This view for one plan: the same tables and caches, with the base masks
        for that plan's universe of bits.  A view shared between plans is never
        changed, so a reader building an older plan cannot leave its bases in a
        newer one.  ``one(mask, mask)`` gives back the plan's one copy of an
        equal mask, if it keeps them (``dict.setdefault``)."""
        step = object.__new__(PathView)
        for name in _SHARED:
            setattr(step, name, getattr(self, name))
        t = self.tables
        string_base = t.exists | t.but_numbers | unconstrained
        number_base = t.exists | t.but_strings | t.but_prefix | t.but_suffix | t.but_ic | unconstrained
        other_base = t.exists | t.but_any | unconstrained
        if one is not None:
            string_base, number_base, other_base = (one(string_base, string_base), one(number_base, number_base),
                                                    one(other_base, other_base))
        step.string_base, step.number_base, step.other_base = string_base, number_base, other_base
        return step

    def hits(self, value: Any, alive: int) -> int:
        """Sub-rules whose matchers here accept ``value``, plus those that do not name
        this path (hot path).  One-by-one matchers run only for sub-rules in ``alive``.

        What the table look-ups answer depends on the value alone, so it is
        cached per value (values repeat: regions, states, account ids...).  A
        change to the tables gives the path a new view, and so fresh caches.
        """
        kind = type(value)
        if kind is str:
            cache = self.string_cache
            fixed = cache.get(value)
            if fixed is None:
                fixed = self._string_hits(value)
                if len(cache) < self.cache_size:
                    cache[value] = fixed
            hits = self.string_base | fixed
            if self.cost:
                if self.wildcards is not None:
                    hits = _wildcard_hits(self.wildcards, value, alive ^ (alive & hits), hits)
                for matcher, bit in self.slow:
                    if bit & alive and not bit & hits and matcher.matches(value):
                        hits |= bit
            return hits
        if kind is float or (kind is int and -EXACT_INTS <= value <= EXACT_INTS):
            number = float(value)
            numbers = self.number_cache
            fixed = numbers.get(number)
            if fixed is None:
                t = self.tables
                fixed = t.numbers.get(number, 0)
                if self.ranges is not None and number == number:  # NaN (from Python callers) is in no range
                    fixed |= lookup_range(self.ranges, number)
                if t.but_numbers:
                    out = t.but_numbers_out.get(number, 0)
                    fixed |= t.but_numbers ^ (t.but_numbers & out)
                if len(numbers) < self.cache_size:
                    numbers[number] = fixed
            hits = self.number_base | fixed
            for matcher, bit in self.slow:
                if bit & alive and not bit & hits and matcher.matches(value):
                    hits |= bit
            return hits
        if kind is int or kind is BigNumber:  # an int no double holds, or a BigNumber
            number_ = number_key(value)
            if number_ is not None:  # a large int a double does hold: as above
                return self.hits(number_, alive)
            text = number_text(value)
            assert text is not None
            # compared by its text only: exact values written the same way, and
            # every anything-but (it is in none of their lists)
            return self.other_base | self.tables.big_numbers.get(text, 0)
        if value is None:
            return self.other_base | self.tables.null
        if value is True:
            return self.other_base | self.tables.true
        if value is False:
            return self.other_base | self.tables.false
        # some other leaf object (not from JSON): only exists and anything-but
        return self.other_base

    def _string_hits(self, value: str) -> int:
        """The table look-ups for a string value (everything but the base masks,
        wildcards and one-by-one matchers)."""
        t = self.tables
        hits = t.strings.get(value, 0)
        if t.but_strings:
            out = t.but_strings_out.get(value, 0)
            hits |= t.but_strings ^ (t.but_strings & out)
        if t.prefixes.lengths:
            hits |= t.prefixes.prefix_hits(value)
        if t.suffixes.lengths:
            hits |= t.suffixes.suffix_hits(value)
        if t.but_prefix:
            out = t.but_prefix_out.prefix_hits(value)
            hits |= t.but_prefix ^ (t.but_prefix & out)
        if t.but_suffix:
            out = t.but_suffix_out.suffix_hits(value)
            hits |= t.but_suffix ^ (t.but_suffix & out)
        if t.has_folded:
            folded = fold(value)
            hits |= t.equals_ic.get(folded, 0)
            if t.prefixes_ic.lengths:
                hits |= t.prefixes_ic.prefix_hits(folded)
            if t.suffixes_ic.lengths:
                hits |= t.suffixes_ic.suffix_hits(folded)
            if t.but_ic:
                out = t.but_ic_out.get(folded, 0)
                hits |= t.but_ic ^ (t.but_ic & out)
        if t.has_ip:
            ip = parse_ip(value)
            if ip is not None:
                hits |= t.ips.get(ip, 0)
                table = self.ipv4 if ip[0] == 32 else self.ipv6
                if table is not None:
                    hits |= lookup_range(table, ip[1])
        return hits


_SHARED = tuple(name for name in PathView.__slots__ if not name.endswith("_base"))

# Exact-only paths: the hot loop calls the strings table's ``get`` itself.
ExactGet = Callable[[str, int], int]
