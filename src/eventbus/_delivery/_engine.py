"""The retry state machine that targets and functions share (and, through
them, buses, schedules and pipes).

One accepted delivery is a ``Job``.  Its life::

    accepted ──> attempt ──> succeeded                                  (SUCCEEDED)
                   │  ^
                   │  └─ retry, on the clock, if the policy and the event's age allow
                   v
                failed ──> given up ──> dead-letter queue / failure destination  (DEAD_LETTERED)
                                   └──> nowhere to go: counted and logged        (DROPPED)
    (any pending step) ──> the clock shut down, or the call was interrupted     (DROPPED)

The event's age is checked before every attempt (a retry, or a first
attempt, that runs late behind a backlog is given up, not run) and before a
retry is scheduled (a retry that would run too late is not scheduled: AWS's
lookahead).  A subclass says what a call is, how long to wait before a
retry, what "too old" and "no more retries" are called, and where a given-up
job goes; the rest (accounting, ending exactly once, logging, shutdown) is
here, once.
"""

from __future__ import annotations

import itertools
import logging
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .._clock import Clock, resolve_clock, run_to_completion
from .._exceptions import (
    ClockClosedError,
    EventBusError,
    LoopBlockingError,
    NonRetryableError,
    ResourceNotFoundError,
    ValidationError,
)
from .._validate import Sealed, check_int
from ._outcomes import Accounted, Ledger, Outcome, log
from ._payload import Parsed, first_kb, loads

if TYPE_CHECKING:
    from .._store import Enqueued, Work
    from ._durable import Durable

__all__ = ["FINAL", "RETRY", "THROTTLE", "AttemptLog", "EventTooOldError", "Fanout", "Job", "Runner", "Trail",
           "error_code", "error_message", "error_text"]

FINAL, RETRY, THROTTLE = "final", "retry", "throttle"
_SUCCEEDED = Outcome.SUCCEEDED  # (an enum member read from its class costs a lookup on every delivery)


class EventTooOldError(EventBusError):
    """An event waited past its maximum age before an attempt could start."""

    error_code = "EVENT_TOO_OLD"


def error_class(exc: BaseException) -> type[BaseException]:
    """The class of the error (for a ``KeptError``, of the error it stands for)."""
    return exc.kept_class if isinstance(exc, KeptError) else type(exc)


