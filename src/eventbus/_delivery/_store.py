"""Where a ``Queue`` keeps its messages: the ``QueueStore`` protocol, the in-memory
store, and ``WorkQueueStore``, the protocol over a durable work store.

A store keeps records and their visibility; the queue keeps the rules (SQS's
limits, the clock, the redrive policy).  A store never reads a clock: every
time it needs comes in as an argument.  The same contract test
(``tests/delivery/test_store_contract.py``) runs against every store.

The in-memory store answers ``claim`` in time proportional to what it
returns (amortised): never-received messages wait in a FIFO, messages whose
visibility timeout ran out wait in a heap ordered by send order, and
messages in flight wait in a heap ordered by the time they become visible.
Entries are invalidated lazily by a per-message generation number instead
of being searched for.

``WorkQueueStore(store, queue)`` keeps each message as one item of the work
store (``eventbus._store``) in the named queue, so messages, their receive
counts and their visibility survive the process with a ``SqliteStore``:

- the payload is the JSON of the message id, body, attributes and send time
  (and ``moves``: how many moves to the dead-letter queue failed); the item
  is due at its send time;
- a receive is ``Store.claim`` with the lease ``hide_until - now``: the
  store's ``attempts`` is the receive count (less the failed moves), and a
  message whose lease ran out is claimable again, which is SQS's visibility
  timeout.  Changing visibility is ``extend``; a release is ``retry`` due at
  once; a delete with a receipt handle is ``ack`` of that claim (so it
  counts while nobody received the message since), without one ``remove``;
  ``clear`` is ``purge``;
- a receipt handle names one claim of this process: the adapter maps each
  message it received to its latest handle and claim (one entry per message,
  dropped when the message ends here; entries for messages another process
  ended are pruned once they outnumber the messages held).  A handle from a
  process that died is simply stale, as in SQS when a message is received
  again;
- a message due to move to the dead-letter queue is claimed like the others
  and hidden for ``MOVE_LEASE``: if the process dies before the move is
  done, a later receive moves it (at least once: the dead-letter queue may
  get it twice).

The order differs from the memory store's: the work store hands out the
message that became visible first (ties in send order), where the memory
store hands out the oldest sent.  SQS promises neither (best-effort order);
never-received messages leave in send order in both.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from .._store import Enqueued, Store, StoredItem, Work
from .._store._protocol import EPOCH, MICROSECOND, check_name
from .._validate import check_instance

__all__ = ["MemoryQueueStore", "QueueStore", "StoredMessage", "WorkQueueStore"]

_MOVING = datetime.max.replace(tzinfo=UTC)  # hidden while the queue moves it to its dead-letter queue
MOVE_LEASE: Final = timedelta(minutes=5)  # WorkQueueStore: how long a message being moved stays hidden


@dataclass(slots=True)
class StoredMessage:
    """One message as a store keeps it (stores hand out copies)."""

    message_id: str
    body: str
    attributes: dict[str, str] | None
    sent_at: datetime
    receive_count: int = 0
    visible_at: datetime | None = None  # None: visible now
    received_at: datetime | None = None  # when it was last received
    receipt_handle: str = ""
    seq: int = field(default=0, compare=False)  # send order, set by the store
    gen: int = field(default=0, compare=False)  # bumped whenever its place changes

    def copy(self) -> StoredMessage:
        return replace(self, attributes=None if self.attributes is None else dict(self.attributes))


@runtime_checkable
class QueueStore(Protocol):
    """The operations a ``Queue`` needs from its storage."""

    def __len__(self) -> int:
        """Messages held, in flight included."""
        ...

    def add(self, message: StoredMessage) -> None:
        """Keep a new message (visible at once)."""
        ...

    def claim(self, now: datetime, limit: int, hide_until: datetime, new_handle: Callable[[], str],
              redrive_after: int | None) -> tuple[list[StoredMessage], list[StoredMessage]]:
        """Up to ``limit`` messages visible at ``now``: each gets a new receipt handle,
        ``receive_count + 1``, ``received_at = now`` and stays hidden until
        ``hide_until`` (``hide_until <= now``: visible again at once).  Which
        visible messages go first is the store's order (see the module notes);
        never-received ones go in send order.  A visible message already received
        ``redrive_after`` times is not returned but hidden and listed second, for
        the queue to move (then ``delete`` it, or ``release`` it if the move
        failed; a release does not count as a receive): from then on its last
        receipt handle is stale.  Copies."""
        ...

    def delete(self, message_id: str, receipt_handle: str | None) -> bool:
        """Remove a message; with a receipt handle, only if it is the latest one."""
        ...

    def hide(self, message_id: str, receipt_handle: str, until: datetime, now: datetime) -> bool:
        """Change when a message in flight becomes visible (``until <= now``: visible
        now).  ``False``, changing nothing, if the handle is not its latest, if it
        is being moved, or if its visibility ran out by ``now`` (it is visible
        again: no longer in flight under that handle, as SQS answers).  Also
        ``False`` for a message the store does not hold."""
        ...

    def release(self, message_id: str) -> None:
        """Make a message visible again now (a move to the dead-letter queue failed)."""
        ...

    def clear(self) -> int:
        """Remove every message; returns how many there were."""
        ...

    def snapshot(self) -> list[StoredMessage]:
        """Copies of every message, in send order (for tests and inspection).  A
        ``visible_at`` of ``None`` or not after the present means visible."""
        ...


class MemoryQueueStore:
    """The default ``QueueStore``: in memory, ``claim`` in O(returned) amortised."""

    def __init__(self) -> None:
        self._items: dict[str, StoredMessage] = {}
        self._fresh: deque[tuple[int, StoredMessage]] = deque()  # never received, in send order
        self._returned: list[tuple[int, int, StoredMessage]] = []  # (seq, gen, m): visible again
        self._hidden: list[tuple[datetime, int, int, StoredMessage]] = []  # (visible_at, seq, gen, m): in flight
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, message: StoredMessage) -> None:
        message.seq = next(self._seq)
        self._items[message.message_id] = message
        self._fresh.append((message.gen, message))

    def _live(self, gen: int, message: StoredMessage) -> bool:
        return message.gen == gen and self._items.get(message.message_id) is message

    def _next_visible(self) -> StoredMessage | None:
        """The oldest visible message, taken out of its waiting line."""
        while self._fresh and not self._live(*self._fresh[0]):
            self._fresh.popleft()
        while self._returned and not self._live(self._returned[0][1], self._returned[0][2]):
            heapq.heappop(self._returned)
        if self._fresh and (not self._returned or self._fresh[0][1].seq < self._returned[0][0]):
            return self._fresh.popleft()[1]
        if self._returned:
            return heapq.heappop(self._returned)[2]
        return None

    def claim(self, now: datetime, limit: int, hide_until: datetime, new_handle: Callable[[], str],
              redrive_after: int | None) -> tuple[list[StoredMessage], list[StoredMessage]]:
        while self._hidden and self._hidden[0][0] <= now:  # visibility ran out: back in line
            _, seq, gen, message = heapq.heappop(self._hidden)
            if self._live(gen, message):
                message.gen += 1
                message.visible_at = None
                heapq.heappush(self._returned, (seq, message.gen, message))
        claimed: list[StoredMessage] = []
        redrive: list[StoredMessage] = []
        while len(claimed) < limit and (found := self._next_visible()) is not None:
            message = found
            message.gen += 1
            if redrive_after is not None and message.receive_count >= redrive_after:
                message.visible_at = _MOVING  # out of every line until deleted or released
                message.receipt_handle = ""  # (the move takes it from its last receiver)
                redrive.append(message.copy())
                continue
            message.receive_count += 1
            message.visible_at = hide_until
            message.received_at = now
            message.receipt_handle = new_handle()
            heapq.heappush(self._hidden, (hide_until, message.seq, message.gen, message))
            claimed.append(message.copy())
        self._compact()
        return claimed, redrive

    def _compact(self) -> None:
        """Drop stale heap entries once they outnumber the live ones."""
        if len(self._hidden) > 2 * len(self._items) + 64:
            self._hidden = [e for e in self._hidden if self._live(e[2], e[3])]
            heapq.heapify(self._hidden)
        if len(self._returned) > 2 * len(self._items) + 64:
            self._returned = [e for e in self._returned if self._live(e[1], e[2])]
            heapq.heapify(self._returned)

    def delete(self, message_id: str, receipt_handle: str | None) -> bool:
        message = self._items.get(message_id)
        if message is None or (receipt_handle is not None and message.receipt_handle != receipt_handle):
            return False
        del self._items[message_id]
        message.gen += 1
        return True

    def hide(self, message_id: str, receipt_handle: str, until: datetime, now: datetime) -> bool:
        message = self._items.get(message_id)
        if message is None or message.receipt_handle != receipt_handle or message.visible_at == _MOVING \
                or message.visible_at is None or message.visible_at <= now:  # (visible again: not in flight)
            return False
        message.gen += 1
        message.visible_at = until
        heapq.heappush(self._hidden, (until, message.seq, message.gen, message))
        self._compact()
        return True

    def release(self, message_id: str) -> None:
        message = self._items.get(message_id)
        if message is not None:
            message.gen += 1
            message.visible_at = None
            heapq.heappush(self._returned, (message.seq, message.gen, message))

    def clear(self) -> int:
        count = len(self._items)
        for message in self._items.values():
            message.gen += 1
        self._items.clear()
        self._fresh.clear()
        self._returned.clear()
        self._hidden.clear()
        return count

    def snapshot(self) -> list[StoredMessage]:
        return [m.copy() for m in self._items.values()]

    def get(self, message_id: str) -> StoredMessage | None:
        """A copy of one message, or ``None`` if the store does not hold it (in O(1);
        not part of the ``QueueStore`` protocol: callers check for it)."""
        found = self._items.get(message_id)
        return None if found is None else found.copy()


# -- the protocol over a work store --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Record:
    """A message as its item's payload keeps it."""

    message_id: str
    body: str
    attributes: dict[str, str] | None
    sent_at: datetime
    moves: int = 0  # moves to the dead-letter queue that failed (each claimed it once)

    def payload(self) -> str:
        kept: dict[str, Any] = {"id": self.message_id, "body": self.body, "attributes": self.attributes,
                                "sent_at": self.sent_at.astimezone(UTC).isoformat()}
        if self.moves:
            kept["moves"] = self.moves
        return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def _record(payload: str) -> _Record | None:
    """The message an item's payload keeps (``None``: not one this adapter wrote)."""
    try:
        kept = json.loads(payload)
        message_id, body, attributes = kept["id"], kept["body"], kept["attributes"]
        sent_at = datetime.fromisoformat(kept["sent_at"])
        moves = kept.get("moves", 0)
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(message_id, str) and isinstance(body, str) and sent_at.utcoffset() is not None
            and type(moves) is int and moves >= 0
            and (attributes is None or (isinstance(attributes, dict)
                                        and all(isinstance(v, str) for v in attributes.values())))):
        return None
    return _Record(message_id, body, attributes, sent_at, moves)


