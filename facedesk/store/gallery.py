"""One gallery = one SQLite file, or one PostgreSQL database; and `Gallery`, the owner of
its connection.

Opened through `Gallery.open(location)`, a file path or a `postgresql://` URL. A file is
recognised by its SQLite application_id, a database by its `facedesk_schema` row; both get
their migrations, and every write is one `Gallery.write()` transaction (on PostgreSQL
serialised by an advisory lock, so that concurrent audit appends never fork the chain).
The tables' statements live in one module per concern
(photos, imports, encodings, meta, users, cases, searches, decisions, calibrations, audit
log), as functions taking a Gallery (or a transaction's connection); Gallery's methods for
photos, import runs, encodings and engines are thin calls of those.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, cast
from urllib.parse import quote

import numpy as np
import psycopg
from numpy.typing import NDArray

from facedesk.domain import private
from facedesk.errors import (
    FileOnly,
    GalleryDamaged,
    GalleryError,
    GalleryNotFound,
    GalleryReadOnly,
    GalleryTooNew,
    ImportRunning,
    NotAGallery,
    StorageFull,
)
from facedesk.store import calibrations as stored_calibrations
from facedesk.store import encodings, imports, meta, pg_schema, photos
from facedesk.store.db import Connection, now_iso
from facedesk.store.encodings import EncodingMatrix
from facedesk.store.imports import RUN_COUNTERS, ImportRun, Problem, RunCounts
from facedesk.store.locking import ImportLock
from facedesk.store.meta import EngineUse
from facedesk.store.photos import FaceDetails, Person, PhotoFile, PhotoRecord
from facedesk.store.postgres import (
    PgConnection,
    PgImportLock,
    is_server_location,
    public_location,
)
from facedesk.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

#: how long a writer waits for another writer before giving up (milliseconds)
BUSY_TIMEOUT_MS = 30_000


#: called inside a write transaction with the rows it wrote, by table (an audit event)
WriteLog = Callable[[Connection, dict[str, list[Any]]], None]

#: the advisory lock every write transaction on PostgreSQL takes (one writer at a time,
#: as SQLite's BEGIN IMMEDIATE): (FaceDesk's application id, 0)
_PG_WRITE_LOCK = (APPLICATION_ID, 0)

#: how a write transaction starts on PostgreSQL, in one round trip (statements without
#: parameters go together): BEGIN, the write lock, then the gallery's write counter
#: (other workstations see by it that something changed)
_PG_BEGIN_WRITE = (f"BEGIN; SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK[0]}, "
                   f"{_PG_WRITE_LOCK[1]}); UPDATE facedesk_schema SET writes = writes + 1")


def _is_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL: the disk, or the database's max_page_count, is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_FULL)
    return "database or disk is full" in str(exc)


#: the fields of the last import run a gallery summary shows
_SUMMARY_RUN_FIELDS = ("id", "source", "status", "started_at", "finished_at", *RUN_COUNTERS)


@dataclass(frozen=True)
class GallerySummary:
    """What `facedesk info` and the window show of a gallery."""

    path: str
    gallery_id: str
    created_at: str | None
    schema_version: int
    version: int
    persons: int
    photos: int
    faces: int
    photos_without_face: int
    photos_with_several_faces: int
    engines: tuple[EngineUse, ...]
    last_import: ImportRun | None
    import_runs: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["engines"] = [asdict(e) for e in self.engines]
        d["last_import"] = None if self.last_import is None else \
            {k: getattr(self.last_import, k) for k in _SUMMARY_RUN_FIELDS}
        return d


def sqlite_problem(path: Path | str | None, exc: Exception) -> GalleryError:
    """A database error that reached the user, as a one-line typed error naming the
    problem and the way back: a damaged file (SQLITE_CORRUPT / NOTADB), a read-only one,
    another failure of the file; or a failure of the gallery's server."""
    if is_server_location(path) or isinstance(exc, psycopg.Error):
        server = public_location(str(path)) if is_server_location(path) else "the gallery"
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return GalleryReadOnly(f"{server}: the gallery's server refused this for your "
                                   f"database role ({detail})")
        return GalleryError(f"{server}: the gallery's server failed ({detail}); try again, "
                            "or ask its administrator")
    where = path or "the gallery"
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    text = str(exc)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text \
            or "not a database" in text:
        return GalleryDamaged(
            f"{where} is damaged ({text}): nothing was changed. Restore it from a backup "
            f"(facedesk restore --help), or ask an administrator to")
    if isinstance(exc, sqlite3.OperationalError) and _is_read_only(exc):
        return GalleryReadOnly(f"{where} is read-only for you: this change cannot be "
                               "saved; reading works. Ask the gallery's owner for write access")
    return GalleryError(f"{where}: the gallery file could not be used ({text}); try again, "
                        "or restore it from a backup (facedesk restore --help)")


