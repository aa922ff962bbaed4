"""One rule maps a distance to its histogram bin (facedesk.domain.rates.bins_of): the
histograms are counted with it and read with it, so "d <= t" agrees at every bin edge."""

from __future__ import annotations

import numpy as np

from facedesk.domain import evaluation
from facedesk.domain.rates import BIN_WIDTH, BINS, Calibration, bin_of, bins_of, histogram

EDGES = [0.0, 0.001, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.9, 1.2]


def test_a_distance_on_a_bin_edge_is_in_the_bin_it_starts() -> None:
    for t in EDGES:
        assert bin_of(t) == round(t / BIN_WIDTH), t
        # a float32 distance a hair off the edge: on the side it is on
        f = float(np.float32(t))
        assert bin_of(f) == round(t / BIN_WIDTH) - (f < t and t > 0), t
        assert bin_of(t + BIN_WIDTH / 2) == round(t / BIN_WIDTH)
        if t > 0:
            assert bin_of(np.nextafter(t, 0) - 1e-9) == round(t / BIN_WIDTH) - 1
    assert bin_of(-0.01) == 0 and bin_of(5.0) == BINS - 1
    assert list(bins_of(np.array(EDGES))) == [bin_of(t) for t in EDGES]


def test_counting_and_reading_agree_at_every_edge() -> None:
    """Distances exactly at a threshold count as "at or closer" for every reader."""
    d = np.array(EDGES + [float(np.float32(t)) for t in EDGES], dtype=np.float64)
    counts = histogram(d)
    assert counts.sum() == len(d)
    cal = Calibration("test", {}, counts, counts)
    dist = evaluation.Distributions(counts, counts)
    for t in EDGES:
        at_or_below = int(np.count_nonzero(bins_of(d) <= bin_of(t)))
        assert at_or_below >= int(np.count_nonzero(d <= t))
        assert cal.reading(t).impostors_at_or_below == at_or_below
        assert dist.fmr(t).k == at_or_below
        assert round(cal.fnmr(t) * len(d)) == dist.fnmr(t).k == len(d) - at_or_below
