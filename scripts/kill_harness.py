"""Crash-safety harness: kill FaceDesk with SIGKILL at random moments, many times over, on
a real gallery, and check after every kill that nothing was corrupted, lost or doubled.

Not part of the test run (it takes minutes); tests/integration/test_kill_decision.py runs
a short version of the decision part, tests/integration/test_kill_resume.py a short
version of the import part.

Three phases, all with seeded random kill moments:

1. import: a real `facedesk import` of a few hundred LFW photos (a folder of symlinks), run
   as a process group (the worker processes die with it, as in a crash or a power cut),
   killed at a random moment, then started again, and killed again, ... A share of the
   kills (--startup-share) comes while the run starts (creating the gallery, loading the
   engine, starting the workers, recording the run), the others at a random moment after
   its first commit, while it works and commits. When a run gets to its end before its
   kill, the round is over and a fresh gallery starts the next round. After every kill:
   `PRAGMA integrity_check` and `foreign_key_check`; no photo twice, no photo with two
   faces; every photo committed before is still there (photos and faces never decrease);
   every stored row equal to the same photo's row in an uninterrupted import of the same
   photos (path, person, faces found, the encoding bit for bit, box, detector); at most
   one run left 'running'; the import lock released by the kill. At the end of every round the run
   that finished reports exactly what was missing, and the gallery holds exactly the
   expected set, every photo once, with the uninterrupted import's encodings.
2. search: `facedesk search --case` on the finished gallery, killed at random moments:
   the gallery's content (a digest of every table but the search's own record and audit
   events) does not change, it passes integrity_check, the search is stored and logged
   whole or not at all, and the next search returns the same candidates as before.
3. decisions: a process that records decisions in a tight loop through
   the store's `insert_decision` (one write transaction, as "Record" makes), printing an
   acknowledgement after each one returns, killed at random moments: every stored
   decision row is complete and equal to what was sent, in order, without gaps, and the
   count equals the decisions acknowledged before the kill (or one more: committed, but
   killed before it could say so).

Every process runs on a copy of the `facedesk` package taken when the harness starts
(PYTHONPATH), so edits to the working tree during a long run cannot mix two versions of
the code (and make an "uninterrupted" reference that the later runs no longer match);
`--live-code` runs the working tree instead.

The search phase signs in as an analyst of an open case (a search is recorded in its
case); after each search kill the searches stored equal the search events logged and the
audit chain verifies. At the end the whole audit chain of the gallery is verified.

Usage:
    .venv/bin/python scripts/kill_harness.py [--kills 50] [--search-kills 10]
        [--decision-kills 20] [--photos 300] [--workers 2] [--seed 0] [--json FILE]
        [--work DIR] [--live-code]

Exit code 0 when every check held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw" / "images"
#: a decision row's columns, in the order the writer sends them
DECISION_FIELDS = ("reviewer", "decision", "rationale", "first_impression", "blind_review",
                   "probe_sha256", "probe_path", "probe_box", "engine_id", "gallery_version",
                   "persons_searched", "person_id", "face_id", "rank", "distance",
                   "similarity")
DECISION_TAG = "kill-harness decision"
#: the copy of the facedesk package every process runs (None: the installed one)
CODE: Path | None = None


# --- processes ------------------------------------------------------------------------------


def facedesk_command() -> list[str]:
    exe = Path(sys.executable).parent / "facedesk"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "facedesk"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    env["PYTHONUNBUFFERED"] = "1"
    if CODE is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(CODE), *filter(None, [env.get("PYTHONPATH")])])
    return env


def snapshot_code(work: Path) -> Path:
    """Copy the facedesk package into `work`/code; returns the folder to put first on
    the import path."""
    code = work / "code"
    shutil.copytree(REPO / "facedesk", code / "facedesk",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return code


def start_group(cmd: list[str], stdout: Any = subprocess.DEVNULL,
                stderr: Any = subprocess.DEVNULL,
                extra_env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
    """A process in its own process group (session), so one killpg takes its children."""
    return subprocess.Popen(cmd, stdout=stdout, stderr=stderr,
                            env={**child_env(), **(extra_env or {})}, start_new_session=True)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def kill_at(proc: subprocess.Popen[Any], delay: float) -> bool:
    """SIGKILL the group `delay` seconds after its start, unless it ended before; True
    when the kill hit a running process."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
    if proc.poll() is not None:
        # the leader ended: take any straggler of its group with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return False
    kill_group(proc)
    return True


