"""Deliveries kept in a work store: a bus's targets and a function's queued
invocations, written before put_events / invoke return, delivered by a pump
on the clock, and taken over by the next process on the same file.

The oracle for outcomes is the in-memory runtime (clock timers, no store):
an independent path through the same retry rules, so a scenario must end
the same way with and without a store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventbus
from eventbus import EventBus, Function, ManualClock, PutEventsRequestEntry, Queue, RetryPolicy, SqliteStore, Target
from eventbus._store import MemoryStore, Store

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ENTRY: PutEventsRequestEntry = {"Source": "shop", "DetailType": "order", "Detail": "{}"}


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Stores of the parameter's kind on one place: a second call is the same store
    "after a restart" (sqlite: the same file opened again)."""
    made: list[Store] = []
    memory = MemoryStore()

    def factory() -> Store:
        store = memory if request.param == "memory" else SqliteStore(tmp_path / "work.db")
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


def failing(times: int, calls: list[str]) -> Callable[[Any], None]:
    def destination(event: Any) -> None:
        calls.append(event["id"])
        if len(calls) <= times:
            raise RuntimeError(f"failure {len(calls)}")

    return destination


def bus_with(store: Store | None, clock: ManualClock, destination: Any, *, retries: int = 2,
             dlq: Queue | None = None, lease: float = 300, poll: float | None = None) -> EventBus:
    bus = EventBus(clock=clock, store=store, lease=lease, poll=poll)
    bus.put_rule("orders", event_pattern={"source": ["shop"]})
    bus.put_targets("orders", [Target(destination, target_id="t1", clock=clock, dead_letter_queue=dlq,
                                      retry_policy=RetryPolicy(maximum_retry_attempts=retries))])
    return bus


def queue_name(bus: EventBus) -> str:
    return f"events:{bus.arn}"


def test_put_events_writes_each_delivery_before_it_returns(make_store: Callable[[], Store]) -> None:
    store, clock, calls = make_store(), ManualClock(T0), list[str]()
    bus = bus_with(store, clock, failing(0, calls))
    bus.put_rule("all", event_pattern={"detail-type": ["order"]})
    bus.put_targets("all", [Target(lambda e: None, target_id="t2", clock=clock)])
    bus.put_events([ENTRY, ENTRY])
    assert store.counts(queue_name(bus)) == {"ready": 4, "leased": 0, "dead": 0}  # 2 events x 2 rules
    assert calls == []  # nothing ran yet: the clock has not moved
    clock.advance(0)
    assert len(calls) == 2
    assert store.counts(queue_name(bus)) == {"ready": 0, "leased": 0, "dead": 0}
    assert store.next_due() is None


def test_a_retry_waits_in_the_store_with_its_count(make_store: Callable[[], Store]) -> None:
    store, clock, calls = make_store(), ManualClock(T0), list[str]()
    dlq = Queue("dlq", clock=clock)
    bus = bus_with(store, clock, failing(10, calls), retries=2, dlq=dlq)
    bus.put_events([ENTRY])
    clock.advance(0)
    assert len(calls) == 1
    [waiting] = store.claim(queue_name(bus), now=T0 + timedelta(days=1), limit=1, lease=timedelta(seconds=1),
                            owner="peek")
    assert json.loads(waiting.payload)["n"] == 1  # one retry counted, kept with the item
    assert json.loads(waiting.payload)["e"][1:3] == ["RuntimeError", "failure 1"]
    assert store.retry(waiting, not_before=waiting.not_before, payload=waiting.payload)  # (handed back as it was)
    clock.advance(3600)
    assert len(calls) == 3  # the first attempt and two retries
    [letter] = dlq.messages()
    assert letter.attributes["RETRY_ATTEMPTS"] == "2"
    assert store.counts(queue_name(bus))["ready"] == 0


def test_a_new_process_on_the_same_store_delivers_what_the_last_one_accepted(
        make_store: Callable[[], Store]) -> None:
    calls: list[str] = []
    first = bus_with(make_store(), ManualClock(T0), failing(0, calls))
    event_id = first.put_events([ENTRY])["Entries"][0]["EventId"]
    # the process dies here: its clock never ran; a new one opens the same store
    clock = ManualClock(T0 + timedelta(seconds=5))
    bus_with(make_store(), clock, failing(0, calls))
    clock.advance(0)
    assert calls == [event_id]


