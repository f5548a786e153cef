#!/usr/bin/env python3
"""Delivery benchmark for eventbus: the cost of asynchronous (``Event``) invocations of a ``Function``.

    python3 benchmarks/bench_delivery.py            # about 25 s on 2 cores
    python3 benchmarks/bench_delivery.py --quick    # 20,000 virtual-time invocations, about 7 s

1) Virtual time (ManualClock): N = 100,000 Event invocations (20,000 with --quick) of a
   handler that fails on its first two attempts for one third of the payloads (then
   succeeds on the last retry), always fails for another third (-> dead-letter queue)
   and succeeds at once for the rest.  Invoke all, then ``clock.run_until_idle()``.
   Reports the cost of accepting (``invoke``) and of running (attempts, retries,
   dead-lettering), per accepted invocation, against the handler's own cost, and
   checks the accounting: accepted == succeeded + dead_lettered + dropped, pending == 0.
2) Thread pool (SystemClock(workers=4)): 20,000 Event invocations of a no-op
   handler, from the first invoke to ``idle()``, against the same number of no-op
   calls submitted directly to a ThreadPoolExecutor(max_workers=4) and waited for.
   Best of 3, interleaved; prints both throughputs and the ratio eventbus / direct.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

N_VIRTUAL = 100_000
N_VIRTUAL_QUICK = 20_000
N_THREADS = 20_000
WORKERS = 4
REPEATS = 3
IDLE_TIMEOUT_S = 60.0

# payload kinds, by i % 3
FLAKY, BROKEN, HEALTHY = 0, 1, 2
FLAKY_FAILURES = 2  # a flaky payload fails this many times, then succeeds (needs maximum_retry_attempts=2)
MAX_RETRIES = 2


class TransientError(Exception):
    """Raised by the benchmark handler on an attempt that should be retried."""


# ---------------------------------------------------------------------------
# helpers


def make_handler(n: int) -> tuple[Callable[[Any, Any], Any], list[int]]:
    """The mixed handler of section 1, and its per-payload call counts."""
    calls = [0] * n

    def handler(event: Any, context: Any) -> Any:
        i = event["i"]
        calls[i] += 1
        kind = i % 3
        if kind == BROKEN:
            raise TransientError(f"payload {i} always fails")
        if kind == FLAKY and calls[i] <= FLAKY_FAILURES:
            raise TransientError(f"payload {i} fails on attempt {calls[i]}")
        return None

    return handler, calls


# ---------------------------------------------------------------------------
# 1) virtual time


def handler_alone(n: int) -> tuple[float, int]:
    """The same handler calls as the delivery makes (first attempts, then two rounds of retries),
    made directly with ``try``/``except``: the handler's own cost, raising included."""
    handler, calls = make_handler(n)
    payloads = [{"i": i} for i in range(n)]
    t0 = time.perf_counter()
    todo = payloads
    for _ in range(1 + MAX_RETRIES):
        failed = []
        for payload in todo:
            try:
                handler(payload, None)
            except TransientError:
                failed.append(payload)
        todo = failed
    return time.perf_counter() - t0, sum(calls)


