"""The audit log's rows, and the rows `audit verify` compares with their events: every SQL
statement of the audit log. The hashing is facedesk.domain.chain; the use cases (append,
verify, export) are facedesk.app.audit.

Readers take the Gallery (they run in whatever transaction it has open, e.g. one
`gallery.read()` snapshot for a whole verification); `insert` and `last_link` take the
connection of the caller's write transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from facedesk.store import records as rec
from facedesk.store.db import Connection, Db, DbError, connection, failing_allowed
from facedesk.store.gallery import Gallery

_COLUMNS = "seq, at, user_id, kind, case_id, data, prev_hash, hash"


@dataclass(frozen=True)
class AuditRow:
    """One row of the audit table as stored (`data` is its JSON text)."""

    seq: int
    at: str
    user_id: str | None
    kind: str
    case_id: int | None
    data: str
    prev_hash: str
    hash: str


def _row(values: Iterable[Any]) -> AuditRow:
    return AuditRow(*values)


# --- the chain ------------------------------------------------------------------------------


def last_link(db: Db) -> tuple[int, str] | None:
    """(seq, hash) of the last event (in the caller's transaction, given its connection)."""
    row = connection(db).execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def insert(conn: Connection, row: AuditRow) -> None:
    conn.execute(f"INSERT INTO audit({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (row.seq, row.at, row.user_id, row.kind, row.case_id, row.data,
                  row.prev_hash, row.hash))


def record_digests(conn: Connection, records: Mapping[str, Iterable[Any]]
                   ) -> dict[str, Any]:
    """{table: {"v": version, "rows": {key: digest or None}}} of the named rows as they
    are now (None: not there, i.e. deleted), read in the caller's transaction."""
    out: dict[str, Any] = {}
    for table, keys in records.items():
        rows = rec.digests_of(conn, table, keys)
        if rows:
            out[table] = {"v": rec.current_version(table), "rows": rows}
    return out


def head_or_none(gallery: Gallery) -> AuditRow | None:
    """The last row, or None also when the log cannot be read (no audit table yet while
    migrating, or a damaged file)."""
    try:
        with failing_allowed(gallery.conn):
            return last_row(gallery)
    except DbError:
        return None


def last_row(gallery: Gallery) -> AuditRow | None:
    row = gallery.conn.execute(
        f"SELECT {_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else _row(row)


def row_at(gallery: Gallery, seq: int) -> AuditRow | None:
    row = gallery.conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE seq = ?",
                               (seq,)).fetchone()
    return None if row is None else _row(row)


def hashes_after(gallery: Gallery, seq: int) -> dict[int, str]:
    """seq -> hash of the events after `seq`, as the log is now."""
    return {int(s): str(h) for s, h in gallery.conn.execute(
        "SELECT seq, hash FROM audit WHERE seq > ? ORDER BY seq", (seq,))}


def count(gallery: Gallery) -> int:
    return int(gallery.conn.execute("SELECT count(*) FROM audit").fetchone()[0])


def rows(gallery: Gallery, *, case_id: int | None = None, kinds: Iterable[str] | None = None,
         limit: int | None = None) -> Iterator[AuditRow]:
    """Rows in order (oldest first), streamed; filtered by case and kinds; `limit`: the
    last so many."""
    where: list[str] = []
    args: list[Any] = []
    if case_id is not None:
        where.append("case_id = ?")
        args.append(case_id)
    if kinds is not None:
        ks = list(kinds)
        where.append(f"kind IN ({', '.join('?' * len(ks))})")
        args.extend(ks)
    sql = f"SELECT {_COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq"
    if limit is not None:
        sql = f"SELECT * FROM ({sql.replace(' ORDER BY seq', ' ORDER BY seq DESC')} " \
              f"LIMIT {int(limit)}) AS last ORDER BY seq"
    for row in gallery.conn.execute(sql, args):
        yield _row(row)


# --- what verification compares with the events ---------------------------------------------


@dataclass(frozen=True)
class LoggedRecord:
    """A stored record (`values` in the order of the columns asked for) with the event
    its audit_seq names: `event_kind` and `event_data` None when that event is missing."""

    values: tuple[Any, ...]
    seq: int
    event_kind: str | None
    event_data: str | None


