"""Roles the PostgreSQL server enforces for a shared gallery: what each person may do is
checked by the server itself, not only by the application, so a person who edits the
application, its environment or its SQL still cannot do more than their role allows, nor
act as anyone else without that person's server password.

Who is who
- The **owner** role ran the migrations and owns every table and function (e.g.
  `facedesk_owner`, made by the server's administrator; it never signs in to FaceDesk).
  The owner and superusers are the server's administrators: the checks below that name
  a person do not apply to them (they set up, migrate and copy galleries), but the
  triggers that keep the audit log and the decisions unchanged do.
- Four **group roles** (NOLOGIN), FaceDesk's roles: `facedesk_analyst`,
  `facedesk_supervisor`, `facedesk_trainer`, `facedesk_administrator` (GROUP_ROLES).
- Each person has a **login role** of their own (LOGIN, password or any method of
  pg_hba.conf), member of exactly one group role, and bound to one FaceDesk user in the
  table `facedesk_logins(login, user_id)`, which only the owner writes (`create_login`,
  `drop_login`). The application finds the signed-in user with `bound_user(conn)`:
  the row of `session_user` (which SET ROLE does not change). A login may not SET ROLE to
  a group it is not a member of (PostgreSQL's own rule).
- One server may hold several galleries: only the logins made for a gallery connect to
  its database (`install` revokes CONNECT and TEMPORARY from PUBLIC, `create_login`
  grants them, when the owner owns the database), and nobody but the owner creates
  objects in its schema.

What each group may do (grants; `install` revokes and grants again, so an upgrade that
narrows them applies)
- every group: SELECT on every table of the gallery's schema; INSERT into `audit`;
  UPDATE of `facedesk_schema.writes` (every write transaction counts itself);
- analyst, trainer: import (INSERT persons, photos, faces, engines, import_runs,
  import_problems; UPDATE persons.name, import_runs' status and counts, and meta's
  `version` row only, by row-level security), open cases, search (searches,
  search_frames), decide (decisions), close cases (UPDATE cases' closed_* columns);
- supervisor: open cases, search, decide, close cases, and second reviews (lead_reviews);
- trainer: reads cases, searches, frames, decisions and second reviews only in a
  training gallery (row-level security; the others read them all);
- administrator: import, close cases, users (INSERT, UPDATE), settings (meta's settings
  and calibration rows, by row-level security: never the gallery's id or creation time),
  sign-in state (sign_in_failures), calibrations, and retention through the function
  `facedesk_purge_searches(bigint[])`;
- nobody: UPDATE or DELETE of `audit`; UPDATE or DELETE of `decisions`, `lead_reviews`
  and `searches` except the one column `audit_seq`, filled once (the store inserts a
  row, appends its event, then names the event in the row).

What the triggers add (they hold for the owner too, against accidents)
- `audit`: no UPDATE, DELETE or TRUNCATE; an event is added only at the end (seq = last
  + 1, prev_hash = the last event's hash, the first one's = the genesis hash of the
  gallery's id), under the advisory lock every FaceDesk write takes
  (`pg_advisory_xact_lock(APPLICATION_ID, 0)`), so concurrent appends cannot fork the
  chain;
- `decisions`, `lead_reviews`, `searches`: a row never changes, except `audit_seq` from
  NULL/0 to the seq of its own event (kind and id checked); rows are deleted only by
  `facedesk_purge_searches`, which checks the retention rule itself (administrators only);
- identity: a person's row names that person. `audit.user_id`, `searches.user_id`,
  `decisions.reviewer`, `lead_reviews.reviewer`, `cases.opened_by` and `cases.closed_by`
  written by a login must be the FaceDesk user bound to it (NULL refused in audit);
- `cases`: a case is closed once, with who and when, and stays closed;
- people: a decision is recorded by the user who made the search or by a supervisor; a
  second review is made by another person than the analyst who recorded the lead;
- every write by a login: the login is bound, its FaceDesk user is active, the user's role
  is the login's group role (an administrator's change of role in FaceDesk needs the
  server's change too), and a trainer writes only in a training gallery (the audit log
  and the store's write counter `facedesk_schema.writes` excepted: a trainer's sign-in
  and lab use are logged anywhere).

Cost: the checks of a person run once per write statement of a login (measured here:
some tens of microseconds per INSERT, against about 40 for the INSERT itself; nothing
beside an import's image work); the owner's statements skip them (a WHEN on
session_user), so a gallery copy or a benchmark run as the owner pays only the audit
log's append check.

`schema_problems(conn)` names what differs from all this (a trigger removed, disabled or
added, a function changed, row-level security off, a policy or grant added or removed):
`audit verify` reports it on a server.

`install(conn)` applies all of this; it is idempotent and runs as the owner after the
migrations, in their transaction (conn: a psycopg connection, or the store's PgConnection
whose `raw` is one). The SQL here is plain (no placeholders) or psycopg's `%s` style on
the raw connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from facedesk.errors import FaceDeskError
from facedesk.store.db import connection
from facedesk.store.schema import APPLICATION_ID

#: FaceDesk role -> the server's group role
GROUP_ROLES: dict[str, str] = {
    "analyst": "facedesk_analyst",
    "supervisor": "facedesk_supervisor",
    "trainer": "facedesk_trainer",
    "administrator": "facedesk_administrator",
}

#: the advisory lock of every write transaction (the store's Gallery.write takes it too)
WRITE_LOCK = (APPLICATION_ID, 0)
#: the store's header table on PostgreSQL (schema number, writes counter): every write
#: transaction adds one to `writes`, so every group may UPDATE that column
SCHEMA_TABLE = "facedesk_schema"

_LOGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

_IMPORT_INSERT = ("persons", "photos", "faces", "engines", "import_runs", "import_problems")
_IMPORT_UPDATE = {
    "persons": ("name",),
    "import_runs": ("status", "finished_at", "total", "already_stored", "imported",
                    "no_face", "multi_face", "duplicates", "failed"),
    "meta": ("value",),  # the `version` row only (row-level security)
}
_CASE_WORK_INSERT = ("cases", "searches", "search_frames", "decisions", "lead_evidence")
_CASE_WORK_UPDATE = {
    "cases": ("closed_by", "closed_at", "closing_note"),
    "searches": ("audit_seq",),
    "decisions": ("audit_seq",),
    "lead_evidence": ("audit_seq",),
}
#: the trainee quiz (facedesk.app.quiz): anyone signed in to a training gallery takes one,
#: filling in each answer and the finishing time
_QUIZ_INSERT = ("quiz_sessions", "quiz_answers")
_QUIZ_UPDATE = {"quiz_sessions": ("finished_at",),
                "quiz_answers": ("answer", "seconds", "answered_at")}
_CLOSE_UPDATE = {"cases": ("closed_by", "closed_at", "closing_note")}

#: group -> (tables it may INSERT into, {table: columns it may UPDATE}, tables it may DELETE)
GRANTS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]], tuple[str, ...]]] = {
    "analyst": (("audit", *_IMPORT_INSERT, *_CASE_WORK_INSERT, *_QUIZ_INSERT),
                {**_IMPORT_UPDATE, **_CASE_WORK_UPDATE, **_QUIZ_UPDATE}, ()),
    "trainer": (("audit", *_IMPORT_INSERT, *_CASE_WORK_INSERT, *_QUIZ_INSERT),
                {**_IMPORT_UPDATE, **_CASE_WORK_UPDATE, **_QUIZ_UPDATE}, ()),
    "supervisor": (("audit", *_CASE_WORK_INSERT, "lead_reviews", *_QUIZ_INSERT),
                   {**_CASE_WORK_UPDATE, "lead_reviews": ("audit_seq",), **_QUIZ_UPDATE},
                   ()),
    "administrator": (("audit", *_IMPORT_INSERT, "users", "meta", "sign_in_failures",
                       "calibrations", *_QUIZ_INSERT),
                      {**_IMPORT_UPDATE, **_CLOSE_UPDATE, **_QUIZ_UPDATE,
                       "users": ("display_name", "role", "password_hash", "os_account",
                                 "active"),
                       "sign_in_failures": ("failures", "last_failure")},
                      ("sign_in_failures", "meta")),
}

#: tables with a column that names the acting person: (table, columns; "!" = not NULL)
IDENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit": ("user_id!",),
    "searches": ("user_id",),
    "decisions": ("reviewer",),
    "lead_reviews": ("reviewer",),
    "cases": ("opened_by", "closed_by"),
    "lead_evidence": ("recorded_by",),
    "quiz_sessions": ("user_id",),
}
#: tables whose rows never change but for audit_seq, filled once: table -> event kind
LINKED_TABLES: dict[str, str] = {
    "searches": "search", "decisions": "decision", "lead_reviews": "lead_review"}


#: the meta rows administrators write: settings, the calibration in use, the key of
#: refused sign-in names (never the gallery's id, creation time or version)
_ADMIN_KEYS = "key LIKE 'setting:%' OR key IN ('calibration_id', 'sign_in_name_key')"
_ALL_GROUPS = ", ".join(GROUP_ROLES.values())
_READERS = "facedesk_analyst, facedesk_supervisor, facedesk_administrator"
#: a trainer reads a gallery's cases and their searches, frames, decisions and second
#: reviews only in a training gallery (as facedesk.app.accounts.TRAINING_ROLES)
_CASE_TABLE_POLICIES = {
    "facedesk_read": f"FOR SELECT TO {_READERS} USING (true)",
    "facedesk_trainer_read": "FOR SELECT TO facedesk_trainer "
                             "USING ((SELECT facedesk_training()))",
    "facedesk_insert": f"FOR INSERT TO {_ALL_GROUPS} WITH CHECK (true)",
    "facedesk_update": f"FOR UPDATE TO {_ALL_GROUPS} USING (true) WITH CHECK (true)",
}
#: row-level security: table -> {policy: CREATE POLICY's text after ON TABLE}; grants
#: and triggers still decide who writes what
POLICIES: dict[str, dict[str, str]] = {
    # everyone reads; importers bump `version` only; administrators write all
    "meta": {
        "facedesk_meta_read": "FOR SELECT USING (true)",
        "facedesk_meta_version": "FOR UPDATE TO facedesk_analyst, facedesk_trainer, "
                                 "facedesk_administrator "
                                 "USING (key = 'version') WITH CHECK (key = 'version')",
        "facedesk_meta_admin": f"FOR ALL TO facedesk_administrator USING ({_ADMIN_KEYS}) "
                               f"WITH CHECK ({_ADMIN_KEYS})",
    },
    **{table: _CASE_TABLE_POLICIES
       for table in ("cases", "searches", "search_frames", "decisions", "lead_reviews")},
}


class ServerSetupError(FaceDeskError):
    code = "server_setup"


def raw(conn: Any) -> psycopg.Connection[Any]:
    """The psycopg connection under `conn` (itself, the store adapter's `raw`, or a
    Gallery's connection's)."""
    if isinstance(conn, psycopg.Connection):
        return conn
    inner = getattr(connection(conn), "raw", None)
    if isinstance(inner, psycopg.Connection):
        return inner
    raise TypeError(f"not a PostgreSQL connection: {type(conn).__name__}")


def _run(conn: psycopg.Connection[Any], statement: str | sql.Composed) -> None:
    """One statement of ours, without parameters."""
    conn.execute(statement)


def _functions(schema: str) -> list[str]:
    """The functions, each `CREATE OR REPLACE`; `schema` pins SECURITY DEFINER's path."""
    path = f"SET search_path = {schema}, pg_temp"
    lock = f"{WRITE_LOCK[0]}, {WRITE_LOCK[1]}"
    return [
        # the FaceDesk user bound to this session's login (NULL: none)
        f"""CREATE OR REPLACE FUNCTION facedesk_bound_user() RETURNS text
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT user_id FROM facedesk_logins WHERE login = session_user
        $$""",
        # a training gallery (the administrator's setting)
        f"""CREATE OR REPLACE FUNCTION facedesk_training() RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER {path} AS $$
            SELECT coalesce((SELECT value FROM meta WHERE key = 'setting:training'), '')
                = 'true'
        $$""",
        # the acting person: '' for the owner; else the bound, active user whose FaceDesk
        # role is the login's group role (and a trainer only in a training gallery unless
        # `anywhere`)
        f"""CREATE OR REPLACE FUNCTION facedesk_actor(anywhere boolean) RETURNS text
        LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
        DECLARE
            uid text; urole text; uactive bigint; owner boolean;
        BEGIN
            -- the owner (or a superuser: the server's administrators, not people of
            -- FaceDesk), then the login's binding, in one call per statement
            SELECT r.rolsuper OR pg_has_role(session_user, c.relowner, 'MEMBER')
                INTO owner FROM pg_roles r, pg_class c
                WHERE r.rolname = session_user AND c.oid = 'audit'::regclass;
            IF owner THEN
                RETURN '';
            END IF;
            SELECT l.user_id, u.role, u.active INTO uid, urole, uactive
                FROM facedesk_logins l LEFT JOIN users u ON u.id = l.user_id
                WHERE l.login = session_user;
            IF uid IS NULL THEN
                RAISE EXCEPTION 'the server login % is not bound to a FaceDesk user of '
                    'this gallery (the server administrator binds it: facedesk server '
                    'login add)', session_user USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF urole IS NULL OR uactive = 0 THEN
                RAISE EXCEPTION '% is not an active user of this gallery', uid
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF NOT pg_has_role(session_user, 'facedesk_' || urole, 'MEMBER') THEN
                RAISE EXCEPTION 'the server login % is not in the group facedesk_% of its '
                    'FaceDesk user % (the server administrator must change it too)',
                    session_user, urole, uid USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF urole = 'trainer' AND NOT anywhere AND NOT facedesk_training() THEN
                RAISE EXCEPTION 'trainers work in training galleries only'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN uid;
        END $$""",
        # statement-level: any write by a login is by a bound, active user in their role
        """CREATE OR REPLACE FUNCTION facedesk_guard_write() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM facedesk_actor(TG_TABLE_NAME IN ('audit', 'facedesk_schema'));
            RETURN NULL;
        END $$""",
        # row-level: the columns named (TG_ARGV; "col!": NULL refused) that a row sets or
        # changes name the acting person
        """CREATE OR REPLACE FUNCTION facedesk_check_identity() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            actor text := facedesk_actor(TG_TABLE_NAME = 'audit');
            spec text; col text; v text;
        BEGIN
            IF actor = '' THEN
                RETURN NEW;
            END IF;
            FOREACH spec IN ARRAY TG_ARGV LOOP
                col := rtrim(spec, '!');
                v := to_jsonb(NEW) ->> col;
                IF TG_OP = 'UPDATE' AND v IS NOT DISTINCT FROM (to_jsonb(OLD) ->> col) THEN
                    CONTINUE;
                END IF;
                IF v IS NULL AND spec = col THEN
                    CONTINUE;
                END IF;
                IF v IS DISTINCT FROM actor THEN
                    RAISE EXCEPTION '%.% must be the signed-in user % (server login %), not %',
                        TG_TABLE_NAME, col, actor, session_user, coalesce(v, 'nobody')
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            END LOOP;
            RETURN NEW;
        END $$""",
        # who may decide and review (facedesk.app.cases): a decision on a search by its
        # searcher or a supervisor; a second review by another person than the analyst
        """CREATE OR REPLACE FUNCTION facedesk_check_people() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            actor text := facedesk_actor(false);
            other text;
        BEGIN
            IF actor = '' THEN
                RETURN NEW;
            END IF;
            IF TG_TABLE_NAME = 'decisions' THEN
                SELECT user_id INTO other FROM searches WHERE id = NEW.search_id;
                IF other IS DISTINCT FROM actor AND NOT pg_has_role(
                        session_user, 'facedesk_supervisor', 'MEMBER') THEN
                    RAISE EXCEPTION 'search % was made by %: only they or a supervisor '
                        'record decisions on it', NEW.search_id, coalesce(other, 'nobody')
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            ELSE
                SELECT reviewer INTO other FROM decisions WHERE id = NEW.decision_id;
                IF other = actor THEN
                    RAISE EXCEPTION 'the second reviewer must be a different person from '
                        'the analyst who recorded the lead'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
            END IF;
            RETURN NEW;
        END $$""",
        # the audit log: appended at the end only, one writer at a time
        f"""CREATE OR REPLACE FUNCTION facedesk_audit_append() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            last_seq bigint; last_hash text; gid text;
        BEGIN
            PERFORM pg_advisory_xact_lock({lock});
            SELECT seq, hash INTO last_seq, last_hash FROM audit ORDER BY seq DESC LIMIT 1;
            IF NEW.seq IS DISTINCT FROM coalesce(last_seq, 0) + 1 THEN
                RAISE EXCEPTION 'the audit log is append-only: events are added at the end '
                    '(next seq %, not %)', coalesce(last_seq, 0) + 1, NEW.seq;
            END IF;
            IF last_seq IS NULL THEN
                SELECT value INTO gid FROM meta WHERE key = 'gallery_id';
                last_hash := CASE WHEN gid IS NULL THEN NULL ELSE encode(sha256(
                    convert_to('facedesk-audit:' || gid, 'UTF8')), 'hex') END;
            END IF;
            IF last_hash IS NOT NULL AND NEW.prev_hash IS DISTINCT FROM last_hash THEN
                RAISE EXCEPTION 'the audit log is append-only: event % does not follow the '
                    'last event (prev_hash)', NEW.seq;
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE OR REPLACE FUNCTION facedesk_audit_unchanged() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                RAISE EXCEPTION 'the audit log is append-only: an event cannot be changed';
            END IF;
            RAISE EXCEPTION 'the audit log is append-only: an event cannot be deleted';
        END $$""",
        # decisions, lead_reviews, searches: unchanged but for audit_seq, filled once with
        # the seq of the row's own event (kind TG_ARGV[0], data's "id"); deleted only by
        # facedesk_purge_searches
        """CREATE OR REPLACE FUNCTION facedesk_row_fixed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                RAISE EXCEPTION '% cannot be emptied', TG_TABLE_NAME;
            END IF;
            IF TG_OP = 'DELETE' THEN
                IF current_setting('facedesk.purge', true) = 'on' THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'rows of % are deleted only by retention '
                    '(facedesk_purge_searches)', TG_TABLE_NAME;
            END IF;
            IF (to_jsonb(NEW) - 'audit_seq') IS DISTINCT FROM (to_jsonb(OLD) - 'audit_seq')
            THEN
                RAISE EXCEPTION 'a row of % cannot be changed', TG_TABLE_NAME;
            END IF;
            IF NEW.audit_seq IS NOT DISTINCT FROM OLD.audit_seq THEN
                RETURN NEW;
            END IF;
            IF coalesce(OLD.audit_seq, 0) <> 0 THEN
                RAISE EXCEPTION 'this row of % already names its audit event %',
                    TG_TABLE_NAME, OLD.audit_seq;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM audit a WHERE a.seq = NEW.audit_seq
                           AND a.kind = TG_ARGV[0]
                           AND (a.data::jsonb ->> 'id') = NEW.id::text) THEN
                RAISE EXCEPTION 'audit event % is not the % event of row % of %',
                    NEW.audit_seq, TG_ARGV[0], NEW.id, TG_TABLE_NAME;
            END IF;
            RETURN NEW;
        END $$""",
        # a case is closed once, by someone, at some time; it stays closed
        """CREATE OR REPLACE FUNCTION facedesk_case_closed_once() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.closed_at IS NOT NULL THEN
                RAISE EXCEPTION 'case % is closed: it stays closed', OLD.number;
            END IF;
            IF NEW.closed_at IS NULL OR NEW.closed_by IS NULL THEN
                RAISE EXCEPTION 'a case is closed by a user at a time (closed_by, closed_at)';
            END IF;
            RETURN NEW;
        END $$""",
        "CREATE OR REPLACE FUNCTION facedesk_no_truncate() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION '% cannot be emptied', TG_TABLE_NAME; END $$",
        # the retention rule (facedesk.app.cases.purge_plan): searches older than
        # retention_days, of cases without a possible lead that was not overturned
        f"""CREATE OR REPLACE FUNCTION facedesk_check_retention(search_ids bigint[])
        RETURNS void LANGUAGE plpgsql STABLE SECURITY DEFINER {path} AS $$
        DECLARE
            days_text text; cutoff text; bad bigint;
        BEGIN
            SELECT value INTO days_text FROM meta WHERE key = 'setting:retention_days';
            IF days_text IS NULL OR days_text = 'null' THEN
                RAISE EXCEPTION 'no retention period is set';
            END IF;
            cutoff := to_char((now() AT TIME ZONE 'UTC')
                              - days_text::integer * interval '1 day',
                              'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00';
            SELECT i.id INTO bad FROM unnest(search_ids) AS i(id)
                LEFT JOIN searches s ON s.id = i.id
                WHERE s.id IS NULL OR s.created_at >= cutoff OR EXISTS (
                    SELECT 1 FROM decisions d WHERE d.case_id = s.case_id
                    AND d.decision = 'possible_lead' AND NOT EXISTS (
                        SELECT 1 FROM lead_reviews r WHERE r.decision_id = d.id
                        AND r.verdict = 'overturned'))
                LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'search % may not be purged: it is not older than the '
                    'retention period, or its case has a possible lead', bad
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
        END $$""",
        # retention: deletes searches with their frames, decisions and second reviews;
        # an administrator's login is held to the rule; the owner applies its own
        f"""CREATE OR REPLACE FUNCTION facedesk_purge_searches(search_ids bigint[])
        RETURNS bigint[] LANGUAGE plpgsql SECURITY DEFINER {path} AS $$
        DECLARE
            actor text := facedesk_actor(false);
            reviews bigint[];
        BEGIN
            IF actor <> '' THEN
                IF (SELECT role FROM users WHERE id = actor) <> 'administrator' THEN
                    RAISE EXCEPTION 'only an administrator purges by retention'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                PERFORM facedesk_check_retention(search_ids);
            END IF;
            PERFORM set_config('facedesk.purge', 'on', true);
            WITH gone AS (
                DELETE FROM lead_reviews WHERE decision_id IN (
                    SELECT id FROM decisions WHERE search_id = ANY(search_ids))
                RETURNING id)
            SELECT coalesce(array_agg(id ORDER BY id), '{{}}') INTO reviews FROM gone;
            DELETE FROM decisions WHERE search_id = ANY(search_ids);
            DELETE FROM search_frames WHERE search_id = ANY(search_ids);
            DELETE FROM searches WHERE id = ANY(search_ids);
            PERFORM set_config('facedesk.purge', 'off', true);
            RETURN reviews;
        END $$""",
    ]


