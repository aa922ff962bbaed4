"""An analyst's first day, scripted on the real window at 1366 x 768 (issue 15): first run,
import with cancel and resume, drop, pick, draw, search, compare, decide, second review,
lead sheet, trainer. The fake engine stands in for dlib (tests/fakes.py); everything else
is real: widgets, gallery file, audit log. After every step nothing on screen is cut
(tests/gui/layout_checks.py). scripts/test.sh runs it once more under Xvfb through Qt's xcb
plugin."""

from __future__ import annotations

from pathlib import Path

from conftest import PASSWORDS, PURPOSE, USERS, show_every_candidate
from fakes import face_photo, save_png
from layout_checks import cut_widgets, status_message_cut
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QToolButton
from test_import_dialog import hold_at, run_to_end
from test_workflow_real import drop_file

from facedesk.app import accounts, audit, cases
from facedesk.domain.faces import Box
from facedesk.engine.spec import EngineSpec
from facedesk.gui import first_run
from facedesk.gui.main_window import MainWindow

SCREEN = (1366, 768)


def no_cuts(*widgets) -> None:
    for w in widgets:
        assert cut_widgets(w) == [], type(w).__name__


def test_an_analysts_first_day(qtbot, tmp_path: Path, people_dir: Path, fake_spec: EngineSpec,
                               monkeypatch) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "review", None))
    window.resize(*SCREEN)
    window.show()
    qtbot.waitExposed(window)

    # -- first run: "try it on a folder of photos" creates a gallery and its administrator
    welcome = first_run.offer_first_run(window, settings, has_gallery=False,
                                        gallery_dir=tmp_path / "galleries")
    assert welcome is not None
    no_cuts(welcome)
    welcome.close()
    db = tmp_path / "galleries" / "people.db"
    importer = first_run.apply_choice(
        window, first_run.FirstRunChoice("sample", gallery=db, folder=people_dir))
    assert importer is not None and not importer.start_button.isEnabled()  # nobody yet
    first = window.sign_in_dialog
    no_cuts(first)
    first.user_edit.setText("admin")
    first.name_edit.setText(USERS["admin"][0])
    first.password_edit.setText(PASSWORDS["admin"])
    first.password2_edit.setText(PASSWORDS["admin"])
    qtbot.mouseClick(first.create_button, Qt.MouseButton.LeftButton)
    assert window.session is not None and window.session.user_id == "admin"

    # -- import, cancelled after 5 photos, then resumed: what was imported is kept
    assert importer.start_button.isEnabled()
    reached = hold_at(importer, 5)
    qtbot.mouseClick(importer.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(reached.is_set, timeout=30000)
    no_cuts(importer)
    with qtbot.waitSignal(importer.imported, timeout=30000) as cancelled:
        qtbot.mouseClick(importer.cancel_button, Qt.MouseButton.LeftButton)
    assert cancelled.args[0].status == "cancelled"
    resumed = run_to_end(qtbot, importer)
    assert resumed.status == "completed" and resumed.counts.already_stored == 5
    no_cuts(importer)
    importer.close()
    qtbot.waitUntil(lambda: "15 faces" in window.gallery_label.text())

    # the administrator adds the analyst (mapped to this OS account) and a supervisor
    admin = window.session
    for uid in ("ann", "sam"):
        admin.add_user(uid, *USERS[uid], password=PASSWORDS[uid],
                       os_account=accounts.os_account() if uid == "ann" else None)
    show_every_candidate(window.gallery)

    # -- the analyst signs in and opens a case
    window.set_session(accounts.sign_in(window.gallery, "ann", PASSWORDS["ann"]))
    case = cases.open_case(window.session, "2026-0815", PURPOSE, "first day")
    assert window.set_case(case)

    # -- drop a still with two faces; pick the other; draw a box round the first
    probe_path = save_png(face_photo([(4, Box(10, 50, 50, 10)), (2, Box(40, 180, 160, 60))],
                                     size=(240, 200), noise_seed=77), tmp_path / "still.png")
    with qtbot.waitSignal(window.engine.analyzed, timeout=20000):
        drop_file(window, probe_path)
    qtbot.waitUntil(lambda: window.probe is not None and len(window.probe.faces) == 2)
    window.probe_panel.select_position(0)
    assert window.probe_panel.selected_face().index == 0
    with qtbot.waitSignal(window.engine.described, timeout=20000):
        window.probe_panel.view.box_drawn.emit(Box(38, 182, 162, 58))
    assert window.probe_panel.selected_face().index == -1  # "Drawn box"
    window.probe_panel.select_position(1)  # back to the detected face
    assert "adequate" in window.probe_panel.quality.summary_text()
    no_cuts(window)

    # -- search
    qtbot.waitUntil(window.act_search.isEnabled, timeout=20000)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        qtbot.mouseClick(window.findChild(QToolButton, "searchButton"),
                         Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.review is not None)
    assert window.candidates.selected_rank() == 1
    assert status_message_cut(window) is None
    no_cuts(window)

    # -- compare: the next candidate, blend, landmarks, back
    window.act_next.trigger()
    assert window.candidates.selected_rank() == 2
    window.compare.set_mode("blend")
    window.compare.set_landmarks_visible(True)
    no_cuts(window)
    window.compare.set_mode("side")
    window.act_prev.trigger()

    # -- decide: the focus stays in the candidate list, not in the top-K box
    panel = window.decision
    qtbot.mouseClick(panel.buttons["possible_lead"], Qt.MouseButton.LeftButton)
    qtbot.keyClicks(panel.rationale_edit, "Same face shape and eyebrows")
    top_k = window.top_k.value()
    qtbot.mouseClick(panel.record_button, Qt.MouseButton.LeftButton)
    assert window.review.decided[1].decision == "possible_lead"
    assert window.focusWidget() is window.candidates.table
    qtbot.keyClicks(window.focusWidget(), "5")
    assert window.top_k.value() == top_k
    no_cuts(window)

    # -- second review by the supervisor: the analyst's compare view, the face marked
    window.review = None
    window.set_session(accounts.sign_in(window.gallery, "sam", PASSWORDS["sam"]))
    assert window.probe is None  # the analyst's work is not on the supervisor's screen
    second = window.second_review()
    assert second is not None
    assert second.compare.face_item("probe") is not None
    assert second.compare.face_item("candidate") is not None
    assert not second.probe_view.pixmap().isNull()
    no_cuts(second)
    second.verdict_confirm.setChecked(True)
    qtbot.keyClicks(second.rationale_edit, "ears and nose bridge agree")
    with qtbot.waitSignal(second.reviewed):
        qtbot.mouseClick(second.submit_button, Qt.MouseButton.LeftButton)
    second.close()

    # -- lead sheet, with an Open button
    window.set_session(accounts.sign_in(window.gallery, "ann", PASSWORDS["ann"]))
    assert window.set_case(cases.get_case(window.gallery, case.id))
    overview = window.case_overview()
    assert overview is not None
    assert "search 1 (still.png): #1" in overview.decisions_table.item(0, 1).text()
    [decision] = cases.decisions(window.gallery, case.id)
    written = overview.export_lead_sheet(decision.id, tmp_path / "sheets")
    assert written and all(p.is_file() for p in written)
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    assert overview.open_sheet_button.isVisible()
    qtbot.mouseClick(overview.open_sheet_button, Qt.MouseButton.LeftButton)
    assert opened == [str(written[0])]
    no_cuts(overview)
    overview.close()

    # -- the trainer view, logged
    view = window.open_trainer()
    assert view is not None
    qtbot.addWidget(view)
    view.resize(*SCREEN)
    with qtbot.waitSignal(view.progress.valueChanged, timeout=2000, raising=False):
        view.run_experiment()
    qtbot.waitUntil(lambda: view.result is not None, timeout=60000)
    no_cuts(view)
    lab = [e for e in audit.events(window.gallery) if e.kind == "lab"]
    assert [e.data["action"] for e in lab] == ["opened", "experiment"]
    assert {e.user_id for e in lab} == {"ann"}
    view.close()
    assert audit.verify(window.gallery).ok
