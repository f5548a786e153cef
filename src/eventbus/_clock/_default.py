"""The clock an object uses when it is given none: ``use_clock``'s, else the process's.

A test sets one clock for everything it builds with ``with
eventbus.use_clock(ManualClock()) as clock:`` (also a decorator), so a
forgotten ``clock=`` cannot fall back to the wall clock in a virtual-time
test.  Outside any ``use_clock`` block, objects share one process-wide
``SystemClock``, created on first use (and again if it was shut down).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TypeVar

from .._exceptions import ValidationError
from .._validate import check_instance, short
from ._base import Clock
from ._threads import SystemClock

__all__ = ["default_clock", "resolve_clock", "use_clock"]

_current: ContextVar[Clock | None] = ContextVar("eventbus_clock", default=None)
_process: SystemClock | None = None
_lock = threading.Lock()


def default_clock() -> Clock:
    """The clock objects built now without ``clock=`` run on."""
    clock = _current.get()
    if clock is not None:
        return clock
    global _process
    with _lock:
        if _process is None or _process.closed:
            _process = SystemClock()
        return _process


def resolve_clock(clock: object) -> Clock:
    """``clock`` checked, or the default clock if it is ``None``."""
    if clock is None:
        return default_clock()
    checked: Clock = check_instance("clock", clock, Clock, "<class 'eventbus.Clock'>")
    now = checked.now()  # (the runtime does arithmetic on it: a custom clock's slip is caught here)
    if not isinstance(now, datetime) or now.utcoffset() != timedelta(0) or now.tzname() != "UTC":
        raise ValidationError(f"{type(checked).__name__}.now() must return an aware UTC datetime, "
                              f"not {short(now)}")
    return checked


C = TypeVar("C", bound=Clock)


@contextmanager
def use_clock(clock: C) -> Iterator[C]:
    """Within this block, objects built without ``clock=`` run on ``clock``.  The
    setting is a context variable: it holds in this thread and in asyncio tasks
    started inside the block, not in other threads."""
    token = _current.set(check_instance("clock", clock, Clock, "<class 'eventbus.Clock'>"))
    try:
        yield clock
    finally:
        _current.reset(token)
