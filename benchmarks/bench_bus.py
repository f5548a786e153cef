#!/usr/bin/env python3
"""Bus benchmark: PutEvents to delivery, end to end, against moto.

    python3 benchmarks/bench_bus.py               # eventbus alone, about 30 s on 2 cores
    ../peers-venv/bin/python benchmarks/bench_bus.py --moto   # and moto in the same run

The workload is the shared peer harness's "full" rule set (1,000 rules over all
16 operators) and its AWS-style events, so an event matches a few percent of
the rules.  Each rule gets one target.

1) eventbus: a bus on a ManualClock, each rule with a no-op callable target.
   The events go in through ``put_events`` (10 entries a call) and
   ``clock.run_until_idle()`` after each call runs every delivery to its end
   (a running service's clock runs them as they come).  Best of 3.  The
   burst line puts every event first and runs the clock once: 89,000
   deliveries pending at once, where the garbage collector's full passes
   over the larger heap cost more.
   Breakdown: validation and envelope (the same ``put_events`` on a bus with
   no rules), matching (``RuleIndex.match`` of the same envelopes), fan-out per
   matched target (with ``journey_retention=0``: accepting the delivery, its
   timer entry, the attempt with the callable's own copy of the event, the
   outcome) and the journey per matched target (the difference with journeys
   kept, the default).  Checks that every delivery succeeded.
2) moto (``--moto``, needs moto and boto3): the same rules and events through
   boto3's ``put_events`` under ``moto.mock_aws``, each rule targeting one SQS
   queue (moto delivers inside ``put_events``).  Time-capped.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import platform
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus
from eventbus._bus._entries import Accepted, read_entry

SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"
N_RULES = 1000
N_EVENTS = 2000
MOTO_SECONDS = 20.0
REPEATS = 3


def load_harness() -> ModuleType:
    if not (SHARED_BENCH / "peers_match.py").is_file():
        sys.exit(f"error: {SHARED_BENCH / 'peers_match.py'} not found (the shared bench directory)")
    sys.path.insert(0, str(SHARED_BENCH))
    return importlib.import_module("peers_match")


def workload() -> tuple[list[str], list[dict[str, Any]]]:
    """The harness's rules and events as PutEvents entries.  Sources ``aws.*`` become
    ``app.*`` in both (PutEvents refuses them from applications, as AWS does)."""
    pm = load_harness()
    rules, events = pm.make_workload("full", list(pm.ALL_OPS), N_RULES, N_EVENTS, pm.SEED)

    def own(text: str) -> str:
        return text.replace('"aws.', '"app.')

    entries = [{"Source": own(json.dumps(e["source"]))[1:-1], "DetailType": e["detail-type"],
                "Detail": json.dumps(e["detail"]), "Resources": e["resources"]} for e in events]
    return [own(json.dumps(pattern)) for pattern, _ in rules], entries


def noop(event: Any) -> None:
    pass


def build_bus(patterns: list[str], *, journeys: int = 10_000, with_rules: bool = True
              ) -> tuple[eventbus.EventBus, eventbus.ManualClock]:
    clock = eventbus.ManualClock()
    bus = eventbus.EventBus(clock=clock, max_rules=len(patterns), journey_retention=journeys)
    if with_rules:
        for i, pattern in enumerate(patterns):
            bus.put_rule(f"rule-{i}", event_pattern=pattern)
            bus.put_targets(f"rule-{i}", [eventbus.Target(noop, target_id="noop", outcome_retention=10_000)])
    return bus, clock


def run_bus(bus: eventbus.EventBus, clock: eventbus.ManualClock, entries: list[dict[str, Any]], *,
            burst: bool = False) -> float:
    """Seconds to put every entry and run every delivery to its end: the clock runs
    after each ``put_events`` call (as a running service's clock would), or, with
    ``burst``, once after all of them (every delivery pending at once first)."""
    gc.collect()
    start = time.perf_counter()
    for at in range(0, len(entries), 10):
        response = bus.put_events(entries[at:at + 10])  # type: ignore[arg-type]
        if response["FailedEntryCount"]:
            raise SystemExit(f"unexpected failed entries: {response}")
        if not burst:
            clock.run_until_idle()
    clock.run_until_idle()
    return time.perf_counter() - start


def section_eventbus(patterns: list[str], entries: list[dict[str, Any]]) -> dict[str, float]:
    print(f"1) eventbus: {len(patterns)} rules, one no-op callable target each; {len(entries)} events "
          "through put_events (10 a call), clock.run_until_idle() after each call; best of 3")
    full = journeys_off = empty = burst = float("inf")
    deliveries = 0
    ok = True
    for _ in range(REPEATS):
        bus, clock = build_bus(patterns)
        full = min(full, run_bus(bus, clock, entries))
        metrics = bus.metrics()
        deliveries = metrics["Invocations"]
        ok = ok and metrics["FailedInvocations"] == 0 and all(
            t.metrics.pending == 0 and t.metrics.succeeded == t.metrics.accepted
            for r in bus.list_rules() for t in bus.list_targets_by_rule(r.name))
        bus, clock = build_bus(patterns, journeys=0)
        journeys_off = min(journeys_off, run_bus(bus, clock, entries))
        bus, clock = build_bus(patterns, with_rules=False)
        empty = min(empty, run_bus(bus, clock, entries))
        bus, clock = build_bus(patterns)
        burst = min(burst, run_bus(bus, clock, entries, burst=True))
    # matching alone: the bus's own index on the envelopes it built
    bus, clock = build_bus(patterns, journeys=0)
    reads = [read_entry(e) for e in entries]
    envelopes = [bus._envelope(read) for read in reads if isinstance(read, Accepted)]
    index = bus._index
    match = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for envelope in envelopes:
            index.match(envelope)
        match = min(match, time.perf_counter() - start)
    # the copy of the event each callable target receives: a deep copy of the envelope, made from a plan,
    # as many times in a row as an event has targets
    from eventbus._delivery._payload import Parsed
    shared = [Parsed(envelope) for envelope in envelopes]
    per_event = max(1, round(deliveries / len(entries)))
    copy = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for parsed in shared:
            for _ in range(per_event):
                parsed.copy()
        copy = min(copy, time.perf_counter() - start)
    copy /= per_event
    n = len(entries)
    fan_out = (journeys_off - empty - match) / deliveries
    journey = (full - journeys_off) / deliveries
    print_table(["measure", "value"], [
        ["events/s, end to end", fmt_rate(n / full)],
        ["matched targets per event", f"{deliveries / n:.1f} ({deliveries / n / len(patterns):.1%} of the rules)"],
        ["validation and envelope, us/event", f"{(empty / n) * 1e6:.1f}"],
        ["matching, us/event", f"{(match / n) * 1e6:.1f}"],
        ["fan-out, us per matched target", f"{fan_out * 1e6:.2f}"],
        ["  of which the callable's own deep copy of the event", f"{copy / len(shared) * 1e6:.2f}"],
        ["journey, us per matched target", f"{journey * 1e6:.2f}"],
        ["all of it per matched target (fan-out + journey)", f"{(fan_out + journey) * 1e6:.2f}"],
        ["events/s with journey_retention=0", fmt_rate(n / journeys_off)],
        ["events/s, burst (all puts first: every delivery pending at once)", fmt_rate(n / burst)],
    ])
    print(f"   every delivery succeeded, none pending: {verdict(ok)}")
    print(f"   fan-out per matched target <= 5 us: {verdict(fan_out <= 5e-6)}")
    print()
    return {"events_per_s": n / full, "fan_out_us": fan_out * 1e6}


def section_moto(patterns: list[str], entries: list[dict[str, Any]]) -> float | None:
    try:
        import boto3
        from moto import mock_aws
    except ImportError:
        print("2) moto: not installed here (run with ../peers-venv/bin/python, made by benchmarks/peers.sh)")
        return None
    import moto

    print(f"2) moto {moto.__version__}: the same {len(patterns)} rules on the default bus, each targeting one "
          f"SQS queue; boto3 put_events (10 a call) under mock_aws, for up to {MOTO_SECONDS:.0f} s")
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for i, pattern in enumerate(patterns):
            events.put_rule(Name=f"rule-{i}", EventPattern=pattern)
            events.put_targets(Rule=f"rule-{i}", Targets=[{"Id": "q", "Arn": arn}])
        done = 0
        start = time.perf_counter()
        while done < len(entries) and time.perf_counter() - start < MOTO_SECONDS:
            events.put_events(Entries=entries[done:done + 10])
            done += 10
        elapsed = time.perf_counter() - start
        delivered = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                        ["Attributes"]["ApproximateNumberOfMessages"])
    rate = done / elapsed
    print_table(["measure", "value"], [
        ["events put", str(done)], ["events/s, end to end", fmt_rate(rate)],
        ["messages delivered to SQS", str(delivered)],
    ])
    print()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moto", action="store_true", help="also run moto (needs moto and boto3)")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; eventbus {eventbus.__version__}")
    print()
    patterns, entries = workload()
    ours = section_eventbus(patterns, entries)
    if args.moto:
        theirs = section_moto(patterns, entries)
        if theirs:
            ratio = ours["events_per_s"] / theirs
            print(f"eventbus / moto, events/s end to end: {ratio:.0f}x  (target >= 100x: {verdict(ratio >= 100)})")


if __name__ == "__main__":
    main()
