"""A bus's rules and targets shared through its work store.

With ``EventBus(store=...)`` every process on the store sees one
configuration, as every caller of EventBridge sees one: ``put_rule``,
``put_targets``, ``remove_targets``, ``delete_rule`` (and ``enable_rule`` /
``disable_rule``) write the change to the store's configuration records
before they change the bus here, and each process takes up the others'
changes when it next looks (before ``put_events`` routes, when its rules or
targets are listed or described, and on each beat of its pump).

What is kept, per bus (names under ``events|<bus ARN>|``: no bus, rule or
target name has a ``|``, so no bus's names are another's):

- ``rule|<name>``: AWS's PutRule fields (``EventPattern``,
  ``ScheduleExpression``, ``State``, ``Description``);
- ``target|<rule>|<id>``: AWS's PutTargets fields for one target (``Id``,
  ``Arn``, ``Input``, ``InputPath``, ``InputTransformer``, ``RetryPolicy``
  with eventbus's backoff, ``DeadLetterConfig``).

A target's destination is a Python object (a ``Queue``, a ``Function``, an
``EventBus``, a callable), so a store keeps its ARN (a callable's is
``python:<module>.<qualified name>``) and each process finds the object by
that ARN among the destinations it knows: those of the targets it put itself
and those given to ``register_destinations`` (a lambda is found by none: the
lambdas of one scope share one name).  A target whose destination a
process does not know (or whose dead-letter queue it does not know) is kept
there as a target "elsewhere": events that match its rule are still kept in
the store for it, and this process never runs it: a delivery of it that this
process claims is handed back at once, due again a poll later, for a process
that knows the destination.  A process that knows none of a bus's
destinations (a producer) claims nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from .._delivery import RetryPolicy, Target
from .._delivery._destinations import Elsewhere, describe, speaks_protocol
from .._delivery._engine import error_text
from .._exceptions import EventBusError, ValidationError
from .._store import Store
from .._validate import wrong_type

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._rules import Rule

__all__ = ["Shared"]

log = logging.getLogger("eventbus.bus")

_MAX_LAG: Final = 100  # looks again for an archive the archive store does not show yet, at most
_DUMPS: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode


def rule_spec(rule: Rule) -> str:
    fields = {"EventPattern": rule.event_pattern, "ScheduleExpression": rule.schedule_expression,
              "State": rule.state, "Description": rule.description}
    return _DUMPS({key: value for key, value in fields.items() if value is not None})


def target_spec(target: Target) -> str:
    fields: dict[str, Any] = {"Id": target.target_id, "Arn": target.arn, "Input": target.input,
                              "InputPath": target.input_path, "InputTransformer": target.input_transformer,
                              "RetryPolicy": dataclasses.asdict(target.retry_policy)}
    if target.dead_letter_queue is not None:
        fields["DeadLetterConfig"] = {"Arn": describe(target.dead_letter_queue)}
    return _DUMPS({key: value for key, value in fields.items() if value is not None})


def is_elsewhere(target: Target) -> bool:
    return target._elsewhere()


class Shared:
    """The store's side of one bus's configuration (see the module's notes)."""

    def __init__(self, bus: EventBus, store: Store) -> None:
        self.bus = bus
        self.store = store
        self.prefix = f"events|{bus.arn}|"  # ("|" is in no bus, rule or target name: no prefix is another's)
        self._seen = -1  # the store's configuration version last taken up
        self._texts: dict[str, str] = {}  # record name -> the text this process last wrote or took up
        self._destinations: dict[str, object] = {}  # ARN -> a destination this process knows
        self._local = threading.local()  # .applying: taking up the store's records (nothing written back)
        self._mine: set[str] = set()  # rules this process's own code put (not only taken up)
        self._delivers: bool | None = None  # whether this process makes any delivery (None: to work out)
        self._failing = False  # the store's records could not be read last time (logged once)
        self._lagging = 0  # looks in a row that found an archive named but not yet in the archive store

    # -- names
    def _rule(self, name: str) -> str:
        return f"{self.prefix}rule|{name}"

    def _target(self, rule: str, target_id: str) -> str:
        return f"{self.prefix}target|{rule}|{target_id}"

    @property
    def applying(self) -> bool:
        return bool(getattr(self._local, "applying", False))

    # -- writing (the bus's lock is held)
    def _write(self, changes: dict[str, str | None]) -> None:
        """Keep the changes in the store (all or none), unless they are being taken
        up from it; then note them as this process's view."""
        if not self.applying:
            try:
                before, after = self.store.write_config(changes)
            except Exception as exc:
                raise EventBusError(f"The store of event bus {self.bus.name} could not keep the change, so this "
                                    f"bus was not changed: {error_text(exc)}") from exc
            if before == self._seen:  # (nothing else changed since this process last looked)
                self._seen = after
        for name, text in changes.items():
            if text is None:
                self._texts.pop(name, None)
            else:
                self._texts[name] = text

    def rule_put(self, rule: Rule) -> None:
        self._write({self._rule(rule.name): rule_spec(rule)})
        if not self.applying:
            self._mine.add(rule.name)

    def rule_deleted(self, name: str) -> None:
        self._write({self._rule(name): None})
        self._mine.discard(name)

    def targets_put(self, rule: str, targets: Iterable[Target]) -> None:
        listed = list(targets)
        self._write({self._target(rule, target.target_id): target_spec(target) for target in listed})
        for target in listed:
            if not is_elsewhere(target):
                self.know(target.destination)
                if target.dead_letter_queue is not None:
                    self.know(target.dead_letter_queue)
        self._delivers = None

    def targets_removed(self, rule: str, ids: Iterable[str]) -> None:
        listed = list(ids)
        if listed:
            self._write({self._target(rule, target_id): None for target_id in listed})
        self._delivers = None

    def archive_changed(self, name: str, entry: Any) -> None:
        """An archive was created, changed or deleted here: its record moves the
        store's version, so that the other processes take up the archive store's
        definitions.  (The archive itself is kept already: a failure is logged.)"""
        text = None if entry is None else _DUMPS(entry.definition(self.bus.arn))
        try:
            self._write({f"{self.prefix}archive|{name}": text})
        except EventBusError as exc:
            log.error("eventbus: bus %s: archive %s: the other processes on the store were not told: %s",
                      self.bus.name, name, exc)

    def know(self, destination: object) -> None:
        arn = describe(destination)
        if "<lambda>" not in arn:  # (every lambda of a scope has one name: none is found by it)
            self._destinations[arn] = destination

    def taken_up(self, rule: str) -> bool:
        """The rule is here because the store has it, not because this process's code
        put it (a restart's, or another process's)."""
        return rule in self.bus._rules and rule not in self._mine

    def delivers(self) -> bool:
        """Whether this process makes any of the bus's deliveries (its pump claims only
        then): some target (current, removed with deliveries pending, or a deleted
        rule's) has a destination it knows."""
        found = self._delivers
        if found is None:
            bus = self.bus
            with bus._lock:
                found = self._delivers = any(
                    not is_elsewhere(target) for entry in (*bus._rules.values(), *bus._deleted)
                    for target in (*entry.targets.values(), *(t for t, _ in entry.retired)))
        return found

    # -- taking up the store's records
    def sync(self, *, force: bool = False) -> None:
        """Take up the changes other processes made, if the store's version grew
        (``force``: look whatever the version).  A store that cannot be read is
        logged (once, until it can be again); the bus goes on with what it has."""
        if self.applying:  # (the bus's own calls while this takes up a change)
            return
        try:
            version = self.store.config_version()
            if version <= self._seen and not force:
                return
            records = self.store.configs(self.prefix)
        except Exception as exc:
            if not self._failing:
                log.error("eventbus: bus %s: the store's rules and targets could not be read: %s", self.bus.name,
                          error_text(exc))
            self._failing = True
            return
        self._failing = False
        with self.bus._lock:
            self._local.applying = True
            try:
                self._apply(records)
                self._take(self.bus._archives.refresh, "archives")
            finally:
                self._local.applying = False
            named = {name[len(self.prefix) + len("archive|"):] for name, text in records.items()
                     if name.startswith(f"{self.prefix}archive|") and text}
            if named - set(self.bus._archives._entries) and self._lagging < _MAX_LAG:
                self._lagging += 1  # (the archive store shows another process's archive a moment later: again)
                return
            self._lagging = 0
            self._seen = max(self._seen, version)
            self._delivers = None

    def _apply(self, records: dict[str, str]) -> None:
        bus = self.bus
        rules: dict[str, str] = {}
        targets: dict[str, dict[str, str]] = {}
        for name, text in records.items():
            kind, _, rest = name[len(self.prefix):].partition("|")
            if kind == "rule":
                rules[rest] = text
            elif kind == "target":
                rule, _, target_id = rest.partition("|")
                targets.setdefault(rule, {})[target_id] = text
        for name in [name for name in bus._rules if name not in rules and self._rule(name) in self._texts]:
            self._take(partial(self._drop_rule, name), f"delete rule {name}")
        for name, text in rules.items():
            if self._texts.get(self._rule(name)) != text or name not in bus._rules:
                self._take(partial(self._put_rule, name, text), f"put rule {name}")
            entry = bus._rules.get(name)
            if entry is None:
                continue
            wanted = targets.get(name, {})
            gone = [target_id for target_id in entry.targets if target_id not in wanted]
            if gone:
                self._take(partial(bus.remove_targets, name, gone), f"remove targets of rule {name}")
            changed = [text for target_id, text in wanted.items()
                       if target_id not in entry.targets or self._texts.get(self._target(name, target_id)) != text
                       or (is_elsewhere(entry.targets[target_id]) and self._known(text))]
            if changed:
                self._take(partial(self._put_targets, name, changed), f"put targets of rule {name}")

    def _take(self, change: Callable[[], object], what: str) -> None:
        try:
            change()
        except Exception as exc:  # (this process cannot take it up: says why, goes on with the rest)
            log.error("eventbus: bus %s: could not take up the store's change (%s): %s", self.bus.name, what,
                      error_text(exc))

    def _put_rule(self, name: str, text: str) -> None:
        spec = json.loads(text)
        self.bus.put_rule(name, event_pattern=spec.get("EventPattern"),
                          schedule_expression=spec.get("ScheduleExpression"), state=spec.get("State", "ENABLED"),
                          description=spec.get("Description"))

    def _put_targets(self, rule: str, texts: list[str]) -> None:
        self.bus.put_targets(rule, [self._build(text) for text in texts])

    def _drop_rule(self, name: str) -> None:
        entry = self.bus._rules[name]
        if entry.targets:
            self.bus.remove_targets(name, list(entry.targets))
        self.bus.delete_rule(name)

    def _known(self, text: str) -> bool:
        """Whether a target taken up as elsewhere can be made here now: its destination
        and its dead-letter queue (if it has one) are known."""
        spec = json.loads(text)
        letter = spec.get("DeadLetterConfig", {}).get("Arn")
        return spec.get("Arn") in self._destinations and (letter is None or letter in self._destinations)

    def _find(self, arn: str) -> object:
        found = self._destinations.get(arn)
        return Elsewhere(arn) if found is None else found

    def _build(self, text: str) -> Target:
        spec = json.loads(text)
        letter = spec.get("DeadLetterConfig", {}).get("Arn")
        return Target(self._find(spec["Arn"]), target_id=spec["Id"], input=spec.get("Input"),  # type: ignore[arg-type]
                      input_path=spec.get("InputPath"), input_transformer=spec.get("InputTransformer"),
                      retry_policy=RetryPolicy(**spec["RetryPolicy"]),
                      dead_letter_queue=None if letter is None else self._find(letter),  # type: ignore[arg-type]
                      clock=self.bus.clock)

    def register(self, destinations: Iterable[object]) -> None:
        listed = list(destinations)
        for destination in listed:
            if isinstance(destination, Elsewhere) or not (speaks_protocol(destination) or callable(destination)):
                raise wrong_type("destinations[]", destination, "a Queue, Function, EventBus or callable")
            if "<lambda>" in describe(destination):
                raise ValidationError(f"A lambda cannot be found by its ARN ({describe(destination)}: every lambda "
                                      "of a scope has that name): give register_destinations a named function")
        for destination in listed:
            self.know(destination)
        self.sync(force=True)  # (targets elsewhere whose destination is known now are made here)
