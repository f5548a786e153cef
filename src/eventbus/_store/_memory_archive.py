"""``MemoryStore``'s archives: a ``MemoryArchiveStore`` inside the work store.

``MemoryStore`` is an ``ArchiveStore`` too: its archive methods are those of
the ``MemoryArchiveStore`` it holds (its own lock, apart from the work
store's), so that ``EventBus(store=MemoryStore())`` keeps its archives with
its deliveries, lost with the process as they are.  Like every other method
of the work store, they raise ``ValidationError`` once the store is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .._archive._store import MemoryArchiveStore

if TYPE_CHECKING:
    from .._archive._store import Record, Stored

__all__ = ["MemoryArchiveStore", "MemoryArchives"]


class _Memory(Protocol):
    """What ``MemoryArchives`` needs of its store."""

    @property
    def _archived(self) -> MemoryArchiveStore: ...

    def _check_open(self) -> None: ...


class MemoryArchives:
    """The ``ArchiveStore`` methods of ``MemoryStore``, given to its
    ``_archived`` (a ``MemoryArchiveStore``) once the store is checked open."""

    def save_archive(self: _Memory, archive: str, source: str, definition: dict[str, Any], *,
                     create: bool = False) -> bool:
        self._check_open()
        return self._archived.save_archive(archive, source, definition, create=create)

    def drop_archive(self: _Memory, archive: str) -> None:
        self._check_open()
        self._archived.drop_archive(archive)

    def archives(self: _Memory, source: str | None = None) -> list[dict[str, Any]]:
        self._check_open()
        return self._archived.archives(source)

    def append(self: _Memory, records: Sequence[Record]) -> None:
        self._check_open()
        self._archived.append(records)

    def read(self: _Memory, archive: str, start: int, end: int, *, after: tuple[int, int] | None = None,
             ingested_since: int = 0, up_to: int | None = None, limit: int = 256) -> list[Stored]:
        self._check_open()
        return self._archived.read(archive, start, end, after=after, ingested_since=ingested_since, up_to=up_to,
                                   limit=limit)

    def high_water(self: _Memory) -> int:
        self._check_open()
        return self._archived.high_water()

    def expire(self: _Memory, archive: str, ingested_before: int, *, limit: int | None = None) -> int:
        """(In one pass, whatever ``limit``: see ``MemoryArchiveStore.expire``.)"""
        self._check_open()
        return self._archived.expire(archive, ingested_before, limit=limit)

    def stats(self: _Memory, archive: str) -> tuple[int, int]:
        self._check_open()
        return self._archived.stats(archive)
