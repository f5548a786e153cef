"""The schema registry: AWS's operations, shapes, limits and errors; schema
discovery's versions; validation of events against registered schemas."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import event as hypothesis_event
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from eventbus import ConflictError, ManualClock, ResourceNotFoundError, ServiceQuotaExceededError, ValidationError
from eventbus._schemas import SchemaRegistry, SchemaType, infer, merge, schema_name_for
from eventbus._schemas import _registry as registry_module

from ..support import message
from .test_infer import events, wide_events

T0 = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
DISCOVERED = "discovered-schemas"
DRAFT4 = "http://json-schema.org/draft-04/schema#"
ORDER = {"$schema": DRAFT4, "type": "object", "required": ["detail"],
         "properties": {"detail": {"type": "object", "required": ["total"],
                                   "properties": {"total": {"type": "number"}}}}}


def setup(**kwargs: Any) -> tuple[ManualClock, SchemaRegistry]:
    clock = ManualClock(T0)
    return clock, SchemaRegistry(clock=clock, **kwargs)


def event(detail: Any, *, source: str = "my.app", detail_type: str = "Order Placed") -> dict[str, Any]:
    return {"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": detail_type,
            "source": source, "account": "123456789012", "time": "2024-03-01T12:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail}


def arn(kind: str, path: str) -> str:
    return f"arn:aws:schemas:us-east-1:123456789012:{kind}/{path}"


# -- registries --------------------------------------------------------------------------
def test_the_built_in_registries_exist_from_the_start_and_are_listed_by_name() -> None:
    _, registry = setup()
    assert [r.as_aws() for r in registry.list_registries()] == [
        {"RegistryArn": arn("registry", "aws.events"), "RegistryName": "aws.events", "Tags": {}},
        {"RegistryArn": arn("registry", DISCOVERED), "RegistryName": DISCOVERED, "Tags": {}}]
    assert registry.list_schemas("aws.events") == []
    assert repr(registry) == "<SchemaRegistry 2 registries, 0 schemas>"


def test_a_registry_is_created_described_updated_listed_and_deleted() -> None:
    _, registry = setup(account="111122223333", region="eu-west-1")
    created = registry.create_registry("orders", description="order events")
    assert created.as_aws() == {"Description": "order events",
                                "RegistryArn": "arn:aws:schemas:eu-west-1:111122223333:registry/orders",
                                "RegistryName": "orders", "Tags": {}}
    assert registry.describe_registry("orders") == created
    assert registry.update_registry("orders", description="").as_aws()["Description"] == ""
    assert registry.update_registry("orders").description == ""  # (None leaves it)
    registry.create_registry("other")
    assert registry.describe_registry("other").as_aws() == {
        "RegistryArn": "arn:aws:schemas:eu-west-1:111122223333:registry/other", "RegistryName": "other", "Tags": {}}
    assert [r.registry_name for r in registry.list_registries(registry_name_prefix="o")] == ["orders", "other"]
    assert [r.registry_name for r in registry.list_registries(registry_name_prefix="ord")] == ["orders"]
    registry.create_schema("orders", "placed", ORDER, "JSONSchemaDraft4")
    registry.delete_registry("orders")  # (with its schemas)
    assert [r.registry_name for r in registry.list_registries()] == ["aws.events", DISCOVERED, "other"]
    registry.create_registry("orders")
    assert registry.list_schemas("orders") == []


@pytest.mark.parametrize(("call", "text"), [
    (lambda r: r.create_registry(""), "ValidationError: 1 validation error detected: Value '' at 'registryName' failed "
                                      "to satisfy constraint: Member must have length greater than or equal to 1"),
    (lambda r: r.create_registry("a" * 65), "ValidationError: 1 validation error detected: Value '" + "a" * 65
     + "' at 'registryName' failed to satisfy constraint: Member must have length less than or equal to 64"),
    (lambda r: r.create_registry("my registry"),
     "ValidationError: 1 validation error detected: Value 'my registry' at 'registryName' failed to satisfy "
     "constraint: Member must satisfy regular expression pattern: [.\\-_A-Za-z0-9]+"),
    (lambda r: r.create_registry(7), "ValidationError: Invalid type for parameter registryName, value: 7, type: "
                                     "<class 'int'>, valid types: <class 'str'>"),
    (lambda r: r.create_registry("r", description="d" * 257),
     "ValidationError: 1 validation error detected: Value '" + "d" * 77 + "...' at 'description' failed to satisfy "
     "constraint: Member must have length less than or equal to 256"),
    (lambda r: r.create_registry(DISCOVERED), "ConflictError: Registry discovered-schemas already exists."),
    (lambda r: r.create_registry("aws.events"), "ConflictError: Registry aws.events already exists."),
    (lambda r: r.describe_registry("nope"), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.update_registry("nope", description="x"), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.delete_registry("nope"), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.delete_registry(DISCOVERED),
     "ValidationError: Registry discovered-schemas is managed by EventBridge and cannot be deleted."),
    (lambda r: r.delete_registry("aws.events"),
     "ValidationError: Registry aws.events is managed by EventBridge and cannot be deleted."),
    (lambda r: r.update_registry("aws.events", description="x"),
     "ValidationError: Registry aws.events is managed by EventBridge and cannot be changed."),
    (lambda r: r.list_registries(registry_name_prefix=1),
     "ValidationError: Invalid type for parameter registryNamePrefix, value: 1, type: <class 'int'>, valid types: "
     "<class 'str'>"),
], ids=["empty", "too-long", "pattern", "not-text", "long-description", "discovered-exists", "aws-events-exists",
        "describe-missing", "update-missing", "delete-missing", "delete-discovered", "delete-aws-events",
        "update-aws-events", "prefix-not-text"])
def test_bad_registry_calls_are_refused_with_aws_errors(call: Any, text: str) -> None:
    _, registry = setup()
    assert message(lambda: call(registry)) == text


def test_a_registry_name_is_taken_once() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    assert message(lambda: registry.create_registry("orders")) == "ConflictError: Registry orders already exists."


def test_registries_beyond_the_quota_are_refused() -> None:
    _, registry = setup(max_registries=1)
    registry.create_registry("one")
    assert message(lambda: registry.create_registry("two")) == (
        "ServiceQuotaExceededError: The quota of 1 registries is reached.")
    registry.delete_registry("one")
    registry.create_registry("two")


def test_settings_are_checked_and_read_only() -> None:
    assert message(lambda: SchemaRegistry(max_versions=0)) == (
        "ValidationError: 1 validation error detected: Value '0' at 'max_versions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")
    assert message(lambda: SchemaRegistry(region="Mars")) == (
        "ValidationError: 1 validation error detected: Value 'Mars' at 'region' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-z]{2}(-[a-z]+)+-\\d")
    _, registry = setup()
    with pytest.raises(AttributeError):
        registry.max_schemas = 5


# -- schemas -------------------------------------------------------------------------------
def test_a_schema_is_created_at_version_1_in_aws_describe_schema_shape() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    text = '{"type": "object"}'
    created = registry.create_schema("orders", "my.app@OrderPlaced", text, "JSONSchemaDraft4",
                                     description="placed orders")
    assert created.as_aws() == {
        "Content": text, "Description": "placed orders", "LastModified": T0,
        "SchemaArn": arn("schema", "orders/my.app@OrderPlaced"), "SchemaName": "my.app@OrderPlaced",
        "SchemaVersion": "1", "Tags": {}, "Type": "JSONSchemaDraft4", "VersionCreatedDate": T0}
    assert registry.describe_schema("orders", "my.app@OrderPlaced") == created
    assert registry.describe_schema("orders", "my.app@OrderPlaced", "1") == created


def test_content_given_as_a_mapping_is_written_as_compact_json() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    created = registry.create_schema("orders", "s", {"type": "object", "title": "Café"}, "JSONSchemaDraft4")
    assert created.content == '{"type":"object","title":"Café"}'
    assert "Description" not in created.as_aws()


def test_an_update_adds_a_version_only_when_the_content_or_type_changes() -> None:
    clock, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "s", '{"type": "object"}', "JSONSchemaDraft4")
    clock.advance(60)
    same = registry.update_schema("orders", "s", content='{ "type" : "object" }')  # the same JSON value
    assert (same.schema_version, same.last_modified) == ("1", T0)
    described = registry.update_schema("orders", "s", description="now described")
    assert (described.schema_version, described.last_modified, described.version_created_date) == (
        "1", T0 + timedelta(seconds=60), T0)
    clock.advance(60)
    second = registry.update_schema("orders", "s", content={"type": "object", "required": ["detail"]})
    assert (second.schema_version, second.version_created_date, second.description) == (
        "2", T0 + timedelta(seconds=120), "now described")
    third = registry.update_schema("orders", "s", type="OpenApi3")
    assert (third.schema_version, third.type, third.content) == ("3", "OpenApi3", second.content)
    assert registry.update_schema("orders", "s").schema_version == "3"
    assert registry.update_schema("orders", "s", content={"type": "object", "required": ["detail"]}).schema_version \
        == "3"
    assert [v.as_aws() for v in registry.list_schema_versions("orders", "s")] == [
        {"SchemaArn": arn("schema", "orders/s"), "SchemaName": "s", "SchemaVersion": str(n),
         "Type": "OpenApi3" if n == 3 else "JSONSchemaDraft4"} for n in (1, 2, 3)]
    first = registry.describe_schema("orders", "s", "1")
    assert (first.content, first.version_created_date, first.last_modified) == (
        '{"type": "object"}', T0, T0 + timedelta(seconds=120))


def test_json_values_python_finds_equal_are_still_different_content() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "s", '{"default": 1}', "JSONSchemaDraft4")
    assert registry.update_schema("orders", "s", content='{"default": true}').schema_version == "2"
    assert registry.update_schema("orders", "s", content='{"default": 1.0}').schema_version == "3"
    assert registry.update_schema("orders", "s", content='{"default":1.0}').schema_version == "3"


def test_a_type_change_checks_the_content_as_the_new_type() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "s", '{"required": []}', "OpenApi3")
    assert message(lambda: registry.update_schema("orders", "s", type="JSONSchemaDraft4")) == (
        "ValidationError: Content is not a valid JSONSchemaDraft4 schema: at $.required: [] should be non-empty")
    assert registry.describe_schema("orders", "s").type == "OpenApi3"


def test_schemas_are_listed_by_name_with_their_version_counts() -> None:
    clock, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "b", ORDER, "JSONSchemaDraft4")
    clock.advance(1)
    registry.create_schema("orders", "a", ORDER, "JSONSchemaDraft4")
    registry.update_schema("orders", "a", content={"type": "object"})
    assert [s.as_aws() for s in registry.list_schemas("orders")] == [
        {"LastModified": T0 + timedelta(seconds=1), "SchemaArn": arn("schema", "orders/a"), "SchemaName": "a",
         "Tags": {}, "VersionCount": 2},
        {"LastModified": T0, "SchemaArn": arn("schema", "orders/b"), "SchemaName": "b", "Tags": {},
         "VersionCount": 1}]
    assert [s.schema_name for s in registry.list_schemas("orders", schema_name_prefix="b")] == ["b"]


def test_versions_are_deleted_one_by_one_their_numbers_never_reused_and_the_last_one_stays() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "s", {"title": "1"}, "JSONSchemaDraft4")
    registry.update_schema("orders", "s", content={"title": "2"})
    registry.delete_schema_version("orders", "s", "2")
    assert registry.describe_schema("orders", "s").schema_version == "1"
    assert registry.update_schema("orders", "s", content={"title": "3"}).schema_version == "3"
    registry.delete_schema_version("orders", "s", "1")
    assert [v.schema_version for v in registry.list_schema_versions("orders", "s")] == ["3"]
    assert message(lambda: registry.delete_schema_version("orders", "s", "3")) == (
        "ValidationError: Version 3 is the only version of schema s: delete the schema instead.")
    registry.delete_schema("orders", "s")
    assert registry.list_schemas("orders") == []
    assert registry.create_schema("orders", "s", {}, "OpenApi3").schema_version == "1"


TOO_LONG = '{"description": "' + "x" * 99_982 + '"}'


@pytest.mark.parametrize(("call", "text"), [
    (lambda r: r.create_schema("orders", "", "{}", "OpenApi3"),
     "ValidationError: 1 validation error detected: Value '' at 'schemaName' failed to satisfy constraint: Member "
     "must have length greater than or equal to 1"),
    (lambda r: r.create_schema("orders", "s" * 386, "{}", "OpenApi3"),
     "ValidationError: 1 validation error detected: Value '" + "s" * 77 + "...' at 'schemaName' failed to satisfy "
     "constraint: Member must have length less than or equal to 385"),
    (lambda r: r.create_schema("orders", "a b", "{}", "OpenApi3"),
     "ValidationError: 1 validation error detected: Value 'a b' at 'schemaName' failed to satisfy constraint: "
     "Member must satisfy regular expression pattern: [.\\-_A-Za-z0-9@]+"),
    (lambda r: r.create_schema("orders", "s", "{}", "Avro"),
     "ValidationError: 1 validation error detected: Value 'Avro' at 'type' failed to satisfy constraint: Member "
     "must satisfy enum value set: [OpenApi3, JSONSchemaDraft4]"),
    (lambda r: r.create_schema("orders", "s", "{}", None),
     "ValidationError: Invalid type for parameter Type, value: None, type: <class 'NoneType'>, valid types: "
     "<class 'str'>"),
    (lambda r: r.create_schema("orders", "s", "", "OpenApi3"),
     "ValidationError: 1 validation error detected: Value '' at 'content' failed to satisfy constraint: Member "
     "must have length greater than or equal to 1"),
    (lambda r: r.create_schema("orders", "s", TOO_LONG, "OpenApi3"),
     "ValidationError: 1 validation error detected: Value '{\"description\": \"" + "x" * 60 + "...' at 'content' "
     "failed to satisfy constraint: Member must have length less than or equal to 100000"),
    (lambda r: r.create_schema("orders", "s", 5, "OpenApi3"),
     "ValidationError: Invalid type for parameter Content, value: 5, type: <class 'int'>, valid types: "
     "<class 'str'>, <class 'dict'>"),
    (lambda r: r.create_schema("orders", "s", "{", "OpenApi3"),
     "ValidationError: Content is not valid JSON: Expecting property name enclosed in double quotes: line 1 column "
     "2 (char 1)"),
    (lambda r: r.create_schema("orders", "s", '{"a": NaN}', "OpenApi3"),
     "ValidationError: Content is not valid JSON: NaN is not JSON"),
    (lambda r: r.create_schema("orders", "s", "[1]", "OpenApi3"),
     "ValidationError: Content must be a JSON object, not an array."),
    (lambda r: r.create_schema("orders", "s", "null", "OpenApi3"),
     "ValidationError: Content must be a JSON object, not null."),
    (lambda r: r.create_schema("orders", "s", '"{}"', "OpenApi3"),
     "ValidationError: Content must be a JSON object, not a string."),
    (lambda r: r.create_schema("orders", "s", "true", "OpenApi3"),
     "ValidationError: Content must be a JSON object, not a boolean."),
    (lambda r: r.create_schema("orders", "s", "1.5", "OpenApi3"),
     "ValidationError: Content must be a JSON object, not a number."),
    (lambda r: r.create_schema("orders", "s", '{"not":' * 5000 + "{}" + "}" * 5000, "OpenApi3"),
     "ValidationError: Content is nested too deeply to be read."),
    (lambda r: r.create_schema("orders", "s", '{"not":' * 400 + "{}" + "}" * 400, "JSONSchemaDraft4"),
     "ValidationError: Content is nested too deeply to be checked as a JSON Schema."),
    (lambda r: r.create_schema("orders", "s", {"a": {1}}, "OpenApi3"),
     "ValidationError: Content is not JSON: Object of type set is not JSON serializable"),
    (lambda r: r.create_schema("orders", "s", {"a": float("nan")}, "OpenApi3"),
     "ValidationError: Content is not JSON: Out of range float values are not JSON compliant"),
    (lambda r: r.create_schema("orders", "s", '{"required": []}', "JSONSchemaDraft4"),
     "ValidationError: Content is not a valid JSONSchemaDraft4 schema: at $.required: [] should be non-empty"),
    (lambda r: r.create_schema("orders", "s", {"properties": {"a": {"type": "strin"}}}, "JSONSchemaDraft4"),
     "ValidationError: Content is not a valid JSONSchemaDraft4 schema: at $.properties.a.type: \"strin\" is not "
     "valid under any of the given schemas"),
    (lambda r: r.create_schema("orders", "s", "{}", "OpenApi3", description="d" * 257),
     "ValidationError: 1 validation error detected: Value '" + "d" * 77 + "...' at 'description' failed to satisfy "
     "constraint: Member must have length less than or equal to 256"),
    (lambda r: r.create_schema("orders", "taken", "{}", "OpenApi3"),
     "ConflictError: Schema taken already exists in registry orders."),
    (lambda r: r.create_schema("nope", "s", "{}", "OpenApi3"), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.create_schema(DISCOVERED, "s", "{}", "OpenApi3"),
     "ValidationError: Registry discovered-schemas is managed by EventBridge and cannot be written to."),
    (lambda r: r.update_schema("aws.events", "s", content="{}"), "ResourceNotFoundError: Schema s does not exist in "
                                                                 "registry aws.events."),
    (lambda r: r.describe_schema("orders", "nope"),
     "ResourceNotFoundError: Schema nope does not exist in registry orders."),
    (lambda r: r.describe_schema("orders", "taken", "2"),
     "ResourceNotFoundError: Version 2 of schema taken does not exist."),
    (lambda r: r.describe_schema("orders", "taken", "01"),
     "ResourceNotFoundError: Version 01 of schema taken does not exist."),
    (lambda r: r.describe_schema("orders", "taken", "latest"),
     "ResourceNotFoundError: Version latest of schema taken does not exist."),
    (lambda r: r.describe_schema("orders", "taken", 1),
     "ValidationError: Invalid type for parameter schemaVersion, value: 1, type: <class 'int'>, valid types: "
     "<class 'str'>"),
    (lambda r: r.update_schema("orders", "taken", content="[]"),
     "ValidationError: Content must be a JSON object, not an array."),
    (lambda r: r.update_schema("orders", "taken", type="JSON"),
     "ValidationError: 1 validation error detected: Value 'JSON' at 'type' failed to satisfy constraint: Member "
     "must satisfy enum value set: [OpenApi3, JSONSchemaDraft4]"),
    (lambda r: r.delete_schema("orders", "nope"),
     "ResourceNotFoundError: Schema nope does not exist in registry orders."),
    (lambda r: r.delete_schema_version("orders", "taken", "9"),
     "ResourceNotFoundError: Version 9 of schema taken does not exist."),
    (lambda r: r.list_schemas("nope"), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.list_schema_versions("orders", "nope"),
     "ResourceNotFoundError: Schema nope does not exist in registry orders."),
], ids=["empty-name", "long-name", "name-pattern", "type-enum", "type-missing", "empty-content", "long-content",
        "content-type", "not-json", "nan", "array", "null", "string", "boolean", "number", "too-deep-to-read",
        "too-deep-to-check", "not-serialisable", "nan-mapping", "empty-required",
        "bad-type-keyword", "long-description", "taken", "no-registry", "discovered", "aws-events-empty",
        "no-schema", "no-version", "zero-padded-version", "word-version", "version-not-text", "update-array",
        "update-type", "delete-missing", "delete-missing-version", "list-missing", "versions-missing"])
def test_bad_schema_calls_are_refused_with_aws_errors(call: Any, text: str) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "taken", "{}", "OpenApi3")
    assert message(lambda: call(registry)) == text


def test_content_of_exactly_100000_characters_is_taken() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    content = '{"description": "' + "x" * 99_981 + '"}'
    assert len(content) == 100_000
    assert registry.create_schema("orders", "s", content, "JSONSchemaDraft4").content == content


def test_schemas_and_versions_beyond_their_quotas_are_refused() -> None:
    _, registry = setup(max_schemas=1, max_versions=2)
    registry.create_registry("orders")
    registry.create_schema("orders", "s", {"title": "1"}, "JSONSchemaDraft4")
    assert message(lambda: registry.create_schema("orders", "t", "{}", "OpenApi3")) == (
        "ServiceQuotaExceededError: The quota of 1 schemas in registry orders is reached.")
    registry.update_schema("orders", "s", content={"title": "2"})
    assert message(lambda: registry.update_schema("orders", "s", content={"title": "3"})) == (
        "ServiceQuotaExceededError: The quota of 2 versions of schema s is reached.")
    assert registry.update_schema("orders", "s", content={"title": "2"}, description="ok").schema_version == "2"


# -- discovery -------------------------------------------------------------------------------
NAME = "my.app@OrderPlaced"


def discovered(registry: SchemaRegistry, version: str | None = None) -> dict[str, Any]:
    return json.loads(registry.describe_schema(DISCOVERED, NAME, version).content)  # type: ignore[no-any-return]


def detail_node(schema: dict[str, Any]) -> Any:
    return schema["definitions"]["OrderPlaced"]


def versions(registry: SchemaRegistry, name: str = NAME) -> list[str]:
    return [v.schema_version for v in registry.list_schema_versions(DISCOVERED, name)]


def test_events_of_one_shape_make_one_version_of_the_inferred_schema() -> None:
    clock, registry = setup()
    for total in (1, 2, 3):
        registry._discover(event({"order": "o-1", "total": total}))
        clock.advance(1)
    assert versions(registry) == ["1"]
    found = registry.describe_schema(DISCOVERED, NAME)
    assert (found.type, found.version_created_date, found.description) == ("JSONSchemaDraft4", T0, None)
    assert json.loads(found.content) == infer(event({"order": "o-1", "total": 1}))
    assert found.content == json.dumps(json.loads(found.content), sort_keys=True, separators=(",", ":"))


def test_a_new_field_makes_version_2_with_the_field_optional() -> None:
    _, registry = setup()
    registry._discover(event({"order": "o-1"}))
    registry._discover(event({"order": "o-2", "coupon": "SPRING"}))
    registry._discover(event({"order": "o-3"}))
    assert versions(registry) == ["1", "2"]
    assert detail_node(discovered(registry, "2")) == {
        "type": "object", "properties": {"coupon": {"type": "string"}, "order": {"type": "string"}},
        "required": ["order"]}
    assert detail_node(discovered(registry, "1"))["required"] == ["order"]


def test_a_type_change_makes_a_version_with_the_type_widened() -> None:
    _, registry = setup()
    registry._discover(event({"total": 10}))
    registry._discover(event({"total": 10.5}))
    registry._discover(event({"total": "ten"}))
    registry._discover(event({"total": 11}))
    assert versions(registry) == ["1", "2", "3"]
    assert [detail_node(discovered(registry, v))["properties"]["total"] for v in ("1", "2", "3")] == [
        {"type": "integer"}, {"type": "number"}, {"type": ["number", "string"]}]


def test_the_discovered_schema_does_not_depend_on_the_order_events_arrive_in() -> None:
    details = [{"a": 1}, {"a": None, "b": [1, "x"]}, {"b": [], "c": {"d": "2024-03-01T12:00:00Z"}}, {"a": 2.5}]
    contents = set()
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]):
        _, registry = setup()
        for index in order:
            registry._discover(event(details[index]))
        contents.add(registry.describe_schema(DISCOVERED, NAME).content)
    assert len(contents) == 1
    schemas = [infer(event(d)) for d in details]
    assert json.loads(contents.pop()) == merge(merge(schemas[0], schemas[1]), merge(schemas[2], schemas[3]))


def test_each_source_and_detail_type_gets_its_own_discovered_schema() -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}))
    registry._discover(event({"a": 1}, detail_type="Order Shipped"))
    registry._discover(event({"a": 1}, source="aws.ec2", detail_type="EC2 Instance State-change Notification"))
    registry._discover({"source": "my.app", "detail": {}})  # no detail-type: nothing to name it by
    registry._discover({"source": 5, "detail-type": "x"})
    registry._discover("not an event")  # type: ignore[arg-type]
    assert [s.schema_name for s in registry.list_schemas(DISCOVERED)] == [
        "aws.ec2@EC2InstanceStateChangeNotification", "my.app@OrderPlaced", "my.app@OrderShipped"]
    assert discovered(registry)["x-amazon-events-source"] == "my.app"


def test_a_discovered_schema_that_would_pass_100000_characters_is_widened_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}))
    groups = {f"group-{g}": {f"field-number-{n:05d}-with-a-long-name": n for n in range(200)} for g in range(6)}
    seen = [event({"a": 1}), event(groups), event({**groups, "more": True}), event({"b": {"c": 1}})]
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        for e in seen[1:]:
            registry._discover(e)
    assert versions(registry) == ["1", "2", "3", "4"]
    assert [r.getMessage() for r in caplog.records] == [
        'schema discovery: the schema my.app@OrderPlaced would pass 100000 characters: its widest objects are '
        'collapsed to {"type": "object"} (any object) to keep it within']
    content = registry.describe_schema(DISCOVERED, NAME).content
    assert len(content) <= 100_000
    properties = detail_node(json.loads(content))["properties"]
    assert properties["b"] == {"type": "object", "properties": {"c": {"type": "integer"}}, "required": ["c"]}
    assert [key for key, node in properties.items() if node == {"type": "object"}] == ["group-0"]
    assert len(properties["group-5"]["properties"]) == 200
    validator = Draft4Validator(json.loads(content))
    for e in seen:
        assert validator.is_valid(e)
        assert registry._violation(DISCOVERED, e) is None


def test_an_event_with_thousands_of_keys_gets_a_schema_with_its_detail_left_open() -> None:
    _, registry = setup()
    many = event({f"field-number-{n:05d}-with-a-long-name": 1 for n in range(3000)})
    registry._discover(many)
    assert versions(registry) == ["1"]
    assert detail_node(discovered(registry)) == {"type": "object"}
    assert registry._violation(DISCOVERED, many) is None
    assert registry._violation(DISCOVERED, event([1])) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry discovered-schemas: at $.detail: [1] "
        "is not of type 'object'")


def test_details_keyed_by_ids_stop_making_versions_once_their_object_collapses() -> None:
    _, registry = setup()
    for n in range(300):
        registry._discover(event({"balances": {f"acct-{n:08d}": n}, "n": n}))
    schema = registry.describe_schema(DISCOVERED, NAME)
    assert schema.schema_version == "257"  # (a key a version, 256 of them; the 257th collapsed the object)
    assert len(versions(registry)) == 100
    assert detail_node(json.loads(schema.content)) == {
        "type": "object", "properties": {"balances": {"type": "object"}, "n": {"type": "integer"}},
        "required": ["balances", "n"]}
    assert registry._discovery[NAME].shape.props is not None
    balances = registry._discovery[NAME].shape.props["detail"].props["balances"]  # type: ignore[index]
    assert (balances.collapsed, balances.props, balances.required) == (True, None, None)


def test_only_the_latest_version_keeps_its_parsed_content_and_its_validator() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, ORDER, "JSONSchemaDraft4")
    assert registry._violation("orders", event({"total": 1})) is None
    registry.update_schema("orders", NAME, content={"type": "object", "required": ["detail", "source"]})
    assert registry._violation("orders", event({"total": "x"})) is None
    stored = registry._registries["orders"].schemas[NAME].versions
    assert [(v.value is None, v.validator is None, v.compiled is None) for v in stored.values()] == [
        (True, True, True), (False, False, False)]
    assert registry.check_event("orders", event({"total": "x"}), schema_version="1") == [
        "Event does not match schema my.app@OrderPlaced version 1 in registry orders: at $.detail.total: \"x\" is "
        "not of type 'number'"]
    assert (stored[1].value, stored[1].validator) == (None, None)  # (parsed and compiled for the call)
    registry.delete_schema_version("orders", NAME, "2")
    assert stored[1].value == ORDER
    assert registry._violation("orders", event({"total": "x"})) is not None
    assert stored[1].validator is not None


def test_discovery_keeps_no_more_states_than_the_schema_quota(caplog: pytest.LogCaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "MAX_CONTENT", 1_000)  # (the schema of event({"a": 1}): 672)
    _, registry = setup(max_schemas=2)
    long = "word " * 100  # (its title and its mark alone pass 1,000 characters: never written)
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        for detail_type in ("Too Big " + long, "Also Too Big " + long):
            registry._discover(event({"a": 1}, detail_type=detail_type))
        registry._discover(event({"a": 1}))
    assert [s.schema_name for s in registry.list_schemas(DISCOVERED)] == [NAME]
    also = schema_name_for("my.app", "Also Too Big " + long)
    assert sorted(registry._discovery) == [also, NAME]
    assert [r.getMessage() for r in caplog.records][2:] == [
        f"schema discovery: the schema {also} would pass 1000 characters: its widest objects are collapsed to "
        '{"type": "object"} (any object) to keep it within',
        f"schema discovery: the schema {also} would pass 1000 characters even with every object collapsed; it is not "
        "written"]


def test_discovery_keeps_the_latest_versions_when_a_schema_reaches_its_version_quota() -> None:
    _, registry = setup(max_versions=2)
    for field in ("a", "b", "c"):
        registry._discover(event({field: 1}))
    assert versions(registry) == ["2", "3"]
    assert detail_node(discovered(registry))["properties"].keys() == {"a", "b", "c"}


def test_discovery_stops_at_the_schema_quota_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    _, registry = setup(max_schemas=1)
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        registry._discover(event({"a": 1}))
        registry._discover(event({"a": 1}, detail_type="Order Shipped"))
        registry._discover(event({"a": 1}, detail_type="Order Lost"))
        registry._discover(event({"a": "x"}))
    assert [s.schema_name for s in registry.list_schemas(DISCOVERED)] == [NAME]
    assert versions(registry) == ["1", "2"]
    assert [r.getMessage() for r in caplog.records] == [
        "schema discovery: registry discovered-schemas holds 1 schemas, its quota; events of new kinds are not "
        "discovered"]


def test_a_deleted_discovered_schema_starts_afresh_and_a_deleted_version_is_rebuilt_from() -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}))
    registry._discover(event({"b": 1}))
    registry.delete_schema_version(DISCOVERED, NAME, "2")
    registry._discover(event({"a": 2}))  # the schema of version 1 again: no change
    assert versions(registry) == ["1"]
    registry._discover(event({"c": 1}))
    assert versions(registry) == ["1", "3"]
    assert detail_node(discovered(registry))["properties"].keys() == {"a", "c"}
    registry.delete_schema(DISCOVERED, NAME)
    registry._discover(event({"z": 1}))
    assert versions(registry) == ["1"]
    assert detail_node(discovered(registry))["properties"].keys() == {"z"}


def test_an_event_discovery_cannot_read_is_logged_and_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}))
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        registry._discover(event({"a": 1, "when": datetime(2024, 1, 1)}))
    assert [r.getMessage() for r in caplog.records] == [
        "schema discovery skipped an event for my.app@OrderPlaced: An event is JSON: a datetime (2024-01-01 "
        "00:00:00) is not a JSON value"]
    registry._discover(event({"a": 1, "b": 2}))
    assert versions(registry) == ["1", "2"]
    assert detail_node(discovered(registry))["properties"].keys() == {"a", "b"}


def test_the_discovered_registry_is_written_only_by_discovery() -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}))
    assert message(lambda: registry.update_schema(DISCOVERED, NAME, description="x")) == (
        "ValidationError: Registry discovered-schemas is managed by EventBridge and cannot be written to.")


def test_discovery_from_many_threads_gives_the_join_of_every_event() -> None:
    _, registry = setup()
    details = [{f"k{n % 7}": n, "shared": [n] if n % 2 else str(n)} for n in range(200)]

    def run(part: list[dict[str, Any]]) -> None:
        for detail in part:
            registry._discover(event(detail))

    threads = [threading.Thread(target=run, args=(details[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = infer(event(details[0]))
    for detail in details[1:]:
        expected = merge(expected, infer(event(detail)))
    assert discovered(registry) == expected


# -- validation ------------------------------------------------------------------------------
def test_an_event_is_checked_against_the_latest_version_of_its_schema() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    assert registry._violation("orders", event({"total": "x"})) is None  # no schema: nothing to check
    registry.create_schema("orders", NAME, ORDER, "JSONSchemaDraft4")
    assert registry._violation("orders", event({"total": 12.5})) is None
    assert registry._violation("orders", event({"total": "x"})) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry orders: at $.detail.total: \"x\" is not "
        "of type 'number'")
    assert registry._violation("orders", event({"total": 1}, detail_type="Order Shipped")) is None
    assert registry._violation("orders", {"source": "my.app", "detail": {"total": "x"}}) is None  # nothing names it
    assert registry._violation("orders", ["not an event"]) is None  # type: ignore[arg-type]
    registry.update_schema("orders", NAME, content={"type": "object", "required": ["source", "coupon"]})
    assert registry._violation("orders", event({"total": "x"})) == (
        "Event does not match schema my.app@OrderPlaced version 2 in registry orders: at $: 'coupon' is a required "
        "property")
    registry.delete_schema_version("orders", NAME, "2")
    assert registry._violation("orders", event({"total": 1})) is None
    registry.delete_schema("orders", NAME)
    assert registry._violation("orders", event({"total": "x"})) is None


def test_an_openapi_3_schema_checks_the_event_against_components_schemas_awsevent() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    document = {"openapi": "3.0.0", "info": {"version": "1.0.0", "title": "OrderPlaced"}, "paths": {},
                "components": {"schemas": {
                    "AWSEvent": {"type": "object", "required": ["detail", "source"],
                                 "properties": {"detail": {"$ref": "#/components/schemas/OrderPlaced"},
                                                "source": {"type": "string"}}},
                    "OrderPlaced": {"type": "object", "required": ["lines"],
                                    "properties": {"lines": {"type": "array", "items": {"type": "integer"}}}}}}}
    registry.create_schema("orders", NAME, document, "OpenApi3")
    assert registry._violation("orders", event({"lines": [1, 2]})) is None
    assert registry._violation("orders", event({"lines": [1, "two"]})) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry orders: at $.detail.lines[1]: \"two\" is "
        "not of type 'integer'")
    registry.update_schema("orders", NAME, content={"openapi": "3.0.0", "components": {"schemas": {}}})
    assert registry._violation("orders", event({"lines": []})) == (
        "Event does not match schema my.app@OrderPlaced version 2 in registry orders: the schema cannot check events: "
        "the OpenApi3 document has no components.schemas.AWSEvent")


def test_a_schema_with_a_dangling_reference_reports_it_instead_of_raising() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, {"properties": {"detail": {"$ref": "#/definitions/Gone"}}},
                           "JSONSchemaDraft4")
    found = registry._violation("orders", event({}))
    assert found is not None and found.startswith(
        "Event does not match schema my.app@OrderPlaced version 1 in registry orders: the schema cannot check "
        "events: ")


def test_an_event_conforms_to_its_own_discovered_schema() -> None:
    _, registry = setup()
    events = [event({"a": 1, "t": "2024-03-01T12:00:00Z"}), event({"a": None, "b": [{"c": True}]})]
    for e in events:
        registry._discover(e)
    for e in events:
        assert registry._violation(DISCOVERED, e) is None
    assert registry._violation(DISCOVERED, event({"a": "text"})) == (
        "Event does not match schema my.app@OrderPlaced version 2 in registry discovered-schemas: at $.detail.a: "
        "\"text\" is not of type 'integer', 'null'")


def test_a_deeply_nested_event_is_checked_against_its_discovered_schema() -> None:
    _, registry = setup()
    value: Any = 1
    for _ in range(400):
        value = {"a": value}
    deep_event = event(value)
    registry._discover(deep_event)
    assert registry._violation(DISCOVERED, deep_event) is None


def test_an_event_too_deep_for_the_validator_is_reported_not_passed() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    node = {"properties": {"a": {"$ref": "#/definitions/node"}}}  # any depth of "a"s
    registry.create_schema("orders", NAME, {"properties": {"detail": {"$ref": "#/definitions/node"}},
                                            "definitions": {"node": node}}, "JSONSchemaDraft4")
    value: Any = 1
    for _ in range(900):
        value = {"a": value}
    assert registry._violation("orders", event(value)) == (
        "Event does not match schema my.app@OrderPlaced version 1 in registry orders: the event is nested too deeply "
        "to be checked")


def test_check_event_lists_every_violation_by_path() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, {
        "type": "object", "required": ["detail"],
        "properties": {"detail-type": {"enum": ["Order Placed"]},
                       "detail": {"type": "object", "required": ["total"],
                                  "properties": {"total": {"type": "number"}, "odd key": {"type": "string"}}}}},
        "JSONSchemaDraft4")
    registry.update_schema("orders", NAME, content={"type": "object"})
    head = "Event does not match schema my.app@OrderPlaced version 1 in registry orders: "
    assert registry.check_event("orders", event({"odd key": 1, "total": "x"}), schema_version="1") == [
        head + "at $.detail.total: \"x\" is not of type 'number'",
        head + "at $.detail[\"odd key\"]: 1 is not of type 'string'"]
    assert registry.check_event("orders", event({"total": "x"})) == []
    shipped = event({}, detail_type="Order Shipped")
    assert registry.check_event("orders", shipped, schema_name=NAME, schema_version="1") == [
        head + "at $.detail: 'total' is a required property",
        head + "at $.detail-type: \"Order Shipped\" is not one of ['Order Placed']"]


@pytest.mark.parametrize(("call", "text"), [
    (lambda r: r.check_event("orders", event({}, detail_type="Order Shipped")),
     "ResourceNotFoundError: Schema my.app@OrderShipped does not exist in registry orders."),
    (lambda r: r.check_event("nope", event({})), "ResourceNotFoundError: Registry nope does not exist."),
    (lambda r: r.check_event("orders", {"detail": {}}),
     "ValidationError: The event has no source and detail-type to name its schema: give schema_name"),
    (lambda r: r.check_event("orders", "{}"),
     "ValidationError: Invalid type for parameter event, value: {}, type: <class 'str'>, valid types: "
     "<class 'dict'>"),
    (lambda r: r.check_event("orders", event({}), schema_version="7"),
     "ResourceNotFoundError: Version 7 of schema my.app@OrderPlaced does not exist."),
], ids=["no-schema", "no-registry", "no-labels", "not-a-dict", "no-version"])
def test_check_event_refuses_what_it_cannot_check(call: Any, text: str) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, ORDER, "JSONSchemaDraft4")
    assert message(lambda: call(registry)) == text


def test_errors_are_eventbus_errors() -> None:
    assert issubclass(ConflictError, Exception) and issubclass(ResourceNotFoundError, LookupError)
    assert issubclass(ServiceQuotaExceededError, Exception) and issubclass(ValidationError, ValueError)


# -- what a schema may hold --------------------------------------------------------------------
HEAD = "Event does not match schema my.app@OrderPlaced version 1 in registry orders: "


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses anything asked ``urllib.request.urlopen`` for (it fetches nothing)."""
    asked: list[str] = []

    def urlopen(request: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(getattr(request, "full_url", request))
        raise OSError("no network in these tests")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return asked


def test_a_schema_with_a_remote_reference_fails_closed_without_touching_the_network(no_network: list[str]) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    with socket.create_server(("127.0.0.1", 0)) as server:  # (it listens and never answers)
        server.setblocking(False)
        remote = f"http://127.0.0.1:{server.getsockname()[1]}/o.json"
        registry.create_schema("orders", NAME, {"properties": {"detail": {"$ref": remote}}}, "JSONSchemaDraft4")
        expected = HEAD + f"the schema cannot check events: Unresolvable: {remote}"
        assert registry._violation("orders", event({})) == expected
        assert registry._violation("orders", event({"other": 1})) == expected
        assert registry.check_event("orders", event({})) == [expected]
        with pytest.raises(BlockingIOError):  # nothing connected
            server.accept()
    assert no_network == []


def test_local_references_and_the_draft_4_meta_schema_resolve_without_the_network(no_network: list[str]) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, {
        "definitions": {"total": {"type": "number"}},
        "properties": {"detail": {"properties": {"total": {"$ref": "#/definitions/total"},
                                                 "schema": {"$ref": DRAFT4}}}}}, "JSONSchemaDraft4")
    assert registry._violation("orders", event({"total": 1, "schema": {"type": "string"}})) is None
    assert registry._violation("orders", event({"total": "1"})) == (
        HEAD + "at $.detail.total: \"1\" is not of type 'number'")
    assert registry._violation("orders", event({"schema": {"type": 5}})) == (
        HEAD + "at $.detail.schema.type: 5 is not valid under any of the given schemas")
    assert no_network == []


