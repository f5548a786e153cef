"""The one small protocol every destination speaks: ``deliver(payload, attributes)``.

Queues and functions implement it (later, event buses too); any other
callable is called with the payload alone.  ``payload`` is a JSON value,
a fresh copy for each call; ``attributes`` is a fresh ``dict`` of string
message attributes, or ``None``.

A destination that has a ``clock`` must run on the same clock as the
object that hands it work: objects that work together share one clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeGuard, runtime_checkable

from .._clock import Clock, is_async_callable
from .._exceptions import ResourceNotFoundError, ValidationError
from .._validate import wrong_type

__all__ = ["DeliverFn", "DeliverText", "Destination", "DestinationLike", "Elsewhere", "Watched", "as_destination",
           "check_same_clock", "describe", "speaks_protocol", "text_sender"]


@runtime_checkable
class Destination(Protocol):
    """What a target, a dead-letter queue or a failure destination hands payloads to.

    ``deliver(payload, attributes)`` takes a JSON value and optional string
    attributes; it may raise to refuse (the sender retries or records the
    failure).  ``Queue`` and ``Function`` implement it.
    """

    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None, /) -> object: ...


DestinationLike = Destination | Callable[[Any], object]
DeliverFn = Callable[[Any, Mapping[str, str] | None], Any]
DeliverText = Callable[[str, Mapping[str, str] | None], Any]


class Watched:
    """Tells its watchers (a pipe reading it) when something arrives: each is called
    with no arguments, outside the owner's lock.  The owner sets ``_lock``."""

    _watchers: tuple[Callable[[], object], ...] = ()
    _lock: Any

    def _watch(self, watcher: Callable[[], object]) -> None:
        with self._lock:
            self._watchers = (*self._watchers, watcher)

    def _unwatch(self, watcher: Callable[[], object]) -> None:
        with self._lock:
            self._watchers = tuple(w for w in self._watchers if w is not watcher)


def text_sender(target: object) -> DeliverText | None:
    """``target.deliver_text`` if it has one: a destination that takes the text as
    delivered (a queue keeps it as the message body, byte for byte) saves a
    parse and a dump on every call."""
    fn = getattr(target, "deliver_text", None)
    return fn if callable(fn) and not is_async_callable(fn) else None

def speaks_protocol(target: object) -> TypeGuard[Destination]:
    """Whether ``target`` has a ``deliver`` method: ``isinstance(target, Destination)``
    answered directly (a runtime protocol check costs tens of microseconds)."""
    return callable(getattr(target, "deliver", None))


_VALID = "a Queue, a Function, an object with deliver(payload, attributes), or a callable"


def check_same_clock(clock: Clock, other: object, what: str, owner: str) -> None:
    """Refuse ``other`` (named ``what``) if it runs on a clock other than ``clock``;
    a bound method is checked by its object (``queue.send`` runs on ``queue``'s)."""
    theirs = getattr(other, "clock", None)
    if not isinstance(theirs, Clock):
        theirs = getattr(getattr(other, "__self__", None), "clock", None)
    if isinstance(theirs, Clock) and theirs is not clock:
        raise ValidationError(f"{what} runs on {theirs!r}, but this {owner} runs on {clock!r}: objects that work "
                              "together must share one clock (pass the same clock=, or build them all inside "
                              "`with eventbus.use_clock(clock):`)")


def as_destination(target: object, what: str, clock: Clock, owner: str, *,
                   allow_async: bool = False) -> tuple[DeliverFn, bool]:
    """``target`` as a deliver function, and whether it is ``async``."""
    if speaks_protocol(target):
        check_same_clock(clock, target, what, owner)
        fn: DeliverFn = target.deliver
        is_async = is_async_callable(target.deliver)
    elif callable(target):
        check_same_clock(clock, target, what, owner)

        def call(payload: Any, attributes: Mapping[str, str] | None = None) -> Any:
            return target(payload)

        fn, is_async = call, is_async_callable(target)
    else:
        raise wrong_type(what, target, _VALID)
    if is_async and not allow_async:
        raise ValidationError(f"{what} must be synchronous (a Queue, a Function or a plain function), "
                              f"not the async callable {target!r}")
    return fn, is_async


class Elsewhere:
    """The destination of a target shared through a store (``EventBus(store=...)``)
    that this process does not know: it has the ARN, and delivers nothing here
    (its deliveries wait in the store for a process that knows it)."""

    __slots__ = ("arn",)

    def __init__(self, arn: str) -> None:
        self.arn = arn

    def __repr__(self) -> str:
        return f"<destination {self.arn} (in another process)>"

    def deliver(self, payload: Any, attributes: Mapping[str, Any] | None = None) -> None:
        raise ResourceNotFoundError(f"The destination {self.arn} is not known in this process: register it with "
                                    "EventBus.register_destinations(...)")


def describe(target: Any) -> str:
    """An ARN-like name for a destination (used in records and DLQ attributes)."""
    arn = getattr(target, "arn", None)
    if isinstance(arn, str):
        return arn
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return f"python:{getattr(target, '__module__', '?')}.{name}"
