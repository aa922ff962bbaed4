"""Jitter the probe, not the gallery? LFW pairs accuracy (10-fold protocol) when one photo
of each pair is re-encoded with dlib's jittering, as a search would encode its probe, and
the other keeps the gallery's encoding (imported without jitter, as by default).

    .venv/bin/facedesk import ../shared/data/lfw/images --db lfw.db
    .venv/bin/python benchmarks/probe_jitter.py --db lfw.db --jitters 2 [--jitters 4]

For each --jitters J, every photo of the pairs is re-encoded from its stored face box
(landmarks and encoding as the import computes them, with J jittered passes averaged),
and the accuracy is measured with:

- gallery / gallery: both photos as imported (today's default: no jitter anywhere);
- probe J / gallery: the pair's first photo jittered, the second as imported (and the
  other way round: which photo of a pair is the probe is arbitrary);
- J / J: both jittered, what a gallery imported with --jitters J gives;
- with --mirror, the same three with the encoding averaged over the aligned face chip
  and its mirror image (deterministic, two encoder passes).

It also times, on --time-photos photos, the whole import of one photo (detection,
landmarks, encoding) with and without jitter, interleaved, so that the throughput cost of
jittering the gallery is measured in the same run on the same machine. Medians.

`--per-kind N` takes the first N pairs of each kind of each fold (a quicker, noisier run);
pairs whose photos are not (yet) in the gallery are left out and counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facedesk.app.importer import import_detect_options
from facedesk.domain import analysis, imaging
from facedesk.domain.evaluation import PairSpec, read_pairs, score_pairs, ten_fold
from facedesk.domain.faces import Box
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw"


def accuracy(label: str, enc_a: dict, enc_b: dict, pairs: list[PairSpec]) -> str:
    """Pairs scored with the first photo read from enc_a and the second from enc_b."""
    merged = {}
    for p in pairs:
        merged[("a", p.a)] = enc_a.get(p.a)
        merged[("b", p.b)] = enc_b.get(p.b)
    keyed = [PairSpec(p.fold, p.same, ("a", p.a), ("b", p.b)) for p in pairs]  # type: ignore[arg-type]
    folded = ten_fold(score_pairs(keyed, merged))
    return (f"  {label:<40} {100 * folded.mean:6.2f}% ± {100 * folded.std:4.2f}  "
            f"(lost {folded.lost_pairs})")


def chip_and_mirror(engine: object, rgb: np.ndarray, b: Box) -> tuple[object, np.ndarray,
                                                                      np.ndarray]:
    """The face's aligned chip (150 px, as dlib's encoder takes it) and its mirror image,
    with the encoder that describes them."""
    import dlib

    shape_model, encoder = engine._load_describers()  # type: ignore[attr-defined]
    shape = shape_model(rgb, dlib.rectangle(b.left, b.top, b.right, b.bottom))
    chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
    return encoder, chip, np.ascontiguousarray(chip[:, ::-1])


def mirror_pass(engine: object, image: imaging.LoadedImage, b: Box) -> np.ndarray:
    """The extra work a mirror-averaged encoding adds to an import: the landmarks, the
    aligned chip and the encoder's pass over the chip's mirror image."""
    encoder, _, mirrored = chip_and_mirror(engine, image.rgb, b)
    return np.array(encoder.compute_face_descriptor(mirrored))  # type: ignore[attr-defined]


def reencode(label: str, rels: list[str], by_path: dict, root: Path,
             encode: Callable[[imaging.LoadedImage, Box], np.ndarray]) -> dict:
    """Every photo of `rels` encoded again from its stored face box with `encode` (None
    for a photo without a face), timed."""
    out: dict[str, np.ndarray | None] = {}
    t0 = time.perf_counter()
    for r in rels:
        face = by_path.get(str(root / r))
        out[r] = None if face is None else encode(
            imaging.load_image(imaging.read_file(root / r), name=r), face[0])
    print(f"{label}: {len(rels):,} photos re-encoded, "
          f"{1000 * (time.perf_counter() - t0) / max(1, len(rels)):.0f} ms each")
    return out


def mirror_encoding(engine: object, image: imaging.LoadedImage, b: Box) -> np.ndarray:
    """The mean of the encodings of the aligned face chip and of the chip's mirror image
    (two passes of the encoder, deterministic, unlike jitter)."""
    encoder, chip, mirrored = chip_and_mirror(engine, image.rgb, b)
    a = np.array(encoder.compute_face_descriptor(chip))  # type: ignore[attr-defined]
    m = np.array(encoder.compute_face_descriptor(mirrored))  # type: ignore[attr-defined]
    return ((a + m) / 2).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="an LFW gallery")
    parser.add_argument("--pairs", type=Path, default=LFW / "pairs.txt")
    parser.add_argument("--images", type=Path, default=LFW / "images")
    parser.add_argument("--jitters", type=int, action="append",
                        help="(repeat) default 2; --jitters 0 measures no jittered variant")
    parser.add_argument("--per-kind", type=int, default=0,
                        help="only the first N pairs of each kind of each fold")
    parser.add_argument("--time-photos", type=int, default=30)
    parser.add_argument("--mirror", action="store_true",
                        help="also the probe encoded as the mean of its face chip and the "
                             "chip's mirror image")
    args = parser.parse_args()
    jitters = [j for j in (args.jitters or [2]) if j > 0]
    pairs = read_pairs(args.pairs)
    if args.per_kind:
        per_fold: dict[tuple[int, bool], int] = {}
        chosen = []
        for p in pairs:
            k = (p.fold, p.same)
            if per_fold.get(k, 0) < args.per_kind:
                chosen.append(p)
                per_fold[k] = per_fold.get(k, 0) + 1
        pairs = chosen
    root = Path(os.path.abspath(args.images))
    with Gallery.open(args.db) as g:
        enc = g.load_encodings()
        details = g.face_details([int(f) for f in enc.face_ids])
        photos = {str(root / r) for p in pairs for r in (p.a, p.b)}
        stored_photos = set(g.encodings_by_path(sorted(photos)))
    by_path = {d.path: (Box(*d.box), enc.matrix[i])
               for i, d in enumerate(details[int(f)] for f in enc.face_ids)}
    complete = [p for p in pairs if str(root / p.a) in stored_photos
                and str(root / p.b) in stored_photos]
    print(f"{len(complete):,} of {len(pairs):,} pairs have both photos in {args.db}; "
          f"10-fold protocol, a pair without a face counts as an error")
    pairs = complete
    rels = sorted({r for p in pairs for r in (p.a, p.b)})
    stored = {r: by_path[str(root / r)][1] if str(root / r) in by_path else None
              for r in rels}
    print(accuracy("gallery / gallery (no jitter)", stored, stored, pairs))
    for j in jitters:
        engine = EngineSpec(options={"jitters": j}).create()
        jittered = reencode(f"jitters {j}", rels, by_path, root, lambda image, box, e=engine:
                            analysis.describe(e, image, [box])[0].encoding)
        print(accuracy(f"probe jittered {j} (first) / gallery", jittered, stored, pairs))
        print(accuracy(f"gallery / probe jittered {j} (second)", stored, jittered, pairs))
        print(accuracy(f"jittered {j} / jittered {j} (gallery too)", jittered, jittered,
                       pairs))
    if args.mirror:
        engine = EngineSpec().create()
        mirrored = reencode("mirror", rels, by_path, root,
                            lambda image, box: mirror_encoding(engine, image, box))
        print(accuracy("probe mirror-averaged (first) / gallery", mirrored, stored, pairs))
        print(accuracy("gallery / probe mirror-averaged (second)", stored, mirrored, pairs))
        print(accuracy("mirror-averaged / mirror-averaged", mirrored, mirrored, pairs))
    # the import's cost of one photo, with and without jitter (and, with --mirror, with the
    # mirror image's extra encoder pass), interleaved
    sample = rels[:: max(1, len(rels) // max(1, args.time_photos))][:args.time_photos]
    detect = import_detect_options()
    engines = {j: EngineSpec(options={"jitters": j}).create() for j in [0, *jitters]}
    times: dict[int | str, list[float]] = {j: [] for j in engines}
    if args.mirror:
        times["mirror"] = []
    for r in sample:
        image = imaging.load_image(imaging.read_file(root / r), name=r)
        for j, e in engines.items():
            t0 = time.perf_counter()
            face, _ = analysis.subject_face(e, image, detect)
            times[j].append(time.perf_counter() - t0)
            if j == 0 and args.mirror and face is not None:
                t0 = time.perf_counter()
                mirror_pass(e, image, face.box)
                times["mirror"].append(times[0][-1] + time.perf_counter() - t0)
    base = float(np.median(times[0]))
    for j, ts in times.items():
        med = float(np.median(ts))
        what = "mirror-averaged" if j == "mirror" else f"jitters {j}"
        print(f"import of one photo, {what}: {1000 * med:.0f} ms (median of "
              f"{len(ts)}); throughput {100 * base / med:.0f}% of the default")
    return 0

if __name__ == "__main__":
    sys.exit(main())
