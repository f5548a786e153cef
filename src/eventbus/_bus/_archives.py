"""A bus's archives and replays.

An archive keeps every event put on its bus that matches its pattern (all
of them without one), with the time the bus ingested it.  AWS archives
through a managed rule whose pattern adds ``{"replay-name": [{"exists":
false}]}``; here the archives' patterns sit in an index of their own, read
for each event the bus accepts (not for a scheduled rule's events, which AWS
sends straight to the rule's targets), and an event that carries a
``replay-name`` is never archived, so a replay does not archive what it
replays.  Events are written to the archive store once per ``put_events``
call, in one write.

Retention counts from ingestion, on the bus's clock.  What has expired is
never read (reads apply the cut-off) and is deleted lazily, a bounded batch
at a time and never under the bus's lock: when an archive is described or
listed, and, as events arrive, once a minute or once per hundredth of the
retention (whichever is longer), so that a long-running bus with a
retention stays bounded (within about 1% of its retention's worth of
events) and no call stalls on a large backlog (``EventCount`` may then
include expired events not yet deleted, as AWS's counts lag too).

An archive store that fails to write does not fail ``put_events`` (its
events were already routed, as AWS archives apart from delivery): the
failure is logged as an error and shown in ``describe_archive``'s
``state_reason`` with the count of events lost.

A replay reads its window from the store a page at a time, in event-time
order, and routes each event on the bus with the top-level ``replay-name``
field, to every rule or to the listed ones.  It replays what the archive
held when it started (events archived later, a replay's own consequences
included, are left out, so every replay ends).  Each page is a timer on the
bus's clock: a replay under ``ManualClock`` advances as the clock does, and
``cancel_replay`` takes effect between pages.  A replay's state changes
under the bus's lock; anything that goes wrong ends it ``FAILED`` with a
reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .._archive import Archive, ArchiveStore, MemoryArchiveStore, Replay
from .._archive._records import ACTIVE, REPLAY_STATES, ReplayState
from .._archive._store import Record
from .._exceptions import (
    ClockClosedError,
    IllegalStatusError,
    LimitExceededError,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    ValidationError,
)
from .._pattern import RuleIndex
from .._validate import (
    check_datetime,
    check_description,
    check_int,
    check_name,
    short,
    wrong_type,
)
from ._rules import compile_event_pattern

if TYPE_CHECKING:
    from ._bus import EventBus

__all__ = ["Archives", "Pending"]

log = logging.getLogger("eventbus.bus")

ARCHIVE_NAME: Final = r"[\.\-_A-Za-z0-9]+"
MAX_ARCHIVE_NAME: Final = 48
MAX_REPLAY_NAME: Final = 64
MAX_PATTERN: Final = 4096
MAX_DESCRIPTION: Final = 512
MAX_RETENTION: Final = 2**31 - 1  # RetentionDays is a 32-bit integer in AWS's API
MAX_REPLAYS: Final = 10  # replays under way at once (AWS's quota per account and region)
PAGE = 256  # events a replay routes per timer (a setting the tests shrink)
SWEEP_EVERY: Final = 60_000  # ms: arriving events look for expired ones at most this often ...
SWEEP_SHARE: Final = 100  # ... or once per this share of the retention, if longer
SWEEP_BATCH: Final = 5_000  # events an arriving event's sweep deletes at most
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_DAY_MS: Final = 86_400_000

# what put_events archives when the call ends: (archive ARN, event time, ingestion time, text)
Pending = list[Record]


def millis(when: datetime) -> int:
    """Milliseconds since the epoch, rounded down."""
    return (when - _EPOCH) // _MS


def _ceil_millis(when: datetime) -> int:
    """Milliseconds since the epoch, rounded up: an event at ``t`` ms is in
    ``[start, end)`` exactly when ``ceil(start) <= t < ceil(end)``."""
    return -((_EPOCH - when) // _MS)


def _from_millis(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _event_millis(event: Mapping[str, Any], default: int) -> int:
    """The event's ``time`` in milliseconds (the ingestion time if it has none that parses)."""
    text = event.get("time")
    if isinstance(text, str):
        try:
            when = datetime.fromisoformat(text)
            return millis(when if when.tzinfo is not None else when.replace(tzinfo=UTC))
        except (ValueError, OverflowError):
            return default
    return default


