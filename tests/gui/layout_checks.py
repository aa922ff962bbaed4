"""Is anything cut? Measured from the widgets' own geometry, on real widgets.

`cut_widgets(root)` lists every visible widget under `root` that the user cannot see or
use whole: squeezed below its minimum size, reaching outside the window (or outside the
scroll area or splitter pane that holds it, unless that one scrolls), a one-line label or
a button whose text does not fit, a table that needs sideways scrolling. An empty list
means nothing is cut."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenuBar,
    QRadioButton,
    QScrollBar,
    QSizePolicy,
    QTableView,
    QToolBar,
    QWidget,
)

#: pixels of slack: style metrics differ by a pixel or two between platforms
SLACK = 2


def _in_scrolling_viewport(w: QWidget, root: QWidget) -> bool:
    """Inside a scroll area's viewport (whose content may be larger: it scrolls)."""
    p = w.parentWidget()
    while p is not None and p is not root:
        if isinstance(p, QAbstractScrollArea):
            return True
        p = p.parentWidget()
    return False


def _least_size(w: QWidget) -> QSize:
    """The size a layout may squeeze `w` to (Qt's qSmartMinSize): per dimension its
    minimum size when one is set, else its minimum size hint (none when ignored)."""
    hint, least, policy = w.minimumSizeHint(), w.minimumSize(), w.sizePolicy()
    width = least.width() or (0 if policy.horizontalPolicy() == QSizePolicy.Policy.Ignored
                              else hint.width())
    height = least.height() or (0 if policy.verticalPolicy() == QSizePolicy.Policy.Ignored
                                else hint.height())
    return QSize(width, height)


def _visible_rect(w: QWidget, root: QWidget) -> QRect:
    top_left = w.mapTo(root, w.rect().topLeft())
    return QRect(top_left, w.size())


def _text_fits(w: QWidget) -> str | None:
    if isinstance(w, QLabel) and w.text() and not w.wordWrap() and w.pixmap().isNull():
        if w.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored \
                or hasattr(w, "is_elided"):
            return None  # elides on purpose (full text in its tooltip)
        if "<" in w.text() or w.textFormat() == Qt.TextFormat.RichText:
            need = w.minimumSizeHint().width()
        else:
            text = w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
            lines = text.splitlines() or [""]
            need = max(w.fontMetrics().horizontalAdvance(line) for line in lines)
        have = w.contentsRect().width() - 2 * w.margin() - w.indent() * 0
        if need > have + SLACK:
            return f"text needs {need} px, has {have}"
    if isinstance(w, QAbstractButton) and w.text() and not isinstance(w.parentWidget(), QToolBar):
        # the text and its icon, with a little room for the frame (a style's least button
        # width, e.g. 80 px, is a wish, not a need)
        text = w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
        need = w.fontMetrics().horizontalAdvance(text) + 10
        if not w.icon().isNull():
            need += w.iconSize().width() + 4
        if isinstance(w, (QCheckBox, QRadioButton)):
            need = w.minimumSizeHint().width()  # the indicator, its spacing, the text
        if need > w.width() + SLACK:
            return f"button needs {need} px, has {w.width()}"
    return None


def _table_cut(t: QTableView) -> str | None:
    shown = sum(t.columnWidth(c) for c in range(t.model().columnCount())
                if not t.isColumnHidden(c)) if t.model() is not None else 0
    if shown > t.viewport().width() + SLACK:
        return f"needs sideways scrolling ({shown - t.viewport().width()} px more)"
    model = t.model()
    if model is None:
        return None
    for col in range(model.columnCount()):
        if t.isColumnHidden(col):
            continue
        need = max(t.sizeHintForColumn(col), t.horizontalHeader().sectionSizeHint(col))
        if t.columnWidth(col) + SLACK < need and not t.wordWrap():
            return f"column {col} needs {need} px, has {t.columnWidth(col)}"
    return None


def cut_widgets(root: QWidget, sideways: bool = True) -> list[str]:
    """Every visible widget under `root` that is cut, as 'objectName/Class: why'.
    `sideways`: also the tables of SIDEWAYS_CHECKED that need sideways scrolling."""
    problems: list[str] = []
    bounds = root.rect()
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) or not w.isVisible():
            continue
        if isinstance(w, (QScrollBar, QHeaderView, QMenuBar)) or (w.parentWidget() is None \
                and w is not root):
            continue
        parent = w.parentWidget()
        name = f"{w.objectName() or '-'}/{type(w).__name__}" + (
            "" if w.objectName() or parent is None else
            f" in {parent.objectName() or '-'}/{type(parent).__name__}"
            + (f" {w.text()!r}" if isinstance(w, (QLabel, QAbstractButton)) else ""))
        scrolled = _in_scrolling_viewport(w, root)
        minimum = _least_size(w)
        if not scrolled and w.sizePolicy().horizontalPolicy() != QSizePolicy.Policy.Ignored \
                and (w.width() + SLACK < minimum.width()
                     or w.height() + SLACK < minimum.height()) \
                and not isinstance(w, (QComboBox, QLineEdit, QAbstractSpinBox,
                                       QAbstractButton)):
            problems.append(f"{name}: {w.width()}x{w.height()} below its minimum "
                            f"{minimum.width()}x{minimum.height()}")
            continue
        if not scrolled and w is not root:
            r = _visible_rect(w, root)
            if not bounds.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(r):
                problems.append(f"{name}: {r.getRect()} reaches outside the window "
                                f"{bounds.getRect()}")
                continue
        if not scrolled:
            why = _text_fits(w)
            if why:
                problems.append(f"{name}: {why}")
        if sideways and isinstance(w, QTableView) and w.objectName() in SIDEWAYS_CHECKED:
            why = _table_cut(w)
            if why:
                problems.append(f"{name}: {why}")
    return problems


#: tables that must show all their columns without sideways scrolling
SIDEWAYS_CHECKED = {"candidateList"}


def fits_screen(window: QWidget, width: int, height: int) -> list[str]:
    """The window fits a screen of width x height: its minimum size does, and once resized
    to it, nothing inside is cut."""
    problems = []
    minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
    if minimum.width() > width or minimum.height() > height:
        problems.append(f"minimum size {minimum.width()}x{minimum.height()} exceeds the "
                        f"{width}x{height} screen")
    window.resize(width, height)
    if window.width() > width or window.height() > height:
        problems.append(f"resized to {width}x{height}, it is "
                        f"{window.width()}x{window.height()}")
    return problems


def status_message_cut(window: QMainWindow) -> str | None:
    """The status bar's message is drawn left of its permanent widgets: does it fit?"""
    bar = window.statusBar()
    message = bar.currentMessage()
    if not message:
        return None
    right = min((w.geometry().left() for w in bar.findChildren(QWidget)
                 if w.isVisible() and w.parentWidget() is bar and w.width() > 0),
                default=bar.width())
    need = bar.fontMetrics().horizontalAdvance(message) + 8
    return None if need <= right else f"{message!r} needs {need} px, has {right}"
