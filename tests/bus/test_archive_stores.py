"""Archive stores: one protocol suite run against every store, a sqlite file
that survives its process, and a replay checked against a plain reference."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import eventbus._bus._archives as archives_module
from eventbus import (
    ArchiveStore,
    EventBus,
    ManualClock,
    MemoryArchiveStore,
    ResourceAlreadyExistsError,
    SqliteArchiveStore,
    Target,
)

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
A = "arn:aws:events:us-east-1:123456789012:archive/a"
B = "arn:aws:events:us-east-1:123456789012:archive/b"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    made: ArchiveStore = MemoryArchiveStore() if request.param == "memory" else SqliteArchiveStore(tmp_path / "s.db")
    yield made
    made.close()


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


@given(histories(), st.sampled_from(["memory", "sqlite"]))
def test_a_replay_delivers_exactly_what_a_plain_reference_says(history: dict[str, Any], kind: str) -> None:
    saved = archives_module.PAGE
    archives_module.PAGE = history["page"]  # small pages: every history crosses page boundaries
    try:
        with tempfile.TemporaryDirectory() as folder:
            store: ArchiveStore = MemoryArchiveStore() if kind == "memory" else SqliteArchiveStore(
                Path(folder) / "s.db")
            try:
                to_all, to_b = _replayed(history, store)
            finally:
                store.close()
    finally:
        archives_module.PAGE = saved
    assert (to_all, to_b) == _reference(history)


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
