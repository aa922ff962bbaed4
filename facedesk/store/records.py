"""Record digests and the schema as FaceDesk made it: what `audit verify` compares the
gallery with.

Every row that a lead sheet, a search result or a sign-in depends on has a *digest*: the
SHA-256 of its table, the digest version and the values of the columns listed below (a
BLOB by its own SHA-256). The event that creates or changes a row carries the row's new
digest (`facedesk.app.audit.append(..., records=...)`), so a row changed, added or
deleted by raw SQL no longer has the digest its last event recorded.

RECORD_COLUMNS is the ONE place that says what is covered. Adding a column to a covered
table (a migration) means adding a new version of that table's column list here: rows
recorded under an older version are still checked with the columns of their version.
`tests/unit/test_records.py` fails while a column of a covered table is in neither its
current list nor NOT_COVERED, so nothing is left out silently.

The schema check compares every table, index, trigger and view of the file with those the
migrations create (built in an in-memory database): anything added, removed or altered
(e.g. a trigger that drops refused sign-in events with RAISE(IGNORE)) is reported.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from facedesk.store.db import Connection, is_postgres
from facedesk.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

#: table -> {version: columns}; the first column is the record's key. The highest version
#: is the one new digests are made with.
RECORD_COLUMNS: dict[str, dict[int, tuple[str, ...]]] = {
    "users": {1: ("id", "display_name", "role", "password_hash", "os_account", "active",
                  "created_at")},
    "cases": {1: ("id", "number", "purpose", "purpose_detail", "training", "opened_by",
                  "opened_at", "closed_by", "closed_at", "closing_note")},
    # the settings and the calibration in use (meta's other keys are bookkeeping)
    "meta": {1: ("key", "value")},
    "calibrations": {1: ("id", "created_at", "kind", "engine_id", "source",
                         "impostor_pairs", "genuine_pairs", "data")},
    "engines": {1: ("id", "identity", "first_used")},
    "searches": {1: ("id", "case_id", "user_id", "created_at", "probe_sha256", "probe_name",
                     "probe_image", "probe_box", "quality", "engine_id", "gallery_version",
                     "persons_searched", "faces_searched", "threshold", "top_k",
                     "calibration_source", "candidates", "purged_at"),
                 # + the probe-specific look-alike curve
                 2: ("id", "case_id", "user_id", "created_at", "probe_sha256", "probe_name",
                     "probe_image", "probe_box", "quality", "engine_id", "gallery_version",
                     "persons_searched", "faces_searched", "threshold", "top_k",
                     "calibration_source", "candidates", "purged_at", "lookalikes"),
                 # + a clip search's provenance (facedesk.domain.clips)
                 3: ("id", "case_id", "user_id", "created_at", "probe_sha256", "probe_name",
                     "probe_image", "probe_box", "quality", "engine_id", "gallery_version",
                     "persons_searched", "faces_searched", "threshold", "top_k",
                     "calibration_source", "candidates", "purged_at", "lookalikes",
                     "provenance")},
    "decisions": {1: ("id", "created_at", "reviewer", "decision", "rationale",
                      "first_impression", "blind_review", "probe_sha256", "probe_path",
                      "probe_box", "engine_id", "gallery_version", "persons_searched",
                      "person_id", "face_id", "rank", "distance", "similarity", "case_id",
                      "search_id", "second_review"),
                  # + the FISWG feature-by-feature checklist (facedesk.domain.fiswg)
                  2: ("id", "created_at", "reviewer", "decision", "rationale",
                      "first_impression", "blind_review", "probe_sha256", "probe_path",
                      "probe_box", "engine_id", "gallery_version", "persons_searched",
                      "person_id", "face_id", "rank", "distance", "similarity", "case_id",
                      "search_id", "second_review", "checklist")},
    "lead_evidence": {1: ("id", "decision_id", "text", "recorded_by", "created_at")},
    "lead_reviews": {1: ("id", "decision_id", "reviewer", "verdict", "rationale", "blind",
                         "created_at")},
    "persons": {1: ("id", "person_id", "name", "created_at")},
    "photos": {1: ("id", "sha256", "person_pk", "path", "size_bytes", "width", "height",
                   "format", "metadata", "faces_found", "import_run_id", "added_at")},
    "faces": {1: ("id", "photo_id", "person_pk", "engine_id", "box_top", "box_right",
                  "box_bottom", "box_left", "landmarks", "size_px", "eye_distance_px",
                  "sharpness", "brightness", "yaw_deg", "encoding", "crop", "detector")},
    # the trainee quiz: a trainee's quizzes, their pairs and answers (training records)
    "quiz_sessions": {1: ("id", "user_id", "created_at", "finished_at", "gallery_version",
                          "seed", "size", "genuine_share", "threshold", "group_key")},
    "quiz_answers": {1: ("id", "session_id", "position", "face_a", "face_b", "genuine",
                         "distance", "pair_group", "answer", "seconds", "answered_at")},
}

#: which rows of a table are records (all when absent)
RECORD_ROWS: dict[str, str] = {
    "meta": "key LIKE 'setting:%' OR key = 'calibration_id'",
}

#: columns of covered tables deliberately left out of the digest, and why
NOT_COVERED: dict[str, dict[str, str]] = {
    "searches": {"audit_seq": "written after the event; checked to name the search's event"},
    "decisions": {"audit_seq": "written after the event; checked to name the decision's "
                               "event"},
    "lead_reviews": {"audit_seq": "written after the event; checked to name the review's "
                                  "event"},
    "lead_evidence": {"audit_seq": "written after the event; names the evidence's event"},
}

#: tables with no digests, and why (every other table of the schema must be covered)
TABLES_NOT_COVERED: dict[str, str] = {
    "audit": "the hash chain itself",
    "import_runs": "bookkeeping of import runs; what they wrote is covered (photos, faces)",
    "import_problems": "the files an import could not read; nothing is searched from them",
    "search_frames": "each frame's PNG is checked against the SHA-256 that its search's "
                     "provenance (covered, and logged in the search event) names",
    "sign_in_failures": "a back-off counter, not a record: every failure, lock and unlock is "
                        "an audit event of its own",
}

#: the words a verification names a record with
LABELS: dict[str, str] = {
    "users": "user", "cases": "case", "meta": "setting", "calibrations": "calibration",
    "engines": "engine", "searches": "search", "decisions": "decision",
    "lead_reviews": "second review", "lead_evidence": "independent evidence",
    "persons": "person", "photos": "photo",
    "faces": "face", "quiz_sessions": "quiz", "quiz_answers": "quiz answer",
}

#: hex digits of a record digest (128 bits: ample against a forged second row, and half
#: the size of the log's share of a million faces)
DIGEST_HEX = 32


def current_version(table: str) -> int:
    return max(RECORD_COLUMNS[table])


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_sha256 = hashlib.sha256


def digest(table: str, version: int, values: Iterable[Any]) -> str:
    """The digest of one row: canonical JSON of [table, version, values], a BLOB as
    {"sha256": its hex digest} (SQLite gives BLOBs as bytes; a value's type counts)."""
    body = _ENCODER.encode([table, version, [
        {"sha256": _sha256(v).hexdigest()} if type(v) is bytes else v for v in values]])
    return _sha256(body.encode("utf-8")).hexdigest()[:DIGEST_HEX]


def key_text(key: Any) -> str:
    return str(key)


def _select(table: str, version: int) -> str:
    cols = RECORD_COLUMNS[table][version]
    where = RECORD_ROWS.get(table)
    sql = f"SELECT {', '.join(cols)} FROM {table}"
    return sql + (f" WHERE ({where})" if where else "")


def digests_of(conn: Connection, table: str, keys: Iterable[Any]
               ) -> dict[str, str | None]:
    """The current digests of some rows, by key text (None: the row is not there, e.g.
    deleted by the change the event records)."""
    version = current_version(table)
    key_col = RECORD_COLUMNS[table][version][0]
    wanted = list(dict.fromkeys(keys))
    out: dict[str, str | None] = {key_text(k): None for k in wanted}
    base = _select(table, version)
    joiner = " AND " if table in RECORD_ROWS else " WHERE "
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        sql = f"{base}{joiner}{key_col} IN ({','.join('?' * len(chunk))})"
        for row in conn.execute(sql, chunk):
            out[key_text(row[0])] = digest(table, version, row)
    return out


def all_digests(conn: Connection, table: str, version: int
                ) -> Iterator[tuple[str, str]]:
    """(key, digest) of every record row of a table, computed with one version's columns.
    Raises sqlite3.OperationalError when a column of that version is missing."""
    for row in conn.execute(_select(table, version)):
        yield key_text(row[0]), digest(table, version, row)


def all_keys(conn: Connection, table: str) -> set[str]:
    key_col = RECORD_COLUMNS[table][current_version(table)][0]
    where = RECORD_ROWS.get(table)
    sql = f"SELECT {key_col} FROM {table}" + (f" WHERE ({where})" if where else "")
    return {key_text(r[0]) for r in conn.execute(sql)}


def table_columns(conn: Connection, table: str) -> list[str]:
    if is_postgres(conn):
        return [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


# --- the schema ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaObject:
    type: str  # table, index, trigger, view
    name: str
    table: str
    sql: str  # whitespace squashed, lower case ('' for SQLite's own indexes)


def _squash(sql: str | None) -> str:
    return " ".join((sql or "").split()).lower()


def schema_objects(conn: Connection) -> dict[str, SchemaObject]:
    """Every object of a database's schema by name (SQLite's statistics tables, made by
    ANALYZE or PRAGMA optimize, left out)."""
    return {name: SchemaObject(kind, name, tbl, _squash(sql)) for kind, name, tbl, sql in
            conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
            if not name.startswith("sqlite_stat")}


@cache
def expected_schema() -> dict[str, SchemaObject]:
    """The schema the migrations make, applied one after the other as Gallery.open does."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for version in sorted(MIGRATIONS):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        return schema_objects(conn)
    finally:
        conn.close()


@cache
def expected_columns() -> dict[str, list[str]]:
    """The columns of every table the migrations make."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for version in sorted(MIGRATIONS):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        return {name: table_columns(conn, name) for name, obj in schema_objects(conn).items()
                if obj.type == "table"}
    finally:
        conn.close()


def _pg_schema_differences(conn: Connection) -> list[tuple[str, SchemaObject]]:
    """On PostgreSQL: every table the migrations make, with its columns, and every index
    they name (the server's own objects, its roles' functions and triggers, are
    facedesk.store.pg_security's and not compared here)."""
    columns: dict[str, list[str]] = {}
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE "
            "table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        columns.setdefault(str(table), []).append(str(column))
    indexes = {str(r[0]) for r in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
    out: list[tuple[str, SchemaObject]] = []
    for name, obj in expected_schema().items():
        if (obj.type == "table" and name not in columns) or \
                (obj.type == "index" and obj.sql and name not in indexes):
            out.append(("removed", obj))
        elif obj.type == "table" and columns[name] != expected_columns()[name]:
            out.append(("altered", SchemaObject("table", name, name,
                                                "columns " + ", ".join(columns[name]))))
    row = conn.execute("SELECT version, application_id FROM facedesk_schema").fetchone()
    if row is None or tuple(row) != (SCHEMA_VERSION, APPLICATION_ID):
        out.append(("header", SchemaObject("header", f"facedesk_schema {row}", "", "")))
    return out


def schema_differences(conn: Connection) -> list[tuple[str, SchemaObject]]:
    """('added' | 'removed' | 'altered', object) for every difference from the schema
    FaceDesk made; ('header', ...) when the file's schema number or application id is not
    FaceDesk's."""
    if is_postgres(conn):
        return _pg_schema_differences(conn)
    found = schema_objects(conn)
    made = expected_schema()
    out: list[tuple[str, SchemaObject]] = []
    for name, obj in found.items():
        if name not in made:
            out.append(("added", obj))
        elif obj.sql != made[name].sql or obj.type != made[name].type or \
                obj.table != made[name].table:
            out.append(("altered", obj))
    out.extend(("removed", obj) for name, obj in made.items() if name not in found)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if version != SCHEMA_VERSION or app_id != APPLICATION_ID:
        out.append(("header", SchemaObject("header", f"schema {version}, application id "
                                           f"{app_id:#x}", "", "")))
    return out
