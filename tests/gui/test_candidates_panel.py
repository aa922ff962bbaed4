"""CandidatesPanel and CandidatesModel over a real Review of a real (fake-engine) gallery."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from fakes import FakeEngine, one_face, save_png
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QImage

from facedesk.app import cases
from facedesk.app.review import Review
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain.rates import FmrReading
from facedesk.gui.candidates_panel import (
    BLIND_TOOLTIP,
    COL_DECISION,
    COL_DISTANCE,
    COL_FACE,
    COL_FMR,
    COL_LOOKALIKES,
    COL_META,
    COL_PERSON,
    COL_PROBE_LOOKALIKES,
    COL_RANK,
    COL_SIMILARITY,
    COLUMNS,
    HIDDEN,
    RANK_ROLE,
    THUMB_PX,
    CandidatesModel,
    CandidatesPanel,
    display_order,
    header_text,
    metadata_text,
)
from facedesk.store import Gallery

MakeReview = Callable[..., Review]
DISPLAY = Qt.ItemDataRole.DisplayRole


@pytest.fixture
def make_review(imported: Gallery, tmp_path: Path) -> MakeReview:
    engine = FakeEngine()
    probe = analyze_probe(engine, save_png(one_face(2, variant=99), tmp_path / "probe.png"))
    face = choose_face(engine, probe)
    result = Searcher(imported, engine.identity()).search(face.encoding, 5)

    def make(blind: bool = False, probe_sha256: str | None = None) -> Review:
        p = probe if probe_sha256 is None else replace(probe, sha256=probe_sha256)
        return Review(p, face, result, blind=blind)

    return make


def crops_of(gallery: Gallery, review: Review) -> dict[int, bytes]:
    return {c.face_id: gallery.face_crop(c.face_id) for c in review.result.candidates}


def cell(model: CandidatesModel, row: int, col: int, role: int = DISPLAY) -> object:
    return model.data(model.index(row, col), role)


def column(model: CandidatesModel, col: int) -> list[object]:
    return [cell(model, row, col) for row in range(model.rowCount())]


def test_open_review_lists_ranks_and_scores_in_order(make_review: MakeReview,
                                                     imported: Gallery) -> None:
    review = make_review(blind=False)
    model = CandidatesModel(review, crops_of(imported, review))
    cands = review.result.candidates
    assert model.rowCount() == 5 and model.columnCount() == len(COLUMNS) == 10
    assert column(model, COL_RANK) == ["1", "2", "3", "4", "5"]
    assert column(model, COL_DISTANCE) == [f"{c.distance:.3f}" for c in cands]
    assert column(model, COL_SIMILARITY) == [f"{c.similarity:.3f}" for c in cands]
    distances = [float(str(d)) for d in column(model, COL_DISTANCE)]
    assert distances == sorted(distances)
    assert cell(model, 0, COL_PERSON) == "person_2\nperson 2"
    assert column(model, COL_DECISION) == ["—"] * 5
    # the shipped calibration is the real engine's: the fake engine has none
    assert column(model, COL_FMR) == ["—"] * 5 and column(model, COL_LOOKALIKES) == ["—"] * 5
    assert [model.rank_at(r) for r in range(5)] == [1, 2, 3, 4, 5]
    assert cell(model, 3, COL_RANK, RANK_ROLE) == 4
    assert cell(model, 0, COL_RANK, Qt.ItemDataRole.ToolTipRole) != BLIND_TOOLTIP


def test_face_column_shows_the_crop_thumbnail(make_review: MakeReview,
                                              imported: Gallery) -> None:
    review = make_review()
    model = CandidatesModel(review, crops_of(imported, review))
    pix = cell(model, 0, COL_FACE, Qt.ItemDataRole.DecorationRole)
    assert isinstance(pix, QImage) and not pix.isNull()
    assert max(pix.width(), pix.height()) == THUMB_PX
    # without a crop: no picture, and the cell says so
    bare = CandidatesModel(review, {})
    assert cell(bare, 0, COL_FACE, Qt.ItemDataRole.DecorationRole) is None
    assert cell(bare, 0, COL_FACE) == "no crop"


def test_blind_review_hides_rank_distance_and_similarity(make_review: MakeReview) -> None:
    review = make_review(blind=True)
    model = CandidatesModel(review, {})
    for col in (COL_RANK, COL_DISTANCE, COL_SIMILARITY, COL_FMR, COL_LOOKALIKES):
        assert column(model, col) == [HIDDEN] * 5
        assert cell(model, 0, col, Qt.ItemDataRole.ToolTipRole) == BLIND_TOOLTIP
    # nothing else leaks a score: no displayed text of any row holds a distance
    texts = [str(cell(model, r, c)) for r in range(5) for c in range(7)]
    for cand in review.result.candidates:
        assert f"{cand.distance:.3f}" not in texts
    # the person is still shown
    assert sorted(str(p).split("\n")[0] for p in column(model, COL_PERSON)) == [
        f"person_{i}" for i in range(5)]


def test_blind_order_is_shuffled_stable_and_seeded_by_the_probe(
        make_review: MakeReview) -> None:
    orders = []
    for i in range(8):
        review = make_review(blind=True, probe_sha256=f"{i:064x}")
        model = CandidatesModel(review, {})
        order = model.ranks_in_display_order()
        assert sorted(order) == [1, 2, 3, 4, 5]
        # stable: the same probe gives the same order, in a new model too
        assert CandidatesModel(review, {}).ranks_in_display_order() == order
        assert [model.rank_at(r) for r in range(5)] == order
        orders.append(order)
    assert any(order != [1, 2, 3, 4, 5] for order in orders)
    assert len({tuple(o) for o in orders}) > 1  # the seed matters
    assert display_order([1, 2, 3], "a") == display_order([3, 2, 1], "a")
    # an open review keeps the rank order
    open_review = make_review(blind=False, probe_sha256="0" * 64)
    assert CandidatesModel(open_review, {}).ranks_in_display_order() == [1, 2, 3, 4, 5]


def test_first_impression_reveals_that_row_only(qtbot, make_review: MakeReview,
                                                imported: Gallery) -> None:
    review = make_review(blind=True)
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.set_review(review, crops_of(imported, review))
    assert panel.blind_indicator.isChecked()
    model = panel.model
    target = model.rank_at(2)
    assert target is not None
    panel.select_rank(target)
    assert panel.selected_rank() == target
    box = panel.impression_box
    assert box.isVisibleTo(panel)
    similar = panel.findChild(type(panel.impression_buttons["similar"]), "impressionSimilar")
    assert similar is panel.impression_buttons["similar"]
    seen: list[tuple[object, ...]] = []
    panel.first_impression_recorded.connect(lambda *a: seen.append(("impression", *a)))
    panel.candidate_selected.connect(lambda *a: seen.append(("selected", *a)))
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: changed.append((a.row(), b.row())))
    qtbot.mouseClick(similar, Qt.MouseButton.LeftButton)
    assert seen == [("impression", target, "similar"), ("selected", target)]
    assert changed and all(first <= 2 <= last for first, last in changed)  # the view repaints
    assert review.first_impressions == {target: "similar"}
    cand = review.candidate(target)
    assert cell(model, 2, COL_RANK) == str(target)
    assert cell(model, 2, COL_DISTANCE) == f"{cand.distance:.3f}"
    assert cell(model, 2, COL_SIMILARITY) == f"{cand.similarity:.3f}"
    assert cell(model, 2, COL_DECISION) == "First impression: Looks similar"
    for row in (0, 1, 3, 4):
        for col in (COL_RANK, COL_DISTANCE, COL_SIMILARITY, COL_FMR, COL_LOOKALIKES):
            assert cell(model, row, col) == HIDDEN
    # the order does not change when a row is revealed
    assert model.rank_at(2) == target
    assert not box.isVisibleTo(panel)
    # another undecided row asks again
    panel.select_rank(model.rank_at(0) or 0)
    assert box.isVisibleTo(panel)


def test_impression_buttons_only_in_blind_review(qtbot, make_review: MakeReview) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.set_review(make_review(blind=False), {})
    assert not panel.blind_indicator.isChecked()
    assert not panel.impression_box.isVisibleTo(panel)
    labels = [panel.findChild(type(panel.impression_buttons["similar"]), name).text()
              for name in ("impressionSimilar", "impressionDifferent", "impressionUnsure")]
    assert labels == ["Looks similar", "Looks different", "Can't tell"]


def test_header_counts_persons_and_never_says_match(qtbot, make_review: MakeReview) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    header = panel.findChild(type(panel.header), "candidatesHeader")
    assert header is panel.header
    assert "No search yet" in header.text()
    review = make_review(blind=False)
    panel.set_review(review, {})
    text = header.text()
    assert text.startswith("5 candidates from 5 persons searched (15 faces).")
    assert "possible leads for review, not identifications" in text
    assert "No calibration for this engine" in text  # no invented figure
    # "false match rate" is the measured term of DESIGN.md; no other "match" is allowed
    plain = re.sub(r"false match rates?", "", text, flags=re.IGNORECASE)
    for word in ("match", "hit", "identified", "suspect"):
        assert not re.search(rf"\b{word}", plain, re.IGNORECASE), word


def test_header_uses_thousands_separators(make_review: MakeReview) -> None:
    review = make_review()
    review.result.persons_searched = 5749
    review.result.faces_searched = 13166
    assert header_text(review).startswith(
        "5 candidates from 5,749 persons searched (13,166 faces).")


def test_next_and_previous_emit_candidate_selected(qtbot, make_review: MakeReview) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    review = make_review(blind=True)
    with qtbot.waitSignal(panel.candidate_selected) as first:
        panel.set_review(review, {})
    order = panel.model.ranks_in_display_order()
    assert first.args == [order[0]] and panel.selected_rank() == order[0]
    for expected in order[1:]:
        with qtbot.waitSignal(panel.candidate_selected) as sig:
            panel.select_next()
        assert sig.args == [expected] and panel.selected_rank() == expected
    with qtbot.assertNotEmitted(panel.candidate_selected):
        panel.select_next()  # stops at the end
    assert panel.selected_rank() == order[-1]
    with qtbot.waitSignal(panel.candidate_selected) as sig:
        panel.select_previous()
    assert sig.args == [order[-2]]
    panel.select_rank(order[0])
    with qtbot.assertNotEmitted(panel.candidate_selected):
        panel.select_previous()  # stops at the start
    with qtbot.waitSignal(panel.candidate_selected) as sig:
        panel.select_rank(order[0])  # an explicit selection is announced even if current
    assert sig.args == [order[0]]
    assert panel.selected_rank() == order[0]


def test_clicking_a_row_selects_its_candidate(qtbot, make_review: MakeReview) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    panel.set_review(make_review(blind=False), {})
    table = panel.table
    rect = table.visualRect(panel.model.index(3, COL_PERSON))
    with qtbot.waitSignal(panel.candidate_selected) as sig:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sig.args == [4]
    assert table.verticalHeader().isHidden()  # row numbers would read as ranks
    assert table.rowHeight(0) >= THUMB_PX


def test_decision_column_after_refresh(qtbot, desk) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    review = desk.review()  # a search recorded in a case, as the window makes it
    panel.set_review(review, {})
    review.record_decision(desk.analyst, 1, "possible_lead", "same scar")
    review.record_decision(desk.analyst, 2, "not_the_person", "different ears")
    changed: list[tuple[QModelIndex, QModelIndex]] = []
    panel.model.dataChanged.connect(lambda a, b, *_: changed.append((a, b)))
    panel.refresh()
    assert changed
    # the cell is short enough for a narrow column; its tooltip has the whole label
    assert column(panel.model, COL_DECISION)[:3] == [
        "Possible lead — pending second review", "Not the person", "—"]
    assert cell(panel.model, 0, COL_DECISION, Qt.ItemDataRole.ToolTipRole) == (
        "Possible lead — pending second review, investigative lead only")


def test_decision_column_says_a_lead_was_overturned_or_confirmed(qtbot, desk) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    review = desk.review()
    panel.set_review(review, {})
    first = review.record_decision(desk.analyst, 1, "possible_lead", "same scar")
    second = review.record_decision(desk.analyst, 2, "possible_lead", "same ears")
    cases.review_lead(desk.supervisor, first.id, "overturned", "the scar is on the left")
    cases.review_lead(desk.supervisor, second.id, "confirmed", "same ears and scar")
    for rank, row in ((1, first), (2, second)):  # as the window does after a review
        review.decided[rank] = cases.get_decision(desk.gallery, row.id)
    panel.refresh()
    labels = column(panel.model, COL_DECISION)
    assert labels[:2] == ["Possible lead — overturned by second reviewer",
                          "Possible lead — confirmed lead"]
    assert cell(panel.model, 1, COL_DECISION, Qt.ItemDataRole.ToolTipRole) == (
        "Possible lead — confirmed lead, investigative lead only")


def test_metadata_text() -> None:
    assert metadata_text({}) == "—"
    assert metadata_text(None) == "—"
    assert metadata_text({"sex": "F", "booked": "2019-03-02", "empty": ""}) == (
        "sex: F; booked: 2019-03-02")
    long = metadata_text({f"k{i}": "x" * 10 for i in range(20)}, limit=40)
    assert len(long) == 40 and long.endswith("…")


def test_metadata_column_uses_the_photo_metadata(make_review: MakeReview) -> None:
    review = make_review()
    review.result.candidates[0].photo["metadata"] = {"sex": "M", "dob": "1980-01-01"}
    model = CandidatesModel(review, {})
    assert cell(model, 0, COL_META) == "sex: M; dob: 1980-01-01"
    assert cell(model, 1, COL_META) == "—"


def test_no_review(qtbot) -> None:
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    assert panel.model.rowCount() == 0 and panel.selected_rank() is None
    panel.select_next()
    panel.select_previous()
    assert panel.selected_rank() is None
    assert not panel.impression_box.isVisibleTo(panel)


def test_a_small_fmr_reads_in_full_with_its_interval_in_the_tooltip(
        qtbot, make_review: MakeReview) -> None:
    """FMR once read "7.9e-0" (the column cut it); similarity, no longer a column, and the
    FMR's interval are in the tooltips; the rank follows the distance, as they say."""
    review = make_review()
    reading = FmrReading(distance=0.41, fmr=7.9e-06, fmr_low=5.1e-06, fmr_high=1.2e-05,
                         impostor_pairs=1_000_000, impostors_at_or_below=8)
    first = review.result.candidates[0]
    review.result.candidates[0] = replace(first, fmr=reading, expected_lookalikes=0.00012,
                                          lookalikes=(0.00012, 0.00009, 0.00016))
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.resize(620, 500)
    panel.show()
    panel.set_review(review, {})
    assert cell(panel.model, 0, COL_FMR) == "7.9e-06"
    table = panel.table
    fm = table.fontMetrics()
    for col in (COL_FMR, COL_PROBE_LOOKALIKES, COL_DISTANCE, COL_RANK):
        text = str(cell(panel.model, 0, col))
        assert fm.horizontalAdvance(text) < table.columnWidth(col), (col, text)
    # the reference table's look-alikes are in the probe's look-alikes tooltip
    assert table.isColumnHidden(COL_SIMILARITY) and table.isColumnHidden(COL_META)
    assert table.isColumnHidden(COL_LOOKALIKES)
    assert "Reference table: 0.00012" in cell(panel.model, 0, COL_PROBE_LOOKALIKES,
                                              Qt.ItemDataRole.ToolTipRole)
    tip = cell(panel.model, 0, COL_DISTANCE, Qt.ItemDataRole.ToolTipRole)
    assert f"similarity {first.similarity:.3f}" in tip and "ranked by distance" in tip
    assert "95 % interval 5.1e-06 to 1.2e-05" in cell(panel.model, 0, COL_FMR,
                                                      Qt.ItemDataRole.ToolTipRole)
    assert "ranked by distance" in panel.model.headerData(
        COL_RANK, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "ranked by distance" in panel.header.text()


def test_no_candidate_says_which_threshold_left_none(qtbot, make_review: MakeReview) -> None:
    review = make_review()
    empty = Review(review.probe, review.face, replace(review.result, candidates=[]))
    panel = CandidatesPanel()
    qtbot.addWidget(panel)
    panel.set_review(empty, {}, threshold=0.6)
    text = panel.header.text()
    assert text.startswith("0 candidates from 5 persons")
    assert "threshold of 0.60" in text
    one = Review(review.probe, review.face,
                 replace(review.result, candidates=review.result.candidates[:1]))
    panel.set_review(one, {}, threshold=0.6)
    assert panel.header.text().startswith("1 candidate from")
