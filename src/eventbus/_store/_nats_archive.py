"""``NatsStore``'s archives: archived events in a JetStream stream, definitions
and counts in a KV bucket, and a local index of the events without their text.

What is kept where (``prefix`` is the store's):

- The stream ``<prefix>-archive`` (file storage, ``replicas`` copies, direct
  get allowed), subjects ``$EVENTBUS.<prefix>.archive.<archive token>.<generation>``:
  one message per archived event, its payload the event's JSON text (UTF-8),
  its headers ``Eventbus-Time`` and ``Eventbus-Ingested`` (milliseconds since
  the epoch).  The message's stream sequence is the event's sequence number:
  it increases with every append of every process on the prefix, and
  ``high_water`` is the stream's last sequence.
- The KV bucket ``<prefix>-archives``, one key per archive (the token of its
  ARN): its ARN, its bus's ARN, its definition, its *generation* and its count
  and size in bytes.  The generation is an id taken from the store's id
  counter (the ``-meta`` bucket) when the archive is created: it orders the
  archives by creation and names the subject of this archive's events, so
  that events of a dropped archive are never taken for those of a new one of
  the same ARN.  Every change is a compare-and-set on the key's revision,
  as for the work store's records.
- In each process, an index per archive: ``(time, seq, ingested, size)`` of
  each event, four integers, sorted by ``(time, seq)``, never the text.  It is
  fed by an ordered push consumer on the stream that delivers headers only
  (``Nats-Msg-Size`` gives the size), as the KV watchers feed the work
  store's index, and at once by this process's own appends; so another
  process's appends show in this process's reads once the consumer has
  delivered them.  A ``read`` with ``up_to`` (a replay: its high-water mark)
  first waits for the consumer to have delivered every event up to it.

Costs: ``read`` finds its window in the index (a bisection) and fetches the
texts of that page only, by sequence (JetStream's direct get, concurrently):
what the page holds, not what the archive holds.  ``append`` publishes its
events (sent in order, acknowledged together) then adds them to the count
(one compare-and-set per archive; appends of one process that meet are
counted together).  ``expire`` deletes by sequence the events its index says
have expired.  ``drop_archive`` purges the stream of the archive's subject,
deletes its key, then purges again (what was appended meanwhile); an append
that finds the archive gone when it counts purges what it wrote.  ``stats``
reads the archive's key from the server (one round trip).

What differs from the sqlite store (JetStream 2.9 has no multi-record
transaction): an append is a sequence of writes, so a process killed between
publishing events and counting them leaves them uncounted (kept and
replayed); one killed while dropping an archive may leave events on the
stream that no archive names (never read).  A read from a process whose
index has not yet heard of another process's last appends (no ``up_to``)
leaves them out.  The index holds every event of every archive of the
prefix: a tuple of four integers, about 200 bytes of memory each.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from .._exceptions import EventBusError, ValidationError

if TYPE_CHECKING:
    from .._archive._store import Record, Stored
    from ._nats import NatsStore

__all__ = ["ARCHIVES", "NatsArchives"]

log = logging.getLogger("eventbus")

ARCHIVES: Final = "archives"  # the KV bucket's short name: <prefix>-archives
TIME: Final = "Eventbus-Time"
INGESTED: Final = "Eventbus-Ingested"
_SIZE: Final = "Nats-Msg-Size"  # (set by the server on a headers-only delivery: the payload's bytes)
_AT_ONCE: Final = 256  # requests in flight at once (texts fetched, messages deleted)
_QUIET: Final = 0.05  # seconds without a delivery before asking the server what is left to deliver
_GONE: Final = (10043, 10057)  # JetStream's answers to deleting a message that is not there
_MAKING: Final = threading.Lock()  # (a store's archives are made once)

_Event = tuple[int, int, int, int]  # (time, seq, ingested, size in bytes)


def _key(event: _Event) -> tuple[int, int]:
    return event[0], event[1]


class _Index:
    """One archive generation's events as this process knows them."""

    __slots__ = ("events", "oldest")

    def __init__(self) -> None:
        self.events: list[_Event] = []  # sorted by (time, seq)
        self.oldest: int | None = None  # no event ingested earlier is kept (a bound, not exact)


