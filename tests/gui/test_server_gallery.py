"""The window on a gallery on a PostgreSQL server: File > Connect to a server… (saved
connections without their password), the counts following another workstation's import;
the trainer view (its experiment, error rates and quiz) and the calibration window on a
server gallery, as on a file."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from fakes import one_face, save_png
from labdata import synthetic_gallery, training_gallery
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QPushButton, QTableWidget
from settle import settle
from test_main_window import load_and_search

from facedesk.app import accounts, audit, calibration, lab, quiz
from facedesk.app.importer import ImportOptions, run_import
from facedesk.domain.quiz import DIFFERENT, SAME
from facedesk.engine.spec import EngineSpec
from facedesk.gui import main_window as main_window_module
from facedesk.gui.calibration_dialog import CalibrationDialog
from facedesk.gui.main_window import MainWindow
from facedesk.gui.server_dialog import ServerDialog
from facedesk.gui.trainer_view import TrainerView
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


def test_a_persons_server_login_signs_them_in(qtbot, tmp_path: Path, pg_server) -> None:
    """On a gallery whose people sign in by their own server login, the window signs in
    the FaceDesk user bound to the login, without a dialog (pg_security's binding)."""
    from facedesk.app import server

    db, owner, tag = pg_server.new_owned_database()
    login = f"jdoe_{tag}"
    server.setup(pg_server.url(db, owner),
                 server.FirstAdministrator("jdoe", "Jane Doe", login), "quartz-Meadow-5817")
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.gallery_watch.stop()
    assert window.open_gallery(pg_server.url(db, login))
    settle(qtbot, window)
    assert window.session is not None and window.session.user_id == "jdoe"
    assert window.sign_in_dialog is None
    window.close()
    server.drop_login(pg_server.url(db, owner), login)


# -- the trainer view and the calibration window ------------------------------------------

#: the screenshot of the trainer view on a server gallery, to look at
SHOTS = Path(tempfile.gettempdir()) / "facedesk-server-screens"
TIMEOUT_MS = 30_000


def window_on(qtbot, tmp_path: Path, location: str, spec: EngineSpec) -> MainWindow:
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=spec)
    qtbot.addWidget(window)
    window.gallery_watch.stop()
    window.show()
    assert window.open_gallery(location)
    settle(qtbot, window)
    assert window.gallery is not None and window.gallery.is_server
    return window


