"""Archives and replay on a bus: what is archived, the API's shapes and errors,
replays in event-time order with ``replay-name``, their states, retention.
Most run on every store a bus may keep its archives in (``on_every_store``)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from eventbus import (
    ClockClosedError,
    ConflictError,
    EventBus,
    IllegalStatusError,
    InvalidEventPatternError,
    LimitExceededError,
    ManualClock,
    MemoryArchiveStore,
    ResourceAlreadyExistsError,
    ResourceNotFoundError,
    SqliteArchiveStore,
    Target,
    ValidationError,
)
from eventbus._store import Store
from tests.bus.test_archive_stores import make_work_store
from tests.store.test_contract import drop_buckets

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
ARN = "arn:aws:events:us-east-1:123456789012"


# A test marked ``on_every_store`` runs with its archives in memory (the default), then on each
# work store as its bus's one store for everything (``EventBus(store=...)``): ``setup()`` gives
# its bus the store the ``kept_in`` fixture makes (one given ``archive_store=`` keeps its own;
# ``kept_as="archive_store"``: the work store keeps the archives only, deliveries stay in memory,
# for tests that count on when targets run).
_STORES: list[Callable[[], Store]] = []


@pytest.fixture(params=["memory", "memory-work", "sqlite-work", "nats-work"])
def kept_in(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    made: list[Store] = []
    prefixes: list[str] = []

    def make() -> Store:
        made.append(make_work_store(request.param, tmp_path / "work.db", prefixes))
        return made[-1]

    if request.param != "memory":
        _STORES.append(make)
    try:
        yield
    finally:
        _STORES.clear()
        for store in made:
            store.close()
        for prefix in prefixes:
            drop_buckets(prefix)


on_every_store = pytest.mark.usefixtures("kept_in")


def setup(kept_as: str = "store", **bus: Any) -> tuple[ManualClock, EventBus, list[dict[str, Any]]]:
    if _STORES and "store" not in bus and "archive_store" not in bus:
        bus[kept_as] = _STORES[0]()
    clock = ManualClock(T0)
    got: list[dict[str, Any]] = []
    b = EventBus(clock=clock, **bus)
    b.put_rule("all", event_pattern={"source": [{"prefix": ""}]})
    b.put_targets("all", [Target(got.append, target_id="got")])
    return clock, b, got


def put(bus: EventBus, n: int, *, source: str = "shop", detail_type: str = "order", time: Any = None,
        first: int = 0) -> None:
    for i in range(first, first + n):
        entry: dict[str, Any] = {"Source": source, "DetailType": detail_type, "Detail": json.dumps({"n": i})}
        if time is not None:
            entry["Time"] = time
        assert bus.put_events([entry])["FailedEntryCount"] == 0  # type: ignore[list-item]


# -- what an archive keeps ---------------------------------------------------------
@on_every_store
def test_an_archive_keeps_the_matching_events_from_its_creation_on() -> None:
    clock, bus, _ = setup()
    put(bus, 2)  # before the archive: not kept
    bus.create_archive("orders", event_pattern={"detail-type": ["order"]})
    put(bus, 3, first=2)
    put(bus, 4, detail_type="refund")
    archive = bus.describe_archive("orders")
    assert archive.event_count == 3
    assert archive.size_bytes > 3 * 100
    bus.create_archive("everything")
    put(bus, 1, detail_type="refund")
    assert bus.describe_archive("everything").event_count == 1
    assert bus.describe_archive("orders").event_count == 3


def test_an_archive_keeps_events_that_match_no_rule_and_events_from_another_bus() -> None:
    clock = ManualClock(T0)
    upstream, bus = EventBus("up", clock=clock), EventBus("down", clock=clock)
    bus.create_archive("kept")
    upstream.put_rule("on", event_pattern={"source": ["shop"]})
    upstream.put_targets("on", [Target(bus, target_id="down")])
    put(upstream, 2)
    clock.run_until_idle()
    put(bus, 1, source="nobody-listens")
    assert bus.describe_archive("kept").event_count == 3


@on_every_store
def test_failed_entries_and_scheduled_rule_events_are_not_archived() -> None:
    clock, bus, got = setup()
    bus.create_archive("kept")
    bus.put_rule("tick", schedule_expression="rate(1 minute)")
    bus.put_targets("tick", [Target(got.append, target_id="tick")])
    result = bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": "not json"}])
    assert result["FailedEntryCount"] == 1
    clock.advance(180)
    assert [event["detail-type"] for event in got] == ["Scheduled Event"] * 3
    assert bus.describe_archive("kept").event_count == 0


@on_every_store
def test_what_an_archive_keeps_is_the_event_as_put_with_its_envelope() -> None:
    clock, bus, got = setup()
    bus.create_archive("kept")
    event_id = bus.publish(source="shop", detail_type="order", detail={"total": 5})
    stored = bus._archives.store.read(f"{ARN}:archive/kept", 0, 2**62)
    assert len(stored) == 1
    event = json.loads(stored[0][2])
    assert (event["id"], event["source"], event["detail"], event["time"]) == (
        event_id, "shop", {"total": 5}, "2026-05-04T09:00:00Z")
    assert stored[0][0] == int(T0.timestamp() * 1000)


# -- the API: shapes and errors ------------------------------------------------------
@on_every_store
def test_describe_archive_has_aws_shape() -> None:
    clock, bus, _ = setup()
    arn = bus.create_archive("orders", event_pattern='{"source":["shop"]}', retention_days=7,
                             description="all orders")
    assert arn == f"{ARN}:archive/orders"
    put(bus, 2)
    assert bus.describe_archive("orders").as_aws() == {
        "ArchiveArn": arn, "ArchiveName": "orders", "EventSourceArn": f"{ARN}:event-bus/default",
        "Description": "all orders", "EventPattern": '{"source":["shop"]}', "State": "ENABLED",
        "RetentionDays": 7, "SizeBytes": bus.describe_archive("orders").size_bytes, "EventCount": 2,
        "CreationTime": T0}
    assert bus.describe_archive("orders").size_bytes == sum(
        len(text.encode()) for _, _, text in bus._archives.store.read(arn, 0, 2**62))


@on_every_store
def test_a_mapping_pattern_is_kept_as_json_text() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders", event_pattern={"source": ["shop"]})
    assert json.loads(bus.describe_archive("orders").event_pattern or "") == {"source": ["shop"]}


@on_every_store
def test_list_update_and_delete_archives() -> None:
    clock, bus, _ = setup()
    for name in ("b-orders", "a-orders", "refunds"):
        bus.create_archive(name)
    assert [a.name for a in bus.list_archives()] == ["a-orders", "b-orders", "refunds"]
    assert [a.name for a in bus.list_archives(name_prefix="b-")] == ["b-orders"]
    assert [a.name for a in bus.list_archives(state="ENABLED")] == ["a-orders", "b-orders", "refunds"]
    assert bus.list_archives(state="DISABLED") == []
    put(bus, 1)
    updated = bus.update_archive("refunds", event_pattern={"detail-type": ["refund"]}, retention_days=3)
    assert (updated.retention_days, updated.description, updated.event_count) == (3, None, 1)
    put(bus, 1)
    put(bus, 1, detail_type="refund")
    assert bus.describe_archive("refunds").event_count == 2
    bus.update_archive("refunds", description="money back")
    after = bus.describe_archive("refunds")
    assert (after.description, after.retention_days, after.event_pattern) == (
        "money back", 3, '{"detail-type": ["refund"]}')
    bus.delete_archive("refunds")
    assert [a.name for a in bus.list_archives()] == ["a-orders", "b-orders"]
    with pytest.raises(ResourceNotFoundError, match=r"^Archive refunds does not exist\.$"):
        bus.describe_archive("refunds")
    bus.create_archive("refunds")  # the name is free again, and the archive starts empty
    assert bus.describe_archive("refunds").event_count == 0


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"name": ""}, ValidationError, "Value '' at 'ArchiveName' failed to satisfy constraint: Member must have "
                                    "length greater than or equal to 1"),
    ({"name": "a" * 49}, ValidationError, "Member must have length less than or equal to 48"),
    ({"name": "has space"}, ValidationError, r"Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+"),
    ({"name": 7}, ValidationError, "Invalid type for parameter ArchiveName, value: 7"),
    ({"event_pattern": {"source": "shop"}}, InvalidEventPatternError, "Event pattern is not valid. Reason: "),
    ({"event_pattern": "{nope"}, InvalidEventPatternError, "Event pattern is not valid. Reason: "),
    ({"event_pattern": 5}, ValidationError, "Invalid type for parameter EventPattern, value: 5"),
    ({"event_pattern": {"source": ["x" * 4100]}}, ValidationError,
     "at 'EventPattern' failed to satisfy constraint: Member must have length less than or equal to 4096"),
    ({"retention_days": -1}, ValidationError, "Value '-1' at 'RetentionDays' failed to satisfy constraint: Member "
                                              "must have value greater than or equal to 0"),
    ({"retention_days": 1.5}, ValidationError, "Invalid type for parameter RetentionDays, value: 1.5"),
    ({"retention_days": True}, ValidationError, "Invalid type for parameter RetentionDays, value: True"),
    ({"retention_days": 2**31}, ValidationError, "Member must have value less than or equal to 2147483647"),
    ({"event_pattern": json.dumps({"source": ["x" * 4100]})}, ValidationError,
     "at 'EventPattern' failed to satisfy constraint: Member must have length less than or equal to 4096"),
    ({"description": "d" * 513}, ValidationError, "Member must have length less than or equal to 512"),
    ({"description": 3}, ValidationError, "Invalid type for parameter Description, value: 3"),
])
def test_create_archive_refuses_bad_input_in_aws_words(kwargs: dict[str, Any], error: type[Exception],
                                                        text: str) -> None:
    clock, bus, _ = setup()
    args = {"name": "orders", **kwargs}
    with pytest.raises(error) as raised:
        bus.create_archive(args.pop("name"), **args)
    assert text in str(raised.value)
    assert bus.list_archives() == []


@on_every_store
def test_an_archive_name_is_taken_until_deleted() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders")
    with pytest.raises(ResourceAlreadyExistsError, match=r"^Archive orders already exists\.$") as raised:
        bus.create_archive("orders", retention_days=3)
    assert isinstance(raised.value, ConflictError)
    assert bus.describe_archive("orders").retention_days == 0


@on_every_store
def test_archive_lookups_name_what_is_missing() -> None:
    clock, bus, _ = setup()
    for call in (bus.describe_archive, bus.delete_archive, lambda name: bus.update_archive(name, retention_days=1)):
        with pytest.raises(ResourceNotFoundError, match=r"^Archive nope does not exist\.$"):
            call("nope")
    with pytest.raises(ValidationError, match="At most one filter is allowed for ListArchives"):
        bus.list_archives(name_prefix="a", state="ENABLED")
    with pytest.raises(ValidationError, match=r"Value 'ON' at 'state' failed to satisfy constraint: Member must "
                                              r"satisfy enum value set: \[CREATE_FAILED, CREATING, DISABLED"):
        bus.list_archives(state="ON")


@on_every_store
def test_a_bad_update_changes_nothing() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders", event_pattern={"source": ["shop"]}, retention_days=2)
    with pytest.raises(InvalidEventPatternError):
        bus.update_archive("orders", event_pattern={"source": "shop"}, retention_days=5)
    with pytest.raises(ValidationError):
        bus.update_archive("orders", retention_days=-5)
    assert bus.describe_archive("orders").retention_days == 2
    put(bus, 1)
    assert bus.describe_archive("orders").event_count == 1


# -- replay ----------------------------------------------------------------------------
@on_every_store
def test_a_replay_resends_the_window_in_event_time_order_with_replay_name() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    # put out of event-time order: Time set by the producer
    for minute in (30, 5, 50, 5, 70, 0):
        put(bus, 1, time=T0 + timedelta(minutes=minute), first=minute)
    clock.run_until_idle()
    live = list(got)
    got.clear()
    replay = bus.start_replay("again", "orders", start_time=T0 + timedelta(minutes=5),
                              end_time=T0 + timedelta(minutes=50))
    assert replay.state == "STARTING"
    assert got == []  # nothing runs inline
    clock.run_until_idle()
    assert [event["detail"]["n"] for event in got] == [5, 5, 30]
    assert all(event["replay-name"] == "again" for event in got)
    originals = {event["id"]: event for event in live}
    for event in got:  # the original event, with replay-name on top
        assert {key: value for key, value in event.items() if key != "replay-name"} == originals[event["id"]]
    done = bus.describe_replay("again")
    assert done.state == "COMPLETED"
    assert done.event_last_replayed_time == T0 + timedelta(minutes=30)
    assert done.events_replayed == 3
    assert bus.describe_archive("orders").event_count == 6  # replayed events are not archived again


@on_every_store
def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    for second in (0, 59, 60):
        put(bus, 1, time=T0 + timedelta(seconds=second), first=second)
    clock.run_until_idle()
    got.clear()
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(seconds=60))
    clock.run_until_idle()
    assert [event["detail"]["n"] for event in got] == [0, 59]


@on_every_store
def test_a_replay_goes_to_the_listed_rules_only_and_rules_see_replay_name() -> None:
    clock, bus, got = setup()
    live_only: list[dict[str, Any]] = []
    replays_only: list[dict[str, Any]] = []
    bus.put_rule("live", event_pattern={"source": ["shop"], "replay-name": [{"exists": False}]})
    bus.put_targets("live", [Target(live_only.append, target_id="t")])
    bus.put_rule("replays", event_pattern={"replay-name": [{"exists": True}]})
    bus.put_targets("replays", [Target(replays_only.append, target_id="t")])
    bus.create_archive("orders")
    put(bus, 2)
    clock.run_until_idle()
    assert (len(got), len(live_only), len(replays_only)) == (2, 2, 0)
    bus.start_replay("to-some", f"{ARN}:archive/orders", start_time=T0, end_time=T0 + timedelta(hours=1),
                     rules=["replays", f"{ARN}:rule/live"])
    clock.run_until_idle()
    assert (len(got), len(live_only), len(replays_only)) == (2, 2, 2)  # not to "all"; "live" refuses replays
    assert bus.describe_replay("to-some").as_aws()["Destination"] == {
        "Arn": f"{ARN}:event-bus/default", "FilterArns": [f"{ARN}:rule/replays", f"{ARN}:rule/live"]}
    bus.start_replay("to-all", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    assert (len(got), len(live_only), len(replays_only)) == (4, 2, 4)
    journey = bus.journeys()[-1]
    assert journey.rules == ("all", "replays")


@on_every_store
def test_describe_replay_has_aws_shape() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders")
    put(bus, 1)
    clock.advance(600)
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1), description="again")
    assert bus.describe_replay("r").as_aws() == {
        "ReplayName": "r", "ReplayArn": f"{ARN}:replay/r", "Description": "again", "State": "STARTING",
        "EventSourceArn": f"{ARN}:archive/orders", "Destination": {"Arn": f"{ARN}:event-bus/default"},
        "EventStartTime": T0, "EventEndTime": T0 + timedelta(hours=1), "ReplayStartTime": T0 + timedelta(minutes=10)}
    clock.advance(5)
    shape = bus.describe_replay("r").as_aws()
    assert (shape["State"], shape["EventLastReplayedTime"], shape["ReplayEndTime"]) == (
        "COMPLETED", T0, T0 + timedelta(minutes=10))


@on_every_store
def test_a_long_replay_runs_a_page_per_timer_and_can_be_cancelled_between_pages() -> None:
    clock, bus, got = setup(kept_as="archive_store")  # (the cancel comes from a target, as the page is routed)
    bus.create_archive("orders")
    for i in range(1000):
        put(bus, 1, time=T0 + timedelta(seconds=i), first=i)
    clock.run_until_idle()
    got.clear()
    states: list[str] = []

    def watch(event: dict[str, Any]) -> None:
        states.append(bus.describe_replay("long").state)
        if len(states) == 300:
            assert bus.cancel_replay("long").state == "CANCELLING"

    bus.put_rule("watch", event_pattern={"replay-name": ["long"]})
    bus.put_targets("watch", [Target(watch, target_id="w")])
    bus.start_replay("long", "orders", start_time=T0, end_time=T0 + timedelta(days=1))
    clock.run_until_idle()
    replay = bus.describe_replay("long")
    assert replay.state == "CANCELLED"
    assert states[0] == "RUNNING"
    assert states[-1] == "CANCELLING"
    assert len(got) == 512  # two pages of 256: the second was under way when the cancel came
    assert [event["detail"]["n"] for event in got] == list(range(512))
    assert replay.event_last_replayed_time == T0 + timedelta(seconds=511)
    with pytest.raises(IllegalStatusError, match=r"^Replay long is not in a valid state for this operation\.$"):
        bus.cancel_replay("long")


@on_every_store
def test_a_replay_cancelled_before_it_starts_replays_nothing() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    put(bus, 3)
    clock.run_until_idle()
    got.clear()
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    assert bus.cancel_replay("r").state == "CANCELLING"
    assert [r.name for r in bus.list_replays(state="CANCELLING")] == ["r"]
    clock.run_until_idle()
    assert got == []
    assert bus.describe_replay("r").state == "CANCELLED"
    with pytest.raises(IllegalStatusError):
        bus.cancel_replay("r")


@on_every_store
def test_a_replay_whose_archive_is_deleted_fails_with_a_reason() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    put(bus, 3)
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    bus.delete_archive("orders")
    clock.run_until_idle()
    replay = bus.describe_replay("r")
    assert (replay.state, replay.state_reason) == ("FAILED", "Archive orders was deleted during the replay.")


@on_every_store
def test_a_replay_on_a_clock_shut_down_fails_and_a_closed_clock_refuses_new_ones() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    put(bus, 3)
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.shutdown(drain=False)
    replay = bus.describe_replay("r")
    assert (replay.state, replay.state_reason) == ("FAILED", "The replay stopped: the clock was shut down.")
    with pytest.raises(ClockClosedError):
        bus.start_replay("r2", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))


@on_every_store
def test_at_most_ten_replays_run_at_once() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders")
    for k in range(10):
        bus.start_replay(f"r{k}", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    with pytest.raises(LimitExceededError, match="exceeds the maximum number allowed"):
        bus.start_replay("r10", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    bus.start_replay("r10", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))  # the others ended
    assert len(bus.list_replays(state="COMPLETED")) == 10
    assert [r.name for r in bus.list_replays(name_prefix="r1")] == ["r1", "r10"]


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"name": "a" * 65}, ValidationError, "at 'ReplayName' failed to satisfy constraint: Member must have length "
                                          "less than or equal to 64"),
    ({"archive": "nope"}, ValidationError, "Parameter EventSourceArn is not valid. Reason: Archive nope does not "
                                           "exist."),
    ({"archive": f"{ARN}:archive/nope"}, ValidationError, "Reason: Archive nope does not exist."),
    ({"end_time": T0}, ValidationError, "Parameter EventEndTime is not valid. Reason: EventStartTime must be "
                                        "before EventEndTime."),
    ({"start_time": "2026-01-01"}, ValidationError, "Invalid type for parameter EventStartTime"),
    ({"rules": ["missing"]}, ValidationError, "Parameter Destination.FilterArns is not valid. Reason: Rule missing "
                                              "does not exist on EventBus default."),
    ({"rules": [f"{ARN}:rule/other-bus/all"]}, ValidationError, "Parameter Destination.FilterArns is not valid."),
    ({"rules": "all"}, ValidationError, "Invalid type for parameter FilterArns, value: all"),
    ({"rules": []}, ValidationError, "Parameter Destination.FilterArns is not valid. Reason: it lists no rule"),
    ({"start_time": datetime.min.replace(tzinfo=timezone(timedelta(hours=14)))}, ValidationError,
     "Parameter EventStartTime is not valid. Reason: 0001-01-01 00:00:00+14:00 is out of range."),
    ({"description": "d" * 513}, ValidationError, "Member must have length less than or equal to 512"),
])
@on_every_store
def test_start_replay_refuses_bad_input_in_aws_words(kwargs: dict[str, Any], error: type[Exception],
                                                      text: str) -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders")
    args: dict[str, Any] = {"name": "r", "archive": "orders", "start_time": T0,
                            "end_time": T0 + timedelta(hours=1), **kwargs}
    with pytest.raises(error) as raised:
        bus.start_replay(args.pop("name"), args.pop("archive"), **args)
    assert text in str(raised.value)
    assert bus.list_replays() == []


@on_every_store
def test_replay_names_are_taken_and_lookups_name_what_is_missing() -> None:
    clock, bus, _ = setup()
    bus.create_archive("orders")
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    with pytest.raises(ResourceAlreadyExistsError, match=r"^Replay r already exists\.$"):
        bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    for call in (bus.describe_replay, bus.cancel_replay):
        with pytest.raises(ResourceNotFoundError, match=r"^Replay nope does not exist\.$"):
            call("nope")
    with pytest.raises(ValidationError, match="At most one filter is allowed for ListReplays"):
        bus.list_replays(name_prefix="r", state="RUNNING")
    with pytest.raises(ValidationError, match=r"Member must satisfy enum value set: \[CANCELLED, CANCELLING, "
                                              r"COMPLETED, FAILED, RUNNING, STARTING\]"):
        bus.list_replays(state="DONE")


@on_every_store
def test_naive_window_times_are_utc() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    put(bus, 1)
    clock.run_until_idle()
    got.clear()
    bus.start_replay("r", "orders", start_time=T0.replace(tzinfo=None),
                     end_time=(T0 + timedelta(seconds=1)).replace(tzinfo=None))
    clock.run_until_idle()
    assert len(got) == 1


# -- retention -------------------------------------------------------------------------
@on_every_store
def test_retention_counts_from_ingestion_on_the_bus_clock() -> None:
    clock, bus, got = setup()
    bus.create_archive("week", retention_days=7)
    bus.create_archive("forever")
    old = T0 - timedelta(days=30)
    put(bus, 2, time=old)  # an old event time does not shorten its stay
    clock.advance(timedelta(days=6))
    put(bus, 3, first=2)
    assert bus.describe_archive("week").event_count == 5
    clock.advance(timedelta(days=1))
    assert bus.describe_archive("week").event_count == 3
    assert bus.describe_archive("forever").event_count == 5
    got.clear()
    bus.start_replay("r", "week", start_time=old, end_time=clock.now())
    clock.run_until_idle()
    assert sorted(event["detail"]["n"] for event in got) == [2, 3, 4]


def test_an_archive_with_a_retention_stays_bounded_as_events_arrive() -> None:
    clock = ManualClock(T0)
    store = MemoryArchiveStore()
    bus2 = EventBus("kept", clock=clock, archive_store=store, journey_retention=0)
    bus2.create_archive("day", retention_days=1)
    arn = f"{ARN}:archive/day"
    for _ in range(48 * 6):  # two days, an event every ten minutes
        put(bus2, 1)
        clock.advance(600)
        assert store.stats(arn)[0] <= 24 * 6 + 1 + 1  # a day's events, plus at most a minute's lag
    # put at 600 s * k, now 2 days: kept while younger than a day
    assert bus2.describe_archive("day").event_count == sum(600 * k > 2 * 86400 - 86400 for k in range(48 * 6)) == 143


@on_every_store
def test_an_expired_event_is_never_replayed_even_before_the_sweep() -> None:
    clock, bus, got = setup()
    bus.create_archive("day", retention_days=1)
    put(bus, 1)
    clock.advance(timedelta(days=1, seconds=30))
    put(bus, 1, first=1)  # within a minute of the last sweep: no sweep yet
    clock.run_until_idle()
    got.clear()
    bus.start_replay("r", "day", start_time=T0, end_time=clock.now() + timedelta(seconds=1))
    clock.run_until_idle()
    assert [event["detail"]["n"] for event in got] == [1]


# -- the file store ------------------------------------------------------------------------
def test_a_bus_on_a_sqlite_store_finds_its_archives_again(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with SqliteArchiveStore(tmp_path / "a.db") as store:
        bus = EventBus(clock=clock, archive_store=store)
        bus.create_archive("orders", event_pattern={"source": ["shop"]}, retention_days=3, description="d")
        put(bus, 4)
        put(bus, 1, source="other")
    with SqliteArchiveStore(tmp_path / "a.db") as store:
        got: list[dict[str, Any]] = []
        bus = EventBus(clock=clock, archive_store=store)
        again = bus.describe_archive("orders")
        assert (again.event_count, again.retention_days, again.description, again.creation_time) == (4, 3, "d", T0)
        other = EventBus("other", clock=clock, archive_store=store)
        assert other.list_archives() == []  # the archive belongs to the default bus
        with pytest.raises(ResourceAlreadyExistsError):  # archive names are per account and region, as in AWS
            other.create_archive("orders")
        bus.put_rule("r", event_pattern={"source": ["shop"]})
        bus.put_targets("r", [Target(got.append, target_id="t")])
        bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
        clock.run_until_idle()
        assert sorted(event["detail"]["n"] for event in got) == [0, 1, 2, 3]


def test_a_bus_refuses_an_archive_store_that_is_not_one() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter archive_store"):
        EventBus(archive_store="file.db")  # type: ignore[arg-type]


# -- what the review found ----------------------------------------------------------------
class FailingStore(MemoryArchiveStore):
    def __init__(self) -> None:
        super().__init__()
        self.failing = ""

    def append(self, records: Any) -> None:
        if self.failing == "append":
            raise OSError("disk full")
        super().append(records)

    def drop_archive(self, archive: str) -> None:
        if self.failing == "drop":
            raise OSError("disk gone")
        super().drop_archive(archive)

    def expire(self, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        if self.failing == "expire":
            raise OSError("expire was called")
        return super().expire(archive, ingested_before, limit=limit)

    def read(self, archive: str, start: int, end: int, **kwargs: Any) -> Any:
        if self.failing == "read":
            raise OSError("disk gone")
        return super().read(archive, start, end, **kwargs)


def test_a_store_that_fails_loses_the_archive_copy_loudly_never_the_delivery(
        caplog: pytest.LogCaptureFixture) -> None:
    store = FailingStore()
    clock, bus, got = setup(archive_store=store)
    bus.create_archive("orders")
    store.failing = "append"
    result = bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": "{}"}] * 2)
    assert result["FailedEntryCount"] == 0
    clock.run_until_idle()
    assert len(got) == 2
    archive = bus.describe_archive("orders")
    assert (archive.event_count, archive.state_reason) == (0, "2 events could not be archived: OSError: disk full")
    assert archive.as_aws()["StateReason"] == archive.state_reason
    assert "archive orders could not keep 2 events: OSError: disk full" in caplog.text


def test_a_replay_whose_store_fails_ends_failed_with_the_reason() -> None:
    store = FailingStore()
    clock, bus, got = setup(archive_store=store)
    bus.create_archive("orders", retention_days=1)
    put(bus, 3)
    store.failing = "read"
    bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    replay = bus.describe_replay("r")
    assert (replay.state, replay.state_reason) == ("FAILED", "The replay stopped: OSError: disk gone")
    bus.start_replay("r2", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))  # (it holds no slot)


def test_text_that_is_not_valid_unicode_is_archived_as_the_same_json_value(tmp_path: Path) -> None:
    with SqliteArchiveStore(tmp_path / "a.db") as store:
        clock, bus, got = setup(archive_store=store)
        bus.create_archive("orders")
        detail = '{"s": "\\ud800 and \\u00e9"}'
        assert bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": detail}])["FailedEntryCount"] == 0
        assert bus.describe_archive("orders").event_count == 1
        clock.run_until_idle()
        got.clear()
        bus.start_replay("r", "orders", start_time=T0, end_time=T0 + timedelta(hours=1))
        clock.run_until_idle()
        assert got[0]["detail"] == {"s": "\ud800 and \u00e9"}


def test_a_replay_replays_what_was_archived_when_it_started_so_it_always_ends() -> None:
    clock = ManualClock(T0 + timedelta(milliseconds=500))
    bus = EventBus(clock=clock)
    bus.create_archive("all")

    def fix(event: dict[str, Any]) -> None:  # publishes a corrected copy of each replayed event, in the window
        if "replay-name" in event:
            bus.publish(source="shop", detail_type="fixed", detail=event["detail"])

    bus.put_rule("fixer", event_pattern={"source": ["shop"]})
    bus.put_targets("fixer", [Target(fix, target_id="f")])
    put(bus, 300)
    clock.run_until_idle()
    bus.start_replay("repair", "all", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    replay = bus.describe_replay("repair")
    assert (replay.state, replay.events_replayed) == ("COMPLETED", 300)
    assert bus.describe_archive("all").event_count == 600


@on_every_store
def test_window_bounds_finer_than_a_millisecond_keep_their_meaning() -> None:
    clock, bus, got = setup()
    bus.create_archive("orders")
    put(bus, 1)  # at T0 exactly
    clock.run_until_idle()
    got.clear()
    half = timedelta(microseconds=500)
    bus.start_replay("after", "orders", start_time=T0 + half, end_time=T0 + timedelta(hours=1))
    bus.start_replay("before", "orders", start_time=T0 - timedelta(hours=1), end_time=T0 + half)
    bus.start_replay("until", "orders", start_time=T0 - timedelta(hours=1), end_time=T0)
    clock.run_until_idle()
    assert [event["replay-name"] for event in got] == ["before"]


def test_listed_rules_are_kept_once_and_a_cross_bus_replay_is_refused_in_aws_words() -> None:
    clock = ManualClock(T0)
    store = MemoryArchiveStore()
    one, two = EventBus("one", clock=clock, archive_store=store), EventBus("two", clock=clock, archive_store=store)
    one.put_rule("r", event_pattern={"source": ["shop"]})
    one.create_archive("a1")
    replay = one.start_replay("x", "a1", start_time=T0, end_time=T0 + timedelta(hours=1),
                              rules=["r", "r", f"{ARN}:rule/one/r"])
    assert replay.filter_arns == (f"{ARN}:rule/one/r",)
    with pytest.raises(ValidationError, match=r"^Parameter Destination.Arn is not valid. Reason: Cross event bus "
                                              r"replay is not permitted.$"):
        two.start_replay("y", "a1", start_time=T0, end_time=T0 + timedelta(hours=1))


@on_every_store
def test_updating_a_missing_archive_says_it_is_missing_before_judging_the_pattern() -> None:
    clock, bus, _ = setup()
    with pytest.raises(ResourceNotFoundError, match=r"^Archive nope does not exist\.$"):
        bus.update_archive("nope", event_pattern="{")


def test_a_class_is_not_an_archive_store() -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter archive_store"):
        EventBus(archive_store=MemoryArchiveStore)  # type: ignore[arg-type]


@pytest.mark.slow_under_mutmut
def test_events_put_while_archives_change_are_archived_once_each() -> None:
    written: list[tuple[str, str]] = []

    class Recording(MemoryArchiveStore):
        def append(self, records: Any) -> None:
            written.extend((arn, text) for arn, _, _, text in records)
            super().append(records)

    clock = ManualClock(T0)
    bus = EventBus(clock=clock, journey_retention=0, archive_store=Recording())
    bus.create_archive("orders", event_pattern={"source": ["shop"]})
    stop = threading.Event()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def churn() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            bus.update_archive("orders", description=f"v{k}")  # same pattern: never missing
            bus.create_archive("flip")  # no pattern, then one: never counted twice
            bus.update_archive("flip", event_pattern={"source": ["shop"]})
            bus.delete_archive("flip")

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for n in range(3000):
            bus.publish(source="shop", detail_type="order", detail={"n": n})
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert bus.describe_archive("orders").event_count == 3000
    texts = [text for _, _, text in bus._archives.store.read(f"{ARN}:archive/orders", 0, 2**62, limit=10_000)]
    assert len(set(texts)) == 3000
    assert len(written) == len(set(written))  # no event went to one archive twice ("flip" included)
    assert sum(arn.endswith("/flip") for arn, _ in written) > 0


def test_a_large_backlog_of_expired_events_is_deleted_a_batch_per_call(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import eventbus._bus._archives as archives_module

    monkeypatch.setattr(archives_module, "SWEEP_BATCH", 10)
    with SqliteArchiveStore(tmp_path / "a.db") as store:
        clock, bus, got = setup(archive_store=store)
        bus.create_archive("day", retention_days=1)
        put(bus, 25)
        clock.advance(timedelta(days=2))
        assert [bus.describe_archive("day").event_count for _ in range(4)] == [15, 5, 0, 0]


def test_a_replay_never_deletes_expired_events_itself() -> None:
    store = FailingStore()
    clock, bus, got = setup(archive_store=store)
    bus.create_archive("day", retention_days=1)
    put(bus, 2)
    store.failing = "expire"  # (a replay that swept would fail)
    bus.start_replay("r", "day", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    assert bus.describe_replay("r").state == "COMPLETED"


def test_a_delete_the_store_refuses_leaves_the_archive_as_it_was() -> None:
    store = FailingStore()
    clock, bus, _ = setup(archive_store=store)
    bus.create_archive("orders")
    store.failing = "drop"
    with pytest.raises(OSError, match="disk gone"):
        bus.delete_archive("orders")
    store.failing = ""
    put(bus, 1)
    assert bus.describe_archive("orders").event_count == 1  # still there, still archiving
    bus.delete_archive("orders")
    assert store.archives() == []


@on_every_store
def test_what_a_put_events_call_routed_is_archived_even_if_a_later_entry_raises(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock, bus, got = setup()  # (with a work store: the deliveries routed before the raise are kept too)
    bus.create_archive("orders")
    route = bus._route
    calls = []

    def route_then_fail(event: dict[str, Any], hops: int, **kwargs: Any) -> str:
        calls.append(event["id"])
        if len(calls) == 2:
            raise RuntimeError("a bug downstream")
        return route(event, hops, **kwargs)

    monkeypatch.setattr(bus, "_route", route_then_fail)
    with pytest.raises(RuntimeError, match="a bug downstream"):  # (not an UnboundLocalError of put_events)
        bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": "{}"}] * 3)
    assert bus.describe_archive("orders").event_count == 1
    clock.advance(0)
    assert [event["id"] for event in got] == calls[:1]  # the routed event is delivered


def test_a_large_sqlite_archive_is_dropped_in_batches(tmp_path: Path) -> None:
    with SqliteArchiveStore(tmp_path / "a.db") as store:
        store.save_archive("big", "bus", {})
        store.save_archive("other", "bus", {})
        store.append([("big", k, k, "{}") for k in range(25_000)] + [("other", 1, 1, "{}")])
        store.drop_archive("big")
        assert store._db.execute("SELECT count(*) FROM events").fetchone() == (1,)
        assert store.stats("other") == (1, 2)
