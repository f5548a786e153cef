"""Matchers: the compiled form of one entry in a pattern's value list.

Every matcher is a frozen value object.  ``matches(value)`` decides one
present leaf value of the event (a ``str``, a number, ``True``/``False`` or
``None``); absence is handled by the caller (only ``exists: false`` is
satisfied by a missing field).  ``to_json()`` gives the pattern-language
form back, so a pattern built with the factory functions in ``_api`` and one
parsed from JSON compile to equal matchers.

Numbers compare as IEEE-754 doubles, as in AWS's matcher: ``300`` equals
``300.0``; a string is never a number (``"300"`` does not equal ``300``).
Case-insensitive forms follow AWS's matcher: each character ``c`` of the
pattern matches the event's text when the event has ``c.lower()`` or
``c.upper()`` there, multi-character forms included (``ß`` matches ``SS``;
``ς`` matches ``Σ`` but not ``σ``).  Most characters form a simple pair
(``é``/``É``) and are compared by folding both sides (``fold``), which the
index can look up; a pattern holding any other character (``pattern_key``
is None) is compared by a small regular expression instead.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from ._wildcard import glob_matches

__all__ = [
    "AnythingBut",
    "AnythingButIgnoreCase",
    "AnythingButPrefix",
    "AnythingButSuffix",
    "AnythingButWildcard",
    "EXACT_INTS",
    "BigNumber",
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
    "case_regex",
    "fold",
    "is_number",
    "json_float",
    "number_key",
    "number_text",
    "parse_ip",
    "pattern_key",
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
    """JSON numbers: ``int``/``float`` (but not ``bool``) and ``BigNumber``."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or type(value) is BigNumber


