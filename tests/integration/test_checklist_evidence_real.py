"""Issue 18, items 1 and 4 on a real gallery (LFW faces from ../shared/data, the real
engine): the analyst's possible lead with the FISWG checklist on the command line, the
supervisor's blind second review that does not show it, the independent evidence the
administrator requires, and the lead sheet that prints both (read back from the PDF)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pypdf
from click.testing import CliRunner, Result

from facedesk.app import accounts, cases
from facedesk.cli import cli
from facedesk.domain.fiswg import COMPONENTS
from facedesk.store import Gallery

PERSON = "George_W_Bush"
SAM = "granite-Pepper-3391"
#: the sheet this test writes, to look at (pdftoppm -png)
SHEET_DIR = Path(tempfile.gettempdir()) / "facedesk-checklist-real"


def invoke(*args: str | Path, user: str = "ann", password: str = "harbor-Violet-7731"
           ) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args],
                              env={"FACEDESK_USER": user, "FACEDESK_PASSWORD": password})


def ok(res: Result) -> Result:
    assert res.exit_code == 0, (res.exit_code, res.output, res.exception)
    return res


def test_checklist_and_evidence_on_real_faces(case_gallery) -> None:
    db = case_gallery.db
    with Gallery.open(db) as g:
        admin = accounts.sign_in(g, "admin", "quartz-Lantern-6150")
        admin.add_user("sam", "Sam Supervisor", "supervisor", password=SAM)
        for name in ("checklist_required", "blind_second_review", "evidence_required"):
            admin.set_setting(name, True)
    probe = json.loads(ok(invoke("search", case_gallery.probes[PERSON], "--db", db, "--case",
                                 case_gallery.case, "--json")).stdout)
    first = probe["candidates"][0]
    assert first["person_id"] == PERSON  # the held-out photo finds its person first
    features = [a for c in COMPONENTS for a in (
        "--feature", "hair=dissimilar:shorter and greyer: years between the photos"
        if c == "hair" else f"{c}=similar")]
    out = ok(invoke("decide", "--db", db, "--search", probe["search_id"], "--rank", "1",
                    "--decision", "possible_lead", "--rationale", "ears, nose and mouth alike",
                    *features)).stdout
    decision_id = int(re.search(r"decision (\d+) recorded", out).group(1))
    blind = ok(invoke("leads", "pending", "--db", db, user="sam", password=SAM)).stdout
    assert "years between" not in blind and cases.BLIND_HIDDEN in blind
    ok(invoke("leads", "review", decision_id, "--db", db, "--verdict", "confirmed",
              "--rationale", "compared independently: same ears", user="sam", password=SAM))
    refused = invoke("lead-sheet", decision_id, "--db", db, "--out", SHEET_DIR)
    assert refused.exit_code == 1 and "no independent evidence recorded" in refused.stderr
    ok(invoke("evidence", "add", decision_id, "--db", db, "--text",
              "Secret Service detail log places him at the scene (ref. SS-0412)"))
    written = ok(invoke("lead-sheet", decision_id, "--db", db, "--out", SHEET_DIR,
                        "--format", "pdf")).stdout
    pdf = Path(written.split("wrote ", 1)[1].strip())
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pypdf.PdfReader(pdf).pages))
    assert "Hair Dissimilar — shorter and greyer: years between the photos" in text
    assert "17 similar, 1 dissimilar, 0 not visible (18 of 18 components)" in text
    assert "Secret Service detail log places him at the scene (ref. SS-0412)" in text
    assert cases.NO_EVIDENCE_BANNER not in text