def test_the_trainer_view_on_a_server_gallery(
        qtbot, tmp_path: Path, pg_url: str, fake_spec: EngineSpec,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Trainer view… opens on a server gallery; its experiment and its error rates of
    every pair run to the end there; the report names the database, and its save dialog
    starts in the home folder (a server gallery has no folder)."""
    synthetic_gallery(pg_url, persons=60)[0].close()
    window = window_on(qtbot, tmp_path, pg_url, fake_spec)
    assert window.act_trainer.isEnabled()
    window.act_trainer.trigger()
    view = window.findChild(TrainerView, "trainerView")
    assert view is not None and view.isVisible()
    name = window.gallery.name
    assert f"— {name}" in view.windowTitle() and "postgresql" not in view.windowTitle()
    assert view.open_location == window.gallery.open_location
    view.resize(1300, 900)
    qtbot.mouseClick(view.findChild(QPushButton, "runExperimentButton"),
                     Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running and view.result is not None, timeout=TIMEOUT_MS)
    assert view.result is not None and view.result.gallery_persons > 0
    view.tabs.setCurrentIndex(1)  # measures every pair on first showing
    qtbot.waitUntil(lambda: view.evaluation is not None, timeout=TIMEOUT_MS)
    with Gallery.open(pg_url) as g:
        ev = lab.evaluate_gallery(g, "sex")
    fmr = ev.distributions.fmr(view.threshold())
    table = view.findChild(QTableWidget, "errorTable")
    assert f"({fmr.k:,} of {fmr.n:,} pairs)" in table.item(0, 3).text()
    settle(qtbot, view)
    SHOTS.mkdir(exist_ok=True)
    view.grab().save(str(SHOTS / "trainer-server.png"))

    asked: list[Any] = []
    target = tmp_path / "report.html"

    def save_name(*args: Any, **_: Any) -> tuple[str, str]:
        asked.append(args[2])
        return str(target), "HTML report (*.html)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    qtbot.mouseClick(view.findChild(QPushButton, "saveReportButton"),
                     Qt.MouseButton.LeftButton)
    assert asked == [str(Path.home() / f"{name}-false-positives.html")]
    html = target.read_text()
    assert f"Measured on {name}" in html and "The false-positive experiment" in html
    # the next dialog starts where the report went
    folders: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *a, **k: folders.append(a[2]) or "")
    qtbot.mouseClick(view.findChild(QPushButton, "savePlotsButton"),
                     Qt.MouseButton.LeftButton)
    assert folders == [str(tmp_path)]
    view.close()


def test_a_quiz_on_a_server_training_gallery(qtbot, pg_url: str) -> None:
    """A trainee takes a quiz in the trainer view's Quiz tab on a server gallery: the
    faces are read from the server, the answers stored there."""
    training_gallery(pg_url, persons=30)
    g = Gallery.open(pg_url)
    try:
        view = TrainerView(pg_url, session=accounts.sign_in_os(g, "os-ann"))
        qtbot.addWidget(view)
        view.show()
        qtbot.waitExposed(view)
        view.tabs.setCurrentWidget(view.quiz_panel)
        panel = view.quiz_panel
        settle(qtbot, view)
        assert panel.start_button.isEnabled(), panel.setup_status.text()
        panel.size_spin.setValue(4)
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.question_page,
                        timeout=TIMEOUT_MS)
        assert panel.quiz is not None and len(panel.quiz.rows) == 4
        for i, row in enumerate(panel.quiz.rows):
            qtbot.waitUntil(lambda: panel.answer_buttons[SAME].isEnabled(), timeout=TIMEOUT_MS)
            assert not panel.left_face.pixmap().isNull()
            qtbot.mouseClick(panel.answer_buttons[SAME if row.genuine else DIFFERENT],
                             Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda i=i: panel.position == i + 1 or
                            panel.stack.currentWidget() is panel.results_page,
                            timeout=TIMEOUT_MS)
        qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.results_page,
                        timeout=TIMEOUT_MS)
        assert panel.score_table.item(0, 3).text().startswith("100 % (4 of 4;")
        view.close()
        settle(qtbot, view)
        with Gallery.open(pg_url) as other:
            past = quiz.sessions(accounts.sign_in_os(other, "os-ann"))
        assert [s.user_id for s in past] == ["ann"]
    finally:
        g.close()


def test_the_calibration_window_measures_on_a_server_gallery(
        qtbot, tmp_path: Path, pg_url: str, fake_spec: EngineSpec) -> None:
    synthetic_gallery(pg_url, persons=100)[0].close()
    window = window_on(qtbot, tmp_path, pg_url, fake_spec)
    window.act_calibration.trigger()
    dialog = window.findChild(CalibrationDialog, "calibrationDialog")
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == f"Calibration — {window.gallery.name}"
    assert dialog.table.rowCount() == 0
    dialog.measure_own.click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=TIMEOUT_MS)
    assert "this gallery's own photos" in dialog.in_use.text()
    with Gallery.open(pg_url) as g:
        assert calibration.in_use(g) is not None
    dialog.close()


def test_an_outside_probe_set_against_a_server_gallery(
        qtbot, tmp_path: Path, pg_url: str, people_dir: Path, fake_spec: EngineSpec) -> None:
    from facedesk.app.outside_probes import OutsideOptions, OutsideResult, run_outside

    with Gallery.open(pg_url, create=True) as g:
        for _ in run_import(g, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
    probes = tmp_path / "probes"
    for person in (30, 31, 32):
        save_png(one_face(person, 9), probes / f"person_{person}" / "0.png")
    view = TrainerView(pg_url)
    qtbot.addWidget(view)
    view.probe_engine = fake_spec
    view.show()
    view.run_outside_probes(probes, "folder")
    qtbot.waitUntil(lambda: not view.running, timeout=TIMEOUT_MS)
    assert isinstance(view.result, OutsideResult), view.status_label.text()
    with Gallery.open(pg_url) as g:
        core = list(run_outside(g, probes, fake_spec, OutsideOptions()))[-1].result
    assert core is not None and view.result.oog_probes == core.oog_probes == 3
    view.close()
