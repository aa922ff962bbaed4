"""Cases: the `cases` table behind the `Case` record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facedesk.store.db import Connection, Db, connection
from facedesk.store.gallery import Gallery


@dataclass(frozen=True)
class Case:
    id: int
    number: str
    purpose: str
    purpose_detail: str
    training: bool
    opened_by: str
    opened_at: str
    closed_by: str | None
    closed_at: str | None
    closing_note: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def label(self) -> str:
        state = "open" if self.is_open else "closed"
        kind = ", training" if self.training else ""
        return f"Case {self.number} ({state}{kind}): {self.purpose}"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "id", "number", "purpose", "purpose_detail", "training", "opened_by",
            "opened_at", "closed_by", "closed_at", "closing_note")}


_CASE_SQL = ("SELECT id, number, purpose, purpose_detail, training, opened_by, opened_at, "
             "closed_by, closed_at, closing_note FROM cases")


def _case(row: Sequence[Any]) -> Case:
    return Case(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8],
                row[9])


def cases(gallery: Gallery, *, open_only: bool = False) -> list[Case]:
    """Every case (or the open ones), newest first."""
    sql = _CASE_SQL + (" WHERE closed_at IS NULL" if open_only else "") + " ORDER BY id DESC"
    return [_case(r) for r in gallery.conn.execute(sql)]


def find_case(gallery: Gallery, case: int | str) -> Case | None:
    """A case by id (int) or by case number (str), or None."""
    if isinstance(case, int):
        row = gallery.conn.execute(_CASE_SQL + " WHERE id = ?", (case,)).fetchone()
    else:
        row = gallery.conn.execute(_CASE_SQL + " WHERE number = ?", (case.strip(),)).fetchone()
    return None if row is None else _case(row)


def insert_case(conn: Connection, *, number: str, purpose: str, detail: str,
                training: bool, opened_by: str, opened_at: str) -> int | None:
    """A new case's id; None if a case `number` exists already."""
    if conn.execute("SELECT 1 FROM cases WHERE number = ?", (number,)).fetchone():
        return None
    cur = conn.execute(
        "INSERT INTO cases(number, purpose, purpose_detail, training, opened_by, opened_at)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (number, purpose, detail, int(training), opened_by, opened_at))
    return int(cur.fetchone()[0])


def mark_closed(conn: Connection, case_id: int, *, closed_by: str, closed_at: str,
                note: str) -> bool:
    """Close an open case; False if it was closed already."""
    return bool(conn.execute(
        "UPDATE cases SET closed_by = ?, closed_at = ?, closing_note = ? "
        "WHERE id = ? AND closed_at IS NULL", (closed_by, closed_at, note, case_id)).rowcount)


# --- a case's records as stored, every column (the disclosure package) -----------------------


def _rows(db: Db, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    cur = connection(db).execute(sql, tuple(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def case_search_rows(db: Db, case_id: int) -> list[dict[str, Any]]:
    """Every column of a case's searches as stored (BLOBs as bytes), oldest first: new
    columns appear here without a change."""
    return _rows(db, "SELECT * FROM searches WHERE case_id = ? ORDER BY id", (case_id,))


def case_frame_rows(db: Db, case_id: int) -> list[dict[str, Any]]:
    """Every column of the frames of a case's clip searches, in search and frame order."""
    return _rows(db, "SELECT f.* FROM search_frames f JOIN searches s ON s.id = f.search_id "
                     "WHERE s.case_id = ? ORDER BY f.search_id, f.position", (case_id,))


def case_decision_rows(db: Db, case_id: int) -> list[dict[str, Any]]:
    """Every column of a case's decisions as stored, oldest first."""
    return _rows(db, "SELECT * FROM decisions WHERE case_id = ? ORDER BY id", (case_id,))


def case_evidence_rows(db: Db, case_id: int) -> list[dict[str, Any]]:
    """Every column of the independent evidence recorded for a case's leads, oldest
    first."""
    return _rows(db, "SELECT e.* FROM lead_evidence e JOIN decisions d ON d.id = e.decision_id "
                     "WHERE d.case_id = ? ORDER BY e.id", (case_id,))


def case_review_rows(db: Db, case_id: int) -> list[dict[str, Any]]:
    """Every column of the second reviews of a case's decisions, oldest first."""
    return _rows(db, "SELECT r.* FROM lead_reviews r JOIN decisions d ON d.id = r.decision_id "
                     "WHERE d.case_id = ? ORDER BY r.id", (case_id,))
