"""CompareView: eye alignment of two differently scaled and rotated faces, synchronised
zoom and pan, landmark overlay, blend and flicker modes, originals and missing files."""

from __future__ import annotations

import ctypes
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QGraphicsEllipseItem,
    QGraphicsView,
    QLabel,
    QPushButton,
    QSlider,
)

from facedesk.domain.alignment import CANVAS, LEFT_EYE, RIGHT_EYE
from facedesk.domain.faces import Box
from facedesk.gui.compare_view import FIT_RECT, CompareView

# the hexagon of six eye landmarks around an eye centre; its mean is exactly the centre
EYE_RING = [(-4, 0), (-2, -2), (2, -2), (4, 0), (2, 2), (-2, 2)]

# probe: small image, eyes 63 px apart, head tilted one way
PROBE_SIZE = (320, 260)  # width, height
PROBE_EYES = ((110, 140), (170, 120))
# candidate: large image, eyes 171 px apart, head tilted the other way
CAND_SIZE = (700, 560)
CAND_EYES = ((260, 300), (420, 360))


def landmarks_for(eyes: tuple[tuple[int, int], tuple[int, int]]) -> list[tuple[int, int]]:
    """68 points: 36-41 around the image-left eye, 42-47 around the other, the rest below."""
    (lx, ly), (rx, ry) = eyes
    cx, cy = (lx + rx) // 2, (ly + ry) // 2
    pts = [(cx - 40 + 5 * i, cy + 40 + (i % 5)) for i in range(36)]
    pts += [(lx + dx, ly + dy) for dx, dy in EYE_RING]
    pts += [(rx + dx, ry + dy) for dx, dy in EYE_RING]
    pts += [(cx - 20 + 2 * i, cy + 70) for i in range(20)]
    assert len(pts) == 68
    return pts


