"""boto3 is the ``testing`` extra: without it these tests are skipped, saying how to install it."""

from __future__ import annotations

import pytest

pytest.importorskip("boto3", reason="boto3 is not installed: pip install -e '.[dev,testing]' runs these tests")