LOOPS: list[tuple[str, dict[str, Any], SchemaType, str]] = [
    ("itself", {"$ref": "#"}, "JSONSchemaDraft4", "at $: the $ref chain # -> # loops without reaching a schema"),
    ("two-definitions", {"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}},
                         "properties": {"detail": {"$ref": "#/definitions/a"}}}, "JSONSchemaDraft4",
     "at $.definitions.a: the $ref chain #/definitions/b -> #/definitions/a -> #/definitions/b loops without "
     "reaching a schema"),
    ("unused-definition", {"definitions": {"a": {"$ref": "#/definitions/a"}}}, "JSONSchemaDraft4",
     "at $.definitions.a: the $ref chain #/definitions/a -> #/definitions/a loops without reaching a schema"),
    ("through-the-root", {"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#"}}}, "JSONSchemaDraft4",
     "at $: the $ref chain #/definitions/a -> # -> #/definitions/a loops without reaching a schema"),
    ("openapi", {"openapi": "3.0.0", "components": {"schemas": {
        "AWSEvent": {"$ref": "#/components/schemas/Other"}, "Other": {"$ref": "#"}}}}, "OpenApi3",
     "at $.components.schemas.AWSEvent: the $ref chain #/components/schemas/Other -> # -> "
     "#/components/schemas/AWSEvent -> #/components/schemas/Other loops without reaching a schema"),
]


