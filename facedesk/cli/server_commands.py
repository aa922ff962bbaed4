"""`facedesk server ...`: a gallery on a PostgreSQL server, for the server's administrator
(who connects as the role that owns the tables): setup with the first administrator, and
a login per person bound to their FaceDesk user. A thin layer over facedesk.app.server."""

from __future__ import annotations

from collections.abc import Callable

import click

from facedesk.app import server
from facedesk.cli.options import F, json_option
from facedesk.cli.output import echo, emit_json, printable
from facedesk.cli.signin import new_password


def _db_option() -> Callable[[F], F]:
    return click.option(
        "--db", "url", required=True, metavar="URL",
        help="The gallery's database, as its owner: postgresql://OWNER@HOST/DATABASE or "
             "postgresql:///?service=NAME (the password from ~/.pgpass, a service file or "
             "PGPASSWORD; never on the command line).")


def _no_password_option() -> Callable[[F], F]:
    return click.option(
        "--no-password", is_flag=True,
        help="The login has no password: it signs in as pg_hba.conf says (Kerberos, a "
             "certificate, peer).")


def _login_password(no_password: bool) -> str | None:
    """The login's password: FACEDESK_NEW_PASSWORD, or typed twice."""
    return None if no_password else new_password(True)


@click.group("server")
def server_group() -> None:
    """A shared gallery on a PostgreSQL server: setup and the people's logins (for the
    server's administrator)."""


@server_group.command("setup")
@_db_option()
@click.option("--admin-user", metavar="NAME", help="The first administrator's user name.")
@click.option("--admin-name", metavar="TEXT", help="Their full name.")
@click.option("--admin-login", metavar="LOGIN",
              help="Their server login (default: their user name).")
@_no_password_option()
@json_option()
def setup(url: str, admin_user: str | None, admin_name: str | None, admin_login: str | None,
          no_password: bool, as_json: bool) -> None:
    """Make the database a FaceDesk gallery, or bring it up to date: the group roles,
    tables, grants and triggers, and (the first time) the first administrator with their
    server login, whose password is asked for (or read from FACEDESK_NEW_PASSWORD)."""
    admin = None
    if admin_user or admin_name or admin_login:
        if not (admin_user and admin_name):
            raise click.UsageError("the first administrator needs --admin-user and "
                                   "--admin-name (and --admin-login, or their user name)")
        admin = server.FirstAdministrator(admin_user, admin_name, admin_login or admin_user)
    password = _login_password(no_password) if admin else None
    report = server.setup(url, admin, password)
    if as_json:
        emit_json({"location": report.location, "first_administrator": report.administrator,
                   "logins": [{"login": lg, "user": u} for lg, u in report.logins]})
        return
    echo(f"{report.location}: the gallery, its roles and grants are up to date")
    if report.administrator:
        echo(f"first administrator: {report.administrator}, server login "
             f"{admin.login if admin else ''}")
    _print_logins(report.logins)


def _print_logins(rows: list[tuple[str, str]]) -> None:
    if not rows:
        echo("no server logins are bound to FaceDesk users yet")
    for login, user in rows:
        echo(printable(f"  {login:<20} -> {user}"))


@server_group.group("login")
def login_group() -> None:
    """People's server logins, each bound to one FaceDesk user."""


@login_group.command("add")
@click.argument("login")
@click.option("--user", "user_id", required=True, metavar="NAME",
              help="The FaceDesk user this login signs in as (its role decides the group).")
@_db_option()
@_no_password_option()
def login_add(login: str, user_id: str, url: str, no_password: bool) -> None:
    """Make a server login for a person and bind it to their FaceDesk user."""
    role = server.add_login(url, login, user_id, _login_password(no_password))
    echo(f"server login {login} signs in as {user_id} ({role})")


@login_group.command("drop")
@click.argument("login")
@_db_option()
def login_drop(login: str, url: str) -> None:
    """Unbind a login and drop it from the server."""
    user = server.drop_login(url, login)
    echo(f"dropped the server login {login}" + (f" of {user}" if user else ""))


@login_group.command("password")
@click.argument("login")
@_db_option()
def login_password(login: str, url: str) -> None:
    """Set a login's new password (asked for, or read from FACEDESK_NEW_PASSWORD)."""
    password = new_password(True)
    assert password is not None
    server.set_login_password(url, login, password)
    echo(f"the server login {login} has a new password")


@login_group.command("list")
@_db_option()
@json_option()
def login_list(url: str, as_json: bool) -> None:
    """The logins bound to this gallery's users."""
    rows = server.logins(url)
    if as_json:
        emit_json([{"login": lg, "user": u} for lg, u in rows])
        return
    _print_logins(rows)


COMMANDS = [server_group]
