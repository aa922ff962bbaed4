"""Accountability on the command line: signing in, users, settings, cases, decisions, the
second review of possible leads, lead sheets, the audit log and retention.

A thin layer over facedesk.app.accounts, cases and audit: every rule is checked there.
Commands that act sign in first (`signed_in`): `--user NAME` (or FACEDESK_USER) with the
password in FACEDESK_PASSWORD or typed at a hidden prompt, or, without --user, the user an
administrator mapped to this OS account. Every sign-in is an audit event.

facedesk/cli.py registers COMMANDS and turns FaceDeskError into one-line messages.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import ROLES, SETTING_NAMES, Session
from facedesk.app.review import DECISIONS
from facedesk.errors import AccountError, FaceDeskError
from facedesk.store import Gallery

F = TypeVar("F", bound=Callable[..., Any])

PASSWORD_ENV = "FACEDESK_PASSWORD"
NEW_PASSWORD_ENV = "FACEDESK_NEW_PASSWORD"
USER_ENV = "FACEDESK_USER"

EXIT_FAILED = 1


def _emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False, default=str))


def interactive() -> bool:
    """Whether a person can be asked for a password (stdin is a terminal)."""
    return sys.stdin.isatty()


db_option = click.option(
    "--db", "db", required=True, type=click.Path(path_type=Path, dir_okay=False),
    help="The gallery file (one SQLite file per gallery).")
user_option = click.option(
    "--user", "user", envvar=USER_ENV, metavar="NAME",
    help=f"Sign in as this FaceDesk user (or set {USER_ENV}); the password is read from "
         f"{PASSWORD_ENV} or asked for. Without it: the user mapped to your OS account.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# --- signing in ------------------------------------------------------------------------------


def first_admin_hint(db: Path | str) -> str:
    return (f"{db} has no users yet: create its first administrator with "
            f"`facedesk users init --db {db} --user NAME --name \"Full Name\" "
            "--password-prompt` (or --os-account ACCOUNT)")


def signed_in(gallery: Gallery, user: str | None, action: str | None = None) -> Session:
    """Sign in to `gallery` for a command (and check `action` is permitted): as `user` with
    a password, or as the user mapped to this OS account when `user` is None."""
    if not accounts.has_users(gallery):
        raise AccountError(first_admin_hint(gallery.path))
    if user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not interactive():
                raise AccountError(f"no password for {user}: set {PASSWORD_ENV}, or run the "
                                   "command in a terminal to be asked for it")
            password = click.prompt(f"FaceDesk password for {user}", hide_input=True,
                                    err=True)
        session = accounts.sign_in(gallery, user, password)
    else:
        try:
            session = accounts.sign_in_os(gallery)
        except AccountError as exc:
            raise AccountError(f"{exc.message} (--user NAME, or set {USER_ENV})") from None
    if session.read_only:
        click.echo(f"note: {gallery.read_only_message('your sign-in')}; only commands that "
                   "read can run", err=True)
    if action is not None:
        session.require(action)
    return session


def printable(text: object) -> str:
    """`text` for a terminal: control characters a name or file name may hold (a new line,
    a carriage return, a terminal escape sequence) shown as escapes, so each record stays
    on its line and cannot redraw the screen."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def new_password(asked: bool, *, only_when_asked: bool = False) -> str | None:
    """The password for a new user or a password change: FACEDESK_NEW_PASSWORD when set,
    else typed twice at a hidden prompt when `asked` (the --password-prompt flag). With
    `only_when_asked`, None unless asked."""
    value = os.environ.get(NEW_PASSWORD_ENV)
    if value is not None and (asked or not only_when_asked):
        return value
    if not asked:
        return None
    if not interactive():
        raise AccountError(f"cannot ask for the new password here (not a terminal): set "
                           f"{NEW_PASSWORD_ENV}")
    typed: str = click.prompt("New password", hide_input=True, confirmation_prompt=True,
                              err=True)
    return typed


