"""A case's disclosure package (facedesk.app.disclosure): every search (those with no
candidate within the threshold too), every candidate list, decision and second review as
stored, the engine, gallery and system, the case's audit events with the head, as a PDF,
JSON and CSV with a manifest of SHA-256s; logged as an export; who may make one. On a
real gallery file with the fake engine."""

from __future__ import annotations

import csv
import hashlib
import json
import stat
import subprocess
from pathlib import Path

import pypdf
import pytest
from accountability import BACKENDS, PASSWORDS, PURPOSE, World, open_world, template_on_backend
from click.testing import CliRunner

from facedesk import __version__
from facedesk.app import audit, cases, disclosure
from facedesk.cli.main import cli as facedesk_cli
from facedesk.domain.progress import CancelToken
from facedesk.errors import LeadError, NotPermitted
from facedesk.store.records import table_columns


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "disclosure")


@pytest.fixture
def world(template: Path | str, tmp_path: Path):
    w = open_world(template, tmp_path / "w")
    yield w
    w.gallery.close()


def _case_with_work(w: World) -> tuple[cases.Case, list[cases.CaseSearch], cases.Decision]:
    ann, sam = w.session("ann"), w.session("sam")
    case = cases.open_case(ann, "D-1", PURPOSE, "a =HYPERLINK(\"x\") detail")
    s1 = w.search(ann, case)
    s2 = w.search(ann, case, distances=(0.9, 0.95, 0.97, 0.98, 0.99))  # none within
    d = cases.decide(ann, s1.id, 1, "possible_lead", "same scar over the left brow")
    cases.decide(ann, s1.id, 2, "not_the_person", "=cmd|' /C calc'!A0 ears differ")
    cases.review_lead(sam, d.id, "confirmed", "agree: scar and ear")
    return case, [s1, s2], d