def test_a_retry_count_survives_the_restart(make_store: Callable[[], Store]) -> None:
    calls: list[str] = []
    first_clock = ManualClock(T0)
    first = bus_with(make_store(), first_clock, failing(10, calls), retries=2)
    first.put_events([ENTRY])
    first_clock.advance(0)  # attempt 1 fails: retry 1 kept in the store
    assert len(calls) == 1
    clock = ManualClock(T0 + timedelta(seconds=1))
    dlq = Queue("dlq", clock=clock)
    second = bus_with(make_store(), clock, failing(10, calls), retries=2, dlq=dlq)
    clock.advance(3600)
    assert len(calls) == 3  # two more, not three: the policy counts across processes
    [letter] = dlq.messages()
    assert letter.attributes["RETRY_ATTEMPTS"] == "2"
    assert letter.attributes["ERROR_MESSAGE"] == "failure 3"
    assert second.metrics()["InvocationsSentToDLQ"] == 1


def test_a_delivery_whose_holder_died_is_taken_over_after_its_lease(make_store: Callable[[], Store]) -> None:
    calls: list[str] = []
    store = make_store()
    first = bus_with(store, ManualClock(T0), failing(0, calls), lease=30)
    first.put_events([ENTRY])
    [held] = store.claim(queue_name(first), now=T0, limit=1, lease=timedelta(seconds=30), owner="dead process")
    clock = ManualClock(T0 + timedelta(seconds=1))
    bus_with(make_store(), clock, failing(0, calls), lease=30)
    clock.advance(28)
    assert calls == []  # still the dead process's
    clock.advance(2)
    assert len(calls) == 1
    assert store.ack(held) is False  # the dead process's claim is stale


def test_the_outcome_is_kept_for_a_dropped_delivery(make_store: Callable[[], Store]) -> None:
    store, clock, calls = make_store(), ManualClock(T0), list[str]()
    bus = bus_with(store, clock, failing(10, calls), retries=0)
    bus.put_events([ENTRY])
    clock.advance(0)
    [letter] = store.dead_letters(queue_name(bus))
    assert "no dead-letter queue" in letter.reason and "RuntimeError: failure 1" in letter.reason
    assert json.loads(letter.payload)["t"] == "t1"


def test_a_delivery_whose_target_is_not_put_back_waits_then_is_dropped_with_why(
        make_store: Callable[[], Store]) -> None:
    first = bus_with(make_store(), ManualClock(T0), lambda e: None)
    first.put_events([ENTRY])
    clock = ManualClock(T0)
    second = EventBus(clock=clock, store=make_store())
    second.put_rule("orders", event_pattern={"source": ["shop"]})
    called: list[Any] = []
    second.put_targets("orders", [Target(called.append, target_id="another", clock=clock)])
    clock.advance(3600)
    assert called == []
    assert second.store is not None and second.store.counts(queue_name(second))["ready"] == 1  # still waiting
    clock.advance(86_400)
    [letter] = second.store.dead_letters(queue_name(second))
    assert "rule orders target t1 is not there" in letter.reason


def test_a_duplicate_delivery_is_kept_once(make_store: Callable[[], Store]) -> None:
    store, clock = make_store(), ManualClock(T0)
    got: list[Any] = []
    bus = bus_with(store, clock, got.append)
    event = {"id": "same-id", "account": "123456789012", "source": "shop", "time": "2025-01-01T00:00:00Z",
             "region": "us-east-1", "detail-type": "order", "detail": {}, "resources": []}
    bus.deliver(event)
    bus.deliver(event)  # a forward tried again: the same event to the same target
    clock.advance(0)
    assert len(got) == 1
    [target] = bus.list_targets_by_rule("orders")
    assert (target.metrics.accepted, target.metrics.succeeded, target.metrics.dropped) == (1, 1, 0)


class Refusing(MemoryStore):
    def enqueue_many(self, items: Any) -> list[str | None]:
        raise OSError("disk full")


def test_an_event_the_store_cannot_keep_fails_its_entry_and_nothing_is_left_pending() -> None:
    clock = ManualClock(T0)
    bus = bus_with(Refusing(), clock, lambda e: None)
    response = bus.put_events([ENTRY, {"Source": "elsewhere", "DetailType": "x", "Detail": "{}"}])
    assert response["FailedEntryCount"] == 1
    failed, unmatched = response["Entries"]
    assert failed == {"ErrorCode": "InternalFailure", "ErrorMessage": "The event could not be kept: OSError: disk full"}
    assert "EventId" in unmatched
    [target] = bus.list_targets_by_rule("orders")
    assert target.metrics.pending == 0 and target.metrics.dropped == 1


