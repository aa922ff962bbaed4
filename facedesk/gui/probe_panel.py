"""The probe region of the main window: the still with every face boxed and numbered, a
face picker, a hand-drawn box when detection fails, and the quality of the chosen face.

- `ProbeView` shows the image, draws the boxes, selects a face on click and lets the user
  drag a box in "draw a box" mode (reported in image pixels).
- `QualityPanel` lists the quality figures of one face with plain-language warnings.
- `ProbePanel` puts them together with the picker and the buttons; the window talks to
  it through `set_probe`, `set_face`, `set_busy` and its signals.

Faces are shown to the user as "Face 1", "Face 2", ... (`Face.index + 1`); a box drawn by
hand (a `Face` with index -1) is shown as "Drawn box".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QStyleOptionGraphicsItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from facedesk.app.search import Probe
from facedesk.domain.faces import Box, Face, largest_index
from facedesk.domain.quality import QualityCheck, check
from facedesk.gui.elided_label import ElidedLabel
from facedesk.gui.filter_bar import FilterBar
from facedesk.gui.images import rgb_to_qimage

EMPTY_PROBE_TEXT = "Drop a still here, or use File > Open probe… (Ctrl+O), or paste (Ctrl+V)"
NO_FACE_HINT = (
    "No face found. Draw a box around the face, or detect again with more upsampling."
)
QUALITY_EMPTY_TEXT = "Choose a face to see its quality figures."
QUALITY_OK_TEXT = "Quality is adequate for a search"
QUALITY_NOTE = (
    "Rules of thumb, not measured error rates: a face that passes them can still give "
    "poor candidates."
)

#: box colours: every face in light grey, the chosen one in cyan and thicker; each line
#: has a dark outline so it shows on bright and dark stills alike
BOX_COLOUR = QColor("#f2f2f2")
SELECTED_COLOUR = QColor("#00e5ff")
OUTLINE_COLOUR = QColor(0, 0, 0, 190)
BOX_WIDTH = 2.0
SELECTED_WIDTH = 4.0

OK_COLOUR = QColor("#2e9e4f")
WARNING_COLOUR = QColor("#e69f00")

#: zoom limits, relative to the image's own pixels (1.0 = one image pixel per screen pixel)
MAX_SCALE = 40.0
#: above this scale pixels are shown as blocks rather than smoothed: what the still holds
SMOOTH_BELOW_SCALE = 2.0
#: a press and release closer than this (screen pixels) is a click, not a drawn box
MIN_DRAG_PX = 3


def face_label(face: Face) -> str:
    """How a face is named to the user: "Face 1", "Face 2", ... or "Drawn box"."""
    return "Drawn box" if face.index < 0 else f"Face {face.index + 1}"


def face_tag(face: Face) -> str:
    """The short tag drawn on the image next to the box."""
    return "Drawn" if face.index < 0 else str(face.index + 1)


# --- the image with its boxes ------------------------------------------------------------


class _TagItem(QGraphicsItem):
    """A face number drawn at a fixed screen size next to its box."""

    PAD_X = 5.0
    PAD_Y = 2.0

    def __init__(self, text: str, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.text = text
        self.selected = False
        self.below = False  # drawn under the box (no room above it)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self._font = QFont()
        self._font.setBold(True)
        self._font.setPointSizeF(max(8.0, self._font.pointSizeF()))
        fm = QFontMetricsF(self._font)
        self._w = fm.horizontalAdvance(text) + 2 * self.PAD_X
        self._h = fm.height() + 2 * self.PAD_Y

    def tag_height(self) -> float:
        return self._h

    def _rect(self) -> QRectF:
        return QRectF(0.0, 0.0 if self.below else -self._h, self._w, self._h)

    def boundingRect(self) -> QRectF:
        return self._rect().adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        rect = self._rect()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(OUTLINE_COLOUR, 1.0))
        painter.setBrush(SELECTED_COLOUR if self.selected else QColor(30, 30, 30, 215))
        painter.drawRoundedRect(rect, 3.0, 3.0)
        painter.setFont(self._font)
        painter.setPen(QColor("black") if self.selected else QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text)


class FaceBoxItem(QGraphicsItem):
    """One face box in scene (= image pixel) coordinates, with its number tag."""

    def __init__(self, face: Face, position: int) -> None:
        super().__init__()
        self.face = face
        self.position = position  # index in the view's face list
        b = face.box
        self.rect = QRectF(float(b.left), float(b.top), float(b.width), float(b.height))
        self.selected = False
        self.tag = _TagItem(face_tag(face), self)
        self.tag.setPos(self.rect.topLeft())
        self.setToolTip(f"{face_label(face)}: click to choose this face")
        self.setZValue(1.0)

    @property
    def label(self) -> str:
        return self.tag.text

    def pen_width(self) -> float:
        return SELECTED_WIDTH if self.selected else BOX_WIDTH

    def colour(self) -> QColor:
        return SELECTED_COLOUR if self.selected else BOX_COLOUR

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self.tag.selected = selected
        self.setZValue(2.0 if selected else 1.0)
        self.update()
        self.tag.update()

    def place_tag(self, scale: float) -> None:
        """Put the tag above the box, or under it when the box is too close to the image
        top: never over the face itself (a small face would be hidden by its number)."""
        below = self.rect.top() * scale < self.tag.tag_height()
        if below != self.tag.below:
            self.tag.prepareGeometryChange()
            self.tag.below = below
        self.tag.setPos(self.rect.bottomLeft() if below else self.rect.topLeft())
        self.tag.update()

    def contains_image_point(self, p: QPointF) -> bool:
        r = self.rect
        return r.left() <= p.x() < r.right() and r.top() <= p.y() < r.bottom()

    def boundingRect(self) -> QRectF:
        # cosmetic pens are a few screen pixels wide whatever the zoom; the view repaints
        # in full (FullViewportUpdate), so a generous margin is enough
        m = max(2.0, 0.02 * max(self.rect.width(), self.rect.height()))
        return self.rect.adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        w = self.pen_width()
        style = Qt.PenStyle.DashLine if self.face.index < 0 else Qt.PenStyle.SolidLine
        outline = QPen(OUTLINE_COLOUR, w + 2.0)
        outline.setCosmetic(True)
        outline.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        line = QPen(self.colour(), w, style)
        line.setCosmetic(True)
        line.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(outline)
        painter.drawRect(self.rect)
        painter.setPen(line)
        painter.drawRect(self.rect)


class ProbeView(QGraphicsView):
    """The probe still, fitted to the view, with every face boxed and numbered.

    Scene coordinates are image pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1).
    """

    #: a Box in image pixels, dragged by the user in draw mode (clipped to the image)
    box_drawn = Signal(object)
    #: position (in the list given to `set_faces`) of the face the user clicked
    face_clicked = Signal(int)
    #: draw mode switched on or off (also when the view leaves it by itself, e.g. Esc)
    draw_mode_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probeView")
        self.setAccessibleName("Probe image")
        self.setAccessibleDescription(
            "The probe still with each face boxed and numbered; click a box to choose it")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._image_w = 0
        self._image_h = 0
        self._faces: list[Face] = []
        self._items: list[FaceBoxItem] = []
        self._selected = -1
        self._draw_mode = False
        self._selection_enabled = True
        self._drag_origin: QPointF | None = None
        self._drag_origin_view: QPoint | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._user_zoomed = False

        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setBackgroundBrush(QBrush(QColor("#262626")))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 120)
        # drops (a new probe) are the window's business: let them pass to the parents
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)

    # -- content ----------------------------------------------------------------------

    def set_image(self, rgb: NDArray[np.uint8] | None) -> None:
        """Show a new still (or nothing); removes the boxes and fits it to the view."""
        self._clear_faces()
        self._cancel_drag()
        self._clear_pending()
        if self._pixmap_item is not None:
            self._scene.removeItem(self._pixmap_item)
            self._pixmap_item = None
        if rgb is None:
            self._image_w = self._image_h = 0
            self._scene.setSceneRect(QRectF())
            self.resetTransform()
            return
        pixmap = QPixmap.fromImage(rgb_to_qimage(rgb))
        self._image_w, self._image_h = pixmap.width(), pixmap.height()
        self._pixmap_item = QGraphicsPixmapItem(pixmap)
        self._pixmap_item.setZValue(0.0)
        self._pixmap_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._scene.addItem(self._pixmap_item)
        self._scene.setSceneRect(QRectF(0, 0, self._image_w, self._image_h))
        self.fit()

    def has_image(self) -> bool:
        return self._pixmap_item is not None

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the shown still in pixels; (0, 0) when empty."""
        return self._image_w, self._image_h

    def set_faces(self, faces: Sequence[Face], selected: int = -1) -> None:
        """Box every face; `selected` is a position in `faces` (-1 = none)."""
        self._clear_faces()
        self._clear_pending()
        self._faces = list(faces)
        for pos, face in enumerate(self._faces):
            item = FaceBoxItem(face, pos)
            self._scene.addItem(item)
            self._items.append(item)
        self._place_tags()
        self.set_selected(selected)

    def faces(self) -> list[Face]:
        return list(self._faces)

    def box_items(self) -> list[FaceBoxItem]:
        return list(self._items)

    def set_selected(self, position: int) -> None:
        self._selected = position if 0 <= position < len(self._items) else -1
        for item in self._items:
            item.set_selected(item.position == self._selected)
        self.viewport().update()

    def selected_position(self) -> int:
        return self._selected

    def face_at(self, scene_point: QPointF) -> int:
        """Position of the face whose box holds the point (the smallest if nested), or -1."""
        hits = [it for it in self._items if it.contains_image_point(scene_point)]
        if not hits:
            return -1
        return min(hits, key=lambda it: it.rect.width() * it.rect.height()).position

    def set_selection_enabled(self, enabled: bool) -> None:
        """Clicking a box selects it only when enabled (off while the engine works)."""
        self._selection_enabled = enabled

    def _clear_faces(self) -> None:
        for item in self._items:
            self._scene.removeItem(item)
        self._items = []
        self._faces = []
        self._selected = -1

    # -- draw mode --------------------------------------------------------------------

    def set_draw_mode(self, on: bool) -> None:
        """In draw mode a left-button drag draws a box (emitted as `box_drawn`)."""
        if on == self._draw_mode:
            return
        self._draw_mode = on
        self._cancel_drag()
        if on:
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            self.viewport().unsetCursor()
        self.draw_mode_changed.emit(on)

    def draw_mode(self) -> bool:
        return self._draw_mode

    def pending_box(self) -> QRectF | None:
        """The last drawn rectangle still waiting for the engine (scene coordinates)."""
        return self._rubber.rect() if self._rubber is not None else None

    def _image_rect(self) -> QRectF:
        return QRectF(0, 0, self._image_w, self._image_h)

    def _clipped(self, a: QPointF, b: QPointF) -> QRectF:
        return QRectF(a, b).normalized().intersected(self._image_rect())

    def _rubber_pen(self) -> QPen:
        pen = QPen(SELECTED_COLOUR, 2.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        return pen

    def _cancel_drag(self) -> None:
        if self._drag_origin is not None:
            self._clear_pending()
        self._drag_origin = None
        self._drag_origin_view = None

    def _clear_pending(self) -> None:
        if self._rubber is not None:
            self._scene.removeItem(self._rubber)
            self._rubber = None

    # -- zoom -------------------------------------------------------------------------

    def fit(self) -> None:
        """Fit the whole still into the view (and follow resizes again)."""
        self._user_zoomed = False
        if self._pixmap_item is not None:
            self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def is_fitted(self) -> bool:
        return not self._user_zoomed

    def current_scale(self) -> float:
        """Screen pixels per image pixel."""
        return float(self.transform().m11())

    def zoom_by(self, factor: float, under_mouse: bool = False) -> None:
        """Zoom about the view's centre (or the point under the mouse: the wheel)."""
        if self._pixmap_item is None or factor <= 0:
            return
        scale = self.current_scale()
        fit_scale = self._fit_scale()
        lo = min(fit_scale * 0.5, 1.0)
        new = max(lo, min(MAX_SCALE, scale * factor))
        if abs(new - scale) < 1e-9:
            return
        self.setTransformationAnchor(
            QGraphicsView.ViewportAnchor.AnchorUnderMouse if under_mouse
            else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.scale(new / scale, new / scale)
        self._user_zoomed = True
        self._after_zoom()

    def _fit_scale(self) -> float:
        if not self._image_w or not self._image_h:
            return 1.0
        vp = self.viewport().rect()
        return min(max(1, vp.width() - 4) / self._image_w,
                   max(1, vp.height() - 4) / self._image_h)

    def _after_zoom(self) -> None:
        if self._pixmap_item is not None:
            smooth = self.current_scale() < SMOOTH_BELOW_SCALE
            self._pixmap_item.setTransformationMode(
                Qt.TransformationMode.SmoothTransformation if smooth
                else Qt.TransformationMode.FastTransformation)
        self._place_tags()

    def _place_tags(self) -> None:
        scale = self.current_scale()
        for item in self._items:
            item.place_tag(scale)

    # -- events -----------------------------------------------------------------------

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps == 0 or self._pixmap_item is None:
            event.ignore()
            return
        self.zoom_by(1.25 ** steps, under_mouse=True)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._user_zoomed:
            self.fit()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._user_zoomed:
            self.fit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._pixmap_item is not None:
            view_pt = event.position().toPoint()
            scene_pt = self.mapToScene(view_pt)
            if self._draw_mode:
                self._clear_pending()
                self._drag_origin = scene_pt
                self._drag_origin_view = view_pt
                self._rubber = QGraphicsRectItem(self._clipped(scene_pt, scene_pt))
                self._rubber.setPen(self._rubber_pen())
                self._rubber.setZValue(3.0)
                self._scene.addItem(self._rubber)
                event.accept()
                return
            if self._selection_enabled:
                pos = self.face_at(scene_pt)
                if pos >= 0:
                    self.set_selected(pos)
                    self.face_clicked.emit(pos)
                    event.accept()
                    return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_origin is not None and self._rubber is not None:
            scene_pt = self.mapToScene(event.position().toPoint())
            self._rubber.setRect(self._clipped(self._drag_origin, scene_pt))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if (self._drag_origin is not None and self._drag_origin_view is not None
                and event.button() == Qt.MouseButton.LeftButton):
            view_pt = event.position().toPoint()
            moved = (view_pt - self._drag_origin_view).manhattanLength()
            rect = self._clipped(self._drag_origin, self.mapToScene(view_pt))
            self._drag_origin = None
            self._drag_origin_view = None
            event.accept()
            box = Box(top=round(rect.top()), right=round(rect.right()),
                      bottom=round(rect.bottom()), left=round(rect.left()))
            if moved < MIN_DRAG_PX or box.width < 1 or box.height < 1:
                self._clear_pending()  # a click, or a box wholly outside the image
                return
            if self._rubber is not None:
                self._rubber.setRect(QRectF(box.left, box.top, box.width, box.height))
            self.box_drawn.emit(box)
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if not self._draw_mode and event.button() == Qt.MouseButton.LeftButton:
            scene_pt = self.mapToScene(event.position().toPoint())
            if self.face_at(scene_pt) < 0:
                self.fit()
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self._draw_mode:
            self.set_draw_mode(False)
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(1.25)
        elif event.key() == Qt.Key.Key_Minus:
            self.zoom_by(0.8)
        elif event.key() == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()


# --- quality ------------------------------------------------------------------------------


def _status_pixmap(ok: bool, size: int = 16, ratio: float = 1.0) -> QPixmap:
    """A green disc with a tick for ok, an amber triangle with '!' for a warning: the
    shapes differ as well as the colours."""
    px = QPixmap(round(size * ratio), round(size * ratio))
    px.setDevicePixelRatio(ratio)
    px.fill(Qt.GlobalColor.transparent)
    p = QPainter(px)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    s = float(size)
    if ok:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(OK_COLOUR)
        p.drawEllipse(QRectF(1, 1, s - 2, s - 2))
        pen = QPen(QColor("white"), 2.0)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        tick = QPainterPath(QPointF(s * 0.28, s * 0.52))
        tick.lineTo(QPointF(s * 0.44, s * 0.68))
        tick.lineTo(QPointF(s * 0.73, s * 0.34))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(tick)
    else:
        p.setPen(QPen(QColor("#7a5400"), 1.0))
        p.setBrush(WARNING_COLOUR)
        p.drawPolygon(QPolygonF([QPointF(s / 2, 1.0), QPointF(s - 1.0, s - 1.5),
                                 QPointF(1.0, s - 1.5)]))
        p.setPen(QPen(QColor("black"), 2.0))
        p.drawLine(QPointF(s / 2, s * 0.36), QPointF(s / 2, s * 0.66))
        p.drawPoint(QPointF(s / 2, s * 0.80))
    p.end()
    return px


class _CheckRow(QFrame):
    """One quality figure: icon, label, value and, when not ok, the warning under it."""

    def __init__(self, c: QualityCheck, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = c
        self.setObjectName(f"qualityRow_{c.figure}")
        if not c.ok:
            self.setStyleSheet(
                f"#qualityRow_{c.figure} {{ background: rgba(230, 159, 0, 40);"
                f" border-left: 3px solid {WARNING_COLOUR.name()}; }}")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 3, 6, 3)
        outer.setSpacing(2)
        line = QHBoxLayout()
        line.setSpacing(6)
        self.icon = QLabel()
        self.icon.setObjectName(f"qualityIcon_{c.figure}")
        self.icon.setPixmap(_status_pixmap(c.ok, ratio=self.devicePixelRatioF()))
        self.icon.setFixedSize(QSize(16, 16))
        self.icon.setAccessibleName("OK" if c.ok else "Warning")
        self.icon.setToolTip("Within the advised range" if c.ok else "Warning")
        self.name = QLabel(c.label)
        self.value = QLabel(c.display)
        self.value.setObjectName(f"qualityValue_{c.figure}")
        font = self.value.font()
        font.setBold(True)
        self.value.setFont(font)
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        line.addWidget(self.icon)
        line.addWidget(self.name, 1)
        line.addWidget(self.value)
        outer.addLayout(line)
        self.warning: QLabel | None = None
        if not c.ok:
            self.warning = QLabel(c.warning)
            self.warning.setObjectName(f"qualityWarning_{c.figure}")
            self.warning.setWordWrap(True)
            self.warning.setContentsMargins(22, 0, 0, 0)
            self.warning.setTextInteractionFlags(
                Qt.TextInteractionFlag.TextSelectableByMouse)
            outer.addWidget(self.warning)
        self.setAccessibleName(
            f"{c.label}: {c.display}" + ("" if c.ok else f". Warning: {c.warning}"))


class QualityPanel(QWidget):
    """The quality figures of one face, each with a plain-language warning when it is
    outside the advised range, and an overall line; for a tilted face, or one whose
    landmarks do not fit it, an offer to turn the probe upright."""

    #: degrees (counter-clockwise, as imaging.rotated) that make the face upright
    rotate_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("qualityPanel")
        self.setAccessibleName("Probe quality")
        self._face: Face | None = None
        self._checks: list[QualityCheck] = []
        self._rows: list[_CheckRow] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.title = QLabel("Quality")
        self.title.setObjectName("qualityTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        layout.addWidget(self.title)

        self.empty_label = QLabel(QUALITY_EMPTY_TEXT)
        self.empty_label.setObjectName("qualityEmpty")
        self.empty_label.setWordWrap(True)
        self.empty_label.setEnabled(False)  # greyed, like any placeholder
        layout.addWidget(self.empty_label)

        summary_row = QHBoxLayout()
        summary_row.setSpacing(6)
        self.summary_icon = QLabel()
        self.summary_icon.setFixedSize(QSize(16, 16))
        self.summary = QLabel()
        self.summary.setObjectName("qualitySummary")
        self.summary.setWordWrap(True)
        sfont = self.summary.font()
        sfont.setBold(True)
        self.summary.setFont(sfont)
        summary_row.addWidget(self.summary_icon, 0, Qt.AlignmentFlag.AlignTop)
        summary_row.addWidget(self.summary, 1)
        self._summary_box = QWidget()
        self._summary_box.setLayout(summary_row)
        summary_row.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._summary_box)

        self.rotate_button = QPushButton()
        self.rotate_button.setObjectName("rotateUprightButton")
        self.rotate_button.setToolTip(
            "Search a copy of the probe turned so that this face is upright; the turn is "
            "recorded with the search as an adjustment of the probe")
        self.rotate_button.clicked.connect(self._on_rotate)
        layout.addWidget(self.rotate_button, 0, Qt.AlignmentFlag.AlignLeft)

        self.rows_box = QWidget()
        self.rows_layout = QVBoxLayout(self.rows_box)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.rows_layout.setSpacing(2)
        layout.addWidget(self.rows_box)

        self.note = QLabel(QUALITY_NOTE)
        self.note.setObjectName("qualityNote")
        self.note.setWordWrap(True)
        nfont = self.note.font()
        nfont.setPointSizeF(max(7.0, nfont.pointSizeF() - 1.0))
        self.note.setFont(nfont)
        self.note.setEnabled(False)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.set_face(None)

    def set_face(self, face: Face | None) -> None:
        self._face = face
        for row in self._rows:
            self.rows_layout.removeWidget(row)
            row.hide()
            row.setParent(None)
            row.deleteLater()
        self._rows = []
        upright = None if face is None else face.quality.upright_deg
        self.rotate_button.setVisible(upright is not None)
        if upright is not None:
            way = "anticlockwise" if upright > 0 else "clockwise"
            # short: wider than the panel, it widened the panel's content past its edge
            self.rotate_button.setText(f"Turn upright ({abs(upright):.0f}° {way})")
        if face is None:
            self._checks = []
            self.title.setText("Quality")
            self.empty_label.show()
            self._summary_box.hide()
            self.rows_box.hide()
            self.note.hide()
            return
        self._checks = check(face.quality)
        self.title.setText(f"Quality: {face_label(face)}")
        for c in self._checks:
            row = _CheckRow(c)
            self.rows_layout.addWidget(row)
            self._rows.append(row)
        n = self.warning_count()
        self.summary.setText(self.summary_text())
        self.summary_icon.setPixmap(_status_pixmap(n == 0, ratio=self.devicePixelRatioF()))
        self.summary_icon.setAccessibleName("OK" if n == 0 else "Warning")
        self.empty_label.hide()
        self._summary_box.show()
        self.rows_box.show()
        self.note.show()

    def face(self) -> Face | None:
        return self._face

    def _on_rotate(self) -> None:
        if self._face is not None and self._face.quality.upright_deg is not None:
            self.rotate_requested.emit(float(self._face.quality.upright_deg))

    def checks(self) -> list[QualityCheck]:
        return list(self._checks)

    def warning_count(self) -> int:
        return sum(1 for c in self._checks if not c.ok)

    def summary_text(self) -> str:
        if self._face is None:
            return QUALITY_EMPTY_TEXT
        n = self.warning_count()
        if n == 0:
            return QUALITY_OK_TEXT
        failed = {c.figure for c in self._checks if not c.ok}
        if "landmark_fit" in failed:
            return ("The landmarks do not fit this face: a search of it compares the wrong "
                    "thing" + (". Turn the probe upright first."
                               if self._face.quality.upright_deg is not None else "."))
        if "roll_deg" in failed:
            return "The face is tilted: turn the probe upright before searching"
        return f"{n} warning{'s' if n != 1 else ''}: results from this probe are less reliable"

    def warning_labels(self) -> list[QLabel]:
        return [row.warning for row in self._rows if row.warning is not None]


# --- the whole region ---------------------------------------------------------------------


class ProbePanel(QWidget):
    """The left region of the main window: the probe, its faces and their quality."""

    #: the chosen Face, or None when the probe (or its absence) leaves nothing to choose
    face_selected = Signal(object)
    #: a Box in image pixels drawn by hand; the window asks the engine to describe it
    box_drawn = Signal(object)
    #: detect faces again with this upsampling (1..4)
    redetect_requested = Signal(int)
    #: the "Open probe…" button of the empty state
    open_requested = Signal()
    #: turn the probe by these degrees (counter-clockwise) so the chosen face is upright
    rotate_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probePanel")
        self._probe: Probe | None = None
        self._faces: list[Face] = []
        self._current: Face | None = None
        self._busy = False
        self._last_upsample = 1

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        # title and file
        head = QHBoxLayout()
        self.title = QLabel("Probe")
        self.title.setObjectName("probeTitle")
        tfont = self.title.font()
        tfont.setBold(True)
        tfont.setPointSizeF(tfont.pointSizeF() + 2.0)
        self.title.setFont(tfont)
        # elided in the middle ("…Ashcroft_0001.jpg" lost the name's start when clipped)
        self.file_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.file_label.setObjectName("probeFileLabel")
        self.file_label.setEnabled(False)
        self.file_label.setAlignment(Qt.AlignmentFlag.AlignRight
                                     | Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.title)
        head.addWidget(self.file_label, 1)
        layout.addLayout(head)

        # the still, or the empty state
        self.stack = QStackedWidget()
        self.empty = QWidget()
        self.empty.setObjectName("probeEmptyState")
        empty_layout = QVBoxLayout(self.empty)
        empty_layout.addStretch(1)
        self.empty_label = QLabel(EMPTY_PROBE_TEXT)
        self.empty_label.setObjectName("probeEmptyText")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_layout.addWidget(self.empty_label)
        self.open_button = QPushButton("Open probe…")
        self.open_button.setObjectName("openProbeButton")
        self.open_button.clicked.connect(self.open_requested)
        empty_layout.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(1)
        self.empty.setStyleSheet(
            "#probeEmptyState { border: 2px dashed palette(mid); border-radius: 6px; }")
        self.view = ProbeView()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)
        layout.addWidget(self.stack, 3)

        self.hint = QLabel(NO_FACE_HINT)
        self.hint.setObjectName("noFaceHint")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(
            f"#noFaceHint {{ background: rgba(230, 159, 0, 40);"
            f" border-left: 3px solid {WARNING_COLOUR.name()}; padding: 4px; }}")
        self.hint.hide()
        layout.addWidget(self.hint)

        # face picker
        picker_row = QHBoxLayout()
        picker_label = QLabel("&Face:")
        self.picker = QComboBox()
        self.picker.setObjectName("faceList")
        self.picker.setAccessibleName("Face to search")
        picker_label.setBuddy(self.picker)
        self.fit_button = QToolButton()
        self.fit_button.setObjectName("fitButton")
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Fit the whole still in the view (0). "
                                   "Zoom with the mouse wheel or + and -.")
        self.fit_button.clicked.connect(self.view.fit)
        picker_row.addWidget(picker_label)
        picker_row.addWidget(self.picker, 1)
        picker_row.addWidget(self.fit_button)
        layout.addLayout(picker_row)

        # draw / detect again
        action_row = QHBoxLayout()
        self.draw_button = QPushButton("Draw a box")
        self.draw_button.setObjectName("drawBoxButton")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip(
            "Drag a rectangle around a face the detector missed (Esc to stop)")
        self.detect_button = QPushButton("Detect again")
        self.detect_button.setObjectName("detectAgainButton")
        self.detect_button.setToolTip("Look for faces again with the upsampling on the right")
        self.upsample_spin = QSpinBox()
        self.upsample_spin.setObjectName("upsampleSpin")
        self.upsample_spin.setRange(1, 4)
        self.upsample_spin.setValue(1)
        self.upsample_spin.setPrefix("×")
        self.upsample_spin.setAccessibleName("Upsampling")
        self.upsample_spin.setToolTip(
            "Upsampling for \"Detect again\": how many times the still is doubled in "
            "size before looking for faces: "
            "1 finds faces down to about 40 px, 2 down to about 20 px (CCTV stills), "
            "at about four times the cost per step.")
        action_row.addWidget(self.draw_button)
        action_row.addStretch(1)
        action_row.addWidget(self.detect_button)
        action_row.addWidget(self.upsample_spin)
        layout.addLayout(action_row)

        # the search filter (issue 18): what the next search is narrowed to
        self.filter_bar = FilterBar()
        layout.addWidget(self.filter_bar)

        # quality
        self.quality = QualityPanel()
        self.quality.rotate_requested.connect(self.rotate_requested)
        self.quality_scroll = QScrollArea()
        self.quality_scroll.setObjectName("qualityScroll")
        self.quality_scroll.setWidgetResizable(True)
        self.quality_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.quality_scroll.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.quality_scroll.setWidget(self.quality)
        self.quality_scroll.setMinimumHeight(120)
        layout.addWidget(self.quality_scroll, 2)

        self.picker.currentIndexChanged.connect(self._on_picker_changed)
        self.view.face_clicked.connect(self._on_face_clicked)
        self.view.box_drawn.connect(self._on_box_drawn)
        self.view.draw_mode_changed.connect(self._on_draw_mode_changed)
        self.draw_button.toggled.connect(self.view.set_draw_mode)
        self.detect_button.clicked.connect(self._on_detect_again)

        self.set_probe(None)

    # -- API --------------------------------------------------------------------------

    def set_probe(self, probe: Probe | None) -> None:
        """Show a probe (or the empty state). Selects the largest face, emitting
        `face_selected`; with no face, shows the hint and suggests more upsampling."""
        previous = self._probe
        had_face = self._current is not None
        self._probe = probe
        self.view.set_draw_mode(False)
        if probe is None:
            self._faces = []
            self.view.set_image(None)
            self.stack.setCurrentWidget(self.empty)
            self.file_label.setText("")
            self.file_label.setToolTip("")
            self._fill_picker(-1)
            self.hint.hide()
            self._update_enabled()
            if had_face:
                self.face_selected.emit(None)
            return
        if previous is None or previous.path != probe.path:
            self._last_upsample = 1
            self.upsample_spin.setValue(1)
        self.stack.setCurrentWidget(self.view)
        name = Path(probe.path).name
        self.file_label.setText(f"{name} · {probe.image.width} × {probe.image.height}")
        self.file_label.setToolTip(probe.path)
        self.view.set_image(probe.image.rgb)
        self._faces = list(probe.faces)
        selected = largest_index([f.box for f in self._faces]) if self._faces else -1
        self.view.set_faces(self._faces, selected)
        self._fill_picker(selected)
        if not self._faces:
            self.hint.show()
            self.upsample_spin.setValue(
                min(4, max(self.upsample_spin.value(), self._last_upsample + 1)))
        else:
            self.hint.hide()
        self._update_enabled()
        if self._faces or had_face:
            self.face_selected.emit(self._current)

    def probe(self) -> Probe | None:
        return self._probe

    def set_face(self, face: Face) -> None:
        """Add a face described by the engine (a hand-drawn box has index -1, shown as
        "Drawn box"; a new drawn box replaces the previous one) and select it."""
        if face.index < 0:
            self._faces = [f for f in self._faces if f.index >= 0]
            self._faces.append(face)
            pos = len(self._faces) - 1
        else:
            same = [i for i, f in enumerate(self._faces) if f.index == face.index]
            if same:
                pos = same[0]
                self._faces[pos] = face
            else:
                self._faces.append(face)
                pos = len(self._faces) - 1
        self.view.set_faces(self._faces, pos)
        self._fill_picker(pos)
        self.hint.hide()
        self._update_enabled()
        self.face_selected.emit(self._current)

    def selected_face(self) -> Face | None:
        return self._current

    def faces(self) -> list[Face]:
        """The faces offered in the picker, in its order."""
        return list(self._faces)

    def select_position(self, position: int) -> None:
        """Choose the face at `position` in the picker (as a click on its box does)."""
        if 0 <= position < len(self._faces):
            self.picker.setCurrentIndex(position)

    def set_busy(self, busy: bool) -> None:
        """While the engine works nothing that would start more work can be used."""
        self._busy = busy
        if busy:
            self.view.set_draw_mode(False)
        self._update_enabled()

    def is_busy(self) -> bool:
        return self._busy

    # -- internals --------------------------------------------------------------------

    def _fill_picker(self, selected: int) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        for face in self._faces:
            self.picker.addItem(f"{face_label(face)} ({face.quality.size_px} px)")
        if not self._faces:
            self.picker.addItem("No face" if self._probe is not None else "No probe")
        self.picker.setCurrentIndex(max(0, selected))
        self.picker.blockSignals(False)
        self._current = self._faces[selected] if 0 <= selected < len(self._faces) else None
        self.quality.set_face(self._current)

    def _on_picker_changed(self, position: int) -> None:
        if not 0 <= position < len(self._faces):
            return
        self._current = self._faces[position]
        self.view.set_selected(position)
        self.quality.set_face(self._current)
        self.face_selected.emit(self._current)

    def _on_face_clicked(self, position: int) -> None:
        self.picker.setCurrentIndex(position)

    def _on_box_drawn(self, box: Box) -> None:
        self.draw_button.setChecked(False)
        self.box_drawn.emit(box)

    def _on_draw_mode_changed(self, on: bool) -> None:
        if self.draw_button.isChecked() != on:
            self.draw_button.blockSignals(True)
            self.draw_button.setChecked(on)
            self.draw_button.blockSignals(False)

    def _on_detect_again(self) -> None:
        self._last_upsample = self.upsample_spin.value()
        self.redetect_requested.emit(self._last_upsample)

    def _update_enabled(self) -> None:
        has_probe = self._probe is not None
        free = not self._busy
        self.draw_button.setEnabled(has_probe and free)
        self.detect_button.setEnabled(has_probe and free)
        self.upsample_spin.setEnabled(has_probe and free)
        self.picker.setEnabled(bool(self._faces) and free)
        self.open_button.setEnabled(free)
        self.fit_button.setEnabled(has_probe)
        self.view.set_selection_enabled(free)
