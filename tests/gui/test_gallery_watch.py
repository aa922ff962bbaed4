"""The main window notices when another connection (a CLI import) adds to its gallery:
its counts follow, and its next search includes the new faces."""

from __future__ import annotations

from pathlib import Path

from fakes import one_face, save_png
from PySide6.QtCore import QSettings
from settle import settle

from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery


def test_counts_follow_another_import(qtbot, tmp_path: Path, people_dir: Path,
                                      fake_spec: EngineSpec) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=fake_spec)
    qtbot.addWidget(window)
    window.gallery_watch.stop()  # ticks by hand below
    assert window.open_gallery(db)
    assert "16 photos · 15 faces" in window.gallery_label.text()
    window.check_gallery_changed()
    settle(qtbot, window)
    assert window.statusBar().currentMessage().startswith("Opened")  # nothing changed

    more = tmp_path / "more"
    for v in range(4):
        save_png(one_face(9, v), more / "person_9" / f"{v}.png")
    with Gallery.open(db) as other:  # another connection, as a CLI import has
        for _ in run_import(other, more, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
    window.check_gallery_changed()
    settle(qtbot, window)  # counted off the GUI thread
    assert "20 photos · 19 faces" in window.gallery_label.text()
    assert "The gallery changed: 19 faces now" in window.statusBar().currentMessage()
    window.close()


def test_the_timer_runs(qtbot, tmp_path: Path, fake_spec: EngineSpec) -> None:
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=fake_spec)
    qtbot.addWidget(window)
    assert window.gallery_watch.isActive()
    window.check_gallery_changed()  # no gallery open: nothing to do, no error
    window.close()