def _table_owner(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_get_userbyid(relowner) FROM pg_class "
                       "WHERE oid = 'audit'::regclass").fetchone()
    return str(row[0]) if row else "?"


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _ensure_groups(conn: psycopg.Connection[Any]) -> None:
    for group in GROUP_ROLES.values():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              (group,)).fetchone()
        if exists is None:
            try:
                _run(conn, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
            except psycopg.errors.InsufficientPrivilege:
                raise ServerSetupError(
                    f"the group role {group} does not exist and "
                    f"{_current_user(conn)} may not create roles: run the setup as a role "
                    "with CREATEROLE (facedesk server setup)") from None


def _current_user(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_user").fetchone()
    return str(row[0]) if row else ""


def _grants(conn: psycopg.Connection[Any], schema: sql.Identifier) -> None:
    groups = sql.SQL(", ").join(sql.Identifier(g) for g in GROUP_ROLES.values())
    # nobody else: PUBLIC, or a person's login granted something directly
    for grantee, table in sorted({(g, t) for g, t, _, _ in _actual_grants(conn)
                                  if g not in GROUP_ROLES.values()}):
        _run(conn, sql.SQL("REVOKE ALL ON {} FROM {}").format(
            sql.Identifier(table),
            sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee)))
    _run(conn, sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, groups))
    _run(conn, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, groups))
    _run(conn, sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, groups))
    for role, (inserts, updates, deletes) in GRANTS.items():
        group = sql.Identifier(GROUP_ROLES[role])
        for table in inserts:
            _run(conn, sql.SQL("GRANT INSERT ON {} TO {}").format(sql.Identifier(table), group))
        for table, columns in updates.items():
            _run(conn, sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.Identifier(table), group))
        for table in deletes:
            _run(conn, sql.SQL("GRANT DELETE ON {} TO {}").format(sql.Identifier(table), group))
    if _exists(conn, SCHEMA_TABLE):  # every write transaction counts itself there
        _run(conn, sql.SQL("GRANT UPDATE (writes) ON {} TO {}").format(
            sql.Identifier(SCHEMA_TABLE), groups))
    _run(conn, "REVOKE ALL ON FUNCTION facedesk_purge_searches(bigint[]) FROM PUBLIC")
    _run(conn, "GRANT EXECUTE ON FUNCTION facedesk_purge_searches(bigint[]) "
               "TO facedesk_administrator")
    _run(conn, "REVOKE ALL ON FUNCTION facedesk_check_retention(bigint[]) FROM PUBLIC")
    for fn in ("facedesk_bound_user()", "facedesk_actor(boolean)", "facedesk_training()"):
        _run(conn, f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        _run(conn, sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
            sql.SQL(fn), groups))