@dataclass(slots=True)
class _Claim:
    """This process's latest claim on a message: its receipt handle and the store's ticket."""

    work: Work
    handle: str
    visible_at: datetime  # the end of the lease, as this process last set it
    moving: bool = False


_owners = itertools.count(1)


class WorkQueueStore:
    """A ``QueueStore`` over a work ``Store``: ``WorkQueueStore(store, queue)``, the
    messages kept as the items of ``queue`` (see the module notes).  What
    ``Queue(store=<a work Store>)`` uses, with the queue ``f"sqs:{queue.arn}"``.
    Not locked: the queue serialises its calls."""

    def __init__(self, store: Store, queue: str) -> None:
        self.store: Store = check_instance("store", store, Store, "an eventbus store (SqliteStore, MemoryStore)")
        self.queue = check_name("queue", queue)
        self._owner = f"{self.queue}/{os.getpid()}/{next(_owners)}"  # (a label: claims are told apart by token)
        self._claims: dict[str, _Claim] = {}  # message id -> this process's latest claim on it
        self._prune_at = 64
        self._latest = EPOCH  # the latest time given (no key is kept, so only for the record)

    def __repr__(self) -> str:
        return f"<WorkQueueStore {self.queue!r} on {self.store!r}>"

    def _saw(self, when: datetime) -> None:
        self._latest = max(self._latest, when)

    def __len__(self) -> int:
        counts = self.store.counts(self.queue)
        return counts["ready"] + counts["leased"]

    def add(self, message: StoredMessage) -> None:
        item = self.item(message)
        self.store.enqueue(item.queue, item.payload, not_before=item.not_before)
        self._saw(message.sent_at)

    def item(self, message: StoredMessage) -> Enqueued:
        """The work item that keeps a new message (what ``add`` writes; also written
        as a follow-up of another item's end, in the same transaction: a delivery's
        dead letter)."""
        record = _Record(message.message_id, message.body, message.attributes, message.sent_at)
        return Enqueued(queue=self.queue, payload=record.payload(), not_before=message.sent_at)

    def claim(self, now: datetime, limit: int, hide_until: datetime, new_handle: Callable[[], str],
              redrive_after: int | None) -> tuple[list[StoredMessage], list[StoredMessage]]:
        self._saw(now)
        # a claim needs a lease: with hide_until <= now, each message is claimed for a microsecond (so
        # that this call does not claim it twice) and made visible at hide_until once the call is done
        lease = max(hide_until - now, MICROSECOND)
        claimed: list[StoredMessage] = []
        redrive: list[StoredMessage] = []
        while len(claimed) < limit:
            wanted = limit - len(claimed)
            works = self.store.claim(self.queue, now=now, limit=wanted, lease=lease, owner=self._owner)
            for work in works:
                record = _record(work.payload)
                if record is None:  # not a message: kept aside, with why, never handed out
                    self.store.dead_letter(work, reason="unreadable: not a message this queue wrote")
                    continue
                received = work.attempts - 1 - record.moves  # before this claim
                if redrive_after is not None and received >= redrive_after:
                    if self.store.extend(work, until=now + MOVE_LEASE):
                        self._claims[record.message_id] = _Claim(work, "", now + MOVE_LEASE, moving=True)
                        redrive.append(StoredMessage(record.message_id, record.body, record.attributes,
                                                     record.sent_at, received, now + MOVE_LEASE))
                    continue
                handle = new_handle()
                self._claims[record.message_id] = _Claim(work, handle, hide_until)
                claimed.append(StoredMessage(record.message_id, record.body, record.attributes, record.sent_at,
                                             received + 1, hide_until, now, handle))
            if len(works) < wanted:
                break
        if hide_until <= now:
            for message in claimed:
                self.store.extend(self._claims[message.message_id].work, until=hide_until)
        self._prune()
        return claimed, redrive

    def _prune(self) -> None:
        """Forget claims on messages no longer held (ended by another process) once
        the claims outnumber a bound: amortised O(1) per claim."""
        if len(self._claims) <= self._prune_at:
            return
        held = {item.id for item in self.store.items(self.queue)}
        self._claims = {k: c for k, c in self._claims.items() if c.work.id in held}
        self._prune_at = 2 * len(self._claims) + 64

    def _find(self, message_id: str) -> StoredItem | None:
        """The item keeping a message this process holds no claim on (a listing: O(n))."""
        for item in self.store.items(self.queue):
            record = _record(item.payload)
            if record is not None and record.message_id == message_id:
                return item
        return None

    def delete(self, message_id: str, receipt_handle: str | None) -> bool:
        mine = self._claims.get(message_id)
        if receipt_handle is not None:
            if mine is None or mine.moving or mine.handle != receipt_handle:
                return False
            del self._claims[message_id]
            return self.store.ack(mine.work, at=self._latest)  # (False: received again elsewhere since)
        if mine is not None:
            del self._claims[message_id]
            return self.store.remove(self.queue, mine.work.id, at=self._latest)
        found = self._find(message_id)
        return found is not None and self.store.remove(self.queue, found.id, at=self._latest)

    def hide(self, message_id: str, receipt_handle: str, until: datetime, now: datetime) -> bool:
        self._saw(now)
        mine = self._claims.get(message_id)
        if mine is None or mine.handle != receipt_handle or mine.moving or mine.visible_at <= now:
            return False
        if not self.store.extend(mine.work, until=until):  # (ended or taken over elsewhere)
            del self._claims[message_id]
            return False
        mine.visible_at = until
        return True

    def release(self, message_id: str) -> None:
        mine = self._claims.pop(message_id, None)
        if mine is None:
            return
        payload = None
        record = _record(mine.work.payload)
        if mine.moving and record is not None:  # the failed move's claim is not a receive
            payload = replace(record, moves=record.moves + 1).payload()
        self.store.retry(mine.work, not_before=mine.work.claimed_at, payload=payload)

    def clear(self) -> int:
        self._claims.clear()
        return self.store.purge(self.queue, at=self._latest)

    def snapshot(self) -> list[StoredMessage]:
        out: list[StoredMessage] = []
        for item in self.store.items(self.queue):
            record = _record(item.payload)
            if record is None:
                continue
            mine = self._claims.get(record.message_id)
            if mine is not None and mine.work.id != item.id:
                mine = None
            out.append(StoredMessage(record.message_id, record.body, record.attributes, record.sent_at,
                                     item.attempts - record.moves, item.lease_until,
                                     None if mine is None else mine.work.claimed_at,
                                     "" if mine is None else mine.handle, seq=len(out)))
        return out
