"""Trainee quizzes on the command line: list them, show and export their results
(facedesk.app.quiz). Quizzes are taken in the trainer view (Tools > Trainer view, Quiz)."""

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
