"""Recovering the faces the default detector misses: what each fallback step finds on the
LFW photos where HOG (upsample 1) finds no face, what it costs, and whether the faces it
recovers are usable for search.

The missed photos come from an existing LFW gallery (`--db`, read only: `SELECT path FROM
photos WHERE faces_found = 0`), from a list of paths (`--list`, one a line), or, with
neither, from running the primary detector over every photo under `--lfw` (about ten
minutes on one core).

For every missed photo and every step (hog:2, cnn:0, cnn:1, frame) it times the step's
detection alone (the encoding costs the same whatever found the box) and, when the step
finds a face, encodes the photo's subject and compares it with the same person's other
photos: the median distance to them ("genuine distance") and whether the nearest face of
the whole gallery (this photo left out) belongs to the same person ("same person
nearest"). Ordinary photos, where HOG found the face, give the reference figures.

A second table answers how "frame" should place its box: on photos where HOG finds the
face, the encoding from a centred box of several sizes (a share of the shorter side; 1.0 =
the whole frame) is compared with HOG's own encoding of the same photo and with the
person's other photos; then the same boxes on the missed photos.

The genuine distances need the reference encodings of the gallery's engine: with `--db`
they are read from the gallery (the script refuses a gallery encoded by another engine);
without, the other photos of the persons concerned are encoded here (at most `--others`
per person).

Set OPENBLAS_NUM_THREADS=1 for timings comparable with an import (one thread per worker).

Example:
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/recovery_lfw.py --db /tmp/lfw.db
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, FRAME, DetectOptions
from facedesk.domain.faces import Box, subject_index
from facedesk.engine.dlib_engine import DlibEngine
from facedesk.engine.spec import engine_id

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "data" / "lfw" / "images"
STEPS = ("hog:2", "cnn:0", "cnn:1", FRAME)
CHAINS = (DEFAULT_IMPORT_FALLBACKS, ("hog:2", "cnn:0", FRAME), ("cnn:0", "hog:2", FRAME))
FRAME_SHARES = (1.0, 0.8, 0.6, 0.5, 0.43)
#: dlib's customary tolerance: distances below it are usually called the same person
TOLERANCE = 0.6

Vec = NDArray[np.float32]


@dataclass
class Reference:
    """Encodings of ordinary photos (HOG found the face), by path and person."""

    paths: list[str]
    persons: list[str]
    matrix: NDArray[np.float32]
    by_person: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, p in enumerate(self.persons):
            self.by_person.setdefault(p, []).append(i)

    def genuine(self, enc: Vec, person: str, exclude: str = "") -> float | None:
        """Median distance to the person's other photos (None if there are none)."""
        rows = [i for i in self.by_person.get(person, []) if self.paths[i] != exclude]
        if not rows:
            return None
        return float(np.median(np.linalg.norm(self.matrix[rows] - enc, axis=1)))

    def nearest_is_same(self, enc: Vec, person: str, exclude: str = "") -> bool | None:
        """Whether the nearest face of the whole reference (`exclude` left out) is the
        person's (None when the person has no other photo)."""
        if not any(self.paths[i] != exclude for i in self.by_person.get(person, [])):
            return None
        d = np.linalg.norm(self.matrix - enc, axis=1)
        for i in np.argsort(d):
            if self.paths[i] != exclude:
                return self.persons[i] == person
        return None


def person_of(path: Path) -> str:
    return path.parent.name


def open_db(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def reference_from_db(db: Path, engine: DlibEngine) -> Reference:
    conn = open_db(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM engines")]
    mine = engine_id(engine.identity())
    if ids != [mine]:
        raise SystemExit(f"{db} was encoded by engine {ids}, this one is {mine}: "
                         "distances would not be comparable")
    rows = conn.execute(
        "SELECT p.path, s.person_id, f.encoding FROM faces f "
        "JOIN photos p ON p.id = f.photo_id JOIN persons s ON s.id = p.person_pk "
        "ORDER BY p.path").fetchall()
    conn.close()
    matrix = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows])
    return Reference([r[0] for r in rows], [r[1] for r in rows], matrix)


