"""The accountability dialogs on a real SQLite gallery (fake engine), through real widgets:
second review, case overview, users, settings, audit log and retention."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import FakeEngine, one_face, save_png
from PySide6.QtCore import Qt
from settle import settle

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import Session
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.errors import AccountError, CaseError, LeadError, NotPermitted
from facedesk.gui.admin import (
    AuditLogDialog,
    CaseOverviewDialog,
    RetentionDialog,
    SecondReviewDialog,
    SettingsDialog,
    UsersDialog,
)
from facedesk.gui.admin.base import LEAD_WORDING
from facedesk.gui.admin.second_review import BLIND_PLACEHOLDER, candidate_figures
from facedesk.store import Gallery


@dataclass
class World:
    gallery: Gallery
    admin: Session
    ann: Session
    sam: Session
    case: cases.Case
    tmp: Path

    def search(self, session: Session, person: int = 2, variant: int = 5,
               case: cases.Case | None = None) -> cases.CaseSearch:
        eng = FakeEngine()
        path = save_png(one_face(person, variant), self.tmp / f"probe_{person}_{variant}.png")
        probe = analyze_probe(eng, path)
        face = choose_face(eng, probe)
        res = Searcher(self.gallery, eng.identity()).search(face.encoding, top_k=20)
        return cases.record_search(session, case or self.case, probe, face, res)

    def lead(self, session: Session, person: int = 2, rationale: str = "same ear shape",
             case: cases.Case | None = None) -> int:
        s = self.search(session, person, case=case)
        return int(cases.decide(session, s.id, 1, "possible_lead", rationale).id)


@pytest.fixture
def world(imported: Gallery, tmp_path: Path) -> World:
    admin = accounts.create_first_administrator(imported, "admin", "Ada Admin",
                                                password="sturdy-Walrus-6402")
    admin.add_user("ann", "Ann Analyst", "analyst", password="maple-Tunnel-2287")
    admin.add_user("sam", "Sam Super", "supervisor", password="orchid-Falcon-4419")
    admin.add_user("sue", "Sue Second", "supervisor", password="pebble-Comet-5530")
    ann = accounts.sign_in(imported, "ann", "maple-Tunnel-2287")
    sam = accounts.sign_in(imported, "sam", "orchid-Falcon-4419")
    case = cases.open_case(ann, "2026-0042", accounts.DEFAULT_PURPOSES[0], "robbery")
    return World(imported, admin, ann, sam, case, tmp_path)


def _texts(table, column: int) -> list[str]:
    return [table.item(r, column).text() for r in range(table.rowCount())]


# --- second review ---------------------------------------------------------------------------


def test_second_review_confirm_through_widgets(qtbot, world: World) -> None:
    did = world.lead(world.ann)
    dlg = SecondReviewDialog(world.sam)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.findChild(type(dlg.queue_label), "leadBanner").text() == LEAD_WORDING
    assert dlg.queue.rowCount() == 1
    assert _texts(dlg.queue, 0) == ["2026-0042"]
    assert "Ann Analyst" in dlg.queue.item(0, 1).text()
    # the first lead is on screen: both faces, the figures, the analyst's rationale
    assert dlg.current is not None and dlg.current.id == did
    probe, crop = dlg.probe_view.pixmap(), dlg.candidate_view.pixmap()
    assert not probe.isNull() and not crop.isNull()
    assert min(probe.width(), probe.height()) >= 200 and crop.width() >= 200
    assert "distance 0.0" in dlg.figures.text() and "persons searched" in dlg.figures.text()
    assert "person_2" in dlg.candidate_caption.text()
    assert dlg.analyst_rationale.text() == "Rationale: same ear shape"
    assert not dlg.submit_button.isEnabled()  # no verdict yet
    dlg.findChild(type(dlg.verdict_confirm), "verdictConfirm").setChecked(True)
    assert not dlg.submit_button.isEnabled()  # no rationale yet
    qtbot.keyClicks(dlg.rationale_edit, "ears and nose bridge agree")
    assert dlg.submit_button.isEnabled()
    with qtbot.waitSignal(dlg.reviewed) as sig:
        qtbot.mouseClick(dlg.submit_button, Qt.MouseButton.LeftButton)
    assert sig.args == [did]
    d = cases.get_decision(world.gallery, did)
    assert d.status == "confirmed"
    assert d.review.reviewer == "sam" and d.review.blind == 0
    assert d.review.rationale == "ears and nose bridge agree"
    assert dlg.queue.rowCount() == 0 and "No possible lead" in dlg.queue_label.text()
    assert "Confirmed by Sam Super" in dlg.status_label.text()
    assert not dlg.submit_button.isEnabled() and not dlg.error_label.isVisible()
    assert [r.id for r in cases.results(world.gallery, world.case.id)] == [did]


def test_second_review_overturn_leaves_the_other_lead_waiting(qtbot, world: World) -> None:
    first = world.lead(world.ann, person=2)
    second = world.lead(world.ann, person=3, rationale="same scar")
    dlg = SecondReviewDialog(world.sam)
    qtbot.addWidget(dlg)
    assert dlg.queue.rowCount() == 2
    dlg.queue.selectRow(1)
    assert dlg.current is not None and dlg.current.id == second
    assert dlg.analyst_rationale.text() == "Rationale: same scar"
    dlg.verdict_overturn.click()
    dlg.rationale_edit.setPlainText("the scar is on the other cheek")
    dlg.submit_button.click()
    assert cases.get_decision(world.gallery, second).status == "overturned"
    assert cases.get_decision(world.gallery, first).status == "pending"
    assert dlg.queue.rowCount() == 1 and dlg.queue.item(0, 0).data(Qt.ItemDataRole.UserRole) \
        == first
    assert cases.results(world.gallery, world.case.id) == []
    # choosing the remaining lead starts an empty draft
    dlg.select_decision(first)
    assert dlg.rationale_edit.toPlainText() == "" and not dlg.verdict_overturn.isChecked()
    assert dlg.rationale_edit.isEnabled()


def test_own_lead_is_refused_with_the_message_shown(qtbot, world: World) -> None:
    case = cases.open_case(world.sam, "2026-0050", accounts.DEFAULT_PURPOSES[0])
    did = world.lead(world.sam, case=case)
    dlg = SecondReviewDialog(world.sam)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.select_decision(did)
    assert "you recorded this lead" in dlg.analyst_label.text()
    dlg.verdict_confirm.click()
    dlg.rationale_edit.setPlainText("looks right to me")
    with qtbot.assertNotEmitted(dlg.reviewed):
        dlg.submit_button.click()
    assert dlg.error_label.isVisible()
    assert "different person" in dlg.error_label.text()
    assert dlg.rationale_edit.toPlainText() == "looks right to me"  # the text is kept
    assert cases.get_decision(world.gallery, did).status == "pending"
    with pytest.raises(LeadError):
        dlg.submit()
    # an analyst sees the queue but may not submit, and is told why
    other = SecondReviewDialog(world.ann)
    qtbot.addWidget(other)
    other.select_decision(did)
    other.verdict_confirm.setChecked(True)
    assert not other.submit_button.isEnabled()
    assert "Only Supervisor may confirm" in other.submit_button.toolTip()


def test_blind_setting_hides_the_rationale_until_submitted(qtbot, world: World) -> None:
    world.admin.set_setting("blind_second_review", True)
    did = world.lead(world.ann, rationale="same ear shape")
    dlg = SecondReviewDialog(world.sam)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.select_decision(did)
    assert dlg.analyst_rationale.text() == BLIND_PLACEHOLDER
    shown = " ".join(w.text() for w in dlg.findChildren(type(dlg.analyst_rationale)))
    assert "same ear shape" not in shown
    dlg.verdict_confirm.setChecked(True)
    dlg.rationale_edit.setPlainText("ears agree")
    dlg.submit_button.click()
    assert dlg.analyst_rationale.text() == "Rationale: same ear shape"
    assert "Second review (blind)" in dlg.status_label.text()
    assert cases.get_decision(world.gallery, did).review.blind == 1
    # off again: shown at once
    world.admin.set_setting("blind_second_review", False)
    other = world.lead(world.ann, person=3, rationale="same chin")
    dlg.refresh()
    dlg.select_decision(other)
    assert dlg.analyst_rationale.text() == "Rationale: same chin"


def _everything(table) -> str:
    """Every cell's text and tooltip of a table."""
    return " ".join(f"{table.item(r, c).text()} {table.item(r, c).toolTip()}"
                    for r in range(table.rowCount()) for c in range(table.columnCount())
                    if table.item(r, c) is not None)


