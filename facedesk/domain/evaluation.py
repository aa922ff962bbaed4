"""How accurate is face search, here? Verification figures measured on labelled data.

Two sources of labelled pairs:

- LFW's `pairs.txt` (the official verification protocol): folds of same-person and
  different-person pairs of photos. Accuracy is measured with the 10-fold protocol: for
  each fold, the distance threshold that is best on the other nine folds is applied to it.
- a labelled gallery (persons with several photos): every pair of faces, as histograms of
  genuine (same person) and impostor (different persons) distances.

Both give FMR (impostor pairs at or under a threshold) and FNMR (genuine pairs over it)
as functions of the threshold, and the same figures per group of a metadata column (sex,
age band, ...) with their sizes and 95 % intervals.

A pair whose photo has no face (the detector found none, so there is nothing to compare)
is "lost". Lost pairs are counted as errors: a tool that cannot read a photo has not
answered. The figures also say how many were lost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.domain.rates import (
    BIN_WIDTH,
    BINS,
    bin_of,
    count_pairs,
    histogram,
    pair_blocks,
    wilson,
)
from facedesk.errors import EvaluationError

DEFAULT_THRESHOLDS = (0.4, 0.5, 0.6)
#: the distance grid of curves (FMR/FNMR vs threshold, DET)


# --- LFW pairs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairSpec:
    fold: int
    same: bool
    a: str  # photo path relative to the images folder, e.g. "Abel_Pacheco/Abel_Pacheco_0001.jpg"
    b: str


def lfw_photo(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: Path) -> list[PairSpec]:
    """Read LFW's pairs format: a header "folds n" (or just "n" for one fold), then per
    fold n same-person lines "name i j" and n different-person lines "name1 i name2 j"."""
    try:
        lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{path}: cannot read the pairs file ({exc})") from None
    if not lines:
        raise EvaluationError(f"{path}: the pairs file is empty")
    head = lines[0]
    try:
        folds, per_kind = (int(head[0]), int(head[1])) if len(head) == 2 else (1, int(head[0]))
    except (ValueError, IndexError):
        raise EvaluationError(f"{path}: line 1 must be 'folds pairs-per-kind' (e.g. '10 300')"
                              ) from None
    body = lines[1:]
    if len(body) != folds * per_kind * 2:
        raise EvaluationError(f"{path}: the header announces {folds} x 2 x {per_kind} pairs "
                              f"but the file has {len(body)}")
    pairs = []
    for i, parts in enumerate(body):
        fold, within = divmod(i, 2 * per_kind)
        same = within < per_kind
        if same and len(parts) == 3:
            pairs.append(PairSpec(fold, True, lfw_photo(parts[0], parts[1]),
                                  lfw_photo(parts[0], parts[2])))
        elif not same and len(parts) == 4:
            pairs.append(PairSpec(fold, False, lfw_photo(parts[0], parts[1]),
                                  lfw_photo(parts[2], parts[3])))
        else:
            kind = "'name i j'" if same else "'name1 i name2 j'"
            raise EvaluationError(f"{path}: line {i + 2} should be {kind}: {' '.join(parts)}")
    return pairs


@dataclass(frozen=True)
class PairScores:
    """One distance per pair (NaN: lost, a photo without a face)."""

    distance: NDArray[np.float64]
    same: NDArray[np.bool_]
    fold: NDArray[np.int64]

    @property
    def lost(self) -> NDArray[np.bool_]:
        return np.isnan(self.distance)

    def histograms(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(genuine, impostor) counts per distance bin, lost pairs left out."""
        ok = ~self.lost
        d, same = self.distance[ok], self.same[ok]
        return histogram(d[same]), histogram(d[~same])


def score_pairs(pairs: Sequence[PairSpec], encodings: Mapping[str, NDArray[np.float32] | None]
                ) -> PairScores:
    """Distances of the pairs; `encodings` maps every photo of the pairs to its subject's
    encoding (None: no face found)."""
    dist = np.full(len(pairs), np.nan)
    for i, p in enumerate(pairs):
        ea, eb = encodings[p.a], encodings[p.b]
        if ea is not None and eb is not None:
            dist[i] = float(np.linalg.norm(ea.astype(np.float64) - eb.astype(np.float64)))
    return PairScores(dist, np.array([p.same for p in pairs], dtype=bool),
                      np.array([p.fold for p in pairs], dtype=np.int64))


# --- accuracy with the 10-fold protocol ----------------------------------------------------


@dataclass(frozen=True)
class FoldResult:
    fold: int
    threshold: float  # chosen on the other folds
    accuracy: float  # lost pairs counted as errors
    pairs: int
    lost: int
    #: the other two readings of a lost pair, for comparison with published figures:
    accuracy_found: float  # lost pairs left out
    accuracy_lost_as_different: float  # no face, no candidate: "not the same person"


