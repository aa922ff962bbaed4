"""Small widget factories shared by the dialogs: wrapped text, a hint, an inline error line."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from facedesk.gui.styles import ERROR_STYLE, HINT_STYLE


def wrapped(text: str = "", name: str = "") -> QLabel:
    """A label whose text wraps; named `name` when given."""
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def hint(text: str) -> QLabel:
    """A grey line that explains the field above it."""
    label = QLabel(text)
    label.setStyleSheet(HINT_STYLE)
    return label


def error_label(name: str, style: str = ERROR_STYLE, *, selectable: bool = False) -> QLabel:
    """A hidden, wrapping error line; `show_error` shows it with a message."""
    label = wrapped(name=name)
    label.setStyleSheet(style)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def show_error(label: QLabel, message: str) -> None:
    """Show `message` in an error line; an empty message hides it."""
    label.setText(message)
    label.setVisible(bool(message))
