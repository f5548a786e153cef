"""The checks of a schema registry: of a schema's content as it is written,
and of events against a version of a schema.  The registry (``_registry``)
keeps the versions; what it needs to know of JSON Schema is here.

Content must be a JSON object; a JSONSchemaDraft4 schema must pass Draft 4's
meta-schema and may not name another draft in a ``$schema`` (at the root,
the Draft 4 validator would read it as Draft 4, so a draft-07 ``const``
would enforce nothing; below it, jsonschema would switch drafts).  In
either type, a chain of ``$ref``s that comes back on itself without
reaching a schema (``{"$ref": "#"}``, two definitions naming each other)
is refused, naming where it starts and the chain: it admits nothing, and
jsonschema would follow it until its stack ran out at every event (a
schema that refers to itself below a keyword, a tree's node, is fine).

An event is checked against the version's schema (for ``OpenApi3`` the
document's ``components.schemas.AWSEvent``, where AWS's event schemas put
the event, with OpenAPI 3.0's ``nullable: true`` translated to Draft 4 on a
copy: ``"null"`` added to the ``type``, ``null`` to the ``enum``).  Each
latest version compiles, on first use, jsonschema's Draft 4 validator (with
a ``referencing`` registry that retrieves nothing: a remote ``$ref`` fails
at once, never a network call) and beside it the fast check of
``_compiled`` (closures that give jsonschema's verdict in a fraction of its
time; ``None`` for a schema using what they do not compile).  The bus's
hook asks the fast check first and jsonschema only for an event it finds
invalid (for the message) or when there is none; ``check_event`` lists
every error with jsonschema.  Messages give the JSON path and jsonschema's
complaint, with the value it starts with written as JSON (``null``,
``true``, ``"4"``; cut to 80 characters).  The check fails closed: a schema
that cannot check events (an unresolvable ``$ref``, an OpenApi3 document
without ``AWSEvent``) and an event too deep for the validator are reported
as violations.

``jsonschema`` is imported on first use (discovery does not need it).
"""

from __future__ import annotations

import copy
import importlib
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from .._delivery._payload import COMPACT, STRICT
from .._exceptions import ValidationError
from .._validate import check_str, out_of_range, short, wrong_type
from ._compiled import DRAFT4_URIS, resolve_local
from ._infer import DRAFT4, deep
from ._records import SchemaType

if TYPE_CHECKING:
    from ._registry import _Version

__all__ = ["MAX_CONTENT", "_DECODER", "_content", "_jsonschema", "_quoted", "_violations"]

MAX_CONTENT: Final = 100_000  # characters of a schema's content
OPENAPI_EVENT: Final = "#/components/schemas/AWSEvent"  # where AWS's OpenApi3 event schemas put the event
_MESSAGE: Final = 200  # characters of a validator's message kept in a violation
_VALUE: Final = 80  # characters of the value a validator's message starts with

_READABLE: Final = json.JSONEncoder(ensure_ascii=False)  # a value in a message: JSON as people write it

_DECODER: Final = STRICT  # (the delivery layer's: JSON, and only JSON)


