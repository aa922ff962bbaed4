"""A real import killed with SIGKILL at several moments (and once stopped with Ctrl-C),
then resumed: the gallery stays consistent, nothing is stored twice, and the resumed run
stores exactly what is missing.

The import runs as `facedesk import ... --workers 2` in its own process group, so the kill
takes the worker processes with it, as a crash or a power cut would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from prerequisites import missing

# each interrupted run commits up to ~64 photos (a batch) before its signal lands, and
# a Ctrl-C keeps its pending batch too: 400 leaves work for the resumed run
N_PHOTOS = 400
#: how each run is stopped, and when: seconds after the run's first commit
INTERRUPTIONS = (
    (signal.SIGKILL, 0.0),
    (signal.SIGINT, 0.2),
    (signal.SIGKILL, 0.4),
    (signal.SIGKILL, 1.0),
)
START_TIMEOUT_S = 90
#: seconds after the start of the very first run: the gallery is being created or the
#: run recorded, and no photo is committed yet
EARLY_KILL_S = 0.4


def _committed_photos(db: Path) -> int:
    """Photos committed so far, read without creating or locking the gallery."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM photos").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0
    finally:
        conn.close()


@pytest.fixture
def lfw_sample(lfw_images: Path, symlink_tree) -> tuple[Path, dict[str, str]]:
    """N_PHOTOS LFW photos (persons whose names start with B), as a tree of symlinks; returns
    (root, sha256 -> expected stored path)."""
    photos: dict[str, list[Path]] = {}
    n = 0
    for person in sorted(d for d in lfw_images.iterdir() if d.name.startswith("B")):
        for f in sorted(person.glob("*.jpg")):
            if n == N_PHOTOS:
                break
            photos.setdefault(person.name, []).append(f)
            n += 1
    if n < N_PHOTOS:
        missing(f"fewer than {N_PHOTOS} LFW photos of persons named B*")
    root = symlink_tree(photos, "lfw_sample")
    expected = {hashlib.sha256(f.read_bytes()).hexdigest(): str(root / person / f.name)
                for person, files in photos.items() for f in files}
    assert len(expected) == N_PHOTOS, "the chosen photos must all differ"
    return root, expected


