"""EventBridge's API (``boto3.client("events")``) answered from a ``World``.

Each operation reads AWS's request shape, calls the bus (which validates with
AWS's texts) and answers AWS's response shape.  Targets keep the definition
they were given, which ListTargetsByRule shows back, and deliver to the
resource their ``Arn`` names, found at delivery time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .._bus import EventBus, PutEventsRequestEntry
from .._delivery import RetryPolicy, Target
from .._exceptions import ResourceNotFoundError, ValidationError
from .._pattern import test_event_pattern
from .._world import World
from ._common import AwsError, Operations, get, page

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}


def _op(fn: Any) -> Any:
    OPERATIONS[fn.__name__.title().replace("_", "")] = fn
    return fn


def _bus(world: World, params: Mapping[str, Any], key: str = "EventBusName") -> EventBus:
    return world.bus(get(params, key, "default"))


# -- buses -------------------------------------------------------------------------------
def _bus_shape(world: World, bus: EventBus) -> dict[str, Any]:
    created = world.bus_created.get(bus.name)
    out: dict[str, Any] = {"Name": bus.name, "Arn": bus.arn}
    description = world.bus_settings.get(bus.name, {}).get("Description")
    if description is not None:
        out["Description"] = description
    if created is not None:
        out.update({"CreationTime": created, "LastModifiedTime": created})
    return out


@_op
def create_event_bus(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    for unmodelled in ("EventSourceName", "DeadLetterConfig", "KmsKeyIdentifier", "LogConfig"):
        if params.get(unmodelled) is not None:
            raise ValidationError(f"eventbus does not model CreateEventBus's {unmodelled} (partner event sources, "
                                  "a bus's own dead-letter queue, encryption keys, logging): leave it out")
    with world.lock:
        if name in world.buses:
            raise AwsError("ResourceAlreadyExistsException", f"Event bus {name} already exists.")
        if name == "default" or "/" in name:
            raise ValidationError(f"Event bus name must not be 'default' or contain '/': {name}")
        bus = EventBus(name, clock=world.clock, account=world.account, region=world.region)
        world.buses[name] = bus
        world.bus_created[name] = world.clock.now()
        world.bus_settings[name] = {"Description": params.get("Description"),
                                    "Tags": {tag["Key"]: tag["Value"] for tag in get(params, "Tags", [])}}
    out: dict[str, Any] = {"EventBusArn": bus.arn}
    if params.get("Description") is not None:
        out["Description"] = params["Description"]
    return out


@_op
def delete_event_bus(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    if name == "default":
        raise ValidationError("Cannot delete event bus default.")
    with world.lock:
        world.buses.pop(name, None)
        world.bus_created.pop(name, None)
        world.bus_settings.pop(name, None)
        for key in [key for key in world.targets if key[0] == name]:
            del world.targets[key]
    return {}


@_op
def describe_event_bus(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _bus_shape(world, _bus(world, params, "Name"))


@_op
def list_event_buses(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    prefix = get(params, "NamePrefix", "")
    return page([_bus_shape(world, bus) for name, bus in sorted(world.buses.items()) if name.startswith(prefix)],
                params, "EventBuses")


# -- rules -------------------------------------------------------------------------------
@_op
def put_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    if params.get("EventPattern") is None and params.get("ScheduleExpression") is None:
        raise ValidationError("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    arn = bus.put_rule(params["Name"], event_pattern=params.get("EventPattern"),
                       schedule_expression=params.get("ScheduleExpression"),
                       state=get(params, "State", "ENABLED"), description=params.get("Description"))
    return {"RuleArn": arn}


@_op
def delete_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    name = params["Name"]
    bus.delete_rule(name)
    world.targets.pop((bus.name, name), None)
    return {}


@_op
def describe_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _bus(world, params).describe_rule(params["Name"]).as_aws()


@_op
def list_rules(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    rules = _bus(world, params).list_rules(params.get("NamePrefix"))
    # (ListRules's Rule shape has no CreatedBy; DescribeRule's answer has)
    return page([{k: v for k, v in rule.as_aws().items() if k != "CreatedBy"} for rule in rules], params, "Rules")


@_op
def enable_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    _bus(world, params).enable_rule(params["Name"])
    return {}


@_op
def disable_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    _bus(world, params).disable_rule(params["Name"])
    return {}


@_op
def list_rule_names_by_target(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    arn = params["TargetArn"]
    names = sorted(rule for (bus_name, rule), targets in world.targets.items()
                   if bus_name == bus.name and any(t["Arn"] == arn for t in targets.values()))
    return page(names, params, "RuleNames")


# -- targets -----------------------------------------------------------------------------
def build_target(world: World, definition: Mapping[str, Any]) -> Target:
    """A ``Target`` from AWS's target shape (``Id``, ``Arn``, ``Input`` | ``InputPath`` |
    ``InputTransformer``, ``RetryPolicy``, ``DeadLetterConfig``)."""
    retry = definition.get("RetryPolicy")
    policy = None if retry is None else RetryPolicy(
        maximum_retry_attempts=int(retry.get("MaximumRetryAttempts", 185)),
        maximum_event_age_in_seconds=int(retry.get("MaximumEventAgeInSeconds", 86400)))
    dead_letter = (definition.get("DeadLetterConfig") or {}).get("Arn")
    if dead_letter is not None and world.resolve_kind(dead_letter) != "sqs":
        raise ValidationError(f"The dead-letter queue {dead_letter} is not an SQS queue ARN.")
    transformer = definition.get("InputTransformer")
    return Target(world.destination(definition["Arn"]), target_id=definition["Id"], input=definition.get("Input"),
                  input_path=definition.get("InputPath"),
                  input_transformer=None if transformer is None else dict(transformer), retry_policy=policy,
                  dead_letter_queue=None if dead_letter is None else world.destination(dead_letter),
                  clock=world.clock)


@_op
def put_targets(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    rule = params["Rule"]
    bus.describe_rule(rule)  # (ResourceNotFoundException before anything is built)
    definitions = [dict(d) for d in params["Targets"]]
    bus.put_targets(rule, [build_target(world, d) for d in definitions])
    kept = world.targets.setdefault((bus.name, rule), {})
    for definition in definitions:
        kept[definition["Id"]] = definition
    return {"FailedEntryCount": 0, "FailedEntries": []}


@_op
def remove_targets(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    rule = params["Rule"]
    ids = list(params["Ids"])
    bus.remove_targets(rule, ids)
    kept = world.targets.get((bus.name, rule), {})
    for target_id in ids:
        kept.pop(target_id, None)
    return {"FailedEntryCount": 0, "FailedEntries": []}


@_op
def list_targets_by_rule(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    bus = _bus(world, params)
    rule = params["Rule"]
    targets = bus.list_targets_by_rule(rule)
    kept = world.targets.get((bus.name, rule), {})
    return page([kept.get(t.target_id) or {"Id": t.target_id, "Arn": t.arn} for t in targets], params, "Targets")


# -- events ------------------------------------------------------------------------------
@_op
def put_events(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entries = list(params["Entries"])
    if not 1 <= len(entries) <= 10:
        raise ValidationError("1 validation error detected: Value '[...]' at 'entries' failed to satisfy "
                              "constraint: Member must have length less than or equal to 10")
    # each entry goes to the bus it names; results are answered in request order
    by_bus: dict[str, list[int]] = {}
    for number, entry in enumerate(entries):
        by_bus.setdefault(entry.get("EventBusName") or "default", []).append(number)
    results: list[dict[str, Any]] = [{} for _ in entries]
    failed = 0
    for name, numbers in by_bus.items():
        try:
            bus = world.bus(name)
        except ResourceNotFoundError as exc:
            for number in numbers:
                results[number] = {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": str(exc)}
            failed += len(numbers)
            continue
        answer = bus.put_events([cast(PutEventsRequestEntry, {**entries[n], "EventBusName": bus.name})
                                 for n in numbers])
        failed += answer["FailedEntryCount"]
        for number, result in zip(numbers, answer["Entries"], strict=True):
            results[number] = dict(result)
    return {"FailedEntryCount": failed, "Entries": results}


@_op
def test_event_pattern_(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"Result": test_event_pattern(params["Event"], params["EventPattern"])}


# -- archives and replays ----------------------------------------------------------------
def _bus_of_archive(world: World, name: str) -> EventBus:
    for bus in world.buses.values():
        if any(archive.name == name for archive in bus.list_archives()):
            return bus
    raise ResourceNotFoundError(f"Archive {name} does not exist.")


def _bus_of_replay(world: World, name: str) -> EventBus:
    for bus in world.buses.values():
        if any(replay.name == name for replay in bus.list_replays()):
            return bus
    raise ResourceNotFoundError(f"Replay {name} does not exist.")


@_op
def create_archive(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["ArchiveName"]
    try:
        _bus_of_archive(world, name)  # (archive names are the account's, not a bus's)
    except ResourceNotFoundError:
        pass
    else:
        raise AwsError("ResourceAlreadyExistsException", f"Archive {name} already exists.")
    bus = world.bus(params["EventSourceArn"])
    bus.create_archive(name, event_pattern=params.get("EventPattern"),
                       retention_days=get(params, "RetentionDays", 0), description=params.get("Description"))
    archive = bus.describe_archive(name)
    return {"ArchiveArn": archive.arn, "State": archive.state, "CreationTime": archive.creation_time}


@_op
def describe_archive(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["ArchiveName"]
    return _bus_of_archive(world, name).describe_archive(name).as_aws()


@_op
def list_archives(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    source = params.get("EventSourceArn")
    buses = [world.bus(source)] if source is not None else list(world.buses.values())
    archives = [a for bus in buses for a in bus.list_archives(name_prefix=params.get("NamePrefix"),
                                                              state=params.get("State"))]
    return page([_summary(a.as_aws(), ("ArchiveName", "EventSourceArn", "State", "StateReason",
                                               "RetentionDays", "SizeBytes", "EventCount", "CreationTime"))
                 for a in sorted(archives, key=lambda a: a.name)], params, "Archives")


@_op
def delete_archive(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["ArchiveName"]
    _bus_of_archive(world, name).delete_archive(name)
    return {}


@_op
def start_replay(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    archive_arn = params["EventSourceArn"]
    archive_name = archive_arn.rsplit("/", 1)[-1]
    destination = params["Destination"]
    bus = world.bus(destination["Arn"])
    if _bus_of_archive(world, archive_name) is not bus:
        raise ValidationError("Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not "
                              "permitted.")
    replay = bus.start_replay(params["ReplayName"], archive_arn, start_time=params["EventStartTime"],
                              end_time=params["EventEndTime"], rules=destination.get("FilterArns"),
                              description=params.get("Description"))
    out = {"ReplayArn": replay.arn, "State": replay.state, "ReplayStartTime": replay.replay_start_time}
    if replay.state_reason is not None:
        out["StateReason"] = replay.state_reason
    return out


@_op
def describe_replay(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["ReplayName"]
    return _bus_of_replay(world, name).describe_replay(name).as_aws()


@_op
def list_replays(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    replays = [r for bus in world.buses.values()
               for r in bus.list_replays(name_prefix=params.get("NamePrefix"), state=params.get("State"))]
    source = params.get("EventSourceArn")
    return page([_summary(r.as_aws(), ("ReplayName", "EventSourceArn", "State", "StateReason",
                                              "EventStartTime", "EventEndTime", "EventLastReplayedTime",
                                              "ReplayStartTime", "ReplayEndTime"))
                 for r in sorted(replays, key=lambda r: r.name)
                 if source is None or r.event_source_arn == source], params, "Replays")


@_op
def cancel_replay(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["ReplayName"]
    replay = _bus_of_replay(world, name).cancel_replay(name)
    return {"ReplayArn": replay.arn, "State": replay.state}


def _summary(full: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: full[key] for key in keys if key in full}
