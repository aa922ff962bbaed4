"""Recovering faces the primary detector misses: the fallback chain of DetectOptions, the
"frame" rule, the detector recorded with every stored face, and the option reaching the
import run (core, command line and import dialog), with the fake engine."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FAKE_FACTORY, FakeEngine, no_face, one_face, save_png
from PIL import Image

from facedesk import cli as cli_module
from facedesk.app.importer import ImportOptions, face_record, run_import
from facedesk.cli import options as cli_options
from facedesk.domain import analysis
from facedesk.domain.analysis import (
    CNN_FALLBACK_MAX_SIDE,
    DEFAULT_IMPORT_FALLBACKS,
    FRAME,
    DetectOptions,
    find_faces,
    frame_box,
    subject_face,
)
from facedesk.domain.faces import Box
from facedesk.domain.imaging import LoadedImage, load_image
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

CHAIN = ("hog:2", "cnn:0", FRAME)


def image_of(img: Image.Image) -> LoadedImage:
    """A PIL image as FaceDesk loads it, via PNG (the fake detector needs exact green)."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return load_image(buf.getvalue(), name="test.png")


@pytest.fixture
def face_image() -> LoadedImage:
    return image_of(one_face(3, size=(200, 160)))


# --- options -------------------------------------------------------------------------------


def test_steps_are_checked_and_kept_as_a_tuple() -> None:
    opts = DetectOptions(fallbacks=["hog:2", "cnn:0", "frame"])  # type: ignore[arg-type]
    assert opts.fallbacks == ("hog:2", "cnn:0", "frame")
    assert DetectOptions().fallbacks == ()  # probes and other callers: no fallback
    for bad in ("hog", "cnn:5", "HOG:1", "whole", "frame:1", ""):
        with pytest.raises(ValueError, match="unknown detection step"):
            DetectOptions(fallbacks=(bad,))
    assert ImportOptions().detect.fallbacks == DEFAULT_IMPORT_FALLBACKS
    assert FRAME not in DEFAULT_IMPORT_FALLBACKS  # a guess is never made by default


# --- the chain -----------------------------------------------------------------------------


def test_fallbacks_are_not_tried_when_the_primary_finds_a_face(face_image: LoadedImage
                                                               ) -> None:
    engine = FakeEngine()
    boxes, step = find_faces(engine, face_image, DetectOptions(fallbacks=CHAIN))
    assert len(boxes) == 1 and step == "hog:1"
    assert engine.detect_steps == ["hog:1"]


@pytest.mark.parametrize(("blind", "tried", "found_by"), [
    (("hog:1",), ["hog:1", "hog:2"], "hog:2"),
    (("hog:1", "hog:2"), ["hog:1", "hog:2", "cnn:0"], "cnn:0"),
    (("hog:1", "hog:2", "cnn:0"), ["hog:1", "hog:2", "cnn:0"], FRAME),
])
def test_fallbacks_are_tried_in_order_until_one_finds_a_face(
        face_image: LoadedImage, blind: tuple[str, ...], tried: list[str],
        found_by: str) -> None:
    engine = FakeEngine(blind=blind)
    face, n_found = subject_face(engine, face_image, DetectOptions(fallbacks=CHAIN))
    assert engine.detect_steps == tried  # "frame" asks no detector
    assert face is not None and n_found == 1
    assert face.detector == found_by
    assert face_record(face, "e").detector == found_by
    if found_by == FRAME:
        assert face.box == frame_box(face_image.width, face_image.height)


def test_a_miss_without_fallbacks_stays_a_miss(face_image: LoadedImage) -> None:
    engine = FakeEngine(blind=("hog:1",))
    assert find_faces(engine, face_image, DetectOptions()) == ([], "")
    assert subject_face(engine, face_image, DetectOptions()) == (None, 0)
    engine = FakeEngine(blind=("hog:1", "hog:2", "cnn:0"))
    assert find_faces(engine, face_image, DetectOptions(fallbacks=("hog:2", "cnn:0"))) \
        == ([], "")


