"""The accountability dialogs: a supervisor's second review of possible leads, a case's
overview, and the administrator's users, settings, audit log and retention.

Every dialog works on a signed-in `Session` and goes through the core (`accounts`, `cases`,
`audit`), which checks every rule and records every change as an audit event. Each action
is a method (the tests call them); the buttons' slots only add a confirmation or a file
chooser. An action refused by the core shows its message inline, in the dialog, and the
method raises it again so that a caller knows. Buttons the signed-in role may not use are
disabled with a tooltip that says who may.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QRect, QRectF, QSignalBlocker, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import ACTION_WORDS, PERMISSIONS, ROLES, Session, User
from facedesk.app.lead_sheet import probe_lookalikes_text
from facedesk.app.review import DECISIONS
from facedesk.domain import imaging
from facedesk.errors import AccountError, FaceDeskError, ImageError, LeadError
from facedesk.gui.compare_view import CompareView
from facedesk.gui.formatting import when
from facedesk.gui.sizing import fit_to_screen

T = TypeVar("T")

#: the permanent wording of every second-review screen
LEAD_WORDING = "Investigative lead only — not probable cause, not an identification"
BLIND_PLACEHOLDER = ("Hidden until you submit your own verdict: blind second review is on, "
                     "so that your judgement does not lean on the analyst's.")
#: in place of an analyst's rationale that blind second review keeps from the reader
REVIEW_PLACEHOLDER = ("Your rationale (required): what did you compare, feature by feature, "
                      "and what did you see?")
TRAINING_WARNING = ("A training gallery's decisions never count: cases opened while this is "
                    "on are training cases, and none of their possible leads is ever a case "
                    "result. Trainers may work in a training gallery.")
NOT_A_RESULT = ("A possible lead pending second review is not a result: only a lead that a "
                "second reviewer confirmed is.")

_BANNER_STYLE = ("QLabel#leadBanner { background: #fff3cd; color: #5c4400; "
                 "border: 1px solid #e0b84c; border-radius: 3px; padding: 4px 8px; "
                 "font-weight: bold; }")
_ERROR_STYLE = "color: #c0392b;"
_OK_STYLE = "color: #1e7e34;"
_BAD_ROW = QColor("#f8d7da")
_STATUS_COLORS = {"confirmed": QColor("#d4edda"), "pending": QColor("#fff3cd"),
                  "overturned": QColor("#e2e3e5")}
_IMAGE_SIZE = 300
_MAX_COLUMN = 320
_KEY = Qt.ItemDataRole.UserRole


# --- small helpers ---------------------------------------------------------------------------


def not_permitted(session: Session, action: str) -> str:
    """The tooltip of a button the signed-in user may not use."""
    who = ", ".join(ROLES[r] for r in sorted(PERMISSIONS[action]))
    return (f"Only {who} may {ACTION_WORDS[action]}; you are signed in as "
            f"{session.user.label}.")


def user_names(session: Session) -> dict[str, str]:
    return {u.id: f"{u.display_name} ({u.id})" for u in accounts.users(session.gallery)}


def short_data(data: dict[str, Any], limit: int = 110) -> str:
    """An event's data on one line."""
    parts = []
    for k, v in data.items():
        text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        parts.append(f"{k}={text}")
    line = ", ".join(parts)
    return line if len(line) <= limit else line[:limit - 1] + "…"


def make_table(columns: Sequence[str], name: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    # the last column (details, rationale) takes the room that is left and elides the rest;
    # its whole text is the cell's tooltip
    header.setSectionResizeMode(len(columns) - 1, QHeaderView.ResizeMode.Stretch)
    return table


def fill_table(table: QTableWidget, rows: Sequence[tuple[Any, Sequence[str]]]) -> None:
    """Rows of (key, cell texts); the key is every cell's UserRole data."""
    with QSignalBlocker(table):
        table.clearSelection()
        table.setRowCount(len(rows))
        for r, (key, values) in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(_KEY, key)
                if len(value) > 30:
                    item.setToolTip(value)
                table.setItem(r, c, item)
        for c in range(table.columnCount() - 1):  # the last one stretches
            table.resizeColumnToContents(c)
            if table.columnWidth(c) > _MAX_COLUMN:
                table.setColumnWidth(c, _MAX_COLUMN)


def selected_key(table: QTableWidget) -> Any:
    rows = table.selectionModel().selectedRows()
    if not rows:
        return None
    item = table.item(rows[0].row(), 0)
    return None if item is None else item.data(_KEY)


def select_key(table: QTableWidget, key: Any) -> int | None:
    """Select the row whose key is `key`; its index, or None."""
    for r in range(table.rowCount()):
        item = table.item(r, 0)
        if item is not None and item.data(_KEY) == key:
            table.selectRow(r)
            table.scrollToItem(item)
            return r
    return None


def paint_row(table: QTableWidget, row: int, color: QColor) -> None:
    for c in range(table.columnCount()):
        item = table.item(row, c)
        if item is not None:
            item.setBackground(color)


def face_pixmap(data: bytes | None, box: Sequence[int] | None = None,
                size: int = _IMAGE_SIZE) -> QPixmap | None:
    """Encoded image bytes -> a pixmap of at most size x size; with a box (top, right,
    bottom, left) the face with a margin around it."""
    if not data:
        return None
    image = QImage.fromData(data)
    if image.isNull():
        return None
    if box is not None and len(box) == 4:
        top, right, bottom, left = (int(v) for v in box)
        margin = int(0.4 * max(bottom - top, right - left))
        rect = QRect(left - margin, top - margin, right - left + 2 * margin,
                     bottom - top + 2 * margin).intersected(image.rect())
        if rect.width() > 4 and rect.height() > 4:
            image = image.copy(rect)
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


def outlined_pixmap(data: bytes | None, box: Sequence[int] | None,
                    size: int = _IMAGE_SIZE) -> QPixmap | None:
    """The whole photo at most size x size with the face of `box` (top, right, bottom,
    left) outlined, as the lead sheet marks the searched face."""
    if not data:
        return None
    image = QImage.fromData(data)
    if image.isNull():
        return None
    pix = QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                          Qt.TransformationMode.SmoothTransformation)
    if box is not None and len(box) == 4:
        top, right, bottom, left = (int(v) for v in box)
        f = pix.width() / max(1, image.width())
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for colour, width in ((QColor(0, 0, 0, 190), 5.0), (QColor("#ffd600"), 2.5)):
            painter.setPen(QPen(colour, width))
            painter.drawRect(QRectF(left * f, top * f, (right - left) * f, (bottom - top) * f))
        painter.end()
    return pix


def image_label(name: str, least: int = _IMAGE_SIZE) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(least, least)
    label.setFrameShape(QFrame.Shape.StyledPanel)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return label


class _Messages:
    """An inline error line and an inline status line; `act` runs a core call and shows
    what it refused."""

    error_label: QLabel
    status_label: QLabel

    def _make_messages(self) -> None:
        self.error_label = QLabel()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.status_label = QLabel()
        self.status_label.setObjectName("statusLabel")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def show_status(self, message: str) -> None:
        self.status_label.setText(message)

    def act(self, fn: Callable[[], T]) -> T:
        """Run one action: its refusal is shown inline and raised again."""
        self.show_error("")
        try:
            return fn()
        except FaceDeskError as exc:
            self.show_error(exc.message)
            raise

    def _allow(self, session: Session, button: QWidget, action: str, ready: bool = True,
               why_not: str = "") -> None:
        """Enable `button` when the user may do `action` and the dialog is `ready`."""
        permitted = session.may(action)
        button.setEnabled(permitted and ready)
        button.setToolTip(not_permitted(session, action) if not permitted
                          else "" if ready else why_not)


