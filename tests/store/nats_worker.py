"""A worker process on a NATS work store shared with others (for
test_nats_workers.py, which kills one of them).

``python nats_worker.py PREFIX OUT NAME LEASE POLL DONE``: opens the NATS
store on PREFIX (127.0.0.1:4222), and on it the bus ``shop`` with the rule
``orders`` and its two targets, ``fulfil`` and ``audit``, as every worker
does, looking every POLL seconds for deliveries other processes put in the
store; writes ``ready PID NAME`` to OUT; then delivers what it claims until
the file DONE exists (the producer has put every event) and the store holds
no delivery (those a killed worker held included, taken over once their
lease runs out), writes ``drained NAME`` and exits.  Each delivery appends
``delivered TARGET EVENT_ID NAME`` (``os.write`` on an O_APPEND file: each
line is whole, and what was written survives a SIGKILL of this process)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from durable_worker import BUS, RULE, rule_and_targets  # type: ignore[import-not-found]  # (run as a script)

import eventbus

DEADLINE = 60.0  # seconds: a guard against a hang, far beyond what a run takes


def main(prefix: str, out: str, name: str, lease: float, poll: float, done: str) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(text: str) -> None:
        os.write(fd, f"{text} {name}\n".encode())

    clock = eventbus.SystemClock()
    store = eventbus.NatsStore(prefix=prefix)
    bus = eventbus.EventBus(BUS, clock=clock, store=store, lease=lease, poll=poll)
    bus.put_targets(RULE, rule_and_targets(bus, clock, line, pause=0.002))
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
