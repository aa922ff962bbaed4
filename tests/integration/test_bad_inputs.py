"""Import with the real engine from sources full of the files a real gallery holds:
odd image modes, rotated photos, damaged files, non-images, duplicates and bad manifest
rows. Every good photo must be stored with its face; every bad input must be reported
with its reason code and a reason, and nothing else may be stored.

The bad files are made by the tests, in tmp_path, from the bytes of a few LFW photos.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facedesk.app.importer import ImportOptions, run_import
from facedesk.cli import cli
from facedesk.errors import ManifestError
from facedesk.store import Gallery

#: two photos of one face stored from differently encoded files stay this close
SAME_FACE_DISTANCE = 0.2

PERSON_A = "Aaron_Peirsol"  # the base photo of the format variants
PERSON_B = "Al_Gore"


def _save(img: Image.Image, path: Path, fmt: str, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kwargs)
    return path


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _rows(db: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _encoding(db: Path, path: Path) -> np.ndarray:
    (blob,), = _rows(db, "SELECT f.encoding FROM faces f JOIN photos p ON p.id = f.photo_id "
                         "WHERE p.path = ?", str(path))
    return np.frombuffer(blob, dtype="<f4").astype(np.float64)


@pytest.fixture
def messy_tree(tmp_path: Path, photos_of) -> tuple[Path, dict[str, Path], dict[str, str]]:
    """A folder per person; returns (root, good files by label, expected problem codes
    by display path)."""
    root = tmp_path / "people"
    a_src, b_src = photos_of(PERSON_A)[0], photos_of(PERSON_B)[0]
    # portrait-shaped, so a photo left lying on its side has other dimensions
    upright = Image.open(a_src).convert("RGB").crop((25, 0, 225, 250))  # 200 x 250
    good = {
        "plain": _save(upright, root / "Plain" / "upright.jpg", "JPEG", quality=95),
        "copied_jpeg": root / PERSON_B / "a_original.jpg",
        "cmyk": _save(upright.convert("CMYK"), root / "Cmyk" / "cmyk.jpg", "JPEG",
                      quality=95),
        # 16-bit greyscale: the full 0..65535 range, as scanners and medical software write
        "grey8": _save(upright.convert("L"), root / "Grey8" / "grey8.png", "PNG"),
        "png16": _save(Image.fromarray(np.asarray(upright.convert("L"), np.uint16) * 257),
                       root / "Grey16" / "grey16.png", "PNG"),
        "gif": _save(upright, root / "Palette" / "face.gif", "GIF"),
        # pixels stored on their side; the EXIF Orientation tag says how to turn them
        "exif6": _save(upright.transpose(Image.Transpose.ROTATE_90),
                       root / "Rotated" / "orientation6.jpg", "JPEG", quality=95,
                       exif=_exif(6)),
        "exif8": _save(upright.transpose(Image.Transpose.ROTATE_270),
                       root / "Rotated" / "orientation8.jpg", "JPEG", quality=95,
                       exif=_exif(8)),
    }
    good["copied_jpeg"].parent.mkdir(parents=True)
    shutil.copyfile(b_src, good["copied_jpeg"])
    shutil.copyfile(b_src, root / PERSON_B / "b_same_photo.jpg")

    broken = root / "Broken"
    broken.mkdir()
    jpeg = a_src.read_bytes()
    (broken / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (broken / "not_an_image.jpg").write_text("name,dob\nJohn Doe,1970-01-01\n")
    (broken / "empty.jpg").write_bytes(b"")
    _save(Image.new("RGB", (1, 1), (90, 60, 40)), broken / "one_pixel.png", "PNG")
    _save(Image.new("RGB", (250, 250), (128, 128, 128)), broken / "flat_grey.jpg", "JPEG")
    noise = np.random.default_rng(7).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    _save(Image.fromarray(noise), broken / "noise.png", "PNG")
    # 64 megapixels in a few kilobytes: a decompression bomb, refused before decoding
    _save(Image.new("1", (8000, 8000)), broken / "bomb.png", "PNG")
    # beside the person folders: a photo belongs to nobody, other files are ignored
    shutil.copyfile(a_src, root / "stray.jpg")
    (root / "README.txt").write_text("booking photos, one folder per person\n")

    expected = {
        "Broken/truncated.jpg": "unreadable",
        "Broken/not_an_image.jpg": "unsupported",
        "Broken/empty.jpg": "unreadable",
        "Broken/bomb.png": "too_large",
        "Broken/one_pixel.png": "no_face",
        "Broken/flat_grey.jpg": "no_face",
        "Broken/noise.png": "no_face",
        f"{PERSON_B}/b_same_photo.jpg": "duplicate",
        "stray.jpg": "not_in_person_folder",
    }
    return root, good, expected


def test_folder_import_stores_good_photos_and_reports_each_bad_one(
        tmp_path: Path, messy_tree, real_engine_spec, import_to_end) -> None:
    root, good, expected = messy_tree
    db = tmp_path / "gallery.db"
    with Gallery.open(db, create=True) as g:
        final = import_to_end(g, root, workers=1, spec=real_engine_spec)
        counts = g.counts()
        stored_problems = g.problems(final.run_id)

    # every bad input reported once, with the expected code and a reason
    got = {p.path: p.code for p in final.problems}
    assert got == expected
    for p in final.problems:
        assert p.reason.strip(), p
        assert not p.reason.startswith(p.path), p  # the path is not repeated
    assert "README.txt" not in got
    dup = next(p for p in final.problems if p.code == "duplicate")
    assert "a_original.jpg" in dup.reason
    assert sorted((p.path, p.code, p.reason) for p in stored_problems) == \
        sorted((p.path, p.code, p.reason) for p in final.problems)

    c = final.counts
    no_face = [k for k, v in expected.items() if v == "no_face"]
    failed = [k for k, v in expected.items() if v not in ("no_face", "duplicate")]
    assert final.status == "completed"
    assert c.total == len(good) + len(expected)
    assert c.imported == len(good) + len(no_face)
    assert c.no_face == len(no_face)
    assert c.duplicates == 1
    assert c.failed == len(failed)
    assert c.already_stored == 0

    # every good photo stored with its face; no-face photos stored without one; the
    # failed ones and the duplicate not at all
    assert counts["photos"] == len(good) + len(no_face)
    assert counts["faces"] == len(good)
    assert counts["photos_without_face"] == len(no_face)
    rows = {Path(r[0]): r[1:] for r in _rows(
        db, "SELECT p.path, p.format, p.width, p.height, p.faces_found, f.id, f.box_top, "
            "f.box_right, f.box_bottom, f.box_left FROM photos p "
            "LEFT JOIN faces f ON f.photo_id = p.id")}
    for label, path in good.items():
        assert path in rows, f"{label} photo {path} not stored"
        _fmt, _w, _h, n_found, face_id, *_ = rows[path]
        assert n_found >= 1 and face_id is not None, f"{label}: no face stored"
    for rel in no_face:
        _fmt, _w, _h, n_found, face_id, *_ = rows[root / rel]
        assert n_found == 0 and face_id is None
    for rel in failed:
        assert root / rel not in rows
    assert root / PERSON_B / "b_same_photo.jpg" not in rows

    # formats as decoded, and the rotated photos stored upright
    assert rows[good["png16"]][0] == "PNG"
    assert rows[good["gif"]][0] == "GIF"
    plain_box = rows[good["plain"]][5:]
    for label in ("exif6", "exif8"):
        _fmt, w, h, _n, _fid, *box = rows[good[label]]
        assert (w, h) == (200, 250), f"{label} not turned upright"
        assert max(abs(a - b) for a, b in zip(box, plain_box, strict=True)) <= 3, label

    # each variant of the same photo encodes the same face; the 16-bit PNG decodes to
    # exactly the pixels of its 8-bit twin
    plain = _encoding(db, good["plain"])
    dists = {label: float(np.linalg.norm(_encoding(db, good[label]) - plain))
             for label in ("cmyk", "gif", "exif6", "exif8")}
    assert all(d < SAME_FACE_DISTANCE for d in dists.values()), dists
    assert np.array_equal(_encoding(db, good["png16"]), _encoding(db, good["grey8"]))
    assert float(np.linalg.norm(_encoding(db, good["copied_jpeg"]) - plain)) > 0.4


# --- manifests ----------------------------------------------------------------------------


@pytest.fixture
def manifest_folder(tmp_path: Path, photos_of) -> Path:
    folder = tmp_path / "booking"
    (folder / "photos").mkdir(parents=True)
    for i, src in enumerate(photos_of(PERSON_A)[:3], start=1):
        shutil.copyfile(src, folder / "photos" / f"good{i}.jpg")
    # a real photo with a face, but outside the manifest's folder
    shutil.copyfile(photos_of(PERSON_B)[0], tmp_path / "outside.jpg")
    return folder


def test_manifest_rows_reported_with_line_and_reason(
        tmp_path: Path, manifest_folder: Path, real_engine_spec, import_to_end) -> None:
    csv_path = manifest_folder / "manifest.csv"
    outside_abs = tmp_path / "outside.jpg"
    csv_path.write_text(
        "path,person_id,name,dob\n"                       # line 1
        "photos/good1.jpg,P1,Person One,1970-01-01\n"     # 2 ok
        "photos/good2.jpg,P2,,\n"                         # 3 ok
        "photos/missing.jpg,P3,,\n"                       # 4 missing
        "../outside.jpg,P4,,\n"                           # 5 outside_folder
        f"{outside_abs},P4,,\n"                           # 6 outside_folder (absolute)
        "photos/good3.jpg,P5\n"                           # 7 bad_row: 2 fields
        "photos/good3.jpg,,Nobody,\n"                     # 8 bad_row: empty person_id
        ",P6,,\n"                                         # 9 bad_row: empty path
        "\n"                                              # 10 blank: skipped
        "photos/good3.jpg,P7,Person Seven,1980-02-02\n",  # 11 ok
        encoding="utf-8")
    db = tmp_path / "gallery.db"
    with Gallery.open(db, create=True) as g:
        final = import_to_end(g, None, manifest=csv_path, workers=1, spec=real_engine_spec)
        persons = {p.person_id: p.name for p in g.iter_persons()}
        counts = g.counts()

    got = sorted((p.line, p.code, p.path) for p in final.problems)
    assert got == [
        (4, "missing", "photos/missing.jpg"),
        (5, "outside_folder", "../outside.jpg"),
        (6, "outside_folder", str(outside_abs)),
        (7, "bad_row", "manifest.csv:7"),
        (8, "bad_row", "manifest.csv:8"),
        (9, "bad_row", "manifest.csv:9"),
    ]
    reasons = {p.line: p.reason for p in final.problems}
    assert all(r.strip() for r in reasons.values())
    assert "file not found" in reasons[4]
    assert "outside" in reasons[5]
    assert "2 fields" in reasons[7] and "4" in reasons[7]
    assert "person_id" in reasons[8]
    assert "path" in reasons[9]

    assert final.counts.imported == 3
    assert final.counts.failed == 6
    assert counts["photos"] == counts["faces"] == 3
    assert persons == {"P1": "Person One", "P2": None, "P7": "Person Seven"}
    (meta,), = _rows(db, "SELECT metadata FROM photos WHERE path LIKE ?", "%good1.jpg")
    assert '"dob": "1970-01-01"' in meta
    # nothing from outside the folder was read into the gallery
    assert not _rows(db, "SELECT 1 FROM photos WHERE path LIKE ?", "%outside.jpg")


def test_manifest_without_required_columns_refused_before_anything_is_written(
        tmp_path: Path, manifest_folder: Path, real_engine_spec) -> None:
    csv_path = manifest_folder / "manifest.csv"
    csv_path.write_text("file,person,name\nphotos/good1.jpg,P1,Person One\n")
    db = tmp_path / "gallery.db"
    with Gallery.open(db, create=True) as g:
        events = run_import(g, None, manifest=csv_path, options=ImportOptions(workers=1),
                            engine=real_engine_spec)
        with pytest.raises(ManifestError) as err:
            next(events)
        assert "path" in err.value.message and "person_id" in err.value.message
        assert "missing required columns" in err.value.message
    assert _rows(db, "SELECT count(*) FROM import_runs") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM photos") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM persons") == [(0,)]

    # the same through the command line: one line, exit code 1, nothing written
    db2 = tmp_path / "cli.db"
    res = CliRunner().invoke(cli, ["import", "--manifest", str(csv_path), "--db", str(db2),
                                   "--workers", "1", "--quiet"])
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "missing required columns path, person_id" in res.stderr
    assert "Traceback" not in res.output
    if db2.exists():
        assert _rows(db2, "SELECT count(*) FROM import_runs") == [(0,)]
        assert _rows(db2, "SELECT count(*) FROM photos") == [(0,)]

