from __future__ import annotations

import math
from pathlib import Path

import pytest
from fakes import FakeEngine, one_face, save_png

from facedesk.app import accounts, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.review import Review, ReviewError
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain import alignment, quality
from facedesk.domain.faces import FaceQuality
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery
from facedesk.store.decisions import decision_rows


def test_quality_warnings_in_plain_words() -> None:
    good = FaceQuality(size_px=150, eye_distance_px=60, sharpness=200, brightness=120,
                       yaw_deg=5)
    assert quality.warnings(good) == []
    bad = FaceQuality(size_px=30, eye_distance_px=12, sharpness=5, brightness=20, yaw_deg=-45,
                      roll_deg=-38, landmark_fit=0.1, upright_deg=-41)
    checks = {c.figure: c for c in quality.check(bad)}
    assert not any(c.ok for c in checks.values())
    assert set(checks) >= {"roll_deg", "landmark_fit"}
    assert "tilted about 38°" in checks["roll_deg"].warning
    assert "do not fit this face" in checks["landmark_fit"].warning
    assert "about 41° clockwise" in checks["landmark_fit"].warning  # how to turn it upright
    # not measured (a gallery face): no landmark-fit figure at all
    assert "landmark_fit" not in {c.figure for c in quality.check(good)}
    assert "small" in checks["size_px"].warning
    assert "dark" in checks["brightness"].warning
    assert "turned about 45°" in checks["yaw_deg"].warning
    bright = FaceQuality(150, 60, 200, 240, 0)
    assert "over-exposed" in quality.warnings(bright)[0]


def test_eye_alignment_maps_eyes_onto_canvas_points() -> None:
    # eyes at (100, 200) and (160, 230): rotated, scaled, shifted
    pts = [(0, 0)] * 68
    pts[36:42] = [(100, 200)] * 6
    pts[42:48] = [(160, 230)] * 6
    sim = alignment.eye_alignment(pts)
    for src, dst in (((100, 200), alignment.LEFT_EYE), ((160, 230), alignment.RIGHT_EYE)):
        x, y = sim.apply(*src)
        assert x == pytest.approx(dst[0]) and y == pytest.approx(dst[1])
    assert sim.rotation_deg == pytest.approx(-math.degrees(math.atan2(30, 60)))
    m11, m12, m21, m22, dx, dy = sim.as_affine()
    x, y = 100, 200  # Qt's row-vector convention gives the same point
    assert m11 * x + m21 * y + dx == pytest.approx(alignment.LEFT_EYE[0])
    assert m12 * x + m22 * y + dy == pytest.approx(alignment.LEFT_EYE[1])
    with pytest.raises(ValueError):
        alignment.between(((1, 1), (1, 1)), ((0, 0), (1, 0)))


@pytest.fixture
def analyst(gallery: Gallery) -> accounts.Session:
    admin = accounts.create_first_administrator(gallery, "admin", "Ada Admin",
                                                password="quartz-Lantern-6150")
    admin.add_user("ann", "Ann Analyst", "analyst", password="maple-Tunnel-2287")
    # the fake engine puts different persons ~1.8 apart, beyond the largest threshold an
    # administrator may set (1.0): store a larger one directly so all 3 candidates show
    with gallery.write() as conn:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                     "('setting:threshold', '3.0')")
    return accounts.sign_in(gallery, "ann", "maple-Tunnel-2287")


@pytest.fixture
def review(gallery: Gallery, people_dir: Path, fake_spec: EngineSpec, tmp_path: Path,
           analyst: accounts.Session):
    for _ in run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(workers=1),
                        user_id=analyst.user_id):
        pass
    engine = FakeEngine()
    path = save_png(one_face(1, 50), tmp_path / "probe.png")
    probe = analyze_probe(engine, path)
    face = choose_face(engine, probe)
    result = Searcher(gallery, engine.identity()).search(face.encoding, 3)
    case = cases.open_case(analyst, "2026-1", accounts.DEFAULT_PURPOSES[0])
    shown = cases.record_search(analyst, case, probe, face, result)
    return Review(probe, face, shown.result, blind=True, search_id=shown.id)


def test_nothing_is_written_until_a_decision_is_recorded(gallery: Gallery, review: Review,
                                                         analyst: accounts.Session) -> None:
    assert decision_rows(gallery) == []
    with pytest.raises(ReviewError, match="first impression"):
        review.record_decision(analyst, 1, "possible_lead", "eyes, nose")
    assert not review.scores_visible(1)
    review.record_first_impression(1, "similar")
    review.record_first_impression(1, "different")  # the first one stands
    assert review.first_impressions[1] == "similar" and review.scores_visible(1)
    with pytest.raises(ReviewError, match="rationale"):
        review.record_decision(analyst, 1, "possible_lead", "   ")
    with pytest.raises(ReviewError, match="decision must be"):
        review.record_decision(analyst, 1, "match", "eyes")
    unrecorded = Review(review.probe, review.face, review.result)
    with pytest.raises(ReviewError, match="not recorded in a case"):
        unrecorded.record_decision(analyst, 1, "inconclusive", "eyes")
    assert decision_rows(gallery) == []
    row = review.record_decision(analyst, 1, "possible_lead", "Same hairline and ear shape")
    stored = decision_rows(gallery, review.probe.sha256)
    assert len(stored) == 1 and stored[0].id == row.id
    assert stored[0].reviewer == "ann" and stored[0].first_impression == "similar"
    assert stored[0].person_id == "person_1" and stored[0].blind_review == 1
    assert stored[0].search_id == review.search_id
    assert row.status == "pending"  # the two-person rule is on by default
    assert review.undecided() == [2, 3]
    with pytest.raises(ReviewError, match="already"):
        review.record_decision(analyst, 1, "inconclusive", "x")


def test_database_refuses_a_decision_without_rationale(gallery: Gallery, review: Review) -> None:
    import sqlite3

    from facedesk.store.decisions import NewDecision, insert_decision

    with pytest.raises(sqlite3.IntegrityError), gallery.write() as conn:
        insert_decision(conn, NewDecision.of({
            "reviewer": "x", "decision": "possible_lead", "rationale": " ",
            "blind_review": 0, "probe_sha256": "s", "probe_path": "p",
            "probe_box": "[]", "engine_id": review.result.engine_id,
            "gallery_version": 1, "persons_searched": 1, "person_id": "p",
            "face_id": 1, "rank": 1, "distance": 0.1, "similarity": 0.9}))
    with pytest.raises(ValueError, match="unknown decision fields"):
        NewDecision.of({"bogus": 1})
