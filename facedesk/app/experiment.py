"""The false-positive experiment, for trainers: search probes of persons who are NOT in the
gallery, and count how often face search still offers a candidate under a threshold.

A labelled gallery is split by person (seeded, so a run can be repeated): a share of the
persons becomes the out-of-gallery probes (one photo each), the rest is the gallery.
Optionally, gallery persons with several photos give one photo each as an in-gallery
("mated") probe, held out of the gallery, which measures rank-1 / rank-K hit rates.

Every figure is exact (all distances, no index) and comes from one matrix of distances
from each probe to each gallery person's closest photo, so moving the threshold or the
gallery size re-counts without searching again:

- false positive identification rate (FPIR) at a threshold: the share of out-of-gallery
  probes with at least one candidate at or under it, with its 95 % interval; and the mean
  number of such candidates per probe;
- the same at smaller gallery sizes (nested random sub-samples of the gallery persons):
  false candidates grow with the gallery;
- the same per group of a metadata column (the probe's group), with sizes, intervals and
  the worst/best ratio;
- the closest false candidates, to be shown side by side.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.evaluation import Rate, group_labels, worst_best_ratio
from facedesk.domain.progress import CancelToken
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

DEFAULT_THRESHOLDS = (0.4, 0.5, 0.6)
DEFAULT_RANKS = (1, 5, 10, 20)
#: probe rows per block of the distance computation
_BLOCK = 256


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


@dataclass(frozen=True)
class ExperimentProgress:
    phase: str  # "loading" | "searching" | "finished"
    done: int
    total: int
    result: ExperimentResult | None = None
    status: str = "running"  # finished: completed | cancelled


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


def run_experiment(gallery: Gallery, options: ExperimentOptions | None = None,
                   cancel: CancelToken | None = None) -> Iterator[ExperimentProgress]:
    """Split, search every probe against the gallery part, and count; the last event
    carries the result (None when cancelled)."""
    options = options or ExperimentOptions()
    cancel = cancel or CancelToken()
    started = time.monotonic()
    yield ExperimentProgress("loading", 0, 0)
    enc = gallery.load_encodings()
    if len(enc.engine_ids) > 1:
        raise EvaluationError(f"{gallery.path}: faces of several engines cannot be compared")
    pks = enc.person_pks
    persons = np.unique(pks)
    if len(persons) < 4:
        raise EvaluationError(
            f"{gallery.path}: the experiment needs at least 4 persons; this gallery has "
            f"{len(persons)}")
    rng = np.random.default_rng(options.seed)
    shuffled = rng.permutation(persons)
    n_out = min(len(persons) - 2, max(1, round(len(persons) * options.probe_share)))
    out_persons, in_persons = shuffled[:n_out], shuffled[n_out:]

    # out-of-gallery probes: one photo of each held-out person, chosen at random
    first = np.searchsorted(pks, persons)
    count = np.diff(np.append(first, len(pks)))
    row_of = {int(p): (int(f), int(c)) for p, f, c in zip(persons, first, count, strict=True)}
    oog_rows = np.array([row_of[int(p)][0] + int(rng.integers(row_of[int(p)][1]))
                         for p in out_persons], dtype=np.int64)
    # mated probes: one held-out photo of gallery persons with several
    mated_rows, gallery_rows = [], []
    for p in np.sort(in_persons):
        f, c = row_of[int(p)]
        held = f + int(rng.integers(c)) if options.mated_probes and c > 1 else -1
        mated_rows += [held] if held >= 0 else []
        gallery_rows += [r for r in range(f, f + c) if r != held]
    g_rows = np.array(gallery_rows, dtype=np.int64)
    m_rows = np.array(mated_rows, dtype=np.int64)
    g_matrix = enc.matrix[g_rows].astype(np.float64)
    g_pks = pks[g_rows]
    g_persons, starts = np.unique(g_pks, return_index=True)

    total = len(oog_rows) + len(m_rows)
    oog = np.empty((len(oog_rows), len(g_persons)), dtype=np.float32)
    mated = np.empty((len(m_rows), len(g_persons)), dtype=np.float64)
    done = 0
    for rows, out in ((oog_rows, oog), (m_rows, mated)):
        for i in range(0, len(rows), _BLOCK):
            if cancel.cancelled:
                yield ExperimentProgress("finished", done, total, None, "cancelled")
                return
            block = enc.matrix[rows[i:i + _BLOCK]].astype(np.float64)
            out[i:i + _BLOCK] = person_min_distances(block, g_matrix, starts)
            done += len(block)
            yield ExperimentProgress("searching", done, total)

    # mated: rank of the own person (1 + persons strictly closer)
    own_col = np.searchsorted(g_persons, pks[m_rows])
    own_d = mated[np.arange(len(m_rows)), own_col] if len(m_rows) else np.empty(0)
    ranks = 1 + np.count_nonzero(mated < own_d[:, None], axis=1) if len(m_rows) \
        else np.empty(0, dtype=np.int64)

    # nested sub-samples of the gallery persons
    sizes = np.array(sorted(set(options.gallery_sizes or default_sizes(len(g_persons)))
                            & set(range(1, len(g_persons) + 1)) | {len(g_persons)}),
                     dtype=np.int64)
    order = rng.permutation(len(g_persons))
    best_at_size = np.stack([oog[:, order[:s]].min(axis=1) for s in sizes]) \
        if len(oog_rows) else np.empty((len(sizes), 0), dtype=np.float32)

    groups = mated_groups = None
    gallery_groups: dict[str, int] = {}
    if options.group_key:
        meta = gallery.face_metadata(options.group_key)

        def labels(rows: NDArray[np.int64]) -> NDArray[np.str_]:
            return group_labels([meta.get(int(enc.face_ids[r])) for r in rows])

        groups, mated_groups = labels(oog_rows), labels(m_rows)
        # each gallery person counted once, in the group of their first photo
        firsts = g_rows[starts]
        for g in labels(firsts).tolist():
            gallery_groups[g] = gallery_groups.get(g, 0) + 1

    result = ExperimentResult(
        gallery_persons=len(g_persons), gallery_faces=len(g_rows), oog_distances=oog,
        oog_face_ids=enc.face_ids[oog_rows], oog_groups=groups,
        mated_face_ids=enc.face_ids[m_rows], mated_groups=mated_groups,
        gallery_groups=gallery_groups,
        mated_ranks=np.asarray(ranks, dtype=np.int64), mated_distances=own_d,
        sizes=sizes, best_at_size=best_at_size.astype(np.float32),
        worst=_closest_false(enc.matrix, enc.face_ids, oog_rows, oog, g_rows, starts,
                             gallery, options.worst),
        options=options, group_key=options.group_key,
        elapsed_s=time.monotonic() - started,
        meta={"gallery": str(gallery.path), "gallery_version": enc.version})
    yield ExperimentProgress("finished", total, total, result, "completed")


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


def _closest_false(matrix: NDArray[np.float32], face_ids: NDArray[np.int64],
                   oog_rows: NDArray[np.int64], oog: NDArray[np.float32],
                   g_rows: NDArray[np.int64], starts: NDArray[np.int64], gallery: Gallery,
                   n: int) -> list[FalseCandidate]:
    """The n closest (probe, other person) pairs, each with that person's closest photo."""
    picks = [(int(face_ids[oog_rows[i]]), c, d) for i, c, d in closest_pairs(
        matrix[oog_rows], oog, matrix[g_rows], face_ids[g_rows], starts, n)]
    details = gallery.face_details([f for p in picks for f in p[:2]])
    return [FalseCandidate(p, details[p]["person_id"], c, details[c]["person_id"], d)
            for p, c, d in picks]
