"""What targets receive, retries and dead letters through a bus, bus-to-bus routing,
journeys and metrics."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import eventbus
from eventbus import EventBus, ManualClock, Outcome, Queue, RetryPolicy, Target

from ..support import STACK_DEPTHS, from_deep_in_the_stack


def put(bus: EventBus, source: str = "shop", detail: Any = None) -> str:
    response = bus.put_events([{"Source": source, "DetailType": "t", "Detail": json.dumps(detail or {})}])
    assert response["FailedEntryCount"] == 0, response
    return response["Entries"][0]["EventId"]


def bodies(queue: Queue) -> list[str]:
    return [message.body for message in queue.receive(10)]


def test_a_queue_gets_aws_s_body_for_each_kind_of_input(bus: EventBus, clock: ManualClock) -> None:
    queues = {name: Queue(name) for name in ("whole", "input", "path", "template", "plain")}
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [
        Target(queues["whole"], target_id="whole"),
        Target(queues["input"], target_id="input", input='{"fixed": true}'),
        Target(queues["path"], target_id="path", input_path="$.detail.id"),
        Target(queues["template"], target_id="template",
               input_transformer={"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": '{"order": <id>}'}),
        Target(queues["plain"], target_id="plain",
               input_transformer={"InputPathsMap": {"id": "$.detail.id"},
                                  "InputTemplate": "order <id> from <aws.events.rule-name>"}),
    ])
    event_id = put(bus, detail={"id": "o-1"})
    clock.run_until_idle()
    whole = bodies(queues["whole"])
    assert json.loads(whole[0])["id"] == event_id
    assert bodies(queues["input"]) == ['{"fixed": true}']
    assert bodies(queues["path"]) == ['"o-1"']
    assert bodies(queues["template"]) == ['{"order": "o-1"}']
    assert bodies(queues["plain"]) == ["order o-1 from r"]  # not JSON: delivered as text


def test_a_callable_gets_json_values_or_text(bus: EventBus, clock: ManualClock) -> None:
    got: dict[str, Any] = {}
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [
        Target(lambda v: got.__setitem__("path", v), target_id="path", input_path="$.detail"),
        Target(lambda v: got.__setitem__("plain", v), target_id="plain",
               input_transformer={"InputPathsMap": {"id": "$.detail.id"}, "InputTemplate": "id <id>"}),
    ])
    put(bus, detail={"id": "o-1"})
    clock.run_until_idle()
    assert got == {"path": {"id": "o-1"}, "plain": "id o-1"}


def test_each_target_gets_its_own_copy(bus: EventBus, clock: ManualClock) -> None:
    seen: list[Any] = []

    def spoil(event: Any) -> None:
        event["detail"]["id"] = "spoilt"

    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(spoil, target_id="a"), Target(seen.append, target_id="b")])
    put(bus, detail={"id": "o-1"})
    clock.run_until_idle()
    assert seen[0]["detail"] == {"id": "o-1"}


def test_targets_of_one_event_and_their_retries_never_share_what_they_received(bus: EventBus,
                                                                                 clock: ManualClock) -> None:
    """The event is parsed once for all its targets; each call still gets a value of
    its own, down to the innermost array, and a retry gets the event as it was put."""
    detail = {"order": {"items": [{"sku": "a", "tags": ["x"]}]}, "flags": []}
    got: dict[str, list[Any]] = {"a": [], "b": [], "c": []}

    def receiver(name: str, fail_first: bool = False) -> Any:
        def call(event: Any) -> None:
            got[name].append(json.loads(json.dumps(event)))  # what it received, before it spoils it
            event["detail"]["order"]["items"][0]["tags"].append("spoilt")
            event["detail"]["flags"].append(name)
            if fail_first and len(got[name]) == 1:
                raise RuntimeError("once")
        return call

    bus.put_rule("r1", event_pattern={"source": ["shop"]})
    bus.put_rule("r2", event_pattern={"source": ["shop"]})
    bus.put_targets("r1", [Target(receiver("a", fail_first=True), target_id="a"), Target(receiver("b"), target_id="b")])
    bus.put_targets("r2", [Target(receiver("c"), target_id="c")])
    put(bus, detail=detail)
    clock.run_until_idle()
    assert [len(got[name]) for name in "abc"] == [2, 1, 1]  # a was retried
    assert all(received["detail"] == detail for calls in got.values() for received in calls)


def test_a_template_that_is_not_json_for_this_event_is_dropped_and_says_why(bus: EventBus,
                                                                             clock: ManualClock) -> None:
    queue = Queue("q")
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(queue, target_id="q", input_transformer={
        "InputPathsMap": {"v": "$.detail.v"}, "InputTemplate": '{"v": "<v>"}'})])
    fine = put(bus, detail={"v": "text"})
    broken = put(bus, detail={"v": {"an": "object"}})
    clock.run_until_idle()
    assert bodies(queue) == ['{"v": "text"}']
    delivery = bus.journey(broken).deliveries[0]
    assert delivery.outcome is Outcome.DROPPED
    assert delivery.reason == "the InputTemplate did not make valid JSON for this event"
    assert delivery.attempts == ()
    [target] = bus.list_targets_by_rule("r")
    assert target.outcomes[delivery.delivery_id] == (Outcome.DROPPED, delivery.reason)  # the same delivery
    assert bus.journey(fine).deliveries[0].outcome is Outcome.SUCCEEDED
    metrics = bus.metrics("r")
    assert (metrics["Invocations"], metrics["FailedInvocations"]) == (2, 1)


def test_the_dead_letter_queue_gets_the_original_event_with_aws_attributes(bus: EventBus,
                                                                          clock: ManualClock) -> None:
    dlq = Queue("dlq")
    calls: list[Any] = []

    def down(payload: Any) -> None:
        calls.append(payload)
        raise ConnectionError("down")

    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(down, target_id="t", input_path="$.detail",
                                 retry_policy=RetryPolicy(maximum_retry_attempts=2), dead_letter_queue=dlq)])
    event_id = put(bus, detail={"id": "o-1"})
    clock.run_until_idle()
    assert calls == [{"id": "o-1"}] * 3  # the transformed input, each attempt
    [message] = dlq.receive(10)
    assert json.loads(message.body)["id"] == event_id  # the original event
    assert message.attributes == {
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/r",
        "TARGET_ARN": message.attributes["TARGET_ARN"],
        "ERROR_CODE": "ConnectionError", "ERROR_MESSAGE": "down", "RETRY_ATTEMPTS": "2",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts"}
    journey = bus.journey(event_id)
    [delivery] = journey.deliveries
    assert delivery.outcome is Outcome.DEAD_LETTERED
    assert [attempt.error for attempt in delivery.attempts] == ["ConnectionError: down"] * 3
    times = [attempt.at for attempt in delivery.attempts]
    assert times == sorted(times)
    metrics = bus.metrics("r")
    assert metrics == {"MatchedEvents": 1, "Invocations": 1, "FailedInvocations": 1, "InvocationsSentToDLQ": 1,
                       "InvocationsFailedToBeSentToDLQ": 0, "RetryInvocationAttempts": 2}


def test_journeys_show_rules_targets_attempts_and_ends(bus: EventBus, clock: ManualClock) -> None:
    flaky = {"left": 1}

    def sometimes(event: Any) -> None:
        if flaky["left"]:
            flaky["left"] -= 1
            raise TimeoutError("slow")

    bus.put_rule("a", event_pattern={"source": ["shop"]})
    bus.put_rule("b", event_pattern={"detail": {"n": [1]}})
    bus.put_targets("a", [Target(sometimes, target_id="s")])
    bus.put_targets("b", [Target(print, target_id="p"), Target(lambda e: None, target_id="q")])
    event_id = put(bus, detail={"n": 1})
    journey = bus.journey(event_id)
    assert journey.rules == ("a", "b") and journey.matched and not journey.done
    assert [(d.rule, d.target_id, d.ended_as) for d in journey.deliveries] == [
        ("a", "s", "pending"), ("b", "p", "pending"), ("b", "q", "pending")]
    clock.run_until_idle()
    assert journey.done
    first = journey.deliveries[0]
    assert [a.error for a in first.attempts] == ["TimeoutError: slow", None]
    assert first.outcome is Outcome.SUCCEEDED
    [target] = bus.list_targets_by_rule("a")
    assert target.outcomes[first.delivery_id] == (Outcome.SUCCEEDED, "")
    text = journey.describe()
    assert f"event {event_id} (shop / t) on bus default" in text and "matched a, b" in text
    assert "rule a -> target s: succeeded" in text and "attempt 1 at 2024-01-01T00:00:00Z: TimeoutError: slow" in text
    assert [j.event_id for j in bus.journeys(rule="b")] == [event_id]


def test_an_event_that_matched_nothing_is_visible(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    lost = put(bus, source="elsewhere")
    kept = put(bus, source="shop")
    journey = bus.journey(lost)
    assert not journey.matched and journey.deliveries == () and journey.done
    assert journey.describe().endswith("matched no rule")
    assert [j.event_id for j in bus.journeys(matched=False)] == [lost]
    assert [j.event_id for j in bus.journeys(matched=True)] == [kept]
    assert bus.metrics()["UnmatchedEvents"] == 1


def test_journeys_are_bounded(clock: ManualClock) -> None:
    bus = EventBus(clock=clock, journey_retention=3)
    ids = [put(bus) for _ in range(5)]
    assert [j.event_id for j in bus.journeys()] == ids[2:]
    with pytest.raises(eventbus.ResourceNotFoundError, match="journey_retention=3"):
        bus.journey(ids[0])
    assert bus.metrics()["Events"] == 5  # counters stay exact
    none_kept = EventBus(clock=clock, journey_retention=0)
    put(none_kept)
    assert none_kept.journeys() == []


def test_metrics_count_the_whole_bus(bus: EventBus, clock: ManualClock) -> None:
    bus.put_rule("a", event_pattern={"source": ["shop"]})
    bus.put_rule("b", event_pattern={"source": ["shop", "other"]})
    bus.put_targets("a", [Target(print)])
    bus.put_targets("b", [Target(lambda e: None, target_id="x"), Target(lambda e: None, target_id="y")])
    put(bus, "shop")
    put(bus, "other")
    put(bus, "nobody")
    clock.run_until_idle()
    metrics = bus.metrics()
    assert metrics["MatchedEvents"] == 3 and metrics["TriggeredRules"] == 3
    assert metrics["Invocations"] == 5 and metrics["FailedInvocations"] == 0
    assert metrics["Events"] == 3 and metrics["UnmatchedEvents"] == 1


# -- bus to bus ----------------------------------------------------------------------------


def test_a_rule_can_route_to_another_bus(clock: ManualClock) -> None:
    front, back = EventBus("front", clock=clock), EventBus("back", clock=clock)
    got: list[Any] = []
    front.put_rule("forward", event_pattern={"source": ["shop"]})
    front.put_targets("forward", [Target(back, target_id="back")])
    back.put_rule("orders", event_pattern={"source": ["shop"]})
    back.put_targets("orders", [Target(got.append)])
    event_id = put(front)
    clock.run_until_idle()
    assert [event["id"] for event in got] == [event_id]  # the same event, envelope and all
    assert back.journey(event_id).rules == ("orders",)
    assert front.journey(event_id).deliveries[0].outcome is Outcome.SUCCEEDED


def test_an_event_crosses_one_bus_to_bus_hop_only(clock: ManualClock) -> None:
    a, b = EventBus("a", clock=clock), EventBus("b", clock=clock)
    dlq = Queue("dlq")
    a.put_rule("to-b", event_pattern={"source": ["shop"]})
    a.put_targets("to-b", [Target(b, target_id="b")])
    b.put_rule("to-a", event_pattern={"source": ["shop"]})
    b.put_targets("to-a", [Target(a, target_id="a", dead_letter_queue=dlq)])
    event_id = put(a)
    clock.run_until_idle()  # ends: the loop is cut at the second hop
    [message] = dlq.receive(10)
    assert message.attributes["ERROR_CODE"] == "THIRD_ACCOUNT_HOP_DETECTED"
    assert message.attributes["ERROR_MESSAGE"] == (
        f"Event ingestion rejected for event {event_id} because an event can be sent to an event bus target only "
        "once. This event was previously delivered to an event bus target.")
    assert message.attributes["RETRY_ATTEMPTS"] == "0"  # not retried
    assert len(a.journeys()) == 1 and len(b.journeys()) == 1


@pytest.mark.parametrize("event", [
    {"not": "an event"},
    {"id": "1", "source": "s", "detail-type": "t", "time": "2024-01-01T00:00:00Z", "region": "us-east-1"},  # account
    {"id": "1", "account": "1", "source": "s", "detail-type": "t", "time": "x", "region": "r", "detail": []},
    {"id": "1", "account": "1", "source": "s", "detail-type": "t", "time": "x", "region": "r", "resources": "a"},
    ["an", "array"],
])
def test_a_bus_target_takes_whole_events_only(bus: EventBus, event: Any) -> None:
    with pytest.raises(eventbus.ValidationError, match=r"^Parameter Event is not valid\.$"):
        bus.deliver(event)


def test_a_whole_event_from_outside_is_routed_as_it_is(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["aws.s3"]})
    bus.put_targets("r", [Target(got.append)])
    event = eventbus.samples.s3_object_created(bus=bus)
    bus.deliver(event)
    clock.run_until_idle()
    assert got == [event]


# -- threads -------------------------------------------------------------------------------


def test_put_events_from_many_threads_loses_nothing(clock: ManualClock) -> None:
    bus = EventBus(clock=clock)
    got: list[Any] = []
    lock = threading.Lock()

    def record(event: Any) -> None:
        with lock:
            got.append(event["id"])

    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(record)])
    ids: list[str] = []

    def producer() -> None:
        for _ in range(200):
            event_id = put(bus)
            with lock:
                ids.append(event_id)

    def churn() -> None:  # rules change while events flow
        for i in range(50):
            bus.put_rule(f"extra-{i % 5}", event_pattern={"source": [f"x{i}"]})

    threads = [threading.Thread(target=producer) for _ in range(4)] + [threading.Thread(target=churn)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.run_until_idle()
    assert sorted(got) == sorted(ids) and len(set(ids)) == 800


def test_the_hop_limit_holds_with_journeys_off(clock: ManualClock) -> None:
    a = EventBus("a", clock=clock, journey_retention=0)
    b = EventBus("b", clock=clock, journey_retention=0)
    dlq = Queue("dlq")
    a.put_rule("to-b", event_pattern={"source": ["shop"]})
    a.put_targets("to-b", [Target(b, target_id="b")])
    b.put_rule("to-a", event_pattern={"source": ["shop"]})
    b.put_targets("to-a", [Target(a, target_id="a", dead_letter_queue=dlq)])
    put(a)
    clock.run_until_idle()
    assert [m.attributes["ERROR_CODE"] for m in dlq.receive(10)] == ["THIRD_ACCOUNT_HOP_DETECTED"]
    assert a.metrics()["Events"] == 1 and b.metrics()["Events"] == 1


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_a_deep_event_reaches_every_target_whole_whatever_the_stack(bus: EventBus, clock: ManualClock,
                                                                    frames: int) -> None:
    """An event nesting 190 levels, shared by two targets, run from deep in the stack:
    where the shared copy cannot be made there, each target parses its own."""
    detail: Any = "leaf"
    for _ in range(190):
        detail = {"d": detail}
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(got.append, target_id="a"), Target(got.append, target_id="b")])
    put(bus, detail=detail)
    from_deep_in_the_stack(frames, clock.run_until_idle)
    assert [event["detail"] for event in got] == [detail, detail]
    assert got[0] is not got[1]


def test_targets_get_plain_strings_whatever_str_subclass_the_entry_held(bus: EventBus, clock: ManualClock) -> None:
    class Tagged(str):
        pass

    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(got.append, target_id="a"), Target(got.append, target_id="b")])
    bus.put_events([{"Source": Tagged("shop"), "DetailType": Tagged("t"), "Detail": "{}",
                     "Resources": [Tagged("arn:aws:s3:::b")]}])
    clock.run_until_idle()
    assert len(got) == 2
    for event in got:  # JSON's strings, as AWS delivers them: nothing of the caller's objects to share
        assert [type(v) for v in (event["source"], event["detail-type"], *event["resources"])] == [str, str, str]
