"""Users, roles, sign-in and the administrator's settings of a gallery.

A gallery keeps its own user list (table `users`). A user signs in with a password
(stored only as an Argon2id hash, argon2-cffi) or, when an administrator has mapped an
operating-system account to the user, as that OS account without a password. Roles limit
actions (PERMISSIONS): only administrators change settings and users; only supervisors
confirm or overturn leads; trainers work only in training galleries, whose decisions never
count as case results. Every sign-in, refused sign-in, user change and setting change is
an audit event.

Identity comes from the operating system, never from the environment: the OS account is
the effective uid's account (`pwd`) on POSIX and the process token's user on Windows, so
setting LOGNAME, USER, USERNAME or LNAME changes nothing. Password sign-in resists
guessing: every failure of a user adds a back-off before the next attempt is even checked
(`backoff_seconds`, doubling) and `lockout_after` failures lock the user's password
sign-in until an administrator unlocks it or `lockout_minutes` pass (state in the table
`sign_in_failures`, every step an audit event). Every refusal gives the same answer
(SIGN_IN_REFUSED), whatever the reason, and costs the same Argon2 work; a refused name is
logged only when it is a user id (anything else may be a password typed in the wrong
field: only a keyed hash of it is kept). New passwords must pass zxcvbn's strength
estimate (PASSWORD_MIN_SCORE) and not contain the user's id or name.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from facedesk.app import audit
from facedesk.domain import private
from facedesk.errors import AccountError, GalleryReadOnly, NotPermitted
from facedesk.store import Gallery, pg_security
from facedesk.store import users as store
from facedesk.store.db import now_iso

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
    # a case's disclosure package (every search, decision, review and event of the case)
    "disclose": frozenset({"administrator", "supervisor"}),
    # reading a gallery's real cases, their searches, decisions and events, and its users
    "read_cases": frozenset({"analyst", "supervisor", "administrator"}),
    "list_users": frozenset({"analyst", "supervisor", "administrator"}),
    # the accuracy lab (evaluate, experiment, report) and re-verifying the originals
    "lab": frozenset({"analyst", "supervisor", "trainer", "administrator"}),
    # every trainee's quiz results (a user always sees their own)
    "quiz_results": frozenset({"trainer", "supervisor", "administrator"}),
}
#: in a training gallery trainers also open cases, search and decide (nothing counts)
TRAINING_ROLES: dict[str, frozenset[str]] = {
    "open_case": frozenset({"trainer"}),
    "search": frozenset({"trainer"}),
    "decide": frozenset({"trainer"}),
    "import": frozenset({"trainer"}),
    "close_case": frozenset({"trainer"}),
    "read_cases": frozenset({"trainer"}),
    "list_users": frozenset({"trainer"}),
}
ACTION_WORDS: dict[str, str] = {
    "import": "import photos", "open_case": "open a case", "search": "search",
    "decide": "record a decision", "review_lead": "confirm or overturn a possible lead",
    "close_case": "close a case", "lead_sheet": "export a lead sheet",
    "manage_users": "add or change users", "change_settings": "change settings",
    "purge": "purge by retention", "export_audit": "export the audit log",
    "disclose": "export a case's disclosure package",
    "read_cases": "read this gallery's cases and audit log",
    "list_users": "list this gallery's users", "lab": "use the accuracy lab",
    "quiz_results": "see other trainees' quiz results",
}

_HASHER = argon2.PasswordHasher()  # Argon2id with the library's current parameters
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: zxcvbn's strength score (0-4) a new password needs
PASSWORD_MIN_SCORE = 3

#: the one answer to every refused password sign-in (unknown user, wrong password, a user
#: without a password, a deactivated or locked user, a sign-in inside the back-off)
SIGN_IN_REFUSED = ("sign-in refused: wrong user name or password, or too many failed "
                   "attempts (wait a little and try again; an administrator can unlock a "
                   "user)")


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
    #: after a user's n-th failed password sign-in, the next attempt is refused unchecked
    #: for backoff_seconds x 2^(n-1) seconds (0: no back-off)
    backoff_seconds: float = 1.0
    #: this many failed password sign-ins in a row lock the user's password sign-in
    lockout_after: int = 5
    #: a lock lifts by itself after this many minutes (None: only an administrator
    #: lifts it, facedesk users unlock)
    lockout_minutes: int | None = 30
    #: folders whose photos a manifest may name by absolute path
    import_roots: list[str] = field(default_factory=list)
    #: an OS group whose members may read and write the gallery file (mode 0660), e.g.
    #: the analysts' and supervisors' accounts on a shared workstation; None: its owner
    #: only (0600)
    file_group: str | None = None
    #: a possible lead needs the complete FISWG feature-by-feature checklist
    #: (facedesk.domain.fiswg)
    checklist_required: bool = False
    #: a confirmed lead's lead sheet is exported only after independent evidence is
    #: recorded (off: the sheet's banner says there is none yet)
    evidence_required: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SETTING_NAMES}


SETTING_NAMES = ("two_person_rule", "blind_second_review", "retention_days", "threshold",
                 "top_k", "purposes", "training", "backoff_seconds", "lockout_after",
                 "lockout_minutes", "import_roots", "file_group", "checklist_required",
                 "evidence_required")
#: the on/off settings
SWITCHES = ("two_person_rule", "blind_second_review", "training", "checklist_required",
            "evidence_required")


def settings(gallery: Gallery) -> Settings:
    s = Settings()
    for name, value in store.stored_settings(gallery).items():
        if name in SETTING_NAMES:
            setattr(s, name, value)
    return s


def _check_setting(name: str, value: Any) -> Any:
    if name not in SETTING_NAMES:
        raise AccountError(f"unknown setting {name!r}; settings: {', '.join(SETTING_NAMES)}")
    if name in SWITCHES:
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
    elif name == "backoff_seconds":
        if not isinstance(value, int | float) or not 0 <= float(value) <= 60:
            raise AccountError("backoff_seconds is a number of seconds between 0 and 60")
        value = float(value)
    elif name == "lockout_after":
        if not isinstance(value, int) or not 3 <= value <= 100:
            raise AccountError("lockout_after is a number of failed sign-ins between 3 "
                               "and 100")
    elif name == "lockout_minutes":
        if value is not None and (not isinstance(value, int) or value < 1):
            raise AccountError("lockout_minutes is a whole number of minutes, 1 or more "
                               "(or none: only an administrator unlocks)")
    elif name == "file_group":
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise AccountError("file_group is the name of an OS group (or none)")
            value = value.strip()
            try:
                import grp

                grp.getgrnam(value)
            except ImportError:
                raise AccountError("file_group works on POSIX systems only") from None
            except KeyError:
                raise AccountError(f"there is no OS group {value!r} on this computer") \
                    from None
    elif name == "import_roots":
        if not isinstance(value, list) or \
                not all(isinstance(p, str) and os.path.isabs(p) for p in value):
            raise AccountError("import_roots is a list of absolute folder paths")
        value = list(dict.fromkeys(os.path.normpath(p) for p in value))
    return value


def parse_setting(name: str, text: str) -> Any:
    """A setting's value as typed on the command line."""
    t = text.strip()
    if name in SWITCHES:
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
    if name == "import_roots":
        return [os.path.abspath(p.strip()) for p in t.split(os.pathsep) if p.strip()]
    if name == "file_group":
        return None if t.lower() in ("none", "off", "") else t
    if name == "backoff_seconds":
        try:
            return float(t)
        except ValueError:
            raise AccountError("backoff_seconds is a number of seconds such as 1") from None
    if name in ("lockout_after", "lockout_minutes"):
        if name == "lockout_minutes" and t.lower() in ("none", "off", "never", ""):
            return None
        try:
            return int(t)
        except ValueError:
            raise AccountError(f"{name} is a whole number") from None
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


