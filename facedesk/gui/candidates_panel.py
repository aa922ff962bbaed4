"""The CANDIDATES region of the analyst's screen: the candidate list of one search, with
its crops, scores and review state.

In blind review a candidate's rank, distance and similarity read "hidden" until the
reviewer has recorded a first impression of it, and the rows are listed in a shuffled
order (stable, seeded by the probe's hash) so that a row's position does not give its rank
away either. The vertical header (row numbers) is hidden for the same reason.

Words follow DESIGN.md: candidates are possible leads for review, never identifications.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from facedesk.app.cases import LEAD_STATUS, Decision
from facedesk.app.review import DECISIONS, FIRST_IMPRESSIONS, Review
from facedesk.app.search import Candidate
from facedesk.gui.formatting import plural
from facedesk.gui.images import decode, scaled
from facedesk.gui.widgets import wrapped

THUMB_PX = 64
HIDDEN = "hidden"
NO_VALUE = "—"
BLIND_TOOLTIP = ("Scores are hidden until you record a first impression, to reduce "
                 "automation bias.")
DISTANCE_TOOLTIP = ("Euclidean distance between the two face encodings: lower = more alike. "
                    "It is not a probability that the candidate is the person.")
SIMILARITY_TOOLTIP = ("Cosine similarity of the two face encodings (1.0 = same direction). "
                      "It is not a probability that the candidate is the person.")
#: why two candidates' similarities may be in the other order than their ranks
RANK_NOTE = ("Candidates are ranked by distance (lower = more alike). The similarity "
             "(cosine) measures the angle between the encodings only, so two close "
             "candidates can be in the other order by similarity: the rank follows the "
             "distance.")
#: the item data role that carries a row's candidate rank (always, even when hidden)
RANK_ROLE = int(Qt.ItemDataRole.UserRole) + 1

COLUMNS = ("Rank", "Face", "Person", "Distance", "Similarity", "FMR", "Look-alikes",
           "Ref. look-alikes", "Photo metadata", "Decision")
(COL_RANK, COL_FACE, COL_PERSON, COL_DISTANCE, COL_SIMILARITY, COL_FMR, COL_PROBE_LOOKALIKES,
 COL_LOOKALIKES, COL_META, COL_DECISION) = range(10)
_SCORE_COLUMNS = (COL_RANK, COL_DISTANCE, COL_SIMILARITY, COL_PROBE_LOOKALIKES, COL_FMR,
                  COL_LOOKALIKES)
FMR_TOOLTIP = ("False match rate: the share of pairs of photos of two DIFFERENT persons "
               "that come this close (measured on the calibration set). Not the chance "
               "that this candidate is the person.")
LOOKALIKES_TOOLTIP = ("Reference table: how many different persons a gallery of this "
                      "size would hold at least this close (persons searched x FMR of the "
                      "calibration), the same for every probe. The Look-alikes column is "
                      "this probe's own estimate.")
PROBE_LOOKALIKES_TOOLTIP = (
    "Look-alikes for this probe: how many different persons of this gallery are expected "
    "to be at least this close to this probe, estimated from its distances to every "
    "person searched (90% band in brackets). 1 or more means this candidate may well be "
    "a look-alike.")

DECISION_TOOLTIP = ("The decision recorded for the candidate (a possible lead is an "
                    "investigative lead only — not an identification)")
#: columns the table does not show: their figures are in the tooltips, the compare view
#: and the decision panel (so that the list needs no sideways scrolling)
SECONDARY_COLUMNS = (COL_SIMILARITY, COL_LOOKALIKES, COL_META)

#: object names of the first-impression buttons, by FIRST_IMPRESSIONS key
IMPRESSION_BUTTONS = {
    "similar": "impressionSimilar",
    "different": "impressionDifferent",
    "unsure": "impressionUnsure",
}


def decision_label(decision: str) -> str:
    """How a recorded decision reads everywhere in the GUI; a possible lead always carries
    the reminder that it is a lead, not an identification."""
    label = DECISIONS.get(decision, decision)
    if decision == "possible_lead":
        return f"{label} — investigative lead only"
    return label


def decided_label(row: Decision, short: bool = False) -> str:
    """A recorded decision in the candidate list: a possible lead says where it stands
    (pending, confirmed, overturned by the second reviewer, training), by its `status`.
    `short`: without the "investigative lead only" reminder (the table cell; its tooltip
    and the decision panel carry it)."""
    decision, status = row.decision, row.status
    if decision != "possible_lead":
        return DECISIONS.get(decision, decision) if short else decision_label(decision)
    where = LEAD_STATUS.get(str(status), str(status)).lower()
    if status in ("pending", "confirmed") and not short:
        return f"{DECISIONS[decision]} — {where}, investigative lead only"
    return f"{DECISIONS[decision]} — {where}"


def fmr_text(value: float) -> str:
    """A false match rate in full: 7.9e-06, never cut to "7.9e-0"."""
    return f"{value:.1e}"


def lookalikes_text(value: float) -> str:
    """Expected look-alikes: 0.00012, 0.37, 3.2, 120."""
    if value >= 10:
        return f"{value:,.0f}"
    return f"{value:.2g}"


def metadata_text(metadata: Mapping[str, Any] | None, limit: int = 80) -> str:
    """A photo's booking metadata as a short "key: value; ..." line."""
    if not metadata:
        return NO_VALUE
    parts = [f"{k}: {v}" for k, v in metadata.items() if v not in (None, "")]
    text = "; ".join(parts) or NO_VALUE
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def display_order(ranks: list[int], seed: str) -> list[int]:
    """The ranks in a shuffled order that depends only on `seed` (the probe's hash)."""
    digest = hashlib.sha256(f"facedesk-blind-order:{seed}".encode()).digest()
    order = sorted(ranks)
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


