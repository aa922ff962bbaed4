"""Synthetic face encodings shaped like dlib's, and gallery files built from them.

Used by the benchmarks (search_scale.py, gui_startup.py); not part of the application.

What "shaped like dlib's" means here, measured on a real gallery of 13,166 LFW faces
(dlib 20, face_recognition_models' ResNet; `--real-db` in search_scale.py prints the same
figures for any gallery next to the synthetic ones):

- encodings span only about 77 of the 128 dimensions (the covariance's eigenvalues drop
  from 2e-4 to 5e-6 after the 77th, then to float32 noise): the network's last layer is
  fed by fewer active channels than it has outputs. `SPECTRUM` is the measured spectrum,
  77 principal variances interpolated from anchors, in a random orthonormal basis;
- a common offset: the mean encoding has norm 1.30, so every encoding's norm is about
  1.42 (1st-99th percentile 1.27-1.60): not unit vectors;
- person identity holds 72% of the variance, the photo the rest, more in the weaker
  directions (`WITHIN_SHARE`): a photo is 0.27 from its person's centre (median), two
  photos of one person 0.43 apart, two persons 0.82 (1%: 0.63);
- photos per person 1-5 (`PHOTOS_PER_PERSON`), a booking database's repeat arrests
  rather than LFW's long tail (LFW: 70% of persons have one photo, one has 529).

Rows come out grouped by person, person after person, as `Gallery.load_encodings` gives
them.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DIMS = 128
RANK = 77
#: (principal direction, variance) anchors of the LFW gallery's covariance; in between
#: log-linear interpolation
SPECTRUM_ANCHORS = [(0, 0.0327), (1, 0.0234), (2, 0.0179), (3, 0.0159), (5, 0.0124),
                    (8, 0.0086), (12, 0.0069), (20, 0.0049), (30, 0.0033), (40, 0.0025),
                    (50, 0.0019), (60, 0.00135), (65, 0.00104), (70, 0.00086), (73, 0.00062),
                    (75, 0.0004), (76, 0.00019)]
#: share of each direction's variance that varies between photos of one person
WITHIN_SHARE_ANCHORS = [(0, 0.05), (6, 0.16), (12, 0.28), (18, 0.35), (24, 0.42),
                        (30, 0.47), (42, 0.5), (54, 0.54), (66, 0.59), (76, 0.62)]
MEAN_NORM = 1.30
#: sd of the log of a person's spread factor
SPREAD_SD = 0.15
#: P(1 photo), P(2), ... P(5)
PHOTOS_PER_PERSON = (0.40, 0.25, 0.15, 0.12, 0.08)


def _interp(anchors: list[tuple[int, float]], log: bool) -> NDArray[np.float64]:
    xs = np.array([a for a, _ in anchors], dtype=np.float64)
    ys = np.array([b for _, b in anchors], dtype=np.float64)
    grid = np.arange(RANK, dtype=np.float64)
    return np.exp(np.interp(grid, xs, np.log(ys))) if log else np.interp(grid, xs, ys)


@dataclass(frozen=True)
class FaceModel:
    """The generative model: mean, basis and per-direction spreads (fixed by `seed`)."""

    mean: NDArray[np.float64]  # (128,)
    basis: NDArray[np.float64]  # (77, 128), orthonormal rows
    between_sd: NDArray[np.float64]  # (77,)
    within_sd: NDArray[np.float64]  # (77,)

    @classmethod
    def create(cls, seed: int = 7) -> FaceModel:
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.normal(size=(DIMS, DIMS)))
        basis = q[:, :RANK].T.copy()
        # the mean lies inside the same 77-d subspace (as measured: 99.99% of its energy)
        mean = rng.laplace(0.0, 1.0, RANK) @ basis
        mean *= MEAN_NORM / np.linalg.norm(mean)
        variance = _interp(SPECTRUM_ANCHORS, log=True)
        within = _interp(WITHIN_SHARE_ANCHORS, log=False)
        return cls(mean, basis, np.sqrt(variance * (1 - within)), np.sqrt(variance * within))

    def centres(self, rng: np.random.Generator, count: int) -> NDArray[np.float64]:
        """`count` persons' centres, in the 77-d coordinates."""
        return rng.standard_normal(size=(count, RANK), dtype=np.float32) * self.between_sd

    def photos(self, rng: np.random.Generator, centres: NDArray[np.float64],
               spread: NDArray[np.float64] | None = None) -> NDArray[np.float32]:
        """One photo of each given centre (77-d), as 128-d float32 encodings; `spread`
        scales each photo's deviation from its centre (some persons vary more)."""
        noise = rng.standard_normal(size=centres.shape, dtype=np.float32) * self.within_sd
        if spread is not None:
            noise *= spread[:, None]
        return (self.mean + (centres + noise) @ self.basis).astype(np.float32)

    def spreads(self, rng: np.random.Generator, count: int) -> NDArray[np.float64]:
        """Per-person spread factors (log-normal, mean 1): photos of some persons differ
        more than others'."""
        return rng.lognormal(-0.5 * SPREAD_SD ** 2, SPREAD_SD, count)