def _user(row: store.UserRecord) -> User:
    return User(row.id, row.display_name, row.role, row.os_account, row.active,
                row.password_hash is not None)


def users(gallery: Gallery, *, active_only: bool = False) -> list[User]:
    return [_user(r) for r in store.all_users(gallery, active_only=active_only)]


def user(gallery: Gallery, user_id: str) -> User | None:
    row = store.get_user(gallery, user_id)
    return None if row is None else _user(row)


def has_users(gallery: Gallery) -> bool:
    return store.has_users(gallery)


def os_account() -> str:
    """The account this process runs as, from the operating system: the effective uid's
    account name on POSIX, the process token's user on Windows. Never the environment
    (LOGNAME, USER, USERNAME, LNAME), which anyone can set. "" when it has no name."""
    if sys.platform == "win32":
        return _windows_account()
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without an entry in the password database
        return ""


def _windows_account() -> str:
    """DOMAIN\\user of the process token (GetUserNameExW, NameSamCompatible), or the
    token's user name (GetUserNameW); neither reads the environment."""
    import ctypes

    size = ctypes.c_ulong(0)
    if sys.platform == "win32":  # (for mypy: windll exists only there)
        secur32 = ctypes.WinDLL("secur32")
        name_sam_compatible = 2
        secur32.GetUserNameExW(name_sam_compatible, None, ctypes.byref(size))
        if size.value:
            buf = ctypes.create_unicode_buffer(size.value + 1)
            if secur32.GetUserNameExW(name_sam_compatible, buf, ctypes.byref(size)):
                return str(buf.value)
        advapi32 = ctypes.WinDLL("advapi32")
        size = ctypes.c_ulong(257)
        buf = ctypes.create_unicode_buffer(size.value)
        if advapi32.GetUserNameW(buf, ctypes.byref(size)):
            return str(buf.value)
    return ""


