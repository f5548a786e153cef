#!/usr/bin/env python3
"""Durable delivery across processes: K worker processes draining one sqlite file.

    python3 benchmarks/bench_durable_workers.py           # 4,000 events a line, best of 3; about a minute
    python3 benchmarks/bench_durable_workers.py --quick   # 800 events a line, one run; about 20 s

One bus (``bench``), one rule, one target; the target does a fixed amount of
work per event, in two variants: **cpu**, about 200 us of pure-Python
arithmetic (calibrated at start, on CPU time), and **io**,
``time.sleep(0.001)`` (a 1 ms call to something else).  Each line is
measured in fresh processes:

- *in memory*: one process, no store: it puts the events (ten per
  ``put_events``) while its target waits at a gate, then opens the gate; the
  time runs from the gate's opening until its clock is idle.
- *sqlite NORMAL, K workers*: this process puts the events into a new
  ``SqliteStore`` file (``synchronous="NORMAL"``) through a bus whose clock
  never runs, so the file holds every delivery; then K worker processes
  (``SystemClock()``, 8 threads each) open the file with the same bus, rule
  and target, and, all at one signal, put the target (which starts the
  pump: claim 100 with a lease, run, ack each); the time runs from the
  signal until the file holds no delivery.  The lease (60 s) does not run
  out: no delivery is made twice (the table says so if one was).

Process start-up and the putting of events are outside every measurement.
events/s is events delivered per second of wall time; "of memory" is a
line's events/s over the in-memory process's with the same work, measured in
the same run; "CPU us/event" is the CPU time the line's processes used (all
their threads, the work included) per event.  The first line says how many
cores the machine has and which of them this run may use (``taskset`` pins
a run, and its workers, to fewer: then more workers share the same core).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import cpu_model, fmt_rate, print_table

import eventbus
from eventbus import EventBus, ManualClock, PutEventsRequestEntry, SqliteStore, SystemClock, Target

BUS = "bench"
RULE = "orders"
LEASE = 60.0
CPU_US = 200  # microseconds of work per event, variant "cpu"
SLEEP = 0.001  # seconds per event, variant "io"


def entry(n: int) -> PutEventsRequestEntry:
    return {"Source": "shop.orders", "DetailType": "Order Placed",
            "Detail": f'{{"order": {n}, "total": {n % 997}, "customer": {{"id": "c-{n % 5000}", "tier": "gold"}}}}'}


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def calibrate(us: int) -> int:
    """Iterations of ``spin`` that take ``us`` microseconds of this thread's CPU time (the
    fastest of a few tries: CPU time, so that other processes on the machine do not count)."""
    n = 20_000
    best = min(_cpu_seconds(n) for _ in range(9))
    return max(1, round(n * us / 1e6 / best))


def _cpu_seconds(n: int) -> float:
    started = time.thread_time()
    spin(n)
    return time.thread_time() - started


def work_of(kind: str, n: int) -> Any:
    if kind == "cpu":
        return lambda: spin(n)
    return lambda: time.sleep(SLEEP)


def with_rule(bus: EventBus) -> None:
    bus.put_rule(RULE, event_pattern={"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", -1]}]}})


# -- the processes -------------------------------------------------------------------------------
def memory_process(count: int, kind: str, n: int) -> None:
    """One process without a store: put ``count`` events, then deliver them; print the seconds."""
    clock = SystemClock()
    bus = EventBus(BUS, clock=clock, journey_retention=0)
    with_rule(bus)
    gate = threading.Event()
    work = work_of(kind, n)
    made = []

    def deliver(event: Any) -> None:
        gate.wait()
        work()
        made.append(1)  # (list.append is atomic)

    bus.put_targets(RULE, [Target(deliver, target_id="fulfil", clock=clock, outcome_retention=0)])
    entries = [entry(i) for i in range(10)]
    for _ in range(0, count, 10):
        bus.put_events(entries)
    started, cpu = time.perf_counter(), time.process_time()
    gate.set()
    assert clock.idle(timeout=600)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    clock.shutdown()
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "made": len(made)}))


def worker_process(db: str, kind: str, n: int, go: str, stop: str) -> None:
    """A worker on the file ``db``: at the file ``go``, put the target and deliver what
    it claims; at the file ``stop``, print how many deliveries it made and the CPU
    time it used meanwhile."""
    clock = SystemClock()
    store = SqliteStore(db)
    bus = EventBus(BUS, clock=clock, store=store, lease=LEASE, journey_retention=0)
    with_rule(bus)
    work = work_of(kind, n)
    made = []

    def deliver(event: Any) -> None:
        work()
        made.append(1)

    target = Target(deliver, target_id="fulfil", clock=clock, outcome_retention=0)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.0005)
    cpu = time.process_time()
    bus.put_targets(RULE, [target])  # (the pump starts: it claims what the file holds)
    while not os.path.exists(stop):
        time.sleep(0.01)
    cpu = time.process_time() - cpu
    clock.shutdown(drain=True, timeout=30)
    store.close()
    print(json.dumps({"made": len(made), "cpu": cpu}), flush=True)


# -- the measurements ----------------------------------------------------------------------------
def child(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *map(str, args)], stdout=subprocess.PIPE, text=True)


def in_memory(count: int, kind: str, n: int) -> tuple[float, float]:
    """Seconds for one process without a store to deliver ``count`` events; its CPU seconds."""
    process = child("--memory", count, kind, n)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    result = json.loads(out)
    assert result["made"] == count, result
    return float(result["seconds"]), float(result["cpu"])


def preload(db: Path, count: int) -> str:
    """Put ``count`` events into the file through a bus whose clock never runs; the queue."""
    clock = ManualClock(datetime.now(UTC))  # (now: the deliveries are due at once for the workers)
    with SqliteStore(db) as store:
        bus = EventBus(BUS, clock=clock, store=store, lease=LEASE, journey_retention=0)
        with_rule(bus)
        bus.put_targets(RULE, [Target(lambda event: None, target_id="fulfil", clock=clock)])
        entries = [entry(i) for i in range(10)]
        for _ in range(0, count, 10):
            assert bus.put_events(entries)["FailedEntryCount"] == 0
        queue = f"events:{bus.arn}"
        assert store.counts(queue)["ready"] == count
    return queue


def durable(folder: Path, workers: int, count: int, kind: str, n: int) -> tuple[float, float, list[int]]:
    """Seconds for ``workers`` processes to drain ``count`` deliveries from one file;
    the CPU seconds they used; how many each made."""
    run = Path(tempfile.mkdtemp(dir=folder))  # (a new file and new signals for every run)
    db, go, stop = run / "work.db", run / "go", run / "stop"
    queue = preload(db, count)
    processes = [child("--worker", db, kind, n, go, stop) for _ in range(workers)]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        with SqliteStore(db) as store:
            go.touch()
            started = time.perf_counter()
            deadline = time.monotonic() + 600
            while store.next_due(queue) is not None:  # (an indexed look: cheap enough to ask often)
                assert time.monotonic() < deadline, "the workers did not drain the file in 600 s"
                time.sleep(0.002)
            elapsed = time.perf_counter() - started
            assert store.counts(queue) == {"ready": 0, "leased": 0, "dead": 0}
        stop.touch()
        made, cpu = [], 0.0
        for process in processes:
            out, _ = process.communicate(timeout=60)
            assert process.returncode == 0
            result = json.loads(out)
            made.append(result["made"])
            cpu += result["cpu"]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return elapsed, cpu, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a fifth of the events")
    parser.add_argument("--memory", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        memory_process(int(args.memory[0]), args.memory[1], int(args.memory[2]))
        return
    if args.worker:
        db, kind, n, go, stop = args.worker
        worker_process(db, kind, int(n), go, stop)
        return

    count, repeat = (800, 1) if args.quick else (4_000, 3)
    usable = sorted(os.sched_getaffinity(0))
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, this run may use {len(usable)} "
          f"(cpu {', '.join(map(str, usable))}); Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
          f"{', eventbus ' + eventbus.__version__ if hasattr(eventbus, '__version__') else ''}")
    n = calibrate(CPU_US)
    works = {"cpu": f"~{CPU_US} us of pure-Python arithmetic ({n:,} iterations, calibrated on CPU time)",
             "io": f"time.sleep({SLEEP}) (1 ms off the CPU, as a call to another service)"}
    print(f"work per event: cpu = {works['cpu']}; io = {works['io']}")
    print(f"{count:,} events a line, one delivery each; workers: SystemClock() (8 threads), lease {LEASE:g} s; "
          f"{'one run' if repeat == 1 else f'the fastest of {repeat} runs'} a line (the lines taking turns)")
    lines = [(kind, workers) for kind in ("cpu", "io") for workers in (0, 1, 2, 4)]  # (0: in memory)
    best: dict[tuple[str, int], tuple[float, float, list[int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            for kind, workers in lines:
                if workers:
                    result = durable(Path(folder), workers, count, kind, n)
                else:
                    elapsed, cpu = in_memory(count, kind, n)
                    result = elapsed, cpu, [count]
                if (kind, workers) not in best or result[0] < best[kind, workers][0]:
                    best[kind, workers] = result
    rows: list[list[object]] = []
    for kind, workers in lines:
        elapsed, cpu, made = best[kind, workers]
        rate, base = count / elapsed, count / best[kind, 0][0]
        twice = sum(made) - count
        share = " / ".join(f"{m:,}" for m in made) + (f" ({twice} twice)" if twice else "")
        rows.append([kind, f"sqlite NORMAL, {workers} worker{'s' if workers > 1 else ''}" if workers
                     else "in memory (no store), 1 process", f"{elapsed:.2f}", fmt_rate(rate), f"{rate / base:.2f}x",
                     f"{cpu / count * 1e6:,.0f}", share if workers else "-"])
    print()
    print_table(["work", "delivery", "seconds", "events/s", "of memory", "CPU us/event", "deliveries per worker"],
                rows)

if __name__ == "__main__":
    main()
