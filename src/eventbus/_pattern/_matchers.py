"""Matchers: the compiled form of one entry in a pattern's value list.

Every matcher is a frozen value object.  ``matches(value)`` decides one
present leaf value of the event (a ``str``, a number, ``True``/``False`` or
``None``); absence is handled by the caller (only ``exists: false`` is
satisfied by a missing field).  ``to_json()`` gives the pattern-language
form back, so a pattern built with the factory functions in ``_api`` and one
parsed from JSON compile to equal matchers.

Numbers compare as IEEE-754 doubles, as in AWS's matcher: ``300`` equals
``300.0``; a string is never a number (``"300"`` does not equal ``300``).
Case-insensitive forms compare both sides lower-cased one character at a
time (``fold``), as AWS's matcher does: no context rules (a Greek capital
sigma always becomes the same small sigma), no expansions beyond what a
single character's lower case gives.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ._wildcard import glob_matches

__all__ = [
    "AnythingBut",
    "AnythingButIgnoreCase",
    "AnythingButPrefix",
    "AnythingButSuffix",
    "AnythingButWildcard",
    "Cidr",
    "EqualsIgnoreCase",
    "Exact",
    "Exists",
    "Matcher",
    "MatchType",
    "Numeric",
    "Prefix",
    "Suffix",
    "Wildcard",
    "fold",
    "is_number",
    "parse_ip",
]


class MatchType(Enum):
    """The kinds of matcher in AWS's pattern language."""

    EXACT = "exact"  # a literal string, number, true, false or null
    PREFIX = "prefix"  # string starts with (optionally ignoring case)
    SUFFIX = "suffix"  # string ends with (optionally ignoring case)
    EQUALS_IGNORE_CASE = "equals-ignore-case"  # string equal ignoring case
    ANYTHING_BUT = "anything-but"  # present and none of these strings/numbers
    ANYTHING_BUT_PREFIX = "anything-but-prefix"  # present and not a string with one of these prefixes
    ANYTHING_BUT_SUFFIX = "anything-but-suffix"  # present and not a string with one of these suffixes
    ANYTHING_BUT_IGNORE_CASE = "anything-but-ignore-case"  # present and not one of these, ignoring case
    ANYTHING_BUT_WILDCARD = "anything-but-wildcard"  # present and not a string matching one of these
    NUMERIC = "numeric"  # a number inside a range
    EXISTS = "exists"  # the field is present (true) or absent (false)
    CIDR = "cidr"  # a string IP address inside a network
    WILDCARD = "wildcard"  # a string matching a '*' glob