def test_a_function_keeps_its_queued_invocations(make_store: Callable[[], Store]) -> None:
    calls: list[Any] = []

    def handler(event: Any, context: Any) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise ValueError("once")

    first = Function(handler, name="worker", clock=ManualClock(T0), store=make_store())
    assert first.invoke({"n": 1}, "Event")["StatusCode"] == 202
    clock = ManualClock(T0 + timedelta(seconds=1))
    second = Function(handler, name="worker", clock=clock, store=make_store())
    clock.advance(0)
    assert calls == [{"n": 1}]
    clock.advance(600)
    assert calls == [{"n": 1}, {"n": 1}]
    assert second.metrics.succeeded == 1


def test_settings_are_checked() -> None:
    with pytest.raises(eventbus.ValidationError, match="store"):
        EventBus(store="work.db")  # type: ignore[arg-type]
    with pytest.raises(eventbus.ValidationError, match="lease must be a positive"):
        EventBus(store=MemoryStore(), lease=0)
    with pytest.raises(eventbus.ValidationError, match="'lease' failed to satisfy constraint"):
        Function(lambda e, c: None, lease=-1)
    with pytest.raises(eventbus.ValidationError, match="poll must be a positive"):
        EventBus(store=MemoryStore(), poll=0)


def test_a_polling_pump_does_not_keep_a_clock_from_idling() -> None:
    clock = ManualClock(T0)
    bus_with(MemoryStore(), clock, lambda e: None, poll=1)
    clock.run_until_idle()  # returns at once: the poll's timer stands aside
    assert clock.now() == T0
    clock.advance(10)
    assert [t.label for t in clock.pending()] == ["event bus default: deliveries due"]  # (it goes on looking)


# -- the in-memory runtime as the oracle


@settings(max_examples=40, deadline=None)
@given(failures=st.lists(st.integers(0, 4), min_size=1, max_size=3), retries=st.integers(0, 3),
       with_dlq=st.booleans(), events=st.integers(1, 3), max_age=st.sampled_from([60, 3600, 86_400]))
def test_outcomes_with_a_store_are_those_without(failures: list[int], retries: int, with_dlq: bool, events: int,
                                                 max_age: int) -> None:
    def run(store: Store | None) -> Any:
        clock = ManualClock(T0)
        dlq = Queue("dlq", clock=clock) if with_dlq else None
        bus = EventBus(clock=clock, store=store, seed=7)
        bus.put_rule("r", event_pattern={"source": ["shop"]})
        calls: dict[str, list[str]] = {}
        targets = []
        for n, times in enumerate(failures):
            calls[f"t{n}"] = []
            targets.append(Target(failing(times * events, calls[f"t{n}"]), target_id=f"t{n}", clock=clock, seed=n,
                                  dead_letter_queue=dlq,
                                  retry_policy=RetryPolicy(maximum_retry_attempts=retries,
                                                           maximum_event_age_in_seconds=max_age)))
        bus.put_targets("r", targets)
        bus.put_events([ENTRY] * events)
        clock.advance(200_000)
        letters = sorted((m.attributes["TARGET_ARN"], m.attributes["RETRY_ATTEMPTS"],
                          m.attributes.get("EXHAUSTED_RETRY_CONDITION")) for m in (dlq.messages() if dlq else []))
        metrics = [(t.metrics.succeeded, t.metrics.dead_lettered, t.metrics.dropped, t.metrics.attempts,
                    t.metrics.pending) for t in targets]
        return {k: len(v) for k, v in calls.items()}, letters, metrics

    store = MemoryStore()
    with_store = run(store)
    assert with_store == run(None)
    dropped = sum(m[2] for m in with_store[2])
    assert store.counts("events:arn:aws:events:us-east-1:123456789012:event-bus/default") == {
        "ready": 0, "leased": 0, "dead": dropped}  # every item ended; each dropped one kept with its reason


def test_deliveries_another_process_made_leave_this_ones_pending_count(make_store: Callable[[], Store]) -> None:
    got: list[str] = []
    put_clock, work_clock = ManualClock(T0), ManualClock(T0)
    putter = bus_with(make_store(), put_clock, lambda e: got.append("putter"))
    worker = bus_with(make_store(), work_clock, lambda e: got.append("worker"), poll=2)
    putter.put_events([ENTRY] * 5)
    [accepted_here] = putter.list_targets_by_rule("orders")
    assert accepted_here.metrics.pending == 5
    work_clock.advance(1.9)
    assert got == []  # (the worker has not looked yet: it polls every 2 s)
    work_clock.advance(0.1)  # the other process's pump looks and claims first
    put_clock.advance(0)  # this one finds nothing due, and the store empty
    assert got == ["worker"] * 5
    assert accepted_here.metrics.pending == 0 and accepted_here.metrics.accepted == 0  # not this process's
    [made_there] = worker.list_targets_by_rule("orders")
    assert made_there.metrics.succeeded == 5