def _writable(p: Path) -> bool:
    """Can this process write the gallery and create its WAL/SHM files next to it?"""
    return os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK)


def _is_read_only(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
        return True
    return "readonly database" in str(exc) or "read-only" in str(exc)


def _connect(p: Path, read_only: bool) -> tuple[sqlite3.Connection, int, int]:
    """A connection (autocommit mode: every write goes through Gallery.write(), BEGIN
    IMMEDIATE) with the file's application id and number of schema objects. Read-only:
    opened with mode=ro; when SQLite cannot even make the WAL index it needs to read (the
    folder is read-only too), as an immutable file."""
    tries = [f"file:{quote(str(p))}?mode=ro", f"file:{quote(str(p))}?mode=ro&immutable=1"] \
        if read_only else [str(p)]
    for i, target in enumerate(tries):
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               uri=read_only)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.OperationalError:
            conn.close()
            if i + 1 < len(tries):
                continue
            raise GalleryReadOnly(f"{p}: the gallery and its folder are read-only for you, "
                                  "and SQLite cannot open it so: work on a copy") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_CORRUPT:
                raise sqlite_problem(p, exc) from None  # an SQLite file, damaged
            raise NotAGallery(f"{p}: not a FaceDesk gallery (not an SQLite database: {exc})") \
                from None
        return conn, int(app_id), int(n_tables)
    raise AssertionError("unreachable")


#: a gallery's header on PostgreSQL (SQLite's application_id and user_version), and the
#: count of its write transactions (what `Gallery.data_version` polls there)
_PG_HEADER = ("CREATE TABLE IF NOT EXISTS facedesk_schema (id INTEGER PRIMARY KEY "
              "CHECK (id = 1), application_id BIGINT NOT NULL, version BIGINT NOT NULL, "
              "writes BIGINT NOT NULL)")


def _pg_state(conn: PgConnection) -> str:
    """'gallery', 'empty' (no table in the database's schema) or 'foreign'."""
    has_header, tables = conn.execute(
        "SELECT to_regclass('facedesk_schema') IS NOT NULL, (SELECT count(*) FROM "
        "pg_tables WHERE schemaname = current_schema())").fetchone()
    if has_header:
        row = conn.execute("SELECT application_id FROM facedesk_schema").fetchone()
        return "gallery" if row is not None and row[0] == APPLICATION_ID else "foreign"
    return "foreign" if tables else "empty"


def _pg_create_header(conn: PgConnection) -> None:
    """Make an empty database a gallery at schema 0 (once, under the write lock)."""
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?, ?)", _PG_WRITE_LOCK)
        conn.execute(_PG_HEADER)
        conn.execute("INSERT INTO facedesk_schema(id, application_id, version, writes) "
                     "VALUES (1, ?, 0, 0) ON CONFLICT (id) DO NOTHING", (APPLICATION_ID,))
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")
        raise


def _install_server_security(conn: Connection) -> None:
    """The server's roles, grants and triggers (facedesk.store.pg_security, when this
    FaceDesk has it), after the migrations; idempotent."""
    try:
        from facedesk.store import pg_security  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return
    install = getattr(pg_security, "install", None)
    if install is not None:
        install(conn)