def password_problem(password: str, user_id: str = "", display_name: str = "") -> str | None:
    """Why `password` may not be used by this user (None: it may): at least MIN_PASSWORD
    characters, not containing the user's id or a part of their name, and rated at least
    PASSWORD_MIN_SCORE of 4 by zxcvbn (dictionary words, names, keyboard patterns, dates
    and repeats are guessed quickly)."""
    from zxcvbn import zxcvbn

    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    lowered = password.lower()
    personal = [user_id.strip(), *display_name.split()]
    for part in personal:
        if len(part) >= 3 and part.lower() in lowered:
            return f"a password may not contain the user's name or user id ({part!r})"
    result = zxcvbn(password[:100], user_inputs=[p for p in personal if p])
    score = int(result["score"])
    if score >= PASSWORD_MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    hints = " ".join(x.strip() for x in [feedback.get("warning") or "",
                                          *(feedback.get("suggestions") or [])] if x.strip())
    return (f"this password is too easy to guess (strength {score} of 4, "
            f"{PASSWORD_MIN_SCORE} needed){': ' + hints if hints else ''} — a few unrelated "
            "words or a longer phrase work well")


def _hash_password(password: str | None, user_id: str = "",
                   display_name: str = "") -> str | None:
    if password is None:
        return None
    problem = password_problem(password, user_id, display_name)
    if problem:
        raise AccountError(problem)
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


def _by_server_login(gallery: Gallery) -> bool:
    """A gallery on a server whose people sign in by their own server login (this
    connection's is bound to a user, facedesk.store.pg_security): its users need no
    FaceDesk password or OS account."""
    return gallery.is_server and pg_security.bound_user(gallery) is not None


