"""Search latency at 10k, 100k and 1M gallery faces: FaceDesk against FAISS and
face_recognition's face_distance, with a check that every answer is the exact one.

Run (from a fresh checkout; FAISS is a benchmark-only extra, the benchmark says so and
carries on without it):

    bash scripts/setup.sh && .venv/bin/pip install -e '.[bench]' \\
        && .venv/bin/python benchmarks/search_scale.py

Options: --sizes 10000,100000,1000000  --probes 60  --runs 3  --k 20  --threads default,1
--real-db GALLERY (compare the synthetic encodings' statistics with a real gallery's;
default /tmp/lfw.db when it exists). About 6 minutes on a busy 2-core machine.

Data: synthetic encodings shaped like dlib's (benchmarks/synthetic.py: persons with 1-5
photos, clustered per person, norms ~1.42, a 77-d subspace, as measured on a real LFW
gallery). Probes: half new photos of gallery persons, half persons not in the gallery.

What is timed, per run and thread setting: every probe with FaceDesk and its variants
(interleaved, so they see the same machine load; at the default setting also the
previous implementation), searches back to back; in the first run, face_distance on its
own; then every probe with FAISS (not interleaved with FaceDesk: on a 2-core machine
the threads one library leaves spinning after a call would slow the other's next call):

- FaceDesk: `SearchIndex.nearest(probe, K)`, the exact top K persons (each person's
  closest face, distances in float64), with numpy's OpenBLAS at each thread count of
  --threads (changed in-process through OpenBLAS's C API, as threadpoolctl does). From
  200k faces the index scans a projection of the encodings to 80 dimensions
  (facedesk.domain.search_index.Projection); then also FaceDesk without it, and the bare
  matrix-vector product over the projection. Always: the bare product over the n x 128
  float32 matrix, the floor of a plain exact scan (what FAISS's flat index does too);
- before: the previous `nearest` (per-person minimum over every face with
  `np.minimum.reduceat`, then a partition over persons), on the same index;
- FAISS IndexFlatL2 (exact float32 scan), at the same thread counts (OpenMP). FAISS
  ranks faces, not persons: it is asked for k' = 4K faces, which are grouped by person
  (each person's best face); if they hold fewer than K persons, the search is repeated
  with 4x k' (counted in the time, and reported). The grouping is included in its time;
- face_distance: `np.linalg.norm(known - probe, axis=1)` on a float64 matrix (what
  face_recognition.face_distance computes; the float64 matrix is built once, outside the
  timing) plus a stable argsort, then the first K distinct persons; in the first run
  only, on 10M / faces probes (at least 10: about 2-3 s each at 1M, most of it
  page-faulting the fresh 1 GB temporary `known - probe`).

Correctness: every probe's FaceDesk answer (persons and float64 distances) is compared
with a float64 reference computed independently (a float64 matrix-vector product over
every face, then exact distances for every face within 1e-9 of the K-th person), and on
the face_distance probes with face_distance's own ranking. FAISS's float32 ranking is
compared with the same reference (it can differ on near-ties: not an error of FAISS,
but why FaceDesk re-checks in float64).

Medians are over all probes of all runs; the spread of the per-run medians is shown
too. The machine is described at the top, including the load average: other jobs share
it, so compare ratios from one run rather than absolute times from different runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import machine
import numpy as np
import synthetic
from numpy.typing import NDArray

from facedesk.domain.search_index import SearchIndex
from facedesk.store import EncodingMatrix, Gallery

TARGET_MS_1M = 60.0
TARGET_VS_FAISS = 1.2
TARGET_VS_FACE_DISTANCE = 50.0


def try_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        print(f"FAISS: not installed ({exc}); FAISS columns are skipped. Install the "
              "benchmark extra: .venv/bin/pip install -e '.[bench]'")
        return None
    print(f"FAISS: {faiss.__version__}, OpenMP threads by default "
          f"{faiss.omp_get_max_threads()}")
    return faiss


# --- the methods ---------------------------------------------------------------------------


def before_nearest(index: SearchIndex, probe: NDArray[np.float32], k: int) -> list[int]:
    """The previous SearchIndex.nearest up to the float64 re-check (which it shares):
    every face's score, each person's minimum (reduceat), partition over persons."""
    p32 = np.asarray(probe, dtype=np.float32)
    p_sq = float(np.dot(p32, p32))
    d2 = index.sq_norms - 2.0 * (index.matrix @ p32)
    person_min = np.minimum.reduceat(d2, index.starts)
    k_eff = min(k, len(person_min))
    kth = float(np.partition(person_min, k_eff - 1)[k_eff - 1])
    margin = 256.0 * float(np.finfo(np.float32).eps) * (index.max_sq_norm + p_sq + 1.0)
    chosen = np.flatnonzero(person_min <= kth + margin)
    return [pk for pk, _ in index._exact(chosen.astype(np.intp), p32, k_eff)]


def faiss_persons(index: Any, row_person: NDArray[np.int64], probe: NDArray[np.float32],
                  k: int, n: int) -> tuple[list[int], int]:
    """Top-k persons from FAISS's top-k' faces (grown until they hold k persons).
    Returns the persons and the k' that sufficed."""
    kk = min(n, 4 * k)
    q = probe.reshape(1, -1)
    while True:
        dist, rows = index.search(q, kk)
        persons = row_person[rows[0]]
        # first occurrence of each person along the distance order (ties: lower pk)
        order = np.lexsort((persons, dist[0]))
        _, first = np.unique(persons[order], return_index=True)
        if len(first) >= k or kk >= n:
            return [int(persons[order][i]) for i in np.sort(first)[:k]], kk
        kk = min(n, kk * 4)


