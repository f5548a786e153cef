"""Durable work: the store protocol behind what must survive a process (pending
deliveries and their retries, queue messages and their visibility, schedules
and their next fire times), kept in memory (the default), in a sqlite file, or
on NATS JetStream (``NatsStore``: needs ``pip install "eventbus[nats]"``)."""

from ._memory import MemoryStore
from ._nats import NatsStore
from ._protocol import DeadLetter, Enqueued, ScheduleClaim, Store, StoredItem, StoredSchedule, Work
from ._sqlite import SqliteStore

__all__ = ["DeadLetter", "Enqueued", "MemoryStore", "NatsStore", "ScheduleClaim", "SqliteStore", "Store", "StoredItem",
           "StoredSchedule", "Work"]