def _policies(conn: psycopg.Connection[Any]) -> None:
    for table, policies in POLICIES.items():
        _run(conn, f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, body in policies.items():
            _run(conn, f"DROP POLICY IF EXISTS {name} ON {table}")
            _run(conn, f"CREATE POLICY {name} ON {table} {body}")


def _trigger_specs(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    """(name, table, CREATE TRIGGER's text after the name) of every trigger installed.
    The checks of a person (guard, identity, people) are skipped for the tables' owner
    by a WHEN on session_user (cheaper than the call, for its bulk writes: a gallery copy,
    a benchmark); the functions also let the owner through."""
    written = sorted({t for ins, upd, dele in GRANTS.values() for t in (*ins, *upd, *dele)}
                     | ({SCHEMA_TABLE} if _exists(conn, SCHEMA_TABLE) else set()))
    not_owner = f"WHEN (session_user <> {sql.Literal(_table_owner(conn)).as_string(conn)})"
    out = [("facedesk_guard", table, f"BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT {not_owner} EXECUTE FUNCTION facedesk_guard_write()")
           for table in written]
    for table, columns in IDENTITY_COLUMNS.items():
        args = ", ".join(f"'{c}'" for c in columns)
        out.append(("facedesk_identity", table, f"BEFORE INSERT OR UPDATE ON {table} "
                    f"FOR EACH ROW {not_owner} "
                    f"EXECUTE FUNCTION facedesk_check_identity({args})"))
    out += [("facedesk_people", table, f"BEFORE INSERT ON {table} "
             f"FOR EACH ROW {not_owner} EXECUTE FUNCTION facedesk_check_people()")
            for table in ("decisions", "lead_reviews")]
    out.append(("facedesk_append", "audit", "BEFORE INSERT ON audit "
                "FOR EACH ROW EXECUTE FUNCTION facedesk_audit_append()"))
    out.append(("facedesk_unchanged", "audit", "BEFORE UPDATE OR DELETE ON audit "
                "FOR EACH ROW EXECUTE FUNCTION facedesk_audit_unchanged()"))
    out += [("facedesk_fixed", table, f"BEFORE UPDATE OR DELETE ON {table} "
             f"FOR EACH ROW EXECUTE FUNCTION facedesk_row_fixed('{kind}')")
            for table, kind in LINKED_TABLES.items()]
    out.append(("facedesk_closed_once", "cases", "BEFORE UPDATE ON cases "
                "FOR EACH ROW EXECUTE FUNCTION facedesk_case_closed_once()"))
    out += [("facedesk_no_truncate", table, f"BEFORE TRUNCATE ON {table} "
             "FOR EACH STATEMENT EXECUTE FUNCTION facedesk_no_truncate()")
            for table in ("audit", *LINKED_TABLES)]
    return out


def _triggers(conn: psycopg.Connection[Any]) -> None:
    for name, table, spec in _trigger_specs(conn):
        _run(conn, f"DROP TRIGGER IF EXISTS {name} ON {table}")
        _run(conn, f"CREATE TRIGGER {name} {spec}")


def _database_connect(conn: psycopg.Connection[Any], schema: sql.Identifier) -> None:
    """Only the logins made for this gallery connect to its database (when the owner
    owns the database): one server may hold several galleries. Nobody but the owner
    creates objects in the gallery's schema (PostgreSQL 15's default, made sure of for
    older servers; when the owner owns the schema)."""
    owns_schema = conn.execute("SELECT pg_has_role(current_user, n.nspowner, 'MEMBER') "
                               "FROM pg_namespace n WHERE n.oid = current_schema()::regnamespace"
                               ).fetchone()
    if owns_schema and owns_schema[0]:
        _run(conn, sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema))
    if _owns_database(conn):
        _run(conn, sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(_database(conn))))


