"""The rules the front ends used to hold, tested in the app on their own (a real gallery
file, the fake engine, no CLI or GUI): what a reader sees of a case, the leads waiting and
the audit log under blind second review; the case list's counts; a review made blind by
the setting; the open case new work acts on; import folders; a decision as entered; the
lab's metadata-column check and a pairs file's photos."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability import PURPOSE, World, build_template, world_copy

from facedesk.app import accounts, cases, lab
from facedesk.app.review import Review, ReviewError
from facedesk.domain.evaluation import PairSpec
from facedesk.errors import AccountError, CaseError, EvaluationError, NotPermitted


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("app_rules"))


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    yield from world_copy(template, tmp_path)


def _pending_lead(world: World, number: str = "R-1") -> tuple[cases.Case, cases.Decision]:
    """Ann's possible lead in a new case `number`, pending its second review."""
    ann = world.session("ann")
    case = cases.open_case(ann, number, PURPOSE)
    d = cases.decide(ann, world.search(ann, case).id, 1, "possible_lead", "same ear shape")
    assert d.status == "pending"
    return case, d


# --- what a reader sees -------------------------------------------------------------------------


def test_case_view_blanks_a_hidden_rationale_for_others_only(world: World) -> None:
    world.session("admin").set_setting("blind_second_review", True)
    case, d = _pending_lead(world)
    for reader, hidden in (("ann", False), ("abe", True), ("sam", True)):
        view = cases.case_view(world.session(reader), case.number)
        assert view.case.id == case.id and len(view.searches) == 1
        [seen] = view.decisions
        assert seen.rationale == (cases.BLIND_HIDDEN if hidden else "same ear shape"), reader
        assert view.hidden == (frozenset({d.id}) if hidden else frozenset()), reader
        doc = view.as_dict()
        assert doc["decisions"][0]["rationale"] == seen.rationale
        assert doc["results"] == [] and view.results == []
    cases.review_lead(world.session("sam"), d.id, "confirmed", "agree")
    view = cases.case_view(world.session("abe"), case.id)  # by id too
    assert view.hidden == frozenset() and view.decisions[0].rationale == "same ear shape"
    assert [r.id for r in view.results] == view.as_dict()["results"] == [d.id]


def test_case_view_without_blind_review_hides_nothing(world: World) -> None:
    case, _ = _pending_lead(world)
    view = cases.case_view(world.session("sam"), case.number)
    assert view.hidden == frozenset() and view.decisions[0].rationale == "same ear shape"


def test_case_view_keeps_a_trainer_out_of_a_real_gallery(world: World) -> None:
    case, _ = _pending_lead(world)
    with pytest.raises(NotPermitted, match="trainers work in training galleries only"):
        cases.case_view(world.session("tia"), case.number)
    with pytest.raises(CaseError, match="there is no case"):
        cases.case_view(world.session("ann"), "NOPE")


def test_pending_for_shows_visible_leads_with_hidden_rationales_blanked(world: World) -> None:
    world.session("admin").set_setting("blind_second_review", True)
    _, d = _pending_lead(world)
    [mine] = cases.pending_for(world.session("ann"))
    assert not mine.rationale_hidden and mine.decision.rationale == "same ear shape"
    assert mine.as_dict()["rationale"] == "same ear shape"
    [theirs] = cases.pending_for(world.session("sam"))
    assert theirs.rationale_hidden and theirs.decision.rationale == cases.BLIND_HIDDEN
    assert theirs.as_dict()["rationale"] is None and theirs.as_dict()["id"] == d.id
    with pytest.raises(NotPermitted):  # a real gallery: not a trainer's to read
        cases.pending_for(world.session("tia"))


def test_audit_view_blanks_hidden_rationales_and_names_cases(world: World) -> None:
    world.session("admin").set_setting("blind_second_review", True)
    case, d = _pending_lead(world)
    view = cases.audit_view(world.session("sam"), case=case.number)
    assert view.events and all(e.case_id == case.id for e in view.events)
    [decided] = [e for e in view.events if e.kind == "decision"]
    assert decided.data["id"] == d.id and decided.data["rationale"] == cases.BLIND_HIDDEN
    assert view.case_number(decided) == case.number
    own = cases.audit_view(world.session("ann"), limit=3)
    assert len(own.events) == 3
    [only] = cases.audit_view(world.session("sam"), kinds=["decision"]).events
    assert only.data["rationale"] == cases.BLIND_HIDDEN
    assert [e.data["rationale"] for e in cases.audit_view(world.session("ann")).events
            if e.kind == "decision"] == ["same ear shape"]
    assert all(view.case_number(e) is None for e in
               cases.audit_view(world.session("sam")).events if e.case_id is None)


