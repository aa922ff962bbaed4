"""The trainee quiz (the trainer view's Quiz tab, `facedesk quiz`): pairs of a training
gallery's faces judged by a trainee before they see the algorithm's answers.

Who: any signed-in, active user of a TRAINING gallery (the administrator's setting
`training`) takes a quiz as themself: the quiz, its pairs and answers are kept under that
user (the trainee). The trainer (or the trainee, as the trainer says) chooses the size,
the share of genuine pairs, the threshold the algorithm answers at, a group column and
the seed (the same seed gives the same quiz, to give a class the same pairs). Only the
trainee answers their own quiz. A user reads their own results; trainers, supervisors and
administrators read every trainee's (permission "quiz_results"). A gallery with real case
work is not for quizzes: its photos are not training material.

Every change is an audit event in the same transaction, with the digests of the rows it
wrote: "quiz_started" (the quiz and its pairs), "quiz_answer" (one answer),
"quiz_finished".

The pairs and the figures are facedesk.domain.quiz's; the rows facedesk.store.quiz's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facedesk.app import accounts, audit
from facedesk.app.accounts import Session
from facedesk.app.lab import check_group
from facedesk.domain import private
from facedesk.domain import quiz as dq
from facedesk.domain.csvsafe import write_csv
from facedesk.errors import EvaluationError, NotPermitted, QuizError
from facedesk.store import Gallery
from facedesk.store import quiz as store
from facedesk.store.db import now_iso
from facedesk.store.quiz import QuizRow, QuizSession

__all__ = ["QuizOptions", "QuizResult", "QuizRow", "QuizSession", "answer", "crops",
           "export", "finish", "load", "result", "results", "sessions", "start",
           "write_faces"]


@dataclass(frozen=True)
class QuizOptions:
    """What the trainer chooses."""

    size: int = 20
    threshold: float = 0.6
    group_key: str | None = None
    seed: int = 0
    genuine_share: float = 0.5


@dataclass(frozen=True)
class Quiz:
    """A stored quiz with its pairs in the order shown; `note`: what the draw could not
    give as asked (only when just started)."""

    session: QuizSession
    rows: tuple[QuizRow, ...]
    note: str = ""

    @property
    def next_position(self) -> int | None:
        """The first pair not answered yet (None: all are)."""
        return next((r.position for r in self.rows if r.answer is None), None)


@dataclass(frozen=True)
class QuizResult:
    """A quiz's figures: the trainee's beside the algorithm's at `score.threshold`."""

    quiz: Quiz
    display_name: str
    score: dq.Score
    gallery: str = ""
    pairs: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        s = self.quiz.session
        return {"quiz": s.as_dict(), "trainee": {"id": s.user_id, "name": self.display_name},
                "gallery": self.gallery, "group_key": s.group_key,
                "algorithm": f"same person when distance <= {self.score.threshold:g}",
                **self.score.as_dict(), "pairs": self.pairs}


# --- rules -----------------------------------------------------------------------------------


def _require_training(session: Session) -> None:
    session.require("lab")
    if not session.settings().training:
        raise NotPermitted(
            f"{session.gallery.name} is not a training gallery: quizzes run on a "
            "training gallery only (an administrator sets it: facedesk settings set "
            "training true)")


def _own(session: Session, quiz_id: int) -> QuizSession:
    """The signed-in user's own quiz, still open."""
    s = store.session(session.gallery, quiz_id)
    if s is None:
        raise QuizError(f"there is no quiz {quiz_id}")
    if s.user_id != session.user_id:
        raise NotPermitted(f"quiz {quiz_id} is {s.user_id}'s: only its trainee answers it")
    if s.finished:
        raise QuizError(f"quiz {quiz_id} is finished: its answers cannot change")
    return s


def _readable(session: Session, quiz_id: int) -> QuizSession:
    s = store.session(session.gallery, quiz_id)
    if s is None:
        raise QuizError(f"there is no quiz {quiz_id}")
    if s.user_id != session.user_id:
        session.require("quiz_results")
    else:
        session.require("lab")
    return s


# --- use cases -------------------------------------------------------------------------------


