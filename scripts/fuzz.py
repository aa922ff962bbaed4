"""Coverage-guided fuzzing of image loading and manifest parsing, for a fixed time.

    .venv/bin/pip install atheris            # or: pip install -e '.[fuzz]'
    .venv/bin/python scripts/fuzz.py --seconds 60             # both targets, 30 s each
    .venv/bin/python scripts/fuzz.py --target image --seconds 300
    .venv/bin/python scripts/fuzz.py --engine random          # without atheris

Targets (each input is one file's bytes):

- image: `imaging.load_image(data)`; it may only raise a FaceDeskError (unreadable,
  unsupported, too_large), and must return upright 8-bit RGB;
- manifest: the bytes written as a CSV file, then `sources.read_manifest` and
  `sources.manifest_preview` on it; they may only raise a FaceDeskError.

Any other exception is a bug: its first occurrence per (type, place) is saved under
`<workdir>/crashes/` and listed at the end. A hang (an input taking longer than
`--timeout` s) or a memory blow-up (more than `--rss-limit-mb`) stops libFuzzer, which
reports it. The seeds are the small files of the hostile test corpus (tests/hostile.py)
plus tiny images of every format and mode.

With `--engine atheris` (the default when atheris is installed) each target runs in a
libFuzzer child process, instrumented (facedesk and Pillow's Python code); with
`--engine random` a plain mutation fuzzer (bit flips, byte edits, splices, interesting
values) runs in this process. This script is not part of the test run.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("image", "manifest")
#: fuzzed images may claim up to this many pixels (the product allows 60 MP; decoding
#: that much per input would make the fuzzer slow without reaching other code)
FUZZ_MAX_PIXELS = 4_000_000
MAX_SEED_BYTES = 64 * 1024


# --- the targets ------------------------------------------------------------------------------


class Target:
    """Runs one input; returns None, or a (signature, description) of a bug."""

    def __init__(self, name: str, workdir: Path) -> None:
        from facedesk.app import sources
        from facedesk.domain import imaging
        from facedesk.errors import FaceDeskError

        self.name = name
        self.imaging = imaging
        self.sources = sources
        self.expected: type[BaseException] = FaceDeskError
        self.folder = workdir / "manifest_folder"
        (self.folder / "photos").mkdir(parents=True, exist_ok=True)
        (self.folder / "photos" / "a.jpg").write_bytes(b"x")
        (self.folder / "photos" / "b.jpg").write_bytes(b"x")
        self.manifest = self.folder / "fuzz.csv"

    def run(self, data: bytes) -> None:
        if self.name == "image":
            loaded = self.imaging.load_image(data, name="fuzz", max_pixels=FUZZ_MAX_PIXELS)
            rgb = loaded.rgb
            assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype.name == "uint8", \
                f"load_image returned {rgb.dtype} {rgb.shape}"
            assert rgb.shape[0] * rgb.shape[1] <= FUZZ_MAX_PIXELS, "pixel limit not kept"
        else:
            self.manifest.write_bytes(data)
            listing = self.sources.read_manifest(self.manifest)
            for item in listing.items:
                assert item.path.is_absolute() and item.person_id, item
            for p in listing.problems:
                assert p.reason and p.code, p
            self.sources.manifest_preview(self.manifest)

    def check(self, data: bytes) -> tuple[str, str] | None:
        try:
            self.run(data)
        except self.expected:
            return None
        except Exception as exc:  # any other exception is what we are looking for
            return signature(exc), "".join(traceback.format_exception(exc))
        return None


def signature(exc: BaseException) -> str:
    """type + the innermost frame in facedesk (or else the innermost frame at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "facedesk" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    inner = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"
    return f"{name} at {where} (raised in {inner})"


class Recorder:
    """Keeps the first input of every distinct bug, and a JSON line per bug."""

    def __init__(self, workdir: Path, target: str) -> None:
        self.crashes = workdir / "crashes"
        self.crashes.mkdir(parents=True, exist_ok=True)
        self.report = workdir / f"bugs-{target}.jsonl"
        self.seen: set[str] = set()
        self.target = target

    def record(self, data: bytes, sig: str, trace: str) -> None:
        if sig in self.seen:
            return
        self.seen.add(sig)
        name = f"{self.target}-{hashlib.sha1(data).hexdigest()[:12]}"
        (self.crashes / name).write_bytes(data)
        with self.report.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"target": self.target, "signature": sig, "input": name,
                                "trace": trace}) + "\n")
        print(f"\n*** new bug in {self.target}: {sig} (input saved as {name})",
              file=sys.stderr, flush=True)


# --- seeds ----------------------------------------------------------------------------------


