"""Roles the PostgreSQL server enforces (facedesk.store.pg_security): the schema is built
by an owner role of its own, each person signs in with a login of their own, and each is
refused, directly in SQL, what their FaceDesk role may not do; the triggers hold for the
owner too."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import errors

from facedesk.domain.chain import canonical, genesis_hash, link
from facedesk.store import pg_schema, pg_security
from facedesk.store.schema import MIGRATIONS

# sign-in passwords of the test logins (the throwaway server trusts its socket, so they
# are not checked there; the SCRAM hash is still made and stored)
PASSWORD = "quartz-Meadow-5817"
USERS = {"ada": "administrator", "ann": "analyst", "abe": "analyst", "sam": "supervisor",
         "tom": "trainer"}
GALLERY_ID = "g" + "0" * 31
NOW = "2026-01-01T00:00:00+00:00"

Refused = (errors.InsufficientPrivilege, errors.RaiseException)


@dataclass
class Server:
    """A gallery on the throwaway server: its owner, and a login per person."""

    pg: Any
    db: str
    owner: str
    logins: dict[str, str]  # FaceDesk user -> login

    def connect(self, user: str | None = None) -> psycopg.Connection[Any]:
        """The owner's connection (None), or the login of FaceDesk user `user`."""
        role = self.owner if user is None else self.logins.get(user, user)
        return psycopg.connect(self.pg.url(self.db, role, PASSWORD))


def build_schema(conn: psycopg.Connection[Any]) -> None:
    """The store's header table (as facedesk.store.gallery makes it), every migration for
    PostgreSQL, the gallery's first meta rows, then install."""
    conn.execute("CREATE TABLE facedesk_schema (id INTEGER PRIMARY KEY, application_id "
                 "BIGINT NOT NULL, version INTEGER NOT NULL, writes BIGINT NOT NULL)")
    conn.execute("INSERT INTO facedesk_schema VALUES (1, 1, 8, 0)")
    for version in sorted(MIGRATIONS):
        for statement in pg_schema.migration(version):
            conn.execute(statement)
    conn.execute("INSERT INTO meta(key, value) VALUES ('gallery_id', %s), "
                 "('created_at', %s), ('version', '0')", (GALLERY_ID, NOW))
    pg_security.install(conn)


@pytest.fixture
def server(pg_server: Any) -> Iterator[Server]:
    db, owner, tag = pg_server.new_owned_database()
    srv = Server(pg_server, db, owner, {u: f"{u}_{tag}" for u in USERS})
    with srv.connect() as conn:
        build_schema(conn)
        for uid, role in USERS.items():
            conn.execute("INSERT INTO users(id, display_name, role, active, created_at) "
                         "VALUES (%s, %s, %s, 1, %s)", (uid, uid.title(), role, NOW))
        # a face for decisions to name
        conn.execute("INSERT INTO engines(id, identity, first_used) VALUES ('e1', '{}', %s)",
                     (NOW,))
        conn.execute("INSERT INTO persons(person_id, created_at) VALUES ('P1', %s)",
                     (NOW,))
        conn.execute("INSERT INTO photos(sha256, person_pk, path, size_bytes, width, "
                     "height, format, faces_found, added_at) "
                     "VALUES ('aa', 1, 'p.jpg', 1, 1, 1, 'JPEG', 1, %s)", (NOW,))
        conn.execute("INSERT INTO faces(photo_id, person_pk, engine_id, box_top, "
                     "box_right, box_bottom, box_left, landmarks, size_px, eye_distance_px, "
                     "sharpness, brightness, yaw_deg, encoding) VALUES "
                     "(1, 1, 'e1', 0, 1, 1, 0, '{}', 1, 1, 1, 1, 0, %s)", (bytes(512),))
        for uid, role in USERS.items():
            pg_security.create_login(conn, srv.logins[uid], PASSWORD, uid, role)
    yield srv
    with srv.connect() as conn:
        for login in srv.logins.values():
            pg_security.drop_login(conn, login)


def append(conn: psycopg.Connection[Any], user_id: str | None, kind: str = "lab",
           data: dict[str, Any] | None = None, *, seq: int | None = None,
           prev: str | None = None) -> int:
    """An audit event at the end of the chain (or at `seq`/after `prev` to try otherwise)."""
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    n, h = (1, genesis_hash(GALLERY_ID)) if last is None else (last[0] + 1, last[1])
    ev = link(h if prev is None else prev, n if seq is None else seq, NOW, user_id, kind,
              None, data or {})
    conn.execute("INSERT INTO audit(seq, at, user_id, kind, case_id, data, prev_hash, hash) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (ev.seq, ev.at, ev.user_id, ev.kind, ev.case_id, canonical(ev.data),
                  ev.prev_hash, ev.hash))
    return ev.seq


