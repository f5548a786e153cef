"""The plain reference evaluator: slow, obvious, and the judge in tests.

It flattens the whole event into leaf fields, each with the dotted path that
reaches it and its *trail*: which element of which array of objects it came
from.  A sub-rule matches when each of its paths is either absent and allowed
to be (``exists: false``) or has a value one of its matchers accepts, and the
values chosen for the different paths can come from the same element of
every array of objects they share (AWS's array-consistent matching).  The
search is a plain backtracking over candidate values.

The compiled ``RuleIndex`` must agree with this module on every event; the
property tests check that it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._matchers import Exists
from ._parse import SubRule

__all__ = ["Field", "flatten_event", "reference_matches", "subrule_matches"]

# (value, trail); a trail is a tuple of (array number, element index) pairs.
Field = tuple[Any, tuple[tuple[int, int], ...]]


def flatten_event(event: Mapping[str, Any]) -> dict[str, list[Field]]:
    """Every leaf of ``event`` by dotted path, with its array trail."""
    out: dict[str, list[Field]] = {}
    counter = [0]

    def walk(value: Any, path: str | None, trail: tuple[tuple[int, int], ...]) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, str(key) if path is None else f"{path}.{key}", trail)
        elif isinstance(value, (list, tuple)):
            counter[0] += 1
            array = counter[0]
            for index, item in enumerate(value):
                if isinstance(item, (Mapping, list, tuple)):
                    walk(item, path, (*trail, (array, index)))
                else:
                    walk(item, path, trail)
        elif path is not None:
            out.setdefault(path, []).append((value, trail))

    walk(event, None, ())
    return out


def _consistent(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    chosen = dict(a)
    return all(chosen.get(array, index) == index for array, index in b)


def subrule_matches(rule: SubRule, fields: Mapping[str, list[Field]]) -> bool:
    """Whether one sub-rule matches the flattened event.

    Each path takes a value one of its matchers accepts; a path that allows
    absence (``exists: false``) may instead be left absent, which holds when
    none of its values is consistent with the values the other paths took.
    """
    candidates: list[tuple[str, list[Field | None]]] = []
    for path, matchers in rule.items():
        present = fields.get(path, [])
        options: list[Field | None] = [f for f in present if any(m.matches(f[0]) for m in matchers)]
        if any(isinstance(m, Exists) and not m.value for m in matchers):
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


def reference_matches(subrules: tuple[SubRule, ...], event: Mapping[str, Any]) -> bool:
    """Whether any sub-rule of a pattern matches ``event``."""
    fields = flatten_event(event)
    return any(subrule_matches(rule, fields) for rule in subrules)
