"""Exceptions raised by eventbus: the whole tree lives in this module.

The tree::

    EventBusError                        base of every error eventbus raises on purpose
    ├── ValidationError(ValueError)      a bad input or setting: AWS would answer ValidationException
    │   └── InvalidEventPatternError     an event pattern AWS would refuse (InvalidEventPatternException)
    ├── ResourceNotFoundError(LookupError)
    │                                    no such rule, function or delivery (ResourceNotFoundException)
    ├── LimitExceededError               a quota would be exceeded: rules per bus, targets per rule
    │   │                                (LimitExceededException)
    │   └── ServiceQuotaExceededError    a Scheduler quota: schedules, schedule groups
    │                                    (ServiceQuotaExceededException)
    ├── ConflictError                    the name is taken, or the change conflicts (ConflictException)
    │   └── ResourceAlreadyExistsError   an archive or replay name is taken (ResourceAlreadyExistsException)
    ├── IllegalStatusError               a replay cancelled when it is not running (IllegalStatusException)
    ├── ClockClosedError(RuntimeError)   work given to a clock after shutdown()
    ├── LoopBlockingError(RuntimeError)  a synchronous call that would block the running event loop;
    │                                    the message names the awaitable twin to use instead
    ├── WaitTimeoutError(TimeoutError)   wait() gave up before the delivery ended
    ├── QueueFullError                   send() on a queue holding ``capacity`` messages
    ├── ThrottlingError                  a function's reserved concurrency is used up (TooManyRequestsException)
    ├── NonRetryableError                raised by a handler or destination: skip the retries
    └── UnsupportedOperationError(NotImplementedError)
                                         a boto3 call eventbus.testing.mock_aws does not answer

Where AWS has words for an error, the message is AWS's text, so that a user
can search for it; otherwise it names the parameter or construct at fault.
``docs/errors.md`` says when each one is raised.
"""

from __future__ import annotations

__all__ = [
    "ClockClosedError",
    "ConflictError",
    "EventBusError",
    "IllegalStatusError",
    "InvalidEventPatternError",
    "InvalidFilterPatternError",
    "InvalidScheduleExpressionError",
    "LimitExceededError",
    "LoopBlockingError",
    "NonRetryableError",
    "QueueFullError",
    "ResourceAlreadyExistsError",
    "ResourceNotFoundError",
    "ServiceQuotaExceededError",
    "ThrottlingError",
    "UnsupportedOperationError",
    "ValidationError",
    "WaitTimeoutError",
]


class EventBusError(Exception):
    """Base class of every error eventbus raises on purpose."""


class ValidationError(EventBusError, ValueError):
    """An input failed validation (AWS: ``ValidationException``)."""


class InvalidEventPatternError(ValidationError):
    """An event pattern is not valid (AWS: ``InvalidEventPatternException``).

    ``str(error)`` is AWS's message without the parser-location suffix that
    AWS appends, e.g. ``Event pattern is not valid. Reason: Empty arrays are
    not allowed``.  ``reason`` holds the text after ``Reason:``; ``location``
    holds a parser location in AWS's style (``at [Source: ...; line: L,
    column: C]``) for malformed JSON text, else ``None``.
    """

    def __init__(self, reason: str, *, location: str | None = None) -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"Event pattern is not valid. Reason: {reason}")


class InvalidScheduleExpressionError(ValidationError):
    """A schedule expression is not valid (AWS: ``ValidationException``), in
    AWS's words for the API: ``Invalid Schedule Expression <expr>.`` from
    EventBridge Scheduler, ``Parameter ScheduleExpression is not valid.`` for
    a scheduled rule."""


class InvalidFilterPatternError(InvalidEventPatternError):
    """A filter pattern of an SQS event-source mapping or a pipe is not valid
    (AWS: ``InvalidParameterValueException``).

    ``str(error)`` is AWS's whole message for these APIs, ``Invalid filter
    pattern definition.``; ``reason`` and ``location`` say what is wrong, as
    for ``InvalidEventPatternError`` (AWS does not say).
    """

    def __init__(self, reason: str, *, location: str | None = None) -> None:
        self.reason = reason
        self.location = location
        ValidationError.__init__(self, "Invalid filter pattern definition.")


class ResourceNotFoundError(EventBusError, LookupError):
    """Something looked up by name or id does not exist (AWS: ``ResourceNotFoundException``).

    ``error_code`` is ``NO_RESOURCE``, the code EventBridge writes to a
    dead-letter queue when a target's resource is gone (it is not retried).
    """

    error_code = "NO_RESOURCE"

    def __str__(self) -> str:  # LookupError's KeyError-style quoting is not wanted
        return str(self.args[0]) if self.args else ""


class LimitExceededError(EventBusError):
    """A quota would be exceeded (AWS: ``LimitExceededException``), e.g. a sixth
    target on a rule: ``The requested resource exceeds the maximum number allowed.``"""

    error_code = "LimitExceededException"


class ServiceQuotaExceededError(LimitExceededError):
    """A quota of EventBridge Scheduler would be exceeded (AWS:
    ``ServiceQuotaExceededException``): schedules per scheduler, schedule groups."""

    error_code = "ServiceQuotaExceededException"


class ConflictError(EventBusError):
    """A create found the name taken, or a change conflicts with the resource's
    state (AWS: ``ConflictException``), e.g. ``Schedule <name> already exists.``"""

    error_code = "ConflictException"


class ResourceAlreadyExistsError(ConflictError):
    """EventBridge's word for a taken name: an archive or a replay (AWS:
    ``ResourceAlreadyExistsException``), e.g. ``Archive <name> already exists.``"""

    error_code = "ResourceAlreadyExistsException"


class IllegalStatusError(EventBusError):
    """The resource is not in a state that allows the operation: cancelling a
    replay that has ended (AWS: ``IllegalStatusException``)."""

    error_code = "IllegalStatusException"


class ClockClosedError(EventBusError, RuntimeError):
    """Work was given to a clock after ``shutdown()``."""


class LoopBlockingError(EventBusError, RuntimeError):
    """A synchronous call was made where it would block the running event loop
    (or wait for itself); the message names the awaitable twin to use."""


class WaitTimeoutError(EventBusError, TimeoutError):
    """``wait()`` gave up before the delivery ended."""


class QueueFullError(EventBusError):
    """``send`` on a queue holding ``capacity`` messages."""


class ThrottlingError(EventBusError):
    """A function's reserved concurrency is used up (AWS: ``TooManyRequestsException``,
    ``Rate Exceeded.``).  Asynchronous invocations retry throttles with backoff."""

    error_code = "THROTTLING"


class NonRetryableError(EventBusError):
    """Raise from a handler or target to skip retries: the delivery goes straight
    to the dead-letter queue (or failure destination).  ``error_code`` becomes the
    DLQ's ``ERROR_CODE`` (AWS samples: ``NO_PERMISSIONS``, ``NO_RESOURCE``)."""

    def __init__(self, message: str, *, error_code: str = "NO_RESOURCE") -> None:
        super().__init__(message)
        self.error_code = error_code


class UnsupportedOperationError(EventBusError, NotImplementedError):
    """A boto3 call ``eventbus.testing.mock_aws`` does not answer (a service or an
    operation it does not model).  Raised, never answered with an empty
    response, so a test never passes on an answer nobody computed."""
