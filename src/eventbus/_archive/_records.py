"""Archives and replays as ``describe_archive`` and ``describe_replay`` show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

__all__ = ["ACTIVE", "REPLAY_STATES", "Archive", "Replay", "ReplayState"]

ReplayState = Literal["STARTING", "RUNNING", "CANCELLING", "COMPLETED", "CANCELLED", "FAILED"]
REPLAY_STATES: Final = ("CANCELLED", "CANCELLING", "COMPLETED", "FAILED", "RUNNING", "STARTING")
ACTIVE: Final = frozenset({"STARTING", "RUNNING", "CANCELLING"})  # what AWS's 10 concurrent replays count


@dataclass(frozen=True, slots=True, kw_only=True)
class Archive:
    """An archive (a snapshot; ``as_aws()`` gives AWS's DescribeArchive shape)."""

    name: str
    arn: str
    event_source_arn: str
    event_pattern: str | None
    retention_days: int
    description: str | None
    creation_time: datetime
    event_count: int
    size_bytes: int
    state: Literal["ENABLED"] = "ENABLED"
    state_reason: str | None = None  # set when the store failed to keep events

    def as_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ArchiveArn": self.arn, "ArchiveName": self.name,
                               "EventSourceArn": self.event_source_arn}
        if self.description is not None:
            out["Description"] = self.description
        if self.event_pattern is not None:
            out["EventPattern"] = self.event_pattern
        out["State"] = self.state
        if self.state_reason is not None:
            out["StateReason"] = self.state_reason
        out.update({"RetentionDays": self.retention_days, "SizeBytes": self.size_bytes,
                    "EventCount": self.event_count, "CreationTime": self.creation_time})
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """A replay (a snapshot; ``as_aws()`` gives AWS's DescribeReplay shape).
    ``event_last_replayed_time`` is the event time of the last event replayed;
    ``events_replayed`` (eventbus's own) counts the events resent so far."""

    name: str
    arn: str
    description: str | None
    state: ReplayState
    state_reason: str | None
    event_source_arn: str
    destination_arn: str
    filter_arns: tuple[str, ...]
    event_start_time: datetime
    event_end_time: datetime
    event_last_replayed_time: datetime | None
    replay_start_time: datetime
    replay_end_time: datetime | None
    events_replayed: int

    def as_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ReplayName": self.name, "ReplayArn": self.arn}
        if self.description is not None:
            out["Description"] = self.description
        out["State"] = self.state
        if self.state_reason is not None:
            out["StateReason"] = self.state_reason
        out["EventSourceArn"] = self.event_source_arn
        destination: dict[str, Any] = {"Arn": self.destination_arn}
        if self.filter_arns:
            destination["FilterArns"] = list(self.filter_arns)
        out.update({"Destination": destination, "EventStartTime": self.event_start_time,
                    "EventEndTime": self.event_end_time})
        if self.event_last_replayed_time is not None:
            out["EventLastReplayedTime"] = self.event_last_replayed_time
        out["ReplayStartTime"] = self.replay_start_time
        if self.replay_end_time is not None:
            out["ReplayEndTime"] = self.replay_end_time
        return out
