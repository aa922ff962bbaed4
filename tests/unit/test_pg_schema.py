"""The gallery's migrations, translated to PostgreSQL (facedesk.store.pg_schema), build the
same tables and columns on a real server as on SQLite."""

from __future__ import annotations

import sqlite3

import psycopg

from facedesk.store.pg_schema import migration
from facedesk.store.schema import MIGRATIONS


def _sqlite_columns() -> dict[str, list[str]]:
    conn = sqlite3.connect(":memory:")
    for version in sorted(MIGRATIONS):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}


def test_every_migration_builds_the_same_tables_and_columns_on_postgresql(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        for version in sorted(MIGRATIONS):
            for statement in migration(version):
                conn.execute(statement)  # type: ignore[arg-type]  # our own DDL
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall()
    pg: dict[str, list[str]] = {}
    for table, column in rows:
        pg.setdefault(table, []).append(column)
    assert pg == _sqlite_columns()
