"""Retry policies and backoff."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .._exceptions import ValidationError
from .._validate import check_int, check_seconds

__all__ = ["RetryPolicy", "backoff_delay"]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """An EventBridge target's retry policy (AWS ranges: 0-185 attempts, 60-86400 s).

    Failed deliveries are retried with exponential backoff and jitter until
    either limit is reached, whichever comes first.  ``base_delay`` and
    ``max_delay`` (seconds, 0.001 to 86,400) shape the backoff; they are
    eventbus's own knobs (AWS does not publish its schedule).
    """

    maximum_retry_attempts: int = 185
    maximum_event_age_in_seconds: int = 86400
    # backoff: delay before retry n is base * 2**(n-1), capped, then jittered
    base_delay: float = 1.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        check_int("retryPolicy.maximumRetryAttempts", self.maximum_retry_attempts, 0, 185)
        check_int("retryPolicy.maximumEventAgeInSeconds", self.maximum_event_age_in_seconds, 60, 86400)
        base = check_seconds("base_delay", self.base_delay, 0.001, 86400)
        cap = check_seconds("max_delay", self.max_delay, 0.001, 86400)
        if base > cap:
            raise ValidationError(f"base_delay ({base:g} s) must not exceed max_delay ({cap:g} s)")
        object.__setattr__(self, "base_delay", base)
        object.__setattr__(self, "max_delay", cap)

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return backoff_delay(retry, self.base_delay, self.max_delay, rng)


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half the step is fixed, half random."""
    step = min(cap, base * 2.0 ** min(retry - 1, 64))
    return step / 2 + rng.uniform(0.0, step / 2)
