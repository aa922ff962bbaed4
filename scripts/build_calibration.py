"""Measure the reference calibration that ships with FaceDesk, from an LFW gallery.

    .venv/bin/facedesk import ../shared/data/lfw/images --db lfw.db
    .venv/bin/python scripts/build_calibration.py --db lfw.db

Every PERSON weighs the same (facedesk.core.calibration.measure_persons): each of
--rounds rounds draws one photo of every LFW person at random and takes every pair of two
persons once (an impostor pair; about 16 million per round) and, for every person with
several photos, one pair of two of them (a genuine pair). All pairs of photos instead
would let George W Bush's 530 photos weigh 530 times as much as a person with one, while
a search counts persons. The histogram of the distances is written to
facedesk/data/calibration_lfw.json with the engine identity and provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from facedesk.core.calibration import REFERENCE_RESOURCE, measure_persons
from facedesk.store import Gallery

OUT = Path(__file__).resolve().parents[1] / "facedesk" / "data" / REFERENCE_RESOURCE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rounds", type=int, default=10,
                        help="photos drawn per person (one per round)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with Gallery.open(args.db) as g:
        enc = g.load_encodings()
        if len(enc.engine_ids) != 1:
            print("the gallery must be encoded by exactly one engine", file=sys.stderr)
            return 1
        (eid,) = enc.engine_ids
        identity = g.engine_identity(eid) or {}
        persons = len(set(enc.person_pks.tolist()))
        t0 = time.perf_counter()
        cal = measure_persons(
            enc.matrix, enc.person_pks, engine_identity=identity, rounds=args.rounds,
            seed=args.seed,
            source=f"LFW deep-funneled: {len(enc.face_ids):,} faces of {persons:,} persons "
                   f"(every person weighs the same: {args.rounds} photos drawn per person)",
            provenance={"gallery_id": g.gallery_id, "gallery_version": enc.version,
                        "faces": len(enc.face_ids), "script": "scripts/build_calibration.py"})
    args.out.write_text(cal.to_json())
    print(f"{cal.impostor_pairs:,} impostor and {cal.genuine_pairs:,} genuine pairs in "
          f"{time.perf_counter() - t0:.1f} s -> {args.out}")
    for d in (0.4, 0.5, 0.55, 0.6):
        r = cal.reading(d)
        print(f"  distance <= {d}: FMR {r.fmr:.2e} [{r.fmr_low:.2e}, {r.fmr_high:.2e}], "
              f"FNMR {cal.fnmr(d):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
