"""Administration ▸ Backup and restore in the real window: the backup runs in a worker
thread with progress, the restore lets go of the open gallery, replaces it and opens the
restored one."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PASSWORDS
from PySide6.QtCore import QSettings

from facedesk.app import accounts, audit
from facedesk.engine.spec import EngineSpec
from facedesk.gui.backup_dialog import BackupDialog
from facedesk.gui.main_window import MainWindow
from facedesk.store import Gallery


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_spec: EngineSpec, make_gallery):
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                   engine=fake_spec)
    qtbot.addWidget(w)
    assert w.open_gallery(make_gallery())
    assert w.gallery is not None
    w.set_session(accounts.sign_in(w.gallery, "admin", PASSWORDS["admin"]))
    return w


def test_only_an_administrator_sees_backup_and_restore(qtbot, window: MainWindow) -> None:
    assert window.act_backup.isEnabled()
    assert window.act_backup in window.admin_menu.actions()
    assert window.gallery is not None
    window.set_session(accounts.sign_in(window.gallery, "ann", PASSWORDS["ann"]))
    assert not window.act_backup.isEnabled()
    assert window.backup_dialog() is None


def test_backup_then_restore_through_the_window(qtbot, window: MainWindow,
                                                tmp_path: Path) -> None:
    dlg = window.backup_dialog()
    assert isinstance(dlg, BackupDialog)
    seen: list[int] = []
    worker = dlg.start_backup(tmp_path / "backups")
    worker.progress.connect(lambda ev: seen.append(ev.done))
    assert not dlg.backup_button.isEnabled() and dlg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: worker.isFinished() and dlg.backup_button.isEnabled(),
                    timeout=30_000)
    assert dlg.result is not None, dlg.status.text()
    copy = dlg.result.path
    assert copy.is_file() and "Backup written" in dlg.status.text()
    assert dlg.bar.value() == 100
    gallery = window.gallery
    assert gallery is not None
    path = gallery.path
    assert audit.head(gallery).kind == "backup"  # type: ignore[union-attr]
    audit.record(gallery, "candidate_viewed", {"after": "backup"})

    worker2 = dlg.start_restore(copy)
    assert worker2 is not None
    assert window.gallery is None and window.session is None  # let go of the file
    qtbot.waitUntil(lambda: worker2.isFinished() and window.gallery is not None,
                    timeout=30_000)
    assert "Restored from" in dlg.status.text(), dlg.status.text()
    assert window.gallery is not None and window.gallery.path == path
    with Gallery.open(path) as g:
        evs = audit.events(g)
        assert evs[-1].kind == "restore" and evs[-1].user_id == "admin"
        assert all(e.data.get("after") != "backup" for e in evs)
        assert audit.verify(g).ok
    assert list(path.parent.glob(f"{path.name}.replaced-*"))
    if window.sign_in_dialog is not None:
        window.sign_in_dialog.close()
