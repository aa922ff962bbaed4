"""Small widget factories shared by the dialogs: wrapped text, a hint, an inline error line,
buttons, password fields, and rows and columns of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from facedesk.errors import FaceDeskError
from facedesk.gui.styles import ERROR_STYLE, HINT_STYLE
from facedesk.store.postgres import is_server_location


def start_folder(location: str | Path, last: Path | None = None) -> Path:
    """Where a save/open dialog about a gallery starts: the folder last used, else the
    gallery file's folder, else (a gallery on a server has none) the user's home."""
    if last is not None:
        return last
    return Path.home() if is_server_location(location) else Path(location).parent


def wrapped(text: str = "", name: str = "", *, selectable: bool = False) -> QLabel:
    """A label whose text wraps; named `name` when given; `selectable`: its text can be
    selected (and copied) with the mouse."""
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def hint(text: str) -> QLabel:
    """A grey line that explains the field above it."""
    label = QLabel(text)
    label.setStyleSheet(HINT_STYLE)
    return label


def error_label(name: str, style: str = ERROR_STYLE, *, selectable: bool = False) -> QLabel:
    """A hidden, wrapping error line; `show_error` shows it with a message."""
    label = wrapped(name=name, selectable=selectable)
    label.setStyleSheet(style)
    label.hide()
    return label


def show_error(label: QLabel, message: str) -> None:
    """Show `message` in an error line; an empty message hides it."""
    label.setText(message)
    label.setVisible(bool(message))


#: what a row or column holds: a widget, a layout, (a widget or layout, its stretch), or
#: None for a stretch
Item = QWidget | QLayout | tuple[QWidget | QLayout, int] | None


def _fill(layout: QBoxLayout, items: tuple[Item, ...]) -> None:
    for item in items:
        if item is None:
            layout.addStretch(1)
            continue
        thing, stretch = item if isinstance(item, tuple) else (item, 0)
        if isinstance(thing, QLayout):
            layout.addLayout(thing, stretch)
        else:
            layout.addWidget(thing, stretch)


def row(*items: Item) -> QHBoxLayout:
    """A row of widgets and layouts; None is a stretch."""
    layout = QHBoxLayout()
    _fill(layout, items)
    return layout


def column(parent: QWidget, *items: Item) -> QVBoxLayout:
    """`parent`'s layout: a column of widgets and layouts; None is a stretch."""
    layout = QVBoxLayout(parent)
    _fill(layout, items)
    return layout


def button(text: str, name: str, slot: Callable[[], object] | None = None, *,
           default: bool = False, tooltip: str = "") -> QPushButton:
    """A push button named `name` that calls `slot` when clicked."""
    b = QPushButton(text)
    if name:
        b.setObjectName(name)
    if default:
        b.setDefault(True)
    if tooltip:
        b.setToolTip(tooltip)
    if slot is not None:
        b.clicked.connect(lambda: slot())
    return b


def cancel_button(dialog: QDialog) -> QPushButton:
    """A Cancel button that rejects `dialog`."""
    return button("Cancel", "cancelButton", dialog.reject)


def password_edit(name: str, placeholder: str = "") -> QLineEdit:
    """A line edit that hides what is typed."""
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    if placeholder:
        edit.setPlaceholderText(placeholder)
    return edit


class Dialog(QDialog):
    """A dialog with its object name (what tests and style sheets find it by) and title."""

    def __init__(self, name: str, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        if title:
            self.setWindowTitle(title)


def select_data(combo: QComboBox, data: object) -> None:
    """Make the item whose data is `data` current; KeyError when there is none."""
    index = combo.findData(data)
    if index < 0:
        raise KeyError(data)
    combo.setCurrentIndex(index)


def accept_after(dialog: QDialog, error: QLabel, action: Callable[[], object]) -> bool:
    """Run `action` (a core call): when the core refuses, say why in `error` and keep the
    dialog open (and what was typed); else accept the dialog."""
    try:
        action()
    except FaceDeskError as exc:
        show_error(error, exc.message)
        return False
    show_error(error, "")
    dialog.accept()
    return True


def spin_box(name: str, low: int, high: int, suffix: str = "", *,
             tooltip: str = "") -> QSpinBox:
    """A whole-number field named `name` from `low` to `high`."""
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(low, high)
    if suffix:
        spin.setSuffix(suffix)
    if tooltip:
        spin.setToolTip(tooltip)
    return spin
