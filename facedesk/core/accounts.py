"""Users, roles, sign-in and the administrator's settings of a gallery.

A gallery keeps its own user list (table `users`). A user signs in with a password
(stored only as an Argon2id hash, argon2-cffi) or, when an administrator has mapped an
operating-system account to the user, as that OS account without a password. Roles limit
actions (PERMISSIONS): only administrators change settings and users; only supervisors
confirm or overturn leads; trainers work only in training galleries, whose decisions never
count as case results. Every sign-in, refused sign-in, user change and setting change is
an audit event.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facedesk.core import audit
from facedesk.errors import AccountError, NotPermitted
from facedesk.store import Gallery
from facedesk.store.gallery import now_iso

ROLES: dict[str, str] = {
    "analyst": "Analyst",
    "supervisor": "Supervisor",
    "trainer": "Trainer",
    "administrator": "Administrator",
}

#: action -> roles that may do it (in a training gallery, see TRAINING_ROLES)
PERMISSIONS: dict[str, frozenset[str]] = {
    "import": frozenset({"analyst", "administrator"}),
    "open_case": frozenset({"analyst", "supervisor"}),
    "search": frozenset({"analyst", "supervisor"}),
    "decide": frozenset({"analyst", "supervisor"}),
    "review_lead": frozenset({"supervisor"}),
    "close_case": frozenset({"analyst", "supervisor", "administrator"}),
    "lead_sheet": frozenset({"analyst", "supervisor", "administrator"}),
    "manage_users": frozenset({"administrator"}),
    "change_settings": frozenset({"administrator"}),
    "purge": frozenset({"administrator"}),
    "export_audit": frozenset({"administrator", "supervisor"}),
    # the accuracy lab (trainer view, experiment, evaluation): it shows the gallery's
    # photos and names, so only to its signed-in users, and each use is logged (audit
    # kind "lab"); every role, the analyst included, should see how often different
    # persons come this close
    "lab": frozenset({"analyst", "supervisor", "trainer", "administrator"}),
}
#: in a training gallery trainers also open cases, search and decide (nothing counts)
TRAINING_ROLES: dict[str, frozenset[str]] = {
    "open_case": frozenset({"trainer"}),
    "search": frozenset({"trainer"}),
    "decide": frozenset({"trainer"}),
    "import": frozenset({"trainer"}),
    "close_case": frozenset({"trainer"}),
}
ACTION_WORDS: dict[str, str] = {
    "import": "import photos", "open_case": "open a case", "search": "search",
    "decide": "record a decision", "review_lead": "confirm or overturn a possible lead",
    "close_case": "close a case", "lead_sheet": "export a lead sheet",
    "manage_users": "add or change users", "change_settings": "change settings",
    "purge": "purge by retention", "export_audit": "export the audit log",
    "lab": "use the accuracy lab",
}

_HASHER = argon2.PasswordHasher()  # Argon2id with the library's current parameters
MIN_PASSWORD = 8


# --- settings --------------------------------------------------------------------------------


DEFAULT_PURPOSES = (
    "Investigation of a specific crime",
    "Locate a missing or endangered person",
    "Find possible leads to the identity of a deceased or incapacitated person",
)


@dataclass
class Settings:
    """Set by administrators; stored in the gallery's meta table as `setting:NAME`."""

    #: an analyst's possible lead waits for a different user, a supervisor, to confirm it
    two_person_rule: bool = True
    #: the supervisor reviews a lead before seeing the analyst's rationale
    blind_second_review: bool = False
    #: searches of cases with no confirmed lead are purged after this many days (None: kept)
    retention_days: int | None = None
    #: candidates farther than this distance are not shown
    threshold: float = 0.6
    #: the most candidates a search shows
    top_k: int = 20
    #: the purposes a case may be opened for (plus free text)
    purposes: list[str] = field(default_factory=lambda: list(DEFAULT_PURPOSES))
    #: a training gallery: decisions never count as case results; trainers may work in it
    training: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SETTING_NAMES}


SETTING_NAMES = ("two_person_rule", "blind_second_review", "retention_days", "threshold",
                 "top_k", "purposes", "training")


