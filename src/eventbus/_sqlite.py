"""What eventbus's sqlite files share: how one is opened, and one write transaction.

Both the archive store and the work store keep one connection in autocommit
mode (each write is one explicit ``BEGIN IMMEDIATE`` transaction), in WAL
mode with the caller's ``synchronous`` and busy timeout, used from any
thread under the store's own lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from ._exceptions import ValidationError
from ._validate import check_seconds, short, wrong_type

__all__ = ["Synchronous", "checked_settings", "connect", "write_transaction"]

Synchronous = Literal["NORMAL", "FULL"]


def checked_settings(path: object, synchronous: object, busy_timeout: object) -> tuple[Path, Synchronous, int]:
    """``(path, synchronous, busy timeout in milliseconds)``, each checked."""
    if not isinstance(path, str | Path):
        raise wrong_type("path", path, "<class 'str'>, <class 'pathlib.Path'>")
    if synchronous not in ("NORMAL", "FULL"):
        raise ValidationError(f"synchronous must be 'NORMAL' or 'FULL', not {short(synchronous)!r}")
    timeout_ms = round(check_seconds("busy_timeout", busy_timeout, 0.0, 3600.0) * 1000)
    return Path(path), synchronous, timeout_ms


def connect(path: Path, synchronous: Synchronous, timeout_ms: int) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode, WAL, with the settings applied
    (``sqlite3.Error`` if the file cannot be opened; the connection is closed)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (the caller holds its store's lock); on any failure,
    the commit's too, rolled back, so the connection never stays inside a
    transaction the next write cannot begin, and nothing half-done is kept."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:  # (the first error is the one to report)
                pass
        raise
