"""Archive stores: one protocol suite run against every store (the archive
stores and the work stores, which are archive stores too), a sqlite file that
survives its process, a bus on one work store for everything opened again
and shared by several processes, and a replay checked against a plain
reference."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventbus._bus._archives as archives_module
from eventbus import (
    ArchiveStore,
    EventBus,
    EventBusError,
    ManualClock,
    MemoryArchiveStore,
    MemoryStore,
    NatsStore,
    ResourceAlreadyExistsError,
    SqliteArchiveStore,
    SqliteStore,
    Target,
)
from tests.store.test_contract import NO_NATS, drop_buckets, fresh_prefix, nats_answers

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
A = "arn:aws:events:us-east-1:123456789012:archive/a"
B = "arn:aws:events:us-east-1:123456789012:archive/b"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"


KINDS = ["memory", "sqlite", "memory-work", "sqlite-work", "nats-work"]  # (-work: the work stores)


def make_store(kind: str, path: Path, prefixes: list[str]) -> ArchiveStore:
    """An archive store of the kind: a NATS store on a fresh prefix, noted in
    ``prefixes`` (its buckets and stream to delete after the test)."""
    if kind == "memory":
        return MemoryArchiveStore()
    if kind == "sqlite":
        return SqliteArchiveStore(path)
    return make_work_store(kind, path, prefixes)


def make_work_store(kind: str, path: Path, prefixes: list[str]) -> MemoryStore | SqliteStore | NatsStore:
    if kind == "memory-work":
        return MemoryStore()
    if kind == "sqlite-work":
        return SqliteStore(path)
    if not nats_answers():
        pytest.skip(NO_NATS)
    prefixes.append(fresh_prefix())
    return NatsStore(prefix=prefixes[-1])


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    prefixes: list[str] = []
    made = make_store(request.param, tmp_path / "s.db", prefixes)
    yield made
    made.close()
    for prefix in prefixes:
        drop_buckets(prefix)


def test_every_store_speaks_the_protocol(store: ArchiveStore) -> None:
    assert isinstance(store, ArchiveStore)


def test_definitions_are_kept_per_bus_and_dropped_with_their_events(store: ArchiveStore) -> None:
    store.save_archive(A, BUS, {"ArchiveName": "a", "RetentionDays": 0})
    store.save_archive(B, "other-bus", {"ArchiveName": "b"})
    store.save_archive(A, BUS, {"ArchiveName": "a", "RetentionDays": 3})  # replaced, not added
    assert store.archives(BUS) == [{"ArchiveName": "a", "RetentionDays": 3}]
    assert [d["ArchiveName"] for d in store.archives()] == ["a", "b"]
    store.append([(A, 1, 1, "{}")])
    store.drop_archive(A)
    assert store.archives() == [{"ArchiveName": "b"}]
    assert store.stats(A) == (0, 0)
    assert store.read(A, 0, 10) == []
    store.append([(A, 1, 1, "{}")])  # (an archive dropped meanwhile: nothing is written)
    assert store.stats(A) == (0, 0)
    store.drop_archive(A)  # (twice: nothing to do)


def test_a_create_only_save_refuses_a_kept_archive_and_changes_nothing(store: ArchiveStore) -> None:
    assert store.save_archive(A, BUS, {"v": 1}, create=True) is True
    store.append([(A, 1, 1, '"kept"')])
    assert store.save_archive(A, "other-bus", {"v": 2}, create=True) is False
    assert (store.archives(), store.archives("other-bus"), store.stats(A)) == ([{"v": 1}], [], (1, 6))
    assert store.save_archive(A, BUS, {"v": 3}) is True  # (a replace keeps the events)
    assert (store.archives(), store.stats(A)) == ([{"v": 3}], (1, 6))
    store.drop_archive(A)
    assert store.save_archive(A, BUS, {"v": 4}, create=True) is True  # (free again, and empty)
    assert (store.read(A, 0, 10), store.stats(A)) == ([], (0, 0))


def test_reads_are_windows_in_event_time_order_with_a_cursor(store: ArchiveStore) -> None:
    store.save_archive(A, BUS, {})
    store.save_archive(B, BUS, {})
    store.append([(A, 30, 1, '"c"'), (A, 10, 2, '"a"'), (A, 30, 3, '"d"'), (A, 20, 4, '"b"'), (A, 40, 5, '"e"')])
    store.append([(B, 10, 1, '"other"')])
    texts = [text for _, _, text in store.read(A, 10, 40)]
    assert texts == ['"a"', '"b"', '"c"', '"d"']  # start included, end excluded, ties in append order
    first = store.read(A, 0, 100, limit=3)
    assert [text for _, _, text in first] == ['"a"', '"b"', '"c"']
    rest = store.read(A, 0, 100, after=first[-1][:2], limit=3)
    assert [text for _, _, text in rest] == ['"d"', '"e"']
    assert [(time, text) for time, _, text in store.read(A, 0, 100, ingested_since=4)] == [(20, '"b"'), (40, '"e"')]
    seqs = [seq for _, seq, _ in store.read(A, 0, 100)]
    assert seqs == [2, 4, 1, 3, 5]  # the sequence numbers follow the order of appending
    assert store.stats(A) == (5, 15)
    assert store.stats(B) == (1, 7)


def test_a_cursor_inside_a_crowded_instant_resumes_after_itself(store: ArchiveStore) -> None:
    store.save_archive(A, BUS, {})
    store.append([(A, 5, 0, f'"{i}"') for i in range(10)] + [(A, 6, 0, '"later"')])
    seen: list[str] = []
    after = None
    while page := store.read(A, 0, 100, after=after, limit=3):
        seen += [text for _, _, text in page]
        after = page[-1][:2]
    assert seen == [f'"{i}"' for i in range(10)] + ['"later"']


def test_expire_deletes_by_ingestion_time_and_keeps_the_counts(store: ArchiveStore) -> None:
    store.save_archive(A, BUS, {})
    store.append([(A, 100, 5, '"x"'), (A, 1, 9, '"yy"'), (A, 50, 7, '"z"')])
    assert store.expire(A, 5) == 0
    assert store.expire(A, 8) == 2
    assert store.stats(A) == (1, 4)
    assert [text for _, _, text in store.read(A, 0, 1000)] == ['"yy"']
    assert store.expire(B, 100) == 0  # (unknown archive)


def test_expire_with_a_limit_deletes_the_earliest_ingested_first(store: ArchiveStore) -> None:
    store.save_archive(A, BUS, {})
    store.append([(A, k, ingested, str(k)) for k, ingested in enumerate([9, 3, 7, 1, 5, 20, 30])])
    gone = store.expire(A, 10, limit=3)
    left = sorted(json.loads(text) for _, _, text in store.read(A, 0, 100))
    if isinstance(store, MemoryArchiveStore | MemoryStore):  # (in one pass, whatever the limit)
        assert (gone, left) == (5, [5, 6])
    else:
        assert (gone, left) == (3, [0, 2, 5, 6])  # ingested 1, 3, 5 went first
        assert store.expire(A, 10, limit=3) == 2
    assert store.stats(A) == (2, 2)


def test_the_sqlite_window_read_is_an_index_range_scan(tmp_path: Path) -> None:
    with SqliteArchiveStore(tmp_path / "s.db") as store:
        plans = [row[3] for row in store._db.execute(
            "EXPLAIN QUERY PLAN SELECT time, seq, event FROM events WHERE archive = ? AND time >= ? AND time < ? "
            "AND ingested >= ? ORDER BY time, seq LIMIT ?", (1, 0, 10, 0, 5))]
        assert plans == ["SEARCH events USING INDEX events_by_time (archive=? AND time>? AND time<?)"]
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    with SqliteArchiveStore(tmp_path / "f.db", synchronous="FULL") as store:
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"path": 5}, "Invalid type for parameter path, value: 5"),
    ({"synchronous": "OFF"}, "synchronous must be 'NORMAL' or 'FULL', not 'OFF'"),
    ({"busy_timeout": -1}, "Value '-1' at 'busy_timeout' failed to satisfy constraint"),
    ({"busy_timeout": float("nan")}, "Value 'nan' at 'busy_timeout'"),
    ({"path": "/nonexistent-dir/x/archive.db"}, "Cannot open the archive store '/nonexistent-dir/x/archive.db': "
                                                "unable to open database file"),
])
def test_the_sqlite_store_refuses_bad_settings(tmp_path: Path, kwargs: dict[str, Any], text: str) -> None:
    args: dict[str, Any] = {"path": tmp_path / "s.db", **kwargs}
    with pytest.raises(ValueError) as raised:
        SqliteArchiveStore(args.pop("path"), **args)
    assert text in str(raised.value)


_WRITER = """
import json, os, sys
from datetime import datetime, timedelta, UTC
from eventbus import EventBus, ManualClock, SqliteArchiveStore
clock = ManualClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
bus = EventBus(clock=clock, archive_store=SqliteArchiveStore(sys.argv[1]))
if sys.argv[2] == "create":
    bus.create_archive("orders", event_pattern={"source": ["shop"]})
