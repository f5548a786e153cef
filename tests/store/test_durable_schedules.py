"""Schedules on a work store: each fire's delivery kept under the key (schedule,
time), so that processes sharing a store fire each time once between them;
each schedule's last fire kept, so that one made again after a restart goes
on from there (the fires missed meanwhile fold into one late fire, as a late
timer's do)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventbus import ManualClock, MemoryStore, Queue, RetryPolicy, Scheduler, SqliteStore, Store, Target

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
INPUT = '{"at": "<aws.scheduler.scheduled-time>", "attempt": "<aws.scheduler.attempt-number>"}'


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A second call is the same store "after a restart" (sqlite: the file opened again)."""
    made: list[Store] = []
    memory = MemoryStore()

    def factory() -> Store:
        store = memory if request.param == "memory" else SqliteStore(tmp_path / "work.db")
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


def process(store: Store, clock: ManualClock, fired: list[Any], expression: str = "rate(1 hour)",
            **settings: Any) -> Scheduler:
    """A process as it starts: its scheduler on the store, the schedule made (again)."""
    scheduler = Scheduler(clock=clock, store=store)
    scheduler.create_schedule("hourly", expression, fired.append, input=INPUT, **settings)
    return scheduler


def times(fired: list[Any]) -> list[str]:
    return [f["at"] for f in fired]


