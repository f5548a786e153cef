"""Where a ``Queue`` keeps its messages: the ``QueueStore`` protocol and the in-memory store.

A store keeps records and their visibility; the queue keeps the rules (SQS's
limits, the clock, the redrive policy).  A store never reads a clock: every
time it needs comes in as an argument.  A durable store (sqlite, next on
the roadmap) implements the same protocol, and the same contract test
(``tests/delivery/test_store_contract.py``) runs against every store.

The in-memory store answers ``claim`` in time proportional to what it
returns (amortised): never-received messages wait in a FIFO, messages whose
visibility timeout ran out wait in a heap ordered by send order, and
messages in flight wait in a heap ordered by the time they become visible.
Entries are invalidated lazily by a per-message generation number instead
of being searched for.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["MemoryQueueStore", "QueueStore", "StoredMessage"]

_MOVING = datetime.max.replace(tzinfo=UTC)  # hidden while the queue moves it to its dead-letter queue


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
        """Up to ``limit`` messages visible at ``now``, oldest first: each gets a new
        receipt handle, ``receive_count + 1``, ``received_at = now`` and stays hidden
        until ``hide_until``.  A visible message already received ``redrive_after``
        times is not returned but hidden and listed second, for the queue to move
        (then ``delete`` it, or ``release`` it if the move failed).  Copies."""
        ...

    def delete(self, message_id: str, receipt_handle: str | None) -> bool:
        """Remove a message; with a receipt handle, only if it is the latest one."""
        ...

    def hide(self, message_id: str, receipt_handle: str, until: datetime) -> bool:
        """Change when a received message becomes visible; ``False`` if the handle is stale."""
        ...

    def release(self, message_id: str) -> None:
        """Make a message visible again now (a move to the dead-letter queue failed)."""
        ...

    def clear(self) -> int:
        """Remove every message; returns how many there were."""
        ...

    def snapshot(self) -> list[StoredMessage]:
        """Copies of every message, in send order (for tests and inspection)."""
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

    def hide(self, message_id: str, receipt_handle: str, until: datetime) -> bool:
        message = self._items.get(message_id)
        if message is None or message.receipt_handle != receipt_handle or message.visible_at == _MOVING:
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
