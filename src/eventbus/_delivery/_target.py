"""A rule target: a destination behind a retry policy and a dead-letter queue.

``deliver(event)`` accepts the event and returns at once; the destination is
called through the clock.  A failed call is retried with exponential backoff
and jitter until the policy's attempts or event age run out (whichever comes
first); a ``NonRetryableError`` skips the retries.  What still fails goes to
the dead-letter queue with AWS's message attributes (``RULE_ARN``,
``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``,
``RETRY_ATTEMPTS``); with no dead-letter queue the loss is counted and logged.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._clock import Clock
from .._exceptions import ValidationError
from ._destinations import as_destination, describe
from ._metrics import Accounted, Counters, Outcome, log
from ._retry import NonRetryableError, RetryPolicy
from ._runtime import default_clock

__all__ = ["Target"]


@dataclass
class _Delivery:
    delivery_id: str
    event: Any
    attributes: Mapping[str, str] | None
    accepted_at: datetime
    body: str  # the event as the dead-letter queue will hold it
    retries: int = 0


def error_code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else type(exc).__name__


class Target(Accounted):
    """A destination (a ``Queue``, ``Function``, event bus or callable) with retries.

    ``Target(destination, *, target_id="target", rule_arn="", retry_policy=None,
    dead_letter_queue=None, clock=None, seed=None)``.
    """

    def __init__(
        self,
        destination: Any,
        *,
        target_id: str = "target",
        rule_arn: str = "",
        retry_policy: RetryPolicy | None = None,
        dead_letter_queue: Any = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self.destination = destination
        self._send = as_destination(destination, "destination")
        self.target_id = target_id
        self.arn = describe(destination)
        self.rule_arn = rule_arn
        self.retry_policy = retry_policy or RetryPolicy()
        self.dead_letter_queue = dead_letter_queue
        self._dead_letter = None if dead_letter_queue is None else as_destination(dead_letter_queue,
                                                                                    "dead_letter_queue")
        self.clock = clock or default_clock()
        self._rng = random.Random(seed)
        self._counters = Counters()

    def __repr__(self) -> str:
        return f"<Target {self.target_id} -> {self.arn}>"

    def deliver(self, event: Any, attributes: Mapping[str, str] | None = None) -> str:
        """Accept ``event`` for delivery; returns the delivery id."""
        try:
            body = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"The event is not a string and not JSON-serialisable: {exc}") from None
        state = _Delivery(str(uuid.uuid4()), event, attributes, self.clock.now(), body)
        self._counters.add("invocations")
        self._counters.accept()
        try:
            self.clock.submit(lambda: self._attempt(state), label=f"deliver {state.delivery_id} to {self.arn}")
        except Exception as exc:
            self._counters.end(state.delivery_id, Outcome.DROPPED, f"not queued: {exc}")
            raise
        return state.delivery_id

    def _attempt(self, state: _Delivery) -> None:
        counters = self._counters
        counters.add("attempts")
        if state.retries:
            counters.add("retries")
        try:
            self._send(state.event if isinstance(state.event, str) else json.loads(state.body), state.attributes)
        except (NonRetryableError, ValidationError) as exc:  # retrying cannot help
            counters.add("failures")
            self._give_up(state, exc, None)
            return
        except Exception as exc:
            counters.add("throttles" if error_code(exc) == "THROTTLING" else "failures")
            policy = self.retry_policy
            if state.retries >= policy.maximum_retry_attempts:
                self._give_up(state, exc, "MaximumRetryAttempts")
                return
            delay = policy.delay(state.retries + 1, self._rng)
            due = self.clock.now() + timedelta(seconds=delay)
            if due - state.accepted_at > timedelta(seconds=policy.maximum_event_age_in_seconds):
                self._give_up(state, exc, "MaximumEventAgeInSeconds")
                return
            state.retries += 1
            self.clock.call_later(delay, lambda: self._attempt(state),
                                  label=f"retry {state.retries} of {state.delivery_id} to {self.arn}")
            return
        except BaseException as exc:  # KeyboardInterrupt, SystemExit...: account, then let it through
            reason = f"interrupted by {type(exc).__name__}: the delivery did not finish"
            log.error("eventbus: delivery %s to %s dropped (%s)", state.delivery_id, self.arn, reason)
            counters.end(state.delivery_id, Outcome.DROPPED, reason)
            raise
        counters.end(state.delivery_id, Outcome.SUCCEEDED)

    def _give_up(self, state: _Delivery, exc: BaseException, condition: str | None) -> None:
        attributes = {
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.arn,
            "ERROR_CODE": error_code(exc),
            "ERROR_MESSAGE": str(exc)[:1024],
            "RETRY_ATTEMPTS": str(state.retries),
        }
        if condition is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = condition
        if self._dead_letter is None:
            reason = f"no dead-letter queue: {attributes['ERROR_CODE']}: {attributes['ERROR_MESSAGE']}"
            log.warning("eventbus: delivery %s to %s dropped (%s)", state.delivery_id, self.arn, reason)
            self._counters.end(state.delivery_id, Outcome.DROPPED, reason)
            return
        try:
            self._dead_letter(state.body, attributes)
        except Exception as dlq_exc:
            self._counters.add("failed_to_dlq")
            reason = f"dead-letter queue refused the event: {dlq_exc}"
            log.error("eventbus: delivery %s to %s dropped (%s)", state.delivery_id, self.arn, reason)
            self._counters.end(state.delivery_id, Outcome.DROPPED, reason)
            return
        self._counters.add("sent_to_dlq")
        self._counters.end(state.delivery_id, Outcome.DEAD_LETTERED)
