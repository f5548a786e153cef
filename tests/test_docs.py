"""The examples in the docs run and print what the pages say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
# each page, and how many examples it has at least
PAGES = {"delivery.md": 5, "bus.md": 2, "input-transformers.md": 3, "schedules.md": 6, "pipes.md": 3,
         "archives.md": 3, "schemas.md": 3, "testing.md": 1,
         "durability.md": 1}
BLOCKS = [(page, i, code, expected) for page in PAGES for i, (code, expected) in enumerate(
    re.findall(r"```python\n(.*?)```\n(?:\n*```(?:text)?\n(.*?)```)?", (DOCS / page).read_text(), re.S))]


@pytest.mark.parametrize("page", PAGES)
def test_the_page_has_examples(page: str) -> None:
    assert sum(1 for found, *_ in BLOCKS if found == page) >= PAGES[page]


@pytest.mark.parametrize(("page", "number", "code", "expected"), BLOCKS, ids=[f"{p}-block{i}" for p, i, *_ in BLOCKS])
def test_doc_example(page: str, number: int, code: str, expected: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if expected:
        assert result.stdout.strip() == expected.strip()
