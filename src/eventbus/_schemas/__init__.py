"""Schemas: EventBridge's schema registry, schema discovery, and the validation
of events against registered schemas.

* ``_infer``: the JSON Schema (Draft 4) of events and its join (pure functions);
* ``_compiled``: Draft 4 schemas compiled to plain Python checks, the fast
  path of validation (jsonschema's verdict, in a fraction of its time);
* ``_records``: the registries, schemas and versions its operations return;
* ``_checks``: the checks of a schema's content as it is written and of
  events against a schema (jsonschema's validators beside the fast path);
* ``_registry``: ``SchemaRegistry``, the store of registries and versioned
  schemas, with the discovery and validation hooks a bus calls per event.
"""

from ._infer import infer, is_date_time, merge, schema_name_for
from ._records import Registry, RegistrySummary, Schema, SchemaSummary, SchemaType, SchemaVersionSummary
from ._registry import AWS_EVENTS_REGISTRY, DISCOVERED_REGISTRY, SchemaRegistry

__all__ = ["AWS_EVENTS_REGISTRY", "DISCOVERED_REGISTRY", "Registry", "RegistrySummary", "Schema", "SchemaRegistry",
           "SchemaSummary", "SchemaType", "SchemaVersionSummary", "infer", "is_date_time", "merge", "schema_name_for"]