for i in range(int(sys.argv[3]), int(sys.argv[4])):
    bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"n": i})}])
    clock.advance(60)
os._exit(0)  # no close, no clean-up: what was put must already be on disk
"""


def test_a_sqlite_archive_survives_its_process_and_a_new_one_replays_it(tmp_path: Path) -> None:
    path = str(tmp_path / "archive.db")
    for args in (["create", "0", "30"], ["again", "30", "50"]):  # the second process finds the archive itself
        subprocess.run([sys.executable, "-c", _WRITER, path, *args], check=True, timeout=120)
    clock = ManualClock(T0 + timedelta(days=1))
    with SqliteArchiveStore(path) as store:
        bus = EventBus(clock=clock, archive_store=store)
        assert bus.describe_archive("orders").event_count == 50
        got: list[dict[str, Any]] = []
        bus.put_rule("r", event_pattern={"source": ["shop"]})
        bus.put_targets("r", [Target(got.append, target_id="t")])
        bus.start_replay("r", "orders", start_time=T0 + timedelta(minutes=10), end_time=T0 + timedelta(minutes=40))
        clock.run_until_idle()
        # each process put one event a minute from T0: n at minute n in the first, n at minute n - 30 in the
        # second; minutes 10 to 39, in event-time order, ties in the order they were archived
        assert [event["detail"]["n"] for event in got] == [n for m in range(10, 40) for n in (m, m + 30) if n < 50
                                                           and (n < 30 or n - 30 == m)]
        assert all(event["replay-name"] == "r" for event in got)


# -- a replay against a plain reference ------------------------------------------------------
@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    events = draw(st.lists(st.tuples(st.integers(0, 600), st.sampled_from(["a", "b", "c"]), st.integers(0, 400)),
                           max_size=40))
    return {
        "events": events,  # (event time offset s, source, then the clock advances this many s)
        "pattern": draw(st.none() | st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, unique=True)),
        "window": sorted(draw(st.lists(st.integers(-10, 700), min_size=2, max_size=2, unique=True))),
        "retention": draw(st.sampled_from([0, 0, 1])),
        "late": draw(st.integers(0, 2 * 86400)),
        "page": draw(st.integers(1, 5)),
        "rules": draw(st.sampled_from([None, ["b-only"], ["all", "b-only"]])),
    }


def _replayed(history: dict[str, Any], store: ArchiveStore) -> tuple[list[int], list[int]]:
    """Run the history on a bus; return the puts (by position) the replay delivered
    to rule ``all``, and those it delivered to rule ``b-only``, in delivery order."""
    clock = ManualClock(T0)
    bus = EventBus(clock=clock, archive_store=store, journey_retention=0)
    got: dict[str, list[int]] = {"all": [], "b-only": []}
    def keeper(rule: str) -> Target:
        def keep(event: dict[str, Any]) -> None:
            if "replay-name" in event:
                got[rule].append(event["detail"]["p"])
        return Target(keep, target_id="t")

    for rule, pattern in (("all", {"source": ["a", "b", "c"]}), ("b-only", {"source": ["b"]})):
        bus.put_rule(rule, event_pattern=pattern)
        bus.put_targets(rule, [keeper(rule)])
    pattern = history["pattern"]
    bus.create_archive("x", event_pattern=None if pattern is None else {"source": pattern},
                       retention_days=history["retention"])
    for position, (offset, source, pause) in enumerate(history["events"]):
        bus.put_events([{"Source": source, "DetailType": "d", "Detail": json.dumps({"p": position}),
                         "Time": T0 + timedelta(seconds=offset)}])
        clock.advance(pause)
    clock.advance(history["late"])
    low, high = history["window"]
    bus.start_replay("r", "x", start_time=T0 + timedelta(seconds=low), end_time=T0 + timedelta(seconds=high),
                     rules=history["rules"])
    clock.run_until_idle()
    assert bus.describe_replay("r").state == "COMPLETED"
    bus.delete_archive("x")  # (a store shared by several histories starts each afresh)
    return got["all"], got["b-only"]


def _reference(history: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Which puts (by position) each rule should get again: kept by the archive's
    pattern, not expired, in the window, in (event time, put order) order."""
    low, high = history["window"]
    now = 0
    kept = []
    for position, (offset, source, pause) in enumerate(history["events"]):
        if (history["pattern"] is None or source in history["pattern"]) and low <= offset < high:
            kept.append((offset, position, now, source))
        now += pause
    now += history["late"]
    if history["retention"]:
        kept = [item for item in kept if now - item[2] < history["retention"] * 86400]
    kept.sort()
    rules = history["rules"]
    to_all = [position for _, position, _, _ in kept] if rules is None or "all" in rules else []
    to_b = [position for _, position, _, source in kept if source == "b"] if rules is None or "b-only" in rules else []
    return to_all, to_b