def face_distance_persons(known64: NDArray[np.float64], row_person: NDArray[np.int64],
                          probe: NDArray[np.float32], k: int
                          ) -> tuple[list[int], list[float]]:
    dist = np.linalg.norm(known64 - probe.astype(np.float64), axis=1)
    order = np.argsort(dist, kind="stable")
    persons: list[int] = []
    dists: list[float] = []
    seen: set[int] = set()
    for row in order:
        pk = int(row_person[row])
        if pk not in seen:
            seen.add(pk)
            persons.append(pk)
            dists.append(float(dist[row]))
            if len(persons) == k:
                break
    return persons, dists


def reference(known64: NDArray[np.float64], sq64: NDArray[np.float64], index: SearchIndex,
              probe: NDArray[np.float32], k: int) -> tuple[list[int], list[float]]:
    """Exact top-k persons, computed in float64 throughout (independent of FaceDesk's
    float32 pass): float64 squared distances of every face, then the exact distance of
    every face within 1e-9 of the k-th person (far above float64 rounding)."""
    p64 = probe.astype(np.float64)
    d2 = sq64 - 2.0 * (known64 @ p64) + float(p64 @ p64)
    person_min = np.minimum.reduceat(d2, index.starts)
    kth = float(np.partition(person_min, k - 1)[k - 1])
    rows = np.flatnonzero(d2 <= kth + 1e-9)
    exact = np.sqrt(((known64[rows] - p64) ** 2).sum(axis=1))
    groups = np.searchsorted(index.starts, rows, side="right") - 1
    best: dict[int, float] = {}
    for g, d in zip(groups.tolist(), exact.tolist(), strict=True):
        if g not in best or d < best[g]:
            best[g] = d
    ranked = sorted(best.items(), key=lambda gd: (gd[1], int(index.person_pks[gd[0]])))[:k]
    return [int(index.person_pks[g]) for g, _ in ranked], [d for _, d in ranked]


# --- measuring -----------------------------------------------------------------------------


class Timings:
    def __init__(self) -> None:
        self.runs: dict[str, list[list[float]]] = {}

    def add(self, name: str, run: int, ms: float) -> None:
        per_run = self.runs.setdefault(name, [])
        while len(per_run) <= run:
            per_run.append([])
        per_run[run].append(ms)

    def all(self, name: str) -> list[float]:
        return [x for run in self.runs.get(name, []) for x in run]

    def median(self, name: str) -> float | None:
        values = self.all(name)
        return statistics.median(values) if values else None

    def line(self, name: str, label: str) -> str:
        values = self.all(name)
        if not values:
            return f"  {label:50s} (not measured)"
        run_medians = [statistics.median(r) for r in self.runs[name] if r]
        spread = "/".join(f"{m:.1f}" for m in run_medians)
        return (f"  {label:50s} median {statistics.median(values):9.2f} ms   p95 "
                f"{float(np.percentile(values, 95)):9.2f} ms   n={len(values):4d}   "
                f"run medians {spread}")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def thread_label(t: int | None) -> str:
    return "default" if t is None else str(t)


