"""EventBridge Pipes, in process: source -> filter -> enrichment -> target.

A ``Pipe`` reads records from its source in batches, on its clock: a queue
tells the pipe when a message arrives (no polling loop), an iterable is read
as far as the pipe runs.  Each batch:

1. records that match none of the filters are dropped (a queue's are deleted,
   as AWS deletes them);
2. the enrichment, if any, is called with the batch (its input template
   applied to each record) and what it returns goes on; ``""``, ``{}`` and
   ``[]`` stop the batch there, as in AWS;
3. the target input template, if any, is applied to each item, and the
   target receives the batch through the delivery layer (a ``Target``: its
   retries and dead-letter queue).

A queue's message leaves the queue only when its batch was delivered,
filtered out, or skipped by the enrichment: a batch that fails (the
enrichment raises, or the target gives up) leaves its messages in flight
until their visibility timeout, and the queue delivers them again (its
redrive policy moves them to its dead-letter queue in the end, as AWS's
pipes rely on).  A target that reports ``{"batchItemFailures":
[{"itemIdentifier": <messageId>}]}`` leaves those messages alone and the
others are deleted.  An iterable's records are read once; its batches are
retried by the pipe's ``retry_policy`` and given up to its
``dead_letter_queue``.

The sources live in ``_sources.py``, the hand-over to the delivery layer in
``_delivering.py``; this module is the pipe's loop and its settings.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal

from .._clock import Clock, Timer, resolve_clock, run_to_completion
from .._clock._base import later
from .._delivery import Destination, Outcome, Queue, RetryPolicy
from .._delivery._destinations import as_destination, describe, speaks_protocol
from .._delivery._retry import backoff_delay
from .._delivery._store import WorkQueueStore
from .._exceptions import ClockClosedError, InvalidFilterPatternError, ValidationError
from .._pattern import RuleIndex, compile_filter_pattern
from .._transform import _COMPACT, event_time
from .._validate import ACCOUNT, REGION, Sealed, check_int, check_name, check_seconds, out_of_range, short, wrong_type
from ._delivering import _Batch, _PipeTarget, _sender
from ._sources import _implicit, _IterableSource, _QueueSource, _Record, _StreamSource
from ._stream import Stream
from ._template import PipeContext, compile_pipe_template

__all__ = ["Pipe"]

log = logging.getLogger("eventbus.pipes")

NAME: Final = r"[\.\-_A-Za-z0-9]+"
MAX_FILTERS: Final = 5
MAX_FILTER_PATTERN: Final = 4096
MAX_BATCH: Final = 10_000
MAX_WINDOW: Final = 300  # seconds
STATES: Final = ("RUNNING", "STOPPED")
# Operators AWS's Pipes do not support in filters (its operator table: "Pipe support: No")
_PIPES_REFUSE: Final = ("anything-but prefix", "anything-but suffix", "anything-but equals-ignore-case",
                        "anything-but wildcard")
_EMPTY: Final[tuple[Any, ...]] = ("", {}, [])  # what an enrichment returns to stop a batch

CurrentState = Literal["RUNNING", "STOPPED", "STARTING", "STOPPING"]


class Pipe(Sealed):
    """An EventBridge pipe, in process (see the module notes).

    ``Pipe(name, source, target, *, filters=(), enrichment=None,
    enrichment_input_template=None, target_input_template=None, batch_size=1,
    maximum_batching_window_in_seconds=0, desired_state="RUNNING",
    dead_letter_queue=None, retry_policy=None, clock=None,
    account="123456789012", region="us-east-1", poll=None)``.

    ``source``: a ``Queue``, or an iterable (or async iterable) of JSON values.
    ``target``: a callable (sync or ``async def``) or ``Function`` (called with
    the batch, a list), a ``Queue`` (a message per item), a ``Stream`` (a record
    per item) or an ``EventBus`` (an event per item).  ``filters``: up to 5 event patterns, any of which lets a
    record through.  ``retry_policy`` and ``dead_letter_queue`` apply to an
    iterable source; a queue's messages are retried by the queue itself.
    ``poll`` (seconds) is for a queue that keeps its messages in a work store
    shared with other processes (``Queue(store=...)``): how often the pipe
    looks for messages they sent (what this process sends wakes it at once).
    """

    def __init__(
        self,
        name: str,
        source: Queue | Stream | Iterable[Any] | AsyncIterable[Any],
        target: Callable[..., Any] | Destination,
        *,
        filters: Sequence[str | Mapping[str, Any]] = (),
        enrichment: Callable[[list[Any]], Any] | None = None,
        enrichment_input_template: str | None = None,
        target_input_template: str | None = None,
        batch_size: int = 1,
        maximum_batching_window_in_seconds: float = 0,
        desired_state: Literal["RUNNING", "STOPPED"] = "RUNNING",
        dead_letter_queue: Destination | None = None,
        retry_policy: RetryPolicy | None = None,
        starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON",
        maximum_record_age_in_seconds: int = -1,
        maximum_retry_attempts: int = -1,
        on_partial_batch_item_failure: Literal["AUTOMATIC_BISECT"] | None = None,
        clock: object = None,
        account: str = "123456789012",
        region: str = "us-east-1",
        poll: float | None = None,
    ) -> None:
        self.name = check_name("Name", name, NAME, 64)
        self.poll = None if poll is None else check_seconds("poll", poll, 0.001, 86_400.0)
        self.account = check_name("account", account, ACCOUNT)
        self.region = check_name("region", region, REGION)
        self.arn = f"arn:aws:pipes:{self.region}:{self.account}:pipe/{self.name}"
        if clock is None:
            clock = getattr(source, "clock", None) if isinstance(source, Queue | Stream) else None
        self.clock: Clock = resolve_clock(clock)
        self.batch_size = check_int("BatchSize", batch_size, 1, MAX_BATCH)
        self.maximum_batching_window_in_seconds = check_seconds(
            "MaximumBatchingWindowInSeconds", maximum_batching_window_in_seconds, 0, MAX_WINDOW)
        if desired_state not in STATES:
            raise out_of_range("desiredState", desired_state, "Member must satisfy enum value set: [RUNNING, STOPPED]")
        self.filters = _filters(filters)
        # compiled once (with AWS's filter errors), into one index: a record passes if any matches
        self._patterns: RuleIndex[int] | None = None
        if self.filters:
            self._patterns = RuleIndex()
            for number, pattern in enumerate(self.filters):
                self._patterns.add(number, compile_filter_pattern(pattern))
        stream_settings = (starting_position != "TRIM_HORIZON" or maximum_record_age_in_seconds != -1
                           or maximum_retry_attempts != -1 or on_partial_batch_item_failure is not None)
        if target is source:
            raise ValidationError("A pipe's target cannot be its own source (every record would go round for ever)")
        if isinstance(source, Queue):
            if stream_settings:
                raise ValidationError("starting_position, maximum_record_age_in_seconds, maximum_retry_attempts and "
                                      "on_partial_batch_item_failure apply to a stream source")
            if retry_policy is not None or dead_letter_queue is not None:
                raise ValidationError("A queue source retries through the queue (its visibility timeout) and "
                                      "dead-letters through its redrive policy, as in AWS: give retry_policy and "
                                      "dead_letter_queue to the Queue, not the Pipe")
            if source.clock is not self.clock:
                raise ValidationError(f"The source queue runs on {source.clock!r}, but this pipe runs on "
                                      f"{self.clock!r}: objects that work together must share one clock")
            if poll is not None and not isinstance(source.store, WorkQueueStore):
                raise ValidationError(f"poll is for a queue on a work store shared with other processes "
                                      f"(Queue(store=...)); queue {source.name} keeps its messages in this process, "
                                      "and what it is sent wakes the pipe at once: leave poll out")
            self._source: _QueueSource | _IterableSource | _StreamSource = _QueueSource(
                source, self.maximum_batching_window_in_seconds)
            policy = RetryPolicy(maximum_retry_attempts=0)
        elif isinstance(source, Stream):
            if retry_policy is not None:
                raise ValidationError("A stream source retries by maximum_retry_attempts and "
                                      "maximum_record_age_in_seconds, as in AWS, not by a retry_policy")
            if source.clock is not self.clock:
                raise ValidationError(f"The source stream runs on {source.clock!r}, but this pipe runs on "
                                      f"{self.clock!r}: objects that work together must share one clock")
            if starting_position not in ("TRIM_HORIZON", "LATEST"):
                raise out_of_range("sourceParameters.kinesisStreamParameters.startingPosition", starting_position,
                                   "Member must satisfy enum value set: [TRIM_HORIZON, LATEST]")
            self._source = _StreamSource(source, starting_position)
            policy = RetryPolicy(maximum_retry_attempts=0)  # (the pipe retries a shard's batch itself)
        elif isinstance(source, Iterable | AsyncIterable) and not isinstance(source, str | bytes | Mapping):
            if starting_position != "TRIM_HORIZON" or maximum_record_age_in_seconds != -1 \
                    or maximum_retry_attempts != -1 or on_partial_batch_item_failure is not None:
                raise ValidationError("starting_position, maximum_record_age_in_seconds, maximum_retry_attempts and "
                                      "on_partial_batch_item_failure apply to a stream source")
            self._source = _IterableSource(source, f"arn:aws:pipes:{self.region}:{self.account}:source/{self.name}")
            policy = RetryPolicy() if retry_policy is None else retry_policy
        else:
            raise wrong_type("Source", source, "<class 'eventbus.Queue'>, <class 'eventbus.Stream'>, an iterable or an "
                     "async iterable")
        if poll is not None and not isinstance(source, Queue):
            raise ValidationError("poll is for a queue source on a work store shared with other processes: "
                                  f"{'a stream' if isinstance(source, Stream) else 'an iterable'} source wakes the "
                                  "pipe itself: leave poll out")
        self.maximum_record_age_in_seconds = _age(maximum_record_age_in_seconds)
        self.maximum_retry_attempts = check_int("MaximumRetryAttempts", maximum_retry_attempts, -1, 10_000)
        if on_partial_batch_item_failure not in (None, "AUTOMATIC_BISECT"):
            raise out_of_range("onPartialBatchItemFailure", on_partial_batch_item_failure,
                               "Member must satisfy enum value set: [AUTOMATIC_BISECT]")
        self.on_partial_batch_item_failure = on_partial_batch_item_failure
        self._dead_letters = dead_letter_queue  # (what the pipe gives up itself: a stream's, an iterable's)
        if isinstance(self._source, _StreamSource):
            if dead_letter_queue is not None:  # (checked as a Target checks it: the pipe delivers to it itself)
                as_destination(dead_letter_queue, "dead_letter_queue", self.clock, "Pipe")
            dead_letter_queue = None
        if enrichment is not None and not callable(enrichment):
            raise wrong_type("Enrichment", enrichment, "a callable")
        self.enrichment = enrichment
        self._enrichment_async = enrichment is not None and inspect.iscoroutinefunction(enrichment)
        self._enrichment_template = None if enrichment_input_template is None else compile_pipe_template(
            enrichment_input_template, "EnrichmentParameters.InputTemplate")
        self._target_template = None if target_input_template is None else compile_pipe_template(
            target_input_template, "TargetParameters.InputTemplate")
        if enrichment_input_template is not None and enrichment is None:
            raise ValidationError("enrichment_input_template needs an enrichment")
        if target is None or not (callable(target) or speaks_protocol(target)):
            raise wrong_type("Target", target, "a callable, a Function, a Queue or an EventBus")
        self.target = target
        self._sender = _sender(target, self.name, self._source.kind)
        self._target = _PipeTarget(self._sender, target_id=self.name, retry_policy=policy,
                                   dead_letter_queue=dead_letter_queue, clock=self.clock)
        self._target._attach(self, self.clock, self.arn, holder="pipe")
        self._target._pipe_retries = not isinstance(self._source, _IterableSource)
        self._rng = self.clock.random()
        self._context = PipeContext(self.arn, self.name, self._source.arn,
                                    "" if enrichment is None else describe(enrichment), self._sender.arn, "")
        self._lock = threading.RLock()
        self._state: CurrentState = "STOPPED"
        self._state_reason: str | None = None
        self._buffer: list[_Record] = []  # records taken, waiting for the batching window
        self._window_timer: Any = None
        self._polling = False  # a poll is scheduled
        self._counts = {"received": 0, "filtered": 0, "skipped": 0, "delivered": 0, "failed": 0, "given_up": 0,
                        "expired": 0}
        self._halves: dict[int, list[tuple[list[_Record], int]]] = {}  # a shard's bisected batches still to run
        self._later: Any = None  # the timer of the next look at messages in flight
        self._sealed = True
        if desired_state == "RUNNING":
            self.start()

    def __repr__(self) -> str:
        return f"<Pipe {self.name} {self._state}>"

    # -- state ------------------------------------------------------------------------
    @property
    def current_state(self) -> CurrentState:
        """AWS's ``CurrentState``: ``RUNNING`` or ``STOPPED`` (a pipe in process
        starts and stops at once)."""
        return self._state

    @property
    def state_reason(self) -> str | None:
        """Why the pipe stopped on its own (AWS's ``StateReason``), else ``None``."""
        return self._state_reason

    def start(self) -> None:
        """Start reading the source (AWS's StartPipe)."""
        with self._lock:
            if self._state == "RUNNING":
                return
            if self.clock.closed:
                raise ClockClosedError(f"The clock of pipe {self.name} has been shut down")
            self._state = "RUNNING"
            self._state_reason = None
            if isinstance(self._source, _QueueSource):
                self._source.queue._watch(self._wake)
            elif isinstance(self._source, _StreamSource):
                self._source.stream._watch(self._wake)
        self._wake()

    def stop(self) -> None:
        """Stop reading the source (AWS's StopPipe).  Batches under way end as they
        would have; records taken but not yet sent (a batching window) go back
        to the source when its visibility timeout ends."""
        with self._lock:
            if self._state != "RUNNING":
                return
            self._state = "STOPPED"
            if isinstance(self._source, _QueueSource):
                self._source.queue._unwatch(self._wake)
            elif isinstance(self._source, _StreamSource):
                self._source.stream._unwatch(self._wake)
            self._cancel_window()
            if isinstance(self._source, _QueueSource):
                self._buffer = []  # (they come back to the queue; an iterable's wait for the restart)
            elif isinstance(self._source, _StreamSource):
                self._source.rewind(self._buffer)
                self._counts["received"] -= len(self._buffer)  # (they will be received again)
                self._buffer = []

    def metrics(self) -> dict[str, int]:
        """Records received, filtered out, skipped (an empty enrichment result),
        delivered, failed (a record per failed attempt: a queue's come back, a
        stream's are retried), given up (dead-lettered or dropped by the pipe: a
        stream's or an iterable's), and expired (a stream's, trimmed by its
        retention period before the pipe read them), so far."""
        with self._lock:
            return dict(self._counts)

    # -- the loop ---------------------------------------------------------------------
    def _wake(self) -> None:
        """Something may be ready: poll soon (once)."""
        with self._lock:
            if self._state != "RUNNING" or self._polling:
                return
            self._polling = True
        try:
            if isinstance(self._source, _IterableSource) and self._source.is_async:
                self.clock._post(None, self._poll_async, f"pipe {self.name} poll", self._abandoned, True)
            else:
                self.clock._post(None, self._poll, f"pipe {self.name} poll", self._abandoned, False)
        except ClockClosedError:
            with self._lock:
                self._polling = False
                self._failed("the clock was shut down")

    def _cancel_window(self) -> None:
        timer, self._window_timer = self._window_timer, None
        if timer is not None:
            timer.on_abandon = None  # (cancelled on purpose: not a failure)
            timer.cancel()

    def _abandoned(self, reason: str) -> None:
        with self._lock:
            self._polling = False
            self._failed(reason)

    def _failed(self, reason: str) -> None:
        """The pipe cannot go on: it stops, saying why (AWS's StateReason)."""
        log.error("eventbus: pipe %s stopped: %s", self.name, reason)
        self.stop()
        self._state_reason = reason

    def _room(self) -> int:
        return self.batch_size - len(self._buffer)

    def _poll(self) -> None:
        with self._lock:
            self._polling = False
            if self._state != "RUNNING":
                return
            source = self._source
            try:
                if isinstance(source, _StreamSource):  # (a batch holds one shard's records)
                    taken = source.take(self._room(), self._buffer[0].handle[0] if self._buffer else None)
                else:
                    taken = source.take(self._room()) if not isinstance(source, _IterableSource) \
                        or not source.is_async else []
            except Exception as exc:
                self._failed(f"reading the source failed: {type(exc).__name__}: {exc}")
                return
        self._taken(taken)

    async def _poll_async(self) -> None:
        with self._lock:
            self._polling = False
            if self._state != "RUNNING":
                return
        source = self._source
        assert isinstance(source, _IterableSource)
        try:
            taken = await source.take_async(self._room())
        except Exception as exc:
            with self._lock:
                self._failed(f"reading the source failed: {type(exc).__name__}: {exc}")
            return
        self._taken(taken)

    def _taken(self, taken: list[_Record]) -> None:
        with self._lock:
            if self._state != "RUNNING":
                return
            self._counts["received"] += len(taken)
            source = self._source
            if isinstance(source, _StreamSource) and source.expired:
                log.warning("eventbus: pipe %s: %d stream records expired (past the retention period) before the "
                            "pipe read them", self.name, source.expired)
                self._counts["expired"] += source.expired
                source.expired = 0
            self._buffer.extend(taken)
            source = self._source
            if not self._buffer:
                if isinstance(source, _QueueSource) and len(source.queue):  # only in flight: look again then
                    self._wake_later(source.visibility if self.poll is None else min(source.visibility, self.poll),
                                     at_least=0.0 if self.poll is None else self.poll)
                elif self.poll is not None:  # (what other processes send to the shared queue)
                    self._wake_later(self.poll, at_least=self.poll)
                elif isinstance(source, _IterableSource) and source.error is not None:
                    self._failed(source.error)
                return
            full = len(self._buffer) >= self.batch_size
            ended = isinstance(source, _IterableSource) and (source.exhausted or source.error is not None)
            if not full and self.maximum_batching_window_in_seconds and not ended:
                if self._window_timer is None:  # the window opens with the first record
                    self._window_timer = self.clock.call_later(
                        self.maximum_batching_window_in_seconds, self._window_closed, label=f"pipe {self.name} window",
                        on_abandon=self._abandoned)
                return
            batch, self._buffer = self._buffer, []
            self._cancel_window()
        self._run(batch)
        self._after_take()

    def _after_take(self) -> None:
        source = self._source
        if isinstance(source, _IterableSource) and source.error is not None:
            with self._lock:
                self._failed(source.error)
            return
        self._wake()  # more may be waiting

    def _window_closed(self) -> None:
        with self._lock:
            self._window_timer = None
            if self._state != "RUNNING" or not self._buffer:
                return
            batch, self._buffer = self._buffer, []
        self._run(batch)
        self._wake()

    def _run(self, records: list[_Record], attempts: int = 0) -> None:
        """One batch: filter, enrich, transform, deliver."""
        everything = records
        if isinstance(self._source, _StreamSource) and self.maximum_record_age_in_seconds != -1:
            now = self.clock.now()
            limit = self.maximum_record_age_in_seconds
            old = [r for r in records if (now - r.handle[2]).total_seconds() > limit]
            if old:  # AWS: older records are not sent to the target
                self._give_up(old, "MaximumRecordAgeInSeconds: the records were too old to send")
                records = [r for r in records if r not in old]
        index = self._patterns
        if index is not None:
            kept: list[_Record] = []
            dropped: list[_Record] = []
            for record in records:
                (kept if index.match(record.view) else dropped).append(record)
            if dropped:
                self._source.ack(dropped)
                with self._lock:
                    self._counts["filtered"] += len(dropped)
            records = kept
        if not records:
            self._finished(everything)
            return
        context = self._context_now()
        if self.enrichment is None:
            self._deliver(records, attempts, [r.value for r in records], context)
            return
        try:
            payload = self._enrichment_payload(records, context)
        except ValueError as exc:
            self._batch_failed(records, attempts, str(exc))
            return
        if self._enrichment_async:  # awaited on the clock's loop (a ManualClock's own, or the running one)
            async def enrich() -> None:
                try:
                    assert self.enrichment is not None
                    result = await self.enrichment(payload)
                except Exception as exc:
                    self._enrichment_failed(records, attempts, exc)
                    return
                self._enriched(records, attempts, everything, result, context)

            try:
                self.clock._post(None, enrich, f"pipe {self.name} enrichment", self._abandoned, True)
            except ClockClosedError:
                self._batch_failed(records, attempts, "the clock was shut down")
            return
        try:
            result = self.enrichment(payload)
            if inspect.isawaitable(result):  # (a plain function that returned an awaitable)
                result = run_to_completion(result, f"pipe {self.name}'s enrichment")
        except Exception as exc:
            self._enrichment_failed(records, attempts, exc)
            return
        self._enriched(records, attempts, everything, result, context)

    def _enrichment_payload(self, records: list[_Record], context: PipeContext) -> list[Any]:
        template = self._enrichment_template
        return [r.value if template is None else template.render(r.view, context) for r in records]

    def _enrichment_failed(self, records: list[_Record], attempts: int, exc: Exception) -> None:
        self._batch_failed(records, attempts, f"the enrichment failed ({type(exc).__name__}: {short(str(exc))})")

    def _enriched(self, records: list[_Record], attempts: int, everything: list[_Record], result: Any,
                  context: PipeContext) -> None:
        if any(result == empty and type(result) is type(empty) for empty in _EMPTY):
            self._source.ack(records)  # AWS: "", {} and [] end the batch here
            with self._lock:
                self._counts["skipped"] += len(records)
            self._finished(everything)
            return
        items = list(result) if isinstance(result, list) else [result]
        self._deliver(records, attempts, items, context)

    def _deliver(self, records: list[_Record], attempts: int, items: list[Any], context: PipeContext) -> None:
        try:
            if self._target_template is not None:
                items = [self._target_template.render(_implicit(item), context) for item in items]
            text = _COMPACT.encode(items)  # (refuses NaN, and what is not JSON)
        except (TypeError, ValueError, RecursionError) as exc:
            self._batch_failed(records, attempts, f"the batch is not JSON for the target ({short(exc)})")
            return
        batch = _Batch(self, records, attempts)
        job = self._target._prepare(text, None, self.clock.now(), batch)
        if self._target._async:
            try:
                self._target._schedule(job, None)
            except ClockClosedError:
                job.abandoned("the clock was shut down")
        else:
            self._target._attempt(job)

    def _finished(self, records: list[_Record]) -> None:
        """A batch is done with (a stream's shard moves on to its next batch)."""
        source = self._source
        if not isinstance(source, _StreamSource) or not records:
            return
        shard = records[0].handle[0]
        with self._lock:
            waiting = self._halves.get(shard)
            following = waiting.pop() if waiting else None
        if following is not None:  # the other half of a bisected batch
            self._run(*following)
            return
        source.release(shard)
        self._wake()

    def _batch_failed(self, records: list[_Record], attempts: int, reason: str) -> None:
        """A batch that failed before its delivery: a queue's messages come back after
        their visibility timeout; a stream's are retried; an iterable's records are
        dropped, with the reason."""
        with self._lock:
            self._counts["failed"] += len(records)
        if isinstance(self._source, _QueueSource):
            log.warning("eventbus: pipe %s: %s; %d records stay in the queue", self.name, reason, len(records))
            self._wake_later(self._source.visibility)
        elif isinstance(self._source, _StreamSource):
            self._retry(records, attempts + 1, reason)
        else:  # an iterable's records are not read again: to the dead-letter queue
            self._give_up(records, reason)

    def _retry(self, records: list[_Record], attempts: int, reason: str) -> None:
        """A stream's batch failed its ``attempts``-th time: retried after a backoff,
        halved first with ``AUTOMATIC_BISECT``; once the retries or the records' age
        run out, dead-lettered (or dropped, with the reason), and the shard moves on."""
        oldest = min(record.handle[2] for record in records)
        age = (self.clock.now() - oldest).total_seconds()
        retries_out = self.maximum_retry_attempts != -1 and attempts > self.maximum_retry_attempts
        too_old = self.maximum_record_age_in_seconds != -1 and age > self.maximum_record_age_in_seconds
        assert isinstance(self._source, _StreamSource)
        expired = age > self._source.stream.retention_period_hours * 3600  # (retried "until it expires", as AWS)
        if retries_out or too_old or expired:
            condition = ("MaximumRetryAttempts" if retries_out else "MaximumRecordAgeInSeconds" if too_old
                         else "the records expired (past the stream's retention period)")
            self._give_up(records, f"{condition}: {reason}")
            self._finished(records)
            return
        if self.on_partial_batch_item_failure == "AUTOMATIC_BISECT" and len(records) > 1:
            half = len(records) // 2
            with self._lock:
                self._halves.setdefault(records[0].handle[0], []).append((records[half:], attempts))
            records = records[:half]
        delay = backoff_delay(attempts, 1.0, 300.0, self._rng)
        log.info("eventbus: pipe %s: a batch of %d stream records failed (%s); retry %d in %.1f s", self.name,
                 len(records), reason, attempts, delay)

        def again() -> None:
            with self._lock:
                if self._state != "RUNNING":  # stopped meanwhile: read again when it starts
                    assert isinstance(self._source, _StreamSource)
                    self._halves.pop(records[0].handle[0], None)
                    self._source.rewind(records)
                    self._counts["received"] -= len(records)  # (they will be received again)
                    return
            self._run(records, attempts)

        try:
            self.clock._schedule(Timer(later(self.clock.now(), delay), again, f"pipe {self.name} retry {attempts}",
                                       None, is_async=False, standing=True))
        except ClockClosedError:
            assert isinstance(self._source, _StreamSource)
            self._source.rewind(records)

    def _give_up(self, records: list[_Record], reason: str) -> None:
        with self._lock:
            self._counts["given_up"] += len(records)
        dlq = self._dead_letters
        if dlq is not None:
            try:
                deliver = getattr(dlq, "deliver", None)
                payload = [record.value for record in records]
                if deliver is not None:
                    deliver(payload, {"PIPE_ARN": self.arn, "SOURCE_ARN": self._source.arn,
                                      "ERROR_MESSAGE": reason[:1024]})
                else:
                    dlq(payload)  # type: ignore[operator]
                log.warning("eventbus: pipe %s: %d records dead-lettered (%s)", self.name, len(records), reason)
                return
            except Exception as exc:
                reason = f"{reason}; the dead-letter queue refused them too ({type(exc).__name__}: {exc})"
        log.error("eventbus: pipe %s: %d records dropped: %s", self.name, len(records), reason)

    def _context_now(self) -> PipeContext:
        c = self._context
        return PipeContext(c.pipe_arn, c.pipe_name, c.source_arn, c.enrichment_arn, c.target_arn,
                           event_time(self.clock.now()))

    def _batch_ended(self, batch: _Batch, outcome: Outcome, reason: str) -> None:
        source = self._source
        if isinstance(source, _StreamSource):
            records = batch.records
            if outcome is Outcome.SUCCEEDED:
                failed = [i for i, r in enumerate(records) if r.id in batch.failed_ids]
                done = records[:failed[0]] if failed else records  # (checkpointed up to the first failure)
                with self._lock:
                    self._counts["delivered"] += len(done)
                if failed:
                    with self._lock:
                        self._counts["failed"] += len(records) - len(done)
                    self._retry(records[failed[0]:], batch.attempts + 1, "a partial batch item failure")
                else:
                    self._finished(records)
            else:
                with self._lock:
                    self._counts["failed"] += len(records)
                self._retry(records, batch.attempts + 1, batch.error or reason)
            return
        if outcome is Outcome.SUCCEEDED:
            done = [r for r in batch.records if r.id not in batch.failed_ids]
            source.ack(done)
            with self._lock:
                self._counts["delivered"] += len(done)
                self._counts["failed"] += len(batch.records) - len(done)
            if isinstance(source, _IterableSource) and batch.failed_ids:  # not read again: dead-lettered
                self._give_up([r for r in batch.records if r.id in batch.failed_ids],
                              batch.error or "a partial batch item failure")
        elif outcome is Outcome.DEAD_LETTERED:
            source.ack(batch.records)
            with self._lock:
                self._counts["failed"] += len(batch.records)
        else:  # dropped: a queue's messages come back after their visibility timeout
            with self._lock:
                self._counts["failed"] += len(batch.records)
            log.info("eventbus: pipe %s: a batch of %d records was not delivered: %s", self.name,
                     len(batch.records), reason)
        if isinstance(source, _QueueSource) and (outcome is Outcome.DROPPED or batch.failed_ids):
            self._wake_later(source.visibility)

    def _wake_later(self, seconds: float, *, at_least: float = 0.0) -> None:
        """Poll again when messages in flight become visible again, or after ``poll``
        (one timer at a time).  A standing timer: ``run_until_idle`` does not wait
        for a redelivery or a poll."""
        floor = min(1.0, at_least) if at_least else 1.0  # (a zero visibility timeout must not spin)
        when = later(self.clock.now(), max(seconds, floor))
        with self._lock:
            pending = self._later
            if pending is not None and not pending.done and not pending.cancelled and pending.when <= when:
                return
            timer = Timer(when, self._woken, f"pipe {self.name} redelivery", None, is_async=False, standing=True)
            self._later = timer
        try:
            self.clock._schedule(timer)
        except ClockClosedError:
            pass

    def _woken(self) -> None:
        with self._lock:
            self._later = None
        self._wake()


def _age(value: object) -> int:
    age = check_int("MaximumRecordAgeInSeconds", value, -1, 604_800)
    if 0 <= age < 60:
        raise out_of_range("MaximumRecordAgeInSeconds", age, "Member must have value greater than or equal to 60 "
                           "(or -1: no limit)")
    return age


def _filters(filters: object) -> tuple[str | Mapping[str, Any], ...]:
    if isinstance(filters, str | Mapping) or not isinstance(filters, Sequence):
        raise wrong_type("FilterCriteria.Filters", filters, "<class 'list'>, <class 'tuple'>")
    if len(filters) > MAX_FILTERS:
        raise out_of_range("sourceParameters.filterCriteria.filters", f"{len(filters)} filters",
                           f"Member must have length less than or equal to {MAX_FILTERS}")
    checked: list[str | Mapping[str, Any]] = []
    for pattern in filters:
        if not isinstance(pattern, str | Mapping):
            raise wrong_type("FilterCriteria.Filters[].Pattern", pattern, "<class 'str'>, <class 'dict'>")
        if isinstance(pattern, Mapping):
            try:
                pattern = json.loads(json.dumps(dict(pattern)))
            except (TypeError, ValueError, RecursionError):
                raise InvalidFilterPatternError("the pattern is not JSON") from None
        checked.append(pattern)
        text = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if len(text) > MAX_FILTER_PATTERN:
            raise out_of_range("sourceParameters.filterCriteria.filters.member.pattern", text,
                               f"Member must have length less than or equal to {MAX_FILTER_PATTERN}")
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            continue  # (compiling it says what is wrong)
        for refused in _PIPES_REFUSE:
            operator = refused.split(" ")[1]
            try:
                uses = _uses(parsed, operator)
            except RecursionError:
                break  # (compiling it refuses a pattern this deep)
            if uses:
                raise ValidationError(f"Invalid filter pattern definition. (Pipes do not support anything-but "
                                      f"with {operator}, as AWS's operator table says)")
    return tuple(checked)


def _uses(pattern: Any, operator: str) -> bool:
    """Whether ``pattern`` has ``anything-but`` with ``operator`` inside it."""
    if isinstance(pattern, dict):
        for key, value in pattern.items():
            if key == "anything-but" and isinstance(value, dict) and operator in value:
                return True
            if _uses(value, operator):
                return True
    elif isinstance(pattern, list):
        return any(_uses(item, operator) for item in pattern)
    return False