def _quietly(fn: Callable[[], object]) -> None:
    """A slot's call of an action: its refusal is already shown inline."""
    with contextlib.suppress(FaceDeskError):
        fn()


def _banner() -> QLabel:
    banner = QLabel(LEAD_WORDING)
    banner.setObjectName("leadBanner")
    banner.setStyleSheet(_BANNER_STYLE)
    banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
    banner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    return banner


def _wrapped(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("color: #6c757d;")
    return label


def candidate_figures(cand: dict[str, Any] | None, search: dict[str, Any] | None) -> str:
    """Distance, false match rate and look-alikes of a stored candidate, in words."""
    if cand is None or search is None:
        return "The search is no longer stored (purged by retention): no figures to show."
    parts = [f"Rank {cand['rank']} of {len(search['candidates'])} candidates shown",
             f"distance {cand['distance']:.3f} (threshold {search['threshold']:.2f})"]
    fmr = cand.get("fmr")
    if fmr is None:
        parts.append("no calibration for this engine: the distance cannot be read as a "
                     "false match rate")
    else:
        low, high = fmr.get("fmr_95", [None, None])
        interval = "" if low is None else f" (95 %: {low:.1e} to {high:.1e})"
        parts.append(f"false match rate {fmr['fmr']:.1e}{interval}")
    persons = f"{search['persons_searched']:,} persons searched"
    looks = cand.get("expected_lookalikes")
    if cand.get("lookalikes"):  # this probe's own estimate, the figure to read
        parts.append(f"look-alikes for this probe {probe_lookalikes_text(cand)} among "
                     f"{persons}")
        if looks is not None:
            parts.append(f"reference table {looks:.2g}")
    elif looks is not None:
        parts.append(f"expected look-alikes {looks:.2g} among {persons}")
    else:
        parts.append(persons)
    text = " · ".join(parts)
    if search.get("calibration_source"):
        text += f"\nCalibration: {search['calibration_source']}"
    return text


# --- second review ------------------------------------------------------------------------


class SecondReviewDialog(QDialog, _Messages):
    """The supervisor's queue of possible leads waiting for a second review."""

    #: a decision id whose second review was just recorded
    reviewed = Signal(int)

    QUEUE_COLUMNS = ("Case", "Analyst", "Recorded", "Candidate")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("secondReviewDialog")
        self.setWindowTitle("Second review of possible leads")
        self.session = session
        self.gallery = session.gallery
        self.current: cases.Decision | None = None
        self._submitted: set[int] = set()
        self._names = user_names(session)
        self._make_messages()

        intro = _wrapped(
            "Possible leads recorded by analysts wait here for a second review by a "
            "different person. Compare the two faces yourself, then confirm or overturn "
            "with your rationale. Only a confirmed lead is a case result.")
        self.queue_label = _wrapped(name="queueLabel")
        self.queue = make_table(self.QUEUE_COLUMNS, "leadQueue")
        self.queue.itemSelectionChanged.connect(self._queue_selected)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.queue_label)
        left_layout.addWidget(self.queue, 1)

        # the analyst's compare view (eye alignment, blend, flicker, landmarks, originals),
        # and the whole probe still with the searched face outlined
        self.compare = CompareView()
        self.compare.setObjectName("reviewCompare")
        self.probe_view = image_label("probeImage", least=160)
        self.candidate_view = image_label("candidateImage", least=160)
        self.probe_caption = _wrapped(name="probeCaption")
        self.candidate_caption = _wrapped(name="candidateCaption")
        for caption in (self.probe_caption, self.candidate_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        photos = QWidget()
        images = QGridLayout(photos)
        images.addWidget(self.probe_caption, 0, 0)
        images.addWidget(self.candidate_caption, 0, 1)
        images.addWidget(self.probe_view, 1, 0)
        images.addWidget(self.candidate_view, 1, 1)
        images.setRowStretch(1, 1)
        self.views = QTabWidget()
        self.views.setObjectName("reviewViews")
        self.views.addTab(self.compare, "Compare")
        self.views.addTab(photos, "Whole probe and gallery crop")
        self.figures = _wrapped(name="leadFigures")
        self.figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        analyst_box = QGroupBox("The analyst's decision")
        self.analyst_label = _wrapped(name="analystLabel")
        self.analyst_rationale = _wrapped(name="analystRationale")
        self.analyst_rationale.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        box_layout = QVBoxLayout(analyst_box)
        box_layout.addWidget(self.analyst_label)
        box_layout.addWidget(self.analyst_rationale)

        review_box = QGroupBox("Your second review")
        self.verdict_confirm = QRadioButton("Confirm: a possible lead worth investigating")
        self.verdict_confirm.setObjectName("verdictConfirm")
        self.verdict_overturn = QRadioButton("Overturn: not a lead")
        self.verdict_overturn.setObjectName("verdictOverturn")
        self.verdicts = QButtonGroup(self)
        self.verdicts.addButton(self.verdict_confirm)
        self.verdicts.addButton(self.verdict_overturn)
        self.verdicts.buttonToggled.connect(lambda *_: self._update_buttons())
        self.rationale_edit = QPlainTextEdit()
        self.rationale_edit.setObjectName("rationale_edit")
        self.rationale_edit.setPlaceholderText(REVIEW_PLACEHOLDER)
        self.rationale_edit.setTabChangesFocus(True)
        self.rationale_edit.setMinimumHeight(56)
        self.rationale_edit.setMaximumHeight(90)
        self.rationale_edit.textChanged.connect(self._update_buttons)
        self.submit_button = QPushButton("Submit second review")
        self.submit_button.setObjectName("submit_button")
        self.submit_button.clicked.connect(lambda: _quietly(self.submit))
        radios = QVBoxLayout()
        radios.addWidget(self.verdict_confirm)
        radios.addWidget(self.verdict_overturn)
        review_layout = QVBoxLayout(review_box)
        review_layout.addLayout(radios)
        review_layout.addWidget(self.rationale_edit)
        review_layout.addWidget(self.error_label)
        review_layout.addWidget(self.submit_button, 0, Qt.AlignmentFlag.AlignRight)
        review_layout.addWidget(self.status_label)
        # the queue, the analyst's decision and the review form on the left, so that
        # the compare view has the height of the dialog (it had ~100 px at 768 px)
        left_layout.addWidget(analyst_box)
        left_layout.addWidget(review_box)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.views, 1)
        right_layout.addWidget(self.figures)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        left.setMinimumWidth(300)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 820])

        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(_banner())
        layout.addWidget(intro)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        fit_to_screen(self, 1180, 800)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------

    @property
    def blind(self) -> bool:
        return accounts.settings(self.gallery).blind_second_review

    def refresh(self) -> None:
        """Reload the queue; keep showing the lead on screen (even one just reviewed)."""
        pending = cases.pending_leads(self.gallery)
        self._names = user_names(self.session)  # one query, not one per lead
        rows = [(d.id, (d.case_number, self._names.get(d.reviewer, d.reviewer),
                           when(d.created_at), f"#{d.rank} {d.person_id}"))
                for d in pending]
        fill_table(self.queue, rows)
        n = len(pending)
        self.queue_label.setText(
            "No possible lead waits for a second review." if n == 0 else
            f"{n} possible lead{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} for a "
            "second review (oldest first).")
        if self.current is not None:
            with QSignalBlocker(self.queue):
                select_key(self.queue, self.current.id)
        elif pending:
            self.select_decision(pending[0].id)
        else:
            self._show(None)

    def _queue_selected(self) -> None:
        key = selected_key(self.queue)
        if key is not None and (self.current is None or key != self.current.id):
            self.select_decision(int(key))

    def select_decision(self, decision_id: int) -> None:
        """Show one possible lead: both faces, the figures, and the analyst's decision."""
        self.show_error("")
        self.show_status("")
        d = self.act(lambda: cases.get_decision(self.gallery, decision_id))
        if self.current is None or self.current.id != decision_id:
            self._clear_draft()
        with QSignalBlocker(self.queue):
            if select_key(self.queue, decision_id) is None:
                self.queue.clearSelection()
        self._show(d)

    def _clear_draft(self) -> None:
        with QSignalBlocker(self.verdicts):
            self.verdicts.setExclusive(False)
            self.verdict_confirm.setChecked(False)
            self.verdict_overturn.setChecked(False)
            self.verdicts.setExclusive(True)
        with QSignalBlocker(self.rationale_edit):
            self.rationale_edit.setReadOnly(False)
            self.rationale_edit.clear()

    def _show(self, d: cases.Decision | None) -> None:
        self.current = d
        if d is None:
            self.compare.clear()
            self.probe_view.clear()
            self.candidate_view.clear()
            self.probe_view.setText("Choose a possible lead in the queue.")
            self.candidate_caption.setText("")
            self.probe_caption.setText("")
            self.figures.setText("")
            self.analyst_label.setText("")
            self.analyst_rationale.setText("")
            self._update_buttons()
            return
        try:
            search: cases.StoredSearch | None = cases.search_record(self.gallery, d.search_id)
        except FaceDeskError:
            search = None
        cand = None if search is None else search.candidate(d.rank)

        probe = cases.probe_image(self.gallery, d.search_id)
        box = None if search is None else search.probe_box
        pix = outlined_pixmap(probe, box)
        self.probe_view.clear()
        if pix is None:
            self.probe_view.setText("The probe image was purged by retention (or is not "
                                    "stored): it cannot be shown.")
        else:
            self.probe_view.setPixmap(pix)
        probe_name = "" if search is None else f": {search.probe_name}"
        self.probe_caption.setText(f"<b>Probe</b>{html.escape(probe_name)}")

        crop = face_pixmap(self.gallery.face_crop(int(d.face_id)))
        self.candidate_view.clear()
        if crop is None:
            self.candidate_view.setText("This gallery face has no stored crop.")
        else:
            self.candidate_view.setPixmap(crop)
        name = "" if cand is None or not cand.get("name") else f" — {cand['name']}"
        self.candidate_caption.setText(
            f"<b>Candidate #{d.rank}</b>: {html.escape(d.person_id + name)}")
        self.figures.setText(candidate_figures(cand, None if search is None else search.as_dict()))
        self._show_compare(d, search, cand, probe)

        analyst = self._names.get(d.reviewer, d.reviewer)
        own = " — you recorded this lead" if d.reviewer == self.session.user_id else ""
        self.analyst_label.setText(
            f"Case {d.case_number}: {DECISIONS.get(d.decision, d.decision)} recorded "
            f"by {analyst} on {when(d.created_at)}{own}. "
            f"Status: {cases.LEAD_STATUS[d.status]}.")
        hidden = (d.status == "pending" and self.blind and d.id not in self._submitted
                  and d.reviewer != self.session.user_id)
        if hidden:
            self.analyst_rationale.setText(BLIND_PLACEHOLDER)
            self.analyst_rationale.setStyleSheet("color: palette(mid); font-style: italic;")
        else:
            self.analyst_rationale.setText(f"Rationale: {d.rationale}")
            self.analyst_rationale.setStyleSheet("")
        review = d.review
        if review is not None:
            reviewer = self._names.get(review.reviewer, review.reviewer)
            blind = " (blind)" if review.blind else ""
            self.show_status(
                f"Second review{blind}: {cases.VERDICTS[review.verdict]} by {reviewer} on "
                f"{when(review.created_at)}. Rationale: {review.rationale}")
            with QSignalBlocker(self.rationale_edit):
                self.rationale_edit.setPlainText(review.rationale)
                self.rationale_edit.setReadOnly(True)
            with QSignalBlocker(self.verdicts):
                button = self.verdict_confirm if review.verdict == "confirmed" \
                    else self.verdict_overturn
                button.setChecked(True)
        elif d.status != "pending":
            self.show_status(f"Not waiting for a second review: "
                             f"{cases.LEAD_STATUS[d.status].lower()}.")
        self._update_buttons()

    def _show_compare(self, d: cases.Decision, search: cases.StoredSearch | None,
                      cand: dict[str, Any] | None, probe: bytes | None) -> None:
        """Probe and candidate in the compare view, as the analyst had them: the probe
        face (the stored still, its box and landmarks) and the gallery photo."""
        self.compare.clear()
        name = "" if search is None else search.probe_name
        if probe is not None and search is not None:
            try:
                rgb = imaging.load_image(probe, name=name or "probe").rgb
            except ImageError:
                rgb = None
            if rgb is not None:
                quality = search.quality or {}
                landmarks = [tuple(p) for p in quality.get("landmarks") or []]
                self.compare.set_probe(rgb, landmarks, search.probe_box, name or "Probe",
                                       {"probe_sha256": search.probe_sha256,
                                        "width": rgb.shape[1], "height": rgb.shape[0]})
        face_id = int(d.face_id)
        found = self.gallery.face_details([face_id]).get(face_id)
        details = {} if found is None else found.as_dict()
        label = d.person_id + ("" if cand is None or not cand.get("name")
                                  else f" — {cand['name']}")
        info = {"person_id": d.person_id, **details,
                **{f"metadata: {k}": v for k, v in details.get("metadata", {}).items()}}
        info.pop("metadata", None)
        self.compare.set_candidate(details.get("path"), self.gallery.face_landmarks(face_id),
                                   details.get("box"), f"{d.rank}. {label}", info)

    def _verdict(self) -> str | None:
        if self.verdict_confirm.isChecked():
            return "confirmed"
        if self.verdict_overturn.isChecked():
            return "overturned"
        return None

    def _update_buttons(self) -> None:
        d = self.current
        pending = d is not None and d.status == "pending"
        may = self.session.may("review_lead")
        for w in (self.verdict_confirm, self.verdict_overturn, self.rationale_edit):
            w.setEnabled(pending and may)
        if d is None:
            why = "Choose a possible lead in the queue first."
        elif not pending:
            why = "This lead is not waiting for a second review."
        elif self._verdict() is None:
            why = "Choose Confirm or Overturn first."
        elif not self.rationale_edit.toPlainText().strip():
            why = "Write your rationale first."
        else:
            why = ""
        self._allow(self.session, self.submit_button, "review_lead", not why, why)

    # -- action --------------------------------------------------------------------------------

    def submit(self) -> cases.Decision:
        """Record the verdict and rationale in the form for the lead on screen."""
        d = self.current
        verdict = self._verdict()
        rationale = self.rationale_edit.toPlainText()

        def review() -> cases.Decision:
            if d is None:
                raise LeadError("choose a possible lead in the queue first")
            if verdict is None:
                raise LeadError("choose Confirm or Overturn")
            return cases.review_lead(self.session, d.id, verdict, rationale,
                                     blind=self.blind)

        after = self.act(review)
        self._submitted.add(after.id)
        self.current = after
        self.refresh()
        self._show(after)
        self.reviewed.emit(after.id)
        return after


