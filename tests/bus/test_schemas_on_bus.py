"""Schema discovery and contract checks on a bus: ``start_discovery`` and ``validate_events``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft4Validator

from eventbus import EventBus, ManualClock, Queue, ResourceNotFoundError, SchemaRegistry, Target, ValidationError

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
CONTRACT = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "object", "required": ["id", "total"],
                              "properties": {"id": {"type": "string"}, "total": {"type": "number"}}}},
}


def setup() -> tuple[ManualClock, EventBus, SchemaRegistry, list[dict[str, Any]]]:
    clock = ManualClock(T0)
    bus = EventBus(clock=clock)
    got: list[dict[str, Any]] = []
    bus.put_rule("all", event_pattern={"source": [{"prefix": ""}]})
    bus.put_targets("all", [Target(got.append, target_id="got")])
    return clock, bus, SchemaRegistry(clock=clock), got


def entry(detail: dict[str, Any], *, source: str = "shop", detail_type: str = "Order Placed") -> Any:
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


# -- discovery ---------------------------------------------------------------------------
def test_discovery_writes_a_schema_per_source_and_detail_type_that_validates_what_it_saw() -> None:
    clock, bus, schemas, got = setup()
    bus.start_discovery(schemas)
    bus.put_events([entry({"id": "a", "total": 3}), entry({"id": "b", "total": 2.5, "coupon": "X"}),
                    entry({"reason": "late"}, detail_type="Order Cancelled")])
    clock.run_until_idle()
    assert [s.schema_name for s in schemas.list_schemas("discovered-schemas")] == [
        "shop@OrderCancelled", "shop@OrderPlaced"]
    placed = schemas.describe_schema("discovered-schemas", "shop@OrderPlaced")
    assert placed.type == "JSONSchemaDraft4"
    content = json.loads(placed.content)
    validator = Draft4Validator(content)
    for event in got:
        if event["detail-type"] == "Order Placed":
            assert validator.is_valid(event)
    detail = content["definitions"]["OrderPlaced"]
    assert detail["required"] == ["id", "total"]  # coupon came later: optional
    assert detail["properties"]["total"]["type"] == "number"  # 3, then 2.5: widened
    assert (content["x-amazon-events-source"], content["x-amazon-events-detail-type"]) == ("shop", "Order Placed")


def test_a_new_version_only_when_later_events_change_the_schema() -> None:
    clock, bus, schemas, _ = setup()
    bus.start_discovery(schemas)
    for n in range(5):
        bus.put_events([entry({"id": str(n), "total": n})])
    versions = schemas.list_schema_versions("discovered-schemas", "shop@OrderPlaced")
    assert [v.schema_version for v in versions] == ["1"]
    bus.put_events([entry({"id": "x", "total": 1, "note": "new field"})])
    bus.put_events([entry({"id": "y", "total": 1, "note": "again"})])
    assert [v.schema_version for v in schemas.list_schema_versions("discovered-schemas", "shop@OrderPlaced")] == [
        "1", "2"]


def test_discovery_sees_routed_events_but_not_replays_scheduled_events_or_failed_entries() -> None:
    clock, bus, schemas, got = setup()
    upstream = EventBus("up", clock=clock)
    upstream.put_rule("on", event_pattern={"source": ["far"]})
    upstream.put_targets("on", [Target(bus, target_id="down")])
    bus.create_archive("all")
    bus.put_rule("tick", schedule_expression="rate(1 minute)")
    bus.put_targets("tick", [Target(got.append, target_id="t")])
    bus.start_discovery(schemas)
    upstream.put_events([entry({"k": 1}, source="far")])
    bus.put_events([{"Source": "shop", "DetailType": "Broken", "Detail": "[1]"}])
    bus.put_events([entry({"id": "a", "total": 1})])
    clock.advance(60)
    bus.start_replay("r", "all", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    assert [s.schema_name for s in schemas.list_schemas("discovered-schemas")] == ["far@OrderPlaced",
                                                                                   "shop@OrderPlaced"]
    content = json.loads(schemas.describe_schema("discovered-schemas", "shop@OrderPlaced").content)
    assert "replay-name" not in content["properties"]


def test_stop_discovery_keeps_what_was_found() -> None:
    clock, bus, schemas, _ = setup()
    bus.start_discovery(schemas)
    bus.put_events([entry({"id": "a", "total": 1})])
    bus.stop_discovery()
    bus.put_events([entry({"other": True}, detail_type="Later")])
    assert [s.schema_name for s in schemas.list_schemas("discovered-schemas")] == ["shop@OrderPlaced"]


# -- contract checks ----------------------------------------------------------------------
def contracts(schemas: SchemaRegistry) -> None:
    schemas.create_registry("contracts")
    schemas.create_schema("contracts", "shop@OrderPlaced", CONTRACT, "JSONSchemaDraft4")


def test_reject_fails_a_violating_entry_and_lets_the_others_through() -> None:
    clock, bus, schemas, got = setup()
    contracts(schemas)
    bus.validate_events(schemas, "contracts", mode="reject")
    result = bus.put_events([entry({"id": "a", "total": 3}), entry({"id": 7, "total": 3}),
                             entry({"anything": 1}, detail_type="No Schema")])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][1] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Event does not match schema shop@OrderPlaced version 1 in registry contracts: at "
                        "$.detail.id: 7 is not of type 'string'"}
    assert "EventId" in result["Entries"][0] and "EventId" in result["Entries"][2]
    clock.run_until_idle()
    assert [event["detail"] for event in got] == [{"id": "a", "total": 3}, {"anything": 1}]
    assert bus.metrics()["FailedEntries"] == 1
    with pytest.raises(ValidationError, match="Event does not match schema shop@OrderPlaced version 1 in registry "
                                              r"contracts: at \$.detail: 'total' is a required property"):
        bus.publish(source="shop", detail_type="Order Placed", detail={"id": "b"})


def test_report_accepts_the_entry_and_records_the_violation_in_its_journey() -> None:
    clock, bus, schemas, got = setup()
    contracts(schemas)
    bus.validate_events(schemas, "contracts")
    good = bus.publish(source="shop", detail_type="Order Placed", detail={"id": "a", "total": 1})
    bad = bus.publish(source="shop", detail_type="Order Placed", detail={"id": "a"})
    clock.run_until_idle()
    assert len(got) == 2
    assert bus.journey(good).violations == ()
    assert bus.journey(bad).violations == (
        "Event does not match schema shop@OrderPlaced version 1 in registry contracts: at $.detail: 'total' is a "
        "required property",)
    assert "  schema: Event does not match schema shop@OrderPlaced" in bus.journey(bad).describe()


def test_checks_follow_the_latest_version_and_stop_when_asked() -> None:
    clock, bus, schemas, got = setup()
    contracts(schemas)
    bus.validate_events(schemas, "contracts", mode="reject")
    assert bus.put_events([entry({"id": "a"})])["FailedEntryCount"] == 1
    loose = {**CONTRACT, "properties": {"detail": {"type": "object", "required": ["id"]}}}
    schemas.update_schema("contracts", "shop@OrderPlaced", content=loose)
    assert bus.put_events([entry({"id": "a"})])["FailedEntryCount"] == 0
    bus.validate_events(None)
    assert bus.put_events([entry({})])["FailedEntryCount"] == 0


def test_a_producer_that_drifts_from_its_discovered_contract_is_caught() -> None:
    clock, bus, schemas, _ = setup()
    bus.start_discovery(schemas)
    bus.put_events([entry({"id": "a", "total": 1, "lines": [{"sku": "x", "qty": 1}]})])
    bus.stop_discovery()
    bus.validate_events(schemas, "discovered-schemas", mode="reject")
    drifted = bus.put_events([entry({"id": "a", "total": "1", "lines": [{"sku": "x", "qty": 1}]}),
                              entry({"id": "b", "total": 2, "lines": [{"sku": "y"}]})])
    assert [e.get("ErrorMessage", "") for e in drifted["Entries"]] == [
        "Event does not match schema shop@OrderPlaced version 1 in registry discovered-schemas: at "
        "$.detail.total: \"1\" is not of type 'integer'",
        "Event does not match schema shop@OrderPlaced version 1 in registry discovered-schemas: at "
        "$.detail.lines[0]: 'qty' is a required property"]


@pytest.mark.parametrize(("call", "error", "text"), [
    (lambda bus, schemas: bus.start_discovery("schemas"), ValidationError,
     "Invalid type for parameter schemas, value: schemas"),
    (lambda bus, schemas: bus.validate_events(object(), "contracts"), ValidationError,
     "Invalid type for parameter schemas"),
    (lambda bus, schemas: bus.validate_events(schemas, "contracts", mode="strict"), ValidationError,
     "mode must be 'report' or 'reject', not 'strict'"),
    (lambda bus, schemas: bus.validate_events(schemas, None), ValidationError,
     "Invalid type for parameter registry_name, value: None"),
    (lambda bus, schemas: bus.validate_events(schemas, "nope"), ResourceNotFoundError, "nope"),
])
def test_schema_settings_are_checked_when_given(call: Any, error: type[Exception], text: str) -> None:
    clock, bus, schemas, _ = setup()
    with pytest.raises(error) as raised:
        call(bus, schemas)
    assert text in str(raised.value)
    assert bus.put_events([entry({})])["FailedEntryCount"] == 0  # nothing was turned on


def forwarding() -> tuple[ManualClock, SchemaRegistry, EventBus, EventBus, list[dict[str, Any]], Queue]:
    """A producer bus whose rule forwards shop events to a consumer bus (with a
    dead-letter queue), the consumer's rule collecting them, and the contracts."""
    clock = ManualClock(T0)
    schemas = SchemaRegistry(clock=clock)
    contracts(schemas)
    producer, consumer = EventBus("producer", clock=clock), EventBus("consumer", clock=clock)
    got: list[dict[str, Any]] = []
    consumer.put_rule("all", event_pattern={"source": ["shop"]})
    consumer.put_targets("all", [Target(got.append, target_id="t")])
    dlq = Queue("dlq", clock=clock)
    producer.put_rule("fwd", event_pattern={"source": ["shop"]})
    producer.put_targets("fwd", [Target(consumer, target_id="consumer", dead_letter_queue=dlq)])
    return clock, schemas, producer, consumer, got, dlq


