"""What eventbus knows of each resource type: its name, ``Ref`` value and
attributes, and the AWS API calls (boto3's request shapes) that create it.

A ``Kind`` is one resource type.  ``identity`` names the resource before it
exists (CloudFormation's generated name when the template gives none), so
that every reference resolves in one pass; ``build`` turns the resource's
resolved properties into ``Call``s and says what it cannot model.  A
property a kind neither uses nor lists as inert (not affecting delivery) is
reported, never dropped silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .._aws._pipes import ENRICHMENT_KEYS, SOURCE_KEYS, TARGET_KEYS

__all__ = ["IGNORED", "KINDS", "Call", "Context", "Kind", "Planned", "coerce", "generated_name", "target_kind"]

_INERT = frozenset({"Description", "Tags", "KmsKeyIdentifier", "KmsKeyArn"})


@dataclass(frozen=True)
class Call:
    """One AWS API call: ``answer(world, service, operation, params)``."""

    service: str
    operation: str
    params: dict[str, Any]


@dataclass
class Planned:
    """One resource of the template, planned: its calls, or why it is ignored,
    and what of it is not modelled (a resource may be created with parts of
    it reported)."""

    logical_id: str
    type: str
    kind: str  # "bus", "rule", ..., "" for a type eventbus does not create
    name: str
    properties: dict[str, Any]  # resolved (what could be)
    calls: list[Call] = field(default_factory=list)
    ignored: str | None = None
    unmodelled: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    account: str
    region: str
    partition: str
    stack_name: str

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")


def generated_name(stack: str, logical: str, limit: int) -> str:
    """CloudFormation's name for a resource the template does not name:
    ``stack-LogicalId-SUFFIX``, cut to ``limit`` (the suffix is a hash, so the
    same template gives the same names)."""
    digest = hashlib.sha256(f"{stack}/{logical}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    suffix = "".join(alphabet[b % len(alphabet)] for b in digest[:12])
    return f"{stack}-{logical}"[: limit - len(suffix) - 1] + "-" + suffix


def target_kind(arn: object) -> str | None:
    """``lambda``, ``sqs`` or ``events`` (an event bus) for what eventbus delivers to, else ``None``."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    if parts[2] == "lambda" and parts[5] == "function":
        return "lambda"
    if parts[2] == "sqs":
        return "sqs"
    if parts[2] == "events" and parts[5].startswith("event-bus/"):
        return "events"
    return None


def _delivers_to(what: str, arn: object) -> str | None:
    if target_kind(arn) is not None:
        return None
    return f"{what} {arn}: eventbus delivers to Lambda functions, SQS queues and event buses only"


