"""Every event's journey: which rules matched, each target's attempts, where it ended.

A ``Journey`` is made when a bus accepts an event.  The bus writes the rules
that matched; each target's delivery gets a ``TargetDelivery`` (the ``Trail`` the
delivery runtime tells of every attempt, failed call and end).  The bus
keeps the ``retention`` most recent journeys (10,000 by default; 0 keeps
none) so a long-running service does not grow; counters stay exact.

Journeys are written by the bus and the delivery runtime and read from any
thread: each write is one atomic step (an append, an assignment), so a
reader sees each delivery before or after a step, never half-way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .._delivery import Outcome
from .._exceptions import ResourceNotFoundError
from .._validate import check_int, check_str

__all__ = ["Attempt", "TargetDelivery", "Journey", "Journeys"]

PENDING: Final = "pending"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to a target: when, and the error if it failed (``None``: it succeeded,
    or is still running)."""

    at: datetime
    error: str | None = None


class TargetDelivery:
    """One target's delivery of one event (the delivery runtime's ``Trail``)."""

    __slots__ = ("_log", "delivery_id", "hops", "outcome", "reason", "rule", "target_id")

    def __init__(self, rule: str, target_id: str, hops: int) -> None:
        self.rule = rule
        self.target_id = target_id
        self.delivery_id = ""
        self.hops = hops  # bus-to-bus hops the event had made when it reached this bus
        # The attempts, kept small (a bus keeps thousands of these): None before the
        # first, the time alone for one attempt that has not failed (the common
        # case), else a list of (time, error or None).
        self._log: datetime | list[tuple[datetime, str | None]] | None = None
        self.outcome: Outcome | None = None  # None while pending
        self.reason = ""

    # -- the Trail protocol (called by the delivery runtime, one call at a time per
    # delivery; each write is one atomic step, so readers need no lock) --------
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
        self.reason = reason
        self.outcome = outcome  # (last: a reader that sees the outcome sees the reason)

    # -- reading ----------------------------------------------------------------
    @property
    def attempts(self) -> tuple[Attempt, ...]:
        log = self._log
        if log is None:
            return ()
        if isinstance(log, list):
            return tuple(Attempt(at, error) for at, error in list(log))
        return (Attempt(log),)

    @property
    def ended_as(self) -> str:
        """``succeeded``, ``dead_lettered``, ``dropped``, or ``pending``."""
        outcome = self.outcome
        return PENDING if outcome is None else outcome.value

    def __repr__(self) -> str:
        return (f"<TargetDelivery rule={self.rule} target={self.target_id} {self.ended_as} "
                f"attempts={len(self.attempts)}>")


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
        self._deliveries: list[TargetDelivery] = []

    def _delivery(self, rule: str, target_id: str, hops: int) -> TargetDelivery:
        delivery = TargetDelivery(rule, target_id, hops)
        self._deliveries.append(delivery)
        return delivery

    @property
    def deliveries(self) -> tuple[TargetDelivery, ...]:
        """One per (matched rule, target), in the order they were handed out."""
        return tuple(self._deliveries)

    @property
    def matched(self) -> bool:
        """Whether any enabled rule matched the event."""
        return bool(self.rules)

    @property
    def done(self) -> bool:
        """Whether every delivery has ended."""
        return all(delivery.outcome is not None for delivery in self.deliveries)

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
    """The recent journeys of one bus, by event id, oldest dropped first."""

    def __init__(self, retention: int) -> None:
        self.retention = check_int("journey_retention", retention, 0)
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, Journey] = OrderedDict()

    def start(self, event_id: str, bus: str, source: str, detail_type: str, at: datetime) -> Journey:
        journey = Journey(event_id, bus, source, detail_type, at)
        if self.retention:
            with self._lock:
                self._kept[event_id] = journey
                if len(self._kept) > self.retention:
                    self._kept.popitem(last=False)
        return journey

    def get(self, event_id: str) -> Journey:
        check_str("event_id", event_id)
        with self._lock:
            journey = self._kept.get(event_id)
        if journey is None:
            raise ResourceNotFoundError(f"No journey for event {event_id!r}: the bus never accepted it, or it is no "
                                        f"longer kept (journey_retention={self.retention})")
        return journey

    def __iter__(self) -> Iterator[Journey]:
        with self._lock:
            return iter(list(self._kept.values()))

    def __len__(self) -> int:
        return len(self._kept)
