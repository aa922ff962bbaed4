"""Import throughput: `facedesk import` against face_recognition's own command line tool.

Both tools encode the same fixed set of LFW photos with the same dlib build, and the
wall time of each command (process start, model loading and all) is measured R times,
alternating the two tools, for each number of processes N.

The photo set
    Every k-th file of the sorted list of all LFW files (person folders sorted by name,
    files sorted within each folder), k = total // COUNT, starting with the first file:
    with 13,233 files and COUNT = 400, k = 33, so files 0, 33, 66, ..., 13,167. This
    spreads the sample over the whole alphabet (the first 400 files in sorted order would
    be almost all people whose names start with "A"). The photos are copied into a
    temporary folder twice: `gallery/<person>/<file>` for FaceDesk (one folder per
    person) and `unknown/<file>` for face_recognition (a flat folder).

How face_recognition's CLI is made to encode the 400 photos
    `face_recognition --cpus N KNOWN_FOLDER UNKNOWN_FOLDER` encodes the known folder in
    the main process, one photo after another, whatever --cpus says; only the unknown
    folder is spread over N processes. So the 400 photos are the *unknown* folder, and the
    known folder holds a single photo (one that is not in the sample). That run encodes
    every face of the 400 photos on N processes (plus one known photo) and compares each
    with one known encoding, which costs nothing. With --also-known the script also times
    the other layout (400 photos as the known folder, one unknown photo), which is always
    single-process (measured once per run, with the smallest N).

Differences worth knowing when reading the ratio
    - face_recognition encodes every face it finds in a photo; FaceDesk encodes only the
      subject (largest face nearest the centre), and additionally stores 68 landmarks,
      quality figures, a JPEG crop and the SHA-256 of each photo in an SQLite gallery.
    - face_recognition encodes with 5-point landmarks (its default model="small"),
      FaceDesk with 68-point landmarks; both use dlib's HOG detector upsampled once
      (face_recognition's number_of_times_to_upsample=1, FaceDesk's --upsample 1) and
      no jittering (num_jitters=1 in face_recognition is a single pass in dlib).
    - With N > 1 FaceDesk sets OPENBLAS_NUM_THREADS=1 in its worker processes (unless it
      is already set); face_recognition leaves OpenBLAS at its default. Use --blas-threads
      to set the variable for both tools.

Example:
    .venv/bin/python benchmarks/import_vs_fr_cli.py --runs 3 --cpus 2 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw" / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

PROBE_DLIB = """
import importlib.util, json, subprocess, dlib
spec = importlib.util.find_spec('_dlib_pybind11')  # the compiled part of dlib
libs = ''
if spec is not None and spec.origin:
    try:
        libs = subprocess.run(['ldd', spec.origin], capture_output=True, text=True).stdout
    except OSError:
        pass
blas_libs = sorted({line.split()[0] for line in libs.splitlines()
                    if 'blas' in line.lower() or 'lapack' in line.lower()})
print(json.dumps({'version': dlib.__version__, 'file': dlib.__file__,
                  'blas': bool(getattr(dlib, 'DLIB_USE_BLAS', False)),
                  'lapack': bool(getattr(dlib, 'DLIB_USE_LAPACK', False)),
                  'avx': bool(getattr(dlib, 'USE_AVX_INSTRUCTIONS', False)),
                  'linked': blas_libs}))
"""


# --- the photo set -------------------------------------------------------------------------


def lfw_files(root: Path) -> list[Path]:
    """Every image under the person folders of `root`, folders and files sorted by name."""
    files: list[Path] = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        files.extend(sorted(f for f in person.iterdir()
                            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
    return files


def pick(files: list[Path], count: int) -> tuple[list[Path], Path]:
    """Every k-th file (k = len // count) from the first, and one file outside the sample
    (the one after the first pick) for face_recognition's one-photo folder."""
    if len(files) < count + 1:
        sys.exit(f"only {len(files)} photos found; need more than {count}")
    step = len(files) // count
    sample = [files[i * step] for i in range(count)]
    extra = files[1] if step > 1 else files[count]
    return sample, extra


def lay_out(sample: list[Path], extra: Path, work: Path) -> dict[str, Path]:
    dirs = {name: work / name for name in ("gallery", "unknown", "one_known", "one_unknown")}
    for d in dirs.values():
        d.mkdir()
    for f in sample:
        person = f.parent.name
        (dirs["gallery"] / person).mkdir(exist_ok=True)
        shutil.copyfile(f, dirs["gallery"] / person / f.name)
        shutil.copyfile(f, dirs["unknown"] / f.name)
    shutil.copyfile(extra, dirs["one_known"] / extra.name)
    shutil.copyfile(extra, dirs["one_unknown"] / extra.name)
    return dirs


# --- running the tools ---------------------------------------------------------------------


@dataclass
class Timing:
    seconds: float
    detail: dict[str, object]


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def time_facedesk(exe: str, dirs: dict[str, Path], work: Path, n: int,
                  env: dict[str, str], tag: str) -> Timing:
    db = work / f"gallery-{tag}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [exe, "import", str(dirs["gallery"]), "--db", str(db), "--workers", str(n),
           "--json", "--quiet"]
    seconds, out = run(cmd, env, work)
    summary = json.loads(out)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return Timing(seconds, {
        "imported": summary.get("imported"),
        "no_face": summary.get("no_face"),
        "multi_face": summary.get("multi_face"),
        "failed": summary.get("failed"),
        "internal_s": summary.get("elapsed_s"),
    })


def time_fr(exe: str, known: Path, unknown: Path, n: int, env: dict[str, str],
            work: Path) -> Timing:
    cmd = [exe, "--cpus", str(n), str(known), str(unknown)]
    seconds, out = run(cmd, env, work)
    lines = [line for line in out.splitlines() if "," in line]
    no_face = sum(1 for line in lines if line.endswith(",no_persons_found"))
    return Timing(seconds, {"result_lines": len(lines), "no_face_photos": no_face,
                            "faces": len(lines) - no_face})


