"""Deploys the order service with boto3: bus, rules, schedule, queues, pipe and Lambda functions.

The IAM role is not created here: the functions, the schedule and the pipe all use ``ROLE_ARN``,
a role the account is expected to have already.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3

ROLE_ARN = "arn:aws:iam::123456789012:role/order-service"
BUS = "orders"
FUNCTIONS = ("save-order", "notify-customer", "hourly-report", "enrich-order", "ship-order")

ORDER_PLACED_PATTERN = {
    "source": ["com.example.orders"],
    "detail-type": ["OrderPlaced"],
    "detail": {"total": [{"numeric": [">", 0]}]},
}
NOTIFY_PATTERN = {"source": ["com.example.orders"], "detail-type": ["OrderPlaced"]}
SAVE_ORDER_TRANSFORMER = {
    "InputPathsMap": {"order": "$.detail.order_id", "who": "$.detail.customer"},
    "InputTemplate": '{"order": <order>, "who": <who>}',
}
EXPRESS_ONLY = {"body": {"priority": ["express"]}}


def handlers_zip() -> bytes:
    """The functions' code: the order_service package's handlers module, zipped in memory."""
    here = Path(__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("order_service/__init__.py", "")
        archive.write(here / "handlers.py", "order_service/handlers.py")
    return buffer.getvalue()


def deploy(*, session: boto3.Session | None = None, region: str | None = None) -> dict[str, Any]:
    """Create everything; return the names, ARNs and URLs created."""
    session = session if session is not None else boto3.Session(region_name=region)
    events, scheduler = session.client("events"), session.client("scheduler")
    pipes, lambda_, sqs = session.client("pipes"), session.client("lambda"), session.client("sqs")

    queues: dict[str, str] = {}
    queue_arns: dict[str, str] = {}

    def queue(name: str, **attributes: str) -> None:
        url = queues[name] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        queue_arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    queue("notify-dlq")
    queue("shipments-dlq")
    redrive = {"deadLetterTargetArn": queue_arns["shipments-dlq"], "maxReceiveCount": "3"}
    queue("shipments", RedrivePolicy=json.dumps(redrive))

    code = handlers_zip()
    # EventBridge invokes a Lambda target asynchronously: the target's RetryPolicy and DeadLetterConfig
    # (below) cover failures to invoke it; errors the function raises are retried by Lambda (async
    # invoke config) and then go to the function's own dead-letter queue, as the original event
    extra: dict[str, dict[str, Any]] = {
        "notify-customer": {"DeadLetterConfig": {"TargetArn": queue_arns["notify-dlq"]}}
    }
    functions = {
        name: lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE_ARN,
            Handler=f"order_service.handlers.{name.replace('-', '_')}",
            Code={"ZipFile": code},
            Timeout=30,
            **extra.get(name, {}),
        )["FunctionArn"]
        for name in FUNCTIONS
    }
    lambda_.put_function_event_invoke_config(
        FunctionName="notify-customer", MaximumRetryAttempts=2, MaximumEventAgeInSeconds=3600
    )

    bus_arn = events.create_event_bus(Name=BUS)["EventBusArn"]
    rules = {}
    for rule, pattern in (("order-placed", ORDER_PLACED_PATTERN), ("notify-customer", NOTIFY_PATTERN)):
        rules[rule] = events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(
        Rule="order-placed",
        EventBusName=BUS,
        Targets=[{"Id": "save-order", "Arn": functions["save-order"], "InputTransformer": SAVE_ORDER_TRANSFORMER}],
    )
    events.put_targets(
        Rule="notify-customer",
        EventBusName=BUS,
        Targets=[
            {
                "Id": "notify-customer",
                "Arn": functions["notify-customer"],
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                "DeadLetterConfig": {"Arn": queue_arns["notify-dlq"]},
            }
        ],
    )
    # EventBridge may invoke the two functions, and send to the dead-letter queue
    for rule, function in (("order-placed", "save-order"), ("notify-customer", "notify-customer")):
        lambda_.add_permission(
            FunctionName=function,
            StatementId=f"events-{rule}",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=rules[rule],
        )
    from_the_rule = {"ArnEquals": {"aws:SourceArn": rules["notify-customer"]}}
    send = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    dlq_policy = {
        "Version": "2012-10-17",
        "Statement": [{**send, "Resource": queue_arns["notify-dlq"], "Condition": from_the_rule}],
    }
    sqs.set_queue_attributes(QueueUrl=queues["notify-dlq"], Attributes={"Policy": json.dumps(dlq_policy)})

    schedule_arn = scheduler.create_schedule(
        Name="hourly-report",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": functions["hourly-report"], "RoleArn": ROLE_ARN, "Input": json.dumps({"report": "hourly"})},
    )["ScheduleArn"]

    pipe_arn = pipes.create_pipe(
        Name="ship-orders",
        RoleArn=ROLE_ARN,
        Source=queue_arns["shipments"],
        SourceParameters={
            "SqsQueueParameters": {"BatchSize": 10},
            "FilterCriteria": {"Filters": [{"Pattern": json.dumps(EXPRESS_ONLY)}]},
        },
        Enrichment=functions["enrich-order"],
        Target=functions["ship-order"],
    )["Arn"]

    return {
        "bus": BUS,
        "bus_arn": bus_arn,
        "rules": rules,
        "functions": functions,
        "queues": queues,
        "queue_arns": queue_arns,
        "schedule": "hourly-report",
        "schedule_arn": schedule_arn,
        "pipe": "ship-orders",
        "pipe_arn": pipe_arn,
    }
