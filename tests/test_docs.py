"""The examples in docs/delivery.md run and print what the page says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parents[1] / "docs" / "delivery.md"
BLOCKS = re.findall(r"```python\n(.*?)```\n(?:\n*```(?:text)?\n(.*?)```)?", DOC.read_text(), re.S)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("code", "expected"), BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_delivery_doc_example(code: str, expected: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if expected:
        assert result.stdout.strip() == expected.strip()
