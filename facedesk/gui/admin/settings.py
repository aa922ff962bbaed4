"""The administrator's settings page of this gallery."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPlainTextEdit,
    QSizePolicy,
    QWidget,
)

from facedesk.app.accounts import Session
from facedesk.errors import AccountError, FaceDeskError
from facedesk.gui.admin.base import AdminDialog, not_permitted, quietly
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.widgets import button, column, hint, spin_box, wrapped

TRAINING_WARNING = ("A training gallery's decisions never count: cases opened while this is "
                    "on are training cases, and none of their possible leads is ever a case "
                    "result. Trainers may work in a training gallery.")


class SettingsDialog(AdminDialog):
    """The administrator's settings of this gallery; only changed values are saved."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, "settingsDialog", "Settings", parent)

        self.two_person = QCheckBox("Two-person rule: an analyst's possible lead waits for a "
                                    "second review by a supervisor", objectName="twoPersonRule")
        self.blind = QCheckBox("Blind second review: the supervisor sees the analyst's "
                               "rationale only after their own verdict",
                               objectName="blindSecondReview")
        self.checklist_required = QCheckBox(
            "Feature-by-feature checklist required: a possible lead needs every FISWG "
            "component judged", objectName="checklistRequired")
        self.evidence_required = QCheckBox(
            "Independent evidence required: a lead sheet goes out only after the analyst "
            "records it", objectName="evidenceRequired")
        self.retention = spin_box("retentionDays", 1, 36500, " days")
        self.keep = QCheckBox("Keep searches (no retention period)", objectName="keepSearches")
        self.keep.toggled.connect(lambda on: self.retention.setEnabled(not on and self._may))
        self.threshold = QDoubleSpinBox(objectName="threshold")
        self.threshold.setRange(0.20, 1.00)
        self.threshold.setDecimals(2)
        self.threshold.setSingleStep(0.01)
        self.top_k = spin_box("topK", 1, 200)
        for spin in (self.retention, self.threshold, self.top_k):
            spin.setMinimumWidth(110)
            spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.purposes = QPlainTextEdit(objectName="purposes")
        self.purposes.setPlaceholderText("One purpose per line")
        self.purposes.setFixedHeight(90)
        self.training = QCheckBox("Training gallery", objectName="training")
        # sign-in: back-off and lockout after failed passwords
        self.backoff = QDoubleSpinBox(objectName="backoffSeconds")
        self.backoff.setRange(0.0, 60.0)
        self.backoff.setDecimals(1)
        self.backoff.setSuffix(" s")
        self.lockout_after = spin_box("lockoutAfter", 3, 100, " failed sign-ins")
        self.lockout_minutes = spin_box("lockoutMinutes", 1, 7 * 24 * 60, " minutes")
        self.lock_until_unlocked = QCheckBox("until an administrator unlocks",
                                             objectName="lockUntilUnlocked")
        self.lock_until_unlocked.toggled.connect(
            lambda on: self.lockout_minutes.setEnabled(not on and self._may))
        for spin in (self.backoff, self.lockout_after, self.lockout_minutes):
            spin.setMinimumWidth(150)
            spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.import_roots = QPlainTextEdit(objectName="importRoots")
        self.import_roots.setPlaceholderText("Folders manifests may name by absolute path, "
                                             "one per line")
        self.import_roots.setFixedHeight(60)
        self.training_warning = wrapped(TRAINING_WARNING, "trainingWarning")
        self.training_warning.setStyleSheet("color: #8a5a00;")

        retention_row = QHBoxLayout()
        retention_row.addWidget(self.retention)
        retention_row.addWidget(self.keep)
        retention_row.addStretch(1)
        form = QFormLayout()
        form.addRow(self.two_person)
        form.addRow(self.blind)
        form.addRow(self.checklist_required)
        form.addRow(self.evidence_required)
        form.addRow("", hint("Without it, a lead sheet's banner says that no independent "
                              "evidence is recorded yet."))
        form.addRow("Retention:", retention_row)
        form.addRow("", hint("Searches of cases without a confirmed lead are purged after "
                              "this period."))
        form.addRow("Threshold (distance):", self.threshold)
        form.addRow("", hint("Candidates farther than this are not shown "
                              "(face_recognition's usual threshold: 0.60)."))
        form.addRow("Candidates shown (top K):", self.top_k)
        form.addRow("Purposes of a case:", self.purposes)
        form.addRow(self.training)
        form.addRow(self.training_warning)
        form.addRow("Back-off after a failed sign-in:", self.backoff)
        form.addRow("", hint("Doubles with each failure in a row; attempts meanwhile are "
                              "refused unchecked."))
        form.addRow("Lock password sign-in after:", self.lockout_after)
        lock_row = QHBoxLayout()
        lock_row.addWidget(self.lockout_minutes)
        lock_row.addWidget(self.lock_until_unlocked)
        lock_row.addStretch(1)
        form.addRow("Lock lasts:", lock_row)
        form.addRow("Import folders:", self.import_roots)

        self.save_button = button("Save changes", "saveSettingsButton", lambda: quietly(self.apply))
        buttons = self.closing_row((self.status_label, 1), self.save_button)
        column(self, form, None, self.error_label, buttons)
        fit_to_screen(self, 700, 620)
        self.load()

    @property
    def _may(self) -> bool:
        return self.session.may("change_settings")

    def load(self) -> None:
        """Show the stored settings."""
        s = self.session.settings()
        self.two_person.setChecked(s.two_person_rule)
        self.blind.setChecked(s.blind_second_review)
        self.checklist_required.setChecked(s.checklist_required)
        self.evidence_required.setChecked(s.evidence_required)
        self.keep.setChecked(s.retention_days is None)
        self.retention.setValue(s.retention_days or 365)
        self.threshold.setValue(s.threshold)
        self.top_k.setValue(s.top_k)
        self.purposes.setPlainText("\n".join(s.purposes))
        self.training.setChecked(s.training)
        self.backoff.setValue(s.backoff_seconds)
        self.lockout_after.setValue(s.lockout_after)
        self.lock_until_unlocked.setChecked(s.lockout_minutes is None)
        self.lockout_minutes.setValue(s.lockout_minutes or 30)
        self.import_roots.setPlainText("\n".join(s.import_roots))
        for w in (self.two_person, self.blind, self.checklist_required,
                  self.evidence_required, self.keep, self.threshold, self.top_k,
                  self.purposes, self.training, self.backoff, self.lockout_after,
                  self.lock_until_unlocked, self.import_roots):
            w.setEnabled(self._may)
            w.setToolTip("" if self._may else not_permitted(self.session, "change_settings"))
        self.retention.setEnabled(self._may and not self.keep.isChecked())
        self.lockout_minutes.setEnabled(self._may and not self.lock_until_unlocked.isChecked())
        self.allow(self.save_button, "change_settings")

    def values(self) -> dict[str, Any]:
        """The settings as the form shows them."""
        return {
            "two_person_rule": self.two_person.isChecked(),
            "blind_second_review": self.blind.isChecked(),
            "checklist_required": self.checklist_required.isChecked(),
            "evidence_required": self.evidence_required.isChecked(),
            "retention_days": None if self.keep.isChecked() else self.retention.value(),
            "threshold": round(self.threshold.value(), 2),
            "top_k": self.top_k.value(),
            "purposes": [p.strip() for p in self.purposes.toPlainText().splitlines()
                         if p.strip()],
            "training": self.training.isChecked(),
            "backoff_seconds": round(self.backoff.value(), 1),
            "lockout_after": self.lockout_after.value(),
            "lockout_minutes": None if self.lock_until_unlocked.isChecked()
            else self.lockout_minutes.value(),
            "import_roots": [p.strip() for p in self.import_roots.toPlainText().splitlines()
                             if p.strip()],
        }

    def changes(self) -> dict[str, Any]:
        stored = self.session.settings().as_dict()
        out = {}
        for name, value in self.values().items():
            before = stored[name]
            if name in ("threshold", "backoff_seconds"):
                if round(float(before), 2) != value:
                    out[name] = value
            elif before != value:
                out[name] = value
        return out

    def apply(self) -> list[str]:
        """Save the changed settings (each one an audit event); their names. On a refusal
        before anything was saved the form keeps what was typed; after some changes were
        saved, it shows the stored settings again and says which changes were saved."""
        changed = self.changes()
        done: list[str] = []

        def run() -> None:
            if "purposes" in changed and not changed["purposes"]:
                raise AccountError("enter at least one purpose (one per line)")
            for name, value in changed.items():
                self.session.set_setting(name, value)
                done.append(name)

        try:
            self.act(run)
        except FaceDeskError as exc:
            if done:
                self.load()  # what is stored now: the saved changes, not the others
                left = [n for n in changed if n not in done]
                self.show_error(f"{exc.message}. Saved: {', '.join(done)}; not saved: "
                                f"{', '.join(left)} (the form shows the stored settings).")
                self.show_status("Saved: " + ", ".join(done) + ".")
            else:
                self.show_status("Nothing was saved.")
            raise
        self.load()
        self.show_status("Saved: " + ", ".join(done) + "." if done else "Nothing changed.")
        return done