@pytest.mark.parametrize(("content", "schema_type", "text"), [case[1:] for case in LOOPS],
                         ids=[case[0] for case in LOOPS])
def test_a_chain_of_references_that_loops_is_refused_by_create_and_update(content: dict[str, Any],
                                                                         schema_type: SchemaType, text: str) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    expected = f"ValidationError: Content is not a valid {schema_type} schema: {text}"
    assert message(lambda: registry.create_schema("orders", NAME, content, schema_type)) == expected
    registry.create_schema("orders", NAME, {"type": "object"}, schema_type)
    assert message(lambda: registry.update_schema("orders", NAME, content=content)) == expected
    assert versions_of(registry, "orders") == ["1"]


@pytest.mark.parametrize("content", [
    {"definitions": {"n": {"type": "object", "properties": {"a": {"$ref": "#/definitions/n"}}}},
     "properties": {"detail": {"$ref": "#/definitions/n"}}},
    {"properties": {"next": {"$ref": "#"}}},
    {"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"type": "object"}}, "items": {"$ref": "#/definitions/a"}},
    {"properties": {"detail": {"$ref": "#/definitions/missing"}}},
    {"enum": [{"$ref": "#"}], "default": {"$ref": "#"}},
], ids=["recursive-through-a-property", "root-below-a-property", "chain-to-a-schema", "dangling", "not-a-schema"])
def test_a_schema_that_refers_to_itself_below_a_keyword_or_ends_its_chain_is_accepted(content: dict[str, Any]) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    assert registry.create_schema("orders", NAME, content, "JSONSchemaDraft4").schema_version == "1"


def versions_of(registry: SchemaRegistry, registry_name: str) -> list[str]:
    return [v.schema_version for v in registry.list_schema_versions(registry_name, NAME)]


@pytest.mark.parametrize(("content", "text"), [
    ({"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"detail": {"const": 1}}},
     "at $: $schema \"http://json-schema.org/draft-07/schema#\" is not Draft 4's "
     "\"http://json-schema.org/draft-04/schema#\""),
    ({"properties": {"detail": {"$schema": "https://json-schema.org/draft/2020-12/schema", "const": 1}}},
     "at $.properties.detail: $schema \"https://json-schema.org/draft/2020-12/schema\" is not Draft 4's "
     "\"http://json-schema.org/draft-04/schema#\""),
    ({"$schema": 4}, "at $: $schema 4 is not Draft 4's \"http://json-schema.org/draft-04/schema#\""),
    ({"$schema": "https://json-schema.org/draft-04/schema#", "exclusiveMinimum": 5},
     "at $: $schema \"https://json-schema.org/draft-04/schema#\" is not Draft 4's "
     "\"http://json-schema.org/draft-04/schema#\""),
], ids=["draft-7-root", "2020-12-inside", "not-text", "https"])
def test_a_jsonschemadraft4_schema_that_names_another_draft_is_refused(content: dict[str, Any], text: str) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    assert message(lambda: registry.create_schema("orders", NAME, content, "JSONSchemaDraft4")) == (
        f"ValidationError: Content is not a valid JSONSchemaDraft4 schema: {text}")


def test_draft_4_named_either_way_is_accepted_and_openapi_documents_are_not_held_to_it() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", "a", {"$schema": DRAFT4, "properties": {"detail": {
        "$schema": DRAFT4.rstrip("#")}}}, "JSONSchemaDraft4")
    registry.create_schema("orders", "b", {"$schema": "http://json-schema.org/draft-07/schema#"}, "OpenApi3")