def open_case_of(gallery: Gallery, number: str) -> cases.Case:
    """The open case `number` (a closed case is read-only)."""
    return cases.require_open(cases.get_case(gallery, number),
                              then="open a new case (facedesk case open)")


#: in place of an analyst's rationale that blind second review keeps from the reader
def _echo_printable(text: str) -> None:
    click.echo(printable(text))


def _short(text: str, width: int = 100) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 1] + "…"


# --- users ---------------------------------------------------------------------------------


@click.group("users")
def users_group() -> None:
    """The gallery's users and their roles (administrators only, except `init`)."""


def _user_line(u: accounts.User, locked: bool = False) -> str:
    how = ", ".join(x for x in ("password" if u.has_password else "",
                                f"OS account {u.os_account}" if u.os_account else "") if x)
    state = ("" if u.active else "  (deactivated)") + \
        ("  (locked after failed sign-ins: facedesk users unlock)" if locked else "")
    return printable(f"  {u.id:<16} {u.role_label:<14} {u.display_name}  [{how}]{state}")


@users_group.command("init")
@db_option
@click.option("--user", "user_id", required=True, metavar="NAME",
              help="The administrator's user name (one word, e.g. jdoe).")
@click.option("--name", "display_name", required=True, help="Their full name.")
@click.option("--os-account", metavar="ACCOUNT",
              help="Sign them in as this OS account, without a password.")
@click.option("--password-prompt", is_flag=True,
              help=f"Set a password (typed twice at a prompt, or from {NEW_PASSWORD_ENV}).")
def users_init(db: Path, user_id: str, display_name: str, os_account: str | None,
               password_prompt: bool) -> None:
    """Create the first administrator of a gallery that has no users yet (the gallery is
    created if needed). From then on, every action needs a signed-in user."""
    with Gallery.open(db, create=True) as gallery:
        if accounts.has_users(gallery):
            raise AccountError(f"{db} already has users: an administrator adds more "
                               "(facedesk users add)")
        password = new_password(password_prompt)
        if password is None and not os_account:
            raise AccountError("give the administrator a password (--password-prompt) or an "
                               "OS account (--os-account), or both")
        session = accounts.create_first_administrator(
            gallery, user_id, display_name, password=password, os_account=os_account)
    _echo_printable(f"created the first administrator of {db}: {session.user.label}")


@users_group.command("add")
@click.argument("new_user")
@db_option
@user_option
@click.option("--name", "display_name", required=True, help="The new user's full name.")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--os-account", metavar="ACCOUNT",
              help="Sign them in as this OS account, without a password.")
@click.option("--password-prompt", is_flag=True,
              help=f"Set a password (typed twice at a prompt, or from {NEW_PASSWORD_ENV}).")
def users_add(new_user: str, db: Path, user: str | None, display_name: str, role: str,
              os_account: str | None, password_prompt: bool) -> None:
    """Add a user (administrators only). They need a password or an OS account."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "manage_users")
        added = session.add_user(new_user, display_name, role,
                                 password=new_password(password_prompt),
                                 os_account=os_account)
    _echo_printable(f"added {added.label}")


@users_group.command("change")
@click.argument("target")
@db_option
@user_option
@click.option("--name", "display_name", help="A new full name.")
@click.option("--role", type=click.Choice(list(ROLES)))
@click.option("--active/--inactive", "active", default=None,
              help="Reactivate or deactivate the user (a deactivated user cannot sign in).")
@click.option("--os-account", metavar="ACCOUNT",
              help="Map this OS account to the user ('' removes the mapping).")
@click.option("--new-password-prompt", is_flag=True,
              help=f"Set a new password (typed twice, or from {NEW_PASSWORD_ENV}).")
def users_change(target: str, db: Path, user: str | None, display_name: str | None,
                 role: str | None, active: bool | None, os_account: str | None,
                 new_password_prompt: bool) -> None:
    """Change a user's role, name, OS account or password, or (de)activate them
    (administrators only)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "manage_users")
        password = new_password(new_password_prompt, only_when_asked=True)
        changed = session.change_user(
            target, role=role, active=active, password=password,
            os_account=os_account or None, clear_os_account=os_account == "",
            display_name=display_name)
    _echo_printable(f"changed {changed.label}{'' if changed.active else ' (deactivated)'}")


