"""EventBus: rules, targets, PutEvents, and every event's journey.

A bus owns its rules (compiled into one ``RuleIndex``; a disabled rule is
kept but taken out of the index, so it matches nothing) and their targets
(``Target`` objects from the delivery runtime, bound to the bus's clock and
to their rule's ARN).  ``put_events`` checks the request as AWS does, builds
each event's envelope, matches it once, and hands each matched target the
event's text (made once per event) and what the target's input settings
make of it; the target delivers it later, on the clock, with its retry
policy and dead-letter queue.  Nothing runs inline: ``put_events`` returns
before any target is called.

Each accepted event is also archived by the bus's archives whose patterns
it matches (``_archives.py``; not a replayed event), folded into its
discovered schema when discovery is on, and checked against its schema when
``validate_events`` is on (before it is routed: a refused entry goes no
further).

Bus to bus: a target may be another ``EventBus`` on the same clock.  As in
AWS, an event may cross one bus-to-bus hop: an event that arrived from
another bus and is routed on to a third fails that delivery with AWS's
``THIRD_ACCOUNT_HOP_DETECTED`` (not retried; dead-lettered if the target has
a dead-letter queue), so loops end.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

from .._archive import Archive, ArchiveStore, Replay
from .._clock import resolve_clock
from .._delivery import RetryPolicy, Target
from .._delivery._durable import Durable, durable_settings
from .._delivery._engine import Fanout, Job, error_text
from .._delivery._outcomes import Outcome
from .._delivery._payload import COMPACT as _COMPACT
from .._delivery._payload import Parsed, to_text
from .._delivery._payload import value_of as _value
from .._exceptions import (
    ClockClosedError,
    EventBusError,
    LimitExceededError,
    NonRetryableError,
    ResourceNotFoundError,
    ValidationError,
)
from .._pattern import RuleIndex
from .._schedule._expression import parse_schedule_expression
from .._schemas import SchemaRegistry
from .._stack import on_a_fresh_stack
from .._store import Enqueued, Store
from .._transform import WHOLE_EVENT, Context, event_time
from .._validate import (
    ACCOUNT,
    REGION,
    Sealed,
    check_bool,
    check_description,
    check_instance,
    check_int,
    check_name,
    check_str,
    short,
    wrong_type,
)
from ._archives import Archives, Pending, millis
from ._entries import (
    Accepted,
    EntryError,
    PutEventsRequestEntry,
    PutEventsResponse,
    PutEventsResultEntry,
    check_request,
    read_entry,
)
from ._journey import Journey, Journeys
from ._rules import FIELDS, Rule, RuleEntry, State, compile_event_pattern
from ._scheduled import ScheduledRules
from ._shared import Shared

__all__ = ["EventBus", "Rule"]

log = logging.getLogger("eventbus.bus")

RULE_NAME: Final = r"[\.\-_A-Za-z0-9]+"
BUS_NAME: Final = r"[/\.\-_A-Za-z0-9]+"
MAX_TARGETS: Final = 5  # per rule (AWS's quota)
MAX_PUT_TARGETS: Final = 10  # per put_targets call
MAX_DESCRIPTION: Final = 512
MAX_SCHEDULE: Final = 256  # characters of a ScheduleExpression
STATES: Final = ("ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
_HOP: Final = "THIRD_ACCOUNT_HOP_DETECTED"
Kept = list[tuple[str, list[Job], list[Enqueued]]]  # routed events' deliveries to write: (event id, jobs, items)
_ENVELOPE: Final = ("id", "account", "source", "time", "region", "detail-type")
F = TypeVar("F", bound=Callable[..., Any])


class EventBus(Sealed):
    """An EventBridge event bus, in process.

    ``EventBus(name="default", *, clock=None, account="123456789012",
    region="us-east-1", max_rules=300, journey_retention=10_000, seed=None,
    archive_store=None, store=None, lease=None, poll=None)``.
    ``max_rules`` is AWS's quota of rules per bus (adjustable there, and here).
    ``archive_store`` keeps the bus's archives (by default the work store
    ``store`` if given, else memory; ``SqliteArchiveStore`` keeps them in a
    file, and a bus opened again on it finds them).  ``store`` (a ``SqliteStore``, or any eventbus store) keeps
    every accepted delivery to the bus's targets until it ends, so that a
    process that dies loses none: the next process on the same store, with
    the same rules and targets, delivers them (at least once; see
    docs/durability.md).  ``lease`` is how long, in seconds, an attempt may
    run before another process takes the delivery over (300 by default);
    ``poll`` how often,
    in seconds, to look for deliveries other processes put in the store (a
    worker that shares a store with processes that put events; ``None``: this
    process notices only what it accepts itself).  ``lease`` and ``poll``
    need a store: given without one, they are refused.  With a store the
    rules and targets are kept there too, and every process on it sees one
    configuration (each takes up the others' changes when it next looks; a
    target's destination is found by its ARN: ``register_destinations``).
    """

    def __init__(
        self,
        name: str = "default",
        *,
        clock: object = None,
        account: str = "123456789012",
        region: str = "us-east-1",
        max_rules: int = 300,
        journey_retention: int = 10_000,
        seed: int | None = None,
        archive_store: ArchiveStore | None = None,
        store: Store | None = None,
        lease: float | None = None,
        poll: float | None = None,
    ) -> None:
        self.name = check_name("name", name, BUS_NAME, 256)
        self.clock = resolve_clock(clock)
        self.account = check_name("account", account, ACCOUNT)
        self.region = check_name("region", region, REGION)
        self.arn = f"arn:aws:events:{self.region}:{self.account}:event-bus/{self.name}"
        self.max_rules = check_int("max_rules", max_rules, 1)
        self.seed = seed
        self._rng = self.clock.random() if seed is None else random.Random(check_int("seed", seed, 0))
        self._lock = threading.RLock()  # writers (rules, targets) take turns; put_events reads snapshots
        self._rules: dict[str, RuleEntry] = {}
        self._index: RuleIndex[str] = RuleIndex()
        # enabled rule -> (its entry, its targets): replaced whole on every change, never changed
        # in place, so put_events reads one consistent snapshot without a lock
        self._routes: dict[str, tuple[RuleEntry, tuple[Target, ...]]] = {}
        self._deleted: list[RuleEntry] = []  # deleted rules whose targets still have deliveries pending
        self._fold_at = 64  # how many deleted rules are kept before those with nothing pending are folded
        self._folded = dict.fromkeys(FIELDS, 0)  # ... and what deleted rules counted
        self._journeys = Journeys(journey_retention)
        self.journey_retention = journey_retention
        self._counts = {"events": 0, "unmatched": 0, "triggered_rules": 0, "failed_entries": 0, "matched": 0}
        self._counts_lock = threading.Lock()
        self._discoverer: SchemaRegistry | None = None  # start_discovery
        self._validation: tuple[SchemaRegistry, str, bool] | None = None  # validate_events: (schemas, registry, reject)
        self.store, length, looks = durable_settings(store, lease, poll)
        # (archives go to the work store too, one store for everything, unless archive_store= is given)
        self._archives = Archives(self, self.store if archive_store is None and isinstance(self.store, ArchiveStore)
                                  else archive_store)
        self.lease = length.total_seconds()
        self.poll = None if looks is None else looks.total_seconds()
        self._durable = None if self.store is None else Durable(
            self.store, f"events:{self.arn}", self.clock, self._durable_target, lease=length,
            label=f"event bus {self.name}", poll=looks)
        self._shared = None if self.store is None else Shared(self, self.store)
        self._schedules = ScheduledRules(self)
        if self._durable is not None and self._shared is not None:
            self._durable.claiming = self._shared.delivers
            self._durable.before = self._shared.sync
        self._sealed = True
        if self._shared is not None:  # the rules and targets other processes put (or put before a restart)
            self._shared.sync(force=True)

    def __repr__(self) -> str:
        return f"<EventBus {self.name} rules={len(self._rules)}>"

    # -- rules ------------------------------------------------------------------
    def _rule_arn(self, name: str) -> str:
        path = name if self.name == "default" else f"{self.name}/{name}"
        return f"arn:aws:events:{self.region}:{self.account}:rule/{path}"

    def _entry(self, name: object) -> RuleEntry:
        name = check_name("Name", name, RULE_NAME, 64)
        entry = self._rules.get(name)
        if entry is None:
            raise ResourceNotFoundError(f"Rule {name} does not exist on EventBus {self.name}.")
        return entry

    def put_rule(self, name: str, *, event_pattern: str | Mapping[str, Any] | None = None,
                 schedule_expression: str | None = None, state: State = "ENABLED",
                 description: str | None = None) -> str:
        """Create or update a rule (AWS's PutRule); returns its ARN.  Updating keeps
        its targets; ``event_pattern`` is JSON text or a mapping.  A rule with a
        ``schedule_expression`` (``cron(...)`` or ``rate(...)``, in UTC; on the
        default bus only, as in AWS) sends its targets AWS's ``Scheduled Event``
        at each fire time; ``rate(...)`` counts from when the rule was put."""
        check_name("Name", name, RULE_NAME, 64)
        if state not in STATES:
            raise ValidationError(f"1 validation error detected: Value '{short(state)}' at 'state' failed to satisfy "
                                  "constraint: Member must satisfy enum value set: [" + ", ".join(STATES) + "]")
        if description is not None:
            check_str("Description", description)  # (botocore's name for a wrong type; the service's for a length)
            check_description("description", description, MAX_DESCRIPTION)
        if event_pattern is None and schedule_expression is None:
            raise ValidationError("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        schedule = None
        if schedule_expression is not None:
            if not isinstance(schedule_expression, str):
                raise wrong_type("ScheduleExpression", schedule_expression, "<class 'str'>")
            if len(schedule_expression) > MAX_SCHEDULE:
                raise ValidationError(f"1 validation error detected: Value '{short(schedule_expression)}' at "
                                      "'scheduleExpression' failed to satisfy constraint: Member must have length "
                                      f"less than or equal to {MAX_SCHEDULE}")
            if self.name != "default":
                raise ValidationError("ScheduleExpression is supported only on the default event bus.")
            schedule = parse_schedule_expression(schedule_expression, dialect="rule")
            if self.clock.closed:  # (refused before anything changes: the rule's timer could not be set)
                raise ClockClosedError(f"The clock of event bus {self.name} has been shut down")
        text, probe = compile_event_pattern(name, event_pattern)  # (refused before anything changes)
        arn = self._rule_arn(name)
        self._look()
        with self._lock:
            entry = self._rules.get(name)
            if entry is None and len(self._rules) >= self.max_rules:
                raise LimitExceededError("The requested resource exceeds the maximum number allowed.")
            record = Rule(name=name, arn=arn, event_pattern=text, state=state, description=description,
                          event_bus_name=self.name, schedule_expression=schedule_expression)
            if self._shared is not None:  # (the store first: refused, nothing changes)
                self._shared.rule_put(record)
            if entry is None:
                entry = self._rules[name] = RuleEntry(record, self.name)
            else:
                entry.record = record
            if state == "DISABLED" or text is None:
                if name in self._index:
                    self._index.remove(name)
            else:
                self._index.add(name, probe.pattern(name))
            self._reroute(entry)
            self._schedules.reschedule(entry, schedule)
        return arn

    def _reroute(self, entry: RuleEntry) -> None:
        """Publish the rule's current targets to ``put_events``: a new dict each time."""
        name = entry.record.name
        routes = dict(self._routes)
        if entry.record.state == "DISABLED" or self._rules.get(name) is not entry:
            routes.pop(name, None)
        else:
            routes[name] = (entry, tuple(entry.targets.values()))
        self._routes = routes

    def delete_rule(self, name: str) -> None:
        """Delete a rule (AWS: only once it has no targets; deleting an absent rule is not an error)."""
        check_name("Name", name, RULE_NAME, 64)
        self._look()
        with self._lock:
            entry = self._rules.get(name)
            if entry is None:
                return
            if entry.targets:
                raise ValidationError("Rule can't be deleted since it has targets.")
            if self._shared is not None:
                self._shared.rule_deleted(name)
            del self._rules[name]
            if name in self._index:
                self._index.remove(name)
            self._reroute(entry)
            self._schedules.reschedule(entry, None)
            self._deleted.append(entry)  # (what it counted still counts for the bus)
            if len(self._deleted) >= self._fold_at:  # (bounded: those with nothing pending are folded)
                self._fold_deleted()
                self._fold_at = max(64, 2 * len(self._deleted))
        if self.store is not None and entry.recurring is None and entry.generation:  # (put again: afresh)
            self.store.delete_schedule(entry.record.arn)

    def describe_rule(self, name: str) -> Rule:
        """The rule (``Rule.as_aws()`` gives AWS's DescribeRule shape)."""
        self._look()
        return self._entry(name).record

    def list_rules(self, prefix: str | None = None) -> list[Rule]:
        """The rules whose names start with ``prefix``, sorted by name."""
        if prefix is not None:
            check_name("NamePrefix", prefix, RULE_NAME, 64)
        self._look()
        with self._lock:
            return [entry.record for name, entry in sorted(self._rules.items())
                    if prefix is None or name.startswith(prefix)]

    def enable_rule(self, name: str) -> None:
        self._set_state(name, "ENABLED")

    def disable_rule(self, name: str) -> None:
        self._set_state(name, "DISABLED")

    def _set_state(self, name: str, state: State) -> None:
        self._look()
        with self._lock:
            entry = self._entry(name)
            record = entry.record
            self.put_rule(name, event_pattern=record.event_pattern, schedule_expression=record.schedule_expression,
                          state=state, description=record.description)

    # -- shared through the store -----------------------------------------------
    def _look(self) -> None:
        """With a store: take up the rules and targets other processes changed."""
        if self._shared is not None:
            self._shared.sync()

    def register_destinations(self, *destinations: object) -> None:
        """With a store, the rules and targets are shared by every process on it,
        and a target's destination is found by its ARN among those this process
        knows: the destinations of the targets it put, and these (``Queue``,
        ``Function``, ``EventBus`` or callable objects).  A target whose
        destination a process does not know is delivered by another process of
        the group (see docs/durability.md)."""
        if self._shared is None:
            raise ValidationError(f"Event bus {self.name} has no store: its rules and targets are its own, and "
                                  "register_destinations has nothing to do (give the bus store=...)")
        self._shared.register(destinations)
        if self._durable is not None:
            self._durable.wake()

    # -- targets ----------------------------------------------------------------
    def put_targets(self, rule: str, targets: Iterable[Target]) -> None:
        """Add targets to a rule, or replace those with the same ``target_id`` (AWS's
        PutTargets).  At most 10 per call and 5 per rule; all or none are put."""
        if not isinstance(targets, list | tuple):
            raise wrong_type("Targets", targets, "<class 'list'>, <class 'tuple'>")
        listed = list(targets)
        if not listed:
            raise ValidationError("Invalid length for parameter Targets, value: 0, valid min length: 1")
        if len(listed) > MAX_PUT_TARGETS:
            raise ValidationError("1 validation error detected: Value at 'targets' failed to satisfy constraint: "
                                  f"Member must have length less than or equal to {MAX_PUT_TARGETS}")
        for target in listed:
            check_instance("Targets[]", target, Target, "<class 'eventbus.Target'>")
        ids = [target.target_id for target in listed]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise ValidationError(f"Target {duplicate} appears more than once in this request.")
        self._look()
        with self._lock:
            entry = self._entry(rule)
            after = dict(entry.targets)
            for target in listed:
                after[target.target_id] = target
            if len(after) > MAX_TARGETS:
                raise LimitExceededError("The requested resource exceeds the maximum number allowed.")
            attached: list[Target] = []
            try:
                for target in listed:
                    if entry.targets.get(target.target_id) is not target:
                        former = target._former
                        if isinstance(former, RuleEntry) and former is not entry:
                            former.fold()  # what it did for its last rule is counted there, once and for all
                        target._attach(entry, self.clock, entry.record.arn)
                        attached.append(target)
                if self._shared is not None:
                    self._shared.targets_put(rule, listed)
            except BaseException:
                for target in attached:
                    target._detach(entry)
                raise
            for target in listed:
                old = entry.targets.get(target.target_id)
                if old is not None and old is not target:
                    old._detach(entry)
                    entry.retire(old)
            for target in attached:
                entry.attach(target)
                if self._durable is not None:
                    object.__setattr__(target, "_durable", self._durable)  # (set by the bus, not by users)
            entry.targets = after
            self._reroute(entry)
        if self._durable is not None:  # deliveries kept for these targets (by an earlier process) can go on
            self._durable.wake()

    def remove_targets(self, rule: str, ids: Iterable[str]) -> None:
        """Take targets off a rule by id (AWS's RemoveTargets); absent ids are ignored.
        Deliveries already accepted still end as they would have."""
        if not isinstance(ids, list | tuple):
            raise wrong_type("Ids", ids, "<class 'list'>, <class 'tuple'>")
        listed = list(ids)
        for target_id in listed:
            check_name("Ids[]", target_id, RULE_NAME, 64)
        self._look()
        with self._lock:
            entry = self._entry(rule)
            if self._shared is not None:
                self._shared.targets_removed(rule, [target_id for target_id in listed if target_id in entry.targets])
            for target_id in listed:
                target = entry.targets.pop(target_id, None)
                if target is not None:
                    target._detach(entry)
                    entry.retire(target)
            self._reroute(entry)

    def list_targets_by_rule(self, rule: str) -> list[Target]:
        """The rule's targets, in the order they were first put."""
        self._look()
        with self._lock:
            return list(self._entry(rule).targets.values())

    # -- events -----------------------------------------------------------------
    def put_events(self, entries: Iterable[PutEventsRequestEntry]) -> PutEventsResponse:
        """AWS's PutEvents: up to 10 entries; returns ``{"FailedEntryCount": n,
        "Entries": [...]}`` in request order.  Request-level problems raise
        ``ValidationError``; an entry AWS would fail is listed with its
        ``ErrorCode`` and ``ErrorMessage``.  No target runs before this returns."""
        checked = check_request(entries)
        if self.clock.closed:
            raise ClockClosedError(f"The clock of event bus {self.name} has been shut down")
        self._look()
        results: list[PutEventsResultEntry] = []
        archives = self._archives
        pending: Pending | None = [] if archives.active else None  # archived once the call has routed them
        kept: Kept | None = [] if self._durable is not None else None  # deliveries written when the call has routed
        failed = 0
        try:
            failed = self._put(checked, results, pending, kept)
        finally:  # (what was routed is archived and kept, even if a later entry raised)
            if pending:
                archives.write(pending, millis(self.clock.now()))
            if kept:
                failed += self._keep(kept, results)
        if failed:
            with self._counts_lock:
                self._counts["failed_entries"] += failed
            log.info("eventbus: bus %s: %d of %d PutEvents entries failed", self.name, failed, len(checked))
        return {"FailedEntryCount": failed, "Entries": results}

    def _put(self, checked: list[Mapping[str, Any]], results: list[PutEventsResultEntry],
             pending: Pending | None, kept: Kept | None) -> int:
        """Route each checked entry (put_events's loop); returns how many failed."""
        failed = 0
        for raw in checked:
            read = read_entry(raw)
            if isinstance(read, Accepted) and read.bus_name is not None and read.bus_name not in (self.name,
                                                                                                  self.arn):
                read = EntryError("ResourceNotFoundException", f"Event bus {read.bus_name} does not exist.")
            if isinstance(read, EntryError):
                failed += 1
                results.append({"ErrorCode": read.code, "ErrorMessage": read.message})
                continue
            event = self._envelope(read)
            violation, refused = self._verdict(event)
            if refused:
                failed += 1
                results.append({"ErrorCode": "InvalidArgument", "ErrorMessage": str(violation)})
                continue
            results.append({"EventId": self._route(event, 0, fresh=True, pending=pending, violation=violation,
                                                   kept=kept)})
        return failed

    def publish(self, *, source: str, detail_type: str, detail: Mapping[str, Any] | None = None,
                resources: Sequence[str] = (), time: Any = None) -> str:
        """Put one event, Python-style: ``detail`` a mapping; returns the event id,
        or raises ``ValidationError`` with AWS's entry error."""
        if detail is not None and not isinstance(detail, Mapping):
            raise wrong_type("detail", detail, "<class 'dict'>")
        if isinstance(resources, str) or not isinstance(resources, list | tuple):
            raise wrong_type("resources", resources, "<class 'list'>, <class 'tuple'>")
        try:
            detail_text = to_text(dict(detail or {}), "detail")
        except ValidationError as exc:
            raise ValidationError(f"MalformedDetail: Detail is malformed. ({exc})") from None
        entry: dict[str, Any] = {"Source": source, "DetailType": detail_type, "Detail": detail_text,
                                 "Resources": list(resources)}
        if time is not None:
            entry["Time"] = time
        result = self.put_events([entry])["Entries"][0]  # type: ignore[list-item]
        if "EventId" not in result:
            raise ValidationError(f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}")
        return result["EventId"]

    def on(self, pattern: str | Mapping[str, Any], *, name: str | None = None,
           retry_policy: RetryPolicy | None = None, dead_letter_queue: Any = None) -> Callable[[F], F]:
        """Decorator: subscribe a function (sync or ``async def``) to events matching
        ``pattern``, through ``put_rule`` and ``put_targets`` (the rule is named after
        the function unless ``name`` is given).  The function receives the event."""
        def subscribe(fn: F) -> F:
            rule = name if name is not None else _name_for(fn)
            check_name("Name", rule, RULE_NAME, 64)
            target = Target(fn, target_id=_name_for(fn), retry_policy=retry_policy,
                            dead_letter_queue=dead_letter_queue, clock=self.clock)
            with self._lock:
                found = self._rules.get(rule)
                same = None if found is None else found.targets.get(target.target_id)
                if found is not None and self._shared is not None and self._shared.taken_up(rule) \
                        and same is not None and same.arn == target.arn:
                    pass  # (taken up from the store: this subscription's own rule, put again after a restart)
                elif found is not None:  # a second subscription must not take the first one over
                    raise ValidationError(f"Rule {rule} already exists on EventBus {self.name}: give @on(...) a "
                                          "name= of its own")
                self.put_rule(rule, event_pattern=pattern)
                try:
                    self.put_targets(rule, [target])
                except BaseException:
                    self.delete_rule(rule)
                    raise
            return fn
        return subscribe

    def _envelope(self, read: Accepted) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "version": "0",
            "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            "detail-type": read.detail_type,
            "source": read.source,
            "account": self.account,
            "time": event_time(read.time or now),
            "region": self.region,
            "resources": read.resources,
            "detail": read.detail,
        }

    def _route(self, event: dict[str, Any], hops: int, *, fresh: bool = False, only: str | None = None,
               rules: frozenset[str] | None = None, pending: Pending | None = None,
               violation: str | None = None, kept: Kept | None = None, source: str | None = None) -> str:
        """Match one event, archive it, and hand it to every target of every matched rule.
        ``fresh``: the event was built here from values nothing else holds (an
        envelope of ``put_events``), so it can stand for its parsed text.
        ``only``: a scheduled rule's event, for that rule's targets alone (not
        archived).  ``rules``: a replayed event, for those rules alone (all if
        ``None``).  ``pending``: what put_events archives when the call ends.
        ``violation``: how the event broke its schema (recorded in its journey).
        ``kept``: with a store, where put_events collects the deliveries it writes
        in one transaction when the call ends (else they are written here).
        ``source``: with a store, what makes the event's deliveries duplicates if it
        comes again: a scheduled rule's fire (its ARN and time: of the processes
        sharing the store, one delivers each fire), or the kept delivery that
        forwarded it from another bus (tried again after a crash).  Events put
        or replayed are new each time: their deliveries have no key."""
        try:  # first: an event that is not JSON goes no further
            try:
                text = _COMPACT.encode(event)
            except RecursionError:  # deep, or called from deep in the stack
                text = on_a_fresh_stack(_COMPACT.encode, event)
        except (TypeError, ValueError, RecursionError):
            raise ValidationError("Parameter Event is not valid.") from None
        event_id: str = event["id"]
        now = self.clock.now()
        routes = self._routes  # one snapshot for the whole event
        if only is None:
            enabled = [rule for rule in sorted(self._index.match(event)) if rule in routes]
            if rules is not None:
                enabled = [rule for rule in enabled if rule in rules]
            if "replay-name" not in event:  # (what a replay sends was archived and discovered the first time)
                if self._archives.active:
                    self._archives.capture(event, text, now, pending)
                discoverer = self._discoverer
                if discoverer is not None:
                    discoverer._discover(event)
        else:
            enabled = [only] if only in routes else []
        journeys = self._journeys
        journey = journeys.start(event_id, self.name, event["source"], event["detail-type"], now) \
            if journeys.retention else None
        if journey is not None:
            journey.rules = tuple(enabled)
            if violation is not None:
                journey.violations = (violation,)
        with self._counts_lock:
            counts = self._counts
            counts["events"] += 1
            counts["triggered_rules"] += len(enabled)
            counts["matched"] += len(enabled)
            if not enabled:
                counts["unmatched"] += 1
            for rule in enabled:
                routes[rule][0].matched += 1
        if not enabled:
            log.debug("eventbus: bus %s: event %s (%s / %s) matched no rule", self.name, event_id, event["source"],
                      event["detail-type"])
            return event_id
        ingestion: str | None = None
        # The event parsed once for every target that gives it on as a value (each call
        # gets a copy of this), when it has more than one target.
        shared: Parsed | None = None
        if len(enabled) > 1 or len(routes[enabled[0]][1]) > 1:
            try:
                shared = Parsed(event if fresh else _value(text))
            except RecursionError:  # deep, or called from deep in the stack: each parses its own
                pass
        durable = self._durable
        if durable is not None:
            jobs: list[Job] = []
            items: list[Enqueued] = []
        one_at_a_time = self.clock._one_at_a_time
        batch: list[Job] = []  # first attempts to make on one timer
        apart: list[Job] = []  # first attempts each on a timer of its own (async targets, threaded clocks)
        together = batch.append if one_at_a_time else apart.append
        for rule in enabled:
            entry, targets = routes[rule]
            context: Context | None = None
            if journey is not None:
                journey._rule = rule
            for target in targets:
                transform = target._input
                if transform is WHOLE_EVENT:
                    job = target._prepare(text, None, now, journey, hops, shared)
                else:
                    if context is None:
                        if ingestion is None:
                            ingestion = event_time(now)
                        context = Context(rule, entry.record.arn, ingestion)
                    body = transform.render(event, text, context)
                    if body is None:
                        target._not_delivered(text, journey)
                        continue
                    job = target._prepare(text, body, now, journey, hops)
                if durable is not None:
                    jobs.append(job)
                    items.append(durable.item(job, None if source is None
                                              else f"{source}/{entry.record.arn}/{target.target_id}"))
                elif target._async:
                    apart.append(job)
                else:
                    together(job)
        if durable is not None:
            if kept is not None:
                kept.append((event_id, jobs, items))
            elif self._keep([(event_id, jobs, items)], None):
                raise EventBusError(f"the store of event bus {self.name} could not keep the deliveries of event "
                                    f"{event_id}")
            return event_id
        for job in apart:
            self._start(job)
        if batch:
            fanout = Fanout(batch)
            try:
                self.clock._post(None, fanout, f"event {event_id} to {len(batch)} targets", fanout.abandoned, False)
            except ClockClosedError:
                fanout.abandoned("the clock was shut down")
        return event_id

    def _keep(self, kept: Kept, results: list[PutEventsResultEntry] | None) -> int:
        """Write routed events' deliveries to the store, in one transaction; returns how
        many events failed.  If the store refuses, those deliveries end as dropped
        (with why) and their entries fail with ``InternalFailure`` (the caller may
        send them again); a delivery the store already holds (same key) is not
        this process's to make: not counted, and its journey says why."""
        durable = self._durable
        assert durable is not None
        items = [item for _, _, event_items in kept for item in event_items]
        all_jobs = [job for _, jobs, _ in kept for job in jobs]
        try:
            ids = durable.add(items, all_jobs)
        except Exception as exc:
            reason = f"the store could not keep it: {error_text(exc)}"
            log.error("eventbus: bus %s: %s", self.name, reason)
            for _, jobs, _ in kept:
                for job in jobs:
                    job.runner._end(job, Outcome.DROPPED, reason)
            refused = {event_id for event_id, _, _ in kept}
            if results is not None:
                for at, result in enumerate(results):
                    if result.get("EventId") in refused:
                        results[at] = {"ErrorCode": "InternalFailure",
                                       "ErrorMessage": f"The event could not be kept: {error_text(exc)}"}
            return len(refused)
        for job, item_id in zip(all_jobs, ids, strict=True):
            if item_id is None:  # kept already (a forward tried again; another process's scheduled fire)
                job.runner._ledger.reject(job)  # (not a delivery of this process: not counted)
                if job.trail is not None:
                    job.trail._ended(job, Outcome.DROPPED, "a duplicate: the store already holds this delivery")
        return 0

    def _durable_target(self, data: dict[str, Any]) -> Target | None:
        """The target that delivers a kept delivery: on its rule (removed targets with
        deliveries pending, and deleted rules', included; not a removed one whose
        destination is in another process); ``None`` if not there."""
        rule_arn, target_id = data.get("r"), data.get("t")
        with self._lock:
            entries = [entry for entry in (self._rules.get(str(rule_arn).rpartition("/")[2]), *self._deleted)
                       if entry is not None and entry.record.arn == rule_arn]
            for entry in entries:
                target = entry.targets.get(target_id)  # type: ignore[arg-type]
                if target is not None:
                    return target
                for retired, _ in entry.retired:
                    if retired.target_id == target_id and not retired._elsewhere():
                        return retired
        return None

    @staticmethod
    def _start(job: Job) -> None:
        try:
            job.runner._schedule(job, None)
        except ClockClosedError:
            job.abandoned("the clock was shut down")

    # -- as a target of another bus ----------------------------------------------
    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None:
        """The destination protocol: ``payload`` is a whole event (with its envelope),
        routed on this bus as it is."""
        self._receive(payload, 0)

    def _forwarded(self, text: str, job: Job) -> None:
        """An event from another bus's target (``text`` as that target delivers it)."""
        hops = job.hops
        try:
            event = json.loads(text)
        except ValueError:
            raise ValidationError("Parameter Event is not valid.") from None
        if hops >= 1:
            event_id = event.get("id", "?") if isinstance(event, dict) else "?"
            raise NonRetryableError(f"Event ingestion rejected for event {event_id} because an event can be sent to "
                                    "an event bus target only once. This event was previously delivered to an "
                                    "event bus target.", error_code=_HOP)
        work = job.work  # (a kept delivery of the sending bus: tried again, it is not kept twice here)
        self._receive(event, hops + 1, None if work is None else f"{work.queue}#{work.id}")

    def _receive(self, event: Any, hops: int, source: str | None = None) -> None:
        """A whole event from outside put_events: it must have the envelope
        ``test_event_pattern`` requires (AWS's ``Parameter Event is not valid.``)."""
        if not isinstance(event, dict) or not all(isinstance(event.get(key), str) for key in _ENVELOPE) \
                or not isinstance(event.get("detail", {}), dict) or not isinstance(event.get("resources", []), list):
            raise ValidationError("Parameter Event is not valid.")
        violation, refused = self._verdict(event)
        if refused:  # (the sending target's delivery fails: its dead-letter queue gets the event)
            raise NonRetryableError(str(violation), error_code="SCHEMA_VIOLATION")
        self._route(event, hops, violation=violation, source=source)

    def _verdict(self, event: dict[str, Any]) -> tuple[str | None, bool]:
        """The contract check of an event the bus is accepting (put, routed here, or
        replayed): how it breaks its schema (``None``: it does not, or nothing is
        checked), and whether the bus refuses it (``reject`` mode)."""
        validation = self._validation
        if validation is None:
            return None, False
        violation = validation[0]._violation(validation[1], event)
        if violation is None:
            return None, False
        if not validation[2]:
            log.info("eventbus: bus %s: %s", self.name, violation)
        return violation, validation[2]

    # -- schemas: discovery and contract checks ---------------------------------------
    def start_discovery(self, schemas: SchemaRegistry) -> None:
        """Discover the schemas of the events put on this bus (AWS's schema
        discoverer): each ``(source, detail-type)`` gets a JSON Schema (Draft 4) in
        ``schemas``'s ``discovered-schemas`` registry, named
        ``<source>@<DetailType>``, a new version each time later events add to it.
        Replayed events and scheduled rules' events are not discovered."""
        check_instance("schemas", schemas, SchemaRegistry, "<class 'eventbus.SchemaRegistry'>")
        self._discoverer = schemas

    def stop_discovery(self) -> None:
        """Stop discovering (the discovered schemas stay in their registry)."""
        self._discoverer = None

    def validate_events(self, schemas: SchemaRegistry | None, registry_name: str | None = None, *,
                        mode: Literal["report", "reject"] = "report") -> None:
        """Check each event put on this bus against its schema in the registry
        ``registry_name`` of ``schemas`` (the latest version of the schema named
        ``<source>@<DetailType>``; events without one pass).  ``mode="reject"``
        fails a violating entry in PutEvents's response (``InvalidArgument``,
        the message naming the schema, its version and the JSON path);
        ``"report"`` accepts it and records the violation in its journey (and the
        log).  Events another bus routes here are checked too: rejected, the
        sending target's delivery fails, not retried (``SCHEMA_VIOLATION`` in its
        dead-letter queue); so are replayed events (rejected, one is not resent,
        and the replay's ``state_reason`` counts them).  ``validate_events(None)`` stops checking.
        eventbus's own: AWS does not validate events."""
        if mode not in ("report", "reject"):
            raise ValidationError(f"mode must be 'report' or 'reject', not {short(mode)!r}")
        if schemas is None:
            if registry_name is not None:
                raise ValidationError("validate_events(None) stops the checks: give no registry_name with it")
            self._validation = None
            return
        check_instance("schemas", schemas, SchemaRegistry, "<class 'eventbus.SchemaRegistry'>")
        name = check_str("registry_name", registry_name)
        schemas.describe_registry(name)  # (an unknown registry: ResourceNotFoundError now, not silence later)
        schemas._ready()  # (the validator's import and set-up now, not inside the first put_events)
        self._validation = (schemas, name, mode == "reject")

    # -- archives and replay -------------------------------------------------------
    def create_archive(self, name: str, *, event_pattern: str | Mapping[str, Any] | None = None,
                       retention_days: int = 0, description: str | None = None) -> str:
        """Archive every event this bus accepts (put, or routed from another bus)
        that matches ``event_pattern`` (all events without one), from now on
        (AWS's CreateArchive); returns its ARN.
        ``retention_days=0`` keeps them forever; retention counts from when the
        bus ingested each event, on the bus's clock.  Replayed events are not
        archived again."""
        self._look()
        return self._archives.create(name, event_pattern, retention_days, description)

    def describe_archive(self, name: str) -> Archive:
        """The archive, with its event count and size (``as_aws()``: AWS's shape)."""
        self._look()
        return self._archives.describe(name)

    def list_archives(self, *, name_prefix: str | None = None, state: str | None = None) -> list[Archive]:
        """The bus's archives, sorted by name (AWS allows one filter at a time)."""
        self._look()
        return self._archives.list_archives(name_prefix, state)

    def update_archive(self, name: str, *, event_pattern: str | Mapping[str, Any] | None = None,
                       retention_days: int | None = None, description: str | None = None) -> Archive:
        """Change an archive's pattern, retention or description (``None``: unchanged)."""
        self._look()
        return self._archives.update(name, event_pattern, retention_days, description)

    def delete_archive(self, name: str) -> None:
        """Delete an archive and the events it holds (a replay reading it fails)."""
        self._look()
        self._archives.delete(name)

    def start_replay(self, name: str, archive: str, *, start_time: datetime, end_time: datetime,
                     rules: Sequence[str] | None = None, description: str | None = None) -> Replay:
        """Replay the archived events whose event time is in ``[start_time, end_time)``
        into this bus, in event-time order, with the top-level ``replay-name``
        field (AWS's StartReplay).  ``archive``: its name or ARN; ``rules``:
        names or ARNs of the rules to replay to (AWS's ``FilterArns``; all rules
        if ``None``).  The replay runs on the bus's clock, a page of events per
        timer; ``describe_replay`` shows its progress."""
        self._look()
        return self._archives.start(name, archive, start_time, end_time, rules, description)

    def describe_replay(self, name: str) -> Replay:
        """The replay's state and progress (``as_aws()``: AWS's shape)."""
        return self._archives.describe_replay(name)

    def list_replays(self, *, name_prefix: str | None = None, state: str | None = None) -> list[Replay]:
        """The bus's replays, sorted by name (AWS allows one filter at a time)."""
        return self._archives.list_replays(name_prefix, state)

    def cancel_replay(self, name: str) -> Replay:
        """Cancel a replay that is starting or running: it is ``CANCELLING`` until its
        next page would run, then ``CANCELLED`` (``IllegalStatusError`` once it has ended)."""
        return self._archives.cancel(name)

    # -- what happened ------------------------------------------------------------
    def journey(self, event_id: str) -> Journey:
        """What happened to one event: its latest arrival on this bus (see
        ``journeys(event_id=...)`` for all); ``ResourceNotFoundError`` if not kept."""
        return self._journeys.get(event_id)

    def journeys(self, *, rule: str | None = None, matched: bool | None = None,
                 event_id: str | None = None) -> list[Journey]:
        """The kept journeys, oldest first: all, those that matched ``rule``,
        (``matched=False``) those that matched no rule, or every arrival of one
        event (an event routed here twice, from two rules of another bus, say)."""
        if rule is not None:
            check_str("rule", rule)
        if matched is not None:
            check_bool("matched", matched)
        found = list(self._journeys) if event_id is None else self._journeys.arrivals(event_id)
        if rule is not None:
            found = [journey for journey in found if rule in journey.rules]
        if matched is not None:
            found = [journey for journey in found if journey.matched is matched]
        return found

    def _fold_deleted(self) -> list[RuleEntry]:
        """Fold each deleted rule whose last delivery has ended into the bus's counts
        (the lock is held); the rest, still pending."""
        keep = []
        for gone in self._deleted:
            gone.fold()
            if gone.retired:
                keep.append(gone)
            else:
                for field, value in gone.folded.items():
                    self._folded[field] += value
        self._deleted = keep
        return keep

    def metrics(self, rule: str | None = None) -> dict[str, int]:
        """EventBridge's metrics, by their CloudWatch names: for the bus, or one rule.
        They only ever grow: a removed target, or a deleted rule, still counts."""
        with self._lock:
            if rule is not None:
                entries = [self._entry(rule)]
                total = entries[0].totals()
            else:
                entries = list(self._rules.values())
                keep = self._fold_deleted()
                total = dict(self._folded)
                for entry in entries + keep:
                    for field, value in entry.totals().items():
                        total[field] += value
        with self._counts_lock:
            matched = entries[0].matched if rule is not None else self._counts["matched"]
            counts = dict(self._counts)
        out = {
            "MatchedEvents": matched,
            "Invocations": total["accepted"],
            "FailedInvocations": total["dead_lettered"] + total["dropped"],
            "InvocationsSentToDLQ": total["sent_to_dlq"],
            "InvocationsFailedToBeSentToDLQ": total["failed_to_dlq"],
            "RetryInvocationAttempts": total["retries"],
        }
        if rule is None:
            out["TriggeredRules"] = counts["triggered_rules"]
            out["Events"] = counts["events"]
            out["UnmatchedEvents"] = counts["unmatched"]
            out["FailedEntries"] = counts["failed_entries"]
        return out


def _name_for(fn: Callable[..., Any]) -> str:
    """A rule name and target id for a subscribed function: its qualified name, in AWS's characters."""
    name = re.sub(r"[^\.\-_A-Za-z0-9]", "-", getattr(fn, "__qualname__", "") or "handler")
    return name[:64] or "handler"

