from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from fakes import FAKE_FACTORY, FakeEngine, face_photo, one_face, save_png

from facedesk.app.importer import (
    DEFAULT_IMPORT_QUICK_SIDE,
    ImportOptions,
    ImportProgress,
    import_detect_options,
    run_import,
)
from facedesk.domain.analysis import DetectOptions, find_faces, quick_sides, subject_face
from facedesk.domain.faces import Box
from facedesk.domain.imaging import LoadedImage, load_image
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EngineMismatch, ManifestError
from facedesk.store import Gallery


@pytest.fixture
def gallery(store_gallery: Gallery) -> Gallery:
    """This module's galleries are a file and a database on a server (both backends)."""
    return store_gallery


def finish(events) -> ImportProgress:
    last = None
    for ev in events:
        last = ev
    assert last is not None and last.phase == "finished"
    return last


def test_folder_import_counts_and_rerun(gallery: Gallery, people_dir: Path,
                                        fake_spec: EngineSpec) -> None:
    events = list(run_import(gallery, people_dir, engine=fake_spec,
                             options=ImportOptions(workers=1)))
    assert [e.phase for e in events[:2]] == ["listing", "importing"]
    done = [e.done for e in events if e.phase == "importing"]
    assert done == sorted(done) and done[-1] == 16
    final = events[-1]
    c = final.counts
    assert (c.total, c.imported, c.no_face, c.failed, c.duplicates) == (16, 16, 1, 0, 0)
    assert [p.code for p in final.problems] == ["no_face"]
    assert gallery.counts() == {"persons": 5, "photos": 16, "faces": 15,
                                "photos_without_face": 1, "photos_with_several_faces": 0}
    again = finish(run_import(gallery, people_dir, engine=fake_spec,
                              options=ImportOptions(workers=1)))
    assert (again.counts.imported, again.counts.already_stored) == (0, 16)
    assert gallery.counts()["photos"] == 16


def test_parallel_import_matches_serial(tmp_path: Path, people_dir: Path,
                                        fake_spec: EngineSpec) -> None:
    def encodings(workers: int):
        with Gallery.open(tmp_path / f"w{workers}.db", create=True) as g:
            final = finish(run_import(g, people_dir, engine=fake_spec,
                                      options=ImportOptions(workers=workers)))
            assert final.status == "completed"
            rows = g.conn.execute(
                "SELECT p.sha256, f.encoding, f.box_top, f.box_left FROM faces f "
                "JOIN photos p ON p.id = f.photo_id ORDER BY p.sha256").fetchall()
            return final.counts.as_dict(), rows

    assert encodings(1) == encodings(2)


def test_duplicates_failures_and_several_faces(gallery: Gallery, tmp_path: Path,
                                               fake_spec: EngineSpec) -> None:
    root = tmp_path / "src"
    a = save_png(one_face(1), root / "P1" / "a.png")
    shutil.copy(a, root / "P1" / "a copy.png")
    shutil.copy(a, root / "P2" / "same.png") if (root / "P2").mkdir() is None else None
    (root / "P1" / "notes.jpg").write_text("not a photo")
    (root / "P1" / "empty.png").write_bytes(b"")
    # subject in the centre, a slightly larger bystander at the edge
    group = face_photo([(3, Box(0, 66, 100, 0)), (1, Box(50, 130, 140, 70))], size=(200, 160))
    save_png(group, root / "P1" / "group.png")
    final = finish(run_import(gallery, root, engine=fake_spec, options=ImportOptions(workers=1)))
    c = final.counts
    assert (c.total, c.imported, c.duplicates, c.failed, c.multi_face) == (6, 2, 2, 2, 1)
    by_path = {p.path: p for p in final.problems}
    assert by_path["P1/notes.jpg"].code == "unsupported"
    assert by_path["P1/empty.png"].code == "unreadable"
    assert "same photo as P1/a copy.png" in by_path["P1/a.png"].reason or \
        "same photo as P1/a.png" in by_path["P1/a copy.png"].reason
    assert "listed for person P1, here for P2" in by_path["P2/same.png"].reason
    # the stored face of the group photo is the centred subject (found on the import's
    # quick look at a 96-pixel copy, so its box is mapped back within a pixel or two)
    *box, found = gallery.conn.execute(
        "SELECT box_top, box_right, box_bottom, box_left, faces_found FROM faces f "
        "JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE '%group.png'").fetchone()
    assert found == 2
    assert all(abs(a - b) <= 2 for a, b in zip(box, (50, 130, 140, 70), strict=True)), box
    stored = gallery.problems(final.run_id)
    assert sorted(p.path for p in stored) == sorted(p.path for p in final.problems)


