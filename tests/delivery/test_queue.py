"""Queue: SQS-like send/receive/delete, visibility on the clock, redrive, capacity."""

from __future__ import annotations

import pytest

import eventbus
from eventbus import ManualClock, Queue


def test_send_receive_delete() -> None:
    queue = Queue("orders", clock=ManualClock())
    first = queue.send("hello", {"kind": "greeting"})
    queue.send({"n": 1})
    assert len(queue) == 2
    got = queue.receive(max_messages=10)
    assert [m.body for m in got] == ["hello", '{"n":1}']
    assert got[0].message_id == first and got[0].attributes == {"kind": "greeting"}
    assert got[0].receive_count == 1
    assert got[1].json() == {"n": 1}
    assert queue.receive() == []  # both in flight
    assert queue.delete(got[0]) and not queue.delete(got[0])
    assert len(queue) == 1
    assert queue.arn == "arn:aws:sqs:us-east-1:123456789012:orders"


def test_visibility_timeout_runs_on_the_clock() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=30)
    queue.send("x")
    assert len(queue.receive()) == 1
    clock.advance(29)
    assert queue.receive() == []
    clock.advance(1)
    again = queue.receive(visibility_timeout=5)
    assert again[0].receive_count == 2
    clock.advance(5)
    assert queue.receive()[0].receive_count == 3


def test_redrive_moves_a_message_received_too_often_to_the_dead_letter_queue() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock)
    queue = Queue(clock=clock, dead_letter_queue=dlq, max_receive_count=2, visibility_timeout=1)
    queue.send("poison", {"a": "1"})
    for _ in range(2):
        assert queue.receive()
        clock.advance(1)
    assert queue.receive() == []
    assert len(queue) == 0
    moved = dlq.receive()
    assert moved[0].body == "poison" and moved[0].attributes == {"a": "1"}


def test_a_full_queue_refuses_with_a_clear_error() -> None:
    queue = Queue(clock=ManualClock(), capacity=2)
    queue.send("1")
    queue.send("2")
    with pytest.raises(eventbus.QueueFullError, match="full"):
        queue.send("3")
    assert len(queue) == 2


def test_redrive_into_a_full_dead_letter_queue_keeps_the_message() -> None:
    clock = ManualClock()
    dlq = Queue("dlq", clock=clock, capacity=1)
    dlq.send("occupied")
    queue = Queue(clock=clock, dead_letter_queue=dlq, max_receive_count=1, visibility_timeout=1)
    queue.send("poison")
    queue.send("fine")
    assert [m.body for m in queue.receive(10)] == ["poison", "fine"]
    clock.advance(1)
    assert queue.receive(10) == []  # poison is due for the DLQ, fine has been received once too
    assert len(queue) == 2  # nothing lost while the DLQ is full
    dlq.purge()
    queue.receive(10)  # room for one
    assert [m.body for m in dlq.messages()] == ["poison"]
    dlq.purge()
    queue.receive(10)
    assert [m.body for m in dlq.messages()] == ["fine"]
    assert len(queue) == 0


def test_a_stale_receipt_neither_deletes_nor_hides_a_message_someone_else_holds() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=10)
    queue.send("job")
    [first] = queue.receive()
    clock.advance(10)
    [second] = queue.receive()
    assert not queue.delete(first)
    with pytest.raises(eventbus.ValidationError, match="ReceiptHandle is invalid"):
        queue.change_visibility(first, 0)
    assert queue.receive() == []  # still hidden for the second receiver
    assert queue.delete(second)
    assert len(queue) == 0
    assert not queue.delete(second.message_id)  # gone


def test_change_visibility_runs_on_the_clock() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=30)
    queue.send("x")
    [message] = queue.receive()
    queue.change_visibility(message, 5)
    clock.advance(4)
    assert queue.receive() == []
    clock.advance(1)
    [again] = queue.receive()
    queue.change_visibility(again, 0)  # visible at once
    assert queue.receive()[0].receive_count == 3
    with pytest.raises(eventbus.ValidationError, match="Must be between 0 and 43200"):
        queue.change_visibility(again, 43_201)


def test_received_messages_are_copies() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=1)
    queue.send("x", {"a": "1"})
    [message] = queue.receive()
    message.attributes["a"] = "changed"
    with pytest.raises(AttributeError):
        message.body = "changed"  # type: ignore[misc]
    clock.advance(1)
    assert queue.receive()[0].attributes == {"a": "1"}
    assert queue.messages()[0].attributes == {"a": "1"}


def test_receive_returns_the_oldest_visible_messages_first() -> None:
    clock = ManualClock()
    queue = Queue(clock=clock, visibility_timeout=10)
    for body in "abcde":
        queue.send(body)
    assert [m.body for m in queue.receive(2)] == ["a", "b"]
    clock.advance(10)  # a and b are visible again, and older than c
    assert [m.body for m in queue.receive(3)] == ["a", "b", "c"]
    assert [m.body for m in queue.receive(10)] == ["d", "e"]


def test_delete_by_id_and_purge() -> None:
    queue = Queue(clock=ManualClock())
    ids = [queue.send(str(i)) for i in range(3)]
    assert queue.delete(ids[1]) and not queue.delete(ids[1])
    assert [m.body for m in queue.receive(10)] == ["0", "2"]
    assert queue.purge() == 2 and len(queue) == 0 and queue.receive() == []
    with pytest.raises(eventbus.ValidationError, match="Invalid type for parameter message"):
        queue.delete(5)  # type: ignore[arg-type]


def test_message_repr_does_not_print_a_huge_body() -> None:
    queue = Queue(clock=ManualClock())
    queue.send("x" * 1_000_000, {"k": "v"})
    [message] = queue.receive()
    assert len(repr(message)) < 300 and "..." in repr(message)
    assert repr(queue).startswith("<Queue queue-") and repr(queue).endswith("messages=1>")