def bench_virtual(n: int) -> bool:
    print(f"\n== 1) Virtual time: {n:,} Event invocations on a ManualClock, then run_until_idle() ==")
    n_flaky = len(range(FLAKY, n, 3))
    n_broken = len(range(BROKEN, n, 3))
    n_healthy = len(range(HEALTHY, n, 3))
    expected_calls = n_flaky * (FLAKY_FAILURES + 1) + n_broken * (MAX_RETRIES + 1) + n_healthy
    print(f"  payloads: {n_flaky:,} fail twice then succeed, {n_broken:,} always fail (-> DLQ), "
          f"{n_healthy:,} succeed at once; expected handler calls {expected_calls:,}")

    clock = eventbus.ManualClock()
    dlq = eventbus.Queue("bench-dlq", clock=clock, capacity=max(n, 1))
    handler, calls = make_handler(n)
    fn = eventbus.Function(handler, name="bench", clock=clock, maximum_retry_attempts=MAX_RETRIES,
                           dead_letter_queue=dlq)
    payloads = [{"i": i} for i in range(n)]
    started = clock.now()

    gc.collect()
    t0 = time.perf_counter()
    bad_status = 0
    for payload in payloads:
        if fn.invoke(payload, "Event")["StatusCode"] != 202:
            bad_status += 1
    t1 = time.perf_counter()
    timers_run = clock.run_until_idle()
    t2 = time.perf_counter()
    accept_s, run_s, total_s = t1 - t0, t2 - t1, t2 - t0
    handler_calls = sum(calls)
    virtual_s = (clock.now() - started).total_seconds()

    alone_s, alone_calls = handler_alone(n)

    us = 1e6
    rows = [
        ("accept: invoke(payload, 'Event') x N", f"{accept_s:.3f}", f"{accept_s / n * us:.1f}", "",
         fmt_rate(n / accept_s)),
        ("run: clock.run_until_idle()", f"{run_s:.3f}", f"{run_s / n * us:.1f}",
         f"{run_s / handler_calls * us:.1f}", fmt_rate(n / run_s)),
        ("total (accept + run)", f"{total_s:.3f}", f"{total_s / n * us:.1f}",
         f"{total_s / handler_calls * us:.1f}", fmt_rate(n / total_s)),
        ("handler alone (same calls, direct)", f"{alone_s:.3f}", f"{alone_s / n * us:.1f}",
         f"{alone_s / max(alone_calls, 1) * us:.1f}", fmt_rate(n / alone_s)),
        ("eventbus overhead (total - handler)", f"{total_s - alone_s:.3f}", f"{(total_s - alone_s) / n * us:.1f}",
         f"{(total_s - alone_s) / handler_calls * us:.1f}", ""),
    ]
    print_table(["phase", "wall s", "us/invocation", "us/handler call", "invocations/s"], rows)
    print(f"  handler calls {handler_calls:,} ({handler_calls / n:.2f} per invocation), timers run {timers_run:,}, "
          f"virtual time elapsed {virtual_s:g} s; accept is {accept_s / total_s:.0%} of the total")

    m = fn.metrics
    print(f"  metrics: accepted={m.accepted:,} succeeded={m.succeeded:,} dead_lettered={m.dead_lettered:,} "
          f"dropped={m.dropped:,} pending={m.pending:,} attempts={m.attempts:,} retries={m.retries:,} "
          f"failures={m.failures:,} sent_to_dlq={m.sent_to_dlq:,} failed_to_dlq={m.failed_to_dlq:,}; "
          f"DLQ holds {len(dlq):,}")
    checks = [
        ("accepted == succeeded + dead_lettered + dropped", m.accepted == m.succeeded + m.dead_lettered + m.dropped,
         f"{m.accepted:,} vs {m.succeeded + m.dead_lettered + m.dropped:,}"),
        ("pending == 0", m.pending == 0, f"{m.pending:,}"),
        ("accepted == N, every invoke answered 202", m.accepted == n and bad_status == 0,
         f"{m.accepted:,} accepted, {bad_status:,} non-202"),
        ("succeeded == flaky + healthy", m.succeeded == n_flaky + n_healthy,
         f"{m.succeeded:,} vs {n_flaky + n_healthy:,}"),
        ("dead_lettered == broken == DLQ length, dropped == 0",
         m.dead_lettered == n_broken == len(dlq) == m.sent_to_dlq and m.dropped == 0,
         f"{m.dead_lettered:,} / {n_broken:,} / {len(dlq):,}, dropped {m.dropped:,}"),
        ("attempts == handler calls == expected", m.attempts == handler_calls == expected_calls,
         f"{m.attempts:,} / {handler_calls:,} / {expected_calls:,}"),
        ("retries == attempts - accepted", m.retries == m.attempts - m.accepted,
         f"{m.retries:,} vs {m.attempts - m.accepted:,}"),
        ("virtual time: last retry 60 + 120 s after accepting", virtual_s == 180.0, f"{virtual_s:g} s"),
    ]
    print_table(["check", "result", "values"], [(name, verdict(ok), values) for name, ok, values in checks])
    ok = all(ok for _, ok, _ in checks)
    print(f"  accounting {verdict(ok)}")
    return ok


