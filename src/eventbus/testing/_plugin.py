"""The pytest plugin (``pytest11`` entry point ``eventbus``): virtual time, a world, boto3.

``eventbus_world`` is an ``eventbus.World`` on the test's ``eventbus_clock``
(``world.advance(minutes=5)`` moves it).  ``eventbus_aws`` is the same world
with boto3 answered from it (``mock_aws``) for the test.

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
from .._world import World

__all__ = ["eventbus_aws", "eventbus_clock", "eventbus_world", "pytest_configure"]

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


@pytest.fixture
def eventbus_world(eventbus_clock: ManualClock) -> World:
    """An ``eventbus.World`` (one account and region) on ``eventbus_clock``."""
    return World(clock=eventbus_clock)


@pytest.fixture
def eventbus_aws(eventbus_world: World) -> Iterator[World]:
    """``eventbus_world``, with boto3's events, scheduler, pipes, lambda and sqs
    clients answered from it for the test (``eventbus.testing.mock_aws``; needs
    boto3: the ``testing`` extra)."""
    from ._mock import mock_aws  # (boto3 is imported only by tests that ask for it)

    with mock_aws(eventbus_world):
        yield eventbus_world
