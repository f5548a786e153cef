"""RuleIndex: many event patterns in one index, matched in one pass.

The index compiles patterns (``_api``), keeps them by rule id, and files their
sub-rules in the matching engine (``_engine``, where the representation and
the reader/writer protocol are described).  Writers take turns on a lock;
``match`` never takes one.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._exceptions import ResourceNotFoundError, ValidationError
from ._api import EventPattern, PatternSource, compile_named
from ._engine import Engine
from ._json import EVENT_NOT_VALID, parse_event_text

# A rule id: any hashable.  ``RuleIndex[str]`` keeps str ids (``match`` returns
# ``set[str]`` to a type checker); a bare ``RuleIndex()`` takes any hashable.
if TYPE_CHECKING:  # the default (PEP 696) matters to type checkers only
    from typing_extensions import TypeVar as _TypeVar

    K = _TypeVar("K", bound=Hashable, default=Hashable)
else:
    K = TypeVar("K", bound=Hashable)

__all__ = ["RuleIndex"]

Rules = Mapping[K, PatternSource] | Iterable[tuple[K, PatternSource]]


class RuleIndex(Generic[K]):
    """Many event patterns in one index; ``match(event)`` returns the ids that match.

    ``add(rule_id, pattern)`` compiles ``pattern`` (JSON text, a mapping, or an
    ``EventPattern``) and files it under ``rule_id`` (any hashable); adding an
    id again replaces its pattern.  ``add_all(rules)`` (or ``RuleIndex(rules)``)
    files many at once: a mapping of id to pattern, or (id, pattern) pairs;
    if any pattern is invalid, none is added.  ``remove(rule_id)`` takes one
    out (``ResourceNotFoundError``, a ``LookupError``, if absent).  ``match``
    takes the event as a mapping or as JSON text (``str``/``bytes``) and
    returns a ``set`` of rule ids.

    Adding or removing a rule costs the size of its pattern, however many
    rules the index holds; the first ``match`` after a change finishes the
    work the change left (once per change, not per rule).

    Safe for any number of writers and readers at once: ``add``, ``add_all``
    and ``remove`` take turns on an internal lock, and ``match`` never takes a
    lock and always sees each rule either whole or not at all.
    """

    def __init__(self, rules: Rules[K] | None = None) -> None:
        self._writing = threading.Lock()
        self._engine: Engine[K] = Engine()
        self._patterns: dict[K, EventPattern] = {}
        if rules is not None:
            self.add_all(rules)

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._patterns

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._patterns))

    def __repr__(self) -> str:
        return f"<RuleIndex rules={len(self._patterns)} paths={len(self._engine.paths)}>"

    def pattern(self, rule_id: K) -> EventPattern:
        """The ``EventPattern`` filed under ``rule_id`` (``ResourceNotFoundError`` if absent)."""
        try:
            return self._patterns[rule_id]
        except KeyError:
            raise ResourceNotFoundError(f"No rule {rule_id!r} in this index") from None

    def add(self, rule_id: K, pattern: PatternSource) -> None:
        compiled = compile_named(pattern, str(rule_id))  # (outside the lock: writers compile at once)
        with self._writing:
            self._engine.add(rule_id, compiled.subrules)
            self._patterns[rule_id] = compiled

    def add_all(self, rules: Rules[K]) -> None:
        """Add many rules: all of them, or none if one pattern is invalid."""
        pairs = rules.items() if isinstance(rules, Mapping) else rules
        # A large load allocates many small objects and keeps them all: Python's
        # cyclic collector would scan the growing index again and again (most of
        # the cost of loading 100,000 rules).  Nothing here makes reference cycles.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            compiled = [(rule_id, compile_named(pattern, str(rule_id))) for rule_id, pattern in pairs]
            with self._writing:
                add = self._engine.add
                for rule_id, pattern in compiled:
                    add(rule_id, pattern.subrules)
                    self._patterns[rule_id] = pattern
        finally:
            if paused:
                gc.enable()

    def remove(self, rule_id: K) -> None:
        with self._writing:
            if not self._engine.remove(rule_id):
                raise ResourceNotFoundError(f"No rule {rule_id!r} in this index") from None
            del self._patterns[rule_id]

    def match(self, event: Mapping[str, Any] | str | bytes | bytearray | memoryview) -> set[K]:
        """The ids of the rules whose patterns match ``event``."""
        if type(event) is dict:
            return self._engine.match(event)
        if isinstance(event, (str, bytes, bytearray, memoryview)):
            pairs = parse_event_text(event)
            return self._engine.match(pairs, True)
        if not isinstance(event, Mapping):
            raise ValidationError(EVENT_NOT_VALID)
        return self._engine.match(event)
