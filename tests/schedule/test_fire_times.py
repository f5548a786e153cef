"""Fire times: named zones across their daylight-saving changes, and a property
test against a plain minute-by-minute walk of the wall clock."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from itertools import islice, takewhile
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventbus import ValidationError, parse_schedule_expression


def fires(expression: str, after: datetime, tz: str, count: int) -> list[str]:
    return [t.isoformat() for t in islice(parse_schedule_expression(expression).fire_times(after, tz=tz), count)]


def test_a_wall_time_the_spring_forward_skips_does_not_fire() -> None:
    # America/New_York, 2026-03-08 07:00 UTC: 02:00 EST becomes 03:00 EDT (02:00-02:59 do not exist)
    after = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert fires("cron(30 2 * * ? *)", after, "America/New_York", 2) == [
        "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]
    assert fires("cron(30 3 * * ? *)", after, "America/New_York", 1) == ["2026-03-08T03:30:00-04:00"]


def test_a_wall_time_the_fall_back_repeats_fires_once_the_first_time() -> None:
    # America/New_York, 2026-11-01 06:00 UTC: 02:00 EDT becomes 01:00 EST (01:00-01:59 happen twice)
    after = datetime(2026, 10, 31, 12, tzinfo=UTC)
    assert fires("cron(*/30 1 * * ? *)", after, "America/New_York", 3) == [
        "2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:00:00-05:00"]
    during = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, the second time round
    assert fires("cron(*/30 1 * * ? *)", during, "America/New_York", 1) == ["2026-11-02T01:00:00-05:00"]


def test_southern_and_half_hour_zones() -> None:
    # Australia/Sydney, 2026-04-04 16:00 UTC: 03:00 AEDT on 5 April becomes 02:00 AEST (02:00-02:59
    # twice: 02:15 fires the first time, +11:00); 2026-10-03 16:00 UTC: 02:00 AEST on 4 October becomes
    # 03:00 AEDT (02:15 skipped)
    assert fires("cron(15 2 * * ? *)", datetime(2026, 4, 3, tzinfo=UTC), "Australia/Sydney", 3) == [
        "2026-04-04T02:15:00+11:00", "2026-04-05T02:15:00+11:00", "2026-04-06T02:15:00+10:00"]
    assert fires("cron(15 2 * * ? *)", datetime(2026, 10, 2, tzinfo=UTC), "Australia/Sydney", 2) == [
        "2026-10-03T02:15:00+10:00", "2026-10-05T02:15:00+11:00"]
    # Australia/Lord_Howe moves by half an hour: 2026-10-03 15:30 UTC, 02:00 +10:30 on 4 October
    # becomes 02:30 +11:00 (02:10 skipped)
    assert fires("cron(10 2 * * ? *)", datetime(2026, 10, 2, tzinfo=UTC), "Australia/Lord_Howe", 2) == [
        "2026-10-03T02:10:00+10:30", "2026-10-05T02:10:00+11:00"]
    assert fires("cron(0 9 * * ? *)", datetime(2026, 1, 1, tzinfo=UTC), "Asia/Kolkata", 1) == [
        "2026-01-01T09:00:00+05:30"]


def test_a_rate_counts_whole_periods_whatever_the_clocks_do() -> None:
    after = datetime(2026, 3, 7, 12, tzinfo=UTC)
    assert fires("rate(1 day)", after, "America/New_York", 2) == [
        "2026-03-08T08:00:00-04:00", "2026-03-09T08:00:00-04:00"]  # 24 h apart, across the change
    assert fires("rate(90 minutes)", after, "UTC", 2) == ["2026-03-07T13:30:00+00:00", "2026-03-07T15:00:00+00:00"]


def test_at_fires_once_if_it_is_still_to_come() -> None:
    at = parse_schedule_expression("at(2026-05-01T09:30:00)")
    assert [t.isoformat() for t in at.fire_times(datetime(2026, 1, 1, tzinfo=UTC), tz="Europe/Paris")] == [
        "2026-05-01T09:30:00+02:00"]
    assert at.next_fire_time(datetime(2026, 6, 1, tzinfo=UTC)) is None
    skipped = parse_schedule_expression("at(2026-03-29T02:30:00)")  # Europe/Paris skips 02:00-02:59 that day
    assert skipped.next_fire_time(datetime(2026, 1, 1, tzinfo=UTC), tz="Europe/Paris") is None


def test_the_last_fire_of_a_bounded_cron_is_the_last() -> None:
    assert fires("cron(0 12 31 DEC ? 2199)", datetime(2100, 1, 1, tzinfo=UTC), "UTC", 3) == [
        "2199-12-31T12:00:00+00:00"]
    assert parse_schedule_expression("cron(0 0 30 FEB ? *)").next_fire_time(datetime(2026, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("cron(0 0 L * ? *)", datetime(2028, 2, 1, tzinfo=UTC), "2028-02-29"),  # a leap year's last day
    ("cron(0 0 L-3 * ? *)", datetime(2026, 2, 1, tzinfo=UTC), "2026-02-25"),  # three days before the 28th
    ("cron(0 0 1W * ? *)", datetime(2026, 7, 15, tzinfo=UTC), "2026-08-03"),  # the 1st is a Saturday: Monday
    ("cron(0 0 15W * ? *)", datetime(2026, 3, 1, tzinfo=UTC), "2026-03-16"),  # the 15th is a Sunday: Monday
    ("cron(0 0 31W * ? *)", datetime(2026, 5, 1, tzinfo=UTC), "2026-05-29"),  # the 31st is a Sunday: Friday
    ("cron(0 0 LW * ? *)", datetime(2026, 5, 1, tzinfo=UTC), "2026-05-29"),  # the last weekday
    ("cron(0 0 ? * 6L *)", datetime(2026, 3, 1, tzinfo=UTC), "2026-03-27"),  # the last Friday
    ("cron(0 0 ? * 2#1 *)", datetime(2026, 3, 3, tzinfo=UTC), "2026-04-06"),  # the first Monday, next month
    ("cron(0 0 ? * 6#5 *)", datetime(2026, 1, 1, tzinfo=UTC), "2026-01-30"),  # a fifth Friday
    ("cron(0 0 ? * 6L *)", datetime(2026, 7, 20, tzinfo=UTC), "2026-07-31"),  # the month ends on a Friday
    ("cron(0 0 ? * 2#1 *)", datetime(2026, 9, 1, tzinfo=UTC), "2026-09-07"),  # the first Monday is the 7th
    ("cron(0 0 ? * L *)", datetime(2026, 1, 1, tzinfo=UTC), "2026-01-03"),  # L alone: Saturday
])
def test_the_special_days(expression: str, after: datetime, expected: str) -> None:
    found = parse_schedule_expression(expression).next_fire_time(after)
    assert found is not None and found.date().isoformat() == expected


def test_bad_arguments() -> None:
    expression = parse_schedule_expression("rate(1 minute)")
    with pytest.raises(ValidationError, match="aware"):
        expression.next_fire_time(datetime(2026, 1, 1))
    with pytest.raises(ValidationError, match="time zone"):
        expression.next_fire_time(datetime(2026, 1, 1, tzinfo=UTC), tz="Mars/Olympus")


# -- against a plain walk of the wall clock -----------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe"]
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# days the zones above change their clocks in 2026 (the walks start near them half the time),
# and the ends of some months (L, W and #5 live there)
CHANGES = [datetime(2026, 3, 8), datetime(2026, 11, 1), datetime(2026, 3, 29), datetime(2026, 10, 25),
           datetime(2026, 4, 5), datetime(2026, 10, 4), datetime(2026, 3, 1), datetime(2026, 5, 31),
           datetime(2026, 8, 3), datetime(2027, 1, 31), datetime(2028, 3, 1)]


def plain_allows(fields: list[str], wall: datetime) -> bool:
    """Whether a wall time satisfies a cron expression's fields: each field read
    the simplest way, value by value (the oracle for the search)."""
    minute, hour, dom, month, dow, year = fields

    def in_field(text: str, value: int, low: int, high: int) -> bool:
        for item in text.split(","):
            body, _, step = item.partition("/")
            first, _, last = body.partition("-")
            start = low if first == "*" else int(first)
            end = high if first == "*" or (step and not last) else int(last or first)
            if start <= value <= end and (value - start) % int(step or 1) == 0:
                return True
        return False

    day = wall.date()
    last_day = calendar.monthrange(day.year, day.month)[1]
    weekday = [2, 3, 4, 5, 6, 7, 1][day.weekday()]  # 1 is Sunday
    if dom != "?":
        if dom == "L":
            day_ok = day.day == last_day
        elif dom.endswith("W"):
            target = int(dom[:-1])
            candidates = [d for d in range(1, last_day + 1) if date(day.year, day.month, d).weekday() < 5]
            day_ok = target <= last_day and day.day == min(candidates, key=lambda d: (abs(d - target), d))
        else:
            day_ok = in_field(dom, day.day, 1, 31)
    elif "#" in dow:
        which, nth = dow.split("#")
        day_ok = weekday == int(which) and (day.day + 6) // 7 == int(nth)
    elif dow.endswith("L"):
        day_ok = weekday == int(dow[:-1]) and day.day > last_day - 7
    else:
        day_ok = in_field(dow.replace("MON", "2").replace("FRI", "6"), weekday, 1, 7)
    return (day_ok and in_field(minute, wall.minute, 0, 59) and in_field(hour, wall.hour, 0, 23)
            and in_field(month, wall.month, 1, 12) and in_field(year, wall.year, 1970, 2199))


def walk(fields: list[str], after: datetime, until: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every whole minute after ``after`` up to ``until``, read on the zone's wall
    clock: a time the clocks skip never shows; a repeated one fires the first time."""
    out = []
    at = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while at <= until:
        wall = at.astimezone(zone)
        if wall.fold == 0 and plain_allows(fields, wall.replace(tzinfo=None)):
            out.append(at)
        at += timedelta(minutes=1)
    return out


