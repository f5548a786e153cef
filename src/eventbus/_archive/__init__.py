"""Archives: their records and the stores that keep their events (the bus archives and replays)."""

from ._records import Archive, Replay
from ._store import ArchiveStore, MemoryArchiveStore, SqliteArchiveStore

__all__ = ["Archive", "ArchiveStore", "MemoryArchiveStore", "Replay", "SqliteArchiveStore"]
