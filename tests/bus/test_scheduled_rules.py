"""Scheduled rules: ``put_rule(name, schedule_expression=...)`` on the default bus,
firing AWS's Scheduled Event on the bus's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventbus import EventBus, InvalidScheduleExpressionError, ManualClock, Queue, Scheduler, Target, ValidationError

from ..support import message

T0 = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)


def bus_with(rule: str, expression: str, **kwargs: Any) -> tuple[ManualClock, EventBus, list[Any]]:
    clock = ManualClock(T0)
    bus = EventBus(clock=clock)
    got: list[Any] = []
    bus.put_rule(rule, schedule_expression=expression, **kwargs)
    bus.put_targets(rule, [Target(got.append, target_id="got")])
    return clock, bus, got


def test_a_cron_rule_sends_aws_scheduled_event_to_its_targets() -> None:
    clock, bus, got = bus_with("nightly", "cron(0 3 * * ? *)")
    clock.advance(timedelta(days=2))
    assert [event["time"] for event in got] == ["2026-03-08T03:00:00Z", "2026-03-09T03:00:00Z"]
    first = got[0]
    assert set(first) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}
    assert (first["version"], first["source"], first["detail-type"], first["detail"]) == (
        "0", "aws.events", "Scheduled Event", {})
    assert first["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/nightly"]
    assert (first["account"], first["region"]) == ("123456789012", "us-east-1")
    assert got[0]["id"] != got[1]["id"]
    assert bus.describe_rule("nightly").as_aws() == {
        "Name": "nightly", "Arn": "arn:aws:events:us-east-1:123456789012:rule/nightly",
        "ScheduleExpression": "cron(0 3 * * ? *)", "State": "ENABLED", "EventBusName": "default",
        "CreatedBy": "123456789012"}


def test_a_rate_rule_counts_whole_minutes_from_when_it_was_put() -> None:
    clock, _, got = bus_with("every-10", "rate(10 minutes)")
    clock.advance(timedelta(hours=1))
    # put at 12:00:30: fires at 12:10, 12:20, ... (within the minute, as AWS's granularity allows)
    assert [event["time"] for event in got] == [f"2026-03-07T12:{m}:00Z" for m in (10, 20, 30, 40, 50)] + [
        "2026-03-07T13:00:00Z"]


def test_schedules_run_in_utc() -> None:
    clock, _, got = bus_with("nine", "cron(0 9 * * ? *)")
    clock.advance(timedelta(days=1))
    assert [event["time"] for event in got] == ["2026-03-08T09:00:00Z"]


def test_only_the_default_bus_takes_schedules_and_bad_ones_are_refused_in_aws_words() -> None:
    clock = ManualClock(T0)
    custom = EventBus("orders", clock=clock)
    assert message(lambda: custom.put_rule("r", schedule_expression="rate(5 minutes)")) == (
        "ValidationError: ScheduleExpression is supported only on the default event bus.")
    bus = EventBus(clock=clock)
    for bad in ("rate(1 minutes)", "at(2026-03-08T00:00:00)", "cron(0 1 * * * *)", "rate(5 minutes) "):
        with pytest.raises(InvalidScheduleExpressionError) as caught:
            bus.put_rule("r", schedule_expression=bad)
        assert str(caught.value) == "Parameter ScheduleExpression is not valid."
    assert message(lambda: bus.put_rule("r")) == (
        "ValidationError: Parameter(s) EventPattern or ScheduleExpression must be specified.")
    assert message(lambda: bus.put_rule("r", schedule_expression="r" * 257)).startswith(
        "ValidationError: 1 validation error detected: Value 'rrrr")
    assert bus.list_rules() == []


def test_put_events_does_not_trigger_a_schedule_only_rule() -> None:
    clock, bus, got = bus_with("every-5", "rate(5 minutes)")
    bus.publish(source="shop", detail_type="Scheduled Event", detail={})
    clock.advance(timedelta(minutes=4))
    assert got == []


def test_a_rule_with_a_pattern_and_a_schedule_does_both() -> None:
    clock, bus, got = bus_with("both", "rate(5 minutes)", event_pattern={"source": ["shop"]})
    bus.publish(source="shop", detail_type="Order", detail={"n": 1})
    clock.advance(timedelta(minutes=5))
    assert [event["detail-type"] for event in got] == ["Order", "Scheduled Event"]


def test_disabling_updating_and_deleting_stop_or_move_the_schedule() -> None:
    clock, bus, got = bus_with("r", "rate(10 minutes)")
    clock.advance(timedelta(minutes=10))
    assert len(got) == 1
    bus.disable_rule("r")
    clock.advance(timedelta(minutes=30))
    assert len(got) == 1
    bus.enable_rule("r")  # a rate counts again from the minute it was enabled: 12:40
    clock.advance(timedelta(minutes=10))
    assert [event["time"] for event in got][1:] == ["2026-03-07T12:50:00Z"]
    bus.put_rule("r", schedule_expression="cron(0 * * * ? *)")  # replaced: the rate's timer goes
    clock.advance(timedelta(minutes=30))
    assert [event["time"] for event in got][2:] == ["2026-03-07T13:00:00Z"]
    bus.put_rule("r", event_pattern={"source": ["x"]})  # no schedule any more
    clock.advance(timedelta(hours=2))
    assert len(got) == 3
    bus.put_rule("r", schedule_expression="rate(1 minute)")
    bus.remove_targets("r", ["got"])
    bus.delete_rule("r")
    assert clock.pending() == []  # nothing left behind


def test_targets_of_a_scheduled_rule_keep_their_input_settings_retries_and_dlq() -> None:
    clock = ManualClock(T0)
    bus = EventBus(clock=clock)
    dlq = Queue("dlq", clock=clock)
    bus.put_rule("r", schedule_expression="cron(0 13 * * ? *)")

    def down(payload: Any) -> None:
        raise RuntimeError("down")

    got: list[Any] = []
    bus.put_targets("r", [Target(got.append, target_id="path", input_path="$.resources[0]"),
                          Target(down, target_id="down", dead_letter_queue=dlq)])
    clock.advance(timedelta(days=2))
    assert got == ["arn:aws:events:us-east-1:123456789012:rule/r"] * 2  # 13:00 on the 7th and the 8th
    assert dlq.receive()[0].attributes["RULE_ARN"] == "arn:aws:events:us-east-1:123456789012:rule/r"
    assert bus.metrics("r")["MatchedEvents"] == 2  # one fire a day


def test_run_until_idle_ends_with_schedules_standing() -> None:
    """A schedule always has its next fire pending, and what a fire starts may start
    more: running "until idle" runs what is due now and the other pending work
    (fires on the way included), but waits for neither."""
    clock, bus, got = bus_with("r", "rate(1 minute)")
    scheduler = Scheduler(clock=clock)
    fired: list[Any] = []

    def flaky(payload: Any) -> None:
        fired.append(clock.now())
        if len(fired) < 3:
            raise RuntimeError("not yet")

    from eventbus import RetryPolicy
    scheduler.create_schedule("s", "rate(1 hour)", flaky, retry_policy=RetryPolicy(base_delay=100, max_delay=100))
    clock.run_until_idle()
    assert fired == [T0] and got == []  # the fire due now ran; its retry is the schedule's, not waited for
    later: list[Any] = []
    # other work, 120 s on: past the first retry (50-100 s after the fire), before the second (150-300 s)
    clock.call_later(120, lambda: later.append(clock.now()))
    clock.run_until_idle()
    assert later == [T0 + timedelta(seconds=120)] and clock.now() == later[0]
    assert len(fired) == 2  # the retry fell due on the way
    assert [event["time"] for event in got] == ["2026-03-07T12:01:00Z", "2026-03-07T12:02:00Z"]
    clock.advance(timedelta(minutes=10))  # advance() moves schedules on
    assert len(fired) == 3


def test_a_scheduled_rules_bad_target_setting_is_refused_before_anything_changes() -> None:
    clock, bus, got = bus_with("r", "rate(5 minutes)")
    with pytest.raises(ValidationError):
        bus.put_rule("r", schedule_expression="rate(5 minutes)", state="SOMETIMES")  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=5))
    assert len(got) == 1


def test_putting_a_rule_again_neither_repeats_a_fire_nor_restarts_its_rate() -> None:
    clock, bus, got = bus_with("every", "cron(* * * * ? *)")
    clock.advance(30)  # 12:01 fires
    bus.put_rule("every", schedule_expression="cron(* * * * ? *)", description="touched")
    bus.disable_rule("every")
    bus.enable_rule("every")
    clock.advance(60)
    assert [event["time"] for event in got] == ["2026-03-07T12:01:00Z", "2026-03-07T12:02:00Z"]
    clock2, bus2, got2 = bus_with("five", "rate(5 minutes)")
    for _ in range(6):  # re-put every 4 minutes
        clock2.advance(timedelta(minutes=4))
        bus2.put_rule("five", schedule_expression="rate(5 minutes)", description=f"{clock2.now():%H:%M}")
    assert [event["time"][11:16] for event in got2] == ["12:05", "12:10", "12:15", "12:20"]


def test_a_rate_rule_put_on_the_minute_waits_one_period() -> None:
    clock = ManualClock(T0.replace(second=0))
    bus = EventBus(clock=clock)
    got: list[Any] = []
    bus.put_rule("r", schedule_expression="rate(10 minutes)")
    bus.put_targets("r", [Target(got.append, target_id="t")])
    clock.advance(timedelta(minutes=25))
    assert [event["time"] for event in got] == ["2026-03-07T12:10:00Z", "2026-03-07T12:20:00Z"]
