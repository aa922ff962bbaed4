"""A full disk during an import or a decision: a clear one-line message (CLI exit code 1,
a message in the GUI), a gallery that passes integrity_check with every stored photo
whole, and an import that resumes once there is space again.

Two faults: SQLite's own size limit (`PRAGMA max_page_count` on the gallery's connection:
SQLITE_FULL, works anywhere without privileges), and, when the tests run as root, a real
full file system (a small tmpfs mounted for the test).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import FAKE_FACTORY, one_face, save_png

import facedesk.app.importer as importer
import facedesk.cli.options
from facedesk.app.importer import ImportOptions, run_import
from facedesk.cli import cli
from facedesk.engine.spec import EngineSpec
from facedesk.errors import StorageFull
from facedesk.store import Gallery
from facedesk.store.decisions import NewDecision, decision_rows, insert_decision

N_PERSONS, PER_PERSON = 12, 4  # 48 photos


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for person in range(N_PERSONS):
        for v in range(PER_PERSON):
            save_png(one_face(person, v), root / f"p{person:02d}" / f"{v}.png")
    return root


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commit every 4 photos, so a run stores several batches before the disk fills."""
    monkeypatch.setattr(importer, "BATCH_PHOTOS", 4)


def limit_pages(g: Gallery, extra_pages: int) -> None:
    pages = g.conn.execute("PRAGMA page_count").fetchone()[0]
    g.conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")


