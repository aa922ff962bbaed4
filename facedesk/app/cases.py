"""Cases, the searches made in them, decisions, the second review of possible leads, and
retention.

Every search belongs to an open case (number, purpose, user). The search is stored as it
was shown: probe bytes and hash, settings, engine, gallery version and the whole
candidate list, and logged as an audit event. An analyst's "possible lead" stays pending
until a supervisor, a different user, confirms or overturns it (the two-person rule, on by
default); only a confirmed lead of a case that is not a training case is a case result.
Closed cases are read-only. Retention deletes the searches (probe images, candidate lists,
decisions and second reviews) older than the administrator's period of cases with no
confirmed or pending lead, leaving a purge event; the audit log keeps its events (probe
hashes, candidate ids, rationales) and its chain still verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from facedesk.app import audit
from facedesk.app.accounts import Session, settings
from facedesk.app.search import Probe, SearchResult
from facedesk.domain import lookalikes
from facedesk.domain.faces import Face
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.domain.quality import check as quality_checks
from facedesk.errors import CaseError, LeadError, NotPermitted
from facedesk.store import Gallery
from facedesk.store.gallery import now_iso

#: a reviewer's decision on one candidate
DECISIONS: dict[str, str] = {
    "possible_lead": "Possible lead",
    "not_the_person": "Not the person",
    "inconclusive": "Inconclusive",
}
VERDICTS: dict[str, str] = {"confirmed": "Confirmed", "overturned": "Overturned"}

#: a lead's status, in words
LEAD_STATUS: dict[str, str] = {
    "pending": "Pending second review",
    "confirmed": "Confirmed lead",
    "overturned": "Overturned by second reviewer",
    "training": "Training decision (never a case result)",
    "not_a_lead": "Not a lead",
}


# --- cases -------------------------------------------------------------------------------


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
    sql = _CASE_SQL + (" WHERE closed_at IS NULL" if open_only else "") + " ORDER BY id DESC"
    return [_case(r) for r in gallery.conn.execute(sql)]


def get_case(gallery: Gallery, case: int | str) -> Case:
    """A case by id (int) or by case number (str)."""
    if isinstance(case, int):
        row = gallery.conn.execute(_CASE_SQL + " WHERE id = ?", (case,)).fetchone()
    else:
        row = gallery.conn.execute(_CASE_SQL + " WHERE number = ?", (case.strip(),)).fetchone()
    if row is None:
        raise CaseError(f"there is no case {case}")
    return _case(row)


def open_case(session: Session, number: str, purpose: str, detail: str = "") -> Case:
    """Open a case. `purpose` is one of the administrator's purposes; `detail` is free
    text (required when the purpose is "Other")."""
    session.require("open_case")
    number, purpose, detail = number.strip(), purpose.strip(), detail.strip()
    s = session.settings()
    if not number:
        raise CaseError("enter the case number")
    if purpose not in s.purposes and purpose.lower() != "other":
        raise CaseError(f"choose a purpose from the list ({'; '.join(s.purposes)}) or "
                        "'Other' with a description")
    if purpose.lower() == "other" and not detail:
        raise CaseError("describe the purpose (the purpose is 'Other')")
    gallery = session.gallery
    with gallery.write() as conn:
        if conn.execute("SELECT 1 FROM cases WHERE number = ?", (number,)).fetchone():
            raise CaseError(f"case {number} already exists: open it from the case list")
        cur = conn.execute(
            "INSERT INTO cases(number, purpose, purpose_detail, training, opened_by, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (number, purpose, detail, int(s.training), session.user_id, now_iso()))
        case_id = int(cur.lastrowid or 0)
        audit.append(conn, gallery.gallery_id, "case_opened",
                     {"number": number, "purpose": purpose, "detail": detail,
                      "training": s.training}, user_id=session.user_id, case_id=case_id,
                     records={"cases": [case_id]})
    return get_case(gallery, case_id)


def visible_cases(session: Session, *, open_only: bool = False) -> list[Case]:
    """The cases `session`'s user may read: every case, or for a trainer the training
    cases only (a trainer never sees a real case)."""
    session.require("read_cases")
    found = cases(session.gallery, open_only=open_only)
    return [c for c in found if c.training] if session.user.role == "trainer" else found


def readable_case(session: Session, case: int | str) -> Case:
    """A case `session`'s user may read (see `visible_cases`)."""
    session.require("read_cases")
    c = get_case(session.gallery, case)
    _require_case_role(session, c)
    return c


