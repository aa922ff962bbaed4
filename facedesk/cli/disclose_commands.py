"""`facedesk disclose`: a case's disclosure package (facedesk.app.disclosure)."""

from __future__ import annotations

from pathlib import Path

import click

from facedesk.app import disclosure
from facedesk.cli import options
from facedesk.cli.options import db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json
from facedesk.cli.progress import run
from facedesk.cli.signin import signed_in
from facedesk.store import Gallery


@click.command("disclose")
@db_option()
@user_option()
@click.option("--case", "case_number", metavar="NUMBER", required=True,
              help="The case to disclose (open or closed).")
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write the package folder into.")
@json_option()
@options.quiet_option()
def disclose_cmd(db: Path, user: str | None, case_number: str, out_dir: Path,
                 as_json: bool, quiet: bool) -> None:
    """Write a case's disclosure package (supervisors and administrators): every search
    of the case, those with no candidate within the threshold too, each candidate list,
    every decision and second review, the engine, gallery and calibration used, the
    system's name and version, and the case's audit events with the audit log's head,
    as one PDF plus JSON and CSV files, with a manifest of every file's SHA-256; logged
    as an export."""
    quiet = quiet or as_json
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "disclose")

        def show(ev: disclosure.DisclosureProgress) -> None:
            if not quiet and ev.result is None:
                click.echo(f"{ev.done}/{ev.total} {ev.step}", err=True)

        last = run(lambda cancel: disclosure.disclose_steps(session, case_number, out_dir,
                                                            cancel=cancel),
                   show=show, stopped=lambda ev: ev.result is None,
                   cancelled="\ncancelled: no package was written")
    pkg = last.result
    assert pkg is not None
    if as_json:
        emit_json(pkg.as_dict())
        return
    echo(f"wrote the disclosure package of case {case_number} to {pkg.folder}: "
         f"{pkg.searches} searches, {pkg.decisions} decisions, {pkg.events} audit events, "
         f"{len(pkg.files)} files")
    echo(f"manifest.json SHA-256 {pkg.manifest_sha256} (logged with the export)")


COMMANDS: list[click.Command] = [disclose_cmd]
