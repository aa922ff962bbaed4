"""The ACLU test as a trainer runs it: a set of OUTSIDE probes (photos that are not in the
gallery, e.g. members of a legislature) searched against the whole gallery.

A probe whose person id is also a gallery person's is an in-gallery probe: its own
person's rank gives the rank-1/5/10/20 hit rates. For EVERY probe its own person is left
out when counting false candidates, so every probe counts as a probe of someone not in
the gallery: per threshold, the share of probes with at least one false candidate (FPIR)
and the false candidates per probe, per group of a probe-manifest column with 95 %
intervals, as the gallery grows (nested random sub-samples of its persons), and the
closest false candidates, to be shown side by side.

And what FaceDesk would have PREDICTED for each probe, computed as a search computes it
(from the probe's distances to every gallery person, its own included: a search does not
know the labels), against what is observed: the honest test of the look-alike figures.

Probes are read by the importer's own pipeline (facedesk/app/importer.py `analyse_item`,
the gallery import's detection options) with the gallery's engine; a probe where no face
is found, or that cannot be read, is reported and left out.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.app import calibration as calibrations
from facedesk.app import engines
from facedesk.app.importer import ImportOptions, analyse_item, import_detect_options, list_source
from facedesk.domain import lookalikes, rates
from facedesk.domain.evaluation import group_labels
from facedesk.domain.experiment import (
    ExperimentOptions,
    ExperimentResult,
    FalseCandidate,
    closest_pairs,
    default_sizes,
    person_min_distances,
)
from facedesk.domain.progress import CancelToken
from facedesk.domain.rates import Calibration, bins_of
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EvaluationError
from facedesk.store import Gallery, Problem
from facedesk.store.db import now_iso

#: the distances at which every predictor is evaluated for every probe (a threshold in
#: between is read by linear interpolation; outside, at the nearest end)
PREDICTION_GRID = np.round(np.arange(0.20, 0.9001, 0.01), 2)
#: probe rows per block of the distance computation: at most 256, and at most this many
#: distances at once (160 MB of float64 for a block against a large gallery)
_BLOCK = 256
_BLOCK_CELLS = 20_000_000
#: the gallery's own pairs predictor samples at most this many persons
OWN_PAIRS_PERSONS = 3000

#: A predictor: from ONE probe's distances to every gallery person searched (its own
#: person included, as a search sees them) to the expected number of different persons at
#: or under each distance of `grid`. That is what a search would print as "expected
#: look-alikes".
Predictor = Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]]


def table_predictor(cal: Calibration) -> Predictor:
    """N x FMR(d): persons searched times a calibration table's false match rate."""
    cum = np.cumsum(cal.impostor_counts) / max(1, cal.impostor_pairs)

    def predict(dist: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
        idx = np.minimum(bins_of(grid), len(cum) - 1)
        out: NDArray[np.float64] = len(dist) * cum[idx]
        return out

    return predict


def default_predictors(gallery: Gallery, matrix: NDArray[np.float32],
                       person_pks: NDArray[np.int64], eng_id: str
                       ) -> tuple[dict[str, Predictor], dict[str, str]]:
    """The predictors a search can use, by name, and those that cannot be used here with
    the reason: the LFW table shipped with FaceDesk, the gallery's own impostor pairs
    (person-weighted), and the calibration in use when it is one stored in the gallery."""
    preds: dict[str, Predictor] = {}
    notes: dict[str, str] = {}
    ref = rates.reference()
    if ref is not None and ref.engine_id == eng_id:
        preds["LFW table (persons x FMR)"] = table_predictor(ref)
    else:
        notes["LFW table (persons x FMR)"] = "measured with another engine than this gallery's"
    if len(np.unique(person_pks)) >= 2:
        own = rates.measure_persons(matrix, person_pks, source="own pairs",
                                    engine_identity={}, rounds=3,
                                    max_persons=OWN_PAIRS_PERSONS)
        preds["gallery's own pairs (persons x FMR)"] = table_predictor(own)
    if gallery.calibration_in_use() is not None:
        cur = calibrations.in_use(gallery)
        if cur is not None:
            preds[f"calibration in use ({cur.source[:60]})"] = table_predictor(cur)
    preds["this probe's own distances (as a search shows)"] = _probe_estimate
    return preds, notes


def _probe_estimate(dist: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """What a search shows for this probe: the estimate from its own distances to every
    person (facedesk.domain.lookalikes), read at each distance of the grid."""
    est = lookalikes.estimate(dist)
    return np.array([est.at(float(d))[0] for d in grid])


@dataclass(frozen=True)
class OutsideOptions:
    group_key: str | None = None  # a probe-manifest column, e.g. "sex"
    #: persons in the gallery at which to re-count (None: about 8 sizes from 10 to all)
    gallery_sizes: tuple[int, ...] | None = None
    seed: int = 0  # of the nested sub-samples
    worst: int = 12  # closest false candidates kept for display


@dataclass
class OutsideResult(ExperimentResult):
    """An ExperimentResult whose "out-of-gallery" rows are ALL the outside probes (each
    with its own person left out), plus what only outside probes have."""

    probe_set: dict[str, Any] = field(default_factory=dict)
    probe_labels: list[str] = field(default_factory=list)  # each probe's file
    probe_persons: list[str] = field(default_factory=list)
    probe_crops: list[bytes] = field(default_factory=list)
    in_gallery: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: predictor name -> (probes x PREDICTION_GRID) expected look-alikes
    predictions: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    prediction_notes: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: every probe's distance to each gallery person (own included) and its own column
    #: (-1: not in the gallery), for calibrate --probes
    own_columns: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))

    def predicted_at(self, name: str, threshold: float,
                     rows: NDArray[np.bool_] | None = None) -> float:
        """Mean over the probes (`rows`) of a predictor's expected look-alikes."""
        pred = self.predictions[name] if rows is None else self.predictions[name][rows]
        if len(pred) == 0:
            return math.nan
        per_probe = np.array([np.interp(threshold, PREDICTION_GRID, p) for p in pred])
        return float(per_probe.mean())

    def predicted_vs_observed(self, thresholds: Sequence[float]) -> list[dict[str, Any]]:
        """Per threshold, for all probes and per group: false candidates per probe
        observed (own person left out) and each predictor's mean prediction."""
        out = []
        for t in thresholds:
            groups: list[tuple[str, NDArray[np.bool_] | None]] = [("all probes", None)]
            if self.oog_groups is not None:
                groups += [(g, self.oog_groups == g) for g in self.groups()]
            for label, rows in groups:
                observed = self.mean_candidates(t, rows)
                predicted = {n: self.predicted_at(n, t, rows) for n in self.predictions}
                out.append({
                    "threshold": t, "group": label,
                    "probes": self.oog_probes if rows is None else int(rows.sum()),
                    "observed": observed,
                    "predicted": predicted,
                    "ratio": {n: (p / observed if observed > 0 else None)
                              for n, p in predicted.items()}})
        return out

    def prediction_table(self, thresholds: Sequence[float],
                         number: Callable[[float], str] = lambda x: f"{x:.2f}"
                         ) -> list[list[str]]:
        """predicted_vs_observed as rows of text: threshold, group, probes, observed, then
        each predictor's figure with its ratio to the observed ("2.6 (9.3x)")."""
        rows = []
        for row in self.predicted_vs_observed(thresholds):
            cells = []
            for n, p in row["predicted"].items():
                ratio = row["ratio"][n]
                cells.append(number(p) + (f" ({ratio:.2g}x)" if ratio is not None else ""))
            rows.append([f"{row['threshold']:g}", row["group"], f"{row['probes']:,}",
                         number(row["observed"]), *cells])
        return rows

    def summary(self, thresholds: Sequence[float] = (0.4, 0.5, 0.6),
                ranks: Sequence[int] = (1, 5, 10, 20)) -> dict[str, Any]:
        doc = super().summary(thresholds, ranks)
        doc.pop("probe_share", None)
        doc["out_of_gallery_probes"] = self.oog_probes  # every probe, own person left out
        doc.update({
            "probe_set": self.probe_set,
            "probes": self.oog_probes,
            "probes_with_own_person_in_gallery": int(self.in_gallery.sum()),
            "predicted_vs_observed": self.predicted_vs_observed(thresholds),
            "predictors_not_available": self.prediction_notes,
            "problems": [p.as_dict() for p in self.problems],
        })
        return doc


