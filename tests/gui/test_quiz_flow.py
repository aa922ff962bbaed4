"""The trainee quiz driven through the real trainer view: a trainee starts a quiz in its
Quiz tab, sees two faces and no score, answers with the keys S/D/C and the buttons (one
wrong and one "can't tell" on purpose), and the figures shown at the end are those of
the truth; the quiz is then listed under the trainee, exported, and refused on a gallery
that is not for training."""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from labdata import synthetic_gallery, training_gallery
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QTableWidget
from pytestqt.qtbot import QtBot
from settle import settle

from facedesk.app import accounts
from facedesk.domain.quiz import CANT_TELL, DIFFERENT, SAME
from facedesk.gui.quiz_view import QuizPanel
from facedesk.gui.trainer_view import TrainerView
from facedesk.store import Gallery

#: the screenshots of the quiz and its results, to look at
SHOTS = Path(tempfile.gettempdir()) / "facedesk-quiz-screens"
KEY = {SAME: Qt.Key.Key_S, DIFFERENT: Qt.Key.Key_D, CANT_TELL: Qt.Key.Key_C}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return training_gallery(tmp_path_factory.mktemp("quizgui") / "training.db", persons=30)


def open_view(qtbot: QtBot, path: Path, uid: str) -> tuple[TrainerView, Gallery]:
    g = Gallery.open(path)
    view = TrainerView(path, session=accounts.sign_in_os(g, f"os-{uid}"))
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    view.tabs.setCurrentWidget(view.quiz_panel)
    settle(qtbot, view)
    return view, g


def cells(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def wait_for_faces(qtbot: QtBot, panel: QuizPanel) -> None:
    qtbot.waitUntil(lambda: panel.answer_buttons[SAME].isEnabled(), timeout=20_000)


def test_a_trainee_takes_the_quiz_and_sees_the_truth_scored(
        qtbot: QtBot, template: Path, tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    shutil.copy(template, path)
    view, g = open_view(qtbot, path, "ann")
    panel = view.quiz_panel
    assert panel.start_button.isVisible() and "Ann Analyst" in panel.setup_status.text()
    # the experiment's threshold is not shown to a trainee on the quiz tab
    assert not view.slider.isVisible()
    view.tabs.setCurrentIndex(0)
    assert view.slider.isVisible()
    view.tabs.setCurrentWidget(panel)
    panel.size_spin.setValue(8)
    panel.threshold_spin.setValue(0.5)
    assert panel.group_combo.currentText() == "sex"
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.question_page,
                    timeout=20_000)
    assert panel.quiz is not None and len(panel.quiz.rows) == 8
    truth = [SAME if r.genuine else DIFFERENT for r in panel.quiz.rows]
    # pair 1 wrong on purpose, pair 2 "can't tell"; the rest right; keys and buttons
    plan = [DIFFERENT if truth[0] == SAME else SAME, CANT_TELL, *truth[2:]]
    for i, given in enumerate(plan):
        wait_for_faces(qtbot, panel)
        assert panel.question_title.text() == f"Pair {i + 1} of 8"
        for face in (panel.left_face, panel.right_face):
            assert face.pixmap() is not None and not face.pixmap().isNull()
        # no score anywhere on the question page
        shown = " ".join(w.text() for w in panel.question_page.findChildren(QLabel))
        assert not re.search(r"\d\.\d", shown), shown
        if i == 2:
            SHOTS.mkdir(exist_ok=True)
            view.grab().save(str(SHOTS / "quiz-question.png"))
        if i % 2 == 0:
            qtbot.keyClick(panel.question_page, KEY[given])
        else:
            qtbot.mouseClick(panel.answer_buttons[given], Qt.MouseButton.LeftButton)
        if i < 7:
            qtbot.waitUntil(lambda i=i: panel.position == i + 1 or
                            panel.stack.currentWidget() is panel.results_page,
                            timeout=20_000)
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.results_page,
                    timeout=20_000)
    settle(qtbot, view)
    view.grab().save(str(SHOTS / "quiz-results.png"))
    # the figures shown are the truth's: 6 of 8 right, one "can't tell"
    rows = cells(panel.score_table)
    trainee = rows[0]
    assert trainee[:3] == ["all", "trainee", "8"]
    assert trainee[3].startswith("75 % (6 of 8;")
    assert "(1 of 8;" in trainee[6]
    impostors = truth.count(DIFFERENT)
    said_same_wrong = 1 if truth[0] == DIFFERENT else 0
    assert f"({said_same_wrong} of {impostors};" in trainee[4]
    algo = rows[1]
    r = panel.result
    assert r is not None
    algo_right = sum((row.distance <= 0.5) == row.genuine for row in r.quiz.rows)
    assert algo[1].startswith("algorithm") and f"({algo_right} of 8;" in algo[3]
    groups = {row[0] for row in rows[2:]}
    assert groups == {g.group for g in r.score.groups} and groups
    assert sum(int(row[2]) for row in rows[2:] if row[1] == "trainee") == 8
    pairs = cells(panel.pairs_table)
    assert [p[2] for p in pairs] == [{"same": "same person",
                                      "different": "different persons"}[t] for t in truth]
    assert pairs[1][3] == "can't tell"
    # exported, then listed under the trainee
    out = tmp_path / "quiz.csv"
    panel.export(out)
    settle(qtbot, view)
    assert "Exported" in panel.export_status.text()
    first = next(csv.DictReader(out.open()))
    assert (first["who"], first["accuracy_k"]) == ("trainee", "6")
    qtbot.mouseClick(view.findChild(QPushButton, "backToQuizzesButton"),
                     Qt.MouseButton.LeftButton)
    settle(qtbot, view)
    view.grab().save(str(SHOTS / "quiz-setup.png"))
    listed = cells(panel.past_table)
    assert listed[0][1:2] == ["ann"] and listed[0][3] == "8 of 8"
    panel.past_table.selectRow(0)
    assert panel.show_button.isEnabled() and panel.show_button.text() == "Show results"
    qtbot.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.results_page,
                    timeout=20_000)
    assert cells(panel.score_table)[0][3] == trainee[3]
    view.close()
    g.close()


