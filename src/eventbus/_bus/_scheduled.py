"""A bus's scheduled rules: their timers, and with a store what they share.

A rule with a ``schedule_expression`` fires on the bus's clock while it is
enabled (``Recurring``), sending AWS's ``Scheduled Event`` to its targets
alone.  Put again with the same expression, a rate keeps counting from where
it began, and a time that fired does not fire again.

With a work store, each rule's schedule is kept there (its expression, its
rate's anchor, a generation naming this build of it, its last fire and next
fire time), so that:

- every process that has the rule fires it on the same times, and a fire's
  delivery is keyed by (rule, generation, time): one process delivers it;
- two builds of one schedule (two processes that put the rule at once, or
  one that puts it again) agree at the next fire on the build the store
  keeps;
- a process that puts the rule after every process stopped goes on from its
  last fire: the fires missed meanwhile fire once, late (a rule disabled
  before makes up nothing).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .._delivery._engine import error_text
from .._schedule._expression import ScheduleExpression
from .._schedule._recurring import Recurring
from .._transform import event_time
from ._rules import RuleEntry

if TYPE_CHECKING:
    from ._bus import EventBus

__all__ = ["ScheduledRules"]

log = logging.getLogger("eventbus.bus")


class ScheduledRules:
    """The scheduled rules of one bus (the bus's rule methods call these)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def reschedule(self, entry: RuleEntry, schedule: ScheduleExpression | None) -> None:
        """Set (or stop) a scheduled rule's timer: it fires while the rule is enabled.
        Put again with the same expression, a rate keeps counting from where it
        began, and a time that fired does not fire again.  With a store, a rule
        put again after a restart (or by another process) goes on from the last
        fire the store keeps: fires missed while no process ran fire once, late."""
        former = entry.recurring
        # where its fires go on from: a fire of the timer it replaces that was due and had not run yet (a
        # late fire, made up after a restart) is not lost by putting the rule again
        resume = None if former is None else former.next_fire
        if former is not None:
            former.cancel()
            entry.recurring = None
            entry.fired_until = former.fired_until
        if schedule is None:
            entry.anchor = None
        if schedule is None or entry.record.state == "DISABLED" or self.bus._rules.get(entry.record.name) is not entry:
            if schedule is not None and former is not None and self.bus.store is not None:
                self._keep(entry, None)  # (disabled: nothing to make up when enabled again)
            return
        now = self.bus.clock.now()
        if entry.anchor is None or entry.anchor[0] != schedule.text:
            # rule schedules have one-minute granularity: a rate counts from the minute the rule was put
            entry.anchor = (schedule.text, now.replace(second=0, microsecond=0))
            entry.generation = uuid.uuid4().hex[:12]
            resume = None  # (another schedule)
            if self.bus.store is not None:  # processes sharing the store count from the first one's minute
                resume = self._share(entry, schedule.text)
        recurring = Recurring(self.bus.clock, schedule, UTC, lambda nominal, missed: self.fire(entry, nominal),
                              lock=self.bus._lock, anchor=entry.anchor[1], after_anchor=True,
                              fired_until=entry.fired_until, label=f"scheduled rule {entry.record.name} of event "
                              f"bus {self.bus.name}")
        recurring.prepare(now if resume is None else min(now, resume))
        recurring.arm()
        entry.recurring = recurring

    def _share(self, entry: RuleEntry, expression: str) -> datetime | None:
        """Take up the anchor, generation and last fire of the rule's schedule that the
        store keeps (put by another process, or before a restart), or keep this
        one's.  Returns the next fire the store has, if it keeps a last fire: where
        to go on from."""
        assert self.bus.store is not None and entry.anchor is not None
        try:
            stored = self.bus.store.get_schedule(entry.record.arn)
            data = None if stored is None else json.loads(stored.data)
            if stored is not None and data is not None and data.get("expression") == expression:
                entry.anchor = (expression, datetime.fromisoformat(data["anchor"]))
                entry.generation = str(data["generation"])
                fired = data.get("fired")
                if fired is None:
                    return None
                last = datetime.fromisoformat(fired)
                if entry.fired_until is None or last > entry.fired_until:
                    entry.fired_until = last
                return stored.next_fire
            self.bus.store.put_schedule(entry.record.arn, None, json.dumps(
                {"expression": expression, "anchor": entry.anchor[1].isoformat(), "generation": entry.generation}))
        except Exception as exc:  # (this process counts from its own minute)
            log.error("eventbus: bus %s: the store could not share the schedule of rule %s: %s", self.bus.name,
                      entry.record.name, error_text(exc))
        return None

    def _keep(self, entry: RuleEntry, next_fire: datetime | None) -> None:
        """Keep the rule's last fire and next fire time in the store (what a process
        that puts the rule later goes on from)."""
        assert self.bus.store is not None
        if entry.anchor is None or not entry.generation:
            return
        fired = entry.fired_until if entry.recurring is None else entry.recurring.fired_until
        data = {"expression": entry.anchor[0], "anchor": entry.anchor[1].isoformat(), "generation": entry.generation,
                "fired": None if fired is None else fired.isoformat()}
        try:
            self.bus.store.put_schedule(entry.record.arn, next_fire, json.dumps(data))
        except Exception as exc:  # (a restart may make a fire again: its key refuses it)
            log.error("eventbus: bus %s: the store could not keep the last fire of rule %s: %s", self.bus.name,
                      entry.record.name, error_text(exc))

    def fire(self, entry: RuleEntry, nominal: datetime) -> None:
        """A scheduled rule fired: AWS's Scheduled Event, to this rule's targets alone."""
        rule = entry.record.name
        if self.bus._rules.get(rule) is not entry:  # (deleted as it fired)
            return
        if self.bus.store is not None and not self._agree(entry, nominal):
            return
        event = {
            "version": "0",
            "id": str(uuid.UUID(int=self.bus._rng.getrandbits(128), version=4)),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.bus.account,
            "time": event_time(nominal),
            "region": self.bus.region,
            "resources": [entry.record.arn],
            "detail": {},
        }
        self.bus._route(event, 0, fresh=True, only=rule,
                    source=f"{entry.record.arn}@{entry.generation}@{nominal.isoformat()}")
        recurring = entry.recurring
        if self.bus.store is not None and recurring is not None:
            self._keep(entry, recurring.next_fire)

    def _agree(self, entry: RuleEntry, nominal: datetime) -> bool:
        """With a store, before a fire: if another process's build of the rule's
        schedule is the one the store keeps (it put the rule again, or put it at the
        same moment as this one), take it up (its anchor and generation, so that a
        fire has one key in every process) and fire only on its times."""
        assert self.bus.store is not None
        recurring = entry.recurring
        if recurring is None or entry.anchor is None:
            return True
        try:
            stored = self.bus.store.get_schedule(entry.record.arn)
            data = None if stored is None else json.loads(stored.data)
        except Exception as exc:  # (fired with this process's own: a key may differ, a fire be made twice)
            log.error("eventbus: bus %s: the store could not say the schedule of rule %s: %s", self.bus.name,
                      entry.record.name, error_text(exc))
            return True
        if data is None or data.get("expression") != entry.anchor[0] or data.get("generation") == entry.generation:
            return True
        with self.bus._lock:
            if self.bus._rules.get(entry.record.name) is not entry or entry.recurring is not recurring:
                return False  # (changed meanwhile)
            entry.anchor = (entry.anchor[0], datetime.fromisoformat(data["anchor"]))
            entry.generation = str(data["generation"])
            self.reschedule(entry, recurring.expression)
            taken = entry.recurring
        return taken is not None and taken.next_after(nominal, inclusive=True) == nominal
