"""Users, the administrator's settings and the folders a manifest may name by absolute
path, on the command line. A thin layer over facedesk.app.accounts: every rule is checked
there. Commands that act sign in first (facedesk/cli/signin.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from facedesk.app import accounts
from facedesk.app.accounts import ROLES, SETTING_NAMES
from facedesk.cli.options import NEW_PASSWORD_ENV, db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json, printable
from facedesk.cli.signin import new_password, signed_in
from facedesk.errors import AccountError
from facedesk.store import Gallery

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
@db_option()
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
    echo(f"created the first administrator of {db}: {session.user.label}")


@users_group.command("add")
@click.argument("new_user")
@db_option()
@user_option()
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
    echo(f"added {added.label}")


@users_group.command("change")
@click.argument("target")
@db_option()
@user_option()
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
    echo(f"changed {changed.label}{'' if changed.active else ' (deactivated)'}")


@users_group.command("list")
@db_option()
@user_option()
@json_option()
def users_list(db: Path, user: str | None, as_json: bool) -> None:
    """List the gallery's users and roles."""
    with Gallery.open(db) as gallery:
        signed_in(gallery, user, "list_users")
        everyone = accounts.users(gallery)
        locked = accounts.locked_users(gallery)
    if as_json:
        emit_json([{"id": u.id, "display_name": u.display_name, "role": u.role,
                     "os_account": u.os_account, "active": u.active,
                     "has_password": u.has_password, "locked": u.id in locked}
                    for u in everyone])
        return
    click.echo(f"{len(everyone)} user{'s' if len(everyone) != 1 else ''}:")
    for u in everyone:
        click.echo(_user_line(u, u.id in locked))


@users_group.command("unlock")
@click.argument("target")
@db_option()
@user_option()
def users_unlock(target: str, db: Path, user: str | None) -> None:
    """Lift a user's lock (and back-off) after failed password sign-ins (administrators
    only). A lock also lifts by itself after lockout_minutes (facedesk settings)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "manage_users")
        unlocked = session.unlock_user(target)
    echo(f"unlocked {unlocked.label}: their password sign-in works again")


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
@db_option()
@json_option()
def settings_show(db: Path, as_json: bool) -> None:
    """Show the gallery's settings (no sign-in needed)."""
    with Gallery.open(db) as gallery:
        s = accounts.settings(gallery)
    if as_json:
        emit_json(s.as_dict())
        return
    for name in SETTING_NAMES:
        if name == "purposes":
            click.echo("purposes:")
            for i, p in enumerate(s.purposes, 1):
                echo(f"  {i}. {p}")
        else:
            echo(f"{name:<20} {_setting_text(name, getattr(s, name))}")


@settings_group.command("set")
@click.argument("name", type=click.Choice(list(SETTING_NAMES)))
@click.argument("value")
@db_option()
@user_option()
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
        change = accounts.add_import_root if add else accounts.remove_import_root
        return change(session, folder)


@import_roots_group.command("add")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@db_option()
@user_option()
def import_roots_add(folder: Path, db: Path, user: str | None) -> None:
    """Allow manifests to name photos under FOLDER by absolute path (administrators only;
    logged as a setting change)."""
    roots = _change_roots(db, user, folder, True)
    echo(f"import folders: {', '.join(roots)}")


@import_roots_group.command("remove")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@db_option()
@user_option()
def import_roots_remove(folder: Path, db: Path, user: str | None) -> None:
    """No longer allow absolute paths under FOLDER (administrators only)."""
    roots = _change_roots(db, user, folder, False)
    echo(f"import folders: {', '.join(roots) or 'none'}")


@import_roots_group.command("list")
@db_option()
def import_roots_list(db: Path) -> None:
    """The folders manifests may name by absolute path (no sign-in needed, like
    `settings show`)."""
    with Gallery.open(db) as gallery:
        roots = accounts.settings(gallery).import_roots
    for r in roots:
        echo(r)
    if not roots:
        click.echo("none: manifests name photos relative to their own folder")


COMMANDS: list[click.Command] = [users_group, settings_group, import_roots_group]
