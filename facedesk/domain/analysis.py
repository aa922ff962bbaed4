"""From a loaded image to faces with quality figures: detection on a scaled working copy,
landmarks and encodings on the full-resolution image."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from facedesk.domain import imaging
from facedesk.domain.faces import (
    Box,
    Face,
    FaceEngine,
    FaceQuality,
    RawFace,
    eye_distance,
    roll_estimate,
    subject_index,
    yaw_estimate,
)
from facedesk.domain.imaging import LoadedImage
from facedesk.errors import FaceChoiceError

# --- detection steps -------------------------------------------------------------------------
#
# A step names one way of finding faces, and is what a stored face records as its
# `detector`: "hog:N" / "cnn:N" = dlib's HOG / CNN detector on the working copy doubled N
# times, "frame" = no detector: the central region of a tightly cropped photo is taken as
# the face box (see `frame_box`). The primary detection is the engine's own detector at
# `DetectOptions.upsample`; the fallbacks run, in order, only when it finds no face.

#: the step that takes the central region of a tightly cropped photo as the face
FRAME = "frame"
_DETECTOR_STEP = re.compile(r"^(hog|cnn):([0-4])$")

#: the fallbacks of a gallery import unless told otherwise. Measured on the 67 LFW photos
#: where HOG at upsample 1 finds no face (benchmarks/recovery_lfw.py, one core): the CNN at
#: upsample 0 finds a face in all 67 in 83 ms each (detection alone; HOG at upsample 2:
#: 28 in 177 ms; CNN at upsample 1: 67 in 462 ms). Those faces are hard ones (turned,
#: covered, dark): their median distance to the person's other photos is 0.55 against
#: 0.43 for ordinary photos, so they are searchable but weaker; the step that found
#: them is not the cause (where HOG at upsample 2 also finds the face, both give the same
#: distance). "frame" is a guess no detector confirms (it "finds" a face in a photo of a
#: wall), so it is never on by default.
DEFAULT_IMPORT_FALLBACKS: tuple[str, ...] = ("cnn:0",)

#: "frame" takes a centred square this share of the photo's shorter side as the face box.
#: Measured on LFW photos where HOG finds the face (its box there is 0.43 of the frame,
#: near the centre): the encoding from a centred 0.5 box lies 0.04 from HOG's own (median)
#: and as close to the person's other photos (0.44 vs 0.43); the whole frame as the box
#: gives 0.72 from HOG's own, an unusable encoding.
FRAME_SHARE = 0.5
#: "frame" applies only to photos that look like a crop around one face: both sides
#: between FRAME_MIN_SIDE and FRAME_MAX_SIDE pixels and the longer at most FRAME_MAX_ASPECT
#: times the shorter (LFW 250 x 250, ORL 92 x 112, booking photos 480 x 600 qualify; a
#: scene photo or a scanned page does not)
FRAME_MIN_SIDE = 80
FRAME_MAX_SIDE = 640
FRAME_MAX_ASPECT = 1.5
#: a CNN fallback runs on a copy at most this long: its cost grows faster than the pixel
#: count (measured here, upsample 0: 0.1 s at 250 px, 0.5 s at 512, 0.8 s at 640, 2.2 s at
#: 1024; upsample 1: 0.46 s, 2.4 s, -, 16 s) and gallery faces the HOG missed are rarely
#: small (at upsample 0 it finds faces down to about 80 px of the copy)
CNN_FALLBACK_MAX_SIDE = 640


def check_step(step: str) -> str:
    """`step` if it names a detection step, else ValueError with the accepted forms."""
    if step == FRAME or _DETECTOR_STEP.match(step):
        return step
    raise ValueError(f"unknown detection step {step!r}: use hog:N or cnn:N (N = times "
                     f"the photo is doubled, 0-4) or {FRAME!r}")


@dataclass(frozen=True)
class DetectOptions:
    #: times dlib doubles the working copy before looking; 1 finds faces down to ~40 px,
    #: 2 down to ~20 px (CCTV stills) at four times the cost
    upsample: int = 1
    #: detection runs on a copy whose longer side is at most this many pixels; boxes are
    #: mapped back to the original. 0 = never downscale.
    max_side: int = 1024
    #: steps tried in order, only when the primary detection finds no face, until one
    #: finds a face: "hog:N", "cnn:N", "frame" (see above). () = no fallback.
    fallbacks: tuple[str, ...] = ()
    #: the primary detection first looks at small copies, the first at most this many
    #: pixels long (at upsample 1; twice that at 0, half at 2), each next one 1.73 times
    #: longer, and at the `max_side` copy only when none of them has a face (see
    #: `quick_sides`). 0 = no quick looks: every face counts (probes); a gallery import,
    #: which wants the subject, the largest face, uses them
    #: (importer.DEFAULT_IMPORT_QUICK_SIDE).
    quick_side: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.upsample <= 4:
            raise ValueError("upsample must be between 0 and 4")
        if self.max_side < 0:
            raise ValueError("max_side must be >= 0")
        if self.quick_side < 0:
            raise ValueError("quick_side must be >= 0")
        # a list (from JSON or a command line) is kept as a tuple: options stay hashable
        object.__setattr__(self, "fallbacks", tuple(check_step(s) for s in self.fallbacks))


def primary_step(engine: FaceEngine, options: DetectOptions) -> str:
    return f"{engine.detector}:{options.upsample}"


def _detect_with(engine: FaceEngine, image: LoadedImage, detector: str | None, upsample: int,
                 max_side: int) -> list[Box]:
    work, scale = imaging.resize_to_max_side(image.rgb, max_side)
    boxes = engine.detect(work, upsample, detector)
    if scale != 1.0:
        boxes = [b.scaled(scale).clipped(image.width, image.height) for b in boxes]
    boxes = [b for b in boxes if b.width > 0 and b.height > 0]
    return sorted(boxes, key=lambda b: (b.left, b.top))


def detect(engine: FaceEngine, image: LoadedImage, options: DetectOptions) -> list[Box]:
    """Boxes of the primary detection in original pixels, ordered left to right, then top
    to bottom (no fallbacks: see `find_faces`)."""
    return _detect_with(engine, image, None, options.upsample, options.max_side)


def frame_box(width: int, height: int, share: float = FRAME_SHARE) -> Box | None:
    """The face box the "frame" step assumes: a centred square `share` of the shorter
    side, or None when the photo does not look like a crop around one face."""
    short, long_ = min(width, height), max(width, height)
    if short < FRAME_MIN_SIDE or long_ > FRAME_MAX_SIDE or long_ > FRAME_MAX_ASPECT * short:
        return None
    side = round(share * short)
    left, top = (width - side) // 2, (height - side) // 2
    return Box(top=top, right=left + side, bottom=top + side, left=left)


def detect_step(engine: FaceEngine, image: LoadedImage, step: str,
                options: DetectOptions) -> list[Box]:
    """Boxes found by one fallback step (in original pixels, sorted like `detect`)."""
    if check_step(step) == FRAME:
        box = frame_box(image.width, image.height)
        return [] if box is None else [box]
    kind, upsample = step.split(":")
    max_side = options.max_side
    if kind == "cnn":
        max_side = min(max_side, CNN_FALLBACK_MAX_SIDE) if max_side else CNN_FALLBACK_MAX_SIDE
    return _detect_with(engine, image, kind, int(upsample), max_side)


#: dlib's detectors scan an image pyramid whose levels shrink by 5/6 (pyramid_down<6>);
#: a quick look's copy is the primary copy scaled by a power of it, so the boxes it finds
#: have the sizes the primary detection gives (measured on LFW and booking-like photos:
#: the encodings then lie closer to the primary detection's, 0.031 vs 0.037 on average)
PYRAMID_STEP = 5 / 6
#: each next quick look is this many pyramid levels larger (1.2**3 = 1.73 times longer,
#: three times the pixels: a look that finds nothing costs at most half of the next) ...
QUICK_LEVELS = 3
#: ... and at least this many levels smaller than the primary copy (at most 0.48 of its
#: pixels: a look at a copy almost as large would save little when it finds the face and
#: cost almost as much again when it does not)
QUICK_MIN_LEVELS = 2
#: HOG's smallest box is 72 px of the image it scans (its 80 px window less the margin),
#: and it also fires on faces somewhat smaller than that, with a box too large for them
#: (on booking-like photos a quick look at that size gave boxes a third too large, and
#: encodings 0.18 from the primary detection's in one photo of 20). So a quick look keeps
#: what it found only when the subject's box is at least this many scanned pixels (one
#: pyramid level above the smallest); otherwise the next, larger copy is looked at.
QUICK_MIN_BOX = 80


def quick_sides(width: int, height: int, options: DetectOptions) -> list[int]:
    """The longer sides of the copies `find_faces` looks at before the primary one,
    smallest first; [] when `quick_side` is 0 or no copy would be smaller than the
    primary's."""
    if options.quick_side <= 0:
        return []
    longest = max(width, height)
    primary = min(longest, options.max_side) if options.max_side else longest
    target = options.quick_side * 2.0 ** (1 - options.upsample)
    levels = 0
    while primary * PYRAMID_STEP ** levels > target:
        levels += 1
    sides = []
    while levels >= QUICK_MIN_LEVELS:
        sides.append(max(1, round(primary * PYRAMID_STEP ** levels)))
        levels -= QUICK_LEVELS
    return sides


