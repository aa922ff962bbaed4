"""The import dialog with real widgets and the fake engine: folder and manifest imports
in the background, column mapping, problems and their CSV export, cancel and resume,
closing during a run, and errors shown in plain words."""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakes import one_face, save_png
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from facedesk.app.importer import ImportProgress
from facedesk.engine.spec import EngineSpec
from facedesk.gui.import_dialog import STOP_QUESTION, ImportDialog
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import Gallery

TIMEOUT_MS = 30_000
SCREENSHOT = Path("/tmp/import_dialog.png")


# -- helpers ----------------------------------------------------------------------------------


def child(dialog: QWidget, kind: type, name: str) -> Any:
    found = dialog.findChild(kind, name)
    assert found is not None, f"no {kind.__name__} named {name!r}"
    return found


def make_dialog(qtbot: QtBot, gallery_path: Path, spec: EngineSpec,
                workers: int = 1) -> ImportDialog:
    dialog = ImportDialog(gallery_path, engine=spec)
    qtbot.addWidget(dialog)
    child(dialog, QSpinBox, "workersSpin").setValue(workers)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def click(qtbot: QtBot, dialog: QWidget, name: str) -> None:
    button = child(dialog, QPushButton, name)
    assert button.isVisible() and button.isEnabled(), f"{name} cannot be clicked"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def run_to_end(qtbot: QtBot, dialog: ImportDialog) -> ImportProgress:
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT_MS) as blocker:
        click(qtbot, dialog, "startButton")
        # start() returned at once: the dialog is in its running state
        assert not child(dialog, QPushButton, "startButton").isEnabled()
        assert child(dialog, QPushButton, "cancelButton").isEnabled()
        assert not child(dialog, QPushButton, "closeButton").isEnabled()
    event: ImportProgress = blocker.args[0]
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT_MS)
    return event


def hold_at(dialog: ImportDialog, n: int, seen_threads: list[str] | None = None,
            ) -> threading.Event:
    """On the next run, the worker thread stops after photo `n` until the run is asked to
    stop (at most 10 s): a cancel lands exactly there. Returns 'photo n was reached'."""
    reached = threading.Event()
    armed = [True]

    def on_started(worker: GeneratorWorker) -> None:
        if not armed[0]:
            return
        armed[0] = False

        def on_progress(event: ImportProgress) -> None:  # runs in the worker thread
            if seen_threads is not None:
                seen_threads.append(threading.current_thread().name)
            if event.phase == "importing" and event.done == n:
                reached.set()
                deadline = time.monotonic() + 10
                while not worker.cancel_token.cancelled and time.monotonic() < deadline:
                    time.sleep(0.005)

        worker.progress.connect(on_progress, Qt.ConnectionType.DirectConnection)

    dialog.run_started.connect(on_started)
    return reached


def choose(combo: QComboBox, column: str) -> None:
    index = combo.findData(column)
    assert index >= 0, f"{column!r} is not offered"
    combo.setCurrentIndex(index)


def texts(label: QLabel) -> str:
    return label.text()


def count(dialog: QWidget, name: str) -> int:
    return int(child(dialog, QLabel, name).text())


def is_error(label: QLabel) -> bool:
    return "color" in label.styleSheet()


# -- a folder import --------------------------------------------------------------------------


@pytest.fixture
def messy_people(people_dir: Path) -> Path:
    """people_dir (5 persons x 3 photos + one photo without a face) plus a file that is
    no image, a second copy of one photo and a photo beside the person folders."""
    (people_dir / "person_1" / "broken.jpg").write_bytes(b"this is not a JPEG")
    shutil.copy(people_dir / "person_3" / "0.png", people_dir / "person_3" / "copy.png")
    save_png(one_face(9), people_dir / "stray.png")
    return people_dir