def open_case(conn: psycopg.Connection[Any], by: str, number: str | None = None,
              training: int = 0) -> int:
    row = conn.execute(
        "INSERT INTO cases(number, purpose, training, opened_by, opened_at) "
        "VALUES (%s, 'Investigation', %s, %s, %s) RETURNING id",
        (number or uuid.uuid4().hex[:8], training, by, NOW)).fetchone()
    assert row
    return int(row[0])


def search(conn: psycopg.Connection[Any], case_id: int, by: str,
           created_at: str = NOW) -> int:
    row = conn.execute(
        "INSERT INTO searches(case_id, user_id, created_at, probe_sha256, probe_name, "
        "probe_box, quality, engine_id, gallery_version, persons_searched, faces_searched, "
        "threshold, top_k, candidates, audit_seq) VALUES "
        "(%s, %s, %s, 'bb', 'probe.jpg', '[]', '{}', 'e1', 0, 1, 1, 0.6, 20, '[]', 0) "
        "RETURNING id", (case_id, by, created_at)).fetchone()
    assert row
    sid = int(row[0])
    seq = append(conn, by, "search", {"id": sid})
    conn.execute("UPDATE searches SET audit_seq = %s WHERE id = %s", (seq, sid))
    return sid


def decide(conn: psycopg.Connection[Any], case_id: int, search_id: int, by: str,
           decision: str = "not_the_person") -> int:
    row = conn.execute(
        "INSERT INTO decisions(created_at, reviewer, decision, rationale, blind_review, "
        "probe_sha256, probe_path, probe_box, engine_id, gallery_version, persons_searched, "
        "person_id, face_id, rank, distance, similarity, case_id, search_id) VALUES "
        "(%s, %s, %s, 'different ears', 0, 'bb', 'probe.jpg', '[]', 'e1', 0, 1, 'P1', 1, 1, "
        "0.5, 0.5, %s, %s) RETURNING id", (NOW, by, decision, case_id, search_id)).fetchone()
    assert row
    did = int(row[0])
    seq = append(conn, by, "decision", {"id": did})
    conn.execute("UPDATE decisions SET audit_seq = %s WHERE id = %s", (seq, did))
    return did


def refused(srv: Server, user: str | None, statement: str,
            params: tuple[Any, ...] = ()) -> str:
    """Run `statement` as `user`; it must be refused. The server's message."""
    with srv.connect(user) as conn, pytest.raises(Refused) as info:
        conn.execute(statement, params)
    return str(info.value)


def work(srv: Server) -> dict[str, int]:
    """A case with a search and a decision, made by the analyst."""
    with srv.connect("ann") as conn:
        case = open_case(conn, "ann")
        sid = search(conn, case, "ann")
        did = decide(conn, case, sid, "ann")
    return {"case": case, "search": sid, "decision": did}


# --- the roles -----------------------------------------------------------------------------------


def test_groups_are_nologin_and_each_login_in_one(server: Server) -> None:
    with server.connect() as conn:
        rows = dict(conn.execute(
            "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s)",
            (list(pg_security.GROUP_ROLES.values()),)).fetchall())
        assert rows == {g: False for g in pg_security.GROUP_ROLES.values()}
        for uid, role in USERS.items():
            groups = [r[0] for r in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                (server.logins[uid],))]
            assert groups == [pg_security.GROUP_ROLES[role]]
        owner = conn.execute("SELECT DISTINCT tableowner FROM pg_tables "
                             "WHERE schemaname = 'public'").fetchall()
        assert owner == [(server.owner,)]
        assert sorted(pg_security.logins(conn)) == sorted(
            (server.logins[u], u) for u in USERS)


def test_the_signed_in_user_is_the_logins(server: Server) -> None:
    for uid in USERS:
        with server.connect(uid) as conn:
            assert pg_security.bound_user(conn) == uid
    with server.connect() as conn:
        assert pg_security.bound_user(conn) is None


def test_install_is_idempotent(server: Server) -> None:
    with server.connect() as conn:
        pg_security.install(conn)
        pg_security.install(conn)
    work(server)


def test_install_only_by_the_owner(server: Server) -> None:
    with server.connect("ada") as conn, pytest.raises(pg_security.ServerSetupError,
                                                      match="owner"):
        pg_security.install(conn)


# --- what each may do ----------------------------------------------------------------------------


