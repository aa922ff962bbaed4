"""Take the README's screenshots from the running application on real LFW data.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Builds a gallery of LFW photos (through the import dialog, as an analyst would), adds its
users with the core API (an administrator; Ann Analyst, mapped to this OS account so the
window signs in without asking; Sam Supervisor), opens a case, drops probes that are not
in the gallery, searches, records a possible lead, and saves a picture of each main
screen; then the supervisor's second review of that lead and the case overview after it
was confirmed. The trainer view is shown on the public-domain Congress gallery (grouped
by sex): `--trainer-db` reuses an imported one, otherwise it is imported from
../shared/data/congress-2014/members.csv first. `--only trainer` takes just that one.
`--work DIR` keeps the galleries in DIR: a second run reuses them (and their users and
the case) and skips the import and its picture.
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

from facedesk.app import accounts, cases
from facedesk.app.accounts import Session
from facedesk.app.importer import run_import
from facedesk.domain.faces import Box
from facedesk.gui.admin import CaseOverviewDialog, SecondReviewDialog
from facedesk.gui.app import make_app
from facedesk.gui.import_dialog import ImportDialog
from facedesk.gui.main_window import MainWindow
from facedesk.gui.tasks import tasks
from facedesk.gui.trainer_view import TrainerView
from facedesk.store import Gallery

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw" / "images"
CONGRESS = REPO.parent / "shared" / "data" / "congress-2014" / "members.csv"
#: probes: a held-out photo of a person in the gallery, one of a person who is not
PROBE_IN = ("Tony_Blair", 5)
PROBE_OUT = ("John_Ashcroft", 0)
#: the users of the LFW gallery: id -> (full name, role, password); ann is also mapped to
#: the OS account the script runs as, so the window signs her in without a question
USERS = {"admin": ("Ada Admin", "administrator", "cedar-Screens-4711"),
         "ann": ("Ann Analyst", "analyst", "fjord-Screens-2290"),
         "sam": ("Sam Supervisor", "supervisor", "ember-Screens-8356")}
CASE = ("2026-0117", accounts.DEFAULT_PURPOSES[0], "Store robbery, 14 Nov")
LEAD_RATIONALE = ("Hairline, eyebrows, nose and ear shape agree; no dissimilarity seen.")
REVIEW_RATIONALE = ("Compared independently at full size: same eyebrow line, nose bridge "
                    "and ear lobes; nothing dissimilar. Worth investigating.")


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
    if PROBE_OUT[0] in {d.name for d in chosen}:
        raise SystemExit(f"{PROBE_OUT[0]} would be in the gallery: choose another probe "
                         "of a person who is not")
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


#: the screens the README shows the workspace on: a laptop, and a full-HD monitor
LAPTOP = (1366, 768)
FULL_HD = (1920, 1080)


def shoot(widget: QWidget, out: Path, name: str) -> None:
    """Save a picture of the widget as an optimised 256-colour PNG (a screenshot has few
    colours but the photos in it: this keeps the files at about a third)."""
    # the window's work runs off its thread (facedesk/gui/tasks.py): the picture waits
    # until what was asked of it (an original photo being read, a decision being stored)
    # is on the screen
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    wait(app, lambda: tasks().idle(widget.window()))
    settle(app, 0.1)
    path = out / name
    widget.grab().save(str(path))
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                            dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    print(f"saved {path} ({path.stat().st_size // 1024} KB)")


def add_users(gallery: Gallery) -> None:
    """The administrator, the analyst (mapped to this OS account) and the supervisor; a
    gallery that has users already (a re-run with --work) keeps them."""
    if accounts.has_users(gallery):
        return
    name, role, password = USERS["admin"]
    admin = accounts.create_first_administrator(gallery, "admin", name, password=password)
    me = accounts.os_account()
    for uid in ("ann", "sam"):
        name, role, password = USERS[uid]
        admin.add_user(uid, name, role, password=password,
                       os_account=me if uid == "ann" and me else None)


def open_the_case(session: Session) -> cases.Case:
    """The case the searches belong to (the open one of a re-run, if there is one)."""
    number, purpose, detail = CASE
    for case in cases.cases(session.gallery, open_only=True):
        if case.number == number:
            return case
    taken = {c.number for c in cases.cases(session.gallery)}
    while number in taken:  # closed by hand after an earlier run: a new number
        number = f"{number}-{len(taken)}"
    return cases.open_case(session, number, purpose, detail)


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
    parser.add_argument("--no-trainer", action="store_true",
                        help="keep the trainer view's picture (it imports the Congress "
                             "portraits, several minutes)")
    parser.add_argument("--work", type=Path,
                        help="keep the galleries in this folder and reuse them next time "
                             "(default: a temporary folder, removed afterwards)")
    args = parser.parse_args()
    if args.only == "all" and not LFW.is_dir():
        print(f"LFW not found at {LFW}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="facedesk-shots-"))
    work.mkdir(parents=True, exist_ok=True)
    app = make_app()
    try:
        # 0. the trainer view
        congress = work / "congress.db"
        if not args.no_trainer:
            trainer(app, args.trainer_db or (congress if congress.is_file() else
                                             congress_gallery(work)), args.out)
        if args.only == "trainer":
            return 0
        settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings)
        window.resize(*LAPTOP)
        window.act_blind.setChecked(False)  # as a re-run's saved settings may have left them
        window.act_dark.setChecked(False)
        window.show()
        db = work / "lfw-sample.db"
        built = db.is_file()
        window.open_gallery(db, create=True)
        if window.sign_in_dialog is not None:  # a new gallery asks for its first user
            window.sign_in_dialog.close()
        # its users first: every import is recorded under a user (Ann, the analyst, signed
        # in through the OS account)
        assert window.gallery is not None
        add_users(window.gallery)
        if window.session is None:
            window.sign_in()

        # 1. import through the dialog (a re-run's gallery is already built)
        if not built:
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

        # the users, and the analyst's case: the window signs Ann in through the OS account
        gallery = window.gallery
        assert gallery is not None
        add_users(gallery)
        if window.session is None:
            window.sign_in()
        if window.session is None or window.session.user_id != "ann":
            raise SystemExit("the window did not sign in as ann (is the OS account "
                             f"{accounts.os_account()!r} mapped to another user?)")
        if window.sign_in_dialog is not None:
            window.sign_in_dialog.close()
        case = open_the_case(window.session)
        assert window.set_case(case)
        print(f"signed in as {window.session.user.label}; {case.label}", flush=True)

        # 2. a probe of a person in the gallery: search, compare, candidates
        person, k = PROBE_IN
        search(app, window, sorted((LFW / person).glob("*.jpg"))[k])
        settle(app, 0.5)
        shoot(window, args.out, "workspace-search.png")
        window.resize(*FULL_HD)
        settle(app, 0.5)
        shoot(window, args.out, "workspace-search-1920.png")
        window.resize(*LAPTOP)
        settle(app, 0.3)

        window.compare.set_landmarks_visible(True)
        window.compare.set_mode("blend")
        settle(app)
        shoot(window.compare, args.out, "compare-blend-landmarks.png")
        window.compare.set_mode("side")
        window.compare.set_landmarks_visible(False)

        # 3. the analyst records a possible lead on the probe person's candidate (pending:
        # the two-person rule sends it to a supervisor)
        assert window.review is not None
        lead_rank = next((c.rank for c in window.review.result.candidates
                          if c.person_id == PROBE_IN[0]), None)
        if lead_rank is None:
            raise SystemExit(f"{PROBE_IN[0]} is not among the candidates shown")
        window.candidates.select_rank(lead_rank)
        window.decision.decision_requested.emit(lead_rank, "possible_lead", LEAD_RATIONALE)
        settle(app)
        lead = window.review.decided.get(lead_rank)
        assert lead is not None, window.decision.hint.text()
        print(f"lead {lead.id}: {lead.status}", flush=True)
        settle(app, 0.5)
        shoot(window, args.out, "decision-recorded.png")
        # the other candidates are someone else
        for c in window.review.result.candidates:
            if c.rank != lead_rank:
                window.candidates.select_rank(c.rank)
                window.decision.decision_requested.emit(
                    c.rank, "not_the_person",
                    "Different nose shape and jaw line; the ears do not agree.")
        settle(app)

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
        if any(c.person_id == person for c in window.review.result.candidates):
            print(f"WARNING: {person} is in the gallery", file=sys.stderr)
        window.decision.decision_requested.emit(
            rank, "not_the_person", "Different eyebrows, nose and mouth; looked different "
            "before the score was shown.")
        settle(app)

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
        window.resize(*FULL_HD)
        settle(app, 0.5)
        shoot(window, args.out, "workspace-dark-1920.png")
        window.resize(*LAPTOP)
        window.review = None
        window.act_dark.setChecked(False)

        # 7. the supervisor's second review of the analyst's possible lead
        name, _role, password = USERS["sam"]
        window.set_session(accounts.sign_in(gallery, "sam", password))
        review = window.second_review()
        assert isinstance(review, SecondReviewDialog)
        review.resize(*LAPTOP)
        review.select_decision(lead.id)
        review.verdict_confirm.setChecked(True)
        review.rationale_edit.setPlainText(REVIEW_RATIONALE)
        settle(app, 0.5)
        shoot(review, args.out, "second-review.png")
        review.submit()
        print(f"second review by {name}: {cases.get_decision(gallery, lead.id).status}",
              flush=True)
        review.close()

        # 8. the case overview: the lead confirmed by the supervisor, now a case result
        # (another user starts from a clean screen: the supervisor opens the case)
        assert window.set_case(cases.get_case(gallery, case.id))
        overview = window.case_overview()
        assert isinstance(overview, CaseOverviewDialog)
        overview.resize(LAPTOP[0], 600)
        overview.select_decision(lead.id)
        settle(app, 0.5)
        shoot(overview, args.out, "case-overview.png")
        overview.close()
        window.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
