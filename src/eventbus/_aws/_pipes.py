"""EventBridge Pipes's API (``boto3.client("pipes")``) answered from a ``World``.

CreatePipe builds an ``eventbus.Pipe`` from AWS's request shape: its source
is an SQS queue of the world, its filters, batching and input templates are
the request's, its enrichment is a Lambda function called synchronously with
the batch (what it returns goes on; an error fails the batch, whose messages
come back to the queue), and its target is a Lambda function (called with
the batch, or invoked asynchronously with ``FIRE_AND_FORGET``), an SQS queue
(a message per item) or an event bus (an event per item).  A Lambda function
is found by its ARN at each call, as AWS finds it, so one created again
under the same name is the one called.  The request is kept as given and
DescribePipe shows it back with the pipe's state.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ConflictError, ResourceNotFoundError, ValidationError
from .._pipes import Pipe
from .._transform import _COMPACT
from .._validate import out_of_range
from .._world import PipeEntry, World
from ._common import Operations, get, page

__all__ = ["ENRICHMENT_KEYS", "OPERATIONS", "SOURCE_KEYS", "TARGET_KEYS"]

OPERATIONS: Operations = {}

MAX_DESCRIPTION = 512
# what eventbus's pipes do not model: other sources, HTTP enrichments, other targets' parameter blocks
SOURCE_KEYS = ("FilterCriteria", "SqsQueueParameters")
ENRICHMENT_KEYS = ("InputTemplate",)
TARGET_KEYS = ("InputTemplate", "LambdaFunctionParameters", "EventBridgeEventBusParameters")
_BUS_KEYS = ("DetailType", "Source", "Resources")
_SUMMARY = ("Name", "Arn", "DesiredState", "CurrentState", "StateReason", "CreationTime", "LastModifiedTime",
            "Source", "Target", "Enrichment")
_STATE = ("Arn", "Name", "DesiredState", "CurrentState", "CreationTime", "LastModifiedTime")


def _op(fn: Any) -> Any:
    OPERATIONS["".join(part.title() for part in fn.__name__.split("_"))] = fn
    return fn


class _Lambda:
    """A Lambda function named by ARN, found at each call: called synchronously with
    the batch (its result is returned, its error raised), or, ``asynchronous``,
    invoked with the batch as an ``Event`` (``FIRE_AND_FORGET``)."""

    def __init__(self, world: World, arn: str, *, asynchronous: bool = False) -> None:
        self._world = world
        self.arn = arn
        self.clock = world.clock
        self._asynchronous = asynchronous

    def __repr__(self) -> str:
        return f"<Lambda {self.arn}>"

    def __call__(self, batch: list[Any]) -> Any:
        function = self._world.function(self.arn)
        if self._asynchronous:
            function.deliver(batch)  # (an Event invocation: its retries are the function's own)
            return None
        return function(batch)


class _Bus:
    """An event bus target with ``EventBridgeEventBusParameters``: an event per item,
    with the parameters' detail-type, source and resources (AWS's defaults otherwise)."""

    def __init__(self, world: World, arn: str, pipe_name: str, parameters: Mapping[str, Any]) -> None:
        self._world = world
        self.arn = arn
        self.clock = world.clock
        self._source = get(parameters, "Source", f"Pipe {pipe_name}")
        self._detail_type = get(parameters, "DetailType", "Event from aws:sqs")
        self._resources = list(get(parameters, "Resources", []))

    def __repr__(self) -> str:
        return f"<EventBus {self.arn}>"

    def __call__(self, batch: list[Any]) -> None:
        bus = self._world.bus(self.arn)
        for at in range(0, len(batch), 10):
            entries: list[Any] = []
            for item in batch[at:at + 10]:
                entry = {"Source": self._source, "DetailType": self._detail_type,
                         "Detail": _COMPACT.encode(item if isinstance(item, dict) else {"value": item})}
                if self._resources:
                    entry["Resources"] = self._resources
                entries.append(entry)
            response = bus.put_events(entries)
            if response["FailedEntryCount"]:
                failed = [e for e in response["Entries"] if "ErrorCode" in e]
                raise ValidationError(f"{len(failed)} events were refused: {failed[0].get('ErrorMessage')}")


def _only(block: Mapping[str, Any] | None, allowed: Sequence[str], where: str, why: str) -> None:
    for key, value in (block or {}).items():
        if value is not None and key not in allowed:
            raise ValidationError(f"eventbus does not model {where}.{key}: {why}")


def _service(world: World, arn: str) -> str:
    """The service an ARN names (AWS's text for one that is not an ARN)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        world.resolve_kind(arn)  # (raises AWS's "Provided Arn is not in correct format")
    return parts[2]