def bench_size(n: int, args: argparse.Namespace, faiss: Any, threads: list[int | None],
               default_threads: int | None) -> dict[str, Any]:
    k = args.k
    t0 = time.perf_counter()
    g = synthetic.gallery(n, seed=args.seed)
    probes, truth = synthetic.probes(g, args.probes, seed=args.seed + 1)
    enc = EncodingMatrix(np.arange(1, n + 1, dtype=np.int64), g.person_index + 1, g.matrix,
                         frozenset({"synthetic"}), 1)
    t1 = time.perf_counter()
    index = SearchIndex(enc)
    build_s = time.perf_counter() - t1
    proj = index.projection
    plain = SearchIndex(enc, project=False) if proj is not None else None
    row_person = enc.person_pks
    known64 = g.matrix.astype(np.float64)
    sq64 = np.einsum("ij,ij->i", known64, known64)
    fa_index = None
    if faiss is not None:
        fa_index = faiss.IndexFlatL2(128)
        fa_index.add(g.matrix)
    print(f"\n== {n:,} faces of {g.persons:,} persons; {len(probes)} probes "
          f"({int((truth >= 0).sum())} of gallery persons) x {args.runs} runs; top {k} "
          f"persons == (data ready in {time.perf_counter() - t0:.1f} s)")
    print(f"  SearchIndex built in {build_s:.2f} s; "
          + (f"scans a projection to {proj.dims} of 128 dimensions "
             f"({proj.dims * 4 * n / 1e6:,.0f} MB read per search instead of "
             f"{512 * n / 1e6:,.0f} MB)" if proj is not None
             else "scans all 128 dimensions (no projection below "
                  f"{SearchIndex.PROJECT_MIN_FACES:,} faces)"))

    fd_count = min(len(probes), max(10, 10_000_000 // n))
    times = Timings()
    agree = {"facedesk": 0, "faiss": 0, "face_distance": 0, "face_distance_checked": 0}
    faiss_kk: list[int] = []
    answers: dict[int, Any] = {}
    for run in range(args.runs):
        # one thread setting at a time (changing OpenBLAS's thread count costs a pool
        # restart, which would land in the next timing). FaceDesk's probes (and, at the
        # default setting, the previous implementation's and face_distance's) before
        # FAISS's, never interleaved with them: on a 2-core machine the threads one
        # library leaves spinning after a call (OpenMP's and OpenBLAS's wait policies)
        # would slow the other's next call.
        for t in threads:
            label = thread_label(t)
            machine.set_openblas_threads(t or default_threads or 1)
            for warm in probes[:3]:
                index.nearest(warm, k)
            for i, probe in enumerate(probes):
                ms, got = timed(lambda p=probe: index.nearest(p, k))
                times.add(f"fd:{label}", run, ms)
                ms, _ = timed(lambda p=probe: index.matrix @ p)
                times.add(f"gemv:{label}", run, ms)
                if proj is not None and plain is not None:
                    ms, _ = timed(lambda p=probe: proj.scan @ p[:proj.dims])
                    times.add(f"gemv_proj:{label}", run, ms)
                    ms, _ = timed(lambda p=probe: plain.nearest(p, k))
                    times.add(f"fd_plain:{label}", run, ms)
                if t is None:
                    ms, _ = timed(lambda p=probe: before_nearest(index, p, k))
                    times.add("before", run, ms)
                if run == 0 and t is None:
                    answers[i] = [got, None, 0]
            if run == 0 and t is None:  # on its own: a 1 GB temporary per call at 1M
                for i, probe in enumerate(probes[:fd_count]):
                    ms, fr = timed(
                        lambda p=probe: face_distance_persons(known64, row_person, p, k))
                    times.add("face_distance", run, ms)
                    answers[i].append(fr)
            if fa_index is None:
                continue
            faiss.omp_set_num_threads(t or default_threads or 1)
            for warm in probes[:3]:
                fa_index.search(warm.reshape(1, -1), 4 * k)
            for i, probe in enumerate(probes):
                ms, (fa, kk) = timed(
                    lambda p=probe: faiss_persons(fa_index, row_person, p, k, n))
                times.add(f"faiss:{label}", run, ms)
                if run == 0 and t is None:
                    answers[i][1:3] = [fa, kk]
    machine.set_openblas_threads(default_threads or 1)
    for i, probe in enumerate(probes):  # the answers, checked outside the timings
        got, fa, kk, *fr = answers[i]
        want_p, want_d = reference(known64, sq64, index, probe, k)
        got_p = [pk for pk, _ in got]
        got_d = [faces[0][1] for _, faces in got]
        agree["facedesk"] += got_p == want_p and got_d == want_d
        if fa is not None:
            agree["faiss"] += fa == want_p
            faiss_kk.append(kk)
        if fr:
            fr_p, fr_d = fr[0]
            agree["face_distance_checked"] += 1
            agree["face_distance"] += fr_p == got_p and fr_d == got_d
    for t in threads:
        label = thread_label(t)
        print(times.line(f"fd:{label}",
                         f"FaceDesk SearchIndex.nearest, {label} BLAS threads"))
        if proj is not None:
            print(times.line(f"gemv_proj:{label}",
                             f"  its bare product over n x {proj.dims} ({label})"))
            print(times.line(f"fd_plain:{label}",
                             f"FaceDesk without the projection ({label})"))
        print(times.line(f"gemv:{label}",
                         f"  bare product over n x 128, a plain scan's floor ({label})"))
    print(times.line("before", "before: per-person reduceat (default threads)"))
    for t in threads:
        label = thread_label(t)
        print(times.line(f"faiss:{label}",
                         f"FAISS IndexFlatL2 + grouping, {label} OpenMP threads"))
    print(times.line("face_distance", f"face_distance float64 + argsort ({fd_count} probes)"))
    if faiss_kk:
        grown = sum(kk > 4 * k for kk in faiss_kk)
        print(f"  FAISS faces asked for: k'={4 * k} sufficed for {len(faiss_kk) - grown} of "
              f"{len(faiss_kk)} probes; grown (x4 steps) for {grown}, up to k'={max(faiss_kk)}")
    print(f"  exact answers: FaceDesk {agree['facedesk']}/{len(probes)} probes identical to "
          f"the float64 reference (persons and distances); face_distance's ranking "
          f"{agree['face_distance']}/{agree['face_distance_checked']} identical"
          + (f"; FAISS (float32) top-{k} persons {agree['faiss']}/{len(probes)}"
             if fa_index is not None else ""))
    return {"n": n, "times": times, "agree": agree, "probes": len(probes)}


def report_targets(results: list[dict[str, Any]], threads: list[int | None]) -> None:
    print("\n== summary (medians, ms) ==")
    labels = [thread_label(t) for t in threads]
    head = f"{'faces':>10s} " + " ".join(f"{'FaceDesk/' + x:>14s}" for x in labels) + \
        " " + " ".join(f"{'FAISS/' + x:>12s}" for x in labels) + \
        f" {'before':>9s} {'face_dist':>10s} {'FD/FAISS best':>14s} {'face_dist/FD':>13s}"
    print(head)
    for r in results:
        tm: Timings = r["times"]
        fd = [tm.median(f"fd:{x}") for x in labels]
        fa = [tm.median(f"faiss:{x}") for x in labels]
        fr = tm.median("face_distance")
        before = tm.median("before")
        fd_default = fd[0]
        fa_best = min((x for x in fa if x is not None), default=None)
        cells = [f"{r['n']:>10,d}"]
        cells += [f"{x:14.2f}" if x is not None else f"{'-':>14s}" for x in fd]
        cells += [f"{x:12.2f}" if x is not None else f"{'-':>12s}" for x in fa]
        cells.append(f"{before:9.2f}" if before is not None else f"{'-':>9s}")
        cells.append(f"{fr:10.1f}" if fr is not None else f"{'-':>10s}")
        cells.append(f"{fd_default / fa_best:14.2f}" if fa_best and fd_default else
                     f"{'-':>14s}")
        cells.append(f"{fr / fd_default:13.0f}" if fr and fd_default else f"{'-':>13s}")
        print(" ".join(cells))
    big = next((r for r in results if r["n"] == 1_000_000), None)
    if big is None:
        print("(targets are checked at 1,000,000 faces; not run)")
        return
    tm = big["times"]
    fd_default = tm.median(f"fd:{labels[0]}")
    fd_best = min(x for x in (tm.median(f"fd:{x}") for x in labels) if x is not None)
    fa_best = min((x for x in (tm.median(f"faiss:{x}") for x in labels) if x is not None),
                  default=None)
    fr = tm.median("face_distance")
    assert fd_default is not None

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    print(f"\ntargets at 1M faces (FaceDesk with {labels[0]} BLAS threads, as the app runs; "
          f"best thread setting {fd_best:.1f} ms):")
    print(f"  median < {TARGET_MS_1M:.0f} ms: {fd_default:.1f} ms -> "
          f"{verdict(fd_default < TARGET_MS_1M)}")
    if fa_best is not None:
        print(f"  within {TARGET_VS_FAISS}x of FAISS IndexFlatL2 (its best thread setting, "
              f"{fa_best:.1f} ms): {fd_default / fa_best:.2f}x -> "
              f"{verdict(fd_default <= TARGET_VS_FAISS * fa_best)}")
    else:
        print("  vs FAISS: not measured (FAISS not installed)")
    if fr is not None:
        print(f"  >= {TARGET_VS_FACE_DISTANCE:.0f}x faster than face_distance ({fr:.0f} ms): "
              f"{fr / fd_default:.0f}x -> {verdict(fr >= TARGET_VS_FACE_DISTANCE * fd_default)}")
    exact = all(r["agree"]["facedesk"] == r["probes"] for r in results)
    print(f"  exact results at every size: {verdict(exact)}")


def realism(real_db: Path | None) -> None:
    model_g = synthetic.gallery(100_000, seed=11)
    print("\nsynthetic encodings vs a real gallery (the figures synthetic.py is tuned to):")
    print(f"  synthetic, 100k faces: {synthetic.describe(model_g.matrix, model_g.person_index)}")
    if real_db is None or not real_db.is_file():
        print("  real gallery: none given (--real-db GALLERY to compare)")
        return
    with Gallery.open(real_db) as g:
        enc = g.load_encodings()
    print(f"  real, {real_db}: {synthetic.describe(enc.matrix, enc.person_pks)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000",
                    help="gallery sizes in faces, comma-separated")
    ap.add_argument("--probes", type=int, default=60, help="probes per size")
    ap.add_argument("--runs", type=int, default=3, help="times every probe is searched")
    ap.add_argument("--k", type=int, default=20, help="persons returned per search")
    ap.add_argument("--threads", default="default,1",
                    help="BLAS/OpenMP thread counts to measure; 'default' = what numpy "
                         "starts with (the app's setting)")
    ap.add_argument("--seed", type=int, default=1)
    default_real = Path("/tmp/lfw.db")
    ap.add_argument("--real-db", type=Path,
                    default=default_real if default_real.is_file() else None,
                    help="a real gallery to compare the synthetic statistics with")
    args = ap.parse_args(argv)

    print("FaceDesk search at scale (benchmarks/search_scale.py)")
    for line in machine.describe():
        print(line)
    faiss = try_faiss()
    default_threads = machine.openblas_threads()
    threads: list[int | None] = []
    for item in args.threads.split(","):
        t = None if item.strip() == "default" else int(item)
        if t is not None and not machine.set_openblas_threads(t):
            print(f"cannot change numpy's OpenBLAS threads here: measuring the default only "
                  f"(set OPENBLAS_NUM_THREADS={t} before starting to measure {t})")
            continue
        if t is not None and t == default_threads and None in threads:
            continue  # the same as the default
        threads.append(t)
    machine.set_openblas_threads(default_threads or 1)
    realism(args.real_db)
    results = [bench_size(int(s), args, faiss, threads, default_threads)
               for s in args.sizes.split(",")]
    report_targets(results, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
