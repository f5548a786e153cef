"""Lambda-style functions with AWS's asynchronous invocation model.

``invoke(payload, "Event")`` puts the event on the function's internal queue
and answers ``{"StatusCode": 202}`` at once; the clock runs the handler
later.  A handler error is retried twice by default, about one minute and
then two minutes later; throttles (reserved concurrency used up) are retried
with backoff (1 s doubling to 5 min, jittered) until the event is too old.
What still fails goes to the ``on_failure`` destination (an invocation
record) and/or the dead-letter queue (the event with ``RequestID``,
``ErrorCode`` and ``ErrorMessage`` attributes); with neither, the loss is
counted and logged.  Successes go to ``on_success`` if set.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, TypedDict

from .._clock import Clock, in_running_loop, is_async_callable, run_to_completion
from .._exceptions import LoopBlockingError, ResourceNotFoundError, ThrottlingError, ValidationError
from .._store import Enqueued, Store
from .._validate import ACCOUNT, REGION, check_callable, check_int, check_name
from ._destinations import DeliverFn, Destination, DestinationLike, as_destination, check_same_clock
from ._durable import DEFAULT_LEASE, Durable, durable_settings
from ._engine import (
    FINAL,
    RETRY,
    THROTTLE,
    EventTooOldError,
    Job,
    Runner,
    error_class,
    error_message,
    error_text,
)
from ._outcomes import log
from ._payload import loads, parse_text, to_attributes, to_text
from ._retry import backoff_delay

__all__ = ["Function", "InvocationRecord", "LambdaContext"]

InvocationType = Literal["RequestResponse", "Event", "DryRun"]
_TYPES = ("Event", "RequestResponse", "DryRun")
MAX_ASYNC_PAYLOAD = 1_048_576  # bytes, AWS's limit for Event invocations
MAX_SYNC_PAYLOAD = 6_291_456
RETRY_DELAYS = (60.0, 120.0)  # AWS: about 1 minute before the first retry, 2 before the second
THROTTLE_BASE, THROTTLE_CAP = 1.0, 300.0
_NAME = r"[a-zA-Z0-9-_]+"


class InvocationRecord(TypedDict):
    """What ``on_success`` / ``on_failure`` destinations receive (AWS's shape)."""

    version: str
    timestamp: str
    requestContext: dict[str, Any]
    requestPayload: Any
    responseContext: dict[str, Any]
    responsePayload: Any


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


class MarshalError(Exception):
    """A handler's result that is not JSON (Lambda: ``Runtime.MarshalError``)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"Unable to marshal response: {cause}")


def _error_type(exc: BaseException) -> str:
    kind = error_class(exc)
    if issubclass(kind, MarshalError):
        return "Runtime.MarshalError"
    named = getattr(kind, "lambda_error_type", None)  # an error that names itself as Lambda does
    return named if isinstance(named, str) else kind.__name__


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {"errorMessage": error_message(exc), "errorType": _error_type(exc),
            "stackTrace": [] if isinstance(exc, MarshalError) else traceback.format_tb(exc.__traceback__)[-5:]}


_RESPONSE = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


def _marshal(result: Any) -> Any:
    """A handler's result as the caller gets it: serialised and read back."""
    try:
        text = _RESPONSE.encode(result)
        text.encode("utf-8")  # (a lone surrogate cannot be sent)
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise MarshalError(exc) from None


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _status(exc: BaseException) -> int:
    """The HTTP status Lambda reports for a failure (the DLQ's ``ErrorCode``)."""
    kind = error_class(exc)
    if issubclass(kind, ThrottlingError):
        return 429
    if issubclass(kind, ResourceNotFoundError):
        return 404
    return 200  # a function error


def _within(text: str, limit: int) -> str:
    if len(text) > limit // 4 and len(text.encode("utf-8")) > limit:  # (4 bytes per character at most)
        raise ValidationError(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    return text


def _default_name(handler: object) -> str:
    name = re.sub(r"[^a-zA-Z0-9_-]", "", str(getattr(handler, "__name__", "")))[:64]
    return name or "function"


class _Slots:
    """Reserved concurrency: how many handler calls may run at once (``None``: no cap)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_use = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.limit is None:  # uncapped: nothing to count
            return True
        with self.lock:
            if self.in_use >= self.limit:
                return False
            self.in_use += 1
            return True

    def free(self) -> None:
        if self.limit is None:
            return
        with self.lock:
            self.in_use -= 1


class Function(Runner):
    """A Lambda-style function around ``handler(event, context)`` (or an ``async def`` one).

    ``Function(handler, *, name=None, clock=None, maximum_retry_attempts=2,
    maximum_event_age_in_seconds=21600, on_success=None, on_failure=None,
    dead_letter_queue=None, reserved_concurrency=None, timeout=3,
    region="us-east-1", account="123456789012", seed=None,
    outcome_retention=10_000, store=None, lease=None, poll=None)``.  Destinations take a ``Queue``, a
    ``Function``, any ``Destination`` or a plain callable.  Settings are
    read-only once built.  ``fn.handler`` is the bare handler; ``fn(payload)``
    is an invocation (every check, counted), returning the result or raising
    the handler's error.  ``store`` keeps queued invocations (``invoke(...,
    "Event")``, ``deliver``) and their retries until they end, so that a
    process that dies loses none (see ``EventBus``); ``lease`` (seconds, by
    default 300 or twice the timeout if longer) is how long an attempt may run
    before another process takes it over; ``poll`` how often (seconds) to look
    for invocations other processes put in the store (both need a store).
    """

    AGE_CONDITION: ClassVar[str] = "EventAgeExceeded"
    RETRIES_CONDITION: ClassVar[str] = "RetriesExhausted"
    FINAL_CONDITION: ClassVar[str | None] = "RetriesExhausted"
    THROTTLE_BACKOFF: ClassVar[bool] = True
    LIMITED: ClassVar[bool] = True

    def __init__(
        self,
        handler: Callable[[Any, LambdaContext], Any],
        *,
        name: str | None = None,
        clock: object = None,
        maximum_retry_attempts: int = 2,
        maximum_event_age_in_seconds: int = 21600,
        on_success: DestinationLike | None = None,
        on_failure: DestinationLike | None = None,
        dead_letter_queue: Destination | None = None,
        reserved_concurrency: int | None = None,
        timeout: int = 3,
        region: str = "us-east-1",
        account: str = "123456789012",
        seed: int | None = None,
        outcome_retention: int = 10_000,
        store: Store | None = None,
        lease: float | None = None,
        poll: float | None = None,
    ) -> None:
        self.handler = check_callable("handler", handler)
        self.outcome_retention = outcome_retention
        self.seed = seed
        self.name: str = _default_name(handler) if name is None else check_name("functionName", name, _NAME, 64)
        self.max_retries = self.maximum_retry_attempts = check_int("maximumRetryAttempts", maximum_retry_attempts,
                                                                   0, 2)
        self.max_age = self.maximum_event_age_in_seconds = check_int(
            "maximumEventAgeInSeconds", maximum_event_age_in_seconds, 60, 21600)
        self.reserved_concurrency = None if reserved_concurrency is None else check_int(
            "reservedConcurrentExecutions", reserved_concurrency, 0)
        self.timeout = check_int("timeout", timeout, 1, 900)
        self._timeout = timedelta(seconds=self.timeout)
        self.region = check_name("region", region, REGION)
        self.account = check_name("account", account, ACCOUNT)
        self.arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{self.name}"
        self._setup(clock, seed, outcome_retention)
        check_same_clock(self.clock, handler, "handler", "Function")
        self._async = is_async_callable(handler)
        self.on_success = on_success
        self.on_failure = on_failure
        self.dead_letter_queue = dead_letter_queue
        self._on_success = self._destination(on_success, "on_success")
        self._on_failure = self._destination(on_failure, "on_failure")
        self._dead_letter_fn = self._destination(dead_letter_queue, "dead_letter_queue")
        self._slots = _Slots(self.reserved_concurrency)
        self._deleted = False
        self._what = f"function {self.name}"
        self.store, length, looks = durable_settings(store, lease, poll,
                                                     default_lease=max(DEFAULT_LEASE, 2 * self.timeout))
        self.lease = length.total_seconds()
        self.poll = None if looks is None else looks.total_seconds()
        if self.store is not None:
            self._durable = Durable(self.store, f"lambda:{self.arn}", self.clock, self._itself,
                                    lease=length, label=self._what, poll=looks)
        self._sealed = True
        if self._durable is not None:  # invocations kept by an earlier process go on
            self._durable.wake()

    def _itself(self, data: dict[str, Any]) -> Function:
        return self

    def _destination(self, target: object, what: str) -> DeliverFn | None:
        return None if target is None else as_destination(target, what, self.clock, "Function")[0]

    def __repr__(self) -> str:
        return f"<Function {self.name}{' (deleted)' if self._deleted else ''}>"

    def delete(self) -> None:
        """Delete the function: invocations raise ``ResourceNotFoundError``
        (``Function not found: <arn>``); queued ones fail without retries."""
        self._deleted = True

    def _check_live(self) -> None:
        if self._deleted:
            raise ResourceNotFoundError(f"Function not found: {self.arn}")

    # -- invoking -----------------------------------------------------------
    def _payload_text(self, payload: Any, invocation_type: str) -> str:
        if invocation_type not in _TYPES:
            raise ValidationError(f"1 validation error detected: Value '{invocation_type}' at 'invocationType' "
                                  "failed to satisfy constraint: Member must satisfy enum value set: "
                                  "[Event, RequestResponse, DryRun]")
        self._check_live()
        if isinstance(payload, str | bytes | bytearray):  # JSON text, made canonical: the checks on values apply
            text = to_text(parse_text(payload, "request body")[1], "request body") if payload else "null"
        else:
            text = to_text(payload, "payload")
        return _within(text, MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD)

    def invoke(self, payload: Any = None, invocation_type: InvocationType = "RequestResponse") -> dict[str, Any]:
        """Invoke as Lambda's ``Invoke`` does; returns AWS's response shape.

        ``payload``: ``str``/``bytes`` are JSON text (as boto3's ``Payload=``),
        other values are sent as JSON.  ``Event``: ``{"StatusCode": 202,
        "RequestId": ...}`` at once; the run happens later through the clock.
        ``RequestResponse``: runs now; ``{"StatusCode": 200, "ExecutedVersion":
        "$LATEST", "RequestId": ..., "Payload": result}``, plus
        ``"FunctionError": "Unhandled"`` (the payload then describes the error)
        when the handler raised.  ``DryRun``: ``{"StatusCode": 204}``.  An
        ``async def`` handler cannot run synchronously inside a running event
        loop: use ``await invoke_async(...)`` there.
        """
        text = self._payload_text(payload, invocation_type)
        if invocation_type == "Event":
            return {"StatusCode": 202, "RequestId": self._accept(text, None)}
        if invocation_type == "DryRun":
            self._ledger.add("invocations")
            return {"StatusCode": 204}
        return self._respond(*self._run_now(text, "Function.invoke()"))

    async def invoke_async(self, payload: Any = None,
                           invocation_type: InvocationType = "RequestResponse") -> dict[str, Any]:
        """``invoke`` for async code: never blocks the running loop (an ``async def``
        handler is awaited on it, a plain one runs in a worker thread)."""
        text = self._payload_text(payload, invocation_type)
        if invocation_type != "RequestResponse":
            return self.invoke(payload, invocation_type)
        request_id = self._start_now()
        data, context = loads(text), self._context(request_id)

        # The slot is held until the handler itself returns.  A handler whose thread
        # never started it (the await was cancelled first, or the executor refused
        # the work) never starts, and the slot is freed here; the executor's own
        # error is raised, not reported as the handler's.
        lock, phase = threading.Lock(), ["waiting"]  # -> "started" (by the thread) or "given up"

        def in_thread() -> tuple[bool, Any]:
            with lock:
                if phase[0] == "given up":
                    return True, None
                phase[0] = "started"
            try:
                return True, self.handler(data, context)
            except Exception as exc:
                return False, exc
            finally:
                self._slots.free()

        if self._async:
            try:
                ok, value = True, await self.handler(data, context)
            except Exception as exc:
                ok, value = False, exc
            finally:
                self._slots.free()
        else:
            try:
                ok, value = await asyncio.to_thread(in_thread)
            except BaseException:
                with lock:
                    if phase[0] == "waiting":
                        phase[0] = "given up"
                        self._slots.free()
                raise
        try:
            while ok and inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            ok, value = False, exc
        if not ok:
            return self._respond(request_id, None, self._now_failed(value))
        return self._respond(*self._now_succeeded(request_id, value))

    def __call__(self, payload: Any = None) -> Any:
        """A ``RequestResponse`` invocation that returns the handler's result or raises
        its error (every check applies, and it is counted)."""
        _, result, error = self._run_now(self._payload_text(payload, "RequestResponse"), "fn(...)")
        if error is not None:
            raise error
        return result

    def _item_in(self, store: object, text: str, attributes: Mapping[str, str] | None) -> Enqueued | None:
        """The work item of an ``Event`` invocation of the JSON ``text``, when this
        function keeps its invocations in ``store`` (then another item's end may
        write it in its own transaction: a kept delivery's dead letter, or a
        destination record); ``None`` otherwise.  It counts as accepted when
        this function (here or in another process) claims it."""
        durable = self._durable
        if durable is None or durable.store is not store:
            return None
        to_attributes(attributes)
        self._check_live()
        job = Job(self._new_id(), _within(text, MAX_ASYNC_PAYLOAD), None, self.clock.now(), self)
        return durable.item(job)

    def _sent(self) -> None:
        """An invocation was written for this function by another's end: run it."""
        if self._durable is not None:
            self._durable.wake()

    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None:
        """The destination protocol: an ``Event`` invocation of a JSON value
        (a ``str`` is a JSON string here, not JSON text).  Attributes are checked,
        then set aside: a Lambda event has no message attributes."""
        to_attributes(attributes)
        self._check_live()
        self._accept(_within(to_text(payload, "payload"), MAX_ASYNC_PAYLOAD), None)

    # -- running now (RequestResponse) --------------------------------------
    def _start_now(self) -> str:
        self._ledger.add("invocations")
        if not self._slots.take():
            self._ledger.add("throttles")
            raise ThrottlingError("Rate Exceeded.")
        self._ledger.add("attempts")
        return self._new_id()

    def _now_failed(self, exc: BaseException) -> BaseException:
        self._ledger.add("failures")
        return exc

    def _now_succeeded(self, request_id: str, value: Any) -> tuple[str, Any, BaseException | None]:
        try:
            return request_id, _marshal(value), None
        except MarshalError as exc:
            return request_id, None, self._now_failed(exc)

    def _run_now(self, text: str, call: str) -> tuple[str, Any, BaseException | None]:
        if self._async and in_running_loop():  # refused before anything is counted
            raise LoopBlockingError(f"{call} would block the running event loop to run the async handler of "
                                    f"{self.name}: use await fn.invoke_async(...)")
        request_id = self._start_now()
        try:
            value = run_to_completion(self.handler(loads(text), self._context(request_id)),
                                      f"Function {self.name}")
        except Exception as exc:
            return request_id, None, self._now_failed(exc)
        finally:
            self._slots.free()
        return self._now_succeeded(request_id, value)

    @staticmethod
    def _respond(request_id: str, result: Any, error: BaseException | None) -> dict[str, Any]:
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "RequestId": request_id}
        if error is None:
            response["Payload"] = result
        else:
            response["FunctionError"] = "Unhandled"
            response["Payload"] = _error_payload(error)
        return response

    def _context(self, request_id: str) -> LambdaContext:
        return LambdaContext(self.name, self.arn, request_id, self.clock.now() + self._timeout,
                             self.clock)

    # -- the asynchronous queue (the shared state machine's hooks) -----------
    def _refuse(self) -> tuple[BaseException, str, str | None] | None:
        if self._deleted:
            return ResourceNotFoundError(f"Function not found: {self.arn}"), FINAL, None
        if self.reserved_concurrency == 0:  # AWS: straight to the DLQ / failure destination
            return ThrottlingError("Rate Exceeded."), FINAL, "throttles"
        if not self._slots.take():
            return ThrottlingError("Rate Exceeded."), THROTTLE, "throttles"
        return None

    def _release(self) -> None:
        self._slots.free()

    def _call(self, job: Job) -> Any:
        return self.handler(job.payload(), self._context(job.id))

    def _retry_delay(self, job: Job) -> float:
        return RETRY_DELAYS[min(job.retries, len(RETRY_DELAYS) - 1)]

    def _throttle_delay(self, job: Job) -> float:
        return backoff_delay(job.throttles + 1, THROTTLE_BASE, THROTTLE_CAP, self._rng)

    def _succeeded(self, job: Job, result: Any) -> None:
        try:
            response = _marshal(result)
        except MarshalError as exc:  # a function error, retried as one
            self._failed(job, exc, RETRY, "failures")
            return
        record = None
        if self._on_success is not None:
            record = self._record(job, "Success", {"statusCode": 200, "executedVersion": "$LATEST"}, response)
            if job.work is not None and self._with_end(job, self.on_success, to_text(record, "record"), None):
                record = None  # (written with the end)
        super()._succeeded(job, result)
        if self._on_success is not None and record is not None:
            self._send_record(self._on_success, record, "on_success")

    def _record(self, job: Job, condition: str, response: dict[str, Any], payload: Any) -> InvocationRecord:
        return {
            "version": "1.0",
            "timestamp": _timestamp(self.clock.now()),
            "requestContext": {
                "requestId": job.id,
                "functionArn": f"{self.arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": job.calls,
            },
            "requestPayload": job.payload(),
            "responseContext": response,
            "responsePayload": payload,
        }

    def _send_record(self, destination: DeliverFn, record: InvocationRecord, what: str) -> bool:
        try:
            destination(record, None)
        except Exception as exc:
            self._ledger.add("destination_failures")
            log.error("eventbus: %s destination of %s refused a record: %s", what, self.name,
                      error_text(exc))
            return False
        return True

    def _dead_letter(self, job: Job, exc: BaseException, condition: str | None) -> bool:
        """The failure destination gets a record, the DLQ the event.  (The error's
        stack trace is formatted only here, for the record: it is the costly part
        of a failure.)"""
        delivered = False
        status = _status(exc)
        if self._on_failure is not None:
            response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            function_error = status == 200 and not issubclass(error_class(exc), EventTooOldError)
            if function_error:
                response["functionError"] = "Unhandled"
            record = self._record(job, condition or self.RETRIES_CONDITION, response,
                                  _error_payload(exc) if function_error else None)
            text = to_text(record, "record")
            delivered = (job.work is not None and self._with_end(job, self.on_failure, text, None)) \
                or self._send_record(self._on_failure, record, "on_failure")
        if self._dead_letter_fn is not None:
            attributes = {"RequestID": job.id, "ErrorCode": str(status),
                          "ErrorMessage": error_text(exc, _error_type(exc))}
            try:
                if job.work is None or not self._with_end(job, self.dead_letter_queue, job.text, attributes):
                    self._dead_letter_fn(job.payload(), attributes)
            except Exception as dlq_exc:
                self._ledger.add("failed_to_dlq")
                log.error("eventbus: the dead-letter queue of %s refused an event: %s", self.name,
                          error_text(dlq_exc))
            else:
                self._ledger.add("sent_to_dlq")
                delivered = True
        return delivered
