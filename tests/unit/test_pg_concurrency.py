"""Four processes on one PostgreSQL gallery at once (issue 19, item 7): two import
different folders, two search and decide in different cases. Afterwards the gallery
holds what the same four jobs leave when run one after the other (into a second
database): the same photos, faces, persons, searches and decisions, none lost, none
twice, and its audit chain verifies. Then the same with an importer SIGKILLed midway and
run again.

The processes run this module as a script (`python test_pg_concurrency.py JOB TARGET
...`) with the fake engine (tests/fakes.py), through the application's use cases as the
CLI calls them: `run_import`, `search_for_case`, `decide`. The kill takes the importer's
whole process group, as a crash would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent

#: persons x photos of each importer's folder (A is large enough to be killed midway:
#: several batches of 64 photos)
FOLDER_A = (60, 4)
FOLDER_B = (15, 3)
#: persons already in the gallery (the searchers' probes are of persons 0 and 1)
BASE_PERSONS = 6
SEARCHES_PER_SEARCHER = 6
ADMIN_PASSWORD = "kettle-Orbit-9731"
#: the tables whose rows must be the same as after the serial run (import_runs and the
#: audit log's import batches depend on timing and on the kill)
COMPARED = ("persons", "photos", "faces", "engines", "users", "cases", "searches",
            "decisions", "lead_reviews")


# --- the jobs (run in the child processes) ---------------------------------------------------


def _open(target: str) -> Any:
    from facedesk.store import Gallery

    return Gallery.open(target if target.startswith("postgres") else Path(target))


def job_import(target: str, folder: str) -> None:
    from fakes import FAKE_FACTORY

    from facedesk.app.importer import ImportOptions, run_import
    from facedesk.engine.spec import EngineSpec
    from facedesk.errors import ImportRunning

    with _open(target) as g:
        while True:
            try:
                for ev in run_import(g, Path(folder), engine=EngineSpec(FAKE_FACTORY),
                                     options=ImportOptions(workers=1), user_id="admin"):
                    if ev.phase == "importing":
                        print(f"imported {ev.counts.imported}", flush=True)
                break
            except ImportRunning:
                if target.startswith("postgres"):
                    raise  # PostgreSQL: an import lock per source, both run at once
                time.sleep(0.2)  # SQLite: one import per gallery, the other waits
        assert ev.phase == "finished" and ev.counts.failed == 0, ev


def job_search(target: str, user: str, case_number: str, probe: str) -> None:
    from fakes import FakeEngine

    from facedesk.app import accounts, cases
    from facedesk.app.search import Searcher, analyze_probe, choose_face

    eng = FakeEngine()
    with _open(target) as g:
        session = accounts.sign_in_os(g, f"os-{user}")
        case = cases.get_case(g, case_number)
        p = analyze_probe(eng, Path(probe))
        face = choose_face(eng, p)
        searcher = Searcher(g, eng.identity())
        for i in range(SEARCHES_PER_SEARCHER):
            s = cases.search_for_case(session, case, searcher, p, face, 10)
            verdict = "inconclusive" if i % 2 else "not_the_person"
            cases.decide(session, s.id, 1, verdict, f"Compared ears and jawline ({i})")
            print(f"searched {i}", flush=True)


# --- the test ---------------------------------------------------------------------------------


def make_folders(root: Path) -> dict[str, Path]:
    from fakes import one_face, save_png

    out = {}
    start = 0
    for name, (persons, photos) in (("base", (BASE_PERSONS, 2)), ("a", FOLDER_A),
                                    ("b", FOLDER_B)):
        folder = root / name
        for p in range(start, start + persons):
            for v in range(photos):
                save_png(one_face(p, v), folder / f"person_{p:03d}" / f"{v}.png")
        out[name] = folder
        start += persons
    for n in (0, 1):
        out[f"probe{n}"] = save_png(one_face(n, 9), root / f"probe{n}.png")
    return out


def set_up(target: str, base: Path) -> None:
    """A gallery with BASE persons, an administrator, two analysts with a case each."""
    from fakes import FAKE_FACTORY

    from facedesk.app import accounts, cases
    from facedesk.app.importer import ImportOptions, run_import
    from facedesk.engine.spec import EngineSpec
    from facedesk.store import Gallery

    with Gallery.open(target if target.startswith("postgres") else Path(target),
                      create=True) as g:
        for _ in run_import(g, base, engine=EngineSpec(FAKE_FACTORY),
                            options=ImportOptions(workers=1)):
            pass
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password=ADMIN_PASSWORD,
                                                    os_account="os-admin")
        admin.set_setting("threshold", 1.0)
        for uid in ("ann", "abe"):
            admin.add_user(uid, f"{uid.title()} Analyst", "analyst", os_account=f"os-{uid}")
            cases.open_case(accounts.sign_in_os(g, f"os-{uid}"), f"2026-{uid}",
                            accounts.DEFAULT_PURPOSES[0])


def jobs(target: str, f: dict[str, Path]) -> dict[str, list[str]]:
    return {
        "import-a": ["import", target, str(f["a"])],
        "import-b": ["import", target, str(f["b"])],
        "search-ann": ["search", target, "ann", "2026-ann", str(f["probe0"])],
        "search-abe": ["search", target, "abe", "2026-abe", str(f["probe1"])],
    }


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(TESTS)])}
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def finish(name: str, proc: subprocess.Popen[str], timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{err[-3000:]}"
    return out


def run_serially(target: str, f: dict[str, Path]) -> None:
    for name, args in jobs(target, f).items():
        finish(name, start(args))


def run_at_once(target: str, f: dict[str, Path],
                kill: Callable[[str], bool] | None = None) -> list[str]:
    """The four jobs at once; `kill(name)` says which job is SIGKILLed after its first
    committed photos (it is run again to its end afterwards). Returns the killed ones."""
    procs = {name: start(args) for name, args in jobs(target, f).items()}
    killed = []
    try:
        for name, proc in procs.items():
            if kill is not None and kill(name):
                assert proc.stdout is not None
                line = proc.stdout.readline()  # its first progress line: running
                deadline = time.monotonic() + 120
                while committed(target, f["a"]) == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                assert line and 0 < committed(target, f["a"]) < FOLDER_A[0] * FOLDER_A[1], \
                    "the importer was not killed midway"
                killed.append(name)
        for name, proc in procs.items():
            if name not in killed:
                finish(name, proc)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for name in killed:
        finish(name, start(jobs(target, f)[name]))
    return killed


def committed(target: str, folder: Path) -> int:
    with _open(target) as g:
        return int(g.conn.execute("SELECT count(*) FROM photos WHERE path LIKE ?",
                                  (f"{folder}%",)).fetchone()[0])


def snapshot(target: str) -> dict[str, Any]:
    """What must be equal to the serial run's: each compared table's rows (ids and times
    left out: they depend on the order the processes wrote in), and audit counts."""
    with _open(target) as g, g.read():
        conn = g.conn
        out: dict[str, Any] = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                               for t in COMPARED}
        out["photo_hashes"] = sorted(r[0] for r in conn.execute(
            "SELECT sha256 FROM photos"))
        out["person_ids"] = sorted(r[0] for r in conn.execute(
            "SELECT person_id FROM persons"))
        out["faces_per_photo"] = sorted({int(r[0]) for r in conn.execute(
            "SELECT count(*) FROM faces GROUP BY photo_id")})
        out["photos_per_hash"] = sorted({int(r[0]) for r in conn.execute(
            "SELECT count(*) FROM photos GROUP BY sha256")})
        out["decisions_by_case"] = sorted(conn.execute(
            "SELECT c.number, d.decision, count(*) FROM decisions d JOIN cases c "
            "ON c.id = d.case_id GROUP BY c.number, d.decision").fetchall())
        out["searches_by_case"] = sorted(conn.execute(
            "SELECT c.number, s.user_id, count(*) FROM searches s JOIN cases c "
            "ON c.id = s.case_id GROUP BY c.number, s.user_id").fetchall())
        out["events"] = sorted(tuple(r) for r in conn.execute(
            "SELECT kind, count(*) FROM audit WHERE kind IN ('search', 'decision', "
            "'case_opened', 'user_added', 'sign_in') GROUP BY kind"))
        out["running_imports"] = int(conn.execute(
            "SELECT count(*) FROM import_runs WHERE status = 'running'").fetchone()[0])
    return out


def verified(target: str) -> list[str]:
    from facedesk.app import audit

    with _open(target) as g:
        v = audit.verify(g)
        return [str(p) for p in v.problems]


def check_against_serial(at_once: str, serial: str) -> None:
    got, want = snapshot(at_once), snapshot(serial)
    assert got == want
    assert want["photos"] == want["faces"] == (BASE_PERSONS * 2 + FOLDER_A[0] * FOLDER_A[1]
                                               + FOLDER_B[0] * FOLDER_B[1])
    assert want["searches"] == want["decisions"] == 2 * SEARCHES_PER_SEARCHER
    assert want["faces_per_photo"] == want["photos_per_hash"] == [1]
    assert want["running_imports"] == 0
    assert verified(at_once) == [] and verified(serial) == []


def targets(tmp_path: Path, make: Callable[[], str] | None) -> tuple[str, str]:
    if make is None:  # SQLite: two files
        return str(tmp_path / "at_once.db"), str(tmp_path / "serial.db")
    return make(), make()


def _run(tmp_path: Path, make: Callable[[], str] | None,
         kill: Callable[[str], bool] | None) -> None:
    f = make_folders(tmp_path / "photos")
    at_once, serial = targets(tmp_path, make)
    set_up(at_once, f["base"])
    set_up(serial, f["base"])
    run_serially(serial, f)
    killed = run_at_once(at_once, f, kill)
    assert killed == ([] if kill is None else ["import-a"])
    check_against_serial(at_once, serial)


def test_four_processes_at_once_equal_a_serial_run(tmp_path: Path, pg_server: Any) -> None:
    _run(tmp_path, lambda: pg_server.url(pg_server.new_database()), None)


def test_an_importer_killed_midway_and_run_again(tmp_path: Path, pg_server: Any) -> None:
    _run(tmp_path, lambda: pg_server.url(pg_server.new_database()),
         lambda name: name == "import-a")


def test_the_same_on_sqlite(tmp_path: Path) -> None:
    """The same jobs on a SQLite file (one import per gallery there: the second importer
    waits its turn)."""
    _run(tmp_path, None, lambda name: name == "import-a")


if __name__ == "__main__":
    job, *rest = sys.argv[1:]
    {"import": job_import, "search": job_search}[job](*rest)
