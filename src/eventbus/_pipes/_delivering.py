"""How a pipe hands a batch to its target: through the delivery layer.

``_PipeTarget`` is a ``Target`` that reads ``batchItemFailures`` from a
successful call; ``_Batch`` follows one batch's delivery (the delivery
layer's trail protocol) and tells the pipe how it ended; ``_Sender`` is what
the target delivers to: the destination, handed the batch as a pipe hands it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._clock import is_async_callable
from .._delivery import Function, Outcome, Queue, Target
from .._delivery._destinations import describe, speaks_protocol
from .._delivery._engine import Job, error_text
from .._exceptions import ValidationError
from .._transform import _COMPACT
from ._sources import _Record
from ._stream import Stream

if TYPE_CHECKING:
    from ._pipe import Pipe

__all__ = ["_Batch", "_PipeTarget", "_Sender", "_failed_ids", "_sender"]

log = logging.getLogger("eventbus.pipes")


@dataclass(eq=False)
class _Batch:
    """One batch under way: told when the target's delivery of it ends (the
    delivery layer's trail protocol), then acks what it must."""

    pipe: Pipe
    records: list[_Record]
    attempts: int = 0  # earlier attempts at these records (a stream's retries)
    failed_ids: set[str] = field(default_factory=set)
    error: str = ""  # why its delivery failed, when it did

    def _add(self, job: Job) -> None:
        pass

    def _ended(self, job: Job, outcome: Outcome, reason: str) -> None:
        self.pipe._batch_ended(self, outcome, reason)


class _PipeTarget(Target):
    """The pipe's target: a ``Target`` whose successful call's result is read for
    ``batchItemFailures``.  For a queue or a stream the pipe itself deals with a
    failed batch (the queue delivers it again; the stream's batch is retried), so
    a failed delivery is not reported as lost here."""

    _pipe_retries = False

    def _give_up(self, job: Job, exc: BaseException, condition: str | None) -> None:
        if isinstance(job.trail, _Batch):
            job.trail.error = error_text(exc)
        super()._give_up(job, exc, condition)

    def _drop(self, job: Job, reason: str) -> None:
        if not self._pipe_retries:
            super()._drop(job, reason)
            return
        log.info("eventbus: pipe target %s: attempt %s failed: %s", self.target_id, job.id, reason)
        self._end(job, Outcome.DROPPED, reason)

    def _succeeded(self, job: Job, result: Any) -> None:
        batch = job.trail
        if isinstance(batch, _Batch) and isinstance(result, Mapping) and "batchItemFailures" in result:
            failed = _failed_ids(result["batchItemFailures"], {r.id for r in batch.records})
            if failed is None:  # a report that names no record of the batch: the whole batch failed (as Lambda's)
                batch.failed_ids = {r.id for r in batch.records}
                batch.error = "the target's batchItemFailures did not name records of the batch"
            else:
                batch.failed_ids = failed
        super()._succeeded(job, result)


class _Sender:
    """What the target's ``Target`` delivers to: the batch (a JSON list) handed to
    the destination as a pipe hands it: a callable or ``Function`` gets the list
    and its result is kept; a ``Queue`` gets one message per item; an event bus
    one event per item."""

    def __init__(self, destination: Any, pipe_name: str, source_kind: str) -> None:
        self.destination = destination
        self.arn = describe(destination)
        self.clock = getattr(destination, "clock", None)
        self.pipe_name = pipe_name
        self.source_kind = source_kind

    def __call__(self, batch: list[Any]) -> Any:
        destination = self.destination
        if isinstance(destination, Queue | Stream):  # a message (a record) per item
            for item in batch:
                destination.deliver(item)
            return None
        if hasattr(destination, "put_events") and hasattr(destination, "_forwarded"):  # an EventBus
            for at in range(0, len(batch), 10):
                entries = [{"Source": f"Pipe {self.pipe_name}", "DetailType": f"Event from {self.source_kind}",
                            "Detail": _COMPACT.encode(item if isinstance(item, dict) else {"value": item})}
                           for item in batch[at:at + 10]]
                response = destination.put_events(entries)
                if response["FailedEntryCount"]:
                    failed = [e for e in response["Entries"] if "ErrorCode" in e]
                    raise ValidationError(f"{len(failed)} events were refused: {failed[0].get('ErrorMessage')}")
            return None
        if isinstance(destination, Function):
            return destination(batch)
        if speaks_protocol(destination):
            destination.deliver(batch)
            return None
        return destination(batch)


class _AsyncSender(_Sender):
    """A ``_Sender`` for an ``async def`` callable: awaited on the clock's loop."""

    async def __call__(self, batch: list[Any]) -> Any:
        return await self.destination(batch)


def _sender(destination: Any, pipe_name: str, source_kind: str) -> _Sender:
    plain = not isinstance(destination, Function) and not speaks_protocol(destination)
    kind = _AsyncSender if plain and is_async_callable(destination) else _Sender
    return kind(destination, pipe_name, source_kind)


def _failed_ids(failures: object, ids: set[str]) -> set[str] | None:
    """The ids a ``batchItemFailures`` report names, or ``None`` when it is not a
    list of ``{"itemIdentifier": <an id of the batch>}``."""
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    found: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return None
        found.add(identifier)
    return found
