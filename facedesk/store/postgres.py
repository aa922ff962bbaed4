"""A gallery on a PostgreSQL server: the connection adapter that lets the store's modules
keep their SQL (written for both backends), and the server location's rules.

`PgConnection` answers `facedesk.store.db.Connection` as sqlite3.Connection does:
`execute(sql, params)` with `?` placeholders (turned into psycopg's `%s`, a literal `%`
escaped), booleans sent as 0/1 (the schema stores them in INTEGER columns), a cursor
with fetchone / fetchall / fetchmany / iteration / rowcount, `executemany`, and
`in_transaction`. Like the SQLite connection it runs in autocommit mode: every
transaction is an explicit BEGIN ... COMMIT of `Gallery.write()` / `Gallery.read()`.

Locations: `postgresql://` or `postgres://` URLs (libpq's: `postgresql:///?service=NAME`
names a service file entry). The password comes from libpq itself (~/.pgpass or
PGPASSFILE, a service file, PGPASSWORD), never from FaceDesk's settings; `public_location`
is the URL with any password removed, for messages and provenance.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

from facedesk.store.db import Connection, Cursor

#: the URL schemes of a gallery on a server
SCHEMES = ("postgresql://", "postgres://")

#: how long opening a gallery waits for a server that does not answer (seconds)
CONNECT_TIMEOUT_S = 10

#: the first key of the import locks' advisory locks (the second: the source's hash)
IMPORT_LOCK_CLASS = 0x46444B32

_TOKENS = re.compile(r"'(?:[^']|'')*'|\?")


def is_server_location(location: object) -> bool:
    """Is this gallery location a PostgreSQL URL (not a file path)?"""
    return isinstance(location, str) and location.lower().startswith(SCHEMES)


def public_location(url: str) -> str:
    """The URL without its password (in the user part or a `password=` parameter), for
    messages, provenance and saved connections."""
    parts = urlsplit(url)
    query = "&".join(item for item in parts.query.split("&")
                     if item.split("=", 1)[0] != "password")
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.rsplit("@", 1)[0].split(":", 1)[0] + "@" + netloc.rsplit("@", 1)[1]
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


def has_password(url: str) -> bool:
    return public_location(url) != url


def with_password(url: str, password: str) -> str:
    """The URL with a password for this connection only (a `password=` parameter, which
    libpq reads also for a service URL); never saved, never shown."""
    base = public_location(url)
    joiner = "&" if urlsplit(base).query else ("?" if not base.endswith("?") else "")
    return f"{base}{joiner}{urlencode({'password': password})}"


def gallery_location(text: str) -> Path | str:
    """A gallery location typed or saved as text: a server URL stays text, else a path."""
    return text if is_server_location(text) else Path(text)


@functools.lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """A statement with `?` placeholders in psycopg's form: `%` escaped as `%%`, each `?`
    outside a string literal turned into `%s`."""
    escaped = sql.replace("%", "%%")
    return _TOKENS.sub(lambda m: "%s" if m.group(0) == "?" else m.group(0), escaped)


def _param(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def pg_params(params: Sequence[Any] | None) -> tuple[Any, ...]:
    return () if params is None else tuple(_param(v) for v in params)


class PgConnection:
    """A psycopg connection with sqlite3.Connection's calling conventions (see the module's
    docstring). `raw` is the psycopg connection, for what only PostgreSQL does."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    @classmethod
    def connect(cls, url: str) -> PgConnection:
        """Connect (an unreachable server is given up after CONNECT_TIMEOUT_S seconds,
        unless the URL says its own connect_timeout)."""
        target = url if "connect_timeout=" in url else \
            make_conninfo(url, connect_timeout=CONNECT_TIMEOUT_S)
        return cls(psycopg.connect(target, autocommit=True))

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        cur = self.raw.cursor()
        cur.execute(pg_sql(sql), pg_params(parameters))
        return cur

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        cur = self.raw.cursor()
        cur.executemany(pg_sql(sql), [pg_params(p) for p in parameters])
        return cur

    def script(self, sql: str) -> None:
        """Statements without parameters, separated by `;`, sent in one round trip
        (psycopg's simple query protocol: no parameters, no `?`)."""
        self.raw.execute(sql.encode())

    def stream(self, sql: str, parameters: Sequence[Any] = (), batch: int = 4096
               ) -> Iterator[list[Any]]:
        """The rows of a large SELECT in batches, through a server-side cursor (the client
        never holds the whole result) inside the caller's transaction; outside one, a
        plain cursor (a server-side cursor lives in a transaction)."""
        if not self.in_transaction:
            plain = self.execute(sql, parameters)
            while rows := plain.fetchmany(batch):
                yield rows
            return
        with self.raw.cursor(name="facedesk_stream") as cur:
            cur.itersize = batch
            # binary rows: a BYTEA comes as its bytes, not as twice as much hex text
            cur.execute(pg_sql(sql), pg_params(parameters), binary=True)
            while rows := cur.fetchmany(batch):
                yield rows

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


class PgImportLock:
    """The import lock of one source in a gallery on a server: a session advisory lock
    (the server drops it when the importing process's connection ends, however it ends),
    keyed by the source, so that workstations import different folders at once and the
    same folder twice is refused. The interface of facedesk.store.locking.ImportLock."""

    def __init__(self, conn: Connection, source: str) -> None:
        self._conn = conn
        self.source = source
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        if not self._held:
            self._held = bool(self._conn.execute(
                "SELECT pg_try_advisory_lock(?, hashtext(?))",
                (IMPORT_LOCK_CLASS, self.source)).fetchone()[0])
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(?, hashtext(?))",
                                   (IMPORT_LOCK_CLASS, self.source))

    def holder_pid(self) -> int | None:
        """Another workstation's process: its id is not known to the server."""
        return None
