"""`facedesk gallery copy SRC DST`: every table copied (ids kept), verified on both sides,
logged in the source before the snapshot (so both chains end at the same head), an
empty destination only, and nothing left behind when cancelled or refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability import PURPOSE, World, build_template, open_world
from click.testing import CliRunner

from facedesk.app import accounts, audit, cases
from facedesk.app import backup as backups
from facedesk.app.gallery_copy import CopyResult, copy_gallery, display
from facedesk.cli.main import cli
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.errors import CopyError
from facedesk.store import Gallery
from facedesk.store import copy as store_copy


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("copy-template"))


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    """A gallery with photos, users, a case, searches, a decision and its events."""
    w = open_world(template, tmp_path / "src")
    ann = w.session("ann")
    case = cases.open_case(ann, "2026-0101", PURPOSE)
    first = w.search(ann, case)
    w.search(ann, case)
    cases.decide(ann, first.id, 1, "not_the_person", "Different nose bridge")
    yield w
    w.gallery.close()


def contents(g: Gallery) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in key order."""
    with g.read():
        return {t.name: [r for rows in store_copy.read_rows(g, t) for r in rows]
                for t in store_copy.tables()}


def copy(src: Gallery, dst: str | Path, **kw: object) -> CopyResult:
    result = run_to_end(copy_gallery(src, dst, **kw))  # type: ignore[arg-type]
    assert result is not None
    return result


def test_tables_come_after_those_they_reference() -> None:
    order = [t.name for t in store_copy.tables()]
    for before, after in [("users", "cases"), ("persons", "photos"), ("photos", "faces"),
                          ("engines", "faces"), ("searches", "decisions"),
                          ("decisions", "lead_reviews"), ("searches", "search_frames"),
                          ("import_runs", "photos")]:
        assert order.index(before) < order.index(after)
    assert {"audit", "meta", "sign_in_failures"} <= set(order) and order[0] == "meta"
    faces = next(t for t in store_copy.tables() if t.name == "faces")
    assert faces.identity == "id" and "encoding" in faces.columns
    meta = next(t for t in store_copy.tables() if t.name == "meta")
    assert meta.identity is None and meta.key == ("key",)


def test_copy_sqlite_to_sqlite_keeps_every_row_and_the_chain(world: World,
                                                              tmp_path: Path) -> None:
    src = world.gallery
    dst = tmp_path / "copy" / "gallery.db"
    events = [ev.phase for ev in copy_gallery(src, dst, user_id="admin")]
    assert events[-1] == "finished" and "copying" in events and "verifying" in events
    assert not list(dst.parent.glob("*.part*"))
    head = audit.head(src)
    assert head is not None and head.kind == "gallery_copy"
    assert head.data["from"] == str(src.path) and head.data["to"] == str(dst)
    assert head.user_id == "admin"
    with Gallery.open(dst) as g:
        assert g.gallery_id == src.gallery_id
        assert contents(g) == contents(src)
        copied_head = audit.head(g)
        assert copied_head is not None and copied_head.hash == head.hash
        assert audit.verify(g, use_witness=False).ok
        # the copy is a working gallery: a new event continues its chain
        s = accounts.sign_in_os(g, "os-ann")
        cases.open_case(s, "2026-0102", PURPOSE)
        assert audit.verify(g, use_witness=False).ok
        assert store_copy.row_counts(g)["cases"] == 2


def test_the_result_names_every_table_with_equal_counts_and_digests(
        world: World, tmp_path: Path) -> None:
    r = copy(world.gallery, tmp_path / "c.db")
    assert {t.table for t in r.tables} == {t.name for t in store_copy.tables()}
    assert all(t.ok for t in r.tables)
    by_table = {t.table: t for t in r.tables}
    assert by_table["faces"].copy_rows == 15 and by_table["searches"].copy_rows == 2
    assert by_table["decisions"].copy_rows == 1
    assert r.head_seq == by_table["audit"].copy_rows == r.events
    doc = r.as_dict()
    assert doc["verified"] and doc["tables"]["faces"]["rows"] == 15


def test_a_row_digest_differs_when_one_value_differs() -> None:
    a, b = store_copy.TableSum(), store_copy.TableSum()
    a.add("faces", (1, "x", 2.5, b"\x00\x01"))
    b.add("faces", (1, "x", 2.5, b"\x00\x02"))
    assert a.rows == b.rows and a.digest != b.digest
    c = store_copy.TableSum()
    for row in [(2, "y"), (1, "x")]:
        c.add("t", row)
    d = store_copy.TableSum()
    for row in [(1, "x"), (2, "y")]:
        d.add("t", row)
    assert c.digest == d.digest  # the order the rows come in does not matter


