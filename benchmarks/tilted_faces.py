"""Faces tilted in the picture: does the probe's quality check find them, and does turning
the probe upright give the person's encoding back? (issue 15)

LFW photos (one per person, a seeded sample) are turned by each angle, and the face is
described in the box a person would draw around it (the upright box of its turned
corners), as `facedesk gui` does for a drawn box. Per angle: how often the quality panel
warns (tilt or landmark fit), the median distance of the drawn face's encoding to the
upright photo's (the baseline: what a search of it compares), the same after turning the
probe by the measured `upright_deg`, the median error of that measured turn, and the
median cost of describing the box with the fit check against describing it alone (the
baseline, same run).

Example:
    .venv/bin/python benchmarks/tilted_faces.py --persons 12
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from machine import describe as machine
from PIL import Image

from facedesk.domain import analysis, imaging, quality
from facedesk.engine.dlib_engine import DlibEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tilt import drawn_box

ANGLES = (0, 20, -20, 40, -40)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared/data/lfw/images")
    ap.add_argument("--persons", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    engine = DlibEngine()
    people = sorted(p for p in args.lfw.iterdir() if p.is_dir())
    random.seed(args.seed)
    files = [sorted(p.glob("*.jpg"))[0] for p in random.sample(people, args.persons)]
    opts = analysis.DetectOptions()
    rows: dict[int, dict[str, list[float]]] = {a: {"warned": [], "drawn": [], "turned": [],
                                                  "turn_error": [], "ms_fit": [],
                                                  "ms_plain": []} for a in ANGLES}
    for f in files:
        upright = imaging.load_image(f.read_bytes(), name=str(f))
        faces = analysis.all_faces(engine, upright, opts)
        if not faces:
            continue
        base = max(faces, key=lambda x: x.box.area)
        for angle in ANGLES:
            r = rows[angle]
            rgb = np.asarray(Image.fromarray(upright.rgb).rotate(angle, Image.BICUBIC))
            tilted = imaging.load_image(imaging.png_bytes(rgb))
            box = drawn_box(base.box, angle, upright.width, upright.height)
            t0 = time.perf_counter()
            plain = analysis.describe(engine, tilted, [box])[0]
            t1 = time.perf_counter()
            face = analysis.with_fit(engine, tilted, plain)
            t2 = time.perf_counter()
            r["ms_plain"].append((t1 - t0) * 1000)
            r["ms_fit"].append((t2 - t0) * 1000)
            warned = {c.figure for c in quality.check(face.quality) if not c.ok}
            r["warned"].append(float(bool(warned & {"roll_deg", "landmark_fit"})))
            r["drawn"].append(float(np.linalg.norm(face.encoding - base.encoding)))
            turn = face.quality.upright_deg
            if turn is None:
                continue
            r["turn_error"].append(abs(turn + angle))
            turned = imaging.load_image(imaging.png_bytes(imaging.rotated(tilted.rgb, turn)))
            again = analysis.all_faces(engine, turned, opts)
            if again:
                r["turned"].append(min(float(np.linalg.norm(a.encoding - base.encoding))
                                       for a in again))
    print("\n".join(machine()))
    print(f"{len(files)} LFW persons, seed {args.seed}; medians")
    print("angle  warned  dist(drawn)  dist(turned upright)  turn error  ms fit / plain")

    def med(v: list[float]) -> str:
        return f"{statistics.median(v):.3f}" if v else "-"

    for angle, r in rows.items():
        share = f"{sum(r['warned'])}/{len(r['warned'])}"
        err = f"{statistics.median(r['turn_error']):.1f}°" if r["turn_error"] else "-"
        ms = f"{med(r['ms_fit'])[:-2]} / {med(r['ms_plain'])[:-2]}"
        print(f"{angle:+4d}°  {share:>6}  {med(r['drawn']):>11}  {med(r['turned']):>20}  "
              f"{err:>10}  {ms}")


if __name__ == "__main__":
    main()
