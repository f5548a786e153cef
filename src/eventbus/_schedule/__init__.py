"""Schedules: expressions (cron, rate, at) as EventBridge reads them."""

from ._expression import (
    CronSchedule,
    DayOfMonth,
    DayOfWeek,
    ScheduleExpression,
    parse_schedule_expression,
)

__all__ = ["CronSchedule", "DayOfMonth", "DayOfWeek", "ScheduleExpression", "parse_schedule_expression"]