@dataclass(frozen=True)
class FoldedAccuracy:
    folds: list[FoldResult]
    lost_pairs: int
    pairs: int

    @property
    def mean(self) -> float:
        return float(np.mean([f.accuracy for f in self.folds]))

    @property
    def std(self) -> float:
        """Standard deviation of the fold accuracies (what LFW results quote after ±)."""
        return float(np.std([f.accuracy for f in self.folds]))

    def mean_of(self, reading: str) -> float:
        """Mean over folds of 'accuracy', 'accuracy_found' or 'accuracy_lost_as_different'."""
        return float(np.mean([getattr(f, reading) for f in self.folds]))

    def as_dict(self) -> dict[str, Any]:
        return {"accuracy": self.mean, "std": self.std, "pairs": self.pairs,
                "lost_pairs": self.lost_pairs,
                "accuracy_lost_pairs_left_out": self.mean_of("accuracy_found"),
                "accuracy_lost_pairs_as_different": self.mean_of("accuracy_lost_as_different"),
                "folds": [f.__dict__ for f in self.folds]}


def best_threshold(distance: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The threshold with the most correct answers on these pairs ("same" when distance <=
    threshold); ties go to the middle of the best run. Lost pairs (NaN) are wrong at every
    threshold, so they do not move it."""
    ok = ~np.isnan(distance)
    d, s = distance[ok], same[ok]
    if len(d) == 0:
        return 0.6
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    # correct when the threshold lies just after position i: genuine at or before,
    # impostors after
    correct = np.concatenate([[0], np.cumsum(s)]) + (
        np.count_nonzero(~s) - np.concatenate([[0], np.cumsum(~s)]))
    cuts = np.concatenate([[d[0] - 1e-6], (d[:-1] + d[1:]) / 2, [d[-1] + 1e-6]])
    # only cut between distinct distances
    distinct = np.concatenate([[True], d[1:] > d[:-1], [True]])
    correct = np.where(distinct, correct, -1)
    best = np.flatnonzero(correct == correct.max())
    return float(cuts[best[len(best) // 2]])


def accuracy_at(distance: NDArray[np.float64], same: NDArray[np.bool_],
                threshold: float) -> float:
    with np.errstate(invalid="ignore"):
        correct = np.where(same, distance <= threshold, distance > threshold)
    return float(np.count_nonzero(correct & ~np.isnan(distance)) / len(distance)) \
        if len(distance) else math.nan


def ten_fold(scores: PairScores) -> FoldedAccuracy:
    """The LFW protocol: each fold is tested at the threshold best on all the others."""
    folds = []
    for f in np.unique(scores.fold):
        test = scores.fold == f
        t = best_threshold(scores.distance[~test], scores.same[~test]) \
            if np.any(~test) else 0.6
        d, same, lost = scores.distance[test], scores.same[test], scores.lost[test]
        acc = accuracy_at(d, same, t)
        n, n_lost = len(d), int(lost.sum())
        folds.append(FoldResult(
            int(f), t, acc, n, n_lost,
            accuracy_found=accuracy_at(d[~lost], same[~lost], t),
            accuracy_lost_as_different=acc + int((lost & ~same).sum()) / n))
    return FoldedAccuracy(folds, int(scores.lost.sum()), len(scores.distance))


# --- error rates from distance histograms --------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A proportion k/n with its 95 % Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def as_dict(self) -> dict[str, Any]:
        lo, hi = self.interval
        return {"rate": self.value, "k": self.k, "n": self.n, "ci95": [lo, hi]}


@dataclass(frozen=True)
class Distributions:
    """Genuine and impostor distance histograms at BIN_WIDTH, and what follows from them."""

    genuine: NDArray[np.int64]
    impostor: NDArray[np.int64]

    @property
    def genuine_pairs(self) -> int:
        return int(self.genuine.sum())

    @property
    def impostor_pairs(self) -> int:
        return int(self.impostor.sum())

    def _bin(self, threshold: float) -> int:
        # "d <= t" is read at t's bin (facedesk.domain.rates.bins_of)
        return bin_of(threshold)

    def fmr(self, threshold: float) -> Rate:
        return Rate(int(self.impostor[:self._bin(threshold) + 1].sum()), self.impostor_pairs)

    def fnmr(self, threshold: float) -> Rate:
        within = int(self.genuine[:self._bin(threshold) + 1].sum())
        return Rate(self.genuine_pairs - within, self.genuine_pairs)

    def curves(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(thresholds, FMR, FNMR) at every bin."""
        t = np.arange(BINS, dtype=np.float64) * BIN_WIDTH
        fmr = np.cumsum(self.impostor) / max(1, self.impostor_pairs)
        fnmr = 1.0 - np.cumsum(self.genuine) / max(1, self.genuine_pairs)
        return t, fmr, fnmr

    def equal_error(self) -> tuple[float, float] | None:
        """(threshold, rate) where FMR and FNMR cross; None without genuine or impostor
        pairs."""
        if not self.genuine_pairs or not self.impostor_pairs:
            return None
        t, fmr, fnmr = self.curves()
        i = int(np.argmin(np.abs(fmr - fnmr)))
        return float(t[i]), float((fmr[i] + fnmr[i]) / 2)

    def at(self, thresholds: Iterable[float]) -> list[dict[str, Any]]:
        """FMR and FNMR at each threshold (FNMR None without genuine pairs)."""
        return [{"threshold": t, "fmr": self.fmr(t).as_dict(),
                 "fnmr": self.fnmr(t).as_dict() if self.genuine_pairs else None}
                for t in thresholds]


# --- a labelled gallery: all pairs, overall and per group ----------------------------------


@dataclass(frozen=True)
class GroupFigures:
    group: str
    persons: int
    faces: int
    distributions: Distributions


@dataclass
class GalleryEvaluation:
    faces: int
    persons: int
    overall: Distributions
    group_key: str | None = None
    groups: list[GroupFigures] = field(default_factory=list)

    def group_ratio(self, threshold: float, rate: str = "fmr") -> dict[str, Any] | None:
        """Worst over best group (e.g. FMR of women over FMR of men) at a threshold."""
        return worst_best_ratio(
            {g.group: getattr(g.distributions, rate)(threshold) for g in self.groups})


#: groups smaller than this (pairs or probes) are left out of the worst/best comparison
MIN_GROUP = 10


def worst_best_ratio(rates: Mapping[str, Rate], min_n: int = MIN_GROUP) -> dict[str, Any] | None:
    """Worst over best group, among groups with at least `min_n` behind their rate; None
    when fewer than two such groups or no group has any. `text` says it in words."""
    usable = {g: r for g, r in rates.items() if r.n >= min_n}
    if len(usable) < 2:
        return None
    worst = max(usable, key=lambda g: usable[g].value)
    best = min(usable, key=lambda g: usable[g].value)
    hi, lo = usable[worst].value, usable[best].value
    if hi == 0:
        return None  # no group has any: nothing to compare
    if lo > 0:
        text = (f"worst/best group: {worst} ({hi:.3g}) / {best} ({lo:.3g}) = "
                f"{hi / lo:.2f}x")
    else:
        text = f"worst group {worst} ({hi:.3g}); none at all in {best}"
    small = sorted(set(rates) - set(usable))
    if small:
        text += f" (groups under {min_n} left out: {', '.join(small)})"
    return {"worst": worst, "best": best, "ratio": hi / lo if lo > 0 else None, "text": text}


def group_labels(values: Sequence[str | None]) -> NDArray[np.str_]:
    return np.array([v if v not in (None, "") else "(not recorded)" for v in values])


@dataclass(frozen=True)
class PairsProgress:
    """One step of `every_pair_steps`: "pairs" (done/total blocks of pairs, over the
    whole gallery and then each group), then "finished" with `result`, or "cancelled"."""

    phase: str
    done: int = 0
    total: int = 0
    result: GalleryEvaluation | None = None


def every_pair_steps(matrix: NDArray[np.float32], person_pks: NDArray[np.int64],
                     groups: Sequence[str | None] | None = None,
                     group_key: str | None = None, cancel: CancelToken | None = None
                     ) -> Iterator[PairsProgress]:
    """The distances of every pair of faces of a labelled gallery (rows of one person
    contiguous or not), overall and, with `groups` (one label per row), within each
    group; progress after every block of pairs, stopping there when `cancel` is set."""
    cancel = cancel or CancelToken()
    parts: list[tuple[str | None, NDArray[np.bool_]]] = [(None, np.ones(len(matrix), bool))]
    if groups is not None:
        labels = group_labels(groups)
        parts += [(g, labels == g) for g in sorted(set(labels.tolist()))]
    total = sum(pair_blocks(int(rows.sum())) for _, rows in parts)
    done = 0
    yield PairsProgress("pairs", 0, total)
    measured: list[Distributions] = []
    for _, rows in parts:
        impostor = np.zeros(BINS, dtype=np.int64)
        genuine = np.zeros(BINS, dtype=np.int64)
        m, p = (matrix, person_pks) if rows.all() else (matrix[rows], person_pks[rows])
        for blocks in count_pairs(m, p, impostor, genuine):
            yield PairsProgress("pairs", done + blocks, total)
            if cancel.cancelled:
                yield PairsProgress("cancelled", done + blocks, total)
                return
        done += pair_blocks(len(m))
        measured.append(Distributions(genuine, impostor))
    out = GalleryEvaluation(len(matrix), len(np.unique(person_pks)), measured[0], group_key)
    for (g, rows), dist in zip(parts[1:], measured[1:], strict=True):
        out.groups.append(GroupFigures(str(g), len(np.unique(person_pks[rows])),
                                       int(rows.sum()), dist))
    yield PairsProgress("finished", total, total, out)


def every_pair(matrix: NDArray[np.float32], person_pks: NDArray[np.int64],
               groups: Sequence[str | None] | None = None,
               group_key: str | None = None) -> GalleryEvaluation:
    """`every_pair_steps` run to its end."""
    out = run_to_end(every_pair_steps(matrix, person_pks, groups, group_key))
    assert out is not None  # nothing cancels it
    return out