@given(histories(), st.sampled_from(["memory", "sqlite", "memory-work", "sqlite-work"]))
def test_a_replay_delivers_exactly_what_a_plain_reference_says(history: dict[str, Any], kind: str) -> None:
    saved = archives_module.PAGE
    archives_module.PAGE = history["page"]  # small pages: every history crosses page boundaries
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = make_store(kind, Path(folder) / "s.db", [])
            try:
                to_all, to_b = _replayed(history, store)
            finally:
                store.close()
    finally:
        archives_module.PAGE = saved
    assert (to_all, to_b) == _reference(history)


def test_a_replay_on_a_nats_store_delivers_exactly_what_a_plain_reference_says() -> None:
    """The same on one NATS store (fewer histories: each is some hundred round trips)."""
    prefixes: list[str] = []
    store = make_work_store("nats-work", Path(), prefixes)
    saved = archives_module.PAGE

    @settings(max_examples=15, derandomize=True)
    @given(histories())
    def check(history: dict[str, Any]) -> None:
        archives_module.PAGE = history["page"]
        assert _replayed(history, store) == _reference(history)

    try:
        check()
    finally:
        archives_module.PAGE = saved
        store.close()
        drop_buckets(prefixes[0])


def test_a_closed_sqlite_store_says_so(tmp_path: Path) -> None:
    store = SqliteArchiveStore(tmp_path / "s.db")
    store.close()
    store.close()  # (twice: nothing to do)
    with pytest.raises(ValueError, match=r"The archive store '.*s\.db' is closed"):
        store.archives()


