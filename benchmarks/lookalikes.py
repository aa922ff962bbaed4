"""Validation of the probe-specific look-alike estimate (facedesk.domain.lookalikes) across
domains, on the data at hand: observed false candidates per probe and FPIR against what
each method predicts, per threshold and group.

    .venv/bin/python benchmarks/lookalikes.py [--cache DIR] [--workers 2]

Data (../shared/data; encodings cached as FaceDesk galleries in --cache, default
$TMPDIR/facedesk-bench/lookalikes, made by `facedesk import` on the first run; the first
run takes 30-60 minutes on a busy 2-core machine, later runs a minute or two):

- congress: the 813 congress-2014 portraits (greyscale, one per member, sex in members.csv);
- lfw: a subset of LFW (deep-funneled): every person with 2 or more photos (1,680), at most
  3 photos each, and 1,500 of the 4,069 persons with one photo (seeded) — 5,761 photos of
  3,180 persons, instead of 13,233: encoding costs about 60 ms a photo here;
- cctv: the LFW probe photos below degraded as CCTV stills are: downscaled so the face is
  40-80 px, blurred (Gaussian, radius 0.4-1.2 px), greyscale, JPEG quality 20-40 (seeded).

LFW probes: one photo (the last by name, of the 3 kept) of each person with several
photos (its other photos stay in the gallery: the probe's own person is in the gallery,
as in a real search), and the photo of 500 of the one-photo persons (not in the gallery).

Sets (gallery <- probes):

- A. congress <- LFW probes whose name is not a member's (last name and first initial);
- B. LFW <- congress portraits, per sex; the LFW persons with the member's last name and
  first initial are the probe's own and never count as false candidates;
- C. LFW without the probe photos <- the CCTV-degraded LFW probes (in the gallery or not);
- D. LFW without the probe photos <- the same probes undegraded (same domain, control).

Observed: for every probe, the number of gallery persons other than its own at distance
<= d (each person's closest photo), and whether there is at least one (FPIR). Predicted:

- LFW table: persons searched x FMR(d) of the calibration shipped with FaceDesk;
- gallery pairs: persons searched x FMR(d) measured on the gallery's own impostor pairs;
- probe (item 1): `lookalikes.estimate` from the probe's distances to every person, as a
  search computes it (SearchIndex.nearest_and_persons), without any label.

Predicted FPIR: the mean over probes of 1 - exp(-expected). Targets: false candidates per
probe within +-25% of observed, FPIR within +-5 points, per group at 0.5 and 0.6.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from facedesk.domain import lookalikes, rates
from facedesk.domain.search_index import SearchIndex
from facedesk.store import Gallery
from facedesk.store.encodings import EncodingMatrix

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO.parent / "shared" / "data").resolve()
LFW = DATA / "lfw" / "images"
CONGRESS = DATA / "congress-2014" / "members.csv"
THRESHOLDS = (0.5, 0.6)
LFW_PHOTOS_PER_PERSON = 3
LFW_SINGLES = 1500
PROBE_SINGLES = 500


def name_key(name: str) -> tuple[str, str] | None:
    """Last name and first initial: how an LFW folder is told to be a member's."""
    toks = [t for t in re.split(r"[\s_.,]+", name.lower())
            if t and t not in ("jr", "sr", "ii", "iii", "iv")]
    return (toks[-1], toks[0][0]) if toks else None


def facedesk_import(args: list[str], db: Path, log: Path, workers: int) -> None:
    exe = Path(sys.executable).parent / "facedesk"
    cmd = [str(exe), "import", *args, "--db", str(db), "--workers", str(workers), "--json"]
    print(f"importing into {db.name} (log: {log}) ...", flush=True)
    with log.open("w") as err, (log.with_suffix(".json")).open("w") as out:
        subprocess.run(cmd, check=True, stdout=out, stderr=err)


def lfw_manifest(path: Path) -> None:
    persons = {p.name: sorted(f.name for f in p.iterdir()) for p in sorted(LFW.iterdir())}
    singles = sorted(p for p, names in persons.items() if len(names) == 1)
    keep = set(random.Random(0).sample(singles, LFW_SINGLES))
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "person_id"])
        for p, names in persons.items():
            if len(names) >= 2:
                w.writerows((f"{p}/{n}", p) for n in names[:LFW_PHOTOS_PER_PERSON])
            elif p in keep:
                w.writerow((f"{p}/{names[0]}", p))


