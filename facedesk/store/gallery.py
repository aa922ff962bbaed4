"""One gallery = one SQLite file: persons, photos, faces, engines and import runs.

Opened through `Gallery.open`, which recognises a FaceDesk file by its SQLite
application_id, applies migrations, and turns WAL and foreign keys on.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import numpy as np
import sqlite_utils
from numpy.typing import NDArray

from facedesk.domain import private
from facedesk.errors import (
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
from facedesk.store.locking import ImportLock
from facedesk.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

ENCODING_BYTES = 128 * 4
#: how long a writer waits for another writer before giving up (milliseconds)
BUSY_TIMEOUT_MS = 30_000


#: called inside a write transaction with the rows it wrote, by table (an audit event)
WriteLog = Callable[[sqlite3.Connection, dict[str, list[Any]]], None]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_full(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_FULL: the disk, or the database's max_page_count, is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_FULL)
    return "database or disk is full" in str(exc)


@dataclass(frozen=True)
class FaceRecord:
    engine_id: str
    box: tuple[int, int, int, int]  # top, right, bottom, left
    landmarks: list[tuple[int, int]]
    size_px: int
    eye_distance_px: float
    sharpness: float
    brightness: float
    yaw_deg: float
    encoding: bytes  # 128 little-endian float32
    crop_jpeg: bytes
    detector: str = "hog:1"  # how it was found (schema migration 3)


@dataclass(frozen=True)
class PhotoRecord:
    sha256: str
    path: str
    size_bytes: int
    width: int
    height: int
    format: str
    person_id: str
    person_name: str | None
    metadata: dict[str, str]
    faces_found: int
    face: FaceRecord | None


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
class EncodingMatrix:
    """Every face encoding, grouped by person (rows of one person are contiguous)."""

    face_ids: NDArray[np.int64]
    person_pks: NDArray[np.int64]
    matrix: NDArray[np.float32]  # (n, 128), C-contiguous
    engine_ids: frozenset[str]
    version: int


def sqlite_problem(path: Path | str | None, exc: sqlite3.Error) -> GalleryError:
    """An SQLite error that reached the user, as a one-line typed error naming the problem
    and the way back: a damaged file (SQLITE_CORRUPT / NOTADB), a read-only one, or
    another failure of the file."""
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

    def __init__(self, path: Path, db: sqlite_utils.Database) -> None:
        self.path = path
        self.db = db
        #: held while this object's import run is 'running' (see start_run)
        self._import_lock = ImportLock(path)

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> Gallery:
        p = Path(path)
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
        gallery = cls(p, sqlite_utils.Database(conn))
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

    def file_group(self) -> str | None:
        """The group an administrator shares the gallery's files with (setting
        file_group), or None: readable by its owner only."""
        value = self.meta("setting:file_group")
        group = None if value is None else json.loads(value)
        return group if isinstance(group, str) and group else None

    def read_only_message(self, what: str = "this change") -> str:
        return (f"{self.path} is read-only for you (its file permissions, or a read-only "
                f"disk): {what} cannot be saved; reading works. Ask the gallery's owner for "
                "write access, or work on a copy")

    def close(self) -> None:
        self._import_lock.release()
        self.db.conn.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self.db.conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with the write lock up front (BEGIN IMMEDIATE)
        so two writers wait for each other instead of failing half-way."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # also when COMMIT itself failed (a full disk in WAL mode fails there):
                # the transaction is still open then, and must not hold the write lock
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if _is_read_only(exc):
                raise GalleryReadOnly(self.read_only_message()) from None
            if _is_full(exc):
                raise StorageFull(
                    f"{self.path}: the disk is full (or the gallery reached its size limit):"
                    " the last change was not saved; everything saved before is intact. "
                    "Free some space and try again (an import resumes where it stopped)"
                ) from exc
            raise
        for listener in self._commit_listeners:
            with contextlib.suppress(Exception):
                listener(self)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several SELECTs."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        conn = self.conn
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise GalleryTooNew(
                f"{self.path}: this gallery was written by a newer FaceDesk "
                f"(schema {current}; this version knows up to {SCHEMA_VERSION}); update FaceDesk"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.write():
                # re-check under the write lock: another process may have migrated
                if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                    continue
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                if version == 1:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.executemany(
                        "INSERT INTO meta(key, value) VALUES (?, ?)",
                        [("gallery_id", uuid.uuid4().hex), ("created_at", now_iso()),
                         ("version", "0")],
                    )
                conn.execute(f"PRAGMA user_version = {version}")

    # -- meta ------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def version(self) -> int:
        """Grows by one with every write that changes the faces; search caches key on it."""
        return int(self.meta("version") or 0)

    def data_version(self) -> int:
        """Changes whenever another connection (another process, or another Gallery
        object) commits a write to this gallery: a cheap 'has anything changed?' poll."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    @property
    def gallery_id(self) -> str:
        return self.meta("gallery_id") or ""

    # -- engines ---------------------------------------------------------------------------

    def register_engine(self, engine_id: str, identity: dict[str, Any], *,
                        log: WriteLog | None = None) -> None:
        """Record an engine (once). `log(conn, {"engines": [id]})` runs in the same
        transaction when the engine is new (the caller's audit event)."""
        with self.write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO engines(id, identity, first_used) VALUES (?, ?, ?)",
                (engine_id, json.dumps(identity, sort_keys=True), now_iso()),
            )
            if cur.rowcount and log is not None:
                log(conn, {"engines": [engine_id]})

    def engine_ids(self) -> list[str]:
        """Engines that encoded at least one face of this gallery."""
        # an index probe per engine, not a scan of every face (seconds at 1M faces)
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM engines e WHERE EXISTS "
            "(SELECT 1 FROM faces f WHERE f.engine_id = e.id) ORDER BY id")]

    def engine_identity(self, engine_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT identity FROM engines WHERE id = ?",
                                (engine_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # -- import runs -----------------------------------------------------------------------

    def start_run(self, source: str, kind: str, options: dict[str, Any],
                  engine_id: str) -> int:
        """Record a new import run and take the gallery's import lock until `finish_run`
        (or `close`): a second import into the same gallery meanwhile, from any process,
        is refused with ImportRunning."""
        if not self._import_lock.acquire():
            raise ImportRunning(self._running_message())
        try:
            with self.write() as conn:
                # we hold the lock, so a run still marked 'running' was killed: its
                # committed photos stay, the run itself is closed as interrupted
                conn.execute(
                    "UPDATE import_runs SET status = 'interrupted' WHERE status = 'running'"
                )
                cur = conn.execute(
                    "INSERT INTO import_runs(source, kind, options, engine_id, started_at, "
                    "status) VALUES (?, ?, ?, ?, ?, 'running')",
                    (source, kind, json.dumps(options, sort_keys=True), engine_id, now_iso()),
                )
        except BaseException:
            self._import_lock.release()
            raise
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _running_message(self) -> str:
        row = self.conn.execute(
            "SELECT id, source, started_at FROM import_runs WHERE status = 'running' "
            "ORDER BY id DESC LIMIT 1").fetchone()
        pid = self._import_lock.holder_pid()
        what = "" if row is None else f" (run #{row[0]} of {row[1]}, started {row[2]}"
        if pid is not None:
            what = f"{what}, process {pid})" if what else f" (process {pid})"
        elif what:
            what += ")"
        return (f"{self.path}: another import into this gallery is running{what}; wait for "
                "it to finish (or stop it), then run this import again: it resumes where "
                "the other one left off")

    def finish_run(self, run_id: int, status: str, counts: RunCounts) -> None:
        assignments = ", ".join(f"{k} = ?" for k in RUN_COUNTERS)
        try:
            with self.write() as conn:
                conn.execute(
                    f"UPDATE import_runs SET status = ?, finished_at = ?, {assignments} "
                    "WHERE id = ?",
                    (status, now_iso(), *(getattr(counts, k) for k in RUN_COUNTERS), run_id),
                )
        finally:
            # even when the update failed (a full disk): the run left 'running' is then
            # closed as interrupted by the next import
            self._import_lock.release()

    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self.db.table("import_runs").get(run_id))

    def last_run(self) -> dict[str, Any] | None:
        rows = list(self.db.table("import_runs").rows_where(order_by="id desc", limit=1))
        return dict(rows[0]) if rows else None

    def add_problems(self, run_id: int, problems: Sequence[Problem]) -> None:
        if not problems:
            return
        with self.write() as conn:
            conn.executemany(
                "INSERT INTO import_problems(run_id, path, code, reason, line) "
                "VALUES (?, ?, ?, ?, ?)",
                [(run_id, p.path, p.code, p.reason, p.line) for p in problems],
            )

    def problems(self, run_id: int) -> list[Problem]:
        return [
            Problem(path=r[0], code=r[1], reason=r[2], line=r[3])
            for r in self.conn.execute(
                "SELECT path, code, reason, line FROM import_problems WHERE run_id = ? "
                "ORDER BY id", (run_id,))
        ]

    # -- photos and faces ------------------------------------------------------------------

    def stored_hashes(self) -> dict[str, str]:
        """sha256 -> stored path, for every photo in the gallery."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT sha256, path FROM photos")}

    def photo_files(self) -> list[dict[str, Any]]:
        """Where every photo's original is: id, path, sha256, size_bytes, person_id, by id."""
        return [
            {"photo_id": r[0], "path": r[1], "sha256": r[2], "size_bytes": r[3],
             "person_id": r[4]}
            for r in self.conn.execute(
                "SELECT p.id, p.path, p.sha256, p.size_bytes, s.person_id FROM photos p "
                "JOIN persons s ON s.id = p.person_pk ORDER BY p.id")
        ]

    def add_photos(self, run_id: int, records: Iterable[PhotoRecord], *,
                   log: WriteLog | None = None) -> int:
        """Store photos (and their subject face) in one transaction. Photos whose hash is
        already stored are skipped, so a batch can be replayed safely. Returns how many
        photos were new. When something was written, `log(conn, written)` runs in the same
        transaction with the rows written ({"persons": pks, "photos": ids, "faces":
        ids}): the caller's audit event records their digests."""
        added = 0
        written: dict[str, list[int]] = {"persons": [], "photos": [], "faces": []}
        with self.write() as conn:
            stamp = now_iso()
            faces_added = 0
            for rec in records:
                person_pk = self._person_pk(rec.person_id, rec.person_name, stamp, written)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO photos(sha256, person_pk, path, size_bytes, width, "
                    "height, format, metadata, faces_found, import_run_id, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (rec.sha256, person_pk, rec.path, rec.size_bytes, rec.width, rec.height,
                     rec.format, json.dumps(rec.metadata, ensure_ascii=False),
                     rec.faces_found, run_id, stamp),
                )
                if cur.rowcount == 0:
                    continue
                added += 1
                assert cur.lastrowid is not None
                written["photos"].append(cur.lastrowid)
                f = rec.face
                if f is None:
                    continue
                if len(f.encoding) != ENCODING_BYTES:
                    raise ValueError("an encoding must be 128 float32 values")
                face_cur = conn.execute(
                    "INSERT INTO faces(photo_id, person_pk, engine_id, box_top, box_right, "
                    "box_bottom, box_left, landmarks, size_px, eye_distance_px, sharpness, "
                    "brightness, yaw_deg, encoding, crop, detector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cur.lastrowid, person_pk, f.engine_id, *f.box, json.dumps(f.landmarks),
                     f.size_px, f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg,
                     f.encoding, f.crop_jpeg, f.detector),
                )
                faces_added += 1
                assert face_cur.lastrowid is not None
                written["faces"].append(face_cur.lastrowid)
            if faces_added:
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
                )
            if log is not None and any(written.values()):
                log(conn, {k: list(dict.fromkeys(v)) for k, v in written.items() if v})
        return added

    def _person_pk(self, person_id: str, name: str | None, stamp: str,
                   written: dict[str, list[int]]) -> int:
        conn = self.conn
        row = conn.execute("SELECT id, name FROM persons WHERE person_id = ?",
                           (person_id,)).fetchone()
        if row is not None:
            if name and not row[1]:
                conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, row[0]))
                written["persons"].append(int(row[0]))
            return int(row[0])
        cur = conn.execute("INSERT INTO persons(person_id, name, created_at) VALUES (?, ?, ?)",
                           (person_id, name, stamp))
        assert cur.lastrowid is not None
        written["persons"].append(cur.lastrowid)
        return cur.lastrowid

    # -- reading ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        c = self.conn
        return {
            "persons": c.execute("SELECT count(*) FROM persons").fetchone()[0],
            "photos": c.execute("SELECT count(*) FROM photos").fetchone()[0],
            "faces": c.execute("SELECT count(*) FROM faces").fetchone()[0],
            "photos_without_face": c.execute(
                "SELECT count(*) FROM photos WHERE faces_found = 0").fetchone()[0],
            "photos_with_several_faces": c.execute(
                "SELECT count(*) FROM photos WHERE faces_found > 1").fetchone()[0],
        }

    def load_encodings(self, *, cache: bool | None = None) -> EncodingMatrix:
        """All encodings as one float32 matrix, rows grouped by person.

        From the gallery's encoding cache file when it is current (see `EncodingCache`),
        else from SQLite in one pass (and then the cache is written, best effort). The
        cache is used by default from `ENCODING_CACHE_MIN_FACES` faces: below that, the
        BLOBs decode in milliseconds. `cache=True` / `False` forces it either way."""
        # one read transaction, so the version matches the rows
        with self.read() as conn:
            version = self.version
            gallery_id = self.gallery_id
            n = int(conn.execute("SELECT count(*) FROM faces").fetchone()[0])
            use_cache = n >= ENCODING_CACHE_MIN_FACES if cache is None else cache
            store = EncodingCache(encoding_cache_path(self.path)) if use_cache and n else None
            if store is not None:
                cached = store.read(gallery_id, version, n)
                if cached is not None and _spot_check(conn, cached):
                    return cached
            enc = self._read_encodings(conn, version, n)
        if store is not None:
            store.write(enc, gallery_id)
        return enc

    @staticmethod
    def _read_encodings(conn: sqlite3.Connection, version: int, n: int) -> EncodingMatrix:
        """Every face's id, person and encoding, person by person, in one pass: the BLOBs
        of a batch of rows are joined and converted at once, not row by row."""
        face_ids = np.empty(n, dtype=np.int64)
        person_pks = np.empty(n, dtype=np.int64)
        matrix = np.empty((n, 128), dtype=np.float32)
        flat = matrix.reshape(-1)
        engines: set[str] = set()
        i = 0
        cur = conn.execute(
            "SELECT id, person_pk, engine_id, encoding FROM faces ORDER BY person_pk, id")
        while i < n:
            rows = cur.fetchmany(min(_READ_BATCH, n - i))
            if not rows:
                break
            ids, pks, eids, blobs = zip(*rows, strict=True)
            j = i + len(rows)
            face_ids[i:j] = ids
            person_pks[i:j] = pks
            engines.update(eids)
            data = b"".join(blobs)
            if len(data) != ENCODING_BYTES * len(rows):
                raise ValueError("a stored encoding is not 128 float32 values")
            flat[i * 128:j * 128] = np.frombuffer(data, dtype="<f4")
            i = j
        cur.close()
        return EncodingMatrix(face_ids[:i], person_pks[:i], matrix[:i], frozenset(engines),
                              version)

    def face_details(self, face_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Face, photo and person fields for the given faces (no encodings)."""
        out: dict[int, dict[str, Any]] = {}
        ids = list(face_ids)
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                "SELECT f.id, f.box_top, f.box_right, f.box_bottom, f.box_left, f.size_px, "
                "f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg, "
                "p.id, p.path, p.sha256, p.metadata, p.width, p.height, "
                "s.person_id, s.name, f.detector FROM faces f JOIN photos p ON p.id = f.photo_id "
                f"JOIN persons s ON s.id = f.person_pk WHERE f.id IN ({marks})", chunk,
            ):
                out[int(row[0])] = {
                    "face_id": int(row[0]),
                    "box": [row[1], row[2], row[3], row[4]],
                    "quality": {"size_px": row[5], "eye_distance_px": row[6],
                                "sharpness": row[7], "brightness": row[8],
                                "yaw_deg": row[9]},
                    "photo_id": int(row[10]),
                    "path": row[11],
                    "sha256": row[12],
                    "metadata": json.loads(row[13]),
                    "width": row[14],
                    "height": row[15],
                    "person_id": row[16],
                    "name": row[17],
                    "detector": row[18],
                }
        return out

    def encodings_by_path(self, paths: Sequence[str]) -> dict[str, NDArray[np.float32] | None]:
        """The subject's encoding of each stored photo among `paths` (None: the photo is
        stored but no face was found in it); paths not in the gallery are left out."""
        out: dict[str, NDArray[np.float32] | None] = {}
        ids = list(dict.fromkeys(paths))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for path, blob in self.conn.execute(
                "SELECT p.path, f.encoding FROM photos p LEFT JOIN faces f "
                f"ON f.photo_id = p.id WHERE p.path IN ({marks})", chunk,
            ):
                out[path] = None if blob is None else np.frombuffer(blob, dtype="<f4").copy()
        return out

    def face_metadata(self, key: str) -> dict[int, str | None]:
        """One metadata field (e.g. "sex") of every face's photo, by face id."""
        return {int(fid): (None if v is None else str(v)) for fid, v in self.conn.execute(
            "SELECT f.id, json_extract(p.metadata, '$.' || json_quote(?)) FROM faces f "
            "JOIN photos p ON p.id = f.photo_id", (key,))}

    def metadata_keys(self) -> list[str]:
        """The metadata fields recorded on photos (for choosing a group column)."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT j.key FROM photos p, json_each(p.metadata) j ORDER BY j.key")]

    def face_landmarks(self, face_id: int) -> list[tuple[int, int]]:
        row = self.conn.execute("SELECT landmarks FROM faces WHERE id = ?",
                                (face_id,)).fetchone()
        return [] if row is None else [(int(x), int(y)) for x, y in json.loads(row[0])]

    def face_crop(self, face_id: int) -> bytes:
        row = self.conn.execute("SELECT crop FROM faces WHERE id = ?", (face_id,)).fetchone()
        return b"" if row is None or row[0] is None else bytes(row[0])

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        last = self.last_run()
        engines = []
        for eid in self.engine_ids():
            engines.append({"id": eid, "identity": self.engine_identity(eid)})
        return {
            "path": str(self.path),
            "gallery_id": self.gallery_id,
            "created_at": self.meta("created_at"),
            "schema_version": SCHEMA_VERSION,
            "version": self.version,
            **counts,
            "engines": engines,
            "last_import": None if last is None else {
                k: last[k] for k in ("id", "source", "status", "started_at", "finished_at",
                                     *RUN_COUNTERS)
            },
            "import_runs": self.conn.execute("SELECT count(*) FROM import_runs").fetchone()[0],
        }

    # -- decisions -------------------------------------------------------------------------

    def decisions(self, probe_sha256: str | None = None) -> list[dict[str, Any]]:
        where, args = ("probe_sha256 = ?", [probe_sha256]) if probe_sha256 else (None, None)
        return [dict(r) for r in self.db.table("decisions").rows_where(
            where, args, order_by="id")]

    # -- calibrations ----------------------------------------------------------------------

    def add_calibration(self, kind: str, engine_id: str, source: str, impostor_pairs: int,
                        genuine_pairs: int, data: str, *, use: bool = True,
                        log: Callable[[sqlite3.Connection, int], None] | None = None) -> int:
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

    def iter_persons(self) -> Iterator[dict[str, Any]]:
        for row in self.db.table("persons").rows_where(order_by="id"):
            yield dict(row)


# --- the encoding cache ---------------------------------------------------------------------

#: galleries with at least this many faces keep an encoding cache file by default
ENCODING_CACHE_MIN_FACES = 20_000
ENCODING_CACHE_SUFFIX = ".encodings"
_READ_BATCH = 4096
#: rows of a cache compared with the gallery before it is trusted (the newest faces,
#: and faces spread over the whole gallery)
_SPOT_CHECKS = 16


def encoding_cache_path(gallery_path: Path) -> Path:
    """The encoding cache next to a gallery: GALLERY.db -> GALLERY.db.encodings."""
    return gallery_path.with_name(gallery_path.name + ENCODING_CACHE_SUFFIX)


class EncodingCache:
    """A copy of `load_encodings()`'s arrays in one file next to the gallery, so that a
    large gallery's matrix loads at disk speed instead of by decoding a million BLOBs.

    Never required and never trusted blindly: it is used only when its header names the
    gallery's id, version and face count, its payload checksum holds, and a spot check of
    rows against the gallery agrees; anything else (missing, stale, truncated, corrupt,
    another format) is ignored and the cache rebuilt from the gallery. Written to a
    temporary file in the same folder and renamed over the old one, so a reader sees the
    old cache or the new one, never half of one; a folder that cannot be written just
    means no cache.

    Layout: the line `FaceDesk encoding cache\n`, an 8-byte little-endian header length,
    the header (JSON), zero padding to a multiple of 4096 bytes, then face ids (int64),
    person pks (int64) and the matrix (float32, n x 128), all little-endian. The
    checksum is the wrapping sum of the payload read as uint64 words: cheap (about as
    fast as reading it), and enough to catch truncation, zeroed or garbled blocks.
    """

    MAGIC = b"FaceDesk encoding cache\n"
    FORMAT = 1
    ALIGN = 4096
    #: memory-map the payload (see `read`); Windows cannot rename over a mapped file
    MAP = os.name == "posix"

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, gallery_id: str, version: int, faces: int) -> EncodingMatrix | None:
        """The cached arrays if the file is current and intact, else None.

        Where the platform allows replacing a mapped file (POSIX), the payload is memory-
        mapped copy-on-write rather than read: the arrays are then the page cache's pages
        (no second copy in memory, no page-faulting half a gigabyte of fresh memory:
        about 10x faster at a million faces; they count as the process's resident memory
        once touched, but as clean file pages the system can reclaim them at will), and
        writing to them changes only this process's copy. A cache is only ever replaced
        by renaming, never rewritten in place, so a mapping stays valid. Elsewhere
        (Windows cannot rename over a mapped file) the payload is read into memory."""
        size = faces * (2 * 8 + 128 * 4)
        try:
            with open(self.path, "rb") as f:
                header = self._header(f)
                if header is None or header.get("gallery_id") != gallery_id or \
                        header.get("version") != version or header.get("faces") != faces:
                    return None
                engines = header.get("engine_ids")
                if not isinstance(engines, list) or \
                        not all(isinstance(e, str) for e in engines):
                    return None
                offset = int(header["offset"])
                if offset < self.ALIGN or os.fstat(f.fileno()).st_size != offset + size:
                    return None
                payload: NDArray[np.uint8] | None = None
                if self.MAP:
                    with contextlib.suppress(OSError, ValueError):  # e.g. no mmap there
                        payload = np.asarray(np.memmap(f, dtype=np.uint8, mode="c",
                                                       offset=offset, shape=(size,)))
                if payload is None:
                    payload = np.empty(size, dtype=np.uint8)
                    f.seek(offset)
                    if f.readinto(payload.data) != size:
                        return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _checksum(payload) != header.get("checksum"):
            return None
        face_ids = payload[:faces * 8].view("<i8")
        person_pks = payload[faces * 8:faces * 16].view("<i8")
        matrix = payload[faces * 16:].view("<f4").reshape(faces, 128)
        return EncodingMatrix(face_ids.astype(np.int64, copy=False),
                              person_pks.astype(np.int64, copy=False),
                              matrix.astype(np.float32, copy=False), frozenset(engines),
                              version)

    def _header(self, f: Any) -> dict[str, Any] | None:
        if f.read(len(self.MAGIC)) != self.MAGIC:
            return None
        size = int.from_bytes(f.read(8), "little")
        if not 0 < size < self.ALIGN:
            return None
        header = json.loads(f.read(size).decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != self.FORMAT:
            return None
        return header

    def write(self, enc: EncodingMatrix, gallery_id: str) -> bool:
        """Write the cache (atomically); False if the folder does not allow it."""
        n = len(enc.face_ids)
        parts = [np.ascontiguousarray(enc.face_ids, dtype="<i8"),
                 np.ascontiguousarray(enc.person_pks, dtype="<i8"),
                 np.ascontiguousarray(enc.matrix, dtype="<f4")]
        checksum = 0
        for part in parts:
            checksum = (checksum + _checksum(part.reshape(-1).view(np.uint8))) % 2 ** 64
        header = json.dumps({
            "format": self.FORMAT, "gallery_id": gallery_id, "version": enc.version,
            "faces": n, "engine_ids": sorted(enc.engine_ids), "checksum": checksum,
            "offset": self.ALIGN, "written_at": now_iso(),
        }).encode("utf-8")
        head = self.MAGIC + len(header).to_bytes(8, "little") + header
        if len(head) > self.ALIGN:
            return False
        self._remove_leftovers()
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                       suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(head.ljust(self.ALIGN, b"\0"))
                for part in parts:
                    f.write(part.data.cast("B"))
            os.replace(tmp, self.path)
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False
        return True


    def _remove_leftovers(self) -> None:
        """Temporary files of writes that were killed half-way (an hour old: not one
        another process is writing now)."""
        cutoff = time.time() - 3600
        prefix = f".{self.path.name}."
        with contextlib.suppress(OSError):
            for leftover in self.path.parent.iterdir():
                if not (leftover.name.startswith(prefix) and leftover.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if leftover.stat().st_mtime < cutoff:
                        leftover.unlink()


def _checksum(data: NDArray[np.uint8]) -> int:
    """Wrapping uint64 sum of the bytes, read as little-endian words (zero-padded)."""
    whole = len(data) // 8 * 8
    total = int(data[:whole].view("<u8").sum(dtype=np.uint64)) if whole else 0
    if whole < len(data):
        total += int.from_bytes(bytes(data[whole:]), "little")
    return total % 2 ** 64


def _spot_check(conn: sqlite3.Connection, enc: EncodingMatrix) -> bool:
    """Do some cached rows (the newest faces, and faces spread over the gallery) hold
    the gallery's id, person and encoding? Catches a cache of a diverged copy of the
    gallery (same id, version and count, other faces)."""
    n = len(enc.face_ids)
    newest = np.argsort(enc.face_ids)[-_SPOT_CHECKS:]
    spread = np.linspace(0, n - 1, _SPOT_CHECKS).round().astype(np.intp)
    rows = np.unique(np.concatenate([newest, spread]))
    by_id = {int(enc.face_ids[r]): int(r) for r in rows}
    marks = ",".join("?" * len(by_id))
    found = 0
    for fid, ppk, blob in conn.execute(
            f"SELECT id, person_pk, encoding FROM faces WHERE id IN ({marks})", list(by_id)):
        r = by_id[int(fid)]
        if int(enc.person_pks[r]) != int(ppk) or \
                bytes(blob) != enc.matrix[r].astype("<f4").tobytes():
            return False
        found += 1
    return found == len(by_id)
