"""CloudFormation's intrinsic functions, resolved against what a template declares.

``Resolver.resolve(value)`` replaces ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::FindInMap``,
``Fn::Base64``, ``Fn::GetAZs`` and ``Fn::If`` in a property value, and drops
what ``Ref: AWS::NoValue`` names.  ``Resolver.condition(name)`` evaluates
the template's ``Conditions`` (``Fn::Equals``, ``Fn::And``, ``Fn::Or``,
``Fn::Not``, ``Condition``) from parameter values and pseudo parameters,
as CloudFormation does when it creates a stack.  A resource's ``Ref`` value and attributes come
from ``identities`` (filled in dependency order by the planner).

Two kinds of failure, kept apart on purpose:

* a template CloudFormation itself refuses (a ``Ref`` to nothing, a cycle,
  a malformed function): ``ValidationError``, raised whatever ``strict``;
* something valid that eventbus does not model (``Fn::ImportValue``,
  ``Fn::If``, an attribute it does not know): ``Unmodelled``, which the
  planner reports against the resource that uses it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import ValidationError

__all__ = ["NO_VALUE", "PSEUDO", "Identity", "Resolver", "Unmodelled", "dependencies", "is_intrinsic",
           "order", "sub_names"]

PSEUDO = frozenset({"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::StackName", "AWS::StackId",
                    "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs"})
_FUNCTIONS = frozenset({"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap",
                        "Fn::Base64", "Fn::GetAZs", "Fn::ImportValue", "Fn::If", "Fn::Equals", "Fn::And",
                        "Fn::Or", "Fn::Not", "Fn::Cidr", "Fn::Transform", "Fn::Length", "Fn::ToJsonString",
                        "Fn::Contains", "Fn::EachMemberEquals", "Fn::ValueOf", "Fn::ForEach"})
_SUB = re.compile(r"\$\{(!?)([^}]*)\}")


class Unmodelled(Exception):
    """Valid CloudFormation that eventbus does not model (the reason is the message)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


@dataclass
class Identity:
    """What a resource is known by before it exists: its ``Ref`` value and attributes."""

    ref: str
    attributes: dict[str, Any] = field(default_factory=dict)
    type: str = ""


def is_intrinsic(value: object) -> bool:
    """A one-key mapping whose key is ``Ref`` or ``Fn::...``."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))


def sub_names(text: str) -> list[str]:
    """The names ``${...}`` refers to in an ``Fn::Sub`` string (``${!x}`` is literal)."""
    return [name.strip() for bang, name in _SUB.findall(text) if not bang]


def _comparable(value: Any) -> Any:
    """A value as ``Fn::Equals`` compares it (CloudFormation compares the texts:
    a number parameter ``"7"`` equals ``7``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _getatt_parts(argument: object, where: str) -> tuple[str, Any]:
    """``Fn::GetAtt``'s logical id and attribute (text, or a ``Ref`` to a parameter)."""
    if isinstance(argument, str) and "." in argument:
        logical, _, attribute = argument.partition(".")
        return logical, attribute
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str) \
            and (isinstance(argument[1], str) or is_intrinsic(argument[1])):
        return argument[0], argument[1]
    raise ValidationError(f"Template error: {where}: Fn::GetAtt takes [LogicalId, Attribute] or "
                          f"'LogicalId.Attribute', not {argument!r}")