# -- openapi nullable --------------------------------------------------------------------------
def openapi(detail: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    return {"openapi": "3.0.0", "info": {"version": "1.0.0", "title": "OrderPlaced"}, "paths": {},
            "components": {"schemas": {"AWSEvent": {"type": "object", "properties": {"detail": detail}},
                                       **schemas}}}


NULLABLE = openapi({"type": "object", "properties": {
    "count": {"type": "integer", "nullable": True},
    "status": {"type": "string", "enum": ["new", "paid"], "nullable": True},
    "code": {"enum": ["a", "b"], "nullable": True},
    "plain": {"type": "integer"},
    "off": {"type": "integer", "nullable": False},
    "ref": {"$ref": "#/components/schemas/Text", "nullable": True},
    "lines": {"type": "array", "items": {"type": "object", "nullable": True,
                                         "properties": {"sku": {"type": "string", "nullable": True}}}},
    "nullable": {"type": "boolean"},
    "pick": {"enum": [{"type": "string", "nullable": True}]},
}}, Text={"type": "string"})


@pytest.mark.parametrize(("detail", "complaint"), [
    ({"count": None, "status": None, "code": None, "lines": [None, {"sku": None}], "nullable": True}, None),
    ({"count": 1, "status": "paid", "code": "a", "lines": [{"sku": "x"}]}, None),
    ({"status": "old"}, "at $.detail.status: \"old\" is not one of ['new', 'paid', None]"),
    ({"plain": None}, "at $.detail.plain: null is not of type 'integer'"),
    ({"off": None}, "at $.detail.off: null is not of type 'integer'"),
    ({"ref": None}, "at $.detail.ref: null is not of type 'string'"),
    ({"nullable": None}, "at $.detail.nullable: null is not of type 'boolean'"),
    ({"pick": {"type": "string", "nullable": True}}, None),
    ({"pick": {"type": ["string", "null"], "nullable": True}},
     "at $.detail.pick: {\"type\": [\"string\", \"null\"], \"nullable\": true} is not one of [{'type': 'string', "
     "'nullable': True}]"),
], ids=["nulls", "values", "enum", "not-nullable", "nullable-false", "beside-a-ref", "a-property-named-nullable",
        "enum-member-untouched", "enum-member-not-translated"])
def test_openapi_nullable_admits_null_beside_a_type_or_an_enum(detail: dict[str, Any], complaint: str | None) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, NULLABLE, "OpenApi3")
    assert registry._violation("orders", event(detail)) == (None if complaint is None else HEAD + complaint)
    assert registry.check_event("orders", event(detail)) == ([] if complaint is None else [HEAD + complaint])


