"""The schema registry's records: registries, schemas and versions as its
operations return them (snapshots; ``as_aws()`` gives the AWS Schemas API's
response shapes), and the two schema types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["Registry", "RegistrySummary", "Schema", "SchemaSummary", "SchemaType", "SchemaVersionSummary"]

SchemaType = Literal["OpenApi3", "JSONSchemaDraft4"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    """A registry as ``describe_registry`` shows it (a snapshot)."""

    registry_name: str
    registry_arn: str
    description: str | None = None

    def as_aws(self) -> dict[str, Any]:
        """AWS's DescribeRegistry (and CreateRegistry, UpdateRegistry) response shape."""
        out: dict[str, Any] = {}
        if self.description is not None:
            out["Description"] = self.description
        out.update(RegistryArn=self.registry_arn, RegistryName=self.registry_name, Tags={})
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySummary:
    """A registry as ``list_registries`` lists it."""

    registry_name: str
    registry_arn: str

    def as_aws(self) -> dict[str, Any]:
        """AWS's RegistrySummary shape."""
        return {"RegistryArn": self.registry_arn, "RegistryName": self.registry_name, "Tags": {}}


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """One version of a schema as ``describe_schema`` shows it (a snapshot).
    ``description`` and ``last_modified`` are the schema's; ``content``,
    ``type`` and ``version_created_date`` the version's."""

    registry_name: str
    schema_name: str
    schema_arn: str
    schema_version: str
    type: SchemaType
    content: str
    description: str | None
    last_modified: datetime
    version_created_date: datetime

    def as_aws(self) -> dict[str, Any]:
        """AWS's DescribeSchema response shape."""
        out: dict[str, Any] = {"Content": self.content}
        if self.description is not None:
            out["Description"] = self.description
        out.update(LastModified=self.last_modified, SchemaArn=self.schema_arn, SchemaName=self.schema_name,
                   SchemaVersion=self.schema_version, Tags={}, Type=self.type,
                   VersionCreatedDate=self.version_created_date)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaSummary:
    """A schema as ``list_schemas`` lists it."""

    registry_name: str
    schema_name: str
    schema_arn: str
    last_modified: datetime
    version_count: int

    def as_aws(self) -> dict[str, Any]:
        """AWS's SchemaSummary shape."""
        return {"LastModified": self.last_modified, "SchemaArn": self.schema_arn, "SchemaName": self.schema_name,
                "Tags": {}, "VersionCount": self.version_count}


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaVersionSummary:
    """A version as ``list_schema_versions`` lists it."""

    schema_name: str
    schema_arn: str
    schema_version: str
    type: SchemaType

    def as_aws(self) -> dict[str, Any]:
        """AWS's SchemaVersionSummary shape."""
        return {"SchemaArn": self.schema_arn, "SchemaName": self.schema_name, "SchemaVersion": self.schema_version,
                "Type": self.type}
