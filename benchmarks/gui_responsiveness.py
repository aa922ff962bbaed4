"""Does the window ever wait? The real main window, offscreen, with a 5 ms heartbeat timer
on the GUI thread: the longest gap between two beats in a phase is the longest the window
stood still (did not repaint, did not take a click) in it.

Run (from a checkout, with the development environment):

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_responsiveness.py
    .venv/bin/python benchmarks/gui_responsiveness.py --faces 5000     # a quick run

Options: --faces N (default 100,000) --originals K (distinct original photos, default 10)
--megapixels M (each original's size, default 12: a ~5 MB JPEG decoded and hashed per
candidate) --import-photos P (photos the concurrent import writes, default 10,000) --repeat R
(each case R times: the worst and the median run's stall are shown)
--folder DIR (where the galleries are built once and kept) --only alone|import.

The gallery: N synthetic faces (benchmarks/synthetic.py's encodings, stored through the
store API under the fake engine's identity, tests/fakes.py), each photo's path one of K
large JPEG originals on disk (so browsing a candidate reads, decodes and hashes a real
file; its SHA-256 differs from the recorded one, so the pane warns, as it would); users
admin (password), ann (analyst, password) and sam (supervisor); a threshold that shows
every candidate (as tests/gui/conftest.py's show_every_candidate). The probe is a fake
engine photo; the window's engine is the fake engine (no dlib: the real engine's native
calls keep the GIL, see the README).

Phases, each from the action to the window showing its result:

0. idle: two seconds of nothing, the noise floor (a loaded machine's scheduling);
1. open: `open_gallery` on the N-face gallery (summary, the sign-in dialog);
2. sign in: ann's password typed in the sign-in dialog, the button clicked (Argon2);
   then, not measured, a case opened (through the app API, as the case dialog does);
3. search: the probe loaded (as a drop does), analysed, searched (the index of N faces
   loaded in the engine thread), recorded in the case, the candidate list shown;
4. browse: 10 candidates selected one after the other, each shown with its original;
5. decide: a possible lead recorded through the decision panel;
   then, not measured, sam confirms it (the two-person rule) through the app API;
6. case overview: the case overview dialog opened;
7. verify audit: the audit log dialog opened and its Verify clicked, until it says so
   (the synthetic photos are stored with their import's audit events, as an import logs
   them, so the log verifies: the path a real gallery takes);
8. lead sheet: the lead sheet (PDF and HTML) exported from the case overview.

All of it twice: alone, and while a `facedesk import` (the command's own entry point, in
a subprocess, with the fake engine; --workers 1) writes P photos into the same gallery.
Prints per phase the longest stall and the median gap between beats; the target is no
stall over 100 ms. With --why, a watcher thread samples every thread's stack whenever the
heartbeat is 40 ms late: "GUI: ..." is what the GUI thread was doing, "worker: ..." what
another thread of the window's process was doing (a worker running Python holds the GIL
the GUI thread needs; Qt calls keep it under PySide). The sign-in lines there come from
this script's own sign-ins between phases (not measured).

What it found, and where it went (facedesk/gui/tasks.py runs the moved work):
- record_search, decide, candidate_viewed, a candidate's details and the gallery
  watch's counts: on the gallery lane (a thread with its own connection), so
  an import's write lock (30 s busy timeout) is waited for there;
- Argon2 sign-in: on the gallery lane;
- the original photo (read, decoded, hashed) and the audit log's verification: in a worker
  process (in a thread their Python held the GIL: 150-400 ms stalls); the pixels are made
  screen-ready by numpy in a thread (Qt's conversions keep the GIL: 110 ms per 12 MP);
- the lead sheet PDF, audit export and purge: on the gallery lane;
- sqlite-utils' plugin loading (80 ms, the process's first gallery): at window start.
Still on the GUI thread (under 100 ms here): Gallery.open and its summary, the case
overview dialog's queries, the OS-account sign-in, the probe's pixmaps.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FACEDESK_WITNESS_SYSLOG", "off")

import numpy as np  # noqa: E402
import synthetic  # noqa: E402

HEARTBEAT_MS = 5
TARGET_MS = 100
PASSWORDS = {"admin": "kettle-Orbit-9731", "ann": "velvet-Harbor-4402",
             "sam": "copper-Meadow-5518"}
PHASES = ["idle", "open", "sign in", "search", "browse", "decide", "case overview", "verify audit",
          "lead sheet"]


# --- the gallery ---------------------------------------------------------------------------


def gui_conftest() -> Any:
    """tests/gui/conftest.py (its add_users and show_every_candidate), loaded by path."""
    spec = importlib.util.spec_from_file_location("gui_conftest",
                                                  REPO / "tests" / "gui" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gui_conftest"] = module
    spec.loader.exec_module(module)
    return module


def make_originals(folder: Path, count: int, megapixels: float) -> list[Path]:
    """`count` JPEG photos of about `megapixels` (noisy, so they are large files)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    paths = []
    for i in range(count):
        path = folder / f"original-{i}-{width}x{height}.jpg"
        if not path.is_file():
            rng = np.random.default_rng(i)
            small = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
            img = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
            noisy = np.asarray(img, dtype=np.int16) + rng.integers(-12, 12, (height, width, 3))
            Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(path, quality=92)
        paths.append(path)
    return paths


