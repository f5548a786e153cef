"""The Store protocol: one conformance suite, run against every store, then
what only the sqlite store promises (a file that outlives its process, its
settings, a failed transaction leaving nothing behind), and what only the
NATS store promises (stores on one prefix share everything, a store opened
again finds it; its settings).  The NATS stores run against the server on
127.0.0.1:4222, each on a fresh prefix whose buckets are deleted after the
test; without a server they are skipped."""

from __future__ import annotations

import secrets
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from eventbus import EventBusError, ValidationError
from eventbus._store import (
    DeadLetter,
    Enqueued,
    MemoryStore,
    NatsStore,
    ScheduleClaim,
    SqliteStore,
    Store,
    StoredItem,
    StoredSchedule,
    Work,
)
from eventbus._store import _sqlite as sqlite_module

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=10)
Factory = Callable[..., Store]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


NATS = ("127.0.0.1", 4222)
NO_NATS = ("NATS JetStream is not reachable at 127.0.0.1:4222: start one (`nats-server -js`, Debian package "
           "nats-server) to run the NATS store's tests")


def nats_answers() -> bool:
    try:
        socket.create_connection(NATS, timeout=1).close()
    except OSError:
        return False
    return True


def fresh_prefix() -> str:
    return f"test-{secrets.token_hex(6)}"


def drop_buckets(prefix: str) -> None:
    """Delete the buckets of ``prefix`` on the server."""
    NatsStore(prefix=prefix)._drop_buckets()


