from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

# Derandomised in CI so a red build can be reproduced; random locally.
settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

CONFORMANCE = Path(__file__).parent / "conformance"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """AWS-verified vectors (copied from ../shared/conformance, see NOTICE)."""
    with (CONFORMANCE / name).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]
