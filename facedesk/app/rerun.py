"""Re-running a case against new bookings: the case's probes searched again, each against
the faces imported since that probe's last search only, the new searches recorded as any
search of the case is (`cases.search_for_case`: stored with the probe bytes and logged),
and the candidates that no earlier search of that probe in the case showed marked new.

Which faces a search searched: faces are never deleted and their ids only grow, so a
search of `faces_searched` faces searched the first `faces_searched` faces by id (its
*snapshot*, up to `store.searches.nth_face_id`). A re-run searches only the faces after
the probe's latest snapshot and records, in its provenance, the ids it searched
(`{"rerun": {"of_search", "after_face_id", "through_face_id"}}`): the next re-run starts
after `through_face_id`.

A probe is a (probe SHA-256, face box) pair of a case. It is re-run from the stored bytes
of its latest search that still has them (the face re-described in its stored box with
the detector that found it); a probe whose bytes were purged under the retention rule,
and a clip's fused template (not stored), cannot be re-run: the report says so per probe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facedesk.app import cases, engines
from facedesk.app.accounts import Session
from facedesk.app.cases import Case, CaseSearch, StoredSearch
from facedesk.app.search import Probe, Searcher
from facedesk.domain import analysis, imaging
from facedesk.domain.faces import Box, Face, FaceEngine
from facedesk.domain.progress import CancelToken
from facedesk.domain.search_index import SearchIndex
from facedesk.store import Gallery
from facedesk.store import searches as search_store
from facedesk.store.encodings import EncodingMatrix

#: what happened to one probe in a re-run
SEARCHED, NOTHING_NEW, NOT_RERUNNABLE, NOT_REACHED = (
    "searched", "nothing new", "cannot be re-run", "not reached (cancelled)")


# --- a case's probes and their snapshots -----------------------------------------------------


def snapshot(gallery: Gallery, search: StoredSearch,
             known: dict[int, int] | None = None) -> int:
    """The id of the last face `search` searched (faces are searched from the first):
    from a re-run's provenance, else the `faces_searched`-th face (`known`: those found
    already, by number of faces; the query scans the faces' index up to it)."""
    rerun = (search.provenance or {}).get("rerun")
    if isinstance(rerun, dict) and "through_face_id" in rerun:
        return int(rerun["through_face_id"])
    known = {} if known is None else known
    n = search.faces_searched
    if n not in known:
        known[n] = search_store.nth_face_id(gallery, n)
    return known[n]


@dataclass(frozen=True)
class CaseProbe:
    """One probe of a case (its SHA-256 and face box) with its searches, oldest first."""

    sha256: str
    box: tuple[int, ...]
    searches: tuple[StoredSearch, ...]
    #: the id of the last face any of its searches searched
    last_face_id: int

    @property
    def name(self) -> str:
        return self.searches[-1].probe_name

    @property
    def source(self) -> StoredSearch | None:
        """Its latest search that still has the probe bytes (None: all purged)."""
        return next((s for s in reversed(self.searches) if s.has_probe_image), None)

    def seen_persons(self, before: int | None = None) -> set[str]:
        """The persons its searches (those with an id below `before`) showed."""
        return {str(c["person_id"]) for s in self.searches
                if before is None or s.id < before for c in s.candidates}

    def problem(self) -> str | None:
        """Why this probe cannot be re-run (None: it can)."""
        src = self.source
        if src is None:
            last = self.searches[-1]
            when = f" on {last.purged_at}" if last.purged_at else ""
            return (f"its probe image is no longer stored (purged under the retention "
                    f"rule{when}): it cannot be searched again")
        if (src.provenance or {}).get("fused"):
            return ("it was searched with a clip track's fused template, which is not "
                    "stored: search the clip again (facedesk search --case ... CLIP)")
        return None


def case_probes(gallery: Gallery, case_id: int,
                known: dict[int, int] | None = None) -> list[CaseProbe]:
    """A case's probes, in the order they were first searched (`known`: see
    `snapshot`)."""
    known = {} if known is None else known
    groups: dict[tuple[str, tuple[int, ...]], list[StoredSearch]] = {}
    for s in cases.searches(gallery, case_id):
        groups.setdefault((s.probe_sha256, tuple(s.probe_box)), []).append(s)
    return [CaseProbe(sha, box, tuple(found), max(snapshot(gallery, s, known) for s in found))
            for (sha, box), found in groups.items()]