def test_two_buses_on_one_store_never_both_create_one_name() -> None:
    store = MemoryArchiveStore()
    clock = ManualClock(T0)
    buses = [EventBus("one", clock=clock, archive_store=store), EventBus("two", clock=clock, archive_store=store)]
    for k in range(200):
        barrier = threading.Barrier(2)
        won: list[str] = []

        def create(bus: EventBus, name: str = f"x{k}", barrier: threading.Barrier = barrier,
                   won: list[str] = won) -> None:
            barrier.wait()
            try:
                bus.create_archive(name)
                won.append(bus.name)
            except ResourceAlreadyExistsError:
                pass

        threads = [threading.Thread(target=create, args=(bus,)) for bus in buses]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, (k, won)


# -- the work stores: one store for everything ------------------------------------------------
WORK_KINDS = ["memory-work", "sqlite-work", "nats-work"]


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _everything(store: ArchiveStore, arn: str, *, page: int = 7) -> list[tuple[int, int, str]]:
    """The archive read whole as a replay reads it: pages after a cursor, up to the
    high-water mark when the reading started, until a page is not full."""
    up_to = store.high_water()
    seen: list[tuple[int, int, str]] = []
    after = None
    while True:
        chunk = store.read(arn, 0, 2**62, after=after, up_to=up_to, limit=page)
        seen += chunk
        if len(chunk) < page:
            return seen
        after = chunk[-1][:2]