def dependencies(value: object, resources: Mapping[str, Any], parameters: Mapping[str, Any],
                 where: str) -> set[str]:
    """The resources ``value`` refers to (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``); a
    name that is no resource, parameter or pseudo parameter is refused as
    CloudFormation refuses it (``Unresolved resource dependencies``)."""
    found: set[str] = set()
    unknown: set[str] = set()

    def name(target: str) -> None:
        if target in resources:
            found.add(target)
        elif target not in parameters and target not in PSEUDO:
            unknown.add(target)

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if is_intrinsic(node):
                key, argument = next(iter(node.items()))
                if key == "Ref" and isinstance(argument, str):
                    name(argument)
                    return
                if key == "Fn::GetAtt":
                    logical, attribute = _getatt_parts(argument, where)
                    walk(attribute)
                    if logical in resources:
                        found.add(logical)
                    else:
                        unknown.add(logical)
                    return
                if key == "Fn::Sub":
                    text, variables = (argument, {}) if isinstance(argument, str) else (
                        (argument[0], argument[1]) if isinstance(argument, list) and len(argument) == 2
                        else (None, {}))
                    if isinstance(text, str):
                        walk(variables)
                        names = set(variables) if isinstance(variables, dict) else set()
                        for ref in sub_names(text):
                            if ref in names:
                                continue
                            target = ref.split(".", 1)[0] if "." in ref and ref not in parameters else ref
                            name(target)
                        return
            for child in node.values():
                walk(child)

    walk(value)
    if unknown:
        raise ValidationError(f"Template format error: Unresolved resource dependencies {sorted(unknown)} in the "
                              f"Resources block of the template ({where})")
    return found