def _utc(name: str, value: object) -> datetime:
    when = check_datetime(name, value)
    try:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"Parameter {name} is not valid. Reason: {short(when)} is out of range.") from None


ARCHIVE_STATES: Final = ("CREATE_FAILED", "CREATING", "DISABLED", "ENABLED", "UPDATE_FAILED", "UPDATING")


def _filters(operation: str, name_prefix: object, max_name: int, state: object, states: tuple[str, ...]) -> None:
    """ListArchives' and ListReplays' filters, checked as AWS checks them: one at a time."""
    if name_prefix is not None and state is not None:
        raise ValidationError(f"At most one filter is allowed for {operation}. Use either : State, EventSourceArn, "
                              "or NamePrefix.")
    if name_prefix is not None:
        check_name("NamePrefix", name_prefix, ARCHIVE_NAME, max_name)
    if state is not None and state not in states:
        raise ValidationError(f"1 validation error detected: Value '{short(state)}' at 'state' failed to satisfy "
                              f"constraint: Member must satisfy enum value set: [{', '.join(states)}]")


def _stored_text(event: Mapping[str, Any], text: str) -> str:
    """The text to archive: the routed text, or, when it holds text that is not
    valid Unicode (a lone surrogate from a ``\\ud800`` escape), the same JSON
    value with non-ASCII escaped, which any store can keep."""
    if text.isascii():  # (the common case, without a copy)
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(event, ensure_ascii=True, separators=(",", ":"))
    return text


class _Entry:
    """An archive and what the bus keeps with it."""

    __slots__ = ("arn", "creation_time", "description", "lost", "name", "next_sweep", "pattern", "reason",
                 "retention_days")

    def __init__(self, name: str, arn: str, pattern: str | None, retention_days: int, description: str | None,
                 creation_time: datetime) -> None:
        self.name = name
        self.arn = arn
        self.pattern = pattern
        self.retention_days = retention_days
        self.description = description
        self.creation_time = creation_time
        self.next_sweep = 0  # ms: arriving events look for expired ones from then on
        self.lost = 0  # events the store failed to keep
        self.reason: str | None = None  # ... and why

    def definition(self, source: str) -> dict[str, Any]:
        return {"ArchiveName": self.name, "ArchiveArn": self.arn, "EventSourceArn": source,
                "EventPattern": self.pattern, "RetentionDays": self.retention_days, "Description": self.description,
                "CreationTime": self.creation_time.isoformat()}

    def cutoff(self, now: int) -> int:
        """Events ingested before this (ms) have expired: an event is kept for
        ``retention_days`` and gone once they have passed."""
        return now - self.retention_days * _DAY_MS + 1 if self.retention_days else 0


def _from(definition: dict[str, Any]) -> _Entry:
    return _Entry(definition["ArchiveName"], definition["ArchiveArn"], definition["EventPattern"],
                  definition["RetentionDays"], definition["Description"],
                  datetime.fromisoformat(definition["CreationTime"]))


@dataclass(slots=True)
class _Run:
    """A replay under way (or ended): its record, and where it has got to."""

    record: Replay
    archive: _Entry
    rules: frozenset[str] | None
    start: int
    end: int
    up_to: int  # the archive's high-water mark when the replay started: nothing later is replayed
    after: tuple[int, int] | None = None
    refused: int = 0  # events the bus's contract checks refused