@pytest.mark.parametrize("kind", WORK_KINDS)
def test_a_bus_on_a_work_store_keeps_its_archives_there_unless_told_otherwise(kind: str, tmp_path: Path) -> None:
    prefixes: list[str] = []
    store = make_work_store(kind, tmp_path / "work.db", prefixes)
    try:
        clock = ManualClock(T0)
        bus = EventBus(clock=clock, store=store)
        assert bus._archives.store is store
        arn = bus.create_archive("orders", retention_days=3)
        bus.publish(source="shop", detail_type="order", detail={"n": 1})
        assert [d["ArchiveName"] for d in store.archives(bus.arn)] == ["orders"]
        count, size = store.stats(arn)
        assert count == 1 and size == bus.describe_archive("orders").size_bytes > 100
        apart = MemoryArchiveStore()
        other = EventBus("other", clock=clock, store=store, archive_store=apart)  # archive_store= wins
        other.create_archive("elsewhere")
        assert [d["ArchiveName"] for d in apart.archives()] == ["elsewhere"]
        assert [d["ArchiveName"] for d in store.archives()] == ["orders"]
    finally:
        store.close()
        for prefix in prefixes:
            drop_buckets(prefix)


def test_a_work_store_that_is_no_archive_store_leaves_the_archives_in_memory() -> None:
    class WorkOnly(MemoryStore):
        save_archive = None  # type: ignore[assignment]

    store = WorkOnly()
    assert not isinstance(store, ArchiveStore)
    bus = EventBus(clock=ManualClock(T0), store=store)
    bus.create_archive("orders")
    assert isinstance(bus._archives.store, MemoryArchiveStore)
    assert store._archived.archives() == []


@pytest.mark.parametrize("kind", WORK_KINDS)
def test_a_closed_work_store_refuses_its_archive_calls_too(kind: str, tmp_path: Path) -> None:
    prefixes: list[str] = []
    store = make_work_store(kind, tmp_path / "work.db", prefixes)
    store.save_archive(A, BUS, {})
    store.close()
    try:
        for call in (store.archives, store.high_water, lambda: store.append([(A, 1, 1, "{}")]),
                     lambda: store.read(A, 0, 10), lambda: store.stats(A)):
            with pytest.raises(ValueError, match="The work store .*is closed"):
                call()
    finally:
        for prefix in prefixes:
            drop_buckets(prefix)


@pytest.mark.parametrize("kind", ["sqlite-work", "nats-work"])
def test_a_bus_opened_again_on_its_work_store_finds_its_archives_and_replays_them(kind: str, tmp_path: Path) -> None:
    prefixes: list[str] = []
    path = tmp_path / "work.db"
    try:
        first = make_work_store(kind, path, prefixes)
        bus = EventBus(clock=ManualClock(T0), store=first)
        bus.create_archive("orders", event_pattern={"source": ["shop"]}, retention_days=3, description="d")
        for n in range(12):  # event times out of put order, some tied
            bus.put_events([{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"n": n}),
                             "Time": T0 + timedelta(seconds=(7 * n) % 5)}])
        bus.publish(source="other", detail_type="order", detail={})
        first.close()  # (the process ends)

        again = NatsStore(prefix=prefixes[0]) if prefixes else SqliteStore(path)
        try:
            clock = ManualClock(T0 + timedelta(hours=1))
            bus = EventBus(clock=clock, store=again)
            found = bus.describe_archive("orders")
            assert (found.event_count, found.retention_days, found.description, found.creation_time) == (
                12, 3, "d", T0)
            got: list[dict[str, Any]] = []
            bus.put_rule("r", event_pattern={"source": ["shop"]})
            bus.put_targets("r", [Target(got.append, target_id="t")])
            bus.start_replay("again", "orders", start_time=T0, end_time=T0 + timedelta(minutes=1))
            clock.run_until_idle()
            assert bus.describe_replay("again").state == "COMPLETED"
            # by event time, ties in put order
            assert [event["detail"]["n"] for event in got] == sorted(range(12), key=lambda n: ((7 * n) % 5, n))
            assert all(event["replay-name"] == "again" for event in got)
        finally:
            again.close()
    finally:
        for prefix in prefixes:
            drop_buckets(prefix)


