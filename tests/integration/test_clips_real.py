"""CCTV clips with the real engine: clips generated from LFW photos that are NOT in the
gallery (each person's held-out photo). Every track's best frame must find its person at
rank 1 wherever the still photo itself does; the tracks must split and join where the
generator's truth says; `facedesk frames` and `facedesk search CLIP` work end to end and
the search's provenance passes `audit verify`."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clipgen import Truth, render, two_people_with_cut, walker

from facedesk.app.search import Searcher
from facedesk.domain import analysis, clips
from facedesk.domain.imaging import load_image
from facedesk.store import Gallery

#: three gallery persons whose held-out photo the HOG detector finds
PEOPLE = 3


@pytest.fixture(scope="module")
def chosen(lfw_gallery: Any, real_engine) -> list[tuple[str, Path]]:
    out = []
    for person in lfw_gallery.persons:
        photo = lfw_gallery.probes[person]
        face, _ = analysis.subject_face(real_engine, load_image(photo),
                                        analysis.DetectOptions())
        if face is not None:
            out.append((person, photo))
        if len(out) == PEOPLE:
            return out
    pytest.skip("not enough LFW persons with a detectable held-out photo")


@pytest.fixture(scope="module")
def scene(chosen: list[tuple[str, Path]], real_engine,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth, clips.ClipTracks]:
    path = tmp_path_factory.mktemp("clips") / "scene.mp4"
    truth = render(two_people_with_cut(*chosen), path)
    return path, truth, clips.run_tracks(real_engine, path)


def rank_of(searcher: Searcher, encoding: np.ndarray, person: str) -> int | None:
    result = searcher.search(encoding, top_k=10)
    return next((c.rank for c in result.candidates if c.person_id == person), None)


def test_tracks_split_and_join_where_the_truth_says(scene) -> None:
    _, truth, result = scene
    # A and B before the cut, C between 0.8 s and 1.6 s, A and B after the cut
    assert len(truth.segments()) == 5
    splits, merges, missed = truth.errors(result)
    print(f"track errors: {splits} splits, {merges} merges, {missed} missed of "
          f"{len(truth.segments())} segments; {result.outcome()}")
    assert (splits, merges, missed) == (0, 0, 0)
    # found at the first frame analysed after it
    step = math.ceil(result.info.fps / result.options.analysis_fps)
    assert result.cuts and truth.shots[1] <= result.cuts[0] <= truth.shots[1] + step


def test_every_tracks_best_frame_finds_its_person_where_the_still_does(
        scene, chosen, lfw_gallery: Any, real_engine) -> None:
    _, truth, result = scene
    with Gallery.open(lfw_gallery.db) as g:
        searcher = Searcher(g, real_engine.identity())
        still_rank = {}
        for person, photo in chosen:
            face, _ = analysis.subject_face(real_engine, load_image(photo),
                                            analysis.DetectOptions())
            assert face is not None
            still_rank[person] = rank_of(searcher, face.encoding, person)
        checked = 0
        for t in result.tracks:
            who = {truth.who(f, b) for f, b in t.boxes.items()}
            assert len(who) == 1 and None not in who
            person = next(iter(who))[2]  # type: ignore[index]
            best = rank_of(searcher, t.best[0].encoding, person)
            fused = rank_of(searcher, t.fused(), person)
            print(f"track {t.id} ({person}): still rank {still_rank[person]}, best frame "
                  f"rank {best}, fused rank {fused}")
            if still_rank[person] == 1:
                assert best == 1, f"track {t.id} of {person}"
                checked += 1
        assert checked >= 3


def test_frames_and_search_of_a_clip_on_the_command_line(
        case_gallery: Any, chosen, tmp_path: Path,
        run_facedesk: Callable[..., object]) -> None:
    person, photo = chosen[0]
    clip = tmp_path / "export.bin"  # a recorder's export with no telling extension
    render(walker((person, photo), duration=1.5), clip)
    out = tmp_path / "frames"
    done = run_facedesk("frames", clip, "--out", out, "--json", "--quiet")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    summary = json.loads(done.stdout)  # type: ignore[attr-defined]
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["clip"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert len(summary["tracks"]) == 1 and "read whole" in summary["outcome"]
    for f in summary["tracks"][0]["best"]:
        png = (out / f["png"]).read_bytes()
        assert hashlib.sha256(png).hexdigest() == f["png_sha256"]

    done = run_facedesk("search", clip, "--db", case_gallery.db, "--case", case_gallery.case,
                        "--json")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    doc = json.loads(done.stdout)  # type: ignore[attr-defined]
    prov = doc["provenance"]
    assert prov["fused"] is clips.DEFAULT_FUSE and prov["track"] == 1
    assert prov["clip"]["sha256"] == summary["clip"]["sha256"]
    assert doc["candidates"][0]["person_id"] == person
    kept = [f["frame"] for f in summary["tracks"][0]["best"]]
    assert [f["frame"] for f in prov["frames"]] == (kept if prov["fused"] else kept[:1])

    done = run_facedesk("search", clip, "--db", case_gallery.db, "--case", case_gallery.case,
                        "--at", "00:00:00.5", "--brightness", "10")
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "frame 6 at 00:00:00.500" in done.stdout  # type: ignore[attr-defined]

    done = run_facedesk("audit", "verify", "--db", case_gallery.db)
    assert done.returncode == 0, done.stdout  # type: ignore[attr-defined]


def test_a_damaged_clip_is_refused_in_one_line_by_the_command_line(
        case_gallery: Any, chosen, tmp_path: Path,
        run_facedesk: Callable[..., object]) -> None:
    clip = tmp_path / "cut_off.mp4"
    render(walker(chosen[0], duration=1.0, faststart=False), clip)
    data = clip.read_bytes()
    clip.write_bytes(data[:data.rfind(b"moov") - 4])  # a recording cut off: no index
    done = run_facedesk("frames", clip, "--out", tmp_path / "o")
    err = done.stderr.strip()  # type: ignore[attr-defined]
    assert done.returncode == 1 and err.startswith("error: ")  # type: ignore[attr-defined]
    assert "\n" not in err and "Traceback" not in err and "'moov' box) is missing" in err