def eye_image(size: tuple[int, int], eyes: tuple[tuple[int, int], ...],
              radius: int) -> np.ndarray:
    """Black image with a white disc centred on each eye pixel."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.zeros((h, w, 3), np.uint8)
    for ex, ey in eyes:
        rgb[(xx - ex) ** 2 + (yy - ey) ** 2 <= radius * radius] = 255
    return rgb


def box_around(eyes: tuple[tuple[int, int], tuple[int, int]]) -> Box:
    (lx, ly), (rx, ry) = eyes
    d = math.hypot(rx - lx, ry - ly)
    cx, cy = (lx + rx) / 2, (ly + ry) / 2
    return Box(round(cy - 0.8 * d), round(cx + 1.25 * d), round(cy + 1.7 * d),
               round(cx - 1.25 * d))


def _void_calls_release_none() -> bool:
    """PySide6 6.12.0 on CPython 3.11 drops one reference to None on every call of a method
    returning void (it assumes Python 3.12's immortal None): after a few thousand Qt calls
    the interpreter aborts with "none_dealloc". 6.11.3 does not; Python 3.12+ is immune."""
    if sys.version_info >= (3, 12):
        return False
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(64):
        label.setText("x")
    return sys.getrefcount(None) < before - 32


@pytest.fixture(scope="module", autouse=True)
def _keep_none_alive(qapp) -> None:
    """Work around that binding bug for these tests only (None is never freed anyway): give
    None a large reserve of references. The application itself needs a fixed PySide6."""
    if _void_calls_release_none():
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 30


@pytest.fixture
def cand_file(tmp_path: Path) -> Path:
    path = tmp_path / "gallery" / "P-1002_a.png"
    path.parent.mkdir()
    Image.fromarray(eye_image(CAND_SIZE, CAND_EYES, 5)).save(path)
    return path


@pytest.fixture
def view(qtbot) -> CompareView:
    cv = CompareView()
    qtbot.addWidget(cv)
    cv.resize(900, 500)
    cv.show()
    qtbot.waitExposed(cv)
    return cv


@pytest.fixture
def loaded(view: CompareView, cand_file: Path) -> CompareView:
    view.set_probe(eye_image(PROBE_SIZE, PROBE_EYES, 4), landmarks_for(PROBE_EYES),
                   box_around(PROBE_EYES), "cctv_still.png", {"path": "/cases/cctv_still.png"})
    view.set_candidate(str(cand_file), landmarks_for(CAND_EYES), box_around(CAND_EYES),
                       "1. P-1002 — Jane Roe",
                       {"person_id": "P-1002", "name": "Jane Roe", "width": 700, "height": 560,
                        "metadata": {"sex": "F", "booking_date": "2019-04-02"}})
    QApplication.processEvents()
    return view


def panes(cv: CompareView) -> tuple[QGraphicsView, QGraphicsView]:
    probe = cv.findChild(QGraphicsView, "probePane")
    cand = cv.findChild(QGraphicsView, "candidatePane")
    assert probe is not None and cand is not None
    return probe, cand


def to_scene(item, point: tuple[float, float]) -> tuple[float, float]:
    p = item.mapToScene(QPointF(*point))
    return p.x(), p.y()


def close(a: tuple[float, float], b: tuple[float, float], tol: float = 1.0) -> bool:
    return math.hypot(a[0] - b[0], a[1] - b[1]) <= tol


def bright_centroid(img: QImage, near: tuple[float, float], half: int = 20) -> tuple[float,
                                                                                   float]:
    """Intensity-weighted centroid of the bright pixels near `near`, in scene coordinates
    (a pixel's centre is at index + 0.5 when the image renders scene rect 0..CANVAS)."""
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    grey = arr[:, : img.width() * 4].reshape(img.height(), img.width(), 4)[:, :, 1]
    x0, y0 = int(near[0]) - half, int(near[1]) - half
    win = grey[y0:y0 + 2 * half, x0:x0 + 2 * half].astype(np.float64)
    win[win < 40] = 0
    assert win.sum() > 0, f"nothing bright near {near}"
    ys, xs = np.mgrid[0:win.shape[0], 0:win.shape[1]]
    return (x0 + (xs * win).sum() / win.sum() + 0.5, y0 + (ys * win).sum() / win.sum() + 0.5)


def render_canvas(view: QGraphicsView) -> QImage:
    img = QImage(CANVAS, CANVAS, QImage.Format.Format_RGB32)
    img.fill(QColor("black"))
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    view.scene().render(painter, QRectF(0, 0, CANVAS, CANVAS), QRectF(0, 0, CANVAS, CANVAS))
    painter.end()
    return img


# --- alignment: the key property ----------------------------------------------------------


def test_eyes_of_both_faces_land_on_the_same_scene_points(loaded: CompareView) -> None:
    probe_item = loaded.face_item("probe")
    cand_item = loaded.face_item("candidate")
    assert probe_item is not None and cand_item is not None
    probe_pane, cand_pane = panes(loaded)
    assert probe_item.scene() is probe_pane.scene()
    assert cand_item.scene() is cand_pane.scene()
    # different scales and rotations go in...
    assert loaded.alignment("probe")[0].scale > 1.5 > 1.0 > loaded.alignment("candidate")[0].scale
    for i in range(2):
        p = to_scene(probe_item, PROBE_EYES[i])
        c = to_scene(cand_item, CAND_EYES[i])
        # ...and the eyes come out at the same scene points: the canvas eye positions
        assert close(p, c), (i, p, c)
        assert close(p, (LEFT_EYE, RIGHT_EYE)[i], 0.01)
    assert loaded.alignment("probe")[1] == loaded.alignment("candidate")[1] == "eyes"


def test_rendered_eye_pixels_line_up(loaded: CompareView) -> None:
    """What is drawn, not only the transform: the white eye discs of both photos render
    centred on the canvas eye points (catches a wrong pixel origin or a transposed matrix)."""
    probe_pane, cand_pane = panes(loaded)
    for pane in (probe_pane, cand_pane):
        img = render_canvas(pane)
        for target in (LEFT_EYE, RIGHT_EYE):
            got = bright_centroid(img, target)
            assert close(got, target), (pane.objectName(), target, got)


def test_face_without_landmarks_is_placed_by_its_box(view: CompareView) -> None:
    box = Box(top=40, right=260, bottom=240, left=60)
    view.set_probe(eye_image(PROBE_SIZE, (), 1), [], box, "drawn box")
    sim, how = view.alignment("probe")
    assert how == "box" and sim is not None
    item = view.face_item("probe")
    left, top = to_scene(item, (box.left, box.top))
    right, _ = to_scene(item, (box.right, box.top))
    # upright, centred on the canvas, eyes' height about a third down the box
    assert abs(sim.rotation_deg) < 1e-9
    assert abs((left + right) / 2 - CANVAS / 2) < 0.15 * CANVAS
    assert 0.5 * CANVAS < right - left < 0.9 * CANVAS
    assert top < LEFT_EYE[1]
    note = view.findChild(QLabel, "probeNote")
    assert "face box" in note.text()


# --- synchronised zoom and pan ------------------------------------------------------------


def test_zoom_buttons_change_both_panes_identically(loaded: CompareView, qtbot) -> None:
    probe_pane, cand_pane = panes(loaded)
    before = probe_pane.transform().m11()
    assert cand_pane.transform() == probe_pane.transform()
    loaded.zoom_in()
    assert probe_pane.transform().m11() == pytest.approx(before * 1.25)
    assert cand_pane.transform() == probe_pane.transform()
    qtbot.mouseClick(loaded.findChild(QAbstractButton, "zoomOut"), Qt.MouseButton.LeftButton)
    assert probe_pane.transform().m11() == pytest.approx(before)
    assert cand_pane.transform() == probe_pane.transform()


def test_wheel_on_candidate_zooms_probe_too(loaded: CompareView) -> None:
    probe_pane, cand_pane = panes(loaded)
    before = cand_pane.transform().m11()
    at = QPointF(cand_pane.viewport().width() * 0.3, cand_pane.viewport().height() * 0.4)
    scene_at = cand_pane.mapToScene(at.toPoint())
    event = QWheelEvent(at, cand_pane.viewport().mapToGlobal(at), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(cand_pane.viewport(), event)
    assert cand_pane.transform().m11() == pytest.approx(before * 1.25 ** 2)
    assert probe_pane.transform() == cand_pane.transform()
    # zoomed about the mouse: the scene point under it stayed (to a pixel)
    back = cand_pane.mapFromScene(scene_at)
    assert abs(back.x() - at.x()) <= 1.5 and abs(back.y() - at.y()) <= 1.5
    # and the probe pane shows the same part of the canvas
    assert close(_centre(probe_pane), _centre(cand_pane), 1.0 / probe_pane.transform().m11())
    assert not loaded.is_fitted()


def _centre(pane: QGraphicsView) -> tuple[float, float]:
    p = pane.mapToScene(pane.viewport().rect().center())
    return p.x(), p.y()


def test_scrolling_one_pane_scrolls_the_other(loaded: CompareView) -> None:
    probe_pane, cand_pane = panes(loaded)
    for _ in range(4):
        loaded.zoom_in()
    h_probe, h_cand = probe_pane.horizontalScrollBar(), cand_pane.horizontalScrollBar()
    v_probe, v_cand = probe_pane.verticalScrollBar(), cand_pane.verticalScrollBar()
    assert h_probe.maximum() > 100
    h_probe.setValue(h_probe.minimum() + 37)
    assert abs(h_cand.value() - h_probe.value()) <= 1
    v_cand.setValue(v_cand.maximum() - 11)
    assert abs(v_probe.value() - v_cand.value()) <= 1
    assert close(_centre(probe_pane), _centre(cand_pane), 1.0 / probe_pane.transform().m11())


def test_fit_shows_the_canvas_in_both_panes(loaded: CompareView) -> None:
    probe_pane, cand_pane = panes(loaded)
    for _ in range(3):
        loaded.zoom_in()
    loaded.fit()
    assert loaded.is_fitted()
    assert cand_pane.transform() == probe_pane.transform()
    for pane in (probe_pane, cand_pane):
        visible = pane.mapToScene(pane.viewport().rect()).boundingRect()
        assert visible.adjusted(-1, -1, 1, 1).contains(FIT_RECT)


# --- landmarks ----------------------------------------------------------------------------


def visible_dots(pane: QGraphicsView) -> list:
    # (not item.data(): in PySide6 6.12 reading an unset key over-releases None and
    # eventually aborts the interpreter)
    return [i for i in pane.scene().items()
            if isinstance(i, QGraphicsEllipseItem) and i.isVisible()]


def test_landmark_toggle_shows_and_hides_dots_on_both_faces(loaded: CompareView,
                                                             qtbot) -> None:
    probe_pane, cand_pane = panes(loaded)
    button = loaded.findChild(QAbstractButton, "landmarksButton")
    assert button.isCheckable() and not button.isChecked()
    assert visible_dots(probe_pane) == [] and visible_dots(cand_pane) == []
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert loaded.landmarks_visible()
    assert len(visible_dots(probe_pane)) == 68 and len(visible_dots(cand_pane)) == 68
    # the dots go through the same alignment: the eye rings surround the canvas eye points
    probe_ring = [d.scenePos() for d in loaded.landmark_items("probe")[36:42]]
    cand_ring = [d.scenePos() for d in loaded.landmark_items("candidate")[42:48]]
    assert close((sum(p.x() for p in probe_ring) / 6, sum(p.y() for p in probe_ring) / 6),
                 LEFT_EYE)
    assert close((sum(p.x() for p in cand_ring) / 6, sum(p.y() for p in cand_ring) / 6),
                 RIGHT_EYE)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert visible_dots(probe_pane) == [] and visible_dots(cand_pane) == []
    # the slot (for the window's menu action) checks the button and reports the change
    with qtbot.waitSignal(loaded.landmarksChanged) as changed:
        loaded.set_landmarks_visible(True)
    assert changed.args == [True] and button.isChecked()
    assert len(visible_dots(probe_pane)) == 68


# --- modes --------------------------------------------------------------------------------


def test_blend_slider_sets_candidate_opacity_over_probe(loaded: CompareView, qtbot) -> None:
    qtbot.mouseClick(loaded.findChild(QAbstractButton, "modeBlend"),
                     Qt.MouseButton.LeftButton)
    assert loaded.mode() == "blend"
    overlay = loaded.findChild(QGraphicsView, "overlayPane")
    assert overlay.isVisible() and not panes(loaded)[1].isVisible()
    top = loaded.face_item("overlay_candidate")
    bottom = loaded.face_item("overlay_probe")
    assert top.scene() is overlay.scene() is bottom.scene()
    assert top.zValue() > bottom.zValue()
    slider = loaded.findChild(QSlider, "blendSlider")
    assert slider.isVisible()
    slider.setValue(30)
    assert top.opacity() == pytest.approx(0.30)
    slider.setValue(100)
    assert top.opacity() == pytest.approx(1.0)
    assert bottom.isVisible() and top.isVisible()
    # aligned in the overlay too
    assert close(to_scene(top, CAND_EYES[0]), to_scene(bottom, PROBE_EYES[0]))


def test_flicker_alternates_and_stops_on_mode_change(loaded: CompareView, qtbot) -> None:
    loaded.set_mode("flicker")
    timer = loaded.flicker_timer
    assert timer.isActive() and 300 <= timer.interval() <= 700
    probe = loaded.face_item("overlay_probe")
    cand = loaded.face_item("overlay_candidate")
    assert probe.isVisible() and not cand.isVisible()
    qtbot.waitUntil(lambda: cand.isVisible() and not probe.isVisible(), timeout=2000)
    assert cand.opacity() == 1.0
    qtbot.waitUntil(lambda: probe.isVisible() and not cand.isVisible(), timeout=2000)
    # pause, play
    loaded.set_flicker_paused(True)
    assert not timer.isActive()
    loaded.set_flicker_paused(False)
    assert timer.isActive()
    # hiding the widget stops it; showing resumes
    loaded.hide()
    assert not timer.isActive()
    loaded.show()
    assert timer.isActive()
    loaded.set_mode("side")
    assert not timer.isActive()
    assert probe.isVisible() and cand.isVisible()


def test_unknown_mode_is_refused(view: CompareView) -> None:
    with pytest.raises(ValueError, match="unknown compare mode"):
        view.set_mode("sideways")


# --- originals and missing files ----------------------------------------------------------


def test_missing_candidate_file_shows_not_found_in_the_pane(view: CompareView,
                                                            tmp_path: Path) -> None:
    gone = tmp_path / "moved" / "P-7.jpg"
    view.set_probe(eye_image(PROBE_SIZE, PROBE_EYES, 4), landmarks_for(PROBE_EYES),
                   box_around(PROBE_EYES), "still.png")
    view.set_candidate(str(gone), landmarks_for(CAND_EYES), box_around(CAND_EYES),
                       "3. P-7 — John Doe", {"person_id": "P-7", "name": "John Doe"})
    _, cand_pane = panes(view)
    label = cand_pane.findChild(QLabel, "candidatePaneMessage")
    assert label is not None and label.isVisible()
    assert label.text() == f"Original photo not found: {gone}"
    assert view.face_item("candidate") is None
    assert view.findChild(QLabel, "candidateCaption").text() == "3. P-7 — John Doe"
    # blend with a missing candidate says so too
    view.set_mode("blend")
    assert "Original photo not found" in view.findChild(QGraphicsView, "overlayPane").message()
    # the details can still be opened
    dialog = view.open_candidate_original()
    assert dialog is not None
    assert dialog.view.message() == f"Original photo not found: {gone}"
    assert ("Person id", "P-7") in dialog.rows()
    dialog.close()


def test_damaged_candidate_file_is_reported(view: CompareView, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    view.set_candidate(str(bad), [], None, "1. X", {})
    assert panes(view)[1].message().startswith("Original photo cannot be shown:")


def test_changed_candidate_file_is_shown_with_a_warning(view: CompareView,
                                                        cand_file: Path) -> None:
    view.set_candidate(cand_file, landmarks_for(CAND_EYES), None, "1. P", {"sha256": "0" * 64})
    assert view.face_item("candidate") is not None
    assert "changed since it was imported" in view.findChild(QLabel, "candidateNote").text()


def test_open_original_shows_photo_and_every_metadata_field(loaded: CompareView, qtbot,
                                                            cand_file: Path) -> None:
    with qtbot.waitSignal(loaded.originalOpened) as opened:
        qtbot.mouseClick(loaded.findChild(QPushButton, "openCandidateOriginal"),
                         Qt.MouseButton.LeftButton)
    assert opened.args == ["candidate"]
    (dialog,) = loaded.open_dialogs()
    assert dialog.isVisible() and dialog.view.message() == ""
    rows = dict(dialog.rows())
    assert rows["Path"] == str(cand_file)
    assert rows["Size"] == "700 × 560 px"
    assert rows["Person id"] == "P-1002" and rows["Name"] == "Jane Roe"
    assert rows["sex"] == "F" and rows["booking_date"] == "2019-04-02"
    assert dialog.scene.itemsBoundingRect().width() >= 700
    dialog.close()
    qtbot.waitUntil(lambda: loaded.open_dialogs() == [])
    qtbot.mouseClick(loaded.findChild(QPushButton, "openProbeOriginal"),
                     Qt.MouseButton.LeftButton)
    (probe_dialog,) = loaded.open_dialogs()
    assert dict(probe_dialog.rows())["Size"] == "320 × 260 px"
    probe_dialog.close()


def test_clear_and_empty_states(loaded: CompareView) -> None:
    loaded.clear_candidate()
    assert loaded.face_item("candidate") is None and loaded.face_item("probe") is not None
    assert not loaded.findChild(QPushButton, "openCandidateOriginal").isEnabled()
    assert panes(loaded)[1].message() != ""
    loaded.clear()
    assert loaded.face_item("probe") is None
    assert panes(loaded)[0].scene().items() == []
    assert not loaded.findChild(QPushButton, "openProbeOriginal").isEnabled()

