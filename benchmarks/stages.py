"""Per-stage cost of importing a photo: read, decode, detect, landmarks, encode, describe
(quality figures and the display crop), store; FaceDesk's import pipeline against
face_recognition's own (the calls its command line tool makes for each photo), on the
same photos, one process, measured in the same run.

Photo sets: `lfw` (a fixed sample of LFW photos, 250 x 250) and `booking` (the same photos
as 600 x 750 booking-like photos); see benchmarks/import_photos.py.

FaceDesk configurations (--configs):
    before   the import's detection before the quick look: HOG upsample 1 on a copy at
             most 1024 px long, CNN fallback (DetectOptions(max_side=1024,
             fallbacks=("cnn:0",)))
    default  the import's detection now (importer.import_detect_options())
FaceDesk describes only the photo's subject (largest face nearest the centre) with 68
landmarks; face_recognition describes every face it finds with 5 landmarks (its default
model="small") and encodes with num_jitters=1 (one pass), after HOG upsample 1 on the
full photo.

Stages, per photo (ms): read = file bytes and SHA-256; decode = JPEG to RGB array;
detect = the detection (FaceDesk: quick look, primary, fallbacks as configured);
landmarks = the shape predictor on the face(s) to be encoded; encode = the 128-d
descriptor(s); describe = quality figures and JPEG display crop (FaceDesk only); store =
the photo's row and face in an SQLite gallery, committed 64 photos at a time (FaceDesk
only). face_recognition's stages run in its own Python (--fr-python, default the one of
the `face_recognition` command, or /tmp/vfr/bin/python).

Each configuration goes over the photo set --runs times (interleaved with the other
configurations); the table gives, for each stage, the median over runs of the mean
ms per photo (the means add up to the total, which is what throughput depends on) and
the median ms per photo over all photos and runs.

Set OPENBLAS_NUM_THREADS=1 (as the import's workers do) for figures that add up to
an import's throughput per core; the script sets it for both tools unless it is set.

Example:
    .venv/bin/python benchmarks/stages.py --count 200 --runs 3
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy / dlib load
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_photos as photos

from facedesk.app.importer import face_record, import_detect_options
from facedesk.app.sources import list_folder
from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DetectOptions
from facedesk.domain.faces import Face, RawFace, subject_index
from facedesk.engine.dlib_engine import DlibEngine
from facedesk.engine.spec import engine_id
from facedesk.store import Gallery, PhotoRecord

STAGES = ("read", "decode", "detect", "landmarks", "encode", "describe", "store")
CONFIGS = {
    "before": DetectOptions(upsample=1, max_side=1024, fallbacks=("cnn:0",)),
    "default": import_detect_options(),
}

# face_recognition's per-photo work, as its command line tool does it (test_image ->
# load_image_file, face_encodings = HOG upsample 1, 5-point landmarks, one pass)
FR_SCRIPT = r"""
import json, sys, time
import face_recognition as fr
from face_recognition import api
files = json.loads(sys.stdin.read())
enc = api.face_encoder
out = []
for f in files:
    t0 = time.perf_counter()
    with open(f, 'rb') as fh:
        fh.read()
    t1 = time.perf_counter()
    img = fr.load_image_file(f)
    t2 = time.perf_counter()
    rects = api._raw_face_locations(img, 1, 'hog')
    t3 = time.perf_counter()
    shapes = [api.pose_predictor_5_point(img, r) for r in rects]
    t4 = time.perf_counter()
    codes = [enc.compute_face_descriptor(img, s, 1) for s in shapes]
    t5 = time.perf_counter()
    out.append({'read': t1 - t0, 'decode': t2 - t1, 'detect': t3 - t2, 'landmarks': t4 - t3,
                'encode': t5 - t4, 'faces': len(codes)})
print(json.dumps(out))
"""


def run_facedesk(files: list[Path], options: DetectOptions, engine: DlibEngine,
                 gallery: Gallery, run_id: int, eng_id: str) -> list[dict[str, float]]:
    """One pass over the photos, FaceDesk's import pipeline cut into stages."""
    import dlib  # the engine's models, to time landmarks and encoding apart

    shape_model, encoder = engine._load_describers()
    items = {it.path: it for it in list_folder(files[0].parents[1], "folders", None).items}
    out: list[dict[str, float]] = []
    pending: list[PhotoRecord] = []
    for f in files:
        t0 = time.perf_counter()
        data = imaging.read_file(f)
        sha = imaging.sha256_bytes(data)
        t1 = time.perf_counter()
        image = imaging.load_image(data, name=f.name)
        t2 = time.perf_counter()
        boxes, step = analysis.find_faces(engine, image, options)
        t3 = time.perf_counter()
        face_rec = None
        t4 = t5 = t6 = t3
        if boxes:
            i = subject_index(boxes, image.width, image.height)
            b = boxes[i]
            shapes = dlib.full_object_detections()
            shapes.append(shape_model(image.rgb, dlib.rectangle(b.left, b.top, b.right,
                                                                 b.bottom)))
            t4 = time.perf_counter()
            descriptors = encoder.compute_face_descriptor(image.rgb, shapes, engine.jitters)
            t5 = time.perf_counter()
            # the rest of what analysis.describe does, from the same shape and descriptor
            raw = RawFace(box=b, landmarks=[(int(p.x), int(p.y)) for p in shapes[0].parts()],
                          encoding=np.asarray(descriptors[0], dtype=np.float32))
            face = Face(index=i, box=b, landmarks=raw.landmarks, encoding=raw.encoding,
                        quality=analysis.quality_of(image, raw),
                        crop_jpeg=analysis.display_crop(image, b), detector=step)
            face_rec = face_record(face, eng_id)
            t6 = time.perf_counter()
        item = items[f]
        pending.append(PhotoRecord(
            sha256=sha, path=str(f), size_bytes=len(data), width=image.width,
            height=image.height, format=image.format, person_id=item.person_id,
            person_name=item.person_name, metadata=item.metadata, faces_found=len(boxes),
            face=face_rec))
        if len(pending) >= 64 or f is files[-1]:
            gallery.add_photos(run_id, pending)
            pending.clear()
        t7 = time.perf_counter()
        out.append({"read": t1 - t0, "decode": t2 - t1, "detect": t3 - t2,
                    "landmarks": t4 - t3, "encode": t5 - t4, "describe": t6 - t5,
                    "store": t7 - t6, "faces": 1.0 if boxes else 0.0,
                    "found": float(len(boxes))})
    return out