def _database(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else ""


def _owns_database(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT pg_has_role(current_user, d.datdba, 'MEMBER') OR r.rolsuper "
        "FROM pg_database d, pg_roles r "
        "WHERE d.datname = current_database() AND r.rolname = current_user").fetchone()
    return bool(row and row[0])


def install(conn: Any) -> None:
    """Apply the server's roles, grants, policies and triggers to a migrated gallery (see
    the module's doc). Idempotent; run by the owner (the role that ran the migrations and
    owns the tables), inside the migration's transaction; commits nothing."""
    c = raw(conn)
    schema_row = c.execute("SELECT current_schema()").fetchone()
    if not schema_row or schema_row[0] is None:
        raise ServerSetupError("no schema to install into (search_path is empty)")
    schema = str(schema_row[0])
    owner = _table_owner(c)
    me = _current_user(c)
    if owner != me:
        raise ServerSetupError(f"install as the owner of the gallery's tables "
                               f"({owner}), not as {me}")
    if me in GROUP_ROLES.values() or c.execute(
            "SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member "
            "WHERE u.rolname = current_user AND g.rolname = ANY(%s)",
            (list(GROUP_ROLES.values()),)).fetchone():
        raise ServerSetupError(f"{me} is a person's login (member of a FaceDesk group): "
                               "the tables' owner must be a role of its own")
    _ensure_groups(c)
    _run(c, """CREATE TABLE IF NOT EXISTS facedesk_logins (
        login TEXT PRIMARY KEY,
        user_id TEXT NOT NULL UNIQUE REFERENCES users(id),
        bound_at TEXT NOT NULL
    )""")
    for statement in _functions(sql.Identifier(schema).as_string(c)):
        _run(c, statement)
    _grants(c, sql.Identifier(schema))
    _policies(c)
    _triggers(c)
    _database_connect(c, sql.Identifier(schema))


# --- logins ------------------------------------------------------------------------------------


def _check_login(login: str) -> str:
    if not _LOGIN_NAME.match(login):
        raise ServerSetupError(f"{login!r} is not a login name FaceDesk uses: lowercase "
                               "letters, digits and _, starting with a letter")
    if login in GROUP_ROLES.values():
        raise ServerSetupError(f"{login} is a group role, not a person's login")
    return login


def create_login(conn: Any, login: str, password: str | None, user_id: str,
                 role: str) -> None:
    """A person's server login, member of `role`'s group and bound to the FaceDesk user
    `user_id` (who must exist with that role). `password` None: the login authenticates
    as pg_hba.conf says (e.g. peer, Kerberos, certificate); otherwise its SCRAM hash is
    made here, so the password itself never reaches the server or its log. Run by the
    owner (a role with CREATEROLE), in the caller's transaction."""
    c = raw(conn)
    _check_login(login)
    if role not in GROUP_ROLES:
        raise ServerSetupError(f"role must be one of: {', '.join(GROUP_ROLES)}")
    row = c.execute("SELECT role, active FROM users WHERE id = %s", (user_id,)).fetchone()
    if row is None:
        raise ServerSetupError(f"there is no FaceDesk user {user_id!r} in this gallery")
    if row[0] != role or not row[1]:
        raise ServerSetupError(f"{user_id} is {'an inactive ' if not row[1] else ''}"
                               f"{row[0]} in FaceDesk, not an active {role}")
    if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone():
        raise ServerSetupError(f"the server already has a role {login}: choose another "
                               "login name, or drop that one first")
    bound = c.execute("SELECT login FROM facedesk_logins WHERE user_id = %s",
                      (user_id,)).fetchone()
    if bound is not None:
        raise ServerSetupError(f"{user_id} is already bound to the login {bound[0]}")
    ident = sql.Identifier(login)
    if password is None:
        _run(c, sql.SQL("CREATE ROLE {} LOGIN INHERIT").format(ident))
    else:
        secret = c.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
        _run(c, sql.SQL("CREATE ROLE {} LOGIN INHERIT PASSWORD {}").format(
            ident, sql.Literal(secret.decode())))
    _run(c, sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUP_ROLES[role]), ident))
    if _owns_database(c):
        _run(c, sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(_database(c)), ident))
    c.execute("INSERT INTO facedesk_logins(login, user_id, bound_at) "
              "VALUES (%s, %s, to_char(now() AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00')", (login, user_id))


