"""Matplotlib figures in the window: a pane that shows one figure (or a sentence instead of
an empty plot), and the dark palette's recolouring of a figure drawn for a light page."""

from __future__ import annotations

from matplotlib.figure import Figure
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

# isort: split
# matplotlib's Qt backend takes the binding that is already imported: PySide6, just above
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

from facedesk.gui.styles import NOTE_STYLE


class FigurePane(QWidget):
    """A matplotlib figure on a Qt canvas; `set_figure` puts a new one in its place, or
    `set_message` a sentence instead of an empty plot."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.figure: Figure | None = None
        self.canvas: FigureCanvasQTAgg | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.message = QLabel()
        self.message.setObjectName(f"{name}Message")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(NOTE_STYLE)
        self._layout.addWidget(self.message)
        self.setMinimumSize(320, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_figure(self, fig: Figure, dark: bool = False) -> None:
        if dark:
            theme_dark(fig)
        canvas = FigureCanvasQTAgg(fig)
        canvas.setMinimumSize(240, 200)
        canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._drop_canvas()
        self.message.hide()
        self._layout.addWidget(canvas)
        self.canvas, self.figure = canvas, fig

    def set_message(self, text: str) -> None:
        self._drop_canvas()
        self.message.setText(text)
        self.message.show()

    def _drop_canvas(self) -> None:
        if self.canvas is not None:
            self._layout.removeWidget(self.canvas)
            self.canvas.hide()
            self.canvas.deleteLater()
        self.canvas, self.figure = None, None


#: the dark palette's window, text and grid colours (main_window.dark_palette)
DARK_FACE, DARK_TEXT, DARK_GRID = "#2d2d30", "#dcdcdc", "#5a5a5e"


def theme_dark(fig: Figure) -> None:
    """Recolour a figure drawn for a light page for the dark palette: background, axes,
    ticks, labels, titles and legends (the data colours stay)."""
    fig.set_facecolor(DARK_FACE)
    for text in fig.texts:
        text.set_color(DARK_TEXT)
    if fig._suptitle is not None:
        fig._suptitle.set_color(DARK_TEXT)
    for ax in fig.axes:
        ax.set_facecolor(DARK_FACE)
        for spine in ax.spines.values():
            spine.set_color(DARK_GRID)
        ax.tick_params(colors=DARK_TEXT, which="both")
        for label in (ax.xaxis.label, ax.yaxis.label, ax.title):
            label.set_color(DARK_TEXT)
        for line in ax.get_xgridlines() + ax.get_ygridlines():
            line.set_color(DARK_GRID)
        for text in ax.texts:
            if text.get_color() in ("black", "#000000", "k", (0, 0, 0, 1)):
                text.set_color(DARK_TEXT)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(DARK_FACE)
            legend.get_frame().set_edgecolor(DARK_GRID)
            for text in legend.get_texts():
                text.set_color(DARK_TEXT)