def run_fr(python: str, files: list[Path]) -> list[dict[str, float]]:
    proc = subprocess.run([python, "-c", FR_SCRIPT], input=json.dumps([str(f) for f in files]),
                          capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        sys.exit(f"face_recognition stages failed:\n{proc.stderr[-2000:]}")
    rows: list[dict[str, float]] = json.loads(proc.stdout)
    for r in rows:  # the stages it does not have
        r["describe"] = r["store"] = 0.0
    return rows


def summarise(runs: list[list[dict[str, float]]]) -> dict[str, tuple[float, float]]:
    """stage -> (median over runs of the mean ms per photo, median ms per photo)."""
    out = {}
    for stage in (*STAGES, "total"):
        def value(row: dict[str, float], stage: str = stage) -> float:
            return sum(row[s] for s in STAGES) if stage == "total" else row[stage]
        means = [1000 * statistics.fmean(value(r) for r in run) for run in runs]
        per_photo = [1000 * value(r) for run in runs for r in run]
        out[stage] = (statistics.median(means), statistics.median(per_photo))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=photos.DEFAULT_LFW, help="LFW images folder")
    ap.add_argument("--count", type=int, default=200, help="photos in each set")
    ap.add_argument("--runs", type=int, default=3, help="passes over each set per tool")
    ap.add_argument("--sets", nargs="+", choices=photos.SETS, default=list(photos.SETS))
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                    help="FaceDesk detection configurations")
    ap.add_argument("--fr-python", default=photos.default_fr_python(),
                    help="the Python that has face_recognition (its CLI's interpreter)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    tools = {"facedesk": sys.executable}
    if args.fr_python:
        tools["fr"] = args.fr_python
    for line in photos.describe_machine(tools):
        print(line)
    all_files = photos.lfw_files(args.lfw)
    sample, extra = photos.pick(all_files, args.count)
    print(f"photos     : {len(sample)} per set (every {len(all_files) // args.count}-th LFW "
          f"file); runs: {args.runs} per tool, interleaved")
    for name in args.configs:
        o = CONFIGS[name]
        print(f"config {name:8s}: upsample {o.upsample}, max_side {o.max_side}, quick_side "
              f"{o.quick_side}, fallbacks {list(o.fallbacks)}")
    print()
    engine = DlibEngine()
    eng_id = engine_id(engine.identity())
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="fd-stages-") as tmp:
        work = Path(tmp)
        for kind in args.sets:
            dirs = photos.photo_set(kind, sample, extra, work)
            files = photos.set_files(dirs)
            flat = [dirs["unknown"] / f.name for f in files]
            results: dict[str, list[list[dict[str, float]]]] = {}
            for r in range(args.runs):
                for name in args.configs:
                    db = work / f"{kind}-{name}-{r}.db"
                    with Gallery.open(db, create=True) as g:
                        g.register_engine(eng_id, engine.identity())
                        run_id = g.start_run(str(dirs["gallery"]), "folders", {}, eng_id)
                        rows = run_facedesk(files, CONFIGS[name], engine, g, run_id, eng_id)
                    results.setdefault(name, []).append(rows)
                if args.fr_python:
                    results.setdefault("fr", []).append(run_fr(args.fr_python, flat))
                print(f"{kind}: run {r + 1} of {args.runs} done", flush=True)
            report[kind] = print_table(kind, results, args.configs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def print_table(kind: str, results: dict[str, list[list[dict[str, float]]]],
                configs: list[str]) -> dict[str, object]:
    sums = {name: summarise(runs) for name, runs in results.items()}
    cols = [*configs, *(["fr"] if "fr" in results else [])]
    print()
    print(f"== {kind}: ms per photo, median over runs of the mean (median per photo) ==")
    head = "".join(f"{c:>22s}" for c in cols)
    ratio_head = "".join(f"{'fr/' + c:>12s}" for c in configs) if "fr" in results else ""
    print(f"{'stage':10s}{head}{ratio_head}")
    for stage in (*STAGES, "total"):
        cells = "".join(f"{sums[c][stage][0]:12.1f} ({sums[c][stage][1]:6.1f})" for c in cols)
        ratios = ""
        if "fr" in results:
            for c in configs:
                mine = sums[c][stage][0]
                ratios += (f"{sums['fr'][stage][0] / mine:11.2f}x" if mine > 0.05
                           else f"{'-':>12s}")
        print(f"{stage:10s}{cells}{ratios}")
    faces = {c: statistics.fmean(r["faces"] for run in results[c] for r in run) for c in cols}
    found = {c: statistics.fmean(r.get("found", r["faces"]) for run in results[c] for r in run)
             for c in cols}
    print("faces encoded per photo: " + ", ".join(f"{c} {faces[c]:.3f}" for c in cols)
          + "; faces found per photo: " + ", ".join(f"{c} {found[c]:.3f}" for c in cols))
    return {c: {s: {"mean_ms": v[0], "median_ms": v[1]} for s, v in sums[c].items()}
            for c in cols}


if __name__ == "__main__":
    main()
