"""Trainee quizzes on the command line (facedesk.app.quiz): take one (start writes each
pair's two faces as files to look at, answer records one answer, finish ends it), list
them, show and export their results. The trainer view's Quiz tab does the same."""

from __future__ import annotations

from pathlib import Path

import click

from facedesk.app import quiz
from facedesk.cli.options import db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json, note
from facedesk.cli.signin import signed_in
from facedesk.domain import quiz as dq
from facedesk.errors import QuizError
from facedesk.store import Gallery


@click.group("quiz")
def quiz_group() -> None:
    """Trainee quizzes of a training gallery: list them, show and export their results."""


def _state(s: quiz.QuizSession) -> str:
    return f"finished {s.finished_at}" if s.finished else "not finished"


@quiz_group.command("start")
@db_option()
@user_option()
@click.option("--faces", "folder", required=True,
              type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write each pair's two faces here (pair-01-left.jpg, pair-01-right.jpg, "
                   "...), private to you; the names say nothing about the persons.")
@click.option("--size", type=int, default=20, show_default=True, help="Pairs in the quiz.")
@click.option("--genuine-share", type=float, default=0.5, show_default=True,
              help="The share of same-person pairs; the rest are look-alikes.")
@click.option("--threshold", type=float, default=0.6, show_default=True,
              help="The algorithm says 'same' at or under this distance (shown at the end).")
@click.option("--group", "group_key", metavar="COLUMN",
              help="Figures per group of this photo metadata column (e.g. sex).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The same seed gives the same pairs in the same order.")
def quiz_start(db: Path, user: str | None, folder: Path, size: int, genuine_share: float,
               threshold: float, group_key: str | None, seed: int) -> None:
    """Start a quiz as the signed-in trainee (a training gallery only)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user)
        q = quiz.start(session, quiz.QuizOptions(size, threshold, group_key, seed,
                                                 genuine_share))
        quiz.write_faces(session, q.session.id, folder)
    if q.note:
        note(f"note: {q.note}")
    echo(f"quiz {q.session.id}: {len(q.rows)} pairs in {folder}; answer each with "
         f"`facedesk quiz answer --db {db} --quiz {q.session.id} --pair N "
         "same|different|cant_tell`, then `facedesk quiz finish`")


@quiz_group.command("answer")
@db_option()
@user_option()
@click.option("--quiz", "quiz_id", type=int, required=True, metavar="N")
@click.option("--pair", type=int, required=True, metavar="K", help="The pair, from 1.")
@click.option("--seconds", type=float, help="How long you looked at the pair.")
@click.argument("given", metavar="same|different|cant_tell",
                type=click.Choice(list(dq.ANSWERS)))
def quiz_answer(db: Path, user: str | None, quiz_id: int, pair: int, seconds: float | None,
                given: str) -> None:
    """Record your answer to one pair of your open quiz (once)."""
    with Gallery.open(db) as gallery:
        quiz.answer(signed_in(gallery, user), quiz_id, pair - 1, given, seconds)
    echo(f"quiz {quiz_id}, pair {pair}: {dq.ANSWER_WORDS[given]}")


@quiz_group.command("finish")
@db_option()
@user_option()
@click.option("--quiz", "quiz_id", type=int, required=True, metavar="N")
@json_option()
def quiz_finish(db: Path, user: str | None, quiz_id: int, as_json: bool) -> None:
    """End your quiz (pairs not answered are left out of the figures) and show the
    results."""
    with Gallery.open(db) as gallery:
        r = quiz.finish(signed_in(gallery, user), quiz_id)
    _show([r], as_json)


@quiz_group.command("list")
@db_option()
@user_option()
@click.option("--trainee", metavar="NAME",
              help="Only this trainee's quizzes (trainers, supervisors and administrators "
                   "see every trainee's; others their own).")
@json_option()
def quiz_list(db: Path, user: str | None, trainee: str | None, as_json: bool) -> None:
    """The quizzes kept in the gallery, newest first."""
    with Gallery.open(db) as gallery:
        found = quiz.sessions(signed_in(gallery, user), trainee)
    if as_json:
        emit_json([s.as_dict() for s in found])
        return
    if not found:
        echo("no quizzes")
    for s in found:
        group = f", per {s.group_key}" if s.group_key else ""
        echo(f"quiz {s.id}: {s.user_id}, started {s.created_at}, {s.answered} of {s.size} "
             f"answered, {_state(s)} (threshold {s.threshold:g}, seed {s.seed}{group})")


@quiz_group.command("results")
@db_option()
@user_option()
@click.option("--quiz", "quiz_id", type=int, metavar="N", help="This quiz (default: every "
              "quiz shown by `facedesk quiz list` with the same options).")
@click.option("--trainee", metavar="NAME", help="Only this trainee's quizzes.")
@click.option("--threshold", type=float, metavar="T",
              help="The algorithm's threshold (default: the one the quiz was given with).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Also write the results: FILE.csv (the figures) or FILE.json (with every "
                   "pair); one quiz only.")
@json_option()
def quiz_results(db: Path, user: str | None, quiz_id: int | None, trainee: str | None,
                 threshold: float | None, out: Path | None, as_json: bool) -> None:
    """The trainee's accuracy, false "same" rate, "can't tell" rate and time per pair,
    beside the algorithm's on the same pairs, for all pairs and per group, with counts and
    95 % intervals. A trainee's own quiz shows its results once finished."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user)
        results = [quiz.result(session, quiz_id, threshold)] if quiz_id is not None else \
            quiz.results(session, trainee, threshold)
        if out is not None and len(results) != 1:
            raise QuizError(f"--out writes one quiz: choose it with --quiz N "
                            f"({len(results)} quizzes match)")
        if out is not None:
            quiz.export(session, results[0], out)
            note(f"wrote {out}")
    _show(results, as_json)


def _show(results: list[quiz.QuizResult], as_json: bool) -> None:
    if as_json:
        emit_json([r.as_dict() for r in results])
        return
    for r in results:
        s = r.quiz.session
        echo(f"quiz {s.id} of {r.display_name} ({s.user_id}), {_state(s)}: "
             f"{r.score.overall.pairs} of {r.score.pairs} pairs answered")
        width = [max(len(c), *(len(row[i]) for row in dq.score_rows(r.score)))
                 for i, c in enumerate(dq.SCORE_COLUMNS)]
        for row in [list(dq.SCORE_COLUMNS), *dq.score_rows(r.score)]:
            echo(("  " + "  ".join(c.ljust(w) for c, w in zip(row, width, strict=True))).rstrip())


COMMANDS = [quiz_group]
