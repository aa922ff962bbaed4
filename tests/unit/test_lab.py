"""The accuracy lab's figures, checked against brute-force computations on synthetic
encodings stored in a real gallery file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from labdata import ENGINE, synthetic_gallery

from facedesk.app import accounts, audit, calibration
from facedesk.app.experiment import ExperimentOptions, run_experiment
from facedesk.app.search import Searcher
from facedesk.cli import cli
from facedesk.domain import evaluation
from facedesk.domain.evaluation import PairScores, best_threshold, read_pairs, ten_fold
from facedesk.domain.progress import CancelToken
from facedesk.errors import EvaluationError
from facedesk.store import Gallery

# --- pairs and the fold protocol -----------------------------------------------------------


def test_read_pairs_lfw_format(tmp_path: Path) -> None:
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nAnn\t1\t2\nBob\t1\tCid\t3\nDan\t2\t4\nEve\t1\tFay\t12\n")
    pairs = read_pairs(f)
    assert [(p.fold, p.same, p.a, p.b) for p in pairs] == [
        (0, True, "Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"),
        (0, False, "Bob/Bob_0001.jpg", "Cid/Cid_0003.jpg"),
        (1, True, "Dan/Dan_0002.jpg", "Dan/Dan_0004.jpg"),
        (1, False, "Eve/Eve_0001.jpg", "Fay/Fay_0012.jpg"),
    ]
    f.write_text("2\t1\nAnn\t1\t2\n")
    with pytest.raises(EvaluationError, match="announces"):
        read_pairs(f)
    f.write_text("1\t1\nAnn\t1\nBob\t1\tCid\t3\n")
    with pytest.raises(EvaluationError, match="line 2"):
        read_pairs(f)


def brute_best_accuracy(d: np.ndarray, same: np.ndarray) -> float:
    best = 0.0
    for t in np.concatenate([[-1.0], np.unique(d[~np.isnan(d)]), [9.0]]):
        best = max(best, evaluation.accuracy_at(d, same, float(t)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_is_as_good_as_any(seed: int) -> None:
    rng = np.random.default_rng(seed)
    same = rng.random(80) < 0.5
    d = np.where(same, rng.normal(0.45, 0.08, 80), rng.normal(0.7, 0.08, 80)).round(2)
    d[rng.integers(0, 80, 3)] = np.nan  # lost pairs
    t = best_threshold(d, same)
    assert evaluation.accuracy_at(d, same, t) == pytest.approx(brute_best_accuracy(d, same))


def test_ten_fold_uses_the_other_folds_and_counts_lost_pairs_as_errors() -> None:
    # fold 0 alone would want threshold ~0.2; the other folds agree on ~0.5
    d = np.array([0.1, 0.3, 0.4, 0.6, 0.4, 0.6, 0.45, 0.65, np.nan, 0.7])
    same = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
    fold = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    res = ten_fold(PairScores(d, same, fold))
    assert all(0.4 <= f.threshold < 0.6 for f in res.folds)
    assert [f.accuracy for f in res.folds] == [0.5, 1.0, 1.0, 1.0, 0.5]
    assert res.lost_pairs == 1 and res.folds[4].lost == 1
    assert res.mean == pytest.approx(0.8)


def test_distributions_rates_and_intervals() -> None:
    s = PairScores(np.array([0.3, 0.5, 0.61, 0.55, 0.7, 0.9, np.nan]),
                   np.array([1, 1, 1, 0, 0, 0, 1], dtype=bool), np.zeros(7, dtype=np.int64))
    g, i = s.histograms()
    dist = evaluation.Distributions(g, i)
    assert dist.genuine_pairs == 3 and dist.impostor_pairs == 3
    assert (dist.fmr(0.6).k, dist.fmr(0.6).n) == (1, 3)
    assert (dist.fnmr(0.6).k, dist.fnmr(0.6).n) == (1, 3)  # 0.61 is over 0.6
    lo, hi = dist.fmr(0.6).interval
    assert lo < 1 / 3 < hi
    _, fmr, fnmr = dist.curves()
    assert np.all(np.diff(fmr) >= 0) and np.all(np.diff(fnmr) <= 0)


def test_gallery_evaluation_per_group_against_brute_force(tmp_path: Path) -> None:
    g, rows, pks = synthetic_gallery(tmp_path / "g.db")
    with g:
        enc = g.load_encodings()
        meta = g.face_metadata("sex")
        ev = evaluation.every_pair(enc.matrix, enc.person_pks,
                                   [meta[int(f)] for f in enc.face_ids], "sex")
    labels = np.array(["(not recorded)" if p == 0 else ("F" if p % 3 == 0 else "M")
                       for p in pks])
    d = np.sqrt(((rows[:, None] - rows[None]) ** 2).sum(-1))
    iu = np.triu_indices(len(rows), 1)
    for grp in ev.groups:
        both = (labels[:, None] == grp.group) & (labels[None, :] == grp.group)
        imp = both[iu] & (pks[:, None] != pks[None, :])[iu]
        t = 0.5
        want = int(((d[iu] <= t) & imp).sum())
        got = grp.distributions.fmr(t)
        assert got.n == int(imp.sum())
        # 0.001 bins: only pairs within one bin of t may differ
        assert abs(got.k - want) <= int((np.abs(d[iu][imp] - t) <= 0.001).sum())
    assert {g.group for g in ev.groups} == {"F", "M", "(not recorded)"}


# --- the false-positive experiment ---------------------------------------------------------


def test_experiment_counts_against_brute_force(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=50)
    with g:
        events = list(run_experiment(g, ExperimentOptions(seed=4, group_key="sex",
                                                          gallery_sizes=(5, 20))))
        r = events[-1].result
        assert r is not None and events[-1].status == "completed"
        enc = g.load_encodings()
    m = enc.matrix.astype(np.float64)
    row = {int(f): i for i, f in enumerate(enc.face_ids)}
    person = {int(f): int(p) for f, p in zip(enc.face_ids, enc.person_pks, strict=True)}
    oog_persons = {person[int(f)] for f in r.oog_face_ids}
    held = {int(f) for f in r.mated_face_ids}
    gallery = [i for i, f in enumerate(enc.face_ids)
               if person[int(f)] not in oog_persons and int(f) not in held]
    gallery_persons = {int(enc.person_pks[i]) for i in gallery}
    assert len(r.oog_face_ids) == len(oog_persons)  # one probe per held-out person
    assert r.gallery_persons == len(gallery_persons) and r.gallery_faces == len(gallery)
    assert all(person[f] in gallery_persons for f in held)

    def person_min(face: int) -> dict[int, float]:
        d = np.linalg.norm(m[gallery] - m[row[face]], axis=1)
        best: dict[int, float] = {}
        for j, dd in zip(gallery, d, strict=True):
            p = int(enc.person_pks[j])
            best[p] = min(best.get(p, 9.0), float(dd))
        return best

    oog_best = [person_min(int(f)) for f in r.oog_face_ids]
    for t in (0.3, 0.4, 0.5, 0.6):
        counts = np.array([sum(v <= t for v in b.values()) for b in oog_best])
        assert r.fpir(t).k == int((counts > 0).sum())
        assert r.mean_candidates(t) == pytest.approx(counts.mean())
    for f, rank in zip(r.mated_face_ids, r.mated_ranks, strict=True):
        b = person_min(int(f))
        own = b[person[int(f)]]
        assert rank == 1 + sum(v < own for p, v in b.items() if p != person[int(f)])
    assert r.rank_hit(1).n == len(held)
    assert np.all(np.diff(r.best_at_size, axis=0) <= 0)  # more persons, closer best
    assert list(r.sizes) == [5, 20, r.gallery_persons]


def test_experiment_exact_with_no_mated_probes(tmp_path: Path) -> None:
    """With mated probes off, the gallery part is every photo of the gallery persons,
    so the counts must equal a plain brute force."""
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=40)
    with g:
        r = list(run_experiment(g, ExperimentOptions(seed=2, mated_probes=False,
                                                     group_key="sex")))[-1].result
        enc = g.load_encodings()
        meta = g.face_metadata("sex")
    assert r is not None and r.mated_probes == 0
    m = enc.matrix.astype(np.float64)
    row = {int(f): i for i, f in enumerate(enc.face_ids)}
    oog_persons = {int(enc.person_pks[row[int(f)]]) for f in r.oog_face_ids}
    gal = [i for i in range(len(m)) if int(enc.person_pks[i]) not in oog_persons]
    assert r.gallery_faces == len(gal)
    for t in (0.35, 0.45, 0.55):
        per_probe = []
        for f in r.oog_face_ids:
            d = np.linalg.norm(m[gal] - m[row[int(f)]], axis=1)
            per_probe.append(len({int(enc.person_pks[gal[j]]) for j in np.flatnonzero(d <= t)}))
        counts = np.array(per_probe)
        assert r.fpir(t).k == int((counts > 0).sum())
        assert r.mean_candidates(t) == pytest.approx(counts.mean())
        groups = np.array([meta[int(f)] or "(not recorded)" for f in r.oog_face_ids])
        for row_g in r.by_group(t):
            sel = groups == row_g["group"]
            assert row_g["probes"] == int(sel.sum())
            assert row_g["fpir"].k == int((counts[sel] > 0).sum())
    # the closest false candidate is the smallest probe-to-other-person distance
    best = min(float(np.linalg.norm(m[gal] - m[row[int(f)]], axis=1).min())
               for f in r.oog_face_ids)
    assert r.worst[0].distance == pytest.approx(best, abs=1e-9)
    assert r.worst[0].probe_person != r.worst[0].candidate_person


def test_experiment_cancel_and_too_small(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=30)
    token = CancelToken()
    token.cancel()
    with g:
        last = list(run_experiment(g, cancel=token))[-1]
    assert last.status == "cancelled" and last.result is None
    small, _, _ = synthetic_gallery(tmp_path / "s.db", persons=3)
    with small, pytest.raises(EvaluationError, match="at least 4 persons"):
        list(run_experiment(small))


# --- calibrations kept in the gallery ------------------------------------------------------


def test_own_calibration_is_stored_used_and_named(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=200)
    with g:
        searcher = Searcher(g, ENGINE)
        assert searcher.calibration is None  # the shipped one is for another engine
        cal = calibration.measure_gallery(g)
        cid = calibration.store(g, cal, "gallery")
        assert g.calibration_in_use() == cid
        res = searcher.search(g.load_encodings().matrix[0], 3)
        assert res.calibration_source is not None
        assert res.calibration_source.startswith("this gallery's own photos")
        assert res.candidates[0].fmr is not None
        g.use_calibration(None)
        assert searcher.search(g.load_encodings().matrix[0], 3).calibration_source is None
        assert [c.kind for c in g.calibrations()] == ["gallery"]


def test_the_calibration_job_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=200)
    with g:
        token = CancelToken()
        token.cancel()
        last = list(calibration.calibrate(g, cancel=token))[-1]
        assert (last.phase, last.status, last.calibration, last.calibration_id) == \
            ("finished", "cancelled", None, None)
        assert g.calibrations() == []  # nothing stored
        events = list(calibration.calibrate(g))
        steps = [e for e in events if e.phase == "measuring"]
        assert steps and steps[-1].done == steps[-1].total
        assert [e.done for e in steps] == sorted(e.done for e in steps)
        last = events[-1]
        assert (last.phase, last.status) == ("finished", "completed")
        assert last.calibration is not None and g.calibration_in_use() == last.calibration_id
        assert [c.id for c in calibration.stored(g)] == [last.calibration_id]


def test_own_calibration_refused_without_repeat_photos(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=20, photos=1)
    with g, pytest.raises(EvaluationError, match="repeat"):
        calibration.measure_gallery(g)


# --- the commands --------------------------------------------------------------------------


def test_cli_experiment_evaluate_calibrate_report(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=120)
    g.close()
    db = str(tmp_path / "g.db")
    runner = CliRunner()
    res = runner.invoke(cli, ["experiment", "--db", db, "--group", "sex", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert [t["threshold"] for t in doc["thresholds"]] == [0.4, 0.5, 0.6]
    assert {g["group"] for g in doc["thresholds"][0]["by_group"]} >= {"F", "M"}
    res = runner.invoke(cli, ["experiment", "--db", db, "--group", "nope"])
    assert res.exit_code == 1 and "no photo has a metadata column 'nope'" in res.output
    res = runner.invoke(cli, ["evaluate", "--db", db, "--group", "sex", "--threshold", "0.5",
                              "--plots", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert "per sex at distance <= 0.5" in res.output
    assert (tmp_path / "plots" / "det.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "distances.svg").exists()
    res = runner.invoke(cli, ["calibrate", "--db", db])
    assert res.exit_code == 0, res.output
    assert "in use: this gallery's own photos" in res.output
    res = runner.invoke(cli, ["calibrate", "--db", db, "--use", "shipped"])
    assert res.exit_code == 0 and "#1" in res.output and "in use: none" in res.output
    out = tmp_path / "report.html"
    res = runner.invoke(cli, ["report", "--db", db, "--out", str(out), "--group", "sex"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    for needed in ("The false-positive experiment", "<svg", "DET curve",
                   "The closest false candidates", "data:image/jpeg;base64"):
        assert needed in html


def test_cli_calibrate_in_a_gallery_with_users_is_an_administrators_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=120)
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                password="quartz-Lantern-6150")
    admin.add_user("ann", "Ann Analyst", "analyst", password="maple-Tunnel-2287")
    g.close()
    db = str(tmp_path / "g.db")
    for var in ("FACEDESK_USER", "FACEDESK_PASSWORD"):
        monkeypatch.delenv(var, raising=False)

    def run(*args: str, user: str | None = None, password: str = "") -> Result:
        env = {} if user is None else {"FACEDESK_USER": user, "FACEDESK_PASSWORD": password}
        return CliRunner().invoke(cli, ["calibrate", "--db", db, *args], env=env)

    # listing needs no sign-in; measuring and --use do, as an administrator
    assert run("--list").exit_code == 0
    res = run()
    assert res.exit_code == 1 and "not mapped" in res.output, res.output
    res = run(user="ann", password="maple-Tunnel-2287")
    assert res.exit_code == 1 and "may not change settings" in res.output, res.output
    with Gallery.open(tmp_path / "g.db") as gallery:
        assert gallery.calibrations() == []
    res = run(user="admin", password="quartz-Lantern-6150")
    assert res.exit_code == 0 and "in use: this gallery's own photos" in res.output, res.output
    res = run("--use", "shipped", user="ann", password="maple-Tunnel-2287")
    assert res.exit_code == 1 and "may not change settings" in res.output
    res = run("--use", "shipped", user="admin", password="quartz-Lantern-6150")
    assert res.exit_code == 0 and "in use: none" in res.output, res.output
    with Gallery.open(tmp_path / "g.db") as gallery:
        changed = audit.events(gallery, kinds=["setting_changed"])
    assert [(e.user_id, e.data["setting"], e.data["to"]) for e in changed] == [
        ("admin", "calibration", 1), ("admin", "calibration", None)]


def test_cli_evaluate_pairs_missing_photos_says_what_to_do(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=10)
    g.close()
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t1\nAnn\t1\t2\nBob\t1\tCid\t3\n")
    res = CliRunner().invoke(cli, ["evaluate", "--db", str(tmp_path / "g.db"), "--pairs",
                                   str(pairs), "--images", str(tmp_path)])
    assert res.exit_code == 1
    assert "4 of the 4 photos named by the pairs are not in" in res.output
    assert "facedesk import" in res.output


def test_gallery_evaluation_reports_progress_and_stops_when_cancelled(tmp_path: Path) -> None:
    from facedesk.app import lab

    g, _, _ = synthetic_gallery(tmp_path / "g.db")
    with g:
        steps = list(lab.evaluate_gallery_steps(g, "sex"))
        assert steps[0].phase == "loading" and steps[-1].phase == "finished"
        pairs = [s for s in steps if s.phase == "pairs"]
        assert pairs[0].done == 0 and pairs[-1].done == pairs[-1].total > 1
        whole = lab.evaluate_gallery(g, "sex")
        done = steps[-1].result
        assert done is not None and done.summary([0.5]) == whole.summary([0.5])
        cancel = CancelToken()
        seen = []
        for s in lab.evaluate_gallery_steps(g, "sex", cancel):
            seen.append(s)
            if s.phase == "pairs" and s.done == 1:
                cancel.cancel()
        assert seen[-1].phase == "cancelled" and seen[-1].result is None
        assert seen[-1].done < seen[-1].total


def test_the_pair_blocks_are_counted_as_they_are_worked_through() -> None:
    from facedesk.domain import rates

    rng = np.random.default_rng(1)
    m = rng.normal(size=(50, 4)).astype(np.float32)
    pks = np.arange(50) // 3
    imp = np.zeros(rates.BINS, dtype=np.int64)
    gen = np.zeros(rates.BINS, dtype=np.int64)
    assert list(rates.count_pairs(m, pks, imp, gen, block=16)) == list(
        range(1, rates.pair_blocks(50, 16) + 1))
    whole = rates.measure(m, pks, source="", engine_identity={})
    assert (imp == whole.impostor_counts).all() and (gen == whole.genuine_counts).all()
    assert imp.sum() + gen.sum() == 50 * 49 // 2


def test_ctrl_c_cancels_the_cli_evaluate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    from facedesk.app import lab

    g, _, _ = synthetic_gallery(tmp_path / "g.db")
    g.close()

    def interrupted(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        yield lab.EvaluateProgress("pairs", 0, 3)
        raise KeyboardInterrupt

    monkeypatch.setattr(lab, "evaluate_gallery_steps", interrupted)
    res = CliRunner().invoke(cli, ["evaluate", "--db", str(tmp_path / "g.db")])
    assert res.exit_code == 130 and "cancelled" in res.output


def test_the_split_holds_out_persons_and_photos_without_overlap() -> None:
    from facedesk.domain.experiment import split

    pks = np.repeat(np.arange(10), [1, 2, 3, 1, 2, 3, 1, 2, 3, 4])
    oog, mated, gallery = split(pks, np.unique(pks), ExperimentOptions(seed=3),
                                np.random.default_rng(3))
    rows = np.concatenate([oog, mated, gallery])
    assert sorted(rows.tolist()) == sorted(set(rows.tolist()))  # no row twice
    assert len(oog) == 5 and len(set(pks[oog].tolist())) == 5  # one photo per person
    assert not set(pks[oog].tolist()) & set(pks[gallery].tolist())
    assert set(pks[mated].tolist()) <= set(pks[gallery].tolist())  # mated: of gallery persons
