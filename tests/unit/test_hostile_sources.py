"""The hostile corpus (tests/hostile.py) without the real engine: listing, manifest
parsing, image loading and the import with the fake engine. A synthetic photo stands in
for the LFW one, so "stored with a face" is only checked as "stored" here; the real
engine's faces are checked in tests/integration/test_hostile_corpus.py."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FAKE_FACTORY, one_face
from hostile import (
    IGNORED,
    STORED,
    Corpus,
    build_corpus,
    restore_permissions,
    tiff_pages,
)
from PIL import Image

from facedesk import cli as cli_module
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.sources import list_folder, read_manifest, shown_name
from facedesk.cli import options as cli_options
from facedesk.domain import imaging
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError, ManifestError, SourceError
from facedesk.store import Gallery

#: problem codes load_image / read_file give
IMAGE_CODES = ("missing", "unreadable", "unsupported", "too_large")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    photo = root / "base.png"
    one_face(3, size=(250, 250)).save(photo)
    c = build_corpus(root / "corpus", photo)
    yield c
    restore_permissions(c)


def test_corpus_has_at_least_40_distinct_kinds(corpus: Corpus) -> None:
    assert len(corpus.kinds) >= 40
    keys = [c.key for c in corpus.people_cases]
    assert len(keys) == len(set(keys))


def test_every_file_loads_or_fails_with_its_code(corpus: Corpus) -> None:
    """What read_file + load_image (the importer's steps) make of every file."""
    failures = []
    for c in corpus.people_cases:
        if c.path is None or c.outcome not in (*STORED, *IMAGE_CODES):
            continue
        started = time.monotonic()
        try:
            loaded = imaging.load_image(imaging.read_file(c.path), name=c.display)
            got = "stored"
        except FaceDeskError as exc:
            got, loaded = exc.code, None
        seconds = time.monotonic() - started
        want = "stored" if c.outcome in STORED else c.outcome
        if got != want:
            failures.append(f"{c.kind}: {want} expected, got {got}")
        if loaded is not None:
            assert loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3, c.kind
        if seconds > 3:
            failures.append(f"{c.kind}: took {seconds:.1f} s")
    assert not failures, "\n".join(failures)


def test_folder_listing_reports_links_and_names(corpus: Corpus) -> None:
    listing = list_folder(corpus.people)
    items = {i.display for i in listing.items}
    problems = {p.path: p.code for p in listing.problems}
    assert len(problems) == len(listing.problems)
    for c in corpus.people_cases:
        if c.outcome == IGNORED:
            assert c.display not in items and c.display not in problems, c.kind
        elif c.display in problems:
            assert problems.pop(c.display) == c.outcome, c.kind
        else:
            assert c.display in items, c.kind
            items.remove(c.display)
    assert not items and not problems
    assert {p.code for p in listing.problems} >= {"symlink_loop", "not_followed", "bad_name",
                                                  "missing", "not_in_person_folder"}


def test_manifests_listed_row_by_row(corpus: Corpus) -> None:
    for m in corpus.manifests:
        if m.error is not None:
            with pytest.raises(ManifestError) as err:
                read_manifest(m.csv)
            assert m.error in err.value.message.lower(), m.kind
            continue
        listing = read_manifest(m.csv)
        items = {(i.display, i.line): i for i in listing.items}
        problems = {(p.path, p.line): p for p in listing.problems}
        assert len(problems) == len(listing.problems), m.kind
        for c in m.cases:
            if c.key in problems:
                p = problems.pop(c.key)
                assert p.code == c.outcome, (c.kind, p)
                assert c.reason is None or c.reason in p.reason.lower(), (c.kind, p.reason)
            else:
                item = items.pop(c.key)  # listed: the importer decides the rest
                assert ".." not in item.path.parts and item.path.is_absolute(), c.kind
        assert not items and not problems, (m.kind, items, problems)


def test_corpus_import_with_the_fake_engine(corpus: Corpus, tmp_path: Path) -> None:
    """Every bad file reported with its code, every good one stored, with the fake engine
    (it finds no face in most of these photos, which is allowed here)."""
    with Gallery.open(tmp_path / "g.db", create=True) as g:
        *_, final = run_import(g, corpus.people, options=ImportOptions(workers=1),
                               engine=EngineSpec(FAKE_FACTORY))
        stored = {Path(p).resolve() for (p,) in g.conn.execute("SELECT path FROM photos")}
    assert final.status == "completed"
    problems = {p.path: p.code for p in final.problems}
    for c in corpus.people_cases:
        got = problems.pop(c.display, None)
        if c.outcome in STORED:
            assert c.path is not None and c.path.resolve() in stored, c.kind
            assert got in (None, "no_face"), (c.kind, got)
            stored.remove(c.path.resolve())
        elif c.outcome == IGNORED:
            assert got is None, c.kind
        elif c.outcome == "duplicate":
            assert got == "duplicate" or (got is None and c.path is not None), c.kind
        else:
            assert got == c.outcome, (c.kind, got)
    assert not problems
    assert not stored  # nothing but the good files


# --- the fixes, one by one ------------------------------------------------------------------


def _within(seconds: float, fn, *args):
    """fn(*args) in a thread; fails (instead of hanging) when it takes longer."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn.__name__} still running after {seconds} s"
    return out


def test_special_files_are_refused_without_reading(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    for name, words in (("pipe.jpg", "named pipe"), ("zero.jpg", "device"),
                        ("loop.jpg", "symbolic links")):
        out = _within(10, imaging.read_file, tmp_path / name)
        err = out.get("error")
        assert isinstance(err, FaceDeskError) and err.code == "unreadable", (name, out)
        assert words in err.message, err.message


def test_read_file_limits(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    small.write_bytes(b"x" * 100)
    assert imaging.read_file(small) == b"x" * 100
    with pytest.raises(FaceDeskError, match="limit is 0 MB") as err:
        imaging.read_file(small, max_bytes=99)
    assert err.value.code == "too_large"
    with pytest.raises(FaceDeskError, match="is a folder") as err:
        imaging.read_file(tmp_path)


def test_a_tiff_of_many_pages_opens_at_its_first_page_quickly() -> None:
    data = tiff_pages(30_000)
    started = time.monotonic()
    loaded = imaging.load_image(data)
    assert time.monotonic() - started < 2.0  # walking every page took ~10 s
    assert (loaded.width, loaded.height, loaded.format) == (1, 1, "TIFF")


def test_formats_that_are_not_photos_are_refused_without_their_decoder(monkeypatch) -> None:
    from PIL import EpsImagePlugin

    def never(*_a, **_k):  # pragma: no cover - must not run
        raise AssertionError("Ghostscript would have run")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", never, raising=False)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(FaceDeskError, match="PostScript") as err:
        imaging.load_image(eps)
    assert err.value.code == "unsupported"
    ico = io.BytesIO()
    one_face(1).save(ico, "ICO")
    with pytest.raises(FaceDeskError, match="icon") as err:
        imaging.load_image(ico.getvalue())
    assert err.value.code == "unsupported"


def test_damaged_headers_are_unreadable_not_unsupported() -> None:
    out = io.BytesIO()
    one_face(1).save(out, "PNG")
    png = bytearray(out.getvalue())
    png[20] ^= 1  # IHDR no longer matches its checksum
    with pytest.raises(FaceDeskError, match="damaged PNG") as err:
        imaging.load_image(bytes(png))
    assert err.value.code == "unreadable"
    with pytest.raises(FaceDeskError, match="damaged JPEG") as err:
        imaging.load_image(b"\xff\xd8\xff")
    assert err.value.code == "unreadable"


def test_manifest_rows_keep_their_first_line_and_open_quotes_are_reported(
        tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")
    csv = tmp_path / "m.csv"
    csv.write_text('path,person_id,notes\n'
                   'a.jpg,P1,"two\nlines, fine"\n'          # 2-3: one row, quoted newline
                   'b.jpg,P2,"open\nc.jpg,P3,x\nd.jpg,P4,y\n'  # 4-: quote never closed
                   , encoding="utf-8")
    listing = read_manifest(csv)
    assert [(i.display, i.line) for i in listing.items] == [("a.jpg", 2)]
    (p,) = listing.problems
    assert (p.code, p.line) == ("bad_row", 4)
    assert "lines 4-6" in p.reason and "quote" in p.reason


def test_manifest_encodings_and_paths(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    csv = tmp_path / "m.txt"
    csv.write_bytes("path\tperson_id\tname\r\nphotos\\a.jpg\tP1\tZoë\r\n"
                    "photos/../photos/a.jpg\tP2\t\r\n".encode("utf-16"))
    listing = read_manifest(csv)
    assert [(i.person_id, i.person_name, i.path) for i in listing.items] == [
        ("P1", "Zoë", tmp_path.resolve() / "photos" / "a.jpg"),
        ("P2", None, tmp_path.resolve() / "photos" / "a.jpg")]
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"path,person_id\nphotos/a\x00.jpg,P1\n")
    (p,) = read_manifest(nul).problems
    assert (p.code, p.line) == ("bad_row", 2) and "NUL" in p.reason


def test_folder_problems_name_non_utf8_files_readably(tmp_path: Path) -> None:
    person = tmp_path / "P1"
    person.mkdir()
    with open(os.fsencode(person) + b"/caf\xe9.jpg", "wb") as f:
        f.write(b"x")
    listing = list_folder(tmp_path)
    assert not listing.items
    (p,) = listing.problems
    assert (p.path, p.code) == ("P1/caf\\xe9.jpg", "bad_name")
    p.path.encode("utf-8")  # storable text
    assert shown_name("plain.jpg") == "plain.jpg"
    bad_root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/gal\xe9rie"))
    bad_root.mkdir()
    with pytest.raises(SourceError, match="UTF-8"):
        list_folder(bad_root)


def test_cli_prints_each_problem_on_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cli_options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    person = tmp_path / "src" / "P1"
    person.mkdir(parents=True)
    (person / "two\nlines.jpg").write_bytes(b"not an image")
    (person / "\x1b[2Jclear.jpg").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(person / "ok.png")
    res = CliRunner().invoke(cli_module.cli, ["import", str(tmp_path / "src"), "--db",
                                              str(tmp_path / "g.db"), "--workers", "1",
                                              "--quiet"])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output
    lines = res.output.splitlines()
    assert "  P1/two\\nlines.jpg: not an image, or an image format that cannot be read " \
           "(photos must be JPEG, PNG, GIF, BMP, TIFF, WebP, PNM, JPEG 2000 or AVIF)" in lines
    assert "  P1/\\x1b[2Jclear.jpg: file is empty (0 bytes)" in lines
