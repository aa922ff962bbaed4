"""The trainer's view: the false-positive experiment on one gallery, live at any threshold.

Persons of the gallery are split (seeded) into a gallery part and probes of persons who are
NOT in it (core's `run_experiment`, in a worker thread); every candidate such a probe gets
is a false candidate. A threshold slider re-counts without searching again and shows, in
plain words and plots: how many of those probes still get a candidate, how that grows with
the gallery, per group; the error rates of every pair (core's `lab.evaluate_gallery`, also
in a worker); and the closest false candidates side by side. Plots and an HTML report can
be saved.

"Outside probe set…" runs the ACLU test instead: photos that are NOT in the gallery (a CSV
manifest or a folder per person), encoded and searched against the whole gallery (core's
`run_outside`, in a worker with progress and cancel); every probe's own person is left out
when counting, probes of gallery persons give the rank-1 hit rate, and a table sets the
false candidates per probe FaceDesk predicts against those observed, at the slider.

The numbers are core's (`ExperimentResult`, `Evaluation`); this module only words and
draws them, so they equal `facedesk experiment` / `facedesk evaluate` on the same options.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import accounts, lab
from facedesk.app.accounts import Session
from facedesk.app.experiment import (
    ExperimentOptions,
    ExperimentProgress,
    ExperimentResult,
    run_experiment,
)
from facedesk.app.outside_probes import (
    OutsideOptions,
    OutsideProgress,
    OutsideResult,
    run_outside,
)
from facedesk.app.sources import manifest_preview
from facedesk.domain import plots
from facedesk.domain.evaluation import Rate
from facedesk.domain.formatting import percent_number as pct
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError, NotPermitted
from facedesk.gui.figures import FigurePane
from facedesk.gui.images import face_pixmap
from facedesk.gui.lab_wording import group_cells, headline, per_probe, ratio_words
from facedesk.gui.quiz_view import QuizPanel
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.styles import ERROR_STYLE
from facedesk.gui.tables import read_only_table
from facedesk.gui.widgets import button, spin_box, start_folder, wrapped
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import FaceDetails, Gallery

#: the slider: 0.30 .. 0.80 in steps of 0.005
T_MIN, T_MAX, T_STEP = 0.30, 0.80, 0.005
DEFAULT_THRESHOLD = 0.60
#: the thresholds always drawn for comparison (0.6: face_recognition's default tolerance)
QUICK_THRESHOLDS = (0.4, 0.5, 0.6)
#: moving the slider re-counts after this pause (ms)
DEBOUNCE_MS = 50
NO_GROUP = "(none)"
CROP_PX = 120
#: the closest false candidates: pairs per row
WORST_COLUMNS = 2


# worker threads still finishing after their view went away (a QThread must outlive its run)
_live_workers: set[GeneratorWorker] = set()


# -- widgets ----------------------------------------------------------------------------------


def _table(name: str, headers: Sequence[str]) -> QTableWidget:
    table = read_only_table(headers, name, rows_selectable=False)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    table.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
    row_height = table.fontMetrics().height() + 8
    table.verticalHeader().setDefaultSectionSize(row_height)
    table.verticalHeader().setMinimumSectionSize(row_height)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c > 0:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    # as wide as its columns; every row shown without a scroll bar, up to 6 groups
    table.resizeColumnsToContents()
    shown = min(len(rows), 6)
    scroll = table.verticalScrollBar().sizeHint().width() if len(rows) > shown else 0
    table.setFixedWidth(table.horizontalHeader().length() + 2 * table.frameWidth() + scroll)
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
                         + sum(table.rowHeight(i) for i in range(shown)))


def _note(name: str, text: str = "") -> QLabel:
    """A wrapping rich-text label (escape any plain text put in it)."""
    label = wrapped(text, name, selectable=True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


# -- background work --------------------------------------------------------------------------


def experiment_events(location: str | Path, options: ExperimentOptions,
                      cancel: CancelToken) -> Iterator[ExperimentProgress]:
    """Runs in the worker thread: the gallery is opened and closed in that thread."""
    gallery = Gallery.open(location)
    try:
        yield from run_experiment(gallery, options, cancel)
    finally:
        gallery.close()


def outside_events(location: str | Path, probes: Path, spec: EngineSpec, options: OutsideOptions,
                   cancel: CancelToken) -> Iterator[OutsideProgress]:
    """An outside probe set searched against the whole gallery (in the worker thread)."""
    gallery = Gallery.open(location)
    try:
        yield from run_outside(gallery, probes, spec, options, cancel)
    finally:
        gallery.close()


def probe_group(probes: Path, key: str | None) -> str | None:
    """The group column for a probe set: `key` when the probe manifest has that column."""
    if key is None or probes.is_dir():
        return None
    try:
        columns, _ = manifest_preview(probes, rows=0)
    except FaceDeskError:
        return None  # the run itself says what is wrong with the file
    return key if key in columns else None


def evaluation_events(location: str | Path, group_key: str | None,
                      cancel: CancelToken) -> Iterator[tuple[str, lab.Evaluation | None]]:
    """Every pair of the gallery (cannot stop midway; a cancelled run's result is
    dropped)."""
    gallery = Gallery.open(location)
    try:
        yield "measuring", None
        ev = lab.evaluate_gallery(gallery, group_key)
        yield ("cancelled", None) if cancel.cancelled else ("finished", ev)
    finally:
        gallery.close()


def _start(worker: GeneratorWorker) -> None:
    _live_workers.add(worker)
    app = QCoreApplication.instance()
    if app is not None and not app.property("facedeskTrainerQuitHook"):
        app.aboutToQuit.connect(_stop_live_workers)
        app.setProperty("facedeskTrainerQuitHook", True)
    worker.finished.connect(functools.partial(_forget_worker, worker))
    worker.start()


def _forget_worker(worker: GeneratorWorker) -> None:
    _live_workers.discard(worker)
    worker.deleteLater()


def _stop_live_workers() -> None:
    for worker in list(_live_workers):
        worker.cancel()
        worker.wait(60_000)


# -- the window -------------------------------------------------------------------------------


class TrainerView(QMainWindow):
    """The false-positive experiment on one gallery (a file or on a server)."""

    def __init__(self, location: str | Path, parent: QWidget | None = None, *,
                 session: Session | None = None, dark: bool = False) -> None:
        """`session`: the signed-in user, who must be allowed to use the lab on a gallery
        with users (it shows the gallery's photos and names); each use is logged (audit
        kind "lab"). `location`: what `Gallery.open` takes (the gallery's `open_location`).
        `dark`: plots in the dark palette's colours."""
        super().__init__(parent)
        #: what the workers open their own connections with (may hold a password: never shown)
        self.open_location = location
        #: the folder a save/open dialog last used
        self._last_folder: Path | None = None
        # for crops, names and metadata keys; the workers open their own connections
        self._gallery = Gallery.open(location)
        self._session = session
        self._dark = dark
        self._started = 0.0
        try:
            if session is not None:
                session.require("lab")
            elif accounts.has_users(self._gallery):
                raise NotPermitted("the trainer view shows this gallery's photos and names: "
                                   "sign in first (File > Sign in as another user…)")
            self.log_use("opened")
        except FaceDeskError:
            self._gallery.close()
            raise
        self.result: ExperimentResult | None = None
        self.evaluation: lab.Evaluation | None = None
        self._experiment_worker: GeneratorWorker | None = None
        self._evaluation_worker: GeneratorWorker | None = None
        self._evaluation_key: str | None = None
        self._dirty_tabs: set[int] = set()
        self._crop_rows: list[tuple[float, QLabel]] = []
        #: the engine that encodes outside probes (the gallery's; tests put a fake here)
        self.probe_engine = EngineSpec()

        self.setObjectName("trainerView")
        self.setWindowTitle(f"Trainer: false positives — {self._gallery.name}")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.refresh)

        central = QWidget()
        root = QVBoxLayout(central)
        # the experiment's controls, hidden on the quiz tab (a trainee sees no threshold)
        self._experiment_controls = QWidget()
        controls = QVBoxLayout(self._experiment_controls)
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self._build_settings())
        controls.addLayout(self._build_threshold())
        root.addWidget(self._experiment_controls)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainerTabs")
        self.tabs.addTab(self._build_experiment_tab(), "False candidates (experiment)")
        self.tabs.addTab(self._build_evaluation_tab(), "Error rates (all pairs)")
        self.tabs.addTab(self._build_worst_tab(), "Closest false candidates")
        self.quiz_panel = QuizPanel(location, session, self._gallery.metadata_keys(),
                                    DEFAULT_THRESHOLD)
        self.tabs.addTab(self.quiz_panel, "Trainee quiz")
        self.tabs.currentChanged.connect(self._on_tab)
        root.addWidget(self.tabs, 1)
        root.addLayout(self._build_export())
        self.setCentralWidget(central)
        fit_to_screen(self, 1400, 940)
        self._set_running(False)
        self._show_empty()

    # -- building ----------------------------------------------------------------------------

    def _build_settings(self) -> QWidget:
        box = QFrame()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        counts = self._gallery.counts()
        self.gallery_label = QLabel(f"<b>{escape(self._gallery.name)}</b>: "
                                    f"{counts['persons']:,} persons, {counts['faces']:,} faces")
        self.gallery_label.setObjectName("galleryLabel")
        self.gallery_label.setToolTip(str(self._gallery.location))
        row.addWidget(self.gallery_label)
        row.addSpacing(16)
        row.addWidget(QLabel("Group by:"))
        self.group_combo = QComboBox()
        self.group_combo.setObjectName("groupCombo")
        self.group_combo.setToolTip("A metadata column of the photos: every figure is also "
                                    "shown per group (e.g. sex)")
        self.group_combo.addItem(NO_GROUP, None)
        keys = self._gallery.metadata_keys()
        for key in keys:
            self.group_combo.addItem(key, key)
        if "sex" in keys:
            self.group_combo.setCurrentIndex(keys.index("sex") + 1)
        row.addWidget(self.group_combo)
        row.addSpacing(8)
        row.addWidget(QLabel("Persons held out as probes:"))
        self.share_spin = spin_box(
            "probeShareSpin", 5, 95, " %",
            tooltip="This share of the persons is taken OUT of the gallery and searched "
                    "against the rest: any candidate they get is false")
        self.share_spin.setValue(50)
        row.addWidget(self.share_spin)
        row.addSpacing(8)
        row.addWidget(QLabel("Seed:"))
        self.seed_spin = spin_box("seedSpin", 0, 1_000_000,
                                  tooltip="The random split; the same seed gives the same split")
        row.addWidget(self.seed_spin)
        row.addSpacing(8)
        self.run_button = button("Run experiment", "runExperimentButton", self.run_experiment)
        self.run_button.setDefault(True)
        row.addWidget(self.run_button)
        self.progress = QProgressBar()
        self.progress.setObjectName("experimentProgress")
        self.progress.setMaximumWidth(220)
        row.addWidget(self.progress)
        self.outside_button = QPushButton("Outside probe set…")
        self.outside_button.setObjectName("outsideProbesButton")
        self.outside_button.setToolTip(
            "Search a set of photos that are NOT in this gallery (a CSV manifest with path, "
            "person_id and e.g. sex, or a folder per person) against the whole gallery: "
            "probes of persons who are also in the gallery give the rank-1 hit rate, and "
            "every probe's own person is left out when counting false candidates")
        menu = QMenu(self.outside_button)
        menu.setObjectName("outsideProbesMenu")
        menu.addAction("Probe manifest (CSV)…", lambda: self.run_outside_probes(kind="csv"))
        menu.addAction("Probe folder (a sub-folder per person)…",
                       lambda: self.run_outside_probes(kind="folder"))
        self.outside_button.setMenu(menu)
        row.addWidget(self.outside_button)
        self.cancel_button = button("Cancel", "cancelExperimentButton", self.cancel)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        for w in (self.group_combo, self.share_spin, self.seed_spin):
            signal = w.currentIndexChanged if isinstance(w, QComboBox) else w.valueChanged
            signal.connect(self._on_settings_changed)
        return box

    def _build_threshold(self) -> QHBoxLayout:
        row = QHBoxLayout()
        label = QLabel("Candidate if distance ≤")
        label.setFont(self._bigger(1, bold=True))
        row.addWidget(label)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("thresholdSlider")
        steps = round((T_MAX - T_MIN) / T_STEP)
        self.slider.setRange(0, steps)
        self.slider.setSingleStep(1)
        self.slider.setPageStep(10)
        self.slider.setTickInterval(20)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setToolTip(f"Distance threshold, {T_MIN:.2f} to {T_MAX:.2f} in steps of "
                               f"{T_STEP}: a gallery face at or under it is a candidate")
        self.slider.setValue(self._slider_value(DEFAULT_THRESHOLD))
        self.slider.valueChanged.connect(self._on_slider)
        row.addWidget(self.slider, 1)
        self.threshold_label = QLabel()
        self.threshold_label.setObjectName("thresholdValue")
        self.threshold_label.setFont(self._bigger(2, bold=True))
        self.threshold_label.setMinimumWidth(self.threshold_label.fontMetrics()
                                             .horizontalAdvance("0.000 ") + 4)
        row.addWidget(self.threshold_label)
        for t in QUICK_THRESHOLDS:
            button = QPushButton(f"{t:.1f}")
            button.setObjectName(f"threshold{round(t * 100)}Button")
            tip = f"Set the threshold to {t:.1f}"
            if math.isclose(t, 0.6):
                tip += " (face_recognition's default tolerance)"
            button.setToolTip(tip)
            button.setMaximumWidth(52)
            button.clicked.connect(functools.partial(self.set_threshold, t))
            row.addWidget(button)
        self._show_threshold()
        return row

    def _build_experiment_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.headline = _note("headlineLabel")
        self.headline.setFont(self._bigger(3))
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        # room for two lines from the start: the layout gave a wrapped headline one line
        # and cut its end ("... per probe on")
        self.headline.setMinimumHeight(2 * self.headline.fontMetrics().lineSpacing() + 4)
        col.addWidget(self.headline)
        self.setup_label = _note("setupLabel")
        col.addWidget(self.setup_label)

        # the group's title on a line of its own: beside the notes it was squeezed away
        self.group_title = self._title("groupTitle")
        self.group_title.setWordWrap(True)
        col.addWidget(self.group_title)
        facts = QHBoxLayout()
        left = QVBoxLayout()
        self.group_table = _table("groupTable", ["group", "probes", "with a false candidate",
                                                 "95 % interval", "false candidates per probe"])
        left.addWidget(self.group_table)
        left.addStretch(1)
        facts.addLayout(left)
        facts.addSpacing(16)
        right = QVBoxLayout()
        self.ratio_label = _note("ratioLabel")
        right.addWidget(self.ratio_label)
        self.in_gallery_label = _note("inGalleryLabel")
        right.addWidget(self.in_gallery_label)
        self.prediction_title = self._title("predictionTitle")
        right.addWidget(self.prediction_title)
        self.prediction_table = _table("predictionTable", ["group", "probes", "observed"])
        right.addWidget(self.prediction_table)
        right.addStretch(1)
        facts.addLayout(right, 1)
        col.addLayout(facts)

        self.plots_split = QSplitter(Qt.Orientation.Horizontal)
        self.size_plot = FigurePane("sizePlot")
        self.group_plot = FigurePane("groupPlot")
        self.plots_split.addWidget(self.size_plot)
        self.plots_split.addWidget(self.group_plot)
        self.plots_split.setStretchFactor(0, 3)
        self.plots_split.setStretchFactor(1, 2)
        col.addWidget(self.plots_split, 1)
        return page

    def _build_evaluation_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        top = QHBoxLayout()
        self.evaluation_status = _note("evaluationStatus")
        top.addWidget(self.evaluation_status, 1)
        self.evaluation_progress = QProgressBar()
        self.evaluation_progress.setObjectName("evaluationProgress")
        self.evaluation_progress.setRange(0, 0)
        self.evaluation_progress.setMaximumWidth(160)
        self.evaluation_progress.hide()
        top.addWidget(self.evaluation_progress)
        self.evaluate_button = button(
            "Measure all pairs", "runEvaluationButton", self.run_evaluation,
            tooltip="Distances of every pair of faces of the gallery: same person (genuine) "
                    "and different persons (impostor)")
        top.addWidget(self.evaluate_button)
        col.addLayout(top)

        self.error_table = _table("errorTable", ["group", "persons", "faces",
                                                 "false match rate (FMR)", "95 % interval",
                                                 "false non-match rate (FNMR)",
                                                 "95 % interval "])
        col.addWidget(self.error_table)
        self.fmr_ratio_label = _note("fmrRatioLabel")
        col.addWidget(self.fmr_ratio_label)
        self.no_genuine_label = _note("noGenuineLabel")
        self.no_genuine_label.setStyleSheet("font-weight: 600;")
        col.addWidget(self.no_genuine_label)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.histogram_plot = FigurePane("histogramPlot")
        self.error_plot = FigurePane("errorRatePlot")
        self.det_plot = FigurePane("detPlot")
        for pane in (self.histogram_plot, self.error_plot, self.det_plot):
            split.addWidget(pane)
        col.addWidget(split, 1)
        return page

    def _build_worst_tab(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.worst_caption = _note(
            "worstCaption",
            "Each pair shows two <b>DIFFERENT</b> persons: a probe of a person who is NOT in "
            "the gallery (left) and the photo of another person that face search placed "
            "closest to it (right). Look-alikes like these are why a candidate is only a "
            "possible lead for a trained reviewer, never an identification.")
        col.addWidget(self.worst_caption)
        self.worst_area = QScrollArea()
        self.worst_area.setObjectName("worstArea")
        self.worst_area.setWidgetResizable(True)
        self.worst_holder = QWidget()
        self.worst_grid = QGridLayout(self.worst_holder)
        self.worst_area.setWidget(self.worst_holder)
        col.addWidget(self.worst_area, 1)
        return page

    def _build_export(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.status_label = _note("statusLabel")
        row.addWidget(self.status_label, 1)
        self.save_plots_button = button(
            "Save plots…", "savePlotsButton", lambda: self.save_plots(),
            tooltip="Save the plots shown as PNG and SVG files in a folder")
        row.addWidget(self.save_plots_button)
        self.save_report_button = button(
            "Save report…", "saveReportButton", lambda: self.save_report(),
            tooltip="One HTML file: the experiment (and the error rates, if measured) at 0.4, "
                    "0.5, 0.6 and the slider's threshold")
        row.addWidget(self.save_report_button)
        return row

    def _title(self, name: str) -> QLabel:
        """A section's title: bold, named `name`."""
        label = QLabel()
        label.setObjectName(name)
        label.setFont(self._bigger(0, bold=True))
        return label

    def _bigger(self, points: int, bold: bool = False) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() + points)
        font.setBold(bold)
        return font

    # -- the threshold -------------------------------------------------------------------------

    @staticmethod
    def _slider_value(t: float) -> int:
        return round((min(max(t, T_MIN), T_MAX) - T_MIN) / T_STEP)

    def threshold(self) -> float:
        return round(T_MIN + self.slider.value() * T_STEP, 3)

    def set_threshold(self, t: float) -> None:
        self.slider.setValue(self._slider_value(t))

    def _show_threshold(self) -> None:
        self.threshold_label.setText(f"{self.threshold():.3f}")

    def _on_slider(self, _value: int) -> None:
        self._show_threshold()
        self._debounce.start()

    # -- the experiment ------------------------------------------------------------------------

    def options(self) -> ExperimentOptions:
        return ExperimentOptions(probe_share=self.share_spin.value() / 100,
                                 seed=self.seed_spin.value(), group_key=self.group_key())

    def group_key(self) -> str | None:
        key = self.group_combo.currentData()
        return None if key is None else str(key)

    @property
    def running(self) -> bool:
        return self._experiment_worker is not None

    def log_use(self, action: str, **data: Any) -> None:
        """Log a use of the lab under the signed-in user, as the lab's commands are logged
        (audit kind "lab", data {"command": "trainer view", "view": "trainer", "action":
        ...}); a gallery without users is a plain dataset, with no one to log."""
        if self._session is not None:
            self._session.record_lab("trainer view", {"view": "trainer", "action": action,
                                                      **data})

    def _start_folder(self) -> Path:
        return start_folder(self.open_location, self._last_folder)

    def run_experiment(self) -> None:
        if self.running:
            return
        options = self.options()
        self.log_use("experiment", probe_share=options.probe_share, seed=options.seed,
                     group=options.group_key)
        self._run(GeneratorWorker(functools.partial(experiment_events, self.open_location,
                                                    options)))

    def run_outside_probes(self, probes: Path | None = None, kind: str = "csv") -> None:
        """Search an outside probe set (a CSV manifest or a folder; asked for when not
        given) against the whole gallery, in the background."""
        if self.running:
            return
        if probes is None:
            start = str(self._start_folder())
            if kind == "folder":
                chosen = QFileDialog.getExistingDirectory(
                    self, "Outside probes: a folder with a sub-folder per person", start)
            else:
                chosen, _ = QFileDialog.getOpenFileName(
                    self, "Outside probes: a CSV manifest (path, person_id, ...)", start,
                    "CSV manifest (*.csv *.tsv *.txt)")
            if not chosen:
                return
            probes = Path(chosen)
            self._last_folder = probes if probes.is_dir() else probes.parent
        options = OutsideOptions(group_key=probe_group(probes, self.group_key()),
                                 seed=self.seed_spin.value())
        self.log_use("outside_probes", probes=str(probes), group=options.group_key,
                     seed=options.seed)
        self._run(GeneratorWorker(functools.partial(
            outside_events, self.open_location, probes, self.probe_engine, options)))

    def _run(self, worker: GeneratorWorker) -> None:
        self._started = time.monotonic()
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        self._experiment_worker = worker
        self.progress.setRange(0, 0)
        self.progress.setFormat("loading encodings…")
        self._set_status("Experiment running…")
        self._set_running(True)
        _start(worker)

    def cancel(self) -> None:
        if self._experiment_worker is not None:
            self._experiment_worker.cancel()
            self.cancel_button.setEnabled(False)
            self._set_status("Stopping…")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.run_button.setText("Run again" if self.result is not None and not running
                                else "Run experiment")
        for w in (self.group_combo, self.share_spin, self.seed_spin, self.outside_button):
            w.setEnabled(not running)
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        has = self.result is not None
        self.save_plots_button.setEnabled(has and not running)
        self.save_report_button.setEnabled(has and not running)

    def _on_progress(self, event: ExperimentProgress | OutsideProgress) -> None:
        if event.phase in ("searching", "encoding") and event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.done)
            verb = "encoded" if event.phase == "encoding" else "searched"
            self.progress.setFormat(f"{event.done:,} / {event.total:,} probes {verb}")

    def _on_done(self, event: ExperimentProgress | None) -> None:
        self._experiment_worker = None
        if event is None or event.result is None:
            kept = " The previous result is still shown." if self.result is not None else ""
            self._set_running(False)
            self._set_status(f"Experiment cancelled; nothing was counted.{kept}")
            return
        self.result = event.result
        self._set_running(False)
        r = self.result
        # the time the user waited (loading the encodings included), as a clock reads it
        took = time.monotonic() - self._started
        if isinstance(r, OutsideResult):
            left = f"; {len(r.problems):,} left out (no face, or unreadable)" \
                if r.problems else ""
            self._set_status(f"Outside probes searched in {took:.1f} s: "
                             f"{r.oog_probes:,} probes against all {r.gallery_persons:,} "
                             f"persons of the gallery{left}.")
        else:
            self._set_status(f"Experiment finished in {took:.1f} s: {r.oog_probes:,} "
                             f"probes of persons NOT in the gallery searched against "
                             f"{r.gallery_persons:,} persons.")
        self._show_worst()
        self.refresh()

    def _on_failed(self, message: str) -> None:
        self._experiment_worker = None
        self._set_running(False)
        self._set_status(f"The experiment could not run: {message}", error=True)

    def _on_settings_changed(self) -> None:
        r = self.result
        if r is not None and not self.running and not isinstance(r, OutsideResult):
            same = (r.options.seed, r.options.probe_share, r.group_key) == (
                self.seed_spin.value(), self.share_spin.value() / 100, self.group_key())
            self._set_status("" if same else "The settings changed: Run again to apply them.")
        if self.tabs.currentIndex() == 1:
            self._show_evaluation()

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(escape(text))
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    # -- showing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-count at the slider's threshold; plots of hidden tabs wait until shown."""
        self._debounce.stop()
        self._dirty_tabs = {0, 1, 2}
        self._show_tab(self.tabs.currentIndex())

    def _on_tab(self, index: int) -> None:
        quiz = self.tabs.widget(index) is self.quiz_panel
        for w in (self._experiment_controls, self.status_label, self.save_plots_button,
                  self.save_report_button):
            w.setVisible(not quiz)
        self._show_tab(index)
        if index == 1 and self._evaluation_worker is None and (
                self.evaluation is None or self._evaluation_key != self.group_key()):
            self.run_evaluation()

    def _show_tab(self, index: int) -> None:
        if index not in self._dirty_tabs:
            return
        self._dirty_tabs.discard(index)
        if index == 0:
            self._show_experiment()
        elif index == 1:
            self._show_evaluation()
        else:
            self._mark_worst()

    def _show_empty(self) -> None:
        self.headline.setText("Run the experiment to see how often persons who are NOT in "
                              "this gallery still get candidates.")
        self.setup_label.setText(
            "The persons of the gallery are split at random: the held-out share is searched "
            "against the rest, so every candidate they receive is a false candidate. Moving "
            "the threshold then re-counts at once, without searching again.")
        self.group_title.clear()
        self.group_table.hide()
        self.ratio_label.clear()
        self.in_gallery_label.clear()
        self.prediction_title.clear()
        self.prediction_table.hide()
        self.size_plot.set_message("The plot of false candidates against gallery size "
                                   "appears here.")
        self.group_plot.set_message("The per-group plot appears here (choose a group "
                                    "column).")
        self.evaluation_status.setText("Measures the distances of every pair of faces in the "
                                       "gallery.")
        for pane in (self.histogram_plot, self.error_plot, self.det_plot):
            pane.set_message("")
        self.error_table.hide()

    def _show_experiment(self) -> None:
        r, t = self.result, self.threshold()
        if r is None:
            return
        self.headline.setText(headline(r, t))
        share = round(r.options.probe_share * 100)
        if isinstance(r, OutsideResult):
            self.setup_label.setText(escape(
                f"Outside probes {Path(r.probe_set['source']).name}: {r.oog_probes:,} photos "
                f"that are NOT in the gallery, searched against all {r.gallery_persons:,} "
                f"persons ({r.gallery_faces:,} photos). {int(r.in_gallery.sum()):,} show "
                "persons who are also in the gallery; every probe's own person is left out "
                "when counting, so every candidate counted is a false candidate."))
        else:
            self.setup_label.setText(
                f"Split at random (seed {r.options.seed}, {share} % held out): "
                f"{r.gallery_persons:,} persons ({r.gallery_faces:,} photos) form the "
                f"gallery; {r.oog_probes:,} other persons, NOT in the gallery, were searched "
                "against it. Any candidate they receive is a false candidate.")
        self._show_predictions(r, t)
        rows = r.by_group(t)
        if r.oog_groups is not None and rows:
            self.group_title.setText(f"Per {r.group_key} (the probe's group), at distance ≤ "
                                     f"{lab.fmt_t(t)}")
            self.group_table.setHorizontalHeaderItem(0, QTableWidgetItem(r.group_key or "group"))
            self.group_table.show()
            _fill(self.group_table, [group_cells(g) for g in rows])
            rates = {g["group"]: g["fpir"] for g in rows}
            self.ratio_label.setText(escape(ratio_words(r.group_ratio(t), rates, t)))
        else:
            self.group_title.setText("No group column chosen: choose one (e.g. sex) and run "
                                     "again to see the figures per group.")
            self.group_table.hide()
            self.ratio_label.clear()
        if r.mated_probes:
            one, within = r.rank_hit(1), r.mated_within(t)
            what = "a probe of a person who IS also in the gallery" \
                if isinstance(r, OutsideResult) else \
                "a held-out photo of a person who IS in the gallery"
            self.in_gallery_label.setText(escape(
                f"In-gallery probes ({r.mated_probes:,}: {what}): own person ranked first "
                f"for {one.k:,} ({pct(one.value)} %); "
                f"own person at distance ≤ {lab.fmt_t(t)} for {within.k:,} "
                f"({pct(within.value)} %)."))
        else:
            self.in_gallery_label.setText(
                "No in-gallery probes: no gallery person has a second photo to hold out, so "
                "how often the right person comes first cannot be measured on this gallery.")
        figs = lab.experiment_figures(r, QUICK_THRESHOLDS, highlight=t)
        self.size_plot.set_figure(dark=self._dark, fig=figs["false_candidates_vs_size"])
        if "groups_false_candidates" in figs:
            self.group_plot.show()
            self.group_plot.set_figure(dark=self._dark, fig=figs["groups_false_candidates"])
        else:
            self.group_plot.hide()

    def _show_predictions(self, r: ExperimentResult, t: float) -> None:
        """Outside probes: the false candidates per probe FaceDesk predicts (as a search
        computes them, without the labels) against those observed, at the slider."""
        if not isinstance(r, OutsideResult) or not r.predictions:
            self.prediction_title.clear()
            self.prediction_table.hide()
            return
        names = list(r.predictions)
        self.prediction_title.setText(f"False candidates per probe at distance ≤ "
                                      f"{lab.fmt_t(t)}: predicted against observed")
        self.prediction_table.setColumnCount(3 + len(names))
        self.prediction_table.setHorizontalHeaderLabels(
            ["group", "probes", "observed", *(f"predicted: {n}" for n in names)])
        rows = [row[1:] for row in r.prediction_table([t], per_probe)]
        self.prediction_table.show()
        _fill(self.prediction_table, rows)

    # -- error rates of all pairs ----------------------------------------------------------------

    def run_evaluation(self) -> None:
        if self._evaluation_worker is not None:
            return
        key = self.group_key()
        self.log_use("evaluation", group=key)
        worker = GeneratorWorker(functools.partial(evaluation_events, self.open_location, key))
        worker.done.connect(functools.partial(self._on_evaluated, key))
        worker.failed.connect(self._on_evaluation_failed)
        self._evaluation_worker = worker
        self.evaluate_button.setEnabled(False)
        self.evaluation_progress.show()
        self.evaluation_status.setText("Measuring the distance of every pair of faces… "
                                       "(a few seconds on a large gallery)")
        self.evaluation_status.setStyleSheet("")
        _start(worker)

    def _on_evaluated(self, key: str | None, event: tuple[str, Any] | None) -> None:
        self._evaluation_worker = None
        self.evaluate_button.setEnabled(True)
        self.evaluation_progress.hide()
        if event is None or event[0] != "finished":
            self.evaluation_status.setText("The measurement was stopped.")
            return
        self.evaluation, self._evaluation_key = event[1], key
        self._dirty_tabs.add(1)
        if self.tabs.currentIndex() == 1:
            self._show_tab(1)
        self.save_report_button.setEnabled(self.result is not None and not self.running)

    def _on_evaluation_failed(self, message: str) -> None:
        self._evaluation_worker = None
        self.evaluate_button.setEnabled(True)
        self.evaluation_progress.hide()
        self.evaluation_status.setText(escape(f"The error rates could not be measured: "
                                              f"{message}"))
        self.evaluation_status.setStyleSheet(ERROR_STYLE)

    def _show_evaluation(self) -> None:
        ev, t = self.evaluation, self.threshold()
        if ev is None:
            return
        d = ev.distributions
        stale = self._evaluation_key != self.group_key()
        self.evaluate_button.setText("Measure again" if not stale
                                     else f"Measure per {self.group_key() or 'all'}")
        text = (f"{escape(ev.title)}: {d.genuine_pairs:,} genuine pairs (same person), "
                f"{d.impostor_pairs:,} impostor pairs (different persons).")
        if lab.has_genuine(ev):
            t_eer, eer = d.equal_error() or (math.nan, math.nan)
            text += f" Equal error rate {pct(eer)} % at distance {t_eer:.3f}."
        if stale:
            text += " (Measured with another group column: measure again to change it.)"
        self.evaluation_status.setText(text)
        self.evaluation_status.setStyleSheet("")
        counts = self._gallery.counts()
        rows = [self._error_cells("all", f"{counts['persons']:,}", f"{counts['faces']:,}",
                                  d.fmr(t), d.fnmr(t))]
        for g in ev.groups_at(t):
            rows.append(self._error_cells(g["group"], f"{g['persons']:,}", f"{g['faces']:,}",
                                          g["fmr"], g["fnmr"]))
        self.error_table.setHorizontalHeaderItem(
            3, QTableWidgetItem(f"false match rate at ≤ {lab.fmt_t(t)}"))
        self.error_table.setHorizontalHeaderItem(
            5, QTableWidgetItem(f"false non-match rate at ≤ {lab.fmt_t(t)}"))
        self.error_table.setHorizontalHeaderItem(
            0, QTableWidgetItem(ev.group_key or "group"))
        self.error_table.show()
        _fill(self.error_table, rows)
        figs = lab.evaluation_figures(ev, (t,))
        self.histogram_plot.set_figure(dark=self._dark, fig=figs["distances"])
        self.error_plot.set_figure(dark=self._dark, fig=figs["error_rates"])
        if ev.groups:
            rates = {g.group: g.distributions.fmr(t) for g in ev.groups}
            self.fmr_ratio_label.setText(escape(ratio_words(
                ev.group_ratio(t), rates, t, "impostor pairs this close").replace(
                    "times as often", "times the false match rate")))
        else:
            self.fmr_ratio_label.setText("")
        self.fmr_ratio_label.setVisible(bool(ev.groups))
        if "det" in figs:
            self.det_plot.set_figure(dark=self._dark, fig=figs["det"])
            self.det_plot.show()
            self.no_genuine_label.hide()
        else:
            self.no_genuine_label.setText(
                "This gallery has no repeat photos of any person (one photo each), so there "
                "are no genuine pairs (same person): the false non-match rate and the DET "
                "curve cannot be measured here. The false match rate (different persons) "
                "can.")
            self.no_genuine_label.show()
            self.det_plot.set_message("No DET curve: it needs pairs of photos of the same "
                                      "person, and this gallery has none.")
            self.det_plot.hide()

    @staticmethod
    def _error_cells(group: str, persons: str, faces: str, fmr: Rate, fnmr: Rate) -> list[str]:
        lo, hi = fmr.interval
        cells = [group, persons, faces,
                 f"{plots.format_rate(fmr.value)} ({fmr.k:,} of {fmr.n:,} pairs)",
                 f"{plots.format_rate(lo)} – {plots.format_rate(hi)}"]
        if fnmr.n:
            nlo, nhi = fnmr.interval
            cells += [f"{pct(fnmr.value)} % ({fnmr.k:,} of {fnmr.n:,} pairs)",
                      f"{pct(nlo)}–{pct(nhi)} %"]
        else:
            cells += ["no genuine pairs", "–"]
        return cells

    # -- the closest false candidates --------------------------------------------------------------

    def _show_worst(self) -> None:
        while self.worst_grid.count():
            item = self.worst_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self._crop_rows = []
        r = self.result
        if r is None:
            return
        outside = isinstance(r, OutsideResult)
        details = self._gallery.face_details(
            [f for w in r.worst for f in (w.probe_face_id, w.candidate_face_id) if f >= 0])
        for i, w in enumerate(r.worst):
            card = QFrame()
            card.setObjectName(f"worstPair{i + 1}")
            card.setFrameShape(QFrame.Shape.StyledPanel)
            row = QHBoxLayout(card)
            probe_crop = r.probe_crops[w.probe_index] if isinstance(r, OutsideResult) \
                else self._gallery.face_crop(w.probe_face_id)
            for data in (probe_crop, self._gallery.face_crop(w.candidate_face_id)):
                row.addWidget(self._crop_label(data))
            probe, cand = details.get(w.probe_face_id), details.get(w.candidate_face_id)
            who = self._person(w.probe_person, probe)
            if outside:
                who = f"{w.probe_label} ({w.probe_person})"
            where = "an outside probe, its own person left out" if outside else \
                "NOT in the gallery"
            label = _note(f"worstText{i + 1}")
            label.setProperty("facedeskText", (
                f"{i + 1}. Left, the probe: <b>{escape(who)}"
                f"</b>, {where}.<br>Right, the gallery photo of "
                f"<b>{escape(self._person(w.candidate_person, cand))}</b>.<br>Two DIFFERENT "
                f"persons, distance <b>{w.distance:.3f}</b>."))
            row.addWidget(label, 1)
            self.worst_grid.addWidget(card, i // WORST_COLUMNS, i % WORST_COLUMNS)
            self._crop_rows.append((w.distance, label))
        if not r.worst:
            self.worst_grid.addWidget(QLabel("No probes to show."), 0, 0)
        for c in range(WORST_COLUMNS):
            self.worst_grid.setColumnStretch(c, 1)
        self.worst_grid.setRowStretch((len(r.worst) + WORST_COLUMNS - 1) // WORST_COLUMNS, 1)
        self._mark_worst()

    @staticmethod
    def _person(person_id: str, details: FaceDetails | None) -> str:
        name = None if details is None else details.name
        return person_id if not name or name == person_id else f"{person_id} — {name}"

    @staticmethod
    def _crop_label(data: bytes) -> QLabel:
        label = QLabel()
        label.setFixedSize(CROP_PX + 4, CROP_PX + 4)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setFrameShape(QFrame.Shape.Box)
        pixmap = face_pixmap(data, size=CROP_PX)
        if pixmap is not None:
            label.setPixmap(pixmap)
        else:
            label.setText("no crop\nstored")
        return label

    def _mark_worst(self) -> None:
        t = self.threshold()
        for distance, label in self._crop_rows:
            verdict = (f"<br><span style='color:#b00020'>At distance ≤ {lab.fmt_t(t)}: listed as "
                       "a candidate.</span>" if distance <= t else
                       f"<br>At distance ≤ {lab.fmt_t(t)}: not listed.")
            label.setText(str(label.property("facedeskText")) + verdict)

    # -- export ----------------------------------------------------------------------------------

    def figures(self) -> dict[str, Figure]:
        """The plots shown, built anew for saving."""
        if self.result is None:
            return {}
        figs = lab.experiment_figures(self.result, QUICK_THRESHOLDS,
                                      highlight=self.threshold())
        if self.evaluation is not None:
            figs.update(lab.evaluation_figures(self.evaluation, (self.threshold(),)))
        return figs

    def save_plots(self, folder: Path | None = None) -> list[Path]:
        if self.result is None:
            return []
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "Save plots into a folder",
                                                      str(self._start_folder()))
            if not chosen:
                return []
            folder = Path(chosen)
            self._last_folder = folder
        try:
            written = lab.save_figures(self.figures(), folder)
        except (OSError, ValueError) as exc:
            self._set_status(f"Could not save the plots in {folder}: {exc}", error=True)
            return []
        self.log_use("plots_saved", folder=str(folder), files=len(written))
        self._set_status(f"Saved {len(written)} files (PNG and SVG) in {folder}")
        return written

    def report_thresholds(self) -> tuple[float, ...]:
        return tuple(sorted({*QUICK_THRESHOLDS, self.threshold()}))

    def save_report(self, path: Path | None = None) -> Path | None:
        r = self.result
        if r is None:
            return None
        if path is None:
            stem = Path(self._gallery.name).stem
            default = self._start_folder() / f"{stem}-false-positives.html"
            chosen, _ = QFileDialog.getSaveFileName(self, "Save report", str(default),
                                                    "HTML report (*.html)")
            if not chosen:
                return None
            path = Path(chosen)
            self._last_folder = path.parent
        if path.suffix.lower() not in (".html", ".htm"):
            path = path.with_name(path.name + ".html")
        ts = self.report_thresholds()
        try:
            rep = lab.new_report(self._gallery.name)
            if self.evaluation is not None:
                lab.add_evaluation(rep, self.evaluation, ts,
                                   lab.evaluation_figures(self.evaluation, ts))
            lab.add_experiment(rep, r, ts, lab.experiment_figures(r, ts),
                               lab.worst_crops(self._gallery, r))
            rep.write(path)
        except (OSError, ValueError) as exc:
            self._set_status(f"Could not save the report {path}: {exc}", error=True)
            return None
        self.log_use("report_saved", path=str(path))
        self._set_status(f"Report saved: {path}")
        return path

    # -- closing ---------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        for worker in (self._experiment_worker, self._evaluation_worker):
            if worker is not None:
                # it stops at its next check and ends on its own; nothing of it comes here
                worker.cancel()
                for signal in (worker.progress, worker.done, worker.failed):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        with contextlib.suppress(RuntimeError, TypeError):
                            signal.disconnect()
        self._experiment_worker = self._evaluation_worker = None
        self._debounce.stop()
        self._gallery.close()
        super().closeEvent(event)