@users_group.command("list")
@db_option
@user_option
@json_option
def users_list(db: Path, user: str | None, as_json: bool) -> None:
    """List the gallery's users and roles."""
    with Gallery.open(db) as gallery:
        signed_in(gallery, user, "list_users")
        everyone = accounts.users(gallery)
        locked = accounts.locked_users(gallery)
    if as_json:
        _emit_json([{"id": u.id, "display_name": u.display_name, "role": u.role,
                     "os_account": u.os_account, "active": u.active,
                     "has_password": u.has_password, "locked": u.id in locked}
                    for u in everyone])
        return
    click.echo(f"{len(everyone)} user{'s' if len(everyone) != 1 else ''}:")
    for u in everyone:
        click.echo(_user_line(u, u.id in locked))


@users_group.command("unlock")
@click.argument("target")
@db_option
@user_option
def users_unlock(target: str, db: Path, user: str | None) -> None:
    """Lift a user's lock (and back-off) after failed password sign-ins (administrators
    only). A lock also lifts by itself after lockout_minutes (facedesk settings)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "manage_users")
        unlocked = session.unlock_user(target)
    click.echo(printable(f"unlocked {unlocked.label}: their password sign-in works again"))


# --- settings ------------------------------------------------------------------------------


@click.group("settings")
def settings_group() -> None:
    """The administrator's settings: two-person rule, blind review, retention, threshold,
    top-K, purposes, training gallery."""


def _setting_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if name == "purposes":
        return "; ".join(value)
    if name == "import_roots":
        return os.pathsep.join(value) or "none"
    return str(value)


@settings_group.command("show")
@db_option
@json_option
def settings_show(db: Path, as_json: bool) -> None:
    """Show the gallery's settings (no sign-in needed)."""
    with Gallery.open(db) as gallery:
        s = accounts.settings(gallery)
    if as_json:
        _emit_json(s.as_dict())
        return
    for name in SETTING_NAMES:
        if name == "purposes":
            click.echo("purposes:")
            for i, p in enumerate(s.purposes, 1):
                _echo_printable(f"  {i}. {p}")
        else:
            _echo_printable(f"{name:<20} {_setting_text(name, getattr(s, name))}")


@settings_group.command("set")
@click.argument("name", type=click.Choice(list(SETTING_NAMES)))
@click.argument("value")
@db_option
@user_option
def settings_set(name: str, value: str, db: Path, user: str | None) -> None:
    """Change a setting (administrators only). On/off settings take on or off;
    retention_days a number of days or none; purposes a list separated by ';'."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "change_settings")
        s = session.set_setting(name, accounts.parse_setting(name, value))
    click.echo(f"{name} = {_setting_text(name, getattr(s, name))}")


# --- folders a manifest may name by absolute path ------------------------------------------


@click.group("import-roots")
def import_roots_group() -> None:
    """Folders whose photos a manifest may name by absolute path (many booking systems
    export such manifests). Other absolute paths, and relative ones leading out of the
    manifest's folder, are refused."""


def _change_roots(db: Path, user: str | None, folder: Path, add: bool) -> list[str]:
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "change_settings")
        roots = list(session.settings().import_roots)
        target = os.path.normpath(os.path.realpath(folder))
        if add:
            if not folder.is_dir():
                raise AccountError(f"{folder}: no such folder")
            roots.append(target)
        elif target in roots or os.path.normpath(os.path.abspath(folder)) in roots:
            roots = [r for r in roots if r not in (target, os.path.normpath(
                os.path.abspath(folder)))]
        else:
            raise AccountError(f"{folder} is not an allowed import folder (facedesk "
                               f"import-roots list --db {db})")
        return session.set_setting("import_roots", roots).import_roots