def start(session: Session, options: QuizOptions) -> Quiz:
    """Draw a quiz from the gallery's faces and store it under the signed-in trainee."""
    _require_training(session)
    gallery = session.gallery
    try:
        check_group(gallery, options.group_key)
    except EvaluationError as exc:
        raise QuizError(exc.message) from None
    if not 0.0 < options.threshold < 2.0:
        raise QuizError(f"the threshold is a distance between 0 and 2, not {options.threshold}")
    enc = gallery.load_encodings()
    if len(set(enc.person_pks.tolist())) < 2:
        raise QuizError(f"{gallery.name} needs faces of at least two persons for a quiz")
    try:
        draw = dq.draw_pairs(enc.matrix, enc.face_ids, enc.person_pks, options.size,
                             options.seed, options.genuine_share)
    except ValueError as exc:
        raise QuizError(str(exc)) from None
    meta = gallery.face_metadata(options.group_key) if options.group_key else {}
    with gallery.write() as conn:
        quiz_id = store.add_session(
            conn, user_id=session.user_id, created_at=now_iso(), gallery_version=enc.version,
            seed=options.seed, size=len(draw.pairs), genuine_share=options.genuine_share,
            threshold=options.threshold, group_key=options.group_key)
        ids = [store.add_pair(conn, quiz_id, i, p.face_a, p.face_b, p.genuine, p.distance,
                              dq.pair_group(meta.get(p.face_a), meta.get(p.face_b))
                              if options.group_key else "all")
               for i, p in enumerate(draw.pairs)]
        audit.append(conn, gallery.gallery_id, "quiz_started",
                     {"quiz": quiz_id, "trainee": session.user_id, "pairs": len(ids),
                      "genuine_pairs": draw.genuine, "impostor_pairs": draw.impostor,
                      "requested": options.size, "seed": options.seed,
                      "threshold": options.threshold, "group_key": options.group_key,
                      "gallery_version": enc.version},
                     user_id=session.user_id,
                     records={"quiz_sessions": [quiz_id], "quiz_answers": ids})
    return Quiz(_session_of(gallery, quiz_id), tuple(store.rows(gallery, quiz_id)), draw.note)


def _session_of(gallery: Gallery, quiz_id: int) -> QuizSession:
    s = store.session(gallery, quiz_id)
    assert s is not None
    return s


def answer(session: Session, quiz_id: int, position: int, given: str,
           seconds: float | None = None) -> QuizRow:
    """Record the trainee's answer to one pair (once: an answer is not changed)."""
    if given not in dq.ANSWERS:
        raise QuizError(f"an answer is one of {', '.join(dq.ANSWERS)}, not {given!r}")
    _own(session, quiz_id)
    rows = {r.position: r for r in store.rows(session.gallery, quiz_id)}
    row = rows.get(position)
    if row is None:
        raise QuizError(f"quiz {quiz_id} has no pair {position + 1}")
    if row.answer is not None:
        raise QuizError(f"pair {position + 1} of quiz {quiz_id} is answered already")
    secs = None if seconds is None else round(max(0.0, float(seconds)), 3)
    with session.gallery.write() as conn:
        store.set_answer(conn, row.id, given, secs, now_iso())
        audit.append(conn, session.gallery.gallery_id, "quiz_answer",
                     {"quiz": quiz_id, "pair": position + 1, "answer": given,
                      "seconds": secs}, user_id=session.user_id,
                     records={"quiz_answers": [row.id]})
    return next(r for r in store.rows(session.gallery, quiz_id) if r.id == row.id)


def finish(session: Session, quiz_id: int) -> QuizResult:
    """End the trainee's quiz (pairs not answered stay out of the figures) and score it."""
    s = _own(session, quiz_id)
    with session.gallery.write() as conn:
        store.finish(conn, quiz_id, now_iso())
        audit.append(conn, session.gallery.gallery_id, "quiz_finished",
                     {"quiz": quiz_id, "answered": s.answered, "pairs": s.size},
                     user_id=session.user_id, records={"quiz_sessions": [quiz_id]})
    return result(session, quiz_id)


def load(session: Session, quiz_id: int) -> Quiz:
    """A quiz with its pairs (the trainee's own, or any for who may read results)."""
    s = _readable(session, quiz_id)
    return Quiz(s, tuple(store.rows(session.gallery, quiz_id)))


def _gives_answers_away(session: Session, s: QuizSession) -> bool:
    """The trainee's own quiz before it is finished: its results hold the truth."""
    return s.user_id == session.user_id and not s.finished


