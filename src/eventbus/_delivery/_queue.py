"""An SQS-like queue.

Usable as a target, a dead-letter queue, a failure destination and (later) a
pipe source.  Visibility timeouts run on the queue's clock: a received
message is invisible until ``now + visibility_timeout``, then visible again
(``receive_count`` goes up each time it is received).  With a redrive policy
(``dead_letter_queue`` and ``max_receive_count``) a message received
``max_receive_count`` times moves to the dead-letter queue on the next
receive, as in SQS.

Capacity is bounded: ``send`` on a full queue raises ``QueueFullError``
(nothing is dropped without the sender knowing).  Messages live in a
``QueueStore`` (``_store.py``): in memory by default, or in a work store
(``store=SqliteStore(path)``, wrapped in a ``WorkQueueStore`` under the
queue name ``f"sqs:{arn}"``), where they survive the process: a queue of the
same name and account opened again on the same file finds its messages,
their receive counts and their visibility.  Receipt handles are not kept:
those handed out before a restart are stale.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._clock import resolve_clock
from .._exceptions import QueueFullError, ValidationError
from .._store import Enqueued, Store
from .._validate import (
    ACCOUNT,
    REGION,
    STORE_OBJECT,
    Sealed,
    check_instance,
    check_int,
    check_name,
    check_not_class,
    short,
    wrong_type,
)
from ._destinations import Watched, check_same_clock
from ._outcomes import log
from ._payload import loads, to_attributes, to_text, wire_text
from ._store import MemoryQueueStore, QueueStore, StoredMessage, WorkQueueStore

__all__ = ["Message", "Queue"]

_names = itertools.count(1)
MAX_VISIBILITY = 43_200  # seconds (12 hours), SQS's limit
_BAD_CHARACTER = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Message:
    """A message as ``receive`` hands it out (a copy: changing it changes nothing)."""

    message_id: str
    body: str
    attributes: dict[str, str]
    receive_count: int = 0
    sent_at: datetime | None = None
    receipt_handle: str = ""

    def json(self) -> Any:
        """The body parsed as JSON (``ValidationError`` if it is not JSON)."""
        return loads(self.body, "message body")

    def __repr__(self) -> str:
        return (f"Message(message_id={self.message_id!r}, body={short(repr(self.body), 60)}, "
                f"attributes={short(repr(self.attributes), 60)}, receive_count={self.receive_count})")


def _check_characters(text: str) -> None:
    if _BAD_CHARACTER.search(text):
        raise ValidationError("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
                              "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")


def _message(stored: StoredMessage) -> Message:
    return Message(stored.message_id, stored.body, stored.attributes or {}, stored.receive_count, stored.sent_at,
                   stored.receipt_handle)


def _visibility(value: object, what: str = "VisibilityTimeout") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(what, value, "<class 'int'>")
    if not 0 <= value <= MAX_VISIBILITY:  # (NaN fails both)
        raise ValidationError(f"Value {short(value)} for parameter {what} is invalid. Reason: Must be between 0 "
                              f"and {MAX_VISIBILITY}, if provided.")
    return float(value)


class Queue(Watched, Sealed):
    """An SQS-like queue (see the module notes).

    ``Queue(name=None, *, clock=None, capacity=100_000, visibility_timeout=30,
    dead_letter_queue=None, max_receive_count=None, region="us-east-1",
    account="123456789012", seed=None, store=None)``.  Settings are
    read-only once built.  ``store``: a ``QueueStore``, or a work store
    (``SqliteStore``, ``MemoryStore``) to keep the messages in; ``queue.store``
    is the ``QueueStore`` in use (a ``WorkQueueStore`` for a work store).  On a
    work store the message ids depend on what it holds as well as on the seed,
    so that a queue opened again does not repeat the ids of the one before.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        clock: object = None,
        capacity: int = 100_000,
        visibility_timeout: float = 30,
        dead_letter_queue: Queue | None = None,
        max_receive_count: int | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        seed: int | None = None,
        store: QueueStore | Store | None = None,
    ) -> None:
        if name is None:
            name = f"queue-{next(_names)}"
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,80}", name):
            raise ValidationError("Can only include alphanumeric characters, hyphens, or underscores. "
                                  "1 to 80 in length")
        self.name = name
        self.clock = resolve_clock(clock)
        self.capacity = check_int("capacity", capacity, 1)
        self.visibility_timeout = _visibility(visibility_timeout)
        if (dead_letter_queue is None) != (max_receive_count is None):
            raise ValidationError("A redrive policy needs both dead_letter_queue and max_receive_count")
        if dead_letter_queue is not None:
            check_instance("dead_letter_queue", dead_letter_queue, Queue, "<class 'eventbus.Queue'>")
            check_same_clock(self.clock, dead_letter_queue, "dead_letter_queue", "Queue")
            if isinstance(max_receive_count, bool) or not isinstance(max_receive_count, int) \
                    or not 1 <= max_receive_count <= 1000:
                raise ValidationError(f"Value {{\"maxReceiveCount\":{short(max_receive_count)}}} for parameter "
                                      "RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: "
                                      f"{short(max_receive_count)}, valid values are from 1 to 1000 both inclusive.")
        self.dead_letter_queue = dead_letter_queue
        self.max_receive_count = max_receive_count
        self.region = check_name("region", region, REGION)
        self.account = check_name("account", account, ACCOUNT)
        self.arn = f"arn:aws:sqs:{self.region}:{self.account}:{self.name}"
        self.seed = seed
        self._rng = self.clock.random() if seed is None else random.Random(check_int("seed", seed, 0))
        self.store: QueueStore
        check_not_class("store", store, STORE_OBJECT)
        if store is None:
            self.store = MemoryQueueStore()
        elif isinstance(store, QueueStore):
            self.store = store
        elif isinstance(store, Store):  # one concept: where the messages are kept
            self.store = WorkQueueStore(store, f"sqs:{self.arn}")
        else:
            raise wrong_type("store", store, "a QueueStore, or a work store (SqliteStore, MemoryStore)")
        # on a work store, ids sit beside other processes' (a seeded clock would draw theirs): drawn at random
        self._shared = isinstance(self.store, WorkQueueStore)
        self._store = self.store
        self._lock = threading.Lock()
        self._sealed = True

    def __repr__(self) -> str:
        return f"<Queue {self.name} messages={len(self)}>"

    def __len__(self) -> int:
        return len(self._store)

    def _new_id(self) -> str:
        if self._shared:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def send(self, body: Any, attributes: Mapping[str, Any] | None = None) -> str:
        """Add a message; returns its id.  ``body``: a ``str`` as is, ``bytes`` as
        UTF-8, anything else as compact JSON."""
        return self._send(wire_text(body, "MessageBody"), attributes)

    def deliver(self, payload: Any, attributes: Mapping[str, Any] | None = None) -> None:
        """The destination protocol: a JSON value, sent as its JSON text (so a
        ``str`` arrives as a quoted JSON string, as from an EventBridge target)."""
        self._send(to_text(payload, "payload"), attributes)

    def deliver_text(self, text: str, attributes: Mapping[str, Any] | None = None) -> None:
        """The destination protocol's text form: ``text`` becomes the message body
        as it is (what an EventBridge target puts on an SQS queue)."""
        self._send(text, attributes)

    def _message(self, body: str, attributes: Mapping[str, Any] | None) -> StoredMessage:
        """A new message, checked as SQS checks one."""
        if not body:
            raise ValidationError("The request must contain the parameter MessageBody.")
        _check_characters(body)
        checked = to_attributes(attributes, "MessageAttributes")
        for value in (checked or {}).values():
            _check_characters(value)
        return StoredMessage(self._new_id(), body, checked, self.clock.now())

    def _item_in(self, store: object, body: str, attributes: Mapping[str, Any] | None) -> Enqueued | None:
        """The work item that keeps a new message, when this queue keeps its messages
        in ``store`` (then another item's end may write it in its own transaction:
        a kept delivery's dead letter); ``None`` otherwise, or when the queue is full."""
        kept = self._store
        if not isinstance(kept, WorkQueueStore) or kept.store is not store:
            return None
        message = self._message(body, attributes)
        if len(kept) >= self.capacity:
            return None  # (sent the usual way: QueueFullError)
        return kept.item(message)

    def _sent(self) -> None:
        """Tell the watchers (a pipe) that a message was added."""
        for watcher in self._watchers:
            watcher()

    def _send(self, body: str, attributes: Mapping[str, Any] | None) -> str:
        message = self._message(body, attributes)
        with self._lock:
            if len(self._store) >= self.capacity:
                raise QueueFullError(f"Queue {self.name} is full ({self.capacity} messages)")
            self._store.add(message)
            watchers = self._watchers
        for watcher in watchers:
            watcher()
        return message.message_id

    def receive(self, max_messages: int = 1, visibility_timeout: float | None = None) -> list[Message]:
        """Up to ``max_messages`` (1-10) visible messages, oldest first (on a work
        store: the one visible longest first); they stay invisible for
        ``visibility_timeout`` seconds (0-43,200) unless deleted."""
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or not 1 <= max_messages <= 10:
            raise ValidationError(f"Value {short(max_messages)} for parameter MaxNumberOfMessages is invalid. "
                                  "Reason: Must be between 1 and 10, if provided.")
        timeout = self.visibility_timeout if visibility_timeout is None else _visibility(visibility_timeout)
        now = self.clock.now()
        with self._lock:
            claimed, redrive = self._store.claim(now, max_messages, now + timedelta(seconds=timeout),
                                                 self._new_id, self.max_receive_count)
        for stored in redrive:  # outside our lock: the dead-letter queue has its own
            self._redrive(stored)
        return [_message(m) for m in claimed]

    def _redrive(self, stored: StoredMessage) -> None:
        dlq = self.dead_letter_queue
        assert dlq is not None
        try:
            dlq._send(stored.body, stored.attributes)
        except QueueFullError as exc:  # kept here, not lost; tried again on a later receive
            log.warning("eventbus: queue %s could not redrive message %s: %s", self.name, stored.message_id,
                        str(exc))
            with self._lock:
                self._store.release(stored.message_id)
            return
        with self._lock:
            self._store.delete(stored.message_id, None)

    def delete(self, message: Message | str) -> bool:
        """Delete a received message; ``False`` if it is gone, or if it was received
        again since (a stale receipt, as in SQS: the newer receiver owns it).  A
        message id (``str``) deletes unconditionally."""
        if isinstance(message, Message):
            message_id, handle = message.message_id, message.receipt_handle or None
        elif isinstance(message, str):
            message_id, handle = message, None
        else:
            raise wrong_type("message", message, "<class 'eventbus.Message'>, <class 'str'>")
        with self._lock:
            return self._store.delete(message_id, handle)

    def change_visibility(self, message: Message, visibility_timeout: float) -> None:
        """Make a received message visible again after ``visibility_timeout`` seconds
        (0-43,200).  The message must still be in flight under this receipt: the
        latest one, and its visibility not yet run out (a message visible again
        is not hidden by an old receipt)."""
        check_instance("message", message, Message, "<class 'eventbus.Message'>")
        timeout = _visibility(visibility_timeout)
        now = self.clock.now()
        with self._lock:
            if not self._store.hide(message.message_id, message.receipt_handle, now + timedelta(seconds=timeout),
                                    now):
                raise ValidationError(f"Value {message.receipt_handle} for parameter ReceiptHandle is invalid. "
                                      "Reason: Message does not exist or is not available for visibility "
                                      "timeout change.")

    def messages(self) -> list[Message]:
        """Every message held (visible or not), without receiving them (for tests)."""
        with self._lock:
            return [_message(m) for m in self._store.snapshot()]

    def purge(self) -> int:
        """Delete every message; returns how many there were."""
        with self._lock:
            return self._store.clear()
