#!/usr/bin/env python3
"""Scaling benchmark for eventbus: 100,000 rules, throughput against rule count, wildcard linearity.

    python3 benchmarks/bench_scaling.py            # about 5 minutes on 2 cores
    python3 benchmarks/bench_scaling.py --quick    # 1,000 and 10,000 rules only, fewer repetitions

a) Scale: for each operator kind on its own (distinct values: exact, prefix,
   suffix, equals-ignore-case, numeric, cidr, wildcard, anything-but, exists
   on distinct paths) and for the shared harness's two mixed workloads, at
   1,000 / 10,000 / 100,000 rules: build time (``RuleIndex(rules)``, pattern
   texts made beforehand), memory retained (tracemalloc), RSS growth, memory
   and time per rule, and the match rate for events given as JSON text.
   Each (kind, N) is measured in a fresh child process, so RSS is its own.
   Targets: 100,000 mixed rules built in under 5 s; 100,000 distinct exact
   rules in under 150 MB; per rule, memory at 100,000 within 1.25x and build
   time within 1.5x of the figures at 10,000.
b) JSON text: at N = 1, RuleIndex.match(text) against bare json.loads(text)
   on the same events, in the same run (target: at least 60% of its rate).
c) Throughput: events/s at N = 1 ... 10,000 rules, and events/s(1000) /
   events/s(10) (target: at least 0.25).
d) Wildcards: time per match of adversarial wildcard patterns against values
   of length L = 1,000 / 10,000 / 100,000; time(10 L) / time(L) must stay
   near 10 (target: at most 15), i.e. matching is linear in the value's length.

The mixed rules and the events are the seeded workloads of the shared peer
harness, ../shared/bench/peers_match.py, so the figures compare with its
output.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import subprocess
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
SCALE_N = (1_000, 10_000, 100_000)
SCALE_EVENTS = 500
KINDS = ("exact", "prefix", "suffix", "equals-ignore-case", "numeric", "cidr", "wildcard", "anything-but",
         "exists", "mixed-common", "mixed-full")

MIXED_BUILD_TARGET_S = 5.0  # 100,000 mixed rules
EXACT_MEMORY_TARGET_MB = 150.0  # 100,000 distinct exact rules
MEMORY_RATIO_TARGET = 1.25  # per rule, 100,000 against 10,000
TIME_RATIO_TARGET = 1.5
JSON_RATE_TARGET = 0.60  # match(text) rate / json.loads(text) rate at N = 1
N_LIST = (1, 10, 100, 1_000, 10_000)
LENGTHS = (100_000, 1_000_000, 10_000_000)  # long enough that scanning, not call overhead, is timed
MIN_MEASURE_S = 0.05  # each timed wildcard measurement lasts at least this long

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
    return eventbus.RuleIndex(enumerate(texts))


def best_time(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Shortest of ``repeat`` timings of ``number`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best


def best_pass(fn: Callable[[Any], object], items: Sequence[Any], passes: int) -> float:
    """Shortest time of ``passes`` passes calling ``fn`` on every item."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
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


def kind_rule(kind: str, i: int) -> dict[str, Any]:
    """Rule ``i`` of one operator kind: every rule has its own value."""
    if kind == "exact":
        return {"source": [f"app.{i}"]}
    if kind == "prefix":
        return {"detail": {"key": [{"prefix": f"tenant-{i}/"}]}}
    if kind == "suffix":
        return {"detail": {"key": [{"suffix": f".{i}.log"}]}}
    if kind == "equals-ignore-case":
        return {"detail": {"user": [{"equals-ignore-case": f"User-{i}"}]}}
    if kind == "numeric":
        return {"detail": {"n": [{"numeric": [">", i, "<=", i + 100]}]}}
    if kind == "cidr":
        return {"detail": {"ip": [{"cidr": f"{10 + i // 65536}.{i // 256 % 256}.{i % 256}.0/24"}]}}
    if kind == "wildcard":
        return {"detail": {"key": [{"wildcard": f"tenant-{i}/*.png"}]}}
    if kind == "anything-but":
        return {"source": [f"app.{i % 1000}"], "detail": {"state": [{"anything-but": [f"s{i}", f"t{i}"]}]}}
    if kind == "exists":  # a path of its own per rule
        return {"detail": {f"field{i}": [{"exists": True}]}}
    raise ValueError(kind)


