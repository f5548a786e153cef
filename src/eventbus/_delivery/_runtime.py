"""The process-wide default clock, created on first use."""

from __future__ import annotations

import threading

from .._clock import Clock, SystemClock

__all__ = ["default_clock"]

_default: Clock | None = None
_lock = threading.Lock()


def default_clock() -> Clock:
    """The shared ``SystemClock`` that runtime objects use when given no clock."""
    global _default
    with _lock:
        if _default is None:
            _default = SystemClock()
        return _default
