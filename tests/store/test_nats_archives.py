"""NatsStore's archives where several processes (several stores on one prefix)
meet: creates at once, a store opened on a large archive, an event larger
than the server takes, the stream deleted and made again underneath, a
store whose watcher of the archives' bucket lags, and what a store remembers
of dropped archives.  Each runs against the server on 127.0.0.1:4222 (skipped
without one), on prefixes of its own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from eventbus import EventBusError, NatsStore
from eventbus._store import _nats_archive
from eventbus._store._nats import token
from tests.store.test_contract import NO_NATS, drop_buckets, fresh_prefix, nats_answers

A = "arn:aws:events:us-east-1:123456789012:archive/a"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"
FAR = 2**62


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix of the test's own: its buckets and stream are deleted after it."""
    if not nats_answers():
        pytest.skip(NO_NATS)
    made = fresh_prefix()
    yield made
    drop_buckets(made)


def _wait_until(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.01)


def _texts(page: list[tuple[int, int, str]]) -> list[Any]:
    return [json.loads(text) for _, _, text in page]


def test_two_stores_creating_one_archive_at_once_never_both_win(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two's create finds no archive, then (while it takes the archive's generation)
    one creates it and two's index hears of it: two's create must lose, not
    write over one's archive (whose events would then be purged)."""
    one, two = NatsStore(prefix=prefix), NatsStore(prefix=prefix)
    try:
        assert one.archives() == two.archives() == []
        allocate = two._allocate
        won: list[bool] = []

        async def late(count: int) -> int:
            won.append(await asyncio.get_running_loop().run_in_executor(
                None, lambda: one.save_archive(A, BUS, {"by": "one"}, create=True)))
            while token(A) not in two._buckets["archives"].records:  # (two's watcher delivers it)
                await asyncio.sleep(0.005)
            return await allocate(count)

        monkeypatch.setattr(two, "_allocate", late)
        assert two.save_archive(A, BUS, {"by": "two"}, create=True) is False
        assert won == [True]
        assert one.archives() == two.archives() == [{"by": "one"}]
        one.append([(A, 1, 1, '"kept"')])
        assert _texts(two.read(A, 0, FAR, up_to=two.high_water())) == ["kept"]
        assert one.stats(A) == two.stats(A) == (1, 6)
    finally:
        one.close()
        two.close()


def _fill(store: NatsStore, count: int) -> int:
    """``count`` events in archive A, the last appended first in time; their size."""
    records = [(A, count - k, k, json.dumps(k)) for k in range(count)]
    for first in range(0, count, 500):
        store.append(records[first:first + 500])
    return sum(len(text) for *_, text in records)