def _source(world: World, arn: str) -> Any:
    if _service(world, arn) != "sqs":
        raise ValidationError(f"eventbus models pipes from SQS queues; Source {arn} is not an SQS queue ARN")
    try:
        return world.queue(arn)
    except ResourceNotFoundError:
        raise ValidationError(f"The source queue {arn} does not exist: eventbus needs a pipe's source queue to "
                              "exist when the pipe is created (create the queue first)") from None


def _target(world: World, name: str, arn: str, parameters: Mapping[str, Any]) -> Any:
    kind = world.resolve_kind(arn)
    invocation = (parameters.get("LambdaFunctionParameters") or {}).get("InvocationType")
    if invocation is not None and kind != "lambda":
        raise ValidationError("TargetParameters.LambdaFunctionParameters apply only to a Lambda function target.")
    bus_parameters = parameters.get("EventBridgeEventBusParameters")
    if bus_parameters is not None and kind != "events":
        raise ValidationError("TargetParameters.EventBridgeEventBusParameters apply only to an event bus target.")
    try:
        if kind == "lambda":
            world.function(arn)  # (it must exist now; it is found again at each call)
            return _Lambda(world, arn, asynchronous=invocation == "FIRE_AND_FORGET")
        if kind == "sqs":
            return world.queue(arn)
        if ":event-bus/" not in arn:
            raise ValidationError(f"eventbus models event buses as EventBridge targets; {arn} is not an event bus ARN")
        bus = world.bus(arn)
    except ResourceNotFoundError:
        raise ValidationError(f"The target {arn} does not exist: eventbus needs a pipe's target to exist when the "
                              "pipe is created (create it first)") from None
    if bus_parameters is None:
        return bus
    _only(bus_parameters, _BUS_KEYS, "TargetParameters.EventBridgeEventBusParameters",
          "a pipe's events take a fixed detail-type, source and resources")
    for key in ("DetailType", "Source"):
        value = bus_parameters.get(key)
        if isinstance(value, str) and value.startswith("$."):
            raise ValidationError(f"eventbus does not model a JSON path in EventBridgeEventBusParameters.{key}: "
                                  "give a fixed value")
    return _Bus(world, bus.arn, name, bus_parameters)


def _enrichment(world: World, arn: str | None) -> _Lambda | None:
    if arn is None:
        return None
    if _service(world, arn) != "lambda":
        raise ValidationError(f"eventbus models Lambda functions as enrichments; {arn} is not a Lambda function ARN")
    try:
        world.function(arn)
    except ResourceNotFoundError:
        raise ValidationError(f"The enrichment {arn} does not exist: eventbus needs a pipe's enrichment to exist "
                              "when the pipe is created (create it first)") from None
    return _Lambda(world, arn)


def _entry(world: World, name: str) -> PipeEntry:
    found = world.pipes.get(name)
    if found is None:
        raise ResourceNotFoundError(f"Pipe {name} does not exist.")
    return found


def _described(entry: PipeEntry) -> dict[str, Any]:
    """DescribePipe's shape: the request as given, with the pipe's state and times."""
    pipe = entry.pipe
    out: dict[str, Any] = {"Arn": pipe.arn, **copy.deepcopy(entry.definition), "CurrentState": pipe.current_state}
    if pipe.state_reason is not None:
        out["StateReason"] = pipe.state_reason
    out["CreationTime"] = entry.created
    out["LastModifiedTime"] = entry.modified
    return out


def _state(entry: PipeEntry) -> dict[str, Any]:
    """The shape CreatePipe, StartPipe and StopPipe answer."""
    described = _described(entry)
    return {key: described[key] for key in _STATE}


# -- operations --------------------------------------------------------------------------
def _build(world: World, params: Mapping[str, Any], desired: Any) -> Pipe:
    """The ``Pipe`` a CreatePipe (or UpdatePipe's merged) request describes."""
    name = params["Name"]
    description = params.get("Description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise out_of_range("description", description,
                           f"Member must have length less than or equal to {MAX_DESCRIPTION}")
    source_parameters = get(params, "SourceParameters", {})
    _only(source_parameters, SOURCE_KEYS, "SourceParameters", "its pipes read SQS queues")
    enrichment_parameters = get(params, "EnrichmentParameters", {})
    _only(enrichment_parameters, ENRICHMENT_KEYS, "EnrichmentParameters", "its enrichments are Lambda functions")
    target_parameters = get(params, "TargetParameters", {})
    _only(target_parameters, TARGET_KEYS, "TargetParameters",
          "its pipes deliver to Lambda functions, standard SQS queues and event buses")
    queue = _source(world, params["Source"])
    enrichment = _enrichment(world, params.get("Enrichment"))
    target = _target(world, name, params["Target"], target_parameters)
    sqs = get(source_parameters, "SqsQueueParameters", {})
    filters = [f["Pattern"] for f in get(get(source_parameters, "FilterCriteria", {}), "Filters", [])
               if f.get("Pattern") is not None]
    return Pipe(name, queue, target, filters=filters, enrichment=enrichment,
                enrichment_input_template=enrichment_parameters.get("InputTemplate"),
                target_input_template=target_parameters.get("InputTemplate"),
                batch_size=int(get(sqs, "BatchSize", 10)),
                maximum_batching_window_in_seconds=int(get(sqs, "MaximumBatchingWindowInSeconds", 0)),
                desired_state=desired, clock=world.clock, account=world.account, region=world.region)


