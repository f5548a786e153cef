"""Helpers several test modules share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def message(call: Callable[[], Any]) -> str:
    """``Type: text`` of the exception ``call()`` raises (the text is what a test checks)."""
    try:
        call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    raise AssertionError("no error")
