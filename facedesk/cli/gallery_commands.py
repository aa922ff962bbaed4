"""`facedesk info` (a gallery's summary), `facedesk verify` (its original photos still
as imported: facedesk.app.originals) and `facedesk gallery copy` (a whole gallery into
another store, SQLite or PostgreSQL: facedesk.app.gallery_copy)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from facedesk.app.gallery_copy import CopyProgress, copy_gallery
from facedesk.app.originals import OriginalsProgress, verify_originals
from facedesk.cli.options import (
    GalleryLocation,
    db_option,
    json_option,
    quiet_option,
    user_option,
)
from facedesk.cli.output import EXIT_CANCELLED, EXIT_CHECK_FAILED, emit_json, printable
from facedesk.cli.progress import StatusLine, run
from facedesk.cli.signin import lab_signed_in, user_id_if_staffed
from facedesk.domain.formatting import compact_duration
from facedesk.store import Gallery


@click.command()
@db_option()
@json_option("Print the summary as JSON.")
def info(db: Path, as_json: bool) -> None:
    """Summarise a gallery: persons, photos, faces, engine and the last import."""
    with Gallery.open(db) as gallery:
        s = gallery.summary()
    if as_json:
        emit_json(s.as_dict())
        return
    click.echo(f"gallery {s.path} (id {s.gallery_id[:8]}, version {s.version})")
    click.echo(f"  persons  {s.persons}")
    click.echo(f"  photos   {s.photos}  (without a face: {s.photos_without_face}, "
               f"with several: {s.photos_with_several_faces})")
    click.echo(f"  faces    {s.faces}")
    for e in s.engines:
        ident = e.identity or {}
        click.echo(f"  engine   {e.id}: {ident.get('engine')} {ident.get('dlib')}")
    last = s.last_import
    if last:
        click.echo(f"  last import #{last.id} {last.status} {last.started_at}: "
                   f"{last.imported} new, {last.already_stored} already stored, "
                   f"{last.failed} failed ({printable(last.source)})")


def show_verify(line: StatusLine, ev: OriginalsProgress) -> None:
    if ev.phase == "finished":
        return
    if ev.phase == "searching":
        line.show(f"looking for moved originals: {printable(ev.current)}")
    else:
        line.show(f"{ev.done}/{ev.total} originals checked ({ev.rate:.0f}/s), "
                  f"{ev.done - ev.counts['ok']} with a problem")


@click.command()
@db_option()
@click.option("--look-in", "look_in", multiple=True,
              type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="A folder to search for originals that are no longer at their recorded "
                   "path (repeat the option for several); found ones are reported as moved.")
@json_option("Print the result as JSON.")
@quiet_option()
@user_option()
def verify(db: Path, look_in: tuple[Path, ...], as_json: bool, quiet: bool,
           user: str | None) -> None:
    """Re-verify every original photo of a gallery: still at its recorded path, with the
    same SHA-256. Reports missing, moved, changed and unreadable originals; exit code 1
    if there is any. Reads only: nothing is changed."""
    line = StatusLine(quiet, redraw=False)
    with Gallery.open(db) as gallery:
        lab_signed_in(gallery, user, "verify", look_in=[str(p) for p in look_in])
        final = run(lambda cancel: verify_originals(gallery, look_in=look_in, cancel=cancel),
                    show=lambda ev: show_verify(line, ev),
                    cancelled="\ncancelled: nothing was changed")
    if as_json:
        emit_json({"gallery": str(db), **final.summary()})
    else:
        c = final.counts
        click.echo(f"verified {final.done} of {final.total} originals in "
                   f"{compact_duration(final.elapsed_s)}: {c['ok']} as imported, "
                   f"{c['missing']} missing, {c['moved']} moved, {c['changed']} changed, "
                   f"{c['unreadable']} unreadable")
        for p in final.problems[:50]:
            where = f" -> now at {printable(p.found_at)}" if p.found_at else ""
            click.echo(f"  {p.status:<10} {printable(p.person_id)}: {printable(p.path)}"
                       f"{where} ({p.detail})")
        if len(final.problems) > 50:
            click.echo(f"  ... and {len(final.problems) - 50} more (--json lists them all)")
    if final.status == "cancelled":
        sys.exit(EXIT_CANCELLED)
    if final.problems:
        sys.exit(EXIT_CHECK_FAILED)


@click.group("gallery")
def gallery_group() -> None:
    """Whole galleries: copy one to another store."""


def show_copy(line: StatusLine, ev: CopyProgress) -> None:
    if ev.phase in ("copying", "checking") and ev.total:
        what = "copying" if ev.phase == "copying" else "checking the copy"
        line.show(f"{what}: {ev.done:,}/{ev.total:,} rows ({ev.table})")
    elif ev.phase == "verifying":
        line.show(f"verifying the {ev.table}'s audit log: {ev.done:,}/{ev.total:,}")


@gallery_group.command("copy")
@click.argument("source", metavar="SRC", type=GalleryLocation())
@click.argument("destination", metavar="DST", type=GalleryLocation())
@user_option()
@json_option("Print the result as JSON.")
@quiet_option()
def copy_cmd(source: Path | str, destination: Path | str, user: str | None, as_json: bool,
             quiet: bool) -> None:
    """Copy the gallery SRC into DST, each a SQLite file or a postgresql:// URL (a new
    file, or an empty database): every table, ids kept, from one snapshot of SRC in one
    transaction of DST; then checks both sides (rows and a digest per table, both audit
    chains, the same head). The copy is logged in SRC's audit log first, so both hold the
    same chain; it keeps the gallery's id: use the copy from then on, not both. On a
    gallery with users, an administrator signs in. Ctrl-C leaves DST as it was."""
    line = StatusLine(quiet)
    with Gallery.open(source) as gallery:
        user_id = user_id_if_staffed(gallery, user, "change_settings")
        final = run(lambda cancel: copy_gallery(gallery, destination,
                                                user_id=user_id, source_name=str(source),
                                                cancel=cancel),
                    show=lambda ev: show_copy(line, ev),
                    stopped=lambda ev: ev.phase == "cancelled",
                    cancelled="\ncancelled: the destination was left as it was")
    r = final.result
    assert r is not None
    if as_json:
        emit_json(r.as_dict())
        return
    line.show("", final=True)
    click.echo(f"copied {r.source} to {r.destination}: {r.rows:,} rows in "
               f"{len(r.tables)} tables, {r.events:,} audit events (head event "
               f"{r.head_seq}, hash {r.head_hash})")
    click.echo("  verified: every table's rows and digest equal on both sides; both audit "
               "logs verify and end at the same head")
