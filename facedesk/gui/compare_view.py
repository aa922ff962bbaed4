"""The COMPARE region of the analyst's screen: the probe face and one candidate face at the
same scale with the eyes at the same places, for feature-by-feature review.

Each face is shown whole, transformed by its eye alignment (`core.alignment`): the
similarity that puts its eye centres on fixed points of a CANVAS x CANVAS square. Scene
coordinates are therefore canvas coordinates in every pane, and the panes share one zoom
and one scroll position. A face without landmarks is placed by its box instead (less
exact; the pane says so).

Modes: side by side; blend (the candidate over the probe, with an opacity slider);
flicker (probe and candidate alternate every FLICKER_MS). "Open original..." shows the
whole photo with its box and every metadata field. A photo that moved or vanished since
import is reported in its pane, never a crash.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QHideEvent,
    QImage,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QShowEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from facedesk.domain import imaging
from facedesk.domain.alignment import CANVAS, LEFT_EYE, RIGHT_EYE, Similarity, between
from facedesk.domain.alignment import eye_alignment as _eye_alignment
from facedesk.domain.faces import Box, Point
from facedesk.errors import ImageError, ImageNotFound
from facedesk.gui.elided_label import ElidedLabel
from facedesk.gui.images import rgb_to_qimage, to_pixmap

#: what the panes can scroll over, in canvas (scene) coordinates: the canvas and as much
#: context again around it
SCENE_RECT = QRectF(-CANVAS / 2, -CANVAS / 2, 2 * CANVAS, 2 * CANVAS)
#: what "Fit" shows: the canvas square with a small margin
FIT_RECT = QRectF(-0.05 * CANVAS, -0.05 * CANVAS, 1.1 * CANVAS, 1.1 * CANVAS)
FLICKER_MS = 500
ZOOM_STEP = 1.25
MIN_SCALE = 0.05
MAX_SCALE = 40.0
MODES = ("side", "blend", "flicker")

PROBE_COLOUR = QColor("#00e5ff")
CANDIDATE_COLOUR = QColor("#ff9100")
BACKGROUND = QColor("#303030")
DOT_RADIUS = 2.2

# Where the eyes sit in a face box, as fractions of its width/height, for the fallback
# when a face has no landmarks (a hand-drawn box). Measured on dlib HOG boxes of LFW
# faces; good to about a tenth of the eye distance, which is why the pane says so.
BOX_EYE_X = (0.32, 0.72)
BOX_EYE_Y = 0.32


# --- geometry (no widgets) ----------------------------------------------------------------


def box_alignment(box: Box) -> Similarity:
    """Place a face without landmarks by its box: the box's typical eye positions go to the
    canvas eye points (no rotation)."""
    y = box.top + BOX_EYE_Y * box.height
    src = ((box.left + BOX_EYE_X[0] * box.width, y), (box.left + BOX_EYE_X[1] * box.width, y))
    return between(src, (LEFT_EYE, RIGHT_EYE))


def image_alignment(width: int, height: int) -> Similarity:
    """Fit a whole image into the canvas (no face information at all)."""
    s = CANVAS / max(1, width, height)
    return Similarity(s, 0.0, (CANVAS - s * width) / 2, (CANVAS - s * height) / 2)


def face_alignment(landmarks: Sequence[Point], box: Box | None,
                   size: tuple[int, int]) -> tuple[Similarity, str]:
    """The similarity placing a face on the canvas, and how it was found: "eyes" (from
    the landmarks), "box" (fallback) or "image" (no usable face geometry)."""
    if len(landmarks) >= 48:
        try:
            return _eye_alignment(landmarks), "eyes"
        except ValueError:
            pass
    if box is not None and box.width > 0 and box.height > 0:
        return box_alignment(box), "box"
    return image_alignment(*size), "image"


def as_box(box: Box | Sequence[int] | None) -> Box | None:
    """Accept a Box or the stored [top, right, bottom, left] list."""
    if box is None or isinstance(box, Box):
        return box
    top, right, bottom, left = (int(v) for v in box)
    return Box(top, right, bottom, left)


def candidate_caption(rank: int, person_id: str, name: str | None) -> str:
    """The caption under the candidate pane: "rank. person_id — name"."""
    return f"{rank}. {person_id} — {name}" if name else f"{rank}. {person_id}"


@dataclass(frozen=True)
class Original:
    """A candidate's original photo as read from disk: the image, or why it cannot be
    shown (`message`), and a caveat when it can (`warning`)."""

    image: QImage | None
    message: str = ""
    warning: str = ""


def check_original(path: str | Path | None, sha256: str | None
                   ) -> tuple[NDArray[np.uint8] | None, str, str]:
    """Read, decode and check (SHA-256 against the import's) an original photo: (its
    pixels or None, why it cannot be shown, a caveat when it can). Slow for a large file
    (up to 200 MB) and Qt-free: the window runs it in the task runner's worker process."""
    if path is None or str(path) == "":
        return None, "No photo path is recorded for this candidate.", ""
    try:
        data = imaging.read_file(Path(path))
        loaded = imaging.load_image(data, name=str(path))
    except ImageNotFound:
        return None, f"Original photo not found: {path}", ""
    except ImageError as exc:
        return None, f"Original photo cannot be shown: {exc.message}", ""
    warning = ""
    if sha256 and imaging.sha256_bytes(data) != sha256:
        warning = ("This file has changed since it was imported (its SHA-256 differs): "
                   "the face and landmarks may not fit it.")
    return loaded.rgb, "", warning


