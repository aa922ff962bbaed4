"""The investigator's workspace: probe | compare | candidates, decision underneath.

The window holds a gallery connection for quick reads (settings, permissions); the face
engine and the search index live in `EngineService`'s thread, and every app call that
writes, waits for a lock, hashes or decodes runs through the task runner
(`facedesk.gui.tasks`): on its gallery lane, with a connection of its own, or in its thread
pool. The window never waits: it shows it is busy and takes no second submit meanwhile.

Work is done by a signed-in user (`self.session`) in a case (`self.case`): opening a
gallery signs in (as the user mapped to this OS account, else through the sign-in dialog,
or by creating the first administrator of a gallery without users); every search is
recorded in the case as shown (`cases.record_search`) and its candidates are reviewed from
that record; viewing a candidate and every decision are audit events.
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolBar,
    QWidget,
)

from facedesk.app import accounts, cases, server
from facedesk.app import backup as backups
from facedesk.app.accounts import ACTION_WORDS, Session
from facedesk.app.cases import Case
from facedesk.app.review import DECISIONS, Review, ReviewError
from facedesk.app.search import DEFAULT_TOP_K, Probe, SearchResult, filter_choices
from facedesk.domain import clips, imaging, private
from facedesk.domain.clips import ClipProbe
from facedesk.domain.faces import Box, Face
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError
from facedesk.gui import resources
from facedesk.gui.about_dialog import AboutDialog
from facedesk.gui.calibration_dialog import CalibrationDialog
from facedesk.gui.candidates_panel import CandidatesPanel
from facedesk.gui.clip_panel import ClipPanel, probe_of, search_provenance
from facedesk.gui.compare_view import CompareView, Original, as_original, check_original
from facedesk.gui.decision_panel import DecisionPanel
from facedesk.gui.elided_label import ElidedLabel
from facedesk.gui.first_run import default_gallery_dir, show_first_run, unused_path
from facedesk.gui.formatting import plural
from facedesk.gui.import_dialog import ImportDialog
from facedesk.gui.probe_panel import ProbePanel
from facedesk.gui.server_dialog import ServerDialog
from facedesk.gui.session_dialogs import CaseDialog, FirstAdministratorDialog, SignInDialog
from facedesk.gui.tasks import Task, describe_error, rebind, run_task, tasks
from facedesk.gui.workers import EngineService
from facedesk.store import Gallery
from facedesk.store.db import DbError
from facedesk.store.postgres import gallery_location

if TYPE_CHECKING:
    from facedesk.gui.trainer_view import TrainerView

IMAGE_FILTER = ("Images and video clips (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp "
                "*.pgm *.ppm *.mp4 *.m4v *.mov *.avi *.mkv *.webm *.ts *.mts *.mpg *.mpeg "
                "*.wmv *.asf *.flv *.3gp *.264 *.h264 *.265 *.dav);;All files (*)")
GALLERY_FILTER = "FaceDesk gallery (*.db *.sqlite *.facedesk);;All files (*)"
MAX_RECENT = 8
#: how often the window looks whether another process (an import) changed the gallery
GALLERY_WATCH_MS = 2000
GALLERY_CHANGED = "The gallery changed:"
#: the least width of the probe and compare regions: with the candidate list's least
#: width they let the window fit a 1024-pixel screen (tests/gui/test_layout.py)
PROBE_MIN_WIDTH = 262
COMPARE_MIN_WIDTH = 416
CANDIDATES_MIN_WIDTH = 320
#: the widest the status bar's gallery line gets (its whole text is its tooltip), so
#: that messages have room left of it
GALLERY_LABEL_MAX_WIDTH = 280


def discard_question(review: Review, case: Case | None) -> str:
    """What closing a candidate list with undecided candidates means: the search itself is
    already recorded in the case (with its whole candidate list); what is lost is the
    chance to record decisions for those candidates from this screen."""
    n = len(review.undecided())
    head = f"{n} candidate{'s have' if n != 1 else ' has'} no recorded decision."
    if review.search_id is not None:
        where = f"case {case.number}" if case is not None else "its case"
        body = (f"The search (number {review.search_id}) and its candidate list are already "
                f"recorded in {where}; no decision will be recorded for "
                f"{'these candidates' if n != 1 else 'this candidate'}.")
    else:
        body = "Nothing about them will be saved."
    return f"{head} {body}\n\nDiscard this candidate list?"


def dark_palette() -> QPalette:
    p = QPalette()
    base, alt, text = QColor(37, 37, 38), QColor(45, 45, 48), QColor(220, 220, 220)
    p.setColor(QPalette.ColorRole.Window, alt)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, alt)
    p.setColor(QPalette.ColorRole.ToolTipBase, base)
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, alt)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Highlight, QColor(42, 130, 218))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(140, 140, 140))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


def _load_store_plugins() -> None:
    """sqlite-utils loads its plugins (importlib entry points: 80 ms) when the process
    opens its first gallery; the window has them loaded off the GUI thread as it starts."""
    from sqlite_utils.plugins import ensure_plugins_loaded

    ensure_plugins_loaded()


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, engine: EngineSpec | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.engine_spec = engine or EngineSpec()
        self.gallery: Gallery | None = None
        self.probe: Probe | None = None
        self.review: Review | None = None
        self.session: Session | None = None
        self.case: Case | None = None
        #: the open sign-in (or first-administrator) dialog, while one is open
        self.sign_in_dialog: SignInDialog | FirstAdministratorDialog | None = None
        #: the trainer view, while one is open (closed when the user or gallery changes)
        self.trainer: TrainerView | None = None
        #: the import dialog, while one is open (told who signs in meanwhile)
        self.importer: ImportDialog | None = None
        #: the clip window of the last clip dropped, and the probe taken from it (if the
        #: probe panel shows it)
        self.clip_panel: ClipPanel | None = None
        self._clip_probe: ClipProbe | None = None
        #: what was done to the probe on screen before it was analysed (a turn upright),
        #: recorded with its searches
        self._adjustments: list[dict[str, Any]] = []
        self._viewed: set[tuple[int, int]] = set()  # (search id, rank) logged as viewed
        self._pending: dict[int, str] = {}  # engine request id -> what it was for
        self._search_started = 0.0
        #: the window's app calls running through the task runner (shown as busy)
        self._working = 0
        self._engine_busy = False
        #: the candidate on screen (review, rank): an answer for another one is not shown
        self._shown: tuple[Review, int] | None = None
        self._temp_dir = tempfile.TemporaryDirectory(prefix="facedesk-probe-")

        self.setWindowTitle("FaceDesk")
        self.setAcceptDrops(True)
        self.engine = EngineService(self.engine_spec, self)
        self.engine.analyzed.connect(self._on_analyzed)
        self.engine.described.connect(self._on_described)
        self.engine.searched.connect(self._on_searched)
        self.engine.failed.connect(self._on_engine_failed)
        self.engine.busy.connect(self._on_busy)

        self.probe_panel = ProbePanel()
        self.compare = CompareView()
        self.candidates = CandidatesPanel()
        self.decision = DecisionPanel()
        self.probe_panel.face_selected.connect(self._on_face_selected)
        self.probe_panel.box_drawn.connect(self._on_box_drawn)
        self.probe_panel.redetect_requested.connect(self._on_redetect)
        self.probe_panel.open_requested.connect(self.open_probe_dialog)
        self.probe_panel.rotate_requested.connect(self.rotate_probe)
        self.candidates.candidate_selected.connect(self._on_candidate_selected)
        self.decision.decision_requested.connect(self._on_decision_requested)

        self.columns = QSplitter(Qt.Orientation.Horizontal)
        self.columns.setObjectName("columnsSplitter")
        self.columns.setChildrenCollapsible(False)
        # explicit least widths: the splitter then ignores what the panels' contents ask
        # for, so the regions keep their widths across searches, view switches and
        # selections (long texts in them elide or wrap instead)
        for w, least in ((self.probe_panel, PROBE_MIN_WIDTH),
                         (self.compare, COMPARE_MIN_WIDTH),
                         (self.candidates, CANDIDATES_MIN_WIDTH)):
            w.setMinimumWidth(least)
            self.columns.addWidget(w)
        # when the window grows or shrinks, the compare region takes the difference
        self.columns.setStretchFactor(0, 0)
        self.columns.setStretchFactor(1, 1)
        self.columns.setStretchFactor(2, 0)
        self.rows = QSplitter(Qt.Orientation.Vertical)
        self.rows.setObjectName("rowsSplitter")
        self.rows.addWidget(self.columns)
        self.rows.addWidget(self.decision)
        self.rows.setStretchFactor(0, 5)
        self.rows.setStretchFactor(1, 1)
        self.rows.setChildrenCollapsible(False)
        self.setCentralWidget(self.rows)

        self._build_actions()
        self._build_status_bar()
        self._columns_placed = False
        self._restore_state()
        self._update_actions()

        # another process (a `facedesk import`, a second window) may add to the open
        # gallery: keep the status bar's counts current (searches re-read the faces
        # themselves whenever the gallery's version changes)
        self._seen_data_version: int | None = None
        self._seen_faces: int | None = None
        self._summary_task: Task | None = None  # the counts being read
        self.gallery_watch = QTimer(self)
        self.gallery_watch.setInterval(GALLERY_WATCH_MS)
        self.gallery_watch.timeout.connect(self.check_gallery_changed)
        self.gallery_watch.start()
        run_task(self, _load_store_plugins)

    # -- construction -----------------------------------------------------------------------

    def _action(self, text: str, slot: Any, shortcut: str | QKeySequence.StandardKey | None,
                tip: str, checkable: bool = False) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setStatusTip(tip)
        act.setToolTip(f"{text.replace('&', '').rstrip('.…')} — {tip}")
        act.setCheckable(checkable)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(slot)
        return act

    def _build_actions(self) -> None:
        a = self._action
        self.act_new = a("&New gallery…", self.new_gallery_dialog, QKeySequence.StandardKey.New,
                         "Create an empty gallery file")
        self.act_open = a("&Open gallery…", self.open_gallery_dialog, "Ctrl+Shift+O",
                          "Open an existing gallery")
        self.act_connect = a("&Connect to a server…", self.connect_server_dialog, None,
                             "Open a gallery shared on a PostgreSQL server (its URL)")
        self.act_connect.setObjectName("connectServerAction")
        self.act_import = a("&Import photos…", self.import_dialog, "Ctrl+Shift+I",
                            "Import a folder or a CSV manifest into this gallery")
        self.act_info = a("Gallery &information", self.show_gallery_info, "Ctrl+I",
                          "Persons, photos, faces, last import and engine of this gallery")
        self.act_probe = a("Open &probe…", self.open_probe_dialog, QKeySequence.StandardKey.Open,
                           "Open a still to search (you can also drop it on the window)")
        self.act_paste = a("&Paste probe", self.paste_probe, QKeySequence.StandardKey.Paste,
                           "Use the image on the clipboard as the probe")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit, "Close FaceDesk")
        self.act_search = a("&Search", self.search, "Ctrl+Return",
                            "Search the chosen probe face against every gallery face")
        self.act_next = a("&Next candidate", self.candidates.select_next, "Ctrl+PgDown",
                          "Compare the next candidate")
        self.act_prev = a("P&revious candidate", self.candidates.select_previous, "Ctrl+PgUp",
                          "Compare the previous candidate")
        self.act_blind = a("&Blind review", self._on_blind_toggled, "Ctrl+B",
                           "Hide scores and ranks until a first impression of each candidate "
                           "is recorded (reduces automation bias)", checkable=True)
        self.act_zoom_in = a("Zoom &in", self.compare.zoom_in, QKeySequence.StandardKey.ZoomIn,
                             "Zoom both faces in")
        self.act_zoom_out = a("Zoom &out", self.compare.zoom_out,
                              QKeySequence.StandardKey.ZoomOut, "Zoom both faces out")
        self.act_fit = a("&Fit faces", self.compare.fit, "Ctrl+0", "Fit both faces to the view")
        self.act_landmarks = a("&Landmarks", self.compare.set_landmarks_visible, "Ctrl+L",
                               "Show the 68 landmarks on both faces", checkable=True)
        self.act_side = a("&Side by side", lambda: self.compare.set_mode("side"), "Ctrl+1",
                          "Probe and candidate next to each other")
        self.act_blend = a("B&lend", lambda: self.compare.set_mode("blend"), "Ctrl+2",
                           "Candidate over the probe, with adjustable opacity")
        self.act_flicker = a("F&licker", lambda: self.compare.set_mode("flicker"), "Ctrl+3",
                             "Alternate probe and candidate")
        self.act_dark = a("&Dark palette", self._apply_palette, "Ctrl+Shift+D",
                          "Switch between light and dark colours", checkable=True)
        self.act_about = a("&About FaceDesk", self.about, None, "Versions and principles")
        self.act_first_run = a("&Getting started…", lambda: show_first_run(self), None,
                               "What FaceDesk does and does not do; create or open a gallery")
        self.act_trainer = a("&Trainer: false-positive experiment…", self.open_trainer,
                             "Ctrl+Shift+T", "How often persons NOT in this gallery still get "
                             "candidates: per threshold, gallery size and group")
        self.act_trainer.setObjectName("trainerAction")
        self.act_calibration = a("&Calibration…", self.open_calibration, None,
                                 "Which measurement turns distances into false match rates; "
                                 "measure this gallery's own")
        self.act_calibration.setObjectName("calibrationAction")
        self.act_sign_in = a("Sign in as &another user…", self.switch_user, None,
                             "Sign in to this gallery as a different user")
        self.act_sign_in.setObjectName("signInAction")
        self.act_case = a("Open or &choose case…", self.case_dialog, "Ctrl+Shift+C",
                          "Open a new case or continue an open one: every search belongs "
                          "to a case")
        self.act_case.setObjectName("caseAction")
        self.act_case_overview = a("Case &overview…", self.case_overview, None,
                                   "This case's searches, decisions and second reviews; "
                                   "lead sheets")
        self.act_case_overview.setObjectName("caseOverviewAction")
        self.act_close_case = a("C&lose case…", self.close_case_dialog, None,
                                "Close this case: a closed case is read-only")
        self.act_close_case.setObjectName("closeCaseAction")
        self.act_second_review = a("&Second review…", self.second_review, None,
                                   "Confirm or overturn possible leads waiting for a "
                                   "supervisor's second review")
        self.act_second_review.setObjectName("secondReviewAction")
        self.act_users = a("&Users…", self.users_dialog, None,
                           "Add users; change roles, passwords and OS accounts")
        self.act_users.setObjectName("usersAction")
        self.act_admin_settings = a("&Settings…", self.admin_settings_dialog, None,
                                    "Threshold, number of candidates, two-person rule, "
                                    "blind second review, retention, case purposes")
        self.act_admin_settings.setObjectName("adminSettingsAction")
        self.act_backup = a("&Backup and restore…", self.backup_dialog, None,
                            "Copy this gallery, checked and logged, while others work; "
                            "restore a checked backup")
        self.act_backup.setObjectName("backupAction")
        self.act_audit = a("&Audit log…", self.audit_dialog, None,
                           "Verify and export the tamper-evident audit log")
        self.act_audit.setObjectName("auditAction")
        self.act_retention = a("&Retention…", self.retention_dialog, None,
                               "What the retention period purges now, and purge it")
        self.act_retention.setObjectName("retentionAction")

        mb = self.menuBar()
        m_file = mb.addMenu("&File")
        for act in (self.act_new, self.act_open, self.act_connect):
            m_file.addAction(act)
        self.recent_menu = m_file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m_file.addSeparator()
        for act in (self.act_import, self.act_info):
            m_file.addAction(act)
        m_file.addSeparator()
        m_file.addAction(self.act_sign_in)
        m_file.addSeparator()
        for act in (self.act_probe, self.act_paste):
            m_file.addAction(act)
        m_file.addSeparator()
        m_file.addAction(self.act_quit)
        self.case_menu = mb.addMenu("&Case")
        for act in (self.act_case, self.act_case_overview, self.act_close_case):
            self.case_menu.addAction(act)
        self.case_menu.addSeparator()
        self.case_menu.addAction(self.act_second_review)
        m_search = mb.addMenu("&Search")
        for act in (self.act_search, self.act_next, self.act_prev, self.act_blind):
            m_search.addAction(act)
        m_view = mb.addMenu("&View")
        for act in (self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_landmarks):
            m_view.addAction(act)
        m_view.addSeparator()
        for act in (self.act_side, self.act_blend, self.act_flicker):
            m_view.addAction(act)
        m_view.addSeparator()
        m_view.addAction(self.act_dark)
        m_accuracy = mb.addMenu("&Accuracy")
        m_accuracy.addAction(self.act_trainer)
        m_accuracy.addAction(self.act_calibration)
        self.admin_menu = mb.addMenu("Ad&ministration")
        self.admin_menu.setObjectName("administrationMenu")
        for act in (self.act_users, self.act_admin_settings, self.act_audit,
                    self.act_retention, self.act_backup):
            self.admin_menu.addAction(act)
        m_help = mb.addMenu("&Help")
        m_help.addAction(self.act_first_run)
        m_help.addAction(self.act_about)

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for act in (self.act_open, self.act_import, self.act_case, self.act_probe):
            tb.addAction(act)
        tb.addSeparator()
        tb.addWidget(QLabel(" Candidates: "))
        self.top_k = QSpinBox()
        self.top_k.setObjectName("topKSpin")
        self.top_k.setRange(1, 200)
        self.top_k.setValue(int(self.settings.value("top_k", DEFAULT_TOP_K)))
        self.top_k.setToolTip("How many candidate persons a search lists")
        tb.addWidget(self.top_k)
        for act in (self.act_search, self.act_blind, self.act_prev, self.act_next):
            tb.addAction(act)
        self.addToolBar(tb)
        for act, name in ((self.act_search, "searchButton"), (self.act_import, "importButton"),
                          (self.act_probe, "openProbeButton"), (self.act_open, "openGalleryButton"),
                          (self.act_case, "caseButton"),
                          (self.act_next, "nextCandidateButton"),
                          (self.act_prev, "previousCandidateButton")):
            tb.widgetForAction(act).setObjectName(name)
        # the compare view has its own mode and landmark buttons: keep the menu in step
        self.compare.landmarksChanged.connect(self._sync_landmarks_action)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setVisible(False)
        self.gallery_label = ElidedLabel("No gallery open", mode=Qt.TextElideMode.ElideRight)
        self.gallery_label.setObjectName("galleryLabel")
        self.gallery_label.setMaximumWidth(GALLERY_LABEL_MAX_WIDTH)
        self.gallery_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                         QSizePolicy.Policy.Preferred)
        self.user_label = QLabel("Not signed in")
        self.user_label.setObjectName("userLabel")
        self.case_label = QLabel("No case open")
        self.case_label.setObjectName("caseLabel")
        sb.addPermanentWidget(self.busy_bar)
        sb.addPermanentWidget(self.gallery_label)
        sb.addPermanentWidget(self.user_label)
        sb.addPermanentWidget(self.case_label)

    def _restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(self._default_size())
        self.columns.setSizes(self.default_column_sizes(self.width()))
        self.rows.setSizes([700, 200])
        for key, target in (("window/state", self), ("window/columns", self.columns),
                            ("window/rows", self.rows)):
            value = self.settings.value(key)
            if isinstance(value, QByteArray):
                target.restoreState(value)
        self.act_blind.setChecked(self.settings.value("blind_review", False, type=bool))
        self.act_dark.setChecked(self.settings.value("dark_palette", False, type=bool))
        self._apply_palette(self.act_dark.isChecked())

    def _default_size(self) -> QSize:
        """1500 x 900, or the screen's available area when that is smaller."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        size = QSize(1500, 900)
        if screen is not None:
            size = size.boundedTo(screen.availableSize())
        return size

    def default_column_sizes(self, width: int) -> list[int]:
        """Probe, compare and candidate widths for a window `width` wide: the candidate
        list as wide as its columns need (no sideways scrolling), when there is room."""
        handles = 2 * self.columns.handleWidth() + 4
        room = max(0, width - handles)
        want = self.candidates.table_width_needed() + 2 * self.candidates.layout_margin()
        cand = max(CANDIDATES_MIN_WIDTH,
                   min(want, room - PROBE_MIN_WIDTH - COMPARE_MIN_WIDTH))
        probe = max(PROBE_MIN_WIDTH, min(360, round(0.26 * (room - cand))))
        return [probe, max(COMPARE_MIN_WIDTH, room - cand - probe), cand]

    def _save_state(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/columns", self.columns.saveState())
        s.setValue("window/rows", self.rows.saveState())
        s.setValue("top_k", self.top_k.value())
        s.setValue("blind_review", self.act_blind.isChecked())
        s.setValue("dark_palette", self.act_dark.isChecked())
        s.sync()

    def _sync_landmarks_action(self, visible: bool) -> None:
        if self.act_landmarks.isChecked() != visible:
            self.act_landmarks.blockSignals(True)
            self.act_landmarks.setChecked(visible)
            self.act_landmarks.blockSignals(False)

    def _apply_palette(self, dark: bool) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.setPalette(dark_palette() if dark else app.style().standardPalette())
        resources.apply_theme(dark, self)  # the palette's style sheet, action icons recoloured

    def _update_actions(self) -> None:
        has_gallery = self.gallery is not None
        # a gallery with users takes imports from a signed-in user allowed to import; one
        # without users yet (a new gallery) from whoever opened it
        may_import = self.gallery is not None and (
            self.session.may("import") if self.session is not None
            else not accounts.has_users(self.gallery))
        self.act_import.setEnabled(may_import)
        self.act_import.setToolTip("Import photos into the gallery" if may_import or
                                   not has_gallery else
                                   "Import photos — sign in as an analyst or administrator "
                                   "to import")
        self.act_info.setEnabled(has_gallery)
        why_no_lab = self.lab_blocker()
        self.act_trainer.setEnabled(has_gallery and why_no_lab is None)
        self.act_trainer.setToolTip(
            "Trainer: false-positive experiment — " +
            ("how often persons NOT in this gallery still get candidates" if why_no_lab is None
             else why_no_lab))
        self.act_calibration.setEnabled(has_gallery)
        why_not = self.search_blocker()
        self.act_search.setEnabled(why_not is None)
        self.act_search.setToolTip(
            "Search — " + ("search the chosen probe face against every gallery face"
                           if why_not is None else why_not))
        session, case = self.session, self.case
        self.act_sign_in.setEnabled(has_gallery)
        self.act_case.setEnabled(session is not None)
        self.act_case_overview.setEnabled(session is not None and case is not None)
        self.act_close_case.setEnabled(session is not None and case is not None
                                       and case.is_open and session.may("close_case"))
        self.act_second_review.setEnabled(session is not None and session.may("review_lead"))
        admin = ((self.act_users, "manage_users"), (self.act_admin_settings, "change_settings"),
                 (self.act_audit, "export_audit"), (self.act_retention, "purge"),
                 (self.act_backup, "change_settings"))
        for act, action in admin:
            act.setEnabled(session is not None and session.may(action))
        self.admin_menu.menuAction().setVisible(any(act.isEnabled() for act, _ in admin))
        self.decision.set_blocked(self.decision_blocker())
        has_candidates = self.review is not None and bool(self.review.result.candidates)
        self.act_next.setEnabled(has_candidates)
        self.act_prev.setEnabled(has_candidates)

    def lab_blocker(self) -> str | None:
        """Why the accuracy lab (trainer view) cannot be opened now (None: it can). It
        shows the gallery's photos and names: on a gallery with users, to a signed-in user
        whose role may use it."""
        if self.gallery is None:
            return "open a gallery first"
        if self.session is None:
            if accounts.has_users(self.gallery):
                return "not signed in: sign in first (File > Sign in as another user…)"
            return None
        if not self.session.may("lab"):
            u = self.session.user
            return f"{u.display_name} ({u.role_label}) may not {ACTION_WORDS['lab']}"
        return None

    def search_blocker(self) -> str | None:
        """Why a search cannot be made now (None: it can)."""
        if self.gallery is None:
            return "open a gallery first"
        if self.session is None:
            return "not signed in: sign in first (File > Sign in as another user…)"
        if not self.session.may("search"):
            u = self.session.user
            return f"{u.display_name} ({u.role_label}) may not search"
        if self.case is None:
            return "no case open: open or choose a case first (Case > Open or choose case…)"
        if (closed := cases.closed_reason(self.case)) is not None:
            return closed
        if self.probe_panel.selected_face() is None:
            return "open a probe and choose a face first"
        if self.busy_bar.isVisible():
            return "working…"
        return None

    def decision_blocker(self) -> str | None:
        """Why a decision cannot be recorded now (None: it can)."""
        if self.session is None:
            return "Not signed in: sign in to record a decision."
        if not self.session.may("decide"):
            u = self.session.user
            return f"{u.display_name} ({u.role_label}) may not {ACTION_WORDS['decide']}."
        if self.case is not None and (closed := cases.closed_reason(self.case)) is not None:
            return f"{closed[0].upper()}{closed[1:]}."
        return None

    # -- who is working, on which case ------------------------------------------------------

    def sign_in(self) -> QDialog | None:
        """Sign in to the open gallery: as the user mapped to this OS account without a
        question, else through the sign-in dialog (or the first-administrator dialog of a
        gallery without users), shown window-modal. Returns the dialog, if one is shown."""
        gallery = self.gallery
        if gallery is None:
            return None
        if server.bound_user(gallery) is not None:  # on a server: the login is the sign-in
            try:
                self.set_session(server.sign_in_server(gallery))
                return None
            except FaceDeskError as exc:
                self.statusBar().showMessage(exc.message, 10000)
        if accounts.os_user(gallery) is not None:
            try:
                self.set_session(accounts.sign_in_os(gallery))
                return None
            except FaceDeskError as exc:
                self.statusBar().showMessage(exc.message, 10000)
        dialog: SignInDialog | FirstAdministratorDialog
        if accounts.has_users(gallery):
            dialog = SignInDialog(gallery, self)
        else:
            dialog = FirstAdministratorDialog(gallery, self)
        return self._show_sign_in(dialog)

    def switch_user(self) -> QDialog | None:
        """Sign in as another user (the current one stays signed in if this is
        cancelled). The candidate list under review is closed first."""
        if self.gallery is None or not self._may_discard_review():
            return None
        current = self.session.user_id if self.session is not None else None
        return self._show_sign_in(SignInDialog(self.gallery, self, current=current))

    def _show_sign_in(self, dialog: SignInDialog | FirstAdministratorDialog) -> QDialog:
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.close()
        self.sign_in_dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done(code: int) -> None:
            if self.sign_in_dialog is dialog:
                self.sign_in_dialog = None
            if code == QDialog.DialogCode.Accepted and dialog.session is not None:
                self.set_session(dialog.session)
            elif self.session is None:
                self.statusBar().showMessage(
                    "Not signed in: nothing can be searched (File > Sign in as another "
                    "user…)", 10000)

        dialog.finished.connect(done)
        dialog.open()
        return dialog

    def set_session(self, session: Session | None) -> None:
        """Work as this signed-in user from now on (None: nobody is signed in). Another
        user starts from a clean screen: no probe, box, candidate list or case of the
        previous one."""
        if self.session is not None and (session is None
                                         or session.user_id != self.session.user_id):
            self._clear_work()
        self.session = session
        if self.importer is not None and session is not None and session.may("import"):
            self.importer.set_user(session.user_id)
        if session is None:
            self.case = None
        elif self.case is not None:
            self.case = cases.get_case(session.gallery, self.case.id)
        self._apply_gallery_settings()
        self._update_session_labels()
        self._update_actions()
        if session is not None:
            self.statusBar().showMessage(
                f"Signed in as {session.user.display_name} ({session.user.role_label})" +
                ("" if self.case is not None or not session.may("search") else
                 ". Open or choose a case to search (Case > Open or choose case…)"), 10000)

    def _clear_work(self) -> None:
        """Close the candidate list, the probe (with any box drawn) and the case."""
        self._set_review(None)
        self.probe = None
        self._adjustments = []
        self._clip_probe = None
        self._pending.clear()  # an answer for the previous work is not shown
        self.probe_panel.set_probe(None)
        self.compare.clear()
        self.case = None
        if self.trainer is not None:
            self.trainer.close()

    def _apply_gallery_settings(self) -> None:
        """The administrator's top-K caps the number of candidates a search lists."""
        maximum = 200 if self.gallery is None else accounts.settings(self.gallery).top_k
        if self.top_k.maximum() != maximum:
            self.top_k.setMaximum(maximum)
        self.decision.set_checklist_required(
            self.gallery is not None and accounts.settings(self.gallery).checklist_required)
        self.top_k.setToolTip(f"How many candidate persons a search lists (at most "
                              f"{maximum}, set by the administrator)")

    def _update_session_labels(self) -> None:
        if self.session is None:
            self.user_label.setText("Not signed in")
        else:
            u = self.session.user
            self.user_label.setText(f"{u.display_name} ({u.role_label})")
        self.decision.set_reviewer("" if self.session is None else
                                   f"{self.session.user.display_name} ({self.session.user_id})")
        if self.case is None:
            self.case_label.setText("No case open")
        else:
            state = "" if self.case.is_open else " (closed)"
            training = " (training)" if self.case.training else ""
            self.case_label.setText(f"Case {self.case.number}{state}{training}")
            self.case_label.setToolTip(self.case.label)

    def case_dialog(self) -> CaseDialog | None:
        """Open a new case or choose one (window-modal, not blocking)."""
        if self.session is None:
            return None
        dialog = CaseDialog(self.session, self, current=self.case)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done(code: int) -> None:
            if code == QDialog.DialogCode.Accepted and dialog.case is not None:
                self.set_case(dialog.case)

        dialog.finished.connect(done)
        dialog.open()
        return dialog

    def set_case(self, case: Case | None) -> bool:
        """Work in this case from now on. A candidate list of another case is closed
        first (asking, when candidates have no decision)."""
        if self.review is not None and (case is None or self.case is None
                                        or case.id != self.case.id):
            if not self._may_discard_review():
                return False
            self._set_review(None)
        self.case = case
        self._update_session_labels()
        self._update_actions()
        if case is not None:
            self.statusBar().showMessage(f"Working in {case.label}", 8000)
        return True

    def _refresh_case(self) -> None:
        """Re-read the case (another dialog may have closed it) and the user."""
        if self.gallery is None or self.session is None:
            return
        if self.case is not None:
            self.case = cases.get_case(self.gallery, self.case.id)
        fresh = accounts.user(self.gallery, self.session.user_id)
        if fresh is None or not fresh.active:
            self.session = None
            self.case = None
            self.statusBar().showMessage("Your user was deactivated: not signed in", 10000)
        elif fresh != self.session.user:
            self.session = Session(self.gallery, fresh)
        self._apply_gallery_settings()
        self._update_session_labels()
        self._update_actions()

    def close_case_dialog(self) -> bool:
        """Ask for a closing note and close the case (read-only from then on)."""
        if self.session is None or self.case is None or not self.case.is_open:
            return False
        pending = cases.pending_leads(self.session.gallery, self.case.id)
        prompt = (f"Close case {self.case.number}? A closed case is read-only: no more "
                  "searches or decisions.\n")
        if pending:
            prompt += (f"\n{len(pending)} possible lead(s) of this case still wait for a "
                       "second review; closing leaves them unreviewed.\n")
        prompt += "\nClosing note:"
        note, ok = QInputDialog.getMultiLineText(self, "Close case", prompt, "")
        if not ok:
            return False
        return self.close_case(note)

    def close_case(self, note: str = "") -> bool:
        if self.session is None or self.case is None:
            return False
        try:
            self.case = cases.close_case(self.session, self.case, note)
        except FaceDeskError as exc:
            QMessageBox.warning(self, "Cannot close the case", exc.message)
            return False
        self._update_session_labels()
        self._update_actions()
        self.statusBar().showMessage(f"Case {self.case.number} closed", 8000)
        return True

    def _open_admin(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _code: self._refresh_case())
        dialog.open()
        return dialog

    def case_overview(self) -> QDialog | None:
        """The case's searches, decisions (with their status) and second reviews."""
        if self.session is None or self.case is None:
            return None
        from facedesk.gui.admin import CaseOverviewDialog
        dialog = CaseOverviewDialog(self.session, self.case, self, engine=self.engine_spec)
        dialog.case_closed.connect(lambda _case_id: self._refresh_case())
        return self._open_admin(dialog)

    def second_review(self) -> QDialog | None:
        """The supervisor's queue of possible leads waiting for a second review."""
        if self.session is None or not self.session.may("review_lead"):
            return None
        from facedesk.gui.admin import SecondReviewDialog
        dialog = SecondReviewDialog(self.session, self)
        dialog.reviewed.connect(self._on_lead_reviewed)
        return self._open_admin(dialog)

    def _on_lead_reviewed(self, decision_id: int) -> None:
        """A second review may concern the candidate list on screen: show its status."""
        if self.review is None or self.gallery is None:
            return
        for rank, row in list(self.review.decided.items()):
            if row.id == decision_id:
                self.review.decided[rank] = cases.get_decision(self.gallery, decision_id)
                self.candidates.refresh()
                if self.candidates.selected_rank() == rank:
                    self.decision.set_candidate(self.review, rank)

    def users_dialog(self) -> QDialog | None:
        if self.session is None or not self.session.may("manage_users"):
            return None
        from facedesk.gui.admin import UsersDialog
        return self._open_admin(UsersDialog(self.session, self))

    def admin_settings_dialog(self) -> QDialog | None:
        if self.session is None or not self.session.may("change_settings"):
            return None
        from facedesk.gui.admin import SettingsDialog
        return self._open_admin(SettingsDialog(self.session, self))

    def audit_dialog(self) -> QDialog | None:
        if self.session is None or not self.session.may("export_audit"):
            return None
        from facedesk.gui.admin import AuditLogDialog
        return self._open_admin(AuditLogDialog(self.session, self, wait=False))

    def retention_dialog(self) -> QDialog | None:
        if self.session is None or not self.session.may("purge"):
            return None
        from facedesk.gui.admin import RetentionDialog
        return self._open_admin(RetentionDialog(self.session, self))

    def backup_dialog(self) -> QDialog | None:
        if self.session is None or not self.session.may("change_settings"):
            return None
        if self.session.gallery.is_server:
            QMessageBox.information(self, "Backup and restore",
                                    backups.on_server(self.session.gallery).message)
            return None
        from facedesk.gui.backup_dialog import BackupDialog
        return self._open_admin(BackupDialog(self.session, release=self._release_gallery,
                                             reopen=self._reopen_gallery, parent=self))

    def _release_gallery(self) -> bool:
        """Let go of the open gallery (this window's and the engine thread's connections),
        for a restore to replace it; False if the user keeps an unfinished review."""
        if not self._may_discard_review():
            return False
        self._drop_session()
        self.engine.release_gallery()
        if self.gallery is not None:
            # after what the gallery lane was given before (a decision being written)
            tasks().release_gallery(self.gallery.open_location)
            self.gallery.close()
            self.gallery = None
        self.refresh_summary()
        self._update_session_labels()
        self._update_actions()
        return True

    def _drop_session(self) -> None:
        """Before another gallery (or a restored one): no sign-in, case or candidates."""
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.close()
        self._clear_work()
        self.session = None
        self._viewed.clear()  # search ids are per gallery

    def _reopen_gallery(self, path: Path) -> None:
        self.open_gallery(path)

    # -- galleries --------------------------------------------------------------------------

    def recent_galleries(self) -> list[str]:
        value = self.settings.value("recent_galleries", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [str(v) for v in items if v]

    def _remember(self, path: Path | str) -> None:
        recent = [str(path)] + [p for p in self.recent_galleries() if p != str(path)]
        self.settings.setValue("recent_galleries", recent[:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_galleries()
        if not recent:
            act = self.recent_menu.addAction("(none yet)")
            act.setEnabled(False)
            return
        for i, p in enumerate(recent, start=1):
            act = self.recent_menu.addAction(f"&{i} {p}")
            act.triggered.connect(
                lambda _=False, path=p: self.open_gallery(gallery_location(path)))

    def open_last_gallery(self) -> None:
        for p in self.recent_galleries():
            if Path(p).is_file():
                self.open_gallery(Path(p))
                return
        self.statusBar().showMessage(
            "Open a gallery (File > Open gallery…) or create one (File > New gallery…)")

    def new_gallery_dialog(self) -> None:
        start = unused_path(default_gallery_dir(), "gallery")
        start.parent.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getSaveFileName(self, "New gallery", str(start), GALLERY_FILTER)
        if path:
            target = Path(path)
            if target.exists():
                target.unlink()  # the dialog already asked before overwriting
            self.open_gallery(target, create=True)

    def open_gallery_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open gallery", "", GALLERY_FILTER)
        if path:
            self.open_gallery(Path(path))

    def connect_server_dialog(self) -> None:
        """A gallery on a PostgreSQL server; a connection that opens is saved (its URL
        without a password) for the next time."""
        value = self.settings.value("server_connections", [])
        saved = [value] if isinstance(value, str) else [str(v) for v in value or [] if v]
        dialog = ServerDialog(saved, self)
        if dialog.exec() and self.open_gallery(dialog.location()):
            url = dialog.saved_form()
            self.settings.setValue("server_connections",
                                   [url, *[u for u in saved if u != url][:MAX_RECENT - 1]])

    def open_gallery(self, path: Path | str, create: bool = False) -> bool:
        if not self._may_discard_review():
            return False
        try:
            gallery = Gallery.open(path, create=create)
        except FaceDeskError as exc:
            QMessageBox.warning(self, "Cannot open gallery", exc.message)
            return False
        self._drop_session()
        if self.gallery is not None:
            self.gallery.close()
        self.gallery = gallery
        self._seen_data_version = None
        self._remember(gallery.location)
        self.refresh_summary()
        self.load_filter_choices()
        self._apply_gallery_settings()
        self._update_session_labels()
        self.statusBar().showMessage(self._open_notice(gallery), 0 if gallery.read_only or
                                     (not gallery.is_server and private.exposed(path))
                                     else 5000)
        self._update_actions()
        self.sign_in()
        return True

    def load_filter_choices(self) -> None:
        """Fill the search filter's column and value pickers (read off the GUI thread)."""
        if self.gallery is not None:
            run_task(self, filter_choices, self.probe_panel.filter_bar.set_choices,
                     lambda _exc: None, gallery=self.gallery.open_location)

    @staticmethod
    def _open_notice(gallery: Gallery) -> str:
        """What the status line says on opening: a gallery this process cannot write, or
        one other users of this computer can read, is said so until the next message."""
        if gallery.read_only:
            return gallery.read_only_message("your sign-in and changes")
        if not gallery.is_server and private.exposed(gallery.path):
            return (f"Warning: {gallery.path} can be read by other users of this computer: "
                    f"make it private (chmod 600 {gallery.path}*)")
        return f"Opened {gallery.location}"

    def refresh_summary(self) -> None:
        self._show_summary(None if self.gallery is None else self.gallery.summary().as_dict())

    def _show_summary(self, s: dict[str, Any] | None) -> None:
        """The gallery's counts in the status bar and its name in the title."""
        if s is None:
            self.gallery_label.setText("No gallery open")
            self.setWindowTitle("FaceDesk")
            return
        self._seen_faces = s["faces"]
        # a "gallery changed" message of an earlier count is stale now (it said 761 faces
        # after the import had ended at 813)
        message = self.statusBar().currentMessage()
        if message.startswith(GALLERY_CHANGED) and f" {s['faces']:,} faces" not in message:
            self.statusBar().clearMessage()
        last = s["last_import"]
        last_text = f"last import {last['started_at'][:16].replace('T', ' ')}" if last else \
            "no import yet"
        engines = ", ".join(f"{(e['identity'] or {}).get('engine', '?')} "
                            f"{(e['identity'] or {}).get('dlib', '')}" for e in s["engines"])
        name = self.gallery.name if self.gallery is not None else Path(s["path"]).name
        self.gallery_label.setText(
            f"{name}: {s['persons']:,} persons · {s['photos']:,} photos · "
            f"{s['faces']:,} faces · {last_text}" + (f" · engine {engines}" if engines else ""))
        self.setWindowTitle(f"FaceDesk — {name}")

    def check_gallery_changed(self) -> None:
        """Refresh the counts when another connection has written to the gallery; the
        counts are read off the GUI thread (every tick of an import's run otherwise cost
        the window a count of every face)."""
        if self.gallery is None or self._summary_task is not None:
            return
        try:
            version = self.gallery.data_version()
        except (*DbError, FaceDeskError):
            return  # busy or briefly unreadable: look again at the next tick
        if version == self._seen_data_version:
            return
        before, path = self._seen_faces, self.gallery.open_location

        def counted(s: dict[str, Any]) -> None:
            self._summary_task = None
            if self.gallery is None or self.gallery.open_location != path:
                return
            self._seen_data_version = version
            self._show_summary(s)
            self._apply_gallery_settings()
            if before is not None and self._seen_faces is not None and \
                    self._seen_faces != before:
                self.load_filter_choices()
                self.statusBar().showMessage(
                    f"{GALLERY_CHANGED} {self._seen_faces:,} faces now; the next search "
                    "includes them", 8000)

        def not_counted(_exc: BaseException) -> None:
            self._summary_task = None  # busy or briefly unreadable: the next tick

        self._summary_task = run_task(self, lambda gallery: gallery.summary().as_dict(), counted,
                                      not_counted, gallery=path)

    def show_gallery_info(self) -> None:
        if self.gallery is None:
            return
        s = self.gallery.summary().as_dict()
        lines = [f"<b>{s['path']}</b>", "",
                 f"Persons: {s['persons']:,}", f"Photos: {s['photos']:,} "
                 f"(without a face: {s['photos_without_face']:,}; with several faces: "
                 f"{s['photos_with_several_faces']:,})", f"Faces: {s['faces']:,}",
                 f"Created: {s['created_at']}", f"Version: {s['version']}"]
        last = s["last_import"]
        if last:
            lines.append(f"Last import: {last['status']} {last['started_at']} — "
                         f"{last['imported']:,} new, {last['already_stored']:,} already "
                         f"stored, {last['failed']:,} failed ({last['source']})")
        for e in s["engines"]:
            ident = e["identity"] or {}
            models = "<br>".join(f"&nbsp;&nbsp;{k}: {v[:16]}…"
                                 for k, v in ident.get("models", {}).items())
            lines.append(f"Engine {e['id']}: {ident.get('engine')} {ident.get('dlib')}<br>"
                         f"{models}")
        QMessageBox.information(self, "Gallery information", "<br>".join(lines))

    def import_dialog(self) -> ImportDialog | None:
        """Open the import dialog (window-modal, not blocking: the window keeps
        repainting while the import runs in the dialog's worker thread)."""
        if self.gallery is None or not self.act_import.isEnabled():
            return None
        # every import is recorded under a user: on a new gallery, its first administrator
        # (the dialog waits for them; see set_session)
        dialog = ImportDialog(self.gallery.open_location, self, engine=self.engine_spec,
                              user_id=None if self.session is None else self.session.user_id,
                              require_user=True)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.importer = dialog
        dialog.destroyed.connect(lambda *_: setattr(self, "importer", None))
        dialog.imported.connect(lambda _ev: self.refresh_summary())
        dialog.finished.connect(lambda _code: self.refresh_summary())
        dialog.open()
        return dialog

    def open_trainer(self) -> TrainerView | None:
        """The false-positive experiment on the open gallery, in its own window."""
        if self.gallery is None:
            return None
        why_not = self.lab_blocker()
        if why_not is not None:
            self.statusBar().showMessage(f"Cannot open the trainer view: {why_not}", 8000)
            return None
        # imported when first used: it brings matplotlib, which the start need not wait for
        from facedesk.gui.trainer_view import TrainerView
        try:
            view = TrainerView(self.gallery.open_location, self, session=self.session,
                               dark=self.act_dark.isChecked())
        except FaceDeskError as exc:
            QMessageBox.warning(self, "Cannot open the trainer view", exc.message)
            return None
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.trainer = view
        view.destroyed.connect(lambda *_: setattr(self, "trainer", None))
        view.show()
        return view

    def open_calibration(self) -> CalibrationDialog | None:
        """See and change the calibration this gallery's searches are read with."""
        if self.gallery is None:
            return None
        dialog = CalibrationDialog(self.gallery.open_location, self, session=self.session)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # -- the probe --------------------------------------------------------------------------

    def open_probe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open probe", "", IMAGE_FILTER)
        if path:
            self.load_probe(Path(path))

    def paste_probe(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            urls = QGuiApplication.clipboard().mimeData().urls()
            files = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
            if files:
                self.load_probe(files[0])
                return
            self.statusBar().showMessage("The clipboard holds no image", 5000)
            return
        target = Path(self._temp_dir.name) / f"pasted-{int(time.time() * 1000)}.png"
        image.convertToFormat(QImage.Format.Format_RGB888).save(str(target), "PNG")
        self.load_probe(target)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.load_probe(files[0])

    def rotate_probe(self, degrees: float) -> None:
        """Search a copy of the probe turned by `degrees` (counter-clockwise) so that the
        chosen face is upright; the turn is recorded with its searches."""
        probe = self.probe
        if probe is None or not self._may_discard_review():
            return
        name = Path(probe.path).stem
        target = Path(self._temp_dir.name) / f"{name}-upright-{int(time.time() * 1000)}.png"
        target.write_bytes(imaging.png_bytes(imaging.rotated(probe.image.rgb, degrees)))
        adjustment = {"kind": "rotated", "degrees": round(degrees, 1),
                      "from_sha256": probe.sha256, "from_name": Path(probe.path).name}
        self.load_probe(target, adjustments=[*self._adjustments, adjustment], ask=False)

    def load_probe(self, path: Path, adjustments: list[dict[str, Any]] | None = None,
                   ask: bool = True) -> None:
        if clips.looks_like_clip(path):
            self.open_clip(path)
            return
        if ask and not self._may_discard_review():
            return
        self._adjustments = list(adjustments or [])
        self._set_review(None)
        self._clip_probe = None
        self.probe = None
        self.probe_panel.set_probe(None)
        self.compare.clear()
        self.statusBar().showMessage(f"Looking for faces in {path.name}…")
        self._pending[self.engine.analyze(path, 1)] = "analyze"

    def open_clip(self, path: Path) -> ClipPanel:
        """Read a video clip in its own window (facedesk/gui/clip_panel.py); a track or a
        frame chosen there comes to the probe panel."""
        if self.clip_panel is not None:
            self.clip_panel.shutdown()
            self.clip_panel.close()
        self.clip_panel = ClipPanel(path, self.engine_spec, self)
        self.clip_panel.probe_ready.connect(self.use_clip_probe)
        self.clip_panel.show()
        self.clip_panel.start()
        self.statusBar().showMessage(f"Reading the clip {path.name}…")
        return self.clip_panel

    def use_clip_probe(self, cp: ClipProbe) -> None:
        if not self._may_discard_review() or self.clip_panel is None:
            return
        self._set_review(None)
        self.probe = probe_of(cp, self.clip_panel.path)
        self._clip_probe = cp
        self.probe_panel.set_probe(self.probe)
        self.statusBar().showMessage(
            clips.describe_provenance(cp.provenance), 8000)
        self._show_probe_face(self.probe_panel.selected_face())
        self._update_actions()

    def _on_redetect(self, upsample: int) -> None:
        if self._clip_probe is not None:
            self.statusBar().showMessage("This probe is a frame of a clip: choose another "
                                         "track or frame in the clip window", 8000)
            return
        if self.probe is not None:
            self.statusBar().showMessage(f"Detecting again with upsampling {upsample}…")
            self._pending[self.engine.analyze(Path(self.probe.path), upsample)] = "analyze"

    def _on_analyzed(self, request: int, probe: Probe) -> None:
        if self._pending.pop(request, None) != "analyze":
            return
        self.probe = probe
        self.probe_panel.set_probe(probe)
        n = len(probe.faces)
        self.statusBar().showMessage(
            f"{Path(probe.path).name}: {n} face{'s' if n != 1 else ''} found" +
            ("" if n else " — draw a box around the face, or detect again"), 8000)
        self._show_probe_face(self.probe_panel.selected_face())
        self._update_actions()

    def _on_box_drawn(self, box: Box) -> None:
        if self.probe is not None:
            self._pending[self.engine.describe_box(self.probe, box)] = "describe"

    def _on_described(self, request: int, face: Face) -> None:
        if self._pending.pop(request, None) != "describe":
            return
        self.probe_panel.set_face(face)
        self._show_probe_face(face)
        self._update_actions()

    def _on_face_selected(self, face: Face) -> None:
        if self.review is not None and self.review.face is not face:
            if not self._may_discard_review():
                return
            self._set_review(None)
        self._show_probe_face(face)
        self._update_actions()

    def _show_probe_face(self, face: Face | None) -> None:
        if self.probe is None or face is None:
            return
        self.compare.set_probe(self.probe.image.rgb, face.landmarks, face.box,
                               Path(self.probe.path).name,
                               {"path": self.probe.path, "sha256": self.probe.sha256,
                                "width": self.probe.image.width,
                                "height": self.probe.image.height})

    # -- search and review ------------------------------------------------------------------

    def search(self) -> None:
        face = self.probe_panel.selected_face()
        why_not = self.search_blocker()
        if why_not is not None or self.gallery is None or face is None:
            self.statusBar().showMessage(f"Cannot search: {why_not}", 8000)
            return
        if not self._may_discard_review():
            return
        try:
            flt = self.probe_panel.filter_bar.search_filter()
        except FaceDeskError as exc:
            self.statusBar().showMessage(f"Cannot search: {exc.message}", 8000)
            return
        self._set_review(None)
        self._search_started = time.perf_counter()
        self.statusBar().showMessage("Searching every gallery face…" if flt is None else
                                     f"Searching the faces of {flt.describe()}…")
        self._pending[self.engine.search(self.gallery.open_location, face, self.top_k.value(),
                                         flt)] = "search"

    def _on_searched(self, request: int, face: Face, result: SearchResult) -> None:
        if self._pending.pop(request, None) != "search" or self.probe is None:
            return
        assert self.gallery is not None
        if self.session is None or self.case is None:
            self.statusBar().showMessage("Search not recorded: no one is signed in, or no "
                                         "case is open; nothing is shown", 10000)
            return
        session, case, probe = self.session, self.case, self.probe
        adjustments = list(self._adjustments)
        provenance = search_provenance(self._clip_probe, face)
        blind = self.act_blind.isChecked()

        def record(gallery: Gallery) -> tuple[cases.CaseSearch, dict[int, bytes], float]:
            # the write waits for the lock while an import writes: never on the GUI thread
            recorded = cases.record_search(rebind(session, gallery), case, probe, face,
                                           result, adjustments=adjustments, **provenance)
            crops = {c.face_id: gallery.face_crop(c.face_id)
                     for c in recorded.result.candidates}
            return recorded, crops, accounts.settings(gallery).threshold

        def recorded_search(out: tuple[cases.CaseSearch, dict[int, bytes], float]) -> None:
            if self.probe is not probe or self.session is not session:
                return  # the probe or the user changed meanwhile: not shown
            recorded, crops, threshold = out
            shown = recorded.result
            review = Review(probe, face, shown, blind=blind, search_id=recorded.id)
            self._set_review(review, crops, threshold)
            took = (time.perf_counter() - self._search_started) * 1000
            # short enough for the status bar of a 1024-pixel window; the candidate
            # list's header says the rest (look-alikes, calibration, what a candidate is)
            self.statusBar().showMessage(
                f"Search {recorded.id} recorded: "
                f"{plural(len(shown.candidates), 'candidate')} from "
                f"{plural(shown.persons_searched, 'person')} in {took:.0f} ms", 15000)

        def not_recorded(exc: BaseException) -> None:
            message = describe_error(exc)
            self.statusBar().showMessage(message, 10000)
            QMessageBox.warning(self, "Search not recorded", message)
            self._refresh_case()

        self.statusBar().showMessage("Recording the search in the case…")
        self.run_app_call(record, recorded_search, not_recorded)

    def run_app_call(self, fn: Any, on_done: Any, on_failed: Any = None, *,
                     on_gallery: bool = True, process: bool = False) -> Task:
        """Run an app call off the GUI thread: on the gallery lane (`fn(gallery)`, its
        own connection to the open gallery) or, with on_gallery=False, in the thread pool
        (`fn()`; with process=True in the worker process). The window shows it is busy
        until `on_done` or `on_failed` (default: a warning with the error) has been called
        on the GUI thread."""
        self._working += 1
        self._show_busy()

        def finished() -> None:
            self._working -= 1
            self._show_busy()

        def done(result: Any) -> None:
            finished()
            on_done(result)

        def failed(exc: BaseException) -> None:
            finished()
            if on_failed is not None:
                on_failed(exc)
            else:
                self.statusBar().showMessage(describe_error(exc), 10000)
                QMessageBox.warning(self, "FaceDesk", describe_error(exc))

        assert not on_gallery or self.gallery is not None
        return run_task(self, fn, done, failed, process=process,
                        gallery=self.gallery.open_location if on_gallery and self.gallery
                        else None)

    def _set_review(self, review: Review | None, crops: dict[int, bytes] | None = None,
                    threshold: float | None = None) -> None:
        """Show `review` (None: no candidate list); `crops` and `threshold` as read with it
        off the GUI thread, else read now."""
        self.review = review
        self._shown = None
        if crops is None:
            crops = {}
            if review is not None and self.gallery is not None:
                crops = {c.face_id: self.gallery.face_crop(c.face_id)
                         for c in review.result.candidates}
                threshold = accounts.settings(self.gallery).threshold
        self.candidates.set_review(review, crops, threshold)
        self.decision.set_candidate(review, None)
        self.compare.clear_candidate()
        if review is not None and review.result.candidates:
            # the panel selected its first row (rank 1, or a shuffled one in blind
            # review); selecting it again fills the compare and decision panels
            rank = self.candidates.selected_rank()
            self.candidates.select_rank(rank if rank is not None
                                        else review.result.candidates[0].rank)
        self._update_actions()

    def _on_candidate_selected(self, rank: int) -> None:
        """Show a candidate: its details are read and its original photo decoded and
        checked off the GUI thread (the pane says so meanwhile); the view is logged."""
        if self.review is None or self.gallery is None:
            return
        review = self.review
        cand = review.candidate(rank)
        label = cand.person_id if not cand.name or cand.name == cand.person_id else \
            f"{cand.person_id} — {cand.name}"
        shown = f"{rank}. {label}" if review.scores_visible(rank) else label
        self._shown = (review, rank)
        self.compare.candidate_loading(shown)
        self.decision.set_candidate(review, rank)

        def still_shown() -> bool:
            return self._shown == (review, rank)

        def read(gallery: Gallery) -> tuple[dict[str, Any], Any]:
            found = gallery.face_details([cand.face_id]).get(cand.face_id)
            details = {} if found is None else found.as_dict()
            return details, gallery.face_landmarks(cand.face_id)

        def got_details(out: tuple[dict[str, Any], Any]) -> None:
            if not still_shown():
                return
            details, landmarks = out
            box = Box(*details.get("box", [0, 0, 0, 0]))
            info = {"person_id": cand.person_id, "name": cand.name or "", **details,
                    **{f"metadata: {k}": v for k, v in details.get("metadata", {}).items()}}
            info.pop("metadata", None)
            path = details.get("path")

            def got_original(original: Original) -> None:
                if still_shown():
                    self.compare.set_candidate(path, landmarks, box, shown, info,
                                               original=original)

            def checked(out: tuple[Any, str, str]) -> None:
                if still_shown():  # ready for the screen in a thread, shown here
                    self.run_app_call(lambda: as_original(out), got_original,
                                      on_gallery=False)

            # up to 200 MB read, decoded and hashed: in the worker process (the GIL
            # is not shared with the GUI thread there)
            self.run_app_call(functools.partial(check_original, path, details.get("sha256")),
                              checked, on_gallery=False, process=True)

        self.run_app_call(read, got_details)
        search_id = review.search_id
        session = self.session
        if session is not None and search_id is not None and \
                (search_id, rank) not in self._viewed:
            self._viewed.add((search_id, rank))  # also while it is being logged

            def not_logged(exc: BaseException) -> None:
                self._viewed.discard((search_id, rank))
                self.statusBar().showMessage(describe_error(exc), 8000)

            self.run_app_call(
                lambda gallery: cases.candidate_viewed(rebind(session, gallery), search_id,
                                                       rank),
                lambda _event: None, not_logged)

    def _on_blind_toggled(self, blind: bool) -> None:
        self.settings.setValue("blind_review", blind)
        if self.review is not None and not self.review.decided and \
                not self.review.first_impressions:
            self.review.blind = blind
            self._set_review(self.review)

    def _on_decision_requested(self, rank: int, decision: str, rationale: str) -> None:
        if self.review is None or self.gallery is None:
            return
        if self.session is None:
            self.decision.show_error("Not signed in: sign in to record a decision")
            return
        if self.decision.is_saving():
            return  # the click before is still being stored
        review, session = self.review, self.session
        checklist = self.decision.checklist()

        def store(gallery: Gallery) -> cases.Decision:
            return review.record_decision(rebind(session, gallery), rank, decision,
                                          rationale, checklist)

        def stored(row: cases.Decision) -> None:
            self.decision.set_saving(False)
            if self.review is not review:
                return
            if self.candidates.selected_rank() == rank:
                self.decision.decision_recorded(row)
            self.candidates.refresh()
            # the decision form is now read-only: without this the focus went on to the
            # next widget that takes it, the top-K box, where typing changed the number
            # of candidates; the list is where the review goes on (arrow keys, next)
            self.candidates.table.setFocus(Qt.FocusReason.OtherFocusReason)
            what = DECISIONS[decision].lower()
            if row.status == "pending":
                said = f"{what} recorded, pending second review (not a result yet)"
            else:
                said = f"{what} recorded" + (" — investigative lead only"
                                             if decision == "possible_lead" else "")
            self.statusBar().showMessage(f"Candidate {rank}: {said}", 10000)

        def not_stored(exc: BaseException) -> None:
            self.decision.set_saving(False)
            if isinstance(exc, (ReviewError, FaceDeskError)):
                self.decision.show_error(exc.message)
                self._refresh_case()
            else:  # e.g. the disk is full: say so, keep the window alive
                self.decision.show_error(f"The decision could not be stored: {exc}")

        self.decision.set_saving(True)
        self.run_app_call(store, stored, not_stored)

    def _may_discard_review(self) -> bool:
        """Ask before dropping a candidate list with undecided candidates; nothing of an
        undecided candidate is ever written."""
        if self.review is None or not self.review.result.candidates:
            return True
        if self.decision_blocker() is not None:
            return True  # nothing could be recorded for them anyway (e.g. a closed case)
        undecided = self.review.undecided()
        if not undecided:
            return True
        answer = QMessageBox.question(
            self, "Candidates without a decision", discard_question(self.review, self.case),
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    # -- engine signals ---------------------------------------------------------------------

    def _on_engine_failed(self, request: int, message: str) -> None:
        what = self._pending.pop(request, None)
        if what is None:
            return
        titles = {"analyze": "Cannot read the probe", "describe": "Cannot use that box",
                  "search": "Search failed"}
        self.statusBar().showMessage(message, 10000)
        QMessageBox.warning(self, titles.get(what, "FaceDesk"), message)
        self._update_actions()

    def _on_busy(self, busy: bool) -> None:
        self._engine_busy = busy
        self._show_busy()

    def _show_busy(self) -> None:
        """The engine thread or an app call of the window is working: the busy bar shows
        and nothing that would start more of it can be used (no second submit)."""
        busy = self._engine_busy or self._working > 0
        self.busy_bar.setVisible(busy)
        self.probe_panel.set_busy(busy)
        self._update_actions()

    # -- misc -------------------------------------------------------------------------------

    def about(self) -> None:
        dialog = AboutDialog(self, engine=self.engine_spec, gallery=self.gallery)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_discard_review():
            event.ignore()
            return
        if self.sign_in_dialog is not None:
            self.sign_in_dialog.close()
        self._save_state()
        if self.clip_panel is not None:
            self.clip_panel.shutdown()
        # this window's running work, the engine thread with it: cancelled and waited for
        tasks().shutdown(owner=self)
        if self.gallery is not None:
            tasks().release_gallery(self.gallery.open_location)
            self.gallery.close()
            self.gallery = None
        self._temp_dir.cleanup()
        event.accept()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._columns_placed:
            self._columns_placed = True
            self.fit_columns()
        QTimer.singleShot(0, self._update_actions)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if self._columns_placed:
            self.fit_columns()

    def fit_columns(self) -> None:
        """Give the candidate list the width its columns need when the window has room for
        it (the compare region gives it up): the window may have been made smaller than
        that, or first shown at another size."""
        sizes = self.columns.sizes()
        if len(sizes) != 3 or sum(sizes) == 0:
            return
        probe, compare, cand = sizes
        want = self.candidates.table_width_needed() + 2 * self.candidates.layout_margin()
        spare = compare - COMPARE_MIN_WIDTH
        if cand < want and spare > 0:
            grow = min(want - cand, spare)
            self.columns.setSizes([probe, compare - grow, cand + grow])
