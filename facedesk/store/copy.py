"""The SQL of `facedesk gallery copy` (facedesk.app.gallery_copy): every table of one
gallery into another, SQLite or PostgreSQL on either side, rows and ids as they are.

The tables and their columns come from the migrations themselves (an in-memory SQLite
database made from facedesk.store.schema, as records.expected_schema does), ordered so
that a table comes after every table its foreign keys name; a new migration's table is
copied without a change here. Both galleries are opened by this FaceDesk, so both have
its schema (the same columns on both stores: facedesk.store.pg_schema).

Each table's rows are also summed up as they are read, on each side independently: the
row count and a digest of the table (the sum, modulo 2**128, of every row's digest,
`records.digest` over ALL the row's columns with version 0, "the whole row"), so the
order the two stores give the rows in does not matter, and a row changed, missing or
added on one side changes the table's digest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from facedesk.store import records
from facedesk.store.db import Connection, Db, batches, connection, is_postgres
from facedesk.store.schema import MIGRATIONS

#: rows read and written per step (a progress event and a cancel check after each)
BATCH_ROWS = 2000

#: meta keys every new gallery writes for itself (migration 1): replaced by the source's
FRESH_META = frozenset({"gallery_id", "created_at", "version"})


#: the schema's SQLite column types as PostgreSQL has them (facedesk.store.pg_schema)
_PG_TYPES = {"INTEGER": "int8", "REAL": "float8", "TEXT": "text", "BLOB": "bytea"}


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    #: the primary key's columns (rows are read in this order)
    key: tuple[str, ...]
    #: the INTEGER PRIMARY KEY column (an identity column on PostgreSQL), if any
    identity: str | None
    #: each column's type on PostgreSQL (facedesk.store.pg_schema's translation)
    pg_types: tuple[str, ...] = ()


@cache
def tables() -> tuple[Table, ...]:
    """Every table of the schema, each after the tables its foreign keys reference."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for version in sorted(MIGRATIONS):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        names = sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%'"))
        needs = {n: {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({n})")} - {n}
                 for n in names}
        shapes: dict[str, Table] = {}
        for n in names:
            info = list(conn.execute(f"PRAGMA table_info({n})"))
            key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
            identity = key[0] if len(key) == 1 and any(
                r[1] == key[0] and r[2].upper() == "INTEGER" for r in info) else None
            shapes[n] = Table(n, tuple(r[1] for r in info), key or ("rowid",), identity,
                              tuple(_PG_TYPES[r[2].upper()] for r in info))
    finally:
        conn.close()
    ordered: list[Table] = []
    done: set[str] = set()
    while len(ordered) < len(names):
        # meta first: it holds the gallery's id, from which a server's audit trigger
        # derives the link of the first event
        ready = sorted((n for n in names if n not in done and needs[n] <= done),
                       key=lambda n: (n != "meta", n))
        if not ready:
            raise RuntimeError(f"foreign keys in a cycle among {sorted(set(names) - done)}")
        for n in ready:
            ordered.append(shapes[n])
            done.add(n)
    return tuple(ordered)


# --- what a side holds ------------------------------------------------------------------------


@dataclass
class TableSum:
    """A table's row count and order-free digest (see the module's text)."""

    rows: int = 0
    total: int = 0

    def add(self, table: str, row: Sequence[Any]) -> None:
        self.rows += 1
        self.total = (self.total + int(records.digest(table, 0, row), 16)) % (1 << 128)

    @property
    def digest(self) -> str:
        return f"{self.total:032x}"


@dataclass
class Sums:
    tables: dict[str, TableSum] = field(default_factory=dict)

    def of(self, table: str) -> TableSum:
        return self.tables.setdefault(table, TableSum())

    def counts(self) -> dict[str, int]:
        return {t: s.rows for t, s in self.tables.items()}


def row_counts(db: Db) -> dict[str, int]:
    conn = connection(db)
    return {t.name: int(conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])
            for t in tables()}


def data_tables(db: Db) -> list[str]:
    """The tables that hold rows, but for the meta keys a new gallery writes itself: an
    empty list is a gallery that was just created (a copy's destination must be so)."""
    conn = connection(db)
    out = []
    for t in tables():
        if t.name == "meta":
            keys = {r[0] for r in conn.execute("SELECT key FROM meta")}
            if keys - FRESH_META:
                out.append(t.name)
        elif conn.execute(f"SELECT 1 FROM {t.name} LIMIT 1").fetchone() is not None:
            out.append(t.name)
    return out


def read_rows(db: Db, table: Table, sums: Sums | None = None,
              batch: int = BATCH_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    """Every row of a table in key order, in batches (each row added to `sums`). Read
    inside one transaction (`gallery.read()`) for a consistent snapshot."""
    sql = (f"SELECT {', '.join(table.columns)} FROM {table.name} "
           f"ORDER BY {', '.join(table.key)}")
    total = None if sums is None else sums.of(table.name)
    for found in batches(connection(db), sql, (), batch):
        rows = [tuple(r) for r in found]
        if total is not None:
            for row in rows:
                total.add(table.name, row)
        yield rows


def copy_tables(source: Db, conn: Connection, sums: Sums,
                batch: int = BATCH_ROWS) -> Generator[tuple[str, int], None, None]:
    """Copy every table of `source` (read inside one `source.read()`) into a new
    gallery's write transaction `conn`: its own meta rows replaced by the source's, ids
    kept, the identities moved past them at the end. Yields (table, rows) after each
    batch; every row read is added to `sums`."""
    conn.execute("DELETE FROM meta")  # the new gallery's own id, time and version
    for table in tables():
        sums.of(table.name)
        for rows in read_rows(source, table, sums, batch):
            insert_rows(conn, table, rows)
            yield table.name, len(rows)
    reset_identities(conn)


def insert_rows(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert rows as they are, ids included (inside the copy's write transaction); on
    PostgreSQL with COPY, many times faster than one INSERT per row (the tables'
    triggers and constraints apply to it all the same)."""
    columns = ", ".join(table.columns)
    if is_postgres(conn):
        raw = conn.raw  # type: ignore[attr-defined]  # the PgConnection's psycopg connection
        with raw.cursor() as cur, \
                cur.copy(f"COPY {table.name} ({columns}) FROM STDIN (FORMAT BINARY)") as pipe:
            pipe.set_types(list(table.pg_types))
            for row in rows:
                pipe.write_row(row)
        return
    marks = ", ".join("?" * len(table.columns))
    conn.executemany(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", rows)


def reset_identities(conn: Connection) -> None:
    """PostgreSQL: move every identity column's sequence past the largest id copied (the
    copy gave the ids explicitly, which does not advance the sequences); SQLite needs
    nothing (a new rowid is max(rowid) + 1)."""
    if not is_postgres(conn):
        return
    for t in tables():
        if t.identity is not None:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{t.name}', '{t.identity}'), "
                f"coalesce((SELECT max({t.identity}) FROM {t.name}), 0) + 1, false)")