def test_openapi_nullable_keeps_the_compiled_check_and_the_document_as_written() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    schema = openapi({"type": "object", "properties": {"n": {"type": "integer", "nullable": True},
                                                       "e": {"enum": ["a"], "nullable": True}}})
    text = json.dumps(schema)
    registry.create_schema("orders", NAME, text, "OpenApi3")
    assert registry._violation("orders", event({"n": None, "e": None})) is None
    version = registry._registries["orders"].schemas[NAME].versions[1]
    assert version.compiled is not None
    assert version.compiled(event({"n": None, "e": None})) and not version.compiled(event({"e": "b"}))
    assert registry.describe_schema("orders", NAME).content == text
    assert version.value == schema


# -- messages -------------------------------------------------------------------------------
@pytest.mark.parametrize(("node", "value", "complaint"), [
    ({"type": "integer"}, None, "null is not of type 'integer'"),
    ({"type": "integer"}, True, "true is not of type 'integer'"),
    ({"type": "integer"}, "4", "\"4\" is not of type 'integer'"),
    ({"type": "integer"}, 4.5, "4.5 is not of type 'integer'"),
    ({"type": "string"}, {"a": None, "b": [False]}, "{\"a\": null, \"b\": [false]} is not of type 'string'"),
    ({"type": "string"}, ["é", "\"q\""], "[\"é\", \"\\\"q\\\"\"] is not of type 'string'"),
    ({"type": "integer"}, "x" * 200, "\"" + "x" * 76 + "... is not of type 'integer'"),
    ({"type": "string"}, {f"k{n}": n for n in range(50)},
     "{\"k0\": 0, \"k1\": 1, \"k2\": 2, \"k3\": 3, \"k4\": 4, \"k5\": 5, \"k6\": 6, \"k7\": 7, \"k8\"... is not of "
     "type 'string'"),
    ({"enum": ["a", None]}, False, "false is not one of ['a', None]"),
    ({"maxLength": 2}, "abc", "\"abc\" is too long"),
    ({"required": ["id"]}, {"x": None}, "'id' is a required property"),
    ({"properties": {"a": {}}, "additionalProperties": False}, {"b": True},
     "Additional properties are not allowed ('b' was unexpected)"),
], ids=["null", "true", "text", "float", "object", "escapes", "long-text", "long-object", "enum", "too-long",
        "required", "additional"])
