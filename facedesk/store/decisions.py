"""Reviewers' decisions on candidates (`decisions`, with their FISWG checklists), the second
reviews of possible leads (`lead_reviews`) and the independent evidence recorded for
confirmed leads (`lead_evidence`), behind the `Decision`, `LeadReview`, `NewDecision` and
`Evidence` records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from facedesk.domain.fiswg import Checklist
from facedesk.store.db import Connection, now_iso
from facedesk.store.gallery import Gallery


@dataclass(frozen=True)
class LeadReview:
    """A supervisor's second review of a possible lead."""

    id: int
    reviewer: str
    verdict: str
    rationale: str
    blind: int
    created_at: str
    audit_seq: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """A decision as stored, with its case's number and training flag and its second
    review (or None). `status`: see `lead_status`."""

    id: int
    created_at: str
    reviewer: str
    decision: str
    rationale: str
    first_impression: str | None
    blind_review: int
    search_id: int  # every decision of a case has its search
    case_id: int
    rank: int
    person_id: str
    face_id: int
    distance: float
    similarity: float
    second_review: int
    audit_seq: int | None
    training: bool
    case_number: str
    review: LeadReview | None
    checklist: Checklist | None = None  # None: recorded without one (or before them)

    @property
    def status(self) -> str:
        """The lead's status (a key of the app's LEAD_STATUS): not a lead, a training
        decision, the second review's verdict, pending one, or confirmed without one
        (the two-person rule was off)."""
        if self.decision != "possible_lead":
            return "not_a_lead"
        if self.training:
            return "training"
        if self.review is not None:
            return self.review.verdict
        return "pending" if self.second_review else "confirmed"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field, `review` as a dict (or None), and `status`."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["review"] = None if self.review is None else self.review.as_dict()
        d["checklist"] = None if self.checklist is None else self.checklist.as_dict()
        d["status"] = self.status
        return d


@dataclass(frozen=True)
class NewDecision:
    """A decision to store, named as the `decisions` columns."""

    reviewer: str
    decision: str
    rationale: str
    blind_review: int
    probe_sha256: str
    probe_path: str
    probe_box: str  # JSON
    engine_id: str
    gallery_version: int
    persons_searched: int
    person_id: str
    face_id: int
    rank: int
    distance: float
    similarity: float
    first_impression: str | None = None
    case_id: int | None = None
    search_id: int | None = None
    second_review: int = 0
    audit_seq: int | None = None
    created_at: str = ""
    checklist: str | None = None  # JSON (facedesk.domain.fiswg.Checklist.to_json)

    @classmethod
    def of(cls, values: dict[str, Any]) -> NewDecision:
        """From a dict of column values (created_at defaults to now)."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown decision fields: {', '.join(sorted(unknown))}")
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class DecisionRow(NewDecision):
    """A row of `decisions` as stored: its id and every column."""

    id: int


_ROW_COLUMNS = ("id", *(f.name for f in fields(NewDecision)))


def decision_rows(gallery: Gallery, probe_sha256: str | None = None) -> list[DecisionRow]:
    """Every stored decision (or those on one probe) as its row, oldest first."""
    sql = f"SELECT {', '.join(_ROW_COLUMNS)} FROM decisions"
    args: tuple[str, ...] = ()
    if probe_sha256:
        sql, args = sql + " WHERE probe_sha256 = ?", (probe_sha256,)
    return [DecisionRow(**dict(zip(_ROW_COLUMNS, r, strict=True)))
            for r in gallery.conn.execute(sql + " ORDER BY id", args)]


_DECISION_SQL = (
    "SELECT d.id, d.created_at, d.reviewer, d.decision, d.rationale, d.first_impression, "
    "d.blind_review, d.search_id, d.case_id, d.rank, d.person_id, d.face_id, d.distance, "
    "d.similarity, d.second_review, d.audit_seq, c.training, c.number, "
    "r.id, r.reviewer, r.verdict, r.rationale, r.blind, r.created_at, r.audit_seq, "
    "d.checklist "
    "FROM decisions d JOIN cases c ON c.id = d.case_id "
    "LEFT JOIN lead_reviews r ON r.decision_id = d.id")


def _decision(row: Sequence[Any]) -> Decision:
    review = None if row[18] is None else LeadReview(*row[18:25])
    return Decision(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                    row[9], row[10], row[11], row[12], row[13], row[14], row[15],
                    bool(row[16]), row[17], review, Checklist.from_json(row[25]))


def decisions(gallery: Gallery, case_id: int | None = None) -> list[Decision]:
    """Decisions of a case (or of every case), oldest first."""
    sql = _DECISION_SQL
    args: tuple[int, ...] = ()
    if case_id is not None:
        sql, args = sql + " WHERE d.case_id = ?", (case_id,)
    return [_decision(r) for r in gallery.conn.execute(sql + " ORDER BY d.id", args)]


def find_decision(gallery: Gallery, decision_id: int) -> Decision | None:
    row = gallery.conn.execute(_DECISION_SQL + " WHERE d.id = ?", (decision_id,)).fetchone()
    return None if row is None else _decision(row)


def pending_leads(gallery: Gallery, case_id: int | None = None) -> list[Decision]:
    """Possible leads waiting for a second review, oldest first: of one case (open or
    closed), or of every open case."""
    where = ("d.decision = 'possible_lead' AND d.second_review = 1 AND c.training = 0 "
             "AND r.id IS NULL")
    args: tuple[int, ...] = ()
    if case_id is None:
        where += " AND c.closed_at IS NULL"
    else:
        where += " AND d.case_id = ?"
        args = (case_id,)
    return [_decision(r) for r in gallery.conn.execute(
        f"{_DECISION_SQL} WHERE {where} ORDER BY d.id", args)]


def decided(gallery: Gallery, search_id: int, rank: int) -> bool:
    """Whether candidate `rank` of a search has a decision."""
    return gallery.conn.execute("SELECT 1 FROM decisions WHERE search_id = ? AND rank = ?",
                                (search_id, rank)).fetchone() is not None


def decisions_of_searches(gallery: Gallery, search_ids: Sequence[int]) -> list[int]:
    """The ids of the decisions on these searches' candidates."""
    if not search_ids:
        return []
    marks = ",".join("?" * len(search_ids))
    return [r[0] for r in gallery.conn.execute(
        f"SELECT id FROM decisions WHERE search_id IN ({marks}) ORDER BY id", search_ids)]