def test_case_summaries_count_searches_and_results(world: World) -> None:
    ann, sam = world.session("ann"), world.session("sam")
    case, d = _pending_lead(world)
    other = cases.open_case(ann, "R-2", PURPOSE)
    world.search(ann, other)
    world.search(ann, other)
    by_number = {s.case.number: s for s in cases.case_summaries(ann)}
    assert (by_number["R-1"].searches, by_number["R-1"].confirmed_leads) == (1, 0)
    assert (by_number["R-2"].searches, by_number["R-2"].confirmed_leads) == (2, 0)
    cases.review_lead(sam, d.id, "confirmed", "agree")
    cases.close_case(ann, cases.get_case(world.gallery, "R-2"))
    [open_one] = cases.case_summaries(ann, open_only=True)
    assert open_one.case.id == case.id and open_one.confirmed_leads == 1
    doc = open_one.as_dict()
    assert (doc["number"], doc["searches"], doc["confirmed_leads"]) == ("R-1", 1, 1)
    with pytest.raises(NotPermitted):
        cases.case_summaries(world.session("tia"))
    world.session("admin").set_setting("training", True)  # a training gallery
    tia = world.session("tia")
    cases.open_case(tia, "T-1", PURPOSE)
    assert [s.case.number for s in cases.case_summaries(tia)] == ["T-1"]
    assert cases.pending_for(tia) == []
    assert {e.case_id for e in cases.audit_view(tia).events} <= \
        {None, cases.get_case(world.gallery, "T-1").id}


# --- second review, open cases, decisions -----------------------------------------------------


def test_a_review_is_blind_when_the_setting_is_on(world: World) -> None:
    _, d = _pending_lead(world, "R-3")
    _, e = _pending_lead(world, "R-4")
    sam = world.session("sam")
    assert cases.review_lead(sam, d.id, "confirmed", "agree").review.blind == 0
    world.session("admin").set_setting("blind_second_review", True)
    reviewed = cases.review_lead(world.session("sam"), e.id, "overturned", "no", blind=False)
    assert reviewed.review is not None and reviewed.review.blind == 1


def test_require_open_case_says_what_to_do_instead(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "R-5", PURPOSE)
    assert cases.require_open_case(world.gallery, "R-5") == case
    assert cases.require_open_case(world.gallery, case.id) == case
    cases.close_case(ann, case)
    with pytest.raises(CaseError, match=r"is closed: a closed case is read-only; open a new "
                                        r"case \(facedesk case open\)"):
        cases.require_open_case(world.gallery, "R-5")
    with pytest.raises(CaseError, match="there is no case R-6"):
        cases.require_open_case(world.gallery, "R-6")


def test_a_decision_as_entered_is_checked_by_one_rule(world: World) -> None:
    assert cases.decision_problem("possible_lead", "same ear") is None
    assert cases.decision_problem("maybe", "x") == \
        "decision must be one of: Possible lead, Not the person, Inconclusive"
    assert cases.decision_problem("inconclusive", "  ") == \
        "a decision needs a rationale: say what you compared and saw"
    ann = world.session("ann")
    case = cases.open_case(ann, "R-7", PURPOSE)
    cs = world.search(ann, case)
    with pytest.raises(CaseError, match="decision must be one of"):
        cases.decide(ann, cs.id, 1, "maybe", "x")
    probe, face, _ = world.raw_result()
    review = Review(probe, face, cs.result, search_id=cs.id)
    with pytest.raises(ReviewError, match="needs a rationale"):
        review.record_decision(ann, 1, "inconclusive", " ")
    assert review.record_decision(ann, 1, "inconclusive", "blurred").status == "not_a_lead"


# --- import folders ---------------------------------------------------------------------------


def test_import_roots_are_added_as_real_paths_and_removed_as_typed(world: World,
                                                                   tmp_path: Path) -> None:
    admin = world.session("admin")
    real = tmp_path / "exports"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert accounts.add_import_root(admin, link) == [str(real.resolve())]
    assert accounts.settings(world.gallery).import_roots == [str(real.resolve())]
    assert accounts.add_import_root(admin, real) == [str(real.resolve())]  # no repeat
    with pytest.raises(AccountError, match="no such folder"):
        accounts.add_import_root(admin, tmp_path / "missing")
    with pytest.raises(AccountError, match="is not an allowed import folder"):
        accounts.remove_import_root(admin, tmp_path)
    with pytest.raises(NotPermitted):
        accounts.add_import_root(world.session("ann"), real)
    assert accounts.remove_import_root(admin, link) == []


# --- the lab ------------------------------------------------------------------------------------


def test_check_group_names_the_metadata_columns(world: World) -> None:
    lab.check_group(world.gallery, None)
    with pytest.raises(EvaluationError, match="no photo has a metadata column 'sex' "
                                              r"\(it has: none\)"):
        lab.check_group(world.gallery, "sex")


def test_pair_encodings_are_the_stored_ones_or_refused(world: World, template: Path) -> None:
    images = template.parent / "people"
    pairs = [PairSpec(0, True, "person_0/0.png", "person_0/1.png"),
             PairSpec(0, False, "person_0/0.png", "person_1/2.png")]
    found = lab.pair_encodings(world.gallery, pairs, images)
    assert sorted(found) == ["person_0/0.png", "person_0/1.png", "person_1/2.png"]
    assert all(v is not None and v.shape == (128,) for v in found.values())
    with pytest.raises(EvaluationError, match="1 of the 2 photos named by the pairs are not"):
        lab.pair_encodings(world.gallery, [PairSpec(0, True, "person_0/0.png", "x/0.png")],
                           images)
