"""Lambda's API (``boto3.client("lambda")``) answered from a ``World``'s functions.

A function's code is a Python callable (registered, or its ``Handler``
imported); ``Invoke`` runs it through ``eventbus.Function``: ``Event``
queues it with Lambda's asynchronous retries, dead-letter queue and
destinations, ``RequestResponse`` runs it now, ``DryRun`` only checks.  An
event source mapping from an SQS queue polls the queue as Lambda does
(batches, visibility timeout, the queue's redrive policy,
``ReportBatchItemFailures``), on the world's clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .._delivery._payload import COMPACT
from .._exceptions import ValidationError
from .._pipes import Pipe
from .._world import FunctionEntry, World, _lambda_time, lambda_arn
from ._common import AwsError, Operations, get, page

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}

_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")


def _op(fn: Any) -> Any:
    OPERATIONS["".join(part.title() for part in fn.__name__.split("_"))] = fn
    return fn


def _code_digest(code: Mapping[str, Any]) -> tuple[int, str]:
    data = code.get("ZipFile") or b""
    if isinstance(data, str):
        data = data.encode()
    return len(data), base64.b64encode(hashlib.sha256(data).digest()).decode()


@_op
def create_function(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    name = params["FunctionName"]
    runtime = params.get("Runtime")
    if runtime is not None and not runtime.startswith("python"):
        raise ValidationError(f"eventbus runs Python handlers in process; Runtime {runtime} is not modelled")
    if runtime is not None and runtime not in _RUNTIMES:
        raise AwsError("InvalidParameterValueException", f"The runtime parameter of {runtime} is no longer "
                       "supported for creating or updating AWS Lambda functions.")
    if "Handler" not in params:
        raise AwsError("InvalidParameterValueException", "The Handler parameter is required for a Zip package.")
    size, sha = _code_digest(get(params, "Code", {}))
    timeout = int(get(params, "Timeout", 3))
    if not 1 <= timeout <= 900:
        raise AwsError("InvalidParameterValueException", f"1 validation error detected: Value '{timeout}' at "
                       "'timeout' failed to satisfy constraint: Member must have value less than or equal to 900")
    configuration: dict[str, Any] = {
        "FunctionName": name, "FunctionArn": lambda_arn(world.region, world.account, name),
        "Runtime": runtime or "python3.12", "Role": params.get("Role", ""), "Handler": params["Handler"],
        "CodeSize": size, "Description": get(params, "Description", ""), "Timeout": timeout,
        "MemorySize": int(get(params, "MemorySize", 128)), "LastModified": _lambda_time(world.clock.now()),
        "CodeSha256": sha, "Version": "$LATEST", "State": "Active", "LastUpdateStatus": "Successful",
        "PackageType": "Zip", "Architectures": list(get(params, "Architectures", ["x86_64"]))}
    environment = params.get("Environment")
    if environment is not None:
        configuration["Environment"] = {"Variables": dict(environment.get("Variables") or {})}
    dead_letter = (params.get("DeadLetterConfig") or {}).get("TargetArn")
    if dead_letter is not None:
        configuration["DeadLetterConfig"] = {"TargetArn": dead_letter}
    entry = world.create_function(configuration, dead_letter_arn=dead_letter)
    return _shown(entry)


def _shown(entry: FunctionEntry) -> dict[str, Any]:
    """The function's configuration as AWS shows it (eventbus's own keys start with ``_``)."""
    return {key: value for key, value in entry.configuration.items() if not key.startswith("_")}


@_op
def get_function(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = _entry(world, params)
    return {"Configuration": _shown(entry),
            "Code": {"RepositoryType": "S3", "Location": f"eventbus://{entry.name}"}}


@_op
def get_function_configuration(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _shown(_entry(world, params))


@_op
def list_functions(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return page([_shown(entry) for _, entry in sorted(world.functions.items())], params, "Functions",
                limit="MaxItems", token="Marker", next_token="NextMarker")


@_op
def delete_function(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = _entry(world, params)
    with world.lock:
        entry.function.delete()
        world.functions.pop(entry.name, None)
    return {}


def _entry(world: World, params: Mapping[str, Any]) -> FunctionEntry:
    """The function ``FunctionName`` names, with ``Qualifier`` if given (only
    ``$LATEST`` exists: versions and aliases are not modelled)."""
    name = params["FunctionName"]
    qualifier = params.get("Qualifier")
    return world.function_entry(name if qualifier is None else f"{name}:{qualifier}")


@_op
def invoke(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = _entry(world, params)
    kind = get(params, "InvocationType", "RequestResponse")
    payload = params.get("Payload")
    if payload is not None and hasattr(payload, "read"):  # (boto3 takes a file too)
        payload = payload.read()
    if isinstance(payload, bytes | bytearray):
        payload = bytes(payload).decode("utf-8")
    try:
        answer = entry.function.invoke(payload or "{}", kind)
    except ValidationError as exc:
        text = str(exc)
        if text.startswith("Request must be smaller than"):
            raise AwsError("RequestTooLargeException", text, 413) from None
        if text.startswith("Could not parse request body"):
            raise AwsError("InvalidRequestContentException", text) from None
        raise
    out: dict[str, Any] = {"StatusCode": answer["StatusCode"], "__status__": answer["StatusCode"]}
    if kind == "RequestResponse":
        out["ExecutedVersion"] = answer.get("ExecutedVersion", "$LATEST")
        if "FunctionError" in answer:
            out["FunctionError"] = answer["FunctionError"]
        out["Payload"] = COMPACT.encode(answer.get("Payload")).encode("utf-8")
    else:
        out["Payload"] = b""
    return out


# -- asynchronous invocation settings ------------------------------------------------------
def _invoke_config_shape(entry: FunctionEntry) -> dict[str, Any]:
    config = entry.invoke_config or {}
    out: dict[str, Any] = {"LastModified": config.get("_modified"), "FunctionArn": entry.configuration["FunctionArn"]}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in config:
            out[key] = config[key]
    out["DestinationConfig"] = config.get("DestinationConfig") or {"OnSuccess": {}, "OnFailure": {}}
    return out


def _put_invoke_config(world: World, params: Mapping[str, Any], merge: bool) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    before = dict(entry.invoke_config or {}) if merge else {}
    config = {key: params[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
              if params.get(key) is not None}
    retries = config.get("MaximumRetryAttempts")
    if retries is not None and not 0 <= retries <= 2:
        raise AwsError("InvalidParameterValueException", f"1 validation error detected: Value '{retries}' at "
                       "'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or "
                       "equal to 2")
    age = config.get("MaximumEventAgeInSeconds")
    if age is not None and not 60 <= age <= 21600:
        raise AwsError("InvalidParameterValueException", f"1 validation error detected: Value '{age}' at "
                       "'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value less than "
                       "or equal to 21600")
    for side in ("OnSuccess", "OnFailure"):
        arn = ((config.get("DestinationConfig") or {}).get(side) or {}).get("Destination")
        if arn is not None:
            world.resolve_kind(arn)
    before.update(config)
    before["_modified"] = world.clock.now()
    previous = entry.invoke_config
    entry.invoke_config = before
    try:
        world.rebuild_function(entry)
    except BaseException:
        entry.invoke_config = previous
        raise
    return _invoke_config_shape(entry)


@_op
def put_function_event_invoke_config(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _put_invoke_config(world, params, merge=False)


@_op
def update_function_event_invoke_config(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _put_invoke_config(world, params, merge=True)


@_op
def get_function_event_invoke_config(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    if entry.invoke_config is None:
        raise AwsError("ResourceNotFoundException", "The function "
                       f"{entry.configuration['FunctionArn']} doesn't have an EventInvokeConfig", 404)
    return _invoke_config_shape(entry)


@_op
def delete_function_event_invoke_config(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    entry.invoke_config = None
    world.rebuild_function(entry)
    return {}


# -- event source mappings (SQS) -------------------------------------------------------------
def _mapping_shape(world: World, uuid: str) -> dict[str, Any]:
    mapping = world.mappings[uuid]
    pipe = world.mapping_pipes.get(uuid)
    state = "Enabled" if pipe is not None and pipe.current_state == "RUNNING" else "Disabled"
    return {**{k: v for k, v in mapping.items() if not k.startswith("_")}, "State": state}


def _mapping_pipe(world: World, uuid: str, settings: Mapping[str, Any], enabled: bool) -> Pipe:
    """The pipe that polls the mapping's queue for its function (Lambda's poller)."""
    queue = world.queue(settings["EventSourceArn"])
    name = world.function_entry(settings["FunctionArn"]).name
    report = "ReportBatchItemFailures" in settings["FunctionResponseTypes"]

    def invoke(records: list[Any]) -> Any:
        result = world.function(name)({"Records": records})
        return result if report else None

    invoke.__qualname__ = invoke.__name__ = f"lambda {name}"
    filters = [f["Pattern"] for f in (settings.get("FilterCriteria") or {}).get("Filters") or []]
    return Pipe(f"esm-{uuid[:8]}", queue, invoke, filters=filters, batch_size=settings["BatchSize"],
                maximum_batching_window_in_seconds=settings["MaximumBatchingWindowInSeconds"],
                desired_state="RUNNING" if enabled else "STOPPED", clock=world.clock,
                account=world.account, region=world.region)


def _batching(params: Mapping[str, Any], before: Mapping[str, Any] | None) -> tuple[int, int]:
    batch = int(get(params, "BatchSize", before["BatchSize"] if before else 10))
    window = int(get(params, "MaximumBatchingWindowInSeconds",
                     before["MaximumBatchingWindowInSeconds"] if before else 0))
    if not 1 <= batch <= 10_000:
        raise AwsError("InvalidParameterValueException", f"1 validation error detected: Value '{batch}' at "
                       "'batchSize' failed to satisfy constraint: Member must have value less than or equal to 10000")
    if batch > 10 and window < 1:
        raise AwsError("InvalidParameterValueException", "Maximum batch window in seconds must be greater than 0 "
                       "if maximum batch size is greater than 10")
    return batch, window


@_op
def create_event_source_mapping(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    source = params.get("EventSourceArn")
    if source is None or world.resolve_kind(source) != "sqs":
        raise ValidationError("eventbus models event source mappings from SQS queues; EventSourceArn must name one")
    queue = world.queue(source)
    entry = world.function_entry(params["FunctionName"])
    batch, window = _batching(params, None)
    uuid = world.new_id()
    settings: dict[str, Any] = {
        "UUID": uuid, "BatchSize": batch, "MaximumBatchingWindowInSeconds": window, "EventSourceArn": queue.arn,
        "FunctionArn": entry.configuration["FunctionArn"], "LastModified": world.clock.now(),
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": list(get(params, "FunctionResponseTypes", []))}
    if params.get("FilterCriteria") is not None:
        settings["FilterCriteria"] = {"Filters": [dict(f) for f in params["FilterCriteria"].get("Filters") or []]}
    pipe = _mapping_pipe(world, uuid, settings, bool(get(params, "Enabled", True)))
    world.mappings[uuid] = settings
    world.mapping_pipes[uuid] = pipe
    return {**_mapping_shape(world, uuid), "State": "Creating"}


def _mapping(world: World, params: Mapping[str, Any]) -> str:
    uuid = params["UUID"]
    if uuid not in world.mappings:
        raise AwsError("ResourceNotFoundException", f"The resource you requested does not exist. (Service: Lambda, "
                       f"Status Code: 404, Request ID: {world.new_id()})", 404)
    return str(uuid)


@_op
def get_event_source_mapping(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    return _mapping_shape(world, _mapping(world, params))


@_op
def list_event_source_mappings(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    function = params.get("FunctionName")
    arn = None if function is None else world.function_entry(function).configuration["FunctionArn"]
    source = params.get("EventSourceArn")
    found = [_mapping_shape(world, uuid) for uuid, mapping in world.mappings.items()
             if (arn is None or mapping["FunctionArn"] == arn)
             and (source is None or mapping["EventSourceArn"] == source)]
    return page(found, params, "EventSourceMappings", limit="MaxItems", token="Marker", next_token="NextMarker")


@_op
def update_event_source_mapping(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    uuid = _mapping(world, params)
    settings = dict(world.mappings[uuid])
    if params.get("FunctionName") is not None:
        settings["FunctionArn"] = world.function_entry(params["FunctionName"]).configuration["FunctionArn"]
    settings["BatchSize"], settings["MaximumBatchingWindowInSeconds"] = _batching(params, settings)
    if params.get("FunctionResponseTypes") is not None:
        settings["FunctionResponseTypes"] = list(params["FunctionResponseTypes"])
    if params.get("FilterCriteria") is not None:
        settings["FilterCriteria"] = {"Filters": [dict(f) for f in params["FilterCriteria"].get("Filters") or []]}
    old = world.mapping_pipes[uuid]
    enabled = params["Enabled"] if params.get("Enabled") is not None else old.current_state == "RUNNING"
    new = _mapping_pipe(world, uuid, settings, False)  # (built first: a bad filter leaves the old one running)
    old.stop()
    settings["LastModified"] = world.clock.now()
    world.mappings[uuid] = settings
    world.mapping_pipes[uuid] = new
    if enabled:
        new.start()
    return {**_mapping_shape(world, uuid), "State": "Updating"}


@_op
def delete_event_source_mapping(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    uuid = _mapping(world, params)
    shape = _mapping_shape(world, uuid)
    world.mapping_pipes.pop(uuid).stop()
    del world.mappings[uuid]
    return {**shape, "State": "Deleting"}




# -- resource policy (kept and shown; eventbus does not model IAM, so it grants nothing) --------
@_op
def add_permission(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    statements = entry.configuration.setdefault("_policy", {})
    sid = params["StatementId"]
    if sid in statements:
        raise AwsError("ResourceConflictException", f"The statement id ({sid}) provided already exists. Please "
                       "provide a new statement id, or remove the existing statement.", 409)
    principal = params["Principal"]
    statement: dict[str, Any] = {
        "Sid": sid, "Effect": "Allow",
        "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
        "Action": params["Action"], "Resource": entry.configuration["FunctionArn"]}
    if params.get("SourceArn") is not None:
        statement["Condition"] = {"ArnLike": {"AWS:SourceArn": params["SourceArn"]}}
    statements[sid] = statement
    return {"Statement": json.dumps(statement, separators=(",", ":"))}


@_op
def remove_permission(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    statements = entry.configuration.get("_policy", {})
    if statements.pop(params["StatementId"], None) is None:
        raise AwsError("ResourceNotFoundException", "Statement not found.", 404)
    return {}


@_op
def get_policy(world: World, params: Mapping[str, Any]) -> dict[str, Any]:
    entry = world.function_entry(params["FunctionName"])
    statements = entry.configuration.get("_policy")
    if not statements:
        raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(statements.values())}
    return {"Policy": json.dumps(policy, separators=(",", ":")), "RevisionId": world.new_id()}
