"""A bus's rules: the record ``describe_rule`` returns, and what the bus keeps with each rule."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from .._delivery import DeliveryMetrics, Target
from .._pattern import RuleIndex
from .._schedule._recurring import Recurring
from .._validate import out_of_range, wrong_type

__all__ = ["FIELDS", "Rule", "RuleEntry", "State", "compile_event_pattern"]

State = Literal["ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A rule as ``describe_rule`` shows it (a snapshot; change it with ``put_rule``)."""

    name: str
    arn: str
    event_pattern: str | None
    state: State
    description: str | None
    event_bus_name: str
    schedule_expression: str | None = None

    def as_aws(self) -> dict[str, Any]:
        """AWS's DescribeRule shape."""
        out: dict[str, Any] = {"Name": self.name, "Arn": self.arn}
        if self.event_pattern is not None:
            out["EventPattern"] = self.event_pattern
        if self.schedule_expression is not None:
            out["ScheduleExpression"] = self.schedule_expression
        out["State"] = self.state
        if self.description is not None:
            out["Description"] = self.description
        out["EventBusName"] = self.event_bus_name
        out["CreatedBy"] = self.arn.split(":")[4]
        return out


FIELDS: Final = tuple(DeliveryMetrics.__dataclass_fields__)


def minus(now: DeliveryMetrics, base: DeliveryMetrics) -> dict[str, int]:
    return {field: getattr(now, field) - getattr(base, field) for field in FIELDS}


class RuleEntry:
    """A rule and what the bus keeps with it, including exact counters: a target
    counts from when it was put on the rule (its ``baseline``), and a removed or
    replaced one keeps counting for the rule until its pending deliveries end
    (``retired``), then is folded into ``folded``."""

    __slots__ = ("anchor", "baselines", "bus", "fired_until", "folded", "generation", "matched", "record", "recurring",
                 "retired", "targets")

    def __init__(self, record: Rule, bus: str) -> None:
        self.record = record
        self.bus = bus
        self.targets: dict[str, Target] = {}
        self.baselines: dict[int, DeliveryMetrics] = {}  # id(target) -> its metrics when put on the rule
        self.retired: list[tuple[Target, DeliveryMetrics]] = []
        self.folded = dict.fromkeys(FIELDS, 0)
        self.matched = 0  # events that matched it while enabled (MatchedEvents)
        self.recurring: Recurring | None = None  # a scheduled rule's timer, while it is enabled
        self.anchor: tuple[str, datetime] | None = None  # (its expression, where a rate counts from)
        self.fired_until: datetime | None = None  # the latest time it fired: never again
        self.generation = ""  # with a store: this schedule of the rule, shared by the processes that share it

    def __repr__(self) -> str:
        return f"rule {self.record.name} of event bus {self.bus}"

    def attach(self, target: Target) -> None:
        self.baselines[id(target)] = target.metrics

    def retire(self, target: Target) -> None:
        self.retired.append((target, self.baselines.pop(id(target))))

    def fold(self) -> None:
        """Fold the retired targets whose deliveries for this rule have all ended."""
        keep = []
        for target, base in self.retired:
            now = target.metrics
            if now.pending:
                keep.append((target, base))
            else:
                for field, value in minus(now, base).items():
                    self.folded[field] += value
        self.retired = keep

    def totals(self) -> dict[str, int]:
        self.fold()
        out = dict(self.folded)
        for target in self.targets.values():
            for field, value in minus(target.metrics, self.baselines[id(target)]).items():
                out[field] += value
        for target, base in self.retired:
            for field, value in minus(target.metrics, base).items():
                out[field] += value
        return out


def compile_event_pattern(name: str, pattern: object,
                          max_length: int | None = None) -> tuple[str | None, RuleIndex[str]]:
    """An ``EventPattern`` argument (JSON text or a mapping), compiled into a probe
    index under ``name`` (refused in AWS's words before anything changes), and
    its text (a mapping written as JSON); ``(None, empty probe)`` for ``None``.
    ``max_length``: the longest text allowed, checked before compiling when the
    pattern is text (one limit, one message, whatever the form)."""
    probe: RuleIndex[str] = RuleIndex()
    if pattern is None:
        return None, probe
    if not isinstance(pattern, str | Mapping):
        raise wrong_type("EventPattern", pattern, "<class 'str'>")
    too_long = f"Member must have length less than or equal to {max_length}"
    if max_length is not None and isinstance(pattern, str) and len(pattern) > max_length:
        raise out_of_range("EventPattern", pattern, too_long)
    probe.add(name, pattern)
    text = pattern if isinstance(pattern, str) else json.dumps(probe.pattern(name).to_json(), ensure_ascii=False)
    if max_length is not None and len(text) > max_length:
        raise out_of_range("EventPattern", text, too_long)
    return text, probe