def test_opening_a_large_archive_does_not_wait_for_its_index_and_a_replay_waits_while_it_grows(
        prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer slowed down (2 ms an event: about 2 s for the archive, more than
    a call of a store of timeout 0.25 s may take): opening, listing and counting
    answer at once; a replay's read waits for the index (it keeps growing) and
    reads the whole archive."""
    count = 1000
    with NatsStore(prefix=prefix) as one:
        one.save_archive(A, BUS, {"ArchiveName": "a"})
        size = _fill(one, count)
        fed = _nats_archive._Archives._fed

        async def slowly(self: Any, msg: Any) -> None:
            await asyncio.sleep(0.002)
            await fed(self, msg)

        monkeypatch.setattr(_nats_archive._Archives, "_fed", slowly)
        began = time.monotonic()
        with NatsStore(prefix=prefix, timeout=0.25) as two:
            assert two.archives(BUS) == [{"ArchiveName": "a"}]
            assert two.stats(A) == (count, size)
            assert time.monotonic() - began < 1.0
            assert two._archives().position < count  # (the index is still being made)
            page = two.read(A, 0, FAR, up_to=two.high_water(), limit=5)
            assert _texts(page) == [count - 1, count - 2, count - 3, count - 4, count - 5]
            assert [when for when, _, _ in page] == [1, 2, 3, 4, 5]


def test_a_replay_read_whose_index_stops_growing_says_how_far_it_got(
        prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with NatsStore(prefix=prefix) as one:
        one.save_archive(A, BUS, {})
        size = _fill(one, 300)
        fed = _nats_archive._Archives._fed

        async def stuck(self: Any, msg: Any) -> None:  # (a consumer that delivers nothing after event 100)
            if msg.metadata.sequence.stream <= 100:
                await fed(self, msg)

        monkeypatch.setattr(_nats_archive._Archives, "_fed", stuck)
        with NatsStore(prefix=prefix, timeout=0.25) as two:
            assert two.stats(A) == (300, size)
            began = time.monotonic()
            with pytest.raises(EventBusError, match=r"the index of the archived events did not catch up with the "
                                                    r"stream '.*-archive' \(nothing delivered for 0.25 s\): it holds "
                                                    r"the events up to sequence 100 of the 300 to read"):
                two.read(A, 0, FAR, up_to=two.high_water())
            assert time.monotonic() - began < 3.0


def test_an_event_larger_than_the_server_takes_is_refused_alone(prefix: str) -> None:
    with NatsStore(prefix=prefix) as store:
        store.save_archive(A, BUS, {})
        store._nc._max_payload = 4_096  # (as a server set with max_payload: 4096 would say)
        records = [(A, k, k, json.dumps("x" * (5_000 if k in (2, 4) else 10))) for k in range(6)]
        with pytest.raises(EventBusError, match=r"refuses 2 archived events of 5,002 to 5,002 bytes: larger than the "
                                                r"server's max_payload \(4,096 bytes\) less its headers; the append "
                                                r"kept 4 of its 6 events"):
            store.append(records)
        kept = [records[k] for k in (0, 1, 3, 5)]
        assert store.stats(A) == (4, sum(len(text) for *_, text in kept))
        assert [text for _, _, text in store.read(A, 0, FAR)] == [text for *_, text in kept]
        with pytest.raises(EventBusError, match=r"refuses an archived event of 5,002 bytes: .* the append kept 0 of "
                                                r"its 1 events"):
            store.append([records[2]])


def _remake_stream(prefix: str, one: NatsStore) -> None:
    """The archive stream deleted underneath ``one``; another store appends to A on a
    new stream (sequences from 1 again)."""
    one._run(one._js.delete_stream(f"{prefix}-archive"))
    with NatsStore(prefix=prefix) as two:  # (opening the prefix makes the stream again)
        two.append([(A, 200 + k, k, json.dumps(f"new{k}")) for k in range(3)])


NEW = [(200, 1, '"new0"'), (201, 2, '"new1"'), (202, 3, '"new2"')]


def test_a_stream_made_again_underneath_is_indexed_again_before_a_replay(prefix: str) -> None:
    with NatsStore(prefix=prefix) as one:
        one.save_archive(A, BUS, {})
        one.append([(A, 100 + k, k, json.dumps(f"old{k}")) for k in range(5)])
        _remake_stream(prefix, one)
        up_to = one.high_water()
        assert up_to == 3
        assert one.read(A, 0, FAR, up_to=up_to) == NEW
        one.append([(A, 300, 9, '"later"')])
        assert one.read(A, 0, FAR, up_to=one.high_water()) == [*NEW, (300, 4, '"later"')]


def test_a_stream_made_again_underneath_is_noticed_without_a_replay(
        prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The store looks at its stream now and then: here every 50 ms.)"""
    monkeypatch.setattr(_nats_archive, "_CHECK_EVERY", 0.05, raising=False)
    with NatsStore(prefix=prefix) as one:
        one.save_archive(A, BUS, {})
        one.append([(A, 100 + k, k, json.dumps(f"old{k}")) for k in range(5)])
        _remake_stream(prefix, one)
        _wait_until(lambda: one.read(A, 0, FAR) == NEW, "one reads the new stream's events")


def test_an_append_while_the_stream_is_gone_says_so(prefix: str) -> None:
    with NatsStore(prefix=prefix) as one:
        one.save_archive(A, BUS, {})
        one._run(one._js.delete_stream(f"{prefix}-archive"))
        with pytest.raises(EventBusError, match=r"did not keep 2 archived events: the stream '.*-archive' is not "
                                                r"there \(deleted on the server\?\); the append kept 0 of its 2 "
                                                r"events"):
            one.append([(A, 150, 9, '"lost"'), (A, 151, 9, '"lost too"')])
        assert one.stats(A) == (0, 0)


def _watcher_of(store: NatsStore, bucket: str) -> asyncio.Task[None]:
    [task] = [task for task in store._tasks if getattr(task.get_coro(), "cr_code", None) is not None
              and task.get_coro().cr_code.co_name == "_follow"  # type: ignore[union-attr]
              and task.get_coro().cr_frame.f_locals.get("name") == bucket]  # type: ignore[union-attr]
    return task


def test_archives_lists_what_another_store_made_though_its_watcher_lags(prefix: str) -> None:
    """Two's watcher of the archives' bucket stopped (as one far behind): what one
    created or dropped before two lists the archives is listed (and appended to)."""
    one, two = NatsStore(prefix=prefix), NatsStore(prefix=prefix)
    try:
        assert one.archives() == two.archives() == []
        watcher = _watcher_of(two, "archives")

        async def stop() -> None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

        two._run(stop())
        assert one.save_archive(A, BUS, {"ArchiveName": "a"}, create=True)
        assert two.archives(BUS) == [{"ArchiveName": "a"}]
        two.append([(A, 1, 1, '"by two"')])
        assert one.stats(A) == (1, 8)
        one.drop_archive(A)
        assert two.archives() == []
    finally:
        one.close()
        two.close()


def test_what_a_store_remembers_of_dropped_archives_stays_bounded(
        prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_nats_archive, "_DEAD", 4, raising=False)
    with NatsStore(prefix=prefix) as one:
        archives = one._archives()
        for n in range(30):  # one archive made and dropped again and again
            assert one.save_archive(A, BUS, {"n": n}, create=True)
            one.append([(A, n, n, '"x"')])
            one.drop_archive(A)
        for n in range(10):  # ten archives made and dropped
            arn = f"{A}-{n}"
            one.save_archive(arn, BUS, {})
            one.append([(arn, n, n, '"x"')])
            one.drop_archive(arn)
        assert len(archives.dead) <= 4
        assert (archives.indexes, archives.pending, archives.flushing) == ({}, {}, {})

        # a drop interrupted (its key deleted, its events left): a store opened after it keeps no index of them
        one.save_archive(A, BUS, {})
        one.append([(A, k, k, '"left"') for k in range(5)])
        revision = one._buckets["archives"].records[token(A)][0]
        assert one._run(one._write("archives", token(A), None, revision)) is not None
        with NatsStore(prefix=prefix) as two:
            assert two.archives() == []
            up_to = two.high_water()
            _wait_until(lambda: two._archives().position >= up_to, "two's consumer delivers every event")
            assert two._archives().indexes == {}


def test_a_bus_counts_as_lost_only_the_event_the_store_refused(prefix: str) -> None:
    from eventbus import EventBus, ManualClock, PutEventsRequestEntry

    with NatsStore(prefix=prefix) as store:
        bus = EventBus(clock=ManualClock(), store=store)
        bus.create_archive("all")
        store._nc._max_payload = 4_096
        entries: list[PutEventsRequestEntry] = [
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"x": "x" * (5_000 if k else 1)})}
            for k in range(3)]
        assert bus.put_events(entries)["FailedEntryCount"] == 0  # (archiving does not fail put_events)
        archive = bus.describe_archive("all")
        assert archive.event_count == 1
        assert archive.state_reason is not None and archive.state_reason.startswith("2 events could not be archived")
