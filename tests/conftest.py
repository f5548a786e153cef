from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Derandomised in CI so a red build can be reproduced; random locally.
settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Under mutmut every surviving mutant runs the tests that cover it: fewer examples keep a run to minutes.
settings.register_profile("mutmut", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# A long random search for a scheduled or manual run: HYPOTHESIS_PROFILE=random pytest tests/pattern
settings.register_profile("random", derandomize=False, max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ
settings.load_profile("mutmut" if UNDER_MUTMUT else os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))

CONFORMANCE = Path(__file__).parent / "conformance"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """mutmut's instrumentation records every call and wraps it in two more: tests
    that measure memory or need the stack's depth cannot run under it."""
    # EVENTBUS_MUTMUT_ALL=1 runs them anyway: for re-checking, by hand, the few mutants
    # only those tests can kill (the all-of-Unicode folding check, deep stacks).
    if UNDER_MUTMUT and not os.environ.get("EVENTBUS_MUTMUT_ALL"):
        skip = pytest.mark.skip(reason="measures memory or stack depth, or makes millions of calls: "
                                       "mutmut's instrumentation distorts or slows them beyond use")
        for item in items:
            if any(item.get_closest_marker(name) for name in ("measures_memory", "recursion_sensitive",
                                                              "slow_under_mutmut")):
                item.add_marker(skip)


def load_vectors(name: str) -> list[dict[str, Any]]:
    """AWS-verified vectors (copied from ../shared/conformance, see NOTICE)."""
    with (CONFORMANCE / name).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(autouse=True)
def _recursion_limit_restored() -> Iterator[None]:
    """A test that runs mypy in process leaves Python's recursion limit at mypy's
    2**14; tests of what is too deep to read depend on the default."""
    limit = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(limit)


@pytest.fixture
def nats_prefixes() -> Iterator[list[str]]:
    """Prefixes a test opens NATS stores on (skipped, saying how to start a server, if
    none answers): their buckets and streams are deleted after it."""
    from tests.store.test_contract import NO_NATS, drop_buckets, nats_answers

    if not nats_answers():
        pytest.skip(NO_NATS)
    prefixes: list[str] = []
    yield prefixes
    for prefix in prefixes:
        drop_buckets(prefix)
