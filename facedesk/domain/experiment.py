"""The false-positive experiment's maths (facedesk.app.experiment runs it on a gallery):
the split of a labelled gallery into probes and gallery, the distances from probes to
each gallery person's closest photo, and the figures counted from them. Pure: arrays in,
figures out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.evaluation import Rate, worst_best_ratio

DEFAULT_THRESHOLDS = (0.4, 0.5, 0.6)
DEFAULT_RANKS = (1, 5, 10, 20)


@dataclass(frozen=True)
class ExperimentOptions:
    probe_share: float = 0.5  # share of the persons held out as out-of-gallery probes
    mated_probes: bool = True  # also hold out one photo of gallery persons with several
    seed: int = 0
    group_key: str | None = None  # metadata column for per-group figures, e.g. "sex"
    #: persons in the gallery at which to re-count (None: about 8 sizes from 10 to all)
    gallery_sizes: tuple[int, ...] | None = None
    worst: int = 12  # closest false candidates kept for display

    def __post_init__(self) -> None:
        if not 0.0 < self.probe_share < 1.0:
            raise ValueError("probe_share must be between 0 and 1")


@dataclass(frozen=True)
class FalseCandidate:
    """An out-of-gallery probe and the closest photo of a different person."""

    probe_face_id: int  # -1: an outside probe (not a gallery face), see probe_index
    probe_person: str
    candidate_face_id: int
    candidate_person: str
    distance: float
    probe_index: int = -1  # outside probes: the probe's row in the result
    probe_label: str = ""  # outside probes: the probe's file as the probe set names it

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ExperimentResult:
    gallery_persons: int
    gallery_faces: int
    #: out-of-gallery probes x gallery persons: distance to the person's closest photo
    oog_distances: NDArray[np.float32]
    oog_face_ids: NDArray[np.int64]
    oog_groups: NDArray[np.str_] | None
    #: mated probes: their faces, the rank of their own person (1 = closest), its distance
    mated_face_ids: NDArray[np.int64]
    mated_ranks: NDArray[np.int64]
    mated_distances: NDArray[np.float64]
    mated_groups: NDArray[np.str_] | None
    #: sizes (persons) and, per size, each oog probe's closest distance in the sub-sample
    sizes: NDArray[np.int64]
    best_at_size: NDArray[np.float32]
    worst: list[FalseCandidate]
    options: ExperimentOptions
    group_key: str | None = None
    #: gallery persons per group (a probe's look-alikes come mostly from its own group)
    gallery_groups: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def oog_probes(self) -> int:
        return len(self.oog_face_ids)

    @property
    def mated_probes(self) -> int:
        return len(self.mated_ranks)

    def _best(self) -> NDArray[np.float32]:
        best: NDArray[np.float32] = self.best_at_size[-1]
        return best

    def fpir(self, threshold: float, rows: NDArray[np.bool_] | None = None) -> Rate:
        """Out-of-gallery probes with at least one candidate at or under `threshold`."""
        best = self._best() if rows is None else self._best()[rows]
        return Rate(int(np.count_nonzero(best <= threshold)), len(best))

    def mean_candidates(self, threshold: float, rows: NDArray[np.bool_] | None = None) -> float:
        d = self.oog_distances if rows is None else self.oog_distances[rows]
        return float(np.count_nonzero(d <= threshold) / len(d)) if len(d) else math.nan

    def fpir_by_size(self, threshold: float) -> list[Rate]:
        return [Rate(int(np.count_nonzero(b <= threshold)), len(b)) for b in self.best_at_size]

    def groups(self) -> list[str]:
        return [] if self.oog_groups is None else sorted(set(self.oog_groups.tolist()))

    def by_group(self, threshold: float) -> list[dict[str, Any]]:
        if self.oog_groups is None:
            return []
        out = []
        for g in self.groups():
            rows = self.oog_groups == g
            mated = self.mated_ranks[self.mated_groups == g] \
                if self.mated_groups is not None else self.mated_ranks[:0]
            out.append({"group": g, "probes": int(rows.sum()),
                        "gallery_persons": self.gallery_groups.get(g, 0),
                        "fpir": self.fpir(threshold, rows),
                        "mean_candidates": self.mean_candidates(threshold, rows),
                        "rank1": Rate(int(np.count_nonzero(mated <= 1)), len(mated))})
        return out

    def group_ratio(self, threshold: float) -> dict[str, Any] | None:
        return worst_best_ratio({r["group"]: r["fpir"] for r in self.by_group(threshold)})

    def rank_hit(self, k: int) -> Rate:
        """Mated probes whose own person is among the first k candidates."""
        return Rate(int(np.count_nonzero(self.mated_ranks <= k)), self.mated_probes)

    def mated_within(self, threshold: float) -> Rate:
        """Mated probes whose own person is at or under the threshold."""
        return Rate(int(np.count_nonzero(self.mated_distances <= threshold)),
                    self.mated_probes)

    def summary(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                ranks: Sequence[int] = DEFAULT_RANKS) -> dict[str, Any]:
        return {
            "gallery_persons": self.gallery_persons,
            "gallery_faces": self.gallery_faces,
            "out_of_gallery_probes": self.oog_probes,
            "in_gallery_probes": self.mated_probes,
            "seed": self.options.seed,
            "probe_share": self.options.probe_share,
            "group_key": self.group_key,
            "elapsed_s": round(self.elapsed_s, 2),
            "thresholds": [
                {"threshold": t,
                 "probes_with_false_candidate": self.fpir(t).as_dict(),
                 "mean_false_candidates": self.mean_candidates(t),
                 "in_gallery_probes_within": self.mated_within(t).as_dict(),
                 "by_gallery_size": [
                     {"persons": int(s), **r.as_dict()}
                     for s, r in zip(self.sizes, self.fpir_by_size(t), strict=True)],
                 "by_group": [{"group": g["group"], "probes": g["probes"],
                               "gallery_persons": g["gallery_persons"],
                               "mean_false_candidates": g["mean_candidates"],
                               **g["fpir"].as_dict(),
                               "in_gallery_rank1": g["rank1"].as_dict()}
                              for g in self.by_group(t)],
                 "group_ratio": self.group_ratio(t)}
                for t in thresholds],
            "rank_hit_rates": {str(k): self.rank_hit(k).as_dict() for k in ranks},
            "closest_false_candidates": [w.as_dict() for w in self.worst],
        }


def default_sizes(persons: int, steps: int = 8) -> tuple[int, ...]:
    if persons <= 10:
        return (persons,)
    sizes = np.unique(np.round(np.geomspace(10, persons, steps)).astype(int))
    return tuple(int(s) for s in sizes)


def _squared_norms(m: NDArray[np.float64]) -> NDArray[np.float64]:
    norms: NDArray[np.float64] = np.einsum("ij,ij->i", m, m)
    return norms


def person_min_distances(probes: NDArray[np.float64], gallery: NDArray[np.float64],
                         starts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Distance from each probe to each gallery person's closest row; gallery rows are
    grouped by person, person j's rows starting at starts[j]. Float64 throughout."""
    g2 = _squared_norms(gallery)
    p2 = _squared_norms(probes)
    d2 = p2[:, None] + g2[None, :] - 2.0 * (probes @ gallery.T)
    per_person = np.minimum.reduceat(d2, starts, axis=1)
    return np.sqrt(np.maximum(per_person, 0.0))