class Gallery:
    #: called with the gallery after every committed write transaction (the audit log's
    #: external witness registers here); a listener never fails the write
    _commit_listeners: ClassVar[list[Callable[[Gallery], None]]] = []

    @classmethod
    def add_commit_listener(cls, listener: Callable[[Gallery], None]) -> None:
        if listener not in cls._commit_listeners:
            cls._commit_listeners.append(listener)

    #: this process cannot write the file (see `Gallery.open`): changes raise
    #: GalleryReadOnly
    read_only: bool = False

    def __init__(self, location: str, conn: Connection, *, path: Path | None = None,
                 name: str | None = None, open_location: str | None = None) -> None:
        #: where the gallery is, for messages and provenance: its file's path, or its
        #: server's URL without the password
        self.location = location
        #: what `Gallery.open` takes to open this gallery again (e.g. in a worker thread):
        #: the URL may hold a password typed for this connection, so never show or save it
        self.open_location: str | Path = path if path is not None else \
            (open_location or location)
        #: a short name: the file's, or the database's
        self.name = name or (path.name if path is not None else location)
        self._path = path
        self._conn = conn
        #: held while this object's import run is 'running' (see start_run)
        self._import_lock: ImportLock | PgImportLock | None = None

    @property
    def is_server(self) -> bool:
        """On a PostgreSQL server (not a file)."""
        return self._path is None

    @property
    def path(self) -> Path:
        """The gallery's file, for what only a file has (backups, permissions, the files
        beside it). A gallery on a server has none: FileOnly says so."""
        if self._path is None:
            raise FileOnly(f"{self.location}: a gallery on a database server, not a file: "
                           "this works on a gallery file only")
        return self._path

    def same_gallery(self, other: Gallery) -> bool:
        """The same gallery file (compared as files), or the same gallery on a server."""
        if self.is_server or other.is_server:
            return self.is_server == other.is_server and \
                self.gallery_id == other.gallery_id
        return self.path.resolve() == other.path.resolve()

    def file_only(self, what: str, instead: str) -> FileOnly:
        """The one-line error for a file-only feature asked of a gallery on a server."""
        return FileOnly(f"{self.location} is a gallery on a database server: {what} works "
                        f"on gallery files only; {instead}")

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, location: str | Path, *, create: bool = False) -> Gallery:
        """A gallery file (a path), or a gallery on a PostgreSQL server (a
        `postgresql://` URL); `create`: make it when it is not there yet."""
        if is_server_location(location):
            return cls._open_server(str(location), create=create)
        p = Path(location)
        exists = p.exists() and p.stat().st_size > 0
        if not exists and not create:
            raise GalleryNotFound(
                f"{p}: no gallery there (import photos into it first: facedesk import ... --db {p})"
            )
        if p.exists() and p.is_dir():
            raise NotAGallery(f"{p}: is a folder, not a gallery file")
        if not exists:
            # readable by its owner only from the start; SQLite gives the WAL and SHM
            # files the database file's mode
            private.create_file(p)
            private.restrict(p)  # also an empty file that was there before
        read_only = exists and not _writable(p)
        conn, app_id, n_tables = _connect(p, read_only)
        if app_id != APPLICATION_ID and (n_tables or not create):
            conn.close()
            raise NotAGallery(
                f"{p}: not a FaceDesk gallery (an SQLite file made by another program)"
            )
        if not read_only:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if _is_read_only(exc):  # e.g. a read-only file system
                    conn.close()
                    conn, app_id, n_tables = _connect(p, True)
                    read_only = True
                else:
                    raise
        if not read_only:
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        gallery = cls(str(p), conn, path=p)
        gallery.read_only = read_only
        if read_only:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current < SCHEMA_VERSION:
                conn.close()
                raise GalleryReadOnly(
                    f"{p}: this gallery needs an upgrade to this FaceDesk version, and the "
                    "file cannot be written (read-only): ask its owner to open it once, "
                    "or give you write access")
            gallery._migrate()  # only checks that it is not too new
        else:
            gallery._migrate()
        group = gallery.file_group()
        if exists:
            private.check_gallery(p, group)
        if not read_only and group is not None:
            private.share(p, group)  # the sidecars SQLite made since: the group's too
        elif not read_only and not private.exposed(p):
            for side in private.gallery_files(p)[1:]:  # made by an older FaceDesk
                if private.exposed(side):
                    private.restrict(side)
        return gallery

    @classmethod
    def _open_server(cls, url: str, *, create: bool) -> Gallery:
        """A gallery in a PostgreSQL database: the database must exist (an administrator
        creates it); its tables are made on first use when `create`."""
        where = public_location(url)
        try:
            conn = PgConnection.connect(url)
        except psycopg.Error as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise GalleryNotFound(
                f"{where}: cannot connect to the gallery's server ({detail}). Check the "
                "URL; the password comes from ~/.pgpass (or PGPASSFILE), a service file "
                "or PGPASSWORD") from None
        try:
            state = _pg_state(conn)
            if state == "foreign":
                raise NotAGallery(f"{where}: not a FaceDesk gallery (the database holds "
                                  "tables of another program)")
            if state == "empty" and not create:
                raise GalleryNotFound(f"{where}: no gallery in this database yet (import "
                                      f"photos into it first: facedesk import ... --db URL)")
            if state == "empty":
                _pg_create_header(conn)
            gallery = cls(where, conn, name=conn.raw.info.dbname, open_location=url)
            gallery._migrate()
        except psycopg.errors.InsufficientPrivilege:
            conn.close()
            raise GalleryReadOnly(
                f"{where}: this gallery needs an upgrade to this FaceDesk version (or its "
                "first tables), and your database role may not change its tables: ask its "
                "administrator (the tables' owner) to open it once") from None
        except psycopg.Error as exc:
            conn.close()
            raise sqlite_problem(url, exc) from None
        except BaseException:
            conn.close()
            raise
        return gallery

    def file_group(self) -> str | None:
        """The group an administrator shares the gallery's files with (setting
        file_group), or None: readable by its owner only."""
        value = self.meta("setting:file_group")
        group = None if value is None else json.loads(value)
        return group if isinstance(group, str) and group else None

    def read_only_message(self, what: str = "this change") -> str:
        return (f"{self.location} is read-only for you (its file permissions, or a read-only "
                f"disk): {what} cannot be saved; reading works. Ask the gallery's owner for "
                "write access, or work on a copy")

    def close(self) -> None:
        if self._import_lock is not None:
            self._import_lock.release()
        self._conn.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> Connection:
        return self._conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, taken with the write lock up front (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: BEGIN and the gallery's advisory lock) so two writers wait
        for each other instead of failing half-way, and whatever the transaction reads
        (e.g. the audit chain's head) no other writer changes before it commits."""
        conn = self.conn
        try:
            if self.is_server:
                cast(PgConnection, conn).script(_PG_BEGIN_WRITE)
            else:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # also when COMMIT itself failed (a full disk in WAL mode fails there):
                # the transaction is still open then, and must not hold the write lock
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error, psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if _is_read_only(exc):
                raise GalleryReadOnly(self.read_only_message()) from None
            if _is_full(exc):
                raise StorageFull(
                    f"{self.location}: the disk is full (or the gallery reached its size "
                    "limit): the last change was not saved; everything saved before is "
                    "intact. Free some space and try again (an import resumes where it "
                    "stopped)"
                ) from exc
            raise
        for listener in self._commit_listeners:
            with contextlib.suppress(Exception):
                listener(self)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One consistent snapshot for several SELECTs."""
        conn = self.conn
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if self.is_server else "BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self.conn
        current = self._schema_version()
        if current > SCHEMA_VERSION:
            raise GalleryTooNew(
                f"{self.location}: this gallery was written by a newer FaceDesk "
                f"(schema {current}; this version knows up to {SCHEMA_VERSION}); update FaceDesk"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.write():
                # re-check under the write lock: another process may have migrated
                if self._schema_version() >= version:
                    continue
                statements = pg_schema.migration(version) if self.is_server \
                    else MIGRATIONS[version]
                for statement in statements:
                    conn.execute(statement)
                if version == 1:
                    if not self.is_server:
                        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.executemany(
                        "INSERT INTO meta(key, value) VALUES (?, ?)",
                        [("gallery_id", uuid.uuid4().hex), ("created_at", now_iso()),
                         ("version", "0")],
                    )
                self._set_schema_version(version)
        if self.is_server and current < SCHEMA_VERSION:
            with self.write() as c:  # installed by the migrating owner, in a transaction
                _install_server_security(c)

    def _schema_version(self) -> int:
        """The schema number (SQLite: PRAGMA user_version; PostgreSQL: facedesk_schema)."""
        sql = "SELECT version FROM facedesk_schema" if self.is_server \
            else "PRAGMA user_version"
        return int(self.conn.execute(sql).fetchone()[0])

    def _set_schema_version(self, version: int) -> None:
        if self.is_server:
            self.conn.execute("UPDATE facedesk_schema SET version = ?", (version,))
        else:
            self.conn.execute(f"PRAGMA user_version = {int(version)}")

    # -- meta ------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        return meta.get(self, key)

    @property
    def version(self) -> int:
        """Grows by one with every write that changes the faces; search caches key on it."""
        return int(self.meta("version") or 0)

    def data_version(self) -> int:
        """Changes whenever another connection (another process, or another Gallery
        object) commits a write to this gallery: a cheap 'has anything changed?' poll."""
        sql = "SELECT writes FROM facedesk_schema" if self.is_server \
            else "PRAGMA data_version"
        return int(self.conn.execute(sql).fetchone()[0])

    @property
    def gallery_id(self) -> str:
        return self.meta("gallery_id") or ""

    # -- engines ---------------------------------------------------------------------------

    def register_engine(self, engine_id: str, identity: dict[str, Any], *,
                        log: WriteLog | None = None) -> None:
        """Record an engine (once). `log(conn, {"engines": [id]})` runs in the same
        transaction when the engine is new (the caller's audit event)."""
        with self.write() as conn:
            if meta.insert_engine(conn, engine_id, identity) and log is not None:
                log(conn, {"engines": [engine_id]})

    def engine_ids(self) -> list[str]:
        """Engines that encoded at least one face of this gallery."""
        return meta.engine_ids(self)

    def engine_identity(self, engine_id: str) -> dict[str, Any] | None:
        """An engine's identity document (JSON: its versions and model hashes)."""
        return meta.engine_identity(self, engine_id)

    # -- import runs -----------------------------------------------------------------------

    def start_run(self, source: str, kind: str, options: dict[str, Any],
                  engine_id: str) -> int:
        """Record a new import run and take the gallery's import lock until `finish_run`
        (or `close`): a second import into the same gallery meanwhile, from any process,
        is refused with ImportRunning. On a server the lock is the source's (workstations
        import different folders at once; the same folder twice is refused)."""
        lock = self._import_lock
        if isinstance(lock, PgImportLock) and lock.source != source:
            self._release_import_lock()  # another folder's, from a run left unfinished
            lock = None
        if lock is None:
            lock = PgImportLock(self.conn, source) if self.is_server \
                else ImportLock(self.path)
        if not lock.acquire():
            raise ImportRunning(self._running_message(lock, source))
        self._import_lock = lock
        only = source if self.is_server else None
        try:
            with self.write() as conn:
                # we hold the lock, so a run still marked 'running' was killed: its
                # committed photos stay, the run itself is closed as interrupted
                imports.close_interrupted(conn, only)
                return imports.insert_run(conn, source, kind, options, engine_id)
        except BaseException:
            self._release_import_lock()
            raise

    def _release_import_lock(self) -> None:
        lock, self._import_lock = self._import_lock, None
        if lock is not None:
            lock.release()

    def _running_message(self, lock: ImportLock | PgImportLock, source: str) -> str:
        row = imports.running(self, source if self.is_server else None)
        pid = lock.holder_pid()
        what = "" if row is None else f" (run #{row[0]} of {row[1]}, started {row[2]}"
        if pid is not None:
            what = f"{what}, process {pid})" if what else f" (process {pid})"
        elif what:
            what += ")"
        return (f"{self.location}: another import into this gallery is running{what}; wait for "
                "it to finish (or stop it), then run this import again: it resumes where "
                "the other one left off")

    def finish_run(self, run_id: int, status: str, counts: RunCounts) -> None:
        try:
            with self.write() as conn:
                imports.finish(conn, run_id, status, counts)
        finally:
            # even when the update failed (a full disk): the run left 'running' is then
            # closed as interrupted by the next import
            self._release_import_lock()

    def run(self, run_id: int) -> ImportRun:
        return imports.run(self, run_id)

    def last_run(self) -> ImportRun | None:
        return imports.last_run(self)

    def add_problems(self, run_id: int, problems: Sequence[Problem]) -> None:
        if not problems:
            return
        with self.write() as conn:
            imports.add_problems(conn, run_id, problems)

    def problems(self, run_id: int) -> list[Problem]:
        return imports.problems(self, run_id)

    # -- photos and faces ------------------------------------------------------------------

    def stored_hashes(self) -> dict[str, str]:
        """sha256 -> stored path, for every photo in the gallery."""
        return photos.stored_hashes(self)

    def photo_files(self) -> list[PhotoFile]:
        """Where every photo's original is, by photo id."""
        return photos.photo_files(self)

    def add_photos(self, run_id: int, records: Iterable[PhotoRecord], *,
                   log: WriteLog | None = None) -> int:
        """Store photos (and their subject face) in one transaction. Photos whose hash is
        already stored are skipped, so a batch can be replayed safely. Returns how many
        photos were new. When something was written, `log(conn, written)` runs in the same
        transaction with the rows written ({"persons": pks, "photos": ids, "faces":
        ids}): the caller's audit event records their digests."""
        written: dict[str, list[int]] = {"persons": [], "photos": [], "faces": []}
        with self.write() as conn:
            added = photos.insert_photos(conn, run_id, records, written)
            if log is not None and any(written.values()):
                log(conn, {k: list(dict.fromkeys(v)) for k, v in written.items() if v})
        return added

    # -- reading ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return photos.counts(self)

    def load_encodings(self, *, cache: bool | None = None,
                       previous: EncodingMatrix | None = None) -> EncodingMatrix:
        """All encodings as one float32 matrix, rows grouped by person (see
        `encodings.load`; `previous`: the matrix loaded before, topped up)."""
        return encodings.load(self, cache=cache, previous=previous)

    def face_details(self, face_ids: Sequence[int]) -> dict[int, FaceDetails]:
        """Face, photo and person fields for the given faces (no encodings)."""
        return photos.face_details(self, face_ids)

    def encodings_by_path(self, paths: Sequence[str]) -> dict[str, NDArray[np.float32] | None]:
        """The subject's encoding of each stored photo among `paths` (None: the photo is
        stored but no face was found in it); paths not in the gallery are left out."""
        return photos.encodings_by_path(self, paths)

    def face_metadata(self, key: str) -> dict[int, str | None]:
        """One metadata field (e.g. "sex") of every face's photo, by face id."""
        return photos.face_metadata(self, key)

    def metadata_keys(self) -> list[str]:
        """The metadata fields recorded on photos (for choosing a group column)."""
        return photos.metadata_keys(self)

    def face_landmarks(self, face_id: int) -> list[tuple[int, int]]:
        return photos.face_landmarks(self, face_id)

    def face_crop(self, face_id: int) -> bytes:
        return photos.face_crop(self, face_id)

    def summary(self) -> GallerySummary:
        return GallerySummary(
            path=self.location, gallery_id=self.gallery_id,
            created_at=self.meta("created_at"), schema_version=SCHEMA_VERSION,
            version=self.version, **self.counts(),
            engines=tuple(EngineUse(eid, self.engine_identity(eid))
                          for eid in self.engine_ids()),
            last_import=self.last_run(),
            import_runs=imports.run_count(self),
        )

    # -- calibrations ----------------------------------------------------------------------

    def add_calibration(self, kind: str, engine_id: str, source: str, impostor_pairs: int,
                        genuine_pairs: int, data: str, *, use: bool = True,
                        log: Callable[[Connection, int], None] | None = None) -> int:
        """Store a calibration table (JSON `data`) and, by default, put it in use.
        `log(conn, id)` runs in the same transaction (the caller's audit event)."""
        with self.write() as conn:
            cid = stored_calibrations.add(
                conn, created_at=now_iso(), kind=kind, engine_id=engine_id, source=source,
                impostor_pairs=impostor_pairs, genuine_pairs=genuine_pairs, data=data)
            if log is not None:
                log(conn, cid)
            if use:
                stored_calibrations.set_in_use(conn, cid)
        return cid

    def calibrations(self) -> list[stored_calibrations.StoredCalibration]:
        """Stored calibrations, oldest first, without their tables."""
        return stored_calibrations.stored(self)

    def calibration_data(self, calibration_id: int) -> str | None:
        return stored_calibrations.data(self, calibration_id)

    def calibration_in_use(self) -> int | None:
        """The stored calibration in use, or None for the one shipped with FaceDesk."""
        return stored_calibrations.in_use_id(self)

    def use_calibration(self, calibration_id: int | None) -> None:
        """Put a stored calibration in use (None: the one shipped with FaceDesk)."""
        with self.write() as conn:
            if calibration_id is not None and \
                    not stored_calibrations.exists(conn, calibration_id):
                raise KeyError(calibration_id)
            stored_calibrations.set_in_use(conn, calibration_id)

    def iter_persons(self) -> Iterator[Person]:
        return photos.iter_persons(self)
