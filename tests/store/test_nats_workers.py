"""Three worker processes share one NATS work store (one prefix on the server at
127.0.0.1:4222) and one bus (the same name, rule and targets, each looking for
deliveries other processes put in the store every ``POLL`` seconds).  This
process, the producer, puts the events, ten per ``put_events``, on a bus like
theirs whose clock it never moves (so its pump never runs: the workers make
every delivery), and kills with SIGKILL the first worker to have made a few
deliveries, once the store shows it holding claims.  The other two finish:
every accepted event is delivered at least once to each target, each time by
a worker; the deliveries the killed worker held and had not made are made by
another after the kill (once their lease ran out); deliveries made twice are
few (what the killed worker held, and leases of live workers that ran out
under load); the store ends empty; and every worker delivered some.

Real processes need real time: the workers run on ``SystemClock``, and every
wait here is a poll against a ``time.monotonic()`` deadline.  Skipped when no
NATS server answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from eventbus import EventBus, ManualClock, NatsStore
from eventbus._delivery._durable import BATCH

from .durable_worker import BUS, RULE, TARGETS, rule_and_targets
from .test_contract import NO_NATS, drop_buckets, fresh_prefix, nats_answers
from .test_durable_workers import lines_of, wait_for

CHILD = Path(__file__).with_name("nats_worker.py")
EVENTS = 300
WORKERS = ("w0", "w1", "w2")
LEASE = 0.5  # seconds a claim lasts (renewed by a live worker at half of it)
POLL = 0.1  # seconds: how often a worker looks for deliveries other processes put in the store
KILL_AFTER = 10  # deliveries: the first worker to have made this many is killed
DEADLINE = 60.0  # seconds: a guard against a hang, far beyond what a run takes (a few seconds)

pytestmark = pytest.mark.skipif(not nats_answers(), reason=NO_NATS)


def test_workers_on_one_nats_prefix_share_deliveries_and_take_over_a_killed_ones(tmp_path: Path) -> None:
    prefix = fresh_prefix()
    out, done = tmp_path / "out.log", tmp_path / "done"
    clock = ManualClock(datetime.now(UTC))  # (now: the deliveries are due at once, and young, for the workers)

    def never(text: str) -> None:
        raise AssertionError(f"the producer delivered: {text}")

    deadline = time.monotonic() + DEADLINE
    errors: dict[str, IO[bytes]] = {name: (tmp_path / f"{name}.err").open("wb") for name in WORKERS}
    workers: dict[str, subprocess.Popen[bytes]] = {}
    victim = ""
    store = NatsStore(prefix=prefix)  # (the buckets exist before the workers open them)
    try:
        producer = EventBus(BUS, clock=clock, store=store, lease=LEASE)
        producer.put_targets(RULE, rule_and_targets(producer, clock, never))
        queue = f"events:{producer.arn}"
        for name in WORKERS:
            workers[name] = subprocess.Popen(
                [sys.executable, str(CHILD), prefix, str(out), name, str(LEASE), str(POLL), str(done)],
                stdout=subprocess.DEVNULL, stderr=errors[name])
        wait_for("the workers to be ready", lambda: sum(line[0] == "ready" for line in lines_of(out)) == 3,
                 workers, deadline)

        def busiest() -> str:
            """The worker that has made the most deliveries, if it has made ``KILL_AFTER``."""
            made = Counter(line[-1] for line in lines_of(out) if line[0] == "delivered").most_common(1)
            return made[0][0] if made and made[0][1] >= KILL_AFTER else ""

        pids = {line[2]: line[1] for line in lines_of(out) if line[0] == "ready"}

        def holding(name: str) -> set[tuple[str, str]]:
            """(target, event id) of the deliveries the store shows ``name`` holding."""
            held: set[tuple[str, str]] = set()
            for item in store.items(queue):
                if item.owner is not None and f":{pids[name]}:" in item.owner:
                    data = json.loads(item.payload)
                    held.add((data["t"], json.loads(data["x"])["id"]))
            return held

        def kill(name: str) -> None:
            worker = workers[name]
            assert worker.poll() is None, f"worker {name} ended before it could be killed"
            os.kill(worker.pid, signal.SIGKILL)
            assert worker.wait() == -signal.SIGKILL
            fd = os.open(out, os.O_WRONLY | os.O_APPEND)
            os.write(fd, f"killed {name}\n".encode())
            os.close(fd)

        ids: list[str] = []
        held: set[tuple[str, str]] = set()
        for start in range(0, EVENTS, 10):
            response = producer.put_events([{"Source": "shop", "DetailType": "Order Placed",
                                             "Detail": json.dumps({"n": n})} for n in range(start, start + 10)])
            assert response["FailedEntryCount"] == 0, response
            ids += [entry["EventId"] for entry in response["Entries"]]
            if not victim and (candidate := busiest()) and (held := holding(candidate)):  # (mid-run, holding)
                victim = candidate
                kill(victim)
            time.sleep(0.005)  # (a producer spreads its events a little: the kill lands mid-run)
        done.touch()
        if not victim:
            wait_for(f"a worker to make {KILL_AFTER} deliveries", lambda: bool(busiest()), workers, deadline)
            victim = busiest()
            held = holding(victim)
            kill(victim)

        survivors = [name for name in WORKERS if name != victim]
        for name in survivors:
            try:
                code = workers[name].wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"worker {name} did not finish within {DEADLINE} s") from None
            assert code == 0, (tmp_path / f"{name}.err").read_text()
        # the store is empty: everything ended (delivered and acked), nothing dropped
        wait_for("the producer's store to see the end", lambda: store.counts(queue) == {
            "ready": 0, "leased": 0, "dead": 0}, {}, deadline)
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for stream in errors.values():
            stream.close()
        clock.shutdown(drain=False)
        store.close()
        drop_buckets(prefix)
    assert len(set(ids)) == EVENTS

    lines = lines_of(out)
    kill_line = lines.index(["killed", victim])
    assert all(line[-1] != victim for line in lines[kill_line + 1:])  # (it was dead)
    for name in survivors:
        assert ["drained", name] in lines[kill_line + 1:]

    deliveries: dict[tuple[str, str], list[tuple[int, str]]] = {}  # (target, event id) -> (line, worker)
    share: Counter[str] = Counter()
    for at, (kind, *rest) in enumerate(lines):
        if kind == "delivered":
            deliveries.setdefault((rest[0], rest[1]), []).append((at, rest[2]))
            share[rest[2]] += 1
    # nothing lost: every accepted event delivered to each target, by a worker; nothing else delivered
    assert set(deliveries) == {(target, event_id) for target in TARGETS for event_id in ids}
    # taken over: what the killed worker held and had not made was made after the kill by another
    taken_over = {key for key in held if all(name != victim for _, name in deliveries[key])}
    for key in taken_over:
        assert [name for at, name in deliveries[key] if at > kill_line and name != victim], key
    # at least once: made twice only for what the killed worker held (a batch at most), or for a live
    # worker's lease that ran out under load (each of those shows in its log as a refused end)
    duplicates = sum(len(made) - 1 for made in deliveries.values())
    assert duplicates <= 2 * BATCH, duplicates
    assert all(share[name] > 0 for name in WORKERS), share
