"""Counters and outcomes: every accepted delivery ends in exactly one outcome.

Counters are exact and cost nothing per delivery once it has ended.  The
outcome of each delivery is kept for the ``outcome_retention`` most recent
ones (10,000 by default; 0 keeps none), so a long-running service does not
grow; ``subscribe`` and ``wait`` hand out outcomes as they happen instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .._clock import AsyncioClock, Clock, ManualClock
from .._exceptions import ClockClosedError, LoopBlockingError, ResourceNotFoundError, WaitTimeoutError
from .._validate import check_callable, check_seconds, check_str

__all__ = ["Accounted", "Counted", "DeliveryMetrics", "Ledger", "Outcome", "OutcomeListener", "Outcomes", "log"]

log = logging.getLogger("eventbus.delivery")


class Outcome(enum.Enum):
    """How an accepted delivery ended."""

    SUCCEEDED = "succeeded"  # a handler or target took it
    DEAD_LETTERED = "dead_lettered"  # sent to a dead-letter queue and/or failure destination
    DROPPED = "dropped"  # lost with a recorded reason (no dead-letter queue, shutdown, ...)


OutcomeListener = Callable[[str, Outcome, str], object]
_NO_REASON = {outcome.value: (outcome, "") for outcome in Outcome}  # shared: one tuple less per delivery kept
_SUCCEEDED, _DROPPED = Outcome.SUCCEEDED, Outcome.DROPPED  # (read once: a member read from its class costs a lookup)


@dataclass(frozen=True, kw_only=True)
class DeliveryMetrics:
    """A snapshot of one function's or target's counters.

    ``accepted == succeeded + dead_lettered + dropped + pending`` always holds.
    """

    invocations: int = 0  # invoke() / deliver() calls that were taken (any invocation type)
    accepted: int = 0  # deliveries (asynchronous invocations) accepted
    attempts: int = 0  # handler / destination calls made
    failures: int = 0  # calls that failed (errors, not throttles)
    retries: int = 0  # calls after the first, for one delivery
    throttles: int = 0  # attempts refused for lack of concurrency, or destinations that throttled
    succeeded: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    pending: int = 0  # accepted, not yet ended
    sent_to_dlq: int = 0  # dead-letter queue writes (AWS metric InvocationsSentToDLQ)
    failed_to_dlq: int = 0  # dead-letter writes that failed (InvocationsFailedToBeSentToDLQ)
    destination_failures: int = 0  # records a destination refused (DestinationDeliveryFailures)


_FIELDS = tuple(DeliveryMetrics.__dataclass_fields__)


class Counted(Protocol):
    """What the ledger reads of a delivery: its id and how many calls it made."""

    id: str
    calls: int


_COUNTERS = tuple(name for name in _FIELDS if name not in ("accepted", "pending"))  # what a ledger counts


class Ledger:
    """Thread-safe counters, the deliveries still pending, recent outcomes, listeners.

    A delivery costs one step under the lock, ``end``: ``accept`` is one
    store into the dict of pending deliveries (atomic on its own), calls are
    counted from the delivery itself (when it ends, and for those still
    pending when a snapshot is taken), and what can be derived (accepted,
    pending, invocations) is derived, so the counters stay exact at less cost.

    A bus's fan-out ends one delivery on each of many targets in turn, so
    ``end`` also keeps to few objects: the counters are the ledger's own
    slots, the kept outcomes one list (``[id, (outcome, reason), id, ...]``,
    trimmed to the last ``retention`` when it holds twice as many, and
    indexed by id only when someone looks one up), and no listeners or
    watchers is ``None``, not an empty container to look into."""

    __slots__ = ("_ended", "_index", "_indexed", "_kept", "_listeners", "_lock", "_pending", "_watched",
                 "attempts", "dead_lettered", "destination_failures", "dropped", "failed_to_dlq", "failures",
                 "invocations", "retention", "retries", "sent_to_dlq", "succeeded", "throttles")
    # the counters (DeliveryMetrics' fields but the derived "accepted" and "pending")
    attempts: int
    dead_lettered: int
    destination_failures: int
    dropped: int
    failed_to_dlq: int
    failures: int
    invocations: int
    retries: int
    sent_to_dlq: int
    succeeded: int
    throttles: int

    def __init__(self, retention: int) -> None:
        self._lock = threading.Lock()
        self._ended: threading.Condition | None = None  # made by the first wait (most ledgers never wait)
        for name in _COUNTERS:
            setattr(self, name, 0)  # (invocations: beyond the accepted deliveries; attempts and retries: of ended ones)
        self._pending: dict[str, Counted] = {}
        self.retention = retention
        self._kept: list[Any] = []  # id, (outcome, reason), id, ... oldest first
        self._index: dict[str, int] = {}  # id -> number of its pair in _kept, for the first _indexed pairs
        self._indexed = 0
        self._listeners: list[OutcomeListener] | None = None
        self._watched: dict[str, _Watch] | None = None  # ids someone waits for: end() leaves the outcome there

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def accept(self, delivery: Counted) -> None:
        # One store into a dict, atomic on its own: no lock ("accepted" is derived).
        self._pending[delivery.id] = delivery

    def reject(self, delivery: Counted) -> None:
        """Undo ``accept``: the delivery was refused after all (a closed clock)."""
        self._pending.pop(delivery.id, None)

    def end(self, delivery: Counted, outcome: Outcome, reason: str = "") -> None:
        delivery_id = delivery.id
        with self._lock:
            try:
                del self._pending[delivery_id]
            except KeyError:  # pragma: no cover - a bug if reached
                raise AssertionError(f"delivery {delivery_id} ended twice, or was never accepted") from None
            if outcome is _SUCCEEDED:
                self.succeeded += 1
            elif outcome is _DROPPED:
                self.dropped += 1
            else:
                self.dead_lettered += 1
            calls = delivery.calls
            if calls == 1:
                self.attempts += 1
            elif calls:
                self.attempts += calls
                self.retries += calls - 1
            if self.retention:
                kept = self._kept
                kept.append(delivery_id)
                kept.append((outcome, reason) if reason else _NO_REASON[outcome._value_])
                if len(kept) > 4 * self.retention:
                    self._trim()
            if self._watched is not None:
                watch = self._watched.get(delivery_id)
                if watch is not None:  # someone waits for this one (and only they need waking)
                    watch.outcome = (outcome, reason)
                    if self._ended is not None:
                        self._ended.notify_all()
            listeners = self._listeners  # (never changed in place: subscribing makes a new list)
            if listeners is None:
                return
        for listener in listeners:
            try:
                listener(delivery_id, outcome, reason)
            except Exception:
                log.exception("eventbus: an outcome listener failed on delivery %s", delivery_id)

    # -- the kept outcomes (under the lock) ----------------------------------------
    def _trim(self) -> None:
        """Keep the last ``retention`` outcomes (the list holds twice as many)."""
        kept = self._kept
        del kept[:len(kept) - 2 * self.retention]
        self._index = {}  # (the pairs moved: rebuilt as lookups need it)
        self._indexed = 0

    def _find(self, delivery_id: str) -> tuple[Outcome, str] | None:
        kept = self._kept
        total = len(kept) // 2
        if self._indexed < total:  # index what ended since the last look
            index = self._index
            for number in range(self._indexed, total):
                index[kept[2 * number]] = number
            self._indexed = total
        at = self._index.get(delivery_id)
        if at is None or at < total - self.retention:
            return None
        found: tuple[Outcome, str] = kept[2 * at + 1]
        return found

    def _kept_ids(self) -> list[str]:
        window = 2 * min(len(self._kept) // 2, self.retention)
        return self._kept[len(self._kept) - window::2] if window else []

    def is_pending(self, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._pending

    def snapshot(self) -> DeliveryMetrics:
        with self._lock:
            values = {name: getattr(self, name) for name in _COUNTERS}
            held = list(self._pending.values())  # (one step: accept() adds without the lock)
            values["pending"] = len(held)
            values["accepted"] = accepted = (values["succeeded"] + values["dead_lettered"] + values["dropped"]
                                             + len(held))
            values["invocations"] += accepted
            for delivery in held:
                calls = delivery.calls  # (read once: the delivery's thread may be counting a call)
                if calls:
                    values["attempts"] += calls
                    values["retries"] += calls - 1
            return DeliveryMetrics(**values)

    def lookup(self, delivery_id: str) -> tuple[Outcome, str] | None:
        """The outcome, ``None`` while pending; ``ResourceNotFoundError`` if unknown."""
        check_str("delivery_id", delivery_id)
        with self._lock:
            found = self._find(delivery_id)
            if found is None and delivery_id not in self._pending:
                raise self._unknown(delivery_id)
            return found

    def _unknown(self, delivery_id: str) -> ResourceNotFoundError:
        return ResourceNotFoundError(f"No delivery {delivery_id!r}: it was never accepted here, or its outcome is "
                                     f"no longer kept (outcome_retention={self.retention})")

    def get(self, delivery_id: str) -> tuple[Outcome, str] | None:
        with self._lock:
            return self._find(delivery_id)

    def count(self) -> int:
        with self._lock:
            return min(len(self._kept) // 2, self.retention)

    def ids(self) -> list[str]:
        with self._lock:
            return self._kept_ids()

    def subscribe(self, listener: OutcomeListener) -> Callable[[], None]:
        check_callable("listener", listener)
        with self._lock:
            self._listeners = [*(self._listeners or ()), listener]

        def unsubscribe() -> None:
            with self._lock:
                if self._listeners is not None and listener in self._listeners:
                    left = list(self._listeners)  # (a new list: end() reads the old one outside the lock)
                    left.remove(listener)
                    self._listeners = left or None

        return unsubscribe

    @contextlib.contextmanager
    def watching(self, delivery_id: str) -> Iterator[_Watch]:
        """Watch one delivery: its outcome is caught when it ends, kept or not.
        ``ResourceNotFoundError`` if it is neither pending nor kept."""
        check_str("delivery_id", delivery_id)
        with self._lock:
            kept = self._find(delivery_id)
            if kept is None and delivery_id not in self._pending:
                raise self._unknown(delivery_id)
            if self._watched is None:
                self._watched = {}
            watch = self._watched.setdefault(delivery_id, _Watch(kept))
            watch.watchers += 1
        try:
            yield watch
        finally:
            with self._lock:
                watch.watchers -= 1
                if not watch.watchers and self._watched is not None:
                    self._watched.pop(delivery_id, None)
                    if not self._watched:
                        self._watched = None

    def wait(self, watch: _Watch, delivery_id: str, timeout: float | None) -> tuple[Outcome, str]:
        with self._lock:
            if self._ended is None:
                self._ended = threading.Condition(self._lock)
            if not self._ended.wait_for(lambda: watch.outcome is not None, timeout):
                raise WaitTimeoutError(f"delivery {delivery_id} did not end within {timeout} s")
            assert watch.outcome is not None
            return watch.outcome


@dataclass
class _Watch:
    outcome: tuple[Outcome, str] | None
    watchers: int = 0


class Outcomes(Mapping[str, tuple[Outcome, str]]):
    """A live, read-only view of the outcomes kept (most recent last): lookups
    cost O(1) and nothing is copied."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def __getitem__(self, delivery_id: str) -> tuple[Outcome, str]:
        found = self._ledger.get(delivery_id) if isinstance(delivery_id, str) else None
        if found is None:
            raise KeyError(delivery_id)
        return found

    def __len__(self) -> int:
        return self._ledger.count()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ledger.ids())

    def __repr__(self) -> str:
        return f"<Outcomes: {len(self)} kept>"


