"""An in-memory, SQS-like queue.

Usable as a target, a dead-letter queue, a failure destination and (later) a
pipe source.  Visibility timeouts run on the queue's clock: a received
message is invisible until ``now + visibility_timeout``, then visible again
(``receive_count`` goes up each time it is received).  With a redrive policy
(``dead_letter_queue`` and ``max_receive_count``) a message received more
than ``max_receive_count`` times moves to the dead-letter queue, as in SQS.

Capacity is bounded: ``send`` on a full queue raises ``QueueFullError``
(nothing is dropped without the sender knowing).  Storage sits behind
``_MemoryStore``, the interface a durable store will implement later.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .._clock import Clock, to_seconds
from .._exceptions import EventBusError, ValidationError
from ._runtime import default_clock

__all__ = ["Message", "Queue", "QueueFullError"]

_names = itertools.count(1)
_MOVING = datetime.max.replace(tzinfo=UTC)  # "invisible until moved"
_log = logging.getLogger("eventbus.delivery")


class QueueFullError(EventBusError):
    """``send`` on a queue holding ``capacity`` messages."""


@dataclass
class Message:
    """A message as ``receive`` hands it out (a copy: changing it changes nothing)."""

    message_id: str
    body: str
    attributes: dict[str, str]
    receive_count: int = 0
    sent_at: datetime | None = None
    receipt_handle: str = ""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Stored:
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at: datetime
    receive_count: int = 0
    visible_at: datetime | None = None  # None: visible now
    receipt_handle: str = field(default="")


class _MemoryStore:
    """Messages in send order.  (A durable store implements the same methods.)"""

    def __init__(self) -> None:
        self.items: OrderedDict[str, _Stored] = OrderedDict()

    def put(self, item: _Stored) -> None:
        self.items[item.message_id] = item

    def pop(self, message_id: str) -> _Stored | None:
        return self.items.pop(message_id, None)

    def __len__(self) -> int:
        return len(self.items)

    def scan(self) -> list[_Stored]:
        return list(self.items.values())


def _body_text(body: Any) -> str:
    if isinstance(body, str):
        return body
    if isinstance(body, (bytes, bytearray)):
        return body.decode("utf-8")
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Message body is not a string and not JSON-serialisable: {exc}") from None


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    if not attributes:
        return {}
    out = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(f"Message attribute names must be non-empty strings, not {key!r}")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


class Queue:
    """An in-memory, SQS-like queue (see the module notes).

    ``Queue(name=None, *, clock=None, capacity=100_000, visibility_timeout=30,
    dead_letter_queue=None, max_receive_count=None)``.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        clock: Clock | None = None,
        capacity: int = 100_000,
        visibility_timeout: float = 30,
        dead_letter_queue: Queue | None = None,
        max_receive_count: int | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        if capacity < 1:
            raise ValidationError("capacity must be at least 1")
        if (dead_letter_queue is None) != (max_receive_count is None):
            raise ValidationError("A redrive policy needs both dead_letter_queue and max_receive_count")
        if max_receive_count is not None and not 1 <= max_receive_count <= 1000:
            raise ValidationError("max_receive_count must be between 1 and 1000")
        self.name = name or f"queue-{next(_names)}"
        self.arn = f"arn:aws:sqs:{region}:{account}:{self.name}"
        self.clock = clock or default_clock()
        self.capacity = capacity
        self.visibility_timeout = to_seconds(visibility_timeout)
        self.dead_letter_queue = dead_letter_queue
        self.max_receive_count = max_receive_count
        self._store = _MemoryStore()
        self._lock = threading.Lock()
        self._waiters = threading.Condition(self._lock)

    def __repr__(self) -> str:
        return f"<Queue {self.name} messages={len(self)}>"

    def __len__(self) -> int:
        return len(self._store)

    def send(self, body: Any, attributes: Mapping[str, Any] | None = None) -> str:
        """Add a message; returns its id.  A non-string body is sent as JSON."""
        item = _Stored(str(uuid.uuid4()), _body_text(body), _attributes(attributes), self.clock.now())
        with self._lock:
            if len(self._store) >= self.capacity:
                raise QueueFullError(f"Queue {self.name} is full ({self.capacity} messages)")
            self._store.put(item)
            self._waiters.notify_all()
        return item.message_id

    def deliver(self, payload: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """The destination protocol: a queue takes a payload by sending it."""
        self.send(payload, attributes)

    def receive(self, max_messages: int = 1, visibility_timeout: float | None = None) -> list[Message]:
        """Up to ``max_messages`` (1-10) visible messages, oldest first; they stay
        invisible for ``visibility_timeout`` seconds unless deleted."""
        if not 1 <= max_messages <= 10:
            raise ValidationError("Value for parameter MaxNumberOfMessages is invalid. "
                                  "Reason: Must be between 1 and 10, if provided.")
        timeout = self.visibility_timeout if visibility_timeout is None else to_seconds(visibility_timeout)
        now = self.clock.now()
        out: list[Message] = []
        redrive: list[_Stored] = []
        with self._lock:
            for item in self._store.scan():
                if len(out) >= max_messages:
                    break
                if item.visible_at is not None and item.visible_at > now:
                    continue
                if self.max_receive_count is not None and item.receive_count >= self.max_receive_count:
                    # moved below; hidden from other receivers meanwhile, and kept
                    # here until the dead-letter queue has it
                    item.visible_at = _MOVING
                    redrive.append(item)
                    continue
                item.receive_count += 1
                item.visible_at = now + timedelta(seconds=timeout)
                item.receipt_handle = str(uuid.uuid4())
                out.append(Message(item.message_id, item.body, dict(item.attributes), item.receive_count,
                                   item.sent_at, item.receipt_handle))
        for item in redrive:  # outside our lock: the dead-letter queue has its own
            assert self.dead_letter_queue is not None
            try:
                self.dead_letter_queue.send(item.body, item.attributes)
            except QueueFullError as exc:  # kept here, not lost; tried again on the next receive
                _log.warning("eventbus: queue %s could not redrive message %s: %s", self.name, item.message_id, exc)
                with self._lock:
                    item.visible_at = None
                continue
            with self._lock:
                self._store.pop(item.message_id)
        return out

    def delete(self, message: Message | str) -> bool:
        """Delete a received message; ``False`` if it is gone, or if it was received
        again since (a stale receipt, as SQS: the newer receiver owns it).  A
        message id (``str``) deletes unconditionally."""
        with self._lock:
            if isinstance(message, Message):
                item = self._store.items.get(message.message_id)
                if item is None or (message.receipt_handle and item.receipt_handle != message.receipt_handle):
                    return False
                message_id = message.message_id
            else:
                message_id = message
            return self._store.pop(message_id) is not None

    def change_visibility(self, message: Message, visibility_timeout: float) -> None:
        """Make a received message visible again after ``visibility_timeout`` seconds."""
        with self._lock:
            item = self._store.items.get(message.message_id)
            if item is None or item.receipt_handle != message.receipt_handle:
                raise ValidationError("ReceiptHandle is invalid: the message was deleted or received again")
            item.visible_at = self.clock.now() + timedelta(seconds=to_seconds(visibility_timeout))

    def messages(self) -> list[Message]:
        """Every message held (visible or not), without receiving them (for tests)."""
        with self._lock:
            return [Message(i.message_id, i.body, dict(i.attributes), i.receive_count, i.sent_at, i.receipt_handle)
                    for i in self._store.scan()]

    def purge(self) -> int:
        """Delete every message; returns how many there were."""
        with self._lock:
            count = len(self._store)
            self._store = _MemoryStore()
            return count
