"""What the store's per-concern modules read from: a Gallery, or the connection of a
transaction in progress (`with gallery.write() as conn`: the caller's audit event is then
written in the same transaction).

A connection is SQLite's own (`sqlite3.Connection`, a gallery file) or the PostgreSQL
adapter (`facedesk.store.postgres.PgConnection`, a gallery on a server): both answer
`Connection` below, and the store's SQL is written once for both (`?` placeholders,
standard SQL, `RETURNING id`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, Union

import psycopg

if TYPE_CHECKING:
    from facedesk.store.gallery import Gallery


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses (no lastrowid: use RETURNING id)."""

    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int = ..., /) -> list[Any]: ...
    def close(self) -> None: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of sqlite3.Connection the store uses; the PostgreSQL adapter has it too."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...
    @property
    def in_transaction(self) -> bool: ...
    def close(self) -> None: ...


#: a Gallery, or the connection of a transaction in progress
Db = Union["Gallery", Connection]  # Gallery: imported for types only

#: what a failing statement raises, on either backend
DbError: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


def connection(db: Db) -> Connection:
    from facedesk.store.gallery import Gallery  # here: gallery imports this module
    return db.conn if isinstance(db, Gallery) else db


def is_postgres(conn: Connection) -> bool:
    """The one test of the backend, for the few statements each dialect writes its own way."""
    return not isinstance(conn, sqlite3.Connection)


@contextmanager
def failing_allowed(conn: Connection) -> Iterator[None]:
    """Around a statement that may fail and be handled (a column missing from an altered
    table): on PostgreSQL a failed statement spoils the whole transaction, so inside one
    it runs under a savepoint, rolled back when it fails. SQLite needs nothing."""
    if not (is_postgres(conn) and conn.in_transaction):
        yield
        return
    conn.execute("SAVEPOINT facedesk_may_fail")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO SAVEPOINT facedesk_may_fail")
        raise
    conn.execute("RELEASE SAVEPOINT facedesk_may_fail")


def batches(conn: Connection, sql: str, parameters: Sequence[Any] = (), size: int = 4096
            ) -> Iterator[list[Any]]:
    """The rows of a large SELECT, a batch at a time (on PostgreSQL through a server-side
    cursor, inside the caller's transaction, so the client never holds all of them)."""
    if is_postgres(conn):
        yield from conn.stream(sql, parameters, size)  # type: ignore[attr-defined]
        return
    cur = conn.execute(sql, parameters)
    try:
        while rows := cur.fetchmany(size):
            yield rows
    finally:
        cur.close()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
