"""One schedule on a clock: a single timer at a time, for the next fire.

``Recurring`` turns an expression into timers.  It keeps one timer on the
clock (the clock's heap orders every schedule's next fire, so nothing scans
all schedules and nothing polls: a real clock's timer thread sleeps until the
earliest one is due).  When the timer runs, it sets the timer for the fire
after, then hands the fire on.  Scheduler schedules and scheduled rules both
run on it.

Fire times (``nominal`` times) come from the expression, bounded by a start
(inclusive) and an end (exclusive).  A flexible window delays each fire by a
random offset in ``[0, window)``; the nominal time is what the target is
told (``<aws.scheduler.scheduled-time>``).

Missed fires: a timer that runs late (the process was suspended, or the
machine slept: real clocks wait on monotonic time, so the wall clock has
moved on) fires once, for the latest nominal time whose window has passed,
and counts the others as missed; the next timer is for the first fire still
to come.  A ``ManualClock`` runs every timer at its own time, so moving it
forward a day fires every fire of the day.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from .._clock import Clock, Timer
from .._exceptions import ClockClosedError
from ._expression import ScheduleExpression

__all__ = ["Recurring"]

log = logging.getLogger("eventbus.schedule")

_TICK: Final = timedelta(microseconds=1)
_DAWN: Final = datetime(1, 1, 2, tzinfo=UTC)  # before any at(...) time
Fire = Callable[[datetime, int], None]
"""What a fire does: called with the nominal time and the number of fires it
stands in for that were missed."""


class Recurring:
    """The timer of one schedule.  ``start()`` sets the first timer; ``cancel()``
    stops it.  ``anchor`` is where ``rate(...)`` counts from (its first fire, or,
    with ``after_anchor``, one period after it).  Not thread-safe on its own:
    its owner calls ``start`` and ``cancel`` under its lock, and ``fire`` runs
    on the clock (one timer at a time, so never twice at once)."""

    __slots__ = ("after_anchor", "anchor", "clock", "end", "expression", "fire", "label", "missed", "nominal",
                 "rng", "start_at", "timer", "window", "zone")

    def __init__(self, clock: Clock, expression: ScheduleExpression, zone: tzinfo, fire: Fire, *,
                 anchor: datetime, start: datetime | None = None, end: datetime | None = None,
                 window: float = 0.0, rng: random.Random | None = None, after_anchor: bool = False,
                 label: str = "schedule") -> None:
        self.clock = clock
        self.expression = expression
        self.zone = zone
        self.fire = fire
        self.anchor = anchor
        self.after_anchor = after_anchor
        self.start_at = start
        self.end = end
        self.window = timedelta(seconds=window)
        self.rng = rng
        self.label = label
        self.timer: Timer | None = None
        self.nominal: datetime | None = None  # the fire the timer is set for
        self.missed = 0  # fires that ran late and were folded into a later one

    # -- fire times -------------------------------------------------------------
    def next_after(self, after: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first nominal fire time after ``after`` (or at it, ``inclusive``),
        within the start and end, or ``None``."""
        if self.start_at is not None and after < self.start_at:
            after, inclusive = self.start_at, True
        expression = self.expression
        if expression.rate is not None:
            step = expression.rate
            first = self.anchor + step if self.after_anchor else self.anchor
            if after < first or (inclusive and after == first):
                when: datetime | None = first
            else:
                periods = (after - first) // step + 1
                when = first + step * periods
                if inclusive and when - step == after:
                    when = after
        else:
            when = expression.next_fire_time(after - _TICK if inclusive else after, tz=self.zone)
        if when is None or (self.end is not None and when >= self.end):
            return None
        return when.astimezone(UTC)  # (an instant: a repeated wall time compares as its own)

    # -- the timer ---------------------------------------------------------------
    def start(self, now: datetime) -> datetime | None:
        """Set the timer for the first fire at or after ``now``; returns its nominal
        time (``None``: no fire left).  A one-time ``at(...)`` whose time has passed
        fires at once.  ``ClockClosedError`` if the clock is shut."""
        if self.expression.at is not None:
            when = self.expression.next_fire_time(_DAWN, tz=self.zone)
            return self._set(None if when is None else when.astimezone(UTC))
        return self._set(self.next_after(now, inclusive=True))

    def cancel(self) -> None:
        timer, self.timer, self.nominal = self.timer, None, None
        if timer is not None:
            timer.on_abandon = None  # (cancelling on purpose is not news)
            timer.cancel()

    def _set(self, nominal: datetime | None) -> datetime | None:
        self.nominal = nominal
        if nominal is None:
            self.timer = None
            return None
        due = nominal
        if self.window and self.rng is not None:
            due = nominal + self.window * self.rng.random()
        timer = Timer(max(due, self.clock.now()), self, self.label, self._abandoned, is_async=False, standing=True)
        self.clock._schedule(timer)
        self.timer = timer
        return nominal

    def _abandoned(self, reason: str) -> None:
        log.info("eventbus: %s: no more fires: %s", self.label, reason)
        self.timer = self.nominal = None

    def __call__(self) -> None:
        """The timer ran: set the next one, then fire (once, for the latest fire
        whose window has passed, if it ran late)."""
        nominal = self.nominal
        if nominal is None:  # (cancelled as it started)
            return
        now = self.clock.now()
        latest, missed = nominal, 0
        following = self.next_after(nominal)
        if following is not None and following + self.window <= now:  # late by whole fires
            if self.expression.rate is not None:
                step = self.expression.rate
                skip = (now - self.window - following) // step
                candidate = following + step * skip
                if self.end is None or candidate < self.end:
                    missed, latest, following = 1 + skip, candidate, self.next_after(candidate)
            while following is not None and following + self.window <= now:
                missed += 1
                latest, following = following, self.next_after(following)
            self.missed += missed
            log.warning("eventbus: %s: the fire due at %s ran at %s: %d later fire(s) missed, fired once for %s",
                        self.label, nominal.isoformat(), now.isoformat(), missed, latest.isoformat())
        try:
            self._set(following)
        except ClockClosedError:
            self.timer = self.nominal = None
        self.fire(latest, missed)
