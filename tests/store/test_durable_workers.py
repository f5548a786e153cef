"""Three worker processes share one sqlite work store and one bus (the same name,
rule and targets, each looking for deliveries other processes put in the
store every ``POLL`` seconds).  This process, the producer, puts the events,
ten per ``put_events``, on a bus like theirs whose clock it never moves (so
its pump never runs: the workers make every delivery), and kills with
SIGKILL the first worker to have made a few deliveries, while it holds
claims.  The other two finish: every accepted event is delivered at least
once to each target, each time by a worker; the killed worker's held
deliveries are taken over (made by another worker after the kill, once their
lease ran out); the deliveries made twice are the killed worker's, made
again after the kill, and no more than it held; the store ends empty; and
both survivors delivered some.

Real processes need real time: the workers run on ``SystemClock``, and every
wait here is a poll against a ``time.monotonic()`` deadline.  Each worker
writes what it claims, delivers and ends to one log (see durable_worker.py),
and this process writes ``killed NAME`` to it once the killed one is gone:
lines after that one were written after the kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from eventbus import EventBus, ManualClock, SqliteStore
from eventbus._delivery._durable import BATCH

from .durable_worker import BUS, RULE, TARGETS, rule_and_targets

CHILD = Path(__file__).with_name("durable_worker.py")
EVENTS = 300
WORKERS = ("w0", "w1", "w2")
# Seconds a claim lasts: how long the survivors wait before taking the killed worker's deliveries
# over, and how long a live worker may take to end what it claimed before another one takes that
# over too and makes it twice (a batch of 100 of these deliveries takes 0.1 to 0.2 s with the three
# workers on one core, about 0.5 s with four busy loops on that core too: there a lease of 0.5 s
# ran out in one run of ten).
LEASE = 2.0
POLL = 0.05  # seconds: how often a worker looks for deliveries other processes put in the store
KILL_AFTER = 10  # deliveries: the first worker to have made this many is killed
DEADLINE = 60.0  # seconds: a guard against a hang, far beyond what a run takes (about 4 s)


def lines_of(out: Path) -> list[list[str]]:
    return [text.split() for text in out.read_text().splitlines()] if out.exists() else []


def wait_for(what: str, done: Callable[[], bool], workers: dict[str, subprocess.Popen[bytes]], deadline: float) -> None:
    """Poll ``done()`` until it holds; fail if the deadline passes or a worker
    fails first."""
    while not done():
        for name, worker in workers.items():
            assert worker.poll() in (None, 0), f"worker {name} failed while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def held_in_store(db: Path, pid: int) -> set[tuple[str, str]]:
    """(target, event id) of the deliveries the store says process ``pid`` holds."""
    db_uri = f"file:{db}?mode=ro"
    with sqlite3.connect(db_uri, uri=True) as conn:
        rows = conn.execute("SELECT payload FROM work WHERE lease_until IS NOT NULL AND owner LIKE ?",
                            (f"%:{pid}:%",)).fetchall()
    conn.close()
    held: set[tuple[str, str]] = set()
    for (payload,) in rows:
        data = json.loads(payload)
        held.add((data["t"], json.loads(data["x"])["id"]))
    return held


def test_workers_share_one_store_and_take_over_a_killed_workers_deliveries(tmp_path: Path) -> None:
    db, out, done = tmp_path / "work.db", tmp_path / "out.log", tmp_path / "done"
    clock = ManualClock(datetime.now(UTC))  # (now: the deliveries are due at once, and young, for the workers)

    def never(text: str) -> None:
        raise AssertionError(f"the producer delivered: {text}")

    deadline = time.monotonic() + DEADLINE
    errors: dict[str, IO[bytes]] = {name: (tmp_path / f"{name}.err").open("wb") for name in WORKERS}
    workers: dict[str, subprocess.Popen[bytes]] = {}
    victim = ""
    with SqliteStore(db) as store:  # (the file and its schema exist before the workers open it)
        producer = EventBus(BUS, clock=clock, store=store, lease=LEASE)
        producer.put_targets(RULE, rule_and_targets(producer, clock, never))
        queue = f"events:{producer.arn}"
        try:
            for name in WORKERS:
                workers[name] = subprocess.Popen(
                    [sys.executable, str(CHILD), str(db), str(out), name, str(LEASE), str(POLL), str(done)],
                    stdout=subprocess.DEVNULL, stderr=errors[name])
            wait_for("the workers to be ready", lambda: sum(line[0] == "ready" for line in lines_of(out)) == 3,
                     workers, deadline)

            def busiest() -> str:
                """The worker that has made the most deliveries, if it has made ``KILL_AFTER``
                and holds, by its log, deliveries it has not made yet (so that the kill
                leaves some to take over)."""
                lines = lines_of(out)
                made = Counter(line[-1] for line in lines if line[0] == "delivered").most_common(1)
                if not made or made[0][1] < KILL_AFTER:
                    return ""
                name = made[0][0]
                pending: set[tuple[str, str]] = set()
                for kind, *rest in lines:
                    if rest and rest[-1] == name:
                        if kind == "claimed":
                            pending.add((rest[0], rest[1]))
                        elif kind in ("delivered", "acked", "returned"):
                            pending.discard((rest[0], rest[1]))
                return name if len(pending) >= 3 else ""

            def kill(name: str) -> set[tuple[str, str]]:
                """Kill ``name``; the deliveries the store says it held."""
                worker = workers[name]
                assert worker.poll() is None, f"worker {name} ended before it could be killed"
                os.kill(worker.pid, signal.SIGKILL)
                assert worker.wait() == -signal.SIGKILL
                fd = os.open(out, os.O_WRONLY | os.O_APPEND)
                os.write(fd, f"killed {name}\n".encode())
                os.close(fd)
                return held_in_store(db, worker.pid)  # (read before their leases run out)

            ids: list[str] = []
            held_then: set[tuple[str, str]] = set()
            for start in range(0, EVENTS, 10):
                response = producer.put_events([{"Source": "shop", "DetailType": "Order Placed",
                                                 "Detail": json.dumps({"n": n})} for n in range(start, start + 10)])
                assert response["FailedEntryCount"] == 0, response
                ids += [entry["EventId"] for entry in response["Entries"]]
                if not victim and (victim := busiest()):  # (while events are still put, if it is that quick)
                    held_then = kill(victim)
            done.touch()
            if not victim:
                found: list[str] = []

                def look() -> bool:
                    found.append(busiest())
                    return bool(found[-1])

                wait_for(f"a worker to make {KILL_AFTER} deliveries while holding some", look, workers, deadline)
                victim = found[-1]
                held_then = kill(victim)

            survivors = [name for name in WORKERS if name != victim]
            for name in survivors:
                try:
                    code = workers[name].wait(max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"worker {name} did not finish within {DEADLINE} s") from None
                assert code == 0, (tmp_path / f"{name}.err").read_text()
            # the store is empty: everything ended (delivered and acked), nothing dropped
            assert store.counts(queue) == {"ready": 0, "leased": 0, "dead": 0}
        finally:
            for worker in workers.values():
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            for stream in errors.values():
                stream.close()
    assert len(set(ids)) == EVENTS

    lines = lines_of(out)
    kill_line = lines.index(["killed", victim])
    assert all(line[-1] != victim for line in lines[kill_line + 1:])  # (it was dead)
    for name in survivors:
        assert ["drained", name] in lines[kill_line + 1:]

    # what the killed worker held: claimed and neither ended nor handed back, by its log and by the store
    held: set[tuple[str, str]] = set(held_then)
    for kind, *rest in lines[:kill_line]:
        if rest[-1] == victim and kind == "claimed":
            held.add((rest[0], rest[1]))
        elif rest[-1] == victim and kind in ("acked", "returned"):
            held.discard((rest[0], rest[1]))
    assert held, "the killed worker held no delivery: the kill came too late to test a takeover"

    deliveries: dict[tuple[str, str], list[tuple[int, str]]] = {}  # (target, event id) -> (line, worker)
    for at, (kind, *rest) in enumerate(lines):
        if kind == "delivered":
            deliveries.setdefault((rest[0], rest[1]), []).append((at, rest[2]))
        assert kind != "refused", f"a live worker's claim ran out and was taken over: {rest}"

    # nothing lost: every accepted event delivered to each target, by a worker; nothing else delivered
    expected = {(target, event_id) for target in TARGETS for event_id in ids}
    assert set(deliveries) == expected
    assert all(name in WORKERS for made in deliveries.values() for _, name in made)

    # the killed worker's deliveries were taken over: each one it held and had not made was made
    # after the kill by another worker
    victim_made = {key for key, made in deliveries.items() if any(name == victim for _, name in made)}
    taken_over = held - victim_made
    assert taken_over, "the killed worker had made every delivery it held"
    for key in taken_over:
        assert [name for at, name in deliveries[key] if at > kill_line and name != victim], key

    # made twice: only deliveries the killed worker held and made, made again after the kill by another
    duplicates = 0
    for key, made in deliveries.items():
        if len(made) > 1:
            duplicates += len(made) - 1
            assert key in held and len(made) == 2, (key, made)
            (first, by_victim), (again, by_other) = made  # (exactly twice)
            assert by_victim == victim and first < kill_line < again and by_other != victim, (key, made)
    assert duplicates <= min(len(held), BATCH)

    # the work was spread: every worker made deliveries, the killed one before its end
    share = Counter(name for made in deliveries.values() for _, name in made)
    assert all(share[name] > 0 for name in WORKERS), share
