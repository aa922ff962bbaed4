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
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from facedesk.app import audit, witness
from facedesk.domain.imaging import sha256_file
from facedesk.domain.progress import CancelToken
from facedesk.errors import BackupError, FaceDeskError, FileOnly
from facedesk.store import Gallery
from facedesk.store import backup as store_backup
from facedesk.store.backup import CopyCancelled
from facedesk.store.postgres import is_server_location, public_location
from facedesk.store.schema import APPLICATION_ID

#: pages copied per step of the backup API (4 MiB at SQLite's default page size)
STEP_PAGES = 1024
BACKUP_SUFFIX = ".facedesk-backup.db"


_R = TypeVar("_R")


@dataclass(frozen=True)
class Progress(Generic[_R]):
    phase: str  # "copying", "checking", "finished", "cancelled"
    done: int = 0  # copying: pages copied; checking: audit events checked
    total: int = 0
    path: Path | None = None
    result: _R | None = None


@dataclass(frozen=True)
class CheckedCopy:
    """A gallery file that passed `check_copy`: its id, its audit log's head and size,
    and its counts (Gallery.counts)."""

    gallery_id: str
    head_seq: int | None
    head_hash: str | None
    events: int
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"gallery_id": self.gallery_id, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "events": self.events, **self.counts}


@dataclass(frozen=True)
class BackupResult:
    path: Path
    sha256: str
    bytes: int
    copy: CheckedCopy

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "bytes": self.bytes,
                **self.copy.as_dict()}


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    source: Path
    backup_sha256: str
    #: the gallery the restore replaced, kept beside it (None: there was none)
    replaced_kept_as: Path | None
    replaced_head_seq: int | None
    copy: CheckedCopy

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "from": str(self.source),
                "backup_sha256": self.backup_sha256,
                "replaced_kept_as": None if self.replaced_kept_as is None
                else str(self.replaced_kept_as),
                "replaced_head_seq": self.replaced_head_seq, **self.copy.as_dict()}


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
          ) -> Iterator[Progress[Any]]:
    for done, total in store_backup.copy_database(source, target, cancel, pages):
        yield Progress("copying", done, total)


def check_copy_steps(path: Path, *, expect_id: str | None = None,
                     cancel: CancelToken | None = None
                     ) -> Generator[Progress[Any], None, CheckedCopy]:
    """Check a gallery file that nobody else uses (a fresh copy): SQLite's integrity
    check, FaceDesk's header, the audit chain, schema and record digests (not the
    witness: a copy is older than the gallery's witness), with "checking" progress (done
    and total: audit events). Returns its id, head and counts; raises BackupError naming
    the first problem, and CopyCancelled when `cancel` stops it."""
    cancel = cancel or CancelToken()
    yield Progress("checking", path=path)
    found = store_backup.check_file(path)
    if found.application_id != APPLICATION_ID:
        raise BackupError(f"{path}: not a FaceDesk gallery (another program's SQLite file)")
    if found.integrity != ["ok"]:
        raise BackupError(f"{path}: damaged (SQLite integrity check: {found.integrity[0]})")
    try:
        with Gallery.open(path) as g:
            v = None
            for step in audit.verify_steps(g, use_witness=False, cancel=cancel):
                if step.step == "cancelled":
                    raise CopyCancelled
                v = step.result
                yield Progress("checking", step.done, step.total, path=path)
            assert v is not None
            info = CheckedCopy(g.gallery_id, v.head_seq, v.head_hash, v.events, g.counts())
    except FaceDeskError as exc:
        raise BackupError(f"{path}: {exc}") from None
    if not v.ok:
        more = f" (and {len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        raise BackupError(f"{path}: its audit log fails verification: {v.problems[0]}{more}")
    if expect_id is not None and info.gallery_id != expect_id:
        raise BackupError(f"{path}: the copy is of gallery {info.gallery_id}, not "
                          f"{expect_id}")
    return info


def check_copy(path: Path, *, expect_id: str | None = None) -> CheckedCopy:
    """`check_copy_steps` run to its end: the copy's id, head and counts."""
    steps = check_copy_steps(path, expect_id=expect_id)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            info: CheckedCopy = done.value
            return info


