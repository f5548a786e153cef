"""The proof of durable delivery: a bus with fast, slow, failing and doomed targets
runs in a child process on a sqlite store; the child is killed with SIGKILL
at moments Hypothesis chooses (after so many lines of its log: accepted
events, deliveries, dead letters), and started again on the same file with the
events it had not accepted; a last child runs to the end.  Then every event
a child accepted has ended exactly once per target, in the way its target
decides (delivered, dead-lettered, or dropped with the reason kept in the
store), and the deliveries made twice (at least once allows them) are
counted and bounded by what the killed processes held.

Real processes need real time: leases are half a second, and every wait is a
poll against a ``time.monotonic()`` deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from eventbus import SqliteStore
from eventbus._delivery._durable import BATCH

CHILD = Path(__file__).with_name("durable_child.py")
EVENTS = 60
LEASE = 0.5
QUEUE = "events:arn:aws:events:us-east-1:123456789012:event-bus/default"


def lines_in(out: Path) -> int:
    return out.read_bytes().count(b"\n") if out.exists() else 0


def run_child(db: Path, out: Path, first: int, kill_after: int | None) -> None:
    """Run a child on the events from ``first``; kill it once it has written
    ``kill_after`` more lines (accepted events, deliveries, dead letters), if it
    gets that far."""
    errors = out.with_suffix(".err")
    with errors.open("ab") as stderr:
        child = subprocess.Popen([sys.executable, str(CHILD), str(db), str(out), str(first), str(EVENTS),
                                  str(LEASE)], stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 90
    kill_at = None if kill_after is None else lines_in(out) + kill_after
    while child.poll() is None and time.monotonic() < deadline:
        if kill_at is not None and lines_in(out) >= kill_at:
            break
        time.sleep(0.001)
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert kill_after is not None, "the last child did not finish within 90 s"
    else:
        assert child.returncode == 0, errors.read_text()


def accepted(out: Path) -> dict[int, str]:
    numbers: dict[int, str] = {}
    for text in out.read_text().splitlines() if out.exists() else []:
        if text.startswith("accepted "):
            _, n, event_id = text.split()
            numbers[int(n)] = event_id
    return numbers


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kills=st.lists(st.integers(0, 200), min_size=1, max_size=3))
def test_every_accepted_event_ends_exactly_once_across_kills(tmp_path_factory: object, kills: list[int]) -> None:
    base = Path(tmp_path_factory.mktemp("kill"))  # type: ignore[attr-defined]
    db, out = base / "work.db", base / "out.log"
    for kill_after in kills:
        run_child(db, out, max(accepted(out), default=-1) + 1, kill_after)
    run_child(db, out, max(accepted(out), default=-1) + 1, None)

    lines = out.read_text().splitlines()
    assert lines[-1] == "drained"
    events = accepted(out)
    assert sorted(events) == list(range(EVENTS))  # (each number accepted once: a restart puts the rest)
    ends: Counter[tuple[str, str, str]] = Counter()
    for text in lines:
        kind, *rest = text.split()
        if kind in ("delivered", "dlq"):
            ends[(kind, rest[0], rest[1])] += 1
    store = SqliteStore(db)
    try:
        assert store.counts(QUEUE)["ready"] == store.counts(QUEUE)["leased"] == 0
        for letter in store.dead_letters(QUEUE):
            data = json.loads(letter.payload)
            assert "doomed refuses" in letter.reason and "no dead-letter queue" in letter.reason
            ends[("dropped", data["t"], json.loads(data["x"])["id"])] += 1
    finally:
        store.close()

    duplicates = 0
    for n, event_id in events.items():
        expected = {"fast": "delivered", "slow": "delivered",
                    "flaky": "dlq" if n % 3 == 0 else "delivered",
                    "doomed": "dropped" if n % 4 == 0 else "delivered"}
        for target, kind in expected.items():
            got = {k: ends[(k, target, event_id)] for k in ("delivered", "dlq", "dropped")}
            assert got[kind] >= 1, (n, target, got)  # ended...
            assert sum(got.values()) == got[kind], (n, target, got)  # ... in one way only
            duplicates += got[kind] - 1
    note(f"kills at {kills}: {duplicates} duplicate deliveries")
    event(f"duplicates: {'none' if duplicates == 0 else 'some'}")
    assert duplicates <= len(kills) * BATCH  # at most what each killed process had claimed
