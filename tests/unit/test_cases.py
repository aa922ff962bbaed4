"""Cases, searches, decisions, the two-person rule and retention (facedesk.app.cases), on
real gallery files with the fake engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from accountability import (
    BACKENDS,
    DISTANCES,
    PURPOSE,
    World,
    audit_count,
    last_event,
    open_world,
    payload,
    template_on_backend,
)

from facedesk.app import accounts, audit, cases
from facedesk.domain import rates
from facedesk.errors import CaseError, LeadError, NotPermitted


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "cases")


@pytest.fixture
def world(template: Path | str, tmp_path: Path):
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


def counts(w: World) -> tuple[int, int, int, int]:
    """searches, decisions, second reviews, audit events"""
    c = w.gallery.conn
    return (c.execute("SELECT count(*) FROM searches").fetchone()[0],
            c.execute("SELECT count(*) FROM decisions").fetchone()[0],
            c.execute("SELECT count(*) FROM lead_reviews").fetchone()[0],
            audit_count(w.gallery))


# --- opening and closing cases ---------------------------------------------------------------


def test_open_case_is_logged(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, " 2026-0042 ", PURPOSE, "armed robbery, Main St")
    assert (case.number, case.purpose, case.opened_by, case.is_open, case.training) == \
        ("2026-0042", PURPOSE, "ann", True, False)
    assert cases.get_case(world.gallery, "2026-0042") == case
    ev = last_event(world.gallery)
    assert (ev.kind, ev.case_id, ev.user_id, ev.data["number"]) == \
        ("case_opened", case.id, "ann", "2026-0042")


def test_duplicate_case_number_refused(world: World) -> None:
    ann, sam = world.session("ann"), world.session("sam")
    cases.open_case(ann, "2026-0042", PURPOSE)
    before = counts(world)
    for number in ("2026-0042", "  2026-0042"):
        with pytest.raises(CaseError, match="already exists"):
            cases.open_case(sam, number, PURPOSE)
    assert len(cases.cases(world.gallery)) == 1
    assert counts(world) == before


def test_purpose_comes_from_the_administrators_list_or_other_with_detail(world: World) -> None:
    g = world.gallery
    ann = world.session("ann")
    with pytest.raises(CaseError, match="purpose"):
        cases.open_case(ann, "C-1", "Curiosity")
    with pytest.raises(CaseError, match="describe the purpose"):
        cases.open_case(ann, "C-2", "Other")
    with pytest.raises(CaseError, match="describe the purpose"):
        cases.open_case(ann, "C-2", "Other", "   ")
    other = cases.open_case(ann, "C-3", "Other", "training exercise for new staff")
    assert (other.purpose, other.purpose_detail) == ("Other", "training exercise for new staff")
    with pytest.raises(CaseError):
        cases.open_case(ann, "", PURPOSE)

    world.session("admin").set_setting("purposes", ["Burglary series"])
    cases.open_case(ann, "C-4", "Burglary series")
    with pytest.raises(CaseError, match="purpose"):
        cases.open_case(ann, "C-5", PURPOSE)  # no longer on the list
    assert sorted(c.number for c in cases.cases(g)) == ["C-3", "C-4"]


def test_close_case_is_logged_and_happens_once(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    closed = cases.close_case(ann, case, "suspect arrested")
    assert not closed.is_open and closed.closed_by == "ann"
    ev = last_event(world.gallery)
    assert (ev.kind, ev.case_id, ev.data["note"]) == ("case_closed", case.id, "suspect arrested")
    with pytest.raises(CaseError, match="already closed"):
        cases.close_case(ann, case)
    assert cases.cases(world.gallery, open_only=True) == []


# --- searches --------------------------------------------------------------------------------


def test_search_needs_an_open_case(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    cases.close_case(ann, case)
    before = counts(world)
    with pytest.raises(CaseError, match="closed"):
        world.search(ann, case)
    assert counts(world) == before
    assert cases.searches(world.gallery, case.id) == []


def test_a_closed_case_is_read_only(world: World) -> None:
    g = world.gallery
    ann, abe, sam = (world.session(u) for u in ("ann", "abe", "sam"))
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    cs = world.search(ann, case)
    lead = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape")
    # closed now, the lead could never be reviewed: refused, by anyone allowed to close
    for who in (ann, abe, world.session("admin")):
        with pytest.raises(CaseError, match="waiting for a second review"):
            cases.close_case(who, case, "done")
    assert cases.get_case(g, case.id).is_open
    cases.review_lead(sam, lead.id, "overturned", "different chin")
    cases.close_case(ann, case, "done")
    before = counts(world)
    with pytest.raises(CaseError, match="read-only"):
        world.search(ann, case)
    with pytest.raises(CaseError, match="read-only"):
        cases.decide(sam, cs.id, 2, "not_the_person", "different nose")
    assert counts(world) == before
    assert cases.get_decision(g, lead.id).status == "overturned"
    # what was stored can still be read
    assert [s.id for s in cases.searches(g, case.id)] == [cs.id]


@pytest.mark.parametrize(("threshold", "top_k"), [
    (0.6, 20), (0.58, 20), (0.5, 20), (0.3, 20), (1.0, 20), (1.0, 3), (0.6, 1), (0.2, 20),
])
def test_a_search_stores_exactly_the_candidates_shown(world: World, threshold: float,
                                                      top_k: int) -> None:
    g = world.gallery
    admin = world.session("admin")
    admin.set_setting("threshold", threshold)
    admin.set_setting("top_k", top_k)
    ann = world.session("ann")
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    probe, face, raw = world.raw_result()
    assert [c.distance for c in raw.candidates] == list(DISTANCES)
    expected = [(c.rank, c.person_id, c.face_id) for c in raw.candidates
                if c.distance <= threshold][:top_k]

    cs = cases.record_search(ann, case, probe, face, raw)

    shown = [(c.rank, c.person_id, c.face_id) for c in cs.result.candidates]
    assert shown == expected
    stored = cases.search_record(g, cs.id)
    assert [(c["rank"], c["person_id"], c["face_id"]) for c in stored.candidates] \
        == expected
    assert (stored.threshold, stored.top_k) == (threshold, top_k)
    assert stored.probe_sha256 == probe.sha256
    assert stored.persons_searched == raw.persons_searched == 5
    assert cases.probe_image(g, cs.id) == world.probe_path.read_bytes()
    ev = audit.event(g, cs.audit_seq)
    assert ev is not None and ev.kind == "search" and ev.case_id == case.id
    assert [(c["rank"], c["person_id"], c["face_id"]) for c in ev.data["candidates"]] \
        == expected
    assert (ev.data["threshold"], ev.data["top_k"], ev.data["id"]) == (threshold, top_k, cs.id)
    assert stored.audit_seq == cs.audit_seq == last_event(g).seq


def test_candidate_viewed_is_logged(world: World) -> None:
    g = world.gallery
    ann = world.session("ann")
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    cs = world.search(ann, case)
    ev = cases.candidate_viewed(ann, cs.id, 2)
    cand = cs.result.candidates[1]
    assert last_event(g) == ev
    assert (ev.kind, ev.user_id, ev.case_id) == ("candidate_viewed", "ann", case.id)
    assert ev.data == {"search_id": cs.id, "rank": 2, "person_id": cand.person_id,
                       "face_id": cand.face_id}
    n = audit_count(g)
    with pytest.raises(CaseError):
        cases.candidate_viewed(ann, cs.id, 5)  # 0.75: beyond the threshold, never shown
    with pytest.raises(CaseError):
        cases.candidate_viewed(ann, 999, 1)
    assert audit_count(g) == n


# --- decisions and the two-person rule -------------------------------------------------------


@pytest.fixture
def searched(world: World) -> tuple[World, cases.Case, cases.CaseSearch]:
    """Case 2026-0042 opened by ann, with one search showing 4 candidates."""
    ann = world.session("ann")
    case = cases.open_case(ann, "2026-0042", PURPOSE)
    cs = world.search(ann, case)
    assert len(cs.result.candidates) == 4
    return world, case, cs


def test_two_person_rule_confirmed_lead(searched) -> None:
    world, case, cs = searched
    g = world.gallery
    ann, abe, sam = (world.session(u) for u in ("ann", "abe", "sam"))
    d = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape", first_impression="similar")
    assert cases.get_decision(g, d.id).status == "pending"
    assert cases.results(g, case.id) == []
    assert [p.id for p in cases.pending_leads(g)] == [d.id]
    ev = last_event(g)
    assert (ev.kind, ev.seq, ev.data["second_review"], ev.data["decision"]) == \
        ("decision", d.audit_seq, True, "possible_lead")
    with pytest.raises(LeadError):  # no lead sheet for a pending lead
        cases.lead_record(ann, d.id)

    before = counts(world)
    with pytest.raises(NotPermitted):  # an analyst, even another one, cannot confirm
        cases.review_lead(abe, d.id, "confirmed", "looks right")
    with pytest.raises(NotPermitted):
        cases.review_lead(ann, d.id, "confirmed", "I am sure")
    with pytest.raises(LeadError, match="rationale"):
        cases.review_lead(sam, d.id, "confirmed", "  ")
    with pytest.raises(LeadError):
        cases.review_lead(sam, d.id, "maybe", "hmm")
    assert counts(world) == before

    reviewed = cases.review_lead(sam, d.id, "confirmed", "same ear shape and scar")
    assert reviewed.status == "confirmed"
    assert reviewed.review.reviewer == "sam"
    assert [r.id for r in cases.results(g, case.id)] == [d.id]
    assert cases.pending_leads(g) == []
    ev = last_event(g)
    assert (ev.kind, ev.user_id, ev.data["verdict"], ev.data["analyst"]) == \
        ("lead_review", "sam", "confirmed", "ann")
    with pytest.raises(LeadError, match="not a pending"):  # a verdict is final
        cases.review_lead(world.session("sue"), d.id, "overturned", "disagree")

    rec = cases.lead_record(ann, d.id).as_dict()
    assert rec["decision"]["id"] == d.id and rec["review"]["verdict"] == "confirmed"
    assert [e["kind"] for e in rec["audit"]] == ["search", "decision", "lead_review"]
    assert rec["probe_image"] == world.probe_path.read_bytes()


def test_the_same_user_cannot_confirm_their_own_lead(searched) -> None:
    world, case, cs = searched
    g = world.gallery
    sam = world.session("sam")
    d = cases.decide(sam, cs.id, 1, "possible_lead", "same ear shape")
    assert cases.get_decision(g, d.id).status == "pending"
    before = counts(world)
    with pytest.raises(LeadError, match="different person"):
        cases.review_lead(sam, d.id, "confirmed", "I checked it again")
    assert counts(world) == before
    cases.review_lead(world.session("sue"), d.id, "confirmed", "agree: ear and scar")
    assert [r.id for r in cases.results(g, case.id)] == [d.id]


def test_an_overturned_lead_is_not_a_result(searched) -> None:
    world, case, cs = searched
    g = world.gallery
    d = cases.decide(world.session("ann"), cs.id, 1, "possible_lead", "same ear shape")
    out = cases.review_lead(world.session("sam"), d.id, "overturned", "different jaw",
                            blind=True)
    assert out.status == "overturned" and out.review.blind == 1
    assert cases.results(g, case.id) == []
    assert cases.pending_leads(g) == []
    with pytest.raises(LeadError):
        cases.lead_record(world.session("ann"), d.id)


def test_without_the_two_person_rule_a_possible_lead_counts_at_once(searched) -> None:
    world, case, cs = searched
    g = world.gallery
    world.session("admin").set_setting("two_person_rule", False)
    ann = world.session("ann")
    d = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape")
    assert cases.get_decision(g, d.id).status == "confirmed"
    assert last_event(g).data["second_review"] == 0
    assert [r.id for r in cases.results(g, case.id)] == [d.id]
    assert cases.pending_leads(g) == []
    with pytest.raises(LeadError, match="not a pending"):
        cases.review_lead(world.session("sam"), d.id, "overturned", "no")
    # a lead recorded while the rule was on still waits after it is turned off
    world.session("admin").set_setting("two_person_rule", True)
    d2 = cases.decide(ann, cs.id, 2, "possible_lead", "same chin")
    world.session("admin").set_setting("two_person_rule", False)
    assert cases.get_decision(g, d2.id).status == "pending"


def test_not_the_person_and_inconclusive_are_never_results(searched) -> None:
    world, case, cs = searched
    g = world.gallery
    world.session("admin").set_setting("two_person_rule", False)
    ann, sam = world.session("ann"), world.session("sam")
    a = cases.decide(ann, cs.id, 1, "not_the_person", "different ears")
    b = cases.decide(ann, cs.id, 2, "inconclusive", "too blurry")
    c = cases.decide(sam, cs.id, 3, "not_the_person", "different nose")
    for d in (a, b, c):
        assert cases.get_decision(g, d.id).status == "not_a_lead"
        with pytest.raises(LeadError):
            cases.review_lead(sam if d is not c else world.session("sue"), d.id,
                              "confirmed", "it is the same")
    assert cases.results(g, case.id) == []
    assert cases.pending_leads(g) == []


def test_training_decisions_are_never_results(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    admin.set_setting("training", True)
    admin.set_setting("two_person_rule", False)
    ann = world.session("ann")
    case = cases.open_case(ann, "TRAIN-1", PURPOSE)
    assert case.training
    cs = world.search(ann, case)
    d = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape")
    assert cases.get_decision(g, d.id).status == "training"
    assert last_event(g).data["training"] is True
    # the case stays a training case when the gallery stops being one
    admin.set_setting("training", False)
    d2 = cases.decide(world.session("sam"), cs.id, 2, "possible_lead", "same chin")
    assert cases.get_decision(g, d2.id).status == "training"
    assert cases.results(g, case.id) == []
    with pytest.raises(LeadError):
        cases.review_lead(world.session("sue"), d.id, "confirmed", "agree")
    with pytest.raises(LeadError):
        cases.lead_record(ann, d.id)


def test_one_decision_per_candidate(searched) -> None:
    world, _case, cs = searched
    ann, sam = world.session("ann"), world.session("sam")
    cases.decide(ann, cs.id, 1, "inconclusive", "too blurry")
    before = counts(world)
    for who, kind in ((ann, "possible_lead"), (sam, "not_the_person")):
        with pytest.raises(CaseError, match="already has a decision"):
            cases.decide(who, cs.id, 1, kind, "second thoughts")
    assert counts(world) == before


def test_bad_decisions_refused(searched) -> None:
    world, _case, cs = searched
    ann, admin = world.session("ann"), world.session("admin")
    before = counts(world)
    with pytest.raises(CaseError, match="rationale"):
        cases.decide(ann, cs.id, 1, "possible_lead", "   ")
    with pytest.raises(CaseError):
        cases.decide(ann, cs.id, 1, "match", "it is him")
    with pytest.raises(CaseError, match="no candidate ranked"):
        cases.decide(ann, cs.id, 5, "possible_lead", "beyond the threshold")
    with pytest.raises(NotPermitted):
        cases.decide(admin, cs.id, 1, "possible_lead", "admins don't")
    assert counts(world) == before


def test_decision_is_checked_against_its_audit_event(searched) -> None:
    world, _case, cs = searched
    g = world.gallery
    d = cases.decide(world.session("ann"), cs.id, 2, "not_the_person", "different ears",
                     first_impression="different", blind=True)
    ev = audit.event(g, d.audit_seq)
    assert ev is not None
    stored = g.conn.execute("SELECT id, search_id, rank, person_id, face_id, decision, "
                            "rationale, reviewer, first_impression, blind_review FROM "
                            "decisions WHERE id = ?", (d.id,)).fetchone()
    assert stored == (ev.data["id"], ev.data["search_id"], ev.data["rank"],
                      ev.data["person_id"], ev.data["face_id"], ev.data["decision"],
                      ev.data["rationale"], ev.data["reviewer"], "different", 1)
    assert ev.data["person_id"] == cs.result.candidates[1].person_id
    assert audit.verify(g).ok


# --- retention -------------------------------------------------------------------------------

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _ago(days: float) -> str:
    """The time `days` before NOW, as searches are stamped."""
    return (NOW - timedelta(days=days)).isoformat(timespec="seconds")


def test_retention_purges_old_searches_of_cases_without_a_confirmed_lead(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    ann, sam = world.session("ann"), world.session("sam")
    admin.set_setting("retention_days", 30)

    # case A: no confirmed lead; one old search (with an inconclusive, an overturned
    # lead and a "not the person"), one old search without decisions, one recent search
    a = cases.open_case(ann, "A-1", PURPOSE)
    a_old = world.search(ann, a, created_at=_ago(45))
    unsure = cases.decide(ann, a_old.id, 1, "inconclusive", "too blurred to compare")
    overturned = cases.decide(ann, a_old.id, 2, "possible_lead", "same chin")
    cases.review_lead(sam, overturned.id, "overturned", "different jaw")
    other = cases.decide(ann, a_old.id, 3, "not_the_person", "different nose")
    a_old2 = world.search(ann, a, created_at=_ago(31))
    a_recent = world.search(ann, a, created_at=_ago(29))
    # case B: a confirmed lead keeps every search of the case, old or not
    b = cases.open_case(ann, "B-1", PURPOSE)
    b_old = world.search(ann, b, created_at=_ago(400))
    b_lead = cases.decide(ann, b_old.id, 1, "possible_lead", "same ear shape")
    cases.review_lead(sam, b_lead.id, "confirmed", "agree: ears and scar")
    b_old2 = world.search(ann, b, created_at=_ago(90))
    # case C: closed, no lead, old search
    c = cases.open_case(ann, "C-1", PURPOSE)
    c_old = world.search(ann, c, created_at=_ago(60))
    cases.close_case(ann, c)
    # case P: a possible lead still waiting for its second review keeps the case whole
    p = cases.open_case(ann, "P-1", PURPOSE)
    p_old = world.search(ann, p, created_at=_ago(200))
    cases.decide(ann, p_old.id, 1, "possible_lead", "same ear shape")

    assert audit.verify(g).ok

    plan = cases.purge_plan(g, now=NOW)
    assert plan.retention_days == 30
    assert plan.searches == [a_old.id, a_old2.id, c_old.id]
    assert plan.decisions == sorted([unsure.id, overturned.id, other.id])
    assert plan.cases == ["A-1", "C-1"]
    assert counts(world)[0] == 7  # a plan changes nothing

    done = cases.purge(admin, now=NOW)
    assert done.as_dict() == plan.as_dict()
    left = {s.id for case in (a, b, c, p) for s in cases.searches(g, case.id)}
    assert left == {a_recent.id, b_old.id, b_old2.id, p_old.id}
    assert [d.status for d in cases.decisions(g)] == ["confirmed", "pending"]
    assert g.conn.execute("SELECT decision_id FROM lead_reviews").fetchall() == \
        [(b_lead.id,)]
    assert cases.probe_image(g, a_old.id) is None
    assert [r.id for r in cases.results(g, b.id)] == [b_lead.id]

    ev = last_event(g)
    assert (ev.kind, ev.user_id) == ("purge", "admin")
    assert ev.data["searches"] == plan.searches and ev.data["decisions"] == plan.decisions
    assert ev.data["cases"] == ["A-1", "C-1"] and ev.data["retention_days"] == 30
    v = audit.verify(g)
    assert v.ok, v.summary()
    # the events of what was purged stay in the log
    assert audit.event(g, a_old.audit_seq) is not None
    # nothing more is due
    assert cases.purge_plan(g, now=NOW).searches == []


def test_purge_needs_a_retention_period_and_an_administrator(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    ann = world.session("ann")
    case = cases.open_case(ann, "A-1", PURPOSE)
    s = world.search(ann, case, created_at=_ago(1000))
    plan = cases.purge_plan(g, now=NOW)
    assert plan.retention_days is None and plan.searches == []
    n = audit_count(g)
    with pytest.raises(CaseError, match="retention"):
        cases.purge(admin, now=NOW)
    assert audit_count(g) == n
    admin.set_setting("retention_days", 30)
    for who in ("ann", "sam"):
        with pytest.raises(NotPermitted):
            cases.purge(world.session(who), now=NOW)
    assert [x.id for x in cases.searches(g, case.id)] == [s.id]
    assert accounts.settings(g).retention_days == 30


def test_a_trainer_works_only_in_training_cases(world: World) -> None:
    """A trainer's rights follow the case, not the gallery's setting now: with training on
    a trainer opens training cases; switched off again, the trainer may not search or
    decide in an ordinary case (whose decisions could become results)."""
    g = world.gallery
    admin, ann, tia = world.session("admin"), world.session("ann"), world.session("tia")
    ordinary = cases.open_case(ann, "2026-0300", PURPOSE)
    admin.set_setting("training", True)
    drill = cases.open_case(tia, "DRILL-1", PURPOSE)
    assert drill.training and not ordinary.training
    shown = world.search(tia, drill)
    cases.decide(tia, shown.id, 1, "possible_lead", "exercise: same ears")
    with pytest.raises(NotPermitted, match="training cases only"):
        world.search(tia, ordinary)
    real = world.search(ann, ordinary)
    with pytest.raises(NotPermitted, match="training cases only"):
        cases.decide(tia, real.id, 1, "possible_lead", "looks alike")
    assert [d.status for d in cases.decisions(g, drill.id)] == ["training"]
    assert cases.decisions(g, ordinary.id) == []


def test_putting_a_calibration_in_use_is_an_administrators_logged_setting(
        world: World) -> None:
    from facedesk.app import calibration

    g = world.gallery
    shipped = rates.reference()
    assert shipped is not None
    # the shipped table, as if measured for this gallery's (fake) engine
    cal = replace(shipped, engine_identity=g.engine_identity(g.engine_ids()[0]) or {})
    ann, admin = world.session("ann"), world.session("admin")
    with pytest.raises(NotPermitted):
        calibration.store(g, cal, "reference")
    with pytest.raises(NotPermitted):
        calibration.store(g, cal, "reference", session=ann)
    cid = calibration.store(g, cal, "reference", session=admin)
    assert g.calibration_in_use() == cid
    ev = last_event(g)
    assert (ev.kind, ev.user_id, payload(ev)) == (
        "setting_changed", "admin", {"setting": "calibration", "from": None, "to": cid})
    calibration.use(g, None, session=admin)
    assert g.calibration_in_use() is None and last_event(g).data["to"] is None
    assert audit.verify(g).ok
    g.conn.execute("INSERT INTO meta(key, value) VALUES ('calibration_id', ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(cid),))
    assert not audit.verify(g).ok  # put in use behind the log's back