def test_finish_early_and_go_on_with_an_open_quiz(qtbot: QtBot, template: Path,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    shutil.copy(template, path)
    view, g = open_view(qtbot, path, "abe")
    panel = view.quiz_panel
    panel.size_spin.setValue(4)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    wait_for_faces(qtbot, panel)
    qtbot.keyClick(panel.question_page, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: panel.position == 1, timeout=20_000)
    view.close()
    g.close()
    # a new window: the open quiz goes on at its second pair
    view, g = open_view(qtbot, path, "abe")
    panel = view.quiz_panel
    qtbot.waitUntil(lambda: panel.past_table.rowCount() == 1, timeout=20_000)
    panel.past_table.selectRow(0)
    assert panel.show_button.text() == "Go on with the quiz"
    qtbot.mouseClick(panel.show_button, Qt.MouseButton.LeftButton)
    wait_for_faces(qtbot, panel)
    assert panel.question_title.text() == "Pair 2 of 4"
    qtbot.mouseClick(panel.finish_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.results_page,
                    timeout=20_000)
    assert "3 not answered, left out" in panel.results_headline.text()
    assert cells(panel.score_table)[0][2] == "1"
    view.close()
    g.close()


def test_no_quiz_outside_a_training_gallery(qtbot: QtBot, tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "real.db", persons=8)
    accounts.create_first_administrator(g, "admin", "Ada Admin", os_account="os-admin")
    g.close()
    view, g = open_view(qtbot, tmp_path / "real.db", "admin")
    panel = view.quiz_panel
    assert not panel.start_button.isVisible()
    assert "not a training gallery" in panel.setup_status.text()
    view.close()
    g.close()