# -- schema content ----------------------------------------------------------------------
def _content(content: object, schema_type: SchemaType) -> tuple[str, dict[str, Any]]:
    """The content's text and its JSON object, checked."""
    if isinstance(content, Mapping):
        try:
            text = deep(COMPACT.encode, content)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(f"Content is not JSON: {short(exc)}") from None
    elif isinstance(content, str):
        text = content
    else:
        raise wrong_type("Content", content, "<class 'str'>, <class 'dict'>")
    if not text:
        raise out_of_range("content", text, "Member must have length greater than or equal to 1")
    check_str("content", text)  # (valid Unicode: a mapping may hold lone surrogates)
    if len(text) > MAX_CONTENT:
        raise out_of_range("content", text, f"Member must have length less than or equal to {MAX_CONTENT}")
    try:
        value = deep(_DECODER.decode, text)
    except RecursionError:
        raise ValidationError("Content is nested too deeply to be read.") from None
    except ValueError as exc:
        raise ValidationError(f"Content is not valid JSON: {short(exc)}") from None
    if not isinstance(value, dict):
        raise ValidationError(f"Content must be a JSON object, not {_kind(value)}.")
    if schema_type == "JSONSchemaDraft4":
        for path, node in _subschemas(value, "JSONSchemaDraft4"):  # (first: another draft's keywords confuse the rest)
            if "$schema" in node and not (isinstance(node["$schema"], str) and node["$schema"] in DRAFT4_URIS):
                raise ValidationError(f"Content is not a valid JSONSchemaDraft4 schema: at {_path(path)}: $schema "
                                      f"{_quoted(node['$schema'])} is not Draft 4's \"{DRAFT4}\"")
        jsonschema = _jsonschema()
        try:
            deep(jsonschema.Draft4Validator.check_schema, value)
        except RecursionError:
            raise ValidationError("Content is nested too deeply to be checked as a JSON Schema.") from None
        except jsonschema.SchemaError as exc:
            raise ValidationError(f"Content is not a valid JSONSchemaDraft4 schema: at "
                                  f"{_path(exc.absolute_path)}: {_message(exc)}") from None
    _refuse_loops(value, schema_type)
    return text, value


#: Draft 4's keywords whose value is a schema, a list of schemas, or an object of schemas.
_ONE_SCHEMA: Final = ("additionalItems", "additionalProperties", "items", "not")
_SCHEMA_LISTS: Final = ("allOf", "anyOf", "items", "oneOf")
_SCHEMA_MAPS: Final = ("definitions", "dependencies", "patternProperties", "properties")


