"""The trainee quiz: pairs drawn from a gallery's encodings (genuine pairs really of one
person, impostor pairs really each face's nearest different-person face), the figures
against the truth with known answers, per group, and quizzes kept per trainee in a real
gallery file with their audit events."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from accountability import BACKENDS, copy_of, template_location
from click.testing import CliRunner
from labdata import synthetic_gallery, training_gallery

from facedesk.app import accounts, audit
from facedesk.app import quiz as app
from facedesk.cli import cli
from facedesk.domain import quiz as dq
from facedesk.domain.quiz import CANT_TELL, DIFFERENT, SAME, Judged
from facedesk.errors import NotPermitted, QuizError
from facedesk.store import Gallery

# --- drawing ---------------------------------------------------------------------------------


def toy(persons: int = 12, photos: int = 3, seed: int = 5
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.2, (persons, 8))
    rows, pks = [], []
    for p in range(persons):
        for _ in range(photos if p % 4 else 1):  # every fourth person: one photo
            rows.append(centres[p] + rng.normal(0, 0.05, 8))
            pks.append(p)
    matrix = np.array(rows, dtype=np.float32)
    return matrix, np.arange(100, 100 + len(rows), dtype=np.int64), np.array(pks, np.int64)


def brute_nearest_other(matrix: np.ndarray, pks: np.ndarray, row: int) -> float:
    d = np.linalg.norm(matrix.astype(np.float64) - matrix[row].astype(np.float64), axis=1)
    d[pks == pks[row]] = np.inf
    return float(d.min())


def test_genuine_pairs_are_same_person_and_impostors_the_nearest_other_person() -> None:
    matrix, face_ids, pks = toy(persons=40)
    draw = dq.draw_pairs(matrix, face_ids, pks, size=16, seed=3)
    assert len(draw.pairs) == 16 and draw.genuine == 8 and draw.impostor == 8
    row_of = {int(f): i for i, f in enumerate(face_ids)}
    assert len({(p.face_a, p.face_b) for p in draw.pairs}) == 16  # no pair twice
    for p in draw.pairs:
        a, b = row_of[p.face_a], row_of[p.face_b]
        assert (pks[a] == pks[b]) == p.genuine
        assert p.person_a == pks[a] and p.person_b == pks[b]
        assert p.distance == pytest.approx(float(np.linalg.norm(
            matrix[a].astype(np.float64) - matrix[b])), abs=1e-5)
        if not p.genuine:
            # one of the two faces has the other as its nearest different-person face
            assert any(abs(p.distance - brute_nearest_other(matrix, pks, x)) < 1e-5
                       for x in (a, b))
    # the closest look-alike pair of the whole gallery is in the quiz
    closest = min(brute_nearest_other(matrix, pks, r) for r in range(len(matrix)))
    assert min(p.distance for p in draw.pairs if not p.genuine) == pytest.approx(closest,
                                                                                 abs=1e-5)
    # impostors are among the closest look-alikes, each person in one pair only
    people = [x for p in draw.pairs if not p.genuine for x in (p.person_a, p.person_b)]
    assert len(people) == len(set(people))
    nearest = sorted(brute_nearest_other(matrix, pks, r) for r in range(len(matrix)))
    assert max(p.distance for p in draw.pairs if not p.genuine) <= nearest[len(nearest) // 2]


def test_draw_is_seeded_mixed_and_fills_what_the_gallery_lacks() -> None:
    matrix, face_ids, pks = toy()
    one = dq.draw_pairs(matrix, face_ids, pks, size=10, seed=7)
    assert dq.draw_pairs(matrix, face_ids, pks, size=10, seed=7) == one
    other = dq.draw_pairs(matrix, face_ids, pks, size=10, seed=8)
    assert other.pairs != one.pairs
    kinds = [p.genuine for p in one.pairs]
    assert kinds != sorted(kinds) and kinds != sorted(kinds, reverse=True)  # mixed order
    assert dq.draw_pairs(matrix, face_ids, pks, size=10, seed=7, genuine_share=0.2).genuine == 2
    # one photo per person: no genuine pair exists; impostors fill the quiz, and it is said
    single = np.arange(len(matrix))
    none = dq.draw_pairs(matrix, face_ids, single, size=6, seed=1)
    assert none.genuine == 0 and none.impostor == 6 and none.genuine_available == 0
    assert "only 0 genuine pairs" in none.note
    with pytest.raises(ValueError, match="2 to 200"):
        dq.draw_pairs(matrix, face_ids, pks, size=1, seed=1)


def test_pair_group_names_mixed_and_missing() -> None:
    assert dq.pair_group("F", "F") == "F"
    assert dq.pair_group("M", "F") == "F / M"
    assert dq.pair_group(None, "F") == "(not recorded) / F"


# --- scoring ---------------------------------------------------------------------------------


def test_score_against_the_truth_with_known_answers() -> None:
    t = 0.5
    judged = [
        # genuine pairs: the algorithm says same at 0.3, 0.4, different at 0.6
        Judged(True, 0.3, "F", SAME, 2.0),        # right
        Judged(True, 0.4, "F", DIFFERENT, 4.0),   # false different
        Judged(True, 0.6, "M", CANT_TELL, 6.0),
        # impostor pairs: the algorithm says same at 0.45 (false same), different at 0.7
        Judged(False, 0.45, "F", SAME, 8.0),      # false same
        Judged(False, 0.7, "M", DIFFERENT, 10.0),  # right
        Judged(False, 0.55, "M", DIFFERENT, 1.0),  # right
        Judged(False, 0.8, "M", None),             # not answered: left out
    ]
    s = dq.score(judged, t)
    assert s.pairs == 7 and s.unanswered == 1
    tr, al = s.overall.trainee, s.overall.algorithm
    assert (tr.correct.k, tr.correct.n) == (3, 6)
    assert (tr.false_same.k, tr.false_same.n) == (1, 3)
    assert (tr.false_different.k, tr.false_different.n) == (1, 3)
    assert (tr.cant_tell.k, tr.cant_tell.n) == (1, 6)
    assert tr.median_seconds == pytest.approx(5.0)
    # the algorithm on the same six pairs: right on 0.3, 0.4, 0.7, 0.55; wrong on 0.6, 0.45
    assert (al.correct.k, al.correct.n) == (4, 6)
    assert (al.false_same.k, al.false_same.n) == (1, 3)
    assert (al.false_different.k, al.false_different.n) == (1, 3)
    assert al.cant_tell.k == 0 and al.median_seconds is None
    groups = {g.group: g for g in s.groups}
    assert list(groups) == ["F", "M"]
    f, m = groups["F"], groups["M"]
    assert (f.pairs, f.genuine, f.impostor) == (3, 2, 1)
    assert (f.trainee.correct.k, f.trainee.false_same.k, f.trainee.false_same.n) == (1, 1, 1)
    assert (m.pairs, m.trainee.correct.k, m.trainee.cant_tell.k) == (3, 2, 1)
    assert m.algorithm.correct.k == 2  # 0.7, 0.55 right; 0.6 genuine said different
    # small counts are shown with honest intervals
    lo, hi = f.trainee.false_same.interval
    assert lo > 0.1 and hi == 1.0
    d = s.as_dict()
    assert d["answered"] == 6 and d["groups"][0]["trainee"]["accuracy"]["k"] == 1


def test_a_group_with_no_impostor_pair_has_no_false_same_rate() -> None:
    s = dq.score([Judged(True, 0.2, "F", SAME, 1.0)], 0.6)
    assert s.groups[0].trainee.false_same.n == 0
    assert math.isnan(s.groups[0].trainee.false_same.value)


# --- stored quizzes ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Path | str:
    """The stored quizzes' tests run on both backends (a file, a database on a server)."""
    root = tmp_path_factory.mktemp("quiz")
    return training_gallery(template_location(request, root) or root / "training.db")


