"""The supervisor's second review of possible leads: the queue, both faces, the
figures, the analyst's decision with its rationale and FISWG checklist (both hidden in a
blind second review, by the one rule `cases.hidden_rationales`), and the verdict with a
rationale."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QGroupBox,
    QPlainTextEdit,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import accounts, cases
from facedesk.app.accounts import Session
from facedesk.app.lead_sheet import probe_lookalikes_text
from facedesk.app.review import DECISIONS
from facedesk.domain import imaging
from facedesk.domain.fiswg import Checklist
from facedesk.errors import FaceDeskError, ImageError, LeadError
from facedesk.gui.admin.base import AdminDialog, banner, quietly, user_names
from facedesk.gui.compare_view import CompareView
from facedesk.gui.formatting import plural, when
from facedesk.gui.images import face_pixmap, image_label, outlined_pixmap
from facedesk.gui.sizing import fit_to_screen
from facedesk.gui.tables import fill_table, make_table, select_key, selected_key
from facedesk.gui.widgets import button, column, wrapped

BLIND_PLACEHOLDER = ("Hidden until you submit your own verdict: blind second review is on, "
                     "so that your judgement does not lean on the analyst's.")
#: in place of the analyst's checklist in a blind second review
BLIND_CHECKLIST = "Feature-by-feature checklist: hidden until you submit your own verdict."
#: in place of an analyst's rationale that blind second review keeps from the reader
REVIEW_PLACEHOLDER = ("Your rationale (required): what did you compare, feature by feature, "
                      "and what did you see?")


def checklist_html(checklist: Checklist | None) -> str:
    """The analyst's FISWG checklist in a few lines, grouped by judgement."""
    if checklist is None:
        return "No feature-by-feature checklist was recorded with this decision."
    lines = [f"<b>{html.escape(label)}:</b> {html.escape(', '.join(names))}"
             for label, names in checklist.grouped()]
    return "<b>Feature-by-feature (FISWG)</b><br>" + "<br>".join(lines)


def candidate_figures(cand: dict[str, Any] | None, search: dict[str, Any] | None) -> str:
    """Distance, false match rate and look-alikes of a stored candidate, in words."""
    if cand is None or search is None:
        return "The search is no longer stored (purged by retention): no figures to show."
    parts = [f"Rank {cand['rank']} of {len(search['candidates'])} candidates shown",
             f"distance {cand['distance']:.3f} (threshold {search['threshold']:.2f})"]
    fmr = cand.get("fmr")
    if fmr is None:
        parts.append("no calibration for this engine: the distance cannot be read as a "
                     "false match rate")
    else:
        low, high = fmr.get("fmr_95", [None, None])
        interval = "" if low is None else f" (95 %: {low:.1e} to {high:.1e})"
        parts.append(f"false match rate {fmr['fmr']:.1e}{interval}")
    persons = f"{search['persons_searched']:,} persons searched"
    looks = cand.get("expected_lookalikes")
    if cand.get("lookalikes"):  # this probe's own estimate, the figure to read
        parts.append(f"look-alikes for this probe {probe_lookalikes_text(cand)} among "
                     f"{persons}")
        if looks is not None:
            parts.append(f"reference table {looks:.2g}")
    elif looks is not None:
        parts.append(f"expected look-alikes {looks:.2g} among {persons}")
    else:
        parts.append(persons)
    text = " · ".join(parts)
    if search.get("calibration_source"):
        text += f"\nCalibration: {search['calibration_source']}"
    return text


