"""boto3 is the ``testing`` extra: without it these tests are skipped, saying how to install it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("boto3", reason="boto3 is not installed: pip install -e '.[dev,testing]' runs these tests")

from eventbus import World
from eventbus.testing import mock_aws


@pytest.fixture
def world() -> Iterator[World]:
    """A fresh world, with boto3 answered from it for the test."""
    with mock_aws() as made:
        yield made