def _insert_user(gallery: Gallery, by: str | None, user_id: str, display_name: str,
                 role: str, password: str | None, os_name: str | None,
                 *, first: bool = False) -> User:
    uid, name = _check_new_user(user_id, display_name, role)
    if password is None and not os_name and not _by_server_login(gallery):
        raise AccountError("give the user a password, or map an OS account to them "
                           "(or both)")
    pw_hash = _hash_password(password, uid, name)
    os_name = os_name.strip() if os_name else None
    record = store.UserRecord(uid, name, role, os_name, True, pw_hash)
    with gallery.write() as conn:
        if first and store.has_users(conn):
            raise AccountError("this gallery already has users: an administrator adds more")
        if store.get_user(conn, uid) is not None:
            raise AccountError(f"there is already a user {uid!r}")
        if os_name and store.os_account_owner(conn, os_name) is not None:
            raise AccountError(f"the OS account {os_name!r} is already mapped to another user")
        store.insert_user(conn, record, now_iso())
        audit.append(conn, gallery.gallery_id, "user_added",
                     {"user": uid, "display_name": name, "role": role,
                      "os_account": os_name, "password": pw_hash is not None,
                      "first_administrator": first},
                     user_id=by if by else uid, records={"users": [uid]})
    return _user(record)


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class Session:
    """A signed-in user on one gallery: every rule is checked here."""

    gallery: Gallery
    user: User
    #: the gallery cannot be written by this process: the sign-in is not recorded and
    #: changes are refused
    read_only: bool = False

    @property
    def user_id(self) -> str:
        return self.user.id

    def on(self, gallery: Gallery) -> Session:
        """This signed-in user on another connection to the same gallery file, e.g. the GUI
        thread's after the sign-in ran in a worker thread (an SQLite connection serves
        only the thread that opened it; so the file is compared, not the connection)."""
        if not gallery.same_gallery(self.gallery):
            raise AccountError(f"{gallery.location} is not the gallery {self.user_id} signed "
                               "in to")
        return Session(gallery, self.user, self.read_only)

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
            changes["password_hash"] = _hash_password(
                password, user_id, changes.get("display_name", target.display_name))
            logged["password"] = "changed"
        if not changes:
            return target
        with self.gallery.write() as conn:
            demoted = changes.get("role", target.role) != "administrator" or \
                changes.get("active", 1) == 0
            if target.role == "administrator" and target.active and demoted and \
                    store.active_administrators(conn) <= 1:
                raise AccountError("this is the only active administrator: add another "
                                   "administrator first")
            if changes.get("os_account"):
                other = store.os_account_owner(conn, changes["os_account"],
                                               other_than=user_id)
                if other:
                    raise AccountError(f"the OS account {changes['os_account']!r} is already "
                                       f"mapped to {other}")
            after = store.update_user(conn, user_id, changes)
            assert after is not None
            if after.password_hash is None and after.os_account is None and \
                    not _by_server_login(self.gallery):
                raise AccountError("a user needs a password or a mapped OS account")
            audit.append(conn, self.gallery.gallery_id, "user_changed",
                         {"user": user_id, "from": before, "changes": logged},
                         user_id=self.user_id, records={"users": [user_id]})
        return _user(after)

    def record_lab(self, command: str, data: dict[str, Any] | None = None) -> None:
        """Check the user may use the accuracy lab and log its use (audit kind "lab",
        data {"command": NAME, ...}); a read-only session is not logged (it cannot be)."""
        self.require("lab")
        if not self.read_only:
            audit.record(self.gallery, "lab", {"command": command, **(data or {})},
                         user_id=self.user_id)

    def unlock_user(self, user_id: str) -> User:
        """Lift a user's lock (and back-off) after failed password sign-ins."""
        self.require("manage_users")
        target = user(self.gallery, user_id)
        if target is None:
            raise AccountError(f"there is no user {user_id!r}")
        state = failure_state(self.gallery, user_id)
        if not state.failures:
            raise AccountError(f"{user_id} has no failed sign-ins to lift")
        with self.gallery.write() as conn:
            store.clear_failures(conn, user_id)
            audit.append(conn, self.gallery.gallery_id, "user_unlocked",
                         {"user": user_id, "failures": state.failures},
                         user_id=self.user_id)
        return target

    def set_setting(self, name: str, value: Any) -> Settings:
        self.require("change_settings")
        value = _check_setting(name, value)
        before = getattr(self.settings(), name)
        if before == value:
            return self.settings()
        with self.gallery.write() as conn:
            store.write_setting(conn, name, value)
            audit.append(conn, self.gallery.gallery_id, "setting_changed",
                         {"setting": name, "from": before, "to": value}, user_id=self.user_id,
                         records={"meta": [store.setting_key(name)]})
        if name == "file_group" and not self.gallery.is_server:
            private.share(self.gallery.path, value)
        return self.settings()


def add_import_root(session: Session, folder: str | os.PathLike[str]) -> list[str]:
    """Allow manifests to name photos under `folder` by absolute path (the import_roots
    setting, changed like any setting: administrators, logged). The folder is kept as
    its real path (symbolic links resolved). Returns the folders allowed now."""
    session.require("change_settings")
    if not os.path.isdir(folder):
        raise AccountError(f"{folder}: no such folder")
    roots = [*session.settings().import_roots, os.path.normpath(os.path.realpath(folder))]
    return session.set_setting("import_roots", roots).import_roots


def remove_import_root(session: Session, folder: str | os.PathLike[str]) -> list[str]:
    """No longer allow absolute paths under `folder` (as added: its real path, or as
    typed). Returns the folders allowed now."""
    session.require("change_settings")
    roots = session.settings().import_roots
    named = {os.path.normpath(os.path.realpath(folder)),
             os.path.normpath(os.path.abspath(folder))}
    if not named & set(roots):
        raise AccountError(f"{folder} is not an allowed import folder (facedesk "
                           f"import-roots list --db {session.gallery.location})")
    return session.set_setting("import_roots",
                               [r for r in roots if r not in named]).import_roots


