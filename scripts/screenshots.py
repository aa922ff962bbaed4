"""Take the README's screenshots from the running application on real LFW data.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Builds a gallery of LFW photos (through the import dialog, as an analyst would), drops
probes that are not in the gallery, searches, and saves a picture of each main screen.
The trainer view is shown on the public-domain Congress gallery (grouped by sex):
`--trainer-db` reuses an imported one, otherwise it is imported from
../shared/data/congress-2014/members.csv first. `--only trainer` takes just that one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget

from facedesk.core.faces import Box
from facedesk.core.importer import run_import
from facedesk.gui.app import make_app
from facedesk.gui.import_dialog import ImportDialog
from facedesk.gui.main_window import MainWindow
from facedesk.gui.trainer_view import TrainerView
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw" / "images"
CONGRESS = REPO.parent / "shared" / "data" / "congress-2014" / "members.csv"
#: probes: a held-out photo of a person in the gallery, one of a person who is not
PROBE_IN = ("Tony_Blair", 5)
PROBE_OUT = ("Arnold_Schwarzenegger", 0)


def wait(app: QApplication, cond: Callable[[], bool], timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the application did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def build_source(root: Path, persons: int) -> Path:
    """Up to 3 photos of the first `persons` LFW persons with 2+ photos (plus the probe
    person), as symlinks; plus two bad files, as a real folder has."""
    src = root / "booking-photos"
    chosen = [d for d in sorted(LFW.iterdir()) if len(list(d.glob("*.jpg"))) >= 2][:persons]
    chosen.append(LFW / PROBE_IN[0])
    for d in chosen:
        (src / d.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(d.glob("*.jpg"))[:3]:
            (src / d.name / f.name).symlink_to(f)
    (src / chosen[0].name / "scan_notes.jpg").write_text("not a photo")
    data = (sorted(chosen[1].glob("*.jpg"))[0]).read_bytes()
    (src / chosen[1].name / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return src


def load(app: QApplication, window: MainWindow, probe: Path) -> None:
    """Open a probe and wait until its faces are found."""
    window.load_probe(probe)
    wait(app, lambda: window.probe is not None and not window.busy_bar.isVisible())


def search(app: QApplication, window: MainWindow, probe: Path) -> None:
    """Open a probe, search its chosen face, and wait for the candidate list."""
    load(app, window, probe)
    window.search()
    wait(app, lambda: window.review is not None)


def shoot(widget: QWidget, out: Path, name: str) -> None:
    path = out / name
    widget.grab().save(str(path))
    print(f"saved {path}")


def trainer(app: QApplication, db: Path, out: Path) -> None:
    """The false-positive experiment on a labelled gallery, grouped by sex, at 0.6."""
    view = TrainerView(db)
    view.resize(1500, 1000)
    view.show()
    index = view.group_combo.findText("sex")
    if index >= 0:
        view.group_combo.setCurrentIndex(index)
    view.run_experiment()
    wait(app, lambda: view.result is not None and not view.running)
    view.set_threshold(0.6)
    settle(app, 0.5)
    print("trainer:", view.headline.text(), flush=True)
    shoot(view, out, "trainer.png")
    view.close()


def congress_gallery(work: Path) -> Path:
    """The Congress portraits imported with their metadata (name, sex, party...)."""
    db = work / "congress.db"
    with Gallery.open(db, create=True) as g:
        for event in run_import(g, None, manifest=CONGRESS):
            if event.phase == "finished":
                print(f"congress import: {event.counts.as_dict()}", flush=True)
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--persons", type=int, default=300)
    parser.add_argument("--trainer-db", type=Path,
                        help="a labelled gallery with a 'sex' column for the trainer view "
                             "(default: import the Congress portraits)")
    parser.add_argument("--only", choices=("all", "trainer"), default="all")
    args = parser.parse_args()
    if args.only == "all" and not LFW.is_dir():
        print(f"LFW not found at {LFW}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="facedesk-shots-"))
    app = make_app()
    try:
        # 0. the trainer view
        trainer(app, args.trainer_db or congress_gallery(work), args.out)
        if args.only == "trainer":
            return 0
        settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.resize(1600, 950)
        window.show()
        window.open_gallery(work / "lfw-sample.db", create=True)

        # 1. import through the dialog
        source = build_source(work, args.persons)
        dialog = window.import_dialog()
        assert isinstance(dialog, ImportDialog)
        dialog.folder_edit.setText(str(source))
        finals: list[object] = []
        dialog.imported.connect(finals.append)
        dialog.start()
        wait(app, lambda: bool(finals) or not dialog._running, timeout=900)
        print("import:", dialog.status_label.text(), flush=True)
        settle(app)
        shoot(dialog, args.out, "import-dialog.png")
        dialog.close()

        # 2. a probe of a person in the gallery: search, compare, candidates
        person, k = PROBE_IN
        search(app, window, sorted((LFW / person).glob("*.jpg"))[k])
        settle(app, 0.5)
        shoot(window, args.out, "workspace-search.png")

        window.compare.set_landmarks_visible(True)
        window.compare.set_mode("blend")
        settle(app)
        shoot(window.compare, args.out, "compare-blend-landmarks.png")
        window.compare.set_mode("side")
        window.compare.set_landmarks_visible(False)

        # 3. record a decision
        window.decision.decision_requested.emit(
            1, "possible_lead", "A. Analyst",
            "Hairline, eyebrows, nose and ear shape agree; no dissimilarity seen.")
        settle(app)
        shoot(window, args.out, "decision-recorded.png")

        # 4. blind review, a person who is NOT in the gallery (every candidate is wrong)
        window.review = None
        window.act_blind.setChecked(True)
        person, k = PROBE_OUT
        search(app, window, sorted((LFW / person).glob("*.jpg"))[k])
        rank = window.candidates.selected_rank()
        assert rank is not None and window.review is not None
        window.review.record_first_impression(rank, "different")
        window.candidates.refresh()
        window.candidates.select_rank(rank)
        settle(app, 0.5)
        shoot(window, args.out, "blind-review-not-in-gallery.png")

        # 5. a still with no detectable face: the hint, and a box drawn by hand
        window.review = None
        window.act_blind.setChecked(False)
        blank = work / "dark-still.png"
        Image.open(sorted((LFW / PROBE_IN[0]).glob("*.jpg"))[7]).convert("L").point(
            lambda v: v // 6).rotate(100).save(blank)
        load(app, window, blank)
        settle(app)
        if window.probe is not None and not window.probe.faces:
            window.probe_panel.box_drawn.emit(Box(70, 180, 180, 70))
            wait(app, lambda: window.probe_panel.selected_face() is not None, timeout=60)
        settle(app)
        shoot(window, args.out, "probe-no-face-drawn-box.png")

        # 6. the dark palette
        window.act_dark.setChecked(True)
        window.review = None
        person, k = PROBE_IN
        search(app, window, sorted((LFW / person).glob("*.jpg"))[k])
        settle(app, 0.5)
        shoot(window, args.out, "workspace-dark.png")
        window.review = None
        window.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
