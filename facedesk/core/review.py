"""Human review of a candidate list. A search's outcome is written only as a reviewer's
decision on a candidate — possible lead, not the person, or inconclusive — with the
reviewer's name and a rationale. Until then nothing about the search is stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from facedesk.core.faces import Face
from facedesk.core.search import Candidate, Probe, SearchResult
from facedesk.errors import FaceDeskError
from facedesk.store import Gallery

DECISIONS: dict[str, str] = {
    "possible_lead": "Possible lead",
    "not_the_person": "Not the person",
    "inconclusive": "Inconclusive",
}
#: shown wherever a possible lead appears
LEAD_BANNER = "Investigative lead only — not an identification"
#: first impressions a reviewer can record in blind review, before scores are shown
FIRST_IMPRESSIONS: dict[str, str] = {
    "similar": "Looks similar",
    "different": "Looks different",
    "unsure": "Can't tell",
}


class ReviewError(FaceDeskError):
    code = "review"


@dataclass
class Review:
    """One probe face's candidate list under review. With `blind`, a candidate's score
    and rank stay hidden until the reviewer has recorded a first impression of it."""

    probe: Probe
    face: Face
    result: SearchResult
    blind: bool = False
    first_impressions: dict[int, str] = field(default_factory=dict)  # rank -> impression
    decided: dict[int, dict[str, Any]] = field(default_factory=dict)  # rank -> stored row

    def candidate(self, rank: int) -> Candidate:
        for c in self.result.candidates:
            if c.rank == rank:
                return c
        raise ReviewError(f"there is no candidate ranked {rank}")

    def scores_visible(self, rank: int) -> bool:
        return not self.blind or rank in self.first_impressions

    def record_first_impression(self, rank: int, impression: str) -> None:
        self.candidate(rank)
        if impression not in FIRST_IMPRESSIONS:
            raise ReviewError(f"first impression must be one of {', '.join(FIRST_IMPRESSIONS)}")
        self.first_impressions.setdefault(rank, impression)  # a first impression is final

    def undecided(self) -> list[int]:
        return [c.rank for c in self.result.candidates if c.rank not in self.decided]

    def record_decision(self, gallery: Gallery, rank: int, decision: str, reviewer: str,
                        rationale: str) -> dict[str, Any]:
        """Validate and store one decision; returns the stored row."""
        cand = self.candidate(rank)
        if decision not in DECISIONS:
            raise ReviewError(f"decision must be one of: {', '.join(DECISIONS.values())}")
        if not reviewer.strip():
            raise ReviewError("enter the reviewer's name")
        if not rationale.strip():
            raise ReviewError("a decision needs a rationale: say what you compared and saw")
        if self.blind and rank not in self.first_impressions:
            raise ReviewError("record a first impression of this candidate before deciding")
        if rank in self.decided:
            raise ReviewError(f"candidate {rank} already has a decision")
        row = {
            "reviewer": reviewer.strip(),
            "decision": decision,
            "rationale": rationale.strip(),
            "first_impression": self.first_impressions.get(rank),
            "blind_review": int(self.blind),
            "probe_sha256": self.probe.sha256,
            "probe_path": self.probe.path,
            "probe_box": json.dumps(self.face.box.as_list()),
            "engine_id": self.result.engine_id,
            "gallery_version": self.result.gallery_version,
            "persons_searched": self.result.persons_searched,
            "person_id": cand.person_id,
            "face_id": cand.face_id,
            "rank": cand.rank,
            "distance": cand.distance,
            "similarity": cand.similarity,
        }
        row["id"] = gallery.add_decision(row)
        self.decided[rank] = row
        return row
