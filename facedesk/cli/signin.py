"""Signing in on the command line, for every command that acts on a gallery with users:
`--user NAME` (or FACEDESK_USER) with the password in FACEDESK_PASSWORD or typed at a
hidden prompt, or, without --user, the user an administrator mapped to this OS account.
Every sign-in is an audit event (facedesk.app.accounts); the permission checks are there."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from facedesk.app import accounts
from facedesk.app.accounts import Session
from facedesk.cli.options import NEW_PASSWORD_ENV, PASSWORD_ENV, USER_ENV
from facedesk.errors import AccountError
from facedesk.store import Gallery


def interactive() -> bool:
    """Whether a person can be asked for a password (stdin is a terminal)."""
    return sys.stdin.isatty()


def first_admin_hint(db: Path | str) -> str:
    return (f"{db} has no users yet: create its first administrator with "
            f"`facedesk users init --db {db} --user NAME --name \"Full Name\" "
            "--password-prompt` (or --os-account ACCOUNT)")


def signed_in(gallery: Gallery, user: str | None, action: str | None = None) -> Session:
    """Sign in to `gallery` for a command (and check `action` is permitted): as `user` with
    a password, or as the user mapped to this OS account when `user` is None."""
    if not accounts.has_users(gallery):
        raise AccountError(first_admin_hint(gallery.location))
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


def signed_in_if_staffed(gallery: Gallery, user: str | None, action: str | None = None
                         ) -> Session | None:
    """On a gallery with users, the session signed in (for `action`, when given); on one
    without (a plain dataset, or a gallery before its first administrator), None."""
    if not accounts.has_users(gallery):
        return None
    return signed_in(gallery, user, action)


def user_id_if_staffed(gallery: Gallery, user: str | None, action: str | None = None
                       ) -> str | None:
    """The id of the user `signed_in_if_staffed` signs in, or None."""
    session = signed_in_if_staffed(gallery, user, action)
    return None if session is None else session.user_id


def lab_signed_in(gallery: Gallery, user: str | None, command: str,
                  **options: Any) -> None:
    """On a gallery with users, the lab's commands sign in like every other command, check
    the role may use the lab and log the use (audit kind "lab": the command, its options
    and the files it writes). A gallery without users is a plain dataset: nothing to do."""
    if not accounts.has_users(gallery):
        return
    session = signed_in(gallery, user)
    session.record_lab(command, {k: (str(v) if isinstance(v, Path) else v)
                                 for k, v in options.items() if v not in (None, (), False)})


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