@dataclass
class Faces:
    person: np.ndarray  # person id per face (str)
    path: np.ndarray  # photo path per face (str)
    sex: np.ndarray  # '' when unknown
    matrix: np.ndarray  # (n, 128) float32
    size_px: np.ndarray

    def take(self, mask: np.ndarray) -> Faces:
        return Faces(self.person[mask], self.path[mask], self.sex[mask], self.matrix[mask],
                     self.size_px[mask])


def load(db: Path) -> Faces:
    with Gallery.open(db) as g:
        rows = g.conn.execute(
            "SELECT pe.person_id, p.path, p.metadata, f.encoding, f.size_px FROM faces f "
            "JOIN photos p ON p.id = f.photo_id JOIN persons pe ON pe.id = f.person_pk "
            "ORDER BY pe.person_id, p.path").fetchall()
    return Faces(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                 np.array([json.loads(r[2] or "{}").get("sex", "") for r in rows]),
                 np.stack([np.frombuffer(r[3], dtype=np.float32) for r in rows]),
                 np.array([r[4] for r in rows]))


def degrade(src: Path, face_px: int, rng: random.Random) -> bytes:
    """A CCTV-like still of an LFW photo: face 40-80 px, blurred, greyscale, JPEG 20-40."""
    im = Image.open(src).convert("L")
    scale = rng.uniform(40, 80) / max(face_px, 1)
    size = (max(16, round(im.width * scale)), max(16, round(im.height * scale)))
    im = im.resize(size, Image.Resampling.BOX)
    im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=rng.randint(20, 40))
    return out.getvalue()


def prepare(cache: Path, workers: int) -> dict[str, Faces]:
    cache.mkdir(parents=True, exist_ok=True)
    congress_db, lfw_db, cctv_db = (cache / f"{n}.db" for n in ("congress", "lfw", "cctv"))
    if not (cache / "congress.done").exists():
        facedesk_import([str(CONGRESS)], congress_db, cache / "congress-import.log", workers)
        (cache / "congress.done").touch()
    if not (cache / "lfw-manifest.csv").exists():
        lfw_manifest(cache / "lfw-manifest.csv")
    if not (cache / "lfw.done").exists():
        facedesk_import([str(LFW), "--manifest", str(cache / "lfw-manifest.csv")], lfw_db,
                        cache / "lfw-import.log", workers)
        (cache / "lfw.done").touch()
    lfw = load(lfw_db)
    # only the manifest's photos (a gallery imported before with other photos keeps them)
    with (cache / "lfw-manifest.csv").open() as f:
        wanted = {str(LFW / r["path"]) for r in csv.DictReader(f)}
    lfw = lfw.take(np.isin(lfw.path, sorted(wanted)))
    probes = probe_mask(lfw)
    if not (cache / "cctv.done").exists():
        folder = cache / "cctv"
        for i in np.flatnonzero(probes):
            src = Path(lfw.path[i])
            out = folder / lfw.person[i] / (Path(lfw.path[i]).stem + ".jpg")
            if not out.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(degrade(src, int(lfw.size_px[i]),
                                        random.Random(f"cctv:{lfw.path[i]}")))
        facedesk_import([str(folder)], cctv_db, cache / "cctv-import.log", workers)
        (cache / "cctv.done").touch()
    return {"congress": load(congress_db), "lfw": lfw, "cctv": load(cctv_db)}


def probe_mask(lfw: Faces) -> np.ndarray:
    """The LFW probe photos: the last photo of each person with several, and the photo of
    PROBE_SINGLES persons with one (seeded)."""
    persons, counts = np.unique(lfw.person, return_counts=True)
    count = dict(zip(persons.tolist(), counts.tolist(), strict=True))
    singles = sorted(p for p, c in count.items() if c == 1)
    chosen_singles = set(random.Random(1).sample(singles, min(PROBE_SINGLES, len(singles))))
    mask = np.zeros(len(lfw.person), dtype=bool)
    last: dict[str, int] = {}
    for i, p in enumerate(lfw.person.tolist()):
        last[p] = i  # rows are ordered by person, then path
    for p, i in last.items():
        if count[p] >= 2 or p in chosen_singles:
            mask[i] = True
    return mask