def find_faces(engine: FaceEngine, image: LoadedImage,
               options: DetectOptions) -> tuple[list[Box], str]:
    """The primary detection's boxes, or, when it finds none, those of the first fallback
    that finds any; with the step that found them ("" when none did).

    With `options.quick_side`, the primary detection (same detector, same upsampling)
    first looks at smaller copies (`quick_sides`), where it costs a fraction of the time,
    and stops at the first that has a face; the usual copy only when none has. A copy
    shows the faces that fill enough of it (at upsample 1, about 40 of its pixels and
    more), so a photo's subject, its largest face, is found on the first copy where it
    is large enough and recorded as the primary step ("hog:1"); smaller faces beside it
    are then not counted."""
    primary = primary_step(engine, options)
    boxes: list[Box] = []
    sides = quick_sides(image.width, image.height, options) if engine.detector == "hog" else []
    for side in sides:
        boxes = _detect_with(engine, image, None, options.upsample, side)
        if boxes:
            # the subject's box in the pixels the detector scanned
            scanned = side / max(image.width, image.height) * 2 ** options.upsample
            largest = max(min(b.width, b.height) for b in boxes)
            if largest * scanned >= QUICK_MIN_BOX:
                break
            boxes = []
    if not boxes:
        boxes = detect(engine, image, options)
    if boxes:
        return boxes, primary
    for step in options.fallbacks:
        if step == primary:  # the same detection again would find nothing again
            continue
        boxes = detect_step(engine, image, step, options)
        if boxes:
            return boxes, step
    return [], ""


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
        roll_deg=roll_estimate(raw.landmarks),
    )