def check_consistent(db: Path) -> dict[str, int]:
    """integrity_check ok, no dangling or doubled rows; returns the counts."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM faces GROUP BY photo_id "
                            "HAVING count(*) > 1").fetchall() == []
        # a photo whose face was found is stored with it, in the same transaction
        assert conn.execute("SELECT count(*) FROM photos p LEFT JOIN faces f ON "
                            "f.photo_id = p.id WHERE p.faces_found > 0 AND f.id IS NULL"
                            ).fetchone()[0] == 0
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("photos", "faces", "decisions", "import_runs")}
    finally:
        conn.close()


def finish(events: Iterator[Any]) -> Any:
    last = None
    for ev in events:
        last = ev
    return last


def test_import_fills_the_gallery_then_resumes(tmp_path: Path, photos: Path,
                                               small_batches: None) -> None:
    db = tmp_path / "g.db"
    spec = EngineSpec(FAKE_FACTORY)
    with Gallery.open(db, create=True) as g:
        limit_pages(g, 12)
        with pytest.raises(StorageFull) as info:
            finish(run_import(g, photos, engine=spec, options=ImportOptions(workers=1)))
    msg = str(info.value)
    assert msg.startswith(f"{db}: the disk is full") and "\n" not in msg
    assert "try again" in msg
    counts = check_consistent(db)
    # some batches were stored whole before the limit; not all of them
    assert 0 < counts["photos"] < N_PERSONS * PER_PERSON
    assert counts["photos"] % 4 == 0 and counts["faces"] == counts["photos"]
    with Gallery.open(db) as g:  # space again: the import resumes
        final = finish(run_import(g, photos, engine=spec, options=ImportOptions(workers=1)))
        assert final.status == "completed"
        assert final.counts.already_stored == counts["photos"]
        assert g.counts()["photos"] == N_PERSONS * PER_PERSON
        statuses = [r[0] for r in g.conn.execute("SELECT status FROM import_runs ORDER BY id")]
    assert statuses in (["failed", "completed"], ["interrupted", "completed"])
    assert check_consistent(db)["photos"] == N_PERSONS * PER_PERSON


def test_cli_import_on_a_full_gallery(tmp_path: Path, photos: Path, small_batches: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "g.db"
    opened = Gallery.open.__func__  # type: ignore[attr-defined]

    def open_limited(cls, path, *, create=False):
        g = opened(cls, path, create=create)
        limit_pages(g, 12)
        return g

    monkeypatch.setattr(Gallery, "open", classmethod(open_limited))
    monkeypatch.setattr(facedesk.cli.options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    res = CliRunner().invoke(cli, ["import", str(photos), "--db", str(db), "--workers", "1",
                                   "--quiet"])
    assert res.exit_code == 1, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0]
    assert "Traceback" not in res.output
    stored = check_consistent(db)["photos"]
    assert 0 < stored < N_PERSONS * PER_PERSON

    monkeypatch.setattr(Gallery, "open", classmethod(opened))  # space again
    res = CliRunner().invoke(cli, ["import", str(photos), "--db", str(db), "--workers", "1",
                                   "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["already_stored"] == stored
    assert doc["gallery_totals"]["photos"] == N_PERSONS * PER_PERSON


def test_a_decision_on_a_full_disk_is_not_stored(tmp_path: Path, photos: Path) -> None:
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        finish(run_import(g, photos, engine=EngineSpec(FAKE_FACTORY),
                          options=ImportOptions(workers=1)))
        face_id, engine_id = g.conn.execute("SELECT id, engine_id FROM faces").fetchone()
        row = {"reviewer": "A. Analyst", "decision": "inconclusive",
               "rationale": "r" * 3000, "blind_review": 0, "probe_sha256": "0" * 64,
               "probe_path": "/probe.png", "probe_box": "[1, 2, 3, 4]",
               "engine_id": engine_id, "gallery_version": g.version,
               "persons_searched": N_PERSONS, "person_id": "p00", "face_id": face_id,
               "rank": 1, "distance": 0.3, "similarity": 0.9}
        add_decision(g, row)
        limit_pages(g, 0)
        for _ in range(3):  # each refused whole; the connection stays usable
            with pytest.raises(StorageFull):
                add_decision(g, row)
            assert not g.conn.in_transaction
        assert len(decision_rows(g)) == 1
        g.conn.execute("PRAGMA max_page_count = 1000000")
        add_decision(g, row)
        assert len(decision_rows(g)) == 2
    assert check_consistent(db)["decisions"] == 2


def test_gui_import_reports_a_full_disk(qtbot, tmp_path: Path, photos: Path,
                                        small_batches: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QSpinBox

    from facedesk.gui.import_dialog import ImportDialog

    db = tmp_path / "g.db"
    Gallery.open(db, create=True).close()
    opened = Gallery.open.__func__  # type: ignore[attr-defined]

    def open_limited(cls, path, *, create=False):
        g = opened(cls, path, create=create)
        limit_pages(g, 12)
        return g

    monkeypatch.setattr(Gallery, "open", classmethod(open_limited))
    dialog = ImportDialog(db, engine=EngineSpec(FAKE_FACTORY))
    qtbot.addWidget(dialog)
    dialog.findChild(QSpinBox, "workersSpin").setValue(1)
    dialog.findChild(QLineEdit, "folderEdit").setText(str(photos))
    dialog.show()
    dialog.findChild(QPushButton, "startButton").click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    texts = [w.text() for w in dialog.findChildren(QLabel) if "disk is full" in w.text()]
    assert len(texts) == 1 and "\n" not in texts[0], texts
    assert "Traceback" not in texts[0] and "Unexpected" not in texts[0]
    assert dialog.findChild(QPushButton, "startButton").isEnabled()  # can try again
    check_consistent(db)


# --- a real full file system (root only) ----------------------------------------------------


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (the max_page_count tests cover the "
                    "same handling without it)")
    mnt = Path("/tmp") / f"facedesk-full-{uuid.uuid4().hex[:8]}"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        mnt.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        with contextlib.suppress(OSError):
            mnt.rmdir()


def test_real_disk_full_with_the_real_engine(lfw_images: Path, real_engine_spec,
                                             run_facedesk, symlink_tree) -> None:
    """`facedesk import` of real LFW photos onto a 1 MB file system: it stops with one
    line and exit code 1; with more space, the same command resumes and completes."""
    chosen: dict[str, list[Path]] = {}
    n = 0
    for person in sorted(d for d in lfw_images.iterdir() if d.name.startswith("C")):
        files = sorted(person.glob("*.jpg"))[:3]
        chosen[person.name] = files
        n += len(files)
        if n >= 240:
            break
    root = symlink_tree(chosen, "lfw_full")
    # an empty gallery (schema, WAL) takes about half a megabyte; each photo about 6 KB
    with tmpfs("1m") as mnt:
        db = mnt / "gallery.db"
        proc = run_facedesk("import", root, "--db", db, "--workers", "1", "--quiet",
                            timeout=300)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "disk is full" in lines[0]
        stored = check_consistent(db)["photos"]
        assert 0 < stored < n
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
        proc = run_facedesk("import", root, "--db", db, "--workers", "1", "--json",
                            timeout=300)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["status"] == "completed" and doc["already_stored"] == stored
        assert doc["gallery_totals"]["photos"] == n
        assert check_consistent(db)["photos"] == n


def add_decision(g: Gallery, row: dict[str, Any]) -> int:
    """One decision written straight into the store (one write transaction)."""
    with g.write() as conn:
        return insert_decision(conn, NewDecision.of(row))
