"""The FISWG feature-by-feature checklist (issue 18, item 1): its rules in one place
(facedesk.domain.fiswg), stored with the decision and its audit event, covered by the
record digests, required by the administrator's setting, hidden in a blind second review
like the rationale, and on the command line (`decide --feature`, `leads pending`,
`case show`). Real gallery files, the fake engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_cli_accountability as cli_tests
from accountability import (
    BACKENDS,
    PURPOSE,
    World,
    last_event,
    payload,
    tamper,
    template_on_backend,
    world_copy,
)
from test_cli_accountability import Run, ok, refused, search

from facedesk.app import audit, cases
from facedesk.app.review import Review, ReviewError
from facedesk.domain.fiswg import (
    COMPONENTS,
    VALUES,
    Checklist,
    ChecklistError,
    Feature,
    checklist_problem,
)
from facedesk.errors import CaseError
from facedesk.store import Gallery

# the command line's fixtures (a gallery with staff, the fake engine, a probe photo)
db, fake_cli, probe, run, staffed = (cli_tests.db, cli_tests.fake_cli, cli_tests.probe,
                                     cli_tests.run, cli_tests.staffed)

FULL = {c: "similar" for c in COMPONENTS} | {"scars": "not_visible"}


def full(**changes: dict[str, str] | str) -> Checklist:
    return Checklist.from_dict({**FULL, **changes})


# --- the rules ---------------------------------------------------------------------------------


def test_the_eighteen_fiswg_components_and_three_values() -> None:
    assert len(COMPONENTS) == 18
    assert list(COMPONENTS)[:3] == ["skin", "face_head_outline", "face_head_composition"]
    assert list(COMPONENTS)[-1] == "alterations"
    assert set(VALUES) == {"similar", "dissimilar", "not_visible"}


def test_parse_features_as_typed_in_any_order_and_spelling() -> None:
    c = Checklist.parse_features(["Nose=dissimilar:broken since: 2019", "eyes=Similar",
                                  "Chin/jawline=not visible"])
    # kept in FISWG's order, keys normalised, the note keeps its own colons
    assert [f.component for f in c.features] == ["eyes", "nose", "chin_jawline"]
    assert c.feature("nose") == Feature("nose", "dissimilar", "broken since: 2019")
    assert c.feature("chin_jawline") == Feature("chin_jawline", "not_visible")
    assert not c.complete and len(c.missing) == 15
    assert Checklist.from_json(c.to_json()) == c
    for bad, words in ((["teeth=similar"], "unknown facial component 'teeth'"),
                       (["eyes=same"], "Eyes: the value is one of"),
                       (["eyes"], "COMPONENT=VALUE"),
                       (["eyes=similar", "EYES=dissimilar:x"], "Eyes is given twice")):
        with pytest.raises(ChecklistError, match=words):
            Checklist.parse_features(bad)


def test_a_dissimilarity_needs_a_note_and_a_leads_note_explains_it() -> None:
    unnoted = full(nose="dissimilar")
    problem = checklist_problem(unnoted, "not_the_person", required=False)
    assert problem == "a dissimilar component needs a note saying what differs: Nose"
    lead_problem = checklist_problem(unnoted, "possible_lead", required=False)
    assert lead_problem is not None
    assert "explain the dissimilarity of Nose" in lead_problem
    assert "an unexplained dissimilarity excludes (FISWG)" in lead_problem
    explained = full(nose={"value": "dissimilar", "note": "swollen: booked after a fight"})
    assert checklist_problem(explained, "possible_lead", required=True) is None


def test_the_setting_requires_a_complete_checklist_for_a_possible_lead_only() -> None:
    partial = Checklist.parse_features(["eyes=similar", "nose=similar"])
    assert checklist_problem(partial, "possible_lead", required=False) is None
    problem = checklist_problem(partial, "possible_lead", required=True)
    assert problem is not None and "judge every component (16 left: Skin," in problem
    missing = checklist_problem(None, "possible_lead", required=True)
    assert missing is not None and "(18 left" in missing
    for other in ("not_the_person", "inconclusive"):
        assert checklist_problem(None, other, required=True) is None
    assert checklist_problem(full(), "possible_lead", required=True) is None


# --- stored with the decision, in its audit event, covered by the digests -----------------------


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "checklist")


@pytest.fixture
def world(template: Path | str, tmp_path: Path) -> Iterator[World]:
    yield from world_copy(template, tmp_path / "g")


def test_stored_with_the_decision_and_logged(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "CL-1", PURPOSE, "robbery")
    cs = world.search(ann, case)
    checklist = full(nose={"value": "dissimilar", "note": "swollen in the probe"})
    d = cases.decide(ann, cs.id, 2, "possible_lead", "ears alike", checklist=checklist)
    assert d.checklist == checklist
    ev = last_event(world.gallery)
    assert ev.kind == "decision" and ev.data["checklist"] == checklist.as_dict()
    assert ev.data["checklist"]["nose"] == {"value": "dissimilar",
                                            "note": "swollen in the probe"}
    assert cases.get_decision(world.gallery, d.id).as_dict()["checklist"]["eyes"] == \
        {"value": "similar", "note": ""}
    # without one: NULL, as for decisions made before the checklist existed
    plain = cases.decide(ann, cs.id, 1, "not_the_person", "different nose")
    assert plain.checklist is None and last_event(world.gallery).data["checklist"] is None
    assert audit.verify(world.gallery).ok
    # the checklist column is covered: edited by raw SQL, verification names the decision
    tamper(world.gallery, ("UPDATE decisions SET checklist = ? WHERE id = ?",
                           (full().to_json(), d.id)))
    v = audit.verify(world.gallery)
    assert not v.ok and any(f"decision {d.id}" in p for p in v.problems), v.problems


def test_refused_decisions_store_nothing(world: World) -> None:
    ann, admin = world.session("ann"), world.session("admin")
    case = cases.open_case(ann, "CL-2", PURPOSE, "robbery")
    cs = world.search(ann, case)
    with pytest.raises(CaseError, match="explain the dissimilarity of Ears"):
        cases.decide(ann, cs.id, 1, "possible_lead", "r", checklist=full(ears="dissimilar"))
    admin.set_setting("checklist_required", True)
    assert payload(last_event(world.gallery)) == {"setting": "checklist_required",
                                              "from": False, "to": True}
    with pytest.raises(CaseError, match="requires the feature-by-feature checklist"):
        cases.decide(ann, cs.id, 1, "possible_lead", "r")
    assert cases.decisions(world.gallery, case.id) == []
    # the Review the window uses says the same, before anything is stored
    probe_seen, face, _ = world.raw_result()
    review = Review(probe_seen, face, cs.result, search_id=cs.id)
    with pytest.raises(ReviewError, match=r"judge every component \(17 left"):
        review.record_decision(ann, 1, "possible_lead", "r",
                               Checklist.parse_features(["eyes=similar"]))
    assert review.record_decision(ann, 1, "possible_lead", "r", full()).checklist == full()
    # other decisions need none, even with the setting on
    assert cases.decide(ann, cs.id, 2, "inconclusive", "blurred").checklist is None


def test_hidden_in_a_blind_second_review_like_the_rationale(world: World) -> None:
    ann, sam, admin = world.session("ann"), world.session("sam"), world.session("admin")
    admin.set_setting("blind_second_review", True)
    case = cases.open_case(ann, "CL-3", PURPOSE, "robbery")
    cs = world.search(ann, case)
    checklist = full(ears={"value": "dissimilar", "note": "lobe torn since"})
    d = cases.decide(ann, cs.id, 1, "possible_lead", "ears", checklist=checklist)
    [pending] = cases.pending_for(sam)
    assert pending.rationale_hidden and pending.decision.checklist is None
    assert pending.as_dict()["checklist"] is None
    view = cases.case_view(sam, "CL-3")
    assert view.decisions[0].checklist is None and d.id in view.hidden
    events = cases.audit_view(sam, case="CL-3").events
    logged = next(e for e in events if e.kind == "decision")
    assert logged.data["checklist"] == cases.BLIND_HIDDEN
    assert "lobe torn" not in json.dumps([e.data for e in events])
    # the analyst reads their own; everyone reads it after the verdict
    assert cases.pending_for(ann)[0].decision.checklist == checklist
    cases.review_lead(sam, d.id, "confirmed", "agree")
    assert cases.case_view(sam, "CL-3").decisions[0].checklist == checklist


# --- the command line -----------------------------------------------------------------------


def test_cli_decide_with_features_and_the_blind_listing(run: Run, staffed: Path,
                                                        probe: Path) -> None:
    ok(run("settings", "set", "checklist_required", "on", user="admin"))
    ok(run("settings", "set", "blind_second_review", "on", user="admin"))
    ok(run("case", "open", "C-9", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-9")["search_id"]
    base = ["decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
            "--rationale", "ears"]
    refused(run(*base, "--feature", "eyes=similar", user="ann"),
            "requires the feature-by-feature checklist", "17 left")
    refused(run(*base, "--feature", "teeth=similar", user="ann"),
            "unknown facial component 'teeth'")
    features = [a for c in COMPONENTS if c != "nose" for a in ("--feature", f"{c}=similar")]
    refused(run(*base, *features, "--feature", "nose=dissimilar", user="ann"),
            "explain the dissimilarity of Nose")
    out = ok(run(*base, *features, "--feature", "nose=dissimilar:swollen after a fight",
                 user="ann")).stdout
    assert "Pending second review" in out
    mine = ok(run("leads", "pending", user="ann")).stdout
    assert "checklist: 17 similar, 1 dissimilar, 0 not visible (18 of 18" in mine
    assert "Nose: Dissimilar — swollen after a fight" in mine
    for args in (("leads", "pending"), ("case", "show", "C-9")):
        theirs = ok(run(*args, user="sam")).stdout
        assert "swollen" not in theirs and f"checklist: {cases.BLIND_HIDDEN}" in theirs
    [lead] = json.loads(ok(run("leads", "pending", "--json", user="sam")).stdout)
    assert lead["checklist"] is None
    out = ok(run("leads", "review", lead["id"], "--verdict", "confirmed", "--rationale",
                 "agree", user="sam")).stdout
    assert "Nose: Dissimilar — swollen after a fight" in out
    assert f"facedesk evidence add {lead['id']}" in out
    with Gallery.open(staffed) as g:
        stored = cases.get_decision(g, lead["id"]).checklist
    assert stored is not None and stored.complete
    assert "--feature COMPONENT=VALUE[:NOTE]" in ok(run("decide", "--help",
                                                        with_db=False)).stdout
