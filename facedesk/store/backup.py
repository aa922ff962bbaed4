"""The SQLite side of backup and restore (facedesk.app.backup): an online copy with
SQLite's backup API from one read snapshot, the file checks of a copy, and the exclusive
checkpoint of a gallery about to be replaced."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facedesk.domain.progress import CancelToken
from facedesk.errors import BackupError
from facedesk.store.gallery import Gallery


class CopyCancelled(Exception):
    """The copy stopped at its token (or its consumer went away)."""


def copy_database(source: Path, target: Path, cancel: CancelToken, pages: int
                  ) -> Iterator[tuple[int, int]]:
    """Copy an SQLite database with the backup API, from one read snapshot of `source`,
    in steps of `pages` ((pages done, pages) after each), in a thread so that this
    generator can yield. Raises CopyCancelled when `cancel` stops it, BackupError when
    `source` cannot be read."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run() -> None:
        src = dst = None
        try:
            src = sqlite3.connect(str(source), timeout=30, isolation_level=None,
                                  check_same_thread=False)
            src.execute("PRAGMA busy_timeout = 30000")
            # one read transaction for the whole copy: every step reads the same snapshot
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            dst = sqlite3.connect(str(target), isolation_level=None)

            def step(status: int, remaining: int, total: int) -> None:
                events.put(("progress", (total - remaining, total)))
                if cancel.cancelled:
                    raise CopyCancelled

            src.backup(dst, pages=pages, progress=step)
            events.put(("done", None))
        except BaseException as exc:  # handed to the generator, which raises it
            events.put(("error", exc))
        finally:
            for conn in (dst, src):
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()

    worker = threading.Thread(target=run, name="facedesk-backup", daemon=True)
    worker.start()
    ended = False
    try:
        while True:
            kind, value = events.get()
            if kind == "progress":
                yield value
                continue
            ended = True
            if kind == "error":
                if isinstance(value, CopyCancelled) or cancel.cancelled:
                    raise CopyCancelled from None
                if isinstance(value, sqlite3.Error):
                    raise BackupError(f"{source}: cannot be read as a gallery, so it cannot be "
                                      f"copied ({value})") from None
                raise value
            else:
                return
    finally:
        if not ended:  # the consumer stopped (Ctrl-C, closed): stop the copy too
            cancel.cancel()
        worker.join()


@dataclass(frozen=True)
class FileCheck:
    """A database file's application id and SQLite's integrity check (["ok"] when
    sound; else up to 20 findings)."""

    application_id: int
    integrity: list[str]


def check_file(path: Path) -> FileCheck:
    """Read a database file's header and run SQLite's integrity check on it; BackupError
    when it is not a readable SQLite database."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            integrity = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    return FileCheck(int(app_id), integrity)


@dataclass(frozen=True)
class ReplacedGallery:
    """What a restore replaces: the gallery's id and its audit log's head (None when
    the file does not say)."""

    gallery_id: str | None
    head_seq: int | None
    head_hash: str | None


def exclusive_checkpoint(db: Path) -> ReplacedGallery | None:
    """Checkpoint the gallery being replaced into its main file, proving nobody else has
    it open (an exclusive lock); its id and head, or None when it cannot be read
    (damaged: that is what a restore is for). BackupError when another connection has
    it open."""
    try:
        conn = sqlite3.connect(str(db), timeout=2, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        try:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise BackupError(f"{db} is open in another FaceDesk window or process: "
                                  "close it there, then restore") from None
            return None
        except sqlite3.DatabaseError:
            return None
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            gid = conn.execute("SELECT value FROM meta WHERE key = 'gallery_id'").fetchone()
            head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC "
                                "LIMIT 1").fetchone()
        except sqlite3.Error:
            return None
        return ReplacedGallery(None if gid is None else str(gid[0]),
                               None if head is None else head[0],
                               None if head is None else head[1])
    finally:
        conn.close()


def checkpoint(gallery: Gallery) -> None:
    """Move the gallery's write-ahead log into its main file (before the file is moved)."""
    gallery.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
