"""The trainee quiz on real photos and the real engine: 12 members of the 2014 Congress
(one photo each, with sex) and 5 LFW persons (3 photos each, no sex recorded) in a
training gallery. Genuine pairs can come only from the LFW persons; impostor pairs are
the real nearest different-person faces; the LFW faces' group is said to be "(not
recorded)", never dropped. A screenshot of the quiz with real faces is taken."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import import_all, lfw_photos
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from facedesk.app import accounts
from facedesk.app import quiz as app
from facedesk.domain.quiz import DIFFERENT, SAME
from facedesk.engine.spec import EngineSpec
from facedesk.gui.trainer_view import TrainerView
from facedesk.store import Gallery

CONGRESS = 12
LFW = 5
SHOTS = Path(tempfile.gettempdir()) / "facedesk-quiz-screens"


@pytest.fixture(scope="module")
def real_training(shared_data: Path, lfw_images: Path, real_engine_spec: EngineSpec,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("quiz_real")
    manifest = folder / "manifest.csv"
    with (shared_data / "congress-2014" / "members.csv").open(encoding="utf-8") as fh:
        members = list(csv.DictReader(fh))[:CONGRESS]
    lfw = [d.name for d in sorted(lfw_images.iterdir())
           if d.is_dir() and len(lfw_photos(lfw_images, d.name)) >= 3][:LFW]
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "person_id", "name", "sex"])
        for m in members:
            w.writerow([f"congress-2014/{m['path']}", m["person_id"], m["name"], m["sex"]])
        for person in lfw:
            for p in lfw_photos(lfw_images, person)[:3]:
                w.writerow([p.relative_to(shared_data).as_posix(), person,
                            person.replace("_", " "), ""])
    db = folder / "training.db"
    with Gallery.open(db, create=True) as g:
        import_all(g, shared_data, manifest=manifest, spec=real_engine_spec)
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    os_account="os-admin")
        admin.add_user("tom", "Tom Trainee", "analyst", os_account="os-tom")
        admin.set_setting("training", True)
    return db


def test_quiz_on_real_faces(real_training: Path, qtbot: QtBot) -> None:
    with Gallery.open(real_training) as g:
        tom = accounts.sign_in_os(g, "os-tom")
        q = app.start(tom, app.QuizOptions(size=10, group_key="sex", seed=1))
        enc = g.load_encodings()
        row = {int(f): i for i, f in enumerate(enc.face_ids)}
        m = enc.matrix.astype(np.float64)
        details = g.face_details([x for r in q.rows for x in (r.face_a, r.face_b)])
        assert sum(r.genuine for r in q.rows) == 5
        for r in q.rows:
            a, b = row[r.face_a], row[r.face_b]
            assert (details[r.face_a].person_id == details[r.face_b].person_id) == r.genuine
            if r.genuine:
                assert r.pair_group == "(not recorded)"  # LFW: no sex recorded, said so
                continue
            d = np.linalg.norm(m - m[a], axis=1)
            d[enc.person_pks == enc.person_pks[a]] = np.inf
            e = np.linalg.norm(m - m[b], axis=1)
            e[enc.person_pks == enc.person_pks[b]] = np.inf
            assert abs(r.distance - min(d.min(), e.min())) < 1e-4 or \
                abs(r.distance - max(d.min(), e.min())) < 1e-4
        truth = [SAME if r.genuine else DIFFERENT for r in q.rows]
        for r, t in zip(q.rows, truth, strict=True):
            app.answer(tom, q.session.id, r.position, t, seconds=4.0)
        res = app.finish(tom, q.session.id)
        assert res.score.overall.trainee.correct.k == 10
        assert {g.group for g in res.score.groups} >= {"(not recorded)"}

    # the quiz screen with real faces
    with Gallery.open(real_training) as g:
        view = TrainerView(real_training, session=accounts.sign_in_os(g, "os-tom"))
        qtbot.addWidget(view)
        view.resize(1300, 900)
        view.show()
        qtbot.waitExposed(view)
        view.tabs.setCurrentWidget(view.quiz_panel)
        panel = view.quiz_panel
        panel.size_spin.setValue(6)
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.answer_buttons[SAME].isEnabled(), timeout=30_000)
        SHOTS.mkdir(exist_ok=True)
        view.grab().save(str(SHOTS / "quiz-real.png"))
        assert panel.left_face.pixmap() is not None and not panel.left_face.pixmap().isNull()
        view.close()