def test_the_value_a_message_starts_with_is_written_as_json(node: dict[str, Any], value: Any, complaint: str) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, {"properties": {"detail": node}}, "JSONSchemaDraft4")
    assert registry._violation("orders", event(value)) == HEAD + "at $.detail: " + complaint
    assert registry.check_event("orders", event(value)) == [HEAD + "at $.detail: " + complaint]


def test_a_value_that_is_not_json_keeps_its_python_spelling() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, {"properties": {"detail": {"type": "string"}}}, "JSONSchemaDraft4")
    assert registry.check_event("orders", event(Decimal("1.5"))) == [
        HEAD + "at $.detail: Decimal('1.5') is not of type 'string'"]


# -- whose schema ------------------------------------------------------------------------------
def test_a_deleted_registry_fails_every_event_a_bus_checks_against_it() -> None:
    _, registry = setup()
    registry.create_registry("orders")
    registry.create_schema("orders", NAME, ORDER, "JSONSchemaDraft4")
    assert registry._violation("orders", event({"total": 1})) is None
    registry.delete_registry("orders")
    text = "Registry orders does not exist: events cannot be checked against its schemas"
    assert registry._violation("orders", event({"total": 1})) == text
    assert registry._violation("orders", event({"total": 1}, detail_type="Anything")) == text
    assert registry._violation("orders", {"detail": {}}) == text
    assert registry._violation("never", event({})) == (
        "Registry never does not exist: events cannot be checked against its schemas")


