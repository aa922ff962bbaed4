"""A gallery on PostgreSQL against the same gallery in a SQLite file, measured in one run
(issue 19): import throughput, the first search after opening the gallery (with and
without the workstation's encoding cache), and search latency, at 100,000 and 1,000,000
faces. Prints the figures and PostgreSQL / SQLite ratios against the targets.

Run (PostgreSQL's server programs installed, as `scripts/setup.sh dev` does; the
benchmark starts a throwaway cluster of its own, as the tests do, unless --pg-url names a
server where it may create databases):

    .venv/bin/python benchmarks/postgres.py --sizes 100000,1000000

Options: --sizes 100000,1000000  --import-photos 400 (real engine, LFW)  --fake-photos
2000 (fake engine)  --workers 2  --import-runs 3  --first-runs 3  --probes 40
--recorded 10  --folder /tmp/facedesk-bench/postgres  --pg-url URL  --no-real-engine

What is measured
    import      `run_import` of the same photo folder, the same --workers, into a new
                SQLite file and a new PostgreSQL database, --import-runs times each,
                alternating which goes first; photos/s = photos / wall time (engine start
                included). Twice: with the real engine on a fixed sample of LFW photos
                (benchmarks/import_photos.py; what a user sees), and with the fake engine
                of the tests on synthetic photos (the engine costs ~nothing: what the
                store itself costs, an upper bound on the difference). The verdict is on
                the median of each run's PG/SQLite ratio (a run's two imports follow each
                other, so the load of a shared machine is most alike for them).
    galleries   at each size, the synthetic gallery of benchmarks/synthetic.py (persons
                with 1-5 photos, encodings shaped like dlib's, a 4 KB crop and 68
                landmarks per face), written through the store API (`fill_gallery`) into
                a SQLite file (kept in --folder, built once), and copied from it into a
                PostgreSQL database (each run on the throwaway server; the copy's rate is
                printed). An administrator, an analyst and a case are added to each.
    first search   a fresh Python process opens the gallery and answers one search
                (`Searcher.search`): the time from `Gallery.open` to the answer (the
                interpreter's start and imports left out), --first-runs times, the two
                stores taking turns; "cache":
                the workstation's encoding cache is current (written by a run before),
                "no cache": every encoding read from the gallery (`load_encodings(
                cache=False)`).
    search      in one process, both galleries open, after a first search on each:
                `Searcher.search` of --probes synthetic probes, each on one store then
                the other (the exact ranking in memory, the candidates' details and the
                gallery's version read from the store), and `search_for_case` of
                --recorded probes (the search stored in the case with its audit event:
                a write transaction, on PostgreSQL under the advisory lock).
Medians throughout. Targets (issue 19): import on PostgreSQL >= 90% of SQLite's photos/s;
first search within 10 s at 1,000,000 faces with the cache; search latency the same.
The machine is shared: compare the ratios of one run, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import machine
import numpy as np
import synthetic

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))  # tests/pgserver.py (the throwaway server), fakes

TARGET_IMPORT_RATIO = 0.9
TARGET_FIRST_SEARCH_S = 10.0
ADMIN_PASSWORD = "kettle-Orbit-9731"


# --- the two stores ----------------------------------------------------------------------------


class Stores:
    """Where the galleries go: SQLite files in a folder, databases on a PostgreSQL
    server (a throwaway cluster, or --pg-url's server)."""

    def __init__(self, folder: Path, pg_url: str | None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.server: Any = None
        if pg_url is None:
            from pgserver import PostgresServer

            self.server = PostgresServer()
            self.admin_url = self.server.url()
        else:
            self.admin_url = pg_url

    def database(self, name: str, *, fresh: bool = True) -> str:
        """The URL of database `name` (dropped and made again when `fresh`)."""
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (name,)).fetchone() is not None
            if exists and fresh:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            if fresh or not exists:
                conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        if self.server is not None:
            return str(self.server.url(name))
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def sqlite(self, name: str) -> Path:
        path = self.folder / name
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"),
                  Path(f"{path}.encodings")):
            p.unlink(missing_ok=True)
        return path

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def open_gallery(target: str | Path, create: bool = False) -> Any:
    from facedesk.store import Gallery

    return Gallery.open(target, create=create)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio_line(label: str, sqlite: float, pg: float, unit: str, target: str) -> str:
    r = pg / sqlite if sqlite else float("nan")
    return (f"  {label:44s} SQLite {sqlite:10.2f} {unit:8s} PostgreSQL {pg:10.2f} {unit:8s}"
            f" PG/SQLite {r:6.2f}   {target}")


