"""The GUI task runner (facedesk/gui/tasks.py): slow work runs off the GUI thread, whose
event loop keeps turning (a 5 ms heartbeat keeps beating); results and errors come back on
the GUI thread; closing a window cancels its work and waits for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from facedesk.app import accounts
from facedesk.domain.progress import CancelToken
from facedesk.errors import FaceDeskError
from facedesk.gui.tasks import describe_error, run_task, tasks
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import Gallery


class Heartbeat:
    """A 5 ms timer on the GUI thread; `longest` is the longest gap between two beats."""

    def __init__(self) -> None:
        self.beats = 0
        self.longest = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._beat)
        self.timer.start()

    def _beat(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now
        self.beats += 1

    def stop(self) -> None:
        self.timer.stop()


class LongJob:
    """A progress generator that runs until cancelled, then cleans up for 0.2 s."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended: list[str] = []

    def __call__(self, token: CancelToken):
        self.started.set()
        while not token.cancelled:
            time.sleep(0.02)
            yield "working"
        time.sleep(0.2)  # some clean-up after the cancel
        self.ended.append("cleaned up")


def test_slow_work_runs_off_the_gui_thread_and_the_result_comes_back_on_it(qtbot) -> None:
    parent = QWidget()
    gui = threading.get_ident()
    ran_in: list[int] = []
    got: list[object] = []

    def slow() -> str:
        ran_in.append(threading.get_ident())
        time.sleep(0.6)  # like a 200 MB photo decoded and hashed
        return "done"

    beat = Heartbeat()
    task = run_task(parent, slow, lambda result: got.append((result, threading.get_ident())))
    assert not tasks().idle()
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    beat.stop()
    assert got == [("done", gui)] and ran_in and ran_in[0] != gui
    assert task.finished and tasks().idle()
    assert beat.beats >= 40  # the event loop kept turning while the work ran
    assert beat.longest < 0.3


def test_a_failure_reaches_on_failed_on_the_gui_thread(qtbot) -> None:
    parent = QWidget()
    failed: list[str] = []

    def refuse() -> None:
        raise FaceDeskError("not allowed")

    run_task(parent, refuse, lambda _r: None, lambda exc: failed.append(describe_error(exc)))
    qtbot.waitUntil(lambda: bool(failed), timeout=5000)
    assert failed == ["not allowed"]


def test_a_progress_generator_reports_each_step_and_can_be_cancelled(qtbot) -> None:
    parent = QWidget()
    steps: list[int] = []
    done: list[object] = []

    def count(token: CancelToken):
        for i in range(1000):
            if token.cancelled:
                return
            time.sleep(0.01)
            yield i

    task = run_task(parent, count, done.append, progress=steps.append)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=5000)
    task.cancel()
    assert task.wait(5)
    QApplication.processEvents()
    assert len(steps) < 1000 and not done  # a cancelled task delivers nothing more


def test_gallery_tasks_run_in_order_on_one_thread_with_its_own_connection(
        qtbot, tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        accounts.create_first_administrator(g, "admin", "Ada Admin", password="kettle-Orbit-9731")
    parent = QWidget()
    seen: list[tuple[int, bool]] = []
    for i in range(3):
        run_task(parent, lambda g, i=i: (i, accounts.has_users(g)), seen.append, gallery=db)
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5000)
    assert seen == [(0, True), (1, True), (2, True)]
    # the sign-in (Argon2) runs there; the session is the lane's, rebound by the caller
    signed: list[accounts.Session] = []
    run_task(parent, lambda g: accounts.sign_in(g, "admin", "kettle-Orbit-9731"),
             signed.append, gallery=db)
    qtbot.waitUntil(lambda: bool(signed), timeout=10_000)
    assert signed[0].user_id == "admin"
    tasks().release_gallery(db)


def test_closing_a_window_cancels_and_waits_for_its_work(qtbot) -> None:
    window = QWidget()
    child = QWidget(window)
    job = LongJob()
    delivered: list[object] = []
    run_task(child, job, delivered.append, progress=lambda _e: None)
    worker = GeneratorWorker(lambda token: iter(lambda: time.sleep(0.02) or token.cancelled,
                                                True), window)
    worker.start()
    assert job.started.wait(5)
    assert worker in tasks().threads(window)
    assert len(tasks().running(window)) == 1
    # what the main window does in closeEvent, and the application at quit
    assert tasks().shutdown(owner=window)
    assert job.ended == ["cleaned up"]  # it was waited for, not abandoned
    assert worker.isFinished() and worker.cancel_token.cancelled
    assert tasks().idle(window) and not tasks().threads(window)
    QApplication.processEvents()
    assert not delivered  # nothing delivered to a closed window


def test_nothing_is_delivered_to_a_deleted_parent(qtbot) -> None:
    parent = QWidget()
    got: list[object] = []
    gate = threading.Event()
    task = run_task(parent, lambda: gate.wait(5) and "late", got.append)
    parent.deleteLater()
    QApplication.processEvents()
    gate.set()
    assert task.wait(5)
    qtbot.wait(50)
    assert not got and tasks().idle()


def test_the_engine_thread_is_in_the_registry(qtbot) -> None:
    from facedesk.gui.workers import EngineService
    owner = QWidget()
    engine = EngineService(parent=owner)
    threads = tasks().threads(owner)
    assert len(threads) == 1 and isinstance(threads[0], QThread) and threads[0].isRunning()
    engine.shutdown()
    assert not tasks().threads(owner)


def test_closing_the_main_window_cancels_and_waits_for_its_work(qtbot, tmp_path: Path,
                                                               fake_spec) -> None:
    from PySide6.QtCore import QSettings

    from facedesk.gui.main_window import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=fake_spec)
    qtbot.addWidget(window)
    window.show()
    job = LongJob()
    beat = Heartbeat()
    run_task(window, job, lambda _last: None, progress=lambda _e: None)
    assert job.started.wait(5)
    qtbot.wait(300)  # the window keeps turning while the job runs
    assert beat.longest < 0.3 and beat.beats >= 20
    engine_threads = tasks().threads(window)
    assert engine_threads  # the engine thread is the window's too
    window.close()  # closeEvent: cancel, wait
    beat.stop()
    assert job.ended == ["cleaned up"]
    assert all(t.isFinished() for t in engine_threads)
    assert tasks().idle(window) and not tasks().threads(window)
