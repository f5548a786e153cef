"""Assertions that read like the question a test asks, and fail with the answer.

A failed match shows the event, the pattern and why they do not match
(``explain``); a rule an event did not match shows the event's journey
and the rule's pattern.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._bus import EventBus, TargetDelivery
from .._exceptions import ResourceNotFoundError
from .._pattern import explain
from .._pattern._api import PatternSource
from .._world import World

__all__ = ["assert_dead_lettered", "assert_delivered", "assert_matches", "assert_no_match", "assert_received",
           "assert_rule_matched"]


def _text(value: Any) -> str:
    if isinstance(value, str | bytes):
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def assert_matches(pattern: PatternSource, event: Mapping[str, Any] | str) -> None:
    """Fail unless ``event`` matches ``pattern``; the message says which fields did not."""
    answer = explain(pattern, event)
    if not answer.matched:
        raise AssertionError(f"the event does not match the pattern\n  pattern: {_text(pattern)}\n  event: "
                             f"{_text(event)}\n{answer.describe()}")


def assert_no_match(pattern: PatternSource, event: Mapping[str, Any] | str) -> None:
    """Fail if ``event`` matches ``pattern``; the message says which branch did."""
    answer = explain(pattern, event)
    if answer.matched:
        raise AssertionError(f"the event matches the pattern\n  pattern: {_text(pattern)}\n  event: "
                             f"{_text(event)}\n{answer.describe()}")


def assert_rule_matched(bus: EventBus, event_id: str, rule: str) -> None:
    """Fail unless the bus routed the event ``event_id`` to ``rule``; the message
    shows the event's journey (the rules it did match, each delivery) and the
    rule's pattern (``assert_matches(pattern, event)`` says why, given the
    event)."""
    try:
        journey = bus.journey(event_id)
    except ResourceNotFoundError as exc:
        raise AssertionError(str(exc)) from None
    if rule in journey.rules:
        return
    lines = [f"event {event_id} did not match rule {rule!r} of bus {bus.name}", journey.describe()]
    try:
        pattern = bus.describe_rule(rule).event_pattern
    except ResourceNotFoundError:
        lines.append(f"(the bus has no rule {rule!r})")
    else:
        state = bus.describe_rule(rule).state
        lines.append(f"  rule {rule!r} ({state}) has the pattern {pattern}")
    raise AssertionError("\n".join(lines))


def assert_delivered(bus: EventBus, event_id: str, target_id: str, *, rule: str | None = None,
                     ended_as: str = "succeeded", attempts: int | None = None) -> TargetDelivery:
    """Fail unless the event's delivery to ``target_id`` (through ``rule``, if
    given) ended as ``ended_as`` (``succeeded``, ``dead_lettered``, ``dropped``
    or ``pending``) after ``attempts`` attempts (if given); returns the
    delivery.  The message shows the event's journey."""
    try:
        journey = bus.journey(event_id)
    except ResourceNotFoundError as exc:
        raise AssertionError(str(exc)) from None
    found = [delivery for delivery in journey.deliveries
             if delivery.target_id == target_id and (rule is None or delivery.rule == rule)]
    through = "" if rule is None else f" through rule {rule!r}"
    if len(found) != 1:
        what = "no delivery" if not found else f"{len(found)} deliveries (give rule= to pick one)"
        raise AssertionError(f"event {event_id} has {what} to target {target_id!r}{through}\n{journey.describe()}")
    delivery = found[0]
    wrong = []
    if delivery.ended_as != ended_as:
        wrong.append(f"ended as {delivery.ended_as}, not {ended_as}")
    if attempts is not None and len(delivery.attempts) != attempts:
        wrong.append(f"took {len(delivery.attempts)} attempts, not {attempts}")
    if wrong:
        raise AssertionError(f"event {event_id}'s delivery to target {target_id!r}{through} "
                             f"{' and '.join(wrong)}\n{journey.describe()}")
    return delivery


def _describe_all(items: list[Any], limit: int = 10) -> str:
    first = max(0, len(items) - limit)
    shown = [f"    {number}: {_text(item)}" for number, item in enumerate(items[first:], start=first)]
    more = f"\n    ... {len(items) - limit} earlier ones not shown" if len(items) > limit else ""
    return ("\n".join(shown) + more) if shown else "    (nothing)"


def _check_received(what: str, items: list[Any], expected: Any, times: int | None) -> list[Any]:
    matching = items
    if expected is not None:
        matching = [item for item in items if (expected(item) if callable(expected) else item == expected)]
    wrong = []
    if expected is not None and not matching:
        wanted = getattr(expected, "__name__", "the predicate") if callable(expected) else _text(expected)
        wrong.append(f"nothing equal to {wanted}" if not callable(expected) else f"nothing for which {wanted} "
                     "is true")
    if times is not None and len(matching) != times:
        wrong.append(f"{len(matching)} {'matching ' if expected is not None else ''}"
                     f"{'item' if len(matching) == 1 else 'items'}, not {times}")
    if wrong:
        raise AssertionError(f"{what} received {' and '.join(wrong)}; it received:\n{_describe_all(items)}")
    return matching


def assert_received(world: World, name_or_arn: str, expected: Any = None, *, times: int | None = None) -> list[Any]:
    """Fail unless the function (its handler's calls: retries count) or queue (the
    messages it holds, JSON bodies parsed) named ``name_or_arn`` received
    ``expected`` (a value compared with ``==``, or a predicate), ``times`` times
    if given (without ``expected``: ``times`` items in all).  Returns what
    matched.  The message lists what it did receive."""
    return _check_received(name_or_arn, world.received(name_or_arn), expected, times)


def assert_dead_lettered(world: World, queue: str, expected: Any = None, *, count: int | None = None) -> list[Any]:
    """Fail unless the dead-letter queue ``queue`` (name, URL or ARN) holds
    ``expected`` (the original event as a value, or a predicate over each
    message's parsed body), ``count`` times if given; without ``expected``,
    fail unless it holds ``count`` messages (any at all if ``count`` is
    ``None``).  Returns the matching bodies."""
    items = world.received(queue)
    if expected is None and count is None:
        if not items:
            raise AssertionError(f"dead-letter queue {queue} is empty")
        return items
    return _check_received(f"dead-letter queue {queue}", items, expected, count)
