"""The use cases around a search of a case (facedesk.app.cases): `search_for_case`, the
closed-case rule in one place, the probe's own bytes, and the typed records the store
returns; on a real gallery file with the fake engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from accountability import BACKENDS, PURPOSE, World, open_world, template_on_backend
from fakes import FakeEngine

from facedesk.app import cases, engines
from facedesk.app.search import Probe, Searcher, analyze_probe, choose_face
from facedesk.domain import imaging
from facedesk.errors import CaseError, EngineMismatch
from facedesk.store.decisions import NewDecision


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "use_cases")


@pytest.fixture
def world(template: Path | str, tmp_path: Path):
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


def test_a_probe_keeps_the_bytes_it_was_analysed_from(world: World) -> None:
    probe = analyze_probe(FakeEngine(), world.probe_path)
    assert probe.data == world.probe_path.read_bytes()
    assert imaging.sha256_bytes(probe.data) == probe.sha256


def test_search_for_case_searches_records_and_estimates(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "U-1", PURPOSE)
    eng = FakeEngine()
    probe = analyze_probe(eng, world.probe_path)
    face = choose_face(eng, probe)
    searcher = Searcher(world.gallery, eng.identity())
    recorded = cases.search_for_case(ann, case, searcher, probe, face, top_k=3)
    stored = cases.search_record(world.gallery, recorded.id)
    assert isinstance(stored, cases.StoredSearch)
    assert (stored.case_id, stored.user_id, stored.probe_sha256) == (case.id, "ann",
                                                                      probe.sha256)
    assert stored.top_k == min(3, ann.settings().top_k)
    assert cases.probe_image(world.gallery, recorded.id) == world.probe_path.read_bytes()
    assert recorded.lookalikes_at_threshold is not None
    assert recorded.lookalikes_at_threshold["distance"] == recorded.threshold
    assert stored.lookalikes is not None
    assert stored.lookalikes["at_threshold"] == recorded.lookalikes_at_threshold
    assert stored.has_probe_image is True and stored.as_dict()["has_probe_image"] == 1


def test_the_closed_case_rule_is_one_function(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "U-2", PURPOSE)
    assert cases.closed_reason(case) is None and cases.require_open(case) is case
    closed = cases.close_case(ann, case)
    assert cases.closed_reason(closed) == "case U-2 is closed: a closed case is read-only"
    with pytest.raises(CaseError, match="read-only; open a new case"):
        cases.require_open(closed, then="open a new case")
    eng = FakeEngine()
    probe = analyze_probe(eng, world.probe_path)
    searcher = Searcher(world.gallery, eng.identity())
    with pytest.raises(CaseError, match="is closed"):  # refused before searching
        cases.search_for_case(ann, closed, searcher, probe, choose_face(eng, probe), 3)
    assert cases.searches(world.gallery, closed.id) == []


def test_a_probe_without_its_bytes_is_not_recorded(world: World) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "U-3", PURPOSE)
    probe, face, res = world.raw_result()
    bare = Probe(probe.path, probe.sha256, probe.image, probe.faces)
    with pytest.raises(ValueError, match="bytes"):
        cases.record_search(ann, case, bare, face, res)


def test_decisions_are_typed_records_with_a_json_form(world: World) -> None:
    ann, sam = world.session("ann"), world.session("sam")
    case = cases.open_case(ann, "U-4", PURPOSE)
    cs = world.search(ann, case)
    d = cases.decide(ann, cs.id, 1, "possible_lead", "same ear shape")
    assert isinstance(d, cases.Decision) and d.status == "pending" and d.review is None
    doc = d.as_dict()
    assert (doc["id"], doc["status"], doc["review"], doc["case_number"]) == \
        (d.id, "pending", None, "U-4")
    reviewed = cases.review_lead(sam, d.id, "confirmed", "agree")
    assert reviewed.review is not None and reviewed.review.verdict == "confirmed"
    assert reviewed.as_dict()["review"]["reviewer"] == "sam"
    assert reviewed.status == "confirmed"
    assert cases.lead_record(ann, d.id).as_dict()["decision"]["id"] == d.id
    with pytest.raises(ValueError, match="unknown decision fields"):
        NewDecision.of({"bogus": 1})


def test_one_engine_rule(world: World) -> None:
    identity = {**FakeEngine().identity(), "version": "another"}
    with pytest.raises(EngineMismatch, match="cannot be compared"):
        engines.require_engine(world.gallery, identity)
    engines.require_engine(world.gallery, FakeEngine().identity())
