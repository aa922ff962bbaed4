"""The lead sheet (facedesk.app.lead_sheet): every element the case file needs, in the HTML
page and in the PDF's text, only for a confirmed lead, logged as one audit export event.

One gallery (fake engine, real SQLite file) is built for the module: five persons, plus
four look-alike persons made from person 2's pattern, so a probe of person 2 shows five
candidates, one of them named in three scripts.
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fakes import FAKE_FACTORY, FakeEngine, face_photo, one_face, save_png

from facedesk.app import accounts, audit, cases, lead_sheet
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain.faces import Box
from facedesk.engine.spec import EngineSpec
from facedesk.errors import FaceDeskError, LeadError, NotPermitted
from facedesk.store import Gallery

NON_LATIN = "Zoë Ørsted 李"
LOOKALIKES = ((NON_LATIN, 6.0), ("García-Núñez, José", 14.0), ("Ivanov Пётр", 25.0))
CASE_NUMBER = "2026-0042/B"
RATIONALE = "same ear shape <b>& scar</b> over the left eyebrow"


@dataclass
class World:
    gallery: Gallery
    tmp: Path
    admin: accounts.Session
    ann: accounts.Session
    sam: accounts.Session
    case: cases.Case
    probe_path: Path
    decision_id: int
    record: dict[str, Any]
    files: list[Path]
    html: str
    pdf_pages: list[str]
    exports_before: int


def pdf_pages(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(path.read_bytes())).pages]


def squeeze(text: str) -> str:
    """Text without whitespace: line breaks in a PDF's text fall anywhere."""
    return re.sub(r"\s+", "", text)


def html_text(page: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def new_search(w: World) -> int:
    eng = FakeEngine()
    probe = analyze_probe(eng, w.probe_path)
    face = choose_face(eng, probe)
    res = Searcher(w.gallery, eng.identity()).search(face.encoding, top_k=20)
    return cases.record_search(w.ann, w.case, probe, face, res).id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("lead_sheet")
    root = tmp / "people"
    for person in range(5):
        for variant in range(2):
            save_png(one_face(person, variant), root / f"person_{person}" / f"{variant}.png")
    box = Box(40, 140, 120, 60)
    for i, (name, noise) in enumerate(LOOKALIKES):
        for variant in range(2):
            save_png(face_photo([(2, box)], noise_seed=900 + 10 * i + variant, noise=noise),
                     root / name / f"{variant}.png")
    g = Gallery.open(tmp / "gallery.db", create=True)
    for _ in run_import(g, root, engine=EngineSpec(FAKE_FACTORY),
                        options=ImportOptions(workers=1)):
        pass
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                password="sturdy-Walrus-6402")
    admin.add_user("ann", "Ann Analyst", "analyst", password="maple-Tunnel-2287")
    admin.add_user("sam", "Sam Super", "supervisor", password="orchid-Falcon-4419")
    admin.add_user("tim", "Tim Trainer", "trainer", password="saffron-Bridge-1174")
    ann = accounts.sign_in(g, "ann", "maple-Tunnel-2287")
    sam = accounts.sign_in(g, "sam", "orchid-Falcon-4419")
    case = cases.open_case(ann, CASE_NUMBER, accounts.DEFAULT_PURPOSES[0],
                           "armed robbery at the pharmacy")
    probe_path = save_png(one_face(2, 5), tmp / "probe.png")
    w = World(g, tmp, admin, ann, sam, case, probe_path, 0, {}, [], "", [], 0)
    search_id = new_search(w)
    d = cases.decide(ann, search_id, 1, "possible_lead", RATIONALE)
    cases.review_lead(sam, d.id, "confirmed", "agree: ear and scar compared independently")
    w.decision_id = d.id
    w.record = cases.lead_record(ann, d.id).as_dict()
    w.exports_before = len(audit.events(g, kinds=["export"]))
    w.files = lead_sheet.export_lead_sheet(ann, d.id, tmp / "out")
    w.html = next(p for p in w.files if p.suffix == ".html").read_text(encoding="utf-8")
    w.pdf_pages = pdf_pages(next(p for p in w.files if p.suffix == ".pdf"))
    yield w
    g.close()


def texts(w: World) -> dict[str, str]:
    return {"html": squeeze(html_text(w.html)), "pdf": squeeze("\n".join(w.pdf_pages))}


def test_the_flow_shows_several_candidates(world: World) -> None:
    shown = [c["person_id"] for c in world.record["candidates"]]
    assert len(shown) == 4 and shown[0] == "person_2"
    assert NON_LATIN in shown


