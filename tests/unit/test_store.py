from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facedesk.errors import GalleryNotFound, GalleryTooNew, NotAGallery
from facedesk.store import FaceRecord, Gallery, PhotoRecord, RunCounts
from facedesk.store.schema import APPLICATION_ID, SCHEMA_VERSION


def face(seed: int, engine: str = "e1") -> FaceRecord:
    enc = np.random.default_rng(seed).normal(size=128).astype("<f4")
    return FaceRecord(engine, (1, 2, 3, 0), [(0, 0)] * 68, 40, 20.0, 100.0, 120.0, 0.0,
                      enc.tobytes(), b"jpeg")


def photo(sha: str, person: str, with_face: bool = True, seed: int = 0) -> PhotoRecord:
    return PhotoRecord(sha, f"/p/{sha}.jpg", 10, 4, 4, "JPEG", person, None, {"sex": "F"},
                       1 if with_face else 0, face(seed) if with_face else None)


@pytest.fixture
def gallery(store_gallery: Gallery) -> Gallery:
    """This module's tests run on both backends (a file, a database on a server)."""
    return store_gallery


def new_run(g: Gallery) -> int:
    g.register_engine("e1", {"engine": "fake"})
    return g.start_run("src", "folders", {}, "e1")


def test_new_gallery_is_marked_and_migrated(tmp_path: Path) -> None:
    with Gallery.open(tmp_path / "g.db", create=True) as g:
        c = g.conn
        assert c.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        gid = g.gallery_id
        assert len(gid) == 32 and g.version == 0
    with Gallery.open(tmp_path / "g.db") as g:  # re-open: no second migration
        assert g.gallery_id == gid


def test_refuses_what_is_not_a_gallery(tmp_path: Path) -> None:
    with pytest.raises(GalleryNotFound, match="no gallery"):
        Gallery.open(tmp_path / "missing.db")
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database at all" * 10)
    with pytest.raises(NotAGallery, match="not a FaceDesk gallery"):
        Gallery.open(text, create=True)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(NotAGallery, match="another program"):
        Gallery.open(other, create=True)
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    with pytest.raises(NotAGallery, match="folder"):
        Gallery.open(tmp_path, create=True)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    Gallery.open(tmp_path / "g.db", create=True).close()
    con = sqlite3.connect(tmp_path / "g.db")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(GalleryTooNew, match="newer FaceDesk"):
        Gallery.open(tmp_path / "g.db")


def test_add_photos_is_idempotent_and_bumps_version(gallery: Gallery) -> None:
    run = new_run(gallery)
    batch = [photo("a", "P1", seed=1), photo("b", "P1", seed=2), photo("c", "P2", False)]
    assert gallery.add_photos(run, batch) == 3
    assert gallery.version == 1
    assert gallery.add_photos(run, batch) == 0  # replay after a crash: nothing doubles
    assert gallery.version == 1
    counts = gallery.counts()
    assert (counts["persons"], counts["photos"], counts["faces"]) == (2, 3, 2)
    assert counts["photos_without_face"] == 1
    assert gallery.stored_hashes() == {"a": "/p/a.jpg", "b": "/p/b.jpg", "c": "/p/c.jpg"}


def test_bad_encoding_rolls_back_the_whole_batch(gallery: Gallery) -> None:
    run = new_run(gallery)
    bad = PhotoRecord("z", "/z", 1, 1, 1, "PNG", "P9", None, {}, 1,
                      FaceRecord("e1", (0, 1, 1, 0), [], 1, 0, 0, 0, 0, b"short", b""))
    with pytest.raises(ValueError):
        gallery.add_photos(run, [photo("ok", "P1"), bad])
    assert gallery.counts()["photos"] == 0  # nothing half-written


def test_load_encodings_groups_rows_by_person(gallery: Gallery) -> None:
    run = new_run(gallery)
    gallery.add_photos(run, [photo("a", "P1", seed=1), photo("b", "P2", seed=2)])
    gallery.add_photos(run, [photo("c", "P1", seed=3)])
    enc = gallery.load_encodings()
    assert enc.matrix.dtype == np.float32 and enc.matrix.shape == (3, 128)
    assert list(enc.person_pks) == sorted(enc.person_pks)
    assert enc.engine_ids == frozenset({"e1"}) and enc.version == gallery.version
    expected = np.frombuffer(face(3).encoding, dtype="<f4")
    row = list(enc.face_ids).index(3)
    assert np.array_equal(enc.matrix[row], expected)


def test_runs_and_interrupted_runs(gallery: Gallery) -> None:
    run = new_run(gallery)  # left 'running', as after a kill
    second = gallery.start_run("src", "folders", {}, "e1")
    assert gallery.run(run).status == "interrupted"
    gallery.finish_run(second, "completed", RunCounts(total=5, imported=4, failed=1))
    last = gallery.last_run()
    assert last is not None and last.status == "completed" and last.imported == 4
    summary = gallery.summary()
    assert summary.last_import is not None and summary.last_import.id == second \
        and summary.import_runs == 2


def test_person_name_filled_in_later(gallery: Gallery) -> None:
    run = new_run(gallery)
    gallery.add_photos(run, [photo("a", "P1")])
    named = PhotoRecord("b", "/b", 1, 1, 1, "PNG", "P1", "Jane Doe", {}, 0, None)
    gallery.add_photos(run, [named])
    assert [p.name for p in gallery.iter_persons()] == ["Jane Doe"]