def test_the_primary_step_names_the_engines_detector(face_image: LoadedImage) -> None:
    engine = FakeEngine(detector="cnn", blind=("cnn:1",))
    # a fallback equal to the primary detection is not run twice
    boxes, step = find_faces(engine, face_image,
                             DetectOptions(fallbacks=("cnn:1", "hog:1")))
    assert step == "hog:1" and boxes
    assert engine.detect_steps == ["cnn:1", "hog:1"]
    face, _ = subject_face(FakeEngine(detector="cnn"), face_image, DetectOptions(upsample=0))
    assert face is not None and face.detector == "cnn:0"


def test_cnn_fallback_runs_on_a_capped_copy_and_boxes_map_back() -> None:
    big = image_of(one_face(2, size=(1600, 1200)))
    engine = FakeEngine(blind=("hog:1",))
    boxes, step = find_faces(engine, big, DetectOptions(max_side=1024, fallbacks=("cnn:0",)))
    assert step == "cnn:0"
    (h1, w1, _), (h2, w2, up) = engine.detect_calls
    assert max(h1, w1) == 1024 and max(h2, w2) == CNN_FALLBACK_MAX_SIDE and up == 0
    exact, _ = find_faces(FakeEngine(), big, DetectOptions(max_side=0))
    assert abs(boxes[0].left - exact[0].left) <= 3 and abs(boxes[0].width - exact[0].width) <= 5


def test_frame_applies_only_to_small_tight_crops() -> None:
    assert frame_box(250, 250) == Box(top=62, right=187, bottom=187, left=62)
    assert frame_box(480, 600) == Box(top=180, right=360, bottom=420, left=120)
    assert frame_box(92, 112) is not None  # ORL
    assert frame_box(1024, 768) is None  # too large for a crop around one face
    assert frame_box(600, 200) is None  # too elongated
    assert frame_box(60, 60) is None  # too small to hold an encodable face
    blank = image_of(no_face(size=(800, 700)))
    assert analysis.detect_step(FakeEngine(), blank, FRAME, DetectOptions()) == []


# --- stored faces and run options ----------------------------------------------------------


def detectors(gallery: Gallery) -> dict[str, str | None]:
    """'folder/file' of each photo -> detector of its stored face (None: no face)."""
    return {"/".join(Path(path).parts[-2:]): det for path, det in gallery.conn.execute(
        "SELECT p.path, f.detector FROM photos p LEFT JOIN faces f ON f.photo_id = p.id")}


def run_options(gallery: Gallery) -> dict[str, object]:
    run = gallery.last_run()
    assert run is not None
    return dict(json.loads(run.options))


def test_import_records_how_each_face_was_found(gallery: Gallery, people_dir: Path) -> None:
    spec = EngineSpec(FAKE_FACTORY, {"blind": ["hog:1"]})
    events = list(run_import(gallery, people_dir, engine=spec,
                             options=ImportOptions(workers=1)))  # default fallbacks
    assert events[-1].counts.no_face == 1
    found = detectors(gallery)
    assert found.pop("person_4/blank.png") is None  # no detector finds a face where there is none
    assert set(found.values()) == {"cnn:0"} and len(found) == 15
    face_ids = [r[0] for r in gallery.conn.execute("SELECT id FROM faces")]
    assert {d.detector for d in gallery.face_details(face_ids).values()} == {"cnn:0"}
    assert run_options(gallery)["fallbacks"] == list(DEFAULT_IMPORT_FALLBACKS)


def test_primary_faces_record_the_primary_step(gallery: Gallery, people_dir: Path,
                                               fake_spec: EngineSpec) -> None:
    list(run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(
        workers=1, detect=DetectOptions(upsample=2, fallbacks=("cnn:0",)))))
    found = detectors(gallery)
    assert found.pop("person_4/blank.png") is None
    assert set(found.values()) == {"hog:2"}


