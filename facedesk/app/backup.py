"""Backup and restore of a gallery.

`backup` makes a consistent online copy with SQLite's backup API while others keep working
(the copy is read from one snapshot: writes committed meanwhile are not in it, and never
half of one), into a file created 0600 under a temporary name; checks the copy
(PRAGMA integrity_check, the FaceDesk header, the audit chain and every record digest);
gives it its name; and records the backup as an audit event of the gallery with the
copy's SHA-256 and head. Killed at any moment, it leaves the gallery and every earlier
backup as they were (at worst a `.part` file that is never mistaken for a backup).

`restore` copies a backup beside the gallery (0600), checks the copy the same way, and
that it is the same gallery (its id) unless forced, then puts it in place with one
`os.replace`; the file it replaces is kept beside it (`GALLERY.replaced-<time>`). The
restore is an audit event of the restored gallery, and the external witness is told that
the log was put back to the backup's head (facedesk.app.witness), so the events that
the restore dropped are not reported as a truncation, while the dropped head is named in
the restore event.

Both are generators yielding progress and checking a CancelToken.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facedesk.app import audit, witness
from facedesk.domain.imaging import sha256_file
from facedesk.domain.progress import CancelToken
from facedesk.errors import BackupError, FaceDeskError
from facedesk.store import Gallery
from facedesk.store.schema import APPLICATION_ID

#: pages copied per step of the backup API (4 MiB at SQLite's default page size)
STEP_PAGES = 1024
BACKUP_SUFFIX = ".facedesk-backup.db"


@dataclass(frozen=True)
class Progress:
    phase: str  # "copying", "checking", "finished"
    done: int = 0  # pages copied
    total: int = 0
    path: Path | None = None
    result: dict[str, Any] | None = None


class _Cancelled(Exception):
    pass


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _create_private(path: Path) -> None:
    """An empty file only its owner can read (0600), created exclusively."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
              path.with_name(path.name + "-journal")):
        with contextlib.suppress(OSError):
            p.unlink()


def _copy(source: Path, target: Path, cancel: CancelToken, pages: int = STEP_PAGES
          ) -> Iterator[Progress]:
    """Copy an SQLite database with the backup API, from one read snapshot of `source`,
    in steps (progress after each), in a thread so that this generator can yield."""
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
                    raise _Cancelled

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
                yield Progress("copying", value[0], value[1])
                continue
            ended = True
            if kind == "error":
                if isinstance(value, _Cancelled) or cancel.cancelled:
                    raise _Cancelled from None
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


