"""The encoding cache next to a gallery: used only when current and intact, rebuilt
otherwise, never required."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facedesk.store import EncodingMatrix, FaceRecord, Gallery, PhotoRecord, RunCounts
from facedesk.store import encodings as encodings_module
from facedesk.store.encodings import EncodingCache, encoding_cache_path


def photo(i: int, person: int, seed: int = 0) -> PhotoRecord:
    enc = np.random.default_rng(seed * 100_000 + i).normal(0, 0.1, 128).astype("<f4")
    face = FaceRecord("e1", (1, 2, 3, 0), [], 40, 20.0, 100.0, 120.0, 0.0, enc.tobytes(),
                      b"jpeg")
    return PhotoRecord(f"{seed}-{i:06d}".ljust(64, "0"), f"/p/{seed}/{i}.jpg", 10, 4, 4, "JPEG",
                       f"P{person}", None, {}, 1, face)


def add(g: Gallery, count: int, seed: int = 0, start: int = 0) -> None:
    g.register_engine("e1", {"engine": "fake"})
    run = g.start_run("src", "folders", {}, "e1")
    # persons interleaved, so rows are regrouped by person on loading
    g.add_photos(run, [photo(i, i % 7, seed) for i in range(start, start + count)])
    g.finish_run(run, "completed", RunCounts())


def same(a: EncodingMatrix, b: EncodingMatrix) -> bool:
    return (np.array_equal(a.face_ids, b.face_ids) and np.array_equal(a.person_pks, b.person_pks)
            and np.array_equal(a.matrix, b.matrix) and a.engine_ids == b.engine_ids
            and a.version == b.version)


def no_sqlite_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> EncodingMatrix:
        raise AssertionError("read from SQLite although the cache is current")

    monkeypatch.setattr(encodings_module, "read_encodings", fail)


@pytest.fixture
def filled(gallery: Gallery) -> Gallery:
    add(gallery, 40)
    return gallery


def test_cache_is_written_then_used(filled: Gallery, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = filled.load_encodings(cache=False)
    assert not encoding_cache_path(filled.path).exists()
    first = filled.load_encodings(cache=True)
    cache = encoding_cache_path(filled.path)
    assert cache.name == "gallery.db.encodings" and cache.is_file()
    assert same(first, fresh)
    no_sqlite_read(monkeypatch)
    cached = filled.load_encodings(cache=True)
    assert same(cached, fresh)
    assert cached.matrix.dtype == np.float32 and cached.matrix.flags.c_contiguous
    assert list(cached.person_pks) == sorted(cached.person_pks)


def test_small_galleries_keep_no_cache_by_default(filled: Gallery,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    filled.load_encodings()
    assert not encoding_cache_path(filled.path).exists()
    monkeypatch.setattr(encodings_module, "ENCODING_CACHE_MIN_FACES", 10)
    filled.load_encodings()
    assert encoding_cache_path(filled.path).exists()


def test_new_faces_make_the_cache_stale(filled: Gallery) -> None:
    old = filled.load_encodings(cache=True)
    add(filled, 5, seed=1)
    new = filled.load_encodings(cache=True)
    assert len(new.face_ids) == len(old.face_ids) + 5 and new.version == old.version + 1
    assert same(new, filled.load_encodings(cache=False))
    header = EncodingCache(encoding_cache_path(filled.path))
    assert header.read(filled.gallery_id, new.version, 45) is not None  # rewritten
    assert header.read(filled.gallery_id, old.version, 40) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty", "garbage",
                                    "longer"])
def test_a_damaged_cache_is_ignored_and_rebuilt(filled: Gallery, damage: str) -> None:
    want = filled.load_encodings(cache=False)
    filled.load_encodings(cache=True)
    cache = encoding_cache_path(filled.path)
    data = bytearray(cache.read_bytes())
    if damage == "truncate":
        data = data[:-100]
    elif damage == "flip":  # one bit of one encoding
        data[-1000] ^= 0x10
    elif damage == "header":
        data[30:40] = b"#" * 10
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data = bytearray(np.random.default_rng(0).integers(0, 256, len(data), np.uint8))
    else:
        data += b"\0" * 8
    cache.write_bytes(bytes(data))
    assert same(filled.load_encodings(cache=True), want)
    assert cache.read_bytes() != bytes(data)  # rebuilt
    assert EncodingCache(cache).read(filled.gallery_id, want.version, 40) is not None


def test_a_cache_of_a_diverged_copy_is_not_used(filled: Gallery, tmp_path: Path) -> None:
    """Same gallery id, version and face count, other faces: the spot check tells."""
    copy_path = tmp_path / "copy.db"
    filled.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(filled.path, copy_path)
    add(filled, 3, seed=1, start=100)
    filled.load_encodings(cache=True)
    with Gallery.open(copy_path) as copy:
        add(copy, 3, seed=2, start=100)
        assert copy.version == filled.version and copy.gallery_id == filled.gallery_id
        shutil.copy(encoding_cache_path(filled.path), encoding_cache_path(copy_path))
        assert same(copy.load_encodings(cache=True), copy.load_encodings(cache=False))


def test_an_unwritable_cache_is_not_required(filled: Gallery) -> None:
    encoding_cache_path(filled.path).mkdir()  # cannot be replaced by a file
    want = filled.load_encodings(cache=False)
    assert same(filled.load_encodings(cache=True), want)
    assert encoding_cache_path(filled.path).is_dir()
    assert not [p for p in filled.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_an_empty_gallery_has_no_cache(gallery: Gallery) -> None:
    enc = gallery.load_encodings(cache=True)
    assert enc.matrix.shape == (0, 128)
    assert not encoding_cache_path(gallery.path).exists()


@pytest.mark.parametrize("mapped", [True, False])
def test_cached_arrays_are_private_copies(filled: Gallery, monkeypatch: pytest.MonkeyPatch,
                                          mapped: bool) -> None:
    """Mapped (copy-on-write) or read into memory: writing to the arrays changes neither
    the cache file nor what the next load gives."""
    monkeypatch.setattr(EncodingCache, "MAP", mapped)
    want = filled.load_encodings(cache=False)
    filled.load_encodings(cache=True)
    before = encoding_cache_path(filled.path).read_bytes()
    cached = filled.load_encodings(cache=True)
    assert same(cached, want)
    cached.matrix[:] = 0.0
    cached.face_ids[:] = 0
    assert encoding_cache_path(filled.path).read_bytes() == before
    assert same(filled.load_encodings(cache=True), want)


def test_leftovers_of_a_killed_write_are_removed(filled: Gallery) -> None:
    folder = filled.path.parent
    old = folder / ".gallery.db.encodings.abc123.tmp"
    recent = folder / ".gallery.db.encodings.def456.tmp"
    other = folder / ".other.db.encodings.abc123.tmp"
    for f in (old, recent, other):
        f.write_bytes(b"half a cache")
    os.utime(old, (0, 0))
    os.utime(other, (0, 0))
    filled.load_encodings(cache=True)
    assert not old.exists()
    assert recent.exists() and other.exists()  # maybe being written; another gallery's