def test_files_are_named_safely_and_no_temporary_file_is_left(world: World) -> None:
    names = sorted(p.name for p in (world.tmp / "out").iterdir())
    assert names == [f"lead-sheet-case-2026-0042-B-decision-{world.decision_id}.html",
                     f"lead-sheet-case-2026-0042-B-decision-{world.decision_id}.pdf"]
    assert [p.suffix for p in world.files] == [".pdf", ".html"]


def test_banner_at_the_top_and_in_the_footer_of_every_pdf_page(world: World) -> None:
    banner = squeeze(lead_sheet.BANNER)
    assert len(world.pdf_pages) >= 2
    for page in world.pdf_pages:
        assert banner in squeeze(page)
    # at the top of the HTML page, and in the footer that printing repeats on every page
    body = world.html.split("<body>", 1)[1]
    assert html_text(body).lstrip().startswith(lead_sheet.BANNER)
    assert f'<div class="banner">{lead_sheet.BANNER}</div>' in body
    assert re.search(r"<tfoot><tr><td><footer>" + re.escape(lead_sheet.BANNER), body)
    # the PDF's first page has it twice: the banner and the footer
    assert squeeze(world.pdf_pages[0]).count(banner) == 2


def test_both_images_side_by_side(world: World) -> None:
    imgs = re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"',
                      world.html)
    assert imgs == ["probe image", "candidate face"]
    assert "http://" not in world.html and "https://" not in world.html
    reader = pypdf.PdfReader(io.BytesIO(world.files[0].read_bytes()))
    assert len(reader.pages[0].images) == 2


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_every_required_element_is_in_both_formats(world: World, fmt: str) -> None:
    text = texts(world)[fmt]
    r = world.record
    cand, search, gallery = r["candidate"], r["search"], r["gallery"]
    required = [
        # the chosen candidate's figures and the calibration (none for the fake engine)
        f"Distance{cand['distance']:.4f}",
        lead_sheet.NO_CALIBRATION,
        # engine identity, gallery, search settings
        r["engine"]["id"], "0" * 64, "fake", gallery["id"],
        f"Galleryversion{gallery['version']}",
        f"Personssearched{gallery['persons_searched']}",
        f"Facessearched{gallery['faces_searched']}",
        f"Threshold{search['threshold']:.3f}", f"Top-K{search['top_k']}",
        # probe quality, face index and detector
        *search["quality"]["warnings"], f"Detector{search['quality']['detector']}",
        "face1of1foundintheprobe", search["probe_sha256"],
        # analyst and supervisor, their rationales and times
        "AnnAnalyst(ann)", RATIONALE, r["decision"]["created_at"],
        "SamSuper(sam)", "agree:earandscarcomparedindependently", r["review"]["created_at"],
        # the case
        CASE_NUMBER, accounts.DEFAULT_PURPOSES[0], "armedrobberyatthepharmacy",
        f"Openedby AnnAnalyst(ann) on{r['case']['opened_at']}",
        # the audit events and the head
        f"event{r['audit_head']['seq']},hash{r['audit_head']['hash']}",
    ]
    for e in r["audit"]:
        required += [e["hash"], e["at"]]
    assert len(r["audit"]) == 3
    for c in r["candidates"]:
        required += [c["person_id"], f"{c['distance']:.4f}", f"{c['similarity']:.4f}"]
    missing = [x for x in required if squeeze(x) not in text]
    assert not missing
    assert squeeze(lead_sheet.NO_SECOND_REVIEW) not in text
    assert squeeze(lead_sheet.PROBE_PURGED) not in text


def test_the_chosen_candidate_is_marked_in_the_list(world: World) -> None:
    lead = world.record["candidate"]
    pdf = texts(world)["pdf"]
    assert pdf.count("◆LEAD") == 1
    assert f"◆LEAD{lead['rank']}person2(person_2){lead['distance']:.4f}" in pdf
    rows = re.findall(r"<tr class=lead>(.*?)</tr>", world.html)
    assert len(rows) == 1 and "person_2" in rows[0]


def test_a_non_latin_name_survives_into_the_pdf_text(world: World) -> None:
    pdf = "\n".join(world.pdf_pages)
    assert NON_LATIN in pdf
    assert "Ivanov Пётр" in pdf and "García-Núñez, José" in pdf
    assert NON_LATIN in world.html


def test_markup_escapes_and_sets_cjk_in_a_font_that_has_it() -> None:
    f = lead_sheet.fonts()
    m = lead_sheet.markup("a <b> & 李", f)
    assert "&lt;b&gt; &amp;" in m
    assert re.search(r'<font name="[^"]+">李</font>', m)
    assert lead_sheet.markup("Zoë Ørsted", f) == "Zoë Ørsted"


