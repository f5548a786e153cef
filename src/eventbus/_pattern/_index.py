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

Concurrency: one writer at a time (a lock), readers never lock.  A reader
takes the current ``_Snapshot`` once.  Adding a rule fills in its bits first
and publishes them last (``live`` is replaced in one assignment); removing
clears ``live`` first.  Bits are never reused inside a snapshot; when
garbage outweighs live bits the writer builds a fresh snapshot and swaps it
in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from .._exceptions import ValidationError
from ._matchers import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    EqualsIgnoreCase,
    Exact,
    Exists,
    Matcher,
    Numeric,
    Prefix,
    Suffix,
    as_double,
    parse_ip,
)
from ._parse import SubRule
from ._reference import flatten_event, subrule_matches

__all__ = ["RuleIndex", "parse_event_json"]

_EVENT_NOT_VALID = "Parameter Event is not valid."
_LEAF_TYPES = (str, int, float, bool, type(None))


def parse_event_json(text: str | bytes | bytearray) -> dict[str, Any]:
    """An event given as JSON text: must be a JSON object."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, TypeError):
        raise ValidationError(_EVENT_NOT_VALID) from None
    if not isinstance(value, dict):
        raise ValidationError(_EVENT_NOT_VALID)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


class _AffixTable:
    """Prefixes (or suffixes) of one path: value -> mask, and the lengths in use."""

    __slots__ = ("masks", "lengths")

    def __init__(self) -> None:
        self.masks: dict[str, int] = {}
        self.lengths: tuple[int, ...] = ()

    def add(self, key: str, bit: int) -> None:
        self.masks[key] = self.masks.get(key, 0) | bit
        if len(key) not in self.lengths:
            self.lengths = tuple(sorted((*self.lengths, len(key))))

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


class _PathIndex:
    """Which sub-rules a value at one path satisfies (see the module doc)."""

    __slots__ = (
        "path", "constrained", "absent_ok", "exists", "strings", "numbers", "true", "false", "null",
        "ips", "prefixes", "prefixes_ic", "suffixes", "suffixes_ic", "equals_ic",
        "but_strings", "but_strings_out", "but_numbers", "but_numbers_out", "but_any",
        "slow_strings", "slow_numbers", "cost",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.constrained = 0  # sub-rules that name this path
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
        # anything-but over strings / numbers: all such sub-rules, and the ones
        # each excluded value knocks out.  but_any: every anything-but form,
        # all of which accept null and booleans.
        self.but_strings = 0
        self.but_strings_out: dict[str, int] = {}
        self.but_numbers = 0
        self.but_numbers_out: dict[float, int] = {}
        self.but_any = 0
        # matchers tested one by one: (matcher, bit)
        self.slow_strings: list[tuple[Matcher, int]] = []
        self.slow_numbers: list[tuple[Matcher, int]] = []
        self.cost = 0

    def add(self, matchers: tuple[Matcher, ...], bit: int) -> None:
        self.constrained |= bit
        seen_but_string = seen_but_number = False
        for m in matchers:
            if isinstance(m, Exact):
                value = m.value
                if isinstance(value, str):
                    self.strings[value] = self.strings.get(value, 0) | bit
                    if m.ip is not None:
                        self.ips[m.ip] = self.ips.get(m.ip, 0) | bit
                elif value is True:
                    self.true |= bit
                elif value is False:
                    self.false |= bit
                elif value is None:
                    self.null |= bit
                else:
                    key = as_double(value)
                    self.numbers[key] = self.numbers.get(key, 0) | bit
            elif isinstance(m, Exists):
                if m.value:
                    self.exists |= bit
                else:
                    self.absent_ok |= bit
            elif isinstance(m, Prefix):
                if m.ignore_case:
                    self.prefixes_ic.add(m.value.lower(), bit)
                else:
                    self.prefixes.add(m.value, bit)
            elif isinstance(m, Suffix):
                if m.ignore_case:
                    self.suffixes_ic.add(m.value.lower(), bit)
                else:
                    self.suffixes.add(m.value, bit)
            elif isinstance(m, EqualsIgnoreCase):
                key = m.value.lower()
                self.equals_ic[key] = self.equals_ic.get(key, 0) | bit
            elif isinstance(m, AnythingBut) and not (seen_but_string or seen_but_number):
                self.but_any |= bit
                if m.values and isinstance(m.values[0], str):
                    seen_but_string = True
                    self.but_strings |= bit
                    for s in m.values:
                        self.but_strings_out[s] = self.but_strings_out.get(s, 0) | bit  # type: ignore[index]
                else:
                    seen_but_number = True
                    self.but_numbers |= bit
                    for n in m.values:
                        key = float(n)
                        self.but_numbers_out[key] = self.but_numbers_out.get(key, 0) | bit
            else:
                # Numeric ranges only see numbers; every other slow matcher only
                # strings (anything-but forms accept every non-string: but_any).
                if isinstance(m, (AnythingBut, AnythingButPrefix, AnythingButSuffix, AnythingButIgnoreCase,
                                  AnythingButWildcard)):
                    self.but_any |= bit
                    if isinstance(m, AnythingBut):
                        # a second anything-but list on the same path: test it alone
                        self.slow_strings.append((m, bit))
                        self.slow_numbers.append((m, bit))
                    else:
                        self.slow_strings.append((m, bit))
                        self.slow_numbers.append((_ACCEPT_ALL, bit))
                elif isinstance(m, Numeric):
                    self.slow_numbers.append((m, bit))
                else:
                    self.slow_strings.append((m, bit))
        self.cost = len(self.slow_strings) + len(self.slow_numbers)

    def hits(self, value: Any, alive: int) -> int:
        """Sub-rules among ``alive`` whose matchers here accept ``value`` (hot path)."""
        kind = type(value)
        if kind is str:
            hits = self.exists | self.but_numbers | self.strings.get(value, 0)
            if self.but_strings:
                hits |= self.but_strings & ~self.but_strings_out.get(value, 0)
            if self.prefixes.lengths:
                hits |= self.prefixes.prefix_hits(value)
            if self.suffixes.lengths:
                hits |= self.suffixes.suffix_hits(value)
            if self.equals_ic or self.prefixes_ic.lengths or self.suffixes_ic.lengths:
                folded = value.lower()
                hits |= self.equals_ic.get(folded, 0)
                if self.prefixes_ic.lengths:
                    hits |= self.prefixes_ic.prefix_hits(folded)
                if self.suffixes_ic.lengths:
                    hits |= self.suffixes_ic.suffix_hits(folded)
            if self.ips:
                ip = parse_ip(value)
                if ip is not None:
                    hits |= self.ips.get(ip, 0)
            for matcher, bit in self.slow_strings:
                if bit & alive and not bit & hits and matcher.matches(value):
                    hits |= bit
            return hits
        if kind is int or kind is float:
            number = as_double(value)
            hits = self.exists | self.but_strings | self.numbers.get(number, 0)
            if self.but_numbers:
                hits |= self.but_numbers & ~self.but_numbers_out.get(number, 0)
            for matcher, bit in self.slow_numbers:
                if bit & alive and not bit & hits and matcher.matches(value):
                    hits |= bit
            return hits
        if value is None:
            return self.exists | self.null | self.but_any
        if value is True:
            return self.exists | self.true | self.but_any
        if value is False:
            return self.exists | self.false | self.but_any
        # some other leaf object (not from JSON): only exists and anything-but
        return self.exists | self.but_any


class _AcceptAll(Matcher):
    __slots__ = ()

    def matches(self, value: Any) -> bool:
        return True


_ACCEPT_ALL = _AcceptAll()


class _Snapshot:
    __slots__ = ("paths", "order", "prefixes", "live", "owners", "rules", "multi", "next_bit", "garbage")

    def __init__(self) -> None:
        self.paths: dict[str, _PathIndex] = {}
        self.order: tuple[_PathIndex, ...] = ()
        self.prefixes: frozenset[str] = frozenset()
        self.live = 0
        self.owners: list[Hashable] = []  # bit number -> rule id
        self.rules: list[SubRule | None] = []  # bit number -> sub-rule (None once removed)
        self.multi: dict[str, int] = {}  # array path -> sub-rules naming 2+ paths under it
        self.next_bit = 0
        self.garbage = 0

    def add(self, rule_id: Hashable, subrules: tuple[SubRule, ...]) -> list[int]:
        bits = []
        new_paths = False
        prefixes = set(self.prefixes)
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
                    parts = path.split(".")
                    for k in range(1, len(parts) + 1):
                        prefixes.add(".".join(parts[:k]))
                index.add(matchers, bit)
            under: dict[str, int] = {}
            for path in rule:
                parts = path.split(".")
                for k in range(1, len(parts)):
                    head = ".".join(parts[:k])
                    under[head] = under.get(head, 0) + 1
            for head, count in under.items():
                if count >= 2:
                    self.multi[head] = self.multi.get(head, 0) | bit
            bits.append(number)
        if new_paths:
            self.prefixes = frozenset(prefixes)
        # cheap, selective paths first: they knock out most sub-rules before
        # the one-by-one matchers run
        self.order = tuple(sorted(self.paths.values(), key=lambda p: (p.cost, -p.constrained.bit_count())))
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


class RuleIndex:
    """Many event patterns in one index; ``match(event)`` returns the ids that match.

    ``add(rule_id, pattern)`` compiles ``pattern`` (JSON text, a mapping, or an
    ``EventPattern``) and files it under ``rule_id`` (any hashable); adding an
    id again replaces its pattern.  ``remove(rule_id)`` takes it out
    (``KeyError`` if absent).  ``match`` takes the event as a mapping or as
    JSON text (``str``/``bytes``) and returns a ``set`` of rule ids.

    Safe for one writer and any number of concurrent readers: ``match`` never
    takes a lock (see the module notes).
    """

    def __init__(self) -> None:
        self._snap = _Snapshot()
        self._bits: dict[Hashable, list[int]] = {}
        self._patterns: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._bits)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._bits

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._bits))

    def __repr__(self) -> str:
        return f"<RuleIndex rules={len(self._bits)} paths={len(self._snap.paths)}>"

    def pattern(self, rule_id: Hashable) -> Any:
        """The ``EventPattern`` filed under ``rule_id`` (``KeyError`` if absent)."""
        return self._patterns[rule_id]

    def add(self, rule_id: Hashable, pattern: Any) -> None:
        from ._api import compile_pattern  # the facade compiles; it imports this module

        compiled = compile_pattern(pattern)
        with self._lock:
            snap = self._snap
            old = self._bits.pop(rule_id, None)
            if old is not None:
                snap.remove(old)
            self._bits[rule_id] = snap.add(rule_id, compiled.subrules)
            self._patterns[rule_id] = compiled
            self._maybe_compact()

    def remove(self, rule_id: Hashable) -> None:
        with self._lock:
            bits = self._bits.pop(rule_id)
            del self._patterns[rule_id]
            self._snap.remove(bits)
            self._maybe_compact()

    def _maybe_compact(self) -> None:
        snap = self._snap
        if snap.garbage < 64 or snap.garbage * 2 < snap.next_bit:
            return
        fresh = _Snapshot()
        bits = {}
        for rule_id, pattern in self._patterns.items():
            bits[rule_id] = fresh.add(rule_id, pattern.subrules)
        self._snap = fresh
        self._bits = bits

    def match(self, event: Mapping[str, Any] | str | bytes | bytearray) -> set[Hashable]:
        """The ids of the rules whose patterns match ``event``."""
        if isinstance(event, (str, bytes, bytearray)):
            event = parse_event_json(event)
        snap = self._snap
        live = snap.live
        if not live:
            return set()
        fields, arrays = _flatten(event, snap.prefixes)
        failed = 0
        get = fields.get
        for index in snap.order:
            alive = index.constrained & live & ~failed
            if not alive:
                continue
            values = get(index.path)
            if values is None:
                failed |= alive & ~index.absent_ok
                continue
            hits = 0
            for value in values:
                hits |= index.hits(value, alive)
            failed |= alive & ~hits
        matched = live & ~failed
        if not matched:
            return set()
        if arrays:
            at_risk = 0
            multi = snap.multi
            for path in arrays:
                at_risk |= multi.get(path, 0)
            risky = matched & at_risk
            if risky:
                full = flatten_event(event)
                while risky:
                    low = risky & -risky
                    rule = snap.rules[low.bit_length() - 1]
                    if rule is None or not subrule_matches(rule, full):
                        matched &= ~low
                    risky ^= low
        owners = snap.owners
        out: set[Hashable] = set()
        while matched:
            low = matched & -matched
            out.add(owners[low.bit_length() - 1])
            matched ^= low
        return out


def _flatten(event: Mapping[str, Any], prefixes: frozenset[str]) -> tuple[dict[str, list[Any]], list[str]]:
    """Leaf values at the paths some rule names (hot path).

    Also returns the paths of arrays holding two or more objects (or
    arrays), where array-consistent matching may matter.
    """
    fields: dict[str, list[Any]] = {}
    arrays: list[str] = []

    def walk(obj: Mapping[str, Any], base: str) -> None:
        for key, value in obj.items():
            path = base + key if base else key
            if path not in prefixes:
                continue
            kind = type(value)
            if kind is dict:
                walk(value, path + ".")
            elif kind is list:
                walk_list(value, path)
            elif kind in _LEAF_KINDS:
                found = fields.get(path)
                if found is None:
                    fields[path] = [value]
                else:
                    found.append(value)
            elif isinstance(value, Mapping):
                walk(value, path + ".")
            elif isinstance(value, (list, tuple)):
                walk_list(list(value), path)
            else:
                fields.setdefault(path, []).append(value)

    def walk_list(items: list[Any], path: str) -> None:
        containers = 0
        for item in items:
            if isinstance(item, Mapping):
                containers += 1
                walk(item, path + ".")
            elif isinstance(item, (list, tuple)):
                containers += 1
                walk_list(list(item), path)
            else:
                found = fields.get(path)
                if found is None:
                    fields[path] = [item]
                else:
                    found.append(item)
        if containers >= 2:
            arrays.append(path)

    walk(event, "")
    return fields, arrays


_LEAF_KINDS = frozenset(_LEAF_TYPES)
