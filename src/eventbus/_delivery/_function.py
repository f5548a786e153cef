"""Lambda-style functions with AWS's asynchronous invocation model.

``invoke(payload, "Event")`` puts the event on the function's internal queue
and answers ``{"StatusCode": 202}`` at once; the clock runs the handler
later.  A handler error is retried twice by default, about one minute and
then two minutes later; throttles (reserved concurrency used up) are retried
with backoff (1 s doubling to 5 min, jittered) until the event is too old.
What still fails goes to the ``on_failure`` destination (an invocation
record) and/or the dead-letter queue (the raw event with ``RequestID``,
``ErrorCode`` and ``ErrorMessage`` attributes); with neither, the loss is
counted and logged.  Successes go to ``on_success`` if set.
"""

from __future__ import annotations

import functools
import inspect
import json
import random
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from .._clock import Clock
from .._exceptions import ValidationError
from ._destinations import DeliverFn, as_destination
from ._metrics import Accounted, Counters, Outcome, log
from ._retry import NonRetryableError, ThrottlingError, backoff_delay, range_error
from ._runtime import default_clock

__all__ = ["Function", "InvocationRecord", "LambdaContext"]

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
_TYPES = ("Event", "RequestResponse", "DryRun")
MAX_ASYNC_PAYLOAD = 1_048_576  # bytes, AWS's limit for Event invocations
MAX_SYNC_PAYLOAD = 6_291_456
RETRY_DELAYS = (60.0, 120.0)  # AWS: about 1 minute before the first retry, 2 before the second
THROTTLE_BASE, THROTTLE_CAP = 1.0, 300.0

InvocationRecord = dict[str, Any]