# --- evaluation -------------------------------------------------------------------------------


@dataclass
class Outcome:
    observed: dict[float, np.ndarray]  # false candidates per probe, per threshold
    probe: dict[float, np.ndarray]  # item 1's expected per probe
    probe_low: dict[float, np.ndarray]
    probe_high: dict[float, np.ndarray]
    persons: int
    lfw_table: dict[float, float]  # N x FMR
    gallery_pairs: dict[float, float]
    estimate_ms: list[float]


def evaluate(gallery: Faces, probe_enc: np.ndarray, own: list[set[str]],
             reference: rates.Calibration) -> Outcome:
    order = np.argsort(gallery.person, kind="stable")
    g = gallery.take(order)
    persons, pks = np.unique(g.person, return_inverse=True)
    enc = EncodingMatrix(np.arange(len(pks), dtype=np.int64), pks.astype(np.int64),
                         np.ascontiguousarray(g.matrix), frozenset({"e"}), 1)
    index = SearchIndex(enc)
    starts = index.starts
    own_sets = [np.isin(persons, sorted(o)) for o in own]
    own_cal = rates.measure(g.matrix, pks.astype(np.int64), source="gallery",
                                  engine_identity={})
    n = len(persons)
    out = Outcome({t: np.zeros(len(probe_enc)) for t in THRESHOLDS},
                  {t: np.zeros(len(probe_enc)) for t in THRESHOLDS},
                  {t: np.zeros(len(probe_enc)) for t in THRESHOLDS},
                  {t: np.zeros(len(probe_enc)) for t in THRESHOLDS}, n,
                  {t: n * reference.reading(t).fmr for t in THRESHOLDS},
                  {t: n * own_cal.reading(t).fmr for t in THRESHOLDS}, [])
    m64 = g.matrix.astype(np.float64)
    for i, p in enumerate(probe_enc):
        t0 = time.perf_counter()
        _, parts = index.nearest_and_persons(p, 20)
        assert parts is not None
        est = lookalikes.estimate_from(parts)
        out.estimate_ms.append((time.perf_counter() - t0) * 1000)
        exact = np.minimum.reduceat(np.sqrt(((m64 - p) ** 2).sum(axis=1)), starts)
        others = exact[~own_sets[i]]
        for t in THRESHOLDS:
            out.observed[t][i] = np.count_nonzero(others <= t)
            out.probe[t][i], out.probe_low[t][i], out.probe_high[t][i] = est.at(t)
    return out


def fpir(expected: np.ndarray | float) -> float:
    return float(np.mean(1 - np.exp(-np.asarray(expected, dtype=np.float64))))


def report(label: str, group: str, out: Outcome, sel: np.ndarray) -> list[dict]:
    rows = []
    for t in THRESHOLDS:
        obs = out.observed[t][sel]
        pred = out.probe[t][sel]
        inside = np.mean((out.probe_low[t][sel] <= obs) & (obs <= out.probe_high[t][sel]))
        rows.append({
            "set": label, "group": group, "probes": int(sel.sum()), "persons": out.persons,
            "d": t, "observed": float(obs.mean()),
            "lfw_table": out.lfw_table[t], "gallery_pairs": out.gallery_pairs[t],
            "probe": float(pred.mean()),
            "fpir_observed": float(np.mean(obs > 0)),
            "fpir_lfw_table": fpir(out.lfw_table[t]),
            "fpir_gallery_pairs": fpir(out.gallery_pairs[t]),
            "fpir_probe": fpir(pred), "count_in_band": float(inside)})
    return rows


def ratio(pred: float, obs: float) -> str:
    return "   n/a" if obs <= 0 else f"{pred / obs:5.2f}x"