@pytest.fixture
def gallery(template: Path | str, tmp_path: Path) -> Iterator[Gallery]:
    g = Gallery.open(copy_of(template, tmp_path))
    yield g
    g.close()


def signed(g: Gallery, uid: str) -> accounts.Session:
    return accounts.sign_in_os(g, f"os-{uid}")


def take(session: accounts.Session, answers: list[str], **options: object) -> app.QuizResult:
    quiz = app.start(session, app.QuizOptions(**options))  # type: ignore[arg-type]
    for row, given in zip(quiz.rows, answers, strict=False):
        app.answer(session, quiz.session.id, row.position, given, seconds=3.0)
    return app.finish(session, quiz.session.id)


def test_quizzes_are_kept_per_trainee_with_their_audit_events(gallery: Gallery) -> None:
    ann, abe = signed(gallery, "ann"), signed(gallery, "abe")
    quiz = app.start(ann, app.QuizOptions(size=10, threshold=0.5, group_key="sex", seed=4))
    assert quiz.session.user_id == "ann" and len(quiz.rows) == 10 and quiz.next_position == 0
    # the truth as stored is the gallery's: same person for genuine pairs
    persons = {f: d.person_id for f, d in gallery.face_details(
        [x for r in quiz.rows for x in (r.face_a, r.face_b)]).items()}
    assert all((persons[r.face_a] == persons[r.face_b]) == r.genuine for r in quiz.rows)
    assert {r.genuine for r in quiz.rows} == {True, False}
    # answer every pair right but the first two (one wrong, one can't tell)
    truth = [SAME if r.genuine else DIFFERENT for r in quiz.rows]
    given = [DIFFERENT if truth[0] == SAME else SAME, CANT_TELL, *truth[2:]]
    for row, a in zip(quiz.rows, given, strict=True):
        app.answer(ann, quiz.session.id, row.position, a, seconds=1.5 + row.position)
    with pytest.raises(QuizError, match="answered already"):
        app.answer(ann, quiz.session.id, 0, SAME)
    # the truth stays hidden from the trainee until the quiz is finished
    with pytest.raises(QuizError, match="give the answers away"):
        app.result(ann, quiz.session.id)
    assert app.results(ann) == []
    with pytest.raises(NotPermitted, match="only its trainee"):
        app.answer(abe, quiz.session.id, 1, SAME)
    res = app.finish(ann, quiz.session.id)
    tr = res.score.overall.trainee
    assert (tr.correct.k, tr.correct.n, tr.cant_tell.k) == (8, 10, 1)
    assert tr.median_seconds == pytest.approx(6.0)
    algo_right = sum(dq.algorithm_answer(r.distance, 0.5) == t
                     for r, t in zip(quiz.rows, truth, strict=True))
    assert res.score.overall.algorithm.correct.k == algo_right
    assert sum(g.pairs for g in res.score.groups) == 10
    with pytest.raises(QuizError, match="finished"):
        app.answer(ann, quiz.session.id, 2, SAME)
    # kept per trainee: abe sees only his own, the trainer everyone's
    take(abe, [SAME] * 4, size=4, seed=1)
    assert [s.user_id for s in app.sessions(abe)] == ["abe"]
    assert [s.user_id for s in app.sessions(ann)] == ["ann"]
    tia = signed(gallery, "tia")
    assert [s.user_id for s in app.sessions(tia)] == ["abe", "ann"]
    assert [s.id for s in app.sessions(tia, "ann")] == [quiz.session.id]
    assert app.sessions(tia, "ann")[0].answered == 10
    with pytest.raises(NotPermitted, match="quiz results"):
        app.result(abe, quiz.session.id)
    assert app.result(tia, quiz.session.id).score == res.score
    # a threshold chosen afterwards moves only the algorithm's figures
    later = app.result(tia, quiz.session.id, threshold=2.0).score.overall
    assert later.trainee == res.score.overall.trainee
    assert later.algorithm.false_same.k == later.algorithm.false_same.n
    # every write is an event whose record digests check out
    v = audit.verify(gallery, use_witness=False)
    assert v.ok, v.problems
    rows = gallery.conn.execute(
        "SELECT kind, count(*) FROM audit WHERE kind LIKE 'quiz%' GROUP BY kind").fetchall()
    assert dict(rows) == {"quiz_started": 2, "quiz_answer": 14, "quiz_finished": 2}


