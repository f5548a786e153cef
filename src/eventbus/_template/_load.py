"""``load_template``: a CloudFormation template's resources, created in a ``World``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._aws import SERVICES, answer
from .._exceptions import ResourceNotFoundError, ValidationError
from .._world import World
from ._document import TemplateSource, read
from ._kinds import Planned
from ._plan import Plan, plan

__all__ = ["LoadedTemplate", "load_template"]

Handler = Callable[..., Any]


@dataclass(frozen=True, eq=False)
class LoadedTemplate:
    """What ``load_template`` built: the ``world`` and the report.

    ``created``: logical id -> ARN of each resource created in the world (an
    event source mapping: its ARN, with the world's UUID; an
    ``EventInvokeConfig``: its function's ARN).  ``ignored``: logical id ->
    why it does not matter to delivery (permissions, CDK metadata).
    ``unmodelled``: logical id -> what eventbus does not model in it; a
    resource created without part of it (a rule whose Step Functions target
    was left out) is in ``created`` and ``unmodelled`` both.  Keys
    ``Transform`` and ``Outputs.<Name>`` report the template's other
    sections.  ``outputs``: the template's ``Outputs``, resolved (a ``Ref`` to
    an event source mapping resolves, inside the template, to a stand-in UUID:
    the world's is known only once it exists; ``ref()`` gives the world's).
    """

    world: World
    created: Mapping[str, str]
    ignored: Mapping[str, str]
    unmodelled: Mapping[str, str]
    outputs: Mapping[str, Any]
    stack_name: str
    _plan: Plan = field(repr=False)
    _uuids: Mapping[str, str] = field(repr=False)

    def __repr__(self) -> str:
        return (f"<LoadedTemplate {self.stack_name}: {len(self.created)} created, {len(self.ignored)} ignored, "
                f"{len(self.unmodelled)} unmodelled>")

    def _planned(self, logical_id: str) -> Planned:
        found = self._plan.resources.get(logical_id)
        if found is None:
            raise ResourceNotFoundError(f"The template has no resource {logical_id}")
        return found

    def ref(self, logical_id: str) -> Any:
        """What ``Ref`` gives for the resource (a queue's URL, a function's name ...)."""
        self._planned(logical_id)
        return self._uuids.get(logical_id) or self._plan.identity(logical_id).ref

    def arn(self, logical_id: str) -> str:
        """The resource's ARN (any resource of the template that has one)."""
        if logical_id in self.created:
            return self.created[logical_id]
        planned = self._planned(logical_id)
        attributes = self._plan.identity(logical_id).attributes
        for key in ("Arn", "PolicyArn", "TopicArn"):
            if isinstance(attributes.get(key), str):
                return str(attributes[key])
        raise ResourceNotFoundError(f"{logical_id} ({planned.type}) has no ARN")

    def resource(self, logical_id: str) -> Any:
        """The eventbus object a created resource is: an ``EventBus``, a ``Rule``
        (a snapshot), an ``Archive``, a ``Queue``, a ``Function``, a ``Pipe``, a
        ``Schedule`` or ``ScheduleGroup`` (snapshots); an event source mapping is
        the ``Pipe`` that polls its queue; an ``EventInvokeConfig`` its ``Function``."""
        planned = self._planned(logical_id)
        if logical_id not in self.created:
            state = "ignored" if logical_id in self.ignored else "not created (see unmodelled)"
            raise ResourceNotFoundError(f"{logical_id} ({planned.type}) is {state}")
        world, kind, name = self.world, planned.kind, planned.name
        if kind == "bus":
            return world.bus(name)
        if kind == "rule":
            return world.bus(planned.extra["bus"]).describe_rule(name)
        if kind == "archive":
            return world.bus(str(planned.properties.get("SourceArn"))).describe_archive(name)
        if kind == "queue":
            return world.queue(name)
        if kind == "function":
            return world.function(name)
        if kind == "invoke-config":
            return world.function(str(planned.properties["FunctionName"]))
        if kind == "pipe":
            return world.pipe(name)
        if kind == "schedule-group":
            return world.scheduler.get_schedule_group(name)
        if kind == "schedule":
            return world.scheduler.get_schedule(name, group=planned.extra["group"])
        return world.mapping_pipes[self._uuids[logical_id]]  # event-source-mapping

    def describe(self) -> str:
        """The report as text: one line per resource."""
        lines = [f"stack {self.stack_name}:"]
        lines += [f"  created     {k}: {v}" for k, v in self.created.items()]
        lines += [f"  ignored     {k}: {v}" for k, v in self.ignored.items()]
        lines += [f"  unmodelled  {k}: {v}" for k, v in self.unmodelled.items()]
        return "\n".join(lines)