def test_copy_back_gives_the_same_gallery(world: World, tmp_path: Path) -> None:
    one = tmp_path / "one.db"
    copy(world.gallery, one)
    with Gallery.open(one) as g:
        copy(g, tmp_path / "two.db")
        with Gallery.open(tmp_path / "two.db") as g2:
            assert contents(g2) == contents(g)
            assert audit.verify(g2, use_witness=False).ok


def test_a_destination_with_data_is_refused_and_left_alone(world: World,
                                                           tmp_path: Path) -> None:
    taken = tmp_path / "taken.db"
    copy(world.gallery, taken)
    before = taken.read_bytes()
    head = audit.head(world.gallery)
    with pytest.raises(CopyError, match="is not empty"):
        copy(world.gallery, taken)
    assert taken.read_bytes() == before
    assert audit.head(world.gallery) == head  # refused before anything was logged
    assert not list(tmp_path.glob("*.part*"))


def test_an_empty_gallery_is_a_valid_destination(world: World, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Gallery.open(empty, create=True).close()
    r = copy(world.gallery, empty)
    with Gallery.open(empty) as g:
        assert g.gallery_id == world.gallery.gallery_id
        assert store_copy.row_counts(g)["faces"] == 15 == r.as_dict()["tables"]["faces"]["rows"]


@pytest.mark.parametrize("stop_at", ["copying", "checking", "verifying"])
def test_a_cancelled_copy_leaves_no_destination(world: World, tmp_path: Path,
                                                stop_at: str) -> None:
    dst = tmp_path / "cancelled.db"
    cancel = CancelToken()
    phases = []
    for ev in copy_gallery(world.gallery, dst, cancel=cancel):
        phases.append(ev.phase)
        if ev.phase == stop_at:
            cancel.cancel()
    assert phases[-1] == "cancelled" and stop_at in phases
    assert not dst.exists()
    assert not list(tmp_path.glob("cancelled.db*"))
    # the source logged the copy it started: the attempt is on record
    head = audit.head(world.gallery)
    assert head is not None and head.kind == "gallery_copy"


def test_a_consumer_that_stops_leaves_no_destination(world: World, tmp_path: Path) -> None:
    dst = tmp_path / "stopped.db"
    steps = copy_gallery(world.gallery, dst)
    for ev in steps:
        if ev.phase == "copying":
            break
    steps.close()  # Ctrl-C in the CLI closes the generator
    assert not list(tmp_path.glob("stopped.db*"))


def test_a_copy_that_differs_from_its_source_is_not_kept(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = store_copy.insert_rows

    def lossy(conn: object, table: store_copy.Table, rows: list[tuple[object, ...]]) -> None:
        if table.name == "faces":
            rows = rows[:-1]  # one face lost on the way
        real(conn, table, rows)

    monkeypatch.setattr(store_copy, "insert_rows", lossy)
    dst = tmp_path / "lossy.db"
    with pytest.raises(CopyError, match=r"does not match its source in faces \(faces: 15 "
                                        r"rows.*14 rows"):
        copy(world.gallery, dst)
    assert not list(tmp_path.glob("lossy.db*"))


def test_display_hides_a_password() -> None:
    assert display("postgresql://fd:s3cret@db.example/gal?sslmode=require") == \
        "postgresql://fd@db.example/gal?sslmode=require"
    assert display("postgresql://fd@/gal?host=/run") == "postgresql://fd@/gal?host=/run"
    assert display(Path("/x/g.db")) == "/x/g.db"


def test_cli_gallery_copy(world: World, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = world.gallery.path
    world.gallery.close()
    dst = tmp_path / "cli-copy.db"
    monkeypatch.setenv("FACEDESK_USER", "admin")
    monkeypatch.setenv("FACEDESK_PASSWORD", "kettle-Orbit-9731")
    res = CliRunner().invoke(cli, ["gallery", "copy", str(src), str(dst), "--json",
                                   "--quiet"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["verified"] and doc["tables"]["faces"]["rows"] == 15
    again = CliRunner().invoke(cli, ["gallery", "copy", str(src), str(dst)])
    assert again.exit_code == 1
    assert "error: " in again.output and "is not empty" in again.output
    world.gallery = Gallery.open(src)


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_sqlite_to_postgresql_and_back(world: World, tmp_path: Path, pg_url: str) -> None:
    src = world.gallery
    r = copy(src, pg_url, user_id="admin")
    assert r.destination == pg_url and all(t.ok for t in r.tables)
    with Gallery.open(pg_url) as pg:
        assert pg.is_server and pg.gallery_id == src.gallery_id
        assert contents(pg) == contents(src)
        assert audit.verify(pg, use_witness=False).ok
        head = audit.head(pg)
        assert head is not None and head.kind == "gallery_copy" and head.data["to"] == pg_url
        # the identities continue after the copied ids: a new case gets the next id
        case = cases.open_case(accounts.sign_in_os(pg, "os-ann"), "2026-0103", PURPOSE)
        assert case.id == 2
        assert audit.verify(pg, use_witness=False).ok
        back = tmp_path / "back.db"
        r2 = copy(pg, back)
        assert r2.source == pg_url
        with Gallery.open(back) as g:
            assert contents(g) == contents(pg)
            assert audit.verify(g, use_witness=False).ok


def test_postgresql_to_postgresql(world: World, pg_server: object, pg_url: str) -> None:
    copy(world.gallery, pg_url)
    other = pg_server.url(pg_server.new_database())  # type: ignore[attr-defined]
    with Gallery.open(pg_url) as pg:
        copy(pg, other)
        with Gallery.open(other) as pg2:
            assert contents(pg2) == contents(pg)


def test_a_cancelled_copy_to_postgresql_writes_nothing(world: World, pg_url: str) -> None:
    cancel = CancelToken()
    phases = []
    for ev in copy_gallery(world.gallery, pg_url, cancel=cancel):
        phases.append(ev.phase)
        if ev.phase == "checking":
            cancel.cancel()
    assert phases[-1] == "cancelled"
    with Gallery.open(pg_url) as pg:
        assert store_copy.data_tables(pg) == []
        assert sum(store_copy.row_counts(pg).values()) == 3  # the new gallery's own meta
    copy(world.gallery, pg_url)  # and it can be copied into afterwards


def test_a_postgresql_destination_with_data_is_refused(world: World, pg_url: str) -> None:
    copy(world.gallery, pg_url)
    with Gallery.open(pg_url) as pg:
        before = store_copy.row_counts(pg)
    with pytest.raises(CopyError, match="is not empty"):
        copy(world.gallery, pg_url)
    with Gallery.open(pg_url) as pg:
        assert store_copy.row_counts(pg) == before


def test_cli_copy_to_postgresql(world: World, pg_url: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = world.gallery.path
    world.gallery.close()
    monkeypatch.setenv("FACEDESK_USER", "admin")
    monkeypatch.setenv("FACEDESK_PASSWORD", "kettle-Orbit-9731")
    res = CliRunner().invoke(cli, ["gallery", "copy", str(src), pg_url, "--quiet"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"copied {src} to {pg_url}" in res.stdout and "verified" in res.stdout
    with_password = pg_url.replace("facedesk_test_admin@", "facedesk_test_admin:pw@")
    res = CliRunner().invoke(cli, ["gallery", "copy", str(src), with_password])
    assert res.exit_code != 0 and "pgpass" in res.output
    world.gallery = Gallery.open(src)


def test_a_copy_of_a_server_gallery_is_a_backup_restore_accepts(
        world: World, tmp_path: Path, pg_url: str) -> None:
    """`facedesk backup` of a gallery on a server says to copy it to a file: that file is
    a backup `facedesk restore` checks and puts in place like its own."""
    copy(world.gallery, pg_url)
    saved = tmp_path / "saved.db"
    with Gallery.open(pg_url) as pg:
        copy(pg, saved)
        expected = contents(pg)
    restored = tmp_path / "restored" / "gallery.db"
    result = run_to_end(backups.restore(saved, restored))
    assert result is not None and result.copy.gallery_id == world.gallery.gallery_id
    with Gallery.open(restored) as g:
        got = contents(g)
        assert audit.verify(g, use_witness=False).ok
    # the same rows; the restored gallery's log has one more event: the restore itself
    assert {k: v for k, v in got.items() if k != "audit"} == \
        {k: v for k, v in expected.items() if k != "audit"}
    assert got["audit"][:-1] == expected["audit"]


def test_a_destination_that_refuses_a_write_is_a_one_line_error(
        world: World, tmp_path: Path, pg_server: object) -> None:
    """A login that may not write the tables (not the database's owner): a CopyError
    naming the refusal, nothing written."""
    name = pg_server.new_database()  # type: ignore[attr-defined]
    with Gallery.open(pg_server.url(name), create=True):  # type: ignore[attr-defined]
        pass  # the tables, owned by the superuser
    login = f"reader_{name}"  # a role of its own (roles are the server's, not the database's)
    pg_server.admin_sql(f"CREATE ROLE {login} LOGIN; "  # type: ignore[attr-defined]
                        f'GRANT CONNECT ON DATABASE "{name}" TO {login}; '
                        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {login}; "
                        f"GRANT DELETE ON meta TO {login}", name)
    url = pg_server.url(name, login)  # type: ignore[attr-defined]
    with pytest.raises(CopyError, match=r"could not be written \(.+\): nothing was "
                                        r"written") as info:
        copy(world.gallery, url)
    assert "\n" not in info.value.message
    with Gallery.open(pg_server.url(name)) as pg:  # type: ignore[attr-defined]
        assert store_copy.data_tables(pg) == []
