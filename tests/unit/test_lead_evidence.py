"""Tests that would catch a wrong lead sheet or an early purge (issue 14, item 10), with
expectations derived independently of the code under test: a lead on rank 3 (not 1), the
person and face at that rank taken from the search engine's own answer, the crop compared
byte for byte (HTML) and pixel for pixel (PDF) with the gallery's stored crop of that face,
and retention's exact day boundary, second by second."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pypdf
import pytest
from accountability import PURPOSE, World, build_template, world_copy
from PIL import Image

from facedesk.app import cases, lead_sheet

LEAD_RANK = 3


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("lead_evidence"))


@pytest.fixture
def world(template: Path, tmp_path: Path) -> Iterator[World]:
    yield from world_copy(template, tmp_path / "g")


def pixels(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("L").resize((64, 64)), dtype=np.float64)


def stored_crop(w: World, face_id: int) -> bytes:
    row = w.gallery.conn.execute("SELECT crop FROM faces WHERE id = ?", (face_id,)).fetchone()
    return bytes(row[0])


def test_a_lead_on_rank_3_shows_that_candidate_and_its_face(world: World,
                                                            tmp_path: Path) -> None:
    # what the engine itself ranks third (before the test's distances are put in)
    _, _, raw = world.raw_result(None)
    third = raw.candidates[LEAD_RANK - 1]
    others = [c for c in raw.candidates[:4] if c.rank != LEAD_RANK]
    ann, sam = world.session("ann"), world.session("sam")
    case = cases.open_case(ann, "2026-0303", PURPOSE, "burglary")
    cs = world.search(ann, case)
    lead = cases.decide(ann, cs.id, LEAD_RANK, "possible_lead", "same ear shape")
    cases.decide(ann, cs.id, 1, "not_the_person", "different nose")
    cases.review_lead(sam, lead.id, "confirmed", "agree")
    files = lead_sheet.export_lead_sheet(ann, lead.id, tmp_path / "out")
    html = next(p for p in files if p.suffix == ".html").read_text(encoding="utf-8")
    pdf = next(p for p in files if p.suffix == ".pdf")

    # the chosen candidate is rank 3's person, with rank 3's distance (0.45), not rank 1's
    text = re.sub(r"\s+", "", re.sub(r"<[^>]+>", " ", html))
    pdf_text = re.sub(r"\s+", "", "".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages))
    for t in (text, pdf_text):
        assert re.search(rf"Candidaterank{LEAD_RANK}:[^:]*?{re.escape(third.person_id)}\)?"
                         r"Distance0\.4500\(euclidean", t), t
        assert "Distance0.0500(euclidean" not in t

    # the face shown is the gallery's crop of that face: bytes in the HTML ...
    expected = stored_crop(world, third.face_id)
    [shown_b64] = re.findall(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" '
                             r'alt="candidate face"', html)
    shown = base64.b64decode(shown_b64)
    assert shown == expected
    assert all(shown != stored_crop(world, c.face_id) for c in others)
    # ... and pixels in the PDF (the crop is the page's second image, after the probe)
    [_, crop_image] = pypdf.PdfReader(pdf).pages[0].images
    in_pdf = pixels(crop_image.data)
    diff = float(np.abs(in_pdf - pixels(expected)).mean())
    assert diff < 3.0
    assert all(float(np.abs(in_pdf - pixels(stored_crop(world, c.face_id))).mean()) > diff + 5
               for c in others)


NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _stamp(delta: timedelta) -> str:
    return (NOW - delta).isoformat(timespec="seconds")


def test_retention_purges_exactly_after_the_period_not_a_day_or_a_second_early(
        world: World) -> None:
    admin, ann = world.session("admin"), world.session("ann")
    admin.set_setting("retention_days", 30)
    period = timedelta(days=30)
    ages = {
        "29 days": timedelta(days=29),
        "one second short": period - timedelta(seconds=1),
        "exactly the period": period,
        "one second over": period + timedelta(seconds=1),
        "31 days": timedelta(days=31),
    }
    made = {}
    for n, (label, age) in enumerate(ages.items()):
        case = cases.open_case(ann, f"R-{n}", PURPOSE)
        made[label] = world.search(ann, case, created_at=_stamp(age)).id
    plan = cases.purge_plan(world.gallery, now=NOW)
    assert plan.cutoff == _stamp(period)
    assert plan.searches == [made["one second over"], made["31 days"]]
    cases.purge(admin, now=NOW)
    left = {r[0] for r in world.gallery.conn.execute("SELECT id FROM searches")}
    assert left == {made["29 days"], made["one second short"], made["exactly the period"]}
