"""Event buses: rules, targets, PutEvents, input transformation, journeys."""

from ._bus import EventBus, Rule
from ._entries import PutEventsRequestEntry, PutEventsResponse, PutEventsResultEntry
from ._journey import Attempt, Journey, TargetDelivery

__all__ = ["Attempt", "EventBus", "Journey", "PutEventsRequestEntry", "PutEventsResponse", "PutEventsResultEntry",
           "Rule", "TargetDelivery"]