class Archives:
    """The archives and replays of one bus (the bus's methods call these)."""

    def __init__(self, bus: EventBus, store: ArchiveStore | None) -> None:
        if store is not None and (isinstance(store, type) or not isinstance(store, ArchiveStore)):
            raise wrong_type("archive_store", store, "<class 'eventbus.ArchiveStore'>")
        self._bus = bus
        self.store: ArchiveStore = MemoryArchiveStore() if store is None else store
        self._index: RuleIndex[str] = RuleIndex()
        # (archives by name, those without a pattern): replaced whole on each change, so that
        # capture reads one consistent pair without a lock
        self._snapshot: tuple[dict[str, _Entry], tuple[_Entry, ...]] = ({}, ())
        self._replays: dict[str, _Run] = {}
        for definition in self.store.archives(bus.arn):  # (a store opened again: its archives come back)
            self._install(_from(definition))

    def refresh(self) -> None:
        """Take up the archives another process sharing the store created, changed or
        deleted (the bus's lock is held): the store's definitions are the truth."""
        kept = {definition["ArchiveName"]: definition for definition in self.store.archives(self._bus.arn)}
        for name, definition in kept.items():
            former = self._entries.get(name)
            if former is None or former.definition(self._bus.arn) != definition:
                entry = _from(definition)
                if former is not None:
                    entry.lost, entry.reason = former.lost, former.reason
                self._install(entry)
                if former is not None and former.creation_time == entry.creation_time:  # (changed, not made anew)
                    for run in self._replays.values():  # (a replay under way reads under the new retention)
                        if run.archive is former:
                            run.archive = entry
        for name in [name for name in self._entries if name not in kept]:
            self._forget(self._entries[name])

    @property
    def active(self) -> bool:
        return bool(self._snapshot[0])

    @property
    def _entries(self) -> dict[str, _Entry]:
        return self._snapshot[0]

    # -- archives ----------------------------------------------------------------
    def _arn(self, name: str) -> str:
        return f"arn:aws:events:{self._bus.region}:{self._bus.account}:archive/{name}"

    def _name(self, name: object) -> str:
        return check_name("ArchiveName", name, ARCHIVE_NAME, MAX_ARCHIVE_NAME)

    def _entry(self, name: object) -> _Entry:
        name = self._name(name)
        entry = self._entries.get(name)
        if entry is None:
            raise ResourceNotFoundError(f"Archive {name} does not exist.")
        return entry

    @staticmethod
    def _pattern(name: str, pattern: object) -> tuple[str | None, RuleIndex[str]]:
        return compile_event_pattern(name, pattern, MAX_PATTERN)

    @staticmethod
    def _description(description: object) -> str | None:
        return check_description("Description", description, MAX_DESCRIPTION)

    @staticmethod
    def _retention(days: object) -> int:
        return check_int("RetentionDays", days, 0, MAX_RETENTION)

    def _install(self, entry: _Entry, probe: RuleIndex[str] | None = None) -> None:
        """Publish a new or changed archive (under the bus's lock).  An event
        archived meanwhile sees it once or not at all, never twice (capture
        counts archives by name), and an archive that keeps its name is never
        missing in between (``RuleIndex.add`` replaces a pattern in one step)."""
        entries = dict(self._entries)
        entries[entry.name] = entry
        if entry.pattern is not None:  # (an archive's pattern can change, never go: update cannot clear it)
            self._index.add(entry.name, probe.pattern(entry.name) if probe is not None else entry.pattern)
        self._snapshot = (entries, tuple(item for item in entries.values() if item.pattern is None))

    def create(self, name: str, event_pattern: object, retention_days: object, description: object) -> str:
        name = self._name(name)
        text, probe = self._pattern(name, event_pattern)
        days = self._retention(retention_days)
        description = self._description(description)
        bus = self._bus
        arn = self._arn(name)
        with bus._lock:
            entry = _Entry(name, arn, text, days, description, bus.clock.now())
            # (the store decides, in one step: archive names are unique across the buses sharing it)
            if name in self._entries or not self.store.save_archive(arn, bus.arn, entry.definition(bus.arn),
                                                                     create=True):
                raise ResourceAlreadyExistsError(f"Archive {name} already exists.")
            self._install(entry, probe)
        self._shared(name)
        return arn

    def update(self, name: str, event_pattern: object, retention_days: object, description: object) -> Archive:
        name = self._entry(name).name  # (an unknown archive is the first thing to say)
        text, probe = self._pattern(name, event_pattern) if event_pattern is not None else (None, None)
        days = None if retention_days is None else self._retention(retention_days)
        description = self._description(description)
        bus = self._bus
        with bus._lock:
            former = self._entry(name)
            entry = _Entry(name, former.arn, former.pattern if event_pattern is None else text,
                           former.retention_days if days is None else days,
                           former.description if description is None else description, former.creation_time)
            entry.lost, entry.reason = former.lost, former.reason
            self.store.save_archive(entry.arn, bus.arn, entry.definition(bus.arn))
            self._install(entry, probe)
            for run in self._replays.values():  # (a replay under way reads under the new retention)
                if run.archive is former:
                    run.archive = entry
        self._shared(name)
        return self.describe(name)

    def delete(self, name: str) -> None:
        bus = self._bus
        with bus._lock:
            entry = self._entry(name)
            self.store.drop_archive(entry.arn)  # (first: a store that fails leaves the archive where it was)
            self._forget(entry)
        self._shared(name)

    def _forget(self, entry: _Entry) -> None:
        entries = dict(self._entries)
        del entries[entry.name]
        self._snapshot = (entries, tuple(item for item in entries.values() if item.pattern is None))
        if entry.name in self._index:
            self._index.remove(entry.name)

    def _shared(self, name: str) -> None:
        """With the bus's configuration shared through a store: tell the other
        processes that an archive changed (they take up the store's definitions)."""
        shared = self._bus._shared
        if shared is not None:
            shared.archive_changed(name, self._entries.get(name))

    def _sweep(self, entry: _Entry, now: int) -> None:
        """Delete what has expired (a batch at most) and set the next sweep."""
        if entry.retention_days:
            entry.next_sweep = now + max(SWEEP_EVERY, entry.retention_days * _DAY_MS // SWEEP_SHARE)
            if self.store.expire(entry.arn, entry.cutoff(now), limit=SWEEP_BATCH) >= SWEEP_BATCH:
                entry.next_sweep = now  # (more to delete: the next arriving event goes on)

    def _record(self, entry: _Entry) -> Archive:
        count, size = self.store.stats(entry.arn)
        reason = None if not entry.lost else f"{entry.lost} events could not be archived: {entry.reason}"
        return Archive(name=entry.name, arn=entry.arn, event_source_arn=self._bus.arn, event_pattern=entry.pattern,
                       retention_days=entry.retention_days, description=entry.description,
                       creation_time=entry.creation_time, event_count=count, size_bytes=size, state_reason=reason)

    def describe(self, name: str) -> Archive:
        entry = self._entry(name)
        self._sweep(entry, millis(self._bus.clock.now()))
        return self._record(entry)

    def list_archives(self, name_prefix: str | None, state: str | None) -> list[Archive]:
        _filters("ListArchives", name_prefix, MAX_ARCHIVE_NAME, state, ARCHIVE_STATES)
        now = millis(self._bus.clock.now())
        found = []
        for name, entry in sorted(self._entries.items()):
            if (name_prefix is None or name.startswith(name_prefix)) and state in (None, "ENABLED"):
                self._sweep(entry, now)
                found.append(self._record(entry))
        return found

    # -- capture (the hot path: every event the bus accepts, while it has archives) ----------
    def capture(self, event: Mapping[str, Any], text: str, now: datetime, pending: Pending | None) -> None:
        """Archive an event the bus accepted (not a replayed one: the bus checks)."""
        entries, everything = self._snapshot
        if not everything:
            names: set[str] | list[str] = list(self._index.match(event))  # (a set already: each name once)
        else:
            names = {entry.name for entry in everything}
            if len(names) < len(entries):
                names.update(self._index.match(event))
        matched = [entries[name] for name in names if name in entries]
        if not matched:
            return
        ingested = millis(now)
        when = _event_millis(event, ingested)
        stored = _stored_text(event, text)
        records = [(entry.arn, when, ingested, stored) for entry in matched]
        if pending is not None:
            pending.extend(records)
        else:
            self.write(records, ingested)

    def write(self, pending: Pending, now: int) -> None:
        """Write what was archived (one ``put_events`` call's events: one write).
        A store that fails loses the events for the archive, loudly: they were
        already routed, and ``put_events`` has already succeeded."""
        try:
            self.store.append(pending)
        except Exception as exc:
            lost: dict[str, int] = {}
            # (a store that kept some of them says which it did not: a NATS store, one event too large)
            for arn, *_ in getattr(exc, "not_kept", pending):
                lost[arn] = lost.get(arn, 0) + 1
            for entry in self._entries.values():
                if entry.arn in lost:
                    entry.lost += lost[entry.arn]
                    entry.reason = short(f"{type(exc).__name__}: {exc}", 300)
                    log.error("eventbus: bus %s: archive %s could not keep %d events: %s", self._bus.name,
                              entry.name, lost[entry.arn], entry.reason)
            return
        arns = {record[0] for record in pending}
        for entry in self._entries.values():
            if entry.arn in arns and entry.retention_days and now >= entry.next_sweep:
                try:
                    self._sweep(entry, now)
                except Exception as exc:  # (the next sweep tries again; reads skip what has expired anyway)
                    log.error("eventbus: bus %s: archive %s: deleting expired events failed: %s", self._bus.name,
                              entry.name, exc)

    # -- replays -------------------------------------------------------------------
    def _replay_arn(self, name: str) -> str:
        return f"arn:aws:events:{self._bus.region}:{self._bus.account}:replay/{name}"

    def _run(self, name: object) -> _Run:
        name = check_name("ReplayName", name, ARCHIVE_NAME, MAX_REPLAY_NAME)
        run = self._replays.get(name)
        if run is None:
            raise ResourceNotFoundError(f"Replay {name} does not exist.")
        return run

    def _archive_of(self, archive: object) -> _Entry:
        if not isinstance(archive, str):
            raise wrong_type("EventSourceArn", archive, "<class 'str'>")
        prefix = self._arn("")
        name = archive[len(prefix):] if archive.startswith(prefix) else archive
        entry = self._entries.get(name)
        if entry is None:
            if any(definition.get("ArchiveArn") == self._arn(name) for definition in self.store.archives()):
                raise ValidationError("Parameter Destination.Arn is not valid. Reason: Cross event bus replay is "
                                      "not permitted.")
            raise ValidationError(f"Parameter EventSourceArn is not valid. Reason: Archive {short(name)} does not "
                                  "exist.")
        return entry

    def _rules(self, rules: object) -> tuple[frozenset[str] | None, tuple[str, ...]]:
        if rules is None:
            return None, ()
        if isinstance(rules, str) or not isinstance(rules, list | tuple | set | frozenset):
            raise wrong_type("FilterArns", rules, "<class 'list'>, <class 'tuple'>")
        if not rules:
            raise ValidationError("Parameter Destination.FilterArns is not valid. Reason: it lists no rule (give "
                                  "rules=None to replay to every rule).")
        bus = self._bus
        names: list[str] = []
        for rule in rules:
            if not isinstance(rule, str):
                raise wrong_type("FilterArns[]", rule, "<class 'str'>")
            name = rule.rsplit("/", 1)[-1] if rule.startswith("arn:") else rule
            if name not in bus._rules or (rule.startswith("arn:") and bus._rule_arn(name) != rule):
                raise ValidationError(f"Parameter Destination.FilterArns is not valid. Reason: Rule {short(rule)} "
                                      f"does not exist on EventBus {bus.name}.")
            if name not in names:
                names.append(name)
        return frozenset(names), tuple(bus._rule_arn(name) for name in names)

    def start(self, name: str, archive: object, start_time: object, end_time: object, rules: object,
              description: object) -> Replay:
        name = check_name("ReplayName", name, ARCHIVE_NAME, MAX_REPLAY_NAME)
        description = self._description(description)
        start = _utc("EventStartTime", start_time)
        end = _utc("EventEndTime", end_time)
        bus = self._bus
        with bus._lock:
            entry = self._archive_of(archive)
            if start >= end:
                raise ValidationError("Parameter EventEndTime is not valid. Reason: EventStartTime must be before "
                                      "EventEndTime.")
            only, filter_arns = self._rules(rules)
            if name in self._replays:
                raise ResourceAlreadyExistsError(f"Replay {name} already exists.")
            if sum(run.record.state in ACTIVE for run in self._replays.values()) >= MAX_REPLAYS:
                raise LimitExceededError("The requested resource exceeds the maximum number allowed.")
            if bus.clock.closed:
                raise ClockClosedError(f"The clock of event bus {bus.name} has been shut down")
            record = Replay(name=name, arn=self._replay_arn(name), description=description, state="STARTING",
                            state_reason=None, event_source_arn=entry.arn, destination_arn=bus.arn,
                            filter_arns=filter_arns, event_start_time=start, event_end_time=end,
                            event_last_replayed_time=None, replay_start_time=bus.clock.now(), replay_end_time=None,
                            events_replayed=0)
            run = _Run(record, entry, only, _ceil_millis(start), _ceil_millis(end), self.store.high_water())
            self._next(run)
            self._replays[name] = run
        return record

    def _next(self, run: _Run) -> None:
        def abandoned(reason: str) -> None:
            with self._bus._lock:
                self._end(run, "FAILED", f"The replay stopped: {reason}.")
        self._bus.clock.submit(lambda: self._step(run), label=f"replay {run.record.name} of event bus "
                               f"{self._bus.name}", on_abandon=abandoned)

    def _end(self, run: _Run, state: ReplayState, reason: str | None = None) -> None:
        """(Under the bus's lock.)"""
        if run.record.state not in ACTIVE:
            return
        run.record = replace(run.record, state=state, state_reason=reason, replay_end_time=self._bus.clock.now())
        log.info("eventbus: bus %s: replay %s %s (%d events)%s", self._bus.name, run.record.name, state.lower(),
                 run.record.events_replayed, f": {reason}" if reason else "")

    def _gone(self, run: _Run) -> bool:
        """Whether the replay's archive was deleted; if so, the replay fails (under the bus's lock)."""
        entry = run.archive
        if self._entries.get(entry.name) is not entry:
            self._end(run, "FAILED", f"Archive {entry.name} was deleted during the replay.")
            return True
        return False

    def _still_kept(self, entry: _Entry) -> bool:
        """Whether the store still keeps the archive as it was when the replay began
        (another process sharing the store may have deleted it, or made it anew)."""
        return any(definition["ArchiveArn"] == entry.arn and definition["CreationTime"] ==
                   entry.creation_time.isoformat() for definition in self.store.archives(self._bus.arn))

    def _step(self, run: _Run) -> None:
        """Replay one page of the window (a timer on the bus's clock)."""
        bus = self._bus
        try:
            bus._look()  # (an archive another process deleted or changed is taken up first)
            with bus._lock:
                if run.record.state == "CANCELLING":
                    self._end(run, "CANCELLED")
                    return
                if self._gone(run):
                    return
                entry = run.archive
                if run.record.state == "STARTING":
                    run.record = replace(run.record, state="RUNNING")
            page = self.store.read(entry.arn, run.start, run.end, after=run.after, up_to=run.up_to,
                                   ingested_since=entry.cutoff(millis(bus.clock.now())), limit=PAGE)
            with bus._lock:
                if self._gone(run):  # (deleted while the page was read: what was read is not replayed)
                    return
            name = run.record.name
            refused_here = 0
            for time, seq, text in page:
                event = json.loads(text)
                event["replay-name"] = name
                violation, refused = bus._verdict(event)
                if refused:
                    refused_here += 1
                else:
                    bus._route(event, 0, fresh=True, rules=run.rules, violation=violation)
                run.after = (time, seq)
            with bus._lock:
                run.refused += refused_here
                if page:
                    run.record = replace(run.record, event_last_replayed_time=_from_millis(page[-1][0]),
                                         events_replayed=run.record.events_replayed + len(page) - refused_here)
                if len(page) < PAGE:
                    if bus._shared is not None and not self._still_kept(run.archive):
                        self._end(run, "FAILED", f"Archive {run.archive.name} was deleted during the replay.")
                        return  # (by another process: a short page is not the end of the window)
                    reason = None if not run.refused else \
                        f"{run.refused} events broke their schema and were not replayed."
                    self._end(run, "CANCELLED" if run.record.state == "CANCELLING" else "COMPLETED", reason)
                    return
                self._next(run)
        except Exception as exc:  # a store or clock that fails: the replay ends, and says why
            with bus._lock:
                if isinstance(exc, ClockClosedError):
                    self._end(run, "FAILED", "The replay stopped: the clock was shut down.")
                else:
                    self._end(run, "FAILED", short(f"The replay stopped: {type(exc).__name__}: {exc}", 500))

    def describe_replay(self, name: str) -> Replay:
        return self._run(name).record

    def list_replays(self, name_prefix: str | None, state: str | None) -> list[Replay]:
        _filters("ListReplays", name_prefix, MAX_REPLAY_NAME, state, REPLAY_STATES)
        return [run.record for name, run in sorted(self._replays.items())
                if (name_prefix is None or name.startswith(name_prefix))
                and (state is None or run.record.state == state)]

    def cancel(self, name: str) -> Replay:
        with self._bus._lock:
            run = self._run(name)
            if run.record.state not in ("STARTING", "RUNNING"):
                raise IllegalStatusError(f"Replay {run.record.name} is not in a valid state for this operation.")
            run.record = replace(run.record, state="CANCELLING")
            return run.record
