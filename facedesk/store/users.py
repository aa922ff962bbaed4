"""Users, their failed password sign-ins and the administrator's settings: every SQL
statement on the tables `users` and `sign_in_failures` and on meta's `setting:NAME` and
`sign_in_name_key` rows. The rules (roles, permissions, back-off, lockout) are the app's
(facedesk.app.accounts); this module only reads and writes rows.

Reads take a Gallery (or the connection of a transaction in progress, store.db); writes
take the connection of a write transaction (`with gallery.write() as conn`), so the
caller's audit event is written in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from facedesk.store.db import Connection, Db, connection

# --- users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRecord:
    """A row of `users` (created_at left out)."""

    id: str
    display_name: str
    role: str
    os_account: str | None
    active: bool
    password_hash: str | None


_USER_SQL = "SELECT id, display_name, role, os_account, active, password_hash FROM users"
#: the columns `update_user` may change
USER_COLUMNS = frozenset({"display_name", "role", "os_account", "active", "password_hash"})


def _user(row: Any) -> UserRecord:
    return UserRecord(str(row[0]), str(row[1]), str(row[2]), row[3], bool(row[4]), row[5])


def all_users(db: Db, *, active_only: bool = False) -> list[UserRecord]:
    sql = _USER_SQL + (" WHERE active = 1" if active_only else "") + " ORDER BY id"
    return [_user(r) for r in connection(db).execute(sql)]


def get_user(db: Db, user_id: str) -> UserRecord | None:
    row = connection(db).execute(_USER_SQL + " WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else _user(row)


def active_user_of_os_account(db: Db, account: str) -> UserRecord | None:
    row = connection(db).execute(_USER_SQL + " WHERE os_account = ? AND active = 1",
                                 (account,)).fetchone()
    return None if row is None else _user(row)


def os_account_owner(db: Db, account: str, *, other_than: str | None = None) -> str | None:
    """The user (other than `other_than`) an OS account is mapped to, if any."""
    conn = connection(db)
    row = conn.execute("SELECT id FROM users WHERE os_account = ?", (account,)).fetchone() \
        if other_than is None else \
        conn.execute("SELECT id FROM users WHERE os_account = ? AND id != ?",
                     (account, other_than)).fetchone()
    return None if row is None else str(row[0])


def has_users(db: Db) -> bool:
    return connection(db).execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def active_administrators(db: Db) -> int:
    return int(connection(db).execute(
        "SELECT count(*) FROM users WHERE role = 'administrator' AND active = 1"
    ).fetchone()[0])


def insert_user(conn: Connection, user: UserRecord, created_at: str) -> None:
    conn.execute(
        "INSERT INTO users(id, display_name, role, password_hash, os_account, active, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user.id, user.display_name, user.role, user.password_hash, user.os_account,
         int(user.active), created_at))


def update_user(conn: Connection, user_id: str, changes: Mapping[str, Any]
                ) -> UserRecord | None:
    """Change some columns (of USER_COLUMNS) of a user; the user as it is now."""
    unknown = set(changes) - USER_COLUMNS
    if unknown:
        raise ValueError(f"unknown user columns: {', '.join(sorted(unknown))}")
    if changes:
        sets = ", ".join(f"{k} = ?" for k in changes)
        conn.execute(f"UPDATE users SET {sets} WHERE id = ?", (*changes.values(), user_id))
    return get_user(conn, user_id)


# --- failed password sign-ins ------------------------------------------------------------------


@dataclass(frozen=True)
class FailureRecord:
    """A row of `sign_in_failures`: a user's failed password sign-ins in a row."""

    user_id: str
    failures: int
    last_failure: float  # seconds since the epoch


def failures_of(db: Db, user_id: str) -> FailureRecord | None:
    row = connection(db).execute("SELECT failures, last_failure FROM sign_in_failures "
                                 "WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else FailureRecord(user_id, int(row[0]), float(row[1]))


def all_failures(db: Db) -> list[FailureRecord]:
    return [FailureRecord(str(uid), int(n), float(last)) for uid, n, last in
            connection(db).execute("SELECT user_id, failures, last_failure "
                                   "FROM sign_in_failures")]


def set_failures(conn: Connection, user_id: str, failures: int,
                 last_failure: float) -> None:
    conn.execute(
        "INSERT INTO sign_in_failures(user_id, failures, last_failure) VALUES (?, ?, ?) "
        "ON CONFLICT(user_id) DO UPDATE SET failures = excluded.failures, "
        "last_failure = excluded.last_failure", (user_id, failures, last_failure))


def clear_failures(conn: Connection, user_id: str) -> None:
    conn.execute("DELETE FROM sign_in_failures WHERE user_id = ?", (user_id,))


# --- settings (meta 'setting:NAME', JSON values) and the sign-in name key -----------------------

SETTING_PREFIX = "setting:"


def setting_key(name: str) -> str:
    """The meta key a setting is stored under (the key its audit record names)."""
    return SETTING_PREFIX + name


def stored_settings(db: Db) -> dict[str, object]:
    """Every stored setting by name, its JSON value decoded (settings never set are
    absent)."""
    rows = connection(db).execute("SELECT key, value FROM meta WHERE key LIKE 'setting:%'")
    return {str(key).split(":", 1)[1]: json.loads(value) for key, value in rows}


def write_setting(conn: Connection, name: str, value: object) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 (setting_key(name), json.dumps(value)))


NAME_KEY = "sign_in_name_key"


def name_key(db: Db) -> str | None:
    """The gallery's secret for hashing refused sign-in names (hex), if it has one."""
    row = connection(db).execute("SELECT value FROM meta WHERE key = ?",
                                 (NAME_KEY,)).fetchone()
    return None if row is None else str(row[0])


def add_name_key(conn: Connection, key_hex: str) -> None:
    """Store the secret unless another process stored one first."""
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                 (NAME_KEY, key_hex))