def test_frame_recovers_and_is_recorded_as_a_guess(gallery: Gallery, people_dir: Path
                                                   ) -> None:
    spec = EngineSpec(FAKE_FACTORY, {"blind": ["hog:1", "cnn:0"]})
    options = ImportOptions(workers=1, detect=DetectOptions(fallbacks=("cnn:0", FRAME)))
    final = list(run_import(gallery, people_dir, engine=spec, options=options))[-1]
    # "frame" takes the centre of every small photo, the blank one too: why it is off by
    # default, and why the stored face says so
    assert final.counts.no_face == 0
    assert set(detectors(gallery).values()) == {FRAME}
    assert run_options(gallery)["fallbacks"] == ["cnn:0", FRAME]


def test_no_recovery_is_recorded_too(gallery: Gallery, people_dir: Path) -> None:
    spec = EngineSpec(FAKE_FACTORY, {"blind": ["hog:1"]})
    final = list(run_import(gallery, people_dir, engine=spec, options=ImportOptions(
        workers=1, detect=DetectOptions(fallbacks=()))))[-1]
    assert final.counts.no_face == 16
    assert run_options(gallery)["fallbacks"] == []


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """`facedesk import` with the fake engine, blind to its primary detection."""
    monkeypatch.setattr(cli_options, "engine_spec", lambda detector, jitters: EngineSpec(
        FAKE_FACTORY, {"detector": detector, "blind": ["hog:1"]}))


@pytest.mark.parametrize(("args", "fallbacks", "stored"), [
    ([], list(DEFAULT_IMPORT_FALLBACKS), "cnn:0"),
    (["--recover"], list(DEFAULT_IMPORT_FALLBACKS), "cnn:0"),
    (["--no-recover"], [], None),
    (["--fallback", "hog:2", "--fallback", "frame"], ["hog:2", "frame"], "hog:2"),
])
def test_cli_import_options_reach_the_run(fake_cli: None, tmp_path: Path, args: list[str],
                                          fallbacks: list[str], stored: str | None) -> None:
    save_png(one_face(1), tmp_path / "src" / "P1" / "a.png")
    db = tmp_path / "g.db"
    res = CliRunner().invoke(cli_module.cli, ["import", str(tmp_path / "src"), "--db", str(db),
                                              "--workers", "1", "--json", *args])
    assert res.exit_code == 0, res.output
    with Gallery.open(db) as g:
        assert run_options(g)["fallbacks"] == fallbacks
        assert detectors(g) == {"P1/a.png": stored}


@pytest.mark.parametrize("args", [["--fallback", "sift:1"],
                                  ["--no-recover", "--fallback", "cnn:0"]])
def test_cli_rejects_bad_fallbacks(fake_cli: None, tmp_path: Path, args: list[str]) -> None:
    res = CliRunner().invoke(cli_module.cli, ["import", str(tmp_path), "--db",
                                              str(tmp_path / "g.db"), *args])
    assert res.exit_code == 2
    assert "sift:1" in res.output or "contradict" in res.output
    assert not (tmp_path / "g.db").exists()


# --- the import dialog ---------------------------------------------------------------------


def test_import_dialog_offers_the_choice(qtbot, tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    from PySide6.QtWidgets import QComboBox

    from facedesk.gui.import_dialog import RECOVERY_CHOICES, ImportDialog

    dialog = ImportDialog(tmp_path / "g.db", engine=EngineSpec(FAKE_FACTORY))
    qtbot.addWidget(dialog)
    combo = dialog.findChild(QComboBox, "recoveryCombo")
    assert combo is not None
    assert dialog.options().detect.fallbacks == DEFAULT_IMPORT_FALLBACKS  # the default
    seen = {}
    for i in range(combo.count()):
        combo.setCurrentIndex(i)
        seen[combo.currentData()] = dialog.options().detect.fallbacks
    assert seen == {key: steps for key, (_, steps) in RECOVERY_CHOICES.items()}
    assert seen["none"] == () and FRAME in seen["thorough"]
    dialog.manifest_radio.setChecked(True)  # manifests get the same choice
    assert dialog.options().detect.fallbacks == seen[combo.currentData()]
