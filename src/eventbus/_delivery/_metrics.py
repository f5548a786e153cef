"""Counters and outcomes: every accepted delivery ends in exactly one outcome."""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass

__all__ = ["Accounted", "Counters", "DeliveryMetrics", "Outcome", "log"]

log = logging.getLogger("eventbus.delivery")


class Outcome(enum.Enum):
    """How an accepted delivery ended."""

    SUCCEEDED = "succeeded"  # a handler or target took it
    DEAD_LETTERED = "dead_lettered"  # sent to a dead-letter queue and/or failure destination
    DROPPED = "dropped"  # lost with a recorded reason (no dead-letter queue, shutdown, ...)


@dataclass(frozen=True, kw_only=True)
class DeliveryMetrics:
    """A snapshot of one function's or target's counters.

    ``accepted == succeeded + dead_lettered + dropped + pending`` always holds.
    """

    invocations: int = 0  # invoke() / deliver() calls of any kind
    accepted: int = 0  # deliveries (asynchronous invocations) accepted
    attempts: int = 0  # handler / target calls made for them
    failures: int = 0  # attempts that failed (errors, not throttles)
    retries: int = 0  # attempts after the first
    throttles: int = 0  # attempts refused for lack of concurrency
    succeeded: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    pending: int = 0  # accepted, not yet ended
    sent_to_dlq: int = 0  # dead-letter queue writes (AWS metric InvocationsSentToDLQ)
    failed_to_dlq: int = 0  # dead-letter writes that failed (InvocationsFailedToBeSentToDLQ)
    destination_failures: int = 0  # records a destination refused (DestinationDeliveryFailures)


class Counters:
    """Thread-safe counters behind ``DeliveryMetrics``, plus the outcome of each id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(DeliveryMetrics.__dataclass_fields__, 0)
        self.outcomes: dict[str, tuple[Outcome, str]] = {}

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def accept(self) -> None:
        with self._lock:
            self._values["accepted"] += 1
            self._values["pending"] += 1

    def end(self, request_id: str, outcome: Outcome, reason: str = "") -> None:
        with self._lock:
            if request_id in self.outcomes:  # pragma: no cover - a bug if reached
                raise AssertionError(f"delivery {request_id} ended twice")
            self.outcomes[request_id] = (outcome, reason)
            self._values["pending"] -= 1
            self._values[outcome.value] += 1

    def snapshot(self) -> DeliveryMetrics:
        with self._lock:
            return DeliveryMetrics(**self._values)


class Accounted:
    """What functions and targets share: their counters and outcomes."""

    _counters: Counters

    @property
    def metrics(self) -> DeliveryMetrics:
        """A snapshot of the counters."""
        return self._counters.snapshot()

    @property
    def outcomes(self) -> dict[str, tuple[Outcome, str]]:
        """Delivery (request) id -> (outcome, reason) for every delivery that ended."""
        return dict(self._counters.outcomes)
