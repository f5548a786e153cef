"""A process that runs a durable bus (for test_durable_kill.py, which kills it).

``python durable_child.py DB OUT FIRST LAST LEASE``: opens the work store DB,
puts events FIRST..LAST-1 (ten per put_events call) on a bus whose rule has
four targets (fast, slow, a flaky one with a dead-letter queue, a doomed one
without), appends a line to OUT for every accepted event, delivery and dead
letter (``os.write`` on an O_APPEND file: each line is whole, and survives a
SIGKILL of this process), then waits until the store holds no delivery
(those a killed process left included, taken over after their lease) and
writes ``drained``."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import eventbus


def main(db: str, out: str, first: int, last: int, lease: float) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(text: str) -> None:
        os.write(fd, (text + "\n").encode())

    def delivered(name: str, fail: Any = None, pause: float = 0.0) -> Any:
        def destination(event: Any) -> None:
            if pause:
                time.sleep(pause)
            if fail is not None and fail(event["detail"]["n"]):
                raise RuntimeError(f"{name} refuses {event['detail']['n']}")
            line(f"delivered {name} {event['id']}")
        return destination

    class DeadLetters:
        def deliver(self, payload: Any, attributes: Any = None) -> None:
            line(f"dlq flaky {payload['id']}")

    clock = eventbus.SystemClock()
    store = eventbus.SqliteStore(db)
    bus = eventbus.EventBus(clock=clock, store=store, lease=lease)
    quick = eventbus.RetryPolicy(maximum_retry_attempts=2, maximum_event_age_in_seconds=600, base_delay=0.02,
                                 max_delay=0.05)
    bus.put_rule("orders", event_pattern={"source": ["shop"]})
    bus.put_targets("orders", [
        eventbus.Target(delivered("fast"), target_id="fast", clock=clock),
        eventbus.Target(delivered("slow", pause=0.01), target_id="slow", clock=clock),
        eventbus.Target(delivered("flaky", fail=lambda n: n % 3 == 0), target_id="flaky", clock=clock,
                        retry_policy=quick, dead_letter_queue=DeadLetters()),
        eventbus.Target(delivered("doomed", fail=lambda n: n % 4 == 0), target_id="doomed", clock=clock,
                        retry_policy=eventbus.RetryPolicy(maximum_retry_attempts=0)),
    ])
    for start in range(first, last, 10):
        numbers = range(start, min(start + 10, last))
        response = bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"n": n})}
                                   for n in numbers])
        for n, entry in zip(numbers, response["Entries"], strict=True):
            line(f"accepted {n} {entry['EventId']}")
    queue = f"events:{bus.arn}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        counts = store.counts(queue)
        if counts["ready"] + counts["leased"] == 0:
            line("drained")
            break
        time.sleep(0.02)
    clock.shutdown(drain=False)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