@dataclass
class SyntheticGallery:
    matrix: NDArray[np.float32]  # (n, 128), rows grouped by person
    person_index: NDArray[np.int64]  # (n,), 0.. persons-1, non-decreasing
    persons: int


def photo_counts(rng: np.random.Generator, faces: int) -> NDArray[np.int64]:
    """Photos per person, drawn from PHOTOS_PER_PERSON, summing to exactly `faces`."""
    mean = sum((i + 1) * p for i, p in enumerate(PHOTOS_PER_PERSON))
    counts = rng.choice(np.arange(1, 6), size=int(faces / mean * 1.1) + 10,
                        p=PHOTOS_PER_PERSON)
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, faces))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(total[last]) - faces
    return counts[counts > 0]


def gallery(faces: int, seed: int = 1, model: FaceModel | None = None,
            chunk_persons: int = 50_000) -> SyntheticGallery:
    """`faces` encodings of persons with 1-5 photos each."""
    model = model or FaceModel.create()
    rng = np.random.default_rng(seed)
    counts = photo_counts(rng, faces)
    matrix = np.empty((faces, DIMS), dtype=np.float32)
    person_index = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    row = 0
    for lo in range(0, len(counts), chunk_persons):
        c = counts[lo:lo + chunk_persons]
        centres = model.centres(rng, len(c))
        spread = model.spreads(rng, len(c))
        rows = int(c.sum())
        matrix[row:row + rows] = model.photos(rng, np.repeat(centres, c, axis=0),
                                              np.repeat(spread, c))
        row += rows
    return SyntheticGallery(matrix, person_index, len(counts))


