"""A checklist-required decision in the real window (issue 18, item 1's "done when"): the
administrator requires the FISWG checklist; the analyst's possible lead cannot be recorded
until every component is judged from the keyboard and the dissimilarity explained; the
checklist is stored and logged with the decision; in a blind second review the supervisor
does not see it, after the verdict they do. Then the lead's independent evidence is
recorded in the case overview and the lead sheet goes out (item 4). Real widgets, the
fake engine."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import test_case_flow as case_flow
from conftest import PASSWORDS
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QRadioButton
from settle import settle
from test_case_flow import load_probe, search

from facedesk.app import accounts, audit, cases
from facedesk.errors import LeadError
from facedesk.gui.admin import CaseOverviewDialog, SecondReviewDialog
from facedesk.gui.admin.second_review import BLIND_CHECKLIST
from facedesk.gui.checklist_panel import ChecklistPanel
from facedesk.gui.main_window import MainWindow

SCREENSHOT = Path(tempfile.gettempdir()) / "facedesk-checklist.png"
REVIEW_SCREENSHOT = Path(tempfile.gettempdir()) / "facedesk-checklist-review.png"


#: the real window with the fake engine, as the case flow's tests drive it
window = case_flow.window


def test_a_checklist_required_decision_in_the_window(qtbot, window: MainWindow, make_gallery,
                                                    start_case, tmp_path: Path) -> None:
    db = make_gallery(os_user="ann", every_candidate=True)
    assert window.open_gallery(db)
    gallery = window.gallery
    assert gallery is not None and window.session is not None
    # the administrator's settings, as `facedesk settings set` makes them
    admin = accounts.sign_in(gallery, "admin", PASSWORDS["admin"])
    admin.set_setting("checklist_required", True)
    admin.set_setting("blind_second_review", True)
    window._apply_gallery_settings()
    case = start_case(window, "2026-0318")
    load_probe(qtbot, window, tmp_path)
    search(qtbot, window)

    panel = window.decision
    checklist: ChecklistPanel = panel.checklist_panel
    assert checklist.isVisible() and "required for a possible lead" in checklist.title.text()
    record = window.findChild(QPushButton, "confirmButton")
    window.findChild(QRadioButton, "decisionPossibleLead").click()
    qtbot.keyClicks(panel.rationale_edit, "Same ear lobes and hairline.")
    assert not record.isEnabled()
    assert panel.hint.text().startswith("Checklist: the administrator requires")
    assert "(18 left" in panel.hint.text()

    # -- judged from the keyboard: focus the table, S moves on to the next row
    table = checklist.table
    table.setFocus()
    table.setCurrentCell(0, 0)
    for _ in range(8):  # skin .. nose-1 : similar
        qtbot.keyClick(table, Qt.Key.Key_S)
    assert table.currentRow() == 8  # the nose
    qtbot.keyClick(table, Qt.Key.Key_D)  # dissimilar: its note opens at once
    settle(qtbot, window)
    assert "explain the dissimilarity of Nose" in panel.hint.text()
    assert not record.isEnabled()
    focus = window.focusWidget()
    assert focus is not None and focus is not table  # the note's editor
    qtbot.keyClicks(focus, "swollen: booked after a fight")
    qtbot.keyClick(focus, Qt.Key.Key_Return)
    settle(qtbot, window)
    qtbot.keyClick(table, Qt.Key.Key_Down)
    for _ in range(6):  # ears .. facial lines
        qtbot.keyClick(table, Qt.Key.Key_1)
    qtbot.keyClick(table, Qt.Key.Key_N)  # scars: not visible
    qtbot.keyClick(table, Qt.Key.Key_3)  # facial marks: not visible
    assert not record.isEnabled() and "(1 left: Alterations)" in panel.hint.text()
    qtbot.keyClick(table, Qt.Key.Key_2)  # alterations: dissimilar, then Delete clears it
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Escape)
    qtbot.keyClick(table, Qt.Key.Key_Delete)
    assert checklist.checklist().feature("alterations") is None
    qtbot.keyClick(table, Qt.Key.Key_S)
    settle(qtbot, window)
    judged = checklist.checklist()
    assert judged.complete and judged.feature("nose").note == "swollen: booked after a fight"
    assert "18 of 18 judged" in checklist.title.text()
    assert record.isEnabled() and panel.hint.text().startswith("Ready to record")
    qtbot.wait(50)
    window.grab().save(str(SCREENSHOT))

    qtbot.mouseClick(record, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    [lead] = cases.decisions(gallery, case.id)
    assert lead.checklist == judged and lead.status == "pending"
    logged = next(e for e in audit.events(gallery) if e.kind == "decision")
    assert logged.data["checklist"]["nose"] == {"value": "dissimilar",
                                                "note": "swollen: booked after a fight"}
    assert logged.data["checklist"]["scars"]["value"] == "not_visible"
    # recorded: the table shows it, read-only (keys change nothing)
    assert checklist._read_only and checklist.checklist() == judged
    qtbot.keyClick(table, Qt.Key.Key_D)
    assert checklist.checklist() == judged

    # -- the supervisor's blind second review: the checklist is hidden like the rationale
    sam = accounts.sign_in(gallery, "sam", PASSWORDS["sam"])
    dialog = SecondReviewDialog(sam, window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.select_decision(lead.id)
    assert dialog.analyst_checklist.text() == BLIND_CHECKLIST
    assert "swollen" not in dialog.analyst_rationale.text()
    dialog.findChild(QRadioButton, "verdictConfirm").click()
    qtbot.keyClicks(dialog.rationale_edit, "Compared independently: same ears.")
    with qtbot.waitSignal(dialog.reviewed):
        qtbot.mouseClick(dialog.submit_button, Qt.MouseButton.LeftButton)
    settle(qtbot, dialog)
    shown = dialog.analyst_checklist.text()
    assert "Nose (swollen: booked after a fight)" in shown and "Not visible:</b> Scars" in shown
    qtbot.wait(50)  # the labels' new heights are laid out
    dialog.grab().save(str(REVIEW_SCREENSHOT))
    dialog.close()

    # -- independent evidence in the case overview, then the lead sheet (required)
    admin.set_setting("evidence_required", True)
    overview = CaseOverviewDialog(window.session, cases.get_case(gallery, case.id), window)
    qtbot.addWidget(overview)
    overview.show()
    overview.select_decision(lead.id)
    assert overview.evidence_button.isEnabled()
    assert "none recorded yet" in overview.evidence_label.text()
    with pytest.raises(LeadError, match="no independent evidence recorded"):
        overview.export_lead_sheet(lead.id, tmp_path / "sheets")
    assert "no independent evidence recorded" in overview.error_label.text()
    overview.record_evidence(lead.id, "Victim picked him from a photo array on 2026-03-20")
    assert "photo array" in overview.evidence_label.text()
    paths = overview.export_lead_sheet(lead.id, tmp_path / "sheets")
    assert paths and all(p.is_file() for p in paths)
    overview.close()
    assert audit.verify(gallery).ok