def test_blind_review_hides_a_pending_rationale_from_all_but_its_analyst(
        qtbot, world: World) -> None:
    world.admin.set_setting("blind_second_review", True)
    did = world.lead(world.ann, rationale="same ear shape")
    sue = accounts.sign_in(world.gallery, "sue", "pebble-Comet-5530")

    def seen_by(session: Session) -> tuple[str, str]:
        overview = CaseOverviewDialog(session, world.case)
        log = AuditLogDialog(session) if session.may("export_audit") else None
        qtbot.addWidget(overview)
        [rationale] = _texts(overview.decisions_table, 4)
        shown = _everything(overview.decisions_table) + _everything(overview.events_table)
        if log is not None:
            qtbot.addWidget(log)
            shown += _everything(log.table)
            log.set_filter("2026-0042", "decision")
            shown += _everything(log.table)
        return rationale, shown

    for session in (world.sam, sue, world.admin):
        rationale, shown = seen_by(session)
        assert rationale == cases.BLIND_HIDDEN, session.user_id
        assert "same ear shape" not in shown, session.user_id
        assert cases.BLIND_HIDDEN in shown
    rationale, shown = seen_by(world.ann)  # the analyst reads what they wrote
    assert rationale == "same ear shape"
    cases.review_lead(world.sam, did, "overturned", "the ears differ", blind=True)
    for session in (world.sam, sue, world.admin):  # reviewed: shown to everyone
        rationale, shown = seen_by(session)
        assert rationale == "same ear shape" and cases.BLIND_HIDDEN not in shown, session.user_id


