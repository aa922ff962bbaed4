"""The audit log: events, filters, verification and export."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from facedesk.app import audit, cases
from facedesk.app.accounts import Session
from facedesk.gui.admin.base import AdminDialog, readable_data, short_data, user_names
from facedesk.gui.formatting import when
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.styles import ERROR_STYLE, OK_STYLE
from facedesk.gui.tables import KEY, fill_table, make_table, paint_row
from facedesk.gui.tasks import describe_error, run_task
from facedesk.gui.widgets import button, column, wrapped
from facedesk.store import Gallery

_BAD_ROW = QColor("#f8d7da")


def verify_file(path: Path | str, expect_head: str | None,
                expect_seq: int | None) -> audit.Verification:
    """`audit.verify` of the gallery at `path`, through a connection of its own (the
    Verify button runs it in the task runner's worker process)."""
    with Gallery.open(path) as gallery:
        return audit.verify(gallery, expect_head=expect_head, expect_seq=expect_seq)


class AuditLogDialog(AdminDialog):
    """The audit log: events, filters, verification and export."""

    COLUMNS = ("#", "Time", "User", "Event", "Case", "Details")

    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 wait: bool = True) -> None:
        """wait=False (the window's menu): the events are read off the GUI thread and shown
        when read."""
        super().__init__(session, "auditLogDialog", "Audit log", parent)
        self.broken_seq: int | None = None

        self.case_filter = QComboBox(objectName="caseFilter")
        self.kind_filter = QComboBox(objectName="kindFilter")
        self.kind_filter.addItem("All events", None)
        for key, label in audit.KINDS.items():
            self.kind_filter.addItem(label, key)
        self.case_filter.currentIndexChanged.connect(lambda *_: self.refresh())
        self.kind_filter.currentIndexChanged.connect(lambda *_: self.refresh())
        self.count_label = QLabel(objectName="eventCount")
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Case:"))
        filters.addWidget(self.case_filter)
        filters.addWidget(QLabel("Event:"))
        filters.addWidget(self.kind_filter)
        filters.addStretch(1)
        filters.addWidget(self.count_label)

        self.table = make_table(self.COLUMNS, "auditTable")

        self.expect_head_edit = QLineEdit(objectName="expectHead")
        self.expect_head_edit.setPlaceholderText(
            "optional: a head hash recorded earlier, or an exported audit-log.json — shows "
            "whether the log lost events since")
        self.verify_button = QPushButton("Verify", objectName="verifyButton")
        self.verify_button.setToolTip("Check every event's hash and link, the append-only "
                                      "triggers, and the stored records against their events")
        self.verify_button.clicked.connect(lambda: self.verify(
            self.expect_head_edit.text().strip() or None, wait=False))
        self.verify_label = wrapped(name="verifyResult", selectable=True)
        self.export_button = button("Export…", "exportAuditButton", self._export_clicked)
        self.head_edit = QLineEdit(objectName="exportedHead")
        self.head_edit.setReadOnly(True)
        self.head_edit.setPlaceholderText("after an export: the head hash to keep")
        self.allow(self.export_button, "export_audit")

        verify_row = QHBoxLayout()
        verify_row.addWidget(QLabel("Expected head:"))
        verify_row.addWidget(self.expect_head_edit, 1)
        verify_row.addWidget(self.verify_button)
        export_row = QHBoxLayout()
        export_row.addWidget(QLabel("Head to keep:"))
        export_row.addWidget(self.head_edit, 1)
        export_row.addWidget(self.export_button)
        bottom = self.closing_row((self.status_label, 1))

        column(self, filters, (self.table, 1), verify_row, self.verify_label, export_row,
               self.error_label, bottom)
        fit_to_screen(self, 1100, 680)
        self._load_cases()
        self.refresh(wait=wait)

    def _load_cases(self) -> None:
        self._case_numbers = {c.id: c.number for c in cases.cases(self.gallery)}
        current = self.case_filter.currentData()
        with QSignalBlocker(self.case_filter):
            self.case_filter.clear()
            self.case_filter.addItem("All cases", None)
            for cid, number in sorted(self._case_numbers.items(), key=lambda kv: kv[1]):
                self.case_filter.addItem(number, cid)
            i = self.case_filter.findData(current)
            self.case_filter.setCurrentIndex(max(i, 0))

    def set_filter(self, case_number: str | None = None, kind: str | None = None) -> None:
        """Show only the events of one case (by number) and/or one kind."""
        with QSignalBlocker(self.case_filter), QSignalBlocker(self.kind_filter):
            cid = next((i for i, n in self._case_numbers.items() if n == case_number), None)
            self.case_filter.setCurrentIndex(
                0 if case_number is None else max(self.case_filter.findData(cid), 0))
            self.kind_filter.setCurrentIndex(
                0 if kind is None else max(self.kind_filter.findData(kind), 0))
        self.refresh()

    def refresh(self, wait: bool = True) -> None:
        """Show the events the filters select. wait=False: read off the GUI thread (an
        import batch's event carries a digest per photo it stored: reading and parsing
        many of them is work the window must not wait for)."""
        case_id = self.case_filter.currentData()
        kind = self.kind_filter.currentData()

        def read(session: Session) -> tuple[cases.AuditView, audit.Event | None]:
            return (cases.audit_view(session, case=case_id,
                                     kinds=None if kind is None else [kind]),
                    audit.head(session.gallery))

        self.act_now_or_later(read, self._show_events, wait)

    def _show_events(self, found: tuple[cases.AuditView, audit.Event | None]
                     ) -> tuple[cases.AuditView, audit.Event | None]:
        view, total = found
        names = user_names(self.session)
        rows = [(e.seq, (str(e.seq), when(e.at, seconds=True),
                         names.get(e.user_id or "", e.user_id or ""), e.label,
                         self._case_numbers.get(e.case_id, "") if e.case_id else "",
                         short_data(e.data)))
                for e in view.events]
        fill_table(self.table, rows)
        for r, data in enumerate(e.data for e in view.events):
            item = self.table.item(r, len(self.COLUMNS) - 1)
            if item is not None:
                item.setToolTip(json.dumps(readable_data(data), indent=1,
                                           ensure_ascii=False))
        self.count_label.setText(
            f"{len(view.events)} of {0 if total is None else total.seq} events")
        if self.broken_seq is not None:
            self._mark_broken(self.broken_seq)
        return found

    def _mark_broken(self, seq: int) -> int | None:
        """Highlight and select the first broken event (or, when it is missing, the one
        after the gap); its row."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and int(item.data(KEY)) >= seq:
                paint_row(self.table, r, _BAD_ROW)
                # a mark that stays visible while the row is selected
                kind = self.table.item(r, 3)
                if kind is not None:
                    kind.setText(f"⚠ {kind.text()} — "
                                 + ("broken" if int(item.data(KEY)) == seq else "after a gap"))
                    self.table.resizeColumnToContents(3)
                self.table.selectRow(r)
                self.table.scrollToItem(item)
                return r
        return None

    # -- actions -------------------------------------------------------------------------------

    def verify(self, expect_head: str | None = None,
               wait: bool = True) -> audit.Verification | None:
        """Check the log and say the result in plain words; a broken or missing event is
        highlighted and selected. wait=False (the Verify button): the check runs in the
        task runner's worker process and is shown when done (None is returned)."""
        self.show_error("")
        head, seq = None, None
        if expect_head:
            try:  # a hash, or an exported audit-log.json that names its head
                head, seq = audit.read_expected_head(expect_head)
            except (OSError, ValueError, AttributeError):
                self.show_error(f"{expect_head} is neither a head hash nor an exported "
                                "audit-log.json: verified without an expected head")

        def shown(v: audit.Verification) -> audit.Verification:
            self.broken_seq = None
            if v.ok:
                head_note = ("" if not head else
                             " The head you gave is in the log: no event was lost since.")
                self.verify_label.setStyleSheet(OK_STYLE)
                notes = "".join(f"\nNote: {n}" for n in v.notes)
                self.verify_label.setText(
                    f"Intact: all {v.events} events are linked to the one before them, none was "
                    "changed, removed or reordered, and the stored searches, decisions and "
                    "second reviews agree with their events; every user, case, setting, "
                    "calibration, person, photo and face is as its last event recorded it; the "
                    "schema is FaceDesk's; the external witness of the head agrees."
                    f"{head_note}\nHead: event {v.head_seq}, hash {v.head_hash}{notes}")
                self.refresh(wait=wait)
                return v
            where = ""
            if v.first_bad is not None:
                ev = audit.event(self.gallery, v.first_bad)
                where = (f" The first broken event is {v.first_bad} ({ev.label}, "
                         f"{when(ev.at, seconds=True)}), highlighted below." if ev is not None else
                         f" The first missing event is {v.first_bad}: the event after the gap "
                         "is highlighted below.")
            self.verify_label.setStyleSheet(ERROR_STYLE)
            self.verify_label.setText(
                "FAILED: the audit log was changed, cut short or damaged after it was written: "
                f"it cannot be relied on as it is.{where}\n• " + "\n• ".join(v.problems))
            if v.first_bad is not None:
                self.broken_seq = v.first_bad
                self.set_filter(None, None)  # show every event, so the broken one is visible
            return v

        if wait:
            return shown(audit.verify(self.gallery, expect_head=head or None, expect_seq=seq))
        # every record of the gallery is digested again: in the worker process, whose GIL
        # is not the GUI thread's
        run_task(self, functools.partial(verify_file, self.gallery.open_location, head or None,
                                           seq),
                 shown, lambda exc: self.show_error(describe_error(exc)), process=True)
        return None

    def export(self, out_dir: Path, wait: bool = True) -> audit.AuditExport | None:
        """Write audit-log.json and audit-log.csv to `out_dir`; shows the head to keep.
        wait=False (the Export button): written off the GUI thread (None is returned)."""
        def run(session: Session) -> audit.AuditExport:
            return cases.export_audit(session, out_dir)

        def shown(result: audit.AuditExport) -> audit.AuditExport:
            self.head_edit.setText(result.hash)
            self.show_status(
                f"Exported {result.events} events to {result.json} and {result.csv}. "
                f"Keep the head — event {result.seq}, hash {result.hash} — apart from the "
                "files: whoever checks the log later compares it.")
            self._load_cases()
            self.refresh()
            return result

        return self.act_now_or_later(run, shown, wait)

    def _export_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the audit log export",
                                                  str(Path.home()))
        if folder:
            self.export(Path(folder), wait=False)
