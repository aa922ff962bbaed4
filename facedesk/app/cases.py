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

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.app import accounts, audit
from facedesk.app.accounts import Session, settings
from facedesk.app.search import Probe, Searcher, SearchResult
from facedesk.domain import lookalikes
from facedesk.domain.faces import Face
from facedesk.domain.fiswg import Checklist, checklist_problem
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.domain.quality import check as quality_checks
from facedesk.errors import CaseError, LeadError, NotPermitted
from facedesk.store import Gallery
from facedesk.store import cases as case_store
from facedesk.store import decisions as decision_store
from facedesk.store import searches as search_store
from facedesk.store.cases import Case
from facedesk.store.db import now_iso
from facedesk.store.decisions import Decision, Evidence, LeadReview
from facedesk.store.searches import SearchFrame, StoredSearch

__all__ = ["Case", "Checklist", "Decision", "Evidence", "LeadRecord", "LeadReview",
           "SearchFrame", "StoredSearch"]

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


def cases(gallery: Gallery, *, open_only: bool = False) -> list[Case]:
    return case_store.cases(gallery, open_only=open_only)


def get_case(gallery: Gallery, case: int | str) -> Case:
    """A case by id (int) or by case number (str)."""
    found = case_store.find_case(gallery, case)
    if found is None:
        raise CaseError(f"there is no case {case}")
    return found


def closed_reason(case: Case) -> str | None:
    """Why nothing may be added to `case` (None: it is open): the closed-case rule."""
    if case.is_open:
        return None
    return f"case {case.number} is closed: a closed case is read-only"


def require_open(case: Case, then: str = "") -> Case:
    """`case` if it is open, else CaseError (`closed_reason`, then `then` as advice)."""
    reason = closed_reason(case)
    if reason is not None:
        raise CaseError(f"{reason}; {then}" if then else reason)
    return case


