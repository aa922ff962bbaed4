"""The command line with the real engine: exit codes and one-line messages for what users
get wrong, and the searches an analyst runs (drawn box, chosen face, info).

Most cases run in-process (click's CliRunner, fast); the ones that prove "one line, no
traceback" also run as real processes.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image
from prerequisites import missing

from facedesk.app import accounts, cases
from facedesk.cli import cli
from facedesk.store import Gallery

PERSON = "George_W_Bush"


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def search_in(case_gallery, probe: Path, *args: str) -> Result:
    """`facedesk search PROBE` in the case of the gallery conftest.case_gallery prepared."""
    return invoke("search", probe, "--db", case_gallery.db, "--case", case_gallery.case, *args)


def assert_user_error(res: Result, *fragments: str) -> str:
    """Exit code 1, one line 'error: ...' on stderr naming every fragment, no traceback."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert "Traceback" not in res.output
    return lines[0]


@pytest.fixture
def grey_probe(tmp_path: Path) -> Path:
    p = tmp_path / "no_face.jpg"
    Image.new("RGB", (320, 240), (120, 120, 120)).save(p, "JPEG")
    return p


@pytest.fixture
def foreign_sqlite(tmp_path: Path) -> Path:
    """An SQLite database made by another program."""
    p = tmp_path / "other.db"
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers(name) VALUES ('x')")
    conn.close()
    return p


def _schema(db: Path) -> tuple[list[tuple], int, str]:
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall(),
                conn.execute("PRAGMA user_version").fetchone()[0],
                conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


# --- errors as a real process: one line, exit code 1, no traceback ------------------------