def _subschemas(document: dict[str, Any], schema_type: SchemaType) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every schema object in the document, with its path (outermost first): the
    root of a JSONSchemaDraft4 schema, an OpenApi3 document's
    ``components.schemas``, and every schema under them (the values of
    Draft 4's schema keywords; not what ``enum``, ``default`` or an
    annotation holds).  Anything malformed is passed over; no recursion."""
    todo: list[tuple[list[Any], dict[str, Any]]] = []
    if schema_type == "OpenApi3":
        components = document.get("components")
        schemas = components.get("schemas") if isinstance(components, dict) else None
        if isinstance(schemas, dict):
            todo.extend((["components", "schemas", name], node) for name, node in schemas.items()
                        if isinstance(node, dict))
        todo.reverse()
    else:
        todo.append(([], document))
    while todo:
        path, node = todo.pop()
        yield path, node
        found: list[tuple[list[Any], dict[str, Any]]] = []
        for word, sub in node.items():
            if word in _ONE_SCHEMA and isinstance(sub, dict):
                found.append(([*path, word], sub))
            elif word in _SCHEMA_LISTS and isinstance(sub, list):
                found.extend(([*path, word, index], item) for index, item in enumerate(sub) if isinstance(item, dict))
            elif word in _SCHEMA_MAPS and isinstance(sub, dict):
                found.extend(([*path, word, key], item) for key, item in sub.items() if isinstance(item, dict))
        todo.extend(reversed(found))


def _event_root(document: dict[str, Any], schema_type: SchemaType) -> dict[str, Any] | str:
    """The schema an event is checked against, or why there is none: a
    JSONSchemaDraft4 schema itself; for an OpenApi3 document, its
    ``components.schemas.AWSEvent`` (where AWS's event schemas put the
    event): the document with a ``$ref`` to it (Draft 4: a ``$ref``
    overrides the keywords beside it)."""
    if schema_type != "OpenApi3":
        return document
    components = document.get("components")
    schemas = components.get("schemas") if isinstance(components, dict) else None
    if not (isinstance(schemas, dict) and isinstance(schemas.get("AWSEvent"), dict)):
        return "the OpenApi3 document has no components.schemas.AWSEvent"
    return {**document, "$ref": OPENAPI_EVENT}


def _validation_root(document: dict[str, Any], schema_type: SchemaType) -> dict[str, Any] | str:
    """``_event_root``, and for an OpenApi3 document, OpenAPI 3.0's ``nullable:
    true`` written as Draft 4 says it, on a copy: ``"null"`` added to a
    ``type`` beside it, ``null`` to an ``enum`` (OpenAPI: "a true value adds
    "null" to the allowed types specified by the type keyword"; without a
    ``type`` or an ``enum`` it adds nothing)."""
    if (schema_type != "OpenApi3" or isinstance(_event_root(document, schema_type), str)
            or not any(node.get("nullable") is True for _, node in _subschemas(document, "OpenApi3"))):
        return _event_root(document, schema_type)
    document = deep(copy.deepcopy, document)
    for _, node in _subschemas(document, "OpenApi3"):
        if node.get("nullable") is True and "$ref" not in node:  # (beside a $ref, Draft 4 reads nothing)
            declared = node.get("type")
            if isinstance(declared, str) and declared != "null":
                node["type"] = [declared, "null"]
            elif isinstance(declared, list) and "null" not in declared:
                node["type"] = [*declared, "null"]
            enum = node.get("enum")
            if isinstance(enum, list) and not any(member is None for member in enum):
                node["enum"] = [*enum, None]
    return _event_root(document, schema_type)


def _refuse_loops(document: dict[str, Any], schema_type: SchemaType) -> None:
    """Refuse a chain of ``$ref``s that comes back on itself without reaching a
    schema (``{"$ref": "#"}``, two definitions that name each other): it
    admits nothing and checks nothing, and jsonschema follows it until its
    stack runs out, at every event.  A schema that refers to itself from
    below a keyword (a tree's node, whose children are nodes) is no loop:
    each step goes into the event.  References ``_compiled`` cannot follow
    (another document, through an ``id``) are left to jsonschema."""
    event_root = _event_root(document, schema_type)
    root = document if isinstance(event_root, str) else event_root
    ends: set[int] = set()  # nodes whose chain reaches a schema (or leaves the document)
    for path, node in _subschemas(document, schema_type):
        if "$ref" not in node or id(node) in ends:
            continue
        chain, seen, hop = [node["$ref"]], [id(node)], resolve_local(root, node["$ref"])
        while hop is not None and "$ref" in hop and id(hop) not in ends:
            if id(hop) in seen:
                chain.append(hop["$ref"])
                raise ValidationError(f"Content is not a valid {schema_type} schema: at {_path(path)}: the $ref "
                                      f"chain {' -> '.join(short(ref) for ref in chain)} loops without reaching a "
                                      "schema")
            seen.append(id(hop))
            chain.append(hop["$ref"])
            hop = resolve_local(root, hop["$ref"])
        ends.update(seen)


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _quoted(text: str | None) -> str:
    return short(json.dumps(text, ensure_ascii=False))


# -- jsonschema, and events checked with it ----------------------------------------------
_JSONSCHEMA: Any = None


def _jsonschema() -> Any:
    """The ``jsonschema`` package, imported when first needed (discovery does not need it)."""
    global _JSONSCHEMA
    if _JSONSCHEMA is None:
        _JSONSCHEMA = importlib.import_module("jsonschema")
    return _JSONSCHEMA


def _path(parts: Any) -> str:
    """A JSON path: ``$.detail.items[0]["odd key"]`` (a key with hyphens, such as
    ``detail-type``, stays dotted)."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.replace("-", "_").isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)


_OFFLINE: Any = None


def _offline() -> Any:
    """A ``referencing`` registry that retrieves nothing: jsonschema's validators
    resolve a reference within the schema and to the JSON Schema meta-schemas
    (which jsonschema adds to any registry), and a remote one is
    ``Unresolvable``, at once; without it jsonschema fetches it over HTTP, with
    no timeout, at every check."""
    global _OFFLINE
    if _OFFLINE is None:
        _OFFLINE = importlib.import_module("referencing").Registry()
    return _OFFLINE


def _validator(version: _Version) -> tuple[Any, Any]:
    """The version's jsonschema validator, or why it has none, and its fast check
    (``_compiled``; ``None`` when the schema uses what it does not compile).
    Compiled on first use and kept while the version is the latest (two
    threads racing compile it twice, harmlessly); an older version's is
    compiled for the call."""
    validator = version.validator
    if validator is not None:
        return validator, version.compiled
    keep = version.value is not None
    root = _validation_root(version.document(), version.type)
    if isinstance(root, str):
        if keep:
            version.validator = root
        return root, None
    validator = _jsonschema().Draft4Validator(root, registry=_offline())
    from ._compiled import compile_draft4  # (with jsonschema: discovery needs neither)

    compiled = compile_draft4(root)
    if keep:
        version.compiled = compiled  # (set first: a thread that sees the validator sees it too)
        version.validator = validator
    return validator, compiled


def _errors(validator: Any, event: dict[str, Any], every: bool) -> list[Any]:
    if every:
        return sorted(validator.iter_errors(event), key=lambda error: _path(error.absolute_path))
    best = _jsonschema().exceptions.best_match(validator.iter_errors(event))
    return [] if best is None else [best]


def _violations(registry: str, schema: str, version: _Version, event: dict[str, Any], *,
                every: bool) -> list[str]:
    """What is wrong with the event under the version, one message each: the
    best match (``every`` false: the bus's hook) or all of them.  The bus's
    hook asks the compiled check first: the same verdict as jsonschema's, in
    a fraction of the time; jsonschema runs only for an event it finds
    invalid (for the message), or when there is none."""
    validator, compiled = version.validator, version.compiled
    if validator is None:
        validator, compiled = _validator(version)
    if compiled is not None and not every and not isinstance(validator, str):
        try:
            if compiled(event):  # (the hot path: a valid event, nothing else built)
                return []
        except Exception:  # nested past its budget (RecursionError) or a value it cannot judge: jsonschema judges
            pass
    head = f"Event does not match schema {schema} version {version.number} in registry {registry}"
    if isinstance(validator, str):
        return [f"{head}: the schema cannot check events: {validator}"]
    try:
        errors = deep(_errors, validator, event, every)
    except RecursionError:
        return [f"{head}: the event is nested too deeply to be checked"]
    except Exception as exc:  # the schema is broken (e.g. an unresolvable $ref): say so, never raise to the bus
        return [f"{head}: the schema cannot check events: {short(exc, _MESSAGE)}"]
    return [f"{head}: at {_path(error.absolute_path)}: {_message(error)}" for error in errors]


def _message(error: Any) -> str:
    """A jsonschema error's message, cut to ``_MESSAGE`` characters, with the value
    it starts with (jsonschema writes the instance's ``repr``: ``None``,
    ``True``, ``'4'``) written as JSON (``null``, ``true``, ``"4"``), cut to
    ``_VALUE`` characters."""
    message: str = error.message
    instance = error.instance
    try:
        shown = repr(instance)
    except Exception:  # (an int past Python's digit limit for str(), an odd object)
        shown = None
    if shown is not None and message.startswith(shown):
        value = _json_start(instance)
        if value is not None:
            message = value + message[len(shown):]
    return short(message, _MESSAGE)


def _json_start(value: Any) -> str | None:
    """``value`` as JSON, cut to ``_VALUE`` characters (encoded no further than
    that), or ``None`` when it is not JSON."""
    out: list[str] = []
    size = 0
    try:
        for chunk in _READABLE.iterencode(value):
            out.append(chunk)
            size += len(chunk)
            if size > _VALUE:
                break
    except (TypeError, ValueError, RecursionError):
        return None
    text = "".join(out)
    return text if len(text) <= _VALUE else text[:_VALUE - 3] + "..."