@dataclass
class LambdaContext:
    """The ``context`` a handler receives, shaped like Lambda's."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    deadline: datetime
    clock: Clock = field(repr=False)
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock.now()).total_seconds() * 1000))


@dataclass
class _Invocation:
    request_id: str
    text: str  # the payload as JSON text: every attempt, record and DLQ copy starts from it
    accepted_at: datetime
    invokes: int = 0  # handler calls made (approximateInvokeCount)

    @property
    def payload(self) -> Any:
        """A fresh copy of the payload (a handler may change the one it gets)."""
        return json.loads(self.text)
    retries: int = 0
    throttles: int = 0


def _json_text(payload: Any, limit: int = MAX_SYNC_PAYLOAD) -> str:
    """The payload as JSON text, checked and within ``limit`` bytes.
    ``str``/``bytes`` are taken as JSON text already (as boto3's ``Payload``)."""
    if isinstance(payload, (bytes, bytearray, str)):
        text = payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload
        if len(text.encode("utf-8")) > limit:
            raise ValidationError(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        if not text:
            return "null"
        try:
            json.loads(text)
        except ValueError:
            raise ValidationError("Could not parse request body into json: the payload is not valid JSON") from None
        return text
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The payload is not JSON-serialisable: {exc}") from None
    if len(text.encode("utf-8")) > limit:
        raise ValidationError(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    return text


def _json_copy(payload: Any, limit: int = MAX_SYNC_PAYLOAD) -> Any:
    """The payload as the handler will see it: serialised and read back, as AWS does."""
    return json.loads(_json_text(payload, limit))


def _result_copy(result: Any) -> Any:
    """A handler's result as the caller gets it: serialised and read back."""
    try:
        return json.loads(json.dumps(result))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"The function's result is not JSON-serialisable: {exc}") from None


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
    }


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Function(Accounted):
    """A Lambda-style function around ``handler(event, context)``.

    ``Function(handler, *, name=None, clock=None, maximum_retry_attempts=2,
    maximum_event_age_in_seconds=21600, on_success=None, on_failure=None,
    dead_letter_queue=None, reserved_concurrency=None, timeout=3, seed=None)``.
    Destinations accept a ``Queue``, a ``Function``, a callable (or an event
    bus, once it exists).
    """

    def __init__(
        self,
        handler: Callable[[Any, LambdaContext], Any],
        *,
        name: str | None = None,
        clock: Clock | None = None,
        maximum_retry_attempts: int = 2,
        maximum_event_age_in_seconds: int = 21600,
        on_success: Any = None,
        on_failure: Any = None,
        dead_letter_queue: Any = None,
        reserved_concurrency: int | None = None,
        timeout: float = 3,
        region: str = "us-east-1",
        account: str = "123456789012",
        seed: int | None = None,
    ) -> None:
        if not callable(handler):
            raise ValidationError(f"handler must be callable, not {handler!r}")
        for label, value, low, high in (("maximumRetryAttempts", maximum_retry_attempts, 0, 2),
                                        ("maximumEventAgeInSeconds", maximum_event_age_in_seconds, 60, 21600)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise range_error(label, value, low, high)
        if reserved_concurrency is not None and (isinstance(reserved_concurrency, bool)
                                                 or not isinstance(reserved_concurrency, int)
                                                 or reserved_concurrency < 0):
            raise ValidationError("reserved_concurrency must be a whole number, 0 or more")
        self.handler = handler
        self.name: str = name or str(getattr(handler, "__name__", "function"))
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{self.name}"
        self.clock = clock or default_clock()
        self.maximum_retry_attempts = maximum_retry_attempts
        self.maximum_event_age_in_seconds = maximum_event_age_in_seconds
        self.reserved_concurrency = reserved_concurrency
        self.timeout = timeout
        self.on_success = on_success
        self.on_failure = on_failure
        self.dead_letter_queue = dead_letter_queue
        self._on_success = None if on_success is None else as_destination(on_success, "on_success")
        self._on_failure = None if on_failure is None else as_destination(on_failure, "on_failure")
        self._dead_letter = None if dead_letter_queue is None else as_destination(dead_letter_queue,
                                                                                    "dead_letter_queue")
        self._rng = random.Random(seed)
        self._counters = Counters()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._deleted = False

    def __repr__(self) -> str:
        return f"<Function {self.name}>"

    def delete(self) -> None:
        """Delete the function: later invocations fail (``Function not found``), without retries."""
        self._deleted = True

    # -- invoking -----------------------------------------------------------
    def invoke(self, payload: Any = None, invocation_type: InvocationType = "RequestResponse") -> dict[str, Any]:
        """Invoke as Lambda's ``Invoke`` does; returns AWS's response shape.

        ``Event``: ``{"StatusCode": 202, "RequestId": ...}`` at once, the run
        happens later through the queue.  ``RequestResponse``: runs now;
        ``{"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": result}``,
        plus ``"FunctionError": "Unhandled"`` (the payload then describes the
        error) when the handler raised.  ``DryRun``: ``{"StatusCode": 204}``.
        """
        if invocation_type not in _TYPES:
            raise ValidationError(f"1 validation error detected: Value '{invocation_type}' at 'invocationType' "
                                  "failed to satisfy constraint: Member must satisfy enum value set: "
                                  "[Event, RequestResponse, DryRun]")
        if self._deleted:
            raise NonRetryableError(f"Function not found: {self.arn}", error_code="NO_RESOURCE")
        limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
        text = _json_text(payload, limit)
        self._counters.add("invocations")
        if invocation_type == "DryRun":
            return {"StatusCode": 204}
        if invocation_type == "RequestResponse":
            return self._invoke_now(json.loads(text))
        state = _Invocation(str(uuid.uuid4()), text, self.clock.now())
        self._counters.accept()
        try:
            self.clock.submit(functools.partial(self._attempt, state), label=f"invoke {self.name} {state.request_id}")
        except Exception as exc:
            self._counters.end(state.request_id, Outcome.DROPPED, f"not queued: {exc}")
            raise
        return {"StatusCode": 202, "RequestId": state.request_id}

    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None:
        """The destination protocol: an asynchronous (``Event``) invocation."""
        self.invoke(payload, "Event")

    def __call__(self, payload: Any = None) -> Any:
        """Invoke synchronously and return the handler's result (raising its error)."""
        return self._call(_json_copy(payload), str(uuid.uuid4()))

    def _context(self, request_id: str) -> LambdaContext:
        return LambdaContext(self.name, self.arn, request_id,
                             self.clock.now() + timedelta(seconds=self.timeout), self.clock)

    def _call(self, data: Any, request_id: str) -> Any:
        result = self.handler(data, self._context(request_id))
        if inspect.isawaitable(result):
            from .._clock import _run_coroutine

            result = _run_coroutine(result)
        return result

    def _invoke_now(self, data: Any) -> dict[str, Any]:
        if not self._take_slot():
            self._counters.add("throttles")
            raise ThrottlingError("Rate Exceeded.")
        request_id = str(uuid.uuid4())
        self._counters.add("attempts")
        try:
            result = self._call(data, request_id)
        except Exception as exc:
            self._counters.add("failures")
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "RequestId": request_id, "Payload": _error_payload(exc)}
        finally:
            self._free_slot()
        try:
            payload = _result_copy(result)
        except ValidationError as exc:
            self._counters.add("failures")
            return {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST",
                    "RequestId": request_id,
                    "Payload": {"errorMessage": f"Unable to marshal response: {exc}",
                                "errorType": "Runtime.MarshalError"}}
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "RequestId": request_id, "Payload": payload}

    def _take_slot(self) -> bool:
        with self._lock:
            if self.reserved_concurrency is not None and self._in_flight >= self.reserved_concurrency:
                return False
            self._in_flight += 1
            return True

    def _free_slot(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # -- the asynchronous queue ---------------------------------------------
    def _attempt(self, state: _Invocation) -> Any:
        if self._deleted:
            self._give_up(state, NonRetryableError(f"Function not found: {self.arn}"), "RetriesExhausted",
                          False, "404")
            return None
        if self.reserved_concurrency == 0:
            self._counters.add("throttles")
            self._give_up(state, ThrottlingError("Reserved concurrency is 0"), "RetriesExhausted", False, "429")
            return None
        if not self._take_slot():
            self._counters.add("throttles")
            state.throttles += 1
            delay = backoff_delay(state.throttles, THROTTLE_BASE, THROTTLE_CAP, self._rng)
            self._retry_or_give_up(state, delay, ThrottlingError("Rate Exceeded."), False, "429", count=False)
            return None
        state.invokes += 1
        self._counters.add("attempts")
        if state.invokes > 1:
            self._counters.add("retries")
        try:
            result = self.handler(state.payload, self._context(state.request_id))
        except Exception as exc:
            self._free_slot()
            self._failed(state, exc)
            return None
        except BaseException as exc:  # KeyboardInterrupt, SystemExit...: account, then let it through
            self._free_slot()
            self._interrupted(state, exc)
            raise
        if inspect.isawaitable(result):
            return self._finish_async(state, result)
        self._free_slot()
        self._succeeded(state, result)
        return None

    async def _finish_async(self, state: _Invocation, result: Any) -> None:
        try:
            value = await result
        except Exception as exc:
            self._free_slot()
            self._failed(state, exc)
            return
        except BaseException as exc:  # cancelled (the loop is closing), interrupted...
            self._free_slot()
            self._interrupted(state, exc)
            raise
        self._free_slot()
        self._succeeded(state, value)

    def _interrupted(self, state: _Invocation, exc: BaseException) -> None:
        reason = f"interrupted by {type(exc).__name__}: the invocation did not finish"
        log.error("eventbus: invocation %s of %s dropped (%s)", state.request_id, self.name, reason)
        self._counters.end(state.request_id, Outcome.DROPPED, reason)

    def _succeeded(self, state: _Invocation, result: Any) -> None:
        try:
            response = _result_copy(result)
        except ValidationError as exc:
            self._failed(state, exc)
            return
        self._counters.end(state.request_id, Outcome.SUCCEEDED)
        if self._on_success is not None:
            record = self._record(state, "Success", {"statusCode": 200, "executedVersion": "$LATEST"}, response)
            self._send_record(self._on_success, record, "on_success")

    def _failed(self, state: _Invocation, exc: BaseException) -> None:
        self._counters.add("failures")
        if isinstance(exc, NonRetryableError) or state.retries >= self.maximum_retry_attempts:
            self._give_up(state, exc, "RetriesExhausted", True, "200")
            return
        delay = RETRY_DELAYS[min(state.retries, len(RETRY_DELAYS) - 1)]
        self._retry_or_give_up(state, delay, exc, True, "200", count=True)

    def _retry_or_give_up(self, state: _Invocation, delay: float, exc: BaseException,
                          function_error: bool, code: str, *, count: bool) -> None:
        due = self.clock.now() + timedelta(seconds=delay)
        if due - state.accepted_at > timedelta(seconds=self.maximum_event_age_in_seconds):
            self._give_up(state, exc, "EventAgeExceeded", function_error, code)
            return
        if count:
            state.retries += 1
        self.clock.call_later(delay, functools.partial(self._attempt, state),
                              label=f"retry {self.name} {state.request_id}")

    def _record(self, state: _Invocation, condition: str, response: dict[str, Any], payload: Any) -> InvocationRecord:
        return {
            "version": "1.0",
            "timestamp": _timestamp(self.clock.now()),
            "requestContext": {
                "requestId": state.request_id,
                "functionArn": f"{self.arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": state.invokes,
            },
            "requestPayload": state.payload,
            "responseContext": response,
            "responsePayload": payload,
        }

    def _send_record(self, destination: DeliverFn, record: InvocationRecord, what: str) -> bool:
        try:
            destination(record, None)
        except Exception as exc:
            self._counters.add("destination_failures")
            log.error("eventbus: %s destination of %s refused a record: %s", what, self.name, exc)
            return False
        return True

    def _give_up(self, state: _Invocation, exc: BaseException, condition: str, function_error: bool,
                 code: str) -> None:
        """No more tries: the failure destination gets a record, the DLQ the event.
        (The error's stack trace is formatted only here, for the record: it is
        the costly part of a failure.)"""
        delivered = False
        if self._on_failure is not None:
            response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if function_error:
                response["functionError"] = "Unhandled"
            record = self._record(state, condition, response, _error_payload(exc) if function_error else None)
            delivered = self._send_record(self._on_failure, record, "on_failure") or delivered
        if self._dead_letter is not None:
            body = state.text
            attributes = {"RequestID": state.request_id, "ErrorCode": code, "ErrorMessage": str(exc)[:1024]}
            try:
                self._dead_letter(body, attributes)
                self._counters.add("sent_to_dlq")
                delivered = True
            except Exception as dlq_exc:
                self._counters.add("failed_to_dlq")
                log.error("eventbus: dead-letter queue of %s refused an event: %s", self.name, dlq_exc)
        if delivered:
            self._counters.end(state.request_id, Outcome.DEAD_LETTERED, condition)
            return
        reason = f"{condition}: no failure destination or dead-letter queue took it ({type(exc).__name__}: {exc})"
        log.warning("eventbus: invocation %s of %s dropped (%s)", state.request_id, self.name, reason)
        self._counters.end(state.request_id, Outcome.DROPPED, reason)
