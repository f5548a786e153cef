"""Rules and targets on a bus: AWS's names, limits, errors, and what each change does to delivery."""

from __future__ import annotations

import json
from typing import Any

import pytest

import eventbus
from eventbus import EventBus, LimitExceededError, ManualClock, ResourceNotFoundError, Target, ValidationError


def put(bus: EventBus, source: str = "shop", detail: Any = None) -> str:
    response = bus.put_events([{"Source": source, "DetailType": "t", "Detail": json.dumps(detail or {})}])
    assert response["FailedEntryCount"] == 0
    return response["Entries"][0]["EventId"]


def test_arns_follow_aws_s_format() -> None:
    default = EventBus(clock=ManualClock(), account="111122223333", region="eu-west-1")
    custom = EventBus("orders", clock=ManualClock(), account="111122223333", region="eu-west-1")
    assert default.arn == "arn:aws:events:eu-west-1:111122223333:event-bus/default"
    assert custom.arn == "arn:aws:events:eu-west-1:111122223333:event-bus/orders"
    assert default.put_rule("r", event_pattern={"source": ["a"]}) == "arn:aws:events:eu-west-1:111122223333:rule/r"
    assert custom.put_rule("r", event_pattern={"source": ["a"]}) == \
        "arn:aws:events:eu-west-1:111122223333:rule/orders/r"


def test_put_rule_creates_then_updates_and_keeps_targets(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]}, description="first")
    bus.put_targets("r", [Target(got.append)])
    bus.put_rule("r", event_pattern={"source": ["other"]})
    assert bus.describe_rule("r").description is None  # an update replaces every setting, as in AWS
    put(bus, "shop")
    put(bus, "other")
    clock.run_until_idle()
    assert [event["source"] for event in got] == ["other"]
    assert [t.target_id for t in bus.list_targets_by_rule("r")] == ["target"]


def test_describe_rule_in_aws_shape(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern='{"source": ["shop"]}', description="orders")
    assert bus.describe_rule("r").as_aws() == {
        "Name": "r", "Arn": "arn:aws:events:us-east-1:123456789012:rule/r", "EventPattern": '{"source": ["shop"]}',
        "State": "ENABLED", "Description": "orders", "EventBusName": "default", "CreatedBy": "123456789012"}


def test_list_rules_by_prefix_sorted(bus: EventBus) -> None:
    for name in ("b-2", "a-1", "b-1"):
        bus.put_rule(name, event_pattern={"source": ["x"]})
    assert [rule.name for rule in bus.list_rules()] == ["a-1", "b-1", "b-2"]
    assert [rule.name for rule in bus.list_rules("b-")] == ["b-1", "b-2"]
    assert bus.list_rules("zzz") == []


def test_a_disabled_rule_matches_nothing_and_enabling_restores_it(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]}, state="DISABLED")
    bus.put_targets("r", [Target(got.append)])
    first = put(bus)
    bus.enable_rule("r")
    second = put(bus)
    bus.disable_rule("r")
    third = put(bus)
    clock.run_until_idle()
    assert [event["id"] for event in got] == [second]
    assert not bus.journey(first).matched and not bus.journey(third).matched
    assert bus.describe_rule("r").state == "DISABLED"
    assert bus.metrics("r")["MatchedEvents"] == 1


def test_delete_rule_needs_its_targets_removed_first(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(got.append, target_id="a")])
    with pytest.raises(ValidationError, match=r"^Rule can't be deleted since it has targets\.$"):
        bus.delete_rule("r")
    bus.remove_targets("r", ["a", "absent"])
    bus.delete_rule("r")
    bus.delete_rule("r")  # AWS: deleting a rule that is not there is not an error
    put(bus)
    clock.run_until_idle()
    assert got == []
    with pytest.raises(ResourceNotFoundError, match=r"^Rule r does not exist on EventBus default\.$"):
        bus.describe_rule("r")


