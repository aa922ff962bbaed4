"""Independent evidence before a lead goes out (issue 18, item 4; Detroit's policy: never
act on a face search alone). The analyst records what independent evidence was obtained
for a confirmed lead; the lead sheet prints it, or says in its banner that there is none
yet; with the administrator's `evidence_required` on, the export is refused until there
is some. Real gallery files, the fake engine, real PDFs read back with pypdf."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
import test_cli_accountability as cli_tests
from accountability import (
    BACKENDS,
    PURPOSE,
    World,
    last_event,
    tamper,
    template_on_backend,
    world_copy,
)
from test_cli_accountability import Run, ok, refused, search

from facedesk.app import audit, cases, lead_sheet
from facedesk.domain.fiswg import Checklist
from facedesk.errors import LeadError, NotPermitted

# the command line's fixtures (a gallery with staff, the fake engine, a probe photo)
db, fake_cli, probe, run, staffed = (cli_tests.db, cli_tests.fake_cli, cli_tests.probe,
                                     cli_tests.run, cli_tests.staffed)


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """This module's tests run on both backends (a file, a database on a server)."""
    return template_on_backend(request, tmp_path_factory, "evidence")


@pytest.fixture
def world(template: Path | str, tmp_path: Path) -> Iterator[World]:
    yield from world_copy(template, tmp_path / "g")


def confirmed_lead(world: World, number: str = "EV-1",
                   checklist: Checklist | None = None) -> cases.Decision:
    ann, sam = world.session("ann"), world.session("sam")
    case = cases.open_case(ann, number, PURPOSE, "burglary")
    cs = world.search(ann, case)
    lead = cases.decide(ann, cs.id, 2, "possible_lead", "same ear shape", checklist=checklist)
    return cases.review_lead(sam, lead.id, "confirmed", "agree")


def pdf_text(path: Path) -> str:
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


def test_record_evidence_rules(world: World) -> None:
    ann, abe, sam = world.session("ann"), world.session("abe"), world.session("sam")
    case = cases.open_case(ann, "EV-0", PURPOSE, "burglary")
    cs = world.search(ann, case)
    pending = cases.decide(ann, cs.id, 1, "possible_lead", "ears")
    with pytest.raises(LeadError, match="confirmed lead; decision 1 is: pending second"):
        cases.record_evidence(ann, pending.id, "a witness")
    cases.review_lead(sam, pending.id, "confirmed", "agree")
    with pytest.raises(LeadError, match="describe the independent evidence"):
        cases.record_evidence(ann, pending.id, "   ")
    with pytest.raises(NotPermitted, match="only they or a supervisor"):
        cases.record_evidence(abe, pending.id, "a witness")
    e = cases.record_evidence(ann, pending.id, "  Witness J. Doe picked him from a "
                                               "photo array, 2026-03-04  ")
    assert e.text == "Witness J. Doe picked him from a photo array, 2026-03-04"
    ev = last_event(world.gallery)
    assert ev.kind == "lead_evidence" and ev.seq == e.audit_seq
    assert ev.data["decision_id"] == pending.id and ev.data["text"] == e.text
    assert audit.KINDS["lead_evidence"] == "Independent evidence recorded"
    second = cases.record_evidence(sam, pending.id, "phone records place him there")
    assert [x.id for x in cases.evidence(world.gallery, pending.id)] == [e.id, second.id]
    assert audit.verify(world.gallery).ok
    # covered by the record digests: an item edited by raw SQL is found
    tamper(world.gallery, ("UPDATE lead_evidence SET text = 'nothing' WHERE id = ?", (e.id,)))
    v = audit.verify(world.gallery)
    assert not v.ok and any("independent evidence" in p for p in v.problems), v.problems
    # deleted by raw SQL: found too
    tamper(world.gallery, ("DELETE FROM lead_evidence WHERE id = ?", (second.id,)))
    v = audit.verify(world.gallery)
    assert any(f"independent evidence {second.id}" in p for p in v.problems), v.problems
    # a closed case is read-only
    cases.close_case(ann, cases.get_case(world.gallery, "EV-0"))
    with pytest.raises(Exception, match="closed"):
        cases.record_evidence(ann, pending.id, "more")