# --- reading a gallery without FaceDesk's code ------------------------------------------------


@contextlib.contextmanager
def connect(db: Path) -> Iterator[sqlite3.Connection]:
    """A plain read-write connection (as the next FaceDesk process would open it: the
    first one after a crash recovers the write-ahead log)."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def integrity(conn: sqlite3.Connection) -> list[str]:
    """Problems found by SQLite's own checks (empty: none)."""
    out = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
    out += [f"foreign key: {r}" for r in conn.execute("PRAGMA foreign_key_check")]
    return out


def audit_chain(db: Path) -> tuple[bool, str]:
    """The audit log's hash chain (facedesk.app.audit.verify): intact, and in words."""
    from facedesk.app import audit
    from facedesk.store import Gallery

    with Gallery.open(db) as g:
        v = audit.verify(g)
    return v.ok, v.summary()


@dataclass(frozen=True)
class PhotoRow:
    path: str
    person_id: str
    faces_found: int
    encoding: bytes | None
    box: tuple[int, int, int, int] | None
    detector: str | None


def photo_rows(conn: sqlite3.Connection) -> dict[str, PhotoRow]:
    """sha256 -> the photo's row and its face (photos without a face: encoding None)."""
    if not has_table(conn, "photos"):
        return {}
    out: dict[str, PhotoRow] = {}
    for sha, path, pid, found, enc, t, r, b, left, det in conn.execute(
        "SELECT p.sha256, p.path, s.person_id, p.faces_found, f.encoding, f.box_top, "
        "f.box_right, f.box_bottom, f.box_left, f.detector FROM photos p "
        "JOIN persons s ON s.id = p.person_pk LEFT JOIN faces f ON f.photo_id = p.id"
    ):
        out[sha] = PhotoRow(path, pid, found, None if enc is None else bytes(enc),
                            None if enc is None else (t, r, b, left), det)
    return out


def duplicates(conn: sqlite3.Connection) -> int:
    """Rows that should not exist: a photo stored twice, a photo with two faces."""
    if not has_table(conn, "photos"):
        return 0
    dup_photos = conn.execute("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n "
                              "FROM photos GROUP BY sha256 HAVING n > 1)").fetchone()[0]
    dup_faces = conn.execute("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n "
                             "FROM faces GROUP BY photo_id HAVING n > 1)").fetchone()[0]
    return int(dup_photos) + int(dup_faces)


def content_digest(conn: sqlite3.Connection, skip: tuple[str, ...] = ()) -> str:
    """SHA-256 of every row of every table (but `skip`), in rowid order: the gallery's
    content, whatever its file layout (a checkpoint moves pages from the WAL, not
    content)."""
    h = hashlib.sha256()
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name") if r[0] not in skip]
    for t in tables:
        h.update(t.encode())
        for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid'):
            h.update(repr(row).encode())
    return h.hexdigest()


def import_lock_free(db: Path) -> bool:
    """The import lock can be taken (a killed import must not leave it held)."""
    from facedesk.store.locking import ImportLock

    lock = ImportLock(db)
    if not lock.acquire():
        return False
    lock.release()
    return True


# --- the photos -------------------------------------------------------------------------------


