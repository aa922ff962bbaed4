"""Import runs (`import_runs`) and the problems each met (`import_problems`), behind the
`ImportRun`, `RunCounts` and `Problem` records. The gallery's import lock, held while a run
is 'running', is taken and released by `Gallery.start_run` / `Gallery.finish_run`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from facedesk.store.db import Connection, Db, connection, now_iso


@dataclass(frozen=True)
class Problem:
    path: str
    code: str
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "code": self.code, "reason": self.reason}
        if self.line is not None:
            d["line"] = self.line
        return d


RUN_COUNTERS = ("total", "already_stored", "imported", "no_face", "multi_face",
                "duplicates", "failed")


@dataclass
class RunCounts:
    total: int = 0  # items in the source (files or manifest rows)
    already_stored: int = 0  # photos whose content hash the gallery already had
    imported: int = 0  # photos newly stored (with or without a face)
    no_face: int = 0  # of those, photos where no face was found
    multi_face: int = 0  # of those, photos with more than one face (subject kept)
    duplicates: int = 0  # same content as another item of this run
    failed: int = 0  # unreadable, unsupported, missing, bad row, ...
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in RUN_COUNTERS}


@dataclass(frozen=True)
class ImportRun:
    """An import run as stored (table `import_runs`); `options` is its JSON text."""

    id: int
    source: str
    kind: str
    options: str
    engine_id: str | None
    started_at: str
    finished_at: str | None
    status: str  # running | completed | cancelled | interrupted | failed
    total: int
    already_stored: int
    imported: int
    no_face: int
    multi_face: int
    duplicates: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)




_RUN_SQL = ("SELECT id, source, kind, options, engine_id, started_at, finished_at, status, "
            f"{', '.join(RUN_COUNTERS)} FROM import_runs")


def close_interrupted(conn: Connection, source: str | None = None) -> None:
    """Close runs still marked 'running' as interrupted (call with the import lock held:
    such a run was killed; its committed photos stay); of one source only when the lock
    is the source's (a gallery on a server)."""
    sql = "UPDATE import_runs SET status = 'interrupted' WHERE status = 'running'"
    if source is None:
        conn.execute(sql)
    else:
        conn.execute(sql + " AND source = ?", (source,))


def insert_run(conn: Connection, source: str, kind: str, options: dict[str, Any],
               engine_id: str) -> int:
    """Record a new run, 'running'; its id."""
    cur = conn.execute(
        "INSERT INTO import_runs(source, kind, options, engine_id, started_at, "
        "status) VALUES (?, ?, ?, ?, ?, 'running') RETURNING id",
        (source, kind, json.dumps(options, sort_keys=True), engine_id, now_iso()),
    )
    return int(cur.fetchone()[0])


def finish(conn: Connection, run_id: int, status: str, counts: RunCounts) -> None:
    """Record a run's end: its status and counters."""
    assignments = ", ".join(f"{k} = ?" for k in RUN_COUNTERS)
    conn.execute(
        f"UPDATE import_runs SET status = ?, finished_at = ?, {assignments} WHERE id = ?",
        (status, now_iso(), *(getattr(counts, k) for k in RUN_COUNTERS), run_id),
    )


def running(db: Db, source: str | None = None) -> tuple[int, str, str] | None:
    """The newest run marked 'running' (of one source, if given): its id, source and
    start."""
    where = "" if source is None else " AND source = ?"
    row = connection(db).execute(
        "SELECT id, source, started_at FROM import_runs WHERE status = 'running'"
        f"{where} ORDER BY id DESC LIMIT 1", () if source is None else (source,)).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def run(db: Db, run_id: int) -> ImportRun:
    row = connection(db).execute(_RUN_SQL + " WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise KeyError(run_id)
    return ImportRun(*row)


def last_run(db: Db) -> ImportRun | None:
    row = connection(db).execute(_RUN_SQL + " ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else ImportRun(*row)


def run_count(db: Db) -> int:
    return int(connection(db).execute("SELECT count(*) FROM import_runs").fetchone()[0])


def add_problems(conn: Connection, run_id: int, problems: Sequence[Problem]) -> None:
    conn.executemany(
        "INSERT INTO import_problems(run_id, path, code, reason, line) VALUES (?, ?, ?, ?, ?)",
        [(run_id, p.path, p.code, p.reason, p.line) for p in problems],
    )


def problems(db: Db, run_id: int) -> list[Problem]:
    return [
        Problem(path=r[0], code=r[1], reason=r[2], line=r[3])
        for r in connection(db).execute(
            "SELECT path, code, reason, line FROM import_problems WHERE run_id = ? "
            "ORDER BY id", (run_id,))
    ]