def set_login_password(conn: Any, login: str, password: str) -> None:
    """A new password for a person's login (its SCRAM hash, made here)."""
    c = raw(conn)
    _check_login(login)
    secret = c.pgconn.encrypt_password(password.encode(), login.encode(), b"scram-sha-256")
    _run(c, sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(login),
                                                         sql.Literal(secret.decode())))


def drop_login(conn: Any, login: str) -> None:
    """Unbind a person's login from this gallery and drop it from the server (it owns
    nothing: the tables are the owner's)."""
    c = raw(conn)
    _check_login(login)
    c.execute("DELETE FROM facedesk_logins WHERE login = %s", (login,))
    if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone():
        if _owns_database(c):
            _run(c, sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(_database(c)), sql.Identifier(login)))
        _run(c, sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def logins(conn: Any) -> list[tuple[str, str]]:
    """(login, FaceDesk user) of every bound login, by login."""
    return [(str(a), str(b)) for a, b in raw(conn).execute(
        "SELECT login, user_id FROM facedesk_logins ORDER BY login")]


def bound_user(conn: Any) -> str | None:
    """The FaceDesk user bound to this connection's login (session_user): who is signed
    in on a gallery on a server. None: the login is not bound (the owner, or a stranger)."""
    row = raw(conn).execute("SELECT facedesk_bound_user()").fetchone()
    return None if row is None or row[0] is None else str(row[0])


def purge_searches(conn: Any, search_ids: list[int]) -> list[int]:
    """Retention on the server: delete these searches with their frames, decisions and
    second reviews (the server checks the rule); the ids of the second reviews deleted."""
    row = raw(conn).execute("SELECT facedesk_purge_searches(%s::bigint[])",
                            (list(search_ids),)).fetchone()
    return [] if row is None or row[0] is None else [int(x) for x in row[0]]


def session_login(conn: Any) -> str:
    """The server login of this connection (session_user; SET ROLE does not change it)."""
    row = raw(conn).execute("SELECT session_user").fetchone()
    return str(row[0]) if row else ""


@contextmanager
def server_errors(where: str) -> Iterator[None]:
    """The server's refusals and failures as one-line ServerSetupErrors (`where`: the
    gallery's location without its password)."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ServerSetupError(f"{where}: refused by the server: {_first_line(exc)}") \
            from None
    except psycopg.Error as exc:
        raise ServerSetupError(f"{where}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- is it all still in place? (audit verify) --------------------------------------------------

_FUNCTION = re.compile(r"FUNCTION (\w+)\(.*?AS \$\$(.*)\$\$", re.DOTALL)


def _expected_grants(conn: psycopg.Connection[Any]) -> set[tuple[str, str, str, str]]:
    """(group, table, column or "", privilege) of every grant `install` makes."""
    tables = [str(r[0]) for r in conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') "
        "AND c.relnamespace = current_schema()::regnamespace")]
    out = {(g, t, "", "SELECT") for g in GROUP_ROLES.values() for t in tables}
    for role, (inserts, updates, deletes) in GRANTS.items():
        group = GROUP_ROLES[role]
        out |= {(group, t, "", "INSERT") for t in inserts}
        out |= {(group, t, c, "UPDATE") for t, cols in updates.items() for c in cols}
        out |= {(group, t, "", "DELETE") for t in deletes}
    if SCHEMA_TABLE in tables:
        out |= {(g, SCHEMA_TABLE, "writes", "UPDATE") for g in GROUP_ROLES.values()}
    return out


def _actual_grants(conn: psycopg.Connection[Any]) -> set[tuple[str, str, str, str]]:
    """(grantee, table, column or "", privilege) of every grant on the schema's tables to
    a role other than the tables' owner ("PUBLIC" for everyone)."""
    grantee = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END"
    rows = conn.execute(
        f"SELECT {grantee}, c.relname, '', a.privilege_type "
        "FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace "
        "AND a.grantee <> c.relowner "
        f"UNION ALL SELECT {grantee}, c.relname, t.attname, a.privilege_type "
        "FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a "
        "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace "
        "AND a.grantee <> c.relowner AND NOT t.attisdropped").fetchall()
    return {(str(g), str(t), str(c), str(p)) for g, t, c, p in rows}


def schema_problems(conn: Any) -> list[tuple[str, str, str, str]]:
    """What differs from what `install` made, for `audit verify` on a server:
    ("added" | "removed" | "altered", type, name, table) of a trigger (also one disabled,
    or one FaceDesk did not make on a gallery table: it could change or drop writes), a
    function of this module, meta's row-level security and its policies, and a grant."""
    c = raw(conn)
    out: list[tuple[str, str, str, str]] = []
    expected = {(name, table) for name, table, _ in _trigger_specs(c)}
    found = {(str(n), str(t)): str(e) for n, t, e in c.execute(
        "SELECT g.tgname, c.relname, g.tgenabled FROM pg_trigger g "
        "JOIN pg_class c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal "
        "AND c.relnamespace = current_schema()::regnamespace")}
    out += [("removed", "trigger", n, t) for n, t in sorted(expected - set(found))]
    out += [("added", "trigger", n, t) for n, t in sorted(set(found) - expected)]
    out += [("altered", "trigger", n, t) for (n, t), enabled in sorted(found.items())
            if (n, t) in expected and enabled == "D"]
    bodies = {str(n): str(b) for n, b in c.execute(
        "SELECT proname, prosrc FROM pg_proc "
        "WHERE pronamespace = current_schema()::regnamespace AND proname LIKE 'facedesk%%'")}
    for statement in _functions("x"):
        m = _FUNCTION.search(statement)
        if m is None:
            continue
        if m.group(1) not in bodies:
            out.append(("removed", "function", m.group(1), ""))
        elif bodies[m.group(1)] != m.group(2):
            out.append(("altered", "function", m.group(1), ""))
    secured = {str(r[0]) for r in c.execute(
        "SELECT relname FROM pg_class WHERE relrowsecurity "
        "AND relnamespace = current_schema()::regnamespace")}
    out += [("altered", "row-level security", t, t) for t in sorted(set(POLICIES) - secured)]
    have_policies = {(str(t), str(p)) for t, p in c.execute(
        "SELECT tablename, policyname FROM pg_policies WHERE schemaname = current_schema()")}
    want_policies = {(t, p) for t, ps in POLICIES.items() for p in ps}
    out += [("removed", "policy", p, t) for t, p in sorted(want_policies - have_policies)]
    out += [("added", "policy", p, t) for t, p in sorted(have_policies - want_policies)]
    want, have = _expected_grants(c), _actual_grants(c)
    out += [("added", "grant", _grant_name(g, t, col, p), t)
            for g, t, col, p in sorted(have - want)]
    out += [("removed", "grant", _grant_name(g, t, col, p), t)
            for g, t, col, p in sorted(want - have)]
    return out


def _grant_name(grantee: str, table: str, column: str, privilege: str) -> str:
    return f"{privilege} on {table}{f'({column})' if column else ''} to {grantee}"