def logged_records(gallery: Gallery, table: str, columns: Iterable[str]
                   ) -> Iterator[LoggedRecord]:
    cols = list(columns)
    for row in gallery.conn.execute(
            f"SELECT t.{', t.'.join(cols)}, t.audit_seq, a.kind, a.data FROM {table} t "
            "LEFT JOIN audit a ON a.seq = t.audit_seq WHERE t.audit_seq IS NOT NULL"):
        yield LoggedRecord(tuple(row[:len(cols)]), *row[len(cols):])


def unlogged_case_decisions(gallery: Gallery) -> list[int]:
    """Decisions of a case that name no audit event."""
    return [int(r[0]) for r in gallery.conn.execute(
        "SELECT id FROM decisions WHERE audit_seq IS NULL AND case_id IS NOT NULL")]


@dataclass(frozen=True)
class SearchWithEvent:
    """A search with the data of its search event (JSON text)."""

    search_id: int
    probe_sha256: str
    probe_image: bytes | None
    candidates: str
    provenance: str | None
    seq: int
    event_data: str


def searches_with_events(gallery: Gallery) -> list[SearchWithEvent]:
    return [SearchWithEvent(sid, sha, None if image is None else bytes(image), shown, prov,
                            seq, data)
            for sid, sha, image, shown, prov, seq, data in gallery.conn.execute(
                "SELECT s.id, s.probe_sha256, s.probe_image, s.candidates, s.provenance, "
                "s.audit_seq, a.data FROM searches s "
                "JOIN audit a ON a.seq = s.audit_seq AND a.kind = 'search'")]


@dataclass(frozen=True)
class StoredFrame:
    position: int
    png: bytes | None
    sha256: str


def search_frames(gallery: Gallery, search_id: int) -> list[StoredFrame]:
    return [StoredFrame(pos, None if png is None else bytes(png), sha)
            for pos, png, sha in gallery.conn.execute(
                "SELECT position, png, sha256 FROM search_frames WHERE search_id = ? "
                "ORDER BY position", (search_id,))]


#: the tables whose ids audit events name
ID_TABLES = ("searches", "decisions", "lead_reviews")


def record_ids(gallery: Gallery, table: str) -> set[int]:
    if table not in ID_TABLES:
        raise ValueError(f"not a table of logged records: {table}")
    return {r[0] for r in gallery.conn.execute(f"SELECT id FROM {table}")}


@dataclass(frozen=True)
class UserState:
    user_id: str
    role: str
    active: int


def user_states(gallery: Gallery) -> list[UserState]:
    return [UserState(*r) for r in gallery.conn.execute("SELECT id, role, active FROM users")]


@dataclass(frozen=True)
class CaseState:
    case_id: int
    number: str
    training: int
    closed_at: str | None


def case_states(gallery: Gallery) -> list[CaseState]:
    return [CaseState(*r) for r in gallery.conn.execute(
        "SELECT id, number, training, closed_at FROM cases")]


def stored_settings(gallery: Gallery) -> dict[str, str]:
    """meta rows that are settings (setting:NAME) or the calibration in use, as stored."""
    return dict(gallery.conn.execute("SELECT key, value FROM meta WHERE key LIKE "
                                     "'setting:%' OR key = 'calibration_id'"))


def schema_differences(gallery: Gallery) -> list[tuple[str, rec.SchemaObject]]:
    return rec.schema_differences(gallery.conn)


class TableUnreadable(Exception):
    """A covered table cannot be read with a version's columns (altered, or damaged)."""


def current_digests(gallery: Gallery, table: str, version: int) -> dict[str, str]:
    """{key: digest} of every record row of a table, with one version's columns."""
    try:
        with failing_allowed(gallery.conn):
            return dict(rec.all_digests(gallery.conn, table, version))
    except DbError as exc:
        raise TableUnreadable(str(exc)) from None


def record_keys(gallery: Gallery, table: str) -> set[str]:
    return rec.all_keys(gallery.conn, table)
