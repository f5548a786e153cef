"""EventBridge Scheduler's API (``boto3.client("scheduler")``) answered from a ``World``.

Each operation reads AWS's request shape and calls the world's ``Scheduler``,
which validates with AWS's texts and fires the schedules on the world's
clock.  A target's ``Arn`` names a Lambda function or an SQS queue, found at
each fire as AWS finds it (a queue takes the input as text, byte for byte),
or an event bus: the bus itself, which must exist, so that the scheduler
hands it the ``Scheduled Event`` it builds around the input.  What the
scheduler does not keep (the target's ``RoleArn``, the schedule's
``KmsKeyArn``) is kept here, per world, and shown back by GetSchedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .._delivery import RetryPolicy
from .._exceptions import ConflictError, ResourceNotFoundError, ValidationError
from .._schedule import Schedule
from .._world import World
from ._common import Operations, get, page

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}

# target parameter blocks for targets eventbus does not model (ECS, Kinesis, SageMaker, FIFO queues ...)
_UNMODELLED = ("EcsParameters", "EventBridgePutEventsV2Parameters", "EventBridgePutRawEventsParameters",
               "KinesisParameters", "SageMakerPipelineParameters", "SqsParameters")
_SUMMARY = ("Arn", "CreationDate", "GroupName", "LastModificationDate", "Name", "State")

# World.schedule_settings, per (group, schedule): the Target the scheduler built and what the request gave
# that the scheduler does not keep; shown only while the schedule still has that Target (an update builds another)


def _op(fn: Any) -> Any:
    OPERATIONS["".join(part.title() for part in fn.__name__.split("_"))] = fn
    return fn


def _date(name: str, value: object) -> datetime | None:
    """A timestamp as boto3 takes it (a ``datetime``, naive meaning UTC; epoch seconds;
    ISO 8601 text) as an aware ``datetime``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"Invalid timestamp for {name}: {value}") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise ValidationError(f"Invalid timestamp for {name}: {value!r}")


def _destination(world: World, arn: str) -> Any:
    kind = world.resolve_kind(arn)
    if kind != "events":
        return world.destination(arn)  # (a function or queue, found at each fire; a queue keeps the input as text)
    if ":event-bus/" not in arn:
        raise ValidationError(f"eventbus models event buses as EventBridge targets; {arn} is not an event bus ARN")
    try:
        return world.bus(arn)
    except ResourceNotFoundError:
        raise ValidationError(f"The event bus {arn} does not exist: eventbus needs a schedule's target bus to exist "
                              "when the schedule is created (create the bus first)") from None


