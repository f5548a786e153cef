"""The QueueStore protocol: one contract, run against every store (the in-memory
store, and the adapter over each work store), and the in-memory store and the
adapter each checked against a plain reference (a list scanned from the start
every time)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventbus import MemoryQueueStore, QueueStore, StoredMessage
from eventbus._delivery._store import WorkQueueStore
from eventbus._store import MemoryStore, SqliteStore, Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STORES = ["MemoryQueueStore", "WorkQueueStore-MemoryStore", "WorkQueueStore-SqliteStore"]


def message(n: int) -> StoredMessage:
    return StoredMessage(f"m{n}", f"body {n}", {"n": str(n)}, T0)


def handles() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"h{next(counter)}"


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueStore]:
    work: Store | None = None
    if request.param == "MemoryQueueStore":
        made: QueueStore = MemoryQueueStore()
    else:
        work = MemoryStore() if request.param.endswith("MemoryStore") else SqliteStore(tmp_path / "q.db")
        made = WorkQueueStore(work, "sqs:arn:aws:sqs:us-east-1:123456789012:q")
    assert isinstance(made, QueueStore)
    yield made
    if work is not None:
        work.close()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def hidden_until(m: StoredMessage, now: datetime) -> datetime | None:
    """When a message becomes visible, ``None`` if it is visible at ``now`` (a store
    may keep a past time or ``None`` for a visible message)."""
    return None if m.visible_at is None or m.visible_at <= now else m.visible_at


def test_claim_hands_out_the_oldest_visible_copies_and_hides_them(store: QueueStore) -> None:
    for n in range(3):
        store.add(message(n))
    claimed, redrive = store.claim(at(0), 2, at(30), handles(), None)
    assert [m.message_id for m in claimed] == ["m0", "m1"] and redrive == []
    assert [(m.receive_count, m.received_at, m.visible_at, m.receipt_handle) for m in claimed] == [
        (1, at(0), at(30), "h0"), (1, at(0), at(30), "h1")]
    claimed[0].attributes["n"] = "changed"  # type: ignore[index]  # a copy
    assert store.snapshot()[0].attributes == {"n": "0"}
    assert [m.message_id for m in store.claim(at(10), 10, at(40), handles(), None)[0]] == ["m2"]
    assert store.claim(at(29), 10, at(60), handles(), None) == ([], [])
    assert [m.message_id for m in store.claim(at(30), 10, at(60), handles(), None)[0]] == ["m0", "m1"]
    assert len(store) == 3


def test_delete_needs_the_latest_handle_unless_none_is_given(store: QueueStore) -> None:
    store.add(message(0))
    [first] = store.claim(at(0), 1, at(1), handles(), None)[0]
    [again] = store.claim(at(1), 1, at(2), lambda: "newer", None)[0]
    store.add(message(1))
    assert not store.delete("m0", first.receipt_handle)
    assert store.delete("m0", again.receipt_handle)  # (its visibility ran out, but nobody received it since)
    assert not store.delete("m0", None)
    assert not store.delete("m0", again.receipt_handle)
    assert store.delete("m1", None) and len(store) == 0  # (never received: by id)
    assert not store.delete("never held", None)


def test_hide_changes_visibility_for_the_current_holder_only(store: QueueStore) -> None:
    store.add(message(0))
    new_handle = handles()
    [held] = store.claim(at(0), 1, at(30), new_handle, None)[0]
    assert not store.hide("m0", "stale", at(5), at(0))
    assert store.hide("m0", held.receipt_handle, at(5), at(0))
    assert store.claim(at(4), 1, at(10), new_handle, None) == ([], [])
    [again] = store.claim(at(5), 1, at(10), new_handle, None)[0]
    assert again.receive_count == 2
    assert not store.hide("m0", held.receipt_handle, at(50), at(5))  # (received again since)
    assert not store.hide("gone", "h", at(1), at(0))


def test_a_message_visible_again_cannot_be_hidden_with_its_old_handle(store: QueueStore) -> None:
    """SQS: once its visibility ran out, a message is no longer in flight under that
    receipt (MessageNotInflight); changing its visibility must not hide it again."""
    store.add(message(0))
    new_handle = handles()
    [held] = store.claim(at(0), 1, at(10), new_handle, None)[0]
    assert store.hide("m0", held.receipt_handle, at(20), at(9.999999))  # (in flight until 20)
    assert not store.hide("m0", held.receipt_handle, at(60), at(20))  # ran out at 20: visible again
    assert not store.hide("m0", held.receipt_handle, at(60), at(30))  # (and later too)
    assert [hidden_until(m, at(30)) for m in store.snapshot()] == [None]
    [again] = store.claim(at(30), 1, at(40), new_handle, None)[0]  # still visible: the refused hides did nothing
    assert again.receive_count == 2
    assert store.hide("m0", again.receipt_handle, at(30), at(30))  # visibility 0: visible at once ...
    assert not store.hide("m0", again.receipt_handle, at(90), at(30))  # ... and so no longer in flight
    assert [m.receive_count for m in store.claim(at(30), 1, at(40), new_handle, None)[0]] == [3]


def test_a_receive_with_no_visibility_leaves_the_message_visible(store: QueueStore) -> None:
    store.add(message(0))
    store.add(message(1))
    new_handle = handles()
    first = store.claim(at(5), 10, at(5), new_handle, None)[0]
    assert [(m.message_id, m.receive_count, m.visible_at) for m in first] == [("m0", 1, at(5)), ("m1", 1, at(5))]
    assert [hidden_until(m, at(5)) for m in store.snapshot()] == [None, None]
    again = store.claim(at(5), 10, at(6), new_handle, None)[0]  # (the same instant: received again)
    assert [(m.message_id, m.receive_count) for m in again] == [("m0", 2), ("m1", 2)]
    assert not store.delete("m0", first[0].receipt_handle) and store.delete("m0", again[0].receipt_handle)


def test_redrive_candidates_are_hidden_until_released_or_deleted(store: QueueStore) -> None:
    store.add(message(0))
    store.add(message(1))
    held = store.claim(at(0), 10, at(1), handles(), None)[0]
    claimed, redrive = store.claim(at(1), 10, at(2), handles(), 1)
    assert claimed == [] and [m.message_id for m in redrive] == ["m0", "m1"]
    assert [m.receive_count for m in redrive] == [1, 1]
    assert store.claim(at(5), 10, at(6), handles(), 1) == ([], [])  # hidden while moving
    assert not store.hide("m0", held[0].receipt_handle, at(30), at(1))  # nobody holds a message being moved
    assert not store.delete("m0", held[0].receipt_handle)  # (nor deletes it with its last handle)
    store.release("m0")
    assert store.delete("m1", None)
    assert [m.receive_count for m in store.snapshot()] == [1]  # (the failed move did not count as a receive)
    assert [m.message_id for m in store.claim(at(5), 10, at(6), handles(), 1)[1]] == ["m0"]
    store.release("m0")
    [received] = store.claim(at(5), 10, at(6), handles(), None)[0]  # (no redrive policy: received)
    assert received.receive_count == 2


def test_snapshots_show_when_each_message_is_visible(store: QueueStore) -> None:
    for n in range(3):
        store.add(message(n))
    first, second, third = store.claim(at(0), 3, at(10), handles(), None)[0]
    assert store.hide("m1", second.receipt_handle, at(20), at(0))
    store.claim(at(10), 1, at(40), handles(), None)  # m0 again; m2's time ran out: visible, unclaimed
    assert [hidden_until(m, at(10)) for m in store.snapshot()] == [at(40), at(20), None]
    assert [(m.receive_count, m.received_at) for m in store.snapshot()] == [(2, at(10)), (1, at(0)), (1, at(0))]
    store.claim(at(40), 1, at(50), handles(), 1)  # every message (received once or more) is due to move
    store.release("m0")
    assert hidden_until(store.snapshot()[0], at(40)) is None
    assert [hidden_until(m, at(40)) is None for m in store.snapshot()] == [True, False, False]  # (moving)


def test_sweeping_stale_entries_keeps_the_live_ones(store: QueueStore) -> None:
    for n in range(10):
        store.add(message(n))
    held = store.claim(at(0), 10, at(30), handles(), None)[0]
    for m in held:  # 200 stale entries for 10 live messages: the next call sweeps them
        for k in range(20):
            assert store.hide(m.message_id, m.receipt_handle, at(31 + k), at(0))
    again = store.claim(at(60), 10, at(90), handles(), None)[0]
    assert sorted(m.message_id for m in again) == [f"m{n}" for n in range(10)]
    for n in range(10, 410):
        store.add(message(n))
    assert len(store.claim(at(100), 1000, at(101), handles(), None)[0]) == 410
    assert [m.message_id for m in store.claim(at(101), 1, at(200), handles(), None)[0]] == ["m0"]  # the rest wait
    for n in range(60, 410):
        store.delete(f"m{n}", None)  # most of those waiting to be received again are now stale
    rest = [m.message_id for m in store.claim(at(101), 1000, at(300), handles(), None)[0]]
    assert rest == [f"m{n}" for n in range(1, 60)]


def test_clear_and_snapshot(store: QueueStore) -> None:
    for n in range(3):
        store.add(message(n))
    store.claim(at(0), 1, at(9), handles(), None)
    assert [m.message_id for m in store.snapshot()] == ["m0", "m1", "m2"]
    assert store.clear() == 3 and len(store) == 0 and store.snapshot() == []
    assert store.claim(at(10), 10, at(20), handles(), None) == ([], [])


# -- the in-memory store against a plain reference -------------------------------------------


class ListStore:
    """The reference: a list in send order, scanned from the start on every claim.
    ``by_send``: visible messages go out in send order (the memory store's
    order); else in the order they became visible, ties in send order (a work
    store's)."""

    def __init__(self, *, by_send: bool = True) -> None:
        self.items: list[StoredMessage] = []
        self.moving: dict[str, datetime] = {}  # message id -> when its move began
        self.by_send = by_send
        self.since: dict[str, datetime] = {}  # message id -> when it became (or becomes) visible

    def __len__(self) -> int:
        return len(self.items)

    def add(self, m: StoredMessage) -> None:
        self.items.append(m)
        self.since[m.message_id] = m.sent_at

    def claim(self, now: datetime, limit: int, hide_until: datetime, new_handle: Callable[[], str],
              redrive_after: int | None) -> tuple[list[StoredMessage], list[StoredMessage]]:
        claimed: list[StoredMessage] = []
        redrive: list[StoredMessage] = []
        visible = [m for m in self.items
                   if m.message_id not in self.moving and (m.visible_at is None or m.visible_at <= now)]
        if not self.by_send:
            visible.sort(key=lambda m: self.since[m.message_id])  # (stable: ties stay in send order)
        for m in visible:
            if len(claimed) == limit:
                break
            if redrive_after is not None and m.receive_count >= redrive_after:
                self.moving[m.message_id] = now
                m.receipt_handle = ""
                redrive.append(replace(m, attributes=dict(m.attributes or {})))
                continue
            m.receive_count += 1
            m.visible_at, m.received_at, m.receipt_handle = hide_until, now, new_handle()
            self.since[m.message_id] = hide_until
            claimed.append(replace(m, attributes=dict(m.attributes or {})))
        return claimed, redrive

    def delete(self, message_id: str, receipt_handle: str | None) -> bool:
        for m in self.items:
            if m.message_id == message_id and (receipt_handle is None or m.receipt_handle == receipt_handle):
                self.items.remove(m)
                self.moving.pop(message_id, None)
                return True
        return False

    def hide(self, message_id: str, receipt_handle: str, until: datetime, now: datetime) -> bool:
        for m in self.items:
            if m.message_id == message_id and m.receipt_handle == receipt_handle and message_id not in self.moving \
                    and m.visible_at is not None and m.visible_at > now:
                m.visible_at = until
                self.since[message_id] = until
                return True
        return False

    def release(self, message_id: str) -> None:
        for m in self.items:
            if m.message_id == message_id and message_id in self.moving:
                self.since[message_id] = self.moving.pop(message_id)
                m.visible_at = None


def view(messages: list[StoredMessage]) -> list[tuple[object, ...]]:
    return [(m.message_id, m.body, m.attributes, m.receive_count, m.receipt_handle, m.received_at) for m in messages]


class StoreAgainstReference(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fast, self.slow = self.stores()
        self.now = 0.0
        self.sent = 0
        self.handles: list[tuple[str, str]] = []  # (message id, handle) ever handed out
        self.counter = itertools.count()

    @rule(count=st.integers(1, 4))
    def add(self, count: int) -> None:
        for _ in range(count):
            self.fast.add(message(self.sent))
            self.slow.add(message(self.sent))
            self.sent += 1

    @rule(seconds=st.sampled_from([0, 1, 5, 30]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule(limit=st.integers(1, 10), timeout=st.sampled_from([0, 1, 10, 60]),
          redrive=st.sampled_from([None, None, 1, 2, 3]))
    def claim(self, limit: int, timeout: float, redrive: int | None) -> None:
        numbers = list(itertools.islice(self.counter, 100))  # both stores get the same handles
        fast = self.fast.claim(at(self.now), limit, at(self.now + timeout), iter(f"h{n}" for n in numbers).__next__,
                               redrive)
        slow = self.slow.claim(at(self.now), limit, at(self.now + timeout), iter(f"h{n}" for n in numbers).__next__,
                               redrive)
        assert view(fast[0]) == view(slow[0])
        assert [m.message_id for m in fast[1]] == [m.message_id for m in slow[1]]
        self.handles += [(m.message_id, m.receipt_handle) for m in fast[0]]
        event(f"claim: {min(len(fast[0]), 2)}{'+' if len(fast[0]) >= 2 else ''} received, "
              f"{'some' if fast[1] else 'none'} to move")
        for moved in fast[1]:  # the queue moves them, or fails to: both happen
            if int(moved.message_id[1:]) % 2:
                assert self.fast.delete(moved.message_id, None) == self.slow.delete(moved.message_id, None)
            else:
                self.fast.release(moved.message_id)
                self.slow.release(moved.message_id)

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), with_handle=st.booleans())
    def delete(self, data: st.DataObject, with_handle: bool) -> None:
        message_id, handle = data.draw(st.sampled_from(self.handles))
        given = handle if with_handle else None
        got = self.fast.delete(message_id, given)
        assert got == self.slow.delete(message_id, given)
        event(f"delete {'with a handle' if with_handle else 'by id'}: {'deleted' if got else 'refused'}")

    @precondition(lambda self: self.handles)
    @rule(data=st.data(), seconds=st.sampled_from([0, 2, 20]))
    def hide(self, data: st.DataObject, seconds: float) -> None:
        message_id, handle = data.draw(st.sampled_from(self.handles))
        until, now = at(self.now + seconds), at(self.now)
        latest = [m for m in self.slow.items if m.message_id == message_id and m.receipt_handle == handle]
        got = self.fast.hide(message_id, handle, until, now)
        assert got == self.slow.hide(message_id, handle, until, now)
        event("hide: " + ("changed" if got else "refused: visible again" if latest else "refused: stale or gone"))

    @invariant()
    def same_messages(self) -> None:
        assert len(self.fast) == len(self.slow)
        now = at(self.now)
        assert [(m.message_id, m.receive_count, hidden_until(m, now) is None) for m in self.fast.snapshot()] == [
            (m.message_id, m.receive_count, m.message_id not in self.slow.moving and hidden_until(m, now) is None)
            for m in self.slow.items]

    def stores(self) -> tuple[QueueStore, ListStore]:
        return MemoryQueueStore(), ListStore()


class WorkStoreAgainstReference(StoreAgainstReference):
    def stores(self) -> tuple[QueueStore, ListStore]:
        return WorkQueueStore(MemoryStore(), "q"), ListStore(by_send=False)


TestStoreAgainstReference = StoreAgainstReference.TestCase
# cheap enough to search hard in every profile (mutmut's too): 200 runs of up to 50 steps
TestStoreAgainstReference.settings = settings(TestStoreAgainstReference.settings, max_examples=200)
TestWorkStoreAgainstReference = WorkStoreAgainstReference.TestCase
TestWorkStoreAgainstReference.settings = settings(TestWorkStoreAgainstReference.settings, max_examples=100)