def readable_events(session: Session, *, case_id: int | None = None,
                    limit: int | None = None) -> list[audit.Event]:
    """The audit events `session`'s user may read: all, or for a trainer only those of
    training cases and their own events outside cases."""
    session.require("read_cases")
    if session.user.role != "trainer":
        return audit.events(session.gallery, case_id=case_id, limit=limit)
    training = {c.id for c in cases(session.gallery) if c.training}
    found = [e for e in audit.events(session.gallery, case_id=case_id)
             if e.case_id in training or (e.case_id is None and e.user_id == session.user_id)]
    return found[-limit:] if limit else found


def close_case(session: Session, case: Case, note: str = "") -> Case:
    """Close a case (it becomes read-only). Refused while a possible lead of it waits for
    its second review: closed, the lead could never be reviewed."""
    session.require("close_case")
    _require_case_role(session, case)
    gallery = session.gallery
    with gallery.write() as conn:
        pending = pending_leads(gallery, case.id)
        if pending:
            ids = ", ".join(str(d["id"]) for d in pending)
            raise CaseError(f"case {case.number} has {len(pending)} possible lead(s) waiting "
                            f"for a second review (decision {ids}): a supervisor reviews "
                            "them first (facedesk leads review), then the case can be closed")
        closed = conn.execute(
            "UPDATE cases SET closed_by = ?, closed_at = ?, closing_note = ? "
            "WHERE id = ? AND closed_at IS NULL",
            (session.user_id, now_iso(), note.strip(), case.id)).rowcount
        if not closed:
            raise CaseError(f"case {case.number} is already closed")
        audit.append(conn, gallery.gallery_id, "case_closed",
                     {"number": case.number, "note": note.strip(),
                      "pending_leads_left": [d["id"] for d in pending]},
                     user_id=session.user_id, case_id=case.id, records={"cases": [case.id]})
    return get_case(gallery, case.id)


def _require_open(gallery: Gallery, case_id: int) -> Case:
    c = get_case(gallery, case_id)
    if not c.is_open:
        raise CaseError(f"case {c.number} is closed: a closed case is read-only")
    return c


# --- searches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSearch:
    """One search as stored and shown: `result` holds only the candidates shown (within
    the threshold, at most top_k)."""

    id: int
    case_id: int
    user_id: str
    created_at: str
    threshold: float
    result: SearchResult
    audit_seq: int


def shown_candidates(result: SearchResult, threshold: float, top_k: int) -> SearchResult:
    """The candidates a search shows under the administrator's threshold and top-K."""
    kept = [c for c in result.candidates if c.distance <= threshold][:top_k]
    return replace(result, candidates=kept, threshold=threshold)


