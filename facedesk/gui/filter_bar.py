"""The search filter of the probe region (issue 18): narrow the next search to photos whose
metadata passes — a column's value, an age range at booking, a booking-date range — as
`facedesk search --where/--age/--booked` does (facedesk.domain.filters holds the rules).

`FilterBar.search_filter()` is the filter to search with (None: every face), raising
FilterError for a date that cannot be read; `set_choices` fills the column and value
pickers (read off the GUI thread by the window: `app.search.filter_choices`).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from facedesk.domain import filters
from facedesk.domain.filters import SearchFilter, Where
from facedesk.errors import FilterError

NO_FILTER_TEXT = "No condition: every face is searched."
ANY = "any"
SHORT = QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon


class FilterBar(QGroupBox):
    """Column = value conditions (added one by one), age at booking and booking dates."""

    #: the filter as now entered changed (its description, or an error)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Search filter", parent)
        self.setObjectName("filterBar")
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip("Narrow the next search to photos whose metadata passes: a person "
                        "is searched when one of their photos passes, and only those are "
                        "compared. Photos lacking a value are left out and counted.")
        self._where: list[Where] = []
        self._choices: dict[str, list[str]] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 2)
        self.body = QWidget()
        outer.addWidget(self.body)
        rows = QVBoxLayout(self.body)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(3)

        self.column = QComboBox()
        self.column.setObjectName("filterColumn")
        self.column.setAccessibleName("Metadata column")
        self.column.setToolTip("A photo metadata column (from the gallery's import)")
        self.column.setSizeAdjustPolicy(SHORT)
        self.column.setMinimumContentsLength(6)
        self.op = QComboBox()
        self.op.setObjectName("filterOp")
        self.op.addItems(["=", "≠"])
        self.op.setAccessibleName("Equal or not equal")
        self.value = QComboBox()
        self.value.setObjectName("filterValue")
        self.value.setEditable(True)
        self.value.setAccessibleName("Value")
        self.value.setToolTip("Compared without regard to case")
        self.value.setSizeAdjustPolicy(SHORT)
        self.value.setMinimumContentsLength(4)
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("filterAdd")
        self.add_button.setToolTip("Add this condition (values of one column: either; "
                                   "different columns: all)")
        label = QLabel("&Where")
        label.setBuddy(self.column)
        rows.addLayout(_row(label, (self.column, 1)))
        rows.addLayout(_row(self.op, (self.value, 1), self.add_button))

        self.age_from = self._age_spin("filterAgeFrom", "Youngest age at booking")
        self.age_to = self._age_spin("filterAgeTo", "Oldest age at booking")
        label = QLabel("&Age")
        label.setBuddy(self.age_from)
        label.setToolTip("Age at booking, in full years, from the date of birth and "
                         "booking date columns: the first of "
                         f"{', '.join(filters.DOB_COLUMNS)} and of "
                         f"{', '.join(filters.BOOKING_COLUMNS)} the gallery has")
        rows.addLayout(_row(label, self.age_from, QLabel("to"), self.age_to, None))

        self.booked_from = self._date_edit("filterBookedFrom", "Booked on or after")
        self.booked_to = self._date_edit("filterBookedTo", "Booked on or before")
        label = QLabel("&Booked")
        label.setBuddy(self.booked_from)
        rows.addLayout(_row(label, (self.booked_from, 1), QLabel("to"), (self.booked_to, 1)))

        self.summary = QLabel(NO_FILTER_TEXT)
        self.summary.setObjectName("filterSummary")
        self.summary.setWordWrap(True)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("filterClear")
        self.clear_button.setToolTip("Remove every condition: search every face")
        rows.addLayout(_row((self.summary, 1), self.clear_button))

        self.toggled.connect(self._on_toggled)
        self.column.currentTextChanged.connect(self._fill_values)
        self.add_button.clicked.connect(self._add)
        self.value.lineEdit().returnPressed.connect(self._add)
        self.clear_button.clicked.connect(self.clear)
        for spin in (self.age_from, self.age_to):
            spin.valueChanged.connect(self._update)
        for edit in (self.booked_from, self.booked_to):
            edit.textChanged.connect(self._update)
        self._on_toggled(False)

    @staticmethod
    def _age_spin(name: str, accessible: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(-1, 130)
        spin.setValue(-1)
        spin.setSpecialValueText(ANY)
        spin.setAccessibleName(accessible)
        spin.setToolTip(f"{accessible}, in full years ({ANY}: no limit)")
        return spin

    @staticmethod
    def _date_edit(name: str, accessible: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setObjectName(name)
        edit.setPlaceholderText("YYYY-MM-DD")
        edit.setAccessibleName(accessible)
        edit.setClearButtonEnabled(True)
        return edit

    # -- API --------------------------------------------------------------------------

    def set_choices(self, choices: dict[str, list[str]]) -> None:
        """The gallery's metadata columns with their values."""
        self._choices = dict(choices)
        keep = self.column.currentText()
        self.column.blockSignals(True)
        self.column.clear()
        self.column.addItems(sorted(self._choices, key=str.lower))
        self.column.blockSignals(False)
        if keep in self._choices:
            self.column.setCurrentText(keep)
        self._fill_values(self.column.currentText())

    def search_filter(self) -> SearchFilter | None:
        """The filter as entered (None: no condition, or the filter is switched off);
        FilterError when a date or the age range cannot be read."""
        if not self.isChecked():
            return None
        lo, hi = self.age_from.value(), self.age_to.value()
        age = None
        if lo >= 0 or hi >= 0:
            age = filters.parse_age(f"{lo if lo >= 0 else ''}-{hi if hi >= 0 else ''}")
        a, b = self.booked_from.text().strip(), self.booked_to.text().strip()
        booked = filters.parse_booked(f"{a}..{b}") if a or b else None
        flt = SearchFilter(tuple(self._where), age, booked)
        return flt if flt else None

    def set_where(self, conditions: list[Where]) -> None:
        self._where = list(conditions)
        self._update()

    def clear(self) -> None:
        self._where = []
        for spin in (self.age_from, self.age_to):
            spin.setValue(-1)
        for edit in (self.booked_from, self.booked_to):
            edit.clear()
        self._update()

    # -- internals --------------------------------------------------------------------

    def _on_toggled(self, on: bool) -> None:
        self.body.setVisible(on)
        self._update()

    def _fill_values(self, column: str) -> None:
        self.value.clear()
        self.value.addItems(self._choices.get(column, []))

    def _add(self) -> None:
        column, value = self.column.currentText().strip(), self.value.currentText().strip()
        if not column or not value:
            return
        cond = Where(column, value, self.op.currentText() == "≠")
        if cond not in self._where:
            self._where.append(cond)
        self._update()

    def _update(self) -> None:
        try:
            flt = self.search_filter()
        except FilterError as exc:
            self.summary.setText(f"⚠ {exc.message}")
            self.summary.setStyleSheet("color: #b35900;")
        else:
            self.summary.setStyleSheet("")
            self.summary.setText(NO_FILTER_TEXT if flt is None else
                                 f"Searching only: {flt.describe()}")
        self.clear_button.setEnabled(bool(self._where) or self.age_from.value() >= 0
                                     or self.age_to.value() >= 0
                                     or bool(self.booked_from.text() or
                                             self.booked_to.text()))
        self.changed.emit()


def _row(*items: QWidget | tuple[QWidget, int] | None) -> QHBoxLayout:
    """A row of widgets ((widget, stretch) to stretch one; None: a stretch)."""
    row = QHBoxLayout()
    row.setSpacing(4)
    for item in items:
        if item is None:
            row.addStretch(1)
        elif isinstance(item, tuple):
            row.addWidget(item[0], item[1])
        else:
            row.addWidget(item)
    return row