def probes(g: SyntheticGallery, count: int, seed: int = 2, model: FaceModel | None = None
           ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """`count` probe encodings: half new photos of gallery persons (mated: the person's
    centre re-estimated from the person's gallery photos, plus a fresh photo's spread),
    half persons not in the gallery. Returns the probes and each one's gallery person
    (-1: not in the gallery)."""
    model = model or FaceModel.create()
    rng = np.random.default_rng(seed)
    mated = count // 2
    persons = rng.choice(g.persons, size=mated, replace=False)
    starts = np.searchsorted(g.person_index, persons)
    ends = np.searchsorted(g.person_index, persons, side="right")
    out = np.empty((count, DIMS), dtype=np.float32)
    for i, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        coords = (g.matrix[lo:hi].astype(np.float64) - model.mean) @ model.basis.T
        centre = coords.mean(axis=0)
        out[i] = model.photos(rng, centre[None, :], model.spreads(rng, 1))[0]
    out[mated:] = model.photos(rng, model.centres(rng, count - mated),
                               model.spreads(rng, count - mated))
    truth = np.concatenate([persons, np.full(count - mated, -1)]).astype(np.int64)
    return out, truth


def describe(matrix: NDArray[np.float32], person_index: NDArray[np.int64],
             seed: int = 3, pairs: int = 20_000) -> dict[str, object]:
    """The figures the generator is tuned to (norms, distances, rank, photos/person)."""
    rng = np.random.default_rng(seed)
    m = matrix.astype(np.float64)
    n = len(m)
    sample = m[rng.choice(n, size=min(n, 50_000), replace=False)]
    norms = np.linalg.norm(sample, axis=1)
    i, j = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    diff = person_index[i] != person_index[j]
    impostor = np.linalg.norm(m[i[diff]] - m[j[diff]], axis=1)
    starts = np.flatnonzero(np.concatenate(([True], person_index[1:] != person_index[:-1])))
    sizes = np.diff(np.append(starts, n))
    multi = starts[sizes >= 2]
    pick = multi[rng.integers(0, len(multi), min(len(multi), pairs))] if len(multi) else multi
    genuine = np.linalg.norm(m[pick] - m[pick + 1], axis=1) if len(pick) else np.zeros(1)
    ev = np.linalg.eigvalsh(np.cov(sample.T))[::-1]
    counts = np.bincount(np.minimum(sizes, 6), minlength=7)[1:]
    return {
        "faces": n,
        "persons": len(starts),
        "photos_per_person 1..5,6+ (share)": [round(float(c) / len(starts), 3) for c in counts],
        "norm p1/p50/p99": [round(float(x), 3) for x in np.percentile(norms, [1, 50, 99])],
        "impostor distance p1/p5/p50": [round(float(x), 3)
                                        for x in np.percentile(impostor, [1, 5, 50])],
        "genuine distance p5/p50/p95": [round(float(x), 3)
                                        for x in np.percentile(genuine, [5, 50, 95])],
        "dimensions holding 99.9% of the variance": int(
            np.searchsorted(np.cumsum(ev) / ev.sum(), 0.999) + 1),
    }


# --- gallery files -------------------------------------------------------------------------

ENGINE = {"engine": "synthetic-benchmark", "dlib": "0"}
#: where the benchmark galleries are built once and kept
DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "facedesk-bench"


def crop_jpeg(target_bytes: int) -> bytes:
    """One face-crop JPEG of about `target_bytes` (real crops in the LFW gallery: ~3.9 KB),
    shared by every synthetic face."""
    from facedesk.domain.imaging import jpeg_bytes

    rng = np.random.default_rng(0)
    side = 24
    best = b""
    while side < 400:
        img = rng.integers(0, 255, (side, side, 3), dtype=np.uint8)
        img = ((img.astype(np.float32) + np.roll(img, 1, axis=0)) / 2).astype(np.uint8)
        data = jpeg_bytes(img)
        if len(data) > target_bytes:
            return best or data
        best = data
        side += 8
    return best


def _records(g: SyntheticGallery, engine_id: str, crop: bytes, lo: int, hi: int,
             landmarks: list[tuple[int, int]]) -> Iterator[object]:
    from facedesk.store import FaceRecord, PhotoRecord

    for row in range(lo, hi):
        person = int(g.person_index[row])
        sha = hashlib.sha256(f"synthetic-{row}".encode()).hexdigest()
        yield PhotoRecord(
            sha256=sha, path=f"/bookings/{person // 1000:04d}/{person}_{row}.jpg",
            size_bytes=41_000, width=480, height=600, format="JPEG",
            person_id=f"B{person:08d}", person_name=None,
            metadata={"sex": "F" if person % 3 == 0 else "M"}, faces_found=1,
            face=FaceRecord(engine_id, (120, 330, 330, 120), landmarks, 210, 88.0, 150.0,
                            110.0, 0.0, g.matrix[row].astype("<f4").tobytes(), crop))


def fill_gallery(gal: object, faces: int, seed: int = 1, crop_bytes: int = 3900,
                 batch: int = 20_000, log: bool = True) -> None:
    """Write `faces` synthetic faces into an open, empty Gallery (a file or a database
    on a server) through the store API (register_engine, start_run, add_photos), with 68
    landmarks and a ~4 KB crop per face like a real import, so that the gallery's size
    and layout (and what scanning it costs) are a real gallery's."""
    from facedesk.engine.spec import engine_id as make_engine_id
    from facedesk.store import Gallery, RunCounts

    assert isinstance(gal, Gallery)
    g = gallery(faces, seed)
    crop = crop_jpeg(crop_bytes)
    rng = np.random.default_rng(seed)
    landmarks = [(int(x), int(y)) for x, y in rng.integers(100, 400, (68, 2))]
    eid = make_engine_id(ENGINE)
    t0 = time.perf_counter()
    gal.register_engine(eid, ENGINE)
    run = gal.start_run("synthetic benchmark gallery", "manifest",
                        {"faces": faces, "seed": seed}, eid)
    for lo in range(0, faces, batch):
        hi = min(faces, lo + batch)
        gal.add_photos(run, _records(g, eid, crop, lo, hi, landmarks))  # type: ignore[arg-type]
        if log and (hi // batch) % 10 == 0:
            rate = hi / (time.perf_counter() - t0)
            print(f"  {hi:,} of {faces:,} faces written ({rate:,.0f}/s)", flush=True)
    gal.finish_run(run, "completed", RunCounts(total=faces, imported=faces))


def build_gallery_file(path: Path, faces: int, seed: int = 1, crop_bytes: int = 3900,
                       batch: int = 20_000, log: bool = True) -> None:
    """A gallery file of `faces` synthetic faces (`fill_gallery`), written to
    `path`.partial, then renamed."""
    from facedesk.store import Gallery

    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    with Gallery.open(partial, create=True) as gal:
        fill_gallery(gal, faces, seed, crop_bytes, batch, log)
        gal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    partial.rename(path)
    meta = {"faces": faces, "seed": seed, "crop_bytes": len(crop_jpeg(crop_bytes)),
            "format": 1}
    path.with_name(path.name + ".json").write_text(json.dumps(meta))


def ensure_gallery_file(folder: Path, faces: int, seed: int = 1) -> Path:
    """The cached synthetic gallery of `faces` faces in `folder`, built on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"synthetic-{faces // 1000}k.db" if faces % 1000 == 0 else f"synthetic-{faces}.db"
    path = folder / name
    meta_path = path.with_name(path.name + ".json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("faces") == faces and meta.get("seed") == seed and meta.get("format") == 1:
            return path
    print(f"building {path} ({faces:,} synthetic faces through the store API, "
          f"{faces * 5.8e-3:,.0f} MB; once, then kept: about "
          f"{math.ceil(faces / 6000 / 60)} min on a busy 2-core machine)...", flush=True)
    build_gallery_file(path, faces, seed)
    return path
