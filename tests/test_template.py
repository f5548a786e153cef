"""``load_template``: a CloudFormation template (hand-written, and as ``cdk synth`` writes it) as a World.

The templates are in tests/templates: ``handwritten.json`` (parameters, mappings, a target that is
gone, a scheduled rule whose handler is imported from its ``Handler``) and ``cdk_order_service.json``
(CDK v2's shape: hashed logical ids, ``aws:cdk:path`` metadata, roles, permissions, bootstrap
parameter and rule, ``CDKMetadata``).  Tests drive the loaded world and assert what reaches the
handlers, queues and dead-letter queues.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eventbus import (
    EventBus,
    Function,
    LoadedTemplate,
    ManualClock,
    Pipe,
    Queue,
    ResourceNotFoundError,
    ValidationError,
    World,
    load_template,
)
from eventbus._template import Identity, Resolver, Unmodelled
from eventbus._template._intrinsics import dependencies, order
from eventbus.testing import supported

TEMPLATES = Path(__file__).parent / "templates"
HANDWRITTEN = TEMPLATES / "handwritten.json"
CDK = TEMPLATES / "cdk_order_service.json"
SCHEDULER = "CreateSchedule" in supported().get("scheduler", [])
PIPES = "CreatePipe" in supported().get("pipes", [])
needs_scheduler = pytest.mark.skipif(not SCHEDULER, reason="eventbus.testing does not answer scheduler."
                                     "CreateSchedule yet: AWS::Scheduler::Schedule cannot be created")
needs_pipes = pytest.mark.skipif(not PIPES, reason="eventbus.testing does not answer pipes.CreatePipe yet: "
                                 "AWS::Pipes::Pipe cannot be created")

GREETED: list[Any] = []


def greet(event: Any, context: Any) -> Any:
    """The hand-written template's ``Greeter`` (``Handler: tests.test_template.greet``, imported)."""
    GREETED.append(event)
    return event


