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
moved on) fires once, for the latest fire due by then, and counts the
others as missed; the next timer is for the first fire still to come.  A
``ManualClock`` runs every timer at its own time, so moving it forward a day
fires every fire of the day.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from .._clock import Clock, Timer
from .._exceptions import ClockClosedError, ValidationError
from ._expression import ScheduleExpression

__all__ = ["Recurring"]

log = logging.getLogger("eventbus.schedule")

_TICK: Final = timedelta(microseconds=1)
_GRACE: Final = timedelta(seconds=1)  # a real clock's timer runs a little late: not late enough to fold
Fire = Callable[[datetime, int], None]
"""What a fire does: called with the nominal time and the number of fires it
stands in for that were missed."""


class Recurring:
    """The timer of one schedule.  ``prepare(now)`` works out the first fire (and
    refuses a schedule that cannot fire); ``arm()`` sets the timer; ``cancel()``
    stops it.  ``anchor`` is where ``rate(...)`` counts from (its first fire,
    or, with ``after_anchor``, one period after it).  ``lock`` is the owner's:
    the timer's bookkeeping and ``cancel`` take it, so a schedule deleted or
    updated from another thread while its timer runs leaves no timer behind;
    the fire itself runs outside it.

    With a flexible window each fire gets its own offset, drawn independently;
    when the window is longer than the time between fires, several are drawn
    ahead (every fire whose nominal time comes before the earliest drawn one's
    due time), so that they fire in the order of their due times."""

    __slots__ = ("after_anchor", "anchor", "clock", "drawn", "end", "expression", "fire", "fired_until", "horizon",
                 "label", "lock", "missed", "rng", "start_at", "timer", "window", "zone")

    def __init__(self, clock: Clock, expression: ScheduleExpression, zone: tzinfo, fire: Fire, *,
                 lock: threading.RLock, anchor: datetime, start: datetime | None = None,
                 end: datetime | None = None, window: float = 0.0, rng: random.Random | None = None,
                 after_anchor: bool = False, fired_until: datetime | None = None, label: str = "schedule") -> None:
        self.clock = clock
        self.expression = expression
        self.zone = zone
        self.fire = fire
        self.lock = lock
        self.anchor = anchor
        self.after_anchor = after_anchor
        self.start_at = start
        self.end = end
        self.window = timedelta(seconds=window)
        self.rng = rng if window else None
        self.label = label
        self.timer: Timer | None = None
        self.horizon: datetime | None = None  # the next nominal fire time not drawn yet
        self.drawn: list[tuple[datetime, datetime]] = []  # (due, nominal) of the fires drawn, a heap
        self.missed = 0  # fires that ran late and were folded into a later one
        # the latest nominal time fired (by this timer, or by the one it replaces): never again
        self.fired_until = fired_until

    @property
    def next_fire(self) -> datetime | None:
        """The nominal time of the next fire, or ``None``."""
        if self.drawn:
            return min(nominal for _, nominal in self.drawn)
        return self.horizon

    @property
    def finished(self) -> bool:
        """No fire is left."""
        return not self.drawn and self.horizon is None

    # -- fire times -------------------------------------------------------------
    def next_after(self, after: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first nominal fire time after ``after`` (or at it, ``inclusive``),
        within the start and end, or ``None`` (also when it would fall past what a
        ``datetime`` can hold)."""
        if self.start_at is not None and after < self.start_at:
            after, inclusive = self.start_at, True
        expression = self.expression
        try:
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
        except OverflowError:  # past the year 9999
            return None

    # -- the timer ---------------------------------------------------------------
    def prepare(self, now: datetime) -> datetime | None:
        """Work out the first fire at or after ``now`` (nothing is scheduled yet);
        returns its nominal time, ``None`` if there is none.  A one-time
        ``at(...)`` whose time has passed fires at once; one whose wall time the
        clocks skip fires when that wall time would have been (``ValidationError``
        if it falls past what a ``datetime`` can hold)."""
        at = self.expression.at
        if at is not None:
            try:
                first: datetime | None = at.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
            except OverflowError:
                raise ValidationError(f"{self.expression.text} in {self.zone} is past the last time a datetime "
                                      "can hold") from None
        else:
            first = self.next_after(now, inclusive=True)
        fired = self.fired_until
        if first is not None and fired is not None and first <= fired:  # (it fired already: a re-put)
            first = None if at is not None else self.next_after(fired)
        with self.lock:
            self.horizon, self.drawn = first, []
        return first

    def start(self, now: datetime) -> datetime | None:
        """``prepare`` and ``arm``."""
        first = self.prepare(now)
        self.arm()
        return first

    def arm(self) -> None:
        """Draw what is due first and set the timer for it (``ClockClosedError`` if
        the clock is shut; nothing is left scheduled then)."""
        with self.lock:
            self._draw()
            if not self.drawn:
                self.timer = None
                return
            timer = Timer(max(self.drawn[0][0], self.clock.now()), self, self.label, self._abandoned,
                          is_async=False, standing=True)
            try:
                self.clock._schedule(timer)
            except ClockClosedError:
                self.timer, self.horizon, self.drawn = None, None, []
                raise
            self.timer = timer

    def _draw(self) -> None:
        """Draw every fire that comes before the earliest due time drawn."""
        drawn = self.drawn
        while self.horizon is not None and (not drawn or self.horizon <= drawn[0][0]):
            nominal = self.horizon
            due = nominal if self.rng is None else nominal + self.window * self.rng.random()
            heapq.heappush(drawn, (due, nominal))
            self.horizon = self.next_after(nominal)

    def cancel(self) -> None:
        with self.lock:
            timer, self.timer, self.horizon, self.drawn = self.timer, None, None, []
        if timer is not None:
            timer.on_abandon = None  # (cancelling on purpose is not news)
            timer.cancel()

    def _abandoned(self, reason: str) -> None:
        log.info("eventbus: %s: no more fires: %s", self.label, reason)
        with self.lock:
            self.timer, self.horizon, self.drawn = None, None, []

    def __call__(self) -> None:
        """The timer ran: take the fires due, set the timer for the next, then fire.
        A timer that ran late (more than a second) fires once, for the latest fire
        due by now, and counts the others as missed."""
        with self.lock:
            if self.timer is None or not self.timer.done:  # cancelled as it started, or replaced
                return
            now = self.clock.now()
            drawn = self.drawn
            due: list[datetime] = []
            earliest = now
            while drawn and drawn[0][0] <= now:
                at, nominal = heapq.heappop(drawn)
                earliest = min(earliest, at)
                due.append(nominal)
            late = now - earliest > _GRACE
            folded = len(due)
            if late:  # fires not drawn yet whose whole window has passed: missed too
                skipped, last = self._skip(now)
                folded += skipped
                if last is not None:
                    due.append(last)
                while True:  # and those drawn now whose offset has passed too (a flexible window)
                    self._draw()
                    if not drawn or drawn[0][0] > now:
                        break
                    due.append(heapq.heappop(drawn)[1])
                    folded += 1
            fires: list[tuple[datetime, int]]
            if late and folded > 1:
                missed = folded - 1
                latest = max(due)
                self.missed += missed
                log.warning("eventbus: %s: the timer ran late (at %s): %d fire(s) missed, fired once for %s",
                            self.label, now.isoformat(), missed, latest.isoformat())
                fires = [(latest, missed)]
            else:
                fires = [(nominal, 0) for nominal in sorted(due)]
            if due:
                latest_due = max(due)
                if self.fired_until is None or latest_due > self.fired_until:
                    self.fired_until = latest_due
            try:
                self.arm()
            except ClockClosedError:
                pass
        for nominal, missed in fires:
            self.fire(nominal, missed)

    def _skip(self, now: datetime) -> tuple[int, datetime | None]:
        """Skip the undrawn fires whose window has passed by ``now``: how many,
        and the last (a rate skips whole periods at once)."""
        count, last = 0, None
        rate = self.expression.rate
        horizon = self.horizon
        if rate is not None and horizon is not None and horizon + self.window <= now:
            periods = (now - self.window - horizon) // rate  # whole periods beyond the first
            candidate = horizon + rate * periods
            if self.end is None or candidate < self.end:
                count, last, horizon = periods + 1, candidate, self.next_after(candidate)
        while horizon is not None and horizon + self.window <= now:
            count += 1
            last, horizon = horizon, self.next_after(horizon)
        self.horizon = horizon
        return count, last
