"""The probe-specific look-alike estimate (facedesk.domain.lookalikes, issue 16): on synthetic
galleries with a known impostor distribution (one population, a mixture, the probe's own
person close by), through the search (persons counted, not photos; the search's gathered
distances equal a brute force), stored with the search and its audit event, and in the
CLI. The cost at a million faces is printed by benchmarks/lookalikes.py, not timed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from accountability import PASSWORDS
from click.testing import CliRunner
from fakes import FAKE_FACTORY, FakeEngine, one_face, save_png

from facedesk import cli as cli_module
from facedesk.app import accounts, audit, cases
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.cli import options as cli_options
from facedesk.domain import lookalikes
from facedesk.domain.lookalikes import GRID, LookalikeEstimate
from facedesk.domain.search_index import SearchIndex
from facedesk.engine.spec import EngineSpec
from facedesk.store import EncodingMatrix, Gallery


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


#: (share, mean, sd) of the per-person distances: one population; a mixture whose
#: minority (the close sub-population) sits nearer the probe
ONE = ((1.0, 0.85, 0.08),)
MIXTURE = ((0.9, 0.90, 0.08), (0.1, 0.75, 0.07))


def expected_count(parts: tuple[tuple[float, float, float], ...], n: int, d: float) -> float:
    return n * sum(w * normal_cdf((d - mu) / sd) for w, mu, sd in parts)


def draw(rng: np.random.Generator, parts: tuple[tuple[float, float, float], ...],
         n: int) -> np.ndarray:
    which = rng.choice(len(parts), size=n, p=[w for w, _, _ in parts])
    mu = np.array([m for _, m, _ in parts])[which]
    sd = np.array([s for _, _, s in parts])[which]
    return rng.normal(mu, sd)


@pytest.mark.parametrize(("parts", "persons", "own"), [
    (ONE, 5000, ()),
    (MIXTURE, 5000, (0.33,)),  # the probe's own person in the gallery
    (MIXTURE, 800, (0.30, 0.36)),  # ... twice (a duplicate identity)
])
def test_the_known_expected_count_is_inside_the_band(parts, persons, own) -> None:
    rng = np.random.default_rng(7)
    probes = 60
    inside = {d: 0 for d in (0.5, 0.55, 0.6)}
    mean_pred = {d: 0.0 for d in inside}
    for i in range(probes):
        x = np.concatenate([draw(rng, parts, persons), own])
        est = lookalikes.estimate(x, rng_seed=i)
        assert est.persons == persons + len(own) and est.method == lookalikes.METHOD
        for d in inside:
            e, lo, hi = est.at(d)
            truth = expected_count(parts, persons, d)
            inside[d] += lo <= truth <= hi
            mean_pred[d] += e / probes
    for d in inside:
        truth = expected_count(parts, persons, d)
        assert inside[d] >= 0.8 * probes, (d, inside[d])
        assert 0.7 <= mean_pred[d] / truth <= 1.4, (d, mean_pred[d], truth)


def test_the_probes_own_person_does_not_move_the_estimate() -> None:
    rng = np.random.default_rng(3)
    x = draw(rng, MIXTURE, 3000)
    alone = lookalikes.estimate(x)
    for own in ((0.32,), (0.30, 0.34), (0.28, 0.33, 0.35)):
        est = lookalikes.estimate(np.concatenate([x, own]))
        for d in (0.45, 0.5, 0.55, 0.6, 0.7):
            assert est.at(d)[0] == pytest.approx(alone.at(d)[0], rel=0.2, abs=0.01), (own, d)


def test_a_closer_population_gives_more_lookalikes() -> None:
    """A woman against a mostly male gallery has few close persons: the estimate follows
    the probe's own distances, not one table."""
    rng = np.random.default_rng(5)
    near = lookalikes.estimate(draw(rng, ((1.0, 0.78, 0.08),), 4000))
    far = lookalikes.estimate(draw(rng, ((1.0, 0.92, 0.08),), 4000))
    for d in (0.5, 0.6):
        assert near.at(d)[0] > 5 * far.at(d)[0]