def test_detection_runs_on_a_downscaled_copy(gallery: Gallery, tmp_path: Path) -> None:
    big = face_photo([(2, Box(400, 1400, 1400, 400))], size=(2000, 1800))
    save_png(big, tmp_path / "src" / "P" / "big.png")
    opts = ImportOptions(workers=1, detect=import_detect_options(quick_side=0))
    finish(run_import(gallery, tmp_path / "src", engine=EngineSpec(FAKE_FACTORY), options=opts))
    top, right, bottom, left = gallery.conn.execute(
        "SELECT box_top, box_right, box_bottom, box_left FROM faces").fetchone()
    # found on a 1024-pixel copy, mapped back to the original within a pixel or two
    assert abs(top - 400) <= 2 and abs(left - 400) <= 2
    assert abs(bottom - 1400) <= 2 and abs(right - 1400) <= 2


# --- the quick looks of an import ----------------------------------------------------------


def loaded(img) -> LoadedImage:  # a PIL image as FaceDesk loads it
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return load_image(buf.getvalue(), name="test.png")


def test_quick_sides_are_pyramid_levels_of_the_primary_copy() -> None:
    quick = DetectOptions(quick_side=110)
    assert quick_sides(250, 250, quick) == [100, 174]  # LFW: 250 * (5/6)**5, **2
    assert quick_sides(600, 750, quick) == [101, 174, 301, 521]  # a booking photo
    assert quick_sides(4000, 3000, quick) == [96, 165, 286, 494]  # below the 1024 copy
    assert quick_sides(92, 112, quick) == []  # ORL: no copy much smaller than the photo
    assert quick_sides(600, 750, DetectOptions()) == []  # probes: every face counts
    assert quick_sides(600, 750, DetectOptions(quick_side=110, upsample=0)) == [209, 362]
    assert quick_sides(600, 750, DetectOptions(quick_side=110, max_side=300)) == [100, 174]
    assert import_detect_options().quick_side == DEFAULT_IMPORT_QUICK_SIDE > 0
    assert ImportOptions().detect.quick_side == DEFAULT_IMPORT_QUICK_SIDE
    with pytest.raises(ValueError, match="quick_side"):
        DetectOptions(quick_side=-1)


def test_a_quick_look_finds_a_large_face_and_maps_it_back() -> None:
    image = loaded(face_photo([(2, Box(400, 1400, 1400, 400))], size=(2000, 1800)))
    engine = FakeEngine()
    face, n_found = subject_face(engine, image, import_detect_options())
    # one look, at the smallest copy, recorded as the primary detection
    assert [max(h, w) for h, w, _ in engine.detect_calls] == [96]
    assert engine.detect_steps == ["hog:1"]
    assert face is not None and n_found == 1 and face.detector == "hog:1"
    b = face.box  # mapped back from a 96-pixel copy: within two of its pixels
    tolerance = 2 * 2000 / 96
    assert all(abs(a - e) <= tolerance for a, e in
               zip((b.top, b.right, b.bottom, b.left), (400, 1400, 1400, 400), strict=True))


def test_a_face_too_small_for_the_quick_looks_is_found_on_the_primary_copy() -> None:
    # 8 px wide: under the fake's 4 px on every quick copy (at most 494 of 1200 px)
    image = loaded(face_photo([(1, Box(500, 608, 512, 600))], size=(1200, 1000)))
    engine = FakeEngine()
    boxes, step = find_faces(engine, image, import_detect_options())
    assert [max(h, w) for h, w, _ in engine.detect_calls] == [96, 165, 286, 494, 1024]
    assert step == "hog:1" and len(boxes) == 1
    assert abs(boxes[0].left - 600) <= 2 and abs(boxes[0].right - 608) <= 2
    # without quick looks: the primary copy only
    engine = FakeEngine()
    assert find_faces(engine, image, import_detect_options(quick_side=0))[0] == boxes
    assert [max(h, w) for h, w, _ in engine.detect_calls] == [1024]