@pytest.fixture(params=["memory", "sqlite", "nats"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Stores of the parameter's kind, closed after the test (a NATS store: on a
    fresh prefix, whose buckets are deleted after the test)."""
    made: list[Store] = []
    prefixes: list[str] = []
    if request.param == "nats" and not nats_answers():
        pytest.skip(NO_NATS)

    def factory(**kwargs: Any) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(**kwargs)
        elif request.param == "sqlite":
            store = SqliteStore(tmp_path / f"work{len(made)}.db", **kwargs)
        else:
            prefixes.append(fresh_prefix())
            store = NatsStore(prefix=prefixes[-1], **kwargs)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()
    for prefix in prefixes:
        drop_buckets(prefix)


@pytest.fixture
def store(make: Factory) -> Store:
    return make()


def claim(store: Store, seconds: float, *, queue: str = "q", limit: int = 10, owner: str = "w1",
          lease: timedelta = LEASE) -> list[Work]:
    return store.claim(queue, now=at(seconds), limit=limit, lease=lease, owner=owner)


def payloads(works: list[Work]) -> list[str]:
    return [w.payload for w in works]


def follow(payload: str, *, queue: str = "next", key: str | None = None, seconds: float = 0) -> Enqueued:
    return Enqueued(queue=queue, payload=payload, not_before=at(seconds), key=key)


# -- the protocol and its records


def test_every_store_speaks_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.key_retention == timedelta(hours=24)


def test_the_key_retention_is_a_setting(make: Factory) -> None:
    assert make(key_retention=90).key_retention == timedelta(seconds=90)
    assert make(key_retention=timedelta(minutes=5)).key_retention == timedelta(minutes=5)
    with pytest.raises(ValidationError, match="Value '-1' at 'key_retention' failed to satisfy constraint"):
        make(key_retention=-1)


def test_records_are_frozen_and_enqueued_is_checked_when_built() -> None:
    entry = Enqueued(queue="q", payload="{}", not_before=T0, key="k")
    with pytest.raises(AttributeError):
        entry.queue = "other"  # type: ignore[misc]
    assert entry == Enqueued(queue="q", payload="{}", not_before=T0, key="k")
    with pytest.raises(ValidationError, match="queue must not be empty"):
        Enqueued(queue="", payload="{}", not_before=T0)
    with pytest.raises(ValidationError, match="key must not be empty"):
        Enqueued(queue="q", payload="{}", not_before=T0, key="")
    with pytest.raises(ValidationError, match="Invalid type for parameter payload, value: b'{}'"):
        Enqueued(queue="q", payload=b"{}", not_before=T0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at 'payload' failed to satisfy constraint: Member must be valid "
                                              "Unicode text"):
        Enqueued(queue="q", payload="\ud800", not_before=T0)
    with pytest.raises(TypeError):
        Enqueued("q", "{}", T0)  # type: ignore[call-arg]  # (keyword-only)
    item = StoredItem(queue="q", id="1", payload="{}", key=None, not_before=T0, attempts=0)
    with pytest.raises(AttributeError):
        item.attempts = 2  # type: ignore[misc]
    assert (item.owner, item.lease_until) == (None, None)


# -- enqueue, ids and idempotency keys


def test_ids_are_unique_text_and_never_reused(store: Store) -> None:
    first = store.enqueue("q", "a", not_before=T0)
    second = store.enqueue("other", "b", not_before=T0)
    assert isinstance(first, str) and isinstance(second, str) and first != second
    [work] = claim(store, 0)
    assert store.ack(work)
    [work] = claim(store, 0, queue="other")
    assert store.ack(work)
    third = store.enqueue("q", "c", not_before=T0)  # (the newest item ended: its id is not handed out again)
    assert third not in (first, second)


def test_a_key_is_remembered_while_its_item_lives_and_for_the_retention_after_it_ends(make: Factory) -> None:
    store = make(key_retention=60)
    kept = store.enqueue("q", "first", not_before=T0, key="e1/t1")
    assert kept is not None
    assert store.enqueue("q", "again", not_before=T0, key="e1/t1") is None
    assert store.enqueue("other", "same key, other queue", not_before=T0, key="e1/t1") is not None
    [work] = claim(store, 0)
    assert store.retry(work, not_before=at(1))  # (still alive)
    assert store.enqueue("q", "again", not_before=T0, key="e1/t1") is None
    [work] = claim(store, 1)
    assert store.ack(work, at=at(5))
    assert store.enqueue("q", "after the ack", not_before=T0, key="e1/t1") is None
    assert store.sweep(at(64.999999)) == 0  # retention ends at 5 + 60
    assert store.enqueue("q", "just before the end", not_before=T0, key="e1/t1") is None
    assert store.sweep(at(65)) == 1
    assert store.enqueue("q", "after the sweep", not_before=T0, key="e1/t1") is not None
    assert payloads(claim(store, 100)) == ["after the sweep"]


def test_an_unswept_key_stays_remembered_however_late_it_is(make: Factory) -> None:
    store = make(key_retention=0)
    store.enqueue("q", "a", not_before=T0, key="k")
    [work] = claim(store, 0)
    assert store.ack(work)  # at = claimed_at: retention ended at once, but nothing forgot it yet
    assert store.enqueue("q", "b", not_before=at(10_000), key="k") is None
    assert store.sweep(at(0)) == 1
    assert store.enqueue("q", "b", not_before=at(10_000), key="k") is not None


def test_a_dead_lettered_items_key_is_retained_from_when_it_ended(make: Factory) -> None:
    store = make(key_retention=30)
    store.enqueue("q", "a", not_before=T0, key="k")
    [work] = claim(store, 7)
    assert store.dead_letter(work, reason="poison")  # at = claimed_at = T0 + 7
    assert store.enqueue("q", "b", not_before=T0, key="k") is None
    assert store.sweep(at(36.9)) == 0
    assert store.sweep(at(37)) == 1
    assert store.enqueue("q", "b", not_before=T0, key="k") is not None


def test_enqueue_many_adds_in_order_and_applies_keys_within_the_batch(store: Store) -> None:
    store.enqueue("q", "old", not_before=T0, key="k0")
    ids = store.enqueue_many([follow("a", queue="q", key="k1"), follow("dup", queue="q", key="k1"),
                              follow("b", queue="q"), follow("also dup", queue="q", key="k0"),
                              follow("c", queue="q", key="k2")])
    assert [i is None for i in ids] == [False, True, False, True, False]
    assert payloads(claim(store, 0)) == ["old", "a", "b", "c"]
    assert store.enqueue_many([]) == []


# -- claims


def test_claim_takes_the_earliest_due_first_up_to_the_limit(store: Store) -> None:
    for payload, seconds in [("t3", 3), ("t1", 1), ("t2", 2), ("t1 again", 1), ("t10", 10)]:
        store.enqueue("q", payload, not_before=at(seconds))
    store.enqueue("other", "elsewhere", not_before=T0)
    assert claim(store, 0.5) == []
    first = claim(store, 2, limit=2)
    assert payloads(first) == ["t1", "t1 again"]
    assert payloads(claim(store, 2)) == ["t2"]
    assert payloads(claim(store, 9.9)) == ["t3"]
    assert payloads(claim(store, 10, limit=1)) == ["t10"]
    assert claim(store, 11.9) == []  # (every lease runs until 12 or later)
    assert payloads(claim(store, 0, queue="other")) == ["elsewhere"]
    assert claim(store, 0, queue="nothing here") == []


def test_a_claim_leases_each_item_and_says_so(store: Store) -> None:
    item = store.enqueue("q", '{"n": 1}', not_before=at(-5), key="e/t")
    [work] = claim(store, 2, owner="worker-7", lease=timedelta(seconds=30))
    assert (work.queue, work.id, work.payload, work.key) == ("q", item, '{"n": 1}', "e/t")
    assert (work.not_before, work.attempts, work.owner) == (at(-5), 1, "worker-7")
    assert (work.claimed_at, work.lease_until) == (at(2), at(32))
    assert isinstance(work.claim, str) and work.claim
    assert claim(store, 31.999999) == []  # leased
    assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}


def test_a_lease_that_runs_out_is_taken_over_and_the_old_claim_is_refused(store: Store) -> None:
    store.enqueue("q", "job", not_before=T0, key="k")
    [old] = claim(store, 0, owner="crashed")
    [new] = claim(store, 10, owner="survivor")  # the lease ran out at 10
    assert (new.id, new.attempts, new.owner, new.not_before) == (old.id, 2, "survivor", at(10))
    assert new.claim != old.claim
    # every call with the old claim is refused and writes nothing
    assert store.ack(old, then=[follow("from the old claim")]) is False
    assert store.dead_letter(old, reason="late", then=[follow("from the old claim")]) is False
    assert store.retry(old, not_before=at(11)) is False
    assert store.extend(old, until=at(100)) is False
    assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}
    assert store.counts("next") == {"ready": 0, "leased": 0, "dead": 0}
    assert store.dead_letters("q") == []
    assert store.next_due("q") == at(20)  # the survivor's lease is untouched
    assert store.ack(new)
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}
    assert store.ack(new) is False  # (ended)


def test_a_holder_whose_lease_ran_out_may_still_end_it_if_nobody_took_over(store: Store) -> None:
    store.enqueue("q", "slow", not_before=T0)
    [work] = claim(store, 0)
    assert store.next_due("q") == at(10)
    assert store.ack(work, at=at(25))  # 15 s after the lease ran out, but nobody claimed it
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}


def test_attempts_count_claims_and_retry_hands_the_item_back_for_later(store: Store) -> None:
    store.enqueue("q", "flaky", not_before=T0)
    [first] = claim(store, 0)
    assert store.retry(first, not_before=at(30))
    assert store.counts("q") == {"ready": 1, "leased": 0, "dead": 0}
    assert store.next_due("q") == at(30)
    assert claim(store, 29.999) == []
    assert store.retry(first, not_before=at(1)) is False  # handed back: its claim is over
    assert store.ack(first) is False
    [second] = claim(store, 31)
    assert (second.attempts, second.not_before) == (2, at(30))
    assert store.retry(second, not_before=at(0))  # (into the past: due at once)
    [third] = claim(store, 31)
    assert third.attempts == 3
    assert third.payload == "flaky"
    assert store.retry(third, not_before=at(32), payload="flaky, 3 failures")  # what the holder learnt
    assert store.retry(third, not_before=at(32), payload="lost") is False  # (stale: nothing written)
    [fourth] = claim(store, 32)
    assert (fourth.attempts, fourth.payload) == (4, "flaky, 3 failures")
    assert store.ack(fourth)


def test_extend_moves_the_end_of_the_lease(store: Store) -> None:
    store.enqueue("q", "long job", not_before=T0)
    [work] = claim(store, 0)
    assert store.extend(work, until=at(50))
    assert store.next_due("q") == at(50)
    assert claim(store, 49) == []
    [later] = claim(store, 50, owner="w2")
    assert (later.attempts, later.not_before) == (2, at(50))
    assert store.extend(work, until=at(500)) is False  # taken over
    assert store.ack(work) is False
    assert store.extend(later, until=at(55)) and store.ack(later)


# -- follow-ups and dead letters


def test_ack_enqueues_its_follow_ups_with_the_end_of_the_item(make: Factory) -> None:
    store = make(key_retention=60)
    store.enqueue("q", "delivery", not_before=T0, key="e1/t1")
    store.enqueue("dest", "already there", not_before=T0, key="d-1")
    [work] = claim(store, 0)
    assert store.ack(work, then=[
        follow("destination record", queue="dest", key="d-2", seconds=5),
        follow("skipped: its key is remembered", queue="dest", key="d-1"),
        follow("skipped: the ended item's own key is retained first", queue="q", key="e1/t1"),
        follow("no key", queue="dest", seconds=5),
        follow("skipped: a key earlier in the batch", queue="dest", key="d-2")])
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}
    assert payloads(claim(store, 5, queue="dest")) == ["already there", "destination record", "no key"]


def test_dead_letter_keeps_a_record_and_enqueues_its_follow_ups(store: Store) -> None:
    item = store.enqueue("q", '{"poison": true}', not_before=T0, key="e9/t1")
    [work] = claim(store, 3)
    assert store.retry(work, not_before=at(4))
    [work] = claim(store, 4)
    assert store.dead_letter(work, reason="MaximumRetryAttempts", then=[follow("to the DLQ", queue="dlq")])
    assert store.dead_letters("q") == [DeadLetter(queue="q", id=item or "", payload='{"poison": true}', attempts=2,
                                                  reason="MaximumRetryAttempts", at=at(4), key="e9/t1")]
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 1}
    assert payloads(claim(store, 4, queue="dlq")) == ["to the DLQ"]
    assert store.dead_letter(work, reason="twice") is False
    assert len(store.dead_letters("q")) == 1


def test_dead_letters_are_listed_in_order_and_dropped_by_time(store: Store) -> None:
    for n in range(4):
        store.enqueue("q", f"p{n}", not_before=T0)
    works = claim(store, 0)
    for n, work in enumerate(works):
        assert store.dead_letter(work, reason=f"r{n}", at=at(10 * n))
    assert [d.reason for d in store.dead_letters("q")] == ["r0", "r1", "r2", "r3"]
    assert [d.at for d in store.dead_letters("q", limit=2)] == [at(0), at(10)]
    assert store.dead_letters("elsewhere") == []
    assert store.drop_dead_letters("q", before=at(20)) == 2  # at 0 and 10; not 20
    assert [d.payload for d in store.dead_letters("q")] == ["p2", "p3"]
    assert store.drop_dead_letters("q") == 2
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}
    assert store.drop_dead_letters("elsewhere") == 0


def test_a_bad_follow_up_is_refused_before_anything_is_written(store: Store) -> None:
    store.enqueue("q", "job", not_before=T0)
    [work] = claim(store, 0)
    bad: list[Any] = [follow("fine"), {"queue": "q", "payload": "not an Enqueued"}]
    with pytest.raises(ValidationError, match="Invalid type for parameter then"):
        store.ack(work, then=bad)
    with pytest.raises(ValidationError, match="Invalid type for parameter then"):
        store.dead_letter(work, reason="x", then="not a list")  # type: ignore[arg-type]
    assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}
    assert store.counts("next") == {"ready": 0, "leased": 0, "dead": 0}
    assert store.ack(work)  # (still held)


# -- next_due, sweep, counts


def test_next_due_is_when_the_next_item_becomes_claimable(store: Store) -> None:
    assert store.next_due() is None and store.next_due("q") is None
    store.enqueue("q", "a", not_before=at(20))
    store.enqueue("q", "b", not_before=at(5))
    store.enqueue("r", "c", not_before=at(8))
    assert (store.next_due("q"), store.next_due("r"), store.next_due()) == (at(5), at(8), at(5))
    [b] = claim(store, 6)
    assert store.next_due("q") == at(16)  # b's lease ends before a is due
    assert store.next_due() == at(8)
    assert store.ack(b)
    assert store.next_due("q") == at(20)
    [c] = claim(store, 9, queue="r")
    assert store.next_due() == at(19)
    assert store.dead_letter(c, reason="x")
    assert (store.next_due("r"), store.next_due()) == (None, at(20))


def test_sweep_releases_run_out_leases_first_then_forgets_keys_a_bounded_amount_at_a_time(make: Factory) -> None:
    store = make(key_retention=0)
    for key in ["zeta", "alpha", "mid"]:  # three ended items: keys to forget, at 1, 2 and 3
        store.enqueue("k", key, not_before=T0, key=key)
    for end, work in enumerate(claim(store, 0, queue="k"), start=1):
        assert store.ack(work, at=at(end))
    for n in range(5):
        store.enqueue("q", f"p{n}", not_before=T0)
    works = claim(store, 0)
    for work, end in zip(works, [4, 1, 3, 2, 9], strict=True):
        assert store.extend(work, until=at(end))
    assert store.sweep(at(5), limit=2) == 2  # the leases that ended first: p1's and p3's
    assert store.counts("q") == {"ready": 2, "leased": 3, "dead": 0}
    assert store.extend(works[1], until=at(9)) is False and store.ack(works[3]) is False  # their claims are over
    assert store.extend(works[0], until=at(4)) and store.extend(works[2], until=at(3))  # (still held)
    assert store.sweep(at(5), limit=3) == 3  # p2's and p0's leases, then the key that ended first
    assert store.enqueue("k", "zeta again", not_before=T0, key="zeta") is not None
    assert store.enqueue("k", "alpha again", not_before=T0, key="alpha") is None
    assert store.sweep(at(5)) == 2  # alpha and mid (p4's lease runs until 9)
    assert store.enqueue("k", "alpha again", not_before=T0, key="alpha") is not None
    assert store.sweep(at(8.999999)) == 0
    assert store.sweep(at(100)) == 1
    assert store.counts("q") == {"ready": 5, "leased": 0, "dead": 0}
    # a released item stays due when its lease ran out: the order of claims does not depend on sweeps
    assert [(w.payload, w.not_before, w.attempts) for w in claim(store, 100)] == [
        ("p1", at(1), 2), ("p3", at(2), 2), ("p2", at(3), 2), ("p0", at(4), 2), ("p4", at(9), 2)]


def test_counts_are_per_queue(store: Store) -> None:
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}
    for n in range(4):
        store.enqueue("q", f"p{n}", not_before=at(n * 100))  # (not yet due counts as ready too)
    store.enqueue("r", "x", not_before=T0)
    a, = claim(store, 0)
    assert store.counts("q") == {"ready": 3, "leased": 1, "dead": 0}
    assert store.dead_letter(a, reason="r")
    assert store.counts("q") == {"ready": 3, "leased": 0, "dead": 1}
    assert store.counts("r") == {"ready": 1, "leased": 0, "dead": 0}


# -- listing, removing and purging


def test_items_lists_a_queue_in_enqueue_order_with_each_items_lease(store: Store) -> None:
    assert store.items("q") == []
    first = store.enqueue("q", "late", not_before=at(50), key="k1")
    second = store.enqueue("q", "early", not_before=at(1))
    store.enqueue("other", "elsewhere", not_before=T0)
    third = store.enqueue("q", "also early", not_before=at(1))
    [held] = claim(store, 5, owner="w7", limit=1)  # "early" (due 1)
    assert held.id == second
    assert store.items("q") == [
        StoredItem(queue="q", id=first or "", payload="late", key="k1", not_before=at(50), attempts=0),
        StoredItem(queue="q", id=second or "", payload="early", key=None, not_before=at(1), attempts=1,
                   owner="w7", lease_until=at(15)),
        StoredItem(queue="q", id=third or "", payload="also early", key=None, not_before=at(1), attempts=0)]
    assert [i.payload for i in store.items("q", limit=2)] == ["late", "early"]
    assert store.extend(held, until=at(40))  # (the lease moves; when it became due does not)
    assert (store.items("q")[1].not_before, store.items("q")[1].lease_until) == (at(1), at(40))
    assert store.retry(held, not_before=at(60), payload="early, again")
    assert store.items("q")[1] == StoredItem(queue="q", id=second or "", payload="early, again", key=None,
                                             not_before=at(60), attempts=1)
    done, again = claim(store, 60, limit=2)  # "also early" (due 1), then "late" (due 50)
    assert (done.id, again.id) == (third, first)
    assert store.ack(done)
    assert store.sweep(at(70)) == 1  # "late"'s lease ran out
    assert store.items("q")[0] == StoredItem(queue="q", id=first or "", payload="late", key="k1",
                                             not_before=at(70), attempts=1)  # (due when its lease ran out)
    assert [i.payload for i in store.items("other")] == ["elsewhere"]
    assert store.items("nothing here") == []


def test_remove_ends_one_item_whatever_its_claim_and_retains_its_key(make: Factory) -> None:
    store = make(key_retention=60)
    free = store.enqueue("q", "free", not_before=T0, key="k-free")
    store.enqueue("q", "held", not_before=at(1), key="k-held")
    store.enqueue("q", "stays", not_before=at(2))
    [held] = claim(store, 1, limit=1)
    assert held.payload == "free" and held.id == free
    [other] = claim(store, 1, limit=1)
    assert store.remove("q", other.id, at=at(5))  # leased: removed all the same
    assert store.ack(other) is False and store.extend(other, until=at(50)) is False  # its claim is stale
    assert store.retry(other, not_before=T0) is False and store.dead_letter(other, reason="x") is False
    assert store.remove("q", other.id, at=at(5)) is False  # (gone)
    assert store.remove("elsewhere", held.id, at=at(5)) is False  # (not that queue's)
    assert store.counts("q") == {"ready": 1, "leased": 1, "dead": 0}
    assert store.remove("q", held.id, at=at(10))
    assert [i.payload for i in store.items("q")] == ["stays"]
    assert store.counts("q") == {"ready": 1, "leased": 0, "dead": 0} and store.dead_letters("q") == []
    assert store.enqueue("q", "again", not_before=T0, key="k-held") is None  # keys retained, like an ack's
    assert store.sweep(at(64.999999)) == 0
    assert store.sweep(at(65)) == 1  # k-held's retention ended at 5 + 60; k-free's runs until 70
    assert store.enqueue("q", "again", not_before=T0, key="k-held") is not None
    assert store.enqueue("q", "again", not_before=T0, key="k-free") is None
    for forged in ["x", "٣", "99999999999999999999", ""]:
        assert store.remove("q", forged, at=T0) is False
    assert store.next_due("q") == T0


def test_purge_empties_one_queue_and_retains_its_keys(make: Factory) -> None:
    store = make(key_retention=30)
    for n in range(3):
        store.enqueue("q", f"p{n}", not_before=at(n), key=f"k{n}")
    store.enqueue("q", "no key", not_before=at(100))
    store.enqueue("r", "untouched", not_before=T0, key="k0")
    poison, held = claim(store, 1)
    assert store.dead_letter(poison, reason="poison")
    assert store.purge("q", at=at(10)) == 3  # the leased one too
    assert store.ack(held) is False
    assert store.items("q") == [] and store.next_due("q") is None
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 1}  # dead letters stay
    assert [i.payload for i in store.items("r")] == ["untouched"]
    assert store.enqueue("q", "again", not_before=T0, key="k2") is None
    assert store.enqueue("r", "again", not_before=T0, key="k0") is None  # (r's item lives)
    assert store.sweep(at(39.999999)) == 1  # q's k0, retained from the dead letter (at 1) until 31
    assert store.sweep(at(40)) == 2  # k1 and k2, retained from the purge (at 10)
    assert store.enqueue("q", "again", not_before=T0, key="k2") is not None
    assert store.purge("q", at=at(50)) == 1 and store.purge("q", at=at(50)) == 0
    assert store.purge("nothing here", at=T0) == 0
    assert store.drop_dead_letters("q") == 1
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}


# -- schedules


def test_schedules_are_put_replaced_listed_and_deleted(store: Store) -> None:
    assert store.schedules() == [] and store.get_schedule("s") is None
    store.put_schedule("nightly", at(3600), '{"expr": "cron(0 0 * * ? *)"}')
    store.put_schedule("once", None, "{}")
    store.put_schedule("a-rate", at(60), '{"expr": "rate(1 minute)"}')
    store.put_schedule("nightly", at(7200), '{"expr": "cron(0 1 * * ? *)"}')  # replaced
    assert store.get_schedule("nightly") == StoredSchedule(name="nightly", next_fire=at(7200),
                                                           data='{"expr": "cron(0 1 * * ? *)"}')
    assert [s.name for s in store.schedules()] == ["a-rate", "nightly", "once"]
    assert store.next_schedule_due() == at(60)
    assert store.delete_schedule("a-rate") and not store.delete_schedule("a-rate")
    assert store.next_schedule_due() == at(7200)
    assert store.delete_schedule("nightly")
    assert store.next_schedule_due() is None  # ("once" has no more fires)


def test_of_two_owners_claiming_a_due_schedule_only_one_gets_it(store: Store) -> None:
    store.put_schedule("s", at(60), "{}")
    assert store.claim_due_schedules(now=at(59), lease=LEASE, owner="a", limit=5) == []
    [won] = store.claim_due_schedules(now=at(60), lease=LEASE, owner="a", limit=5)
    assert store.claim_due_schedules(now=at(61), lease=LEASE, owner="b", limit=5) == []
    assert won == ScheduleClaim(name="s", next_fire=at(60), data="{}", owner="a", claim=won.claim,
                                lease_until=at(70))
    assert store.get_schedule("s") == StoredSchedule(name="s", next_fire=at(60), data="{}", owner="a",
                                                     lease_until=at(70))
    assert store.next_schedule_due() == at(70)
    # a owner that dies: its lease runs out, b fires the same fire time, a's late report is refused
    [taken] = store.claim_due_schedules(now=at(70), lease=LEASE, owner="b", limit=5)
    assert (taken.next_fire, taken.owner) == (at(60), "b") and taken.claim != won.claim
    assert store.schedule_fired(won, next_fire=at(120), then=[follow("a's fire")]) is False
    assert store.counts("next")["ready"] == 0
    assert store.schedule_fired(taken, next_fire=at(120), then=[follow("b's fire")])
    assert payloads(claim(store, 70, queue="next")) == ["b's fire"]
    assert store.schedule_fired(taken, next_fire=at(180)) is False  # (reported already)


def test_a_fire_moves_the_schedule_and_enqueues_its_deliveries_in_one_step(store: Store) -> None:
    store.put_schedule("s", at(60), '{"target": "t"}')
    [fire] = store.claim_due_schedules(now=at(61), lease=LEASE, owner="a", limit=1)
    assert store.schedule_fired(fire, next_fire=at(120), then=[
        follow('{"fire": 60}', queue="t", key="s/60"), follow("dup", queue="t", key="s/60")])
    assert store.get_schedule("s") == StoredSchedule(name="s", next_fire=at(120), data='{"target": "t"}')
    assert store.next_schedule_due() == at(120)
    assert payloads(claim(store, 61, queue="t")) == ['{"fire": 60}']
    [last] = store.claim_due_schedules(now=at(120), lease=LEASE, owner="a", limit=1)
    assert store.schedule_fired(last, next_fire=None)
    assert store.next_schedule_due() is None
    assert store.claim_due_schedules(now=at(10**6), lease=LEASE, owner="a", limit=1) == []


def test_replacing_or_deleting_a_schedule_refuses_a_claim_on_it(store: Store) -> None:
    store.put_schedule("s", at(0), "v1")
    [claim_v1] = store.claim_due_schedules(now=at(0), lease=LEASE, owner="a", limit=1)
    store.put_schedule("s", at(500), "v2")
    assert store.schedule_fired(claim_v1, next_fire=at(60), then=[follow("v1's fire")]) is False
    assert store.get_schedule("s") == StoredSchedule(name="s", next_fire=at(500), data="v2")
    assert store.counts("next")["ready"] == 0
    [claim_v2] = store.claim_due_schedules(now=at(500), lease=LEASE, owner="a", limit=1)
    assert store.delete_schedule("s")
    assert store.schedule_fired(claim_v2, next_fire=at(600)) is False
    assert store.get_schedule("s") is None
    store.put_schedule("s", at(500), "v3")  # (the same name again: the old claim is still refused)
    assert store.schedule_fired(claim_v2, next_fire=at(600)) is False


def test_due_schedules_are_claimed_earliest_first_up_to_the_limit(store: Store) -> None:
    for name, seconds in [("c", 30), ("b", 10), ("a", 30), ("d", 5), ("later", 99)]:
        store.put_schedule(name, at(seconds), "{}")
    first = store.claim_due_schedules(now=at(30), lease=LEASE, owner="x", limit=3)
    assert [c.name for c in first] == ["d", "b", "a"]
    assert [c.name for c in store.claim_due_schedules(now=at(30), lease=LEASE, owner="x", limit=3)] == ["c"]
    # run-out leases are due when they end (all at 40, so by name), before "later" (99)
    assert [c.name for c in store.claim_due_schedules(now=at(100), lease=LEASE, owner="y", limit=9)] == [
        "a", "b", "c", "d", "later"]


# -- configuration


def test_configuration_records_are_written_listed_by_prefix_and_deleted(store: Store) -> None:
    assert (store.configs(), store.config_version()) == ({}, 0)
    assert store.write_config({"bus-a|rule|orders": '{"State":"ENABLED"}', "bus-a|rule|audit": "{}"}) == (0, 2)
    assert store.write_config({"bus-b|rule|orders": "[]", "bus-a|target|orders|t1": '{"Id":"t1"}'}) == (2, 4)
    assert store.config_version() == 4  # (one per record written)
    assert store.configs("bus-a|rule|") == {"bus-a|rule|audit": "{}", "bus-a|rule|orders": '{"State":"ENABLED"}'}
    assert list(store.configs("bus-a|")) == ["bus-a|rule|audit", "bus-a|rule|orders", "bus-a|target|orders|t1"]
    assert len(store.configs()) == 4 and store.configs("bus-c") == {}
    assert store.write_config({"bus-a|rule|orders": '{"State":"DISABLED"}'}) == (4, 5)  # replaced
    assert store.configs("bus-a|rule|o") == {"bus-a|rule|orders": '{"State":"DISABLED"}'}
    # a delete, and a delete of nothing (which changes nothing, and moves no version)
    assert store.write_config({"bus-a|rule|orders": None, "bus-a|rule|nothing": None}) == (5, 6)
    assert store.write_config({"bus-a|rule|orders": None}) == (6, 6)
    assert store.config_version() == 6
    assert store.configs("bus-a|rule|") == {"bus-a|rule|audit": "{}"}
    store.write_config({"bus-a|rule|orders": "{}"})  # (written again after a delete)
    assert store.configs("bus-a|rule|orders") == {"bus-a|rule|orders": "{}"}
    assert store.write_config({}) == (7, 7)


def test_configuration_names_may_be_any_text_and_prefixes_match_exactly(store: Store) -> None:
    names = ["arn:aws:events:us-east-1:1:rule/a", "arn:aws:events:us-east-1:1:rule/a%", "ärn/ü", "a_b", "a%b"]
    store.write_config({name: name for name in names})
    assert store.configs("a_") == {"a_b": "a_b"}  # ("_" and "%" are not wildcards)
    assert store.configs("a%") == {"a%b": "a%b"}
    assert store.configs("ärn/") == {"ärn/ü": "ärn/ü"}
    assert store.configs("arn:aws:events:us-east-1:1:rule/a") == {n: n for n in sorted(names[:2])}


def test_a_configuration_write_is_checked_whole_before_anything_is_written(store: Store) -> None:
    for bad, text in [({"ok": "{}", "": "{}"}, "name must not be empty"),
                      ({"ok": "{}", "x": 5}, "parameter data"),
                      ([("ok", "{}")], "parameter changes")]:
        with pytest.raises(ValidationError, match=text):
            store.write_config(bad)  # type: ignore[arg-type]
    assert (store.configs(), store.config_version()) == ({}, 0)
    with pytest.raises(ValidationError, match="parameter prefix"):
        store.configs(None)  # type: ignore[arg-type]


def test_a_closed_store_refuses_configuration_calls(store: Store) -> None:
    store.close()
    for call in (lambda: store.write_config({"a": "{}"}), store.configs, store.config_version):
        with pytest.raises(ValidationError, match="is closed"):
            call()


def test_a_failed_sqlite_configuration_write_keeps_nothing(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "work.db") as store:
        store.write_config({"a": "1"})
        other = sqlite3.connect(tmp_path / "work.db")  # (a trigger that refuses one name, put in from outside)
        other.execute("CREATE TRIGGER refuse BEFORE INSERT ON config WHEN NEW.name = 'bad' "
                      "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        other.commit()
        other.close()
        with pytest.raises(sqlite3.IntegrityError, match="refused"):  # the second record fails: the first goes too
            store.write_config({"b": "2", "a": None, "bad": "x"})
        assert store.configs() == {"a": "1"} and store.config_version() == 1


# -- bad arguments


AWARE_TIMES: list[tuple[str, Callable[[Store, Work, ScheduleClaim, datetime], object]]] = [
    ("not_before", lambda s, w, c, t: s.enqueue("q", "{}", not_before=t)),
    ("not_before", lambda s, w, c, t: s.enqueue_many([Enqueued(queue="q", payload="{}", not_before=t)])),
    ("now", lambda s, w, c, t: s.claim("q", now=t, limit=1, lease=LEASE, owner="o")),
    ("at", lambda s, w, c, t: s.ack(w, at=t)),
    ("not_before", lambda s, w, c, t: s.retry(w, not_before=t)),
    ("at", lambda s, w, c, t: s.dead_letter(w, reason="r", at=t)),
    ("until", lambda s, w, c, t: s.extend(w, until=t)),
    ("now", lambda s, w, c, t: s.sweep(t)),
    ("before", lambda s, w, c, t: s.drop_dead_letters("q", before=t)),
    ("at", lambda s, w, c, t: s.remove("q", w.id, at=t)),
    ("at", lambda s, w, c, t: s.purge("q", at=t)),
    ("next_fire", lambda s, w, c, t: s.put_schedule("s", t, "{}")),
    ("now", lambda s, w, c, t: s.claim_due_schedules(now=t, lease=LEASE, owner="o", limit=1)),
    ("next_fire", lambda s, w, c, t: s.schedule_fired(c, next_fire=t)),
]


@pytest.mark.parametrize(("name", "call"), AWARE_TIMES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(AWARE_TIMES)])
def test_naive_datetimes_are_refused_with_a_clear_error(
        store: Store, name: str, call: Callable[[Store, Work, ScheduleClaim, datetime], object]) -> None:
    store.enqueue("q", "{}", not_before=T0)
    [work] = claim(store, 0)
    store.put_schedule("s", T0, "{}")
    [fire] = store.claim_due_schedules(now=T0, lease=LEASE, owner="o", limit=1)
    with pytest.raises(ValidationError) as raised:
        call(store, work, fire, datetime(2024, 1, 1, 12, 30))
    assert str(raised.value) == (f"{name} must be an aware datetime (with a tzinfo, such as datetime.UTC), "
                                 "not the naive 2024-01-01T12:30:00")
    assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}  # nothing changed
    assert store.get_schedule("s") == StoredSchedule(name="s", next_fire=T0, data="{}", owner="o",
                                                     lease_until=at(10))


BAD_CALLS: list[tuple[str, Callable[[Store, Work], object]]] = [
    ("limit.*greater than or equal to 1", lambda s, w: s.claim("q", now=T0, limit=0, lease=LEASE, owner="o")),
    ("parameter limit, value: 2.0", lambda s, w: s.claim("q", now=T0, limit=2.0, lease=LEASE,  # type: ignore[arg-type]
                                                         owner="o")),
    ("lease must be a positive timedelta", lambda s, w: s.claim("q", now=T0, limit=1, lease=timedelta(0), owner="o")),
    ("parameter lease, value: 10", lambda s, w: s.claim("q", now=T0, limit=1, lease=10, owner="o")),  # type: ignore[arg-type]
    ("owner must not be empty", lambda s, w: s.claim("q", now=T0, limit=1, lease=LEASE, owner="")),
    ("queue must not be empty", lambda s, w: s.claim("", now=T0, limit=1, lease=LEASE, owner="o")),
    ("now \\+ lease is beyond the last time", lambda s, w: s.claim("q", now=datetime.max.replace(tzinfo=UTC),
                                                                   limit=1, lease=LEASE, owner="o")),
    ("parameter now, value: 0", lambda s, w: s.sweep(0)),  # type: ignore[arg-type]
    ("parameter work, value: None", lambda s, w: s.ack(None)),  # type: ignore[arg-type]
    ("parameter reason, value: 5", lambda s, w: s.dead_letter(w, reason=5)),  # type: ignore[arg-type]
    ("parameter items", lambda s, w: s.enqueue_many([("q", "{}", T0)])),  # type: ignore[list-item]
    ("parameter payload", lambda s, w: s.enqueue("q", {"a": 1}, not_before=T0)),  # type: ignore[arg-type]
    ("parameter data", lambda s, w: s.put_schedule("s", T0, None)),  # type: ignore[arg-type]
    ("name must not be empty", lambda s, w: s.put_schedule("", T0, "{}")),
    ("claim must be an eventbus.ScheduleClaim", lambda s, w: s.schedule_fired(w, next_fire=None)),  # type: ignore[arg-type]
    ("limit.*greater than or equal to 1", lambda s, w: s.sweep(T0, limit=0)),
    ("limit.*greater than or equal to 1", lambda s, w: s.items("q", limit=0)),
    ("queue must not be empty", lambda s, w: s.items("")),
    ("parameter id, value: 1", lambda s, w: s.remove("q", 1, at=T0)),  # type: ignore[arg-type]
    ("queue must not be empty", lambda s, w: s.remove("", w.id, at=T0)),
    ("parameter at, value: None", lambda s, w: s.remove("q", w.id, at=None)),  # type: ignore[arg-type]
    ("queue must not be empty", lambda s, w: s.purge("", at=T0)),
]


@pytest.mark.parametrize(("text", "call"), BAD_CALLS, ids=[t for t, _ in BAD_CALLS])
def test_bad_arguments_are_refused_and_change_nothing(
        store: Store, text: str, call: Callable[[Store, Work], object]) -> None:
    store.enqueue("q", "{}", not_before=T0)
    [work] = claim(store, 0)
    with pytest.raises(ValidationError, match=text):
        call(store, work)
    assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}
    assert store.ack(work)


def test_a_forged_or_foreign_work_is_refused(store: Store) -> None:
    store.enqueue("q", "{}", not_before=T0)
    [work] = claim(store, 0)
    for forged in ["x", "٣", "99999999999999999999", ""]:
        fake = Work(queue="q", id=forged, payload="{}", key=None, not_before=T0, attempts=1, owner="o",
                    claim=work.claim, claimed_at=T0, lease_until=at(10))
        assert store.ack(fake) is False and store.retry(fake, not_before=T0) is False
    assert store.ack(Work(queue="q", id=work.id, payload="{}", key=None, not_before=T0, attempts=1, owner="w1",
                          claim="not the token", claimed_at=T0, lease_until=at(10))) is False
    assert store.ack(work)


def test_times_come_back_in_utc_whatever_zone_they_went_in(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    store.enqueue("q", "{}", not_before=datetime(2024, 1, 1, 2, 0, 0, 1, tzinfo=paris))
    [work] = store.claim("q", now=datetime(2024, 1, 1, 2, 0, 5, tzinfo=paris), limit=1, lease=LEASE, owner="o")
    assert work.not_before == datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert work.not_before.tzinfo is UTC and work.claimed_at.tzinfo is UTC and work.lease_until.tzinfo is UTC
    assert work.lease_until == at(15)
    old = datetime(1900, 1, 1, tzinfo=UTC)  # (before the epoch: negative microseconds)
    store.put_schedule("s", old, "{}")
    assert store.next_schedule_due() == old


def test_a_closed_store_says_so(store: Store) -> None:
    store.close()
    store.close()  # (twice: nothing to do)
    with pytest.raises(ValidationError, match="The work store .*is closed"):
        store.enqueue("q", "{}", not_before=T0)
    with pytest.raises(ValidationError, match="is closed"):
        store.next_due()
    with pytest.raises(ValidationError, match="is closed"):
        store.schedules()
    with pytest.raises(ValidationError, match="is closed"):
        store.enqueue_many([])
    with pytest.raises(ValidationError, match="is closed"):
        store.items("q")
    with pytest.raises(ValidationError, match="is closed"):
        store.remove("q", "1", at=T0)
    with pytest.raises(ValidationError, match="is closed"):
        store.remove("q", "not an id", at=T0)
    with pytest.raises(ValidationError, match="is closed"):
        store.purge("q", at=T0)


def test_threads_claiming_together_never_share_an_item(store: Store) -> None:
    total = 400
    store.enqueue_many([follow(f"p{n}", queue="q") for n in range(total)])
    got: list[list[str]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def worker(k: int) -> None:
        barrier.wait()
        while works := claim(store, 1, limit=7, owner=f"w{k}", lease=timedelta(hours=1)):
            for work in works:
                assert store.ack(work)
                got[k].append(work.payload)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [p for part in got for p in part]
    assert sorted(everything) == sorted(f"p{n}" for n in range(total))
    assert store.counts("q") == {"ready": 0, "leased": 0, "dead": 0}


# -- the sqlite store alone


def test_a_reopened_sqlite_file_holds_everything_committed(tmp_path: Path) -> None:
    path = tmp_path / "work.db"
    first = SqliteStore(path, key_retention=60)
    first.enqueue("q", "held", not_before=T0, key="k1")
    first.enqueue("q", "waiting", not_before=at(30), key="k2")
    first.enqueue("q", "dead", not_before=T0)
    held, dead = claim(first, 0, limit=2)
    assert first.dead_letter(dead, reason="poison")
    first.put_schedule("s", at(90), '{"x": 1}')
    [fire] = first.claim_due_schedules(now=at(90), lease=LEASE, owner="a", limit=1)
    # (no close: as if the process were killed)
    second = SqliteStore(path, key_retention=60)
    assert second.counts("q") == {"ready": 1, "leased": 1, "dead": 1}
    assert second.items("q") == first.items("q") == [
        StoredItem(queue="q", id=held.id, payload="held", key="k1", not_before=T0, attempts=1, owner="w1",
                   lease_until=at(10)),
        StoredItem(queue="q", id=second.items("q")[1].id, payload="waiting", key="k2", not_before=at(30),
                   attempts=0)]
    assert second.enqueue("q", "dup", not_before=T0, key="k1") is None
    assert second.ack(held)  # a claim made before the restart is still honoured
    assert second.next_due("q") == at(30)
    assert [d.reason for d in second.dead_letters("q")] == ["poison"]
    assert second.schedule_fired(fire, next_fire=at(180))
    assert second.get_schedule("s") == StoredSchedule(name="s", next_fire=at(180), data='{"x": 1}')
    first.close()
    second.close()


def test_the_sqlite_store_is_in_wal_mode_and_claims_through_its_index(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "w.db") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        plans = [row[3] for row in store._db.execute(
            "EXPLAIN QUERY PLAN " + sqlite_module._CLAIM,
            {"queue": "q", "now": 0, "until": 1, "owner": "o", "limit": 5})]
        assert "SEARCH work USING COVERING INDEX work_due (queue=? AND due<?)" in plans
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    with SqliteStore(tmp_path / "f.db", synchronous="FULL", busy_timeout=0.25) as store:
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (250,)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"path": 5}, "Invalid type for parameter path, value: 5"),
    ({"synchronous": "OFF"}, "synchronous must be 'NORMAL' or 'FULL', not 'OFF'"),
    ({"busy_timeout": -1}, "Value '-1' at 'busy_timeout' failed to satisfy constraint"),
    ({"key_retention": float("nan")}, "Value 'nan' at 'key_retention'"),
    ({"path": "/nonexistent-dir/x/work.db"}, "Cannot open the work store '/nonexistent-dir/x/work.db': "
                                             "unable to open database file"),
])
def test_the_sqlite_store_refuses_bad_settings(tmp_path: Path, kwargs: dict[str, Any], text: str) -> None:
    args: dict[str, Any] = {"path": tmp_path / "s.db", **kwargs}
    with pytest.raises(ValidationError) as raised:
        SqliteStore(args.pop("path"), **args)
    assert text in str(raised.value)


def test_an_sqlite_without_update_returning_is_refused_clearly(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    with pytest.raises(EventBusError) as raised:
        SqliteStore(tmp_path / "w.db")
    assert str(raised.value) == ("SqliteStore needs SQLite 3.35 or later (for UPDATE ... RETURNING); this "
                                 "Python's sqlite3 module runs SQLite 3.34.1")
    assert not (tmp_path / "w.db").exists()
    sqlite_module.check_sqlite_version((3, 35, 0))  # (the first that has it)


def test_a_file_from_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "w.db").close()
    db = sqlite3.connect(tmp_path / "w.db")
    db.execute("PRAGMA user_version = 2")
    db.close()
    with pytest.raises(ValidationError, match=r"its schema \(version 2\) is newer than this eventbus's \(1\)"):
        SqliteStore(tmp_path / "w.db")


def test_a_transaction_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    """A follow-up that the database refuses (here a trigger) undoes the whole ack:
    the item stays held, its key stays live, no follow-up is kept."""
    with SqliteStore(tmp_path / "w.db", key_retention=0) as store:
        store.enqueue("q", "job", not_before=T0, key="k")
        [work] = claim(store, 0)
        store._db.execute("CREATE TEMP TRIGGER refuse BEFORE INSERT ON work WHEN NEW.payload = 'boom' "
                          "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            store.ack(work, then=[follow("kept?", queue="dest"), follow("boom", queue="dest")])
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            store.dead_letter(work, reason="x", then=[follow("boom", queue="dest")])
        assert not store._db.in_transaction
        assert store.counts("q") == {"ready": 0, "leased": 1, "dead": 0}
        assert store.counts("dest") == {"ready": 0, "leased": 0, "dead": 0}
        assert store.sweep(at(0)) == 0  # the key was not released to retention
        store._db.execute("DROP TRIGGER refuse")
        assert store.ack(work, then=[follow("kept", queue="dest")])
        assert payloads(claim(store, 0, queue="dest")) == ["kept"]


def test_ack_many_settles_a_claimed_batch_as_acks_one_by_one_would(store: Store) -> None:
    for n in range(4):
        store.enqueue("q", f'{{"n": {n}}}', not_before=at(0), key=f"k{n}")
    first, second, third, fourth = claim(store, 1)
    assert store.retry(third, not_before=at(0))  # its claim is stale now
    assert store.ack_many([first, second, third, first]) == [True, True, False, False]
    assert store.counts("q") == {"ready": 1, "leased": 1, "dead": 0}
    assert store.enqueue("q", "{}", not_before=at(0), key="k0") is None  # the ended items' keys are retained
    assert store.ack_many([]) == []
    with pytest.raises(ValidationError, match="works"):
        store.ack_many(iter([fourth]))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="work"):
        store.ack_many([fourth, "not work"])  # type: ignore[list-item]
    assert store.counts("q")["leased"] == 1  # a refused call ends nothing


# -- the NATS store alone


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until ``check()`` holds: another store's change reaches this one's index
    in the time of a round trip to the server."""
    import time  # (real time: the server's updates travel in it)

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "another store's change did not arrive"
        time.sleep(0.005)


def test_two_nats_stores_on_one_prefix_share_items_and_claims(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    with NatsStore(prefix=prefix) as one, NatsStore(prefix=prefix) as two:
        first = one.enqueue("q", "from one", not_before=T0, key="k")
        assert first is not None
        # two's index may not know the key yet: the key's compare-and-set decides, and the item goes back
        assert two.enqueue("q", "dup", not_before=T0, key="k") is None
        eventually(lambda: two.counts("q")["ready"] >= 1)
        assert two.enqueue("q", "from two", not_before=at(1)) is not None
        eventually(lambda: len(one.items("q")) == 2)
        assert [i.payload for i in one.items("q")] == [i.payload for i in two.items("q")] == ["from one", "from two"]
        assert two.enqueue("q", "again", not_before=T0, key="k") is None  # the key is shared too
        [held] = claim(one, 0, owner="one")
        assert claim(two, 0, owner="two") == []  # held by one (the other item is due at 1)
        assert payloads(claim(two, 5, owner="two")) == ["from two"]
        assert claim(two, 9.999, owner="two") == []  # one's lease runs until 10
        [taken] = claim(two, 10, owner="two")
        assert (taken.id, taken.attempts, taken.owner) == (held.id, 2, "two")
        assert one.ack(held) is False  # taken over: one's claim is stale, in one's store too
        assert two.ack(taken)
        eventually(lambda: one.counts("q") == {"ready": 0, "leased": 1, "dead": 0})


def test_two_nats_stores_on_one_prefix_share_configuration(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    with NatsStore(prefix=prefix) as one, NatsStore(prefix=prefix) as two:
        before, after = one.write_config({"rule|a": "1", "rule|b": "2"})
        assert after == before + 2  # (two revisions in a row: nothing came between them)
        eventually(lambda: two.configs() == {"rule|a": "1", "rule|b": "2"} and two.config_version() == after)
        _, again = two.write_config({"rule|a": "3"})
        eventually(lambda: one.configs()["rule|a"] == "3" and one.config_version() == again)
        one.write_config({"rule|a": None})
        eventually(lambda: two.configs() == {"rule|b": "2"})
        with NatsStore(prefix=prefix) as three:  # (opened later: it finds what is there)
            assert three.configs() == {"rule|b": "2"}
            seen = three.config_version()
            one.write_config({"rule|c": "4"})
            eventually(lambda: three.configs() == {"rule|b": "2", "rule|c": "4"} and three.config_version() > seen)


def test_two_nats_stores_claiming_at_once_never_share_an_item(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    total = 200
    with NatsStore(prefix=prefix) as one, NatsStore(prefix=prefix) as two:
        one.enqueue_many([follow(f"p{n}", queue="q") for n in range(total)])
        eventually(lambda: two.counts("q")["ready"] == total)
        got: list[list[str]] = [[], []]
        barrier = threading.Barrier(2)

        def worker(k: int, store: Store) -> None:
            barrier.wait()
            while works := claim(store, 1, limit=9, owner=f"w{k}", lease=timedelta(hours=1)):
                for work in works:
                    assert store.ack(work)
                    got[k].append(work.payload)

        threads = [threading.Thread(target=worker, args=(k, store)) for k, store in enumerate((one, two))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        everything = got[0] + got[1]
        assert sorted(everything) == sorted(f"p{n}" for n in range(total))  # each once
        assert one.counts("q") == {"ready": 0, "leased": 0, "dead": 0}


def test_a_reopened_nats_prefix_holds_everything_written(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    first = NatsStore(prefix=prefix, key_retention=60)
    first.enqueue("q", "held", not_before=T0, key="k1")
    first.enqueue("q", "waiting", not_before=at(30), key="k2")
    first.enqueue("q", "dead", not_before=T0)
    held, dead = claim(first, 0, limit=2)
    assert first.dead_letter(dead, reason="poison")
    first.put_schedule("s", at(90), '{"x": 1}')
    [fire] = first.claim_due_schedules(now=at(90), lease=LEASE, owner="a", limit=1)
    # (no close: as if the process were killed)
    second = NatsStore(prefix=prefix, key_retention=60)
    try:
        assert second.counts("q") == {"ready": 1, "leased": 1, "dead": 1}
        assert second.items("q") == first.items("q") == [
            StoredItem(queue="q", id=held.id, payload="held", key="k1", not_before=T0, attempts=1, owner="w1",
                       lease_until=at(10)),
            StoredItem(queue="q", id=second.items("q")[1].id, payload="waiting", key="k2", not_before=at(30),
                       attempts=0)]
        assert second.enqueue("q", "dup", not_before=T0, key="k1") is None
        assert second.ack(held)  # a claim made before the restart is still honoured
        assert second.next_due("q") == at(30)
        assert [d.reason for d in second.dead_letters("q")] == ["poison"]
        assert second.schedule_fired(fire, next_fire=at(180))
        assert second.get_schedule("s") == StoredSchedule(name="s", next_fire=at(180), data='{"x": 1}')
        assert int(second.enqueue("q", "new", not_before=T0) or 0) > int(held.id)  # ids go on, never reused
    finally:
        first.close()
        second.close()


def test_the_nats_store_purges_its_delete_markers_ten_minutes_later(nats_prefixes: list[str]) -> None:
    """Each ended record leaves a delete marker in its KV bucket: without the purge,
    the bucket would grow by one message per delivery for ever.  A marker goes
    once a sweep noted it ten minutes (of the callers' time) before."""

    nats_prefixes.append(prefix := fresh_prefix())
    store = NatsStore(prefix=prefix, key_retention=0)
    try:
        for n in range(20):
            store.enqueue("q", f"p{n}", not_before=T0, key=f"k{n}")
        for work in claim(store, 0, limit=20):
            assert store.ack(work)

        def messages(bucket: str) -> int:
            async def read() -> int:
                info = await store._js.stream_info(f"KV_{prefix}-{bucket}")
                return int(info.state.messages)
            return store._run(read())

        assert messages("work") == 20  # (the markers)
        store.sweep(at(1))  # forgets the keys; notes their markers and the items'
        store.sweep(at(600))
        assert (messages("work"), messages("keys")) == (20, 20)  # (not yet ten minutes)
        store.sweep(at(601))  # purges them
        assert (messages("work"), messages("keys")) == (0, 0)
        assert store.enqueue("q", "again", not_before=T0, key="k1") is not None  # (a key written again stays)
        store.sweep(at(1300))
        store.sweep(at(2000))
        assert messages("keys") == 1 and store.counts("q")["ready"] == 1
    finally:
        store.close()


def test_a_nats_store_whose_watcher_stops_watches_again_and_catches_up(nats_prefixes: list[str]) -> None:
    import time

    nats_prefixes.append(prefix := fresh_prefix())
    watching, other = NatsStore(prefix=prefix), NatsStore(prefix=prefix)
    try:
        watching.enqueue("q", "first", not_before=T0)

        async def stop_the_work_watcher() -> None:
            await watching._watchers[0].stop()  # (the work bucket's: as if its subscription died)

        watching._run(stop_the_work_watcher())
        [work] = claim(other, 0)
        assert other.ack(work)
        other.enqueue("q", "second", not_before=T0)
        deadline = time.monotonic() + 10
        while [i.payload for i in watching.items("q")] != ["second"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [i.payload for i in watching.items("q")] == ["second"]  # ("first" gone, "second" seen)
    finally:
        watching.close()
        other.close()


def test_a_nats_store_refuses_names_longer_than_a_subject_holds_and_goes_on(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    store = NatsStore(prefix=prefix)
    try:
        with pytest.raises(ValidationError, match="at most 1,500 bytes of UTF-8, not 3,100"):
            store.enqueue("q" * 3100, "p", not_before=T0)
        assert store.enqueue("q", "p", not_before=T0) is not None  # (the connection is still there)
        assert store.enqueue("q" * 1500, "é" * 300_000, not_before=T0) is not None  # (600 KB of UTF-8, as it is)
        with pytest.raises(EventBusError, match="larger than the server's max_payload"):
            store.enqueue("q", "x" * 1_100_000, not_before=T0)
    finally:
        store.close()


def test_queue_names_keys_and_schedule_names_may_be_any_text(nats_prefixes: list[str]) -> None:
    nats_prefixes.append(prefix := fresh_prefix())
    odd = ["events:arn:aws:events:us-east-1:123:event-bus/a.b", "a b.>*", "ünïcødé/🙂", "q", "Q"]
    with NatsStore(prefix=prefix) as store:
        for name in odd:
            assert store.enqueue(name, name, not_before=T0, key=name) is not None
            store.put_schedule(name, T0, name)
        for name in odd:
            assert [i.payload for i in store.items(name)] == [name]
            assert store.enqueue(name, "dup", not_before=T0, key=name) is None
        assert [s.name for s in store.schedules()] == sorted(odd)


@pytest.mark.parametrize(("kwargs", "text"), [
    ({"prefix": "a.b"}, "Value 'a.b' at 'prefix' failed to satisfy constraint: Member must satisfy regular "
                        "expression pattern: [A-Za-z0-9_-]{1,64}"),
    ({"prefix": ""}, "Value '' at 'prefix'"),
    ({"prefix": 5}, "Invalid type for parameter prefix, value: 5"),
    ({"servers": "127.0.0.1:4222"}, "Value '127.0.0.1:4222' at 'servers' failed to satisfy constraint: Member "
                                    "must be a NATS URL such as nats://127.0.0.1:4222"),
    ({"servers": []}, "Invalid type for parameter servers"),
    ({"timeout": 0}, "Value '0' at 'timeout' failed to satisfy constraint"),
    ({"replicas": 0}, "Value '0' at 'replicas' failed to satisfy constraint: Member must have value between 1 "
                      "and 5"),
    ({"replicas": 1.0}, "Invalid type for parameter replicas, value: 1.0"),
    ({"key_retention": -1}, "Value '-1' at 'key_retention'"),
])
def test_the_nats_store_refuses_bad_settings(kwargs: dict[str, Any], text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        NatsStore(**kwargs)
    assert text in str(raised.value)


def test_a_nats_server_that_does_not_answer_fails_fast_and_says_how_to_start_one() -> None:
    import time

    with socket.socket() as closed:  # (a port nobody listens on)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(EventBusError) as raised:
        NatsStore(f"nats://127.0.0.1:{port}", timeout=0.5)
    assert time.monotonic() - started < 5
    assert str(raised.value).startswith(f"Cannot connect to NATS JetStream at nats://127.0.0.1:{port}: no answer "
                                        "within 0.5 s")
    assert "Start a server with JetStream on (`nats-server -js`)" in str(raised.value)


def test_without_nats_py_the_nats_store_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "nats", None)  # (import nats raises ImportError)
    with pytest.raises(EventBusError) as raised:
        NatsStore(prefix="never-made")
    assert str(raised.value) == 'NatsStore needs the nats-py package: pip install "eventbus[nats]"'