def reference_by_encoding(missed: Sequence[Path], engine: DlibEngine, others: int
                          ) -> Reference:
    """Encode up to `others` photos of each person concerned (no --db)."""
    options = DetectOptions()
    paths: list[str] = []
    persons: list[str] = []
    encs: list[Vec] = []
    skip = {str(p) for p in missed}
    for folder in sorted({p.parent for p in missed}):
        photos = [p for p in sorted(folder.glob("*.jpg")) if str(p) not in skip][:others]
        for p in photos:
            face, _ = analysis.subject_face(engine, imaging.load_image(imaging.read_file(p)),
                                            options)
            if face is not None:
                paths.append(str(p))
                persons.append(person_of(p))
                encs.append(face.encoding)
    matrix = np.stack(encs) if encs else np.zeros((0, 128), np.float32)
    return Reference(paths, persons, matrix)


def find_missed(root: Path, engine: DlibEngine) -> list[Path]:
    options = DetectOptions()
    missed = []
    photos = sorted(root.rglob("*.jpg"))
    for n, p in enumerate(photos, 1):
        if not analysis.detect(engine, imaging.load_image(imaging.read_file(p)), options):
            missed.append(p)
        if n % 1000 == 0:
            print(f"  scanned {n}/{len(photos)}, {len(missed)} without a face", flush=True)
    return missed


def describe_subject(engine: DlibEngine, image: imaging.LoadedImage, boxes: list[Box]) -> Vec:
    i = subject_index(boxes, image.width, image.height)
    return analysis.describe(engine, image, [boxes[i]])[0].encoding


def fmt(values: Sequence[float], q: float = 50) -> str:
    return f"{float(np.percentile(np.asarray(values), q)):.3f}" if values else "-"


def share(values: Sequence[bool]) -> str:
    return f"{sum(values)}/{len(values)}" if values else "-"


@dataclass
class StepResult:
    found: int = 0
    several: int = 0
    times_ms: list[float] = field(default_factory=list)
    genuine: list[float] = field(default_factory=list)
    same_nearest: list[bool] = field(default_factory=list)


def measure_steps(engine: DlibEngine, missed: Sequence[Path], ref: Reference
                  ) -> dict[str, StepResult]:
    options = DetectOptions()
    results = {s: StepResult() for s in STEPS}
    for p in missed:
        image = imaging.load_image(imaging.read_file(p))
        for step in STEPS:
            r = results[step]
            t = time.perf_counter()
            boxes = analysis.detect_step(engine, image, step, options)
            r.times_ms.append((time.perf_counter() - t) * 1000)
            if not boxes:
                continue
            r.found += 1
            r.several += len(boxes) > 1
            enc = describe_subject(engine, image, boxes)
            g = ref.genuine(enc, person_of(p), exclude=str(p))
            if g is not None:
                r.genuine.append(g)
                same = ref.nearest_is_same(enc, person_of(p), exclude=str(p))
                r.same_nearest.append(bool(same))
    return results


def measure_chains(engine: DlibEngine, missed: Sequence[Path]
                   ) -> dict[tuple[str, ...], tuple[int, list[float], dict[str, int]]]:
    out = {}
    for chain in CHAINS:
        options = DetectOptions(fallbacks=chain)
        times: list[float] = []
        found = 0
        by_step: dict[str, int] = {}
        for p in missed:
            image = imaging.load_image(imaging.read_file(p))
            t = time.perf_counter()
            boxes, step = analysis.find_faces(engine, image, options)
            times.append((time.perf_counter() - t) * 1000)
            if boxes:
                found += 1
                by_step[step] = by_step.get(step, 0) + 1
        out[chain] = (found, times, by_step)
    return out