def test_curve_shape_interpolation_and_round_trip() -> None:
    rng = np.random.default_rng(1)
    est = lookalikes.estimate(draw(rng, ONE, 2000))
    assert est.grid == GRID and len(GRID) == 51 and GRID[0] == 0.3 and GRID[-1] == 0.8
    assert all(a <= b for a, b in zip(est.expected, est.expected[1:], strict=False))
    assert all(lo <= e <= hi for lo, e, hi in zip(est.low, est.expected, est.high,
                                                  strict=True))
    assert est.at(0.6) == (est.expected[30], est.low[30], est.high[30])
    mid = est.at(0.605)[0]
    assert est.expected[30] <= mid <= est.expected[31]
    assert 0 <= est.at(0.2)[0] <= est.expected[0]
    assert est.at(0.95) == (est.expected[-1], est.low[-1], est.high[-1])
    again = LookalikeEstimate.from_dict(json.loads(json.dumps(est.as_dict())))
    assert again.at(0.6)[0] == pytest.approx(est.at(0.6)[0], rel=1e-3)


def test_a_tiny_gallery_gets_plain_counts() -> None:
    est = lookalikes.estimate(np.array([0.31, 0.55, 0.58, 0.9]))
    assert est.method == "counts" and est.persons == 4
    assert est.at(0.6)[0] == 3 and est.at(0.5)[0] == 1
    assert lookalikes.estimate(np.zeros(0)).at(0.6)[0] == 0


# --- through the search ---------------------------------------------------------------------


def index_of(rng: np.random.Generator, persons: int, photos: np.ndarray
             ) -> tuple[SearchIndex, np.ndarray, np.ndarray]:
    centres = rng.normal(0, 0.06, size=(persons, 128))
    pks = np.repeat(np.arange(persons), photos)
    matrix = (centres[pks] + rng.normal(0, 0.02, size=(len(pks), 128))).astype(np.float32)
    enc = EncodingMatrix(np.arange(len(pks), dtype=np.int64), pks.astype(np.int64), matrix,
                         frozenset({"e"}), 1)
    return SearchIndex(enc), matrix, pks


def brute_minima(matrix: np.ndarray, pks: np.ndarray, probe: np.ndarray) -> np.ndarray:
    d = np.sqrt(((matrix.astype(np.float64) - probe.astype(np.float64)) ** 2).sum(axis=1))
    return np.minimum.reduceat(d, np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]]))


@pytest.mark.parametrize("sample", [lookalikes.COUNT_SAMPLE, 97])
def test_the_search_gathers_each_persons_closest_photo(monkeypatch: pytest.MonkeyPatch,
                                                       sample: int) -> None:
    """Persons, not photos: a person with 40 photos near the probe counts once; the
    closest persons and the sample equal a brute force (sampled path: COUNT_SAMPLE made
    small)."""
    monkeypatch.setattr(lookalikes, "COUNT_SAMPLE", sample)
    rng = np.random.default_rng(11)
    photos = rng.integers(1, 4, size=1500)
    photos[10] = 40
    index, matrix, pks = index_of(rng, 1500, photos)
    probe = (matrix[pks == 10].mean(axis=0) + rng.normal(0, 0.03, 128)).astype(np.float32)
    hits, parts = index.nearest_and_persons(probe, 5)
    assert hits == index.nearest(probe, 5)
    assert parts is not None and parts.persons == 1500
    truth = brute_minima(matrix, pks, probe)
    step = lookalikes.sample_step(1500)
    assert (step == 1) == (sample >= 1500)
    np.testing.assert_allclose(parts.sample, truth[::step], atol=1e-5)
    need = lookalikes.closest_needed(1500)
    np.testing.assert_allclose(parts.closest[:need], np.sort(truth)[:need], atol=1e-5)
    est = lookalikes.estimate_from(parts)
    if step == 1:
        counted = lookalikes.estimate(truth)
        np.testing.assert_allclose(est.expected, counted.expected, rtol=1e-3, atol=1e-9)
    # the 40 photos of one person near the probe are one person
    assert est.at(0.8)[0] <= np.count_nonzero(truth <= 0.8)