def _import(handler: str) -> Handler | str:
    """The callable ``package.module.function`` names, or why it cannot be had."""
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        return f"Handler {handler!r} names no module"
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        return f"Handler {handler!r} cannot be imported ({type(exc).__name__}: {exc})"
    found = getattr(module, attribute, None)
    if not callable(found):
        return f"Handler {handler!r}: module {module_name} has no function {attribute}"
    return found  # type: ignore[no-any-return]


def _choose_handlers(functions: list[Planned], handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    """Each function's handler from ``handlers`` (by logical id, function name or
    ``Handler``); a key naming no function is refused (a typo would otherwise
    leave a function importing its ``Handler``)."""
    chosen: dict[str, Handler] = {}
    used: set[str] = set()
    for planned in functions:
        for key in (planned.logical_id, planned.name, planned.extra.get("handler")):
            if isinstance(key, str) and key in handlers:
                chosen[planned.logical_id] = handlers[key]
                used.add(key)
                break
    unused = sorted(set(handlers) - used)
    if unused:
        known = ", ".join(f"{p.logical_id} ({p.name})" for p in functions) or "none"
        raise ValidationError(f"handlers names {unused}, which match no function of the template by logical id, "
                              f"function name or Handler; its functions: {known}")
    for key, handler in handlers.items():
        if not callable(handler):
            raise ValidationError(f"handlers[{key!r}] must be a callable (event, context), not {handler!r}")
    return chosen


def _prepare_functions(result: Plan, handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    functions = [p for p in result.resources.values() if p.kind == "function"]
    chosen = _choose_handlers(functions, handlers)
    for planned in functions:
        if not planned.calls:  # not created (reported already)
            chosen.pop(planned.logical_id, None)
            continue
        runtime = planned.extra.get("runtime")
        foreign = isinstance(runtime, str) and not runtime.startswith("python")
        if planned.logical_id in chosen:
            if foreign:  # the given callable stands in for it; the world's functions are Python
                planned.calls[0].params.pop("Runtime", None)
            continue
        if foreign:
            planned.unmodelled.append(f"Runtime {runtime}: eventbus runs Python callables; give this function one "
                                      f"in handlers= (by {planned.logical_id}, {planned.name} or its Handler)")
            planned.calls.clear()
            continue
        handler = planned.extra.get("handler")
        found = _import(handler) if isinstance(handler, str) else "no Handler"
        if isinstance(found, str):  # created anyway: invoking it fails as Lambda does (Runtime.ImportModuleError)
            planned.unmodelled.append(f"{found}; give it in handlers= (by {planned.logical_id}, {planned.name} or "
                                      "its Handler)")
        else:
            chosen[planned.logical_id] = found
    return chosen


def _check_support(result: Plan) -> None:

    for planned in result.resources.values():
        missing = [f"{c.service}.{c.operation}" for c in planned.calls if c.operation not in SERVICES[c.service]]
        if missing:
            planned.unmodelled.append(f"eventbus's AWS double does not answer {', '.join(missing)} yet")
            planned.calls.clear()


def _with_dangling(result: Plan, created: Mapping[str, str], unmodelled: dict[str, str]) -> dict[str, str]:
    """``unmodelled``, with each created resource that refers to a resource left out
    for not being modelled named too: what it does with that reference (a target,
    a destination) cannot work."""
    out = dict(unmodelled)
    for logical_id in created:
        missing = [dep for dep in result.graph.get(logical_id, ()) if dep not in created and dep in unmodelled]
        if missing:
            note = f"refers to {', '.join(missing)}, not created (see {'them' if len(missing) > 1 else 'it'})"
            out[logical_id] = f"{out[logical_id]}; {note}" if logical_id in out else note
    return out


def _unmodelled_error(unmodelled: Mapping[str, str]) -> ValidationError:
    lines = "\n".join(f"  {logical_id}: {reason}" for logical_id, reason in unmodelled.items())
    return ValidationError(f"The template holds {len(unmodelled)} resource(s) eventbus does not model "
                           f"({', '.join(unmodelled)}):\n{lines}\nload_template(..., strict=False) loads the rest "
                           "and reports these in .unmodelled")


def load_template(source: TemplateSource, handlers: Mapping[str, Handler] | None = None, *,
                  world: World | None = None, parameters: Mapping[str, Any] | None = None, strict: bool = True,
                  stack_name: str | None = None) -> LoadedTemplate:
    """Build a ``World`` from a CloudFormation template in JSON (``cdk synth``'s
    output included) and report what it made of each resource.

    ``source``: a path to a ``.json`` file, JSON text, or the template as a
    mapping.  ``handlers``: the Python callables ``(event, context)`` that
    stand for the Lambda functions, keyed by logical id, function name or
    ``Handler`` string; a function not given one imports its ``Handler``
    (``package.module.function``).  ``world``: the world to create the
    resources in (a new ``World()`` by default).  ``parameters``: values of
    the template's parameters (else their ``Default``).  ``stack_name``:
    ``AWS::StackName`` and the prefix of generated names (default: the stack
    in CDK's ``aws:cdk:path`` metadata, else the file's name, else
    ``stack``).

    Each resource is created by the AWS API call boto3 would make
    (``CreateEventBus``, ``PutRule`` and ``PutTargets``, ``CreateQueue`` ...),
    answered by the AWS double (``eventbus._aws``, which ``mock_aws`` answers boto3 from), so AWS's validation
    applies; an error answer raises ``ValidationError`` naming the logical id
    with AWS's code and message (what was created before it stays in the
    world).  CloudFormation's ways are kept: a resource the template does not
    name gets a generated name (``Stack-LogicalId-SUFFIX``, the same for the
    same template), and ``"7"`` is taken for an integer property.  Resources
    are created in dependency order;
    a dependency cycle or a reference to nothing raises ``ValidationError``
    (as CloudFormation refuses such a template), whatever ``strict``.

    ``strict=True`` (the default) raises ``ValidationError`` listing every
    resource eventbus does not model (an unknown type, a rule target that is
    not a function, queue or bus, ``Fn::ImportValue``, a handler that cannot
    be imported ...) before creating anything.  ``strict=False`` creates what
    it can and reports the rest in ``.unmodelled``, naming also each created
    resource that refers to one left out.  ``Conditions`` are evaluated from
    the parameters and pseudo parameters (``Fn::Equals``, ``Fn::And``,
    ``Fn::Or``, ``Fn::Not``, ``Fn::If``): a resource whose condition is false
    is not created (``.ignored`` says so).  IAM roles and policies, Lambda
    permissions, queue and bus policies, log groups and CDK metadata are
    accepted as not affecting delivery (``.ignored``).  Returns a
    ``LoadedTemplate``.
    """
    world = world if world is not None else World()
    result = plan(read(source, parameters, stack_name), account=world.account, region=world.region)
    chosen = _prepare_functions(result, dict(handlers or {}))
    _check_support(result)
    unmodelled = result.unmodelled()
    if strict and unmodelled:
        raise _unmodelled_error(unmodelled)

    created: dict[str, str] = {}
    uuids: dict[str, str] = {}
    for logical_id in result.order:
        planned = result.resources[logical_id]
        if not planned.calls:
            continue
        if logical_id in chosen:
            world.register_function(planned.name, chosen[logical_id])
        for call in planned.calls:
            status, response = answer(world, call.service, call.operation, call.params)
            if status >= 300:
                error = response.get("Error", {})
                raise ValidationError(f"{logical_id} ({planned.type}): {call.service}.{call.operation} was refused: "
                                      f"{error.get('Code')}: {error.get('Message')}")
            if call.operation == "CreateEventSourceMapping":
                uuids[logical_id] = str(response["UUID"])
        attributes = result.identity(logical_id).attributes
        if logical_id in uuids:
            created[logical_id] = result.context.arn("lambda", f"event-source-mapping:{uuids[logical_id]}")
        elif planned.kind == "invoke-config":
            created[logical_id] = world.function_entry(str(planned.properties["FunctionName"])).configuration[
                "FunctionArn"]
        else:
            created[logical_id] = str(attributes["Arn"])
    ignored = {k: str(p.ignored) for k, p in result.resources.items() if p.ignored is not None}
    unmodelled = _with_dangling(result, created, unmodelled)
    return LoadedTemplate(world, MappingProxyType(created), MappingProxyType(ignored), MappingProxyType(unmodelled),
                          MappingProxyType(dict(result.outputs)), result.resolver.stack_name, result,
                          MappingProxyType(uuids))
