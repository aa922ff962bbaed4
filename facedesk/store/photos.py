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


def insert_photos(conn: Connection, run_id: int, records: Iterable[PhotoRecord],
                  written: dict[str, list[int]]) -> int:
    """Store photos (and their subject face); photos whose hash is already stored are
    skipped. Adds the rows written to `written` ("persons", "photos", "faces"); bumps
    the gallery's version when a face was added. Returns how many photos were new."""
    added = 0
    stamp = now_iso()
    faces_added = 0
    records = list(records)
    # the batch's known persons in one query per 500, not one per photo (a round trip
    # each on a server)
    ids = list(dict.fromkeys(r.person_id for r in records))
    known: dict[str, tuple[int, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for pk, pid, name in conn.execute(
                "SELECT id, person_id, name FROM persons WHERE person_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
            known[str(pid)] = (int(pk), name)
    for rec in records:
        person_pk = _person_pk(conn, rec.person_id, rec.person_name, stamp, written, known)
        cur = conn.execute(
            "INSERT INTO photos(sha256, person_pk, path, size_bytes, width, "
            "height, format, metadata, faces_found, import_run_id, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sha256) DO NOTHING RETURNING id",
            (rec.sha256, person_pk, rec.path, rec.size_bytes, rec.width, rec.height,
             rec.format, json.dumps(rec.metadata, ensure_ascii=False),
             rec.faces_found, run_id, stamp),
        )
        inserted = cur.fetchone()
        if inserted is None:  # already stored
            continue
        photo_id = int(inserted[0])
        added += 1
        written["photos"].append(photo_id)
        f = rec.face
        if f is None:
            continue
        if len(f.encoding) != ENCODING_BYTES:
            raise ValueError("an encoding must be 128 float32 values")
        face_cur = conn.execute(
            "INSERT INTO faces(photo_id, person_pk, engine_id, box_top, box_right, "
            "box_bottom, box_left, landmarks, size_px, eye_distance_px, sharpness, "
            "brightness, yaw_deg, encoding, crop, detector) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (photo_id, person_pk, f.engine_id, *f.box, json.dumps(f.landmarks),
             f.size_px, f.eye_distance_px, f.sharpness, f.brightness, f.yaw_deg,
             f.encoding, f.crop_jpeg, f.detector),
        )
        faces_added += 1
        written["faces"].append(int(face_cur.fetchone()[0]))
    if faces_added:
        meta.bump_version(conn)
    return added


def _person_pk(conn: Connection, person_id: str, name: str | None, stamp: str,
               written: dict[str, list[int]], known: dict[str, tuple[int, str | None]]
               ) -> int:
    """The person's pk (`known`: the persons stored, kept up to date here); a new person
    is stored, a name learnt later filled in."""
    row = known.get(person_id)
    if row is not None:
        if name and not row[1]:
            conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, row[0]))
            written["persons"].append(row[0])
            known[person_id] = (row[0], name)
        return row[0]
    cur = conn.execute("INSERT INTO persons(person_id, name, created_at) VALUES (?, ?, ?) "
                       "RETURNING id", (person_id, name, stamp))
    pk = int(cur.fetchone()[0])
    written["persons"].append(pk)
    known[person_id] = (pk, name)
    return pk


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