def choose_photos(lfw: Path, n: int, seed: int) -> list[tuple[str, Path]]:
    """n LFW photos, whole person folders picked at random (seeded): (person, file)."""
    persons = sorted(d for d in lfw.iterdir() if d.is_dir())
    random.Random(seed).shuffle(persons)
    out: list[tuple[str, Path]] = []
    for d in persons:
        for f in sorted(d.glob("*.jpg")):
            if len(out) == n:
                return out
            out.append((d.name, f))
    return out


def symlink_tree(photos: list[tuple[str, Path]], root: Path) -> dict[str, str]:
    """A folder-per-person tree of symlinks; returns sha256 -> the path FaceDesk stores."""
    expected: dict[str, str] = {}
    for person, f in photos:
        link = root / person / f.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(f)
        expected[hashlib.sha256(f.read_bytes()).hexdigest()] = os.path.abspath(link)
    return expected


# --- results ----------------------------------------------------------------------------------


@dataclass
class Phase:
    kills: int = 0  # SIGKILLs that hit a running process
    ended_before_kill: int = 0  # runs that ended on their own before their kill moment
    integrity_failures: int = 0
    lost_rows: int = 0
    duplicated_rows: int = 0
    wrong_rows: int = 0  # stored rows that differ from the uninterrupted reference
    other_failures: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return (self.integrity_failures + self.lost_rows + self.duplicated_rows
                + self.wrong_rows + self.other_failures)

    def fail(self, kind: str, n: int, what: str) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        self.notes.append(what)
        print(f"  FAILURE ({kind}): {what}", flush=True)


# --- 1. import --------------------------------------------------------------------------------


def reference_import(root: Path, db: Path, workers: int) -> tuple[float, float, dict[str, Any]]:
    """An uninterrupted import: (seconds to the first commit, seconds in all, summary)."""
    cmd = [*facedesk_command(), "import", str(root), "--db", str(db), "--workers",
           str(workers), "--json", "--quiet"]
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = start_group(cmd, stdout=out)
        first = None
        while proc.poll() is None:
            if first is None and committed(db) > 0:
                first = time.monotonic() - t0
            time.sleep(0.05)
        total = time.monotonic() - t0
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"the reference import failed (exit {proc.returncode})")
    return (first or total), total, json.loads(text)


def committed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM photos").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def snapshot(db: Path) -> tuple[list[str], dict[str, PhotoRow], int, int]:
    """(integrity problems, photo rows, duplicated rows, runs left 'running') of a
    gallery; a kill before the file was created leaves nothing to check."""
    if not db.exists():
        return [], {}, 0, 0
    with connect(db) as conn:
        running = conn.execute(
            "SELECT count(*) FROM import_runs WHERE status = 'running'"
        ).fetchone()[0] if has_table(conn, "import_runs") else 0
        return integrity(conn), photo_rows(conn), duplicates(conn), int(running)


