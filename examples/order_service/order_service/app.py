"""The service's one entry point: placing an order publishes ``OrderPlaced`` on the orders bus."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

SOURCE = "com.example.orders"
DETAIL_TYPE = "OrderPlaced"


class OrderNotPlaced(RuntimeError):
    """EventBridge refused the event (PutEvents reported a failed entry)."""


def bus_name() -> str:
    return os.environ.get("ORDERS_BUS", "orders")


def place_order(order: dict[str, Any], *, events_client: Any = None) -> str:
    """Publish the order (order_id, customer, total, items) and return the event's id."""
    client = events_client if events_client is not None else boto3.client("events")
    detail = {key: order[key] for key in ("order_id", "customer", "total", "items")}
    response = client.put_events(
        Entries=[
            {
                "EventBusName": bus_name(),
                "Source": SOURCE,
                "DetailType": DETAIL_TYPE,
                "Detail": json.dumps(detail),
            }
        ]
    )
    if response["FailedEntryCount"] > 0:
        entry = response["Entries"][0]
        raise OrderNotPlaced(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
    return str(response["Entries"][0]["EventId"])
