"""Several processes on one gallery at once, with the real engine on LFW photos.

1. The real main window (offscreen, in this process) searches and records decisions while
   a `facedesk import` process adds photos and another process runs `facedesk search`
   over and over: nobody sees 'database is locked' (WAL, BEGIN IMMEDIATE and a 30 s busy
   timeout), the window picks up the new faces (its counts, and the next search), and the
   gallery passes integrity_check with every photo once.
2. Two `facedesk import` processes into the same gallery: while the first runs, the
   second is refused at once with a one-line message naming the running import; after
   it, the second finds everything stored.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from facedesk.app import accounts, audit, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery

PROBE_PERSON = "Tony_Blair"
TIMEOUT_MS = 120_000


def persons_with(lfw: Path, prefix: str, n_persons: int, per_person: int) -> dict[str, list]:
    out: dict[str, list[Path]] = {}
    for d in sorted(lfw.iterdir()):
        if len(out) == n_persons:
            break
        photos = sorted(d.glob("*.jpg"))
        if d.name.startswith(prefix) and len(photos) >= per_person:
            out[d.name] = photos[:per_person]
    return out


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)


def check_gallery(db: Path, n_photos: int) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*), count(DISTINCT sha256) FROM photos"
                            ).fetchone() == (n_photos, n_photos)
        assert conn.execute("SELECT count(*) FROM faces GROUP BY photo_id "
                            "HAVING count(*) > 1").fetchall() == []
        assert conn.execute("SELECT count(*) FROM import_runs WHERE status = 'running'"
                            ).fetchone()[0] == 0


class SearchLoop(threading.Thread):
    """`facedesk search` as a separate process, again and again, until stopped."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.cmd, self.env = cmd, env
        self.stop = threading.Event()
        self.results: list[tuple[int, str, int]] = []  # exit code, stderr, persons searched

    def run(self) -> None:
        while not self.stop.is_set():
            proc = subprocess.run(self.cmd, capture_output=True, text=True, env=self.env,
                                  timeout=120)
            persons = json.loads(proc.stdout)["persons_searched"] if proc.returncode == 0 \
                else -1
            self.results.append((proc.returncode, proc.stderr, persons))


