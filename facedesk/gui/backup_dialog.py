"""Administration ▸ Backup and restore: `facedesk.app.backup` with a progress bar and a
Cancel button, run in a worker thread (the window stays responsive; the backup reads its
own snapshot while others keep working).

A restore replaces the gallery the window has open: the window lets go of it first
(`release`), the backup is checked and put in place, and the window opens the restored
gallery again (`reopen`); a refused restore leaves the gallery as it was and reopens it.
The signed-in administrator must be an active administrator of the backup too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import accounts
from facedesk.app import backup as backups
from facedesk.app.accounts import Session
from facedesk.domain.progress import CancelToken
from facedesk.errors import NotPermitted
from facedesk.gui.widgets import Dialog, button, row
from facedesk.gui.workers import GeneratorWorker
from facedesk.store import Gallery


class BackupDialog(Dialog):
    def __init__(self, session: Session, *, release: Callable[[], bool],
                 reopen: Callable[[Path], None], parent: QWidget | None = None) -> None:
        super().__init__("backupDialog", "Backup and restore", parent)
        self.path = session.gallery.path
        self.user_id = session.user_id
        self._release, self._reopen = release, reopen
        self.worker: GeneratorWorker | None = None
        self.result: backups.BackupResult | backups.RestoreResult | None = None

        intro = QLabel(
            "<b>Backup</b> copies this gallery while others keep working, checks the copy "
            "(SQLite integrity, the audit chain, every record's digest), keeps it readable "
            "by you only and logs it with its SHA-256.<br><b>Restore</b> checks a backup and "
            "puts it in place of this gallery; the replaced file is kept beside it. Close "
            "FaceDesk on other computers using this gallery first.")
        intro.setWordWrap(True)
        self.status = QLabel("", objectName="backupStatus")
        self.status.setWordWrap(True)
        self.bar = QProgressBar(objectName="backupProgress")
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.backup_button = button("Back up to a folder…", "backupButton",
                                    self._choose_backup_folder)
        self.restore_button = button("Restore from a backup…", "restoreButton",
                                     self._choose_backup_file)
        self.cancel_button = button("Cancel", "cancelBackupButton", self.cancel)
        self.cancel_button.setEnabled(False)
        self.close_button = button("Close", "", self.accept)
        buttons = row(self.backup_button, self.restore_button, self.cancel_button, None,
                      self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(640, 240)

    # -- backup --------------------------------------------------------------------------------

    def _choose_backup_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Back up into folder",
                                                  str(self.path.parent))
        if folder:
            self.start_backup(Path(folder))

    def start_backup(self, folder: Path) -> GeneratorWorker:
        path, user_id = self.path, self.user_id

        def events(cancel: CancelToken) -> Iterator[backups.Progress]:
            with Gallery.open(path) as g:  # this thread's own connection
                yield from backups.backup(g, folder, user_id=user_id, cancel=cancel)

        return self._start(events, "Backing up", self._backup_done)

    def _backup_done(self, last: backups.Progress | None) -> None:
        if last is None or last.phase != "finished" or last.result is None:
            self.status.setText("Backup cancelled: the partial copy was removed; nothing "
                                "else was changed.")
            return
        r = self.result = last.result
        self.status.setText(f"Backup written: {r.path}\nSHA-256 {r.sha256}; "
                            f"{r.copy.counts['faces']:,} faces, {r.copy.events:,} audit events "
                            f"(head event {r.copy.head_seq}).")

    # -- restore -------------------------------------------------------------------------------

    def _choose_backup_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Restore from backup", str(self.path.parent),
            f"FaceDesk backups (*{backups.BACKUP_SUFFIX});;All files (*)")
        if not name:
            return
        answer = QMessageBox.question(
            self, "Restore from backup",
            f"Replace {self.path.name} with the backup {Path(name).name}?\n\nThe backup is "
            "checked first; this gallery is closed, replaced, kept beside it as "
            f"{self.path.name}.replaced-TIME, and the restored gallery is opened.")
        if answer == QMessageBox.StandardButton.Yes:
            self.start_restore(Path(name))

    def start_restore(self, source: Path) -> GeneratorWorker | None:
        if not self._release():
            return None
        path, user_id = self.path, self.user_id

        def authorize(copy: Gallery) -> str | None:
            if not accounts.has_users(copy):
                return None
            u = accounts.user(copy, user_id)
            if u is None or not u.active or u.role != "administrator":
                raise NotPermitted(f"{user_id} is not an active administrator of the backup: "
                                   "an administrator of the backup restores it")
            return user_id

        def events(cancel: CancelToken) -> Iterator[backups.Progress]:
            return backups.restore(source, path, authorize=authorize, cancel=cancel)

        return self._start(events, "Restoring", self._restore_done)

    def _restore_done(self, last: backups.Progress | None) -> None:
        if last is None or last.phase != "finished" or last.result is None:
            self.status.setText("Restore cancelled: the gallery was not changed.")
        else:
            r = self.result = last.result
            kept = f"; the replaced gallery is kept as {r.replaced_kept_as}" \
                if r.replaced_kept_as else ""
            self.status.setText(f"Restored from {r.source} (head event {r.copy.head_seq})"
                                f"{kept}.")
        self._reopen(self.path)

    # -- the worker ----------------------------------------------------------------------------

    def _start(self, events: Callable[[CancelToken], Iterator[backups.Progress]], verb: str,
               done: Callable[[backups.Progress | None], None]) -> GeneratorWorker:
        worker = self.worker = GeneratorWorker(events, self)
        worker.progress.connect(lambda ev: self._on_progress(ev, verb))
        worker.failed.connect(lambda message: self._on_failed(message, verb))
        worker.done.connect(done)
        worker.finished.connect(self._on_finished)
        self._busy(True)
        self.status.setText(f"{verb}…")
        worker.start()
        return worker

    def _on_progress(self, ev: backups.Progress, verb: str) -> None:
        if ev.phase == "copying" and ev.total:
            self.bar.setValue(round(100 * ev.done / ev.total))
            self.status.setText(f"{verb}: {ev.done:,} of {ev.total:,} pages copied")
        elif ev.phase == "checking":
            self.bar.setValue(100)
            self.status.setText("Checking the copy: integrity, audit chain, record digests…")

    def _on_failed(self, message: str, verb: str) -> None:
        self.status.setText(f"{verb} failed: {message}")
        if verb == "Restoring":
            self._reopen(self.path)  # the gallery was left as it was

    def _on_finished(self) -> None:
        self._busy(False)

    def _busy(self, busy: bool) -> None:
        self.backup_button.setEnabled(not busy)
        self.restore_button.setEnabled(not busy)
        self.close_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def reject(self) -> None:  # Esc or the window's close box while working: cancel first
        if self.worker is not None and self.worker.isRunning():
            self.cancel()
            self.worker.wait(30_000)
        super().reject()
