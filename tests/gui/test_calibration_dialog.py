"""The calibration dialog on real gallery files: measure, put in use, fall back."""

from __future__ import annotations

from pathlib import Path

from labdata import synthetic_gallery

from facedesk.app import accounts, audit, calibration
from facedesk.gui.calibration_dialog import CalibrationDialog
from facedesk.store import Gallery


def test_measure_own_use_shipped_and_select(qtbot, tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=100)
    g.close()
    dlg = CalibrationDialog(tmp_path / "g.db")
    qtbot.addWidget(dlg)
    # the shipped reference was measured with the real engine, not this one
    assert "none for this gallery's engine" in dlg.in_use.text()
    assert dlg.table.rowCount() == 0 and not dlg.use_selected.isEnabled()
    dlg.measure_own.click()
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1, timeout=10_000)
    assert "this gallery's own photos" in dlg.in_use.text()
    assert "(in use)" in dlg.table.item(0, 0).text()
    with Gallery.open(tmp_path / "g.db") as gallery:
        assert calibration.in_use(gallery) is not None
    dlg.use_shipped.click()
    assert "none for this gallery's engine" in dlg.in_use.text()
    dlg.table.selectRow(0)
    assert dlg.use_selected.isEnabled()
    dlg.use_selected.click()
    assert "this gallery's own photos" in dlg.in_use.text()


def test_too_few_repeat_photos_is_said_not_crashed(qtbot, tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=12, photos=1)
    g.close()
    dlg = CalibrationDialog(tmp_path / "g.db")
    qtbot.addWidget(dlg)
    dlg.measure_own.click()
    qtbot.waitUntil(lambda: "too little to calibrate" in dlg.status.text(), timeout=10_000)
    assert dlg.measure_own.isEnabled() and dlg.table.rowCount() == 0


def test_putting_a_calibration_in_use_is_an_administrators_setting(qtbot, tmp_path: Path
                                                                   ) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "g.db", persons=100)
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                password="quartz-Lantern-6150")
    admin.add_user("ann", "Ann Analyst", "analyst", password="maple-Tunnel-2287")
    ann = accounts.sign_in(g, "ann", "maple-Tunnel-2287")
    # an analyst measures: stored, not put in use; the use buttons say who may
    dlg = CalibrationDialog(tmp_path / "g.db", session=ann)
    qtbot.addWidget(dlg)
    assert not dlg.use_shipped.isEnabled()
    assert "only Administrator may change it" in dlg.use_shipped.toolTip()
    dlg.measure_own.click()
    qtbot.waitUntil(lambda: dlg.table.rowCount() == 1, timeout=10_000)
    assert "an administrator puts it in use" in dlg.status.text()
    assert "(in use)" not in dlg.table.item(0, 0).text()
    dlg.table.selectRow(0)
    assert not dlg.use_selected.isEnabled() and "Ann Analyst" in dlg.use_selected.toolTip()
    assert not dlg.use(1)  # refused by the core too, and said in the dialog
    assert "may not change settings" in dlg.status.text()
    assert calibration.in_use(g) is None
    # without a session, a gallery with users takes no change either
    nobody = CalibrationDialog(tmp_path / "g.db")
    qtbot.addWidget(nobody)
    assert not nobody.use_shipped.isEnabled() and "sign in" in nobody.use_shipped.toolTip()
    # the administrator puts it in use: a setting_changed event by them
    dlg = CalibrationDialog(tmp_path / "g.db", session=admin)
    qtbot.addWidget(dlg)
    dlg.table.selectRow(0)
    assert dlg.use_selected.isEnabled()
    dlg.use_selected.click()
    assert "this gallery's own photos" in dlg.in_use.text()
    [event] = audit.events(g, kinds=["setting_changed"])
    assert (event.user_id, event.data["setting"], event.data["to"]) == ("admin",
                                                                        "calibration", 1)
    g.close()
