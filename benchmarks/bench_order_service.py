#!/usr/bin/env python3
"""The sample order service's test suite under moto and under eventbus, side by side.

    pip install -e ".[testing,bench]"            # boto3, and moto[events] for the comparison
    python3 benchmarks/bench_order_service.py     # each suite 3 times; about 30 s

``examples/order_service`` holds one application and its test suite written
twice: ``tests_moto`` (moto's ``mock_aws``; the tests moto fails are marked
``xfail(strict=True)`` with what moto does instead) and ``tests_eventbus``
(``eventbus.testing.mock_aws``; the same assertions, only the helpers that
pass time differ).  This runs each suite in its own pytest process, with
``--runxfail`` so every assertion is judged, and prints per question whether
it passes under each, and each suite's wall time (best of 3, same run) and
their ratio.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import cpu_model, print_table

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"moto": "examples/order_service/tests_moto", "eventbus": "examples/order_service/tests_eventbus"}


def run(suite: str) -> tuple[float, dict[str, str]]:
    """One pytest run of ``suite``: its wall time and each test's outcome."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", SUITES[suite], "-q", "-p", "no:cacheprovider", "--runxfail",
                        f"--junitxml={report}"], cwd=ROOT, capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        outcomes: dict[str, str] = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            failed = case.find("failure") is not None or case.find("error") is not None
            outcomes[case.attrib["name"].removeprefix("test_")] = "fails" if failed else "passes"
        return elapsed, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import moto  # noqa: F401
    except ImportError:
        sys.exit("moto is not installed: pip install -e '.[testing,bench]'")
    print(f"# {cpu_model()}, Python {platform.python_version()}, {args.repeat} runs of each suite")
    times: dict[str, float] = {}
    outcomes: dict[str, dict[str, str]] = {}
    for _ in range(args.repeat):
        for suite in SUITES:
            elapsed, found = run(suite)
            times[suite] = min(times.get(suite, elapsed), elapsed)
            outcomes[suite] = found
    questions = list(outcomes["eventbus"])
    rows = [[question.replace("_", " "), outcomes["moto"].get(question, "absent"), outcomes["eventbus"][question]]
            for question in questions]
    print_table(["question", "moto", "eventbus"], rows)
    passing = {suite: sum(v == "passes" for v in found.values()) for suite, found in outcomes.items()}
    print()
    print_table(["suite", "passes", "wall time (best)"],
                [[suite, f"{passing[suite]}/{len(outcomes[suite])}", f"{times[suite]:.2f} s"] for suite in SUITES])
    print(f"\neventbus / moto wall time: {times['eventbus'] / times['moto']:.2f}x")


if __name__ == "__main__":
    main()
