"""Exact nearest-neighbour search of one probe face against every gallery face.

The gallery's encodings are held as one float32 matrix, rows grouped by person, built
once per gallery version. A search computes every squared distance with one
matrix-vector product, takes each person's minimum, and then recomputes the distances of
the chosen persons in float64, with a safety margin that makes the float32 shortcut
unable to change the ranking: the result is the exact top K. There is no approximate
index: a missed true candidate must never be an artefact of the index.

Distance is the Euclidean distance between 128-d encodings (dlib's; face_recognition's
default tolerance is 0.6). The similarity figure is the cosine of the angle between the
two encodings: 1.0 = same direction, lower = less alike. It is NOT a probability that the
candidate is the person in the probe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.core import analysis, imaging
from facedesk.core import calibration as calibrations
from facedesk.core.analysis import DetectOptions
from facedesk.core.calibration import Calibration, FmrReading
from facedesk.core.engines import describe_identity, engine_id
from facedesk.core.faces import Box, Face, FaceEngine, largest_index
from facedesk.core.imaging import LoadedImage
from facedesk.errors import EmptyGallery, EngineMismatch, FaceChoiceError, NoFaceFound
from facedesk.store import EncodingMatrix, Gallery

DEFAULT_TOP_K = 20
#: photos listed under each candidate person (closest first)
PHOTOS_PER_CANDIDATE = 5
_EPS32 = float(np.finfo(np.float32).eps)


# --- the probe -----------------------------------------------------------------------------


@dataclass
class Probe:
    path: str
    sha256: str
    image: LoadedImage
    faces: list[Face]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "width": self.image.width,
            "height": self.image.height,
            "faces": [f.as_dict() for f in self.faces],
        }


def analyze_probe(engine: FaceEngine, path: Path,
                  options: DetectOptions | None = None) -> Probe:
    """Load a probe still and find every face in it (an empty list is not an error here:
    the caller may draw a box or retry with more upsampling)."""
    data = imaging.read_file(path)
    image = imaging.load_image(data, name=str(path))
    faces = analysis.all_faces(engine, image, options or DetectOptions())
    return Probe(path=str(path), sha256=imaging.sha256_bytes(data), image=image, faces=faces)


def choose_face(engine: FaceEngine, probe: Probe, face: int | str = "largest",
                box: Box | None = None) -> Face:
    """Pick the probe face to search: by index, the largest, or a box drawn by hand."""
    if box is not None:
        chosen = analysis.face_in_box(engine, probe.image, box)
        chosen.index = -1
        return chosen
    if not probe.faces:
        raise NoFaceFound(
            f"{probe.path}: no face found; draw a box around the face (--box "
            "top,right,bottom,left) or search with more upsampling (--upsample 2)"
        )
    if face == "largest":
        return probe.faces[largest_index([f.box for f in probe.faces])]
    if isinstance(face, int) and 0 <= face < len(probe.faces):
        return probe.faces[face]
    raise FaceChoiceError(
        f"{probe.path}: face {face} does not exist; the probe has {len(probe.faces)} "
        f"face{'s' if len(probe.faces) != 1 else ''} (0..{len(probe.faces) - 1})"
    )


# --- the index -----------------------------------------------------------------------------


class SearchIndex:
    """The gallery's encodings in memory, ready for exact top-K-persons search."""

    def __init__(self, enc: EncodingMatrix) -> None:
        self.version = enc.version
        self.engine_ids = enc.engine_ids
        self.face_ids = enc.face_ids
        self.matrix = np.ascontiguousarray(enc.matrix, dtype=np.float32)
        self.sq_norms = np.einsum("ij,ij->i", self.matrix, self.matrix, dtype=np.float32)
        pks = enc.person_pks
        n = len(pks)
        if n:
            starts = np.flatnonzero(np.concatenate(([True], pks[1:] != pks[:-1])))
        else:
            starts = np.zeros(0, dtype=np.int64)
        self.starts = starts.astype(np.intp)
        self.ends = np.append(self.starts[1:], n).astype(np.intp)
        self.person_pks = pks[self.starts] if n else pks
        self.max_sq_norm = float(self.sq_norms.max()) if n else 0.0

    @property
    def faces(self) -> int:
        return len(self.face_ids)

    @property
    def persons(self) -> int:
        return len(self.person_pks)

    def nearest(self, probe: NDArray[np.float32], k: int
                ) -> list[tuple[int, list[tuple[int, float, int]]]]:
        """Top-k persons by their closest face:
        [(person_pk, [(face_id, distance, matrix_row), ...])], each person's faces closest
        first. Distances exact (float64)."""
        if self.faces == 0 or k <= 0:
            return []
        p32 = np.asarray(probe, dtype=np.float32).reshape(-1)
        p_sq = float(np.dot(p32, p32))
        # squared distances up to the constant |p|^2: |g|^2 - 2 g.p
        d2 = self.sq_norms - 2.0 * (self.matrix @ p32)
        person_min = np.minimum.reduceat(d2, self.starts)
        k_eff = min(k, len(person_min))
        if k_eff < len(person_min):
            kth = float(np.partition(person_min, k_eff - 1)[k_eff - 1])
        else:
            kth = float(person_min.max())
        # float32 rounding bound of the shortcut; anything within it is re-checked exactly
        margin = 256.0 * _EPS32 * (self.max_sq_norm + p_sq + 1.0)
        chosen = np.flatnonzero(person_min <= kth + margin)
        p64 = p32.astype(np.float64)
        scored: list[tuple[float, int, list[tuple[int, float, int]]]] = []
        for j in chosen:
            lo, hi = int(self.starts[j]), int(self.ends[j])
            rows = self.matrix[lo:hi].astype(np.float64)
            dist = np.sqrt(((rows - p64) ** 2).sum(axis=1))
            order = np.lexsort((self.face_ids[lo:hi], dist))
            faces = [(int(self.face_ids[lo + o]), float(dist[o]), lo + int(o)) for o in order]
            scored.append((faces[0][1], int(self.person_pks[j]), faces))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [(pk, faces) for _, pk, faces in scored[:k_eff]]