@import_roots_group.command("add")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@db_option
@user_option
def import_roots_add(folder: Path, db: Path, user: str | None) -> None:
    """Allow manifests to name photos under FOLDER by absolute path (administrators only;
    logged as a setting change)."""
    roots = _change_roots(db, user, folder, True)
    click.echo(printable(f"import folders: {', '.join(roots)}"))


@import_roots_group.command("remove")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@db_option
@user_option
def import_roots_remove(folder: Path, db: Path, user: str | None) -> None:
    """No longer allow absolute paths under FOLDER (administrators only)."""
    roots = _change_roots(db, user, folder, False)
    click.echo(printable(f"import folders: {', '.join(roots) or 'none'}"))


@import_roots_group.command("list")
@db_option
def import_roots_list(db: Path) -> None:
    """The folders manifests may name by absolute path (no sign-in needed, like
    `settings show`)."""
    with Gallery.open(db) as gallery:
        roots = accounts.settings(gallery).import_roots
    for r in roots:
        click.echo(printable(r))
    if not roots:
        click.echo("none: manifests name photos relative to their own folder")


# --- cases ------------------------------------------------------------------------------------


@click.group("case")
def case_group() -> None:
    """Cases: every search belongs to an open case."""


def _purpose(gallery: Gallery, text: str) -> str:
    """A purpose as typed: its text, or its number in the administrator's list."""
    purposes = accounts.settings(gallery).purposes
    if text.strip().isdigit() and 1 <= int(text) <= len(purposes):
        return purposes[int(text) - 1]
    return text


@case_group.command("open")
@click.argument("number")
@db_option
@user_option
@click.option("--purpose", required=True,
              help="One of the administrator's purposes (its text or its number, see "
                   "`facedesk settings show`), or 'Other' with --detail.")
@click.option("--detail", default="", help="What the case is about (required for Other).")
def case_open(number: str, db: Path, user: str | None, purpose: str, detail: str) -> None:
    """Open a case NUMBER for a documented purpose."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "open_case")
        case = cases.open_case(session, number, _purpose(gallery, purpose), detail)
    _echo_printable(f"opened {case.label}")


@case_group.command("list")
@db_option
@user_option
@click.option("--all", "show_all", is_flag=True, help="Closed cases too.")
@json_option
def case_list(db: Path, user: str | None, show_all: bool, as_json: bool) -> None:
    """List the open cases (with --all, the closed ones too), newest first."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "read_cases")
        found = cases.visible_cases(session, open_only=not show_all)
        counts = {c.id: (len(cases.searches(gallery, c.id)), len(cases.results(gallery, c.id)))
                  for c in found}
    if as_json:
        _emit_json([{**c.as_dict(), "searches": counts[c.id][0],
                     "confirmed_leads": counts[c.id][1]} for c in found])
        return
    if not found:
        click.echo("no open cases" if not show_all else "no cases")
        return
    for c in found:
        n_s, n_r = counts[c.id]
        click.echo(printable(
            f"{c.label}  — opened by {c.opened_by} {c.opened_at}; {n_s} search"
            f"{'es' if n_s != 1 else ''}, {n_r} confirmed lead{'s' if n_r != 1 else ''}"))


