"""Search with the real engine: held-out LFW photos find their person first.

The session gallery (conftest.lfw_gallery) holds 30 LFW persons, all of their first
photos but one; the held-out photo of each is the probe.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain.imaging import sha256_bytes
from facedesk.store import Gallery

MIN_RANK1_SHARE = 0.9
WELL_KNOWN = "George_W_Bush"


def test_gallery_holds_every_imported_photo_with_its_face(lfw_gallery) -> None:
    expected = sum(len(v) for v in lfw_gallery.gallery_photos.values())
    final = lfw_gallery.final
    assert final.status == "completed"
    assert final.counts.total == expected
    assert final.counts.imported == expected
    assert final.counts.failed == 0, final.problems
    with Gallery.open(lfw_gallery.db) as g:
        counts = g.counts()
        assert counts["persons"] == len(lfw_gallery.persons) == 30
        assert counts["photos"] == expected
        # LFW photos are centred portraits: the HOG detector finds nearly all of them
        assert counts["faces"] >= expected - 2
        rows = g.conn.execute(
            "SELECT s.person_id, count(f.id) FROM persons s "
            "LEFT JOIN faces f ON f.person_pk = s.id GROUP BY s.id").fetchall()
        assert {pid for pid, n in rows if n > 0} == set(lfw_gallery.persons)
        stored = g.stored_hashes()
    # the probes really are held out
    for probe in lfw_gallery.probes.values():
        assert sha256_bytes(probe.read_bytes()) not in stored


def test_held_out_photos_rank_their_person_first(lfw_gallery, real_engine) -> None:
    assert len(lfw_gallery.probes) >= 10
    first: dict[str, str] = {}
    with Gallery.open(lfw_gallery.db) as g:
        searcher = Searcher(g, real_engine.identity())
        for person, probe in lfw_gallery.probes.items():
            analysed = analyze_probe(real_engine, probe)
            face = choose_face(real_engine, analysed)
            result = searcher.search(face.encoding, top_k=5)
            assert result.persons_searched == 30
            assert len(result.candidates) == 5
            first[person] = result.candidates[0].person_id
    wrong = {p: got for p, got in first.items() if got != p}
    share = 1 - len(wrong) / len(first)
    assert share >= MIN_RANK1_SHARE, f"rank-1 share {share:.2f}; wrong: {wrong}"
    assert first[WELL_KNOWN] == WELL_KNOWN


def test_cli_search_json_lists_the_person_first(lfw_gallery, case_gallery,
                                                run_facedesk) -> None:
    probe: Path = lfw_gallery.probes[WELL_KNOWN]
    proc = run_facedesk("search", probe, "--db", case_gallery.db, "--case", case_gallery.case,
                        "--top", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)

    assert "investigative leads only" in doc["notice"]
    # the shipped LFW calibration belongs to this engine: every candidate has its FMR
    assert doc["calibration"].startswith("reference shipped with FaceDesk — LFW")
    best = doc["candidates"][0]
    assert 0 <= best["fmr"]["fmr_95"][0] <= best["fmr"]["fmr"] <= best["fmr"]["fmr_95"][1]
    assert best["expected_lookalikes"] == pytest.approx(30 * best["fmr"]["fmr"], abs=1e-3)
    assert doc["lookalikes_at_best"] == best["expected_lookalikes"]
    fmrs = [c["fmr"]["fmr"] for c in doc["candidates"]]
    assert fmrs == sorted(fmrs)  # farther candidates: more impostors that close
    assert doc["probe"]["path"] == str(probe)
    assert doc["probe"]["sha256"] == sha256_bytes(probe.read_bytes())
    assert len(doc["probe"]["faces"]) >= 1
    assert doc["persons_searched"] == 30
    with sqlite3.connect(lfw_gallery.db) as conn:
        n_faces = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
    assert doc["faces_searched"] == n_faces

    cands = doc["candidates"]
    assert len(cands) == 10
    assert cands[0]["person_id"] == WELL_KNOWN
    assert cands[0]["name"] == "George W Bush"
    gallery_paths = {str(p) for p in lfw_gallery.gallery_photos[WELL_KNOWN]}
    assert cands[0]["photo"]["path"] in gallery_paths
    assert cands[0]["photos_of_person"] == len(gallery_paths)
    assert [c["rank"] for c in cands] == list(range(1, 11))
    distances = [c["distance"] for c in cands]
    assert distances == sorted(distances)
    assert distances[0] < 0.6 < distances[-1]
    assert len({c["person_id"] for c in cands}) == len(cands)  # one row per person
    for c in cands:
        assert -1.0 <= c["similarity"] <= 1.0
        # the other photos of a person are never closer than the photo shown first
        assert all(o["distance"] >= c["distance"] for o in c["other_photos"])