def test_the_export_is_one_audit_event_with_each_files_hash(world: World) -> None:
    exports = audit.events(world.gallery, kinds=["export"])
    assert len(exports) == world.exports_before + 1
    ev = exports[-1]
    assert ev.user_id == "ann" and ev.case_id == world.case.id
    assert ev.data["what"] == "lead sheet" and ev.data["decision_id"] == world.decision_id
    assert ev.data["case"] == CASE_NUMBER
    written = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in world.files}
    assert {f["name"]: f["sha256"] for f in ev.data["files"]} == written
    assert ev.seq > world.record["audit_head"]["seq"]
    assert audit.verify(world.gallery).ok


def test_a_pending_lead_is_refused(world: World) -> None:
    d = cases.decide(world.ann, new_search(world), 1, "possible_lead", "looks alike")
    with pytest.raises(LeadError, match="only made for a confirmed lead"):
        lead_sheet.export_lead_sheet(world.ann, d.id, world.tmp / "pending")
    assert not (world.tmp / "pending").exists()


def test_an_overturned_lead_is_refused(world: World) -> None:
    d = cases.decide(world.ann, new_search(world), 1, "possible_lead", "looks alike")
    cases.review_lead(world.sam, d.id, "overturned", "the ears differ")
    before = len(audit.events(world.gallery, kinds=["export"]))
    with pytest.raises(LeadError, match="overturned"):
        lead_sheet.export_lead_sheet(world.sam, d.id, world.tmp / "overturned")
    assert len(audit.events(world.gallery, kinds=["export"])) == before


def test_a_trainer_may_not_export_a_lead_sheet(world: World) -> None:
    tim = accounts.sign_in(world.gallery, "tim", "saffron-Bridge-1174")
    with pytest.raises(NotPermitted):
        lead_sheet.export_lead_sheet(tim, world.decision_id, world.tmp / "trainer")
    assert not (world.tmp / "trainer").exists()


def test_a_supervisor_exports_only_the_format_asked(world: World) -> None:
    files = lead_sheet.export_lead_sheet(world.sam, world.decision_id, world.tmp / "sam",
                                         formats=("html",))
    assert [p.suffix for p in files] == [".html"]
    assert audit.events(world.gallery, kinds=["export"])[-1].user_id == "sam"
    with pytest.raises(FaceDeskError, match="docx"):
        lead_sheet.export_lead_sheet(world.sam, world.decision_id, world.tmp / "x",
                                     formats=("docx",))


def test_a_purged_probe_image_is_stated(world: World) -> None:
    search_id = new_search(world)
    d = cases.decide(world.ann, search_id, 1, "possible_lead", "looks alike")
    cases.review_lead(world.sam, d.id, "confirmed", "agree")
    with world.gallery.write() as conn:  # what a purge of the probe image leaves
        conn.execute("UPDATE searches SET probe_image = NULL, purged_at = ? WHERE id = ?",
                     ("2027-01-01T00:00:00+00:00", search_id))
    files = lead_sheet.export_lead_sheet(world.ann, d.id, world.tmp / "purged")
    pdf = squeeze("\n".join(pdf_pages(files[0])))
    page = squeeze(html_text(files[1].read_text(encoding="utf-8")))
    for text in (pdf, page):
        assert squeeze(lead_sheet.PROBE_PURGED) in text
        assert "notstored:purgedon2027-01-01" in text
    assert files[1].read_text(encoding="utf-8").count("<img ") == 1  # the candidate only
    reader = pypdf.PdfReader(io.BytesIO(files[0].read_bytes()))
    assert len(reader.pages[0].images) == 1


def test_no_second_review_when_the_two_person_rule_was_off(world: World) -> None:
    world.admin.set_setting("two_person_rule", False)
    try:
        d = cases.decide(world.ann, new_search(world), 1, "possible_lead", "looks alike")
    finally:
        world.admin.set_setting("two_person_rule", True)
    rec = cases.lead_record(world.ann, d.id).as_dict()
    assert rec["review"] is None
    page = squeeze(html_text(lead_sheet.render_html(rec)))
    assert squeeze(lead_sheet.NO_SECOND_REVIEW) in page
    path = world.tmp / "no-review.pdf"
    lead_sheet.write_pdf(rec, path)
    assert squeeze(lead_sheet.NO_SECOND_REVIEW) in squeeze("\n".join(pdf_pages(path)))


