"""The trainer view with real widgets on a synthetic labelled gallery: the experiment runs
in the background through its button, and every figure shown at a threshold is core's
figure for the same options; cancel, failures, the error rates of all pairs, export, and
the main window's menu action."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labdata import synthetic_gallery
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from facedesk.app import lab
from facedesk.app.experiment import (
    ExperimentOptions,
    ExperimentProgress,
    ExperimentResult,
    run_experiment,
)
from facedesk.domain.progress import CancelToken
from facedesk.engine.spec import EngineSpec
from facedesk.gui import trainer_view
from facedesk.gui.calibration_dialog import CalibrationDialog
from facedesk.gui.main_window import MainWindow
from facedesk.gui.trainer_view import TrainerView
from facedesk.store import Gallery

TIMEOUT_MS = 20_000


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def lab_db(tmp_path: Path) -> Path:
    g, _, _ = synthetic_gallery(tmp_path / "lab.db", persons=60)
    g.close()
    return tmp_path / "lab.db"


def core_result(db: Path, **options: Any) -> ExperimentResult:
    with Gallery.open(db) as g:
        events = list(run_experiment(g, ExperimentOptions(**options)))
    result = events[-1].result
    assert result is not None
    return result


def child(view: QWidget, kind: type, name: str) -> Any:
    found = view.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} named {name!r}"
    return found


def plain(label: QLabel) -> str:
    return re.sub(r"<[^>]+>", "", label.text())


def table_rows(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def make_view(qtbot: QtBot, db: Path) -> TrainerView:
    view = TrainerView(db)
    qtbot.addWidget(view)
    view.resize(1200, 820)
    view.show()
    qtbot.waitExposed(view)
    return view


def run(qtbot: QtBot, view: TrainerView) -> ExperimentResult:
    before = view.result
    qtbot.mouseClick(child(view, QPushButton, "runExperimentButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.running and view.result is not before, timeout=TIMEOUT_MS)
    assert view.result is not None
    return view.result


def move_to(qtbot: QtBot, view: TrainerView, t: float) -> None:
    """Move the slider and wait for the debounced re-count."""
    headline = child(view, QLabel, "headlineLabel")
    child(view, QSlider, "thresholdSlider").setValue(round((t - 0.30) / 0.005))
    assert view.threshold() == pytest.approx(t)
    qtbot.waitUntil(lambda: f"distance ≤ {t:.2f}" in plain(headline), timeout=TIMEOUT_MS)


def expected_headline(r: ExperimentResult, t: float) -> list[str]:
    f = r.fpir(t)
    lo, hi = f.interval
    return [f"At distance ≤ {t:.2f}, {f.k} of {f.n} probes",
            f"({round(100 * f.value)} %, 95 % interval {round(100 * lo)}–{round(100 * hi)} %) "
            "of persons NOT in this gallery got at least one false "
            "candidate", f"{r.mean_candidates(t):.1f} false candidates per probe"
            if r.mean_candidates(t) >= 1 else f"{r.mean_candidates(t):.2g} false candidates"]


# -- the experiment ---------------------------------------------------------------------------


def test_experiment_figures_equal_core_at_two_thresholds(qtbot: QtBot, lab_db: Path) -> None:
    view = make_view(qtbot, lab_db)
    assert view.group_combo.currentText() == "sex"  # the default when the gallery has it
    assert [view.group_combo.itemText(i) for i in range(view.group_combo.count())] == [
        "(none)", "sex"]
    assert not child(view, QPushButton, "savePlotsButton").isEnabled()  # nothing to save yet
    assert not child(view, QPushButton, "saveReportButton").isEnabled()
    assert view.threshold() == pytest.approx(0.60)

    shown = run(qtbot, view)
    expected = core_result(lab_db, probe_share=0.5, seed=0, group_key="sex")
    assert (shown.oog_probes, shown.gallery_persons) == (expected.oog_probes,
                                                        expected.gallery_persons)
    assert child(view, QPushButton, "savePlotsButton").isEnabled()
    # the canvas is a PySide6 widget (matplotlib picked the binding already imported)
    assert isinstance(view.size_plot.canvas, QWidget)

    headline = child(view, QLabel, "headlineLabel")
    table = child(view, QTableWidget, "groupTable")
    seen = []
    for t in (0.70, 0.75):
        move_to(qtbot, view, t)
        text = plain(headline)
        for part in expected_headline(expected, t):
            assert part in text
        rows = table_rows(table)
        groups = expected.by_group(t)
        assert [r[0] for r in rows] == [g["group"] for g in groups]
        for row, g in zip(rows, groups, strict=True):
            assert row[1] == str(g["probes"])
            assert f"({g['fpir'].k} of {g['fpir'].n})" in row[2]
            assert row[2].startswith(f"{round(100 * g['fpir'].value)} %")
        one = expected.rank_hit(1)
        assert f"own person ranked first for {one.k}" in plain(
            child(view, QLabel, "inGalleryLabel"))
        assert f"distance ≤ {t:.2f}" in view.size_plot.figure.axes[0].get_legend().texts[-1] \
            .get_text()
        seen.append((text, rows))
    assert seen[0] != seen[1]  # moving the slider changed the words and the table
    assert expected.fpir(0.70).k != expected.fpir(0.75).k

    # the quick buttons
    qtbot.mouseClick(child(view, QPushButton, "threshold40Button"), Qt.MouseButton.LeftButton)
    assert view.threshold() == pytest.approx(0.40)
    qtbot.waitUntil(lambda: "distance ≤ 0.40" in plain(headline), timeout=TIMEOUT_MS)

    # re-running with other settings replaces the result
    view.seed_spin.setValue(3)
    view.group_combo.setCurrentIndex(0)
    again = run(qtbot, view)
    assert again.options.seed == 3 and again.group_key is None
    assert not table.isVisible()
    assert not view.group_plot.isVisible()


def test_cancel_keeps_the_previous_result(qtbot: QtBot, lab_db: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    view = make_view(qtbot, lab_db)
    first = run(qtbot, view)
    gate = threading.Event()
    real = trainer_view.run_experiment

    def gated(g: Gallery, options: ExperimentOptions,
              cancel: CancelToken) -> Iterator[ExperimentProgress]:
        yield ExperimentProgress("loading", 0, 0)
        gate.wait(10)
        yield from real(g, options, cancel)

    monkeypatch.setattr(trainer_view, "run_experiment", gated)
    qtbot.mouseClick(child(view, QPushButton, "runExperimentButton"), Qt.MouseButton.LeftButton)
    assert view.running
    cancel = child(view, QPushButton, "cancelExperimentButton")
    assert cancel.isVisible() and cancel.isEnabled()
    assert not child(view, QPushButton, "runExperimentButton").isEnabled()
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(lambda: not view.running, timeout=TIMEOUT_MS)
    assert view.result is first
    assert "cancelled" in plain(child(view, QLabel, "statusLabel"))
    assert child(view, QPushButton, "runExperimentButton").isEnabled()
    assert not cancel.isVisible()


def test_a_failure_is_a_message(qtbot: QtBot, tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "tiny.db", persons=3)
    g.close()
    view = make_view(qtbot, tmp_path / "tiny.db")
    qtbot.mouseClick(child(view, QPushButton, "runExperimentButton"), Qt.MouseButton.LeftButton)
    status = child(view, QLabel, "statusLabel")
    qtbot.waitUntil(lambda: not view.running, timeout=TIMEOUT_MS)
    assert "could not run" in plain(status) and "at least 4 persons" in plain(status)
    assert view.result is None
    assert child(view, QPushButton, "runExperimentButton").isEnabled()
    assert not child(view, QPushButton, "saveReportButton").isEnabled()


# -- error rates of all pairs, and export -----------------------------------------------------


def test_error_rates_and_export(qtbot: QtBot, lab_db: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    view = make_view(qtbot, lab_db)
    run(qtbot, view)
    move_to(qtbot, view, 0.70)
    view.tabs.setCurrentIndex(1)  # measures every pair on first showing
    qtbot.waitUntil(lambda: view.evaluation is not None, timeout=TIMEOUT_MS)
    with Gallery.open(lab_db) as g:
        ev = lab.evaluate_gallery(g, "sex")
    rows = table_rows(child(view, QTableWidget, "errorTable"))
    fmr, fnmr = ev.distributions.fmr(0.70), ev.distributions.fnmr(0.70)
    assert rows[0][0] == "all"
    assert f"({fmr.k:,} of {fmr.n:,} pairs)" in rows[0][3]
    assert f"({fnmr.k:,} of {fnmr.n:,} pairs)" in rows[0][5]
    assert [r[0] for r in rows[1:]] == [g.group for g in ev.groups]
    assert view.det_plot.isVisible() and view.det_plot.figure is not None
    assert not child(view, QLabel, "noGenuineLabel").isVisible()

    # Save plots…: the folder dialog, then PNG and SVG of every plot (and per-group FMR bars)
    folder = tmp_path / "plots"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    qtbot.mouseClick(child(view, QPushButton, "savePlotsButton"), Qt.MouseButton.LeftButton)
    names = {"false_candidates_vs_size", "groups_false_candidates", "distances",
             "error_rates", "det", "groups_fmr"}
    assert {p.name for p in folder.iterdir()} == {f"{n}{s}" for n in names
                                                  for s in (".png", ".svg")}
    assert (folder / "det.svg").read_text().lstrip().startswith(("<?xml", "<svg"))

    # Save report…: one HTML file with the plots inlined as SVG
    target = tmp_path / "report"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), "HTML report (*.html)"))
    qtbot.mouseClick(child(view, QPushButton, "saveReportButton"), Qt.MouseButton.LeftButton)
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html
    assert "The false-positive experiment" in html and "Every pair of lab.db" in html
    assert "distance ≤ 0.7" in html  # the slider's threshold, with 0.4 / 0.5 / 0.6
    assert plain(child(view, QLabel, "statusLabel")) == f"Report saved: {tmp_path / 'report.html'}"


def test_a_gallery_without_repeat_photos(qtbot: QtBot, tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "single.db", persons=30, photos=1)
    g.close()
    view = make_view(qtbot, tmp_path / "single.db")
    r = run(qtbot, view)
    assert r.mated_probes == 0
    assert "No in-gallery probes" in plain(child(view, QLabel, "inGalleryLabel"))
    view.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.evaluation is not None, timeout=TIMEOUT_MS)
    note = child(view, QLabel, "noGenuineLabel")
    assert note.isVisible() and "no genuine pairs" in plain(note)
    assert not view.det_plot.isVisible()  # no empty curve
    assert view.error_plot.figure is not None
    assert all(r[5] == "no genuine pairs" for r in table_rows(child(view, QTableWidget,
                                                                      "errorTable")))
    view.tabs.setCurrentIndex(2)
    assert "DIFFERENT" in plain(child(view, QLabel, "worstCaption"))
    pairs = [w for w in view.findChildren(QWidget) if w.objectName().startswith("worstPair")]
    assert len(pairs) == len(r.worst) > 0


# -- the main window ---------------------------------------------------------------------------


def test_main_window_opens_the_view_for_the_open_gallery(qtbot: QtBot, tmp_path: Path,
                                                        lab_db: Path,
                                                        fake_spec: EngineSpec) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(window)
    window.show()
    assert not window.act_trainer.isEnabled()
    assert window.act_trainer.objectName() == "trainerAction"
    assert window.open_gallery(lab_db)
    assert window.act_trainer.isEnabled()
    window.act_trainer.trigger()
    view = window.findChild(TrainerView, "trainerView")
    assert view is not None and view.isVisible()
    assert view.open_location == lab_db
    assert lab_db.name in view.windowTitle()
    view.close()


def test_main_window_opens_the_calibration_dialog(qtbot: QtBot, tmp_path: Path, lab_db: Path,
                                                  fake_spec: EngineSpec) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, engine=fake_spec)
    qtbot.addWidget(window)
    window.show()
    assert not window.act_calibration.isEnabled()
    assert window.open_gallery(lab_db)
    window.act_calibration.trigger()
    dialog = window.findChild(CalibrationDialog, "calibrationDialog")
    assert dialog is not None and dialog.isVisible()
    assert lab_db.name in dialog.windowTitle()
    dialog.close()


# -- outside probes ----------------------------------------------------------------------------


def test_outside_probe_set_runs_in_the_background_with_the_slider(qtbot: QtBot,
                                                                  tmp_path: Path) -> None:
    import csv

    from fakes import FAKE_FACTORY, no_face, one_face, save_png

    from facedesk.app.importer import ImportOptions, run_import
    from facedesk.app.outside_probes import OutsideOptions, OutsideResult, run_outside

    people = tmp_path / "people"
    for person in range(10):
        for variant in range(2):
            save_png(one_face(person, variant), people / f"person_{person}" / f"{variant}.png")
    db = tmp_path / "g.db"
    spec = EngineSpec(FAKE_FACTORY)
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, people, engine=spec, options=ImportOptions(workers=1)):
            pass
    probes = tmp_path / "probes"
    rows = [["path", "person_id", "sex"]]
    for person, sex in ((2, "F"), (30, "M"), (31, "F"), (32, "M")):
        save_png(one_face(person, 9), probes / f"{person}.png")
        rows.append([f"{person}.png", f"person_{person}", sex])
    save_png(no_face(), probes / "blank.png")
    rows.append(["blank.png", "person_40", "F"])
    manifest = probes / "probes.csv"
    with manifest.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)

    view = make_view(qtbot, db)
    view.probe_engine = spec
    assert child(view, QPushButton, "outsideProbesButton").isEnabled()
    view.group_combo.addItem("sex", "sex")  # the probes' column (the gallery has none)
    view.group_combo.setCurrentIndex(view.group_combo.count() - 1)
    view.run_outside_probes(manifest)
    assert view.running and not child(view, QPushButton, "outsideProbesButton").isEnabled()
    qtbot.waitUntil(lambda: not view.running, timeout=TIMEOUT_MS)
    shown = view.result
    assert isinstance(shown, OutsideResult)
    with Gallery.open(db) as g:
        core = list(run_outside(g, manifest, spec, OutsideOptions(group_key="sex")))[-1].result
    assert core is not None and shown.oog_probes == core.oog_probes == 4
    assert "left out" in plain(child(view, QLabel, "statusLabel"))
    table = child(view, QTableWidget, "predictionTable")
    assert table.isVisible()
    # the fake engine's scale: distances of different persons lie around 2
    view.slider.setValue(view.slider.maximum())
    t = view.threshold()
    qtbot.waitUntil(lambda: f"distance ≤ {t:.1f}" in plain(child(view, QLabel,
                                                                   "headlineLabel")),
                    timeout=TIMEOUT_MS)
    rows_shown = table_rows(table)
    expected = core.predicted_vs_observed([t])
    assert [r[0] for r in rows_shown] == [r["group"] for r in expected] == [
        "all probes", "F", "M"]
    assert [r[1] for r in rows_shown] == [str(r["probes"]) for r in expected]
    assert "outside probes (own person left out)" in plain(child(view, QLabel,
                                                                 "headlineLabel"))
    assert "own person ranked first for 1" in plain(child(view, QLabel, "inGalleryLabel"))
    view.tabs.setCurrentIndex(2)
    assert view.findChild(QFrame, "worstPair1") is not None
    saved = view.save_report(tmp_path / "out.html")
    assert saved is not None and "predicted" in saved.read_text()
