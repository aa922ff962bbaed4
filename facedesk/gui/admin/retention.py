"""Retention: what is due for purging now, and purging it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from facedesk.app import cases
from facedesk.app.accounts import Session
from facedesk.gui.admin.base import AdminDialog, user_names
from facedesk.gui.admin.settings import SettingsDialog
from facedesk.gui.formatting import noun, plural, when
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.tables import fill_table, make_table
from facedesk.gui.widgets import button, column, wrapped


class RetentionDialog(AdminDialog):
    """What retention purges now, and purging it."""

    COLUMNS = ("Case", "Search", "Time", "User", "Decisions", "Probe")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, "retentionDialog", "Retention", parent)
        self.plan: cases.PurgePlan | None = None

        self.period_label = wrapped(name="retentionPeriod")
        self.plan_label = wrapped(name="purgePlan")
        self.table = make_table(self.COLUMNS, "purgeTable")
        self.purge_button = button("Purge now…", "purgeButton", self._purge_clicked)
        self.settings_button = button("Settings…", "openSettingsButton", self._open_settings)
        buttons = self.closing_row(self.purge_button, self.settings_button, None)
        column(self, self.period_label, self.plan_label, (self.table, 1), self.error_label,
               self.status_label, buttons)
        fit_to_screen(self, 820, 480)
        self.refresh()

    def refresh(self) -> None:
        plan = self.plan = cases.purge_plan(self.gallery)
        self.allow(self.settings_button, "change_settings")
        if plan.retention_days is None:
            self.period_label.setText(
                "<b>No retention period is set</b>: every search is kept. An administrator "
                "sets one in Administration ▸ Settings (Retention).")
            self.plan_label.setText("")
            fill_table(self.table, [])
            self.allow(self.purge_button, "purge", False,
                       "No retention period is set: set one in Settings first.")
            return
        self.period_label.setText(
            f"<b>Retention period: {plan.retention_days} days.</b> The searches of cases "
            "with neither a confirmed lead nor a possible lead waiting for its second "
            "review, made before "
            f"{when(plan.cutoff)}, are purged with their probe images, decisions and second "
            "reviews. A purge is itself an audit event; the audit log keeps its events.")
        names = user_names(self.session)
        due = set(plan.searches)
        rows: list[tuple[Any, Sequence[str]]] = []
        for number in plan.cases:
            case = cases.get_case(self.gallery, number)
            decided = cases.decisions(self.gallery, case.id)
            for s in cases.searches(self.gallery, case.id):
                if s.id in due:
                    n = sum(1 for d in decided if d.search_id == s.id)
                    rows.append((s.id, (case.number, str(s.id), when(s.created_at),
                                           names.get(s.user_id, s.user_id),
                                           str(n), s.probe_name)))
        fill_table(self.table, rows)
        if plan.searches:
            self.plan_label.setText(
                f"Due now: {self._purged(plan)} in {noun(len(plan.cases), 'case')} "
                f"{', '.join(plan.cases)}.")
        else:
            self.plan_label.setText("Nothing is due: no search is older than the period "
                                    "(or every old one belongs to a case with a confirmed "
                                    "lead or a lead waiting for its second review).")
        self.allow(self.purge_button, "purge", bool(plan.searches),
                   "Nothing is due for purging.")

    # -- actions -------------------------------------------------------------------------------

    def purge(self, wait: bool = True) -> cases.PurgePlan | None:
        """Purge what is due now; what was purged. wait=False (the Purge button): purged
        off the GUI thread (None is returned)."""
        def shown(done: cases.PurgePlan) -> cases.PurgePlan:
            self.refresh()
            self.show_status(
                f"Purged {self._purged(done)}"
                + (f" of {noun(len(done.cases), 'case')} {', '.join(done.cases)}"
                   if done.cases else "") + ". The purge is recorded in the audit log.")
            return done

        return self.act_now_or_later(cases.purge, shown, wait)

    @staticmethod
    def _purged(plan: cases.PurgePlan) -> str:
        """'3 searches and 1 decision'"""
        return (f"{plural(len(plan.searches), 'search', 'searches')} and "
                f"{plural(len(plan.decisions), 'decision')}")

    def _purge_clicked(self) -> None:
        plan = self.plan
        if plan is None:
            return
        answer = QMessageBox.question(
            self, "Purge now",
            f"Purge {len(plan.searches)} search(es) and {len(plan.decisions)} decision(s) "
            f"of case(s) {', '.join(plan.cases)}, with their probe images? This cannot be "
            "undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.purge(wait=False)

    def _open_settings(self) -> None:
        SettingsDialog(self.session, self).exec()
        self.refresh()
