"""Every event's journey: which rules matched, each target's attempts, where it ended.

A ``Journey`` is made when a bus accepts an event.  The bus writes the rules
that matched; each target's delivery gets a ``Trail`` (which the delivery
runtime tells of every attempt, failed call and end); readers get
``TargetDelivery`` snapshots.  The bus
keeps the ``retention`` most recent journeys (10,000 by default; 0 keeps
none) so a long-running service does not grow; counters stay exact.

Journeys are written by the bus and the delivery runtime and read from any
thread: each write is one atomic step (an append, an assignment), so a
reader sees each delivery before or after a step, never half-way.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .._delivery import Outcome
from .._exceptions import ResourceNotFoundError
from .._validate import check_int, check_str

__all__ = ["Attempt", "Journey", "Journeys", "TargetDelivery", "Trail"]

PENDING: Final = "pending"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to a target: when, and the error if it failed (``None``: it succeeded,
    or is still running)."""

    at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TargetDelivery:
    """One target's delivery of one event, as it stands when read (a snapshot)."""

    rule: str
    target_id: str
    delivery_id: str
    attempts: tuple[Attempt, ...]
    outcome: Outcome | None  # None while pending
    reason: str

    @property
    def ended_as(self) -> str:
        """``succeeded``, ``dead_lettered``, ``dropped``, or ``pending``."""
        return PENDING if self.outcome is None else self.outcome.value


# A delivery that has ended is kept as a plain tuple of atoms (strings and
# times; the outcome by its value, as an enum member is an object the garbage
# collector follows): the collector stops tracking such tuples, so a bus that
# keeps thousands of journeys adds nothing to each collection.
_Ended = tuple[str, str, str, tuple[tuple[datetime, str | None], ...], str, str]


class Trail:
    """A delivery while it is under way: the delivery runtime's ``Trail`` (told of
    every attempt, failed call and end).  At the end it leaves a tuple in its
    journey's place and is dropped."""

    __slots__ = ("_at", "_journey", "_log", "delivery_id", "hops", "rule", "target_id")

    def __init__(self, journey: Journey, at: int, rule: str, target_id: str, hops: int) -> None:
        self._journey = journey
        self._at = at
        self.rule = rule
        self.target_id = target_id
        self.delivery_id = ""
        self.hops = hops  # bus-to-bus hops the event had made when it reached this bus
        # the attempts, kept small: None before the first, the time alone for one
        # attempt that has not failed (the common case), else [(time, error), ...]
        self._log: datetime | list[tuple[datetime, str | None]] | None = None

    # -- the Trail protocol (one call at a time per delivery; each write is one
    # atomic step, so readers need no lock) ---------------------------------------
    def attempted(self, at: datetime) -> None:
        log = self._log
        if log is None:
            self._log = at
        elif isinstance(log, list):
            log.append((at, None))
        else:
            self._log = [(log, None), (at, None)]

    def failed(self, at: datetime, error: str) -> None:
        log = self._log
        if log is None:  # refused before a call (throttled): a failed attempt at that time
            self._log = [(at, error)]
        elif isinstance(log, list):
            last_at, last_error = log[-1]
            if last_error is None:
                log[-1] = (last_at, error)
            else:
                log.append((at, error))
        else:
            self._log = [(log, error)]

    def ended(self, outcome: Outcome, reason: str) -> None:
        log = self._log
        attempts = ((log, None),) if type(log) is datetime else self._attempts()
        self._journey._deliveries[self._at] = (self.rule, self.target_id, self.delivery_id, attempts,
                                               outcome._value_, reason)

    def _attempts(self) -> tuple[tuple[datetime, str | None], ...]:
        log = self._log
        if log is None:
            return ()
        return tuple(log) if isinstance(log, list) else ((log, None),)

    def snapshot(self) -> TargetDelivery:
        return TargetDelivery(self.rule, self.target_id, self.delivery_id,
                              tuple(Attempt(at, error) for at, error in self._attempts()), None, "")


