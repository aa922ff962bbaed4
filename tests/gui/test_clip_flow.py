"""A CCTV clip in the real window (fake engine, lossless generated clip): dropped like a
photo, read in a worker thread with progress and Cancel while the window stays usable,
tracks shown as a filmstrip with their kept frames, a track taken to the probe panel,
searched and decided; the search's provenance is recorded and verifies."""

from __future__ import annotations

from pathlib import Path

from clipgen import FakeWalk, fake_clip
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QRadioButton
from test_case_flow import window  # noqa: F401  (the window fixture)
from test_workflow_real import drop_file

from facedesk.app import audit, cases
from facedesk.domain.faces import Box
from facedesk.gui.main_window import MainWindow


def test_drop_a_clip_pick_a_track_search_and_decide(
        qtbot, window: MainWindow,  # noqa: F811 (the imported fixture)
        make_gallery, start_case, tmp_path: Path) -> None:
    db = make_gallery(os_user="ann", every_candidate=True)
    assert window.open_gallery(db)
    case = start_case(window)
    clip = tmp_path / "store-export.dat"  # found to be a clip by its content
    fake_clip(clip, (FakeWalk(2, 0, 29, Box(60, 100, 130, 30), Box(70, 200, 140, 130)),
                     FakeWalk(3, 5, 25, Box(150, 300, 220, 230), Box(150, 300, 220, 230))), 30)
    drop_file(window, clip)
    panel = window.clip_panel
    assert panel is not None and panel.isVisible()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=30000)
    assert not panel.reading and not panel.cancel_button.isEnabled()
    assert "2 face tracks" in panel.status.text()
    assert panel.tracks_list.count() == 2
    panel.tracks_list.setCurrentRow(0)
    assert panel.frames_list.count() == 3
    assert panel.scrubber.isEnabled() and panel.scrubber.maximum() == 29
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None
                    and not panel.preview.pixmap().isNull(), timeout=20000)

    # the fused template of track 1 goes to the probe panel
    panel.fuse_box.setChecked(True)
    with qtbot.waitSignal(panel.probe_ready, timeout=20000):
        qtbot.mouseClick(panel.use_track_button, Qt.MouseButton.LeftButton)
    assert window.probe is not None and window.probe.path == str(clip)
    face = window.probe_panel.selected_face()
    assert face is not None
    qtbot.waitUntil(window.act_search.isEnabled, timeout=20000)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: window.review is not None)
    assert window.review.result.candidates[0].person_id == "person_2"

    search = cases.searches(window.gallery, case.id)[-1]
    prov = search.provenance
    assert prov["fused"] is True and prov["track"] == 1 and len(prov["frames"]) == 3
    assert prov["clip"]["name"] == clip.name
    stored = cases.search_frames(window.gallery, search.id)
    assert [f.sha256 for f in stored] == [f["png_sha256"] for f in prov["frames"]]

    window.findChild(QRadioButton, "decisionPossibleLead").click()
    qtbot.keyClicks(window.decision.rationale_edit, "Same pattern in the clip's best frames.")
    qtbot.mouseClick(window.findChild(QPushButton, "confirmButton"), Qt.MouseButton.LeftButton)
    [lead] = cases.decisions(window.gallery, case.id)
    assert (lead.search_id, lead.decision) == (search.id, "possible_lead")
    assert audit.verify(window.gallery).ok


def test_a_frame_from_the_scrubber_and_cancel_while_reading(
        qtbot, window: MainWindow,  # noqa: F811 (the imported fixture)
        make_gallery, start_case, tmp_path: Path) -> None:
    db = make_gallery(os_user="ann", every_candidate=True)
    assert window.open_gallery(db)
    case = start_case(window)
    clip = tmp_path / "clip.mov"
    fake_clip(clip, (FakeWalk(4, 0, 39, Box(60, 100, 130, 30), Box(60, 120, 130, 50)),), 40)
    panel = window.open_clip(clip)
    panel.cancel()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=30000)
    assert "Cancelled" in panel.status.text() or panel.result.report.stopped == ""
    panel.scrubber.setValue(15)  # 1.5 s: frame 15 at 10 fps
    with qtbot.waitSignal(panel.probe_ready, timeout=20000):
        qtbot.mouseClick(panel.use_frame_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.act_search.isEnabled, timeout=20000)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: window.review is not None)
    prov = cases.searches(window.gallery, case.id)[-1].provenance
    assert prov["fused"] is False and prov["track"] is None
    assert [(f["frame"], f["timecode"]) for f in prov["frames"]] == [(15, "00:00:01.500")]
