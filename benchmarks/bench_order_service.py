#!/usr/bin/env python3
"""The sample order service's test suite under moto and under eventbus, side by side.

    pip install -e ".[testing,bench]"            # boto3, and moto[events] for the comparison
    python3 benchmarks/bench_order_service.py     # each suite 3 times; about 30 s

``examples/order_service`` holds one application and its test suite written
twice: ``tests_moto`` (moto's ``mock_aws``; the tests moto fails are marked
``xfail(strict=True)`` with what moto does instead) and ``tests_eventbus``
(``eventbus.testing.mock_aws``; the same assertions, only the helpers that
pass time differ).  This runs each suite in its own pytest process, with
``--runxfail`` so every assertion is judged, and prints per question whether
it passes under each, and each suite's wall time (best of 3, same run) and
their ratio.  Then the cost of one call: 1,000 ``put_events`` through boto3
to a rule with an SQS target, and 1,000 ``send_message`` + ``receive_message``
+ ``delete_message``, under each mock in this process (best of 3).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import cpu_model, print_table

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"moto": "examples/order_service/tests_moto", "eventbus": "examples/order_service/tests_eventbus"}


def run(suite: str) -> tuple[float, dict[str, str]]:
    """One pytest run of ``suite``: its wall time and each test's outcome."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", SUITES[suite], "-q", "-p", "no:cacheprovider", "--runxfail",
                        f"--junitxml={report}"], cwd=ROOT, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        outcomes: dict[str, str] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            outcomes[case.attrib["name"].removeprefix("test_")] = "fails" if failed else "passes"
        return elapsed, outcomes


def per_call(backend: str, calls: int = 1_000) -> tuple[float, float]:
    """Microseconds per put_events (one matching rule, an SQS target) and per
    send/receive/delete round, through boto3 under ``backend``'s mock."""
    import boto3

    if backend == "moto":
        from moto import mock_aws as mock
    else:
        from eventbus.testing import mock_aws as mock
    with mock():
        events, sqs = boto3.client("events", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventPattern='{"source": ["shop"]}')
        events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        entry = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": '{"id": 1}'}
        started = time.perf_counter()
        for _ in range(calls):
            events.put_events(Entries=[entry])
        put = (time.perf_counter() - started) / calls * 1e6
        sqs.purge_queue(QueueUrl=url)
        started = time.perf_counter()
        for _ in range(calls):
            sqs.send_message(QueueUrl=url, MessageBody="x")
            [message] = sqs.receive_message(QueueUrl=url)["Messages"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        rounds = (time.perf_counter() - started) / calls * 1e6
    return put, rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import moto  # noqa: F401
    except ImportError:
        sys.exit("moto is not installed: pip install -e '.[testing,bench]'")
    print(f"# {cpu_model()}, Python {platform.python_version()}, {args.repeat} runs of each suite")
    times: dict[str, float] = {}
    outcomes: dict[str, dict[str, str]] = {}
    for _ in range(args.repeat):
        for suite in SUITES:
            elapsed, found = run(suite)
            times[suite] = min(times.get(suite, elapsed), elapsed)
            outcomes[suite] = found
    questions = list(outcomes["eventbus"])
    rows = [[question.replace("_", " "), outcomes["moto"].get(question, "absent"), outcomes["eventbus"][question]]
            for question in questions]
    print_table(["question", "moto", "eventbus"], rows)
    passing = {suite: sum(v == "passes" for v in found.values()) for suite, found in outcomes.items()}
    print()
    print_table(["suite", "passes", "wall time (best)"],
                [[suite, f"{passing[suite]}/{len(outcomes[suite])}", f"{times[suite]:.2f} s"] for suite in SUITES])
    print(f"\neventbus / moto wall time: {times['eventbus'] / times['moto']:.2f}x\n")
    costs: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeat):
        for backend in ("moto", "eventbus"):
            put, rounds = per_call(backend)
            best = costs.get(backend, (put, rounds))
            costs[backend] = (min(best[0], put), min(best[1], rounds))
    print_table(["mock", "put_events (us/call)", "send+receive+delete (us/round)"],
                [[backend, f"{put:.0f}", f"{rounds:.0f}"] for backend, (put, rounds) in costs.items()])
    print(f"\nper call, moto / eventbus: put_events {costs['moto'][0] / costs['eventbus'][0]:.2f}x, "
          f"queue round {costs['moto'][1] / costs['eventbus'][1]:.2f}x")


if __name__ == "__main__":
    main()