def test_analyst_works_a_case(server: Server) -> None:
    ids = work(server)
    with server.connect("ann") as conn:
        conn.execute("UPDATE cases SET closed_by = 'ann', closed_at = %s, closing_note = 'x' "
                     "WHERE id = %s", (NOW, ids["case"]))
        conn.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                     "WHERE key = 'version'")
        conn.execute("INSERT INTO persons(person_id, created_at) VALUES ('P2', %s)", (NOW,))
        conn.execute("UPDATE persons SET name = 'Doe' WHERE person_id = 'P2'")
        append(conn, "ann", "candidate_viewed")
    with server.connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == ("1",)
        assert conn.execute("SELECT s.audit_seq, d.audit_seq FROM searches s, decisions d"
                            ).fetchone() == (1, 2)
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (3,)


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET kind = 'lab'",
    "DELETE FROM audit",
    "TRUNCATE audit",
    "UPDATE decisions SET rationale = 'changed my mind'",
    "UPDATE decisions SET decision = 'possible_lead'",
    "DELETE FROM decisions",
    "DELETE FROM searches",
    "UPDATE searches SET candidates = '[]'",
    "INSERT INTO users(id, display_name, role, active, created_at) "
    "VALUES ('eve', 'Eve', 'administrator', 1, 'now')",
    "UPDATE users SET role = 'administrator' WHERE id = 'ann'",
    "INSERT INTO meta(key, value) VALUES ('setting:two_person_rule', 'false')",
    "DELETE FROM sign_in_failures",
    "INSERT INTO facedesk_logins(login, user_id, bound_at) VALUES ('x', 'ada', 'now')",
    "UPDATE facedesk_logins SET user_id = 'ada'",
    "INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, blind, created_at, "
    "audit_seq) VALUES (1, 'ann', 'confirmed', 'same scar', 0, 'now', 0)",
    "INSERT INTO calibrations(created_at, kind, engine_id, source, impostor_pairs, "
    "genuine_pairs, data) VALUES ('now', 'gallery', 'e1', 's', 1, 1, '{}')",
    "SET ROLE facedesk_administrator",
    "SET ROLE facedesk_supervisor",
    "SELECT facedesk_purge_searches(ARRAY[1]::bigint[])",
])
def test_analyst_is_refused(server: Server, statement: str) -> None:
    work(server)
    refused(server, "ann", statement)


def test_settings_rows_are_out_of_an_analysts_reach(server: Server) -> None:
    with server.connect() as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:two_person_rule', 'true')")
    with server.connect("ann") as conn:
        cur = conn.execute("UPDATE meta SET value = 'false' "
                           "WHERE key = 'setting:two_person_rule'")
        assert cur.rowcount == 0  # row-level security: the row is not the analyst's to change
    with server.connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'setting:two_person_rule'"
                            ).fetchone() == ("true",)


def test_no_one_acts_as_someone_else(server: Server) -> None:
    ids = work(server)
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege,
                                                      match="must be the signed-in user ann"):
        append(conn, "sam")
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege):
        append(conn, None, "sign_in_failed")
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege):
        open_case(conn, "sam")
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege):
        search(conn, ids["case"], "sam")
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege):
        decide(conn, ids["case"], ids["search"], "sam")
    with server.connect("sam") as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, "
                     "blind, created_at, audit_seq) VALUES "
                     "(%s, 'ann', 'confirmed', 'same scar', 0, %s, 0)", (ids["decision"], NOW))
    with server.connect("ann") as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("UPDATE cases SET closed_by = 'sam', closed_at = %s WHERE id = %s",
                     (NOW, ids["case"]))


def test_audit_appends_only_at_the_end(server: Server) -> None:
    work(server)
    with server.connect("ann") as conn, pytest.raises(errors.RaiseException,
                                                      match="added at the end"):
        append(conn, "ann", seq=2)
    with server.connect("ann") as conn, pytest.raises(errors.RaiseException,
                                                      match="added at the end"):
        append(conn, "ann", seq=99)
    with server.connect("ann") as conn, pytest.raises(errors.RaiseException,
                                                      match="prev_hash"):
        append(conn, "ann", prev="0" * 64)


def test_first_event_follows_the_genesis_hash(server: Server) -> None:
    with server.connect("ann") as conn, pytest.raises(errors.RaiseException,
                                                      match="prev_hash"):
        append(conn, "ann", prev="f" * 64)
    with server.connect("ann") as conn:
        assert append(conn, "ann") == 1


def test_audit_seq_names_the_rows_own_event_once(server: Server) -> None:
    ids = work(server)
    assert "already names" in refused(server, "ann", "UPDATE decisions SET audit_seq = 1 "
                                      "WHERE id = %s", (ids["decision"],))
    with server.connect("ann") as conn:
        sid = search(conn, ids["case"], "ann")
        row = conn.execute(
            "INSERT INTO decisions(created_at, reviewer, decision, rationale, blind_review, "
            "probe_sha256, probe_path, probe_box, engine_id, gallery_version, "
            "persons_searched, person_id, face_id, rank, distance, similarity, case_id, "
            "search_id) VALUES (%s, 'ann', 'inconclusive', 'blurred', 0, 'bb', 'p', '[]', "
            "'e1', 0, 1, 'P1', 1, 2, 0.5, 0.5, %s, %s) RETURNING id",
            (NOW, ids["case"], sid)).fetchone()
        assert row
        with pytest.raises(errors.RaiseException, match="is not the decision event"):
            conn.execute("UPDATE decisions SET audit_seq = 1 WHERE id = %s", (row[0],))


