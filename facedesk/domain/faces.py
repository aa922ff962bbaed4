"""What FaceDesk knows about one face: box, landmarks, encoding and quality figures,
and the engine interface the rest of the core programs against."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from facedesk.errors import FaceChoiceError

Encoding = NDArray[np.float32]  # shape (128,)
Point = tuple[int, int]  # (x, y) in original image pixels

ENCODING_DIM = 128


@dataclass(frozen=True)
class Box:
    """A face box in original image pixels, face_recognition's (top, right, bottom, left)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def scaled(self, factor: float) -> Box:
        """Map a box from a working copy scaled by `factor` back to the original."""
        return Box(
            top=round(self.top / factor),
            right=round(self.right / factor),
            bottom=round(self.bottom / factor),
            left=round(self.left / factor),
        )

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            top=max(0, min(height, self.top)),
            right=max(0, min(width, self.right)),
            bottom=max(0, min(height, self.bottom)),
            left=max(0, min(width, self.left)),
        )

    def as_list(self) -> list[int]:
        return [self.top, self.right, self.bottom, self.left]

    @classmethod
    def parse(cls, text: str) -> Box:
        """'top,right,bottom,left' -> Box, with a clear error for anything else."""
        parts = [p.strip() for p in text.split(",")]
        try:
            top, right, bottom, left = (int(float(p)) for p in parts)
        except ValueError:
            raise FaceChoiceError(
                f"box {text!r} must be four whole numbers: top,right,bottom,left"
            ) from None
        box = cls(top, right, bottom, left)
        if box.width <= 0 or box.height <= 0:
            raise FaceChoiceError(
                f"box {text!r} is empty: right must exceed left and bottom must exceed top"
            )
        return box


@dataclass(frozen=True)
class FaceQuality:
    """Figures that tell how far a face can be trusted for search (see README, 'Quality')."""

    size_px: int  # shorter side of the face box, in original pixels
    eye_distance_px: float  # between the centres of the two eyes
    sharpness: float  # variance of the Laplacian on the face resampled to 128 x 128
    brightness: float  # mean luma of the face, 0..255
    yaw_deg: float  # + = face turned to its left (our right), estimated from landmarks
    #: tilt of the eye line in the image plane, degrees (+ = clockwise on screen); the
    #: probe turned by this many degrees the other way is upright (see analysis.upright)
    roll_deg: float = 0.0
    #: how well the 68 landmarks sit on the face, 0..1 (analysis.landmark_fit); None: not
    #: measured (gallery faces are not)
    landmark_fit: float | None = None
    #: the rotation (degrees, counter-clockwise on screen, as Pillow's) that makes this
    #: face upright, when it is tilted or its landmarks do not fit; None: not needed or
    #: not found
    upright_deg: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        d: dict[str, float | int] = {
            "size_px": self.size_px,
            "eye_distance_px": round(self.eye_distance_px, 1),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "yaw_deg": round(self.yaw_deg, 1),
            "roll_deg": round(self.roll_deg, 1),
        }
        if self.landmark_fit is not None:
            d["landmark_fit"] = round(self.landmark_fit, 2)
        if self.upright_deg is not None:
            d["upright_deg"] = round(self.upright_deg, 1)
        return d


@dataclass(frozen=True)
class RawFace:
    """What an engine returns for one face: landmarks and encoding for a box."""

    box: Box
    landmarks: list[Point]  # 68 points in dlib's iBUG order
    encoding: Encoding


@dataclass
class Face:
    """A detected face with its quality figures and a small crop for display."""

    index: int  # order in the photo (left to right, then top to bottom)
    box: Box
    landmarks: list[Point]
    encoding: Encoding
    quality: FaceQuality
    crop_jpeg: bytes = field(repr=False, default=b"")
    #: how the box was found: "<detector>:<upsample>" ("hog:1", "cnn:0", ...), "frame"
    #: (no detector found a face; the central region of a tightly cropped photo was taken,
    #: see analysis.frame_box), "drawn" (a box drawn by hand), "" (not recorded)
    detector: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "box": self.box.as_list(),
            "detector": self.detector,
            "quality": self.quality.as_dict(),
        }


