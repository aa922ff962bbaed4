"""`facedesk backup` and `facedesk restore` (facedesk.app.backup): a checked, logged copy
of a gallery made while others work, and a checked restore. Progress on stderr; Ctrl-C
cancels (the partial copy is removed; the gallery and earlier backups are untouched)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from facedesk.app import backup as backups
from facedesk.cli.options import db_option, json_option, quiet_option, user_option
from facedesk.cli.output import emit_json
from facedesk.cli.progress import StatusLine, run
from facedesk.cli.signin import user_id_if_staffed
from facedesk.domain.formatting import percent
from facedesk.domain.progress import CancelToken
from facedesk.errors import GalleryNotFound
from facedesk.store import Gallery

R = TypeVar("R", backups.BackupResult, backups.RestoreResult)


def _run(start: Callable[[CancelToken], Iterator[backups.Progress[R]]], quiet: bool,
         as_json: bool) -> R | None:
    """Run a backup/restore generator with progress on stderr (Ctrl-C cancels) to its
    result: printed as JSON with --json (then None), else returned for the text."""
    line = StatusLine(quiet, redraw=False)

    def show(ev: backups.Progress[R]) -> None:
        if not line.due():
            return
        if ev.phase == "copying" and ev.total:
            line.note(f"copying: {ev.done}/{ev.total} pages ({percent(ev.done / ev.total, 0)})")
        elif ev.phase == "checking":
            line.note("checking the copy: integrity, audit chain, record digests")

    final = run(start, show=show,
                stopped=lambda ev: ev.phase == "cancelled" or ev.result is None,
                cancelled="cancelled: the partial copy was removed; nothing else was changed")
    assert final.result is not None
    if as_json:
        emit_json(final.result.as_dict())
        return None
    return final.result


@click.command("backup")
@db_option()
@user_option()
@click.option("--to", "to_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write the backup into (created if missing, 0700).")
@quiet_option()
@json_option()
def backup_cmd(db: Path, user: str | None, to_dir: Path, quiet: bool, as_json: bool) -> None:
    """Copy the gallery consistently while others keep working (SQLite's backup API),
    check the copy (integrity, audit chain, record digests), keep it 0600 as
    NAME-TIME.facedesk-backup.db and log the backup with its SHA-256 (administrators, on
    a gallery with users)."""
    with Gallery.open(db) as gallery:
        user_id = user_id_if_staffed(gallery, user, "change_settings")
        r = _run(lambda cancel: backups.backup(gallery, to_dir, user_id=user_id,
                                               cancel=cancel), quiet, as_json)
    if r is None:
        return
    click.echo(f"backup written: {r.path}")
    click.echo(f"  sha256 {r.sha256}, {r.bytes:,} bytes; {r.copy.counts['faces']:,} faces, "
               f"{r.copy.events:,} audit events, head event {r.copy.head_seq} hash "
               f"{r.copy.head_hash}")


@click.command("restore")
@click.option("--from", "source", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The backup file (made by facedesk backup).")
@db_option()
@user_option()
@click.option("--force", is_flag=True,
              help="Replace the gallery even if the backup is of another gallery (id).")
@quiet_option()
@json_option()
def restore_cmd(source: Path, db: Path, user: str | None, force: bool, quiet: bool,
                as_json: bool) -> None:
    """Check a backup (integrity, FaceDesk gallery, audit chain and record digests, the
    same gallery id unless --force) and put it in place of the gallery in one step; the
    replaced file is kept beside it as GALLERY.replaced-TIME. An administrator of the
    backup signs in (on a gallery with users). Close FaceDesk elsewhere first."""
    def authorize(copy: Gallery) -> str | None:
        return user_id_if_staffed(copy, user, "change_settings")

    if db.is_dir():
        raise GalleryNotFound(f"{db}: is a folder, not a gallery file")
    r = _run(lambda cancel: backups.restore(source, db, force=force, authorize=authorize,
                                            cancel=cancel), quiet, as_json)
    if r is None:
        return
    click.echo(f"restored {r.path} from {r.source} (head event {r.copy.head_seq} hash "
               f"{r.copy.head_hash})")
    if r.replaced_kept_as:
        click.echo(f"  the replaced gallery is kept as {r.replaced_kept_as}")


COMMANDS: list[click.Command] = [backup_cmd, restore_cmd]
