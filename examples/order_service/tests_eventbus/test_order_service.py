"""The order service's tests under eventbus.testing.mock_aws: the moto suite's questions, asked again.

Questions, one test each:

1. Does the infrastructure exist as deployed (rules, targets, schedule, pipe, redrive policy)?
2. Is notify-customer's own failure handling deployed (Lambda's async retries, its dead-letter queue)?
3. Does a placed order reach save_order, transformed to ``{"order": id, "who": customer}``?
4. Does an order with total 0 stay away from save_order?
5. Is the failing notify target tried 3 times (1 + 2 retries), then the original event dead-lettered?
6. Does the hourly schedule fire 3 times in 3 hours?
7. Does an express shipment go through the pipe: enriched, then received by ship_order?
8. Is a non-express shipment filtered out by the pipe, and deleted from the queue?
9. Does a RequestResponse invoke of save-order return the handler's result?
10. Does an Event invoke of save-order queue the call (202, no payload), which then runs?
11. Does TestEventPattern agree with delivery on the deployed rule's pattern?

The tests are written against the helpers below (``saved()``, ``dlq_bodies()``, ``let_time_pass()``, ...)
so that the same questions can be asked of another backend by rewriting only the helpers and fixtures.
The assertions are the moto suite's, unchanged; only the helpers below differ: time passes on the
world's virtual clock (``aws.advance``) instead of in real time.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from order_service import handlers, infra
from order_service.app import DETAIL_TYPE, SOURCE, place_order

from eventbus.testing import current_world

ORDER = {"order_id": "o-1", "customer": "ann", "total": 42.5, "items": ["book"]}


# ---- helpers: the only code that knows which backend runs the tests ----


def saved() -> list[dict[str, Any]]:
    return handlers.SAVED


def notify_attempts() -> list[dict[str, Any]]:
    return handlers.NOTIFY_ATTEMPTS


def reports() -> list[dict[str, Any]]:
    return handlers.REPORTS


def enriched() -> list[list[dict[str, Any]]]:
    return handlers.ENRICHED


def shipped() -> list[list[dict[str, Any]]]:
    return handlers.SHIPPED


def let_time_pass(*, hours: float = 0, minutes: float = 0) -> None:
    """Let the given time pass for whatever runs in the background (schedules, retries, pipes, async invokes):
    the world's clock moves, and everything due on the way runs, in time order."""
    current_world().advance(hours=hours, minutes=minutes)


def queue_url(name: str) -> str:
    return str(boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def dlq_bodies(queue: str = "notify-dlq") -> list[Any]:
    """The bodies of the messages waiting in ``queue``, decoded from JSON."""
    response = boto3.client("sqs").receive_message(QueueUrl=queue_url(queue), MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in response.get("Messages", [])]


def messages_left(queue: str) -> int:
    """Messages still in ``queue``, visible or in flight."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def send_shipment(shipment: dict[str, Any]) -> None:
    boto3.client("sqs").send_message(QueueUrl=queue_url("shipments"), MessageBody=json.dumps(shipment))


def invoke(function: str, payload: Any, invocation_type: str = "RequestResponse") -> tuple[int, bytes]:
    """Invoke ``function``; return the status code and the raw payload."""
    response = boto3.client("lambda").invoke(
        FunctionName=function, InvocationType=invocation_type, Payload=json.dumps(payload)
    )
    return int(response["StatusCode"]), response["Payload"].read()


def pattern_matches(pattern: str, event: dict[str, Any]) -> bool:
    return bool(boto3.client("events").test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"])


def order_event(order: dict[str, Any]) -> dict[str, Any]:
    """The event EventBridge makes of ``place_order(order)``."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": "123456789012",
        "time": "2025-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": order,
    }


# ---- the questions ----