def error_code(exc: BaseException) -> str:
    """An error's ``error_code`` if it has one, else its class name."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else error_class(exc).__name__


def error_message(exc: BaseException) -> str:
    """``str(exc)``, never raising, as valid Unicode (a lone surrogate becomes ``?``)."""
    try:
        message = str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"
    return message.encode("utf-8", "replace").decode("utf-8")


def error_text(exc: BaseException, kind: str | None = None) -> str:
    """``Type: message`` (just the type when the message is empty), first 1 KB."""
    message, kind = error_message(exc), kind or error_class(exc).__name__
    return first_kb(f"{kind}: {message}" if message else kind)


class KeptError(Exception):
    """What a delivery keeps of an error while its retry waits: the class, the
    message and the error code, without the stack frames.  (The error itself
    is left as it is.)"""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(error_message(exc))
        self.kept_class = error_class(exc)
        self.error_code = error_code(exc)

    def parts(self) -> list[str]:
        """What a work store keeps of it: ``[module, class name, message, error code]``."""
        return [self.kept_class.__module__, self.kept_class.__qualname__, str(self), self.error_code]

    @classmethod
    def restore(cls, parts: list[str]) -> KeptError:
        """A ``KeptError`` from its ``parts()`` (read back from a work store): eventbus's
        and Python's own error classes come back as themselves, others as a
        stand-in class of the same name."""
        module, name, message, code = parts
        kept = cls.__new__(cls)
        Exception.__init__(kept, message)
        kept.kept_class = _error_class_named(module, name)
        kept.error_code = code
        return kept


_STAND_INS: dict[tuple[str, str], type[BaseException]] = {}


def _error_class_named(module: str, name: str) -> type[BaseException]:
    if module == "builtins" or module.split(".")[0] == "eventbus":
        import importlib

        try:
            found: object = importlib.import_module(module)
            for part in name.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            pass
        else:
            if isinstance(found, type) and issubclass(found, BaseException):
                return found
    kind = _STAND_INS.get((module, name))
    if kind is None:
        if len(_STAND_INS) > 1000:
            _STAND_INS.clear()
        kind = _STAND_INS[(module, name)] = type(name.rpartition(".")[2], (Exception,),
                                                 {"__module__": module, "__qualname__": name})
    return kind


class Trail(Protocol):
    """What follows deliveries from outside (an event's journey: one for all the
    deliveries of an event): given each delivery as it is accepted (it may set
    ``job.slot``), and told when each ends.  The delivery keeps its own log of
    attempts while it has a trail (``Job.log``).  Called on the clock's thread;
    it must be cheap and must not raise."""

    def _add(self, job: Job) -> None: ...

    def _ended(self, job: Job, outcome: Outcome, reason: str) -> None: ...


AttemptLog = datetime | list[tuple[datetime, str | None]] | None
"""A delivery's attempts, kept small: ``None`` before the first, the time alone
for one attempt that has not failed (the common case), else ``[(time, error
or None), ...]``."""


class Job:
    """One accepted delivery.  (A plain class with slots: made once per target
    of every event, it is built in half the time a dataclass takes.)"""

    __slots__ = ("accepted_at", "attributes", "body", "calls", "hops", "id", "last_error", "log", "retries",
                 "runner", "shared", "slot", "text", "then", "throttles", "trail", "work")

    def __init__(self, id: str, text: str, attributes: dict[str, str] | None, accepted_at: datetime,
                 runner: Runner, body: str | None = None, trail: Trail | None = None, hops: int = 0,
                 shared: Parsed | None = None) -> None:
        self.id = id
        self.text = text  # the payload as JSON text: every attempt, record and DLQ copy starts from it
        self.attributes = attributes
        self.accepted_at = accepted_at
        self.runner = runner
        self.body = body  # what attempts deliver, when it differs from ``text`` (a transformed event)
        self.trail = trail  # told of the end (with ``log`` kept meanwhile)
        self.hops = hops  # bus-to-bus hops the event had made when it was routed to this delivery
        self.shared = shared  # ``text`` parsed once for many deliveries (a fan-out), when they take values
        self.slot = 0  # where its trail keeps it (the trail sets it)
        self.log: AttemptLog = None  # the attempts, while it has a trail
        self.calls = 0  # calls made (approximateInvokeCount)
        self.retries = 0  # retries counted against the policy
        self.throttles = 0  # throttle retries (not counted against the policy, where they run apart)
        self.last_error: BaseException | None = None  # while a retry waits: the error that caused it
        self.work: Work | None = None  # its claim, while a durable runner's attempt holds it (``_durable.py``)
        # written with its end, in one transaction (its dead letter), and what to tell once written
        self.then: tuple[list[Enqueued], Callable[[], None]] | None = None

    def __repr__(self) -> str:
        return (f"Job(id={self.id!r}, text={self.text!r}, attributes={self.attributes!r}, "
                f"accepted_at={self.accepted_at!r}, body={self.body!r}, hops={self.hops}, calls={self.calls}, "
                f"retries={self.retries}, throttles={self.throttles}, last_error={self.last_error!r})")

    def payload(self) -> Any:
        """A fresh copy of the payload (a destination may change the one it gets)."""
        return loads(self.text)

    # A job is its own timer callback (``attempt_async`` for an async runner, so that
    # clocks see a coroutine function): one object per waiting delivery, no partials.
    def __call__(self) -> None:
        """The next attempt."""
        self.runner._attempt(self)

    async def attempt_async(self) -> None:
        """The next attempt, of an async runner."""
        await self.runner._attempt_async(self)

    def abandoned(self, reason: str) -> None:
        """The clock dropped this job's timer (shut down, or cancelled)."""
        self.runner._abandoned(self, reason)

    def attempts(self) -> tuple[tuple[datetime, str | None], ...]:
        """The attempts logged so far: ``((time, error or None), ...)``."""
        log = self.log
        if log is None:
            return ()
        return tuple(log) if isinstance(log, list) else ((log, None),)

    # (each write to the log is one atomic step, so that readers in other threads need no lock)
    def _attempted(self, at: datetime) -> None:
        log = self.log
        if log is None:
            self.log = at
        elif isinstance(log, list):
            log.append((at, None))
        else:
            self.log = [(log, None), (at, None)]

    def _failed(self, at: datetime, error: str) -> None:
        log = self.log
        if log is None:  # refused before a call (throttled): a failed attempt at that time
            self.log = [(at, error)]
        elif isinstance(log, list):
            last_at, last_error = log[-1]
            if last_error is None:
                log[-1] = (last_at, error)
            else:
                log.append((at, error))
        else:
            self.log = [(log, error)]


