"""The probe region: boxes and numbers on the still, choosing a face by click or picker,
drawing a box when detection fails, and the quality panel's warnings (fake engine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEngine, face_photo, no_face, save_png
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QSpinBox

from facedesk.app.search import Probe, analyze_probe, choose_face
from facedesk.domain import quality
from facedesk.domain.faces import Box, Face, FaceQuality
from facedesk.gui.probe_panel import (
    BOX_COLOUR,
    EMPTY_PROBE_TEXT,
    NO_FACE_HINT,
    QUALITY_EMPTY_TEXT,
    QUALITY_OK_TEXT,
    SELECTED_COLOUR,
    ProbePanel,
    ProbeView,
    QualityPanel,
    rgb_to_qimage,
)

SMALL = Box(30, 110, 110, 30)  # 80 px, left: "Face 1"
LARGE = Box(60, 330, 180, 210)  # 120 px, right: "Face 2"


@pytest.fixture
def two_face_probe(tmp_path: Path) -> Probe:
    path = save_png(face_photo([(1, SMALL), (2, LARGE)], size=(420, 260)),
                    tmp_path / "two.png")
    return analyze_probe(FakeEngine(), path)


@pytest.fixture
def no_face_probe(tmp_path: Path) -> Probe:
    return analyze_probe(FakeEngine(), save_png(no_face(), tmp_path / "blank.png"))


@pytest.fixture
def panel(qtbot) -> ProbePanel:
    p = ProbePanel()
    qtbot.addWidget(p)
    p.resize(420, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


def view_of(panel: ProbePanel) -> ProbeView:
    view = panel.findChild(ProbeView, "probeView")
    assert view is not None
    return view


def to_view(view: ProbeView, x: float, y: float) -> QPoint:
    """Image pixel coordinates -> viewport coordinates."""
    return view.mapFromScene(QPointF(x, y))


def make_face(q: FaceQuality, index: int = 0) -> Face:
    return Face(index=index, box=Box(10, 10 + q.size_px, 10 + q.size_px, 10),
                landmarks=[], encoding=np.zeros(128, dtype=np.float32), quality=q)


def near_colour(img, x: int, y: int, colour: QColor, radius: int = 3, tol: int = 40) -> bool:
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            px, py = x + dx, y + dy
            if not (0 <= px < img.width() and 0 <= py < img.height()):
                continue
            c = img.pixelColor(px, py)
            if (abs(c.red() - colour.red()) <= tol and abs(c.green() - colour.green()) <= tol
                    and abs(c.blue() - colour.blue()) <= tol):
                return True
    return False


# --- two faces -------------------------------------------------------------------------


def test_two_faces_are_boxed_numbered_and_the_largest_is_chosen(qtbot, panel, two_face_probe):
    assert [f.box for f in two_face_probe.faces] == [SMALL, LARGE]
    with qtbot.waitSignal(panel.face_selected) as sig:
        panel.set_probe(two_face_probe)
    assert sig.args[0].index == 1

    view = view_of(panel)
    items = view.box_items()
    assert [it.label for it in items] == ["1", "2"]
    assert [(it.rect.left(), it.rect.top(), it.rect.width(), it.rect.height())
            for it in items] == [(30, 30, 80, 80), (210, 60, 120, 120)]
    assert view.selected_position() == 1
    assert [it.selected for it in items] == [False, True]
    assert items[1].pen_width() > items[0].pen_width()
    assert items[1].colour() != items[0].colour()

    picker = panel.findChild(object, "faceList")
    assert [picker.itemText(i) for i in range(picker.count())] == [
        "Face 1 (80 px)", "Face 2 (120 px)"]
    assert picker.currentIndex() == 1
    assert panel.selected_face().index == 1
    assert panel.findChild(QualityPanel, "qualityPanel").face().index == 1
    assert not panel.findChild(QLabel, "noFaceHint").isVisible()

    # the boxes are really painted: the chosen one cyan, the other light grey
    img = view.viewport().grab().toImage()
    sel = to_view(view, LARGE.left, (LARGE.top + LARGE.bottom) / 2)
    other = to_view(view, SMALL.left, (SMALL.top + SMALL.bottom) / 2)
    assert near_colour(img, sel.x(), sel.y(), SELECTED_COLOUR)
    assert near_colour(img, other.x(), other.y(), BOX_COLOUR)
    assert not near_colour(img, other.x(), other.y(), SELECTED_COLOUR)


def test_clicking_the_other_box_selects_it(qtbot, panel, two_face_probe):
    panel.set_probe(two_face_probe)
    view = view_of(panel)
    with qtbot.waitSignal(panel.face_selected, timeout=2000) as sig:
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=to_view(view, 45, 95))  # inside Face 1, off-centre
    assert sig.args[0].index == 0
    assert sig.args[0].box == SMALL
    assert panel.selected_face().index == 0
    assert view.selected_position() == 0
    assert [it.selected for it in view.box_items()] == [True, False]
    assert panel.findChild(object, "faceList").currentIndex() == 0
    assert panel.findChild(QualityPanel, "qualityPanel").title.text() == "Quality: Face 1"

    # a click on the background changes nothing
    with qtbot.assertNotEmitted(panel.face_selected):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=to_view(view, 160, 220))
    assert panel.selected_face().index == 0


def test_picker_moves_the_highlight(qtbot, panel, two_face_probe):
    panel.set_probe(two_face_probe)
    picker = panel.findChild(object, "faceList")
    with qtbot.waitSignal(panel.face_selected) as sig:
        picker.setCurrentIndex(0)
    assert sig.args[0].index == 0
    assert view_of(panel).selected_position() == 0


# --- no face: hint, draw a box, detect again ---------------------------------------------


def drag(view: ProbeView, start: QPoint, end: QPoint) -> None:
    vp = view.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    mid = QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2)
    QTest.mouseMove(vp, mid)
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_no_face_shows_hint_and_a_drawn_box_comes_back_in_image_pixels(
        qtbot, panel, no_face_probe):
    assert no_face_probe.faces == []
    panel.set_probe(no_face_probe)
    hint = panel.findChild(QLabel, "noFaceHint")
    assert hint.isVisible()
    assert hint.text() == NO_FACE_HINT
    assert panel.selected_face() is None
    assert panel.findChild(QSpinBox, "upsampleSpin").value() == 2
    assert not panel.findChild(object, "faceList").isEnabled()

    view = view_of(panel)
    assert view.current_scale() > 1.5  # the 200 x 160 still is fitted, enlarged
    draw = panel.findChild(QPushButton, "drawBoxButton")
    qtbot.mouseClick(draw, Qt.MouseButton.LeftButton)
    assert draw.isChecked() and view.draw_mode()

    with qtbot.waitSignal(panel.box_drawn, timeout=2000) as sig:
        drag(view, to_view(view, 40, 30), to_view(view, 120, 110))
    box = sig.args[0]
    assert isinstance(box, Box)
    for got, want in zip(box.as_list(), [30, 120, 110, 40], strict=True):
        assert abs(got - want) <= 1, (box, "vs top,right,bottom,left 30,120,110,40")
    assert view.pending_box() is not None  # shown while the engine describes it
    assert not draw.isChecked() and not view.draw_mode()

    # the window has the engine describe the box and hands the face back
    face = choose_face(FakeEngine(), no_face_probe, box=box)
    with qtbot.waitSignal(panel.face_selected) as sel:
        panel.set_face(face)
    assert sel.args[0].index == -1
    picker = panel.findChild(object, "faceList")
    assert picker.itemText(picker.currentIndex()).startswith("Drawn box (")
    assert picker.isEnabled()
    assert panel.selected_face().index == -1
    assert [it.label for it in view.box_items()] == ["Drawn"]
    assert view.pending_box() is None
    assert not hint.isVisible()


def test_drawn_box_is_clipped_to_the_image(qtbot, panel, no_face_probe):
    panel.set_probe(no_face_probe)
    view = view_of(panel)
    view.set_draw_mode(True)
    assert panel.findChild(QPushButton, "drawBoxButton").isChecked()
    beyond = to_view(view, 260, 230)  # past the 200 x 160 still's bottom-right corner
    beyond = QPoint(min(beyond.x(), view.viewport().width() - 1),
                    min(beyond.y(), view.viewport().height() - 1))
    with qtbot.waitSignal(view.box_drawn, timeout=2000) as sig:
        drag(view, to_view(view, 150, 100), beyond)
    box = sig.args[0]
    assert box.right == 200 and box.bottom == 160
    assert abs(box.left - 150) <= 1 and abs(box.top - 100) <= 1


def test_a_click_in_draw_mode_draws_nothing(qtbot, panel, no_face_probe):
    panel.set_probe(no_face_probe)
    view = view_of(panel)
    view.set_draw_mode(True)
    with qtbot.assertNotEmitted(view.box_drawn):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=to_view(view, 50, 50))
    assert view.pending_box() is None


def test_detect_again_and_busy(qtbot, panel, two_face_probe, no_face_probe):
    panel.set_probe(no_face_probe)
    detect = panel.findChild(QPushButton, "detectAgainButton")
    spin = panel.findChild(QSpinBox, "upsampleSpin")
    assert (spin.minimum(), spin.maximum()) == (1, 4)
    spin.setValue(3)
    with qtbot.waitSignal(panel.redetect_requested) as sig:
        qtbot.mouseClick(detect, Qt.MouseButton.LeftButton)
    assert sig.args == [3]

    panel.set_probe(two_face_probe)
    assert spin.value() == 1  # a new still starts from the default again
    panel.set_busy(True)
    for name in ("drawBoxButton", "detectAgainButton", "upsampleSpin", "faceList"):
        assert not panel.findChild(object, name).isEnabled(), name
    view = view_of(panel)
    with qtbot.assertNotEmitted(panel.face_selected):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                         pos=to_view(view, 70, 70))
    assert panel.selected_face().index == 1
    panel.set_busy(False)
    for name in ("drawBoxButton", "detectAgainButton", "upsampleSpin", "faceList"):
        assert panel.findChild(object, name).isEnabled(), name


def test_empty_state(qtbot, panel, two_face_probe):
    assert panel.findChild(QLabel, "probeEmptyText").text() == EMPTY_PROBE_TEXT
    assert panel.findChild(QLabel, "probeEmptyText").isVisible()
    assert not panel.findChild(QPushButton, "drawBoxButton").isEnabled()
    with qtbot.waitSignal(panel.open_requested):
        qtbot.mouseClick(panel.findChild(QPushButton, "openProbeButton"),
                         Qt.MouseButton.LeftButton)
    panel.set_probe(two_face_probe)
    assert not panel.findChild(QLabel, "probeEmptyText").isVisible()
    with qtbot.waitSignal(panel.face_selected) as sig:
        panel.set_probe(None)
    assert sig.args == [None]
    assert panel.selected_face() is None
    assert view_of(panel).box_items() == []


# --- zoom ----------------------------------------------------------------------------------


def test_wheel_zooms_and_resize_refits_until_then(qtbot, panel, two_face_probe):
    panel.set_probe(two_face_probe)
    view = view_of(panel)
    fitted = view.current_scale()
    panel.resize(360, 800)  # the still is wider than tall: width sets the scale
    qtbot.waitUntil(lambda: abs(view.current_scale() - fitted) > 1e-6)
    refitted = view.current_scale()
    assert view.is_fitted()

    centre = view.viewport().rect().center()
    wheel = QWheelEvent(QPointF(centre), QPointF(view.viewport().mapToGlobal(centre)),
                        QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), wheel)
    zoomed = view.current_scale()
    assert zoomed == pytest.approx(refitted * 1.25)
    assert not view.is_fitted()
    panel.resize(420, 800)
    QApplication.processEvents()
    assert view.current_scale() == pytest.approx(zoomed)  # the user's zoom is kept

    qtbot.mouseClick(panel.findChild(object, "fitButton"), Qt.MouseButton.LeftButton)
    assert view.is_fitted()
    assert view.current_scale() == pytest.approx(fitted, rel=0.02)


# --- quality panel ---------------------------------------------------------------------------


def test_quality_panel_warns_about_a_tiny_blurred_face(qtbot):
    qp = QualityPanel()
    qtbot.addWidget(qp)
    qp.resize(400, 500)
    qp.show()
    assert qp.empty_label.isVisible() and qp.empty_label.text() == QUALITY_EMPTY_TEXT

    q = FaceQuality(size_px=30, eye_distance_px=10.0, sharpness=5.0, brightness=120.0,
                    yaw_deg=0.0)
    qp.set_face(make_face(q))
    assert not qp.empty_label.isVisible()
    assert qp.warning_count() == 3
    summary = qp.findChild(QLabel, "qualitySummary")
    assert summary.text() == "3 warnings: results from this probe are less reliable"
    shown = [lbl.text() for lbl in qp.warning_labels() if lbl.isVisible()]
    assert shown == quality.warnings(q)
    assert all(lbl.wordWrap() for lbl in qp.warning_labels())
    assert qp.findChild(QLabel, "qualityValue_size_px").text() == "30 px"
    assert qp.findChild(QLabel, "qualityWarning_sharpness").isVisible()
    assert qp.findChild(QLabel, "qualityWarning_brightness") is None
    assert qp.findChild(QLabel, "qualityIcon_size_px").accessibleName() == "Warning"
    assert qp.findChild(QLabel, "qualityIcon_brightness").accessibleName() == "OK"

    good = FaceQuality(size_px=150, eye_distance_px=60.0, sharpness=200.0, brightness=120.0,
                       yaw_deg=5.0)
    qp.set_face(make_face(good))
    assert qp.warning_count() == 0
    assert summary.text() == QUALITY_OK_TEXT
    assert qp.warning_labels() == []
    assert not [w for w in qp.findChildren(QLabel)
                if w.objectName().startswith("qualityWarning_") and w.isVisible()]
    assert [c.label for c in qp.checks()] == [
        "Face size", "Between the eyes", "Sharpness", "Brightness", "Pose (turn)",
        "Tilt in the picture"]

    dark = FaceQuality(150, 60.0, 200.0, 20.0, 0.0)
    qp.set_face(make_face(dark))
    assert summary.text() == "1 warning: results from this probe are less reliable"

    qp.set_face(None)
    assert qp.empty_label.isVisible()
    assert not summary.isVisible()


def test_panel_quality_follows_the_chosen_face(qtbot, panel, two_face_probe):
    panel.set_probe(two_face_probe)
    qp = panel.findChild(QualityPanel, "qualityPanel")
    face2 = two_face_probe.faces[1]
    assert qp.checks() == quality.check(face2.quality)
    panel.findChild(object, "faceList").setCurrentIndex(0)
    assert qp.checks() == quality.check(two_face_probe.faces[0].quality)


# --- image conversion ------------------------------------------------------------------------


def test_rgb_to_qimage_keeps_pixels_for_odd_widths_and_views():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (7, 201, 3), dtype=np.uint8)  # 603 bytes a row: unpadded
    flipped = rgb[:, ::-1]  # not contiguous
    for arr in (rgb, flipped):
        img = rgb_to_qimage(arr)
        assert (img.width(), img.height()) == (201, 7)
        for x, y in [(0, 0), (200, 6), (101, 3), (57, 5)]:
            c = img.pixelColor(x, y)
            assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in arr[y, x])
    with pytest.raises(ValueError):
        rgb_to_qimage(np.zeros((4, 4), dtype=np.uint8))
