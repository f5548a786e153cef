"""The work store protocol: what must survive a process, and nothing more.

A work store keeps records, leases and due times for the parts of eventbus
that promise at-least-once delivery: pending deliveries and their retries
(targets, functions), queue-like work, and schedules with their next fire
times.  The logic stays with eventbus: matching, transformation, retry and
backoff maths, schedule maths.  The store is told *what* to keep and *when*
it is due; it never decides either.

Times
    Every time is an aware ``datetime`` passed in by the caller (a store never
    reads a clock, so a ``ManualClock`` drives it as it drives everything
    else).  A naive ``datetime`` is refused with a ``ValidationError``.  Any
    time zone is accepted; times come back in UTC.  Stores keep integer
    microseconds since the epoch, so a time comes back exactly as it went in.

Work items
    An item lives in a named *queue* (for a target: one queue per target, or
    one shared queue with the target in the payload; the store does not
    care).  Its *payload* is JSON text, kept as given.  It is *due* at its
    ``not_before`` time.  ``claim`` leases due items to an *owner* until
    ``now + lease`` and hands each a fresh *claim token*; the holder then
    ends the item (``ack``, ``dead_letter``), hands it back for later
    (``retry``) or keeps it longer (``extend``).  Each of those takes the
    ``Work`` that ``claim`` returned and returns ``False``, writing nothing,
    when the token is stale: the item was claimed again by someone else after
    the lease ran out, handed back by ``retry``, released by ``sweep``, or
    has ended.  A holder whose lease ran out but whom nobody has displaced
    may still end the item.  So at any moment at most one claim on an item
    is honoured, and a crashed owner's items are taken over once its leases
    run out: delivery is at least once.

    An item is claimable when it is not leased and ``not_before <= now``, or
    when it is leased and its lease ran out (``lease_until <= now``).  Either
    way the time it became claimable is its *due time* (``not_before``, or
    ``lease_until`` for a lease that ran out); ``claim`` takes the earliest
    due first, ties in the order items were enqueued, and reports the due
    time as ``Work.not_before``.

Idempotency keys
    ``enqueue`` with a ``key`` adds the item only if no item with the same
    ``(queue, key)`` is remembered, and returns ``None`` otherwise.  A key is
    remembered while its item exists and, once the item ends (``ack`` or
    ``dead_letter``, at the time ``at`` they are given), for the store's
    ``key_retention`` more: it is forgotten by the first ``sweep(now)`` with
    ``now >= end + key_retention`` (not before a sweep: a store does not read
    the clock).  The wiring gives each delivery the key
    ``f"{event_id}/{target_arn}"``, so that a ``put_events`` retried after a
    crash does not deliver twice.

Listing and removing
    ``items(queue)`` lists a queue's items, leased or not, in enqueue order
    (``StoredItem``: what the store keeps of each, without its claim token):
    what a queue shows of its messages, and what a process finds again after
    a restart.  ``remove(queue, id, at=)`` ends one item whatever its claim
    (SQS's DeleteMessage by message id, a redrive), ``purge(queue, at=)``
    every item of a queue (PurgeQueue); a claim on a removed item goes stale.
    Neither keeps a dead-letter record.  A removed item's key is retained
    from ``at``, as an acked item's is: a removal is an end like any other,
    so a retried ``enqueue`` with the same key is still refused for the
    ``key_retention``.

Follow-ups
    ``ack``, ``dead_letter`` and ``schedule_fired`` take ``then``: items to
    enqueue in the same transaction as the change (a destination record, a
    dead-letter delivery, the deliveries of a schedule's fire).  Either the
    change and every follow-up are kept, or none is.  The ended item's key is
    retained before the follow-ups are added, so a follow-up with the same
    ``(queue, key)`` is skipped, as is any follow-up whose key is remembered.

Schedules
    A schedule is a name, opaque ``data`` (JSON text: its definition, kept for
    the restart case) and its next fire time (``None``: no more fires).
    ``claim_due_schedules`` leases those due so that one process fires each;
    ``schedule_fired`` records the next fire time and enqueues the fire's
    deliveries in one transaction.  ``put_schedule`` and ``delete_schedule``
    invalidate any claim on the schedule, so a fire computed from an old
    definition is refused.

Configuration
    Named records of JSON text that every process sharing the store reads:
    what a bus shares of its rules and targets.  ``write_config`` creates,
    replaces and deletes records (``None``: delete), all of one call or none
    (on NATS, in order: a crash part way keeps the first); ``configs(prefix)``
    lists those whose names start with ``prefix``.  ``config_version()`` is a
    number that grows by one with every record written or deleted (0 before
    the first): a reader that took up a version reads the records again only
    when it grew.  ``write_config`` returns the version just before its
    first change and after its last: a reader that had taken up ``before``
    has, with its own change, taken up ``after`` (``before`` is -1 when
    another process's change came between two of the call's own, on NATS).
    A store that reads another process's changes from a local index shows
    them, and their version, once their update arrives.

Bounds
    Every record a store keeps has an end: items end by ``ack``,
    ``dead_letter``, ``remove`` or ``purge``; keys are forgotten by ``sweep``;
    dead-letter records are kept until ``drop_dead_letters`` (the caller's
    retention policy); configuration records until ``write_config`` deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, runtime_checkable

from .._exceptions import ValidationError
from .._validate import check_int, check_seconds, check_str, wrong_type

__all__ = ["DeadLetter", "Enqueued", "ScheduleClaim", "Store", "StoredItem", "StoredSchedule", "Work"]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
LATEST: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // MICROSECOND  # the last time a datetime can hold
SWEEP_LIMIT: Final = 1000  # what one sweep() changes at most, by default
KEY_RETENTION: Final = timedelta(hours=24)  # EventBridge's longest retry window


def micros(name: str, value: object) -> int:
    """An aware ``datetime`` as integer microseconds since the epoch (UTC)."""
    if not isinstance(value, datetime):
        raise wrong_type(name, value, "<class 'datetime.datetime'>")
    if value.utcoffset() is None:
        raise ValidationError(f"{name} must be an aware datetime (with a tzinfo, such as datetime.UTC), "
                              f"not the naive {value.isoformat()}")
    return (value - EPOCH) // MICROSECOND


def as_datetime(us: int) -> datetime:
    """Microseconds since the epoch as an aware UTC ``datetime``."""
    return EPOCH + timedelta(microseconds=us)


def lease_micros(name: str, value: object) -> int:
    """A lease: a positive ``timedelta`` (at least a microsecond), in microseconds."""
    if not isinstance(value, timedelta):
        raise wrong_type(name, value, "<class 'datetime.timedelta'>")
    us = value // MICROSECOND
    if us < 1:
        raise ValidationError(f"{name} must be a positive timedelta, not {value!r}")
    return us


def lease_end(now: int, lease: int) -> int:
    until = now + lease
    if until > LATEST:
        raise ValidationError(f"now + lease is beyond the last time a datetime can hold ({as_datetime(LATEST)})")
    return until


def check_name(name: str, value: object) -> str:
    """A queue, owner, key or schedule name: non-empty text."""
    text = check_str(name, value)
    if not text:
        raise ValidationError(f"{name} must not be empty")
    return text


def check_limit(value: object) -> int:
    return check_int("limit", value, 1)


def check_retention(value: object) -> int:
    """The key retention (seconds or a ``timedelta``, at least 0) in microseconds."""
    if isinstance(value, timedelta):
        check_seconds("key_retention", value)
        return value // MICROSECOND
    return round(check_seconds("key_retention", value) * 1_000_000)


def check_work(value: object) -> Work:
    if not isinstance(value, Work):
        raise wrong_type("work", value, "<class 'eventbus.Work'>")
    return value


def check_works(value: object) -> list[tuple[Work, int]]:
    """``ack_many``'s works, each with the time its key is retained from."""
    if not isinstance(value, list | tuple):
        raise wrong_type("works", value, "<class 'list'>, <class 'tuple'>")
    return [(check_work(work), ended_at(work, None)) for work in value]


