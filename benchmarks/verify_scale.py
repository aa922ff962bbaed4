"""How long `audit verify` takes on a 10,000-face gallery with 1,000 audit events.

The gallery is built through the store with synthetic encodings shaped like dlib's and
~4 KB crops (benchmarks/synthetic.py), each commit of 64 photos logged with the digests of
the rows it wrote, as an import logs them; then users, cases and events up to the event
count. Timed, in the same run (medians of --runs):

- baseline: the hash chain alone (what verify did before record digests: the chain and the
  search/decision/review events' fields);
- full: `audit.verify` as `facedesk audit verify` runs it: chain, schema, every record's
  digest (persons, photos, faces with encodings and crops, users, cases, settings,
  searches, decisions, reviews, calibrations, engines), records against events, witness.

Example:
    .venv/bin/python benchmarks/verify_scale.py --faces 10000 --events 1000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model
from synthetic import _records, crop_jpeg, gallery

from facedesk.app import accounts, audit
from facedesk.engine.spec import engine_id as make_engine_id
from facedesk.store import Gallery, RunCounts

ENGINE = {"engine": "synthetic", "dlib": "benchmark"}


def build(path: Path, faces: int, events: int) -> None:
    g_syn = gallery(faces, seed=1)
    crop = crop_jpeg(3900)
    rng = np.random.default_rng(1)
    landmarks = [(int(x), int(y)) for x, y in rng.integers(100, 400, (68, 2))]
    eid = make_engine_id(ENGINE)
    with Gallery.open(path, create=True) as g:
        run = 0

        def log(conn, written):  # type: ignore[no-untyped-def]
            audit.append(conn, g.gallery_id, "import_batch", {"run_id": run}, records=written)

        g.register_engine(eid, ENGINE, log=log)
        run = g.start_run("synthetic", "manifest", {}, eid)
        for lo in range(0, faces, 64):
            g.add_photos(run, _records(g_syn, eid, crop, lo, min(faces, lo + 64),  # type: ignore[arg-type]
                                       landmarks), log=log)
        g.finish_run(run, "completed", RunCounts(total=faces, imported=faces))
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    os_account="bench-admin")
        admin.add_user("ann", "Ann Analyst", "analyst", os_account="bench-ann")
        n = int(g.conn.execute("SELECT count(*) FROM audit").fetchone()[0])
        for i in range(max(0, events - n)):
            audit.record(g, "candidate_viewed", {"search_id": i, "rank": 1},
                         user_id="ann")
        g.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("FACEDESK_WITNESS_SYSLOG", "off")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FACEDESK_WITNESS_DIR", str(Path(tmp) / "witness"))
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        build(path, args.faces, args.events)
        built = time.perf_counter() - t0
        chain, full = [], []
        with Gallery.open(path) as g:
            n_events = int(g.conn.execute("SELECT count(*) FROM audit").fetchone()[0])
            for _ in range(args.runs):
                t = time.perf_counter()
                with g.read():
                    v0 = audit.verify_chain(audit._db_events(g), g.gallery_id)
                chain.append(time.perf_counter() - t)
                t = time.perf_counter()
                v = audit.verify(g)
                full.append(time.perf_counter() - t)
            assert v0.ok and v.ok, v.summary()
            counts = g.counts()
        size = path.stat().st_size
    print(f"machine: {cpu_model()}, {os.cpu_count()} cpus")
    print(f"gallery: {counts['faces']:,} faces, {counts['persons']:,} persons, "
          f"{n_events:,} audit events, {size / 2**20:.1f} MiB (built in {built:.1f} s)")
    print(f"baseline, hash chain alone: median {statistics.median(chain) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{x * 1000:.0f}' for x in chain)})")
    print(f"audit verify, everything:   median {statistics.median(full) * 1000:.0f} ms "
          f"(runs: {', '.join(f'{x * 1000:.0f}' for x in full)})")


if __name__ == "__main__":
    main()