def require_open_case(gallery: Gallery, case: int | str) -> Case:
    """The open case `case` (id or number) that new work (a search, a closing) acts on;
    CaseError when there is none, or when it is closed (`require_open`, with what to do
    instead)."""
    return require_open(get_case(gallery, case), then="open a new case (facedesk case open)")


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
        case_id = case_store.insert_case(conn, number=number, purpose=purpose, detail=detail,
                                         training=s.training, opened_by=session.user_id,
                                         opened_at=now_iso())
        if case_id is None:
            raise CaseError(f"case {number} already exists: open it from the case list")
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
                    limit: int | None = None, kinds: Sequence[str] | None = None
                    ) -> list[audit.Event]:
    """The audit events `session`'s user may read (of `kinds` only, when given): all, or
    for a trainer only those of training cases and their own events outside cases."""
    session.require("read_cases")
    if session.user.role != "trainer":
        return audit.events(session.gallery, case_id=case_id, kinds=kinds, limit=limit)
    training = {c.id for c in cases(session.gallery) if c.training}
    found = [e for e in audit.events(session.gallery, case_id=case_id, kinds=kinds)
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
            ids = ", ".join(str(d.id) for d in pending)
            raise CaseError(f"case {case.number} has {len(pending)} possible lead(s) waiting "
                            f"for a second review (decision {ids}): a supervisor reviews "
                            "them first (facedesk leads review), then the case can be closed")
        if not case_store.mark_closed(conn, case.id, closed_by=session.user_id,
                                      closed_at=now_iso(), note=note.strip()):
            raise CaseError(f"case {case.number} is already closed")
        audit.append(conn, gallery.gallery_id, "case_closed",
                     {"number": case.number, "note": note.strip(),
                      "pending_leads_left": [d.id for d in pending]},
                     user_id=session.user_id, case_id=case.id, records={"cases": [case.id]})
    return get_case(gallery, case.id)


def _require_open(gallery: Gallery, case_id: int) -> Case:
    """The case as it is now (read under the write lock), if it is open."""
    return require_open(get_case(gallery, case_id))


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

    @property
    def lookalikes_at_threshold(self) -> dict[str, float] | None:
        """The probe-specific look-alikes at the threshold the candidates were shown
        under (None: a search without the estimate)."""
        if self.result.lookalikes is None:
            return None
        return lookalikes.expected_with_threshold(self.result.lookalikes, self.threshold)


def shown_candidates(result: SearchResult, threshold: float, top_k: int) -> SearchResult:
    """The candidates a search shows under the administrator's threshold and top-K."""
    kept = [c for c in result.candidates if c.distance <= threshold][:top_k]
    return replace(result, candidates=kept, threshold=threshold)


def record_search(session: Session, case: Case, probe: Probe, face: Face,
                  result: SearchResult, *,
                  provenance: dict[str, Any] | None = None,
                  frame_pngs: Sequence[bytes] = (),
                  adjustments: Sequence[dict[str, Any]] = ()) -> CaseSearch:
    """Store and log a search of `case`, with the probe's bytes as analysed
    (`Probe.data`). The candidates shown are those of `result` within the settings'
    threshold, at most the settings' top_k or the number the search asked for, whichever
    is smaller (the top-K recorded). Returns the search with them.

    A probe taken from a clip passes its `provenance` (facedesk.domain.clips) and the PNG
    of every frame it lists, in its order; both are stored, and the provenance is also in
    the search's audit event, so `audit verify` covers it. `adjustments`: what was done
    to the probe before (e.g. {"kind": "rotated", "degrees": -40, "from_sha256": ...,
    "from_name": ...}), stored and logged with the search."""
    session.require("search")
    gallery = session.gallery
    s = session.settings()
    _require_case_role(session, case)
    if not probe.data:
        raise ValueError("a probe to record carries the bytes it was analysed from")
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
        search_id = search_store.insert_search(
            conn, case_id=case.id, user_id=session.user_id, created_at=now_iso(),
            probe_sha256=probe.sha256, probe_name=probe_name, probe_image=probe.data,
            probe_box=face.box.as_list(), quality=quality, engine_id=shown.engine_id,
            gallery_version=shown.gallery_version, persons_searched=shown.persons_searched,
            faces_searched=shown.faces_searched, threshold=s.threshold, top_k=top_k,
            calibration_source=shown.calibration_source, candidates=candidates,
            lookalikes=looks, provenance=provenance)
        search_store.insert_frames(conn, search_id, [
            (int(rec["frame"]), float(rec["time_s"]), png)
            for rec, png in zip(frames, frame_pngs, strict=True)])
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
        search_store.set_search_audit_seq(conn, search_id, ev.seq)
    return CaseSearch(search_id, case.id, session.user_id, ev.at, s.threshold, shown, ev.seq)


def search_for_case(session: Session, case: Case, searcher: Searcher, probe: Probe,
                    face: Face, top_k: int, *, encoding: NDArray[np.float32] | None = None,
                    provenance: dict[str, Any] | None = None,
                    frame_pngs: Sequence[bytes] = (),
                    adjustments: Sequence[dict[str, Any]] = ()) -> CaseSearch:
    """Search for a case, the use case: search `face` of an analysed `probe` (or
    `encoding`: a clip track's fused template) against the gallery for at most `top_k`
    candidates (and the administrator's top-K), then record the search in the open
    `case` (`record_search`) with the look-alike estimate. Refused before searching when
    the user may not search in this case, or the case is closed."""
    session.require("search")
    _require_case_role(session, case)
    require_open(case)
    ranked = searcher.search(face.encoding if encoding is None else encoding,
                             min(top_k, session.settings().top_k))
    return record_search(session, case, probe, face, ranked, provenance=provenance,
                         frame_pngs=frame_pngs, adjustments=adjustments)


def stored_lookalikes(result: SearchResult, threshold: float) -> dict[str, Any] | None:
    """The probe-specific look-alike curve as a search stores and logs it, with its value
    at the administrator's threshold."""
    if result.lookalikes is None:
        return None
    return {**result.lookalikes.as_dict(),
            "at_threshold": lookalikes.expected_with_threshold(result.lookalikes, threshold)}


def searches(gallery: Gallery, case_id: int) -> list[StoredSearch]:
    """A case's searches (without probe bytes), oldest first."""
    return search_store.searches(gallery, case_id)


def search_record(gallery: Gallery, search_id: int) -> StoredSearch:
    found = search_store.find_search(gallery, search_id)
    if found is None:
        raise CaseError(f"there is no search {search_id} (purged, or never made)")
    return found


def search_frames(gallery: Gallery, search_id: int) -> list[SearchFrame]:
    """The frames a clip search used (position, frame number, time, PNG, SHA-256), in
    the order of its provenance; [] for a search of a still."""
    return search_store.search_frames(gallery, search_id)


def probe_image(gallery: Gallery, search_id: int) -> bytes | None:
    return search_store.probe_image(gallery, search_id)


def candidate_viewed(session: Session, search_id: int, rank: int) -> audit.Event:
    """Log that the user looked at a candidate of a search."""
    rec = search_record(session.gallery, search_id)
    cand = _shown(rec, rank)
    case = get_case(session.gallery, rec.case_id)
    return audit.record(session.gallery, "candidate_viewed",
                        {"search_id": search_id, "rank": rank,
                         "person_id": cand["person_id"], "face_id": cand["face_id"]},
                        user_id=session.user_id, case_id=case.id)


def _shown(rec: StoredSearch, rank: int) -> dict[str, Any]:
    """The candidate of rank `rank` that a stored search showed."""
    cand = rec.candidate(rank)
    if cand is None:
        raise CaseError(f"search {rec.id} showed no candidate ranked {rank}")
    return cand


def _require_case_role(session: Session, case: Case) -> None:
    """Trainers work only in training cases (whatever the gallery's setting is now)."""
    if session.user.role == "trainer" and not case.training:
        raise NotPermitted(f"{session.user_id} (Trainer) may not work in case {case.number}: "
                           "trainers work in training cases only")


# --- decisions and the second review --------------------------------------------------------


def may_decide(session: Session, search: StoredSearch) -> bool:
    """The rule of who records decisions on a search's candidates: the user who made the
    search, or a supervisor (who may take over another analyst's search). Another analyst
    (or trainer) may not: the decision is the searcher's own comparison, and it must not
    be made in their name or around them."""
    return search.user_id == session.user_id or session.user.role == "supervisor"


def decision_problem(decision: str, rationale: str, checklist: Checklist | None = None, *,
                     checklist_required: bool = False) -> str | None:
    """What is wrong with a decision as entered (None: nothing): it is one of DECISIONS,
    with a rationale, and its FISWG checklist passes `fiswg.checklist_problem` (with
    `checklist_required`: the administrator's setting)."""
    if decision not in DECISIONS:
        return f"decision must be one of: {', '.join(DECISIONS.values())}"
    if not rationale.strip():
        return "a decision needs a rationale: say what you compared and saw"
    return checklist_problem(checklist, decision, required=checklist_required)


def require_may_decide(session: Session, search: StoredSearch) -> None:
    if not may_decide(session, search):
        raise NotPermitted(f"search {search.id} was made by {search.user_id}: only they "
                           "or a supervisor record decisions on its candidates")


def decide(session: Session, search_id: int, rank: int, decision: str, rationale: str, *,
           first_impression: str | None = None, blind: bool = False,
           checklist: Checklist | None = None) -> Decision:
    """Record the user's decision on one candidate of one search of an open case, with
    its FISWG feature-by-feature `checklist` (required for a possible lead when the
    administrator's `checklist_required` is on); the decision as stored (with its
    `status`). The checklist is stored and logged with the decision."""
    session.require("decide")
    checklist = checklist if checklist and checklist.features else None
    if (problem := decision_problem(
            decision, rationale, checklist,
            checklist_required=settings(session.gallery).checklist_required)) is not None:
        raise CaseError(problem)
    gallery = session.gallery
    rec = search_record(gallery, search_id)
    cand = _shown(rec, rank)
    case_id = rec.case_id
    case = get_case(gallery, case_id)
    _require_case_role(session, case)
    require_may_decide(session, rec)
    training = case.training
    s = settings(gallery)
    second = int(decision == "possible_lead" and s.two_person_rule and not training)
    with gallery.write() as conn:
        _require_open(gallery, case_id)
        if decision_store.decided(gallery, search_id, rank):
            raise CaseError(f"candidate {rank} of this search already has a decision")
        new = decision_store.NewDecision(
            created_at=now_iso(), reviewer=session.user_id, decision=decision,
            rationale=rationale.strip(), first_impression=first_impression,
            blind_review=int(blind), probe_sha256=rec.probe_sha256,
            probe_path=rec.probe_name, probe_box=json.dumps(rec.probe_box),
            engine_id=rec.engine_id, gallery_version=rec.gallery_version,
            persons_searched=rec.persons_searched, person_id=cand["person_id"],
            face_id=cand["face_id"], rank=rank, distance=cand["distance"],
            similarity=cand["similarity"], case_id=case_id, search_id=search_id,
            second_review=second, audit_seq=0,
            checklist=None if checklist is None else checklist.to_json())
        decision_id = decision_store.insert_decision(conn, new)
        ev = audit.append(conn, gallery.gallery_id, "decision", {
            "id": decision_id, "search_id": search_id, "rank": rank,
            "person_id": cand["person_id"], "face_id": cand["face_id"],
            "decision": decision, "rationale": new.rationale,
            "reviewer": session.user_id, "first_impression": first_impression,
            "blind_review": int(blind), "distance": cand["distance"],
            "second_review": second, "training": training, "case_id": case_id,
            "checklist": None if checklist is None else checklist.as_dict(),
        }, user_id=session.user_id, case_id=case_id, records={"decisions": [decision_id]})
        decision_store.set_decision_audit_seq(conn, decision_id, ev.seq)
    return get_decision(gallery, decision_id)


def decisions(gallery: Gallery, case_id: int | None = None) -> list[Decision]:
    """Decisions of a case (or of every case), oldest first, each with its `review` (or
    None) and `status` (LEAD_STATUS)."""
    return decision_store.decisions(gallery, case_id)


def get_decision(gallery: Gallery, decision_id: int) -> Decision:
    found = decision_store.find_decision(gallery, decision_id)
    if found is None:
        raise LeadError(f"there is no decision {decision_id}")
    return found


def pending_leads(gallery: Gallery, case_id: int | None = None) -> list[Decision]:
    """Possible leads waiting for a second review, oldest first: of one case (open or
    closed), or of every open case."""
    return decision_store.pending_leads(gallery, case_id)


#: shown instead of a pending lead's rationale to everyone but its analyst, with blind
#: second review on
BLIND_HIDDEN = "(hidden until the second review: blind second review is on)"


def hidden_rationales(gallery: Gallery, viewer: str, case_id: int | None = None) -> set[int]:
    """The decisions whose rationale `viewer` may not read yet: with blind second review
    on, the possible leads still pending a second review that another user recorded (the
    analyst reads their own; everyone reads it once the lead is reviewed)."""
    if not settings(gallery).blind_second_review:
        return set()
    return {d.id for d in decisions(gallery, case_id)
            if d.status == "pending" and d.reviewer != viewer}


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
    refuse_hidden_rationales(session, what="the audit log holds")
    yield from audit.export_steps(session.gallery, out_dir, user_id=session.user_id,
                                  cancel=cancel)


def refuse_hidden_rationales(session: Session, case_id: int | None = None, *,
                             what: str) -> None:
    """LeadError when an export would show `session`'s user a rationale blind second
    review still hides from them (of case `case_id`, or of any case): such an export is
    refused, not redacted (a redacted event would not verify)."""
    hidden = hidden_rationales(session.gallery, session.user_id, case_id)
    if hidden:
        ids = ", ".join(str(i) for i in sorted(hidden))
        raise LeadError(
            f"blind second review is on and {len(hidden)} possible lead(s) wait for their "
            f"second review (decision {ids}); {what} their rationales, which "
            "stay hidden from you until then: export after the reviews")


def event_data(e: audit.Event, hidden: set[int]) -> dict[str, Any]:
    """An audit event's data as `hidden_rationales` lets the reader see it (the rationale
    and the checklist of a hidden decision blanked)."""
    if e.kind == "decision" and e.data.get("id") in hidden and "rationale" in e.data:
        return {**e.data, "rationale": BLIND_HIDDEN,
                **({"checklist": BLIND_HIDDEN} if e.data.get("checklist") else {})}
    return e.data


def results(gallery: Gallery, case_id: int) -> list[Decision]:
    """A case's results: its confirmed leads (never a training case's)."""
    return _confirmed(decisions(gallery, case_id))


def _confirmed(found: Sequence[Decision]) -> list[Decision]:
    return [d for d in found if d.status == "confirmed"]


# --- what a reader sees: cases, leads and events with hidden rationales blanked ----------------


def _as_seen(found: Sequence[Decision], hidden: set[int]) -> list[Decision]:
    """`found` with the decisions in `hidden` blinded: the rationale reads BLIND_HIDDEN
    and the FISWG checklist, the analyst's comparison in detail, is left out (None)."""
    return [replace(d, rationale=BLIND_HIDDEN, checklist=None) if d.id in hidden else d
            for d in found]


@dataclass(frozen=True)
class CaseSummary:
    """One line of the case list: a case with how many searches and results it has."""

    case: Case
    searches: int
    confirmed_leads: int

    def as_dict(self) -> dict[str, Any]:
        return {**self.case.as_dict(), "searches": self.searches,
                "confirmed_leads": self.confirmed_leads}


def case_summaries(session: Session, *, open_only: bool = False) -> list[CaseSummary]:
    """The cases `session`'s user may read (`visible_cases`), newest first, each with its
    number of searches and of confirmed leads."""
    gallery = session.gallery
    return [CaseSummary(c, len(searches(gallery, c.id)), len(results(gallery, c.id)))
            for c in visible_cases(session, open_only=open_only)]


@dataclass(frozen=True)
class CaseView:
    """A case as one reader may see it: its searches and its decisions (with their second
    reviews), oldest first. With blind second review on, the rationale of another user's
    possible lead pending its second review reads BLIND_HIDDEN (its id is in `hidden`)."""

    case: Case
    searches: list[StoredSearch]
    decisions: list[Decision]
    hidden: frozenset[int]

    @property
    def results(self) -> list[Decision]:
        """The case's results: its confirmed leads."""
        return _confirmed(self.decisions)

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case.as_dict(), "searches": [s.as_dict() for s in self.searches],
                "decisions": [d.as_dict() for d in self.decisions],
                "results": [d.id for d in self.results]}