def insert_decision(conn: Connection, new: NewDecision) -> int:
    """Store a decision; its id."""
    row = asdict(new)
    row["created_at"] = row["created_at"] or now_iso()
    cur = conn.execute(f"INSERT INTO decisions({', '.join(row)}) "
                       f"VALUES ({', '.join('?' * len(row))}) RETURNING id", tuple(row.values()))
    return int(cur.fetchone()[0])


def set_decision_audit_seq(conn: Connection, decision_id: int, seq: int) -> None:
    conn.execute("UPDATE decisions SET audit_seq = ? WHERE id = ?", (seq, decision_id))


def insert_review(conn: Connection, *, decision_id: int, reviewer: str, verdict: str,
                  rationale: str, blind: bool, created_at: str) -> int:
    """Store a second review (its audit_seq 0 until `set_review_audit_seq`); its id."""
    cur = conn.execute(
        "INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, blind, "
        "created_at, audit_seq) VALUES (?, ?, ?, ?, ?, ?, 0) RETURNING id",
        (decision_id, reviewer, verdict, rationale, int(blind), created_at))
    return int(cur.fetchone()[0])


def set_review_audit_seq(conn: Connection, review_id: int, seq: int) -> None:
    conn.execute("UPDATE lead_reviews SET audit_seq = ? WHERE id = ?", (seq, review_id))


# --- independent evidence of confirmed leads ---------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What independent evidence an analyst obtained for a confirmed lead (one item)."""

    id: int
    decision_id: int
    text: str
    recorded_by: str
    created_at: str
    audit_seq: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_of(gallery: Gallery, decision_id: int) -> list[Evidence]:
    """A decision's evidence items, oldest first."""
    return [Evidence(*r) for r in gallery.conn.execute(
        "SELECT id, decision_id, text, recorded_by, created_at, audit_seq FROM lead_evidence "
        "WHERE decision_id = ? ORDER BY id", (decision_id,))]


def insert_evidence(conn: Connection, *, decision_id: int, text: str,
                    recorded_by: str, created_at: str) -> int:
    """Store an evidence item (its audit_seq 0 until `set_evidence_audit_seq`); its id."""
    row = conn.execute(
        "INSERT INTO lead_evidence(decision_id, text, recorded_by, created_at, audit_seq) "
        "VALUES (?, ?, ?, ?, 0) RETURNING id",
        (decision_id, text, recorded_by, created_at)).fetchone()
    return int(row[0])


def set_evidence_audit_seq(conn: Connection, evidence_id: int, seq: int) -> None:
    conn.execute("UPDATE lead_evidence SET audit_seq = ? WHERE id = ?", (seq, evidence_id))
