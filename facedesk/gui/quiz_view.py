"""The trainee quiz in the trainer view (its Quiz tab; facedesk.app.quiz).

Three pages: the set-up (size, share of genuine pairs, the algorithm's threshold, a group
column, the seed) with the list of past quizzes per trainee; the quiz itself, two gallery
faces side by side WITHOUT any score, answered with the buttons or the keys S (same
person), D (different persons), C (can't tell); and the results, the trainee's figures
beside the algorithm's on the same pairs, per group, with every pair's truth, and Export.

The signed-in user takes the quiz as themself. Everything that reads or writes the
gallery runs on the task runner's gallery lane (gui/tasks.run_task), in order: an
answer is stored before the next pair's faces are read; the seconds per pair run from
the moment both faces are on screen to the answer.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from facedesk.app import quiz
from facedesk.app.accounts import Session
from facedesk.domain import quiz as dq
from facedesk.gui.images import face_pixmap, image_label
from facedesk.gui.styles import ERROR_STYLE
from facedesk.gui.tables import read_only_table
from facedesk.gui.tasks import describe_error, rebind, run_task
from facedesk.gui.widgets import button, spin_box, start_folder, wrapped

#: the faces' size on screen
FACE_PX = 260
NO_GROUP = "(none)"
#: the keys that answer, and the buttons' words
KEYS = {dq.SAME: "S", dq.DIFFERENT: "D", dq.CANT_TELL: "C"}
WORDS = {dq.SAME: "Same person", dq.DIFFERENT: "Different persons",
         dq.CANT_TELL: "Can't tell"}
PAST_COLUMNS = ("quiz", "trainee", "started", "answered", "finished", "threshold", "group")


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()


class _QuestionPage(QWidget):
    """The quiz page: the keys S, D and C answer while it has the focus (and, through
    shortcuts, while the focus is anywhere in it)."""

    def __init__(self, answer: Callable[[str], None]) -> None:
        super().__init__()
        self._answer = answer

    def keyPressEvent(self, event: QKeyEvent) -> None:
        given = next((a for a, k in KEYS.items() if event.text().upper() == k), None)
        if given is not None and not event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier:
            self._answer(given)
            event.accept()
            return
        super().keyPressEvent(event)


class QuizPanel(QWidget):
    """The Quiz tab: set up, take, and read quizzes of the signed-in trainee."""

    def __init__(self, location: str | Path, session: Session | None, metadata_keys: list[str],
                 threshold: float = 0.6, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("quizPanel")
        #: what `Gallery.open` takes (a file's path or a server's URL, which may hold a
        #: password: never shown)
        self.open_location = location
        self._last_folder: Path | None = None
        self._session = session
        self.quiz: quiz.Quiz | None = None
        self.result: quiz.QuizResult | None = None
        self.position: int | None = None
        self._shown_at: float | None = None
        self._waiting = False
        #: why no quiz can be taken here ("" when one can)
        self.why_not = ""
        self.past: list[quiz.QuizSession] = []
        self.stack = QStackedWidget()
        self.stack.setObjectName("quizStack")
        self.setup_page = self._build_setup(metadata_keys, threshold)
        self.question_page = self._build_question()
        self.results_page = self._build_results()
        for page in (self.setup_page, self.question_page, self.results_page):
            self.stack.addWidget(page)
        QVBoxLayout(self).addWidget(self.stack)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.stack.currentWidget() is self.setup_page:
            self.refresh_past()

    # -- building ------------------------------------------------------------------------------

    def _build_setup(self, keys: list[str], threshold: float) -> QWidget:
        page = QWidget()
        page.setObjectName("quizSetupPage")
        col = QVBoxLayout(page)
        col.addWidget(wrapped(
            "<b>Trainee quiz.</b> Pairs of this gallery's faces are shown side by side "
            "without any score: about half are two photos of the same person, the rest the "
            "gallery's closest look-alikes (two different persons that face search places "
            "close together). Answer each pair <b>same</b>, <b>different</b> or <b>can't "
            "tell</b>; at the end your figures are shown beside the algorithm's on the same "
            "pairs. The quiz is kept under the user signed in.", "quizIntro"))
        row = QHBoxLayout()
        row.addWidget(QLabel("Pairs:"))
        self.size_spin = spin_box("quizSizeSpin", dq.MIN_SIZE, dq.MAX_SIZE,
                                  tooltip="How many pairs the quiz shows")
        self.size_spin.setValue(20)
        row.addWidget(self.size_spin)
        row.addWidget(QLabel("Same-person pairs:"))
        self.share_spin = spin_box("quizShareSpin", 0, 100, " %",
                                   tooltip="The share of genuine pairs (two photos of one "
                                           "person); the rest are look-alike pairs")
        self.share_spin.setValue(50)
        row.addWidget(self.share_spin)
        row.addWidget(QLabel("Algorithm: same person if distance ≤"))
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setObjectName("quizThresholdSpin")
        self.threshold_spin.setRange(0.2, 1.0)
        self.threshold_spin.setDecimals(3)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setValue(threshold)
        self.threshold_spin.setToolTip("The algorithm's answers, shown beside the trainee's "
                                       "at the end, are read at this threshold")
        row.addWidget(self.threshold_spin)
        row.addWidget(QLabel("Per group:"))
        self.group_combo = QComboBox()
        self.group_combo.setObjectName("quizGroupCombo")
        self.group_combo.addItem(NO_GROUP, None)
        for key in keys:
            self.group_combo.addItem(key, key)
        if "sex" in keys:
            self.group_combo.setCurrentIndex(keys.index("sex") + 1)
        row.addWidget(self.group_combo)
        row.addWidget(QLabel("Seed:"))
        self.seed_spin = spin_box("quizSeedSpin", 0, 1_000_000,
                                  tooltip="The same seed gives the same pairs in the same "
                                          "order: give a class the same quiz")
        row.addWidget(self.seed_spin)
        self.start_button = button("Start quiz", "startQuizButton", self.start)
        row.addWidget(self.start_button)
        row.addStretch(1)
        col.addLayout(row)
        self.setup_status = wrapped("", "quizSetupStatus", selectable=True)
        col.addWidget(self.setup_status)
        self.past_title = QLabel("Past quizzes")
        self.past_title.setObjectName("pastQuizzesTitle")
        col.addWidget(self.past_title)
        self.past_table = read_only_table(PAST_COLUMNS, "pastQuizzesTable")
        self.past_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.past_table.itemSelectionChanged.connect(self._on_past_selected)
        self.past_table.cellDoubleClicked.connect(lambda *_: self.show_selected())
        col.addWidget(self.past_table, 1)
        past_row = QHBoxLayout()
        self.show_button = button("Show results", "showQuizResultsButton",
                                  self.show_selected,
                                  tooltip="The chosen quiz's figures (or go on with an "
                                          "unfinished quiz of your own)")
        self.show_button.setEnabled(False)
        past_row.addWidget(self.show_button)
        past_row.addStretch(1)
        col.addLayout(past_row)
        self._check_who()
        return page

    def _check_who(self) -> None:
        """Say why no quiz can be taken here, instead of a button that does nothing."""
        why = ""
        if self._session is None:
            why = ("This gallery has no users: a quiz is kept per trainee, so it runs on a "
                   "training gallery with users (sign in as the trainee).")
        elif not self._session.settings().training:
            why = ("This is not a training gallery: quizzes run on a training gallery only "
                   "(an administrator sets it: Administration > Settings > training).")
        self.why_not = why
        for w in (self.start_button, self.size_spin, self.share_spin, self.threshold_spin,
                  self.group_combo, self.seed_spin, self.past_title, self.past_table,
                  self.show_button):
            w.setVisible(not why)
        if why:
            self._status(why, error=False)
        elif self._session is not None:
            self._status(f"The quiz is taken as {self._session.user.display_name} "
                         f"({self._session.user_id}).")

    def _build_question(self) -> QWidget:
        page = _QuestionPage(self.give)
        page.setObjectName("quizQuestionPage")
        page.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        col = QVBoxLayout(page)
        self.question_title = QLabel()
        self.question_title.setObjectName("quizQuestionTitle")
        font = self.question_title.font()
        font.setPointSizeF(font.pointSizeF() + 3)
        font.setBold(True)
        self.question_title.setFont(font)
        col.addWidget(self.question_title)
        col.addWidget(wrapped("Are these two photos of the same person? Look at the faces "
                              "only; there is no score. Keys: S same, D different, C can't "
                              "tell.", "quizQuestionHint"))
        faces = QHBoxLayout()
        self.left_face = image_label("quizLeftFace", FACE_PX)
        self.right_face = image_label("quizRightFace", FACE_PX)
        faces.addWidget(self.left_face)
        faces.addWidget(self.right_face)
        col.addLayout(faces, 1)
        answers = QHBoxLayout()
        self.answer_buttons: dict[str, QPushButton] = {}
        for given in dq.ANSWERS:
            b = button(f"{WORDS[given]}  ({KEYS[given]})", f"answer_{given}",
                       functools.partial(self.give, given))
            b.setMinimumHeight(40)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            answers.addWidget(b)
            self.answer_buttons[given] = b
            shortcut = QShortcut(QKeySequence(KEYS[given]), page)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(functools.partial(self.give, given))
        col.addLayout(answers)
        self._enable_answers(False)  # until a pair's faces are shown
        bottom = QHBoxLayout()
        self.question_status = wrapped("", "quizQuestionStatus")
        bottom.addWidget(self.question_status, 1)
        self.finish_button = button(
            "Finish now", "finishQuizButton", self.finish,
            tooltip="End the quiz here: the pairs not answered are left out of the figures")
        self.finish_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        bottom.addWidget(self.finish_button)
        col.addLayout(bottom)
        return page

    def _build_results(self) -> QWidget:
        page = QWidget()
        page.setObjectName("quizResultsPage")
        col = QVBoxLayout(page)
        self.results_headline = wrapped("", "quizResultsHeadline", selectable=True)
        font = self.results_headline.font()
        font.setPointSizeF(font.pointSizeF() + 2)
        self.results_headline.setFont(font)
        # room for its three lines: beside the tables the layout gave it one
        self.results_headline.setMinimumHeight(
            3 * self.results_headline.fontMetrics().lineSpacing() + 6)
        col.addWidget(self.results_headline)
        self.score_table = read_only_table(dq.SCORE_COLUMNS, "quizScoreTable",
                                           rows_selectable=False)
        self.score_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        col.addWidget(self.score_table, 3)
        self.results_note = wrapped("", "quizResultsNote", selectable=True)
        col.addWidget(self.results_note)
        self.pairs_table = read_only_table(
            ("pair", "group", "truth", "answer", "seconds", "algorithm", "distance"),
            "quizPairsTable", rows_selectable=False)
        self.pairs_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        col.addWidget(self.pairs_table, 2)
        row = QHBoxLayout()
        self.export_status = wrapped("", "quizExportStatus", selectable=True)
        row.addWidget(self.export_status, 1)
        self.export_button = button("Export…", "exportQuizButton", lambda: self.export(),
                                    tooltip="Save these results as CSV (the figures) or "
                                            "JSON (with every pair)")
        row.addWidget(self.export_button)
        row.addWidget(button("Back to quizzes", "backToQuizzesButton", self.back))
        col.addLayout(row)
        return page

    # -- helpers --------------------------------------------------------------------------------

    def _status(self, text: str, error: bool = False) -> None:
        page = self.stack.currentIndex()
        label = self.setup_status if page <= 0 else (
            self.question_status if page == 1 else self.export_status)
        label.setText(escape(text))
        label.setStyleSheet(ERROR_STYLE if error else "")

    def _run(self, fn: Any, on_done: Any, name: str) -> None:
        """`fn(session)` on the gallery lane, its result to `on_done` here."""
        session = self._session
        assert session is not None
        run_task(self, lambda gallery: fn(rebind(session, gallery)), on_done,
                 self._failed, gallery=self.open_location, name=name)

    def _failed(self, exc: BaseException) -> None:
        self._waiting = False
        self.start_button.setEnabled(True)
        self._enable_answers(self.position is not None)
        self._status(describe_error(exc), error=True)

    def options(self) -> quiz.QuizOptions:
        key = self.group_combo.currentData()
        return quiz.QuizOptions(size=self.size_spin.value(),
                                threshold=round(self.threshold_spin.value(), 3),
                                group_key=None if key is None else str(key),
                                seed=self.seed_spin.value(),
                                genuine_share=self.share_spin.value() / 100)

    # -- past quizzes --------------------------------------------------------------------------

    def refresh_past(self) -> None:
        if self._session is None or self.why_not:
            return
        self._run(quiz.sessions, self._show_past, "quiz list")

    def _show_past(self, found: list[quiz.QuizSession]) -> None:
        self.past = found
        _fill(self.past_table, [
            [str(s.id), s.user_id, s.created_at.replace("T", " ")[:19],
             f"{s.answered} of {s.size}", "yes" if s.finished else "no — go on with it",
             f"{s.threshold:g}", s.group_key or "–"] for s in found])
        self.past_title.setText(f"Past quizzes ({len(found)})" if found else
                                "Past quizzes: none yet")
        self._on_past_selected()

    def _selected(self) -> quiz.QuizSession | None:
        rows = self.past_table.selectionModel().selectedRows()
        return self.past[rows[0].row()] if rows else None

    def _on_past_selected(self) -> None:
        s = self._selected()
        self.show_button.setEnabled(s is not None)
        own_open = s is not None and self._session is not None and not s.finished and \
            s.user_id == self._session.user_id
        self.show_button.setText("Go on with the quiz" if own_open else "Show results")

    def show_selected(self) -> None:
        s = self._selected()
        if s is None:
            return
        if not s.finished and self._session is not None and s.user_id == self._session.user_id:
            self._run(lambda session: quiz.load(session, s.id), self._begin, "quiz load")
        else:
            self._run(lambda session: quiz.result(session, s.id), self._show_result,
                      "quiz result")

    # -- taking the quiz -----------------------------------------------------------------------

    def start(self) -> None:
        if self._waiting:
            return
        self._waiting = True
        self.start_button.setEnabled(False)
        self._status("Drawing the pairs…")
        options = self.options()
        self._run(lambda session: quiz.start(session, options), self._begin, "quiz start")

    def _begin(self, q: quiz.Quiz) -> None:
        self._waiting = False
        self.start_button.setEnabled(True)
        self.quiz = q
        self.stack.setCurrentWidget(self.question_page)
        self.question_page.setFocus()
        self._status(q.note and f"Note: {q.note}.")
        self._next(q.next_position)

    def _next(self, position: int | None) -> None:
        self.position = position
        self._shown_at = None
        if position is None:
            self.finish()
            return
        assert self.quiz is not None
        self.question_title.setText(f"Pair {position + 1} of {len(self.quiz.rows)}")
        self._enable_answers(False)
        for label in (self.left_face, self.right_face):
            label.clear()
            label.setText("Reading the face…")
        row = self.quiz.rows[position]
        run_task(self, lambda gallery: quiz.crops(gallery, row),
                 functools.partial(self._show_faces, position), self._failed,
                 gallery=self.open_location, name="quiz faces")

    def _show_faces(self, position: int, crops: tuple[bytes, bytes]) -> None:
        if position != self.position:
            return
        for label, data in zip((self.left_face, self.right_face), crops, strict=True):
            pixmap = face_pixmap(data, size=FACE_PX)
            if pixmap is None:
                label.setText("No crop stored for this face.")
            else:
                label.setPixmap(pixmap)
        self._shown_at = time.monotonic()
        self._enable_answers(True)
        self.question_page.setFocus()

    def _enable_answers(self, on: bool) -> None:
        for b in self.answer_buttons.values():
            b.setEnabled(on)

    def give(self, given: str) -> None:
        """Answer the pair on screen (a button or its key); ignored while its faces are
        not shown yet or the last answer is being stored."""
        if self.quiz is None or self.position is None or self._shown_at is None or \
                self.stack.currentWidget() is not self.question_page:
            return
        seconds = time.monotonic() - self._shown_at
        position, quiz_id = self.position, self.quiz.session.id
        self._shown_at = None
        self._enable_answers(False)
        self._run(lambda session: quiz.answer(session, quiz_id, position, given, seconds),
                  functools.partial(self._answered, position), "quiz answer")

    def _answered(self, position: int, row: quiz.QuizRow) -> None:
        assert self.quiz is not None
        rows = list(self.quiz.rows)
        rows[position] = row
        self.quiz = quiz.Quiz(self.quiz.session, tuple(rows), self.quiz.note)
        self._next(self.quiz.next_position)

    def finish(self) -> None:
        if self.quiz is None or self._waiting:
            return
        self._waiting = True
        self._enable_answers(False)
        quiz_id = self.quiz.session.id
        self._run(lambda session: quiz.finish(session, quiz_id), self._show_result,
                  "quiz finish")

    # -- results -------------------------------------------------------------------------------

    def _show_result(self, r: quiz.QuizResult) -> None:
        self._waiting = False
        self.result, self.quiz, self.position = r, None, None
        self.stack.setCurrentWidget(self.results_page)
        s, sc = r.quiz.session, r.score
        tr, al = sc.overall.trainee, sc.overall.algorithm
        left = f" ({sc.unanswered} not answered, left out)" if sc.unanswered else ""
        self.results_headline.setText(
            f"<b>{escape(r.display_name)}</b>, quiz {s.id}: {sc.overall.pairs} of "
            f"{sc.pairs} pairs answered{escape(left)}.<br>"
            f"Accuracy <b>{escape(dq.rate_cell(tr.correct))}</b>; the algorithm at "
            f"distance ≤ {sc.threshold:g}: <b>{escape(dq.rate_cell(al.correct))}</b>.<br>"
            f"False \"same\" (said same of two different persons): "
            f"{escape(dq.rate_cell(tr.false_same))}; the algorithm: "
            f"{escape(dq.rate_cell(al.false_same))}.")
        _fill(self.score_table, dq.score_rows(sc))
        shown = min(self.score_table.rowCount(), 10)  # all groups of a column like sex
        self.score_table.setMinimumHeight(
            self.score_table.horizontalHeader().height() + 2 * self.score_table.frameWidth()
            + sum(self.score_table.rowHeight(i) for i in range(shown)))
        self.results_note.setText(
            "Each figure counts the pairs answered, with its 95 % interval: with a few "
            "pairs in a group the interval is wide, and the figure says little. A pair's "
            "group is its two faces' group, or both groups when they differ."
            + (f" Grouped by {escape(s.group_key)}." if s.group_key else ""))
        _fill(self.pairs_table, [
            [str(p["pair"]), p["group"], dq.ANSWER_WORDS[p["truth"]],
             dq.ANSWER_WORDS.get(p["answer"] or "", "not answered"),
             "–" if p["seconds"] is None else f"{p['seconds']:.1f}",
             dq.ANSWER_WORDS[p["algorithm"]], f"{p['distance']:.3f}"] for p in r.pairs])
        self.export_status.setText("")
        self.export_status.setStyleSheet("")

    def export(self, path: Path | None = None) -> Path | None:
        r = self.result
        if r is None or self._session is None:
            return None
        if path is None:
            name = f"quiz-{r.quiz.session.id}-{r.quiz.session.user_id}.csv"
            default = start_folder(self.open_location, self._last_folder) / name
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export the quiz results", str(default),
                "CSV: the figures (*.csv);;JSON: with every pair (*.json)")
            if not chosen:
                return None
            path = Path(chosen)
            self._last_folder = path.parent
        if path.suffix.lower() not in (".csv", ".json"):
            path = path.with_name(path.name + ".csv")
        target = path
        self._run(lambda session: quiz.export(session, r, target), self._exported,
                  "quiz export")
        return path

    def _exported(self, path: Path) -> None:
        self._status(f"Exported: {path}")

    def back(self) -> None:
        self.result = None
        self.stack.setCurrentWidget(self.setup_page)
        self._check_who()
        self.refresh_past()

