"""The one small protocol every destination speaks: ``deliver(payload, attributes)``.

Queues and functions implement it (later, event buses too); any other
callable is called with the payload alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from .._exceptions import ValidationError

__all__ = ["Destination", "as_destination", "describe"]


@runtime_checkable
class Destination(Protocol):
    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None: ...


DeliverFn = Callable[[Any, Mapping[str, str] | None], None]


def as_destination(target: Any, what: str) -> DeliverFn:
    """``target`` as a deliver function; ``what`` names the parameter in errors."""
    if isinstance(target, Destination):
        return target.deliver
    if callable(target):
        def call(payload: Any, attributes: Mapping[str, str] | None = None) -> None:
            target(payload)

        return call
    raise ValidationError(f"{what} must be a Queue, a Function, an event bus or a callable, not {target!r}")


def describe(target: Any) -> str:
    """An ARN-like name for a destination (used in records and DLQ attributes)."""
    arn = getattr(target, "arn", None)
    if isinstance(arn, str):
        return arn
    name = getattr(target, "__qualname__", None) or type(target).__name__
    return f"python:{getattr(target, '__module__', '?')}.{name}"
