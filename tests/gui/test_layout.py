"""The window and every dialog fit and stay usable on a 1366x768 laptop and a 1024x700
screen, with nothing cut (tests/gui/layout_checks.py measures it from real widgets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PASSWORDS
from layout_checks import cut_widgets, fits_screen, status_message_cut
from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import QGroupBox, QLineEdit, QPushButton, QTableWidget, QWidget
from settle import settle
from test_import_dialog import child, make_dialog, messy_people, run_to_end
from test_main_window import load_and_search

from facedesk.app import accounts
from facedesk.engine.spec import EngineSpec
from facedesk.gui.about_dialog import AboutDialog
from facedesk.gui.candidates_panel import COL_FACE, COL_PERSON, COL_RANK
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery

SCREENS = [(1366, 768), (1024, 700)]
__all__ = ["messy_people"]  # a fixture of test_import_dialog, used here


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_spec: EngineSpec):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(w, before_close_func=lambda win: setattr(win, "review", None))
    w.show()
    return w


@pytest.mark.parametrize("screen", SCREENS)
def test_the_workspace_after_a_search_fits(qtbot, window: MainWindow, make_gallery,
                                           tmp_path: Path, start_case, screen) -> None:
    gallery_path = make_gallery(os_user="ann", every_candidate=True)
    load_and_search(qtbot, window, gallery_path, tmp_path, start_case)
    assert fits_screen(window, *screen) == []
    qtbot.wait(50)
    assert status_message_cut(window) is None
    # at 1366 px the candidate list shows every column without sideways scrolling
    assert cut_widgets(window, sideways=screen[0] >= 1366) == []
    table = window.candidates.table
    shown = [c for c in range(table.model().columnCount()) if not table.isColumnHidden(c)]
    assert [table.model().headerData(c, Qt.Orientation.Horizontal) for c in shown] == [
        "Rank", "Face", "Person", "Distance", "FMR", "Look-alikes", "Decision"]
    # even at 1024 px rank, face and person are in view, and several rows
    visible = table.viewport().rect()
    for col in (COL_RANK, COL_FACE, COL_PERSON):
        assert visible.contains(table.visualRect(table.model().index(0, col)))
    assert table.viewport().height() >= 3 * table.rowHeight(0)
    # the decision's message fits too, and the focus does not land in the top-K box
    window.decision.decision_requested.emit(1, "possible_lead", "Same ears and scar")
    settle(qtbot, window)
    assert "Candidate 1: possible lead recorded" in window.statusBar().currentMessage()
    assert window.focusWidget() is window.candidates.table
    assert status_message_cut(window) is None


def test_the_regions_keep_their_widths(qtbot, window: MainWindow, make_gallery,
                                       tmp_path: Path, start_case) -> None:
    """The three regions changed width at each search, view switch and selection."""
    gallery_path = make_gallery(os_user="ann", every_candidate=True)
    window.resize(1366, 768)
    load_and_search(qtbot, window, gallery_path, tmp_path, start_case)
    qtbot.wait(20)
    sizes = window.columns.sizes()
    seen = []
    for step in (window.act_next.trigger, window.act_next.trigger,
                 lambda: window.compare.set_mode("blend"),
                 lambda: window.compare.set_mode("flicker"),
                 lambda: window.compare.set_landmarks_visible(True),
                 lambda: window.compare.set_mode("side"), window.act_prev.trigger):
        step()
        settle(qtbot, window)
        qtbot.wait(10)
        seen.append(window.columns.sizes())
    window.review = None  # the next search drops this list without asking
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: window.review is not None)
    settle(qtbot, window)
    qtbot.wait(10)
    seen.append(window.columns.sizes())
    assert seen == [sizes] * len(seen)


def test_the_import_dialog_keeps_its_size_and_layout_while_it_runs(
        qtbot, tmp_path: Path, messy_people: Path, fake_spec: EngineSpec) -> None:
    """It re-laid itself out while it ran (texts of other lengths, the problems appearing)
    and grew to about 750 px tall: taller than a 768-pixel screen leaves."""
    dialog = make_dialog(qtbot, tmp_path / "gallery.db", fake_spec)
    child(dialog, QLineEdit, "folderEdit").setText(str(messy_people))
    qtbot.wait(20)
    start_size = dialog.size()
    assert start_size.height() <= 700 - 40, start_size  # a title bar and a task bar
    assert cut_widgets(dialog) == []

    def geometry() -> list[tuple[int, int, int, int]]:
        return [w.geometry().getRect() for w in dialog.findChildren(QGroupBox)] + \
            [dialog.findChild(QPushButton, "startButton").geometry().getRect()]

    before = geometry()
    seen: list[tuple[QSize, list]] = []
    dialog.run_started.connect(lambda worker: worker.progress.connect(
        lambda _e: seen.append((dialog.size(), geometry())), Qt.ConnectionType.QueuedConnection))
    run_to_end(qtbot, dialog)
    qtbot.wait(20)
    seen.append((dialog.size(), geometry()))
    assert len(seen) > 2
    assert {s for s, _ in seen} == {start_size}
    assert [g for _, g in seen] == [before] * len(seen)
    assert dialog.findChild(QTableWidget, "problemsTable").rowCount() == 4
    assert cut_widgets(dialog) == []


def _check_dialogs(qtbot, window: MainWindow, openers: dict[str, Callable[[], QWidget | None]],
                   screen: tuple[int, int]) -> dict[str, list[str]]:
    width, height = screen[0], screen[1] - 40  # a title bar
    problems = {}
    for name, open_dialog in openers.items():
        dialog = open_dialog()
        assert dialog is not None, name
        dialog.show()
        qtbot.wait(10)
        cut = fits_screen(dialog, width, height)
        qtbot.wait(10)
        cut += cut_widgets(dialog)
        if cut:
            problems[name] = cut
        dialog.close()
    return problems


@pytest.mark.parametrize("screen", SCREENS)
def test_every_dialog_fits(qtbot, window: MainWindow, make_gallery, tmp_path: Path,
                           start_case, screen) -> None:
    """Every dialog, opened as its user would (with content: a case with a search and a
    possible lead), fits the screen with nothing cut."""
    from facedesk.gui.first_run import FirstRunDialog
    from facedesk.gui.session_dialogs import FirstAdministratorDialog, SignInDialog

    gallery_path = make_gallery(os_user="ann", every_candidate=True)
    load_and_search(qtbot, window, gallery_path, tmp_path, start_case)
    window.decision.decision_requested.emit(1, "possible_lead", "Same ears and scar")
    settle(qtbot, window)
    window.resize(*screen)

    def about() -> QWidget:
        window.about()
        return window.findChildren(AboutDialog)[-1]

    empty = Gallery.open(tmp_path / "empty.db", create=True)
    problems = _check_dialogs(qtbot, window, {
        "about": about,
        "first run": lambda: FirstRunDialog(window),
        "calibration": window.open_calibration,
        "case": window.case_dialog,
        "case overview": window.case_overview,
        "original photo": window.compare.open_candidate_original,
        "trainer": window.open_trainer,
        "sign in": lambda: SignInDialog(window.gallery, window),
        "first administrator": lambda: FirstAdministratorDialog(empty, window),
    }, screen)
    window.review = None
    window.set_session(accounts.sign_in(window.gallery, "admin", PASSWORDS["admin"]))
    problems.update(_check_dialogs(qtbot, window, {
        "users": window.users_dialog,
        "settings": window.admin_settings_dialog,
        "audit log": window.audit_dialog,
        "retention": window.retention_dialog,
    }, screen))
    window.set_session(accounts.sign_in(window.gallery, "sam", PASSWORDS["sam"]))
    problems.update(_check_dialogs(qtbot, window, {"second review": window.second_review},
                                   screen))
    empty.close()
    assert problems == {}, "\n".join(f"{k}: {line}" for k, v in problems.items() for line in v)
