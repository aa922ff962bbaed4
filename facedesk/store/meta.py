"""The gallery's own facts: the `meta` table (its id, creation time and version, that
grows with every write that changes the faces) and the `engines` that encoded its faces,
each with its identity document."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from facedesk.store.db import Connection, Db, connection, now_iso


@dataclass(frozen=True)
class EngineUse:
    """An engine that encoded faces of the gallery, and its identity document."""

    id: str
    identity: dict[str, Any] | None


def get(db: Db, key: str) -> str | None:
    row = connection(db).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def bump_version(conn: Connection) -> None:
    """One more write that changed the faces (search caches key on the version)."""
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")


def insert_engine(conn: Connection, engine_id: str, identity: dict[str, Any]) -> bool:
    """Record an engine unless it is known; whether it was new."""
    cur = conn.execute(
        "INSERT INTO engines(id, identity, first_used) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO NOTHING",
        (engine_id, json.dumps(identity, sort_keys=True), now_iso()),
    )
    return bool(cur.rowcount)


def engine_ids(db: Db) -> list[str]:
    """Engines that encoded at least one face of this gallery."""
    # an index probe per engine, not a scan of every face (seconds at 1M faces)
    return [r[0] for r in connection(db).execute(
        "SELECT id FROM engines e WHERE EXISTS "
        "(SELECT 1 FROM faces f WHERE f.engine_id = e.id) ORDER BY id")]


def engine_identity(db: Db, engine_id: str) -> dict[str, Any] | None:
    row = connection(db).execute("SELECT identity FROM engines WHERE id = ?",
                                 (engine_id,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))
