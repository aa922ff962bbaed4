"""`facedesk backup` and `facedesk restore` (facedesk.app.backup): a checked, logged copy
of a gallery made while others work, and a checked restore. Progress on stderr; Ctrl-C
cancels (the partial copy is removed; the gallery and earlier backups are untouched)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import click

from facedesk.app import accounts
from facedesk.app import backup as backups
from facedesk.cli.case_commands import _emit_json, db_option, json_option, signed_in, user_option
from facedesk.domain.progress import CancelToken
from facedesk.errors import GalleryNotFound
from facedesk.store import Gallery

EXIT_CANCELLED = 130
R = TypeVar("R")


def _run(events: Iterator[backups.Progress[R]], cancel: CancelToken, quiet: bool) -> R:
    """Drain a backup/restore generator with progress on stderr; Ctrl-C cancels."""
    last = 0.0
    final: backups.Progress[R] = backups.Progress("cancelled")
    try:
        for ev in events:
            final = ev
            now = time.monotonic()
            if quiet or now - last < (0.2 if sys.stderr.isatty() else 5.0):
                continue
            last = now
            if ev.phase == "copying" and ev.total:
                click.echo(f"copying: {ev.done}/{ev.total} pages "
                           f"({100 * ev.done / ev.total:.0f}%)", err=True)
            elif ev.phase == "checking":
                click.echo("checking the copy: integrity, audit chain, record digests",
                           err=True)
    except KeyboardInterrupt:
        cancel.cancel()
        events.close()
        final = backups.Progress("cancelled")
    if final.phase == "cancelled" or final.result is None:
        click.echo("cancelled: the partial copy was removed; nothing else was changed",
                   err=True)
        sys.exit(EXIT_CANCELLED)
    return final.result


@click.command("backup")
@db_option
@user_option
@click.option("--to", "to_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write the backup into (created if missing, 0700).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@json_option
def backup_cmd(db: Path, user: str | None, to_dir: Path, quiet: bool, as_json: bool) -> None:
    """Copy the gallery consistently while others keep working (SQLite's backup API),
    check the copy (integrity, audit chain, record digests), keep it 0600 as
    NAME-TIME.facedesk-backup.db and log the backup with its SHA-256 (administrators, on
    a gallery with users)."""
    cancel = CancelToken()
    with Gallery.open(db) as gallery:
        user_id = None
        if accounts.has_users(gallery):
            user_id = signed_in(gallery, user, "change_settings").user_id
        r = _run(backups.backup(gallery, to_dir, user_id=user_id, cancel=cancel), cancel,
                 quiet)
    if as_json:
        _emit_json(r.as_dict())
        return
    click.echo(f"backup written: {r.path}")
    click.echo(f"  sha256 {r.sha256}, {r.bytes:,} bytes; {r.copy.counts['faces']:,} faces, "
               f"{r.copy.events:,} audit events, head event {r.copy.head_seq} hash "
               f"{r.copy.head_hash}")


@click.command("restore")
@click.option("--from", "source", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The backup file (made by facedesk backup).")
@db_option
@user_option
@click.option("--force", is_flag=True,
              help="Replace the gallery even if the backup is of another gallery (id).")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@json_option
def restore_cmd(source: Path, db: Path, user: str | None, force: bool, quiet: bool,
                as_json: bool) -> None:
    """Check a backup (integrity, FaceDesk gallery, audit chain and record digests, the
    same gallery id unless --force) and put it in place of the gallery in one step; the
    replaced file is kept beside it as GALLERY.replaced-TIME. An administrator of the
    backup signs in (on a gallery with users). Close FaceDesk elsewhere first."""
    cancel = CancelToken()

    def authorize(copy: Gallery) -> str | None:
        if not accounts.has_users(copy):
            return None
        return signed_in(copy, user, "change_settings").user_id

    if db.is_dir():
        raise GalleryNotFound(f"{db}: is a folder, not a gallery file")
    r = _run(backups.restore(source, db, force=force, authorize=authorize, cancel=cancel),
             cancel, quiet)
    if as_json:
        _emit_json(r.as_dict())
        return
    click.echo(f"restored {r.path} from {r.source} (head event {r.copy.head_seq} hash "
               f"{r.copy.head_hash})")
    if r.replaced_kept_as:
        click.echo(f"  the replaced gallery is kept as {r.replaced_kept_as}")


COMMANDS: list[click.Command] = [backup_cmd, restore_cmd]