def tiny_images() -> list[bytes]:
    from PIL import Image

    out = []
    base = Image.new("RGB", (6, 5), (200, 120, 40))
    base.putpixel((1, 1), (0, 255, 0))
    for mode, fmts in (("RGB", ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM",
                                "JPEG2000")),
                       ("L", ("JPEG", "PNG", "TIFF", "PPM")), ("LA", ("PNG",)),
                       ("RGBA", ("PNG", "TIFF", "WEBP")), ("P", ("PNG", "GIF", "BMP")),
                       ("1", ("PNG", "BMP", "TIFF")), ("CMYK", ("JPEG", "TIFF")),
                       ("I;16", ("PNG", "TIFF")), ("I", ("PNG", "TIFF")), ("F", ("TIFF",))):
        img = base.convert(mode) if mode not in ("I;16", "I", "F") else \
            base.convert("L").convert(mode)
        for fmt in fmts:
            buf = io.BytesIO()
            try:
                img.save(buf, fmt)
            except (OSError, ValueError, KeyError):
                continue
            out.append(buf.getvalue())
    buf = io.BytesIO()
    base.save(buf, "GIF", save_all=True, append_images=[base.convert("L").convert("RGB")])
    out.append(buf.getvalue())
    buf = io.BytesIO()
    base.save(buf, "JPEG", exif=Image.Exif().tobytes(), progressive=True)
    out.append(buf.getvalue())
    return out


def seeds(target: str, workdir: Path) -> list[bytes]:
    """Small files of the hostile corpus, plus tiny images / a few manifests."""
    sys.path.insert(0, str(REPO / "tests"))
    import hostile

    lfw = REPO.parent / "shared" / "data" / "lfw" / "images" / "Aaron_Peirsol" / \
        "Aaron_Peirsol_0001.jpg"
    photo = lfw
    if not lfw.is_file():
        from PIL import Image

        photo = workdir / "base.png"
        Image.new("RGB", (64, 64), (120, 90, 60)).save(photo)
    corpus_root = workdir / "hostile"
    if not corpus_root.exists():
        corpus_root.mkdir(parents=True)
        corpus = hostile.build_corpus(corpus_root, photo)
        hostile.restore_permissions(corpus)
    out: list[bytes] = []
    if target == "image":
        folder = corpus_root / "people"
        out += tiny_images()
    else:
        folder = corpus_root / "booking"
        out += [b"path,person_id,name\nphotos/a.jpg,P1,Ann\n",
                b"path;person_id\r\nphotos\\b.jpg;P2\r\n",
                b'path,person_id,notes\n"photos/a.jpg",P1,"x\ny"\n../x.jpg,P3,\n']
    for dirpath, _dirs, files in os.walk(folder):
        for name in sorted(files):
            p = Path(dirpath) / name
            if target == "manifest" and p.suffix not in (".csv", ".txt"):
                continue
            try:
                if p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_SEED_BYTES:
                    out.append(p.read_bytes())
            except OSError:
                continue
    return [s for s in out if s]


# --- atheris (libFuzzer) ----------------------------------------------------------------------


def atheris_child(target: str, seconds: int, workdir: Path, timeout: int,
                  rss_limit_mb: int) -> int:
    """Runs in the child process: never returns (libFuzzer exits)."""
    import atheris

    with atheris.instrument_imports(include=["facedesk", "PIL"]):
        import PIL.Image

        PIL.Image.init()  # every plugin, instrumented (load_image would import them later)
        runner = Target(target, workdir)
    recorder = Recorder(workdir, target)

    def one_input(data: bytes) -> None:
        found = runner.check(data)
        if found is not None:
            recorder.record(data, *found)

    seed_dir = workdir / f"seeds-{target}"
    if not seed_dir.exists():
        seed_dir.mkdir(parents=True)
        for s in seeds(target, workdir):
            (seed_dir / hashlib.sha1(s).hexdigest()).write_bytes(s)
    live = workdir / f"corpus-{target}"
    live.mkdir(exist_ok=True)
    argv = [sys.argv[0], f"-max_total_time={seconds}", f"-timeout={timeout}",
            f"-rss_limit_mb={rss_limit_mb}", "-max_len=262144", "-print_final_stats=1",
            f"-artifact_prefix={workdir}/crashes/", str(live), str(seed_dir)]
    (workdir / "crashes").mkdir(exist_ok=True)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0  # pragma: no cover - atheris.Fuzz() exits the process


