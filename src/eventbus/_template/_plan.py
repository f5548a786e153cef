"""A template planned: every resource named, resolved and turned into AWS calls.

``plan(document, account=..., region=...)`` needs no ``World`` and runs no
handler: ``load_template`` applies the plan to a world, and the topology
command draws it.  Resources are planned in dependency order (``Ref``,
``Fn::GetAtt``, ``Fn::Sub`` and ``DependsOn``); a cycle or a reference to
nothing is refused as CloudFormation refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import ValidationError
from ._document import Document
from ._intrinsics import NO_VALUE, Identity, Resolver, Unmodelled, dependencies, order
from ._kinds import (
    IGNORED,
    KINDS,
    OTHER_IDENTITIES,
    OTHER_NAMES,
    Call,
    Context,
    Planned,
    coerce,
    generated_name,
    generic_identity,
)

__all__ = ["Plan", "plan"]


@dataclass
class Plan:
    """The planned resources in creation order, the outputs, and what the template
    as a whole holds that eventbus does not model (``Transform``, outputs)."""

    context: Context
    resolver: Resolver
    order: list[str]
    resources: dict[str, Planned]
    outputs: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # "Transform", "Outputs.X"
    graph: dict[str, list[str]] = field(default_factory=dict)  # each resource's dependencies

    def identity(self, logical_id: str) -> Identity:
        return self.resolver.identities[logical_id]

    def by_arn(self) -> dict[str, str]:
        """Logical ids by the ARNs (and queue URLs) of the resources."""
        found: dict[str, str] = {}
        for logical_id in self.order:
            identity = self.identity(logical_id)
            for key in ("Arn", "QueueUrl", "TopicArn"):
                value = identity.attributes.get(key)
                if isinstance(value, str):
                    found[value] = logical_id
        return found

    def unmodelled(self) -> dict[str, str]:
        out = {logical_id: "; ".join(p.unmodelled) for logical_id, p in self.resources.items() if p.unmodelled}
        out.update(self.problems)
        return out


def _depends_on(resource: Mapping[str, Any], resources: Mapping[str, Any], logical_id: str) -> set[str]:
    value = resource.get("DependsOn", [])
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValidationError(f"Template format error: {logical_id}'s DependsOn must be a name or a list of names")
    unknown = sorted(set(names) - set(resources))
    if unknown:
        raise ValidationError(f"Template format error: Unresolved resource dependencies {unknown} in the "
                              f"Resources block of the template ({logical_id}.DependsOn)")
    return set(names)


def _resolve_properties(resolver: Resolver, properties: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The properties resolved; one that cannot be (an unmodelled function) is left
    out and reported, so that the rest still name the resource."""
    try:
        resolved = resolver.resolve(dict(properties))
        return resolved if isinstance(resolved, dict) else {}
    except Unmodelled:
        pass
    out: dict[str, Any] = {}
    for key, value in properties.items():
        try:
            out[key] = resolver.resolve(value)
        except Unmodelled as exc:
            problems.append(f"{key}: {exc}")
    return out


def _label(logical_id: str, resource: Mapping[str, Any]) -> str:
    """How to show a resource the template does not name: its CDK construct path
    (without the stack and the ``Resource`` leaf), else its logical id."""
    path = (resource.get("Metadata") or {}).get("aws:cdk:path")
    if isinstance(path, str) and "/" in path:
        parts = path.split("/")[1:]
        if len(parts) > 1 and parts[-1] in ("Resource", "Default"):
            parts.pop()
        return "/".join(parts)
    return logical_id


def plan(document: Document, *, account: str, region: str) -> Plan:
    """Plan every resource of ``document`` (see the module notes)."""
    resources = document.resources
    graph = {logical_id: sorted(dependencies(resource.get("Properties", {}), resources, document.parameters,
                                             logical_id) | _depends_on(resource, resources, logical_id))
             for logical_id, resource in resources.items()}
    resolver = Resolver(account=account, region=region, stack_name=document.stack_name,
                        parameters=document.parameters, mappings=document.mappings, resources=resources,
                        conditions=document.conditions)
    context = Context(account, region, resolver.partition, document.stack_name)
    result = Plan(context, resolver, order(graph), {}, graph=graph)
    if document.transform is not None:
        result.problems["Transform"] = (f"Transform {document.transform}: macros (SAM and others) are not "
                                        "expanded; load the processed template instead")
    for logical_id in result.order:
        result.resources[logical_id] = _plan_one(context, resolver, logical_id, resources[logical_id])
    for name, output in document.outputs.items():
        if not isinstance(output, Mapping) or "Value" not in output:
            raise ValidationError(f"Template format error: Output {name} must have a Value")
        dependencies(output["Value"], resources, document.parameters, f"Outputs.{name}")
        try:
            if "Condition" in output and not resolver.condition(output["Condition"]):
                continue  # (as CloudFormation: an output whose condition is false is not made)
            value = resolver.resolve(output["Value"])
        except Unmodelled as exc:
            result.problems[f"Outputs.{name}"] = str(exc)
            continue
        if value is NO_VALUE:
            raise ValidationError(f"Template format error: Output {name}'s Value is AWS::NoValue")
        result.outputs[name] = value
    return result


def _plan_one(context: Context, resolver: Resolver, logical_id: str, resource: Mapping[str, Any]) -> Planned:
    type_name = resource["Type"]
    condition = resource.get("Condition")
    if condition is not None:
        try:
            exists = resolver.condition(condition)
        except Unmodelled as exc:
            return Planned(logical_id, type_name, "", logical_id, {}, unmodelled=[
                f"Condition {condition}: {exc}, so whether this resource exists is not known"])
        if not exists:
            resolver.absent[logical_id] = str(condition)
            planned = Planned(logical_id, type_name, "", logical_id, {}, extra={"label": logical_id})
            planned.ignored = f"Condition {condition} is false: not created (as CloudFormation)"
            return planned
    problems: list[str] = []
    properties = _resolve_properties(resolver, resource.get("Properties", {}), problems)
    kind = KINDS.get(type_name)
    ignored = IGNORED.get(type_name)
    if kind is not None:
        name_property, limit, identify = kind.name_property, kind.name_limit, kind.identify
    elif ignored is not None:
        _, name_property, limit, identify = ignored
    else:
        name_property, limit = OTHER_NAMES.get(type_name, (None, 64))
        identify = OTHER_IDENTITIES.get(type_name) or generic_identity(type_name)
    given = properties.get(name_property) if name_property else None
    name = str(given) if isinstance(given, str | int) and str(given) else generated_name(context.stack_name,
                                                                                          logical_id, limit)
    ref, attributes = identify(context, name, properties)
    resolver.identities[logical_id] = Identity(ref, attributes, type_name)
    planned = Planned(logical_id, type_name, kind.kind if kind is not None else "", name, properties,
                      unmodelled=problems, extra={"label": name if name == given else _label(logical_id, resource)})
    if ignored is not None:
        planned.ignored = ignored[0]
        planned.unmodelled = []  # (what it holds does not matter)
        return planned
    if kind is None:
        planned.unmodelled = [f"resource type {type_name} is not modelled"]
        return planned
    if problems:
        return planned  # a property eventbus cannot resolve: not created
    extra = sorted(set(properties) - kind.uses - kind.inert)
    if extra:
        planned.unmodelled.append(f"{', '.join(extra)}: not modelled")
    kind.build(planned)
    planned.calls = [Call(c.service, c.operation, coerce(c.params)) for c in planned.calls]
    return planned
