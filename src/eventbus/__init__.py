"""eventbus: Amazon EventBridge's model, in process.

The public API lives here; everything else is private.
"""

from __future__ import annotations

from ._clock import AsyncioClock, Clock, ClockClosedError, ManualClock, SystemClock, Timer
from ._delivery import (
    DeliveryMetrics,
    Function,
    Message,
    NonRetryableError,
    Outcome,
    Queue,
    QueueFullError,
    RetryPolicy,
    Target,
    ThrottlingError,
)
from ._exceptions import EventBusError, InvalidEventPatternError, ValidationError
from ._pattern import (
    EventPattern,
    Matcher,
    MatchType,
    RuleIndex,
    anything_but,
    cidr,
    compile_pattern,
    equals_ignore_case,
    exact,
    exists,
    numeric,
    prefix,
    suffix,
    test_event_pattern,
    wildcard,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncioClock",
    "Clock",
    "ClockClosedError",
    "DeliveryMetrics",
    "EventBusError",
    "EventPattern",
    "Function",
    "InvalidEventPatternError",
    "ManualClock",
    "MatchType",
    "Matcher",
    "Message",
    "NonRetryableError",
    "Outcome",
    "Queue",
    "QueueFullError",
    "RetryPolicy",
    "RuleIndex",
    "SystemClock",
    "Target",
    "ThrottlingError",
    "Timer",
    "ValidationError",
    "anything_but",
    "cidr",
    "compile_pattern",
    "equals_ignore_case",
    "exact",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "test_event_pattern",
    "wildcard",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("eventbus."):
        try:
            _obj.__module__ = "eventbus"
        except (AttributeError, TypeError):  # pragma: no cover
            pass
del _name, _obj
