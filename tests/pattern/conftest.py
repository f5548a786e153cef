"""Fixtures for the matcher tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventbus._pattern import _engine


@pytest.fixture(scope="module", params=[_engine.BLOCK_SIZE, 3], ids=["blocks-full-size", "blocks-of-3"])
def block_size(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run a module's tests twice: with the real block size, and with blocks of
    three sub-rules, so that a few rules already spread over many blocks
    (filling, opening, compacting and dropping blocks)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_engine, "BLOCK_SIZE", request.param)
        yield request.param
