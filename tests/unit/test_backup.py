"""Backup and restore (facedesk.app.backup, `facedesk backup` / `facedesk restore`): a
consistent copy while others write, checked and logged; a kill midway leaves the gallery
and earlier backups intact; a restore checks the backup and keeps what it replaced."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability import PASSWORDS, build_template, world_copy
from click.testing import CliRunner

from facedesk.app import audit
from facedesk.app import backup as backups
from facedesk.cli import cli
from facedesk.domain.progress import CancelToken
from facedesk.errors import BackupError
from facedesk.store import Gallery


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("backup"))


@pytest.fixture
def gallery(template: Path, tmp_path: Path) -> Iterator[Gallery]:
    for w in world_copy(template, tmp_path / "g"):
        yield w.gallery


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_backup(g: Gallery, to: Path, **kw: object) -> backups.Progress:
    *_, last = backups.backup(g, to, user_id="admin", **kw)  # type: ignore[arg-type]
    return last


def test_a_backup_is_checked_private_and_logged_with_its_hash(gallery: Gallery,
                                                              tmp_path: Path) -> None:
    head = audit.head(gallery)
    assert head is not None
    last = run_backup(gallery, tmp_path / "backups")
    assert last.phase == "finished" and last.path is not None and last.result is not None
    copy = last.path
    assert copy.name.startswith("gallery-") and copy.name.endswith(backups.BACKUP_SUFFIX)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no leftovers
    if os.name == "posix":
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    ev = audit.head(gallery)
    assert ev is not None and ev.kind == "backup" and ev.user_id == "admin"
    assert ev.data["sha256"] == sha(copy) == last.result.sha256
    assert (ev.data["head_seq"], ev.data["head_hash"]) == (head.seq, head.hash)
    with Gallery.open(copy) as c:
        assert c.gallery_id == gallery.gallery_id
        assert audit.verify(c, use_witness=False).ok
        assert c.counts() == gallery.counts()
    assert audit.verify(gallery).ok


def test_a_backup_is_one_snapshot_while_another_connection_writes(gallery: Gallery,
                                                                  tmp_path: Path) -> None:
    head = audit.head(gallery)
    assert head is not None
    other = Gallery.open(gallery.path)
    steps = 0
    try:
        for ev in backups.backup(gallery, tmp_path / "b", user_id=None, pages=2):
            if ev.phase == "copying":
                steps += 1
                audit.record(other, "candidate_viewed", {"during_backup": steps})
            last = ev
    finally:
        other.close()
    assert steps > 5  # it really was copied in steps, with writes in between
    assert last.result is not None and last.result.copy.head_seq == head.seq
    assert audit.verify(gallery).ok


def test_a_cancelled_backup_leaves_nothing(gallery: Gallery, tmp_path: Path) -> None:
    cancel = CancelToken()
    phases = []
    for ev in backups.backup(gallery, tmp_path / "b", user_id=None, cancel=cancel, pages=1):
        phases.append(ev.phase)
        if len(phases) == 3:
            cancel.cancel()
    assert phases[-1] == "cancelled" and "finished" not in phases
    assert list((tmp_path / "b").iterdir()) == []
    assert audit.head(gallery).kind != "backup"  # type: ignore[union-attr]


KILLED = textwrap.dedent("""
    import sys, time
    from facedesk.app import backup
    from facedesk.store import Gallery
    g = Gallery.open(sys.argv[1])
    for ev in backup.backup(g, __import__("pathlib").Path(sys.argv[2]), user_id=None,
                            pages=1):
        print(ev.phase, ev.done, flush=True)
        time.sleep(0.05)
