"""The calibration dialog on real gallery files: measure, put in use, fall back."""

from __future__ import annotations

from pathlib import Path

from labdata import synthetic_gallery

from facedesk.core import calibration
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
