"""The service's Lambda handlers.

Each records what it received in a module-level list so that tests running the handlers in
process can read it; ``reset()`` empties them.  This file is also what ``infra.deploy`` zips
into every function's code (handler ``order_service.handlers.<name>``).
"""

from __future__ import annotations

import json
from typing import Any

SAVED: list[dict[str, Any]] = []  # save_order's inputs (the input transformer's output)
NOTIFY_ATTEMPTS: list[dict[str, Any]] = []  # every call to notify_customer, failed or not
NOTIFY_FAILS = True  # notify_customer raises while this is true (the mail server is down)
REPORTS: list[dict[str, Any]] = []  # hourly_report's inputs
ENRICHED: list[list[dict[str, Any]]] = []  # enrich_order's input batches
SHIPPED: list[list[dict[str, Any]]] = []  # ship_order's input batches


def reset() -> None:
    global NOTIFY_FAILS
    for recorder in (SAVED, NOTIFY_ATTEMPTS, REPORTS, ENRICHED, SHIPPED):
        recorder.clear()
    NOTIFY_FAILS = True


def save_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Target of rule order-placed, whose input transformer sends ``{"order": id, "who": customer}``."""
    SAVED.append(event)
    return {"saved": event["order"], "for": event["who"]}


def notify_customer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Target of rule notify-customer (the whole event); fails while NOTIFY_FAILS is set."""
    NOTIFY_ATTEMPTS.append(event)
    if NOTIFY_FAILS:
        raise ConnectionError("mail server unavailable")
    return {"notified": event["detail"]["customer"]}


def hourly_report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Target of the Scheduler schedule hourly-report."""
    REPORTS.append(event)
    return {"reports": len(REPORTS)}


def enrich_order(event: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
    """Enrichment of pipe ship-orders: takes the batch of SQS records, returns one item per record."""
    ENRICHED.append(event)
    enriched = []
    for record in event:
        shipment = json.loads(record["body"])
        enriched.append({**shipment, "carrier": "express-air" if shipment["priority"] == "express" else "ground"})
    return enriched


def ship_order(event: list[dict[str, Any]], context: Any) -> dict[str, Any]:
    """Target of pipe ship-orders: receives the enriched batch."""
    SHIPPED.append(event)
    return {"shipped": [item["order_id"] for item in event]}
