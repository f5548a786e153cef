"""Schedule expressions: ``cron(...)``, ``rate(...)`` and ``at(...)``, read as
EventBridge reads them.

The grammar (AWS's EventBridge and Scheduler user guides; the verified
vectors in ``tests/conformance/schedule_expressions.jsonl`` pin what AWS
accepts and refuses):

* ``rate(value unit)``: a positive whole number, one space, and ``minute``,
  ``hour`` or ``day``, singular exactly when the value is 1.  Nothing else
  inside the parentheses, and nothing around them.
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields,
  one space apart.  Ranges: minutes 0-59, hours 0-23, day-of-month 1-31,
  month 1-12 or ``JAN``-``DEC``, day-of-week 1-7 (1 is Sunday) or
  ``SUN``-``SAT``, year 1970-2199.  Each field is a comma-separated list of
  ``*``, a value, or a range ``a-b``, each optionally stepped (``/n``, not
  in day-of-week); ``a/n`` runs from ``a`` to the field's end.  Day-of-month also takes
  ``L`` (the last day), ``L-n`` (n days before it), ``nW`` (the weekday
  nearest day n) and ``LW``; day-of-week takes ``L`` (Saturday), ``nL`` (the
  month's last such day) and ``n#k`` (its k-th, 1 to 5; alone in its field).
  Exactly one of day-of-month and day-of-week is ``?``.
* ``at(yyyy-mm-ddThh:mm:ss)``: one time, in the schedule's time zone
  (Scheduler only).

Where the vectors are silent (how large a step may be, names in lower
case), the parser follows Quartz's ``CronExpression``, whose syntax AWS's
cron is (the same six fields and the same ``L``, ``W`` and ``#``): a step
up to 59 minutes, 23 hours, 31 days, 12 months or 7 weekdays; names in any
case.

Errors are ``InvalidScheduleExpressionError`` with AWS's text for the API:
``Invalid Schedule Expression <expr>.`` (Scheduler), ``Parameter
ScheduleExpression is not valid.`` (rules).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._exceptions import InvalidScheduleExpressionError, ValidationError
from .._validate import wrong_type

__all__ = ["CronField", "CronSchedule", "DayOfMonth", "DayOfWeek", "Dialect", "ScheduleExpression",
           "parse_schedule_expression"]

Dialect = Literal["scheduler", "rule"]

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # 1 is Sunday
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_MAX_RATE = 2**31 - 1  # a larger value does not fit the 32-bit integer a Java service reads it into: refused
_RATE = re.compile(r"rate\(([1-9][0-9]*) (minute|hour|day)(s?)\)")
_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")
_CRON = re.compile(r"cron\(([^ ()]+(?: [^ ()]+){5})\)")
_NUMBER = re.compile(r"[0-9]{1,4}")


class _Invalid(Exception):
    """Inside the parser: the expression is not valid (the caller words it)."""


CronField = frozenset[int]
"""The values a plain cron field allows."""


@dataclass(frozen=True)
class DayOfMonth:
    """The day-of-month field: plain ``days``, and the special forms."""

    days: CronField = frozenset()
    last: bool = False  # L
    last_offset: int = 0  # L-n: n days before the last
    nearest_weekday: int | None = None  # nW: the weekday nearest day n
    last_weekday: bool = False  # LW


@dataclass(frozen=True)
class DayOfWeek:
    """The day-of-week field (1 is Sunday): plain ``days``, and the special forms."""

    days: CronField = frozenset()
    last_of_month: int | None = None  # nL: the month's last day n
    nth: tuple[int, int] | None = None  # n#k: the month's k-th day n


@dataclass(frozen=True)
class CronSchedule:
    """The six fields of a ``cron(...)`` expression; the day field that is ``?`` is ``None``."""

    minutes: CronField
    hours: CronField
    days_of_month: DayOfMonth | None
    months: CronField
    days_of_week: DayOfWeek | None
    years: CronField


@dataclass(frozen=True)
class ScheduleExpression:
    """A parsed schedule expression.  ``kind`` says which form it is; ``cron``,
    ``rate`` or ``at`` holds what it says (the others are ``None``)."""

    text: str
    kind: Literal["cron", "rate", "at"]
    cron: CronSchedule | None = None
    rate: timedelta | None = None
    at: datetime | None = None  # naive: a wall time in the schedule's time zone
    _search: _CronSearch | None = field(default=None, init=False, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text

    def fire_times(self, after: datetime, *, tz: str | tzinfo = "UTC") -> Iterator[datetime]:
        """The times this expression fires strictly after ``after`` (an aware
        ``datetime``), in order, lazily, as aware datetimes in ``tz``.

        ``cron`` and ``at`` read their fields as wall times in ``tz`` (an IANA
        name or a ``tzinfo``), as EventBridge Scheduler does: a wall time that
        does not exist (the hour a spring-forward skips) does not fire, and one
        that happens twice (the hour a fall-back repeats) fires once, the
        first time.  ``rate`` counts whole periods from ``after``: ``rate(1
        day)`` fires every 24 hours whatever the clocks do."""
        zone = _zone(tz)
        start = _aware("after", after)
        if self.rate is not None:
            step, at = self.rate, start
            while True:
                at = at + step
                yield at.astimezone(zone)
        if self.at is not None:
            when = _instant(self.at, zone)
            if when is not None and when > start:
                yield when
            return
        assert self.cron is not None
        search = self._search
        if search is None:  # (made once per expression: a scheduler asks it for every fire)
            search = _CronSearch(self.cron)
            object.__setattr__(self, "_search", search)
        fixed = _is_fixed(zone)  # no wall time skipped or repeated: no round trip needed
        found = search.next(start.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0))
        while found is not None:
            when = found.replace(tzinfo=zone) if fixed else _instant(found, zone)
            if when is not None and when > start:
                yield when
            found = search.following(found)

    def next_fire_time(self, after: datetime, *, tz: str | tzinfo = "UTC") -> datetime | None:
        """The first of ``fire_times(after, tz=tz)``, or ``None`` if there is none."""
        return next(self.fire_times(after, tz=tz), None)


def parse_schedule_expression(expression: str, *, dialect: Dialect = "scheduler") -> ScheduleExpression:
    """Read a schedule expression as EventBridge Scheduler (``dialect="scheduler"``)
    or a scheduled rule (``dialect="rule"``, which has no ``at(...)``) reads it.
    ``InvalidScheduleExpressionError`` with AWS's text when it is not valid."""
    if dialect not in ("scheduler", "rule"):
        raise wrong_type("dialect", dialect, "'scheduler' or 'rule'")
    if not isinstance(expression, str):
        raise wrong_type("expression", expression, "<class 'str'>")
    try:
        return _parse(expression, dialect)
    except _Invalid:
        message = (f"Invalid Schedule Expression {expression}." if dialect == "scheduler"
                   else "Parameter ScheduleExpression is not valid.")
        raise InvalidScheduleExpressionError(message) from None