@_op
def create_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    if name in world.pipes:
        raise ConflictError(f"Pipe {name} already exists.")
    desired = get(params, "DesiredState", "RUNNING")
    with world.lock:
        if name in world.pipes:
            raise ConflictError(f"Pipe {name} already exists.")
        pipe = _build(world, params, desired)
        now = world.clock.now()
        definition = {key: copy.deepcopy(value) for key, value in params.items() if value is not None}
        definition["DesiredState"] = desired
        entry = PipeEntry(pipe, definition, now, now)
        world.pipes[name] = entry
        world.tags[pipe.arn] = dict(get(params, "Tags", {}))
    return _state(entry)


@_op
def update_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    """AWS's UpdatePipe: what the request gives replaces what the pipe had (the
    source stays; ``SourceParameters``' filters and batching may change).  The
    pipe is built again; messages the old one holds in flight come back to the
    queue after their visibility timeout and are read by the new one."""
    name = params["Name"]
    with world.lock:
        entry = _entry(world, name)
        merged = copy.deepcopy(entry.definition)
        for key, value in params.items():
            if value is None:
                continue
            if key == "SourceParameters":
                merged["SourceParameters"] = {**merged.get("SourceParameters", {}), **copy.deepcopy(value)}
            else:
                merged[key] = copy.deepcopy(value)
        desired = merged.get("DesiredState", "RUNNING")
        pipe = _build(world, merged, "STOPPED")  # (built first: a bad update leaves the old pipe running)
        entry.pipe.stop()
        entry.pipe, entry.definition, entry.modified = pipe, merged, world.clock.now()
        if desired == "RUNNING":
            pipe.start()
    return _state(entry)


@_op
def describe_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _described(_entry(world, params["Name"]))


def _set_state(world: World, params: Mapping[str, Any], desired: str) -> dict[str, Any]:
    with world.lock:
        entry = _entry(world, params["Name"])
        if desired == "RUNNING":
            entry.pipe.start()
        else:
            entry.pipe.stop()
        if entry.definition.get("DesiredState") != desired:
            entry.definition["DesiredState"] = desired
            entry.modified = world.clock.now()
    return _state(entry)


@_op
def start_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _set_state(world, params, "RUNNING")


@_op
def stop_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _set_state(world, params, "STOPPED")


@_op
def delete_pipe(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    with world.lock:
        entry = _entry(world, params["Name"])
        entry.pipe.stop()
        del world.pipes[entry.pipe.name]
        world.tags.pop(entry.pipe.arn, None)
    # AWS answers while the pipe is being deleted
    return {**_state(entry), "DesiredState": "DELETED", "CurrentState": "DELETING"}


@_op
def list_pipes(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name_prefix = get(params, "NamePrefix", "")
    source_prefix = get(params, "SourcePrefix", "")
    target_prefix = get(params, "TargetPrefix", "")
    desired, current = params.get("DesiredState"), params.get("CurrentState")
    shown = []
    for name, entry in sorted(world.pipes.items()):
        described = _described(entry)
        if (name.startswith(name_prefix) and described["Source"].startswith(source_prefix)
                and described["Target"].startswith(target_prefix)
                and (desired is None or described["DesiredState"] == desired)
                and (current is None or described["CurrentState"] == current)):
            shown.append({key: described[key] for key in _SUMMARY if key in described})
    return page(shown, params, "Pipes")


def _tagged_pipe(world: World, arn: str) -> str:
    for entry in world.pipes.values():
        if entry.pipe.arn == arn:
            world.tags.setdefault(arn, {})
            return arn
    raise ResourceNotFoundError(f"Pipe {arn.rsplit('/', 1)[-1]} does not exist.")


@_op
def tag_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    world.tags[_tagged_pipe(world, params["resourceArn"])].update(params["tags"])
    return {}


@_op
def untag_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = _tagged_pipe(world, params["resourceArn"])
    for key in params["tagKeys"]:
        world.tags[arn].pop(key, None)
    return {}


@_op
def list_tags_for_resource(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"tags": dict(world.tags[_tagged_pipe(world, params["resourceArn"])])}