def test_the_package_holds_every_search_decision_and_event(world: World,
                                                           tmp_path: Path) -> None:
    case, (s1, s2), d = _case_with_work(world)
    assert s2.result.candidates == []
    sam = world.session("sam")
    events = audit.events(world.gallery, case_id=case.id)
    head_then = audit.head(world.gallery)
    pkg = disclosure.disclose(sam, case.number, tmp_path / "out")
    folder = pkg.folder
    assert folder.parent == tmp_path / "out" and folder.name.startswith("disclosure-case-D-1-")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file())
    assert {"disclosure.pdf", "disclosure.json", "searches.csv", "candidates.csv",
            "decisions.csv", "reviews.csv", "audit.csv", "manifest.json",
            "SHA256SUMS"} <= set(names)
    assert f"probes/search-{s1.id}-probe.png" in names
    # private files
    for n in names:
        assert stat.S_IMODE((folder / n).stat().st_mode) == 0o600, n
    # the manifest: every file but itself and the sums, with its SHA-256
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == set(names) - {"manifest.json", "SHA256SUMS"}
    for n, digest in listed.items():
        assert hashlib.sha256((folder / n).read_bytes()).hexdigest() == digest
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    doc = json.loads((folder / "disclosure.json").read_text())
    assert doc["system"] == {"name": "FaceDesk", "version": __version__}
    assert [s["id"] for s in doc["searches"]] == [s1.id, s2.id]
    assert doc["searches"][1]["candidates"] == []  # the search with no candidate is there
    stored = cases.search_record(world.gallery, s1.id)
    assert doc["searches"][0]["candidates"] == stored.candidates
    # every column of the row as stored, whatever it is
    columns = set(table_columns(world.gallery.conn, "searches"))
    assert set(doc["searches"][0]) == columns
    dcols = set(table_columns(world.gallery.conn, "decisions"))
    assert set(doc["decisions"][0]) == dcols | {"status"}
    assert doc["searches"][0]["probe_image"]["sha256"] == stored.probe_sha256
    assert [x["id"] for x in doc["decisions"]] == [d.id, d.id + 1]
    assert doc["decisions"][0]["status"] == "confirmed"
    assert doc["reviews"][0]["rationale"] == "agree: scar and ear"
    assert doc["engines"][0]["id"] == stored.engine_id and doc["engines"][0]["identity"]
    assert doc["gallery"]["id"] == world.gallery.gallery_id
    assert doc["gallery"]["searched"][0]["gallery_version"] == stored.gallery_version
    assert [e["seq"] for e in doc["audit"]] == [e.seq for e in events]
    head = doc["audit_head"]
    assert head_then is not None
    assert head["seq"] == head_then.seq and head["hash"] == head_then.hash

    # CSVs: spreadsheet-safe, one candidate row per candidate shown
    with (folder / "candidates.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["search_id"]) for r in rows] == [s1.id] * len(s1.result.candidates)
    with (folder / "decisions.csv").open(newline="") as fh:
        rationales = [r["rationale"] for r in csv.DictReader(fh)]
    assert rationales[1].startswith("'=cmd")

    # logged as an export, after the head the package names
    ev = audit.head(world.gallery)
    assert ev is not None and ev.kind == "export" and ev.case_id == case.id
    assert ev.data["what"] == "disclosure package" and ev.seq == head["seq"] + 1
    assert ev.data["manifest_sha256"] == pkg.manifest_sha256 == \
        hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()

    # the PDF: one document naming every search, the empty one too
    text = "\n".join(page.extract_text()
                     for page in pypdf.PdfReader(folder / "disclosure.pdf").pages)
    assert f"Search {s1.id}" in text and f"Search {s2.id}" in text
    assert "No candidate within the threshold" in text
    assert head["hash"][:40] in text.replace("\n", "").replace(" ", "")


def test_the_package_shows_checklists_filters_and_independent_evidence(
        world: World, tmp_path: Path) -> None:
    """Issue 18's records in the package: the decision's FISWG checklist and the search's
    filter in words in the PDF (as stored in the JSON), the lead's independent evidence
    in the JSON, its CSV and the PDF."""
    from facedesk.domain.fiswg import Checklist

    ann, sam = world.session("ann"), world.session("sam")
    case = cases.open_case(ann, "D-2", PURPOSE)
    s = world.search(ann, case)
    checklist = Checklist.from_dict({"eyes": "similar",
                                     "nose": {"value": "dissimilar", "note": "swollen"}})
    d = cases.decide(ann, s.id, 1, "possible_lead", "same scar", checklist=checklist)
    cases.review_lead(sam, d.id, "confirmed", "agree: the scar")
    cases.record_evidence(ann, d.id, "till receipt signed by the suspect")
    pkg = disclosure.disclose(sam, case.number, tmp_path / "out")
    doc = json.loads((pkg.folder / "disclosure.json").read_text())
    assert doc["decisions"][0]["checklist"] == checklist.as_dict()
    assert [(e["decision_id"], e["text"], e["recorded_by"]) for e in doc["evidence"]] == [
        (d.id, "till receipt signed by the suspect", "ann")]
    with (pkg.folder / "evidence.csv").open(newline="") as fh:
        assert [r["text"] for r in csv.DictReader(fh)] == ["till receipt signed by the suspect"]
    text = " ".join(" ".join(page.extract_text()
                             for page in pypdf.PdfReader(pkg.folder / "disclosure.pdf").pages
                             ).split())
    assert "1 similar, 1 dissimilar, 0 not visible (2 of 18 components)" in text
    assert "Dissimilar: Nose (swollen)" in text
    assert "till receipt signed by the suspect" in text


def test_who_may_disclose(world: World, tmp_path: Path) -> None:
    case, _, _ = _case_with_work(world)
    with pytest.raises(NotPermitted, match="may not export a case's disclosure package"):
        disclosure.disclose(world.session("ann"), case.id, tmp_path / "a")
    assert disclosure.disclose(world.session("admin"), case.id, tmp_path / "b").searches == 2
    assert not (tmp_path / "a").exists()


def test_blind_review_hides_a_pending_rationale_so_no_package_yet(world: World,
                                                                  tmp_path: Path) -> None:
    ann, sam = world.session("ann"), world.session("sam")
    world.session("admin").set_setting("blind_second_review", True)
    case = cases.open_case(ann, "D-2", PURPOSE)
    s = world.search(ann, case)
    d = cases.decide(ann, s.id, 1, "possible_lead", "same ear")
    before = audit.head(world.gallery)
    with pytest.raises(LeadError, match=r"blind second review.*export after the reviews"):
        disclosure.disclose(sam, case.id, tmp_path / "out")
    assert audit.head(world.gallery) == before
    cases.review_lead(sam, d.id, "confirmed", "agree")
    doc = json.loads((disclosure.disclose(sam, case.id, tmp_path / "out").folder
                      / "disclosure.json").read_text())
    assert doc["decisions"][0]["rationale"] == "same ear"


def test_a_cancelled_package_leaves_nothing(world: World, tmp_path: Path) -> None:
    case, _, _ = _case_with_work(world)
    sam = world.session("sam")
    before = audit.head(world.gallery)
    cancel = CancelToken()
    for ev in disclosure.disclose_steps(sam, case.id, tmp_path / "o",
                                        cancel=cancel):
        if ev.done == 2:
            cancel.cancel()
        assert ev.result is None
    assert list((tmp_path / "o").iterdir()) == []
    assert audit.head(world.gallery) == before


def test_the_cli_writes_a_package(world: World, tmp_path: Path) -> None:
    case, _, _ = _case_with_work(world)
    res = CliRunner().invoke(
        facedesk_cli, ["disclose", "--case", case.number, "--out", str(tmp_path / "cli"),
                       "--db", str(world.gallery.open_location)],
        env={"FACEDESK_USER": "ann", "FACEDESK_PASSWORD": PASSWORDS["ann"]})
    assert res.exit_code == 1 and "may not export a case's disclosure package" in res.output
    res = CliRunner().invoke(
        facedesk_cli, ["disclose", "--case", case.number, "--out", str(tmp_path / "cli"),
                       "--db", str(world.gallery.open_location), "--quiet"],
        env={"FACEDESK_USER": "admin", "FACEDESK_PASSWORD": PASSWORDS["admin"]})
    assert res.exit_code == 0, (res.output, res.exception)
    folder = next((tmp_path / "cli").iterdir())
    assert f"wrote the disclosure package of case D-1 to {folder}" in res.output
    assert "manifest.json SHA-256 " in res.output
