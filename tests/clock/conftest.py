"""One way to drive each clock from a synchronous test, for the shared contract tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from eventbus import AsyncioClock, Clock, ManualClock, SystemClock


class LoopThread:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Harness:
    """A clock, and how to let time pass on it (``settle``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop: LoopThread | None = None
        self.clock: Clock
        if kind == "manual":
            self.clock = ManualClock()
        elif kind == "system":
            self.clock = SystemClock(workers=4)
        else:
            self.loop = LoopThread()

            async def make() -> AsyncioClock:
                return AsyncioClock()

            self.clock = self.loop.run(make())

    def settle(self, seconds: float = 0.0) -> None:
        """Let ``seconds`` pass, then wait until what is due has run."""
        if isinstance(self.clock, ManualClock):
            self.clock.advance(seconds)
            return
        if seconds:
            time.sleep(seconds)
        assert self.clock.idle(timeout=10)

    def wait_for(self, condition: Callable[[], bool], seconds: float = 10) -> bool:
        """Real clocks: poll until ``condition()`` (or give up); virtual: run everything first."""
        if isinstance(self.clock, ManualClock):
            self.clock.run_until_idle()
            return condition()
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        if not self.clock.closed:
            self.clock.shutdown(drain=False)
        if self.loop is not None:
            self.loop.close()


@pytest.fixture(params=["manual", "system", "asyncio"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(request.param)
    try:
        yield h
    finally:
        h.close()
