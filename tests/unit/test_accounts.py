"""Users, roles, sign-in and settings (facedesk.app.accounts): every rule, on real
gallery files."""

from __future__ import annotations

import grp
import os
from pathlib import Path
from typing import Any

import argon2
import pytest
from accountability import (
    BACKENDS,
    PASSWORDS,
    PURPOSE,
    World,
    audit_count,
    last_event,
    open_world,
    payload,
    template_on_backend,
)

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import PERMISSIONS, ROLES, Session, User
from facedesk.errors import AccountError, NotPermitted
from facedesk.store import Gallery


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "accounts")


@pytest.fixture
def world(template: Path | str, tmp_path: Path):
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


# --- the first administrator -----------------------------------------------------------------


def test_first_administrator_only_while_the_gallery_has_no_users(gallery: Gallery) -> None:
    assert not accounts.has_users(gallery)
    admin = accounts.create_first_administrator(gallery, "boss", "Bo Boss",
                                                os_account="os-boss")
    assert admin.user.role == "administrator" and admin.user.active
    assert accounts.has_users(gallery)
    added = audit.events(gallery, kinds=["user_added"])
    assert [(e.data["user"], e.data["role"], e.data["first_administrator"]) for e in added] \
        == [("boss", "administrator", True)]
    assert audit.events(gallery, kinds=["sign_in"])[-1].data["user"] == "boss"

    before = audit_count(gallery)
    with pytest.raises(AccountError, match="already has users"):
        accounts.create_first_administrator(gallery, "mallory", "Mal Lory",
                                            os_account="os-mallory")
    assert [u.id for u in accounts.users(gallery)] == ["boss"]
    assert audit_count(gallery) == before


