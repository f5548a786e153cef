"""What a pipe reads: a queue, an iterable, or a stream, as records.

Each source hands out ``_Record``s (an id, what the enrichment and target get,
what filters and templates see, and how to acknowledge it) and is told which
of them are done with (``ack``).  A queue's message is deleted then; a
stream moves a shard on when its batch ends (``release``); an iterable is
read once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .._delivery import Queue
from .._delivery._payload import loads
from .._exceptions import LoopBlockingError
from .._transform import _COMPACT
from .._validate import short
from ._stream import Stream, StreamRecord

__all__ = ["_IterableSource", "_QueueSource", "_Record", "_StreamSource", "_decoded", "_implicit", "_sqs_record"]


@dataclass(slots=True)
class _Record:
    """One record: its id (``itemIdentifier``), what the enrichment and target get,
    what filters and templates see (encoded fields decoded), and how to ack it."""

    id: str
    value: Any
    view: Any
    handle: Any = None  # a queue's Message


class _QueueSource:
    kind = "aws:sqs"

    def __init__(self, queue: Queue, window: float) -> None:
        self.queue = queue
        self.arn = queue.arn
        # a message stays hidden while its batch waits for the window and runs (a second
        # at least: with none, a failed message would be read again at the same instant)
        self.visibility = min(max(queue.visibility_timeout + window, 1.0), 43_200.0)

    def take(self, limit: int) -> list[_Record]:
        out: list[_Record] = []
        while len(out) < limit:
            got = self.queue.receive(min(10, limit - len(out)), visibility_timeout=self.visibility)
            if not got:
                break
            for message in got:
                value = _sqs_record(self.queue, message)
                view = dict(value)
                view["body"] = _decoded(message.body)
                out.append(_Record(message.message_id, value, view, message))
        return out

    def ack(self, records: Sequence[_Record]) -> None:
        for record in records:
            self.queue.delete(record.handle)


class _IterableSource:
    kind = "iterable"

    def __init__(self, items: Iterable[Any] | AsyncIterable[Any], arn: str) -> None:
        self.arn = arn
        self.is_async = isinstance(items, AsyncIterable)
        self.items: Iterator[Any] | AsyncIterator[Any] = aiter(items) if self.is_async else iter(items)  # type: ignore[arg-type]
        self.count = 0
        self.exhausted = False
        self.error: str | None = None  # an item that is not a JSON value: reading stops there
        self.loop: object = None  # the event loop an async iterable runs in

    def _record(self, item: Any) -> _Record | None:
        try:
            loads(_COMPACT.encode(item))  # (a record must be a JSON value)
        except (TypeError, ValueError, RecursionError) as exc:
            self.error = f"the source gave an item that is not a JSON value ({short(repr(item))}: {short(exc)})"
            return None
        self.count += 1
        return _Record(str(self.count), item, item)

    def take(self, limit: int) -> list[_Record]:
        out: list[_Record] = []
        items = self.items
        assert isinstance(items, Iterator)
        while len(out) < limit and self.error is None:
            try:
                record = self._record(next(items))
            except StopIteration:
                self.exhausted = True
                break
            if record is not None:
                out.append(record)
        return out

    async def take_async(self, limit: int) -> list[_Record]:
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:  # (a finished loop closed the generator: it would just look empty)
            raise LoopBlockingError("an async iterable source lives in one event loop: run a ManualClock with "
                                    "advance_async / run_until_idle_async, or use an AsyncioClock")
        out: list[_Record] = []
        items = self.items
        assert isinstance(items, AsyncIterator)
        while len(out) < limit and self.error is None:
            try:
                record = self._record(await anext(items))
            except StopAsyncIteration:
                self.exhausted = True
                break
            if record is not None:
                out.append(record)
        return out

    def ack(self, records: Sequence[_Record]) -> None:
        pass


class _StreamSource:
    """A stream read shard by shard, in order: one batch of a shard at a time (the
    shard waits while it is delivered and retried), from the oldest record
    (``TRIM_HORIZON``) or from the end when the pipe was built (``LATEST``)."""

    kind = "aws:kinesis"

    def __init__(self, stream: Stream, starting_position: str) -> None:
        self.stream = stream
        self.arn = stream.arn
        ends = stream._end_positions()
        self.cursor = list(ends) if starting_position == "LATEST" else [0] * len(ends)  # next record to read
        self.busy = [False] * len(ends)  # a batch of the shard is under way
        self.turn = 0
        self.expired = 0  # records trimmed before they were read (counted, and logged by the pipe)

    def take(self, limit: int, shard: int | None = None) -> list[_Record]:
        count = len(self.cursor)
        shards = [shard] if shard is not None else [(self.turn + i) % count for i in range(count)]
        for at in shards:
            if self.busy[at] and shard is None:
                continue
            found, start = self.stream._read(at, self.cursor[at], limit)
            if start > self.cursor[at]:  # records trimmed by the retention period before they were read
                self.expired += start - self.cursor[at]
            self.cursor[at] = start + len(found)
            if found:
                self.busy[at] = True
                self.turn = at + 1
                return [self._record(r, at, start + k) for k, r in enumerate(found)]
        return []

    def _record(self, record: StreamRecord, shard: int, position: int) -> _Record:
        data = base64.b64encode(record.data).decode("ascii")
        value = {
            "kinesisSchemaVersion": "1.0", "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number, "data": data,
            "approximateArrivalTimestamp": record.arrival.timestamp(), "eventSource": "aws:kinesis",
            "eventVersion": "1.0", "eventID": f"{record.shard_id}:{record.sequence_number}",
            "eventName": "aws:kinesis:record", "awsRegion": self.stream.region, "eventSourceARN": self.stream.arn,
        }
        view = dict(value)
        try:
            view["data"] = _decoded(record.data.decode("utf-8"))
        except UnicodeDecodeError:
            pass  # (not text: filters see the base64)
        return _Record(record.sequence_number, value, view, (shard, position, record.arrival))

    def ack(self, records: Sequence[_Record]) -> None:
        pass  # (a shard moves on when its batch ends: release)

    def release(self, shard: int) -> None:
        self.busy[shard] = False

    def rewind(self, records: Sequence[_Record]) -> None:
        """Read these again (a stopped pipe's, when it starts again)."""
        if records:
            shard, position, _ = records[0].handle
            self.cursor[shard] = min(self.cursor[shard], position)
            self.busy[shard] = False


def _decoded(body: str) -> Any:
    """An SQS body as filters and templates see it: parsed when it is JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return body


def _sqs_record(queue: Queue, message: Any) -> dict[str, Any]:
    """AWS's SQS record, as a pipe (or Lambda) receives it."""
    sent = message.sent_at
    millis = str(int(sent.timestamp() * 1000)) if sent is not None else "0"
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {"ApproximateReceiveCount": str(message.receive_count), "SentTimestamp": millis,
                       "SenderId": queue.account, "ApproximateFirstReceiveTimestamp": millis},
        "messageAttributes": {name: {"stringValue": value, "stringListValues": [], "binaryListValues": [],
                                     "dataType": "String"} for name, value in message.attributes.items()},
        "md5OfBody": hashlib.md5(message.body.encode("utf-8")).hexdigest(),  # (SQS's own checksum)
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": queue.region,
    }


def _implicit(item: Any) -> Any:
    """A record as a template sees it: an SQS body that is JSON, parsed; a Kinesis
    record's data, decoded from base64 (and parsed when it is JSON)."""
    if not isinstance(item, dict):
        return item
    source = item.get("eventSource")
    if source == "aws:sqs" and isinstance(item.get("body"), str):
        view = dict(item)
        view["body"] = _decoded(item["body"])
        return view
    if source == "aws:kinesis" and isinstance(item.get("data"), str):
        view = dict(item)
        try:
            view["data"] = _decoded(base64.b64decode(item["data"], validate=True).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            pass
        return view
    return item
