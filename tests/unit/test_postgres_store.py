"""A gallery on a PostgreSQL server (facedesk.store.postgres and Gallery.open of a URL), on
the throwaway server of tests/pgserver.py: the adapter's SQL, the locations, concurrent
writers making one audit chain, per-source import locks, the search matrix kept current
as other connections import, and the file-only features refused with a clear message."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest

from facedesk.app import audit
from facedesk.app import backup as backups
from facedesk.app.search import Searcher
from facedesk.errors import FileOnly, GalleryNotFound, ImportRunning, NotAGallery
from facedesk.store import FaceRecord, Gallery, PhotoRecord
from facedesk.store import encodings as stored_encodings
from facedesk.store.postgres import has_password, pg_sql, public_location, with_password

APPENDS = 15


def test_statements_keep_their_sql_on_both_backends() -> None:
    assert pg_sql("SELECT a FROM t WHERE b = ? AND c LIKE 'x%' AND d = '?'") == \
        "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d = '?'"
    assert pg_sql("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', %s"


def test_locations_never_show_a_password() -> None:
    url = "postgresql://ann:s3cret@db.example.org:5433/faces?sslmode=require"
    assert has_password(url)
    assert public_location(url) == "postgresql://ann@db.example.org:5433/faces?sslmode=require"
    assert public_location("postgresql:///?service=faces") == "postgresql:///?service=faces"


def test_a_database_becomes_a_gallery_once(pg_url: str) -> None:
    with pytest.raises(GalleryNotFound, match="no gallery in this database yet"):
        Gallery.open(pg_url)
    with Gallery.open(pg_url, create=True) as g:
        gid = g.gallery_id
        assert g.is_server and g.location == pg_url and g.version == 0
        assert not audit.verify(g).problems
        with pytest.raises(FileOnly, match="not a file"):
            _ = g.path
    with Gallery.open(pg_url) as again:  # no second migration: the same gallery
        assert again.gallery_id == gid and again.same_gallery(again)


def test_a_database_of_another_program_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id BIGINT)")
    with pytest.raises(NotAGallery, match="another program"):
        Gallery.open(pg_url, create=True)


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://ann:s3cret@/faces?host={tmp_path}&connect_timeout=2"
    with pytest.raises(GalleryNotFound, match="cannot connect") as caught:
        Gallery.open(url)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def _append_events(url: str, worker: int) -> None:
    with Gallery.open(url) as g:
        for i in range(APPENDS):
            audit.record(g, "candidate_viewed", {"worker": worker, "i": i})


def test_concurrent_writers_make_one_chain(pg_url: str) -> None:
    """Threads and processes, each with its own connection, append at once: the advisory
    lock of every write transaction serialises them, so the chain never forks."""
    Gallery.open(pg_url, create=True).close()
    threads = [threading.Thread(target=_append_events, args=(pg_url, w)) for w in range(3)]
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_append_events, args=(pg_url, 10 + w)) for w in range(2)]
    for t in [*threads, *procs]:
        t.start()
    for t in threads:
        t.join(60)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Gallery.open(pg_url) as g:
        v = audit.verify(g)
        assert v.ok, v.problems
        events = list(audit.events(g))
    viewed = [e for e in events if e.kind == "candidate_viewed"]
    assert len(viewed) == 5 * APPENDS
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {(e.data["worker"], e.data["i"]) for e in viewed} == \
        {(w, i) for w in (0, 1, 2, 10, 11) for i in range(APPENDS)}


def face(seed: int) -> FaceRecord:
    enc = np.random.default_rng(seed).normal(size=128).astype("<f4")
    return FaceRecord("e1", (1, 2, 3, 0), [(0, 0)] * 68, 40, 20.0, 100.0, 120.0, 0.0,
                      enc.tobytes(), b"jpeg")


def photos(first: int, n: int, persons: int = 4) -> list[PhotoRecord]:
    return [PhotoRecord(f"{i:064x}", f"/p/{i}.jpg", 10, 4, 4, "JPEG", f"P{i % persons}",
                        None, {"i": i}, 1, face(i)) for i in range(first, first + n)]


def test_imports_of_different_folders_run_at_once_the_same_folder_is_refused(
        pg_url: str) -> None:
    with Gallery.open(pg_url, create=True) as a, Gallery.open(pg_url) as b, \
            Gallery.open(pg_url) as c:
        a.register_engine("e1", {"engine": "fake"})
        run_a = a.start_run("/photos/a", "folders", {}, "e1")
        run_b = b.start_run("/photos/b", "folders", {}, "e1")  # another folder: at once
        with pytest.raises(ImportRunning, match="another import"):
            c.start_run("/photos/a", "folders", {}, "e1")
        assert a.run(run_b).status == "running"  # not closed as interrupted by a
        a.add_photos(run_a, photos(0, 6))
        b.add_photos(run_b, photos(6, 6))
        b.close()  # b's process ends: its lock goes with its connection
        run_c = c.start_run("/photos/b", "folders", {}, "e1")
        assert c.run(run_b).status == "interrupted" and c.run(run_c).status == "running"
        assert a.counts()["faces"] == 12


def test_the_search_matrix_reads_only_the_faces_another_workstation_added(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Gallery.open(pg_url, create=True) as here, Gallery.open(pg_url) as there:
        here.register_engine("e1", {"engine": "fake"})
        here.add_photos(here.start_run("/a", "folders", {}, "e1"), photos(0, 20))
        searcher = Searcher(here, {"engine": "fake"})
        first = searcher.index()
        assert first.faces == 20
        there.add_photos(there.start_run("/b", "folders", {}, "e1"), photos(20, 7, 9))
        reads: list[int] = []
        real = stored_encodings.read_encodings

        def counted(conn, version, n, *, after_id=0):  # type: ignore[no-untyped-def]
            reads.append(n)
            return real(conn, version, n, after_id=after_id)

        monkeypatch.setattr(stored_encodings, "read_encodings", counted)
        topped = searcher.index()
        assert reads == [7] and topped.faces == 27
        full = real(here.conn, here.version, 27)
        enc = searcher._encodings
        assert enc is not None and enc.version == here.version
        assert np.array_equal(enc.face_ids, full.face_ids)
        assert np.array_equal(enc.person_pks, full.person_pks)
        assert np.array_equal(enc.matrix, full.matrix)


def test_the_encoding_cache_of_a_server_gallery_is_the_users_and_topped_up(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with Gallery.open(pg_url, create=True) as g:
        g.register_engine("e1", {"engine": "fake"})
        run = g.start_run("/a", "folders", {}, "e1")
        g.add_photos(run, photos(0, 10))
        g.load_encodings(cache=True)
        path = stored_encodings.cache_file(g)
        assert path.parent == tmp_path / "cache" / "FaceDesk" / "encodings"
        assert path.name.startswith(g.gallery_id)
        assert path.stat().st_mode & 0o077 == 0 and path.parent.stat().st_mode & 0o077 == 0
        g.add_photos(run, photos(10, 3))
        enc = g.load_encodings(cache=True)  # the stale cache, topped up
        assert len(enc.face_ids) == 13 and enc.version == g.version
        cached = stored_encodings.EncodingCache(path).read(g.gallery_id, g.version, 13)
        assert cached is not None  # rewritten at the new version


def test_file_only_features_say_what_to_do_instead(pg_url: str, tmp_path: Path) -> None:
    with Gallery.open(pg_url, create=True) as g, \
            pytest.raises(FileOnly, match="facedesk gallery copy"):
        list(backups.backup(g, tmp_path, user_id=None))
    with pytest.raises(FileOnly, match="pg_restore"):
        list(backups.restore(tmp_path / "x.db", pg_url))


def test_the_command_line_takes_a_url_but_never_its_password(pg_url: str) -> None:
    from click.testing import CliRunner

    from facedesk import cli as cli_module

    Gallery.open(pg_url, create=True).close()
    done = CliRunner().invoke(cli_module.cli, ["info", "--db", pg_url, "--json"])
    assert done.exit_code == 0, done.output
    assert '"gallery_id"' in done.stdout
    refused = CliRunner().invoke(cli_module.cli, [
        "info", "--db", "postgresql://ann:s3cret@db.example.org/faces"])
    assert refused.exit_code == 2 and "~/.pgpass" in refused.stderr


def test_a_password_given_for_one_connection_is_used_and_never_shown(pg_url: str) -> None:
    url = with_password(pg_url, "not used: trust")
    assert has_password(url) and public_location(url) == pg_url
    with Gallery.open(url, create=True) as g:
        assert g.location == pg_url and g.open_location == url
    service = with_password("postgresql:///?service=faces", "p w&x")
    assert service == "postgresql:///?service=faces&password=p+w%26x"
    assert public_location(service) == "postgresql:///?service=faces"


def test_a_service_file_names_the_server(pg_url: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq's service file (or ~/.pgpass) holds the connection's details and password:
    FaceDesk's settings and the URL hold only the service's name."""
    with psycopg.connect(pg_url) as conn:
        host, port, dbname, user = (conn.info.host, conn.info.port, conn.info.dbname,
                                    conn.info.user)
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[faces]\nhost={host}\nport={port}\ndbname={dbname}\nuser={user}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    with Gallery.open("postgresql:///?service=faces", create=True) as g:
        assert g.location == "postgresql:///?service=faces" and g.name == dbname
    with Gallery.open(pg_url) as same:
        assert same.counts()["photos"] == 0 and same.version == 0