def _json(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json(value) if isinstance(value, dict | list) else str(value)


def _copy(props: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: props[name] for name in names if name in props}


def _bus_name(value: Any) -> str:
    text = str(value or "default")
    return text.rsplit("event-bus/", 1)[-1] if text.startswith("arn:") else text


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


# CloudFormation takes "7" for an integer property and "true" for a boolean; boto3 does not
_INTEGERS = frozenset({"RetentionDays", "Timeout", "MemorySize", "BatchSize", "MaximumBatchingWindowInSeconds",
                       "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "MaximumWindowInMinutes"})
_BOOLEANS = frozenset({"Enabled"})
_OPAQUE = frozenset({"InputPathsMap", "Variables", "Environment", "Tags", "tags", "Attributes", "EventPattern",
                     "Input", "InputTemplate"})


def coerce(value: Any, key: str = "") -> Any:
    """``value`` with CloudFormation's text for numbers and booleans as boto3 takes them."""
    if isinstance(value, dict):
        return {k: v if k in _OPAQUE else coerce(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce(item, key) for item in value]
    if key in _INTEGERS and isinstance(value, str | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else value
    if key in _BOOLEANS and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _only(p: Planned, what: str, given: Mapping[str, Any], allowed: set[str]) -> bool:
    """Report the keys of ``given`` outside ``allowed``; whether there were none."""
    extra = sorted(set(given) - allowed)
    if extra:
        p.unmodelled.append(f"{what}: {', '.join(extra)} not modelled")
    return not extra


# -- identities ----------------------------------------------------------------------------
Identify = Callable[[Context, str, Mapping[str, Any]], tuple[str, dict[str, Any]]]


def _named(service: str, form: str, *same: str) -> Identify:
    """A resource whose ``Ref`` is its name and whose ``Arn`` follows ``form``; ``same``
    names attributes whose value is the name too."""
    def identify(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        arn = ctx.arn(service, form.format(name=name, **{key: part(props) for key, part in _FORM_FIELDS.items()}))
        return name, {"Arn": arn, **dict.fromkeys(same, name)}
    return identify


_FORM_FIELDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "rule_path": lambda props: "" if _bus_name(props.get("EventBusName")) == "default"
    else _bus_name(props.get("EventBusName")) + "/",
    "group": lambda props: str(props.get("GroupName") or "default"),
}


def _queue(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    url = f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account}/{name}"
    return url, {"Arn": ctx.arn("sqs", name), "QueueName": name, "QueueUrl": url}


def _role(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    path = str(props.get("Path") or "/")
    role_id = "AROA" + hashlib.sha256(name.encode()).hexdigest()[:17].upper()
    return name, {"Arn": ctx.arn("iam", f"role{path}{name}", region=False), "RoleId": role_id}


def _mapping(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    uuid = hashlib.sha256(name.encode()).hexdigest()
    uuid = f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-8{uuid[17:20]}-{uuid[20:32]}"
    return uuid, {"Id": uuid, "EventSourceMappingArn": ctx.arn("lambda", f"event-source-mapping:{uuid}")}


def _opaque(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return name, {}


def generic_identity(type_name: str) -> Identify:
    """A type eventbus does not know: its ``Ref`` is its name and its ``Arn`` a guess
    from the type (``AWS::Foo::Bar`` -> ``arn:aws:foo:region:account:bar/name``)."""
    parts = type_name.split("::")
    service = parts[1].lower() if len(parts) == 3 else "unknown"
    resource = parts[2].lower() if len(parts) == 3 else "resource"

    def identify(ctx: Context, name: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        return name, {"Arn": ctx.arn(service, f"{resource}/{name}")}
    return identify


# -- builders ------------------------------------------------------------------------------
Build = Callable[[Planned], None]


def _bus(p: Planned) -> None:
    props = p.properties
    if "EventSourceName" in props:
        p.unmodelled.append("EventSourceName: partner event buses are not modelled")
        return
    p.calls.append(Call("events", "CreateEventBus", {"Name": p.name, **_copy(props, "Description")}))


_TARGET_KEYS = {"Id", "Arn", "Input", "InputPath", "InputTransformer", "RetryPolicy", "DeadLetterConfig", "RoleArn"}


def _rule(p: Planned) -> None:
    props = p.properties
    bus = _bus_name(props.get("EventBusName"))
    p.extra["bus"] = bus
    params: dict[str, Any] = {"Name": p.name, "EventBusName": bus}
    if "EventPattern" in props:
        params["EventPattern"] = _json(props["EventPattern"])
    params.update(_copy(props, "ScheduleExpression", "State", "Description", "RoleArn"))
    p.calls.append(Call("events", "PutRule", params))
    kept: list[dict[str, Any]] = []
    for number, target in enumerate(props.get("Targets") or []):
        label = f"Targets[{number}] ({target.get('Id', '?')})" if isinstance(target, dict) else f"Targets[{number}]"
        if not isinstance(target, dict):
            p.unmodelled.append(f"{label}: not a target object")
            continue
        problem = _delivers_to(label, target.get("Arn"))
        if problem is not None:
            p.unmodelled.append(problem)
        elif _only(p, label, target, _TARGET_KEYS):
            kept.append(target)
    if kept:
        p.calls.append(Call("events", "PutTargets", {"Rule": p.name, "EventBusName": bus, "Targets": kept}))


def _archive(p: Planned) -> None:
    props = p.properties
    params: dict[str, Any] = {"ArchiveName": p.name, "EventSourceArn": props.get("SourceArn")}
    if "EventPattern" in props:
        params["EventPattern"] = _json(props["EventPattern"])
    params.update(_copy(props, "RetentionDays", "Description"))
    p.calls.append(Call("events", "CreateArchive", params))


def _group(p: Planned) -> None:
    p.calls.append(Call("scheduler", "CreateScheduleGroup", {"Name": p.name}))


_SCHEDULE_TARGET_KEYS = {"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig", "EventBridgeParameters"}


def _schedule(p: Planned) -> None:
    props = p.properties
    target = props.get("Target") or {}
    p.extra["group"] = str(props.get("GroupName") or "default")
    problem = _delivers_to("Target", target.get("Arn"))
    if problem is not None:
        p.unmodelled.append(problem)
        return
    if not _only(p, "Target", target, _SCHEDULE_TARGET_KEYS):
        return
    params: dict[str, Any] = {"Name": p.name, **_copy(props, "GroupName", "ScheduleExpression",
                                                      "ScheduleExpressionTimezone", "FlexibleTimeWindow", "State",
                                                      "Description", "ActionAfterCompletion"),
                              "Target": dict(target)}
    for key in ("StartDate", "EndDate"):
        if key in props:
            params[key] = _date(props[key])
    p.calls.append(Call("scheduler", "CreateSchedule", params))


# what the pipes double takes (one list: a template is reported before anything is created, never refused
# half way through)
_PIPE_PARAMETERS = {"SourceParameters": set(SOURCE_KEYS), "EnrichmentParameters": set(ENRICHMENT_KEYS),
                    "TargetParameters": set(TARGET_KEYS)}


def _pipe(p: Planned) -> None:
    props = p.properties
    fine = True
    if target_kind(props.get("Source")) != "sqs":
        p.unmodelled.append(f"Source {props.get('Source')}: eventbus models pipes from SQS queues only")
        fine = False
    if "Enrichment" in props and target_kind(props["Enrichment"]) != "lambda":
        p.unmodelled.append(f"Enrichment {props['Enrichment']}: eventbus models Lambda enrichments only")
        fine = False
    problem = _delivers_to("Target", props.get("Target"))
    if problem is not None:
        p.unmodelled.append(problem)
        fine = False
    for key, allowed in _PIPE_PARAMETERS.items():
        fine = _only(p, key, props.get(key) or {}, allowed) and fine
    if fine:
        p.calls.append(Call("pipes", "CreatePipe", {"Name": p.name, **_copy(
            props, "RoleArn", "Source", "SourceParameters", "Enrichment", "EnrichmentParameters", "Target",
            "TargetParameters", "DesiredState", "Description")}))


_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize",
                     "ReceiveMessageWaitTimeSeconds", "DelaySeconds", "RedrivePolicy", "RedriveAllowPolicy",
                     "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled")


def _sqs_queue(p: Planned) -> None:
    props = p.properties
    if _text(props.get("FifoQueue", False)) == "true":
        p.unmodelled.append("FifoQueue: eventbus models standard queues only")
        return
    if str(props.get("DelaySeconds", 0)) != "0":
        p.unmodelled.append("DelaySeconds: eventbus's queues deliver at once")
        return
    params: dict[str, Any] = {"QueueName": p.name,
                              "Attributes": {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}}
    tags = props.get("Tags")
    if isinstance(tags, list) and tags:
        params["tags"] = {str(t.get("Key")): str(t.get("Value")) for t in tags if isinstance(t, dict)}
    p.calls.append(Call("sqs", "CreateQueue", params))


def _function(p: Planned) -> None:
    props = p.properties
    if props.get("PackageType") == "Image" or "ImageUri" in (props.get("Code") or {}):
        p.unmodelled.append("PackageType Image: eventbus runs Python callables, not container images")
        return
    code = props.get("Code") or {}
    p.extra["runtime"] = props.get("Runtime")
    p.extra["handler"] = props.get("Handler")
    params: dict[str, Any] = {"FunctionName": p.name, **_copy(props, "Handler", "Runtime", "Role", "Timeout",
                                                              "MemorySize", "Environment", "DeadLetterConfig",
                                                              "Description", "Architectures")}
    params["Code"] = ({"ZipFile": code["ZipFile"]} if "ZipFile" in code
                      else _copy(code, "S3Bucket", "S3Key", "S3ObjectVersion"))
    if "ReservedConcurrentExecutions" in props:
        p.unmodelled.append("ReservedConcurrentExecutions: not modelled (the function runs unthrottled)")
    p.calls.append(Call("lambda", "CreateFunction", params))


def _invoke_config(p: Planned) -> None:
    props = p.properties
    if str(props.get("Qualifier", "$LATEST")) != "$LATEST":
        p.unmodelled.append(f"Qualifier {props.get('Qualifier')}: eventbus models $LATEST only (no versions or "
                            "aliases)")
        return
    destinations = props.get("DestinationConfig") or {}
    for side in ("OnSuccess", "OnFailure"):
        arn = (destinations.get(side) or {}).get("Destination")
        problem = None if arn is None else _delivers_to(f"DestinationConfig.{side}", arn)
        if problem is not None:
            p.unmodelled.append(problem)
            return
    p.calls.append(Call("lambda", "PutFunctionEventInvokeConfig", _copy(
        props, "FunctionName", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")))


def _event_source_mapping(p: Planned) -> None:
    props = p.properties
    if target_kind(props.get("EventSourceArn")) != "sqs":
        p.unmodelled.append(f"EventSourceArn {props.get('EventSourceArn')}: eventbus models event source "
                            "mappings from SQS queues only")
        return
    p.calls.append(Call("lambda", "CreateEventSourceMapping", _copy(
        props, "FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds", "Enabled",
        "FilterCriteria", "FunctionResponseTypes")))


@dataclass(frozen=True)
class Kind:
    kind: str
    name_property: str | None
    name_limit: int
    identify: Identify
    build: Build
    uses: frozenset[str]  # the properties build reads
    inert: frozenset[str] = _INERT  # accepted, not affecting delivery


def _kind(kind: str, name_property: str | None, limit: int, identify: Identify, build: Build, uses: str,
          inert: str = "") -> Kind:
    return Kind(kind, name_property, limit, identify, build, frozenset(uses.split()),
                _INERT | frozenset(inert.split()))


KINDS: dict[str, Kind] = {
    "AWS::Events::EventBus": _kind("bus", "Name", 256, _named("events", "event-bus/{name}", "Name"), _bus,
                                   "Name EventSourceName", "Policy DeadLetterConfig LogConfig"),
    "AWS::Events::Rule": _kind("rule", "Name", 64, _named("events", "rule/{rule_path}{name}"), _rule,
                               "Name EventBusName EventPattern ScheduleExpression State Targets", "RoleArn"),
    "AWS::Events::Archive": _kind("archive", "ArchiveName", 48,
                                  _named("events", "archive/{name}", "ArchiveName"), _archive,
                                  "ArchiveName SourceArn EventPattern RetentionDays"),
    "AWS::Scheduler::ScheduleGroup": _kind("schedule-group", "Name", 64,
                                           _named("scheduler", "schedule-group/{name}"), _group, "Name"),
    "AWS::Scheduler::Schedule": _kind("schedule", "Name", 64, _named("scheduler", "schedule/{group}/{name}"),
                                      _schedule, "Name GroupName ScheduleExpression ScheduleExpressionTimezone "
                                      "StartDate EndDate FlexibleTimeWindow State Target ActionAfterCompletion"),
    "AWS::Pipes::Pipe": _kind("pipe", "Name", 64, _named("pipes", "pipe/{name}"), _pipe,
                              "Name RoleArn Source SourceParameters Enrichment EnrichmentParameters Target "
                              "TargetParameters DesiredState", "LogConfiguration"),
    "AWS::SQS::Queue": _kind("queue", "QueueName", 80, _queue, _sqs_queue,
                             "QueueName FifoQueue " + " ".join(_QUEUE_ATTRIBUTES)),
    "AWS::Lambda::Function": _kind("function", "FunctionName", 64, _named("lambda", "function:{name}"), _function,
                                   "FunctionName Handler Runtime Role Code Timeout MemorySize Environment "
                                   "DeadLetterConfig Architectures PackageType ReservedConcurrentExecutions",
                                   "TracingConfig LoggingConfig VpcConfig Layers EphemeralStorage "
                                   "CodeSigningConfigArn FileSystemConfigs SnapStart RuntimeManagementConfig "
                                   "RecursiveLoop ImageConfig"),
    "AWS::Lambda::EventInvokeConfig": _kind("invoke-config", None, 64, _opaque, _invoke_config,
                                            "FunctionName Qualifier MaximumRetryAttempts MaximumEventAgeInSeconds "
                                            "DestinationConfig"),
    "AWS::Lambda::EventSourceMapping": _kind("event-source-mapping", None, 64, _mapping, _event_source_mapping,
                                             "FunctionName EventSourceArn BatchSize MaximumBatchingWindowInSeconds "
                                             "Enabled FilterCriteria FunctionResponseTypes", "MetricsConfig"),
}

# types accepted as not affecting delivery: the reason, and how they are referred to
_PERMISSIONS = "permissions: IAM and resource policies do not affect delivery in eventbus"
IGNORED: dict[str, tuple[str, str | None, int, Identify]] = {
    "AWS::IAM::Role": (_PERMISSIONS, "RoleName", 64, _role),
    "AWS::IAM::Policy": (_PERMISSIONS, "PolicyName", 128, _opaque),
    "AWS::IAM::ManagedPolicy": (_PERMISSIONS, "ManagedPolicyName", 128, lambda ctx, name, props: (
        ctx.arn("iam", f"policy/{name}", region=False),
        {"PolicyArn": ctx.arn("iam", f"policy/{name}", region=False)})),
    "AWS::Lambda::Permission": (_PERMISSIONS, None, 64, _opaque),
    "AWS::SQS::QueuePolicy": (_PERMISSIONS, None, 64, lambda ctx, name, props: (name, {"Id": name})),
    "AWS::Events::EventBusPolicy": (_PERMISSIONS, "StatementId", 64, _opaque),
    "AWS::Logs::LogGroup": ("logs: a log group does not affect delivery", "LogGroupName", 512,
                            lambda ctx, name, props: (name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")})),
    "AWS::CDK::Metadata": ("CDK metadata", None, 64, _opaque),
}

# well-known types eventbus does not model, referred to as CloudFormation does (their Ref is an ARN)
OTHER_IDENTITIES: dict[str, Identify] = {
    "AWS::SNS::Topic": lambda ctx, name, props: (ctx.arn("sns", name), {"TopicArn": ctx.arn("sns", name),
                                                                         "TopicName": name}),
    "AWS::StepFunctions::StateMachine": lambda ctx, name, props: (
        ctx.arn("states", f"stateMachine:{name}"), {"Arn": ctx.arn("states", f"stateMachine:{name}"), "Name": name}),
    "AWS::Kinesis::Stream": lambda ctx, name, props: (name, {"Arn": ctx.arn("kinesis", f"stream/{name}")}),
}

# the properties naming each kind of resource in OTHER_IDENTITIES and generic types
OTHER_NAMES = {"AWS::SNS::Topic": ("TopicName", 256), "AWS::StepFunctions::StateMachine": ("StateMachineName", 80),
               "AWS::Kinesis::Stream": ("Name", 128)}
