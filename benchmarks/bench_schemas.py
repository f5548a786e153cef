#!/usr/bin/env python3
"""Schema benchmark: what discovery and contract checks add to PutEvents.

    python3 benchmarks/bench_schemas.py           # 20,000 events; about 30 s on 2 cores
    python3 benchmarks/bench_schemas.py --quick   # 5,000 events

A bus on a ``ManualClock`` with 20 rules (none matching: PutEvents itself is
measured), ``journey_retention=0``, takes ``put_events`` calls of 10 order
events (a detail of 8 fields: a nested customer, an array of two line
objects, a null, a list of strings) in four settings, in the same run:
plain; with ``start_discovery`` (the schema already discovered, so each
event is folded into a schema that does not change, the steady state);
with ``validate_events(..., mode="reject")`` against that discovered schema
(every event valid, so each one is checked in full); and both.  Best of 3;
microseconds per event and the ratio to plain.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from typing import Any

from _common import cpu_model, fmt_rate, print_table

import eventbus


def entries(n: int) -> list[dict[str, Any]]:
    return [{"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({
        "id": f"o-{i}", "total": 9.5 + i, "currency": "EUR",
        "customer": {"id": f"c-{i % 50}", "tier": "gold", "since": "2020-01-01T00:00:00Z"},
        "lines": [{"sku": "a", "qty": 2, "price": 3.5}, {"sku": "b", "qty": 1, "price": 1.0}],
        "coupon": None, "tags": ["web", "eu"], "paid": True})} for i in range(n)]


def run(setting: str, batches: list[list[dict[str, Any]]]) -> float:
    clock = eventbus.ManualClock()
    bus = eventbus.EventBus(clock=clock, journey_retention=0)
    for k in range(20):
        bus.put_rule(f"rule-{k}", event_pattern={"source": [f"app.{k}"]})
    schemas = eventbus.SchemaRegistry(clock=clock)
    bus.start_discovery(schemas)
    bus.put_events(batches[0])  # the schema, discovered
    bus.stop_discovery()
    if setting in ("discovery", "both"):
        bus.start_discovery(schemas)
    if setting in ("validation", "both"):
        bus.validate_events(schemas, "discovered-schemas", mode="reject")
    gc.collect()
    started = time.perf_counter()
    for batch in batches:
        result = bus.put_events(batch)
        assert result["FailedEntryCount"] == 0, result
    elapsed = time.perf_counter() - started
    assert [v.schema_version for v in schemas.list_schema_versions("discovered-schemas", "shop@OrderPlaced")] == [
        "1"]
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 events")
    args = parser.parse_args()
    n = 5_000 if args.quick else 20_000
    made = entries(n)
    batches = [made[i:i + 10] for i in range(0, n, 10)]
    print(f"eventbus {eventbus.__version__} | Python {platform.python_version()} | {platform.system()} "
          f"{platform.release()} | {cpu_model()}")
    print(f"\n{n:,} events, put_events of 10, 20 rules (none matching); best of 3\n")
    times = {setting: min(run(setting, batches) for _ in range(3))
             for setting in ("plain", "discovery", "validation", "both")}
    plain = times["plain"]
    print_table(["PutEvents", "events/s", "us/event", "ratio to plain"], [
        [setting, fmt_rate(n / elapsed), f"{elapsed / n * 1e6:.1f}", f"{elapsed / plain:.2f}x"]
        for setting, elapsed in times.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