# --- import ----------------------------------------------------------------------------------


def import_once(target: str | Path, folder: Path, spec: Any, workers: int) -> tuple[int, float]:
    from facedesk.app.importer import ImportOptions, run_import

    t0 = time.perf_counter()
    with open_gallery(target, create=True) as g:
        last = run_to_end_event(run_import(g, folder, engine=spec,
                                           options=ImportOptions(workers=workers)))
    elapsed = time.perf_counter() - t0
    assert last is not None and last.phase == "finished" and last.counts.failed == 0, last
    return last.counts.total, elapsed


def run_to_end_event(events: Any) -> Any:
    last = None
    for last in events:  # noqa: B007 - the last event is the result
        pass
    return last


def measure_import(stores: Stores, label: str, folder: Path, spec: Any, workers: int,
                   runs: int) -> tuple[float, float, float]:
    """Median photos/s per store, and the median of each run's PG/SQLite ratio (the two
    imports of a run follow each other: the machine's load, which changes, is most alike
    within a run)."""
    rates: dict[str, list[float]] = {"sqlite": [], "pg": []}
    for run in range(runs):
        order = ["sqlite", "pg"] if run % 2 == 0 else ["pg", "sqlite"]
        for backend in order:
            target: str | Path = stores.sqlite(f"import-{label}.db") if backend == "sqlite" \
                else stores.database(f"bench_import_{label}")
            photos, seconds = import_once(target, folder, spec, workers)
            rates[backend].append(photos / seconds)
            print(f"    {label} run {run + 1} {backend:6s}: {photos} photos in {seconds:6.1f} s "
                  f"({photos / seconds:6.1f}/s)", flush=True)
    paired = [p / q for p, q in zip(rates["pg"], rates["sqlite"], strict=True)]
    print(f"    {label}: PG/SQLite by run " + ", ".join(f"{r:.2f}" for r in paired))
    return median(rates["sqlite"]), median(rates["pg"]), median(paired)


def fake_photos(root: Path, count: int) -> Path:
    from fakes import one_face, save_png

    folder = root / "fake"
    for i in range(count):
        person, variant = divmod(i, 4)
        save_png(one_face(person, variant), folder / f"person_{person:05d}" / f"{variant}.png")
    return folder


def lfw_photos(root: Path, count: int) -> Path | None:
    import import_photos

    if not import_photos.DEFAULT_LFW.is_dir():
        return None
    sample, extra = import_photos.pick(import_photos.lfw_files(import_photos.DEFAULT_LFW),
                                       count)
    return import_photos.photo_set("lfw", sample, extra, root)["gallery"]


# --- the large galleries ---------------------------------------------------------------------


def staff(target: str | Path) -> None:
    """An administrator, an analyst (signed in by OS account) and a case, once."""
    from facedesk.app import accounts, cases

    with open_gallery(target) as g:
        if accounts.has_users(g):
            return
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password=ADMIN_PASSWORD,
                                                    os_account="os-admin")
        admin.set_setting("threshold", 1.0)
        admin.add_user("bench", "Ben Analyst", "analyst", os_account="os-bench")
        cases.open_case(accounts.sign_in_os(g, "os-bench"), "BENCH-1",
                        accounts.DEFAULT_PURPOSES[0])


def build_pg(stores: Stores, size: int, sqlite_path: Path) -> str:
    """The PostgreSQL gallery of `size` faces: the SQLite one's rows copied into a new
    database (facedesk.store.copy, the rows of `facedesk gallery copy`; the synthetic
    gallery has no audit log for the command's checks), or kept from an earlier run on
    --pg-url's server."""
    from facedesk.store import copy as store_copy

    url = stores.database(f"bench_{size}", fresh=stores.server is not None)
    with open_gallery(url, create=True) as g:
        if g.counts()["faces"] == size:
            print(f"  PostgreSQL gallery of {size:,} faces: kept from an earlier run")
            return url
    url = stores.database(f"bench_{size}")
    t0 = time.perf_counter()
    with open_gallery(sqlite_path) as src, open_gallery(url, create=True) as g, \
            src.read(), g.write() as conn:
        for _ in store_copy.copy_tables(src, conn, store_copy.Sums(), batch=5000):
            pass
    with open_gallery(url) as g:
        g.conn.execute("ANALYZE")
    dt = time.perf_counter() - t0
    print(f"  PostgreSQL gallery of {size:,} faces copied from SQLite in {dt:,.0f} s "
          f"({size / dt:,.0f} faces/s)", flush=True)
    return url