def settings(gallery: Gallery) -> Settings:
    s = Settings()
    rows = gallery.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'setting:%'")
    for key, value in rows:
        name = key.split(":", 1)[1]
        if name in SETTING_NAMES:
            setattr(s, name, json.loads(value))
    return s


def _check_setting(name: str, value: Any) -> Any:
    if name not in SETTING_NAMES:
        raise AccountError(f"unknown setting {name!r}; settings: {', '.join(SETTING_NAMES)}")
    if name in ("two_person_rule", "blind_second_review", "training"):
        if not isinstance(value, bool):
            raise AccountError(f"{name} is on or off (true/false)")
    elif isinstance(value, bool):  # a bool is an int to Python, not a number here
        raise AccountError(f"{name} is not an on/off setting")
    elif name == "retention_days":
        if value is not None and (not isinstance(value, int) or value < 1):
            raise AccountError("retention_days is a whole number of days, 1 or more "
                               "(or none to keep searches)")
    elif name == "threshold":
        if not isinstance(value, int | float) or not 0.2 <= float(value) <= 1.0:
            raise AccountError("threshold is a distance between 0.2 and 1.0 "
                               "(face_recognition's usual one is 0.6)")
        value = float(value)
    elif name == "top_k":
        if not isinstance(value, int) or not 1 <= value <= 200:
            raise AccountError("top_k is a number of candidates between 1 and 200")
    elif name == "purposes":
        if not isinstance(value, list) or not value or \
                not all(isinstance(p, str) and p.strip() for p in value):
            raise AccountError("purposes is a list of at least one non-empty purpose")
        value = [p.strip() for p in value]
    return value


def parse_setting(name: str, text: str) -> Any:
    """A setting's value as typed on the command line."""
    t = text.strip()
    if name in ("two_person_rule", "blind_second_review", "training"):
        if t.lower() in ("on", "true", "yes", "1"):
            return True
        if t.lower() in ("off", "false", "no", "0"):
            return False
        raise AccountError(f"{name} is on or off")
    if name == "retention_days":
        if t.lower() in ("none", "off", "never", ""):
            return None
        try:
            return int(t)
        except ValueError:
            raise AccountError("retention_days is a whole number of days, or none") from None
    if name == "threshold":
        try:
            return float(t)
        except ValueError:
            raise AccountError("threshold is a distance such as 0.6") from None
    if name == "top_k":
        try:
            return int(t)
        except ValueError:
            raise AccountError("top_k is a whole number") from None
    if name == "purposes":
        return [p.strip() for p in t.split(";") if p.strip()]
    raise AccountError(f"unknown setting {name!r}; settings: {', '.join(SETTING_NAMES)}")


# --- users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    display_name: str
    role: str
    os_account: str | None
    active: bool
    has_password: bool

    @property
    def role_label(self) -> str:
        return ROLES[self.role]

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.id}, {self.role_label})"


def _user(row: Any) -> User:
    return User(row[0], row[1], row[2], row[3], bool(row[4]), row[5] is not None)


_USER_SQL = "SELECT id, display_name, role, os_account, active, password_hash FROM users"


def users(gallery: Gallery, *, active_only: bool = False) -> list[User]:
    sql = _USER_SQL + (" WHERE active = 1" if active_only else "") + " ORDER BY id"
    return [_user(r) for r in gallery.conn.execute(sql)]


