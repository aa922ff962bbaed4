from __future__ import annotations

import pytest
from fakes import _T

from facedesk.domain.faces import Box, eye_distance, largest_index, subject_index, yaw_estimate
from facedesk.errors import FaceChoiceError


def test_box_parse_and_errors() -> None:
    assert Box.parse("10, 60, 70,5") == Box(10, 60, 70, 5)
    with pytest.raises(FaceChoiceError, match="four whole numbers"):
        Box.parse("1,2,3")
    with pytest.raises(FaceChoiceError, match="empty"):
        Box.parse("50,10,40,20")


def test_box_scaling_maps_back_to_original() -> None:
    assert Box(10, 40, 30, 20).scaled(0.5) == Box(20, 80, 60, 40)
    assert Box(-5, 300, 250, -1).clipped(200, 100) == Box(0, 200, 100, 0)


def test_subject_is_the_large_face_near_the_centre() -> None:
    centre = Box(40, 130, 130, 70)  # 60x90, centred in 200x160
    bystander = Box(0, 64, 95, 0)  # slightly larger but in the corner (5760 vs 5400)
    small_centre = Box(70, 110, 90, 90)
    boxes = [bystander, centre, small_centre]
    assert subject_index(boxes, 200, 160) == 1
    # a clearly larger face wins even off-centre
    big = Box(0, 120, 160, 0)
    assert subject_index([centre, big], 200, 160) == 1
    assert largest_index([centre, big]) == 1
    with pytest.raises(FaceChoiceError):
        subject_index([], 10, 10)


def _points(shift: float = 0.0) -> list[tuple[int, int]]:
    pts = [(round(100 * x), round(100 * y)) for x, y in _T]
    nose = pts[30]
    pts[30] = (round(nose[0] + shift), nose[1])
    return pts


def test_yaw_from_landmarks() -> None:
    assert yaw_estimate(_points()) == pytest.approx(0.0, abs=1.0)
    assert yaw_estimate(_points(+30)) > 20
    assert yaw_estimate(_points(-30)) < -20
    assert yaw_estimate(_points(+200)) == pytest.approx(90.0)
    assert yaw_estimate([]) == 0.0


def test_eye_distance() -> None:
    # template eyes: centres at x = 0.355 and 0.645 of a 100 px box
    assert eye_distance(_points()) == pytest.approx(29, abs=1.5)
