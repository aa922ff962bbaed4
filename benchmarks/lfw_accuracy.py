"""LFW verification accuracy (all 6,000 pairs of pairs.txt, 10-fold protocol), before and
after each way of recovering the faces the default detector misses.

    .venv/bin/facedesk import ../shared/data/lfw/images --db lfw.db --no-recover
    .venv/bin/python benchmarks/lfw_accuracy.py --db lfw.db

The gallery gives the encodings of the default pipeline (HOG upsampled once, the photo's
subject). For the photos where that found no face, each step (HOG upsampled twice, the
CNN detector, the central region of the tightly cropped frame) is tried in turn, and the
accuracy is measured again after each. With several --db (e.g. one imported with
--jitters 9), each is measured the same way; --jitters must then say how the recovered
faces are encoded (as in that gallery).

Figures beside: dlib's published 99.38% (its own alignment and test code on LFW) and
face_recognition's 98.37% ± 0.57 measured here (HOG, first face, 63 pairs lost).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.evaluation import read_pairs, score_pairs, ten_fold
from facedesk.domain.faces import subject_index
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw"
PUBLISHED = (("dlib, published (own alignment and test code)", 0.9938),
             ("face_recognition measured here (HOG, first face; 63 pairs lost)", 0.9837))


def line(label: str, scores_enc: dict, pairs: list) -> str:
    folded = ten_fold(score_pairs(pairs, scores_enc))
    return (f"  {label:<44} {100 * folded.mean:6.2f}% ± {100 * folded.std:4.2f}   "
            f"lost {folded.lost_pairs:>3}   left out {100 * folded.mean_of('accuracy_found'):6.2f}%"
            f"   lost as 'different' "
            f"{100 * folded.mean_of('accuracy_lost_as_different'):6.2f}%")


def recover(engine, path: Path, step: str) -> tuple[np.ndarray | None, float]:
    t0 = time.perf_counter()
    image = imaging.load_image(imaging.read_file(path), name=str(path))
    boxes = analysis.detect_step(engine, image, step, DetectOptions())
    if not boxes:
        return None, time.perf_counter() - t0
    i = subject_index(boxes, image.width, image.height)
    face = analysis.describe(engine, image, [boxes[i]], detector=step)[0]
    return face.encoding, time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, action="append", required=True,
                        help="an LFW gallery (repeat for several)")
    parser.add_argument("--pairs", type=Path, default=LFW / "pairs.txt")
    parser.add_argument("--images", type=Path, default=LFW / "images")
    parser.add_argument("--steps", default="hog:2,cnn:0,frame",
                        help="recovery steps, tried in this order on photos still without "
                             "a face")
    parser.add_argument("--jitters", type=int, action="append",
                        help="per --db: extra re-samples when encoding recovered faces "
                             "(default 0)")
    args = parser.parse_args()
    pairs = read_pairs(args.pairs)
    root = Path(os.path.abspath(args.images))
    rels = sorted({x for p in pairs for x in (p.a, p.b)})
    steps = [analysis.check_step(s) for s in args.steps.split(",") if s]
    jitters = args.jitters or [0] * len(args.db)
    if len(jitters) != len(args.db):
        parser.error("give --jitters once per --db")
    print(f"LFW {args.pairs.name}: {len(pairs):,} pairs, {len(rels):,} photos, 10-fold "
          "protocol; accuracy counts a lost pair (no face) as an error")
    for label, acc in PUBLISHED:
        print(f"  {label:<70} {100 * acc:.2f}%")
    for db, jit in zip(args.db, jitters, strict=True):
        with Gallery.open(db) as g:
            stored = g.encodings_by_path([str(root / r) for r in rels])
            detectors = dict(g.conn.execute(
                "SELECT p.path, f.detector FROM photos p JOIN faces f ON f.photo_id = p.id"))
        missing = [r for r in rels if str(root / r) not in stored]
        if missing:
            print(f"{db}: {len(missing)} photos of the pairs are not in the gallery "
                  f"(e.g. {missing[0]}); import {args.images} first", file=sys.stderr)
            return 1
        enc = {r: stored[str(root / r)] for r in rels}
        recovered_in_gallery = sum(1 for r in rels
                                   if detectors.get(str(root / r), "hog:1") != "hog:1")
        print(f"\n{db} (encodings with {jit} extra jitters; {recovered_in_gallery} faces "
              "found by a fallback at import)")
        # the default detector only: drop faces a fallback found at import
        base = {r: (e if detectors.get(str(root / r), "hog:1") == "hog:1" else None)
                for r, e in enc.items()}
        print(line("HOG, upsample 1 (default detector only)", base, pairs))
        engine = EngineSpec(options={"jitters": jit}).create()
        current = dict(base)
        for step in steps:
            lost = [r for r, e in current.items() if e is None]
            found, times = 0, []
            for r in lost:
                e, dt = recover(engine, root / r, step)
                times.append(dt)
                if e is not None:
                    current[r] = e
                    found += 1
            ms = 1000 * float(np.median(times)) if times else 0.0
            print(line(f"+ {step}: {found} of {len(lost)} recovered", current, pairs)
                  + f"   {ms:.0f} ms/photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