def split(pks: NDArray[np.int64], persons: NDArray[np.int64], options: ExperimentOptions,
          rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64],
                                             NDArray[np.int64]]:
    """Split a labelled gallery's rows (`pks` sorted, `persons` its distinct values) by
    person: (out-of-gallery probe rows: one photo of each held-out person, chosen at
    random; mated probe rows: one held-out photo of gallery persons with several; the
    gallery's rows)."""
    shuffled = rng.permutation(persons)
    n_out = min(len(persons) - 2, max(1, round(len(persons) * options.probe_share)))
    out_persons, in_persons = shuffled[:n_out], shuffled[n_out:]
    first = np.searchsorted(pks, persons)
    count = np.diff(np.append(first, len(pks)))
    row_of = {int(p): (int(f), int(c)) for p, f, c in zip(persons, first, count, strict=True)}
    oog_rows = np.array([row_of[int(p)][0] + int(rng.integers(row_of[int(p)][1]))
                         for p in out_persons], dtype=np.int64)
    mated_rows: list[int] = []
    gallery_rows: list[int] = []
    for p in np.sort(in_persons):
        f, c = row_of[int(p)]
        held = f + int(rng.integers(c)) if options.mated_probes and c > 1 else -1
        mated_rows += [held] if held >= 0 else []
        gallery_rows += [r for r in range(f, f + c) if r != held]
    return (oog_rows, np.array(mated_rows, dtype=np.int64),
            np.array(gallery_rows, dtype=np.int64))


def closest_pairs(probes: NDArray[np.float32], distances: NDArray[np.float32],
                  g_matrix: NDArray[np.float32], g_face_ids: NDArray[np.int64],
                  starts: NDArray[np.int64], n: int) -> list[tuple[int, int, float]]:
    """The n closest (probe, gallery person) cells of `distances` (probes x persons, own
    persons already left out), each as (probe row, that person's closest face, distance);
    gallery rows are grouped by person, person j's from starts[j]."""
    if n <= 0 or distances.size == 0:
        return []
    flat = np.argsort(distances, axis=None, kind="stable")[:n]
    ends = np.append(starts[1:], len(g_matrix))
    picks = []
    for probe_i, col in zip(*np.unravel_index(flat, distances.shape), strict=True):
        if not np.isfinite(distances[probe_i, col]):
            break
        rows = np.arange(starts[col], ends[col])
        probe = probes[probe_i].astype(np.float64)
        d = np.linalg.norm(g_matrix[rows].astype(np.float64) - probe, axis=1)
        j = int(np.argmin(d))
        picks.append((int(probe_i), int(g_face_ids[rows[j]]), float(d[j])))
    return picks