def test_folder_import_runs_in_background_and_lists_problems(
        qtbot: QtBot, tmp_path: Path, messy_people: Path, fake_spec: EngineSpec,
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "gallery.db"
    dialog = make_dialog(qtbot, db, fake_spec)
    start = child(dialog, QPushButton, "startButton")
    status = child(dialog, QLabel, "statusLabel")
    assert child(dialog, QRadioButton, "sourceFolder").isChecked()
    assert not start.isEnabled()  # nothing chosen yet
    assert not child(dialog, QPushButton, "cancelButton").isVisible()

    folder_edit = child(dialog, QLineEdit, "folderEdit")
    folder_edit.setText(str(tmp_path / "nowhere"))
    assert not start.isEnabled() and "no such folder" in status.text() and is_error(status)
    folder_edit.setText(str(messy_people))
    assert start.isEnabled() and not is_error(status)

    threads: list[str] = []
    hold_at(dialog, -1, threads)  # only records the thread of each event
    event = run_to_end(qtbot, dialog)

    assert threads and threading.main_thread().name not in threads  # ran in the worker
    assert event.status == "completed"
    c = event.counts
    assert (c.total, c.imported, c.no_face, c.duplicates, c.failed, c.already_stored) == \
        (19, 16, 1, 1, 2, 0)
    assert count(dialog, "countTotal") == 19
    assert count(dialog, "countNew") == 16
    assert count(dialog, "countStored") == 0
    assert count(dialog, "countNoFace") == 1
    assert count(dialog, "countFailed") == 2
    assert count(dialog, "countDuplicates") == 1
    bar = child(dialog, QProgressBar, "progressBar")
    # 18 files read and 1 listing problem: every item counts, refused ones too
    assert bar.maximum() == 19 and bar.value() == 19
    assert "completed" in status.text() and not is_error(status)

    table = child(dialog, QTableWidget, "problemsTable")
    assert table.isVisible()
    rows = {table.item(r, 0).text(): table.item(r, 1).data(Qt.ItemDataRole.UserRole)
            for r in range(table.rowCount())}
    assert rows == {
        "person_4/blank.png": "no_face",
        "person_3/copy.png": "duplicate",
        "person_1/broken.jpg": "unsupported",
        "stray.png": "not_in_person_folder",
    }
    no_face_row = next(r for r in range(table.rowCount())
                       if table.item(r, 0).text() == "person_4/blank.png")
    assert "no face found" in table.item(no_face_row, 2).text()

    # buttons after the end: start again, close; no cancel
    assert start.isEnabled() and child(dialog, QPushButton, "closeButton").isEnabled()
    assert not child(dialog, QPushButton, "cancelButton").isVisible()

    dialog.resize(dialog.sizeHint().expandedTo(dialog.size()))
    qtbot.wait(50)
    assert dialog.grab().save(str(SCREENSHOT))

    # the export writes exactly the listed problems
    out = tmp_path / "out" / "problems"
    out.parent.mkdir()
    asked: list[str] = []

    def save_name(*args: Any, **kwargs: Any) -> tuple[str, str]:
        asked.append(str(args[2]))
        return str(out), "CSV files (*.csv)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_name)
    click(qtbot, dialog, "exportButton")
    written = out.with_suffix(".csv")
    with written.open(newline="", encoding="utf-8") as f:
        exported = list(csv.reader(f))
    assert exported[0] == ["path", "code", "reason", "line"]
    assert sorted(r[:2] for r in exported[1:]) == sorted(
        [p.path, p.code] for p in event.problems)
    assert all(r[3] == "" for r in exported[1:])  # no manifest lines in a folder import
    assert ["person_4/blank.png", "no_face"] in [r[:2] for r in exported[1:]]
    assert asked and asked[0].endswith(".csv")
    assert str(written) in child(dialog, QLabel, "exportLabel").text()

    # a wrong folder typed after the run is refused; the right one brings the summary back
    folder_edit.setText(str(tmp_path / "nowhere"))
    assert not start.isEnabled() and is_error(status)
    folder_edit.setText(str(messy_people))
    assert start.isEnabled() and "completed" in status.text() and not is_error(status)

    with Gallery.open(db) as g:
        assert g.counts()["photos"] == 16
        assert g.last_run().status == "completed"


def test_two_workers(qtbot: QtBot, tmp_path: Path, people_dir: Path,
                     fake_spec: EngineSpec) -> None:
    dialog = make_dialog(qtbot, tmp_path / "gallery.db", fake_spec, workers=2)
    child(dialog, QLineEdit, "folderEdit").setText(str(people_dir))
    event = run_to_end(qtbot, dialog)
    assert event.status == "completed"
    assert (event.counts.imported, event.counts.no_face, event.counts.failed) == (16, 1, 0)
    assert count(dialog, "countNew") == 16


# -- manifests ----------------------------------------------------------------------------


def write_manifest(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def use_manifest(qtbot: QtBot, dialog: ImportDialog, csv_path: Path) -> None:
    qtbot.mouseClick(child(dialog, QRadioButton, "sourceManifest"), Qt.MouseButton.LeftButton)
    assert child(dialog, QRadioButton, "sourceManifest").isChecked()
    assert not child(dialog, QLineEdit, "folderEdit").isEnabled()
    child(dialog, QLineEdit, "manifestEdit").setText(str(csv_path))


def test_manifest_with_other_column_names_is_mapped(
        qtbot: QtBot, tmp_path: Path, fake_spec: EngineSpec) -> None:
    photos = tmp_path / "bookings"
    save_png(one_face(0, 0), photos / "img" / "a.png")
    save_png(one_face(0, 1), photos / "img" / "b.png")
    save_png(one_face(1, 0), photos / "img" / "c.png")
    manifest = write_manifest(photos / "list.csv", ["File", "Booking no.", "Full name", "Sex"], [
        ["img/a.png", "B-1001", "Ann Example", "F"],
        ["img/b.png", "B-1001", "Ann Example", "F"],
        ["img/c.png", "B-2002", "Bo Sample", "M"],
    ])
    db = tmp_path / "gallery.db"
    dialog = make_dialog(qtbot, db, fake_spec)
    use_manifest(qtbot, dialog, manifest)
    start = child(dialog, QPushButton, "startButton")
    status = child(dialog, QLabel, "statusLabel")

    path_col = child(dialog, QComboBox, "pathColumn")
    person_col = child(dialog, QComboBox, "personColumn")
    name_col = child(dialog, QComboBox, "nameColumn")
    assert [path_col.itemData(i) for i in range(1, path_col.count())] == \
        ["File", "Booking no.", "Full name", "Sex"]
    assert path_col.currentData() == "" and person_col.currentData() == ""
    assert not start.isEnabled() and is_error(status) and "Path" in status.text()

    preview = child(dialog, QTableWidget, "previewTable")
    assert preview.isVisible()
    assert [preview.horizontalHeaderItem(i).text() for i in range(preview.columnCount())] == \
        ["File", "Booking no.", "Full name", "Sex"]
    assert preview.rowCount() == 3 and preview.item(2, 1).text() == "B-2002"

    choose(path_col, "File")
    assert not start.isEnabled() and "person id" in status.text()
    choose(person_col, "Booking no.")
    assert start.isEnabled() and not is_error(status)
    choose(name_col, "Full name")
    assert child(dialog, QLabel, "metadataLabel").text() == "Kept as metadata: Sex"
    assert dialog.options().columns_map == {
        "path": "File", "person_id": "Booking no.", "name": "Full name"}

    event = run_to_end(qtbot, dialog)
    assert event.status == "completed", texts(status)
    assert (event.counts.imported, event.counts.failed) == (3, 0)
    assert event.problems == ()
    assert child(dialog, QLabel, "exportLabel").text() == "No problems in this run."
    assert not child(dialog, QPushButton, "exportButton").isVisible()
    assert not child(dialog, QTableWidget, "problemsTable").isVisible()

    with Gallery.open(db) as g:
        rows = g.conn.execute(
            "SELECT s.person_id, s.name, p.path, p.metadata FROM photos p "
            "JOIN persons s ON s.id = p.person_pk ORDER BY p.path").fetchall()
    assert [(r[0], r[1], Path(r[2]).name) for r in rows] == [
        ("B-1001", "Ann Example", "a.png"),
        ("B-1001", "Ann Example", "b.png"),
        ("B-2002", "Bo Sample", "c.png"),
    ]
    assert [json.loads(r[3])["Sex"] for r in rows] == ["F", "F", "M"]


def test_manifest_standard_headers_are_preselected(
        qtbot: QtBot, tmp_path: Path, fake_spec: EngineSpec) -> None:
    manifest = write_manifest(tmp_path / "m.csv", ["PATH", "Person_ID", "Name", "race"],
                              [["a.png", "1", "A", "x"]])
    dialog = make_dialog(qtbot, tmp_path / "gallery.db", fake_spec)
    use_manifest(qtbot, dialog, manifest)
    assert child(dialog, QComboBox, "pathColumn").currentText() == "PATH"
    assert child(dialog, QComboBox, "personColumn").currentText() == "Person_ID"
    assert child(dialog, QComboBox, "nameColumn").currentText() == "Name"
    assert child(dialog, QLabel, "metadataLabel").text() == "Kept as metadata: race"
    assert child(dialog, QPushButton, "startButton").isEnabled()


def test_manifest_missing_columns_keeps_start_disabled(
        qtbot: QtBot, tmp_path: Path, fake_spec: EngineSpec) -> None:
    manifest = write_manifest(tmp_path / "m.csv", ["file", "sex"], [["a.png", "F"]])
    dialog = make_dialog(qtbot, tmp_path / "gallery.db", fake_spec)
    use_manifest(qtbot, dialog, manifest)
    start = child(dialog, QPushButton, "startButton")
    status = child(dialog, QLabel, "statusLabel")
    assert not start.isEnabled() and is_error(status)
    assert "file, sex" in status.text()  # the columns it does have

    choose(child(dialog, QComboBox, "pathColumn"), "file")
    assert not start.isEnabled() and "person id" in status.text()
    choose(child(dialog, QComboBox, "personColumn"), "file")
    assert not start.isEnabled() and "different columns" in status.text()
    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    assert not dialog.running

    # a manifest the core refuses outright: its ManifestError, inline
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    child(dialog, QLineEdit, "manifestEdit").setText(str(empty))
    assert not start.isEnabled() and is_error(status)
    assert "the manifest is empty" in status.text()
    assert not child(dialog, QTableWidget, "previewTable").isVisible()


# -- cancel, resume, close ----------------------------------------------------------------


def test_cancel_keeps_what_was_done_and_a_rerun_completes(
        qtbot: QtBot, tmp_path: Path, people_dir: Path, fake_spec: EngineSpec) -> None:
    db = tmp_path / "gallery.db"
    dialog = make_dialog(qtbot, db, fake_spec)
    child(dialog, QLineEdit, "folderEdit").setText(str(people_dir))
    reached = hold_at(dialog, 5)
    status = child(dialog, QLabel, "statusLabel")
    bar = child(dialog, QProgressBar, "progressBar")

    click(qtbot, dialog, "startButton")
    qtbot.waitUntil(reached.is_set, timeout=TIMEOUT_MS)
    # the GUI thread is free while the worker holds: progress is drawn
    qtbot.waitUntil(lambda: bar.value() == 5 and bar.maximum() == 16, timeout=5000)
    assert count(dialog, "countNew") == 5
    assert "photos/s" in child(dialog, QLabel, "rateLabel").text()
    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT_MS) as blocker:
        click(qtbot, dialog, "cancelButton")
    event: ImportProgress = blocker.args[0]
    assert event.status == "cancelled"
    assert (event.done, event.counts.imported) == (5, 5)
    assert "cancelled" in status.text() and "kept" in status.text()
    assert not child(dialog, QPushButton, "cancelButton").isVisible()
    with Gallery.open(db) as g:
        assert g.last_run().status == "cancelled"
        assert g.counts()["photos"] == 5

    event = run_to_end(qtbot, dialog)
    assert event.status == "completed"
    c = event.counts
    assert (c.total, c.already_stored, c.imported, c.no_face, c.failed) == (16, 5, 11, 1, 0)
    assert count(dialog, "countStored") == 5 and count(dialog, "countNew") == 11
    with Gallery.open(db) as g:
        assert g.counts()["photos"] == 16


def test_closing_during_a_run_asks_and_cancels(
        qtbot: QtBot, tmp_path: Path, people_dir: Path, fake_spec: EngineSpec,
        monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "gallery.db"
    dialog = make_dialog(qtbot, db, fake_spec)
    child(dialog, QLineEdit, "folderEdit").setText(str(people_dir))
    reached = hold_at(dialog, 3)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(parent: QWidget, title: str, text: str, *args: Any) -> Any:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    click(qtbot, dialog, "startButton")
    qtbot.waitUntil(reached.is_set, timeout=TIMEOUT_MS)

    dialog.close()  # "No": the dialog stays, the run goes on
    assert asked == [STOP_QUESTION]
    assert dialog.isVisible() and dialog.running

    with qtbot.waitSignal(dialog.imported, timeout=TIMEOUT_MS) as blocker:
        dialog.close()  # "Yes"
    assert asked == [STOP_QUESTION, STOP_QUESTION]
    assert not dialog.isVisible()
    assert blocker.args[0].status == "cancelled" and blocker.args[0].done == 3
    with Gallery.open(db) as g:
        assert g.last_run().status == "cancelled"


def test_close_without_a_run_asks_nothing(qtbot: QtBot, tmp_path: Path,
                                          fake_spec: EngineSpec,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def question(*args: Any) -> Any:
        raise AssertionError("nothing to stop")

    monkeypatch.setattr(QMessageBox, "question", question)
    dialog = make_dialog(qtbot, tmp_path / "gallery.db", fake_spec)
    click(qtbot, dialog, "closeButton")
    assert not dialog.isVisible()


# -- errors -----------------------------------------------------------------------------


def test_run_errors_are_shown_in_plain_words(
        qtbot: QtBot, tmp_path: Path, people_dir: Path, fake_spec: EngineSpec) -> None:
    db = tmp_path / "gallery.db"
    first = make_dialog(qtbot, db, fake_spec)
    child(first, QLineEdit, "folderEdit").setText(str(people_dir / "person_0"))
    assert run_to_end(qtbot, first).status == "completed"

    other_engine = EngineSpec(fake_spec.factory, {"version": "2"})
    dialog = make_dialog(qtbot, db, other_engine)
    child(dialog, QLineEdit, "folderEdit").setText(str(people_dir))
    emitted: list[object] = []
    dialog.imported.connect(emitted.append)
    worker_failed: list[str] = []
    dialog.run_started.connect(lambda w: w.failed.connect(worker_failed.append))

    click(qtbot, dialog, "startButton")
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT_MS)
    status = child(dialog, QLabel, "statusLabel")
    assert is_error(status)
    assert "this gallery was encoded with fake 1" in status.text()
    assert "Traceback" not in status.text() and "File \"" not in status.text()
    assert worker_failed and worker_failed[0] in status.text()
    assert emitted == []
    assert child(dialog, QPushButton, "startButton").isEnabled()
    assert child(dialog, QPushButton, "closeButton").isEnabled()
    assert not child(dialog, QPushButton, "cancelButton").isVisible()


def test_problem_export_cannot_run_as_a_spreadsheet_formula(tmp_path: Path) -> None:
    from facedesk.gui.import_dialog import write_problems_csv
    from facedesk.store import Problem

    out = tmp_path / "problems.csv"
    write_problems_csv(out, [Problem('=HYPERLINK("http://x","y").jpg', "unreadable", "bad"),
                             Problem("-1.jpg", "missing", "@gone"),
                             Problem("ok.jpg", "missing", "fine")])
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[1][0] == "'=HYPERLINK(\"http://x\",\"y\").jpg"
    assert rows[2][0] == "'-1.jpg" and rows[2][2] == "'@gone"
    assert rows[3][0] == "ok.jpg" and rows[3][2] == "fine"
