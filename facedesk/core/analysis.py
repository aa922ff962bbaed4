"""From a loaded image to faces with quality figures: detection on a scaled working copy,
landmarks and encodings on the full-resolution image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facedesk.core import imaging
from facedesk.core.faces import (
    Box,
    Face,
    FaceEngine,
    FaceQuality,
    RawFace,
    eye_distance,
    subject_index,
    yaw_estimate,
)
from facedesk.core.imaging import LoadedImage
from facedesk.errors import FaceChoiceError


@dataclass(frozen=True)
class DetectOptions:
    #: times dlib doubles the working copy before looking; 1 finds faces down to ~40 px,
    #: 2 down to ~20 px (CCTV stills) at four times the cost
    upsample: int = 1
    #: detection runs on a copy whose longer side is at most this many pixels; boxes are
    #: mapped back to the original. 0 = never downscale.
    max_side: int = 1024

    def __post_init__(self) -> None:
        if not 0 <= self.upsample <= 4:
            raise ValueError("upsample must be between 0 and 4")
        if self.max_side < 0:
            raise ValueError("max_side must be >= 0")


def detect(engine: FaceEngine, image: LoadedImage, options: DetectOptions) -> list[Box]:
    """Boxes in original pixels, ordered left to right, then top to bottom."""
    work, scale = imaging.resize_to_max_side(image.rgb, options.max_side)
    boxes = engine.detect(work, options.upsample)
    if scale != 1.0:
        boxes = [b.scaled(scale).clipped(image.width, image.height) for b in boxes]
    boxes = [b for b in boxes if b.width > 0 and b.height > 0]
    return sorted(boxes, key=lambda b: (b.left, b.top))


#: margin around the box in the stored display crop, as a share of the box size
CROP_MARGIN = 0.3


def quality_of(image: LoadedImage, raw: RawFace) -> FaceQuality:
    b = raw.box
    face = imaging.crop(image.rgb, b.top, b.right, b.bottom, b.left)
    return FaceQuality(
        size_px=max(0, min(b.width, b.height)),
        eye_distance_px=eye_distance(raw.landmarks),
        sharpness=imaging.sharpness(face),
        brightness=imaging.brightness(face),
        yaw_deg=yaw_estimate(raw.landmarks),
    )


def display_crop(image: LoadedImage, box: Box) -> bytes:
    mx, my = round(box.width * CROP_MARGIN), round(box.height * CROP_MARGIN)
    region = imaging.crop(image.rgb, box.top - my, box.right + mx, box.bottom + my,
                          box.left - mx)
    if region.size == 0:
        return b""
    return imaging.jpeg_bytes(region)


def describe(engine: FaceEngine, image: LoadedImage, boxes: Sequence[Box],
             first_index: int = 0) -> list[Face]:
    raws = engine.describe(image.rgb, boxes)
    return [
        Face(
            index=first_index + i,
            box=raw.box,
            landmarks=raw.landmarks,
            encoding=raw.encoding,
            quality=quality_of(image, raw),
            crop_jpeg=display_crop(image, raw.box),
        )
        for i, raw in enumerate(raws)
    ]


def all_faces(engine: FaceEngine, image: LoadedImage, options: DetectOptions) -> list[Face]:
    """Every face in the image, each fully described (probes)."""
    boxes = detect(engine, image, options)
    return describe(engine, image, boxes)


def face_in_box(engine: FaceEngine, image: LoadedImage, box: Box) -> Face:
    """Describe a face in a box drawn by hand (when detection found none)."""
    clipped = box.clipped(image.width, image.height)
    if clipped.width < 8 or clipped.height < 8:
        raise FaceChoiceError(
            f"box {box.as_list()} lies outside the {image.width} x {image.height} image "
            "or is smaller than 8 pixels"
        )
    return describe(engine, image, [clipped])[0]


def subject_face(engine: FaceEngine, image: LoadedImage,
                 options: DetectOptions) -> tuple[Face | None, int]:
    """The photo's subject (largest face nearest the centre), fully described, and how
    many faces were found in all. Only the subject is encoded (gallery import)."""
    boxes = detect(engine, image, options)
    if not boxes:
        return None, 0
    i = subject_index(boxes, image.width, image.height)
    return describe(engine, image, [boxes[i]], first_index=i)[0], len(boxes)
