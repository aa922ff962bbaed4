"""One case's overview: its searches, decisions and second reviews, results and audit
events; recording a confirmed lead's independent evidence, exporting its lead sheet, and
closing the case."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QTabWidget, QWidget

from facedesk.app import cases
from facedesk.app.accounts import Session
from facedesk.app.review import DECISIONS
from facedesk.gui.admin.base import AdminDialog, banner, quietly, short_data, user_names
from facedesk.gui.formatting import plural, when
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.tables import fill_table, make_table, paint_row, select_key, selected_key
from facedesk.gui.widgets import button, column, wrapped

NOT_A_RESULT = ("A possible lead pending second review is not a result: only a lead that a "
                "second reviewer confirmed is.")

_STATUS_COLORS = {"confirmed": QColor("#d4edda"), "pending": QColor("#fff3cd"),
                  "overturned": QColor("#e2e3e5")}


class CaseOverviewDialog(AdminDialog):
    """One case: its searches, decisions and second reviews, results and audit events."""

    #: the case id, after it was closed here
    case_closed = Signal(int)

    SEARCH_COLUMNS = ("Time", "User", "Probe", "Candidates shown", "Threshold", "Purged")
    DECISION_COLUMNS = ("Time", "Candidate", "Decision", "Analyst", "Rationale", "Status",
                        "Second reviewer", "Verdict", "Review rationale")
    EVENT_COLUMNS = ("#", "Time", "User", "Event", "Details")

    def __init__(self, session: Session, case: cases.Case,
                 parent: QWidget | None = None) -> None:
        super().__init__(session, "caseOverviewDialog", parent=parent)
        self.case = case
        self._decisions: dict[int, cases.Decision] = {}

        self.header = wrapped(name="caseHeader", selectable=True)
        self.searches_table = make_table(self.SEARCH_COLUMNS, "searchesTable")
        self.decisions_table = make_table(self.DECISION_COLUMNS, "decisionsTable")
        self.decisions_table.itemSelectionChanged.connect(self._update_buttons)
        self.events_table = make_table(self.EVENT_COLUMNS, "caseEventsTable")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.decisions_table, "Decisions")
        self.tabs.addTab(self.searches_table, "Searches")
        self.tabs.addTab(self.events_table, "Audit events")
        self.results_label = wrapped(name="resultsLabel")

        self.export_button = button("Export lead sheet…", "exportLeadSheetButton",
                                    self._export_clicked)
        #: opens the lead sheet just written (PDF) in the system's viewer
        self.open_sheet_button = button("Open lead sheet", "openLeadSheetButton", self._open_sheet)
        self.open_sheet_button.hide()
        #: what independent evidence was obtained for the selected confirmed lead
        self.evidence_button = button("Record evidence…", "recordEvidenceButton",
                                      self._evidence_clicked)
        self.evidence_label = wrapped(name="evidenceLabel")
        self._written: list[Path] = []
        self.close_case_button = button("Close case…", "closeCaseButton", self._close_clicked)
        buttons = self.closing_row(self.evidence_button, self.export_button,
                                   self.open_sheet_button, self.close_case_button, None)

        column(self, banner(), self.header, (self.tabs, 1), self.results_label,
               self.evidence_label, self.error_label, self.status_label, buttons)
        fit_to_screen(self, 1100, 640)
        self.refresh()

    @property
    def read_only(self) -> bool:
        return not self.case.is_open

    def refresh(self) -> None:
        c = self.case = cases.get_case(self.gallery, self.case.id)
        names = user_names(self.session)
        self.setWindowTitle(f"Case {c.number}" + ("" if c.is_open else " (closed)"))
        detail = f" — {html.escape(c.purpose_detail)}" if c.purpose_detail else ""
        state = "open" if c.is_open else (
            f"closed by {html.escape(names.get(c.closed_by or '', c.closed_by or ''))} on "
            f"{when(c.closed_at)}" + (f": {html.escape(c.closing_note)}"
                                      if c.closing_note else "") + " — read-only")
        training = ("<br><b>Training case</b>: its decisions never count as results."
                    if c.training else "")
        self.header.setText(
            f"<b>Case {html.escape(c.number)}</b> ({state})<br>"
            f"Purpose: {html.escape(c.purpose)}{detail}<br>"
            f"Opened by {html.escape(names.get(c.opened_by, c.opened_by))} on "
            f"{when(c.opened_at)}{training}")

        view = cases.case_view(self.session, c.id)
        search_rows = []
        for s in view.searches:
            purged = "probe image purged " + when(s.purged_at) if s.purged_at else \
                "no" if s.has_probe_image else "probe image not stored"
            search_rows.append((s.id, (
                when(s.created_at), names.get(s.user_id, s.user_id),
                s.probe_name, str(len(s.candidates)), f"{s.threshold:.2f}", purged)))
        fill_table(self.searches_table, search_rows)

        decided = view.decisions  # a rationale blind review hides reads BLIND_HIDDEN
        self._decisions = {d.id: d for d in decided}
        # which search (and probe) each decision belongs to: "#1 Martin_Scorsese" twice,
        # one confirmed and one not the person, read as a contradiction
        probes = {s.id: s.probe_name for s in view.searches}
        rows = []
        for d in decided:
            review = d.review
            if review is not None:
                second = (names.get(review.reviewer, review.reviewer),
                          cases.VERDICTS[review.verdict], review.rationale)
            elif d.status == "confirmed":
                second = ("none required (two-person rule off)", "", "")
            else:
                second = ("", "", "")
            rows.append((d.id, (
                when(d.created_at),
                f"search {d.search_id} ({probes.get(d.search_id, 'purged')}): "
                f"#{d.rank} {d.person_id}",
                DECISIONS.get(d.decision, d.decision),
                names.get(d.reviewer, d.reviewer),
                d.rationale,
                cases.LEAD_STATUS[d.status], *second)))
        selected = selected_key(self.decisions_table)
        fill_table(self.decisions_table, rows)
        for r, d in enumerate(decided):
            if d.status in _STATUS_COLORS:
                paint_row(self.decisions_table, r, _STATUS_COLORS[d.status])
        if selected is not None:
            with QSignalBlocker(self.decisions_table):
                select_key(self.decisions_table, selected)

        event_rows = [(e.seq, (str(e.seq), when(e.at, seconds=True),
                               names.get(e.user_id or "", e.user_id or ""), e.label,
                               short_data(e.data)))
                      for e in cases.audit_view(self.session, case=c.id).events]
        fill_table(self.events_table, event_rows)

        n = len(view.results)
        pending = sum(1 for d in decided if d.status == "pending")
        waiting = f" {plural(pending, 'possible lead')} pending second review." \
            if pending else ""
        if c.training:
            self.results_label.setText("Results: none — a training case's decisions never "
                                       "count as results.")
        else:
            self.results_label.setText(
                f"<b>Results: {plural(n, 'confirmed lead')}.</b>{waiting} "
                f"{NOT_A_RESULT}")
        self._update_buttons()

    def selected_decision(self) -> cases.Decision | None:
        key = selected_key(self.decisions_table)
        return None if key is None else self._decisions.get(int(key))

    def select_decision(self, decision_id: int) -> None:
        self.tabs.setCurrentWidget(self.decisions_table)
        select_key(self.decisions_table, decision_id)

    def _update_buttons(self) -> None:
        d = self.selected_decision()
        confirmed = d is not None and d.status == "confirmed"
        self.allow(self.export_button, "lead_sheet", confirmed,
                   "Select a confirmed lead in the Decisions tab: a lead sheet is made only "
                   "for a confirmed lead.")
        self.allow(self.evidence_button, "decide", confirmed and self.case.is_open,
                   "Select a confirmed lead of an open case in the Decisions tab: its "
                   "independent evidence is recorded before its lead sheet goes out.")
        found = cases.evidence(self.gallery, d.id) if confirmed and d is not None else []
        self.evidence_label.setText(
            "" if not confirmed or d is None else
            f"Independent evidence for decision {d.id}: " + (
                "; ".join(html.escape(e.text) for e in found) if found else
                f"<b>none recorded yet</b> — {html.escape(cases.NO_EVIDENCE_BANNER)}."))
        self.allow(self.close_case_button, "close_case", self.case.is_open,
                   "This case is closed: a closed case is read-only.")

    # -- actions -------------------------------------------------------------------------------

    def export_lead_sheet(self, decision_id: int, out_dir: Path,
                          wait: bool = True) -> list[Path] | None:
        """Write the lead sheet of a confirmed lead (PDF and HTML) into `out_dir`.
        wait=False (the Export button): written off the GUI thread (None is returned)."""
        def run(session: Session) -> list[Path]:
            from facedesk.app import lead_sheet

            return list(lead_sheet.export_lead_sheet(session, decision_id, out_dir,
                                                     ("pdf", "html")))

        def shown(paths: list[Path]) -> list[Path]:
            self.show_status("Lead sheet written: " + ", ".join(str(p) for p in paths))
            self._written = paths
            self.open_sheet_button.setVisible(bool(paths))
            self.open_sheet_button.setToolTip(f"Open {paths[0]}" if paths else "")
            self.refresh()
            return paths

        return self.act_now_or_later(run, shown, wait)

    def record_evidence(self, decision_id: int, text: str) -> cases.Evidence:
        """Record what independent evidence was obtained for a confirmed lead."""
        found = self.act(lambda: cases.record_evidence(self.session, decision_id, text))
        self.refresh()
        self.show_status(f"Independent evidence recorded for decision {decision_id}.")
        return found

    def _evidence_clicked(self) -> None:
        d = self.selected_decision()
        if d is None:
            return
        text, ok = QInputDialog.getMultiLineText(
            self, f"Independent evidence — decision {d.id}",
            "What independent evidence was obtained for this lead (what, from whom, when)?\n"
            "A face search alone is never grounds for action.")
        if ok:
            quietly(lambda: self.record_evidence(int(d.id), text))

    def _open_sheet(self) -> None:
        if self._written:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._written[0])))

    def _export_clicked(self) -> None:
        d = self.selected_decision()
        if d is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the lead sheet",
                                                  str(Path.home()))
        if folder:
            self.export_lead_sheet(int(d.id), Path(folder), wait=False)

    def close_case(self, note: str) -> cases.Case:
        """Close the case with a note; the dialog is read-only afterwards."""
        closed = self.act(lambda: cases.close_case(self.session, self.case, note))
        self.case = closed
        self.refresh()
        self.show_status(f"Case {closed.number} closed: it is read-only now.")
        self.case_closed.emit(closed.id)
        return closed

    def _close_clicked(self) -> None:
        pending = len(cases.pending_leads(self.gallery, self.case.id))
        warning = (f"\n\n{plural(pending, 'possible lead')} still "
                   "pending second review will stay unreviewed." if pending else "")
        note, ok = QInputDialog.getMultiLineText(
            self, f"Close case {self.case.number}",
            f"A closed case is read-only: no more searches or decisions.{warning}\n\n"
            "Closing note (optional):")
        if ok:
            quietly(lambda: self.close_case(note))