def first_search_child(target: str, use_cache: bool, probe_file: str) -> None:
    """In a fresh process: open, one search; print the times (JSON)."""
    from facedesk.app.search import Searcher
    from facedesk.store import Gallery

    if not use_cache:
        load = Gallery.load_encodings
        Gallery.load_encodings = lambda self, cache=None, **kw: load(  # type: ignore[method-assign]
            self, cache=False, **kw)
    probe = np.load(probe_file)
    t0 = time.perf_counter()
    g = Gallery.open(target if target.startswith("postgres") else Path(target))
    t_open = time.perf_counter()
    result = Searcher(g, synthetic.ENGINE).search(probe, top_k=20)
    t_end = time.perf_counter()
    assert result.candidates
    print(json.dumps({"open_ms": (t_open - t0) * 1000, "total_ms": (t_end - t0) * 1000,
                      "faces": result.faces_searched}))
    g.close()


def first_search(target: str | Path, use_cache: bool, probe_file: Path) -> float:
    """ms from open to the first answer, in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--first-search-child", str(target),
                          "on" if use_cache else "off", str(probe_file)],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    if out.returncode != 0:
        raise RuntimeError(f"first search failed: {out.stderr[-2000:]}")
    return float(json.loads(out.stdout)["total_ms"])


def first_searches(targets: dict[str, str | Path], probe_file: Path, runs: int
                   ) -> dict[str, dict[str, float]]:
    """Median first-search ms per store, with and without the cache; the stores take turns
    (the machine's load changes: each sees the same)."""
    times: dict[str, dict[str, list[float]]] = {b: {"cache": [], "no cache": []}
                                                for b in targets}
    for target in targets.values():
        first_search(target, True, probe_file)  # writes the cache
    for run in range(runs):
        order = list(targets) if run % 2 == 0 else list(reversed(targets))
        for backend in order:
            for label, use in (("cache", True), ("no cache", False)):
                times[backend][label].append(first_search(targets[backend], use, probe_file))
    return {b: {k: median(v) for k, v in t.items()} for b, t in times.items()}


def search_latency(targets: dict[str, str | Path], probes: np.ndarray, recorded: int
                   ) -> dict[str, dict[str, float]]:
    """Median ms per store of Searcher.search over `probes`, and of search_for_case over
    the first `recorded` of them; each probe searched on one store, then the other."""
    import contextlib

    from fakes import FakeEngine, one_face, save_png

    from facedesk.app import accounts, cases
    from facedesk.app.search import Searcher, analyze_probe, choose_face

    eng = FakeEngine()
    plain: dict[str, list[float]] = {b: [] for b in targets}
    stored: dict[str, list[float]] = {b: [] for b in targets}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        probe = analyze_probe(eng, save_png(one_face(1, 1), Path(tmp) / "probe.png"))
        face = choose_face(eng, probe)
        searchers, sessions = {}, {}
        for backend, target in targets.items():
            g = stack.enter_context(open_gallery(target))
            searchers[backend] = Searcher(g, synthetic.ENGINE)
            searchers[backend].search(probes[0], top_k=20)  # loads the encodings
            sessions[backend] = (accounts.sign_in_os(g, "os-bench"),
                                 cases.get_case(g, "BENCH-1"))
        for i, p in enumerate(probes):
            for backend in (list(targets) if i % 2 == 0 else list(reversed(targets))):
                t0 = time.perf_counter()
                searchers[backend].search(p, top_k=20)
                plain[backend].append((time.perf_counter() - t0) * 1000)
                if i < recorded:
                    session, case = sessions[backend]
                    t0 = time.perf_counter()
                    cases.search_for_case(session, case, searchers[backend], probe,
                                          dataclasses.replace(face, encoding=p), 20)
                    stored[backend].append((time.perf_counter() - t0) * 1000)
    return {b: {"search": median(plain[b]), "recorded": median(stored[b])} for b in targets}


# --- the run ---------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--import-photos", type=int, default=400)
    ap.add_argument("--fake-photos", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--import-runs", type=int, default=3)
    ap.add_argument("--first-runs", type=int, default=3)
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--recorded", type=int, default=10)
    ap.add_argument("--folder", type=Path, default=synthetic.DEFAULT_FOLDER / "postgres")
    ap.add_argument("--pg-url", default=None)
    ap.add_argument("--no-real-engine", action="store_true")
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    for line in machine.describe():
        print(line)
    # stopped with SIGTERM: the throwaway server is stopped and removed all the same
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stores = Stores(args.folder, args.pg_url)
    lines: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="facedesk-pg-bench-"))
    try:
        if not args.skip_import:
            lines += run_imports(stores, work, args)
        for size in sizes:
            lines += run_size(stores, work, size, args)
    finally:
        stores.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\nsummary (medians)")
    for line in lines:
        print(line)


