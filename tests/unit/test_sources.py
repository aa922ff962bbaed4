from __future__ import annotations

from pathlib import Path

import pytest

from facedesk.app.sources import header_problem, list_folder, read_manifest
from facedesk.errors import ManifestError, SourceError


def touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def test_folder_per_person(tmp_path: Path) -> None:
    touch(tmp_path / "Ann_Lee" / "a.jpg")
    touch(tmp_path / "Ann_Lee" / "sub" / "b.jpg")
    touch(tmp_path / "Bo" / "c.png")
    touch(tmp_path / "Bo" / ".hidden.jpg")
    touch(tmp_path / "README.txt")  # not a photo: left alone
    touch(tmp_path / "stray.jpg")  # a photo that belongs to nobody: reported
    listing = list_folder(tmp_path)
    assert listing.kind == "folders"
    got = sorted((i.person_id, i.display) for i in listing.items)
    assert got == [("Ann_Lee", "Ann_Lee/a.jpg"), ("Ann_Lee", "Ann_Lee/sub/b.jpg"),
                   ("Bo", "Bo/c.png")]
    assert listing.items[0].person_name == "Ann Lee"
    assert [(p.path, p.code) for p in listing.problems] == [("stray.jpg", "not_in_person_folder")]


def test_flat_folder_and_pattern(tmp_path: Path) -> None:
    touch(tmp_path / "1001_a.jpg")
    touch(tmp_path / "1001_b.jpg")
    touch(tmp_path / "x.jpg")
    flat = list_folder(tmp_path)
    assert flat.kind == "flat" and {i.person_id for i in flat.items} == {"1001_a", "1001_b", "x"}
    mapped = list_folder(tmp_path, person_pattern=r"^(?P<person>\d+)_")
    assert sorted(i.person_id for i in mapped.items) == ["1001", "1001"]
    assert [p.code for p in mapped.problems] == ["no_person"]
    with pytest.raises(SourceError, match="needs a group"):
        list_folder(tmp_path, person_pattern=r"\d+")
    with pytest.raises(SourceError, match="not valid"):
        list_folder(tmp_path, person_pattern=r"(")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        list_folder(tmp_path / "nope")


def write(p: Path, text: str, encoding: str = "utf-8") -> Path:
    p.write_text(text, encoding=encoding)
    return p


def test_manifest_columns_metadata_and_bad_rows(tmp_path: Path) -> None:
    touch(tmp_path / "img" / "a.jpg")
    csv = write(tmp_path / "m.csv",
                "\ufeffPath,Person_ID,name,sex,notes\n"
                'img/a.jpg,P1,"Doe, Jane",F,"said ""hi"""\n'
                "img/b.jpg,P2,Roe,M\n"          # too few fields
                "img/c.jpg,,X,M,\n"             # empty person id
                "../outside.jpg,P3,Out,F,\n"    # escapes the folder
                "\n"
                "img/d.jpg,P4,,,\n")
    listing = read_manifest(csv)
    assert [(i.display, i.person_id, i.person_name) for i in listing.items] == [
        ("img/a.jpg", "P1", "Doe, Jane"), ("img/d.jpg", "P4", None)]
    assert listing.items[0].metadata == {"name": "Doe, Jane", "sex": "F", "notes": 'said "hi"'}
    assert listing.items[0].path == tmp_path / "img" / "a.jpg"
    codes = [(p.code, p.line) for p in listing.problems]
    assert codes == [("bad_row", 3), ("bad_row", 4), ("outside_folder", 5)]


def test_manifest_missing_columns_named(tmp_path: Path) -> None:
    csv = write(tmp_path / "m.csv", "file,person\nimg/a.jpg,P1\n")
    with pytest.raises(ManifestError, match="missing required columns path, person_id"):
        read_manifest(csv)
    with pytest.raises(ManifestError, match="empty"):
        read_manifest(write(tmp_path / "e.csv", ""))
    with pytest.raises(ManifestError, match="more than once"):
        read_manifest(write(tmp_path / "d.csv", "path,person_id,sex,Sex\n"))


def test_manifest_semicolons_and_base_folder(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    touch(photos / "a.jpg")
    csv = write(tmp_path / "lists" / "m.csv" if (tmp_path / "lists").mkdir() is None else "",
                "path;person_id;race\na.jpg;7;W\n")
    listing = read_manifest(csv, base=photos)
    assert listing.items[0].path == photos / "a.jpg"
    assert listing.items[0].metadata == {"race": "W"}


def test_manifest_symlink_escape_is_caught(tmp_path: Path) -> None:
    outside = touch(tmp_path / "secret" / "x.jpg")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside.parent)
    csv = write(root / "m.csv", "path,person_id\nlink/x.jpg,P\n")
    listing = read_manifest(csv)
    assert [p.code for p in listing.problems] == ["outside_folder"]


def test_manifest_quoted_quotes_and_commas(tmp_path: Path) -> None:
    # a real line of ../shared/data/congress-2014/members.csv
    csv = write(tmp_path / "m.csv",
                "path,person_id,name,sex\n"
                'images/J000288.jpg,J000288,"Henry C. ""Hank"" Johnson, Jr.",M\n')
    listing = read_manifest(csv)
    assert listing.problems == []
    assert listing.items[0].person_name == 'Henry C. "Hank" Johnson, Jr.'


def test_manifest_column_mapping_and_preview(tmp_path: Path) -> None:
    from facedesk.app.sources import manifest_preview

    touch(tmp_path / "a.jpg")
    csv = write(tmp_path / "m.csv", "File;Booking no.;Full name;Sex\na.jpg;B-7;Ann Lee;F\n")
    with pytest.raises(ManifestError, match="path, person_id"):
        read_manifest(csv)
    listing = read_manifest(csv, columns_map={"path": "File", "person_id": "Booking no.",
                                              "name": "Full name"})
    item = listing.items[0]
    assert (item.person_id, item.person_name) == ("B-7", "Ann Lee")
    assert item.metadata == {"Full name": "Ann Lee", "Sex": "F"}
    with pytest.raises(ManifestError, match="no column named 'Nope'"):
        read_manifest(csv, columns_map={"path": "Nope"})
    with pytest.raises(ManifestError, match="must be different columns"):
        read_manifest(csv, columns_map={"path": "File", "person_id": "File"})
    assert manifest_preview(csv) == (["File", "Booking no.", "Full name", "Sex"],
                                     [["a.jpg", "B-7", "Ann Lee", "F"]])


def test_the_header_checks_are_one_function_for_the_import_and_its_dialog() -> None:
    cols = ["File", "Booking no.", "Name", "name"]
    assert header_problem(cols, {"path": "File", "person_id": "Booking no."}) == \
        header_problem(cols, {"path": "File", "person_id": "Booking no.", "name": ""})
    problem = header_problem(cols, {"path": "File", "person_id": "Booking no."})
    assert problem is not None and (problem.kind, problem.names) == ("duplicate", ("name",))
    problem = header_problem(cols, {"path": "File", "person_id": "File"})
    assert problem is not None and problem.kind == "same_column"
    problem = header_problem(["file", "sex"])
    assert problem is not None and problem.names == ("path", "person_id")
    assert "missing required columns path, person_id (found: file, sex)" in \
        problem.message("m.csv")
    assert header_problem(["path", "person_id", "sex"]) is None
