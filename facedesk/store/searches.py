"""Searches of cases as stored (`searches`, `search_frames`) behind the `StoredSearch` and
`SearchFrame` records, and the deletion the retention purge makes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from facedesk.store.db import Connection, Db, connection
from facedesk.store.gallery import Gallery


@dataclass(frozen=True)
class StoredSearch:
    """One search of a case as stored (without its probe bytes): `candidates`, `quality`,
    `lookalikes` and `provenance` are the JSON documents stored with it."""

    id: int
    case_id: int
    user_id: str
    created_at: str
    probe_sha256: str
    probe_name: str
    probe_box: list[int]
    quality: dict[str, Any]
    engine_id: str
    gallery_version: int
    persons_searched: int
    faces_searched: int
    threshold: float
    top_k: int
    calibration_source: str | None
    candidates: list[dict[str, Any]]
    audit_seq: int
    purged_at: str | None
    has_probe_image: bool
    lookalikes: dict[str, Any] | None
    provenance: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (has_probe_image as 0 or 1, as it always was)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["has_probe_image"] = int(self.has_probe_image)
        return d

    def candidate(self, rank: int) -> dict[str, Any] | None:
        """The candidate of rank `rank` this search showed, or None."""
        return next((c for c in self.candidates if c["rank"] == rank), None)


@dataclass(frozen=True)
class SearchFrame:
    """A frame a clip search used: its place in the provenance, number, time, PNG."""

    position: int
    frame: int
    time_s: float
    png: bytes | None
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_SEARCH_SQL = (
    "SELECT id, case_id, user_id, created_at, probe_sha256, probe_name, probe_box, "
    "quality, engine_id, gallery_version, persons_searched, faces_searched, threshold, "
    "top_k, calibration_source, candidates, audit_seq, purged_at, "
    "probe_image IS NOT NULL, lookalikes, provenance FROM searches ")


def _search(r: Sequence[Any]) -> StoredSearch:
    def doc(v: Any) -> Any:
        return None if v is None else json.loads(v)

    return StoredSearch(
        r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]), r[8], r[9],
        r[10], r[11], r[12], r[13], r[14], json.loads(r[15]), r[16], r[17], bool(r[18]),
        doc(r[19]), doc(r[20]))


def searches(gallery: Gallery, case_id: int) -> list[StoredSearch]:
    """A case's searches, oldest first."""
    return [_search(r) for r in gallery.conn.execute(
        _SEARCH_SQL + "WHERE case_id = ? ORDER BY id", (case_id,))]


def find_search(gallery: Gallery, search_id: int) -> StoredSearch | None:
    row = gallery.conn.execute(_SEARCH_SQL + "WHERE id = ?", (search_id,)).fetchone()
    return None if row is None else _search(row)


def search_frames(gallery: Gallery, search_id: int) -> list[SearchFrame]:
    """The frames a clip search used, in the order of its provenance."""
    rows = gallery.conn.execute(
        "SELECT position, frame, time_s, png, sha256 FROM search_frames WHERE search_id = ? "
        "ORDER BY position", (search_id,))
    return [SearchFrame(r[0], r[1], r[2], None if r[3] is None else bytes(r[3]), r[4])
            for r in rows]


