"""The DECISION region of the analyst's screen: the signed-in reviewer's decision on the
selected candidate — possible lead, not the person, or inconclusive — with a mandatory
rationale and the FISWG feature-by-feature checklist beside it (gui/checklist_panel.py),
under a permanent "investigative lead only" banner.

The reviewer is the signed-in user, shown and not editable (`set_reviewer`). The panel
stores nothing itself: "Record decision" emits `decision_requested`; the window calls
`Review.record_decision` with its session and reports back with `decision_recorded` (the
stored decision, with its lead status) or `show_error`; it reads the checklist with
`checklist()`. `set_blocked` says why nothing can be recorded (no one signed in, a closed
case, a role that may not decide); `set_checklist_required` follows the administrator's
setting. What a checklist lacks is said by `fiswg.checklist_problem`, the one rule.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from facedesk.app.cases import LEAD_STATUS, Decision
from facedesk.app.review import DECISIONS, FIRST_IMPRESSIONS, LEAD_BANNER, Review
from facedesk.domain.fiswg import Checklist, checklist_problem
from facedesk.gui.candidates_panel import decision_label
from facedesk.gui.checklist_panel import ChecklistPanel
from facedesk.gui.formatting import when
from facedesk.gui.styles import ERROR_COLOUR
from facedesk.gui.widgets import wrapped

#: object names of the decision radio buttons, by DECISIONS key
DECISION_BUTTONS = {
    "possible_lead": "decisionPossibleLead",
    "not_the_person": "decisionNotThePerson",
    "inconclusive": "decisionInconclusive",
}
NEED_IMPRESSION = "Record a first impression first"
#: what the panel says about a possible lead waiting for the two-person rule's second review
PENDING_LEAD = "Possible lead — pending second review by a supervisor"
RATIONALE_PLACEHOLDER = ("Rationale (required): what did you compare, feature by feature, "
                         "and what did you see?")

_BANNER_STYLE = ("QLabel#leadBanner { background: #fff3cd; color: #5c4400; "
                 "border: 1px solid #e0b84c; border-radius: 3px; padding: 4px 8px; "
                 "font-weight: bold; }")
_HINT_STYLE = "QLabel#decisionHint { color: %s; }"


class DecisionPanel(QWidget):
    """Decision form for one candidate at a time (see module docstring)."""

    #: (rank, decision key, rationale); the reviewer is the signed-in user
    decision_requested = Signal(int, str, str)

    def __init__(self, reviewer: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("decisionPanel")
        self._review: Review | None = None
        self._rank: int | None = None
        self._reviewer = reviewer
        self._error: str | None = None
        self._blocked: str | None = None
        self._saving = False  # a decision is being stored (off the GUI thread)
        self._checklist_required = False

        self.banner = QLabel(LEAD_BANNER)
        self.banner.setObjectName("leadBanner")
        self.banner.setStyleSheet(_BANNER_STYLE)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self.candidate_label = QLabel()
        self.candidate_label.setObjectName("decisionCandidate")
        self.candidate_label.setWordWrap(True)

        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QRadioButton] = {}
        radios = QHBoxLayout()
        for key, label in DECISIONS.items():
            button = QRadioButton(label)
            button.setObjectName(DECISION_BUTTONS[key])
            if key == "possible_lead":
                button.setToolTip(LEAD_BANNER)
            self.group.addButton(button)
            self.buttons[key] = button
            radios.addWidget(button)
        radios.addStretch(1)
        self.group.buttonToggled.connect(lambda *_: self._draft_changed())

        self.reviewer_edit = QLineEdit(reviewer)
        self.reviewer_edit.setObjectName("reviewerEdit")
        self.reviewer_edit.setPlaceholderText("Not signed in")
        self.reviewer_edit.setReadOnly(True)
        self.reviewer_edit.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # it reads as text, not as a box to type in: no frame, the window's background
        self.reviewer_edit.setFrame(False)
        self.reviewer_edit.setStyleSheet(
            "QLineEdit#reviewerEdit { background: transparent; border: none; }")
        self.reviewer_edit.setToolTip("The signed-in user records the decision "
                                      "(File > Sign in as another user…)")
        self.reviewer_edit.setMinimumWidth(260)

        self.rationale_edit = QPlainTextEdit()
        self.rationale_edit.setObjectName("rationaleEdit")
        self.rationale_edit.setPlaceholderText(RATIONALE_PLACEHOLDER)
        self.rationale_edit.setTabChangesFocus(True)
        self.rationale_edit.setMinimumHeight(48)
        self.rationale_edit.textChanged.connect(self._draft_changed)

        self.record_label = wrapped(name="decisionRecord", selectable=True)

        self.hint = QLabel()
        self.hint.setObjectName("decisionHint")
        self.hint.setWordWrap(True)

        self.record_button = QPushButton("Record decision")
        self.record_button.setObjectName("confirmButton")
        self.record_button.clicked.connect(self._record_clicked)

        self.checklist_panel = ChecklistPanel()
        self.checklist_panel.changed.connect(self._draft_changed)

        form = QGridLayout()
        form.addWidget(QLabel("Decision:"), 0, 0)
        form.addLayout(radios, 0, 1)
        form.addWidget(QLabel("Reviewer:"), 0, 2)
        form.addWidget(self.reviewer_edit, 0, 3)
        form.addWidget(QLabel("Rationale:"), 1, 0, Qt.AlignmentFlag.AlignTop)
        form.addWidget(self.rationale_edit, 1, 1, 1, 3)
        # a decided candidate shows its stored rationale here, read-only, instead
        form.addWidget(self.record_label, 1, 1, 1, 3, Qt.AlignmentFlag.AlignTop)
        form.setColumnStretch(1, 1)

        bottom = QHBoxLayout()
        bottom.addWidget(self.hint, 1)
        bottom.addWidget(self.record_button)

        left = QVBoxLayout()
        left.addWidget(self.banner)
        left.addWidget(self.candidate_label)
        left.addLayout(form, 1)
        left.addLayout(bottom)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 11)
        layout.addWidget(self.checklist_panel, 9)
        self.set_candidate(None, None)

    # -- API --------------------------------------------------------------------------------

    def set_candidate(self, review: Review | None, rank: int | None) -> None:
        """Show one candidate. A new candidate starts with an empty draft; an already
        decided one is shown read-only."""
        if review is not self._review or rank != self._rank:
            self._clear_draft()
        self._review = review
        self._rank = rank
        self._error = None
        self._update_state()

    def set_reviewer(self, name: str) -> None:
        """The signed-in user who records decisions ("" when no one is signed in)."""
        self._reviewer = name
        if self._decided_row() is None:
            self.reviewer_edit.setText(name)
        self._update_state()

    def set_blocked(self, reason: str | None) -> None:
        """Nothing can be recorded, for this reason (None: recording is allowed)."""
        self._blocked = reason
        self._update_state()

    def set_checklist_required(self, required: bool) -> None:
        """The administrator's setting: a possible lead needs the complete checklist."""
        self._checklist_required = required
        self.checklist_panel.set_required(required)
        self._update_state()

    def checklist(self) -> Checklist:
        """The FISWG checklist as judged in the panel (empty: none)."""
        return self.checklist_panel.checklist()

    def set_saving(self, saving: bool) -> None:
        """While the window stores a decision (off the GUI thread): the form is read-only
        and a second click records nothing."""
        self._saving = saving
        self._update_state()
        if saving:
            self._set_hint("Recording the decision…")

    def is_saving(self) -> bool:
        return self._saving

    def reviewer(self) -> str:
        return self._reviewer.strip()

    def selected_decision(self) -> str | None:
        for key, button in self.buttons.items():
            if button.isChecked():
                return key
        return None

    def rationale(self) -> str:
        return self.rationale_edit.toPlainText().strip()

    def decision_recorded(self, row: Decision) -> None:
        """The window stored the decision (`row` as returned by Review.record_decision):
        clear the draft and show the candidate's decision read-only."""
        self._error = None
        self._clear_draft()
        self._update_state(recorded=row)

    def show_error(self, message: str) -> None:
        self._error = message
        self._set_hint(message, error=True)

    # -- internals --------------------------------------------------------------------------

    def _decided_row(self) -> Decision | None:
        if self._review is None or self._rank is None:
            return None
        return self._review.decided.get(self._rank)

    def _check_only(self, key: str | None) -> None:
        """Check one decision button (or none) without treating it as the user's edit."""
        self.group.blockSignals(True)
        self.group.setExclusive(False)
        for k, button in self.buttons.items():
            button.setChecked(k == key)
        self.group.setExclusive(True)
        self.group.blockSignals(False)

    def _clear_draft(self) -> None:
        self._check_only(None)
        self.rationale_edit.blockSignals(True)
        self.rationale_edit.clear()
        self.rationale_edit.blockSignals(False)
        self.checklist_panel.blockSignals(True)
        self.checklist_panel.clear()
        self.checklist_panel.blockSignals(False)

    def _draft_changed(self) -> None:
        self._error = None
        if self._decided_row() is None:
            self._update_state()

    def _candidate_text(self) -> str:
        review, rank = self._review, self._rank
        if review is None or rank is None:
            return "No candidate selected."
        cand = review.candidate(rank)
        who = f"{cand.person_id} ({cand.name})" if cand.name else cand.person_id
        if review.scores_visible(rank):
            text = f"Candidate ranked {rank}: {who}, distance {cand.distance:.3f}"
        else:
            text = f"Candidate {who} — rank and scores hidden in blind review"
        impression = review.first_impressions.get(rank)
        if impression is not None:
            text += f". First impression: {FIRST_IMPRESSIONS.get(impression, impression)}"
        return text

    def _set_editable(self, decision: bool, reviewer: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(decision)
        self.rationale_edit.setEnabled(decision)
        self.reviewer_edit.setEnabled(reviewer)
        self.checklist_panel.set_read_only(
            not decision, "" if decision else "The checklist is judged with the decision.")

    def _update_state(self, recorded: Decision | None = None) -> None:
        review, rank = self._review, self._rank
        self.candidate_label.setText(self._candidate_text())
        decided = recorded if recorded is not None else self._decided_row()
        if review is None or rank is None:
            if self.reviewer_edit.text() != self._reviewer:  # not a decided row's reviewer
                self.reviewer_edit.setText(self._reviewer)
            self._set_editable(False, True)
            self.record_label.hide()
            self.rationale_edit.show()
            self.record_button.setEnabled(False)
            self._set_hint("Select a candidate to review.")
            return
        if decided is not None:
            self._show_decided(decided)
            return
        self.record_label.hide()
        self.rationale_edit.show()
        if self.reviewer_edit.text() != self._reviewer:
            self.reviewer_edit.setText(self._reviewer)
        if self._blocked is not None:
            self._set_editable(False, True)
            self.record_button.setEnabled(False)
            self._set_hint(self._blocked)
            return
        if self._saving:
            self._set_editable(False, False)
            self.record_button.setEnabled(False)
            return
        if not review.scores_visible(rank):
            self._set_editable(False, True)
            self.record_button.setEnabled(False)
            self._set_hint(f"{NEED_IMPRESSION}: the scores are hidden until you record "
                           "one, to reduce automation bias.")
            return
        self._set_editable(True, True)
        missing = []
        if self.selected_decision() is None:
            missing.append("choose a decision")
        if not self.reviewer():
            missing.append("sign in")
        if not self.rationale():
            missing.append("write a rationale")
        problem = self._checklist_problem()
        self.record_button.setEnabled(not missing and problem is None)
        if self._error is not None:
            self._set_hint(self._error, error=True)
        elif missing:
            self._set_hint("To record: " + ", ".join(missing) + ".")
        elif problem is not None:
            self._set_hint(f"Checklist: {problem}.")
        elif self.selected_decision() == "possible_lead":
            self._set_hint(f"Ready to record. {LEAD_BANNER}.")
        else:
            self._set_hint("Ready to record.")

    def _show_decided(self, row: Decision) -> None:
        key = row.decision
        self._check_only(key)
        self._set_editable(False, False)
        self.reviewer_edit.setText(row.reviewer)
        stamp = when(row.created_at)
        by = f"recorded by {_escape(row.reviewer)}" + (
            f", {_escape(stamp)}" if stamp else "")
        self.record_label.setText(f"{_escape(row.rationale)}"
                                  f"<br><i>({by}; a decision cannot be changed here)</i>")
        self.rationale_edit.hide()
        self.record_label.show()
        self.checklist_panel.set_checklist(row.checklist)
        self.checklist_panel.set_read_only(
            True, "Recorded with the decision." if row.checklist else
            "No checklist was recorded with this decision.")
        self.record_button.setEnabled(False)
        self._set_hint(f"Recorded: {status_text(row)}", bold=True)

    def _set_hint(self, text: str, error: bool = False, bold: bool = False) -> None:
        self.hint.setText(text)
        style = _HINT_STYLE % (ERROR_COLOUR if error else "palette(text)")
        if bold or error:
            style = style.replace("}", "font-weight: bold; }")
        self.hint.setStyleSheet(style)

    def _checklist_problem(self) -> str | None:
        decision = self.selected_decision()
        if decision is None:
            return None
        return checklist_problem(self.checklist(), decision,
                                 required=self._checklist_required)

    def _record_clicked(self) -> None:
        decision = self.selected_decision()
        if (self._rank is None or decision is None or not self.reviewer()
                or self._blocked is not None or not self.rationale()
                or self._checklist_problem() is not None
                or self._decided_row() is not None or self._saving):
            self._update_state()
            return
        self.decision_requested.emit(self._rank, decision, self.rationale())


def status_text(row: Decision) -> str:
    """A recorded decision in words, with where a possible lead stands."""
    key, status = row.decision, row.status
    if key != "possible_lead" or status == "confirmed":
        return decision_label(key)
    if status == "pending":
        return f"{PENDING_LEAD}. Not a result yet; {LEAD_BANNER.lower()}."
    return f"{DECISIONS[key]} — {LEAD_STATUS.get(str(status), str(status)).lower()}"


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>"))
