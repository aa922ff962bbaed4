"""A filtered search in the real window (issue 18, item 2): the filter bar under the probe
gets the gallery's metadata columns and values, the analyst narrows the search to women
aged 25-40 at booking, the search runs off the GUI thread, the candidate list's header
says how many persons were searched of how many and what was left out, and the filter is
stored with the search and its audit event."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bookings import fake_manifest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from settle import settle
from test_case_flow import load_probe, window  # noqa: F401  (the window fixture)

from facedesk.app import audit, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery

SCREENSHOT = Path(tempfile.gettempdir()) / "facedesk-filtered-search.png"
FILTER_SHOT = Path(tempfile.gettempdir()) / "facedesk-filter-bar.png"


def test_a_filtered_search_says_what_it_searched(
        qtbot, window: MainWindow,  # noqa: F811 (the imported fixture)
        tmp_path: Path, fake_spec: EngineSpec, prepare_gallery, start_case,
        monkeypatch) -> None:
    db = tmp_path / "bookings.db"
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, None, manifest=fake_manifest(tmp_path / "bookings"),
                            engine=fake_spec, options=ImportOptions(workers=1)):
            pass
        prepare_gallery(g, os_user="ann", every_candidate=True)
    assert window.open_gallery(db)
    case = start_case(window)
    bar = window.probe_panel.filter_bar
    assert bar.search_filter() is None and not bar.body.isVisible()  # off: compact
    bar.setChecked(True)
    qtbot.waitUntil(lambda: bar.column.count() > 0, timeout=20000)  # read off the thread
    columns = [bar.column.itemText(i) for i in range(bar.column.count())]
    assert {"sex", "date_of_birth", "booking_date"} <= set(columns)

    # sex = F, chosen from the pickers; age 25 to 40 at booking
    bar.column.setCurrentText("sex")
    assert [bar.value.itemText(i) for i in range(bar.value.count())] == ["F", "M"]
    bar.value.setCurrentText("F")
    qtbot.mouseClick(bar.add_button, Qt.MouseButton.LeftButton)
    bar.age_from.setValue(25)
    bar.age_to.setValue(40)
    assert "sex=F, age 25-40" in bar.summary.text()
    qtbot.keyClicks(bar.booked_from, "2019-02-30")  # not a date: said, and no search
    assert "not a date" in bar.summary.text()
    bar.booked_from.clear()

    load_probe(qtbot, window, tmp_path, person=0)
    qtbot.waitUntil(window.act_search.isEnabled, timeout=20000)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: window.review is not None, timeout=20000)
    settle(qtbot, window)

    header = window.candidates.header.text()
    assert "searched 1 of 5 persons (filter: sex=F, age 25-40)" in header
    assert "1 person left out: no date of birth (date_of_birth), 3 photos" in header
    assert [c.person_id for c in window.review.result.candidates] == ["person_0"]
    stored = cases.searches(window.gallery, case.id)[-1]
    assert stored.filters is not None and stored.filters["persons_searched"] == 1
    assert stored.persons_searched == 1
    assert audit.verify(window.gallery).ok
    window.grab().save(str(SCREENSHOT))
    bar.grab().save(str(FILTER_SHOT))

    # cleared: the next search is of every face again
    qtbot.mouseClick(bar.clear_button, Qt.MouseButton.LeftButton)
    assert bar.search_filter() is None
    bar.setChecked(False)
    monkeypatch.setattr(QMessageBox, "question",  # drop the undecided candidate list
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: "from 5 persons searched (15 faces)"
                    in window.candidates.header.text(), timeout=20000)
    assert cases.searches(window.gallery, case.id)[-1].filters is None
