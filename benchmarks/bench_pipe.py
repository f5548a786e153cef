#!/usr/bin/env python3
"""Pipe benchmark: a queue -> filter -> target pipe against a plain loop doing the same.

    python3 benchmarks/bench_pipe.py            # 20,000 messages; about 30 s on 2 cores
    python3 benchmarks/bench_pipe.py --quick    # 5,000 messages

For batch sizes 1, 10 and 100: N messages (JSON bodies, half of them matching
the filter) wait in a ``Queue`` on a ``ManualClock``; a ``Pipe`` with one
filter and a no-op callable target is started and the clock run until idle.
The same queue contents are then drained by a plain loop: receive 10 at a
time, decode each body, match it through a ``RuleIndex`` with the same
pattern, call the target with a list of ``batch_size`` matching records
(the same SQS record shape), delete the messages.  Best of 3 for each;
messages per second, and the pipe's time as a multiple of the loop's.
Target: at most 2x the plain loop at batch size 10.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import platform
import sys
import time
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

PATTERN = {"body": {"kind": ["order"], "total": [{"numeric": [">=", 10]}]}}
RATIO_TARGET = 2.0


def fill(queue: eventbus.Queue, n: int) -> None:
    for i in range(n):
        queue.send({"kind": "order" if i % 2 == 0 else "refund", "total": 10 + i % 50, "id": i})


def noop(batch: list[Any]) -> None:
    pass


def run_pipe(n: int, batch_size: int) -> float:
    clock = eventbus.ManualClock()
    queue = eventbus.Queue("in", clock=clock, capacity=n + 1)
    fill(queue, n)
    pipe = eventbus.Pipe("bench", queue, noop, filters=[PATTERN], batch_size=batch_size, desired_state="STOPPED")
    gc.collect()
    started = time.perf_counter()
    pipe.start()
    clock.run_until_idle()
    elapsed = time.perf_counter() - started
    assert len(queue) == 0, len(queue)
    return elapsed


def run_loop(n: int, batch_size: int) -> float:
    clock = eventbus.ManualClock()
    queue = eventbus.Queue("in", clock=clock, capacity=n + 1)
    fill(queue, n)
    index: eventbus.RuleIndex[str] = eventbus.RuleIndex()
    index.add("filter", PATTERN)
    gc.collect()
    started = time.perf_counter()
    batch: list[Any] = []
    while True:
        messages = queue.receive(10)
        if not messages:
            break
        for message in messages:
            try:
                body = json.loads(message.body)
            except ValueError:
                body = message.body
            if index.match({"body": body}):
                batch.append({"messageId": message.message_id, "receiptHandle": message.receipt_handle,
                              "body": message.body, "attributes": {}, "messageAttributes": {},
                              "md5OfBody": hashlib.md5(message.body.encode()).hexdigest(),
                              "eventSource": "aws:sqs", "eventSourceARN": queue.arn, "awsRegion": queue.region})
                if len(batch) == batch_size:
                    noop(batch)
                    batch = []
            queue.delete(message)
    if batch:
        noop(batch)
    elapsed = time.perf_counter() - started
    assert len(queue) == 0
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 messages")
    args = parser.parse_args()
    n = 5_000 if args.quick else 20_000
    print(f"eventbus {eventbus.__version__} | Python {platform.python_version()} | {platform.system()} "
          f"{platform.release()} | {cpu_model()}")
    print(f"\n{n:,} messages, half matching the filter; best of 3\n")
    rows, ok = [], True
    for batch_size in (1, 10, 100):
        pipe = min(run_pipe(n, batch_size) for _ in range(3))
        loop = min(run_loop(n, batch_size) for _ in range(3))
        ratio = pipe / loop
        if batch_size == 10:
            ok = ratio <= RATIO_TARGET
        rows.append([str(batch_size), fmt_rate(n / pipe), fmt_rate(n / loop), f"{ratio:.2f}x",
                     verdict(ratio <= RATIO_TARGET) if batch_size == 10 else ""])
    print_table(["batch size", "pipe msg/s", "plain loop msg/s", "pipe / loop time", "target (<= 2x at 10)"], rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