def test_first_administrator_refused_even_when_every_user_is_inactive(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    for u in accounts.users(g):
        if u.role != "administrator":
            admin.change_user(u.id, active=False)
    assert accounts.users(g, active_only=True) == [admin.user]
    with pytest.raises(AccountError):
        accounts.create_first_administrator(g, "mallory", "Mal Lory", os_account="os-m")
    assert accounts.user(g, "mallory") is None


# --- passwords -------------------------------------------------------------------------------


def test_passwords_are_stored_only_as_argon2id_hashes(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    new_password = "brand-New-Pass-5521"
    admin.change_user("abe", password=new_password)
    hashes = dict(g.conn.execute("SELECT id, password_hash FROM users"))
    for uid in ("admin", "ann", "abe"):
        assert hashes[uid].startswith("$argon2id$"), uid
    assert argon2.PasswordHasher().verify(hashes["abe"], new_password)
    assert hashes["sam"] is None  # an OS-account-only user has no password at all
    changed = last_event(g)
    assert changed.kind == "user_changed" and changed.data["changes"] == {"password": "changed"}

    if g.is_server:  # every row of the database, as text
        tables = [r[0] for r in g.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        stored = "".join(str(row) for t in tables
                         for row in g.conn.execute(f"SELECT * FROM {t}")).encode()
    g.close()
    if not g.is_server:
        stored = b"".join(p.read_bytes() for p in g.path.parent.iterdir()
                          if p.name.startswith(g.path.name))
    assert b"$argon2id$" in stored
    for clear in (*PASSWORDS.values(), new_password):
        assert clear.encode() not in stored, clear


def test_short_password_refused(world: World) -> None:
    admin = world.session("admin")
    with pytest.raises(AccountError, match="at least"):
        admin.add_user("kim", "Kim Short", "analyst", password="short")
    assert accounts.user(world.gallery, "kim") is None


# --- signing in ------------------------------------------------------------------------------


def test_sign_in_with_the_right_password(world: World) -> None:
    s = accounts.sign_in(world.gallery, "ann", PASSWORDS["ann"])
    assert s.user.id == "ann" and s.user.role == "analyst"
    ev = last_event(world.gallery)
    assert (ev.kind, ev.user_id, ev.data["user"], ev.data["how"]) == \
        ("sign_in", "ann", "ann", "password")


@pytest.mark.parametrize(("user_id", "password", "why"), [
    ("ann", "not-Anns-password", "wrong password"),
    ("nobody", "whatever-1234", "unknown user"),
    ("abe", "abe-has-no-password", "no password"),  # signs in by OS account only
    ("inactive", PASSWORDS["ann"], "inactive"),
])
def test_refused_sign_in_is_an_audit_event(world: World, user_id: str, password: str,
                                           why: str) -> None:
    g = world.gallery
    if user_id == "inactive":
        world.session("admin").change_user("ann", active=False)
        user_id = "ann"
    before = audit_count(g)
    with pytest.raises(AccountError):
        accounts.sign_in(g, user_id, password)
    assert audit_count(g) == before + 1
    ev = last_event(g)
    # a name that is no user id may be a password typed in the wrong field: not kept
    logged = None if why == "unknown user" else user_id
    assert (ev.kind, ev.data["user"], ev.data["why"]) == ("sign_in_failed", logged, why)
    assert password not in ev.as_dict().__repr__()
    if logged is None:
        assert user_id not in repr(ev.as_dict())


def test_wrong_password_and_unknown_user_get_the_same_answer(world: World) -> None:
    with pytest.raises(AccountError) as wrong:
        accounts.sign_in(world.gallery, "ann", "not-Anns-password")
    with pytest.raises(AccountError) as unknown:
        accounts.sign_in(world.gallery, "nobody", "not-Anns-password")
    assert wrong.value.message == unknown.value.message


def test_os_account_sign_in_only_for_a_mapped_active_user(world: World) -> None:
    g = world.gallery
    s = accounts.sign_in_os(g, "os-sam")
    assert s.user.id == "sam"
    assert last_event(g).data["how"] == "OS account os-sam"

    for account in ("os-nobody", ""):
        with pytest.raises(AccountError):
            accounts.sign_in_os(g, account)
        assert last_event(g).kind == "sign_in_failed"

    admin = world.session("admin")
    admin.change_user("sam", active=False)
    assert accounts.os_user(g, "os-sam") is None
    with pytest.raises(AccountError):
        accounts.sign_in_os(g, "os-sam")
    ev = last_event(g)
    assert (ev.kind, ev.data["user"]) == ("sign_in_failed", "os-sam")

    admin.change_user("sam", active=True)
    assert accounts.sign_in_os(g, "os-sam").user.id == "sam"
    admin.change_user("sam", clear_os_account=True, password="cobalt-Ferry-9042")
    with pytest.raises(AccountError):
        accounts.sign_in_os(g, "os-sam")
    # the freed OS account cannot be used for another user's sign-in either
    assert accounts.os_user(g, "os-sam") is None


def test_one_os_account_maps_to_one_user(world: World) -> None:
    admin = world.session("admin")
    with pytest.raises(AccountError, match="already mapped"):
        admin.add_user("zed", "Zed Zero", "analyst", os_account="os-ann")
    with pytest.raises(AccountError, match="already mapped"):
        admin.change_user("abe", os_account="os-ann")
    assert accounts.user(world.gallery, "abe").os_account == "os-abe"  # type: ignore[union-attr]


# --- roles -----------------------------------------------------------------------------------

#: the rules, written out (not read from PERMISSIONS, which they check)
EXPECTED: dict[str, set[str]] = {
    "import": {"analyst", "administrator"},
    "open_case": {"analyst", "supervisor"},
    "search": {"analyst", "supervisor"},
    "decide": {"analyst", "supervisor"},
    "review_lead": {"supervisor"},
    "close_case": {"analyst", "supervisor", "administrator"},
    "lead_sheet": {"analyst", "supervisor", "administrator"},
    "manage_users": {"administrator"},
    "change_settings": {"administrator"},
    "purge": {"administrator"},
    "export_audit": {"administrator", "supervisor"},
    "disclose": {"administrator", "supervisor"},
    "read_cases": {"analyst", "supervisor", "administrator"},
    "list_users": {"analyst", "supervisor", "administrator"},
    "lab": {"analyst", "supervisor", "trainer", "administrator"},
    "quiz_results": {"trainer", "supervisor", "administrator"},
}
#: what a trainer may do besides, in a training gallery only
TRAINER_IN_TRAINING = {"open_case", "search", "decide", "import", "close_case", "read_cases",
                       "list_users"}


def test_the_permission_table_is_the_expected_one() -> None:
    assert {a: set(r) for a, r in PERMISSIONS.items()} == EXPECTED
    assert set(ROLES) == {"analyst", "supervisor", "trainer", "administrator"}


@pytest.fixture(scope="module")
def role_galleries(tmp_path_factory: pytest.TempPathFactory):
    """An ordinary gallery and a training gallery (settings only)."""
    root = tmp_path_factory.mktemp("roles")
    out = {}
    for training in (False, True):
        g = Gallery.open(root / f"training-{training}.db", create=True)
        admin = accounts.create_first_administrator(g, "admin", "Ada", os_account="os-a")
        admin.set_setting("training", training)
        for role in ROLES:  # one user of each role (a session's role is read from here)
            admin.add_user(f"u-{role}", role.title(), role, os_account=f"os-{role}")
        out[training] = g
    yield out
    for g in out.values():
        g.close()


@pytest.mark.parametrize("training", [False, True], ids=["ordinary", "training"])
@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_every_role_and_action(role_galleries: dict[bool, Gallery], action: str, role: str,
                               training: bool) -> None:
    g = role_galleries[training]
    s = Session(g, User(f"u-{role}", role.title(), role, f"os-{role}", True, False))
    allowed = role in EXPECTED[action] or (
        training and role == "trainer" and action in TRAINER_IN_TRAINING)
    assert s.may(action) is allowed
    if allowed:
        s.require(action)
    else:
        with pytest.raises(NotPermitted, match=f"u-{role}"):
            s.require(action)


def test_roles_are_enforced_by_the_operations_themselves(world: World) -> None:
    g = world.gallery
    ann, sam, admin, tia = (world.session(u) for u in ("ann", "sam", "admin", "tia"))
    before = audit_count(g)
    with pytest.raises(NotPermitted):
        ann.set_setting("threshold", 0.5)
    with pytest.raises(NotPermitted):
        sam.add_user("eve", "Eve", "administrator", os_account="os-eve")
    with pytest.raises(NotPermitted):
        ann.change_user("ann", role="administrator")
    for s in (admin, tia):
        with pytest.raises(NotPermitted):
            cases.open_case(s, "2026-0001", PURPOSE)
    with pytest.raises(NotPermitted):
        cases.purge(sam)
    assert audit_count(g) == before
    assert accounts.settings(g).threshold == 0.6
    assert accounts.user(g, "eve") is None
    assert accounts.user(g, "ann").role == "analyst"  # type: ignore[union-attr]
    assert cases.cases(g) == []


def test_trainer_works_only_in_a_training_gallery(world: World) -> None:
    g = world.gallery
    tia = world.session("tia")
    with pytest.raises(NotPermitted, match="training galleries only"):
        cases.open_case(tia, "T-1", PURPOSE)
    world.session("admin").set_setting("training", True)
    case = cases.open_case(tia, "T-1", PURPOSE)
    assert case.training
    cs = world.search(tia, case)
    d = cases.decide(tia, cs.id, 1, "possible_lead", "same scar")
    assert cases.get_decision(g, d.id).status == "training"
    assert cases.results(g, case.id) == []
    assert cases.pending_leads(g) == []
    with pytest.raises(NotPermitted):
        cases.review_lead(tia, d.id, "confirmed", "I agree")
    world.session("admin").set_setting("training", False)
    with pytest.raises(NotPermitted):
        world.search(tia, case)


# --- administrators --------------------------------------------------------------------------


def test_the_last_active_administrator_stays(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    before = audit_count(g)
    for change in ({"role": "analyst"}, {"active": False}):
        with pytest.raises(AccountError, match="only active administrator"):
            admin.change_user("admin", **change)
    u = accounts.user(g, "admin")
    assert u is not None and u.role == "administrator" and u.active
    assert audit_count(g) == before

    # a second, inactive administrator does not count
    admin.add_user("ada2", "Ada Two", "administrator", os_account="os-ada2")
    admin.change_user("ada2", active=False)
    with pytest.raises(AccountError, match="only active administrator"):
        admin.change_user("admin", role="supervisor")
    # an active one does
    admin.change_user("ada2", active=True)
    admin.change_user("admin", role="supervisor")
    assert accounts.user(g, "admin").role == "supervisor"  # type: ignore[union-attr]
    ada2 = world.session("ada2")
    with pytest.raises(AccountError, match="only active administrator"):
        ada2.change_user("ada2", active=False)


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("threshold", 0.1), ("threshold", 1.5), ("threshold", "0.6"), ("threshold", None),
    ("threshold", True),
    ("retention_days", 0), ("retention_days", -3), ("retention_days", 2.5),
    ("retention_days", "30"), ("retention_days", True),
    ("top_k", 0), ("top_k", 201), ("top_k", 5.0), ("top_k", True),
    ("purposes", []), ("purposes", [""]), ("purposes", ["  "]), ("purposes", "Robbery"),
    ("purposes", ["ok", 3]),
    ("two_person_rule", "off"), ("two_person_rule", 0), ("training", None),
    ("no_such_setting", 1),
])
def test_bad_setting_refused(world: World, name: str, value: Any) -> None:
    g = world.gallery
    admin = world.session("admin")
    before_settings, before_events = accounts.settings(g), audit_count(g)
    with pytest.raises(AccountError):
        admin.set_setting(name, value)
    assert accounts.settings(g) == before_settings
    assert audit_count(g) == before_events


def test_settings_changes_are_audit_events_with_from_and_to(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    new = {"two_person_rule": False, "blind_second_review": True, "retention_days": 90,
           "threshold": 0.5, "top_k": 7, "purposes": ["Robbery", "Missing person"],
           "training": True, "backoff_seconds": 2.5, "lockout_after": 4,
           "lockout_minutes": None, "import_roots": [str(world.probe_path.parent)],
           "file_group": grp.getgrgid(os.getegid()).gr_name,
           "checklist_required": True, "evidence_required": True}
    old = accounts.settings(g).as_dict()
    for name, value in new.items():
        admin.set_setting(name, value)
        ev = last_event(g)
        assert (ev.kind, ev.user_id, payload(ev)) == \
            ("setting_changed", "admin", {"setting": name, "from": old[name], "to": value})
    assert accounts.settings(g).as_dict() == new
    # setting the same value again changes nothing and logs nothing
    n = audit_count(g)
    admin.set_setting("top_k", 7)
    assert audit_count(g) == n
    admin.set_setting("retention_days", None)
    assert payload(last_event(g)) == {"setting": "retention_days", "from": 90, "to": None}
    assert accounts.settings(g).retention_days is None


@pytest.mark.parametrize(("name", "text", "value"), [
    ("two_person_rule", "off", False), ("training", "Yes", True),
    ("retention_days", "none", None), ("retention_days", "30", 30),
    ("threshold", "0.55", 0.55), ("top_k", "12", 12),
    ("purposes", "Robbery; Missing person ;", ["Robbery", "Missing person"]),
])
def test_parse_setting(name: str, text: str, value: Any) -> None:
    assert accounts.parse_setting(name, text) == value


@pytest.mark.parametrize(("name", "text"), [
    ("two_person_rule", "maybe"), ("retention_days", "a month"), ("threshold", "close"),
    ("top_k", "ten"), ("colour", "red"),
])
def test_parse_setting_refuses(name: str, text: str) -> None:
    with pytest.raises(AccountError):
        accounts.parse_setting(name, text)


# --- user changes ----------------------------------------------------------------------------


def test_user_changes_are_audit_events_with_from_and_to(world: World) -> None:
    g = world.gallery
    admin = world.session("admin")
    admin.add_user("kim", "Kim Kay", "analyst", os_account="os-kim")
    ev = last_event(g)
    assert (ev.kind, ev.user_id) == ("user_added", "admin")
    assert ev.data["user"] == "kim" and ev.data["role"] == "analyst"
    assert ev.data["password"] is False and ev.data["first_administrator"] is False

    steps: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
        ({"role": "supervisor"}, {"role": "analyst"}, {"role": "supervisor"}),
        ({"active": False}, {"active": 1}, {"active": 0}),
        ({"active": True}, {"active": 0}, {"active": 1}),
        ({"display_name": "Kim Kay-Lee"}, {"display_name": "Kim Kay"},
         {"display_name": "Kim Kay-Lee"}),
        ({"os_account": "os-kim2"}, {"os_account": "os-kim"}, {"os_account": "os-kim2"}),
    ]
    for change, before, after in steps:
        admin.change_user("kim", **change)
        ev = last_event(g)
        assert (ev.kind, ev.user_id, ev.data["user"]) == ("user_changed", "admin", "kim")
        assert ev.data["from"] == before, change
        assert ev.data["changes"] == after, change
    u = accounts.user(g, "kim")
    assert u is not None
    assert (u.role, u.active, u.display_name, u.os_account) == \
        ("supervisor", True, "Kim Kay-Lee", "os-kim2")
    # no change, no event
    n = audit_count(g)
    admin.change_user("kim", role="supervisor", active=True)
    assert audit_count(g) == n
    # a user needs some way to sign in
    with pytest.raises(AccountError, match="password or a mapped OS account"):
        admin.change_user("kim", clear_os_account=True)
    assert accounts.user(g, "kim").os_account == "os-kim2"  # type: ignore[union-attr]
    assert audit_count(g) == n


def test_bad_new_users_refused(world: World) -> None:
    admin = world.session("admin")
    n = len(accounts.users(world.gallery))
    for args, kwargs in [
        (("ann", "Another Ann", "analyst"), {"os_account": "os-x1"}),  # duplicate id
        (("two words", "Two Words", "analyst"), {"os_account": "os-x2"}),
        (("rex", "", "analyst"), {"os_account": "os-x3"}),
        (("rex", "Rex Roe", "superuser"), {"os_account": "os-x4"}),
        (("rex", "Rex Roe", "analyst"), {}),  # neither password nor OS account
    ]:
        with pytest.raises(AccountError):
            admin.add_user(*args, **kwargs)
    with pytest.raises(AccountError):
        admin.change_user("nobody", role="analyst")
    with pytest.raises(AccountError):
        admin.change_user("ann", role="superuser")
    assert len(accounts.users(world.gallery)) == n


def test_a_role_changed_after_sign_in_applies_at_once(world: World) -> None:
    """A session re-reads its user: a demoted supervisor, or a deactivated analyst, in a
    window or command still open, can no longer act on the old role."""
    g = world.gallery
    sam, ann, admin = world.session("sam"), world.session("ann"), world.session("admin")
    assert sam.may("review_lead")
    admin.change_user("sam", role="analyst")
    with pytest.raises(NotPermitted):
        sam.require("review_lead")
    admin.change_user("ann", active=False)
    with pytest.raises(NotPermitted, match="no longer an active user"):
        cases.open_case(ann, "2026-0099", PURPOSE)
    assert not any(c.number == "2026-0099" for c in cases.cases(g))


def test_a_session_made_in_a_worker_thread_moves_to_the_gui_threads_gallery(
        tmp_path: Path) -> None:
    """Argon2 sign-in off the GUI thread: the worker opens its own connection (SQLite
    connections serve one thread) and the session moves over with Session.on."""
    import threading

    path = tmp_path / "g.db"
    with Gallery.open(path, create=True) as g:
        accounts.create_first_administrator(g, "admin", "Ada Admin",
                                            password=PASSWORDS["admin"])
    made: list[accounts.Session] = []

    def work() -> None:
        with Gallery.open(path) as worker_gallery:
            made.append(accounts.sign_in(worker_gallery, "admin", PASSWORDS["admin"]))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    with Gallery.open(path) as g:
        session = made[0].on(g)
        assert session.gallery is g and session.user_id == "admin"
        session.require("manage_users")
    with Gallery.open(tmp_path / "other.db", create=True) as other, \
            pytest.raises(AccountError):
        made[0].on(other)
