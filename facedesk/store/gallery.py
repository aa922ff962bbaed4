"""One gallery = one SQLite file: persons, photos, faces, engines and import runs.

Opened through `Gallery.open`, which recognises a FaceDesk file by its SQLite
application_id, applies migrations, and turns WAL and foreign keys on.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils
from numpy.typing import NDArray

from facedesk.errors import GalleryNotFound, GalleryTooNew, NotAGallery
from facedesk.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

ENCODING_BYTES = 128 * 4
#: how long a writer waits for another writer before giving up (milliseconds)
BUSY_TIMEOUT_MS = 30_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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


DECISION_COLUMNS = frozenset({
    "created_at", "reviewer", "decision", "rationale", "first_impression", "blind_review",
    "probe_sha256", "probe_path", "probe_box", "engine_id", "gallery_version",
    "persons_searched", "person_id", "face_id", "rank", "distance", "similarity",
})

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


class Gallery:
    def __init__(self, path: Path, db: sqlite_utils.Database) -> None:
        self.path = path
        self.db = db

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
            p.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: every write goes through Gallery.write() (BEGIN IMMEDIATE)
        conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            n_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise NotAGallery(f"{p}: not a FaceDesk gallery (not an SQLite database: {exc})") \
                from None
        if app_id != APPLICATION_ID and (n_tables or not create):
            conn.close()
            raise NotAGallery(
                f"{p}: not a FaceDesk gallery (an SQLite file made by another program)"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        gallery = cls(p, sqlite_utils.Database(conn))
        gallery._migrate()
        return gallery

    def close(self) -> None:
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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

    @property
    def gallery_id(self) -> str:
        return self.meta("gallery_id") or ""

    # -- engines ---------------------------------------------------------------------------

    def register_engine(self, engine_id: str, identity: dict[str, Any]) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO engines(id, identity, first_used) VALUES (?, ?, ?)",
                (engine_id, json.dumps(identity, sort_keys=True), now_iso()),
            )

    def engine_ids(self) -> list[str]:
        """Engines that encoded at least one face of this gallery."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT engine_id FROM faces")]

    def engine_identity(self, engine_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT identity FROM engines WHERE id = ?",
                                (engine_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    # -- import runs -----------------------------------------------------------------------

    def start_run(self, source: str, kind: str, options: dict[str, Any],
                  engine_id: str) -> int:
        with self.write() as conn:
            # a run still marked 'running' was killed: its committed photos stay, the
            # run itself is closed as interrupted
            conn.execute(
                "UPDATE import_runs SET status = 'interrupted' WHERE status = 'running'"
            )
            cur = conn.execute(
                "INSERT INTO import_runs(source, kind, options, engine_id, started_at, status)"
                " VALUES (?, ?, ?, ?, ?, 'running')",
                (source, kind, json.dumps(options, sort_keys=True), engine_id, now_iso()),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(self, run_id: int, status: str, counts: RunCounts) -> None:
        assignments = ", ".join(f"{k} = ?" for k in RUN_COUNTERS)
        with self.write() as conn:
            conn.execute(
                f"UPDATE import_runs SET status = ?, finished_at = ?, {assignments} "
                "WHERE id = ?",
                (status, now_iso(), *(getattr(counts, k) for k in RUN_COUNTERS), run_id),
            )

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

    def add_photos(self, run_id: int, records: Iterable[PhotoRecord]) -> int:
        """Store photos (and their subject face) in one transaction. Photos whose hash is
        already stored are skipped, so a batch can be replayed safely. Returns how many
        photos were new."""
        added = 0
        with self.write() as conn:
            stamp = now_iso()
            faces_added = 0
            for rec in records:
                person_pk = self._person_pk(rec.person_id, rec.person_name, stamp)
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
                f = rec.face
                if f is None:
                    continue
                if len(f.encoding) != ENCODING_BYTES:
                    raise ValueError("an encoding must be 128 float32 values")
                conn.execute(
                    "INSERT INTO faces(photo_id, person_pk, engine_id, box_top, box_right, "
                    "box_bottom, box_left, landmarks, size_px, eye_distance_px, sharpness, "
                    "brightness, yaw_deg, encoding, crop, detector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (cur.lastrowid, person_pk, f.engine_id, *f.box, json.dumps(f.landmarks),
                     f.size_px, f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg,
                     f.encoding, f.crop_jpeg, f.detector),
                )
                faces_added += 1
            if faces_added:
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
                )
        return added

    def _person_pk(self, person_id: str, name: str | None, stamp: str) -> int:
        conn = self.conn
        row = conn.execute("SELECT id, name FROM persons WHERE person_id = ?",
                           (person_id,)).fetchone()
        if row is not None:
            if name and not row[1]:
                conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, row[0]))
            return int(row[0])
        cur = conn.execute("INSERT INTO persons(person_id, name, created_at) VALUES (?, ?, ?)",
                           (person_id, name, stamp))
        assert cur.lastrowid is not None
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

    def load_encodings(self) -> EncodingMatrix:
        """All encodings as one float32 matrix, rows grouped by person. Reads the BLOBs in
        one pass straight into the matrix."""
        # one read transaction, so the version matches the rows
        with self.read() as conn:
            version = self.version
            n = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
            face_ids = np.empty(n, dtype=np.int64)
            person_pks = np.empty(n, dtype=np.int64)
            matrix = np.empty((n, 128), dtype=np.float32)
            i = 0
            for fid, ppk, blob in conn.execute(
                "SELECT id, person_pk, encoding FROM faces ORDER BY person_pk, id"
            ):
                if i >= n:
                    break
                face_ids[i] = fid
                person_pks[i] = ppk
                matrix[i] = np.frombuffer(blob, dtype="<f4")
                i += 1
            engines = frozenset(self.engine_ids())
        return EncodingMatrix(face_ids[:i], person_pks[:i], matrix[:i], engines, version)

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

    def add_decision(self, fields: dict[str, Any]) -> int:
        """Store one reviewer decision (fields named as the `decisions` columns)."""
        row = dict(fields)
        row.setdefault("created_at", now_iso())
        unknown = set(row) - DECISION_COLUMNS
        if unknown:
            raise ValueError(f"unknown decision fields: {', '.join(sorted(unknown))}")
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self.write() as conn:
            cur = conn.execute(f"INSERT INTO decisions({cols}) VALUES ({marks})",
                               tuple(row.values()))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def decisions(self, probe_sha256: str | None = None) -> list[dict[str, Any]]:
        where, args = ("probe_sha256 = ?", [probe_sha256]) if probe_sha256 else (None, None)
        return [dict(r) for r in self.db.table("decisions").rows_where(
            where, args, order_by="id")]

    # -- calibrations ----------------------------------------------------------------------

    def add_calibration(self, kind: str, engine_id: str, source: str, impostor_pairs: int,
                        genuine_pairs: int, data: str, *, use: bool = True) -> int:
        """Store a calibration table (JSON `data`) and, by default, put it in use."""
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO calibrations(created_at, kind, engine_id, source, impostor_pairs, "
                "genuine_pairs, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now_iso(), kind, engine_id, source, impostor_pairs, genuine_pairs, data))
            assert cur.lastrowid is not None
            if use:
                self._set_meta(conn, "calibration_id", str(cur.lastrowid))
        return cur.lastrowid

    def calibrations(self) -> list[dict[str, Any]]:
        """Stored calibrations, oldest first, without their tables."""
        in_use = self.calibration_in_use()
        return [
            {**dict(r), "in_use": r["id"] == in_use}
            for r in self.db.query(
                "SELECT id, created_at, kind, engine_id, source, impostor_pairs, "
                "genuine_pairs FROM calibrations ORDER BY id")
        ]

    def calibration_data(self, calibration_id: int) -> str | None:
        row = self.conn.execute("SELECT data FROM calibrations WHERE id = ?",
                                (calibration_id,)).fetchone()
        return None if row is None else str(row[0])

    def calibration_in_use(self) -> int | None:
        """The stored calibration in use, or None for the one shipped with FaceDesk."""
        value = self.meta("calibration_id")
        return int(value) if value else None

    def use_calibration(self, calibration_id: int | None) -> None:
        """Put a stored calibration in use (None: the one shipped with FaceDesk)."""
        with self.write() as conn:
            if calibration_id is None:
                conn.execute("DELETE FROM meta WHERE key = 'calibration_id'")
                return
            if conn.execute("SELECT 1 FROM calibrations WHERE id = ?",
                            (calibration_id,)).fetchone() is None:
                raise KeyError(calibration_id)
            self._set_meta(conn, "calibration_id", str(calibration_id))

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def iter_persons(self) -> Iterator[dict[str, Any]]:
        for row in self.db.table("persons").rows_where(order_by="id"):
            yield dict(row)
