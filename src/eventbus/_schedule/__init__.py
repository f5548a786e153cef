"""Schedules: expressions (cron, rate, at) as EventBridge reads them, and
EventBridge Scheduler's schedules firing on a clock."""

from ._expression import (
    CronSchedule,
    DayOfMonth,
    DayOfWeek,
    ScheduleExpression,
    parse_schedule_expression,
)
from ._recurring import Recurring
from ._scheduler import Schedule, ScheduleGroup, Scheduler

__all__ = ["CronSchedule", "DayOfMonth", "DayOfWeek", "Recurring", "Schedule", "ScheduleExpression", "ScheduleGroup",
           "Scheduler", "parse_schedule_expression"]