def test_concurrent_appends_cannot_fork_the_chain(server: Server) -> None:
    work(server)
    first = server.connect("ann")
    append(first, "ann")  # holds the write lock until it commits
    outcome: list[BaseException | None] = []

    def second() -> None:
        with server.connect("sam") as conn:
            try:
                last = conn.execute("SELECT max(seq) FROM audit").fetchone()
                assert last
                append(conn, "sam", seq=last[0] + 1)  # the same seq as the first's
                outcome.append(None)
            except psycopg.Error as exc:
                outcome.append(exc)

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert not outcome  # waiting for the lock
    first.commit()
    first.close()
    t.join(10)
    assert outcome and isinstance(outcome[0], errors.RaiseException)
    with server.connect() as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        links = conn.execute("SELECT a.prev_hash = b.hash FROM audit a JOIN audit b "
                             "ON b.seq = a.seq - 1").fetchall()
        assert all(ok for (ok,) in links)


def test_supervisor_reviews_but_does_not_import(server: Server) -> None:
    ids = work(server)
    with server.connect("sam") as conn:
        row = conn.execute(
            "INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, blind, "
            "created_at, audit_seq) VALUES (%s, 'sam', 'overturned', 'different nose', 0, "
            "%s, 0) RETURNING id", (ids["decision"], NOW)).fetchone()
        assert row
        seq = append(conn, "sam", "lead_review", {"id": row[0]})
        conn.execute("UPDATE lead_reviews SET audit_seq = %s WHERE id = %s", (seq, row[0]))
    refused(server, "sam", "INSERT INTO persons(person_id, created_at) VALUES ('P9', 'now')")
    refused(server, "sam", "UPDATE lead_reviews SET verdict = 'confirmed'")
    refused(server, "sam", "DELETE FROM lead_reviews")


def test_administrator_manages_users_and_settings_not_decisions(server: Server) -> None:
    ids = work(server)
    with server.connect("ada") as conn:
        conn.execute("INSERT INTO users(id, display_name, role, active, created_at) "
                     "VALUES ('eve', 'Eve', 'analyst', 1, %s)", (NOW,))
        conn.execute("UPDATE users SET active = 0 WHERE id = 'eve'")
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:top_k', '10')")
        conn.execute("INSERT INTO sign_in_failures(user_id, failures, last_failure) "
                     "VALUES ('eve', 1, 0)")
        conn.execute("DELETE FROM sign_in_failures")
        append(conn, "ada", "user_added", {"user": "eve"})
    for statement in ["DELETE FROM decisions", "UPDATE decisions SET rationale = 'x'",
                      "UPDATE audit SET kind = 'x'", "DELETE FROM audit",
                      "INSERT INTO facedesk_logins(login, user_id, bound_at) "
                      "VALUES ('y', 'abe', 'now')"]:
        refused(server, "ada", statement)
    with server.connect("ada") as conn, pytest.raises(errors.InsufficientPrivilege):
        decide(conn, ids["case"], ids["search"], "ada")