def display_crop(image: LoadedImage, box: Box) -> bytes:
    mx, my = round(box.width * CROP_MARGIN), round(box.height * CROP_MARGIN)
    region = imaging.crop(image.rgb, box.top - my, box.right + mx, box.bottom + my,
                          box.left - mx)
    if region.size == 0:
        return b""
    return imaging.jpeg_bytes(region)


def describe(engine: FaceEngine, image: LoadedImage, boxes: Sequence[Box],
             first_index: int = 0, detector: str = "") -> list[Face]:
    raws = engine.describe(image.rgb, boxes)
    return [
        Face(
            index=first_index + i,
            box=raw.box,
            landmarks=raw.landmarks,
            encoding=raw.encoding,
            quality=quality_of(image, raw),
            crop_jpeg=display_crop(image, raw.box),
            detector=detector,
        )
        for i, raw in enumerate(raws)
    ]


def all_faces(engine: FaceEngine, image: LoadedImage, options: DetectOptions) -> list[Face]:
    """Every face in the image, each fully described (probes)."""
    boxes, step = find_faces(engine, image, options)
    return describe(engine, image, boxes, detector=step)


#: `Face.detector` of a face in a box drawn by hand
DRAWN = "drawn"


def face_in_box(engine: FaceEngine, image: LoadedImage, box: Box) -> Face:
    """Describe a face in a box drawn by hand (when detection found none)."""
    clipped = box.clipped(image.width, image.height)
    if clipped.width < 8 or clipped.height < 8:
        raise FaceChoiceError(
            f"box {box.as_list()} lies outside the {image.width} x {image.height} image "
            "or is smaller than 8 pixels"
        )
    return with_fit(engine, image, describe(engine, image, [clipped], detector=DRAWN)[0])


def subject_face(engine: FaceEngine, image: LoadedImage,
                 options: DetectOptions) -> tuple[Face | None, int]:
    """The photo's subject (largest face nearest the centre), fully described, and how
    many faces were found in all (by the step that found any: the primary detection, or
    the first fallback that did). Only the subject is encoded (gallery import)."""
    boxes, step = find_faces(engine, image, options)
    if not boxes:
        return None, 0
    i = subject_index(boxes, image.width, image.height)
    return describe(engine, image, [boxes[i]], first_index=i, detector=step)[0], len(boxes)


# --- do the landmarks fit the face? -----------------------------------------------------------
#
# dlib's 68-point model expects an upright face in its box. On a face tilted in the image
# plane (a CCTV camera on its side, a head leaning 40°) it either follows the tilt (the eye
# line then shows it: `FaceQuality.roll_deg`) or, past about 30°, draws an upright face
# shape over whatever is in the box (a cap's brim, hair): the encoding then describes the
# wrong thing and the search returns other people. Measured here on 10 LFW faces turned by
# 40° with a box drawn around them: where the model failed its eye line said 2-18°, and
# the encoding lay 0.5-0.8 from the upright face's (benchmarks/tilted_faces.py).
# So the face's own tilt is measured without the landmarks: the detector finds faces tilted
# up to about 20°, so the region is turned in 15° steps and the turns at which it finds a
# face at the centre bracket the tilt. Landmarks whose eye line disagrees with that tilt
# do not fit the face.

