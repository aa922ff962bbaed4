"""Accountability on the command line (facedesk/cli/account_commands.py, case_commands.py,
audit_commands.py and `facedesk search` / `import`): signing in, roles, cases, decisions,
the second review, lead sheets, the audit log (and what raw SQL on the file does to it)
and retention. Real gallery files, the fake face engine, click's CliRunner."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import argon2
import pytest
from click.testing import CliRunner, Result
from fakes import FAKE_FACTORY, one_face, save_png

from facedesk import cli as cli_module
from facedesk.app import accounts, audit, cases
from facedesk.cli import options as cli_options
from facedesk.cli import signin as cli_signin
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery
from facedesk.store.db import Connection
from facedesk.store.postgres import PgConnection

PASSWORDS = {"admin": "quartz-Lantern-6150", "ann": "maple-Tunnel-2287",
             "sam": "granite-Pepper-3391",
             "sue": "willow-Cactus-8826", "tia": "saffron-Bridge-1174"}

Run = Callable[..., Result]


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """`facedesk search` and `import` with the fake engine; cheap password hashes; no
    user or password from the caller's environment."""
    monkeypatch.setattr(cli_options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    # real Argon2id, at a cost that keeps ~200 sign-ins quick
    monkeypatch.setattr(accounts, "_HASHER",
                        argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for var in ("FACEDESK_USER", "FACEDESK_PASSWORD", "FACEDESK_NEW_PASSWORD"):
        monkeypatch.delenv(var, raising=False)


def make_run(db: Path) -> Run:
    def run(*args: object, user: str | None = None, password: str | None = None,
            new_password: str | None = None, with_db: bool = True) -> Result:
        env = {}
        if user is not None:
            env["FACEDESK_USER"] = user
            env["FACEDESK_PASSWORD"] = password if password is not None else PASSWORDS[user]
        if new_password is not None:
            env["FACEDESK_NEW_PASSWORD"] = new_password
        argv = [str(a) for a in args] + (["--db", str(db)] if with_db else [])
        return CliRunner().invoke(cli_module.cli, argv, env=env)

    return run


def ok(res: Result) -> Result:
    assert res.exit_code == 0, (res.exit_code, res.output, res.exception)
    return res


def refused(res: Result, *fragments: str) -> str:
    """Exit code 1 with one line 'error: ...' naming every fragment."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def gallery(store_gallery: Gallery) -> Gallery:
    """The commands run on a gallery file and on a gallery on a server (`--db URL`)."""
    return store_gallery


@pytest.fixture
def db(imported: Gallery) -> Path | str:
    return imported.open_location


@pytest.fixture
def run(db: Path, fake_cli: None) -> Run:
    return make_run(db)


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """A new photo of person_2 (not in the gallery)."""
    return save_png(one_face(2, 5), tmp_path / "probe.png")


@pytest.fixture
def staffed(db: Path, fake_cli: None) -> Path:
    """The gallery with an administrator, an analyst, two supervisors and a trainer (made
    through the core, to keep the tests short)."""
    with Gallery.open(db) as g:
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password=PASSWORDS["admin"])
        admin.add_user("ann", "Ann Analyst", "analyst", password=PASSWORDS["ann"])
        admin.add_user("sam", "Sam Supervisor", "supervisor", password=PASSWORDS["sam"])
        admin.add_user("sue", "Sue Supervisor", "supervisor", password=PASSWORDS["sue"])
        admin.add_user("tia", "Tia Trainer", "trainer", password=PASSWORDS["tia"])
        # no back-off between sign-in attempts: these tests retry at once (the back-off
        # has its own tests, tests/unit/test_access.py)
        admin.set_setting("backoff_seconds", 0)
    return db


def search(run: Run, probe: Path, case: str, user: str = "ann") -> dict:
    res = ok(run("search", probe, "--case", case, "--json", user=user))
    doc: dict = json.loads(res.stdout)
    return doc


def head_of(res: Result) -> str:
    m = re.search(r"head to keep: event \d+ hash ([0-9a-f]{64})", res.stdout)
    assert m, res.stdout
    return m.group(1)


# --- the whole flow ----------------------------------------------------------------------------


def test_a_case_from_first_administrator_to_lead_sheet(run: Run, db: Path, probe: Path,
                                                      tmp_path: Path) -> None:
    # a gallery without users: searching says how to create the first administrator
    refused(run("search", probe, "--case", "X", user="ann"), "no users yet", "users init")
    ok(run("users", "init", "--user", "admin", "--name", "Ada Admin", "--password-prompt",
           new_password=PASSWORDS["admin"]))
    refused(run("users", "init", "--user", "eve", "--name", "Eve", "--password-prompt",
                new_password="whatever-pw"), "already has users")
    for uid, name, role in (("ann", "Ann Analyst", "analyst"),
                            ("sam", "Sam Supervisor", "supervisor")):
        ok(run("users", "add", uid, "--name", name, "--role", role,
               user="admin", new_password=PASSWORDS[uid]))
    listed = json.loads(ok(run("users", "list", "--json", user="admin")).stdout)
    assert [(u["id"], u["role"]) for u in listed] == [
        ("admin", "administrator"), ("ann", "analyst"), ("sam", "supervisor")]

    out = ok(run("case", "open", "2026-0042", "--purpose", "1", "--detail", "robbery",
                 user="ann")).stdout
    assert "Case 2026-0042 (open)" in out and accounts.DEFAULT_PURPOSES[0] in out
    assert "2026-0042" in ok(run("case", "list", user="ann")).stdout

    doc = search(run, probe, "2026-0042")
    assert doc["case"] == "2026-0042" and doc["threshold"] == 0.6
    assert doc["candidates"][0]["person_id"] == "person_2"
    assert all(c["distance"] <= 0.6 for c in doc["candidates"])
    sid = doc["search_id"]
    text = ok(run("search", probe, "--case", "2026-0042", user="ann")).stdout
    assert "recorded in case 2026-0042" in text and "investigative leads only" in text
    assert not re.search(r"(?<!false )\bmatch|identified", text, re.IGNORECASE)

    out = ok(run("decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
                 "--rationale", "same ear shape and scar", user="ann")).stdout
    assert "Pending second review" in out
    decision_id = int(re.search(r"decision (\d+) recorded", out).group(1))  # type: ignore[union-attr]
    pending = json.loads(ok(run("leads", "pending", "--json", user="sam")).stdout)
    assert [d["id"] for d in pending] == [decision_id]
    assert pending[0]["rationale"] == "same ear shape and scar"

    # no lead sheet before the second review
    refused(run("lead-sheet", decision_id, "--out", tmp_path / "sheet", user="ann"),
            "only made for a confirmed lead")
    out = ok(run("leads", "review", decision_id, "--verdict", "confirmed", "--rationale",
                 "agree: ear and scar", user="sam")).stdout
    assert "Confirmed lead" in out
    assert json.loads(ok(run("leads", "pending", "--json", user="sam")).stdout) == []

    shown = ok(run("case", "show", "2026-0042", user="ann")).stdout
    assert f"search {sid}" in shown and "Confirmed lead" in shown
    assert "second review" in shown and "agree: ear and scar" in shown
    assert f"decision {decision_id} (person_2)" in shown
    case_doc = json.loads(ok(run("case", "show", "2026-0042", "--json", user="ann")).stdout)
    assert case_doc["results"] == [decision_id]
    assert len(case_doc["searches"]) == 2

    out = ok(run("lead-sheet", decision_id, "--out", tmp_path / "sheet", "--format", "html",
                 user="ann")).stdout
    written = [Path(line.removeprefix("wrote ")) for line in out.splitlines()]
    assert len(written) == 1 and written[0].suffix == ".html" and written[0].is_file()

    res = ok(run("audit", "verify"))
    assert "audit log intact" in res.stdout and len(head_of(res)) == 64
    log = ok(run("audit", "show", "--case", "2026-0042", user="sam")).stdout
    for label in ("Case opened", "Search", "Decision", "Second review"):
        assert label in log
    ok(run("case", "close", "2026-0042", "--note", "lead passed on", user="ann"))
    assert "2026-0042" not in ok(run("case", "list", user="ann")).stdout
    assert "closed" in ok(run("case", "list", "--all", user="ann")).stdout


# --- signing in -----------------------------------------------------------------------------------


def test_sign_in_by_os_account_password_and_refusals(run: Run, staffed: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # no --user: the user mapped to this OS account
    refused(run("case", "list"), "not mapped", "--user")
    ok(run("users", "change", "ann", "--os-account", accounts.os_account(), user="admin"))
    ok(run("case", "open", "C-1", "--purpose", "1"))
    with Gallery.open(staffed) as g:
        assert cases.get_case(g, "C-1").opened_by == "ann"
    # wrong password, and no password at all away from a terminal
    refused(run("case", "list", user="ann", password="wrong-password"),
            accounts.SIGN_IN_REFUSED)
    res = CliRunner().invoke(cli_module.cli, ["case", "list", "--db", str(staffed),
                                              "--user", "ann"])
    refused(res, "no password for ann", "FACEDESK_PASSWORD")
    # a terminal: the password is asked for (hidden)
    monkeypatch.setattr(cli_signin, "interactive", lambda: True)
    res = CliRunner().invoke(cli_module.cli, ["case", "list", "--db", str(staffed),
                                              "--user", "ann"], input=PASSWORDS["ann"] + "\n")
    assert ok(res) and "C-1" in res.stdout and "maple-Tunnel-2287" not in res.output
    # a deactivated user cannot sign in
    ok(run("users", "change", "ann", "--inactive", user="admin"))
    refused(run("case", "list", user="ann"), accounts.SIGN_IN_REFUSED)
    with Gallery.open(staffed) as g:
        kinds = [(e.kind, e.data.get("user"), e.data.get("why"))
                 for e in audit.events(g, kinds=["sign_in", "sign_in_failed"])]
    assert ("sign_in_failed", "ann", "wrong password") in kinds
    assert ("sign_in_failed", "ann", "inactive") in kinds
    assert ("sign_in", "ann", None) in kinds


def test_new_passwords_and_changes(run: Run, staffed: Path) -> None:
    refused(run("users", "add", "bob", "--name", "Bob", "--role", "analyst", user="admin"),
            "password", "OS account")
    refused(run("users", "add", "bob", "--name", "Bob", "--role", "analyst",
                "--password-prompt", user="admin"), "not a terminal", "FACEDESK_NEW_PASSWORD")
    refused(run("users", "add", "bob", "--name", "Bob", "--role", "analyst",
                user="admin", new_password="short"), "at least 8")
    ok(run("users", "add", "bob", "--name", "Bob Analyst", "--role", "analyst",
           user="admin", new_password="bramble-Kite-5120"))
    ok(run("case", "list", user="bob", password="bramble-Kite-5120"))
    ok(run("users", "change", "bob", "--new-password-prompt", "--role", "supervisor",
           user="admin", new_password="thistle-Rocket-6684"))
    refused(run("case", "list", user="bob", password="bramble-Kite-5120"),
            accounts.SIGN_IN_REFUSED)
    ok(run("case", "list", user="bob", password="thistle-Rocket-6684"))
    refused(run("users", "change", "admin", "--role", "analyst", user="admin"),
            "only active administrator")
    out = ok(run("users", "list", user="bob", password="thistle-Rocket-6684")).stdout
    assert re.search(r"bob\s+Supervisor\s+Bob Analyst", out)


# --- roles --------------------------------------------------------------------------------------


def test_roles_limit_what_each_user_may_do(run: Run, staffed: Path, probe: Path) -> None:
    refused(run("settings", "set", "top_k", "5", user="ann"), "ann (Analyst) may not",
            "change settings")
    refused(run("users", "add", "bob", "--name", "Bob", "--role", "analyst", user="ann",
                new_password="bramble-Kite-5120"), "may not add or change users")
    refused(run("retention", "purge", "--dry-run", user="ann"), "may not purge")
    refused(run("audit", "export", "--out", probe.parent / "x", user="ann"),
            "may not export the audit log")
    refused(run("case", "open", "C-0", "--purpose", "1", user="admin"),
            "admin (Administrator) may not open a case")

    ok(run("case", "open", "C-1", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-1")["search_id"]
    ok(run("decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
           "--rationale", "same ears", user="ann"))
    with Gallery.open(staffed) as g:
        [lead] = cases.pending_leads(g)
    refused(run("leads", "review", lead.id, "--verdict", "confirmed", "--rationale", "ok",
                user="ann"), "may not confirm or overturn a possible lead")

    # a supervisor's own possible lead goes to another supervisor
    sid2 = search(run, probe, "C-1", user="sam")["search_id"]
    out = ok(run("decide", "--search", sid2, "--rank", "1", "--decision", "possible_lead",
                 "--rationale", "same ears", user="sam")).stdout
    own = int(re.search(r"decision (\d+) recorded", out).group(1))  # type: ignore[union-attr]
    refused(run("leads", "review", own, "--verdict", "confirmed", "--rationale", "mine",
                user="sam"), "different person")
    ok(run("leads", "review", own, "--verdict", "overturned", "--rationale", "ears differ",
           user="sue"))
    refused(run("leads", "review", own, "--verdict", "confirmed", "--rationale", "again",
                user="sue"), "not a pending possible lead")

    # trainers: not in an operational gallery, but in a training one
    refused(run("case", "open", "T-1", "--purpose", "1", user="tia"),
            "training galleries only")
    refused(run("search", probe, "--case", "C-1", user="tia"), "tia (Trainer) may not search")
    ok(run("settings", "set", "training", "on", user="admin"))
    ok(run("case", "open", "T-1", "--purpose", "1", user="tia"))
    doc = search(run, probe, "T-1", user="tia")
    out = ok(run("decide", "--search", doc["search_id"], "--rank", "1", "--decision",
                 "possible_lead", "--rationale", "practice", user="tia")).stdout
    assert "Training decision (never a case result)" in out


def test_blind_second_review_hides_the_rationale(run: Run, staffed: Path, probe: Path
                                                 ) -> None:
    ok(run("settings", "set", "blind_second_review", "on", user="admin"))
    ok(run("case", "open", "C-1", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-1")["search_id"]
    ok(run("decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
           "--rationale", "the scar above the left eye", user="ann"))
    [lead] = json.loads(ok(run("leads", "pending", "--json", user="sam")).stdout)
    assert lead["rationale"] is None
    hidden = "(hidden until the second review: blind second review is on)"
    # nobody but the analyst who wrote it reads the rationale while the lead is pending:
    # not the supervisors, not the administrator, in no listing, as text or as JSON
    for who in ("sam", "sue", "admin"):
        listings = [("case", "show", "C-1"), ("case", "show", "C-1", "--json"),
                    ("audit", "show"), ("audit", "show", "--json"),
                    ("audit", "show", "--case", "C-1", "--json")]
        if who != "admin":
            listings.append(("leads", "pending"))
        for args in listings:
            out = ok(run(*args, user=who)).stdout
            assert "scar" not in out, (who, args)
            # (`audit show` as text cuts an event's data short, before the rationale)
            assert hidden in out or args == ("audit", "show"), (who, args)
    [decided] = json.loads(ok(run("case", "show", "C-1", "--json", user="sue")).stdout
                           )["decisions"]
    assert decided["rationale"] == hidden
    for args in (("case", "show", "C-1"), ("audit", "show", "--json"),
                 ("leads", "pending", "--json")):
        assert "the scar above the left eye" in ok(run(*args, user="ann")).stdout, args
    ok(run("leads", "review", lead["id"], "--verdict", "confirmed", "--rationale",
           "same scar", user="sam"))
    with Gallery.open(staffed) as g:
        review = cases.get_decision(g, lead["id"]).review
    assert review is not None
    assert review.blind == 1 and review.reviewer == "sam"
    for who in ("sam", "sue", "admin"):  # reviewed: everyone reads it
        for args in (("case", "show", "C-1"), ("audit", "show", "--json")):
            out = ok(run(*args, user=who)).stdout
            assert "scar above" in out and hidden not in out, (who, args)


def test_settings_show_and_set(run: Run, staffed: Path, probe: Path) -> None:
    ok(run("settings", "set", "threshold", "0.3", user="admin"))
    ok(run("settings", "set", "top_k", "2", user="admin"))
    ok(run("settings", "set", "purposes", "Burglary; Fraud ;", user="admin"))
    ok(run("settings", "set", "retention_days", "none", user="admin"))
    refused(run("settings", "set", "threshold", "3", user="admin"), "between 0.2 and 1.0")
    refused(run("settings", "set", "two_person_rule", "maybe", user="admin"), "on or off")
    doc = json.loads(ok(run("settings", "show", "--json")).stdout)
    assert doc["threshold"] == 0.3 and doc["top_k"] == 2
    assert doc["purposes"] == ["Burglary", "Fraud"] and doc["retention_days"] is None
    text = ok(run("settings", "show")).stdout
    assert "1. Burglary" in text and "2. Fraud" in text

    refused(run("case", "open", "C-1", "--purpose", "Robbery", user="ann"), "Burglary; Fraud")
    ok(run("case", "open", "C-1", "--purpose", "Fraud", user="ann"))
    # the search shows what the settings allow (threshold 0.3, at most 2), however many
    # --top asked for
    doc = search(run, probe, "C-1")
    assert doc["threshold"] == 0.3
    assert 1 <= len(doc["candidates"]) <= 2
    assert all(c["distance"] <= 0.3 for c in doc["candidates"])
    with Gallery.open(staffed) as g:
        rec = cases.search_record(g, doc["search_id"])
    assert [c["person_id"] for c in rec.candidates] == \
        [c["person_id"] for c in doc["candidates"]]
    assert (rec.threshold, rec.top_k) == (0.3, 2)


# --- searches need an open case ---------------------------------------------------------------


def test_search_needs_an_open_case(run: Run, staffed: Path, probe: Path) -> None:
    res = run("search", probe, user="ann")
    assert res.exit_code == 2 and "--case" in res.output
    refused(run("search", probe, "--case", "NOPE", user="ann"), "there is no case NOPE")
    ok(run("case", "open", "C-1", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-1")["search_id"]
    ok(run("case", "close", "C-1", user="ann"))
    refused(run("search", probe, "--case", "C-1", user="ann"), "closed", "read-only")
    refused(run("decide", "--search", sid, "--rank", "1", "--decision", "inconclusive",
                "--rationale", "blurred", user="ann"), "closed")
    refused(run("case", "close", "C-1", user="ann"), "closed")
    with Gallery.open(staffed) as g:
        assert len(cases.searches(g, cases.get_case(g, "C-1").id)) == 1
        stored = cases.probe_image(g, sid)
    assert stored == probe.read_bytes()  # the probe as searched is kept with the search


# --- import ------------------------------------------------------------------------------------


def test_import_into_a_gallery_with_users_needs_permission(fake_cli: None, tmp_path: Path
                                                          ) -> None:
    src = tmp_path / "src"
    save_png(one_face(1), src / "P1" / "a.png")
    db = tmp_path / "new.db"
    run = make_run(db)
    res = ok(run("import", src, "--workers", "1", "--json"))
    assert "users init" in res.stderr
    assert json.loads(res.stdout)["imported"] == 1
    with Gallery.open(db) as g:
        admin = accounts.create_first_administrator(g, "admin", "Ada",
                                                    password="quartz-Lantern-6150")
        admin.add_user("sam", "Sam", "supervisor", password=PASSWORDS["sam"])
        admin.add_user("ann", "Ann", "analyst", password=PASSWORDS["ann"])
    save_png(one_face(2), src / "P2" / "a.png")
    refused(run("import", src, "--workers", "1"), "not mapped")
    refused(run("import", src, "--workers", "1", user="sam"), "may not import photos")
    res = ok(run("import", src, "--workers", "1", "--json", user="ann"))
    assert json.loads(res.stdout)["imported"] == 1 and "users init" not in res.stderr
    with Gallery.open(db) as g:
        imports = audit.events(g, kinds=["import"])
    # each run is logged when it starts and when it ends
    assert [(e.user_id, e.data["status"]) for e in imports] == \
        [(None, "started"), (None, "completed"), ("ann", "started"), ("ann", "completed")]


# --- the audit log -------------------------------------------------------------------------------


def _flow(run: Run, db: Path, probe: Path) -> None:
    """A case with two searches, a possible lead confirmed and one 'not the person'."""
    ok(run("case", "open", "C-1", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-1")["search_id"]
    ok(run("decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
           "--rationale", "same ears", user="ann"))
    sid2 = search(run, probe, "C-1")["search_id"]
    ok(run("decide", "--search", sid2, "--rank", "1", "--decision", "not_the_person",
           "--rationale", "different nose", user="ann"))
    with Gallery.open(db) as g:
        [lead] = cases.pending_leads(g)
    ok(run("leads", "review", lead.id, "--verdict", "confirmed", "--rationale", "agreed",
           user="sam"))


@contextlib.contextmanager
def raw(db: Path | str) -> Iterator[Connection]:
    """A connection outside FaceDesk, as the gallery's owner (autocommit): to the file, or
    to the database as the server's superuser with its triggers off for the session."""
    conn: Connection
    if isinstance(db, str):
        conn = PgConnection.connect(db)
        conn.execute("SET session_replication_role = replica")
    else:
        conn = sqlite3.connect(db, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def tamper(db: Path | str, *statements: str) -> None:
    """Raw SQL on the gallery, with the append-only triggers dropped for it and put back
    after (as someone covering their tracks would)."""
    with raw(db) as conn:
        triggers = [] if isinstance(db, str) else conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
        ).fetchall()
        assert isinstance(db, str) or {name for name, _ in triggers} == set(audit.TRIGGERS)
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for sql in statements:
            conn.execute(sql)
        for _, sql in triggers:
            conn.execute(sql)


def seq_of(db: Path | str, kind: str, nth: int = 0) -> int:
    with raw(db) as conn:
        rows = [r[0] for r in conn.execute("SELECT seq FROM audit WHERE kind = ? ORDER BY seq",
                                           (kind,))]
    return int(rows[nth])


def last_seq(db: Path | str) -> int:
    with raw(db) as conn:
        return int(conn.execute("SELECT max(seq) FROM audit").fetchone()[0])


def failed(res: Result, *fragments: str) -> str:
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert "AUDIT LOG FAILED VERIFICATION" in res.stdout
    for f in fragments:
        assert f in res.stdout, (f, res.stdout)
    return res.stdout


def test_an_untouched_log_verifies(run: Run, staffed: Path, probe: Path) -> None:
    _flow(run, staffed, probe)
    res = ok(run("audit", "verify"))
    n = last_seq(staffed)
    assert f"audit log intact: {n} events" in res.stdout
    doc = json.loads(ok(run("audit", "verify", "--json")).stdout)
    assert doc["ok"] and doc["head_seq"] == n and doc["head_hash"] == head_of(res)
    # verifying is not an event: anyone may check, nothing is written
    assert last_seq(staffed) == n
    ok(run("audit", "verify", "--head", head_of(res)))


def test_an_edited_event_fails_verification(run: Run, staffed: Path, probe: Path) -> None:
    _flow(run, staffed, probe)
    seq = seq_of(staffed, "decision")
    tamper(staffed, "UPDATE audit SET data = replace(data, 'same ears', 'no resemblance') "
                    f"WHERE seq = {seq}")
    failed(run("audit", "verify"), f"event {seq} (decision",
           "does not match its hash", f"first broken or missing event: {seq}")


def test_a_deleted_event_fails_verification(run: Run, staffed: Path, probe: Path) -> None:
    _flow(run, staffed, probe)
    seq = seq_of(staffed, "search", 1)
    tamper(staffed, f"DELETE FROM audit WHERE seq = {seq}")
    failed(run("audit", "verify"), f"event {seq} missing", f"its audit event {seq} is missing")


def test_reordered_events_fail_verification(run: Run, staffed: Path, probe: Path) -> None:
    _flow(run, staffed, probe)
    a, b = seq_of(staffed, "case_opened"), seq_of(staffed, "search")
    tamper(staffed, f"UPDATE audit SET seq = -1 WHERE seq = {a}",
           f"UPDATE audit SET seq = {a} WHERE seq = {b}",
           f"UPDATE audit SET seq = {b} WHERE seq = -1")
    failed(run("audit", "verify"), f"event {a} (search", f"first broken or missing event: {a}")


def test_a_truncated_tail_fails_against_the_kept_head(run: Run, staffed: Path, probe: Path,
                                                     tmp_path: Path) -> None:
    _flow(run, staffed, probe)
    ok(run("case", "list", user="ann"))
    ok(run("audit", "export", "--out", tmp_path / "export", user="sam"))
    exported = tmp_path / "export" / "audit-log.json"
    kept = head_of(ok(run("audit", "verify")))
    n = last_seq(staffed)
    with Gallery.open(staffed) as g:
        assert [e.kind for e in audit.events(g, limit=3)] == ["sign_in", "sign_in", "export"]
    tamper(staffed, f"DELETE FROM audit WHERE seq >= {n - 2}")
    # when the cut events stand for no stored record, the chain itself shows nothing ...
    ok(run("audit", "verify", "--no-witness"))
    # ... the external witness of the head does, by itself ...
    failed(run("audit", "verify"), "the witness", f"saw event {n}", f"ends at event {n - 3}",
           "truncated", f"first broken or missing event: {n - 2}")
    # ... and so does the head printed earlier, or the exported file
    failed(run("audit", "verify", "--head", kept), kept[:16], "truncated",
           f"ends at event {n - 3}")
    # the file ends at the event before its own export event (n)
    failed(run("audit", "verify", "--head", exported), f"event {n - 1} with hash",
           "truncated", f"first broken or missing event: {n - 2}")


def test_export_verifies_on_its_own_and_a_tampered_export_fails(
        run: Run, staffed: Path, probe: Path, tmp_path: Path) -> None:
    _flow(run, staffed, probe)
    out = ok(run("audit", "export", "--out", tmp_path / "export", user="admin")).stdout
    n = last_seq(staffed) - 1  # the files end before the export's own event
    assert f"head to keep: event {n} hash" in out
    exported = tmp_path / "export" / "audit-log.json"
    assert (tmp_path / "export" / "audit-log.csv").is_file()
    res = ok(run("audit", "verify-export", exported, with_db=False))
    assert f"audit log intact: {n} events" in res.stdout
    with Gallery.open(staffed) as g:
        assert audit.events(g)[-1].kind == "export"

    doc = json.loads(exported.read_text(encoding="utf-8"))
    target = next(e for e in doc["events"] if e["kind"] == "lead_review")
    target["data"]["verdict"] = "overturned"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc), encoding="utf-8")
    failed(run("audit", "verify-export", edited, with_db=False),
           f"event {target['seq']} (lead_review")

    doc = json.loads(exported.read_text(encoding="utf-8"))
    doc["events"] = doc["events"][:-1]
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(doc), encoding="utf-8")
    failed(run("audit", "verify-export", cut, with_db=False), f"event {n}")
    bogus = tmp_path / "bogus.json"
    bogus.write_text("[1, 2]", encoding="utf-8")
    refused(run("audit", "verify-export", bogus, with_db=False), "not a FaceDesk audit log")