def probe_image(gallery: Gallery, search_id: int) -> bytes | None:
    row = gallery.conn.execute("SELECT probe_image FROM searches WHERE id = ?",
                               (search_id,)).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def insert_search(conn: Connection, *, case_id: int, user_id: str, created_at: str,
                  probe_sha256: str, probe_name: str, probe_image: bytes,
                  probe_box: list[int], quality: dict[str, Any], engine_id: str,
                  gallery_version: int, persons_searched: int, faces_searched: int,
                  threshold: float, top_k: int, calibration_source: str | None,
                  candidates: list[dict[str, Any]], lookalikes: dict[str, Any] | None,
                  provenance: dict[str, Any] | None) -> int:
    """Store a search (its audit_seq 0 until `set_search_audit_seq`); its id."""
    cur = conn.execute(
        "INSERT INTO searches(case_id, user_id, created_at, probe_sha256, probe_name, "
        "probe_image, probe_box, quality, engine_id, gallery_version, persons_searched, "
        "faces_searched, threshold, top_k, calibration_source, candidates, audit_seq, "
        "lookalikes, provenance) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?) RETURNING id",
        (case_id, user_id, created_at, probe_sha256, probe_name, probe_image,
         json.dumps(probe_box), json.dumps(quality), engine_id, gallery_version,
         persons_searched, faces_searched, threshold, top_k, calibration_source,
         json.dumps(candidates), None if lookalikes is None else json.dumps(lookalikes),
         None if provenance is None else json.dumps(provenance)))
    return int(cur.fetchone()[0])


def insert_frames(conn: Connection, search_id: int,
                  frames: Sequence[tuple[int, float, bytes]]) -> None:
    """Store a clip search's frames (frame number, time, PNG), in order."""
    for pos, (frame, time_s, png) in enumerate(frames):
        conn.execute(
            "INSERT INTO search_frames(search_id, position, frame, time_s, png, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (search_id, pos, frame, time_s, png, hashlib.sha256(png).hexdigest()))


def set_search_audit_seq(conn: Connection, search_id: int, seq: int) -> None:
    conn.execute("UPDATE searches SET audit_seq = ? WHERE id = ?", (seq, search_id))


@dataclass(frozen=True)
class SearchAge:
    """What the retention rule reads of a search."""

    id: int
    case_id: int
    case_number: str
    probe_sha256: str


def searches_before(gallery: Gallery, cutoff: str) -> list[SearchAge]:
    """The searches made before `cutoff` (ISO time), oldest first."""
    return [SearchAge(*r) for r in gallery.conn.execute(
        "SELECT s.id, s.case_id, c.number, s.probe_sha256 FROM searches s "
        "JOIN cases c ON c.id = s.case_id WHERE s.created_at < ? ORDER BY s.id", (cutoff,))]


def delete_searches(conn: Connection, search_ids: Sequence[int],
                    decision_ids: Sequence[int]) -> list[int]:
    """Delete searches with their frames, and the decisions `decision_ids` (theirs) with
    their second reviews; the ids of the second reviews deleted."""
    reviews: list[int] = []
    if not search_ids:
        return reviews
    s_marks = ",".join("?" * len(search_ids))
    if decision_ids:
        d_marks = ",".join("?" * len(decision_ids))
        reviews = [r[0] for r in conn.execute(
            f"SELECT id FROM lead_reviews WHERE decision_id IN ({d_marks})", decision_ids)]
        conn.execute(f"DELETE FROM lead_reviews WHERE decision_id IN ({d_marks})",
                     decision_ids)
        conn.execute(f"DELETE FROM decisions WHERE id IN ({d_marks})", decision_ids)
    conn.execute(f"DELETE FROM search_frames WHERE search_id IN ({s_marks})", search_ids)
    conn.execute(f"DELETE FROM searches WHERE id IN ({s_marks})", search_ids)
    return reviews


# --- re-runs: which faces a search searched ------------------------------------------------


def nth_face_id(db: Db, n: int) -> int:
    """The id of the `n`-th face by id (0 when `n` < 1 or there are fewer faces). Faces
    are never deleted and their ids only grow, so the faces a search of `n` faces (at its
    gallery version) searched are exactly those with an id up to this one."""
    if n < 1:
        return 0
    row = connection(db).execute(
        "SELECT id FROM faces ORDER BY id LIMIT 1 OFFSET ?", (n - 1,)).fetchone()
    return 0 if row is None else int(row[0])


def faces_after(db: Db, face_id: int) -> int:
    """How many faces have an id above `face_id` (imported after it)."""
    return int(connection(db).execute(
        "SELECT count(*) FROM faces WHERE id > ?", (face_id,)).fetchone()[0])

