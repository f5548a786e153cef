"""Helpers several test modules share."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import eventbus


def message(call: Callable[[], Any]) -> str:
    """``Type: text`` of the exception ``call()`` raises (the text is what a test checks)."""
    try:
        call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("no error")


class ListClock(eventbus.Clock):
    """A clock built on the public contract alone: it keeps its timers in a list
    and runs nothing until a test says so (subclasses add how)."""

    def __init__(self) -> None:
        self.time = datetime(2024, 1, 1, tzinfo=UTC)
        self.timers: list[eventbus.Timer] = []
        self._closed = False

    def now(self) -> datetime:
        return self.time

    @property
    def closed(self) -> bool:
        return self._closed

    def _schedule(self, timer: eventbus.Timer) -> None:
        self.timers.append(timer)

    def run_first(self) -> None:
        """Start the oldest timer, alone (what it schedules waits)."""
        timer = self.timers.pop(0)
        timer.done = True
        timer.callback()

    def idle(self, timeout: float | None = None) -> bool:
        return not self.timers

    async def idle_async(self, timeout: float | None = None) -> bool:
        return not self.timers

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> list[eventbus.Timer]:
        self._closed = True
        return []

    async def shutdown_async(self, *, drain: bool = True, timeout: float | None = None) -> list[eventbus.Timer]:
        return self.shutdown()


def nested_lists(levels: int) -> list[object]:
    deep: list[object] = ["x"]
    for _ in range(levels - 1):
        deep = [deep]
    return deep


DEEP = -1  # for from_deep_in_the_stack: as deep as the recursion limit leaves room for
# parametrize("frames", STACK_DEPTHS): from the test's own depth, and from deep in the stack
# (skipped under mutmut, whose call wrappers multiply the frames a call takes)
STACK_DEPTHS = [pytest.param(0, id="shallow"), pytest.param(DEEP, id="deep", marks=pytest.mark.recursion_sensitive)]


def from_deep_in_the_stack(frames: int, call: Callable[[], object]) -> object:
    """``call()`` from ``frames`` calls deeper in the stack; ``DEEP``: leave only
    150 frames below the recursion limit for the call (not enough for the C JSON
    parser to read 1,000 levels, plenty for code that does not recurse)."""
    if frames == DEEP:
        depth = 0
        frame = sys._getframe()
        while frame is not None:
            depth += 1
            frame = frame.f_back  # type: ignore[assignment]
        frames = max(0, sys.getrecursionlimit() - depth - 150)
    return from_deep_in_the_stack(frames - 1, call) if frames else call()
