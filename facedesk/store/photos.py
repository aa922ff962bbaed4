"""Persons, photos and faces: the `persons`, `photos` and `faces` tables behind the
`PhotoRecord` / `FaceRecord` (to store) and `Person`, `PhotoFile`, `FaceDetails` (as stored)
records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.store import meta
from facedesk.store.db import Connection, Db, connection, is_postgres, now_iso
from facedesk.store.encodings import ENCODING_BYTES


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
class Person:
    """A person of the gallery (table `persons`): `id` is its key, `person_id` its label."""

    id: int
    person_id: str
    name: str | None
    created_at: str


@dataclass(frozen=True)
class PhotoFile:
    """Where a photo's original is, and what it was when imported."""

    photo_id: int
    path: str
    sha256: str
    size_bytes: int
    person_id: str


@dataclass(frozen=True)
class StoredQuality:
    """A stored face's quality figures."""

    size_px: int
    eye_distance_px: float
    sharpness: float
    brightness: float
    yaw_deg: float


@dataclass(frozen=True)
class FaceDetails:
    """A face with its photo's and person's fields (no encoding)."""

    face_id: int
    box: tuple[int, int, int, int]  # top, right, bottom, left
    quality: StoredQuality
    photo_id: int
    path: str
    sha256: str
    metadata: dict[str, str]
    width: int
    height: int
    person_id: str
    name: str | None
    detector: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = list(self.box)
        return d


def stored_hashes(db: Db) -> dict[str, str]:
    """sha256 -> stored path, for every photo in the gallery."""
    return {r[0]: r[1] for r in connection(db).execute("SELECT sha256, path FROM photos")}


def photo_files(db: Db) -> list[PhotoFile]:
    """Where every photo's original is, by photo id."""
    return [
        PhotoFile(*r)
        for r in connection(db).execute(
            "SELECT p.id, p.path, p.sha256, p.size_bytes, s.person_id FROM photos p "
            "JOIN persons s ON s.id = p.person_pk ORDER BY p.id")
    ]


#: rows per multi-row INSERT: 16 columns a face, well under SQLite's 32,766 variables
ROWS_PER_INSERT = 500

_PHOTO_COLUMNS = ("sha256, person_pk, path, size_bytes, width, height, format, metadata, "
                  "faces_found, import_run_id, added_at")
_FACE_COLUMNS = ("photo_id, person_pk, engine_id, box_top, box_right, box_bottom, box_left, "
                 "landmarks, size_px, eye_distance_px, sharpness, brightness, yaw_deg, "
                 "encoding, crop, detector")


def insert_photos(conn: Connection, run_id: int, records: Iterable[PhotoRecord],
                  written: dict[str, list[int]]) -> int:
    """Store photos (and their subject face); photos whose hash is already stored, or
    came earlier in `records`, are skipped. Adds the rows written to `written`
    ("persons", "photos", "faces", in the records' order); bumps the gallery's version
    when a face was added. Returns how many photos were new.

    A batch is a few statements whatever its size (on a server each is a round trip):
    the persons read and the new ones inserted, then the photos in one multi-row INSERT,
    then their faces in another; the ids come back by RETURNING with their keys."""
    stamp = now_iso()
    given = list(records)
    for rec in given:
        if rec.face is not None and len(rec.face.encoding) != ENCODING_BYTES:
            raise ValueError("an encoding must be 128 float32 values")
    # every record's person is stored (as when each photo was a statement), even a
    # skipped photo's; a hash given twice is the first record's photo
    person_pks = _person_pks(conn, given, stamp, written)
    first: dict[str, PhotoRecord] = {}
    for rec in given:
        first.setdefault(rec.sha256, rec)
    records = list(first.values())
    photo_ids = dict(_insert_rows(
        conn, f"INSERT INTO photos({_PHOTO_COLUMNS}) VALUES ", 11,
        [(rec.sha256, person_pks[rec.person_id], rec.path, rec.size_bytes, rec.width,
          rec.height, rec.format, json.dumps(rec.metadata, ensure_ascii=False),
          rec.faces_found, run_id, stamp) for rec in records],
        " ON CONFLICT (sha256) DO NOTHING RETURNING sha256, id"))
    added = [rec for rec in records if rec.sha256 in photo_ids]
    written["photos"].extend(int(photo_ids[rec.sha256]) for rec in added)
    with_face = [(int(photo_ids[rec.sha256]), person_pks[rec.person_id], rec.face)
                 for rec in added if rec.face is not None]
    face_ids = dict(_insert_rows(
        conn, f"INSERT INTO faces({_FACE_COLUMNS}) VALUES ", 16,
        [(photo_id, person_pk, f.engine_id, *f.box, json.dumps(f.landmarks), f.size_px,
          f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg, f.encoding, f.crop_jpeg,
          f.detector) for photo_id, person_pk, f in with_face],
        " RETURNING photo_id, id"))
    written["faces"].extend(int(face_ids[photo_id]) for photo_id, _, _ in with_face)
    if with_face:
        meta.bump_version(conn)
    return len(added)


