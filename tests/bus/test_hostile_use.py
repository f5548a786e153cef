"""What a new user's review broke, pinned: races with rule changes, events that
are not JSON, repeated arrivals, counters that must never go down, silent
takeovers, and bad arguments everywhere."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import eventbus
from eventbus import EventBus, ManualClock, Outcome, Queue, RetryPolicy, Target, ValidationError, transform_input


def entry(detail: Any = None, source: str = "shop") -> Any:
    return {"Source": source, "DetailType": "t", "Detail": json.dumps(detail or {})}


def test_put_events_never_fails_because_rules_change_under_it(clock: ManualClock) -> None:
    bus = EventBus(clock=clock)
    bus.put_rule("r1", event_pattern={"source": ["shop"]})
    bus.put_targets("r1", [Target(lambda e: None)])
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            bus.disable_rule("r1")
            bus.enable_rule("r1")
            bus.put_rule("r2", event_pattern={"source": ["shop"]})
            bus.delete_rule("r2")

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(3000):
            assert bus.put_events([entry()])["FailedEntryCount"] == 0
    finally:
        stop.set()
        thread.join()
    clock.run_until_idle()
    metrics = bus.metrics()
    assert metrics["Events"] == 3000 == len(bus.journeys())
    assert metrics["MatchedEvents"] == metrics["TriggeredRules"]


def test_a_detail_number_beyond_a_double_fails_its_entry_only(bus: EventBus, clock: ManualClock) -> None:
    queue = Queue("q")
    bus.put_rule("all", event_pattern={"source": ["shop"]})
    bus.put_targets("all", [Target(queue)])
    response = bus.put_events([entry({"a": 1}), {"Source": "shop", "DetailType": "t", "Detail": '{"a": 1e400}'},
                               entry({"a": 2})])
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    clock.run_until_idle()
    assert len(queue) == 2
    metrics = bus.metrics()
    assert metrics["Events"] == 2 and metrics["MatchedEvents"] == metrics["TriggeredRules"] == 2


@pytest.mark.parametrize("bad", [float("nan"), {1, 2}, b"bytes", float("inf")])
def test_a_whole_event_that_is_not_json_is_refused_before_anything_counts(bus: EventBus, bad: Any) -> None:
    event = eventbus.samples.s3_object_created(bus=bus)
    event["detail"]["bad"] = bad
    bus.put_rule("all", event_pattern={"source": ["aws.s3"]})
    with pytest.raises(ValidationError, match=r"^Parameter Event is not valid\.$"):
        bus.deliver(event)
    assert bus.metrics()["Events"] == 0 and bus.journeys() == []


def test_a_cyclic_or_very_deep_whole_event_is_refused(bus: EventBus) -> None:
    event = eventbus.samples.s3_object_created(bus=bus)
    event["detail"]["self"] = event["detail"]
    with pytest.raises(ValidationError, match=r"^Parameter Event is not valid\.$"):
        bus.deliver(event)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3000):
        node["a"] = {}
        node = node["a"]
    event = eventbus.samples.s3_object_created(bus=bus)
    event["detail"] = deep
    with pytest.raises(ValidationError, match="Parameter Event is not valid"):
        bus.deliver(event)


def test_an_event_that_arrives_twice_has_two_journeys(clock: ManualClock) -> None:
    a, b = EventBus("a", clock=clock), EventBus("b", clock=clock)
    got: list[Any] = []
    for name in ("one", "two"):
        a.put_rule(name, event_pattern={"source": ["shop"]})
        a.put_targets(name, [Target(b, target_id="b")])
    b.put_rule("sink", event_pattern={"source": ["shop"]})
    b.put_targets("sink", [Target(got.append)])
    event_id = a.put_events([entry()])["Entries"][0]["EventId"]
    clock.run_until_idle()
    assert len(got) == 2
    arrivals = b.journeys(event_id=event_id)
    assert len(arrivals) == 2 and arrivals[1] is b.journey(event_id)
    assert all(j.deliveries[0].outcome is Outcome.SUCCEEDED for j in arrivals)
    assert b.metrics()["Events"] == 2


def test_metrics_never_go_down_when_targets_are_replaced_or_rules_deleted(bus: EventBus,
                                                                         clock: ManualClock) -> None:
    def down(event: Any) -> None:
        raise ConnectionError("down")

    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(down, target_id="t", retry_policy=RetryPolicy(maximum_retry_attempts=1))])
    for _ in range(3):
        bus.put_events([entry()])
    bus.put_targets("r", [Target(lambda e: None, target_id="t")])  # replaced while retries are pending
    clock.run_until_idle()
    before = bus.metrics()
    assert (before["Invocations"], before["FailedInvocations"], before["RetryInvocationAttempts"]) == (3, 3, 3)
    assert bus.metrics("r")["FailedInvocations"] == 3
    bus.put_events([entry()])
    clock.run_until_idle()
    bus.remove_targets("r", ["t"])
    bus.delete_rule("r")
    after = bus.metrics()
    assert after["Invocations"] == 4 and after["FailedInvocations"] == 3 and after["MatchedEvents"] == 4
    assert after == bus.metrics()  # (folding away what ended changes nothing)


def test_a_target_moved_to_another_rule_counts_for_each_rule_once(bus: EventBus, clock: ManualClock) -> None:
    target = Target(lambda e: None)
    bus.put_rule("a", event_pattern={"source": ["shop"]})
    bus.put_rule("b", event_pattern={"source": ["shop"]})
    bus.put_targets("a", [target])
    bus.put_events([entry()])
    clock.run_until_idle()
    bus.remove_targets("a", ["target"])
    bus.put_targets("b", [target])
    bus.put_events([entry()])
    bus.put_events([entry()])
    clock.run_until_idle()
    assert bus.metrics("a")["Invocations"] == 1 and bus.metrics("b")["Invocations"] == 2
    assert bus.metrics()["Invocations"] == 3


def test_a_target_with_pending_deliveries_cannot_move(bus: EventBus) -> None:
    target = Target(lambda e: None)
    bus.put_rule("a", event_pattern={"source": ["shop"]})
    bus.put_rule("b", event_pattern={"source": ["shop"]})
    bus.put_targets("a", [target])
    bus.put_events([entry()])
    bus.remove_targets("a", ["target"])
    with pytest.raises(ValidationError, match="still has 1 deliveries pending from rule a of event bus default"):
        bus.put_targets("b", [target])


def test_one_target_on_two_buses_at_once_goes_to_one(clock: ManualClock) -> None:
    for _ in range(200):
        a, b = EventBus("a", clock=clock), EventBus("b", clock=clock)
        a.put_rule("r", event_pattern={"source": ["x"]})
        b.put_rule("r", event_pattern={"source": ["x"]})
        target = Target(lambda e: None)
        errors: list[BaseException] = []

        def put(bus: EventBus, target: Target = target, errors: list[BaseException] = errors) -> None:
            try:
                bus.put_targets("r", [target])
            except ValidationError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=put, args=(bus,)) for bus in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        on = len(a.list_targets_by_rule("r")) + len(b.list_targets_by_rule("r"))
        assert on == 1 and len(errors) == 1 and "already on rule r of event bus" in str(errors[0])


def test_bus_on_refuses_to_take_over_a_rule_and_leaves_nothing_when_it_fails(bus: EventBus) -> None:
    @bus.on({"detail-type": ["order"]}, name="orders")
    def first(event: Any) -> None: ...

    with pytest.raises(ValidationError, match="^Rule orders already exists on EventBus default"):
        @bus.on({"detail-type": ["refund"]}, name="orders")
        def second(event: Any) -> None: ...

    assert bus.describe_rule("orders").event_pattern == '{"detail-type": ["order"]}'
    with pytest.raises(ValidationError):
        bus.on({"source": ["x"]}, name="orphan", retry_policy="x")(lambda e: None)  # type: ignore[arg-type]
    assert [rule.name for rule in bus.list_rules()] == ["orders"]


def test_transform_input_is_what_a_queue_receives_byte_for_byte(bus: EventBus, clock: ManualClock) -> None:
    queues = {name: Queue(name) for name in ("whole", "root")}
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(queues["whole"], target_id="whole"),
                          Target(queues["root"], target_id="root", input_path="$")])
    bus.put_events([entry({"a": [1, "é"]})])
    clock.run_until_idle()
    body = queues["whole"].receive()[0].body
    event = json.loads(body)
    assert transform_input(event) == body == queues["root"].receive()[0].body
    assert transform_input(event, input_path="$") == body


@pytest.mark.parametrize("text", ["NaN", '{"x": Infinity}', "[1e400]", "-Infinity", "[" * 3000 + "]" * 3000])
def test_input_must_be_json_as_aws_reads_it(text: str) -> None:
    with pytest.raises(ValidationError, match="^Input for target t is not valid JSON text"):
        Target(print, target_id="t", input=text)


@pytest.mark.parametrize(("call", "message"), [
    (lambda bus: bus.put_targets("r", None), "Invalid type for parameter Targets"),
    (lambda bus: bus.put_targets("r", Target(print)), "Invalid type for parameter Targets"),
    (lambda bus: bus.remove_targets("r", None), "Invalid type for parameter Ids"),
    (lambda bus: bus.remove_targets("r", "target"), "Invalid type for parameter Ids"),
    (lambda bus: bus.publish(source="s", detail_type="t", resources=None), "Invalid type for parameter resources"),
    (lambda bus: bus.publish(source="s", detail_type="t", resources="arn:x"),
     "Invalid type for parameter resources"),
    (lambda bus: bus.publish(source="s", detail_type="t", detail=[("a", 1)]), "Invalid type for parameter detail"),
    (lambda bus: bus.journeys(rule=5), "Invalid type for parameter rule"),
    (lambda bus: bus.journeys(matched="yes"), "Invalid type for parameter matched"),
    (lambda bus: bus.put_events([{**entry(), "EventBusName": ""}]),
     "Invalid length for parameter Entries[0].EventBusName, value: 0, valid min length: 1"),
    (lambda bus: bus.put_events([{**entry(), "TraceHeader": ""}]),
     "Invalid length for parameter Entries[0].TraceHeader, value: 0, valid min length: 1"),
])
def test_bad_arguments_get_clear_errors(bus: EventBus, call: Any, message: str) -> None:
    bus.put_rule("r", event_pattern={"source": ["x"]})
    with pytest.raises(ValidationError) as raised:
        call(bus)
    assert str(raised.value).startswith(message)


def test_deep_details_and_patterns_are_refused_in_words(bus: EventBus) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValidationError, match="^MalformedDetail: Detail is malformed."):
        bus.publish(source="s", detail_type="t", detail=deep)
    with pytest.raises(eventbus.InvalidEventPatternError):
        bus.put_rule("deep", event_pattern=deep)


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                  datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))])
def test_a_time_outside_what_utc_can_hold_fails_its_entry(bus: EventBus, when: Any) -> None:
    response = bus.put_events([entry() | {"Time": when}])
    assert response["Entries"][0]["ErrorCode"] == "InvalidArgument"


def test_times_are_written_in_utc_with_four_digit_years(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(got.append)])
    bus.put_events([entry() | {"Time": datetime(1, 1, 1, tzinfo=UTC)}])
    clock.run_until_idle()
    assert got[0]["time"] == "0001-01-01T00:00:00Z"
    local = datetime(2020, 1, 1, 5, tzinfo=timezone(timedelta(hours=5)))
    assert transform_input({}, input_transformer={"InputTemplate": "<aws.events.event.ingestion-time>"},
                           ingestion_time=local) == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(("event", "kwargs"), [
    (b"\xff{}", {}), ('{"a": NaN}', {}), ("[" * 5000 + "]" * 5000, {}), ({"a": {1}}, {}),
    ({}, {"ingestion_time": 5}), ({}, {"rule_name": 5}),
])
def test_transform_input_refuses_bad_events_and_context_in_words(event: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        transform_input(event, **kwargs)


@pytest.mark.parametrize("path", ["$.a b", "$.detail.k ", "$ .a"])
def test_a_path_with_white_space_is_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="is not a valid JSONPath"):
        transform_input({"a": 1}, input_path=path)
