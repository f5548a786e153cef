"""The pytest plugin (``pytest11`` entry point ``eventbus``): virtual time for tests.

``eventbus_clock`` is a ``ManualClock``, made the default clock for the test
(everything built without ``clock=`` runs on it: buses, targets, schedules,
pipes) and shut down after it.  ``@pytest.mark.eventbus_clock(start=...,
seed=...)`` starts it at a given time (an ISO 8601 text or a ``datetime``;
naive is UTC) with a given seed (ids and jitter); without the marker it
starts at ``ManualClock``'s default, 2024-01-01T00:00:00Z, seed 0.  The
marker is checked when the fixture is made: a bad start fails the test with
the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from .._clock import ManualClock, use_clock

__all__ = ["eventbus_clock", "pytest_configure"]

MARKER = "eventbus_clock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(start=None, seed=0): start the eventbus_clock fixture at "
                                       "`start` (ISO 8601 text or a datetime) with `seed`")


def _settings(node: Any) -> tuple[datetime | None, int | None]:
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None, 0
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keywords: start=..., seed=...")
    unknown = set(marker.kwargs) - {"start", "seed"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} has no setting {sorted(unknown)[0]!r} (start, seed)")
    start = marker.kwargs.get("start")
    if isinstance(start, str):
        try:
            start = datetime.fromisoformat(start.replace("Z", "+00:00") if start.endswith("Z") else start)
        except ValueError:
            raise pytest.UsageError(f"@pytest.mark.{MARKER}(start={start!r}): not an ISO 8601 time") from None
    return start, marker.kwargs.get("seed", 0)


@pytest.fixture
def eventbus_clock(request: pytest.FixtureRequest) -> Iterator[ManualClock]:
    """A ``ManualClock``, the default clock for the test; see the module's docstring."""
    start, seed = _settings(request.node)
    with use_clock(ManualClock(start, seed=seed)) as clock:
        yield clock
    clock.shutdown(drain=False)
