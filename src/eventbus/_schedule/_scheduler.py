"""EventBridge Scheduler, in process: schedule groups, schedules, and their fires.

A ``Scheduler`` owns schedule groups (``default`` always exists) and their
schedules.  Each schedule has a ``Target`` (the delivery runtime's: its retry
policy and dead-letter queue apply to every fire) and a ``Recurring`` timer on
the scheduler's clock.  A fire renders the schedule's input (its context
attributes filled in) and hands it to the target as one delivery; the
attempt number is filled in by each attempt.  With ``action_after_completion
="DELETE"`` a schedule deletes itself after its last fire.

Names, limits and error texts are AWS's where AWS has them (the botocore
model of Scheduler, 2021-06-30): names ``[0-9a-zA-Z-_.]+`` of 1 to 64
characters, descriptions up to 512, time zones up to 50, flexible windows of
1 to 1,440 minutes.
"""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._clock import Clock, resolve_clock
from .._clock._base import utc
from .._delivery import Destination, RetryPolicy, Target
from .._delivery._destinations import speaks_protocol
from .._delivery._durable import Durable, durable_settings
from .._delivery._engine import Job, error_text
from .._delivery._outcomes import Outcome
from .._exceptions import (
    ClockClosedError,
    ConflictError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ValidationError,
)
from .._store import Store
from .._transform import event_time
from .._validate import (
    ACCOUNT,
    REGION,
    Sealed,
    check_datetime,
    check_instance,
    check_int,
    check_name,
    check_str,
    out_of_range,
    short,
    wrong_type,
)
from ._expression import ScheduleExpression, parse_schedule_expression
from ._recurring import Recurring, log

__all__ = ["Schedule", "ScheduleGroup", "Scheduler"]

NAME: Final = r"[0-9a-zA-Z\-_.]+"
DEFAULT_GROUP: Final = "default"
MAX_DESCRIPTION: Final = 512
MAX_EXPRESSION: Final = 256
MAX_TIMEZONE: Final = 50
MAX_WINDOW: Final = 1440  # minutes
STATES: Final = ("ENABLED", "DISABLED")
ACTIONS: Final = ("NONE", "DELETE")
# The context attributes a schedule's input may hold (filled in at each fire;
# the attempt number at each attempt).
ARN_ATTRIBUTE: Final = "<aws.scheduler.schedule-arn>"
TIME_ATTRIBUTE: Final = "<aws.scheduler.scheduled-time>"
EXECUTION_ATTRIBUTE: Final = "<aws.scheduler.execution-id>"
ATTEMPT_ATTRIBUTE: Final = "<aws.scheduler.attempt-number>"
DEFAULT_INPUT: Final = "{}"  # what a target gets from a schedule without input (eventbus's choice)
DEFAULT_EVENT: Final = {"Source": "aws.scheduler", "DetailType": "Scheduled Event"}
# AWS's pattern for an EventBridge target's Source: not "aws." (AWS's own), or a JSON path
_SOURCE: Final = re.compile(r"(?=[/\.\-_A-Za-z0-9]+)((?!aws\.).*)|(\$(\.[\w_-]+(\[(\d+|\*)\])*)*)")
_NOT_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})