@pytest.mark.parametrize("call", [
    lambda bus: bus.describe_rule("nope"), lambda bus: bus.enable_rule("nope"), lambda bus: bus.disable_rule("nope"),
    lambda bus: bus.list_targets_by_rule("nope"), lambda bus: bus.put_targets("nope", [Target(print)]),
    lambda bus: bus.remove_targets("nope", ["a"]), lambda bus: bus.metrics("nope"),
])
def test_an_absent_rule_is_named_in_aws_words(call: Any) -> None:
    bus = EventBus("orders", clock=ManualClock())
    with pytest.raises(ResourceNotFoundError) as raised:
        call(bus)
    assert str(raised.value) == "Rule nope does not exist on EventBus orders."


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"name": ""}, "1 validation error detected: Value '' at 'Name' failed to satisfy constraint: Member must have "
                   "length greater than or equal to 1"),
    ({"name": "x" * 65}, "1 validation error detected: Value '" + "x" * 65 + "' at 'Name' failed to satisfy "
                         "constraint: Member must have length less than or equal to 64"),
    ({"name": "a b"}, "1 validation error detected: Value 'a b' at 'Name' failed to satisfy constraint: Member must "
                      r"satisfy regular expression pattern: [\.\-_A-Za-z0-9]+"),
    ({"event_pattern": None}, "Parameter(s) EventPattern or ScheduleExpression must be specified."),
    ({"state": "ON"}, "1 validation error detected: Value 'ON' at 'state' failed to satisfy constraint: Member "
                      "must satisfy enum value set: [ENABLED, DISABLED, "
                      "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"),
    ({"description": "d" * 513}, "1 validation error detected: Value '" + "d" * 77 + "...' at 'description' failed "
                                 "to satisfy constraint: Member must have length less than or equal to 512"),
    ({"event_pattern": '{"source": "shop"}'}, 'Event pattern is not valid. Reason: "source" must be an object or '
                                              "an array"),
    ({"event_pattern": 5}, "Invalid type for parameter EventPattern, value: 5, type: <class 'int'>, valid types: "
                           "<class 'str'>"),
])
def test_bad_rules_are_refused_in_aws_words(bus: EventBus, kwargs: dict[str, Any], error: str) -> None:
    arguments: dict[str, Any] = {"name": "r", "event_pattern": {"source": ["a"]}} | kwargs
    with pytest.raises(ValidationError) as raised:
        bus.put_rule(arguments.pop("name"), **arguments)
    assert str(raised.value) == error
    assert bus.list_rules() == []  # nothing half-made


def test_a_refused_update_leaves_the_rule_as_it_was(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern={"source": ["a"]})
    with pytest.raises(eventbus.InvalidEventPatternError):
        bus.put_rule("r", event_pattern={"source": "a"})
    assert bus.describe_rule("r").event_pattern == '{"source": ["a"]}'


def test_the_rule_quota_is_configurable(clock: ManualClock) -> None:
    bus = EventBus(clock=clock, max_rules=2)
    bus.put_rule("a", event_pattern={"source": ["a"]})
    bus.put_rule("b", event_pattern={"source": ["a"]})
    bus.put_rule("b", event_pattern={"source": ["b"]})  # an update is not a new rule
    with pytest.raises(LimitExceededError, match=r"^The requested resource exceeds the maximum number allowed\.$"):
        bus.put_rule("c", event_pattern={"source": ["a"]})


# -- targets ---------------------------------------------------------------------------


def test_five_targets_per_rule(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern={"source": ["a"]})
    bus.put_targets("r", [Target(print, target_id=f"t{i}") for i in range(5)])
    bus.put_targets("r", [Target(print, target_id="t0")])  # replacing one is fine
    with pytest.raises(LimitExceededError, match=r"^The requested resource exceeds the maximum number allowed\.$"):
        bus.put_targets("r", [Target(print, target_id="t5")])
    assert [t.target_id for t in bus.list_targets_by_rule("r")] == [f"t{i}" for i in range(5)]


def test_putting_an_existing_id_replaces_that_target(bus: EventBus, clock: ManualClock) -> None:
    old: list[Any] = []
    new: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(old.append, target_id="t")])
    bus.put_targets("r", [Target(new.append, target_id="t")])
    put(bus)
    clock.run_until_idle()
    assert (len(old), len(new)) == (0, 1)


