"""Blind review in the real window (issue 14, item 10): with Blind review on, the search
the window makes hides the scores, a decision is refused until a first impression is
recorded, and the stored decision says it was blind. A window that passed blind=False
would show the scores and store blind_review 0: these checks read the widgets and the
gallery, not the Review object."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QPushButton, QRadioButton
from test_case_flow import load_probe, search

from facedesk.app import cases
from facedesk.engine.spec import EngineSpec
from facedesk.gui.main_window import MainWindow


def decide_in_panel(qtbot, w: MainWindow) -> None:
    w.findChild(QRadioButton, "decisionNotThePerson").click()
    w.decision.rationale_edit.clear()
    qtbot.keyClicks(w.decision.rationale_edit, "Different ear lobes and chin.")
    qtbot.mouseClick(w.findChild(QPushButton, "confirmButton"), Qt.MouseButton.LeftButton)


def test_blind_review_in_the_window_hides_scores_and_is_stored_as_blind(
        qtbot, tmp_path: Path, fake_spec: EngineSpec, make_gallery, start_case) -> None:
    w = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   engine=fake_spec)
    w.gallery_watch.stop()
    qtbot.addWidget(w, before_close_func=lambda win: setattr(win, "review", None))
    w.resize(1500, 900)
    w.show()
    assert w.open_gallery(make_gallery(os_user="ann", every_candidate=True))
    assert w.session is not None and w.session.user_id == "ann"
    case = start_case(w)
    w.act_blind.setChecked(True)
    load_probe(qtbot, w, tmp_path)
    search(qtbot, w)
    gallery = w.gallery
    assert gallery is not None

    # the candidate table shows no distance and no similarity of any candidate
    [stored] = cases.searches(gallery, case.id)
    model = w.candidates.table.model()
    shown = [str(model.data(model.index(r, c), Qt.ItemDataRole.DisplayRole) or "")
             for r in range(model.rowCount()) for c in range(model.columnCount())]
    for cand in stored.candidates:
        assert f"{cand['distance']:.3f}" not in " ".join(shown)
    assert w.candidates.blind_indicator.isChecked()

    # a decision without a first impression is refused, nothing is stored
    rank = w.candidates.selected_rank()
    assert rank is not None
    decide_in_panel(qtbot, w)
    assert cases.decisions(gallery, case.id) == []

    # after the first impression (the panel's button), the decision is stored as blind
    qtbot.mouseClick(w.candidates.impression_buttons["different"], Qt.MouseButton.LeftButton)
    decide_in_panel(qtbot, w)
    [row] = cases.decisions(gallery, case.id)
    assert (row.rank, row.decision, row.blind_review, row.first_impression) == \
        (rank, "not_the_person", 1, "different")