def header_text(review: Review | None, threshold: float | None = None) -> str:
    """The line that introduces a candidate list: how many candidates, from how many
    persons and faces searched, and what a candidate is. `threshold`: the distance a
    candidate had to be within (said when it left no candidate)."""
    if review is None:
        return "No search yet: drop a probe still and search the gallery to list candidates."
    r = review.result
    n = len(r.candidates)
    text = (f"{plural(n, 'candidate')} from {plural(r.persons_searched, 'person')} searched "
            f"({plural(r.faces_searched, 'face')}). ") if r.filtered is None else (
        f"{plural(n, 'candidate')}; {r.searched_sentence()}. "
        + "".join(f"{s[0].upper()}{s[1:]}. " for s in r.filtered.left_out_sentences()))
    if n == 0:
        within = "within the distance threshold" if threshold is None else \
            f"within the distance threshold of {threshold:.2f}"
        text += (f"No gallery face is {within} (set by the administrator). That does not "
                 "mean the person is not in the gallery: a poor probe or a different "
                 "pose moves faces apart.")
        return text
    text += ("Candidates are possible leads for review, not identifications, ranked by "
             "distance (lower = more alike).")
    if not review.blind:  # the figures would give the best score away
        probe_notice = r.probe_lookalike_notice()
        if probe_notice:
            text += " " + probe_notice
        text += " Reference table (the same for every probe): " + r.lookalike_notice()
    if r.calibration_source:
        text += f" Calibration: {r.calibration_source}."
    if review.blind:
        text += " Blind review: scores stay hidden until you record a first impression."
    return text


#: what each score column means, shown as the header's and the cells' tooltip
_SCORE_TOOLTIPS = {COL_DISTANCE: DISTANCE_TOOLTIP, COL_SIMILARITY: SIMILARITY_TOOLTIP,
                   COL_FMR: FMR_TOOLTIP, COL_LOOKALIKES: LOOKALIKES_TOOLTIP,
                   COL_PROBE_LOOKALIKES: PROBE_LOOKALIKES_TOOLTIP}