def test_purge_follows_the_retention_rule(server: Server) -> None:
    with server.connect("ann") as conn:
        case = open_case(conn, "ann")
        old = search(conn, case, "ann", created_at="2020-01-01T00:00:00+00:00")
        decide(conn, case, old, "ann")
        recent = search(conn, case, "ann", created_at="2999-01-01T00:00:00+00:00")
        lead_case = open_case(conn, "ann")
        kept = search(conn, lead_case, "ann", created_at="2020-01-01T00:00:00+00:00")
        decide(conn, lead_case, kept, "ann", "possible_lead")
    refused(server, "ada", "SELECT facedesk_purge_searches(ARRAY[%s]::bigint[])", (old,))
    with server.connect() as conn:  # retention_days set by the owner for the test
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:retention_days', '30')")
    for sid in (recent, kept):
        assert "may not be purged" in refused(
            server, "ada", "SELECT facedesk_purge_searches(ARRAY[%s]::bigint[])", (sid,))
    with server.connect("ada") as conn:
        assert pg_security.purge_searches(conn, [old]) == []
        assert conn.execute("SELECT count(*) FROM decisions WHERE search_id = %s",
                            (old,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM searches").fetchone() == (2,)


def test_trainer_works_only_in_a_training_gallery(server: Server) -> None:
    with server.connect("tom") as conn, pytest.raises(errors.InsufficientPrivilege,
                                                      match="training galleries"):
        open_case(conn, "tom", training=1)
    with server.connect("tom") as conn:
        append(conn, "tom", "lab")  # the lab is every role's, and its use is logged
    with server.connect("ada") as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:training', 'true')")
    with server.connect("tom") as conn:
        case = open_case(conn, "tom", training=1)
        search(conn, case, "tom")


def test_inactive_unbound_and_regrouped_logins_write_nothing(server: Server) -> None:
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE stranger_{server.db[2:10]} LOGIN IN ROLE facedesk_analyst")
    stranger = f"stranger_{server.db[2:10]}"
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        server.connect(stranger)  # a login of another gallery on the same server
    with server.connect() as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{server.db}" TO {stranger}')
    assert "not bound" in refused(server, stranger,
                                  "INSERT INTO persons(person_id, created_at) "
                                  "VALUES ('P7', 'now')")
    with server.connect("ada") as conn:
        conn.execute("UPDATE users SET role = 'supervisor' WHERE id = 'ann'")
    assert "facedesk_supervisor" in refused(server, "ann",
                                            "INSERT INTO persons(person_id, created_at) "
                                            "VALUES ('P7', 'now')")
    with server.connect("ada") as conn:
        conn.execute("UPDATE users SET role = 'analyst', active = 0 WHERE id = 'ann'")
    assert "not an active user" in refused(server, "ann",
                                           "INSERT INTO persons(person_id, created_at) "
                                           "VALUES ('P7', 'now')")
    with server.connect() as conn:
        conn.execute(f'REVOKE ALL ON DATABASE "{server.db}" FROM {stranger}')
        conn.execute(f"DROP ROLE {stranger}")


def test_the_owners_accidents_are_refused_too(server: Server) -> None:
    work(server)
    for statement in ["UPDATE audit SET kind = 'lab'", "DELETE FROM audit", "TRUNCATE audit",
                      "DELETE FROM decisions", "UPDATE decisions SET rationale = 'x'",
                      "TRUNCATE decisions CASCADE"]:
        with server.connect() as conn, pytest.raises(errors.RaiseException):
            conn.execute(statement)


def test_create_login_checks_the_binding(server: Server) -> None:
    with server.connect() as conn:
        with pytest.raises(pg_security.ServerSetupError, match="not an active supervisor"):
            pg_security.create_login(conn, "x_login", PASSWORD, "ann", "supervisor")
        with pytest.raises(pg_security.ServerSetupError, match="already bound"):
            pg_security.create_login(conn, "x_login", PASSWORD, "ann", "analyst")
        with pytest.raises(pg_security.ServerSetupError, match="no FaceDesk user"):
            pg_security.create_login(conn, "x_login", PASSWORD, "nobody", "analyst")
        with pytest.raises(pg_security.ServerSetupError, match="login name"):
            pg_security.create_login(conn, "X; DROP", PASSWORD, "ann", "analyst")
    with psycopg.connect(server.pg.url(server.db)) as su:  # the cluster's superuser
        stored = su.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                            (server.logins["ann"],)).fetchone()
        assert stored and str(stored[0]).startswith("SCRAM-SHA-256$")


def test_decisions_are_the_searchers_or_a_supervisors(server: Server) -> None:
    ids = work(server)
    with server.connect("abe") as conn, pytest.raises(errors.InsufficientPrivilege,
                                                      match="made by ann"):
        decide(conn, ids["case"], ids["search"], "abe")
    with server.connect("sam") as conn:  # a supervisor may take over a search
        decide(conn, ids["case"], ids["search"], "sam", "possible_lead")


def test_a_second_review_is_another_persons(server: Server) -> None:
    with server.connect("sam") as conn:
        case = open_case(conn, "sam")
        did = decide(conn, case, search(conn, case, "sam"), "sam", "possible_lead")
    with server.connect("sam") as conn, pytest.raises(errors.InsufficientPrivilege,
                                                      match="different person"):
        conn.execute("INSERT INTO lead_reviews(decision_id, reviewer, verdict, rationale, "
                     "blind, created_at, audit_seq) VALUES "
                     "(%s, 'sam', 'confirmed', 'same scar', 0, %s, 0)", (did, NOW))


def test_every_write_counts_itself_in_the_header(server: Server) -> None:
    for uid in USERS:
        with server.connect(uid) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", pg_security.WRITE_LOCK)
            conn.execute("UPDATE facedesk_schema SET writes = writes + 1")
    with server.connect() as conn:
        assert conn.execute("SELECT version, writes FROM facedesk_schema").fetchone() == (8, 5)
    refused(server, "ada", "UPDATE facedesk_schema SET version = 1")
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE lost_{server.db[2:10]} LOGIN IN ROLE facedesk_analyst")
        conn.execute(f'GRANT CONNECT ON DATABASE "{server.db}" TO lost_{server.db[2:10]}')
    assert "not bound" in refused(server, f"lost_{server.db[2:10]}",
                                  "UPDATE facedesk_schema SET writes = writes + 1")
    with server.connect() as conn:
        conn.execute(f'REVOKE ALL ON DATABASE "{server.db}" FROM lost_{server.db[2:10]}')
        conn.execute(f"DROP ROLE lost_{server.db[2:10]}")


# --- facedesk server: setup and logins, through the application ---------------------------------


def test_server_setup_and_logins_from_the_command_line(pg_server: Any,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Any) -> None:
    from click.testing import CliRunner

    from facedesk.app import accounts, audit, cases, server
    from facedesk.cli.main import cli
    from facedesk.store import Gallery

    db, owner, tag = pg_server.new_owned_database()
    jdoe, asmith = f"jdoe_{tag}", f"asmith_{tag}"
    owner_url = pg_server.url(db, owner)
    monkeypatch.setenv("FACEDESK_NEW_PASSWORD", PASSWORD)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "--db", owner_url])
        assert result.exit_code == 0, result.output
        return result

    monkeypatch.setenv("FACEDESK_NEW_PASSWORD", "password1")
    weak = CliRunner().invoke(cli, ["server", "setup", "--db", owner_url, "--admin-user",
                                    "jdoe", "--admin-name", "Jane Doe"])
    assert weak.exit_code == 1 and "too easy to guess" in weak.output
    assert weak.output.count("\n") == 1  # one line, nothing made
    monkeypatch.setenv("FACEDESK_NEW_PASSWORD", PASSWORD)
    run("server", "setup", "--admin-user", "jdoe", "--admin-name", "Jane Doe",
        "--admin-login", jdoe)
    again = CliRunner().invoke(cli, ["server", "setup", "--db", owner_url,
                                                "--admin-user", "x", "--admin-name", "X"])
    assert again.exit_code == 1 and "already has users" in again.output
    assert f"{jdoe}" in run("server", "setup").output  # an upgrade: idempotent

    def as_login(login: str, *args: str) -> Any:
        monkeypatch.delenv("FACEDESK_NEW_PASSWORD")
        try:
            return CliRunner().invoke(cli, [*args, "--db", pg_server.url(db, login)])
        finally:
            monkeypatch.setenv("FACEDESK_NEW_PASSWORD", PASSWORD)

    # the administrator adds a user in FaceDesk (no FaceDesk password: the login signs in)
    added = as_login(jdoe, "users", "add", "asmith", "--name", "Ann Smith", "--role",
                     "analyst")
    assert added.exit_code == 0, added.output
    assert "asmith (analyst)" in run("server", "login", "add", asmith, "--user",
                                     "asmith").output
    assert '"user": "asmith"' in run("server", "login", "list", "--json").output
    opened = as_login(asmith, "case", "open", "2026-0001", "--purpose", "1")
    assert opened.exit_code == 0, opened.output
    other = as_login(asmith, "case", "open", "2026-0002", "--purpose", "1", "--user", "jdoe")
    assert other.exit_code == 1 and "connect with jdoe's own login" in other.output

    with Gallery.open(pg_server.url(db, jdoe, PASSWORD)) as g:
        admin = server.sign_in_server(g)
        assert admin.user.id == "jdoe" and admin.user.role == "administrator"
    with Gallery.open(pg_server.url(db, asmith, PASSWORD)) as g:
        ann = server.sign_in_server(g)
        assert ann.user.id == "asmith"
        cases.open_case(ann, "2026-0003", accounts.DEFAULT_PURPOSES[0])
        # an edited FaceDesk that claims to be the administrator is refused by the server
        forged = accounts.Session(g, admin.user)
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            forged.add_user("mallory", "Mallory", "administrator",
                            password="lantern-Copper-2290")

    run("server", "login", "drop", asmith)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_server.url(db, asmith, PASSWORD)).close()
    with Gallery.open(owner_url) as g:
        kinds = [e.kind for e in audit.events(g)]
        assert kinds.count("user_changed") == 2  # the login bound, then dropped
        assert audit.verify(g, use_witness=False).problems == []
    run("server", "login", "drop", jdoe)