def case_view(session: Session, case: int | str) -> CaseView:
    """Case `case` (id or number) as `session`'s user may read it (`readable_case`)."""
    c = readable_case(session, case)
    gallery = session.gallery
    hidden = hidden_rationales(gallery, session.user_id, c.id)
    return CaseView(c, searches(gallery, c.id), _as_seen(decisions(gallery, c.id), hidden),
                    frozenset(hidden))


@dataclass(frozen=True)
class PendingLead:
    """A possible lead waiting for its second review, as one reader may see it: with
    `rationale_hidden`, its rationale reads BLIND_HIDDEN and its checklist is left out
    (both None in `as_dict`)."""

    decision: Decision
    rationale_hidden: bool

    def as_dict(self) -> dict[str, Any]:
        d = self.decision.as_dict()
        return {**d, "rationale": None, "checklist": None} if self.rationale_hidden else d


def pending_for(session: Session) -> list[PendingLead]:
    """The possible leads waiting for a second review, oldest first, of the open cases
    `session`'s user may read (`visible_cases`), with hidden rationales blanked."""
    gallery = session.gallery
    visible = {c.id for c in visible_cases(session)}
    hidden = hidden_rationales(gallery, session.user_id)
    pending = [d for d in pending_leads(gallery) if d.case_id in visible]
    return [PendingLead(d, d.id in hidden) for d in _as_seen(pending, hidden)]


