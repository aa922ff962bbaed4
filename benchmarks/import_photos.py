"""The photo sets and the machine description shared by the import benchmarks
(benchmarks/import_throughput.py, benchmarks/stages.py, benchmarks/import_recall.py).

Two photo sets, both made from the same fixed sample of LFW photos:

lfw
    Every k-th file of the sorted list of all LFW files (person folders sorted by name,
    files sorted within each folder), k = total // COUNT, starting with the first file:
    with 13,233 files and COUNT = 400, k = 33, so files 0, 33, 66, ..., 13,167. This
    spreads the sample over the whole alphabet (the first 400 files in sorted order would
    be almost all people whose names start with "A"). 250 x 250 JPEGs, the face about
    110 px wide near the centre.

booking
    The same photos made to look like booking photos (mugshots): each LFW photo upscaled
    2.16 times (bicubic) to 540 x 540 and pasted on a plain light-grey 600 x 750 backdrop
    with margins (30 px left and right, 105 px top and bottom), saved as JPEG quality 90.
    The face is then about 240 px wide, 40 % of the width, as in a real booking photo.
    They are generated into a temporary folder by the benchmark; nothing is kept.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from machine import cpu_model
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "data" / "lfw" / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SETS = ("lfw", "booking")

#: the booking-like photo: canvas size, where the upscaled LFW photo goes, backdrop colour
BOOKING_SIZE = (600, 750)
BOOKING_FACE_SIDE = 540
BOOKING_OFFSET = (30, 105)
BOOKING_BACKDROP = (190, 192, 198)
BOOKING_QUALITY = 90


def lfw_files(root: Path) -> list[Path]:
    """Every image under the person folders of `root`, folders and files sorted by name."""
    if not root.is_dir():
        sys.exit(f"LFW images not found at {root} (pass --lfw)")
    files: list[Path] = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        files.extend(sorted(f for f in person.iterdir()
                            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
    return files


def pick(files: list[Path], count: int) -> tuple[list[Path], Path]:
    """Every k-th file (k = len // count) from the first, and one file outside the sample
    (the one after the first pick) for face_recognition's one-photo "known" folder."""
    if len(files) < count + 1:
        sys.exit(f"only {len(files)} photos found; need more than {count}")
    step = len(files) // count
    sample = [files[i * step] for i in range(count)]
    extra = files[1] if step > 1 else files[count]
    return sample, extra


def booking_photo(src: Path, dst: Path) -> None:
    """Write the booking-like version of the LFW photo `src` to `dst` (JPEG)."""
    with Image.open(src) as im:
        face = im.convert("RGB").resize((BOOKING_FACE_SIDE, BOOKING_FACE_SIDE),
                                        Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", BOOKING_SIZE, BOOKING_BACKDROP)
    canvas.paste(face, BOOKING_OFFSET)
    canvas.save(dst, "JPEG", quality=BOOKING_QUALITY)


def photo_set(kind: str, sample: list[Path], extra: Path, work: Path) -> dict[str, Path]:
    """Lay out one photo set under `work/kind`: `gallery/<person>/<file>` for FaceDesk (a
    folder per person), `unknown/<file>` for face_recognition (flat), and the one-photo
    folders `one_known` / `one_unknown`. LFW photos are copied, booking photos generated."""
    base = work / kind
    dirs = {name: base / name for name in ("gallery", "unknown", "one_known", "one_unknown")}
    for d in dirs.values():
        d.mkdir(parents=True)

    def put(src: Path, dst: Path) -> None:
        if kind == "lfw":
            shutil.copyfile(src, dst)
        else:
            booking_photo(src, dst)

    for f in sample:
        (dirs["gallery"] / f.parent.name).mkdir(exist_ok=True)
        put(f, dirs["gallery"] / f.parent.name / f.name)
        shutil.copyfile(dirs["gallery"] / f.parent.name / f.name, dirs["unknown"] / f.name)
    put(extra, dirs["one_known"] / extra.name)
    shutil.copyfile(dirs["one_known"] / extra.name, dirs["one_unknown"] / extra.name)
    return dirs


def set_files(dirs: dict[str, Path]) -> list[Path]:
    return sorted(p for p in dirs["gallery"].rglob("*") if p.is_file())


# --- the machine -----------------------------------------------------------------------------

PROBE_DLIB = r"""
import importlib.metadata, importlib.util, json, subprocess, sys, dlib
spec = importlib.util.find_spec('_dlib_pybind11')  # the compiled part of dlib
so = spec.origin if spec is not None else ''
libs = comment = ''
if so:
    try:
        libs = subprocess.run(['ldd', so], capture_output=True, text=True).stdout
        comment = subprocess.run(['readelf', '-p', '.comment', so], capture_output=True,
                                 text=True).stdout
    except OSError:
        pass
blas_libs = sorted({line.split()[0] for line in libs.splitlines()
                    if 'blas' in line.lower() or 'lapack' in line.lower()})
compilers = sorted({line.split(']', 1)[1].strip() for line in comment.splitlines()
                    if ']' in line and ('GCC' in line or 'clang' in line)})
dist = 'dlib'
try:
    importlib.metadata.version('dlib-bin')
    dist = 'dlib-bin'
except importlib.metadata.PackageNotFoundError:
    pass
build = {}
info = __import__('pathlib').Path(sys.prefix) / 'facedesk-dlib-build.json'
if info.is_file():
    build = json.loads(info.read_text())
print(json.dumps({'version': dlib.__version__, 'dist': dist,
                  'blas': bool(getattr(dlib, 'DLIB_USE_BLAS', False)),
                  'avx': bool(getattr(dlib, 'USE_AVX_INSTRUCTIONS', False)),
                  'linked': blas_libs, 'compiler': compilers, 'so': so, 'build': build}))
"""


def interpreter_of(exe: str) -> str | None:
    """The Python that runs a console script (from its #! line), or `exe` if it is one."""
    if Path(exe).name.startswith("python"):
        return exe
    try:
        first = Path(exe).read_bytes().split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return None
    return first[2:].strip().split()[0] if first.startswith("#!") else None


def dlib_info(python: str | None) -> dict[str, object]:
    if python is None:
        return {"error": "not a Python console script"}
    proc = subprocess.run([python, "-c", PROBE_DLIB], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    info: dict[str, object] = json.loads(proc.stdout)
    return info


def describe_dlib(info: dict[str, object]) -> str:
    if "error" in info:
        return f"unknown ({info['error']})"
    linked = ", ".join(map(str, info["linked"])) or "no BLAS library linked"  # type: ignore[call-overload]
    build = info.get("build") or {}
    flags = ""
    if isinstance(build, dict) and build:
        flags = f"; built by scripts/setup.sh with {build.get('flags', '?')}"
    compiler = ", ".join(map(str, info.get("compiler") or [])) or "compiler unknown"  # type: ignore[call-overload]
    return (f"{info['dist']} {info['version']} BLAS={'yes' if info['blas'] else 'no'} "
            f"AVX={'yes' if info['avx'] else 'no'} ({linked}; {compiler}{flags})")


def describe_machine(tools: dict[str, str | None]) -> list[str]:
    """Lines describing the machine and the dlib build of each tool's Python."""
    lines = [
        f"CPU        : {cpu_model()}",
        f"cores      : {os.cpu_count()} logical (sched affinity: "
        f"{len(os.sched_getaffinity(0))})",
        f"load avg   : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other jobs share "
        "this machine: figures are medians of several runs)",
        f"python     : {platform.python_version()} on {platform.platform()}",
    ]
    for name, python in tools.items():
        lines.append(f"{name:11s}: {python}")
        lines.append(f"  dlib     : {describe_dlib(dlib_info(python))}")
    blas = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
            if k in os.environ}
    lines.append(f"BLAS env   : {blas or 'not set (library defaults)'}")
    return lines


def default_fr_python() -> str | None:
    """The Python of face_recognition's command line tool: on PATH, or /tmp/vfr."""
    found = shutil.which("face_recognition")
    if found:
        return interpreter_of(found)
    fallback = Path("/tmp/vfr/bin/python")
    return str(fallback) if fallback.exists() else None