def fake_engine_records(faces: int, originals: list[Path], engine_id: str,
                        lo: int, hi: int, g: synthetic.SyntheticGallery,
                        crop: bytes) -> Iterator[Any]:
    from facedesk.store import FaceRecord, PhotoRecord

    landmarks = [(int(x), int(y)) for x, y in
                 np.random.default_rng(3).integers(200, 900, (68, 2))]
    for row in range(lo, hi):
        person = int(g.person_index[row])
        yield PhotoRecord(
            sha256=hashlib.sha256(f"gui-bench-{row}".encode()).hexdigest(),
            path=str(originals[row % len(originals)]), size_bytes=41_000, width=480,
            height=600, format="JPEG", person_id=f"B{person:08d}", person_name=None,
            metadata={"sex": "F" if person % 3 == 0 else "M"}, faces_found=1,
            face=FaceRecord(engine_id, (300, 900, 900, 300), landmarks, 600, 88.0, 150.0,
                            110.0, 0.0, g.matrix[row].astype("<f4").tobytes(), crop))


def build_gallery(folder: Path, faces: int, originals: list[Path]) -> Path:
    """The benchmark's gallery (built once per size and kept); a fresh copy per run."""
    from fakes import FakeEngine

    from facedesk.app import audit
    from facedesk.domain.faces import engine_id
    from facedesk.store import Gallery, RunCounts

    path = folder / f"gui-{faces}.db"
    meta = folder / f"gui-{faces}.json"
    want = {"faces": faces, "originals": [str(p) for p in originals], "format": 2}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == want:
        return path
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    print(f"building {path} ({faces:,} synthetic faces; once, then kept)...", flush=True)
    identity = FakeEngine().identity()
    eid = engine_id(identity)
    g = synthetic.gallery(faces)
    crop = synthetic.crop_jpeg(3900)
    conftest = gui_conftest()
    with Gallery.open(path, create=True) as gal:
        def logged(data: dict[str, Any]) -> Callable[[Any, dict[str, list[Any]]], None]:
            # each write with its audit event, as an import logs it, so that the audit
            # log verifies (its Verify takes the path a real gallery takes)
            return lambda conn, written: audit.append(conn, gal.gallery_id, "import_batch",
                                                      data, records=written)

        gal.register_engine(eid, identity, log=logged({"engine_id": eid, "engine_added": True}))
        run = gal.start_run("gui benchmark gallery", "manifest", {"faces": faces}, eid)
        for lo in range(0, faces, 20_000):
            hi = min(faces, lo + 20_000)
            gal.add_photos(run, fake_engine_records(faces, originals, eid, lo, hi, g, crop),
                           log=logged({"run_id": run, "photos": hi - lo, "faces": hi - lo}))
        gal.finish_run(run, "completed", RunCounts(total=faces, imported=faces))
        conftest.add_users(gal)
        conftest.show_every_candidate(gal)
        gal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    meta.write_text(json.dumps(want))
    return path


def import_photos(folder: Path, count: int) -> Path:
    """`count` fake-engine photos, one sub-folder per person (10 photos each)."""
    from fakes import one_face, save_png

    marker = folder / f".complete-{count}"
    if marker.is_file():
        return folder
    for i in range(count):
        person, variant = 1000 + i // 10, i % 10
        target = folder / f"person_{person}" / f"{variant}.png"
        if not target.is_file():
            save_png(one_face(person, variant), target)
    marker.write_text("")
    return folder


