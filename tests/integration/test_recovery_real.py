"""The real engine on LFW photos where HOG (upsample 1) finds no face: the import's default
fallback (the CNN detector) recovers them, records how, and the recovered faces lie close
to the same person's other photo (benchmarks/recovery_lfw.py measures all 67 such photos).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prerequisites import missing

from facedesk.app.importer import ImportOptions, import_detect_options, run_import
from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, FRAME, DetectOptions
from facedesk.store import Gallery

#: LFW photos (relative to lfw/images) where HOG at upsample 1 finds no face ...
MISSED = ("James_Jones/James_Jones_0001.jpg", "Saeb_Erekat/Saeb_Erekat_0002.jpg",
          "Yasser_Arafat/Yasser_Arafat_0008.jpg")
#: ... and an ordinary photo of each person, where it does
ORDINARY = ("James_Jones/James_Jones_0002.jpg", "Saeb_Erekat/Saeb_Erekat_0001.jpg",
            "Yasser_Arafat/Yasser_Arafat_0001.jpg")
#: dlib's customary tolerance
TOLERANCE = 0.6


@pytest.fixture(scope="module")
def photos(lfw_images: Path) -> dict[str, Path]:
    out = {rel: lfw_images / rel for rel in MISSED + ORDINARY}
    absent = [rel for rel, p in out.items() if not p.is_file()]
    if absent:
        missing(f"LFW photos missing under {lfw_images}: {', '.join(absent)}")
    return out


def load(path: Path) -> imaging.LoadedImage:
    return imaging.load_image(imaging.read_file(path), name=path.name)


def test_the_primary_detector_misses_them(real_engine, photos: dict[str, Path]) -> None:
    for rel in MISSED:
        assert analysis.detect(real_engine, load(photos[rel]), DetectOptions()) == [], rel


def test_import_recovers_them_and_records_the_detector(
        real_engine_spec, photos: dict[str, Path], tmp_path: Path,
        symlink_tree: Callable[..., Path]) -> None:
    by_person: dict[str, list[Path]] = {}
    for p in photos.values():
        by_person.setdefault(p.parent.name, []).append(p)
    root = symlink_tree(by_person)
    with Gallery.open(tmp_path / "g.db", create=True) as g:
        events = list(run_import(g, root, engine=real_engine_spec,
                                 # default fallbacks; no quick looks on small copies, which
                                 # find some of these faces before the fallbacks are needed
                                 options=ImportOptions(workers=1, detect=import_detect_options(
                                     quick_side=0))))
        final = events[-1]
        assert final.status == "completed" and final.counts.no_face == 0
        rows = g.conn.execute(
            "SELECT p.path, f.detector, f.encoding FROM photos p JOIN faces f "
            "ON f.photo_id = p.id").fetchall()
    stored = {"/".join(Path(path).parts[-2:]): (det, np.frombuffer(enc, "<f4"))
              for path, det, enc in rows}
    assert {rel: stored[rel][0] for rel in MISSED} == \
        dict.fromkeys(MISSED, DEFAULT_IMPORT_FALLBACKS[0])
    assert {rel: stored[rel][0] for rel in ORDINARY} == dict.fromkeys(ORDINARY, "hog:1")
    # usable: each recovered face lies within the tolerance of the person's other photo
    for missed, ordinary in zip(MISSED, ORDINARY, strict=True):
        d = float(np.linalg.norm(stored[missed][1] - stored[ordinary][1]))
        assert d < TOLERANCE, (missed, d)


def test_later_steps_run_only_when_earlier_ones_miss(real_engine,
                                                     photos: dict[str, Path]) -> None:
    # HOG at upsample 2 finds the Arafat photo (so the CNN is not asked); it misses the
    # Jones photo, which the CNN then finds
    chain = DetectOptions(fallbacks=("hog:2", "cnn:0", FRAME))
    arafat, step = analysis.find_faces(real_engine, load(photos[MISSED[2]]), chain)
    assert step == "hog:2" and arafat
    jones, _ = analysis.subject_face(real_engine, load(photos[MISSED[0]]), chain)
    assert jones is not None and jones.detector == "cnn:0"
    assert 60 <= jones.quality.size_px <= 200  # a face, not the frame