def as_original(checked: tuple[NDArray[np.uint8] | None, str, str]) -> Original:
    """`check_original`'s answer as an image ready for the screen (any thread)."""
    rgb, message, warning = checked
    return Original(None if rgb is None else pixmap_ready_image(rgb), message, warning)


def read_original(path: str | Path | None, sha256: str | None) -> Original:
    """`check_original` and `as_original` in one call (any thread)."""
    return as_original(check_original(path, sha256))


def pixmap_ready_image(rgb: NDArray[np.uint8]) -> QImage:
    """H x W x 3 RGB -> a QImage in the pixmap's own format (32-bit RGB), filled by numpy:
    the GUI thread then adopts it as a pixmap without a copy (QPixmap.fromImageInPlace).
    Qt's own conversions keep the GIL (PySide), numpy's copies do not: for a 12-megapixel
    photo, 110 ms in which no other thread, the GUI thread included, could run Python."""
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if sys.byteorder != "little":
        return rgb_to_qimage(arr[:, :, :3]).convertToFormat(QImage.Format.Format_RGB32)
    h, w = arr.shape[:2]
    image = QImage(w, h, QImage.Format.Format_RGB32)  # 0xffRRGGBB: bytes B, G, R, 255
    pixels = np.frombuffer(image.bits(), dtype=np.uint8).reshape(
        h, image.bytesPerLine())[:, :w * 4].reshape(h, w, 4)
    pixels[..., 0] = arr[..., 2]
    pixels[..., 1] = arr[..., 1]
    pixels[..., 2] = arr[..., 0]
    pixels[..., 3] = 255
    return image


def metadata_rows(details: dict[str, Any] | None,
                  size: tuple[int, int] | None) -> list[tuple[str, str]]:
    """Key/value rows for the original-photo dialog: path, size, person id and name (when
    known), every metadata column, then the remaining fields (hash, ids, quality...)."""
    d = dict(details or {})
    rows: list[tuple[str, str]] = []
    rows.append(("Path", str(d.pop("path", "") or "—")))
    width, height = d.pop("width", None), d.pop("height", None)
    if size is not None:
        width, height = size
    rows.append(("Size", f"{width} × {height} px" if width and height else "unknown"))
    for key, label in (("person_id", "Person id"), ("name", "Name")):
        if key in d:
            rows.append((label, _text(d.pop(key))))
    metadata = d.pop("metadata", None)
    if isinstance(metadata, dict):
        rows.extend((str(k), _text(v)) for k, v in metadata.items())
    box = d.pop("box", None)
    if box is not None:
        rows.append(("Face box (top, right, bottom, left)", ", ".join(str(v) for v in box)))
    for key, value in d.items():
        label = FIELD_LABELS.get(key, key)
        if isinstance(value, dict):
            rows.extend((f"{label}: {k}", _text(v)) for k, v in value.items())
        else:
            rows.append((label, _text(value)))
    return rows


FIELD_LABELS = {"sha256": "SHA-256", "face_id": "Face id", "photo_id": "Photo id",
                "quality": "Quality"}


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _view_scale(t: QTransform) -> float:
    return math.hypot(t.m11(), t.m12())


# --- views --------------------------------------------------------------------------------