def new_candidates(searches: Sequence[StoredSearch]) -> dict[int, set[str]]:
    """For each re-run search among a case's `searches`: the persons it showed that no
    earlier search of the same probe in the case showed (the candidates marked new)."""
    seen: dict[tuple[str, tuple[int, ...]], set[str]] = {}
    new: dict[int, set[str]] = {}
    for s in sorted(searches, key=lambda s: s.id):
        key = (s.probe_sha256, tuple(s.probe_box))
        before = seen.setdefault(key, set())
        persons = {str(c["person_id"]) for c in s.candidates}
        if is_rerun(s):
            new[s.id] = persons - before
        before |= persons
    return new


def is_rerun(search: StoredSearch) -> bool:
    return isinstance((search.provenance or {}).get("rerun"), dict)


# --- the re-run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRerun:
    """What a re-run did with one probe."""

    probe_name: str
    probe_sha256: str
    probe_box: list[int]
    outcome: str  # SEARCHED, NOTHING_NEW, NOT_RERUNNABLE or NOT_REACHED
    reason: str = ""
    new_faces: int = 0
    search: CaseSearch | None = None
    #: person ids of the candidates no earlier search of this probe showed
    new_persons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        s = self.search
        return {
            "probe_name": self.probe_name, "probe_sha256": self.probe_sha256,
            "probe_box": self.probe_box, "outcome": self.outcome, "reason": self.reason,
            "new_faces": self.new_faces, "search_id": None if s is None else s.id,
            "candidates": [] if s is None else [
                {**c.as_dict(), "new": c.person_id in self.new_persons}
                for c in s.result.candidates],
            "new_persons": list(self.new_persons),
        }


@dataclass(frozen=True)
class RerunReport:
    case: Case
    probes: list[ProbeRerun]
    cancelled: bool = False

    @property
    def searches(self) -> list[CaseSearch]:
        return [p.search for p in self.probes if p.search is not None]

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case.number, "cancelled": self.cancelled,
                "probes": [p.as_dict() for p in self.probes]}


@dataclass(frozen=True)
class RerunProgress:
    done: int
    total: int
    probe: str = ""
    result: RerunReport | None = field(default=None)


class _SubsetSearcher(Searcher):
    """A Searcher whose index is a given subset of the gallery's faces."""

    def __init__(self, base: Searcher, index: SearchIndex) -> None:
        super().__init__(base.gallery, base.engine_identity)
        self._subset = index

    def index(self) -> SearchIndex:
        return self._subset


def _after(enc: EncodingMatrix, face_id: int) -> EncodingMatrix:
    """The encodings of the faces with an id above `face_id` (rows still by person)."""
    keep = enc.face_ids > face_id
    return EncodingMatrix(enc.face_ids[keep], enc.person_pks[keep],
                          np.ascontiguousarray(enc.matrix[keep]), enc.engine_ids,
                          enc.version)


def probe_face(engine: FaceEngine, search: StoredSearch, data: bytes) -> tuple[Probe, Face]:
    """The probe of a stored search and its face, described again in its stored box by
    the detector that found it (the same engine gives the same encoding)."""
    image = imaging.load_image(data, name=search.probe_name)
    q = search.quality
    face = analysis.with_fit(engine, image, analysis.describe(
        engine, image, [Box(*search.probe_box).clipped(image.width, image.height)],
        detector=str(q.get("detector") or analysis.DRAWN))[0])
    face.index = int(q.get("face_index", face.index))
    count = int(q.get("faces_in_probe") or 1)
    probe = Probe(path=search.probe_name, sha256=search.probe_sha256, image=image,
                  faces=[face] * max(count, 1), data=data)
    return probe, face


def require_rerunnable(session: Session, case: int | str) -> Case:
    """The case `case` if `session`'s user may re-run it: they may search, read it, and it
    is open (a closed case is read-only)."""
    session.require("search")
    c = cases.readable_case(session, case)
    return cases.require_open(c, then="a closed case cannot be re-run")