def ordinary_reference(ref: Reference, n: int, rng: random.Random
                       ) -> tuple[list[float], list[bool]]:
    """Genuine distance and 'same person nearest' of ordinary photos (persons with more
    than one), each compared with the rest of the reference."""
    rows = [i for i, p in enumerate(ref.persons) if len(ref.by_person[p]) > 1]
    rows = rng.sample(rows, min(n, len(rows)))
    genuine, same = [], []
    for i in rows:
        g = ref.genuine(ref.matrix[i], ref.persons[i], exclude=ref.paths[i])
        if g is not None:
            genuine.append(g)
            same.append(bool(ref.nearest_is_same(ref.matrix[i], ref.persons[i],
                                                 exclude=ref.paths[i])))
    return genuine, same


def measure_frame_shares(engine: DlibEngine, ref: Reference, missed: Sequence[Path],
                         n_found: int, rng: random.Random) -> None:
    print(f"\nWhere should 'frame' put the box? A centred square, this share of the shorter "
          f"side (1.0 = the whole frame); analysis.FRAME_SHARE = {analysis.FRAME_SHARE}")
    rows = [i for i, p in enumerate(ref.persons) if len(ref.by_person[p]) > 1]
    sample = rng.sample(rows, min(n_found, len(rows)))
    print(f"{'share':>5}  {'on ' + str(len(sample)) + ' photos HOG finds:':<44}"
          f"{'on the ' + str(len(missed)) + ' missed photos:'}")
    print(f"{'':>5}  {'to HOG enc.':>11}  {'genuine':>8}  {'p90':>6}  {'< ' + str(TOLERANCE):>7}"
          f"       {'genuine':>8}  {'p90':>6}  {'< ' + str(TOLERANCE):>7}  same nearest")
    for s in FRAME_SHARES:
        to_hog, gen = [], []
        for i in sample:
            image = imaging.load_image(imaging.read_file(Path(ref.paths[i])))
            box = analysis.frame_box(image.width, image.height, share=s)
            if box is None:
                continue
            enc = analysis.describe(engine, image, [box])[0].encoding
            to_hog.append(float(np.linalg.norm(enc - ref.matrix[i])))
            g = ref.genuine(enc, ref.persons[i], exclude=ref.paths[i])
            if g is not None:
                gen.append(g)
        mg, msame = [], []
        for p in missed:
            image = imaging.load_image(imaging.read_file(p))
            box = analysis.frame_box(image.width, image.height, share=s)
            if box is None:
                continue
            enc = analysis.describe(engine, image, [box])[0].encoding
            g = ref.genuine(enc, person_of(p), exclude=str(p))
            if g is not None:
                mg.append(g)
                msame.append(bool(ref.nearest_is_same(enc, person_of(p), exclude=str(p))))
        print(f"{s:5.2f}  {fmt(to_hog):>11}  {fmt(gen):>8}  {fmt(gen, 90):>6}  "
              f"{np.mean(np.asarray(gen) < TOLERANCE):7.2f}       {fmt(mg):>8}  "
              f"{fmt(mg, 90):>6}  {np.mean(np.asarray(mg) < TOLERANCE):7.2f}  {share(msame)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, help="an LFW gallery (read only)")
    ap.add_argument("--list", type=Path, help="file of missed photo paths, one a line")
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW images folder")
    ap.add_argument("--others", type=int, default=20,
                    help="without --db: other photos encoded per person")
    ap.add_argument("--ordinary", type=int, default=2000,
                    help="ordinary photos for the reference figures")
    ap.add_argument("--frame-sample", type=int, default=200,
                    help="photos HOG finds, for the frame box table (0 = skip the table)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    blas = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
            if k in os.environ}
    engine = DlibEngine()
    print(f"python {platform.python_version()}, dlib {engine.build_info()}, "
          f"{os.cpu_count()} cores, env {blas or 'no BLAS thread limit'}")
    rng = random.Random(1)

    if args.list:
        missed = [Path(line.strip()) for line in args.list.read_text().splitlines()
                  if line.strip()]
        origin = str(args.list)
    elif args.db:
        conn = open_db(args.db)
        missed = [Path(r[0]) for r in conn.execute(
            "SELECT path FROM photos WHERE faces_found = 0 ORDER BY path")]
        conn.close()
        origin = str(args.db)
    else:
        print(f"scanning {args.lfw} with hog:1 ...")
        missed = find_missed(args.lfw, engine)
        origin = f"a scan of {args.lfw}"
    print(f"{len(missed)} photos where hog:1 finds no face (from {origin})")
    ref = (reference_from_db(args.db, engine) if args.db
           else reference_by_encoding(missed, engine, args.others))
    with_others = sum(1 for p in missed if ref.by_person.get(person_of(p)))
    print(f"reference: {len(ref.paths)} encodings of ordinary photos; "
          f"{with_others} of the missed photos have other photos of the same person")

    # warm up: load every model before timing
    warm = imaging.load_image(imaging.read_file(missed[0]))
    for step in ("hog:1", "cnn:0"):
        analysis.detect_step(engine, warm, step, DetectOptions())
    analysis.describe(engine, warm, [Box(60, 190, 190, 60)])

    ord_gen, ord_same = ordinary_reference(ref, args.ordinary, rng)
    results = measure_steps(engine, missed, ref)
    chains = measure_chains(engine, missed)

    print(f"\nEach step alone on the {len(missed)} missed photos (detection time only; "
          "genuine = median distance to the person's other photos)")
    print(f"{'step':<8} {'recovered':>9} {'several':>7} {'ms/photo':>9}   "
          f"{'genuine med':>11} {'p90':>6} {'max':>6} {'< ' + str(TOLERANCE):>6}  same nearest")
    n = len(missed)
    for step, r in results.items():
        below = sum(g < TOLERANCE for g in r.genuine)
        print(f"{step:<8} {r.found:>4}/{n:<4} {r.several:>7} "
              f"{statistics.median(r.times_ms):9.1f}   {fmt(r.genuine):>11} "
              f"{fmt(r.genuine, 90):>6} {fmt(r.genuine, 100):>6} "
              f"{f'{below}/{len(r.genuine)}':>6}  {share(r.same_nearest)}")
    below = sum(g < TOLERANCE for g in ord_gen)
    print(f"{'ordinary':<8} {'':>9} {'':>7} {'':>9}   {fmt(ord_gen):>11} {fmt(ord_gen, 90):>6} "
          f"{fmt(ord_gen, 100):>6} {f'{below}/{len(ord_gen)}':>6}  {share(ord_same)}"
          f"   ({len(ord_gen)} photos where hog:1 found the face)")

    print(f"\nChains on the {n} missed photos (find_faces: the hog:1 miss, then the "
          "fallbacks in order)")
    print(f"{'fallbacks':<24} {'recovered':>9} {'ms/photo':>9}   by step")
    for chain, (found, times, by_step) in chains.items():
        print(f"{', '.join(chain):<24} {found:>4}/{n:<4} {statistics.median(times):9.1f}   "
              + ", ".join(f"{k} {v}" for k, v in by_step.items()))

    if args.frame_sample > 0:
        measure_frame_shares(engine, ref, missed, args.frame_sample, rng)

    if args.json:
        doc = {
            "missed": len(missed),
            "steps": {s: {"recovered": r.found, "several": r.several,
                          "median_ms": statistics.median(r.times_ms),
                          "genuine_median": float(np.median(r.genuine)) if r.genuine else None,
                          "same_nearest": sum(r.same_nearest), "compared": len(r.genuine)}
                      for s, r in results.items()},
            "ordinary": {"genuine_median": float(np.median(ord_gen)),
                         "same_nearest": sum(ord_same), "compared": len(ord_gen)},
            "chains": {",".join(c): {"recovered": f, "median_ms": statistics.median(t),
                                     "by_step": b} for c, (f, t, b) in chains.items()},
        }
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
