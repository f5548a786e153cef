#!/usr/bin/env python3
"""Archive benchmark: 1,000,000 events through a bus into a sqlite archive, then replays.

    python3 benchmarks/bench_archive.py           # 1,000,000 events; about 3 minutes on 2 cores
    python3 benchmarks/bench_archive.py --quick   # 100,000 events

A bus on a ``ManualClock`` with 20 rules (no targets: the archive is what is
measured) takes ``put_events`` calls of 10 events, the clock moving 2.5 s
per call (4 events a second, so 1,000,000 events span 69 hours of event
time).  Archiving: events/s with one archive of every event in a
``SqliteArchiveStore``, and the same puts with no archive (the bus alone).
Replay: a one-hour window (14,400 events) replayed into the bus, to one rule
with a no-op target, from the big archive and from a small one (a tenth of
the events); the cost of a replay should follow the window, not the
archive: the two one-hour replays should take about the same time, and a
four-hour window about four times as long.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = 2.5  # clock seconds per put_events call of 10 events
WINDOW_START = T0 + timedelta(minutes=30)  # (inside the small archive too)


def bus_on(clock: eventbus.ManualClock, store: eventbus.ArchiveStore | None) -> eventbus.EventBus:
    bus = eventbus.EventBus(clock=clock, archive_store=store, journey_retention=0, max_rules=100)
    for k in range(20):
        bus.put_rule(f"rule-{k}", event_pattern={"source": [f"app.{k}"], "detail": {"kind": ["order"]}})
    return bus


def fill(bus: eventbus.EventBus, clock: eventbus.ManualClock, n: int) -> float:
    batch: list[Any] = []
    gc.collect()
    started = time.perf_counter()
    for i in range(n):
        batch.append({"Source": f"app.{i % 25}", "DetailType": "Order Placed",
                      "Detail": json.dumps({"kind": "order" if i % 3 else "refund", "id": i, "total": i % 997,
                                            "customer": {"id": f"c-{i % 5000}", "tier": "gold"}})})
        if len(batch) == 10:
            bus.put_events(batch)
            batch = []
            clock.advance(STEP)
    return time.perf_counter() - started


def archived(path: Path, n: int) -> tuple[float, float]:
    """Fill a sqlite archive with n events; (seconds with the archive, seconds without)."""
    clock = eventbus.ManualClock(T0)
    with eventbus.SqliteArchiveStore(path) as store:
        bus = bus_on(clock, store)
        bus.create_archive("all")
        with_archive = fill(bus, clock, n)
        assert bus.describe_archive("all").event_count == n
    clock = eventbus.ManualClock(T0)
    without = fill(bus_on(clock, None), clock, n)
    return with_archive, without


def replay(path: Path, hours: int, name: str) -> tuple[float, int]:
    """Replay a window of ``hours`` from the archive in ``path``; (seconds, events)."""
    clock = eventbus.ManualClock(T0 + timedelta(days=30))
    with eventbus.SqliteArchiveStore(path) as store:
        bus = bus_on(clock, store)
        got = [0]

        def count(event: Any) -> None:
            got[0] += 1

        bus.put_rule("replayed", event_pattern={"replay-name": [name]})
        bus.put_targets("replayed", [eventbus.Target(count, target_id="count")])
        gc.collect()
        started = time.perf_counter()
        bus.start_replay(name, "all", start_time=WINDOW_START, end_time=WINDOW_START + timedelta(hours=hours))
        clock.run_until_idle()
        elapsed = time.perf_counter() - started
        assert bus.describe_replay(name).state == "COMPLETED"
    return elapsed, got[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    small = max(n // 10, 24_000)  # (at least 100 minutes of events: the one-hour window fits)
    print(f"eventbus {eventbus.__version__} | Python {platform.python_version()} | {platform.system()} "
          f"{platform.release()} | {cpu_model()} | sqlite {__import__('sqlite3').sqlite_version}")
    with tempfile.TemporaryDirectory() as folder:
        big_path, small_path = Path(folder) / "big.db", Path(folder) / "small.db"
        print(f"\nArchiving {n:,} events (put_events of 10, 20 rules, one archive of every event)\n")
        with_archive, without = archived(big_path, n)
        archived(small_path, small)
        size = big_path.stat().st_size + sum(p.stat().st_size for p in Path(folder).glob("big.db-*"))
        print_table(["", "events/s", "us/event"], [
            ["bus alone (no archive)", fmt_rate(n / without), f"{without / n * 1e6:.1f}"],
            ["bus + sqlite archive", fmt_rate(n / with_archive), f"{with_archive / n * 1e6:.1f}"],
            ["archiving's own cost", "", f"{(with_archive - without) / n * 1e6:.1f}"],
        ])
        print(f"  sqlite file: {size / 1e6:.0f} MB ({size / n:.0f} bytes per event)")
        print("\nReplaying (best of 3), to one rule with a no-op target\n")
        rows = []
        results = {}
        for label, path, hours in ((f"1 h of {n:,}", big_path, 1), (f"1 h of {small:,}", small_path, 1),
                                   (f"4 h of {n:,}", big_path, 4)):
            best, count = min(replay(path, hours, f"r{k}") for k in range(3))
            results[label] = best
            rows.append([label, f"{count:,}", fmt_rate(count / best), f"{best * 1e3:.0f}"])
        print_table(["window", "events", "events/s", "ms"], rows)
        one_big, one_small, four = results[f"1 h of {n:,}"], results[f"1 h of {small:,}"], results[f"4 h of {n:,}"]
        same = one_big / one_small
        scale = four / one_big
        ok = same <= 1.5 and 2.5 <= scale <= 6
        print(f"\n  1 h window, {n:,}-event archive / {small:,}-event archive: {same:.2f}x "
              f"(follows the window, not the archive: <= 1.5x) {verdict(same <= 1.5)}")
        print(f"  4 h window / 1 h window: {scale:.2f}x (about 4x) {verdict(2.5 <= scale <= 6)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
