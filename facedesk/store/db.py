"""What the store's per-concern modules read from: a Gallery, or the connection of a
transaction in progress (`with gallery.write() as conn`: the caller's audit event is then
written in the same transaction)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from facedesk.store.gallery import Gallery

#: a Gallery, or the connection of a transaction in progress
Db = Union["Gallery", sqlite3.Connection]  # Gallery: imported for types only


def connection(db: Db) -> sqlite3.Connection:
    return db if isinstance(db, sqlite3.Connection) else db.conn


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