# --- case overview ---------------------------------------------------------------------------


def _case_with_statuses(world: World) -> tuple[int, int, int]:
    confirmed = world.lead(world.ann, person=2)
    cases.review_lead(world.sam, confirmed, "confirmed", "agree")
    pending = world.lead(world.ann, person=3, rationale="same brow")
    s = world.search(world.ann, person=1)
    other = int(cases.decide(world.ann, s.id, 1, "not_the_person", "different jaw").id)
    return confirmed, pending, other


def test_case_overview_statuses_and_results(qtbot, world: World) -> None:
    confirmed, pending, other = _case_with_statuses(world)
    dlg = CaseOverviewDialog(world.ann, world.case)
    qtbot.addWidget(dlg)
    dlg.show()
    assert "Case 2026-0042" in dlg.header.text() and "robbery" in dlg.header.text()
    assert "Ann Analyst" in dlg.header.text() and "(open)" in dlg.header.text()
    assert dlg.searches_table.rowCount() == 3
    assert _texts(dlg.searches_table, 5) == ["no", "no", "no"]
    status = dict(zip([dlg.decisions_table.item(r, 0).data(Qt.ItemDataRole.UserRole)
                       for r in range(dlg.decisions_table.rowCount())],
                      _texts(dlg.decisions_table, 5), strict=True))
    assert status == {confirmed: cases.LEAD_STATUS["confirmed"],
                      pending: cases.LEAD_STATUS["pending"],
                      other: cases.LEAD_STATUS["not_a_lead"]}
    assert "Sam Super" in _texts(dlg.decisions_table, 6)[0]
    assert _texts(dlg.decisions_table, 7)[0] == "Confirmed"
    text = dlg.results_label.text()
    assert "Results: 1 confirmed lead." in text and "1 possible lead pending" in text
    assert "pending second review is not a result" in text
    kinds = set(_texts(dlg.events_table, 3))
    assert {"Case opened", "Search", "Decision", "Second review"} <= kinds
    # the lead sheet button follows the selection
    assert not dlg.export_button.isEnabled()
    dlg.select_decision(pending)
    assert not dlg.export_button.isEnabled()
    assert "confirmed lead" in dlg.export_button.toolTip()
    dlg.select_decision(confirmed)
    assert dlg.export_button.isEnabled()