def run_imports(stores: Stores, work: Path, args: argparse.Namespace) -> list[str]:
    from fakes import FAKE_FACTORY

    from facedesk.engine.spec import EngineSpec
    from facedesk.errors import EngineUnavailable

    out = []
    print(f"\nimport: --workers {args.workers}, {args.import_runs} runs per store", flush=True)
    sets: list[tuple[str, Callable[[], Path | None], Any]] = [
        ("fake", lambda: fake_photos(work, args.fake_photos), EngineSpec(FAKE_FACTORY))]
    if not args.no_real_engine:
        spec = EngineSpec()
        try:
            spec.create().identity()
            sets.insert(0, ("real", lambda: lfw_photos(work, args.import_photos), spec))
        except EngineUnavailable as exc:
            print(f"  real engine unavailable ({exc}): the fake engine only")
    for label, make, spec in sets:
        folder = make()
        if folder is None:
            print(f"  {label}: no photos (LFW not found): skipped")
            continue
        s, p, paired = measure_import(stores, label, folder, spec, args.workers,
                                      args.import_runs)
        what = "LFW photos, real engine" if label == "real" else "synthetic photos, fake engine"
        out.append(ratio_line(f"import, {what}", s, p, "photos/s",
                              f"run by run {paired:.2f}; target >= {TARGET_IMPORT_RATIO}: "
                              f"{'met' if paired >= TARGET_IMPORT_RATIO else 'NOT met'}"))
    return out


def run_size(stores: Stores, work: Path, size: int, args: argparse.Namespace) -> list[str]:
    print(f"\n{size:,} faces", flush=True)
    sqlite_path = synthetic.ensure_gallery_file(args.folder, size)
    pg_url = build_pg(stores, size, sqlite_path)
    targets: dict[str, str | Path] = {"sqlite": sqlite_path, "pg": pg_url}
    for t in targets.values():
        staff(t)
    g = synthetic.gallery(size)
    probes, _ = synthetic.probes(g, args.probes)
    probe_file = work / f"probe-{size}.npy"
    np.save(probe_file, probes[0])
    figures = first_searches(targets, probe_file, args.first_runs)
    for backend, latency in search_latency(targets, probes, args.recorded).items():
        figures[backend].update(latency)
    for backend in targets:
        print(f"  {backend:6s}: " + ", ".join(f"{k} {v:,.1f} ms"
                                            for k, v in figures[backend].items()), flush=True)
    s, p = figures["sqlite"], figures["pg"]
    limit = f"target <= {TARGET_FIRST_SEARCH_S:.0f} s at 1M: " + \
        ("met" if p["cache"] <= TARGET_FIRST_SEARCH_S * 1000 else "NOT met")
    return [
        f" {size:,} faces",
        ratio_line("first search on open, with the cache", s["cache"], p["cache"], "ms",
                   limit if size >= 1_000_000 else ""),
        ratio_line("first search on open, no cache", s["no cache"], p["no cache"], "ms", ""),
        ratio_line("search (Searcher.search)", s["search"], p["search"], "ms",
                   "target: the same"),
        ratio_line("search recorded in a case (search_for_case)", s["recorded"],
                   p["recorded"], "ms", ""),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--first-search-child":
        first_search_child(sys.argv[2], sys.argv[3] == "on", sys.argv[4])
    else:
        main()
