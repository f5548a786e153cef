"""Every event's journey: which rules matched, each target's attempts, where it ended.

A ``Journey`` is made when a bus accepts an event.  The bus writes the rules
that matched; the journey is the delivery runtime's ``Trail`` for each of
the event's deliveries (given each delivery as it is accepted, told when it
ends; the delivery logs its own attempts meanwhile); readers get
``TargetDelivery`` snapshots.  The bus keeps the ``retention`` most recent
journeys (10,000 by default; 0 keeps none) so a long-running service does
not grow; counters stay exact.

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
from .._delivery._engine import Job
from .._exceptions import ResourceNotFoundError
from .._validate import check_int, check_str

__all__ = ["Attempt", "Journey", "Journeys", "TargetDelivery"]

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
# keeps thousands of journeys adds nothing to each collection.  One attempt
# that succeeded (the common case) is kept as its time alone: one tuple per
# delivery, not three.  A delivery under way is kept as itself (the delivery
# runtime's ``Job``, which logs its attempts while it has a journey): no
# object is made per delivery for this.
_Attempts = datetime | tuple[tuple[datetime, str | None], ...]  # the time alone: one attempt, which succeeded
_Ended = tuple[str, str, _Attempts, str, str]  # target id, delivery id, attempts, outcome, reason


def _snapshot(rule: str, entry: Job | _Ended) -> TargetDelivery:
    if isinstance(entry, Job):
        target_id: str = getattr(entry.runner, "target_id", "")
        return TargetDelivery(rule, target_id, entry.id, tuple(Attempt(at, error) for at, error in entry.attempts()),
                              None, "")
    target_id, delivery_id, attempts, outcome, reason = entry
    if isinstance(attempts, datetime):
        return TargetDelivery(rule, target_id, delivery_id, (Attempt(attempts),), Outcome(outcome), reason)
    return TargetDelivery(rule, target_id, delivery_id, tuple(Attempt(at, error) for at, error in attempts),
                          Outcome(outcome), reason)


class Journey:
    """What happened to one event on one bus.  (For the delivery runtime, the
    trail of each of the event's deliveries.)"""

    __slots__ = ("_deliveries", "_rule", "_rules", "bus", "detail_type", "event_id", "ingested_at", "rules",
                 "source", "violations")

    def __init__(self, event_id: str, bus: str, source: str, detail_type: str, ingested_at: datetime) -> None:
        self.event_id = event_id
        self.bus = bus
        self.source = source
        self.detail_type = detail_type
        self.ingested_at = ingested_at
        self.rules: tuple[str, ...] = ()  # the enabled rules the event matched, sorted
        self.violations: tuple[str, ...] = ()  # how it broke its schema (validate_events(mode="report"))
        self._deliveries: list[Job | _Ended] = []  # one per delivery handed out, in order
        self._rules: list[str] = []  # the rule of each
        self._rule = ""  # the rule whose targets the bus is handing deliveries to

    # -- the delivery runtime's Trail ------------------------------------------------
    def _add(self, job: Job) -> None:
        job.slot = len(self._deliveries)
        self._rules.append(self._rule)  # (first: a reader pairs the two lists up to the shorter)
        self._deliveries.append(job)

    def _ended(self, job: Job, outcome: Outcome, reason: str) -> None:
        log = job.log
        attempts: _Attempts = log if type(log) is datetime else job.attempts()
        target_id: str = getattr(job.runner, "target_id", "")
        self._deliveries[job.slot] = (target_id, job.id, attempts, outcome._value_, reason)  # (one atomic step)

    @property
    def deliveries(self) -> tuple[TargetDelivery, ...]:
        """One per (matched rule, target), in the order they were handed out."""
        return tuple(_snapshot(rule, entry) for rule, entry in zip(list(self._rules), list(self._deliveries),
                                                                      strict=False))

    @property
    def matched(self) -> bool:
        """Whether any enabled rule matched the event."""
        return bool(self.rules)

    @property
    def done(self) -> bool:
        """Whether every delivery has ended."""
        return not any(isinstance(entry, Job) for entry in list(self._deliveries))

    def describe(self) -> str:
        """The journey as lines of text, for people (logs, a test failure, a demo)."""
        head = f"event {self.event_id} ({self.source} / {self.detail_type}) on bus {self.bus} at " \
               f"{self.ingested_at:%Y-%m-%dT%H:%M:%SZ}"
        schema = [f"  schema: {violation}" for violation in self.violations]
        if not self.rules:
            return "\n".join([f"{head}: matched no rule", *schema])
        lines = [f"{head}: matched {', '.join(self.rules)}", *schema]
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