def user(gallery: Gallery, user_id: str) -> User | None:
    row = gallery.conn.execute(_USER_SQL + " WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else _user(row)


def has_users(gallery: Gallery) -> bool:
    return gallery.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def os_account() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return ""


def _hash_password(password: str | None) -> str | None:
    if password is None:
        return None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def _check_new_user(user_id: str, display_name: str, role: str) -> tuple[str, str]:
    uid, name = user_id.strip(), display_name.strip()
    if not uid or any(c.isspace() for c in uid):
        raise AccountError("a user name is one word without spaces (e.g. jdoe)")
    if not name:
        raise AccountError("enter the user's full name")
    if role not in ROLES:
        raise AccountError(f"role must be one of: {', '.join(ROLES)}")
    return uid, name


def _insert_user(gallery: Gallery, by: str | None, user_id: str, display_name: str,
                 role: str, password: str | None, os_name: str | None,
                 *, first: bool = False) -> User:
    uid, name = _check_new_user(user_id, display_name, role)
    if password is None and not os_name:
        raise AccountError("give the user a password, or map an OS account to them "
                           "(or both)")
    pw_hash = _hash_password(password)
    os_name = os_name.strip() if os_name else None
    with gallery.write() as conn:
        if first and conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
            raise AccountError("this gallery already has users: an administrator adds more")
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (uid,)).fetchone():
            raise AccountError(f"there is already a user {uid!r}")
        if os_name and conn.execute("SELECT id FROM users WHERE os_account = ?",
                                    (os_name,)).fetchone():
            raise AccountError(f"the OS account {os_name!r} is already mapped to another user")
        conn.execute(
            "INSERT INTO users(id, display_name, role, password_hash, os_account, active, "
            "created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
            (uid, name, role, pw_hash, os_name, now_iso()))
        audit.append(conn, gallery.gallery_id, "user_added",
                     {"user": uid, "display_name": name, "role": role,
                      "os_account": os_name, "password": pw_hash is not None,
                      "first_administrator": first},
                     user_id=by if by else uid)
    return User(uid, name, role, os_name, True, pw_hash is not None)


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class Session:
    """A signed-in user on one gallery: every rule is checked here."""

    gallery: Gallery
    user: User

    @property
    def user_id(self) -> str:
        return self.user.id

    def settings(self) -> Settings:
        return settings(self.gallery)

    def may(self, action: str) -> bool:
        role = self.user.role
        if role in PERMISSIONS[action]:
            return True
        return self.settings().training and role in TRAINING_ROLES.get(action, frozenset())

    def require(self, action: str) -> None:
        """Check that the user may do `action` now: the role and active flag are read
        again, so a change an administrator made since sign-in applies at once."""
        current = user(self.gallery, self.user.id)
        if current is None or not current.active:
            raise NotPermitted(f"{self.user.id} is no longer an active user of this gallery: "
                               "sign in again")
        self.user = current
        if self.may(action):
            return
        role = self.user.role_label
        hint = ""
        if self.user.role == "trainer" and action in TRAINING_ROLES:
            hint = " (trainers work in training galleries only)"
        who = ", ".join(ROLES[r] for r in sorted(PERMISSIONS[action]))
        raise NotPermitted(f"{self.user.id} ({role}) may not {ACTION_WORDS[action]}{hint}; "
                           f"allowed: {who}")

    # -- administration -------------------------------------------------------------------

    def add_user(self, user_id: str, display_name: str, role: str, *,
                 password: str | None = None, os_account: str | None = None) -> User:
        self.require("manage_users")
        return _insert_user(self.gallery, self.user_id, user_id, display_name, role,
                            password, os_account)

    def change_user(self, user_id: str, *, role: str | None = None,
                    active: bool | None = None, password: str | None = None,
                    os_account: str | None = None, clear_os_account: bool = False,
                    display_name: str | None = None) -> User:
        self.require("manage_users")
        target = user(self.gallery, user_id)
        if target is None:
            raise AccountError(f"there is no user {user_id!r}")
        if role is not None and role not in ROLES:
            raise AccountError(f"role must be one of: {', '.join(ROLES)}")
        changes: dict[str, Any] = {}
        if role is not None and role != target.role:
            changes["role"] = role
        if active is not None and active != target.active:
            changes["active"] = int(active)
        if display_name is not None and display_name.strip() and \
                display_name.strip() != target.display_name:
            changes["display_name"] = display_name.strip()
        if os_account is not None and os_account.strip() != (target.os_account or ""):
            changes["os_account"] = os_account.strip() or None
        if clear_os_account and target.os_account:
            changes["os_account"] = None
        logged = {k: v for k, v in changes.items()}
        was = {"role": target.role, "active": int(target.active),
               "display_name": target.display_name, "os_account": target.os_account}
        before = {k: was[k] for k in changes}
        if password is not None:
            changes["password_hash"] = _hash_password(password)
            logged["password"] = "changed"
        if not changes:
            return target
        with self.gallery.write() as conn:
            demoted = changes.get("role", target.role) != "administrator" or \
                changes.get("active", 1) == 0
            if target.role == "administrator" and target.active and demoted:
                n = conn.execute("SELECT count(*) FROM users WHERE role = 'administrator' "
                                 "AND active = 1").fetchone()[0]
                if n <= 1:
                    raise AccountError("this is the only active administrator: add another "
                                       "administrator first")
            if changes.get("os_account"):
                other = conn.execute("SELECT id FROM users WHERE os_account = ? AND id != ?",
                                     (changes["os_account"], user_id)).fetchone()
                if other:
                    raise AccountError(f"the OS account {changes['os_account']!r} is already "
                                       f"mapped to {other[0]}")
            sets = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(f"UPDATE users SET {sets} WHERE id = ?", (*changes.values(), user_id))
            after = conn.execute(_USER_SQL + " WHERE id = ?", (user_id,)).fetchone()
            if after[5] is None and after[3] is None:
                raise AccountError("a user needs a password or a mapped OS account")
            audit.append(conn, self.gallery.gallery_id, "user_changed",
                         {"user": user_id, "from": before, "changes": logged},
                         user_id=self.user_id)
        return _user(after)

    def set_setting(self, name: str, value: Any) -> Settings:
        self.require("change_settings")
        value = _check_setting(name, value)
        before = getattr(self.settings(), name)
        if before == value:
            return self.settings()
        with self.gallery.write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                         (f"setting:{name}", json.dumps(value)))
            audit.append(conn, self.gallery.gallery_id, "setting_changed",
                         {"setting": name, "from": before, "to": value}, user_id=self.user_id)
        return self.settings()


