"""`facedesk rerun`: a case's probes searched again against the faces imported since each
probe's last search (facedesk.app.rerun), or the list of open cases with no possible lead
that new faces arrived for."""

from __future__ import annotations

from pathlib import Path

import click

from facedesk.app import rerun
from facedesk.cli import options
from facedesk.cli.options import db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json
from facedesk.cli.progress import run
from facedesk.cli.signin import signed_in
from facedesk.store import Gallery


@click.command("rerun")
@db_option()
@user_option()
@click.option("--case", "case_number", metavar="NUMBER",
              help="Search this open case's probes again, each against the faces imported "
                   "since its last search.")
@click.option("--list", "list_waiting", is_flag=True,
              help="List the open cases with no possible lead for which new faces arrived "
                   "since their last search.")
@options.detector_option()
@options.jitters_option()
@json_option()
@options.quiet_option()
def rerun_cmd(db: Path, user: str | None, case_number: str | None, list_waiting: bool,
              detector: str, jitters: int, as_json: bool, quiet: bool) -> None:
    """Re-run a case against new bookings: each probe of the case (its stored image and
    face box) is searched against the faces imported since that probe's last search; the
    new searches are recorded in the case and the audit log, and candidates that no
    earlier search of that probe showed are marked NEW. A probe whose image was purged
    cannot be re-run: it is named. With --list: the cases waiting for a re-run."""
    if list_waiting == (case_number is not None):
        raise click.UsageError("give --case NUMBER to re-run a case, or --list")
    with Gallery.open(db) as gallery:
        if list_waiting:
            found = rerun.waiting_cases(signed_in(gallery, user, "read_cases"))
            if as_json:
                emit_json([w.as_dict() for w in found])
                return
            if not found:
                click.echo("no open case without a possible lead has new faces to search")
            for w in found:
                skipped = f"; {w.not_rerunnable} probe(s) cannot be re-run" \
                    if w.not_rerunnable else ""
                echo(f"case {w.case.number}: {w.probes} probe(s) with new faces (up to "
                     f"{w.new_faces:,} faces imported since the last search, "
                     f"{w.last_search_at}){skipped}; facedesk rerun --case {w.case.number}")
            return
        assert case_number is not None
        session = signed_in(gallery, user, "search")
        engine = options.engine_spec(detector, jitters).create()
        quiet = quiet or as_json

        def show(ev: rerun.RerunProgress) -> None:
            if not quiet and ev.result is None and ev.probe:
                click.echo(f"{ev.done}/{ev.total} {ev.probe}", err=True)

        last = run(lambda cancel: rerun.rerun_steps(session, case_number, engine,
                                                    cancel=cancel),
                   show=show, stopped=lambda ev: ev.result is not None and ev.result.cancelled,
                   cancelled="\ncancelled: the probes searched so far stay recorded")
    report = last.result
    assert report is not None
    if as_json:
        emit_json(report.as_dict())
        return
    echo(f"re-ran case {report.case.number}: {len(report.searches)} new search(es)")
    for p in report.probes:
        head = f"  {p.probe_name} (sha256 {p.probe_sha256[:12]}…, box {p.probe_box}): "
        s = p.search
        if s is None:
            echo(head + f"{p.outcome}: {p.reason}" if p.reason else head + p.outcome)
            continue
        n, persons = len(s.result.candidates), s.result.persons_searched
        echo(head + f"search {s.id}: {p.new_faces:,} new face{'' if p.new_faces == 1 else 's'}"
                    f" ({persons:,} person{'' if persons == 1 else 's'}) searched, {n} "
                    f"candidate{'' if n == 1 else 's'} within the threshold, "
                    f"{len(p.new_persons)} new")
        for c in s.result.candidates:
            mark = "  NEW" if c.person_id in p.new_persons else ""
            echo(f"    {c.rank:>3}  {c.distance:.4f}  {c.person_id}{mark}")


COMMANDS: list[click.Command] = [rerun_cmd]