def template(resources: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {"Resources": resources, **sections}


def messages(queue: Queue) -> list[Any]:
    return [json.loads(m.body) for m in queue.receive(max_messages=10)]


# -- the resolver ----------------------------------------------------------------------------
@pytest.fixture
def resolver() -> Resolver:
    identities = {
        "Bus": Identity("orders", {"Arn": "arn:aws:events:eu-west-1:111122223333:event-bus/orders", "Name": "orders"}),
        "Jobs": Identity("https://sqs.eu-west-1.amazonaws.com/111122223333/jobs",
                         {"Arn": "arn:aws:sqs:eu-west-1:111122223333:jobs", "QueueName": "jobs"},
                         "AWS::SQS::Queue"),
    }
    return Resolver(account="111122223333", region="eu-west-1", stack_name="Shop",
                    parameters={"Env": "prod", "Zones": ["a", "b", "c"], "Secret": None, "Attr": "QueueName"},
                    mappings={"Sizes": {"prod": {"Batch": "10"}}}, identities=identities)


def test_ref_resolves_resources_parameters_and_pseudo_parameters(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "Bus"}) == "orders"
    assert resolver.resolve({"Ref": "Jobs"}) == "https://sqs.eu-west-1.amazonaws.com/111122223333/jobs"
    assert resolver.resolve({"Ref": "Env"}) == "prod"
    assert resolver.resolve([{"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, {"Ref": "AWS::Partition"},
                             {"Ref": "AWS::StackName"}, {"Ref": "AWS::URLSuffix"}]) == [
        "eu-west-1", "111122223333", "aws", "Shop", "amazonaws.com"]
    # AWS::NoValue removes the property or the list item
    assert resolver.resolve({"A": 1, "B": {"Ref": "AWS::NoValue"}, "C": [1, {"Ref": "AWS::NoValue"}]}) == {
        "A": 1, "C": [1]}


def test_get_att_in_both_forms(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::GetAtt": ["Jobs", "Arn"]}) == "arn:aws:sqs:eu-west-1:111122223333:jobs"
    assert resolver.resolve({"Fn::GetAtt": "Jobs.QueueName"}) == "jobs"
    assert resolver.resolve({"Fn::GetAtt": ["Bus", "Name"]}) == "orders"
    assert resolver.resolve({"Fn::GetAtt": ["Jobs", {"Ref": "Attr"}]}) == "jobs"
    with pytest.raises(Unmodelled, match=r"Fn::GetAtt Jobs.Nope: .*it knows \['Arn', 'QueueName'\]"):
        resolver.resolve({"Fn::GetAtt": ["Jobs", "Nope"]})


def test_sub_in_both_forms(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:x"}) \
        == "arn:aws:lambda:eu-west-1:111122223333:function:x"
    assert resolver.resolve({"Fn::Sub": "${Bus}/${Jobs.QueueName}/${Env}/${!Literal}"}) == \
        "orders/jobs/prod/${Literal}"
    assert resolver.resolve({"Fn::Sub": ["${Name}-${Env}-${AWS::Region}", {"Name": {"Fn::GetAtt": "Bus.Name"}}]}) \
        == "orders-prod-eu-west-1"
    assert resolver.resolve({"Fn::Sub": "no variables"}) == "no variables"


def test_join_select_split_find_in_map_base64(resolver: Resolver) -> None:
    assert resolver.resolve({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/x"]]}) == \
        "arn:aws:iam::aws:policy/x"
    assert resolver.resolve({"Fn::Join": [",", {"Ref": "Zones"}]}) == "a,b,c"
    assert resolver.resolve({"Fn::Select": ["1", {"Ref": "Zones"}]}) == "b"
    assert resolver.resolve({"Fn::Select": [5, {"Fn::Split": [":", {"Fn::GetAtt": ["Jobs", "Arn"]}]}]}) == "jobs"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Batch"]}) == "10"
    assert resolver.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert resolver.resolve({"Fn::Select": [0, {"Fn::GetAZs": ""}]}) == "eu-west-1a"


@pytest.mark.parametrize(("value", "message"), [
    ({"Ref": "Nowhere"}, r"Unresolved resource dependencies \[Nowhere\]"),
    ({"Fn::GetAtt": ["Nowhere", "Arn"]}, r"Unresolved resource dependencies \[Nowhere\]"),
    ({"Fn::Sub": "${Nowhere}"}, r"Unresolved resource dependencies \[Nowhere\]"),
    ({"Fn::Join": ["-", "not a list"]}, "Fn::Join's values must be a list"),
    ({"Fn::Select": [3, ["a"]]}, "Fn::Select cannot select 3"),
    ({"Fn::FindInMap": ["Sizes", "test", "Batch"]}, "Fn::FindInMap finds no Sizes.test.Batch"),
    ({"Fn::Sub": ["${X}", "not a mapping"]}, "Fn::Sub takes a string or"),
])
def test_a_template_cloudformation_refuses_is_refused(resolver: Resolver, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolver.resolve(value)


@pytest.mark.parametrize(("value", "message"), [
    ({"Fn::ImportValue": "OtherStack-Url"}, "Fn::ImportValue is not modelled"),
    ({"Fn::Frobnicate": 1}, "unknown intrinsic function Fn::Frobnicate"),
    ({"Ref": "Secret"}, "parameter Secret has no value"),
])
def test_what_eventbus_does_not_model_is_unmodelled(resolver: Resolver, value: Any, message: str) -> None:
    with pytest.raises(Unmodelled, match=message):
        resolver.resolve(value)


def test_dependencies_and_order() -> None:
    resources: dict[str, Any] = {"A": {}, "B": {}, "C": {}}
    value = {"X": {"Fn::Sub": ["${A}-${Var}-${B.Arn}-${AWS::Region}-${!C}", {"Var": {"Ref": "P"}}]},
             "Y": [{"Fn::GetAtt": "C.Arn"}]}
    assert dependencies(value, resources, {"P": "1"}, "here") == {"A", "B", "C"}
    assert order({"C": ["A"], "A": [], "B": ["C", "A"]}) == ["A", "C", "B"]
    with pytest.raises(ValidationError, match=r"Circular dependency between resources: A -> B -> C -> A"):
        order({"A": ["B"], "B": ["C"], "C": ["A"]})


def test_a_cycle_or_a_reference_to_nothing_is_refused_whatever_strict() -> None:
    cycle = template({
        "Left": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::GetAtt": "Right.QueueName"}}},
        "Right": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Left"}}}})
    for strict in (True, False):
        with pytest.raises(ValidationError, match=r"Circular dependency between resources: Left -> Right -> Left"):
            load_template(cycle, strict=strict)
    nothing = template({"Q": {"Type": "AWS::SQS::Queue", "DependsOn": ["Ghost"]}})
    with pytest.raises(ValidationError, match=r"Unresolved resource dependencies \['Ghost'\]"):
        load_template(nothing, strict=False)
    typo = template({"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Stak}-q"}}}})
    with pytest.raises(ValidationError, match=r"Unresolved resource dependencies \['Stak'\]"):
        load_template(typo, strict=False)


# -- the hand-written template -----------------------------------------------------------------
@pytest.fixture
def shop() -> LoadedTemplate:
    GREETED.clear()
    return load_template(HANDWRITTEN)  # Greeter's handler is imported from its Handler


def test_the_handwritten_template_loads_with_its_names_and_outputs(shop: LoadedTemplate) -> None:
    assert shop.stack_name == "handwritten"  # (the file's name)
    assert list(shop.created) == ["ShopBus", "ShopArchive", "AuditQueue", "GoneDlq", "ShopRule", "Greeter",
                                  "GreetRule"]
    assert (shop.ignored, dict(shop.unmodelled)) == ({}, {})
    assert shop.created["ShopRule"] == "arn:aws:events:us-east-1:123456789012:rule/shop-test/shop-everything"
    assert shop.created["ShopArchive"] == "arn:aws:events:us-east-1:123456789012:archive/test-shop-archive"
    assert shop.ref("AuditQueue") == "https://sqs.us-east-1.amazonaws.com/123456789012/audit-test"
    assert shop.outputs == {
        "BusArn": "arn:aws:events:us-east-1:123456789012:event-bus/shop-test",
        "AuditQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/audit-test",
        "Where": "handwritten in us-east-1 (amazonaws.com)",
        "GreeterArnFromParts": "greeter-test"}
    # a queue without QueueName gets CloudFormation's kind of name: stack-LogicalId-SUFFIX
    assert shop.resource("GoneDlq").name.startswith("handwritten-GoneDlq-")
    assert shop.world.queue_entry("audit-test").tags == {"owner": "ana"}
    assert shop.world.queue("audit-test").visibility_timeout == 45
    assert shop.resource("ShopArchive").retention_days == 7  # Fn::FindInMap by the parameter's Default


def test_parameters_given_override_defaults_and_are_checked() -> None:
    prod = load_template(HANDWRITTEN, parameters={"Env": "prod", "Owners": ["cy"]})
    assert prod.resource("ShopBus").name == "shop-prod"
    assert prod.resource("ShopArchive").retention_days == 90
    assert prod.world.queue_entry("audit-prod").tags == {"owner": "cy"}
    with pytest.raises(ValidationError, match=r"Parameter 'Env' must be one of AllowedValues \(test, prod\)"):
        load_template(HANDWRITTEN, parameters={"Env": "staging"})
    with pytest.raises(ValidationError, match=r"Parameters: \['Stage'\] do not exist in the template"):
        load_template(HANDWRITTEN, parameters={"Stage": "x"})


def test_a_rule_delivers_the_input_path_to_a_queue(shop: LoadedTemplate) -> None:
    bus = shop.world.bus("shop-test")
    result = bus.put_events([{"Source": "shop", "DetailType": "Sold", "Detail": '{"sku": "k-1"}',
                              "EventBusName": "shop-test"}])
    assert result["FailedEntryCount"] == 0
    shop.world.settle()
    assert messages(shop.world.queue("audit-test")) == [{"sku": "k-1"}]


def test_a_target_that_is_gone_is_dead_lettered_without_retries(shop: LoadedTemplate) -> None:
    # EventBridge does not retry a target that does not exist: its event goes to the DLQ at once
    shop.world.bus("shop-test").put_events([{"Source": "shop", "DetailType": "Sold", "Detail": '{"sku": "k-2"}',
                                             "EventBusName": "shop-test"}])
    dlq = shop.resource("GoneDlq")
    assert len(dlq) == 0  # (nothing runs inside put_events)
    shop.world.settle()
    [message] = dlq.receive()
    assert json.loads(message.body)["detail"] == {"sku": "k-2"}
    assert message.attributes == {
        "RULE_ARN": shop.created["ShopRule"], "TARGET_ARN": "arn:aws:lambda:us-east-1:123456789012:function:gone",
        "ERROR_CODE": "NO_RESOURCE", "RETRY_ATTEMPTS": "0",
        "ERROR_MESSAGE": "Function not found: arn:aws:lambda:us-east-1:123456789012:function:gone"}


def test_a_scheduled_rule_runs_a_handler_imported_from_its_handler_string(shop: LoadedTemplate) -> None:
    assert isinstance(shop.resource("Greeter"), Function)
    shop.world.advance(hours=2)
    assert GREETED == [{"hello": "world"}, {"hello": "world"}]


def test_a_world_given_is_used_with_its_account_and_region() -> None:
    world = World(clock=ManualClock(), account="111122223333", region="eu-west-1")
    loaded = load_template(HANDWRITTEN.read_text(), world=world, stack_name="Shop")
    assert loaded.world is world
    assert loaded.created["ShopBus"] == "arn:aws:events:eu-west-1:111122223333:event-bus/shop-test"
    assert loaded.outputs["Where"] == "Shop in eu-west-1 (amazonaws.com)"
    assert loaded.resource("GoneDlq").name.startswith("Shop-GoneDlq-")


# -- the cdk synth template --------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {}
        self.failing: set[str] = set()

    def __call__(self, name: str, answer: Callable[[Any], Any] = lambda event: event) -> Callable[[Any, Any], Any]:
        def handler(event: Any, context: Any) -> Any:
            self.calls.setdefault(name, []).append(copy.deepcopy(event))
            if name in self.failing:
                raise ConnectionError(f"{name} is down")
            return answer(event)
        handler.__name__ = name
        return handler


def enrich(batch: list[Any]) -> list[Any]:
    return [{**json.loads(record["body"]), "carrier": "express-air"} for record in batch]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def service(recorder: Recorder) -> LoadedTemplate:
    # handlers by logical id, by function name (hourly-report) and by Handler string (enrich_order)
    recorder.failing.add("notify")
    return load_template(CDK, {
        "SaveOrderFn6B1C3A2F": recorder("save"),
        "NotifyCustomerFn8F9A0B1C": recorder("notify"),
        "hourly-report": recorder("report"),
        "order_service.handlers.enrich_order": recorder("enrich", enrich),
        "ShipOrderFn0C1D2E3F": recorder("ship"),
        "ProcessReturnFn8A9B0C1D": recorder("return", lambda event: {"batchItemFailures": []}),
    }, strict=SCHEDULER and PIPES)


def order_placed(service: LoadedTemplate, **detail: Any) -> None:
    result = service.world.bus("orders").put_events([{
        "Source": "com.example.orders", "DetailType": "OrderPlaced", "Detail": json.dumps(detail),
        "EventBusName": "orders"}])
    assert result["FailedEntryCount"] == 0


def test_the_cdk_template_is_read_as_cdk_writes_it(service: LoadedTemplate) -> None:
    assert service.stack_name == "OrderService"  # from aws:cdk:path
    assert service.ignored["CDKMetadata"] == "CDK metadata"  # its Condition does not matter
    roles = [k for k in service.ignored if "Role" in k or "Policy" in k or "Allow" in k]
    assert len(roles) == 15 and len(service.ignored) == 16
    assert all(service.ignored[k].startswith("permissions:") for k in roles)
    expected = {} if SCHEDULER and PIPES else {
        k: v for k, v in service.unmodelled.items() if "eventbus.testing does not answer" in v}
    assert dict(service.unmodelled) == expected
    assert service.outputs == {
        "OrdersBusName": "orders",
        "ShipmentsQueueUrl": service.ref("Shipments4E5F6A7B"),
        "HourlyReportFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hourly-report"}
    assert service.ref("Shipments4E5F6A7B").startswith(
        "https://sqs.us-east-1.amazonaws.com/123456789012/OrderService-Shipments4E5F6A7B-")
    assert isinstance(service.resource("OrdersBus2F5D3C1A"), EventBus)
    assert service.resource("OrderPlacedRuleA1B2C3D4").event_bus_name == "orders"
    assert isinstance(service.resource("Shipments4E5F6A7B"), Queue)
    assert service.resource("Shipments4E5F6A7B").max_receive_count == 3
    assert service.arn("SaveOrderFnServiceRole8E3F2C1D") == (
        "arn:aws:iam::123456789012:role/" + service.ref("SaveOrderFnServiceRole8E3F2C1D"))
    with pytest.raises(ResourceNotFoundError, match="SaveOrderFnServiceRole8E3F2C1D .* is ignored"):
        service.resource("SaveOrderFnServiceRole8E3F2C1D")
    with pytest.raises(ResourceNotFoundError, match="no resource Nope"):
        service.arn("Nope")
    # the function's settings as CloudFormation gave them
    configuration = service.world.function_entry(service.ref("SaveOrderFn6B1C3A2F")).configuration
    assert (configuration["Timeout"], configuration["Environment"]) == (30, {"Variables": {"ORDERS_BUS": "orders"}})


def test_a_rule_with_an_input_transformer_reaches_the_handler_transformed(service: LoadedTemplate,
                                                                         recorder: Recorder) -> None:
    order_placed(service, order_id="o-1", customer="ana", total=12)
    order_placed(service, order_id="o-2", customer="bo", total=0)  # total > 0 only
    service.world.settle()
    assert recorder.calls["save"] == [{"order": "o-1", "who": "ana"}]
    assert service.resource("OrdersBusArchive9C3B1F0E").event_count == 2  # account = the stack's account


def test_a_failing_function_is_retried_then_its_event_lands_in_the_dlq(service: LoadedTemplate,
                                                                      recorder: Recorder) -> None:
    order_placed(service, order_id="o-3", customer="cy", total=5)
    service.world.settle()
    dlq = service.resource("NotifyDlq4F2E8B1C")
    assert len(recorder.calls["notify"]) == 1 and len(dlq) == 0
    service.world.advance(hours=1)
    # the EventInvokeConfig's 2 retries, then the function's DeadLetterConfig, with the original event
    assert len(recorder.calls["notify"]) == 3
    [message] = dlq.receive()
    assert json.loads(message.body)["detail"] == {"order_id": "o-3", "customer": "cy", "total": 5}
    assert message.attributes["ErrorCode"] == "200"
    entry = service.world.function_entry(service.ref("NotifyCustomerFn8F9A0B1C"))
    assert (entry.invoke_config or {})["MaximumRetryAttempts"] == 2
    assert service.resource("NotifyCustomerFnEventInvokeConfig2C3D4E5F") is entry.function


@needs_scheduler
def test_the_hourly_schedule_fires_three_times_in_three_hours(service: LoadedTemplate, recorder: Recorder) -> None:
    service.world.settle()
    before = len(recorder.calls.get("report", []))
    service.world.advance(hours=3)
    assert recorder.calls["report"][before:] == [{"report": "hourly"}] * 3
    schedule = service.resource("HourlyReportSchedule6C7D8E9F")
    assert (schedule.group_name, schedule.schedule_expression) == ("reports", "rate(1 hour)")


@needs_pipes
def test_the_pipe_filters_and_enriches(service: LoadedTemplate, recorder: Recorder) -> None:
    shipments = service.resource("Shipments4E5F6A7B")
    for order_id, priority in (("o-1", "express"), ("o-2", "ground"), ("o-3", "express")):
        shipments.send(json.dumps({"order_id": order_id, "priority": priority}))
    service.world.advance(seconds=1)
    assert [[json.loads(r["body"])["order_id"] for r in batch] for batch in recorder.calls["enrich"]] == [
        ["o-1", "o-3"]]
    assert recorder.calls["ship"] == [[{"order_id": "o-1", "priority": "express", "carrier": "express-air"},
                                       {"order_id": "o-3", "priority": "express", "carrier": "express-air"}]]
    assert isinstance(service.resource("ShipOrdersPipe2C3D4E5F"), Pipe)
    assert len(shipments) == 0  # the ground order was filtered out (and deleted), as a pipe does


def test_an_event_source_mapping_feeds_the_queue_to_its_function(service: LoadedTemplate,
                                                                 recorder: Recorder) -> None:
    returns = service.resource("ReturnsQueue6A7B8C9D")
    returns.send('{"order_id": "o-9"}')
    service.world.advance(seconds=1)
    [event] = recorder.calls["return"]
    assert [json.loads(r["body"]) for r in event["Records"]] == [{"order_id": "o-9"}]
    mapping = "ProcessReturnFnSqsEventSourceOrderServiceReturnsQueue9E0F1A2B3C"
    assert isinstance(service.resource(mapping), Pipe)
    uuid = service.ref(mapping)
    assert service.created[mapping] == f"arn:aws:lambda:us-east-1:123456789012:event-source-mapping:{uuid}"
    assert service.world.mappings[uuid]["BatchSize"] == 5


def test_handlers_must_name_functions_of_the_template(recorder: Recorder) -> None:
    with pytest.raises(ValidationError, match=r"handlers names \['SaveOrderFunction'\], which match no function"):
        load_template(CDK, {"SaveOrderFunction": recorder("save")}, strict=False)


def test_functions_whose_handler_cannot_be_imported_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # (examples/order_service, collected in the same run, makes the real package importable: hide it)
    for module in ("order_service", "order_service.handlers"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ValidationError) as caught:
        load_template(CDK)
    text = str(caught.value)
    assert "SaveOrderFn6B1C3A2F: Handler 'order_service.handlers.save_order' cannot be imported" in text
    assert "give it in handlers= (by SaveOrderFn6B1C3A2F" in text
    assert "strict=False" in text
    loaded = load_template(CDK, strict=False)  # created anyway: invoking them fails as Lambda does
    assert "SaveOrderFn6B1C3A2F" in loaded.created and "SaveOrderFn6B1C3A2F" in loaded.unmodelled


# -- what is not modelled ------------------------------------------------------------------------
UNMODELLED = template({
    "Orders": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders"}},
    "Workflow": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {"StateMachineName": "flow"}},
    "Topic": {"Type": "AWS::SNS::Topic"},
    "Both": {"Type": "AWS::Events::Rule", "Properties": {
        "EventPattern": {"source": ["shop"]},
        "Targets": [{"Id": "queue", "Arn": {"Fn::GetAtt": ["Orders", "Arn"]}},
                    {"Id": "flow", "Arn": {"Ref": "Workflow"}, "RoleArn": "arn:aws:iam::123456789012:role/r"},
                    {"Id": "fifo", "Arn": {"Fn::GetAtt": ["Orders", "Arn"]},
                     "SqsParameters": {"MessageGroupId": "g"}}]}},
    "Imported": {"Type": "AWS::Lambda::Function", "Properties": {
        "Handler": "tests.test_template.greet", "Runtime": "python3.12", "Role": "arn:aws:iam::123456789012:role/r",
        "Code": {"ZipFile": "x"}, "Environment": {"Variables": {"URL": {"Fn::ImportValue": "Other-Url"}}}}},
    "Node": {"Type": "AWS::Lambda::Function", "Properties": {
        "Handler": "index.handler", "Runtime": "nodejs20.x", "Role": "arn:aws:iam::123456789012:role/r",
        "Code": {"ZipFile": "exports.handler = async () => {}"}}},
    "Maybe": {"Type": "AWS::SQS::Queue", "Condition": "IsProd"},
    "Fifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
}, Conditions={"IsProd": {"Fn::Equals": ["a", "b"]}}, Outputs={"Url": {"Value": {"Fn::ImportValue": "X"}}})


def test_strict_refuses_listing_every_unmodelled_resource_before_creating_anything() -> None:
    world = World()
    with pytest.raises(ValidationError) as caught:
        load_template(UNMODELLED, world=world)
    text = str(caught.value)
    for logical_id in ("Workflow", "Topic", "Both", "Imported", "Node", "Fifo", "Outputs.Url"):
        assert f"\n  {logical_id}: " in text, logical_id
    assert "(Workflow, Topic, Both, Imported, Node, Fifo, Outputs.Url)" in text
    assert world.queues == {}  # nothing was created


def test_not_strict_creates_what_it_can_and_reports_the_rest() -> None:
    loaded = load_template(UNMODELLED, strict=False)
    assert list(loaded.created) == ["Orders", "Both"]
    assert loaded.unmodelled == {
        "Workflow": "resource type AWS::StepFunctions::StateMachine is not modelled",
        "Topic": "resource type AWS::SNS::Topic is not modelled",
        "Both": "Targets[1] (flow) arn:aws:states:us-east-1:123456789012:stateMachine:flow: eventbus delivers to "
                "Lambda functions, SQS queues and event buses only; Targets[2] (fifo): SqsParameters not modelled; "
                "refers to Workflow, not created (see it)",
        "Imported": "Environment: Fn::ImportValue is not modelled (values exported by other stacks are unknown "
                    "here)",
        "Node": "Runtime nodejs20.x: eventbus runs Python callables; give this function one in handlers= (by Node, "
                f"{loaded.ref('Node')} or its Handler)",
        "Fifo": "FifoQueue: eventbus models standard queues only",
        "Outputs.Url": "Fn::ImportValue is not modelled (values exported by other stacks are unknown here)",
    }
    assert loaded.ignored["Maybe"] == "Condition IsProd is false: not created (as CloudFormation)"
    # the rule delivers to the target it could keep
    loaded.world.bus().put_events([{"Source": "shop", "DetailType": "x", "Detail": "{}"}])
    loaded.world.settle()
    assert [m["source"] for m in messages(loaded.world.queue("orders"))] == ["shop"]
    with pytest.raises(ResourceNotFoundError, match=r"Fifo \(AWS::SQS::Queue\) is not created"):
        loaded.resource("Fifo")
    assert loaded.arn("Workflow") == "arn:aws:states:us-east-1:123456789012:stateMachine:flow"


def test_a_foreign_runtime_given_a_python_handler_is_created(recorder: Recorder) -> None:
    node = {"Node": UNMODELLED["Resources"]["Node"]}
    loaded = load_template(template(node), {"index.handler": recorder("node")})
    assert loaded.resource("Node").invoke({"a": 1}, "RequestResponse")["StatusCode"] == 200
    assert recorder.calls["node"] == [{"a": 1}]


def test_unknown_properties_and_transforms_are_reported() -> None:
    loaded = load_template(template(
        {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q", "ContentBasedDeduplication": True,
                                                           "Tags": [], "KmsMasterKeyId": "alias/aws/sqs"}},
         "F": {"Type": "AWS::Lambda::Function", "Properties": {
             "Handler": "tests.test_template.greet", "Role": "r", "Code": {"ZipFile": "x"},
             "ReservedConcurrentExecutions": 1, "TracingConfig": {"Mode": "Active"}}}},
        Transform="AWS::Serverless-2016-10-31"), strict=False)
    assert list(loaded.created) == ["Q", "F"]
    assert loaded.unmodelled == {
        "Q": "ContentBasedDeduplication: not modelled",
        "F": "ReservedConcurrentExecutions: not modelled (the function runs unthrottled)",
        "Transform": "Transform AWS::Serverless-2016-10-31: macros (SAM and others) are not expanded; load the "
                     "processed template instead"}


# -- AWS's validation, and templates that are not templates ----------------------------------------
@pytest.mark.parametrize(("resource", "message"), [
    ({"Type": "AWS::Events::Rule", "Properties": {"EventPattern": {"source": "shop"}}},
     r"Bad \(AWS::Events::Rule\): events.PutRule was refused: InvalidEventPatternException: Event pattern is not "
     "valid"),
    ({"Type": "AWS::Lambda::Function", "Properties": {"Handler": "tests.test_template.greet", "Timeout": 901,
                                                      "Code": {"ZipFile": "x"}}},
     r"Bad \(AWS::Lambda::Function\): lambda.CreateFunction was refused: InvalidParameterValueException: "),
    ({"Type": "AWS::Events::Rule", "Properties": {"ScheduleExpression": "rate(1 hour)", "EventBusName": "nope"}},
     r"Bad \(AWS::Events::Rule\): events.PutRule was refused: ResourceNotFoundException: Event bus nope does "
     "not exist."),
])
def test_an_error_answer_names_the_logical_id_and_awss_code(resource: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_template(template({"Bad": resource}))


@pytest.mark.parametrize(("source", "error", "message"), [
    ("/nonexistent/template.json", FileNotFoundError, "No such file or directory: '/nonexistent/template.json'"),
    ('{"Resources": ', ValidationError, "the template text is not JSON"),
    ("[1, 2]", ValidationError, "a template is a JSON object, not list"),
    ({"Resources": {}}, ValidationError, "at least one Resources member must be defined"),
    ({"Resources": {"Q": {"Properties": {}}}}, ValidationError, "Every Resources object must contain a Type"),
    ({"Resources": {"bad-id": {"Type": "AWS::SQS::Queue"}}}, ValidationError, "is non alphanumeric"),
    ({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Extra": 1}, ValidationError, "unsupported structure: Extra"),
])
def test_what_is_not_a_template_is_refused(source: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        load_template(source)


def test_conditions_are_evaluated_as_cloudformation_evaluates_them() -> None:
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "InUs": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": ["-", {"Ref": "AWS::Region"}]}]}, "us"]},
        "ProdInUs": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "InUs"}]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Either": {"Fn::Or": [{"Condition": "NotProd"}, {"Fn::Equals": [{"Ref": "Size"}, 7]}]},
    }
    made = template({
        "Always": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": {"Fn::If": ["IsProd", "orders-prod", "orders-dev"]},
            "VisibilityTimeout": {"Fn::If": ["ProdInUs", 60, {"Ref": "AWS::NoValue"}]}}},
        "ProdOnly": {"Type": "AWS::SQS::Queue", "Condition": "IsProd", "Properties": {"QueueName": "audit"}},
        "DevOnly": {"Type": "AWS::SQS::Queue", "Condition": "NotProd", "Properties": {"QueueName": "scratch"}},
    }, Parameters={"Stage": {"Type": "String", "Default": "dev"}, "Size": {"Type": "Number", "Default": "7"}},
        Conditions=conditions, Outputs={"Audit": {"Condition": "IsProd", "Value": {"Ref": "ProdOnly"}},
                                        "Either": {"Value": {"Fn::If": ["Either", "yes", "no"]}}})
    dev = load_template(made)
    assert sorted(dev.world.queues) == ["orders-dev", "scratch"]
    assert dev.world.queue_entry("orders-dev").queue.visibility_timeout == 30  # NoValue: the default
    assert dev.ignored == {"ProdOnly": "Condition IsProd is false: not created (as CloudFormation)"}
    assert dev.outputs == {"Either": "yes"}  # the Audit output's condition is false: no output
    prod = load_template(made, parameters={"Stage": "prod"})
    assert sorted(prod.world.queues) == ["audit", "orders-prod"]
    assert prod.world.queue_entry("orders-prod").queue.visibility_timeout == 60
    assert prod.outputs["Audit"].endswith("/audit") and prod.outputs["Either"] == "yes"  # "7" equals 7


def test_conditions_cloudformation_refuses_are_refused() -> None:
    def loading(conditions: dict[str, Any], resource_condition: str = "A") -> None:
        load_template(template({"Q": {"Type": "AWS::SQS::Queue", "Condition": resource_condition}},
                               Conditions=conditions))

    with pytest.raises(ValidationError, match="Circular dependency between conditions: A -> B -> A"):
        loading({"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}})
    with pytest.raises(ValidationError, match=r"Unresolved condition dependencies \[Nope\]"):
        loading({"A": {"Fn::Equals": ["x", "x"]}}, "Nope")
    with pytest.raises(ValidationError, match="Fn::And takes 2 to 10 conditions"):
        loading({"A": {"Fn::And": [{"Fn::Equals": ["x", "x"]}]}})
    with pytest.raises(ValidationError, match=r"Unresolved resource dependencies \[Gone\]: Gone is not created, "
                                              "its Condition Off is false"):
        load_template(template({
            "Gone": {"Type": "AWS::SQS::Queue", "Condition": "Off"},
            "User": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::GetAtt": ["Gone", "QueueName"]}}},
        }, Conditions={"Off": {"Fn::Equals": ["a", "b"]}}))