def minutes_or_hours(high: int) -> st.SearchStrategy[str]:
    item = st.one_of(st.integers(0, high).map(str), st.just("*"),
                     st.tuples(st.integers(0, high), st.integers(1, 13)).map(lambda p: f"{p[0]}/{p[1]}"),
                     st.tuples(st.integers(0, high), st.integers(0, high)).map(
                         lambda p: f"{min(p)}-{max(p)}"))
    return st.lists(item, min_size=1, max_size=3).map(",".join)


DAY_FIELDS = st.one_of(
    st.tuples(st.sampled_from(["*", "L", "1", "15W", "1W", "30W", "31", "1-10/3", "28-31"]), st.just("?")),
    st.tuples(st.just("?"), st.sampled_from(["*", "MON-FRI", "1", "7", "2#1", "6#5", "1L", "6L", "1,4,7"])),
)


@settings(max_examples=40, deadline=None)
@given(minutes=minutes_or_hours(59), hours=minutes_or_hours(23), days=DAY_FIELDS,
       month=st.sampled_from(["*", "1-6", "3,10,11", "2"]), zone=st.sampled_from(ZONES),
       start=st.one_of(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 1)),
                       st.sampled_from(CHANGES).flatmap(lambda day: st.datetimes(day - timedelta(days=2), day))))
def test_fire_times_are_exactly_the_minutes_the_wall_clock_allows(minutes: str, hours: str, days: tuple[str, str],
                                                                   month: str, zone: str, start: datetime) -> None:
    """Every yielded time satisfies the expression, they strictly increase, and no
    minute between two of them does: the first week's worth equals the walk's."""
    fields = [minutes, hours, days[0], month, days[1], "*"]
    expression = parse_schedule_expression(f"cron({' '.join(fields)})")
    after = start.replace(tzinfo=UTC)
    until = after + timedelta(days=3)
    found = list(takewhile(lambda t: t <= until, expression.fire_times(after, tz=zone)))
    assert [t.astimezone(UTC) for t in found] == walk(fields, after, until, ZoneInfo(zone))
    assert all(a < b for a, b in zip(found, found[1:], strict=False))