def _parse(text: str, dialect: Dialect) -> ScheduleExpression:
    if match := _RATE.fullmatch(text):
        value, unit, plural = int(match[1]), match[2], match[3]
        if (value == 1) == bool(plural) or value > _MAX_RATE:  # "1 minute", "5 minutes"
            raise _Invalid
        return ScheduleExpression(text, "rate", rate=timedelta(seconds=value * _UNITS[unit]))
    if match := _AT.fullmatch(text):
        if dialect != "scheduler":
            raise _Invalid
        try:
            year, month, day, hour, minute, second = (int(part) for part in match.groups())
            when = datetime(year, month, day, hour, minute, second)
        except ValueError:  # (no such day or time)
            raise _Invalid from None
        return ScheduleExpression(text, "at", at=when)
    if match := _CRON.fullmatch(text):
        return ScheduleExpression(text, "cron", cron=_cron(match[1].split(" ")))
    raise _Invalid


def _cron(fields: list[str]) -> CronSchedule:
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):  # exactly one of the two is "any"
        raise _Invalid
    return CronSchedule(
        minutes=_plain(minutes, 0, 59),
        hours=_plain(hours, 0, 23),
        days_of_month=None if day_of_month == "?" else _day_of_month(day_of_month),
        months=_plain(month, 1, 12, MONTHS),
        days_of_week=None if day_of_week == "?" else _day_of_week(day_of_week),
        years=_plain(year, 1970, 2199),
    )


