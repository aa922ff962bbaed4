"""Exact nearest-neighbour search of one probe face against every gallery face.

The gallery's encodings are held in memory as a `facedesk.domain.search_index.SearchIndex`
(exact top K, no approximate index), built once per gallery version (and loaded from the
gallery's encoding cache when it has one); `Searcher` is the use case around it.

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

from facedesk.app import calibration as calibrations
from facedesk.app import engines
from facedesk.domain import analysis, imaging, lookalikes
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.clips import ClipProbe
from facedesk.domain.faces import Box, Face, FaceEngine, largest_index
from facedesk.domain.imaging import LoadedImage
from facedesk.domain.lookalikes import LookalikeEstimate
from facedesk.domain.rates import Calibration, FmrReading
from facedesk.domain.search_index import SearchIndex, cosine
from facedesk.engine.spec import engine_id
from facedesk.errors import EmptyGallery, FaceChoiceError, NoFaceFound
from facedesk.store import Gallery
from facedesk.store.encodings import EncodingMatrix

DEFAULT_TOP_K = 20
#: photos listed under each candidate person (closest first)
PHOTOS_PER_CANDIDATE = 5


# --- the probe -----------------------------------------------------------------------------


@dataclass
class Probe:
    """A probe still as analysed: `data` holds the very bytes read (and hashed as
    `sha256`), which a search of a case stores, so no one reads or hashes the file again."""

    path: str
    sha256: str
    image: LoadedImage
    faces: list[Face]
    data: bytes = field(default=b"", repr=False, compare=False)

    @classmethod
    def of_clip(cls, cp: ClipProbe, clip: Path | str) -> Probe:
        """The probe of a clip probe: the frame's picture (its PNG), its one face."""
        return cls(path=str(clip), sha256=cp.sha256, image=cp.image, faces=[cp.face],
                   data=cp.png)

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
    faces = [analysis.with_fit(engine, image, f)
             for f in analysis.all_faces(engine, image, options or DetectOptions())]
    return Probe(path=str(path), sha256=imaging.sha256_bytes(data), image=image, faces=faces,
                 data=data)


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


# --- the result ----------------------------------------------------------------------------


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
    #: probe-specific (expected, low, high) different persons at least this close
    lookalikes: tuple[float, float, float] | None = None

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
            else _sig3(self.expected_lookalikes),
            "lookalikes": None if self.lookalikes is None
            else dict(zip(("expected", "low", "high"), map(_sig3, self.lookalikes),
                          strict=True)),
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
    #: the probe-specific look-alike curve (facedesk.domain.lookalikes); None in searches
    #: recorded before it existed
    lookalikes: LookalikeEstimate | None = None
    #: the administrator's threshold the candidates were shown under (set when recorded)
    threshold: float | None = None

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

    def probe_lookalike_notice(self, distance: float | None = None) -> str:
        """The probe-specific figure in plain words, at `distance` (default: the
        threshold the candidates were shown under, else 0.60)."""
        if self.lookalikes is None:
            return ""
        d = distance if distance is not None else \
            (self.threshold if self.threshold is not None else 0.6)
        return lookalike_sentence(self.lookalikes, d)

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
            else _sig3(self.lookalikes_at_best),
            "lookalike_notice": self.lookalike_notice(),
            "lookalikes": "probe-specific: different persons of this gallery expected at "
                          "least this close to this probe, estimated from its distances "
                          "to every person searched, with a 90% band (lookalike_curve); "
                          "expected_lookalikes is the reference table's persons x FMR",
            "lookalike_curve": None if self.lookalikes is None
            else self.lookalikes.as_dict(),
            "candidates": [c.as_dict() for c in self.candidates],
        }


def lookalike_sentence(est: LookalikeEstimate, distance: float) -> str:
    """E.g. "At distance 0.60, about 36 different persons in this gallery are expected to
    come this close to this probe (90% band 30-43)."."""
    e, lo, hi = est.at(distance)

    def num(v: float) -> str:
        return f"{v:.0f}" if v >= 9.5 else f"{v:.2g}"

    return (f"At distance {distance:.2f}, about {num(e)} different "
            f"person{'' if num(e) == '1' else 's'} in this gallery "
            f"{'is' if num(e) == '1' else 'are'} expected to come this close to this probe "
            f"({round(lookalikes.BAND * 100)}% band {num(lo)}–{num(hi)}; estimated from its "
            f"distances to all {est.persons:,} persons).")


def _sig3(value: float) -> float:
    """Three significant digits: 0.000213 stays 0.000213 (rounding to places made it 0)."""
    return float(f"{value:.3g}")



class Searcher:
    """A gallery with its in-memory index, rebuilt only when the gallery's version
    changes (new faces), so repeated searches pay for the matrix once."""

    def __init__(self, gallery: Gallery, engine_identity: dict[str, Any],
                 calibration: Calibration | None = None) -> None:
        self.gallery = gallery
        self.engine_identity = engine_identity
        self.engine_id = engine_id(engine_identity)
        self._index: SearchIndex | None = None
        self._encodings: EncodingMatrix | None = None
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
            self._index = None  # the old matrices go before the new ones are read
            # topped up with the faces added since (another workstation's import)
            self._encodings = self.gallery.load_encodings(previous=self._encodings)
            self._index = SearchIndex(self._encodings)
        return self._index

    def check_engine(self, index: SearchIndex) -> None:
        engines.require_engine(self.gallery, self.engine_identity, index.engine_ids)

    def search(self, encoding: NDArray[np.float32], top_k: int = DEFAULT_TOP_K) -> SearchResult:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        index = self.index()
        if index.faces == 0:
            raise EmptyGallery(f"{self.gallery.location}: the gallery has no faces to search yet")
        self.check_engine(index)
        t0 = time.perf_counter()
        hits, spread = index.nearest_and_persons(encoding, top_k)
        assert spread is not None
        estimate = lookalikes.estimate_from(spread)
        search_ms = (time.perf_counter() - t0) * 1000
        cal = self.calibration
        best_ids = [faces[0][0] for _, faces in hits]
        extra_ids = [f[0] for _, faces in hits for f in faces[1:PHOTOS_PER_CANDIDATE]]
        details = self.gallery.face_details(best_ids + extra_ids)
        candidates = []
        for rank, (_, faces) in enumerate(hits, start=1):
            fid, dist, row = faces[0]
            d = details[fid]
            fields = d.as_dict()
            photo = {k: fields[k] for k in ("photo_id", "path", "sha256", "width", "height",
                                            "box", "metadata", "quality")}
            others = [{"face_id": ofid, "distance": round(odist, 6),
                       "path": details[ofid].path}
                      for ofid, odist, _ in faces[1:PHOTOS_PER_CANDIDATE]]
            reading = None if cal is None else cal.reading(dist)
            candidates.append(Candidate(
                rank=rank, person_id=d.person_id, name=d.name, distance=dist,
                similarity=cosine(encoding, index.matrix[row]), face_id=fid,
                photo=photo, other_photos=others, photos_of_person=len(faces),
                fmr=reading, expected_lookalikes=None if reading is None
                else reading.expected_lookalikes(index.persons),
                lookalikes=estimate.at(dist)))
        return SearchResult(
            persons_searched=index.persons, faces_searched=index.faces,
            gallery_version=index.version, engine_id=self.engine_id, top_k=top_k,
            search_ms=search_ms, candidates=candidates,
            calibration_source=None if cal is None else cal.source, lookalikes=estimate)