# --- case overview -------------------------------------------------------------------------


class CaseOverviewDialog(QDialog, _Messages):
    """One case: its searches, decisions and second reviews, results and audit events."""

    #: the case id, after it was closed here
    case_closed = Signal(int)

    SEARCH_COLUMNS = ("Time", "User", "Probe", "Candidates shown", "Threshold", "Purged")
    DECISION_COLUMNS = ("Time", "Candidate", "Decision", "Analyst", "Rationale", "Status",
                        "Second reviewer", "Verdict", "Review rationale")
    EVENT_COLUMNS = ("#", "Time", "User", "Event", "Details")

    def __init__(self, session: Session, case: cases.Case,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("caseOverviewDialog")
        self.session = session
        self.gallery = session.gallery
        self.case = case
        self._decisions: dict[int, cases.Decision] = {}
        self._make_messages()

        self.header = _wrapped(name="caseHeader")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.searches_table = make_table(self.SEARCH_COLUMNS, "searchesTable")
        self.decisions_table = make_table(self.DECISION_COLUMNS, "decisionsTable")
        self.decisions_table.itemSelectionChanged.connect(self._update_buttons)
        self.events_table = make_table(self.EVENT_COLUMNS, "caseEventsTable")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.decisions_table, "Decisions")
        self.tabs.addTab(self.searches_table, "Searches")
        self.tabs.addTab(self.events_table, "Audit events")
        self.results_label = _wrapped(name="resultsLabel")

        self.export_button = QPushButton("Export lead sheet…")
        self.export_button.setObjectName("exportLeadSheetButton")
        self.export_button.clicked.connect(self._export_clicked)
        #: opens the lead sheet just written (PDF) in the system's viewer
        self.open_sheet_button = QPushButton("Open lead sheet")
        self.open_sheet_button.setObjectName("openLeadSheetButton")
        self.open_sheet_button.clicked.connect(self._open_sheet)
        self.open_sheet_button.hide()
        self._written: list[Path] = []
        self.close_case_button = QPushButton("Close case…")
        self.close_case_button.setObjectName("closeCaseButton")
        self.close_case_button.clicked.connect(self._close_clicked)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.open_sheet_button)
        buttons.addWidget(self.close_case_button)
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(_banner())
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.results_label)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        fit_to_screen(self, 1100, 640)
        self.refresh()

    @property
    def read_only(self) -> bool:
        return not self.case.is_open

    def refresh(self) -> None:
        c = self.case = cases.get_case(self.gallery, self.case.id)
        names = user_names(self.session)
        self.setWindowTitle(f"Case {c.number}" + ("" if c.is_open else " (closed)"))
        detail = f" — {html.escape(c.purpose_detail)}" if c.purpose_detail else ""
        state = "open" if c.is_open else (
            f"closed by {html.escape(names.get(c.closed_by or '', c.closed_by or ''))} on "
            f"{when(c.closed_at)}" + (f": {html.escape(c.closing_note)}"
                                      if c.closing_note else "") + " — read-only")
        training = ("<br><b>Training case</b>: its decisions never count as results."
                    if c.training else "")
        self.header.setText(
            f"<b>Case {html.escape(c.number)}</b> ({state})<br>"
            f"Purpose: {html.escape(c.purpose)}{detail}<br>"
            f"Opened by {html.escape(names.get(c.opened_by, c.opened_by))} on "
            f"{when(c.opened_at)}{training}")

        search_rows = []
        for s in cases.searches(self.gallery, c.id):
            purged = "probe image purged " + when(s.purged_at) if s.purged_at else \
                "no" if s.has_probe_image else "probe image not stored"
            search_rows.append((s.id, (
                when(s.created_at), names.get(s.user_id, s.user_id),
                s.probe_name, str(len(s.candidates)), f"{s.threshold:.2f}", purged)))
        fill_table(self.searches_table, search_rows)

        decided = cases.decisions(self.gallery, c.id)
        self._decisions = {d.id: d for d in decided}
        # which search (and probe) each decision belongs to: "#1 Martin_Scorsese" twice,
        # one confirmed and one not the person, read as a contradiction
        probes = {s.id: s.probe_name for s in cases.searches(self.gallery, c.id)}
        hidden = cases.hidden_rationales(self.session.gallery, self.session.user_id, c.id)
        rows = []
        for d in decided:
            review = d.review
            if review is not None:
                second = (names.get(review.reviewer, review.reviewer),
                          cases.VERDICTS[review.verdict], review.rationale)
            elif d.status == "confirmed":
                second = ("none required (two-person rule off)", "", "")
            else:
                second = ("", "", "")
            rows.append((d.id, (
                when(d.created_at),
                f"search {d.search_id} ({probes.get(d.search_id, 'purged')}): "
                f"#{d.rank} {d.person_id}",
                DECISIONS.get(d.decision, d.decision),
                names.get(d.reviewer, d.reviewer),
                cases.BLIND_HIDDEN if d.id in hidden else d.rationale,
                cases.LEAD_STATUS[d.status], *second)))
        selected = selected_key(self.decisions_table)
        fill_table(self.decisions_table, rows)
        for r, d in enumerate(decided):
            if d.status in _STATUS_COLORS:
                paint_row(self.decisions_table, r, _STATUS_COLORS[d.status])
        if selected is not None:
            with QSignalBlocker(self.decisions_table):
                select_key(self.decisions_table, selected)

        event_rows = [(e.seq, (str(e.seq), when(e.at, seconds=True),
                               names.get(e.user_id or "", e.user_id or ""), e.label,
                               short_data(cases.event_data(e, hidden))))
                      for e in audit.events(self.gallery, case_id=c.id)]
        fill_table(self.events_table, event_rows)

        n = len(cases.results(self.gallery, c.id))
        pending = sum(1 for d in decided if d.status == "pending")
        waiting = f" {pending} possible lead{'s' if pending != 1 else ''} pending second " \
                  "review." if pending else ""
        if c.training:
            self.results_label.setText("Results: none — a training case's decisions never "
                                       "count as results.")
        else:
            self.results_label.setText(
                f"<b>Results: {n} confirmed lead{'s' if n != 1 else ''}.</b>{waiting} "
                f"{NOT_A_RESULT}")
        self._update_buttons()

    def selected_decision(self) -> cases.Decision | None:
        key = selected_key(self.decisions_table)
        return None if key is None else self._decisions.get(int(key))

    def select_decision(self, decision_id: int) -> None:
        self.tabs.setCurrentWidget(self.decisions_table)
        select_key(self.decisions_table, decision_id)

    def _update_buttons(self) -> None:
        d = self.selected_decision()
        confirmed = d is not None and d.status == "confirmed"
        self._allow(self.session, self.export_button, "lead_sheet", confirmed,
                    "Select a confirmed lead in the Decisions tab: a lead sheet is made only "
                    "for a confirmed lead.")
        self._allow(self.session, self.close_case_button, "close_case", self.case.is_open,
                    "This case is closed: a closed case is read-only.")

    # -- actions -------------------------------------------------------------------------------

    def export_lead_sheet(self, decision_id: int, out_dir: Path) -> list[Path]:
        """Write the lead sheet of a confirmed lead (PDF and HTML) into `out_dir`."""
        def run() -> list[Path]:
            from facedesk.app import lead_sheet

            return list(lead_sheet.export_lead_sheet(self.session, decision_id, out_dir,
                                                     ("pdf", "html")))

        paths = self.act(run)
        self.show_status("Lead sheet written: " + ", ".join(str(p) for p in paths))
        self._written = paths
        self.open_sheet_button.setVisible(bool(paths))
        self.open_sheet_button.setToolTip(f"Open {paths[0]}" if paths else "")
        self.refresh()
        return paths

    def _open_sheet(self) -> None:
        if self._written:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._written[0])))

    def _export_clicked(self) -> None:
        d = self.selected_decision()
        if d is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the lead sheet",
                                                  str(Path.home()))
        if folder:
            _quietly(lambda: self.export_lead_sheet(int(d.id), Path(folder)))

    def close_case(self, note: str) -> cases.Case:
        """Close the case with a note; the dialog is read-only afterwards."""
        closed = self.act(lambda: cases.close_case(self.session, self.case, note))
        self.case = closed
        self.refresh()
        self.show_status(f"Case {closed.number} closed: it is read-only now.")
        self.case_closed.emit(closed.id)
        return closed

    def _close_clicked(self) -> None:
        pending = len(cases.pending_leads(self.gallery, self.case.id))
        warning = (f"\n\n{pending} possible lead{'s' if pending != 1 else ''} still "
                   "pending second review will stay unreviewed." if pending else "")
        note, ok = QInputDialog.getMultiLineText(
            self, f"Close case {self.case.number}",
            f"A closed case is read-only: no more searches or decisions.{warning}\n\n"
            "Closing note (optional):")
        if ok:
            _quietly(lambda: self.close_case(note))


