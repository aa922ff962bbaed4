"""`facedesk import`: photos into a gallery, with progress on stderr and Ctrl-C keeping what
is imported (facedesk.app.importer.run_import)."""

from __future__ import annotations

from pathlib import Path

import click

from facedesk.app.importer import ImportOptions, ImportProgress, import_detect_options, run_import
from facedesk.cli import options
from facedesk.cli.output import emit_json, note, printable
from facedesk.cli.progress import StatusLine, run
from facedesk.cli.signin import first_admin_hint, user_id_if_staffed
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, FRAME, check_step
from facedesk.domain.formatting import compact_duration
from facedesk.store import Gallery


def _fallback_steps(ctx: click.Context, param: click.Parameter,
                    value: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(check_step(v.strip().lower()) for v in value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def show_import(line: StatusLine, ev: ImportProgress) -> None:
    """done/total, rate, ETA and failures: redrawn in place on a terminal, a line every
    few seconds otherwise."""
    if ev.phase == "listing":
        line.note(f"found {ev.total} items; starting the face engine...")
        return
    final = ev.phase == "finished"
    c = ev.counts
    eta = "" if ev.eta_s is None or final else f", ETA {compact_duration(ev.eta_s)}"
    line.show(f"{ev.done}/{ev.total} photos ({ev.rate:.1f}/s{eta}) new {c.imported}, "
              f"already stored {c.already_stored}, no face {c.no_face}, failed {c.failed}",
              final=final)


@click.command("import")
@click.argument("source", required=False, type=click.Path(path_type=Path))
@options.db_option()
@click.option("--manifest", type=click.Path(path_type=Path, dir_okay=False),
              help="CSV with 'path' (relative to the CSV) and 'person_id' columns; other "
                   "columns are kept as metadata. SOURCE, if given, is then the photo folder.")
@click.option("--workers", type=click.IntRange(0, 256), default=0,
              help="Worker processes (default: one per core).")
@click.option("--layout", type=click.Choice(["auto", "folders", "flat"]), default="auto",
              show_default=True,
              help="Folder sources: 'folders' = one sub-folder per person, 'flat' = each "
                   "photo its own person (or see --person-pattern).")
@click.option("--person-pattern", metavar="REGEX",
              help="Flat folders: regex on the file name whose group 'person' (or first "
                   "group) is the person id, e.g. '^(?P<person>\\d+)_'.")
@options.upsample_option(1)
@options.detect_max_side_option(1024)
@options.detector_option()
@click.option("--recover/--no-recover", default=True, show_default=True,
              help="When the detector finds no face in a photo, look again with the "
                   f"fallback steps (default: {', '.join(DEFAULT_IMPORT_FALLBACKS)}); costs "
                   "time only on photos without a face. Each stored face records the step "
                   "that found it.")
@click.option("--fallback", "fallbacks", multiple=True, metavar="STEP",
              callback=_fallback_steps,
              help="A fallback step, tried in the order given (repeat the option), instead "
                   "of the default ones: hog:N or cnn:N (HOG or CNN detector, photo doubled "
                   f"N times) or {FRAME} (take the central region of a small, tightly cropped "
                   "photo as the face: a guess no detector confirms).")
@options.jitters_option()
@options.user_option()
@options.json_option("Print the run summary as JSON.")
@options.quiet_option()
def import_cmd(source: Path | None, db: Path, manifest: Path | None, workers: int,
               layout: str, person_pattern: str | None, upsample: int, detect_max_side: int,
               detector: str, recover: bool, fallbacks: tuple[str, ...], jitters: int,
               user: str | None, as_json: bool, quiet: bool) -> None:
    """Import photos into a gallery (created if needed): SOURCE is a folder with one
    sub-folder per person, a flat folder, or a CSV manifest. Re-running imports only
    what is new; an interrupted import resumes where it stopped. Once the gallery has
    users, the import needs a signed-in user allowed to import."""
    if fallbacks and not recover:
        raise click.UsageError("--fallback and --no-recover contradict each other")
    detect = import_detect_options(upsample, detect_max_side,
                                   fallbacks=fallbacks or (None if recover else ()))
    import_options = ImportOptions(workers=workers, layout=layout,
                                   person_pattern=person_pattern, detect=detect)
    line = StatusLine(quiet)
    with Gallery.open(db, create=True) as gallery:
        user_id = user_id_if_staffed(gallery, user)  # run_import checks the permission

        def kept() -> None:
            last = gallery.last_run()
            if as_json and last is not None:
                emit_json({"gallery": str(db), "run": last.as_dict(), "status": "cancelled"})

        final = run(lambda cancel: run_import(
            gallery, source, manifest=manifest, options=import_options,
            engine=options.engine_spec(detector, jitters), cancel=cancel, user_id=user_id),
            show=lambda ev: show_import(line, ev), on_cancel=kept,
            cancelled="\ncancelled: what was imported so far is kept; run the same command "
                      "again to resume")
        summary = final.summary()
        totals = gallery.counts()
    if user_id is None and not quiet:
        note(f"note: {first_admin_hint(db)}; until then anyone may import into it "
             "and nobody can search it")
    if as_json:
        emit_json({"gallery": str(db), **summary, "gallery_totals": totals})
        return
    c = final.counts
    click.echo(f"import {final.status} in {compact_duration(final.elapsed_s)} "
               f"({final.rate:.1f} photos/s) into {db}")
    click.echo(f"  items in source   {c.total}")
    click.echo(f"  newly stored      {c.imported}  (no face: {c.no_face}, "
               f"several faces, subject kept: {c.multi_face})")
    click.echo(f"  already stored    {c.already_stored}")
    click.echo(f"  duplicates        {c.duplicates}")
    click.echo(f"  failed            {c.failed}")
    click.echo(f"gallery now: {totals['persons']} persons, {totals['photos']} photos, "
               f"{totals['faces']} faces")
    problems = [p for p in final.problems if p.code != "no_face"]
    if problems:
        click.echo("problems:")
        for p in problems[:50]:
            click.echo(f"  {printable(p.path)}: {printable(p.reason)}")
        if len(problems) > 50:
            click.echo(f"  ... and {len(problems) - 50} more (--json lists them all)")
