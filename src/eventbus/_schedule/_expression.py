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
  ``*``, a value, or a range ``a-b``, each optionally stepped (``/n``);
  ``a/n`` runs from ``a`` to the field's end.  Day-of-month also takes
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

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .._exceptions import InvalidScheduleExpressionError
from .._validate import wrong_type

__all__ = ["CronField", "CronSchedule", "DayOfMonth", "DayOfWeek", "Dialect", "ScheduleExpression",
           "parse_schedule_expression"]

Dialect = Literal["scheduler", "rule"]

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # 1 is Sunday
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
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

    def __str__(self) -> str:
        return self.text


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
        if (value == 1) == bool(plural):  # "1 minute", "5 minutes"
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
    return DayOfWeek(days=_plain(field, 1, 7, DAYS))
