"""A Queue on a work store: its messages, receive counts, visibility and redrive
outlive the process (a sqlite file opened again finds them); and, on every
store, a message whose visibility ran out is not hidden again by its old
receipt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventbus import ManualClock, MemoryQueueStore, Queue, ValidationError
from eventbus._delivery._store import WorkQueueStore
from eventbus._store import MemoryStore, SqliteStore, Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ARN = "arn:aws:sqs:us-east-1:123456789012"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["MemoryQueueStore", "MemoryStore", "SqliteStore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryQueueStore | Store]:
    """What a queue is given to keep its messages in."""
    if request.param == "MemoryQueueStore":
        yield MemoryQueueStore()
        return
    work: Store = MemoryStore() if request.param == "MemoryStore" else SqliteStore(tmp_path / "q.db")
    yield work
    work.close()


# -- one store= parameter ------------------------------------------------------------------


def test_a_queue_given_a_work_store_keeps_each_message_as_an_item_of_its_own_queue() -> None:
    work = MemoryStore()
    clock = ManualClock()
    orders = Queue("orders", clock=clock, store=work)
    other = Queue("other", clock=clock, store=work)
    assert isinstance(orders.store, WorkQueueStore)
    assert (orders.store.store, orders.store.queue) == (work, f"sqs:{ARN}:orders")
    sent = orders.send({"n": 1}, {"source": "shop"})
    other.send("elsewhere")
    [item] = work.items(f"sqs:{ARN}:orders")
    assert item.not_before == T0 and item.attempts == 0
    assert [m.body for m in other.messages()] == ["elsewhere"]
    [message] = orders.receive()
    assert (message.message_id, message.body, message.attributes, message.sent_at) == (
        sent, '{"n":1}', {"source": "shop"}, T0)
    assert work.items(f"sqs:{ARN}:orders")[0].lease_until == at(30)
    assert orders.delete(message) and len(orders) == 0 and len(other) == 1
    assert repr(orders.store).startswith(f"<WorkQueueStore 'sqs:{ARN}:orders' on <MemoryStore")


def test_a_queue_store_is_used_as_given() -> None:
    given = MemoryQueueStore()
    assert Queue(clock=ManualClock(), store=given).store is given
    with pytest.raises(ValidationError, match="valid types: an eventbus store"):
        WorkQueueStore(given, "q")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="queue must not be empty"):
        WorkQueueStore(MemoryStore(), "")


# -- the restart ------------------------------------------------------------------------------


def test_a_queue_opened_again_on_the_same_file_finds_its_messages_counts_visibility_and_redrive(
        tmp_path: Path) -> None:
    path = tmp_path / "queues.db"
    first = SqliteStore(path)
    clock = ManualClock()
    dlq = Queue("orders-dlq", clock=clock, store=first)
    orders = Queue("orders", clock=clock, store=first, visibility_timeout=30, dead_letter_queue=dlq,
                   max_receive_count=2)
    a = orders.send("a", {"k": "v"})
    b = orders.send("b")
    [got_a] = orders.receive()
    [got_b] = orders.receive(visibility_timeout=100)
    orders.change_visibility(got_a, 60)
    clock.advance(60)
    [got_a] = orders.receive()  # a again (hidden until 90)
    assert (got_a.message_id, got_a.receive_count, got_b.message_id) == (a, 2, b)
    c = orders.send("c")
    # the process dies here: its store is not closed

    second = SqliteStore(path)
    clock = ManualClock(T0 + timedelta(seconds=60))
    dlq = Queue("orders-dlq", clock=clock, store=second)
    orders = Queue("orders", clock=clock, store=second, visibility_timeout=30, dead_letter_queue=dlq,
                   max_receive_count=2)
    assert [(m.message_id, m.body, m.attributes, m.receive_count, m.sent_at) for m in orders.messages()] == [
        (a, "a", {"k": "v"}, 2, T0), (b, "b", {}, 1, T0), (c, "c", {}, 0, at(60))]
    assert [(m.visible_at, m.receipt_handle) for m in orders.store.snapshot()] == [
        (at(90), ""), (at(100), ""), (None, "")]
    assert len(orders) == 3
    assert not orders.delete(got_a)  # a receipt from before the restart is stale ...
    with pytest.raises(ValidationError, match="ReceiptHandle is invalid"):
        orders.change_visibility(got_a, 5)  # ... and changes nothing
    [got_c] = orders.receive(10)  # a and b are still hidden
    assert (got_c.message_id, got_c.receive_count) == (c, 1)
    clock.advance(30)
    [got_c] = orders.receive(10)  # a (received twice) moves to the dead-letter queue; c comes again
    assert (got_c.message_id, got_c.receive_count) == (c, 2)
    assert [(m.body, m.attributes) for m in dlq.messages()] == [("a", {"k": "v"})]
    clock.advance(10)
    [got_b] = orders.receive()
    assert (got_b.message_id, got_b.receive_count) == (b, 2)
    assert orders.delete(got_b)
    first.close()
    second.close()

    with SqliteStore(path) as third:  # a clean close, then a third process
        clock = ManualClock(T0 + timedelta(seconds=100))
        assert [(m.message_id, m.receive_count) for m in Queue("orders", clock=clock, store=third).messages()] == [
            (c, 2)]
        assert [m.body for m in Queue("orders-dlq", clock=clock, store=third).messages()] == ["a"]


def test_a_queue_opened_again_does_not_repeat_the_ids_of_the_messages_it_finds(tmp_path: Path) -> None:
    """A ManualClock's seed fixes the ids of a queue in memory; on a work store a
    second queue on the same seed would draw the first one's ids again: there
    they are drawn at random."""
    path = tmp_path / "q.db"
    with SqliteStore(path) as first:
        queue = Queue("q", clock=ManualClock(), store=first)
        held = {queue.send(str(n)) for n in range(3)}
        [message] = queue.receive()
    with SqliteStore(path) as second:
        queue = Queue("q", clock=ManualClock(), store=second)
        assert {m.message_id for m in queue.messages()} == held
        new = {queue.send(str(n)) for n in range(3)}
        assert not new & held
        [other] = queue.receive()  # (one sent before the restart, never received)
        assert other.message_id in held - {message.message_id}
        assert other.receipt_handle != message.receipt_handle  # (handles come from the same generator)
    with SqliteStore(path) as third:
        queue = Queue("q", clock=ManualClock(), store=third)
        assert {m.message_id for m in queue.messages()} == held | new
    assert Queue("q", clock=ManualClock()).send("x") == Queue("q", clock=ManualClock()).send("x")  # (in memory)


def test_two_processes_on_seeded_clocks_send_and_delete_their_own_messages(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as one, SqliteStore(tmp_path / "q.db") as two:
        first, second = Queue("q", clock=ManualClock(), store=one), Queue("q", clock=ManualClock(), store=two)
        assert first.send("from first") != second.send("from second")
        messages = first.receive(10)
        assert [first.delete(m) for m in messages] == [True, True]
        assert len(first) == 0


# -- change_visibility: only while in flight under that receipt ---------------------------------


def test_change_visibility_refuses_a_message_whose_visibility_ran_out(store: MemoryQueueStore | Store) -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=10, store=store)
    queue.send("job")
    [message] = queue.receive()
    queue.change_visibility(message, 20)  # in flight: hidden until 20
    clock.advance(20)
    with pytest.raises(ValidationError, match=f"Value {message.receipt_handle} for parameter ReceiptHandle is "
                                              "invalid"):
        queue.change_visibility(message, 300)  # visible again: not hidden by the old receipt
    [again] = queue.receive(visibility_timeout=30)
    assert again.receive_count == 2
    queue.change_visibility(again, 0)  # visible at once ...
    with pytest.raises(ValidationError, match="ReceiptHandle is invalid"):
        queue.change_visibility(again, 300)  # ... so no longer in flight
    assert [m.receive_count for m in queue.receive()] == [3]
    clock.advance(30)
    assert queue.delete(queue.receive()[0])


# -- what the adapter does on its own --------------------------------------------------------


def test_purge_and_delete_by_id_reach_messages_this_queue_never_received(store: MemoryQueueStore | Store) -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, store=store)
    ids = [queue.send(str(n)) for n in range(4)]
    [held] = queue.receive()
    assert queue.delete(ids[2])  # never received: found by id
    assert queue.delete(held.message_id)  # received: removed whatever its receipt
    assert not queue.delete(ids[2]) and not queue.delete(held)
    assert queue.purge() == 2 and len(queue) == 0 and queue.messages() == []
    assert queue.purge() == 0


def test_an_item_that_is_not_a_message_is_kept_aside_as_a_dead_letter() -> None:
    work = MemoryStore()
    queue = Queue("q", clock=ManualClock(), store=work)
    name = f"sqs:{ARN}:q"
    work.enqueue(name, "not json", not_before=T0)
    work.enqueue(name, '{"id": 5, "body": "x", "attributes": null, "sent_at": "2024-01-01T00:00:00+00:00"}',
                 not_before=T0)
    sent = queue.send("fine")
    assert [m.message_id for m in queue.messages()] == [sent]  # (the others are not shown)
    assert [m.message_id for m in queue.receive(10)] == [sent]
    assert [(d.payload, d.reason) for d in work.dead_letters(name)] == [
        ("not json", "unreadable: not a message this queue wrote"),
        ('{"id": 5, "body": "x", "attributes": null, "sent_at": "2024-01-01T00:00:00+00:00"}',
         "unreadable: not a message this queue wrote")]


def test_a_failed_move_to_the_dead_letter_queue_is_not_counted_as_a_receive(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "q.db") as work:
        clock = ManualClock()
        dlq = Queue("dlq", clock=clock, store=work, capacity=1)
        queue = Queue("q", clock=clock, store=work, dead_letter_queue=dlq, max_receive_count=1, visibility_timeout=1)
        dlq.send("filler")
        queue.send("poison")
        assert [m.receive_count for m in queue.receive()] == [1]
        clock.advance(1)
        for _ in range(3):
            assert queue.receive() == []  # the dead-letter queue is full: the move fails, the message stays
        assert [m.receive_count for m in queue.messages()] == [1]
        assert dlq.delete(dlq.receive()[0])
        assert queue.receive() == [] and [m.body for m in dlq.messages()] == ["poison"]


def test_claims_on_messages_another_process_ended_are_forgotten() -> None:
    work = MemoryStore()
    clock = ManualClock()
    mine = Queue("q", clock=clock, store=work, visibility_timeout=1)
    theirs = Queue("q", clock=clock, store=work)  # (another process's queue on the same store)
    adapter = mine.store
    assert isinstance(adapter, WorkQueueStore)
    for round_ in range(30):
        for n in range(10):
            mine.send(f"{round_}/{n}")
        assert len(mine.receive(10)) == 10
        assert theirs.purge() == 10  # every message mine holds a claim on ends elsewhere
        assert len(adapter._claims) <= 2 * 10 + 64
    assert len(mine) == 0


# -- a pipe on a shared queue ---------------------------------------------------------------


def test_a_pipe_with_poll_takes_what_another_process_sends_to_its_shared_queue(tmp_path: Path) -> None:
    from eventbus import Pipe

    clock = ManualClock()
    mine, theirs = SqliteStore(tmp_path / "q.db"), SqliteStore(tmp_path / "q.db")
    got: list[dict[str, Any]] = []
    Pipe("orders", Queue("orders", clock=clock, store=mine), got.extend, poll=0.5)
    quiet: list[object] = []
    Pipe("unpolled", Queue("other", clock=clock, store=mine), quiet.extend)
    clock.advance(0)
    Queue("orders", clock=clock, store=theirs).send({"n": 1})  # another process's queue object
    Queue("other", clock=clock, store=theirs).send({"n": 2})
    clock.advance(0.4)
    assert got == []  # not looked yet
    clock.advance(0.1)
    assert [record["body"] for record in got] == ['{"n":1}']  # (an SQS record: the body as sent)
    clock.advance(60)
    assert quiet == []  # without poll, what another process sends waits for something to wake the pipe
    mine.close()
    theirs.close()


def test_a_pipe_poll_is_only_for_a_queue_on_a_work_store() -> None:
    from eventbus import Pipe

    clock = ManualClock()
    with pytest.raises(ValidationError, match="poll is for a queue on a work store shared with other processes "
                                              r"\(Queue\(store=...\)\); queue q keeps its messages in this process"):
        Pipe("p", Queue("q", clock=clock), print, poll=1)
    with pytest.raises(ValidationError, match="poll is for a queue source .* an iterable source wakes the pipe"):
        Pipe("p", [1, 2], print, poll=1, clock=clock)
    with pytest.raises(ValidationError, match="poll"):
        Pipe("p", Queue("q", clock=clock, store=MemoryStore()), print, poll=0)
    pipe = Pipe("p", Queue("q", clock=clock, store=MemoryStore()), print, poll=2)
    assert pipe.poll == 2