def test_a_calibrated_candidate_shows_fmr_interval_and_lookalikes(world: World) -> None:
    rec = copy.deepcopy(world.record)
    rec["search"]["calibration_source"] = "LFW test calibration, 1,000 impostor pairs"
    for i, c in enumerate(rec["candidates"]):
        c["fmr"] = {"fmr": 0.00123 * (i + 1), "fmr_95": [0.0008 * (i + 1), 0.0019 * (i + 1)]}
        c["expected_lookalikes"] = 0.0111 * (i + 1)
    rec["candidate"] = rec["candidates"][0]
    path = world.tmp / "calibrated.pdf"
    lead_sheet.write_pdf(rec, path)
    for text in (squeeze(html_text(lead_sheet.render_html(rec))),
                 squeeze("\n".join(pdf_pages(path)))):
        assert "0.00123(95%:0.0008–0.0019)" in text
        assert "0.00246(95%:0.0016–0.0038)" in text  # the second candidate's
        assert "Expectedlook-alikes(referencetable)0.0111" in text
        assert "LFWtestcalibration,1,000impostorpairs" in text
        assert squeeze(lead_sheet.NO_CALIBRATION) not in text


def test_the_probe_specific_lookalikes_are_on_the_sheet(world: World) -> None:
    """The search's own look-alike figures (issue 16): per candidate with their band, and
    at the threshold with the method, as stored with the search."""
    rec = world.record
    stored = rec["search"]["lookalikes"]
    assert stored["method"] and stored["persons"] == rec["gallery"]["persons_searched"]
    at = stored["at_threshold"]
    assert at["distance"] == rec["search"]["threshold"]
    cand = rec["candidate"]["lookalikes"]
    assert cand["low"] <= cand["expected"] <= cand["high"]
    want_cand = squeeze(f"Look-alikes for this probe {cand['expected']:.3g} "
                        f"(90%: {cand['low']:.3g}–{cand['high']:.3g})")
    want_at = squeeze(f"{at['expected']:.3g} (90%: {at['low']:.3g}–{at['high']:.3g}) at "
                      f"distance {at['distance']:.2f}; method {stored['method']}")
    for text in (squeeze(html_text(world.html)), squeeze("\n".join(world.pdf_pages))):
        assert want_cand in text
        assert want_at in text
    # a search stored before the estimate existed shows dashes, not an error
    old = copy.deepcopy(rec)
    old["search"]["lookalikes"] = None
    for c in old["candidates"]:
        c.pop("lookalikes", None)
    old["candidate"] = old["candidates"][0]
    page = squeeze(html_text(lead_sheet.render_html(old)))
    assert "Look-alikesforthisprobe—" in page and "Look-alikesatthethreshold—" in page


def test_without_a_system_cjk_font_the_standard_asian_fonts_keep_the_text(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lead_sheet, "_system_fallbacks", lambda: ())
    assert lead_sheet.markup("Kim 김민준 李 さくら") == (
        'Kim <font name="HYSMyeongJo-Medium">김민준</font> '
        '<font name="STSong-Light">李</font> <font name="HeiseiMin-W3">さくら</font>')
    path = world.tmp / "cid.pdf"
    lead_sheet.write_pdf(world.record, path)
    assert NON_LATIN in "\n".join(pdf_pages(path))
    assert b"STSong-Light" in path.read_bytes()


def test_a_rationale_longer_than_a_page_is_split_across_pages(world: World) -> None:
    rec = copy.deepcopy(world.record)
    rec["decision"]["rationale"] = "compared " * 2500 + "END"
    path = world.tmp / "long.pdf"
    lead_sheet.write_pdf(rec, path)
    pages = pdf_pages(path)
    assert len(pages) >= 4
    assert "END" in "\n".join(pages[-2:])
    assert all(squeeze(lead_sheet.BANNER) in squeeze(p) for p in pages)


@pytest.mark.parametrize("word", ["Name ", "N"])
def test_a_3000_character_name_is_cut_in_the_pdf_and_whole_in_the_html(world: World,
                                                                      word: str) -> None:
    """A name as long as a booking system may export (3,000 characters, with or without
    spaces) used to stop the PDF with reportlab's LayoutError: it is cut there, with a
    note, and shown whole in the HTML sheet."""
    rec = copy.deepcopy(world.record)
    long = (word * 3000)[:2999] + "Z"
    for c in rec["candidates"]:
        c["name"] = long
    rec["candidate"]["name"] = long
    path = world.tmp / f"long-name-{len(word)}.pdf"
    lead_sheet.write_pdf(rec, path)
    text = squeeze("\n".join(pdf_pages(path)))
    assert squeeze("cut here: 3,000 characters in all") in text
    assert squeeze(long[:200]) in text and squeeze(long) not in text
    assert long in lead_sheet.render_html(rec)
