"""Record digests (facedesk.store.records), the baseline of an older gallery, the schema
check and the external witness of the head (facedesk.app.witness)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fakes import FakeEngine

from facedesk.app import audit, witness
from facedesk.app.importer import face_record
from facedesk.app.search import analyze_probe
from facedesk.store import Gallery, PhotoRecord
from facedesk.store import records as rec


def test_every_column_of_every_table_is_covered_or_excluded_with_a_reason() -> None:
    """The ONE place: a column added by a migration and not listed fails here."""
    conn = sqlite3.connect(":memory:")
    made = rec.expected_schema()
    for obj in made.values():
        if obj.type == "table":
            conn.execute(obj.sql)
    tables = {o.name for o in made.values() if o.type == "table"}
    assert tables == set(rec.RECORD_COLUMNS) | set(rec.TABLES_NOT_COVERED)
    assert not set(rec.RECORD_COLUMNS) & set(rec.TABLES_NOT_COVERED)
    for table, versions in rec.RECORD_COLUMNS.items():
        columns = rec.table_columns(conn, table)
        listed = versions[rec.current_version(table)]
        excluded = set(rec.NOT_COVERED.get(table, {}))
        assert set(columns) == set(listed) | excluded, table
        assert not set(listed) & excluded, table
        assert listed[0] == columns[0] or table == "meta", "the key comes first"
        assert table in rec.LABELS


def test_digests_cover_blobs_by_content_and_tell_tables_apart() -> None:
    a = rec.digest("faces", 1, [1, b"\x00" * 4])
    assert a != rec.digest("faces", 1, [1, b"\x00" * 3 + b"\x01"])
    assert a != rec.digest("photos", 1, [1, b"\x00" * 4])
    assert a != rec.digest("faces", 2, [1, b"\x00" * 4])
    assert len(a) == rec.DIGEST_HEX


def test_the_schema_check_sees_the_migrations_schema_as_intact(gallery: Gallery) -> None:
    assert rec.schema_differences(gallery.conn) == []
    gallery.conn.execute("PRAGMA user_version = 99")
    assert [c for c, _ in rec.schema_differences(gallery.conn)] == ["header"]


def _unlogged_photo(g: Gallery, n: int) -> None:
    """A photo stored the way a gallery made before record digests has them: through the
    store, with no audit event recording it."""
    eng = FakeEngine()
    from fakes import one_face, save_png

    path = save_png(one_face(n % 5, n), g.path.parent / f"old{n}.png")
    probe = analyze_probe(eng, path)
    face = probe.faces[0]
    g.register_engine("fake", eng.identity())
    run = g.start_run("old", "folder", {}, "fake")
    g.add_photos(run, [PhotoRecord(f"{n:064x}", str(path), 1, 200, 160, "PNG", f"p{n}", None,
                                   {}, 1, face_record(face, "fake"))])


def test_a_gallery_from_before_record_digests_fails_until_a_baseline_is_recorded(
        gallery: Gallery) -> None:
    for n in range(3):
        _unlogged_photo(gallery, n)
    v = audit.verify(gallery)
    assert not v.ok
    assert "face 1 was not written through FaceDesk" in "\n".join(v.problems)
    assert audit.unlogged_records(gallery)["faces"] == ["1", "2", "3"]
    ev = audit.baseline(gallery, user_id=None)
    assert ev is not None and ev.kind == "integrity_baseline"
    assert ev.data["counts"] == {"engines": 1, "persons": 3, "photos": 3, "faces": 3}
    assert audit.verify(gallery).ok
    assert audit.baseline(gallery, user_id=None) is None  # nothing left to record
    # from then on a change is found, and a second baseline does not cover it up
    gallery.conn.execute("UPDATE faces SET box_top = box_top + 1 WHERE id = 2")
    assert audit.baseline(gallery, user_id=None) is None
    v = audit.verify(gallery)
    assert f"face 2 differs from what audit event {ev.seq} recorded" in "\n".join(v.problems)


def test_many_findings_are_counted_not_listed_one_by_one(gallery: Gallery) -> None:
    for n in range(25):
        _unlogged_photo(gallery, n)
    v = audit.verify(gallery)
    faces = [p for p in v.problems if p.startswith("face ")]
    assert len(faces) == 20
    assert "… and 5 more faces like the above" in v.problems


# --- the witness ----------------------------------------------------------------------------


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_every_change_appends_the_head_to_a_private_witness_file(imported: Gallery) -> None:
    g = imported
    path = witness.witness_path(g.gallery_id)
    assert path.parent == Path(os.environ[witness.ENV_DIR])
    lines = _lines(path)
    head = audit.head(g)
    assert head is not None
    assert (lines[-1]["seq"], lines[-1]["hash"], lines[-1]["at"]) == (head.seq, head.hash,
                                                                       head.at)
    assert [x["seq"] for x in lines] == sorted({int(str(x["seq"])) for x in lines})
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    audit.record(g, "candidate_viewed", {"n": 1})
    assert _lines(path)[-1]["seq"] == head.seq + 1
    assert audit.verify(g).ok


def test_the_default_witness_folder_is_in_the_users_data_folder(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(witness.ENV_DIR)
    assert witness.witness_dir() == \
        Path(platformdirs.user_data_dir("FaceDesk", appauthor=False)) / "witness"
    assert witness.witness_path("../../etc/passwd").parent == witness.witness_dir()


def test_no_witness_is_a_note_an_edited_witness_a_failure(imported: Gallery) -> None:
    g = imported
    path = witness.witness_path(g.gallery_id)
    text = path.read_text()
    path.unlink()
    v = audit.verify(g)
    assert v.ok and "no witness" in v.notes[0]
    path.write_text(text + "not json\n")
    v = audit.verify(g)
    assert not v.ok and "unreadable line" in v.problems[0]


def test_a_restore_marker_forgives_only_what_the_restore_dropped(imported: Gallery) -> None:
    g = imported
    head = audit.head(g)
    assert head is not None
    # the gallery goes on, then is "restored" to its earlier head by cutting the tail
    for n in range(3):
        audit.record(g, "candidate_viewed", {"n": n})
    conn = g.conn
    for name in audit.TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DELETE FROM audit WHERE seq > ?", (head.seq,))
    v = audit.verify(g)
    assert any("truncated" in p for p in v.problems)
    witness.witness_restore(g, head.seq, head.hash, "a backup")
    v = audit.verify(g)
    assert not any("witness" in p for p in v.problems), v.problems


def test_the_head_goes_to_the_system_log_too(imported: Gallery,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import syslog

    said: list[tuple[int, str]] = []
    monkeypatch.setenv(witness.ENV_SYSLOG, "on")
    monkeypatch.setattr(syslog, "syslog", lambda prio, msg: said.append((prio, msg)))
    ev = audit.record(imported, "candidate_viewed", {"n": 1})
    assert said == [(syslog.LOG_INFO, f"FaceDesk audit head: gallery {imported.gallery_id} "
                                      f"event {ev.seq} hash {ev.hash} at {ev.at} "
                                      f"({imported.path})")]


def test_a_witness_that_cannot_be_written_never_fails_the_action(
        imported: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(witness.ENV_DIR, str(blocker / "witness"))
    ev = audit.record(imported, "candidate_viewed", {"n": 1})
    assert audit.head(imported) == ev
    v = audit.verify(imported)  # but a witness that cannot be read fails verification
    assert not v.ok and "cannot be read" in v.problems[0]


def test_a_copy_worked_on_apart_is_named_by_the_witness(imported: Gallery,
                                                        tmp_path: Path) -> None:
    """Two files of one gallery id share a witness: when they diverge, verify says so and
    names the other file, so a copy is not mistaken for a rewrite of this one."""
    import shutil

    imported.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other_path = tmp_path / "copy.db"
    shutil.copyfile(imported.path, other_path)
    audit.record(imported, "candidate_viewed", {"in": "the original"})
    with Gallery.open(other_path) as other:
        for n in range(2):
            audit.record(other, "candidate_viewed", {"in": "the copy", "n": n})
    v = audit.verify(imported)
    assert not v.ok
    assert f"(in {other_path}: a copy of this gallery?)" in v.problems[0]