class Runner(Sealed, Accounted):
    """The shared state machine (see the module notes); ``Target`` and ``Function`` subclass it."""

    AGE_CONDITION: ClassVar[str]  # why a too-old event is given up
    RETRIES_CONDITION: ClassVar[str]  # why an event is given up when the retries ran out
    FINAL_CONDITION: ClassVar[str | None]  # what a non-retryable failure records
    THROTTLE_BACKOFF: ClassVar[bool]  # throttles retried on their own backoff, not using up retries
    LIMITED: ClassVar[bool] = False  # calls take a slot (``_refuse`` / ``_release``): a function's concurrency

    max_retries: int
    max_age: int
    _what: str  # names this runner in labels and logs
    _async: bool
    _rng_made: random.Random | None = None
    _durable: Durable | None = None  # where pending deliveries are kept, when not on clock timers (``_durable.py``)

    def _setup(self, clock: object, seed: object, retention: object) -> None:
        self.clock: Clock = resolve_clock(clock)
        self._reseed(check_int("seed", seed, 0) if seed is not None else None)
        self._ledger = Ledger(check_int("outcome_retention", retention, 0))
        self._ids = itertools.count(1)
        self._max_age_delta = timedelta(seconds=self.max_age)
        self._id_prefix = ""  # drawn on first use, so that runners a bus never uses draw nothing

    def _reseed(self, seed: int | None) -> None:
        """Seed the generator of ids and jitter: ``seed``, else one drawn from the
        clock now.  The generator itself (2.5 KB of state) is made on first use: a
        runner that never retries nor makes ids (a schedule's target among 100,000)
        costs a number, not a generator."""
        self._rng_seed = self.clock._random_seed() if seed is None else seed
        self._rng_made = None

    @property
    def _rng(self) -> random.Random:
        rng = self._rng_made
        if rng is None:
            rng = self._rng_made = random.Random(self._rng_seed)
        return rng

    def _new_id(self) -> str:
        if self._durable is not None:  # (kept beside other processes' ids: a seeded clock's would repeat)
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _prepare(self, text: str, body: str | None, now: datetime, trail: Trail | None = None, hops: int = 0,
                 shared: Parsed | None = None) -> Job:
        """Accept a delivery without scheduling it (a bus's fan-out schedules many
        at once).  Its id is cheap: this runner's prefix and a sequence number.
        ``shared``: ``text`` parsed, for a runner that calls with a value."""
        prefix = self._id_prefix
        if not prefix:
            bits = uuid.uuid4().int >> 96 if self._durable is not None else self._rng.getrandbits(32)
            prefix = self._id_prefix = f"{bits:08x}-"
        job = Job(f"{prefix}{next(self._ids)}", text, None, now, self, body, trail, hops, shared)
        if trail is not None:
            trail._add(job)
        self._ledger.accept(job)
        return job

    # -- what subclasses say ----------------------------------------------------
    def _call(self, job: Job) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _retry_delay(self, job: Job) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _throttle_delay(self, job: Job) -> float:  # pragma: no cover - only with THROTTLE_BACKOFF
        raise NotImplementedError

    def _dead_letter(self, job: Job, exc: BaseException, condition: str | None) -> bool:  # pragma: no cover
        """Hand a given-up job on; ``True`` if something took it."""
        raise NotImplementedError

    def _refuse(self) -> tuple[BaseException, str, str | None] | None:
        """Why this attempt cannot call at all: (error, kind, counter), or ``None``."""
        return None

    def _release(self) -> None:
        """Undo what ``_refuse`` took for a call that went ahead."""

    def _succeeded(self, job: Job, result: Any) -> None:
        self._end(job, _SUCCEEDED)

    def _end(self, job: Job, outcome: Outcome, reason: str = "") -> None:
        if job.work is not None:  # a durable delivery: the store first (so that a waiter sees it written)
            self._durable.finish(job, outcome, reason)  # type: ignore[union-attr]
        self._ledger.end(job, outcome, reason)
        if job.trail is not None:
            job.trail._ended(job, outcome, reason)

    @staticmethod
    def _classify(exc: BaseException) -> str:
        if isinstance(exc, NonRetryableError | ValidationError | ResourceNotFoundError | LoopBlockingError):
            return FINAL  # retrying cannot help
        return THROTTLE if error_code(exc) == "THROTTLING" else RETRY

    # -- the machine ------------------------------------------------------------
    def _accept(self, text: str, attributes: dict[str, str] | None, body: str | None = None) -> str:
        job = Job(self._new_id(), text, attributes, self.clock.now(), self, body)
        self._ledger.accept(job)
        try:
            self._schedule(job, None)
        except BaseException:  # the clock refused: not accepted after all
            self._ledger.reject(job)
            raise
        return job.id

    def _elsewhere(self) -> bool:
        """Its destination is in another process (a target shared through a store):
        never run here."""
        return False

    def _who(self) -> dict[str, str]:
        """Who delivers a durable delivery, for the work item (a target: its rule and id)."""
        return {}

    def _schedule(self, job: Job, delay: float | None) -> None:
        durable = self._durable
        if durable is not None and (delay is not None or job.work is None):
            if job.work is None:  # accepted here (not by a bus's fan-out): kept in the store at once
                durable.add([durable.item(job)], [job])
            else:  # a retry: the item handed back with its new due time
                durable.retry(job, delay)  # type: ignore[arg-type]
            return
        label = (f"{self._what} {job.id}" if delay is None
                 else f"retry {job.retries + job.throttles} {self._what} {job.id}")
        self.clock._post(delay, job.attempt_async if self._async else job, label, job.abandoned, self._async)

    def _start(self, job: Job) -> bool:
        """Checks before a call; ``True`` to make it."""
        now = self.clock.now()
        if now - job.accepted_at > self._max_age_delta:
            self._too_old(job, now)
            return False
        if job.work is not None and not self._durable.starting(job, now):  # type: ignore[union-attr]
            return False  # (a kept delivery another process took over while it waited here)
        job.last_error = None
        if self.LIMITED:
            refusal = self._refuse()
            if refusal is not None:
                self._guarded(job, lambda j, r: self._failed(j, *r), refusal)
                return False
        job.calls += 1  # (the ledger counts calls from the job)
        if job.trail is not None:
            job._attempted(now)
        return True

    def _too_old(self, job: Job, now: datetime) -> None:
        """Give up a job whose event grew too old before this attempt (at ``now``)."""
        age = (now - job.accepted_at).total_seconds()
        exc = job.last_error or EventTooOldError(
            f"the event was {age:.0f} s old before its first attempt (the maximum is {self.max_age} s)")
        self._give_up(job, exc, self.AGE_CONDITION)

    def _attempt(self, job: Job) -> None:
        if not self._start(job):
            return
        try:
            result = self._call(job)
            if result is not None and isawaitable(result):  # (no message built unless needed)
                result = run_to_completion(result, f"{self._what} (an awaitable from a plain function)")
        except Exception as exc:
            if self.LIMITED:
                self._release()
            self._guarded(job, self._call_failed, exc)
            return
        except BaseException as exc:  # KeyboardInterrupt, SystemExit...: account, then let it through
            if self.LIMITED:
                self._release()
            self._interrupted(job, exc)
            raise
        if self.LIMITED:
            self._release()
        try:
            self._succeeded(job, result)
        except Exception as exc:
            self._internal_error(job, exc)

    async def _attempt_async(self, job: Job) -> None:
        if not self._start(job):
            return
        try:
            result = await self._call(job)
        except Exception as exc:
            if self.LIMITED:
                self._release()
            self._guarded(job, self._call_failed, exc)
            return
        except BaseException as exc:  # cancelled (the loop is closing), interrupted...
            if self.LIMITED:
                self._release()
            self._interrupted(job, exc)
            raise
        if self.LIMITED:
            self._release()
        self._guarded(job, self._succeeded, result)

    def _call_failed(self, job: Job, exc: BaseException) -> None:
        kind = self._classify(exc)
        self._failed(job, exc, kind, "throttles" if kind == THROTTLE else "failures")

    def _guarded(self, job: Job, step: Callable[[Job, Any], None], value: Any) -> None:
        """Run a step after a call.  Whatever goes wrong in it, the job still ends."""
        try:
            step(job, value)
        except Exception as exc:
            self._internal_error(job, exc)

    def _internal_error(self, job: Job, exc: Exception) -> None:
        log.error("eventbus: %s %s: internal error after the call", self._what, job.id, exc_info=exc)
        if self._ledger.is_pending(job.id):
            self._end(job, Outcome.DROPPED, f"internal error after the call: {error_text(exc)}")

    def _failed(self, job: Job, exc: BaseException, kind: str, counter: str | None) -> None:
        if counter is not None:
            self._ledger.add(counter)
        if job.trail is not None:
            job._failed(self.clock.now(), error_text(exc))
        if kind == FINAL:
            self._give_up(job, exc, self.FINAL_CONDITION)
        elif kind == THROTTLE and self.THROTTLE_BACKOFF:
            self._retry(job, exc, self._throttle_delay(job), counted=False)
        elif job.retries >= self.max_retries:
            self._give_up(job, exc, self.RETRIES_CONDITION)
        else:
            self._retry(job, exc, self._retry_delay(job), counted=True)

    def _retry(self, job: Job, exc: BaseException, delay: float, *, counted: bool) -> None:
        if (self.clock.now() - job.accepted_at).total_seconds() + delay > self.max_age:
            self._give_up(job, exc, self.AGE_CONDITION)  # the retry would run too late: give up now
            return
        if counted:
            job.retries += 1
        else:
            job.throttles += 1
        # A waiting retry keeps what the error says, not the error: its frames would
        # hold the handler's locals (and this job, a cycle).  Only a give-up before
        # the next call (the event grew too old on a late clock) reads it.
        job.last_error = KeptError(exc)
        if log.isEnabledFor(logging.INFO):
            log.info("eventbus: %s %s: attempt failed (%s); retry in %.1f s", self._what, job.id, error_text(exc),
                     delay)
        try:
            self._schedule(job, delay)
        except ClockClosedError:
            self._drop(job, f"the clock was shut down, so the retry could not be scheduled (last error "
                            f"{error_text(exc)})")

    def _give_up(self, job: Job, exc: BaseException, condition: str | None) -> None:
        detail = f"{condition or 'not retried'}: {error_text(exc)}"
        if self._dead_letter(job, exc, condition):
            log.warning("eventbus: %s %s failed after %d attempt(s) (%s); dead-lettered", self._what, job.id,
                        job.calls, detail)
            self._end(job, Outcome.DEAD_LETTERED, detail)
        else:
            self._drop(job, f"no dead-letter queue or failure destination took it: {detail}")

    def _drop(self, job: Job, reason: str) -> None:
        log.warning("eventbus: %s %s dropped after %d attempt(s): %s", self._what, job.id, job.calls, reason)
        self._end(job, Outcome.DROPPED, reason)

    def _with_end(self, job: Job, destination: object, text: str, attributes: dict[str, str] | None) -> bool:
        """A kept delivery's follow-up (its dead letter; a function's destination
        record) for a destination that keeps what it receives in the same work
        store (a ``Queue``, a ``Function``): written with the delivery's end, in one
        transaction (a crash leaves the delivery to make again or its follow-ups,
        never both nor neither).  ``False``: to be sent the usual way."""
        durable = self._durable
        item_in = getattr(destination, "_item_in", None)
        if durable is None or item_in is None:
            return False
        try:
            item = item_in(durable.store, text, attributes)
        except Exception:  # (refused: sent the usual way, which says why)
            return False
        if item is None:
            return False
        told: Callable[[], None] = destination._sent  # type: ignore[attr-defined]
        if job.then is None:
            job.then = ([item], told)
        else:  # (a failure destination's record and a dead letter: both with the end)
            items, before = job.then

            def both() -> None:
                before()
                told()

            job.then = ([*items, item], both)
        return True

    def _launch(self, job: Job) -> None:
        """Run a claimed durable delivery's next attempt on the clock."""
        try:
            self._schedule(job, None)
        except ClockClosedError:
            self._abandoned(job, "the clock was shut down")

    def _abandoned(self, job: Job, reason: str) -> None:
        if job.work is not None:  # a durable delivery: back in the store (pending still), for the next process
            self._durable.release(job)  # type: ignore[union-attr]
            return
        step = f"retry {job.retries + job.throttles}" if job.calls or job.throttles else "the first attempt"
        self._drop(job, f"{reason} before {step}")

    def _interrupted(self, job: Job, exc: BaseException) -> None:
        if job.work is not None:  # a durable delivery: back in the store (its attempt did not finish)
            self._durable.release(job)  # type: ignore[union-attr]
            return
        reason = f"interrupted by {type(exc).__name__}: the attempt did not finish"
        log.error("eventbus: %s %s dropped (%s)", self._what, job.id, reason)
        self._end(job, Outcome.DROPPED, reason)


class Fanout:
    """Many first attempts due at once, on one timer: what a bus does with an
    event's synchronous targets on a clock that runs callbacks one at a time
    anyway.  Each attempt is the runner's own (its retries get their own timers);
    if the run is cut short, the attempts not made end as dropped, with why."""

    __slots__ = ("jobs",)

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs

    def __call__(self) -> None:
        jobs = self.jobs
        for at, job in enumerate(jobs):
            try:
                job.runner._attempt(job)
            except BaseException as exc:  # interrupted: the rest never started
                for rest in jobs[at + 1:]:
                    rest.runner._drop(rest, f"interrupted by {type(exc).__name__} before the first attempt")
                raise

    def abandoned(self, reason: str) -> None:
        for job in self.jobs:
            job.abandoned(reason)
