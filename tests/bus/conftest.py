from __future__ import annotations

from collections.abc import Iterator

import pytest

import eventbus


@pytest.fixture
def clock() -> Iterator[eventbus.ManualClock]:
    with eventbus.use_clock(eventbus.ManualClock()) as clock:
        yield clock


@pytest.fixture
def bus(clock: eventbus.ManualClock) -> eventbus.EventBus:
    return eventbus.EventBus(clock=clock)