def _snapshot(entry: Trail | _Ended) -> TargetDelivery:
    if isinstance(entry, Trail):
        return entry.snapshot()
    rule, target_id, delivery_id, attempts, outcome, reason = entry
    return TargetDelivery(rule, target_id, delivery_id, tuple(Attempt(at, error) for at, error in attempts),
                          Outcome(outcome), reason)


class Journey:
    """What happened to one event on one bus."""

    __slots__ = ("_deliveries", "bus", "detail_type", "event_id", "ingested_at", "rules", "source")

    def __init__(self, event_id: str, bus: str, source: str, detail_type: str, ingested_at: datetime) -> None:
        self.event_id = event_id
        self.bus = bus
        self.source = source
        self.detail_type = detail_type
        self.ingested_at = ingested_at
        self.rules: tuple[str, ...] = ()  # the enabled rules the event matched, sorted
        self._deliveries: list[Trail | _Ended] = []

    def _delivery(self, rule: str, target_id: str, hops: int) -> Trail:
        trail = Trail(self, len(self._deliveries), rule, target_id, hops)
        self._deliveries.append(trail)
        return trail

    @property
    def deliveries(self) -> tuple[TargetDelivery, ...]:
        """One per (matched rule, target), in the order they were handed out."""
        return tuple(_snapshot(entry) for entry in list(self._deliveries))

    @property
    def matched(self) -> bool:
        """Whether any enabled rule matched the event."""
        return bool(self.rules)

    @property
    def done(self) -> bool:
        """Whether every delivery has ended."""
        return not any(isinstance(entry, Trail) for entry in list(self._deliveries))

    def describe(self) -> str:
        """The journey as lines of text, for people (logs, a test failure, a demo)."""
        head = f"event {self.event_id} ({self.source} / {self.detail_type}) on bus {self.bus} at " \
               f"{self.ingested_at:%Y-%m-%dT%H:%M:%SZ}"
        if not self.rules:
            return f"{head}: matched no rule"
        lines = [f"{head}: matched {', '.join(self.rules)}"]
        for delivery in self.deliveries:
            lines.append(f"  rule {delivery.rule} -> target {delivery.target_id}: {delivery.ended_as}"
                         + (f" ({delivery.reason})" if delivery.reason else ""))
            for number, attempt in enumerate(delivery.attempts, 1):
                result = "ok" if attempt.error is None else attempt.error
                lines.append(f"    attempt {number} at {attempt.at:%Y-%m-%dT%H:%M:%SZ}: {result}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Journey {self.event_id} rules={list(self.rules)} deliveries={len(self._deliveries)}>"


class Journeys:
    """The recent journeys of one bus, oldest dropped first.  An event that
    arrives twice (from two rules of another bus, say) has two journeys."""

    def __init__(self, retention: int) -> None:
        self.retention = check_int("journey_retention", retention, 0)
        self._lock = threading.Lock()
        self._kept: deque[Journey] = deque()
        self._by_id: dict[str, list[Journey]] = {}

    def start(self, event_id: str, bus: str, source: str, detail_type: str, at: datetime) -> Journey:
        journey = Journey(event_id, bus, source, detail_type, at)
        with self._lock:
            self._kept.append(journey)
            self._by_id.setdefault(event_id, []).append(journey)
            if len(self._kept) > self.retention:
                oldest = self._kept.popleft()
                arrivals = self._by_id[oldest.event_id]
                arrivals.pop(0)  # (the oldest arrival of its event)
                if not arrivals:
                    del self._by_id[oldest.event_id]
        return journey

    def arrivals(self, event_id: str) -> list[Journey]:
        check_str("event_id", event_id)
        with self._lock:
            return list(self._by_id.get(event_id, ()))

    def get(self, event_id: str) -> Journey:
        """The latest journey of the event."""
        found = self.arrivals(event_id)
        if not found:
            raise ResourceNotFoundError(f"No journey for event {event_id!r}: the bus never accepted it, or it is no "
                                        f"longer kept (journey_retention={self.retention})")
        return found[-1]

    def __iter__(self) -> Iterator[Journey]:
        with self._lock:
            return iter(list(self._kept))

    def __len__(self) -> int:
        return len(self._kept)
