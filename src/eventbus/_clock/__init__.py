"""Clocks: the only package that reads the time.

Every runtime object takes ``clock=`` and asks it for the time, for timers
and for background work.  ``Clock`` is the contract (see ``_base``); three
clocks implement it:

* ``ManualClock``: virtual time; nothing happens until it is moved.
* ``SystemClock``: wall time on daemon worker threads.
* ``AsyncioClock``: wall time on an asyncio event loop.
"""

from __future__ import annotations

from ._asyncio import AsyncioClock
from ._base import Callback, Clock, Timer, in_running_loop, is_async_callable, run_to_completion, stopwatch, to_seconds
from ._default import default_clock, resolve_clock, use_clock
from ._manual import ManualClock
from ._threads import SystemClock

__all__ = [
    "AsyncioClock",
    "Callback",
    "Clock",
    "ManualClock",
    "SystemClock",
    "Timer",
    "default_clock",
    "in_running_loop",
    "is_async_callable",
    "resolve_clock",
    "run_to_completion",
    "stopwatch",
    "to_seconds",
    "use_clock",
]