def as_double(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


class BigNumber:
    """A JSON number that no double holds exactly: more significant digits than
    a double keeps (``0.30000000000000001``), an integer beyond 2**53 that is
    not a double's (``9007199254740993``), or beyond the double range
    (``1e309``).  AWS's matcher compares such numbers by their text only: they
    equal a number written the same way, and no range or numeric value."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return type(other) is BigNumber and other.text == self.text

    def __hash__(self) -> int:
        return hash(("BigNumber", self.text))

    def __repr__(self) -> str:
        return f"BigNumber({self.text!r})"

    def to_json(self) -> int | Decimal:
        """The number as Python data: an ``int`` if it is written as one, else a ``Decimal``."""
        try:
            return int(self.text)
        except ValueError:
            return Decimal(self.text)


EXACT_INTS = 2**53  # every integer up to this size is a double


def _holds(text: str, double: float) -> bool:
    """Whether the double's shortest text is numerically the literal (AWS's
    matcher: the number can be compared as a double)."""
    if double != double or double in (_INF, -_INF):
        return False
    return Decimal(repr(double)) == Decimal(text)


_INF = float("inf")


def json_float(text: str) -> float | BigNumber:
    """A JSON number literal with a fraction or an exponent, as a ``float`` when a
    double holds it (see ``BigNumber``) and as a ``BigNumber`` otherwise."""
    double = float(text)
    # Fifteen significant digits or fewer, and no exponent: always held.
    if len(text) <= 15 and "e" not in text and "E" not in text:
        return double
    return double if _holds(text, double) else BigNumber(text)


def number_key(value: Any) -> float | None:
    """The double a JSON number is compared as, or None when AWS's matcher
    compares it by its text only (a ``BigNumber``, or an ``int`` no double
    holds; see ``number_text``).  None for anything that is not a number."""
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        if -EXACT_INTS <= value <= EXACT_INTS:
            return float(value)
        try:
            double = float(value)
        except OverflowError:
            return None
        return double if _holds(str(value), double) else None
    if kind is bool or kind is BigNumber or not is_number(value):
        return None
    return number_key(float(value) if isinstance(value, float) else int(value))


def number_text(value: Any) -> str | None:
    """The text of a number compared by its text only (see ``number_key``), else None."""
    if type(value) is BigNumber:
        return value.text
    if is_number(value) and number_key(value) is None:
        try:
            return str(int(value))
        except ValueError:  # more digits than Python prints: no pattern can be written that long
            return ""
    return None


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

    value: str | int | float | bool | BigNumber | None
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
        if type(want) is BigNumber:  # compared by its text only
            return number_text(value) == want.text
        return number_key(value) == as_double(want)  # type: ignore[arg-type]

    def to_json(self) -> Any:
        return self.value.to_json() if type(self.value) is BigNumber else self.value


def _simple(ch: str) -> bool:
    """Whether ``ch`` forms a plain case pair: it is its own lower or upper case,
    each of those is one character, and they map onto each other.  For such
    a pattern character, exactly the event characters that fold (below) to
    its lower case are its lower or upper case (checked over all of Unicode
    by a test)."""
    lower, upper = ch.lower(), ch.upper()
    return (len(lower) == 1 and len(upper) == 1 and ch in (lower, upper)
            and lower.upper() == upper and upper.lower() == lower)


_FOLDED: dict[str, str] = {}  # character -> its fold (bounded: cleared when large)


def fold(text: str) -> str:
    """Event text folded one character at a time: a simple character (see
    ``_simple``) becomes its lower case, any other stays itself, so it can
    only ever equal itself."""
    if text.isascii():
        return text.lower()
    if len(_FOLDED) > 65536:
        _FOLDED.clear()
    out = []
    for ch in text:
        folded = _FOLDED.get(ch)
        if folded is None:
            folded = _FOLDED[ch] = ch.lower() if _simple(ch) else ch
        out.append(folded)
    return "".join(out)


def pattern_key(text: str) -> str | None:
    """The folded form of an ignore-case pattern value, or None when it holds a
    character that is not a simple pair (compared by ``case_regex`` instead)."""
    if text.isascii():
        return text.lower()
    if all(_simple(ch) for ch in text):
        return "".join([ch.lower() for ch in text])
    return None


def case_regex(text: str, where: str) -> re.Pattern[str]:
    """AWS's per-character alternatives as a regular expression: each pattern
    character matches its lower or its upper case.  ``where``: "equals",
    "prefix" (use ``fullmatch``, ``match``) or "suffix": then the expression
    is written backwards, to ``match`` the reversed value (one attempt, not
    one per position)."""
    chars = reversed(text) if where == "suffix" else text
    parts = []
    for ch in chars:
        forms = {ch.lower(), ch.upper()}
        if where == "suffix":
            forms = {form[::-1] for form in forms}
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        parts.append("(?:" + "|".join(re.escape(form) for form in ordered) + ")")
    return re.compile("".join(parts), re.DOTALL)


class _Case:
    """One ignore-case comparison (equals, prefix or suffix) of one pattern value."""

    __slots__ = ("key", "regex", "where")

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.key = pattern_key(text)
        self.regex = case_regex(text, where) if self.key is None else None

    def __call__(self, value: str) -> bool:
        key = self.key
        if key is not None:
            folded = fold(value)
            if self.where == "equals":
                return folded == key
            return folded.startswith(key) if self.where == "prefix" else folded.endswith(key)
        assert self.regex is not None
        if self.where == "equals":
            return self.regex.fullmatch(value) is not None
        if self.where == "prefix":
            return self.regex.match(value) is not None
        return self.regex.match(value[::-1]) is not None


@dataclass(frozen=True, slots=True)
class Prefix(Matcher):
    value: str
    ignore_case: bool = False
    type = MatchType.PREFIX
    _case: _Case | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.ignore_case:
            object.__setattr__(self, "_case", _Case(self.value, "prefix"))

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self._case is not None:
            return self._case(value)
        return value.startswith(self.value)

    def to_json(self) -> Any:
        return {"prefix": {"equals-ignore-case": self.value} if self.ignore_case else self.value}


@dataclass(frozen=True, slots=True)
class Suffix(Matcher):
    value: str
    ignore_case: bool = False
    type = MatchType.SUFFIX
    _case: _Case | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.ignore_case:
            object.__setattr__(self, "_case", _Case(self.value, "suffix"))

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self._case is not None:
            return self._case(value)
        return value.endswith(self.value)

    def to_json(self) -> Any:
        return {"suffix": {"equals-ignore-case": self.value} if self.ignore_case else self.value}


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase(Matcher):
    value: str
    type = MatchType.EQUALS_IGNORE_CASE

    _case: _Case = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_case", _Case(self.value, "equals"))

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and self._case(value)

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
        if isinstance(value, str):
            return value not in self.values
        number = number_key(value)
        if number is not None:
            return not any(not isinstance(v, str) and v == number for v in self.values)
        return True  # null, true, false, numbers compared by text only: never in the list

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

    _cases: tuple[_Case, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cases", tuple(_Case(v, "equals") for v in self.values))

    def matches(self, value: Any) -> bool:
        return not (isinstance(value, str) and any(case(value) for case in self._cases))

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
        number = number_key(value)
        if number is None:  # not a number, or one compared by its text only
            return False
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
    return int(value) if value.is_integer() and abs(value) < EXACT_INTS else value


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