def test_events_routed_from_another_bus_are_checked_too() -> None:
    clock, schemas, producer, consumer, got, dlq = forwarding()
    consumer.validate_events(schemas, "contracts", mode="reject")
    producer.put_events([entry({"id": "a", "total": 1}), entry({"id": "b"})])
    clock.run_until_idle()
    assert [event["detail"]["id"] for event in got] == ["a"]
    message = dlq.receive()[0]
    assert message.attributes["ERROR_CODE"] == "SCHEMA_VIOLATION"
    assert message.attributes["ERROR_MESSAGE"].startswith("Event does not match schema shop@OrderPlaced")
    assert message.attributes["RETRY_ATTEMPTS"] == "0"
    consumer.validate_events(schemas, "contracts", mode="report")
    producer.put_events([entry({"id": "c"})])
    clock.run_until_idle()
    assert [event["detail"]["id"] for event in got] == ["a", "c"]
    assert consumer.journeys()[-1].violations[0].endswith("at $.detail: 'total' is a required property")


def test_stopping_the_checks_takes_no_registry() -> None:
    clock, bus, schemas, _ = setup()
    with pytest.raises(ValidationError, match=r"validate_events\(None\) stops the checks"):
        bus.validate_events(None, "contracts")


def test_replayed_events_are_checked_like_any_other() -> None:
    clock, bus, schemas, got = setup()
    bus.create_archive("all")
    bus.put_events([entry({"id": "a", "total": 1}), entry({"id": "b"}), entry({"id": "c"})])
    clock.run_until_idle()
    contracts(schemas)  # the contract comes after the events were put
    bus.validate_events(schemas, "contracts", mode="reject")
    got.clear()
    bus.start_replay("r", "all", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    assert [event["detail"]["id"] for event in got] == ["a"]
    replay = bus.describe_replay("r")
    assert (replay.state, replay.state_reason, replay.events_replayed) == (
        "COMPLETED", "2 events broke their schema and were not replayed.", 1)
    bus.validate_events(schemas, "contracts", mode="report")
    bus.start_replay("r2", "all", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    replayed = [journey for journey in bus.journeys() if journey.violations]
    assert len(replayed) == 2
    assert bus.describe_replay("r2").state_reason is None


def test_an_event_replayed_on_another_bus_is_checked_where_it_arrives() -> None:
    clock, schemas, producer, consumer, got, dlq = forwarding()
    producer.create_archive("all")
    producer.put_events([entry({"id": "b"})])
    clock.run_until_idle()
    assert [event["detail"]["id"] for event in got] == ["b"]  # (no checks yet)
    consumer.validate_events(schemas, "contracts", mode="reject")
    producer.start_replay("r", "all", start_time=T0, end_time=T0 + timedelta(hours=1))
    clock.run_until_idle()
    assert len(got) == 1
    assert dlq.receive()[0].attributes["ERROR_CODE"] == "SCHEMA_VIOLATION"