def record_search(session: Session, case: Case, probe: Probe, face: Face,
                  result: SearchResult, probe_bytes: bytes, *,
                  provenance: dict[str, Any] | None = None,
                  frame_pngs: Sequence[bytes] = (),
                  adjustments: Sequence[dict[str, Any]] = ()) -> CaseSearch:
    """Store and log a search of `case`. The candidates shown are those of `result`
    within the settings' threshold, at most the settings' top_k or the number the search
    asked for, whichever is smaller (the top-K recorded). Returns the search with them.

    A probe taken from a clip passes its `provenance` (facedesk.domain.clips) and the PNG
    of every frame it lists, in its order; both are stored, and the provenance is also in
    the search's audit event, so `audit verify` covers it. `adjustments`: what was done
    to the probe before (e.g. {"kind": "rotated", "degrees": -40, "from_sha256": ...,
    "from_name": ...}), stored and logged with the search."""
    session.require("search")
    gallery = session.gallery
    s = session.settings()
    _require_case_role(session, case)
    top_k = min(s.top_k, result.top_k)
    shown = shown_candidates(result, s.threshold, top_k)
    warnings = [c.warning for c in quality_checks(face.quality) if not c.ok]
    quality = {"figures": face.quality.as_dict(), "warnings": warnings,
               "detector": face.detector, "faces_in_probe": len(probe.faces),
               "face_index": face.index,
               # the second reviewer's compare view aligns the probe face on them
               "landmarks": [[int(x), int(y)] for x, y in face.landmarks]}
    if adjustments:
        quality["adjustments"] = [dict(a) for a in adjustments]
    candidates = [c.as_dict() for c in shown.candidates]
    probe_name = probe.path.replace("\\", "/").rsplit("/", 1)[-1]
    looks = stored_lookalikes(shown, s.threshold)  # issue 16: the probe-specific curve
    frames = list((provenance or {}).get("frames") or [])
    if provenance is not None and len(frames) != len(frame_pngs):
        raise ValueError("a clip search needs the PNG of every frame its provenance lists")
    with gallery.write() as conn:
        _require_open(gallery, case.id)
        cur = conn.execute(
            "INSERT INTO searches(case_id, user_id, created_at, probe_sha256, probe_name, "
            "probe_image, probe_box, quality, engine_id, gallery_version, persons_searched, "
            "faces_searched, threshold, top_k, calibration_source, candidates, audit_seq, "
            "lookalikes, provenance) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (case.id, session.user_id, now_iso(), probe.sha256, probe_name, probe_bytes,
             json.dumps(face.box.as_list()), json.dumps(quality), shown.engine_id,
             shown.gallery_version, shown.persons_searched, shown.faces_searched,
             s.threshold, top_k, shown.calibration_source, json.dumps(candidates),
             None if looks is None else json.dumps(looks),
             None if provenance is None else json.dumps(provenance)))
        search_id = int(cur.lastrowid or 0)
        for pos, (rec, png) in enumerate(zip(frames, frame_pngs, strict=True)):
            conn.execute(
                "INSERT INTO search_frames(search_id, position, frame, time_s, png, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (search_id, pos, int(rec["frame"]), float(rec["time_s"]), png,
                 hashlib.sha256(png).hexdigest()))
        extra = {} if provenance is None else {"provenance": provenance}
        ev = audit.append(conn, gallery.gallery_id, "search", {**extra,
            "id": search_id, "probe_sha256": probe.sha256, "probe_name": probe_name,
            "probe_box": face.box.as_list(), "engine_id": shown.engine_id,
            "gallery_version": shown.gallery_version,
            "persons_searched": shown.persons_searched, "threshold": s.threshold,
            "top_k": top_k, "calibration": shown.calibration_source,
            "quality_warnings": warnings, "lookalikes": looks,
            **({"probe_adjustments": [dict(a) for a in adjustments]} if adjustments else {}),
            "candidates": [{"rank": c["rank"], "person_id": c["person_id"],
                            "face_id": c["face_id"], "distance": c["distance"]}
                           for c in candidates],
        }, user_id=session.user_id, case_id=case.id, records={"searches": [search_id]})
        conn.execute("UPDATE searches SET audit_seq = ? WHERE id = ?", (ev.seq, search_id))
    return CaseSearch(search_id, case.id, session.user_id, ev.at, s.threshold, shown, ev.seq)


def stored_lookalikes(result: SearchResult, threshold: float) -> dict[str, Any] | None:
    """The probe-specific look-alike curve as a search stores and logs it, with its value
    at the administrator's threshold."""
    if result.lookalikes is None:
        return None
    return {**result.lookalikes.as_dict(),
            "at_threshold": lookalikes.expected_with_threshold(result.lookalikes, threshold)}