def test_window_import_and_search_processes_at_once(
        qtbot, tmp_path: Path, lfw_images: Path, real_engine_spec, symlink_tree,
        facedesk_cmd, monkeypatch: pytest.MonkeyPatch) -> None:
    facedesk, env = facedesk_cmd
    first = persons_with(lfw_images, "M", 10, 2)  # in the gallery from the start
    added = persons_with(lfw_images, "R", 14, 3)  # added by the import process
    probes = sorted((lfw_images / PROBE_PERSON).glob("*.jpg"))
    added[PROBE_PERSON] = probes[:3]
    probe = probes[3]  # not imported
    n_first = sum(map(len, first.values()))
    n_added = sum(map(len, added.values()))
    db = tmp_path / "gallery.db"
    with Gallery.open(db, create=True) as g:
        for _ in run_import(g, symlink_tree(first, "first"), engine=real_engine_spec,
                            options=ImportOptions(workers=1)):
            pass
        # the analyst works in the window (signed in through the OS account) and in the
        # other processes (FACEDESK_USER / FACEDESK_PASSWORD); every candidate is shown
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password="quartz-Lantern-6150")
        admin.set_setting("threshold", 1.0)
        admin.add_user("ann", "Ann Analyst", "analyst", password="harbor-Violet-7731",
                       os_account=accounts.os_account())
    env = {**env, "FACEDESK_USER": "ann", "FACEDESK_PASSWORD": "harbor-Violet-7731"}
    new_photos = symlink_tree(added, "added")

    # every message box the window would show is recorded (none must be shown)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        engine=real_engine_spec)
    qtbot.addWidget(window, before_close_func=lambda w: setattr(w, "review", None))
    decision_errors: list[str] = []
    monkeypatch.setattr(window.decision, "show_error", decision_errors.append)
    window.show()
    assert window.open_gallery(db)
    assert window.session is not None and window.session.user_id == "ann"
    case = cases.open_case(window.session, "2026-0077", accounts.DEFAULT_PURPOSES[0])
    assert window.set_case(case)
    assert f"{n_first} photos" in window.gallery_label.text()
    with qtbot.waitSignal(window.engine.analyzed, timeout=TIMEOUT_MS):
        window.load_probe(probe)
    qtbot.waitUntil(lambda: window.probe is not None, timeout=TIMEOUT_MS)

    def gui_search_and_decide() -> int:
        """One search in the window and a decision on its first candidate; returns the
        number of persons searched."""
        # the engine thread may still be finishing the probe ("working…"): then searchable
        qtbot.waitUntil(window.act_search.isEnabled, timeout=TIMEOUT_MS)
        with qtbot.waitSignal(window.engine.searched, timeout=TIMEOUT_MS):
            window.search()
        qtbot.waitUntil(lambda: window.review is not None, timeout=TIMEOUT_MS)
        review = window.review
        window.decision.decision_requested.emit(
            review.result.candidates[0].rank, "not_the_person", "Different ears and jawline")
        return review.result.persons_searched

    assert gui_search_and_decide() == len(first)

    importer = subprocess.Popen(
        [*facedesk, "import", str(new_photos), "--db", str(db), "--workers", "1", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    searches = SearchLoop([*facedesk, "search", str(probe), "--db", str(db), "--case",
                           case.number, "--json"], env)
    searches.start()
    gui_searches: list[int] = []
    try:
        while importer.poll() is None:
            gui_searches.append(gui_search_and_decide())
            qtbot.wait(300)
        out, err = importer.communicate(timeout=60)
    finally:
        searches.stop.set()
        if importer.poll() is None:
            importer.kill()
        searches.join(timeout=120)

    assert importer.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "completed" and doc["imported"] == n_added
    assert doc["gallery_totals"]["photos"] == n_first + n_added
    # the other process's searches all ran, none hit a lock
    assert searches.results, "the search process never finished a search"
    assert [(rc, e) for rc, e, _ in searches.results if rc != 0] == []
    assert all("locked" not in e for _, e, _ in searches.results)
    # the window searched and recorded decisions during the import, without an error
    assert len(gui_searches) >= 2
    assert shown == [] and decision_errors == []
    assert gui_searches == sorted(gui_searches)  # it saw the gallery grow, never shrink

    # the window picks up the new faces: its counts, and its next search
    qtbot.waitUntil(lambda: f"{n_first + n_added} photos" in window.gallery_label.text(),
                    timeout=10_000)
    assert gui_search_and_decide() == len(first) + len(added)
    assert window.review.result.candidates[0].person_id == PROBE_PERSON
    assert shown == [] and decision_errors == []

    check_gallery(db, n_first + n_added)
    with contextlib.closing(read_only(db)) as conn:
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == \
            len(gui_searches) + 2
        # every search of the three processes is recorded once and logged once
        assert conn.execute("SELECT count(*) FROM searches").fetchone()[0] == \
            conn.execute("SELECT count(*) FROM audit WHERE kind = 'search'").fetchone()[0] \
            == len(gui_searches) + 2 + len(searches.results)
    with Gallery.open(db) as g:
        assert audit.verify(g).ok


def test_two_imports_at_once_the_second_is_refused(
        tmp_path: Path, lfw_images: Path, real_engine_spec, symlink_tree,
        facedesk_cmd, run_facedesk) -> None:
    facedesk, env = facedesk_cmd
    photos = persons_with(lfw_images, "J", 40, 2)  # 80 photos
    n = sum(map(len, photos.values()))
    root = symlink_tree(photos, "photos")
    db = tmp_path / "gallery.db"
    cmd = [*facedesk, "import", str(root), "--db", str(db), "--workers", "1", "--json"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        deadline = time.monotonic() + 90
        running = None
        while running is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(sqlite3.Error), contextlib.closing(read_only(db)) as c:
                running = c.execute("SELECT id FROM import_runs WHERE status = 'running'"
                                    ).fetchone()
        assert running is not None, "the first import never started its run"
        t0 = time.monotonic()
        second = run_facedesk("import", root, "--db", db, "--workers", "1", "--json",
                              "--quiet")
        assert first.poll() is None, "the first import ended before the second was refused"
        assert second.returncode == 1, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr
        assert lines[0].startswith("error: ") and "another import into this gallery is " \
            f"running (run #{running[0]} of {root}" in lines[0]
        assert f"process {first.pid})" in lines[0]
        assert time.monotonic() - t0 < 60
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "completed" and doc["imported"] == n
    check_gallery(db, n)
    with contextlib.closing(read_only(db)) as conn:
        # the refused import recorded no run and closed none
        assert [r[0] for r in conn.execute("SELECT status FROM import_runs")] == ["completed"]

    again = run_facedesk("import", root, "--db", db, "--workers", "1", "--json")
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert (doc["imported"], doc["already_stored"]) == (0, n)
    check_gallery(db, n)
