"""Search filters on real photos (issue 18): 30 members of congress-2014 imported with
the real engine through a booking-style manifest (their sex, their real birthdays as the
date of birth, a made-up booking date; one date of birth missing, one unreadable), then
`facedesk search --where sex=F --age ...`: every candidate passes the filter, the counts
agree with the manifest counted independently here, and a woman's own photo is found."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from bookings import CONGRESS, congress_manifest
from click.testing import CliRunner
from conftest import import_all

from facedesk.app import accounts, cases
from facedesk.cli.main import cli
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery

MEMBERS = 30
PASSWORD = "harbor-Violet-7731"


def _age(dob: str, booked: str) -> int | None:
    try:
        b, d = dt.date.fromisoformat(booked), dt.date.fromisoformat(dob)
    except ValueError:
        return None
    return b.year - d.year - ((b.month, b.day) < (d.month, d.day))


def test_filtered_search_of_real_bookings(shared_data: Path, real_engine_spec: EngineSpec,
                                          tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = congress_manifest(tmp_path / "bookings.csv", MEMBERS)
    rows = list(csv.DictReader(manifest.open(newline="")))
    db = tmp_path / "g.db"
    with Gallery.open(db, create=True) as g:
        final = import_all(g, CONGRESS, manifest=manifest, spec=real_engine_spec)
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password="quartz-Lantern-6150")
        admin.set_setting("threshold", 1.0)
        admin.add_user("ann", "Ann Analyst", "analyst", password=PASSWORD)
        cases.open_case(accounts.sign_in(g, "ann", PASSWORD), "CASE-18",
                        accounts.DEFAULT_PURPOSES[0])
        with_face = {d.person_id for d in g.face_details(
            [int(i) for i in g.load_encodings().face_ids]).values()}
    assert final.phase == "finished" and len(with_face) >= MEMBERS - 3
    monkeypatch.setenv("FACEDESK_USER", "ann")
    monkeypatch.setenv("FACEDESK_PASSWORD", PASSWORD)

    # the expected counts, from the manifest (persons whose photo has a face)
    faced = [r for r in rows if r["person_id"] in with_face]
    women = [r for r in faced if r["sex"] == "F"]
    assert women, "the first members hold a woman"
    ages = {r["person_id"]: _age(r["date_of_birth"], r["booking_date"]) for r in faced}
    lo = min(a for r in women if (a := ages[r["person_id"]]) is not None)
    kept = [r for r in women if (ages[r["person_id"]] or -1) >= lo]
    probe_row = kept[0]
    probe = CONGRESS / probe_row["path"]

    res = CliRunner().invoke(cli, ["search", str(probe), "--db", str(db), "--case",
                                   "CASE-18", "--where", "sex=F", "--age", f"{lo}-",
                                   "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["filter"]["persons_searched"] == len(kept)
    assert doc["filter"]["persons_in_gallery"] == len(faced)
    assert doc["persons_searched"] == len(kept)
    assert doc["candidates"][0]["person_id"] == probe_row["person_id"]
    assert doc["candidates"][0]["distance"] < 0.05
    assert {c["person_id"] for c in doc["candidates"]} <= {r["person_id"] for r in kept}
    assert all(c["photo"]["metadata"]["sex"] == "F" for c in doc["candidates"])
    # the women without a readable date of birth are said, none is searched
    unknown = [r for r in women if ages[r["person_id"]] is None]
    said = {lo_["reason"]: lo_["persons"] for lo_ in doc["filter"]["left_out"]}
    assert sum(said.values()) == len(unknown)
    with Gallery.open(db) as g:
        [stored] = cases.searches(g, cases.get_case(g, "CASE-18").id)
        assert stored.filters == doc["filter"]

    # every age: only the two members without a readable date of birth are left out
    res = CliRunner().invoke(cli, ["search", str(probe), "--db", str(db), "--case",
                                   "CASE-18", "--age", "0-"])
    assert res.exit_code == 0, res.output
    no_dob = [r for r in faced if r["date_of_birth"] == ""]
    bad_dob = [r for r in faced if r["date_of_birth"] == "1950-13-45"]
    assert len(no_dob) + len(bad_dob) == 2
    assert (f"searched {len(faced) - 2} of {len(faced)} persons (filter: age 0-)"
            in res.output)
    assert "1 person left out: no date of birth (date_of_birth), 1 photo" in res.output
    assert ("1 person left out: unreadable date of birth (date_of_birth), 1 photo"
            in res.output)