@case_group.command("show")
@click.argument("number")
@db_option
@user_option
@json_option
def case_show(number: str, db: Path, user: str | None, as_json: bool) -> None:
    """A case's searches, the candidates each one showed, the decisions with their status
    and the second reviews."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "read_cases")
        case = cases.readable_case(session, number)
        found = [s.as_dict() for s in cases.searches(gallery, case.id)]
        hidden = cases.hidden_rationales(gallery, session.user_id, case.id)
        decided = [{**d.as_dict(), "rationale": cases.BLIND_HIDDEN} if d.id in hidden
                   else d.as_dict() for d in cases.decisions(gallery, case.id)]
    if as_json:
        _emit_json({"case": case.as_dict(), "searches": found, "decisions": decided,
                    "results": [d["id"] for d in decided if d["status"] == "confirmed"]})
        return
    echo = _echo_printable
    detail = f" — {case.purpose_detail}" if case.purpose_detail else ""
    echo(f"{case.label}{detail}")
    echo(f"  opened by {case.opened_by} {case.opened_at}")
    if not case.is_open:
        note = f": {case.closing_note}" if case.closing_note else ""
        echo(f"  closed by {case.closed_by} {case.closed_at}{note}")
    echo(f"searches ({len(found)}):")
    for s in found:
        state = "  [purged]" if s["purged_at"] else ""
        echo(f"  search {s['id']} {s['created_at']} by {s['user_id']}: probe "
             f"{s['probe_name']} (sha256 {s['probe_sha256'][:12]}…), "
             f"{s['persons_searched']} persons searched, threshold {s['threshold']:.2f}, "
             f"top {s['top_k']}: {len(s['candidates'])} "
             f"candidate{'' if len(s['candidates']) == 1 else 's'} shown{state}")
        for c in s["candidates"]:
            echo(f"    {c['rank']:>3}  {c['distance']:.4f}  {c['person_id']}")
    echo(f"decisions ({len(decided)}):")
    for d in decided:
        echo(f"  decision {d['id']} {d['created_at']} by {d['reviewer']}: candidate "
             f"{d['rank']} of search {d['search_id']} ({d['person_id']}, distance "
             f"{d['distance']:.4f}): {DECISIONS.get(d['decision'], d['decision'])} — "
             f"{cases.LEAD_STATUS[d['status']]}")
        echo(f"      rationale: {_short(d['rationale'])}")
        r = d["review"]
        if r:
            echo(f"      second review {r['id']} by {r['reviewer']} {r['created_at']}: "
                 f"{cases.VERDICTS.get(r['verdict'], r['verdict'])}"
                 f"{' (blind)' if r['blind'] else ''} — {_short(r['rationale'])}")
    results = [d for d in decided if d["status"] == "confirmed"]
    if results:
        echo("case results (confirmed possible leads): " + ", ".join(
            f"decision {d['id']} ({d['person_id']})" for d in results))


@case_group.command("close")
@click.argument("number")
@db_option
@user_option
@click.option("--note", default="", help="Why the case is closed.")
def case_close(number: str, db: Path, user: str | None, note: str) -> None:
    """Close a case: it becomes read-only."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "close_case")
        case = cases.close_case(session, open_case_of(gallery, number), note)
    click.echo(printable(f"closed {case.label}"))


# --- decisions and the second review ---------------------------------------------------------


@click.command("decide")
@db_option
@user_option
@click.option("--search", "search_id", type=int, required=True,
              help="The search id that `facedesk search` printed.")
@click.option("--rank", type=click.IntRange(1, None), required=True,
              help="The candidate's rank in that search.")
@click.option("--decision", type=click.Choice(list(DECISIONS)), required=True)
@click.option("--rationale", required=True, help="What you compared and saw.")
def decide(db: Path, user: str | None, search_id: int, rank: int, decision: str,
           rationale: str) -> None:
    """Record your decision on one candidate of a search."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "decide")
        d = cases.decide(session, search_id, rank, decision, rationale)
    _echo_printable(f"decision {d.id} recorded: candidate {rank} ({d.person_id}) of "
                    f"search {search_id}: {DECISIONS[decision]} — "
                    f"{cases.LEAD_STATUS[d.status]}")
    if d.status == "pending":
        click.echo("a supervisor reviews it: facedesk leads review "
                   f"{d.id} --db {db} --verdict confirmed|overturned --rationale ...")


@click.group("leads")
def leads_group() -> None:
    """Possible leads and their second review by a supervisor."""


@leads_group.command("pending")
@db_option
@user_option
@json_option
def leads_pending(db: Path, user: str | None, as_json: bool) -> None:
    """Possible leads waiting for a second review, oldest first."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "read_cases")
        visible = {c.id for c in cases.visible_cases(session)}
        pending = [d for d in cases.pending_leads(gallery) if d.case_id in visible]
        hidden = cases.hidden_rationales(gallery, session.user_id)
    waiting = [{**d.as_dict(), "rationale": None} if d.id in hidden else d.as_dict()
               for d in pending]
    if as_json:
        _emit_json(waiting)
        return
    if not waiting:
        click.echo("no possible leads waiting for a second review")
        return
    for d in waiting:
        _echo_printable(f"decision {d['id']}  case {d['case_number']}  by {d['reviewer']} "
                        f"{d['created_at']}: candidate {d['rank']} of search "
                        f"{d['search_id']} ({d['person_id']}, distance {d['distance']:.4f})")
        _echo_printable(f"    rationale: {_short(d['rationale'] or cases.BLIND_HIDDEN)}")