def test_the_infrastructure_exists_as_deployed(deployed: dict[str, Any]) -> None:
    events = boto3.client("events")
    rule = events.describe_rule(Name="order-placed", EventBusName="orders")
    assert json.loads(rule["EventPattern"]) == infra.ORDER_PLACED_PATTERN
    assert rule["State"] == "ENABLED"
    [save] = events.list_targets_by_rule(Rule="order-placed", EventBusName="orders")["Targets"]
    assert save["Arn"] == deployed["functions"]["save-order"]
    assert save["InputTransformer"] == infra.SAVE_ORDER_TRANSFORMER
    [notify] = events.list_targets_by_rule(Rule="notify-customer", EventBusName="orders")["Targets"]
    assert notify["Arn"] == deployed["functions"]["notify-customer"]
    assert notify["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}
    assert notify["DeadLetterConfig"] == {"Arn": deployed["queue_arns"]["notify-dlq"]}

    schedule = boto3.client("scheduler").get_schedule(Name="hourly-report")
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == deployed["functions"]["hourly-report"]

    pipe = boto3.client("pipes").describe_pipe(Name="ship-orders")
    assert pipe["DesiredState"] == "RUNNING"
    assert pipe["Source"] == deployed["queue_arns"]["shipments"]
    assert pipe["Enrichment"] == deployed["functions"]["enrich-order"]
    assert pipe["Target"] == deployed["functions"]["ship-order"]
    [only] = pipe["SourceParameters"]["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == infra.EXPRESS_ONLY

    redrive = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url("shipments"), AttributeNames=["RedrivePolicy"]
    )
    policy = json.loads(redrive["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == deployed["queue_arns"]["shipments-dlq"]
    assert int(policy["maxReceiveCount"]) == 3


def test_notify_customer_failure_handling_is_deployed(deployed: dict[str, Any]) -> None:
    lambda_ = boto3.client("lambda")
    retries = lambda_.get_function_event_invoke_config(FunctionName="notify-customer")
    assert (retries["MaximumRetryAttempts"], retries["MaximumEventAgeInSeconds"]) == (2, 3600)
    configuration = lambda_.get_function_configuration(FunctionName="notify-customer")
    assert configuration.get("DeadLetterConfig") == {"TargetArn": deployed["queue_arns"]["notify-dlq"]}


def test_a_placed_order_reaches_save_order_transformed(deployed: dict[str, Any]) -> None:
    place_order(ORDER)
    let_time_pass(minutes=1)
    assert saved() == [{"order": "o-1", "who": "ann"}]


def test_an_order_with_total_zero_does_not_reach_save_order(deployed: dict[str, Any]) -> None:
    place_order({**ORDER, "total": 0})
    let_time_pass(minutes=1)
    assert saved() == []


def test_a_failing_notify_target_is_tried_three_times_then_dead_lettered(deployed: dict[str, Any]) -> None:
    event_id = place_order(ORDER)
    let_time_pass(hours=1)  # EventBridge invokes it asynchronously; Lambda retries the errors, then dead-letters
    assert [attempt["id"] for attempt in notify_attempts()] == [event_id] * 3
    dead_letters = [
        (body["id"], body["source"], body["detail-type"], body["detail"]) for body in dlq_bodies("notify-dlq")
    ]
    assert dead_letters == [(event_id, SOURCE, DETAIL_TYPE, ORDER)]


def test_the_hourly_schedule_fires_three_times_in_three_hours(deployed: dict[str, Any]) -> None:
    let_time_pass(minutes=30)  # counting from half past: whether it also fires at creation doesn't matter
    before = len(reports())
    let_time_pass(hours=3)
    assert reports()[before:] == [{"report": "hourly"}] * 3


def test_an_express_shipment_goes_through_the_pipe_enriched(deployed: dict[str, Any]) -> None:
    shipment = {"order_id": "o-1", "priority": "express"}
    send_shipment(shipment)
    let_time_pass(minutes=1)
    assert [[json.loads(record["body"]) for record in batch] for batch in enriched()] == [[shipment]]
    assert shipped() == [[{**shipment, "carrier": "express-air"}]]


def test_a_standard_shipment_is_filtered_out_and_deleted(deployed: dict[str, Any]) -> None:
    send_shipment({"order_id": "o-2", "priority": "standard"})
    let_time_pass(minutes=1)
    assert enriched() == []
    assert shipped() == []
    assert messages_left("shipments") == 0


def test_invoking_save_order_returns_the_handlers_result(deployed: dict[str, Any]) -> None:
    status, payload = invoke("save-order", {"order": "o-1", "who": "ann"})
    assert status == 200
    assert json.loads(payload) == {"saved": "o-1", "for": "ann"}


def test_an_event_invoke_is_queued_then_run(deployed: dict[str, Any]) -> None:
    status, payload = invoke("save-order", {"order": "o-1", "who": "ann"}, "Event")
    assert (status, payload) == (202, b"")
    let_time_pass(minutes=1)
    assert saved() == [{"order": "o-1", "who": "ann"}]


def test_test_event_pattern_agrees_with_delivery(deployed: dict[str, Any]) -> None:
    pattern = boto3.client("events").describe_rule(Name="order-placed", EventBusName="orders")["EventPattern"]
    assert pattern_matches(pattern, order_event(ORDER)) is True
    assert pattern_matches(pattern, order_event({**ORDER, "total": 0})) is False
