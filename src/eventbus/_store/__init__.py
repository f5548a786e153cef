"""Durable work: the store protocol behind what must survive a process (pending
deliveries and their retries, queue messages and their visibility, schedules
and their next fire times), kept in memory (the default) or in a sqlite file."""

from ._memory import MemoryStore
from ._protocol import DeadLetter, Enqueued, ScheduleClaim, Store, StoredItem, StoredSchedule, Work
from ._sqlite import SqliteStore

__all__ = ["DeadLetter", "Enqueued", "MemoryStore", "ScheduleClaim", "SqliteStore", "Store", "StoredItem",
           "StoredSchedule", "Work"]
