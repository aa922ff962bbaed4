"""Read-only tables of rows with a key: one row per record, selected and found by its key
(the UserRole data of every cell)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

KEY = Qt.ItemDataRole.UserRole
MAX_COLUMN = 320


def read_only_table(columns: Sequence[str], name: str, *,
                    rows_selectable: bool = True) -> QTableWidget:
    """A table named `name` with these column headers, no row numbers, not editable; one
    whole row selectable at a time, or none."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    if rows_selectable:
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    else:
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    return table


def make_table(columns: Sequence[str], name: str) -> QTableWidget:
    """A table of records (see `fill_table`) whose last column takes the room left."""
    table = read_only_table(columns, name)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
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
                item.setData(KEY, key)
                if len(value) > 30:
                    item.setToolTip(value)
                table.setItem(r, c, item)
        for c in range(table.columnCount() - 1):  # the last one stretches
            table.resizeColumnToContents(c)
            if table.columnWidth(c) > MAX_COLUMN:
                table.setColumnWidth(c, MAX_COLUMN)


def selected_key(table: QTableWidget) -> Any:
    rows = table.selectionModel().selectedRows()
    if not rows:
        return None
    item = table.item(rows[0].row(), 0)
    return None if item is None else item.data(KEY)


def select_key(table: QTableWidget, key: Any) -> int | None:
    """Select the row whose key is `key`; its index, or None."""
    for r in range(table.rowCount()):
        item = table.item(r, 0)
        if item is not None and item.data(KEY) == key:
            table.selectRow(r)
            table.scrollToItem(item)
            return r
    return None


def paint_row(table: QTableWidget, row: int, color: QColor) -> None:
    for c in range(table.columnCount()):
        item = table.item(row, c)
        if item is not None:
            item.setBackground(color)
