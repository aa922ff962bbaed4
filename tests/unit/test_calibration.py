from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEngine, one_face, save_png

from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain import rates
from facedesk.domain.rates import Calibration, measure, wilson
from facedesk.store import Gallery


def test_measure_counts_every_pair_once_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    persons = np.repeat(np.arange(40), 3)
    m = (rng.normal(0, 0.06, (120, 128)) + rng.normal(0, 0.06, (40, 128))[persons]).astype(
        np.float32)
    cal = measure(m, persons, source="synthetic", engine_identity={"engine": "x"}, block=37)
    d = np.sqrt(((m[:, None, :].astype(np.float64) - m[None, :, :]) ** 2).sum(-1))
    iu = np.triu_indices(len(m), 1)
    same = (persons[:, None] == persons[None, :])[iu]
    assert cal.impostor_pairs == int((~same).sum()) and cal.genuine_pairs == int(same.sum())
    for t in (0.5, 0.7, 0.9):
        expected = ((d[iu] <= t) & ~same).sum() / (~same).sum()
        # bins of 0.001: only pairs within one bin of t may differ
        slack = (np.abs(d[iu] - t) <= rates.BIN_WIDTH).sum() / (~same).sum()
        assert abs(cal.reading(t).fmr - expected) <= slack + 1e-12


def test_reading_interval_and_json_roundtrip() -> None:
    imp = np.zeros(1601, dtype=np.int64)
    imp[500] = 10  # ten impostor pairs at distance 0.500..0.501
    imp[900] = 990
    gen = np.zeros(1601, dtype=np.int64)
    gen[300] = 50
    cal = Calibration("test set", {"engine": "x"}, imp, gen, {"note": 1})
    r = cal.reading(0.55)
    assert (r.fmr, r.impostor_pairs, r.impostors_at_or_below) == (0.01, 1000, 10)
    assert r.fmr_low < 0.01 < r.fmr_high
    assert r.expected_lookalikes(25_000) == pytest.approx(250)
    assert cal.reading(0.2).fmr == 0.0 and cal.reading(0.2).fmr_high > 0  # never "zero risk"
    assert cal.fnmr(0.4) == 0.0 and cal.fnmr(0.1) == 1.0
    back = Calibration.from_json(cal.to_json())
    assert back.reading(0.55) == r and back.source == "test set"
    lo, hi = wilson(0, 100)
    assert lo == 0.0 and 0.02 < hi < 0.05


def test_shipped_reference_is_the_lfw_measurement() -> None:
    ref = rates.reference()
    assert ref is not None and ref.source.startswith("LFW")
    # every person weighs the same: one pair of photos per pair of the ~5,700 persons
    persons = ref.provenance["persons"]
    assert ref.provenance["weighting"] == "persons" and persons > 5000
    assert ref.impostor_pairs == persons * (persons - 1) // 2 * ref.provenance["rounds"]
    # DESIGN.md: with tolerance 0.6 one person against 200 others gets a false candidate
    # about half the time: 1 - (1 - FMR(0.6))^200 should be near 0.5-0.8
    p = 1 - (1 - ref.reading(0.6).fmr) ** 200
    assert 0.4 < p < 0.9


def test_search_uses_a_calibration_only_for_its_engine(imported: Gallery, tmp_path: Path) -> None:
    engine = FakeEngine()
    imp = np.zeros(1601, dtype=np.int64)
    imp[:] = 1
    cal = Calibration("fake set", engine.identity(), imp, imp.copy())
    probe = analyze_probe(engine, save_png(one_face(1, 50), tmp_path / "p.png"))
    face = choose_face(engine, probe)
    result = Searcher(imported, engine.identity(), calibration=cal).search(face.encoding, 3)
    best = result.candidates[0]
    assert best.fmr is not None and best.expected_lookalikes == pytest.approx(
        5 * best.fmr.fmr)
    assert result.calibration_source == "fake set"
    assert result.lookalike_notice().startswith("Expected look-alikes")
    other = Calibration("other engine", {"engine": "dlib"}, imp, imp.copy())
    plain = Searcher(imported, engine.identity(), calibration=other).search(face.encoding, 3)
    assert plain.candidates[0].fmr is None and plain.calibration_source is None
    assert "No calibration for this engine" in plain.lookalike_notice()
    # far candidates in a calibration where most impostors are closer: say it plainly
    imp2 = np.zeros(1601, dtype=np.int64)
    imp2[0] = 1
    crowded = Calibration("crowded", engine.identity(), imp2, imp2.copy())
    res = Searcher(imported, engine.identity(), calibration=crowded).search(face.encoding, 3)
    assert "every candidate may be a look-alike" in res.lookalike_notice()
