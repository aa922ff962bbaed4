"""Human review of a candidate list shown by a search of a case. A search's outcome is
written only as the signed-in reviewer's decision on a candidate — possible lead, not the
person, or inconclusive — with a rationale, through `cases.decide` (which checks the
user's role and the case, and logs the decision in the audit log)."""

from __future__ import annotations

from dataclasses import dataclass, field

from facedesk.app import cases
from facedesk.app.accounts import Session
from facedesk.app.cases import DECISIONS, Decision
from facedesk.app.search import Candidate, Probe, SearchResult
from facedesk.domain.faces import Face
from facedesk.domain.fiswg import Checklist
from facedesk.errors import FaceDeskError

__all__ = ["DECISIONS", "FIRST_IMPRESSIONS", "LEAD_BANNER", "Review", "ReviewError"]

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
    """One probe face's candidate list under review: `result` is the list the search of a
    case showed (`cases.CaseSearch.result`) and `search_id` that search's id. With `blind`,
    a candidate's score and rank stay hidden until the reviewer has recorded a first
    impression of it."""

    probe: Probe
    face: Face
    result: SearchResult
    blind: bool = False
    search_id: int | None = None
    first_impressions: dict[int, str] = field(default_factory=dict)  # rank -> impression
    decided: dict[int, Decision] = field(default_factory=dict)  # rank -> stored decision

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

    def record_decision(self, session: Session, rank: int, decision: str,
                        rationale: str, checklist: Checklist | None = None) -> Decision:
        """Validate one decision of the signed-in user (with its FISWG `checklist`) and
        record it with `cases.decide`; returns the stored decision (with its `status`)."""
        self.candidate(rank)
        required = session.settings().checklist_required
        if (problem := cases.decision_problem(decision, rationale, checklist,
                                              checklist_required=required)) is not None:
            raise ReviewError(problem)
        if self.blind and rank not in self.first_impressions:
            raise ReviewError("record a first impression of this candidate before deciding")
        if rank in self.decided:
            raise ReviewError(f"candidate {rank} already has a decision")
        if self.search_id is None:
            raise ReviewError("this candidate list was not recorded in a case: open a case "
                              "and search again")
        stored = cases.decide(session, self.search_id, rank, decision, rationale,
                              first_impression=self.first_impressions.get(rank),
                              blind=self.blind, checklist=checklist)
        self.decided[rank] = stored
        return stored
