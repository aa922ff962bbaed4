"""The hash-chained audit log on the command line: verify it (or an export of it), export
it, record a baseline, show it (facedesk.app.audit)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from facedesk.app import audit, cases
from facedesk.cli.options import db_option, json_option, user_option
from facedesk.cli.output import EXIT_CHECK_FAILED, echo, emit_json, short
from facedesk.cli.progress import StatusLine, run
from facedesk.cli.signin import signed_in, user_id_if_staffed
from facedesk.domain.progress import CancelToken
from facedesk.errors import FaceDeskError
from facedesk.store import Gallery

# --- the audit log ------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log: verify it, export it, show it."""


_Step = TypeVar("_Step", audit.VerifyProgress, audit.ExportProgress)


def _run_audit_job(start: Callable[[CancelToken], Iterator[_Step]]) -> _Step:
    """Run an audit verify/export generator: its step on stderr when it runs for more
    than a second; Ctrl-C cancels (nothing is written) and exits 130."""
    line = StatusLine(redraw=False, delay_s=1.0)

    def show(ev: _Step) -> None:
        count = f" {ev.done:,}/{ev.total:,}" if ev.total else ""
        line.show(f"audit log: {ev.step}{count}")

    return run(start, show=show, stopped=lambda ev: ev.result is None,
               cancelled="cancelled: nothing was written")


def _report(v: audit.Verification, as_json: bool) -> None:
    if as_json:
        emit_json(v.as_dict())
    else:
        click.echo(v.summary())
        if v.ok and v.head_hash:
            click.echo(f"head to keep: event {v.head_seq} hash {v.head_hash}")
    if not v.ok:
        sys.exit(EXIT_CHECK_FAILED)


@audit_group.command("verify")
@db_option()
@click.option("--head", metavar="HASH_OR_FILE",
              help="A head hash printed earlier, or an exported audit-log.json: the log must "
                   "still hold it (finds a truncated tail).")
@click.option("--no-witness", "no_witness", is_flag=True,
              help="Do not compare with the external witness of the head (an older copy or a "
                   "backup of a gallery that has moved on since).")
@json_option()
def audit_verify(db: Path, head: str | None, no_witness: bool, as_json: bool) -> None:
    """Check the gallery's audit log: the hash chain; the schema (no trigger, view, table or
    index FaceDesk did not make); every user, case, setting, calibration, search, decision,
    second review, person, photo and face against the digest its last event logged; the
    stored records against their events; and the head against the external witness in your
    data folder. Exit code 0 intact, 1 failed. Needs no sign-in."""
    expect_hash, expect_seq = audit.read_expected_head(head) if head else (None, None)
    if head and not expect_hash:
        raise FaceDeskError(f"{head}: no head hash in it")
    with Gallery.open(db) as gallery:
        v = _run_audit_job(lambda cancel: audit.verify_steps(
            gallery, expect_head=expect_hash, expect_seq=expect_seq,
            use_witness=not no_witness, cancel=cancel)).result
    assert v is not None
    _report(v, as_json)


@audit_group.command("baseline")
@db_option()
@user_option()
@json_option()
def audit_baseline(db: Path, user: str | None, as_json: bool) -> None:
    """Record the digests of records no event has recorded yet (a gallery made before
    FaceDesk logged them), so that later changes to them are found (administrators).
    It vouches for nothing before it; records already recorded are never re-recorded."""
    with Gallery.open(db) as gallery:
        user_id = user_id_if_staffed(gallery, user, "change_settings")
        ev = audit.baseline(gallery, user_id=user_id)
    counts = {} if ev is None else ev.data["counts"]
    if as_json:
        emit_json({"event": None if ev is None else ev.seq, "counts": counts})
    elif ev is None:
        click.echo("every record already has a digest in the audit log: nothing to record")
    else:
        click.echo(f"baseline recorded as audit event {ev.seq}: " + ", ".join(
            f"{n} {t}" for t, n in counts.items()))


@audit_group.command("verify-export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option()
def audit_verify_export(path: Path, as_json: bool) -> None:
    """Check an exported audit-log.json on its own (no gallery needed). Exit code 0 intact,
    1 failed."""
    try:
        v = _run_audit_job(lambda cancel: audit.verify_export_steps(path, cancel=cancel)).result
    except (ValueError, KeyError, TypeError) as exc:
        raise FaceDeskError(f"{path}: not a FaceDesk audit log export ({exc})") from None
    assert v is not None
    _report(v, as_json)


@audit_group.command("export")
@db_option()
@user_option()
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="The folder for audit-log.json and audit-log.csv.")
@json_option()
def audit_export(db: Path, user: str | None, out_dir: Path, as_json: bool) -> None:
    """Export the whole log (JSON and CSV); prints the head to keep (administrators and
    supervisors)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "export_audit")
        head = _run_audit_job(lambda cancel: cases.export_audit_steps(
            session, out_dir, cancel=cancel)).result
    assert head is not None
    if as_json:
        emit_json(head.as_dict())
        return
    click.echo(f"exported {head.events} events to {head.json} and {head.csv}")
    click.echo(f"head to keep: event {head.seq} hash {head.hash}")


@audit_group.command("show")
@db_option()
@user_option()
@click.option("--case", "case_number", metavar="NUMBER", help="Only this case's events.")
@click.option("--last", type=click.IntRange(1, None), help="Only the last N events.")
@json_option()
def audit_show(db: Path, user: str | None, case_number: str | None, last: int | None,
               as_json: bool) -> None:
    """List audit events, oldest first."""
    with Gallery.open(db) as gallery:
        view = cases.audit_view(signed_in(gallery, user, "read_cases"),
                                case=case_number or None, limit=last)
    if as_json:
        emit_json([e.as_dict() for e in view.events])
        return
    for e in view.events:
        number = view.case_number(e)
        case = f" case {number}" if number is not None else ""
        echo(f"{e.seq:>6}  {e.at}  {e.user_id or '-':<12} {e.label}{case}: "
             f"{short(audit.canonical(e.data), 120)}")


COMMANDS: list[click.Command] = [audit_group]
