"""Pipes's API answered from a ``World`` (operations are added here)."""

from __future__ import annotations

from ._common import Operations

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}