#: the region checked is this many times the face box, resized to FIT_REGION_PX
FIT_REGION_SCALE = 2.0
FIT_REGION_PX = 300
#: the turns tried (degrees)
UPRIGHT_STEPS_DEG = tuple(range(-90, 91, 15))
#: a disagreement of this many degrees between the eye line and the face's tilt is a fit of
#: 0; none is 1
FIT_SCALE_DEG = 30.0


def _region(image: LoadedImage, box: Box) -> imaging.RGBArray:
    """The square around `box` (FIT_REGION_SCALE times its longer side) at FIT_REGION_PX."""
    cx, cy = box.center
    side = max(8, round(FIT_REGION_SCALE * max(box.width, box.height)))
    return imaging.square_region(image.rgb, cx, cy, side, FIT_REGION_PX)


def upright_angle(engine: FaceEngine, image: LoadedImage, box: Box) -> float | None:
    """The face's tilt in the picture, in degrees (as `FaceQuality.roll_deg`: + clockwise
    on screen), measured without its landmarks; turning the picture by it with
    `imaging.rotated` makes the face upright. The middle of the turns at which the detector
    finds a face at the region's centre, refined by the eye line of the landmarks there
    (where the face is upright enough for them). None when no turn shows a face."""
    rgb = _region(image, box)
    centre = (FIT_REGION_PX / 2.0, FIT_REGION_PX / 2.0)
    hits: dict[int, Box] = {}

    def look(angle: int) -> bool:
        found = [b for b in engine.detect(imaging.rotated(rgb, angle, expand=False), 0)
                 if math.dist(b.center, centre) < 0.25 * FIT_REGION_PX]
        if found:
            hits[angle] = min(found, key=lambda b: math.dist(b.center, centre))
        return bool(found)

    # outwards from 0 in pairs of turns; a face found unturned whose run of turns has
    # ended on both sides needs no more (an upright face: 5 detections, not 13)
    upright = look(0)
    for step in sorted({abs(a) for a in UPRIGHT_STEPS_DEG} - {0}):
        left, right = look(-step), look(step)
        if upright and not left and not right:
            break
    if not hits:
        return None
    # the longest run of neighbouring turns that found the face, and its middle turn
    runs: list[list[int]] = []
    for angle in sorted(hits):
        if runs and angle - runs[-1][-1] == UPRIGHT_STEPS_DEG[1] - UPRIGHT_STEPS_DEG[0]:
            runs[-1].append(angle)
        else:
            runs.append([angle])
    run = max(runs, key=len)
    middle = sum(run) / len(run)
    best = min(run, key=lambda a: abs(a - middle))
    raw = engine.describe(imaging.rotated(rgb, best, expand=False), [hits[best]])
    extra = roll_estimate(raw[0].landmarks) if raw else 0.0
    return (best + extra + 180.0) % 360.0 - 180.0


def landmark_fit(roll_deg: float, tilt_deg: float) -> float:
    """0..1: how well landmarks with this eye line sit on a face with this tilt (1: they
    agree; 0: FIT_SCALE_DEG or more apart)."""
    apart = abs((roll_deg - tilt_deg + 180.0) % 360.0 - 180.0)
    return max(0.0, 1.0 - apart / FIT_SCALE_DEG)


def with_fit(engine: FaceEngine, image: LoadedImage, face: Face) -> Face:
    """`face` with its landmark fit measured and, when it is tilted or its landmarks do
    not fit, the rotation that makes it upright (probes only: it costs 5 to 13 detections
    on a 300-pixel region; benchmarks/tilted_faces.py). A face the detector sees at no turn
    keeps `landmark_fit` None (not measured)."""
    # imported here: quality's limits are the ones that warn
    from facedesk.domain.quality import MAX_ABS_ROLL_DEG, MIN_LANDMARK_FIT

    tilt = upright_angle(engine, image, face.box)
    if tilt is None:
        return face
    fit = landmark_fit(face.quality.roll_deg, tilt)
    q = replace(face.quality, landmark_fit=fit)
    if fit < MIN_LANDMARK_FIT or max(abs(tilt), abs(q.roll_deg)) > MAX_ABS_ROLL_DEG:
        q = replace(q, upright_deg=tilt)
    return replace(face, quality=q)