class FaceEngine(Protocol):
    """The detection / landmark / encoding pipeline. The real one is `engine.DlibEngine`;
    tests use a fake with the same interface."""

    #: the detector `detect` uses when not told otherwise: "hog" or "cnn"
    detector: str

    def identity(self) -> dict[str, Any]:
        """Library versions and model file hashes: what makes two encodings comparable."""
        ...

    def detect(self, rgb: NDArray[np.uint8], upsample: int,
               detector: str | None = None) -> list[Box]:
        """Face boxes in `rgb`'s own pixel coordinates, found by `detector` ("hog" or
        "cnn"; None = the engine's own `detector`)."""
        ...

    def describe(self, rgb: NDArray[np.uint8], boxes: Sequence[Box]) -> list[RawFace]:
        """68 landmarks and a 128-d encoding for each box."""
        ...


# --- figures from landmarks --------------------------------------------------------------

# dlib 68-point (iBUG 300-W) indices
JAW_RIGHT_END = 0  # image-left end of the jaw line
JAW_LEFT_END = 16
NOSE_TIP = 30
EYE_A = range(36, 42)
EYE_B = range(42, 48)


def _mean_point(points: Sequence[Point], idx: range) -> tuple[float, float]:
    xs = [points[i][0] for i in idx]
    ys = [points[i][1] for i in idx]
    return (sum(xs) / len(xs), sum(ys) / len(ys))


def eye_centres(landmarks: Sequence[Point]) -> tuple[tuple[float, float], tuple[float, float]]:
    return _mean_point(landmarks, EYE_A), _mean_point(landmarks, EYE_B)


def eye_distance(landmarks: Sequence[Point]) -> float:
    if len(landmarks) < 48:
        return 0.0
    (ax, ay), (bx, by) = eye_centres(landmarks)
    return math.hypot(bx - ax, by - ay)


def roll_estimate(landmarks: Sequence[Point]) -> float:
    """Tilt of the line through the eye centres, degrees in (-180, 180]: 0 for upright eyes,
    + when the eye on the image's right is lower (the face turned clockwise on screen)."""
    if len(landmarks) < 48:
        return 0.0
    (ax, ay), (bx, by) = eye_centres(landmarks)
    return math.degrees(math.atan2(by - ay, bx - ax))


def yaw_estimate(landmarks: Sequence[Point]) -> float:
    """Rough yaw in degrees from where the nose tip sits between the jaw ends.

    A frontal face has the nose tip half-way (0 degrees); the ratio r in [0, 1] maps to
    asin(2r - 1), so +/-90 degrees means the nose reaches a jaw end (full profile).
    Good to about +/-10 degrees: enough to warn about turned heads, not a measurement.
    """
    if len(landmarks) < 31:
        return 0.0
    xr, _ = landmarks[JAW_RIGHT_END]
    xl, _ = landmarks[JAW_LEFT_END]
    xn, _ = landmarks[NOSE_TIP]
    span = xl - xr
    if span == 0:
        return 0.0
    r = (xn - xr) / span
    r = min(1.0, max(0.0, r))
    return math.degrees(math.asin(2.0 * r - 1.0))


# --- choosing the subject of a photo -----------------------------------------------------


def subject_index(boxes: Sequence[Box], width: int, height: int) -> int:
    """The photo's subject: the largest face, ties broken by closeness to the centre.

    Faces whose area is within 20 % of the largest count as equally large, so a slightly
    larger bystander at the edge does not beat the centred subject.
    """
    if not boxes:
        raise FaceChoiceError("no faces to choose from")
    largest = max(b.area for b in boxes)
    cx, cy = width / 2.0, height / 2.0
    diag = math.hypot(width, height) or 1.0

    def key(i: int) -> tuple[float, float]:
        b = boxes[i]
        bx, by = b.center
        return (-1.0 if b.area >= 0.8 * largest else 0.0, math.hypot(bx - cx, by - cy) / diag)

    return min(range(len(boxes)), key=key)


def largest_index(boxes: Sequence[Box]) -> int:
    if not boxes:
        raise FaceChoiceError("no faces to choose from")
    return max(range(len(boxes)), key=lambda i: boxes[i].area)


def engine_id(identity: dict[str, Any]) -> str:
    """Short stable id of an engine identity (first 16 hex digits of its SHA-256)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def describe_identity(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "an unknown engine"
    models = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted(identity.get("models", {}).items()))
    return f"{identity.get('engine', '?')} {identity.get('dlib', '?')} (models: {models})"
