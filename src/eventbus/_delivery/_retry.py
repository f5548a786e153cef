"""Retry policies, backoff, and the errors that steer retries."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .._exceptions import EventBusError, ValidationError

__all__ = ["NonRetryableError", "RetryPolicy", "ThrottlingError", "backoff_delay", "range_error"]


class NonRetryableError(EventBusError):
    """Raise from a handler or target to skip retries: the delivery goes straight
    to the dead-letter queue (or failure destination).  ``error_code`` becomes the
    DLQ's ``ERROR_CODE`` (AWS samples: ``NO_PERMISSIONS``, ``NO_RESOURCE``)."""

    def __init__(self, message: str, *, error_code: str = "NO_RESOURCE") -> None:
        super().__init__(message)
        self.error_code = error_code


class ThrottlingError(EventBusError):
    """A function's reserved concurrency is used up (AWS: ``TooManyRequestsException``,
    ``Rate Exceeded.``).  Asynchronous invocations retry throttles with backoff."""

    error_code = "THROTTLING"


def range_error(name: str, value: object, low: int, high: int) -> ValidationError:
    """AWS's wording for a parameter outside its range."""
    if isinstance(value, bool) or not isinstance(value, int):
        return ValidationError(f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
                               "constraint: Member must be an integer")
    bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
    return ValidationError(f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
                           f"constraint: Member must have value {bound}")


def _check(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise range_error(name, value, low, high)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """An EventBridge target's retry policy (AWS ranges: 0-185 attempts, 60-86400 s).

    Failed deliveries are retried with exponential backoff and jitter until
    either limit is reached, whichever comes first.
    """

    maximum_retry_attempts: int = 185
    maximum_event_age_in_seconds: int = 86400
    # backoff: delay before retry n is base * 2**(n-1), capped, then jittered
    base_delay: float = 1.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        _check("retryPolicy.maximumRetryAttempts", self.maximum_retry_attempts, 0, 185)
        _check("retryPolicy.maximumEventAgeInSeconds", self.maximum_event_age_in_seconds, 60, 86400)
        if not 0 < self.base_delay <= self.max_delay:
            raise ValidationError("RetryPolicy needs 0 < base_delay <= max_delay")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return backoff_delay(retry, self.base_delay, self.max_delay, rng)


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half the step is fixed, half random."""
    step = min(cap, base * 2.0 ** (retry - 1))
    return step / 2 + rng.uniform(0.0, step / 2)