# --- stored, logged, shown ---------------------------------------------------------------------


@pytest.fixture
def searched(imported: Gallery, tmp_path: Path) -> tuple[Gallery, cases.CaseSearch]:
    admin = accounts.create_first_administrator(imported, "admin", "Ada",
                                                password=PASSWORDS["admin"])
    admin.add_user("ann", "Ann", "analyst", password=PASSWORDS["ann"])
    ann = accounts.sign_in(imported, "ann", PASSWORDS["ann"])
    case = cases.open_case(ann, "C-1", accounts.DEFAULT_PURPOSES[0])
    engine = FakeEngine()
    path = save_png(one_face(2, 7), tmp_path / "probe.png")
    probe = analyze_probe(engine, path)
    face = choose_face(engine, probe)
    result = Searcher(imported, engine.identity()).search(face.encoding, 5)
    return imported, cases.record_search(ann, case, probe, face, result)


def test_stored_with_the_search_and_its_audit_event(searched) -> None:
    gallery, recorded = searched
    stored = cases.search_record(gallery, recorded.id).lookalikes
    est = recorded.result.lookalikes
    assert est is not None and stored["method"] == est.method
    assert stored["expected"] == [float(f"{v:.4g}") for v in est.expected]
    assert stored["at_threshold"]["distance"] == recorded.threshold
    event = audit.event(gallery, recorded.audit_seq)
    assert event is not None and event.data["lookalikes"] == stored
    assert audit.verify(gallery).ok
    for c in cases.search_record(gallery, recorded.id).candidates:
        e = est.at(c["distance"])[0]
        assert c["lookalikes"]["expected"] == pytest.approx(e, rel=1e-2, abs=1e-6)
    # an edit of the stored curve by raw SQL is found
    gallery.conn.execute("UPDATE searches SET lookalikes = ? WHERE id = ?",
                         (json.dumps({**stored, "method": "edited"}), recorded.id))
    gallery.conn.commit()
    found = audit.verify(gallery)
    assert not found.ok and any("lookalikes" in p for p in found.problems), found.problems


def test_the_cli_shows_and_prints_the_probe_specific_figures(
        searched, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gallery, _ = searched
    monkeypatch.setattr(cli_options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    env = {"FACEDESK_USER": "ann", "FACEDESK_PASSWORD": PASSWORDS["ann"]}
    probe = save_png(one_face(2, 9), tmp_path / "p2.png")
    args = ["search", str(probe), "--case", "C-1", "--db", str(gallery.path)]
    res = CliRunner().invoke(cli_module.cli, [*args, "--json"], env=env)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    curve = doc["lookalike_curve"]
    assert curve["grid"] == list(GRID) and len(curve["expected"]) == 51
    est = LookalikeEstimate.from_dict(curve)
    at = doc["lookalikes_at_threshold"]
    assert at["distance"] == doc["threshold"] and at["expected"] == pytest.approx(
        est.at(doc["threshold"])[0], rel=1e-3, abs=1e-6)
    assert doc["candidates"]
    for c in doc["candidates"]:
        assert c["lookalikes"]["expected"] == pytest.approx(est.at(c["distance"])[0],
                                                            rel=1e-2, abs=1e-6)
    text = CliRunner().invoke(cli_module.cli, args, env=env)
    assert text.exit_code == 0, text.output
    assert "At distance 0.60, about" in text.stdout
    assert "to come this close to this probe" in text.stdout
    assert "Reference table:" in text.stdout and "look-alikes (90% band)" in text.stdout
