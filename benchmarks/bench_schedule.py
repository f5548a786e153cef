#!/usr/bin/env python3
"""Schedule benchmark: 100,000 schedules in one Scheduler, and next-fire speed against croniter and cronsim.

    python3 benchmarks/bench_schedule.py            # about 3 minutes on 2 cores
    python3 benchmarks/bench_schedule.py --quick    # 1,000 and 10,000 schedules, fewer repetitions

a) Scale: for N = 1,000 / 10,000 / 100,000 schedules (a seeded mix of rates,
   cron expressions in UTC and cron expressions in four other zones, each
   firing 12 to 24 times a day, to a plain function), in a fresh child
   process each: the time to create them, the memory they hold (tracemalloc,
   on a separate build), then virtual days on a ManualClock (one at 100,000,
   up to five for fewer): fires per day, and the median day's cost per fire.
   Target: the cost per fire at 100,000 within 1.3x of the cost at 1,000 (the
   clock's heap orders the fires; nothing scans the schedules).
b) Next fire: for equivalent expressions, the time to compute the next fire
   from a fresh start time (parse once, then one "next after t" per call) and
   to step through successive fires, for eventbus, croniter and cronsim in the
   same run (both are benchmark-only extras: pip install -e ".[bench]").
   Target: eventbus faster than both on every expression.

AWS's dialect is not Unix cron's (1 = Sunday, a ``?`` in one day field, a
year field), so each case pairs an AWS expression with the Unix expression
that means the same; the run first checks that all three engines give the
same fire times for them.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from _common import cpu_model, print_table, verdict

import eventbus

SCALE_N = (1_000, 10_000, 100_000)
COST_RATIO_TARGET = 1.3
START = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney")

# (name, AWS expression, equivalent Unix expression)
CASES = (
    ("every minute", "cron(* * * * ? *)", "* * * * *"),
    ("weekdays 9-17 every 15 min", "cron(0/15 9-17 ? * MON-FRI *)", "*/15 9-17 * * 1-5"),
    ("daily 02:30", "cron(30 2 * * ? *)", "30 2 * * *"),
    ("last day of the month", "cron(0 23 L * ? *)", "0 23 L * *"),
    ("second Tuesday", "cron(0 10 ? * 3#2 *)", "0 10 * * 2#2"),
    ("1st and 15th, 8:05", "cron(5 8 1,15 * ? *)", "5 8 1,15 * *"),
)


def schedule_mix(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` (expression, zone) pairs, each firing 12 to 24 times a day."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append((rng.choice(["rate(1 hour)", "rate(2 hours)"]), "UTC"))
        elif kind == 1:
            out.append((f"cron({rng.randrange(60)} 0/{rng.choice([1, 2])} * * ? *)", "UTC"))
        else:
            out.append((f"cron({rng.randrange(60)} * ? * SUN-SAT *)" if rng.random() < 0.5
                        else f"cron({rng.randrange(60)} 0/2 * * ? *)", rng.choice(ZONES)))
    return out


def scale_child(n: int) -> dict[str, Any]:
    """Run in a fresh process: create ``n`` schedules, then fire one virtual day."""
    mix = schedule_mix(n)
    fired = [0]

    def target(payload: Any) -> None:
        fired[0] += 1

    # memory: one build under tracemalloc (which slows every allocation, so it is not timed) ...
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    clock = eventbus.ManualClock(START)
    scheduler = eventbus.Scheduler(clock=clock)
    for i, (expression, zone) in enumerate(mix):
        scheduler.create_schedule(f"s{i}", expression, target, timezone=zone)
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del clock, scheduler
    gc.collect()
    # ... then a timed build, and its day
    clock = eventbus.ManualClock(START)
    scheduler = eventbus.Scheduler(clock=clock)
    started = time.perf_counter()
    for i, (expression, zone) in enumerate(mix):
        scheduler.create_schedule(f"s{i}", expression, target, timezone=zone)
    create_s = time.perf_counter() - started
    clock.advance(0)  # the rates' fires at creation
    # one virtual day at a time: as many days as make about 100,000 schedule-days (a
    # short day is noisy), and the median day's cost per fire
    days = max(1, min(5, 100_000 // n))
    costs, fires, day_s = [], 0, 0.0
    for _ in range(days):
        fired[0] = 0
        gc.collect()
        gc.disable()  # (the collector's pauses grow with the heap: they are not the scheduler's cost)
        started = time.perf_counter()
        clock.advance(timedelta(days=1))
        elapsed = time.perf_counter() - started
        gc.enable()
        costs.append(elapsed / fired[0])
        fires, day_s = fired[0], elapsed
    costs.sort()
    return {"n": n, "create_s": create_s, "held_bytes": held, "fires": fires,
            "day_s": day_s, "per_fire_s": costs[len(costs) // 2], "days": days}


def run_scale(ns: tuple[int, ...]) -> bool:
    print("a) Scale: schedules in one Scheduler, one virtual day (ManualClock), each N in a fresh process")
    rows, results = [], {}
    for n in ns:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results[n] = r
        rows.append([f"{n:,}", f"{r['create_s']:.2f}", f"{r['create_s'] / n * 1e6:.1f}",
                     f"{r['held_bytes'] / n / 1e3:.2f}", f"{r['fires']:,}", f"{r['day_s']:.2f}",
                     f"{r['per_fire_s'] * 1e6:.2f} ({r['days']} days)"])
    print_table(["schedules", "create s", "us/create", "KB/schedule", "fires/day", "day s", "us/fire (median day)"],
                rows)
    print("  (KB/schedule: tracemalloc, a separate build; the timed build runs without it)")
    low, high = min(ns), max(ns)
    ratio = results[high]["per_fire_s"] / results[low]["per_fire_s"]
    ok = ratio <= COST_RATIO_TARGET
    print(f"  cost per fire at {high:,} / at {low:,}: {ratio:.2f} (target <= {COST_RATIO_TARGET}): {verdict(ok)}")
    print()
    return ok


def _timed(fn: Any, min_s: float) -> float:
    """Seconds per call of ``fn`` (best of 3 runs of at least ``min_s`` each)."""
    best = float("inf")
    for _ in range(3):
        calls, started = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= min_s:
                break
        best = min(best, elapsed / calls)
    return best


def run_next_fire(min_s: float) -> bool:
    try:
        import croniter as croniter_module
        import cronsim as cronsim_module
    except ImportError:
        print("b) Next fire: croniter and cronsim are not installed (pip install -e \".[bench]\"): skipped")
        return True
    croniter = croniter_module.croniter
    cronsim = cronsim_module.CronSim
    from importlib.metadata import version
    print(f"b) Next fire against croniter {version('croniter')} and cronsim {version('cronsim')} "
          f"(UTC, one run; us per call, best of 3)")
    rng = random.Random(3)
    starts = [START + timedelta(minutes=rng.randrange(0, 2 * 365 * 1440)) for _ in range(500)]
    steps = 200
    rows, ok = [], True
    for name, aws, unix in CASES:
        ours = eventbus.parse_schedule_expression(aws)
        # the three agree, or the comparison means nothing
        for at in starts[:20]:
            a = list(islice(ours.fire_times(at), 5))
            b = list(islice(croniter(unix, at).all_next(datetime), 5))
            c = list(islice(cronsim(unix, at), 5))
            assert a == b == c, (name, at, a, b, c)
        it = iter(range(10**12))

        def cold_ours(ours: Any = ours, it: Any = it) -> None:
            ours.next_fire_time(starts[next(it) % len(starts)])

        def cold_croniter(unix: str = unix, it: Any = it) -> None:
            croniter(unix, starts[next(it) % len(starts)]).get_next(datetime)

        def cold_cronsim(unix: str = unix, it: Any = it) -> None:
            next(cronsim(unix, starts[next(it) % len(starts)]))

        def walk_ours(ours: Any = ours) -> None:
            for _ in islice(ours.fire_times(START), steps):
                pass

        def walk_croniter(unix: str = unix) -> None:
            for _ in islice(croniter(unix, START).all_next(datetime), steps):
                pass

        def walk_cronsim(unix: str = unix) -> None:
            for _ in islice(cronsim(unix, START), steps):
                pass

        cold = [_timed(f, min_s) * 1e6 for f in (cold_ours, cold_croniter, cold_cronsim)]
        walk = [_timed(f, min_s) / steps * 1e6 for f in (walk_ours, walk_croniter, walk_cronsim)]
        case_ok = cold[0] < min(cold[1:]) and walk[0] < min(walk[1:])
        ok = ok and case_ok
        rows.append([name, f"{cold[0]:.1f}", f"{cold[1]:.1f}", f"{cold[2]:.1f}",
                     f"{cold[1] / cold[0]:.1f}x / {cold[2] / cold[0]:.1f}x",
                     f"{walk[0]:.2f}", f"{walk[1]:.2f}", f"{walk[2]:.2f}",
                     f"{walk[1] / walk[0]:.1f}x / {walk[2] / walk[0]:.1f}x", verdict(case_ok)])
    print_table(["expression", "next: eventbus", "croniter", "cronsim", "speed-up", "step: eventbus", "croniter",
                 "cronsim", "speed-up", ""], rows)
    print("  next: parse done once, then the first fire after a new start time; step: successive fires of one "
          "iterator")
    print(f"  eventbus faster than both on every expression: {verdict(ok)}")
    print()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 schedules; shorter timings")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(scale_child(args.child)))
        return 0
    print(f"eventbus {eventbus.__version__} | Python {platform.python_version()} | {platform.system()} "
          f"{platform.release()} | {cpu_model()}")
    print()
    ok = run_scale(SCALE_N[:2] if args.quick else SCALE_N)
    ok = run_next_fire(0.05 if args.quick else 0.2) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