@dataclass(frozen=True)
class AuditView:
    """Audit events as one reader may see them (`readable_events`, each event's data as
    `event_data` shows it: note a blanked event no longer matches its hash), oldest first,
    with the case numbers they name."""

    events: list[audit.Event]
    case_numbers: dict[int, str]

    def case_number(self, e: audit.Event) -> str | None:
        return None if e.case_id is None else self.case_numbers.get(e.case_id, str(e.case_id))


def audit_view(session: Session, *, case: int | str | None = None,
               limit: int | None = None, kinds: Sequence[str] | None = None) -> AuditView:
    """The audit events `session`'s user may read, of one case (id or number; it must be
    readable) or all, of `kinds` only when given, the last `limit` of them when given."""
    case_id = readable_case(session, case).id if case is not None else None
    gallery = session.gallery
    hidden = hidden_rationales(gallery, session.user_id, case_id)
    found = readable_events(session, case_id=case_id, limit=limit, kinds=kinds)
    return AuditView([replace(e, data=event_data(e, hidden)) for e in found],
                     {c.id: c.number for c in cases(gallery)})


def review_lead(session: Session, decision_id: int, verdict: str, rationale: str, *,
                blind: bool = False) -> Decision:
    """A supervisor's independent verdict on an analyst's pending possible lead. The
    review is blind when the reviewer says so (`blind`) or when the administrator turned
    blind second review on (the analyst's rationale was hidden from them)."""
    session.require("review_lead")
    if verdict not in VERDICTS:
        raise LeadError(f"the verdict is one of: {', '.join(VERDICTS)}")
    if not rationale.strip():
        raise LeadError("a second review needs a rationale: say what you compared and saw")
    gallery = session.gallery
    blind = blind or settings(gallery).blind_second_review
    with gallery.write() as conn:
        d = get_decision(gallery, decision_id)  # read under the write lock: one verdict only
        if d.reviewer == session.user_id:
            raise LeadError("the second reviewer must be a different person from the "
                            "analyst who recorded the lead")
        if d.status != "pending":
            raise LeadError(f"decision {decision_id} is not a pending possible lead "
                            f"({LEAD_STATUS[d.status].lower()})")
        _require_open(gallery, d.case_id)
        review_id = decision_store.insert_review(
            conn, decision_id=decision_id, reviewer=session.user_id, verdict=verdict,
            rationale=rationale.strip(), blind=blind, created_at=now_iso())
        ev = audit.append(conn, gallery.gallery_id, "lead_review", {
            "id": review_id, "decision_id": decision_id, "reviewer": session.user_id,
            "verdict": verdict, "rationale": rationale.strip(), "blind": int(blind),
            "analyst": d.reviewer, "person_id": d.person_id,
        }, user_id=session.user_id, case_id=d.case_id, records={"lead_reviews": [review_id]})
        decision_store.set_review_audit_seq(conn, review_id, ev.seq)
    return get_decision(gallery, decision_id)


