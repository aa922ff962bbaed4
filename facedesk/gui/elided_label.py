"""A one-line label that shortens its text with "…" instead of widening its parent.

A plain QLabel asks for the width of its whole text: a long file name or status line
then widens the panel that holds it (the window's panels changed width with each
candidate) or is cut at the edge. `ElidedLabel` asks for little, draws as much of the text
as fits with "…" where it was shortened, and shows the whole text as its tooltip."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """`text()` is the whole text; what is painted is elided to the label's width."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 min_chars: int = 8) -> None:
        super().__init__(parent)
        self._mode = mode
        self._min_chars = min_chars
        self._own_tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self._update_tip()

    def set_tip(self, tip: str) -> None:
        """A tooltip of its own (shown under the whole text when elided)."""
        self._own_tip = tip
        self._update_tip()

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def _update_tip(self) -> None:
        parts = [p for p in (self.text(), self._own_tip) if p]
        self.setToolTip("\n".join(parts))

    def minimumSizeHint(self) -> QSize:
        fm = self.fontMetrics()
        width = fm.horizontalAdvance("x" * self._min_chars + "…")
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), fm.height() + m.top() + m.bottom())

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.horizontalAdvance(self.text()) + m.left() + m.right() + 2,
                     fm.height() + m.top() + m.bottom())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), self._mode, rect.width())
        group = QPalette.ColorGroup.Active if self.isEnabled() else \
            QPalette.ColorGroup.Disabled
        painter.setPen(self.palette().color(group, self.foregroundRole()))
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()
