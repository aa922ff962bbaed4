"""Images to Qt: an RGB array, or encoded image bytes (a photo, a stored face crop), as a
QImage or a QPixmap of a given size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy

IMAGE_SIZE = 300
Picture = TypeVar("Picture", QImage, QPixmap)


def rgb_to_qimage(rgb: NDArray[np.uint8]) -> QImage:
    """An H x W x 3 uint8 RGB array as a QImage that owns its pixels."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB array, got shape {rgb.shape}")
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = int(arr.shape[0]), int(arr.shape[1])
    data = arr.tobytes()  # kept alive until .copy() has taken the pixels
    image = QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()


def to_pixmap(rgb: NDArray[np.uint8]) -> QPixmap:
    """H x W x 3 (or H x W grey, or H x W x 4) uint8 -> QPixmap (the data is copied)."""
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB array, got shape {arr.shape}")
    return QPixmap.fromImage(rgb_to_qimage(arr[:, :, :3]))


def scaled(image: Picture, size: int) -> Picture:
    """An image or pixmap at most size x size, the aspect kept, smoothly."""
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)


def decode(data: bytes | None) -> QImage | None:
    """Encoded image bytes as a QImage; None for no bytes or bytes Qt cannot read."""
    if not data:
        return None
    image = QImage.fromData(data)
    return None if image.isNull() else image


def face_pixmap(data: bytes | None, box: Sequence[int] | None = None,
                size: int = IMAGE_SIZE) -> QPixmap | None:
    """Encoded image bytes -> a pixmap of at most size x size; with a box (top, right,
    bottom, left) the face with a margin around it."""
    image = decode(data)
    if image is None:
        return None
    if box is not None and len(box) == 4:
        top, right, bottom, left = (int(v) for v in box)
        margin = int(0.4 * max(bottom - top, right - left))
        rect = QRect(left - margin, top - margin, right - left + 2 * margin,
                     bottom - top + 2 * margin).intersected(image.rect())
        if rect.width() > 4 and rect.height() > 4:
            image = image.copy(rect)
    return scaled(QPixmap.fromImage(image), size)


def outlined_pixmap(data: bytes | None, box: Sequence[int] | None,
                    size: int = IMAGE_SIZE) -> QPixmap | None:
    """The whole photo at most size x size with the face of `box` (top, right, bottom,
    left) outlined, as the lead sheet marks the searched face."""
    image = decode(data)
    if image is None:
        return None
    pix = scaled(QPixmap.fromImage(image), size)
    if box is not None and len(box) == 4:
        top, right, bottom, left = (int(v) for v in box)
        f = pix.width() / max(1, image.width())
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for colour, width in ((QColor(0, 0, 0, 190), 5.0), (QColor("#ffd600"), 2.5)):
            painter.setPen(QPen(colour, width))
            painter.drawRect(QRectF(left * f, top * f, (right - left) * f, (bottom - top) * f))
        painter.end()
    return pix


def image_label(name: str, least: int = IMAGE_SIZE) -> QLabel:
    """A framed, centred label that shows a pixmap (or a sentence when there is none)."""
    label = QLabel()
    label.setObjectName(name)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(least, least)
    label.setFrameShape(QFrame.Shape.StyledPanel)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return label
