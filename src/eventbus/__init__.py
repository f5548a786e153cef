"""eventbus: Amazon EventBridge's model, in process.

The public API lives here; everything else is private.
"""

from __future__ import annotations

from . import samples
from ._archive import Archive, ArchiveStore, MemoryArchiveStore, Replay, SqliteArchiveStore
from ._bus import (
    Attempt,
    EventBus,
    Journey,
    PutEventsRequestEntry,
    PutEventsResponse,
    PutEventsResultEntry,
    Rule,
    TargetDelivery,
)
from ._clock import AsyncioClock, Clock, ManualClock, SystemClock, Timer, use_clock
from ._delivery import (
    DeliveryMetrics,
    Destination,
    Function,
    InvocationRecord,
    LambdaContext,
    MemoryQueueStore,
    Message,
    Outcome,
    Outcomes,
    Queue,
    QueueStore,
    RetryPolicy,
    StoredMessage,
    Target,
)
from ._exceptions import (
    ClockClosedError,
    ConflictError,
    EventBusError,
    IllegalStatusError,
    InvalidEventPatternError,
    InvalidFilterPatternError,
    InvalidScheduleExpressionError,
    LimitExceededError,
    LoopBlockingError,
    NonRetryableError,
    QueueFullError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ThrottlingError,
    UnsupportedOperationError,
    ValidationError,
    WaitTimeoutError,
)
from ._pattern import (
    EventPattern,
    Explanation,
    FieldCheck,
    Matcher,
    MatchType,
    PatternBranch,
    RuleIndex,
    anything_but,
    cidr,
    compile_filter_pattern,
    compile_pattern,
    equals_ignore_case,
    exact,
    exists,
    explain,
    numeric,
    prefix,
    suffix,
    test_event_pattern,
    wildcard,
)
from ._pipes import Pipe, Stream, StreamRecord
from ._schedule import Schedule, ScheduleExpression, ScheduleGroup, Scheduler, parse_schedule_expression
from ._schemas import Registry, RegistrySummary, Schema, SchemaRegistry, SchemaSummary, SchemaVersionSummary
from ._store import DeadLetter, Enqueued, MemoryStore, ScheduleClaim, SqliteStore, Store, StoredSchedule, Work
from ._template import LoadedTemplate, load_template
from ._transform import transform_input
from ._world import World

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "ArchiveStore",
    "AsyncioClock",
    "Attempt",
    "Clock",
    "ClockClosedError",
    "ConflictError",
    "DeadLetter",
    "DeliveryMetrics",
    "Destination",
    "Enqueued",
    "EventBus",
    "EventBusError",
    "EventPattern",
    "Explanation",
    "FieldCheck",
    "Function",
    "IllegalStatusError",
    "InvalidEventPatternError",
    "InvalidFilterPatternError",
    "InvalidScheduleExpressionError",
    "InvocationRecord",
    "Journey",
    "LambdaContext",
    "LimitExceededError",
    "LoadedTemplate",
    "LoopBlockingError",
    "ManualClock",
    "MatchType",
    "Matcher",
    "MemoryArchiveStore",
    "MemoryQueueStore",
    "MemoryStore",
    "Message",
    "NonRetryableError",
    "Outcome",
    "Outcomes",
    "PatternBranch",
    "Pipe",
    "PutEventsRequestEntry",
    "PutEventsResponse",
    "PutEventsResultEntry",
    "Queue",
    "QueueFullError",
    "QueueStore",
    "Registry",
    "RegistrySummary",
    "Replay",
    "ResourceAlreadyExistsError",
    "ResourceNotFoundError",
    "RetryPolicy",
    "Rule",
    "RuleIndex",
    "Schedule",
    "ScheduleClaim",
    "ScheduleExpression",
    "ScheduleGroup",
    "Scheduler",
    "Schema",
    "SchemaRegistry",
    "SchemaSummary",
    "SchemaVersionSummary",
    "ServiceQuotaExceededError",
    "SqliteArchiveStore",
    "SqliteStore",
    "Store",
    "StoredMessage",
    "StoredSchedule",
    "Stream",
    "StreamRecord",
    "SystemClock",
    "Target",
    "TargetDelivery",
    "ThrottlingError",
    "Timer",
    "UnsupportedOperationError",
    "ValidationError",
    "WaitTimeoutError",
    "Work",
    "World",
    "anything_but",
    "cidr",
    "compile_filter_pattern",
    "compile_pattern",
    "equals_ignore_case",
    "exact",
    "exists",
    "explain",
    "load_template",
    "numeric",
    "parse_schedule_expression",
    "prefix",
    "samples",
    "suffix",
    "test_event_pattern",
    "transform_input",
    "use_clock",
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
