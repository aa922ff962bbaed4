"""The whole workspace with real widgets, a real gallery file and the fake engine:
open a gallery (signing in as the analyst mapped to this OS account), open a case, load a
probe, search, compare, record a decision, close."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import face_photo, save_png
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
from settle import settle

from facedesk.domain.faces import Box
from facedesk.engine.spec import EngineSpec
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery
from facedesk.store.decisions import decision_rows


@pytest.fixture
def gallery_path(make_gallery) -> Path:
    return make_gallery(os_user="ann", every_candidate=True)


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_spec: EngineSpec):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings, engine=fake_spec)
    # at teardown, drop any candidate list so closing does not ask a question
    qtbot.addWidget(w, before_close_func=lambda win: setattr(win, "review", None))
    w.resize(1400, 850)
    w.show()
    return w


def probe_file(tmp_path: Path) -> Path:
    # person 2 in the middle, person 4 small at the left
    img = face_photo([(4, Box(10, 50, 50, 10)), (2, Box(40, 180, 160, 60))], size=(240, 200),
                     noise_seed=77)
    return save_png(img, tmp_path / "probe.png")


def load_and_search(qtbot, window: MainWindow, gallery_path: Path, tmp_path: Path,
                    start_case, user: str = "ann") -> None:
    assert window.open_gallery(gallery_path)
    assert "5 persons · 16 photos · 15 faces" in window.gallery_label.text()
    assert window.session is not None and window.session.user_id == user
    start_case(window)
    with qtbot.waitSignal(window.engine.analyzed, timeout=20000):
        window.load_probe(probe_file(tmp_path))
    qtbot.waitUntil(lambda: window.probe is not None)
    assert len(window.probe.faces) == 2
    assert window.probe_panel.selected_face().index == 1  # the larger face
    # the engine thread may still be describing the face ("working…"): then searchable
    qtbot.waitUntil(window.act_search.isEnabled, timeout=20000)
    with qtbot.waitSignal(window.engine.searched, timeout=20000):
        window.search()
    qtbot.waitUntil(lambda: window.review is not None)
    settle(qtbot, window)


def test_probe_search_review_decide(qtbot, window: MainWindow, gallery_path: Path,
                                    tmp_path: Path, start_case) -> None:
    assert window.gallery_label.text() == "No gallery open"
    load_and_search(qtbot, window, gallery_path, tmp_path, start_case)
    review = window.review
    assert review is not None and review.result.candidates[0].person_id == "person_2"
    assert window.candidates.selected_rank() == 1
    window.grab().save(str(tmp_path / "workspace.png"))

    # the signed-in reviewer records a decision through the panel's own signal
    window.decision.decision_requested.emit(1, "possible_lead", "Same face shape and eyebrows")
    settle(qtbot, window)
    with Gallery.open(gallery_path) as g:
        rows = decision_rows(g)
    assert [(r.person_id, r.decision, r.reviewer) for r in rows] == [
        ("person_2", "possible_lead", "ann")]
    assert rows[0].search_id == review.search_id

    # next/previous candidate from the keyboard actions
    window.act_next.trigger()
    assert window.candidates.selected_rank() == 2
    window.act_prev.trigger()
    assert window.candidates.selected_rank() == 1


def test_closing_with_undecided_candidates_asks_and_writes_nothing(
        qtbot, window: MainWindow, gallery_path: Path, tmp_path: Path, monkeypatch,
        start_case) -> None:
    load_and_search(qtbot, window, gallery_path, tmp_path, start_case)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    asked: list[str] = []

    def question(*args, **kwargs):
        asked.append(args[2])
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", question)
    window.close()
    assert window.isVisible() and "no recorded decision" in asked[0]
    window.close()
    assert not window.isVisible()
    with Gallery.open(gallery_path) as g:
        assert decision_rows(g) == []


def test_settings_survive_a_restart(qtbot, tmp_path: Path, gallery_path: Path,
                                    fake_spec: EngineSpec) -> None:
    ini = str(tmp_path / "settings.ini")
    first = MainWindow(QSettings(ini, QSettings.Format.IniFormat), engine=fake_spec)
    qtbot.addWidget(first)
    first.open_gallery(gallery_path)
    assert first.top_k.maximum() == 20  # the administrator's top_k
    first.top_k.setValue(7)
    first.act_blind.setChecked(True)
    first.close()
    second = MainWindow(QSettings(ini, QSettings.Format.IniFormat), engine=fake_spec)
    qtbot.addWidget(second)
    assert second.top_k.value() == 7 and second.act_blind.isChecked()
    assert second.recent_galleries()[0] == str(gallery_path)
    second.open_last_gallery()
    assert second.gallery is not None and second.gallery.path == gallery_path
    second.close()


def test_not_a_gallery_is_refused_with_a_message(qtbot, window: MainWindow, tmp_path: Path,
                                                 monkeypatch) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("not a database" * 20)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    assert not window.open_gallery(bad)
    assert "not a FaceDesk gallery" in shown[0] and window.gallery is None
    assert not window.act_import.isEnabled()


@pytest.mark.parametrize("size", [(1600, 950), (1400, 850), (1280, 720)])
def test_window_settles_after_a_resize(qtbot, window: MainWindow, size) -> None:
    """The compare panes once refitted forever at 1600 x 950: fitting toggled the scroll
    bars, which resized the viewport, which refitted... (the window froze)."""
    resizes: list[int] = []
    for pane in window.compare._views:
        pane.resized.connect(lambda: resizes.append(1))
    window.resize(*size)
    qtbot.wait(400)
    settled = len(resizes)
    qtbot.wait(400)
    assert len(resizes) == settled and settled < 20


def test_key_widgets_have_their_stable_names(window: MainWindow) -> None:
    from PySide6.QtWidgets import QWidget

    names = ["probeView", "faceList", "qualityPanel", "searchButton", "candidateList",
             "compareView", "decisionPanel", "confirmButton", "importButton"]
    missing = [n for n in names if window.findChild(QWidget, n) is None]
    assert missing == []


def test_the_calibration_dialog_works_with_the_signed_in_user(window: MainWindow,
                                                              gallery_path: Path) -> None:
    assert window.open_gallery(gallery_path)
    assert window.session is not None and window.session.user_id == "ann"
    dialog = window.open_calibration()
    assert dialog is not None and dialog.session is window.session
    # an analyst may not change which calibration is in use (an administrator's setting)
    assert not dialog.use_shipped.isEnabled()
    assert "only Administrator may change it" in dialog.use_shipped.toolTip()
    dialog.close()