# --- the application, each person through their own login ----------------------------------------


def test_the_application_works_as_each_persons_login(pg_server: Any, tmp_path: Any) -> None:
    """Import, search, decide, second review, settings and retention through FaceDesk's
    use cases, each person connected as their own login (grants, policies and triggers
    allow what the roles do); then the owner's `audit verify` passes."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from unittest import mock

    from fakes import FAKE_FACTORY, FakeEngine, one_face, save_png

    from facedesk.app import accounts, audit, cases, quiz, server
    from facedesk.app.importer import ImportOptions, run_import
    from facedesk.app.search import Searcher, analyze_probe, choose_face
    from facedesk.engine.spec import EngineSpec
    from facedesk.store import Gallery

    db, owner, tag = pg_server.new_owned_database()
    owner_url = pg_server.url(db, owner)
    login = {u: f"{u}_{tag}" for u in ("ada", "ann", "sam")}
    server.setup(owner_url, server.FirstAdministrator("ada", "Ada Admin", login["ada"]),
                 PASSWORD)

    def as_(user: str) -> Gallery:
        return Gallery.open(pg_server.url(db, login[user], PASSWORD))

    with as_("ada") as g:
        ada = server.sign_in_server(g)
        ada.add_user("ann", "Ann Analyst", "analyst", os_account="os-ann")
        ada.add_user("sam", "Sam Supervisor", "supervisor", os_account="os-sam")
        ada.set_setting("retention_days", 30)
    for user in ("ann", "sam"):
        server.add_login(owner_url, login[user], user, PASSWORD)

    people = Path(tmp_path) / "people"
    for person in range(3):
        for variant in range(2):
            save_png(one_face(person, variant), people / f"person_{person}" / f"{variant}.png")
    probe_path = Path(tmp_path) / "probe.png"
    save_png(one_face(1, 7), probe_path)
    old = (datetime.now(UTC) - timedelta(days=90)).isoformat(timespec="seconds")

    def search(session: accounts.Session, case: cases.Case,
               created_at: str | None = None) -> cases.CaseSearch:
        eng = FakeEngine()
        probe = analyze_probe(eng, probe_path)
        face = choose_face(eng, probe)
        res = Searcher(session.gallery, eng.identity()).search(face.encoding, top_k=20)
        with mock.patch.object(cases, "now_iso", lambda: created_at or
                               datetime.now(UTC).isoformat(timespec="seconds")):
            return cases.record_search(session, case, probe, face, res)

    with as_("ann") as g:
        ann = server.sign_in_server(g)
        for _ in run_import(g, people, engine=EngineSpec(FAKE_FACTORY),
                            options=ImportOptions(workers=1), user_id="ann"):
            pass
        assert g.conn.execute("SELECT count(*) FROM faces").fetchone()[0] == 6
        lead_case = cases.open_case(ann, "2026-0001", accounts.DEFAULT_PURPOSES[0])
        s1 = search(ann, lead_case)
        lead = cases.decide(ann, s1.id, 1, "possible_lead", "same scar on the chin")
        done_case = cases.open_case(ann, "2026-0002", accounts.DEFAULT_PURPOSES[0])
        s2 = search(ann, done_case, created_at=old)
        cases.decide(ann, s2.id, 1, "not_the_person", "different ears")
    with as_("sam") as g:
        sam = server.sign_in_server(g)
        cases.review_lead(sam, lead.id, "confirmed", "the scar and the ears agree")
    with as_("ann") as g:  # issue 18: independent evidence for the confirmed lead
        ann = server.sign_in_server(g)
        cases.record_evidence(ann, lead.id, "fingerprint on the till, examiner's report 17")
    with as_("ada") as g:
        ada = server.sign_in_server(g)
        plan = cases.purge(ada)
        assert plan.searches == [s2.id] and len(plan.decisions) == 1
        ada.set_setting("training", True)
    with as_("ann") as g:  # issue 18: a trainee's quiz, answered and finished
        ann = server.sign_in_server(g)
        taken = quiz.start(ann, quiz.QuizOptions(size=2))
        quiz.answer(ann, taken.session.id, taken.rows[0].position, "same", 3.0)
        assert quiz.finish(ann, taken.session.id) is not None
    with Gallery.open(owner_url) as g:
        assert audit.verify(g, use_witness=False).problems == []
        assert g.conn.execute("SELECT count(*) FROM searches").fetchone()[0] == 1
        g.conn.execute("ALTER TABLE audit DISABLE TRIGGER facedesk_unchanged")
        assert [p for p in audit.verify(g, use_witness=False).problems
                if "facedesk_unchanged" in p] == [
            "the trigger facedesk_unchanged on audit is not as FaceDesk created it (altered)"]
        for user in login.values():
            server.drop_login(owner_url, user)


def test_schema_problems_name_what_was_changed_on_the_server(server: Server) -> None:
    with server.connect() as conn:
        assert pg_security.schema_problems(conn) == []
    with server.connect() as conn:
        conn.execute("ALTER TABLE audit DISABLE TRIGGER facedesk_unchanged")
        conn.execute("DROP TRIGGER facedesk_append ON audit")
        conn.execute("CREATE TRIGGER sneaky BEFORE INSERT ON decisions FOR EACH ROW "
                     "EXECUTE FUNCTION facedesk_no_truncate()")
        conn.execute("CREATE OR REPLACE FUNCTION facedesk_audit_unchanged() RETURNS trigger "
                     "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        conn.execute("ALTER TABLE meta DISABLE ROW LEVEL SECURITY")
        conn.execute("GRANT UPDATE ON audit TO facedesk_analyst")
        conn.execute(f"GRANT DELETE ON decisions TO {server.logins['ann']}")
        conn.execute("REVOKE INSERT ON lead_reviews FROM facedesk_supervisor")
        found = set(pg_security.schema_problems(conn))
        assert found == {
            ("altered", "trigger", "facedesk_unchanged", "audit"),
            ("removed", "trigger", "facedesk_append", "audit"),
            ("added", "trigger", "sneaky", "decisions"),
            ("altered", "function", "facedesk_audit_unchanged", ""),
            ("altered", "row-level security", "meta", "meta"),
            ("added", "grant", "UPDATE on audit to facedesk_analyst", "audit"),
            ("added", "grant", f"DELETE on decisions to {server.logins['ann']}", "decisions"),
            ("removed", "grant", "INSERT on lead_reviews to facedesk_supervisor",
             "lead_reviews"),
        }
        pg_security.install(conn)  # puts back all but the trigger it did not make
        assert pg_security.schema_problems(conn) == [
            ("added", "trigger", "sneaky", "decisions")]


def test_trainer_reads_cases_only_in_a_training_gallery(server: Server) -> None:
    work(server)
    case_tables = ("cases", "searches", "decisions")
    with server.connect("tom") as conn:
        assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in case_tables] \
            == [(0,)] * 3
        assert conn.execute("SELECT count(*) FROM audit").fetchone() != (0,)  # the chain
    with server.connect("ann") as conn:
        assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in case_tables] \
            == [(1,)] * 3
    with server.connect("ada") as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:training', 'true')")
    with server.connect("tom") as conn:
        assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in case_tables] \
            == [(1,)] * 3


def test_a_login_needs_its_own_password(server: Server) -> None:
    """With password authentication for the login (pg_hba.conf's scram-sha-256, as an
    agency's server has it; the throwaway server trusts its socket otherwise), the login
    made by create_login signs in with its password only."""
    login = server.logins["ann"]
    hba = server.pg.data / "pg_hba.conf"
    before = hba.read_text()
    hba.write_text(f"local all {login} scram-sha-256\n" + before)
    try:
        server.pg.admin_sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.pg.url(server.db, login, "not-" + PASSWORD)).close()
        with server.connect("ann") as conn:
            assert pg_security.bound_user(conn) == "ann"
    finally:
        hba.write_text(before)
        server.pg.admin_sql("SELECT pg_reload_conf()")


def test_administrators_write_settings_not_the_gallerys_identity(server: Server) -> None:
    with server.connect("ada") as conn:
        conn.execute("INSERT INTO meta(key, value) VALUES ('calibration_id', '3')")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'calibration_id'")
        conn.execute("DELETE FROM meta WHERE key = 'calibration_id'")  # the shipped one
        conn.execute("INSERT INTO meta(key, value) VALUES ('setting:top_k', '10') "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        assert conn.execute("UPDATE meta SET value = 'other' WHERE key = 'gallery_id'"
                            ).rowcount == 0
        assert conn.execute("DELETE FROM meta WHERE key = 'created_at'").rowcount == 0
    assert "row-level security" in refused(
        server, "ada", "INSERT INTO meta(key, value) VALUES ('gallery_idx', 'x')")
    refused(server, "ann", "DELETE FROM meta WHERE key = 'version'")
    with server.connect() as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'gallery_id'").fetchone() \
            == (GALLERY_ID,)
        assert conn.execute("SELECT has_schema_privilege('facedesk_analyst', 'public', "
                            "'CREATE')").fetchone() == (False,)


def test_a_closed_case_stays_closed(server: Server) -> None:
    ids = work(server)
    assert "closed by a user" in refused(server, "ann", "UPDATE cases SET closing_note = 'x' "
                                         "WHERE id = %s", (ids["case"],))
    with server.connect("ann") as conn:
        conn.execute("UPDATE cases SET closed_by = 'ann', closed_at = %s, closing_note = 'done' "
                     "WHERE id = %s", (NOW, ids["case"]))
    for user in ("ann", None):  # the owner's accident too
        with server.connect(user) as conn, pytest.raises(errors.RaiseException,
                                                         match="stays closed"):
            conn.execute("UPDATE cases SET closed_by = NULL, closed_at = NULL "
                         "WHERE id = %s", (ids["case"],))