# --- retention ---------------------------------------------------------------------------------


def _search_seqs(db: Path, ids: list[int]) -> list[tuple[int, int]]:
    with Gallery.open(db) as g:
        return [(i, int(g.conn.execute("SELECT audit_seq FROM searches WHERE id = ?",
                                       (i,)).fetchone()[0])) for i in ids]


def test_retention_purges_exactly_the_old_searches_without_a_confirmed_lead(
        run: Run, staffed: Path, probe: Path) -> None:
    ok(run("settings", "set", "retention_days", "30", user="admin"))
    for number in ("OLD-NO-LEAD", "OLD-LEAD", "NEW-NO-LEAD"):
        ok(run("case", "open", number, "--purpose", "1", user="ann"))
    old_no_lead = search(run, probe, "OLD-NO-LEAD")["search_id"]
    ok(run("decide", "--search", old_no_lead, "--rank", "1", "--decision", "not_the_person",
           "--rationale", "different ears", user="ann"))
    old_lead = search(run, probe, "OLD-LEAD")["search_id"]
    old_lead_2 = search(run, probe, "OLD-LEAD")["search_id"]
    ok(run("decide", "--search", old_lead, "--rank", "1", "--decision", "possible_lead",
           "--rationale", "same ears", user="ann"))
    new_no_lead = search(run, probe, "NEW-NO-LEAD")["search_id"]
    with Gallery.open(staffed) as g:
        [lead] = cases.pending_leads(g)
        purged_decision = cases.decisions(g, cases.get_case(g, "OLD-NO-LEAD").id)[0].id
    ok(run("leads", "review", lead.id, "--verdict", "confirmed", "--rationale", "agreed",
           user="sam"))
    # two cases' searches are 60 days old (searches carry no trigger)
    old = (datetime.now(UTC) - timedelta(days=60)).isoformat(timespec="seconds")
    with raw(staffed) as conn:
        conn.execute("UPDATE searches SET created_at = ? WHERE id IN (?, ?, ?)",
                     (old, old_no_lead, old_lead, old_lead_2))

    def search_ids() -> list[int]:
        with Gallery.open(staffed) as g:
            return [r[0] for r in g.conn.execute("SELECT id FROM searches ORDER BY id")]

    before = search_ids()
    plan = json.loads(ok(run("retention", "purge", "--dry-run", "--json", user="admin")).stdout)
    assert plan["dry_run"] and plan["searches"] == [old_no_lead]
    assert plan["decisions"] == [purged_decision] and plan["cases"] == ["OLD-NO-LEAD"]
    text = ok(run("retention", "purge", "--dry-run", user="admin")).stdout
    assert "would purge 1 searches, 1 decisions" in text
    assert re.search(rf"searches:\s+{old_no_lead}\n", text)
    assert search_ids() == before  # a dry run changes nothing

    text = ok(run("retention", "purge", user="admin")).stdout
    assert "purged 1 searches, 1 decisions" in text and "OLD-NO-LEAD" in text
    assert search_ids() == [s for s in before if s != old_no_lead]
    assert {old_lead, old_lead_2, new_no_lead} <= set(search_ids())
    with Gallery.open(staffed) as g:
        assert cases.probe_image(g, old_no_lead) is None
        assert cases.probe_image(g, old_lead) == probe.read_bytes()
        [ev] = audit.events(g, kinds=["purge"])
        assert ev.user_id == "admin" and ev.data["searches"] == [old_no_lead]
    # the purge leaves the chain intact; the searches aged above by raw SQL are named
    res = run("audit", "verify", "--json")
    assert res.exit_code == 1
    assert sorted(json.loads(res.output)["problems"]) == sorted(
        f"search {sid} differs from what audit event {seq} recorded (changed outside "
        "FaceDesk)" for sid, seq in _search_seqs(staffed, [old_lead, old_lead_2]))
    again = json.loads(ok(run("retention", "purge", "--dry-run", "--json", user="admin")).stdout)
    assert again["searches"] == []