@dataclass
class Candidate:
    rank: int
    person_id: str
    name: str | None
    distance: float
    similarity: float
    face_id: int
    photo: dict[str, Any]
    other_photos: list[dict[str, Any]] = field(default_factory=list)
    photos_of_person: int = 1
    fmr: FmrReading | None = None  # None: no calibration for this engine
    expected_lookalikes: float | None = None  # persons searched x FMR at this distance

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "person_id": self.person_id,
            "name": self.name,
            "distance": round(self.distance, 6),
            "similarity": round(self.similarity, 6),
            "face_id": self.face_id,
            "photo": self.photo,
            "other_photos": self.other_photos,
            "photos_of_person": self.photos_of_person,
            "fmr": None if self.fmr is None else self.fmr.as_dict(),
            "expected_lookalikes": None if self.expected_lookalikes is None
            else round(self.expected_lookalikes, 3),
        }


@dataclass
class SearchResult:
    persons_searched: int
    faces_searched: int
    gallery_version: int
    engine_id: str
    top_k: int
    search_ms: float
    candidates: list[Candidate]
    calibration_source: str | None = None

    @property
    def lookalikes_at_best(self) -> float | None:
        """Expected number of different persons at least as close as the best candidate."""
        if not self.candidates:
            return None
        return self.candidates[0].expected_lookalikes

    def lookalike_notice(self) -> str:
        """The plain-words introduction of the candidate list's reliability."""
        if self.calibration_source is None:
            return ("No calibration for this engine: distances cannot be read as false "
                    "match rates.")
        best = self.lookalikes_at_best
        if best is None:
            return ""
        if best >= 1:
            return (f"About {best:.1f} different persons in a gallery of this size are "
                    "expected to look at least this close: every candidate may be a "
                    "look-alike.")
        return f"Expected look-alikes at the best candidate's distance: {best:.2g}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "persons_searched": self.persons_searched,
            "faces_searched": self.faces_searched,
            "gallery_version": self.gallery_version,
            "engine_id": self.engine_id,
            "top_k": self.top_k,
            "search_ms": round(self.search_ms, 3),
            "distance": "euclidean distance between 128-d encodings (lower = more alike)",
            "similarity": "cosine of the angle between the encodings; not a probability",
            "fmr": "share of impostor pairs (two different persons) at this distance or "
                   "closer, with its 95% interval",
            "expected_lookalikes": "persons searched x FMR: different persons expected at "
                                   "least this close",
            "calibration": self.calibration_source,
            "lookalikes_at_best": None if self.lookalikes_at_best is None
            else round(self.lookalikes_at_best, 3),
            "lookalike_notice": self.lookalike_notice(),
            "candidates": [c.as_dict() for c in self.candidates],
        }


def cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    den = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64) / den if den > 0 else 0.0


class Searcher:
    """A gallery with its in-memory index, rebuilt only when the gallery's version
    changes (new faces), so repeated searches pay for the matrix once."""

    def __init__(self, gallery: Gallery, engine_identity: dict[str, Any],
                 calibration: Calibration | None = None) -> None:
        self.gallery = gallery
        self.engine_identity = engine_identity
        self.engine_id = engine_id(engine_identity)
        self._index: SearchIndex | None = None
        self._fixed_calibration = calibration
        self._calibration_key: int | None = -1
        self._calibration: Calibration | None = None

    @property
    def calibration(self) -> Calibration | None:
        """The given calibration, else the one the gallery has in use (re-read when it
        changes); only ever one measured with this engine."""
        if self._fixed_calibration is not None:
            cal: Calibration | None = self._fixed_calibration
        else:
            key = self.gallery.calibration_in_use()
            if key != self._calibration_key:
                self._calibration = calibrations.in_use(self.gallery)
                self._calibration_key = key
            cal = self._calibration
        return cal if cal is not None and cal.engine_id == self.engine_id else None

    def index(self) -> SearchIndex:
        if self._index is None or self._index.version != self.gallery.version:
            self._index = SearchIndex(self.gallery.load_encodings())
        return self._index

    def check_engine(self, index: SearchIndex) -> None:
        foreign = sorted(index.engine_ids - {self.engine_id})
        if foreign:
            other = self.gallery.engine_identity(foreign[0])
            raise EngineMismatch(
                f"{self.gallery.path}: the gallery was encoded with {describe_identity(other)}, "
                f"but this installation has {describe_identity(self.engine_identity)}. "
                "Searching across engines would give meaningless distances: install the "
                "gallery's engine, or re-import the photos into a new gallery"
            )

    def search(self, encoding: NDArray[np.float32], top_k: int = DEFAULT_TOP_K) -> SearchResult:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        index = self.index()
        if index.faces == 0:
            raise EmptyGallery(f"{self.gallery.path}: the gallery has no faces to search yet")
        self.check_engine(index)
        t0 = time.perf_counter()
        hits = index.nearest(encoding, top_k)
        search_ms = (time.perf_counter() - t0) * 1000
        cal = self.calibration
        best_ids = [faces[0][0] for _, faces in hits]
        extra_ids = [f[0] for _, faces in hits for f in faces[1:PHOTOS_PER_CANDIDATE]]
        details = self.gallery.face_details(best_ids + extra_ids)
        candidates = []
        for rank, (_, faces) in enumerate(hits, start=1):
            fid, dist, row = faces[0]
            d = details[fid]
            photo = {k: d[k] for k in ("photo_id", "path", "sha256", "width", "height",
                                       "box", "metadata", "quality")}
            others = [{"face_id": ofid, "distance": round(odist, 6),
                       "path": details[ofid]["path"]}
                      for ofid, odist, _ in faces[1:PHOTOS_PER_CANDIDATE]]
            reading = None if cal is None else cal.reading(dist)
            candidates.append(Candidate(
                rank=rank, person_id=d["person_id"], name=d["name"], distance=dist,
                similarity=cosine(encoding, index.matrix[row]), face_id=fid,
                photo=photo, other_photos=others, photos_of_person=len(faces),
                fmr=reading, expected_lookalikes=None if reading is None
                else reading.expected_lookalikes(index.persons)))
        return SearchResult(
            persons_searched=index.persons, faces_searched=index.faces,
            gallery_version=index.version, engine_id=self.engine_id, top_k=top_k,
            search_ms=search_ms, candidates=candidates,
            calibration_source=None if cal is None else cal.source)