def require_user(gallery: Gallery, user_id: str | None, action: str) -> None:
    """Check that `user_id` may do `action` in this gallery now, for use cases that run
    where a Session cannot go (a worker thread or process with its own connection, e.g.
    an import): None is allowed only while the gallery has no users yet (its first
    administrator is not made), as for a new gallery filled before anyone signs in."""
    if user_id is None:
        if has_users(gallery):
            raise NotPermitted(f"nobody is signed in: sign in as a user who may "
                               f"{ACTION_WORDS[action]} (this gallery has users)")
        return
    current = user(gallery, user_id)
    if current is None:
        raise NotPermitted(f"there is no user {user_id!r} in this gallery: sign in again")
    Session(gallery, current).require(action)


def create_first_administrator(gallery: Gallery, user_id: str, display_name: str, *,
                               password: str | None = None,
                               os_account: str | None = None) -> Session:
    """The first user of a gallery, who is its administrator (only while it has none)."""
    u = _insert_user(gallery, None, user_id, display_name, "administrator", password,
                     os_account, first=True)
    return _signed_in(gallery, u, "first administrator")


def _signed_in(gallery: Gallery, u: User, how: str) -> Session:
    """The session of a user who proved who they are; the sign-in is an event. On a
    gallery this process may not write (read-only file), the session is read-only: the
    sign-in cannot be recorded, and every change is refused (GalleryReadOnly)."""
    try:
        audit.record(gallery, "sign_in", {"user": u.id, "role": u.role, "how": how},
                     user_id=u.id)
    except GalleryReadOnly:
        return Session(gallery, u, read_only=True)
    return Session(gallery, u)


# --- password sign-in: one answer, back-off and lockout ------------------------------------

_DUMMY: dict[int, str] = {}
_DUMMY_LOCK = threading.Lock()


def _dummy_hash() -> str:
    """A hash of a random password with the current hasher's parameters: refusals that
    have no hash to check (unknown user, locked, ...) verify against it, so that every
    answer costs the same time and timing tells nothing either. Safe in any thread."""
    key = id(_HASHER)
    with _DUMMY_LOCK:
        if key not in _DUMMY:
            _DUMMY.clear()
            _DUMMY[key] = _HASHER.hash(secrets.token_hex(16))
        return _DUMMY[key]