def test_the_sqlite_work_store_reads_windows_by_index_range_scans(tmp_path: Path) -> None:
    from eventbus._archive import _sqlite as archive_sql

    with SqliteStore(tmp_path / "work.db") as store:
        for query, args in ((archive_sql.READ_FROM, (1, 0, 10, 0, 9, 5)), (archive_sql.READ_AFTER, (1, 0, 10, 0, 9, 5)),
                            (archive_sql.READ_REST, (1, 5, 3, 0, 9, 5))):
            plan = [row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}", args)]
            assert len(plan) == 1 and plan[0].startswith("SEARCH events USING INDEX events_by_time (archive=? AND time")


@pytest.mark.parametrize("kind", ["sqlite", "sqlite-work"])
def test_a_new_sqlite_archive_never_takes_the_id_of_events_left_behind(kind: str, tmp_path: Path) -> None:
    """A drop killed after its definition went leaves events that name its id: an
    archive made later gets another id, and never shows them."""
    store = make_store(kind, tmp_path / "s.db", [])
    assert isinstance(store, SqliteArchiveStore | SqliteStore)
    try:
        store.save_archive(A, BUS, {})
        store.append([(A, 1, 1, '"left behind"')])
        store._db.execute("DELETE FROM archives")  # (the drop's first transaction, then the process died)
        store.save_archive(B, BUS, {})
        assert (store.read(B, 0, 100), store.stats(B)) == ([], (0, 0))
        store.append([(B, 1, 1, '"b"')])
        assert [text for _, _, text in store.read(B, 0, 100)] == ['"b"']
    finally:
        store.close()


_APPENDER = """
import json, os, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from eventbus import EventBus, ManualClock, SqliteStore
path, me, count, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
t0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
bus = EventBus(clock=ManualClock(t0), store=SqliteStore(path, busy_timeout=30))
assert [archive.name for archive in bus.list_archives()] == ["orders"]
(folder / f"ready{me}").touch()
while not (folder / "go").exists():  # (the processes append at the same time)
    time.sleep(0.001)
for first in range(0, count, 3):
    entries = [{"Source": "shop", "DetailType": "order", "Detail": json.dumps({"p": me, "n": n}),
                "Time": t0 + timedelta(seconds=n % 7)} for n in range(first, min(first + 3, count))]
    assert bus.put_events(entries)["FailedEntryCount"] == 0
os._exit(0)  # no close: what was put is in the file
"""

_REMAKER = """
import sys
from datetime import UTC, datetime
from eventbus import EventBus, ManualClock, SqliteStore
bus = EventBus(clock=ManualClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC)), store=SqliteStore(sys.argv[1]))
bus.delete_archive("orders")
bus.create_archive("orders")
"""


def test_processes_appending_to_one_archive_on_one_sqlite_file_keep_every_event_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "work.db"
    clock = ManualClock(T0)
    per_process, processes = 60, 3
    with SqliteStore(path) as store:
        bus = EventBus(clock=clock, store=store)
        arn = bus.create_archive("orders")
        children = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), str(k), str(per_process),
                                      str(tmp_path)]) for k in range(processes)]
        try:
            deadline = time.monotonic() + 60
            while not all((tmp_path / f"ready{k}").exists() for k in range(processes)):
                assert time.monotonic() < deadline and all(child.poll() is None for child in children)
                time.sleep(0.005)
            (tmp_path / "go").touch()
            assert [child.wait(timeout=60) for child in children] == [0] * processes
        finally:
            for child in children:
                child.kill()
        seen = _everything(store, arn)
        keys = [(when, seq) for when, seq, _ in seen]
        assert keys == sorted(set(keys))  # (time, seq) order, every sequence number once
        puts = [(json.loads(text)["detail"], when) for when, _, text in seen]
        assert sorted((detail["p"], detail["n"]) for detail, _ in puts) == [
            (p, n) for p in range(processes) for n in range(per_process)]  # every event, once
        assert all(when == _millis(T0) + 1000 * (detail["n"] % 7) for detail, when in puts)
        for p in range(processes):  # one process's events: sequence numbers in the order it put them
            mine = sorted((json.loads(text)["detail"]["n"], seq) for _, seq, text in seen
                          if json.loads(text)["detail"]["p"] == p)
            assert [seq for _, seq in mine] == sorted(seq for _, seq in mine)
        assert store.stats(arn) == (processes * per_process, sum(len(text.encode()) for _, _, text in seen))
        assert bus.describe_archive("orders").event_count == processes * per_process
        got: list[dict[str, Any]] = []
        bus.put_rule("r", event_pattern={"source": ["shop"]})
        bus.put_targets("r", [Target(got.append, target_id="t")])
        bus.start_replay("all", "orders", start_time=T0, end_time=T0 + timedelta(minutes=1))
        clock.run_until_idle()
        assert [(event["detail"]["p"], event["detail"]["n"]) for event in got] == [
            (json.loads(text)["detail"]["p"], json.loads(text)["detail"]["n"]) for _, _, text in seen]

        # another process drops the archive and makes it again while this one has the file open:
        # this process's next event goes to the new archive, which holds nothing else
        subprocess.run([sys.executable, "-c", _REMAKER, str(path)], check=True, timeout=60)
        bus.publish(source="shop", detail_type="order", detail={"p": "after"})
        assert bus.describe_archive("orders").event_count == 1
        assert [json.loads(text)["detail"] for _, _, text in _everything(store, arn)] == [{"p": "after"}]
        assert store._db.execute("SELECT count(*) FROM events").fetchone() == (1,)


