"""The public face of the matcher: compile_pattern, EventPattern, factories."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._exceptions import InvalidEventPatternError, InvalidFilterPatternError, ValidationError
from .._stack import on_a_fresh_stack
from . import _json as J
from ._engine import Engine
from ._json import EVENT_NOT_VALID, parse_event_text
from ._matchers import (
    BigNumber,
    Exact,
    Matcher,
)
from ._parse import SubRule, compile_match_expression, compile_tokens
from ._reference import reference_matches

__all__ = [
    "MAX_PATTERN_LENGTH",
    "EventPattern",
    "PatternSource",
    "compile_named",
    "anything_but",
    "cidr",
    "compile_filter_pattern",
    "compile_pattern",
    "equals_ignore_case",
    "exact",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "test_event_pattern",
    "wildcard",
]

# PutRule, CreateArchive and Pipes filters accept patterns of up to this many
# characters (the AWS API model's limit for EventPattern).
MAX_PATTERN_LENGTH = 4096

_MANDATORY_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


class EventPattern:
    """A compiled, validated event pattern.

    ``matches(event)`` takes the event as a mapping (for instance
    ``json.loads`` output).  ``subrules`` is the pattern in disjunctive form:
    a tuple of mappings from dotted field path to matchers.  ``to_json()``
    returns the pattern as plain JSON-ready data.  Patterns compare equal when
    they compiled to the same sub-rules.
    """

    __slots__ = ("subrules", "_source", "_engine")

    def __init__(self, subrules: tuple[SubRule, ...], source: Any) -> None:
        self.subrules = subrules
        self._source = source
        self._engine: Engine[int] | None = None

    def _engine_for(self) -> Engine[int]:
        engine = self._engine
        if engine is None:
            engine = Engine()
            engine.add(0, self.subrules)
            self._engine = engine
        return engine

    def matches(self, event: Mapping[str, Any] | str | bytes | bytearray | memoryview) -> bool:
        """Whether ``event`` (a mapping, or JSON text) matches this pattern."""
        engine = self._engine_for()
        if isinstance(event, (str, bytes, bytearray, memoryview)):
            return bool(engine.match(parse_event_text(event), True))
        if not isinstance(event, Mapping):
            raise ValidationError(EVENT_NOT_VALID)
        return bool(engine.match(event))

    def to_json(self) -> Any:
        try:
            return _source_json(self._source)
        except RecursionError:  # a deep pattern, a caller deep in its stack
            return on_a_fresh_stack(_source_json, self._source)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventPattern):
            return NotImplemented
        return bool(_canonical(self.subrules) == _canonical(other.subrules))

    def __hash__(self) -> int:
        return hash(json.dumps(_canonical(self.subrules), sort_keys=True, default=str))

    def __repr__(self) -> str:
        try:
            return _repr(self._source)
        except RecursionError:  # a deep pattern, a caller deep in its stack
            return on_a_fresh_stack(_repr, self._source)


def _repr(source: Any) -> str:
    return f"EventPattern({json.dumps(_source_json(source), default=str)})"


def _source_json(source: Any) -> Any:
    if isinstance(source, str):  # kept as text: fewer objects to hold than its parse tree
        source = J.load_pattern_text(source)
    return _plain(source)


def _canonical(subrules: tuple[SubRule, ...]) -> Any:
    def key(m: Matcher) -> Any:
        data = m.to_json()
        if isinstance(m, Exact) and type(m.value) in (int, float):  # 1 and 1.0 are one number
            data = float(data)
        elif isinstance(m, Exact) and type(m.value) is BigNumber:  # compared by its text, as it matches
            data = ["BigNumber", m.value.text]
        return [type(m).__name__, json.dumps(data, sort_keys=True, default=str), type(data).__name__]

    return sorted(
        sorted([path, sorted(key(m) for m in matchers)] for path, matchers in rule.items())
        for rule in subrules
    )


def _plain(value: Any) -> Any:
    if isinstance(value, J.Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (Matcher, BigNumber)):
        return value.to_json()
    return value


# What compile_pattern (and RuleIndex.add) accept.
PatternSource = str | bytes | Mapping[str, Any] | EventPattern


def compile_pattern(pattern: PatternSource) -> EventPattern:
    """Validate and compile an event pattern.

    ``pattern`` is JSON text, or a mapping whose value lists may hold plain
    JSON values, operator mappings (``{"prefix": "us-"}``) or the matchers
    built by the factory functions (``prefix("us-")``).  Raises
    ``InvalidEventPatternError`` with AWS's message when AWS would refuse it.
    """
    return compile_named(pattern, None)


def compile_named(pattern: PatternSource, name: str | None) -> EventPattern:
    """``compile_pattern`` for a rule with a name (AWS names it in one message)."""
    try:
        return _compile(pattern, name)
    except RecursionError:
        # A pattern may nest 200 levels, which the compiler reads recursively:
        # a caller deep in its own stack gets the same answer from a fresh one.
        return on_a_fresh_stack(_compile, pattern, name)


def _compile(pattern: PatternSource, name: str | None) -> EventPattern:
    if isinstance(pattern, EventPattern):
        return pattern
    if isinstance(pattern, (bytes, bytearray)):
        try:
            pattern = pattern.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventPatternError(f"Invalid UTF-8 in pattern: {exc.reason}") from None
    if isinstance(pattern, str):
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise InvalidEventPatternError(
                f"Event pattern is {len(pattern)} characters long; the limit is {MAX_PATTERN_LENGTH}")
        try:
            source = J.load_pattern_text(pattern)
        except (ValueError, RecursionError):  # includes ints longer than Python converts
            # Let the Jackson-like scanner find the first problem, in AWS's words.
            compile_tokens(J.TextTokens(pattern), name)
            raise InvalidEventPatternError("Filter is not an object") from None  # pragma: no cover
        return EventPattern(compile_tokens(J.tree_tokens(source), name), pattern)
    if isinstance(pattern, Mapping):
        return EventPattern(compile_tokens(J.tree_tokens(pattern), name), pattern)
    raise InvalidEventPatternError("Filter is not an object")


def compile_filter_pattern(pattern: PatternSource) -> EventPattern:
    """A filter pattern of an SQS event-source mapping or a pipe (``FilterCriteria``).

    The same language as event patterns, with those APIs' error:
    ``InvalidFilterPatternError`` (an ``InvalidEventPatternError``) whose
    message is AWS's ``Invalid filter pattern definition.`` and whose
    ``reason`` says what is wrong.
    """
    try:
        return compile_pattern(pattern)
    except InvalidFilterPatternError:
        raise
    except InvalidEventPatternError as exc:
        raise InvalidFilterPatternError(exc.reason, location=exc.location) from None


def test_event_pattern(event: str, pattern: str) -> bool:
    """AWS's TestEventPattern: JSON texts in, whether the event matches.

    The event must be a JSON object carrying AWS's mandatory envelope fields
    (``id``, ``account``, ``source``, ``time``, ``region``, ``detail-type``),
    else ``ValidationError("Parameter Event is not valid.")``.
    """
    compiled = compile_pattern(pattern)
    if isinstance(event, Mapping):
        if any(name not in event for name in _MANDATORY_EVENT_FIELDS):
            raise ValidationError(EVENT_NOT_VALID)
        return compiled.matches(event)
    pairs = parse_event_text(event)
    names = {name for name, _ in pairs}
    if any(name not in names for name in _MANDATORY_EVENT_FIELDS):
        raise ValidationError(EVENT_NOT_VALID)
    return bool(compiled._engine_for().match(pairs, True))


test_event_pattern.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def reference_match(pattern: EventPattern, event: Mapping[str, Any]) -> bool:
    """Match with the plain reference evaluator (slow; for tests and debugging).

    The evaluator reads the pattern's JSON form itself and shares no code with
    the compiler or the index (see ``_reference``)."""
    return reference_matches(pattern.to_json(), event)


# -- factories: build matchers in Python, same compiled form as the JSON ----


def exact(value: str | int | float | bool | None) -> Matcher:
    """A literal value: ``exact("x")`` is the pattern entry ``"x"``."""
    return compile_match_expression(value)


def prefix(value: str, *, ignore_case: bool = False) -> Matcher:
    """``{"prefix": value}`` or ``{"prefix": {"equals-ignore-case": value}}``."""
    return compile_match_expression({"prefix": {"equals-ignore-case": value} if ignore_case else value})


def suffix(value: str, *, ignore_case: bool = False) -> Matcher:
    """``{"suffix": value}`` or ``{"suffix": {"equals-ignore-case": value}}``."""
    return compile_match_expression({"suffix": {"equals-ignore-case": value} if ignore_case else value})


def equals_ignore_case(value: str) -> Matcher:
    """``{"equals-ignore-case": value}``."""
    return compile_match_expression({"equals-ignore-case": value})


def anything_but(
    *values: str | int | float,
    prefix: str | list[str] | None = None,
    suffix: str | list[str] | None = None,
    equals_ignore_case: str | list[str] | None = None,
    wildcard: str | list[str] | None = None,
) -> Matcher:
    """``{"anything-but": ...}``: give values, or exactly one keyword form.

    ``anything_but("a", "b")``, ``anything_but(100)``,
    ``anything_but(prefix="init")``, ``anything_but(wildcard=["*/a/*", "*/b/*"])``.
    """
    forms = {k: v for k, v in (("prefix", prefix), ("suffix", suffix),
                                ("equals-ignore-case", equals_ignore_case), ("wildcard", wildcard))
             if v is not None}
    if bool(values) + len(forms) != 1:
        raise InvalidEventPatternError(
            "anything_but() takes either values or exactly one of prefix=, suffix=, "
            "equals_ignore_case=, wildcard=")
    if values:
        return compile_match_expression({"anything-but": values[0] if len(values) == 1 else list(values)})
    return compile_match_expression({"anything-but": forms})


def numeric(*terms: str | int | float) -> Matcher:
    """``{"numeric": [...]}``: ``numeric(">", 0, "<=", 5)``, ``numeric("=", 3)``."""
    return compile_match_expression({"numeric": list(terms)})


def exists(value: bool = True) -> Matcher:
    """``{"exists": value}``."""
    return compile_match_expression({"exists": value})


def cidr(value: str) -> Matcher:
    """``{"cidr": value}``, IPv4 or IPv6."""
    return compile_match_expression({"cidr": value})


def wildcard(value: str) -> Matcher:
    """``{"wildcard": value}``: ``*`` matches any run of characters."""
    return compile_match_expression({"wildcard": value})