@pytest.mark.skipif(importlib.util.find_spec("facedesk.app.lead_sheet") is None,
                    reason="facedesk.app.lead_sheet (written by another change) is missing")
def test_case_overview_exports_a_lead_sheet(qtbot, world: World, tmp_path: Path) -> None:
    confirmed, _, _ = _case_with_statuses(world)
    dlg = CaseOverviewDialog(world.ann, world.case)
    qtbot.addWidget(dlg)
    dlg.select_decision(confirmed)
    paths = dlg.export_lead_sheet(confirmed, tmp_path / "sheet")
    assert sorted(p.suffix for p in paths) == [".html", ".pdf"]
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)
    assert "Lead sheet written" in dlg.status_label.text()


def test_close_case_makes_the_overview_read_only(qtbot, world: World) -> None:
    lead = world.lead(world.ann)
    dlg = CaseOverviewDialog(world.ann, world.case)
    qtbot.addWidget(dlg)
    assert dlg.close_case_button.isEnabled() and not dlg.read_only
    # closed now, its pending lead could never be reviewed: refused, said in the dialog
    with pytest.raises(CaseError):
        dlg.close_case("too early")
    assert "waiting for a second review" in dlg.error_label.text() and not dlg.read_only
    cases.review_lead(world.sam, lead, "overturned", "different chin")
    with qtbot.waitSignal(dlg.case_closed):
        closed = dlg.close_case("suspect charged on other evidence")
    assert not closed.is_open and dlg.read_only
    assert not cases.get_case(world.gallery, world.case.id).is_open
    assert not dlg.close_case_button.isEnabled()
    assert "read-only" in dlg.close_case_button.toolTip()
    assert "closed by Ann Analyst" in dlg.header.text()
    assert "suspect charged" in dlg.header.text()
    assert "(closed)" in dlg.windowTitle()
    assert "Case closed" in _texts(dlg.events_table, 3)
    with pytest.raises(CaseError):
        dlg.close_case("again")
    assert "already closed" in dlg.error_label.text()
    # the case is read-only in the core too
    with pytest.raises(CaseError):
        world.search(world.ann, person=3)


# --- users -----------------------------------------------------------------------------------