def order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The resources in an order that creates each after what it depends on (the
    template's order where free); a cycle is refused, naming it."""
    done: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        mark = state.get(node)
        if mark == 2:
            return
        if mark == 1:
            cycle = path[path.index(node):] + [node]
            raise ValidationError("Circular dependency between resources: " + " -> ".join(cycle))
        state[node] = 1
        path.append(node)
        for dependency in graph.get(node, ()):
            visit(dependency, path)
        path.pop()
        state[node] = 2
        done.append(node)

    for node in graph:
        visit(node, [])
    return done


class Resolver:
    """Resolves intrinsic functions (see the module notes).

    ``parameters``: each template parameter's value (a string, or a list for the
    list types); a parameter without one is ``None`` and refusing a ``Ref`` to
    it is left to ``resolve``.  ``mappings``: the template's ``Mappings``.
    """

    def __init__(self, *, account: str, region: str, stack_name: str, parameters: Mapping[str, Any] | None = None,
                 mappings: Mapping[str, Any] | None = None, identities: dict[str, Identity] | None = None,
                 resources: Mapping[str, Any] | None = None, conditions: Mapping[str, Any] | None = None) -> None:
        self.account, self.region, self.stack_name = account, region, stack_name
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.mappings: Mapping[str, Any] = mappings or {}
        self.identities: dict[str, Identity] = identities if identities is not None else {}
        self.resources: Mapping[str, Any] = resources if resources is not None else self.identities
        self.conditions: Mapping[str, Any] = conditions or {}
        self._verdicts: dict[str, bool] = {}
        self._evaluating: list[str] = []
        self.absent: dict[str, str] = {}  # resources not created because their Condition is false -> it

    # -- conditions ------------------------------------------------------------------------
    def condition(self, name: object) -> bool:
        """The value of the template's condition ``name`` (evaluated once)."""
        if not isinstance(name, str) or name not in self.conditions:
            raise ValidationError(f"Template format error: Unresolved condition dependencies [{name}] in the "
                                  "Conditions block of the template")
        if name in self._verdicts:
            return self._verdicts[name]
        if name in self._evaluating:
            cycle = self._evaluating[self._evaluating.index(name):] + [name]
            raise ValidationError("Template format error: Circular dependency between conditions: "
                                  + " -> ".join(cycle))
        self._evaluating.append(name)
        try:
            verdict = self._truth(self.conditions[name], f"Conditions.{name}")
        finally:
            self._evaluating.pop()
        self._verdicts[name] = verdict
        return verdict

    def _truth(self, value: Any, where: str) -> bool:
        """A condition function's value: ``Fn::Equals``, ``Fn::And``, ``Fn::Or``,
        ``Fn::Not`` or ``{"Condition": name}``."""
        if not isinstance(value, dict) or len(value) != 1:
            raise ValidationError(f"Template error: {where} must be a condition function, not {value!r}")
        key, argument = next(iter(value.items()))
        if key == "Condition":
            return bool(self.condition(argument))
        if key == "Fn::Equals":
            if not isinstance(argument, list) or len(argument) != 2:
                raise ValidationError(f"Template error: {where}: Fn::Equals takes two values, not {argument!r}")
            left, right = (self.resolve(side) for side in argument)
            return bool(_comparable(left) == _comparable(right))
        if key == "Fn::Not":
            if not isinstance(argument, list) or len(argument) != 1:
                raise ValidationError(f"Template error: {where}: Fn::Not takes one condition, not {argument!r}")
            return not self._truth(argument[0], where)
        if key in ("Fn::And", "Fn::Or"):
            if not isinstance(argument, list) or not 2 <= len(argument) <= 10:
                raise ValidationError(f"Template error: {where}: {key} takes 2 to 10 conditions, not {argument!r}")
            verdicts = (self._truth(item, where) for item in argument)
            return all(verdicts) if key == "Fn::And" else any(verdicts)
        raise ValidationError(f"Template error: {where}: {key} is not a condition function")

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    def pseudo(self, name: str) -> Any:
        if name == "AWS::AccountId":
            return self.account
        if name == "AWS::Region":
            return self.region
        if name == "AWS::Partition":
            return self.partition
        if name == "AWS::StackName":
            return self.stack_name
        if name == "AWS::StackId":
            return (f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/"
                    "00000000-0000-4000-8000-000000000000")
        if name == "AWS::URLSuffix":
            return "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        if name == "AWS::NotificationARNs":
            return []
        return NO_VALUE  # AWS::NoValue

    # -- Ref and Fn::GetAtt --------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return self.pseudo(name)
        if name in self.absent:
            raise ValidationError(f"Template format error: Unresolved resource dependencies [{name}]: {name} is not "
                                  f"created, its Condition {self.absent[name]} is false (refer to it in Fn::If)")
        if name in self.parameters:
            value = self.parameters[name]
            if value is None:
                raise Unmodelled(f"parameter {name} has no value (no Default, and none given in parameters=)")
            return value
        identity = self.identities.get(name)
        if identity is None:
            if name in self.resources:
                raise ValidationError(f"Ref {name}: that resource is not resolved yet (a dependency the "
                                      "planner missed)")
            raise ValidationError(f"Template format error: Unresolved resource dependencies [{name}] in the "
                                  "Resources block of the template")
        return identity.ref

    def get_att(self, logical: str, attribute: str) -> Any:
        if logical in self.absent:
            self.ref(logical)  # (refused: it is not created)
        identity = self.identities.get(logical)
        if identity is None:
            if logical in self.resources:
                raise ValidationError(f"Fn::GetAtt {logical}.{attribute}: that resource is not resolved yet")
            raise ValidationError(f"Template format error: Unresolved resource dependencies [{logical}] in the "
                                  "Resources block of the template")
        if attribute not in identity.attributes:
            kind = f" ({identity.type})" if identity.type else ""
            raise Unmodelled(f"Fn::GetAtt {logical}.{attribute}: eventbus does not model the attribute "
                             f"{attribute} of {logical}{kind}; it knows {sorted(identity.attributes) or 'none'}")
        return identity.attributes[attribute]

    # -- the functions ---------------------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by its value."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if is_intrinsic(value):
            key, argument = next(iter(value.items()))
            return self._function(key, argument)
        out: dict[str, Any] = {}
        for key, item in value.items():
            resolved = self.resolve(item)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _function(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            if not isinstance(argument, str):
                raise ValidationError(f"Template error: Ref takes a name, not {argument!r}")
            return self.ref(argument)
        if key == "Fn::GetAtt":
            logical, attribute = _getatt_parts(argument, "Fn::GetAtt")
            if is_intrinsic(attribute):
                attribute = self._text(self.resolve(attribute), "Fn::GetAtt")
            return self.get_att(logical, attribute)
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::Join":
            if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str):
                raise ValidationError(f"Template error: Fn::Join takes [delimiter, [values]], not {argument!r}")
            items = self.resolve(argument[1])
            if not isinstance(items, list):
                raise ValidationError(f"Template error: Fn::Join's values must be a list, not {items!r}")
            return argument[0].join(self._text(item, "Fn::Join") for item in items)
        if key == "Fn::Select":
            if not isinstance(argument, list) or len(argument) != 2:
                raise ValidationError(f"Template error: Fn::Select takes [index, [values]], not {argument!r}")
            index, items = self.resolve(argument[0]), self.resolve(argument[1])
            try:
                number = int(index)
            except (TypeError, ValueError):
                raise ValidationError(f"Template error: Fn::Select's index must be a number, not {index!r}") \
                    from None
            if not isinstance(items, list) or not 0 <= number < len(items):
                raise ValidationError(f"Template error: Fn::Select cannot select {number} from {items!r}")
            return items[number]
        if key == "Fn::Split":
            if not isinstance(argument, list) or len(argument) != 2 or not isinstance(argument[0], str) \
                    or not argument[0]:
                raise ValidationError(f"Template error: Fn::Split takes [delimiter, text], not {argument!r}")
            return self._text(self.resolve(argument[1]), "Fn::Split").split(argument[0])
        if key == "Fn::FindInMap":
            return self._find_in_map(argument)
        if key == "Fn::Base64":
            return base64.b64encode(self._text(self.resolve(argument), "Fn::Base64").encode()).decode()
        if key == "Fn::GetAZs":
            region = self.resolve(argument) or self.region
            return [f"{region}{zone}" for zone in "abc"]
        if key == "Fn::If":
            if not isinstance(argument, list) or len(argument) != 3:
                raise ValidationError(f"Template error: Fn::If takes [condition, value if true, value if false], "
                                      f"not {argument!r}")
            return self.resolve(argument[1] if self.condition(argument[0]) else argument[2])
        if key in _FUNCTIONS:
            raise Unmodelled(f"{key} is not modelled" + (" (values exported by other stacks are unknown here)"
                                                         if key == "Fn::ImportValue" else
                                                         " (a condition function belongs in Conditions or "
                                                         "Fn::If)"
                                                         if key in ("Fn::Equals", "Fn::And", "Fn::Or",
                                                                    "Fn::Not") else ""))
        raise Unmodelled(f"unknown intrinsic function {key}")

    def _text(self, value: Any, where: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError(f"Template error: {where} needs text, not {value!r}")
        return str(value)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str) \
                and isinstance(argument[1], dict):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            raise ValidationError(f"Template error: Fn::Sub takes a string or [string, {{variables}}], "
                                  f"not {argument!r}")

        def one(match: re.Match[str]) -> str:
            bang, name = match.group(1), match.group(2).strip()
            if bang:
                return "${" + match.group(2) + "}"
            if name in variables:
                return self._text(variables[name], f"Fn::Sub ${{{name}}}")
            if "." in name and name not in self.parameters and name not in PSEUDO:
                logical, _, attribute = name.partition(".")
                return self._text(self.get_att(logical, attribute), f"Fn::Sub ${{{name}}}")
            return self._text(self.ref(name), f"Fn::Sub ${{{name}}}")

        return _SUB.sub(one, text)

    def _find_in_map(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise ValidationError(f"Template error: Fn::FindInMap takes [map, top key, second key], "
                                  f"not {argument!r}")
        keys = [self._text(self.resolve(part), "Fn::FindInMap") for part in argument]
        try:
            return self.mappings[keys[0]][keys[1]][keys[2]]
        except (KeyError, TypeError):
            raise ValidationError(f"Template error: Fn::FindInMap finds no {keys[0]}.{keys[1]}.{keys[2]} in "
                                  "Mappings") from None