def searches(gallery: Gallery, case_id: int) -> list[dict[str, Any]]:
    """A case's searches (without probe bytes), oldest first."""
    return _searches(gallery, "case_id = ?", (case_id,))


def _searches(gallery: Gallery, where: str, args: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = gallery.conn.execute(
        "SELECT id, case_id, user_id, created_at, probe_sha256, probe_name, probe_box, "
        "quality, engine_id, gallery_version, persons_searched, faces_searched, threshold, "
        "top_k, calibration_source, candidates, audit_seq, purged_at, "
        "probe_image IS NOT NULL, lookalikes, provenance FROM searches "
        f"WHERE {where} ORDER BY id", args)
    cols = ("id", "case_id", "user_id", "created_at", "probe_sha256", "probe_name", "probe_box",
            "quality", "engine_id", "gallery_version", "persons_searched", "faces_searched",
            "threshold", "top_k", "calibration_source", "candidates", "audit_seq",
            "purged_at", "has_probe_image", "lookalikes", "provenance")
    out = []
    for r in rows:
        d = dict(zip(cols, r, strict=True))
        for k in ("probe_box", "quality", "candidates"):
            d[k] = json.loads(d[k])
        d["lookalikes"] = None if d["lookalikes"] is None else json.loads(d["lookalikes"])
        d["provenance"] = None if d["provenance"] is None else json.loads(d["provenance"])
        out.append(d)
    return out


def search_record(gallery: Gallery, search_id: int) -> dict[str, Any]:
    found = _searches(gallery, "id = ?", (search_id,))
    if not found:
        raise CaseError(f"there is no search {search_id} (purged, or never made)")
    return found[0]


def search_frames(gallery: Gallery, search_id: int) -> list[dict[str, Any]]:
    """The frames a clip search used (position, frame number, time, PNG, SHA-256), in
    the order of its provenance; [] for a search of a still."""
    rows = gallery.conn.execute(
        "SELECT position, frame, time_s, png, sha256 FROM search_frames WHERE search_id = ? "
        "ORDER BY position", (search_id,))
    return [{"position": r[0], "frame": r[1], "time_s": r[2],
             "png": None if r[3] is None else bytes(r[3]), "sha256": r[4]} for r in rows]


def probe_image(gallery: Gallery, search_id: int) -> bytes | None:
    row = gallery.conn.execute("SELECT probe_image FROM searches WHERE id = ?",
                               (search_id,)).fetchone()
    return None if row is None or row[0] is None else bytes(row[0])


def candidate_viewed(session: Session, search_id: int, rank: int) -> audit.Event:
    """Log that the user looked at a candidate of a search."""
    rec = search_record(session.gallery, search_id)
    cand = _shown(rec, rank)
    case = get_case(session.gallery, int(rec["case_id"]))
    return audit.record(session.gallery, "candidate_viewed",
                        {"search_id": search_id, "rank": rank,
                         "person_id": cand["person_id"], "face_id": cand["face_id"]},
                        user_id=session.user_id, case_id=case.id)


def _shown(rec: dict[str, Any], rank: int) -> dict[str, Any]:
    """The candidate of rank `rank` that a stored search showed."""
    cand: dict[str, Any] | None = next(
        (c for c in rec["candidates"] if c["rank"] == rank), None)
    if cand is None:
        raise CaseError(f"search {rec['id']} showed no candidate ranked {rank}")
    return cand


def _require_case_role(session: Session, case: Case) -> None:
    """Trainers work only in training cases (whatever the gallery's setting is now)."""
    if session.user.role == "trainer" and not case.training:
        raise NotPermitted(f"{session.user_id} (Trainer) may not work in case {case.number}: "
                           "trainers work in training cases only")


# --- decisions and the second review --------------------------------------------------------


def may_decide(session: Session, search: dict[str, Any]) -> bool:
    """The rule of who records decisions on a search's candidates: the user who made the
    search, or a supervisor (who may take over another analyst's search). Another analyst
    (or trainer) may not: the decision is the searcher's own comparison, and it must not
    be made in their name or around them."""
    return search["user_id"] == session.user_id or session.user.role == "supervisor"


def require_may_decide(session: Session, search: dict[str, Any]) -> None:
    if not may_decide(session, search):
        raise NotPermitted(f"search {search['id']} was made by {search['user_id']}: only they "
                           "or a supervisor record decisions on its candidates")


def decide(session: Session, search_id: int, rank: int, decision: str, rationale: str, *,
           first_impression: str | None = None, blind: bool = False) -> dict[str, Any]:
    """Record the user's decision on one candidate of one search of an open case."""
    session.require("decide")
    if decision not in DECISIONS:
        raise CaseError(f"decision must be one of: {', '.join(DECISIONS.values())}")
    if not rationale.strip():
        raise CaseError("a decision needs a rationale: say what you compared and saw")
    gallery = session.gallery
    rec = search_record(gallery, search_id)
    cand = _shown(rec, rank)
    case_id = int(rec["case_id"])
    case = get_case(gallery, case_id)
    _require_case_role(session, case)
    require_may_decide(session, rec)
    training = case.training
    s = settings(gallery)
    second = int(decision == "possible_lead" and s.two_person_rule and not training)
    with gallery.write() as conn:
        _require_open(gallery, case_id)
        if conn.execute("SELECT 1 FROM decisions WHERE search_id = ? AND rank = ?",
                        (search_id, rank)).fetchone():
            raise CaseError(f"candidate {rank} of this search already has a decision")
        row = {
            "created_at": now_iso(), "reviewer": session.user_id, "decision": decision,
            "rationale": rationale.strip(), "first_impression": first_impression,
            "blind_review": int(blind), "probe_sha256": rec["probe_sha256"],
            "probe_path": rec["probe_name"], "probe_box": json.dumps(rec["probe_box"]),
            "engine_id": rec["engine_id"], "gallery_version": rec["gallery_version"],
            "persons_searched": rec["persons_searched"], "person_id": cand["person_id"],
            "face_id": cand["face_id"], "rank": rank, "distance": cand["distance"],
            "similarity": cand["similarity"], "case_id": case_id, "search_id": search_id,
            "second_review": second, "audit_seq": 0,
        }
        cur = conn.execute(f"INSERT INTO decisions({', '.join(row)}) "
                           f"VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        row["id"] = int(cur.lastrowid or 0)
        ev = audit.append(conn, gallery.gallery_id, "decision", {
            "id": row["id"], "search_id": search_id, "rank": rank,
            "person_id": cand["person_id"], "face_id": cand["face_id"],
            "decision": decision, "rationale": row["rationale"],
            "reviewer": session.user_id, "first_impression": first_impression,
            "blind_review": int(blind), "distance": cand["distance"],
            "second_review": second, "training": training, "case_id": case_id,
        }, user_id=session.user_id, case_id=case_id, records={"decisions": [row["id"]]})
        conn.execute("UPDATE decisions SET audit_seq = ? WHERE id = ?", (ev.seq, row["id"]))
        row["audit_seq"] = ev.seq
    return row


_DECISION_SQL = (
    "SELECT d.id, d.created_at, d.reviewer, d.decision, d.rationale, d.first_impression, "
    "d.blind_review, d.search_id, d.case_id, d.rank, d.person_id, d.face_id, d.distance, "
    "d.similarity, d.second_review, d.audit_seq, c.training, c.number, "
    "r.id, r.reviewer, r.verdict, r.rationale, r.blind, r.created_at, r.audit_seq "
    "FROM decisions d JOIN cases c ON c.id = d.case_id "
    "LEFT JOIN lead_reviews r ON r.decision_id = d.id")
_DECISION_COLS = (
    "id", "created_at", "reviewer", "decision", "rationale", "first_impression",
    "blind_review", "search_id", "case_id", "rank", "person_id", "face_id", "distance",
    "similarity", "second_review", "audit_seq", "training", "case_number")
_REVIEW_COLS = ("id", "reviewer", "verdict", "rationale", "blind", "created_at", "audit_seq")


def _decision(row: Sequence[Any]) -> dict[str, Any]:
    n = len(_DECISION_COLS)
    d = dict(zip(_DECISION_COLS, row[:n], strict=True))
    d["training"] = bool(d["training"])
    d["review"] = None if row[n] is None else dict(zip(_REVIEW_COLS, row[n:], strict=True))
    d["status"] = lead_status(d)
    return d


def decisions(gallery: Gallery, case_id: int | None = None) -> list[dict[str, Any]]:
    """Decisions of a case (or of every case), oldest first, each with its `review` (or
    None) and `status` (LEAD_STATUS)."""
    sql = _DECISION_SQL
    args: tuple[int, ...] = ()
    if case_id is not None:
        sql, args = sql + " WHERE d.case_id = ?", (case_id,)
    return [_decision(r) for r in gallery.conn.execute(sql + " ORDER BY d.id", args)]


def decision(gallery: Gallery, decision_id: int) -> dict[str, Any]:
    row = gallery.conn.execute(_DECISION_SQL + " WHERE d.id = ?", (decision_id,)).fetchone()
    if row is None:
        raise LeadError(f"there is no decision {decision_id}")
    return _decision(row)


def lead_status(d: dict[str, Any]) -> str:
    if d["decision"] != "possible_lead":
        return "not_a_lead"
    if d["training"]:
        return "training"
    review = d.get("review")
    if review is not None:
        return str(review["verdict"])
    return "pending" if d["second_review"] else "confirmed"


def pending_leads(gallery: Gallery, case_id: int | None = None) -> list[dict[str, Any]]:
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


#: shown instead of a pending lead's rationale to everyone but its analyst, with blind
#: second review on
BLIND_HIDDEN = "(hidden until the second review: blind second review is on)"


def hidden_rationales(gallery: Gallery, viewer: str, case_id: int | None = None) -> set[int]:
    """The decisions whose rationale `viewer` may not read yet: with blind second review
    on, the possible leads still pending a second review that another user recorded (the
    analyst reads their own; everyone reads it once the lead is reviewed)."""
    if not settings(gallery).blind_second_review:
        return set()
    return {d["id"] for d in decisions(gallery, case_id)
            if d["status"] == "pending" and d["reviewer"] != viewer}


def export_audit(session: Session, out_dir: Path) -> audit.AuditExport:
    """`export_audit_steps` run to its end."""
    result = run_to_end(export_audit_steps(session, out_dir))
    assert result is not None  # nothing cancels it
    return result


def export_audit_steps(session: Session, out_dir: Path, *, cancel: CancelToken | None = None
                       ) -> Iterator[audit.ExportProgress]:
    """Export the whole audit log (audit.export_steps) for `session`'s user. With blind
    second review on, an export that would show its reader a rationale still hidden from
    them (another user's possible lead pending its second review) is refused, not
    redacted: the exported events must verify, and a redacted event would not."""
    session.require("export_audit")
    hidden = hidden_rationales(session.gallery, session.user_id)
    if hidden:
        ids = ", ".join(str(i) for i in sorted(hidden))
        raise LeadError(
            f"blind second review is on and {len(hidden)} possible lead(s) wait for their "
            f"second review (decision {ids}); the audit log holds their rationales, which "
            "stay hidden from you until then: export after the reviews")
    yield from audit.export_steps(session.gallery, out_dir, user_id=session.user_id,
                                  cancel=cancel)


def event_data(e: audit.Event, hidden: set[int]) -> dict[str, Any]:
    """An audit event's data as `hidden_rationales` lets the reader see it."""
    if e.kind == "decision" and e.data.get("id") in hidden and "rationale" in e.data:
        return {**e.data, "rationale": BLIND_HIDDEN}
    return e.data


def results(gallery: Gallery, case_id: int) -> list[dict[str, Any]]:
    """A case's results: its confirmed leads (never a training case's)."""
    return [d for d in decisions(gallery, case_id) if d["status"] == "confirmed"]


def review_lead(session: Session, decision_id: int, verdict: str, rationale: str, *,
                blind: bool = False) -> dict[str, Any]:
    """A supervisor's independent verdict on an analyst's pending possible lead."""
    session.require("review_lead")
    if verdict not in VERDICTS:
        raise LeadError(f"the verdict is one of: {', '.join(VERDICTS)}")
    if not rationale.strip():
        raise LeadError("a second review needs a rationale: say what you compared and saw")
    gallery = session.gallery
    with gallery.write() as conn:
        d = decision(gallery, decision_id)  # read under the write lock: one verdict only
        if d["reviewer"] == session.user_id:
            raise LeadError("the second reviewer must be a different person from the "
                            "analyst who recorded the lead")
        if d["status"] != "pending":
            raise LeadError(f"decision {decision_id} is not a pending possible lead "
                            f"({LEAD_STATUS[d['status']].lower()})")
        _require_open(gallery, d["case_id"])
        stamp = now_iso()
        cur = conn.execute(
            "INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, blind, "
            "created_at, audit_seq) VALUES (?, ?, ?, ?, ?, ?, 0)",
            (decision_id, session.user_id, verdict, rationale.strip(), int(blind), stamp))
        review_id = int(cur.lastrowid or 0)
        ev = audit.append(conn, gallery.gallery_id, "lead_review", {
            "id": review_id, "decision_id": decision_id, "reviewer": session.user_id,
            "verdict": verdict, "rationale": rationale.strip(), "blind": int(blind),
            "analyst": d["reviewer"], "person_id": d["person_id"],
        }, user_id=session.user_id, case_id=d["case_id"], records={"lead_reviews": [review_id]})
        conn.execute("UPDATE lead_reviews SET audit_seq = ? WHERE id = ?", (ev.seq, review_id))
    return decision(gallery, decision_id)


# --- the lead sheet's record ------------------------------------------------------------------


def lead_record(session: Session, decision_id: int) -> dict[str, Any]:
    """Everything a lead sheet shows about a confirmed lead, read from the gallery."""
    session.require("lead_sheet")
    gallery = session.gallery
    d = decision(gallery, decision_id)
    if d["status"] != "confirmed":
        raise LeadError(f"a lead sheet is only made for a confirmed lead; decision "
                        f"{decision_id} is: {LEAD_STATUS[d['status']].lower()}")
    case = get_case(gallery, d["case_id"])
    search = search_record(gallery, d["search_id"])
    image = probe_image(gallery, d["search_id"])
    engine = gallery.engine_identity(search["engine_id"]) or {}
    seqs = [search["audit_seq"], d["audit_seq"]]
    if d["review"]:
        seqs.append(d["review"]["audit_seq"])
    events = [e for e in (audit.event(gallery, s) for s in seqs) if e is not None]
    chosen = next(c for c in search["candidates"] if c["rank"] == d["rank"])
    users = {u: _user_name(gallery, u) for u in {d["reviewer"], search["user_id"],
                                                   (d["review"] or {}).get("reviewer")} if u}
    return {
        "case": case.as_dict(),
        "search": {k: v for k, v in search.items() if k != "candidates"},
        "candidates": search["candidates"],
        "candidate": chosen,
        "candidate_crop": gallery.face_crop(int(d["face_id"])),
        "probe_image": image,
        "frames": [{k: v for k, v in f.items() if k != "png"}
                   for f in search_frames(gallery, d["search_id"])],
        "decision": {k: v for k, v in d.items() if k != "review"},
        "review": d["review"],
        "users": users,
        "engine": {"id": search["engine_id"], "identity": engine},
        "gallery": {"id": gallery.gallery_id, "path": str(gallery.path),
                    "version": search["gallery_version"],
                    "persons_searched": search["persons_searched"],
                    "faces_searched": search["faces_searched"]},
        "audit": [{"seq": e.seq, "kind": e.kind, "at": e.at, "hash": e.hash} for e in events],
        "audit_head": (lambda h: None if h is None else {"seq": h.seq, "hash": h.hash})(
            audit.head(gallery)),
    }


def _user_name(gallery: Gallery, user_id: str) -> str:
    row = gallery.conn.execute("SELECT display_name FROM users WHERE id = ?",
                               (user_id,)).fetchone()
    return user_id if row is None else f"{row[0]} ({user_id})"


# --- retention ----------------------------------------------------------------------------------


@dataclass
class PurgePlan:
    retention_days: int | None
    cutoff: str | None
    searches: list[int]
    decisions: list[int]
    cases: list[str]
    probe_hashes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"retention_days": self.retention_days, "cutoff": self.cutoff,
                "searches": self.searches, "decisions": self.decisions,
                "cases": self.cases, "probe_sha256": self.probe_hashes}


def purge_plan(gallery: Gallery, *, now: datetime | None = None) -> PurgePlan:
    """What retention would purge now: the searches older than the retention period of
    cases with neither a confirmed lead nor a lead waiting for its second review (with
    the searches' decisions and second reviews; the audit log keeps its events)."""
    days = settings(gallery).retention_days
    if days is None:
        return PurgePlan(None, None, [], [], [], [])
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="seconds")
    keep_cases = {d["case_id"] for d in decisions(gallery)
                  if d["status"] in ("confirmed", "pending")}
    rows = gallery.conn.execute(
        "SELECT s.id, s.case_id, c.number, s.probe_sha256 FROM searches s "
        "JOIN cases c ON c.id = s.case_id WHERE s.created_at < ? ORDER BY s.id", (cutoff,))
    chosen = [r for r in rows if r[1] not in keep_cases]
    ids = [r[0] for r in chosen]
    dec_ids: list[int] = []
    if ids:
        marks = ",".join("?" * len(ids))
        dec_ids = [r[0] for r in gallery.conn.execute(
            f"SELECT id FROM decisions WHERE search_id IN ({marks}) ORDER BY id", ids)]
    return PurgePlan(days, cutoff, ids, dec_ids, sorted({r[2] for r in chosen}),
                     sorted({r[3] for r in chosen}))


