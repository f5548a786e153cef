"""The delivery runtime: queues, retry policies, dead letters, Lambda-style functions.

Every later part (bus targets, schedules, pipes) delivers through this layer.
It sits below the bus: it imports the clock and the exceptions, never the bus.
"""

from __future__ import annotations

from ._destinations import Destination
from ._function import Function, InvocationRecord, LambdaContext
from ._outcomes import DeliveryMetrics, Outcome, Outcomes
from ._payload import MAX_DEPTH
from ._queue import Message, Queue
from ._retry import RetryPolicy
from ._store import MemoryQueueStore, QueueStore, StoredMessage
from ._target import Target

__all__ = [
    "MAX_DEPTH",
    "DeliveryMetrics",
    "Destination",
    "Function",
    "InvocationRecord",
    "LambdaContext",
    "MemoryQueueStore",
    "Message",
    "Outcome",
    "Outcomes",
    "Queue",
    "QueueStore",
    "RetryPolicy",
    "StoredMessage",
    "Target",
]