def test_users_add_change_and_duplicate_error(qtbot, world: World) -> None:
    dlg = UsersDialog(world.admin)
    qtbot.addWidget(dlg)
    dlg.show()
    assert _texts(dlg.table, 0) == ["admin", "ann", "sam", "sue"]
    qtbot.keyClicks(dlg.id_edit, "jdoe")
    qtbot.keyClicks(dlg.name_edit, "Jane Doe")
    dlg.role_combo.setCurrentIndex(dlg.role_combo.findData("analyst"))
    qtbot.keyClicks(dlg.password_edit, "tidal-Basket-3347")
    qtbot.keyClicks(dlg.password_again_edit, "tidal-Basket-3347")
    dlg.add_button.click()
    assert not dlg.error_label.isVisible(), dlg.error_label.text()
    assert "jdoe" in _texts(dlg.table, 0)
    assert accounts.sign_in(world.gallery, "jdoe", "tidal-Basket-3347").user.role == "analyst"
    assert dlg.id_edit.text() == ""
    # a duplicate is refused inline and what was typed is kept
    qtbot.keyClicks(dlg.id_edit, "jdoe")
    qtbot.keyClicks(dlg.name_edit, "Another Jane")
    qtbot.keyClicks(dlg.os_edit, "jane2")
    dlg.add_button.click()
    assert dlg.error_label.isVisible() and "already a user 'jdoe'" in dlg.error_label.text()
    assert dlg.name_edit.text() == "Another Jane"
    # mismatching passwords
    with pytest.raises(AccountError):
        dlg.add_user("kim", "Kim", "analyst", password="nimble-Otter-2291", password_again="other")
    assert "passwords differ" in dlg.error_label.text()
    # change the selected user's role, deactivate, password, OS account
    dlg.select_user("jdoe")
    assert "Jane Doe" in dlg.selected_label.text()
    dlg.change_role_combo.setCurrentIndex(dlg.change_role_combo.findData("supervisor"))
    dlg.change_role_button.click()
    assert accounts.user(world.gallery, "jdoe").role == "supervisor"
    assert not dlg.error_label.isVisible()
    assert dlg.active_button.text() == "Deactivate"
    dlg.active_button.click()
    assert not accounts.user(world.gallery, "jdoe").active
    assert dlg.active_button.text() == "Activate"
    dlg.map_os_edit.setText("jdoe-os")
    dlg.map_os_button.click()
    assert accounts.user(world.gallery, "jdoe").os_account == "jdoe-os"
    dlg.new_password_edit.setText("wombat-Glacier-5508")
    dlg.new_password_again_edit.setText("wombat-Glacier-5508")
    dlg.password_button.click()
    dlg.set_active("jdoe", True)
    assert accounts.sign_in(world.gallery, "jdoe", "wombat-Glacier-5508").user.role == "supervisor"
    # the only administrator cannot be demoted
    with pytest.raises(AccountError):
        dlg.change_role("admin", "analyst")
    assert "only active administrator" in dlg.error_label.text()
    changes = [e.data for e in audit.events(world.gallery, kinds=["user_changed"])]
    assert [c["user"] for c in changes] == ["jdoe"] * 5
    # someone else may look but not act
    other = UsersDialog(world.sam)
    qtbot.addWidget(other)
    assert not other.add_button.isEnabled()
    assert "Only Administrator may add or change users" in other.add_button.toolTip()
    with pytest.raises(NotPermitted):
        other.add_user("x", "X", "analyst", password="lunar-Tulip-8813",
                       password_again="lunar-Tulip-8813")


# --- settings --------------------------------------------------------------------------------


def test_settings_change_only_what_changed_and_audit_it(qtbot, world: World) -> None:
    before = len(audit.events(world.gallery, kinds=["setting_changed"]))
    dlg = SettingsDialog(world.admin)
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.keep.isChecked() and not dlg.retention.isEnabled()
    assert "never count" in dlg.training_warning.text() and dlg.training_warning.isVisible()
    assert dlg.apply() == []
    assert "Nothing changed" in dlg.status_label.text()
    dlg.blind.setChecked(True)
    dlg.keep.setChecked(False)
    assert dlg.retention.isEnabled()
    dlg.retention.setValue(90)
    dlg.threshold.setValue(0.55)
    dlg.purposes.setPlainText("Robbery\n\n  Missing person  \n")
    dlg.save_button.click()
    s = accounts.settings(world.gallery)
    assert s.blind_second_review and s.retention_days == 90 and s.threshold == 0.55
    assert s.purposes == ["Robbery", "Missing person"] and s.top_k == 20
    evs = audit.events(world.gallery, kinds=["setting_changed"])[before:]
    assert sorted(e.data["setting"] for e in evs) == ["blind_second_review", "purposes",
                                                      "retention_days", "threshold"]
    assert all(e.user_id == "admin" for e in evs)
    assert "Saved" in dlg.status_label.text()
    # back to keeping searches, and an empty purpose list is refused inline
    dlg.keep.setChecked(True)
    dlg.purposes.setPlainText("   ")
    with pytest.raises(AccountError):
        dlg.apply()
    assert "at least one purpose" in dlg.error_label.text()
    assert dlg.purposes.toPlainText() == "   "
    dlg.purposes.setPlainText("Robbery")
    assert dlg.apply() == ["retention_days", "purposes"]
    assert accounts.settings(world.gallery).retention_days is None
    # a supervisor sees the settings but cannot save
    other = SettingsDialog(world.sam)
    qtbot.addWidget(other)
    assert not other.save_button.isEnabled() and not other.threshold.isEnabled()
    assert "Only Administrator" in other.save_button.toolTip()