def kind_event(kind: str, j: int) -> dict[str, Any]:
    """An event that one rule of the kind (rule ``j``) matches."""
    detail = {"key": f"tenant-{j}/x.{j}.log", "user": f"user-{j}", "n": j + 50,
              "ip": f"{10 + j // 65536}.{j // 256 % 256}.{j % 256}.7", "state": f"s{j}", f"field{j}": 1}
    if kind == "wildcard":
        detail["key"] = f"tenant-{j}/img.png"
    return {"source": f"app.{j % 1000 if kind == 'anything-but' else j}", "detail-type": "t", "detail": detail}


def workload(kind: str, n: int, n_events: int) -> tuple[list[str], list[str]]:
    """Pattern texts and event texts for one (kind, N)."""
    if kind.startswith("mixed-"):
        pm = load_harness()
        name = kind.removeprefix("mixed-")
        menu = list(pm.ALL_OPS) if name == "full" else [op for op in pm.ALL_OPS if op in COMMON_OPS]
        rules, events = pm.make_workload(name, menu, n, n_events, pm.SEED)
        return [json.dumps(pattern) for pattern, _ in rules], [json.dumps(e) for e in events]
    step = max(1, n // n_events)
    return ([json.dumps(kind_rule(kind, i)) for i in range(n)],
            [json.dumps(kind_event(kind, j)) for j in range(0, n, step)][:n_events])


# The harness's "common" workload holds the operators every peer it runs supports;
# with no peers that is all of them, so this names a fixed everyday subset.
COMMON_OPS = ("exact", "exact-number", "prefix", "anything-but", "numeric", "exists-true", "nested", "$or")


def measure_one(kind: str, n: int) -> dict[str, float]:
    """Run in a child process: build, memory, match rate for one (kind, N)."""
    texts, events = workload(kind, n, SCALE_EVENTS)
    pairs = list(enumerate(texts))
    gc.collect()
    rss0 = current_rss_bytes() or 0
    t0 = time.perf_counter()
    index = eventbus.RuleIndex(pairs)
    index.match(events[0])  # the first match finishes the deferred work: part of the build
    build = time.perf_counter() - t0
    rss1 = current_rss_bytes() or 0
    matched = sum(len(index.match(e)) for e in events)  # warms the caches
    best = best_pass(index.match, events, 3)
    del index
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    traced = eventbus.RuleIndex(pairs)
    traced.match(events[0])
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"build_s": build, "retained_b": retained, "rss_b": rss1 - rss0, "rate": len(events) / best,
            "matched": matched / len(events)}


