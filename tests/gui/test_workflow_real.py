"""The analyst's whole flow in the real window, with the real engine on LFW photos:
import through the dialog, drop a probe on the window, pick a face, search, step through
the candidates, confirm one. The analyst (mapped to this OS account) works in a case.
Nothing is stored as a decision before the confirmation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QRadioButton, QToolButton
from settle import settle

from facedesk.engine.spec import EngineSpec
from facedesk.errors import EngineUnavailable
from facedesk.gui.import_dialog import ImportDialog
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery
from facedesk.store.decisions import decision_rows

pytestmark = pytest.mark.integration

SHARED = Path(os.environ.get("FACEDESK_TEST_DATA")
              or Path(__file__).resolve().parents[2].parent / "shared" / "data")
PERSONS = ["Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Gerhard_Schroeder",
           "Hugo_Chavez", "Jacques_Chirac", "Tony_Blair", "Vladimir_Putin"]


@pytest.fixture
def lfw_tree(tmp_path: Path) -> tuple[Path, Path]:
    """3 photos each of 8 LFW persons (symlinks), and a 4th photo of Tony Blair as probe."""
    lfw = SHARED / "lfw" / "images"
    if not lfw.is_dir():
        pytest.skip(f"LFW images not found at {lfw}")
    try:
        EngineSpec().create().identity()
    except EngineUnavailable as exc:
        pytest.skip(f"real face engine unavailable: {exc}")
    root = tmp_path / "photos"
    for person in PERSONS:
        (root / person).mkdir(parents=True)
        for f in sorted((lfw / person).glob("*.jpg"))[:3]:
            (root / person / f.name).symlink_to(f)
    return root, sorted((lfw / "Tony_Blair").glob("*.jpg"))[3]


def drop_file(widget, path: Path) -> None:
    """What a drag and drop from a file manager delivers: enter, then drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()


def test_import_drop_search_step_confirm(qtbot, tmp_path: Path, lfw_tree,
                                         prepare_gallery, start_case) -> None:
    root, probe_path = lfw_tree
    db = tmp_path / "gallery.db"
    with Gallery.open(db, create=True) as g:
        prepare_gallery(g, os_user="ann", every_candidate=True)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "review", None))
    window.resize(1500, 900)
    window.show()
    assert window.open_gallery(db)
    assert window.session is not None and window.session.user_id == "ann"
    start_case(window)

    # import through the dialog, opened from the toolbar's import button
    qtbot.mouseClick(window.findChild(QToolButton, "importButton"), Qt.MouseButton.LeftButton)
    dialog = window.findChild(ImportDialog, "importDialog")
    assert dialog is not None and dialog.isVisible()
    dialog.findChild(QLineEdit, "folderEdit").setText(str(root))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    with qtbot.waitSignal(dialog.imported, timeout=180_000) as blocker:
        qtbot.mouseClick(dialog.findChild(QPushButton, "startButton"), Qt.MouseButton.LeftButton)
    timer.stop()
    final = blocker.args[0]
    assert final.status == "completed" and final.counts.imported == 24
    # the event loop kept turning while the engine worked in another thread
    assert len(ticks) > 10
    dialog.close()
    assert "8 persons · 24 photos" in window.gallery_label.text()

    # drop the probe on the window, as a user does from a file manager
    with qtbot.waitSignal(window.engine.analyzed, timeout=60_000):
        drop_file(window, probe_path)
    qtbot.waitUntil(lambda: window.probe is not None and bool(window.probe.faces))
    face = window.probe_panel.selected_face()
    assert face is not None and face.quality.eye_distance_px > 20

    with Gallery.open(db) as g:
        assert decision_rows(g) == []
    search_button = window.findChild(QToolButton, "searchButton")
    qtbot.waitUntil(search_button.isEnabled)
    assert search_button.isVisible(), "the search button is in view"
    qtbot.mouseClick(search_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.review is not None, timeout=60_000)
    review = window.review
    assert review.result.candidates[0].person_id == "Tony_Blair"
    assert review.result.persons_searched == 8

    # step through the candidates with the keyboard actions
    for rank in (2, 3, 4):
        window.act_next.trigger()
        assert window.candidates.selected_rank() == rank
    for rank in (3, 2, 1):
        window.act_prev.trigger()
        assert window.candidates.selected_rank() == rank
    settle(qtbot, window)
    window.grab().save(str(tmp_path / "workflow.png"))
    with Gallery.open(db) as g:
        assert decision_rows(g) == []  # viewing and stepping store nothing

    # confirm the first candidate through the decision panel's own controls
    window.findChild(QRadioButton, "decisionPossibleLead").click()
    assert window.findChild(QLineEdit, "reviewerEdit").text() == "Ann Analyst (ann)"
    qtbot.keyClicks(window.decision.rationale_edit, "Hairline, eyebrows and ear shape agree.")
    confirm = window.findChild(QPushButton, "confirmButton")
    assert confirm.isEnabled()
    qtbot.mouseClick(confirm, Qt.MouseButton.LeftButton)
    settle(qtbot, window)  # stored off the GUI thread
    with Gallery.open(db) as g:
        rows = decision_rows(g)
    assert [(r.person_id, r.decision, r.reviewer, r.rank) for r in rows] == [
        ("Tony_Blair", "possible_lead", "ann", 1)]
    assert rows[0].rationale == "Hairline, eyebrows and ear shape agree."