def _verify(pw_hash: str, password: str) -> bool:
    """The Argon2 check: plain CPU work with no shared state, safe in any thread (the GUI
    runs sign-ins off its thread; a Session made there moves over with `Session.on`)."""
    try:
        return bool(_HASHER.verify(pw_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class FailureState:
    """A user's failed password sign-ins in a row (table sign_in_failures)."""

    failures: int = 0
    last_failure: float = 0.0  # seconds since the epoch

    def blocked(self, s: Settings, now: float) -> tuple[str, float] | None:
        """("locked" | "back-off", seconds left) while a new attempt is refused unchecked;
        None when it may be checked."""
        if self.failures >= s.lockout_after:
            if s.lockout_minutes is None:
                return "locked", float("inf")
            left = self.last_failure + s.lockout_minutes * 60 - now
            return ("locked", left) if left > 0 else None
        if self.failures and s.backoff_seconds > 0:
            wait = min(s.backoff_seconds * 2 ** (self.failures - 1), BACKOFF_CAP_S)
            left = self.last_failure + wait - now
            if left > 0:
                return "back-off", left
        return None

    def effective(self, s: Settings, now: float) -> FailureState:
        """The state that counts now: a lock that lifted by itself starts again at 0."""
        if self.failures >= s.lockout_after and self.blocked(s, now) is None:
            return FailureState()
        return self


#: the longest back-off between two attempts (before the lockout)
BACKOFF_CAP_S = 300.0


def failure_state(gallery: Gallery, user_id: str) -> FailureState:
    row = store.failures_of(gallery, user_id)
    return FailureState() if row is None else FailureState(row.failures, row.last_failure)


def locked_users(gallery: Gallery, now: float | None = None) -> dict[str, FailureState]:
    """Users whose password sign-in is locked now (`now`: seconds since the epoch)."""
    s = settings(gallery)
    now = time.time() if now is None else now
    out = {}
    for row in store.all_failures(gallery):
        st = FailureState(row.failures, row.last_failure)
        blocked = st.blocked(s, now)
        if blocked is not None and blocked[0] == "locked":
            out[row.user_id] = st
    return out


def _name_key(gallery: Gallery) -> bytes | None:
    """The gallery's secret for hashing refused names (made on first use)."""
    key = store.name_key(gallery)
    if key is None:
        try:
            with gallery.write() as conn:
                store.add_name_key(conn, secrets.token_hex(32))
        except GalleryReadOnly:
            return None
        key = store.name_key(gallery)
    return None if key is None else bytes.fromhex(key)


def refused_name_hash(gallery: Gallery, name: str) -> str:
    """What the log keeps of a refused name that is no user id (it may be a password typed
    in the wrong field): a keyed hash, so that repeated attempts with one name can be told
    apart, and an administrator who suspects a name can check it, but the log does not
    show it."""
    key = _name_key(gallery)
    if key is None:  # a read-only gallery that never had a key: nothing to keep
        return ""
    return hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def _refuse(gallery: Gallery, user_id: str | None, why: str,
            data: dict[str, Any] | None = None, message: str = SIGN_IN_REFUSED
            ) -> AccountError:
    """Log a refused sign-in (when the gallery can be written) and return the error."""
    with contextlib.suppress(GalleryReadOnly):
        audit.record(gallery, "sign_in_failed", {"user": user_id, "why": why, **(data or {})},
                     user_id=None)
    return AccountError(message)


def sign_in(gallery: Gallery, user_id: str, password: str, *,
            now: float | None = None) -> Session:
    """Sign in with a password. Every refusal is an audit event and gives the same answer
    (SIGN_IN_REFUSED) after the same work; failures of a user back off and lock (see the
    module's doc). `now` (seconds since the epoch) is for tests."""
    t = time.time() if now is None else now
    name = user_id.strip()
    s = settings(gallery)
    row = store.get_user(gallery, name) if name else None
    u = None if row is None else _user(row)
    pw_hash: str | None = None if row is None else row.password_hash
    state = FailureState() if u is None else failure_state(gallery, u.id).effective(s, t)
    why: str | None = None
    blocked = None
    if u is None:
        why = "unknown user"
    elif not u.active:
        why = "inactive"
    elif pw_hash is None:
        why = "no password"
    else:
        blocked = state.blocked(s, t)
    checked = why is None and blocked is None
    right = _verify(pw_hash if checked and pw_hash else _dummy_hash(), password)
    if u is None:
        raise _refuse(gallery, None, "unknown user",
                      {"name_hash": refused_name_hash(gallery, name)} if name else None)
    if why is not None:
        raise _refuse(gallery, u.id, why)
    if blocked is not None:
        raise _refuse(gallery, u.id, blocked[0],
                      {"failures": state.failures, "seconds_left": round(blocked[1], 1)
                       if blocked[1] != float("inf") else None})
    if not right:
        failures = state.failures + 1
        locked = failures >= s.lockout_after
        try:
            with gallery.write() as conn:
                store.set_failures(conn, u.id, failures, t)
                audit.append(conn, gallery.gallery_id, "sign_in_failed",
                             {"user": u.id, "why": "wrong password", "failures": failures,
                              "locked": locked})
        except GalleryReadOnly:
            pass
        raise AccountError(SIGN_IN_REFUSED)
    assert pw_hash is not None
    if state.failures or _HASHER.check_needs_rehash(pw_hash):
        try:
            with gallery.write() as conn:
                store.clear_failures(conn, u.id)
                if _HASHER.check_needs_rehash(pw_hash):
                    store.update_user(conn, u.id, {"password_hash": _HASHER.hash(password)})
                    audit.append(conn, gallery.gallery_id, "user_changed",
                                 {"user": u.id, "from": {},
                                  "changes": {"password": "rehashed"}},
                                 user_id=u.id, records={"users": [u.id]})
        except GalleryReadOnly:
            pass
    return _signed_in(gallery, u, "password")


def os_user(gallery: Gallery, account: str | None = None) -> User | None:
    """The active user an administrator mapped to this OS account, if any."""
    name = os_account() if account is None else account
    if not name:
        return None
    row = store.active_user_of_os_account(gallery, name)
    return None if row is None else _user(row)


def sign_in_os(gallery: Gallery, account: str | None = None) -> Session:
    """Sign in as the user mapped to the OS account this process runs as."""
    name = os_account() if account is None else account
    u = os_user(gallery, name)
    if u is None:
        raise _refuse(gallery, name or "(unknown)", "OS account not mapped", None,
                      f"the OS account {name!r} is not mapped to an active FaceDesk user of "
                      "this gallery: sign in with a user name and password, or ask an "
                      "administrator to map it")
    return _signed_in(gallery, u, f"OS account {name}")
