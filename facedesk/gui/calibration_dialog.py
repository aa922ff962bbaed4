"""Which calibration reads this gallery's distances, and measuring a new one.

A calibration is the table distance -> false match rate. FaceDesk ships one measured on
LFW; a gallery with enough repeat photos can measure its own, or one can be measured on
another labelled gallery encoded by the same engine. The one in use is named everywhere a
false match rate is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import accounts
from facedesk.app import calibration as calibrations
from facedesk.app.accounts import PERMISSIONS, ROLES, Session, User
from facedesk.domain.evaluation import DEFAULT_THRESHOLDS
from facedesk.domain.progress import CancelToken
from facedesk.errors import FaceDeskError
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.styles import ERROR_STYLE
from facedesk.gui.tables import read_only_table
from facedesk.gui.widgets import Dialog, start_folder
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import Gallery

COLUMNS = ("#", "kind", "measured", "impostor pairs", "genuine pairs", "source")


def measure_events(location: str | Path, reference: Path | None, cancel: CancelToken,
                   user: User | None = None, use: bool = True
                   ) -> Iterator[calibrations.CalibrationProgress]:
    """Measure (on the gallery itself, or on `reference`) and store, put in use when `use`
    (by `user`'s session, when the gallery has users); yields its progress. Runs in a
    worker thread, so it opens its own connections."""
    with Gallery.open(location) as g:
        session = None if user is None else Session(g, user)
        yield from calibrations.calibrate(g, reference_path=reference, use=use,
                                          session=session, cancel=cancel)


class CalibrationDialog(Dialog):
    """The calibrations stored in a gallery and the one in use. Which one is in use is an
    administrator's setting: with `session` None (a gallery without users) anyone may
    change it; otherwise only a role that may change settings, and it is an audit event."""

    def __init__(self, location: str | Path, parent: QWidget | None = None,
                 session: Session | None = None) -> None:
        """`location`: what `Gallery.open` takes (the gallery's `open_location`: a file's
        path or a server's URL)."""
        super().__init__("calibrationDialog", "Calibration", parent)
        self.open_location = location
        self._last_folder: Path | None = None
        self.session = session
        self._worker: GeneratorWorker | None = None
        self._put_in_use = True
        self._may = False

        intro = QLabel(
            "A distance is read as a false match rate (FMR): how often two DIFFERENT "
            "persons come that close, measured on labelled photos. Expected look-alikes = "
            "persons searched × FMR. FaceDesk ships a table measured on LFW; a gallery with "
            f"repeat photos of at least {calibrations.MIN_REPEAT_PERSONS} persons can "
            "measure its own.")
        intro.setWordWrap(True)
        self.in_use = QLabel(objectName="calibrationInUse")
        self.in_use.setWordWrap(True)
        self.in_use.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = read_only_table(COLUMNS, "calibrationTable")
        self.table.horizontalHeader().setSectionResizeMode(
            len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.status = QLabel(objectName="calibrationStatus")
        self.status.setWordWrap(True)

        self.measure_own = QPushButton("Measure on this gallery", objectName="measureOwnButton")
        self.measure_other = QPushButton("Measure on another gallery…",
                                         objectName="measureOtherButton")
        self.use_selected = QPushButton("Use selected", objectName="useSelectedButton")
        self.use_shipped = QPushButton("Use the shipped reference",
                                       objectName="useShippedButton")
        close = QPushButton("Close")
        self.measure_own.clicked.connect(lambda: self._measure(None))
        self.measure_other.clicked.connect(self._measure_other)
        self.use_selected.clicked.connect(self._use_selected)
        self.use_shipped.clicked.connect(lambda: self.use(None))
        close.clicked.connect(self.accept)

        buttons = QHBoxLayout()
        for b in (self.measure_own, self.measure_other, self.use_selected, self.use_shipped):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        for w in (intro, self.in_use, self.table, self.status):
            layout.addWidget(w)
        layout.addLayout(buttons)
        fit_to_screen(self, 900, 420)
        self.refresh()

    # -- state -----------------------------------------------------------------------------

    def refresh(self) -> None:
        with Gallery.open(self.open_location) as g:
            self.setWindowTitle(f"Calibration — {g.name}")
            stored = calibrations.stored(g)
            current = calibrations.in_use(g)
            # who may put one in use: the signed-in user's role, or anyone in a gallery
            # without users
            self._may = (self.session.may("change_settings") if self.session is not None
                         else not accounts.has_users(g))
        if current is None:
            self.in_use.setText("<b>In use:</b> none for this gallery's engine — distances "
                                "cannot be read as false match rates.")
        else:
            rates = ", ".join(f"≤ {t}: FMR {current.reading(t).fmr:.1e}"
                              for t in DEFAULT_THRESHOLDS)
            self.in_use.setText(f"<b>In use:</b> {current.source}<br>{rates}")
        self.table.setRowCount(len(stored))
        for row, c in enumerate(stored):
            values = (f"{c.id}{' (in use)' if c.in_use else ''}", c.kind,
                      c.created_at[:16].replace("T", " "), f"{c.impostor_pairs:,}",
                      f"{c.genuine_pairs:,}", c.source)
            for col, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def _selected_id(self) -> int | None:
        items = self.table.selectedItems()
        return None if not items else int(items[0].data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        busy = self._worker is not None
        may = self._may
        self.measure_own.setEnabled(not busy)
        self.measure_other.setEnabled(not busy)
        self.use_selected.setEnabled(may and not busy and self._selected_id() is not None)
        self.use_shipped.setEnabled(may and not busy)
        if may:
            why = ""
        elif self.session is None:
            why = ("The calibration in use is an administrator's setting: sign in as an "
                   "administrator to change it.")
        else:
            who = ", ".join(ROLES[r] for r in sorted(PERMISSIONS["change_settings"]))
            why = (f"The calibration in use is a setting: only {who} may change it; you are "
                   f"signed in as {self.session.user.label}.")
        self.use_selected.setToolTip(why or "Read this gallery's distances with the selected "
                                            "calibration")
        self.use_shipped.setToolTip(why or "Read distances with the calibration shipped "
                                           "with FaceDesk (measured on LFW)")
        self.measure_own.setToolTip(
            "Every pair of this gallery's faces: needs repeat photos."
            + ("" if may else " The calibration is stored; an administrator puts it in use."))

    # -- actions ---------------------------------------------------------------------------

    def use(self, calibration_id: int | None) -> bool:
        """Put a stored calibration in use (None: the shipped reference); a refusal is
        shown in the dialog. Whether it was put in use."""
        try:
            with Gallery.open(self.open_location) as g:
                session = None if self.session is None else Session(g, self.session.user)
                calibrations.use(g, calibration_id, session=session)
        except FaceDeskError as exc:
            self.status.setText(exc.message)
            self.status.setStyleSheet(ERROR_STYLE)
            return False
        self.status.setStyleSheet("")
        self.status.setText("The next search reads distances with this calibration.")
        self.refresh()
        return True

    def _use_selected(self) -> None:
        cid = self._selected_id()
        if cid is not None:
            self.use(cid)

    def _measure_other(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "A labelled gallery encoded by the same engine",
            str(start_folder(self.open_location, self._last_folder)),
            "FaceDesk galleries (*.db *.sqlite *.facedesk);;All files (*)")
        if path:
            self._last_folder = Path(path).parent
            self._measure(Path(path))

    def _measure(self, reference: Path | None) -> None:
        self.status.setStyleSheet("")
        self.status.setText("Measuring every pair of faces…")
        user = None if self.session is None else self.session.user
        self._put_in_use = self._may
        self._worker = GeneratorWorker(
            lambda cancel: measure_events(self.open_location, reference, cancel, user,
                                          self._put_in_use), self)
        self._worker.progress.connect(self._on_progress)
        self._worker.failed.connect(self._on_failed)
        self._worker.done.connect(self._on_done)
        self._update_buttons()
        self._worker.start()

    def _on_progress(self, ev: calibrations.CalibrationProgress) -> None:
        if ev.phase == "measuring" and ev.total:
            self.status.setText(f"Measuring every pair of faces… {ev.done * 100 // ev.total} %")

    def _on_done(self, _last: object) -> None:
        self._finish()
        self.status.setText("Measured and put in use." if self._put_in_use else
                            "Measured and stored; an administrator puts it in use.")
        self.refresh()

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.status.setText(message)
        self.status.setStyleSheet(ERROR_STYLE)

    def _finish(self) -> None:
        if self._worker is not None:
            self._worker.wait()
            self._worker.deleteLater()
        self._worker = None
        self._update_buttons()

    def done(self, result: int) -> None:
        if self._worker is not None:  # stops after the block of pairs it is measuring
            self._worker.cancel()
            self._worker.wait()
        super().done(result)