# ---------------------------------------------------------------------------
# 2) thread pool


def noop() -> None:
    return None


def noop_handler(event: Any, context: Any) -> None:
    return None


def run_eventbus(n: int) -> tuple[float, bool, str]:
    """Seconds from the first invoke until ``idle()``, and whether every invocation succeeded."""
    clock = eventbus.SystemClock(workers=WORKERS)
    try:
        fn = eventbus.Function(noop_handler, name="bench-noop", clock=clock)
        payloads = [{"i": i} for i in range(n)]
        gc.collect()
        t0 = time.perf_counter()
        for payload in payloads:
            fn.invoke(payload, "Event")
        idle = clock.idle(IDLE_TIMEOUT_S)
        elapsed = time.perf_counter() - t0
        m = fn.metrics
        ok = idle and m.accepted == m.succeeded == m.attempts == n and m.pending == 0
        detail = (f"idle={idle} accepted={m.accepted:,} succeeded={m.succeeded:,} attempts={m.attempts:,} "
                  f"pending={m.pending:,}")
        return elapsed, ok, detail
    finally:
        clock.shutdown(drain=True, timeout=IDLE_TIMEOUT_S)


def run_direct(n: int) -> float:
    """Seconds to submit ``n`` no-op calls to a ThreadPoolExecutor and wait for them all."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        gc.collect()
        t0 = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(n)]
        wait(futures)
        elapsed = time.perf_counter() - t0
    return elapsed


def bench_threads(n: int) -> bool:
    print(f"\n== 2) Thread pool: {n:,} no-op calls, {WORKERS} workers, best of {REPEATS} ==")
    eb_times: list[float] = []
    direct_times: list[float] = []
    all_ok = True
    details = []
    for _ in range(REPEATS):
        elapsed, ok, detail = run_eventbus(n)
        eb_times.append(elapsed)
        all_ok = all_ok and ok
        details.append(detail)
        direct_times.append(run_direct(n))
    eb_best, direct_best = min(eb_times), min(direct_times)
    eb_rate, direct_rate = n / eb_best, n / direct_best
    rows = [
        ("eventbus: Function.invoke 'Event' on SystemClock(workers=4), until idle()", f"{eb_best:.3f}",
         " ".join(f"{t:.3f}" for t in eb_times), fmt_rate(eb_rate), f"{eb_best / n * 1e6:.1f}"),
        ("direct: ThreadPoolExecutor(max_workers=4).submit(noop), wait()", f"{direct_best:.3f}",
         " ".join(f"{t:.3f}" for t in direct_times), fmt_rate(direct_rate), f"{direct_best / n * 1e6:.1f}"),
    ]
    print_table(["path", "best s", "runs s", "calls/s", "us/call"], rows)
    print(f"  ratio eventbus / direct (throughput) = {eb_rate / direct_rate:.3f}  "
          f"(eventbus costs {eb_best / direct_best:.1f}x the time of bare submit)")
    for i, detail in enumerate(details, 1):
        print(f"  run {i}: {detail}")
    print(f"  every invocation succeeded {verdict(all_ok)}")
    return all_ok


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"{N_VIRTUAL_QUICK:,} instead of {N_VIRTUAL:,} virtual-time invocations")
    args = ap.parse_args(argv)
    logging.getLogger("eventbus").setLevel(logging.ERROR)  # one warning per dead-lettered payload otherwise

    t_start = time.perf_counter()
    print(f"# bench_delivery  eventbus {eventbus.__version__}  {platform.python_implementation()} "
          f"{platform.python_version()}  {'quick' if args.quick else 'full'}")
    print(f"# machine {platform.machine()}  cpus={os.cpu_count()}  model={cpu_model()}")
    print(f"# {platform.platform()}")

    ok_virtual = bench_virtual(N_VIRTUAL_QUICK if args.quick else N_VIRTUAL)
    ok_threads = bench_threads(N_THREADS)
    print(f"\n# total wall time {time.perf_counter() - t_start:.1f} s")
    return 0 if ok_virtual and ok_threads else 1


if __name__ == "__main__":
    raise SystemExit(main())
