"""A rule target: a destination behind a retry policy and a dead-letter queue.

``deliver(event)`` accepts the event and returns at once; the destination is
called through the clock, with a fresh copy of the event each time.  A
failed call is retried with exponential backoff and jitter until the
policy's attempts or the event's age run out (whichever comes first); a
``NonRetryableError``, a ``ValidationError`` or a missing resource skips the
retries.  What still fails goes to the dead-letter queue with AWS's message
attributes (``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``,
``EXHAUSTED_RETRY_CONDITION``, ``RETRY_ATTEMPTS``); with no dead-letter
queue the loss is counted and logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .._validate import check_instance, check_name, check_str
from ._destinations import Destination, DestinationLike, as_destination, describe
from ._engine import Job, Runner, error_class, error_code, error_message, error_text
from ._outcomes import log
from ._payload import first_kb, to_attributes, to_text
from ._retry import RetryPolicy

__all__ = ["Target"]


class Target(Runner):
    """A destination (a ``Queue``, ``Function``, event bus or callable, sync or
    ``async def``) with EventBridge's retries and dead-letter queue.

    ``Target(destination, *, target_id="target", rule_arn="", retry_policy=None,
    dead_letter_queue=None, clock=None, seed=None, outcome_retention=10_000)``.
    Settings are read-only once built.
    """

    AGE_CONDITION: ClassVar[str] = "MaximumEventAgeInSeconds"
    RETRIES_CONDITION: ClassVar[str] = "MaximumRetryAttempts"
    FINAL_CONDITION: ClassVar[str | None] = None
    THROTTLE_BACKOFF: ClassVar[bool] = False

    def __init__(
        self,
        destination: DestinationLike,
        *,
        target_id: str = "target",
        rule_arn: str = "",
        retry_policy: RetryPolicy | None = None,
        dead_letter_queue: Destination | None = None,
        clock: object = None,
        seed: int | None = None,
        outcome_retention: int = 10_000,
    ) -> None:
        self.target_id = check_name("Id", target_id, r"[\.\-_A-Za-z0-9]+", 64)
        self.rule_arn = check_str("rule_arn", rule_arn)
        self.outcome_retention = outcome_retention
        self.seed = seed
        self.retry_policy = RetryPolicy() if retry_policy is None else check_instance(
            "retry_policy", retry_policy, RetryPolicy, "<class 'eventbus.RetryPolicy'>")
        self.max_retries = self.retry_policy.maximum_retry_attempts
        self.max_age = self.retry_policy.maximum_event_age_in_seconds
        self._setup(clock, seed, outcome_retention)
        self._send, self._async = as_destination(destination, "destination", self.clock, "Target", allow_async=True)
        self.destination = destination
        self.arn = describe(destination)
        self.dead_letter_queue = dead_letter_queue
        self._dead_letter_fn = None if dead_letter_queue is None else as_destination(
            dead_letter_queue, "dead_letter_queue", self.clock, "Target")[0]
        self._what = f"target {self.target_id} -> {self.arn}"
        self._sealed = True

    def __repr__(self) -> str:
        return f"<Target {self.target_id} -> {self.arn}>"

    def deliver(self, event: Any, attributes: Mapping[str, Any] | None = None) -> str:
        """Accept ``event`` (a JSON value) for delivery, with optional message
        attributes; returns the delivery id.  Both are copied now."""
        return self._accept(to_text(event, "event"), to_attributes(attributes))

    def _call(self, job: Job) -> Any:
        return self._send(job.payload(), dict(job.attributes) if job.attributes else None)

    def _retry_delay(self, job: Job) -> float:
        return self.retry_policy.delay(job.retries + 1, self._rng)

    def _dead_letter(self, job: Job, exc: BaseException, condition: str | None) -> bool:
        if self._dead_letter_fn is None:
            return False
        message = error_message(exc)
        attributes = {
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.arn,
            "ERROR_CODE": error_code(exc),
            "ERROR_MESSAGE": first_kb(message or error_class(exc).__name__),
            "RETRY_ATTEMPTS": str(job.retries),
        }
        if condition is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = condition
        try:
            self._dead_letter_fn(job.payload(), attributes)
        except Exception as dlq_exc:
            self._ledger.add("failed_to_dlq")
            log.error("eventbus: %s: the dead-letter queue refused delivery %s: %s", self._what, job.id,
                      error_text(dlq_exc))
            return False
        self._ledger.add("sent_to_dlq")
        return True

