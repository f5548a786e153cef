"""A worker process that shares a durable bus's deliveries with others (for
test_durable_workers.py, which kills one of them).

``python durable_worker.py DB OUT NAME LEASE POLL DONE``: opens the work
store DB, which other workers share, and on it the bus ``shop`` with the rule
``orders`` and its two targets, ``fulfil`` and ``audit``, as every worker
does, looking every POLL seconds for deliveries other processes put in the
store; writes ``ready PID NAME`` to OUT; then delivers what it claims until
the file DONE exists (the producer has put every event) and the store holds
no delivery (those a killed worker held included, taken over once their
lease runs out), writes ``drained NAME`` and exits.

Its store writes a line to OUT for every delivery the worker claims (just
after the claim's transaction), and for every one it ends or hands back
(just after that transaction); its targets write one per delivery.  Lines are
``os.write`` calls on an O_APPEND file: each is whole, and what was written
survives a SIGKILL of this process::

    ready PID NAME
    claimed TARGET EVENT_ID ATTEMPTS NAME
    delivered TARGET EVENT_ID NAME
    acked TARGET EVENT_ID NAME      (the store recorded its end)
    refused TARGET EVENT_ID NAME    (the store refused its end: the claim had run out and been taken over)
    returned TARGET EVENT_ID NAME   (handed back to the store: a retry, or an attempt not made)
    drained NAME
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import eventbus

BUS = "shop"
RULE = "orders"
TARGETS = ("fulfil", "audit")
DEADLINE = 60.0  # seconds: a guard against a hang, far beyond what a run takes


def rule_and_targets(bus: eventbus.EventBus, clock: eventbus.Clock, line: Callable[[str], None],
                     pause: float = 0.005) -> list[eventbus.Target]:
    """Put the rule on ``bus``; the targets (each calls ``line`` with its ``delivered``
    line, after ``pause`` seconds) for the caller to put.  (Also the NATS workers'.)"""
    bus.put_rule(RULE, event_pattern={"source": ["shop"]})

    def destination(target: str) -> Any:
        def deliver(event: Any) -> None:
            time.sleep(pause)  # (a call to another service: claims stay held a moment, for the kill to find)
            line(f"delivered {target} {event['id']}")
        return deliver

    return [eventbus.Target(destination(target), target_id=target, clock=clock) for target in TARGETS]


def delivery(work: eventbus.Work) -> str:
    """``TARGET EVENT_ID`` of a work item the bus wrote."""
    data = json.loads(work.payload)
    return f"{data['t']} {json.loads(data['x'])['id']}"


def main(db: str, out: str, name: str, lease: float, poll: float, done: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(text: str) -> None:
        os.write(fd, f"{text} {name}\n".encode())

    class LoggedStore(eventbus.SqliteStore):
        """The sqlite store, telling OUT what this worker claims, ends and hands back."""

        def claim(self, queue: str, *, now: datetime, limit: int, lease: timedelta, owner: str) -> list[eventbus.Work]:
            works = super().claim(queue, now=now, limit=limit, lease=lease, owner=owner)
            if works:  # (one write: the batch's lines stay together)
                os.write(fd, "".join(f"claimed {delivery(w)} {w.attempts} {name}\n" for w in works).encode())
            return works

        def ack(self, work: eventbus.Work, *, then: Sequence[eventbus.Enqueued] = (),
                at: datetime | None = None) -> bool:
            ended = super().ack(work, then=then, at=at)
            line(f"{'acked' if ended else 'refused'} {delivery(work)}")
            return ended

        def retry(self, work: eventbus.Work, *, not_before: datetime, payload: str | None = None) -> bool:
            kept = super().retry(work, not_before=not_before, payload=payload)
            line(f"{'returned' if kept else 'refused'} {delivery(work)}")
            return kept

        def ack_many(self, works: Sequence[eventbus.Work]) -> list[bool]:
            ended = super().ack_many(works)
            os.write(fd, "".join(f"{'acked' if e else 'refused'} {delivery(w)} {name}\n"
                                 for w, e in zip(works, ended, strict=True)).encode())
            return ended

    clock = eventbus.SystemClock()
    store = LoggedStore(db)
    bus = eventbus.EventBus(BUS, clock=clock, store=store, lease=lease, poll=poll)
    bus.put_targets(RULE, rule_and_targets(bus, clock, line, pause=0.02))  # (held long enough for the kill)
    line(f"ready {os.getpid()}")
    queue = f"events:{bus.arn}"
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if Path(done).exists():
            counts = store.counts(queue)
            if counts["ready"] + counts["leased"] == 0:
                line("drained")
                break
        time.sleep(0.01)
    clock.shutdown(drain=True, timeout=10)
    store.close()
    os.close(fd)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
