"""Deliveries kept in a work store: a bus's targets and a function's queued
invocations, written before put_events / invoke return, delivered by a pump
on the clock, and taken over by the next process on the same file.

The oracle for outcomes is the in-memory runtime (clock timers, no store):
an independent path through the same retry rules, so a scenario must end
the same way with and without a store."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventbus
from eventbus import (
    EventBus,
    Function,
    ManualClock,
    PutEventsRequestEntry,
    Queue,
    RetryPolicy,
    Scheduler,
    SqliteStore,
    Target,
)
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
             dlq: Queue | None = None, lease: float | None = None, poll: float | None = None) -> EventBus:
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
    second.remove_targets("orders", ["t1"])  # (the first process's target, taken up from the store: removed)
    clock.advance(3600)
    assert called == []
    assert second.store is not None and second.store.counts(queue_name(second))["ready"] == 1  # still waiting
    clock.advance(86_400)
    [letter] = second.store.dead_letters(queue_name(second))
    assert "rule orders target t1 is not there" in letter.reason


class AckFailsOnce(MemoryStore):
    """A store whose first ack of the named queue fails (the process died before
    the end of a delivery was written)."""

    def __init__(self, queue: str) -> None:
        super().__init__()
        self.failing = queue

    def ack_many(self, works: Any) -> list[bool]:
        if works and works[0].queue == self.failing:
            self.failing = ""
            raise OSError("the process died here")
        return super().ack_many(works)


def test_a_forward_tried_again_is_kept_once_by_the_receiving_bus() -> None:
    clock = ManualClock(T0)
    sender_queue = "events:arn:aws:events:us-east-1:123456789012:event-bus/sender"
    store = AckFailsOnce(sender_queue)
    receiver = EventBus("receiver", clock=clock, store=store)
    got: list[Any] = []
    receiver.put_rule("all", event_pattern={"source": ["shop"]})
    receiver.put_targets("all", [Target(got.append, target_id="t", clock=clock)])
    sender = EventBus("sender", clock=clock, store=store, lease=30)
    sender.put_rule("forward", event_pattern={"source": ["shop"]})
    sender.put_targets("forward", [Target(receiver, target_id="to-receiver", clock=clock)])
    sender.put_events([ENTRY])
    clock.advance(0)  # forwarded; the sender's ack is lost
    clock.advance(31)  # the sender's lease runs out: it forwards again
    assert len(got) == 1
    assert store.counts(sender_queue) == {"ready": 0, "leased": 0, "dead": 0}


def test_events_with_the_same_id_are_each_delivered(make_store: Callable[[], Store]) -> None:
    clock = ManualClock(T0)
    got: list[Any] = []
    bus = bus_with(make_store(), clock, got.append)
    event = {"id": "same-id", "account": "123456789012", "source": "shop", "time": "2025-01-01T00:00:00Z",
             "region": "us-east-1", "detail-type": "order", "detail": {}, "resources": []}
    bus.deliver(event)
    bus.deliver(event)  # (two events, as in AWS: ids are the sender's business)
    clock.advance(0)
    assert len(got) == 2


def test_two_rules_forwarding_one_event_to_a_bus_deliver_it_twice(make_store: Callable[[], Store]) -> None:
    clock = ManualClock(T0)
    receiver = EventBus("receiver", clock=clock, store=make_store())
    got: list[Any] = []
    receiver.put_rule("all", event_pattern={"source": ["shop"]})
    receiver.put_targets("all", [Target(got.append, target_id="t", clock=clock)])
    sender = EventBus("sender", clock=clock, store=make_store())
    for rule in ("one", "two"):
        sender.put_rule(rule, event_pattern={"source": ["shop"]})
        sender.put_targets(rule, [Target(receiver, target_id="to-receiver", clock=clock)])
    sender.put_events([ENTRY])
    clock.advance(0)
    assert len(got) == 2  # as without a store, and in AWS


def test_a_second_process_with_the_same_seeds_delivers_its_own_events(make_store: Callable[[], Store]) -> None:
    got: list[str] = []
    for _ in range(2):  # two processes, one after the other, with the same seeded clock: the same event ids
        clock = ManualClock(T0)
        bus = bus_with(make_store(), clock, lambda e: got.append(e["id"]))
        bus.put_events([ENTRY])
        clock.advance(0)
    assert len(got) == 2 and got[0] == got[1]


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
    with pytest.raises(eventbus.ValidationError, match="store must be a store object"):
        EventBus(store=MemoryStore)  # type: ignore[arg-type]
    for lease in (0, 1e-7, -1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(eventbus.ValidationError, match="lease must be a number of seconds from 0.001"):
            EventBus(store=MemoryStore(), lease=lease)  # type: ignore[arg-type]
    with pytest.raises(eventbus.ValidationError, match="lease must be a number of seconds from 0.001"):
        Function(lambda e, c: None, lease=-1)
    with pytest.raises(eventbus.ValidationError, match="poll must be a number of seconds from 0.001"):
        EventBus(store=MemoryStore(), poll=0)


@pytest.mark.parametrize("make", [
    lambda **kw: EventBus(**kw),
    lambda **kw: Function(lambda e, c: None, **kw),
    lambda **kw: Scheduler(**kw),
], ids=["EventBus", "Function", "Scheduler"])
def test_lease_and_poll_without_a_store_are_refused_and_a_closed_store_too(make: Any, tmp_path: Path) -> None:
    with pytest.raises(eventbus.ValidationError, match=r"^lease is only used with a store: give store="):
        make(lease=30)
    with pytest.raises(eventbus.ValidationError, match=r"^poll is only used with a store"):
        make(poll=1)
    with pytest.raises(eventbus.ValidationError, match=r"^lease and poll are only used with a store"):
        make(lease=30, poll=1)
    assert make().lease >= 300 and make().poll is None  # (the defaults, without a store)
    for store in (MemoryStore(), SqliteStore(tmp_path / "closed.db")):
        store.close()
        with pytest.raises(eventbus.ValidationError, match=r"^store: The work store .*is closed"):
            make(store=store)
    kept = make(store=MemoryStore(), lease=30, poll=1)
    assert (kept.lease, kept.poll) == (30, 1)


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


# -- what a first review found (each was a bug)


class ClaimFailsOnce(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def claim(self, queue: str, **kwargs: Any) -> list[Any]:
        if self.fail:
            self.fail = False
            raise OSError("database is locked")
        return super().claim(queue, **kwargs)


def test_a_store_that_fails_once_does_not_stop_the_pump(caplog: pytest.LogCaptureFixture) -> None:
    store, clock, calls = ClaimFailsOnce(), ManualClock(T0), list[str]()
    bus = bus_with(store, clock, failing(1, calls))
    bus.put_events([ENTRY])
    clock.advance(0)  # fails once: its retry waits in the store
    store.fail = True
    clock.advance(3600)
    assert len(calls) == 2  # the retry was made after all
    assert "the store could not be read (OSError: database is locked); trying again in 0:00:01" in caplog.text


@pytest.mark.parametrize("store_kind", ["none", "kept"])
def test_a_target_replaced_while_its_retry_waits_still_makes_it(make_store: Callable[[], Store],
                                                                store_kind: str) -> None:
    store, clock, calls = make_store() if store_kind == "kept" else None, ManualClock(T0), list[str]()
    bus = bus_with(store, clock, failing(1, calls))
    bus.put_events([ENTRY])
    clock.advance(0)
    [old] = bus.list_targets_by_rule("orders")
    got: list[Any] = []
    new = Target(got.append, target_id="t1", clock=clock)
    bus.put_targets("orders", [new])  # the same id: the old target still ends what it accepted, as in memory
    clock.advance(3600)
    assert (len(calls), got) == (2, [])
    assert (old.metrics.pending, old.metrics.succeeded, new.metrics.accepted) == (0, 1, 0)


def test_a_wait_for_a_delivery_left_in_the_store_at_shutdown_says_so(make_store: Callable[[], Store]) -> None:
    calls: list[Any] = []

    def handler(event: Any, context: Any) -> None:
        calls.append(context.aws_request_id)
        raise ValueError("not yet")

    clock = ManualClock(T0)
    fn = Function(handler, name="worker", clock=clock, store=make_store())
    request_id = fn.invoke({"n": 1}, "Event")["RequestId"]
    clock.advance(0)  # fails; its retry waits in the store
    clock.shutdown()
    with pytest.raises(eventbus.ClockClosedError, match="waits in its store and the clock is shut down"):
        fn.wait(request_id)
    assert fn.metrics.pending == 1  # (pending still: nothing was dropped)
    later = ManualClock(T0 + timedelta(minutes=5))
    Function(handler, name="worker", clock=later, store=make_store())
    later.advance(0)
    assert calls == [request_id, request_id]  # the retry keeps its request id, as Lambda's do


def test_a_target_put_back_a_moment_later_waits_seconds_not_a_minute(make_store: Callable[[], Store]) -> None:
    first = bus_with(make_store(), ManualClock(T0), lambda e: None)
    first.put_rule("audit", event_pattern={"source": ["shop"]})
    first.put_targets("audit", [Target(lambda e: None, target_id="a", clock=first.clock)])
    first.put_events([ENTRY])
    clock = ManualClock(T0)
    got: list[str] = []
    second = bus_with(make_store(), clock, lambda e: got.append("orders"))  # its pump starts: audit is not back
    clock.advance(0)
    assert got == ["orders"]
    second.put_rule("audit", event_pattern={"source": ["shop"]})
    second.put_targets("audit", [Target(lambda e: got.append("audit"), target_id="a", clock=clock)])
    clock.advance(2)
    assert got == ["orders", "audit"]


def test_a_slow_attempt_keeps_its_lease_and_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """Real threads (SystemClocks): a lease of 0.4 s, an attempt of 1.2 s, and a
    second process on the same file looking every 0.1 s for work to take over."""
    import threading
    import time

    clock, other = eventbus.SystemClock(), eventbus.SystemClock()
    store, other_store = SqliteStore(tmp_path / "work.db"), SqliteStore(tmp_path / "work.db")
    release = threading.Event()
    slow_calls: list[float] = []
    quick: list[float] = []

    def slow(event: Any) -> None:
        slow_calls.append(time.monotonic())
        release.wait(1.2)

    try:
        buses = []
        for running, kept, poll in ((clock, store, None), (other, other_store, 0.1)):
            bus = EventBus(clock=running, store=kept, lease=0.4, poll=poll)
            buses.append(bus)
            bus.put_rule("slow", event_pattern={"detail-type": ["slow"]})
            bus.put_targets("slow", [Target(slow, target_id="s", clock=running)])
            bus.put_rule("quick", event_pattern={"detail-type": ["quick"]})
            bus.put_targets("quick", [Target(lambda e: quick.append(time.monotonic()), target_id="q",
                                             clock=running)])
        bus = buses[0]  # (the other one only looks for work to take over)
        bus.put_events([{"Source": "shop", "DetailType": "slow", "Detail": "{}"}])
        deadline = time.monotonic() + 10
        while not slow_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.6)  # past the first lease: renewed, not taken over
        put_at = time.monotonic()
        bus.put_events([{"Source": "shop", "DetailType": "quick", "Detail": "{}"}])
        assert clock.idle(timeout=10)
    finally:
        release.set()
        for running, kept in ((clock, store), (other, other_store)):
            running.shutdown(timeout=5)
            kept.close()
    assert len(slow_calls) == 1  # one attempt: its lease was renewed while it ran (no one took it over)
    assert len(quick) == 1 and quick[0] - put_at < 0.5  # not held up behind the slow one


# -- what a kept delivery carries, and lease renewal


@settings(max_examples=60, deadline=None)
@given(body=st.none() | st.text(max_size=20), attributes=st.none() | st.dictionaries(st.text(min_size=1, max_size=5),
                                                                                     st.text(max_size=5), max_size=3),
       hops=st.integers(0, 1), retries=st.integers(0, 185), throttles=st.integers(0, 9), calls=st.integers(0, 9),
       seconds=st.integers(0, 10**9), error=st.none() | st.sampled_from([ValueError("bad"), OSError(5, "io"),
                                                                        eventbus.ThrottlingError("slow down")]))
def test_a_kept_delivery_comes_back_as_it_went(body: str | None, attributes: dict[str, str] | None, hops: int,
                                               retries: int, throttles: int, calls: int, seconds: int,
                                               error: Exception | None) -> None:
    from eventbus._delivery._durable import _decode, _encode
    from eventbus._delivery._engine import Job, error_code, error_text

    clock = ManualClock(T0)
    target = Target(lambda e: None, target_id="t", clock=clock)
    job = Job("abc-1", '{"id":"e"}', attributes, T0 + timedelta(seconds=seconds), target, body, None, hops)
    job.retries, job.throttles, job.calls, job.last_error = retries, throttles, calls, error
    data = json.loads(_encode(job, {"r": "arn:rule", "t": "t"}))
    assert (data["r"], data["t"], data["age"]) == ("arn:rule", "t", 86_400)
    back = _decode(target, data)
    assert (back.id, back.text, back.attributes or None, back.accepted_at, back.body, back.hops, back.retries,
            back.throttles, back.calls) == ("abc-1", job.text, attributes or None, job.accepted_at, body, hops,
                                            retries, throttles, calls)
    if error is None:
        assert back.last_error is None
    else:
        assert back.last_error is not None
        assert (error_text(back.last_error), error_code(back.last_error)) == (error_text(error), error_code(error))
        assert isinstance(error, back.last_error.kept_class)  # type: ignore[attr-defined]


def test_a_transformed_delivery_keeps_its_body_across_a_restart(make_store: Callable[[], Store]) -> None:
    def process(clock: ManualClock, got: list[Any]) -> EventBus:
        bus = EventBus(clock=clock, store=make_store())
        bus.put_rule("orders", event_pattern={"source": ["shop"]})
        bus.put_targets("orders", [Target(got.append, target_id="t", clock=clock,
                                          input_transformer={"InputPathsMap": {"s": "$.source"},
                                                             "InputTemplate": '{"from": <s>}'})])
        return bus

    process(ManualClock(T0), []).put_events([ENTRY])
    got: list[Any] = []
    clock = ManualClock(T0)
    process(clock, got)
    clock.advance(0)
    assert got == [{"from": "shop"}]


def test_a_delivery_whose_target_is_gone_is_dropped_at_its_own_maximum_age(make_store: Callable[[], Store]) -> None:
    clock = ManualClock(T0)
    bus = EventBus(clock=clock, store=make_store())
    bus.put_rule("orders", event_pattern={"source": ["shop"]})
    bus.put_targets("orders", [Target(lambda e: None, target_id="t", clock=clock,
                                      retry_policy=RetryPolicy(maximum_event_age_in_seconds=60))])
    bus.put_events([ENTRY])
    later = ManualClock(T0)
    other = EventBus(clock=later, store=make_store())
    other.put_rule("orders", event_pattern={"source": ["shop"]})
    other.put_targets("orders", [Target(lambda e: None, target_id="another", clock=later)])
    other.remove_targets("orders", ["t"])  # (the first process's target, taken up from the store: removed)
    later.advance(59)
    assert other.store is not None and other.store.dead_letters(queue_name(other)) == []
    later.advance(63)  # (it looks again at 2, 4 ... 64 s: past the target's 60 s)
    [letter] = other.store.dead_letters(queue_name(other))
    assert letter.reason == "rule orders target t is not there (removed, or not put back after a restart) and the " \
                            "event grew too old"


def test_a_running_attempt_has_its_lease_renewed_when_half_is_left() -> None:
    store, clock = MemoryStore(), ManualClock(T0)
    bus = bus_with(store, clock, lambda e: None, lease=10)
    bus.put_events([ENTRY])
    durable = bus._durable
    assert durable is not None
    [work] = store.claim(queue_name(bus), now=T0, limit=1, lease=timedelta(seconds=10), owner=durable.owner)
    job = durable._waiting.pop(work.id)  # (as the pump does: an attempt of it runs here, and goes on running)
    job.work = work
    durable._held[work.id] = job
    durable.wake()
    clock.advance(4.9)
    assert store.next_due(queue_name(bus)) == T0 + timedelta(seconds=10)
    clock.advance(0.1)  # half of the lease left: renewed
    assert store.next_due(queue_name(bus)) == T0 + timedelta(seconds=15)
    assert store.claim(queue_name(bus), now=T0 + timedelta(seconds=12), limit=1, lease=timedelta(seconds=1),
                       owner="another process") == []
    clock.advance(5)
    assert store.next_due(queue_name(bus)) == T0 + timedelta(seconds=20)  # and again, while it runs


def test_deliveries_waiting_for_a_thread_are_not_made_twice_by_two_live_processes(tmp_path: Path) -> None:
    """Real threads: each pump claims a batch that its clock's threads start one
    after another, longer than the lease; the other process polls for work to
    take over.  Each delivery is made once (its lease is renewed as its attempt
    starts, or it is left to the claim that took it over)."""
    import collections
    import threading
    import time

    made: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def slow(event: Any) -> None:
        time.sleep(0.02)
        with lock:
            made[event["id"]] += 1

    def process(clock: Any, destination: Any, **settings: Any) -> EventBus:
        bus = EventBus(clock=clock, store=SqliteStore(tmp_path / "work.db"), **settings)
        bus.put_rule("r", event_pattern={"source": ["shop"]})
        bus.put_targets("r", [Target(destination, target_id="t", clock=clock)])
        return bus

    producer = process(ManualClock(datetime.now(UTC)), lambda e: None)  # (its clock never runs: it only puts)
    for _ in range(10):
        producer.put_events([ENTRY] * 10)
    clocks = [eventbus.SystemClock(workers=2), eventbus.SystemClock(workers=2)]
    try:
        for clock in clocks:
            process(clock, slow, lease=0.3, poll=0.05)
        deadline = time.monotonic() + 20
        while sum(made.values()) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # (anything made twice would be made by now)
    finally:
        for clock in clocks:
            clock.shutdown(timeout=5)
    assert len(made) == 100 and max(made.values()) == 1


def test_the_pump_keeps_one_timer_however_busy() -> None:
    clock = ManualClock(T0)
    bus = bus_with(MemoryStore(), clock, lambda e: None, poll=1)
    clock.advance(0)
    for _ in range(200):
        bus.put_events([ENTRY])
        clock.advance(0.004)
    clock.run_until_idle()
    assert [t.label for t in clock.pending()] == ["event bus default: deliveries due"]
    assert clock.advance(10) == 10  # one look a second: nothing piled up


@pytest.mark.parametrize("retries", [2, 5])
def test_the_retry_count_goes_with_a_delivery_between_live_processes(make_store: Callable[[], Store],
                                                                    retries: int) -> None:
    store = make_store()
    clocks = {worker: ManualClock(T0) for worker in "AB"}
    calls: list[str] = []
    buses = {}
    for worker, clock in clocks.items():
        def refuse(event: Any, worker: str = worker) -> None:
            calls.append(worker)
            raise RuntimeError("down")

        bus = EventBus(clock=clock, store=store, poll=0.2)
        bus.put_rule("orders", event_pattern={"source": ["shop"]})
        bus.put_targets("orders", [Target(refuse, target_id="t", clock=clock, retry_policy=RetryPolicy(
            maximum_retry_attempts=retries, base_delay=1, max_delay=1))])
        buses[worker] = bus
    buses["A"].put_events([ENTRY])
    for step in range(1, 200):
        for worker in ("AB" if len(calls) % 2 else "BA"):  # (they take turns claiming it)
            clocks[worker].advance_to(T0 + timedelta(seconds=step * 0.1))
    assert len(calls) == retries + 1 and set(calls) == {"A", "B"}


def watch_acks(store: Store) -> list[list[str]]:
    """The queues of the follow-ups each ``ack`` of ``store`` is given, in order."""
    written: list[list[str]] = []
    ack = store.ack

    def watched_ack(work: Any, **kwargs: Any) -> bool:
        written.append([item.queue for item in kwargs.get("then", ())])
        return ack(work, **kwargs)

    store.ack = watched_ack  # type: ignore[method-assign]
    return written


def test_a_dead_letter_on_the_same_store_is_written_with_the_delivery_end(make_store: Callable[[], Store]) -> None:
    store, clock, calls = make_store(), ManualClock(T0), list[str]()
    dlq = Queue("dlq", clock=clock, store=store)
    written = watch_acks(store)
    bus = bus_with(store, clock, failing(10, calls), retries=1, dlq=dlq)
    bus.put_events([ENTRY])
    clock.advance(3600)
    assert written == [[f"sqs:{dlq.arn}"]]  # one transaction: the delivery's end and its dead letter
    [letter] = Queue("dlq", clock=clock, store=store).messages()  # (a queue opened again finds it)
    assert letter.attributes["RETRY_ATTEMPTS"] == "1" and json.loads(letter.body)["source"] == "shop"
    assert bus.list_targets_by_rule("orders")[0].metrics.sent_to_dlq == 1


def test_a_functions_dead_letter_on_the_same_store_is_written_with_the_invocation_end(
        make_store: Callable[[], Store]) -> None:
    store, clock = make_store(), ManualClock(T0)
    dlq = Queue("fn-dlq", clock=clock, store=store)
    written = watch_acks(store)

    def refuse(event: Any, context: Any) -> None:
        raise ValueError("no")

    fn = Function(refuse, name="worker", clock=clock, store=store, dead_letter_queue=dlq, maximum_retry_attempts=0)
    request_id = fn.invoke({"n": 1}, "Event")["RequestId"]
    clock.advance(0)
    assert written == [[f"sqs:{dlq.arn}"]]
    [letter] = dlq.messages()
    assert (json.loads(letter.body), letter.attributes["RequestID"]) == ({"n": 1}, request_id)
    assert fn.metrics.sent_to_dlq == 1


def test_a_functions_destination_records_on_the_same_store_are_written_with_the_invocation_end(
        make_store: Callable[[], Store]) -> None:
    store, clock = make_store(), ManualClock(T0)
    succeeded, failed = Queue("ok", clock=clock, store=store), Queue("failed", clock=clock, store=store)
    dlq = Queue("fn-dlq", clock=clock, store=store)
    written = watch_acks(store)

    def handler(event: Any, context: Any) -> Any:
        if event["n"] < 0:
            raise ValueError("negative")
        return {"twice": event["n"] * 2}

    fn = Function(handler, name="worker", clock=clock, store=store, on_success=succeeded, on_failure=failed,
                  dead_letter_queue=dlq, maximum_retry_attempts=0)
    fn.invoke({"n": 2}, "Event")
    clock.advance(0)
    assert written == [[f"sqs:{succeeded.arn}"]]  # the end and its success record: one transaction
    [record] = succeeded.messages()
    assert json.loads(record.body)["responsePayload"] == {"twice": 4}
    fn.invoke({"n": -1}, "Event")
    clock.advance(0)
    # a failure: its record and its dead letter, both with the end
    assert written[1:] == [[f"sqs:{failed.arn}", f"sqs:{dlq.arn}"]]
    [failure] = failed.messages()
    assert json.loads(failure.body)["requestContext"]["condition"] == "RetriesExhausted"
    assert json.loads(failure.body)["responseContext"]["functionError"] == "Unhandled"
    assert [json.loads(m.body) for m in dlq.messages()] == [{"n": -1}]
    assert (fn.metrics.succeeded, fn.metrics.sent_to_dlq, fn.metrics.destination_failures) == (1, 1, 0)


def test_a_function_destination_on_the_same_store_is_invoked_from_the_end_of_the_first(
        make_store: Callable[[], Store]) -> None:
    store, clock, seen = make_store(), ManualClock(T0), list[Any]()
    audit = Function(lambda event, context: seen.append(event), name="audit", clock=clock, store=store)
    written = watch_acks(store)
    fn = Function(lambda event, context: event["n"] + 1, name="worker", clock=clock, store=store, on_success=audit)
    fn.invoke({"n": 1}, "Event")
    clock.advance(0)
    assert written[0] == [f"lambda:{audit.arn}"]  # the audit's invocation, kept with the worker's end
    assert [record["responsePayload"] for record in seen] == [2]
    assert audit.metrics.succeeded == 1


def test_a_success_record_is_not_sent_twice_when_the_end_is_not_written(make_store: Callable[[], Store]) -> None:
    """The end and its record in one transaction: a store that fails that write
    keeps neither; the invocation is made again after its lease, and its record
    is kept once (sent first and acked after, it was kept twice)."""
    store, clock, calls = make_store(), ManualClock(T0), list[Any]()
    records = Queue("ok", clock=clock, store=store)
    ack, failures = store.ack, [1]

    def flaky_ack(work: Any, **kwargs: Any) -> bool:
        if failures:
            failures.pop()
            raise OSError("disk I/O error")
        return ack(work, **kwargs)

    store.ack = flaky_ack  # type: ignore[method-assign]
    fn = Function(lambda event, context: calls.append(event), name="worker", clock=clock, store=store,
                  on_success=records, lease=60)
    fn.invoke({"n": 1}, "Event")
    clock.advance(0)
    assert (len(calls), records.messages()) == (1, [])  # neither the end nor the record was kept
    clock.advance(61)  # the lease ran out: made again, and this time ended
    assert len(calls) == 2
    assert len(records.messages()) == 1


def test_a_delivery_claimed_by_the_pump_while_it_is_being_written_is_made_once(
        caplog: pytest.LogCaptureFixture) -> None:
    """The pump (on another thread) claims an item the moment it is written, before
    put_events has followed it: it waits for the job put_events accepted rather than
    taking it over as a second one (which ended it twice)."""
    import threading

    class ClaimsAtOnce(MemoryStore):
        bus: EventBus | None = None
        waited = False

        def enqueue_many(self, items: Any) -> list[str | None]:
            ids = super().enqueue_many(items)
            if self.bus is not None:
                pump = threading.Thread(target=self.bus._durable._tick)  # type: ignore[union-attr]
                pump.start()
                pump.join(0.2)
                self.waited = pump.is_alive()  # (it waits for the item's job to be followed)
                self.bus = None
            return ids

    store, clock, got = ClaimsAtOnce(), ManualClock(T0), list[Any]()
    bus = bus_with(store, clock, got.append)
    store.bus = bus
    with caplog.at_level(logging.ERROR):
        bus.put_events([ENTRY])
        clock.advance(0)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    [target] = bus.list_targets_by_rule("orders")
    assert store.waited
    assert len(got) == 1 and (target.metrics.accepted, target.metrics.succeeded, target.metrics.pending) == (1, 1, 0)
    assert "ended twice" not in caplog.text and "internal error" not in caplog.text