COLLIDING = [("my.app", "Order Placed"), ("my.app", "order-placed"), ("my.app", "order placed")]


def test_events_whose_names_collide_do_not_share_a_discovered_schema_and_are_logged_once_a_pair(
        caplog: pytest.LogCaptureFixture) -> None:
    _, registry = setup()
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        for _ in range(3):
            for source, detail_type in COLLIDING:
                registry._discover(event({"field": detail_type}, source=source, detail_type=detail_type))
        registry._discover(event({"other": 1}, source="my/app", detail_type="Order Placed"))  # (my/app: myapp@)
        registry._discover(event({"other": 1}, source="myapp", detail_type="Order Placed"))
    assert {schema_name_for(*pair) for pair in COLLIDING} == {NAME}
    assert versions(registry) == ["1"]
    assert discovered(registry) == infer(event({"field": "x"}))
    assert [r.getMessage() for r in caplog.records] == [
        'schema discovery: events of source "my.app" and detail-type "order-placed" are not discovered: their schema '
        'name my.app@OrderPlaced is taken by the schema of source "my.app" and detail-type "Order Placed"',
        'schema discovery: events of source "my.app" and detail-type "order placed" are not discovered: their schema '
        'name my.app@OrderPlaced is taken by the schema of source "my.app" and detail-type "Order Placed"',
        'schema discovery: events of source "myapp" and detail-type "Order Placed" are not discovered: their schema '
        'name myapp@OrderPlaced is taken by the schema of source "my/app" and detail-type "Order Placed"']


