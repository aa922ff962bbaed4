"""A search made from a clip keeps its provenance: stored with the search (migration 6),
repeated in its audit event so that `audit verify` finds any edit, and shown on the lead
sheet (fake engine, lossless generated clip, real gallery file)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from accountability import PURPOSE, World, build_template, open_world, tamper
from clipgen import FakeWalk, fake_clip
from fakes import FakeEngine

from facedesk.app import audit, cases, lead_sheet
from facedesk.app.search import Probe, Searcher
from facedesk.domain import clips
from facedesk.domain.faces import Box
from facedesk.store.schema import SCHEMA_VERSION


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("clip_cases"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "store.mov"
    fake_clip(path, (FakeWalk(2, 0, 19, Box(60, 100, 130, 30), Box(70, 200, 140, 130)),), 20)
    return path


@pytest.fixture
def world(template: Path, tmp_path: Path):
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


def clip_search(w: World, clip: Path, *, fuse: bool, brightness: float = 0.0
                ) -> tuple[cases.CaseSearch, clips.ClipProbe]:
    eng = FakeEngine()
    result = clips.run_tracks(eng, clip)
    assert len(result.tracks) == 1
    cp = clips.track_probe(eng, result, result.tracks[0].id, fuse=fuse,
                           brightness=brightness)
    ann = w.session("ann")
    case = cases.open_case(ann, f"C-{fuse}-{brightness}", PURPOSE)
    res = Searcher(w.gallery, eng.identity()).search(cp.encoding, top_k=5)
    probe = Probe.of_clip(cp, clip)
    rec = cases.record_search(ann, case, probe, cp.face, res,
                              provenance=cp.provenance, frame_pngs=cp.frame_pngs)
    return rec, cp


def test_a_clip_search_stores_and_logs_where_its_probe_came_from(world: World,
                                                                 clip: Path) -> None:
    assert SCHEMA_VERSION >= 6
    rec, cp = clip_search(world, clip, fuse=True, brightness=12)
    stored = cases.search_record(world.gallery, rec.id)
    prov = stored.provenance
    assert prov == cp.provenance
    assert prov["fused"] is True and prov["track"] == 1 and len(prov["frames"]) == 3
    assert prov["clip"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert prov["clip"]["size_bytes"] == clip.stat().st_size
    assert (prov["clip"]["container"].split(",")[0], prov["clip"]["codec"]) == ("mov", "png")
    frames = cases.search_frames(world.gallery, rec.id)
    assert [f.frame for f in frames] == [f["frame"] for f in prov["frames"]]
    for f, p in zip(frames, prov["frames"], strict=True):
        assert f.png is not None
        assert hashlib.sha256(f.png).hexdigest() == f.sha256 == p["png_sha256"]
        ops = [a["op"] for a in p["adjustments"]]
        assert ops == ["crop", "brightness"]  # nothing but what was done, each recorded
        assert p["time_s"] == pytest.approx(p["frame"] / 10)
    # the probe image stored is the first frame's PNG, and the search event carries all
    assert stored.probe_sha256 == prov["frames"][0]["png_sha256"]
    ev = audit.event(world.gallery, rec.audit_seq)
    assert ev is not None and ev.data["provenance"] == prov
    assert audit.verify(world.gallery).ok


def test_audit_verify_finds_an_edited_provenance_or_a_replaced_frame(world: World,
                                                                     clip: Path) -> None:
    rec, _ = clip_search(world, clip, fuse=False)
    g = world.gallery
    prov = cases.search_record(g, rec.id).provenance
    assert prov["fused"] is False and len(prov["frames"]) == 1
    edited = {**prov, "frames": [{**prov["frames"][0], "frame": 0}]}
    tamper(g, ("UPDATE searches SET provenance = ? WHERE id = ?",
               (json.dumps(edited), rec.id)))
    v = audit.verify(g)
    assert not v.ok and any("clip provenance differs" in p for p in v.problems)
    tamper(g, ("UPDATE searches SET provenance = ? WHERE id = ?", (json.dumps(prov), rec.id)),
           ("UPDATE search_frames SET png = ? WHERE search_id = ?", (b"not the frame", rec.id)))
    v = audit.verify(g)
    assert not v.ok and any("PNG of frame 1 is not the one searched" in p
                            for p in v.problems)


def test_the_lead_sheet_shows_the_frames_provenance(world: World, clip: Path) -> None:
    rec, _ = clip_search(world, clip, fuse=True)
    ann, sam = world.session("ann"), world.session("sam")
    d = cases.decide(ann, rec.id, 1, "possible_lead", "same pattern seen frame by frame")
    cases.review_lead(sam, d.id, "confirmed", "agree")
    record = cases.lead_record(ann, d.id).as_dict()
    prov = record["search"]["provenance"]
    html = lead_sheet.render_html(record)
    assert prov["clip"]["sha256"] in html and "store.mov" in html
    assert "the fused template of 3 frames" in html
    for f in prov["frames"]:
        assert f"frame {f['frame']} at {f['timecode']}" in html
        assert f["png_sha256"] in html
    assert record["frames"] and all("png" not in f for f in record["frames"])


def test_retention_purges_a_clip_searchs_frames_with_it(world: World, clip: Path) -> None:
    from datetime import UTC, datetime, timedelta

    rec, _ = clip_search(world, clip, fuse=False)
    admin = world.session("admin")
    admin.set_setting("retention_days", 1)
    cases.purge(admin, now=datetime.now(UTC) + timedelta(days=3))
    assert cases.search_frames(world.gallery, rec.id) == []
    assert audit.verify(world.gallery).ok