@pytest.mark.parametrize(("targets", "error"), [
    ([], "Invalid length for parameter Targets, value: 0, valid min length: 1"),
    ([Target(print, target_id=f"t{i}") for i in range(11)], "1 validation error detected: Value at 'targets' "
                                                            "failed to satisfy constraint: Member must have length "
                                                            "less than or equal to 10"),
    ([Target(print, target_id="a"), Target(print, target_id="a")], "Target a appears more than once in this "
                                                                   "request."),
    ([print], "Invalid type for parameter Targets[], value: <built-in function print>, type: <class "
              "'builtin_function_or_method'>, valid types: <class 'eventbus.Target'>"),
])
def test_bad_put_targets_are_refused(bus: EventBus, targets: list[Any], error: str) -> None:
    bus.put_rule("r", event_pattern={"source": ["a"]})
    with pytest.raises(ValidationError) as raised:
        bus.put_targets("r", targets)
    assert str(raised.value) == error
    assert bus.list_targets_by_rule("r") == []


def test_a_target_takes_the_bus_s_clock_and_rule_arn() -> None:
    clock = ManualClock()
    bus = EventBus("orders", clock=clock)
    target = Target(print)  # built outside any use_clock: the process's clock, for now
    bus.put_rule("r", event_pattern={"source": ["a"]})
    bus.put_targets("r", [target])
    assert target.clock is clock
    assert target.rule_arn == "arn:aws:events:us-east-1:123456789012:rule/orders/r"


def test_a_target_bound_to_another_clock_is_refused() -> None:
    bus = EventBus(clock=ManualClock())
    bus.put_rule("r", event_pattern={"source": ["a"]})
    other = ManualClock()
    with pytest.raises(ValidationError, match=r"runs on .*, but this rule's bus runs on .*: objects that work "
                                              "together must share one clock"):
        bus.put_targets("r", [Target(print, clock=other)])
    queue = eventbus.Queue(clock=other)
    with pytest.raises(ValidationError, match="must share one clock"):
        bus.put_targets("r", [Target(queue)])  # its clock comes from its queue
    assert bus.list_targets_by_rule("r") == []


def test_a_target_belongs_to_one_rule(bus: EventBus) -> None:
    target = Target(print)
    bus.put_rule("a", event_pattern={"source": ["a"]})
    bus.put_rule("b", event_pattern={"source": ["b"]})
    bus.put_targets("a", [target])
    bus.put_targets("a", [target])  # the same target again on the same rule: fine
    with pytest.raises(ValidationError, match="already on"):
        bus.put_targets("b", [target])
    bus.remove_targets("a", ["target"])
    bus.put_targets("b", [target])  # once removed, it may move


def test_a_target_built_with_another_rule_arn_is_refused(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern={"source": ["a"]})
    with pytest.raises(ValidationError, match="was built with rule_arn='arn:x', but the rule is arn:aws:events:"):
        bus.put_targets("r", [Target(print, rule_arn="arn:x")])


def test_removing_a_target_stops_new_deliveries_but_not_accepted_ones(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["shop"]})
    bus.put_targets("r", [Target(got.append, target_id="t")])
    put(bus)
    bus.remove_targets("r", ["t"])
    put(bus)
    clock.run_until_idle()
    assert len(got) == 1  # accepted before the removal: delivered


def test_on_subscribes_a_function(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []

    @bus.on({"source": ["shop"]})
    def record(event: Any) -> None:
        got.append(event["detail"])

    @bus.on({"source": ["shop"]}, name="async-one")
    async def record_async(event: Any) -> None:
        got.append(("async", event["detail"]))

    assert record is not None and [r.name for r in bus.list_rules()] == ["async-one", (
        "test_on_subscribes_a_function.-locals-.record")]
    put(bus, detail={"n": 1})
    clock.run_until_idle()
    assert sorted(map(str, got)) == sorted(map(str, [{"n": 1}, ("async", {"n": 1})]))
