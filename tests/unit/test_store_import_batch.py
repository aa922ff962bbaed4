"""An import batch is a few multi-row statements (issue 19: a round trip each on a
server): the rows it writes, and the rows its audit event lists with their digests, are
the same on SQLite and PostgreSQL, and what storing the photos one by one gave."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from test_store import new_run, photo

from facedesk.store import Gallery, photos, records

STAMP = "2026-01-02T03:04:05+00:00"


def import_two_batches(location: Path | str) -> dict[str, Any]:
    """A stored photo; then a batch with a hash given twice, a photo without a face, a
    new person's second photo and the stored photo again (its person's name learnt: last,
    as on the server a conflicting row still draws an id from the sequence, and the ids
    are compared too)."""
    logged: list[dict[str, Any]] = []

    def log(conn: Any, written: dict[str, list[Any]]) -> None:
        logged.append({table: (keys, records.digests_of(conn, table, keys))
                       for table, keys in written.items()})

    with Gallery.open(location, create=True) as g:
        run = new_run(g)
        first = g.add_photos(run, [photo("a", "P1", seed=1)], log=log)
        named = dataclasses.replace(photo("a", "P1", seed=1), person_name="Ann")
        second = g.add_photos(run, [
            photo("b", "P2", seed=2), photo("b", "P2", seed=9),
            photo("c", "P3", with_face=False), photo("d", "P2", seed=3), named], log=log)
        again = g.add_photos(run, [photo("b", "P2", seed=2)], log=log)
        conn = g.conn
        rows = {
            "persons": conn.execute(
                "SELECT id, person_id, name FROM persons ORDER BY id").fetchall(),
            "photos": conn.execute(
                "SELECT id, sha256, person_pk, faces_found FROM photos ORDER BY id").fetchall(),
            "faces": conn.execute(
                "SELECT id, photo_id, person_pk, encoding FROM faces ORDER BY id").fetchall(),
        }
    return {"added": (first, second, again), "logged": logged,
            "rows": {t: [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                         for r in rs] for t, rs in rows.items()}}


def test_a_batch_writes_the_same_rows_and_digests_on_both_backends(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(photos, "now_iso", lambda: STAMP)  # the digests cover added_at
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    on_file = import_two_batches(tmp_path / "g.db")
    on_server = import_two_batches(pg_url)
    assert on_file["added"] == (1, 3, 0)  # b, c, d new; the second b and a skipped
    written = [{t: keys for t, (keys, _) in event.items()} for event in on_file["logged"]]
    assert written == [
        {"persons": [1], "photos": [1], "faces": [1]},
        # P2 new, P3 new, P1 named (in the records' order); c has no face
        {"persons": [2, 3, 1], "photos": [2, 3, 4], "faces": [2, 3]},
    ]  # nothing written by the replayed batch: no event
    assert all(d is not None for event in on_file["logged"]
               for _, digests in event.values() for d in digests.values())
    assert [r[:3] for r in on_file["rows"]["persons"]] == [
        (1, "P1", "Ann"), (2, "P2", None), (3, "P3", None)]
    assert on_file["rows"]["photos"] == [
        (1, "a", 1, 1), (2, "b", 2, 1), (3, "c", 3, 0), (4, "d", 2, 1)]
    assert [r[:3] for r in on_file["rows"]["faces"]] == [(1, 1, 1), (2, 2, 2), (3, 4, 2)]
    # the first b's face, not the duplicate's
    assert on_file["rows"]["faces"][1][3] == photo("b", "P2", seed=2).face.encoding  # type: ignore[union-attr]
    assert on_server == on_file


def test_a_batch_larger_than_one_statement_maps_every_id(store_gallery: Gallery) -> None:
    """More rows than one INSERT takes (ROWS_PER_INSERT): each photo gets its own face
    and person back, on both backends."""
    g = store_gallery
    run = new_run(g)
    count = photos.ROWS_PER_INSERT * 2 + 7
    written: dict[str, list[Any]] = {}
    added = g.add_photos(run, [photo(f"{i:064x}", f"P{i % 600}", with_face=i % 5 != 0,
                                     seed=i) for i in range(count)],
                         log=lambda conn, w: written.update(w))
    assert added == count
    assert len(written["photos"]) == count and len(written["persons"]) == 600
    assert len(written["faces"]) == count - len(range(0, count, 5))
    assert g.conn.execute(
        "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
        "WHERE f.person_pk <> p.person_pk").fetchone()[0] == 0
    faces_by_photo = dict(g.conn.execute("SELECT photo_id, id FROM faces").fetchall())
    face_of = {sha: faces_by_photo.get(pid) for pid, sha in g.conn.execute(
        "SELECT id, sha256 FROM photos").fetchall()}
    encodings = dict(g.conn.execute("SELECT id, encoding FROM faces").fetchall())
    for i in range(0, count, 37):
        rec = photo(f"{i:064x}", "", with_face=i % 5 != 0, seed=i)
        fid = face_of[rec.sha256]
        assert (fid is None) == (rec.face is None)
        if rec.face is not None:
            assert bytes(encodings[fid]) == rec.face.encoding
    persons = dict(g.conn.execute("SELECT id, person_id FROM persons").fetchall())
    for pk, sha in g.conn.execute("SELECT person_pk, sha256 FROM photos").fetchall():
        assert persons[pk] == f"P{int(sha, 16) % 600}"
