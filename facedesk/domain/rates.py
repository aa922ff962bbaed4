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
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from facedesk.domain.faces import engine_id

#: distances are binned at this resolution
BIN_WIDTH = 0.001
MAX_DISTANCE = 1.6
#: bins of a histogram: the last holds MAX_DISTANCE and everything beyond it
BINS = round(MAX_DISTANCE / BIN_WIDTH) + 1
#: a distance on a bin's lower edge as written (0.6) is in that bin, though binary
#: floating point makes 0.6 / 0.001 = 599.99999999999989
_EDGE = 1e-9


def bins_of(distances: ArrayLike) -> NDArray[np.int64]:
    """The histogram bin of each distance: floor(d / BIN_WIDTH), a distance on a bin's
    lower edge in that bin, below 0 in the first and from MAX_DISTANCE on in the last.
    The ONE rule that every histogram writer and reader uses: counting d, and reading
    "d <= t" as the bins up to t's, then agree (d <= t puts d's bin at or below t's)."""
    d = np.asarray(distances, dtype=np.float64)
    out: NDArray[np.int64] = np.clip(np.floor(d / BIN_WIDTH + _EDGE), 0, BINS - 1
                                     ).astype(np.int64)
    return out


def bin_of(distance: float) -> int:
    """The histogram bin of one distance (`bins_of`)."""
    return int(bins_of(distance))


def histogram(distances: ArrayLike) -> NDArray[np.int64]:
    """Counts per bin (`bins_of`) of some distances."""
    counts: NDArray[np.int64] = np.bincount(bins_of(distances).ravel(), minlength=BINS
                                            ).astype(np.int64)
    return counts
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
        k = int(self._cum()[min(bin_of(distance), len(self.impostor_counts) - 1)])
        lo, hi = wilson(k, n)
        return FmrReading(distance, k / n if n else 1.0, lo, hi, n, k)

    def fnmr(self, distance: float) -> float:
        """Share of genuine pairs (same person) farther than `distance`."""
        n = self.genuine_pairs
        b = min(bin_of(distance), len(self.genuine_counts) - 1)
        within = int(np.cumsum(self.genuine_counts)[b])
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
    genuine (same person). O(n^2) distances in blocks; 13k faces take seconds. To report
    progress or stop between blocks: `count_pairs`."""
    imp = np.zeros(BINS, dtype=np.int64)
    gen = np.zeros(BINS, dtype=np.int64)
    for _ in count_pairs(matrix, person_pks, imp, gen, block=block):
        pass
    return Calibration(source, engine_identity, imp, gen, provenance or {})


def measure_steps(matrix: NDArray[np.float32], person_pks: NDArray[np.int64], *,
                  source: str, engine_identity: dict[str, Any],
                  provenance: dict[str, Any] | None = None, block: int = 2048
                  ) -> Generator[tuple[int, int], None, Calibration]:
    """`measure`, one block of pairs at a time: yields (blocks done, blocks) after each, so
    a caller can show progress and stop between blocks; returns the calibration."""
    imp = np.zeros(BINS, dtype=np.int64)
    gen = np.zeros(BINS, dtype=np.int64)
    total = pair_blocks(len(matrix), block)
    for done in count_pairs(matrix, person_pks, imp, gen, block=block):
        yield done, total
    return Calibration(source, engine_identity, imp, gen, provenance or {})


def pair_blocks(faces: int, block: int = 2048) -> int:
    """How many blocks `count_pairs` works through for so many faces."""
    n = -(-faces // block)
    return n * (n + 1) // 2


def count_pairs(matrix: NDArray[np.float32], person_pks: NDArray[np.int64],
                impostor: NDArray[np.int64], genuine: NDArray[np.int64], *,
                block: int = 2048) -> Iterator[int]:
    """Add the distance of every pair of faces to the `impostor` (different persons) and
    `genuine` (same person) histograms, one block of pairs at a time, yielding how many
    blocks are done (of `pair_blocks`) after each: the caller may stop between them."""
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    sq = np.einsum("ij,ij->i", m, m)
    n = len(m)
    done = 0
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
            impostor += histogram(d[keep & ~same])
            genuine += histogram(d[keep & same])
            done += 1
            yield done


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
    imp = np.zeros(BINS, dtype=np.int64)
    gen = np.zeros(BINS, dtype=np.int64)
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
        gen += histogram(d)
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
    def hist(d: NDArray[np.float64]) -> NDArray[np.int64]:
        return histogram(d[np.isfinite(d)])

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
