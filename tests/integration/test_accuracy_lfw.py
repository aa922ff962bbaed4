"""The accuracy lab on real LFW photos with the real engine.

- `facedesk evaluate` on a subset of LFW's pairs.txt (every fold, the first pairs of each
  kind) agrees within one percentage point with a direct computation the way
  face_recognition does it by default (dlib HOG detector upsampled once, the first face,
  the 5-point landmarks of model="small", one encoding), scored by the same fold protocol.
- a calibration measured on half of the persons predicts the look-alikes counted on the
  other half, within its interval.

The full 6,000-pair run is a script (benchmarks/lfw_accuracy.py), not a test.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from prerequisites import missing

from facedesk.domain.evaluation import PairScores, PairSpec, read_pairs, ten_fold
from facedesk.domain.rates import measure
from facedesk.store import Gallery

#: pairs of each kind taken from each of the 10 folds
PER_KIND = 10


@pytest.fixture(scope="module")
def pairs_subset(lfw_images: Path, real_engine_spec, tmp_path_factory, import_to_end
                 ) -> tuple[Path, Path, list[PairSpec]]:
    """(gallery, pairs file, pairs): the subset's photos imported through a manifest."""
    full = lfw_images.parent / "pairs.txt"
    if not full.is_file():
        missing(f"LFW pairs.txt not found at {full}")
    lines = full.read_text().splitlines()
    folds, n = (int(x) for x in lines[0].split())
    chosen = []
    for f in range(folds):
        start = 1 + f * 2 * n
        chosen += lines[start:start + PER_KIND] + lines[start + n:start + n + PER_KIND]
    folder = tmp_path_factory.mktemp("lfw_pairs")
    pairs_file = folder / "pairs_subset.txt"
    pairs_file.write_text(f"{folds}\t{PER_KIND}\n" + "\n".join(chosen) + "\n")
    pairs = read_pairs(pairs_file)
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "person_id"])
        for rel in sorted({x for p in pairs for x in (p.a, p.b)}):
            w.writerow([rel, rel.split("/")[0]])
    db = folder / "pairs.db"
    with Gallery.open(db, create=True) as g:
        final = import_to_end(g, lfw_images, manifest=manifest, workers=2,
                              spec=real_engine_spec)
    assert final.counts.failed == 0
    return db, pairs_file, pairs


def face_recognition_way(path: Path, detector, shape, encoder) -> np.ndarray | None:
    """What face_recognition.face_encodings(load_image_file(path))[0] computes."""
    img = np.asarray(Image.open(path).convert("RGB"))
    found = detector(img, 1)
    if len(found) == 0:
        return None
    return np.array(encoder.compute_face_descriptor(img, shape(img, found[0]), 1))


def test_evaluate_agrees_with_a_direct_face_recognition_computation(
        pairs_subset, lfw_images: Path, run_facedesk) -> None:
    dlib = pytest.importorskip("dlib")
    models = pytest.importorskip("face_recognition_models")
    db, pairs_file, pairs = pairs_subset
    res = run_facedesk("evaluate", "--db", db, "--pairs", pairs_file, "--images", lfw_images,
                       "--json")
    assert res.returncode == 0, res.stderr
    app = json.loads(res.stdout)["accuracy"]
    assert app["pairs"] == len(pairs) == 10 * 2 * PER_KIND

    detector = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    enc = {rel: face_recognition_way(lfw_images / rel, detector, shape, encoder)
           for rel in {x for p in pairs for x in (p.a, p.b)}}
    dist = np.array([np.nan if enc[p.a] is None or enc[p.b] is None
                     else float(np.linalg.norm(enc[p.a] - enc[p.b])) for p in pairs])
    direct = ten_fold(PairScores(dist, np.array([p.same for p in pairs]),
                                 np.array([p.fold for p in pairs])))
    assert abs(app["accuracy"] - direct.mean) <= 0.01, (app, direct.as_dict())
    assert app["accuracy"] > 0.9  # and both are sensible


def test_calibration_predicts_lookalikes_on_held_out_persons(pairs_subset) -> None:
    db, _, _ = pairs_subset
    with Gallery.open(db) as g:
        enc = g.load_encodings()
        names = {r.id: r.person_id for r in g.iter_persons()}
    # split by name (person keys depend on the order the workers finished)
    person_names = np.array([names[int(p)] for p in enc.person_pks])
    half = set(sorted(set(person_names.tolist()))[::2])
    a = np.array([n in half for n in person_names])
    ma, pa = enc.matrix[a], enc.person_pks[a]
    cal = measure(ma, pa, source="half A", engine_identity={})
    # monotone: a larger distance never has a smaller false match rate
    grid = np.arange(0.0, 1.2, 0.005)
    fmrs = [cal.reading(float(d)).fmr for d in grid]
    assert np.all(np.diff(fmrs) >= 0)

    # A's interval: pairs of one person's photos are not independent, so the interval
    # comes from resampling A's persons (a Wilson interval over pairs would be too narrow)
    rng = np.random.default_rng(3)
    persons_a = np.unique(pa)
    boot = []
    for _ in range(200):
        pick = rng.choice(persons_a, len(persons_a))
        rows = np.concatenate([np.flatnonzero(pa == p) for p in pick])
        # a person drawn twice keeps one label: its copies are not impostors of each other
        labels = np.repeat(pick, [np.count_nonzero(pa == p) for p in pick])
        boot.append(measure(ma[rows], labels, source="", engine_identity={}))

    # held out: each B face searched against the other B persons
    mb, pb = enc.matrix[~a].astype(np.float64), enc.person_pks[~a]
    d = np.sqrt(((mb[:, None] - mb[None]) ** 2).sum(-1))
    others = len(np.unique(pb)) - 1
    for t in (0.5, 0.55, 0.6):
        counts = np.array([len(set(pb[(d[i] <= t) & (pb != pb[i])].tolist()))
                           for i in range(len(mb))])
        observed = counts.mean()
        lo, hi = np.percentile([b.reading(t).fmr for b in boot], [2.5, 97.5])
        # and the observed mean's own standard error
        se = counts.std(ddof=1) / np.sqrt(len(counts))
        low, high = others * lo - 2 * se, others * hi + 2 * se
        assert low <= observed <= high, (t, observed, others * cal.reading(t).fmr, low, high)
