#!/usr/bin/env python3
"""Work store benchmark: enqueue, claim and ack through each Store.

    python3 benchmarks/bench_durable.py           # 100,000 items in memory, 20,000 in sqlite
    python3 benchmarks/bench_durable.py --quick   # a tenth of each

Each item is what a target's delivery will be once the stores are wired in:
an event's JSON (about 400 bytes) with the key ``f"{event_id}/{target_arn}"``.
The items are enqueued one call each (a ``put_events`` of one event to one
target), then claimed in batches of 10 or 100 and acked one by one, each
ack its own transaction, as a worker does.  A second sqlite line enqueues in
batches (``enqueue_many``, one transaction per 100 items: a ``put_events`` of
many events) to show the cost of a commit, and a third also settles each
claimed batch with ``ack_many`` (one transaction per batch); a last line runs sqlite with
``synchronous="FULL"`` (a quarter of the items: each commit is synced).
Times are made up and passed in (a store never reads the clock), so nothing
here waits.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from _common import cpu_model, fmt_rate, print_table

from eventbus._store import Enqueued, MemoryStore, SqliteStore, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:fulfil-order"
LEASE = timedelta(seconds=30)


def payload(n: int) -> str:
    return json.dumps({"version": "0", "id": f"6a7e8feb-b491-4cf7-a9f1-{n:012d}", "detail-type": "Order Placed",
                       "source": "shop.orders", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
                       "region": "us-east-1", "resources": [],
                       "detail": {"order": n, "total": n % 997, "customer": {"id": f"c-{n % 5000}", "tier": "gold"},
                                  "items": [{"sku": f"sku-{n % 101}", "qty": 1 + n % 3}]},
                       "target": TARGET})


def run(store: Store, n: int, batch: int, enqueue_batch: int, ack_batch: bool = False) -> tuple[float, float]:
    """Seconds to enqueue n items, then seconds to claim and ack them all."""
    texts = [payload(k) for k in range(n)]
    gc.collect()
    started = time.perf_counter()
    if enqueue_batch == 1:
        for k, text in enumerate(texts):
            store.enqueue("deliveries", text, not_before=T0, key=f"event-{k}/{TARGET}")
    else:
        for low in range(0, n, enqueue_batch):
            store.enqueue_many([Enqueued(queue="deliveries", payload=texts[k], not_before=T0,
                                         key=f"event-{k}/{TARGET}") for k in range(low, min(n, low + enqueue_batch))])
    enqueued = time.perf_counter() - started
    started = time.perf_counter()
    done = 0
    now = T0
    while True:
        works = store.claim("deliveries", now=now, limit=batch, lease=LEASE, owner="bench")
        if not works:
            break
        if ack_batch:
            assert all(store.ack_many(works))
        else:
            for work in works:
                store.ack(work)
        done += len(works)
        now += timedelta(milliseconds=1)
    settled = time.perf_counter() - started
    assert done == n, (done, n)
    assert store.counts("deliveries") == {"ready": 0, "leased": 0, "dead": 0}
    return enqueued, settled


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the items")
    args = parser.parse_args()
    n_memory, n_sqlite = (10_000, 2_000) if args.quick else (100_000, 20_000)
    print(f"machine: {cpu_model()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    rows: list[list[object]] = []
    rates: dict[tuple[str, int], float] = {}
    sizes: list[tuple[str, int, int]] = []
    with tempfile.TemporaryDirectory() as folder:
        cases: list[tuple[str, int, int, int, Callable[[], Store], Path | None]] = []
        batched: set[str] = {"sqlite NORMAL, enqueue_many(100) + ack_many"}
        for batch in (10, 100):
            cases.append(("memory", n_memory, batch, 1, MemoryStore, None))
        for batch in (10, 100):
            path = Path(folder) / f"normal-{batch}.db"
            cases.append(("sqlite NORMAL", n_sqlite, batch, 1, partial(SqliteStore, path), path))
        path = Path(folder) / "normal-many.db"
        cases.append(("sqlite NORMAL, enqueue_many(100)", n_sqlite, 100, 100, partial(SqliteStore, path), path))
        path = Path(folder) / "normal-batched.db"
        cases.append(("sqlite NORMAL, enqueue_many(100) + ack_many", n_sqlite, 100, 100, partial(SqliteStore, path),
                      path))
        path = Path(folder) / "full.db"
        cases.append(("sqlite FULL", n_sqlite // 4, 100, 1, partial(SqliteStore, path, synchronous="FULL"), path))
        for name, n, batch, enqueue_batch, make, where in cases:
            store = make()
            enqueued, settled = run(store, n, batch, enqueue_batch, name in batched)
            store.close()
            total = n / (enqueued + settled)
            rates[(name, batch)] = total
            rows.append([name, f"{n:,}", batch, fmt_rate(n / enqueued), fmt_rate(n / settled), fmt_rate(total)])
            if where is not None:
                sizes.append((name, batch, file_size(where)))
    print()
    print_table(["store", "items", "claim batch", "enqueue/s", "claim+ack/s", "items/s (whole cycle)"], rows)
    print()
    for batch in (10, 100):
        ratio = rates[("memory", batch)] / rates[("sqlite NORMAL", batch)]
        print(f"  batch {batch}: memory is {ratio:.1f}x sqlite NORMAL over the whole cycle")
    print()
    for name, batch, size in sizes:
        print(f"  {name}, batch {batch}: file {size / 1e6:.1f} MB after the run (db + wal; "
              "freed pages are reused, not returned)")


if __name__ == "__main__":
    main()