@dataclass(frozen=True)
class OutsideProgress:
    phase: str  # "listing" | "encoding" | "searching" | "finished"
    done: int
    total: int
    result: OutsideResult | None = None
    status: str = "running"  # finished: completed | cancelled
    current: str = ""


def probe_set_hash(sha256s: Sequence[str]) -> str:
    """The identity of a probe set: the SHA-256 of its photos' SHA-256s, sorted."""
    return hashlib.sha256("\n".join(sorted(sha256s)).encode()).hexdigest()


def run_outside(gallery: Gallery, probes: Path, spec: EngineSpec | None = None,
                options: OutsideOptions | None = None, cancel: CancelToken | None = None,
                predictors: Mapping[str, Predictor] | None = None
                ) -> Iterator[OutsideProgress]:
    """Encode every probe of a folder (a sub-folder per person) or CSV manifest, search each
    against the whole gallery and count; the last event carries the result (None when
    cancelled). `predictors` default to `default_predictors`."""
    options = options or OutsideOptions()
    cancel = cancel or CancelToken()
    started = time.monotonic()
    yield OutsideProgress("listing", 0, 0)
    listing = list_source(probes, None, ImportOptions())
    if not listing.items:
        why = f" ({listing.problems[0].path}: {listing.problems[0].reason})" \
            if listing.problems else ""
        raise EvaluationError(f"{probes}: no probe photos found{why}")
    if options.group_key and not any(options.group_key in it.metadata
                                     for it in listing.items):
        raise EvaluationError(f"{probes}: no probe has a column '{options.group_key}' (a "
                              "group needs a probe manifest with that column)")
    enc = gallery.load_encodings()
    if len(enc.engine_ids) != 1:
        raise EvaluationError(f"{gallery.location}: the gallery must hold faces of exactly one "
                              f"engine; it has {len(enc.engine_ids)}")
    (eid,) = enc.engine_ids
    engine = (spec or EngineSpec()).create()
    engines.require_engine(gallery, engine.identity(), enc.engine_ids)
    detect = import_detect_options()
    problems = list(listing.problems)
    encodings: list[NDArray[np.float32]] = []
    kept: list[Any] = []  # (item, sha256, crop)
    total = len(listing.items)
    for i, item in enumerate(listing.items):
        if cancel.cancelled:
            yield OutsideProgress("finished", i, total, None, "cancelled")
            return
        res = analyse_item(item, engine, detect, eid)
        face = None if res.record is None else res.record.face
        if res.problem is not None:
            problems.append(res.problem)
        elif face is None:
            problems.append(Problem(item.display, "no_face", "no face found; probe left out",
                                    item.line))
        else:
            encodings.append(np.frombuffer(face.encoding, dtype="<f4"))
            kept.append((item, res.sha256, face.crop_jpeg or b""))
        yield OutsideProgress("encoding", i + 1, total, current=item.display)
    if not kept:
        raise EvaluationError(f"{probes}: no face found in any of the {total} probe photos")

    # distances: every probe to every gallery person's closest photo
    pks = enc.person_pks
    g_persons, starts = np.unique(pks, return_index=True)
    person_ids = {r.id: r.person_id for r in gallery.iter_persons()}
    column_of = {person_ids[int(p)]: j for j, p in enumerate(g_persons)}
    p_matrix = np.stack(encodings).astype(np.float64)
    g_matrix = enc.matrix.astype(np.float64)
    dist = np.empty((len(kept), len(g_persons)), dtype=np.float64)
    block = max(1, min(_BLOCK, _BLOCK_CELLS // max(1, len(g_matrix))))
    for i in range(0, len(kept), block):
        if cancel.cancelled:
            yield OutsideProgress("finished", total, total, None, "cancelled")
            return
        dist[i:i + block] = person_min_distances(p_matrix[i:i + block], g_matrix, starts)
        yield OutsideProgress("searching", min(i + block, len(kept)), len(kept))

    persons = [it.person_id for it, _, _ in kept]
    own_col = np.array([column_of.get(p, -1) for p in persons], dtype=np.int64)
    inside = own_col >= 0
    rows = np.arange(len(kept))
    false_d = dist.copy()
    false_d[rows[inside], own_col[inside]] = np.inf  # own person left out
    own_d = dist[rows[inside], own_col[inside]]
    ranks = 1 + np.count_nonzero(false_d[inside] < own_d[:, None], axis=1)

    rng = np.random.default_rng(options.seed)
    sizes = np.array(sorted(set(options.gallery_sizes or default_sizes(len(g_persons)))
                            & set(range(1, len(g_persons) + 1)) | {len(g_persons)}),
                     dtype=np.int64)
    order = rng.permutation(len(g_persons))
    best_at_size = np.stack([false_d[:, order[:s]].min(axis=1) for s in sizes])

    groups = mated_groups = None
    gallery_groups: dict[str, int] = {}
    if options.group_key:
        groups = group_labels([it.metadata.get(options.group_key) for it, _, _ in kept])
        mated_groups = groups[inside]
        if options.group_key in gallery.metadata_keys():
            meta = gallery.face_metadata(options.group_key)
            for g in group_labels([meta.get(int(enc.face_ids[s])) for s in starts]).tolist():
                gallery_groups[g] = gallery_groups.get(g, 0) + 1

    if predictors is None:
        predictors, notes = default_predictors(gallery, enc.matrix, pks, eid)
    else:
        notes = {}
    predictions = {name: np.stack([np.asarray(fn(d, PREDICTION_GRID), dtype=np.float64)
                                   for d in dist]) for name, fn in predictors.items()}

    picks = closest_pairs(p_matrix.astype(np.float32), false_d.astype(np.float32),
                          enc.matrix, enc.face_ids, starts.astype(np.int64), options.worst)
    details = gallery.face_details([c for _, c, _ in picks])
    worst = [FalseCandidate(-1, persons[i], c, details[c].person_id, d, probe_index=i,
                            probe_label=kept[i][0].display) for i, c, d in picks]

    shas = [sha for _, sha, _ in kept]
    probe_set = {"source": os.path.abspath(probes), "kind": listing.kind,
                 "hash": probe_set_hash(shas), "photos": total, "probes": len(kept),
                 "left_out": len(problems), "in_gallery": int(inside.sum())}
    result = OutsideResult(
        gallery_persons=len(g_persons), gallery_faces=len(enc.face_ids),
        oog_distances=false_d.astype(np.float32),
        oog_face_ids=np.full(len(kept), -1, dtype=np.int64), oog_groups=groups,
        mated_face_ids=np.full(int(inside.sum()), -1, dtype=np.int64),
        mated_ranks=np.asarray(ranks, dtype=np.int64), mated_distances=own_d,
        mated_groups=mated_groups, sizes=sizes,
        best_at_size=best_at_size.astype(np.float32), worst=worst,
        options=ExperimentOptions(seed=options.seed, group_key=options.group_key,
                                  gallery_sizes=options.gallery_sizes,
                                  worst=options.worst),
        group_key=options.group_key, gallery_groups=gallery_groups,
        elapsed_s=time.monotonic() - started,
        meta={"gallery": str(gallery.location), "gallery_version": enc.version,
              "engine_id": eid},
        probe_set=probe_set, probe_labels=[it.display for it, _, _ in kept],
        probe_persons=persons, probe_crops=[c for _, _, c in kept], in_gallery=inside,
        predictions=predictions, prediction_notes=notes, problems=problems,
        own_columns=own_col)
    yield OutsideProgress("finished", total, total, result, "completed")


def calibration_from(result: OutsideResult, gallery: Gallery) -> Calibration:
    """The measured curve of an outside probe set as a calibration, with its provenance:
    the probe set's hash and size, the date, the gallery and its version."""
    eid = result.meta["engine_id"]
    ps = result.probe_set
    measured = now_iso()
    cal = rates.outside_probe_calibration(
        result.oog_distances, result.mated_distances,
        source=f"outside probes: {ps['probes']:,} probes of {Path(ps['source']).name} "
               f"(set {ps['hash'][:12]}) searched against {result.gallery_persons:,} "
               f"persons, gallery version {result.meta['gallery_version']}, measured "
               f"{measured[:10]}",
        engine_identity=gallery.engine_identity(eid) or {},
        provenance={"method": calibrations.OUTSIDE_PROBES, "probe_set": ps,
                    "gallery": str(gallery.location), "gallery_id": gallery.gallery_id,
                    "gallery_version": result.meta["gallery_version"],
                    "gallery_persons": result.gallery_persons, "measured_at": measured})
    if cal.impostor_pairs == 0:
        raise EvaluationError("no pair of a probe and another person to measure on")
    return cal
