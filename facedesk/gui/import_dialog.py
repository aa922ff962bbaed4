"""The import dialog: choose a folder of photos or a CSV manifest (with its columns mapped),
run the import in the background with live progress, and list every problem at the end.

The import itself is core's `run_import` generator; it runs in a `GeneratorWorker` thread
that opens (and closes) the gallery itself, because an SQLite connection belongs to the
thread that opened it. The dialog only reads the events it is sent.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facedesk.app.importer import (
    ImportOptions,
    ImportProgress,
    import_detect_options,
    run_import,
)
from facedesk.app.sources import header_problem, manifest_preview, person_regex
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, FRAME
from facedesk.domain.csvsafe import write_csv
from facedesk.domain.formatting import duration_words as format_duration
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError
from facedesk.gui.formatting import noun
from facedesk.gui.styles import ERROR_STYLE
from facedesk.gui.widgets import button
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import Gallery, Problem
from facedesk.store.postgres import gallery_location, public_location

#: how often the progress widgets are redrawn at most (seconds)
RENDER_INTERVAL_S = 0.1
PREVIEW_ROWS = 5
STOP_QUESTION = "Stop the import? What was imported is kept."
#: a run that is asked to stop is waited for this long when the dialog closes (ms)
CLOSE_WAIT_MS = 60_000

#: role -> (combo label, what the column holds, required)
ROLES: dict[str, tuple[str, str, bool]] = {
    "path": ("Path", "the photo's file path", True),
    "person_id": ("Person id", "the person id", True),
    "name": ("Name (optional)", "the person's name", False),
}
LAYOUT_CHOICES = (
    ("auto", "Automatic (sub-folders if there are any)"),
    ("folders", "One sub-folder per person"),
    ("flat", "Each photo its own person"),
)
#: what to do with a photo where the detector finds no face: key -> (label, fallback steps)
RECOVERY_CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": (f"Look again with the CNN detector ({', '.join(DEFAULT_IMPORT_FALLBACKS)}; "
                "recommended)", DEFAULT_IMPORT_FALLBACKS),
    "thorough": ("Look again with every detector, then take the photo's central region "
                 "(a guess)", (*DEFAULT_IMPORT_FALLBACKS, "hog:2", FRAME)),
    "none": ("Do not look again: store the photo without a face", ()),
}
PROBLEM_HEADERS = ("Path", "Problem", "Reason", "Line")


# worker threads still finishing after their dialog went away (a QThread must outlive its
# run, so it is kept here instead of being a child of the dialog)
_live_workers: set[GeneratorWorker] = set()


def import_events(gallery_path: Path | str, source: Path | None, manifest: Path | None,
                  options: ImportOptions, engine: EngineSpec | None, user_id: str | None,
                  cancel: CancelToken) -> Iterator[ImportProgress]:
    """Runs in the worker thread: the gallery is opened and closed in that thread."""
    gallery = Gallery.open(gallery_path, create=True)
    try:
        yield from run_import(gallery, source, manifest=manifest, options=options,
                              engine=engine, cancel=cancel, user_id=user_id)
    finally:
        gallery.close()


def mapping_error(columns: list[str], mapping: dict[str, str]) -> str | None:
    """Why this column mapping cannot be read (the header checks of every manifest import,
    `sources.header_problem`, in the dialog's words), or None."""
    for role, (label, what, required) in ROLES.items():
        if required and not mapping.get(role):
            return (f"Choose the column that holds {what} ({label}). "
                    f"The manifest has: {', '.join(columns) or 'no columns'}.")
    problem = header_problem(columns, mapping)
    if problem is None:
        return None
    if problem.kind == "same_column":
        return "Path, Person id and Name must be different columns."
    if problem.kind == "duplicate":
        return (f"More than one column would be read as {', '.join(problem.names)} "
                "(another column already has that name); choose that column, "
                "or rename it in the CSV.")
    return problem.message("The manifest")


class ImportDialog(QDialog):
    """Import photos into one gallery, in the background."""

    #: the final event (status completed or cancelled) when a run ends
    imported = Signal(object)
    #: the worker of a run, just before it starts (for progress listeners)
    run_started = Signal(object)

    def __init__(self, gallery_path: Path | str, parent: QWidget | None = None,
                 engine: EngineSpec | None = None, user_id: str | None = None,
                 require_user: bool = False) -> None:
        """`user_id`: the signed-in user the import's audit event names; with
        `require_user` nothing is imported until there is one (`set_user`), e.g. the first
        administrator of a new gallery."""
        super().__init__(parent)
        #: what the import opens: the file, or the server's URL (a gallery on a server)
        self.location = gallery_location(str(gallery_path))
        self.gallery_path = Path(self.location) if isinstance(self.location, Path) \
            else Path.home()
        self._engine = engine
        self._user_id = user_id
        self._require_user = require_user
        self._worker: GeneratorWorker | None = None
        self._running = False
        self._last_render = 0.0
        self._columns: list[str] = []
        self._manifest_error: str | None = None
        self._loaded_manifest: Path | None = None
        self._problems: list[Problem] = []
        self._final: ImportProgress | None = None
        self._pending: ImportProgress | None = None
        self._summary: str | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render_pending)

        self.setWindowTitle("Import photos into the gallery")
        self.setObjectName("importDialog")
        self.setMinimumWidth(760)

        # everything but the buttons in a scroll area: a manifest's column mapping and the
        # problems together are taller than a 768-pixel screen leaves; the buttons stay
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        self.gallery_label = QLabel()
        self.gallery_label.setObjectName("galleryLabel")
        self.gallery_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gallery_label.setWordWrap(True)
        self._show_gallery()
        body.addWidget(self.gallery_label)
        body.addWidget(self._build_source())
        body.addWidget(self._build_progress())
        body.addWidget(self._build_problems(), 1)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("importScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.body)
        root = QVBoxLayout(self)
        root.addWidget(self.scroll, 1)
        root.addLayout(self._build_buttons())

        # the dialog keeps one size and layout while it runs: what appears and goes
        # (the problems, the cancel button) keeps its place when hidden, and the status
        # line has room for three lines from the start (it once grew to ~750 px tall and
        # re-laid itself out at each step)
        for w in (self.problems_box, self.problems_table, self.export_button,
                  self.cancel_button):
            policy = w.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            w.setSizePolicy(policy)
        self.status_label.setMinimumHeight(3 * self.fontMetrics().lineSpacing())
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._on_source_kind()
        self._set_running(False)
        self._fitted = False

    def showEvent(self, event: QShowEvent) -> None:
        if not self._fitted:  # once laid out for the first time
            self._fitted = True
            self._fit_screen()
        super().showEvent(event)

    def _fit_screen(self) -> None:
        """As tall as its content (which keeps one height from here on), at most what the
        screen leaves below a title bar and a task bar."""
        root = self.layout()
        margins = root.contentsMargins()
        buttons = max(b.sizeHint().height() for b in
                      (self.start_button, self.cancel_button, self.close_button))
        chrome = margins.top() + margins.bottom() + root.spacing() + buttons + \
            2 * self.scroll.frameWidth()
        height = chrome + self.body.minimumSizeHint().height()  # the problems at their least
        screen = self.screen()
        if screen is not None:
            height = min(height, screen.availableGeometry().height() - 60)
        self.resize(max(self.minimumWidth(), self.width()), height)

    # -- building --------------------------------------------------------------------------

    def _show_gallery(self) -> None:
        if isinstance(self.location, str):
            self.gallery_label.setText(f"Gallery: <b>{escape(public_location(self.location))}"
                                       "</b> (on a server)")
            return
        new = "" if self.gallery_path.exists() else " (new; the import creates it)"
        self.gallery_label.setText(
            f"Gallery: <b>{escape(self.gallery_path.name)}</b> &nbsp;"
            f"<span style='color:gray'>{escape(str(self.gallery_path.parent))}</span>{new}")

    def _compact_rows(self, table: QTableWidget) -> int:
        """Rows one text line high; returns that height."""
        height = self.fontMetrics().height() + 8
        table.verticalHeader().setDefaultSectionSize(height)
        table.verticalHeader().setMinimumSectionSize(height)
        return height

    def _build_source(self) -> QGroupBox:
        box = QGroupBox("Photos to import")
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)

        self.folder_radio = QRadioButton("Folder")
        self.folder_radio.setObjectName("sourceFolder")
        self.folder_radio.setChecked(True)
        self.manifest_radio = QRadioButton("CSV manifest")
        self.manifest_radio.setObjectName("sourceManifest")
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.manifest_radio)
        self.folder_radio.toggled.connect(self._on_source_kind)

        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("folderEdit")
        self.folder_edit.setPlaceholderText("a folder of photos")
        self.folder_edit.textChanged.connect(self._validate)
        self.folder_browse = button("Browse…", "folderBrowse", self._browse_folder)
        grid.addWidget(self.folder_radio, 0, 0)
        grid.addWidget(self.folder_edit, 0, 1)
        grid.addWidget(self.folder_browse, 0, 2)

        self.folder_options = QWidget()
        form = QFormLayout(self.folder_options)
        form.setContentsMargins(24, 0, 0, 6)
        self.layout_combo = QComboBox()
        self.layout_combo.setObjectName("layoutCombo")
        for key, text in LAYOUT_CHOICES:
            self.layout_combo.addItem(text, key)
        self.layout_combo.currentIndexChanged.connect(self._validate)
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setObjectName("patternEdit")
        self.pattern_edit.setPlaceholderText(
            r"optional: a regular expression with a group, e.g. ^(?P<person>\d+)_")
        self.pattern_edit.setToolTip(
            "For a folder without sub-folders: the part of each file name that names the "
            "person. Without a pattern, each photo is its own person.")
        self.pattern_edit.textChanged.connect(self._validate)
        form.addRow("Layout:", self.layout_combo)
        form.addRow("Person pattern:", self.pattern_edit)
        grid.addWidget(self.folder_options, 1, 0, 1, 3)

        self.manifest_edit = QLineEdit()
        self.manifest_edit.setObjectName("manifestEdit")
        self.manifest_edit.setPlaceholderText(
            "a CSV file: one row per photo, with its path and person id")
        self.manifest_edit.textChanged.connect(self._on_manifest_path)
        self.manifest_browse = button("Browse…", "manifestBrowse", self._browse_manifest)
        grid.addWidget(self.manifest_radio, 2, 0)
        grid.addWidget(self.manifest_edit, 2, 1)
        grid.addWidget(self.manifest_browse, 2, 2)

        self.mapping_box = QGroupBox("Columns of the manifest")
        self.mapping_box.setObjectName("mappingBox")
        mapping = QVBoxLayout(self.mapping_box)
        combos = QHBoxLayout()
        self.column_combos: dict[str, QComboBox] = {}
        for role, name in (("path", "pathColumn"), ("person_id", "personColumn"),
                           ("name", "nameColumn")):
            combo = QComboBox()
            combo.setObjectName(name)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._on_mapping)
            self.column_combos[role] = combo
            label = QLabel(f"{ROLES[role][0]}:")
            label.setBuddy(combo)
            combos.addWidget(label)
            combos.addWidget(combo)
            combos.addSpacing(12)
        combos.addStretch(1)
        mapping.addLayout(combos)
        self.metadata_label = QLabel()
        self.metadata_label.setObjectName("metadataLabel")
        self.metadata_label.setWordWrap(True)
        mapping.addWidget(self.metadata_label)
        self.preview_table = QTableWidget()
        self.preview_table.setObjectName("previewTable")
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.preview_table.verticalHeader().setVisible(False)
        self.preview_table.horizontalHeader().setStretchLastSection(True)
        # at most PREVIEW_ROWS rows: room for all of them (and a horizontal scroll bar)
        row_h = self._compact_rows(self.preview_table)
        self.preview_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.preview_table.setFixedHeight(
            self.preview_table.horizontalHeader().sizeHint().height() + row_h * PREVIEW_ROWS
            + 2 * self.preview_table.frameWidth() + 6
            + self.preview_table.horizontalScrollBar().sizeHint().height())
        mapping.addWidget(self.preview_table)
        grid.addWidget(self.mapping_box, 3, 0, 1, 3)

        workers_row = QHBoxLayout()
        self.workers_spin = QSpinBox()
        self.workers_spin.setObjectName("workersSpin")
        self.workers_spin.setRange(0, max(64, 4 * (os.cpu_count() or 1)))
        self.workers_spin.setValue(0)
        self.workers_spin.setSpecialValueText(f"one per core ({os.cpu_count() or 1})")
        self.workers_spin.setToolTip("Processes that analyse photos at the same time "
                                     "(0 = one per core).")
        workers_label = QLabel("Workers:")
        workers_label.setBuddy(self.workers_spin)
        workers_row.addWidget(workers_label)
        workers_row.addWidget(self.workers_spin)
        workers_row.addSpacing(16)
        self.recovery_combo = QComboBox()
        self.recovery_combo.setObjectName("recoveryCombo")
        # as wide as the row leaves (its longest choice made the dialog 820 px wide)
        self.recovery_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.recovery_combo.setMinimumContentsLength(20)
        self.recovery_combo.setSizePolicy(QSizePolicy.Policy.Expanding,
                                          QSizePolicy.Policy.Fixed)
        for key, (text, steps) in RECOVERY_CHOICES.items():
            self.recovery_combo.addItem(text, key)
            self.recovery_combo.setItemData(
                self.recovery_combo.count() - 1,
                "Steps, in order: " + (", ".join(steps) or "none"),
                Qt.ItemDataRole.ToolTipRole)
        self.recovery_combo.setToolTip(
            "When the face detector finds no face in a photo: look again in other ways "
            "(this costs time only on those photos). Each stored face records how it was "
            "found; a face taken from the photo's central region is a guess that no "
            "detector confirmed.")
        recovery_label = QLabel("No face found:")
        recovery_label.setBuddy(self.recovery_combo)
        workers_row.addWidget(recovery_label)
        workers_row.addWidget(self.recovery_combo, 1)
        grid.addLayout(workers_row, 4, 0, 1, 3)
        self.source_box = box
        return box

    def _build_progress(self) -> QGroupBox:
        box = QGroupBox("Progress")
        layout = QVBoxLayout(box)
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("progressBar")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("not started")
        layout.addWidget(self.progress_bar)
        self.rate_label = QLabel(" ")
        self.rate_label.setObjectName("rateLabel")
        layout.addWidget(self.rate_label)

        counts = QGridLayout()
        self.count_labels: dict[str, QLabel] = {}
        fields = (
            ("total", "countTotal", "Photos in the source"),
            ("imported", "countNew", "New photos stored"),
            ("already_stored", "countStored", "Already in the gallery"),
            ("no_face", "countNoFace", "Stored without a face (not searchable)"),
            ("multi_face", "countMultiFace", "With several faces (subject kept)"),
            ("duplicates", "countDuplicates", "Same photo twice in the source"),
            ("failed", "countFailed", "Failed"),
        )
        for i, (key, name, text) in enumerate(fields):
            value = QLabel("–")
            value.setObjectName(name)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(48)
            self.count_labels[key] = value
            row, col = i % 4, (i // 4) * 3
            counts.addWidget(QLabel(text + ":"), row, col)
            counts.addWidget(value, row, col + 1)
        counts.setColumnMinimumWidth(2, 24)
        counts.setColumnStretch(5, 1)
        layout.addLayout(counts)

        self.status_label = QLabel(" ")
        self.status_label.setObjectName("statusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        return box

    def _build_problems(self) -> QGroupBox:
        box = QGroupBox("Problems")
        box.setObjectName("problemsBox")
        layout = QVBoxLayout(box)
        self.problems_table = QTableWidget(0, len(PROBLEM_HEADERS))
        self.problems_table.setObjectName("problemsTable")
        self.problems_table.setHorizontalHeaderLabels(PROBLEM_HEADERS)
        self.problems_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.problems_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.problems_table.verticalHeader().setVisible(False)
        self.problems_table.setWordWrap(False)
        header = self.problems_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        row_h = self._compact_rows(self.problems_table)
        self.problems_table.setMinimumHeight(row_h * 4)
        # four rows unless the dialog is made taller (its size hint, ~8 rows, made the
        # dialog too tall for a 768-pixel screen)
        self.problems_table.setSizePolicy(QSizePolicy.Policy.Expanding,
                                          QSizePolicy.Policy.Ignored)
        layout.addWidget(self.problems_table)
        row = QHBoxLayout()
        self.export_label = QLabel()
        self.export_label.setObjectName("exportLabel")
        row.addWidget(self.export_label, 1)
        self.export_button = button("Export CSV…", "exportButton", self._export_problems)
        self.export_button.setToolTip("Save every problem (path, code, reason, line) as CSV")
        row.addWidget(self.export_button)
        layout.addLayout(row)
        box.setVisible(False)
        self.problems_box = box
        return box

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_button = button("Start import", "startButton", self.start)
        self.start_button.setDefault(True)
        # as wide as its longer text ("Import again" after a run): the row stays put
        fm = self.start_button.fontMetrics()
        self.start_button.setMinimumWidth(
            self.start_button.sizeHint().width() - fm.horizontalAdvance("Start import")
            + fm.horizontalAdvance("Import again"))
        self.cancel_button = button("Cancel import", "cancelButton", self.cancel)
        self.cancel_button.setToolTip("Stop after the current photo; what was imported is kept")
        self.close_button = button("Close", "closeButton", self.accept)
        self.close_button.setAutoDefault(False)
        for b in (self.start_button, self.cancel_button, self.close_button):
            row.addWidget(b)
        return row

    # -- source choice -----------------------------------------------------------------------

    def _on_source_kind(self) -> None:
        folder = self.folder_radio.isChecked()
        for w in (self.folder_edit, self.folder_browse, self.folder_options):
            w.setEnabled(folder)
        for w in (self.manifest_edit, self.manifest_browse):
            w.setEnabled(not folder)
        self.mapping_box.setVisible(not folder and bool(self._columns))
        self._validate()

    def _browse_folder(self) -> None:
        start = self.folder_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder of photos", start)
        if folder:
            self.folder_edit.setText(folder)

    def _browse_manifest(self) -> None:
        current = self.manifest_edit.text().strip()
        start = str(Path(current).parent) if current else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "CSV manifest", start, "CSV files (*.csv);;All files (*)")
        if path:
            self.manifest_edit.setText(path)

    def _on_manifest_path(self) -> None:
        text = self.manifest_edit.text().strip()
        path = Path(text) if text else None
        self._columns = []
        self._manifest_error = None
        self._loaded_manifest = None
        if path is not None and path.is_file():
            try:
                columns, rows = manifest_preview(path, rows=PREVIEW_ROWS)
            except FaceDeskError as exc:
                self._manifest_error = exc.message
            else:
                self._columns = columns
                self._loaded_manifest = path
                self._fill_mapping(columns, rows)
        elif path is not None:
            self._manifest_error = f"{path}: no such file"
        self.mapping_box.setVisible(self.manifest_radio.isChecked() and bool(self._columns))
        self._validate()

    def _fill_mapping(self, columns: list[str], rows: list[list[str]]) -> None:
        for role, combo in self.column_combos.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("(none)" if not ROLES[role][2] else "— choose —", "")
            for c in columns:
                combo.addItem(c, c)
            lowered = [c.lower() for c in columns]
            combo.setCurrentIndex(lowered.index(role) + 1 if role in lowered else 0)
            combo.blockSignals(False)
        table = self.preview_table
        table.clear()
        table.setColumnCount(len(columns))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(columns)
        for r, row in enumerate(rows):
            for col, cell in enumerate(row[:len(columns)]):
                table.setItem(r, col, QTableWidgetItem(cell))
        table.resizeColumnsToContents()
        self._on_mapping()

    def columns_map(self) -> dict[str, str]:
        """The manifest columns chosen for path, person id and name ("" = none)."""
        return {role: str(combo.currentData() or "")
                for role, combo in self.column_combos.items()}

    def _on_mapping(self) -> None:
        mapping = self.columns_map()
        roles = {v: ROLES[k][0] for k, v in mapping.items() if v}
        kept = [c for c in self._columns if c and c not in roles]
        self.metadata_label.setText(
            "Kept as metadata: " + (", ".join(kept) if kept else "(no other columns)"))
        header = self.preview_table.horizontalHeader()
        for i, c in enumerate(self._columns):
            item = self.preview_table.horizontalHeaderItem(i)
            if item is None:
                continue
            role = roles.get(c)
            item.setToolTip(f"read as {role}" if role else "kept as metadata")
            font = item.font()
            font.setBold(role is not None)
            item.setFont(font)
        header.viewport().update()
        self._validate()

    # -- validation --------------------------------------------------------------------------

    def set_user(self, user_id: str) -> None:
        """The user who imports from now on (signed in while the dialog was open)."""
        self._user_id = user_id
        self._validate()

    def source_error(self) -> str | None:
        """Why the chosen source cannot be imported yet, or None when it can."""
        if self._require_user and self._user_id is None:
            return ("Nobody is signed in: every import is recorded under a user. Create the "
                    "gallery's first administrator (or sign in), then import.")
        if self.folder_radio.isChecked():
            text = self.folder_edit.text().strip()
            if not text:
                return "Choose a folder of photos."
            folder = Path(text)
            if not folder.is_dir():
                return (f"{folder}: not a folder" if folder.exists()
                        else f"{folder}: no such folder")
            pattern = self.pattern_edit.text().strip()
            if pattern and self.layout_combo.currentData() != "folders":
                try:
                    person_regex(pattern)
                except FaceDeskError as exc:
                    return exc.message
            return None
        if not self.manifest_edit.text().strip():
            return "Choose a CSV manifest."
        if self._manifest_error:
            return self._manifest_error
        if self._loaded_manifest is None:
            return "Choose a CSV manifest."
        return mapping_error(self._columns, self.columns_map())

    def _validate(self) -> None:
        if self._running:
            return
        self.pattern_edit.setEnabled(self.layout_combo.currentData() != "folders")
        error = self.source_error()
        self.start_button.setEnabled(error is None)
        if error is None:
            # after a run its summary stays until the next one starts
            self._set_status(self._summary or "Ready to import.")
        else:
            # "choose ..." is guidance before anything is chosen; the rest are errors
            empty = (self.folder_edit if self.folder_radio.isChecked()
                     else self.manifest_edit).text().strip() == ""
            self._set_status(error, error=not empty)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(ERROR_STYLE if error else "")

    # -- the run -----------------------------------------------------------------------------

    def fallbacks(self) -> tuple[str, ...]:
        """The fallback steps chosen for photos where the detector finds no face."""
        return RECOVERY_CHOICES[str(self.recovery_combo.currentData())][1]

    def options(self) -> ImportOptions:
        detect = import_detect_options(fallbacks=self.fallbacks())
        if self.folder_radio.isChecked():
            layout = str(self.layout_combo.currentData())
            pattern = self.pattern_edit.text().strip() if layout != "folders" else ""
            return ImportOptions(workers=self.workers_spin.value(), layout=layout,
                                 person_pattern=pattern or None, detect=detect)
        mapping = {k: v for k, v in self.columns_map().items() if v}
        return ImportOptions(workers=self.workers_spin.value(), columns_map=mapping,
                             detect=detect)

    @property
    def worker(self) -> GeneratorWorker | None:
        return self._worker

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running or self.source_error() is not None:
            return
        if self.folder_radio.isChecked():
            source: Path | None = Path(self.folder_edit.text().strip())
            manifest: Path | None = None
        else:
            source, manifest = None, Path(self.manifest_edit.text().strip())
        make_events = functools.partial(import_events, self.location, source, manifest,
                                        self.options(), self._engine, self._user_id)
        worker = GeneratorWorker(make_events)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        _live_workers.add(worker)
        _stop_workers_on_quit()
        worker.finished.connect(functools.partial(_forget_worker, worker))
        self._worker = worker
        self._final = None
        self._summary = None
        self._problems = []
        self._last_render = 0.0
        self.problems_box.setVisible(False)
        self.export_label.clear()
        for label in self.count_labels.values():
            label.setText("–")
        self.progress_bar.setRange(0, 0)  # busy until the source is listed
        self.progress_bar.setFormat("listing photos…")
        self.rate_label.setText("Listing photos…")
        self._set_status("Import running. You can keep working; Cancel stops after the "
                         "current photo and keeps what was imported.")
        self._set_running(True)
        self.run_started.emit(worker)
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None and self._running:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self._set_status("Stopping after the current photo…")

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.source_box.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        if running:
            self.start_button.setEnabled(False)
        else:
            self.start_button.setText("Import again" if self._final is not None
                                      else "Start import")
            self._validate()

    def _on_progress(self, event: ImportProgress) -> None:
        # at most one redraw per RENDER_INTERVAL_S; the latest event is always drawn
        self._pending = event
        if self._render_timer.isActive():
            return
        wait_s = self._last_render + RENDER_INTERVAL_S - time.monotonic()
        if event.phase != "importing" or wait_s <= 0:
            self._render_pending()
        else:
            self._render_timer.start(max(1, int(wait_s * 1000)))

    def _render_pending(self) -> None:
        self._render_timer.stop()
        event, self._pending = self._pending, None
        if event is not None and self._running:
            self._last_render = time.monotonic()
            self._render(event)

    def _render(self, event: ImportProgress) -> None:
        if event.phase == "listing":
            self.rate_label.setText(f"{event.total} photos listed; loading the face engine…")
            self._show_counts(event)
            return
        total = max(event.total, 1)
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(min(event.done, total) if event.total else total)
        self.progress_bar.setFormat(f"{event.done} / {event.total} photos")
        if event.phase == "finished":
            self.rate_label.setText(
                f"{event.rate:.1f} photos/s, {format_duration(event.elapsed_s)} in all")
        elif event.done == 0:
            self.rate_label.setText("Starting…")
        else:
            eta = ("" if event.eta_s is None
                   else ", less than a second left" if event.eta_s < 1
                   else f", about {format_duration(event.eta_s)} left")
            self.rate_label.setText(f"{event.rate:.1f} photos/s{eta}")
            self.rate_label.setToolTip(event.current)
        self._show_counts(event)

    def _show_counts(self, event: ImportProgress) -> None:
        counts = event.counts.as_dict()
        for key, label in self.count_labels.items():
            label.setText(str(counts.get(key, 0)))

    def _on_done(self, event: ImportProgress | None) -> None:
        if event is None or event.phase != "finished":
            self._worker = None
            self._set_running(False)
            self._set_status("The import ended without a result.", error=True)
            return
        self._final = event
        self._worker = None
        self._show_gallery()
        self._render_timer.stop()
        self._pending = None
        self._render(event)
        self._set_running(False)
        c = event.counts
        elapsed = format_duration(event.elapsed_s)
        if event.status == "completed":
            text = (f"Import completed in {elapsed}: {c.imported} new "
                    f"{noun(c.imported, 'photo')} stored, {c.already_stored} already in "
                    f"the gallery, {len(event.problems)} {noun(len(event.problems), 'problem')}.")
        elif event.status == "cancelled":
            text = (f"Import cancelled after {event.done} of {event.total} photos "
                    f"({elapsed}). What was imported is kept; import again to add the rest.")
        else:
            text = f"Import {event.status} after {elapsed}."
        self._summary = text
        self._set_status(text)
        self._show_problems(list(event.problems))
        self.imported.emit(event)

    def _on_failed(self, message: str) -> None:
        self._worker = None
        self._render_timer.stop()
        self._pending = None
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("stopped")
        self.rate_label.setText(" ")
        self._set_status(f"The import could not run: {message}", error=True)

    # -- problems ----------------------------------------------------------------------------

    def _show_problems(self, problems: list[Problem]) -> None:
        self._problems = problems
        table = self.problems_table
        table.setSortingEnabled(False)
        table.setRowCount(len(problems))
        for r, p in enumerate(problems):
            cells = (p.path, p.code.replace("_", " "), p.reason,
                     "" if p.line is None else str(p.line))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setData(Qt.ItemDataRole.UserRole, p.code)
                if c in (0, 2):
                    item.setToolTip(text)
                table.setItem(r, c, item)
        table.resizeColumnToContents(0)
        table.resizeColumnToContents(1)
        table.resizeColumnToContents(3)
        table.setColumnWidth(0, min(table.columnWidth(0), 320))
        self.problems_box.setTitle(f"Problems ({len(problems)})")
        table.setVisible(bool(problems))
        self.export_button.setVisible(bool(problems))
        self.export_button.setEnabled(bool(problems))
        self.export_label.setStyleSheet("")
        self.export_label.setText("" if problems else "No problems in this run.")
        self.problems_box.setVisible(True)

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def _export_problems(self) -> None:
        if not self._problems:
            return
        run = self._final.run_id if self._final is not None else None
        folder = self.gallery_path.parent if isinstance(self.location, Path) else Path.home()
        default = folder / f"import-problems-run-{run or 'last'}.csv"
        path_text, _ = QFileDialog.getSaveFileName(
            self, "Export problems", str(default), "CSV files (*.csv)")
        if not path_text:
            return
        path = Path(path_text)
        if not path.suffix:
            path = path.with_suffix(".csv")
        try:
            write_problems_csv(path, self._problems)
        except OSError as exc:
            self.export_label.setStyleSheet(ERROR_STYLE)
            self.export_label.setText(f"Could not save {path}: {exc.strerror or exc}")
            return
        self.export_label.setStyleSheet("")
        self.export_label.setText(f"Saved {len(self._problems)} "
                                  f"{noun(len(self._problems), 'problem')} to {path}")

    # -- closing -----------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Every way of closing (Close, Esc, the window's close box) comes here."""
        if self._running and self._worker is not None:
            answer = QMessageBox.question(
                self, "Stop the import?", STOP_QUESTION,
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
            self.cancel()
            QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                # the core stops at its next photo; its last events still reach this dialog
                self._worker.wait(CLOSE_WAIT_MS)
            finally:
                QGuiApplication.restoreOverrideCursor()
        super().done(result)


def _stop_live_workers() -> None:
    """The application quits: stop every run at its next photo and let it finish."""
    for worker in list(_live_workers):
        worker.cancel()
        worker.wait(CLOSE_WAIT_MS)


def _stop_workers_on_quit() -> None:
    app = QCoreApplication.instance()
    if app is not None and not app.property("facedeskImportQuitHook"):
        app.aboutToQuit.connect(_stop_live_workers)
        app.setProperty("facedeskImportQuitHook", True)


def _forget_worker(worker: GeneratorWorker) -> None:
    """The thread has ended (its last signals are delivered): let it go."""
    _live_workers.discard(worker)
    worker.deleteLater()


def write_problems_csv(path: Path, problems: list[Problem]) -> None:
    """Every problem of a run as a CSV (cells a spreadsheet would run as a formula
    neutralised; readable by its owner only)."""
    write_csv(path, ["path", "code", "reason", "line"],
              [[p.path, p.code, p.reason, "" if p.line is None else p.line]
               for p in problems])