# --- independent evidence of a confirmed lead (Detroit's policy: never a face search alone) ---


def evidence(gallery: Gallery, decision_id: int) -> list[Evidence]:
    """The independent evidence recorded for a decision, oldest first."""
    return decision_store.evidence_of(gallery, decision_id)


def record_evidence(session: Session, decision_id: int, text: str) -> Evidence:
    """Record what independent evidence (not the face search) was obtained for a
    confirmed lead: by its analyst or a supervisor, in an open case; stored and logged
    ("lead_evidence"). A lead may have several items."""
    session.require("decide")
    text = text.strip()
    if not text:
        raise LeadError("describe the independent evidence obtained (what, from whom, when)")
    gallery = session.gallery
    with gallery.write() as conn:
        d = get_decision(gallery, decision_id)
        if d.status != "confirmed":
            raise LeadError(f"independent evidence is recorded for a confirmed lead; "
                            f"decision {decision_id} is: {LEAD_STATUS[d.status].lower()}")
        if d.reviewer != session.user_id and session.user.role != "supervisor":
            raise NotPermitted(f"decision {decision_id} is {d.reviewer}'s lead: only they or "
                               "a supervisor record its evidence")
        _require_open(gallery, d.case_id)
        evidence_id = decision_store.insert_evidence(
            conn, decision_id=decision_id, text=text, recorded_by=session.user_id,
            created_at=now_iso())
        ev = audit.append(conn, gallery.gallery_id, "lead_evidence", {
            "id": evidence_id, "decision_id": decision_id, "text": text,
            "recorded_by": session.user_id, "person_id": d.person_id,
        }, user_id=session.user_id, case_id=d.case_id, records={"lead_evidence": [evidence_id]})
        decision_store.set_evidence_audit_seq(conn, evidence_id, ev.seq)
    return evidence(gallery, decision_id)[-1]


