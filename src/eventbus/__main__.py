"""``python -m eventbus demo``: a short tour of the matcher and the delivery runtime."""

from __future__ import annotations

import json
import sys
from typing import Any

from . import (
    Function,
    InvalidEventPatternError,
    ManualClock,
    Queue,
    RuleIndex,
    compile_pattern,
    numeric,
    prefix,
    test_event_pattern,
)
from ._clock import stopwatch
from ._pattern._api import PatternSource

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
    print("eventbus demo: EventBridge event patterns, matched in process\n")
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


def main(argv: list[str]) -> int:
    if argv[1:2] in ([], ["demo"]):
        demo()
        delivery_demo()
        return 0
    print("usage: python -m eventbus demo", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
