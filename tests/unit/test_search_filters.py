"""Search filters (issue 18, item 2): parsing, the mask over the index's rows, the counts
of what was left out and why, the exact search of the kept faces, and the filters stored
with the search, its audit event and the lead sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from accountability import PASSWORDS, PURPOSE
from bookings import fake_manifest
from click.testing import CliRunner
from fakes import FAKE_FACTORY, FakeEngine, one_face, save_png

from facedesk import cli as cli_module
from facedesk.app import accounts, cases
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.cli import options as cli_options
from facedesk.domain import filters
from facedesk.domain.filters import FaceMetadata, SearchFilter, Where
from facedesk.domain.search_index import SearchIndex
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FilterError
from facedesk.store import Gallery

# --- parsing ------------------------------------------------------------------------------


def test_parse_the_command_line_forms() -> None:
    f = filters.parse(["sex=F", " state != ny "], "25-40", "2019-01-01..")
    assert f.where == (Where("sex", "F"), Where("state", "ny", negate=True))
    assert f.age == (25, 40) and f.booked == ("2019-01-01", None)
    assert f.describe() == "sex=F, state!=ny, age 25-40, booked 2019-01-01.."
    assert filters.parse_age("25-") == (25, None)
    assert filters.parse_age("-40") == (None, 40)
    assert filters.parse_age("30") == (30, 30)
    assert filters.parse_booked("..2020-12-31") == (None, "2020-12-31")
    assert not filters.parse() and filters.parse(["sex=F"])
    assert SearchFilter.from_dict(json.loads(json.dumps(f.as_dict()))) == f


@pytest.mark.parametrize("kind,text", [
    ("where", "sex"), ("where", "=F"), ("where", "sex="),
    ("age", "forty"), ("age", "40-25"), ("age", "-"), ("age", "25-40-50"),
    ("booked", "2019-01-01"), ("booked", ".."), ("booked", "2019-02-30.."),
    ("booked", "2020-01-01..2019-01-01"), ("booked", "yesterday.."),
])
def test_malformed_filters_are_one_line_typed_errors(kind: str, text: str) -> None:
    with pytest.raises(FilterError, match=f"--{kind}"):
        filters.parse(**({"where": [text]} if kind == "where" else {kind: text}))


# --- the mask -----------------------------------------------------------------------------


def _meta() -> tuple[FaceMetadata, np.ndarray, int]:
    """6 faces of 3 persons (rows 0-1, 2-3, 4-5)."""
    rows = [
        {"sex": "F", "dob": "1990-06-15", "booking_date": "2015-06-14"},  # 24
        {"sex": "f ", "dob": "1990-06-15", "booking_date": "2019-06-15"},  # 29
        {"sex": "M", "dob": "1985-03-01", "booking_date": "2019-01-01T10:00"},  # 33
        {"sex": "M", "dob": "", "booking_date": "2019-01-01"},  # no dob
        {"dob": "1980-13-01", "booking_date": "2010-01-01"},  # no sex, unreadable dob
        {"sex": "F", "dob": "2001-01-01", "booking_date": "2000-01-01"},  # born after
    ]
    return FaceMetadata(rows), np.array([0, 0, 1, 1, 2, 2], dtype=np.int32), 3


def test_equality_is_case_insensitive_and_missing_values_are_counted() -> None:
    meta, persons, n = _meta()
    out = filters.apply(filters.parse(["SEX=F"]), meta, persons, n)
    assert out.keep.tolist() == [True, True, False, False, False, True]
    assert (out.faces_kept, out.persons_kept, out.persons_total) == (3, 2, 3)
    assert [lo.as_dict() for lo in out.left_out] == [
        {"reason": "no sex", "faces": 1, "persons": 0}]  # person 2 is searched (row 5)
    out = filters.apply(filters.parse(["sex!=f"]), meta, persons, n)
    assert out.keep.tolist() == [False, False, True, True, False, False]
    out = filters.apply(filters.parse(["sex=x"]), meta, persons, n)
    assert out.faces_kept == 0 and out.persons_kept == 0
    # values of one column are OR-ed; != alone keeps every other value
    out = filters.apply(filters.parse(["sex=F", "sex=m", "sex=x"]), meta, persons, n)
    assert out.keep.tolist() == [True, True, True, True, False, True]
    out = filters.apply(filters.parse(["sex!=F", "sex!=M"]), meta, persons, n)
    assert out.faces_kept == 0 and out.left_out[0].faces == 1
    out = filters.apply(filters.parse(["eyes=blue"]), meta, persons, n)
    assert [(lo.reason, lo.faces, lo.persons) for lo in out.left_out] == [
        ("no eyes", 6, 3)]
    # the same arrays serve the next filter: nothing of the last one is left in them
    again = filters.apply(filters.parse(["SEX=F"]), meta, persons, n)
    assert again.keep.tolist() == [True, True, False, False, False, True]


def test_age_at_booking_in_full_years_with_every_unreadable_date_counted() -> None:
    meta, persons, n = _meta()
    out = filters.apply(filters.parse(age="25-40"), meta, persons, n)
    assert out.filter.dob_column == "dob"  # detected among DOB_COLUMNS
    assert out.filter.booking_column == "booking_date"
    assert out.keep.tolist() == [False, True, True, False, False, False]
    assert {lo.reason: (lo.faces, lo.persons) for lo in out.left_out} == {
        "no date of birth (dob)": (1, 0),
        "unreadable date of birth (dob)": (1, 1),
        "date of birth after the booking date (dob)": (1, 1)}
    assert out.summary() == "searched 2 of 3 persons (filter: age 25-40)"
    assert out.left_out_sentences()[1] == \
        "1 person left out: unreadable date of birth (dob), 1 photo"
    assert filters.apply(filters.parse(age="24"), meta, persons, n).keep.tolist() == \
        [True, False, False, False, False, False]  # the day before the 25th birthday


def test_booking_range_ends_included_and_named_columns() -> None:
    meta, persons, n = _meta()
    out = filters.apply(filters.parse(booked="2019-01-01..2019-06-15"), meta, persons, n)
    assert out.keep.tolist() == [False, True, True, True, False, False]
    out = filters.apply(filters.parse(age="0-", dob_column="nope"), meta, persons, n)
    assert out.faces_kept == 0
    assert [(lo.reason, lo.faces, lo.persons) for lo in out.left_out] == [
        ("no date of birth (nope)", 6, 3)]


# --- the search ---------------------------------------------------------------------------


def test_a_subset_index_searches_exactly_the_kept_rows() -> None:
    rng = np.random.default_rng(3)
    n = 3000

    class Enc:
        face_ids = np.arange(10, 10 + n, dtype=np.int64)
        person_pks = np.sort(rng.integers(0, 900, n)).astype(np.int64)
        matrix = rng.normal(0, 0.05, (n, 128)).astype(np.float32)
        engine_ids = frozenset({"e"})
        version = 1

    for project in (False, True):
        index = SearchIndex(Enc(), project=project)
        keep = rng.random(n) < 0.1
        sub = index.subset(np.flatnonzero(keep))
        probe = Enc.matrix[5] + rng.normal(0, 0.01, 128).astype(np.float32)
        got, spread = sub.nearest_and_persons(probe, 10)
        dist = np.linalg.norm(Enc.matrix.astype(np.float64) - probe.astype(np.float64), axis=1)
        best: dict[int, float] = {}
        for r in np.flatnonzero(keep):
            pk = int(Enc.person_pks[r])
            best[pk] = min(best.get(pk, np.inf), float(dist[r]))
        want = sorted(best, key=lambda pk: (best[pk], pk))[:10]
        assert [pk for pk, _ in got] == want
        assert all(index.face_ids[r] == fid for _, faces in got for fid, _, r in
                   [(f, d, int(np.flatnonzero(index.face_ids == f)[0])) for f, d, _ in faces])
        assert spread is not None and spread.persons == sub.persons == len(best)


@pytest.fixture
def booked(tmp_path: Path, fake_spec: EngineSpec) -> Gallery:
    manifest = fake_manifest(tmp_path / "bookings")
    g = Gallery.open(tmp_path / "g.db", create=True)
    for _ in run_import(g, None, manifest=manifest, engine=fake_spec,
                        options=ImportOptions(workers=1)):
        pass
    yield g
    g.close()


def _analyst(g: Gallery) -> accounts.Session:
    admin = accounts.create_first_administrator(g, "admin", "Ada",
                                                password=PASSWORDS["admin"])
    admin.add_user("ann", "Ann", "analyst", password=PASSWORDS["ann"])
    return accounts.sign_in(g, "ann", PASSWORDS["ann"])


def _probe(tmp_path: Path, person: int):
    engine = FakeEngine()
    probe = analyze_probe(engine, save_png(one_face(person, 50), tmp_path / "probe.png"))
    return probe, choose_face(engine, probe)


def test_filtered_search_counts_and_lookalikes_of_the_persons_searched(
        booked: Gallery, tmp_path: Path) -> None:
    searcher = Searcher(booked, FakeEngine().identity())
    _, face = _probe(tmp_path, 0)
    full = searcher.search(face.encoding, 10)
    assert full.filtered is None and full.persons_searched == 5
    assert full.searched_sentence() == "searched 5 persons (15 faces)"
    flt = filters.parse(["sex=F"], "25-40")
    res = searcher.search(face.encoding, 10, flt)
    # person 0: bookings at 29 and 33; person 2 is 45+; person 4 has no date of birth
    assert res.persons_searched == 1 and res.faces_searched == 2
    assert [c.person_id for c in res.candidates] == ["person_0"]
    assert res.candidates[0].photos_of_person == 2
    assert res.searched_sentence() == "searched 1 of 5 persons (filter: sex=F, age 25-40)"
    assert res.lookalikes is not None and res.lookalikes.persons == 1
    doc = res.as_dict()["filter"]
    assert doc["persons_in_gallery"] == 5 and doc["faces_searched"] == 2
    # person 3's unreadable booking is not counted: he is M, left out whatever his age
    assert {lo["reason"]: lo["persons"] for lo in doc["left_out"]} == {
        "no date of birth (date_of_birth)": 1}
    # the same filter again reuses the subset; another gallery version rebuilds it
    assert searcher.narrowed(flt)[0] is searcher.narrowed(flt)[0]
    with pytest.raises(FilterError, match=r"leaves no photo .* 1 person left out: no date"):
        searcher.search(face.encoding, 10, filters.parse(["sex=F"], "60-"))


def test_filters_stored_with_the_search_its_audit_event_and_lead_sheet(
        booked: Gallery, tmp_path: Path) -> None:
    from facedesk.app import lead_sheet
    from facedesk.app.audit import verify

    ann = _analyst(booked)
    case = cases.open_case(ann, "2026-0018", PURPOSE, "test")
    probe, face = _probe(tmp_path, 1)
    searcher = Searcher(booked, FakeEngine().identity())
    flt = filters.parse(["sex=m"], booked="2019-01-01..")
    made = cases.search_for_case(ann, case, searcher, probe, face, 5, flt=flt)
    stored = cases.search_record(booked, made.id)
    assert stored.filters is not None
    assert stored.filters["text"] == "sex=m, booked 2019-01-01.."
    assert stored.filters["persons_searched"] == 2  # persons 1 and 3
    assert stored.filters["faces_searched"] == 3  # person 3's last booking is unreadable
    assert stored.persons_searched == 2
    event = booked.conn.execute("SELECT data FROM audit WHERE kind = 'search'").fetchone()
    assert json.loads(event[0])["filters"] == stored.filters
    assert verify(booked, use_witness=False).ok
    plain = cases.search_for_case(ann, case, searcher, probe, face, 5)
    assert cases.search_record(booked, plain.id).filters is None
    assert filters.stored_summary(stored.filters) == (
        "searched 2 of 5 persons (filter: sex=m, booked 2019-01-01..); 0 persons left out: "
        "unreadable booking date (booking_date), 1 photo")
    record = {"search": stored.as_dict(), "gallery": {}, "engine": {}}
    rows = dict(lead_sheet.search_section(record).rows)
    assert rows["Filter"].startswith(
        "searched 2 of 5 persons (filter: sex=m, booked 2019-01-01..)")
    record["search"] = cases.search_record(booked, plain.id).as_dict()
    assert dict(lead_sheet.search_section(record).rows)["Filter"] == \
        "none: every face of the gallery was searched"

def test_cli_search_with_filters_prints_and_emits_them(booked: Gallery, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cases.open_case(_analyst(booked), "2026-0019", PURPOSE, "test")
    path = save_png(one_face(2, 50), tmp_path / "probe2.png")
    monkeypatch.setattr(cli_options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    env = {"FACEDESK_USER": "ann", "FACEDESK_PASSWORD": PASSWORDS["ann"]}
    base = ["search", str(path), "--db", str(booked.path), "--case", "2026-0019"]

    def cli(*args: str):
        return CliRunner().invoke(cli_module.cli, [*base, *args], env=env)

    r = cli("--where", "sex=F", "--age", "40-", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["filter"]["summary"] == "searched 1 of 5 persons (filter: sex=F, age 40-)"
    assert doc["persons_searched"] == 1
    assert [c["person_id"] for c in doc["candidates"]] == ["person_2"]
    r = cli("--where", "sex=F", "--age", "40-")
    assert "searched 1 of 5 persons (filter: sex=F, age 40-)" in r.output
    assert "1 person left out: no date of birth (date_of_birth), 3 photos" in r.output
    r = cli("--booked", "2019")
    assert r.exit_code != 0 and "--booked '2019'" in r.output
