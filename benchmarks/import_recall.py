"""Does the import's quick look keep what the import finds? Faces found, the subject's box
and its encoding, with the import's detection now (`default`: quick looks at small copies
first, importer.import_detect_options()) against the detection before (`before`: HOG
upsample 1 on the copy at most 1024 px long), on the same photos.

Photo sets (benchmarks/import_photos.py): `lfw` (all 13,233 LFW photos with --count 0, or
every k-th) and `booking` (600 x 750 booking-like photos made from every k-th LFW photo).
Both detections are compared without their fallbacks (the CNN at upsample 0 runs, in both,
only where the detection finds no face, so it recovers the same photos).

For every photo both find the faces, pick the subject (largest face nearest the centre)
and encode it (68 landmarks and the encoding always on the full-resolution photo). The
report gives, for each set:
    - photos with a face: before, default, found by one only;
    - faces counted per photo (the quick look counts the faces large enough on its copy);
    - the subject's box: intersection over union with the box before (1 = the same);
    - the encoding of the same photo's subject: distance between before and default
      (0 = the same; dlib's customary tolerance between persons is 0.6; the same person's
      other photos lie about 0.4 away);
    - detection time (ms per photo, one process; the machine is shared, so read the ratio).

With --reference-db the `before` results of the LFW photos are read from a gallery imported
with the detection before (read only; the gallery must be encoded by this engine and its
import run's options must say upsample 1, detect_max_side 1024 and no quick look), which
saves computing them.

Set OPENBLAS_NUM_THREADS=1 for one-thread timings (the script sets it unless set).

Example:
    .venv/bin/python benchmarks/import_recall.py --sets lfw --count 0 --reference-db lfw.db
    .venv/bin/python benchmarks/import_recall.py --sets booking --count 400
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_photos as photos

from facedesk.app.importer import import_detect_options
from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.faces import Box, subject_index
from facedesk.engine.dlib_engine import DlibEngine
from facedesk.engine.spec import engine_id

BEFORE = DetectOptions(upsample=1, max_side=1024, quick_side=0)


@dataclass
class Found:
    n: int
    seconds: float
    box: Box | None = None
    encoding: np.ndarray | None = None


def find(engine: DlibEngine, image: imaging.LoadedImage, options: DetectOptions) -> Found:
    t0 = time.perf_counter()
    boxes, _ = analysis.find_faces(engine, image, options)
    dt = time.perf_counter() - t0
    if not boxes:
        return Found(0, dt)
    box = boxes[subject_index(boxes, image.width, image.height)]
    raw = engine.describe(image.rgb, [box])[0]
    return Found(len(boxes), dt, box, raw.encoding)


def iou(a: Box, b: Box) -> float:
    inter = Box(max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom),
                max(a.left, b.left))
    i = max(0, inter.width) * max(0, inter.height) if inter.width > 0 < inter.height else 0
    u = a.area + b.area - i
    return i / u if u else 0.0


def reference(db: Path, eng_id: str) -> dict[str, Found]:
    """path relative to the LFW folder -> the subject stored in a `before` gallery."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    runs = conn.execute("SELECT options, engine_id FROM import_runs").fetchall()
    for options, run_engine in runs:
        o = json.loads(options)
        if run_engine != eng_id:
            sys.exit(f"{db} was encoded by engine {run_engine}, this one is {eng_id}")
        if (o.get("upsample"), o.get("detect_max_side"), o.get("detect_quick_side", 0)) != \
                (1, 1024, 0):
            sys.exit(f"{db}: an import run used other detection options: {o}")
    out: dict[str, Found] = {}
    rows = conn.execute(
        "SELECT p.path, p.faces_found, f.box_top, f.box_right, f.box_bottom, f.box_left, "
        "f.encoding, f.detector FROM photos p LEFT JOIN faces f ON f.photo_id = p.id")
    for path, n, top, right, bottom, left, enc, det in rows:
        key = "/".join(Path(path).parts[-2:])
        if enc is None or (det and det != "hog:1"):  # a fallback's face: not the primary's
            out[key] = Found(0, 0.0)
        else:
            out[key] = Found(int(n), 0.0, Box(top, right, bottom, left),
                             np.frombuffer(enc, "<f4"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=photos.DEFAULT_LFW, help="LFW images folder")
    ap.add_argument("--count", type=int, default=400, help="photos per set (0 = all LFW)")
    ap.add_argument("--sets", nargs="+", choices=photos.SETS, default=list(photos.SETS))
    ap.add_argument("--reference-db", type=Path,
                    help="gallery of all LFW photos imported with the detection before")
    ap.add_argument("--quick-side", type=int,
                    help="the default's quick side instead of the import's (to try others)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    for line in photos.describe_machine({"facedesk": sys.executable}):
        print(line)
    default = replace(import_detect_options(), fallbacks=())
    if args.quick_side is not None:
        default = replace(default, quick_side=args.quick_side)
    print(f"before     : upsample {BEFORE.upsample}, max_side {BEFORE.max_side}")
    print(f"default    : upsample {default.upsample}, max_side {default.max_side}, "
          f"quick_side {default.quick_side} (copies {analysis.quick_sides(250, 250, default)} "
          f"px for LFW, {analysis.quick_sides(600, 750, default)} px for booking photos)")
    files = photos.lfw_files(args.lfw)
    sample, extra = (files, files[0]) if args.count == 0 else photos.pick(files, args.count)
    engine = DlibEngine()
    eng_id = engine_id(engine.identity())
    report = {}
    with tempfile.TemporaryDirectory(prefix="fd-recall-") as tmp:
        for kind in args.sets:
            ref = reference(args.reference_db, eng_id) if (
                args.reference_db and kind == "lfw") else None
            if kind == "lfw":
                paths = sample
            else:
                dirs = photos.photo_set(kind, sample, extra, Path(tmp))
                paths = photos.set_files(dirs)
            before: list[Found] = []
            after: list[Found] = []
            t_start = time.monotonic()
            for i, f in enumerate(paths):
                image = imaging.load_image(imaging.read_file(f), name=f.name)
                key = "/".join(f.parts[-2:])
                before.append(ref[key] if ref is not None else find(engine, image, BEFORE))
                after.append(find(engine, image, default))
                if i % 500 == 499:
                    print(f"{kind}: {i + 1} of {len(paths)} ({time.monotonic() - t_start:.0f} s)",
                          flush=True)
            report[kind] = summarise(kind, before, after, timed=ref is None)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def summarise(kind: str, before: list[Found], after: list[Found],
              timed: bool) -> dict[str, object]:
    n = len(before)
    b_found = sum(1 for f in before if f.n)
    a_found = sum(1 for f in after if f.n)
    only_b = sum(1 for b, a in zip(before, after, strict=True) if b.n and not a.n)
    only_a = sum(1 for b, a in zip(before, after, strict=True) if a.n and not b.n)
    both = [(b, a) for b, a in zip(before, after, strict=True) if b.n and a.n]
    ious = np.array([iou(b.box, a.box) for b, a in both])  # type: ignore[arg-type]
    dist = np.array([float(np.linalg.norm(b.encoding - a.encoding))  # type: ignore[operator]
                     for b, a in both])
    out: dict[str, object] = {
        "photos": n, "found_before": b_found, "found_default": a_found,
        "found_before_only": only_b, "found_default_only": only_a,
        "faces_per_photo_before": sum(f.n for f in before) / n,
        "faces_per_photo_default": sum(f.n for f in after) / n,
        "subject_iou_median": float(np.median(ious)),
        "subject_iou_below_0_5": int((ious < 0.5).sum()),
        "encoding_distance": {
            "mean": float(dist.mean()), "median": float(np.median(dist)),
            "p95": float(np.percentile(dist, 95)), "p99": float(np.percentile(dist, 99)),
            "max": float(dist.max()), "above_0_2": int((dist > 0.2).sum()),
            "above_0_6": int((dist > 0.6).sum())},
    }
    print()
    print(f"== {kind}: {n} photos ==")
    print(f"photos with a face  : before {b_found} ({b_found / n:.2%}), default {a_found} "
          f"({a_found / n:.2%}); before only {only_b}, default only {only_a}")
    print(f"faces per photo     : before {out['faces_per_photo_before']:.3f}, default "
          f"{out['faces_per_photo_default']:.3f}")
    print(f"subject box IoU     : median {np.median(ious):.3f}; below 0.5 (another face "
          f"taken as the subject) {int((ious < 0.5).sum())} of {len(both)}")
    d = out["encoding_distance"]
    assert isinstance(d, dict)
    print(f"encoding distance   : mean {d['mean']:.4f}, median {d['median']:.4f}, p95 "
          f"{d['p95']:.4f}, p99 {d['p99']:.4f}, max {d['max']:.3f}; above 0.2: "
          f"{d['above_0_2']}, above 0.6: {d['above_0_6']} (of {len(both)})")
    if timed:
        tb = 1000 * sum(f.seconds for f in before) / n
        ta = 1000 * sum(f.seconds for f in after) / n
        out["detect_ms_before"], out["detect_ms_default"] = tb, ta
        print(f"detection ms/photo  : before {tb:.1f}, default {ta:.1f} ({tb / ta:.2f}x "
              "faster)")
    else:
        ta = 1000 * sum(f.seconds for f in after) / n
        out["detect_ms_default"] = ta
        print(f"detection ms/photo  : default {ta:.1f} (before: read from the gallery)")
    return out


if __name__ == "__main__":
    main()