def _insert_rows(conn: Connection, head: str, width: int, rows: Sequence[Sequence[Any]],
                 tail: str) -> Iterator[tuple[Any, Any]]:
    """`head` VALUES (...), (...) `tail` for `rows` of `width` values, ROWS_PER_INSERT
    rows a statement; the pairs its RETURNING gives (in no promised order: callers map
    them by key)."""
    row_marks = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start:start + ROWS_PER_INSERT]
        sql = head + ",".join([row_marks] * len(chunk)) + tail
        yield from conn.execute(sql, [v for row in chunk for v in row]).fetchall()


def _person_pks(conn: Connection, records: Sequence[PhotoRecord], stamp: str,
                written: dict[str, list[int]]) -> dict[str, int]:
    """Each record's person's pk: the stored persons read (one query per 500), the new
    ones inserted in one statement with the first name the batch gives them, a name
    learnt later filled in on a stored person. Adds the persons written to `written`."""
    ids = list(dict.fromkeys(r.person_id for r in records))
    known: dict[str, tuple[int, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for pk, pid, name in conn.execute(
                "SELECT id, person_id, name FROM persons WHERE person_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
            known[str(pid)] = (int(pk), name)
    new: dict[str, str | None] = {}  # person_id -> name, in the records' order
    named: dict[str, str] = {}  # stored persons without a name -> the name learnt
    order: list[str] = []  # the persons written, in the records' order
    for rec in records:
        pid, name = rec.person_id, rec.person_name
        if pid in known:
            if name and not known[pid][1] and pid not in named:
                named[pid] = name
                order.append(pid)
        elif pid not in new:
            new[pid] = name
            order.append(pid)
        elif name and not new[pid]:
            new[pid] = name
    pks = {pid: pk for pid, (pk, _) in known.items()}
    for pid, name in named.items():
        conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, pks[pid]))
    pks.update((str(pid), int(pk)) for pid, pk in _insert_rows(
        conn, "INSERT INTO persons(person_id, name, created_at) VALUES ", 3,
        [(pid, name, stamp) for pid, name in new.items()], " RETURNING person_id, id"))
    written["persons"].extend(pks[pid] for pid in order)
    return pks


def counts(db: Db) -> dict[str, int]:
    c = connection(db)
    return {
        "persons": c.execute("SELECT count(*) FROM persons").fetchone()[0],
        "photos": c.execute("SELECT count(*) FROM photos").fetchone()[0],
        "faces": c.execute("SELECT count(*) FROM faces").fetchone()[0],
        "photos_without_face": c.execute(
            "SELECT count(*) FROM photos WHERE faces_found = 0").fetchone()[0],
        "photos_with_several_faces": c.execute(
            "SELECT count(*) FROM photos WHERE faces_found > 1").fetchone()[0],
    }


def face_details(db: Db, face_ids: Sequence[int]) -> dict[int, FaceDetails]:
    """Face, photo and person fields for the given faces (no encodings)."""
    out: dict[int, FaceDetails] = {}
    ids = list(face_ids)
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        marks = ",".join("?" * len(chunk))
        for row in connection(db).execute(
            "SELECT f.id, f.box_top, f.box_right, f.box_bottom, f.box_left, f.size_px, "
            "f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg, "
            "p.id, p.path, p.sha256, p.metadata, p.width, p.height, "
            "s.person_id, s.name, f.detector FROM faces f JOIN photos p ON p.id = f.photo_id "
            f"JOIN persons s ON s.id = f.person_pk WHERE f.id IN ({marks})", chunk,
        ):
            out[int(row[0])] = FaceDetails(
                face_id=int(row[0]), box=(row[1], row[2], row[3], row[4]),
                quality=StoredQuality(*row[5:10]), photo_id=int(row[10]), path=row[11],
                sha256=row[12], metadata=json.loads(row[13]), width=row[14],
                height=row[15], person_id=row[16], name=row[17], detector=row[18])
    return out


def encodings_by_path(db: Db, paths: Sequence[str]) -> dict[str, NDArray[np.float32] | None]:
    """The subject's encoding of each stored photo among `paths` (None: the photo is
    stored but no face was found in it); paths not in the gallery are left out."""
    out: dict[str, NDArray[np.float32] | None] = {}
    ids = list(dict.fromkeys(paths))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for path, blob in connection(db).execute(
            "SELECT p.path, f.encoding FROM photos p LEFT JOIN faces f "
            f"ON f.photo_id = p.id WHERE p.path IN ({marks})", chunk,
        ):
            out[path] = None if blob is None else np.frombuffer(blob, dtype="<f4").copy()
    return out


def face_metadata(db: Db, key: str) -> dict[int, str | None]:
    """One metadata field (e.g. "sex") of every face's photo, by face id."""
    return {int(fid): _json_field(text, key) for fid, text in connection(db).execute(
        "SELECT f.id, p.metadata FROM faces f JOIN photos p ON p.id = f.photo_id")}


def _json_field(text: str | None, key: str) -> str | None:
    """One field of a JSON object, as text (as SQLite's json_extract gives it: booleans
    as 1/0, objects and lists as JSON); None when absent."""
    doc = json.loads(text) if text else None
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None:
        return None
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def metadata_of_faces(db: Db) -> tuple[NDArray[np.int64], list[dict[str, str]]]:
    """Every face's photo metadata: the face ids (ascending) and each one's fields."""
    ids: list[int] = []
    docs: list[dict[str, str]] = []
    for fid, doc in connection(db).execute(
            "SELECT f.id, p.metadata FROM faces f JOIN photos p ON p.id = f.photo_id "
            "ORDER BY f.id"):
        ids.append(int(fid))
        docs.append(json.loads(doc) if doc else {})
    return np.array(ids, dtype=np.int64), docs


def metadata_keys(db: Db) -> list[str]:
    """The metadata fields recorded on photos (for choosing a group column)."""
    conn = connection(db)
    sql = ("SELECT DISTINCT k FROM photos p, jsonb_object_keys(CASE WHEN "
           "jsonb_typeof(p.metadata::jsonb) = 'object' THEN p.metadata::jsonb "
           "ELSE '{}'::jsonb END) k") if is_postgres(conn) else \
        "SELECT DISTINCT j.key FROM photos p, json_each(p.metadata) j"
    return sorted(str(r[0]) for r in conn.execute(sql))


def face_landmarks(db: Db, face_id: int) -> list[tuple[int, int]]:
    row = connection(db).execute("SELECT landmarks FROM faces WHERE id = ?",
                                 (face_id,)).fetchone()
    return [] if row is None else [(int(x), int(y)) for x, y in json.loads(row[0])]


def face_crop(db: Db, face_id: int) -> bytes:
    row = connection(db).execute("SELECT crop FROM faces WHERE id = ?", (face_id,)).fetchone()
    return b"" if row is None or row[0] is None else bytes(row[0])


def iter_persons(db: Db) -> Iterator[Person]:
    for row in connection(db).execute(
            "SELECT id, person_id, name, created_at FROM persons ORDER BY id"):
        yield Person(*row)