# --- reporting -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def interpreter_of(exe: str) -> str | None:
    """The Python that runs a console script (from its #! line)."""
    try:
        first = Path(exe).read_bytes().split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return None
    return first[2:].strip().split()[0] if first.startswith("#!") else None


def dlib_info(exe: str) -> str:
    python = interpreter_of(exe)
    if python is None:
        return "unknown (not a Python console script)"
    proc = subprocess.run([python, "-c", PROBE_DLIB], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"unknown ({proc.stderr.strip().splitlines()[-1:]})"
    d = json.loads(proc.stdout)
    linked = ", ".join(d["linked"]) or "no BLAS library linked"
    return (f"dlib {d['version']} BLAS={'yes' if d['blas'] else 'no'} "
            f"LAPACK={'yes' if d['lapack'] else 'no'} AVX={'yes' if d['avx'] else 'no'} "
            f"({linked}) at {d['file']}")


def describe_machine(facedesk: str, fr: str, env: dict[str, str]) -> None:
    print(f"CPU        : {cpu_model()}")
    print(f"cores      : {os.cpu_count()} logical (sched affinity: {len(os.sched_getaffinity(0))})")
    print(f"load avg   : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"python     : {platform.python_version()} on {platform.platform()}")
    print(f"facedesk   : {facedesk}")
    print(f"  engine   : {dlib_info(facedesk)}")
    print(f"fr CLI     : {fr}")
    print(f"  engine   : {dlib_info(fr)}")
    blas = {k: env[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if k in env}
    print(f"BLAS env   : {blas or 'not set (library defaults)'}")


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
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW, help="LFW images folder")
    ap.add_argument("--count", type=int, default=400, help="photos in the sample")
    ap.add_argument("--runs", type=int, default=3, help="measurements per tool and N")
    ap.add_argument("--cpus", type=int, nargs="+", default=[2, 1],
                    help="process counts N to measure (facedesk --workers N, fr --cpus N)")
    ap.add_argument("--facedesk", default=default_facedesk(), help="facedesk executable")
    ap.add_argument("--fr-cli", default=default_fr_cli(),
                    help="face_recognition executable (default: on PATH, or /tmp/vfr/bin)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for both tools")
    ap.add_argument("--also-known", action="store_true",
                    help="also time face_recognition with the photos as the known folder")
    args = ap.parse_args()
    if not args.fr_cli:
        sys.exit("face_recognition CLI not found: pass --fr-cli PATH")

    env = dict(os.environ)
    if args.blas_threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            env[var] = str(args.blas_threads)

    describe_machine(args.facedesk, args.fr_cli, env)
    files = lfw_files(args.lfw)
    sample, extra = pick(files, args.count)
    step = len(files) // args.count
    print(f"photos     : {len(sample)} of {len(files)} (every k-th file of the sorted list, "
          f"k={step}, from {sample[0].name} to {sample[-1].name}); "
          f"{len({f.parent.name for f in sample})} persons; one-photo folder: {extra.name}")
    print(f"runs       : {args.runs} per tool and N, alternating which tool goes first")
    print()

    results: dict[tuple[str, int], list[Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="fd-bench-") as tmp:
        work = Path(tmp)
        dirs = lay_out(sample, extra, work)
        for r in range(args.runs):
            for n in args.cpus:
                jobs = [
                    ("facedesk", lambda n=n, r=r: time_facedesk(
                        args.facedesk, dirs, work, n, env, f"{n}-{r}")),
                    ("fr", lambda n=n: time_fr(
                        args.fr_cli, dirs["one_known"], dirs["unknown"], n, env, work)),
                ]
                if args.also_known and n == min(args.cpus):  # single-process whatever N is
                    jobs.append(("fr-known", lambda n=n: time_fr(
                        args.fr_cli, dirs["unknown"], dirs["one_unknown"], n, env, work)))
                if r % 2:
                    jobs.reverse()
                for name, job in jobs:
                    t = job()
                    results.setdefault((name, n), []).append(t)
                    print(f"run {r + 1} N={n} {name:9s} {t.seconds:7.2f} s  {t.detail}",
                          flush=True)

    print()
    print(f"{'tool':40s} {'N':>2s} {'median s':>9s} {'min s':>7s} {'max s':>7s} "
          f"{'photos/s':>9s}")
    labels = {"facedesk": "facedesk import --workers N",
              "fr": "face_recognition --cpus N (400 unknown)",
              "fr-known": "face_recognition (400 known, 1 proc)"}
    medians: dict[tuple[str, int], float] = {}
    for n in args.cpus:
        for name in ("facedesk", "fr", "fr-known"):
            times = [t.seconds for t in results.get((name, n), [])]
            if not times:
                continue
            med = medians[(name, n)] = statistics.median(times)
            print(f"{labels[name]:40s} {n:2d} {med:9.2f} {min(times):7.2f} {max(times):7.2f} "
                  f"{len(sample) / med:9.1f}")
    print()
    for n in args.cpus:
        fd, fr = medians[("facedesk", n)], medians[("fr", n)]
        internal = [t.detail["internal_s"] for t in results[("facedesk", n)]]
        med_internal = statistics.median(float(x) for x in internal if x is not None)
        print(f"N={n}: facedesk/face_recognition wall-time ratio {fd / fr:.2f} "
              f"(throughput ratio {fr / fd:.2f}x); facedesk's own elapsed_s median "
              f"{med_internal:.2f} s ({len(sample) / med_internal:.1f} photos/s)")
    print(f"load avg at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