def test_detail_types_without_ascii_words_collide_on_one_name_and_the_first_keeps_it() -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}, source="shop", detail_type="注文"))
    registry._discover(event({"b": "x"}, source="shop", detail_type="発送"))
    assert [s.schema_name for s in registry.list_schemas(DISCOVERED)] == ["shop@"]
    schema = json.loads(registry.describe_schema(DISCOVERED, "shop@").content)
    assert (schema["x-amazon-events-detail-type"], list(schema["properties"]["detail"]["properties"])) == (
        "注文", ["a"])
    assert registry._violation(DISCOVERED, event({"b": "x"}, source="shop", detail_type="発送")) is None


def test_the_first_pair_keeps_its_schema_when_the_discovery_state_is_rebuilt() -> None:
    _, registry = setup()
    registry._discover(event({"a": 1}, detail_type="order-placed"))
    registry._discovery.clear()  # (as when evicted: rebuilt from the schema's latest version)
    registry._discover(event({"b": 1}))
    registry._discover(event({"c": 1}, detail_type="order-placed"))
    assert versions(registry) == ["1", "2"]
    assert detail_node(discovered(registry))["properties"].keys() == {"a", "c"}
    assert discovered(registry)["x-amazon-events-detail-type"] == "order-placed"


def test_the_pairs_logged_about_are_bounded(caplog: pytest.LogCaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "_MAX_WARNED", 2)
    _, registry = setup()
    with caplog.at_level(logging.WARNING, logger="eventbus.schemas"):
        for detail_type in ("Order Placed", "order-placed", "order placed", "order_placed", "order-placed"):
            registry._discover(event({}, detail_type=detail_type))
    assert len(registry._warned) == 2
    assert [r.getMessage().split('"')[3] for r in caplog.records] == [
        "order-placed", "order placed", "order_placed", "order-placed"]  # (the oldest went, so it is logged again)


def test_a_schema_that_names_another_source_and_detail_type_is_not_the_events_schema() -> None:
    _, registry = setup()
    registry._discover(event({"total": 1}))
    other = event({"total": "x"}, detail_type="order-placed")
    assert registry._violation(DISCOVERED, other) is None
    assert registry._violation(DISCOVERED, event({"total": "x"})) is not None
    assert message(lambda: registry.check_event(DISCOVERED, other)) == (
        'ResourceNotFoundError: Schema my.app@OrderPlaced in registry discovered-schemas is the schema of source '
        '"my.app" and detail-type "Order Placed", not of this event\'s source "my.app" and detail-type '
        '"order-placed": give schema_name to check the event against it.')
    assert registry.check_event(DISCOVERED, other, schema_name=NAME) == [
        "Event does not match schema my.app@OrderPlaced version 1 in registry discovered-schemas: at $.detail.total: "
        "\"x\" is not of type 'integer'"]


@pytest.mark.parametrize(("content", "schema_type"), [
    ({**ORDER, "x-amazon-events-source": "my.app", "x-amazon-events-detail-type": "Order Placed"},
     "JSONSchemaDraft4"),
    (openapi({"type": "object", "properties": {"total": {"type": "number"}}}), "OpenApi3"),
], ids=["draft-4-root", "openapi-awsevent"])
def test_the_marks_of_a_registered_schema_say_whose_it_is(content: dict[str, Any], schema_type: SchemaType) -> None:
    _, registry = setup()
    registry.create_registry("orders")
    if schema_type == "OpenApi3":
        content["components"]["schemas"]["AWSEvent"].update({
            "x-amazon-events-source": "my.app", "x-amazon-events-detail-type": "Order Placed"})
    registry.create_schema("orders", NAME, content, schema_type)
    assert registry._violation("orders", event({"total": "x"})) is not None
    assert registry._violation("orders", event({"total": "x"}, detail_type="order placed")) is None
    registry.update_schema("orders", NAME, content={**ORDER, "x-amazon-events-source": "my.app"})  # (one mark: none)
    assert registry._violation("orders", event({"total": "x"}, detail_type="order placed")) is not None


# -- properties: the size limit --------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=6).flatmap(lambda n: events(n) | wide_events(n)),
       st.sampled_from([450, 700, 1_000, 1_500]))
def test_under_any_size_limit_a_discovered_schema_fits_and_validates_every_event_seen(
        found: list[dict[str, Any]], limit: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry_module, "MAX_CONTENT", limit)
        registry = SchemaRegistry(clock=ManualClock(T0))
        for e in found:
            registry._discover(e)
        name = schema_name_for(e["source"], e["detail-type"])
        content = registry.describe_schema(DISCOVERED, name).content
        assert len(content) <= limit
        validator = Draft4Validator(json.loads(content))
        for e in found:
            assert validator.is_valid(e)
            assert registry._violation(DISCOVERED, e) is None
        hypothesis_event("widened" if '"type":"object"}' in content or '"object"]}' in content else "not widened")


def test_a_schema_created_without_a_type_is_draft_4() -> None:
    registry = SchemaRegistry()
    registry.create_registry("mine")
    made = registry.create_schema("mine", "s@T", {"type": "object"})
    assert (made.type, registry.describe_schema("mine", "s@T").as_aws()["Type"]) == ("JSONSchemaDraft4",
                                                                                     "JSONSchemaDraft4")