def test_lead_sheet_banner_says_there_is_none_yet_then_prints_it(world: World,
                                                                tmp_path: Path) -> None:
    checklist = Checklist.parse_features(["ears=similar", "nose=dissimilar:swollen"])
    lead = confirmed_lead(world, checklist=checklist)
    ann = world.session("ann")
    files = lead_sheet.export_lead_sheet(ann, lead.id, tmp_path / "before")
    pdf = next(p for p in files if p.suffix == ".pdf")
    html = next(p for p in files if p.suffix == ".html").read_text(encoding="utf-8")
    text = pdf_text(pdf)
    page1 = re.sub(r"\s+", " ", pypdf.PdfReader(pdf).pages[0].extract_text())
    # in the banner on top of the first page, before the summary (the footer, drawn
    # first, comes first in the text)
    assert page1.index(cases.NO_EVIDENCE_BANNER) < page1.index("Confirmed possible lead:")
    assert (f'<div class="banner">{lead_sheet.BANNER}</div>\n'
            f'<div class="banner">{cases.NO_EVIDENCE_BANNER}</div>\n<h1>') in html
    # the checklist is printed too
    assert "Feature-by-feature comparison (FISWG)" in text
    assert "Nose Dissimilar — swollen" in text and "Ears Similar" in text
    assert "Skin not judged" in text
    cases.record_evidence(ann, lead.id, "Fingerprint on the till matched (lab 26-114)")
    files = lead_sheet.export_lead_sheet(ann, lead.id, tmp_path / "after")
    pdf = next(p for p in files if p.suffix == ".pdf")
    text = pdf_text(pdf)
    assert cases.NO_EVIDENCE_BANNER not in text
    assert "Fingerprint on the till matched (lab 26-114)" in text
    assert "recorded by Ann Analyst (ann)" in text
    # the evidence's audit event is among the sheet's audit rows
    assert "Independent evidence recorded" in text


def test_evidence_required_refuses_the_export(world: World, tmp_path: Path) -> None:
    lead = confirmed_lead(world)
    world.session("admin").set_setting("evidence_required", True)
    ann = world.session("ann")
    before = audit.head(world.gallery)
    with pytest.raises(LeadError, match="has no independent evidence recorded and the "
                                        "administrator requires it"):
        lead_sheet.export_lead_sheet(ann, lead.id, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert audit.head(world.gallery) == before  # nothing exported, nothing logged
    cases.record_evidence(ann, lead.id, "confession")
    assert len(lead_sheet.export_lead_sheet(ann, lead.id, tmp_path / "out")) == 2


def test_cli_evidence_add_list_and_the_required_export(run: Run, staffed: Path, probe: Path,
                                                       tmp_path: Path) -> None:
    ok(run("case", "open", "C-7", "--purpose", "1", user="ann"))
    sid = search(run, probe, "C-7")["search_id"]
    ok(run("decide", "--search", sid, "--rank", "1", "--decision", "possible_lead",
           "--rationale", "ears", user="ann"))
    [lead] = json.loads(ok(run("leads", "pending", "--json", user="sam")).stdout)
    refused(run("evidence", "add", lead["id"], "--text", "x", user="ann"),
            "independent evidence is recorded for a confirmed lead")
    ok(run("leads", "review", lead["id"], "--verdict", "confirmed", "--rationale", "agree",
           user="sam"))
    ok(run("settings", "set", "evidence_required", "on", user="admin"))
    assert "evidence_required" in ok(run("settings", "show", user="admin")).stdout
    refused(run("lead-sheet", lead["id"], "--out", tmp_path / "s", user="ann"),
            "no independent evidence recorded", f"facedesk evidence add {lead['id']}")
    assert "no independent evidence recorded" in ok(
        run("evidence", "list", lead["id"], user="ann")).stdout
    out = ok(run("evidence", "add", lead["id"], "--text", "alibi checked: false", user="ann"))
    assert f"recorded for decision {lead['id']} by ann" in out.stdout
    [item] = json.loads(ok(run("evidence", "list", lead["id"], "--json", user="sam")).stdout)
    assert item["text"] == "alibi checked: false" and item["recorded_by"] == "ann"
    shown = ok(run("case", "show", "C-7", user="sam")).stdout
    assert "independent evidence: alibi checked: false (ann " in shown
    doc = json.loads(ok(run("case", "show", "C-7", "--json", user="sam")).stdout)
    assert doc["evidence"][str(lead["id"])][0]["text"] == "alibi checked: false"
    written = ok(run("lead-sheet", lead["id"], "--out", tmp_path / "s", "--format", "pdf",
                     user="ann")).stdout
    assert "wrote" in written
    assert "alibi checked: false" in pdf_text(next((tmp_path / "s").glob("*.pdf")))
