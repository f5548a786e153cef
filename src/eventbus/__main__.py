"""``python -m eventbus``: a short tour (``demo``), and tools for patterns and schedules.

    python -m eventbus demo                          the tour: the matcher, a bus, delivery, schedules, a pipe,
                                                     an archive and its replay, schema discovery and checks
    python -m eventbus test-pattern PATTERN EVENT    AWS's TestEventPattern: prints true or false
    python -m eventbus explain PATTERN EVENT         why the event does or does not match
    python -m eventbus next-fires EXPRESSION [--tz ZONE] [-n N] [--after TIME]
    python -m eventbus topology TEMPLATE [--output FILE]
                                                     a CloudFormation template (JSON, cdk synth's too) as a
                                                     Mermaid flowchart: buses, rules, targets, DLQs, schedules,
                                                     pipes, event source mappings, queue redrive

PATTERN and EVENT are JSON text, ``@path`` (a file) or ``-`` (standard input);
TEMPLATE is a path or ``-``.
Exit status: 0 a match (or done), 1 no match, 2 bad input (the error in AWS's
words on standard error).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import (
    EventBus,
    EventBusError,
    Function,
    InvalidEventPatternError,
    ManualClock,
    Pipe,
    Queue,
    RetryPolicy,
    RuleIndex,
    Scheduler,
    SchemaRegistry,
    Target,
    ValidationError,
    compile_pattern,
    explain,
    numeric,
    parse_schedule_expression,
    prefix,
    test_event_pattern,
)
from ._clock import default_clock, stopwatch
from ._pattern._api import PatternSource
from ._template import mermaid_topology

EVENT = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2024-03-01T12:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:ec2:eu-west-1:111122223333:instance/i-0abcd1234"],
    "detail": {
        "instance-id": "i-0abcd1234",
        "state": "running",
        "cpu": {"cores": 4},
        "tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "payments"}],
    },
}

RULES: dict[str, PatternSource] = {
    "ec2-running": '{"source": ["aws.ec2"], "detail": {"state": ["running"]}}',
    "big-instances": {"detail": {"cpu": {"cores": [numeric(">=", 4)]}}},
    "eu-regions": {"region": [prefix("eu-")]},
    "team=payments (one element)": '{"detail": {"tags": {"key": ["team"], "value": ["payments"]}}}',
    "env=payments (across elements)": '{"detail": {"tags": {"key": ["env"], "value": ["payments"]}}}',
    "not-stopped": '{"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}',
    "s3-only": '{"source": ["aws.s3"]}',
}


def demo() -> None:
    print("eventbus demo: Amazon EventBridge in process\n")
    print("Event:", json.dumps(EVENT["detail"]), "from", EVENT["source"], EVENT["region"])
    index = RuleIndex()
    for name, pattern in RULES.items():
        index.add(name, pattern)
    matched = index.match(EVENT)
    print(f"\n{len(index)} rules in one RuleIndex:")
    for name in RULES:
        print(f"  {'MATCH ' if name in matched else 'no    '} {name}")

    print("\nTestEventPattern, as AWS answers it:")
    print("  300 vs 300.0 ->", test_event_pattern(json.dumps({**EVENT, "detail": {"n": 300.0}}),
                                                  '{"detail": {"n": [300]}}'))
    for bad in ('{"detail": {"state": []}}', '{"x": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}', "{'bad': 1}"):
        try:
            compile_pattern(bad)
        except InvalidEventPatternError as exc:
            print(f"  {bad:48s} -> {exc}")

    print("\nScale: 1,000 rules in one index")
    big = RuleIndex()
    for i in range(1000):
        big.add(i, {"source": [f"app.{i % 50}"], "detail": {"n": [numeric(">", i % 7)]}})
    events = [{"source": f"app.{i % 50}", "detail": {"n": i % 11}} for i in range(2000)]
    elapsed = stopwatch()
    hits = sum(len(big.match(e)) for e in events)
    took = elapsed()
    print(f"  {len(events)} events matched in {took * 1000:.0f} ms ({len(events) / took:,.0f} events/s), "
          f"{hits} rule matches")


def delivery_demo() -> None:
    print("\nAsynchronous invocation (Lambda's InvocationType=Event), on virtual time:")
    clock = ManualClock()
    start = clock.now()
    dlq = Queue("orders-dlq", clock=clock)
    attempts: list[str] = []

    def flaky(event: Any, context: Any) -> dict[str, Any]:
        attempts.append(f"flaky +{(clock.now() - start).seconds}s")
        if len([a for a in attempts if a.startswith("flaky")]) <= 2:
            raise ConnectionError("database unavailable")
        return {"saved": event["order"]}

    def broken(event: Any, context: Any) -> None:
        attempts.append(f"broken +{(clock.now() - start).seconds}s")
        raise ValueError("bad order")

    successes: list[dict[str, Any]] = []
    ok = Function(flaky, name="save-order", clock=clock, on_success=successes.append)
    bad = Function(broken, name="check-order", clock=clock, dead_letter_queue=dlq)
    print("  invoke save-order  ->", ok.invoke({"order": 42}, "Event"))
    print("  invoke check-order ->", bad.invoke({"order": 43}, "Event"))
    clock.run_until_idle()  # 3 minutes of retries, in no time
    print("  attempts:", ", ".join(attempts))
    record = successes[0]
    print(f"  save-order succeeded on attempt {record['requestContext']['approximateInvokeCount']}: "
          f"{record['responsePayload']}")
    [message] = dlq.receive()
    print(f"  check-order gave up; DLQ holds {message.body} with {message.attributes}")
    print(f"  save-order:  {ok.metrics.succeeded} succeeded, {ok.metrics.retries} retries")
    print(f"  check-order: {bad.metrics.dead_lettered} dead-lettered, {bad.metrics.retries} retries, "
          f"{bad.metrics.dropped} dropped")


def bus_demo() -> None:
    print("\nAn event bus: rules, an input transformer, a failing target and its DLQ, on virtual time:")
    clock = ManualClock()
    bus = EventBus("shop", clock=clock)
    shipping, dlq = Queue("shipping", clock=clock), Queue("billing-dlq", clock=clock)

    def bill(event: Any) -> None:
        raise ConnectionError("billing service unavailable")

    bus.put_rule("order-placed", event_pattern={"source": ["shop.orders"], "detail-type": ["Order Placed"]})
    bus.put_targets("order-placed", [
        Target(shipping, target_id="shipping", input_transformer={
            "InputPathsMap": {"order": "$.detail.order", "city": "$.detail.address.city"},
            "InputTemplate": '{"ship": <order>, "to": <city>, "rule": <aws.events.rule-name>}'}),
        Target(bill, target_id="billing", dead_letter_queue=dlq, retry_policy=RetryPolicy(maximum_retry_attempts=2)),
    ])
    bus.put_rule("big-orders", event_pattern={"detail": {"total": [{"numeric": [">=", 100]}]}})
    big: list[Any] = []
    bus.put_targets("big-orders", [Target(big.append, target_id="audit", input_path="$.detail.total")])
    response = bus.put_events([
        {"Source": "shop.orders", "DetailType": "Order Placed",
         "Detail": json.dumps({"order": "o-17", "total": 120, "address": {"city": "Lyon"}})},
        {"Source": "shop.orders", "DetailType": "Order Cancelled", "Detail": json.dumps({"order": "o-9"})},
        {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": "not json"},
    ])
    print(f"  put_events -> FailedEntryCount {response['FailedEntryCount']}: {response['Entries'][2]}")
    print(f"  before the clock runs: {len(shipping)} messages (no target runs inside put_events)")
    clock.run_until_idle()  # every delivery, retries included, in no time
    print(f"  shipping queue holds {shipping.receive()[0].body}")
    print(f"  audit target got {big}")
    dead = dlq.receive()[0]
    print(f"  billing gave up; its DLQ holds the original event ({json.loads(dead.body)['detail']}) with "
          f"ERROR_CODE={dead.attributes['ERROR_CODE']}, RETRY_ATTEMPTS={dead.attributes['RETRY_ATTEMPTS']}")
    print("  journey of the first event:")
    for line in bus.journey(response["Entries"][0]["EventId"]).describe().splitlines():
        print("    " + line)
    print("  the second event:", bus.journey(response["Entries"][1]["EventId"]).describe().split(": ")[-1])
    metrics = bus.metrics()
    print(f"  metrics: MatchedEvents={metrics['MatchedEvents']} Invocations={metrics['Invocations']} "
          f"FailedInvocations={metrics['FailedInvocations']} InvocationsSentToDLQ={metrics['InvocationsSentToDLQ']}"
          f" UnmatchedEvents={metrics['UnmatchedEvents']}")


def schedule_demo() -> None:
    print("\nSchedules: EventBridge Scheduler and a scheduled rule, a virtual week in no time:")
    clock = ManualClock(datetime(2026, 3, 6, 12, tzinfo=UTC))  # a Friday; New York moves to EDT on the 8th
    scheduler = Scheduler(clock=clock)
    fired: list[str] = []

    def standup(payload: Any) -> None:
        fired.append(f"{clock.now():%a %d %H:%M:%S} UTC stand-up, attempt {payload['attempt']}")
        if len(fired) == 1:
            raise ConnectionError("the meeting room is offline")  # retried, as any delivery

    scheduler.create_schedule("standup", "cron(30 9 ? * MON-FRI *)", standup, timezone="America/New_York",
                              input='{"attempt": <aws.scheduler.attempt-number>}')
    scheduler.create_schedule("launch", "at(2026-03-09T08:00:00)", lambda payload: fired.append(
        f"{clock.now():%a %d %H:%M:%S} UTC launch {payload}"), timezone="Europe/Paris", input='{"go": true}',
        action_after_completion="DELETE")
    bus = EventBus(clock=clock)
    bus.put_rule("nightly", schedule_expression="cron(0 3 * * ? *)")
    nightly: list[Any] = []
    bus.put_targets("nightly", [Target(nightly.append, target_id="cleanup")])
    elapsed = stopwatch()
    clock.advance(timedelta(days=7))
    took = elapsed()
    for line in fired:
        print("  " + line)
    print(f"  the nightly rule fired {len(nightly)} times, a {nightly[0]['detail-type']!r} from "
          f"{nightly[0]['source']}; schedules left: {[s.name for s in scheduler.list_schedules()]}")
    print(f"  (09:30 in New York is 14:30 UTC before the 8th, 13:30 after; a week took {took * 1000:.0f} ms)")


def pipe_demo() -> None:
    print("\nA pipe: a queue, a filter, an enrichment and a template, to a target, on virtual time:")
    clock = ManualClock()
    orders = Queue("orders", clock=clock)
    shipped: list[Any] = []

    def enrich(batch: list[Any]) -> list[Any]:  # called with the batch; what it returns goes on
        return [{"order": item["id"], "express": item["total"] >= 100} for item in batch]

    pipe = Pipe("ship-orders", orders, shipped.append, filters=[{"body": {"status": ["paid"]}}],
                enrichment=enrich, enrichment_input_template='{"id": <$.body.id>, "total": <$.body.total>}',
                target_input_template='{"ship": <$.order>, "express": <$.express>}', batch_size=10,
                maximum_batching_window_in_seconds=5)
    for order in ({"id": 1, "status": "paid", "total": 120}, {"id": 2, "status": "draft", "total": 40},
                  {"id": 3, "status": "paid", "total": 15}):
        orders.send(order)
    clock.advance(5)  # the batching window closes
    print(f"  the target got one batch: {shipped}")
    print(f"  metrics: {pipe.metrics()}; {len(orders)} messages left in the queue")


def archive_demo() -> None:
    print("\nAn archive, a replay, and the schemas the bus discovered, on virtual time:")
    clock = ManualClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    bus = EventBus(clock=clock)
    schemas = SchemaRegistry(clock=clock)
    bus.start_discovery(schemas)
    audit: list[Any] = []
    bus.put_rule("audit", event_pattern={"source": ["shop"]})
    bus.put_targets("audit", [Target(audit.append, target_id="audit")])
    bus.create_archive("orders", event_pattern={"source": ["shop"]}, retention_days=30)
    for n, total in enumerate((12, 30.5, 7)):
        bus.publish(source="shop", detail_type="Order Placed", detail={"id": f"o-{n}", "total": total})
        clock.advance(600)
    clock.run_until_idle()
    start = clock.start + timedelta(minutes=5)
    bus.start_replay("fix-audit", "orders", start_time=start, end_time=clock.now(), rules=["audit"])
    clock.run_until_idle()
    replay = bus.describe_replay("fix-audit")
    print(f"  archive holds {bus.describe_archive('orders').event_count} events; replay {replay.state}: "
          f"{replay.events_replayed} events from {start:%H:%M} resent in event-time order, each with "
          f"replay-name {audit[-1]['replay-name']!r}")
    found = schemas.describe_schema("discovered-schemas", "shop@OrderPlaced")
    detail = json.loads(found.content)["definitions"]["OrderPlaced"]
    print(f"  discovered shop@OrderPlaced version {found.schema_version}: total is "
          f"{detail['properties']['total']['type']!r} (12, then 30.5), required {detail['required']}")
    bus.stop_discovery()
    bus.validate_events(schemas, "discovered-schemas", mode="reject")
    result = bus.put_events([{"Source": "shop", "DetailType": "Order Placed", "Detail": '{"id": 4, "total": 1}'}])
    print(f"  a producer that drifts is refused: {result['Entries'][0]['ErrorMessage']}")


def _read(argument: str) -> str:
    """A command-line argument that is JSON text, ``@path`` or ``-`` (standard input)."""
    if argument == "-":
        return sys.stdin.read()
    if argument.startswith("@"):
        with open(argument[1:], encoding="utf-8") as fh:
            return fh.read()
    return argument


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eventbus", description="eventbus: Amazon EventBridge in "
                                     "process. PATTERN and EVENT are JSON text, @path or - (standard input).")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("demo", help="a short tour of the library")
    test = commands.add_parser("test-pattern", help="AWS's TestEventPattern: prints true or false")
    test.add_argument("pattern")
    test.add_argument("event")
    why = commands.add_parser("explain", help="why an event does or does not match a pattern")
    why.add_argument("pattern")
    why.add_argument("event")
    fires = commands.add_parser("next-fires", help="the next fire times of a schedule expression")
    fires.add_argument("expression", help="cron(...), rate(...) or at(...)")
    fires.add_argument("--tz", default="UTC", help="the time zone the expression is read in (default UTC)")
    fires.add_argument("-n", type=int, default=5, help="how many fire times (default 5)")
    fires.add_argument("--after", help="ISO 8601 time to start from (default: now)")
    drawing = commands.add_parser("topology", help="a CloudFormation template's topology as a Mermaid flowchart")
    drawing.add_argument("template", help="the template: a JSON file (cdk.out/*.template.json) or - (standard input)")
    drawing.add_argument("--output", help="write the flowchart to this file instead of standard output")
    return parser


def _topology(args: argparse.Namespace) -> int:
    """The template's Mermaid flowchart, drawn from the template alone (no handler is imported)."""
    if args.template == "-":
        given = sys.stdin.read()
        if not given.strip():
            raise ValidationError("the template on standard input is empty")
        text = mermaid_topology(given)
    else:
        text = mermaid_topology(Path(args.template))
    if args.output is None:
        print(text, end="")
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command == "topology":
        return _topology(args)
    if args.command == "test-pattern":
        matched = test_event_pattern(_read(args.event), _read(args.pattern))
        print("true" if matched else "false")
        return 0 if matched else 1
    if args.command == "explain":
        answer = explain(_read(args.pattern), _read(args.event))
        print(answer.describe())
        return 0 if answer.matched else 1
    expression = parse_schedule_expression(args.expression)
    if args.n < 1:
        raise ValidationError(f"-n must be at least 1, not {args.n}")
    after = default_clock().now() if args.after is None else datetime.fromisoformat(args.after)
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    for when in itertools.islice(expression.fire_times(after, tz=args.tz), args.n):
        print(when.isoformat())
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv[1:])
    if args.command in (None, "demo"):
        demo()
        bus_demo()
        delivery_demo()
        schedule_demo()
        pipe_demo()
        archive_demo()
        return 0
    try:
        return _run(args)
    except (EventBusError, ValueError, OSError) as exc:  # bad input: said plainly, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
