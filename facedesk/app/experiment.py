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

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.evaluation import group_labels
from facedesk.domain.experiment import (
    DEFAULT_RANKS,
    DEFAULT_THRESHOLDS,
    ExperimentOptions,
    ExperimentResult,
    FalseCandidate,
    closest_pairs,
    default_sizes,
    person_min_distances,
    split,
)
from facedesk.domain.progress import CancelToken
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

__all__ = ["DEFAULT_RANKS", "DEFAULT_THRESHOLDS", "ExperimentOptions", "ExperimentProgress",
           "ExperimentResult", "FalseCandidate", "closest_pairs", "default_sizes",
           "person_min_distances", "run_experiment"]

#: probe rows per block of the distance computation
_BLOCK = 256


@dataclass(frozen=True)
class ExperimentProgress:
    phase: str  # "loading" | "searching" | "finished"
    done: int
    total: int
    result: ExperimentResult | None = None
    status: str = "running"  # finished: completed | cancelled


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
        raise EvaluationError(f"{gallery.location}: faces of several engines cannot be compared")
    pks = enc.person_pks
    persons = np.unique(pks)
    if len(persons) < 4:
        raise EvaluationError(
            f"{gallery.location}: the experiment needs at least 4 persons; this gallery has "
            f"{len(persons)}")
    rng = np.random.default_rng(options.seed)
    oog_rows, m_rows, g_rows = split(pks, persons, options, rng)
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
        meta={"gallery": str(gallery.location), "gallery_version": enc.version})
    yield ExperimentProgress("finished", total, total, result, "completed")


def _closest_false(matrix: NDArray[np.float32], face_ids: NDArray[np.int64],
                   oog_rows: NDArray[np.int64], oog: NDArray[np.float32],
                   g_rows: NDArray[np.int64], starts: NDArray[np.int64], gallery: Gallery,
                   n: int) -> list[FalseCandidate]:
    """The n closest (probe, other person) pairs, each with that person's closest photo."""
    picks = [(int(face_ids[oog_rows[i]]), c, d) for i, c, d in closest_pairs(
        matrix[oog_rows], oog, matrix[g_rows], face_ids[g_rows], starts, n)]
    details = gallery.face_details([f for p in picks for f in p[:2]])
    return [FalseCandidate(p, details[p].person_id, c, details[c].person_id, d)
            for p, c, d in picks]
