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


@pytest.mark.parametrize("kwargs", [{"capacity": 0}, {"max_receive_count": 3},
                                    {"dead_letter_queue": "x", "max_receive_count": 0}])
def test_bad_queue_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(eventbus.ValidationError):
        Queue(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


def test_receive_takes_one_to_ten_messages() -> None:
    with pytest.raises(eventbus.ValidationError, match="Must be between 1 and 10"):
        Queue(clock=ManualClock()).receive(11)


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
