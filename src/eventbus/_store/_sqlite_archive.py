"""``SqliteStore``'s archives: the tables and statements of ``SqliteArchiveStore``
(``eventbus._archive._sqlite``, shared by the two), in the work store's own file.

``SqliteStore`` is an ``ArchiveStore`` too: ``SqliteArchives`` gives it the
methods, on its connection, lock and write transactions, and ``create_tables``
adds the ``archives`` and ``events`` tables to its file when it opens.  Several
processes may share the file's archives as they share its work: nothing about
an archive is cached in a process (see ``eventbus._archive._sqlite``).
"""

from __future__ import annotations

from .._archive._sqlite import SqliteArchives, create_tables

__all__ = ["SqliteArchives", "create_tables"]