def _plain(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> CronField:
    """A comma-separated list of ``*``, values and ranges, each maybe stepped."""
    values: set[int] = set()
    for item in field.split(","):
        values |= _item(item, low, high, names)
    return frozenset(values)


def _item(item: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    body, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step = _number(step_text, 1, high if low == 0 else high - low + 1) if step_text else 0  # (Quartz's limits)
        if not step:
            raise _Invalid
    if body == "*":
        first, last = low, high
    else:
        start, dash, end = body.partition("-")
        first = _value(start, low, high, names)
        last = _value(end, low, high, names) if dash else (high if slash else first)
        if last < first:
            raise _Invalid
    return set(range(first, last + 1, step))


def _value(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    if names and upper in names:
        return names.index(upper) + 1
    return _number(text, low, high)


def _number(text: str, low: int, high: int) -> int:
    if not _NUMBER.fullmatch(text):
        raise _Invalid
    value = int(text)
    if not low <= value <= high:
        raise _Invalid
    return value


def _day_of_month(field: str) -> DayOfMonth:
    if field == "L":
        return DayOfMonth(last=True)
    if field == "LW":
        return DayOfMonth(last_weekday=True)
    if field.startswith("L-"):
        return DayOfMonth(last=True, last_offset=_number(field[2:], 1, 30))
    if field.endswith("W"):
        return DayOfMonth(nearest_weekday=_number(field[:-1], 1, 31))
    return DayOfMonth(days=_plain(field, 1, 31))


def _day_of_week(field: str) -> DayOfWeek:
    if field == "L":
        return DayOfWeek(days=frozenset({7}))  # the week's last day: Saturday
    if "#" in field:  # alone in its field
        day, _, nth = field.partition("#")
        return DayOfWeek(nth=(_value(day, 1, 7, DAYS), _number(nth, 1, 5)))
    if field.endswith("L"):
        return DayOfWeek(last_of_month=_value(field[:-1], 1, 7, DAYS))
    if "/" in field:  # (AWS's day-of-week takes no steps)
        raise _Invalid
    return DayOfWeek(days=_plain(field, 1, 7, DAYS))


# -- fire times -------------------------------------------------------------------
_MINUTE = timedelta(minutes=1)


def _zone(tz: str | tzinfo) -> tzinfo:
    if isinstance(tz, tzinfo):
        return tz
    if tz == "UTC":
        return UTC
    if not isinstance(tz, str):
        raise wrong_type("tz", tz, "<class 'str'>, <class 'datetime.tzinfo'>")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Invalid time zone {tz!r}: not an IANA time zone name") from None


def _aware(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise wrong_type(name, value, "<class 'datetime.datetime'>")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{name} must be an aware datetime (with a tzinfo), got {value!r}")
    return value


def _instant(wall: datetime, zone: tzinfo) -> datetime | None:
    """The wall time ``wall`` in ``zone`` as an aware time: ``None`` if the zone's
    clocks skip it, the first of the two if they repeat it."""
    first = wall.replace(tzinfo=zone, fold=0)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:  # (skipped: it comes back moved)
        return None
    return first


def _is_fixed(zone: tzinfo) -> bool:
    """Whether ``zone`` keeps one offset for ever (UTC, a fixed offset, ``Etc/...``)."""
    if isinstance(zone, timezone):
        return True
    key = getattr(zone, "key", None)
    return isinstance(key, str) and (key == "UTC" or key.startswith("Etc/"))


def _after(values: tuple[int, ...], value: int) -> int | None:
    """The least of the sorted ``values`` that is at least ``value``."""
    at = bisect_left(values, value)
    return values[at] if at < len(values) else None


class _CronSearch:
    """The next wall time (to the minute) a cron expression's fields allow."""

    def __init__(self, cron: CronSchedule) -> None:
        self.minutes = tuple(sorted(cron.minutes))
        self.hours = tuple(sorted(cron.hours))
        self.months = tuple(sorted(cron.months))
        self.years = tuple(sorted(cron.years))
        self.dom = cron.days_of_month
        self.dow = cron.days_of_week

    def next(self, wall: datetime) -> datetime | None:
        """The first allowed wall time at or after ``wall`` (whole minutes), or ``None``."""
        while True:
            year = _after(self.years, wall.year)
            if year is None:
                return None
            if year != wall.year:
                wall = datetime(year, 1, 1)
            month = _after(self.months, wall.month)
            if month is None:
                if wall.year >= 2199:  # (the last year cron knows)
                    return None
                wall = datetime(wall.year + 1, 1, 1)
                continue
            if month != wall.month:
                wall = datetime(wall.year, month, 1)
            day = self._day(wall.date())
            if day is None:  # none left this month
                wall = datetime(wall.year + 1, 1, 1) if wall.month == 12 else datetime(wall.year, wall.month + 1, 1)
                continue
            if day != wall.day:
                wall = datetime(wall.year, wall.month, day)
            hour = _after(self.hours, wall.hour)
            if hour is None:
                wall = datetime(wall.year, wall.month, wall.day) + timedelta(days=1)
                continue
            if hour != wall.hour:
                wall = wall.replace(hour=hour, minute=0)
            minute = _after(self.minutes, wall.minute)
            if minute is None:
                wall = wall.replace(minute=0) + timedelta(hours=1)
                continue
            return wall.replace(minute=minute)

    def following(self, found: datetime) -> datetime | None:
        """The first allowed wall time after ``found``, itself allowed: a later
        minute or hour of the same day needs no search (its day is allowed)."""
        minutes = self.minutes
        at = bisect_right(minutes, found.minute)
        if at < len(minutes):
            return found.replace(minute=minutes[at])
        at = bisect_right(self.hours, found.hour)
        if at < len(self.hours):
            return found.replace(hour=self.hours[at], minute=minutes[0])
        return self.next(datetime(found.year, found.month, found.day) + timedelta(days=1))

    def _day(self, start: date) -> int | None:
        """The first day from ``start`` to the end of its month that the day fields allow."""
        last = calendar.monthrange(start.year, start.month)[1]
        for day in range(start.day, last + 1):
            if self._allows(date(start.year, start.month, day), last):
                return day
        return None

    def _allows(self, day: date, last: int) -> bool:
        if self.dom is not None:
            return _month_day_allows(self.dom, day, last)
        assert self.dow is not None
        return _week_day_allows(self.dow, day, last)


def _weekday(day: date) -> int:
    """AWS's day of the week: 1 is Sunday, 7 Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _month_day_allows(spec: DayOfMonth, day: date, last: int) -> bool:
    if spec.days:
        return day.day in spec.days
    if spec.last:
        return day.day == last - spec.last_offset
    if spec.last_weekday:
        return day.day == _nearest_weekday(day, last, last)
    assert spec.nearest_weekday is not None
    return spec.nearest_weekday <= last and day.day == _nearest_weekday(day, spec.nearest_weekday, last)


def _nearest_weekday(day: date, target: int, last: int) -> int:
    """The weekday (Monday to Friday) nearest day ``target`` of ``day``'s month,
    without leaving the month (Quartz's rule)."""
    weekday = date(day.year, day.month, target).weekday()  # Monday 0
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return target + 1 if target < last else target - 2
    return target


def _week_day_allows(spec: DayOfWeek, day: date, last: int) -> bool:
    weekday = _weekday(day)
    if spec.days:
        return weekday in spec.days
    if spec.last_of_month is not None:
        return weekday == spec.last_of_month and day.day + 7 > last
    assert spec.nth is not None
    which, nth = spec.nth
    return weekday == which and (day.day - 1) // 7 + 1 == nth