def is_number(value: object) -> bool:
    """JSON numbers: ``int``/``float`` but not ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_double(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def parse_ip(text: str) -> tuple[int, int] | None:
    """``(bits, address)`` for an IPv4/IPv6 literal as AWS reads one, else None.

    AWS's matcher checks the shape (digits and dots; hex digits and colons)
    and then parses with the JDK: IPv4 parts are decimal numbers (leading
    zeros allowed) and the whole text is at most 15 characters; an
    IPv4-mapped IPv6 address (``::ffff:a00:1``) is the IPv4 address it maps.
    """
    if not text:
        return None
    parts = text.split(".")
    if len(parts) == 4:
        if len(text) > 15:
            return None
        address = 0
        for part in parts:
            if not (part.isdigit() and part.isascii()):
                return None
            number = int(part)
            if number > 255:
                return None
            address = address * 256 + number
        return (32, address)
    if ":" in text and not text.strip("0123456789abcdefABCDEF:"):
        try:
            address = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        except (OSError, ValueError):
            return None
        if address >> 32 == 0xFFFF:  # ::ffff:0:0/96
            return (32, address & 0xFFFFFFFF)
        return (128, address)
    return None


class Matcher:
    """Base of all matchers."""

    __slots__ = ()
    type: MatchType

    def matches(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def to_json(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Exact(Matcher):
    """A literal: string, number (compared as a double), true, false or null.

    A string that is an IP address literal also matches other spellings of
    the same address, as in AWS.
    """

    value: str | int | float | bool | None
    type = MatchType.EXACT
    ip: tuple[int, int] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.value, str):
            object.__setattr__(self, "ip", parse_ip(self.value))

    def matches(self, value: Any) -> bool:
        want = self.value
        if isinstance(want, str):
            if not isinstance(value, str):
                return False
            if value == want:
                return True
            return self.ip is not None and parse_ip(value) == self.ip
        if want is None or isinstance(want, bool):
            return value is want
        return is_number(value) and as_double(value) == as_double(want)

    def to_json(self) -> Any:
        return self.value


def fold(text: str) -> str:
    """Lower case, one character at a time (context-free; see the module notes)."""
    if text.isascii():
        return text.lower()
    return "".join([ch.lower() for ch in text])




@dataclass(frozen=True, slots=True)
class Prefix(Matcher):
    value: str
    ignore_case: bool = False
    type = MatchType.PREFIX

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.ignore_case:
            return fold(value).startswith(fold(self.value))
        return value.startswith(self.value)

    def to_json(self) -> Any:
        return {"prefix": {"equals-ignore-case": self.value} if self.ignore_case else self.value}


@dataclass(frozen=True, slots=True)
class Suffix(Matcher):
    value: str
    ignore_case: bool = False
    type = MatchType.SUFFIX

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.ignore_case:
            return fold(value).endswith(fold(self.value))
        return value.endswith(self.value)

    def to_json(self) -> Any:
        return {"suffix": {"equals-ignore-case": self.value} if self.ignore_case else self.value}


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase(Matcher):
    value: str
    type = MatchType.EQUALS_IGNORE_CASE

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and fold(value) == fold(self.value)

    def to_json(self) -> Any:
        return {"equals-ignore-case": self.value}


def _values_json(values: tuple[Any, ...]) -> Any:
    return values[0] if len(values) == 1 else list(values)


@dataclass(frozen=True, slots=True)
class AnythingBut(Matcher):
    """Present, and not one of these strings (or numbers: never both)."""

    values: tuple[str, ...] | tuple[float, ...]
    type = MatchType.ANYTHING_BUT

    def matches(self, value: Any) -> bool:
        if is_number(value):
            number = as_double(value)
            return not any(not isinstance(v, str) and v == number for v in self.values)
        if isinstance(value, str):
            return value not in self.values
        return True  # null, true, false: never in the list

    def to_json(self) -> Any:
        values = tuple(v if isinstance(v, str) else _num_json(v) for v in self.values)
        return {"anything-but": _values_json(values)}


@dataclass(frozen=True, slots=True)
class AnythingButPrefix(Matcher):
    values: tuple[str, ...]
    type = MatchType.ANYTHING_BUT_PREFIX

    def matches(self, value: Any) -> bool:
        return not (isinstance(value, str) and any(value.startswith(p) for p in self.values))

    def to_json(self) -> Any:
        return {"anything-but": {"prefix": _values_json(self.values)}}


@dataclass(frozen=True, slots=True)
class AnythingButSuffix(Matcher):
    values: tuple[str, ...]
    type = MatchType.ANYTHING_BUT_SUFFIX

    def matches(self, value: Any) -> bool:
        return not (isinstance(value, str) and any(value.endswith(s) for s in self.values))

    def to_json(self) -> Any:
        return {"anything-but": {"suffix": _values_json(self.values)}}


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase(Matcher):
    values: tuple[str, ...]
    type = MatchType.ANYTHING_BUT_IGNORE_CASE

    def matches(self, value: Any) -> bool:
        return not (isinstance(value, str) and fold(value) in {fold(v) for v in self.values})

    def to_json(self) -> Any:
        return {"anything-but": {"equals-ignore-case": _values_json(self.values)}}


@dataclass(frozen=True, slots=True)
class AnythingButWildcard(Matcher):
    values: tuple[str, ...]
    segments: tuple[tuple[str, ...], ...] = field(compare=False, repr=False)
    type = MatchType.ANYTHING_BUT_WILDCARD

    def matches(self, value: Any) -> bool:
        return not (isinstance(value, str) and any(glob_matches(s, value) for s in self.segments))

    def to_json(self) -> Any:
        return {"anything-but": {"wildcard": _values_json(self.values)}}


@dataclass(frozen=True, slots=True)
class Numeric(Matcher):
    """A number in a range; ``None`` bounds are open-ended."""

    lower: float | None
    lower_inclusive: bool
    upper: float | None
    upper_inclusive: bool
    type = MatchType.NUMERIC

    def matches(self, value: Any) -> bool:
        if not is_number(value):
            return False
        number = as_double(value)
        if number != number:  # NaN (only from Python callers): in no range
            return False
        if self.lower is not None:
            if number < self.lower or (number == self.lower and not self.lower_inclusive):
                return False
        if self.upper is not None:
            if number > self.upper or (number == self.upper and not self.upper_inclusive):
                return False
        return True

    def to_json(self) -> Any:
        terms: list[Any] = []
        if self.lower is not None and self.lower == self.upper:
            return {"numeric": ["=", _num_json(self.lower)]}
        if self.lower is not None:
            terms += [">=" if self.lower_inclusive else ">", _num_json(self.lower)]
        if self.upper is not None:
            terms += ["<=" if self.upper_inclusive else "<", _num_json(self.upper)]
        return {"numeric": terms}


def _num_json(value: float) -> int | float:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


@dataclass(frozen=True, slots=True)
class Exists(Matcher):
    """``exists: true`` (any leaf value, null included) or ``exists: false``."""

    value: bool
    type = MatchType.EXISTS

    def matches(self, value: Any) -> bool:
        return self.value

    def to_json(self) -> Any:
        return {"exists": self.value}


@dataclass(frozen=True, slots=True)
class Cidr(Matcher):
    """A string IP address inside ``low..high`` of the same family."""

    value: str
    bits: int = field(compare=False)
    low: int = field(compare=False)
    high: int = field(compare=False)
    type = MatchType.CIDR

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        ip = parse_ip(value)
        return ip is not None and ip[0] == self.bits and self.low <= ip[1] <= self.high

    def to_json(self) -> Any:
        return {"cidr": self.value}


@dataclass(frozen=True, slots=True)
class Wildcard(Matcher):
    value: str
    segments: tuple[str, ...] = field(compare=False, repr=False)
    type = MatchType.WILDCARD

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and glob_matches(self.segments, value)

    def to_json(self) -> Any:
        return {"wildcard": self.value}