class _Unsubscribe:
    """A subscription as the store's watchers are stopped (``stop()``)."""

    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription

    async def stop(self) -> None:
        await self.subscription.unsubscribe()


class _Archives:
    """A store's archives: its index of archived events and what works on the
    stream and the bucket.  Every coroutine runs on the store's loop (the
    index needs no lock); the stream, the bucket and the consumer are made by
    the first call (``open``)."""

    def __init__(self, store: NatsStore) -> None:
        self.store = store
        self.stream = f"{store.prefix}-archive"
        self.subject = f"$EVENTBUS.{store.prefix}.archive"
        self.indexes: dict[tuple[str, int], _Index] = {}  # (archive token, generation) -> its index
        self.dead: set[tuple[str, int]] = set()  # generations dropped or replaced: their events are not indexed
        self.position = 0  # the last stream sequence the consumer delivered
        self.settled = 0  # every event up to this sequence is indexed (the rest of it was deleted)
        self.moved = asyncio.Event()  # set when the consumer delivers
        self.opening = asyncio.Lock()
        self.ready = False
        self.subscription: Any = None
        self.pending: dict[tuple[str, int], list[int]] = {}  # counts not yet added to the archive's key
        self.flushing: dict[tuple[str, int], asyncio.Lock] = {}

    def _records(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """The archives' keys as the index of the bucket holds them."""
        return self.store._buckets[ARCHIVES].records

    # -- opening

    async def open(self) -> None:
        if not self.ready:
            async with self.opening:
                if not self.ready:
                    await self._connect()
                    self.ready = True

    async def _connect(self) -> None:
        """Make (or find) the bucket and the stream, watch the one, follow the
        other; return once the index holds what the stream held."""
        import nats.js.errors
        from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType, StreamConfig

        from ._nats import _Bucket

        store = self.store
        if ARCHIVES not in store._buckets:
            bucket = _Bucket(f"{store.prefix}-{ARCHIVES}")
            try:
                kv = await store._js.create_key_value(config=KeyValueConfig(
                    bucket=bucket.name, history=1, storage=StorageType.FILE, replicas=store.replicas))
            except nats.js.errors.APIError as exc:
                raise ValidationError(f"Cannot open the archives of the store {store._where()}: the bucket "
                                      f"{bucket.name!r}: {exc.description or exc}") from None
            store._kv[ARCHIVES] = kv
            store._buckets[ARCHIVES] = bucket
            watcher = await kv.watchall()
            store._watchers.append(watcher)
            store._tasks.append(store._loop.create_task(store._follow(ARCHIVES, watcher)))
        await asyncio.wait_for(store._buckets[ARCHIVES].ready.wait(), store.timeout * 2)
        if self.subscription is None:
            config = StreamConfig(name=self.stream, subjects=[f"{self.subject}.>"], storage=StorageType.FILE,
                                  num_replicas=store.replicas, allow_direct=True)
            try:
                await store._js.add_stream(config)
            except nats.js.errors.APIError as exc:  # (made by another client with other settings: usable?)
                info = await store._js.stream_info(self.stream) if exc.err_code == 10058 else None
                if info is None or not info.config.allow_direct or info.config.subjects != config.subjects:
                    raise ValidationError(f"Cannot open the archives of the store {store._where()}: the stream "
                                          f"{self.stream!r}: {exc.description or exc}") from None
            self.subscription = await store._js.subscribe(
                f"{self.subject}.>", stream=self.stream, cb=self._fed, ordered_consumer=True, headers_only=True,
                deliver_policy=DeliverPolicy.ALL)
            store._watchers.append(_Unsubscribe(self.subscription))
        info = await store._js.stream_info(self.stream)
        await self.catch_up(int(info.state.last_seq or 0))

    async def _fed(self, msg: Any) -> None:
        """Index an event the consumer delivers (its headers only)."""
        try:
            seq = int(msg.metadata.sequence.stream)
            headers = msg.headers or {}
            token, _, generation = msg.subject[len(self.subject) + 1:].partition(".")
            self._index((token, int(generation)), (int(headers[TIME]), seq, int(headers[INGESTED]),
                                                  int(headers[_SIZE])))
        except (AttributeError, KeyError, ValueError) as exc:
            log.warning("eventbus: NATS stream %s: message %s is not an archived event (%s): ignored", self.stream,
                        msg.subject, exc)
            return
        if seq > self.position:
            self.position = seq
            self.moved.set()

    def _index(self, generation: tuple[str, int], event: _Event) -> None:
        """Add an event to its archive's index, unless known (or its archive gone)."""
        if generation in self.dead:
            return
        index = self.indexes.get(generation)
        if index is None:
            index = self.indexes[generation] = _Index()
        events = index.events
        at = bisect.bisect_left(events, _key(event), key=_key)
        if at < len(events) and _key(events[at]) == _key(event):
            return  # (this process's own append, delivered by the consumer too)
        events.insert(at, event)
        if index.oldest is None or event[2] < index.oldest:
            index.oldest = event[2]

    async def catch_up(self, up_to: int) -> None:
        """Return once the consumer has delivered every event up to sequence ``up_to``
        (those since deleted excepted): while deliveries come, wait for them; when
        none came for a moment, ask the server for the next event after the last
        delivered one."""
        import nats.js.errors

        store = self.store
        quiet = 0  # rounds in a row without a delivery while events are left to deliver
        while max(self.position, self.settled) < up_to:
            self.moved.clear()
            try:
                await asyncio.wait_for(self.moved.wait(), _QUIET)
                quiet = 0
                continue
            except TimeoutError:
                quiet += 1
            try:
                msg = await store._js.get_msg(self.stream, seq=self.position + 1, next=True,
                                              subject=f"{self.subject}.>")
            except nats.js.errors.NotFoundError:
                self.settled = max(self.settled, up_to)
                return
            if msg.seq is None or msg.seq > up_to:
                self.settled = max(self.settled, up_to)
                return
            if quiet * _QUIET > store.timeout:
                raise EventBusError(f"NATS JetStream at {store._where()}: the index of the archived events did not "
                                    f"catch up with the stream {self.stream!r} within {store.timeout:g} s")

    # -- definitions

    def definitions(self, source: str | None) -> list[dict[str, Any]]:
        records = sorted((record for _, record in self._records().values()), key=lambda record: int(record["g"]))
        return [json.loads(json.dumps(record["d"])) for record in records
                if source is None or record["s"] == source]

    async def save(self, archive: str, source: str, definition: dict[str, Any], create: bool) -> bool:
        from ._nats import _TRIES, token

        store = self.store
        key = token(archive)
        records = self._records()
        refreshed = False
        generation: int | None = None
        for _ in range(_TRIES):
            found = records.get(key)
            if found is not None:
                if create:
                    if refreshed:
                        return False
                    refreshed = True
                    await store._refresh(ARCHIVES, key)  # (dropped by another process a moment ago?)
                    continue
                if await store._write(ARCHIVES, key, {**found[1], "s": source, "d": definition}, found[0]) is not None:
                    return True
                continue
            if generation is None:
                generation = await store._allocate(1)
            record = {"a": archive, "s": source, "d": definition, "g": generation, "n": 0, "b": 0}
            if await store._write(ARCHIVES, key, record, store._buckets[ARCHIVES].revision(key)) is not None:
                return True
        raise EventBusError(f"NATS JetStream at {store._where()}: could not save archive {archive} after {_TRIES} "
                            "tries (too many processes changing it at once)")

    async def _purge(self, key: str, generation: int) -> None:
        await self.store._js.purge_stream(self.stream, subject=f"{self.subject}.{key}.{generation}")

    async def drop(self, archive: str) -> None:
        from ._nats import _TRIES, token

        store = self.store
        key = token(archive)
        records = self._records()
        for attempt in range(_TRIES):
            found = records.get(key)
            if found is None:
                if attempt:
                    return
                await store._refresh(ARCHIVES, key)  # (made by another process a moment ago?)
                continue
            generation = int(found[1]["g"])
            await self._purge(key, generation)
            if await store._write(ARCHIVES, key, None, found[0]) is not None:  # (the index forgets it: changed)
                await self._purge(key, generation)  # what was appended meanwhile
                return
        raise EventBusError(f"NATS JetStream at {store._where()}: could not drop archive {archive} after {_TRIES} "
                            "tries (too many processes changing it at once)")

    def changed(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """An archive's key changed in the index of the bucket: a generation that
        ends (the archive dropped, or made again) is forgotten."""
        if old is None or (new is not None and new["g"] == old["g"]):
            return
        which = (key, int(old["g"]))
        self.dead.add(which)
        self.indexes.pop(which, None)
        self.pending.pop(which, None)

    # -- events

    async def append(self, records: Sequence[Record]) -> None:
        from ._nats import token

        store = self.store
        known = self._records()
        room = store._nc.max_payload - 512  # (the headers travel with the text)
        sends: list[tuple[str, int, int, int, bytes]] = []
        for archive, time, ingested, text in records:
            key = token(archive)
            found = known.get(key)
            if found is None:
                continue  # (dropped meanwhile)
            data = text.encode()
            if len(data) > room:
                raise EventBusError(f"NATS JetStream at {store._where()} refuses an archived event of "
                                    f"{len(data):,} bytes: larger than the server's max_payload "
                                    f"({store._nc.max_payload:,} bytes) less its headers")
            sends.append((key, int(found[1]["g"]), time, ingested, data))
        if not sends:
            return
        futures = []
        for key, generation, time, ingested, data in sends:  # (sent in order: their sequence numbers follow it)
            futures.append(await store._js.publish_async(f"{self.subject}.{key}.{generation}", data,
                                                         stream=self.stream,
                                                         headers={TIME: str(time), INGESTED: str(ingested)}))
        acks = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), store.timeout)
        totals: dict[tuple[str, int], list[int]] = {}
        failed: BaseException | None = None
        for (key, generation, time, ingested, data), ack in zip(sends, acks, strict=True):
            if isinstance(ack, BaseException):
                failed = failed or ack
                continue
            self._index((key, generation), (time, int(ack.seq), ingested, len(data)))
            total = totals.setdefault((key, generation), [0, 0])
            total[0] += 1
            total[1] += len(data)
        await asyncio.gather(*(self._count(key, generation, count, size)
                               for (key, generation), (count, size) in totals.items()))
        if failed is not None:
            raise failed

    async def _count(self, key: str, generation: int, count: int, size: int) -> None:
        """Add to the archive's count and size (negative: take away).  Counts of one
        archive that meet in this process go in one compare-and-set.  An archive
        found dropped (or made again) meanwhile is purged of what this
        generation still holds on the stream: what was just appended to it."""
        which = (key, generation)
        pending = self.pending.setdefault(which, [0, 0])
        pending[0] += count
        pending[1] += size
        async with self.flushing.setdefault(which, asyncio.Lock()):
            delta = self.pending.pop(which, None)
            if delta is None:
                return  # (counted by the call before, with its own)
            try:
                alive = await self._add(key, generation, delta)
            except BaseException:
                again = self.pending.setdefault(which, [0, 0])  # (for the next call to count)
                again[0] += delta[0]
                again[1] += delta[1]
                raise
        if not alive:
            self.flushing.pop(which, None)
            self.pending.pop(which, None)
            await self._purge(key, generation)

    async def _add(self, key: str, generation: int, delta: list[int]) -> bool:
        """Add ``delta`` (events, bytes) to the archive's key; ``False`` if the
        archive of that generation is gone."""
        from ._nats import _TRIES

        store = self.store
        records = self._records()
        for attempt in range(_TRIES):
            found = records.get(key)
            if found is None or int(found[1]["g"]) != generation:
                if attempt:
                    return False
                await store._refresh(ARCHIVES, key)
                continue
            record = found[1]
            new = {**record, "n": int(record["n"]) + delta[0], "b": int(record["b"]) + delta[1]}
            if await store._write(ARCHIVES, key, new, found[0]) is not None:
                return True
        raise EventBusError(f"NATS JetStream at {store._where()}: could not count archived events after {_TRIES} "
                            "tries (too many processes changing the archive at once)")

    async def stats(self, archive: str) -> tuple[int, int]:
        from ._nats import token

        key = token(archive)
        await self.store._refresh(ARCHIVES, key)  # (another process's appends counted a moment ago)
        found = self._records().get(key)
        return (0, 0) if found is None else (int(found[1]["n"]), int(found[1]["b"]))

    async def high_water(self) -> int:
        info = await self.store._js.stream_info(self.stream)
        return int(info.state.last_seq or 0)

    async def expire(self, archive: str, ingested_before: int, limit: int | None) -> int:
        from ._nats import token

        key = token(archive)
        found = self._records().get(key)
        if found is None:
            return 0
        which = (key, int(found[1]["g"]))
        index = self.indexes.get(which)
        if index is None or index.oldest is None or index.oldest >= ingested_before:
            return 0  # (the common case, at once)
        doomed = [event for event in index.events if event[2] < ingested_before]
        if limit is not None and len(doomed) > limit:
            doomed = heapq.nsmallest(limit, doomed, key=lambda event: (event[2], event[1]))
        deleted: list[bool] = []
        for first in range(0, len(doomed), _AT_ONCE):
            deleted += await asyncio.gather(*(self._delete(event[1]) for event in doomed[first:first + _AT_ONCE]))
        gone = {event[1] for event in doomed}
        index = self.indexes.get(which)  # (after the awaits: still there?)
        if index is not None:
            index.events = [event for event in index.events if event[1] not in gone]
            index.oldest = min((event[2] for event in index.events), default=None)
        count = sum(deleted)
        if count:
            size = sum(event[3] for event, done in zip(doomed, deleted, strict=True) if done)
            await self._count(which[0], which[1], -count, -size)
        return count

    async def _delete(self, seq: int) -> bool:
        """Delete one message; ``False`` if it was not there (another process's
        expire, or a drop, deleted it first)."""
        store = self.store
        answer = await store._nc.request(f"$JS.API.STREAM.MSG.DELETE.{self.stream}",
                                         json.dumps({"seq": seq, "no_erase": True}).encode(), timeout=store.timeout)
        reply = json.loads(answer.data)
        error = reply.get("error")
        if error is None:
            return bool(reply.get("success"))
        if error.get("err_code") in _GONE:
            return False
        raise EventBusError(f"NATS JetStream at {store._where()}: deleting archived event {seq} failed: "
                            f"{error.get('description')}")

    async def read(self, archive: str, start: int, end: int, after: tuple[int, int] | None, ingested_since: int,
                   up_to: int | None, limit: int) -> list[Stored]:
        from ._nats import token

        key = token(archive)
        found = self._records().get(key)
        if found is None:
            return []
        if up_to is not None:
            await self.catch_up(up_to)
        which = (key, int(found[1]["g"]))
        low = (start, -1) if after is None or after < (start, -1) else after
        out: list[Stored] = []
        while len(out) < limit:
            index = self.indexes.get(which)
            if index is None:
                break
            events = index.events
            at = bisect.bisect_right(events, low, key=_key)
            picked: list[_Event] = []
            while at < len(events) and len(picked) < limit - len(out):
                event = events[at]
                if event[0] >= end:
                    break
                if event[2] >= ingested_since and (up_to is None or event[1] <= up_to):
                    picked.append(event)
                at += 1
            if not picked:
                break
            low = _key(events[at - 1])
            texts = await self._texts([event[1] for event in picked])
            out += [(event[0], event[1], text) for event, text in zip(picked, texts, strict=True) if text is not None]
            gone = {event[1] for event, text in zip(picked, texts, strict=True) if text is None}
            index = self.indexes.get(which)
            if gone and index is not None:  # (deleted by another process: the index forgets them, the page goes on)
                index.events = [event for event in index.events if event[1] not in gone]
        return out

    async def _texts(self, seqs: list[int]) -> list[str | None]:
        texts: list[str | None] = []
        for first in range(0, len(seqs), _AT_ONCE):
            texts += await asyncio.gather(*(self._text(seq) for seq in seqs[first:first + _AT_ONCE]))
        return texts

    async def _text(self, seq: int) -> str | None:
        """The text of the event of sequence ``seq`` (``None``: deleted)."""
        import nats.js.errors

        js = self.store._js
        try:
            msg = await js.get_msg(self.stream, seq=seq, direct=True)
        except nats.js.errors.NotFoundError:
            try:  # (a direct get may be answered by a replica that lags: the stream's leader says)
                msg = await js.get_msg(self.stream, seq=seq)
            except nats.js.errors.NotFoundError:
                return None
        return bytes(msg.data or b"").decode()

    async def delete_all(self) -> None:
        """Delete the stream and the bucket on the server (tests, benchmarks)."""
        js = self.store._js
        if self.subscription is not None:
            try:
                await self.subscription.unsubscribe()
            except Exception as exc:
                log.debug("eventbus: NATS unsubscribe: %s", exc)
        for delete, name in ((js.delete_stream, self.stream), (js.delete_key_value, f"{self.store.prefix}-{ARCHIVES}")):
            try:
                await delete(name)
            except Exception as exc:  # (never made, or gone already)
                log.debug("eventbus: NATS delete %s: %s", name, exc)


