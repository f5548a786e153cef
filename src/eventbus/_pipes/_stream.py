"""An ordered stream, Kinesis-like: shards, partition keys, sequence numbers.

``Stream(name=None, *, shard_count=1, clock=None, retention_period_hours=24,
region=..., account=...)``.  ``put_record(data, partition_key)`` appends a
record to the shard its partition key hashes to (MD5 of the key, over equal
hash ranges, as Kinesis spreads keys) and returns its ``ShardId`` and
``SequenceNumber``; sequence numbers grow within the stream.  Records older
than the retention period are trimmed from the front of their shard as new
ones arrive.  A stream is a pipe source (records in order, per shard) and a
destination (``deliver``: a record per payload).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._clock import Clock, resolve_clock
from .._delivery._destinations import Watched
from .._exceptions import ResourceNotFoundError, ValidationError
from .._validate import ACCOUNT, REGION, Sealed, check_int, check_name, check_str, out_of_range, short

__all__ = ["Stream", "StreamRecord"]

_names = itertools.count(1)
MAX_SHARDS = 500  # (Kinesis's default quota per stream is larger; in process, a generous bound)
MAX_KEY = 256  # characters of a partition key
MAX_DATA = 1_048_576  # bytes of a record's data


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record as the stream keeps it."""

    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime


class _Shard:
    __slots__ = ("first", "id", "low", "records")

    def __init__(self, shard_id: str, low: int) -> None:
        self.id = shard_id
        self.low = low  # the lowest hash key the shard takes
        self.records: deque[StreamRecord] = deque()
        self.first = 0  # the position of records[0] in the shard (trimmed ones come before)


class Stream(Watched, Sealed):
    """An ordered stream (see the module notes)."""

    def __init__(self, name: str | None = None, *, shard_count: int = 1, clock: object = None,
                 retention_period_hours: int = 24, region: str = "us-east-1", account: str = "123456789012") -> None:
        if name is None:
            name = f"stream-{next(_names)}"
        self.name = check_name("StreamName", name, r"[a-zA-Z0-9_.-]+", 128)
        self.shard_count = check_int("ShardCount", shard_count, 1, MAX_SHARDS)
        self.clock: Clock = resolve_clock(clock)
        self.retention_period_hours = check_int("RetentionPeriodHours", retention_period_hours, 24, 8760)
        self.region = check_name("region", region, REGION)
        self.account = check_name("account", account, ACCOUNT)
        self.arn = f"arn:aws:kinesis:{self.region}:{self.account}:stream/{self.name}"
        span = 2**128 // self.shard_count
        self._shards = [_Shard(f"shardId-{i:012d}", i * span) for i in range(self.shard_count)]
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._retention = timedelta(hours=self.retention_period_hours)
        self._sealed = True

    def __repr__(self) -> str:
        return f"<Stream {self.name} shards={self.shard_count} records={len(self)}>"

    def __len__(self) -> int:
        return sum(len(shard.records) for shard in self._shards)

    @property
    def shard_ids(self) -> list[str]:
        return [shard.id for shard in self._shards]

    def _shard_for(self, partition_key: str) -> _Shard:
        hashed = int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")  # (Kinesis's hash)
        return self._shards[min(hashed * self.shard_count // 2**128, self.shard_count - 1)]

    def put_record(self, data: Any, partition_key: str) -> dict[str, str]:
        """Append a record; ``data``: ``bytes`` as they are, ``str`` as UTF-8,
        anything else as compact JSON.  Returns ``{"ShardId": ...,
        "SequenceNumber": ...}``."""
        key = check_str("PartitionKey", partition_key)
        if not 1 <= len(key) <= MAX_KEY:
            raise out_of_range("partitionKey", key, "Member must have length greater than or equal to 1" if not key
                               else f"Member must have length less than or equal to {MAX_KEY}")
        if isinstance(data, bytes | bytearray):
            raw = bytes(data)
        else:
            try:
                text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                                                                      allow_nan=False)
                raw = text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValidationError(f"The record's data is not valid Unicode: {short(exc)}") from None
            except (TypeError, ValueError, RecursionError) as exc:
                raise ValidationError(f"The record's data is not JSON: {short(exc)}") from None
        if len(raw) > MAX_DATA:
            raise ValidationError(f"1 validation error detected: Value at 'data' failed to satisfy constraint: Member "
                                  f"must have length less than or equal to {MAX_DATA}")
        now = self.clock.now()
        shard = self._shard_for(key)
        with self._lock:
            record = StreamRecord(shard.id, f"{next(self._sequence):056d}", key, raw, now)
            shard.records.append(record)
            self._trim(shard, now)
            watchers = self._watchers
        for watcher in watchers:
            watcher()
        return {"ShardId": record.shard_id, "SequenceNumber": record.sequence_number}

    def _trim(self, shard: _Shard, now: datetime) -> None:
        """Drop the shard's records past the retention period (the oldest are first)."""
        oldest = now - self._retention
        while shard.records and shard.records[0].arrival < oldest:
            shard.records.popleft()
            shard.first += 1

    def deliver(self, payload: Any, attributes: Mapping[str, str] | None = None) -> None:
        """The destination protocol: a record of the payload's JSON, keyed by its hash."""
        try:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            key = hashlib.md5(text.encode("utf-8")).hexdigest()
        except (TypeError, ValueError, RecursionError) as exc:  # (UnicodeEncodeError is a ValueError)
            raise ValidationError(f"The record's data is not JSON: {short(exc)}") from None
        self.put_record(text, key)

    def records(self, shard_id: str | None = None) -> list[StreamRecord]:
        """The records kept, oldest first: of one shard, or of all (shard by shard)."""
        if shard_id is not None:
            check_str("ShardId", shard_id)
            if shard_id not in self.shard_ids:
                raise ResourceNotFoundError(f"Shard {shard_id} in stream {self.name} under account {self.account} "
                                            "does not exist")
        with self._lock:
            now = self.clock.now()
            for shard in self._shards:
                self._trim(shard, now)
            return [r for shard in self._shards if shard_id is None or shard.id == shard_id for r in shard.records]

    # -- what a pipe reads with ------------------------------------------------------
    def _end_positions(self) -> list[int]:
        with self._lock:
            return [shard.first + len(shard.records) for shard in self._shards]

    def _read(self, shard: int, position: int, limit: int) -> tuple[list[StreamRecord], int]:
        """Up to ``limit`` records of a shard from ``position`` on (past trimmed ones),
        and the position they start at."""
        with self._lock:
            found = self._shards[shard]
            self._trim(found, self.clock.now())  # (expired records go before they are read, not only on a put)
            start = max(position, found.first)
            at = start - found.first
            return list(itertools.islice(found.records, at, at + limit)), start