def test_settings_refused_midway_show_what_is_stored_and_what_was_saved(
        qtbot, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    dlg = SettingsDialog(world.admin)
    qtbot.addWidget(dlg)
    real = world.admin.set_setting

    def refuse_top_k(name: str, value: object) -> accounts.Settings:
        if name == "top_k":  # e.g. the gallery became read-only in between
            raise AccountError("the gallery could not be written")
        return real(name, value)

    monkeypatch.setattr(world.admin, "set_setting", refuse_top_k)
    dlg.threshold.setValue(0.5)
    dlg.top_k.setValue(5)
    dlg.purposes.setPlainText("Robbery")
    with pytest.raises(AccountError):
        dlg.apply()
    stored = accounts.settings(world.gallery)
    assert stored.threshold == 0.5 and stored.top_k == 20
    assert stored.purposes == list(accounts.DEFAULT_PURPOSES)
    # the form shows what is stored, not what was typed, and says what was saved
    assert dlg.threshold.value() == 0.5 and dlg.top_k.value() == 20
    assert dlg.purposes.toPlainText().splitlines() == list(accounts.DEFAULT_PURPOSES)
    assert dlg.changes() == {}
    error = dlg.error_label.text()
    assert "could not be written" in error
    assert "Saved: threshold; not saved: top_k, purposes" in error
    assert dlg.status_label.text() == "Saved: threshold."


# --- audit log -------------------------------------------------------------------------------


def test_audit_verify_ok_then_tampered(qtbot, world: World) -> None:
    did = world.lead(world.ann)
    cases.review_lead(world.sam, did, "confirmed", "agree")
    dlg = AuditLogDialog(world.admin)
    qtbot.addWidget(dlg)
    dlg.show()
    head = audit.head(world.gallery)
    assert head is not None and dlg.table.rowCount() == head.seq
    dlg.set_filter("2026-0042", "decision")
    assert _texts(dlg.table, 3) == ["Decision"] and _texts(dlg.table, 4) == ["2026-0042"]
    dlg.verify_button.click()  # checked off the GUI thread
    settle(qtbot, dlg)
    assert dlg.verify_label.text().startswith("Intact:")
    assert "second reviews agree with their events" in dlg.verify_label.text()
    v = dlg.verify(head.hash)
    assert v.ok and "no event was lost" in dlg.verify_label.text()
    # an unknown head is a truncated log
    assert not dlg.verify("0" * 64).ok
    assert dlg.verify_label.text().startswith("FAILED")

    review_seq = audit.events(world.gallery, kinds=["lead_review"])[0].seq
    with sqlite3.connect(world.gallery.path) as raw:
        raw.execute("DROP TRIGGER audit_no_update")
        raw.execute("UPDATE audit SET data = replace(data, 'agree', 'disagree') "
                    "WHERE kind = 'lead_review'")
    raw.close()
    dlg.set_filter("2026-0042", "search")
    v = dlg.verify()
    assert not v.ok and v.first_bad == review_seq
    text = dlg.verify_label.text()
    assert text.startswith("FAILED") and f"first broken event is {review_seq}" in text
    assert "audit_no_update" in text
    # the filters were cleared so that the broken event can be seen, selected and marked
    assert dlg.case_filter.currentIndex() == 0 and dlg.kind_filter.currentIndex() == 0
    rows = dlg.table.selectionModel().selectedRows()
    assert len(rows) == 1
    item = dlg.table.item(rows[0].row(), 0)
    assert int(item.text()) == review_seq
    assert item.background().color().name() == "#f8d7da"


def test_audit_export_writes_both_files_and_shows_the_head(qtbot, world: World,
                                                           tmp_path: Path) -> None:
    world.lead(world.ann)
    dlg = AuditLogDialog(world.admin)
    qtbot.addWidget(dlg)
    out = tmp_path / "export"
    result = dlg.export(out)
    assert (out / "audit-log.json").exists() and (out / "audit-log.csv").exists()
    doc = json.loads((out / "audit-log.json").read_text(encoding="utf-8"))
    assert doc["head"]["hash"] == result.hash == dlg.head_edit.text()
    assert result.hash in dlg.status_label.text()
    assert audit.verify_export(out / "audit-log.json").ok
    assert _texts(dlg.table, 3)[-1] == "Export"
    # the exported file can serve as the expected head later
    assert dlg.verify(str(out / "audit-log.json")).ok
    assert "no event was lost" in dlg.verify_label.text()
    # an analyst may not export
    other = AuditLogDialog(world.ann)
    qtbot.addWidget(other)
    assert not other.export_button.isEnabled()
    assert "Only Administrator, Supervisor" in other.export_button.toolTip()
    with pytest.raises(NotPermitted):
        other.export(tmp_path / "no")
    assert "may not export the audit log" in other.error_label.text()
    assert not (tmp_path / "no").exists()


# --- retention -------------------------------------------------------------------------------


def test_retention_purge_removes_the_planned_searches(qtbot, world: World) -> None:
    kept_case = cases.open_case(world.ann, "2026-0099", accounts.DEFAULT_PURPOSES[0])
    kept = world.lead(world.ann, case=kept_case)
    cases.review_lead(world.sam, kept, "confirmed", "agree")
    waiting_case = cases.open_case(world.ann, "2026-0100", accounts.DEFAULT_PURPOSES[0])
    world.lead(world.ann, person=4, case=waiting_case)  # pending its second review: kept
    overturned = world.lead(world.ann, person=3)
    cases.review_lead(world.sam, overturned, "overturned", "different chin")
    world.search(world.ann, person=1)
    dlg = RetentionDialog(world.admin)
    qtbot.addWidget(dlg)
    assert "No retention period is set" in dlg.period_label.text()
    assert not dlg.purge_button.isEnabled() and "Settings" in dlg.purge_button.toolTip()

    world.admin.set_setting("retention_days", 30)
    with sqlite3.connect(world.gallery.path) as raw:  # all searches made 60 days ago
        raw.execute("UPDATE searches SET created_at = '2020-01-01T00:00:00+00:00'")
    raw.close()
    dlg.refresh()
    assert "Retention period: 30 days" in dlg.period_label.text()
    planned = cases.purge_plan(world.gallery)
    assert len(planned.searches) == 2 and planned.decisions == [overturned]
    assert "waiting for its second review" in dlg.period_label.text()
    assert dlg.table.rowCount() == 2 and set(_texts(dlg.table, 0)) == {"2026-0042"}
    assert "2 searches and 1 decision" in dlg.plan_label.text()
    assert dlg.purge_button.isEnabled()
    done = dlg.purge()
    assert done.searches == planned.searches
    assert cases.searches(world.gallery, world.case.id) == []
    assert len(cases.searches(world.gallery, kept_case.id)) == 1  # a confirmed lead stays
    assert len(cases.searches(world.gallery, waiting_case.id)) == 1  # and a pending one
    assert dlg.table.rowCount() == 0 and not dlg.purge_button.isEnabled()
    assert "Purged 2 searches" in dlg.status_label.text()
    assert audit.events(world.gallery, kinds=["purge"])[-1].data["searches"] == \
        planned.searches
    # others may not purge
    other = RetentionDialog(world.sam)
    qtbot.addWidget(other)
    assert not other.purge_button.isEnabled()
    assert "Only Administrator may purge" in other.purge_button.toolTip()


# --- identity and sign-in (issue 14) ----------------------------------------------------------


def test_the_sign_in_dialog_uses_the_os_identity_not_the_environment(
        qtbot, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import pwd

    from facedesk.gui.session_dialogs import SignInDialog

    me = pwd.getpwuid(os.geteuid()).pw_name
    world.admin.change_user("ann", os_account=me)
    world.admin.change_user("sam", os_account="os-sam")
    for var in ("LOGNAME", "USER", "USERNAME", "LNAME"):
        monkeypatch.setenv(var, "os-sam")
    dialog = SignInDialog(world.gallery)
    qtbot.addWidget(dialog)
    assert dialog.os_button.text() == f"Sign in as {me} (Ann Analyst)"
    qtbot.mouseClick(dialog.os_button, Qt.MouseButton.LeftButton)
    assert dialog.session is not None and dialog.session.user_id == "ann"
    assert audit.head(world.gallery).data["how"] == f"OS account {me}"  # type: ignore[union-attr]


def test_the_users_dialog_unlocks_a_locked_user(qtbot, world: World) -> None:
    world.admin.set_setting("backoff_seconds", 0)
    world.admin.set_setting("lockout_after", 3)
    for _ in range(3):
        with pytest.raises(AccountError):
            accounts.sign_in(world.gallery, "ann", "guess-Number-1")
    dlg = UsersDialog(world.admin)
    qtbot.addWidget(dlg)
    row = _texts(dlg.table, 0).index("ann")
    assert dlg.table.item(row, 6).text() == "locked (3 failures)"
    dlg.select_user("sam")
    assert not dlg.unlock_button.isEnabled()
    dlg.select_user("ann")
    assert dlg.unlock_button.isEnabled()
    dlg.unlock_button.click()
    assert not dlg.error_label.isVisible(), dlg.error_label.text()
    assert "sign-in unlocked" in dlg.status_label.text()
    assert accounts.sign_in(world.gallery, "ann", "maple-Tunnel-2287").user_id == "ann"
    assert [e.data["user"] for e in audit.events(world.gallery, kinds=["user_unlocked"])] == \
        ["ann"]
    other = UsersDialog(world.sam)
    qtbot.addWidget(other)
    other.select_user("ann")
    assert not other.unlock_button.isEnabled()


def test_the_settings_dialog_sets_the_sign_in_lock_and_import_folders(qtbot, world: World
                                                                      ) -> None:
    dlg = SettingsDialog(world.admin)
    qtbot.addWidget(dlg)
    assert dlg.changes() == {}
    assert (dlg.backoff.value(), dlg.lockout_after.value(), dlg.lockout_minutes.value()) == \
        (1.0, 5, 30)
    dlg.backoff.setValue(2.5)
    dlg.lockout_after.setValue(4)
    dlg.lock_until_unlocked.setChecked(True)
    assert not dlg.lockout_minutes.isEnabled()
    dlg.import_roots.setPlainText(f"{world.tmp}\n")
    assert sorted(dlg.apply()) == ["backoff_seconds", "import_roots", "lockout_after",
                                   "lockout_minutes"]
    s = accounts.settings(world.gallery)
    assert (s.backoff_seconds, s.lockout_after, s.lockout_minutes, s.import_roots) == \
        (2.5, 4, None, [str(world.tmp)])
    assert dlg.changes() == {}
    dlg.import_roots.setPlainText("relative/folder")
    with pytest.raises(AccountError, match="absolute"):
        dlg.apply()
    other = SettingsDialog(world.sam)
    qtbot.addWidget(other)
    assert not other.lockout_after.isEnabled() and not other.import_roots.isEnabled()


def test_the_second_reviewer_reads_this_probes_look_alikes_before_the_reference() -> None:
    """The second review shows the stored probe-specific estimate (the figure to read),
    with the reference table's figure after it, as the analyst's candidate list does."""
    search = {"candidates": [{}, {}, {}], "threshold": 0.6, "persons_searched": 5749,
              "calibration_source": "LFW"}
    cand = {"rank": 3, "distance": 0.55, "fmr": None, "expected_lookalikes": 7.4,
            "lookalikes": {"expected": 2.25, "low": 1.1, "high": 4.6}}
    text = candidate_figures(cand, search)
    assert "look-alikes for this probe 2.2" in text and "4.6" in text
    assert text.index("for this probe") < text.index("reference table 7.4")
    # a search stored before the estimate existed keeps the reference figure alone
    old = candidate_figures({**cand, "lookalikes": None}, search)
    assert "expected look-alikes 7.4 among 5,749 persons searched" in old
    assert "for this probe" not in old
