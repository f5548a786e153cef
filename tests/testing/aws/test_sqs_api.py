"""SQS through boto3 under mock_aws: receipt handles, AWS's limits and codes, attributes, batches, paging, tags."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventbus import MemoryQueueStore, Queue, World

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed: pip install -e '.[dev,testing]' runs these tests")

MIB = 1_048_576
NOT_MODELLED_DELAY = "DelaySeconds other than 0 is not modelled"



@pytest.fixture
def sqs(world: World) -> Any:
    return boto3.client("sqs")


def _url(sqs: Any, name: str = "q", **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _code(raised: pytest.ExceptionInfo[Any]) -> str:
    return str(raised.value.response["Error"]["Code"])


def _receive(sqs: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, **params).get("Messages", []))


# -- 1. receipt handles reach the message at once ---------------------------------------------
def test_delete_and_change_visibility_reach_the_message_without_looking_through_the_queue(
        world: World, sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _url(sqs)
    for start in range(0, 50, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"}
                                                      for i in range(10)])
    received = _receive(sqs, url, MaxNumberOfMessages=10)
    assert all(m["MessageId"] not in m["ReceiptHandle"] for m in received)  # (opaque)

    def scan(*_: Any) -> Any:
        raise AssertionError("looked through every message")
    monkeypatch.setattr(Queue, "messages", scan)
    monkeypatch.setattr(MemoryQueueStore, "snapshot", scan)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"], VisibilityTimeout=100)
    for message in received[1:]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": received[0]["ReceiptHandle"]}])
    monkeypatch.undo()
    assert len(world.queue(url)) == 40
    assert {m.body for m in world.queue(url).messages()} == {f"m{i}" for i in range(10, 50)}


def test_a_handle_from_a_lambda_or_pipe_record_deletes_too(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="job")
    [message] = world.queue(url).receive()  # (what a Lambda function or a pipe reading the queue is given)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
    assert len(world.queue(url)) == 0


# -- 2. stale handles -------------------------------------------------------------------------
def test_deleting_with_a_stale_handle_or_twice_succeeds_and_a_handle_never_issued_is_invalid(
        world: World, sqs: Any) -> None:
    url, other = _url(sqs), _url(sqs, "other")
    sqs.send_message(QueueUrl=url, MessageBody="a")
    [first] = _receive(sqs, url, VisibilityTimeout=0)
    [second] = _receive(sqs, url)
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])  # stale: succeeds, deletes nothing
    assert len(world.queue(url)) == 1
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    assert len(world.queue(url)) == 0
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # again: succeeds
    for never in ("nope", "zzz", "", "not base64!", second["ReceiptHandle"][:-4]):
        with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=never)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):  # (another queue's handle)
        sqs.delete_message(QueueUrl=other, ReceiptHandle=second["ReceiptHandle"])


def test_changing_visibility_needs_the_message_in_flight_under_that_handle(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    [message] = _receive(sqs, url, VisibilityTimeout=10)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=60)
    world.advance(seconds=30)
    assert _receive(sqs, url) == []  # still hidden: 60 s from the change
    world.advance(seconds=31)
    with pytest.raises(sqs.exceptions.MessageNotInflight):  # visible again: nothing to change
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=60)
    [again] = _receive(sqs, url)  # (the refused change hid nothing)
    with pytest.raises(sqs.exceptions.ClientError, match="not available for visibility timeout change") as stale:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=5)
    assert _code(stale) == "InvalidParameterValue"  # (received again since: AWS's unmodelled code)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"])
    with pytest.raises(sqs.exceptions.ClientError, match="not available for visibility timeout change"):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=5)
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="zzz", VisibilityTimeout=5)


# -- 3. AWS's limits with AWS's codes -----------------------------------------------------------
def test_a_message_counts_its_body_and_attributes_against_one_mib_or_the_queues_maximum(
        world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="a" * MIB)
    with pytest.raises(sqs.exceptions.ClientError, match="shorter than 1048576 bytes") as raised:
        sqs.send_message(QueueUrl=url, MessageBody="a" * (MIB + 1))
    assert _code(raised) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ClientError, match="shorter than 1048576 bytes"):  # name + type + value count
        sqs.send_message(QueueUrl=url, MessageBody="a" * (MIB - 10),
                         MessageAttributes={"k": {"DataType": "String", "StringValue": "vvvv"}})
    small = _url(sqs, "small", MaximumMessageSize="1024")
    sqs.send_message(QueueUrl=small, MessageBody="é" * 512)  # 1,024 bytes
    with pytest.raises(sqs.exceptions.ClientError, match="shorter than 1024 bytes"):
        sqs.send_message(QueueUrl=small, MessageBody="é" * 512 + "a")
    assert len(world.queue(url)) == 1 and len(world.queue(small)) == 1
    shown = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"]
    assert shown == {"MaximumMessageSize": str(MIB)}


@pytest.mark.parametrize(("name", "low", "high"), [
    ("VisibilityTimeout", 0, 43200), ("MessageRetentionPeriod", 60, 1209600), ("MaximumMessageSize", 1024, MIB),
    ("DelaySeconds", 0, 900), ("ReceiveMessageWaitTimeSeconds", 0, 20)])
def test_queue_attribute_values_outside_their_range_are_invalid(world: World, sqs: Any, name: str, low: int,
                                                                high: int) -> None:
    for bad in (str(low - 1), str(high + 1), "ten", "1.5", ""):
        with pytest.raises(sqs.exceptions.InvalidAttributeValue, match=f"parameter {name}"):
            sqs.create_queue(QueueName="q", Attributes={name: bad})
    assert world.queues == {}  # (none was made)
    _url(sqs, "low", **{name: str(low)})
    if name != "DelaySeconds":  # (a delay other than 0 is not modelled)
        _url(sqs, "high", **{name: str(high)})
    url = _url(sqs, "set")
    with pytest.raises(sqs.exceptions.InvalidAttributeValue):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: str(high + 1)})


def test_characters_sqs_refuses_are_invalid_message_contents(world: World, sqs: Any) -> None:
    url = _url(sqs)
    with pytest.raises(sqs.exceptions.InvalidMessageContents, match="#x0"):
        sqs.send_message(QueueUrl=url, MessageBody="a\x00b")
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=url, MessageBody="ok", MessageAttributes={
            "k": {"DataType": "String", "StringValue": "\x1f"}})
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "fine"},
                                                      {"Id": "2", "MessageBody": "\ufffe"}])
    assert len(world.queue(url)) == 0


def test_send_message_batch_is_checked_as_sqs_checks_it(world: World, sqs: Any) -> None:
    url = _url(sqs)
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[])
    for bad in ("a b", "a" * 81, "a.b"):
        with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": bad, "MessageBody": "x"}])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}] * 2)
    with pytest.raises(sqs.exceptions.BatchRequestTooLong):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "a" * 300_000}
                                                      for i in range(4)])
    with pytest.raises(sqs.exceptions.ClientError, match=NOT_MODELLED_DELAY):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "now"},
                                                      {"Id": "2", "MessageBody": "later", "DelaySeconds": 600}])
    with pytest.raises(sqs.exceptions.ClientError, match=NOT_MODELLED_DELAY):
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=5)
    assert len(world.queue(url)) == 0  # (a refused batch sends none of its entries)
    answer = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a-1_B", "MessageBody": "x", "DelaySeconds": 0},
                                                           {"Id": "z" * 80, "MessageBody": "y"}])
    assert [entry["Id"] for entry in answer["Successful"]] == ["a-1_B", "z" * 80] and answer["Failed"] == []


def test_receive_message_refuses_a_wait_over_twenty_seconds(sqs: Any) -> None:
    url = _url(sqs)
    with pytest.raises(sqs.exceptions.ClientError, match="WaitTimeSeconds") as raised:
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert _code(raised) == "InvalidParameterValue"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)


def test_message_attribute_data_types_are_checked_and_binary_is_not_modelled(world: World, sqs: Any) -> None:
    url = _url(sqs)
    for kind in ("Weird", "string", "Strings", ""):
        with pytest.raises(sqs.exceptions.ClientError, match="invalid message attribute type") as raised:
            sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
                "k": {"DataType": kind, "StringValue": "1"}})
        assert _code(raised) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ClientError, match="to a number"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "k": {"DataType": "Number", "StringValue": "twelve"}})
    for value in ({"DataType": "Binary", "BinaryValue": b"\x01"}, {"DataType": "Binary.gif", "BinaryValue": b"x"}):
        with pytest.raises(sqs.exceptions.ClientError, match="not modelled"):
            sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={"b": value})
    assert len(world.queue(url)) == 0
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
        "s": {"DataType": "String.custom", "StringValue": "a"},
        "n": {"DataType": "Number.int", "StringValue": "-1.5e3"}})
    [message] = _receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageAttributes"] == {"s": {"DataType": "String.custom", "StringValue": "a"},
                                            "n": {"DataType": "Number.int", "StringValue": "-1.5e3"}}


@pytest.mark.parametrize(("name", "attributes"), [
    ("orders.fifo", {"FifoQueue": "true"}), ("orders.fifo", {}), ("orders", {"FifoQueue": "true"}),
    ("orders", {"ContentBasedDeduplication": "true"})])
def test_fifo_queues_are_refused_as_not_modelled(sqs: Any, name: str, attributes: dict[str, str]) -> None:
    with pytest.raises(sqs.exceptions.ClientError, match="FIFO queues are not modelled"):
        sqs.create_queue(QueueName=name, Attributes=attributes)


def test_purge_queue_is_allowed_once_every_sixty_seconds_of_the_worlds_clock(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.purge_queue(QueueUrl=url)
    assert len(world.queue(url)) == 0
    sqs.send_message(QueueUrl=url, MessageBody="b")
    world.advance(seconds=59)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)
    assert len(world.queue(url)) == 1
    world.advance(seconds=1)
    sqs.purge_queue(QueueUrl=url)
    assert len(world.queue(url)) == 0
    sqs.purge_queue(QueueUrl=_url(sqs, "other"))  # (per queue)


# -- 4. message attributes and system attributes ----------------------------------------------
def test_message_attribute_names_take_all_wildcards_and_prefixes(sqs: Any) -> None:
    url = _url(sqs)
    given = {name: {"DataType": "String", "StringValue": name}
             for name in ("order.id", "order.total", "orders", "trace")}
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=given)

    def names(*wanted: str) -> set[str]:
        [message] = _receive(sqs, url, MessageAttributeNames=list(wanted), VisibilityTimeout=0)
        return set(message.get("MessageAttributes", {}))
    assert names("All") == names(".*") == set(given)
    assert names("order.*") == {"order.id", "order.total"}
    assert names("order.*", "trace") == {"order.id", "order.total", "trace"}
    assert names("orders") == {"orders"}
    assert names("absent") == set()
    [message] = _receive(sqs, url)
    assert "MessageAttributes" not in message and "MD5OfMessageAttributes" not in message


def test_md5_of_message_attributes_is_sqss_digest_on_send_and_receive(sqs: Any) -> None:
    url = _url(sqs)
    sent = sqs.send_message(QueueUrl=url, MessageBody="derp", MessageAttributes={
        "timestamp": {"StringValue": "1493147359900", "DataType": "Number"}})
    assert sent["MD5OfMessageAttributes"] == "235c5c510d26fb653d073faed50ae77c"  # (AWS's answer for this message)
    assert "MD5OfMessageAttributes" not in sqs.send_message(QueueUrl=url, MessageBody="plain")
    [message] = _receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["MessageAttributes"]["timestamp"]["DataType"] == "Number"
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "derp", "MessageAttributes": {
        "timestamp": {"StringValue": "1493147359900", "DataType": "Number"}}}])
    assert batch["Successful"][0]["MD5OfMessageAttributes"] == "235c5c510d26fb653d073faed50ae77c"


def test_system_attributes_include_sender_and_first_receive(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sent = int(world.clock.now().timestamp() * 1000)
    world.advance(seconds=5)
    [first] = _receive(sqs, url, MessageSystemAttributeNames=["All"], VisibilityTimeout=10)
    world.advance(seconds=20)
    [second] = _receive(sqs, url, AttributeNames=["All"])
    expected = {"SenderId": world.account, "SentTimestamp": str(sent),
                "ApproximateFirstReceiveTimestamp": str(sent + 5000)}
    assert first["Attributes"] == {**expected, "ApproximateReceiveCount": "1"}
    assert second["Attributes"] == {**expected, "ApproximateReceiveCount": "2"}
    world.advance(seconds=60)
    [third] = _receive(sqs, url, MessageSystemAttributeNames=["SenderId", "ApproximateReceiveCount"])
    assert third["Attributes"] == {"SenderId": world.account, "ApproximateReceiveCount": "3"}


# -- 5. batches, paging, tags -------------------------------------------------------------------
def test_delete_message_batch_reports_each_entry(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)])
    handles = [m["ReceiptHandle"] for m in _receive(sqs, url, MaxNumberOfMessages=10)]
    answer = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": handles[0]}, {"Id": "b", "ReceiptHandle": "nope"},
        {"Id": "c", "ReceiptHandle": handles[1]}])
    assert answer["Successful"] == [{"Id": "a"}, {"Id": "c"}]
    [failed] = answer["Failed"]
    assert failed["Id"] == "b" and failed["Code"] == "ReceiptHandleIsInvalid" and failed["SenderFault"] is True
    assert [m.body for m in world.queue(url).messages()] == ["2"]
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": handles[2]}] * 2)
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": handles[2]}
                                                        for i in range(11)])


def test_change_message_visibility_batch_reports_each_entry(world: World, sqs: Any) -> None:
    url = _url(sqs)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(2)])
    [hidden, released] = _receive(sqs, url, MaxNumberOfMessages=10, VisibilityTimeout=10)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=released["ReceiptHandle"], VisibilityTimeout=0)
    answer = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": hidden["ReceiptHandle"], "VisibilityTimeout": 100},
        {"Id": "b", "ReceiptHandle": released["ReceiptHandle"], "VisibilityTimeout": 100},
        {"Id": "c", "ReceiptHandle": hidden["ReceiptHandle"], "VisibilityTimeout": 43201}])
    assert answer["Successful"] == [{"Id": "a"}]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in answer["Failed"]] == [
        ("b", "MessageNotInflight", True), ("c", "InvalidParameterValue", True)]
    world.advance(seconds=50)
    assert [m["Body"] for m in _receive(sqs, url, MaxNumberOfMessages=10)] == [released["Body"]]
    with pytest.raises(sqs.exceptions.InvalidBatchEntryId):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "no good", "ReceiptHandle": hidden["ReceiptHandle"], "VisibilityTimeout": 1}])


def test_list_queues_pages_with_max_results_and_next_token(sqs: Any) -> None:
    urls = [_url(sqs, name) for name in ("a1", "a2", "a3", "a4", "a5", "b1")]
    seen, token, pages = [], None, 0
    while True:
        page = sqs.list_queues(QueueNamePrefix="a", MaxResults=2, **({"NextToken": token} if token else {}))
        seen += page["QueueUrls"]
        pages += 1
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == urls[:5] and pages == 3
    everything = sqs.list_queues()
    assert everything["QueueUrls"] == urls and "NextToken" not in everything
    assert [url for p in sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 4})
            for url in p["QueueUrls"]] == urls
    with pytest.raises(sqs.exceptions.ClientError, match="NextToken") as raised:
        sqs.list_queues(MaxResults=2, NextToken="not-a-token")
    assert _code(raised) == "InvalidParameterValue"
    with pytest.raises(sqs.exceptions.ClientError, match="MaxResults"):
        sqs.list_queues(MaxResults=1001)


def test_queue_tags_are_added_listed_and_removed(world: World, sqs: Any) -> None:
    url = str(sqs.create_queue(QueueName="q", tags={"team": "orders"})["QueueUrl"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "orders"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "billing"})
    assert world.queue_entry(url).tags == {"team": "billing", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    with pytest.raises(sqs.exceptions.ClientError, match="50 tags"):
        sqs.tag_queue(QueueUrl=url, Tags={f"k{i}": "v" for i in range(51)})
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.tag_queue(QueueUrl=url + "x", Tags={"a": "b"})


# -- 6. retention is not modelled ---------------------------------------------------------------
def test_message_retention_period_is_accepted_and_shown_but_messages_are_kept(world: World, sqs: Any) -> None:
    url = _url(sqs, MessageRetentionPeriod="60")
    assert json.dumps(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])
                      ["Attributes"]) == '{"MessageRetentionPeriod": "60"}'
    sqs.send_message(QueueUrl=url, MessageBody="old")
    world.advance(minutes=10)
    assert [m["Body"] for m in _receive(sqs, url)] == ["old"]
