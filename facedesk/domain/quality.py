"""Plain-language warnings about a probe face's quality.

The thresholds below are documented in the README ("Quality figures"). They are cautious
rules of thumb for dlib's 128-d encoder (trained on faces of roughly 150 x 150 pixels
with eyes about 40-60 pixels apart), not measured error rates: a face that passes them
can still give poor candidates, and one that fails them is not useless, only less
reliable.
"""

from __future__ import annotations

from dataclasses import dataclass

from facedesk.domain.faces import FaceQuality

#: (figure, threshold) -> warning; a warning is raised when the figure is below the
#: minimum or above the maximum
MIN_SIZE_PX = 80
MIN_EYE_DISTANCE_PX = 30
MIN_SHARPNESS = 30.0
MIN_BRIGHTNESS = 50.0
MAX_BRIGHTNESS = 215.0
MAX_ABS_YAW_DEG = 30.0
#: tilt of the eye line beyond which the probe should be turned upright (the 68-point
#: model and the encoder were trained on upright faces; see analysis.landmark_fit)
MAX_ABS_ROLL_DEG = 20.0
#: below this the landmarks' eye line is more than 15° from the face's own tilt: they do
#: not sit on the face (analysis.landmark_fit)
MIN_LANDMARK_FIT = 0.5


@dataclass(frozen=True)
class QualityCheck:
    figure: str  # "size_px", "eye_distance_px", ...
    label: str  # "Face size"
    value: float
    display: str  # "64 px"
    ok: bool
    warning: str  # plain words when not ok, "" otherwise


def _angle_check(figure: str, label: str, degrees: float, limit: float,
                 warning: str) -> QualityCheck:
    ok = abs(degrees) <= limit
    return QualityCheck(figure, label, degrees, f"{degrees:+.0f}°", ok, "" if ok else warning)


def check(q: FaceQuality) -> list[QualityCheck]:
    """One entry per figure, in the order the quality panel shows them."""
    out = [
        QualityCheck("size_px", "Face size", q.size_px, f"{q.size_px} px",
                     q.size_px >= MIN_SIZE_PX,
                     f"The face is small ({q.size_px} px; {MIN_SIZE_PX} px or more is "
                     "advised): fine detail is missing and distances are less reliable."),
        QualityCheck("eye_distance_px", "Between the eyes", q.eye_distance_px,
                     f"{q.eye_distance_px:.0f} px", q.eye_distance_px >= MIN_EYE_DISTANCE_PX,
                     f"Only {q.eye_distance_px:.0f} px between the eyes (at least "
                     f"{MIN_EYE_DISTANCE_PX} advised): too little resolution for a reliable "
                     "search."),
        QualityCheck("sharpness", "Sharpness", q.sharpness, f"{q.sharpness:.0f}",
                     q.sharpness >= MIN_SHARPNESS,
                     f"The face is blurred (sharpness {q.sharpness:.0f}, below "
                     f"{MIN_SHARPNESS:.0f}): motion blur or heavy compression hides "
                     "features."),
    ]
    bright_ok = MIN_BRIGHTNESS <= q.brightness <= MAX_BRIGHTNESS
    if q.brightness < MIN_BRIGHTNESS:
        bright_msg = (f"The face is dark (brightness {q.brightness:.0f} of 255, below "
                      f"{MIN_BRIGHTNESS:.0f}): features may be lost in shadow.")
    else:
        bright_msg = (f"The face is over-exposed (brightness {q.brightness:.0f} of 255, above "
                      f"{MAX_BRIGHTNESS:.0f}): features may be washed out.")
    out.append(QualityCheck("brightness", "Brightness", q.brightness, f"{q.brightness:.0f}",
                            bright_ok, "" if bright_ok else bright_msg))
    turn = ("" if q.upright_deg is None else
            f" Turn the probe upright (about {abs(q.upright_deg):.0f}° "
            f"{'anticlockwise' if q.upright_deg > 0 else 'clockwise'}) and search that.")
    out.append(_angle_check(
        "yaw_deg", "Pose (turn)", q.yaw_deg, MAX_ABS_YAW_DEG,
        f"The head is turned about {abs(q.yaw_deg):.0f}° (more than {MAX_ABS_YAW_DEG:.0f}°): "
        "booking photos are frontal, so distances grow even for the same person."))
    out.append(_angle_check(
        "roll_deg", "Tilt in the picture", q.roll_deg, MAX_ABS_ROLL_DEG,
        f"The face is tilted about {abs(q.roll_deg):.0f}° in the picture (more than "
        f"{MAX_ABS_ROLL_DEG:.0f}°): the landmarks and the encoding expect an upright face, "
        f"so distances grow and other people come closer.{turn}"))
    if q.landmark_fit is not None:
        fit_ok = q.landmark_fit >= MIN_LANDMARK_FIT
        out.append(QualityCheck(
            "landmark_fit", "Landmark fit", q.landmark_fit, f"{q.landmark_fit:.2f}", fit_ok,
            "" if fit_ok else
            f"The 68 landmarks do not fit this face (fit {q.landmark_fit:.2f}; "
            f"{MIN_LANDMARK_FIT:.1f} or more expected): they sit on something else (a cap, "
            "hair, the background), so the search compares the wrong thing and its "
            f"candidates mean nothing.{turn or ' Draw the box again, closer around the face.'}"))
    return [c if not c.ok else QualityCheck(c.figure, c.label, c.value, c.display, True, "")
            for c in out]


def warnings(q: FaceQuality) -> list[str]:
    return [c.warning for c in check(q) if not c.ok]