class NatsArchives:
    """The ``ArchiveStore`` methods of ``NatsStore`` (see the module's
    documentation): each runs a coroutine of the store's ``_Archives`` on the
    store's loop.  The stream, the bucket and the consumer are made when the
    store's archives are first used (an ``EventBus`` does so as it starts)."""

    _archive_helper: _Archives | None = None

    def _archives(self) -> _Archives:
        found = self._archive_helper
        if found is None:
            with _MAKING:
                if self._archive_helper is None:
                    self._archive_helper = _Archives(cast("NatsStore", self))
                found = self._archive_helper
        return found

    def save_archive(self, archive: str, source: str, definition: dict[str, Any], *, create: bool = False) -> bool:
        copied = json.loads(json.dumps(definition))
        archives = self._archives()

        async def save() -> bool:
            await archives.open()
            return await archives.save(archive, source, copied, create)

        return archives.store._run(save())

    def drop_archive(self, archive: str) -> None:
        archives = self._archives()

        async def drop() -> None:
            await archives.open()
            await archives.drop(archive)

        archives.store._run(drop())

    def archives(self, source: str | None = None) -> list[dict[str, Any]]:
        archives = self._archives()

        async def read() -> list[dict[str, Any]]:
            await archives.open()
            return archives.definitions(source)

        return archives.store._run(read())

    def append(self, records: Sequence[Record]) -> None:
        archives = self._archives()

        async def append() -> None:
            await archives.open()
            await archives.append(records)

        archives.store._run(append())

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        archives = self._archives()

        async def read() -> list[Stored]:
            await archives.open()
            return await archives.read(archive, start, end, after, ingested_since, up_to, limit)

        return archives.store._run(read())

    def high_water(self) -> int:
        archives = self._archives()

        async def read() -> int:
            await archives.open()
            return await archives.high_water()

        return archives.store._run(read())

    def expire(self, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        archives = self._archives()

        async def expire() -> int:
            await archives.open()
            return await archives.expire(archive, ingested_before, limit)

        return archives.store._run(expire())

    def stats(self, archive: str) -> tuple[int, int]:
        archives = self._archives()

        async def read() -> tuple[int, int]:
            await archives.open()
            return await archives.stats(archive)

        return archives.store._run(read())

    # -- the store's hooks (on its loop)

    def _archive_changed(self, key: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """An archive's key changed in the index of the bucket (``NatsStore._apply``)."""
        if self._archive_helper is not None:
            self._archive_helper.changed(key, old, new)

    async def _archives_delete_all(self) -> None:
        """Delete the archives' stream and bucket on the server (``NatsStore._drop_buckets``)."""
        await self._archives().delete_all()
