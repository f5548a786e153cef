"""Several real processes on one sqlite file: claims are atomic across processes,
every item ends exactly once, and a process killed while holding leases loses
nothing (its items are claimed by another once the leases run out).

Real processes need real time: leases here are a fraction of a second, and
every wait is a poll against a ``time.monotonic()`` deadline.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventbus._store import SqliteStore

SPAWN = multiprocessing.get_context("spawn")
LEASE = timedelta(seconds=0.2)
DEADLINE = 30.0  # seconds: a guard against a hang, far beyond what a run takes


def _now() -> datetime:
    return datetime.now(UTC)


def _worker(path: str, owner: str, slow_every: int, log_path: str) -> None:
    """Claim batches until the queue is empty, ack each item.  Items whose id is a
    multiple of ``slow_every`` take twice the lease on their first attempt, so
    another worker takes them over; that one extends its lease and acks only
    after the first holder's late ack, which is refused."""
    store = SqliteStore(path, busy_timeout=20)
    log: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        works = store.claim("q", now=_now(), limit=5, lease=LEASE, owner=owner)
        if not works:
            counts = store.counts("q")
            if counts["ready"] + counts["leased"] == 0:
                break
            time.sleep(0.005)
            continue
        for work in works:
            slow = int(work.id) % slow_every == 0
            if slow and work.attempts == 1:
                time.sleep(2 * LEASE.total_seconds())  # a slow delivery: the lease runs out meanwhile
            elif slow and work.attempts == 2 and store.extend(work, until=_now() + 5 * LEASE):
                # the taker-over holds on (its lease extended) until after the first holder's late ack,
                # which must be refused
                time.sleep(1.5 * LEASE.total_seconds())
            acked = store.ack(work, at=_now())
            log.append({"id": work.id, "attempts": work.attempts, "claim": work.claim, "owner": owner,
                        "claimed_at": work.claimed_at.isoformat(), "lease_until": work.lease_until.isoformat(),
                        "acked": acked})
    store.close()
    Path(log_path).write_text(json.dumps(log))


def _holder(path: str, claimed: Any) -> None:
    """Claim ten items, report them, then hang until killed."""
    store = SqliteStore(path)
    works = store.claim("q", now=_now(), limit=10, lease=timedelta(seconds=0.5), owner="doomed")
    claimed.put([(w.id, w.lease_until.isoformat()) for w in works])
    time.sleep(DEADLINE)


def test_workers_in_three_processes_end_every_item_exactly_once(tmp_path: Path) -> None:
    path = str(tmp_path / "work.db")
    total = 240
    with SqliteStore(path) as store:
        store.enqueue_many([])  # (the file and its schema exist before the workers open it)
        for n in range(total):
            store.enqueue("q", json.dumps({"n": n}), not_before=_now(), key=f"e{n}/t")
    logs = [tmp_path / f"log{k}.json" for k in range(3)]
    workers = [SPAWN.Process(target=_worker, args=(path, f"w{k}", 40, str(logs[k]))) for k in range(3)]
    for process in workers:
        process.start()
    try:
        for process in workers:
            process.join(DEADLINE)
            assert process.exitcode == 0
    finally:
        for process in workers:
            if process.is_alive():
                process.kill()
    entries = [entry for log in logs for entry in json.loads(log.read_text())]
    claims: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        claims.setdefault(entry["id"], []).append(entry)
    assert len(claims) == total
    takeovers = 0
    for item, made in claims.items():
        made.sort(key=lambda e: e["attempts"])
        # one claim per attempt number: never two holders of one claim
        assert [e["attempts"] for e in made] == list(range(1, len(made) + 1)), made
        # each claim was made only after the one before had run out: never two live leases at once
        for before, after in zip(made, made[1:], strict=False):
            assert datetime.fromisoformat(after["claimed_at"]) >= datetime.fromisoformat(before["lease_until"])
        # ended exactly once, by the holder of the latest claim
        assert [e["attempts"] for e in made if e["acked"]] == [len(made)], (item, made)
        takeovers += len(made) - 1
    assert takeovers >= 1  # (the slow deliveries were taken over: the interesting case happened)
    with SqliteStore(path) as store:
        assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}


def test_a_process_killed_while_holding_leases_loses_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "work.db")
    with SqliteStore(path) as store:
        for n in range(20):
            store.enqueue("q", json.dumps({"n": n}), not_before=_now())
        claimed = SPAWN.Queue()
        holder = SPAWN.Process(target=_holder, args=(path, claimed))
        holder.start()
        try:
            held = dict(claimed.get(timeout=DEADLINE))
            os.kill(holder.pid or 0, signal.SIGKILL)
            holder.join(DEADLINE)
            assert holder.exitcode == -signal.SIGKILL
        finally:
            if holder.is_alive():
                holder.kill()
        assert len(held) == 10
        # the dead process's leases have not run out: only the other ten are claimable
        others = store.claim("q", now=_now(), limit=20, lease=timedelta(minutes=5), owner="survivor")
        assert len(others) == 10 and not {w.id for w in others} & set(held)
        for work in others:
            assert store.ack(work)
        taken: dict[str, Any] = {}
        deadline = time.monotonic() + DEADLINE
        while len(taken) < len(held) and time.monotonic() < deadline:
            for work in store.claim("q", now=_now(), limit=20, lease=timedelta(minutes=5), owner="survivor"):
                taken[work.id] = work
            time.sleep(0.02)
        assert set(taken) == set(held)
        for item, work in taken.items():
            assert work.attempts == 2  # the dead process's attempt, then this one
            assert work.not_before == datetime.fromisoformat(held[item])  # due when the dead lease ran out
            assert work.claimed_at >= work.not_before
            assert store.ack(work)
        assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}
