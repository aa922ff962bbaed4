"""One import into a gallery at a time: a second import while the first is running is
refused with a clear message; a killed import never blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.errors import ImportRunning
from facedesk.store import Gallery, RunCounts
from facedesk.store.locking import ImportLock, lock_path


def statuses(g: Gallery) -> list[str]:
    return [r[0] for r in g.conn.execute("SELECT status FROM import_runs ORDER BY id")]


def test_second_run_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as first, Gallery.open(db) as second:
        first.register_engine("e1", {"engine": "fake"})
        run = first.start_run("/photos/a", "folders", {}, "e1")
        assert lock_path(db).is_file()
        with pytest.raises(ImportRunning) as info:
            second.start_run("/photos/b", "folders", {}, "e1")
        msg = info.value.message
        assert "another import into this gallery is running" in msg
        assert f"run #{run} of /photos/a" in msg and f"process {os.getpid()}" in msg
        assert "\n" not in msg
        # the refused run neither closed the running one nor recorded itself
        assert statuses(first) == ["running"]
        first.finish_run(run, "completed", RunCounts())
        assert not lock_path(db).exists()
        again = second.start_run("/photos/b", "folders", {}, "e1")
        second.finish_run(again, "completed", RunCounts())
        assert statuses(second) == ["completed", "completed"]


def test_a_refused_import_leaves_the_running_one_alone(
        tmp_path: Path, people_dir: Path, fake_spec: EngineSpec) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as first, Gallery.open(db) as second:
        events = run_import(first, people_dir, engine=fake_spec,
                            options=ImportOptions(workers=1))
        ev = next(events)
        while ev.phase != "importing":
            ev = next(events)
        with pytest.raises(ImportRunning):
            list(run_import(second, people_dir, engine=fake_spec,
                            options=ImportOptions(workers=1)))
        final = list(events)[-1]
        assert final.status == "completed" and final.counts.imported == 16
        assert statuses(first) == ["completed"]
        assert first.counts()["photos"] == 16


def test_close_releases_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    g = Gallery.open(db, create=True)
    g.register_engine("e1", {"engine": "fake"})
    g.start_run("/photos", "folders", {}, "e1")
    g.close()  # e.g. the GUI closed mid-run
    with Gallery.open(db) as g2:
        g2.finish_run(g2.start_run("/photos", "folders", {}, "e1"), "completed", RunCounts())
        assert statuses(g2) == ["interrupted", "completed"]


def test_a_killed_import_does_not_block_the_next(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        g.register_engine("e1", {"engine": "fake"})
    # a process that starts a run and then hangs, holding the lock, until it is killed
    code = textwrap.dedent(f"""
        import sys, time
        from facedesk.store import Gallery
        g = Gallery.open({str(db)!r})
        g.start_run("/photos", "folders", {{}}, "e1")
        print("running", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
        with Gallery.open(db) as g, pytest.raises(ImportRunning) as info:
            g.start_run("/photos", "folders", {}, "e1")
        assert f"process {proc.pid}" in info.value.message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert lock_path(db).exists()  # a kill leaves the file, but not the lock
    with Gallery.open(db) as g:
        g.finish_run(g.start_run("/photos", "folders", {}, "e1"), "completed", RunCounts())
        assert statuses(g) == ["interrupted", "completed"]


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    a, b = ImportLock(tmp_path / "g.db"), ImportLock(tmp_path / "g.db")
    assert a.acquire() and a.acquire()  # re-entrant for its holder
    assert not b.acquire()
    assert b.holder_pid() == os.getpid()
    a.release()
    assert b.acquire()
    b.release()
    assert not (tmp_path / "g.db-import-lock").exists()