def test_probe_without_face_real_process(case_gallery, grey_probe: Path, run_facedesk) -> None:
    proc = run_facedesk("search", grey_probe, "--db", case_gallery.db, "--case",
                        case_gallery.case)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no face" in lines[0]
    assert "--box" in lines[0]  # says what to do about it
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["search", "info", "import"])
def test_non_gallery_files_refused_and_left_alone(
        tmp_path: Path, command: str, lfw_gallery, foreign_sqlite: Path, run_facedesk,
        photos_of) -> None:
    text = tmp_path / "notes.db"
    text.write_text("this is a text file, not a gallery\n" * 20)
    text_before = text.read_bytes()
    schema_before = _schema(foreign_sqlite)
    probe = lfw_gallery.probes[PERSON]
    folder = tmp_path / "src" / PERSON
    folder.mkdir(parents=True)
    (folder / "a.jpg").symlink_to(photos_of(PERSON)[0])
    extra = {"search": [probe, "--case", "CASE-1"], "info": [],
             "import": [folder.parent, "--workers", "1"]}
    for db in (text, foreign_sqlite):
        proc = run_facedesk(command, *extra[command], "--db", db)
        assert proc.returncode == 1, (db, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines and "not a FaceDesk gallery" in lines[-1], proc.stderr
        assert str(db) in lines[-1]
        assert "Traceback" not in proc.stderr
    assert text.read_bytes() == text_before
    assert _schema(foreign_sqlite) == schema_before


# --- errors in-process ----------------------------------------------------------------------


def test_missing_probe(case_gallery, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "still.jpg"
    assert_user_error(search_in(case_gallery, missing), str(missing), "file not found")


def test_probe_that_is_not_an_image(case_gallery, tmp_path: Path) -> None:
    p = tmp_path / "still.jpg"
    p.write_text("not a picture")
    assert_user_error(search_in(case_gallery, p), "not an image")


def test_info_on_missing_gallery_does_not_create_it(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    assert_user_error(invoke("info", "--db", db), str(db), "no gallery there")
    assert_user_error(invoke("search", tmp_path / "x.jpg", "--db", db, "--case", "CASE-1"),
                      "no gallery there")
    assert not db.exists()


def test_gallery_of_another_engine_is_not_searched(case_gallery, tmp_path: Path) -> None:
    db = tmp_path / "other_engine.db"
    shutil.copy(case_gallery.db, db)  # with its mode: private, as made
    with sqlite3.connect(db) as conn:
        (identity,), = conn.execute("SELECT identity FROM engines").fetchall()
        other = json.loads(identity)
        other["dlib"] = "0.0.1"
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO engines(id, identity, first_used) VALUES (?, ?, ?)",
                     ("0123456789abcdef", json.dumps(other), "2020-01-01T00:00:00+00:00"))
        conn.execute("UPDATE faces SET engine_id = '0123456789abcdef'")
    conn.close()
    res = invoke("search", case_gallery.probes[PERSON], "--db", db, "--case", "CASE-1",
                 "--json")
    assert_user_error(res, "encoded with", "0.0.1")
    assert res.stdout == ""


# --- searches --------------------------------------------------------------------------------


def test_info_json_reports_the_gallery(lfw_gallery) -> None:
    res = invoke("info", "--db", lfw_gallery.db, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    with sqlite3.connect(lfw_gallery.db) as conn:
        persons, photos, faces = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                  for t in ("persons", "photos", "faces"))
    conn.close()
    n_gallery = sum(len(v) for v in lfw_gallery.gallery_photos.values())
    assert (doc["persons"], doc["photos"], doc["faces"]) == (persons, photos, faces)
    assert (persons, photos) == (30, n_gallery)
    assert doc["photos_without_face"] == photos - faces
    assert [e["identity"]["engine"] for e in doc["engines"]] == ["dlib"]
    assert doc["last_import"]["status"] == "completed"
    assert doc["last_import"]["imported"] == n_gallery

    text = invoke("info", "--db", lfw_gallery.db)
    assert text.exit_code == 0
    assert re.search(r"persons\s+30\b", text.stdout)
    assert re.search(rf"faces\s+{faces}\b", text.stdout)


def test_search_text_output_speaks_of_candidates(case_gallery) -> None:
    with Gallery.open(case_gallery.db) as g:  # the administrator's top_k limits what is shown
        accounts.sign_in(g, "admin", "quartz-Lantern-6150").set_setting("top_k", 3)
    res = search_in(case_gallery, case_gallery.probes[PERSON], "--top", "3")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "searched 30 persons" in out
    assert "3 candidates" in out
    assert "investigative leads only" in out
    assert re.search(r"search \d+ recorded in case CASE-1", out)
    rows = [line for line in out.splitlines() if re.match(r"\s+\d+\s+\d\.\d{4}", line)]
    assert len(rows) == 3 and PERSON in rows[0]
    assert not re.search(r"(?<!false )\bmatch|identified|\bhit\b", out, re.IGNORECASE)


def test_search_on_a_drawn_box(case_gallery) -> None:
    probe = case_gallery.probes[PERSON]
    detected = json.loads(search_in(case_gallery, probe, "--json").stdout)
    top, right, bottom, left = detected["searched_face"]["box"]

    res = search_in(case_gallery, probe, "--json", "--box", f"{top},{right},{bottom},{left}")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["searched_face"]["index"] == -1  # a drawn box, not a detected face
    assert doc["searched_face"]["box"] == [top, right, bottom, left]
    assert doc["candidates"][0]["person_id"] == PERSON
    with Gallery.open(case_gallery.db) as g:  # recorded in the case, drawn box and all
        recorded = cases.search_record(g, doc["search_id"])
    assert recorded.probe_box == [top, right, bottom, left]
    assert recorded.candidates[0]["person_id"] == PERSON
    # the same box gives the same encoding, hence the same distance, as detection did
    assert doc["candidates"][0]["distance"] == pytest.approx(
        detected["candidates"][0]["distance"], abs=1e-6)

    text = search_in(case_gallery, probe, "--box", f"{top},{right},{bottom},{left}")
    assert text.exit_code == 0 and "hand-drawn box" in text.stdout

    assert_user_error(search_in(case_gallery, probe, "--box", "1,2,3"),
                      "four whole numbers")
    assert_user_error(search_in(case_gallery, probe, "--box", "10,5,20,40"), "empty")
    assert_user_error(search_in(case_gallery, probe, "--box", "1000,1100,1100,1000"),
                      "outside")


def test_face_number_beyond_the_faces_found(case_gallery, shared_data: Path) -> None:
    probe = case_gallery.probes[PERSON]
    doc = json.loads(search_in(case_gallery, probe, "--json").stdout)
    assert len(doc["probe"]["faces"]) == 1, "the probe should show one face"
    assert_user_error(search_in(case_gallery, probe, "--face", "5"),
                      "face 5 does not exist", "has 1 face ")

    two = shared_data / "fr-examples" / "examples" / "two_people.jpg"
    if not two.is_file():
        missing(f"{two} not found")
    res = search_in(case_gallery, two, "--face", "1", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["probe"]["faces"]) == 2
    assert doc["searched_face"]["index"] == 1
    assert doc["searched_face"]["box"] == doc["probe"]["faces"][1]["box"]
    assert_user_error(search_in(case_gallery, two, "--face", "2"),
                      "face 2 does not exist", "has 2 faces (0..1)")
    # not a number at all: click's usage error (exit code 2), still no traceback
    bad = search_in(case_gallery, two, "--face", "left")
    assert bad.exit_code == 2 and "Traceback" not in bad.output