def _settings(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    """The scheduler's keyword arguments from AWS's request shape."""
    definition = params["Target"]
    for key in _UNMODELLED:
        if definition.get(key) is not None:
            raise ValidationError(f"eventbus does not model Target.{key}: its schedules deliver to Lambda "
                                  "functions, standard SQS queues and event buses")
    retry = definition.get("RetryPolicy")
    policy = None if retry is None else RetryPolicy(
        maximum_retry_attempts=int(get(retry, "MaximumRetryAttempts", 185)),
        maximum_event_age_in_seconds=int(get(retry, "MaximumEventAgeInSeconds", 86400)))
    dead_letter = (definition.get("DeadLetterConfig") or {}).get("Arn")
    if dead_letter is not None and world.resolve_kind(dead_letter) != "sqs":
        raise ValidationError(f"The dead-letter queue {dead_letter} is not an SQS queue ARN.")
    parameters = definition.get("EventBridgeParameters")
    return {
        "target": _destination(world, definition["Arn"]),
        "group": params.get("GroupName"),
        "timezone": get(params, "ScheduleExpressionTimezone", "UTC"),
        "start_date": _date("StartDate", params.get("StartDate")),
        "end_date": _date("EndDate", params.get("EndDate")),
        "flexible_time_window": dict(params["FlexibleTimeWindow"]),
        "state": get(params, "State", "ENABLED"),
        "retry_policy": policy,
        "dead_letter_queue": None if dead_letter is None else world.destination(dead_letter),
        "action_after_completion": get(params, "ActionAfterCompletion", "NONE"),
        "input": definition.get("Input"),
        "description": params.get("Description"),
        "event_bridge_parameters": None if parameters is None else dict(parameters),
    }


def _keep(world: World, params: Mapping[str, Any]) -> None:
    record = world.scheduler.get_schedule(params["Name"], group=params.get("GroupName"))
    extra: dict[str, Any] = {"RoleArn": params["Target"]["RoleArn"]}
    if params.get("KmsKeyArn") is not None:
        extra["KmsKeyArn"] = params["KmsKeyArn"]
    world.schedule_settings[(record.group_name, record.name)] = (record.target, extra)


def _kept_for(world: World, record: Schedule) -> dict[str, Any]:
    found = world.schedule_settings.get((record.group_name, record.name))
    return found[1] if found is not None and found[0] is record.target else {}


def _group_checked(world: World, params: Mapping[str, Any]) -> None:
    """The schedule's group exists (``ResourceNotFoundException`` before anything is built)."""
    world.scheduler.get_schedule_group(get(params, "GroupName", "default"))


# -- schedules ---------------------------------------------------------------------------
@_op
def create_schedule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    _group_checked(world, params)
    try:
        world.scheduler.get_schedule(name, group=params.get("GroupName"))
    except ResourceNotFoundError:
        pass
    else:  # (a taken name is answered before the settings are checked)
        raise ConflictError(f"Schedule {name} already exists.")
    with world.lock:
        arn = world.scheduler.create_schedule(name, params["ScheduleExpression"], **_settings(world, params))
        _keep(world, params)
    return {"ScheduleArn": arn}


@_op
def update_schedule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    world.scheduler.get_schedule(name, group=params.get("GroupName"))  # (ResourceNotFoundException first)
    with world.lock:
        arn = world.scheduler.update_schedule(name, params["ScheduleExpression"], **_settings(world, params))
        _keep(world, params)
    return {"ScheduleArn": arn}


@_op
def get_schedule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    record = world.scheduler.get_schedule(params["Name"], group=params.get("GroupName"))
    shown = record.as_aws()
    extra = _kept_for(world, record)
    if "RoleArn" in extra:
        shown["Target"] = {"Arn": shown["Target"]["Arn"], "RoleArn": extra["RoleArn"],
                           **{k: v for k, v in shown["Target"].items() if k != "Arn"}}
    if "KmsKeyArn" in extra:
        shown["KmsKeyArn"] = extra["KmsKeyArn"]
    return shown


@_op
def delete_schedule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    with world.lock:
        world.scheduler.delete_schedule(params["Name"], group=params.get("GroupName"))
        world.schedule_settings.pop((get(params, "GroupName", "default"), params["Name"]), None)
    return {}


@_op
def list_schedules(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    records = world.scheduler.list_schedules(group=params.get("GroupName"), name_prefix=params.get("NamePrefix"),
                                             state=params.get("State"))
    return page([_summary(record) for record in records], params, "Schedules", limit="MaxResults")


def _summary(record: Schedule) -> dict[str, Any]:
    """ListSchedules's shape of a schedule (ScheduleSummary)."""
    shown = record.as_aws()
    return {**{key: shown[key] for key in _SUMMARY}, "Target": {"Arn": shown["Target"]["Arn"]}}


# -- groups ------------------------------------------------------------------------------
@_op
def create_schedule_group(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    tags = {tag["Key"]: tag["Value"] for tag in get(params, "Tags", [])}
    arn = world.scheduler.create_schedule_group(params["Name"], tags=tags)
    world.tags[arn] = dict(tags)
    return {"ScheduleGroupArn": arn}


def _tagged_group(world: World, arn: str) -> str:
    """A schedule group's ARN (only groups take tags in Scheduler)."""
    prefix = f"arn:aws:scheduler:{world.region}:{world.account}:schedule-group/"
    if not arn.startswith(prefix):
        raise ValidationError(f"eventbus tags schedule groups (Scheduler's taggable resource); {arn} is not one")
    group = world.scheduler.get_schedule_group(arn[len(prefix):])  # (ResourceNotFoundException if absent)
    world.tags.setdefault(group.arn, {})
    return group.arn


@_op
def tag_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = _tagged_group(world, params["ResourceArn"])
    world.tags[arn].update({tag["Key"]: tag["Value"] for tag in params["Tags"]})
    return {}


@_op
def untag_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = _tagged_group(world, params["ResourceArn"])
    for key in params["TagKeys"]:
        world.tags[arn].pop(key, None)
    return {}


@_op
def list_tags_for_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = _tagged_group(world, params["ResourceArn"])
    return {"Tags": [{"Key": key, "Value": value} for key, value in sorted(world.tags[arn].items())]}


@_op
def get_schedule_group(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return world.scheduler.get_schedule_group(params["Name"]).as_aws()


@_op
def list_schedule_groups(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    groups = world.scheduler.list_schedule_groups(name_prefix=params.get("NamePrefix"))
    return page([group.as_aws() for group in groups], params, "ScheduleGroups", limit="MaxResults")


@_op
def delete_schedule_group(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    with world.lock:
        arn = world.scheduler.get_schedule_group(name).arn
        world.scheduler.delete_schedule_group(name)
        world.tags.pop(arn, None)
        kept = world.schedule_settings
        for key in [key for key in kept if key[0] == name]:
            del kept[key]
    return {}