#: the lead sheet's second banner line while no independent evidence is recorded
NO_EVIDENCE_BANNER = ("No independent evidence recorded yet: a face search alone is not "
                      "grounds for any action")


def evidence_problem(gallery: Gallery, decision_id: int) -> str | None:
    """Why a lead sheet may not go out (None: it may): the administrator's
    `evidence_required` is on and no independent evidence is recorded."""
    if not settings(gallery).evidence_required or evidence(gallery, decision_id):
        return None
    return (f"decision {decision_id} has no independent evidence recorded and the "
            "administrator requires it before a lead sheet goes out: record it first "
            f"(facedesk evidence add {decision_id} --text ...)")


# --- the lead sheet's record ------------------------------------------------------------------


@dataclass(frozen=True)
class LeadRecord:
    """Everything a lead sheet shows about a confirmed lead, read from the gallery.
    `as_dict` is the document the sheet is rendered from (facedesk.app.lead_sheet)."""

    case: Case
    search: StoredSearch
    decision: Decision
    candidate: dict[str, Any]  # the chosen candidate, as the search stored it
    candidate_crop: bytes
    probe_image: bytes | None  # None: purged
    frames: list[SearchFrame]
    users: dict[str, str]  # user id -> "Name (id)"
    engine_identity: dict[str, Any]
    gallery_id: str
    gallery_path: str
    events: list[audit.Event]  # the search's, the decision's and the second review's
    audit_head: audit.Event | None
    evidence: list[Evidence]  # the independent evidence recorded, oldest first

    def as_dict(self) -> dict[str, Any]:
        search, decided = self.search.as_dict(), self.decision.as_dict()
        head = self.audit_head
        return {
            "case": self.case.as_dict(),
            "search": {k: v for k, v in search.items() if k != "candidates"},
            "candidates": search["candidates"],
            "candidate": self.candidate,
            "candidate_crop": self.candidate_crop,
            "probe_image": self.probe_image,
            "frames": [{k: v for k, v in f.as_dict().items() if k != "png"}
                       for f in self.frames],
            "decision": {k: v for k, v in decided.items() if k != "review"},
            "review": decided["review"],
            "users": dict(self.users),
            "engine": {"id": self.search.engine_id, "identity": self.engine_identity},
            "gallery": {"id": self.gallery_id, "path": self.gallery_path,
                        "version": self.search.gallery_version,
                        "persons_searched": self.search.persons_searched,
                        "faces_searched": self.search.faces_searched},
            "audit": [{"seq": e.seq, "kind": e.kind, "at": e.at, "hash": e.hash}
                      for e in self.events],
            "audit_head": None if head is None else {"seq": head.seq, "hash": head.hash},
            "evidence": [e.as_dict() for e in self.evidence],
        }