def test_the_run_records_the_quick_side(gallery: Gallery, people_dir: Path,
                                        fake_spec: EngineSpec) -> None:
    finish(run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(workers=1)))
    run = gallery.last_run()
    assert run is not None
    assert json.loads(run.options)["detect_quick_side"] == DEFAULT_IMPORT_QUICK_SIDE


def test_cancel_keeps_what_is_done_and_resume_finishes(gallery: Gallery, people_dir: Path,
                                                       fake_spec: EngineSpec) -> None:
    cancel = CancelToken()
    events = []
    for ev in run_import(gallery, people_dir, engine=fake_spec, cancel=cancel,
                         options=ImportOptions(workers=1)):
        events.append(ev)
        if ev.phase == "importing" and ev.done == 5:
            cancel.cancel()
    final = events[-1]
    assert final.status == "cancelled" and final.done == 5
    assert gallery.counts()["photos"] == 5
    assert gallery.run(final.run_id).status == "cancelled"
    resumed = finish(run_import(gallery, people_dir, engine=fake_spec,
                                options=ImportOptions(workers=1)))
    assert (resumed.counts.already_stored, resumed.counts.imported) == (5, 11)
    assert gallery.counts()["photos"] == 16


def test_consumer_stopping_early_closes_the_run(gallery: Gallery, people_dir: Path,
                                                fake_spec: EngineSpec) -> None:
    events = run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(workers=2))
    for ev in events:
        if ev.phase == "importing" and ev.done == 3:
            break
    events.close()  # what the CLI does on Ctrl-C
    run = gallery.last_run()
    assert run is not None and run.status == "cancelled"
    assert gallery.counts()["photos"] >= 3


def test_other_engine_is_refused(gallery: Gallery, people_dir: Path) -> None:
    finish(run_import(gallery, people_dir, engine=EngineSpec(FAKE_FACTORY),
                      options=ImportOptions(workers=1)))
    other = EngineSpec(FAKE_FACTORY, {"version": "2"})
    with pytest.raises(EngineMismatch, match="cannot be compared"):
        finish(run_import(gallery, people_dir, engine=other, options=ImportOptions(workers=1)))


def test_manifest_without_columns_writes_nothing(gallery: Gallery, tmp_path: Path,
                                                 fake_spec: EngineSpec) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("file,who\na.png,1\n")
    with pytest.raises(ManifestError, match="path, person_id"):
        finish(run_import(gallery, None, manifest=csv, engine=fake_spec))
    assert gallery.last_run() is None and gallery.counts()["photos"] == 0


def test_manifest_import_keeps_metadata(gallery: Gallery, tmp_path: Path,
                                        fake_spec: EngineSpec) -> None:
    save_png(one_face(1), tmp_path / "img" / "1.png")
    csv = tmp_path / "m.csv"
    csv.write_text("path,person_id,name,sex,booking_date\nimg/1.png,B-1,Ann Lee,F,2024-01-02\n"
                   "img/missing.png,B-2,Bo,M,2024-02-03\n")
    final = finish(run_import(gallery, None, manifest=csv, engine=fake_spec,
                              options=ImportOptions(workers=1)))
    assert [(p.code, p.line) for p in final.problems] == [("missing", 3)]
    meta, name = gallery.conn.execute(
        "SELECT p.metadata, s.name FROM photos p JOIN persons s ON s.id = p.person_pk"
    ).fetchone()
    assert name == "Ann Lee"
    assert '"booking_date": "2024-01-02"' in meta and '"sex": "F"' in meta


def test_stored_paths_are_absolute_and_normalised(gallery: Gallery, people_dir: Path,
                                                  fake_spec: EngineSpec, monkeypatch) -> None:
    monkeypatch.chdir(people_dir / "person_1")
    finish(run_import(gallery, Path("../../people"), engine=fake_spec,
                      options=ImportOptions(workers=1)))
    paths = [r[0] for r in gallery.conn.execute("SELECT path FROM photos")]
    assert len(paths) == 16
    assert all(Path(p).is_absolute() and ".." not in Path(p).parts for p in paths)
    assert str(people_dir / "person_0" / "0.png") in paths
