"""Eye alignment for side-by-side comparison: the similarity transform (scale, rotation,
translation) that puts a face's eye centres at fixed points of a common canvas, so two
faces are shown at the same scale and the reviewer compares like with like."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from facedesk.domain.faces import Point, eye_centres

#: the common canvas (pixels) and where the eyes land on it
CANVAS = 400
LEFT_EYE = (0.36 * CANVAS, 0.42 * CANVAS)  # image-left eye
RIGHT_EYE = (0.64 * CANVAS, 0.42 * CANVAS)


@dataclass(frozen=True)
class Similarity:
    """x' = a*x - b*y + tx ; y' = b*x + a*y + ty (a = s cos t, b = s sin t)."""

    a: float
    b: float
    tx: float
    ty: float

    @property
    def scale(self) -> float:
        return math.hypot(self.a, self.b)

    @property
    def rotation_deg(self) -> float:
        return math.degrees(math.atan2(self.b, self.a))

    def apply(self, x: float, y: float) -> tuple[float, float]:
        return (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)

    def as_affine(self) -> tuple[float, float, float, float, float, float]:
        """(m11, m12, m21, m22, dx, dy) in Qt's QTransform(m11, m12, m21, m22, dx, dy)
        convention (row vectors: x' = m11*x + m21*y + dx)."""
        return (self.a, self.b, -self.b, self.a, self.tx, self.ty)


def between(src: tuple[tuple[float, float], tuple[float, float]],
            dst: tuple[tuple[float, float], tuple[float, float]]) -> Similarity:
    """The similarity mapping the two `src` points exactly onto the two `dst` points."""
    (x1, y1), (x2, y2) = src
    (u1, v1), (u2, v2) = dst
    dx, dy = x2 - x1, y2 - y1
    du, dv = u2 - u1, v2 - v1
    den = dx * dx + dy * dy
    if den == 0:
        raise ValueError("the two eye points coincide")
    a = (du * dx + dv * dy) / den
    b = (dv * dx - du * dy) / den
    return Similarity(a, b, u1 - (a * x1 - b * y1), v1 - (b * x1 + a * y1))


def eye_alignment(landmarks: Sequence[Point]) -> Similarity:
    """Map the face's eyes (68-point landmarks) onto LEFT_EYE / RIGHT_EYE of the canvas."""
    e1, e2 = eye_centres(landmarks)
    left, right = (e1, e2) if e1[0] <= e2[0] else (e2, e1)
    return between((left, right), (LEFT_EYE, RIGHT_EYE))
