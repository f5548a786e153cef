"""EventBridge's schema registry, in process: registries, versioned schemas,
schema discovery, and the validation of events against registered schemas.

A ``SchemaRegistry`` holds registries (the built-in ``discovered-schemas`` and
``aws.events`` exist from the start, as AWS lists them; ``aws.events`` is
empty here) and their schemas.  A schema is a list of immutable versions
("1", "2", ...; numbers are never reused, so a version number names one
content for good); ``update_schema`` adds a version only when the content
(or its type) changes.  Operations, parameters, response shapes
(``as_aws()``), ARNs and limits are those of the AWS Schemas API (botocore's
``schemas/2019-12-02`` model): content of 1 to 100,000 characters,
descriptions up to 256, types ``OpenApi3`` and ``JSONSchemaDraft4``.  The
model gives names no pattern; the ones here are Terraform's checks for AWS
(registry names ``[.\\-_A-Za-z0-9]+`` of at most 64 characters, schema names
also with ``@``, at most 385).  AWS's Schemas errors map to eventbus's:
``BadRequestException`` -> ``ValidationError``, ``NotFoundException`` ->
``ResourceNotFoundError``, ``ConflictException`` -> ``ConflictError``.  The
quotas are eventbus's bounds (AWS's Schema Registry quotas were not in the
sources this was built from) and raise ``ServiceQuotaExceededError``.

Content is checked as it is written (``_checks``): a JSON object, for
JSONSchemaDraft4 a Draft 4 schema naming no other draft, and in either type
no chain of ``$ref``s that loops without reaching a schema.

Two hooks serve a bus, on every PutEvents:

* ``_discover(event)`` folds the event into the ``discovered-schemas`` schema
  of its source and detail-type (``schema_name_for``).  Each discovered schema
  keeps a ``Shape`` (``_infer``): an event of a shape seen before costs one
  walk that builds nothing; only a change renders the schema, and a version
  is written only when its canonical JSON differs from the latest.  The join
  is order-free, so the discovered schema does not depend on the order events
  arrive in; an object node that has seen more than 256 distinct keys
  (ids used as keys, ...) collapses to ``{"type": "object"}``, so that such
  details stop adding a property, and a version, with every event.  A schema
  belongs to the first source and detail-type that made it (its
  ``x-amazon-events-source`` and ``x-amazon-events-detail-type``): events of
  another pair whose name is the same (``Order Placed`` and
  ``order-placed``; detail-types without ASCII words) are not merged in, and
  are logged once a pair.  A schema whose content would pass 100,000
  characters is widened to fit (its widest object nodes collapsed, logged
  once): it still admits every event seen and keeps covering new ones.
  Nothing raises to the bus.  The accumulators are bounded by the schema
  quota (the oldest goes; it is rebuilt from its schema's latest version
  when needed); what was logged once is remembered for the last 1,024 keys.
* ``_violation(registry_name, event)`` checks the event against the latest
  version of the schema its source and detail-type name in that registry
  (``_checks``: what of an ``OpenApi3`` document is the event's schema, the
  validators, the messages).  A schema whose content names another source
  and detail-type as its events' (those two marks) is not this event's: no
  check.  Updates and deletes replace or drop versions, so a stale
  validator is never used; only the latest version keeps its parsed content
  and validator (older ones keep their text, parsed again when asked for).
  The check fails closed: a registry that no longer exists fails every
  event, as a schema that cannot check events and an event too deep for
  the validator do.

One lock guards the store; every limit is a bound, so nothing kept per event
grows without end.  Times come from the clock (``clock.now()``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, cast

from .._clock import Clock, resolve_clock
from .._exceptions import (
    ConflictError,
    EventBusError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ValidationError,
)
from .._validate import (
    ACCOUNT,
    REGION,
    Sealed,
    check_description,
    check_instance,
    check_int,
    check_name,
    check_str,
    out_of_range,
    short,
    wrong_type,
)
from ._checks import _DECODER, MAX_CONTENT, _content, _jsonschema, _quoted, _violations
from ._infer import (
    CANONICAL,
    DETAIL_TYPE_KEY,
    MAX_SCHEMA_NAME,
    SOURCE_KEY,
    Shape,
    absorb_event,
    deep,
    dress,
    labels,
    schema_name_for,
    schema_name_unchecked,
    undress,
    widen,
)
from ._records import Registry, RegistrySummary, Schema, SchemaSummary, SchemaType, SchemaVersionSummary

__all__ = ["AWS_EVENTS_REGISTRY", "DISCOVERED_REGISTRY", "SchemaRegistry"]

log = logging.getLogger("eventbus.schemas")

REGISTRY_NAME: Final = r"[.\-_A-Za-z0-9]+"
SCHEMA_NAME: Final = r"[.\-_A-Za-z0-9@]+"
MAX_REGISTRY_NAME: Final = 64
MAX_DESCRIPTION: Final = 256
TYPES: Final = ("OpenApi3", "JSONSchemaDraft4")
DISCOVERED_REGISTRY: Final = "discovered-schemas"
AWS_EVENTS_REGISTRY: Final = "aws.events"
BUILT_IN: Final = (AWS_EVENTS_REGISTRY, DISCOVERED_REGISTRY)
_MAX_WARNED: Final = 1_024  # (what was logged once) kept, so that a warning is not repeated; the oldest goes



# -- the store -------------------------------------------------------------------------
class _Version:
    """One immutable version.  The latest version of a schema keeps its parsed
    content and, from its first check on, its validator; an older one keeps
    its text alone (parsed again when asked for)."""

    __slots__ = ("compiled", "content", "created", "marks", "number", "type", "validator", "value")

    def __init__(self, number: int, type: SchemaType, content: str, value: dict[str, Any], created: datetime) -> None:
        self.number = number
        self.type = type
        self.content = content  # the text, as given (or as eventbus wrote it)
        self.value: dict[str, Any] | None = value  # the parsed content, while this is the latest version
        self.created = created
        self.marks = _marks(type, value)  # the source and detail-type the content names as its events'
        self.validator: Any = None
        self.compiled: Any = None  # the fast check beside the validator (_compiled), when there is one

    def document(self) -> dict[str, Any]:
        """The parsed content (kept, or parsed again)."""
        value = self.value
        return value if value is not None else cast(dict[str, Any], deep(_DECODER.decode, self.content))

    def retire(self) -> None:
        """No longer the latest: keep the text alone."""
        self.value = self.validator = self.compiled = None

    def promote(self) -> None:
        """The latest again."""
        if self.value is None:
            self.value = self.document()


class _Schema:
    __slots__ = ("arn", "description", "last_modified", "latest", "name", "next_number", "versions")

    def __init__(self, name: str, arn: str, description: str | None, now: datetime) -> None:
        self.name = name
        self.arn = arn
        self.description = description
        self.last_modified = now
        self.versions: dict[int, _Version] = {}  # by number, ascending
        self.next_number = 1
        self.latest: _Version | None = None

    def add(self, type: SchemaType, content: str, value: dict[str, Any], now: datetime) -> _Version:
        version = _Version(self.next_number, type, content, value, now)
        if self.latest is not None:
            self.latest.retire()
        self.versions[version.number] = version
        self.next_number += 1
        self.latest = version
        self.last_modified = now
        return version


class _Registry:
    __slots__ = ("arn", "description", "name", "schemas")

    def __init__(self, name: str, arn: str, description: str | None) -> None:
        self.name = name
        self.arn = arn
        self.description = description
        self.schemas: dict[str, _Schema] = {}


class _Discovery:
    """A discovered schema's accumulator: what every event seen so far of its
    source and detail-type (the first to take its name) had."""

    __slots__ = ("detail_type", "shape", "source")

    def __init__(self, source: str, detail_type: str) -> None:
        self.source = source
        self.detail_type = detail_type
        self.shape = Shape()


class SchemaRegistry(Sealed):
    """EventBridge's schema registry, in process.

    ``SchemaRegistry(*, clock=None, account="123456789012", region="us-east-1",
    max_registries=100, max_schemas=1_000, max_versions=100)``: at most
    ``max_registries`` registries besides the built-in ones, ``max_schemas``
    schemas per registry and ``max_versions`` versions per schema
    (``ServiceQuotaExceededError`` past them; a discovered schema drops its
    oldest version instead).  Times (``LastModified``, ``VersionCreatedDate``)
    come from ``clock``.
    """

    def __init__(self, *, clock: object = None, account: str = "123456789012", region: str = "us-east-1",
                 max_registries: int = 100, max_schemas: int = 1_000, max_versions: int = 100) -> None:
        self.clock: Clock = resolve_clock(clock)
        self.account = check_name("account", account, ACCOUNT)
        self.region = check_name("region", region, REGION)
        self.max_registries = check_int("max_registries", max_registries, 0)
        self.max_schemas = check_int("max_schemas", max_schemas, 1)
        self.max_versions = check_int("max_versions", max_versions, 1)
        self._lock = threading.RLock()
        self._registries: dict[str, _Registry] = {name: _Registry(name, self._registry_arn(name), None)
                                                  for name in BUILT_IN}
        self._discovery: dict[str, _Discovery] = {}  # by discovered schema name
        self._full_logged = False
        self._warned: dict[tuple[str, ...], None] = {}  # what was logged once (at most _MAX_WARNED, oldest first)
        self._sealed = True

    def __repr__(self) -> str:
        with self._lock:
            count = sum(len(registry.schemas) for registry in self._registries.values())
        return f"<SchemaRegistry {len(self._registries)} registries, {count} schemas>"

    # -- registries ---------------------------------------------------------------------
    def _registry_arn(self, name: str) -> str:
        return f"arn:aws:schemas:{self.region}:{self.account}:registry/{name}"

    def _schema_arn(self, registry: str, name: str) -> str:
        return f"arn:aws:schemas:{self.region}:{self.account}:schema/{registry}/{name}"

    def _registry(self, name: str) -> _Registry:
        registry = self._registries.get(name)
        if registry is None:
            raise ResourceNotFoundError(f"Registry {name} does not exist.")
        return registry

    @staticmethod
    def _registry_record(registry: _Registry) -> Registry:
        return Registry(registry_name=registry.name, registry_arn=registry.arn, description=registry.description)

    def create_registry(self, registry_name: str, *, description: str | None = None) -> Registry:
        """Create a registry (AWS's CreateRegistry)."""
        name = check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        _description(description)
        with self._lock:
            if name in self._registries:
                raise ConflictError(f"Registry {name} already exists.")
            if len(self._registries) - len(BUILT_IN) >= self.max_registries:
                raise ServiceQuotaExceededError(f"The quota of {self.max_registries} registries is reached.")
            registry = self._registries[name] = _Registry(name, self._registry_arn(name), description)
            return self._registry_record(registry)

    def describe_registry(self, registry_name: str) -> Registry:
        """The registry (``.as_aws()``: AWS's DescribeRegistry shape)."""
        name = check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        with self._lock:
            return self._registry_record(self._registry(name))

    def list_registries(self, *, registry_name_prefix: str | None = None) -> list[RegistrySummary]:
        """The registries whose names start with ``registry_name_prefix``, by name."""
        if registry_name_prefix is not None:
            check_str("registryNamePrefix", registry_name_prefix)
        with self._lock:
            return [RegistrySummary(registry_name=name, registry_arn=registry.arn)
                    for name, registry in sorted(self._registries.items())
                    if registry_name_prefix is None or name.startswith(registry_name_prefix)]

    def update_registry(self, registry_name: str, *, description: str | None = None) -> Registry:
        """Change a registry's description (AWS's UpdateRegistry; ``None`` leaves it)."""
        name = check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        _description(description)
        with self._lock:
            registry = self._registry(name)
            _refuse_built_in(name, "changed")
            if description is not None:
                registry.description = description
            return self._registry_record(registry)

    def delete_registry(self, registry_name: str) -> None:
        """Delete a registry and every schema in it (AWS's DeleteRegistry).  The
        built-in registries cannot be deleted."""
        name = check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        with self._lock:
            self._registry(name)
            _refuse_built_in(name, "deleted")
            del self._registries[name]

    # -- schemas ------------------------------------------------------------------------
    def _schema(self, registry_name: object, schema_name: object) -> tuple[_Registry, _Schema]:
        registry = self._registry(check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME))
        name = check_name("schemaName", schema_name, SCHEMA_NAME, MAX_SCHEMA_NAME)
        schema = registry.schemas.get(name)
        if schema is None:
            raise ResourceNotFoundError(f"Schema {name} does not exist in registry {registry.name}.")
        return registry, schema

    def _record(self, registry: _Registry, schema: _Schema, version: _Version) -> Schema:
        return Schema(registry_name=registry.name, schema_name=schema.name, schema_arn=schema.arn,
                      schema_version=str(version.number), type=version.type, content=version.content,
                      description=schema.description, last_modified=schema.last_modified,
                      version_created_date=version.created)

    def create_schema(self, registry_name: str, schema_name: str, content: str | Mapping[str, Any],
                      type: SchemaType = "JSONSchemaDraft4", *, description: str | None = None) -> Schema:
        """Create a schema, at version "1" (AWS's CreateSchema; ``type`` is required
        there, and defaults here to the dialect eventbus discovers and checks in).  ``content``: JSON
        text or a mapping (written as compact JSON), a JSON object of 1 to
        100,000 characters as text; ``type``: ``"JSONSchemaDraft4"`` or
        ``"OpenApi3"``.  Schemas of the built-in registries are EventBridge's
        to write."""
        check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        name = check_name("schemaName", schema_name, SCHEMA_NAME, MAX_SCHEMA_NAME)
        checked_type = _type(type)
        _description(description)
        text, value = _content(content, checked_type)
        with self._lock:
            registry = self._registry(registry_name)
            _refuse_built_in(registry.name, "written to")
            if name in registry.schemas:
                raise ConflictError(f"Schema {name} already exists in registry {registry.name}.")
            if len(registry.schemas) >= self.max_schemas:
                raise ServiceQuotaExceededError(f"The quota of {self.max_schemas} schemas in registry "
                                                f"{registry.name} is reached.")
            now = self.clock.now()
            schema = registry.schemas[name] = _Schema(name, self._schema_arn(registry.name, name), description, now)
            return self._record(registry, schema, schema.add(checked_type, text, value, now))

    def update_schema(self, registry_name: str, schema_name: str, *, content: str | Mapping[str, Any] | None = None,
                      description: str | None = None, type: SchemaType | None = None) -> Schema:
        """Change a schema (AWS's UpdateSchema): a new version when the content or
        the type changes (content that parses to the same JSON value is no
        change), the description in place.  What is left out (``None``) stays.
        Returns the latest version."""
        check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        check_name("schemaName", schema_name, SCHEMA_NAME, MAX_SCHEMA_NAME)
        checked_type = None if type is None else _type(type)
        _description(description)
        with self._lock:
            registry, schema = self._schema(registry_name, schema_name)
            _refuse_built_in(registry.name, "written to")
            latest = schema.latest
            assert latest is not None  # (a schema always has a version)
            new_type = latest.type if checked_type is None else checked_type
            if content is not None or new_type != latest.type:  # (the content is checked as the new type)
                text, value = _content(latest.content if content is None else content, new_type)
            else:
                text, value = latest.content, latest.document()
            now = self.clock.now()
            # The same JSON value is no change; compared as canonical text, where true is not 1, nor 1 1.0.
            if new_type != latest.type or not _same_json(value, latest.document()):
                if len(schema.versions) >= self.max_versions:
                    raise ServiceQuotaExceededError(f"The quota of {self.max_versions} versions of schema "
                                                    f"{schema.name} is reached.")
                latest = schema.add(new_type, text, value, now)
            if description is not None and description != schema.description:
                schema.description = description
                schema.last_modified = now
            return self._record(registry, schema, latest)

    def describe_schema(self, registry_name: str, schema_name: str, schema_version: str | None = None) -> Schema:
        """A version of a schema, the latest by default (``.as_aws()``: AWS's
        DescribeSchema shape)."""
        with self._lock:
            registry, schema = self._schema(registry_name, schema_name)
            return self._record(registry, schema, self._version(schema, schema_version))

    @staticmethod
    def _version(schema: _Schema, schema_version: str | None) -> _Version:
        if schema_version is None:
            assert schema.latest is not None
            return schema.latest
        check_str("schemaVersion", schema_version)
        number = schema_version if schema_version.isascii() and schema_version.isdigit() else ""
        version = schema.versions.get(int(number)) if 0 < len(number) < 20 and number[0] != "0" else None
        if version is None:
            raise ResourceNotFoundError(f"Version {short(schema_version)} of schema {schema.name} does not exist.")
        return version

    def list_schemas(self, registry_name: str, *, schema_name_prefix: str | None = None) -> list[SchemaSummary]:
        """The schemas of a registry whose names start with ``schema_name_prefix``,
        by name."""
        name = check_name("registryName", registry_name, REGISTRY_NAME, MAX_REGISTRY_NAME)
        if schema_name_prefix is not None:
            check_str("schemaNamePrefix", schema_name_prefix)
        with self._lock:
            registry = self._registry(name)
            return [SchemaSummary(registry_name=name, schema_name=schema.name, schema_arn=schema.arn,
                                  last_modified=schema.last_modified, version_count=len(schema.versions))
                    for schema_name, schema in sorted(registry.schemas.items())
                    if schema_name_prefix is None or schema_name.startswith(schema_name_prefix)]

    def list_schema_versions(self, registry_name: str, schema_name: str) -> list[SchemaVersionSummary]:
        """The versions of a schema, oldest first."""
        with self._lock:
            _, schema = self._schema(registry_name, schema_name)
            return [SchemaVersionSummary(schema_name=schema.name, schema_arn=schema.arn,
                                         schema_version=str(number), type=version.type)
                    for number, version in schema.versions.items()]

    def delete_schema(self, registry_name: str, schema_name: str) -> None:
        """Delete a schema and all its versions (AWS's DeleteSchema).  A discovered
        schema starts afresh, at version "1", with the next event."""
        with self._lock:
            registry, schema = self._schema(registry_name, schema_name)
            _refuse_built_in(registry.name, "written to", allow=DISCOVERED_REGISTRY)
            del registry.schemas[schema.name]
            if registry.name == DISCOVERED_REGISTRY:
                self._discovery.pop(schema.name, None)

    def delete_schema_version(self, registry_name: str, schema_name: str, schema_version: str) -> None:
        """Delete one version (AWS's DeleteSchemaVersion); the only version left
        cannot be deleted (delete the schema).  Its number is not reused."""
        with self._lock:
            registry, schema = self._schema(registry_name, schema_name)
            _refuse_built_in(registry.name, "written to", allow=DISCOVERED_REGISTRY)
            version = self._version(schema, check_str("schemaVersion", schema_version))
            if len(schema.versions) == 1:
                raise ValidationError(f"Version {version.number} is the only version of schema {schema.name}: "
                                      "delete the schema instead.")
            del schema.versions[version.number]
            schema.latest = next(reversed(schema.versions.values()))
            schema.latest.promote()
            if registry.name == DISCOVERED_REGISTRY:
                self._discovery.pop(schema.name, None)  # (rebuilt from the latest version by the next event)

    # -- validation ---------------------------------------------------------------------
    def check_event(self, registry_name: str, event: dict[str, Any], *, schema_name: str | None = None,
                    schema_version: str | None = None) -> list[str]:
        """Every way ``event`` (a whole event: envelope and ``detail``) breaks a
        schema: by default the latest version of the schema its source and
        detail-type name (``schema_name_for``; ``ResourceNotFoundError`` when
        that schema's content names another source and detail-type as its
        events', as for two whose names collide: give ``schema_name`` to
        check against it anyway).  ``[]`` when it conforms."""
        check_instance("event", event, dict, "<class 'dict'>")
        named = schema_name is None
        source, detail_type = labels(event)
        if schema_name is None:
            if source is None or detail_type is None:
                raise ValidationError("The event has no source and detail-type to name its schema: give "
                                      "schema_name")
            schema_name = schema_name_for(source, detail_type)
        with self._lock:
            registry, schema = self._schema(registry_name, schema_name)
            version = self._version(schema, schema_version)
        marks = version.marks
        if named and marks is not None and marks != (source, detail_type):
            raise ResourceNotFoundError(
                f"Schema {schema.name} in registry {registry.name} is the schema of {_pair(*marks)}, not of this "
                f"event's {_pair(source, detail_type)}: give schema_name to check the event against it.")
        return _violations(registry.name, schema.name, version, event, every=True)

    def _ready(self) -> None:
        """Import the validator now (a bus turning checks on calls this, so that the
        first checked event does not pay for it inside ``put_events``)."""
        _jsonschema()

    def _violation(self, registry_name: str, event: dict[str, Any]) -> str | None:
        """The bus's check of one event (hot path): ``None`` when it conforms to the
        latest version of its schema in the registry, or when there is none
        (a schema whose content names another source and detail-type as its
        events' is not this event's: see ``_marks``); else a message naming
        the schema, its version, the JSON path and the validator's complaint.
        A registry that does not exist (deleted under the bus) fails every
        event.  Never raises."""
        if type(event) is not dict:
            return None
        source, detail_type = labels(event)
        name = None if source is None or detail_type is None else schema_name_unchecked(source, detail_type)
        with self._lock:
            registry = self._registries.get(registry_name)
            if registry is None:
                return f"Registry {registry_name} does not exist: events cannot be checked against its schemas"
            if name is None:
                return None
            schema = registry.schemas.get(name)
            version = None if schema is None else schema.latest
        if version is None:
            return None
        marks = version.marks
        if marks is not None and (marks[0] != source or marks[1] != detail_type):
            return None
        found = _violations(registry_name, name, version, event, every=False)
        return found[0] if found else None

    # -- discovery ----------------------------------------------------------------------
    def _discover(self, event: dict[str, Any]) -> None:
        """The bus's discovery of one event (hot path): fold it into its schema in
        ``discovered-schemas``, writing a version only when the schema changes.
        Never raises: a failure is logged and the schema rebuilt from its latest
        version by the next event."""
        if type(event) is not dict:
            return
        source, detail_type = labels(event)
        if source is None or detail_type is None:
            return
        name = schema_name_unchecked(source, detail_type)  # (labels() gave strings: the cached name, unchecked)
        with self._lock:
            state = self._discovery.get(name)
            try:
                if state is None:
                    state = self._start_discovery(name, source, detail_type)
                    if state is None:
                        return
                if state.source != source or state.detail_type != detail_type:
                    self._warn_once(("name", name, state.source, state.detail_type, source, detail_type),
                                    "schema discovery: events of %s are not discovered: their schema name %s is "
                                    "taken by the schema of %s", _pair(source, detail_type), name,
                                    _pair(state.source, state.detail_type))
                    return
                if not absorb_event(state.shape, event):
                    return
                self._write_discovered(name, state)
            except (EventBusError, ValueError, TypeError, RecursionError) as exc:
                self._discovery.pop(name, None)
                log.warning("schema discovery skipped an event for %s: %s", name, exc)

    def _warn_once(self, key: tuple[str, ...], message: str, *args: object) -> None:
        """Log a warning unless it was logged before (while its key is kept)."""
        warned = self._warned
        if key in warned:
            return
        if len(warned) >= _MAX_WARNED:
            del warned[next(iter(warned))]
        warned[key] = None
        log.warning(message, *args)

    def _start_discovery(self, name: str, source: str, detail_type: str) -> _Discovery | None:
        registry = self._registries[DISCOVERED_REGISTRY]
        schema = registry.schemas.get(name)
        state = _Discovery(source, detail_type)
        if schema is not None:
            assert schema.latest is not None
            node, known_source, known_detail_type = undress(schema.latest.document())
            state.source = known_source or source
            state.detail_type = known_detail_type or detail_type
            deep(state.shape.absorb_schema, node)
        elif len(registry.schemas) >= self.max_schemas:
            if not self._full_logged:
                self._full_logged = True
                log.warning("schema discovery: registry %s holds %d schemas, its quota; events of new kinds are "
                            "not discovered", DISCOVERED_REGISTRY, self.max_schemas)
            return None
        if len(self._discovery) >= self.max_schemas:
            # A bound: states beyond the schemas (one too big to write even once) cannot pile up.  An evicted
            # state is rebuilt from its schema's latest version when its events come back.
            del self._discovery[next(iter(self._discovery))]
        self._discovery[name] = state
        return state

    def _write_discovered(self, name: str, state: _Discovery) -> None:
        schema_value = dress(deep(state.shape.render), state.source, state.detail_type)
        text = deep(CANONICAL.encode, schema_value)
        if len(text) > MAX_CONTENT:
            # Widen rather than stop: collapse object nodes, the widest first, until the schema fits; it still
            # admits every event seen, and keeps covering the events that come.
            self._warn_once(("size", name), "schema discovery: the schema %s would pass %d characters: its widest "
                            "objects are collapsed to {\"type\": \"object\"} (any object) to keep it within", name,
                            MAX_CONTENT)
            while len(text) > MAX_CONTENT and widen(state.shape, len(text) - MAX_CONTENT):
                schema_value = dress(deep(state.shape.render), state.source, state.detail_type)
                text = deep(CANONICAL.encode, schema_value)
            if len(text) > MAX_CONTENT:  # (its source and detail-type alone are too long)
                self._warn_once(("too long", name), "schema discovery: the schema %s would pass %d characters even "
                                "with every object collapsed; it is not written", name, MAX_CONTENT)
                return
        registry = self._registries[DISCOVERED_REGISTRY]
        schema = registry.schemas.get(name)
        if schema is not None and schema.latest is not None and schema.latest.content == text:
            return
        now = self.clock.now()
        if schema is None:
            schema = registry.schemas[name] = _Schema(name, self._schema_arn(DISCOVERED_REGISTRY, name), None, now)
        schema.add("JSONSchemaDraft4", text, schema_value, now)
        while len(schema.versions) > self.max_versions:
            del schema.versions[next(iter(schema.versions))]


