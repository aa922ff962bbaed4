"""A whole case in the real window with real widgets and the fake engine (issue 5's "done
when"): the analyst signs in and opens a case through the dialogs, searches, records a
possible lead (pending: the two-person rule); the supervisor signs in, confirms it in the
second-review queue and exports the lead sheet from the case overview. The audit log
verifies and holds every step. Also: what a user may do without a case, in a closed case,
and by role."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from fakes import one_face, save_png
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QRadioButton, QToolButton
from settle import settle

from facedesk.app import accounts, audit, cases
from facedesk.engine.spec import EngineSpec
from facedesk.gui.decision_panel import PENDING_LEAD
from facedesk.gui.main_window import MainWindow
from facedesk.gui.session_dialogs import CaseDialog, FirstAdministratorDialog, SignInDialog
from facedesk.store import Gallery

PASSWORDS = {"admin": "kettle-Orbit-9731", "ann": "velvet-Harbor-4402", "sam": "copper-Meadow-5518"}
#: the window as the test leaves it, to look at (scripts/screenshots.py makes the README's)
SCREENSHOT = Path(tempfile.gettempdir()) / "facedesk-case-flow.png"


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_spec: EngineSpec):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings, engine=fake_spec)
    w.gallery_watch.stop()
    qtbot.addWidget(w, before_close_func=lambda win: setattr(win, "review", None))
    w.resize(1500, 900)
    w.show()
    return w


def sign_in_through_dialog(qtbot, window: MainWindow, user_id: str) -> None:
    dialog = window.sign_in_dialog
    assert isinstance(dialog, SignInDialog) and dialog.isVisible()
    dialog.select_user(user_id)
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.password_edit, PASSWORDS[user_id])
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    settle(qtbot, dialog)
    assert window.session is not None and window.session.user_id == user_id
    assert window.sign_in_dialog is None


def load_probe(qtbot, window: MainWindow, tmp_path: Path, person: int = 2) -> None:
    path = save_png(one_face(person, 41), tmp_path / f"probe-{person}.png")
    with qtbot.waitSignal(window.engine.analyzed, timeout=20000):
        window.load_probe(path)
    qtbot.waitUntil(lambda: window.probe is not None
                    and window.probe_panel.selected_face() is not None)
    # and the engine thread done describing the face (the Search action says "working…")
    qtbot.waitUntil(lambda: "working" not in window.act_search.toolTip()
                    and not window.busy_bar.isVisible(), timeout=20000)


def search(qtbot, window: MainWindow) -> None:
    button = window.findChild(QToolButton, "searchButton")
    qtbot.waitUntil(button.isEnabled)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.review is not None)
    settle(qtbot, window)


def kinds(gallery: Gallery) -> list[str]:
    return [e.kind for e in audit.events(gallery)]


def test_a_case_from_sign_in_to_lead_sheet(qtbot, window: MainWindow, make_gallery,
                                           tmp_path: Path, monkeypatch) -> None:
    db = make_gallery(every_candidate=True)
    assert window.open_gallery(db)

    # -- the analyst signs in; a wrong password is refused inline, nothing typed is lost
    dialog = window.sign_in_dialog
    assert isinstance(dialog, SignInDialog)
    assert window.user_label.text() == "Not signed in"
    dialog.select_user("ann")
    qtbot.keyClicks(dialog.password_edit, "not-the-password")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    settle(qtbot, dialog)
    assert dialog.isVisible() and window.session is None
    assert dialog.error.text() == accounts.SIGN_IN_REFUSED
    assert dialog.user_combo.currentData() == "ann"
    assert dialog.password_edit.text() == "not-the-password"
    # the back-off (1 s after a first failure): even the right password is refused, the
    # same way, until it has passed
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.password_edit, PASSWORDS["ann"])
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    settle(qtbot, dialog)
    assert window.session is None and dialog.error.text() == accounts.SIGN_IN_REFUSED
    qtbot.wait(1100)
    sign_in_through_dialog(qtbot, window, "ann")
    assert window.user_label.text() == "Ann Analyst (Analyst)"
    assert not window.act_search.isEnabled()
    assert not window.admin_menu.menuAction().isVisible()

    # -- a case, through the case dialog (a missing number is refused inline)
    window.act_case.trigger()
    case_dialog = window.findChild(CaseDialog, "caseDialog")
    assert case_dialog is not None and case_dialog.isVisible()
    case_dialog.set_purpose(cases.settings(window.gallery).purposes[0])
    qtbot.keyClicks(case_dialog.detail_edit, "armed robbery, Main St pharmacy")
    qtbot.mouseClick(case_dialog.open_button, Qt.MouseButton.LeftButton)
    assert case_dialog.isVisible() and window.case is None
    assert case_dialog.error.text() == "enter the case number"
    qtbot.keyClicks(case_dialog.number_edit, "2026-0042")
    qtbot.mouseClick(case_dialog.open_button, Qt.MouseButton.LeftButton)
    assert window.case is not None and window.case.number == "2026-0042"
    assert window.case_label.text() == "Case 2026-0042"

    # -- probe, search: recorded in the case as shown
    load_probe(qtbot, window, tmp_path)
    search(qtbot, window)
    review = window.review
    assert review is not None and review.search_id is not None
    assert review.result.candidates[0].person_id == "person_2"
    assert len(review.result.candidates) == 5  # every candidate shown in this gallery
    gallery = window.gallery
    assert gallery is not None
    [stored] = cases.searches(gallery, window.case.id)
    assert stored.id == review.search_id and len(stored.candidates) == 5
    assert cases.probe_image(gallery, review.search_id) == \
        (tmp_path / "probe-2.png").read_bytes()

    # -- viewing candidates is logged once per candidate of the search
    window.act_next.trigger()
    window.act_prev.trigger()
    window.act_next.trigger()
    window.act_prev.trigger()
    settle(qtbot, window)
    viewed = [e.data["rank"] for e in audit.events(gallery) if e.kind == "candidate_viewed"]
    assert sorted(viewed) == [1, 2]

    # -- a possible lead with a rationale, through the decision panel's controls
    assert window.candidates.selected_rank() == 1
    assert window.decision.reviewer_edit.text() == "Ann Analyst (ann)"
    assert window.decision.reviewer_edit.isReadOnly()
    window.findChild(QRadioButton, "decisionPossibleLead").click()
    qtbot.keyClicks(window.decision.rationale_edit,
                    "Same hairline, eyebrow shape and ear lobes; no dissimilar feature.")
    qtbot.mouseClick(window.findChild(QPushButton, "confirmButton"), Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert window.decision.hint.text().startswith(f"Recorded: {PENDING_LEAD}")
    [lead] = cases.decisions(gallery, window.case.id)
    assert (lead.reviewer, lead.decision, lead.status, lead.search_id) == (
        "ann", "possible_lead", "pending", review.search_id)
    assert cases.results(gallery, window.case.id) == []  # not a result yet
    window.grab().save(str(SCREENSHOT))  # a case open, candidates shown

    # -- the supervisor signs in (the analyst's undecided candidates are let go)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    case_id = window.case.id
    window.act_sign_in.trigger()
    sign_in_through_dialog(qtbot, window, "sam")
    # a clean screen: none of the analyst's probe, candidates or case (issue 15)
    assert window.review is None and window.case is None and window.probe is None
    assert window.set_case(cases.get_case(gallery, case_id))
    assert window.user_label.text() == "Sam Supervisor (Supervisor)"
    assert window.act_second_review.isEnabled()
    assert window.admin_menu.menuAction().isVisible()
    assert window.act_audit.isEnabled() and not window.act_users.isEnabled()

    from facedesk.gui.admin import CaseOverviewDialog, SecondReviewDialog

    window.act_second_review.trigger()
    second = window.findChild(SecondReviewDialog, "secondReviewDialog")
    assert second is not None and second.isVisible()
    second.select_decision(lead.id)
    second.findChild(QRadioButton, "verdictConfirm").click()
    qtbot.keyClicks(second.rationale_edit, "Compared independently: same ear shape and scar.")
    with qtbot.waitSignal(second.reviewed) as reviewed:
        qtbot.mouseClick(second.submit_button, Qt.MouseButton.LeftButton)
    assert reviewed.args == [lead.id]
    assert cases.get_decision(gallery, lead.id).status == "confirmed"
    assert [r.id for r in cases.results(gallery, window.case.id)] == [lead.id]
    second.close()

    # -- the lead sheet, from the case overview
    window.act_case_overview.trigger()
    overview = window.findChild(CaseOverviewDialog, "caseOverviewDialog")
    assert overview is not None and overview.isVisible()
    paths = overview.export_lead_sheet(lead.id, tmp_path / "sheets")
    pdfs = [p for p in paths if p.suffix == ".pdf"]
    assert pdfs and pdfs[0].is_file() and pdfs[0].read_bytes().startswith(b"%PDF")
    # closing the case there makes the window's case read-only at once
    overview.close_case("Lead passed to the detective in charge.")
    assert not window.case.is_open and window.case_label.text() == "Case 2026-0042 (closed)"
    assert not window.act_search.isEnabled() and not window.act_close_case.isEnabled()
    overview.close()

    check = audit.verify(gallery)
    assert check.ok, check.summary()
    logged = kinds(gallery)
    for kind in ("sign_in", "sign_in_failed", "case_opened", "search", "candidate_viewed",
                 "decision", "lead_review", "export", "case_closed"):
        assert kind in logged, kind


def test_search_is_disabled_without_a_case(qtbot, window: MainWindow, make_gallery,
                                           tmp_path: Path, start_case) -> None:
    assert window.open_gallery(make_gallery(os_user="ann"))
    assert window.session is not None and window.session.user_id == "ann"  # no question
    assert window.sign_in_dialog is None
    load_probe(qtbot, window, tmp_path)
    assert not window.act_search.isEnabled()
    assert "no case open" in window.act_search.toolTip()
    assert not window.findChild(QToolButton, "searchButton").isEnabled()
    window.search()  # refused: nothing goes to the engine
    assert window.review is None and "Cannot search" in window.statusBar().currentMessage()
    assert window.case_label.text() == "No case open"
    start_case(window)
    assert window.act_search.isEnabled()
    assert "no case open" not in window.act_search.toolTip()


def test_a_closed_case_disables_search_and_decisions(qtbot, window: MainWindow, make_gallery,
                                                     tmp_path: Path, start_case) -> None:
    assert window.open_gallery(make_gallery(os_user="ann"))
    case = start_case(window)
    load_probe(qtbot, window, tmp_path)
    search(qtbot, window)
    assert window.act_close_case.isEnabled()
    assert window.close_case("no lead from this still")
    assert window.case is not None and not window.case.is_open
    assert window.case_label.text() == f"Case {case.number} (closed)"
    assert not window.act_search.isEnabled()
    assert f"case {case.number} is closed" in window.act_search.toolTip()
    assert not window.act_close_case.isEnabled()
    # the candidate list stays readable, but nothing can be recorded
    assert not window.decision.record_button.isEnabled()
    assert not window.decision.buttons["possible_lead"].isEnabled()
    assert "closed" in window.decision.hint.text()
    # choosing the closed case again from the case dialog keeps search disabled
    window.set_case(None)
    window.act_case.trigger()
    dialog = window.findChild(CaseDialog, "caseDialog")
    assert dialog is not None
    with pytest.raises(KeyError):
        dialog.select_case(case.number)  # only open cases are listed at first
    dialog.closed_check.setChecked(True)
    dialog.select_case(case.number)
    qtbot.mouseClick(dialog.choose_button, Qt.MouseButton.LeftButton)
    assert window.case is not None and window.case.id == case.id
    assert not window.act_search.isEnabled()


def test_menus_follow_the_role(qtbot, window: MainWindow, make_gallery) -> None:
    assert window.open_gallery(make_gallery())
    sign_in_through_dialog(qtbot, window, "ann")
    assert not window.admin_menu.menuAction().isVisible()  # an analyst has no admin menu
    assert not window.act_second_review.isEnabled()
    assert window.act_case.isEnabled()
    window.act_sign_in.trigger()
    sign_in_through_dialog(qtbot, window, "admin")
    assert window.admin_menu.menuAction().isVisible()
    assert all(a.isEnabled() for a in (window.act_users, window.act_admin_settings,
                                       window.act_audit, window.act_retention))
    assert not window.act_second_review.isEnabled()
    window.act_case.trigger()
    window.findChild(CaseDialog, "caseDialog").close()
    assert "may not search" in window.act_search.toolTip()


def test_cancelled_sign_in_leaves_the_gallery_open_but_not_searchable(
        qtbot, window: MainWindow, make_gallery) -> None:
    assert window.open_gallery(make_gallery())
    dialog = window.sign_in_dialog
    assert dialog is not None
    dialog.reject()
    assert window.gallery is not None and window.session is None
    assert window.user_label.text() == "Not signed in"
    assert "Not signed in" in window.statusBar().currentMessage()
    assert not window.act_search.isEnabled() and "sign in" in window.act_search.toolTip()
    assert not window.act_case.isEnabled()
    assert window.act_sign_in.isEnabled()


def test_a_gallery_without_users_creates_its_administrator(qtbot, window: MainWindow,
                                                            tmp_path: Path) -> None:
    assert window.open_gallery(tmp_path / "new.db", create=True)
    dialog = window.sign_in_dialog
    assert isinstance(dialog, FirstAdministratorDialog)
    qtbot.keyClicks(dialog.user_edit, "jdoe")
    qtbot.keyClicks(dialog.name_edit, "Jane Doe")
    qtbot.keyClicks(dialog.password_edit, "first-admin-pw")
    qtbot.keyClicks(dialog.password2_edit, "first-admin-typo")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "differ" in dialog.error.text()
    assert dialog.user_edit.text() == "jdoe"
    dialog.password2_edit.setText("first-admin-pw")
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert window.session is not None and window.session.user.role == "administrator"
    assert window.user_label.text() == "Jane Doe (Administrator)"
    assert window.admin_menu.menuAction().isVisible()


def test_an_import_from_the_window_is_logged_with_the_signed_in_user(
        qtbot, window: MainWindow, make_gallery, tmp_path: Path) -> None:
    db = make_gallery()
    assert window.open_gallery(db)
    window.sign_in_dialog.reject()
    # a gallery with users takes no import from someone not signed in
    assert not window.act_import.isEnabled() and "sign in" in window.act_import.toolTip()
    assert window.import_dialog() is None
    window.act_sign_in.trigger()
    sign_in_through_dialog(qtbot, window, "ann")
    assert window.act_import.isEnabled()
    more = tmp_path / "more"
    save_png(one_face(7, 0), more / "person_7" / "0.png")
    dialog = window.import_dialog()
    assert dialog is not None
    dialog.folder_edit.setText(str(more))
    with qtbot.waitSignal(dialog.imported, timeout=60000):
        dialog.findChild(QPushButton, "startButton").click()
    dialog.close()
    with Gallery.open(db) as g:
        imports = audit.events(g, kinds=["import"])
        assert imports[-1].user_id == "ann" and imports[-1].data["imported"] == 1
        assert audit.verify(g).ok


def test_opening_a_gallery_others_can_read_says_so(qtbot, window: MainWindow,
                                                   make_gallery) -> None:
    import os

    db = make_gallery()
    os.chmod(db, 0o644)
    assert window.open_gallery(db)
    message = window.statusBar().currentMessage()
    assert "can be read by other users" in message and "chmod 600" in message
    os.chmod(db, 0o600)
    assert window.open_gallery(db)
    assert window.statusBar().currentMessage() == f"Opened {db}"
