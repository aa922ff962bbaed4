"""What a distance means: the false match rate (FMR) measured on impostor pairs.

FMR(d) is the share of pairs of photos of two DIFFERENT persons whose encodings are at
distance d or closer. It is the honest reading of a score: not "how likely is this the
person", but "how often do different people come this close". In a gallery of N persons,
about N x FMR(d) look-alikes are expected at distance d or closer (DESIGN.md).

A calibration is measured for one engine (its identity is kept with it) on one reference
set, and says which: FaceDesk ships one measured on LFW (scripts/build_calibration.py).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.core import accounts, audit
from facedesk.core.accounts import Session
from facedesk.core.engines import engine_id
from facedesk.errors import EvaluationError, NotPermitted
from facedesk.store import Gallery
from facedesk.store.gallery import now_iso

#: distances are binned at this resolution
BIN_WIDTH = 0.001
MAX_DISTANCE = 1.6
#: z for the 95 % interval
Z95 = 1.959964


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k/n."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # exact at the ends (no rounding residue like 1e-21 for 0 of n)
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


@dataclass(frozen=True)
class FmrReading:
    distance: float
    fmr: float  # share of impostor pairs at this distance or closer
    fmr_low: float  # 95 % interval
    fmr_high: float
    impostor_pairs: int  # pairs behind the figure
    impostors_at_or_below: int

    def expected_lookalikes(self, persons: int) -> float:
        return persons * self.fmr

    def as_dict(self, persons: int | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "fmr": self.fmr, "fmr_95": [self.fmr_low, self.fmr_high],
            "impostor_pairs": self.impostor_pairs,
            "impostor_pairs_at_or_below": self.impostors_at_or_below,
        }
        if persons is not None:
            d["expected_lookalikes"] = round(self.expected_lookalikes(persons), 3)
        return d


@dataclass(frozen=True)
class Calibration:
    source: str  # e.g. "LFW deep-funneled, 13,166 faces of 5,718 persons"
    engine_identity: dict[str, Any]
    impostor_counts: NDArray[np.int64]  # per distance bin
    genuine_counts: NDArray[np.int64]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def engine_id(self) -> str:
        return engine_id(self.engine_identity)

    @property
    def impostor_pairs(self) -> int:
        return int(self.impostor_counts.sum())

    @property
    def genuine_pairs(self) -> int:
        return int(self.genuine_counts.sum())

    def _cum(self) -> NDArray[np.int64]:
        return np.cumsum(self.impostor_counts)

    def reading(self, distance: float) -> FmrReading:
        """FMR at `distance`: impostor pairs at that distance or closer."""
        n = self.impostor_pairs
        b = math.floor(max(0.0, distance) / BIN_WIDTH)
        k = int(self._cum()[min(b, len(self.impostor_counts) - 1)])
        lo, hi = wilson(k, n)
        return FmrReading(distance, k / n if n else 1.0, lo, hi, n, k)

    def fnmr(self, distance: float) -> float:
        """Share of genuine pairs (same person) farther than `distance`."""
        n = self.genuine_pairs
        b = math.floor(max(0.0, distance) / BIN_WIDTH)
        within = int(np.cumsum(self.genuine_counts)[min(b, len(self.genuine_counts) - 1)])
        return 1.0 - within / n if n else 0.0

    def to_json(self) -> str:
        return json.dumps({
            "source": self.source, "engine_identity": self.engine_identity,
            "bin_width": BIN_WIDTH, "provenance": self.provenance,
            "impostor_counts": self.impostor_counts.tolist(),
            "genuine_counts": self.genuine_counts.tolist(),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        d = json.loads(text)
        if abs(float(d["bin_width"]) - BIN_WIDTH) > 1e-12:
            raise ValueError("calibration made with another bin width")
        return cls(d["source"], d["engine_identity"],
                   np.asarray(d["impostor_counts"], dtype=np.int64),
                   np.asarray(d["genuine_counts"], dtype=np.int64), d.get("provenance", {}))


def measure(matrix: NDArray[np.float32], person_pks: NDArray[np.int64], *, source: str,
            engine_identity: dict[str, Any], provenance: dict[str, Any] | None = None,
            block: int = 2048) -> Calibration:
    """Histogram the distances of every pair of faces: impostor (different persons) and
    genuine (same person). O(n^2) distances in blocks; 13k faces take seconds."""
    bins = round(MAX_DISTANCE / BIN_WIDTH) + 1
    imp = np.zeros(bins, dtype=np.int64)
    gen = np.zeros(bins, dtype=np.int64)
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    sq = np.einsum("ij,ij->i", m, m)
    n = len(m)
    for i in range(0, n, block):
        a = m[i:i + block]
        for j in range(i, n, block):
            b = m[j:j + block]
            d2 = sq[i:i + block, None] + sq[None, j:j + block] - 2.0 * (a @ b.T)
            d = np.sqrt(np.maximum(d2, 0.0))
            same = person_pks[i:i + block, None] == person_pks[None, j:j + block]
            if i == j:  # each unordered pair once, no self-pairs
                keep = np.triu(np.ones(d.shape, dtype=bool), k=1)
            else:
                keep = np.ones(d.shape, dtype=bool)
            idx = np.minimum((d / BIN_WIDTH).astype(np.int64), bins - 1)
            imp += np.bincount(idx[keep & ~same], minlength=bins)
            gen += np.bincount(idx[keep & same], minlength=bins)
    return Calibration(source, engine_identity, imp, gen, provenance or {})


def measure_persons(matrix: NDArray[np.float32], person_pks: NDArray[np.int64], *,
                    source: str, engine_identity: dict[str, Any],
                    provenance: dict[str, Any] | None = None, rounds: int = 10,
                    max_persons: int | None = None, seed: int = 0) -> Calibration:
    """Like `measure`, but every PERSON weighs the same, not every photo: all pairs of a
    gallery's photos let a person with 530 photos weigh 530 times as much as one with one
    (LFW's George W Bush), while a search counts persons. Each of `rounds` rounds draws
    one photo of every person at random and takes every pair of two persons once (an
    impostor pair), and one pair of two photos of every person who has several (a genuine
    pair). With `max_persons`, a random sample of that many persons (a large gallery)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(person_pks, kind="stable")
    persons, starts, counts = np.unique(person_pks[order], return_index=True,
                                        return_counts=True)
    keep = np.arange(len(persons))
    if max_persons is not None and len(persons) > max_persons:
        keep = np.sort(rng.choice(len(persons), max_persons, replace=False))
    starts, counts = starts[keep], counts[keep]
    bins = round(MAX_DISTANCE / BIN_WIDTH) + 1
    imp = np.zeros(bins, dtype=np.int64)
    gen = np.zeros(bins, dtype=np.int64)
    m = np.asarray(matrix, dtype=np.float32)
    several = counts > 1
    for _ in range(rounds):
        pick = order[starts + rng.integers(0, counts)]
        imp += measure(m[pick], np.arange(len(pick)), source="", engine_identity={}
                       ).impostor_counts
        c = counts[several]
        a = rng.integers(0, c)
        b = (a + 1 + rng.integers(0, np.maximum(c - 1, 1))) % c
        base = starts[several]
        d = np.linalg.norm(m[order[base + a]].astype(np.float64)
                           - m[order[base + b]].astype(np.float64), axis=1)
        gen += np.bincount(np.minimum((d / BIN_WIDTH).astype(np.int64), bins - 1),
                           minlength=bins)
    return Calibration(source, engine_identity, imp, gen,
                       {**(provenance or {}), "weighting": "persons", "rounds": rounds,
                        "persons": len(keep), "seed": seed})


def outside_probe_calibration(distances: NDArray[np.float32],
                              own: NDArray[np.float64], *, source: str,
                              engine_identity: dict[str, Any],
                              provenance: dict[str, Any]) -> Calibration:
    """The FMR curve measured from outside probes searched against a gallery, person-level:
    every (probe, gallery person other than the probe's own) is an impostor pair at the
    distance of that person's closest photo; every in-gallery probe's distance to its own
    person is a genuine pair. N x FMR(d) then reads as the false candidates a probe of that
    kind gets at distance d in this gallery of N persons."""
    bins = round(MAX_DISTANCE / BIN_WIDTH) + 1

    def hist(d: NDArray[np.float64]) -> NDArray[np.int64]:
        d = d[np.isfinite(d)]
        counts: NDArray[np.int64] = np.bincount(
            np.minimum((d / BIN_WIDTH).astype(np.int64), bins - 1), minlength=bins
        ).astype(np.int64)
        return counts

    return Calibration(source, engine_identity, hist(distances.astype(np.float64).ravel()),
                       hist(np.asarray(own, dtype=np.float64)), provenance)


REFERENCE_RESOURCE = "calibration_lfw.json"


def reference() -> Calibration | None:
    """The calibration shipped with FaceDesk (measured on LFW), if present."""
    try:
        text = resources.files("facedesk.data").joinpath(REFERENCE_RESOURCE).read_text()
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return Calibration.from_json(text)


# --- calibrations kept in a gallery --------------------------------------------------------

#: provenance "method" of a calibration measured from outside probes (facedesk calibrate
#: --probes): kept with kind 'reference', it is the agency's own reference for such probes
OUTSIDE_PROBES = "outside_probes"
#: a gallery's own calibration needs repeat photos of this many persons (genuine pairs)...
MIN_REPEAT_PERSONS = 20
#: ...and this many impostor pairs (FMR 1e-3 then rests on at least 10 pairs)
MIN_IMPOSTOR_PAIRS = 10_000


def measure_gallery(gallery: Gallery, *, label: str | None = None) -> Calibration:
    """Measure a calibration on every pair of a labelled gallery's faces."""
    enc = gallery.load_encodings()
    if len(enc.engine_ids) != 1:
        raise EvaluationError(f"{gallery.path}: a calibration needs faces of exactly one "
                              f"engine; this gallery has {len(enc.engine_ids)}")
    (eid,) = enc.engine_ids
    pks, counts = np.unique(enc.person_pks, return_counts=True)
    repeat = int(np.count_nonzero(counts > 1))
    impostors = (len(enc.person_pks) ** 2 - int((counts.astype(np.int64) ** 2).sum())) // 2
    if repeat < MIN_REPEAT_PERSONS or impostors < MIN_IMPOSTOR_PAIRS:
        raise EvaluationError(
            f"{gallery.path}: too little to calibrate on: {repeat} persons with repeat "
            f"photos (needs {MIN_REPEAT_PERSONS}) and {impostors:,} pairs of different "
            f"persons (needs {MIN_IMPOSTOR_PAIRS:,}); FaceDesk keeps using the reference "
            "calibration")
    name = label or gallery.path.name
    return measure(
        enc.matrix, enc.person_pks, engine_identity=gallery.engine_identity(eid) or {},
        source=f"{name}: {len(enc.face_ids):,} faces of {len(pks):,} persons "
               f"({repeat:,} with repeat photos), all pairs",
        provenance={"gallery": str(gallery.path), "gallery_id": gallery.gallery_id,
                    "gallery_version": enc.version, "faces": len(enc.face_ids),
                    "persons": len(pks), "persons_with_repeats": repeat,
                    "measured_at": now_iso()})


def store(gallery: Gallery, cal: Calibration, kind: str, *, use: bool = True,
          session: Session | None = None) -> int:
    """Keep a calibration in the gallery (kind 'gallery': measured on its own photos;
    'reference': on another labelled set) and, by default, put it in use (see `use`)."""
    if cal.engine_id not in gallery.engine_ids():
        raise EvaluationError(
            f"{gallery.path}: the calibration was measured for engine {cal.engine_id}, "
            "which did not encode this gallery")
    if use:
        _may_change(gallery, session)
    def log(conn: sqlite3.Connection, cid: int) -> None:
        audit.append(conn, gallery.gallery_id, "calibration_added",
                     {"id": cid, "kind": kind, "engine_id": cal.engine_id,
                      "source": cal.source, "impostor_pairs": cal.impostor_pairs,
                      "genuine_pairs": cal.genuine_pairs},
                     user_id=None if session is None else session.user_id,
                     records={"calibrations": [cid]})

    cid = gallery.add_calibration(kind, cal.engine_id, cal.source, cal.impostor_pairs,
                                  cal.genuine_pairs, cal.to_json(), use=False, log=log)
    if use:
        _put_in_use(gallery, cid, session)
    return cid


def _may_change(gallery: Gallery, session: Session | None) -> None:
    if accounts.has_users(gallery):
        if session is None:
            raise NotPermitted("changing the calibration in use is an administrator's "
                               "setting: sign in")
        session.require("change_settings")


def use(gallery: Gallery, calibration_id: int | None, *,
        session: Session | None = None) -> None:
    """Put a stored calibration in use (None: the reference shipped with FaceDesk). It
    changes the false match rates every search shows, so it is a setting: once the
    gallery has users, only an administrator's session may change it, and the change is
    an audit event ("setting_changed", setting "calibration")."""
    _put_in_use(gallery, calibration_id, session)


def _put_in_use(gallery: Gallery, calibration_id: int | None,
                session: Session | None) -> None:
    _may_change(gallery, session)
    with gallery.write() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'calibration_id'").fetchone()
        before = None if row is None else int(row[0])
        if calibration_id == before:
            return
        if calibration_id is None:
            conn.execute("DELETE FROM meta WHERE key = 'calibration_id'")
        else:
            if conn.execute("SELECT 1 FROM calibrations WHERE id = ?",
                            (calibration_id,)).fetchone() is None:
                raise EvaluationError(f"there is no calibration {calibration_id} in "
                                      f"{gallery.path} (facedesk calibrate --list)")
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                         "('calibration_id', ?)", (str(calibration_id),))
        audit.append(conn, gallery.gallery_id, "setting_changed",
                     {"setting": "calibration", "from": before, "to": calibration_id},
                     user_id=None if session is None else session.user_id,
                     records={"meta": ["calibration_id"]})


def in_use(gallery: Gallery) -> Calibration | None:
    """The calibration a search of this gallery reads distances with: the one stored in
    the gallery and put in use, else the reference shipped with FaceDesk; None when it was
    measured with an engine that did not encode this gallery. Its source says which."""
    cid = gallery.calibration_in_use()
    data = None if cid is None else gallery.calibration_data(cid)
    if data is None:
        cal = reference()
        prefix = "reference shipped with FaceDesk"
    else:
        cal = Calibration.from_json(data)
        kind = next((c["kind"] for c in gallery.calibrations() if c["id"] == cid), "")
        prefix = "this gallery's own photos" if kind == "gallery" else \
            "this agency's outside probes" if cal.provenance.get("method") == \
            OUTSIDE_PROBES else "reference"
    engines = gallery.engine_ids()
    if cal is None or (engines and cal.engine_id not in engines):
        return None
    return replace(cal, source=f"{prefix} — {cal.source}")