def test_changing_an_answer_by_raw_sql_is_found(gallery: Gallery) -> None:
    res = take(signed(gallery, "ann"), [SAME, SAME, DIFFERENT, SAME], size=4, seed=2)
    gallery.conn.execute("UPDATE quiz_answers SET answer = 'different' WHERE session_id = ? "
                         "AND position = 0", (res.quiz.session.id,))
    v = audit.verify(gallery, use_witness=False)
    assert not v.ok and any("quiz answer" in p for p in map(str, v.problems))


def test_only_a_training_gallery_holds_quizzes(tmp_path: Path) -> None:
    g, _, _ = synthetic_gallery(tmp_path / "real.db", persons=10)
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin", os_account="os-a")
    with pytest.raises(NotPermitted, match="not a training gallery"):
        app.start(admin, app.QuizOptions(size=4))
    admin.set_setting("training", True)
    with pytest.raises(QuizError, match="no photo has a metadata column 'race'"):
        app.start(admin, app.QuizOptions(size=4, group_key="race"))
    with pytest.raises(QuizError, match="2 to 200"):
        app.start(admin, app.QuizOptions(size=500))
    with pytest.raises(QuizError, match="one of same, different, cant_tell"):
        app.answer(admin, 1, 0, "maybe")
    with pytest.raises(QuizError, match="no quiz 99"):
        app.finish(admin, 99)
    g.close()


