"""Trainee quizzes (tables `quiz_sessions`, `quiz_answers`): every SQL statement on them.
What a quiz is lives in facedesk.domain.quiz; who may take or read one, and the audit
events, in facedesk.app.quiz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from facedesk.store.db import Connection, Db, connection


@dataclass(frozen=True)
class QuizSession:
    id: int
    user_id: str
    created_at: str
    finished_at: str | None
    gallery_version: int
    seed: int
    size: int
    genuine_share: float
    threshold: float
    group_key: str | None
    #: pairs answered so far
    answered: int = 0

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QuizRow:
    """One pair of a quiz in the order shown, with the trainee's answer when given."""

    id: int
    position: int
    face_a: int
    face_b: int
    genuine: bool
    distance: float
    pair_group: str
    answer: str | None
    seconds: float | None
    answered_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SESSION_SQL = (
    "SELECT s.id, s.user_id, s.created_at, s.finished_at, s.gallery_version, s.seed, s.size, "
    "s.genuine_share, s.threshold, s.group_key, "
    "(SELECT count(*) FROM quiz_answers a WHERE a.session_id = s.id "
    "AND a.answer IS NOT NULL) FROM quiz_sessions s")
_ROW_SQL = ("SELECT id, position, face_a, face_b, genuine, distance, pair_group, answer, "
            "seconds, answered_at FROM quiz_answers")


def _session(r: Sequence[Any]) -> QuizSession:
    return QuizSession(int(r[0]), str(r[1]), str(r[2]), r[3], int(r[4]), int(r[5]),
                       int(r[6]), float(r[7]), float(r[8]), r[9], int(r[10]))


def _row(r: Sequence[Any]) -> QuizRow:
    return QuizRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), bool(r[4]), float(r[5]),
                   str(r[6]), r[7], None if r[8] is None else float(r[8]), r[9])


def add_session(conn: Connection, *, user_id: str, created_at: str,
                gallery_version: int, seed: int, size: int, genuine_share: float,
                threshold: float, group_key: str | None) -> int:
    """Store a new quiz; its id."""
    row = conn.execute(
        "INSERT INTO quiz_sessions(user_id, created_at, gallery_version, seed, size, "
        "genuine_share, threshold, group_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (user_id, created_at, gallery_version, seed, size, genuine_share, threshold,
         group_key)).fetchone()
    return int(row[0])


def add_pair(conn: Connection, session_id: int, position: int, face_a: int,
             face_b: int, genuine: bool, distance: float, pair_group: str) -> int:
    """Store one pair of a quiz (unanswered); its row id."""
    row = conn.execute(
        "INSERT INTO quiz_answers(session_id, position, face_a, face_b, genuine, distance, "
        "pair_group) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (session_id, position, face_a, face_b, int(genuine), distance, pair_group)
    ).fetchone()
    return int(row[0])


def set_answer(conn: Connection, row_id: int, answer: str, seconds: float | None,
               answered_at: str) -> None:
    conn.execute("UPDATE quiz_answers SET answer = ?, seconds = ?, answered_at = ? "
                 "WHERE id = ?", (answer, seconds, answered_at, row_id))


def finish(conn: Connection, session_id: int, finished_at: str) -> None:
    conn.execute("UPDATE quiz_sessions SET finished_at = ? WHERE id = ?",
                 (finished_at, session_id))


def session(db: Db, session_id: int) -> QuizSession | None:
    row = connection(db).execute(f"{_SESSION_SQL} WHERE s.id = ?", (session_id,)).fetchone()
    return None if row is None else _session(row)


def sessions(db: Db, user_id: str | None = None) -> list[QuizSession]:
    """Quizzes, newest first; only `user_id`'s when given."""
    where, args = (" WHERE s.user_id = ?", (user_id,)) if user_id else ("", ())
    return [_session(r) for r in connection(db).execute(
        f"{_SESSION_SQL}{where} ORDER BY s.id DESC", args)]


def rows(db: Db, session_id: int) -> list[QuizRow]:
    """A quiz's pairs in the order shown."""
    return [_row(r) for r in connection(db).execute(
        f"{_ROW_SQL} WHERE session_id = ? ORDER BY position", (session_id,))]
