#!/usr/bin/env python3
"""Queue benchmark: does draining a queue cost time in proportion to its size (linear)?

    python3 benchmarks/bench_queue.py            # N up to 1,000,000; about 60 s on 2 cores
    python3 benchmarks/bench_queue.py --quick    # N up to 160,000; about 10 s

For each N: send N messages to an ``eventbus.Queue`` (ManualClock), then
drain it as a consumer does: ``receive(10)`` and ``delete`` each message,
until ``receive`` comes back empty.  Half the run again with a twist: every
other batch is *not* deleted, so those messages come back after their
visibility timeout and the queue has messages in flight while it drains.
Against the same N, in the same run: ``queue.SimpleQueue`` put/get (the
standard library's FIFO, which has no visibility, receipts or redrive) as
the floor.  PASS when draining 8x the messages costs at most 10x the time
(linear, with room for noise); before this issue's fix, ``receive`` scanned
the whole store and 4x the messages cost 20x the time.
"""

from __future__ import annotations

import argparse
import gc
import platform
import queue
import sys
import time
from collections.abc import Sequence

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

SIZES = [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 1_000_000]
QUICK_SIZES = [10_000, 20_000, 40_000, 80_000, 160_000]


def drain_eventbus(n: int, *, redeliver: bool) -> tuple[float, int]:
    clock = eventbus.ManualClock()
    q = eventbus.Queue("bench", clock=clock, capacity=n, visibility_timeout=30)
    for i in range(n):
        q.send(str(i))
    gc.collect()
    received = 0
    t0 = time.perf_counter()
    batch = 0
    while True:
        got = q.receive(10)
        if not got:
            if len(q) == 0:
                break
            clock.advance(30)  # the undeleted ones come back
            continue
        received += len(got)
        batch += 1
        if redeliver and batch % 2 and got[0].receive_count == 1:
            continue  # not deleted: back after the visibility timeout
        for message in got:
            q.delete(message)
    return time.perf_counter() - t0, received


def drain_stdlib(n: int) -> float:
    q: queue.SimpleQueue[str] = queue.SimpleQueue()
    for i in range(n):
        q.put(str(i))
    gc.collect()
    t0 = time.perf_counter()
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            break
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N up to 160,000")
    args = ap.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    print(f"# bench_queue  eventbus {eventbus.__version__}  CPython {platform.python_version()}"
          f"{'  quick' if args.quick else ''}")
    print(f"# machine {platform.machine()}  model={cpu_model()}  {platform.platform()}")
    rows = []
    times: dict[int, float] = {}
    for n in sizes:
        plain, got = drain_eventbus(n, redeliver=False)
        mixed, got_mixed = drain_eventbus(n, redeliver=True)
        floor = drain_stdlib(n)
        times[n] = plain
        rows.append((f"{n:,}", f"{plain:.3f}", f"{plain / n * 1e6:.2f}", fmt_rate(n / plain), f"{mixed:.3f}",
                     f"{got_mixed - n:,}", f"{floor:.3f}", f"{plain / floor:.0f}x"))
        assert got == n, (got, n)
    print_table(["N", "drain s", "us/msg", "msgs/s", "with redelivery s", "redelivered", "SimpleQueue s",
                 "eventbus/SimpleQueue"], rows)
    first, last = sizes[0], sizes[-1]
    pairs = [(a, b) for a in sizes for b in sizes if b == 8 * a]
    ok = True
    for a, b in pairs:
        ratio = times[b] / times[a]
        ok = ok and ratio <= 10
        print(f"  drain({b:,}) / drain({a:,}) = {ratio:.1f} (8.0 = linear)")
    per_first, per_last = times[first] / first * 1e6, times[last] / last * 1e6
    print(f"  per message: {per_first:.2f} us at {first:,}, {per_last:.2f} us at {last:,}")
    print(f"  linear {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
