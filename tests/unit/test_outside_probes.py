"""Outside probes searched against a whole gallery (the ACLU test, `facedesk experiment
--probes`), their calibration (`facedesk calibrate --probes`) and several probes in one
`facedesk search`: real gallery files, the fake face engine, counts checked against a
brute force."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fakes import FAKE_FACTORY, FakeEngine, no_face, one_face, save_png
from test_cli_accountability import PASSWORDS, fake_cli, make_run, ok  # noqa: F401

from facedesk.app import accounts, calibration
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.outside_probes import (
    OutsideOptions,
    OutsideResult,
    run_outside,
    table_predictor,
)
from facedesk.cli import cli
from facedesk.cli import lab_commands as cli_lab
from facedesk.domain import imaging, rates
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

GALLERY_PERSONS = 12
#: probes: (person, variant, sex); persons 3 and 7 are also in the gallery
PROBES = [(3, 10, "F"), (7, 11, "M"), (20, 0, "F"), (21, 0, "M"), (22, 0, "F"),
          (23, 0, "M"), (24, 0, "M")]


@pytest.fixture
def gallery_db(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    for person in range(GALLERY_PERSONS):
        for variant in range(1 + person % 3):
            save_png(one_face(person, variant), root / f"person_{person}" / f"{variant}.png")
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, root, engine=EngineSpec(FAKE_FACTORY),
                            options=ImportOptions(workers=1)):
            pass
    return db


@pytest.fixture
def probe_manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "probes"
    rows = []
    for person, variant, sex in PROBES:
        rel = f"p{person}_{variant}.png"
        save_png(one_face(person, variant), folder / rel)
        rows.append([rel, f"person_{person}", sex])
    save_png(no_face(), folder / "blank.png")
    rows.append(["blank.png", "person_99", "F"])
    manifest = folder / "probes.csv"
    with manifest.open("w", newline="") as fh:
        csv.writer(fh).writerows([["path", "person_id", "sex"], *rows])
    return manifest


def run_to_end(g: Gallery, manifest: Path, **kw: object) -> OutsideResult:
    events = list(run_outside(g, manifest, EngineSpec(FAKE_FACTORY), **kw))  # type: ignore[arg-type]
    assert [e.phase for e in events][:2] == ["listing", "encoding"]
    assert events[-1].status == "completed" and events[-1].result is not None
    return events[-1].result


def encode(path: Path) -> np.ndarray:
    engine = FakeEngine()
    img = imaging.load_image(path.read_bytes(), name=str(path))
    box = engine.detect(img.rgb, 1)[0]
    return engine.describe(img.rgb, [box])[0].encoding.astype(np.float64)


def test_outside_probe_counts_equal_a_brute_force(gallery_db: Path,
                                                  probe_manifest: Path) -> None:
    with Gallery.open(gallery_db) as g:
        r = run_to_end(g, probe_manifest, options=OutsideOptions(group_key="sex",
                                                                  gallery_sizes=(3, 6)))
        enc = g.load_encodings()
        names = {int(p.id): p.person_id for p in g.iter_persons()}
    assert r.oog_probes == len(PROBES)  # the blank photo is left out, and reported
    assert [p.path for p in r.problems] == ["blank.png"]
    gallery_person = np.array([names[int(p)] for p in enc.person_pks])
    m = enc.matrix.astype(np.float64)
    brute: list[dict[str, float]] = []
    for person, variant, _ in PROBES:
        d = np.linalg.norm(m - encode(probe_manifest.parent / f"p{person}_{variant}.png"),
                           axis=1)
        brute.append({p: float(d[gallery_person == p].min()) for p in set(gallery_person)})
    own = [f"person_{p}" for p, _, _ in PROBES]
    false_d = [np.array([v for p, v in b.items() if p != o]) for b, o in zip(brute, own,
                                                                          strict=True)]
    assert r.in_gallery.tolist() == [o in brute[0] for o in own]
    assert int(r.in_gallery.sum()) == 2
    # thresholds where some, not all, persons count (the fake engine's scale)
    all_d = np.concatenate(false_d)
    sexes = np.array([s for _, _, s in PROBES])
    for t in np.quantile(all_d, [0.05, 0.3, 0.6]):
        counts = np.array([int((f <= t).sum()) for f in false_d])
        assert r.fpir(t).k == int((counts > 0).sum()) and r.fpir(t).n == len(PROBES)
        assert r.mean_candidates(t) == pytest.approx(counts.mean())
        for row in r.by_group(t):
            rows = sexes == row["group"]
            assert row["probes"] == int(rows.sum())
            assert row["mean_candidates"] == pytest.approx(counts[rows].mean())
            assert row["fpir"].k == int((counts[rows] > 0).sum())
        # the same probe at smaller galleries can only have fewer false candidates
        by_size = [x.k for x in r.fpir_by_size(t)]
        assert by_size == sorted(by_size) and by_size[-1] == r.fpir(t).k
    for i in np.flatnonzero(r.in_gallery):
        mine = brute[i][own[i]]
        rank = 1 + sum(v < mine for v in false_d[i])
        assert r.mated_ranks[list(np.flatnonzero(r.in_gallery)).index(i)] == rank
    assert r.rank_hit(1).n == 2
    # the closest false candidate is the smallest false distance, never the own person
    best = min((v, i) for i, f in enumerate(false_d) for v in f)
    assert r.worst[0].distance == pytest.approx(best[0])
    assert r.worst[0].probe_person == own[best[1]] != r.worst[0].candidate_person


def test_predictors_see_the_distances_a_search_sees(gallery_db: Path,
                                                    probe_manifest: Path) -> None:
    seen: list[np.ndarray] = []

    def closest(dist: np.ndarray, grid: np.ndarray) -> np.ndarray:
        seen.append(dist)
        return np.full(len(grid), float(dist.min()))

    with Gallery.open(gallery_db) as g:
        r = run_to_end(g, probe_manifest, predictors={"closest": closest})
    assert len(seen) == len(PROBES) and all(len(s) == GALLERY_PERSONS for s in seen)
    # a search knows no labels: an in-gallery probe's own person is among its distances
    closest_seen = r.oog_distances.min(axis=1).astype(np.float64)
    inside = np.flatnonzero(r.in_gallery)
    closest_seen[inside] = np.minimum(closest_seen[inside], r.mated_distances)
    assert r.predicted_at("closest", 0.5) == pytest.approx(closest_seen.mean())
    assert r.predicted_at("closest", 0.5) < r.oog_distances.min(axis=1).mean()
    rows = r.predicted_vs_observed([0.5])
    assert [x["group"] for x in rows] == ["all probes"]
    assert rows[0]["observed"] == r.mean_candidates(0.5)


def test_table_predictor_is_persons_times_fmr() -> None:
    cal = rates.Calibration("x", {}, np.zeros(1601, dtype=np.int64),
                                  np.zeros(1601, dtype=np.int64))
    cal.impostor_counts[500] = 1  # one pair at 0.5, three farther
    cal.impostor_counts[900] = 3
    got = table_predictor(cal)(np.zeros(40), np.array([0.4, 0.5, 0.6, 1.0]))
    assert got.tolist() == [0.0, 10.0, 10.0, 40.0]


def test_cancel_while_encoding(gallery_db: Path, probe_manifest: Path) -> None:
    cancel = CancelToken()
    with Gallery.open(gallery_db) as g:
        events = []
        for ev in run_outside(g, probe_manifest, EngineSpec(FAKE_FACTORY), cancel=cancel):
            events.append(ev)
            if ev.phase == "encoding":
                cancel.cancel()
    assert events[-1].status == "cancelled" and events[-1].result is None
    assert sum(e.phase == "encoding" for e in events) == 1


def test_person_weighted_calibration_weighs_persons_not_photos() -> None:
    # person 0: 50 photos close together; persons 1..4 far apart from everyone
    rng = np.random.default_rng(0)
    m = np.vstack([rng.normal(0, 0.001, (50, 128)),
                   rng.normal(0, 0.3, (4, 128))]).astype(np.float32)
    m[:50] += 0.2  # person 0's photos are 0.2 x sqrt(128) from the origin
    pks = np.array([0] * 50 + [1, 2, 3, 4])
    cal = rates.measure_persons(m, pks, source="t", engine_identity={}, rounds=4)
    assert cal.impostor_pairs == 4 * 10  # 5 persons: 10 pairs of persons per round
    assert cal.genuine_pairs == 4  # one pair of person 0's photos per round
    photos = rates.measure(m, pks, source="t", engine_identity={})
    assert photos.impostor_pairs == 50 * 4 + 6  # all pairs: person 0 weighs 50 times
    assert cal.provenance["weighting"] == "persons"


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def lab_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_lab, "probe_engine", lambda: EngineSpec(FAKE_FACTORY))


def test_experiment_and_report_with_outside_probes(gallery_db: Path, probe_manifest: Path,
                                                   lab_cli: None, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["experiment", "--db", str(gallery_db), "--probes",
                              str(probe_manifest), "--group", "sex", "--json",
                              "--threshold", "1.5"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["probes"] == len(PROBES) and doc["probes_with_own_person_in_gallery"] == 2
    assert doc["probe_set"]["left_out"] == 1 and len(doc["probe_set"]["hash"]) == 64
    assert {r["group"] for r in doc["predicted_vs_observed"]} == {"all probes", "F", "M"}
    assert "gallery's own pairs (persons x FMR)" in doc["predicted_vs_observed"][0][
        "predicted"]
    text = runner.invoke(cli, ["experiment", "--db", str(gallery_db), "--probes",
                               str(probe_manifest), "--group", "sex"])
    assert text.exit_code == 0, text.output
    assert "predicted" in text.stdout and "left out blank.png" in text.stdout
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", "--db", str(gallery_db), "--out", str(out),
                              "--probes", str(probe_manifest), "--probe-group", "sex"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "Outside probes searched against the whole gallery" in html
    assert "observed false candidates per probe" in html


def test_calibrate_from_outside_probes_keeps_provenance(gallery_db: Path,
                                                        probe_manifest: Path,
                                                        lab_cli: None) -> None:
    res = CliRunner().invoke(cli, ["calibrate", "--db", str(gallery_db), "--probes",
                                   str(probe_manifest), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["in_use"].startswith("this agency's outside probes — outside probes: 7 probes")
    with Gallery.open(gallery_db) as g:
        (stored,) = g.calibrations()
        cal = rates.Calibration.from_json(g.calibration_data(stored.id) or "")
        version = g.load_encodings().version
    prov = cal.provenance
    assert prov["method"] == calibration.OUTSIDE_PROBES
    assert prov["probe_set"]["probes"] == 7 and prov["gallery_version"] == version
    assert len(prov["probe_set"]["hash"]) == 64 and prov["measured_at"]
    # every (probe, other gallery person): 7 x 12 minus the 2 own persons
    assert cal.impostor_pairs == 7 * GALLERY_PERSONS - 2 and cal.genuine_pairs == 2


# --- several probes in one search ------------------------------------------------------------


def test_several_probes_record_one_search_each(gallery_db: Path, probe_manifest: Path,
                                              fake_cli: None, tmp_path: Path) -> None:  # noqa: F811
    run = make_run(gallery_db)
    with Gallery.open(gallery_db) as g:
        admin = accounts.create_first_administrator(g, "admin", "Ada", password=PASSWORDS["admin"])
        admin.add_user("ann", "Ann Analyst", "analyst", password=PASSWORDS["ann"])
    ok(run("case", "open", "C-9", "--purpose", "1", user="ann"))
    folder = probe_manifest.parent
    probes = [folder / "p3_10.png", folder / "blank.png", tmp_path / "missing.png",
              folder / "p7_11.png"]
    res = run("search", *probes, "--case", "C-9", "--json", user="ann")
    assert res.exit_code == 1, res.output
    docs = json.loads(res.stdout)
    assert [("error" in d) for d in docs] == [False, True, True, False]
    assert docs[0]["candidates"][0]["person_id"] == "person_3"
    assert docs[3]["candidates"][0]["person_id"] == "person_7"
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 2 and "blank.png" in errors[0] and "missing.png" in errors[1]
    case = json.loads(ok(run("case", "show", "C-9", "--json", user="ann")).stdout)
    assert sorted(s["id"] for s in case["searches"]) == sorted(
        [docs[0]["search_id"], docs[3]["search_id"]])
    # a probe list: every probe searched, a list printed, exit 0
    listed = tmp_path / "list.csv"
    listed.write_text("path\nprobes/p20_0.png\nprobes/p3_10.png\n")
    res = ok(run("search", "--probes", listed, "--case", "C-9", "--json", user="ann"))
    assert [len(d["candidates"]) >= 0 and d["probe"]["path"].endswith(n)
            for d, n in zip(json.loads(res.stdout), ("p20_0.png", "p3_10.png"),
                            strict=True)] == [True, True]
    case = json.loads(ok(run("case", "show", "C-9", "--json", user="ann")).stdout)
    assert len(case["searches"]) == 4
    # one probe: the single-probe JSON object, as before
    one = json.loads(ok(run("search", folder / "p3_10.png", "--case", "C-9", "--json",
                            user="ann")).stdout)
    assert isinstance(one, dict) and one["case"] == "C-9"