def test_export_csv_and_json(gallery: Gallery, tmp_path: Path) -> None:
    ann = signed(gallery, "ann")
    res = take(ann, [SAME, DIFFERENT, CANT_TELL, SAME, DIFFERENT, SAME], size=6, seed=9,
               group_key="sex")
    out = app.export(ann, res, tmp_path / "quiz.csv")
    rows = list(csv.DictReader(out.open()))
    assert [r["who"] for r in rows[:2]] == ["trainee", "algorithm"]
    assert rows[0]["group"] == "all" and int(rows[0]["answered"]) == 6
    assert int(rows[0]["accuracy_k"]) == res.score.overall.trainee.correct.k
    assert {r["group"] for r in rows[2:]} == {g.group for g in res.score.groups}
    assert out.stat().st_mode & 0o077 == 0
    doc = json.loads(app.export(ann, res, tmp_path / "quiz.json").read_text())
    assert doc["trainee"]["id"] == "ann" and len(doc["pairs"]) == 6
    assert doc["overall"]["trainee"]["accuracy"]["k"] == res.score.overall.trainee.correct.k
    assert all(p["truth"] in (SAME, DIFFERENT) for p in doc["pairs"])
    exports = gallery.conn.execute("SELECT count(*) FROM audit WHERE kind = 'export'").fetchone()
    assert exports[0] == 2


def test_cli_quiz_results(gallery: Gallery, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    ann = signed(gallery, "ann")
    res = take(ann, [SAME, DIFFERENT, SAME, DIFFERENT], size=4, seed=5, group_key="sex")
    monkeypatch.setattr(accounts, "os_account", lambda: "os-tia")
    runner = CliRunner()
    out = runner.invoke(cli, ["quiz", "list", "--db", str(gallery.open_location)])
    assert out.exit_code == 0, out.output
    assert "ann" in out.output and "4 of 4" in out.output
    out = runner.invoke(cli, ["quiz", "results", "--db", str(gallery.open_location),
                              "--trainee", "ann", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc[0]["overall"]["trainee"]["accuracy"]["k"] == \
        res.score.overall.trainee.correct.k
    csv_path = tmp_path / "r.csv"
    out = runner.invoke(cli, ["quiz", "results", "--db", str(gallery.open_location), "--quiz",
                              str(res.quiz.session.id), "--out", str(csv_path)])
    assert out.exit_code == 0, out.output
    assert "accuracy" in out.output and csv_path.read_text().startswith("quiz,trainee")
    monkeypatch.setattr(accounts, "os_account", lambda: "os-abe")
    out = runner.invoke(cli, ["quiz", "results", "--db", str(gallery.open_location), "--quiz",
                              str(res.quiz.session.id)])
    assert out.exit_code == 1 and "quiz results" in out.output


def test_cli_takes_a_quiz(gallery: Gallery, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "os_account", lambda: "os-abe")
    runner = CliRunner()
    db = str(gallery.open_location)
    out = runner.invoke(cli, ["quiz", "start", "--db", db, "--faces", str(tmp_path / "f"),
                              "--size", "4", "--group", "sex", "--seed", "3"])
    assert out.exit_code == 0, out.output
    quiz_id = int(re.search(r"quiz (\d+): 4 pairs", out.output).group(1))  # type: ignore[union-attr]
    files = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert files[:2] == ["pair-01-left.jpg", "pair-01-right.jpg"] and len(files) == 8
    assert (tmp_path / "f" / "pair-01-left.jpg").read_bytes()[:2] == b"\xff\xd8"
    truth = [SAME if r.genuine else DIFFERENT for r in
             app.load(signed(gallery, "tia"), quiz_id).rows]
    for k, t in enumerate(truth[:3], 1):
        out = runner.invoke(cli, ["quiz", "answer", "--db", db, "--quiz", str(quiz_id),
                                  "--pair", str(k), "--seconds", "2", t])
        assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["quiz", "answer", "--db", db, "--quiz", str(quiz_id),
                              "--pair", "4", "maybe"])
    assert out.exit_code == 2
    out = runner.invoke(cli, ["quiz", "finish", "--db", db, "--quiz", str(quiz_id), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)[0]
    assert doc["answered"] == 3 and doc["unanswered"] == 1
    assert doc["overall"]["trainee"]["accuracy"]["k"] == 3