class CandidatesModel(QAbstractTableModel):
    """A Review's candidates as table rows (see COLUMNS). `crops` maps face_id to the JPEG
    bytes of the gallery's face crop, shown as the Face column's decoration."""

    def __init__(self, review: Review | None = None,
                 crops: Mapping[int, bytes] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._review: Review | None = None
        self._crops: dict[int, bytes] = {}
        self._thumbs: dict[int, QImage] = {}
        self._order: list[Candidate] = []
        self.set_review(review, crops or {})

    # -- content ----------------------------------------------------------------------------

    def set_review(self, review: Review | None, crops: Mapping[int, bytes]) -> None:
        self.beginResetModel()
        self._review = review
        self._crops = dict(crops)
        self._thumbs = {}
        self._order = []
        if review is not None:
            by_rank = {c.rank: c for c in review.result.candidates}
            ranks = sorted(by_rank)
            if review.blind:
                ranks = display_order(ranks, review.probe.sha256)
            self._order = [by_rank[r] for r in ranks]
        self.endResetModel()

    def review(self) -> Review | None:
        return self._review

    def refresh(self, rank: int | None = None) -> None:
        """Re-read the review (a first impression or a decision was recorded): one row, or
        all of them. The order of the rows does not change."""
        if not self._order:
            return
        if rank is None:
            first, last = 0, len(self._order) - 1
        else:
            row = self.row_of(rank)
            if row is None:
                return
            first = last = row
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def rank_at(self, row: int) -> int | None:
        return self._order[row].rank if 0 <= row < len(self._order) else None

    def row_of(self, rank: int) -> int | None:
        for row, cand in enumerate(self._order):
            if cand.rank == rank:
                return row
        return None

    def ranks_in_display_order(self) -> list[int]:
        return [c.rank for c in self._order]

    # -- QAbstractTableModel ----------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._order)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            if section in _SCORE_TOOLTIPS:
                return _SCORE_TOOLTIPS[section]
            if section == COL_RANK:
                return RANK_NOTE
            if section == COL_DECISION:
                return DECISION_TOOLTIP
            if section in _SCORE_COLUMNS and self._review is not None and self._review.blind:
                return BLIND_TOOLTIP
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        review = self._review
        if review is None or not index.isValid() or not 0 <= index.row() < len(self._order):
            return None
        cand = self._order[index.row()]
        col = index.column()
        visible = review.scores_visible(cand.rank)
        if role == RANK_ROLE:
            return cand.rank
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(review, cand, col, visible)
        if role == Qt.ItemDataRole.DecorationRole and col == COL_FACE:
            return self._thumbnail(cand.face_id)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(cand, col, visible)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _SCORE_COLUMNS:
            if not visible:
                return int(Qt.AlignmentFlag.AlignCenter)
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col in _SCORE_COLUMNS and not visible:
            return QColor("#7a7a7a")
        if role == Qt.ItemDataRole.FontRole and col in _SCORE_COLUMNS and not visible:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.SizeHintRole and col == COL_FACE:
            return QSize(THUMB_PX + 8, THUMB_PX + 4)
        return None

    def _display(self, review: Review, cand: Candidate, col: int, visible: bool) -> str | None:
        if col in _SCORE_COLUMNS and not visible:
            return HIDDEN
        if col == COL_RANK:
            return str(cand.rank)
        if col == COL_FACE:
            return None if cand.face_id in self._crops else "no crop"
        if col == COL_PERSON:
            return f"{cand.person_id}\n{cand.name}" if cand.name else cand.person_id
        if col == COL_DISTANCE:
            return f"{cand.distance:.3f}"
        if col == COL_SIMILARITY:
            return f"{cand.similarity:.3f}"
        if col == COL_FMR:
            return NO_VALUE if cand.fmr is None else fmr_text(cand.fmr.fmr)
        if col == COL_LOOKALIKES:
            return NO_VALUE if cand.expected_lookalikes is None else \
                lookalikes_text(cand.expected_lookalikes)
        if col == COL_PROBE_LOOKALIKES:
            return NO_VALUE if cand.lookalikes is None else lookalikes_text(cand.lookalikes[0])
        if col == COL_META:
            return metadata_text(cand.photo.get("metadata"))
        if col == COL_DECISION:
            decided = review.decided.get(cand.rank)
            if decided is not None:
                return decided_label(decided, short=True)
            impression = review.first_impressions.get(cand.rank)
            if impression is not None:
                return f"First impression: {FIRST_IMPRESSIONS.get(impression, impression)}"
            return NO_VALUE
        return None

    def _tooltip(self, cand: Candidate, col: int, visible: bool) -> str | None:
        if col in _SCORE_COLUMNS and not visible:
            return BLIND_TOOLTIP
        if col == COL_DISTANCE:
            return (f"Distance {cand.distance:.3f}, similarity {cand.similarity:.3f}.\n"
                    f"{DISTANCE_TOOLTIP}\n{RANK_NOTE}")
        if col == COL_FMR and cand.fmr is not None:
            f = cand.fmr
            return (f"FMR {fmr_text(f.fmr)} (95 % interval {fmr_text(f.fmr_low)} to "
                    f"{fmr_text(f.fmr_high)}; {f.impostors_at_or_below:,} of "
                    f"{f.impostor_pairs:,} impostor pairs this close).\n{FMR_TOOLTIP}")
        if col == COL_PROBE_LOOKALIKES and cand.lookalikes is not None:
            looks, low, high = cand.lookalikes
            ref = "" if cand.expected_lookalikes is None else \
                f"\nReference table: {lookalikes_text(cand.expected_lookalikes)}."
            return (f"Look-alikes {lookalikes_text(looks)} (90% band {lookalikes_text(low)} "
                    f"to {lookalikes_text(high)}).{ref}\n{PROBE_LOOKALIKES_TOOLTIP}")
        if col == COL_RANK:
            return RANK_NOTE
        if col == COL_DECISION:
            review = self._review
            decided = None if review is None else review.decided.get(cand.rank)
            return DECISION_TOOLTIP if decided is None else decided_label(decided)
        if col in _SCORE_TOOLTIPS:
            return _SCORE_TOOLTIPS[col]
        if col in (COL_FACE, COL_META, COL_PERSON):
            lines = [str(cand.photo.get("path", ""))]
            meta = cand.photo.get("metadata") or {}
            lines += [f"{k}: {v}" for k, v in meta.items()]
            n = cand.photos_of_person
            lines.append(f"{n} photo{'s' if n != 1 else ''} of this person in the gallery")
            return "\n".join(line for line in lines if line)
        return None

    def _thumbnail(self, face_id: int) -> QImage | None:
        """The crop scaled to THUMB_PX (a QImage: usable without a GUI application)."""
        if face_id in self._thumbs:
            return self._thumbs[face_id]
        image = decode(self._crops.get(face_id))
        if image is None:
            return None
        image = scaled(image, THUMB_PX)
        self._thumbs[face_id] = image
        return image


class CandidatesPanel(QWidget):
    """The right-hand region: header line, blind-review indicator, the candidate table and,
    in blind review, the first-impression buttons for the selected candidate."""

    #: the selected candidate's rank
    candidate_selected = Signal(int)
    #: (rank, impression key) after a first impression was recorded; its scores are now shown
    #: (candidate_selected(rank) follows, so a listener of that alone re-reads the candidate)
    first_impression_recorded = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("candidatesPanel")
        self._review: Review | None = None
        self.model = CandidatesModel(parent=self)

        title = QLabel("<b>Candidates</b>")
        self.blind_indicator = QCheckBox("Blind review")
        self.blind_indicator.setObjectName("blindReview")
        # an indicator, not a switch: blind review is chosen when the search starts
        self.blind_indicator.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.blind_indicator.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.blind_indicator.setToolTip(BLIND_TOOLTIP)
        top = QHBoxLayout()
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.blind_indicator)

        self.header = wrapped(name="candidatesHeader", selectable=True)

        self.table = QTableView()
        self.table.setObjectName("candidateList")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)  # row numbers would read as ranks
        vh = self.table.verticalHeader()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(THUMB_PX + 6)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        hh.setStretchLastSection(False)
        # the Person column takes what the others leave (see _fit_person_column)
        self.table.viewport().installEventFilter(self)
        hh.setMinimumSectionSize(24)
        for col in SECONDARY_COLUMNS:
            self.table.setColumnHidden(col, True)
        for col, width in self.column_widths().items():
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._current_row_changed)

        self.impression_prompt = QLabel(
            "First impression of the selected candidate, before seeing its scores:")
        self.impression_prompt.setWordWrap(True)
        self.impression_buttons: dict[str, QPushButton] = {}
        buttons = QHBoxLayout()
        for key, label in FIRST_IMPRESSIONS.items():
            button = QPushButton(label)
            button.setObjectName(IMPRESSION_BUTTONS[key])
            button.setToolTip(BLIND_TOOLTIP)
            button.clicked.connect(lambda _=False, k=key: self._record_impression(k))
            self.impression_buttons[key] = button
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.impression_box = QWidget()
        self.impression_box.setObjectName("impressionBox")
        box_layout = QVBoxLayout(self.impression_box)
        box_layout.setContentsMargins(0, 0, 0, 0)
        box_layout.addWidget(self.impression_prompt)
        box_layout.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 6)
        layout.addLayout(top)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.impression_box)
        self.set_review(None, {})

    # -- API --------------------------------------------------------------------------------

    def column_widths(self) -> dict[int, int]:
        """Widths that show each shown column's header and widest value in full, from the
        font in use (the Person column takes the rest)."""
        fm = self.table.fontMetrics()
        hfm = self.table.horizontalHeader().fontMetrics()
        pad = 2 * self.style().pixelMetric(self.style().PixelMetric.PM_HeaderMargin) + 10

        def fit(col: int, *samples: str) -> int:
            return max([hfm.horizontalAdvance(COLUMNS[col])] +
                       [fm.horizontalAdvance(t) for t in samples]) + pad

        return {
            COL_RANK: fit(COL_RANK, "200", HIDDEN),
            COL_FACE: max(THUMB_PX + 12, fit(COL_FACE, "no crop")),
            COL_DISTANCE: fit(COL_DISTANCE, "0.000", HIDDEN),
            COL_FMR: fit(COL_FMR, "7.9e-06", HIDDEN),
            COL_PROBE_LOOKALIKES: fit(COL_PROBE_LOOKALIKES, "0.00012", "12,345", HIDDEN),
            COL_LOOKALIKES: fit(COL_LOOKALIKES, "0.00012", "12,345", HIDDEN),
            # two lines of a decision: "Possible lead —" over "pending second review"
            COL_DECISION: fit(COL_DECISION, "pending second", "Not the person",
                              "Inconclusive"),
        }

    def person_min_width(self) -> int:
        return self.table.fontMetrics().horizontalAdvance("person_0000") + 16

    def _fit_person_column(self) -> None:
        others = sum(self.table.columnWidth(c) for c in range(len(COLUMNS))
                     if c != COL_PERSON and not self.table.isColumnHidden(c))
        width = max(self.person_min_width(), self.table.viewport().width() - others)
        if self.table.columnWidth(COL_PERSON) != width:
            self.table.setColumnWidth(COL_PERSON, width)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_person_column()
        return super().eventFilter(watched, event)

    def layout_margin(self) -> int:
        """The panel's own left (= right) margin around the table."""
        return self.layout().contentsMargins().left()

    def table_width_needed(self) -> int:
        """The table's width with every shown column whole and the Person column at its
        least (a vertical scroll bar and the frame included)."""
        widths = self.column_widths()
        person = self.person_min_width()
        bar = self.style().pixelMetric(self.style().PixelMetric.PM_ScrollBarExtent)
        return sum(widths.values()) + person + bar + 2 * self.table.frameWidth() + 2

    def set_review(self, review: Review | None, crops: Mapping[int, bytes],
                   threshold: float | None = None) -> None:
        """Show a review's candidates (crops: face_id -> JPEG bytes; threshold: the
        distance they had to be within). The first row listed is selected, which emits
        `candidate_selected`."""
        self._review = review
        self.model.set_review(review, crops)
        self.header.setText(header_text(review, threshold))
        self.blind_indicator.setChecked(bool(review is not None and review.blind))
        self.blind_indicator.setEnabled(review is not None)
        self._update_impressions()
        if self.model.rowCount() > 0:
            self._select_row(0)

    def review(self) -> Review | None:
        return self._review

    def selected_rank(self) -> int | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid():
            return None
        return self.model.rank_at(index.row())

    def select_rank(self, rank: int) -> None:
        """Select a candidate and announce it with `candidate_selected`, also when it was
        already selected (so a caller can re-sync the other regions)."""
        row = self.model.row_of(rank)
        if row is None:
            return
        if self.selected_rank() == rank:
            self.candidate_selected.emit(rank)
        else:
            self._select_row(row)

    def select_next(self) -> None:
        self._step(1)

    def select_previous(self) -> None:
        self._step(-1)

    def refresh(self) -> None:
        """Re-read the review after a decision or first impression was recorded."""
        self.model.refresh()
        self._update_impressions()

    # -- internals --------------------------------------------------------------------------

    def _step(self, delta: int) -> None:
        rows = self.model.rowCount()
        if rows == 0:
            return
        current = self.table.selectionModel().currentIndex()
        if not current.isValid():
            self._select_row(0 if delta > 0 else rows - 1)
            return
        target = current.row() + delta
        if 0 <= target < rows:
            self._select_row(target)

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_impressions()
        rank = self.model.rank_at(current.row()) if current.isValid() else None
        if rank is not None:
            self.candidate_selected.emit(rank)

    def _update_impressions(self) -> None:
        rank = self.selected_rank()
        review = self._review
        needed = (review is not None and review.blind and rank is not None
                  and rank not in review.first_impressions)
        self.impression_box.setVisible(needed)

    def _record_impression(self, key: str) -> None:
        rank = self.selected_rank()
        if self._review is None or rank is None:
            return
        self._review.record_first_impression(rank, key)
        self.model.refresh(rank)
        self._update_impressions()
        self.first_impression_recorded.emit(rank, key)
        # the selected candidate now shows its scores: let the other regions re-read it
        self.candidate_selected.emit(rank)