class SecondReviewDialog(AdminDialog):
    """The supervisor's queue of possible leads waiting for a second review."""

    #: a decision id whose second review was just recorded
    reviewed = Signal(int)

    QUEUE_COLUMNS = ("Case", "Analyst", "Recorded", "Candidate")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(session, "secondReviewDialog", "Second review of possible leads", parent)
        self.current: cases.Decision | None = None
        self._submitted: set[int] = set()
        self._names = user_names(session)

        intro = wrapped(
            "Possible leads recorded by analysts wait here for a second review by a "
            "different person. Compare the two faces yourself, then confirm or overturn "
            "with your rationale. Only a confirmed lead is a case result.")
        self.queue_label = wrapped(name="queueLabel")
        self.queue = make_table(self.QUEUE_COLUMNS, "leadQueue")
        self.queue.itemSelectionChanged.connect(self._queue_selected)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.queue_label)
        left_layout.addWidget(self.queue, 1)

        # the analyst's compare view (eye alignment, blend, flicker, landmarks, originals),
        # and the whole probe still with the searched face outlined
        self.compare = CompareView()
        self.compare.setObjectName("reviewCompare")
        self.probe_view = image_label("probeImage", least=160)
        self.candidate_view = image_label("candidateImage", least=160)
        self.probe_caption = wrapped(name="probeCaption")
        self.candidate_caption = wrapped(name="candidateCaption")
        for caption in (self.probe_caption, self.candidate_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        photos = QWidget()
        images = QGridLayout(photos)
        images.addWidget(self.probe_caption, 0, 0)
        images.addWidget(self.candidate_caption, 0, 1)
        images.addWidget(self.probe_view, 1, 0)
        images.addWidget(self.candidate_view, 1, 1)
        images.setRowStretch(1, 1)
        self.views = QTabWidget()
        self.views.setObjectName("reviewViews")
        self.views.addTab(self.compare, "Compare")
        self.views.addTab(photos, "Whole probe and gallery crop")
        self.figures = wrapped(name="leadFigures", selectable=True)

        analyst_box = QGroupBox("The analyst's decision")
        self.analyst_label = wrapped(name="analystLabel")
        self.analyst_rationale = wrapped(name="analystRationale", selectable=True)
        self.analyst_checklist = wrapped(name="analystChecklist", selectable=True)
        analyst_text = QWidget()
        text_layout = QVBoxLayout(analyst_text)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_layout.addWidget(self.analyst_label)
        text_layout.addWidget(self.analyst_rationale)
        text_layout.addWidget(self.analyst_checklist)
        text_layout.addStretch(1)
        # a long rationale and the 18 components' checklist scroll here, never cut off
        analyst_scroll = QScrollArea(objectName="analystScroll")
        analyst_scroll.setWidgetResizable(True)
        analyst_scroll.setFrameShape(QFrame.Shape.NoFrame)
        analyst_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        analyst_scroll.setWidget(analyst_text)
        analyst_scroll.setMinimumHeight(140)
        box_layout = QVBoxLayout(analyst_box)
        box_layout.addWidget(analyst_scroll)

        review_box = QGroupBox("Your second review")
        self.verdict_confirm = QRadioButton("Confirm: a possible lead worth investigating")
        self.verdict_confirm.setObjectName("verdictConfirm")
        self.verdict_overturn = QRadioButton("Overturn: not a lead")
        self.verdict_overturn.setObjectName("verdictOverturn")
        self.verdicts = QButtonGroup(self)
        self.verdicts.addButton(self.verdict_confirm)
        self.verdicts.addButton(self.verdict_overturn)
        self.verdicts.buttonToggled.connect(lambda *_: self._update_buttons())
        self.rationale_edit = QPlainTextEdit()
        self.rationale_edit.setObjectName("rationale_edit")
        self.rationale_edit.setPlaceholderText(REVIEW_PLACEHOLDER)
        self.rationale_edit.setTabChangesFocus(True)
        self.rationale_edit.setMinimumHeight(56)
        self.rationale_edit.setMaximumHeight(90)
        self.rationale_edit.textChanged.connect(self._update_buttons)
        self.submit_button = button("Submit second review", "submit_button",
                                    lambda: quietly(self.submit))
        radios = QVBoxLayout()
        radios.addWidget(self.verdict_confirm)
        radios.addWidget(self.verdict_overturn)
        review_layout = QVBoxLayout(review_box)
        review_layout.addLayout(radios)
        review_layout.addWidget(self.rationale_edit)
        review_layout.addWidget(self.error_label)
        review_layout.addWidget(self.submit_button, 0, Qt.AlignmentFlag.AlignRight)
        review_layout.addWidget(self.status_label)
        # the queue, the analyst's decision and the review form on the left, so that
        # the compare view has the height of the dialog (it had ~100 px at 768 px)
        left_layout.addWidget(analyst_box)
        left_layout.addWidget(review_box)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.views, 1)
        right_layout.addWidget(self.figures)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        left.setMinimumWidth(300)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 820])

        bottom = self.closing_row(None)

        column(self, banner(), intro, (splitter, 1), bottom)
        fit_to_screen(self, 1180, 800)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------

    @property
    def blind(self) -> bool:
        return accounts.settings(self.gallery).blind_second_review

    def refresh(self) -> None:
        """Reload the queue; keep showing the lead on screen (even one just reviewed)."""
        pending = cases.pending_leads(self.gallery)
        self._names = user_names(self.session)  # one query, not one per lead
        rows = [(d.id, (d.case_number, self._names.get(d.reviewer, d.reviewer),
                           when(d.created_at), f"#{d.rank} {d.person_id}"))
                for d in pending]
        fill_table(self.queue, rows)
        n = len(pending)
        self.queue_label.setText(
            "No possible lead waits for a second review." if n == 0 else
            f"{plural(n, 'possible lead')} wait{'s' if n == 1 else ''} for a "
            "second review (oldest first).")
        if self.current is not None:
            with QSignalBlocker(self.queue):
                select_key(self.queue, self.current.id)
        elif pending:
            self.select_decision(pending[0].id)
        else:
            self._show(None)

    def _queue_selected(self) -> None:
        key = selected_key(self.queue)
        if key is not None and (self.current is None or key != self.current.id):
            self.select_decision(int(key))

    def select_decision(self, decision_id: int) -> None:
        """Show one possible lead: both faces, the figures, and the analyst's decision."""
        self.show_error("")
        self.show_status("")
        d = self.act(lambda: cases.get_decision(self.gallery, decision_id))
        if self.current is None or self.current.id != decision_id:
            self._clear_draft()
        with QSignalBlocker(self.queue):
            if select_key(self.queue, decision_id) is None:
                self.queue.clearSelection()
        self._show(d)

    def _clear_draft(self) -> None:
        with QSignalBlocker(self.verdicts):
            self.verdicts.setExclusive(False)
            self.verdict_confirm.setChecked(False)
            self.verdict_overturn.setChecked(False)
            self.verdicts.setExclusive(True)
        with QSignalBlocker(self.rationale_edit):
            self.rationale_edit.setReadOnly(False)
            self.rationale_edit.clear()

    def _show(self, d: cases.Decision | None) -> None:
        self.current = d
        if d is None:
            self.compare.clear()
            self.probe_view.clear()
            self.candidate_view.clear()
            self.probe_view.setText("Choose a possible lead in the queue.")
            self.candidate_caption.setText("")
            self.probe_caption.setText("")
            self.figures.setText("")
            self.analyst_label.setText("")
            self.analyst_rationale.setText("")
            self.analyst_checklist.setText("")
            self._update_buttons()
            return
        try:
            search: cases.StoredSearch | None = cases.search_record(self.gallery, d.search_id)
        except FaceDeskError:
            search = None
        cand = None if search is None else search.candidate(d.rank)

        probe = cases.probe_image(self.gallery, d.search_id)
        box = None if search is None else search.probe_box
        pix = outlined_pixmap(probe, box)
        self.probe_view.clear()
        if pix is None:
            self.probe_view.setText("The probe image was purged by retention (or is not "
                                    "stored): it cannot be shown.")
        else:
            self.probe_view.setPixmap(pix)
        probe_name = "" if search is None else f": {search.probe_name}"
        self.probe_caption.setText(f"<b>Probe</b>{html.escape(probe_name)}")

        crop = face_pixmap(self.gallery.face_crop(int(d.face_id)))
        self.candidate_view.clear()
        if crop is None:
            self.candidate_view.setText("This gallery face has no stored crop.")
        else:
            self.candidate_view.setPixmap(crop)
        name = "" if cand is None or not cand.get("name") else f" — {cand['name']}"
        self.candidate_caption.setText(
            f"<b>Candidate #{d.rank}</b>: {html.escape(d.person_id + name)}")
        self.figures.setText(candidate_figures(cand, None if search is None else search.as_dict()))
        self._show_compare(d, search, cand, probe)

        analyst = self._names.get(d.reviewer, d.reviewer)
        own = " — you recorded this lead" if d.reviewer == self.session.user_id else ""
        self.analyst_label.setText(
            f"Case {d.case_number}: {DECISIONS.get(d.decision, d.decision)} recorded "
            f"by {analyst} on {when(d.created_at)}{own}. "
            f"Status: {cases.LEAD_STATUS[d.status]}.")
        hidden = d.id not in self._submitted and d.id in cases.hidden_rationales(
            self.gallery, self.session.user_id, d.case_id)
        muted = "color: palette(mid); font-style: italic;"
        if hidden:
            self.analyst_rationale.setText(BLIND_PLACEHOLDER)
            self.analyst_rationale.setStyleSheet(muted)
            self.analyst_checklist.setText(BLIND_CHECKLIST)
            self.analyst_checklist.setStyleSheet(muted)
        else:
            self.analyst_rationale.setText(f"Rationale: {d.rationale}")
            self.analyst_rationale.setStyleSheet("")
            self.analyst_checklist.setText(checklist_html(d.checklist))
            self.analyst_checklist.setStyleSheet("" if d.checklist else muted)
        review = d.review
        if review is not None:
            reviewer = self._names.get(review.reviewer, review.reviewer)
            blind = " (blind)" if review.blind else ""
            self.show_status(
                f"Second review{blind}: {cases.VERDICTS[review.verdict]} by {reviewer} on "
                f"{when(review.created_at)}. Rationale: {review.rationale}")
            with QSignalBlocker(self.rationale_edit):
                self.rationale_edit.setPlainText(review.rationale)
                self.rationale_edit.setReadOnly(True)
            with QSignalBlocker(self.verdicts):
                button = self.verdict_confirm if review.verdict == "confirmed" \
                    else self.verdict_overturn
                button.setChecked(True)
        elif d.status != "pending":
            self.show_status(f"Not waiting for a second review: "
                             f"{cases.LEAD_STATUS[d.status].lower()}.")
        self._update_buttons()

    def _show_compare(self, d: cases.Decision, search: cases.StoredSearch | None,
                      cand: dict[str, Any] | None, probe: bytes | None) -> None:
        """Probe and candidate in the compare view, as the analyst had them: the probe
        face (the stored still, its box and landmarks) and the gallery photo."""
        self.compare.clear()
        name = "" if search is None else search.probe_name
        if probe is not None and search is not None:
            try:
                rgb = imaging.load_image(probe, name=name or "probe").rgb
            except ImageError:
                rgb = None
            if rgb is not None:
                quality = search.quality or {}
                landmarks = [tuple(p) for p in quality.get("landmarks") or []]
                self.compare.set_probe(rgb, landmarks, search.probe_box, name or "Probe",
                                       {"probe_sha256": search.probe_sha256,
                                        "width": rgb.shape[1], "height": rgb.shape[0]})
        face_id = int(d.face_id)
        found = self.gallery.face_details([face_id]).get(face_id)
        details = {} if found is None else found.as_dict()
        label = d.person_id + ("" if cand is None or not cand.get("name")
                                  else f" — {cand['name']}")
        info = {"person_id": d.person_id, **details,
                **{f"metadata: {k}": v for k, v in details.get("metadata", {}).items()}}
        info.pop("metadata", None)
        self.compare.set_candidate(details.get("path"), self.gallery.face_landmarks(face_id),
                                   details.get("box"), f"{d.rank}. {label}", info)

    def _verdict(self) -> str | None:
        if self.verdict_confirm.isChecked():
            return "confirmed"
        if self.verdict_overturn.isChecked():
            return "overturned"
        return None

    def _update_buttons(self) -> None:
        d = self.current
        pending = d is not None and d.status == "pending"
        may = self.session.may("review_lead")
        for w in (self.verdict_confirm, self.verdict_overturn, self.rationale_edit):
            w.setEnabled(pending and may)
        if d is None:
            why = "Choose a possible lead in the queue first."
        elif not pending:
            why = "This lead is not waiting for a second review."
        elif self._verdict() is None:
            why = "Choose Confirm or Overturn first."
        elif not self.rationale_edit.toPlainText().strip():
            why = "Write your rationale first."
        else:
            why = ""
        self.allow(self.submit_button, "review_lead", not why, why)

    # -- action --------------------------------------------------------------------------------

    def submit(self) -> cases.Decision:
        """Record the verdict and rationale in the form for the lead on screen."""
        d = self.current
        verdict = self._verdict()
        rationale = self.rationale_edit.toPlainText()

        def review() -> cases.Decision:
            if d is None:
                raise LeadError("choose a possible lead in the queue first")
            if verdict is None:
                raise LeadError("choose Confirm or Overturn")
            return cases.review_lead(self.session, d.id, verdict, rationale,
                                     blind=self.blind)

        after = self.act(review)
        self._submitted.add(after.id)
        self.current = after
        self.refresh()
        self._show(after)
        self.reviewed.emit(after.id)
        return after
