#!/usr/bin/env python3
"""Scaling benchmark for eventbus: compile cost, throughput against rule count, wildcard linearity.

    python3 benchmarks/bench_scaling.py            # about 30 s on 2 cores
    python3 benchmarks/bench_scaling.py --quick    # fewer repetitions

a) Compile: wall time and memory to add 10,000 rules to one RuleIndex
   (targets: under 2 s and under 200 MB).
b) Throughput: events/s at N = 1 ... 10,000 rules, and events/s(1000) / events/s(10)
   (target: at least 0.25).
c) Wildcards: time per match of adversarial wildcard patterns against values of
   length L = 1,000 / 10,000 / 100,000; time(10 L) / time(L) must stay near 10
   (target: at most 15), i.e. matching is linear in the value's length.

The rules and events are the seeded "full" workload (all operators) of the
shared peer harness, ../shared/bench/peers_match.py, so the figures compare
with its output.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import cpu_model, fmt_rate, print_table, verdict

import eventbus

SHARED_BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"

N_RULES = 10_000
N_EVENTS = 2_000
N_LIST = (1, 10, 100, 1_000, 10_000)
LENGTHS = (100_000, 1_000_000, 10_000_000)  # long enough that scanning, not call overhead, is timed
MIN_MEASURE_S = 0.05  # each timed wildcard measurement lasts at least this long

COMPILE_TARGET_S = 2.0
MEMORY_TARGET_MB = 200.0
SCALING_TARGET = 0.25  # events/s(1000) / events/s(10)
LINEAR_TARGET = 15.0  # time(10 L) / time(L)

MB = 1_000_000


@dataclass(frozen=True)
class WildcardCase:
    """One field matcher, and the value it is timed against: ``filler`` repeated to length L, then ``tail``."""

    label: str
    matcher: dict[str, Any]
    filler: str = "a"
    tail: str = ""

    def value(self, length: int) -> str:
        body = self.filler * (length // len(self.filler) + 1)
        return body[: length - len(self.tail)] + self.tail


# Worst cases for a backtracking matcher: the value almost matches, then fails.
# Patterns ending in a literal are decided by the suffix alone for a "aaa..." value;
# "a*a*b*" and "*a*a*c*b" (value "aaa...ab") force a scan of the whole value.
WILDCARD_CASES = (
    WildcardCase("*a*a*a*a*b", {"wildcard": "*a*a*a*a*b"}),
    WildcardCase("*ab*ab*ab*c", {"wildcard": "*ab*ab*ab*c"}, filler="ab"),
    WildcardCase("*ab*ab*c", {"wildcard": "*ab*ab*c"}, filler="ab"),
    WildcardCase("*a*a*b", {"wildcard": "*a*a*b"}),
    WildcardCase("a*a*b*", {"wildcard": "a*a*b*"}),
    WildcardCase("*aaaa*b", {"wildcard": "*aaaa*b"}),
    WildcardCase("*a*a*c*b", {"wildcard": "*a*a*c*b"}, tail="b"),
    WildcardCase("*ab*c (scans all)", {"wildcard": "*ab*c"}, tail="c"),
    WildcardCase("*b*ba*c (scans all)", {"wildcard": "*b*ba*c"}, tail="c"),
    WildcardCase("anything-but *a*a*b", {"anything-but": {"wildcard": "*a*a*b"}}),
    WildcardCase("anything-but *a*a*c*b", {"anything-but": {"wildcard": "*a*a*c*b"}}, tail="b"),
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def load_harness() -> ModuleType:
    """The shared peer harness, which makes the seeded workload."""
    if not (SHARED_BENCH / "peers_match.py").is_file():
        sys.exit(f"error: {SHARED_BENCH / 'peers_match.py'} not found (the shared bench directory)")
    sys.path.insert(0, str(SHARED_BENCH))
    return importlib.import_module("peers_match")


def maxrss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int | None:
    """Current resident set size (Linux only)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} us"
    return f"{s * 1e9:.0f} ns"


def build_index(texts: Sequence[str]) -> eventbus.RuleIndex:
    index = eventbus.RuleIndex()
    for rule_id, text in enumerate(texts):
        index.add(rule_id, text)
    return index


