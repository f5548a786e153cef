"""EventBridge Scheduler in process: groups and schedules with AWS's names, limits
and errors, and fires on virtual time through the delivery layer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventbus
from eventbus import (
    ConflictError,
    EventBus,
    ManualClock,
    Queue,
    RetryPolicy,
    Scheduler,
    ServiceQuotaExceededError,
    Target,
    ValidationError,
)

from ..support import message
from .test_fire_times import walk

T0 = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # a Saturday; New York springs forward the next day


def setup(start: datetime = T0, **kwargs: Any) -> tuple[ManualClock, Scheduler]:
    clock = ManualClock(start)
    return clock, Scheduler(clock=clock, **kwargs)


class Recorder:
    """A target that keeps what it got and when, and fails its first ``failures`` calls."""

    def __init__(self, clock: eventbus.Clock, failures: int = 0) -> None:
        self.clock = clock
        self.failures = failures
        self.got: list[tuple[datetime, Any]] = []

    def __call__(self, payload: Any) -> None:
        self.got.append((self.clock.now(), payload))
        if len(self.got) <= self.failures:
            raise RuntimeError(f"call {len(self.got)} fails")

    @property
    def times(self) -> list[datetime]:
        return [at for at, _ in self.got]

    def offsets(self) -> list[float]:
        """Seconds from each fire's scheduled time (its input's ``at``) to its call."""
        return [(at - datetime.fromisoformat(payload["at"].replace("Z", "+00:00"))).total_seconds()
                for at, payload in self.got]


# -- groups --------------------------------------------------------------------------
def test_the_default_group_is_always_there_and_stays() -> None:
    _, scheduler = setup()
    group = scheduler.get_schedule_group("default")
    assert group.as_aws() == {"Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule-group/default",
                              "CreationDate": T0, "LastModificationDate": T0, "Name": "default", "State": "ACTIVE"}
    assert message(lambda: scheduler.delete_schedule_group("default")) == (
        "ValidationError: The default schedule group cannot be deleted.")


def test_groups_are_created_listed_and_deleted_with_their_schedules() -> None:
    clock, scheduler = setup()
    arn = scheduler.create_schedule_group("jobs.nightly", tags={"team": "data"})
    assert arn == "arn:aws:scheduler:us-east-1:123456789012:schedule-group/jobs.nightly"
    assert message(lambda: scheduler.create_schedule_group("jobs.nightly")) == (
        "ConflictError: Schedule group jobs.nightly already exists.")
    scheduler.create_schedule_group("jobs-hourly")
    assert [g.name for g in scheduler.list_schedule_groups()] == ["default", "jobs-hourly", "jobs.nightly"]
    assert [g.name for g in scheduler.list_schedule_groups(name_prefix="jobs.")] == ["jobs.nightly"]
    assert scheduler.get_schedule_group("jobs.nightly").tags == (("team", "data"),)
    target = Recorder(clock)
    scheduler.create_schedule("a", "rate(1 hour)", target, group="jobs.nightly")
    scheduler.delete_schedule_group("jobs.nightly")
    assert message(lambda: scheduler.get_schedule_group("jobs.nightly")) == (
        "ResourceNotFoundError: Schedule group jobs.nightly does not exist.")
    assert message(lambda: scheduler.get_schedule("a", group="jobs.nightly")) == (
        "ResourceNotFoundError: Schedule group jobs.nightly does not exist.")
    clock.advance(timedelta(hours=3))
    assert target.got == []  # not even the fire due at creation: the group went first
    assert scheduler.list_schedules() == []


@pytest.mark.parametrize(("call", "expected"), [
    (lambda s: s.create_schedule_group("bad name"),
     "ValidationError: 1 validation error detected: Value 'bad name' at 'name' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [0-9a-zA-Z\\-_.]+"),
    (lambda s: s.create_schedule_group("x" * 65),
     "ValidationError: 1 validation error detected: Value '" + "x" * 65 + "' at 'name' failed to satisfy "
     "constraint: Member must have length less than or equal to 64"),
    (lambda s: s.create_schedule_group("g", tags={"k": ""}),
     "ValidationError: 1 validation error detected: Value '' at 'tags.member.value' failed to satisfy "
     "constraint: Member must have length greater than or equal to 1"),
    (lambda s: s.create_schedule_group("g", tags={"k": "v" * 257}),
     "ValidationError: 1 validation error detected: Value '" + "v" * 77 + "...' at 'tags.member.value' failed to "
     "satisfy constraint: Member must have length less than or equal to 256"),
    (lambda s: s.get_schedule_group("nope"), "ResourceNotFoundError: Schedule group nope does not exist."),
    (lambda s: s.delete_schedule_group("nope"), "ResourceNotFoundError: Schedule group nope does not exist."),
])
def test_bad_group_calls_are_refused_in_aws_words(call: Any, expected: str) -> None:
    assert message(lambda: call(setup()[1])) == expected


def test_quotas_raise_service_quota_exceeded() -> None:
    clock, scheduler = setup(max_schedules=2, max_schedule_groups=2)
    scheduler.create_schedule_group("one")
    with pytest.raises(ServiceQuotaExceededError) as caught:
        scheduler.create_schedule_group("two")
    assert caught.value.error_code == "ServiceQuotaExceededException"
    scheduler.create_schedule("a", "rate(1 hour)", Recorder(clock))
    scheduler.create_schedule("b", "rate(1 hour)", Recorder(clock))
    with pytest.raises(ServiceQuotaExceededError):
        scheduler.create_schedule("c", "rate(1 hour)", Recorder(clock))
    scheduler.delete_schedule("a")
    scheduler.create_schedule("c", "rate(1 hour)", Recorder(clock))  # room again


# -- schedules: names, limits, errors ------------------------------------------------
def test_a_schedule_is_created_read_listed_and_deleted() -> None:
    clock, scheduler = setup()
    queue = Queue("dlq", clock=clock)
    arn = scheduler.create_schedule("report", "cron(0 9 ? * MON-FRI *)", Recorder(clock), timezone="Europe/Paris",
                                    description="weekday report", input='{"kind": "report"}',
                                    retry_policy=RetryPolicy(maximum_retry_attempts=3,
                                                             maximum_event_age_in_seconds=600),
                                    dead_letter_queue=queue, flexible_time_window=15)
    assert arn == "arn:aws:scheduler:us-east-1:123456789012:schedule/default/report"
    shown = scheduler.get_schedule("report").as_aws()
    target = shown.pop("Target")
    assert shown == {
        "ActionAfterCompletion": "NONE", "Arn": arn, "CreationDate": T0, "Description": "weekday report",
        "FlexibleTimeWindow": {"MaximumWindowInMinutes": 15, "Mode": "FLEXIBLE"}, "GroupName": "default",
        "LastModificationDate": T0, "Name": "report", "ScheduleExpression": "cron(0 9 ? * MON-FRI *)",
        "ScheduleExpressionTimezone": "Europe/Paris", "State": "ENABLED"}
    assert target["Input"] == '{"kind": "report"}'
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 3}
    assert target["DeadLetterConfig"] == {"Arn": queue.arn}
    # Monday 9 March, 09:00 in Paris (UTC+1)
    assert scheduler.get_schedule("report").next_fire_time == datetime(2026, 3, 9, 8, tzinfo=UTC)
    assert [s.name for s in scheduler.list_schedules(state="ENABLED")] == ["report"]
    assert scheduler.list_schedules(state="DISABLED") == []
    assert scheduler.list_schedules(name_prefix="rep")[0].arn == arn
    assert message(lambda: scheduler.create_schedule("report", "rate(1 hour)", Recorder(clock))) == (
        "ConflictError: Schedule report already exists.")
    scheduler.delete_schedule("report")
    assert message(lambda: scheduler.get_schedule("report")) == (
        "ResourceNotFoundError: Schedule report does not exist.")
    assert message(lambda: scheduler.delete_schedule("report")) == (
        "ResourceNotFoundError: Schedule report does not exist.")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"expression": "rate(1 minutes)"}, "InvalidScheduleExpressionError: Invalid Schedule Expression rate(1 minutes)."),
    ({"expression": "cron(0 1 * * * *)"},
     "InvalidScheduleExpressionError: Invalid Schedule Expression cron(0 1 * * * *)."),
    ({"expression": 5}, "ValidationError: Invalid type for parameter ScheduleExpression, value: 5, type: "
                        "<class 'int'>, valid types: <class 'str'>"),
    ({"timezone": "Mars/Olympus"}, "ValidationError: Invalid time zone Mars/Olympus: not an IANA time zone name"),
    ({"timezone": "x" * 51}, "ValidationError: 1 validation error detected: Value '" + "x" * 51 + "' at "
                             "'scheduleExpressionTimezone' failed to satisfy constraint: Member must have length "
                             "less than or equal to 50"),
    ({"flexible_time_window": 0}, "ValidationError: 1 validation error detected: Value '0' at "
                                  "'flexibleTimeWindow.maximumWindowInMinutes' failed to satisfy constraint: Member "
                                  "must have value greater than or equal to 1"),
    ({"flexible_time_window": 1441}, "ValidationError: 1 validation error detected: Value '1441' at "
                                     "'flexibleTimeWindow.maximumWindowInMinutes' failed to satisfy constraint: "
                                     "Member must have value less than or equal to 1440"),
    ({"flexible_time_window": {"Mode": "FLEXIBLE"}},
     "ValidationError: MaximumWindowInMinutes is required when the FlexibleTimeWindow Mode is FLEXIBLE."),
    ({"flexible_time_window": {"Mode": "OFF", "MaximumWindowInMinutes": 5}},
     "ValidationError: MaximumWindowInMinutes is only allowed when the FlexibleTimeWindow Mode is FLEXIBLE."),
    ({"flexible_time_window": {"Mode": "SOMETIMES"}},
     "ValidationError: 1 validation error detected: Value 'SOMETIMES' at 'flexibleTimeWindow.mode' failed to "
     "satisfy constraint: Member must satisfy enum value set: [OFF, FLEXIBLE]"),
    ({"state": "PAUSED"}, "ValidationError: 1 validation error detected: Value 'PAUSED' at 'state' failed to "
                          "satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"),
    ({"action_after_completion": "ARCHIVE"},
     "ValidationError: 1 validation error detected: Value 'ARCHIVE' at 'actionAfterCompletion' failed to satisfy "
     "constraint: Member must satisfy enum value set: [NONE, DELETE]"),
    ({"start_date": T0 + timedelta(days=2), "end_date": T0 + timedelta(days=1)},
     "ValidationError: The EndDate must be after the StartDate."),
    ({"description": "d" * 513}, "ValidationError: 1 validation error detected: Value '" + "d" * 77 + "...' at "
                                 "'description' failed to satisfy constraint: Member must have length less than or "
                                 "equal to 512"),
    ({"input": ""}, "ValidationError: 1 validation error detected: Value '' at 'target.input' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 1"),
    ({"input": "not json"}, "ValidationError: The Input of target s must be well-formed JSON for this target (a "
                            "queue takes any text): not json"),
    ({"group": "nope"}, "ResourceNotFoundError: Schedule group nope does not exist."),
    ({"name": "has space"}, "ValidationError: 1 validation error detected: Value 'has space' at 'name' failed to "
                            "satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z\\-_.]+"),
    ({"target": 42}, "ValidationError: Invalid type for parameter Target, value: 42, type: <class 'int'>, valid "
                     "types: <class 'eventbus.Target'>, a Queue, a Function, an EventBus or a callable"),
    ({"event_bridge_parameters": {"Source": "s", "DetailType": "d"}},
     "ValidationError: EventBridgeParameters apply only to an EventBus target."),
])
def test_bad_settings_are_refused_and_change_nothing(kwargs: dict[str, Any], expected: str) -> None:
    clock, scheduler = setup()
    target = Recorder(clock)
    args: dict[str, Any] = {"name": "s", "expression": "rate(1 hour)", "target": target} | kwargs
    name, expression, target_arg = args.pop("name"), args.pop("expression"), args.pop("target")
    assert message(lambda: scheduler.create_schedule(name, expression, target_arg, **args)) == expected
    assert scheduler.list_schedules() == []
    clock.advance(timedelta(hours=2))
    assert target.got == []


def test_an_update_replaces_every_setting_and_a_bad_one_changes_nothing() -> None:
    clock, scheduler = setup()
    target = Target(Recorder(clock), target_id="t")
    scheduler.create_schedule("s", "rate(1 hour)", target, description="first", flexible_time_window=5)
    assert message(lambda: scheduler.update_schedule("s", "rate(0 hours)", target)) == (
        "InvalidScheduleExpressionError: Invalid Schedule Expression rate(0 hours).")
    assert scheduler.get_schedule("s").description == "first"
    clock.advance(timedelta(minutes=30))
    scheduler.update_schedule("s", "rate(2 hours)", target)  # the same Target may stay
    record = scheduler.get_schedule("s")
    assert (record.description, record.flexible_time_window) == (None, {"Mode": "OFF"})  # back to defaults
    assert record.creation_date == T0 and record.last_modification_date == T0 + timedelta(minutes=30)
    assert record.next_fire_time == T0 + timedelta(minutes=30)  # a rate counts from the update
    assert message(lambda: scheduler.update_schedule("gone", "rate(1 hour)", target)) == (
        "ResourceNotFoundError: Schedule gone does not exist.")


def test_a_target_belongs_to_one_schedule_and_keeps_its_own_settings() -> None:
    clock, scheduler = setup()
    target = Target(Recorder(clock), target_id="t", retry_policy=RetryPolicy(maximum_retry_attempts=0))
    scheduler.create_schedule("a", "rate(1 hour)", target)
    assert message(lambda: scheduler.create_schedule("b", "rate(1 hour)", target)).startswith(
        "ValidationError: Target t is already on schedule default/a")
    assert message(lambda: scheduler.create_schedule("c", "rate(1 hour)", Target(Recorder(clock), target_id="u"),
                                                     retry_policy=RetryPolicy())) == (
        "ValidationError: Give the retry policy and dead-letter queue to the Target itself (this schedule's target "
        "is a Target, built with its own)")
    assert message(lambda: scheduler.create_schedule("d", "rate(1 hour)",
                                                     Target(Recorder(clock), input_path="$.detail"))) == (
        "ValidationError: Target target has an input_path or input_transformer: a schedule has no event to take "
        "them from (give the schedule input=)")
    other = ManualClock()
    assert "objects that work together must share one clock" in message(
        lambda: scheduler.create_schedule("e", "rate(1 hour)", Target(Recorder(other), clock=other)))
    assert [s.name for s in scheduler.list_schedules()] == ["a"]
    # a Target's own input is the schedule's input
    recorder = Recorder(clock)
    scheduler.create_schedule("f", "rate(1 hour)", Target(recorder, target_id="f", input='{"from": "target"}'))
    clock.advance(0)
    assert recorder.got == [(T0, {"from": "target"})]
    assert scheduler.get_schedule("f").as_aws()["Target"]["Input"] == '{"from": "target"}'


# -- firing on virtual time --------------------------------------------------------------
def test_a_day_of_virtual_time_fires_every_schedule_at_its_instants() -> None:
    clock, scheduler = setup()
    every_5 = Recorder(clock)
    quarter = Recorder(clock)
    morning = Recorder(clock)
    scheduler.create_schedule("every-5", "rate(5 minutes)", every_5)
    scheduler.create_schedule("quarter", "cron(0/15 * * * ? *)", quarter)
    scheduler.create_schedule("morning", "cron(30 9 * * ? *)", morning, timezone="America/New_York")
    clock.advance(timedelta(days=1))
    # a rate with no start date fires when created, then every period
    assert every_5.times == [T0 + timedelta(minutes=5 * k) for k in range(24 * 12 + 1)]
    assert quarter.times == [T0 + timedelta(minutes=15 * k) for k in range(24 * 4 + 1)]
    # 09:30 in New York is 14:30 UTC on the 7th (EST); the 8th's (13:30 UTC, EDT) is past the day
    assert morning.times == [datetime(2026, 3, 7, 14, 30, tzinfo=UTC)]
    assert all(at.tzinfo is UTC for at in morning.times)  # the clock stays in UTC
    assert all(payload == {} for _, payload in every_5.got)  # no input: the target gets {}


def test_daylight_saving_in_a_named_zone() -> None:
    # America/New_York: 2026-03-08 07:00 UTC springs forward (02:00-02:59 do not exist),
    # 2026-11-01 06:00 UTC falls back (01:00-01:59 happen twice)
    clock, scheduler = setup(datetime(2026, 3, 7, tzinfo=UTC))
    spring = Recorder(clock)
    scheduler.create_schedule("spring", "cron(30 2 * * ? *)", spring, timezone="America/New_York")
    daily = Recorder(clock)
    scheduler.create_schedule("daily", "rate(1 day)", daily, timezone="America/New_York")
    clock.advance(timedelta(days=3))
    assert spring.times == [datetime(2026, 3, 7, 7, 30, tzinfo=UTC), datetime(2026, 3, 9, 6, 30, tzinfo=UTC)]
    assert daily.times == [datetime(2026, 3, 7 + k, tzinfo=UTC) for k in range(4)]  # 24 h apart regardless
    clock.advance_to(datetime(2026, 10, 31, 12, tzinfo=UTC))
    fall = Recorder(clock)
    scheduler.create_schedule("fall", "cron(30 1 * * ? *)", fall, timezone="America/New_York")
    clock.advance(timedelta(days=2))
    assert fall.times == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 2, 6, 30, tzinfo=UTC)]


def test_context_attributes_are_filled_in_per_fire_and_per_attempt() -> None:
    clock, scheduler = setup()
    target = Recorder(clock, failures=2)
    template = ('{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", '
                '"run": "<aws.scheduler.execution-id>", "attempt": <aws.scheduler.attempt-number>}')
    scheduler.create_schedule("ctx", "cron(0 * * * ? *)", target, input=template,
                              retry_policy=RetryPolicy(maximum_retry_attempts=5, base_delay=1, max_delay=1))
    clock.advance(timedelta(hours=2))
    payloads = [payload for _, payload in target.got]
    assert [p["attempt"] for p in payloads] == [1, 2, 3, 1, 1]
    assert {p["arn"] for p in payloads} == {"arn:aws:scheduler:us-east-1:123456789012:schedule/default/ctx"}
    assert [p["at"] for p in payloads] == ["2026-03-07T12:00:00Z"] * 3 + ["2026-03-07T13:00:00Z",
                                                                         "2026-03-07T14:00:00Z"]
    runs = [p["run"] for p in payloads]
    assert len(set(runs[:3])) == 1 and len(set(runs[2:])) == 3  # one id per fire, kept across its retries
    assert all(len(run) == 16 and int(run, 16) >= 0 for run in runs)


def test_a_failing_target_is_retried_then_dead_lettered_with_the_schedule_named() -> None:
    clock, scheduler = setup()
    dlq = Queue("dlq", clock=clock)

    def broken(payload: Any) -> None:
        raise RuntimeError("the service is down")

    scheduler.create_schedule("once", "at(2026-03-07T13:00:00)", broken, dead_letter_queue=dlq,
                              input='{"attempt": "<aws.scheduler.attempt-number>"}',
                              retry_policy=RetryPolicy(maximum_retry_attempts=2, base_delay=1, max_delay=1))
    clock.advance(timedelta(hours=2))
    [letter] = dlq.receive(max_messages=10)
    assert json.loads(letter.body) == {"attempt": "3"}  # what the last attempt delivered
    assert letter.attributes == {
        "X-Amz-Scheduler-Attempt": "3", "X-Amz-Scheduler-Group": "default", "X-Amz-Scheduler-Schedule": "once",
        "X-Amz-Scheduler-Schedule-Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/once",
        "TARGET_ARN": letter.attributes["TARGET_ARN"], "ERROR_CODE": "RuntimeError",
        "ERROR_MESSAGE": "the service is down", "RETRY_ATTEMPTS": "2",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts"}
    target = scheduler.get_schedule("once").target
    assert (target.metrics.dead_lettered, target.metrics.attempts, target.metrics.retries) == (1, 3, 2)


def test_the_flexible_window_spreads_fires_uniformly_and_a_seed_repeats_them() -> None:
    def offsets(seed: int) -> list[float]:
        clock, scheduler = setup(seed=seed)
        target = Recorder(clock)
        scheduler.create_schedule("flex", "rate(1 hour)", target, flexible_time_window=60,
                                  input='{"at": "<aws.scheduler.scheduled-time>"}')
        clock.advance(timedelta(days=10))
        return target.offsets()

    first = offsets(7)
    assert len(first) == 240 and all(0 <= offset < 3600 for offset in first)
    quarters = [sum(1 for o in first if q * 900 <= o < (q + 1) * 900) for q in range(4)]
    assert all(40 <= count <= 80 for count in quarters), quarters  # 60 expected in each
    assert offsets(7) == first
    assert offsets(8) != first


def test_one_time_schedules_fire_once_even_when_their_time_has_passed() -> None:
    clock, scheduler = setup()
    later = Recorder(clock)
    scheduler.create_schedule("later", "at(2026-03-07T15:30:00)", later, timezone="Europe/Paris",
                              start_date=T0 + timedelta(days=5))  # (ignored for at(...), as in AWS)
    past = Recorder(clock)
    scheduler.create_schedule("past", "at(2020-01-01T00:00:00)", past, input='{"at": "<aws.scheduler.scheduled-time>"}')
    gone = Recorder(clock)
    scheduler.create_schedule("gone", "at(2026-03-07T13:00:00)", gone, action_after_completion="DELETE")
    clock.advance(timedelta(days=1))
    assert later.times == [datetime(2026, 3, 7, 14, 30, tzinfo=UTC)]
    assert past.got == [(T0, {"at": "2020-01-01T00:00:00Z"})]  # at once, told the time it was for
    assert gone.times == [datetime(2026, 3, 7, 13, tzinfo=UTC)]
    assert [s.name for s in scheduler.list_schedules()] == ["later", "past"]  # DELETE removed "gone"
    assert scheduler.get_schedule("past").next_fire_time is None  # NONE: kept, with nothing left to fire


def test_start_and_end_dates_bound_a_recurring_schedule() -> None:
    clock, scheduler = setup()
    start, end = T0 + timedelta(hours=2, minutes=10), T0 + timedelta(hours=5)
    rate = Recorder(clock)
    scheduler.create_schedule("rate", "rate(1 hour)", rate, start_date=start, end_date=end,
                              action_after_completion="DELETE")
    cron = Recorder(clock)
    scheduler.create_schedule("cron", "cron(0 * * * ? *)", cron, start_date=start, end_date=end)
    clock.advance(timedelta(days=1))
    assert rate.times == [start, start + timedelta(hours=1), start + timedelta(hours=2)]
    assert cron.times == [T0 + timedelta(hours=h) for h in (3, 4)]  # the end is not included
    assert [s.name for s in scheduler.list_schedules()] == ["cron"]


def test_a_disabled_schedule_does_not_fire_and_enabling_does_not_replay() -> None:
    clock, scheduler = setup()
    recorder = Recorder(clock)
    target = Target(recorder, target_id="t")
    scheduler.create_schedule("s", "cron(0 * * * ? *)", target, state="DISABLED")
    clock.advance(timedelta(hours=5, minutes=30))
    assert target.metrics.accepted == 0
    assert scheduler.get_schedule("s").next_fire_time is None
    scheduler.update_schedule("s", "cron(0 * * * ? *)", target, state="ENABLED")
    clock.advance(timedelta(hours=2))
    assert recorder.times == [T0 + timedelta(hours=6), T0 + timedelta(hours=7)]


def test_deleting_a_schedule_stops_it_and_lets_a_waiting_retry_end() -> None:
    clock, scheduler = setup()
    target = Recorder(clock, failures=1)
    scheduler.create_schedule("s", "rate(10 minutes)", target,
                              retry_policy=RetryPolicy(base_delay=60, max_delay=60))
    clock.advance(1)
    scheduler.delete_schedule("s")
    clock.advance(timedelta(hours=1))
    assert len(target.got) == 2  # the first attempt, then its retry; no later fire


def test_targets_of_every_kind_receive_the_input() -> None:
    clock = ManualClock(T0)
    scheduler = Scheduler(clock=clock)
    queue = Queue("jobs", clock=clock)
    scheduler.create_schedule("to-queue", "rate(1 hour)", queue, input="plain text, <aws.scheduler.scheduled-time>")
    handled = []
    function = eventbus.Function(lambda event, context: handled.append(event), name="fn", clock=clock)
    scheduler.create_schedule("to-function", "rate(1 hour)", function, input='{"job": 1}')
    bus = EventBus(clock=clock)
    seen: list[Any] = []
    bus.put_rule("from-scheduler", event_pattern={"source": ["billing"]})
    bus.put_targets("from-scheduler", [Target(seen.append, target_id="seen")])
    scheduler.create_schedule("to-bus", "rate(1 hour)", bus, input='{"invoice": "<aws.scheduler.execution-id>"}',
                              event_bridge_parameters={"Source": "billing", "DetailType": "Invoice Due"})
    got_async = []

    async def handler(payload: Any) -> None:
        got_async.append(payload)

    scheduler.create_schedule("to-async", "rate(1 hour)", handler, input='{"async": true}')
    clock.advance(timedelta(minutes=1))
    [message_] = queue.receive()
    assert message_.body == "plain text, 2026-03-07T12:00:00Z"
    assert handled == [{"job": 1}]
    [event] = seen
    assert (event["source"], event["detail-type"], event["time"]) == ("billing", "Invoice Due",
                                                                      "2026-03-07T12:00:00Z")
    assert event["resources"] == ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/to-bus"]
    assert len(event["detail"]["invoice"]) == 16
    assert got_async == [{"async": True}]
    assert message(lambda: scheduler.create_schedule("bad-bus", "rate(1 hour)", bus, input="[1]")) == (
        "ValidationError: The Input of target bad-bus is the event's detail, so it must be a JSON object: [1]")


def test_a_target_built_without_a_clock_takes_the_schedulers() -> None:
    clock, scheduler = setup()
    got: list[Any] = []
    target = Target(got.append, target_id="t")
    assert target.clock is not clock
    scheduler.create_schedule("s", "rate(1 hour)", target)
    assert target.clock is clock
    clock.advance(timedelta(hours=1))
    assert got == [{}, {}]


# -- missed fires ------------------------------------------------------------------------------
def test_a_late_timer_fires_once_for_the_latest_missed_time() -> None:
    """A process suspended for hours (the wall clock moved on; the timer ran late)."""
    from ..support import ListClock
    clock = ListClock()
    clock.time = T0
    scheduler = Scheduler(clock=clock)
    target = Recorder(clock)
    scheduler.create_schedule("rate", "rate(10 minutes)", target, input='{"at": "<aws.scheduler.scheduled-time>"}')
    cron = Recorder(clock)
    scheduler.create_schedule("cron", "cron(0 * * * ? *)", cron, input='{"at": "<aws.scheduler.scheduled-time>"}')
    clock.run_first()  # the rate's fire at creation, on time
    clock.run_first()  # the cron's, on time
    clock.time = T0 + timedelta(hours=5, minutes=3)  # suspended: both timers are late now
    clock.run_first()
    clock.run_first()
    assert [p["at"] for _, p in target.got] == ["2026-03-07T12:00:00Z", "2026-03-07T17:00:00Z"]
    assert [p["at"] for _, p in cron.got] == ["2026-03-07T12:00:00Z", "2026-03-07T17:00:00Z"]
    assert scheduler.get_schedule("rate").missed_fires == 30 - 1  # 12:10 ... 17:00, fired once
    assert scheduler.get_schedule("cron").missed_fires == 4  # 13:00 ... 17:00, fired once
    assert scheduler.get_schedule("rate").next_fire_time == T0 + timedelta(hours=5, minutes=10)
    assert scheduler.get_schedule("cron").next_fire_time == T0 + timedelta(hours=6)


# -- a property: fires equal the plain walk ----------------------------------------------
@settings(max_examples=25, deadline=None)
@given(minute=st.sampled_from(["0", "*/7", "15,45", "0-10/5"]), hour=st.sampled_from(["*", "1-3", "0/6", "22"]),
       zone=st.sampled_from(["UTC", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe"]),
       start=st.sampled_from([datetime(2026, 3, 6, 20), datetime(2026, 4, 3, 10), datetime(2026, 10, 30, 3),
                              datetime(2026, 10, 2, 7)]))
def test_a_scheduler_fires_exactly_the_minutes_the_wall_clock_allows(minute: str, hour: str, zone: str,
                                                                    start: datetime) -> None:
    start = start.replace(tzinfo=UTC)
    clock, scheduler = setup(start)
    target = Recorder(clock)
    scheduler.create_schedule("p", f"cron({minute} {hour} * * ? *)", target, timezone=zone)
    until = start + timedelta(days=3)
    clock.advance_to(until)
    expected = walk([minute, hour, "*", "*", "?", "*"], start - timedelta(minutes=1), until, ZoneInfo(zone))
    assert target.times == expected


# -- what a new user's review found ----------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"expression": "rate(99999999999999999999 days)"},
     "InvalidScheduleExpressionError: Invalid Schedule Expression rate(99999999999999999999 days)."),
    ({"expression": ""}, "ValidationError: 1 validation error detected: Value '' at 'scheduleExpression' failed to "
                         "satisfy constraint: Member must have length greater than or equal to 1"),
    ({"timezone": ""}, "ValidationError: 1 validation error detected: Value '' at 'scheduleExpressionTimezone' "
                       "failed to satisfy constraint: Member must have length greater than or equal to 1"),
    ({"timezone": "America"}, "ValidationError: Invalid time zone America: not an IANA time zone name"),
    ({"timezone": "localtime"}, "ValidationError: Invalid time zone localtime: not an IANA time zone name"),
    ({"timezone": "posix/UTC"}, "ValidationError: Invalid time zone posix/UTC: not an IANA time zone name"),
    ({"input": "NaN"}, "ValidationError: The Input of target s must be well-formed JSON for this target (a queue "
                       "takes any text): NaN"),
    ({"expression": "at(9999-12-31T23:59:59)", "timezone": "America/New_York"},
     "ValidationError: at(9999-12-31T23:59:59) in America/New_York is past the last time a datetime can hold"),
    ({"start_date": datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("America/New_York"))},
     "ValidationError: StartDate 9999-12-31 23:59:00-05:00 is out of range in UTC"),
])
def test_more_bad_settings_are_refused_clearly(kwargs: dict[str, Any], expected: str) -> None:
    test_bad_settings_are_refused_and_change_nothing(kwargs, expected)


def test_an_event_bus_targets_source_follows_aws_pattern() -> None:
    clock, scheduler = setup()
    bus = EventBus(clock=clock)
    for source, detail_type, expected in [
        ("aws.ec2", "d", "Member must satisfy regular expression pattern"),
        ("", "d", "Member must have length greater than or equal to 1"),
        ("s", "", "Member must have length greater than or equal to 1"),
    ]:
        parameters = {"Source": source, "DetailType": detail_type}
        assert expected in message(lambda p=parameters: scheduler.create_schedule(  # type: ignore[misc]
            "b", "rate(1 hour)", bus, event_bridge_parameters=p))
    assert scheduler.list_schedules() == []


def test_a_failed_update_changes_nothing() -> None:
    clock, scheduler = setup()
    target = Recorder(clock)
    scheduler.create_schedule("u", "cron(0 * * * ? *)", target, description="original")
    before = scheduler.get_schedule("u")
    with pytest.raises(ValidationError):
        scheduler.update_schedule("u", "at(9999-12-31T23:59:59)", target, timezone="America/New_York")
    assert scheduler.get_schedule("u") == before
    clock.advance(timedelta(hours=2))
    assert target.times == [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]  # still firing, every hour
    clock.shutdown()
    with pytest.raises(eventbus.ClockClosedError):
        scheduler.update_schedule("u", "rate(5 minutes)", target, description="new")
    assert scheduler.get_schedule("u").description == "original"
    assert scheduler.get_schedule("u").schedule_expression == "cron(0 * * * ? *)"


def test_a_snapshot_cannot_change_the_schedule() -> None:
    clock, scheduler = setup()
    bus = EventBus(clock=clock)
    seen: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["billing"]})
    bus.put_targets("r", [Target(seen.append, target_id="t")])
    scheduler.create_schedule("b", "rate(1 hour)", bus, flexible_time_window=5,
                              event_bridge_parameters={"Source": "billing", "DetailType": "Tick"})
    snapshot = scheduler.get_schedule("b")
    with pytest.raises(TypeError):
        snapshot.event_bridge_parameters["Source"] = "aws.hacked"  # type: ignore[index]
    with pytest.raises(TypeError):
        snapshot.flexible_time_window["MaximumWindowInMinutes"] = 1  # type: ignore[index]
    clock.advance(timedelta(minutes=10))
    assert [event["source"] for event in seen] == ["billing"]


def test_a_huge_rate_fires_when_created_and_then_never_again() -> None:
    clock, scheduler = setup()
    target = Recorder(clock)
    scheduler.create_schedule("far", "rate(100000000 days)", target)  # the next fire is past the year 9999
    clock.advance(timedelta(days=1))
    assert target.times == [T0]
    assert scheduler.get_schedule("far").next_fire_time is None


def test_a_one_time_schedule_in_a_wall_time_the_clocks_skip_still_fires() -> None:
    # America/New_York skips 02:00-02:59 on 2026-03-08 (07:00 UTC): 02:30 fires when it would
    # have been, 07:30 UTC (03:30 EDT)
    clock, scheduler = setup()
    target = Recorder(clock)
    scheduler.create_schedule("gap", "at(2026-03-08T02:30:00)", target, timezone="America/New_York",
                              action_after_completion="DELETE")
    assert scheduler.get_schedule("gap").next_fire_time == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    clock.advance(timedelta(days=2))
    assert target.times == [datetime(2026, 3, 8, 7, 30, tzinfo=UTC)]
    assert scheduler.list_schedules() == []


def test_a_window_longer_than_the_period_still_draws_each_offset_on_its_own() -> None:
    clock, scheduler = setup()
    target = Recorder(clock)
    scheduler.create_schedule("busy", "rate(1 minute)", target, flexible_time_window=60,
                              input='{"at": "<aws.scheduler.scheduled-time>"}')
    clock.advance(timedelta(days=1))
    offsets = target.offsets()
    nominals = [payload["at"] for _, payload in target.got]
    assert len(set(nominals)) == len(nominals)  # each fire once
    assert all(0 <= offset < 3600 for offset in offsets)
    # every fire whose window closed within the day fired: 24 h of minutes, less the last hour's open windows
    assert len(offsets) >= 23 * 60
    deciles = [sum(1 for o in offsets if d * 360 <= o < (d + 1) * 360) for d in range(10)]
    assert all(abs(count - len(offsets) / 10) < len(offsets) / 10 * 0.25 for count in deciles), deciles
    assert target.times == sorted(target.times)


def test_run_until_idle_ends_though_a_failing_schedule_keeps_making_retries() -> None:
    clock, scheduler = setup()
    calls: list[datetime] = []

    def down(payload: Any) -> None:
        calls.append(clock.now())
        raise RuntimeError("down")

    scheduler.create_schedule("r", "rate(1 minute)", down,
                              retry_policy=RetryPolicy(maximum_retry_attempts=3, base_delay=600, max_delay=600))
    work: list[str] = []
    clock.call_later(timedelta(minutes=30), lambda: work.append("done"))
    clock.run_until_idle()  # the schedule's fires and retries run on the way; it ends with the other work
    assert work == ["done"] and clock.now() == T0 + timedelta(minutes=30)
    first_attempts = [t for t in calls if t.second == 0 and t.microsecond == 0]  # (retries: jittered)
    assert len(first_attempts) == 31  # every minute's, 12:00 to 12:30


def test_a_fire_racing_a_delete_leaves_no_timer() -> None:
    """A timer that started (on another thread) just as its schedule was deleted or
    updated: it must neither fire again later nor set a new timer."""
    from ..support import ListClock
    clock = ListClock()
    clock.time = T0
    scheduler = Scheduler(clock=clock)
    target = Recorder(clock)
    scheduler.create_schedule("x", "rate(1 minute)", target)
    [timer] = clock.timers
    timer.done = True  # the clock has started it...
    scheduler.delete_schedule("x")  # ...and the delete wins the lock
    timer.callback()
    assert target.got == [] and [t for t in clock.timers if not t.cancelled and not t.done] == []
    scheduler.create_schedule("y", "rate(1 minute)", target)
    [first] = [t for t in clock.timers if not t.cancelled and not t.done]
    first.done = True
    scheduler.update_schedule("y", "rate(2 minutes)", target)
    first.callback()  # the replaced timer: nothing
    live = [t for t in clock.timers if not t.cancelled and not t.done]
    assert len(live) == 1 and target.got == []


def test_threads_creating_updating_and_deleting_while_schedules_fire_leave_no_timer_behind() -> None:
    import threading

    clock = eventbus.SystemClock(workers=4)
    try:
        scheduler = Scheduler(clock=clock)
        errors: list[BaseException] = []

        def churn(worker: int) -> None:
            try:
                for i in range(150):
                    name = f"w{worker}-{i % 5}"
                    try:
                        scheduler.create_schedule(name, "rate(1 minute)", lambda payload: None)
                    except ConflictError:
                        scheduler.update_schedule(name, "rate(2 minutes)", lambda payload: None)
                    if i % 2:
                        scheduler.delete_schedule(name)
            except BaseException as exc:  # (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=churn, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert clock.idle(timeout=30)
        live = {t.label for _, _, t in clock._pool.heap if not t.cancelled}
        expected = {f"schedule default/{s.name}" for s in scheduler.list_schedules()}
        assert live == expected  # one timer per schedule left, none for a deleted one
        for schedule in scheduler.list_schedules():
            scheduler.delete_schedule(schedule.name)
        assert not [t for _, _, t in clock._pool.heap if not t.cancelled]
    finally:
        clock.shutdown(timeout=30)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"timezone": 5}, "ValidationError: Invalid type for parameter ScheduleExpressionTimezone, value: 5, type: "
                      "<class 'int'>, valid types: <class 'str'>"),
    ({"flexible_time_window": "5"}, "ValidationError: Invalid type for parameter FlexibleTimeWindow, value: 5, type: "
                                    "<class 'str'>, valid types: <class 'int'>, <class 'dict'>"),
    ({"flexible_time_window": True}, "ValidationError: Invalid type for parameter FlexibleTimeWindow, value: True, "
                                     "type: <class 'bool'>, valid types: <class 'int'>, <class 'dict'>"),
    ({"flexible_time_window": {"Mode": "OFF", "Window": 5}},
     'ValidationError: Unknown parameter in FlexibleTimeWindow: "Window", must be one of: MaximumWindowInMinutes, '
     "Mode"),
    ({"flexible_time_window": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 0}},
     "ValidationError: 1 validation error detected: Value '0' at 'flexibleTimeWindow.maximumWindowInMinutes' failed "
     "to satisfy constraint: Member must have value greater than or equal to 1"),
    ({"event_bridge_parameters": ["Source"]},
     "ValidationError: Invalid type for parameter EventBridgeParameters, value: ['Source'], type: <class 'list'>, "
     "valid types: <class 'dict'>"),
    ({"start_date": "2026-01-01"}, "ValidationError: Invalid type for parameter StartDate, value: 2026-01-01, type: "
                                   "<class 'str'>, valid types: <class 'datetime.datetime'>"),
])
def test_settings_of_the_wrong_shape_are_refused(kwargs: dict[str, Any], expected: str) -> None:
    test_bad_settings_are_refused_and_change_nothing(kwargs, expected)


def test_event_bridge_parameters_must_be_complete_and_known() -> None:
    clock, scheduler = setup()
    bus = EventBus(clock=clock)
    assert message(lambda: scheduler.create_schedule("b", "rate(1 hour)", bus,
                                                     event_bridge_parameters={"Source": "s"})) == (
        'ValidationError: Missing required parameter in EventBridgeParameters: "DetailType"')
    extra: dict[str, Any] = {"Source": "s", "DetailType": "d", "Extra": 1}
    assert message(lambda: scheduler.create_schedule("b", "rate(1 hour)", bus, event_bridge_parameters=extra)) == (
        'ValidationError: Unknown parameter in EventBridgeParameters: "Extra", must be one of: DetailType, Source')


def test_tags_must_be_a_mapping_of_at_most_200() -> None:
    _, scheduler = setup()
    assert message(lambda: scheduler.create_schedule_group("g", tags=[("k", "v")])) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter Tags, value: [('k', 'v')], type: <class 'list'>, valid types: "
        "<class 'dict'>")
    assert message(lambda: scheduler.create_schedule_group("g", tags={f"k{i}": "v" for i in range(201)})) == (
        "ValidationError: 1 validation error detected: Value '201 tags' at 'tags' failed to satisfy constraint: "
        "Member must have length less than or equal to 200")
    assert [g.name for g in scheduler.list_schedule_groups()] == ["default"]


def test_the_aws_shape_shows_every_setting_given() -> None:
    clock, scheduler = setup()
    bus = EventBus(clock=clock)
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=30)
    scheduler.create_schedule("full", "rate(1 day)", bus, start_date=start, end_date=end,
                              flexible_time_window={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
                              event_bridge_parameters={"Source": "billing", "DetailType": "Tick"})
    shown = scheduler.get_schedule("full").as_aws()
    assert (shown["StartDate"], shown["EndDate"]) == (start, end)
    assert shown["FlexibleTimeWindow"] == {"MaximumWindowInMinutes": 10, "Mode": "FLEXIBLE"}
    assert shown["Target"]["EventBridgeParameters"] == {"Source": "billing", "DetailType": "Tick"}
    assert shown["Target"]["Arn"] == bus.arn
    scheduler.update_schedule("full", "rate(1 day)", bus, flexible_time_window={"Mode": "OFF"})
    assert scheduler.get_schedule("full").as_aws()["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert repr(scheduler) == "<Scheduler 1 groups, 1 schedules>"


def test_an_input_is_given_once() -> None:
    clock, scheduler = setup()
    target = Target(Recorder(clock), target_id="t", input='{"a": 1}')
    assert message(lambda: scheduler.create_schedule("s", "rate(1 hour)", target, input='{"b": 2}')) == (
        "ValidationError: Target t has an input of its own: give the input once, to the schedule or to the Target")


def test_a_shut_clock_takes_no_schedule_and_nothing_is_left() -> None:
    clock, scheduler = setup()
    clock.shutdown()
    with pytest.raises(eventbus.ClockClosedError):
        scheduler.create_schedule("s", "rate(1 hour)", Recorder(clock))
    assert scheduler.list_schedules() == []
    bus = EventBus(clock=clock)
    with pytest.raises(eventbus.ClockClosedError):
        bus.put_rule("r", schedule_expression="rate(1 hour)")
    assert bus.list_rules() == []


def test_a_schedule_with_nothing_left_to_fire_and_delete_goes_at_once() -> None:
    clock, scheduler = setup()
    scheduler.create_schedule("past", "cron(0 12 * * ? 2020)", Recorder(clock), action_after_completion="DELETE")
    assert scheduler.list_schedules() == []
    scheduler.create_schedule("kept", "cron(0 12 * * ? 2020)", Recorder(clock))
    assert scheduler.get_schedule("kept").next_fire_time is None


def test_an_update_at_the_instant_a_fire_ran_does_not_fire_it_again() -> None:
    clock, scheduler = setup(T0 + timedelta(seconds=30))
    target = Recorder(clock)
    template = '{"at": "<aws.scheduler.scheduled-time>"}'
    scheduler.create_schedule("m", "cron(* * * * ? *)", target, input=template)
    clock.advance(30)  # 12:01 fires
    scheduler.update_schedule("m", "cron(* * * * ? *)", target, input=template, description="touched")
    clock.advance(60)
    assert [p["at"] for _, p in target.got] == ["2026-03-07T12:01:00Z", "2026-03-07T12:02:00Z"]
    # the same rate, updated, keeps counting from where it began
    rate = Recorder(clock)
    scheduler.create_schedule("r", "rate(5 minutes)", rate)  # 12:02, 12:07, ...
    for _ in range(4):
        clock.advance(timedelta(minutes=4))
        scheduler.update_schedule("r", "rate(5 minutes)", rate, description=f"at {clock.now():%H:%M}")
    assert [f"{t:%H:%M}" for t in rate.times] == ["12:02", "12:07", "12:12", "12:17"]


def test_a_fire_under_way_as_an_update_lands_delivers_what_it_was_due_with() -> None:
    clock, scheduler = setup()
    old, new = Recorder(clock), Recorder(clock)
    scheduler.create_schedule("s", "cron(0 13 * * ? *)", old, input='{"v": 1}')
    entry = scheduler._groups["default"].schedules["s"]
    assert entry.recurring is not None
    fire = entry.recurring.fire

    def racing(nominal: datetime, missed: int) -> None:  # another thread's update lands first
        scheduler.update_schedule("s", "cron(0 13 * * ? *)", new, input='{"v": 2}')
        fire(nominal, missed)

    entry.recurring.fire = racing
    clock.advance(timedelta(hours=1))
    assert old.got == [(T0 + timedelta(hours=1), {"v": 1})] and new.got == []
    clock.advance(timedelta(days=1))
    assert new.got == [(T0 + timedelta(days=1, hours=1), {"v": 2})]  # (13:00 fired once, by the old version)


def test_a_late_timer_with_a_window_fires_once() -> None:
    from ..support import ListClock
    clock = ListClock()
    clock.time = T0
    scheduler = Scheduler(clock=clock)
    target = Recorder(clock)
    scheduler.create_schedule("w", "rate(5 minutes)", target, flexible_time_window=90,
                              input='{"at": "<aws.scheduler.scheduled-time>"}')
    clock.time = T0 + timedelta(hours=5)  # suspended: every drawn fire is late
    while [t for t in clock.timers if not t.cancelled and not t.done]:
        clock.run_first()
        if clock.timers and clock.timers[0].when > clock.time:
            break
    late = [(at, p["at"]) for at, p in target.got if at == clock.time]
    assert len(late) == 1  # one fire for the whole pause
    record = scheduler.get_schedule("w")
    assert record.missed_fires + len(target.got) >= 5 * 12 + 1 - 18  # every 5 minutes, less the open windows


def test_a_late_timer_with_a_window_accounts_for_every_fire() -> None:
    """Each nominal time up to the last one fired was either fired or counted as missed."""
    from ..support import ListClock
    clock = ListClock()
    clock.time = T0
    scheduler = Scheduler(clock=clock, seed=3)
    target = Recorder(clock)
    scheduler.create_schedule("w", "rate(5 minutes)", target, flexible_time_window=30,
                              input='{"at": "<aws.scheduler.scheduled-time>"}')
    clock.time = T0 + timedelta(hours=5)
    while (due := [t for t in clock.timers if not t.cancelled and not t.done and t.when <= clock.time]):
        clock.timers.remove(due[0])
        due[0].done = True
        due[0].callback()
    assert len(target.got) == 1 and scheduler.get_schedule("w").missed_fires > 0  # one fire for the whole pause
    for _ in range(40):  # then time runs on as usual, each timer at its own time
        live = sorted((t for t in clock.timers if not t.cancelled and not t.done), key=lambda t: t.when)
        clock.time = max(clock.time, live[0].when)
        clock.timers.remove(live[0])
        live[0].done = True
        live[0].callback()
    fired = sorted(datetime.fromisoformat(p["at"].replace("Z", "+00:00")) for _, p in target.got)
    assert len(set(fired)) == len(fired)
    record = scheduler.get_schedule("w")
    assert record.next_fire_time is not None
    settled = record.next_fire_time - timedelta(minutes=5)  # every nominal time before the next is done with
    nominals = (settled - T0) // timedelta(minutes=5) + 1
    assert len([f for f in fired if f <= settled]) + record.missed_fires == nominals


def test_a_rate_counts_from_its_start_date_even_on_the_boundary() -> None:
    clock, scheduler = setup()
    target = Recorder(clock)
    scheduler.create_schedule("r", "rate(1 hour)", target, start_date=T0 - timedelta(hours=2))
    clock.advance(timedelta(hours=1))
    assert target.times == [T0, T0 + timedelta(hours=1)]  # on the boundary at creation: it fires then