def bench_scale(sizes: Sequence[int]) -> None:
    print(f"\n## a) Scale: build time, memory and JSON-text match rate at N = {', '.join(f'{n:,}' for n in sizes)} "
          "(each in a fresh process)")
    rows = []
    checks: list[tuple[str, bool]] = []
    for kind in KINDS:
        found: dict[int, dict[str, float]] = {}
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--one", kind, str(n)], check=True,
                                 capture_output=True, text=True).stdout
            found[n] = json.loads(out.strip().splitlines()[-1])
            r = found[n]
            rows.append((kind, f"{n:,}", f"{r['build_s']:.2f} s", f"{r['build_s'] / n * 1e6:.1f} us",
                         f"{r['retained_b'] / MB:.1f} MB", f"{r['retained_b'] / n:,.0f} B", f"{r['rss_b'] / MB:.1f} MB",
                         fmt_rate(r["rate"]), f"{r['matched']:.1f}"))
        if 10_000 in found and 100_000 in found:
            small, big = found[10_000], found[100_000]
            mem_ratio = (big["retained_b"] / 100_000) / (small["retained_b"] / 10_000)
            time_ratio = (big["build_s"] / 100_000) / (small["build_s"] / 10_000)
            rows.append((kind, "100k/10k", "", f"x{time_ratio:.2f}", "", f"x{mem_ratio:.2f}", "", "", ""))
            checks.append((f"{kind}: memory per rule at 100k / at 10k = {mem_ratio:.2f} "
                           f"(<= {MEMORY_RATIO_TARGET})", mem_ratio <= MEMORY_RATIO_TARGET))
            checks.append((f"{kind}: build time per rule at 100k / at 10k = {time_ratio:.2f} "
                           f"(<= {TIME_RATIO_TARGET})", time_ratio <= TIME_RATIO_TARGET))
            if kind.startswith("mixed-"):
                checks.append((f"{kind}: 100,000 rules built in {big['build_s']:.2f} s (< {MIXED_BUILD_TARGET_S:g} s)",
                               big["build_s"] < MIXED_BUILD_TARGET_S))
            if kind == "exact":
                checks.append((f"exact: 100,000 rules retain {big['retained_b'] / MB:.1f} MB "
                               f"(< {EXACT_MEMORY_TARGET_MB:g} MB)", big["retained_b"] / MB < EXACT_MEMORY_TARGET_MB))
    print_table(("kind", "N rules", "build", "per rule", "retained", "per rule", "RSS growth", "events/s (JSON)",
                 "matches/event"), rows)
    print("  retained: tracemalloc after the build and a first match; RSS growth: /proc/self/statm over the build")
    for label, ok in checks:
        print(f"  {label}  {verdict(ok)}")


def bench_json_text(texts: Sequence[str], events: Sequence[dict[str, Any]], repeat: int) -> None:
    print("\n## b) Event JSON text at N = 1: RuleIndex.match(text) against bare json.loads(text), same events")
    payloads = [json.dumps(e) for e in events]
    index = eventbus.RuleIndex([(0, texts[0])])

    loads = len(payloads) / best_pass(json.loads, payloads, repeat)
    match = len(payloads) / best_pass(index.match, payloads, repeat)
    print_table(("call", "events/s"),
                [("json.loads(text)", fmt_rate(loads)), ("RuleIndex.match(text)", fmt_rate(match))])
    print(f"  match(text) / json.loads(text) = {match / loads:.2f}  (target >= {JSON_RATE_TARGET})  "
          f"{verdict(match / loads >= JSON_RATE_TARGET)}")


def bench_throughput(texts: Sequence[str], events: Sequence[dict[str, Any]], passes: int) -> None:
    print(f"\n## c) Matching throughput against rule count: best of {passes} passes over {len(events):,} events "
          "(dicts), RuleIndex.match")
    rates: dict[int, float] = {}
    rows = []
    for n in N_LIST:
        index = build_index(texts[:n])
        match = index.match
        matched = sum(len(match(event)) for event in events)  # also warms the per-shape caches
        best = best_pass(match, events, passes)
        rates[n] = len(events) / best
        rows.append((f"{n:,}", fmt_rate(rates[n]), fmt_rate(rates[n] * n), fmt_time(best / len(events)),
                     f"{matched / (len(events) * n):.2%}"))
    print_table(("N rules", "events/s", "evals/s", "per event", "match%"), rows)
    ratio = rates[1_000] / rates[10]
    print(f"  events/s(1000) / events/s(10) = {ratio:.3f}  (target >= {SCALING_TARGET})  "
          f"{verdict(ratio >= SCALING_TARGET)}")


def bench_wildcards(repeat: int) -> None:
    lengths = ", ".join(f"{n:,}" for n in LENGTHS)
    print(f"\n## d) Wildcard matching time against value length L = {lengths} "
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
    ap.add_argument("--quick", action="store_true", help="1,000 and 10,000 rules only, fewer repetitions")
    ap.add_argument("--one", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)  # a child process's part
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return 0
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

    bench_scale(SCALE_N[:2] if args.quick else SCALE_N)
    bench_json_text(texts, events, repeat)
    bench_throughput(texts, events, passes)
    gc.collect()
    bench_wildcards(repeat)
    print(f"\n# total wall time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
