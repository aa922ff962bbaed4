"""Re-running a case and its disclosure package from the case overview in the real window
(issue 18, items 3 and 5), with the fake engine: the analyst's case waits for new faces;
new bookings are imported; the overview lists the case, its Re-run button searches the
probes against the new faces only (off the GUI thread) and marks the new candidate; the
supervisor's Disclosure button writes the package (PDF, JSON, CSV, manifest), logged as an
export. The analyst may not disclose and is told why."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from conftest import PASSWORDS
from fakes import FakeEngine, one_face, save_png
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog
from settle import settle

from facedesk.app import accounts, audit, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.engine.spec import EngineSpec
from facedesk.gui.main_window import MainWindow

SCREENSHOT = Path(tempfile.gettempdir()) / "facedesk-case-overview-rerun.png"


def _search(window: MainWindow, path: Path) -> cases.CaseSearch:
    eng = FakeEngine()
    probe = analyze_probe(eng, path)
    assert window.session is not None and window.case is not None
    return cases.search_for_case(window.session, window.case,
                                 Searcher(window.gallery, eng.identity()), probe,
                                 choose_face(eng, probe), 20)


def test_rerun_and_disclosure_from_the_case_overview(qtbot, tmp_path: Path, make_gallery,
                                                     start_case, fake_spec: EngineSpec,
                                                     monkeypatch) -> None:
    db = make_gallery()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    window.gallery_watch.stop()
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "review", None))
    window.resize(1366, 768)
    window.show()
    assert window.open_gallery(db)
    settle(qtbot, window)
    window.set_session(accounts.sign_in(window.gallery, "ann", PASSWORDS["ann"]))
    case = start_case(window, "2026-0777")
    known = _search(window, save_png(one_face(1, 50), tmp_path / "probe-known.png"))
    unknown = _search(window, save_png(one_face(7, 50), tmp_path / "probe-unknown.png"))
    assert [c.person_id for c in known.result.candidates] == ["person_1"]
    assert unknown.result.candidates == []  # nobody within the threshold yet

    # new bookings: person_7 arrives
    for v in range(2):
        save_png(one_face(7, v), tmp_path / "bookings" / "person_7" / f"{v}.png")
    for _ in run_import(window.gallery, tmp_path / "bookings", engine=fake_spec,
                        options=ImportOptions(workers=1), user_id="admin"):
        pass

    overview = window.case_overview()
    assert overview is not None
    settle(qtbot, overview)
    tab = overview.tabs.indexOf(overview.waiting_table)
    assert overview.tabs.tabText(tab) == "Cases with new faces (1)"
    assert overview.waiting_table.item(0, 0).text() == "2026-0777"
    assert overview.waiting_table.item(0, 2).text() == "2"  # two new faces

    # the Re-run button: off the GUI thread, then the new candidate is marked
    assert overview.rerun_button.isEnabled()
    qtbot.mouseClick(overview.rerun_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: overview.status_label.text().startswith("Re-run:"), timeout=20000)
    settle(qtbot, overview)
    status = overview.status_label.text()
    assert "2 new searches" in status and "NEW: person_7" in status, status
    stored = cases.searches(window.gallery, case.id)
    assert len(stored) == 4 and all(s.faces_searched == 2 for s in stored[2:])
    table = overview.searches_table
    rerun_cells = [table.item(r, 6).text() for r in range(table.rowCount())]
    assert rerun_cells == ["", "", "none new", "new: person_7"]
    assert overview.tabs.tabText(tab) == "Cases with new faces (0)"
    # the analyst may not disclose, and the button says who may
    assert not overview.disclose_button.isEnabled()
    assert "Only Administrator, Supervisor may export a case's disclosure package" in \
        overview.disclose_button.toolTip()
    overview.close()

    # the supervisor writes the disclosure package from the overview
    window.set_session(accounts.sign_in(window.gallery, "sam", PASSWORDS["sam"]))
    assert window.set_case(cases.get_case(window.gallery, case.id))
    overview = window.case_overview()
    assert overview is not None
    out = tmp_path / "disclosures"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    assert overview.disclose_button.isEnabled()
    qtbot.mouseClick(overview.disclose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Disclosure package written" in overview.status_label.text(),
                    timeout=30000)
    settle(qtbot, overview)
    [folder] = list(out.iterdir())
    assert (folder / "disclosure.pdf").read_bytes().startswith(b"%PDF")
    doc = json.loads((folder / "disclosure.json").read_text())
    assert [s["id"] for s in doc["searches"]] == [s.id for s in stored]
    assert doc["rerun_new_persons"] == {str(stored[2].id): [], str(stored[3].id): ["person_7"]}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "disclosure.pdf" in {f["name"] for f in manifest["files"]}
    assert overview.open_disclosure_button.isVisible()
    ev = audit.head(window.gallery)
    assert ev is not None and ev.kind == "export" and ev.data["what"] == "disclosure package"
    overview.tabs.setCurrentWidget(overview.searches_table)
    overview.resize(1250, 640)
    settle(qtbot, overview)
    overview.grab().save(str(SCREENSHOT))
    overview.close()