def lead_record(session: Session, decision_id: int) -> LeadRecord:
    """Everything a lead sheet shows about a confirmed lead, read from the gallery."""
    session.require("lead_sheet")
    gallery = session.gallery
    d = get_decision(gallery, decision_id)
    if d.status != "confirmed":
        raise LeadError(f"a lead sheet is only made for a confirmed lead; decision "
                        f"{decision_id} is: {LEAD_STATUS[d.status].lower()}")
    search = search_record(gallery, d.search_id)
    found = evidence(gallery, decision_id)
    seqs = [search.audit_seq, d.audit_seq]
    if d.review:
        seqs.append(d.review.audit_seq)
    seqs += [e.audit_seq for e in found]
    users = {u: _user_name(gallery, u) for u in {d.reviewer, search.user_id,
                                                   d.review.reviewer if d.review else None,
                                                   *(e.recorded_by for e in found)} if u}
    return LeadRecord(
        case=get_case(gallery, d.case_id), search=search, decision=d,
        candidate=_shown(search, d.rank), candidate_crop=gallery.face_crop(d.face_id),
        probe_image=probe_image(gallery, d.search_id),
        frames=search_frames(gallery, d.search_id), users=users,
        engine_identity=gallery.engine_identity(search.engine_id) or {},
        gallery_id=gallery.gallery_id, gallery_path=str(gallery.location),
        events=[e for e in (audit.event(gallery, s) for s in seqs if s is not None)
                if e is not None],
        audit_head=audit.head(gallery), evidence=found)


def _user_name(gallery: Gallery, user_id: str) -> str:
    u = accounts.user(gallery, user_id)
    return user_id if u is None else f"{u.display_name} ({user_id})"


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
    keep_cases = {d.case_id for d in decisions(gallery)
                  if d.status in ("confirmed", "pending")}
    chosen = [r for r in search_store.searches_before(gallery, cutoff)
              if r.case_id not in keep_cases]
    ids = [r.id for r in chosen]
    dec_ids = decision_store.decisions_of_searches(gallery, ids)
    return PurgePlan(days, cutoff, ids, dec_ids, sorted({r.case_number for r in chosen}),
                     sorted({r.probe_sha256 for r in chosen}))


def purge(session: Session, *, now: datetime | None = None) -> PurgePlan:
    """Purge what `purge_plan` names, and log what was purged."""
    session.require("purge")
    gallery = session.gallery
    with gallery.write() as conn:
        plan = purge_plan(gallery, now=now)  # under the write lock: nothing changes meanwhile
        if plan.retention_days is None:
            raise CaseError("no retention period is set: an administrator sets "
                            "retention_days")
        reviews = search_store.delete_searches(conn, plan.searches, plan.decisions)
        audit.append(conn, gallery.gallery_id, "purge", plan.as_dict(),
                     user_id=session.user_id,
                     records={"searches": plan.searches, "decisions": plan.decisions,
                              "lead_reviews": reviews})
    return plan