def purge(session: Session, *, now: datetime | None = None) -> PurgePlan:
    """Purge what `purge_plan` names, and log what was purged."""
    session.require("purge")
    gallery = session.gallery
    with gallery.write() as conn:
        plan = purge_plan(gallery, now=now)  # under the write lock: nothing changes meanwhile
        if plan.retention_days is None:
            raise CaseError("no retention period is set: an administrator sets "
                            "retention_days")
        reviews: list[int] = []
        if plan.searches:
            s_marks = ",".join("?" * len(plan.searches))
            if plan.decisions:
                d_marks = ",".join("?" * len(plan.decisions))
                reviews = [r[0] for r in conn.execute(
                    f"SELECT id FROM lead_reviews WHERE decision_id IN ({d_marks})",
                    plan.decisions)]
                conn.execute(f"DELETE FROM lead_reviews WHERE decision_id IN ({d_marks})",
                             plan.decisions)
                conn.execute(f"DELETE FROM decisions WHERE id IN ({d_marks})", plan.decisions)
            conn.execute(f"DELETE FROM search_frames WHERE search_id IN ({s_marks})",
                         plan.searches)
            conn.execute(f"DELETE FROM searches WHERE id IN ({s_marks})", plan.searches)
        audit.append(conn, gallery.gallery_id, "purge", plan.as_dict(),
                     user_id=session.user_id,
                     records={"searches": plan.searches, "decisions": plan.decisions,
                              "lead_reviews": reviews})
    return plan
