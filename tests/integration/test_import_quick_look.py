"""The import's quick looks with the real engine: on LFW photos and on booking-like versions
of them (600 x 750, the face about 240 px wide), the subject is found on a small copy, is
the same face the detection on the usual copy finds, and encodes to nearly the same
encoding (benchmarks/import_recall.py measures all 13,233 LFW photos).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from prerequisites import missing

from facedesk.app.importer import import_detect_options
from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.faces import Box

#: ordinary LFW photos (one face, frontal)
PHOTOS = ("Colin_Powell/Colin_Powell_0117.jpg", "George_W_Bush/George_W_Bush_0013.jpg",
          "Gerry_Adams/Gerry_Adams_0006.jpg", "Jacques_Chirac/Jacques_Chirac_0005.jpg")
#: the same face found twice encodes this close at most (measured: median 0.03, 99 % of
#: photos below 0.17; the same person's other photos lie about 0.4 away)
SAME_FACE = 0.2


class Recording:
    """The real engine, noting the size of every image it is asked to look at."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.detector = engine.detector
        self.looked_at: list[int] = []

    def identity(self) -> dict[str, Any]:
        return dict(self.engine.identity())

    def detect(self, rgb: np.ndarray, upsample: int, detector: str | None = None) -> list[Box]:
        self.looked_at.append(max(rgb.shape[:2]))
        return list(self.engine.detect(rgb, upsample, detector))

    def describe(self, rgb: np.ndarray, boxes: Any) -> Any:
        return self.engine.describe(rgb, boxes)


def booking(path: Path) -> imaging.LoadedImage:
    """The LFW photo as a 600 x 750 booking-like photo (as benchmarks/import_photos.py)."""
    with Image.open(path) as im:
        face = im.convert("RGB").resize((540, 540), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (600, 750), (190, 192, 198))
    canvas.paste(face, (30, 105))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return imaging.load_image(buf.getvalue(), name=path.name)


def iou(a: Box, b: Box) -> float:
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    w = min(a.right, b.right) - max(a.left, b.left)
    inter = max(0, h) * max(0, w)
    return inter / (a.area + b.area - inter)


@pytest.mark.parametrize("kind", ["lfw", "booking"])
def test_the_quick_look_finds_the_same_subject_on_a_small_copy(
        real_engine, lfw_images: Path, kind: str) -> None:
    before = DetectOptions(upsample=1, max_side=1024)
    quick = import_detect_options()
    for rel in PHOTOS:
        path = lfw_images / rel
        if not path.is_file():
            missing(f"LFW photo missing: {path}")
        image = (imaging.load_image(imaging.read_file(path), name=path.name)
                 if kind == "lfw" else booking(path))
        engine = Recording(real_engine)
        face, _ = analysis.subject_face(engine, image, quick)
        ref, _ = analysis.subject_face(real_engine, image, before)
        assert face is not None and ref is not None, rel
        # found on the first or second quick copy, never on the usual one
        sides = analysis.quick_sides(image.width, image.height, quick)
        assert engine.looked_at in ([sides[0]], sides[:2]), (rel, engine.looked_at)
        assert max(engine.looked_at) < max(image.width, image.height) / 1.4
        assert face.detector == ref.detector == "hog:1"
        assert iou(face.box, ref.box) > 0.6, (rel, face.box, ref.box)
        d = float(np.linalg.norm(face.encoding - ref.encoding))
        assert d < SAME_FACE, (rel, d)


def test_probes_look_at_the_usual_copy_only(real_engine, lfw_images: Path) -> None:
    path = lfw_images / PHOTOS[0]
    if not path.is_file():
        missing(f"LFW photo missing: {path}")
    engine = Recording(real_engine)
    faces = analysis.all_faces(engine, booking(path), DetectOptions())
    assert faces and engine.looked_at == [750]


def test_build_info_names_the_setup_flags(real_engine) -> None:
    info = real_engine.build_info()
    assert "flags" in info  # None unless scripts/setup.sh built this dlib
    assert info["flags"] is None or isinstance(info["flags"], str)