ScheduleState = Literal["ENABLED", "DISABLED"]
ActionAfterCompletion = Literal["NONE", "DELETE"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleGroup:
    """A schedule group as ``get_schedule_group`` shows it (a snapshot)."""

    name: str
    arn: str
    state: Literal["ACTIVE", "DELETING"]
    creation_date: datetime
    last_modification_date: datetime
    tags: tuple[tuple[str, str], ...] = ()

    def as_aws(self) -> dict[str, Any]:
        """AWS's GetScheduleGroup shape."""
        return {"Arn": self.arn, "CreationDate": self.creation_date,
                "LastModificationDate": self.last_modification_date, "Name": self.name, "State": self.state}


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A schedule as ``get_schedule`` shows it (a snapshot; change it with
    ``update_schedule``).  ``next_fire_time`` (eventbus's own) is the nominal
    time of the next fire, ``None`` when none is left or the schedule is
    disabled; ``missed_fires`` counts fires folded into a later one because
    the scheduler woke too late for them."""

    name: str
    group_name: str
    arn: str
    schedule_expression: str
    schedule_expression_timezone: str
    start_date: datetime | None
    end_date: datetime | None
    flexible_time_window: Mapping[str, Any]
    state: ScheduleState
    action_after_completion: ActionAfterCompletion
    description: str | None
    input: str | None
    target: Target = field(repr=False)
    event_bridge_parameters: Mapping[str, str] | None
    creation_date: datetime
    last_modification_date: datetime
    next_fire_time: datetime | None = None
    missed_fires: int = 0

    def as_aws(self) -> dict[str, Any]:
        """AWS's GetSchedule shape."""
        target = self.target
        shown: dict[str, Any] = {"Arn": target.arn}
        if self.input is not None:
            shown["Input"] = self.input
        shown["RetryPolicy"] = {"MaximumEventAgeInSeconds": target.retry_policy.maximum_event_age_in_seconds,
                                "MaximumRetryAttempts": target.retry_policy.maximum_retry_attempts}
        if target.dead_letter_queue is not None:
            shown["DeadLetterConfig"] = {"Arn": _arn_of(target.dead_letter_queue)}
        if self.event_bridge_parameters is not None:
            shown["EventBridgeParameters"] = dict(self.event_bridge_parameters)
        out: dict[str, Any] = {
            "ActionAfterCompletion": self.action_after_completion,
            "Arn": self.arn,
            "CreationDate": self.creation_date,
        }
        if self.description is not None:
            out["Description"] = self.description
        if self.end_date is not None:
            out["EndDate"] = self.end_date
        out["FlexibleTimeWindow"] = dict(self.flexible_time_window)
        out["GroupName"] = self.group_name
        out["LastModificationDate"] = self.last_modification_date
        out["Name"] = self.name
        out["ScheduleExpression"] = self.schedule_expression
        out["ScheduleExpressionTimezone"] = self.schedule_expression_timezone
        if self.start_date is not None:
            out["StartDate"] = self.start_date
        out["State"] = self.state
        out["Target"] = shown
        return out


def _arn_of(thing: object) -> str:
    arn = getattr(thing, "arn", None)
    return arn if isinstance(arn, str) else repr(thing)


class _Group:
    __slots__ = ("record", "schedules")

    def __init__(self, record: ScheduleGroup) -> None:
        self.record = record
        self.schedules: dict[str, _Entry] = {}


class _Version:
    """One build of a schedule's settings: what its fires render.  A fire carries
    the version it was for, so that one under way as an update lands still
    delivers what it was due with, to the target it was due to."""

    __slots__ = ("body", "entry", "envelope", "per_attempt", "record")

    def __init__(self, entry: _Entry, record: Schedule, body: str, envelope: Mapping[str, str] | None,
                 per_attempt: bool) -> None:
        self.entry = entry
        self.record = record
        self.body = body  # the input, as text
        self.envelope = envelope  # a bus target's event source and detail-type
        self.per_attempt = per_attempt  # the input names the attempt number

    def fire(self, nominal: datetime, missed: int) -> None:
        self.entry.scheduler._fire(self, nominal)


class _Entry:
    """A schedule: its current version and timer (an update keeps the entry, which
    owns the target)."""

    __slots__ = ("generation", "recurring", "scheduler", "version")

    def __init__(self, scheduler: Scheduler, record: Schedule) -> None:
        self.scheduler = scheduler
        self.version = _Version(self, record, DEFAULT_INPUT, None, False)
        self.recurring: Recurring | None = None
        self.generation = ""  # with a store: this build of the schedule, shared by the processes that share it

    @property
    def record(self) -> Schedule:
        return self.version.record

    def __repr__(self) -> str:
        return f"schedule {self.record.group_name}/{self.record.name}"

    def letter(self, job: Job) -> dict[str, str]:
        """The dead-letter attributes that name the schedule (as the Scheduler guide's
        sample dead-letter event shows them), before the error's."""
        record = self.record
        return {"X-Amz-Scheduler-Attempt": str(job.calls), "X-Amz-Scheduler-Group": record.group_name,
                "X-Amz-Scheduler-Schedule": record.name, "X-Amz-Scheduler-Schedule-Arn": record.arn}


def _attempt_filled(text: str, attempt: int) -> str:
    return text.replace(ATTEMPT_ATTRIBUTE, str(attempt))


class Scheduler(Sealed):
    """EventBridge Scheduler, in process.

    ``Scheduler(*, clock=None, account="123456789012", region="us-east-1",
    seed=None, max_schedules=1_000_000, max_schedule_groups=500, store=None,
    lease=None, poll=None)``.  Schedules
    fire on ``clock`` (under a ``ManualClock``, ``advance()`` fires them at
    their instants); ``seed`` fixes the flexible windows' offsets and the
    execution ids (by default they come from the clock's seed).  The quotas are
    AWS's defaults for schedule groups and a generous bound for schedules
    (AWS allows 10 million per region); both raise
    ``ServiceQuotaExceededError`` when reached.

    ``store`` (a ``SqliteStore``) keeps each fire's delivery until it ends and
    each schedule's last fire: several processes with the same schedules on
    one store fire each time once between them (the fire's key is the
    schedule and its time), and a schedule created again after a restart
    goes on from its last fire (fires missed meanwhile fire once, late, as a
    timer that ran late does).  ``lease`` (seconds, 300 by default) and
    ``poll`` as ``EventBus``'s; both need a store.  See docs/durability.md.
    """

    def __init__(self, *, clock: object = None, account: str = "123456789012", region: str = "us-east-1",
                 seed: int | None = None, max_schedules: int = 1_000_000, max_schedule_groups: int = 500,
                 store: Store | None = None, lease: float | None = None, poll: float | None = None) -> None:
        self.clock: Clock = resolve_clock(clock)
        self.account = check_name("account", account, ACCOUNT)
        self.region = check_name("region", region, REGION)
        self.seed = seed
        self.max_schedules = check_int("max_schedules", max_schedules, 1)
        self.max_schedule_groups = check_int("max_schedule_groups", max_schedule_groups, 1)
        self._rng = self.clock.random() if seed is None else random.Random(check_int("seed", seed, 0))
        self._lock = threading.RLock()
        self._groups: dict[str, _Group] = {}
        self._count = 0
        self._zones: dict[str, tzinfo] = {}
        self._expressions: dict[str, ScheduleExpression] = {}
        now = self.clock.now()
        self._groups[DEFAULT_GROUP] = _Group(ScheduleGroup(name=DEFAULT_GROUP, arn=self._group_arn(DEFAULT_GROUP),
                                                           state="ACTIVE", creation_date=now,
                                                           last_modification_date=now))
        self.store, length, looks = durable_settings(store, lease, poll)
        self.lease = length.total_seconds()
        self.poll = None if looks is None else looks.total_seconds()
        self._durable = None if self.store is None else Durable(
            self.store, f"scheduler:{self.region}:{self.account}", self.clock, self._durable_target,
            lease=length, label="scheduler", poll=looks)
        self._sealed = True

    def __repr__(self) -> str:
        return f"<Scheduler {len(self._groups)} groups, {self._count} schedules>"

    # -- groups -------------------------------------------------------------------
    def _group_arn(self, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule-group/{name}"

    def _group(self, name: object) -> _Group:
        name = DEFAULT_GROUP if name is None else check_name("groupName", name, NAME, 64)
        group = self._groups.get(name)
        if group is None:
            raise ResourceNotFoundError(f"Schedule group {name} does not exist.")
        return group

    def create_schedule_group(self, name: str, *, tags: Mapping[str, str] | None = None) -> str:
        """Create a schedule group (AWS's CreateScheduleGroup); returns its ARN."""
        check_name("name", name, NAME, 64)
        pairs = _tags(tags)
        with self._lock:
            if name in self._groups:
                raise ConflictError(f"Schedule group {name} already exists.")
            if len(self._groups) >= self.max_schedule_groups:
                raise ServiceQuotaExceededError(f"The quota of {self.max_schedule_groups} schedule groups is "
                                                "reached.")
            now = self.clock.now()
            record = ScheduleGroup(name=name, arn=self._group_arn(name), state="ACTIVE", creation_date=now,
                                   last_modification_date=now, tags=pairs)
            self._groups[name] = _Group(record)
            return record.arn

    def get_schedule_group(self, name: str) -> ScheduleGroup:
        """The group (``.as_aws()``: AWS's GetScheduleGroup shape)."""
        with self._lock:
            return self._group(name).record

    def list_schedule_groups(self, *, name_prefix: str | None = None) -> list[ScheduleGroup]:
        """The groups whose names start with ``name_prefix``, by name."""
        if name_prefix is not None:
            check_name("namePrefix", name_prefix, NAME, 64)
        with self._lock:
            return [group.record for name, group in sorted(self._groups.items())
                    if name_prefix is None or name.startswith(name_prefix)]

    def delete_schedule_group(self, name: str) -> None:
        """Delete a group and every schedule in it (AWS's DeleteScheduleGroup; AWS
        shows the group as ``DELETING`` meanwhile, here it is gone at once).
        Deliveries already under way still end as they would have."""
        check_name("name", name, NAME, 64)
        if name == DEFAULT_GROUP:
            raise ValidationError("The default schedule group cannot be deleted.")
        with self._lock:
            group = self._group(name)
            for entry in list(group.schedules.values()):
                self._remove(group, entry)
            del self._groups[name]

    # -- schedules ----------------------------------------------------------------
    def _schedule_arn(self, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"

    def _entry(self, name: object, group: object) -> tuple[_Group, _Entry]:
        name = check_name("name", name, NAME, 64)
        found = self._group(group)
        entry = found.schedules.get(name)
        if entry is None:
            raise ResourceNotFoundError(f"Schedule {name} does not exist.")
        return found, entry

    def create_schedule(
        self,
        name: str,
        expression: str,
        target: Target | Destination | Callable[[Any], object],
        *,
        group: str | None = None,
        timezone: str = "UTC",
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        flexible_time_window: int | Mapping[str, Any] | None = None,
        state: ScheduleState = "ENABLED",
        retry_policy: RetryPolicy | None = None,
        dead_letter_queue: Destination | None = None,
        action_after_completion: ActionAfterCompletion = "NONE",
        input: str | None = None,
        description: str | None = None,
        event_bridge_parameters: Mapping[str, str] | None = None,
    ) -> str:
        """Create a schedule (AWS's CreateSchedule); returns its ARN.

        ``target``: a ``Target`` (with its retry policy and dead-letter queue), or
        what a ``Target`` delivers to (a ``Queue``, ``Function``, ``EventBus`` or
        callable; ``retry_policy`` and ``dead_letter_queue`` then build its
        ``Target``).  ``flexible_time_window``: minutes (1 to 1,440), or AWS's
        ``{"Mode": "OFF" | "FLEXIBLE", "MaximumWindowInMinutes": n}``; ``None``
        is ``OFF``.  ``input`` is what the target receives (JSON text, or any
        text for a queue), with the context attributes filled in; without it the
        target receives ``{}``.  An ``EventBus`` target receives an event whose
        ``detail`` is the input, with ``event_bridge_parameters``'s ``Source``
        and ``DetailType`` (default ``aws.scheduler`` / ``Scheduled Event``).
        """
        with self._lock:
            found = self._group(group)
            check_name("name", name, NAME, 64)
            if name in found.schedules:
                raise ConflictError(f"Schedule {name} already exists.")
            if self._count >= self.max_schedules:
                raise ServiceQuotaExceededError(f"The quota of {self.max_schedules} schedules is reached.")
            entry = self._build(found, name, expression, target, timezone, start_date, end_date,
                                flexible_time_window, state, retry_policy, dead_letter_queue,
                                action_after_completion, input, description, event_bridge_parameters, None)
            found.schedules[name] = entry
            self._count += 1
            try:
                self._start(entry)
            except BaseException:
                self._remove(found, entry)
                raise
        if self._durable is not None:  # fires kept for it (by an earlier process) can be delivered
            self._durable.wake()
        return entry.record.arn

    def update_schedule(
        self,
        name: str,
        expression: str,
        target: Target | Destination | Callable[[Any], object],
        *,
        group: str | None = None,
        timezone: str = "UTC",
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        flexible_time_window: int | Mapping[str, Any] | None = None,
        state: ScheduleState = "ENABLED",
        retry_policy: RetryPolicy | None = None,
        dead_letter_queue: Destination | None = None,
        action_after_completion: ActionAfterCompletion = "NONE",
        input: str | None = None,
        description: str | None = None,
        event_bridge_parameters: Mapping[str, str] | None = None,
    ) -> str:
        """Replace a schedule's settings (AWS's UpdateSchedule: every setting left out
        goes back to its default, as in AWS).  Its next fire is worked out afresh
        from now; a rate without ``start_date`` counts from now.  The old target's
        deliveries under way still end as they would have.  Returns the ARN."""
        with self._lock:
            found, old = self._entry(name, group)
            entry = self._build(found, name, expression, target, timezone, start_date, end_date,
                                flexible_time_window, state, retry_policy, dead_letter_queue,
                                action_after_completion, input, description, event_bridge_parameters, old)
            self._start(entry)
        if self._durable is not None:
            self._durable.wake()
        return entry.record.arn

    def get_schedule(self, name: str, *, group: str | None = None) -> Schedule:
        """The schedule (``.as_aws()``: AWS's GetSchedule shape)."""
        with self._lock:
            return self._snapshot(self._entry(name, group)[1])

    def list_schedules(self, *, group: str | None = None, name_prefix: str | None = None,
                       state: ScheduleState | None = None) -> list[Schedule]:
        """The schedules (of one group, with a name prefix, in one state), by group
        and name."""
        if name_prefix is not None:
            check_name("namePrefix", name_prefix, NAME, 64)
        if state is not None and state not in STATES:
            raise _enum("state", state, STATES)
        with self._lock:
            groups = [self._group(group)] if group is not None else [g for _, g in sorted(self._groups.items())]
            return [self._snapshot(entry) for found in groups for schedule_name, entry in
                    sorted(found.schedules.items())
                    if (name_prefix is None or schedule_name.startswith(name_prefix))
                    and (state is None or entry.record.state == state)]

    def delete_schedule(self, name: str, *, group: str | None = None) -> None:
        """Delete a schedule (AWS's DeleteSchedule).  Deliveries already under way
        still end as they would have."""
        with self._lock:
            found, entry = self._entry(name, group)
            self._remove(found, entry)
        if self.store is not None:  # (made again later, it starts afresh)
            self.store.delete_schedule(entry.record.arn)

    # -- inside ---------------------------------------------------------------------
    def _snapshot(self, entry: _Entry) -> Schedule:
        recurring = entry.recurring
        assert recurring is not None  # (set by every build)
        return replace(entry.record, next_fire_time=recurring.next_fire if entry.record.state == "ENABLED" else None,
                       missed_fires=recurring.missed)

    def _remove(self, found: _Group, entry: _Entry) -> None:
        if found.schedules.get(entry.record.name) is entry:
            del found.schedules[entry.record.name]
            self._count -= 1
        if entry.recurring is not None:
            entry.recurring.cancel()
            entry.recurring = None
        entry.record.target._detach(entry)

    def _zone(self, timezone: object) -> tzinfo:
        if not isinstance(timezone, str):
            raise wrong_type("ScheduleExpressionTimezone", timezone, "<class 'str'>")
        zone = self._zones.get(timezone)
        if zone is None:
            _length("scheduleExpressionTimezone", timezone, MAX_TIMEZONE)
            try:
                if timezone in _NOT_ZONES or timezone.startswith(("posix/", "right/")):
                    raise ValueError(timezone)  # files of the time-zone database, not zones
                zone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # (OSError: a directory, "America")
                raise ValidationError(f"Invalid time zone {short(timezone)}: not an IANA time zone name") from None
            self._zones[timezone] = zone
        return zone

    def _expression(self, expression: object) -> ScheduleExpression:
        if not isinstance(expression, str):
            raise wrong_type("ScheduleExpression", expression, "<class 'str'>")
        parsed = self._expressions.get(expression)
        if parsed is None:
            _length("scheduleExpression", expression, MAX_EXPRESSION)
            parsed = parse_schedule_expression(expression, dialect="scheduler")
            if len(self._expressions) < 10_000:  # (the same few expressions, mostly: parse each once)
                self._expressions[expression] = parsed
        return parsed

    def _build(self, found: _Group, name: str, expression: object, target: object, timezone: object,
               start_date: object, end_date: object, window: object, state: object, retry_policy: object,
               dead_letter_queue: object, action: object, input: object, description: object,
               event_bridge_parameters: object, old: _Entry | None) -> _Entry:
        """Check every setting (nothing changes if one is wrong) and build the entry."""
        parsed = self._expression(expression)
        zone = self._zone(timezone)
        start = _date("StartDate", start_date)
        end = _date("EndDate", end_date)
        if start is not None and end is not None and end <= start:
            raise ValidationError("The EndDate must be after the StartDate.")
        flexible, minutes = _window(window)
        if state not in STATES:
            raise _enum("state", state, STATES)
        if action not in ACTIONS:
            raise _enum("actionAfterCompletion", action, ACTIONS)
        if description is not None:
            if len(check_str("Description", description)) > MAX_DESCRIPTION:
                raise out_of_range("description", description,
                                   f"Member must have length less than or equal to {MAX_DESCRIPTION}")
        built, input_text = self._target(name, target, retry_policy, dead_letter_queue, input, old)
        is_bus = built._forward is not None
        params: dict[str, str] | None = None
        if event_bridge_parameters is not None:
            params = _event_parameters(event_bridge_parameters)
            if not is_bus:
                raise ValidationError("EventBridgeParameters apply only to an EventBus target.")
        arn = self._schedule_arn(found.record.name, name)
        now = self.clock.now()
        record = Schedule(
            name=name, group_name=found.record.name, arn=arn, schedule_expression=parsed.text,
            schedule_expression_timezone=str(timezone), start_date=start, end_date=end,
            flexible_time_window=MappingProxyType(flexible), state=state, action_after_completion=action,
            description=description,  # type: ignore[arg-type]
            input=input_text, target=built,
            event_bridge_parameters=None if params is None else MappingProxyType(dict(params)),
            creation_date=now if old is None else old.record.creation_date, last_modification_date=now)
        body = DEFAULT_INPUT if input_text is None else input_text
        _check_input(body, built, is_bus)
        per_attempt = ATTEMPT_ATTRIBUTE in body
        entry = _Entry(self, record) if old is None else old  # (an update keeps the entry: the target's owner)
        version = _Version(entry, record, body, (params or DEFAULT_EVENT) if is_bus else None, per_attempt)
        one_time = parsed.at is not None
        anchor = start or now
        fired_until = None
        if old is not None and old.recurring is not None:
            fired_until = old.recurring.fired_until  # (what fired is not fired again)
            if start is None and old.record.schedule_expression == parsed.text and old.record.start_date is None:
                anchor = old.recurring.anchor  # the same rate keeps counting from where it began
        recurring = Recurring(
            self.clock, parsed, zone, version.fire, lock=self._lock, anchor=anchor,
            start=None if one_time else start, end=None if one_time else end,
            window=minutes * 60.0, rng=self._rng, fired_until=fired_until,
            label=f"schedule {found.record.name}/{name}")
        kept = self._kept(arn, parsed, zone, start, end, minutes) if old is None else None
        generation = uuid.uuid4().hex[:12]  # (a build of its own: its fires' keys are new)
        if kept is not None:  # kept by another process, or before a restart: on from its last fire, not from now
            fired, kept_anchor, kept_next, generation = kept
            recurring.fired_until = fired
            if start is None and parsed.rate is not None:
                recurring.anchor = kept_anchor
            recurring.prepare(min(now, kept_next) if kept_next is not None and fired is not None else now)
        else:
            recurring.prepare(now)  # (refuses an at(...) past what a datetime holds)
        if self.clock.closed:
            raise ClockClosedError(f"The clock of this scheduler has been shut down: {self.clock!r}")
        built._attach(entry, self.clock, arn, holder="scheduler",
                      per_attempt=_attempt_filled if per_attempt else None, letter=entry.letter)
        if self._durable is not None:
            object.__setattr__(built, "_durable", self._durable)  # (set by the scheduler, not by users)
        # Checked: from here on nothing refuses.
        if old is not None:
            if old.recurring is not None:
                old.recurring.cancel()
            if old.record.target is not built:
                old.record.target._detach(old)
        entry.version = version
        entry.recurring = recurring
        entry.generation = generation
        if self.store is not None and kept is None:  # (so that a process made after this one takes it up)
            self._keep_record(entry, None)
        return entry

    def _target(self, name: str, target: object, retry_policy: object, dead_letter_queue: object,
                input: object, old: _Entry | None) -> tuple[Target, str | None]:
        if input is not None:
            check_str("Input", input)
            if not input:
                raise out_of_range("target.input", input, "Member must have length greater than or equal to 1")
        if isinstance(target, Target):
            if retry_policy is not None or dead_letter_queue is not None:
                raise ValidationError("Give the retry policy and dead-letter queue to the Target itself (this "
                                      "schedule's target is a Target, built with its own)")
            if target.input_path is not None or target.input_transformer is not None:
                raise ValidationError(f"Target {target.target_id} has an input_path or input_transformer: a "
                                      "schedule has no event to take them from (give the schedule input=)")
            if target.input is not None:
                if input is not None:
                    raise ValidationError(f"Target {target.target_id} has an input of its own: give the input "
                                          "once, to the schedule or to the Target")
                input = target.input
            if target._owner is not None and not (old is not None and target._owner is old):
                raise ValidationError(f"Target {target.target_id} is already on {target._owner!r}: a Target "
                                      "belongs to one rule or schedule (build another for this one)")
            return target, input  # type: ignore[return-value]
        if retry_policy is not None:
            check_instance("retry_policy", retry_policy, RetryPolicy, "<class 'eventbus.RetryPolicy'>")
        if target is None or not (speaks_protocol(target) or callable(target)):
            raise wrong_type("Target", target, "<class 'eventbus.Target'>, a Queue, a Function, an EventBus or "
                                               "a callable")
        built = Target(target, target_id=name, retry_policy=retry_policy,  # type: ignore[arg-type]
                       dead_letter_queue=dead_letter_queue)  # type: ignore[arg-type]
        return built, input  # type: ignore[return-value]

    def _start(self, entry: _Entry) -> None:
        recurring = entry.recurring
        if recurring is None or entry.record.state != "ENABLED":
            return
        recurring.arm()
        if recurring.finished:
            self._completed(entry)

    def _completed(self, entry: _Entry) -> None:
        """No fire is left: with ``DELETE`` the schedule goes."""
        record = entry.record
        if record.action_after_completion != "DELETE":
            return
        with self._lock:
            found = self._groups.get(record.group_name)
            if found is None or found.schedules.get(record.name) is not entry:
                return
            self._remove(found, entry)
        if self.store is not None:  # (made again later, it starts afresh)
            self.store.delete_schedule(record.arn)

    def _fire(self, version: _Version, nominal: datetime) -> None:
        """One fire: the rendered input to the target, as one delivery."""
        record = version.record
        target = record.target
        text = version.body
        execution = f"{self._rng.getrandbits(64):016x}"
        if "<aws.scheduler." in text:
            text = (text.replace(ARN_ATTRIBUTE, record.arn).replace(TIME_ATTRIBUTE, event_time(nominal))
                    .replace(EXECUTION_ATTRIBUTE, execution))
        if version.envelope is not None:  # an event bus's: the input is the event's detail, as it is
            head = json.dumps({
                "version": "0", "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                "detail-type": version.envelope["DetailType"], "source": version.envelope["Source"],
                "account": self.account, "time": event_time(nominal), "region": self.region,
                "resources": [record.arn]}, ensure_ascii=False, separators=(",", ":"))
            text = f'{head[:-1]},"detail":{text}}}'
        entry = version.entry
        recurring = entry.recurring
        if entry.version is version and recurring is not None and recurring.finished:
            self._completed(entry)  # (its last fire: DELETE removes it now; this delivery still runs)
        job = target._prepare(text, None, self.clock.now())
        if self._durable is not None:
            self._keep_fire(version, job, nominal)
            return
        if target._async:
            try:
                target._schedule(job, None)
            except ClockClosedError:
                job.abandoned("the clock was shut down")
        else:
            target._attempt(job)


    # -- with a store ---------------------------------------------------------
    @staticmethod
    def _definition(parsed: ScheduleExpression, zone: tzinfo, start: datetime | None, end: datetime | None,
                    minutes: int) -> list[Any]:
        """What decides a schedule's fire times (a kept last fire counts only for the same)."""
        return [parsed.text, str(zone), None if start is None else start.isoformat(),
                None if end is None else end.isoformat(), minutes]

    def _kept(self, arn: str, parsed: ScheduleExpression, zone: tzinfo, start: datetime | None,
              end: datetime | None, minutes: int) -> tuple[datetime | None, datetime, datetime | None, str] | None:
        """A schedule's last fire (if it fired), rate anchor, next fire and generation as
        the store keeps them, if the store has them for the same definition."""
        if self.store is None:
            return None
        stored = self.store.get_schedule(arn)
        if stored is None:
            return None
        data = json.loads(stored.data)
        if data.get("definition") != self._definition(parsed, zone, start, end, minutes):
            return None  # (changed since: it starts afresh)
        fired = data.get("fired")
        return (None if fired is None else datetime.fromisoformat(fired), datetime.fromisoformat(data["anchor"]),
                stored.next_fire, str(data["generation"]))

    def _keep_record(self, entry: _Entry, fired: datetime | None) -> None:
        """Write what a process made later (or after a restart) goes on from: the
        definition, the rate's anchor, the generation, the last fire and the next."""
        recurring = entry.recurring
        assert self.store is not None and recurring is not None
        definition = self._definition(recurring.expression, recurring.zone, recurring.start_at, recurring.end,
                                      int(recurring.window.total_seconds() // 60))
        data = json.dumps({"definition": definition, "fired": None if fired is None else fired.isoformat(),
                           "anchor": recurring.anchor.isoformat(), "generation": entry.generation})
        try:
            self.store.put_schedule(entry.record.arn, recurring.next_fire, data)
        except Exception as exc:  # (a restart may fire a time again: its key refuses it)
            log.error("eventbus: scheduler: the store could not keep schedule %s: %s", entry.record.arn,
                      error_text(exc))

    def _keep_fire(self, version: _Version, job: Job, nominal: datetime) -> None:
        """A fire with a store: its delivery is kept under the key (schedule, nominal
        time), so that of the processes sharing the store one delivers it; then the
        schedule's last fire is recorded."""
        durable = self._durable
        assert durable is not None and self.store is not None
        record = version.record
        target = record.target
        try:
            kept = durable.add([durable.item(job, f"{record.arn}@{version.entry.generation}@{nominal.isoformat()}")],
                               [job])
        except Exception as exc:
            target._end(job, Outcome.DROPPED, f"the store could not keep this fire: {error_text(exc)}")
            return
        if kept == [None]:  # another process fired this time already
            target._ledger.reject(job)
        entry = version.entry
        with self._lock:
            found = self._groups.get(record.group_name)
            live = found is not None and found.schedules.get(record.name) is entry and entry.version is version
        if live and entry.recurring is not None:
            self._keep_record(entry, nominal)

    def _durable_target(self, data: dict[str, Any]) -> Target | None:
        """The target that delivers a kept fire: its schedule's (``None``: not there)."""
        head, _, name = str(data.get("r")).rpartition("/")
        group = head.rpartition("/")[2]
        with self._lock:
            found = self._groups.get(group)
            entry = None if found is None else found.schedules.get(name)
            if entry is None or entry.record.arn != data.get("r"):
                return None
            target = entry.record.target
            return target if target.target_id == data.get("t") else None


def _length(name: str, value: str, limit: int) -> None:
    if not value:
        raise out_of_range(name, value, "Member must have length greater than or equal to 1")
    if len(value) > limit:
        raise out_of_range(name, value, f"Member must have length less than or equal to {limit}")


def _enum(name: str, value: object, allowed: Sequence[str]) -> ValidationError:
    return out_of_range(name, value, "Member must satisfy enum value set: [" + ", ".join(allowed) + "]")


def _date(name: str, value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return utc(check_datetime(name, value))
    except OverflowError:  # its offset takes it out of datetime's range in UTC
        raise ValidationError(f"{name} {short(value)} is out of range in UTC") from None


def _window(value: object) -> tuple[dict[str, Any], int]:
    """A flexible time window as AWS shows it, and its minutes (0: off)."""
    if value is None:
        return {"Mode": "OFF"}, 0
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = check_int("flexibleTimeWindow.maximumWindowInMinutes", value, 1, MAX_WINDOW)
        return {"MaximumWindowInMinutes": minutes, "Mode": "FLEXIBLE"}, minutes
    if not isinstance(value, Mapping):
        raise wrong_type("FlexibleTimeWindow", value, "<class 'int'>, <class 'dict'>")
    unknown = set(value) - {"Mode", "MaximumWindowInMinutes"}
    if unknown:
        raise ValidationError(f'Unknown parameter in FlexibleTimeWindow: "{sorted(unknown)[0]}", must be one of: '
                              "MaximumWindowInMinutes, Mode")
    mode = value.get("Mode")
    if mode not in ("OFF", "FLEXIBLE"):
        raise _enum("flexibleTimeWindow.mode", mode, ("OFF", "FLEXIBLE"))
    given = value.get("MaximumWindowInMinutes")
    if mode == "OFF":
        if given is not None:
            raise ValidationError("MaximumWindowInMinutes is only allowed when the FlexibleTimeWindow Mode is "
                                  "FLEXIBLE.")
        return {"Mode": "OFF"}, 0
    if given is None:
        raise ValidationError("MaximumWindowInMinutes is required when the FlexibleTimeWindow Mode is FLEXIBLE.")
    minutes = check_int("flexibleTimeWindow.maximumWindowInMinutes", given, 1, MAX_WINDOW)
    return {"MaximumWindowInMinutes": minutes, "Mode": "FLEXIBLE"}, minutes


def _tags(tags: object) -> tuple[tuple[str, str], ...]:
    if tags is None:
        return ()
    if not isinstance(tags, Mapping):
        raise wrong_type("Tags", tags, "<class 'dict'>")
    if len(tags) > 200:
        raise out_of_range("tags", f"{len(tags)} tags", "Member must have length less than or equal to 200")
    for key, value in tags.items():
        _length("tags.member.key", check_str("Tags.Key", key), 128)
        _length("tags.member.value", check_str("Tags.Value", value), 256)
    return tuple(sorted(tags.items()))


def _event_parameters(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise wrong_type("EventBridgeParameters", value, "<class 'dict'>")
    out: dict[str, str] = {}
    for key, limit in (("DetailType", 128), ("Source", 256)):
        given = value.get(key)
        if given is None:
            raise ValidationError(f'Missing required parameter in EventBridgeParameters: "{key}"')
        check_str(f"EventBridgeParameters.{key}", given)
        field_name = f"target.eventBridgeParameters.{key[0].lower()}{key[1:]}"
        _length(field_name, given, limit)
        if key == "Source" and not _SOURCE.fullmatch(given):
            raise out_of_range(field_name, given, f"Member must satisfy regular expression pattern: {_SOURCE.pattern}")
        out[key] = given
    unknown = set(value) - {"DetailType", "Source"}
    if unknown:
        raise ValidationError(f'Unknown parameter in EventBridgeParameters: "{sorted(unknown)[0]}", must be one '
                              "of: DetailType, Source")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_input(body: str, target: Target, is_bus: bool) -> None:
    """The input must be JSON for a target that takes a value (AWS: for Lambda, Step
    Functions and EventBridge targets), an object for an event bus (its detail);
    checked with sample values in place of the context attributes."""
    if target._send_text is not None and not is_bus:
        return  # a queue takes any text
    sample = (body.replace(ARN_ATTRIBUTE, "arn").replace(TIME_ATTRIBUTE, "2024-01-01T00:00:00Z")
              .replace(EXECUTION_ATTRIBUTE, "0").replace(ATTEMPT_ATTRIBUTE, "1"))
    try:
        value = json.loads(sample, parse_constant=_no_constant)
    except ValueError:
        raise ValidationError(f"The Input of target {target.target_id} must be well-formed JSON for this target "
                              f"(a queue takes any text): {short(body)}") from None
    if is_bus and not isinstance(value, dict):
        raise ValidationError(f"The Input of target {target.target_id} is the event's detail, so it must be a JSON "
                              f"object: {short(body)}")