def run_atheris(target: str, seconds: int, workdir: Path, timeout: int,
                rss_limit_mb: int) -> dict[str, object]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", target, "--seconds", str(seconds),
         "--workdir", str(workdir), "--timeout", str(timeout),
         "--rss-limit-mb", str(rss_limit_mb)],
        capture_output=True, text=True, errors="replace",
        timeout=seconds + 600)
    log = proc.stdout + proc.stderr
    (workdir / f"libfuzzer-{target}.log").write_text(log, encoding="utf-8")
    runs = re.findall(r"Done (\d+) runs in (\d+) second", log)
    execs = int(runs[-1][0]) if runs else max(
        [int(n) for n in re.findall(r"^#(\d+)\s", log, re.M)] or [0])
    stopped = None
    for pattern, what in ((r"ERROR: libFuzzer: timeout", "timeout (an input hung)"),
                          (r"out-of-memory", "out of memory"),
                          (r"ERROR: libFuzzer: deadly signal", "crash (deadly signal)"),
                          (r"Uncaught Python exception", "uncaught exception")):
        if re.search(pattern, log):
            stopped = what
    cov = re.findall(r"cov: (\d+)", log)
    return {"target": target, "engine": "atheris", "executions": execs,
            "seconds": round(time.monotonic() - started, 1),
            "coverage": int(cov[-1]) if cov else None, "exit_code": proc.returncode,
            "stopped_by": stopped, "log": str(workdir / f"libfuzzer-{target}.log")}


# --- a plain mutation fuzzer (no atheris) --------------------------------------------------------

INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    buf = bytearray(data or b"\x00")
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        op = rng.randrange(8)
        i = rng.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[i] = rng.randrange(256)
        elif op == 2:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        elif op == 3 and len(buf) > 1:
            del buf[i:i + rng.randrange(1, min(64, len(buf)))]
        elif op == 4 and len(buf) >= 4:
            v = rng.choice(INTERESTING)
            size = rng.choice((1, 2, 4))
            i = rng.randrange(max(1, len(buf) - size))
            buf[i:i + size] = (v & (256 ** size - 1)).to_bytes(size, rng.choice(("big",
                                                                                 "little")))
        elif op == 5 and buf:
            j = rng.randrange(len(buf))
            buf[i:i] = buf[j:j + rng.randrange(1, 256)]
        elif op == 6 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:i] + bytearray(other[cut:])
        elif op == 7:
            buf = buf[:i]
    return bytes(buf)


def run_random(target: str, seconds: int, workdir: Path, seed: int) -> dict[str, object]:
    runner = Target(target, workdir)
    recorder = Recorder(workdir, target)
    pool = seeds(target, workdir)
    rng = random.Random(seed)
    started = time.monotonic()
    execs = slowest = 0.0
    slow_input = b""
    while time.monotonic() - started < seconds:
        data = rng.choice(pool) if execs < len(pool) else mutate(rng.choice(pool), rng, pool)
        t0 = time.monotonic()
        found = runner.check(data)
        took = time.monotonic() - t0
        if took > slowest:
            slowest, slow_input = took, data
        if found is not None:
            recorder.record(data, *found)
        execs += 1
    if slow_input:
        (workdir / f"slowest-{target}").write_bytes(slow_input)
    return {"target": target, "engine": "random", "executions": int(execs),
            "seconds": round(time.monotonic() - started, 1),
            "slowest_input_s": round(slowest, 3)}


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--seconds", type=int, default=60,
                        help="total time budget, shared by the targets (default 60)")
    parser.add_argument("--engine", choices=("atheris", "random"), default=None,
                        help="default: atheris when installed, else random")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keeps the corpus, crashes and logs (default: a temp folder)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=1, help="random engine's seed")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # inside the libFuzzer process
        return atheris_child(args.child, args.seconds, args.workdir, args.timeout,
                             args.rss_limit_mb)

    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "random"
            print("atheris is not installed: using the plain mutation fuzzer",
                  file=sys.stderr)
    targets = TARGETS if args.target == "all" else (args.target,)
    per_target = max(1, args.seconds // len(targets))
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="facedesk-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for target in targets:
        print(f"fuzzing {target} with {engine} for {per_target} s ...", file=sys.stderr,
              flush=True)
        if engine == "atheris":
            res = run_atheris(target, per_target, workdir, args.timeout, args.rss_limit_mb)
        else:
            res = run_random(target, per_target, workdir, args.seed)
        report = workdir / f"bugs-{target}.jsonl"
        bugs = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.exists() else []
        res["bugs"] = [b["signature"] for b in bugs]
        results.append(res)
        print(json.dumps(res, indent=2))
        for b in bugs:
            print(f"\n--- {b['signature']} (input {workdir / 'crashes' / b['input']})\n"
                  f"{b['trace']}")
    total = sum(int(r["executions"]) for r in results)  # type: ignore[call-overload]
    n_bugs = sum(len(r["bugs"]) for r in results)  # type: ignore[arg-type]
    stopped = [r for r in results if r.get("stopped_by")]
    print(f"\n{total} executions in {sum(float(r['seconds']) for r in results):.0f} s "  # type: ignore[arg-type]
          f"({engine}); {n_bugs} distinct bug(s)"
          + "".join(f"; {r['target']} stopped by {r['stopped_by']}" for r in stopped))
    if keep or n_bugs or stopped:
        print(f"work folder: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if n_bugs or stopped else 0


if __name__ == "__main__":
    sys.exit(main())
