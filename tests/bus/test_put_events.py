"""PutEvents: AWS's vectors, the response shape, the envelope, and every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import eventbus
from eventbus import EventBus, ManualClock, ValidationError
from tests.conftest import load_vectors
from tests.support import STACK_DEPTHS, from_deep_in_the_stack

VECTORS = load_vectors("put_events_validation.jsonl")
DETAIL = json.dumps({"command": "update-account"})


def entries_of(case: dict[str, Any]) -> list[Any]:
    """The request a vector describes (expanding its compact forms)."""
    if case.get("detail_generator"):
        g = case["detail_generator"]
        return [{"Source": "core.update-account-command", "DetailType": "core.update-account-command",
                 "Detail": g["prefix"] + g["repeat"] * g["count"] + g["suffix"]}]
    entries = case["entries"]
    if isinstance(entries, dict):  # {"repeat": n, "entry": {...}}
        return [dict(entries["entry"]) for _ in range(entries["repeat"])]
    return list(entries)


def test_the_copied_vectors_are_all_there() -> None:
    assert len(VECTORS) == 10


@pytest.mark.parametrize("case", VECTORS, ids=[c["id"] for c in VECTORS])
def test_put_events_vector_gets_aws_answer(case: dict[str, Any]) -> None:
    entries = entries_of(case)
    bus = EventBus(clock=ManualClock())  # (the request-level errors come before any bus lookup)
    if case["expected"] == "request-error":
        with pytest.raises(ValidationError) as raised:
            bus.put_events(entries)
        # (for 11 entries: AWS's Java listing of every entry, where the recording tool
        # wrote every bus name, "default" too, as <bus-name>)
        assert str(raised.value).replace("eventBusName=default", "eventBusName=<bus-name>") == case["aws_error"]
        return
    response = bus.put_events(entries)
    assert response["FailedEntryCount"] == case["failed_entry_count"]
    assert response["Entries"] == [{"ErrorCode": case["aws_error_code"], "ErrorMessage": case["aws_error"]}]


def test_results_come_in_request_order_and_good_entries_go_ahead(bus: EventBus) -> None:
    response = bus.put_events([
        {"Source": "a", "DetailType": "t", "Detail": DETAIL},
        {"DetailType": "t", "Detail": DETAIL},
        {"Source": "b", "DetailType": "t", "Detail": "{"},
        {"Source": "c", "DetailType": "t", "Detail": DETAIL},
    ])
    assert response["FailedEntryCount"] == 2
    first, second, third, fourth = response["Entries"]
    assert set(first) == {"EventId"} and set(fourth) == {"EventId"}
    assert first["EventId"] != fourth["EventId"]
    assert second["ErrorCode"] == "InvalidArgument"
    assert third == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert bus.journey(first["EventId"]).source == "a"
    assert bus.journey(fourth["EventId"]).source == "c"
    assert bus.metrics()["Events"] == 2 and bus.metrics()["FailedEntries"] == 2


def test_the_envelope_is_aws_s(clock: ManualClock, bus: EventBus) -> None:
    got: list[Any] = []
    bus.put_rule("all", event_pattern={"source": [{"prefix": ""}]})
    bus.put_targets("all", [eventbus.Target(got.append)])
    clock.advance(61.5)
    response = bus.put_events([{"Source": "shop", "DetailType": "Order Placed", "Detail": '{"n": 1}',
                                "Resources": ["arn:aws:s3:::b"]}])
    clock.run_until_idle()
    event = got[0]
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources",
                           "detail"]
    assert event["version"] == "0" and event["id"] == response["Entries"][0]["EventId"]
    assert event["time"] == "2024-01-01T00:01:01Z"  # the bus's clock, to the second
    assert (event["account"], event["region"]) == ("123456789012", "us-east-1")
    assert event["resources"] == ["arn:aws:s3:::b"] and event["detail"] == {"n": 1}
    assert event["source"] == "shop" and event["detail-type"] == "Order Placed"


@pytest.mark.parametrize("given", [
    datetime(2020, 5, 6, 7, 8, 9, tzinfo=UTC),
    datetime(2020, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))),
    datetime(2020, 5, 6, 7, 8, 9),  # naive: UTC, as boto3 sends it
    "2020-05-06T07:08:09Z",
    "2020-05-06T07:08:09+00:00",
    1588748889,
    1588748889.0,
])
def test_time_is_taken_in_every_form_boto3_takes(bus: EventBus, clock: ManualClock, given: Any) -> None:
    got: list[Any] = []
    bus.put_rule("all", event_pattern={"source": ["s"]})
    bus.put_targets("all", [eventbus.Target(got.append)])
    bus.put_events([{"Source": "s", "DetailType": "t", "Detail": "{}", "Time": given}])
    clock.run_until_idle()
    assert got[0]["time"] == "2020-05-06T07:08:09Z"


def test_a_time_that_is_not_a_time_fails_the_entry(bus: EventBus) -> None:
    response = bus.put_events([{"Source": "s", "DetailType": "t", "Detail": "{}", "Time": "yesterday"}])
    assert response["Entries"] == [{"ErrorCode": "InvalidArgument",
                                    "ErrorMessage": "Parameter Time is not valid. Reason: yesterday is not a time."}]


@pytest.mark.parametrize(("entry", "code", "message"), [
    ({"Source": "", "DetailType": "t", "Detail": "{}"}, "InvalidArgument",
     "Parameter Source is not valid. Reason: Source is a required argument."),
    ({"Source": "s", "Detail": "{}"}, "InvalidArgument",
     "Parameter DetailType is not valid. Reason: DetailType is a required argument."),
    ({"Source": "s", "DetailType": "t", "Detail": "NaN"}, "MalformedDetail", "Detail is malformed."),
    ({"Source": "s", "DetailType": "t", "Detail": '{"a": NaN}'}, "MalformedDetail", "Detail is malformed."),
    ({"Source": "s", "DetailType": "t", "Detail": '{"a": 9223372036854775808}'}, "MalformedDetail",
     "Detail is malformed."),  # beyond a signed 64-bit integer
    ({"Source": "s", "DetailType": "t", "Detail": "[" * 5000 + "]" * 5000}, "MalformedDetail",
     "Detail is malformed."),
    ({"Source": "aws.s3", "DetailType": "t", "Detail": "{}"}, "NotAuthorizedForSourceException",
     "Not authorized for the source."),
    ({"Source": "s", "DetailType": "t", "Detail": "{}", "TraceHeader": "x" * 501}, "InvalidArgument",
     "Parameter TraceHeader is not valid. Reason: TraceHeader must be 1 to 500 characters."),
    ({"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "other"}, "ResourceNotFoundException",
     "Event bus other does not exist."),
])
def test_entry_errors(bus: EventBus, entry: Any, code: str, message: str) -> None:
    response = bus.put_events([entry])
    assert response == {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": message}]}


def test_a_64_bit_integer_is_fine(bus: EventBus) -> None:
    detail = '{"a": 9223372036854775807, "b": -9223372036854775808}'
    assert bus.put_events([{"Source": "s", "DetailType": "t", "Detail": detail}])["FailedEntryCount"] == 0


def test_the_bus_may_be_named_by_name_or_arn(bus: EventBus) -> None:
    for name in ("default", bus.arn):
        response = bus.put_events([{"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": name}])
        assert response["FailedEntryCount"] == 0


@pytest.mark.parametrize(("entries", "error"), [
    ([], "Invalid length for parameter Entries, value: 0, valid min length: 1"),
    ("x", "Invalid type for parameter Entries, value: x, type: <class 'str'>, valid types: <class 'list'>, "
          "<class 'tuple'>"),
    ([5], "Invalid type for parameter Entries[0], value: 5, type: <class 'int'>, valid types: <class 'dict'>"),
    ([{"Source": 5}], "Invalid type for parameter Entries[0].Source, value: 5, type: <class 'int'>, valid types: "
                      "<class 'str'>"),
    ([{"Detail": {"a": 1}}], "Invalid type for parameter Entries[0].Detail, value: {'a': 1}, type: <class 'dict'>, "
                             "valid types: <class 'str'>"),
    ([{"Resources": "arn"}], "Invalid type for parameter Entries[0].Resources, value: arn, type: <class 'str'>, "
                             "valid types: <class 'list'>, <class 'tuple'>"),
    ([{"Resources": [1]}], "Invalid type for parameter Entries[0].Resources[0], value: 1, type: <class 'int'>, "
                           "valid types: <class 'str'>"),
    ([{"Time": True}], "Invalid type for parameter Entries[0].Time, value: True, type: <class 'bool'>, valid types: "
                       "<class 'datetime.datetime'>, timestamp"),
    ([{"Sauce": "s"}], 'Unknown parameter in Entries[0]: "Sauce", must be one of: Time, Source, Resources, '
                       "DetailType, Detail, EventBusName, TraceHeader"),
])
def test_request_errors(bus: EventBus, entries: Any, error: str) -> None:
    with pytest.raises(ValidationError) as raised:
        bus.put_events(entries)
    assert str(raised.value) == error


def test_the_size_limit_counts_source_detail_type_detail_resources_and_time(bus: EventBus) -> None:
    limit = 256 * 1024
    others = 14 + len("s") + len("t") + len("arn")  # Time counts 14 bytes
    def entry(filler: int) -> eventbus.PutEventsRequestEntry:
        detail = '{"a":"' + "x" * filler + '"}'
        return {"Source": "s", "DetailType": "t", "Detail": detail, "Resources": ["arn"], "Time": 0}
    at_limit = limit - others - len('{"a":""}')
    assert bus.put_events([entry(at_limit)])["FailedEntryCount"] == 0  # exactly 256 KB: accepted
    with pytest.raises(ValidationError, match="^Total size of the entries in the request is over the limit.$"):
        bus.put_events([entry(at_limit + 1)])
    # the sizes of all entries add up
    half: eventbus.PutEventsRequestEntry = {"Source": "s", "DetailType": "t",
                                            "Detail": '{"a":"' + "x" * (limit // 2) + '"}'}
    with pytest.raises(ValidationError, match="over the limit"):
        bus.put_events([half, half])
    # multi-byte characters count in UTF-8 bytes
    with pytest.raises(ValidationError, match="over the limit"):
        bus.put_events([{"Source": "s", "DetailType": "t", "Detail": '{"a":"' + "é" * (limit // 2) + '"}'}])


def test_publish_is_put_events_for_one_event(bus: EventBus, clock: ManualClock) -> None:
    got: list[Any] = []
    bus.put_rule("r", event_pattern={"detail": {"n": [{"numeric": [">", 1]}]}})
    bus.put_targets("r", [eventbus.Target(got.append)])
    event_id = bus.publish(source="shop", detail_type="t", detail={"n": 2}, resources=["arn:x"])
    clock.run_until_idle()
    assert got[0]["id"] == event_id and got[0]["resources"] == ["arn:x"]
    with pytest.raises(ValidationError, match="^MalformedDetail: Detail is malformed. "):
        bus.publish(source="shop", detail_type="t", detail={"n": float("nan")})
    with pytest.raises(ValidationError, match="^InvalidArgument: Parameter Source is not valid."):
        bus.publish(source="", detail_type="t")


def test_no_target_runs_inside_put_events(bus: EventBus, clock: ManualClock) -> None:
    calls: list[Any] = []
    bus.put_rule("r", event_pattern={"source": ["s"]})
    bus.put_targets("r", [eventbus.Target(calls.append)])
    bus.put_events([{"Source": "s", "DetailType": "t", "Detail": "{}"}])
    assert calls == []
    clock.run_until_idle()
    assert len(calls) == 1


@pytest.mark.parametrize("frames", STACK_DEPTHS)
def test_a_deep_detail_is_read_whatever_the_depth_of_the_caller(frames: int) -> None:
    """A Detail nesting 150 levels is an event, put from the test or from deep in the stack."""
    detail: Any = 1
    for _ in range(150):
        detail = {"d": detail}
    bus = EventBus(clock=ManualClock())
    entry = {"Source": "shop", "DetailType": "t", "Detail": json.dumps(detail)}
    response = from_deep_in_the_stack(frames, lambda: bus.put_events([entry]))  # type: ignore[list-item]
    assert response == {"FailedEntryCount": 0, "Entries": [{"EventId": response["Entries"][0]["EventId"]}]}  # type: ignore[index]