def create_first_administrator(gallery: Gallery, user_id: str, display_name: str, *,
                               password: str | None = None,
                               os_account: str | None = None) -> Session:
    """The first user of a gallery, who is its administrator (only while it has none)."""
    u = _insert_user(gallery, None, user_id, display_name, "administrator", password,
                     os_account, first=True)
    return _signed_in(gallery, u, "first administrator")


def _signed_in(gallery: Gallery, u: User, how: str) -> Session:
    audit.record(gallery, "sign_in", {"user": u.id, "role": u.role, "how": how},
                 user_id=u.id)
    return Session(gallery, u)


def _refuse(gallery: Gallery, user_id: str, why: str, message: str) -> AccountError:
    audit.record(gallery, "sign_in_failed", {"user": user_id, "why": why})
    return AccountError(message)


def sign_in(gallery: Gallery, user_id: str, password: str) -> Session:
    """Sign in with a password. Refusals are audit events too."""
    row = gallery.conn.execute(_USER_SQL + " WHERE id = ?", (user_id.strip(),)).fetchone()
    if row is None:
        raise _refuse(gallery, user_id, "unknown user", "unknown user or wrong password")
    u = _user(row)
    if not u.active:
        raise _refuse(gallery, u.id, "inactive", f"{u.id} is deactivated: ask an "
                                                  "administrator")
    if row[5] is None:
        raise _refuse(gallery, u.id, "no password",
                      f"{u.id} signs in with their OS account ({u.os_account}), not a password")
    try:
        _HASHER.verify(row[5], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise _refuse(gallery, u.id, "wrong password",
                      "unknown user or wrong password") from None
    if _HASHER.check_needs_rehash(row[5]):
        with gallery.write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                         (_HASHER.hash(password), u.id))
    return _signed_in(gallery, u, "password")


def os_user(gallery: Gallery, account: str | None = None) -> User | None:
    """The active user an administrator mapped to this OS account, if any."""
    name = os_account() if account is None else account
    if not name:
        return None
    row = gallery.conn.execute(_USER_SQL + " WHERE os_account = ? AND active = 1",
                               (name,)).fetchone()
    return None if row is None else _user(row)


def sign_in_os(gallery: Gallery, account: str | None = None) -> Session:
    """Sign in as the user mapped to the OS account this process runs as."""
    name = os_account() if account is None else account
    u = os_user(gallery, name)
    if u is None:
        raise _refuse(gallery, name or "(unknown)", "OS account not mapped",
                      f"the OS account {name!r} is not mapped to an active FaceDesk user of "
                      "this gallery: sign in with a user name and password, or ask an "
                      "administrator to map it")
    return _signed_in(gallery, u, f"OS account {name}")
