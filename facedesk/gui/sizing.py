"""Windows and dialogs sized to the screen they open on."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: what a title bar and a task bar take from a screen's available height, at least
FRAME_ALLOWANCE_PX = 48


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Resize `widget` to width x height, or to what its screen leaves when that is less
    (a 1366 x 768 laptop, a 1024 x 700 screen), never below its least size."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        room = screen.availableGeometry()
        width = min(width, room.width() - 16)
        height = min(height, room.height() - FRAME_ALLOWANCE_PX)
    least = widget.minimumSizeHint().expandedTo(widget.minimumSize())
    widget.resize(max(width, least.width()), max(height, least.height()))
