"""One case's overview: its searches, decisions and second reviews, results and audit
events; recording a confirmed lead's independent evidence, exporting a lead sheet,
re-running the case against new faces (the candidates a re-run showed first are marked
new), the cases waiting for such a re-run, the case's disclosure package, and closing the
case."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSignalBlocker, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QTabWidget, QWidget

from facedesk.app import cases, disclosure, rerun
from facedesk.app.accounts import Session
from facedesk.app.review import DECISIONS
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.engine.spec import EngineSpec
from facedesk.gui.admin.base import AdminDialog, banner, quietly, short_data, user_names
from facedesk.gui.formatting import plural, when
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.tables import fill_table, make_table, paint_row, select_key, selected_key
from facedesk.gui.tasks import describe_error, rebind, run_task
from facedesk.gui.widgets import button, column, wrapped

NOT_A_RESULT = ("A possible lead pending second review is not a result: only a lead that a "
                "second reviewer confirmed is.")

_STATUS_COLORS = {"confirmed": QColor("#d4edda"), "pending": QColor("#fff3cd"),
                  "overturned": QColor("#e2e3e5")}


class CaseOverviewDialog(AdminDialog):
    """One case: its searches, decisions and second reviews, results and audit events."""

    #: the case id, after it was closed here
    case_closed = Signal(int)

    SEARCH_COLUMNS = ("Time", "User", "Probe", "Candidates shown", "Threshold", "Purged",
                      "Re-run: new candidates")
    WAITING_COLUMNS = ("Case", "Probes with new faces", "New faces (at most)", "Last search",
                       "Probes that cannot be re-run")
    DECISION_COLUMNS = ("Time", "Candidate", "Decision", "Analyst", "Rationale", "Status",
                        "Second reviewer", "Verdict", "Review rationale")
    EVENT_COLUMNS = ("#", "Time", "User", "Event", "Details")

    def __init__(self, session: Session, case: cases.Case,
                 parent: QWidget | None = None, *, engine: EngineSpec | None = None) -> None:
        super().__init__(session, "caseOverviewDialog", parent=parent)
        self.case = case
        #: the engine a re-run describes the stored probes with (the window's)
        self.engine_spec = engine or EngineSpec()
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
        self.waiting_table = make_table(self.WAITING_COLUMNS, "waitingCasesTable")
        self.tabs.addTab(self.waiting_table, "Cases with new faces")
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
        self.rerun_button = button("Re-run against new faces", "rerunButton",
                                   lambda: quietly(lambda: self.rerun_case(wait=False)))
        self.disclose_button = button("Disclosure package…", "discloseButton",
                                      self._disclose_clicked)
        #: opens the disclosure package's PDF just written
        self.open_disclosure_button = button("Open disclosure PDF", "openDisclosureButton",
                                             self._open_disclosure)
        self.open_disclosure_button.hide()
        self._disclosed: Path | None = None
        self._busy = False
        buttons = self.closing_row(self.evidence_button, self.export_button, self.open_sheet_button,
                                   self.rerun_button, self.disclose_button,
                                   self.open_disclosure_button,
                                   self.close_case_button, None)

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
        new = rerun.new_candidates(view.searches)
        search_rows = []
        for s in view.searches:
            purged = "probe image purged " + when(s.purged_at) if s.purged_at else \
                "no" if s.has_probe_image else "probe image not stored"
            search_rows.append((s.id, (
                when(s.created_at), names.get(s.user_id, s.user_id),
                s.probe_name, str(len(s.candidates)), f"{s.threshold:.2f}", purged,
                new_candidates_text(new.get(s.id)))))
        fill_table(self.searches_table, search_rows)
        self._refresh_waiting()

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

    def _refresh_waiting(self) -> None:
        """The cases waiting for a re-run, read off the GUI thread (it counts faces)."""
        session = self.session

        def fill(queue: list[rerun.WaitingCase]) -> None:
            fill_table(self.waiting_table, [(w.case.id, (
                w.case.number, str(w.probes), f"{w.new_faces:,}", when(w.last_search_at),
                str(w.not_rerunnable))) for w in queue])
            self.tabs.setTabText(self.tabs.indexOf(self.waiting_table),
                                 f"Cases with new faces ({len(queue)})")

        run_task(self, lambda gallery: rerun.waiting_cases(rebind(session, gallery)), fill,
                 lambda exc: self.show_error(describe_error(exc)),
                 gallery=session.gallery.open_location, name="waiting cases")

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
        self.allow(self.rerun_button, "search", self.case.is_open and not self._busy,
                   "A closed case cannot be re-run." if not self.case.is_open
                   else "Working…")
        if self.rerun_button.isEnabled():
            self.rerun_button.setToolTip(
                "Search each probe of this case again, against the faces imported since "
                "its last search; the searches are recorded, new candidates are marked.")
        self.allow(self.disclose_button, "disclose", not self._busy, "Working…")

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

    def _open_disclosure(self) -> None:
        if self._disclosed is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._disclosed)))

    def _export_clicked(self) -> None:
        d = self.selected_decision()
        if d is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder for the lead sheet",
                                                  str(Path.home()))
        if folder:
            self.export_lead_sheet(int(d.id), Path(folder), wait=False)

    def _working(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()

    def _steps(self, start: Callable[[Session, CancelToken], Iterator[Any]],
               shown: Callable[[Any], object], progress: Callable[[Any], str],
               name: str) -> None:
        """Run a progress generator of the app off the GUI thread (the gallery lane),
        its progress in the status line, `shown(result)` when it ends with one."""
        self.show_error("")
        self._working(True)
        session = self.session

        def done(ev: Any) -> None:
            self._working(False)
            if ev is not None and ev.result is not None:
                shown(ev.result)

        def failed(exc: BaseException) -> None:
            self._working(False)
            self.show_error(describe_error(exc))

        run_task(self, lambda gallery, token: start(rebind(session, gallery), token), done,
                 failed, progress=lambda ev: self.show_status(progress(ev)),
                 gallery=session.gallery.open_location, name=name)

    def rerun_case(self, wait: bool = True) -> rerun.RerunReport | None:
        """Re-run the case against the faces imported since each probe's last search
        (facedesk.app.rerun). wait=False (the button): off the GUI thread, with progress
        in the status line (None is returned)."""
        case_id, spec = self.case.id, self.engine_spec

        def shown(report: rerun.RerunReport) -> rerun.RerunReport:
            self.show_status(rerun_summary(report))
            self.refresh()
            self.tabs.setCurrentWidget(self.searches_table)
            return report

        if wait:
            return shown(self.act(lambda: _rerun_now(self.session, case_id, spec)))
        self._steps(lambda session, token: rerun.rerun_steps(
                        session, case_id, spec.create(), cancel=token), shown,
                    lambda ev: f"Re-running: probe {ev.done} of {ev.total}…", "rerun")
        return None

    def export_disclosure(self, out_dir: Path, wait: bool = True
                          ) -> disclosure.DisclosurePackage | None:
        """Write the case's disclosure package into `out_dir`. wait=False (the button):
        off the GUI thread, with progress in the status line (None is returned)."""
        case_id = self.case.id

        def shown(pkg: disclosure.DisclosurePackage) -> disclosure.DisclosurePackage:
            self.show_status(f"Disclosure package written: {pkg.folder} ({len(pkg.files)} "
                             f"files; manifest SHA-256 {pkg.manifest_sha256[:16]}…)")
            self._disclosed = pkg.folder / disclosure.PDF_NAME
            self.open_disclosure_button.setVisible(True)
            self.open_disclosure_button.setToolTip(f"Open {self._disclosed}")
            self.refresh()
            return pkg

        if wait:
            return shown(self.act(lambda: disclosure.disclose(self.session, case_id, out_dir)))
        self._steps(lambda session, token: disclosure.disclose_steps(
                        session, case_id, out_dir, cancel=token), shown,
                    lambda ev: f"Disclosure package: {ev.step}…", "disclosure")
        return None

    def _disclose_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder for the disclosure package", str(Path.home()))
        if folder:
            self.export_disclosure(Path(folder), wait=False)

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


def new_candidates_text(new: set[str] | None) -> str:
    """The searches table's re-run cell: blank for a search that is not a re-run."""
    if new is None:
        return ""
    return "new: " + ", ".join(sorted(new)) if new else "none new"


def rerun_summary(report: rerun.RerunReport) -> str:
    """The status line after a re-run: what each probe got, new candidates named."""
    parts = []
    for p in report.probes:
        if p.search is not None:
            n = len(p.search.result.candidates)
            new = f" — NEW: {', '.join(p.new_persons)}" if p.new_persons else ""
            parts.append(f"{p.probe_name}: {p.new_faces:,} new faces searched, "
                         f"{plural(n, 'candidate')}{new}")
        else:
            parts.append(f"{p.probe_name}: {p.outcome}" + (f" ({p.reason})" if p.reason
                                                             else ""))
    head = f"Re-run: {plural(len(report.searches), 'new search', 'new searches')}."
    return " ".join([head, *(f"{x}." for x in parts)])


def _rerun_now(session: Session, case_id: int, spec: EngineSpec) -> rerun.RerunReport:
    report = run_to_end(rerun.rerun_steps(session, case_id, spec.create()))
    assert report is not None
    return report