# --- users ----------------------------------------------------------------------------------


class UsersDialog(QDialog, _Messages):
    """The gallery's users: add, change role, activate or deactivate, password, OS account,
    and unlock a user locked after failed sign-ins."""

    COLUMNS = ("User", "Name", "Role", "Active", "Password", "OS account", "Sign-in")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("usersDialog")
        self.setWindowTitle("Users")
        self.session = session
        self.gallery = session.gallery
        self._make_messages()

        self.table = make_table(self.COLUMNS, "usersTable")
        self.table.itemSelectionChanged.connect(self._selection_changed)

        add_box = QGroupBox("Add a user")
        self.id_edit = QLineEdit(objectName="newUserId", placeholderText="e.g. jdoe")
        self.name_edit = QLineEdit(objectName="newUserName", placeholderText="Full name")
        self.role_combo = self._role_combo("newUserRole")
        self.password_edit = self._password("newUserPassword")
        self.password_again_edit = self._password("newUserPasswordAgain")
        self.os_edit = QLineEdit(objectName="newUserOsAccount",
                                 placeholderText="optional: signs in without a password")
        self.add_button = QPushButton("Add user", objectName="addUserButton")
        self.add_button.clicked.connect(lambda: _quietly(self._add_clicked))
        add_form = QFormLayout(add_box)
        add_form.addRow("User name:", self.id_edit)
        add_form.addRow("Full name:", self.name_edit)
        add_form.addRow("Role:", self.role_combo)
        add_form.addRow("Password:", self.password_edit)
        add_form.addRow("Password again:", self.password_again_edit)
        add_form.addRow("OS account:", self.os_edit)
        add_form.addRow("", self.add_button)

        self.change_box = QGroupBox("Selected user")
        self.selected_label = _wrapped(name="selectedUser")
        self.change_role_combo = self._role_combo("changeRole")
        self.change_role_button = QPushButton("Change role", objectName="changeRoleButton")
        self.change_role_button.clicked.connect(lambda: _quietly(self._change_role_clicked))
        self.active_button = QPushButton("Deactivate", objectName="activeButton")
        self.active_button.clicked.connect(lambda: _quietly(self._active_clicked))
        self.new_password_edit = self._password("setPassword")
        self.new_password_again_edit = self._password("setPasswordAgain")
        self.password_button = QPushButton("Set password", objectName="setPasswordButton")
        self.password_button.clicked.connect(lambda: _quietly(self._password_clicked))
        self.map_os_edit = QLineEdit(objectName="mapOsAccount",
                                     placeholderText="empty: remove the mapping")
        self.map_os_button = QPushButton("Map OS account", objectName="mapOsButton")
        self.map_os_button.clicked.connect(lambda: _quietly(self._map_clicked))
        self.unlock_button = QPushButton("Unlock sign-in", objectName="unlockButton")
        self.unlock_button.clicked.connect(lambda: _quietly(self._unlock_clicked))
        grid = QGridLayout(self.change_box)
        grid.addWidget(self.selected_label, 0, 0, 1, 3)
        grid.addWidget(QLabel("Role:"), 1, 0)
        grid.addWidget(self.change_role_combo, 1, 1)
        grid.addWidget(self.change_role_button, 1, 2)
        grid.addWidget(QLabel("Password:"), 2, 0)
        grid.addWidget(self.new_password_edit, 2, 1)
        grid.addWidget(QLabel("Password again:"), 3, 0)
        grid.addWidget(self.new_password_again_edit, 3, 1)
        grid.addWidget(self.password_button, 3, 2)
        grid.addWidget(QLabel("OS account:"), 4, 0)
        grid.addWidget(self.map_os_edit, 4, 1)
        grid.addWidget(self.map_os_button, 4, 2)
        grid.addWidget(self.unlock_button, 5, 1)
        grid.addWidget(self.active_button, 5, 2)

        forms = QHBoxLayout()
        forms.addWidget(add_box, 1)
        forms.addWidget(self.change_box, 1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(forms)
        layout.addWidget(self.error_label)
        layout.addLayout(bottom)
        fit_to_screen(self, 900, 620)
        self.refresh()

    @staticmethod
    def _role_combo(name: str) -> QComboBox:
        combo = QComboBox(objectName=name)
        for key, label in ROLES.items():
            combo.addItem(label, key)
        return combo

    @staticmethod
    def _password(name: str) -> QLineEdit:
        edit = QLineEdit(objectName=name)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText(f"at least {accounts.MIN_PASSWORD} characters, hard to guess")
        return edit

    def refresh(self) -> None:
        selected = selected_key(self.table)
        listed = accounts.users(self.gallery)
        self.locked = accounts.locked_users(self.gallery)
        rows = [(u.id, (u.id, u.display_name, u.role_label, "yes" if u.active else "no",
                        "yes" if u.has_password else "no", u.os_account or "",
                        f"locked ({self.locked[u.id].failures} failures)"
                        if u.id in self.locked else ""))
                for u in listed]
        fill_table(self.table, rows)
        for r, u in enumerate(listed):
            if not u.active:
                paint_row(self.table, r, QColor("#e2e3e5"))
        if selected is not None:
            with QSignalBlocker(self.table):
                select_key(self.table, selected)
        self._selection_changed()

    def selected_user(self) -> User | None:
        key = selected_key(self.table)
        return None if key is None else accounts.user(self.gallery, str(key))

    def select_user(self, user_id: str) -> None:
        select_key(self.table, user_id)

    def _selection_changed(self) -> None:
        u = self.selected_user()
        may = self.session.may("manage_users")
        self._allow(self.session, self.add_button, "manage_users")
        for w in (self.id_edit, self.name_edit, self.role_combo, self.password_edit,
                  self.password_again_edit, self.os_edit):
            w.setEnabled(may)
        self.selected_label.setText("Select a user in the list to change them." if u is None
                                    else f"<b>{html.escape(u.label)}</b>"
                                    + ("" if u.active else " — deactivated"))
        for w in (self.change_role_combo, self.new_password_edit,
                  self.new_password_again_edit, self.map_os_edit):
            w.setEnabled(may and u is not None)
        why = "Select a user in the list first."
        for b in (self.change_role_button, self.active_button, self.password_button,
                  self.map_os_button):
            self._allow(self.session, b, "manage_users", u is not None, why)
        failed = u is not None and accounts.failure_state(self.gallery, u.id).failures > 0
        self._allow(self.session, self.unlock_button, "manage_users", failed,
                    why if u is None else "This user has no failed sign-ins to lift.")
        if u is not None:
            self.change_role_combo.setCurrentIndex(self.change_role_combo.findData(u.role))
            self.active_button.setText("Deactivate" if u.active else "Activate")
            self.map_os_edit.setText(u.os_account or "")
        else:
            self.active_button.setText("Deactivate")

    def _done(self, u: User, what: str) -> User:
        self.refresh()
        self.show_status(f"{u.label}: {what}.")
        return u

    # -- actions ---------------------------------------------------------------------------------

    def add_user(self, user_id: str, display_name: str, role: str, *,
                 password: str | None = None, password_again: str | None = None,
                 os_account: str | None = None) -> User:
        """Add a user with a password (typed twice) and/or a mapped OS account."""
        def run() -> User:
            if password and password != (password_again if password_again is not None
                                         else password):
                raise AccountError("the two passwords differ: type the same password twice")
            return self.session.add_user(user_id, display_name, role,
                                         password=password or None,
                                         os_account=os_account or None)

        u = self.act(run)
        self.refresh()
        self.select_user(u.id)
        return self._done(u, "added")

    def _add_clicked(self) -> None:
        self.add_user(self.id_edit.text(), self.name_edit.text(),
                      str(self.role_combo.currentData()),
                      password=self.password_edit.text(),
                      password_again=self.password_again_edit.text(),
                      os_account=self.os_edit.text())
        for edit in (self.id_edit, self.name_edit, self.password_edit,
                     self.password_again_edit, self.os_edit):
            edit.clear()

    def change_role(self, user_id: str, role: str) -> User:
        u = self.act(lambda: self.session.change_user(user_id, role=role))
        return self._done(u, f"role {u.role_label}")

    def _change_role_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.change_role(u.id, str(self.change_role_combo.currentData()))

    def set_active(self, user_id: str, active: bool) -> User:
        u = self.act(lambda: self.session.change_user(user_id, active=active))
        return self._done(u, "activated" if active else "deactivated")

    def _active_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.set_active(u.id, not u.active)

    def set_password(self, user_id: str, password: str, password_again: str) -> User:
        def run() -> User:
            if password != password_again:
                raise AccountError("the two passwords differ: type the same password twice")
            return self.session.change_user(user_id, password=password)

        u = self.act(run)
        return self._done(u, "password set")

    def _password_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.set_password(u.id, self.new_password_edit.text(),
                              self.new_password_again_edit.text())
            self.new_password_edit.clear()
            self.new_password_again_edit.clear()

    def map_os_account(self, user_id: str, account: str) -> User:
        """Map an OS account to the user (an empty account removes the mapping)."""
        account = account.strip()
        u = self.act(lambda: self.session.change_user(
            user_id, os_account=account or None, clear_os_account=not account))
        return self._done(u, f"OS account {account}" if account else "no OS account")

    def _map_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.map_os_account(u.id, self.map_os_edit.text())

    def unlock(self, user_id: str) -> User:
        """Lift the user's lock (and back-off) after failed password sign-ins."""
        u = self.act(lambda: self.session.unlock_user(user_id))
        return self._done(u, "sign-in unlocked")

    def _unlock_clicked(self) -> None:
        u = self.selected_user()
        if u is not None:
            self.unlock(u.id)


# --- settings -------------------------------------------------------------------------------


class SettingsDialog(QDialog, _Messages):
    """The administrator's settings of this gallery; only changed values are saved."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.session = session
        self.gallery = session.gallery
        self._make_messages()

        self.two_person = QCheckBox("Two-person rule: an analyst's possible lead waits for a "
                                    "second review by a supervisor", objectName="twoPersonRule")
        self.blind = QCheckBox("Blind second review: the supervisor sees the analyst's "
                               "rationale only after their own verdict",
                               objectName="blindSecondReview")
        self.retention = QSpinBox(objectName="retentionDays")
        self.retention.setRange(1, 36500)
        self.retention.setSuffix(" days")
        self.keep = QCheckBox("Keep searches (no retention period)", objectName="keepSearches")
        self.keep.toggled.connect(lambda on: self.retention.setEnabled(not on and self._may))
        self.threshold = QDoubleSpinBox(objectName="threshold")
        self.threshold.setRange(0.20, 1.00)
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.01)
        self.top_k = QSpinBox(objectName="topK")
        self.top_k.setRange(1, 200)
        for spin in (self.retention, self.threshold, self.top_k):
            spin.setMinimumWidth(110)
            spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.purposes = QPlainTextEdit(objectName="purposes")
        self.purposes.setPlaceholderText("One purpose per line")
        self.purposes.setFixedHeight(90)
        self.training = QCheckBox("Training gallery", objectName="training")
        # sign-in: back-off and lockout after failed passwords
        self.backoff = QDoubleSpinBox(objectName="backoffSeconds")
        self.backoff.setRange(0.0, 60.0)
        self.backoff.setDecimals(1)
        self.backoff.setSuffix(" s")
        self.lockout_after = QSpinBox(objectName="lockoutAfter")
        self.lockout_after.setRange(3, 100)
        self.lockout_after.setSuffix(" failed sign-ins")
        self.lockout_minutes = QSpinBox(objectName="lockoutMinutes")
        self.lockout_minutes.setRange(1, 7 * 24 * 60)
        self.lockout_minutes.setSuffix(" minutes")
        self.lock_until_unlocked = QCheckBox("until an administrator unlocks",
                                             objectName="lockUntilUnlocked")
        self.lock_until_unlocked.toggled.connect(
            lambda on: self.lockout_minutes.setEnabled(not on and self._may))
        for spin in (self.backoff, self.lockout_after, self.lockout_minutes):
            spin.setMinimumWidth(150)
            spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.import_roots = QPlainTextEdit(objectName="importRoots")
        self.import_roots.setPlaceholderText("Folders manifests may name by absolute path, "
                                             "one per line")
        self.import_roots.setFixedHeight(60)
        self.training_warning = _wrapped(TRAINING_WARNING, "trainingWarning")
        self.training_warning.setStyleSheet("color: #8a5a00;")

        retention_row = QHBoxLayout()
        retention_row.addWidget(self.retention)
        retention_row.addWidget(self.keep)
        retention_row.addStretch(1)
        form = QFormLayout()
        form.addRow(self.two_person)
        form.addRow(self.blind)
        form.addRow("Retention:", retention_row)
        form.addRow("", _hint("Searches of cases without a confirmed lead are purged after "
                              "this period."))
        form.addRow("Threshold (distance):", self.threshold)
        form.addRow("", _hint("Candidates farther than this are not shown "
                              "(face_recognition's usual threshold: 0.60)."))
        form.addRow("Candidates shown (top K):", self.top_k)
        form.addRow("Purposes of a case:", self.purposes)
        form.addRow(self.training)
        form.addRow(self.training_warning)
        form.addRow("Back-off after a failed sign-in:", self.backoff)
        form.addRow("", _hint("Doubles with each failure in a row; attempts meanwhile are "
                              "refused unchecked."))
        form.addRow("Lock password sign-in after:", self.lockout_after)
        lock_row = QHBoxLayout()
        lock_row.addWidget(self.lockout_minutes)
        lock_row.addWidget(self.lock_until_unlocked)
        lock_row.addStretch(1)
        form.addRow("Lock lasts:", lock_row)
        form.addRow("Import folders:", self.import_roots)

        self.save_button = QPushButton("Save changes", objectName="saveSettingsButton")
        self.save_button.clicked.connect(lambda: _quietly(self.apply))
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)
        fit_to_screen(self, 700, 560)
        self.load()

    @property
    def _may(self) -> bool:
        return self.session.may("change_settings")

    def load(self) -> None:
        """Show the stored settings."""
        s = self.session.settings()
        self.two_person.setChecked(s.two_person_rule)
        self.blind.setChecked(s.blind_second_review)
        self.keep.setChecked(s.retention_days is None)
        self.retention.setValue(s.retention_days or 365)
        self.threshold.setValue(s.threshold)
        self.top_k.setValue(s.top_k)
        self.purposes.setPlainText("\n".join(s.purposes))
        self.training.setChecked(s.training)
        self.backoff.setValue(s.backoff_seconds)
        self.lockout_after.setValue(s.lockout_after)
        self.lock_until_unlocked.setChecked(s.lockout_minutes is None)
        self.lockout_minutes.setValue(s.lockout_minutes or 30)
        self.import_roots.setPlainText("\n".join(s.import_roots))
        for w in (self.two_person, self.blind, self.keep, self.threshold, self.top_k,
                  self.purposes, self.training, self.backoff, self.lockout_after,
                  self.lock_until_unlocked, self.import_roots):
            w.setEnabled(self._may)
            w.setToolTip("" if self._may else not_permitted(self.session, "change_settings"))
        self.retention.setEnabled(self._may and not self.keep.isChecked())
        self.lockout_minutes.setEnabled(self._may and not self.lock_until_unlocked.isChecked())
        self._allow(self.session, self.save_button, "change_settings")

    def values(self) -> dict[str, Any]:
        """The settings as the form shows them."""
        return {
            "two_person_rule": self.two_person.isChecked(),
            "blind_second_review": self.blind.isChecked(),
            "retention_days": None if self.keep.isChecked() else self.retention.value(),
            "threshold": round(self.threshold.value(), 2),
            "top_k": self.top_k.value(),
            "purposes": [p.strip() for p in self.purposes.toPlainText().splitlines()
                         if p.strip()],
            "training": self.training.isChecked(),
            "backoff_seconds": round(self.backoff.value(), 1),
            "lockout_after": self.lockout_after.value(),
            "lockout_minutes": None if self.lock_until_unlocked.isChecked()
            else self.lockout_minutes.value(),
            "import_roots": [p.strip() for p in self.import_roots.toPlainText().splitlines()
                             if p.strip()],
        }

    def changes(self) -> dict[str, Any]:
        stored = self.session.settings().as_dict()
        out = {}
        for name, value in self.values().items():
            before = stored[name]
            if name in ("threshold", "backoff_seconds"):
                if round(float(before), 2) != value:
                    out[name] = value
            elif before != value:
                out[name] = value
        return out

    def apply(self) -> list[str]:
        """Save the changed settings (each one an audit event); their names. On a refusal
        before anything was saved the form keeps what was typed; after some changes were
        saved, it shows the stored settings again and says which changes were saved."""
        changed = self.changes()
        done: list[str] = []

        def run() -> None:
            if "purposes" in changed and not changed["purposes"]:
                raise AccountError("enter at least one purpose (one per line)")
            for name, value in changed.items():
                self.session.set_setting(name, value)
                done.append(name)

        try:
            self.act(run)
        except FaceDeskError as exc:
            if done:
                self.load()  # what is stored now: the saved changes, not the others
                left = [n for n in changed if n not in done]
                self.show_error(f"{exc.message}. Saved: {', '.join(done)}; not saved: "
                                f"{', '.join(left)} (the form shows the stored settings).")
                self.show_status("Saved: " + ", ".join(done) + ".")
            else:
                self.show_status("Nothing was saved.")
            raise
        self.load()
        self.show_status("Saved: " + ", ".join(done) + "." if done else "Nothing changed.")
        return done


# --- audit log ------------------------------------------------------------------------------


class AuditLogDialog(QDialog, _Messages):
    """The audit log: events, filters, verification and export."""

    COLUMNS = ("#", "Time", "User", "Event", "Case", "Details")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditLogDialog")
        self.setWindowTitle("Audit log")
        self.session = session
        self.gallery = session.gallery
        self.broken_seq: int | None = None
        self._make_messages()

        self.case_filter = QComboBox(objectName="caseFilter")
        self.kind_filter = QComboBox(objectName="kindFilter")
        self.kind_filter.addItem("All events", None)
        for key, label in audit.KINDS.items():
            self.kind_filter.addItem(label, key)
        self.case_filter.currentIndexChanged.connect(lambda *_: self.refresh())
        self.kind_filter.currentIndexChanged.connect(lambda *_: self.refresh())
        self.count_label = QLabel(objectName="eventCount")
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Case:"))
        filters.addWidget(self.case_filter)
        filters.addWidget(QLabel("Event:"))
        filters.addWidget(self.kind_filter)
        filters.addStretch(1)
        filters.addWidget(self.count_label)

        self.table = make_table(self.COLUMNS, "auditTable")

        self.expect_head_edit = QLineEdit(objectName="expectHead")
        self.expect_head_edit.setPlaceholderText(
            "optional: a head hash recorded earlier, or an exported audit-log.json — shows "
            "whether the log lost events since")
        self.verify_button = QPushButton("Verify", objectName="verifyButton")
        self.verify_button.setToolTip("Check every event's hash and link, the append-only "
                                      "triggers, and the stored records against their events")
        self.verify_button.clicked.connect(lambda: self.verify(
            self.expect_head_edit.text().strip() or None))
        self.verify_label = _wrapped(name="verifyResult")
        self.verify_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export…", objectName="exportAuditButton")
        self.export_button.clicked.connect(self._export_clicked)
        self.head_edit = QLineEdit(objectName="exportedHead")
        self.head_edit.setReadOnly(True)
        self.head_edit.setPlaceholderText("after an export: the head hash to keep")
        self._allow(session, self.export_button, "export_audit")

        verify_row = QHBoxLayout()
        verify_row.addWidget(QLabel("Expected head:"))
        verify_row.addWidget(self.expect_head_edit, 1)
        verify_row.addWidget(self.verify_button)
        export_row = QHBoxLayout()
        export_row.addWidget(QLabel("Head to keep:"))
        export_row.addWidget(self.head_edit, 1)
        export_row.addWidget(self.export_button)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        bottom.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(verify_row)
        layout.addWidget(self.verify_label)
        layout.addLayout(export_row)
        layout.addWidget(self.error_label)
        layout.addLayout(bottom)
        fit_to_screen(self, 1100, 680)
        self._load_cases()
        self.refresh()

    def _load_cases(self) -> None:
        self._case_numbers = {c.id: c.number for c in cases.cases(self.gallery)}
        current = self.case_filter.currentData()
        with QSignalBlocker(self.case_filter):
            self.case_filter.clear()
            self.case_filter.addItem("All cases", None)
            for cid, number in sorted(self._case_numbers.items(), key=lambda kv: kv[1]):
                self.case_filter.addItem(number, cid)
            i = self.case_filter.findData(current)
            self.case_filter.setCurrentIndex(max(i, 0))

    def set_filter(self, case_number: str | None = None, kind: str | None = None) -> None:
        """Show only the events of one case (by number) and/or one kind."""
        with QSignalBlocker(self.case_filter), QSignalBlocker(self.kind_filter):
            cid = next((i for i, n in self._case_numbers.items() if n == case_number), None)
            self.case_filter.setCurrentIndex(
                0 if case_number is None else max(self.case_filter.findData(cid), 0))
            self.kind_filter.setCurrentIndex(
                0 if kind is None else max(self.kind_filter.findData(kind), 0))
        self.refresh()

    def refresh(self) -> None:
        case_id = self.case_filter.currentData()
        kind = self.kind_filter.currentData()
        names = user_names(self.session)
        evs = audit.events(self.gallery, case_id=case_id,
                           kinds=None if kind is None else [kind])
        hidden = cases.hidden_rationales(self.session.gallery, self.session.user_id, case_id)
        shown = [cases.event_data(e, hidden) for e in evs]
        rows = [(e.seq, (str(e.seq), when(e.at, seconds=True),
                         names.get(e.user_id or "", e.user_id or ""), e.label,
                         self._case_numbers.get(e.case_id, "") if e.case_id else "",
                         short_data(data)))
                for e, data in zip(evs, shown, strict=True)]
        fill_table(self.table, rows)
        for r, data in enumerate(shown):
            item = self.table.item(r, len(self.COLUMNS) - 1)
            if item is not None:
                item.setToolTip(json.dumps(data, indent=1, ensure_ascii=False))
        total = audit.head(self.gallery)
        self.count_label.setText(f"{len(evs)} of {0 if total is None else total.seq} events")
        if self.broken_seq is not None:
            self._mark_broken(self.broken_seq)

    def _mark_broken(self, seq: int) -> int | None:
        """Highlight and select the first broken event (or, when it is missing, the one
        after the gap); its row."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and int(item.data(_KEY)) >= seq:
                paint_row(self.table, r, _BAD_ROW)
                # a mark that stays visible while the row is selected
                kind = self.table.item(r, 3)
                if kind is not None:
                    kind.setText(f"⚠ {kind.text()} — "
                                 + ("broken" if int(item.data(_KEY)) == seq else "after a gap"))
                    self.table.resizeColumnToContents(3)
                self.table.selectRow(r)
                self.table.scrollToItem(item)
                return r
        return None

    # -- actions -------------------------------------------------------------------------------

    def verify(self, expect_head: str | None = None) -> audit.Verification:
        """Check the log and say the result in plain words; a broken or missing event is
        highlighted and selected."""
        self.show_error("")
        head, seq = None, None
        if expect_head:
            try:  # a hash, or an exported audit-log.json that names its head
                head, seq = audit.read_expected_head(expect_head)
            except (OSError, ValueError, AttributeError):
                self.show_error(f"{expect_head} is neither a head hash nor an exported "
                                "audit-log.json: verified without an expected head")
        v = audit.verify(self.gallery, expect_head=head or None, expect_seq=seq)
        self.broken_seq = None
        if v.ok:
            head_note = ("" if not head else
                         " The head you gave is in the log: no event was lost since.")
            self.verify_label.setStyleSheet(_OK_STYLE)
            notes = "".join(f"\nNote: {n}" for n in v.notes)
            self.verify_label.setText(
                f"Intact: all {v.events} events are linked to the one before them, none was "
                "changed, removed or reordered, and the stored searches, decisions and "
                "second reviews agree with their events; every user, case, setting, "
                "calibration, person, photo and face is as its last event recorded it; the "
                "schema is FaceDesk's; the external witness of the head agrees."
                f"{head_note}\nHead: event {v.head_seq}, hash {v.head_hash}{notes}")
            self.refresh()
            return v
        where = ""
        if v.first_bad is not None:
            ev = audit.event(self.gallery, v.first_bad)
            where = (f" The first broken event is {v.first_bad} ({ev.label}, "
                     f"{when(ev.at, seconds=True)}), highlighted below." if ev is not None else
                     f" The first missing event is {v.first_bad}: the event after the gap "
                     "is highlighted below.")
        self.verify_label.setStyleSheet(_ERROR_STYLE)
        self.verify_label.setText(
            "FAILED: the audit log was changed, cut short or damaged after it was written: "
            f"it cannot be relied on as it is.{where}\n• " + "\n• ".join(v.problems))
        if v.first_bad is not None:
            self.broken_seq = v.first_bad
            self.set_filter(None, None)  # show every event, so the broken one is visible
        return v

    def export(self, out_dir: Path) -> audit.AuditExport:
        """Write audit-log.json and audit-log.csv to `out_dir`; shows the head to keep."""
        def run() -> audit.AuditExport:
            return cases.export_audit(self.session, out_dir)

        result = self.act(run)
        self.head_edit.setText(result.hash)
        self.show_status(
            f"Exported {result.events} events to {result.json} and {result.csv}. "
            f"Keep the head — event {result.seq}, hash {result.hash} — apart from the "
            "files: whoever checks the log later compares it.")
        self._load_cases()
        self.refresh()
        return result

    def _export_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the audit log export",
                                                  str(Path.home()))
        if folder:
            _quietly(lambda: self.export(Path(folder)))


