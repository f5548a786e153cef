#!/usr/bin/env python3
"""Durable delivery across processes: K worker processes draining one sqlite file, or one NATS prefix.

    python3 benchmarks/bench_durable_workers.py           # 4,000 events a line, best of 3; about two minutes
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
  pump: claim with a lease as many as it has threads, less one, run, ack
  each); the time runs from the signal until the file holds no delivery.
  The lease (60 s) does not run out: no delivery is made twice (the table
  says so if one was).
- *NATS JetStream, K workers*: the same on a ``NatsStore`` (the server at
  127.0.0.1:4222, on the same machine) on a fresh prefix (``bench-<hex>``)
  whose buckets are deleted after the run; the workers' buses look for
  deliveries in the store every ``POLL`` seconds (``poll=``), as workers
  sharing a NATS store do; the time runs from the signal until this
  process's store (its index, fed by the server's updates) holds no
  delivery.  Skipped, with a note, when no server answers there.

Process start-up and the putting of events are outside every measurement.
events/s is events delivered per second of wall time; "of memory" is a
line's events/s over the in-memory process's with the same work, measured in
the same run; "CPU us/event" is the CPU time the line's processes used (all
their threads, the work included) per event; "server CPU us/event" is what
the NATS server used meanwhile (read from /proc when exactly one
``nats-server`` runs on this machine; anything else using the server at the
same time counts too).  The first line says how many cores the machine has
and which of them this run may use (``taskset`` pins a run, and its workers,
to fewer: then more workers share the same core; the NATS server is not
pinned with them).  What the workers logged (warnings, errors) is printed
after the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import cpu_model, fmt_rate, print_table

import eventbus
from eventbus import (
    EventBus,
    EventBusError,
    ManualClock,
    NatsStore,
    PutEventsRequestEntry,
    SqliteStore,
    Store,
    SystemClock,
    Target,
)

BUS = "bench"
RULE = "orders"
LEASE = 60.0
STALL = 60.0  # seconds: a drain whose store shows no change for this long has stalled (the run fails, saying why)
POLL = 0.1  # seconds: how often a NATS worker looks for deliveries other processes put in the store
CPU_US = 200  # microseconds of work per event, variant "cpu"
SLEEP = 0.001  # seconds per event, variant "io"
NATS = ("127.0.0.1", 4222)
NATS_PREFIX = "nats:"  # a worker's store argument: "nats:<prefix>", else a sqlite file's path
KINDS = {"sqlite": "sqlite NORMAL", "nats": "NATS JetStream"}


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


def open_store(where: str) -> Store:
    """The store a worker argument names: ``nats:<prefix>`` a ``NatsStore`` on that
    prefix, anything else a ``SqliteStore`` file."""
    if where.startswith(NATS_PREFIX):
        return NatsStore(prefix=where.removeprefix(NATS_PREFIX))
    return SqliteStore(where)


def nats_answers() -> bool:
    try:
        socket.create_connection(NATS, timeout=1).close()
    except OSError:
        return False
    return True


def nats_server_pid() -> int | None:
    """The pid of the one ``nats-server`` process on this machine (``None``: none, or several)."""
    found = []
    for entry_ in Path("/proc").iterdir():
        if entry_.name.isdigit():
            try:
                if (entry_ / "comm").read_text().strip() == "nats-server":
                    found.append(int(entry_.name))
            except OSError:
                continue
    return found[0] if len(found) == 1 else None


def process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user and system) the process ``pid`` has used, if it can be read."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # (utime, stime: fields 14 and 15)


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


def worker_process(where: str, kind: str, n: int, go: str, stop: str) -> None:
    """A worker on the store ``where`` (a sqlite file, or ``nats:<prefix>``): at the
    file ``go``, put the target and deliver what it claims; at the file ``stop``,
    print how many deliveries it made and the CPU time it used meanwhile."""
    clock = SystemClock()
    store = open_store(where)
    poll = POLL if isinstance(store, NatsStore) else None  # (the sqlite lines as they always were: no poll)
    bus = EventBus(BUS, clock=clock, store=store, lease=LEASE, poll=poll, journey_retention=0)
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
    bus.put_targets(RULE, [target])  # (the pump starts: it claims what the store holds)
    while not os.path.exists(stop):
        time.sleep(0.01)
    cpu = time.process_time() - cpu
    clock.shutdown(drain=True, timeout=30)
    store.close()
    print(json.dumps({"made": len(made), "cpu": cpu}), flush=True)


# -- the measurements ----------------------------------------------------------------------------
def child(*args: object, stderr: Any = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *map(str, args)], stdout=subprocess.PIPE, stderr=stderr,
                            text=True)


def in_memory(count: int, kind: str, n: int) -> tuple[float, float]:
    """Seconds for one process without a store to deliver ``count`` events; its CPU seconds."""
    process = child("--memory", count, kind, n)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    result = json.loads(out)
    assert result["made"] == count, result
    return float(result["seconds"]), float(result["cpu"])


def preload(store: Store, count: int) -> str:
    """Put ``count`` events into ``store`` through a bus whose clock never runs; the queue."""
    clock = ManualClock(datetime.now(UTC))  # (now: the deliveries are due at once for the workers)
    bus = EventBus(BUS, clock=clock, store=store, lease=LEASE, journey_retention=0)
    with_rule(bus)
    bus.put_targets(RULE, [Target(lambda event: None, target_id="fulfil", clock=clock)])
    entries = [entry(i) for i in range(10)]
    for _ in range(0, count, 10):
        assert bus.put_events(entries)["FailedEntryCount"] == 0
    queue = f"events:{bus.arn}"
    assert store.counts(queue)["ready"] == count
    return queue


@dataclass
class Run:
    """What one run of a line measured: its seconds, its processes' CPU seconds, the
    deliveries each worker made, the NATS server's CPU seconds meanwhile (if read),
    and the lines its workers logged."""

    elapsed: float
    cpu: float
    made: list[int]
    server: float | None = None
    logs: list[str] = field(default_factory=list)


def durable(folder: Path, store_kind: str, workers: int, count: int, kind: str, n: int) -> Run:
    """Seconds for ``workers`` processes to drain ``count`` deliveries from one store
    (``store_kind``: a new sqlite file, or a fresh NATS prefix, its buckets deleted after);
    the CPU seconds they used; how many each made; the NATS server's CPU seconds meanwhile;
    what they logged."""
    run = Path(tempfile.mkdtemp(dir=folder))  # (a new store and new signals for every run)
    go, stop = run / "go", run / "stop"
    prefix = f"bench-{secrets.token_hex(6)}" if store_kind == "nats" else None
    where = str(run / "work.db") if prefix is None else NATS_PREFIX + prefix
    try:
        with closing(open_store(where)) as store:  # (for NATS: the buckets exist before the workers open them)
            queue = preload(store, count)
        return _drain(where, queue, run, workers, count, kind, n, go, stop)
    finally:
        if prefix is not None:
            try:
                NatsStore(prefix=prefix)._drop_buckets()  # (the run's buckets go; then it closes)
            except EventBusError as exc:
                print(f"the buckets of prefix {prefix} could not be deleted: {exc}", file=sys.stderr)


def stalled(where: str, queue: str, store: Store, processes: list[subprocess.Popen[str]], run: Path) -> str:
    """Why a drain stopped moving: what this process's store shows, what a store opened
    now shows, whether the workers live, and what they logged."""
    text = [f"the store {where} has shown {store.counts(queue)} for {STALL:g} s"]
    if isinstance(store, NatsStore):
        text.append(f"this process's index of {store.prefix}-work has followed the bucket up to revision "
                    f"{store._buckets['work'].position}")
    try:
        with closing(open_store(where)) as fresh:
            text.append(f"a store opened now shows {fresh.counts(queue)}, next due {fresh.next_due(queue)}")
    except EventBusError as exc:
        text.append(f"a store opened now: {exc}")
    for i, process in enumerate(processes):
        said = (run / f"worker{i}.err").read_text().splitlines()
        text.append(f"worker {i} (pid {process.pid}): {'running' if process.poll() is None else process.returncode}"
                    f"{', logged:' if said else ''}")
        text += [f"    {line}" for line in said[-20:]]
    return "\n".join(text)


def _drain(where: str, queue: str, run: Path, workers: int, count: int, kind: str, n: int, go: Path,
           stop: Path) -> Run:
    errors = [(run / f"worker{i}.err").open("w") for i in range(workers)]
    processes = [child("--worker", where, kind, n, go, stop, stderr=errors[i]) for i in range(workers)]
    server = nats_server_pid() if where.startswith(NATS_PREFIX) else None
    try:
        for i, process in enumerate(processes):
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", (run / f"worker{i}.err").read_text()
        with closing(open_store(where)) as store:
            server_cpu = process_cpu(server)
            go.touch()
            started = time.perf_counter()
            deadline = time.monotonic() + 600
            seen, since = store.counts(queue), time.monotonic()
            look = since + 1
            while store.next_due(queue) is not None:  # (an indexed look: cheap enough to ask often)
                now = time.monotonic()
                assert now < deadline, f"the workers did not drain {where} in 600 s"
                if now >= look:  # (once a second: has anything changed?)
                    look = now + 1
                    counts = store.counts(queue)
                    if counts != seen:
                        seen, since = counts, now
                    elif now - since > STALL:
                        raise AssertionError(stalled(where, queue, store, processes, run))
                time.sleep(0.002)
            elapsed = time.perf_counter() - started
            after = process_cpu(server)
            served = None if server_cpu is None or after is None else after - server_cpu
            assert store.counts(queue) == {"ready": 0, "leased": 0, "dead": 0}, store.counts(queue)
        stop.touch()
        made, cpu = [], 0.0
        for i, process in enumerate(processes):
            out, _ = process.communicate(timeout=60)
            assert process.returncode == 0, (run / f"worker{i}.err").read_text()
            result = json.loads(out)
            made.append(result["made"])
            cpu += result["cpu"]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for stream in errors:
            stream.close()
    logs = [line for i in range(workers) for line in (run / f"worker{i}.err").read_text().splitlines()]
    return Run(elapsed, cpu, made, served, logs)


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
        where, kind, n, go, stop = args.worker
        worker_process(where, kind, int(n), go, stop)
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
    nats = nats_answers()
    print(f"{count:,} events a line, one delivery each; workers: SystemClock() (8 threads), lease {LEASE:g} s"
          f"{f', NATS workers poll={POLL:g} s' if nats else ''}; "
          f"{'one run' if repeat == 1 else f'the fastest of {repeat} runs'} a line (the lines taking turns)")
    stores = ("sqlite", "nats") if nats else ("sqlite",)
    lines = [(kind, store, workers) for kind in ("cpu", "io")
             for store, workers in [("memory", 0)] + [(s, k) for s in stores for k in (1, 2, 4)]]
    best: dict[tuple[str, str, int], Run] = {}
    logs: dict[tuple[str, str, int], list[str]] = {line: [] for line in lines}  # (what every run logged)
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            for kind, store, workers in lines:
                if workers:
                    result = durable(Path(folder), store, workers, count, kind, n)
                else:
                    elapsed, cpu = in_memory(count, kind, n)
                    result = Run(elapsed, cpu, [count])
                line = kind, store, workers
                logs[line] += result.logs
                if line not in best or result.elapsed < best[line].elapsed:
                    best[line] = result
    rows: list[list[object]] = []
    for kind, store, workers in lines:
        got = best[kind, store, workers]
        rate, base = count / got.elapsed, count / best[kind, "memory", 0].elapsed
        twice = sum(got.made) - count
        share = " / ".join(f"{m:,}" for m in got.made) + (f" ({twice} twice)" if twice else "")
        served = "-" if store != "nats" else "?" if got.server is None else f"{got.server / count * 1e6:,.0f}"
        rows.append([kind, f"{KINDS[store]}, {workers} worker{'s' if workers > 1 else ''}" if workers
                     else "in memory (no store), 1 process", f"{got.elapsed:.2f}", fmt_rate(rate),
                     f"{rate / base:.2f}x", f"{got.cpu / count * 1e6:,.0f}", served, share if workers else "-"])
    headers = ["work", "delivery", "seconds", "events/s", "of memory", "CPU us/event", "server CPU us/event",
               "deliveries per worker"]
    if not nats:  # (no NATS lines: no server column)
        headers.pop(6)
        rows = [row[:6] + row[7:] for row in rows]
    print()
    print_table(headers, rows)
    if not nats:
        print(f"\nNATS JetStream: skipped, no server answers at {NATS[0]}:{NATS[1]} (start one: `nats-server -js`)")
    if any(logs.values()):
        print("\nworkers' logs (every run; each message once, with how many times it came):")
        for (kind, store, workers), said in logs.items():
            for text, times in Counter(said).most_common(10):
                print(f"  {kind}, {KINDS.get(store, store)}, {workers} workers: {times} x {text}")
    else:
        print("\nworkers' logs: nothing logged")


if __name__ == "__main__":
    main()
