"""`facedesk verify`: every original re-checked (present, same SHA-256); missing, moved,
changed and unreadable ones reported, never a crash; cancel keeps what was checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedesk.app.originals import OriginalsProgress, verify_originals
from facedesk.cli import cli
from facedesk.domain.progress import CancelToken
from facedesk.store import Gallery


def final(events) -> OriginalsProgress:
    out = list(events)
    assert out[-1].phase == "finished"
    return out[-1]


@pytest.fixture
def damaged(imported: Gallery, people_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """The imported gallery with one original moved, one deleted, one altered and one
    replaced by a folder."""
    moved_to = tmp_path / "archive" / "person_0-0.png"
    moved_to.parent.mkdir()
    shutil.move(people_dir / "person_0" / "0.png", moved_to)
    (people_dir / "person_1" / "1.png").unlink()
    with (people_dir / "person_2" / "2.png").open("ab") as fh:
        fh.write(b"\0")  # one byte more: a changed file
    (people_dir / "person_3" / "0.png").unlink()
    (people_dir / "person_3" / "0.png").mkdir()
    return {"moved": people_dir / "person_0" / "0.png", "moved_to": moved_to,
            "deleted": people_dir / "person_1" / "1.png",
            "changed": people_dir / "person_2" / "2.png",
            "folder": people_dir / "person_3" / "0.png"}


def test_intact_gallery_verifies(imported: Gallery) -> None:
    events = list(verify_originals(imported))
    assert [e.phase for e in events] == ["verifying"] * 16 + ["finished"]
    end = events[-1]
    assert end.ok and end.status == "completed" and end.problems == ()
    assert end.counts == {"ok": 16, "missing": 0, "moved": 0, "changed": 0, "unreadable": 0}


def test_problems_are_reported(imported: Gallery, damaged: dict[str, Path]) -> None:
    end = final(verify_originals(imported))
    assert not end.ok and end.done == 16
    by_path = {p.path: p for p in end.problems}
    assert by_path[str(damaged["moved"])].status == "missing"  # nowhere looked for it
    assert by_path[str(damaged["deleted"])].status == "missing"
    assert by_path[str(damaged["changed"])].status == "changed"
    assert by_path[str(damaged["folder"])].status == "unreadable"
    assert by_path[str(damaged["changed"])].person_id == "person_2"
    assert end.counts == {"ok": 12, "missing": 2, "moved": 0, "changed": 1, "unreadable": 1}


def test_same_size_edit_is_caught_by_the_hash(imported: Gallery, people_dir: Path) -> None:
    f = people_dir / "person_4" / "1.png"
    data = bytearray(f.read_bytes())
    data[-20] ^= 0xFF
    f.write_bytes(bytes(data))
    end = final(verify_originals(imported))
    assert [(p.path, p.status) for p in end.problems] == [(str(f), "changed")]
    assert "SHA-256" in end.problems[0].detail


def test_look_in_finds_moved_originals(imported: Gallery, damaged: dict[str, Path],
                                       tmp_path: Path) -> None:
    end = final(verify_originals(imported, look_in=[tmp_path / "archive"]))
    moved = [p for p in end.problems if p.status == "moved"]
    assert [(p.path, p.found_at) for p in moved] == [
        (str(damaged["moved"]), str(damaged["moved_to"]))]
    assert end.counts["missing"] == 1 and end.counts["moved"] == 1


def test_cancel_stops_and_says_so(imported: Gallery) -> None:
    cancel = CancelToken()
    seen = []
    for ev in verify_originals(imported, cancel=cancel):
        seen.append(ev)
        if ev.done == 5:
            cancel.cancel()
    assert seen[-1].status == "cancelled" and seen[-1].done == 5 and not seen[-1].ok


def test_verify_reads_only(imported: Gallery, damaged: dict[str, Path]) -> None:
    before = imported.conn.execute("PRAGMA data_version").fetchone()[0]
    rows = imported.photo_files()
    final(verify_originals(imported))
    assert imported.photo_files() == rows
    assert imported.conn.execute("PRAGMA data_version").fetchone()[0] == before


def test_cli_verify(imported: Gallery, damaged: dict[str, Path], tmp_path: Path) -> None:
    db = str(imported.path)
    res = CliRunner().invoke(cli, ["verify", "--db", db, "--quiet"])
    assert res.exit_code == 1, res.output
    assert "12 as imported, 2 missing, 0 moved, 1 changed, 1 unreadable" in res.output
    assert f"changed    person_2: {damaged['changed']}" in res.output
    assert "Traceback" not in res.output

    res = CliRunner().invoke(cli, ["verify", "--db", db, "--json", "--look-in",
                                   str(tmp_path / "archive")])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert (doc["ok"], doc["missing"], doc["moved"], doc["photos"]) == (12, 1, 1, 16)
    moved = [p for p in doc["problems"] if p["status"] == "moved"]
    assert moved[0]["found_at"] == str(damaged["moved_to"])



def test_cli_verify_intact(imported: Gallery) -> None:
    res = CliRunner().invoke(cli, ["verify", "--db", str(imported.path)])
    assert res.exit_code == 0, res.output
    assert "verified 16 of 16 originals" in res.output
    assert "16 as imported, 0 missing, 0 moved, 0 changed, 0 unreadable" in res.output


def test_cli_verify_missing_gallery(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["verify", "--db", str(tmp_path / "none.db")])
    assert res.exit_code == 1 and "no gallery there" in res.output