class Accounted:
    """What functions and targets share: counters, outcomes, waiting for them."""

    clock: Clock
    _ledger: Ledger

    @property
    def metrics(self) -> DeliveryMetrics:
        """A snapshot of the counters."""
        return self._ledger.snapshot()

    def _check_handed_back(self, delivery_id: str) -> None:
        """A wait for a kept delivery that nothing here can end any more (the clock is
        shut down; it waits in its store) would never end: say so instead."""
        durable = getattr(self, "_durable", None)
        if durable is not None and self._ledger.is_pending(delivery_id) and durable.stuck(delivery_id):
            raise ClockClosedError(f"Delivery {delivery_id} waits in its store and the clock is shut down: the "
                                   "next process on the store makes it, not this one")

    @property
    def outcomes(self) -> Outcomes:
        """Delivery id -> ``(outcome, reason)`` for the most recent deliveries that
        ended (``outcome_retention`` of them), as a live read-only mapping."""
        return Outcomes(self._ledger)

    def outcome(self, delivery_id: str) -> tuple[Outcome, str] | None:
        """The outcome of one delivery, or ``None`` while it is pending
        (``ResourceNotFoundError`` if it is unknown or no longer kept)."""
        return self._ledger.lookup(delivery_id)

    def subscribe(self, listener: OutcomeListener) -> Callable[[], None]:
        """Call ``listener(delivery_id, outcome, reason)`` as each delivery ends (in the
        thread that ended it; its errors are logged).  Returns an unsubscribe function."""
        return self._ledger.subscribe(listener)

    def wait(self, delivery_id: str, timeout: float | None = None) -> tuple[Outcome, str]:
        """Wait for a delivery to end and return its outcome (even if the outcome is
        not kept).  On a ``ManualClock`` this runs the clock, timer by timer, until
        it has ended (``timeout`` does not apply: virtual time does not wait).
        ``WaitTimeoutError`` on timeout; ``ResourceNotFoundError`` for an unknown id."""
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        clock = self.clock
        with self._ledger.watching(delivery_id) as watch:
            if isinstance(clock, ManualClock):
                clock.run_until(lambda: watch.outcome is not None, twin="wait_async")
                if watch.outcome is not None:
                    return watch.outcome
                # still pending with nothing scheduled: its attempt is running in another thread
            if isinstance(clock, AsyncioClock) and clock._on_loop_thread():
                raise LoopBlockingError("wait() would block the clock's own event loop: use await wait_async(...)")
            self._check_handed_back(delivery_id)
            with clock._waiting():
                return self._ledger.wait(watch, delivery_id, timeout)

    async def wait_async(self, delivery_id: str, timeout: float | None = None) -> tuple[Outcome, str]:
        """The awaitable twin of ``wait``."""
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        clock = self.clock
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[Outcome, str]] = loop.create_future()

        def settle(found: tuple[Outcome, str]) -> None:
            if not done.done():
                done.set_result(found)

        def heard(ended_id: str, outcome: Outcome, reason: str) -> None:
            if ended_id == delivery_id:
                loop.call_soon_threadsafe(settle, (outcome, reason))

        with self._ledger.watching(delivery_id) as watch:
            if isinstance(clock, ManualClock):
                while watch.outcome is None and (due := clock.next_due()) is not None:
                    await clock.advance_to_async(due)
            if watch.outcome is not None:
                return watch.outcome
            self._check_handed_back(delivery_id)
            unsubscribe = self.subscribe(heard)
            try:
                if watch.outcome is not None:  # ended between the look and the subscription
                    return watch.outcome
                try:
                    return await asyncio.wait_for(done, timeout)
                except TimeoutError:
                    raise WaitTimeoutError(f"delivery {delivery_id} did not end within {timeout} s") from None
            finally:
                unsubscribe()