def best_time(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Shortest of ``repeat`` timings of ``number`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best


def calibrate(fn: Callable[[], object]) -> int:
    """A call count (1, 2, 5, 10, 20, ...) whose run lasts at least MIN_MEASURE_S."""
    number = 1
    while True:
        for step in (1, 2, 5):
            n = number * step
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= MIN_MEASURE_S:
                return n
        number *= 10


# ---------------------------------------------------------------------------
# the three benchmarks
# ---------------------------------------------------------------------------


def bench_compile(texts: Sequence[str]) -> eventbus.RuleIndex:
    print(f"\n## a) Compile: {len(texts):,} rules into one RuleIndex (pattern texts made beforehand)")
    # 1. wall time and RSS, without tracemalloc (which slows allocation down)
    gc.collect()
    rss_peak0, rss_now0 = maxrss_bytes(), current_rss_bytes()
    t0 = time.perf_counter()
    index = build_index(texts)
    wall = time.perf_counter() - t0
    rss_peak1, rss_now1 = maxrss_bytes(), current_rss_bytes()

    # 2. the same build again under tracemalloc, for exact Python-heap figures
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    traced = build_index(texts)
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    gc.collect()

    peak_mb, retained_mb = (peak - base) / MB, (after - base) / MB
    rss_growth_mb = (rss_peak1 - rss_peak0) / MB
    rows: list[tuple[object, ...]] = [
        ("wall time to add all rules", f"{wall:.2f} s", f"< {COMPILE_TARGET_S:g} s", verdict(wall < COMPILE_TARGET_S)),
        ("tracemalloc peak during build", f"{peak_mb:.1f} MB", f"< {MEMORY_TARGET_MB:g} MB",
         verdict(peak_mb < MEMORY_TARGET_MB)),
        ("tracemalloc retained by the index", f"{retained_mb:.1f} MB", f"< {MEMORY_TARGET_MB:g} MB",
         verdict(retained_mb < MEMORY_TARGET_MB)),
        ("RSS growth (ru_maxrss)", f"{rss_growth_mb:.1f} MB", f"< {MEMORY_TARGET_MB:g} MB",
         verdict(rss_growth_mb < MEMORY_TARGET_MB)),
    ]
    if rss_now0 is not None and rss_now1 is not None:
        rows.append(("RSS growth (current, /proc/self/statm)", f"{(rss_now1 - rss_now0) / MB:.1f} MB", "-", "-"))
    print_table(("measure", "value", "target", "result"), rows)
    print(f"  rules in the index: {len(index):,}; per rule: {wall / len(texts) * 1e6:.0f} us, "
          f"{(after - base) / len(texts) / 1e3:.1f} kB retained")
    print("  ru_maxrss is a high-water mark: memory freed earlier in the process and reused hides part of the growth")
    return index


def bench_throughput(texts: Sequence[str], events: Sequence[dict[str, Any]], full_index: eventbus.RuleIndex,
                     passes: int) -> None:
    print(f"\n## b) Matching throughput against rule count: best of {passes} passes over {len(events):,} events "
          "(dicts), RuleIndex.match")
    rates: dict[int, float] = {}
    rows = []
    for n in N_LIST:
        index = full_index if n == len(full_index) else build_index(texts[:n])
        match = index.match
        matched = sum(len(match(event)) for event in events)  # also warms the per-shape caches
        best = float("inf")
        for _ in range(passes):
            t0 = time.perf_counter()
            for event in events:
                match(event)
            best = min(best, time.perf_counter() - t0)
        rates[n] = len(events) / best
        rows.append((f"{n:,}", fmt_rate(rates[n]), fmt_rate(rates[n] * n), fmt_time(best / len(events)),
                     f"{matched / (len(events) * n):.2%}"))
    print_table(("N rules", "events/s", "evals/s", "per event", "match%"), rows)
    ratio = rates[1_000] / rates[10]
    print(f"  events/s(1000) / events/s(10) = {ratio:.3f}  (target >= {SCALING_TARGET})  "
          f"{verdict(ratio >= SCALING_TARGET)}")


def bench_wildcards(repeat: int) -> None:
    lengths = ", ".join(f"{n:,}" for n in LENGTHS)
    print(f"\n## c) Wildcard matching time against value length L = {lengths} "
          f"(best of {repeat}, each measurement >= {MIN_MEASURE_S} s)")
    rows = []
    refused = []
    worst = 0.0
    for case in WILDCARD_CASES:
        try:
            pattern = eventbus.compile_pattern({"v": [case.matcher]})
        except eventbus.InvalidEventPatternError as exc:
            rows.append((case.label, "-", *("-" for _ in LENGTHS), *("-" for _ in LENGTHS[1:]), "refused"))
            refused.append(f"{case.label}: {exc}")
            continue
        times = []
        answers = set()
        for length in LENGTHS:
            event = {"v": case.value(length)}

            def run(pattern: eventbus.EventPattern = pattern, event: dict[str, str] = event) -> bool:
                return pattern.matches(event)

            answers.add(run())
            number = calibrate(run)
            times.append(best_time(run, number, repeat) / number)
        ratios = [b / a for a, b in zip(times, times[1:], strict=False)]
        worst = max(worst, *ratios)
        rows.append((case.label, "/".join(sorted(map(str, answers))), *(fmt_time(t) for t in times),
                     *(f"{r:.2f}" for r in ratios), verdict(max(ratios) <= LINEAR_TARGET)))
    headers = ["pattern", "match", *(f"L={n:,}" for n in LENGTHS),
               *(f"{b:.0e}/{a:.0e}" for a, b in zip(LENGTHS, LENGTHS[1:], strict=False)), "result"]
    print_table(headers, rows)
    for line in refused:
        print(f"  refused (not timed) {line}")
    print("  value: 'a' * L ('ab' repeated for the *ab* patterns; ending in 'b' where the pattern's tail is '*b' "
          "after a 'c' that never comes)")
    print(f"  worst time(10 L) / time(L) = {worst:.2f}  (target <= {LINEAR_TARGET:g}, ~10 = linear, ~1 = constant)  "
          f"{verdict(worst <= LINEAR_TARGET)}")


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (about half the time)")
    args = ap.parse_args(argv)
    passes = 2 if args.quick else 5
    repeat = 3 if args.quick else 5

    t_start = time.perf_counter()
    print(f"# bench_scaling  eventbus {eventbus.__version__}  {platform.python_implementation()} "
          f"{platform.python_version()}  {'quick' if args.quick else 'full'}")
    print(f"# machine {platform.machine()}  cpus={os.cpu_count()}  processor={platform.processor() or '?'}  "
          f"model={cpu_model()}")
    print(f"# {platform.platform()}")

    pm = load_harness()
    rules, events = pm.make_workload("full", list(pm.ALL_OPS), N_RULES, N_EVENTS, pm.SEED)
    texts = [json.dumps(pattern) for pattern, _ in rules]
    print(f"# workload: 'full' from {SHARED_BENCH / 'peers_match.py'}, seed {pm.SEED}, "
          f"{len(texts):,} rules, {len(events):,} events")

    index = bench_compile(texts)
    bench_throughput(texts, events, index, passes)
    del index
    gc.collect()
    bench_wildcards(repeat)
    print(f"\n# total wall time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
