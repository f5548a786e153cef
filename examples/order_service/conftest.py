"""Puts this directory on sys.path so that ``import order_service`` works from any working directory."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