def check_then(value: object, name: str = "then") -> tuple[Enqueued, ...]:
    """Items to enqueue: a sequence of ``Enqueued`` (checked whole, before anything is written)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise wrong_type(name, value, "a sequence of eventbus.Enqueued")
    items = tuple(value)
    for item in items:
        if not isinstance(item, Enqueued):
            raise wrong_type(name, item, "<class 'eventbus.Enqueued'>")
    return items


def ended_at(work: Work, at: object) -> int:
    """When an item ended: ``at``, or when it was claimed."""
    return micros("at", work.claimed_at if at is None else at)


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    """An item to enqueue: given to ``enqueue_many`` and as a follow-up (``then``).
    Checked when built: ``queue`` and ``key`` non-empty text, ``payload`` text,
    ``not_before`` an aware ``datetime``."""

    queue: str
    payload: str
    not_before: datetime
    key: str | None = None
    _due: int = field(init=False, repr=False, compare=False)  # not_before in microseconds since the epoch

    def __post_init__(self) -> None:
        check_name("queue", self.queue)
        check_str("payload", self.payload)
        if self.key is not None:
            check_name("key", self.key)
        object.__setattr__(self, "_due", micros("not_before", self.not_before))


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """A claimed item, as ``claim`` returns it: the ticket its holder gives back to
    ``ack``, ``retry``, ``dead_letter`` or ``extend``.

    ``not_before`` is when the item became claimable for this claim (its
    ``not_before``, or when the lease it took over ran out); ``attempts``
    counts claims, this one included (the attempt the holder is about to
    make); ``claim`` is the token that makes this holder's calls count;
    ``claimed_at`` is the ``now`` given to ``claim``."""

    queue: str
    id: str
    payload: str
    key: str | None
    not_before: datetime
    attempts: int
    owner: str
    claim: str
    claimed_at: datetime
    lease_until: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredItem:
    """An item as ``items`` lists it.

    ``not_before`` is when it is due while free, and for a leased item when it
    became claimable for the claim it is under (as ``Work.not_before``);
    ``attempts`` counts claims; ``owner`` and ``lease_until`` are set while it
    is leased (a lease that ran out included, until the item is claimed again
    or swept), so it is claimable from ``lease_until`` if leased, else from
    ``not_before``.  The claim token is not shown: only a holder ends an item
    by its claim."""

    queue: str
    id: str
    payload: str
    key: str | None
    not_before: datetime
    attempts: int
    owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An item ended by ``dead_letter``: kept until ``drop_dead_letters``."""

    queue: str
    id: str
    payload: str
    attempts: int
    reason: str
    at: datetime
    key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleClaim:
    """A due schedule leased to ``owner`` until ``lease_until``: fire it at
    ``next_fire``, then give this back to ``schedule_fired``."""

    name: str
    next_fire: datetime
    data: str
    owner: str
    claim: str
    lease_until: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSchedule:
    """A schedule as a store keeps it (``owner`` and ``lease_until`` are set while
    a claim on it is held or has run out without being displaced)."""

    name: str
    next_fire: datetime | None
    data: str
    owner: str | None = None
    lease_until: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """What eventbus needs of a durable store (see the module's documentation for
    the model: items, claims, keys, follow-ups, schedules).  Every method is
    safe to call from several threads; ``SqliteStore`` also from several
    processes on one file.  After ``close()`` every method but ``close``
    raises ``ValidationError``."""

    @property
    def key_retention(self) -> timedelta:
        """How long an ended item's key is remembered (a setting of the store)."""
        ...

    # -- work items

    def enqueue(self, queue: str, payload: str, *, not_before: datetime, key: str | None = None) -> str | None:
        """Add an item due at ``not_before``; its id (text, unique in the store, never
        reused), or ``None`` (nothing added) when ``(queue, key)`` is remembered."""
        ...

    def enqueue_many(self, items: Sequence[Enqueued]) -> list[str | None]:
        """``enqueue`` for each, in order and in one transaction; the ids (``None``
        where a key was remembered, an earlier item of the same call included)."""
        ...

    def claim(self, queue: str, *, now: datetime, limit: int, lease: timedelta, owner: str) -> list[Work]:
        """Lease up to ``limit`` (>= 1) items of ``queue`` claimable at ``now``,
        earliest due first (ties in enqueue order): each gets ``lease_until =
        now + lease`` (``lease`` > 0), ``owner``, a fresh claim token and
        ``attempts + 1``.  An item whose lease ran out is claimable again: its
        holder's token goes stale."""
        ...

    def ack(self, work: Work, *, then: Sequence[Enqueued] = (), at: datetime | None = None) -> bool:
        """End the item (it is deleted; its key is retained from ``at``, by default
        ``work.claimed_at``) and enqueue ``then``, in one transaction.  ``False``,
        with nothing written, if the claim is stale."""
        ...

    def ack_many(self, works: Sequence[Work]) -> list[bool]:
        """``ack`` each (no follow-ups; each key retained from its ``claimed_at``),
        in order and in one transaction: a claimed batch settled at the cost of
        one commit.  Each answer is ``ack``'s (a work given twice: the second is
        stale)."""
        ...

    def retry(self, work: Work, *, not_before: datetime, payload: str | None = None) -> bool:
        """Hand the item back, claimable again at ``not_before`` (``attempts`` kept,
        the lease and its token dropped), with ``payload`` as its new payload if
        given (what the holder learnt: a delivery's retry count, its last
        error).  ``False``, with nothing written, if the claim is stale."""
        ...

    def dead_letter(self, work: Work, *, reason: str, then: Sequence[Enqueued] = (),
                    at: datetime | None = None) -> bool:
        """End the item, keep a ``DeadLetter`` of it (at ``at``, by default
        ``work.claimed_at``) and enqueue ``then``, in one transaction.  ``False``,
        with nothing written, if the claim is stale."""
        ...

    def extend(self, work: Work, *, until: datetime) -> bool:
        """Move the lease's end to ``until`` (the token stays valid).  ``False`` if
        the claim is stale."""
        ...

    def next_due(self, queue: str | None = None) -> datetime | None:
        """When the next item of ``queue`` (or of any queue) becomes claimable: the
        earliest ``not_before`` of items not leased and ``lease_until`` of leased
        ones (possibly in the past).  ``None`` when the queue holds nothing."""
        ...

    def sweep(self, now: datetime, *, limit: int = SWEEP_LIMIT) -> int:
        """Release leases that ran out by ``now`` (earliest ``lease_until`` first, ties
        in enqueue order), then forget keys whose retention ended by ``now``
        (earliest first, ties by queue then key): at most ``limit`` of the two
        together; returns how many.  A call returning ``limit`` may have left
        more.  A released item stays due at its ``lease_until`` and counts as
        ready; its old token is stale.  Claims work without sweeps (a run-out
        lease is claimable); sweeps keep ``counts`` true and keys bounded."""
        ...

    def counts(self, queue: str) -> dict[str, int]:
        """``{"ready": items not leased (due or not), "leased": items leased (run-out
        leases included until claimed again or swept), "dead": dead-letter records}``."""
        ...

    def items(self, queue: str, *, limit: int | None = None) -> list[StoredItem]:
        """The items of ``queue``, leased or not, in enqueue order: the first ``limit``
        (>= 1) of them if given."""
        ...

    def remove(self, queue: str, id: str, *, at: datetime) -> bool:
        """End the item ``id`` of ``queue`` whatever its claim: it is deleted, its key
        is retained from ``at`` and any claim on it goes stale.  ``False``, with
        nothing written, if ``queue`` holds no item ``id``."""
        ...

    def purge(self, queue: str, *, at: datetime) -> int:
        """``remove`` every item of ``queue`` (leased ones too), in one transaction;
        returns how many.  Its dead-letter records stay (``drop_dead_letters``)."""
        ...

    def dead_letters(self, queue: str, *, limit: int | None = None) -> list[DeadLetter]:
        """The dead-letter records of ``queue``, in the order they were written."""
        ...

    def drop_dead_letters(self, queue: str, *, before: datetime | None = None) -> int:
        """Forget the dead-letter records of ``queue`` written at a time before
        ``before`` (all of them without it); returns how many."""
        ...

    # -- schedules

    def put_schedule(self, name: str, next_fire: datetime | None, data: str) -> None:
        """Create or replace a schedule (``next_fire`` ``None``: no more fires).  A
        claim on it goes stale."""
        ...

    def delete_schedule(self, name: str) -> bool:
        """Forget a schedule (``False`` if there was none).  A claim on it goes stale."""
        ...

    def get_schedule(self, name: str) -> StoredSchedule | None:
        """The schedule kept under ``name``, if any."""
        ...

    def schedules(self) -> list[StoredSchedule]:
        """Every schedule kept, by name (the restart case: what to fire from)."""
        ...

    def claim_due_schedules(self, *, now: datetime, lease: timedelta, owner: str,
                            limit: int) -> list[ScheduleClaim]:
        """Lease up to ``limit`` schedules with ``next_fire <= now`` (and no lease, or
        one that ran out) to ``owner`` until ``now + lease``, earliest due first
        (a run-out lease is due at its end; ties by name)."""
        ...

    def schedule_fired(self, claim: ScheduleClaim, *, next_fire: datetime | None,
                       then: Sequence[Enqueued] = ()) -> bool:
        """Record the fire: the schedule's next fire time becomes ``next_fire``, its
        lease is dropped and ``then`` is enqueued, in one transaction.  ``False``,
        with nothing written, if the claim is stale (claimed again, replaced or
        deleted)."""
        ...

    def next_schedule_due(self) -> datetime | None:
        """When the next schedule becomes claimable (as ``next_due``), or ``None``."""
        ...

    # -- configuration

    def write_config(self, changes: Mapping[str, str | None]) -> tuple[int, int]:
        """Write each record (``None``: delete it; deleting one that is not there
        changes nothing), in one transaction; ``(the version before, the version
        after)``."""
        ...

    def configs(self, prefix: str = "") -> dict[str, str]:
        """The configuration records whose names start with ``prefix``, by name."""
        ...

    def config_version(self) -> int:
        """A number that grows by one with every record written or deleted (0 before
        the first)."""
        ...

    def close(self) -> None:
        """Release what the store holds open (idempotent)."""
        ...



def check_changes(value: object) -> dict[str, str | None]:
    """``write_config``'s changes: a mapping of names to text or ``None`` (checked
    whole, before anything is written)."""
    if not isinstance(value, Mapping):
        raise wrong_type("changes", value, "<class 'dict'>")
    out: dict[str, str | None] = {}
    for name, data in value.items():
        check_name("name", name)
        out[name] = None if data is None else check_str("data", data)
    return out
