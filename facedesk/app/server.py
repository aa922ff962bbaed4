"""A gallery on a PostgreSQL server, set up and administered by the server's administrator
(the role that owns the tables): the setup with the first administrator, the people's
logins bound to FaceDesk users, and the sign-in of a person by their server login. What
the server enforces is facedesk.store.pg_security's doc.

Every change here is one write transaction with its audit event: the first administrator
is `user_added` (first_administrator, server_login), a login bound or dropped is
`user_changed` with the change {"server_login": LOGIN or None}, written by the owner
(user None: the server's administrator is no FaceDesk user).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from facedesk.app import accounts, audit
from facedesk.app.accounts import Session
from facedesk.errors import AccountError
from facedesk.store import Gallery, pg_security
from facedesk.store import users as user_store
from facedesk.store.db import Connection, now_iso
from facedesk.store.pg_security import ServerSetupError
from facedesk.store.postgres import is_server_location, public_location


@dataclass(frozen=True)
class FirstAdministrator:
    user_id: str
    display_name: str
    login: str


@dataclass(frozen=True)
class SetupReport:
    location: str
    #: the first administrator made now (None: the gallery had users already)
    administrator: str | None
    #: (login, FaceDesk user) of every bound login
    logins: list[tuple[str, str]]


@contextmanager
def server_gallery(url: str, *, create: bool = False) -> Iterator[Gallery]:
    """The gallery at a postgresql:// URL, open for the server's administrator."""
    if not is_server_location(url):
        raise ServerSetupError(f"{url}: not a gallery on a server (a postgresql://USER@HOST/"
                               "DATABASE URL or postgresql:///?service=NAME)")
    with Gallery.open(url, create=create) as gallery, \
            pg_security.server_errors(public_location(url)):
        yield gallery


def _password(password: str | None, user_id: str, display_name: str = "") -> str | None:
    """A login's new password, held to FaceDesk's rules (None: no password)."""
    if password is not None:
        problem = accounts.password_problem(password, user_id, display_name)
        if problem:
            raise AccountError(problem)
    return password


def setup(url: str, admin: FirstAdministrator | None, password: str | None) -> SetupReport:
    """Make the database a gallery (or migrate it), apply the server's roles and grants,
    and, in a gallery without users, make its first administrator with their login.
    Idempotent: run again after an upgrade (without `admin`)."""
    with server_gallery(url, create=True) as gallery:
        made = None
        with gallery.write() as conn:
            pg_security.install(conn)
            if user_store.has_users(conn):
                if admin is not None:
                    raise ServerSetupError(
                        f"{gallery.location} already has users: its administrators add more, "
                        "and the server's administrator binds their logins (facedesk server "
                        "login add)")
            elif admin is None:
                raise ServerSetupError(
                    f"{gallery.location} has no users yet: name its first administrator "
                    "(--admin-user, --admin-name, --admin-login)")
            else:
                made = _first_administrator(conn, gallery, admin, password)
        return SetupReport(gallery.location, made, pg_security.logins(gallery))


def _first_administrator(conn: Connection, gallery: Gallery, admin: FirstAdministrator,
                         password: str | None) -> str:
    uid, name = accounts._check_new_user(admin.user_id, admin.display_name, "administrator")
    _password(password, uid, name)
    user_store.insert_user(conn, user_store.UserRecord(
        uid, name, "administrator", None, True, None), now_iso())
    audit.append(conn, gallery.gallery_id, "user_added",
                 {"user": uid, "display_name": name, "role": "administrator",
                  "os_account": None, "password": False, "first_administrator": True,
                  "server_login": admin.login},
                 user_id=uid, records={"users": [uid]})
    pg_security.create_login(conn, admin.login, password, uid, "administrator")
    return uid


def add_login(url: str, login: str, user_id: str, password: str | None) -> str:
    """Bind a new server login to the FaceDesk user `user_id`, in the group of the user's
    role; the role's name."""
    with server_gallery(url) as gallery, gallery.write() as conn:
        user = user_store.get_user(conn, user_id)
        if user is None:
            raise ServerSetupError(f"there is no FaceDesk user {user_id!r} in "
                                   f"{gallery.location}: an administrator adds them first "
                                   "(facedesk users add)")
        pg_security.create_login(conn, login, _password(password, user_id, user.display_name),
                                 user_id, user.role)
        audit.append(conn, gallery.gallery_id, "user_changed",
                     {"user": user_id, "from": {}, "changes": {"server_login": login}})
        return user.role


def drop_login(url: str, login: str) -> str | None:
    """Unbind a login and drop it from the server; the FaceDesk user it was bound to."""
    with server_gallery(url) as gallery, gallery.write() as conn:
        user_id = dict(pg_security.logins(conn)).get(login)
        pg_security.drop_login(conn, login)
        if user_id is not None:
            audit.append(conn, gallery.gallery_id, "user_changed",
                         {"user": user_id, "from": {"server_login": login},
                          "changes": {"server_login": None}})
        return user_id


def set_login_password(url: str, login: str, password: str) -> None:
    with server_gallery(url) as gallery:
        user_id = dict(pg_security.logins(gallery)).get(login)
        if user_id is None:
            raise ServerSetupError(f"{login} is not a login of {gallery.location}")
        _password(password, user_id)
        with gallery.write() as conn:
            pg_security.set_login_password(conn, login, password)


def logins(url: str) -> list[tuple[str, str]]:
    """(login, FaceDesk user) of every bound login."""
    with server_gallery(url) as gallery:
        return pg_security.logins(gallery)


def bound_user(gallery: Gallery) -> str | None:
    """The FaceDesk user bound to the server login of this gallery's connection (None: a
    gallery file, or a login bound to nobody, e.g. the owner's)."""
    return pg_security.bound_user(gallery) if gallery.is_server else None


def sign_in_server(gallery: Gallery) -> Session:
    """The signed-in user of a gallery on a server: the FaceDesk user bound to the
    connection's login (the server checked its password). The sign-in is an event."""
    user_id = bound_user(gallery)
    who = pg_security.session_login(gallery) if gallery.is_server else ""
    if user_id is None:
        raise AccountError(f"the server login {who} is not bound to a FaceDesk user of "
                           f"{gallery.location}: the server's administrator binds it "
                           "(facedesk server login add)")
    user = accounts.user(gallery, user_id)
    if user is None or not user.active:
        raise AccountError(f"{user_id} (server login {who}) is not an active user of "
                           f"{gallery.location}")
    return accounts._signed_in(gallery, user, f"server login {who}")
