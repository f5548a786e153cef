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

import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from .._clock import Clock
from .._exceptions import ValidationError
from .._transform import WHOLE_EVENT, Context, TargetInput, compile_input, event_time
from .._validate import check_instance, check_name, check_str
from ._destinations import (
    Destination,
    DestinationLike,
    Elsewhere,
    as_destination,
    describe,
    speaks_protocol,
    text_sender,
)
from ._engine import Job, Runner, Trail, error_class, error_code, error_message, error_text
from ._outcomes import Outcome, log
from ._payload import Parsed, first_kb, to_attributes, to_text
from ._payload import value_of as _value
from ._retry import RetryPolicy

__all__ = ["Target"]


class Target(Runner):
    """A destination (a ``Queue``, ``Function``, event bus or callable, sync or
    ``async def``) with EventBridge's retries and dead-letter queue.

    ``Target(destination, *, target_id="target", rule_arn="", input=None,
    input_path=None, input_transformer=None, retry_policy=None,
    dead_letter_queue=None, clock=None, seed=None, outcome_retention=10_000)``.
    Settings are read-only once built.

    ``input`` (JSON text sent as is), ``input_path`` (a JSONPath selecting part
    of the event) and ``input_transformer`` (``{"InputPathsMap": {...},
    "InputTemplate": "..."}``) are AWS's three ways to change what the
    destination receives; at most one.  The dead-letter queue always receives
    the original event.  A target built without ``clock=`` runs on its
    destination's clock, and takes its bus's clock when put on a rule.
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
        input: str | None = None,
        input_path: str | None = None,
        input_transformer: Mapping[str, Any] | None = None,
        retry_policy: RetryPolicy | None = None,
        dead_letter_queue: Destination | None = None,
        clock: object = None,
        seed: int | None = None,
        outcome_retention: int = 10_000,
    ) -> None:
        self.target_id = check_name("Id", target_id, r"[\.\-_A-Za-z0-9]+", 64)
        self._rule_arn = check_str("rule_arn", rule_arn)
        self._rule_arn_given = bool(rule_arn)
        self._input = compile_input(input=input, input_path=input_path, input_transformer=input_transformer,
                                    target_id=self.target_id)
        self.input, self.input_path = input, input_path
        self.input_transformer = None if input_transformer is None else dict(input_transformer)
        self.outcome_retention = outcome_retention
        self.seed = seed
        self.retry_policy = RetryPolicy() if retry_policy is None else check_instance(
            "retry_policy", retry_policy, RetryPolicy, "<class 'eventbus.RetryPolicy'>")
        self.max_retries = self.retry_policy.maximum_retry_attempts
        self.max_age = self.retry_policy.maximum_event_age_in_seconds
        self._clock_given = clock is not None
        if clock is None:  # the clock flows from what the target works with
            clock = _clock_of(destination) or _clock_of(dead_letter_queue)
        self._setup(clock, seed, outcome_retention)
        self.destination = destination
        self.dead_letter_queue = dead_letter_queue
        self._connect()
        self.arn = describe(destination)
        self._what = f"target {self.target_id} -> {self.arn}"
        self._owner: object = None  # the rule the target is on
        self._former: object = None  # the last rule it was on
        # Set by a schedule that owns the target: the payload of one attempt from the
        # job's text and attempt number (``<aws.scheduler.attempt-number>``), and the
        # dead-letter attributes that name the schedule.  ``None`` on a rule.
        self._per_attempt: Callable[[str, int], str] | None = None
        self._letter: Callable[[Job], dict[str, str]] | None = None
        self._sealed = True

    def _elsewhere(self) -> bool:
        return isinstance(self.destination, Elsewhere) or isinstance(self.dead_letter_queue, Elsewhere)

    def _connect(self) -> None:
        """Check the destinations against this target's clock, and keep how to call them."""
        self._send, self._async = as_destination(self.destination, "destination", self.clock, "Target",
                                                 allow_async=True)
        self._send_text = text_sender(self.destination)
        self._forward = getattr(self.destination, "_forwarded", None)
        # a plain callable (not a Destination) is called straight, without the protocol's wrapper
        self._plain: Callable[[Any], Any] | None = (
            None if speaks_protocol(self.destination) else cast(Callable[[Any], Any], self.destination))
        self._dead_letter_fn = None
        self._dead_letter_text = None
        if self.dead_letter_queue is not None:
            self._dead_letter_fn = as_destination(self.dead_letter_queue, "dead_letter_queue", self.clock,
                                                  "Target")[0]
            self._dead_letter_text = text_sender(self.dead_letter_queue)

    @property
    def rule_arn(self) -> str:
        """The ARN of the rule this target belongs to (its bus sets it)."""
        return self._rule_arn

    def __repr__(self) -> str:
        return f"<Target {self.target_id} -> {self.arn}>"

    def deliver(self, event: Any, attributes: Mapping[str, Any] | None = None) -> str:
        """Accept ``event`` (a JSON value) for delivery, with optional message
        attributes; returns the delivery id.  Both are copied now.  The target's
        input settings apply (``<aws.events.rule-name>`` is read from
        ``rule_arn``); when they deliver nothing for this event, the delivery
        ends at once as ``DROPPED``, with the reason."""
        text = to_text(event, "event")
        if self._input is WHOLE_EVENT:
            return self._accept(text, to_attributes(attributes))
        name = self._rule_arn.rpartition("/")[2]
        body = self._input.render(event, text, Context(name, self._rule_arn, event_time(self.clock.now())))
        if body is None:
            return self._not_delivered(text)
        return self._accept(text, to_attributes(attributes), body)

    # -- what a bus uses ----------------------------------------------------------
    @property
    def transform(self) -> TargetInput:
        """The compiled input settings."""
        return self._input

    def _attach(self, owner: object, clock: Clock, rule_arn: str, *, holder: str = "rule's bus",
                per_attempt: Callable[[str, int], str] | None = None,
                letter: Callable[[Job], dict[str, str]] | None = None) -> None:
        """Put this target on a rule or a schedule (``owner``): it takes the owner's
        clock if it was built without one and has delivered nothing, and the
        owner's ARN (``holder`` names what owns that clock in errors).  One owner at
        a time; moving to another waits until the last one's deliveries ended
        (their dead letters name that owner).  A schedule passes ``per_attempt``
        and ``letter`` (see ``__init__``)."""
        with _ATTACHING:  # (two buses taking one target at once: one wins, the other is refused)
            if self._owner is not None and self._owner is not owner:
                raise ValidationError(f"Target {self.target_id} is already on {self._owner!r}: a Target belongs to "
                                      "one rule (build another for this one)")
            if self._former is not None and self._former is not owner and self.metrics.pending:
                raise ValidationError(f"Target {self.target_id} still has {self.metrics.pending} deliveries pending "
                                      f"from {self._former!r}: it can move to another rule once they have ended "
                                      "(or build another Target)")
            if clock is not self.clock:
                if self._clock_given or self._has_clocked_destination() or self.metrics.accepted:
                    raise ValidationError(
                        f"Target {self.target_id} runs on {self.clock!r}, but this {holder} runs on {clock!r}: "
                        "objects that work together must share one clock (build the target and its destinations "
                        "with the bus's clock=, or inside `with eventbus.use_clock(clock):`)")
                object.__setattr__(self, "clock", clock)  # (settings are read-only to users, not to the bus)
                if self.seed is None:
                    self._reseed(None)
                self._connect()
            if self._rule_arn_given and self._rule_arn != rule_arn:
                raise ValidationError(f"Target {self.target_id} was built with rule_arn={self._rule_arn!r}, but the "
                                      f"rule is {rule_arn}")
            self._owner = self._former = owner
            self._rule_arn = rule_arn
            self._per_attempt = per_attempt
            self._letter = letter

    def _detach(self, owner: object) -> None:
        with _ATTACHING:
            if self._owner is owner:
                self._owner = None

    def _who(self) -> dict[str, str]:
        return {"r": self._rule_arn, "t": self.target_id}  # (the rule's, or the schedule's, ARN)

    def _has_clocked_destination(self) -> bool:
        return _clock_of(self.destination) is not None or _clock_of(self.dead_letter_queue) is not None

    def _not_delivered(self, text: str, trail: Trail | None = None) -> str:
        """An event the input settings deliver nothing for: accepted and ended at
        once as ``DROPPED``, with the reason (never silently)."""
        job = self._prepare(text, None, self.clock.now(), trail)
        reason = self._input.why_dropped()
        log.info("eventbus: %s %s: nothing to deliver: %s", self._what, job.id, reason)
        self._end(job, Outcome.DROPPED, reason)
        return job.id

    def _call(self, job: Job) -> Any:
        if self._per_attempt is not None:  # a schedule's: the payload names the attempt
            return self._call_with(self._per_attempt(job.text, job.calls), job)
        plain = self._plain
        shared = job.shared  # (only ever with the whole event: no body of its own)
        if plain is not None:  # a plain callable: called with the value alone
            if shared is None:
                return plain(_value(job.text if job.body is None else job.body))
            return plain(_copy_of(shared, job.text))
        body = job.text if job.body is None else job.body
        attributes = dict(job.attributes) if job.attributes else None
        if self._forward is not None:
            return self._forward(body, job)
        if self._send_text is not None:
            return self._send_text(body, attributes)
        return self._send(_value(body) if shared is None else _copy_of(shared, body), attributes)

    def _call_with(self, body: str, job: Job) -> Any:
        """Call the destination with ``body`` (JSON text, or plain text for a queue)."""
        if self._plain is not None:
            return self._plain(_value(body))
        if self._forward is not None:
            return self._forward(body, job)
        attributes = dict(job.attributes) if job.attributes else None
        if self._send_text is not None:
            return self._send_text(body, attributes)
        return self._send(_value(body), attributes)

    def _retry_delay(self, job: Job) -> float:
        return self.retry_policy.delay(job.retries + 1, self._rng)

    def _dead_letter(self, job: Job, exc: BaseException, condition: str | None) -> bool:
        if self._dead_letter_fn is None:
            return False
        message = error_message(exc)
        attributes = {"RULE_ARN": self.rule_arn} if self._letter is None else self._letter(job)
        attributes.update({
            "TARGET_ARN": self.arn,
            "ERROR_CODE": error_code(exc),
            "ERROR_MESSAGE": first_kb(message or error_class(exc).__name__),
            "RETRY_ATTEMPTS": str(job.retries),
        })
        if condition is not None:
            attributes["EXHAUSTED_RETRY_CONDITION"] = condition
        if job.work is not None and self._with_end(job, self.dead_letter_queue, job.text if self._per_attempt is None
                                                   else self._per_attempt(job.text, max(job.calls, 1)), attributes):
            self._ledger.add("sent_to_dlq")
            return True
        try:
            if self._per_attempt is not None:  # a schedule's: what its last attempt delivered
                text = self._per_attempt(job.text, max(job.calls, 1))
                if self._dead_letter_text is not None:
                    self._dead_letter_text(text, attributes)
                else:
                    self._dead_letter_fn(_value(text), attributes)
            elif self._dead_letter_text is not None:
                self._dead_letter_text(job.text, attributes)
            else:
                self._dead_letter_fn(job.payload(), attributes)
        except Exception as dlq_exc:
            self._ledger.add("failed_to_dlq")
            log.error("eventbus: %s: the dead-letter queue refused delivery %s: %s", self._what, job.id,
                      error_text(dlq_exc))
            return False
        self._ledger.add("sent_to_dlq")
        return True



_ATTACHING = threading.Lock()  # targets change rules rarely: one lock for all of them


def _clock_of(thing: object) -> Clock | None:
    clock = getattr(thing, "clock", None)
    if not isinstance(clock, Clock):
        clock = getattr(getattr(thing, "__self__", None), "clock", None)
    return clock if isinstance(clock, Clock) else None


def _copy_of(shared: Parsed, body: str) -> Any:
    """A fresh copy of a value parsed once for many deliveries."""
    try:
        return shared.copy()
    except RecursionError:  # deep, or called from deep in the stack
        return _value(body)