def check_copy(path: Path, *, expect_id: str | None = None) -> dict[str, Any]:
    """Check a gallery file that nobody else uses (a fresh copy): SQLite's integrity
    check, FaceDesk's header, the audit chain, schema and record digests (not the
    witness: a copy is older than the gallery's witness). Returns its id, head and
    counts; raises BackupError naming the first problem."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            integrity = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    if app_id != APPLICATION_ID:
        raise BackupError(f"{path}: not a FaceDesk gallery (another program's SQLite file)")
    if integrity != ["ok"]:
        raise BackupError(f"{path}: damaged (SQLite integrity check: {integrity[0]})")
    try:
        with Gallery.open(path) as g:
            v = audit.verify(g, use_witness=False)
            info = {"gallery_id": g.gallery_id, "head_seq": v.head_seq,
                    "head_hash": v.head_hash, "events": v.events, **g.counts()}
    except FaceDeskError as exc:
        raise BackupError(f"{path}: {exc}") from None
    if not v.ok:
        more = f" (and {len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        raise BackupError(f"{path}: its audit log fails verification: {v.problems[0]}{more}")
    if expect_id is not None and info["gallery_id"] != expect_id:
        raise BackupError(f"{path}: the copy is of gallery {info['gallery_id']}, not "
                          f"{expect_id}")
    return info


def backup(gallery: Gallery, to_dir: Path, *, user_id: str | None,
           cancel: CancelToken | None = None, pages: int = STEP_PAGES
           ) -> Iterator[Progress]:
    """Back `gallery` up into the folder `to_dir` (created 0700 if missing); the last
    event is "finished" with the result (path, sha256, head, counts). Cancelled (the
    token, Ctrl-C, or the consumer stopping), it removes its partial file and raises
    nothing: the last event is then "cancelled"."""
    cancel = cancel or CancelToken()
    try:
        to_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"{to_dir}: cannot create the backup folder ({exc.strerror})") \
            from None
    final = to_dir / f"{gallery.path.stem}-{_stamp()}{BACKUP_SUFFIX}"
    part = final.with_name(final.name + ".part")
    try:
        _create_private(part)
    except OSError as exc:
        raise BackupError(f"{to_dir}: cannot write the backup there ({exc.strerror})") \
            from None
    done = False
    try:
        try:
            yield from _copy(gallery.path, part, cancel, pages)
        except _Cancelled:
            yield Progress("cancelled", path=None)
            return
        yield Progress("checking", path=part)
        info = check_copy(part, expect_id=gallery.gallery_id)
        digest = sha256_file(part)
        size = part.stat().st_size
        os.replace(part, final)
        done = True
        audit.record(gallery, "backup", {
            "file": final.name, "folder": str(to_dir), "sha256": digest, "bytes": size,
            "head_seq": info["head_seq"], "head_hash": info["head_hash"],
            "integrity": "ok"}, user_id=user_id)
        result = {"path": str(final), "sha256": digest, "bytes": size, **info}
        yield Progress("finished", path=final, result=result)
    finally:
        if not done:
            _remove(part)


# --- restore ----------------------------------------------------------------------------------


def _exclusive_checkpoint(db: Path) -> dict[str, Any] | None:
    """Checkpoint the gallery being replaced into its main file, proving nobody else has
    it open (an exclusive lock); its id and head, or None when it cannot be read
    (damaged: that is what a restore is for)."""
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
        return {"gallery_id": None if gid is None else str(gid[0]),
                "head_seq": None if head is None else head[0],
                "head_hash": None if head is None else head[1]}
    finally:
        conn.close()


def restore(backup_file: Path, db: Path, *, force: bool = False,
            authorize: Callable[[Gallery], str | None] | None = None,
            cancel: CancelToken | None = None, pages: int = STEP_PAGES
            ) -> Iterator[Progress]:
    """Put a checked backup in place of the gallery `db` (see the module's text).
    `authorize(copy)` signs an administrator in on the backup's copy (raising if not
    permitted) and returns the user id the restore is logged under."""
    cancel = cancel or CancelToken()
    backup_file, db = Path(backup_file), Path(db)
    if not backup_file.is_file():
        raise BackupError(f"{backup_file}: no backup file there")
    if db.exists() and backup_file.resolve() == db.resolve():
        raise BackupError(f"{backup_file} is the gallery itself")
    db.parent.mkdir(parents=True, exist_ok=True)
    part = db.with_name(f"{db.name}.restore-{os.getpid()}.part")
    _remove(part)
    _create_private(part)
    installed = False
    try:
        try:
            yield from _copy(backup_file, part, cancel, pages)
        except _Cancelled:
            yield Progress("cancelled")
            return
        yield Progress("checking", path=part)
        info = check_copy(part)
        backup_sha = sha256_file(part)
        current = _exclusive_checkpoint(db) if db.exists() else None
        if current is not None and current["gallery_id"] not in (None, info["gallery_id"]) \
                and not force:
            raise BackupError(f"{backup_file} is a backup of another gallery (id "
                              f"{info['gallery_id']}), not of {db} (id "
                              f"{current['gallery_id']}): --force replaces it anyway")
        if cancel.cancelled:
            yield Progress("cancelled")
            return
        aside = db.with_name(f"{db.name}.replaced-{_stamp()}") if db.exists() else None
        with Gallery.open(part) as copy:
            user_id = authorize(copy) if authorize is not None else None
            # the witness learns first that the log goes back to the backup's head
            witness.witness_restore(copy, info["head_seq"], info["head_hash"],
                                    str(backup_file))
            audit.record(copy, "restore", {
                "from": str(backup_file), "backup_sha256": backup_sha,
                "backup_head": {"seq": info["head_seq"], "hash": info["head_hash"]},
                "replaced": None if aside is None else {
                    "kept_as": aside.name, "gallery_id": (current or {}).get("gallery_id"),
                    "head_seq": (current or {}).get("head_seq"),
                    "head_hash": (current or {}).get("head_hash")},
                "forced": bool(force)}, user_id=user_id)
            copy.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if aside is not None:
            _keep_aside(db, aside)
        os.replace(part, db)
        installed = True
        result = {"path": str(db), "from": str(backup_file), "backup_sha256": backup_sha,
                  "replaced_kept_as": None if aside is None else str(aside),
                  "replaced_head_seq": (current or {}).get("head_seq"), **info}
        yield Progress("finished", path=db, result=result)
    finally:
        if not installed:
            _remove(part)


def _keep_aside(db: Path, aside: Path) -> None:
    """Keep the gallery being replaced as `aside` (a hard link where possible, so the
    gallery's name never points at nothing), with its -wal and -shm files moved along
    (a stale -wal beside the restored file would be replayed into it)."""
    try:
        os.link(db, aside)
    except OSError:
        import shutil

        shutil.copy2(db, aside)
    os.chmod(aside, 0o600)
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
