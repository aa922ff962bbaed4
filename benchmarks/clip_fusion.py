"""Does searching a face track with its fused template (the mean of the L2-normalised
encodings of its best frames) beat searching its best frame alone? Measured on clips
generated from LFW photos (tests/clipgen.py), with the real engine.

For each of --persons LFW persons with at least three photos: the gallery holds two of
their photos (plus one photo of each of --distractors other persons); a clip is made
from the third photo (not in the gallery): the person walks across a shop-like
background, in one of three conditions by turn: `clean` (face about 90-100 px, CRF 23),
`small+blur` (about 55-65 px, 3 px motion blur), `low bitrate` (CRF 38). The clip is
tracked with the default TrackOptions; the longest track is searched (exact nearest
person by closest photo) with

    still   the photo itself, as a still (what the clip was made from)
    best    the track's best frame by quality score
    fused   the fused template of the track's kept frames (3 by default; --best)

Printed: rank-1 rate and the median genuine distance (to the person's closest gallery
photo) for each, per condition and in all; the load average before and after.

    .venv/bin/python benchmarks/clip_fusion.py --persons 30 --distractors 150
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import clipgen  # noqa: E402

from facedesk.domain import analysis, clips  # noqa: E402
from facedesk.domain.imaging import load_image  # noqa: E402
from facedesk.engine.dlib_engine import DlibEngine  # noqa: E402

DATA = Path(os.environ.get("FACEDESK_TEST_DATA") or REPO.parent / "shared" / "data")
CONDITIONS = {
    "clean": {"size": (210, 230), "blur": 0, "crf": 23},
    "small+blur": {"size": (125, 145), "blur": 3, "crf": 23},
    "low bitrate": {"size": (200, 220), "blur": 0, "crf": 38},
}


def encode(engine: DlibEngine, path: Path) -> np.ndarray | None:
    face, _ = analysis.subject_face(engine, load_image(path), analysis.DetectOptions())
    return None if face is None else face.encoding.astype(np.float64)


def rank_and_distance(probe: np.ndarray, gallery: list[tuple[int, np.ndarray]],
                      person: int) -> tuple[int, float]:
    best: dict[int, float] = {}
    for pid, enc in gallery:
        d = float(np.linalg.norm(enc - probe))
        best[pid] = min(d, best.get(pid, 9.0))
    order = sorted(best, key=lambda p: (best[p], p))
    return order.index(person) + 1, best[person]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=30)
    ap.add_argument("--distractors", type=int, default=150)
    ap.add_argument("--best", type=int, default=clips.TrackOptions.best_per_track)
    args = ap.parse_args()
    lfw = DATA / "lfw" / "images"
    print(f"load before: {os.getloadavg()}")
    engine = DlibEngine()
    persons = [d for d in sorted(lfw.iterdir()) if len(list(d.iterdir())) >= 3]
    step = max(1, len(persons) // args.persons)
    chosen = persons[::step][:args.persons]
    singles = [d for d in sorted(lfw.iterdir()) if d not in chosen][::37][:args.distractors]
    gallery: list[tuple[int, np.ndarray]] = []
    for pid, d in enumerate(chosen):
        for photo in sorted(d.iterdir())[1:3]:
            enc = encode(engine, photo)
            if enc is not None:
                gallery.append((pid, enc))
    for k, d in enumerate(singles):
        enc = encode(engine, sorted(d.iterdir())[0])
        if enc is not None:
            gallery.append((10_000 + k, enc))
    rows: dict[str, dict[str, list[tuple[int, float]]]] = {
        c: {"still": [], "best": [], "fused": []} for c in CONDITIONS}
    options = clips.TrackOptions(best_per_track=args.best)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for pid, d in enumerate(chosen):
            cond = list(CONDITIONS)[pid % len(CONDITIONS)]
            c = CONDITIONS[cond]
            photo = sorted(d.iterdir())[0]
            still = encode(engine, photo)
            if still is None:
                continue
            spec = clipgen.walker((d.name, photo), crf=c["crf"], seed=pid)
            a = spec.appearances[0]
            spec = clipgen.ClipSpec(**{**spec.__dict__, "appearances": (
                clipgen.Appearance(a.person, a.photo, a.start, a.end, a.x0, a.y0, a.x1, a.y1,
                                   c["size"][0], c["size"][1], c["blur"]),)})
            path = Path(tmp) / f"{pid}.mp4"
            clipgen.render(spec, path)
            result = clips.run_tracks(engine, path, options)
            if not result.tracks:
                print(f"  {d.name} ({cond}): no track")
                continue
            track = max(result.tracks, key=lambda t: t.detections)
            rows[cond]["still"].append(rank_and_distance(still, gallery, pid))
            rows[cond]["best"].append(rank_and_distance(
                track.best[0].encoding.astype(np.float64), gallery, pid))
            rows[cond]["fused"].append(rank_and_distance(
                track.fused().astype(np.float64), gallery, pid))
    print(f"{len(chosen)} persons, gallery of {len(gallery)} faces "
          f"({len(chosen)} persons x 2 photos + {len(singles)} distractors); "
          f"kept frames per track {args.best}; {time.monotonic() - t0:.0f} s")
    print(f"{'condition':<12} {'n':>3}  {'rank-1 still/best/fused':>24}  "
          f"{'median genuine distance still/best/fused':>42}")
    every: dict[str, list[tuple[int, float]]] = {"still": [], "best": [], "fused": []}
    for cond, r in [*rows.items(), ("all", every)]:
        if cond != "all":
            for k in every:
                every[k] += r[k]
        n = len(r["still"])
        if not n:
            continue
        r1 = "/".join(f"{sum(1 for x in r[k] if x[0] == 1)}" for k in ("still", "best", "fused"))
        med = "/".join(f"{statistics.median(x[1] for x in r[k]):.3f}"
                       for k in ("still", "best", "fused"))
        print(f"{cond:<12} {n:>3}  {r1:>24}  {med:>42}")
    fused_closer = sum(1 for b, f in zip(every["best"], every["fused"], strict=True)
                       if f[1] < b[1])
    print(f"fused template closer to the person than the best frame in {fused_closer} of "
          f"{len(every['best'])} tracks")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
