"""DecisionPanel over a real Review of a search recorded in a case; decisions stored with
`cases.decide` in a real SQLite gallery, as the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QPushButton, QRadioButton

from facedesk.app.accounts import Session
from facedesk.app.review import LEAD_BANNER, Review, ReviewError
from facedesk.errors import FaceDeskError
from facedesk.gui.decision_panel import PENDING_LEAD, DecisionPanel
from facedesk.store import Gallery
from facedesk.store.decisions import decision_rows

MakeReview = Callable[..., Review]
ANN = "Ann Analyst (ann)"


@pytest.fixture
def make_review(desk) -> MakeReview:
    first = desk.review()
    return lambda blind=False: Review(first.probe, first.face, first.result, blind=blind,
                                      search_id=first.search_id)


@pytest.fixture
def imported_analyst(desk) -> tuple[Gallery, Session]:
    return desk.gallery, desk.analyst


class Parts:
    def __init__(self, panel: DecisionPanel) -> None:
        def find(cls: type, name: str) -> Any:
            widget = panel.findChild(cls, name)
            assert widget is not None, name
            return widget

        self.banner: QLabel = find(QLabel, "leadBanner")
        self.lead: QRadioButton = find(QRadioButton, "decisionPossibleLead")
        self.not_person: QRadioButton = find(QRadioButton, "decisionNotThePerson")
        self.inconclusive: QRadioButton = find(QRadioButton, "decisionInconclusive")
        self.reviewer: QLineEdit = find(QLineEdit, "reviewerEdit")
        self.rationale: QPlainTextEdit = find(QPlainTextEdit, "rationaleEdit")
        self.record: QPushButton = find(QPushButton, "confirmButton")
        self.hint: QLabel = find(QLabel, "decisionHint")


@pytest.fixture
def panel(qtbot) -> DecisionPanel:
    p = DecisionPanel()
    qtbot.addWidget(p)
    return p


def wire(panel: DecisionPanel, review: Review, session: Session) -> None:
    """What the window does with decision_requested."""
    def store(rank: int, decision: str, rationale: str) -> None:
        try:
            row = review.record_decision(session, rank, decision, rationale)
        except (ReviewError, FaceDeskError) as exc:
            panel.show_error(exc.message)
        else:
            panel.decision_recorded(row)
    panel.decision_requested.connect(store)


def test_banner_is_permanent(panel: DecisionPanel, make_review: MakeReview) -> None:
    parts = Parts(panel)
    assert parts.banner.text() == LEAD_BANNER
    panel.set_candidate(make_review(), 1)
    assert parts.banner.text() == LEAD_BANNER and not parts.banner.isHidden()
    assert [b.text() for b in (parts.lead, parts.not_person, parts.inconclusive)] == [
        "Possible lead", "Not the person", "Inconclusive"]


def test_no_candidate_cannot_record(panel: DecisionPanel) -> None:
    parts = Parts(panel)
    assert not parts.record.isEnabled()
    assert not parts.lead.isEnabled()
    assert "Select a candidate" in parts.hint.text()


def test_record_needs_decision_reviewer_and_rationale(qtbot, panel: DecisionPanel,
                                                      make_review: MakeReview) -> None:
    parts = Parts(panel)
    panel.set_candidate(make_review(), 1)
    assert parts.reviewer.text() == ""  # nobody signed in
    assert not parts.record.isEnabled()
    assert parts.hint.text() == "To record: choose a decision, sign in, write a rationale."
    parts.inconclusive.click()
    assert not parts.record.isEnabled()
    assert "choose a decision" not in parts.hint.text()
    panel.set_reviewer(ANN)  # the window: the signed-in user
    assert panel.reviewer() == ANN
    assert not parts.record.isEnabled()
    assert parts.hint.text() == "To record: write a rationale."
    parts.rationale.setPlainText("   \n ")  # blank is not a rationale
    assert not parts.record.isEnabled()
    qtbot.keyClicks(parts.rationale, "Ear shape differs")
    assert parts.record.isEnabled()
    assert parts.hint.text() == "Ready to record."
    panel.set_reviewer("")  # signed out
    assert not parts.record.isEnabled()
    assert "sign in" in parts.hint.text()


def test_reviewer_is_the_signed_in_user_and_not_editable(qtbot, panel: DecisionPanel,
                                                         make_review: MakeReview) -> None:
    parts = Parts(panel)
    panel.set_reviewer("C. Analyst (cat)")
    assert parts.reviewer.text() == "C. Analyst (cat)" and panel.reviewer() == "C. Analyst (cat)"
    panel.set_candidate(make_review(), 2)
    assert parts.reviewer.text() == "C. Analyst (cat)" and parts.reviewer.isReadOnly()
    qtbot.keyClicks(parts.reviewer, "someone else")
    assert parts.reviewer.text() == "C. Analyst (cat)"
    parts.not_person.click()
    parts.rationale.setPlainText("different nose")
    assert parts.record.isEnabled()
    panel.set_blocked("Case 1 is closed: a closed case is read-only.")
    assert not parts.record.isEnabled() and not parts.not_person.isEnabled()
    assert parts.hint.text() == "Case 1 is closed: a closed case is read-only."
    panel.set_blocked(None)
    assert parts.record.isEnabled()
    assert DecisionPanel(reviewer="D. Analyst").reviewer() == "D. Analyst"


def test_recording_writes_exactly_one_decision(qtbot, panel: DecisionPanel, imported_analyst,
                                               make_review: MakeReview) -> None:
    imported, analyst = imported_analyst
    parts = Parts(panel)
    review = make_review()
    wire(panel, review, analyst)
    panel.set_reviewer(ANN)
    panel.set_candidate(review, 1)
    parts.lead.click()
    qtbot.keyClicks(parts.rationale, "Same scar over the left eyebrow")
    assert decision_rows(imported) == []  # nothing is stored before the click
    with qtbot.waitSignal(panel.decision_requested) as sig:
        qtbot.mouseClick(parts.record, Qt.MouseButton.LeftButton)
    assert sig.args == [1, "possible_lead", "Same scar over the left eyebrow"]
    rows = decision_rows(imported)
    assert len(rows) == 1
    row = rows[0]
    assert (row.rank, row.decision, row.reviewer, row.rationale) == (
        1, "possible_lead", "ann", "Same scar over the left eyebrow")
    assert row.person_id == review.candidate(1).person_id
    assert row.probe_sha256 == review.probe.sha256
    assert row.search_id == review.search_id
    # the form is now read-only, the draft cleared; the lead waits for a second review
    assert parts.hint.text().startswith(f"Recorded: {PENDING_LEAD}. Not a result yet")
    assert parts.rationale.toPlainText() == ""
    assert not parts.record.isEnabled() and not parts.lead.isEnabled()
    assert parts.lead.isChecked()
    assert "Same scar over the left eyebrow" in panel.record_label.text()
    parts.record.click()  # disabled: nothing more is written
    assert len(decision_rows(imported)) == 1


def test_already_decided_candidate_is_read_only(panel: DecisionPanel, desk,
                                                make_review: MakeReview) -> None:
    parts = Parts(panel)
    review = make_review()
    review.record_decision(desk.supervisor, 3, "not_the_person", "different chin")
    panel.set_reviewer(ANN)
    panel.set_candidate(review, 3)
    assert parts.not_person.isChecked()
    assert not any(b.isEnabled() for b in (parts.lead, parts.not_person, parts.inconclusive))
    assert not parts.rationale.isEnabled() and not parts.reviewer.isEnabled()
    assert parts.reviewer.text() == "sam"
    assert not parts.record.isEnabled()
    assert parts.hint.text() == "Recorded: Not the person"
    assert "different chin" in panel.record_label.text()
    # an undecided candidate is editable again, with the current reviewer and a clean draft
    panel.set_candidate(review, 4)
    assert parts.lead.isEnabled() and not parts.not_person.isChecked()
    assert parts.reviewer.text() == ANN and parts.reviewer.isEnabled()
    assert parts.rationale.toPlainText() == ""
    assert panel.record_label.isHidden()


def test_draft_does_not_follow_another_candidate(panel: DecisionPanel,
                                                 make_review: MakeReview) -> None:
    parts = Parts(panel)
    review = make_review()
    panel.set_reviewer(ANN)
    panel.set_candidate(review, 1)
    parts.lead.click()
    parts.rationale.setPlainText("similar eyebrows")
    panel.set_candidate(review, 1)  # the same candidate again keeps the draft
    assert parts.rationale.toPlainText() == "similar eyebrows" and parts.lead.isChecked()
    panel.set_candidate(review, 2)
    assert parts.rationale.toPlainText() == "" and panel.selected_decision() is None
    assert not parts.record.isEnabled()


def test_blind_review_needs_a_first_impression(qtbot, panel: DecisionPanel,
                                               imported_analyst,
                                               make_review: MakeReview) -> None:
    imported, analyst = imported_analyst
    parts = Parts(panel)
    review = make_review(blind=True)
    wire(panel, review, analyst)
    panel.set_reviewer(ANN)
    panel.set_candidate(review, 2)
    assert not parts.record.isEnabled() and not parts.lead.isEnabled()
    assert parts.hint.text().startswith("Record a first impression first")
    assert "rank and scores hidden" in panel.candidate_label.text()
    assert f"{review.candidate(2).distance:.3f}" not in panel.candidate_label.text()
    review.record_first_impression(2, "different")
    panel.set_candidate(review, 2)
    assert parts.lead.isEnabled()
    assert "Looks different" in panel.candidate_label.text()
    parts.inconclusive.click()
    qtbot.keyClicks(parts.rationale, "low resolution still")
    qtbot.mouseClick(parts.record, Qt.MouseButton.LeftButton)
    rows = decision_rows(imported)
    assert len(rows) == 1
    assert (rows[0].first_impression, rows[0].blind_review) == ("different", 1)


def test_store_error_is_shown_and_the_draft_kept(qtbot, panel: DecisionPanel,
                                                 desk, make_review: MakeReview) -> None:
    imported = desk.gallery
    parts = Parts(panel)
    shown = make_review()
    stale = make_review()  # the window's review knows of a decision the panel's does not
    stale.record_decision(desk.supervisor, 1, "inconclusive", "too blurred")
    wire(panel, stale, desk.analyst)
    panel.set_reviewer(ANN)
    panel.set_candidate(shown, 1)
    parts.lead.click()
    qtbot.keyClicks(parts.rationale, "same hairline")
    qtbot.mouseClick(parts.record, Qt.MouseButton.LeftButton)
    assert parts.hint.text() == "candidate 1 already has a decision"
    assert "#b00020" in parts.hint.styleSheet()
    assert parts.rationale.toPlainText() == "same hairline" and parts.lead.isChecked()
    assert len(decision_rows(imported)) == 1
    qtbot.keyClicks(parts.rationale, ".")  # editing the draft clears the error
    assert parts.hint.text() == f"Ready to record. {LEAD_BANNER}."
