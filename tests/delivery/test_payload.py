"""The payload rule, across Queue, Target and Function (docs/delivery.md, "Payloads")."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus import Function, ManualClock, Queue, Target, ValidationError
from eventbus._delivery._payload import MAX_DEPTH, Parsed, first_kb

from ..support import message


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_deliveries_carry_json_values_so_a_str_is_a_json_string(clock: ManualClock) -> None:
    seen: list[Any] = []
    queue = Queue(clock=clock)
    fn = Function(lambda e, c: seen.append(("function", e)), clock=clock)
    for destination in (seen.append, fn, queue):
        Target(destination, clock=clock).deliver("order-1")
    clock.run_until_idle()
    assert seen == ["order-1", ("function", "order-1")]
    [message] = queue.receive()
    assert message.body == '"order-1"' and message.json() == "order-1"  # as an EventBridge target sends a string


def test_api_calls_take_the_wire_form(clock: ManualClock) -> None:
    queue = Queue(clock=clock)
    queue.send("plain text")
    queue.send(b"caf\xc3\xa9")
    queue.send({"id": 1, "name": "café"})
    assert [m.body for m in queue.receive(10)] == ["plain text", "café", '{"id":1,"name":"café"}']
    fn = Function(lambda e, c: e, clock=clock)
    assert fn.invoke('{"a": 1}')["Payload"] == {"a": 1}  # str: JSON text, as boto3's Payload=
    assert fn.invoke(b'[1, 2]')["Payload"] == [1, 2]
    assert fn.invoke({"a": 1})["Payload"] == {"a": 1}
    assert fn.invoke("")["Payload"] is None  # an empty payload is null, as in Lambda
    with pytest.raises(ValidationError, match="Could not parse request body into json"):
        fn.invoke("order-1")


def test_bytes_are_not_a_json_value(clock: ManualClock) -> None:
    with pytest.raises(ValidationError, match="Invalid type for parameter event"):
        Target(print, clock=clock).deliver(b'{"a": 1}')
    with pytest.raises(ValidationError, match="Invalid type for parameter payload"):
        Queue(clock=clock).deliver(b"x")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_everywhere(clock: ManualClock, bad: float) -> None:
    payload = {"x": bad}
    queue = Queue(clock=clock)
    fn = Function(lambda e, c: None, clock=clock)
    target = Target(print, clock=clock)
    calls: list[Callable[[], object]] = [
        lambda: fn.invoke(payload, "Event"), lambda: fn.invoke(payload), lambda: fn(payload),
        lambda: fn.deliver(payload), lambda: target.deliver(payload), lambda: queue.send(payload),
        lambda: queue.deliver(payload), lambda: queue.send("x", {"a": bad}), lambda: target.deliver({}, {"a": bad})]
    for call in calls:
        with pytest.raises(ValidationError, match="JSON"):
            call()
    with pytest.raises(ValidationError, match="NaN is not JSON"):
        fn.invoke('{"x": NaN}')
    assert len(queue) == 0 and fn.metrics.invocations == 0 and target.metrics.accepted == 0


def test_a_handler_result_with_nan_is_a_marshal_error(clock: ManualClock) -> None:
    response = Function(lambda e, c: {"x": math.nan}, clock=clock).invoke({})
    assert response["Payload"]["errorType"] == "Runtime.MarshalError"


def test_nesting_is_limited_to_a_fixed_depth_whatever_the_stack(clock: ManualClock) -> None:
    target = Target(print, clock=clock)
    fn = Function(lambda e, c: None, clock=clock)
    queue = Queue(clock=clock)
    target.deliver(nested(MAX_DEPTH - 1))  # MAX_DEPTH levels with the innermost value's list
    for call in (lambda: target.deliver(nested(MAX_DEPTH + 1)), lambda: fn.invoke(nested(5000), "Event"),
                 lambda: fn.invoke("[" * 5000 + "]" * 5000), lambda: queue.send(nested(MAX_DEPTH + 1))):
        with pytest.raises(ValidationError, match=f"nests deeper than {MAX_DEPTH} levels"):
            call()

    def deep(n: int) -> Any:  # a caller 900 frames down still gets the full depth
        return deep(n - 1) if n else target.deliver(nested(MAX_DEPTH - 1))

    assert deep(900)


@pytest.mark.parametrize(("call", "message"), [
    (lambda q, f, t: q.send(b"\xff"), "MessageBody is not valid UTF-8"),
    (lambda q, f, t: f.invoke(b"\xff\xfe"), "request body is not valid UTF-8"),
    (lambda q, f, t: q.send("\ud800"), "not valid Unicode"),
    (lambda q, f, t: t.deliver({"k": "\udfff"}), "not valid Unicode"),
    (lambda q, f, t: f.invoke({"k": "\ud800"}, "Event"), "not valid Unicode"),
    (lambda q, f, t: q.send("x", {"k": "\ud800"}), "not valid Unicode"),
    (lambda q, f, t: q.send("bell \x07"), "Invalid characters found"),
    (lambda q, f, t: q.send(""), "must contain the parameter MessageBody"),
])
def test_bad_text_is_refused_with_a_validation_error(clock: ManualClock, call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(Queue(clock=clock), Function(lambda e, c: None, clock=clock), Target(print, clock=clock))


@pytest.mark.parametrize(("attributes", "message"), [
    ({"k": object()}, "not JSON-serialisable"),
    ({"bad name": "v"}, "attribute name 'bad name' is invalid"),
    ({"": "v"}, "attribute name '' is invalid"),
    ({1: "v"}, "attribute name '1' is invalid"),
    ({f"a{i}": "v" for i in range(11)}, r"Number of message attributes \[11\] exceeds the allowed maximum \[10\]"),
    (["k"], "Invalid type for parameter"),
])
def test_attributes_must_be_json_with_sqs_names(clock: ManualClock, attributes: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Queue(clock=clock).send("x", attributes)
    with pytest.raises(ValidationError, match=message):
        Target(print, clock=clock).deliver({}, attributes)


def test_attribute_values_are_stored_as_json_text(clock: ManualClock) -> None:
    queue = Queue(clock=clock)
    queue.send("x", {"n": 1, "flag": True, "none": None, "list": [1, "a"], "s": "text"})
    assert queue.receive()[0].attributes == {"n": "1", "flag": "true", "none": "null", "list": '[1,"a"]',
                                             "s": "text"}


def test_the_first_kb_is_cut_on_a_character_boundary() -> None:
    assert first_kb("x" * 2000) == "x" * 1024
    assert first_kb("é" * 600).encode() == ("é" * 512).encode()  # 2 bytes each: exactly 1024
    cut = first_kb("a" + "é" * 600)  # 1 + 2n bytes: the 512th é would straddle the limit
    assert cut == "a" + "é" * 511 and len(cut.encode()) == 1023
    assert first_kb("€" * 400).encode() == ("€" * 341).encode()  # 3 bytes each
    assert first_kb("lone \ud800 surrogate") == "lone ? surrogate"


def test_the_depth_limit_is_exact_for_objects_arrays_and_text() -> None:
    clock = ManualClock()
    target = Target(print, clock=clock)
    fn = Function(lambda e, c: None, clock=clock)

    def objects(levels: int) -> Any:
        value: Any = 0
        for _ in range(levels):
            value = {"k": value}
        return value

    wide = {"deep": nested(MAX_DEPTH - 1), "siblings": [[] for _ in range(20)]}  # 200 deep, 221 brackets
    for ok in (objects(MAX_DEPTH), wide, {"text": "[" * 500 + "{" * 500}):
        target.deliver(ok)
        fn.invoke(json.dumps(ok), "Event")
    siblings_first = {"siblings": [[] for _ in range(20)], "deep": nested(MAX_DEPTH)}  # closing brackets count too
    for bad in (objects(MAX_DEPTH + 1), {"deep": nested(MAX_DEPTH), "siblings": [[] for _ in range(20)]},
                siblings_first):
        with pytest.raises(ValidationError, match=f"event nests deeper than {MAX_DEPTH} levels"):
            target.deliver(bad)
        with pytest.raises(ValidationError, match=f"request body nests deeper than {MAX_DEPTH} levels"):
            fn.invoke(json.dumps(bad))


def test_ten_attributes_are_allowed_and_their_errors_name_them() -> None:
    clock = ManualClock()
    Target(print, clock=clock).deliver({}, {f"a{i}": "v" for i in range(10)})
    assert message(lambda: Target(print, clock=clock).deliver({}, "x")) == (  # type: ignore[arg-type]
        "ValidationError: Invalid type for parameter attributes, value: x, type: <class 'str'>, valid types: a "
        "mapping of attribute names to values")
    assert message(lambda: Target(print, clock=clock).deliver({}, {"k": "\ud800"})) == (
        "ValidationError: message attribute k is not valid Unicode text: surrogates not allowed at position 0")
    assert message(lambda: Target(print, clock=clock).deliver({}, {"k": float("nan")})) == (
        "ValidationError: message attribute k is not JSON-serialisable: Out of range float values are not JSON "
        "compliant")
    assert message(lambda: Target(print, clock=clock).deliver("\ud800")) == (
        "ValidationError: event is not valid Unicode text: surrogates not allowed at position 1")


# -- Parsed: one parse, many independent copies (a bus's fan-out) ------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30)


def containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (itself included), by a plain walk."""
    found: list[Any] = []
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            found.append(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            todo.extend(item)
    return found


def spoil(value: Any) -> None:
    """Change every container inside ``value`` in place."""
    for item in containers(value):
        if isinstance(item, dict):
            item["spoilt"] = True
        else:
            item.append("spoilt")


@given(JSON_VALUES)
def test_each_copy_of_a_parsed_value_is_equal_and_shares_no_container(value: Any) -> None:
    text = json.dumps(value)
    reference = json.loads(text)  # the oracle: a parse of its own for each delivery
    parsed = Parsed(json.loads(text))
    first, second = parsed.copy(), parsed.copy()
    assert first == reference and second == reference
    assert type(first) is type(reference)
    shared = {id(c) for c in containers(first)} & {id(c) for c in containers(second)}
    assert not shared
    spoil(first)  # a destination that changes what it got changes nothing else
    assert second == reference
    assert parsed.copy() == reference