@leads_group.command("review")
@click.argument("decision_id", type=int)
@db_option
@user_option
@click.option("--verdict", type=click.Choice(list(cases.VERDICTS)), required=True)
@click.option("--rationale", required=True, help="What you compared and saw.")
@click.option("--blind", is_flag=True,
              help="You reviewed without reading the analyst's rationale.")
def leads_review(decision_id: int, db: Path, user: str | None, verdict: str, rationale: str,
                 blind: bool) -> None:
    """Confirm or overturn a pending possible lead (supervisors only; not your own)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "review_lead")
        blind = blind or session.settings().blind_second_review
        d = cases.review_lead(session, decision_id, verdict, rationale, blind=blind)
    _echo_printable(f"decision {decision_id} ({d.person_id}, case {d.case_number}): "
                    f"{cases.LEAD_STATUS[d.status]}")


@click.command("lead-sheet")
@click.argument("decision_id", type=int)
@db_option
@user_option
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write the lead sheet into.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "html", "both"]), default="both",
              show_default=True)
def lead_sheet(decision_id: int, db: Path, user: str | None, out_dir: Path, fmt: str) -> None:
    """Export the lead sheet of a confirmed lead (PDF and/or HTML)."""
    from facedesk.app.lead_sheet import export_lead_sheet

    formats = ("pdf", "html") if fmt == "both" else (fmt,)
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "lead_sheet")
        written = export_lead_sheet(session, decision_id, out_dir, formats)
    for p in written:
        click.echo(f"wrote {p}")


# --- the audit log ------------------------------------------------------------------------------


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit log: verify it, export it, show it."""


def _report(v: audit.Verification, as_json: bool) -> None:
    if as_json:
        _emit_json(v.as_dict())
    else:
        click.echo(v.summary())
        if v.ok and v.head_hash:
            click.echo(f"head to keep: event {v.head_seq} hash {v.head_hash}")
    if not v.ok:
        sys.exit(EXIT_FAILED)


@audit_group.command("verify")
@db_option
@click.option("--head", metavar="HASH_OR_FILE",
              help="A head hash printed earlier, or an exported audit-log.json: the log must "
                   "still hold it (finds a truncated tail).")
@click.option("--no-witness", "no_witness", is_flag=True,
              help="Do not compare with the external witness of the head (an older copy or a "
                   "backup of a gallery that has moved on since).")
@json_option
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
        v = audit.verify(gallery, expect_head=expect_hash, expect_seq=expect_seq,
                         use_witness=not no_witness)
    _report(v, as_json)


@audit_group.command("baseline")
@db_option
@user_option
@json_option
def audit_baseline(db: Path, user: str | None, as_json: bool) -> None:
    """Record the digests of records no event has recorded yet (a gallery made before
    FaceDesk logged them), so that later changes to them are found (administrators).
    It vouches for nothing before it; records already recorded are never re-recorded."""
    with Gallery.open(db) as gallery:
        user_id = None
        if accounts.has_users(gallery):
            user_id = signed_in(gallery, user, "change_settings").user_id
        ev = audit.baseline(gallery, user_id=user_id)
    counts = {} if ev is None else ev.data["counts"]
    if as_json:
        _emit_json({"event": None if ev is None else ev.seq, "counts": counts})
    elif ev is None:
        click.echo("every record already has a digest in the audit log: nothing to record")
    else:
        click.echo(f"baseline recorded as audit event {ev.seq}: " + ", ".join(
            f"{n} {t}" for t, n in counts.items()))


