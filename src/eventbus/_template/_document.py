"""Reading a CloudFormation template in JSON: a path, JSON text or a mapping.

``read(source)`` checks the template's shape (a ``Resources`` mapping of
resources with a ``Type``) and answers a ``Document``; the parameters'
values are settled here (a ``Default``, or a value given by the caller) so
that the planner only resolves.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ValidationError

__all__ = ["Document", "TemplateSource", "read"]

TemplateSource = str | os.PathLike[str] | Mapping[str, Any]
_SECTIONS = frozenset({"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
                       "Conditions", "Transform", "Resources", "Outputs"})
_LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Document:
    """A template's sections, checked; ``parameters`` holds each parameter's value
    (``None`` when it has neither a ``Default`` nor a given value)."""

    resources: dict[str, dict[str, Any]]
    parameters: dict[str, Any]
    parameter_types: dict[str, str]
    mappings: dict[str, Any]
    conditions: dict[str, Any]
    outputs: dict[str, Any]
    transform: Any
    stack_name: str


def _load_json(source: TemplateSource) -> tuple[Any, str | None]:
    """The template's JSON value and, for a file, its name."""
    if isinstance(source, Mapping):
        return source, None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith(("{", "["))):
        path = Path(source)  # (a file that cannot be read: the OSError itself)
        return _parse(path.read_text(encoding="utf-8"), str(path)), path.stem
    if isinstance(source, str):
        return _parse(source, "the template text"), None
    raise ValidationError(f"a template is a path, JSON text or a mapping, not {type(source).__name__}")


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{what} is not JSON ({exc}); eventbus reads JSON templates, as `cdk synth` "
                              "writes them to cdk.out/*.template.json") from None


def _stack_name(resources: Mapping[str, Any], stem: str | None) -> str:
    """The stack's name: the first part of CDK's ``aws:cdk:path``, else the file's
    name, else ``stack`` (CloudFormation's rule: a letter, then letters, digits and -)."""
    for resource in resources.values():
        path = ((resource.get("Metadata") or {}) if isinstance(resource, dict) else {}).get("aws:cdk:path")
        if isinstance(path, str) and "/" in path:
            stem = path.split("/", 1)[0]
            break
    name = re.sub(r"[^A-Za-z0-9-]", "-", stem or "")
    return name if name[:1].isalpha() else "stack"


def _parameter_value(name: str, declared: Mapping[str, Any], given: Any) -> Any:
    kind = str(declared.get("Type", "String"))
    value = given if given is not None else declared.get("Default")
    if value is None:
        return None
    if given is None and kind.startswith("AWS::SSM::Parameter::Value<"):
        return None  # its Default names an SSM parameter whose value is not known here
    if kind.startswith("List<") or kind == "CommaDelimitedList" or "::List<" in kind:
        items = value if isinstance(value, list) else [part.strip() for part in str(value).split(",")]
        return [str(item) for item in items]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationError(f"Parameter {name} must be text, not {value!r}")
    text = str(value)
    allowed = declared.get("AllowedValues")
    if isinstance(allowed, list) and text not in [str(a) for a in allowed]:
        raise ValidationError(f"Parameter '{name}' must be one of AllowedValues ({', '.join(map(str, allowed))}), "
                              f"not {text!r}")
    if kind == "Number":
        try:
            float(text)
        except ValueError:
            raise ValidationError(f"Parameter '{name}' must be a number, not {text!r}") from None
    return text


def read(source: TemplateSource, parameters: Mapping[str, Any] | None = None,
         stack_name: str | None = None) -> Document:
    """The template in ``source`` (see the module notes), checked."""
    template, stem = _load_json(source)
    if not isinstance(template, Mapping):
        raise ValidationError(f"a template is a JSON object, not {type(template).__name__}")
    unknown = sorted(set(template) - _SECTIONS)
    if unknown:
        raise ValidationError(f"Template format error: unsupported structure: {', '.join(unknown)} "
                              f"(a template's sections are {', '.join(sorted(_SECTIONS))})")
    resources = template.get("Resources")
    if resources is not None and not isinstance(resources, Mapping):
        raise ValidationError(f"Template format error: Resources must be an object (logical id -> resource), "
                              f"not {type(resources).__name__}")
    if not resources:
        raise ValidationError("Template format error: at least one Resources member must be defined.")
    for logical, resource in resources.items():
        if not isinstance(logical, str) or not _LOGICAL_ID.fullmatch(logical):
            raise ValidationError(f"Template format error: resource name {logical!r} is non alphanumeric.")
        if not isinstance(resource, Mapping) or not isinstance(resource.get("Type"), str):
            raise ValidationError(f"Template format error: [/Resources/{logical}] Every Resources object must "
                                  "contain a Type member.")
        properties = resource.get("Properties", {})
        if not isinstance(properties, Mapping):
            raise ValidationError(f"Template format error: [/Resources/{logical}/Properties] must be an object")
    declared = template.get("Parameters") or {}
    if not isinstance(declared, Mapping):
        raise ValidationError("Template format error: Parameters must be an object")
    given = dict(parameters or {})
    extra = sorted(set(given) - set(declared))
    if extra:
        raise ValidationError(f"Parameters: {extra} do not exist in the template")
    values = {name: _parameter_value(name, spec if isinstance(spec, Mapping) else {}, given.get(name))
              for name, spec in declared.items()}
    types = {name: str(spec.get("Type", "String")) if isinstance(spec, Mapping) else "String"
             for name, spec in declared.items()}
    clashes = sorted(set(values) & set(resources))
    if clashes:
        raise ValidationError(f"Template format error: {clashes} are both a parameter and a resource")
    return Document(resources={k: dict(v) for k, v in resources.items()}, parameters=values, parameter_types=types,
                    mappings=dict(template.get("Mappings") or {}), conditions=_conditions(template),
                    outputs=dict(template.get("Outputs") or {}),
                    transform=template.get("Transform"),
                    stack_name=stack_name or _stack_name(resources, stem))


def _conditions(template: Mapping[str, Any]) -> dict[str, Any]:
    conditions = template.get("Conditions") or {}
    if not isinstance(conditions, Mapping):
        raise ValidationError("Template format error: Conditions must be an object (name -> condition)")
    return dict(conditions)
