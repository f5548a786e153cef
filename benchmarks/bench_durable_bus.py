#!/usr/bin/env python3
"""Durable delivery benchmark: PutEvents to delivery, with and without a work store.

    python3 benchmarks/bench_durable_bus.py           # 20,000 events (5,000 with synchronous=FULL)
    python3 benchmarks/bench_durable_bus.py --quick   # a tenth

One bus, one rule, one target (a function that counts); events are put ten
per ``put_events`` call, and after every 100 events the clock runs what is
due (``ManualClock.advance(0)``), so each line measures the whole path:
matching, the delivery's record, the attempt and its end.  Lines: the
default in-memory runtime (clock timers, no store), ``MemoryStore`` (the
durable path without a file), ``SqliteStore`` with ``synchronous="NORMAL"``
(survives a killed process), ``"FULL"`` (survives a power loss) and
``NatsStore`` (NATS JetStream on 127.0.0.1:4222, shared by processes and
machines; a fresh prefix whose buckets are deleted after; skipped with a note
when no server answers).  The ratio is each line's events/s against the
in-memory runtime's, measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import platform
import secrets
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import cpu_model, fmt_rate, print_table

import eventbus
from eventbus import EventBus, ManualClock, MemoryStore, NatsStore, SqliteStore, Store, Target

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(n: int) -> dict[str, Any]:
    return {"Source": "shop.orders", "DetailType": "Order Placed",
            "Detail": f'{{"order": {n}, "total": {n % 997}, "customer": {{"id": "c-{n % 5000}", "tier": "gold"}}}}'}


def run(store: Store | None, n: int) -> float:
    """Seconds to put and deliver ``n`` events."""
    clock = ManualClock(T0)
    bus = EventBus(clock=clock, store=store, journey_retention=0)
    bus.put_rule("orders", event_pattern={"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", -1]}]}})
    delivered = [0]

    def count(event: Any) -> None:
        delivered[0] += 1

    bus.put_targets("orders", [Target(count, target_id="fulfil", clock=clock, outcome_retention=0)])
    entries = [entry(i) for i in range(10)]
    gc.collect()
    started = time.perf_counter()
    for start in range(0, n, 10):
        bus.put_events(entries)
        if (start + 10) % 100 == 0:
            clock.advance(0)
    clock.advance(0)
    elapsed = time.perf_counter() - started
    assert delivered[0] == n, (delivered[0], n)
    return elapsed


def nats_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=1).close()
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the events")
    args = parser.parse_args()
    n = 2_000 if args.quick else 20_000
    print(f"machine: {cpu_model()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"eventbus {eventbus.__version__ if hasattr(eventbus, '__version__') else ''}".rstrip(", "))
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as folder:
        cases: list[tuple[str, int, Callable[[], Store | None]]] = [
            ("in memory (no store: the default)", n, lambda: None),
            ("MemoryStore", n, MemoryStore),
            ("SqliteStore, synchronous=NORMAL", n, lambda: SqliteStore(Path(folder) / "normal.db")),
            ("SqliteStore, synchronous=FULL", n // 4,
             lambda: SqliteStore(Path(folder) / "full.db", synchronous="FULL")),
        ]
        nats = nats_answers()
        if nats:
            cases.append(("NatsStore (JetStream, 127.0.0.1:4222)", n // 4,
                          lambda: NatsStore(prefix=f"bench-{secrets.token_hex(4)}")))
        base: float | None = None
        for name, count, make in cases:
            store = make()
            elapsed = run(store, count)
            if isinstance(store, NatsStore):
                store._drop_buckets()  # (the benchmark's buckets go with it)
            elif store is not None:
                store.close()
            rate = count / elapsed
            base = base or rate
            rows.append([name, f"{count:,}", fmt_rate(rate), f"{1e6 / rate:,.1f}", f"{base / rate:.1f}x"])
    print()
    print_table(["delivery kept", "events", "events/s (put to delivered)", "us per event", "slower than memory"],
                rows)
    if not nats:
        print("\nNatsStore: skipped, no NATS JetStream answers at 127.0.0.1:4222 (start one: `nats-server -js`)")


if __name__ == "__main__":
    main()
