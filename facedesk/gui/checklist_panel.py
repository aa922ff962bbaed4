"""The FISWG feature-by-feature checklist beside the decision: one row per facial component
(facedesk.domain.fiswg), judged similar, dissimilar or not visible, with a note.

Keyboard first: in the table, S or 1 = similar, D or 2 = dissimilar, N or 3 = not visible,
Delete or 0 clears the row; the judgement moves to the next row, except a dissimilarity,
which opens the row's note at once (it needs one). Enter or F2 edits the note, Up/Down move.
With the mouse: double-click a judgement to cycle it, double-click a note to edit it.
The panel checks nothing itself: `fiswg.checklist_problem` says what is missing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facedesk.domain.fiswg import COMPONENTS, VALUES, Checklist, Feature

#: keys that judge the current row
KEYS: dict[int, str | None] = {
    Qt.Key.Key_S: "similar", Qt.Key.Key_1: "similar",
    Qt.Key.Key_D: "dissimilar", Qt.Key.Key_2: "dissimilar",
    Qt.Key.Key_N: "not_visible", Qt.Key.Key_3: "not_visible",
    Qt.Key.Key_Delete: None, Qt.Key.Key_Backspace: None, Qt.Key.Key_0: None,
}
HELP = ("Keys: S/1 similar · D/2 dissimilar, then its note · N/3 not visible · Del clears · "
        "Enter: note · ↑↓")
#: rows the table shows without scrolling (the decision row grows to them; more scroll)
VISIBLE_ROWS = 6
ROW_HEIGHT = 20
_COLOURS = {"similar": "#1e6b2a", "dissimilar": "#a01010", "not_visible": "#666666"}
VALUE_COLUMN, NOTE_COLUMN = 1, 2


class ChecklistTable(QTableWidget):
    """The rows; judges the current row from the keyboard (see module docstring)."""

    judged = Signal(int, object)  # row, value key or None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        row = self.currentRow()
        if key in KEYS and mods == Qt.KeyboardModifier.NoModifier and row >= 0 \
                and self.state() != QAbstractItemView.State.EditingState:
            self.judged.emit(row, KEYS[key])
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2) and row >= 0 \
                and self.state() != QAbstractItemView.State.EditingState:
            self.edit_note(row)
            return
        super().keyPressEvent(event)

    def edit_note(self, row: int) -> None:
        item = self.item(row, NOTE_COLUMN)
        if item is not None and item.flags() & Qt.ItemFlag.ItemIsEditable:
            self.setCurrentCell(row, NOTE_COLUMN)
            self.editItem(item)


class ChecklistPanel(QWidget):
    """One row per FISWG component; `checklist()` is what the analyst judged."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("checklistPanel")
        self._required = False
        self._read_only = False
        self._filling = False

        self.title = QLabel()
        self.title.setObjectName("checklistTitle")
        self.title.setWordWrap(True)
        self.table = ChecklistTable(len(COMPONENTS), 3, self)
        self.table.setObjectName("checklistTable")
        self.table.setHorizontalHeaderLabels(["Component", "Judgement", "Note"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.verticalHeader().setMinimumSectionSize(ROW_HEIGHT)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip(HELP)
        for row, (key, label) in enumerate(COMPONENTS.items()):
            name = QTableWidgetItem(label)
            name.setData(Qt.ItemDataRole.UserRole, key)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            value = QTableWidgetItem("")
            value.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            note = QTableWidgetItem("")
            self.table.setItem(row, 0, name)
            self.table.setItem(row, VALUE_COLUMN, value)
            self.table.setItem(row, NOTE_COLUMN, note)
        self.table.judged.connect(self._judge)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.setCurrentCell(0, 0)
        self.table.setMinimumWidth(190)  # the note column gives way on a small screen
        self.table.setMinimumHeight(
            self.table.horizontalHeader().sizeHint().height() + VISIBLE_ROWS * ROW_HEIGHT + 4)

        self.help = QLabel(HELP)
        self.help.setObjectName("checklistHelp")
        self.help.setWordWrap(True)
        self.help.setMinimumWidth(150)
        self.help.setStyleSheet("QLabel#checklistHelp { color: #555555; }")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.help)
        self._update_title()

    # -- API --------------------------------------------------------------------------------

    def checklist(self) -> Checklist:
        """What the table shows (components not judged are left out)."""
        out = []
        for row, key in enumerate(COMPONENTS):
            value = self._value(row)
            if value is not None:
                out.append(Feature(key, value, self._note(row)))
        return Checklist.of(out)

    def set_checklist(self, checklist: Checklist | None) -> None:
        """Show a checklist (None or empty: every row not judged)."""
        self._filling = True
        for row, key in enumerate(COMPONENTS):
            f = None if checklist is None else checklist.feature(key)
            self._set_row(row, None if f is None else f.value, "" if f is None else f.note)
        self._filling = False
        self._update_title()

    def clear(self) -> None:
        self.set_checklist(None)
        self.table.setCurrentCell(0, 0)

    def set_required(self, required: bool) -> None:
        """The administrator's setting: a possible lead needs every component judged."""
        self._required = required
        self._update_title()

    def set_read_only(self, read_only: bool, why: str = "") -> None:
        """A decided candidate's checklist, or nothing to decide: shown, not changed."""
        self._read_only = read_only
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.NoEditTriggers if read_only else
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.help.setText(why if read_only and why else HELP)
        self._update_title()

    def judge(self, component: str, value: str | None, note: str | None = None) -> None:
        """Judge one component as the keys do (tests, and the keys' own path)."""
        row = list(COMPONENTS).index(component)
        self._judge(row, value, advance=False)
        if note is not None:
            self.table.item(row, NOTE_COLUMN).setText(note)

    # -- internals --------------------------------------------------------------------------

    def _value(self, row: int) -> str | None:
        data = self.table.item(row, VALUE_COLUMN).data(Qt.ItemDataRole.UserRole)
        return str(data) if data else None

    def _note(self, row: int) -> str:
        return self.table.item(row, NOTE_COLUMN).text().strip()

    def _set_row(self, row: int, value: str | None, note: str) -> None:
        item = self.table.item(row, VALUE_COLUMN)
        item.setData(Qt.ItemDataRole.UserRole, value or "")
        item.setText("" if value is None else VALUES[value])
        item.setForeground(QColor(_COLOURS.get(value or "", "#000000")))
        self.table.item(row, NOTE_COLUMN).setText(note)

    def _judge(self, row: int, value: object, advance: bool = True) -> None:
        if self._read_only:
            return
        self._set_row(row, None if value is None else str(value), self._note(row))
        self._update_title()
        self.changed.emit()
        if value == "dissimilar" and advance:
            self.table.edit_note(row)  # a dissimilarity needs its note: type it now
        elif advance and value is not None and row + 1 < self.table.rowCount():
            self.table.setCurrentCell(row + 1, self.table.currentColumn())

    def _double_clicked(self, row: int, column: int) -> None:
        if column == VALUE_COLUMN and not self._read_only:
            order = [None, *VALUES]
            now = order.index(self._value(row))
            self._judge(row, order[(now + 1) % len(order)], advance=False)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == NOTE_COLUMN:
            self._update_title()
            self.changed.emit()

    def _update_title(self) -> None:
        c = self.checklist()
        need = " — required for a possible lead" if self._required else ""
        self.title.setText(f"<b>Feature-by-feature (FISWG)</b>: {len(c.features)} of "
                           f"{len(COMPONENTS)} judged{need}")
