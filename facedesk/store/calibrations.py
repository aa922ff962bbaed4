"""Stored calibrations (table `calibrations`) and the one in use (meta 'calibration_id'):
every SQL statement on them. What a calibration is lives in facedesk.domain.rates; who may
put one in use, and the audit events, in facedesk.app.calibration."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from facedesk.store.db import Connection, Db, connection

#: the meta key naming the calibration in use (the key its audit record names)
IN_USE_KEY = "calibration_id"


@dataclass(frozen=True)
class StoredCalibration:
    """A stored calibration without its table (`data`), and whether it is in use."""

    id: int
    created_at: str
    kind: str  # 'gallery': measured on the gallery's own photos; 'reference': elsewhere
    engine_id: str
    source: str
    impostor_pairs: int
    genuine_pairs: int
    in_use: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def add(conn: Connection, *, created_at: str, kind: str, engine_id: str, source: str,
        impostor_pairs: int, genuine_pairs: int, data: str) -> int:
    """Store a calibration table (JSON `data`); its id."""
    cur = conn.execute(
        "INSERT INTO calibrations(created_at, kind, engine_id, source, impostor_pairs, "
        "genuine_pairs, data) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (created_at, kind, engine_id, source, impostor_pairs, genuine_pairs, data))
    return int(cur.fetchone()[0])


def stored(db: Db) -> list[StoredCalibration]:
    """Stored calibrations, oldest first, without their tables."""
    conn = connection(db)
    current = in_use_id(conn)
    return [StoredCalibration(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]),
                              int(r[5]), int(r[6]), int(r[0]) == current)
            for r in conn.execute(
                "SELECT id, created_at, kind, engine_id, source, impostor_pairs, "
                "genuine_pairs FROM calibrations ORDER BY id")]


def exists(db: Db, calibration_id: int) -> bool:
    return connection(db).execute("SELECT 1 FROM calibrations WHERE id = ?",
                                  (calibration_id,)).fetchone() is not None


def data(db: Db, calibration_id: int) -> str | None:
    """A stored calibration's table (JSON), or None when there is no such calibration."""
    row = connection(db).execute("SELECT data FROM calibrations WHERE id = ?",
                                 (calibration_id,)).fetchone()
    return None if row is None else str(row[0])


def in_use_id(db: Db) -> int | None:
    """The stored calibration in use, or None for the one shipped with FaceDesk."""
    row = connection(db).execute("SELECT value FROM meta WHERE key = ?",
                                 (IN_USE_KEY,)).fetchone()
    return int(row[0]) if row is not None and row[0] else None


def set_in_use(conn: Connection, calibration_id: int | None) -> None:
    """Name the calibration in use (None: the one shipped with FaceDesk)."""
    if calibration_id is None:
        conn.execute("DELETE FROM meta WHERE key = ?", (IN_USE_KEY,))
    else:
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                     "SET value = excluded.value", (IN_USE_KEY, str(calibration_id)))
