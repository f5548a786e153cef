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
  counter (the ``-meta`` bucket) when the archive is created, after the
  create has read the key's revision (that its compare-and-set expects): so
  an archive's generation is greater than that of every archive of the same
  ARN before it, and names the subject of its events, so that events of a
  dropped archive are never taken for those of a new one of the same ARN.
  Every change is a compare-and-set on the key's revision, as for the work
  store's records: of two processes creating one archive at once, one wins.
- In each process, an index per archive: ``(time, seq, ingested, size)`` of
  each event, four integers, sorted by ``(time, seq)``, never the text.  It is
  fed by an ordered push consumer on the stream that delivers headers only
  (``Nats-Msg-Size`` gives the size), on a connection of its own (a backlog
  of deliveries never holds up the store's requests), as the KV watchers
  feed the work store's index, and at once by this process's own appends;
  so another process's appends show in this process's reads once the
  consumer has delivered them.  Opening the archives does not wait for the consumer (a
  stream of a million events takes it some seconds): definitions and counts
  come from the bucket, and a ``read`` with ``up_to`` (a replay: its
  high-water mark) first waits for the consumer to have delivered every
  event up to it, for as long as deliveries keep coming (at most
  ``_CATCH_UP`` seconds, or 12 times the store's timeout if longer), else
  raises ``EventBusError`` saying how far the index got.  An event of an
  archive generation the index does not know (made a moment ago by another
  process, or left behind by a drop that was interrupted) is looked up once
  in the bucket; the generations known to have ended are remembered per ARN
  (the latest; for at most ``_DEAD`` ARNs).  A stream deleted and made again
  underneath (its ``created`` time changed, seen by ``high_water``,
  ``expire``, a text of another subject than the index said, and a look
  every ``_CHECK_EVERY`` seconds) is followed again from its start: the
  index is made again from the new stream.

Costs: ``read`` finds its window in the index (a bisection) and fetches the
texts of that page only, by sequence (JetStream's direct get, concurrently):
what the page holds, not what the archive holds.  ``append`` publishes its
events (sent in order, acknowledged together) then adds them to the count
(one compare-and-set per archive; appends of one process that meet are
counted together); an event larger than the server's ``max_payload`` is not
sent, the others are, then the append raises ``EventBusError`` saying how
many it kept (so does an append some of whose events the server did not
acknowledge).  ``expire`` deletes by sequence the events its index says
have expired.  ``drop_archive`` purges the stream of the archive's subject,
deletes its key, then purges again (what was appended meanwhile); an append
that finds the archive gone when it counts purges what it wrote.  ``stats``
reads the archive's key from the server (one round trip); ``archives`` reads
from the server what the bucket's watcher has not yet delivered (one round
trip, and one per key changed since if the watcher is behind: the bucket
keeps one message per key), so that it lists every archive made before it
was called, by any process.

What differs from the sqlite store (JetStream 2.9 has no multi-record
transaction): an append is a sequence of writes, so a process killed between
publishing events and counting them leaves them uncounted (kept and
replayed); one killed while dropping an archive may leave events on the
stream that no archive names (never read).  A read from a process whose
index has not yet heard of another process's last appends (no ``up_to``)
leaves them out.  The index holds every event of every archive of the
prefix: a tuple of four integers, about 200 bytes of memory each.  A stream
deleted on the server takes the events with it (the counts in the bucket
are not corrected); it is not made again until a store opens the prefix.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import json
import logging
import threading
from collections.abc import Sequence
from time import monotonic
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
_CATCH_UP: Final = 60.0  # seconds a read waits at most for the index to reach its high-water mark
_CHECK_EVERY: Final = 5.0  # seconds between two looks at the stream (deleted and made again underneath?)
_YIELD: Final = 1024  # deliveries handled before the loop lets other work in
_DEAD: Final = 4096  # ARNs whose last ended generation is remembered (the oldest forgotten first)
_HEADROOM: Final = 512  # bytes of max_payload left for an event's headers
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


class _Feed:
    """The stream's consumer on a connection of its own (a backlog of deliveries,
    a stream of a million events being indexed, never delays the store's
    requests), stopped as the store's watchers are (``stop()``); its
    subscription is replaced when the stream is followed again."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.subscription: Any = None

    async def unsubscribe(self) -> None:
        old, self.subscription = self.subscription, None
        if old is not None:
            try:
                await old.unsubscribe()
            except Exception as exc:  # (its consumer gone with the stream, or the connection away)
                log.debug("eventbus: NATS unsubscribe: %s", exc)

    async def stop(self) -> None:
        await self.unsubscribe()
        await self.nc.close()


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
        self.dead: dict[str, int] = {}  # archive token -> its latest generation known to have ended
        self.position = 0  # the last stream sequence the consumer delivered
        self.settled = 0  # every event up to this sequence is indexed (the rest of it was deleted)
        self.moved = asyncio.Event()  # set when the consumer delivers
        self.opening = asyncio.Lock()
        self.renewing = asyncio.Lock()
        self.ready = False
        self.feed: _Feed | None = None  # (in the store's watchers)
        self.looking: asyncio.Task[None] | None = None
        self.follower: asyncio.Task[None] | None = None  # the bucket's watcher
        self.created: Any = None  # the stream's creation time, as the server says: another stream if it changes
        self.epoch = 0  # moves each time the stream is followed again from its start
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
        other (without waiting for the consumer to deliver what the stream holds)."""
        import nats.js.errors
        from nats.js.api import KeyValueConfig, StorageType

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
            self.follower = store._loop.create_task(store._follow(ARCHIVES, watcher))
            store._tasks.append(self.follower)
        await asyncio.wait_for(store._buckets[ARCHIVES].ready.wait(), store.timeout * 2)
        if self.feed is None:
            self.feed = _Feed(await self._dial())
            store._watchers.append(self.feed)
        if self.feed.subscription is None:
            await self._consume(await self._make_stream())
        if self.looking is None:
            self.looking = store._loop.create_task(self._look())
            store._tasks.append(self.looking)

    async def _dial(self) -> Any:
        """The consumer's connection."""
        import nats

        store = self.store

        async def quiet(exc: Exception) -> None:  # (a consumer that fell behind starts again where it was)
            log.debug("eventbus: NATS %s (the archived events' consumer): %s", store._where(), exc)

        return await asyncio.wait_for(nats.connect(
            servers=list(store.servers), connect_timeout=store.timeout, error_cb=quiet, max_reconnect_attempts=-1,
            reconnect_time_wait=0.5, name=f"eventbus NatsStore {store.prefix} archive index"), store.timeout)

    async def _make_stream(self) -> Any:
        """Make the stream (or find it, made by another client): its info."""
        import nats.js.errors
        from nats.js.api import StorageType, StreamConfig

        store = self.store
        config = StreamConfig(name=self.stream, subjects=[f"{self.subject}.>"], storage=StorageType.FILE,
                              num_replicas=store.replicas, allow_direct=True)
        try:
            return await store._js.add_stream(config)
        except nats.js.errors.APIError as exc:  # (made by another client with other settings: usable?)
            info = await store._js.stream_info(self.stream) if exc.err_code == 10058 else None
            if info is None or not info.config.allow_direct or info.config.subjects != config.subjects:
                raise ValidationError(f"Cannot open the archives of the store {store._where()}: the stream "
                                      f"{self.stream!r}: {exc.description or exc}") from None
            return info

    async def _consume(self, info: Any) -> None:
        """Start the consumer on the stream ``info`` describes, from its first event.
        What it delivers after the stream is followed again is ignored."""
        from nats.js.api import DeliverPolicy

        self.created = info.created
        epoch = self.epoch
        count = 0

        async def fed(msg: Any) -> None:
            nonlocal count
            if self.epoch == epoch:
                await self._fed(msg)
            count += 1
            if count % _YIELD == 0:  # (a backlog is handled without a pause: the store's other calls go between)
                await asyncio.sleep(0)

        assert self.feed is not None
        self.feed.subscription = await self.feed.nc.jetstream(timeout=self.store.timeout).subscribe(
            f"{self.subject}.>", stream=self.stream, cb=fed, ordered_consumer=True, headers_only=True,
            deliver_policy=DeliverPolicy.ALL)

    async def _info(self) -> Any:
        """The stream's info (``None``: there is no such stream)."""
        import nats.js.errors

        try:
            return await self.store._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            return None

    async def _check(self) -> bool:
        """Whether the stream is the one the index follows (``_judge``)."""
        return await self._judge(await self._info())

    async def _judge(self, info: Any) -> bool:
        """Whether the stream whose info was just read (``None``: there is none) is the
        one the index follows.  If it is not (deleted, or deleted and made again: its
        creation time changed), the index is emptied and, if there is a stream, made
        again from it by a new consumer; returns ``False``."""
        epoch = self.epoch
        if (info.created == self.created) if info is not None else self.created is None:
            return True
        async with self.renewing:
            if self.epoch != epoch:  # (followed again meanwhile)
                return False
            log.warning("eventbus: NATS stream %s at %s %s: the index of its archived events starts again",
                        self.stream, self.store._where(),
                        "is gone" if info is None else "was made again (deleted underneath?)")
            self.epoch += 1
            self.created = None
            if self.feed is not None:
                await self.feed.unsubscribe()
            self.indexes.clear()
            self.position = self.settled = 0
            self.moved.set()
            if info is not None:
                await self._consume(info)
        return False

    async def _look(self) -> None:
        """Look at the stream every ``_CHECK_EVERY`` seconds (while the store is open):
        a consumer whose stream was deleted underneath delivers nothing more."""
        while True:
            await asyncio.sleep(_CHECK_EVERY)
            try:
                await self._check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # (the server away a moment: looked at again later)
                log.debug("eventbus: NATS stream %s: %s", self.stream, exc)

    async def _fed(self, msg: Any) -> None:
        """Index an event the consumer delivers (its headers only)."""
        epoch = self.epoch
        try:
            seq = int(msg.metadata.sequence.stream)
            headers = msg.headers or {}
            token, _, generation = msg.subject[len(self.subject) + 1:].partition(".")
            which = (token, int(generation))
            event = (int(headers[TIME]), seq, int(headers[INGESTED]), int(headers[_SIZE]))
        except (AttributeError, KeyError, ValueError) as exc:
            log.warning("eventbus: NATS stream %s: message %s is not an archived event (%s): ignored", self.stream,
                        msg.subject, exc)
            return
        alive = self._alive(which)
        if alive is None:  # (made a moment ago by another process, or left by a drop: the bucket says)
            try:
                await self.store._refresh(ARCHIVES, token)
            except Exception as exc:  # (indexed, as if alive: a drop of it forgets it)
                log.debug("eventbus: NATS bucket %s: key %s: %s", ARCHIVES, token, exc)
                alive = True
            else:
                alive = self._alive(which)
                if alive is None:  # (its key was written before its events: it has ended)
                    self._bury(token, which[1])
                    alive = False
            if self.epoch != epoch:
                return
        if alive:
            self._index(which, event)
        if seq > self.position:
            self.position = seq
            self.moved.set()

    def _alive(self, which: tuple[str, int]) -> bool | None:
        """Whether an archive generation is the archive's now (``None``: not known)."""
        token, generation = which
        found = self._records().get(token)
        if found is not None:
            current = int(found[1]["g"])
            if current == generation:
                return True
            if current > generation:
                return False
        if generation <= self.dead.get(token, 0):
            return False
        return None

    def _bury(self, token: str, generation: int) -> None:
        """Forget an archive's generations up to ``generation`` (ended)."""
        latest = max(self.dead.pop(token, 0), generation)
        self.dead[token] = latest  # (at the end: the most recent)
        while len(self.dead) > _DEAD:
            del self.dead[next(iter(self.dead))]
        for table in (self.indexes, self.pending, self.flushing):
            for which in [which for which in table if which[0] == token and which[1] <= latest]:
                del table[which]

    def _index(self, which: tuple[str, int], event: _Event) -> None:
        """Add an event to its archive generation's index, unless known."""
        index = self.indexes.get(which)
        if index is None:
            index = self.indexes[which] = _Index()
        events = index.events
        at = bisect.bisect_left(events, _key(event), key=_key)
        if at < len(events) and _key(events[at]) == _key(event):
            return  # (this process's own append, delivered by the consumer too)
        events.insert(at, event)
        if index.oldest is None or event[2] < index.oldest:
            index.oldest = event[2]

    async def catch_up(self, up_to: int, seconds: float) -> bool:
        """Whether the consumer has delivered every event up to sequence ``up_to``
        (those since deleted excepted), waiting at most about ``seconds``: while
        deliveries come, wait for them; when none came for a moment, ask the
        server for the next event after the last delivered one.  Nothing
        delivered in that time: a look at the stream (made again underneath?)."""
        import nats.js.errors

        store = self.store
        deadline = monotonic() + seconds
        began = self.position
        while max(self.position, self.settled) < up_to:
            self.moved.clear()
            try:
                await asyncio.wait_for(self.moved.wait(), _QUIET)
            except TimeoutError:
                try:
                    msg = await store._js.get_msg(self.stream, seq=self.position + 1, next=True,
                                                  subject=f"{self.subject}.>")
                except nats.js.errors.NotFoundError:
                    msg = None
                if msg is None or msg.seq is None or msg.seq > up_to:
                    self.settled = max(self.settled, up_to)
                    return True
            if monotonic() >= deadline and max(self.position, self.settled) < up_to:
                if self.position == began:  # (nothing delivered: is it another stream now?)
                    await self._check()
                return False
        return True

    # -- definitions

    async def definitions(self, source: str | None) -> list[dict[str, Any]]:
        await self._sync()
        records = sorted((record for _, record in self._records().values()), key=lambda record: int(record["g"]))
        return [json.loads(json.dumps(record["d"])) for record in records
                if source is None or record["s"] == source]

    async def _sync(self) -> None:
        """Read into the index of the bucket what the server held when called beyond
        what its watcher has delivered: one request (the bucket's last revision),
        then, if the watcher is behind it, one per key changed since (the bucket
        keeps one message per key)."""
        import nats.js.errors

        store = self.store
        bucket = store._buckets[ARCHIVES]
        head = f"$KV.{bucket.name}."
        info = await store._js.stream_info(f"KV_{bucket.name}")
        last = int(info.state.last_seq or 0)
        seq = bucket.position + 1
        while seq <= last:
            try:
                msg = await store._js.get_msg(f"KV_{bucket.name}", seq=seq, next=True, subject=f"{head}>")
            except nats.js.errors.NotFoundError:
                return
            if msg.seq is None or msg.seq > last or not msg.subject or not msg.subject.startswith(head):
                return
            seq = int(msg.seq) + 1
            key = msg.subject[len(head):]
            if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
                store._apply(ARCHIVES, key, int(msg.seq), None)
                continue
            try:
                value = json.loads(msg.data or b"")
            except ValueError:
                continue
            if isinstance(value, dict):
                store._apply(ARCHIVES, key, int(msg.seq), value)

    async def save(self, archive: str, source: str, definition: dict[str, Any], create: bool) -> bool:
        from ._nats import _TRIES, token

        store = self.store
        key = token(archive)
        bucket = store._buckets[ARCHIVES]
        records = bucket.records
        refreshed = False
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
            # a new archive: the revision its compare-and-set expects is the one that found no archive
            # (another process's create meanwhile makes it fail), and its generation is taken after
            # it (greater than that of every archive of this ARN before it)
            expected = bucket.revision(key)
            generation = await store._allocate(1)
            record = {"a": archive, "s": source, "d": definition, "g": generation, "n": 0, "b": 0}
            if await store._write(ARCHIVES, key, record, expected) is not None:
                return True
            refreshed = True  # (the failed write read the key again)
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
        if old is not None and (new is None or int(new["g"]) != int(old["g"])):
            self._bury(key, int(old["g"]))
        if new is not None and self.dead.get(key, 0) < int(new["g"]):
            self.dead.pop(key, None)  # (its key says which generations ended now)

    # -- events

    async def append(self, records: Sequence[Record]) -> None:
        from ._nats import token

        store = self.store
        known = self._records()
        limit = store._nc.max_payload
        room = limit - _HEADROOM  # (the headers travel with the text)
        sends: list[tuple[Record, str, int, bytes]] = []
        big: list[int] = []  # (the sizes of those too large to send)
        not_kept: list[Record] = []  # (what the error names as lost: the bus counts those alone)
        for record in records:
            key = token(record[0])
            found = known.get(key)
            if found is None:
                continue  # (dropped meanwhile)
            data = record[3].encode()
            if len(data) > room:
                big.append(len(data))
                not_kept.append(record)
                continue
            sends.append((record, key, int(found[1]["g"]), data))
        failed: BaseException | None = None
        lost = len(big)
        if sends:
            epoch = self.epoch
            futures: list[Any] = []
            for record, key, generation, data in sends:  # (sent in order: their sequence numbers follow it)
                try:
                    futures.append(await store._js.publish_async(
                        f"{self.subject}.{key}.{generation}", data, stream=self.stream,
                        headers={TIME: str(record[1]), INGESTED: str(record[2])}))
                except Exception as exc:  # (not sent: the others are)
                    failed = failed or exc
                    lost += 1
                    not_kept.append(record)
                    futures.append(None)
            acks = await asyncio.wait_for(
                asyncio.gather(*(future for future in futures if future is not None), return_exceptions=True),
                store.timeout)
            answers = iter(acks)
            totals: dict[tuple[str, int], list[int]] = {}
            for (record, key, generation, data), future in zip(sends, futures, strict=True):
                if future is None:
                    continue
                ack = next(answers)
                if isinstance(ack, BaseException):
                    failed = failed or ack
                    lost += 1
                    not_kept.append(record)
                    continue
                which = (key, generation)
                if self.epoch == epoch and self._alive(which):
                    self._index(which, (record[1], int(ack.seq), record[2], len(data)))
                total = totals.setdefault(which, [0, 0])
                total[0] += 1
                total[1] += len(data)
            await asyncio.gather(*(self._count(key, generation, count, size)
                                   for (key, generation), (count, size) in totals.items()))
        if not lost:
            return
        why: list[str] = []
        if big:
            sizes = sorted(big)
            what = (f"an archived event of {sizes[0]:,} bytes" if len(sizes) == 1 else
                    f"{len(sizes)} archived events of {sizes[0]:,} to {sizes[-1]:,} bytes")
            why.append(f"refuses {what}: larger than the server's max_payload ({limit:,} bytes) less its headers")
        if failed is not None:
            import nats.js.errors

            cause = (f"the stream {self.stream!r} is not there (deleted on the server?)"
                     if isinstance(failed, nats.js.errors.NoStreamResponseError) else
                     f"{type(failed).__name__}: {failed}")
            failures = lost - len(big)
            why.append(f"did not keep {failures} archived event{'' if failures == 1 else 's'}: {cause}")
        tried = len(sends) + len(big)
        error = EventBusError(f"NATS JetStream at {store._where()} {' and '.join(why)}; the append kept "
                              f"{tried - lost:,} of its {tried:,} events")
        error.not_kept = not_kept  # type: ignore[attr-defined]  # (what the bus counts as lost)
        raise error

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
        info = await self._info()
        await self._judge(info)
        return 0 if info is None else int(info.state.last_seq or 0)

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
        if not await self._check():  # (deleting by sequence: the sequences must be this stream's)
            return 0
        index = self.indexes.get(which)
        if index is None:
            return 0
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
        which = (key, int(found[1]["g"]))
        subject = f"{self.subject}.{key}.{which[1]}"
        epoch = self.epoch
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
            texts, strange = await self._texts(subject, [event[1] for event in picked])
            if strange:  # (a sequence of another archive's event: is it another stream now?)
                await self._check()
            if self.epoch != epoch:
                if up_to is not None:
                    raise EventBusError(f"NATS JetStream at {self.store._where()}: the stream {self.stream!r} "
                                        "was deleted and made again during the read: its events are not those "
                                        "the read began with")
                return out
            out += [(event[0], event[1], text) for event, text in zip(picked, texts, strict=True) if text is not None]
            gone = {event[1] for event, text in zip(picked, texts, strict=True) if text is None}
            index = self.indexes.get(which)
            if gone and index is not None:  # (deleted by another process: the index forgets them, the page goes on)
                index.events = [event for event in index.events if event[1] not in gone]
        return out

    async def _texts(self, subject: str, seqs: list[int]) -> tuple[list[str | None], bool]:
        """The texts of the events of sequences ``seqs`` (``None``: deleted), and
        whether one of them was of another subject than ``subject``."""
        found: list[tuple[str | None, bool]] = []
        for first in range(0, len(seqs), _AT_ONCE):
            found += await asyncio.gather(*(self._text(subject, seq) for seq in seqs[first:first + _AT_ONCE]))
        return [text for text, _ in found], any(strange for _, strange in found)

    async def _text(self, subject: str, seq: int) -> tuple[str | None, bool]:
        """The text of the event of sequence ``seq`` (``None``: deleted), and whether
        the message of that sequence was of another subject (not the event)."""
        import nats.js.errors

        js = self.store._js
        try:
            msg = await js.get_msg(self.stream, seq=seq, direct=True)
        except nats.js.errors.NotFoundError:
            try:  # (a direct get may be answered by a replica that lags: the stream's leader says)
                msg = await js.get_msg(self.stream, seq=seq)
            except nats.js.errors.NotFoundError:
                return None, False
        if msg.subject is not None and msg.subject != subject:
            return None, True
        return bytes(msg.data or b"").decode(), False

    async def delete_all(self) -> None:
        """Delete the stream and the bucket on the server (tests, benchmarks)."""
        js = self.store._js
        if self.feed is not None:
            await self.feed.unsubscribe()
        self.created = None  # (no stream followed: none to look at)
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
        """The definitions as the server holds them when called (every archive another
        process made before is listed), in creation order."""
        archives = self._archives()

        async def read() -> list[dict[str, Any]]:
            await archives.open()
            return await archives.definitions(source)

        return archives.store._run(read())

    def append(self, records: Sequence[Record]) -> None:
        """Add events to their archives (an archive dropped meanwhile gets none).  An
        event the server cannot take (larger than its ``max_payload``), or one whose
        write failed, is not kept; the others are, then ``EventBusError`` is raised
        saying how many were kept."""
        archives = self._archives()

        async def append() -> None:
            await archives.open()
            await archives.append(records)

        archives.store._run(append())

    def read(self, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        """(With ``up_to``: first waits for the index to hold every event up to it, as
        long as the consumer keeps delivering, at most ``_CATCH_UP`` seconds or 12
        times the store's timeout; else ``EventBusError`` says how far it got.)"""
        archives = self._archives()
        store = archives.store
        began = monotonic()
        reached = -1

        async def read() -> list[Stored] | int:
            await archives.open()
            if up_to is not None and not await archives.catch_up(up_to, store.timeout):
                return max(archives.position, archives.settled)  # (behind: how far the index got)
            return await archives.read(archive, start, end, after, ingested_since, up_to, limit)

        while True:
            got = store._run(read())
            if not isinstance(got, int):
                return got
            waited = monotonic() - began
            if got == reached or waited >= max(_CATCH_UP, store.timeout * 12):
                assert up_to is not None
                why = (f"nothing delivered for {store.timeout:g} s" if got == reached else
                       f"still behind after {waited:.1f} s")
                raise EventBusError(f"NATS JetStream at {store._where()}: the index of the archived events did not "
                                    f"catch up with the stream {archives.stream!r} ({why}): it holds the events up "
                                    f"to sequence {got:,} of the {up_to:,} to read")
            reached = got

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
