"""Recursive work on a fresh stack: for the rare caller already deep in its own.

``json`` and the pattern compiler recurse once per level of nesting.  A value
within the library's depth limits can still hit Python's recursion limit when
the caller is itself deep in its stack; running the work again on a new
thread, whose stack starts empty, keeps the limits the same for every caller.
Rare, so the usual path costs nothing.  Standard library only: the matcher
core and the delivery runtime both use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["deep", "on_a_fresh_stack"]

T = TypeVar("T")


def on_a_fresh_stack(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` on a new thread's stack; its result, or its error raised here."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, function(*args)))
        except BaseException as exc:  # handed back to the caller below
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="eventbus-fresh-stack")
    worker.start()
    worker.join()
    done, result = outcome[0]
    if not done:
        raise result
    return result  # type: ignore[no-any-return]


def deep(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, run again on a fresh stack if the caller's is too deep
    for its (bounded) recursion: the usual path costs one ``try``."""
    try:
        return function(*args)
    except RecursionError:
        return on_a_fresh_stack(function, *args)
