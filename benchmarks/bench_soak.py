#!/usr/bin/env python3
"""Soak benchmark: a long run in flat memory, with exact accounting.

    python3 benchmarks/bench_soak.py            # 1,000,000 virtual + 100,000 threaded; about 3 minutes
    python3 benchmarks/bench_soak.py --quick    # 100,000 virtual + 20,000 threaded; about 25 s

1) Virtual time: N ``Event`` invocations of one ``Function`` on a
   ``ManualClock``, in rounds of 10,000 (invoke, ``run_until_idle()``, drain
   the dead-letter queue as a consumer would).  A third of the payloads fail
   twice then succeed, a third always fail (to the DLQ), a third succeed at
   once.  The process's resident memory (RSS) is read after 10 %, 50 % and
   100 % of the rounds: flat means outcomes and per-delivery state are not
   kept beyond ``outcome_retention``.
2) Threads: N ``Target.deliver`` calls to a destination on a
   ``SystemClock(workers=4)`` with a fast retry policy (backoff 1-4 ms), the
   same mix of failures, while a consumer thread drains the DLQ.  The
   producer keeps at most 2,000 deliveries in flight (backpressure, as a
   service would), so memory shows the steady state; RSS at 10 %, 50 %,
   100 %, then ``idle()`` and the accounting.

Both keep the outcomes of the last 1,000 deliveries (``outcome_retention``),
so that window is full before the first reading.  PASS when the accounting
is exact and RSS at 100 % is within 10 MB of RSS at 10 %.  Exits 1
otherwise.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

ROUND = 10_000
WINDOW = 2_000  # deliveries in flight at most, in the threaded soak
# outcomes kept: full before the first reading (10 % of N), so the readings show the steady state
# (the default, 10,000, holds about 2.6 MB of outcomes)
RETENTION = 1_000
FLAKY, BROKEN = 0, 1  # by i % 3; the rest succeed at once


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def mixed(calls: dict[int, int], lock: threading.Lock | None = None) -> Any:
    def outcome(i: int) -> None:
        if lock is None:
            n = calls[i] = calls.get(i, 0) + 1
        else:
            with lock:
                n = calls[i] = calls.get(i, 0) + 1
        kind = i % 3
        fail = kind == BROKEN or (kind == FLAKY and n <= 2)
        if not fail or n == 3:  # its last call: forget it (the benchmark must not grow either)
            if lock is None:
                del calls[i]
            else:
                with lock:
                    del calls[i]
        if fail:
            raise RuntimeError(f"payload {i} fails (call {n})")

    return outcome


def expected(n: int) -> tuple[int, int, int]:
    """(succeeded, dead-lettered, handler calls) for payloads 0..n-1 with two retries."""
    flaky = len(range(FLAKY, n, 3))
    broken = len(range(BROKEN, n, 3))
    healthy = n - flaky - broken
    return flaky + healthy, broken, 3 * flaky + 3 * broken + healthy


def checkpoints(n: int) -> dict[int, str]:
    return {n // 10: "10%", n // 2: "50%", n: "100%"}


def report(title: str, n: int, seconds: float, rss: dict[str, float], m: eventbus.DeliveryMetrics,
           calls: int, drained: int, pending_timers: int) -> bool:
    good, dead, want_calls = expected(n)
    print_table(["progress", "RSS MB"], [(k, f"{v:.1f}") for k, v in rss.items()])
    growth = rss["100%"] - rss["10%"]
    checks = [
        ("accepted == N == succeeded + dead_lettered + dropped", m.accepted == n == m.succeeded + m.dead_lettered
         + m.dropped, f"{m.accepted:,} / {m.succeeded:,} + {m.dead_lettered:,} + {m.dropped:,}"),
        ("pending == 0, no timers left", m.pending == 0 and pending_timers == 0, f"{m.pending}, {pending_timers}"),
        ("succeeded, dead-lettered as planned", (m.succeeded, m.dead_lettered) == (good, dead),
         f"{m.succeeded:,}/{good:,}, {m.dead_lettered:,}/{dead:,}"),
        ("attempts == handler calls == planned", m.attempts == calls == want_calls,
         f"{m.attempts:,} / {calls:,} / {want_calls:,}"),
        ("DLQ received every dead-lettered event", drained == m.sent_to_dlq == dead, f"{drained:,}"),
        ("RSS(100%) - RSS(10%) <= 10 MB", growth <= 10, f"{growth:+.1f} MB"),
    ]
    print_table(["check", "result", "values"], [(c, verdict(ok), v) for c, ok, v in checks])
    print(f"  {title}: {n:,} deliveries in {seconds:.1f} s = {fmt_rate(n / seconds)}/s "
          f"({seconds / n * 1e6:.1f} us each, retries and dead-lettering included)")
    return all(ok for _, ok, _ in checks)


def soak_virtual(n: int) -> bool:
    print(f"\n== 1) Virtual time: {n:,} Event invocations on a ManualClock, rounds of {ROUND:,} ==")
    clock = eventbus.ManualClock()
    dlq = eventbus.Queue("soak-dlq", clock=clock, capacity=ROUND)
    calls: dict[int, int] = {}
    outcome = mixed(calls)
    total_calls = 0

    def handler(event: Any, context: Any) -> None:
        nonlocal total_calls
        total_calls += 1
        outcome(event["i"])

    fn = eventbus.Function(handler, name="soak", clock=clock, dead_letter_queue=dlq, outcome_retention=RETENTION)
    marks, rss, drained = checkpoints(n), {}, 0
    gc.collect()
    t0 = time.perf_counter()
    for start in range(0, n, ROUND):
        for i in range(start, min(n, start + ROUND)):
            fn.invoke({"i": i}, "Event")
        clock.run_until_idle()
        while batch := dlq.receive(10):
            for message in batch:
                dlq.delete(message)
            drained += len(batch)
        done = min(n, start + ROUND)
        if done in marks:
            gc.collect()
            rss[marks[done]] = rss_mb()
    seconds = time.perf_counter() - t0
    return report("virtual time", n, seconds, rss, fn.metrics, total_calls, drained, len(clock.pending()))


def soak_threads(n: int) -> bool:
    print(f"\n== 2) Threads: {n:,} Target.deliver on a SystemClock(workers=4), fast retries, DLQ drained ==")
    lock = threading.Lock()
    calls: dict[int, int] = {}
    outcome = mixed(calls, lock)
    counted = [0]

    def destination(event: Any) -> None:
        with lock:
            counted[0] += 1
        outcome(event["i"])

    marks, rss, drained = checkpoints(n), {}, [0]
    with eventbus.SystemClock(workers=4) as clock:
        dlq = eventbus.Queue("soak-dlq", clock=clock, capacity=n)
        target = eventbus.Target(destination, clock=clock, dead_letter_queue=dlq, outcome_retention=RETENTION,
                                 retry_policy=eventbus.RetryPolicy(maximum_retry_attempts=2, base_delay=0.002,
                                                                   max_delay=0.004))
        stop = threading.Event()

        def consume() -> None:
            while not stop.is_set() or len(dlq):
                batch = dlq.receive(10)
                for message in batch:
                    dlq.delete(message)
                drained[0] += len(batch)
                if not batch:
                    time.sleep(0.001)

        consumer = threading.Thread(target=consume, name="dlq-consumer")
        consumer.start()
        gc.collect()
        t0 = time.perf_counter()
        for i in range(n):
            target.deliver({"i": i})
            if i % 100 == 0:
                while target.metrics.pending > WINDOW:  # a producer with backpressure: a steady state
                    time.sleep(0.001)
            if i + 1 in marks:
                gc.collect()
                rss[marks[i + 1]] = rss_mb()
        idle = clock.idle(timeout=600)
        seconds = time.perf_counter() - t0
        stop.set()
        consumer.join(60)
        m = target.metrics
    print(f"  idle() returned {idle}")
    return report("threads", n, seconds, rss, m, counted[0], drained[0], 0) and idle


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100,000 virtual and 20,000 threaded deliveries")
    args = ap.parse_args(argv)
    logging.getLogger("eventbus").setLevel(logging.ERROR)  # one warning per dead-lettered event otherwise
    print(f"# bench_soak  eventbus {eventbus.__version__}  CPython {platform.python_version()}"
          f"{'  quick' if args.quick else ''}")
    print(f"# machine {platform.machine()}  model={cpu_model()}  {platform.platform()}")
    ok = soak_virtual(100_000 if args.quick else 1_000_000)
    ok = soak_threads(20_000 if args.quick else 100_000) and ok
    print(f"\n# soak {verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