def rerun_steps(session: Session, case: int | str, engine: FaceEngine, *,
                cancel: CancelToken | None = None) -> Iterator[RerunProgress]:
    """Re-run case `case`: each probe searched against the faces imported since its last
    search, each search recorded in the case (`cases.search_for_case`); progress per
    probe, the `RerunReport` on the last event. Cancelled, the probes searched so far
    stay recorded and the rest read NOT_REACHED."""
    c = require_rerunnable(session, case)
    gallery = session.gallery
    enc = gallery.load_encodings()  # once: each probe searches a subset of it
    engines.require_engine(gallery, engine.identity(), enc.engine_ids)
    base = Searcher(gallery, engine.identity())
    eid = base.engine_id
    probes = case_probes(gallery, c.id)
    total = len(probes)
    yield RerunProgress(0, total)
    top_k = session.settings().top_k
    done: list[ProbeRerun] = []
    for i, p in enumerate(probes):
        box = list(p.box)
        if cancel is not None and cancel.cancelled:
            done += [ProbeRerun(q.name, q.sha256, list(q.box), NOT_REACHED)
                     for q in probes[i:]]
            yield RerunProgress(i, total, result=RerunReport(c, done, cancelled=True))
            return
        new_faces = int((enc.face_ids > p.last_face_id).sum())
        problem = p.problem()
        src = p.source
        if problem is None and src is not None and src.engine_id != eid:
            problem = (f"it was searched with engine {src.engine_id}, not this one "
                       f"({eid})")
        if problem is not None or src is None:
            done.append(ProbeRerun(p.name, p.sha256, box, NOT_RERUNNABLE, problem or "",
                                   new_faces))
        elif new_faces == 0:
            done.append(ProbeRerun(p.name, p.sha256, box, NOTHING_NEW,
                                   "no faces were imported since its last search"))
        else:
            done.append(_rerun_probe(session, c, base, engine, p, src,
                                     _after(enc, p.last_face_id), top_k))
        yield RerunProgress(i + 1, total, p.name)
    yield RerunProgress(total, total, result=RerunReport(c, done))


def _rerun_probe(session: Session, case: Case, base: Searcher, engine: FaceEngine,
                 p: CaseProbe, src: StoredSearch, subset: EncodingMatrix,
                 top_k: int) -> ProbeRerun:
    gallery = session.gallery
    data = cases.probe_image(gallery, src.id)
    if data is None:  # purged meanwhile
        return ProbeRerun(p.name, p.sha256, list(p.box), NOT_RERUNNABLE,
                          "its probe image was purged meanwhile", len(subset.face_ids))
    probe, face = probe_face(engine, src, data)
    prov = dict(src.provenance or {})
    prov["rerun"] = {"of_search": src.id, "after_face_id": p.last_face_id,
                     "through_face_id": int(subset.face_ids.max())}
    frames = [f.png for f in cases.search_frames(gallery, src.id)] \
        if prov.get("frames") else []
    recorded = cases.search_for_case(
        session, case, _SubsetSearcher(base, SearchIndex(subset)), probe, face, top_k,
        provenance=prov, frame_pngs=[f for f in frames if f is not None],
        adjustments=list(src.quality.get("adjustments") or []))
    seen = p.seen_persons()
    new = tuple(c.person_id for c in recorded.result.candidates if c.person_id not in seen)
    return ProbeRerun(p.name, p.sha256, list(p.box), SEARCHED, "", len(subset.face_ids),
                      recorded, new)


# --- cases waiting for new faces ------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingCase:
    """An open case with no possible lead, whose probes new faces arrived for."""

    case: Case
    last_search_at: str
    #: probes that can be re-run and have new faces after their last search
    probes: int
    #: the most faces imported after one of those probes' last search
    new_faces: int
    #: probes that cannot be re-run (purged, a fused clip template)
    not_rerunnable: int

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case.number, "case_id": self.case.id,
                "last_search_at": self.last_search_at, "probes": self.probes,
                "new_faces": self.new_faces, "not_rerunnable": self.not_rerunnable}


def has_possible_lead(decisions: Sequence[cases.Decision]) -> bool:
    """A possible lead that stands: pending its second review or confirmed (an overturned
    one is no lead)."""
    return any(d.decision == "possible_lead" and d.status in ("pending", "confirmed")
               for d in decisions)


def waiting_cases(session: Session) -> list[WaitingCase]:
    """The open cases `session`'s user may read that have no possible lead and for whose
    re-runnable probes faces were imported since their last search, newest case first."""
    gallery = session.gallery
    found = []
    known: dict[int, int] = {}
    after: dict[int, int] = {}
    for c in cases.visible_cases(session, open_only=True):
        if has_possible_lead(cases.decisions(gallery, c.id)):
            continue
        probes = case_probes(gallery, c.id, known)
        ok = [p for p in probes if p.problem() is None]
        for p in ok:
            if p.last_face_id not in after:
                after[p.last_face_id] = search_store.faces_after(gallery, p.last_face_id)
        counts = [after[p.last_face_id] for p in ok]
        fresh = [n for n in counts if n]
        if fresh:
            found.append(WaitingCase(
                c, max(s.created_at for p in probes for s in p.searches), len(fresh),
                max(fresh), len(probes) - len(ok)))
    return found

