"""The store's typed records, read back from a real gallery file: import runs, persons,
photo files, face details, the summary (and their JSON forms), raw decision rows and the
encoding cache's header."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facedesk.store import (
    EngineUse,
    FaceDetails,
    FaceRecord,
    Gallery,
    GallerySummary,
    ImportRun,
    Person,
    PhotoFile,
    PhotoRecord,
    RunCounts,
    StoredQuality,
)
from facedesk.store.decisions import DecisionRow, NewDecision, decision_rows, insert_decision
from facedesk.store.encodings import CacheHeader, EncodingCache, cache_file
from facedesk.store.records import table_columns
from facedesk.store.schema import SCHEMA_VERSION

IDENTITY = {"engine": "fake", "dlib": "19.24", "models": {"shape": "ab" * 32}}


def face(seed: int) -> FaceRecord:
    enc = np.random.default_rng(seed).normal(size=128).astype("<f4")
    return FaceRecord("e1", (10, 60, 70, 5), [(1, 2)] * 68, 55, 24.5, 180.0, 120.0, -3.0,
                      enc.tobytes(), b"jpeg", detector="cnn:0")


@pytest.fixture
def filled(store_location: Path | str) -> Iterator[Gallery]:
    """A gallery (a file, and a database on a server) with one run: two persons, three
    photos, two faces."""
    g = Gallery.open(store_location, create=True)
    g.register_engine("e1", IDENTITY)
    run = g.start_run("/photos", "folders", {"workers": 1}, "e1")
    g.add_photos(run, [
        PhotoRecord("a" * 64, "/photos/ann/1.jpg", 100, 640, 480, "JPEG", "ann", "Ann Lee",
                    {"sex": "F"}, 1, face(1)),
        PhotoRecord("b" * 64, "/photos/ann/2.jpg", 200, 320, 240, "PNG", "ann", None, {}, 2,
                    face(2)),
        PhotoRecord("c" * 64, "/photos/bob/1.jpg", 300, 10, 10, "JPEG", "bob", None, {}, 0,
                    None),
    ])
    g.finish_run(run, "completed", RunCounts(total=3, imported=3, no_face=1, multi_face=1))
    yield g
    g.close()


def frozen(record: object) -> None:
    field = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_import_runs_are_typed_and_their_json_has_the_table_columns(filled: Gallery) -> None:
    last = filled.last_run()
    assert isinstance(last, ImportRun) and filled.run(last.id) == last
    assert (last.source, last.kind, last.status, last.engine_id) == (
        "/photos", "folders", "completed", "e1")
    assert json.loads(last.options) == {"workers": 1}
    assert (last.total, last.imported, last.no_face, last.multi_face, last.failed) == (
        3, 3, 1, 1, 0)
    assert last.finished_at is not None and last.started_at <= last.finished_at
    columns = table_columns(filled.conn, "import_runs")
    assert list(last.as_dict()) == columns
    frozen(last)
    with pytest.raises(KeyError):
        filled.run(last.id + 1)


def test_persons_and_photo_files(filled: Gallery) -> None:
    persons = list(filled.iter_persons())
    assert [(p.person_id, p.name) for p in persons] == [("ann", "Ann Lee"), ("bob", None)]
    assert all(isinstance(p, Person) and p.id > 0 and p.created_at for p in persons)
    files = filled.photo_files()
    assert [(f.path, f.size_bytes, f.person_id) for f in files] == [
        ("/photos/ann/1.jpg", 100, "ann"), ("/photos/ann/2.jpg", 200, "ann"),
        ("/photos/bob/1.jpg", 300, "bob")]
    assert files[0] == PhotoFile(files[0].photo_id, "/photos/ann/1.jpg", "a" * 64, 100, "ann")
    frozen(persons[0])
    frozen(files[0])


def test_face_details_and_their_json_form(filled: Gallery) -> None:
    ids = [r[0] for r in filled.conn.execute("SELECT id FROM faces ORDER BY id")]
    details = filled.face_details([*ids, 999])  # an unknown face is left out
    assert sorted(details) == ids
    d = details[ids[0]]
    assert isinstance(d, FaceDetails)
    assert d.box == (10, 60, 70, 5) and d.detector == "cnn:0"
    assert d.quality == StoredQuality(55, 24.5, 180.0, 120.0, -3.0)
    assert (d.path, d.person_id, d.name, d.metadata, d.width, d.height) == (
        "/photos/ann/1.jpg", "ann", "Ann Lee", {"sex": "F"}, 640, 480)
    assert d.as_dict() == {
        "face_id": ids[0], "box": [10, 60, 70, 5],
        "quality": {"size_px": 55, "eye_distance_px": 24.5, "sharpness": 180.0,
                    "brightness": 120.0, "yaw_deg": -3.0},
        "photo_id": d.photo_id, "path": "/photos/ann/1.jpg", "sha256": "a" * 64,
        "metadata": {"sex": "F"}, "width": 640, "height": 480, "person_id": "ann",
        "name": "Ann Lee", "detector": "cnn:0"}
    frozen(d)


def test_the_summary_and_its_json_form(filled: Gallery) -> None:
    s = filled.summary()
    assert isinstance(s, GallerySummary)
    assert (s.persons, s.photos, s.faces, s.photos_without_face,
            s.photos_with_several_faces, s.import_runs) == (2, 3, 2, 1, 1, 1)
    assert s.engines == (EngineUse("e1", IDENTITY),)
    assert s.last_import == filled.last_run()
    d = s.as_dict()
    assert list(d) == ["path", "gallery_id", "created_at", "schema_version", "version",
                       "persons", "photos", "faces", "photos_without_face",
                       "photos_with_several_faces", "engines", "last_import", "import_runs"]
    assert d["schema_version"] == SCHEMA_VERSION and d["version"] == filled.version == 1
    assert d["engines"] == [{"id": "e1", "identity": IDENTITY}]
    assert list(d["last_import"]) == ["id", "source", "status", "started_at", "finished_at",
                                      "total", "already_stored", "imported", "no_face",
                                      "multi_face", "duplicates", "failed"]
    json.dumps(d)  # JSON as it is
    frozen(s)


def test_an_empty_gallery_summary_has_no_last_import(tmp_path: Path) -> None:
    with Gallery.open(tmp_path / "empty.db", create=True) as g:
        s = g.summary()
        assert g.last_run() is None and s.last_import is None and s.engines == ()
        assert s.as_dict()["last_import"] is None


def test_decision_rows_hold_every_column(filled: Gallery) -> None:
    face_id = filled.conn.execute("SELECT min(id) FROM faces").fetchone()[0]
    new = NewDecision(reviewer="ann", decision="inconclusive", rationale="blurred",
                      blind_review=0, probe_sha256="f" * 64, probe_path="/probe.png",
                      probe_box="[1, 2, 3, 4]", engine_id="e1", gallery_version=1,
                      persons_searched=2, person_id="ann", face_id=face_id, rank=1,
                      distance=0.4, similarity=0.8)
    with filled.write() as conn:
        decision_id = insert_decision(conn, new)
    [row] = decision_rows(filled)
    assert isinstance(row, DecisionRow) and row.id == decision_id
    assert dataclasses.replace(row, created_at="") == DecisionRow(
        **dataclasses.asdict(new), id=decision_id)
    columns = set(table_columns(filled.conn, "decisions"))
    assert {f.name for f in dataclasses.fields(row)} == columns
    assert decision_rows(filled, "f" * 64) == [row] and decision_rows(filled, "0" * 64) == []
    frozen(row)


def test_the_encoding_cache_header_is_typed(filled: Gallery) -> None:
    enc = filled.load_encodings(cache=True)
    path = cache_file(filled)
    cache = EncodingCache(path)
    with open(path, "rb") as f:
        header = cache._header(f)
    assert header is not None and header.gallery_id == filled.gallery_id
    assert (header.version, header.faces, header.engine_ids) == (enc.version, 2,
                                                                 frozenset({"e1"}))
    assert header.offset == EncodingCache.ALIGN
    fields = {"gallery_id": "g", "version": 1, "faces": 2, "engine_ids": ["e1"],
              "checksum": 7, "offset": 4096}
    assert CacheHeader.of(fields) == CacheHeader("g", 1, 2, frozenset({"e1"}), 7, 4096)
    for key, bad in [("version", "1"), ("faces", None), ("engine_ids", "e1"),
                     ("engine_ids", [1]), ("gallery_id", 3), ("checksum", 1.5)]:
        assert CacheHeader.of({**fields, key: bad}) is None, key
    assert CacheHeader.of({k: v for k, v in fields.items() if k != "offset"}) is None
