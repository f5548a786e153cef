"""The delivery runtime: queues, retry policies, dead letters, Lambda-style functions.

Every later part (bus targets, schedules, pipes) delivers through this layer.
It sits below the bus: it imports the clock and the exceptions, never the bus.
"""

from __future__ import annotations

from ._function import Function, InvocationRecord
from ._metrics import DeliveryMetrics, Outcome
from ._queue import Message, Queue, QueueFullError
from ._retry import NonRetryableError, RetryPolicy, ThrottlingError
from ._target import Target

__all__ = [
    "DeliveryMetrics",
    "Function",
    "InvocationRecord",
    "Message",
    "NonRetryableError",
    "Outcome",
    "Queue",
    "QueueFullError",
    "RetryPolicy",
    "Target",
    "ThrottlingError",
]
