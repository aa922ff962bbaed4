"""Probe-specific look-alikes: how many DIFFERENT persons of this gallery are expected to
come as close to this probe as distance d, estimated from the probe's own distances to
every gallery person.

Why not one table. N x FMR(d), with the FMR measured once on LFW, assumes every probe
meets the gallery as an average LFW photo meets another. It does not: a woman searched
against a mostly male gallery has few close persons, a probe from another camera sits
farther from everyone, a gallery of one kind of portrait is denser than LFW. The search
already measures this probe's distance to every person, and that distribution is the
reference we want — except for its lowest end, where the probe's own person (if it is in
the gallery) sits, and where there are too few persons to count.

The model (method `METHOD`). Let x_1 <= x_2 <= ... be the probe's distance to each
gallery person (the closest photo of each: persons are counted, not photos). Below a
threshold u (the (n+1)-th closest person; n = 2% of the persons, at least 20 and at most
200) the lower tail is taken as F(d) = F(u) exp(-m t - c t^2 / 2), t = log(u / d): a power
law of slope m at u whose slope steepens below it (the lowest end of a distance
distribution in an embedding does: in k dimensions the slope tends to k; on LFW's pooled
impostor pairs it is 17-18 from 0.4 to 0.6). m is fitted per probe and locally: only the
n closest persons enter it, so when the gallery is a mixture, the sub-population closest
to this probe (the women of a mostly male gallery) is what is fitted. c (CURVATURE) is
one constant, measured on LFW probes against an LFW gallery (benchmarks/lookalikes.py
validates it on other domains): a single probe's few close persons cannot measure it.

- m, by maximum likelihood given u; the TRIM closest persons may be the probe's own
  person (or a few of them), so they count only as "closer than the next one" (censored,
  as the trimmed Hill estimator does: Bhattacharya, Kallitsis & Stoev 2019). Their
  distances cannot move it.
- the probe's own person: the closest persons, in turn, while fewer than OWN_LAMBDA
  look-alikes would be expected that close under the fitted tail (an impostor that close
  has a chance under 10%), are taken for the probe's own person, left out, and the tail
  fitted again without them (g of them).
- expected(d) below u: (n - g) exp(-m t - c t^2 / 2), less the bias the uncertainty of m
  would add (exp is convex: averaging plug-in estimates over probes would inflate them).
- above u: the count of persons at distance <= d, less g (with more than COUNT_SAMPLE
  persons, above the closest ones a regular sample of the persons is counted and scaled).
- the band (BAND, 90%): below u, draws of m (its sampling spread), of c (a factor 0.3-2)
  and of the level (the Poisson posterior of the count), combined; above u, the Poisson
  band of the count.

It assumes the persons are independent of one another given the probe (the gallery is
not full of near-duplicates) and that the tail bends below the fitted window as it does
on LFW; `benchmarks/lookalikes.py` measures how far that holds on data of other domains.
A gallery with fewer than MIN_PERSONS persons gets the plain counts (method "counts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: short name of the method, stored with every search
METHOD = "probe-tail-2"
#: the curve's distances: 0.30 to 0.80 in steps of 0.01
GRID: tuple[float, ...] = tuple(round(0.30 + 0.01 * i, 2) for i in range(51))
#: persons in the fitted tail: this share of the gallery, within [TAIL_MIN, TAIL_MAX]
TAIL_SHARE = 0.02
TAIL_MIN = 20
TAIL_MAX = 200
#: closest persons left out of the tail's exponent (the probe's own person, a duplicate)
TRIM = 3
#: a closest person is taken for the probe's own when fewer look-alikes than this are
#: expected that close (P(an impostor that close) < 10%)
OWN_LAMBDA = -math.log(1 - 0.10)
#: how fast the tail's slope in log-log grows below u (the c of exp(-m t - c t^2 / 2)):
#: lower ends of distance distributions steepen (in d dimensions the slope tends to d);
#: measured on LFW probes against LFW (see benchmarks/lookalikes.py), not per probe
CURVATURE = 35.0
#: the uncertainty band's coverage, and the number of draws behind it
BAND = 0.90
DRAWS = 500
#: below this many persons there is no tail to fit: the plain counts
MIN_PERSONS = TAIL_MIN + TRIM + 2
#: above this many persons, the counts above the closest ones are read from a regular
#: sample of about this many
COUNT_SAMPLE = 16_384


@dataclass(frozen=True)
class LookalikeEstimate:
    grid: tuple[float, ...]  # distances 0.30..0.80 step 0.01
    expected: tuple[float, ...]  # expected number of DIFFERENT persons at distance <= d
    low: tuple[float, ...]  # lower end of the BAND uncertainty band
    high: tuple[float, ...]
    persons: int  # persons searched
    method: str  # short name of the method, stored with the search

    def at(self, d: float) -> tuple[float, float, float]:
        """(expected, low, high) at distance `d`, interpolated on the grid. Below the grid
        the curve goes on with its local slope in log d (a power law, as it is fitted);
        above it, the value at its end (at least that many)."""
        g = self.grid
        if not g:
            return (0.0, 0.0, 0.0)
        if d <= g[0]:
            return (_below(g, self.expected, d), _below(g, self.low, d),
                    _below(g, self.high, d))
        if d >= g[-1]:
            return (self.expected[-1], self.low[-1], self.high[-1])
        return (float(np.interp(d, g, self.expected)), float(np.interp(d, g, self.low)),
                float(np.interp(d, g, self.high)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "persons": self.persons,
            "band": BAND,
            "grid": list(self.grid),
            "expected": [_sig(v) for v in self.expected],
            "low": [_sig(v) for v in self.low],
            "high": [_sig(v) for v in self.high],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LookalikeEstimate:
        return cls(tuple(float(v) for v in d["grid"]),
                   tuple(float(v) for v in d["expected"]),
                   tuple(float(v) for v in d["low"]), tuple(float(v) for v in d["high"]),
                   int(d["persons"]), str(d["method"]))


def _sig(value: float) -> float:
    """Four significant digits (a stored curve stays small and exact to read)."""
    return float(f"{value:.4g}")


def _below(grid: tuple[float, ...], values: tuple[float, ...], d: float) -> float:
    """The curve below its first point, continued as a power law with the slope of its
    first step (0 stays 0)."""
    v0, v1 = values[0], values[1]
    if v0 <= 0 or d <= 0:
        return 0.0
    slope = math.log(v1 / v0) / math.log(grid[1] / grid[0]) if v1 > v0 else 0.0
    return float(v0 * (d / grid[0]) ** slope)


@dataclass(frozen=True)
class PersonDistances:
    """What the estimate reads of a probe's distances to the gallery's persons, as a
    search gathers it cheaply: the closest persons exactly, and a regular sample of all
    persons (every person when there are at most COUNT_SAMPLE)."""

    closest: NDArray[np.float64]  # ascending; at least closest_needed(persons) of them
    sample: NDArray[np.float64]  # every step-th person (step = sample_step(persons))
    persons: int

    @classmethod
    def of(cls, person_distances: NDArray[Any]) -> PersonDistances:
        x = np.asarray(person_distances, dtype=np.float64).reshape(-1)
        x = x[np.isfinite(x)]
        need = min(closest_needed(len(x)), len(x))
        closest = np.sort(_smallest(x, need)) if need else np.zeros(0)
        return cls(closest, x[::sample_step(len(x))], len(x))


def tail_size(persons: int) -> int:
    """Persons in the fitted tail for a gallery of `persons` (see TAIL_SHARE)."""
    return int(min(max(round(TAIL_SHARE * persons), TAIL_MIN), TAIL_MAX, max(persons - 1, 0)))


def closest_needed(persons: int) -> int:
    """How many of the closest persons the estimate needs exactly."""
    return tail_size(persons) + 1


def sample_step(persons: int) -> int:
    """Every how many persons the sample takes one (1: all of them)."""
    return max(1, -(-persons // COUNT_SAMPLE))


def estimate(person_distances: NDArray[Any], *, rng_seed: int = 0) -> LookalikeEstimate:
    """The probe-specific look-alike curve from the probe's minimum distance to each
    gallery person searched (one value per person; see the module's docstring)."""
    return estimate_from(PersonDistances.of(person_distances), rng_seed=rng_seed)


def estimate_from(parts: PersonDistances, *, rng_seed: int = 0) -> LookalikeEstimate:
    """`estimate` from what a search gathered (`PersonDistances`)."""
    persons = parts.persons
    grid = np.asarray(GRID)
    counts = _counts(parts, grid)
    if persons < MIN_PERSONS:
        return _counts_only(counts, persons)
    n = tail_size(persons)
    tail = parts.closest
    u = float(tail[n])
    t_all = np.log(u / np.maximum(tail[:n], 1e-9))  # descending, >= 0
    if not t_all[0] > 0:  # the whole tail at one distance: nothing to fit
        return _counts_only(counts, persons)
    # fit; take the closest persons far too close for the fitted tail for the probe's own
    # (each in turn, while fewer than OWN_LAMBDA look-alikes would be expected that
    # close), and fit again without them
    own = 0
    m = _fit_slope(t_all, TRIM)
    while own < TRIM and _tail(n - own, m, float(t_all[own]), n - own - TRIM) < OWN_LAMBDA:
        own += 1
        m = _fit_slope(t_all[own:], TRIM)
    level = n - own
    k = level - TRIM  # the persons whose distances the slope rests on
    counts = counts - own
    inside = grid < u
    t = np.log(u / grid[inside])
    expected = np.maximum(counts, float(level))
    expected[inside] = _tail(level, m, t, k)
    lo, hi = _poisson_band(expected)
    if inside.any():
        rng = np.random.default_rng(rng_seed)
        q = ((1 - BAND) / 2, (1 + BAND) / 2)
        m_draws = m * rng.gamma(k, 1.0 / k, size=(DRAWS, 1))
        c_draws = CURVATURE * rng.gamma(4.0, 0.25, size=(DRAWS, 1))
        level_draws = rng.gamma(level + 0.5, 1.0, size=(DRAWS, 1))
        draws = level_draws * np.exp(-m_draws * t - c_draws * t * t / 2)
        lo[inside], hi[inside] = np.quantile(draws, q, axis=0)
    low, high = np.minimum(lo, expected), np.maximum(hi, expected)
    return LookalikeEstimate(tuple(float(v) for v in grid), tuple(expected.tolist()),
                             tuple(low.tolist()), tuple(high.tolist()), persons, METHOD)


def _fit_slope(t: NDArray[np.float64], trim: int) -> float:
    """The tail's slope m at u, by maximum likelihood, from t = log(u / x) of the persons
    below u (descending), the `trim` largest t (the closest persons) counted only as
    being at least the next one's (censored), with F(x) / F(u) = exp(-m t - c t^2 / 2),
    c = CURVATURE."""
    c = CURVATURE
    trim = min(trim, max(len(t) - 2, 0))
    free, cut = t[trim:], float(t[trim])
    total = float(free.sum()) + trim * cut
    m = len(free) / total if total > 0 else 1.0  # the trimmed Hill estimate (c = 0)
    for _ in range(50):  # Newton on the score, decreasing in m
        inv = 1.0 / (m + c * free)
        step = (float(inv.sum()) - total) / float((inv * inv).sum())
        m = max(m + step, m / 4)
        if abs(step) < 1e-9 * m:
            break
    return m


def _tail(level: float, m: float, t: Any, k: int) -> Any:
    """Expected persons at t = log(u / d) below u: level x exp(-m t - c t^2 / 2), less the
    bias the uncertainty of m (relative variance 1/k) would add (exp is convex)."""
    return level * np.exp(-m * t - (CURVATURE + m * m / max(k, 1)) * t * t / 2)


def _counts_only(counts: NDArray[np.float64], persons: int) -> LookalikeEstimate:
    """Too few persons for a tail: the counts, with their Poisson band (the probe's own
    person cannot be told from the others)."""
    lo, hi = _poisson_band(counts)
    return LookalikeEstimate(GRID, tuple(counts.tolist()),
                             tuple(np.minimum(lo, counts).tolist()),
                             tuple(np.maximum(hi, counts).tolist()), persons, "counts")


#: the standard normal quantile of the band's upper end
_Z = {0.90: 1.6448536, 0.95: 1.9599640}[BAND]


def _poisson_band(counts: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                         NDArray[np.float64]]:
    """The BAND interval of a Poisson mean from a count c: the quantiles of its Jeffreys
    posterior Gamma(c + 1/2), by Wilson and Hilferty's cube-root approximation (within a
    few percent from c = 0 on; the lower end of c = 0 is 0)."""
    shape = np.maximum(counts, 0.0) + 0.5
    root = 1 - 1 / (9 * shape)
    spread = _Z / (3 * np.sqrt(shape))
    low = shape * np.maximum(root - spread, 0.0) ** 3
    high = shape * (root + spread) ** 3
    return np.where(counts <= 0, 0.0, low), high


def _smallest(x: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """The k smallest values of x (unordered), without a full pass of partition over a
    large x when a sample tells where they end."""
    if len(x) > 4 * COUNT_SAMPLE:
        step = len(x) // COUNT_SAMPLE
        sample = x[::step]
        j = min(len(sample) - 1, 2 * (k // step) + 8)
        cut = np.partition(sample, j)[j]
        below = x[x <= cut]
        if len(below) >= k:
            return np.partition(below, k - 1)[:k]
    return np.partition(x, k - 1)[:k]


def _counts(parts: PersonDistances, grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Persons at distance <= each grid distance: exact when the sample holds every
    person; else exact up to the farthest of the closest persons, and above it from the
    sample, scaled to the whole (the curve there holds thousands of persons)."""
    if len(parts.sample) >= parts.persons:
        return _cumulative(parts.sample, grid)
    edge = float(parts.closest[-1])
    counts = np.searchsorted(parts.closest, grid, side="right").astype(np.float64)
    above = grid > edge
    scale = parts.persons / len(parts.sample)
    beyond = _cumulative(parts.sample, grid[above]) - float(
        np.count_nonzero(parts.sample <= edge))
    counts[above] = len(parts.closest) + np.maximum(beyond, 0.0) * scale
    return counts


def _cumulative(x: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """How many values are <= each grid point (grid ascending), in one pass."""
    if not len(grid):
        return np.zeros(0)
    idx = np.searchsorted(grid, x[x <= grid[-1]], side="left")
    return np.cumsum(np.bincount(idx, minlength=len(grid) + 1))[:len(grid)].astype(
        np.float64)


def expected_with_threshold(est: LookalikeEstimate, threshold: float) -> dict[str, float]:
    """The estimate at the administrator's threshold, as a dict for JSON and storage."""
    e, lo, hi = est.at(threshold)
    return {"distance": threshold, "expected": _sig(e), "low": _sig(lo), "high": _sig(hi)}


def chance_of_any(expected: float) -> float:
    """The chance that at least one different person is at least this close, when
    `expected` are expected (they come independently: Poisson)."""
    return 1.0 - math.exp(-max(expected, 0.0))