# -- checks and helpers ------------------------------------------------------------------
def _refuse_built_in(name: str, what: str, *, allow: str | None = None) -> None:
    if name in BUILT_IN and name != allow:
        raise ValidationError(f"Registry {name} is managed by EventBridge and cannot be {what}.")


def _pair(source: str | None, detail_type: str | None) -> str:
    """``source "shop" and detail-type "Order Placed"``, for messages."""
    return f"source {_quoted(source)} and detail-type {_quoted(detail_type)}"


def _marks(schema_type: SchemaType, value: dict[str, Any]) -> tuple[str, str] | None:
    """The source and detail-type a schema's content names as its events' (AWS's
    ``x-amazon-events-source`` and ``x-amazon-events-detail-type``: at the root
    of a JSONSchemaDraft4 schema, as discovery writes them; on
    ``components.schemas.AWSEvent`` in an OpenApi3 document, as AWS's event
    schemas have them), when it names both; else ``None``."""
    node: Any = value
    if schema_type == "OpenApi3":
        for key in ("components", "schemas", "AWSEvent"):
            node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return None
    source, detail_type = node.get(SOURCE_KEY), node.get(DETAIL_TYPE_KEY)
    return (source, detail_type) if isinstance(source, str) and isinstance(detail_type, str) else None


def _description(description: object) -> None:
    check_description("description", description, MAX_DESCRIPTION)


def _type(value: object) -> SchemaType:
    if not isinstance(value, str):
        raise wrong_type("Type", value, "<class 'str'>")
    if value not in TYPES:
        raise out_of_range("type", value, "Member must satisfy enum value set: [" + ", ".join(TYPES) + "]")
    return cast(SchemaType, value)


def _same_json(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(deep(CANONICAL.encode, a) == deep(CANONICAL.encode, b))
