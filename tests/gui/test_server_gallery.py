"""The window on a gallery on a PostgreSQL server: File > Connect to a server… (saved
connections without their password), the counts following another workstation's import."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import one_face, save_png
from PySide6.QtCore import QSettings
from settle import settle
from test_main_window import load_and_search

from facedesk.app import audit
from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.gui import main_window as main_window_module
from facedesk.gui.main_window import MainWindow
from facedesk.gui.server_dialog import ServerDialog
from facedesk.store import Gallery
from facedesk.store.decisions import decision_rows


def test_the_dialog_keeps_the_password_out_of_what_is_saved(qtbot, tmp_path: Path) -> None:
    dialog = ServerDialog(["postgresql://ann@db.example.org/faces"])
    qtbot.addWidget(dialog)
    assert dialog.url() == "postgresql://ann@db.example.org/faces"
    dialog.password.setText("s3cret")
    assert dialog.location().endswith("password=s3cret")
    assert dialog.saved_form() == "postgresql://ann@db.example.org/faces"
    dialog.show()
    settle(qtbot, dialog)
    dialog.grab().save(str(tmp_path / "server_dialog.png"))
    dialog.url_box.setEditText("/home/ann/gallery.db")
    assert not dialog.check() and "postgresql://" in dialog.error.text()


def test_connecting_opens_the_server_gallery_and_follows_other_imports(
        qtbot, tmp_path: Path, pg_url: str, people_dir: Path, fake_spec: EngineSpec,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with Gallery.open(pg_url, create=True) as g:
        for _ in run_import(g, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
            pass

    class Typed(ServerDialog):
        def exec(self) -> int:
            self.url_box.setEditText(pg_url)
            self.password.setText("for this connection only")
            return 1

    monkeypatch.setattr(main_window_module, "ServerDialog", Typed)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(window)
    window.gallery_watch.stop()  # ticks by hand below
    window.connect_server_dialog()
    assert window.gallery is not None and window.gallery.is_server
    assert "16 photos · 15 faces" in window.gallery_label.text()
    assert settings.value("server_connections") in ([pg_url], pg_url)
    assert window.recent_galleries() == [pg_url]
    settings.sync()
    assert "connection only" not in Path(settings.fileName()).read_text()

    more = tmp_path / "more"
    for v in range(4):
        save_png(one_face(9, v), more / "person_9" / f"{v}.png")
    with Gallery.open(pg_url) as other:  # another workstation's import
        for _ in run_import(other, more, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
    window.check_gallery_changed()
    settle(qtbot, window)  # counted off the GUI thread
    assert "20 photos · 19 faces" in window.gallery_label.text()
    window.close()


def test_a_search_and_a_decision_on_a_server_gallery(
        qtbot, tmp_path: Path, pg_url: str, people_dir: Path, fake_spec: EngineSpec,
        prepare_gallery, start_case) -> None:
    """The window's engine thread searches the server's gallery, the decision is written
    there (the same steps as test_main_window's on a file)."""
    with Gallery.open(pg_url, create=True) as g:
        for _ in run_import(g, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
        prepare_gallery(g, os_user="ann", every_candidate=True)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=fake_spec)
    qtbot.addWidget(window, before_close_func=lambda win: setattr(win, "review", None))
    window.show()
    load_and_search(qtbot, window, pg_url, tmp_path, start_case)
    review = window.review
    assert review is not None and review.result.candidates[0].person_id == "person_2"
    window.decision.decision_requested.emit(1, "possible_lead", "Same face shape and eyebrows")
    settle(qtbot, window)
    with Gallery.open(pg_url) as g:
        rows = decision_rows(g)
        assert audit.verify(g).ok
    assert [(r.person_id, r.decision, r.reviewer) for r in rows] == [
        ("person_2", "possible_lead", "ann")]