def import_child(db: str, source: str) -> None:
    """`facedesk import SOURCE --db DB --user admin` through the command's entry point,
    with the fake engine (the subprocess of the second run)."""
    from facedesk import cli
    from facedesk.cli import options
    from facedesk.engine.spec import EngineSpec

    def fake(detector: str, jitters: int) -> EngineSpec:
        return EngineSpec("fakes:FakeEngine")

    options.engine_spec = fake  # where the commands look it up (for the tests too)
    os.environ["FACEDESK_PASSWORD"] = PASSWORDS["admin"]
    sys.argv = ["facedesk", "import", source, "--db", db, "--user", "admin", "--quiet",
                "--workers", "1"]
    cli.main()


# --- the heartbeat and the phases ------------------------------------------------------------


class Heartbeat:
    """Beat times of a 5 ms precise timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.beats: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.beats.append(time.perf_counter()))

    def start(self) -> None:
        self.beats.append(time.perf_counter())
        self.timer.start()

    def gaps(self, start: float, end: float) -> list[float]:
        """Gaps (ms) between beats, of the beats from `start` to `end` (and the one after,
        which ends the gap the phase's end falls in)."""
        times = [t for t in self.beats if start <= t <= end]
        after = [t for t in self.beats if t > end][:1]
        before = [t for t in self.beats if t < start][-1:]
        times = before + times + after
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


#: where a thread waits for work (not what holds the GUI thread)
IDLE_FRAMES = {"get", "wait", "_wait_for_tstate_lock", "run", "select", "poll"}


class StallWatch:
    """With --why: a thread that looks at the GUI thread's stack whenever the heartbeat
    has not beaten for 40 ms, and counts where it stood (what holds the thread)."""

    def __init__(self, beat: Heartbeat) -> None:
        import threading
        import traceback

        self.beat = beat
        self.where: dict[str, int] = {}
        self.gui = threading.get_ident()
        self._stop = threading.Event()

        def watch() -> None:
            while not self._stop.wait(0.01):
                if self.beat.beats and time.perf_counter() - self.beat.beats[-1] > 0.04:
                    frames = sys._current_frames()
                    for ident, frame in frames.items():
                        if ident == threading.get_ident():
                            continue
                        stack = traceback.extract_stack(frame)
                        if ident != self.gui and stack[-1].name in IDLE_FRAMES:
                            continue  # a worker waiting for work
                        ours = [f for f in stack if "facedesk" in f.filename
                                and "gui_responsiveness" not in f.filename][-3:]
                        key = ("GUI: " if ident == self.gui else "worker: ") + " <- ".join(
                            f"{Path(f.filename).name}:{f.lineno} {f.name}"
                            for f in reversed(ours or stack[-2:]))
                        self.where[key] = self.where.get(key, 0) + 1

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def report(self) -> None:
        print("  where the threads stood during stalls (10 ms samples; a worker holding the "
              "GIL stops the GUI thread too):")
        for key, n in sorted(self.where.items(), key=lambda kv: -kv[1])[:20]:
            print(f"    {n * 10:>6} ms  {key}")


def wait_until(app: Any, predicate: Callable[[], bool], timeout: float = 300.0) -> None:
    """Let the event loop run (as the user would wait) until `predicate()`."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.001)


def run_once(db: Path, probe: Path, work: Path, label: str,
             why: bool = False) -> dict[str, tuple[float, float]]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from facedesk.app import accounts, cases
    from facedesk.engine.spec import EngineSpec
    from facedesk.gui.admin import AuditLogDialog, CaseOverviewDialog
    from facedesk.gui.app import make_app
    from facedesk.gui.main_window import MainWindow
    from facedesk.gui.session_dialogs import SignInDialog
    from facedesk.gui.tasks import tasks

    app = make_app()
    assert isinstance(app, QApplication)
    settings = QSettings(str(work / f"settings-{label}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=EngineSpec("fakes:FakeEngine"))
    window.resize(1500, 900)
    window.show()
    beat = Heartbeat()
    spans: dict[str, tuple[float, float]] = {}

    def settled() -> bool:
        return tasks().idle(window) and not window.busy_bar.isVisible()

    def idle(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    @contextlib.contextmanager
    def phase(name: str) -> Iterator[None]:
        idle(0.03)
        start = time.perf_counter()
        yield
        spans[name] = (start, time.perf_counter())
        idle(0.03)  # the beat that ends the phase's last gap

    wait_until(app, lambda: window.isVisible())
    beat.start()
    watch = StallWatch(beat) if why else None
    for _ in range(20):  # the window shown and settled before the first phase
        app.processEvents()
        time.sleep(0.005)

    with phase("idle"):  # nothing to do: what the machine's load alone costs
        idle(2.0)
    with phase("open"):
        window.open_gallery(db)
        wait_until(app, lambda: isinstance(window.sign_in_dialog, SignInDialog))
        wait_until(app, settled)
    with phase("sign in"):
        dialog = window.sign_in_dialog
        assert isinstance(dialog, SignInDialog)
        dialog.select_user("ann")
        dialog.password_edit.setText(PASSWORDS["ann"])
        dialog.sign_in_button.click()
        wait_until(app, lambda: window.session is not None)
        wait_until(app, settled)
    assert window.session is not None
    case = cases.open_case(window.session, f"2026-{label}", accounts.DEFAULT_PURPOSES[0],
                           "gui benchmark")
    window.set_case(case)
    with phase("search"):
        window.load_probe(probe)
        wait_until(app, lambda: window.probe is not None and window.act_search.isEnabled())
        window.search()
        wait_until(app, lambda: window.review is not None)
        wait_until(app, settled)
    review = window.review
    assert review is not None and len(review.result.candidates) >= 10, \
        "the search gave fewer than 10 candidates"
    with phase("browse"):
        for rank in range(1, 11):
            window.candidates.select_rank(rank)
            wait_until(app, settled)
            wait_until(app, lambda: window.compare.face_item("candidate") is not None)
    window.candidates.select_rank(1)
    wait_until(app, settled)
    with phase("decide"):
        panel = window.decision
        panel.buttons["possible_lead"].click()
        panel.rationale_edit.setPlainText("Same hairline and ears (benchmark)")
        panel.record_button.click()
        wait_until(app, lambda: 1 in review.decided)
        wait_until(app, settled)
    decision_id = int(review.decided[1].id)
    assert window.gallery is not None
    supervisor = accounts.sign_in(window.gallery, "sam", PASSWORDS["sam"])
    cases.review_lead(supervisor, decision_id, "confirmed", "Compared independently")
    with phase("case overview"):
        overview = window.case_overview()
        assert isinstance(overview, CaseOverviewDialog)
        wait_until(app, lambda: overview.isVisible())
        wait_until(app, settled)
    overview.close()
    session = window.session
    window.set_session(accounts.sign_in(window.gallery, "admin", PASSWORDS["admin"]))
    with phase("verify audit"):
        audit_dialog = window.audit_dialog()
        assert isinstance(audit_dialog, AuditLogDialog)
        audit_dialog.verify_button.click()
        wait_until(app, lambda: bool(audit_dialog.verify_label.text()))
        wait_until(app, lambda: tasks().idle(audit_dialog))
    print(f"  [{label}] audit verify said: {audit_dialog.verify_label.text()[:70]}…", flush=True)
    audit_dialog.close()
    window.set_session(session)
    window.set_case(cases.get_case(window.gallery, case.id))
    overview = window.case_overview()
    assert isinstance(overview, CaseOverviewDialog)
    wait_until(app, settled)
    with phase("lead sheet"):
        # as the Export button does: written off the GUI thread
        overview.export_lead_sheet(decision_id, work / f"sheets-{label}", wait=False)
        wait_until(app, lambda: bool(getattr(overview, "_written", None))
                   or overview.error_label.isVisible())
        wait_until(app, lambda: tasks().idle(overview))
    assert getattr(overview, "_written", None), overview.error_label.text()
    overview.close()
    beat.timer.stop()
    if watch is not None:
        watch.stop()
        watch.report()
    window.review = None  # closing asks nothing
    window.close()
    app.processEvents()
    return {name: stalls(beat.gaps(*span)) for name, span in spans.items()}


def stalls(gaps: list[float]) -> tuple[float, float]:
    """(longest gap, median gap) in ms."""
    return (max(gaps), statistics.median(gaps)) if gaps else (0.0, 0.0)


def report(title: str, results: list[dict[str, tuple[float, float]]]) -> bool:
    """Per phase the longest stall (of every run: the worst, and the median run's) and
    the median gap between beats."""
    print(f"\n{title}")
    many = len(results) > 1
    print(f"  {'phase':<14} {'max stall':>10} {'median':>8}" +
          (f"   (max stall of the median run of {len(results)})" if many else ""))
    ok = True
    for name in PHASES:
        worst = max(r[name][0] for r in results)
        median = statistics.median(r[name][1] for r in results)
        flag = "" if worst <= TARGET_MS else f"  over {TARGET_MS} ms"
        ok = ok and (not flag or name == "idle")
        typical = f"   ({statistics.median(r[name][0] for r in results):.1f} ms)" if many else ""
        print(f"  {name:<14} {worst:>8.1f} ms {median:>6.1f} ms{typical}{flag}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--originals", type=int, default=10)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--import-photos", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run each case this many times (a shared machine's load varies).")
    parser.add_argument("--folder", type=Path,
                        default=Path(tempfile.gettempdir()) / "facedesk-bench" / "gui")
    parser.add_argument("--only", choices=["alone", "import"])
    parser.add_argument("--why", action="store_true",
                        help="Also say where the GUI thread stood during stalls.")
    parser.add_argument("--import-child", nargs=2, metavar=("DB", "SOURCE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.import_child:
        import_child(*args.import_child)
        return 0

    from fakes import one_face, save_png

    args.folder.mkdir(parents=True, exist_ok=True)
    witness = Path(tempfile.mkdtemp(prefix="facedesk-bench-witness-"))
    os.environ["FACEDESK_WITNESS_DIR"] = str(witness)
    t0 = time.perf_counter()
    originals = make_originals(args.folder / "originals", args.originals, args.megapixels)
    base = build_gallery(args.folder, args.faces, originals)
    source = import_photos(args.folder / f"import-{args.import_photos}", args.import_photos)
    print(f"prepared in {time.perf_counter() - t0:.0f} s: {args.faces:,} faces, "
          f"{len(originals)} originals of {originals[0].stat().st_size / 1e6:.1f} MB, "
          f"{args.import_photos:,} photos to import", flush=True)
    work = Path(tempfile.mkdtemp(prefix="facedesk-gui-bench-"))
    probe = save_png(one_face(2, 99, size=(640, 480)), work / "probe.png")
    ok = True
    for label in ("alone", "import"):
        if args.only and args.only != label:
            continue
        results, ended = [], 0
        for run in range(args.repeat):
            name = f"{label}-{run}"
            db = work / f"{name}.db"
            _copy(base, db)
            # every run's copy is a new gallery for the witness of the audit log's head: with
            # the last run's witness, this copy (without that run's events) reads as a log cut
            # short, which it is for that witness, and Verify would say FAILED. The folder
            # stays the same (the runner's worker process has it in its environment)
            for kept in witness.iterdir():
                kept.unlink()
            child = None
            if label == "import":
                child = subprocess.Popen(
                    [sys.executable, __file__, "--import-child", str(db), str(source)],
                    env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
                time.sleep(3)  # the import under way (engine created, writing)
                if child.poll() is not None:
                    raise SystemExit("the import subprocess ended before the window started")
            try:
                results.append(run_once(db, probe, work, name, args.why))
            finally:
                if child is not None:
                    ended += child.poll() is not None
                    child.terminate()
                    child.wait(30)
        title = (f"{args.faces:,} faces, alone" if label == "alone" else
                 f"{args.faces:,} faces, while `facedesk import` writes into the gallery"
                 + (f" (the import ended before the last phase in {ended} of "
                    f"{args.repeat} runs)" if ended else ""))
        ok = report(title, results) and ok
    print(f"\ntarget (no stall over {TARGET_MS} ms): {'met' if ok else 'NOT met'}; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ok else 1


def _copy(src: Path, dst: Path) -> None:
    """A consistent copy of the gallery file (SQLite's backup API)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(src)) as a, contextlib.closing(
            sqlite3.connect(dst)) as b:
        a.backup(b)
    os.chmod(dst, 0o600)


if __name__ == "__main__":
    sys.exit(main())