def result(session: Session, quiz_id: int, threshold: float | None = None) -> QuizResult:
    """A quiz's figures, the algorithm's at the quiz's threshold (or `threshold`); not of
    the trainee's own quiz before it is finished (it would give the answers away)."""
    quiz = load(session, quiz_id)
    if _gives_answers_away(session, quiz.session):
        raise QuizError(f"quiz {quiz_id} is not finished: finish it first (its results "
                        "would give the answers away)")
    t = quiz.session.threshold if threshold is None else threshold
    judged = [dq.Judged(r.genuine, r.distance, r.pair_group, r.answer, r.seconds)
              for r in quiz.rows]
    who = accounts.user(session.gallery, quiz.session.user_id)
    pairs = [{"pair": r.position + 1, "face_a": r.face_a, "face_b": r.face_b,
              "truth": dq.SAME if r.genuine else dq.DIFFERENT, "group": r.pair_group,
              "answer": r.answer, "seconds": r.seconds, "distance": r.distance,
              "algorithm": dq.algorithm_answer(r.distance, t)} for r in quiz.rows]
    return QuizResult(quiz, who.display_name if who else quiz.session.user_id,
                      dq.score(judged, t, grouped=quiz.session.group_key is not None),
                      session.gallery.name, pairs)


def sessions(session: Session, user_id: str | None = None) -> list[QuizSession]:
    """Quizzes, newest first: the signed-in user's own; every trainee's (or `user_id`'s)
    for who may read results."""
    session.require("lab")
    if user_id == session.user_id or (user_id is None and not session.may("quiz_results")):
        return store.sessions(session.gallery, session.user_id)
    session.require("quiz_results")
    return store.sessions(session.gallery, user_id)


def results(session: Session, user_id: str | None = None,
            threshold: float | None = None) -> list[QuizResult]:
    """The results of the quizzes `sessions` lists, but the trainee's own unfinished
    ones, newest first."""
    return [result(session, s.id, threshold) for s in sessions(session, user_id)
            if not _gives_answers_away(session, s)]


def crops(gallery: Gallery, row: QuizRow) -> tuple[bytes, bytes]:
    """The two faces of a pair, as stored crops (JPEG), left then right."""
    return gallery.face_crop(row.face_a), gallery.face_crop(row.face_b)


def write_faces(session: Session, quiz_id: int, folder: Path) -> list[Path]:
    """The trainee's own open quiz as files to look at: pair-NN-left.jpg and
    pair-NN-right.jpg per pair (the stored crops; names that say nothing about the
    persons), private to the user."""
    s = _own(session, quiz_id)
    private.make_dirs(folder)
    written = []
    for row in store.rows(session.gallery, s.id):
        for side, data in zip(("left", "right"), crops(session.gallery, row), strict=True):
            path = folder / f"pair-{row.position + 1:02d}-{side}.jpg"
            private.write_bytes(path, data)
            written.append(path)
    return written


# --- export ----------------------------------------------------------------------------------

#: the CSV's columns: one row per figure, for all pairs and per group
CSV_HEADER = ("quiz", "trainee", "group", "who", "answered", "accuracy", "accuracy_k",
              "accuracy_ci_low", "accuracy_ci_high", "false_same_rate", "false_same_k",
              "impostor_pairs", "false_different_rate", "false_different_k", "genuine_pairs",
              "cant_tell_rate", "cant_tell_k", "median_seconds_per_pair", "threshold")


def csv_rows(r: QuizResult) -> list[list[object]]:
    out: list[list[object]] = []
    s = r.quiz.session
    for g in (r.score.overall, *r.score.groups):
        for who, f in (("trainee", g.trainee), ("algorithm", g.algorithm)):
            lo, hi = f.correct.interval
            out.append([s.id, s.user_id, g.group, who, f.answered, f.correct.value,
                        f.correct.k, lo, hi, f.false_same.value, f.false_same.k,
                        f.false_same.n, f.false_different.value, f.false_different.k,
                        f.false_different.n, f.cant_tell.value, f.cant_tell.k,
                        f.median_seconds, r.score.threshold])
    return out


def export(session: Session, r: QuizResult, path: Path) -> Path:
    """Write the figures as CSV (one row per group and answerer) or, for a .json path,
    everything with every pair; private to the user, as every FaceDesk export, and
    logged (audit "export", with the file's SHA-256)."""
    if path.suffix.lower() == ".json":
        private.write_text(path, json.dumps(r.as_dict(), indent=2, default=str) + "\n")
    else:
        write_csv(path, CSV_HEADER, csv_rows(r))
    if not session.read_only:
        audit.record(session.gallery, "export",
                     {"what": "quiz results", "quiz": r.quiz.session.id,
                      "trainee": r.quiz.session.user_id, "path": str(path),
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
                     user_id=session.user_id)
    return path