# -- NATS: stores on one prefix share the archives ----------------------------------------------
def _wait_until(check: Any, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.005)


def test_nats_stores_on_one_prefix_share_archives_counts_expiry_and_drops(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(fresh_prefix())
    one, two, three = (NatsStore(prefix=nats_prefixes[0]) for _ in range(3))
    try:
        assert two.archives() == []  # (two follows the archives from now on)
        clock = ManualClock(T0)
        bus1 = EventBus(clock=clock, store=one)
        arn = bus1.create_archive("orders")
        _wait_until(lambda: two.archives(BUS) != [], "the archive made by one shows in two")
        bus2 = EventBus(clock=clock, store=two)
        assert [archive.name for archive in bus2.list_archives()] == ["orders"]

        def put(bus: EventBus, who: str, batch: str) -> None:
            for first in range(0, 20, 4):
                bus.put_events([{"Source": "shop", "DetailType": "order", "Time": T0 + timedelta(seconds=n % 3),
                                 "Detail": json.dumps({"who": who, "n": n, "batch": batch})}
                                for n in range(first, first + 4)])

        for batch in ("early", "late"):  # each batch: both buses at once
            threads = [threading.Thread(target=put, args=(bus, who, batch)) for bus, who in ((bus1, "1"), (bus2, "2"))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            clock.advance(60)
        # each store reads every event once, in (time, seq) order, whoever appended it
        seen = _everything(one, arn)
        assert [(when, seq) for when, seq, _ in seen] == sorted({(when, seq) for when, seq, _ in seen})
        details = [json.loads(text)["detail"] for _, _, text in seen]
        assert sorted((detail["who"], detail["n"], detail["batch"]) for detail in details) == sorted(
            (who, n, batch) for who in "12" for n in range(20) for batch in ("early", "late"))
        assert _everything(two, arn) == _everything(three, arn) == seen
        size = sum(len(text.encode()) for _, _, text in seen)
        assert one.stats(arn) == two.stats(arn) == (80, size)
        assert bus1.describe_archive("orders").event_count == bus2.describe_archive("orders").event_count == 80

        # two expires what was ingested first (one's events too); one's reads and counts agree
        early = [item for item in seen if json.loads(item[2])["detail"]["batch"] == "early"]
        assert two.expire(arn, _millis(T0) + 1) == 40
        late = [item for item in seen if item not in early]
        assert _everything(one, arn) == late  # (one's index still names the expired: their texts are gone)
        assert three.expire(arn, _millis(T0) + 1) == 0  # (three's too: gone already, not counted twice)
        assert one.stats(arn) == three.stats(arn) == (40, sum(len(text.encode()) for _, _, text in late))

        # two drops it: one forgets it
        two.drop_archive(arn)
        _wait_until(lambda: one.archives() == [], "the drop shows in one")
        assert (one.read(arn, 0, 2**62), one.stats(arn)) == ([], (0, 0))
        assert one._archives().indexes == {}
    finally:
        for store in (one, two, three):
            store.close()


def test_a_nats_replay_waits_for_the_index_to_hold_what_another_store_appended(
        nats_prefixes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A read up to a high-water mark waits for this store's consumer to have
    delivered every event up to it (here a consumer slowed down)."""
    from eventbus._store import _nats_archive

    fed = _nats_archive._Archives._fed

    async def slowly(self: Any, msg: Any) -> None:
        await asyncio.sleep(0.03)
        await fed(self, msg)

    nats_prefixes.append(fresh_prefix())
    with NatsStore(prefix=nats_prefixes[0]) as two:
        two.save_archive(A, BUS, {})
        monkeypatch.setattr(_nats_archive._Archives, "_fed", slowly)
        with NatsStore(prefix=nats_prefixes[0]) as one:
            assert one.archives() == [{}]
            two.append([(A, 10 - k, k, json.dumps(k)) for k in range(8)])
            up_to = one.high_water()
            assert [text for _, _, text in one.read(A, 0, 100, up_to=up_to)] == [json.dumps(k) for k in
                                                                                  reversed(range(8))]


def test_a_nats_append_that_meets_a_drop_purges_what_it_wrote(nats_prefixes: list[str]) -> None:
    """One store appends to an archive another store has just dropped, before it
    heard of the drop: its count finds the archive gone and it purges its events."""
    nats_prefixes.append(fresh_prefix())
    one, two = NatsStore(prefix=nats_prefixes[0]), NatsStore(prefix=nats_prefixes[0])
    try:
        one.save_archive(A, BUS, {"ArchiveName": "a"})
        _wait_until(lambda: two.archives() != [], "the archive shows in two")
        archives = one._archives()
        bucket = one._buckets["archives"]
        kept = dict(bucket.records)
        two.drop_archive(A)
        _wait_until(lambda: one.archives() == [], "the drop shows in one")

        async def stale() -> None:  # (one's index as it was before it heard of the drop)
            bucket.records.update(kept)
            bucket.gone.clear()

        one._run(stale())
        one.append([(A, 1, 1, '"late"'), (A, 2, 2, '"later"')])
        assert one.stats(A) == (0, 0)
        info = one._run(one._js.stream_info(archives.stream))
        assert info.state.messages == 0  # purged
        one.save_archive(A, BUS, {"ArchiveName": "a"})  # made again: a new generation, empty
        assert (one.read(A, 0, 100), one.stats(A)) == ([], (0, 0))
    finally:
        one.close()
        two.close()


def test_a_nats_store_refuses_an_event_larger_than_the_server_takes(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(fresh_prefix())
    with NatsStore(prefix=nats_prefixes[0]) as store:
        store.save_archive(A, BUS, {})
        with pytest.raises(EventBusError, match=r"refuses an archived event of 2,000,002 bytes: larger than the "
                                                r"server's max_payload \(1,048,576 bytes\)"):
            store.append([(A, 1, 1, json.dumps("x" * 2_000_000))])
        assert store.stats(A) == (0, 0)


def test_a_nats_read_costs_the_page_not_the_archive(nats_prefixes: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from eventbus._store import _nats_archive

    nats_prefixes.append(fresh_prefix())
    with NatsStore(prefix=nats_prefixes[0]) as store:
        store.save_archive(A, BUS, {})
        store.append([(A, k, k, json.dumps({"k": k})) for k in range(300)])
        fetched: list[int] = []
        text = _nats_archive._Archives._text

        async def counted(self: Any, subject: str, seq: int) -> tuple[str | None, bool]:
            fetched.append(seq)
            return await text(self, subject, seq)

        monkeypatch.setattr(_nats_archive._Archives, "_text", counted)
        page = store.read(A, 100, 200, after=(150, -1), limit=5)
        assert [json.loads(text)["k"] for _, _, text in page] == [150, 151, 152, 153, 154]
        assert sorted(fetched) == [seq for _, seq, _ in page]  # five texts fetched, no more
        [index] = store._archives().indexes.values()  # what the index keeps: four integers per event
        assert len(index.events) == 300
        assert all(len(event) == 4 and all(type(part) is int for part in event) for event in index.events)