def test_import_killed_and_interrupted_then_resumed(
        tmp_path: Path, lfw_sample, real_engine_spec, facedesk_cmd, run_facedesk) -> None:
    root, expected = lfw_sample
    facedesk, env = facedesk_cmd
    db = tmp_path / "gallery.db"
    cmd = [*facedesk, "import", str(root), "--db", str(db), "--workers", "2", "--json"]

    # first, a kill while the gallery is being created (before any photo is committed)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    try:
        time.sleep(EARLY_KILL_S)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert _committed_photos(db) == 0

    killed = 0  # runs stopped by SIGKILL after committing photos
    cancelled = 0  # runs stopped by Ctrl-C (SIGINT to the whole group, as a terminal does)
    finished = 0  # runs that ended on their own before the signal
    for i, (sig, delay) in enumerate(INTERRUPTIONS):
        before = _committed_photos(db)
        out, err = tmp_path / f"run{i}.out", tmp_path / f"run{i}.err"
        with out.open("w") as fo, err.open("w") as fe:
            proc = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env,
                                    start_new_session=True)
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                while (proc.poll() is None and _committed_photos(db) <= before
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
                assert time.monotonic() < deadline, "the import committed nothing in time"
                time.sleep(delay)
                if proc.poll() is None:
                    os.killpg(proc.pid, sig)
                    rc = proc.wait(timeout=60)
                else:
                    rc = None
            finally:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        after = _committed_photos(db)
        assert after > before
        if rc == 0 and sig == signal.SIGINT:
            # the signal reached a process that had finished its import and was exiting
            # (Python ignores Ctrl-C once it has begun to shut down): it ended on its own
            rc = None
        if rc is None:
            finished += 1
            assert proc.returncode == 0, err.read_text()
        elif sig == signal.SIGKILL:
            killed += 1
            assert rc == -signal.SIGKILL
        else:
            cancelled += 1
            # Ctrl-C: what was done is kept, the run is recorded as cancelled, one
            # message and no traceback
            assert rc == 130, err.read_text()
            assert "Traceback" not in err.read_text()
            assert "cancelled" in err.read_text()
            doc = json.loads(out.read_text())
            assert doc["status"] == "cancelled"
            assert doc["run"]["status"] == "cancelled"
            assert doc["run"]["imported"] == after - before

    stored_before_resume = _committed_photos(db)
    # the signals hit running imports, and left work for the resumed run
    assert killed >= 2
    assert cancelled == 1
    assert 0 < stored_before_resume < N_PHOTOS

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # the resumed run completes and stores exactly what is missing
    proc = run_facedesk("import", root, "--db", db, "--workers", "2", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    final = json.loads(proc.stdout)
    assert final["status"] == "completed"
    assert final["total"] == N_PHOTOS
    assert final["already_stored"] == stored_before_resume
    assert final["already_stored"] + final["imported"] == N_PHOTOS
    assert final["failed"] == 0 and final["duplicates"] == 0, final["problems"]
    assert final["gallery_totals"]["photos"] == N_PHOTOS

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = conn.execute("SELECT sha256, path FROM photos").fetchall()
        assert len(rows) == N_PHOTOS
        assert dict(rows) == expected  # every file once, under its own path
        assert conn.execute(
            "SELECT count(*) FROM (SELECT sha256 FROM photos GROUP BY sha256 "
            "HAVING count(*) > 1)").fetchone()[0] == 0
        n_faces = conn.execute("SELECT count(*) FROM faces").fetchone()[0]
        assert 0 < n_faces <= N_PHOTOS
        assert conn.execute(
            "SELECT photo_id FROM faces GROUP BY photo_id HAVING count(*) > 1").fetchall() == []
        # a face belongs to its photo's person; a photo with a face says it found one
        assert conn.execute(
            "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE f.person_pk != p.person_pk OR p.faces_found < 1").fetchone()[0] == 0
        # each photo stored under the person of its folder
        bad_person = conn.execute(
            "SELECT p.path, s.person_id FROM photos p JOIN persons s ON s.id = p.person_pk"
        ).fetchall()
        assert all(Path(path).parent.name == pid for path, pid in bad_person)
        statuses = [r[0] for r in conn.execute("SELECT status FROM import_runs ORDER BY id")]
    # killed runs are closed as interrupted when the next run starts (the early kill may
    # have come before its run was recorded)
    assert statuses.count("completed") == 1 + finished
    assert statuses.count("cancelled") == cancelled
    assert killed <= statuses.count("interrupted") <= killed + 1
    assert statuses[-1] == "completed"

    # a further run finds everything stored
    proc = run_facedesk("import", root, "--db", db, "--workers", "2", "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["imported"] == 0
    assert again["already_stored"] == N_PHOTOS
    assert again["gallery_totals"]["photos"] == N_PHOTOS
    assert again["gallery_totals"]["faces"] == n_faces

    # what the interrupted and resumed runs stored is what one uninterrupted import stores:
    # the same faces, boxes, landmarks, detectors and encodings for every photo
    clean = tmp_path / "uninterrupted.db"
    proc = run_facedesk("import", root, "--db", clean, "--workers", "2", "--json",
                        timeout=600)
    assert proc.returncode == 0, proc.stderr
    resumed, whole = _stored_faces(db), _stored_faces(clean)
    assert resumed.keys() == whole.keys() == expected.keys()
    for sha, (fields, encoding) in whole.items():
        got_fields, got_encoding = resumed[sha]
        assert got_fields == fields, (expected[sha], got_fields, fields)
        if encoding is None or got_encoding is None:
            assert got_encoding is encoding, expected[sha]
        else:
            assert float(np.abs(got_encoding - encoding).max()) <= 1e-6, expected[sha]
    # and every row a killed run committed was logged with its digest in that commit
    proc = run_facedesk("audit", "verify", "--db", db)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _stored_faces(db: Path) -> dict[str, tuple[tuple[object, ...], np.ndarray | None]]:
    """sha256 -> ((faces found, box, landmarks, detector, person), encoding) of each photo."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT p.sha256, p.faces_found, f.box_top, f.box_right, f.box_bottom, "
            "f.box_left, f.landmarks, f.detector, s.person_id, f.encoding FROM photos p "
            "JOIN persons s ON s.id = p.person_pk LEFT JOIN faces f ON f.photo_id = p.id"
        ).fetchall()
    return {r[0]: (tuple(r[1:9]), None if r[9] is None else np.frombuffer(r[9], "<f4"))
            for r in rows}
