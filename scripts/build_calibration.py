"""Measure the reference calibration that ships with FaceDesk, from an LFW gallery.

    .venv/bin/facedesk import ../shared/data/lfw/images --db lfw.db
    .venv/bin/python scripts/build_calibration.py --db lfw.db

Every PERSON weighs the same (facedesk.app.rates.measure_persons): one photo of
every LFW person is drawn at random and every pair of two persons is taken once (an
impostor pair; about 16 million) and, for every person with several photos, one pair of
two of them (a genuine pair). With --rounds R, R such draws are added up (each pair of
persons then counts R times, with the same photos for persons with one photo, so the
figures' Wilson intervals would be too narrow: the default is one round). All pairs of
photos instead would let George W Bush's 530 photos weigh 530 times as much as a person
with one, while a search counts persons. The histogram of the distances is written to
facedesk/data/calibration_lfw.json with the engine identity and provenance.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from facedesk.domain.rates import REFERENCE_RESOURCE, Calibration, measure_persons
from facedesk.store import Gallery

OUT = Path(__file__).resolve().parents[1] / "facedesk" / "data" / REFERENCE_RESOURCE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rounds", type=int, default=1,
                        help="draws of one photo per person (default 1: every pair of "
                             "persons once)")
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
                   f"(every person weighs the same: one pair of photos per pair of persons"
                   + (f", {args.rounds} draws)" if args.rounds > 1 else ")"),
            provenance={"gallery_id": g.gallery_id, "gallery_version": enc.version,
                        "faces": len(enc.face_ids), "script": "scripts/build_calibration.py"})
    before = Calibration.from_json(args.out.read_text()) if args.out.is_file() else None
    args.out.write_text(cal.to_json())
    print(f"{cal.impostor_pairs:,} impostor and {cal.genuine_pairs:,} genuine pairs in "
          f"{time.perf_counter() - t0:.1f} s -> {args.out}")
    for d in (0.4, 0.5, 0.55, 0.6):
        r = cal.reading(d)
        was = "" if before is None else \
            f"  (was {before.reading(d).fmr:.2e}, FNMR {before.fnmr(d):.3f})"
        print(f"  distance <= {d}: FMR {r.fmr:.2e} [{r.fmr_low:.2e}, {r.fmr_high:.2e}], "
              f"FNMR {cal.fnmr(d):.3f}{was}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