# --- retention ------------------------------------------------------------------------------


class RetentionDialog(QDialog, _Messages):
    """What retention purges now, and purging it."""

    COLUMNS = ("Case", "Search", "Time", "User", "Decisions", "Probe")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("retentionDialog")
        self.setWindowTitle("Retention")
        self.session = session
        self.gallery = session.gallery
        self.plan: cases.PurgePlan | None = None
        self._make_messages()

        self.period_label = _wrapped(name="retentionPeriod")
        self.plan_label = _wrapped(name="purgePlan")
        self.table = make_table(self.COLUMNS, "purgeTable")
        self.purge_button = QPushButton("Purge now…", objectName="purgeButton")
        self.purge_button.clicked.connect(self._purge_clicked)
        self.settings_button = QPushButton("Settings…", objectName="openSettingsButton")
        self.settings_button.clicked.connect(self._open_settings)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.purge_button)
        buttons.addWidget(self.settings_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.period_label)
        layout.addWidget(self.plan_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        fit_to_screen(self, 820, 480)
        self.refresh()

    def refresh(self) -> None:
        plan = self.plan = cases.purge_plan(self.gallery)
        self._allow(self.session, self.settings_button, "change_settings")
        if plan.retention_days is None:
            self.period_label.setText(
                "<b>No retention period is set</b>: every search is kept. An administrator "
                "sets one in Administration ▸ Settings (Retention).")
            self.plan_label.setText("")
            fill_table(self.table, [])
            self._allow(self.session, self.purge_button, "purge", False,
                        "No retention period is set: set one in Settings first.")
            return
        self.period_label.setText(
            f"<b>Retention period: {plan.retention_days} days.</b> The searches of cases "
            "with neither a confirmed lead nor a possible lead waiting for its second "
            "review, made before "
            f"{when(plan.cutoff)}, are purged with their probe images, decisions and second "
            "reviews. A purge is itself an audit event; the audit log keeps its events.")
        names = user_names(self.session)
        due = set(plan.searches)
        rows: list[tuple[Any, Sequence[str]]] = []
        for number in plan.cases:
            case = cases.get_case(self.gallery, number)
            decided = cases.decisions(self.gallery, case.id)
            for s in cases.searches(self.gallery, case.id):
                if s.id in due:
                    n = sum(1 for d in decided if d.search_id == s.id)
                    rows.append((s.id, (case.number, str(s.id), when(s.created_at),
                                           names.get(s.user_id, s.user_id),
                                           str(n), s.probe_name)))
        fill_table(self.table, rows)
        if plan.searches:
            self.plan_label.setText(
                f"Due now: {len(plan.searches)} search{'es' if len(plan.searches) != 1 else ''}"
                f" and {len(plan.decisions)} decision{'s' if len(plan.decisions) != 1 else ''}"
                f" in case{'s' if len(plan.cases) != 1 else ''} {', '.join(plan.cases)}.")
        else:
            self.plan_label.setText("Nothing is due: no search is older than the period "
                                    "(or every old one belongs to a case with a confirmed "
                                    "lead or a lead waiting for its second review).")
        self._allow(self.session, self.purge_button, "purge", bool(plan.searches),
                    "Nothing is due for purging.")

    # -- actions -------------------------------------------------------------------------------

    def purge(self) -> cases.PurgePlan:
        """Purge what is due now; what was purged."""
        done = self.act(lambda: cases.purge(self.session))
        self.refresh()
        self.show_status(
            f"Purged {len(done.searches)} search{'es' if len(done.searches) != 1 else ''} and "
            f"{len(done.decisions)} decision{'s' if len(done.decisions) != 1 else ''}"
            + (f" of case{'s' if len(done.cases) != 1 else ''} {', '.join(done.cases)}"
               if done.cases else "") + ". The purge is recorded in the audit log.")
        return done

    def _purge_clicked(self) -> None:
        plan = self.plan
        if plan is None:
            return
        answer = QMessageBox.question(
            self, "Purge now",
            f"Purge {len(plan.searches)} search(es) and {len(plan.decisions)} decision(s) "
            f"of case(s) {', '.join(plan.cases)}, with their probe images? This cannot be "
            "undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            _quietly(self.purge)

    def _open_settings(self) -> None:
        SettingsDialog(self.session, self).exec()
        self.refresh()


__all__ = [
    "AuditLogDialog",
    "CaseOverviewDialog",
    "RetentionDialog",
    "SecondReviewDialog",
    "SettingsDialog",
    "UsersDialog",
    "when",
]