class ZoomView(QGraphicsView):
    """A graphics view that zooms with the wheel (about the mouse), pans by dragging and can
    show a message over its viewport. Emits `changed` after any zoom or scroll."""

    changed = Signal()
    userZoomed = Signal()
    resized = Signal()

    def __init__(self, scene: QGraphicsScene, name: str = "pane",
                 parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setObjectName(name)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QBrush(BACKGROUND))
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # scroll bars always shown: if they came and went with the zoom, fitting would
        # resize the viewport, which refits, which resizes... (a loop seen at some sizes)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.horizontalScrollBar().valueChanged.connect(self.changed)
        self.verticalScrollBar().valueChanged.connect(self.changed)
        self._message = QLabel(self.viewport())
        self._message.setObjectName(f"{name}Message")
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._message.setStyleSheet(
            "QLabel { color: #f0f0f0; background: rgba(40, 40, 40, 220); padding: 12px; }")
        self._message.hide()

    # messages -------------------------------------------------------------------------

    def set_message(self, text: str) -> None:
        """Show `text` over the pane ("" hides it)."""
        self._message.setText(text)
        self._message.setVisible(bool(text))
        self._place_message()

    def message(self) -> str:
        return self._message.text() if not self._message.isHidden() else ""

    def message_label(self) -> QLabel:
        return self._message

    def _place_message(self) -> None:
        self._message.setGeometry(self.viewport().rect().adjusted(8, 8, -8, -8))

    # zoom -----------------------------------------------------------------------------

    def scale_factor(self) -> float:
        return _view_scale(self.transform())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor`, keeping the scene point under `anchor` (viewport coordinates;
        default the centre) where it is."""
        current = self.scale_factor() or 1.0
        factor = min(MAX_SCALE / current, max(MIN_SCALE / current, factor))
        if abs(factor - 1.0) < 1e-9:
            return
        at = anchor if anchor is not None else QPointF(self.viewport().rect().center())
        scene_point = self.mapToScene(at.toPoint())
        old = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self.setTransformationAnchor(old)
        moved = self.mapFromScene(scene_point) - at.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.changed.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y()
        if steps == 0:
            super().wheelEvent(event)
            return
        self.userZoomed.emit()
        self.zoom_by(ZOOM_STEP ** (steps / 120.0), event.position())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_message()
        self.resized.emit()


class _Face:
    """One face shown in one scene: the aligned photo and its landmark dots."""

    def __init__(self, scene: QGraphicsScene, pixmap: QPixmap, sim: Similarity,
                 landmarks: Sequence[Point], colour: QColor, z: float) -> None:
        self.item = QGraphicsPixmapItem(pixmap)
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        # pixel centres at integer coordinates, as dlib's landmarks count them
        self.item.setOffset(-0.5, -0.5)
        self.item.setTransform(QTransform(*sim.as_affine()))
        self.item.setZValue(z)
        scene.addItem(self.item)
        self.dots: list[QGraphicsEllipseItem] = []
        pen = QPen(QColor(0, 0, 0, 200))
        pen.setWidthF(0.8)
        pen.setCosmetic(True)
        for x, y in landmarks:
            dot = QGraphicsEllipseItem(-DOT_RADIUS, -DOT_RADIUS, 2 * DOT_RADIUS, 2 * DOT_RADIUS,
                                       self.item)
            dot.setPos(float(x), float(y))
            dot.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            dot.setBrush(QBrush(colour))
            dot.setPen(pen)
            dot.setVisible(False)
            self.dots.append(dot)

    def set_landmarks_visible(self, visible: bool) -> None:
        for dot in self.dots:
            dot.setVisible(visible)

    def remove(self) -> None:
        scene = self.item.scene()
        if scene is not None:
            scene.removeItem(self.item)


class _Photo:
    """What is known about one side (probe or candidate)."""

    def __init__(self, pixmap: QPixmap | None, landmarks: Sequence[Point], box: Box | None,
                 caption: str, details: dict[str, Any] | None, message: str = "",
                 warning: str = "") -> None:
        self.pixmap = pixmap
        self.landmarks = list(landmarks)
        self.box = box
        self.caption = caption
        self.details = details
        self.message = message  # why the photo cannot be shown ("" if it can)
        self.warning = warning  # shown, but with a caveat
        self.sim: Similarity | None = None
        self.how = ""
        if pixmap is not None:
            self.sim, self.how = face_alignment(self.landmarks, box,
                                                (pixmap.width(), pixmap.height()))

    @property
    def size(self) -> tuple[int, int] | None:
        return None if self.pixmap is None else (self.pixmap.width(), self.pixmap.height())

    @property
    def file_name(self) -> str:
        """The photo's file name ("" when no path is known)."""
        path = str((self.details or {}).get("path") or "")
        return path.replace("\\", "/").rsplit("/", 1)[-1]


def _make_scene() -> QGraphicsScene:
    scene = QGraphicsScene()
    scene.setSceneRect(SCENE_RECT)
    return scene


# --- the compare region -------------------------------------------------------------------


class CompareView(QWidget):
    """Probe and candidate, eyes aligned, synchronised zoom and pan, landmarks, blend and
    flicker modes, original photos with their metadata."""

    modeChanged = Signal(str)
    landmarksChanged = Signal(bool)
    #: "probe" or "candidate": an original photo was opened (for the audit log's "view")
    originalOpened = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self._mode = "side"
        self._fit_mode = True
        self._syncing = False
        self._landmarks = False
        self._probe: _Photo | None = None
        self._candidate: _Photo | None = None
        self._faces: dict[str, _Face] = {}
        self._flicker_candidate = False
        self._dialogs: list[OriginalPhotoDialog] = []

        self._scenes = {name: _make_scene() for name in ("probe", "candidate", "overlay")}
        self.probe_view = ZoomView(self._scenes["probe"], "probePane")
        self.candidate_view = ZoomView(self._scenes["candidate"], "candidatePane")
        self.overlay_view = ZoomView(self._scenes["overlay"], "overlayPane")
        self._views = (self.probe_view, self.candidate_view, self.overlay_view)
        for view in self._views:
            view.changed.connect(lambda v=view: self._sync_from(v))
            view.userZoomed.connect(self._leave_fit_mode)
            view.resized.connect(lambda v=view: self._on_resized(v))

        self.flicker_timer = QTimer(self)
        self.flicker_timer.setObjectName("flickerTimer")
        self.flicker_timer.setInterval(FLICKER_MS)
        self.flicker_timer.timeout.connect(self._flicker_step)

        self._build_ui()
        self.clear()

    # --- layout -----------------------------------------------------------------------

    def _build_ui(self) -> None:
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        self._mode_group = QButtonGroup(self)
        self._mode_group.setExclusive(True)
        self._mode_buttons: dict[str, QToolButton] = {}
        for mode, label, tip, name in (
            ("side", "Side by side", "Probe and candidate next to each other", "modeSide"),
            ("blend", "Blend", "The candidate over the probe, with adjustable opacity",
             "modeBlend"),
            ("flicker", "Flicker", f"Probe and candidate alternate every {FLICKER_MS} ms",
             "modeFlicker"),
        ):
            button = QToolButton()
            button.setText(label)
            button.setToolTip(tip)
            button.setObjectName(name)
            button.setCheckable(True)
            button.setAutoRaise(False)
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self._mode_group.addButton(button)
            self._mode_buttons[mode] = button
            bar.addWidget(button)
        self._mode_buttons["side"].setChecked(True)

        self.blend_label = QLabel()
        self.blend_slider = QSlider(Qt.Orientation.Horizontal)
        self.blend_slider.setObjectName("blendSlider")
        self.blend_slider.setRange(0, 100)
        self.blend_slider.setValue(50)
        self.blend_slider.setMinimumWidth(60)
        self.blend_slider.setMaximumWidth(140)
        self.blend_slider.setToolTip("Opacity of the candidate over the probe")
        self.blend_slider.valueChanged.connect(self._apply_overlay_state)
        self.pause_button = QToolButton()
        self.pause_button.setObjectName("flickerPause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Pause or resume the flicker")
        self.pause_button.toggled.connect(self._on_pause_toggled)
        bar.addStretch(1)

        self.landmarks_button = QToolButton()
        self.landmarks_button.setObjectName("landmarksButton")
        self.landmarks_button.setText("Landmarks")
        self.landmarks_button.setCheckable(True)
        self.landmarks_button.setToolTip(
            "Show the 68 landmark points the alignment used (probe cyan, candidate orange)")
        self.landmarks_button.toggled.connect(self.set_landmarks_visible)
        bar.addWidget(self.landmarks_button)
        bar.addSpacing(8)
        for name, text, tip, slot in (
            ("zoomOut", "−", "Zoom out (both faces)", self.zoom_out),
            ("zoomIn", "+", "Zoom in (both faces)", self.zoom_in),
            ("zoomFit", "Fit", "Show both faces whole, at the same scale", self.fit),
        ):
            button = QToolButton()
            button.setObjectName(name)
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            bar.addWidget(button)

        # the panes: side by side, or one overlay pane
        self.probe_header = QLabel()
        self.probe_header.setObjectName("probeHeader")
        self.candidate_header = QLabel()
        self.candidate_header.setObjectName("candidateHeader")
        side = QWidget()
        side_layout = QGridLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.probe_header, 0, 0)
        side_layout.addWidget(self.candidate_header, 0, 1)
        side_layout.addWidget(self.probe_view, 1, 0)
        side_layout.addWidget(self.candidate_view, 1, 1)
        side_layout.setColumnStretch(0, 1)
        side_layout.setColumnStretch(1, 1)
        side_layout.setRowStretch(1, 1)
        overlay = QWidget()
        overlay_layout = QVBoxLayout(overlay)
        overlay_layout.setContentsMargins(0, 0, 0, 0)
        self.overlay_header = QLabel()
        self.overlay_header.setObjectName("overlayHeader")
        # the opacity and the pause sit with the overlay pane they act on: in the
        # toolbar they widened the whole region when blend or flicker was chosen
        self.overlay_header.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Preferred)
        overlay_bar = QHBoxLayout()
        overlay_bar.addWidget(self.overlay_header, 1)
        overlay_bar.addWidget(self.blend_label)
        overlay_bar.addWidget(self.blend_slider, 1)
        overlay_bar.addWidget(self.pause_button)
        overlay_layout.addLayout(overlay_bar)
        overlay_layout.addWidget(self.overlay_view, 1)
        self._stack = QStackedWidget()
        self._stack.addWidget(side)
        self._stack.addWidget(overlay)

        # captions and originals
        # elided, whole in the tooltip: a long name must not widen the region
        self.probe_caption = ElidedLabel()
        self.probe_caption.setObjectName("probeCaption")
        self.candidate_caption = ElidedLabel()
        self.candidate_caption.setObjectName("candidateCaption")
        self.probe_note = QLabel()
        self.probe_note.setObjectName("probeNote")
        self.candidate_note = QLabel()
        self.candidate_note.setObjectName("candidateNote")
        for caption in (self.probe_caption, self.candidate_caption):
            caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            caption.setStyleSheet("font-weight: bold;")
        for note in (self.probe_note, self.candidate_note):
            note.setWordWrap(True)
            note.setStyleSheet("color: #b26a00;")
        self.open_probe_button = QPushButton("Open original…")
        self.open_probe_button.setObjectName("openProbeOriginal")
        self.open_probe_button.setToolTip("The whole probe still, with its details")
        self.open_probe_button.clicked.connect(self.open_probe_original)
        self.open_candidate_button = QPushButton("Open original…")
        self.open_candidate_button.setObjectName("openCandidateOriginal")
        self.open_candidate_button.setToolTip(
            "The whole gallery photo, with every metadata field")
        self.open_candidate_button.clicked.connect(self.open_candidate_original)
        below = QGridLayout()
        below.setContentsMargins(0, 0, 0, 0)
        # each caption on a line of its own, as wide as its pane, its button under it
        below.addWidget(self.probe_caption, 0, 0, 1, 2)
        below.addWidget(self.candidate_caption, 0, 2, 1, 2)
        below.addWidget(self.open_probe_button, 1, 1)
        below.addWidget(self.open_candidate_button, 1, 3)
        below.addWidget(self.probe_note, 2, 0, 1, 2)
        below.addWidget(self.candidate_note, 2, 2, 1, 2)
        below.setColumnStretch(0, 1)
        below.setColumnStretch(2, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self._stack, 1)
        layout.addLayout(below)
        # (keyboard shortcuts belong to the main window's actions: a second shortcut for the
        # same keys here would make both ambiguous)

    # --- public API -------------------------------------------------------------------

    def set_probe(self, rgb: NDArray[np.uint8], landmarks: Sequence[Point],
                  box: Box | Sequence[int] | None, caption: str,
                  details: dict[str, Any] | None = None) -> None:
        """Show the probe face (the still's pixels, its 68 landmarks and box)."""
        self._probe = _Photo(to_pixmap(rgb), landmarks, as_box(box), caption, details)
        self._rebuild()

    def clear_probe(self) -> None:
        self._probe = None
        self._rebuild()

    def set_candidate(self, path: str | Path | None, landmarks: Sequence[Point],
                      box: Box | Sequence[int] | None, caption: str,
                      details: dict[str, Any] | None = None,
                      original: Original | None = None) -> None:
        """Show the candidate's gallery photo at `path`: `original` as read by
        `read_original` (off the GUI thread), else read now. A missing, moved, altered
        or unreadable file is reported in the pane."""
        details = dict(details or {})
        if path is not None:
            details.setdefault("path", str(path))
        if original is None:
            original = read_original(path, details.get("sha256"))
        pixmap = None if original.image is None else QPixmap.fromImageInPlace(original.image)
        self._candidate = _Photo(pixmap, landmarks, as_box(box), caption, details,
                                 message=original.message, warning=original.warning)
        self._rebuild()

    def candidate_loading(self, caption: str) -> None:
        """The candidate's photo is being read: say so in its pane."""
        self._candidate = _Photo(None, [], None, caption, None,
                                 message="Reading the original photo…")
        self._rebuild()

    def clear_candidate(self) -> None:
        self._candidate = None
        self._rebuild()

    def clear(self) -> None:
        self._probe = None
        self._candidate = None
        self._rebuild()

    def mode(self) -> str:
        return self._mode

    @Slot(str)
    def set_mode(self, mode: str) -> None:
        """"side", "blend" or "flicker"."""
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}; expected one of {MODES}")
        self._mode_buttons[mode].setChecked(True)
        if mode == self._mode:
            return
        previous = self._active_view()
        self._mode = mode
        self._stack.setCurrentIndex(0 if mode == "side" else 1)
        self._flicker_candidate = False
        self._apply_overlay_state()
        self._update_toolbar()
        self._update_timer()
        if self._fit_mode:
            self.fit()
        else:
            self._sync_from(previous, force=True)
        self.modeChanged.emit(mode)

    def landmarks_visible(self) -> bool:
        return self._landmarks

    @Slot(bool)
    def set_landmarks_visible(self, visible: bool) -> None:
        visible = bool(visible)
        if self.landmarks_button.isChecked() != visible:
            self.landmarks_button.setChecked(visible)  # comes back here through `toggled`
            return
        changed = visible != self._landmarks
        self._landmarks = visible
        for face in self._faces.values():
            face.set_landmarks_visible(visible)
        self._update_headers()
        if changed:
            self.landmarksChanged.emit(visible)

    @Slot()
    def zoom_in(self) -> None:
        self._leave_fit_mode()
        self._active_view().zoom_by(ZOOM_STEP)

    @Slot()
    def zoom_out(self) -> None:
        self._leave_fit_mode()
        self._active_view().zoom_by(1.0 / ZOOM_STEP)

    @Slot()
    def fit(self) -> None:
        """Show the aligned faces whole (the canvas square); stays fitted on resize."""
        self._fit_mode = True
        view = self._active_view()
        if view.viewport().width() < 10 or view.viewport().height() < 10:
            return
        view.fitInView(FIT_RECT, Qt.AspectRatioMode.KeepAspectRatio)
        self._sync_from(view, force=True)

    def is_fitted(self) -> bool:
        return self._fit_mode

    # items, for tests and for the window's status bar
    def face_item(self, which: str) -> QGraphicsPixmapItem | None:
        """The pixmap item of "probe", "candidate", "overlay_probe" or "overlay_candidate"."""
        face = self._faces.get(which)
        return None if face is None else face.item

    def landmark_items(self, which: str) -> list[QGraphicsEllipseItem]:
        face = self._faces.get(which)
        return [] if face is None else list(face.dots)

    def alignment(self, which: str) -> tuple[Similarity | None, str]:
        """The similarity used for "probe" or "candidate" and how it was found."""
        photo = self._probe if which == "probe" else self._candidate
        return (None, "") if photo is None else (photo.sim, photo.how)

    # --- originals --------------------------------------------------------------------

    @Slot()
    def open_probe_original(self) -> OriginalPhotoDialog | None:
        if self._probe is None:
            return None
        return self._open_original("probe", self._probe, "Probe")

    @Slot()
    def open_candidate_original(self) -> OriginalPhotoDialog | None:
        if self._candidate is None:
            return None
        return self._open_original("candidate", self._candidate, "Candidate")

    def _open_original(self, which: str, photo: _Photo, title: str) -> OriginalPhotoDialog:
        parts = [p for p in (photo.caption, photo.file_name) if p]
        if len(parts) == 2 and parts[0] == parts[1]:
            parts = parts[:1]
        dialog = OriginalPhotoDialog(
            f"{title}: {' — '.join(parts)}" if parts else title,
            photo.pixmap, photo.message, metadata_rows(photo.details, photo.size), photo.box,
            warning=photo.warning, parent=self)
        dialog.setObjectName(f"{which}OriginalDialog")
        dialog.finished.connect(lambda _=0, d=dialog: self._forget_dialog(d))
        self._dialogs.append(dialog)
        dialog.show()
        self.originalOpened.emit(which)
        return dialog

    def _forget_dialog(self, dialog: OriginalPhotoDialog) -> None:
        if dialog in self._dialogs:
            self._dialogs.remove(dialog)
        dialog.deleteLater()

    def open_dialogs(self) -> list[OriginalPhotoDialog]:
        return list(self._dialogs)

    # --- building the scenes ----------------------------------------------------------

    def _rebuild(self) -> None:
        for face in self._faces.values():
            face.remove()
        self._faces = {}
        probe, cand = self._probe, self._candidate
        if probe is not None and probe.pixmap is not None and probe.sim is not None:
            self._faces["probe"] = _Face(self._scenes["probe"], probe.pixmap, probe.sim,
                                         probe.landmarks, PROBE_COLOUR, 0)
            self._faces["overlay_probe"] = _Face(self._scenes["overlay"], probe.pixmap,
                                                 probe.sim, probe.landmarks, PROBE_COLOUR, 0)
        if cand is not None and cand.pixmap is not None and cand.sim is not None:
            self._faces["candidate"] = _Face(self._scenes["candidate"], cand.pixmap, cand.sim,
                                             cand.landmarks, CANDIDATE_COLOUR, 0)
            self._faces["overlay_candidate"] = _Face(self._scenes["overlay"], cand.pixmap,
                                                     cand.sim, cand.landmarks,
                                                     CANDIDATE_COLOUR, 1)
        for face in self._faces.values():
            face.set_landmarks_visible(self._landmarks)

        self.probe_view.set_message(
            "No probe face yet: choose a face in the probe still." if probe is None else "")
        if cand is None:
            cand_message = "Select a candidate in the list to compare it with the probe."
        else:
            cand_message = cand.message
        self.candidate_view.set_message(cand_message)
        self.probe_caption.setText(probe.caption if probe else "")
        self.candidate_caption.setText(cand.caption if cand else "")
        for photo, caption, button, whose in (
                (probe, self.probe_caption, self.open_probe_button, "probe still"),
                (cand, self.candidate_caption, self.open_candidate_button, "gallery photo")):
            path = str(((photo.details if photo else None) or {}).get("path") or "")
            caption.set_tip(path)
            name = photo.file_name if photo else ""
            button.setToolTip(f"The whole {whose}{f' {name}' if name else ''}, with its details")
        self.probe_note.setText(self._note(probe))
        self.candidate_note.setText(self._note(cand))
        self.open_probe_button.setEnabled(probe is not None)
        self.open_candidate_button.setEnabled(cand is not None)
        self._flicker_candidate = False
        self._apply_overlay_state()
        self._update_toolbar()
        self._update_timer()
        if self._fit_mode:
            self.fit()

    @staticmethod
    def _note(photo: _Photo | None) -> str:
        if photo is None:
            return ""
        notes = []
        if photo.how == "box":
            notes.append("No landmarks: placed by its face box, so the eyes are only "
                         "roughly aligned.")
        elif photo.how == "image":
            notes.append("No landmarks or face box: the whole photo is shown, not aligned.")
        if photo.warning:
            notes.append(photo.warning)
        return " ".join(notes)

    # --- modes ------------------------------------------------------------------------

    def _active_view(self) -> ZoomView:
        return self.probe_view if self._mode == "side" else self.overlay_view

    def _both(self) -> bool:
        return "overlay_probe" in self._faces and "overlay_candidate" in self._faces

    @Slot()
    def _apply_overlay_state(self) -> None:
        probe = self._faces.get("overlay_probe")
        cand = self._faces.get("overlay_candidate")
        if self._mode == "flicker":
            if probe is not None:
                probe.item.setVisible(not (self._flicker_candidate and cand is not None))
            if cand is not None:
                cand.item.setOpacity(1.0)
                cand.item.setVisible(self._flicker_candidate or probe is None)
        else:
            if probe is not None:
                probe.item.setVisible(True)
            if cand is not None:
                cand.item.setVisible(True)
                cand.item.setOpacity(self.blend_slider.value() / 100.0)
        if self._mode != "side":
            if self._candidate is not None and self._candidate.message:
                self.overlay_view.set_message(self._candidate.message)
            elif self._candidate is None or self._probe is None:
                self.overlay_view.set_message(
                    "Blend and flicker need a probe face and a candidate.")
            else:
                self.overlay_view.set_message("")
        self._update_headers()

    def _update_headers(self) -> None:
        dot = "  <span style='color:{}'>●</span>"
        probe_dot = dot.format(PROBE_COLOUR.name()) if self._landmarks else ""
        cand_dot = dot.format(CANDIDATE_COLOUR.name()) if self._landmarks else ""
        self.probe_header.setText(f"<b>Probe</b>{probe_dot}")
        self.candidate_header.setText(f"<b>Candidate</b>{cand_dot}")
        self.blend_label.setText(f"Opacity {self.blend_slider.value()}%")
        if self._mode == "blend":
            text = (f"<b>Candidate</b>{cand_dot} over <b>probe</b>{probe_dot} — "
                    f"candidate opacity {self.blend_slider.value()}%")
        elif self._mode == "flicker":
            showing = ("<b>Candidate</b>" + cand_dot if self._flicker_candidate
                       else "<b>Probe</b>" + probe_dot)
            state = " (paused)" if self.pause_button.isChecked() else ""
            text = f"Flicker — showing: {showing}{state}"
        else:
            text = ""
        self.overlay_header.setText(text)

    def _update_toolbar(self) -> None:
        self.blend_label.setVisible(self._mode == "blend")
        self.blend_slider.setVisible(self._mode == "blend")
        self.pause_button.setVisible(self._mode == "flicker")
        self.pause_button.setText("Play" if self.pause_button.isChecked() else "Pause")

    @Slot(bool)
    def _on_pause_toggled(self, paused: bool) -> None:
        self._update_toolbar()
        self._update_timer()
        self._update_headers()

    def set_flicker_paused(self, paused: bool) -> None:
        self.pause_button.setChecked(paused)

    def _update_timer(self) -> None:
        run = (self._mode == "flicker" and not self.pause_button.isChecked()
               and self.isVisible() and self._both())
        if run and not self.flicker_timer.isActive():
            self.flicker_timer.start()
        elif not run and self.flicker_timer.isActive():
            self.flicker_timer.stop()

    @Slot()
    def _flicker_step(self) -> None:
        if self._mode != "flicker":
            self.flicker_timer.stop()
            return
        self._flicker_candidate = not self._flicker_candidate
        self._apply_overlay_state()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._update_timer()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.flicker_timer.stop()

    # --- synchronised zoom and pan ----------------------------------------------------

    @Slot()
    def _leave_fit_mode(self) -> None:
        self._fit_mode = False

    def _on_resized(self, view: ZoomView) -> None:
        if self._syncing:
            return
        if self._fit_mode:
            if view is self._active_view():
                self.fit()
            return
        if view is self._active_view():
            self._sync_from(view, force=True)
        else:
            self._sync_from(self._active_view(), force=True)

    def _sync_from(self, source: ZoomView, force: bool = False) -> None:
        """Give every other pane `source`'s zoom and scroll position."""
        if self._syncing:
            return
        if not force and source.isHidden():
            return
        self._syncing = True
        try:
            transform = source.transform()
            centre = source.mapToScene(source.viewport().rect().center())
            for view in self._views:
                if view is source:
                    continue
                if view.transform() != transform:
                    view.setTransform(transform)
                if view.viewport().size() == source.viewport().size():
                    view.horizontalScrollBar().setValue(source.horizontalScrollBar().value())
                    view.verticalScrollBar().setValue(source.verticalScrollBar().value())
                else:
                    view.centerOn(centre)
        finally:
            self._syncing = False


# --- the original photo -------------------------------------------------------------------


class OriginalPhotoDialog(QDialog):
    """The whole original photo (zoomable, face box outlined) and its details."""

    def __init__(self, title: str, pixmap: QPixmap | None, message: str,
                 rows: list[tuple[str, str]], box: Box | None, warning: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setSizeGripEnabled(True)
        self.setModal(False)
        self.resize(960, 600)  # fits a 1024 x 700 screen with its title bar

        self.scene = _make_plain_scene(pixmap, box)
        self.view = ZoomView(self.scene, "originalView")
        self.view.userZoomed.connect(self._leave_fit)
        self.view.resized.connect(self._refit)
        self.view.set_message(message)
        self._fitted = True

        self.table = QTableWidget(len(rows), 2)
        self.table.setObjectName("originalMetadata")
        self.table.setHorizontalHeaderLabels(["Field", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        for r, (key, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.table.setItem(r, 1, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        tools = QHBoxLayout()
        for text, tip, slot in (("−", "Zoom out", lambda: self._zoom(1 / ZOOM_STEP)),
                                ("+", "Zoom in", lambda: self._zoom(ZOOM_STEP)),
                                ("Fit", "Show the whole photo", self.fit)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            tools.addWidget(button)
        tools.addStretch(1)
        left_layout.addLayout(tools)
        left_layout.addWidget(self.view, 1)
        if warning:
            note = QLabel(warning)
            note.setObjectName("originalWarning")
            note.setWordWrap(True)
            note.setStyleSheet("color: #b26a00;")
            left_layout.addWidget(note)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.table)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        out = []
        for r in range(self.table.rowCount()):
            key, value = self.table.item(r, 0), self.table.item(r, 1)
            out.append((key.text() if key else "", value.text() if value else ""))
        return out

    def _zoom(self, factor: float) -> None:
        self._fitted = False
        self.view.zoom_by(factor)

    def _leave_fit(self) -> None:
        self._fitted = False

    def _refit(self) -> None:
        if self._fitted:
            self.fit()

    def fit(self) -> None:
        self._fitted = True
        rect = self.scene.itemsBoundingRect()
        if not rect.isEmpty():
            self.view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)


def _make_plain_scene(pixmap: QPixmap | None, box: Box | None) -> QGraphicsScene:
    scene = QGraphicsScene()
    if pixmap is None:
        return scene
    item = QGraphicsPixmapItem(pixmap)
    item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
    scene.addItem(item)
    if box is not None and box.width > 0 and box.height > 0:
        pen = QPen(QColor("#ffd600"))
        pen.setWidthF(2.0)
        pen.setCosmetic(True)
        outline = QGraphicsRectItem(QRectF(box.left, box.top, box.width, box.height))
        outline.setPen(pen)
        scene.addItem(outline)
    scene.setSceneRect(QRectF(0, 0, pixmap.width(), pixmap.height()))
    return scene
