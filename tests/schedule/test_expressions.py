"""Schedule expressions: AWS's verified vectors, what each form means, and a
property test of cron fields against a plain expansion."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventbus
from eventbus import InvalidScheduleExpressionError, ValidationError, parse_schedule_expression
from eventbus._schedule._expression import Dialect
from tests.conftest import load_vectors

VECTORS = load_vectors("schedule_expressions.jsonl")


@pytest.mark.parametrize("case", VECTORS, ids=[case["id"] for case in VECTORS])
def test_every_aws_verified_expression_is_read_as_aws_reads_it(case: dict[str, Any]) -> None:
    dialect: Dialect = "rule" if case["api"].startswith("events:") else "scheduler"
    # (one vector is refused for its bus, a custom one, not for its grammar: that comes with scheduled rules)
    expected = "valid" if "custom event bus" in (case.get("note") or "") else case["expected"]
    if expected == "valid":
        assert str(parse_schedule_expression(case["expression"], dialect=dialect)) == case["expression"]
    else:
        with pytest.raises(InvalidScheduleExpressionError) as info:
            parse_schedule_expression(case["expression"], dialect=dialect)
        assert str(info.value) == case["aws_error"]


def test_a_rate_is_a_period() -> None:
    assert parse_schedule_expression("rate(1 minute)").rate == timedelta(minutes=1)
    assert parse_schedule_expression("rate(5 hours)").rate == timedelta(hours=5)
    assert parse_schedule_expression("rate(30 days)").rate == timedelta(days=30)
    for text in ("rate(01 minutes)", "rate(1 Minute)", "rate(5  hours)", "rate(5 hours) "):
        with pytest.raises(InvalidScheduleExpressionError):
            parse_schedule_expression(text)


def test_at_is_one_wall_time_and_only_for_the_scheduler() -> None:
    assert parse_schedule_expression("at(2030-02-28T08:30:00)").at == datetime(2030, 2, 28, 8, 30)
    with pytest.raises(InvalidScheduleExpressionError, match=r"^Invalid Schedule Expression at\(2030-02-30"):
        parse_schedule_expression("at(2030-02-30T08:30:00)")  # no such day
    with pytest.raises(InvalidScheduleExpressionError) as info:
        parse_schedule_expression("at(2030-02-28T08:30:00)", dialect="rule")
    assert str(info.value) == "Parameter ScheduleExpression is not valid."


def test_cron_fields_mean_what_aws_documents() -> None:
    cron = parse_schedule_expression("cron(0/15 8-17 ? JAN,MAR-APR MON-FRI 2030)").cron
    assert cron is not None
    assert cron.minutes == {0, 15, 30, 45} and cron.hours == set(range(8, 18))
    assert cron.months == {1, 3, 4} and cron.years == {2030}
    assert cron.days_of_month is None and cron.days_of_week is not None
    assert cron.days_of_week.days == {2, 3, 4, 5, 6}  # 1 is Sunday
    special = parse_schedule_expression("cron(15 10 ? * 6L 2002-2005)").cron
    assert special is not None and special.days_of_week is not None
    assert special.days_of_week.last_of_month == 6 and special.years == set(range(2002, 2006))
    nth = parse_schedule_expression("cron(0 2 ? * SAT#3 *)").cron
    assert nth is not None and nth.days_of_week is not None and nth.days_of_week.nth == (7, 3)
    for field, expected in (("L", {"last": True}), ("L-3", {"last": True, "last_offset": 3}),
                            ("15W", {"nearest_weekday": 15}), ("LW", {"last_weekday": True})):
        days = parse_schedule_expression(f"cron(0 0 {field} * ? *)").cron
        assert days is not None and days.days_of_month == eventbus._schedule.DayOfMonth(**expected)


@pytest.mark.parametrize("text", [
    "cron(0 0 * * ? *  )", "cron(0 0 * * ?)", "cron(0 0 * * ? * *)", "cron(60 0 * * ? *)", "cron(0 24 * * ? *)",
    "cron(0 0 0 * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 * 13 ? *)", "cron(0 0 ? * 8 *)", "cron(0 0 * * ? 1969)",
    "cron(0 0 * * ? 2200)", "cron(5-1 0 * * ? *)", "cron(0/0 0 * * ? *)", "cron(0/60 0 * * ? *)", "cron(* 0 ? ? ? *)",
    "cron(0 0 ? * 2#6 *)", "cron(0 0 ? * 2#1,3 *)", "cron(0 0 ? * FOO *)", "cron(, 0 * * ? *)", "cron(1- 0 * * ? *)",
    "cron(0 0 32W * ? *)", "cron(0 0 L-31 * ? *)", "cron(0 0 * * ? *) ",
])
def test_cron_text_outside_the_grammar_is_refused(text: str) -> None:
    with pytest.raises(InvalidScheduleExpressionError) as info:
        parse_schedule_expression(text)
    assert str(info.value) == f"Invalid Schedule Expression {text}."


def test_bad_arguments_are_refused_clearly() -> None:
    with pytest.raises(ValidationError):
        parse_schedule_expression(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        parse_schedule_expression("rate(1 minute)", dialect="cron")  # type: ignore[arg-type]


# -- cron fields against a plain expansion -------------------------------------

FIELDS = {"minutes": (0, 59), "hours": (0, 23), "months": (1, 12), "years": (1970, 2199)}


@st.composite
def cron_items(draw: st.DrawFn, low: int, high: int) -> tuple[str, set[int]]:
    """One item of a field, as text, with the values it stands for (worked out here, plainly)."""
    kind = draw(st.sampled_from(["value", "range", "star", "step", "range-step", "star-step"]))
    first = draw(st.integers(low, high))
    last = draw(st.integers(first, high))
    step = draw(st.integers(1, high if low == 0 else high - low + 1))  # (Quartz's limits: 59 minutes, 23 hours)
    if kind == "value":
        return str(first), {first}
    if kind == "range":
        return f"{first}-{last}", set(range(first, last + 1))
    if kind == "star":
        return "*", set(range(low, high + 1))
    if kind == "step":
        return f"{first}/{step}", {v for v in range(low, high + 1) if v >= first and (v - first) % step == 0}
    if kind == "range-step":
        return f"{first}-{last}/{step}", {v for v in range(first, last + 1) if (v - first) % step == 0}
    return f"*/{step}", {v for v in range(low, high + 1) if (v - low) % step == 0}


@st.composite
def cron_fields(draw: st.DrawFn) -> tuple[str, str, set[int]]:
    name = draw(st.sampled_from(sorted(FIELDS)))
    low, high = FIELDS[name]
    items = draw(st.lists(cron_items(low, high), min_size=1, max_size=4))
    return name, ",".join(text for text, _ in items), set().union(*(values for _, values in items))


@given(cron_fields())
def test_a_cron_field_stands_for_exactly_the_values_its_items_name(field: tuple[str, str, set[int]]) -> None:
    name, text, expected = field
    parts = {"minutes": "0", "hours": "0", "months": "*", "years": "*"}
    parts[name] = text
    expression = f"cron({parts['minutes']} {parts['hours']} * {parts['months']} ? {parts['years']})"
    cron = parse_schedule_expression(expression, dialect="rule").cron
    assert cron is not None
    assert getattr(cron, name) == expected