def print_table(rows: list[dict]) -> None:
    print("\nfalse candidates per probe (observed; predicted and predicted/observed) and "
          "FPIR (observed; predicted), per set, group and distance")
    print(f"{'set':<34} {'group':<14} {'probes':>6} {'d':>4} | {'observed':>8} "
          f"{'LFW table':>17} {'gallery pairs':>17} {'probe (item 1)':>17} | "
          f"{'FPIR obs':>8} {'LFW tbl':>7} {'pairs':>7} {'probe':>7} | {'met':>5}")
    for r in rows:
        met = (abs(r["probe"] / r["observed"] - 1) <= 0.25 if r["observed"] > 0 else
               r["probe"] < 0.05) and abs(r["fpir_probe"] - r["fpir_observed"]) <= 0.05
        print(f"{r['set']:<34} {r['group']:<14} {r['probes']:>6} {r['d']:>4.2f} | "
              f"{r['observed']:8.3f} "
              f"{r['lfw_table']:9.3f} {ratio(r['lfw_table'], r['observed'])} "
              f"{r['gallery_pairs']:9.3f} {ratio(r['gallery_pairs'], r['observed'])} "
              f"{r['probe']:9.3f} {ratio(r['probe'], r['observed'])} | "
              f"{100 * r['fpir_observed']:7.1f}% {100 * r['fpir_lfw_table']:6.1f}% "
              f"{100 * r['fpir_gallery_pairs']:6.1f}% {100 * r['fpir_probe']:6.1f}% | "
              f"{'yes' if met else 'no':>5}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path(
        os.environ.get("TMPDIR", "/tmp")) / "facedesk-bench" / "lookalikes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--cost-faces", type=int, default=1_000_000,
                        help="measure the cost on a synthetic gallery this large (0: not)")
    parser.add_argument("--cost-only", action="store_true")
    parser.add_argument("--curvature", type=float,
                        help="evaluate item 1 with this CURVATURE instead of the shipped "
                             f"{lookalikes.CURVATURE:g} (to see what the constant does)")
    args = parser.parse_args()
    if args.curvature is not None:
        lookalikes.CURVATURE = args.curvature
    if args.cost_only:
        cost(args.cost_faces)
        return 0
    data = prepare(args.cache, args.workers)
    reference = rates.reference()
    assert reference is not None
    congress, lfw, cctv = data["congress"], data["lfw"], data["cctv"]
    members = {name_key(n) for n in csv_names()}
    sex_of = {r["person_id"]: r["sex"] for r in csv.DictReader(CONGRESS.open())}
    congress_sex = np.array([sex_of.get(p, "") for p in congress.person])
    probes = probe_mask(lfw)
    lfw_gallery = lfw.take(~probes)
    lfw_probes = lfw.take(probes)
    in_gallery = np.isin(lfw_probes.person, lfw_gallery.person)
    rows: list[dict] = []
    timings: list[float] = []

    def run(label: str, gallery: Faces, enc: np.ndarray, own: list[set[str]],
            groups: dict[str, np.ndarray]) -> None:
        t0 = time.perf_counter()
        out = evaluate(gallery, enc, own, reference)
        timings.extend(out.estimate_ms)
        for group, sel in groups.items():
            rows.extend(report(label, group, out, sel))
        print(f"{label}: {len(enc)} probes against {out.persons} persons "
              f"({len(gallery.person)} faces) in {time.perf_counter() - t0:.0f} s; search + "
              f"estimate median {np.median(out.estimate_ms):.2f} ms", flush=True)

    # A: congress gallery <- LFW probes that are not members
    not_member = np.array([name_key(p) not in members for p in lfw_probes.person])
    a = lfw_probes.take(not_member)
    run("A congress <- LFW (not members)", congress, a.matrix, [set()] * len(a.person),
        {"all": np.ones(len(a.person), dtype=bool)})
    # B: LFW gallery <- congress portraits, per sex
    lfw_keys: dict[tuple[str, str] | None, set[str]] = {}
    for p in np.unique(lfw.person):
        lfw_keys.setdefault(name_key(p), set()).add(p)
    names = {r["person_id"]: r["name"] for r in csv.DictReader(CONGRESS.open())}
    own_b = [lfw_keys.get(name_key(names[p]), set()) for p in congress.person]
    run("B LFW <- congress", lfw, congress.matrix, own_b,
        {"all": np.ones(len(congress.person), dtype=bool), "women": congress_sex == "F",
         "men": congress_sex == "M"})
    # C: LFW gallery <- CCTV-degraded LFW probes; D: the same probes undegraded
    run("C LFW <- CCTV-degraded LFW", lfw_gallery, cctv.matrix,
        [{p} for p in cctv.person],
        {"all": np.ones(len(cctv.person), dtype=bool),
         "in gallery": np.isin(cctv.person, lfw_gallery.person),
         "not in gallery": ~np.isin(cctv.person, lfw_gallery.person)})
    run("D LFW <- LFW (control)", lfw_gallery, lfw_probes.matrix,
        [{p} for p in lfw_probes.person],
        {"all": np.ones(len(lfw_probes.person), dtype=bool), "in gallery": in_gallery,
         "not in gallery": ~in_gallery})
    print_table(rows)
    met = sum(1 for r in rows if r["observed"] > 0 and abs(r["probe"] / r["observed"] - 1)
              <= 0.25)
    fp = sum(1 for r in rows if abs(r["fpir_probe"] - r["fpir_observed"]) <= 0.05)
    print(f"\nitem 1 within +-25% of observed false candidates: {met} of {len(rows)} rows; "
          f"FPIR within 5 points: {fp} of {len(rows)} (count_in_band in --json: the share "
          "of probes whose own count is inside its band, which is a band for the expected "
          "value, not for a count)")
    print(f"search + estimate per probe, median over all {len(timings)} searches: "
          f"{np.median(timings):.2f} ms (galleries of {len(congress.person)}-"
          f"{len(lfw.person)} faces)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.cost_faces:
        cost(args.cost_faces)
    return 0


def cost(faces: int, probes: int = 40) -> None:
    """What the estimate adds to a search of `faces` synthetic encodings shaped like
    dlib's (benchmarks/synthetic.py). A search with the estimate is `nearest` plus two
    steps on the scores the search leaves in its buffer: gathering the persons'
    distances (`SearchIndex._person_distances`) and `estimate_from`. Each is timed on
    its own right after the probe's search (timing two whole searches and subtracting
    drowns a few milliseconds in the noise of a busy machine), in CPU time of the thread
    (what the steps cost, without the time a busy machine's scheduler takes away) and in
    wall time; medians."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synthetic

    g = synthetic.gallery(faces, seed=1)
    enc = EncodingMatrix(np.arange(faces, dtype=np.int64), g.person_index, g.matrix,
                         frozenset({"e"}), 1)
    index = SearchIndex(enc)
    queries, _ = synthetic.probes(g, probes)
    index.nearest_and_persons(queries[0], 20)  # the sample's rows are built once
    search, wall, gather, est = [], [], [], []
    for p in queries:
        p_sq = float(np.dot(p.astype(np.float64), p.astype(np.float64)))
        t0 = time.perf_counter()
        index.nearest(p, 20)  # leaves this probe's scores in index._scores
        t1 = time.perf_counter()
        c1 = time.thread_time()
        parts = index._person_distances(index._scores, index._mask, p_sq)
        c2 = time.thread_time()
        lookalikes.estimate_from(parts)
        c3 = time.thread_time()
        t3 = time.perf_counter()
        search.append(t1 - t0)
        wall.append(t3 - t1)
        gather.append(c2 - c1)
        est.append(c3 - c2)
    added = [a + b for a, b in zip(gather, est, strict=True)]
    print(f"\ncost at {faces:,} faces ({index.persons:,} persons, {probes} probes, "
          f"medians): the search {1000 * np.median(search):.2f} ms (wall); the look-alikes "
          f"add {1000 * np.median(added):.2f} ms of CPU (p95 "
          f"{1000 * np.percentile(added, 95):.2f}; both steps run on one thread): "
          f"gathering the distances {1000 * np.median(gather):.2f} ms, the estimate "
          f"{1000 * np.median(est):.2f} ms ({1000 * np.median(wall):.2f} ms wall); load "
          f"average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def csv_names() -> list[str]:
    return [r["name"] for r in csv.DictReader(CONGRESS.open())]


if __name__ == "__main__":
    sys.exit(main())
