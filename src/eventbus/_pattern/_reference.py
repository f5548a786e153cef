"""The plain reference evaluator: slow, obvious, and the judge in tests.

It shares nothing with the compiler or the index but the data: it reads the
pattern's JSON form (``EventPattern.to_json()``) itself, expands ``$or`` into
alternatives, and evaluates each operator straight from its JSON with its own
small code: ``ipaddress`` for IP addresses and CIDR blocks, ``decimal`` for
the question of which numbers a double holds, a backtracking search for the
per-character ignore-case comparison and for wildcards.

It flattens the whole event into leaf fields, each with the dotted path that
reaches it and its *trail*: which element of which array it came from.  A
rule matches when each of its paths has a value one of its operators accepts,
and the values chosen for the different paths come from the same element of
every array they share (AWS's array-consistent matching).  A path that allows
absence (``exists: false``) may instead be left absent, which holds when none
of its values agrees with the values the other paths chose.

What is still shared with the index, and why, is listed in
``docs/internals.md``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["Field", "allows_absence", "flatten_event", "is_big_number", "reference_matches"]

# (value, trail); a trail is a tuple of (array number, element index) pairs.
Field = tuple[Any, tuple[tuple[int, int], ...]]
Rule = dict[str, list[Any]]  # dotted path -> the pattern's value list there


def flatten_event(event: Any) -> dict[str, list[Field]]:
    """Every leaf of ``event`` by dotted path, with its array trail.  Objects
    are mappings, or tuples of (key, value) pairs (event text read with
    repeated keys kept); arrays are lists (and, in mappings, tuples)."""
    out: dict[str, list[Field]] = {}
    counter = [0]
    pairs = isinstance(event, tuple)

    def is_object(value: Any) -> bool:
        return isinstance(value, Mapping) or (pairs and isinstance(value, tuple))

    def walk(value: Any, path: str | None, trail: tuple[tuple[int, int], ...]) -> None:
        if is_object(value):
            items = value if isinstance(value, tuple) else value.items()
            for key, item in items:
                walk(item, str(key) if path is None else f"{path}.{key}", trail)
        elif isinstance(value, (list, tuple)):
            counter[0] += 1
            array = counter[0]
            for index, item in enumerate(value):
                if is_object(item) or isinstance(item, (list, tuple)):
                    walk(item, path, (*trail, (array, index)))
                else:
                    walk(item, path, trail)
        elif path is not None:
            out.setdefault(path, []).append((value, trail))

    walk(event, None, ())
    return out


# -- the pattern, in disjunctive form ----------------------------------------


def expand(pattern: Mapping[str, Any], base: str = "") -> list[Rule]:
    """The alternatives of a pattern: each maps dotted paths to value lists.
    ``$or`` multiplies the alternatives; a path given again replaces the
    earlier value list in every alternative it reaches."""
    rules: list[Rule] = [{}]
    for key, value in pattern.items():
        if key == "$or":
            branches = [branch for item in value for branch in expand(item, base)]
            rules = [{**rule, **branch} for rule in rules for branch in branches]
        elif isinstance(value, Mapping):
            nested = expand(value, f"{base}{key}.")
            rules = [{**rule, **part} for rule in rules for part in nested]
        else:
            for rule in rules:
                rule[f"{base}{key}"] = list(value)
    return rules


# -- numbers -------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) or is_big_number(value)


def is_big_number(value: Any) -> bool:
    """A number read from event text kept as written (the matcher's ``BigNumber``)."""
    return type(value).__name__ == "BigNumber"


def _decimal(value: Any) -> Decimal:
    if is_big_number(value):
        return Decimal(value.text)
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _double(value: Any) -> float | None:
    """The double a number is compared as, or None when no double holds it
    (then it is compared by its value as written)."""
    if isinstance(value, float):
        return value
    exact = _decimal(value)
    try:
        double = float(exact)
    except (OverflowError, InvalidOperation):
        return None
    if double in (float("inf"), float("-inf")) or double != double:
        return None
    return double if Decimal(repr(double)) == exact else None


def _same_number(want: Any, value: Any) -> bool:
    if not _is_number(value):
        return False
    a, b = _double(want), _double(value)
    if a is None or b is None:
        return a is None and b is None and _decimal(want) == _decimal(value)
    return a == b


def _in_range(terms: list[Any], value: Any) -> bool:
    number = _double(value) if _is_number(value) else None
    if number is None or number != number:
        return False
    checks = {"=": number.__eq__, ">": number.__gt__, ">=": number.__ge__, "<": number.__lt__, "<=": number.__le__}
    for k in range(0, len(terms), 2):
        if not checks[terms[k]](float(terms[k + 1])):
            return False
    return True


# -- IP addresses ----------------------------------------------------------------

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", re.ASCII)
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def _ip(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address as AWS's matcher (via the JDK) reads one: dotted decimal of
    at most 15 characters (leading zeros allowed), or IPv6, an IPv4-mapped one
    being the IPv4 address it maps."""
    if not isinstance(text, str):
        return None
    if _IPV4.fullmatch(text):
        parts = [int(p) for p in text.split(".")]
        if len(text) > 15 or any(p > 255 for p in parts):
            return None
        return ipaddress.IPv4Address(".".join(map(str, parts)))
    if _IPV6.fullmatch(text):
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return address.ipv4_mapped or address
    return None


def _in_network(cidr: str, value: Any) -> bool:
    address = _ip(value)
    text, bits = cidr.split("/")
    base = _ip(text)
    if address is None or base is None or address.version != base.version:
        return False
    return address in ipaddress.ip_network(f"{base}/{int(bits)}", strict=False)


# -- text ------------------------------------------------------------------------


def _case_match(pattern: str, value: str, where: str) -> bool:
    """Each pattern character matches its lower or its upper case, found by
    plain backtracking over where each character's form ends."""
    forms = [{ch.lower(), ch.upper()} for ch in pattern]

    def ends(start: int) -> set[int]:
        positions = {start}
        for options in forms:
            positions = {p + len(f) for p in positions for f in options if value.startswith(f, p)}
        return positions

    if where == "prefix":
        return bool(ends(0))
    if where == "equals":
        return len(value) in ends(0)
    return any(len(value) in ends(start) for start in range(len(value) + 1))


def _glob(pattern: str, value: str) -> bool:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a literal star
    and backslash.  Plain backtracking (memoised)."""
    tokens: list[str | None] = []  # a character, or None for a star
    k = 0
    while k < len(pattern):
        if pattern[k] == "\\" and k + 1 < len(pattern):
            tokens.append(pattern[k + 1])
            k += 2
        else:
            tokens.append(None if pattern[k] == "*" else pattern[k])
            k += 1
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        t, v = todo.pop()
        if (t, v) in seen:
            continue
        seen.add((t, v))
        if t == len(tokens):
            if v == len(value):
                return True
            continue
        if tokens[t] is None:
            todo.append((t + 1, v))
            if v < len(value):
                todo.append((t, v + 1))
        elif v < len(value) and value[v] == tokens[t]:
            todo.append((t + 1, v + 1))
    return False


# -- one value against one entry of a value list -----------------------------------


def accepts(entry: Any, value: Any) -> bool:
    """Whether one entry of a pattern's value list accepts one leaf value."""
    if isinstance(entry, str):
        if not isinstance(value, str):
            return False
        if value == entry:
            return True
        a, b = _ip(entry), _ip(value)
        return a is not None and a == b
    if entry is None or isinstance(entry, bool):
        return value is entry
    if _is_number(entry):
        return _same_number(entry, value)
    (op, arg), = entry.items()
    if op == "exactly":  # the same as the plain string
        return accepts(str(arg), value)
    text: bool = isinstance(value, str)
    if op == "exists":
        return bool(arg)
    if op in ("prefix", "suffix"):
        if not text:
            return False
        if isinstance(arg, Mapping):
            return _case_match(str(arg["equals-ignore-case"]), str(value), op)
        string: str = value
        return string.startswith(str(arg)) if op == "prefix" else string.endswith(str(arg))
    if op == "equals-ignore-case":
        return text and _case_match(str(arg), value, "equals")
    if op == "wildcard":
        return text and _glob(str(arg), value)
    if op == "cidr":
        return _in_network(arg, value)
    if op == "numeric":
        return _in_range(arg, value)
    if op == "anything-but":
        if isinstance(arg, Mapping):
            (form, values), = arg.items()
            values = values if isinstance(values, list) else [values]
            if not text:
                return True
            if form == "prefix":
                return not any(value.startswith(v) for v in values)
            if form == "suffix":
                return not any(value.endswith(v) for v in values)
            if form == "equals-ignore-case":
                return not any(_case_match(v, value, "equals") for v in values)
            return not any(_glob(v, value) for v in values)
        values = arg if isinstance(arg, list) else [arg]
        if text:
            return value not in values
        if _is_number(value):
            return not any(_is_number(v) and _same_number(v, value) for v in values)
        return True
    raise ValueError(f"unknown operator {op!r}")


# -- a rule against the flattened event --------------------------------------------


def _consistent(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    chosen = dict(a)
    return all(chosen.get(array, index) == index for array, index in b)


def allows_absence(entries: list[Any]) -> bool:
    """Whether a value list holds ``{"exists": false}``: its path may be left absent."""
    return any(isinstance(entry, Mapping) and entry.get("exists") is False for entry in entries)


def rule_matches(rule: Rule, fields: Mapping[str, list[Field]]) -> bool:
    """Whether one alternative of a pattern matches the flattened event."""
    candidates: list[tuple[str, list[Field | None]]] = []
    for path, entries in rule.items():
        present = fields.get(path, [])
        options: list[Field | None] = [f for f in present if any(accepts(e, f[0]) for e in entries)]
        if allows_absence(entries):
            options.append(None)  # left absent: checked once every other path has chosen
        if not options:
            return False
        candidates.append((path, options))

    def search(i: int, picked: list[tuple[tuple[int, int], ...]], absent: list[str]) -> bool:
        if i == len(candidates):
            return not any(all(_consistent(trail, other) for other in picked)
                           for path in absent for _, trail in fields.get(path, []))
        path, options = candidates[i]
        for option in options:
            if option is None:
                if search(i + 1, picked, [*absent, path]):
                    return True
            elif all(_consistent(option[1], other) for other in picked):
                if search(i + 1, [*picked, option[1]], absent):
                    return True
        return False

    return search(0, [], [])


def reference_matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether a (valid) pattern, in its JSON form, matches ``event``."""
    fields = flatten_event(event)
    return any(rule_matches(rule, fields) for rule in expand(pattern))