def wait_for_commit(proc: subprocess.Popen[Any], db: Path, stored: int,
                    timeout: float = 300) -> None:
    """Until the run has committed photos beyond `stored` (or ended)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if committed(db) > stored:
            return
        time.sleep(0.02)


def check_against_reference(rows: dict[str, PhotoRow], reference: dict[str, PhotoRow],
                            res: Phase, when: str) -> None:
    wrong = [sha for sha, row in rows.items() if reference.get(sha) != row]
    if wrong:
        sha = wrong[0]
        res.fail("wrong_rows", len(wrong),
                 f"{when}: {len(wrong)} stored rows differ from the uninterrupted import, "
                 f"e.g. {rows[sha].path}")


def import_phase(root: Path, work: Path, reference: dict[str, PhotoRow], startup_s: float,
                 per_photo_s: float, kills: int, workers: int, rng: random.Random,
                 startup_share: float = 0.3) -> Phase:
    res = Phase()
    t_start = time.monotonic()
    n = len(reference)
    cmd_tail = ["--workers", str(workers), "--json", "--quiet"]
    round_no = 0
    mid_import = 0  # kills of a run that had already stored photos
    while res.kills < kills:
        round_no += 1
        db = work / f"import-round{round_no}.db"
        cmd = [*facedesk_command(), "import", str(root), "--db", str(db), *cmd_tail]
        before: dict[str, PhotoRow] = {}
        kills_this_round = 0
        final_doc: dict[str, Any] | None = None
        while True:
            last_round_kill = res.kills >= kills
            stored_before = len(before)
            remaining = (n - stored_before) * per_photo_s
            # a share of the kills while the run starts (creating the gallery, loading
            # the engine, starting the workers, recording the run); the others once it
            # has committed its first batch, while it works and commits the next ones
            early = rng.random() < startup_share
            delay = rng.uniform(0.0, startup_s if early else remaining)
            out_path = work / "run.out"
            with out_path.open("w") as out:
                t_run = time.monotonic()
                proc = start_group(cmd, stdout=out, stderr=subprocess.STDOUT)
                if last_round_kill:
                    proc.wait(timeout=600)
                    hit = False
                else:
                    if not early:
                        wait_for_commit(proc, db, stored_before)
                    hit = kill_at(proc, delay)
                delay = time.monotonic() - t_run  # the moment, from the run's start
            if hit:
                res.kills += 1
                kills_this_round += 1
            else:
                res.ended_before_kill += int(not last_round_kill)
                text = out_path.read_text()
                if proc.returncode != 0:
                    res.fail("other_failures", 1, f"round {round_no}: the import exited "
                             f"{proc.returncode}: {text[-500:]}")
                    return res
                final_doc = json.loads(text[text.index("{"):])
            problems, rows, dup, running = snapshot(db)
            faces = sum(r.encoding is not None for r in rows.values())
            when = (f"round {round_no}, kill {res.kills} at {delay:.2f}s"
                    if hit else f"round {round_no}, final run")
            if problems:
                res.fail("integrity_failures", 1, f"{when}: {problems[:3]}")
            if dup:
                res.fail("duplicated_rows", dup, f"{when}: {dup} duplicated rows")
            lost = set(before) - set(rows)
            if lost:
                res.fail("lost_rows", len(lost), f"{when}: {len(lost)} committed photos gone")
            lost_faces = sum(1 for sha, r in before.items()
                             if r.encoding is not None and sha in rows
                             and rows[sha].encoding is None)
            if lost_faces:
                res.fail("lost_rows", lost_faces, f"{when}: {lost_faces} faces gone")
            check_against_reference(rows, reference, res, when)
            if running > 1 or (not hit and running):
                res.fail("other_failures", 1, f"{when}: {running} runs left 'running'")
            if not import_lock_free(db):
                res.fail("other_failures", 1, f"{when}: the import lock is still held")
            moment = f"at {delay:.2f}s" if hit else ""
            print(f"  round {round_no} {'kill ' + str(res.kills) if hit else 'end   '} "
                  f"{moment:>9}: {len(rows)} photos "
                  f"(+{len(rows) - stored_before}), {faces} faces, "
                  f"{'ok' if not problems else 'INTEGRITY FAILURE'}", flush=True)
            if hit and len(rows) > stored_before:
                mid_import += 1
            before = rows
            if not hit:
                break
        # the run that ended by itself stored exactly what was missing
        assert final_doc is not None
        expect = (n, stored_before, n - stored_before)
        got = (final_doc.get("total"), final_doc.get("already_stored"),
               final_doc.get("imported"))
        if final_doc.get("status") != "completed" or got != expect:
            res.fail("other_failures", 1, f"round {round_no}: the finishing run reported "
                     f"(total, already stored, imported) = {got}, expected {expect}")
        if set(before) != set(reference):
            res.fail("lost_rows", len(set(reference) - set(before)),
                     f"round {round_no}: the finished gallery misses "
                     f"{len(set(reference) - set(before))} photos")
        with connect(db) as conn:
            statuses = [r[0] for r in conn.execute("SELECT status FROM import_runs ORDER BY id")]
        if statuses[-1:] != ["completed"] or statuses.count("interrupted") > kills_this_round:
            res.fail("other_failures", 1, f"round {round_no}: run statuses {statuses}")
        print(f"  round {round_no} complete: {kills_this_round} kills, "
              f"{len(statuses)} runs recorded ({statuses.count('interrupted')} interrupted), "
              f"every photo once with the reference encodings", flush=True)
    res.seconds = time.monotonic() - t_start
    res.notes.append(f"{round_no} rounds (a fresh gallery each), {n} photos each; "
                     f"{mid_import} kills hit a run after it had stored photos, the others "
                     "while it started (gallery, engine, workers) or before its first commit "
                     f"(aimed there: {startup_share:.0%})")
    return res


# --- 2. search --------------------------------------------------------------------------------


#: the analyst the search phase signs in as, and the case its searches belong to
SEARCH_USER = {"FACEDESK_USER": "kill-analyst", "FACEDESK_PASSWORD": "tundra-Marble-5093"}
SEARCH_CASE = "KILL-1"
#: what a search writes: its record and audit events (sign-in, search)
SEARCH_TABLES = ("searches", "audit")


def prepare_case(db: Path) -> None:
    """An administrator, the analyst and an open case, for the searches to belong to."""
    from facedesk.app import accounts, cases
    from facedesk.store import Gallery

    with Gallery.open(db) as g:
        admin = accounts.create_first_administrator(g, "kill-admin", "Harness Administrator",
                                                    password="sorrel-Anchor-7716")
        admin.add_user(SEARCH_USER["FACEDESK_USER"], "Harness Analyst", "analyst",
                       password=SEARCH_USER["FACEDESK_PASSWORD"])
        analyst = accounts.sign_in(g, SEARCH_USER["FACEDESK_USER"],
                                   SEARCH_USER["FACEDESK_PASSWORD"])
        cases.open_case(analyst, SEARCH_CASE, accounts.DEFAULT_PURPOSES[0], "kill harness")


def search_records(db: Path) -> tuple[int, int, bool]:
    """Searches stored, search events logged, and whether the audit chain verifies."""
    from facedesk.app import audit
    from facedesk.store import Gallery

    with Gallery.open(db) as g:
        stored = g.conn.execute("SELECT count(*) FROM searches").fetchone()[0]
        logged = g.conn.execute("SELECT count(*) FROM audit WHERE kind = 'search'"
                                ).fetchone()[0]
        return stored, logged, audit.verify(g).ok


def run_search(db: Path, probe: Path) -> tuple[float, list[tuple[str, int, float]]]:
    t0 = time.monotonic()
    proc = subprocess.run([*facedesk_command(), "search", str(probe), "--db", str(db),
                           "--case", SEARCH_CASE, "--json"], capture_output=True, text=True,
                          env={**child_env(), **SEARCH_USER}, timeout=300)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"search failed (exit {proc.returncode}): {proc.stderr[-400:]}")
    doc = json.loads(proc.stdout)
    return took, [(c["person_id"], c["face_id"], round(c["distance"], 9))
                  for c in doc["candidates"]]


def search_phase(db: Path, probe: Path, kills: int, rng: random.Random) -> Phase:
    res = Phase()
    t_start = time.monotonic()
    prepare_case(db)
    took, expected = run_search(db, probe)
    with connect(db) as conn:
        digest = content_digest(conn, skip=SEARCH_TABLES)
    i = -1
    while res.kills < kills and i < 3 * kills:
        i += 1
        delay = rng.uniform(0.0, took)
        proc = start_group([*facedesk_command(), "search", str(probe), "--db", str(db),
                            "--case", SEARCH_CASE, "--json"], extra_env=SEARCH_USER)
        hit = kill_at(proc, delay)
        if hit:
            res.kills += 1
        else:
            res.ended_before_kill += 1
        with connect(db) as conn:
            problems = integrity(conn)
            same = content_digest(conn, skip=SEARCH_TABLES) == digest
        stored, logged, chain_ok = search_records(db)
        if problems:
            res.fail("integrity_failures", 1, f"search kill {i + 1}: {problems[:3]}")
        if not same:
            res.fail("other_failures", 1, f"search kill {i + 1}: a search changed the "
                     "gallery's content (beyond its own record and audit events)")
        if stored != logged or not chain_ok:
            res.fail("integrity_failures", 1, f"search kill {i + 1}: {stored} searches "
                     f"stored, {logged} logged, audit chain {'ok' if chain_ok else 'BROKEN'}")
        _, again = run_search(db, probe)
        if again != expected:
            res.fail("other_failures", 1, f"search kill {i + 1}: the next search returned "
                     "other candidates")
        print(f"  search {i + 1} {'killed' if hit else 'ended before its kill'} at "
              f"{delay:.2f}s: gallery {'unchanged' if same else 'CHANGED'}, next search "
              f"{'the same' if again == expected else 'DIFFERENT'}", flush=True)
    res.seconds = time.monotonic() - t_start
    res.notes.append(f"searches take {took:.1f}s; the search after each kill checked")
    return res


# --- 3. decisions -----------------------------------------------------------------------------


def decision_row(seq: int, face_id: int, engine_id: str) -> dict[str, Any]:
    """The decision the writer sends as its seq-th: every field derived from seq, so a
    stored row can be checked field by field."""
    kinds = ("possible_lead", "not_the_person", "inconclusive")
    return {
        "reviewer": f"Reviewer {seq % 7}",
        "decision": kinds[seq % 3],
        "rationale": f"{DECISION_TAG} {seq}: " + "eyebrows, nose, chin compared. " * 8,
        "first_impression": ("similar", "different", "unsure", None)[seq % 4],
        "blind_review": seq % 2,
        "probe_sha256": hashlib.sha256(str(seq).encode()).hexdigest(),
        "probe_path": f"/probes/{seq}.jpg",
        "probe_box": json.dumps([seq % 50, 100 + seq % 50, 100 + seq % 50, seq % 50]),
        "engine_id": engine_id,
        "gallery_version": seq,
        "persons_searched": 1000 + seq,
        "person_id": f"person-{seq}",
        "face_id": face_id,
        "rank": 1 + seq % 20,
        "distance": seq / 1_000_000,
        "similarity": 1 - seq / 1_000_000,
    }


def write_decisions(db: Path, start: int) -> None:
    """The process that gets killed: records decisions in a loop, one transaction each
    (the store's insert_decision), and acknowledges each on stdout once the write has
    committed."""
    from facedesk.store import Gallery
    from facedesk.store.decisions import NewDecision, insert_decision

    with Gallery.open(db) as g:
        face_id, engine_id = g.conn.execute(
            "SELECT id, engine_id FROM faces ORDER BY id LIMIT 1").fetchone()
        print("ready", flush=True)
        seq = start
        while True:
            with g.write() as conn:
                insert_decision(conn, NewDecision.of(decision_row(seq, face_id, engine_id)))
            sys.stdout.write(f"ack {seq}\n")
            sys.stdout.flush()
            seq += 1


def stored_decisions(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM decisions WHERE rationale LIKE ? ORDER BY id", (f"{DECISION_TAG}%",))]
    finally:
        conn.row_factory = None


def decision_phase(db: Path, kills: int, rng: random.Random,
                   max_delay_s: float = 1.0) -> Phase:
    """Kill the decision writer `kills` times, each at a random moment within
    `max_delay_s` of its first decision."""
    res = Phase()
    t_start = time.monotonic()
    with connect(db) as conn:
        face_id, engine_id = conn.execute(
            "SELECT id, engine_id FROM faces ORDER BY id LIMIT 1").fetchone()
        others = conn.execute("SELECT count(*) FROM decisions WHERE rationale NOT LIKE ?",
                              (f"{DECISION_TAG}%",)).fetchone()[0]
        stored = len(stored_decisions(conn))
    acked = stored  # everything stored before the first kill counts as acknowledged
    in_flight_commits = 0
    for i in range(kills):
        cmd = [sys.executable, str(Path(__file__).resolve()), "write-decisions",
               "--db", str(db), "--start", str(stored)]
        proc = start_group(cmd, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            kill_group(proc)
            res.fail("other_failures", 1, f"decision kill {i + 1}: the writer did not start")
            continue
        delay = rng.uniform(0.0, max_delay_s)
        if kill_at(proc, delay):
            res.kills += 1
        else:
            res.ended_before_kill += 1
        lines = proc.stdout.read().decode().split()
        proc.stdout.close()
        acks = [int(x) for x in lines[1::2]]
        if acks != list(range(stored, stored + len(acks))):
            res.fail("other_failures", 1, f"decision kill {i + 1}: acknowledgements out "
                     "of order")
        acked += len(acks)
        with connect(db) as conn:
            problems = integrity(conn)
            rows = stored_decisions(conn)
            now_others = conn.execute(
                "SELECT count(*) FROM decisions WHERE rationale NOT LIKE ?",
                (f"{DECISION_TAG}%",)).fetchone()[0]
        if problems:
            res.fail("integrity_failures", 1, f"decision kill {i + 1}: {problems[:3]}")
        extra = len(rows) - acked
        if extra < 0:
            res.fail("lost_rows", -extra, f"decision kill {i + 1}: {-extra} acknowledged "
                     "decisions are not stored")
        elif extra > 1:
            res.fail("duplicated_rows", extra - 1, f"decision kill {i + 1}: {extra} "
                     "decisions stored beyond the acknowledged ones (at most 1 may be)")
        elif extra == 1:
            in_flight_commits += 1
            acked += 1  # committed before the kill, acknowledged by the gallery itself
        bad = [r["id"] for n, r in enumerate(rows)
               if {k: r[k] for k in DECISION_FIELDS} != decision_row(n, face_id, engine_id)]
        if bad:
            res.fail("wrong_rows", len(bad), f"decision kill {i + 1}: {len(bad)} stored "
                     "decisions are incomplete or not what was sent")
        if now_others != others:
            res.fail("other_failures", 1, f"decision kill {i + 1}: other decisions changed")
        print(f"  decision kill {i + 1} at {delay:.2f}s: {len(acks)} acknowledged, "
              f"{len(rows) - stored} stored{' (one committed, not yet acknowledged)' if extra == 1 else ''}"  # noqa: E501
              f", {len(rows)} in all", flush=True)
        stored = len(rows)
    res.seconds = time.monotonic() - t_start
    res.notes.append(f"{stored} decisions recorded in all; {in_flight_commits} kills landed "
                     "after a commit and before its acknowledgement")
    return res


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global CODE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command")
    wd = sub.add_parser("write-decisions", help="(internal) the decision writer to kill")
    wd.add_argument("--db", type=Path, required=True)
    wd.add_argument("--start", type=int, default=0)
    ap.add_argument("--kills", type=int, default=50, help="kills of a running import")
    ap.add_argument("--search-kills", type=int, default=10)
    ap.add_argument("--decision-kills", type=int, default=20)
    ap.add_argument("--photos", type=int, default=300, help="LFW photos per import")
    ap.add_argument("--startup-share", type=float, default=0.3,
                    help="share of the import kills aimed at a run's start (the others "
                         "come after its first commit)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lfw", type=Path, default=LFW)
    ap.add_argument("--work", type=Path, help="keep the galleries in this folder")
    ap.add_argument("--json", type=Path, help="write the summary here as JSON")
    ap.add_argument("--live-code", action="store_true",
                    help="run the working tree's code, not a copy taken at the start")
    args = ap.parse_args(argv)
    if args.command == "write-decisions":
        write_decisions(args.db, args.start)
        return 0

    rng = random.Random(args.seed)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="facedesk-kills-")))
        work.mkdir(parents=True, exist_ok=True)
        photos = choose_photos(args.lfw, args.photos, args.seed)
        root = work / "photos"
        if root.exists():
            raise SystemExit(f"{root} exists: give an empty --work folder")
        if not args.live_code:
            CODE = snapshot_code(work)
            sys.path.insert(0, str(CODE))
            for name in [m for m in sys.modules if m.split(".")[0] == "facedesk"]:
                del sys.modules[name]
            used = subprocess.run(
                [sys.executable, "-c", "import facedesk; print(facedesk.__file__)"],
                capture_output=True, text=True, env=child_env()).stdout.strip()
            if not used.startswith(str(CODE)):
                raise SystemExit(f"the child processes would not run the copy: {used}")
            print(f"code: a copy of {REPO / 'facedesk'} in {CODE}", flush=True)
        expected = symlink_tree(photos, root)
        n = len(expected)
        print(f"{n} LFW photos of {len({p for p, _ in photos})} persons (seed {args.seed}); "
              f"work folder {work}", flush=True)

        ref_db = work / "reference.db"
        startup_s, total_s, ref_doc = reference_import(root, ref_db, args.workers)
        with connect(ref_db) as conn:
            reference = photo_rows(conn)
        if set(reference) != set(expected) or any(
                reference[s].path != p for s, p in expected.items()):
            raise SystemExit("the reference import did not store exactly the chosen photos")
        per_photo_s = max(0.001, (total_s - startup_s) / n)
        print(f"reference import: {total_s:.1f}s ({startup_s:.1f}s to the first commit, "
              f"{per_photo_s * 1000:.0f} ms a photo), {ref_doc['gallery_totals']['faces']} "
              f"faces", flush=True)

        phases: dict[str, Phase] = {}
        print(f"\n== import: {args.kills} kills", flush=True)
        phases["import"] = import_phase(root, work, reference, startup_s, per_photo_s,
                                        args.kills, args.workers, rng,
                                        args.startup_share)
        probe = photos[0][1]
        if args.search_kills:
            print(f"\n== search: {args.search_kills} kills", flush=True)
            phases["search"] = search_phase(ref_db, probe, args.search_kills, rng)
        if args.decision_kills:
            print(f"\n== decisions: {args.decision_kills} kills", flush=True)
            phases["decisions"] = decision_phase(ref_db, args.decision_kills, rng)
        chain_ok, audit = audit_chain(ref_db)
        if not chain_ok:
            phases.setdefault("audit", Phase()).fail("integrity_failures", 1, audit)

    elapsed = time.monotonic() - t0
    failures = sum(p.failures for p in phases.values())
    print("\n== summary")
    print(f"{'phase':<10} {'kills':>5} {'ended':>5} {'integrity':>9} {'lost':>5} "
          f"{'duplicated':>10} {'wrong':>5} {'other':>5} {'time':>7}")
    for name, p in phases.items():
        print(f"{name:<10} {p.kills:>5} {p.ended_before_kill:>5} {p.integrity_failures:>9} "
              f"{p.lost_rows:>5} {p.duplicated_rows:>10} {p.wrong_rows:>5} "
              f"{p.other_failures:>5} {p.seconds:>6.0f}s")
    for name, p in phases.items():
        for note in p.notes:
            print(f"  {name}: {note}")
    print(f"audit chain: {audit}")
    print(f"total: {sum(p.kills for p in phases.values())} kills, {failures} failures, "
          f"{elapsed:.0f}s ({'ALL HELD' if failures == 0 else 'FAILED'})")
    if args.json:
        args.json.write_text(json.dumps({
            "seed": args.seed, "photos": n, "workers": args.workers, "elapsed_s": elapsed,
            "audit_chain": audit, "failures": failures,
            "phases": {k: asdict(v) for k, v in phases.items()},
        }, indent=2))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