""")


def test_a_backup_killed_midway_leaves_the_gallery_and_the_old_backup_intact(
        gallery: Gallery, tmp_path: Path) -> None:
    old = run_backup(gallery, tmp_path / "b").path
    assert old is not None
    old_sha = sha(old)
    before = audit.head(gallery)
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(gallery.path),
                             str(tmp_path / "b")], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        assert line.startswith("copying"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert sha(old) == old_sha
    leftovers = [p for p in (tmp_path / "b").iterdir() if p != old]
    assert all(p.name.endswith(".part") for p in leftovers)  # never taken for a backup
    assert audit.head(gallery) == before
    assert gallery.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert audit.verify(gallery).ok
    # the next backup works, beside the leftover
    assert run_backup(gallery, tmp_path / "b").phase == "finished"


def test_restore_puts_a_checked_backup_back_and_keeps_what_it_replaced(
        gallery: Gallery, tmp_path: Path) -> None:
    backed = audit.head(gallery)
    copy = run_backup(gallery, tmp_path / "b").path
    assert copy is not None
    for n in range(3):  # the gallery moves on after the backup
        audit.record(gallery, "candidate_viewed", {"after_backup": n})
    moved_on = audit.head(gallery)
    path = gallery.path
    gallery.close()
    *_, last = backups.restore(copy, path, authorize=lambda g: "admin")
    assert last.phase == "finished" and last.result is not None
    aside = last.result.replaced_kept_as
    assert aside is not None
    assert aside.name.startswith("gallery.db.replaced-")
    with Gallery.open(aside) as old:
        assert audit.head(old) == moved_on
    with Gallery.open(path) as g:
        evs = audit.events(g)
        assert evs[-1].kind == "restore" and evs[-1].user_id == "admin"
        assert evs[-1].data["replaced"]["head_seq"] == moved_on.seq  # type: ignore[union-attr]
        assert evs[-2].hash == backed.hash  # type: ignore[union-attr]
        v = audit.verify(g)  # with the witness: the restore is known to it
        assert v.ok, v.summary()
    assert sorted(p.name for p in path.parent.iterdir() if ".part" in p.name) == []
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_restore_refuses_what_is_not_a_sound_backup_of_this_gallery(
        gallery: Gallery, template: Path, tmp_path: Path) -> None:
    copy = run_backup(gallery, tmp_path / "b").path
    assert copy is not None
    path = gallery.path
    gallery.close()
    before = sha(path)

    def refused(source: Path, match: str, **kw: object) -> None:
        with pytest.raises(BackupError, match=match):
            list(backups.restore(source, path, **kw))  # type: ignore[arg-type]
        assert sha(path) == before
        assert not [p for p in path.parent.iterdir() if ".part" in p.name or
                    ".replaced-" in p.name]

    other = tmp_path / "other.db"  # another gallery (another id)
    with Gallery.open(other, create=True):
        pass
    refused(other, "another gallery")
    text = tmp_path / "notes.db"
    text.write_text("not a gallery")
    refused(text, "cannot be read as a gallery")
    tampered = tmp_path / "tampered.db"
    shutil.copyfile(copy, tampered)
    conn = sqlite3.connect(tampered)
    conn.execute("UPDATE users SET role = 'administrator' WHERE id = 'ann'")
    conn.commit()
    conn.close()
    refused(tampered, "fails verification: user ann")
    # the same gallery, with --force, replaces even another id
    *_, last = backups.restore(other, path, force=True)
    assert last.phase == "finished"


def test_restore_refuses_while_the_gallery_is_open_elsewhere(gallery: Gallery,
                                                             tmp_path: Path) -> None:
    copy = run_backup(gallery, tmp_path / "b").path
    assert copy is not None
    with pytest.raises(BackupError, match="open in another FaceDesk"):
        list(backups.restore(copy, gallery.path))
    assert audit.verify(gallery).ok


def test_the_command_line_backs_up_and_restores_as_an_administrator(
        gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = gallery.path
    gallery.close()
    runner = CliRunner()
    monkeypatch.setenv("FACEDESK_PASSWORD", PASSWORDS["ann"])
    res = runner.invoke(cli, ["backup", "--db", str(path), "--to", str(tmp_path / "b"),
                              "--user", "ann"])
    assert res.exit_code == 1 and "ann (Analyst) may not change settings" in res.output
    monkeypatch.setenv("FACEDESK_PASSWORD", PASSWORDS["admin"])
    res = runner.invoke(cli, ["backup", "--db", str(path), "--to", str(tmp_path / "b"),
                              "--user", "admin", "--json"])
    assert res.exit_code == 0, res.output
    import json

    made = json.loads(res.stdout)
    assert sha(Path(made["path"])) == made["sha256"]
    t0 = time.monotonic()
    res = runner.invoke(cli, ["restore", "--from", made["path"], "--db", str(path),
                              "--user", "admin"])
    assert res.exit_code == 0, res.output
    assert "restored" in res.stdout and "kept as" in res.stdout
    assert time.monotonic() - t0 < 30
    res = runner.invoke(cli, ["audit", "verify", "--db", str(path)])
    assert res.exit_code == 0, res.output


def test_a_backup_cancelled_while_its_copy_is_checked_leaves_nothing(
        gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "VERIFY_EVERY", 1)  # a progress event per audit event
    cancel = CancelToken()
    phases = []
    for ev in backups.backup(gallery, tmp_path / "b", user_id=None, cancel=cancel):
        phases.append(ev.phase)
        if ev.phase == "checking" and ev.done >= 2:
            cancel.cancel()
    assert "checking" in phases and phases[-1] == "cancelled" and "finished" not in phases
    assert list((tmp_path / "b").iterdir()) == []
    assert audit.head(gallery).kind != "backup"  # type: ignore[union-attr]


def test_a_restore_cancelled_while_the_backup_is_checked_changes_nothing(
        gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = run_backup(gallery, tmp_path / "b").path
    assert copy is not None
    path = gallery.path
    gallery.close()
    before = sha(path)
    monkeypatch.setattr(audit, "VERIFY_EVERY", 1)
    cancel = CancelToken()
    phases = []
    for ev in backups.restore(copy, path, authorize=lambda g: "admin", cancel=cancel):
        phases.append(ev.phase)
        if ev.phase == "checking" and ev.done >= 2:
            cancel.cancel()
    assert "checking" in phases and phases[-1] == "cancelled" and "finished" not in phases
    assert sha(path) == before
    assert not [p for p in path.parent.iterdir() if ".part" in p.name or
                ".replaced-" in p.name]


def test_check_copy_reports_the_copy_it_checked(gallery: Gallery, tmp_path: Path) -> None:
    copy = run_backup(gallery, tmp_path / "b").path
    assert copy is not None
    info = backups.check_copy(copy, expect_id=gallery.gallery_id)
    assert info.gallery_id == gallery.gallery_id and info.events > 0