@audit_group.command("verify-export")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option
def audit_verify_export(path: Path, as_json: bool) -> None:
    """Check an exported audit-log.json on its own (no gallery needed). Exit code 0 intact,
    1 failed."""
    try:
        v = audit.verify_export(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise FaceDeskError(f"{path}: not a FaceDesk audit log export ({exc})") from None
    _report(v, as_json)


@audit_group.command("export")
@db_option
@user_option
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="The folder for audit-log.json and audit-log.csv.")
@json_option
def audit_export(db: Path, user: str | None, out_dir: Path, as_json: bool) -> None:
    """Export the whole log (JSON and CSV); prints the head to keep (administrators and
    supervisors)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "export_audit")
        head = cases.export_audit(session, out_dir)
    if as_json:
        _emit_json(head)
        return
    click.echo(f"exported {head['events']} events to {head['json']} and {head['csv']}")
    click.echo(f"head to keep: event {head['seq']} hash {head['hash']}")


@audit_group.command("show")
@db_option
@user_option
@click.option("--case", "case_number", metavar="NUMBER", help="Only this case's events.")
@click.option("--last", type=click.IntRange(1, None), help="Only the last N events.")
@json_option
def audit_show(db: Path, user: str | None, case_number: str | None, last: int | None,
               as_json: bool) -> None:
    """List audit events, oldest first."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "read_cases")
        case_id = cases.readable_case(session, case_number).id if case_number else None
        found = cases.readable_events(session, case_id=case_id, limit=last)
        numbers = {c.id: c.number for c in cases.cases(gallery)}
        hidden = cases.hidden_rationales(gallery, session.user_id, case_id)
    if as_json:
        _emit_json([{**e.as_dict(), "data": cases.event_data(e, hidden)} for e in found])
        return
    for e in found:
        case = f" case {numbers.get(e.case_id, e.case_id)}" if e.case_id is not None else ""
        _echo_printable(f"{e.seq:>6}  {e.at}  {e.user_id or '-':<12} {e.label}{case}: "
                        f"{_short(audit.canonical(cases.event_data(e, hidden)), 120)}")


# --- retention ----------------------------------------------------------------------------------


@click.group("retention")
def retention_group() -> None:
    """Purge searches of cases without a confirmed lead after the retention period."""


@retention_group.command("purge")
@db_option
@user_option
@click.option("--dry-run", is_flag=True, help="Only list what would be purged.")
@json_option
def retention_purge(db: Path, user: str | None, dry_run: bool, as_json: bool) -> None:
    """Purge (administrators only) the probe images, searches, decisions and second reviews
    older than retention_days of cases with no confirmed lead; a purge event remains."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "purge")
        plan = cases.purge_plan(gallery) if dry_run else cases.purge(session)
    if as_json:
        _emit_json({"dry_run": dry_run, **plan.as_dict()})
        return
    if plan.retention_days is None:
        click.echo("no retention period is set (retention_days is none): nothing is purged")
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(f"retention {plan.retention_days} days (cutoff {plan.cutoff}): {verb} "
               f"{len(plan.searches)} searches, {len(plan.decisions)} decisions, "
               f"{len(plan.cases)} cases touched")
    click.echo(f"  searches:  {', '.join(map(str, plan.searches)) or '-'}")
    click.echo(f"  decisions: {', '.join(map(str, plan.decisions)) or '-'}")
    _echo_printable(f"  cases:     {', '.join(plan.cases) or '-'}")
    for h in plan.probe_hashes:
        click.echo(f"  probe sha256 {h}")


COMMANDS: list[click.Command] = [users_group, settings_group, import_roots_group, case_group,
                                 decide, leads_group, lead_sheet, audit_group, retention_group]