def test_two_processes_on_one_store_fire_each_time_once(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first, second = ManualClock(T0), ManualClock(T0)
    process(make_store(), first, fired)
    process(make_store(), second, fired)
    for _ in range(3):
        first.advance(3600)
        second.advance(3600)
    assert times(fired) == ["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z",
                            "2025-01-01T03:00:00Z"]


def test_a_schedule_made_again_after_a_restart_goes_on_from_its_last_fire(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first = ManualClock(T0)
    process(make_store(), first, fired)
    first.advance(2 * 3600)  # fires at 0 h, 1 h, 2 h; then the process dies
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    process(make_store(), later, fired)
    later.advance(0)  # the fires of 3 h, 4 h and 5 h were missed: one late fire, for 5 h
    assert times(fired)[3:] == ["2025-01-01T05:00:00Z"]
    later.advance(3600)
    assert times(fired)[3:] == ["2025-01-01T05:00:00Z", "2025-01-01T06:00:00Z"]  # the rate's own times


def test_a_changed_schedule_starts_afresh(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first = ManualClock(T0)
    process(make_store(), first, fired)
    first.advance(3600)
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    process(make_store(), later, fired, expression="cron(0 7 * * ? *)")
    later.advance(3 * 3600)
    assert times(fired)[2:] == ["2025-01-01T07:00:00Z"]


def test_a_one_time_schedule_that_fired_does_not_fire_again(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first = ManualClock(T0)
    process(make_store(), first, fired, expression="at(2025-01-01T01:00:00)")
    first.advance(7200)
    later = ManualClock(T0 + timedelta(hours=3))
    process(make_store(), later, fired, expression="at(2025-01-01T01:00:00)")
    later.advance(3600)
    assert times(fired) == ["2025-01-01T01:00:00Z"]


def test_a_fire_kept_by_a_process_that_died_is_delivered_by_the_next(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    attempts: list[Any] = []

    def refuse(event: Any) -> None:
        attempts.append(event)
        raise RuntimeError("down")

    first = ManualClock(T0)
    scheduler = Scheduler(clock=first, store=make_store())
    scheduler.create_schedule("hourly", "rate(1 hour)", Target(
        refuse, target_id="t", clock=first, retry_policy=RetryPolicy(maximum_retry_attempts=5, base_delay=60,
                                                                     max_delay=60)), input=INPUT)
    first.advance(0)  # the first attempt fails; its retry waits in the store; the process dies
    assert [a["attempt"] for a in attempts] == ["1"]
    later = ManualClock(T0 + timedelta(minutes=10))
    dlq = Queue("dlq", clock=later)
    again = Scheduler(clock=later, store=make_store())
    again.create_schedule("hourly", "rate(1 hour)", Target(fired.append, target_id="t", clock=later,
                                                           dead_letter_queue=dlq), input=INPUT)
    later.advance(0)
    assert [(f["at"], f["attempt"]) for f in fired] == [("2025-01-01T00:00:00Z", "2")]  # its second attempt


def test_a_deleted_schedule_made_again_starts_afresh(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first = ManualClock(T0)
    scheduler = process(make_store(), first, fired)
    first.advance(3600)
    scheduler.delete_schedule("hourly")
    store = make_store()
    assert store.get_schedule("arn:aws:scheduler:us-east-1:123456789012:schedule/default/hourly") is None
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    process(store, later, fired)
    later.advance(0)
    assert times(fired)[2:] == ["2025-01-01T05:30:00Z"]  # a rate counts from its creation


def test_the_last_fire_is_kept_with_the_schedule(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    clock = ManualClock(T0)
    process(make_store(), clock, fired)
    clock.advance(3600)
    stored = make_store().get_schedule("arn:aws:scheduler:us-east-1:123456789012:schedule/default/hourly")
    assert stored is not None and stored.next_fire == T0 + 2 * HOUR
    assert json.loads(stored.data)["fired"] == (T0 + HOUR).isoformat()


def test_a_scheduled_rule_fires_once_between_two_processes(make_store: Callable[[], Store]) -> None:
    from eventbus import EventBus

    got: list[Any] = []
    clocks = [ManualClock(T0), ManualClock(T0)]
    targets = []
    for clock in clocks:
        bus = EventBus(clock=clock, store=make_store())
        bus.put_rule("tick", schedule_expression="rate(1 hour)")
        target = Target(got.append, target_id="t", clock=clock)
        bus.put_targets("tick", [target])
        targets.append(target)
    for _ in range(3):
        for clock in clocks:
            clock.advance(3600)
    assert [e["time"] for e in got] == ["2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z", "2025-01-01T03:00:00Z"]
    assert sum(t.metrics.accepted for t in targets) == 3  # a fire the other process kept is not counted twice


def rule_process(store: Store, clock: ManualClock, got: list[Any], expression: str = "rate(1 hour)") -> Any:
    """A process as it starts: its bus on the store, the scheduled rule put (again)."""
    from eventbus import EventBus

    bus = EventBus(clock=clock, store=store)
    bus.put_rule("tick", schedule_expression=expression)
    bus.put_targets("tick", [Target(got.append, target_id="t", clock=clock)])
    return bus


def test_a_scheduled_rule_put_again_after_a_restart_makes_up_its_missed_fires_once(
        make_store: Callable[[], Store]) -> None:
    got: list[Any] = []
    first = ManualClock(T0)
    rule_process(make_store(), first, got)
    first.advance(2 * 3600)  # fires at 1 h and 2 h; then the process dies
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    rule_process(make_store(), later, got)
    later.advance(0)  # 3 h, 4 h and 5 h were missed: one late fire, for 5 h (as a Scheduler's)
    assert [e["time"] for e in got] == ["2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z", "2025-01-01T05:00:00Z"]
    later.advance(3600)
    assert [e["time"] for e in got][3:] == ["2025-01-01T06:00:00Z"]  # on the rate's own times


def test_a_scheduled_rule_disabled_before_the_restart_makes_up_nothing(make_store: Callable[[], Store]) -> None:
    got: list[Any] = []
    first = ManualClock(T0)
    bus = rule_process(make_store(), first, got)
    first.advance(3600)
    bus.disable_rule("tick")  # (its next fire is no longer due: nothing to make up)
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    again = rule_process(make_store(), later, got)  # (put again: enabled, from now on)
    later.advance(0)
    assert [e["time"] for e in got] == ["2025-01-01T01:00:00Z"]
    later.advance(3600)
    assert [e["time"] for e in got] == ["2025-01-01T01:00:00Z", "2025-01-01T06:00:00Z"]
    assert again.describe_rule("tick").state == "ENABLED"


def test_a_scheduled_rule_changed_while_no_process_ran_starts_afresh(make_store: Callable[[], Store]) -> None:
    got: list[Any] = []
    first = ManualClock(T0)
    rule_process(make_store(), first, got)
    first.advance(2 * 3600)
    later = ManualClock(T0 + timedelta(hours=5, minutes=30))
    rule_process(make_store(), later, got, "rate(2 hours)")  # another schedule: nothing of the old one is made up
    later.advance(0)
    assert len(got) == 2
    later.advance(2 * 3600)
    assert [e["time"] for e in got][2:] == ["2025-01-01T07:30:00Z"]  # (two hours from the minute it was put)


# -- what a third review found (each was a bug)


def test_a_one_time_schedule_that_deletes_itself_delivers_its_fire(make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    clock = ManualClock(T0)
    scheduler = Scheduler(clock=clock, store=make_store())
    scheduler.create_schedule("once", "at(2025-01-01T00:01:00)", fired.append, action_after_completion="DELETE")
    clock.advance(120)
    assert fired == [{}] and scheduler.list_schedules() == []


@pytest.mark.parametrize("change", ["delete", "update"])
def test_a_retry_waiting_when_its_schedule_changes_is_still_made_by_its_target(
        make_store: Callable[[], Store], change: str) -> None:
    calls: list[str] = []

    def flaky(event: Any) -> None:
        calls.append("old")
        if len(calls) == 1:
            raise RuntimeError("down")

    clock = ManualClock(T0)
    scheduler = Scheduler(clock=clock, store=make_store())
    policy = RetryPolicy(base_delay=60, max_delay=60)
    scheduler.create_schedule("hourly", "rate(1 hour)", Target(flaky, target_id="t", clock=clock, retry_policy=policy))
    clock.advance(0)  # fails: a retry waits
    if change == "delete":
        scheduler.delete_schedule("hourly")
    else:
        scheduler.update_schedule("hourly", "rate(1 hour)", lambda e: calls.append("new"))
    clock.advance(90)
    assert calls[:2] == ["old", "old"]  # the retry, made as it would be without a store


def test_two_processes_making_one_rate_schedule_at_different_times_fire_it_once(
        make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    first = ManualClock(T0)
    process(make_store(), first, fired)  # (created: it fires at once, and every hour after)
    second = ManualClock(T0 + timedelta(minutes=2))
    process(make_store(), second, fired)  # the same schedule, two minutes later: it takes up the first's
    for hour in range(1, 4):
        first.advance_to(T0 + hour * HOUR + timedelta(minutes=2))
        second.advance_to(T0 + hour * HOUR + timedelta(minutes=2))
    assert times(fired) == ["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z", "2025-01-01T02:00:00Z",
                            "2025-01-01T03:00:00Z"]


def test_a_deleted_one_time_schedule_made_again_for_the_same_time_fires_again(
        make_store: Callable[[], Store]) -> None:
    fired: list[Any] = []
    clock = ManualClock(T0)
    scheduler = process(make_store(), clock, fired, expression="at(2025-01-01T00:01:00)")
    clock.advance(120)
    scheduler.delete_schedule("hourly")
    scheduler.create_schedule("hourly", "at(2025-01-01T00:01:00)", fired.append, input=INPUT)  # (past: at once)
    clock.advance(0)
    assert times(fired) == ["2025-01-01T00:01:00Z", "2025-01-01T00:01:00Z"]


def test_a_rate_rule_put_by_two_processes_minutes_apart_fires_once(make_store: Callable[[], Store]) -> None:
    from eventbus import EventBus

    got: list[Any] = []
    clocks = [ManualClock(T0), ManualClock(T0 + timedelta(minutes=2))]
    for clock in clocks:
        bus = EventBus(clock=clock, store=make_store())
        bus.put_rule("tick", schedule_expression="rate(5 minutes)")
        bus.put_targets("tick", [Target(got.append, target_id="t", clock=clock)])
    for minute in range(3, 31):
        for clock in clocks:
            clock.advance_to(T0 + timedelta(minutes=minute))
    assert [e["time"][11:16] for e in got] == ["00:05", "00:10", "00:15", "00:20", "00:25", "00:30"]