def on_server(gallery: Gallery) -> FileOnly:
    """Why a gallery on a server has no FaceDesk backup, and what to use instead."""
    return gallery.file_only("backup and restore", "copy it to a file with `facedesk "
                             "gallery copy URL FILE.db`, or back the database up with pg_dump")


def backup(gallery: Gallery, to_dir: Path, *, user_id: str | None,
           cancel: CancelToken | None = None, pages: int = STEP_PAGES
           ) -> Iterator[Progress[BackupResult]]:
    """Back `gallery` up into the folder `to_dir` (created 0700 if missing); the last
    event is "finished" with the result (path, sha256, head, counts). Cancelled (the
    token, Ctrl-C, or the consumer stopping), it removes its partial file and raises
    nothing: the last event is then "cancelled"."""
    cancel = cancel or CancelToken()
    if gallery.is_server:
        raise on_server(gallery)
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
            info = yield from check_copy_steps(part, expect_id=gallery.gallery_id,
                                               cancel=cancel)
        except CopyCancelled:
            yield Progress("cancelled", path=None)
            return
        digest = sha256_file(part)
        size = part.stat().st_size
        os.replace(part, final)
        done = True
        audit.record(gallery, "backup", {
            "file": final.name, "folder": str(to_dir), "sha256": digest, "bytes": size,
            "head_seq": info.head_seq, "head_hash": info.head_hash,
            "integrity": "ok"}, user_id=user_id)
        yield Progress("finished", path=final, result=BackupResult(final, digest, size, info))
    finally:
        if not done:
            _remove(part)


# --- restore ----------------------------------------------------------------------------------


def restore(backup_file: Path, db: Path | str, *, force: bool = False,
            authorize: Callable[[Gallery], str | None] | None = None,
            cancel: CancelToken | None = None, pages: int = STEP_PAGES
            ) -> Iterator[Progress[RestoreResult]]:
    """Put a checked backup in place of the gallery `db` (see the module's text).
    `authorize(copy)` signs an administrator in on the backup's copy (raising if not
    permitted) and returns the user id the restore is logged under."""
    cancel = cancel or CancelToken()
    if is_server_location(db):
        raise FileOnly(f"{public_location(str(db))} is a gallery on a database server: "
                       "facedesk restore puts back gallery files only; copy a backup into it "
                       "with `facedesk gallery copy BACKUP.db URL`, or restore the database "
                       "with pg_restore")
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
            info = yield from check_copy_steps(part, cancel=cancel)
        except CopyCancelled:
            yield Progress("cancelled")
            return
        backup_sha = sha256_file(part)
        current = store_backup.exclusive_checkpoint(db) if db.exists() else None
        if current is not None and current.gallery_id not in (None, info.gallery_id) \
                and not force:
            raise BackupError(f"{backup_file} is a backup of another gallery (id "
                              f"{info.gallery_id}), not of {db} (id "
                              f"{current.gallery_id}): --force replaces it anyway")
        if cancel.cancelled:
            yield Progress("cancelled")
            return
        aside = db.with_name(f"{db.name}.replaced-{_stamp()}") if db.exists() else None
        with Gallery.open(part) as copy:
            user_id = authorize(copy) if authorize is not None else None
            # the witness learns first that the log goes back to the backup's head
            witness.witness_restore(copy, info.head_seq, info.head_hash,
                                    str(backup_file))
            audit.record(copy, "restore", {
                "from": str(backup_file), "backup_sha256": backup_sha,
                "backup_head": {"seq": info.head_seq, "hash": info.head_hash},
                "replaced": None if aside is None else {
                    "kept_as": aside.name,
                    "gallery_id": None if current is None else current.gallery_id,
                    "head_seq": None if current is None else current.head_seq,
                    "head_hash": None if current is None else current.head_hash},
                "forced": bool(force)}, user_id=user_id)
            store_backup.checkpoint(copy)
        if aside is not None:
            _keep_aside(db, aside)
        os.replace(part, db)
        installed = True
        result = RestoreResult(db, backup_file, backup_sha, aside,
                               None if current is None else current.head_seq, info)
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
