"""The probe-specific look-alikes in the candidate list (issue 16): the header's sentence at
the administrator's threshold, the column per candidate, hidden in blind review; the
reference table labelled as such."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fakes import FakeEngine, one_face, save_png
from PySide6.QtCore import Qt

from facedesk.app.review import Review
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.gui.candidates_panel import (
    COL_PROBE_LOOKALIKES,
    COLUMNS,
    HIDDEN,
    CandidatesModel,
    CandidatesPanel,
    header_text,
    lookalikes_text,
)
from facedesk.store import Gallery


def review_of(gallery: Gallery, tmp_path: Path, blind: bool = False,
              threshold: float | None = 0.6) -> Review:
    engine = FakeEngine()
    probe = analyze_probe(engine, save_png(one_face(1, variant=42), tmp_path / "probe.png"))
    face = choose_face(engine, probe)
    result = Searcher(gallery, engine.identity()).search(face.encoding, 5)
    return Review(probe, face, replace(result, threshold=threshold), blind=blind)


def test_the_header_says_how_many_lookalikes_this_probe_has(imported: Gallery, qtbot,
                                                           tmp_path: Path) -> None:
    review = review_of(imported, tmp_path)
    est = review.result.lookalikes
    assert est is not None
    e, lo, hi = est.at(0.6)
    text = header_text(review)
    assert "At distance 0.60, about" in text
    assert "in this gallery" in text and "expected to come this close to this probe" in text
    assert f"{e:.2g} different person" in text and f"90% band {lo:.2g}–{hi:.2g}" in text
    assert f"all {imported.counts()['persons']:,} persons" in text
    assert "Reference table (the same for every probe)" in text
    # at another threshold, the sentence follows it
    other = replace(review, result=replace(review.result, threshold=0.5))
    assert "At distance 0.50, about" in header_text(other)

    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.set_review(review, {})
    assert panel.model.headerData(COL_PROBE_LOOKALIKES, Qt.Orientation.Horizontal) == \
        COLUMNS[COL_PROBE_LOOKALIKES] == "Look-alikes"
    for row, cand in enumerate(review.result.candidates):
        shown = panel.model.data(panel.model.index(row, COL_PROBE_LOOKALIKES))
        assert cand.lookalikes is not None
        assert shown == lookalikes_text(cand.lookalikes[0])  # the band: in the tooltip
        tip = panel.model.data(panel.model.index(row, COL_PROBE_LOOKALIKES),
                               Qt.ItemDataRole.ToolTipRole)
        assert "90% band {} to {}".format(*map(lookalikes_text, cand.lookalikes[1:])) in tip


def test_blind_review_hides_the_figure(imported: Gallery, tmp_path: Path) -> None:
    review = review_of(imported, tmp_path, blind=True)
    assert "At distance" not in header_text(review)
    model = CandidatesModel(review, {})
    assert model.data(model.index(0, COL_PROBE_LOOKALIKES)) == HIDDEN
